/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch.h"
#include "fsutil.h"
#include "macro.h"
#include "platform.h"
#include "yamltree.h"

#define FIXTURES "tests/data/platform/"

static struct ynode *load(const char *name) {
        _cleanup_free_ char *path = NULL, *data = NULL, *error = NULL;
        size_t size = 0;
        assert_true(asprintf(&path, FIXTURES "%s", name) > 0);
        assert_int_equal(read_file_full(path, 1 << 20, &data, &size), 0);
        struct ynode *n = NULL;
        int r = yaml_parse_one(data, size, NULL, &n, &error);
        if (r < 0)
                print_error("%s: %s\n", path, error);
        assert_int_equal(r, 0);
        return n;
}

static struct ynode *parse(const char *json) {
        struct ynode *n = NULL;
        _cleanup_free_ char *error = NULL;
        int r = yaml_parse_one(json, strlen(json), NULL, &n, &error);
        if (r < 0)
                print_error("%s\n", error);
        assert_int_equal(r, 0);
        return n;
}

static const struct platform_target amd64 = {"linux", "amd64", NULL};
static const struct platform_target arm64 = {"linux", "arm64", "v8"};

static void expect_choice(const struct ynode *index, const struct platform_target *t, const char *digest,
                          const char *media_type, uint64_t size, size_t pos, const char *platform) {
        struct platform_choice c;
        _cleanup_free_ char *error = NULL;
        int r = platform_select(index, t, &c, &error);
        if (r < 0)
                print_error("%s\n", error);
        assert_int_equal(r, 0);
        assert_null(error);
        assert_string_equal(c.digest, digest);
        assert_string_equal(c.media_type, media_type);
        assert_int_equal(c.size, size);
        assert_int_equal(c.index, pos);
        assert_string_equal(c.platform, platform);
}

static void expect_error(const struct ynode *index, const struct platform_target *t, int expected_r,
                         const char *expected) {
        struct platform_choice c;
        memset(&c, 0x5a, sizeof(c));
        _cleanup_free_ char *error = NULL;
        int r = platform_select(index, t, &c, &error);
        if (r != expected_r || !error || !streq(error, expected))
                print_error("got %d '%s'\nwant %d '%s'\n", r, error ? error : "(none)", expected_r,
                            expected);
        assert_int_equal(r, expected_r);
        assert_string_equal(error, expected);
        assert_int_equal(((unsigned char *) &c)[0], 0x5a); /* untouched */
        assert_int_equal(platform_select(index, t, &c, NULL), expected_r);
}

#define OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"

