/* SPDX-License-Identifier: MIT */
/* builder/k8sbundle: the planner (pure), the digest-file parser (pure), the
 * dir: source with a SHA256SUMS, the release mode against a loopback HTTP
 * server serving small fake binaries and tarballs with their .sha256, and the
 * installation into a staging root (tarballs written here with libarchive). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "digest.h"
#include "download.h"
#include "fsutil.h"
#include "k8sbundle.h"
#include "log.h"
#include "macro.h"
#include "testutil.h"

#define HEX_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HEX_B "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

static struct profile_kubernetes k8s_profile(void) {
        return (struct profile_kubernetes){
                .version = (char *) "v1.31.1",
                .crictl_version = (char *) "v1.31.1",
                .cni_version = (char *) "v1.5.1",
        };
}

static const struct k8s_item *item(const struct k8s_bundle *b, const char *name) {
        for (size_t i = 0; i < b->n_items; i++)
                if (streq(b->items[i].name, name))
                        return &b->items[i];
        fail_msg("no item %s", name);
        return NULL;
}

/* ---- planner ------------------------------------------------------------------ */

static void test_plan_release_amd64(void **state) {
        (void) state;
        struct profile_kubernetes k = k8s_profile();
        _cleanup_k8s_bundle_ struct k8s_bundle *b = NULL;
        assert_int_equal(k8s_bundle_plan(&k, "amd64", &b, NULL), 0);
        assert_string_equal(b->version, "v1.31.1");
        assert_string_equal(b->arch, "amd64");
        assert_null(b->source_dir);
        assert_int_equal(b->n_items, 5);

        static const char *const bins[] = {"kubeadm", "kubelet", "kubectl"};
        for (size_t i = 0; i < 3; i++) {
                const struct k8s_item *it = item(b, bins[i]);
                char url[256], inst[64];
                snprintf(url, sizeof url, "https://dl.k8s.io/release/v1.31.1/bin/linux/amd64/%s", bins[i]);
                snprintf(inst, sizeof inst, "/usr/bin/%s", bins[i]);
                assert_string_equal(it->url, url);
                assert_true(strncmp(it->sha256_url, url, strlen(url)) == 0);
                assert_string_equal(it->sha256_url + strlen(url), ".sha256");
                assert_string_equal(it->install_path, inst);
                assert_string_equal(it->file_name, bins[i]);
                assert_int_equal(it->kind, K8S_ITEM_FILE);
                assert_int_equal(it->mode, 0755);
                assert_null(it->local_path);
        }
        const struct k8s_item *c = item(b, "crictl");
        assert_string_equal(c->url, "https://github.com/kubernetes-sigs/cri-tools/releases/download/v1.31.1/"
                                    "crictl-v1.31.1-linux-amd64.tar.gz");
        assert_string_equal(c->sha256_url,
                            "https://github.com/kubernetes-sigs/cri-tools/releases/download/v1.31.1/"
                            "crictl-v1.31.1-linux-amd64.tar.gz.sha256");
        assert_string_equal(c->file_name, "crictl-v1.31.1-linux-amd64.tar.gz");
        assert_string_equal(c->install_path, "/usr/bin");
        assert_string_equal(c->only_member, "crictl");
        assert_int_equal(c->kind, K8S_ITEM_ARCHIVE);
        const struct k8s_item *n = item(b, "cni-plugins");
        assert_string_equal(n->url,
                            "https://github.com/containernetworking/plugins/releases/download/v1.5.1/"
                            "cni-plugins-linux-amd64-v1.5.1.tgz");
        assert_string_equal(n->file_name, "cni-plugins-linux-amd64-v1.5.1.tgz");
        assert_string_equal(n->install_path, "/opt/cni/bin");
        assert_null(n->only_member);
        assert_int_equal(n->kind, K8S_ITEM_ARCHIVE);
}

