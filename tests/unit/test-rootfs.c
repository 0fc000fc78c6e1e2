/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "arch.h"
#include "fsutil.h"
#include "macro.h"
#include "proc.h"
#include "profile.h"
#include "rootfs.h"
#include "stagekey.h"
#include "strv.h"

/* A profile built by hand, as profile_parse would leave it: every list
 * NULL-terminated, never NULL. Tests change fields on a copy. */
static char *components[] = {"main", "contrib", NULL};
static char *packages[] = {"curl", "systemd", "jq", "curl", "linux-image-amd64", NULL};
static char *modules[] = {"virtio_blk", "virtio_pci", "nvme", NULL};
static char *empty[] = {NULL};

static struct profile make_profile(void) {
        return (struct profile){
                .path = "images/debian-bookworm.yaml",
                .name = "debian-bookworm",
                .distro = "debian",
                .suite = "bookworm",
                .mirror_main = "http://deb.debian.org/debian",
                .mirror_updates = "http://deb.debian.org/debian",
                .mirror_security = "http://security.debian.org/debian-security",
                .keyring = "/usr/share/keyrings/debian-archive-keyring.gpg",
                .keyring_package = "debian-archive-keyring",
                .components = components,
                .packages = packages,
                .kernel_package = "linux-image-${arch}",
                .kernel_cmdline = "quiet",
                .initramfs_modules = modules,
                .formats = PROFILE_FORMAT_RAW,
                .overlays = empty,
                .images_extra = empty,

        };
}

static const struct arch_info *amd64(void) {
        const struct arch_info *a = arch_lookup("amd64");
        assert_non_null(a);
        return a;
}
static const struct arch_info *arm64(void) {
        const struct arch_info *a = arch_lookup("arm64");
        assert_non_null(a);
        return a;
}

static ssize_t index_of(char *const *v, const char *s) {
        for (size_t i = 0; v && v[i]; i++)
                if (streq(v[i], s))
                        return (ssize_t) i;
        return -1;
}

static void test_kernel_package(void **state) {
        (void) state;
        struct profile p = make_profile();
        _cleanup_free_ char *a = rootfs_kernel_package(&p, amd64());
        _cleanup_free_ char *b = rootfs_kernel_package(&p, arm64());
        assert_string_equal(a, "linux-image-amd64");
        assert_string_equal(b, "linux-image-arm64");

        /* Ubuntu's name has no ${arch}: unchanged. */
        p.kernel_package = "linux-image-virtual";
        _cleanup_free_ char *c = rootfs_kernel_package(&p, arm64());
        assert_string_equal(c, "linux-image-virtual");

        /* In the middle, and at the start. */
        p.kernel_package = "linux-${arch}-cloud";
        _cleanup_free_ char *d = rootfs_kernel_package(&p, arm64());
        assert_string_equal(d, "linux-arm64-cloud");
        p.kernel_package = "${arch}";
        _cleanup_free_ char *e = rootfs_kernel_package(&p, amd64());
        assert_string_equal(e, "amd64");
}

static void test_packages(void **state) {
        (void) state;
        struct profile p = make_profile();
        _cleanup_strv_free_ char **v = NULL;
        assert_int_equal(rootfs_packages(&p, arm64(), &v), 0);

        /* The base set first, in its order. */
        size_t n_base = 0;
        while (rootfs_base_packages[n_base])
                n_base++;
        assert_true(n_base > 0);
        for (size_t i = 0; i < n_base; i++)
                assert_string_equal(v[i], rootfs_base_packages[i]);
        /* Packages every image needs. */
        static const char *const needed[] = {
                "systemd",          "udev",      "initramfs-tools", "containerd",
                "systemd-boot-efi", "e2fsprogs", "ca-certificates"};
        for (size_t i = 0; i < ELEMENTSOF(needed); i++)
                if (index_of(v, needed[i]) < 0)
                        fail_msg("base set lacks %s", needed[i]);
        /* Then the kernel, for this architecture, then the profile's own,
         * each once, in the profile's order. */
        assert_string_equal(v[n_base], "linux-image-arm64");
        assert_string_equal(v[n_base + 1], "curl");
        assert_string_equal(v[n_base + 2], "jq");
        /* linux-image-amd64 is a profile package here (not the kernel). */
        assert_string_equal(v[n_base + 3], "linux-image-amd64");
        assert_null(v[n_base + 4]);
        /* No duplicates at all. */
        for (size_t i = 0; v[i]; i++)
                for (size_t j = i + 1; v[j]; j++)
                        if (streq(v[i], v[j]))
                                fail_msg("%s listed twice", v[i]);

        /* For amd64 the profile's linux-image-amd64 is the kernel: once. */
        _cleanup_strv_free_ char **w = NULL;
        assert_int_equal(rootfs_packages(&p, amd64(), &w), 0);
        assert_string_equal(w[n_base], "linux-image-amd64");
        assert_string_equal(w[n_base + 1], "curl");
        assert_string_equal(w[n_base + 2], "jq");
        assert_null(w[n_base + 3]);

        /* No extra packages. */
        p.packages = empty;
        _cleanup_strv_free_ char **x = NULL;
        assert_int_equal(rootfs_packages(&p, amd64(), &x), 0);
        assert_int_equal(strv_length(x), n_base + 1);
}

