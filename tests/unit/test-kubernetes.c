/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "arch.h"
#include "digest.h"
#include "fsutil.h"
#include "k8sbundle.h"
#include "kubernetes.h"
#include "macro.h"
#include "profile.h"
#include "stagekey.h"
#include "testutil.h"

/* The Kubernetes stage over a dir: bundle made here: fake binaries, a crictl
 * and a CNI tarball, SHA256SUMS; the overlay is the repository's own
 * overlays/kubernetes (the tests run from the repository root). */

#define CRI "[plugins.\"io.containerd.grpc.v1.cri\"]"
#define CRI_RUNC_OPTIONS "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]"
#define CRI_CNI "[plugins.\"io.containerd.grpc.v1.cri\".cni]"
#define PAUSE_1_31 "registry.k8s.io/pause:3.10"
#define CRICTL_AMD64 "crictl-v1.31.1-linux-amd64.tar.gz"
#define CNI_AMD64 "cni-plugins-linux-amd64-v1.5.1.tgz"

/* ---- containerd's configuration, read as TOML lines ------------------------- */

/* The table header ("[a.b]") in force at the line that, stripped of leading
 * blanks, starts with `key`; NULL when no line does. Fails when two do. */
static char *toml_table_of(const char *text, const char *key) {
        char *table = NULL, *found = NULL;
        unsigned hits = 0;
        for (const char *p = text; *p;) {
                size_t n = strcspn(p, "\n");
                const char *s = p;
                while (s < p + n && (*s == ' ' || *s == '\t'))
                        s++;
                size_t m = (size_t) (p + n - s);
                if (m > 0 && *s == '[') {
                        free(table);
                        table = strndup(s, m);
                        assert_non_null(table);
                } else if (m >= strlen(key) && strncmp(s, key, strlen(key)) == 0) {
                        hits++;
                        free(found);
                        found = table ? strdup(table) : strdup("");
                        assert_non_null(found);
                }
                p += n;
                if (*p == '\n')
                        p++;
        }
        free(table);
        if (hits > 1)
                fail_msg("'%s' appears %u times", key, hits);
        return found;
}

static void assert_in_table(const char *text, const char *key, const char *table) {
        _cleanup_free_ char *t = toml_table_of(text, key);
        if (!t)
                fail_msg("no line '%s' in:\n%s", key, text);
        assert_string_equal(t, table);
}

/* The common part of both configurations. */
static void assert_base_config(const char *text) {
        assert_non_null(strstr(text, "version = 2\n"));
        assert_in_table(text, "SystemdCgroup = true", CRI_RUNC_OPTIONS);
        assert_in_table(text, "bin_dir = \"/opt/cni/bin\"", CRI_CNI);
        assert_in_table(text, "conf_dir = \"/etc/cni/net.d\"", CRI_CNI);
        assert_in_table(text, "runtime_type = \"io.containerd.runc.v2\"",
                        "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]");
        /* Tables in order, the CRI table before its sub-tables. */
        const char *cri = strstr(text, CRI "\n"), *opts = strstr(text, CRI_RUNC_OPTIONS),
                   *cni = strstr(text, CRI_CNI);
        assert_non_null(cri);
        assert_true(cri < opts && opts < cni);
}

/* containerd itself reads the file: `containerd --config F config dump`
 * prints the merged configuration (no daemon is started). Skipped when
 * containerd is not installed. Returns the dump or NULL. */
static char *containerd_dump(const char *dir, const char *config_text) {
        if (access("/usr/bin/containerd", X_OK) < 0 && access("/usr/local/bin/containerd", X_OK) < 0)
                return NULL;
        tu_write_in(dir, "config.toml", config_text);
        _cleanup_free_ char *path = tu_path(dir, "config.toml");
        struct proc_opts o = {.timeout_sec = 30, .stdout_fd = -1, .capture_stdout = true};
        struct proc_result res = {0};
        int r = proc_run((char *[]){"containerd", "--config", path, "config", "dump", NULL}, &o, &res);
        if (r < 0)
                fail_msg("containerd config dump: %d: %s", r, res.err_tail ? res.err_tail : "");
        char *out = TAKE_PTR(res.out);
        proc_result_done(&res);
        return out;
}