static void test_plan_release_arm64(void **state) {
        (void) state;
        struct profile_kubernetes k = k8s_profile();
        _cleanup_k8s_bundle_ struct k8s_bundle *b = NULL;
        /* The kernel's name for it works too. */
        assert_int_equal(k8s_bundle_plan(&k, "aarch64", &b, NULL), 0);
        assert_string_equal(b->arch, "arm64");
        assert_string_equal(item(b, "kubelet")->url,
                            "https://dl.k8s.io/release/v1.31.1/bin/linux/arm64/kubelet");
        assert_string_equal(item(b, "crictl")->url, "https://github.com/kubernetes-sigs/cri-tools/releases/"
                                                    "download/v1.31.1/crictl-v1.31.1-linux-arm64.tar.gz");
        assert_string_equal(item(b, "cni-plugins")->url,
                            "https://github.com/containernetworking/plugins/releases/"
                            "download/v1.5.1/cni-plugins-linux-arm64-v1.5.1.tgz");
}

static void test_plan_overrides(void **state) {
        (void) state;
        struct profile_kubernetes k = k8s_profile();
        k.release_url = (char *) "https://mirror.example/k8s/release/";
        k.crictl_url = (char *) "https://mirror.example/cri/${arch}/crictl-${version}.tgz?x=1";
        k.cni_url = (char *) "http://mirror.example/cni/${version}/${arch}/${version}.tgz";
        _cleanup_k8s_bundle_ struct k8s_bundle *b = NULL;
        assert_int_equal(k8s_bundle_plan(&k, "arm64", &b, NULL), 0);
        assert_string_equal(item(b, "kubectl")->url,
                            "https://mirror.example/k8s/release/v1.31.1/bin/linux/arm64/kubectl");
        assert_string_equal(item(b, "crictl")->url,
                            "https://mirror.example/cri/arm64/crictl-v1.31.1.tgz?x=1");
        assert_string_equal(item(b, "crictl")->file_name, "crictl-v1.31.1.tgz");
        assert_string_equal(item(b, "cni-plugins")->url,
                            "http://mirror.example/cni/v1.5.1/arm64/v1.5.1.tgz");
        assert_string_equal(item(b, "cni-plugins")->sha256_url,
                            "http://mirror.example/cni/v1.5.1/arm64/v1.5.1.tgz.sha256");
}

static void expect_plan_error(struct profile_kubernetes *k, const char *arch, int error,
                              const char *needle) {
        struct k8s_bundle *b = NULL;
        _cleanup_free_ char *err = NULL;
        assert_int_equal(k8s_bundle_plan(k, arch, &b, &err), error);
        assert_null(b);
        assert_non_null(err);
        if (!strstr(err, needle))
                fail_msg("'%s' does not name '%s'", err, needle);
}

static void test_plan_errors(void **state) {
        (void) state;
        struct profile_kubernetes k = k8s_profile();
        k.version = NULL;
        expect_plan_error(&k, "amd64", -EINVAL, "kubernetes.version");
        k = k8s_profile();
        k.crictl_version = NULL;
        expect_plan_error(&k, "amd64", -EINVAL, "kubernetes.crictl.version");
        k = k8s_profile();
        k.cni_version = (char *) "";
        expect_plan_error(&k, "amd64", -EINVAL, "kubernetes.cni.version");
        k = k8s_profile();
        k.crictl_url = (char *) "https://x/${release}/crictl.tgz";
        expect_plan_error(&k, "amd64", -EINVAL, "kubernetes.crictl.url");
        k = k8s_profile();
        k.cni_url = (char *) "https://x/${version/cni.tgz";
        expect_plan_error(&k, "amd64", -EINVAL, "kubernetes.cni.url");
        k = k8s_profile();
        k.cni_url = (char *) "https://x/cni/";
        expect_plan_error(&k, "amd64", -EINVAL, "does not name a file");
        k = k8s_profile();
        expect_plan_error(&k, "mips", -EOPNOTSUPP, "mips");
        k.source = (char *) "dir:relative/path";
        expect_plan_error(&k, "amd64", -EINVAL, "kubernetes.source");
}

static void test_plan_dir(void **state) {
        (void) state;
        struct profile_kubernetes k = k8s_profile();
        k.source = (char *) "dir:/srv/k8s/";
        k.crictl_url = (char *) "https://ignored/${nonsense}"; /* not used in dir: mode */
        _cleanup_k8s_bundle_ struct k8s_bundle *b = NULL;
        assert_int_equal(k8s_bundle_plan(&k, "arm64", &b, NULL), 0);
        assert_string_equal(b->source_dir, "/srv/k8s");
        assert_string_equal(b->sums_path, "/srv/k8s/SHA256SUMS");
        for (size_t i = 0; i < b->n_items; i++) {
                assert_null(b->items[i].url);
                assert_null(b->items[i].sha256_url);
        }
        assert_string_equal(item(b, "kubeadm")->local_path, "/srv/k8s/kubeadm");
        assert_string_equal(item(b, "crictl")->local_path, "/srv/k8s/crictl-v1.31.1-linux-arm64.tar.gz");
        assert_string_equal(item(b, "cni-plugins")->local_path,
                            "/srv/k8s/cni-plugins-linux-arm64-v1.5.1.tgz");
        assert_string_equal(item(b, "kubelet")->install_path, "/usr/bin/kubelet");
}