static void test_sources(void **state) {
        (void) state;
        struct profile p = make_profile();
        _cleanup_strv_free_ char **v = NULL;
        assert_int_equal(rootfs_sources(&p, arch_lookup("amd64"), &v), 0);
        assert_int_equal(strv_length(v), 3);
        assert_string_equal(v[0], "deb http://deb.debian.org/debian bookworm main contrib");
        assert_string_equal(v[1], "deb http://deb.debian.org/debian bookworm-updates main contrib");
        assert_string_equal(v[2],
                            "deb http://security.debian.org/debian-security bookworm-security main contrib");

        /* Absent mirrors are omitted. */
        p.mirror_security = NULL;
        _cleanup_strv_free_ char **w = NULL;
        assert_int_equal(rootfs_sources(&p, arch_lookup("amd64"), &w), 0);
        assert_int_equal(strv_length(w), 2);
        assert_string_equal(w[1], "deb http://deb.debian.org/debian bookworm-updates main contrib");

        p.mirror_security = "http://sec.example/";
        p.mirror_updates = NULL;
        _cleanup_strv_free_ char **x = NULL;
        assert_int_equal(rootfs_sources(&p, arch_lookup("amd64"), &x), 0);
        assert_int_equal(strv_length(x), 2);
        assert_string_equal(x[0], "deb http://deb.debian.org/debian bookworm main contrib");
        assert_string_equal(x[1], "deb http://sec.example/ bookworm-security main contrib");

        p.mirror_security = NULL;
        static char *only_main[] = {"main", NULL};
        p.components = only_main;
        _cleanup_strv_free_ char **y = NULL;
        assert_int_equal(rootfs_sources(&p, arch_lookup("amd64"), &y), 0);
        assert_int_equal(strv_length(y), 1);
        assert_string_equal(y[0], "deb http://deb.debian.org/debian bookworm main");
}

/* Ubuntu: amd64 from the main mirrors, every other architecture (its
 * -updates and -security included) from the ports archive. */
static void test_sources_ports(void **state) {
        (void) state;
        struct profile p = make_profile();
        p.suite = "noble";
        p.mirror_main = p.mirror_updates = "http://archive.ubuntu.com/ubuntu";
        p.mirror_security = "http://security.ubuntu.com/ubuntu";
        p.mirror_ports = "http://ports.ubuntu.com/ubuntu-ports";
        static char *comps[] = {"main", NULL};
        p.components = comps;
        _cleanup_strv_free_ char **amd = NULL, **arm = NULL, **arm_no_sec = NULL;
        assert_int_equal(rootfs_sources(&p, arch_lookup("amd64"), &amd), 0);
        assert_string_equal(amd[0], "deb http://archive.ubuntu.com/ubuntu noble main");
        assert_string_equal(amd[2], "deb http://security.ubuntu.com/ubuntu noble-security main");
        assert_int_equal(rootfs_sources(&p, arch_lookup("arm64"), &arm), 0);
        assert_int_equal(strv_length(arm), 3);
        assert_string_equal(arm[0], "deb http://ports.ubuntu.com/ubuntu-ports noble main");
        assert_string_equal(arm[1], "deb http://ports.ubuntu.com/ubuntu-ports noble-updates main");
        assert_string_equal(arm[2], "deb http://ports.ubuntu.com/ubuntu-ports noble-security main");
        /* No security source asked for: none from the ports either. */
        p.mirror_security = NULL;
        assert_int_equal(rootfs_sources(&p, arch_lookup("arm64"), &arm_no_sec), 0);
        assert_int_equal(strv_length(arm_no_sec), 2);
}