static void test_containerd_config(void **state) {
        (void) state;
        _cleanup_free_ char *plain = containerd_config(NULL);
        _cleanup_free_ char *pause = containerd_config(PAUSE_1_31);
        assert_non_null(plain);
        assert_non_null(pause);
        assert_base_config(plain);
        assert_base_config(pause);
        assert_null(strstr(plain, "sandbox_image"));

        assert_in_table(pause, "sandbox_image = \"" PAUSE_1_31 "\"", CRI);
        /* Right below the CRI header, before its first sub-table. */
        assert_non_null(strstr(pause, CRI "\n    sandbox_image = \"" PAUSE_1_31 "\"\n"));

        /* The sandbox line is the only difference. */
        const char *s = strstr(pause, "    sandbox_image = ");
        assert_non_null(s);
        size_t n = strcspn(s, "\n") + 1;
        _cleanup_free_ char *without = strdup(pause);
        assert_non_null(without);
        memmove(without + (s - pause), without + (s - pause) + n, strlen(s + n) + 1);
        assert_string_equal(without, plain);

        char dir[] = "/tmp/test-kubernetes-XXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_free_ char *dump = containerd_dump(dir, pause);
        if (dump) {
                assert_non_null(strstr(dump, "sandbox_image = \"" PAUSE_1_31 "\""));
                assert_non_null(strstr(dump, "SystemdCgroup = true"));
                assert_non_null(strstr(dump, "bin_dir = \"/opt/cni/bin\""));
                free(dump);
                /* Without the line, containerd's own default, which is not ours. */
                dump = containerd_dump(dir, plain);
                assert_null(strstr(dump, "sandbox_image = \"" PAUSE_1_31 "\""));
                assert_non_null(strstr(dump, "SystemdCgroup = true"));
        } else
                print_message("containerd not installed: config dump check skipped\n");
        assert_int_equal(rm_rf(dir), 0);
}

/* ---- the stage ---------------------------------------------------------------- */

struct fixture {
        char dir[64];
        char *src, *cas, *root, *source;
        const struct arch_info *arch;
        struct profile p;
};

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof *f);
        assert_non_null(f);
        snprintf(f->dir, sizeof f->dir, "%s", "/tmp/test-kubernetes-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        f->src = tu_path(f->dir, "src");
        f->cas = tu_path(f->dir, "cas");
        f->root = tu_path(f->dir, "root");
        assert_true(asprintf(&f->source, "dir:%s", f->src) > 0);
        f->arch = arch_lookup("amd64");
        assert_non_null(f->arch);
        f->p = (struct profile){
                .path = (char *) "images/test.yaml",
                .name = (char *) "test",
                .kubernetes =
                        {
                                .version = (char *) "v1.31.1",
                                .source = f->source,
                                .crictl_version = (char *) "v1.31.1",
                                .cni_version = (char *) "v1.5.1",
                        },
        };
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;
        assert_int_equal(rm_rf(f->dir), 0);
        free(f->src);
        free(f->cas);
        free(f->root);
        free(f->source);
        free(f);
        return 0;
}

static void write_sums(const char *dir) {
        static const char *const files[] = {"kubeadm", "kubelet", "kubectl", CRICTL_AMD64, CNI_AMD64};
        tu_write_sums(dir, K8S_SUMS_FILE, files, ELEMENTSOF(files));
}

static void make_bundle(const char *dir, const char *kubelet) {
        assert_int_equal(mkdir_p(dir, 0755), 0);
        tu_write_in(dir, "kubeadm", "fake kubeadm\n");
        tu_write_in(dir, "kubelet", kubelet);
        tu_write_in(dir, "kubectl", "fake kubectl\n");
        static const struct tu_member crictl[] = {
                {"crictl", "fake crictl\n"},
                {"README.md", "not installed\n"},
        };
        static const struct tu_member cni[] = {
                {"./bridge", "fake bridge\n"},
                {"./host-local", "fake host-local\n"},
                {"./loopback", "fake loopback\n"},
        };
        _cleanup_free_ char *c = tu_path(dir, CRICTL_AMD64), *n = tu_path(dir, CNI_AMD64);
        tu_make_tar_file(c, crictl, ELEMENTSOF(crictl), true);
        tu_make_tar_file(n, cni, ELEMENTSOF(cni), true);
        write_sums(dir);
}

static void key_of(const struct fixture *f, const char *root, int expect, char out[SHA256_HEX_LEN + 1]) {
        _cleanup_stagekey_ struct stagekey *k = NULL;
        assert_int_equal(stagekey_new("kubernetes", 1, &k), 0);
        assert_int_equal(kubernetes_stage(&f->p, f->arch, f->cas, "overlays", root, k), expect);
        assert_int_equal(stagekey_final(k, out), 0);
}

static void assert_file(const char *root, const char *path, const char *content, mode_t mode) {
        _cleanup_free_ char *p = path_join_root(root, path);
        struct stat st;
        if (lstat(p, &st) < 0)
                fail_msg("%s is missing", p);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, mode);
        if (content) {
                _cleanup_free_ char *data = tu_read(p, NULL);
                assert_string_equal(data, content);
        }
}