/* ---- digest files ---------------------------------------------------------------- */

static void test_sha256_lookup(void **state) {
        (void) state;
        char hex[SHA256_HEX_LEN + 1];
        _cleanup_free_ char *err = NULL;
        const char *s;

        /* dl.k8s.io: the bare digest, no newline. */
        s = HEX_A;
        assert_int_equal(k8s_sha256_lookup(s, strlen(s), "kubeadm", true, hex, NULL), 0);
        assert_string_equal(hex, HEX_A);
        s = HEX_A "\n";
        assert_int_equal(k8s_sha256_lookup(s, strlen(s), "kubeadm", true, hex, NULL), 0);
        /* Not accepted in SHA256SUMS. */
        assert_int_equal(k8s_sha256_lookup(s, strlen(s), "kubeadm", false, hex, &err), -EBADMSG);

        /* sha256sum's text and binary modes, CRLF, upper case, a path. */
        s = HEX_B "  cni-plugins-linux-amd64-v1.5.1.tgz\n";
        assert_int_equal(
                k8s_sha256_lookup(s, strlen(s), "cni-plugins-linux-amd64-v1.5.1.tgz", true, hex, NULL), 0);
        assert_string_equal(hex, HEX_B);
        s = "FEDCBA9876543210FEDCBA9876543210FEDCBA9876543210FEDCBA9876543210 *crictl.tgz\r\n";
        assert_int_equal(k8s_sha256_lookup(s, strlen(s), "crictl.tgz", true, hex, NULL), 0);
        assert_string_equal(hex, HEX_B);
        s = HEX_A "  ./_output/release/crictl.tgz\n";
        assert_int_equal(k8s_sha256_lookup(s, strlen(s), "crictl.tgz", true, hex, NULL), 0);
        assert_string_equal(hex, HEX_A);

        /* A file naming another file: not ours. */
        s = HEX_A "  kubectl\n";
        assert_int_equal(k8s_sha256_lookup(s, strlen(s), "kubeadm", true, hex, NULL), -ENOENT);
        s = HEX_A "  xkubeadm\n";
        assert_int_equal(k8s_sha256_lookup(s, strlen(s), "kubeadm", true, hex, NULL), -ENOENT);

        /* SHA256SUMS with several lines. */
        s = HEX_A "  kubeadm\n\n" HEX_B "  kubelet\n";
        assert_int_equal(k8s_sha256_lookup(s, strlen(s), "kubelet", false, hex, NULL), 0);
        assert_string_equal(hex, HEX_B);
        assert_int_equal(k8s_sha256_lookup(s, strlen(s), "kubeadm", false, hex, NULL), 0);
        assert_string_equal(hex, HEX_A);

        /* Malformed. */
        free(err);
        err = NULL;
        s = "0123  kubeadm\n";
        assert_int_equal(k8s_sha256_lookup(s, strlen(s), "kubeadm", true, hex, &err), -EBADMSG);
        assert_non_null(strstr(err, "line 1"));
        s = "g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef  kubeadm\n";
        assert_int_equal(k8s_sha256_lookup(s, strlen(s), "kubeadm", true, hex, NULL), -EBADMSG);
        s = HEX_A "x kubeadm\n";
        assert_int_equal(k8s_sha256_lookup(s, strlen(s), "kubeadm", true, hex, NULL), -EBADMSG);
        s = HEX_A "\n" HEX_B "\n";
        assert_int_equal(k8s_sha256_lookup(s, strlen(s), "kubeadm", true, hex, NULL), -EBADMSG);
        assert_int_equal(k8s_sha256_lookup("", 0, "kubeadm", true, hex, NULL), -ENOENT);
}

/* ---- fixtures: files, tarballs ------------------------------------------------------ */

