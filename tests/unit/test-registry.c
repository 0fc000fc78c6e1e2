/* SPDX-License-Identifier: MIT */
/* builder/puller: the pure parts (endpoints and mirrors, WWW-Authenticate,
 * token requests and responses, manifests and descriptors, the registry's
 * error JSON, credentials, the store), then
 *  - a fake registry forked by the test for faults: a 500 on a blob, a blob
 *    with the wrong content, a manifest that does not match its
 *    Docker-Content-Digest, schema 1, the Bearer token flow (the token never
 *    in a log), Basic credentials;
 *  - a REAL registry (Debian's docker-registry, the CNCF distribution
 *    registry) on loopback, seeded with skopeo from OCI layouts this test
 *    writes (amd64 and arm64/v8 behind an index), reached through a profile
 *    mirror for docker.io. Skipped when docker-registry or skopeo is absent. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include <archive.h>
#include <archive_entry.h>

#include "testutil.h"

#include "digest.h"
#include "download.h"
#include "fsutil.h"
#include "http.h"
#include "imageref.h"
#include "log.h"
#include "macro.h"
#include "platform.h"
#include "profile.h"
#include "puller.h"

static const struct platform_target amd64 = {"linux", "amd64", NULL};
static const struct platform_target arm64 = {"linux", "arm64", "v8"};
static const struct platform_target armv7 = {"linux", "arm", "v7"};

static char *make_tmpdir(void) {
        char *d = strdup("/tmp/kubeseed-test-registry-XXXXXX");
        assert_non_null(d);
        assert_non_null(mkdtemp(d));
        return d;
}

static void digest_of(const void *data, size_t size, char out[IMAGEREF_DIGEST_MAX + 1]) {
        char hex[SHA256_HEX_LEN + 1];
        assert_int_equal(sha256_buffer(data, size, hex), 0);
        snprintf(out, IMAGEREF_DIGEST_MAX + 1, "sha256:%s", hex);
}

/* ---- endpoints ---------------------------------------------------------- */

static void expect_endpoint(const char *registry, const struct profile_registry_mirror *m, size_t n,
                            const char *url, const char *host, const char *ca, bool http, bool mirror) {
        struct registry_endpoint e = {};
        assert_int_equal(registry_endpoint_resolve(registry, m, n, &e), 0);
        assert_string_equal(e.url, url);
        assert_string_equal(e.host, host);
        if (ca)
                assert_string_equal(e.ca_file, ca);
        else
                assert_null(e.ca_file);
        assert_int_equal(e.allow_http, http);
        assert_int_equal(e.mirror, mirror);
        registry_endpoint_done(&e);
}

static void test_endpoint(void **state) {
        (void) state;
        expect_endpoint("docker.io", NULL, 0, "https://registry-1.docker.io", "docker.io", NULL, false,
                        false);
        expect_endpoint("quay.io", NULL, 0, "https://quay.io", "quay.io", NULL, false, false);
        expect_endpoint("registry.k8s.io", NULL, 0, "https://registry.k8s.io", "registry.k8s.io", NULL,
                        false, false);
        expect_endpoint("localhost:5000", NULL, 0, "https://localhost:5000", "localhost:5000", NULL, false,
                        false);
        expect_endpoint("[fc00::1]:5000", NULL, 0, "https://[fc00::1]:5000", "[fc00::1]:5000", NULL, false,
                        false);

        struct profile_registry_mirror m[] = {
                {.registry = (char *) "docker.io",
                 .endpoint = (char *) "http://127.0.0.1:5000/",
                 .insecure = true},
                {.registry = (char *) "Quay.IO",
                 .endpoint = (char *) "HTTPS://Mirror.Example:5443/quay/",
                 .ca_file = (char *) "/etc/ssl/mirror-ca.pem"},
                {.registry = (char *) "registry.k8s.io", .endpoint = (char *) "https://mirror.example"},
        };
        expect_endpoint("docker.io", m, 3, "http://127.0.0.1:5000", "127.0.0.1:5000", NULL, true, true);
        /* Registry names compare case-insensitively; a path prefix is kept. */
        expect_endpoint("quay.io", m, 3, "https://Mirror.Example:5443/quay", "mirror.example:5443",
                        "/etc/ssl/mirror-ca.pem", false, true);
        expect_endpoint("registry.k8s.io", m, 3, "https://mirror.example", "mirror.example", NULL, false,
                        true);
        /* No mirror for ghcr.io: the registry itself. */
        expect_endpoint("ghcr.io", m, 3, "https://ghcr.io", "ghcr.io", NULL, false, false);

        static const char *const bad[] = {
                "http://127.0.0.1:5000", /* plain http without insecure */
                "ftp://mirror.example",
                "https://",
                "https:///path",
                "https://user:pw@mirror.example",
                "https://mirror.example/?q=1",
                "https://mirror.example/#frag",
                "https://mirror example",
                "mirror.example",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                struct profile_registry_mirror b = {.registry = (char *) "docker.io",
                                                    .endpoint = (char *) bad[i]};
                struct registry_endpoint e = {};
                if (registry_endpoint_resolve("docker.io", &b, 1, &e) != -EINVAL)
                        fail_msg("mirror endpoint '%s' accepted", bad[i]);
                assert_null(e.url);
        }
        struct profile_registry_mirror ins = {.registry = (char *) "docker.io",
                                              .endpoint = (char *) "https://mirror.example",
                                              .insecure = true};
        expect_endpoint("docker.io", &ins, 1, "https://mirror.example", "mirror.example", NULL, true, true);
}

/* ---- WWW-Authenticate --------------------------------------------------------- */

static void test_challenges_ok(void **state) {
        (void) state;
        struct registry_challenge *c = NULL;
        size_t n = 0;

        assert_int_equal(
                registry_challenges_parse(
                        "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
                        "scope=\"repository:library/nginx:pull\"",
                        &c, &n),
                0);
        assert_int_equal(n, 1);
        assert_string_equal(c[0].scheme, "bearer");
        assert_int_equal(c[0].n_params, 3);
        assert_string_equal(registry_challenge_param(&c[0], "realm"), "https://auth.docker.io/token");
        assert_string_equal(registry_challenge_param(&c[0], "SERVICE"), "registry.docker.io");
        assert_string_equal(registry_challenge_param(&c[0], "scope"), "repository:library/nginx:pull");
        assert_null(c[0].token68);
        registry_challenges_free(c, n);

        /* Commas, '=' and escapes inside quoted strings. */
        assert_int_equal(
                registry_challenges_parse("Bearer realm=\"https://a/token?x=1,2\",service=\"a\\\"b\\\\c\","
                                          "scope=\"repository:x:pull,push\"",
                                          &c, &n),
                0);
        assert_int_equal(n, 1);
        assert_string_equal(registry_challenge_param(&c[0], "realm"), "https://a/token?x=1,2");
        assert_string_equal(registry_challenge_param(&c[0], "service"), "a\"b\\c");
        assert_string_equal(registry_challenge_param(&c[0], "scope"), "repository:x:pull,push");
        registry_challenges_free(c, n);

        /* RFC 7235's example: two challenges in one value, token values,
         * names and schemes in any case, BWS around '='. */
        assert_int_equal(registry_challenges_parse(
                                 "Newauth realm=\"apps\", type=1 ,  title=\"Login to \\\"apps\\\"\", "
                                 "Basic REALM = \"simple\"",
                                 &c, &n),
                         0);
        assert_int_equal(n, 2);
        assert_string_equal(c[0].scheme, "newauth");
        assert_int_equal(c[0].n_params, 3);
        assert_string_equal(registry_challenge_param(&c[0], "type"), "1");
        assert_string_equal(registry_challenge_param(&c[0], "title"), "Login to \"apps\"");
        assert_string_equal(c[1].scheme, "basic");
        assert_string_equal(registry_challenge_param(&c[1], "realm"), "simple");
        registry_challenges_free(c, n);

        /* token68, a scheme alone, empty list elements. */
        assert_int_equal(
                registry_challenges_parse(" , Negotiate dXNlcjpwYXNz==, Bearer, ,Basic realm=\"x\",, "
                                          "charset=\"UTF-8\",",
                                          &c, &n),
                0);
        assert_int_equal(n, 3);
        assert_string_equal(c[0].scheme, "negotiate");
        assert_string_equal(c[0].token68, "dXNlcjpwYXNz==");
        assert_int_equal(c[0].n_params, 0);
        assert_string_equal(c[1].scheme, "bearer");
        assert_int_equal(c[1].n_params, 0);
        assert_string_equal(c[2].scheme, "basic");
        assert_int_equal(c[2].n_params, 2);
        assert_string_equal(registry_challenge_param(&c[2], "charset"), "UTF-8");
        registry_challenges_free(c, n);

        /* An empty quoted value; an empty header. */
        assert_int_equal(registry_challenges_parse("Bearer realm=\"\",error=\"invalid_token\"", &c, &n), 0);
        assert_int_equal(n, 1);
        assert_string_equal(registry_challenge_param(&c[0], "realm"), "");
        assert_string_equal(registry_challenge_param(&c[0], "error"), "invalid_token");
        registry_challenges_free(c, n);
        assert_int_equal(registry_challenges_parse("", &c, &n), 0);
        assert_int_equal(n, 0);
        registry_challenges_free(c, n);
}

static void test_challenges_bad(void **state) {
        (void) state;
        static const char *const bad[] = {
                "Bearer realm=\"https://a/token",   /* unterminated */
                "Bearer realm=\"x\\",               /* escape at the end */
                "Bearer realm=\"x\" service=\"y\"", /* no comma */
                "Bearer realm=\"x\", realm=\"y\"",  /* duplicate */
                "Bearer REALM=\"x\",realm=\"y\"",   /* duplicate, other case */
                "Bearer realm=\"a\001b\"",          /* control character */
                "=\"x\"",                           /* no scheme */
                "Bearer realm=\"x\",=\"y\"",        /* no parameter name */
                "Bearer realm=\"x\", service=",     /* no value */
                "Bear\"er realm=\"x\"",             /* quote in the scheme */
                "Bearer realm=x y",                 /* two tokens */
                "Bearer realm=\"x\"garbage",
                "Bearer realm=@",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                struct registry_challenge *c = NULL;
                size_t n = 0;
                int r = registry_challenges_parse(bad[i], &c, &n);
                if (r != -EBADMSG)
                        fail_msg("'%s': expected -EBADMSG, got %d", bad[i], r);
                assert_null(c);
        }
        /* Too long, too many parameters. */
        _cleanup_free_ char *longv = malloc(9000);
        assert_non_null(longv);
        memcpy(longv, "Bearer realm=\"", 14);
        memset(longv + 14, 'a', 9000 - 16);
        longv[9000 - 2] = '"';
        longv[9000 - 1] = 0;
        struct registry_challenge *c = NULL;
        size_t n = 0;
        assert_int_equal(registry_challenges_parse(longv, &c, &n), -E2BIG);
        char many[2048] = "Bearer ";
        for (int i = 0; i < 40; i++) {
                char p[32];
                snprintf(p, sizeof p, "%sp%d=v", i ? "," : "", i);
                strncat(many, p, sizeof many - strlen(many) - 1);
        }
        assert_int_equal(registry_challenges_parse(many, &c, &n), -E2BIG);
}