static void test_stage_no_kubernetes(void **state) {
        struct fixture *f = *state;
        f->p.kubernetes = (struct profile_kubernetes){0};
        char key[SHA256_HEX_LEN + 1], empty[SHA256_HEX_LEN + 1];
        key_of(f, f->root, 0, key);

        _cleanup_free_ char *config = tu_read_in(f->root, "etc/containerd/config.toml", NULL);
        _cleanup_free_ char *expected = containerd_config(NULL);
        assert_string_equal(config, expected);
        assert_null(strstr(config, "sandbox_image"));
        assert_false(tu_exists_in(f->root, "usr"));
        assert_false(tu_exists_in(f->root, "opt"));
        assert_false(tu_exists_in(f->root, "etc/systemd"));
        assert_false(tu_exists_in(f->dir, "cas"));

        /* Nothing went into the key. */
        _cleanup_stagekey_ struct stagekey *k = NULL;
        assert_int_equal(stagekey_new("kubernetes", 1, &k), 0);
        assert_int_equal(stagekey_final(k, empty), 0);
        assert_string_equal(key, empty);
}

static void test_stage_bundle(void **state) {
        struct fixture *f = *state;
        make_bundle(f->src, "fake kubelet\n");
        char key1[SHA256_HEX_LEN + 1];
        key_of(f, f->root, 1, key1);

        assert_file(f->root, "/usr/bin/kubeadm", "fake kubeadm\n", 0755);
        assert_file(f->root, "/usr/bin/kubelet", "fake kubelet\n", 0755);
        assert_file(f->root, "/usr/bin/kubectl", "fake kubectl\n", 0755);
        assert_file(f->root, "/usr/bin/crictl", "fake crictl\n", 0755);
        assert_false(tu_exists_in(f->root, "usr/bin/README.md"));
        assert_file(f->root, "/opt/cni/bin/bridge", "fake bridge\n", 0755);
        assert_file(f->root, "/opt/cni/bin/host-local", "fake host-local\n", 0755);
        assert_file(f->root, "/opt/cni/bin/loopback", "fake loopback\n", 0755);

        /* The overlay, as in the repository. */
        static const char *const overlay_files[] = {
                "usr/lib/systemd/system/kubelet.service",
                "etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
        };
        for (size_t i = 0; i < ELEMENTSOF(overlay_files); i++) {
                _cleanup_free_ char *want =
                        tu_read_in("overlays/" KUBERNETES_OVERLAY, overlay_files[i], NULL);
                _cleanup_free_ char *got = tu_read_in(f->root, overlay_files[i], NULL);
                assert_string_equal(got, want);
        }
        assert_true(tu_exists_in(f->root, "etc/systemd/system/multi-user.target.wants/kubelet.service"));

        /* containerd's sandbox image is v1.31.1's pause. */
        _cleanup_free_ char *config = tu_read_in(f->root, "etc/containerd/config.toml", NULL);
        _cleanup_free_ char *expected = containerd_config(PAUSE_1_31);
        assert_string_equal(config, expected);
        assert_in_table(config, "sandbox_image = \"" PAUSE_1_31 "\"", CRI);

        /* Same inputs, same key (into a fresh root). */
        _cleanup_free_ char *root2 = tu_path(f->dir, "root2");
        char key2[SHA256_HEX_LEN + 1];
        key_of(f, root2, 1, key2);
        assert_string_equal(key1, key2);

        /* One binary changes: the key does. */
        make_bundle(f->src, "another kubelet\n");
        _cleanup_free_ char *root3 = tu_path(f->dir, "root3");
        char key3[SHA256_HEX_LEN + 1];
        key_of(f, root3, 1, key3);
        assert_string_not_equal(key1, key3);
        assert_file(root3, "/usr/bin/kubelet", "another kubelet\n", 0755);
}

static void test_stage_wrong_sums(void **state) {
        struct fixture *f = *state;
        make_bundle(f->src, "fake kubelet\n");
        /* kubelet is replaced after SHA256SUMS was written. */
        tu_write_in(f->src, "kubelet", "tampered kubelet\n");
        _cleanup_stagekey_ struct stagekey *k = NULL;
        assert_int_equal(stagekey_new("kubernetes", 1, &k), 0);
        assert_int_equal(kubernetes_stage(&f->p, f->arch, f->cas, "overlays", f->root, k), -EBADMSG);
        assert_false(tu_exists_in(f->root, "usr/bin"));
        assert_false(tu_exists_in(f->root, "opt/cni"));
}

static void test_stage_missing_overlay(void **state) {
        struct fixture *f = *state;
        make_bundle(f->src, "fake kubelet\n");
        _cleanup_free_ char *none = tu_path(f->dir, "no-overlays");
        _cleanup_stagekey_ struct stagekey *k = NULL;
        assert_int_equal(stagekey_new("kubernetes", 1, &k), 0);
        assert_true(kubernetes_stage(&f->p, f->arch, f->cas, none, f->root, k) < 0);
        /* No configuration naming a pause image was written. */
        assert_false(tu_exists_in(f->root, "etc/containerd/config.toml"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_containerd_config),
                cmocka_unit_test_setup_teardown(test_stage_no_kubernetes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stage_bundle, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stage_wrong_sums, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stage_missing_overlay, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