struct member {
        const char *name;
        const char *content; /* NULL: a directory */
        const char *symlink; /* a symbolic link to this */
};

/* A gzip-compressed tar (pax) of the members at path. */
static void make_tarball(const char *path, const struct member *m, size_t n) {
        struct archive *a = archive_write_new();
        assert_non_null(a);
        assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
        assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
        assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
        for (size_t i = 0; i < n; i++) {
                struct archive_entry *e = archive_entry_new();
                archive_entry_set_pathname(e, m[i].name);
                if (m[i].symlink) {
                        archive_entry_set_filetype(e, AE_IFLNK);
                        archive_entry_set_symlink(e, m[i].symlink);
                        archive_entry_set_perm(e, 0777);
                } else if (!m[i].content) {
                        archive_entry_set_filetype(e, AE_IFDIR);
                        archive_entry_set_perm(e, 0755);
                } else {
                        archive_entry_set_filetype(e, AE_IFREG);
                        archive_entry_set_perm(e, 0644); /* installed 0755 whatever the archive says */
                        archive_entry_set_size(e, (la_int64_t) strlen(m[i].content));
                }
                assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
                if (m[i].content && !m[i].symlink)
                        assert_int_equal(archive_write_data(a, m[i].content, strlen(m[i].content)),
                                         (la_ssize_t) strlen(m[i].content));
                archive_entry_free(e);
        }
        assert_int_equal(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
}

static const struct member crictl_members[] = {
        {.name = "crictl", .content = "fake crictl\n"},
        {.name = "README.md", .content = "not installed\n"},
};
static const struct member cni_members[] = {
        {.name = "./"},
        {.name = "./bridge", .content = "fake bridge\n"},
        {.name = "./host-local", .content = "fake host-local\n"},
        {.name = "./loopback", .content = "fake loopback\n"},
};

#define CRICTL_AMD64 "crictl-v1.31.1-linux-amd64.tar.gz"
#define CNI_AMD64 "cni-plugins-linux-amd64-v1.5.1.tgz"

/* A dir: source for amd64 with every file and a SHA256SUMS (written by the
 * sha256sum command when there is one, so the format is the real one). */
static void make_source_dir(const char *dir) {
        assert_int_equal(mkdir_p(dir, 0755), 0);
        tu_write_in(dir, "kubeadm", "fake kubeadm\n");
        tu_write_in(dir, "kubelet", "fake kubelet\n");
        tu_write_in(dir, "kubectl", "fake kubectl\n");
        _cleanup_free_ char *c = tu_path(dir, CRICTL_AMD64), *n = tu_path(dir, CNI_AMD64);
        make_tarball(c, crictl_members, ELEMENTSOF(crictl_members));
        make_tarball(n, cni_members, ELEMENTSOF(cni_members));

        static const char *const files[] = {"kubeadm", "kubelet", "kubectl", CRICTL_AMD64, CNI_AMD64};
        tu_write_sums(dir, "SHA256SUMS", files, ELEMENTSOF(files));
}

struct fixture {
        char dir[64];
        char *src, *cas, *root;
};

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof *f);
        assert_non_null(f);
        snprintf(f->dir, sizeof f->dir, "%s", "/tmp/test-k8sbundle-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        f->src = tu_path(f->dir, "src");
        f->cas = tu_path(f->dir, "cas");
        f->root = tu_path(f->dir, "root");
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;
        rm_rf(f->dir);
        free(f->src);
        free(f->cas);
        free(f->root);
        free(f);
        return 0;
}

static struct k8s_bundle *plan_dir(struct fixture *f) {
        struct profile_kubernetes k = k8s_profile();
        _cleanup_free_ char *source = NULL;
        assert_true(asprintf(&source, "dir:%s", f->src) > 0);
        k.source = source;
        struct k8s_bundle *b = NULL;
        assert_int_equal(k8s_bundle_plan(&k, "amd64", &b, NULL), 0);
        return b;
}

/* ---- dir: mode ---------------------------------------------------------------------- */

