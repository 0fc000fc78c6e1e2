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

#include "imageref.h"
#include "macro.h"

/* Cases follow github.com/distribution/reference's reference_test.go
 * (TestReferenceParse) and normalize_test.go (TestValidateReferenceName,
 * TestParseRepositoryInfo, TestParseDockerRef), with the expected result of
 * ParseNormalizedNamed + TagNameOnly, i.e. what containerd stores. */

#define F64 "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct valid_case {
        const char *input;
        const char *canonical;
};

static const struct valid_case valid_cases[] = {
        /* the issue's examples */
        {"nginx", "docker.io/library/nginx:latest"},
        {"user/app", "docker.io/user/app:latest"},
        {"quay.io/x/y:v1", "quay.io/x/y:v1"},
        {"localhost:5000/a", "localhost:5000/a:latest"},
        {"registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10"},
        {"img@sha256:" H64, "docker.io/library/img@sha256:" H64},
        {"img:1.0@sha256:" H64, "docker.io/library/img:1.0@sha256:" H64},

        /* reference_test.go TestReferenceParse */
        {"test_com", "docker.io/library/test_com:latest"},
        {"test.com:tag", "docker.io/library/test.com:tag"},
        {"test.com:5000", "docker.io/library/test.com:5000"},
        {"test.com/repo:tag", "test.com/repo:tag"},
        {"test:5000/repo", "test:5000/repo:latest"},
        {"test:5000/repo:tag", "test:5000/repo:tag"},
        {"test:5000/repo@sha256:" F64, "test:5000/repo@sha256:" F64},
        {"test:5000/repo:tag@sha256:" F64, "test:5000/repo:tag@sha256:" F64},
        {"repo@sha256:" F64, "docker.io/library/repo@sha256:" F64},
        {"lowercase:Uppercase", "docker.io/library/lowercase:Uppercase"},
        {"sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com/bar/baz/quux:latest"},
        {"sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com/bar/baz/quux:some-long-tag"},
        {"b.gcr.io/test.example.com/my-app:test.example.com",
         "b.gcr.io/test.example.com/my-app:test.example.com"},
        {"xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com/myimage:xn--n3h.com"},
        {"foo_bar.com:8080", "docker.io/library/foo_bar.com:8080"},
        {"foo/foo_bar.com:8080", "docker.io/foo/foo_bar.com:8080"},
        {"192.168.1.1", "docker.io/library/192.168.1.1:latest"},
        {"192.168.1.1:tag", "docker.io/library/192.168.1.1:tag"},
        {"192.168.1.1:5000", "docker.io/library/192.168.1.1:5000"},
        {"192.168.1.1/repo", "192.168.1.1/repo:latest"},
        {"192.168.1.1:5000/repo", "192.168.1.1:5000/repo:latest"},
        {"192.168.1.1:5000/repo:5050", "192.168.1.1:5000/repo:5050"},
        {"[2001:db8::1]/repo", "[2001:db8::1]/repo:latest"},
        {"[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]/repo:tag"},
        {"[2001:db8::1]:5000/repo", "[2001:db8::1]:5000/repo:latest"},
        {"[2001:db8::1]:5000/repo:tag", "[2001:db8::1]:5000/repo:tag"},
        {"[2001:db8::1]:5000/repo@sha256:" F64, "[2001:db8::1]:5000/repo@sha256:" F64},
        {"[2001:db8::1]:5000/repo:tag@sha256:" F64, "[2001:db8::1]:5000/repo:tag@sha256:" F64},
        {"[2001:db8::]:5000/repo", "[2001:db8::]:5000/repo:latest"},
        {"[::1]:5000/repo", "[::1]:5000/repo:latest"},

        /* normalize_test.go TestParseRepositoryInfo / TestValidateReferenceName */
        {"fooo/bar", "docker.io/fooo/bar:latest"},
        {"library/ubuntu", "docker.io/library/ubuntu:latest"},
        {"nonlibrary/ubuntu", "docker.io/nonlibrary/ubuntu:latest"},
        {"ubuntu", "docker.io/library/ubuntu:latest"},
        {"other/library", "docker.io/other/library:latest"},
        {"127.0.0.1:8000/private/moonbase", "127.0.0.1:8000/private/moonbase:latest"},
        {"127.0.0.1:8000/privatebase", "127.0.0.1:8000/privatebase:latest"},
        {"localhost:8000/private/moonbase", "localhost:8000/private/moonbase:latest"},
        {"localhost:8000/privatebase", "localhost:8000/privatebase:latest"},
        {"example.com/private/moonbase", "example.com/private/moonbase:latest"},
        {"example.com/privatebase", "example.com/privatebase:latest"},
        {"example.com:8000/private/moonbase", "example.com:8000/private/moonbase:latest"},
        {"example.com:8000/privatebase", "example.com:8000/privatebase:latest"},
        {"localhost/private/moonbase", "localhost/private/moonbase:latest"},
        {"localhost/privatebase", "localhost/privatebase:latest"},
        {"docker.io/fooo/bar", "docker.io/fooo/bar:latest"},
        {"docker.io/library/ubuntu", "docker.io/library/ubuntu:latest"},
        {"docker.io/ubuntu", "docker.io/library/ubuntu:latest"},
        {"index.docker.io/fooo/bar", "docker.io/fooo/bar:latest"},
        {"index.docker.io/library/ubuntu", "docker.io/library/ubuntu:latest"},
        {"index.docker.io/ubuntu", "docker.io/library/ubuntu:latest"},
        {"docker/docker", "docker.io/docker/docker:latest"},
        {"127.0.0.1:5000/docker/docker", "127.0.0.1:5000/docker/docker:latest"},
        {"127.0.0.1:5000/library/debian", "127.0.0.1:5000/library/debian:latest"},
        {"127.0.0.1:5000/debian", "127.0.0.1:5000/debian:latest"},
        {"192.168.0.1:8/debian", "192.168.0.1:8/debian:latest"},
        {"192.168.0.2:25000/debian", "192.168.0.2:25000/debian:latest"},
        {"thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
         "docker.io/library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev:latest"},
        {"[fc00::1]:5000/docker", "[fc00::1]:5000/docker:latest"},
        {"[fc00::1]:5000/docker/docker", "[fc00::1]:5000/docker/docker:latest"},
        {"[fc00:1:2:3:4:5:6:7]:5000/library/debian", "[fc00:1:2:3:4:5:6:7]:5000/library/debian:latest"},
        /* with a registry a 64-hex name is not an identifier */
        {"docker.io/" H64, "docker.io/library/" H64 ":latest"},
        {H64 ":tag", "docker.io/library/" H64 ":tag"},

        /* normalize_test.go TestParseDockerRef */
        {"busybox", "docker.io/library/busybox:latest"},
        {"busybox:1.36", "docker.io/library/busybox:1.36"},
        {"library/busybox:latest", "docker.io/library/busybox:latest"},
        {"gcr.io/library/busybox", "gcr.io/library/busybox:latest"},
        {"docker.io/library/busybox@sha256:" H64, "docker.io/library/busybox@sha256:" H64},

        /* path separators */
        {"a__b", "docker.io/library/a__b:latest"},
        {"a--b", "docker.io/library/a--b:latest"},
        {"a.b_c-d", "docker.io/library/a.b_c-d:latest"},
        /* tag grammar */
        {"img:_tag", "docker.io/library/img:_tag"},
        {"img:V1.2-rc.3_x", "docker.io/library/img:V1.2-rc.3_x"},

        /* the registry host is lowercased */
        {"Quay.IO/x/y:v1", "quay.io/x/y:v1"},
        {"LOCALHOST:5000/a", "localhost:5000/a:latest"},
        {"Localhost/a", "localhost/a:latest"},
        {"[FC00::1]:5000/a", "[fc00::1]:5000/a:latest"},
        {"Index.Docker.IO/busybox", "docker.io/library/busybox:latest"},
        /* only index.docker.io is an alias of docker.io */
        {"registry-1.docker.io/library/busybox", "registry-1.docker.io/library/busybox:latest"},
};