static void test_token_url(void **state) {
        (void) state;
        struct registry_challenge *c = NULL;
        size_t n = 0;
        _cleanup_free_ char *url = NULL, *err = NULL;

        assert_int_equal(registry_challenges_parse("Bearer realm=\"https://auth.example/token\","
                                                   "service=\"my registry\",scope=\"repository:other:push\"",
                                                   &c, &n),
                         0);
        assert_int_equal(registry_token_url(&c[0], "library/test", false, &url, &err), 0);
        /* Our own scope, always pull; values percent-encoded. */
        assert_string_equal(url,
                            "https://auth.example/token?service=my%20registry&scope=repository%3Alibrary%2F"
                            "test%3Apull");
        registry_challenges_free(c, n);
        free(TAKE_PTR(url));

        /* The realm's own query is kept; no service. */
        assert_int_equal(registry_challenges_parse("Bearer realm=\"https://auth.example/t?a=b\"", &c, &n),
                         0);
        assert_int_equal(registry_token_url(&c[0], "x/y", false, &url, &err), 0);
        assert_string_equal(url, "https://auth.example/t?a=b&scope=repository%3Ax%2Fy%3Apull");
        registry_challenges_free(c, n);
        free(TAKE_PTR(url));

        /* http:// realms only for an endpoint that allows http. */
        assert_int_equal(registry_challenges_parse("Bearer realm=\"http://127.0.0.1:1/token\"", &c, &n), 0);
        assert_int_equal(registry_token_url(&c[0], "x", false, &url, &err), -EINVAL);
        assert_null(url);
        assert_non_null(strstr(err, "not an https:// URL"));
        assert_int_equal(registry_token_url(&c[0], "x", true, &url, &err), 0);
        assert_string_equal(url, "http://127.0.0.1:1/token?scope=repository%3Ax%3Apull");
        registry_challenges_free(c, n);
        free(TAKE_PTR(url));

        static const char *const bad[] = {"Bearer service=\"x\"", "Bearer realm=\"\"",
                                          "Bearer realm=\"ftp://a/b\"", "Bearer realm=\"https:///token\"",
                                          "Bearer realm=\"https://a/b c\""};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_int_equal(registry_challenges_parse(bad[i], &c, &n), 0);
                if (registry_token_url(&c[0], "x", false, &url, &err) != -EINVAL)
                        fail_msg("'%s' accepted", bad[i]);
                registry_challenges_free(c, n);
        }
}

static void test_token_parse(void **state) {
        (void) state;
        struct {
                const char *body, *token;
        } ok[] = {
                {"{\"token\": \"abc.def-ghi\", \"expires_in\": 300}", "abc.def-ghi"},
                {"{\"access_token\":\"xyz\"}", "xyz"},
                {"{\"token\": \"\", \"access_token\": \"q\"}", "q"},
                {"{\"token\": \"t1\", \"access_token\": \"t2\"}", "t1"},
        };
        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                _cleanup_free_ char *tok = NULL, *err = NULL;
                int r = registry_token_parse(ok[i].body, strlen(ok[i].body), &tok, &err);
                if (r < 0)
                        fail_msg("'%s': %s", ok[i].body, err);
                assert_string_equal(tok, ok[i].token);
        }
        static const char *const bad[] = {
                "{}",          "{\"token\": 123}", "{\"token\": \"a b\"}", "{\"token\": [\"x\"]}",
                "[\"token\"]", "not json {",       "{\"token\": \"\"}",    "{\"token\": \"caf\\u00e9\"}",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *tok = NULL, *err = NULL;
                int r = registry_token_parse(bad[i], strlen(bad[i]), &tok, &err);
                if (r != -EBADMSG)
                        fail_msg("'%s': expected -EBADMSG, got %d", bad[i], r);
                assert_null(tok);
                assert_non_null(err);
                assert_null(strstr(err, "a b"));
        }
}

/* ---- manifests ------------------------------------------------------------ */

static void test_media_types(void **state) {
        (void) state;
        assert_int_equal(registry_media_type_kind(REGISTRY_MT_OCI_INDEX), REGISTRY_KIND_INDEX);
        assert_int_equal(registry_media_type_kind(REGISTRY_MT_DOCKER_LIST), REGISTRY_KIND_INDEX);
        assert_int_equal(registry_media_type_kind(REGISTRY_MT_OCI_MANIFEST), REGISTRY_KIND_MANIFEST);
        assert_int_equal(registry_media_type_kind(REGISTRY_MT_DOCKER_MANIFEST), REGISTRY_KIND_MANIFEST);
        assert_int_equal(
                registry_media_type_kind("Application/VND.oci.image.manifest.v1+json; charset=utf-8"),
                REGISTRY_KIND_MANIFEST);
        assert_int_equal(registry_media_type_kind(REGISTRY_MT_DOCKER_SCHEMA1), -EPROTONOSUPPORT);
        assert_int_equal(registry_media_type_kind(REGISTRY_MT_DOCKER_SCHEMA1_SIGNED), -EPROTONOSUPPORT);
        assert_int_equal(registry_media_type_kind("application/json"), -EMEDIUMTYPE);
        assert_int_equal(registry_media_type_kind(""), -EMEDIUMTYPE);

        /* The Accept header: every current type, schema 1 never. */
        const char *a = REGISTRY_MANIFEST_ACCEPT;
        assert_true(strncmp(a, "Accept: ", 8) == 0);
        assert_non_null(strstr(a, REGISTRY_MT_OCI_INDEX));
        assert_non_null(strstr(a, REGISTRY_MT_OCI_MANIFEST));
        assert_non_null(strstr(a, REGISTRY_MT_DOCKER_LIST));
        assert_non_null(strstr(a, REGISTRY_MT_DOCKER_MANIFEST));
        assert_null(strstr(a, "distribution.manifest.v1"));
}

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

static char *manifest_json(const char *mt_member, const char *config, const char *layers) {
        char *s = NULL;
        assert_true(asprintf(&s, "{\n  \"schemaVersion\": 2,%s\n  \"config\": %s,\n  \"layers\": %s\n}\n",
                             mt_member, config, layers) > 0);
        return s;
}

#define OCI_MT_MEMBER "\n  \"mediaType\": \"" REGISTRY_MT_OCI_MANIFEST "\","
#define CONFIG_OK                                                                                           \
        "{\"mediaType\": \"application/vnd.oci.image.config.v1+json\", \"digest\": \"" D1                   \
        "\", \"size\": 7023}"
#define LAYER(d, s)                                                                                         \
        "{\"mediaType\": \"application/vnd.oci.image.layer.v1.tar+gzip\", \"digest\": \"" d                 \
        "\", \"size\": " s "}"

static void test_manifest_parse_ok(void **state) {
        (void) state;
        _cleanup_free_ char *j =
                manifest_json(OCI_MT_MEMBER, CONFIG_OK, "[" LAYER(D2, "32654") "," LAYER(D3, "0") "]");
        struct registry_manifest m = {};
        _cleanup_free_ char *err = NULL;
        assert_int_equal(registry_manifest_parse(j, strlen(j), REGISTRY_MT_OCI_MANIFEST, &m, &err), 0);
        assert_string_equal(m.media_type, REGISTRY_MT_OCI_MANIFEST);
        assert_string_equal(m.config.digest, D1);
        assert_string_equal(m.config.media_type, "application/vnd.oci.image.config.v1+json");
        assert_int_equal(m.config.size, 7023);
        assert_int_equal(m.n_layers, 2);
        assert_string_equal(m.layers[0].digest, D2);
        assert_int_equal(m.layers[0].size, 32654);
        assert_string_equal(m.layers[1].digest, D3);
        assert_int_equal(m.layers[1].size, 0);
        registry_manifest_done(&m);

        /* No mediaType in the body (allowed by OCI): the Content-Type, or
         * the shape when the Content-Type says nothing. */
        _cleanup_free_ char *bare = manifest_json("", CONFIG_OK, "[" LAYER(D2, "1") "]");
        assert_int_equal(registry_manifest_parse(bare, strlen(bare), REGISTRY_MT_DOCKER_MANIFEST, &m, &err),
                         0);
        assert_string_equal(m.media_type, REGISTRY_MT_DOCKER_MANIFEST);
        registry_manifest_done(&m);
        assert_int_equal(registry_manifest_parse(bare, strlen(bare), "application/octet-stream", &m, &err),
                         0);
        assert_string_equal(m.media_type, REGISTRY_MT_OCI_MANIFEST);
        registry_manifest_done(&m);

        /* Compact JSON, as registries send it. */
        const char *compact =
                "{\"schemaVersion\":2,\"mediaType\":\"" REGISTRY_MT_DOCKER_MANIFEST "\",\"config\":{"
                "\"mediaType\":\"application/vnd.docker.container.image.v1+json\",\"size\":1,"
                "\"digest\":\"" D1 "\"},\"layers\":[]}";
        assert_int_equal(registry_manifest_parse(compact, strlen(compact), NULL, &m, &err), 0);
        assert_string_equal(m.media_type, REGISTRY_MT_DOCKER_MANIFEST);
        assert_int_equal(m.n_layers, 0);
        registry_manifest_done(&m);

        char mt[REGISTRY_MEDIA_TYPE_MAX + 1];
        enum registry_kind kind;
        const char *index = "{\"schemaVersion\":2,\"manifests\":[]}";
        assert_int_equal(registry_manifest_classify(index, strlen(index), NULL, mt, &kind, &err), 0);
        assert_int_equal(kind, REGISTRY_KIND_INDEX);
        assert_string_equal(mt, REGISTRY_MT_OCI_INDEX);
        assert_int_equal(registry_manifest_classify(index, strlen(index), REGISTRY_MT_DOCKER_LIST "; x=y",
                                                    mt, &kind, &err),
                         0);
        assert_string_equal(mt, REGISTRY_MT_DOCKER_LIST);
}

static void expect_manifest_error(const char *json, const char *content_type, int error, const char *text) {
        struct registry_manifest m = {};
        _cleanup_free_ char *err = NULL;
        int r = registry_manifest_parse(json, strlen(json), content_type, &m, &err);
        if (r != error)
                fail_msg("expected %d, got %d (%s) for: %s", error, r, err ? err : "", json);
        assert_null(m.layers);
        assert_non_null(err);
        if (text && !strstr(err, text))
                fail_msg("'%s' does not contain '%s'", err, text);
}