static void test_initramfs_modules(void **state) {
        (void) state;
        struct profile p = make_profile();
        _cleanup_free_ char *s = rootfs_initramfs_modules(&p);
        assert_non_null(s);
        /* One module per line, after the comment, each line ended. */
        const char *body = strchr(s, '\n');
        assert_non_null(body);
        assert_int_equal(s[0], '#');
        assert_string_equal(body + 1, "virtio_blk\nvirtio_pci\nnvme\n");
        p.initramfs_modules = empty;
        _cleanup_free_ char *t = rootfs_initramfs_modules(&p);
        assert_non_null(t);
        assert_string_equal(strchr(t, '\n') + 1, "");
}

static void test_mmdebstrap_argv(void **state) {
        (void) state;
        struct profile p = make_profile();
        _cleanup_strv_free_ char **argv = NULL;
        assert_int_equal(
                rootfs_mmdebstrap_argv(&p, arm64(), "/cache/hooks-x", "/cache/out.tar.partial", &argv), 0);
        size_t n = strv_length(argv);
        assert_true(n > 8);
        assert_string_equal(argv[0], "mmdebstrap");
        assert_true(index_of(argv, "--variant=minbase") > 0);
        assert_true(index_of(argv, "--architectures=arm64") > 0);
        assert_true(index_of(argv, "--architectures=amd64") < 0);
        assert_true(index_of(argv, "--keyring=/usr/share/keyrings/debian-archive-keyring.gpg") > 0);
        assert_true(index_of(argv, "--setup-hook=sync-in /cache/hooks-x /") > 0);

        /* --include is exactly the package list, comma-separated. */
        _cleanup_strv_free_ char **pkgs = NULL;
        assert_int_equal(rootfs_packages(&p, arm64(), &pkgs), 0);
        _cleanup_free_ char *joined = strv_join(pkgs, ",");
        _cleanup_free_ char *include = NULL;
        assert_true(asprintf(&include, "--include=%s", joined) > 0);
        assert_true(index_of(argv, include) > 0);
        assert_non_null(strstr(include, ",linux-image-arm64,curl,jq,"));

        /* Options first, then the positional arguments: suite, target,
         * then the sources in order. */
        ssize_t suite = index_of(argv, "bookworm");
        assert_true(suite > 0);
        for (ssize_t i = 1; i < suite; i++)
                if (argv[i][0] != '-')
                        fail_msg("positional argument %s before the suite", argv[i]);
        assert_string_equal(argv[suite + 1], "/cache/out.tar.partial");
        _cleanup_strv_free_ char **sources = NULL;
        assert_int_equal(rootfs_sources(&p, arch_lookup("amd64"), &sources), 0);
        for (size_t i = 0; sources[i]; i++)
                assert_string_equal(argv[suite + 2 + (ssize_t) i], sources[i]);
        assert_int_equal((size_t) suite + 2 + strv_length(sources), n);

        /* amd64 */
        _cleanup_strv_free_ char **argv2 = NULL;
        assert_int_equal(rootfs_mmdebstrap_argv(&p, amd64(), "/h", "/o", &argv2), 0);
        assert_true(index_of(argv2, "--architectures=amd64") > 0);
        assert_true(index_of(argv2, "--architectures=arm64") < 0);
}

/* ---- the stage key -------------------------------------------------------------------------- */

static void key_of(const struct profile *p, const struct arch_info *a, char out[SHA256_HEX_LEN + 1]) {
        _cleanup_stagekey_ struct stagekey *k = NULL;
        assert_int_equal(stagekey_new("rootfs", ROOTFS_STAGE_VERSION, &k), 0);
        assert_int_equal(rootfs_key_inputs(k, p, a), 0);
        assert_int_equal(stagekey_final(k, out), 0);
}