struct invalid_case {
        const char *input;
        const char *error;
};

static const struct invalid_case invalid_cases[] = {
        {"", "repository name must have at least one component"},
        {":justtag", "invalid reference format (repository name)"},
        {"@sha256:" F64, "invalid reference format (repository name)"},
        {"validname@invaliddigest:" F64, "unsupported digest algorithm (only sha256 is accepted)"},
        {"Uppercase:tag", "repository name must be lowercase"},
        {"test:5000/Uppercase/lowercase:tag", "repository name must be lowercase"},
        {"aa/asdf$$^/aa", "invalid reference format (repository name)"},
        {"xn--7o8h.com/myimage:xn--7o8h.com@sha512:" F64 F64,
         "unsupported digest algorithm (only sha256 is accepted)"},
        {"[2001:db8::1]", "invalid reference format (repository name)"},
        {"[2001:db8::1]:5000", "invalid reference format (repository name)"},
        {"[2001:db8::1]:tag", "invalid reference format (repository name)"},
        {"[fe80::1%eth0]:5000/repo", "invalid reference format (registry host)"},
        {"[fe80::1%@invalidzone]:5000/repo",
         "invalid reference format (repository name)"}, /* "@" starts the digest */
        {"2001:db8::1/repo", "invalid reference format (registry host)"},
        {"[]:5000/repo", "invalid reference format (registry host)"},
        {"https://github.com/docker/docker", "invalid reference format (registry host)"},
        {"docker/Docker", "repository name must be lowercase"},
        {"-docker", "invalid reference format (repository name)"},
        {"-docker/docker", "invalid reference format (repository name)"},
        {"-docker.io/docker/docker", "invalid reference format (registry host)"},
        {"docker-.io/docker/docker", "invalid reference format (registry host)"},
        {"docker..io/docker/docker", "invalid reference format (registry host)"},
        {"docker///docker", "invalid reference format (repository name)"},
        {"docker.io/docker/Docker", "repository name must be lowercase"},
        {"docker.io/docker///docker", "invalid reference format (repository name)"},
        {"fc00::1:5000/debian", "invalid reference format (registry host)"},
        {"foo.com:/x", "invalid reference format (registry host)"},
        {"foo.com:50a/x", "invalid reference format (registry host)"},
        {H64, "invalid repository name (cannot specify 64-byte hexadecimal strings)"},
        /* an upper-case first component is not a registry here (distribution
         * would take "Foo" as a host) */
        {"Foo/bar", "repository name must be lowercase"},
        /* path separators */
        {"a___b", "invalid reference format (repository name)"},
        {"a-.b", "invalid reference format (repository name)"},
        {"a._b", "invalid reference format (repository name)"},
        {"a-", "invalid reference format (repository name)"},
        {"a/", "invalid reference format (repository name)"},
        {"/a", "invalid reference format (repository name)"},
        {"quay.io/", "invalid reference format (repository name)"},
        {"two words", "invalid reference format"},
        {"tab\there", "invalid reference format"},
        {"caf\xc3\xa9", "invalid reference format"},
        /* tag grammar */
        {"img:", "invalid reference format (tag)"},
        {"img:-tag", "invalid reference format (tag)"},
        {"img:.tag", "invalid reference format (tag)"},
        {"img:tag:more", "invalid reference format (tag)"},
        {"img:t@g", "invalid reference format"},
        /* digests */
        {"img@", "invalid reference format"},
        {"img@sha256", "invalid reference format"},
        {"img@sha256:abc", "invalid reference format"},
        {"img@sha256:" F64 "@sha256:" F64, "invalid reference format"},
        {"img@:" F64, "invalid reference format"},
        {"img@1sha:" F64, "invalid reference format"},
        {"img@sha256:"
         "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", /* 62 */
         "invalid checksum digest length (sha256 has 64 hex digits)"},
        {"img@sha256:" F64 "ff", "invalid checksum digest length (sha256 has 64 hex digits)"},
        {"img@sha256:"
         "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
         "invalid checksum digest format (hex digits must be lowercase)"},
        {"img@SHA256:" F64, "unsupported digest algorithm (only sha256 is accepted)"},
        {"img@sha512:" F64 F64, "unsupported digest algorithm (only sha256 is accepted)"},
        {"img@sha256:" F64 "g", "invalid reference format"},
};