static void test_oci_index(void **state) {
        (void) state;
        _cleanup_ynode_ struct ynode *index = load("oci-index.json");
        expect_choice(index, &amd64,
                      "sha256:5861314d7fccb39c2192173240eab44fa35ca66426201ca2acd0630a6258dd51",
                      OCI_MANIFEST, 2295, 0, "linux/amd64");
        /* attestation manifests before it are skipped */
        expect_choice(index, &arm64,
                      "sha256:75e0ad9ce14bbbd50318331ccc4157797696c52570fe515e78f902c18e7d1e38",
                      OCI_MANIFEST, 2301, 6, "linux/arm64/v8");
        /* arm/v7 exactly, not arm/v5 listed first */
        const struct platform_target armv7 = {"linux", "arm", "v7"};
        expect_choice(index, &armv7,
                      "sha256:973025f9e7426c8a066bd9a6bc828d648ba920a31fb141959bc2ea06725a7e64",
                      OCI_MANIFEST, 2299, 4, "linux/arm/v7");
        /* arm without a variant means v7 */
        const struct platform_target arm = {"linux", "arm", NULL};
        expect_choice(index, &arm, "sha256:973025f9e7426c8a066bd9a6bc828d648ba920a31fb141959bc2ea06725a7e64",
                      OCI_MANIFEST, 2299, 4, "linux/arm/v7");
        /* arm64 with no variant in the target is v8; kernel names work too */
        const struct platform_target arm64_plain = {"linux", "aarch64", NULL};
        expect_choice(index, &arm64_plain,
                      "sha256:75e0ad9ce14bbbd50318331ccc4157797696c52570fe515e78f902c18e7d1e38",
                      OCI_MANIFEST, 2301, 6, "linux/arm64/v8");
        const struct platform_target x86_64 = {"Linux", "x86_64", NULL};
        expect_choice(index, &x86_64,
                      "sha256:5861314d7fccb39c2192173240eab44fa35ca66426201ca2acd0630a6258dd51",
                      OCI_MANIFEST, 2295, 0, "linux/amd64");

        /* no fallback from arm/v6 to anything: the index has v5 and v7 only */
        const struct platform_target armv6 = {"linux", "arm", "v6"};
        expect_error(index, &armv6, -ENOENT,
                     "No manifest for linux/arm/v6 in the index; it has: linux/amd64, linux/arm/v5, "
                     "linux/arm/v7, "
                     "linux/arm64/v8, linux/386, linux/ppc64le, linux/s390x");
        const struct platform_target riscv = {"linux", "riscv64", NULL};
        expect_error(index, &riscv, -ENOENT,
                     "No manifest for linux/riscv64 in the index; it has: linux/amd64, linux/arm/v5, "
                     "linux/arm/v7, "
                     "linux/arm64/v8, linux/386, linux/ppc64le, linux/s390x");
}

static void test_docker_manifest_list(void **state) {
        (void) state;
        _cleanup_ynode_ struct ynode *index = load("docker-manifest-list.json");
        /* windows/amd64 comes first and is not a match */
        expect_choice(index, &amd64,
                      "sha256:5a9d626008e0b64030e1c58229e1ef4485ffecccf7cab31c9f591967eb796f0e",
                      DOCKER_MANIFEST, 528, 1, "linux/amd64");
        expect_choice(index, &arm64,
                      "sha256:34442aa777e2b669104bdaeef32092a5c263fb462c4532c5220d42cdaefb44a8",
                      DOCKER_MANIFEST, 530, 3, "linux/arm64/v8");
        const struct platform_target win = {"windows", "amd64", NULL};
        struct platform_choice c;
        assert_int_equal(platform_select(index, &win, &c, NULL), 0);
        assert_int_equal(c.index, 0);
        assert_int_equal(c.size, 1161);
}

static void test_arm64_no_variant(void **state) {
        (void) state;
        _cleanup_ynode_ struct ynode *index = load("arm64-no-variant.json");
        expect_choice(index, &arm64,
                      "sha256:2a34e9cf0fdab3dbc9b1992d2480052da82d592c5d6a2ef57a92e9da5140b56e",
                      OCI_MANIFEST, 1614, 1, "linux/arm64");
}

static void test_no_match(void **state) {
        (void) state;
        _cleanup_ynode_ struct ynode *index = load("no-match.json");
        /* attestations are not listed; each platform once */
        expect_error(index, &arm64, -ENOENT,
                     "No manifest for linux/arm64/v8 in the index; it has: linux/amd64, linux/s390x");
}

static void test_from_arch(void **state) {
        (void) state;
        _cleanup_ynode_ struct ynode *index = load("oci-index.json");
        struct platform_target t = platform_target_from_arch(arch_lookup("arm64"));
        assert_string_equal(t.os, "linux");
        assert_string_equal(t.architecture, "arm64");
        assert_string_equal(t.variant, "v8");
        struct platform_choice c;
        assert_int_equal(platform_select(index, &t, &c, NULL), 0);
        assert_int_equal(c.index, 6);
        t = platform_target_from_arch(arch_lookup("x86_64"));
        assert_string_equal(t.architecture, "amd64");
        assert_null(t.variant);
        assert_int_equal(platform_select(index, &t, &c, NULL), 0);
        assert_int_equal(c.index, 0);
}

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"