static void expect_key_change(const struct profile *changed, const struct arch_info *a, const char *what) {
        struct profile base = make_profile();
        char k0[SHA256_HEX_LEN + 1], k1[SHA256_HEX_LEN + 1];
        key_of(&base, amd64(), k0);
        key_of(changed, a, k1);
        if (streq(k0, k1))
                fail_msg("the rootfs key did not change when %s changed", what);
}

static void test_key_identical(void **state) {
        (void) state;
        struct profile a = make_profile(), b = make_profile();
        /* Same contents in different memory. */
        char *pk[] = {strdup("curl"), strdup("systemd"),           strdup("jq"),
                      strdup("curl"), strdup("linux-image-amd64"), NULL};
        char *suite = strdup("bookworm");
        for (size_t i = 0; i < 5; i++)
                assert_non_null(pk[i]);
        assert_non_null(suite);
        b.packages = pk;
        b.suite = suite;
        char k0[SHA256_HEX_LEN + 1], k1[SHA256_HEX_LEN + 1];
        key_of(&a, amd64(), k0);
        key_of(&b, amd64(), k1);
        assert_string_equal(k0, k1);
        for (size_t i = 0; i < 5; i++)
                free(pk[i]);
        free(suite);

        /* Things that are not rootfs inputs do not change it. */
        b = make_profile();
        b.kernel_cmdline = "console=ttyS1";
        b.name = "renamed";
        b.path = "elsewhere.yaml";
        b.disk_size = 8ull << 30;
        key_of(&b, amd64(), k1);
        assert_string_equal(k0, k1);
}

static void test_key_changes(void **state) {
        (void) state;
        struct profile p;
        static char *more_packages[] = {"curl", "systemd", "jq", "curl", "linux-image-amd64", "vim", NULL};
        static char *reordered[] = {"jq", "systemd", "curl", "linux-image-amd64", NULL};
        static char *fewer_modules[] = {"virtio_blk", "virtio_pci", NULL};
        static char *other_modules[] = {"virtio_blk", "virtio_pci", "virtio_scsi", NULL};
        static char *more_components[] = {"main", "contrib", "non-free-firmware", NULL};

        p = make_profile(), p.packages = more_packages;
        expect_key_change(&p, amd64(), "a package added");
        p = make_profile(), p.packages = reordered;
        expect_key_change(&p, amd64(), "the package order");
        p = make_profile(), p.mirror_main = "http://mirror.local/debian";
        expect_key_change(&p, amd64(), "the main mirror");
        p = make_profile(), p.mirror_updates = NULL;
        expect_key_change(&p, amd64(), "the updates mirror");
        p = make_profile(), p.mirror_security = "http://mirror.local/security";
        expect_key_change(&p, amd64(), "the security mirror");
        p = make_profile(), p.suite = "trixie";
        expect_key_change(&p, amd64(), "the suite");
        p = make_profile(), p.components = more_components;
        expect_key_change(&p, amd64(), "the components");
        p = make_profile(), p.kernel_package = "linux-image-cloud-${arch}";
        expect_key_change(&p, amd64(), "the kernel package");
        p = make_profile(), p.keyring = "/etc/apt/trusted.gpg.d/other.gpg";
        expect_key_change(&p, amd64(), "the keyring path");
        p = make_profile(), p.initramfs_modules = fewer_modules;
        expect_key_change(&p, amd64(), "an initramfs module removed");
        p = make_profile(), p.initramfs_modules = other_modules;
        expect_key_change(&p, amd64(), "an initramfs module replaced");
        p = make_profile();
        expect_key_change(&p, arm64(), "the architecture");
}

/* ---- the agent's sysroot --------------------------------------------------------------------- */