static void test_valid(void **state) {
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(valid_cases); i++) {
                const struct valid_case *c = &valid_cases[i];
                struct imageref ref;
                const char *error = NULL;
                int r = imageref_parse(c->input, &ref, &error);
                if (r != 0)
                        print_error("'%s': %s\n", c->input, error);
                assert_int_equal(r, 0);
                assert_null(error);
                assert_true(imageref_valid(c->input));

                _cleanup_free_ char *s = imageref_format(&ref);
                assert_non_null(s);
                if (!streq(s, c->canonical))
                        print_error("'%s': got '%s', want '%s'\n", c->input, s, c->canonical);
                assert_string_equal(s, c->canonical);

                /* the canonical form parses back to the same reference */
                struct imageref again;
                assert_int_equal(imageref_parse(s, &again, NULL), 0);
                assert_true(imageref_equal(&ref, &again));
                _cleanup_free_ char *s2 = imageref_format(&again);
                assert_string_equal(s, s2);
        }
}

static void test_invalid(void **state) {
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(invalid_cases); i++) {
                const struct invalid_case *c = &invalid_cases[i];
                struct imageref ref;
                memset(&ref, 0x5a, sizeof(ref));
                const char *error = NULL;
                int r = imageref_parse(c->input, &ref, &error);
                if (r != -EINVAL || !error || !streq(error, c->error))
                        print_error("'%s': got %d '%s', want '%s'\n", c->input, r, error ? error : "(none)",
                                    c->error);
                assert_int_equal(r, -EINVAL);
                assert_non_null(error);
                assert_string_equal(error, c->error);
                /* out-parameter untouched */
                for (size_t j = 0; j < sizeof(ref); j++)
                        assert_int_equal(((unsigned char *) &ref)[j], 0x5a);
                assert_false(imageref_valid(c->input));
                /* no error buffer */
                assert_int_equal(imageref_parse(c->input, NULL, NULL), -EINVAL);
        }
        assert_int_equal(imageref_parse(NULL, NULL, NULL), -EINVAL);
}

