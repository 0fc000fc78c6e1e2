/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fsutil.h"
#include "macro.h"
#include "profile.h"
#include "yamltree.h"

/* Tests run from the repository root. */
#define FIXTURES "tests/data/profiles/"
#define GIB (UINT64_C(1) << 30)
#define MIB (UINT64_C(1) << 20)

static size_t strv_length(char **v) {
        size_t n = 0;
        while (v && v[n])
                n++;
        return n;
}

static void assert_strv(char **v, const char *const *expected, size_t n) {
        assert_non_null(v);
        assert_int_equal(strv_length(v), n);
        for (size_t i = 0; i < n; i++)
                assert_string_equal(v[i], expected[i]);
}
#define ASSERT_STRV(v, ...)                                                                                 \
        do {                                                                                                \
                static const char *const _e_[] = {__VA_ARGS__};                                             \
                assert_strv((v), _e_, ELEMENTSOF(_e_));                                                     \
        } while (0)

static struct profile *load_ok(const char *path, char *const *overrides) {
        struct profile *p = NULL;
        char *error = NULL;
        int r = profile_load(path, overrides, &p, &error);
        if (r < 0)
                print_error("%s: unexpected error %d: %s\n", path, r, error ? error : "(none)");
        assert_int_equal(r, 0);
        assert_null(error);
        assert_non_null(p);
        return p;
}

static void expect_load_error(const char *path, char *const *overrides, int expected_r,
                              const char *expected) {
        struct profile *p = (struct profile *) 0x1;
        _cleanup_free_ char *error = NULL;
        int r = profile_load(path, overrides, &p, &error);
        if (r != expected_r || !error || !streq(error, expected))
                print_error("%s\n got  %d '%s'\n want %d '%s'\n", path, r, error ? error : "(none)",
                            expected_r, expected);
        assert_int_equal(r, expected_r);
        assert_non_null(error);
        assert_string_equal(error, expected);
        assert_ptr_equal(p, (struct profile *) 0x1); /* untouched on failure */

        /* and without the out-parameters */
        assert_int_equal(profile_load(path, overrides, NULL, NULL), expected_r);
}

/* Parse `text` from memory, in a buffer with no terminating NUL (ASan
 * catches a read past `size`). */
static int parse_text(const char *text, char *const *overrides, struct profile **ret, char **ret_error) {
        size_t size = strlen(text);
        _cleanup_free_ char *buf = malloc(size ? size : 1);
        assert_non_null(buf);
        memcpy(buf, text, size);
        return profile_parse("mem.yaml", buf, size, overrides, ret, ret_error);
}

#define MINIMAL                                                                                             \
        "name: mem\n"                                                                                       \
        "distro: debian\n"                                                                                  \
        "suite: bookworm\n"                                                                                 \
        "mirrors: {main: http://deb.debian.org/debian}\n"                                                   \
        "keyring: {path: /k.gpg, package: debian-archive-keyring}\n"                                        \
        "kernel: {package: linux-image-amd64}\n"

/* MINIMAL is 6 lines: keys added after it are on line 7. */
static void expect_text_error(const char *extra, const char *expected) {
        _cleanup_free_ char *text = NULL;
        assert_true(asprintf(&text, "%s%s", MINIMAL, extra) > 0);
        struct profile *p = NULL;
        _cleanup_free_ char *error = NULL;
        int r = parse_text(text, NULL, &p, &error);
        if (r != -EINVAL || !error || !streq(error, expected))
                print_error("%s\n got  %d '%s'\n want '%s'\n", extra, r, error ? error : "(none)", expected);
        assert_int_equal(r, -EINVAL);
        assert_null(p);
        assert_non_null(error);
        assert_string_equal(error, expected);
}

static struct profile *text_ok(const char *extra, char *const *overrides) {
        _cleanup_free_ char *text = NULL;
        assert_true(asprintf(&text, "%s%s", MINIMAL, extra) > 0);
        struct profile *p = NULL;
        _cleanup_free_ char *error = NULL;
        int r = parse_text(text, overrides, &p, &error);
        if (r < 0)
                print_error("%s\n unexpected %d '%s'\n", extra, r, error ? error : "(none)");
        assert_int_equal(r, 0);
        assert_non_null(p);
        return p;
}

static void test_minimal_defaults(void **state) {
        (void) state;
        _cleanup_profile_ struct profile *p = load_ok(FIXTURES "minimal.yaml", NULL);
        assert_string_equal(p->path, FIXTURES "minimal.yaml");
        assert_string_equal(p->name, "minimal");
        assert_string_equal(p->distro, "debian");
        assert_string_equal(p->suite, "bookworm");
        assert_string_equal(p->mirror_main, "https://mirror.example/debian");
        assert_null(p->mirror_updates);
        assert_null(p->mirror_security);
        /* the keyring does not exist and that is not the parser's business */
        assert_string_equal(p->keyring, "/nonexistent/keyring.gpg");
        assert_string_equal(p->keyring_package, "debian-archive-keyring");
        ASSERT_STRV(p->components, "main");
        assert_int_equal(strv_length(p->packages), 0);
        assert_string_equal(p->kernel_package, "linux-image-amd64");
        assert_string_equal(p->kernel_cmdline, "");
        assert_int_equal(strv_length(p->initramfs_modules), 0);
        assert_non_null(p->initramfs_modules);
        assert_int_equal(p->disk_size, 0);
        assert_int_equal(p->disk_headroom, GIB);
        assert_int_equal(p->formats, PROFILE_FORMAT_RAW | PROFILE_FORMAT_QCOW2);
        ASSERT_STRV(p->overlays, "base");
        assert_null(p->kubernetes.version);
        assert_null(p->kubernetes.release_url);
        assert_null(p->kubernetes.source);
        assert_null(p->kubernetes.crictl_version);
        assert_null(p->kubernetes.cni_url);
        assert_non_null(p->images_extra);
        assert_int_equal(strv_length(p->images_extra), 0);
        assert_null(p->images_source);
        assert_false(p->has_addons);
        assert_null(p->addons.catalog);
        assert_null(p->addons.ship);
        assert_null(p->addons.defaults);
        assert_int_equal(p->n_registry_mirrors, 0);
}