static void test_manifest_parse_bad(void **state) {
        (void) state;
        struct {
                const char *config, *layers;
                int error;
                const char *text;
        } cases[] = {
                {CONFIG_OK,
                 "[" LAYER("sha256:ABCDEF1111111111111111111111111111111111111111111111111111111111",
                           "1") "]",
                 -EBADMSG, "layers[0].digest: expected sha256:<64 lowercase hex digits>"},
                {CONFIG_OK, "[" LAYER(D1, "1") "," LAYER("sha256:1234", "1") "]", -EBADMSG,
                 "layers[1].digest"},
                {CONFIG_OK,
                 "[" LAYER("sha512:"
                           "1111111111111111111111111111111111111111111111111111111111111111",
                           "1") "]",
                 -ENOTSUP, "only sha256"},
                {CONFIG_OK,
                 "[" LAYER("1111111111111111111111111111111111111111111111111111111111111111", "1") "]",
                 -EBADMSG, "layers[0].digest"},
                {CONFIG_OK, "[" LAYER(D2, "-1") "]", -EBADMSG,
                 "layers[0].size: expected a non-negative integer"},
                {CONFIG_OK, "[" LAYER(D2, "1.5") "]", -EBADMSG, "layers[0].size"},
                {CONFIG_OK, "[" LAYER(D2, "\"12\"") "]", -EBADMSG, "layers[0].size"},
                {CONFIG_OK, "[" LAYER(D2, "99999999999999999999") "]", -EBADMSG, "layers[0].size"},
                {CONFIG_OK, "[" LAYER(D2, "012") "]", -EBADMSG, "layers[0].size"},
                {CONFIG_OK, "[{\"mediaType\": \"application/x\", \"digest\": \"" D2 "\"}]", -EBADMSG,
                 "layers[0].size"},
                {CONFIG_OK, "[{\"mediaType\": \"layer\", \"digest\": \"" D2 "\", \"size\": 1}]", -EBADMSG,
                 "layers[0].mediaType: expected a media type"},
                {CONFIG_OK, "[{\"mediaType\": \"a/b/c\", \"digest\": \"" D2 "\", \"size\": 1}]", -EBADMSG,
                 "layers[0].mediaType"},
                {CONFIG_OK, "[{\"digest\": \"" D2 "\", \"size\": 1}]", -EBADMSG, "layers[0].mediaType"},
                {CONFIG_OK, "[{\"mediaType\": \"application/x\", \"digest\": 5, \"size\": 1}]", -EBADMSG,
                 "layers[0].digest"},
                {CONFIG_OK, "[\"" D2 "\"]", -EBADMSG, "layers[0]: expected a descriptor"},
                {CONFIG_OK, "{}", -EBADMSG, "layers: expected a list"},
                {"\"" D1 "\"", "[]", -EBADMSG, "config: expected a descriptor"},
                {"{\"mediaType\": \"application/x\", \"digest\": \"" D1 "\", \"size\": 1, \"x\": 1}", "[]",
                 0, NULL},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *j = manifest_json(OCI_MT_MEMBER, cases[i].config, cases[i].layers);
                if (cases[i].error == 0) {
                        struct registry_manifest m = {};
                        assert_int_equal(registry_manifest_parse(j, strlen(j), NULL, &m, NULL), 0);
                        registry_manifest_done(&m);
                        continue;
                }
                expect_manifest_error(j, NULL, cases[i].error, cases[i].text);
        }

        /* Schema 1, by Content-Type or by schemaVersion. */
        _cleanup_free_ char *ok = manifest_json(OCI_MT_MEMBER, CONFIG_OK, "[]");
        expect_manifest_error(ok, REGISTRY_MT_DOCKER_SCHEMA1_SIGNED, -EPROTONOSUPPORT, "schema 1");
        expect_manifest_error("{\"schemaVersion\": 1, \"name\": \"x\", \"fsLayers\": []}", NULL,
                              -EPROTONOSUPPORT, "schema 1");
        expect_manifest_error("{\"schemaVersion\": 3, \"layers\": []}", NULL, -EBADMSG, "schemaVersion");
        expect_manifest_error("{\"layers\": []}", NULL, -EBADMSG, "schemaVersion");
        /* The Content-Type and the body disagree. */
        expect_manifest_error(ok, REGISTRY_MT_DOCKER_MANIFEST, -EBADMSG,
                              "does not match the manifest's mediaType");
        /* An index is not an image manifest. */
        expect_manifest_error("{\"schemaVersion\": 2, \"mediaType\": \"" REGISTRY_MT_OCI_INDEX
                              "\", \"manifests\": []}",
                              NULL, -EMEDIUMTYPE, "an index");
        expect_manifest_error(
                "{\"schemaVersion\": 2, \"mediaType\": \"application/vnd.oci.artifact\", \"layers\": []}",
                NULL, -EMEDIUMTYPE, NULL);
        expect_manifest_error("{\"schemaVersion\": 2, \"mediaType\": \"" REGISTRY_MT_OCI_INDEX
                              "\", \"layers\": []}",
                              NULL, -EBADMSG, "with \"layers\"");
        expect_manifest_error("[1, 2]", NULL, -EBADMSG, "not a JSON object");
        expect_manifest_error("{\"schemaVersion\": 2, ", NULL, -EBADMSG, "not valid JSON");

        /* More layers than allowed. */
        char *big = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&big, &size);
        assert_non_null(f);
        fputs("{\"schemaVersion\":2,\"config\":" CONFIG_OK ",\"layers\":[", f);
        for (unsigned i = 0; i <= REGISTRY_LAYERS_MAX; i++)
                fprintf(f, "%s" LAYER(D2, "1"), i ? "," : "");
        fputs("]}", f);
        assert_int_equal(fclose(f), 0);
        expect_manifest_error(big, NULL, -E2BIG, "more than");
        free(big);
}

static void test_error_summary(void **state) {
        (void) state;
        const char *one = "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest unknown\","
                          "\"detail\":{\"Tag\":\"x\"}}]}";
        _cleanup_free_ char *s1 = registry_error_summary(one, strlen(one));
        assert_string_equal(s1, "MANIFEST_UNKNOWN: manifest unknown");
        const char *two =
                "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"a\\nb\"},{\"code\":\"DENIED\"}]}";
        _cleanup_free_ char *s2 = registry_error_summary(two, strlen(two));
        assert_string_equal(s2, "UNAUTHORIZED: a?b (and 1 more)");
        const char *code_only = "{\"errors\":[{\"code\":\"DENIED\"}]}";
        _cleanup_free_ char *s3 = registry_error_summary(code_only, strlen(code_only));
        assert_string_equal(s3, "DENIED");
        static const char *const none[] = {
                "",          "<html>502 Bad Gateway</html>", "{\"errors\":[]}", "{\"errors\":{}}",
                "{\"x\":1}", "404 page not found\n"};
        for (size_t i = 0; i < ELEMENTSOF(none); i++)
                assert_null(registry_error_summary(none[i], strlen(none[i])));
}

/* ---- credentials ------------------------------------------------------------ */

static void test_credentials(void **state) {
        (void) state;
        const char *yaml = "registries:\n"
                           "  docker.io:\n"
                           "    username: alice\n"
                           "    password: 's3cret: with colon'\n"
                           "  \"Mirror.Example:5000\": {username: robot, password: \"t0k3n\"}\n";
        struct registry_credentials *c = NULL;
        _cleanup_free_ char *err = NULL;
        assert_int_equal(registry_credentials_parse(yaml, strlen(yaml), "creds.yaml", &c, &err), 0);
        const char *u = NULL, *p = NULL;
        assert_true(registry_credentials_lookup(c, "docker.io", &u, &p));
        assert_string_equal(u, "alice");
        assert_string_equal(p, "s3cret: with colon");
        assert_true(registry_credentials_lookup(c, "mirror.example:5000", &u, &p));
        assert_string_equal(u, "robot");
        assert_string_equal(p, "t0k3n");
        assert_false(registry_credentials_lookup(c, "quay.io", &u, &p));
        assert_false(registry_credentials_lookup(c, "mirror.example", &u, &p));
        registry_credentials_free(c);

        /* JSON works too; empty is fine. */
        const char *json = "{\"registries\": {\"quay.io\": {\"username\": \"q\", \"password\": \"w\"}}}";
        assert_int_equal(registry_credentials_parse(json, strlen(json), NULL, &c, &err), 0);
        assert_true(registry_credentials_lookup(c, "QUAY.io", &u, &p));
        registry_credentials_free(c);
        assert_int_equal(registry_credentials_parse("", 0, NULL, &c, &err), 0);
        assert_false(registry_credentials_lookup(c, "docker.io", &u, &p));
        registry_credentials_free(c);

        struct {
                const char *yaml, *text;
        } bad[] = {
                {"registry:\n  docker.io: {username: a, password: hunter2}\n", "unknown key"},
                {"registries:\n  docker.io: {username: a}\n", "registries.docker.io.password"},
                {"registries:\n  docker.io: {username: a, password: ''}\n", "registries.docker.io.password"},
                {"registries:\n  docker.io: {username: 'a:b', password: hunter2}\n", "':' is not allowed"},
                {"registries:\n  docker.io: {username: a, password: hunter2, token: x}\n", "unknown key"},
                {"registries:\n  docker.io: [a, hunter2]\n", "expected a mapping"},
                {"registries:\n  'https://docker.io': {username: a, password: hunter2}\n", "not a host"},
                {"registries: [docker.io]\n", "expected a mapping of registry host"},
                {"registries:\n  docker.io: {username: a, password: \"hunter2\\x01\"}\n",
                 "control characters"},
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *e = NULL;
                c = NULL;
                int r = registry_credentials_parse(bad[i].yaml, strlen(bad[i].yaml), "creds.yaml", &c, &e);
                if (r >= 0)
                        fail_msg("accepted: %s", bad[i].yaml);
                assert_null(c);
                if (!strstr(e, bad[i].text) || !strstr(e, "creds.yaml:"))
                        fail_msg("'%s' does not name '%s'", e, bad[i].text);
                /* The password never appears in a message. */
                assert_null(strstr(e, "hunter2"));
        }

        /* The file: 0600 accepted, readable by others refused. */
        _cleanup_free_ char *dir = make_tmpdir();
        _cleanup_free_ char *path = tu_path(dir, "creds.yaml");
        assert_int_equal(write_file_atomic(path, yaml, strlen(yaml), 0600), 0);
        assert_int_equal(registry_credentials_load(path, &c, &err), 0);
        assert_true(registry_credentials_lookup(c, "docker.io", &u, &p));
        registry_credentials_free(c);
        assert_int_equal(chmod(path, 0644), 0);
        c = NULL;
        assert_int_equal(registry_credentials_load(path, &c, &err), -EPERM);
        assert_null(c);
        assert_non_null(strstr(err, "chmod 600"));
        _cleanup_free_ char *missing = tu_path(dir, "nope.yaml");
        assert_int_equal(registry_credentials_load(missing, &c, &err), -ENOENT);
        assert_int_equal(rm_rf(dir), 0);
}