static void test_sysroot_argv(void **state) {
        (void) state;
        struct profile p = make_profile();
        _cleanup_strv_free_ char **argv = NULL;
        assert_int_equal(rootfs_sysroot_argv(&p, arm64(), "/cache/sysroot/x.partial", &argv), 0);
        assert_string_equal(argv[0], "mmdebstrap");
        /* Unpacked only: no maintainer script, so no emulation. */
        assert_true(index_of(argv, "--variant=extract") > 0);
        assert_true(index_of(argv, "--variant=minbase") < 0);
        assert_true(index_of(argv, "--format=directory") > 0);
        assert_true(index_of(argv, "--architectures=arm64") > 0);
        assert_true(index_of(argv, "--keyring=/usr/share/keyrings/debian-archive-keyring.gpg") > 0);
        for (size_t i = 0; argv[i]; i++)
                if (strncmp(argv[i], "--setup-hook", 12) == 0)
                        fail_msg("a setup hook in the sysroot's command line: %s", argv[i]);
        /* Exactly the -dev packages, not the image's packages or kernel. */
        _cleanup_free_ char *joined = strv_join((char **) rootfs_sysroot_packages, ",");
        _cleanup_free_ char *include = strdupf("--include=%s", joined);
        assert_true(index_of(argv, include) > 0);
        assert_non_null(strstr(include, "libc6-dev"));
        assert_non_null(strstr(include, "libyaml-dev"));
        assert_null(strstr(include, "linux-image"));
        assert_null(strstr(include, "jq"));
        /* The same sources as the image: the agent links against the
         * libraries the image will hold. */
        ssize_t suite = index_of(argv, "bookworm");
        assert_true(suite > 0);
        assert_string_equal(argv[suite + 1], "/cache/sysroot/x.partial");
        _cleanup_strv_free_ char **sources = NULL;
        assert_int_equal(rootfs_sources(&p, arch_lookup("amd64"), &sources), 0);
        for (size_t i = 0; sources[i]; i++)
                assert_string_equal(argv[suite + 2 + (ssize_t) i], sources[i]);
        assert_int_equal((size_t) suite + 2 + strv_length(sources), strv_length(argv));
}

static void sysroot_key_of(const struct profile *p, const struct arch_info *a,
                           char out[SHA256_HEX_LEN + 1]) {
        _cleanup_stagekey_ struct stagekey *k = NULL;
        assert_int_equal(stagekey_new("sysroot", ROOTFS_SYSROOT_VERSION, &k), 0);
        assert_int_equal(rootfs_sysroot_key_inputs(k, p, a), 0);
        assert_int_equal(stagekey_final(k, out), 0);
}

static void test_sysroot_key(void **state) {
        (void) state;
        static char *more_packages[] = {"curl", "vim", NULL};
        struct profile base = make_profile(), p;
        char k0[SHA256_HEX_LEN + 1], k1[SHA256_HEX_LEN + 1];
        sysroot_key_of(&base, arm64(), k0);
        /* What only the image's rootfs uses leaves the sysroot alone. */
        p = make_profile(), p.packages = more_packages, p.kernel_package = "linux-image-cloud-${arch}";
        p.initramfs_modules = empty;
        sysroot_key_of(&p, arm64(), k1);
        assert_string_equal(k0, k1);
        /* What the libraries come from changes it. */
        p = make_profile(), p.mirror_main = "http://mirror.local/debian";
        sysroot_key_of(&p, arm64(), k1);
        assert_string_not_equal(k0, k1);
        p = make_profile(), p.suite = "trixie";
        sysroot_key_of(&p, arm64(), k1);
        assert_string_not_equal(k0, k1);
        p = make_profile();
        sysroot_key_of(&p, amd64(), k1);
        assert_string_not_equal(k0, k1);
}