static void test_full(void **state) {
        (void) state;
        _cleanup_profile_ struct profile *p = load_ok(FIXTURES "full.yaml", NULL);
        assert_string_equal(p->name, "full.test-1");
        assert_string_equal(p->distro, "ubuntu");
        assert_string_equal(p->suite, "noble");
        assert_string_equal(p->mirror_main, "http://archive.ubuntu.com/ubuntu");
        assert_string_equal(p->mirror_updates, "http://archive.ubuntu.com/ubuntu/");
        assert_string_equal(p->mirror_security, "https://security.ubuntu.com/ubuntu");
        assert_string_equal(p->keyring, "/usr/share/keyrings/ubuntu-archive-keyring.gpg");
        assert_string_equal(p->keyring_package, "ubuntu-keyring");
        ASSERT_STRV(p->components, "main", "universe");
        ASSERT_STRV(p->packages, "openssh-server", "libstdc++6", "g++");
        /* stored as written: the builder substitutes ${arch} */
        assert_string_equal(p->kernel_package, "linux-image-cloud-${arch}");
        assert_string_equal(p->kernel_cmdline, "rw net.ifnames=0");
        ASSERT_STRV(p->initramfs_modules, "virtio_blk", "usb-storage");
        assert_int_equal(p->disk_size, 4 * GIB);
        assert_int_equal(p->disk_headroom, 512 * MIB);
        assert_int_equal(p->formats, PROFILE_FORMAT_QCOW2);
        ASSERT_STRV(p->overlays, "base", "extra.d", "my_overlay-2");
        assert_string_equal(p->kubernetes.version, "v1.31.1");
        assert_string_equal(p->kubernetes.release_url, "https://dl.k8s.io/release");
        assert_string_equal(p->kubernetes.source, "dir:/srv/k8s");
        assert_string_equal(p->kubernetes.crictl_version, "v1.31.1");
        assert_string_equal(p->kubernetes.crictl_url,
                            "https://github.com/kubernetes-sigs/cri-tools/releases/download");
        assert_string_equal(p->kubernetes.cni_version, "v1.5.1");
        assert_string_equal(p->kubernetes.cni_url,
                            "https://github.com/containernetworking/plugins/releases/download");
        assert_string_equal(p->kubernetes.etcd_image_tag, "3.5.15-0");
        ASSERT_STRV(p->kubernetes.init_skip_phases, "addon/coredns", "addon/kube-proxy");
        ASSERT_STRV(p->images_extra, "docker.io/library/busybox:1.36",
                    "registry.k8s.io/pause@sha256:"
                    "7031c1b283388d2c2e09b57badb803c05ebed362dc88d84b480cc47f72a21097");
        assert_string_equal(p->images_source, "dir:/srv/images");
        assert_true(p->has_addons);
        assert_string_equal(p->addons.catalog, "/srv/addons");
        ASSERT_STRV(p->addons.ship, "flannel", "dashboard", "rook-ceph");
        ASSERT_STRV(p->addons.defaults, "flannel", "dashboard");
        assert_int_equal(p->n_registry_mirrors, 2);
        assert_string_equal(p->registry_mirrors[0].registry, "docker.io");
        assert_string_equal(p->registry_mirrors[0].endpoint, "https://mirror.local:5000");
        assert_string_equal(p->registry_mirrors[0].ca_file, "/etc/ssl/mirror.pem");
        assert_false(p->registry_mirrors[0].insecure);
        assert_string_equal(p->registry_mirrors[1].registry, "localhost:5000");
        assert_string_equal(p->registry_mirrors[1].endpoint, "http://127.0.0.1:5000");
        assert_null(p->registry_mirrors[1].ca_file);
        assert_true(p->registry_mirrors[1].insecure);
}

static void test_nulls(void **state) {
        (void) state;
        _cleanup_profile_ struct profile *p = load_ok(FIXTURES "nulls.yaml", NULL);
        assert_string_equal(p->suite, "trixie");
        assert_null(p->mirror_updates);
        assert_null(p->mirror_security);
        ASSERT_STRV(p->components, "main");
        assert_int_equal(strv_length(p->packages), 0);
        assert_string_equal(p->kernel_cmdline, "");
        assert_int_equal(p->disk_size, 0);
        assert_int_equal(p->disk_headroom, GIB);
        assert_int_equal(p->formats, PROFILE_FORMAT_RAW | PROFILE_FORMAT_QCOW2);
        /* an explicitly empty list is not the default */
        assert_non_null(p->overlays);
        assert_int_equal(strv_length(p->overlays), 0);
        assert_null(p->kubernetes.version);
        assert_int_equal(p->n_registry_mirrors, 0);
}