static void test_cas_put(void **state) {
        (void) state;
        _cleanup_free_ char *dir = make_tmpdir();
        const char *data = "{\"schemaVersion\":2}";
        char hex[SHA256_HEX_LEN + 1];
        assert_int_equal(sha256_buffer(data, strlen(data), hex), 0);
        assert_false(cas_has(dir, hex));
        assert_int_equal(registry_cas_put_buffer(dir, hex, data, strlen(data)), 1);
        assert_true(cas_has(dir, hex));
        assert_int_equal(registry_cas_put_buffer(dir, hex, data, strlen(data)), 0);
        _cleanup_free_ char *path = cas_path(dir, hex);
        _cleanup_free_ char *back = tu_read(path, NULL);
        assert_string_equal(back, data);
        char other[SHA256_HEX_LEN + 1];
        assert_int_equal(sha256_buffer("x", 1, other), 0);
        assert_int_equal(registry_cas_put_buffer(dir, other, data, strlen(data)), -EBADMSG);
        assert_false(cas_has(dir, other));
        assert_int_equal(registry_cas_put_buffer(dir, "ABC", data, strlen(data)), -EINVAL);
        assert_int_equal(rm_rf(dir), 0);
}

/* ---- a fake registry for faults ----------------------------------------------- */

enum {
        FAKE_OK,
        FAKE_BLOB_500_ONCE,  /* the layer answers 500 once, then the content */
        FAKE_BLOB_WRONG,     /* the layer with one byte changed */
        FAKE_BAD_DIGEST_HDR, /* the manifest with another Docker-Content-Digest */
        FAKE_SCHEMA1,
        FAKE_BEARER,          /* /v2/ needs a token from /token (Basic credentials when require_basic) */
        FAKE_BASIC,           /* /v2/ needs Basic credentials */
        FAKE_BEARER_REDIRECT, /* FAKE_BEARER, blobs redirected to "storage" on another host name */
};

#define FAKE_TOKEN "tok-SECRET-4711"
#define FAKE_USER "robot"
#define FAKE_LIAR_DIGEST "sha256:4444444444444444444444444444444444444444444444444444444444444444"
#define FAKE_PASSWORD "pw-SECRET-0815"

struct fake_shared {
        int mode;
        bool require_basic;
        int n_manifest, n_layer, n_config, n_token, n_unauthorized;
        int blob_500_left;
        int n_storage, n_storage_with_auth;
        char accept[512];
        char token_request[512];
};

static struct fake_shared *fake;
static pid_t fake_pid = -1;
static int fake_port;
static char fake_config[256], fake_layer[3000], fake_manifest[1024];
static size_t fake_config_size, fake_manifest_size;
static char fake_config_digest[80], fake_layer_digest[80], fake_manifest_digest[80];

static void fake_send(int fd, const char *data, size_t n) {
        while (n > 0) {
                ssize_t w = write(fd, data, n);
                if (w <= 0)
                        return;
                data += w;
                n -= (size_t) w;
        }
}

static void fake_respond(int fd, bool head, int status, const char *extra, const char *body, size_t size) {
        char h[2048];
        int n = snprintf(h, sizeof h, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n",
                         status, size, extra ? extra : "");
        fake_send(fd, h, (size_t) n);
        if (!head)
                fake_send(fd, body, size);
}

static bool fake_header(const char *req, const char *name, char *out, size_t size) {
        size_t nl = strlen(name);
        for (const char *p = strstr(req, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
                const char *line = p + 2;
                if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
                        const char *v = line + nl + 1;
                        while (*v == ' ')
                                v++;
                        size_t len = strcspn(v, "\r\n");
                        snprintf(out, size, "%.*s", (int) len, v);
                        return true;
                }
        }
        return false;
}

#define ERR_JSON(code, msg) "{\"errors\":[{\"code\":\"" code "\",\"message\":\"" msg "\"}]}"

static void fake_serve_one(int fd) {
        char req[16384];
        size_t len = 0;
        while (len < sizeof req - 1) {
                ssize_t r = read(fd, req + len, sizeof req - 1 - len);
                if (r <= 0)
                        return;
                len += (size_t) r;
                req[len] = 0;
                if (strstr(req, "\r\n\r\n"))
                        break;
        }
        char method[8] = "", path[1024] = "";
        if (sscanf(req, "%7s %1023s", method, path) != 2)
                return;
        bool head = strcmp(method, "HEAD") == 0;
        char auth[512] = "";
        (void) fake_header(req, "Authorization", auth, sizeof auth);

        if (strncmp(path, "/token", 6) == 0) {
                fake->n_token++;
                snprintf(fake->token_request, sizeof fake->token_request, "%s", path);
                if (fake->require_basic) {
                        /* base64("robot:pw-SECRET-0815") */
                        if (strcmp(auth, "Basic cm9ib3Q6cHctU0VDUkVULTA4MTU=") != 0) {
                                const char *b = ERR_JSON("UNAUTHORIZED", "bad credentials");
                                fake_respond(fd, head, 401, NULL, b, strlen(b));
                                return;
                        }
                }
                const char *b = "{\"token\": \"" FAKE_TOKEN "\", \"expires_in\": 300}";
                fake_respond(fd, head, 200, "Content-Type: application/json\r\n", b, strlen(b));
                return;
        }
        if (strncmp(path, "/storage/", 9) == 0) {
                /* Object storage: another host name for the same server. */
                fake->n_storage += !head;
                fake->n_storage_with_auth += !head && auth[0];
                const char *d = path + 9;
                if (strcmp(d, fake_layer_digest) == 0)
                        fake_respond(fd, head, 200, NULL, fake_layer, sizeof fake_layer);
                else if (strcmp(d, fake_config_digest) == 0)
                        fake_respond(fd, head, 200, NULL, fake_config, fake_config_size);
                else
                        fake_respond(fd, head, 404, NULL, "", 0);
                return;
        }
        if ((fake->mode == FAKE_BEARER || fake->mode == FAKE_BEARER_REDIRECT) &&
            strcmp(auth, "Bearer " FAKE_TOKEN) != 0) {
                fake->n_unauthorized++;
                char extra[512];
                snprintf(extra, sizeof extra,
                         "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:%d/token\",service=\"fake "
                         "registry\",scope=\"repository:library/test:pull\"\r\nContent-Type: "
                         "application/json\r\n",
                         fake_port);
                const char *b = ERR_JSON("UNAUTHORIZED", "authentication required");
                fake_respond(fd, head, 401, extra, b, strlen(b));
                return;
        }
        if (fake->mode == FAKE_BASIC && strcmp(auth, "Basic cm9ib3Q6cHctU0VDUkVULTA4MTU=") != 0) {
                fake->n_unauthorized++;
                const char *b = ERR_JSON("UNAUTHORIZED", "authentication required");
                fake_respond(fd, head, 401, "WWW-Authenticate: Basic realm=\"fake\"\r\n", b, strlen(b));
                return;
        }
        if (strcmp(path, "/v2/") == 0) {
                fake_respond(fd, head, 200, NULL, "{}", 2);
                return;
        }
        const char *mp = "/v2/library/test/manifests/";
        const char *bp = "/v2/library/test/blobs/";
        if (strncmp(path, mp, strlen(mp)) == 0) {
                const char *ref = path + strlen(mp);
                fake->n_manifest++;
                (void) fake_header(req, "Accept", fake->accept, sizeof fake->accept);
                if (strcmp(ref, "1.0") != 0 && strcmp(ref, fake_manifest_digest) != 0 &&
                    strcmp(ref, FAKE_LIAR_DIGEST) != 0) {
                        const char *b = ERR_JSON("MANIFEST_UNKNOWN", "manifest unknown");
                        fake_respond(fd, head, 404, "Content-Type: application/json\r\n", b, strlen(b));
                        return;
                }
                char extra[512];
                if (fake->mode == FAKE_SCHEMA1) {
                        const char *b =
                                "{\"schemaVersion\": 1, \"name\": \"library/test\", \"fsLayers\": []}";
                        fake_respond(fd, head, 200,
                                     "Content-Type: "
                                     "application/vnd.docker.distribution.manifest.v1+prettyjws\r\n",
                                     b, strlen(b));
                        return;
                }
                snprintf(extra, sizeof extra, "Content-Type: %s\r\nDocker-Content-Digest: %s\r\n",
                         REGISTRY_MT_OCI_MANIFEST,
                         fake->mode == FAKE_BAD_DIGEST_HDR
                                 ? "sha256:0000000000000000000000000000000000000000000000000000000000000000"
                                 : fake_manifest_digest);
                fake_respond(fd, head, 200, extra, fake_manifest, fake_manifest_size);
                return;
        }
        if (strncmp(path, bp, strlen(bp)) == 0) {
                const char *d = path + strlen(bp);
                if (fake->mode == FAKE_BEARER_REDIRECT) {
                        char extra[1200];
                        snprintf(extra, sizeof extra, "Location: http://localhost:%d/storage/%s\r\n",
                                 fake_port, d);
                        fake_respond(fd, head, 307, extra, "", 0);
                        return;
                }
                if (strcmp(d, fake_config_digest) == 0) {
                        fake->n_config++;
                        fake_respond(fd, head, 200, NULL, fake_config, fake_config_size);
                        return;
                }
                if (strcmp(d, fake_layer_digest) == 0) {
                        /* GETs only: a HEAD is the puller asking whether a
                         * failure was a 401. */
                        fake->n_layer += !head;
                        if (fake->mode == FAKE_BLOB_500_ONCE && fake->blob_500_left > 0) {
                                fake->blob_500_left--;
                                const char *b = ERR_JSON("UNKNOWN", "try again");
                                fake_respond(fd, head, 500, NULL, b, strlen(b));
                                return;
                        }
                        if (fake->mode == FAKE_BLOB_WRONG) {
                                char wrong[sizeof fake_layer];
                                memcpy(wrong, fake_layer, sizeof wrong);
                                wrong[1234] ^= 0x20;
                                fake_respond(fd, head, 200, NULL, wrong, sizeof wrong);
                                return;
                        }
                        fake_respond(fd, head, 200, NULL, fake_layer, sizeof fake_layer);
                        return;
                }
                const char *b = ERR_JSON("BLOB_UNKNOWN", "blob unknown to registry");
                fake_respond(fd, head, 404, NULL, b, strlen(b));
                return;
        }
        fake_respond(fd, head, 404, NULL, "404 page not found\n", 19);
}