static void test_variants(void **state) {
        (void) state;
        /* amd64/v3 only: not taken for plain amd64; amd64/v1 is amd64 */
        _cleanup_ynode_ struct ynode *v3 = parse(
                "{\"schemaVersion\": 2, \"manifests\": ["
                "{\"mediaType\": \"" OCI_MANIFEST "\", \"digest\": \"" D1 "\", \"size\": 1,"
                " \"platform\": {\"os\": \"linux\", \"architecture\": \"amd64\", \"variant\": \"v3\"}},"
                "{\"mediaType\": \"" OCI_MANIFEST "\", \"digest\": \"" D2 "\", \"size\": 2,"
                " \"platform\": {\"os\": \"linux\", \"architecture\": \"amd64\", \"variant\": \"v1\"}}]}");
        /* OCI index without mediaType is accepted */
        expect_choice(v3, &amd64, D2, OCI_MANIFEST, 2, 1, "linux/amd64/v1");

        /* an attestation is skipped by its annotation even if it claims a platform */
        _cleanup_ynode_ struct ynode *att =
                parse("{\"schemaVersion\": 2, \"mediaType\": \"application/vnd.oci.image.index.v1+json\", "
                      "\"manifests\": ["
                      "{\"mediaType\": \"" OCI_MANIFEST "\", \"digest\": \"" D1 "\", \"size\": 1,"
                      " \"annotations\": {\"vnd.docker.reference.type\": \"attestation-manifest\"},"
                      " \"platform\": {\"os\": \"linux\", \"architecture\": \"arm64\"}},"
                      "{\"mediaType\": \"" OCI_MANIFEST "\", \"digest\": \"" D2 "\", \"size\": 0,"
                      " \"platform\": {\"os\": \"linux\", \"architecture\": \"ARM64\", \"variant\": \"8\"}},"
                      "{\"mediaType\": \"" OCI_MANIFEST "\", \"digest\": \"" D1 "\", \"size\": 3}]}");
        expect_choice(att, &arm64, D2, OCI_MANIFEST, 0, 1, "linux/ARM64/8");
        /* a descriptor without platform is never chosen */
        expect_error(att, &amd64, -ENOENT,
                     "No manifest for linux/amd64 in the index; it has: linux/ARM64/8");

        _cleanup_ynode_ struct ynode *empty = parse("{\"schemaVersion\": 2, \"manifests\": []}");
        expect_error(empty, &amd64, -ENOENT,
                     "No manifest for linux/amd64 in the index; it has: no platforms");
}