static void test_dir_ok(void **state) {
        struct fixture *f = *state;
        make_source_dir(f->src);
        _cleanup_k8s_bundle_ struct k8s_bundle *b = plan_dir(f);
        _cleanup_free_ char *err = NULL;
        assert_int_equal(k8s_bundle_fetch(b, f->cas, NULL, &err), 1);
        for (size_t i = 0; i < b->n_items; i++) {
                const struct k8s_item *it = &b->items[i];
                assert_true(cas_has(f->cas, it->sha256));
                char hex[SHA256_HEX_LEN + 1];
                assert_int_equal(sha256_file(it->local_path, hex), 0);
                assert_string_equal(hex, it->sha256);
                _cleanup_free_ char *p = cas_path(f->cas, it->sha256);
                assert_string_equal(it->store_path, p);
        }
        /* A second build finds everything in the store. */
        assert_int_equal(k8s_bundle_fetch(b, f->cas, NULL, &err), 0);
}

static void expect_fetch_error(struct fixture *f, int error, const char *needle1, const char *needle2) {
        _cleanup_k8s_bundle_ struct k8s_bundle *b = plan_dir(f);
        _cleanup_free_ char *err = NULL;
        assert_int_equal(k8s_bundle_fetch(b, f->cas, NULL, &err), error);
        assert_non_null(err);
        if (!strstr(err, needle1) || (needle2 && !strstr(err, needle2)))
                fail_msg("'%s' does not name '%s' / '%s'", err, needle1, needle2 ? needle2 : "");
}

static void test_dir_missing_file(void **state) {
        struct fixture *f = *state;
        make_source_dir(f->src);
        _cleanup_free_ char *p = tu_path(f->src, CNI_AMD64);
        assert_int_equal(unlink(p), 0);
        expect_fetch_error(f, -ENOENT, CNI_AMD64, NULL);
        assert_false(cas_has(f->cas, HEX_A));
}

static void test_dir_wrong_hash(void **state) {
        struct fixture *f = *state;
        make_source_dir(f->src);
        tu_write_in(f->src, "kubelet", "tampered kubelet\n");
        expect_fetch_error(f, -EBADMSG, "kubelet", NULL);
        /* The tampered content did not reach the store. */
        _cleanup_free_ char *p = tu_path(f->src, "kubelet");
        char hex[SHA256_HEX_LEN + 1];
        assert_int_equal(sha256_file(p, hex), 0);
        assert_false(cas_has(f->cas, hex));
}

static void test_dir_not_listed(void **state) {
        struct fixture *f = *state;
        make_source_dir(f->src);
        _cleanup_free_ char *sums = tu_read_in(f->src, "SHA256SUMS", NULL);
        char *line = strstr(sums, "  kubectl\n");
        assert_non_null(line);
        /* Drop the kubectl line. */
        char *start = line - SHA256_HEX_LEN;
        memmove(start, line + strlen("  kubectl\n"), strlen(line + strlen("  kubectl\n")) + 1);
        tu_write_in(f->src, "SHA256SUMS", sums);
        expect_fetch_error(f, -ENOENT, "'kubectl' is not listed", "SHA256SUMS");
}

static void test_dir_no_sums(void **state) {
        struct fixture *f = *state;
        make_source_dir(f->src);
        _cleanup_free_ char *p = tu_path(f->src, "SHA256SUMS");
        assert_int_equal(unlink(p), 0);
        expect_fetch_error(f, -ENOENT, "SHA256SUMS", NULL);
}

/* ---- install -------------------------------------------------------------------------- */

static void assert_installed(const char *root, const char *path, const char *content) {
        _cleanup_free_ char *p = path_join_root(root, path);
        struct stat st;
        if (lstat(p, &st) < 0)
                fail_msg("%s is not installed", path);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0755);
        _cleanup_free_ char *data = tu_read(p, NULL);
        assert_string_equal(data, content);
}