static int fake_setup(void **state) {
        (void) state;
        fake = mmap(NULL, sizeof(*fake), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        assert_true(fake != MAP_FAILED);
        memset(fake, 0, sizeof(*fake));

        for (size_t i = 0; i < sizeof fake_layer; i++)
                fake_layer[i] = (char) ((i * 7919u) >> 3);
        digest_of(fake_layer, sizeof fake_layer, fake_layer_digest);
        fake_config_size =
                (size_t) snprintf(fake_config, sizeof fake_config,
                                  "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":"
                                  "\"layers\",\"diff_ids\":[]}}");
        digest_of(fake_config, fake_config_size, fake_config_digest);
        fake_manifest_size = (size_t) snprintf(
                fake_manifest, sizeof fake_manifest,
                "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":\"application/"
                "vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":"
                "\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"%s\",\"size\":%zu}]}",
                REGISTRY_MT_OCI_MANIFEST, fake_config_digest, fake_config_size, fake_layer_digest,
                sizeof fake_layer);
        digest_of(fake_manifest, fake_manifest_size, fake_manifest_digest);

        int lfd = tu_listen_loopback(&fake_port);
        fake_pid = fork();
        assert_true(fake_pid >= 0);
        if (fake_pid == 0) {
                for (;;) {
                        int fd = accept(lfd, NULL, NULL);
                        if (fd < 0)
                                continue;
                        fake_serve_one(fd);
                        shutdown(fd, SHUT_WR);
                        close(fd);
                }
        }
        close(lfd);
        return 0;
}

static int fake_teardown(void **state) {
        (void) state;
        if (fake_pid > 0) {
                kill(fake_pid, SIGKILL);
                waitpid(fake_pid, NULL, 0);
        }
        munmap(fake, sizeof(*fake));
        return 0;
}

static void fake_reset(int mode) {
        memset(fake, 0, sizeof(*fake));
        fake->mode = mode;
}

struct puller_fixture {
        char *cas;
        char endpoint[64];
        struct profile_registry_mirror mirror;
        struct registry_client *client;
        struct imageref ref;
};

static void fixture_init(struct puller_fixture *f, int port, const char *image,
                         const struct registry_credentials *creds) {
        *f = (struct puller_fixture){};
        f->cas = make_tmpdir();
        snprintf(f->endpoint, sizeof f->endpoint, "http://127.0.0.1:%d", port);
        f->mirror = (struct profile_registry_mirror){
                .registry = (char *) "docker.io", .endpoint = f->endpoint, .insecure = true};
        struct registry_options o = {
                .cas_dir = f->cas,
                .mirrors = &f->mirror,
                .n_mirrors = 1,
                .credentials = creds,
                .retry_delay_ms = 20,
        };
        assert_int_equal(registry_client_new(&o, &f->client), 0);
        const char *why = NULL;
        assert_int_equal(imageref_parse(image, &f->ref, &why), 0);
}

static void fixture_done(struct puller_fixture *f) {
        registry_client_free(f->client);
        assert_int_equal(rm_rf(f->cas), 0);
        free(f->cas);
}

static size_t count_files(const char *dir) {
        _cleanup_free_ char *d = tu_path(dir, "sha256");
        DIR *dp = opendir(d);
        if (!dp)
                return 0;
        size_t n = 0;
        struct dirent *de;
        while ((de = readdir(dp)))
                if (strlen(de->d_name) == SHA256_HEX_LEN)
                        n++;
        closedir(dp);
        return n;
}

static void expect_stored_fake(const char *cas) {
        char hex[SHA256_HEX_LEN + 1];
        _cleanup_free_ char *p = cas_path(cas, fake_layer_digest + 7);
        assert_int_equal(sha256_file(p, hex), 0);
        assert_string_equal(hex, fake_layer_digest + 7);
}

static void test_fake_ok_and_accept(void **state) {
        (void) state;
        fake_reset(FAKE_OK);
        struct puller_fixture f;
        fixture_init(&f, fake_port, "test:1.0", NULL);
        struct registry_image img = {};
        _cleanup_free_ char *err = NULL;
        int r = registry_pull(f.client, &f.ref, &amd64, &img, &err);
        if (r < 0)
                fail_msg("%s", err);
        assert_string_equal(img.manifest.digest, fake_manifest_digest);
        assert_string_equal(img.manifest.index_digest, "");
        assert_string_equal(img.config.digest, fake_config_digest);
        assert_int_equal(img.n_layers, 1);
        assert_string_equal(img.layers[0].digest, fake_layer_digest);
        assert_int_equal(img.blobs_downloaded, 2);
        assert_int_equal(img.bytes_downloaded, fake_config_size + sizeof fake_layer);
        assert_true(cas_has(f.cas, fake_manifest_digest + 7));
        /* What the registry saw: the Accept header with the four types. */
        assert_string_equal(fake->accept, REGISTRY_MANIFEST_ACCEPT + strlen("Accept: "));
        registry_image_done(&img);

        /* A tag the registry does not know: the reference, the URL and the
         * registry's error code. */
        struct imageref missing;
        assert_int_equal(imageref_parse("test:nope", &missing, NULL), 0);
        r = registry_pull(f.client, &missing, &amd64, &img, &err);
        assert_int_equal(r, -ENOENT);
        assert_non_null(strstr(err, "docker.io/library/test:nope"));
        assert_non_null(strstr(err, f.endpoint));
        assert_non_null(strstr(err, "HTTP 404 (MANIFEST_UNKNOWN: manifest unknown)"));
        fixture_done(&f);
}

static void test_fake_blob_500_retried(void **state) {
        (void) state;
        fake_reset(FAKE_BLOB_500_ONCE);
        fake->blob_500_left = 1;
        struct puller_fixture f;
        fixture_init(&f, fake_port, "docker.io/library/test:1.0", NULL);
        struct registry_image img = {};
        _cleanup_free_ char *err = NULL;
        int r = registry_pull(f.client, &f.ref, &amd64, &img, &err);
        if (r < 0)
                fail_msg("%s", err);
        assert_int_equal(fake->n_layer, 2); /* the 500, then the content */
        assert_int_equal(fake->blob_500_left, 0);
        assert_true(cas_has(f.cas, fake_layer_digest + 7));
        registry_image_done(&img);

        /* 500 every time: the attempts run out, the error says so. */
        fake_reset(FAKE_BLOB_500_ONCE);
        fake->blob_500_left = 100;
        struct puller_fixture g;
        fixture_init(&g, fake_port, "docker.io/library/test:1.0", NULL);
        r = registry_pull(g.client, &g.ref, &amd64, &img, &err);
        assert_true(r < 0);
        assert_int_equal(fake->n_layer, 4); /* the default attempts */
        assert_non_null(strstr(err, "docker.io/library/test:1.0"));
        assert_non_null(strstr(err, "HTTP 500"));
        assert_non_null(strstr(err, fake_layer_digest));
        assert_false(cas_has(g.cas, fake_layer_digest + 7));
        fixture_done(&g);
        fixture_done(&f);
}

static void test_fake_blob_wrong_content(void **state) {
        (void) state;
        fake_reset(FAKE_BLOB_WRONG);
        struct puller_fixture f;
        fixture_init(&f, fake_port, "test:1.0", NULL);
        struct registry_image img = {};
        _cleanup_free_ char *err = NULL;
        int r = registry_pull(f.client, &f.ref, &amd64, &img, &err);
        assert_int_equal(r, -EBADMSG);
        assert_null(img.layers);
        assert_non_null(strstr(err, "docker.io/library/test:1.0"));
        assert_non_null(strstr(err, fake_layer_digest));
        assert_false(cas_has(f.cas, fake_layer_digest + 7));
        /* Nothing under the layer's name, not even a partial file. */
        _cleanup_free_ char *p = cas_path(f.cas, fake_layer_digest + 7);
        _cleanup_free_ char *partial = NULL;
        assert_true(asprintf(&partial, "%s.partial", p) > 0);
        assert_int_equal(access(p, F_OK), -1);
        assert_int_equal(access(partial, F_OK), -1);
        fixture_done(&f);
}

static void test_fake_manifest_digest_mismatch(void **state) {
        (void) state;
        fake_reset(FAKE_BAD_DIGEST_HDR);
        struct puller_fixture f;
        fixture_init(&f, fake_port, "test:1.0", NULL);
        struct registry_image img = {};
        _cleanup_free_ char *err = NULL;
        int r = registry_pull(f.client, &f.ref, &amd64, &img, &err);
        assert_int_equal(r, -EBADMSG);
        assert_non_null(strstr(err, "does not match Docker-Content-Digest"));
        assert_non_null(strstr(err, f.endpoint));
        assert_int_equal(count_files(f.cas), 0); /* nothing stored */
        assert_int_equal(fake->n_config + fake->n_layer, 0);

        /* By digest: the body must be what was asked for, even when the
         * header agrees with the body (the fake answers this digest with its
         * manifest and that manifest's own digest). */
        fake_reset(FAKE_OK);
        struct imageref liar;
        assert_int_equal(imageref_parse("test@" FAKE_LIAR_DIGEST, &liar, NULL), 0);
        r = registry_pull(f.client, &liar, &amd64, &img, &err);
        assert_int_equal(r, -EBADMSG);
        assert_non_null(strstr(err, "does not match " FAKE_LIAR_DIGEST));
        assert_int_equal(count_files(f.cas), 0);
        assert_int_equal(fake->n_config + fake->n_layer, 0);
        fixture_done(&f);
}

static void test_fake_schema1(void **state) {
        (void) state;
        fake_reset(FAKE_SCHEMA1);
        struct puller_fixture f;
        fixture_init(&f, fake_port, "test:1.0", NULL);
        struct registry_resolved res;
        _cleanup_free_ char *err = NULL;
        int r = registry_resolve(f.client, &f.ref, &amd64, &res, &err);
        assert_int_equal(r, -EPROTONOSUPPORT);
        assert_non_null(strstr(err, "schema 1 is not supported"));
        assert_non_null(strstr(err, "docker.io/library/test:1.0"));
        fixture_done(&f);
}

static char *read_all_fd(int fd) {
        struct stat st;
        assert_int_equal(fstat(fd, &st), 0);
        char *buf = calloc(1, (size_t) st.st_size + 1);
        assert_non_null(buf);
        assert_int_equal(pread(fd, buf, (size_t) st.st_size, 0), st.st_size);
        return buf;
}

static void test_fake_bearer(void **state) {
        (void) state;
        _cleanup_free_ char *dir = make_tmpdir();
        _cleanup_free_ char *logp = tu_path(dir, "log");
        int logfd = open(logp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(logfd >= 0);
        int old_level = log_get_max_level();
        log_set_max_level(LOG_DEBUG);
        log_set_extra_fd(logfd);

        /* Anonymous token flow. */
        fake_reset(FAKE_BEARER);
        struct puller_fixture f;
        fixture_init(&f, fake_port, "test:1.0", NULL);
        struct registry_image img = {};
        _cleanup_free_ char *err = NULL;
        int r = registry_pull(f.client, &f.ref, &amd64, &img, &err);
        if (r < 0)
                fail_msg("%s", err);
        assert_int_equal(img.blobs_downloaded, 2);
        /* One token for the whole image (cached), asked for our scope. */
        assert_int_equal(fake->n_token, 1);
        assert_int_equal(fake->n_unauthorized, 1);
        assert_string_equal(fake->token_request,
                            "/token?service=fake%20registry&scope=repository%3Alibrary%2Ftest%3Apull");
        registry_image_done(&img);
        /* The cache holds for the run: a second image from the same
         * repository asks no token. */
        r = registry_pull(f.client, &f.ref, &amd64, &img, &err);
        if (r < 0)
                fail_msg("%s", err);
        assert_int_equal(fake->n_token, 1);
        registry_image_done(&img);
        fixture_done(&f);

        /* With credentials: sent to the token endpoint as Basic. */
        const char *cy =
                "registries:\n  \"127.0.0.1:%d\": {username: " FAKE_USER ", password: " FAKE_PASSWORD "}\n";
        char ybuf[256];
        snprintf(ybuf, sizeof ybuf, cy, fake_port);
        struct registry_credentials *creds = NULL;
        assert_int_equal(registry_credentials_parse(ybuf, strlen(ybuf), NULL, &creds, &err), 0);
        fake_reset(FAKE_BEARER);
        fake->require_basic = true;
        fixture_init(&f, fake_port, "test:1.0", creds);
        r = registry_pull(f.client, &f.ref, &amd64, &img, &err);
        if (r < 0)
                fail_msg("%s", err);
        assert_int_equal(fake->n_token, 1);
        registry_image_done(&img);
        fixture_done(&f);

        /* Without them the token endpoint refuses: a clear error, logged as
         * the builder would log it. */
        fake_reset(FAKE_BEARER);
        fake->require_basic = true;
        fixture_init(&f, fake_port, "test:1.0", NULL);
        r = registry_pull(f.client, &f.ref, &amd64, &img, &err);
        assert_int_equal(r, -EACCES);
        assert_non_null(strstr(err, "token endpoint"));
        assert_non_null(strstr(err, "UNAUTHORIZED: bad credentials"));
        log_error("%s", err);
        fixture_done(&f);

        /* Basic authentication on the registry itself. */
        fake_reset(FAKE_BASIC);
        fixture_init(&f, fake_port, "test:1.0", creds);
        r = registry_pull(f.client, &f.ref, &amd64, &img, &err);
        if (r < 0)
                fail_msg("%s", err);
        assert_int_equal(fake->n_unauthorized, 1);
        registry_image_done(&img);
        fixture_done(&f);
        fake_reset(FAKE_BASIC);
        fixture_init(&f, fake_port, "test:1.0", NULL);
        r = registry_pull(f.client, &f.ref, &amd64, &img, &err);
        assert_int_equal(r, -EACCES);
        assert_non_null(strstr(err, "credentials file has none for '127.0.0.1:"));
        log_error("%s", err);
        fixture_done(&f);
        registry_credentials_free(creds);

        log_set_extra_fd(-1);
        log_set_max_level(old_level);
        _cleanup_free_ char *logged = read_all_fd(logfd);
        close(logfd);
        assert_non_null(strstr(logged, "token endpoint")); /* the log did capture */
        assert_null(strstr(logged, FAKE_TOKEN));
        assert_null(strstr(logged, FAKE_PASSWORD));
        assert_null(strstr(logged, "cm9ib3Q6cHctU0VDUkVULTA4MTU")); /* base64 of the credentials */
        assert_null(strstr(err, FAKE_TOKEN));
        assert_int_equal(rm_rf(dir), 0);
}

static void test_fake_redirect_drops_auth(void **state) {
        (void) state;
        fake_reset(FAKE_BEARER_REDIRECT);
        struct puller_fixture f;
        fixture_init(&f, fake_port, "test:1.0", NULL);
        struct registry_image img = {};
        _cleanup_free_ char *err = NULL;
        int r = registry_pull(f.client, &f.ref, &amd64, &img, &err);
        if (r < 0)
                fail_msg("%s", err);
        assert_int_equal(img.blobs_downloaded, 2);
        assert_int_equal(fake->n_token, 1);
        /* Both blobs came from "storage", and the token did not go there. */
        assert_int_equal(fake->n_storage, 2);
        assert_int_equal(fake->n_storage_with_auth, 0);
        expect_stored_fake(f.cas);
        registry_image_done(&img);
        fixture_done(&f);
}

/* ---- a real registry ---------------------------------------------------------- */

#define REGISTRY_BIN "/usr/bin/docker-registry"

struct blob {
        char *data;
        size_t size;
        char digest[IMAGEREF_DIGEST_MAX + 1];
};

static struct {
        bool tried, ok;
        char *dir, *layout;
        pid_t pid, tls_pid;
        int port, tls_port;
        struct blob shared, layer_amd64, layer_arm64, config_amd64, config_arm64, manifest_amd64,
                manifest_arm64, index;
} reg = {.pid = -1, .tls_pid = -1};

static void blob_set(struct blob *b, char *data, size_t size) {
        b->data = data;
        b->size = size;
        digest_of(data, size, b->digest);
}

static void blob_text(struct blob *b, const char *fmt, ...) _printf_(2, 3);
static void blob_text(struct blob *b, const char *fmt, ...) {
        va_list ap;
        char *s = NULL;
        va_start(ap, fmt);
        assert_true(vasprintf(&s, fmt, ap) > 0);
        va_end(ap);
        blob_set(b, s, strlen(s));
}

/* A layer: a tar with one file (libarchive), gzipped (zlib); the diff ID is
 * the digest of the tar. */
static void make_layer(struct blob *b, char diff_id[IMAGEREF_DIGEST_MAX + 1], const char *name,
                       const char *text) {
        struct archive *a = archive_write_new();
        assert_non_null(a);
        assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
        size_t cap = 1 << 16, used = 0;
        char *tar = calloc(1, cap);
        assert_non_null(tar);
        assert_int_equal(archive_write_open_memory(a, tar, cap, &used), ARCHIVE_OK);
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, name);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, (la_int64_t) strlen(text));
        archive_entry_set_mtime(e, 1700000000, 0);
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        assert_int_equal(archive_write_data(a, text, strlen(text)), (la_ssize_t) strlen(text));
        archive_entry_free(e);
        assert_int_equal(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
        digest_of(tar, used, diff_id);

        z_stream z = {};
        assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
        uLong gcap = deflateBound(&z, (uLong) used) + 64;
        char *gz = malloc(gcap);
        assert_non_null(gz);
        z.next_in = (Bytef *) tar;
        z.avail_in = (uInt) used;
        z.next_out = (Bytef *) gz;
        z.avail_out = (uInt) gcap;
        assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
        size_t gsize = z.total_out;
        deflateEnd(&z);
        free(tar);
        blob_set(b, gz, gsize);
}

static void layout_put(const struct blob *b) {
        _cleanup_free_ char *p = NULL;
        assert_true(asprintf(&p, "%s/blobs/sha256/%s", reg.layout, b->digest + 7) > 0);
        assert_int_equal(write_file_atomic(p, b->data, b->size, 0644), 0);
}

static void make_image(struct blob *config, struct blob *manifest, struct blob *layer, const char *arch,
                       const char *variant, const char *shared_diff) {
        char diff[IMAGEREF_DIGEST_MAX + 1];
        char file[64], text[64];
        snprintf(file, sizeof file, "etc/hello-%s", arch);
        snprintf(text, sizeof text, "hello from %s\n", arch);
        make_layer(layer, diff, file, text);
        blob_text(config,
                  "{\"architecture\":\"%s\",%s%s%s\"os\":\"linux\",\"config\":{\"Cmd\":[\"/bin/true\"]},"
                  "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\",\"%s\"]}}",
                  arch, variant ? "\"variant\":\"" : "", variant ? variant : "", variant ? "\"," : "",
                  shared_diff, diff);
        blob_text(manifest,
                  "{\"schemaVersion\":2,\"mediaType\":\"" REGISTRY_MT_OCI_MANIFEST
                  "\",\"config\":{\"mediaType\":"
                  "\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":%zu},\"layers\":["
                  "{\"mediaType\":\"application/"
                  "vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"%s\",\"size\":%zu},"
                  "{\"mediaType\":\"application/"
                  "vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"%s\",\"size\":%zu}]}",
                  config->digest, config->size, reg.shared.digest, reg.shared.size, layer->digest,
                  layer->size);
        layout_put(layer);
        layout_put(config);
        layout_put(manifest);
}