static void test_malformed(void **state) {
        (void) state;
        static const struct {
                const char *json;
                int r;
                const char *error;
        } cases[] = {
                {"[1, 2]", -EMEDIUMTYPE, "1:1: expected an image index (a JSON object)"},
                {"{\"schemaVersion\": 2, \"mediaType\": \"" OCI_MANIFEST
                 "\", \"config\": {}, \"layers\": []}",
                 -EMEDIUMTYPE,
                 "Media type 'application/vnd.oci.image.manifest.v1+json' is not an image index "
                 "(application/vnd.oci.image.index.v1+json or "
                 "application/vnd.docker.distribution.manifest.list.v2+json)"},
                {"{\"schemaVersion\": 2, \"config\": {}}", -EMEDIUMTYPE,
                 "1:1: not an image index (no mediaType and no manifests)"},
                {"{\"schemaVersion\": 2, \"mediaType\": [1], \"manifests\": []}", -EBADMSG,
                 "1:1: mediaType: expected a string"},
                {"{\"schemaVersion\": 1, \"manifests\": []}", -EBADMSG, "1:19: schemaVersion: expected 2"},
                {"{\"manifests\": []}", -EBADMSG, "1:1: schemaVersion: expected 2"},
                {"{\"schemaVersion\": 2, \"manifests\": {}}", -EBADMSG, "1:35: manifests: expected a list"},
                {"{\"schemaVersion\": 2, \"manifests\": [\"x\"]}", -EBADMSG,
                 "1:36: manifests[0]: expected an object"},
                {"{\"schemaVersion\": 2, \"manifests\": [{\"platform\": \"linux\"}]}", -EBADMSG,
                 "1:49: manifests[0].platform: expected an object"},
                {"{\"schemaVersion\": 2, \"manifests\": [{\"platform\": {\"os\": \"linux\"}}]}", -EBADMSG,
                 "1:49: manifests[0].platform: expected os and architecture strings"},
                {"{\"schemaVersion\": 2, \"manifests\": [{\"platform\": {\"os\": \"linux\", "
                 "\"architecture\": "
                 "\"amd64\"}}]}",
                 -EBADMSG, "1:36: manifests[0]: expected mediaType and digest strings"},
                {"{\"schemaVersion\": 2, \"manifests\": [{\"mediaType\": \"" OCI_MANIFEST
                 "\", \"digest\": \"" D1
                 "\", \"platform\": {\"os\": \"linux\", \"architecture\": \"amd64\"}}]}",
                 -EBADMSG, "1:36: manifests[0].size: expected a non-negative integer"},
                {"{\"schemaVersion\": 2, \"manifests\": [{\"mediaType\": \"" OCI_MANIFEST
                 "\", \"digest\": \"" D1
                 "\", \"size\": \"12\", \"platform\": {\"os\": \"linux\", \"architecture\": \"amd64\"}}]}",
                 -EBADMSG, "1:189: manifests[0].size: expected a non-negative integer"},
                {"{\"schemaVersion\": 2, \"manifests\": [{\"mediaType\": \"" OCI_MANIFEST
                 "\", \"digest\": \"" D1
                 "\", \"size\": -1, \"platform\": {\"os\": \"linux\", \"architecture\": \"amd64\"}}]}",
                 -EBADMSG, "1:189: manifests[0].size: expected a non-negative integer"},
                {"{\"schemaVersion\": 2, \"manifests\": [{\"mediaType\": \"" OCI_MANIFEST
                 "\", \"digest\": \"" D1
                 "\", \"size\": 18446744073709551616, \"platform\": {\"os\": \"linux\", \"architecture\": "
                 "\"amd64\"}}]}",
                 -EBADMSG, "1:189: manifests[0].size: expected a non-negative integer"},
                {"{\"schemaVersion\": 2, \"manifests\": [{\"mediaType\": \"" OCI_MANIFEST
                 "\", \"digest\": \"sha256:abc\", \"size\": 1, \"platform\": {\"os\": \"linux\", "
                 "\"architecture\": \"amd64\"}}]}",
                 -EBADMSG, "1:36: manifests[0].digest: 'sha256:abc' is not a sha256 digest"},
                {"{\"schemaVersion\": 2, \"manifests\": [{\"mediaType\": \"" OCI_MANIFEST
                 "\", \"digest\": \"sha512:abc\", \"size\": 1, \"platform\": {\"os\": \"linux\", "
                 "\"architecture\": \"amd64\"}}]}",
                 -ENOTSUP, "1:36: manifests[0].digest: 'sha512:abc' is not a sha256 digest"},
                {"{\"schemaVersion\": 2, \"manifests\": [{\"mediaType\": "
                 "\"application/vnd.oci.image.index.v1+json\", \"digest\": \"" D1
                 "\", \"size\": 1, \"platform\": {\"os\": \"linux\", \"architecture\": \"amd64\"}}]}",
                 -ENOTSUP,
                 "1:36: manifests[0] (linux/amd64) has media type "
                 "'application/vnd.oci.image.index.v1+json', "
                 "not an image manifest"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_ynode_ struct ynode *n = parse(cases[i].json);
                expect_error(n, &amd64, cases[i].r, cases[i].error);
        }

        /* a malformed descriptor for another platform does not matter */
        _cleanup_ynode_ struct ynode *other =
                parse("{\"schemaVersion\": 2, \"manifests\": ["
                      "{\"mediaType\": \"x\", \"digest\": \"bad\", \"size\": \"?\","
                      " \"platform\": {\"os\": \"linux\", \"architecture\": \"s390x\"}},"
                      "{\"mediaType\": \"" DOCKER_MANIFEST "\", \"digest\": \"" D1 "\", \"size\": 7,"
                      " \"platform\": {\"os\": \"linux\", \"architecture\": \"amd64\"}}]}");
        expect_choice(other, &amd64, D1, DOCKER_MANIFEST, 7, 1, "linux/amd64");

        struct platform_choice c;
        expect_error(NULL, &amd64, -EMEDIUMTYPE, "0:0: expected an image index (a JSON object)");
        assert_int_equal(platform_select(other, NULL, &c, NULL), -EINVAL);
}

/* A single-arch image's config against the target (image-spec config.md). */
static void test_check_config(void **state) {
        (void) state;
        static const struct platform_target armv7 = {"linux", "arm", "v7"};
        static const struct {
                const char *config;
                const struct platform_target *target;
                int r;
                const char *text;
        } cases[] = {
                {"{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{}}", &amd64, 0, NULL},
                /* normalised as containerd does; a config without a variant
                 * matches on os and architecture */
                {"{\"architecture\":\"x86_64\",\"os\":\"Linux\"}", &amd64, 0, NULL},
                {"{\"architecture\":\"arm64\",\"os\":\"linux\"}", &arm64, 0, NULL},
                {"{\"architecture\":\"aarch64\",\"os\":\"linux\",\"variant\":\"8\"}", &arm64, 0, NULL},
                {"{\"architecture\":\"arm\",\"os\":\"linux\"}", &armv7, 0, NULL},
                {"{\"architecture\":\"arm64\",\"os\":\"linux\"}", &amd64, -ENOEXEC,
                 "the image is for linux/arm64 (its config says so), not linux/amd64"},
                {"{\"architecture\":\"amd64\",\"os\":\"linux\"}", &arm64, -ENOEXEC,
                 "the image is for linux/amd64 (its config says so), not linux/arm64/v8"},
                {"{\"architecture\":\"amd64\",\"os\":\"windows\"}", &amd64, -ENOEXEC,
                 "the image is for windows/amd64"},
                {"{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v6\"}", &armv7, -ENOEXEC,
                 "the image is for linux/arm/v6 (its config says so), not linux/arm/v7"},
                {"{\"architecture\":\"amd64\",\"os\":\"linux\",\"variant\":\"v3\"}", &amd64, -ENOEXEC,
                 "linux/amd64/v3"},
                {"{\"os\":\"linux\"}", &amd64, -EBADMSG, "no \"os\" and \"architecture\""},
                {"{\"architecture\":[\"amd64\"],\"os\":\"linux\"}", &amd64, -EBADMSG, "1:1:"},
                {"{\"architecture\":\"\",\"os\":\"linux\"}", &amd64, -EBADMSG, "architecture"},
                {"[1]", &amd64, -EBADMSG, "expected an image config"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_ynode_ struct ynode *n = parse(cases[i].config);
                _cleanup_free_ char *error = NULL;
                int r = platform_check_config(n, cases[i].target, &error);
                if (r != cases[i].r)
                        fail_msg("%s: expected %d, got %d (%s)", cases[i].config, cases[i].r, r,
                                 error ? error : "");
                if (cases[i].text && (!error || !strstr(error, cases[i].text)))
                        fail_msg("%s: '%s' does not contain '%s'", cases[i].config, error ? error : "",
                                 cases[i].text);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_oci_index),        cmocka_unit_test(test_docker_manifest_list),
                cmocka_unit_test(test_arm64_no_variant), cmocka_unit_test(test_no_match),
                cmocka_unit_test(test_from_arch),        cmocka_unit_test(test_variants),
                cmocka_unit_test(test_malformed),        cmocka_unit_test(test_check_config),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