static void test_install(void **state) {
        struct fixture *f = *state;
        make_source_dir(f->src);
        _cleanup_k8s_bundle_ struct k8s_bundle *b = plan_dir(f);
        _cleanup_free_ char *err = NULL;
        assert_int_equal(k8s_bundle_fetch(b, f->cas, NULL, &err), 1);
        assert_int_equal(k8s_bundle_install(b, f->root, &err), 1);

        assert_installed(f->root, "/usr/bin/kubeadm", "fake kubeadm\n");
        assert_installed(f->root, "/usr/bin/kubelet", "fake kubelet\n");
        assert_installed(f->root, "/usr/bin/kubectl", "fake kubectl\n");
        assert_installed(f->root, "/usr/bin/crictl", "fake crictl\n");
        assert_installed(f->root, "/opt/cni/bin/bridge", "fake bridge\n");
        assert_installed(f->root, "/opt/cni/bin/host-local", "fake host-local\n");
        assert_installed(f->root, "/opt/cni/bin/loopback", "fake loopback\n");
        /* Only crictl comes out of its tarball; no temporary files stay. */
        _cleanup_free_ char *readme = path_join_root(f->root, "/usr/bin/README.md");
        assert_int_equal(access(readme, F_OK), -1);
        _cleanup_free_ char *bin = path_join_root(f->root, "/usr/bin");
        _cleanup_(closedirp_) DIR *d = opendir(bin);
        assert_non_null(d);
        int n = 0;
        for (struct dirent *de; (de = readdir(d));)
                if (de->d_name[0] != '.' || (de->d_name[1] != '\0' && de->d_name[1] != '.'))
                        n++;
        assert_int_equal(n, 4);

        /* Again: replaces the files, same result. */
        assert_int_equal(k8s_bundle_install(b, f->root, &err), 1);
        assert_installed(f->root, "/usr/bin/crictl", "fake crictl\n");
}

/* A bundle whose CNI tarball holds `bad`: installing it fails naming the
 * member, and nothing lands outside the root. */
static void expect_unsafe(struct fixture *f, const struct member *bad, int error, const char *needle) {
        make_source_dir(f->src);
        const struct member m[] = {{.name = "./bridge", .content = "fake bridge\n"}, *bad};
        _cleanup_free_ char *cni = tu_path(f->src, CNI_AMD64);
        make_tarball(cni, m, ELEMENTSOF(m));
        /* Rewrite SHA256SUMS for the new tarball. */
        char hex[SHA256_HEX_LEN + 1];
        assert_int_equal(sha256_file(cni, hex), 0);
        _cleanup_free_ char *sums = tu_read_in(f->src, "SHA256SUMS", NULL);
        char *line = strstr(sums, "  " CNI_AMD64);
        assert_non_null(line);
        memcpy(line - SHA256_HEX_LEN, hex, SHA256_HEX_LEN);
        tu_write_in(f->src, "SHA256SUMS", sums);

        _cleanup_k8s_bundle_ struct k8s_bundle *b = plan_dir(f);
        _cleanup_free_ char *err = NULL;
        assert_int_equal(k8s_bundle_fetch(b, f->cas, NULL, &err), 1);
        assert_int_equal(k8s_bundle_install(b, f->root, &err), error);
        assert_non_null(err);
        if (!strstr(err, needle))
                fail_msg("'%s' does not name '%s'", err, needle);
        _cleanup_free_ char *outside = tu_path(f->dir, "evil");
        assert_int_equal(access(outside, F_OK), -1);
        rm_rf(f->src);
        rm_rf(f->root);
}

static void test_install_refuses_unsafe(void **state) {
        struct fixture *f = *state;
        struct member dotdot = {.name = "../../../evil", .content = "x"};
        expect_unsafe(f, &dotdot, -EPERM, "../../../evil");
        struct member inner = {.name = "./a/../../../../evil", .content = "x"};
        expect_unsafe(f, &inner, -EPERM, "evil");
        struct member abs = {.name = "/tmp/evil", .content = "x"};
        expect_unsafe(f, &abs, -EPERM, "/tmp/evil");
        struct member link = {.name = "./portmap", .symlink = "/etc/passwd"};
        expect_unsafe(f, &link, -EPERM, "portmap");
        struct member sub = {.name = "./sub/", .content = NULL};
        expect_unsafe(f, &sub, -EPERM, "sub");
        struct member nested = {.name = "./sub/tool", .content = "x"};
        expect_unsafe(f, &nested, -EPERM, "sub/tool");
}