static bool registry_answers(int port, bool tls) {
        char url[64];
        snprintf(url, sizeof url, "%s://127.0.0.1:%d/v2/", tls ? "https" : "http", port);
        _cleanup_free_ char *ca = tls ? tu_path(reg.dir, "ca.pem") : NULL;
        struct http_request req = {.url = url, .timeout_ms = 1000, .connect_timeout_ms = 500, .ca_file = ca};
        struct http_response resp = {};
        int r = http_perform(&req, &resp);
        bool ok = r == 0 && resp.status == 200;
        http_response_done(&resp);
        return ok;
}

/* Runs docker-registry on a free loopback port with storage under reg.dir
 * (shared by every instance); `tls` is "certificate: ...\n key: ..." or
 * NULL. Returns the pid once it answers. */
static pid_t start_registry(const char *name, const char *tls, int *ret_port) {
        int port;
        int lfd = tu_listen_loopback(&port);
        close(lfd); /* the registry binds it next */
        _cleanup_free_ char *config = NULL, *cfg_name = NULL, *log_name = NULL;
        assert_true(asprintf(&config,
                             "version: 0.1\n"
                             "log:\n  level: error\n  accesslog:\n    disabled: true\n"
                             "storage:\n  filesystem:\n    rootdirectory: %s/storage\n"
                             "  maintenance:\n    uploadpurging:\n      enabled: false\n"
                             "http:\n  addr: 127.0.0.1:%d\n%s",
                             reg.dir, port, tls ? tls : "") > 0);
        assert_true(asprintf(&cfg_name, "%s.yml", name) > 0);
        assert_true(asprintf(&log_name, "%s.log", name) > 0);
        tu_write_in(reg.dir, cfg_name, config);
        _cleanup_free_ char *cfg = tu_path(reg.dir, cfg_name);
        _cleanup_free_ char *logp = tu_path(reg.dir, log_name);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                setpgid(0, 0);
                int fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
                int null = open("/dev/null", O_RDONLY);
                if (fd >= 0) {
                        dup2(fd, 1);
                        dup2(fd, 2);
                }
                if (null >= 0)
                        dup2(null, 0);
                execl(REGISTRY_BIN, "docker-registry", "serve", cfg, (char *) NULL);
                _exit(127);
        }
        for (int i = 0; i < 200 && !registry_answers(port, tls != NULL); i++) {
                struct timespec ts = {0, 50 * 1000 * 1000};
                nanosleep(&ts, NULL);
                if (waitpid(pid, NULL, WNOHANG) == pid) {
                        _cleanup_free_ char *log = tu_read(logp, NULL);
                        fail_msg("docker-registry exited: %s", log);
                }
        }
        if (!registry_answers(port, tls != NULL))
                fail_msg("docker-registry does not answer on 127.0.0.1:%d", port);
        *ret_port = port;
        return pid;
}