static void test_relative_link(void **state) {
        (void) state;
        static const struct {
                const char *link, *target, *want;
        } cases[] = {
                {"usr/lib/aarch64-linux-gnu/libz.so", "/lib/aarch64-linux-gnu/libz.so.1.2.13",
                 "../../../lib/aarch64-linux-gnu/libz.so.1.2.13"},
                {"dev/fd", "/proc/self/fd", "../proc/self/fd"},
                {"bin", "/usr/bin", "usr/bin"},
                {"usr//lib/x.so", "//lib/x.so.1", "../../lib/x.so.1"},
                {"usr/lib/root-link", "/", "../../."},
                /* Relative targets stay as they are. */
                {"usr/lib/aarch64-linux-gnu/libyaml.so", "libyaml-0.so.2.0.9", "libyaml-0.so.2.0.9"},
                {"lib64/ld.so", "../lib/ld.so", "../lib/ld.so"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *got = rootfs_relative_link(cases[i].link, cases[i].target);
                assert_non_null(got);
                if (!streq(got, cases[i].want))
                        fail_msg("%s -> %s: got '%s', want '%s'", cases[i].link, cases[i].target, got,
                                 cases[i].want);
        }
}

/* A fake mmdebstrap that unpacks a tiny "sysroot" with an absolute link. */
static unsigned fake_runs;
static int fake_mmdebstrap(char *const argv[], const struct proc_opts *opts, struct proc_result *ret) {
        (void) opts;
        (void) ret;
        fake_runs++;
        assert_string_equal(argv[0], "mmdebstrap");
        ssize_t suite = index_of(argv, "bookworm");
        assert_true(suite > 0);
        const char *out = argv[suite + 1];
        _cleanup_free_ char *libdir = strdupf("%s/usr/lib/aarch64-linux-gnu", out);
        _cleanup_free_ char *real = strdupf("%s/lib/aarch64-linux-gnu/libz.so.1", out);
        _cleanup_free_ char *realdir = strdupf("%s/lib/aarch64-linux-gnu", out);
        _cleanup_free_ char *link = strdupf("%s/libz.so", libdir);
        assert_int_equal(mkdir_p(libdir, 0755), 0);
        assert_int_equal(mkdir_p(realdir, 0755), 0);
        assert_int_equal(write_file_atomic(real, "ELF", 3, 0644), 0);
        assert_int_equal(symlink("/lib/aarch64-linux-gnu/libz.so.1", link), 0);
        return 0;
}
static const struct proc_ops fake_mmdebstrap_ops = {.run = fake_mmdebstrap};

static void test_sysroot_stage(void **state) {
        (void) state;
        char cache[] = "/tmp/test-rootfs-XXXXXX";
        assert_non_null(mkdtemp(cache));
        struct profile p = make_profile();
        if (access(p.keyring, R_OK) < 0) {
                (void) rm_rf(cache);
                skip();
        }
        const struct proc_ops *saved = proc_ops;
        proc_ops = &fake_mmdebstrap_ops;
        fake_runs = 0;
        _cleanup_free_ char *dir = NULL, *again = NULL;
        assert_int_equal(rootfs_sysroot_stage(&p, arm64(), cache, &dir), 0);
        assert_int_equal(fake_runs, 1);
        assert_true(strncmp(dir, cache, strlen(cache)) == 0);
        assert_non_null(strstr(dir, "/sysroot/debian-bookworm-arm64-"));
        _cleanup_free_ char *link = strdupf("%s/usr/lib/aarch64-linux-gnu/libz.so", dir);
        char target[256];
        ssize_t n = readlink(link, target, sizeof target - 1);
        assert_true(n > 0);
        target[n] = '\0';
        assert_string_equal(target, "../../../lib/aarch64-linux-gnu/libz.so.1");
        /* The link now resolves inside the tree. */
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        assert_int_equal(read_file_full(link, 16, &data, &size), 0);
        assert_int_equal(size, 3);
        /* Cached: the second call runs nothing and gives the same path. */
        assert_int_equal(rootfs_sysroot_stage(&p, arm64(), cache, &again), 0);
        assert_int_equal(fake_runs, 1);
        assert_string_equal(dir, again);
        proc_ops = saved;
        assert_int_equal(rm_rf(cache), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_kernel_package),    cmocka_unit_test(test_packages),
                cmocka_unit_test(test_sources),           cmocka_unit_test(test_sources_ports),
                cmocka_unit_test(test_initramfs_modules), cmocka_unit_test(test_mmdebstrap_argv),
                cmocka_unit_test(test_key_identical),     cmocka_unit_test(test_key_changes),
                cmocka_unit_test(test_sysroot_argv),      cmocka_unit_test(test_sysroot_key),
                cmocka_unit_test(test_relative_link),     cmocka_unit_test(test_sysroot_stage),
        };
        return cmocka_run_group_tests_name("rootfs", tests, NULL, NULL);
}