static void test_install_crictl_missing(void **state) {
        struct fixture *f = *state;
        make_source_dir(f->src);
        const struct member m[] = {{.name = "README.md", .content = "no binary here\n"}};
        _cleanup_free_ char *c = tu_path(f->src, CRICTL_AMD64);
        make_tarball(c, m, ELEMENTSOF(m));
        char hex[SHA256_HEX_LEN + 1];
        assert_int_equal(sha256_file(c, hex), 0);
        _cleanup_free_ char *sums = tu_read_in(f->src, "SHA256SUMS", NULL);
        char *line = strstr(sums, "  " CRICTL_AMD64);
        memcpy(line - SHA256_HEX_LEN, hex, SHA256_HEX_LEN);
        tu_write_in(f->src, "SHA256SUMS", sums);
        _cleanup_k8s_bundle_ struct k8s_bundle *b = plan_dir(f);
        _cleanup_free_ char *err = NULL;
        assert_int_equal(k8s_bundle_fetch(b, f->cas, NULL, &err), 1);
        assert_int_equal(k8s_bundle_install(b, f->root, &err), -ENOENT);
        assert_non_null(strstr(err, "crictl"));
}

/* ---- release mode against a loopback server --------------------------------------------- */

/* Routes for a release of the files in f->src: <base>/v1.31.1/bin/linux/amd64/<bin>,
 * /cri/<v>/crictl-..., /cni/<v>/cni-plugins-..., each with its .sha256 (bare for
 * the binaries as dl.k8s.io has it, "<hex>  <name>" for the tarballs).
 * `wrong` (may be NULL) gets the digest of something else. */
static size_t make_routes(struct fixture *f, struct tu_route *routes, const char *wrong,
                          const char *missing_sha) {
        static const struct {
                const char *file, *url;
                bool bare;
        } files[] = {
                {"kubeadm", "/release/v1.31.1/bin/linux/amd64/kubeadm", true},
                {"kubelet", "/release/v1.31.1/bin/linux/amd64/kubelet", true},
                {"kubectl", "/release/v1.31.1/bin/linux/amd64/kubectl", true},
                {CRICTL_AMD64, "/cri/v1.31.1/" CRICTL_AMD64, false},
                {CNI_AMD64, "/cni/v1.5.1/" CNI_AMD64, false},
        };
        size_t n = 0;
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_free_ char *p = tu_path(f->src, files[i].file);
                routes[n].path = strdup(files[i].url);
                routes[n].body = tu_read(p, &routes[n].size);
                char hex[SHA256_HEX_LEN + 1];
                if (wrong && streq(wrong, files[i].file))
                        assert_int_equal(sha256_buffer("other", 5, hex), 0);
                else
                        assert_int_equal(sha256_buffer(routes[n].body, routes[n].size, hex), 0);
                n++;
                if (missing_sha && streq(missing_sha, files[i].file))
                        continue;
                assert_true(asprintf(&routes[n].path, "%s.sha256", files[i].url) > 0);
                if (files[i].bare)
                        routes[n].body = strdup(hex);
                else
                        assert_true(asprintf(&routes[n].body, "%s  %s\n", hex, files[i].file) > 0);
                routes[n].size = strlen(routes[n].body);
                n++;
        }
        return n;
}

static int release_fetch(struct fixture *f, const char *wrong, const char *missing_sha,
                         struct k8s_bundle **ret_b, char **ret_error) {
        struct tu_route routes[10] = {};
        size_t n = make_routes(f, routes, wrong, missing_sha);
        int port;
        pid_t pid = tu_start_server(routes, n, &port);

        _cleanup_free_ char *rel = NULL, *cri = NULL, *cni = NULL;
        assert_true(asprintf(&rel, "http://127.0.0.1:%d/release", port) > 0);
        assert_true(asprintf(&cri,
                             "http://127.0.0.1:%d/cri/${version}/crictl-${version}-linux-${arch}.tar.gz",
                             port) > 0);
        assert_true(asprintf(&cni,
                             "http://127.0.0.1:%d/cni/${version}/cni-plugins-linux-${arch}-${version}.tgz",
                             port) > 0);
        struct profile_kubernetes k = k8s_profile();
        k.release_url = rel;
        k.crictl_url = cri;
        k.cni_url = cni;
        struct k8s_bundle *b = NULL;
        assert_int_equal(k8s_bundle_plan(&k, "x86_64", &b, NULL), 0);
        struct download_opts o = {.allow_http = true, .attempts = 2, .retry_delay_ms = 5};
        int r = k8s_bundle_fetch(b, f->cas, &o, ret_error);
        tu_stop_server(pid, routes, n);
        *ret_b = b;
        return r;
}