static void test_invalid_fixtures(void **state) {
        (void) state;
        static const struct {
                const char *file;
                int r;
                const char *error; /* after "tests/data/profiles/FILE:" */
        } cases[] = {
                /* unknown keys, at the key */
                {"unknown-key.yaml", -EINVAL, "6:3: mirrors.secruity: unknown key"},
                {"unknown-top-key.yaml", -EINVAL, "7:1: packges: unknown key"},
                /* wrong types */
                {"wrong-type.yaml", -EINVAL,
                 "2:3: name: expected a name of lowercase letters, digits, '.' and '-' "
                 "(starting with a letter or digit, at most 64 characters), not a list"},
                {"wrong-type-list.yaml", -EINVAL,
                 "7:11: packages: expected a list, not a scalar (each item: a Debian package "
                 "name (lowercase letters, digits, '+', '-', '.'; at least 2 characters, "
                 "starting with a letter or digit))"},
                {"wrong-type-map.yaml", -EINVAL, "4:10: mirrors: expected a mapping, not a scalar"},
                {"not-mapping.yaml", -EINVAL, "2:1: expected a mapping of profile keys, not a list"},
                {"tagged.yaml", -EINVAL, "1:7: name: YAML tags are not supported"},
                /* missing keys: at the mapping that should hold them */
                {"missing-required.yaml", -EINVAL,
                 "5:3: mirrors.main: required key is missing "
                 "(expected an http:// or https:// URL)"},
                {"missing-section.yaml", -EINVAL,
                 "2:1: kernel: required key is missing "
                 "(expected a mapping with package, cmdline, initramfs-modules)"},
                {"missing-null-section.yaml", -EINVAL,
                 "6:1: kernel.package: required key is missing (expected a Debian package "
                 "name, in which ${arch} stands for the architecture)"},
                {"missing-endpoint.yaml", -EINVAL,
                 "9:5: registry-mirrors.quay.io.endpoint: required key is missing "
                 "(expected an http:// or https:// URL)"},
                {"empty.yaml", -EINVAL,
                 "1:1: name: required key is missing (expected a name of lowercase letters, "
                 "digits, '.' and '-' (starting with a letter or digit, at most 64 "
                 "characters))"},
                {"null-required.yaml", -EINVAL, "2:1: distro: expected ubuntu or debian, not null"},
                /* bad values */
                {"bad-url.yaml", -EINVAL,
                 "5:9: mirrors.main: expected an http:// or https:// URL, "
                 "not 'ftp://deb.debian.org/debian'"},
                {"bad-name.yaml", -EINVAL,
                 "1:7: name: expected a name of lowercase letters, digits, '.' and '-' "
                 "(starting with a letter or digit, at most 64 characters), not 'Bad_Name'"},
                {"bad-distro.yaml", -EINVAL, "2:9: distro: expected ubuntu or debian, not 'fedora'"},
                {"bad-package.yaml", -EINVAL,
                 "9:5: packages[1]: expected a Debian package name (lowercase letters, "
                 "digits, '+', '-', '.'; at least 2 characters, starting with a letter or "
                 "digit), not 'Vim_Tiny'"},
                {"bad-kernel-package.yaml", -EINVAL,
                 "6:19: kernel.package: expected a Debian package name, in which ${arch} "
                 "stands for the architecture, not 'linux-image-${ARCH}'"},
                {"relative-keyring.yaml", -EINVAL,
                 "6:9: keyring.path: expected an absolute path, not 'keyrings/debian.gpg'"},
                {"bad-size.yaml", -EINVAL,
                 "8:9: disk.size: expected \"auto\" or a size such as 4G, 512M or 2GiB "
                 "(a whole number of MiB), not '4 GB'"},
                {"bad-format.yaml", -EINVAL, "7:16: formats[1]: expected raw or qcow2, not 'vmdk'"},
                {"empty-formats.yaml", -EINVAL, "7:10: formats: expected at least one item (raw or qcow2)"},
                {"duplicate-format.yaml", -EINVAL,
                 "10:5: formats[2]: 'qcow2' is listed twice (first at 8:5)"},
                {"bad-overlay.yaml", -EINVAL,
                 "7:18: overlays[1]: expected an overlay directory name (lowercase letters, "
                 "digits, '.', '_', '-'; no '/'), not '../../etc'"},
                {"bad-k8s-version.yaml", -EINVAL,
                 "8:12: kubernetes.version: expected a version v<major>.<minor>.<patch>, "
                 "not '1.31.1'"},
                {"bad-images-source.yaml", -EINVAL,
                 "8:11: images.source: expected dir:/absolute/path, not '/srv/images'"},
                {"bad-image-ref.yaml", -EINVAL,
                 "8:45: images.extra[1]: expected an image reference "
                 "(registry/repository[:tag][@sha256:digest], lowercase repository), "
                 "not 'two words'"},
                {"bad-addon.yaml", -EINVAL,
                 "7:26: addons.ship[1]: expected an add-on name (lowercase letters, digits and "
                 "'-'), not 'Dashboard'"},
                {"insecure-mirror.yaml", -EINVAL,
                 "9:15: registry-mirrors.docker.io.endpoint: a plain http:// endpoint needs "
                 "insecure: true"},
                {"bad-bool.yaml", -EINVAL,
                 "10:15: registry-mirrors.docker.io.insecure: expected true or false, "
                 "not 'yes'"},
                {"bad-registry-host.yaml", -EINVAL,
                 "8:3: registry-mirrors.https://docker.io: expected a registry host name, "
                 "optionally with :port (e.g. docker.io, localhost:5000)"},
                /* YAML-level errors, with the same FILE:LINE:COLUMN prefix */
                {"syntax-error.yaml", -EBADMSG,
                 "5:2: did not find expected key (while parsing a block mapping at 1:1)"},
                {"duplicate-key.yaml", -EBADMSG, "4:1: duplicate key 'distro' (first at 2:1)"},
                {"alias.yaml", -EBADMSG, "3:9: anchors and aliases are not supported"},
                {"multi-doc.yaml", -EBADMSG, "3:1: expected a single document"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *path = NULL, *expected = NULL;
                assert_true(asprintf(&path, FIXTURES "%s", cases[i].file) > 0);
                assert_true(asprintf(&expected, "%s:%s", path, cases[i].error) > 0);
                expect_load_error(path, NULL, cases[i].r, expected);
        }
}

static void test_values(void **state) {
        (void) state;
        struct profile *p;

        /* sizes */
        p = text_ok("disk: {size: 4G}\n", NULL);
        assert_int_equal(p->disk_size, 4 * GIB);
        assert_int_equal(p->disk_headroom, 0); /* fixed size: no headroom by default */
        profile_free(p);
        p = text_ok("disk: {size: 512M, headroom: 0}\n", NULL);
        assert_int_equal(p->disk_size, 512 * MIB);
        assert_int_equal(p->disk_headroom, 0);
        profile_free(p);
        p = text_ok("disk: {size: 2GiB, headroom: 1536k}\n", NULL);
        assert_int_equal(p->disk_size, 2 * GIB);
        assert_int_equal(p->disk_headroom, 1536 * 1024);
        profile_free(p);
        p = text_ok("disk: {size: 1t}\n", NULL);
        assert_int_equal(p->disk_size, UINT64_C(1) << 40);
        profile_free(p);
        p = text_ok("disk: {size: auto, headroom: 3G}\n", NULL);
        assert_int_equal(p->disk_size, 0);
        assert_int_equal(p->disk_headroom, 3 * GIB);
        profile_free(p);
        p = text_ok("disk: {size: 1048576}\n", NULL);
        assert_int_equal(p->disk_size, MIB);
        profile_free(p);
        static const char *const bad_sizes[] = {"0",
                                                "1000",
                                                "4.5G",
                                                "-1G",
                                                "4GB",
                                                "G",
                                                "1P",
                                                "0x10",
                                                "2048T",
                                                "\"\"",
                                                "99999999999999999999999"};
        for (size_t i = 0; i < ELEMENTSOF(bad_sizes); i++) {
                _cleanup_free_ char *extra = NULL, *expected = NULL;
                assert_true(asprintf(&extra, "disk:\n  size: %s\n", bad_sizes[i]) > 0);
                const char *shown = streq(bad_sizes[i], "\"\"") ? "" : bad_sizes[i];
                assert_true(asprintf(&expected,
                                     "mem.yaml:8:9: disk.size: expected \"auto\" or a size such "
                                     "as 4G, 512M or 2GiB (a whole number of MiB), not '%s'",
                                     shown) > 0);
                expect_text_error(extra, expected);
        }
        expect_text_error("disk: {headroom: auto}\n",
                          "mem.yaml:7:18: disk.headroom: expected a size such as 1G, 512M, "
                          "2GiB or 0, not 'auto'");

        /* URLs */
        static const char *const bad_urls[] = {"deb.debian.org/debian", "http://",
                                               "https:///debian",       "http://a b",
                                               "file:///srv/mirror",    "HTTP://x"};
        for (size_t i = 0; i < ELEMENTSOF(bad_urls); i++) {
                _cleanup_free_ char *text = NULL, *expected = NULL, *error = NULL;
                assert_true(asprintf(&text,
                                     "name: x\ndistro: debian\nsuite: s\nmirrors:\n"
                                     "  main: \"%s\"\n",
                                     bad_urls[i]) > 0);
                assert_true(asprintf(&expected,
                                     "mem.yaml:5:9: mirrors.main: expected an http:// or "
                                     "https:// URL, not '%s'",
                                     bad_urls[i]) > 0);
                assert_int_equal(parse_text(text, NULL, NULL, &error), -EINVAL);
                assert_string_equal(error, expected);
        }

        /* ${arch} is the only substitution; the result must be a package name */
        p = text_ok("", NULL);
        profile_free(p);
        static const char *const bad_kernels[] = {"linux-image-$arch", "linux-image-${arch",
                                                  "linux-image-${os}", "l-${arch}-${arch}", "linux_${arch}"};
        for (size_t i = 0; i < ELEMENTSOF(bad_kernels); i++) {
                _cleanup_free_ char *text = NULL, *error = NULL;
                assert_true(asprintf(&text,
                                     "name: x\ndistro: debian\nsuite: s\n"
                                     "kernel: {package: \"%s\"}\n",
                                     bad_kernels[i]) > 0);
                assert_int_equal(parse_text(text, NULL, NULL, &error), -EINVAL);
                if (!strstr(error, "mem.yaml:4:19: kernel.package: expected a Debian package"))
                        fail_msg("%s: %s", bad_kernels[i], error);
        }

        /* kubernetes versions */
        p = text_ok("kubernetes: {version: v1.20.2}\n", NULL);
        assert_string_equal(p->kubernetes.version, "v1.20.2");
        profile_free(p);
        static const char *const bad_versions[] = {"v1.31", "v1.31.1-rc.0", "V1.31.1",
                                                   "v1..1", "v1.31.1.2",    "latest"};
        for (size_t i = 0; i < ELEMENTSOF(bad_versions); i++) {
                _cleanup_free_ char *extra = NULL, *expected = NULL;
                assert_true(asprintf(&extra, "kubernetes:\n  cni: {version: %s}\n", bad_versions[i]) > 0);
                assert_true(asprintf(&expected,
                                     "mem.yaml:8:18: kubernetes.cni.version: expected a version "
                                     "v<major>.<minor>.<patch>, not '%s'",
                                     bad_versions[i]) > 0);
                expect_text_error(extra, expected);
        }

        /* components, modules, lists with wrong items */
        expect_text_error("components: []\n",
                          "mem.yaml:7:13: components: expected at least one item (an archive "
                          "component name (lowercase letters, digits, '.', '_', '-'))");
        expect_text_error("kernel.initramfs-modules: [x]\n",
                          "mem.yaml:7:1: kernel.initramfs-modules: unknown key");
        expect_text_error("packages:\n  - vim\n  -\n",
                          "mem.yaml:9:4: packages[1]: expected a Debian package name (lowercase "
                          "letters, digits, '+', '-', '.'; at least 2 characters, starting with "
                          "a letter or digit), not null");
        expect_text_error("packages: [[vim]]\n",
                          "mem.yaml:7:12: packages[0]: expected a Debian package name (lowercase "
                          "letters, digits, '+', '-', '.'; at least 2 characters, starting with "
                          "a letter or digit), not a list");
        expect_text_error("addons: {default: [flannel, flannel]}\n",
                          "mem.yaml:7:29: addons.default[1]: 'flannel' is listed twice (first at 7:20)");
        expect_text_error("addons: [flannel]\n", "mem.yaml:7:9: addons: expected a mapping, not a list");
        expect_text_error("overlays: [base/sub]\n",
                          "mem.yaml:7:12: overlays[0]: expected an overlay directory name "
                          "(lowercase letters, digits, '.', '_', '-'; no '/'), not 'base/sub'");
        expect_text_error("images: {source: dir:relative}\n",
                          "mem.yaml:7:18: images.source: expected dir:/absolute/path, "
                          "not 'dir:relative'");
        expect_text_error("registry-mirrors:\n  docker.io: {endpoint: https://m, ca-file: x.pem}\n",
                          "mem.yaml:8:45: registry-mirrors.docker.io.ca-file: expected an "
                          "absolute path, not 'x.pem'");
        expect_text_error("registry-mirrors:\n  docker.io: [x]\n",
                          "mem.yaml:8:14: registry-mirrors.docker.io: expected a mapping, "
                          "not a list");
        expect_text_error("registry-mirrors:\n  \"localhost:99999\": {endpoint: https://m}\n",
                          "mem.yaml:8:3: registry-mirrors.localhost:99999: expected a registry "
                          "host name, optionally with :port (e.g. docker.io, localhost:5000)");
        expect_text_error("kernel2: {cmdline: \"a\\nb\"}\n", "mem.yaml:7:1: kernel2: unknown key");
        /* a control character in a value does not reach the message */
        _cleanup_free_ char *error = NULL;
        assert_int_equal(parse_text("name: \"a\\e[31mb\"\n", NULL, NULL, &error), -EINVAL);
        assert_non_null(strstr(error, "not 'a?[31mb'"));

        /* "yes" is not a boolean here; true/false are */
        p = text_ok("registry-mirrors:\n  r.example:5000: {endpoint: http://r, insecure: True}\n", NULL);
        assert_int_equal(p->n_registry_mirrors, 1);
        assert_string_equal(p->registry_mirrors[0].registry, "r.example:5000");
        assert_true(p->registry_mirrors[0].insecure);
        profile_free(p);
        expect_text_error("registry-mirrors:\n  r: {endpoint: https://r, insecure: \"true\"}\n",
                          "mem.yaml:8:38: registry-mirrors.r.insecure: expected true or false, "
                          "not 'true'");
}

static void test_kernel_cmdline(void **state) {
        (void) state;
        _cleanup_free_ char *text = NULL, *error = NULL;
        assert_true(asprintf(&text, "name: x\ndistro: debian\nsuite: s\nkernel:\n"
                                    "  cmdline: \"rw\\nquiet\"\n") > 0);
        assert_int_equal(parse_text(text, NULL, NULL, &error), -EINVAL);
        assert_string_equal(error, "mem.yaml:5:12: kernel.cmdline: expected kernel parameters on "
                                   "one line (at most 1024 characters), not 'rw?quiet'");

        char long_line[1100];
        memset(long_line, 'a', sizeof(long_line) - 1);
        long_line[sizeof(long_line) - 1] = '\0';
        _cleanup_free_ char *extra = NULL;
        assert_true(asprintf(&extra, "kernel.cmdline=%s", long_line) > 0);
        char *overrides[] = {extra, NULL};
        _cleanup_free_ char *error2 = NULL;
        assert_int_equal(parse_text(MINIMAL, overrides, NULL, &error2), -EINVAL);
        assert_non_null(strstr(error2, ": expected kernel parameters on one line"));
        assert_true(strncmp(error2, "--set kernel.cmdline=aaaa", 25) == 0);
}

static void test_overrides(void **state) {
        (void) state;
        char *overrides[] = {
                "mirrors.main=http://127.0.0.1:3142/debian",
                "mirrors.security=https://security.example/debian-security",
                "name=renamed",
                "kernel.cmdline=rw quiet",
                "disk.size=8G",
                "disk.headroom=2G",
                "kubernetes.version=v1.31.1",
                "kubernetes.crictl.version=v1.31.0",
                "images.source=dir:/srv/images",
                "registry-mirrors.docker.io.endpoint=http://127.0.0.1:5000",
                "registry-mirrors.docker.io.insecure=true",
                "registry-mirrors.localhost:5001.endpoint=https://127.0.0.1:5001",
                "name=renamed-again", /* the last one wins */
                /* lists, as YAML flow lists */
                "packages=[vim, \"curl\"]",
                "formats=[raw]",
                "kubernetes.kubeadm.init-skip-phases=[addon/coredns]",
                "kubernetes.kubeadm.etcd-image-tag=3.4.23",
                "overlays=[]",
                NULL,
        };
        _cleanup_profile_ struct profile *p = load_ok(FIXTURES "minimal.yaml", overrides);
        assert_string_equal(p->name, "renamed-again");
        assert_string_equal(p->mirror_main, "http://127.0.0.1:3142/debian");
        assert_null(p->mirror_updates);
        assert_string_equal(p->mirror_security, "https://security.example/debian-security");
        assert_string_equal(p->kernel_package, "linux-image-amd64");
        assert_string_equal(p->kernel_cmdline, "rw quiet");
        assert_int_equal(p->disk_size, 8 * GIB);
        assert_int_equal(p->disk_headroom, 2 * GIB);
        assert_string_equal(p->kubernetes.version, "v1.31.1");
        assert_string_equal(p->kubernetes.crictl_version, "v1.31.0");
        assert_null(p->kubernetes.cni_version);
        assert_string_equal(p->images_source, "dir:/srv/images");
        assert_int_equal(p->n_registry_mirrors, 2);
        assert_string_equal(p->registry_mirrors[0].registry, "docker.io");
        assert_string_equal(p->registry_mirrors[0].endpoint, "http://127.0.0.1:5000");
        assert_true(p->registry_mirrors[0].insecure);
        assert_string_equal(p->registry_mirrors[1].registry, "localhost:5001");
        ASSERT_STRV(p->packages, "vim", "curl");
        assert_int_equal(p->formats, PROFILE_FORMAT_RAW);
        ASSERT_STRV(p->kubernetes.init_skip_phases, "addon/coredns");
        assert_string_equal(p->kubernetes.etcd_image_tag, "3.4.23");
        assert_non_null(p->overlays);
        assert_null(p->overlays[0]); /* [] is an empty list, not the default */

        /* an empty value is YAML's null: it turns an optional key off */
        char *off[] = {"mirrors.updates=", "mirrors.security=null", "kubernetes.version=~",
                       "kubernetes.kubeadm.init-skip-phases=", NULL};
        _cleanup_profile_ struct profile *q = load_ok(FIXTURES "full.yaml", off);
        assert_null(q->mirror_updates);
        assert_null(q->mirror_security);
        assert_null(q->kubernetes.version);
        assert_null(q->kubernetes.init_skip_phases); /* a list turned off */
        assert_string_equal(q->kubernetes.cni_version, "v1.5.1");
}

static void test_override_errors(void **state) {
        (void) state;
        static const struct {
                const char *file;
                const char *set;
                const char *error;
        } cases[] = {
                {"minimal.yaml", "mirrors.main=ftp://x",
                 "--set mirrors.main=ftp://x: expected an http:// or https:// URL, "
                 "not 'ftp://x'"},
                {"minimal.yaml",
                 "mirrors.main=", "--set mirrors.main=: expected an http:// or https:// URL, not null"},
                {"minimal.yaml", "mirrors.mian=http://x",
                 "--set mirrors.mian=http://x: unknown key 'mirrors.mian'"},
                {"minimal.yaml", "nosuchkey=1", "--set nosuchkey=1: unknown key 'nosuchkey'"},
                {"minimal.yaml", "name.first=x", "--set name.first=x: unknown key 'name.first'"},
                {"minimal.yaml", "mirrors.main.x=y", "--set mirrors.main.x=y: unknown key 'mirrors.main.x'"},
                {"minimal.yaml", "registry-mirrors.docker.io=x",
                 "--set registry-mirrors.docker.io=x: unknown key 'registry-mirrors.docker.io'"},
                {"minimal.yaml", "registry-mirrors.docker.io.insecure=true",
                 "--set registry-mirrors.docker.io.insecure=true: "
                 "registry-mirrors.docker.io.endpoint: required key is missing "
                 "(expected an http:// or https:// URL)"},
                {"minimal.yaml", "registry-mirrors.bad host.endpoint=https://x",
                 "--set registry-mirrors.bad host.endpoint=https://x: registry-mirrors.bad "
                 "host: expected a registry host name, optionally with :port (e.g. docker.io, "
                 "localhost:5000)"},
                {"minimal.yaml", "registry-mirrors.docker.io.insecure=1",
                 "--set registry-mirrors.docker.io.insecure=1: expected true or false, "
                 "not '1'"},
                {"minimal.yaml", "mirrors", "--set mirrors: expected key.path=value"},
                {"minimal.yaml", "=x", "--set =x: expected key.path=value"},
                {"minimal.yaml", "mirrors=x",
                 "--set mirrors=x: mirrors is a mapping; --set only sets single values and lists"},
                {"minimal.yaml", "packages=vim",
                 "--set packages=vim: packages is a list; --set takes it as a YAML flow list: "
                 "packages=[a, b]"},
                {"minimal.yaml", "packages=[vim",
                 "--set packages=[vim: expected a YAML flow list such as [a, b] (did not find expected ',' "
                 "or ']' (while parsing a flow sequence at 1:1))"},
                {"minimal.yaml", "packages=[vim]x",
                 "--set packages=[vim]x: expected a YAML flow list such as [a, b] (did not find expected "
                 "<document start>)"},
                {"minimal.yaml", "packages=[vim, Vim_Tiny]",
                 "--set packages=[vim, Vim_Tiny]: packages[1]: expected a Debian package name "
                 "(lowercase letters, digits, '+', '-', '.'; at least 2 characters, starting with a "
                 "letter or digit), not 'Vim_Tiny'"},
                {"minimal.yaml", "packages=[vim, [curl]]",
                 "--set packages=[vim, [curl]]: packages[1]: expected a Debian package name (lowercase "
                 "letters, digits, '+', '-', '.'; at least 2 characters, starting with a letter or "
                 "digit), not a list"},
                {"minimal.yaml", "overlays=[base, base]",
                 "--set overlays=[base, base]: overlays[1]: 'base' is listed twice (first at 1:2)"},
                {"minimal.yaml", "formats=[]",
                 "--set formats=[]: expected at least one item (raw or qcow2)"},
                {"minimal.yaml", "kubernetes.kubeadm.init-skip-phases=[addon/CoreDNS]",
                 "--set kubernetes.kubeadm.init-skip-phases=[addon/CoreDNS]: "
                 "kubernetes.kubeadm.init-skip-phases[0]: expected a kubeadm init phase such as "
                 "addon/coredns (lowercase words, '-', sub-phases after '/'), not 'addon/CoreDNS'"},
                {"minimal.yaml", "kubernetes.kubeadm.etcd-image-tag=-3.4",
                 "--set kubernetes.kubeadm.etcd-image-tag=-3.4: expected an image tag (letters, digits, "
                 "'_', '.', '-'; at most 128, not starting with '.' or '-'), not '-3.4'"},
                {"minimal.yaml", "disk.size=lots",
                 "--set disk.size=lots: expected \"auto\" or a size such as 4G, 512M or 2GiB "
                 "(a whole number of MiB), not 'lots'"},
                /* the mapping --set had to create lacks a required key */
                {"missing-section.yaml", "kernel.cmdline=rw",
                 "--set kernel.cmdline=rw: kernel.package: required key is missing (expected "
                 "a Debian package name, in which ${arch} stands for the architecture)"},
                /* the file's own null mapping stays the file's */
                {"missing-null-section.yaml", "kernel.cmdline=rw",
                 "tests/data/profiles/missing-null-section.yaml:6:1: kernel.package: "
                 "required key is missing (expected a Debian package name, in which ${arch} "
                 "stands for the architecture)"},
                /* the file has a scalar where --set needs a mapping */
                {"wrong-type-map.yaml", "mirrors.main=http://x",
                 "tests/data/profiles/wrong-type-map.yaml:4:10: mirrors: expected a mapping, "
                 "not a scalar (while applying --set mirrors.main=http://x)"},
                /* file errors still come first */
                {"syntax-error.yaml", "name=x",
                 "tests/data/profiles/syntax-error.yaml:5:2: did not find expected key "
                 "(while parsing a block mapping at 1:1)"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *path = NULL;
                assert_true(asprintf(&path, FIXTURES "%s", cases[i].file) > 0);
                char *overrides[] = {(char *) cases[i].set, NULL};
                int r = streq(cases[i].file, "syntax-error.yaml") ? -EBADMSG : -EINVAL;
                expect_load_error(path, overrides, r, cases[i].error);
        }

        /* a good --set does not hide a bad value elsewhere in the file */
        char *overrides[] = {"name=fine", NULL};
        expect_load_error(FIXTURES "bad-url.yaml", overrides, -EINVAL,
                          FIXTURES "bad-url.yaml:5:9: mirrors.main: expected an http:// or "
                                   "https:// URL, not 'ftp://deb.debian.org/debian'");
}

static void test_override_fixes_file(void **state) {
        (void) state;
        /* --set replaces a wrong value from the file */
        char *overrides[] = {"mirrors.main=https://deb.debian.org/debian", NULL};
        _cleanup_profile_ struct profile *p = NULL;
        _cleanup_free_ char *text = NULL;
        assert_true(asprintf(&text, "name: x\ndistro: debian\nsuite: s\n"
                                    "mirrors: {main: [not, a, url]}\n"
                                    "keyring: {path: /k, package: kk}\n"
                                    "kernel: {package: linux-image-amd64}\n") > 0);
        _cleanup_free_ char *error = NULL;
        assert_int_equal(parse_text(text, overrides, &p, &error), 0);
        assert_string_equal(p->mirror_main, "https://deb.debian.org/debian");
}

static void test_load_errors(void **state) {
        (void) state;
        expect_load_error(FIXTURES "does-not-exist.yaml", NULL, -ENOENT,
                          FIXTURES "does-not-exist.yaml: No such file or directory");
        expect_load_error("tests/data/profiles", NULL, -EISDIR, "tests/data/profiles: Is a directory");

        char dir[] = "/tmp/test-profile-XXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_free_ char *big = NULL, *expected = NULL;
        assert_true(asprintf(&big, "%s/big.yaml", dir) > 0);
        size_t size = 1024 * 1024 + 1;
        _cleanup_free_ char *data = malloc(size);
        assert_non_null(data);
        memset(data, '#', size);
        assert_int_equal(write_file_atomic(big, data, size, 0644), 0);
        assert_true(asprintf(&expected, "%s: larger than 1048576 bytes", big) > 0);
        expect_load_error(big, NULL, -EFBIG, expected);
        /* exactly the limit is fine as far as size goes (and it is an empty profile) */
        assert_int_equal(write_file_atomic(big, data, size - 1, 0644), 0);
        _cleanup_free_ char *expected2 = NULL;
        assert_true(asprintf(&expected2, "%s:1:1: name: required key is missing", big) > 0);
        _cleanup_free_ char *error = NULL;
        assert_int_equal(profile_load(big, NULL, NULL, &error), -EINVAL);
        assert_true(strncmp(error, expected2, strlen(expected2)) == 0);
        assert_int_equal(unlink(big), 0);
        assert_int_equal(rmdir(dir), 0);
}

static void test_limits(void **state) {
        (void) state;
        /* deep nesting in a profile is refused early (limit 16) */
        char text[200] = "name: [";
        size_t n = strlen(text);
        for (int i = 0; i < 20; i++)
                text[n++] = '[';
        text[n] = '\0';
        _cleanup_free_ char *error = NULL;
        assert_int_equal(parse_text(text, NULL, NULL, &error), -E2BIG);
        assert_string_equal(error, "mem.yaml:1:22: nesting is deeper than 16 levels");

        /* lists are bounded */
        size_t items = 4097;
        size_t cap = strlen(MINIMAL) + 32 + items * 4;
        _cleanup_free_ char *big = malloc(cap);
        assert_non_null(big);
        size_t used = (size_t) snprintf(big, cap, "%spackages: [", MINIMAL);
        for (size_t i = 0; i < items; i++)
                used += (size_t) snprintf(big + used, cap - used, "%s", i ? ",aa" : "aa");
        snprintf(big + used, cap - used, "]\n");
        _cleanup_free_ char *error2 = NULL;
        assert_int_equal(parse_text(big, NULL, NULL, &error2), -EINVAL);
        assert_string_equal(error2, "mem.yaml:7:11: packages: more than 4096 items");
}

static void test_shipped_profiles(void **state) {
        (void) state;
        _cleanup_profile_ struct profile *d = load_ok("images/debian-bookworm.yaml", NULL);
        assert_string_equal(d->name, "debian-bookworm");
        assert_string_equal(d->distro, "debian");
        assert_string_equal(d->suite, "bookworm");
        assert_string_equal(d->mirror_main, "http://deb.debian.org/debian");
        assert_string_equal(d->mirror_updates, "http://deb.debian.org/debian");
        assert_string_equal(d->mirror_security, "http://deb.debian.org/debian-security");
        assert_string_equal(d->keyring, "/usr/share/keyrings/debian-archive-keyring.gpg");
        assert_string_equal(d->keyring_package, "debian-archive-keyring");
        ASSERT_STRV(d->components, "main");
        assert_string_equal(d->kernel_package, "linux-image-cloud-${arch}");

        _cleanup_profile_ struct profile *u = load_ok("images/ubuntu-noble.yaml", NULL);
        assert_string_equal(u->name, "ubuntu-noble");
        assert_string_equal(u->distro, "ubuntu");
        assert_string_equal(u->suite, "noble");
        assert_string_equal(u->mirror_main, "http://archive.ubuntu.com/ubuntu");
        assert_string_equal(u->mirror_updates, "http://archive.ubuntu.com/ubuntu");
        assert_string_equal(u->mirror_security, "http://security.ubuntu.com/ubuntu");
        assert_string_equal(u->keyring, "/usr/share/keyrings/ubuntu-archive-keyring.gpg");
        assert_string_equal(u->keyring_package, "ubuntu-keyring");
        ASSERT_STRV(u->components, "main", "universe");
        assert_string_equal(u->kernel_package, "linux-image-virtual");

        const struct profile *both[] = {d, u};
        for (size_t i = 0; i < ELEMENTSOF(both); i++) {
                const struct profile *p = both[i];
                /* console= is the builder's (it depends on the architecture) */
                assert_string_equal(p->kernel_cmdline, "rw");
                assert_null(strstr(p->kernel_cmdline, "console="));
                ASSERT_STRV(p->initramfs_modules, "virtio_pci", "virtio_mmio", "virtio_blk", "virtio_scsi",
                            "sd_mod", "nvme", "ahci", "xhci_pci", "usb_storage", "uas", "mmc_block", "ext4",
                            "crc32c_generic");
                assert_int_equal(p->disk_size, 0);
                assert_int_equal(p->disk_headroom, GIB);
                assert_int_equal(p->formats, PROFILE_FORMAT_RAW | PROFILE_FORMAT_QCOW2);
                ASSERT_STRV(p->overlays, "base");
                assert_int_equal(strv_length(p->packages), 0);
                assert_null(p->kubernetes.version);
                assert_int_equal(p->n_registry_mirrors, 0);
        }
}

/* The two shipped profiles differ only in data: same keys, same shapes. */
static void assert_same_shape(const struct ynode *a, const struct ynode *b, const char *where) {
        if (a->kind != b->kind)
                fail_msg("%s: different kinds", where);
        if (a->kind != YNODE_MAPPING)
                return;
        if (a->n_items != b->n_items)
                fail_msg("%s: %zu keys vs %zu", where, a->n_items, b->n_items);
        for (size_t i = 0; i < a->n_items; i++) {
                if (!streq(a->keys[i], b->keys[i]))
                        fail_msg("%s: key '%s' vs '%s'", where, a->keys[i], b->keys[i]);
                if (a->key_lines[i] != b->key_lines[i])
                        fail_msg("%s: key '%s' on line %zu vs %zu", where, a->keys[i], a->key_lines[i],
                                 b->key_lines[i]);
                assert_same_shape(a->items[i], b->items[i], a->keys[i]);
        }
}

static void test_shipped_same_shape(void **state) {
        (void) state;
        _cleanup_free_ char *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        assert_int_equal(read_file_full("images/debian-bookworm.yaml", 65536, &a, &na), 0);
        assert_int_equal(read_file_full("images/ubuntu-noble.yaml", 65536, &b, &nb), 0);
        _cleanup_ynode_ struct ynode *ta = NULL;
        _cleanup_ynode_ struct ynode *tb = NULL;
        assert_int_equal(yaml_parse_one(a, na, NULL, &ta, NULL), 0);
        assert_int_equal(yaml_parse_one(b, nb, NULL, &tb, NULL), 0);
        assert_same_shape(ta, tb, "(top)");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_minimal_defaults),
                cmocka_unit_test(test_full),
                cmocka_unit_test(test_nulls),
                cmocka_unit_test(test_invalid_fixtures),
                cmocka_unit_test(test_values),
                cmocka_unit_test(test_kernel_cmdline),
                cmocka_unit_test(test_overrides),
                cmocka_unit_test(test_override_errors),
                cmocka_unit_test(test_override_fixes_file),
                cmocka_unit_test(test_load_errors),
                cmocka_unit_test(test_limits),
                cmocka_unit_test(test_shipped_profiles),
                cmocka_unit_test(test_shipped_same_shape),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