static char *repeat(const char *s, size_t n, const char *suffix) {
        size_t len = strlen(s);
        char *out = malloc(len * n + strlen(suffix) + 1);
        assert_non_null(out);
        for (size_t i = 0; i < n; i++)
                memcpy(out + i * len, s, len);
        memcpy(out + len * n, suffix, strlen(suffix) + 1);
        return out;
}

static void test_lengths(void **state) {
        (void) state;
        const char *error = NULL;
        struct imageref ref;

        /* reference_test.go: 128 "a/" + "a" is over the limit */
        _cleanup_free_ char *long1 = repeat("a/", 128, "a:tag");
        assert_int_equal(imageref_parse(long1, &ref, &error), -EINVAL);
        assert_string_equal(error, "repository name must not be more than 255 characters");
        /* 255 characters before normalisation, over it after "docker.io/" */
        _cleanup_free_ char *long2 = repeat("a/", 127, "a:tag-puts-this-over-max");
        assert_int_equal(imageref_parse(long2, &ref, &error), -EINVAL);
        assert_string_equal(error, "repository name must not be more than 255 characters");

        /* exactly 255: "docker.io/" (10) + "x/" + 243 'a' */
        _cleanup_free_ char *a243 = repeat("a", 243, "");
        _cleanup_free_ char *max = NULL, *over = NULL;
        assert_true(asprintf(&max, "x/%s", a243) > 0);
        assert_true(asprintf(&over, "x/%sa", a243) > 0);
        assert_int_equal(imageref_parse(max, &ref, &error), 0);
        _cleanup_free_ char *name = imageref_format_name(&ref);
        assert_int_equal(strlen(name), IMAGEREF_NAME_MAX);
        assert_int_equal(imageref_parse(over, &ref, &error), -EINVAL);
        assert_string_equal(error, "repository name must not be more than 255 characters");

        /* a registry alone longer than the limit */
        _cleanup_free_ char *host = repeat("a", 300, ".io/x");
        assert_int_equal(imageref_parse(host, &ref, &error), -EINVAL);
        assert_string_equal(error, "repository name must not be more than 255 characters");

        /* tags: 128 characters allowed, 129 not */
        _cleanup_free_ char *t128 = repeat("t", 128, ""), *t129 = repeat("t", 129, "");
        _cleanup_free_ char *img128 = NULL, *img129 = NULL;
        assert_true(asprintf(&img128, "img:%s", t128) > 0);
        assert_true(asprintf(&img129, "img:%s", t129) > 0);
        assert_int_equal(imageref_parse(img128, &ref, &error), 0);
        assert_string_equal(ref.tag, t128);
        assert_int_equal(imageref_parse(img129, &ref, &error), -EINVAL);
        assert_string_equal(error, "invalid reference format (tag)");

        /* the longest canonical string fits IMAGEREF_STRING_MAX */
        _cleanup_free_ char *longest = NULL;
        assert_true(asprintf(&longest, "%s:%s@sha256:" H64, max, t128) > 0);
        assert_int_equal(imageref_parse(longest, &ref, &error), 0);
        _cleanup_free_ char *s = imageref_format(&ref);
        assert_int_equal(strlen(s), IMAGEREF_STRING_MAX);

        /* absurd input is refused before any work */
        _cleanup_free_ char *huge = repeat("a", 5000, "");
        assert_int_equal(imageref_parse(huge, &ref, &error), -EINVAL);
        assert_string_equal(error, "reference too long");
}