static void test_release_ok(void **state) {
        struct fixture *f = *state;
        make_source_dir(f->src);
        _cleanup_k8s_bundle_ struct k8s_bundle *b = NULL;
        _cleanup_free_ char *err = NULL;
        int r = release_fetch(f, NULL, NULL, &b, &err);
        if (r != 1)
                fail_msg("fetch: %d %s", r, err ? err : "");
        for (size_t i = 0; i < b->n_items; i++) {
                const struct k8s_item *it = &b->items[i];
                assert_true(cas_has(f->cas, it->sha256));
                _cleanup_free_ char *p = tu_path(f->src, it->file_name);
                char hex[SHA256_HEX_LEN + 1];
                assert_int_equal(sha256_file(p, hex), 0);
                assert_string_equal(it->sha256, hex);
        }
        assert_int_equal(k8s_bundle_install(b, f->root, &err), 1);
        assert_installed(f->root, "/usr/bin/kubelet", "fake kubelet\n");
        assert_installed(f->root, "/opt/cni/bin/loopback", "fake loopback\n");
}

static void test_release_wrong_sha(void **state) {
        struct fixture *f = *state;
        make_source_dir(f->src);
        _cleanup_k8s_bundle_ struct k8s_bundle *b = NULL;
        _cleanup_free_ char *err = NULL;
        assert_int_equal(release_fetch(f, "kubelet", NULL, &b, &err), -EBADMSG);
        assert_non_null(strstr(err, "/kubelet"));
        /* kubeadm went in before; kubelet did not. */
        assert_true(cas_has(f->cas, b->items[0].sha256));
        _cleanup_free_ char *p = tu_path(f->src, "kubelet");
        char hex[SHA256_HEX_LEN + 1];
        assert_int_equal(sha256_file(p, hex), 0);
        assert_false(cas_has(f->cas, hex));
}

static void test_release_wrong_sha_tarball(void **state) {
        struct fixture *f = *state;
        make_source_dir(f->src);
        _cleanup_k8s_bundle_ struct k8s_bundle *b = NULL;
        _cleanup_free_ char *err = NULL;
        assert_int_equal(release_fetch(f, CNI_AMD64, NULL, &b, &err), -EBADMSG);
        assert_non_null(strstr(err, CNI_AMD64));
}

static void test_release_sha_missing(void **state) {
        struct fixture *f = *state;
        make_source_dir(f->src);
        _cleanup_k8s_bundle_ struct k8s_bundle *b = NULL;
        _cleanup_free_ char *err = NULL;
        assert_int_equal(release_fetch(f, NULL, "kubectl", &b, &err), -EPROTO);
        assert_non_null(strstr(err, "kubectl.sha256"));
        assert_non_null(strstr(err, "404"));
}

static void test_release_https_only(void **state) {
        struct fixture *f = *state;
        struct profile_kubernetes k = k8s_profile();
        k.release_url = (char *) "http://127.0.0.1:9/release";
        _cleanup_k8s_bundle_ struct k8s_bundle *b = NULL;
        assert_int_equal(k8s_bundle_plan(&k, "amd64", &b, NULL), 0);
        _cleanup_free_ char *err = NULL;
        assert_int_equal(k8s_bundle_fetch(b, f->cas, NULL, &err), -EPROTONOSUPPORT);
        assert_non_null(strstr(err, "kubeadm.sha256"));
}

int main(void) {
        log_set_max_level(LOG_WARNING);
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_plan_release_amd64),
                cmocka_unit_test(test_plan_release_arm64),
                cmocka_unit_test(test_plan_overrides),
                cmocka_unit_test(test_plan_errors),
                cmocka_unit_test(test_plan_dir),
                cmocka_unit_test(test_sha256_lookup),
                cmocka_unit_test_setup_teardown(test_dir_ok, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dir_missing_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dir_wrong_hash, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dir_not_listed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dir_no_sums, setup, teardown),
                cmocka_unit_test_setup_teardown(test_install, setup, teardown),
                cmocka_unit_test_setup_teardown(test_install_refuses_unsafe, setup, teardown),
                cmocka_unit_test_setup_teardown(test_install_crictl_missing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_release_ok, setup, teardown),
                cmocka_unit_test_setup_teardown(test_release_wrong_sha, setup, teardown),
                cmocka_unit_test_setup_teardown(test_release_wrong_sha_tarball, setup, teardown),
                cmocka_unit_test_setup_teardown(test_release_sha_missing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_release_https_only, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