static void stop_registry(pid_t pid) {
        if (pid <= 0)
                return;
        kill(-pid, SIGTERM);
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
}

static void skopeo_push(const char *tag, bool all) {
        _cleanup_free_ char *src = NULL, *dst = NULL;
        assert_true(asprintf(&src, "oci:%s:%s", reg.layout, tag) > 0);
        assert_true(asprintf(&dst, "docker://127.0.0.1:%d/library/test:%s", reg.port, tag) > 0);
        if (all)
                TU_RUN_IN(reg.dir, "skopeo", "--insecure-policy", "copy", "--quiet", "--all",
                          "--preserve-digests", "--dest-tls-verify=false", src, dst);
        else
                TU_RUN_IN(reg.dir, "skopeo", "--insecure-policy", "copy", "--quiet", "--preserve-digests",
                          "--dest-tls-verify=false", src, dst);
}

/* Starts the registry and seeds it, once; skips when the tools are absent. */
static void need_registry(void) {
        if (!reg.tried) {
                reg.tried = true;
                if (access(REGISTRY_BIN, X_OK) < 0 || access("/usr/bin/skopeo", X_OK) < 0) {
                        print_message(
                                "docker-registry or skopeo not installed (apt-get install docker-registry "
                                "skopeo): skipping the real-registry tests\n");
                        return;
                }
                reg.dir = make_tmpdir();
                reg.layout = tu_path(reg.dir, "layout");
                _cleanup_free_ char *blobs = tu_path(reg.layout, "blobs/sha256");
                assert_int_equal(mkdir_p(blobs, 0755), 0);
                tu_write_in(reg.layout, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");

                char shared_diff[IMAGEREF_DIGEST_MAX + 1];
                make_layer(&reg.shared, shared_diff, "etc/shared", "the layer both architectures share\n");
                layout_put(&reg.shared);
                make_image(&reg.config_amd64, &reg.manifest_amd64, &reg.layer_amd64, "amd64", NULL,
                           shared_diff);
                make_image(&reg.config_arm64, &reg.manifest_arm64, &reg.layer_arm64, "arm64", "v8",
                           shared_diff);
                blob_text(&reg.index,
                          "{\"schemaVersion\":2,\"mediaType\":\"" REGISTRY_MT_OCI_INDEX "\",\"manifests\":["
                          "{\"mediaType\":\"" REGISTRY_MT_OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":%zu,"
                          "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
                          "{\"mediaType\":\"" REGISTRY_MT_OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":%zu,"
                          "\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"}}]}",
                          reg.manifest_amd64.digest, reg.manifest_amd64.size, reg.manifest_arm64.digest,
                          reg.manifest_arm64.size);
                layout_put(&reg.index);
                _cleanup_free_ char *index_json = NULL;
                assert_true(
                        asprintf(&index_json,
                                 "{\"schemaVersion\":2,\"manifests\":["
                                 "{\"mediaType\":\"" REGISTRY_MT_OCI_INDEX
                                 "\",\"digest\":\"%s\",\"size\":%zu,"
                                 "\"annotations\":{\"org.opencontainers.image.ref.name\":\"1.0\"}},"
                                 "{\"mediaType\":\"" REGISTRY_MT_OCI_MANIFEST
                                 "\",\"digest\":\"%s\",\"size\":%zu,"
                                 "\"annotations\":{\"org.opencontainers.image.ref.name\":\"amd64-only\"}}]}",
                                 reg.index.digest, reg.index.size, reg.manifest_amd64.digest,
                                 reg.manifest_amd64.size) > 0);
                tu_write_in(reg.layout, "index.json", index_json);

                reg.pid = start_registry("plain", NULL, &reg.port);
                skopeo_push("1.0", true);
                skopeo_push("amd64-only", false);
                reg.ok = true;
        }
        if (!reg.ok)
                skip();
}

static int registry_teardown(void **state) {
        (void) state;
        stop_registry(reg.pid);
        stop_registry(reg.tls_pid);
        if (reg.dir)
                (void) rm_rf(reg.dir);
        free(reg.dir);
        free(reg.layout);
        struct blob *all[] = {&reg.shared,       &reg.layer_amd64,    &reg.layer_arm64,    &reg.config_amd64,
                              &reg.config_arm64, &reg.manifest_amd64, &reg.manifest_arm64, &reg.index};
        for (size_t i = 0; i < ELEMENTSOF(all); i++)
                free(all[i]->data);
        return 0;
}

static void expect_stored(const char *cas, const char *digest) {
        _cleanup_free_ char *p = cas_path(cas, digest + 7);
        char hex[SHA256_HEX_LEN + 1];
        int r = sha256_file(p, hex);
        if (r < 0)
                fail_msg("%s is not in the store (%d)", digest, r);
        assert_string_equal(hex, digest + 7);
}

static void pull_ok(struct puller_fixture *f, const char *image, const struct platform_target *t,
                    struct registry_image *img) {
        const char *why = NULL;
        assert_int_equal(imageref_parse(image, &f->ref, &why), 0);
        _cleanup_free_ char *err = NULL;
        int r = registry_pull(f->client, &f->ref, t, img, &err);
        if (r < 0)
                fail_msg("pull %s: %s", image, err);
}

static void expect_image(const char *cas, const struct registry_image *img, const struct blob *manifest,
                         const struct blob *config, const struct blob *layer, const char *index) {
        assert_string_equal(img->manifest.digest, manifest->digest);
        assert_int_equal(img->manifest.size, manifest->size);
        assert_string_equal(img->manifest.media_type, REGISTRY_MT_OCI_MANIFEST);
        assert_string_equal(img->manifest.index_digest, index);
        assert_string_equal(img->config.digest, config->digest);
        assert_int_equal(img->n_layers, 2);
        assert_string_equal(img->layers[0].digest, reg.shared.digest);
        assert_string_equal(img->layers[1].digest, layer->digest);
        expect_stored(cas, manifest->digest);
        if (index[0])
                expect_stored(cas, index);
        expect_stored(cas, config->digest);
        expect_stored(cas, reg.shared.digest);
        expect_stored(cas, layer->digest);
}

static struct timespec mtime_of(const char *cas, const char *digest) {
        _cleanup_free_ char *p = cas_path(cas, digest + 7);
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        return st.st_mtim;
}

static void test_real_pull_platforms(void **state) {
        (void) state;
        need_registry();
        struct puller_fixture f;
        fixture_init(&f, reg.port, "docker.io/library/test:1.0", NULL);
        struct registry_image img = {};

        pull_ok(&f, "docker.io/library/test:1.0", &amd64, &img);
        expect_image(f.cas, &img, &reg.manifest_amd64, &reg.config_amd64, &reg.layer_amd64,
                     reg.index.digest);
        assert_string_equal(img.manifest.platform, "linux/amd64");
        assert_string_equal(img.manifest.index_media_type, REGISTRY_MT_OCI_INDEX);
        assert_int_equal(img.manifest.index_size, reg.index.size);
        assert_int_equal(img.blobs_downloaded, 3);
        assert_int_equal(img.bytes_downloaded,
                         reg.config_amd64.size + reg.shared.size + reg.layer_amd64.size);
        registry_image_done(&img);

        /* arm64: the shared layer is already in the store. */
        pull_ok(&f, "test:1.0", &arm64, &img);
        expect_image(f.cas, &img, &reg.manifest_arm64, &reg.config_arm64, &reg.layer_arm64,
                     reg.index.digest);
        assert_string_equal(img.manifest.platform, "linux/arm64/v8");
        assert_int_equal(img.blobs_downloaded, 2);
        assert_int_equal(img.bytes_downloaded, reg.config_arm64.size + reg.layer_arm64.size);
        registry_image_done(&img);

        /* Again: nothing downloaded, no blob rewritten. */
        const struct blob *blobs[] = {&reg.config_amd64, &reg.shared, &reg.layer_amd64};
        struct timespec before[3];
        for (size_t i = 0; i < 3; i++)
                before[i] = mtime_of(f.cas, blobs[i]->digest);
        size_t files = count_files(f.cas);
        pull_ok(&f, "test:1.0", &amd64, &img);
        assert_int_equal(img.blobs_downloaded, 0);
        assert_int_equal(img.bytes_downloaded, 0);
        for (size_t i = 0; i < 3; i++) {
                struct timespec after = mtime_of(f.cas, blobs[i]->digest);
                assert_true(after.tv_sec == before[i].tv_sec && after.tv_nsec == before[i].tv_nsec);
        }
        /* 2 manifests + index + 2 configs + 3 layers */
        assert_int_equal(files, 8);
        assert_int_equal(count_files(f.cas), 8);
        registry_image_done(&img);

        /* A single-arch tag. */
        pull_ok(&f, "test:amd64-only", &amd64, &img);
        expect_image(f.cas, &img, &reg.manifest_amd64, &reg.config_amd64, &reg.layer_amd64, "");
        assert_string_equal(img.manifest.platform, "");
        registry_image_done(&img);

        /* The same single-arch tag for arm64: no index says what it is for,
         * its config does; refused before any layer is downloaded. */
        {
                struct puller_fixture g;
                fixture_init(&g, reg.port, "test:amd64-only", NULL);
                _cleanup_free_ char *perr = NULL;
                assert_int_equal(registry_pull(g.client, &g.ref, &arm64, &img, &perr), -ENOEXEC);
                assert_non_null(strstr(perr, "docker.io/library/test:amd64-only"));
                assert_non_null(strstr(perr, reg.config_amd64.digest));
                assert_non_null(strstr(perr, "the image is for linux/amd64 (its config says so), not "
                                             "linux/arm64/v8"));
                /* the manifest and the config only: no layer */
                assert_int_equal(count_files(g.cas), 2);
                fixture_done(&g);
        }

        /* No arm/v7 in the index: the platforms it has are named. */
        _cleanup_free_ char *err = NULL;
        const char *why = NULL;
        assert_int_equal(imageref_parse("test:1.0", &f.ref, &why), 0);
        int r = registry_pull(f.client, &f.ref, &armv7, &img, &err);
        assert_int_equal(r, -ENOENT);
        assert_non_null(strstr(err, "no image for linux/arm/v7"));
        assert_non_null(strstr(err, "linux/amd64"));
        assert_non_null(strstr(err, "linux/arm64/v8"));
        assert_non_null(strstr(err, "docker.io/library/test:1.0"));

        /* An unknown tag, from the real registry. */
        assert_int_equal(imageref_parse("test:2.0", &f.ref, &why), 0);
        r = registry_pull(f.client, &f.ref, &amd64, &img, &err);
        assert_int_equal(r, -ENOENT);
        assert_non_null(strstr(err, "MANIFEST_UNKNOWN"));
        assert_non_null(strstr(err, f.endpoint));
        fixture_done(&f);
}