static void test_fields(void **state) {
        (void) state;
        struct imageref ref;
        assert_int_equal(imageref_parse("nginx", &ref, NULL), 0);
        assert_string_equal(ref.registry, "docker.io");
        assert_string_equal(ref.repository, "library/nginx");
        assert_string_equal(ref.tag, "latest");
        assert_string_equal(ref.digest, "");

        assert_int_equal(imageref_parse("localhost:5000/a/b:v2@sha256:" H64, &ref, NULL), 0);
        assert_string_equal(ref.registry, "localhost:5000");
        assert_string_equal(ref.repository, "a/b");
        assert_string_equal(ref.tag, "v2");
        assert_string_equal(ref.digest, "sha256:" H64);

        assert_int_equal(imageref_parse("img@sha256:" H64, &ref, NULL), 0);
        assert_string_equal(ref.tag, "");
        assert_string_equal(ref.digest, "sha256:" H64);
}

static void test_format_variants(void **state) {
        (void) state;
        struct imageref ref;
        assert_int_equal(imageref_parse("quay.io/x/y:v1@sha256:" H64, &ref, NULL), 0);
        _cleanup_free_ char *full = imageref_format(&ref);
        _cleanup_free_ char *runtime = imageref_format_runtime(&ref);
        _cleanup_free_ char *name = imageref_format_name(&ref);
        assert_string_equal(full, "quay.io/x/y:v1@sha256:" H64);
        /* ParseDockerRef keeps only the digest when both are given */
        assert_string_equal(runtime, "quay.io/x/y@sha256:" H64);
        assert_string_equal(name, "quay.io/x/y");

        assert_int_equal(imageref_parse("nginx:1.27", &ref, NULL), 0);
        _cleanup_free_ char *runtime2 = imageref_format_runtime(&ref);
        assert_string_equal(runtime2, "docker.io/library/nginx:1.27");
}

/* A tag on its own (kubeadm's etcd.local.imageTag in a profile). */
static void test_tag_valid(void **state) {
        (void) state;
        const char *good[] = {"3.4.23", "3.4.13-0", "v1.31.1", "_x", "A.b-C_1"};
        const char *bad[] = {"", "-3.4", ".3", "3.4/1", "3:4", "3.4@x", "3 4"};
        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                if (!imageref_tag_valid(good[i]))
                        fail_msg("'%s' refused", good[i]);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (imageref_tag_valid(bad[i]))
                        fail_msg("'%s' accepted", bad[i]);
        char tag[IMAGEREF_TAG_MAX + 2];
        memset(tag, 'a', sizeof tag - 1);
        tag[IMAGEREF_TAG_MAX] = '\0';
        assert_true(imageref_tag_valid(tag)); /* 128 */
        tag[IMAGEREF_TAG_MAX] = 'a';
        tag[IMAGEREF_TAG_MAX + 1] = '\0';
        assert_false(imageref_tag_valid(tag)); /* 129 */
        assert_false(imageref_tag_valid(NULL));
}

static void test_equal(void **state) {
        (void) state;
        struct imageref a, b;
        assert_int_equal(imageref_parse("nginx", &a, NULL), 0);
        assert_int_equal(imageref_parse("docker.io/library/nginx:latest", &b, NULL), 0);
        assert_true(imageref_equal(&a, &b));
        assert_int_equal(imageref_parse("index.docker.io/library/nginx", &b, NULL), 0);
        assert_true(imageref_equal(&a, &b));
        assert_int_equal(imageref_parse("nginx:1.27", &b, NULL), 0);
        assert_false(imageref_equal(&a, &b));
        assert_int_equal(imageref_parse("quay.io/library/nginx", &b, NULL), 0);
        assert_false(imageref_equal(&a, &b));
        assert_int_equal(imageref_parse("nginx@sha256:" H64, &a, NULL), 0);
        assert_int_equal(imageref_parse("nginx:latest@sha256:" H64, &b, NULL), 0);
        assert_false(imageref_equal(&a, &b)); /* the tag is part of the reference */
        assert_int_equal(imageref_parse("Quay.io/x", &a, NULL), 0);
        assert_int_equal(imageref_parse("quay.io/x", &b, NULL), 0);
        assert_true(imageref_equal(&a, &b));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid),           cmocka_unit_test(test_invalid),
                cmocka_unit_test(test_lengths),         cmocka_unit_test(test_fields),
                cmocka_unit_test(test_format_variants), cmocka_unit_test(test_equal),
                cmocka_unit_test(test_tag_valid),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