/* Several images in one call: every blob once across them, and a failure
 * names which image it is about. */
static void test_real_pull_many(void **state) {
        (void) state;
        need_registry();
        struct puller_fixture f;
        fixture_init(&f, reg.port, "test:1.0", NULL);
        struct imageref refs[2];
        assert_int_equal(imageref_parse("test:1.0", &refs[0], NULL), 0);
        assert_int_equal(imageref_parse("test:amd64-only", &refs[1], NULL), 0);
        struct registry_image imgs[2] = {};
        _cleanup_free_ char *err = NULL;
        size_t failed = 99;
        int r = registry_pull_many(f.client, refs, 2, &amd64, imgs, &failed, &err);
        if (r < 0)
                fail_msg("%s", err);
        /* The same amd64 image twice: once through the index, once by its
         * single-arch tag; config, shared layer and own layer downloaded
         * once in all. */
        expect_image(f.cas, &imgs[0], &reg.manifest_amd64, &reg.config_amd64, &reg.layer_amd64,
                     reg.index.digest);
        expect_image(f.cas, &imgs[1], &reg.manifest_amd64, &reg.config_amd64, &reg.layer_amd64, "");
        assert_int_equal(imgs[0].blobs_downloaded + imgs[1].blobs_downloaded, 3);
        assert_int_equal(imgs[0].bytes_downloaded + imgs[1].bytes_downloaded,
                         reg.config_amd64.size + reg.shared.size + reg.layer_amd64.size);
        assert_int_equal(failed, 99); /* untouched on success */
        registry_image_done(&imgs[0]);
        registry_image_done(&imgs[1]);

        assert_int_equal(imageref_parse("test:2.0", &refs[1], NULL), 0);
        r = registry_pull_many(f.client, refs, 2, &amd64, imgs, &failed, &err);
        assert_int_equal(r, -ENOENT);
        assert_int_equal(failed, 1);
        assert_non_null(strstr(err, "docker.io/library/test:2.0"));
        fixture_done(&f);
}

static void test_real_pull_by_digest(void **state) {
        (void) state;
        need_registry();
        struct puller_fixture f;
        fixture_init(&f, reg.port, "docker.io/library/test:1.0", NULL);
        struct registry_image img = {};
        _cleanup_free_ char *by_index = NULL, *by_manifest = NULL, *both = NULL;
        assert_true(asprintf(&by_index, "test@%s", reg.index.digest) > 0);
        assert_true(asprintf(&by_manifest, "docker.io/library/test@%s", reg.manifest_arm64.digest) > 0);
        assert_true(asprintf(&both, "test:moved@%s", reg.index.digest) > 0);

        pull_ok(&f, by_index, &arm64, &img);
        expect_image(f.cas, &img, &reg.manifest_arm64, &reg.config_arm64, &reg.layer_arm64,
                     reg.index.digest);
        registry_image_done(&img);
        /* tag + digest: the digest wins (the tag "moved" does not exist). */
        pull_ok(&f, both, &amd64, &img);
        expect_image(f.cas, &img, &reg.manifest_amd64, &reg.config_amd64, &reg.layer_amd64,
                     reg.index.digest);
        registry_image_done(&img);

        /* A fresh store, straight to the platform's manifest. */
        struct puller_fixture g;
        fixture_init(&g, reg.port, "test:1.0", NULL);
        pull_ok(&g, by_manifest, &arm64, &img);
        expect_image(g.cas, &img, &reg.manifest_arm64, &reg.config_arm64, &reg.layer_arm64, "");
        assert_int_equal(img.blobs_downloaded, 3);
        registry_image_done(&img);
        fixture_done(&g);

        /* Pinned by digest with everything in the store: no network needed
         * (the mirror now points at a closed port). */
        int dead_port;
        int lfd = tu_listen_loopback(&dead_port);
        close(lfd);
        struct profile_registry_mirror dead = {.registry = (char *) "docker.io", .insecure = true};
        char dead_url[64];
        snprintf(dead_url, sizeof dead_url, "http://127.0.0.1:%d", dead_port);
        dead.endpoint = dead_url;
        struct registry_options o = {
                .cas_dir = f.cas, .mirrors = &dead, .n_mirrors = 1, .retry_delay_ms = 1};
        _cleanup_(registry_client_freep) struct registry_client *offline = NULL;
        assert_int_equal(registry_client_new(&o, &offline), 0);
        struct imageref ref;
        assert_int_equal(imageref_parse(by_index, &ref, NULL), 0);
        _cleanup_free_ char *err = NULL;
        int r = registry_pull(offline, &ref, &amd64, &img, &err);
        if (r < 0)
                fail_msg("%s", err);
        assert_string_equal(img.manifest.digest, reg.manifest_amd64.digest);
        assert_int_equal(img.blobs_downloaded, 0);
        registry_image_done(&img);
        /* ... while a tag needs the registry: connection refused, named. */
        assert_int_equal(imageref_parse("test:1.0", &ref, NULL), 0);
        r = registry_pull(offline, &ref, &amd64, &img, &err);
        assert_int_equal(r, -ECONNREFUSED);
        assert_non_null(strstr(err, dead_url));
        assert_non_null(strstr(err, "docker.io/library/test:1.0"));
        fixture_done(&f);
}

/* The same registry over TLS with a certificate from a test CA: the mirror's
 * CA file is trusted, the wrong CA (or none: the system's) is refused. */
static void test_real_tls_mirror(void **state) {
        (void) state;
        need_registry();
        if (reg.tls_pid < 0) {
                tu_make_ca(reg.dir, "ca", "kubeseed test registry CA", true);
                tu_make_ca(reg.dir, "other", "someone else", true);
                tu_make_leaf(reg.dir, "leaf", "ca", "42");
                _cleanup_free_ char *tls = NULL;
                assert_true(asprintf(&tls, "  tls:\n    certificate: %s/leaf.pem\n    key: %s/leaf.key\n",
                                     reg.dir, reg.dir) > 0);
                reg.tls_pid = start_registry("tls", tls, &reg.tls_port);
        }
        char url[64];
        snprintf(url, sizeof url, "https://127.0.0.1:%d", reg.tls_port);
        _cleanup_free_ char *ca = tu_path(reg.dir, "ca.pem");
        _cleanup_free_ char *other = tu_path(reg.dir, "other.pem");
        struct {
                const char *ca_file;
                int result;
        } cases[] = {{ca, 0}, {other, -EPERM}, {NULL, -EPERM}};
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *cas = make_tmpdir();
                struct profile_registry_mirror m = {.registry = (char *) "docker.io",
                                                    .endpoint = url,
                                                    .ca_file = (char *) cases[i].ca_file};
                struct registry_options o = {
                        .cas_dir = cas, .mirrors = &m, .n_mirrors = 1, .retry_delay_ms = 1};
                _cleanup_(registry_client_freep) struct registry_client *c = NULL;
                assert_int_equal(registry_client_new(&o, &c), 0);
                struct imageref ref;
                assert_int_equal(imageref_parse("test:1.0", &ref, NULL), 0);
                struct registry_image img = {};
                _cleanup_free_ char *err = NULL;
                int r = registry_pull(c, &ref, &arm64, &img, &err);
                if (r != cases[i].result)
                        fail_msg("CA %s: expected %d, got %d: %s",
                                 cases[i].ca_file ? cases[i].ca_file : "(system)", cases[i].result, r,
                                 err ? err : "");
                if (r == 0) {
                        expect_image(cas, &img, &reg.manifest_arm64, &reg.config_arm64, &reg.layer_arm64,
                                     reg.index.digest);
                        assert_int_equal(img.blobs_downloaded, 3);
                } else {
                        assert_non_null(strstr(err, url));
                        assert_non_null(strstr(err, "docker.io/library/test:1.0"));
                        assert_int_equal(count_files(cas), 0);
                }
                registry_image_done(&img);
                assert_int_equal(rm_rf(cas), 0);
        }
}

int main(void) {
        const struct CMUnitTest pure[] = {
                cmocka_unit_test(test_endpoint),          cmocka_unit_test(test_challenges_ok),
                cmocka_unit_test(test_challenges_bad),    cmocka_unit_test(test_token_url),
                cmocka_unit_test(test_token_parse),       cmocka_unit_test(test_media_types),
                cmocka_unit_test(test_manifest_parse_ok), cmocka_unit_test(test_manifest_parse_bad),
                cmocka_unit_test(test_error_summary),     cmocka_unit_test(test_credentials),
                cmocka_unit_test(test_cas_put),
        };
        const struct CMUnitTest faults[] = {
                cmocka_unit_test(test_fake_ok_and_accept),
                cmocka_unit_test(test_fake_blob_500_retried),
                cmocka_unit_test(test_fake_blob_wrong_content),
                cmocka_unit_test(test_fake_manifest_digest_mismatch),
                cmocka_unit_test(test_fake_schema1),
                cmocka_unit_test(test_fake_bearer),
                cmocka_unit_test(test_fake_redirect_drops_auth),
        };
        const struct CMUnitTest real[] = {
                cmocka_unit_test(test_real_pull_platforms),
                cmocka_unit_test(test_real_pull_many),
                cmocka_unit_test(test_real_pull_by_digest),
                cmocka_unit_test(test_real_tls_mirror),
        };
        int failed = cmocka_run_group_tests_name("registry-pure", pure, NULL, NULL);
        failed += cmocka_run_group_tests_name("registry-faults", faults, fake_setup, fake_teardown);
        failed += cmocka_run_group_tests_name("registry-real", real, NULL, registry_teardown);
        return failed;
}
