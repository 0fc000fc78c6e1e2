/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "addon.h"
#include "fsutil.h"
#include "macro.h"
#include "strv.h"
#include "yamltree.h"

/* The repository's own catalogue; the tests run from the repository root. */
#define ADDONS_DIR "addons/"

#define HEX_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define KNOWN_VARS                                                                                          \
        "pod-subnet, service-subnet, cluster-name, node-count, replicas, mon-count, single-node, "          \
        "multi-node"
#define MANIFEST_URL "manifests:\n  - url: https://example.com/a.yaml\n"

/* ---- helpers ------------------------------------------------------------- */

static int parse_text(const char *filename, const char *text, struct addon_catalog *cat, char **err) {
        return addon_catalog_parse(filename, text, strlen(text), cat, err);
}

/* `text` is refused with exactly `want` (and -EBADMSG unless told). */
static void expect_parse_error_r(const char *text, int want_r, const char *want) {
        _cleanup_addon_catalog_ struct addon_catalog cat = {0};
        _cleanup_free_ char *err = NULL;
        int r = parse_text("f.yaml", text, &cat, &err);
        if (r >= 0)
                fail_msg("accepted:\n%s", text);
        if (r != want_r || !err || !streq(err, want))
                fail_msg("for:\n%s\ngot %d '%s'\nexpected %d '%s'", text, r, err ? err : "(null)", want_r,
                         want);
        assert_int_equal(cat.n_defs, 0);
}
#define expect_parse_error(text, want) expect_parse_error_r((text), -EBADMSG, (want))

/* The same, checking the message after "f.yaml:LINE:COLUMN: " (only that
 * there is one when want_tail is ""). */
static void expect_parse_error_tail(const char *text, const char *want_tail) {
        _cleanup_addon_catalog_ struct addon_catalog cat = {0};
        _cleanup_free_ char *err = NULL;
        int r = parse_text("f.yaml", text, &cat, &err);
        const char *tail = err && strncmp(err, "f.yaml:", 7) == 0 ? strstr(err + 7, ": ") : NULL;
        if (r != -EBADMSG || !tail || (*want_tail && !streq(tail + 2, want_tail)))
                fail_msg("for:\n%s\ngot %d '%s'\nexpected -EBADMSG 'f.yaml:L:C: %s'", text, r,
                         err ? err : "(null)", want_tail);
}

static void parse_ok(const char *text, struct addon_catalog *cat) {
        _cleanup_free_ char *err = NULL;
        int r = parse_text("f.yaml", text, cat, &err);
        if (r < 0)
                fail_msg("refused (%d): %s\n%s", r, err ? err : "?", text);
        assert_null(err);
}

static void assert_strv(char *const *got, const char *const *want) {
        assert_non_null(got);
        size_t i = 0;
        for (; want[i]; i++) {
                if (!got[i])
                        fail_msg("list ends at %zu, expected '%s'", i, want[i]);
                if (!streq(got[i], want[i])) {
                        _cleanup_free_ char *all = strv_join(got, ", ");
                        fail_msg("[%zu] is '%s', expected '%s' (got: %s)", i, got[i], want[i], all);
                }
        }
        if (got[i])
                fail_msg("list has more than %zu items: '%s'", i, got[i]);
}
#define ASSERT_STRV(got, ...) assert_strv((got), (const char *const[]){__VA_ARGS__, NULL})
#define ASSERT_STRV_EMPTY(got)                                                                              \
        do {                                                                                                \
                assert_non_null(got);                                                                       \
                assert_null((got)[0]);                                                                      \
        } while (0)

/* ---- parsing --------------------------------------------------------------- */

static const char full_def[] = "# every key\n"
                               "name: rook-x\n"
                               "category: storage\n"
                               "description: 'A test: every key, # not a comment'\n"
                               "default: true\n"
                               "depends: [cni, other-one]\n"
                               "manifests:\n"
                               "  - url: https://example.com/a.yaml\n"
                               "    sha256: " HEX_A "\n"
                               "    server-side: true\n"
                               "  - file: sub/b.yaml\n"
                               "    server-side: false\n"
                               "    substitute:\n"
                               "      - find: 'count: 3'\n"
                               "        with: 'count: ${mon-count}'\n"
                               "      - find: '\"Network\": \"10.244.0.0/16\"'\n"
                               "        with: '\"Network\": \"${pod-subnet}\" # ${cluster-name}'\n"
                               "images: [quay.io/ceph/ceph:v18.2.4, registry.k8s.io/pause:3.10]\n"
                               "ready:\n"
                               "  timeout: 20m\n"
                               "  checks:\n"
                               "    - {kind: deployment, namespace: ns, name: op}\n"
                               "    - kind: cephclusters.ceph.rook.io\n"
                               "      namespace: rook-ceph\n"
                               "      name: rc\n"
                               "      jsonpath: '{.status.phase}'\n"
                               "      equals: Ready\n";

/* Every field of the full definition above, as parsed. */
static void assert_full_def(const struct addon_def *d) {
        assert_string_equal(d->name, "rook-x");
        assert_string_equal(d->category, "storage");
        assert_string_equal(d->description, "A test: every key, # not a comment");
        assert_true(d->is_default);
        ASSERT_STRV(d->depends, "cni", "other-one");
        assert_int_equal(d->n_manifests, 2);
        const struct addon_manifest *m = &d->manifests[0];
        assert_string_equal(m->url, "https://example.com/a.yaml");
        assert_null(m->file);
        assert_string_equal(m->sha256, HEX_A);
        assert_true(m->server_side);
        assert_int_equal(m->n_subs, 0);
        m = &d->manifests[1];
        assert_null(m->url);
        assert_string_equal(m->file, "sub/b.yaml");
        assert_null(m->sha256);
        assert_false(m->server_side);
        assert_int_equal(m->n_subs, 2);
        assert_string_equal(m->subs[0].find, "count: 3");
        assert_string_equal(m->subs[0].with, "count: ${mon-count}");
        assert_string_equal(m->subs[1].find, "\"Network\": \"10.244.0.0/16\"");
        assert_string_equal(m->subs[1].with, "\"Network\": \"${pod-subnet}\" # ${cluster-name}");
        ASSERT_STRV(d->images, "quay.io/ceph/ceph:v18.2.4", "registry.k8s.io/pause:3.10");
        assert_int_equal(d->timeout_sec, 20 * 60);
        assert_int_equal(d->n_checks, 2);
        const struct addon_check *c = &d->checks[0];
        assert_string_equal(c->kind, "deployment");
        assert_string_equal(c->namespace, "ns");
        assert_string_equal(c->name, "op");
        assert_null(c->jsonpath);
        assert_null(c->equals);
        c = &d->checks[1];
        assert_string_equal(c->kind, "cephclusters.ceph.rook.io");
        assert_string_equal(c->namespace, "rook-ceph");
        assert_string_equal(c->name, "rc");
        assert_string_equal(c->jsonpath, "{.status.phase}");
        assert_string_equal(c->equals, "Ready");
}

static void test_parse_full(void **unused) {
        (void) unused;
        _cleanup_addon_catalog_ struct addon_catalog cat = {0};
        parse_ok(full_def, &cat);
        assert_int_equal(cat.n_defs, 1);
        assert_full_def(&cat.defs[0]);
        /* The document starts on line 2, after the comment. */
        assert_string_equal(cat.defs[0].origin, "f.yaml:2");
        assert_ptr_equal(addon_catalog_find(&cat, "rook-x"), &cat.defs[0]);
        assert_null(addon_catalog_find(&cat, "rook"));

        /* The same through addon_parse() on a tree. */
        _cleanup_ynode_ struct ynode *doc = NULL;
        _cleanup_free_ char *yerr = NULL, *err = NULL;
        assert_int_equal(yaml_parse_one(full_def, strlen(full_def), NULL, &doc, &yerr), 0);
        struct addon_def d = {0};
        assert_int_equal(addon_parse("g.yaml", doc, &d, &err), 0);
        assert_null(err);
        assert_full_def(&d);
        assert_string_equal(d.origin, "g.yaml:2");
        addon_def_done(&d);
        assert_null(d.name);
        addon_def_done(&d); /* twice is fine */
}

/* The smallest definition: every optional field at its default. */
static void test_parse_minimal(void **unused) {
        (void) unused;
        _cleanup_addon_catalog_ struct addon_catalog cat = {0};
        parse_ok("name: a\ncategory: other\n" MANIFEST_URL, &cat);
        assert_int_equal(cat.n_defs, 1);
        const struct addon_def *d = &cat.defs[0];
        assert_string_equal(d->name, "a");
        assert_null(d->description);
        assert_false(d->is_default);
        ASSERT_STRV_EMPTY(d->depends); /* never NULL */
        ASSERT_STRV_EMPTY(d->images);
        assert_int_equal(d->n_manifests, 1);
        assert_false(d->manifests[0].server_side);
        assert_null(d->manifests[0].sha256);
        assert_int_equal(d->timeout_sec, ADDON_TIMEOUT_DEFAULT);
        assert_int_equal(d->n_checks, 0);

        /* Empty lists and a ready without checks. */
        _cleanup_addon_catalog_ struct addon_catalog c2 = {0};
        parse_ok("name: b\ncategory: ui\ndepends: []\nimages:\n" MANIFEST_URL "ready:\n  timeout: 90s\n",
                 &c2);
        ASSERT_STRV_EMPTY(c2.defs[0].depends);
        ASSERT_STRV_EMPTY(c2.defs[0].images);
        assert_int_equal(c2.defs[0].timeout_sec, 90);
        assert_int_equal(c2.defs[0].n_checks, 0);
}

static void test_parse_errors(void **unused) {
        (void) unused;
        expect_parse_error("- a\n", "f.yaml:1:1: add-on: expected a mapping");
        /* Unknown keys (their position: test_parse_unknown_key_position). */
        expect_parse_error_tail(
                "name: a\ncategory: other\ncolour: red\n" MANIFEST_URL,
                "add-on: unknown key 'colour' (expected one of: name, category, description, "
                "default, depends, manifests, images, ready)");
        expect_parse_error_tail(
                "name: a\ncategory: other\nmanifests:\n  - url: https://e.com/a\n    sha: x\n",
                "a.manifests[0]: unknown key 'sha' (expected one of: url, file, sha256, "
                "server-side, substitute)");
        expect_parse_error_tail("name: a\ncategory: other\n" MANIFEST_URL "ready:\n  timout: 1m\n",
                                "a.ready: unknown key 'timout' (expected one of: timeout, checks)");
        expect_parse_error_tail(
                "name: a\ncategory: other\n" MANIFEST_URL
                "ready:\n  checks:\n    - {kind: deployment, namespace: n, name: x, ns: y}\n",
                "a.ready.checks[0]: unknown key 'ns' (expected one of: kind, namespace, name, "
                "jsonpath, equals)");
        expect_parse_error_tail(
                "name: a\ncategory: other\nmanifests:\n  - file: a.yaml\n    substitute:\n"
                "      - {find: x, with: y, also: z}\n",
                "a.manifests[0].substitute[0]: unknown key 'also' (expected one of: find, with)");

        /* Missing keys. */
        expect_parse_error("category: other\n" MANIFEST_URL, "f.yaml:1:1: add-on.name: missing");
        expect_parse_error("name: a\n" MANIFEST_URL, "f.yaml:1:1: a.category: missing");
        expect_parse_error("name: a\ncategory: other\n",
                           "f.yaml:1:1: a.manifests: expected a list of 1..16 manifests");
        expect_parse_error("name: a\ncategory: other\nmanifests: []\n",
                           "f.yaml:3:12: a.manifests: expected a list of 1..16 manifests");
        expect_parse_error("name: a\ncategory: other\nmanifests: https://e.com/a\n",
                           "f.yaml:3:12: a.manifests: expected a list of 1..16 manifests");

        /* Names and categories. */
        expect_parse_error("name: Flannel\ncategory: cni\n" MANIFEST_URL,
                           "f.yaml:1:7: name: expected lowercase letters, digits and '-' (at most 40)");
        expect_parse_error("name: -a\ncategory: cni\n" MANIFEST_URL,
                           "f.yaml:1:7: name: expected lowercase letters, digits and '-' (at most 40)");
        expect_parse_error("name: a_b\ncategory: cni\n" MANIFEST_URL,
                           "f.yaml:1:7: name: expected lowercase letters, digits and '-' (at most 40)");
        expect_parse_error("name: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\ncategory: cni\n" MANIFEST_URL,
                           "f.yaml:1:7: add-on.name: expected a string of 1..40 characters");
        expect_parse_error("name: [a]\ncategory: cni\n" MANIFEST_URL,
                           "f.yaml:1:7: add-on.name: expected a string of 1..40 characters");
        expect_parse_error("name: a\ncategory: network\n" MANIFEST_URL,
                           "f.yaml:2:11: a.category: expected cni, storage, ui or other");
        expect_parse_error("name: a\ncategory: CNI\n" MANIFEST_URL,
                           "f.yaml:2:11: a.category: expected cni, storage, ui or other");
        expect_parse_error("name: a\ncategory: other\ndefault: yes\n" MANIFEST_URL,
                           "f.yaml:3:10: a.default: expected true or false");
        expect_parse_error("name: a\ncategory: other\ndefault: 'true'\n" MANIFEST_URL,
                           "f.yaml:3:10: a.default: expected true or false");

        /* Manifests. */
        expect_parse_error(
                "name: a\ncategory: other\nmanifests:\n  - url: https://e.com/a\n    file: a.yaml\n",
                "f.yaml:4:5: a.manifests[0]: expected exactly one of url or file");
        expect_parse_error("name: a\ncategory: other\nmanifests:\n  - sha256: " HEX_A "\n",
                           "f.yaml:4:5: a.manifests[0]: expected exactly one of url or file");
        expect_parse_error("name: a\ncategory: other\n" MANIFEST_URL "  - url: ftp://e.com/a\n",
                           "f.yaml:5:10: a.manifests[1].url: expected an http:// or https:// URL");
        expect_parse_error("name: a\ncategory: other\nmanifests:\n  - url: e.com/http://a\n",
                           "f.yaml:4:10: a.manifests[0].url: expected an http:// or https:// URL");
        expect_parse_error("name: a\ncategory: other\nmanifests:\n  - file: ../x.yaml\n",
                           "f.yaml:4:11: a.manifests[0].file: expected a path relative to the definition, "
                           "without '..'");
        expect_parse_error("name: a\ncategory: other\nmanifests:\n  - file: sub/../../x.yaml\n",
                           "f.yaml:4:11: a.manifests[0].file: expected a path relative to the definition, "
                           "without '..'");
        expect_parse_error("name: a\ncategory: other\nmanifests:\n  - file: /etc/x.yaml\n",
                           "f.yaml:4:11: a.manifests[0].file: expected a path relative to the definition, "
                           "without '..'");
        expect_parse_error(
                "name: a\ncategory: other\nmanifests:\n  - url: https://e.com/a\n    sha256: " HEX_A "0\n",
                "f.yaml:5:13: a.manifests[0].sha256: expected a string of 1..64 characters");
        expect_parse_error("name: a\ncategory: other\nmanifests:\n  - url: https://e.com/a\n    sha256: "
                           "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
                           "f.yaml:5:13: a.manifests[0].sha256: expected 64 lowercase hex digits");
        expect_parse_error(
                "name: a\ncategory: other\nmanifests:\n  - url: https://e.com/a\n    sha256: abc\n",
                "f.yaml:5:13: a.manifests[0].sha256: expected 64 lowercase hex digits");
        expect_parse_error(
                "name: a\ncategory: other\nmanifests:\n  - url: https://e.com/a\n    server-side: 1\n",
                "f.yaml:5:18: a.manifests[0].server-side: expected true or false");

        /* Substitutions. */
        expect_parse_error("name: a\ncategory: other\nmanifests:\n  - file: a.yaml\n    substitute:\n"
                           "      - find: x\n        with: ${node-name}\n",
                           "f.yaml:7:15: a.manifests[0].substitute[0].with: unknown variable ${node-name} "
                           "(known: " KNOWN_VARS ")");
        expect_parse_error(
                "name: a\ncategory: other\nmanifests:\n  - file: a.yaml\n    substitute:\n"
                "      - find: x\n        with: 'a ${pod-subnet'\n",
                "f.yaml:7:15: a.manifests[0].substitute[0].with: unterminated ${ in 'a ${pod-subnet'");
        expect_parse_error("name: a\ncategory: other\nmanifests:\n  - file: a.yaml\n    substitute:\n"
                           "      - find: x\n",
                           "f.yaml:6:9: a.manifests[0].substitute[0].with: missing");
        expect_parse_error(
                "name: a\ncategory: other\nmanifests:\n  - file: a.yaml\n    substitute: {find: x}\n",
                "f.yaml:5:17: a.manifests[0].substitute: expected a list of at most 16 {find, with}");
        /* Readiness. */
        expect_parse_error("name: a\ncategory: other\n" MANIFEST_URL
                           "ready:\n  checks:\n    - {kind: pods, namespace: n, name: x}\n",
                           "f.yaml:7:7: a.ready.checks[0]: kind 'pods' needs jsonpath and equals (only "
                           "deployment, daemonset and statefulset have a built-in readiness rule)");
        expect_parse_error("name: a\ncategory: other\n" MANIFEST_URL
                           "ready:\n  checks:\n    - {kind: Deployment, namespace: n, name: x}\n",
                           "f.yaml:7:14: a.ready.checks[0].kind: expected a resource name (daemonset, "
                           "deployment, statefulset, or plural.group with jsonpath)");
        expect_parse_error("name: a\ncategory: other\n" MANIFEST_URL "ready:\n  checks:\n"
                           "    - {kind: x.y.io, namespace: n, name: x, jsonpath: '{.status.phase}'}\n",
                           "f.yaml:7:7: a.ready.checks[0]: jsonpath and equals go together");
        expect_parse_error("name: a\ncategory: other\n" MANIFEST_URL "ready:\n  checks:\n"
                           "    - {kind: deployment, namespace: n, name: x, equals: '3'}\n",
                           "f.yaml:7:7: a.ready.checks[0]: jsonpath and equals go together");
        expect_parse_error(
                "name: a\ncategory: other\n" MANIFEST_URL "ready:\n  checks:\n"
                "    - {kind: x.y.io, namespace: n, name: x, jsonpath: .status.phase, equals: Ok}\n",
                "f.yaml:7:55: a.ready.checks[0].jsonpath: expected a kubectl jsonpath like "
                "'{.status.phase}'");
        expect_parse_error("name: a\ncategory: other\n" MANIFEST_URL
                           "ready:\n  checks:\n    - {kind: deployment, name: x}\n",
                           "f.yaml:7:7: a.ready.checks[0].namespace: missing");
        expect_parse_error("name: a\ncategory: other\n" MANIFEST_URL
                           "ready:\n  checks: {kind: deployment}\n",
                           "f.yaml:6:11: a.ready.checks: expected a list of at most 16 checks");
        static const char *const bad_timeouts[] = {"10x", "0", "25h", "86401", "m", "-1m", "1.5h"};
        for (size_t i = 0; i < ELEMENTSOF(bad_timeouts); i++) {
                _cleanup_free_ char *text =
                        strdupf("name: a\ncategory: other\n" MANIFEST_URL "ready:\n  timeout: '%s'\n",
                                bad_timeouts[i]);
                expect_parse_error(text,
                                   "f.yaml:6:12: a.ready.timeout: expected a duration like 90s, 10m or "
                                   "1h (at most 24h)");
        }

        /* Dependencies and images. */
        expect_parse_error("name: a\ncategory: other\ndepends: [b, a]\n" MANIFEST_URL,
                           "f.yaml:3:10: a.depends: an add-on cannot depend on itself");
        expect_parse_error("name: a\ncategory: other\ndepends: [b, cni, b]\n" MANIFEST_URL,
                           "f.yaml:3:19: a.depends[2]: expected an add-on name or a category (each once)");
        expect_parse_error("name: a\ncategory: other\ndepends: [Storage]\n" MANIFEST_URL,
                           "f.yaml:3:11: a.depends[0]: expected an add-on name or a category (each once)");
        expect_parse_error("name: a\ncategory: other\ndepends: b\n" MANIFEST_URL,
                           "f.yaml:3:10: a.depends: expected a list of at most 16 items");
        expect_parse_error("name: a\ncategory: other\nimages: [x:1, y:2, x:1]\n" MANIFEST_URL,
                           "f.yaml:3:20: a.images[2]: expected an image reference (each once)");
        expect_parse_error("name: a\ncategory: other\nimages: ['x y']\n" MANIFEST_URL,
                           "f.yaml:3:10: a.images[0]: expected an image reference (each once)");

        /* A YAML syntax error keeps the file name. */
        _cleanup_addon_catalog_ struct addon_catalog cat = {0};
        _cleanup_free_ char *err = NULL;
        assert_true(parse_text("f.yaml", "name: [a\n", &cat, &err) < 0);
        assert_non_null(err);
        assert_true(strncmp(err, "f.yaml:", 7) == 0);
}

/* An unknown key is reported where the key is, as the profile and lock
 * parsers do; its value may start on another line. */
static void test_parse_unknown_key_position(void **unused) {
        (void) unused;
        expect_parse_error("name: a\ncategory: other\ncolour:\n  red: 1\n" MANIFEST_URL,
                           "f.yaml:3:1: add-on: unknown key 'colour' (expected one of: name, category, "
                           "description, default, depends, manifests, images, ready)");
        expect_parse_error(
                "name: a\ncategory: other\nmanifests:\n  - url: https://e.com/a\n    sha: x\n",
                "f.yaml:5:5: a.manifests[0]: unknown key 'sha' (expected one of: url, file, sha256, "
                "server-side, substitute)");
        expect_parse_error("name: a\ncategory: other\n" MANIFEST_URL
                           "ready:\n  checks:\n    - {kind: deployment, namespace: n, name: x, ns: y}\n",
                           "f.yaml:7:49: a.ready.checks[0]: unknown key 'ns' (expected one of: kind, "
                           "namespace, name, jsonpath, equals)");
}

/* "expected a string of 1..N characters": an empty string is not one. */
static void test_parse_empty_strings(void **unused) {
        (void) unused;
        /* Either message will do for the name, as long as it points at it. */
        expect_parse_error_tail("name: ''\ncategory: cni\n" MANIFEST_URL, "");
        /* An empty `find` can never be found: the build must refuse it, not
         * the first boot. */
        expect_parse_error("name: a\ncategory: other\nmanifests:\n  - file: a.yaml\n    substitute:\n"
                           "      - find: ''\n        with: y\n",
                           "f.yaml:6:15: a.manifests[0].substitute[0].find: expected a string of 1..4096 "
                           "characters");
}

/* Empty documents (a leading or trailing ---, a comment alone, {}) are
 * skipped, as addon_catalog_parse() means to. */
static void test_catalog_empty_documents(void **unused) {
        (void) unused;
        static const char text[] = "---\n"
                                   "# nothing here\n"
                                   "---\n"
                                   "name: a\ncategory: cni\n" MANIFEST_URL "---\n"
                                   "name: b\ncategory: other\n" MANIFEST_URL "---\n";
        _cleanup_addon_catalog_ struct addon_catalog cat = {0};
        parse_ok(text, &cat);
        assert_int_equal(cat.n_defs, 2);
        assert_string_equal(cat.defs[0].name, "a");
        assert_string_equal(cat.defs[0].origin, "f.yaml:4");
        assert_string_equal(cat.defs[1].name, "b");
        assert_string_equal(cat.defs[1].origin, "f.yaml:9");

        _cleanup_addon_catalog_ struct addon_catalog braces = {0};
        parse_ok("{}\n---\nname: a\ncategory: cni\n" MANIFEST_URL, &braces);
        assert_int_equal(braces.n_defs, 1);
        _cleanup_addon_catalog_ struct addon_catalog trailing = {0};
        parse_ok("name: a\ncategory: cni\n" MANIFEST_URL "---\n", &trailing);
        assert_int_equal(trailing.n_defs, 1);
}

static void test_catalog_documents(void **unused) {
        (void) unused;
        /* Nothing at all. */
        _cleanup_addon_catalog_ struct addon_catalog none = {0};
        parse_ok("", &none);
        assert_int_equal(none.n_defs, 0);

        /* A second definition of a name, in the same file: both places named. */
        _cleanup_addon_catalog_ struct addon_catalog dup = {0};
        _cleanup_free_ char *err = NULL;
        assert_int_equal(parse_text("f.yaml",
                                    "name: a\ncategory: cni\n" MANIFEST_URL "---\n"
                                    "name: a\ncategory: other\n" MANIFEST_URL,
                                    &dup, &err),
                         -EEXIST);
        assert_string_equal(err, "f.yaml:6: add-on 'a' is already defined at f.yaml:1");
        assert_int_equal(dup.n_defs, 1);
        assert_string_equal(dup.defs[0].category, "cni"); /* the first one kept */

        /* And across files, appended to one catalogue. */
        _cleanup_addon_catalog_ struct addon_catalog two = {0};
        _cleanup_free_ char *err2 = NULL;
        assert_int_equal(parse_text("a.yaml", "name: x\ncategory: cni\n" MANIFEST_URL, &two, &err2), 0);
        assert_int_equal(parse_text("b.yaml", "name: y\ncategory: ui\n" MANIFEST_URL, &two, &err2), 0);
        assert_int_equal(parse_text("c.yaml", "# again\nname: x\ncategory: ui\n" MANIFEST_URL, &two, &err2),
                         -EEXIST);
        assert_string_equal(err2, "c.yaml:2: add-on 'x' is already defined at a.yaml:1");
        assert_int_equal(two.n_defs, 2);
        assert_string_equal(two.defs[1].origin, "b.yaml:1");
}

/* ---- ordering -------------------------------------------------------------- */

#define DEF(name, cat, extra)                                                                               \
        "{name: " name ", category: " cat ", manifests: [{url: 'https://e.com/x'}]" extra "}\n"

/* Two CNIs, two storage add-ons (rook needs snap), a UI that needs any
 * storage, and mon that needs the UI. */
static const char order_catalog[] =
        "---\n"
        "{name: flannel, category: cni, default: true, manifests: [{url: 'https://e.com/x'}]}\n"
        "---\n"
        "{name: calico, category: cni, manifests: [{url: 'https://e.com/x'}]}\n"
        "---\n"
        "{name: local-path, category: storage, default: true, manifests: [{url: 'https://e.com/x'}]}\n"
        "---\n"
        "{name: rook, category: storage, depends: [snap], manifests: [{url: 'https://e.com/x'}]}\n"
        "---\n"
        "{name: snap, category: other, manifests: [{url: 'https://e.com/x'}]}\n"
        "---\n"
        "{name: dash, category: ui, default: true, depends: [storage], manifests: [{url: "
        "'https://e.com/x'}]}\n"
        "---\n"
        "{name: mon, category: other, depends: [dash], manifests: [{url: 'https://e.com/x'}]}\n";

static void order_ok(const struct addon_catalog *cat, char *const *sel, const char *const *want) {
        _cleanup_strv_free_ char **out = NULL;
        _cleanup_free_ char *err = NULL;
        int r = addon_order(cat, sel, &out, &err);
        if (r < 0)
                fail_msg("addon_order: %d %s", r, err ? err : "?");
        assert_null(err);
        assert_strv(out, want);
}
#define ORDER_OK(cat, sel, ...) order_ok((cat), (sel), (const char *const[]){__VA_ARGS__, NULL})
#define SEL(...) ((char *const[]){__VA_ARGS__, NULL})

static void order_fails(const struct addon_catalog *cat, char *const *sel, int want_r, const char *want) {
        char **out = NULL;
        _cleanup_free_ char *err = NULL;
        int r = addon_order(cat, sel, &out, &err);
        if (r != want_r || !err || !streq(err, want))
                fail_msg("got %d '%s', expected %d '%s'", r, err ? err : "(null)", want_r, want);
        assert_null(out);
}

static void test_order(void **unused) {
        (void) unused;
        _cleanup_addon_catalog_ struct addon_catalog cat = {0};
        parse_ok(order_catalog, &cat);
        assert_int_equal(cat.n_defs, 7);
        _cleanup_free_ char *verr = NULL;
        assert_int_equal(addon_catalog_validate(&cat, &verr), 0);
        assert_null(verr);

        /* The CNI first, then a category dependency before its dependant. */
        ORDER_OK(&cat, SEL("dash", "local-path", "flannel"), "flannel", "local-path", "dash");
        ORDER_OK(&cat, SEL("dash", "flannel", "local-path"), "flannel", "local-path", "dash");
        /* Names and categories, several levels. */
        ORDER_OK(&cat, SEL("mon", "dash", "rook", "snap", "flannel"), "flannel", "snap", "rook", "dash",
                 "mon");
        /* A category dependency waits for every selected member. */
        ORDER_OK(&cat, SEL("dash", "rook", "snap", "local-path", "calico"), "calico", "snap", "rook",
                 "local-path", "dash");
        /* Otherwise the order given, with or without a CNI. */
        ORDER_OK(&cat, SEL("snap", "local-path"), "snap", "local-path");
        ORDER_OK(&cat, SEL("local-path", "snap"), "local-path", "snap");
        ORDER_OK(&cat, SEL("local-path", "snap", "flannel"), "flannel", "local-path", "snap");
        ORDER_OK(&cat, SEL("snap", "local-path", "flannel"), "flannel", "snap", "local-path");
        ORDER_OK(&cat, SEL("calico"), "calico");
        /* Nothing selected: an empty list. */
        _cleanup_strv_free_ char **empty = NULL;
        assert_int_equal(addon_order(&cat, (char *const[]){NULL}, &empty, NULL), 0);
        ASSERT_STRV_EMPTY(empty);

        /* Errors, each naming the add-ons. */
        order_fails(&cat, SEL("flannel", "nope"), -EINVAL,
                    "unknown add-on 'nope' (this image has: flannel, calico, local-path, rook, snap, dash, "
                    "mon)");
        _cleanup_addon_catalog_ struct addon_catalog none = {0};
        order_fails(&none, SEL("flannel"), -EINVAL, "unknown add-on 'flannel' (this image has: none)");
        order_fails(&cat, SEL("flannel", "snap", "flannel"), -EINVAL, "add-on flannel is selected twice");
        order_fails(&cat, SEL("rook", "flannel"), -EINVAL,
                    "add-on rook depends on snap, which is not selected");
        order_fails(&cat, SEL("mon", "local-path"), -EINVAL,
                    "add-on mon depends on dash, which is not selected");
        order_fails(&cat, SEL("dash", "flannel"), -EINVAL,
                    "add-on dash needs a storage add-on, and none is selected");
        order_fails(&cat, SEL("flannel", "snap", "calico"), -EINVAL,
                    "add-ons flannel and calico are both CNI plugins: select one");
        /* Without a message buffer the error code alone. */
        char **out = NULL;
        assert_int_equal(addon_order(&cat, SEL("dash"), &out, NULL), -EINVAL);
        assert_null(out);

        /* A cycle, among others that are fine. */
        _cleanup_addon_catalog_ struct addon_catalog cyc = {0};
        parse_ok("---\n" DEF("x", "other", ", depends: [y]") "---\n" DEF(
                         "y", "other", ", depends: [x]") "---\n" DEF("z", "other", ""),
                 &cyc);
        order_fails(&cyc, SEL("z", "x", "y"), -ELOOP, "add-ons depend on each other in a cycle: x, y");
}

static void test_depends_on(void **unused) {
        (void) unused;
        _cleanup_addon_catalog_ struct addon_catalog cat = {0};
        parse_ok(order_catalog, &cat);
        char *const *sel = SEL("mon", "dash", "local-path", "flannel");
        assert_true(addon_depends_on(&cat, sel, "dash", "local-path")); /* a category */
        assert_true(addon_depends_on(&cat, sel, "dash", "flannel"));    /* after the CNI */
        assert_true(addon_depends_on(&cat, sel, "local-path", "flannel"));
        assert_true(addon_depends_on(&cat, sel, "mon", "dash"));
        assert_true(addon_depends_on(&cat, sel, "mon", "local-path")); /* through dash */
        assert_true(addon_depends_on(&cat, sel, "mon", "flannel"));
        assert_false(addon_depends_on(&cat, sel, "local-path", "dash"));
        assert_false(addon_depends_on(&cat, sel, "flannel", "dash"));
        assert_false(addon_depends_on(&cat, sel, "flannel", "local-path"));
        assert_false(addon_depends_on(&cat, sel, "dash", "mon"));
        assert_false(addon_depends_on(&cat, sel, "mon", "snap"));  /* not selected */
        assert_false(addon_depends_on(&cat, sel, "rook", "snap")); /* not selected either */

        /* Categories resolve within the selection: here dash needs rook too,
         * and through it snap. */
        char *const *sel2 = SEL("dash", "rook", "snap", "local-path");
        assert_true(addon_depends_on(&cat, sel2, "dash", "snap"));
        assert_true(addon_depends_on(&cat, sel2, "dash", "rook"));
        assert_false(addon_depends_on(&cat, sel2, "local-path", "snap"));
        assert_false(addon_depends_on(&cat, sel2, "snap", "rook"));
        char *const *sel3 = SEL("dash", "local-path");
        assert_false(addon_depends_on(&cat, sel3, "dash", "snap"));

        /* A cycle does not make the walk run forever. */
        _cleanup_addon_catalog_ struct addon_catalog cyc = {0};
        parse_ok("---\n" DEF("x", "other", ", depends: [y]") "---\n" DEF(
                         "y", "other", ", depends: [x]") "---\n" DEF("z", "other", ""),
                 &cyc);
        char *const *sel4 = SEL("x", "y", "z");
        assert_true(addon_depends_on(&cyc, sel4, "x", "y"));
        assert_true(addon_depends_on(&cyc, sel4, "y", "x"));
        assert_false(addon_depends_on(&cyc, sel4, "x", "z"));
        assert_false(addon_depends_on(&cyc, sel4, "z", "x"));
}

static void validate_fails(const char *text, int want_r, const char *want) {
        _cleanup_addon_catalog_ struct addon_catalog cat = {0};
        parse_ok(text, &cat);
        _cleanup_free_ char *err = NULL;
        int r = addon_catalog_validate(&cat, &err);
        if (r != want_r || !err || !streq(err, want))
                fail_msg("got %d '%s', expected %d '%s'", r, err ? err : "(null)", want_r, want);
}

/* -ELOOP naming the add-ons of the cycle, whichever it starts from. */
static void assert_cycle_error(int r, const char *err, const char *const *names) {
        if (r != -ELOOP || !err)
                fail_msg("got %d '%s', expected -ELOOP", r, err ? err : "(null)");
        const char *list = strstr(err, ": add-ons depend on each other in a cycle: ");
        if (!list)
                fail_msg("'%s' names no cycle", err);
        _cleanup_free_ char *l = strdupf(" %s,", list + 42);
        for (size_t i = 0; names[i]; i++) {
                _cleanup_free_ char *n = strdupf(" %s,", names[i]);
                if (!strstr(l, n))
                        fail_msg("'%s' does not name %s", err, names[i]);
        }
}

static void test_validate(void **unused) {
        (void) unused;
        validate_fails(DEF("a", "other", "") "---\n" DEF("b", "other", ", depends: [a, ghost]"), -EINVAL,
                       "f.yaml:3: add-on b depends on ghost, which is not defined");
        validate_fails(
                "---\n" DEF("x", "other", ", depends: [y]") "---\n" DEF("y", "other", ", depends: [x]"),
                -ELOOP, "f.yaml:2: add-ons depend on each other in a cycle: x, y");
        /* A longer cycle, through a category. */
        {
                _cleanup_addon_catalog_ struct addon_catalog cat = {0};
                _cleanup_free_ char *err = NULL;
                parse_ok(DEF("a", "other", ", depends: [storage]") "---\n" DEF(
                                 "s", "storage", ", depends: [b]") "---\n" DEF("b", "other",
                                                                               ", depends: [a]"),
                         &cat);
                int r = addon_catalog_validate(&cat, &err);
                assert_cycle_error(r, err, (const char *const[]){"a", "s", "b", NULL});
        }
        /* A CNI that depends on anything else is a cycle: everything else
         * comes after the CNI. */
        validate_fails(DEF("f", "cni", ", depends: [l]") "---\n" DEF("l", "storage", ""), -ELOOP,
                       "f.yaml:1: add-ons depend on each other in a cycle: f, l");
        validate_fails(DEF("d", "ui", ", depends: [storage]") "---\n" DEF("f", "cni", ""), -EINVAL,
                       "f.yaml:1: add-on d needs a storage add-on, and the catalogue has none");

        /* Two CNIs, and dependencies on categories with several members: fine. */
        _cleanup_addon_catalog_ struct addon_catalog ok = {0};
        parse_ok(DEF("f", "cni", "") "---\n" DEF("c", "cni", "") "---\n" DEF("l", "storage", "") "---\n" DEF(
                         "r", "storage", "") "---\n" DEF("d", "ui", ", depends: [storage, cni]"),
                 &ok);
        _cleanup_free_ char *err = NULL;
        assert_int_equal(addon_catalog_validate(&ok, &err), 0);
        assert_null(err);
}

/* A cycle through two category dependencies and two named ones: any
 * selection holding the four cannot be ordered, so the catalogue must be
 * refused when it is built, not at first boot. */
static void test_validate_cycle_through_categories(void **unused) {
        (void) unused;
        _cleanup_addon_catalog_ struct addon_catalog cat = {0};
        parse_ok(DEF("a", "other", ", depends: [storage]") "---\n" DEF(
                         "s", "storage",
                         ", depends: [b]") "---\n" DEF("b", "other",
                                                       ", depends: [ui]") "---\n" DEF("u", "ui",
                                                                                      ", depends: [a]"),
                 &cat);
        /* addon_order() sees it. */
        char **out = NULL;
        _cleanup_free_ char *oerr = NULL, *err = NULL;
        assert_int_equal(addon_order(&cat, SEL("a", "s", "b", "u"), &out, &oerr), -ELOOP);
        assert_string_equal(oerr, "add-ons depend on each other in a cycle: a, s, b, u");
        int r = addon_catalog_validate(&cat, &err);
        assert_cycle_error(r, err, (const char *const[]){"a", "s", "b", "u", NULL});
}

/* Sizes: lists of at most 16, 32 add-ons in a catalogue or a selection. */
static void test_limits(void **unused) {
        (void) unused;
        _cleanup_free_ char *deps16 = NULL, *deps17 = NULL, *ms16 = NULL, *ms17 = NULL;
        char *d = NULL, *m = NULL;
        size_t dsize = 0, msize = 0;
        FILE *fd = open_memstream(&d, &dsize), *fm = open_memstream(&m, &msize);
        assert_non_null(fd);
        assert_non_null(fm);
        for (int i = 0; i < 17; i++) {
                fprintf(fd, "%sd%d", i ? ", " : "", i);
                fprintf(fm, "  - url: https://e.com/%d\n", i);
                if (i == 15) {
                        assert_int_equal(fflush(fd), 0);
                        assert_int_equal(fflush(fm), 0);
                        deps16 = strdupf("name: a\ncategory: other\ndepends: [%s]\n" MANIFEST_URL, d);
                        ms16 = strdupf("name: a\ncategory: other\nmanifests:\n%s", m);
                }
        }
        assert_int_equal(fclose(fd), 0);
        assert_int_equal(fclose(fm), 0);
        deps17 = strdupf("name: a\ncategory: other\ndepends: [%s]\n" MANIFEST_URL, d);
        ms17 = strdupf("name: a\ncategory: other\nmanifests:\n%s", m);
        free(d);
        free(m);
        _cleanup_addon_catalog_ struct addon_catalog c1 = {0}, c2 = {0};
        parse_ok(deps16, &c1);
        assert_int_equal(strv_length(c1.defs[0].depends), 16);
        parse_ok(ms16, &c2);
        assert_int_equal(c2.defs[0].n_manifests, 16);
        expect_parse_error(deps17, "f.yaml:3:10: a.depends: expected a list of at most 16 items");
        expect_parse_error(ms17, "f.yaml:4:3: a.manifests: expected a list of 1..16 manifests");

        /* 32 add-ons, from as many files; the 33rd is refused. */
        _cleanup_addon_catalog_ struct addon_catalog cat = {0};
        _cleanup_strv_free_ char **names = NULL;
        for (int i = 0; i < 33; i++) {
                _cleanup_free_ char *file = strdupf("a%d.yaml", i),
                                    *text = strdupf(DEF("a%d", "other", ""), i), *err = NULL;
                int r = parse_text(file, text, &cat, &err);
                if (i < 32) {
                        assert_int_equal(r, 0);
                        assert_int_equal(strv_push(&names, cat.defs[i].name), 0);
                } else {
                        assert_int_equal(r, -E2BIG);
                        assert_string_equal(err, "a32.yaml:1: more than 32 add-ons");
                }
        }
        assert_int_equal(cat.n_defs, 32);
        _cleanup_strv_free_ char **ordered = NULL;
        assert_int_equal(addon_order(&cat, names, &ordered, NULL), 0);
        assert_int_equal(strv_length(ordered), 32);
        assert_int_equal(strv_push(&names, "a0"), 0);
        char **out = NULL;
        _cleanup_free_ char *err = NULL;
        assert_int_equal(addon_order(&cat, names, &out, &err), -E2BIG);
        assert_string_equal(err, "more than 32 add-ons selected");
        assert_null(out);
}

static void test_default_selection(void **unused) {
        (void) unused;
        _cleanup_addon_catalog_ struct addon_catalog cat = {0};
        parse_ok(order_catalog, &cat);
        _cleanup_strv_free_ char **sel = NULL;
        assert_int_equal(addon_default_selection(&cat, &sel), 0);
        ASSERT_STRV(sel, "flannel", "local-path", "dash"); /* catalogue order */

        _cleanup_addon_catalog_ struct addon_catalog none = {0};
        parse_ok(DEF("a", "other", "") "---\n" DEF("b", "other", ", default: false"), &none);
        _cleanup_strv_free_ char **sel2 = NULL;
        assert_int_equal(addon_default_selection(&none, &sel2), 0);
        ASSERT_STRV_EMPTY(sel2);
}

/* ---- substitution ---------------------------------------------------------- */

static const struct addon_vars vars1 = {"10.244.0.0/16", "10.96.0.0/12", "prod", 1};

static char *expand(const char *with, const struct addon_vars *v) {
        char *out = NULL;
        _cleanup_free_ char *err = NULL;
        int r = addon_expand_vars(with, v, &out, &err);
        if (r < 0)
                fail_msg("expand '%s': %d %s", with, r, err ? err : "?");
        return out;
}

static void test_expand_vars(void **unused) {
        (void) unused;
        static const struct {
                unsigned nodes;
                const char *count, *replicas, *mon, *single, *multi;
        } cases[] = {
                {1, "1", "1", "1", "true", "false"}, {2, "2", "2", "1", "false", "true"},
                {3, "3", "3", "3", "false", "true"}, {5, "5", "3", "3", "false", "true"},
                {0, "1", "1", "1", "true", "false"}, /* not set: one node */
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct addon_vars v = {"10.244.0.0/16", "10.96.0.0/12", "prod", cases[i].nodes};
                _cleanup_free_ char *a = expand("${node-count}", &v), *b = expand("${replicas}", &v),
                                    *c = expand("${mon-count}", &v), *d = expand("${single-node}", &v),
                                    *e = expand("${multi-node}", &v);
                assert_string_equal(a, cases[i].count);
                assert_string_equal(b, cases[i].replicas);
                assert_string_equal(c, cases[i].mon);
                assert_string_equal(d, cases[i].single);
                assert_string_equal(e, cases[i].multi);
        }
        _cleanup_free_ char *all = expand("net ${pod-subnet}, svc ${service-subnet}, name ${cluster-name}, "
                                          "${pod-subnet} again; $ alone, $x, {x}, $${cluster-name}",
                                          &vars1);
        assert_string_equal(all,
                            "net 10.244.0.0/16, svc 10.96.0.0/12, name prod, 10.244.0.0/16 again; $ alone, "
                            "$x, {x}, $prod");
        _cleanup_free_ char *plain = expand("", &vars1);
        assert_string_equal(plain, "");

        char *out = NULL;
        _cleanup_free_ char *err = NULL;
        assert_int_equal(addon_expand_vars("a ${pod_subnet} b", &vars1, &out, &err), -EINVAL);
        assert_string_equal(err, "unknown variable ${pod_subnet} (known: " KNOWN_VARS ")");
        free(err);
        err = NULL;
        assert_int_equal(addon_expand_vars("${}", &vars1, &out, &err), -EINVAL);
        assert_string_equal(err, "unknown variable ${} (known: " KNOWN_VARS ")");
        free(err);
        err = NULL;
        assert_int_equal(addon_expand_vars("x ${replicas", &vars1, &out, &err), -EINVAL);
        assert_string_equal(err, "unterminated ${ in 'x ${replicas'");
        free(err);
        err = NULL;
        /* A known variable with no value on this node. */
        struct addon_vars nosvc = {"10.244.0.0/16", NULL, "prod", 1};
        assert_int_equal(addon_expand_vars("${service-subnet}", &nosvc, &out, &err), -ENODATA);
        assert_string_equal(err, "${service-subnet} has no value on this node");
        assert_null(out);
}

static void test_substitute(void **unused) {
        (void) unused;
        struct addon_subst subs[] = {
                {(char *) "size: 3 # r", (char *) "size: ${replicas}"},
                {(char *) "\"Network\": \"10.244.0.0/16\"", (char *) "\"Network\": \"${pod-subnet}\""},
        };
        struct addon_manifest m = {.file = (char *) "x.yaml", .subs = subs, .n_subs = ELEMENTSOF(subs)};
        static const char text[] =
                "a:\n  size: 3 # r\nb:\n  size: 3 # r\nnet: |\n  {\"Network\": \"10.244.0.0/16\"}\n";
        struct addon_vars v = {"192.168.0.0/16", "10.96.0.0/12", "c", 5};
        _cleanup_free_ char *out = NULL, *err = NULL;
        size_t size = 0;
        assert_int_equal(addon_substitute(text, strlen(text), &m, &v, &out, &size, &err), 0);
        static const char want[] =
                "a:\n  size: 3\nb:\n  size: 3\nnet: |\n  {\"Network\": \"192.168.0.0/16\"}\n";
        assert_string_equal(out, want);
        assert_int_equal(size, strlen(want));
        assert_null(err);
        /* ret_size may be NULL. */
        _cleanup_free_ char *out2 = NULL;
        v.node_count = 2;
        assert_int_equal(addon_substitute(text, strlen(text), &m, &v, &out2, NULL, NULL), 0);
        assert_non_null(strstr(out2, "a:\n  size: 2\nb:\n  size: 2\n"));

        /* In order: the second substitution sees what the first made. */
        struct addon_subst chain[] = {{(char *) "one", (char *) "two"}, {(char *) "two", (char *) "three"}};
        struct addon_manifest mc = {.file = (char *) "x", .subs = chain, .n_subs = 2};
        _cleanup_free_ char *o3 = NULL;
        assert_int_equal(addon_substitute("one, one", 8, &mc, &v, &o3, &size, NULL), 0);
        assert_string_equal(o3, "three, three");
        assert_int_equal(size, 12);
        /* A replacement holding what it replaces is not replaced again. */
        struct addon_subst grow[] = {{(char *) "x", (char *) "xx"}};
        struct addon_manifest mg = {.file = (char *) "x", .subs = grow, .n_subs = 1};
        _cleanup_free_ char *o4 = NULL;
        assert_int_equal(addon_substitute("axbx", 4, &mg, &v, &o4, &size, NULL), 0);
        assert_string_equal(o4, "axxbxx");
        /* No substitutions: the text as it is; `size` bytes only are read. */
        struct addon_manifest none = {.file = (char *) "x"};
        _cleanup_free_ char *o5 = NULL;
        assert_int_equal(addon_substitute("abcdef", 3, &none, &v, &o5, &size, NULL), 0);
        assert_string_equal(o5, "abc");
        assert_int_equal(size, 3);

        /* A find that does not occur: the upstream manifest changed. */
        char *o6 = NULL;
        assert_int_equal(addon_substitute("size: 4 # r\n", 12, &m, &v, &o6, &size, &err), -ENOENT);
        assert_string_equal(err, "substitute[0]: 'size: 3 # r' does not occur in the manifest");
        assert_null(o6);
        free(err);
        err = NULL;
        /* The second one missing, after the first applied. */
        assert_int_equal(addon_substitute("size: 3 # r\n", 12, &m, &v, &o6, &size, &err), -ENOENT);
        assert_string_equal(
                err, "substitute[1]: '\"Network\": \"10.244.0.0/16\"' does not occur in the manifest");
        free(err);
        err = NULL;
        /* A NUL byte in the manifest. */
        assert_int_equal(addon_substitute("size: 3 # r\0\n", 13, &m, &v, &o6, &size, &err), -EBADMSG);
        assert_string_equal(err, "the manifest holds a NUL byte");
        free(err);
        err = NULL;
        /* A variable with no value. */
        struct addon_vars nopod = {NULL, "10.96.0.0/12", "c", 1};
        assert_int_equal(addon_substitute(text, strlen(text), &m, &nopod, &o6, &size, &err), -ENODATA);
        assert_string_equal(err, "${pod-subnet} has no value on this node");
        assert_null(o6);
}

/* ---- digest ---------------------------------------------------------------- */

static void test_digest(void **unused) {
        (void) unused;
        struct addon_subst subs[] = {{(char *) "count: 3", (char *) "count: ${mon-count}"}};
        struct addon_manifest ms[] = {
                {.url = (char *) "https://e.com/a", .sha256 = (char *) HEX_A, .subs = subs, .n_subs = 1},
                {.file = (char *) "b.yaml", .sha256 = (char *) HEX_B},
        };
        struct addon_def d = {.name = (char *) "x", .manifests = ms, .n_manifests = 1};
        char out[SHA256_HEX_LEN + 8], again[SHA256_HEX_LEN + 8];

        /* Known answers: SHA-256 over each sha256, find and with, each with
         * its NUL (computed with printf '%s\0' ... | sha256sum). */
        d.manifests = &ms[1];
        ms[1].sha256 = (char *) HEX_A;
        assert_int_equal(addon_digest(&d, out), 0);
        assert_string_equal(out, "sha256:597756d4e75277b687fb68b19d52bffc45d496357a969f283d0678de21e9b0b4");
        ms[1].sha256 = (char *) HEX_B;
        d.manifests = ms;
        d.n_manifests = 2;
        assert_int_equal(addon_digest(&d, out), 0);
        assert_string_equal(out, "sha256:30fad138600f56ad8ebdf03eb0037c5b5943d29d3c60a125b3b2eb5c18eb0609");
        /* Stable. */
        assert_int_equal(addon_digest(&d, again), 0);
        assert_string_equal(out, again);

        /* A manifest's sha256 changes. */
        ms[1].sha256 = (char *) HEX_A;
        assert_int_equal(addon_digest(&d, again), 0);
        assert_string_not_equal(out, again);
        ms[1].sha256 = (char *) HEX_B;
        /* A substitution's find, then its with, changes. */
        subs[0].find = (char *) "count: 4";
        assert_int_equal(addon_digest(&d, again), 0);
        assert_string_not_equal(out, again);
        subs[0].find = (char *) "count: 3";
        subs[0].with = (char *) "count: ${replicas}";
        assert_int_equal(addon_digest(&d, again), 0);
        assert_string_not_equal(out, again);
        subs[0].with = (char *) "count: ${mon-count}";
        /* Moving text between find and with changes it too (NUL-separated). */
        subs[0].find = (char *) "count: 3c";
        subs[0].with = (char *) "ount: ${mon-count}";
        assert_int_equal(addon_digest(&d, again), 0);
        assert_string_not_equal(out, again);
        subs[0].find = (char *) "count: 3";
        subs[0].with = (char *) "count: ${mon-count}";
        /* A substitution fewer. */
        ms[0].n_subs = 0;
        assert_int_equal(addon_digest(&d, again), 0);
        assert_string_not_equal(out, again);
        ms[0].n_subs = 1;
        /* Back as it was. */
        assert_int_equal(addon_digest(&d, again), 0);
        assert_string_equal(out, again);

        /* A manifest with no sha256 yet (not locked). */
        ms[1].sha256 = NULL;
        memcpy(again, "untouched", 10);
        assert_int_equal(addon_digest(&d, again), -ENODATA);
        assert_string_equal(again, "untouched");
}

/* ---- readiness ------------------------------------------------------------- */

static void check_argv_is(const struct addon_check *c, const char *const *want) {
        _cleanup_strv_free_ char **argv = NULL;
        assert_int_equal(addon_check_argv(c, "/etc/kubernetes/admin.conf", &argv), 0);
        assert_strv(argv, want);
}

static void test_check_argv(void **unused) {
        (void) unused;
        struct addon_check dep = {(char *) "deployment", (char *) "kube-system", (char *) "coredns", NULL,
                                  NULL};
        check_argv_is(&dep,
                      (const char *const[]){"kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf",
                                            "--namespace", "kube-system", "get", "deployment", "coredns",
                                            "--output=jsonpath={.spec.replicas} {.status.updatedReplicas} "
                                            "{.status.availableReplicas}",
                                            NULL});
        struct addon_check ds = {(char *) "daemonset", (char *) "kube-flannel", (char *) "kube-flannel-ds",
                                 NULL, NULL};
        check_argv_is(&ds, (const char *const[]){
                                   "kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf", "--namespace",
                                   "kube-flannel", "get", "daemonset", "kube-flannel-ds",
                                   "--output=jsonpath={.status.desiredNumberScheduled} "
                                   "{.status.updatedNumberScheduled} {.status.numberAvailable}",
                                   NULL});
        struct addon_check sts = {(char *) "statefulset", (char *) "db", (char *) "pg", NULL, NULL};
        check_argv_is(&sts,
                      (const char *const[]){"kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf",
                                            "--namespace", "db", "get", "statefulset", "pg",
                                            "--output=jsonpath={.spec.replicas} {.status.updatedReplicas} "
                                            "{.status.readyReplicas}",
                                            NULL});
        struct addon_check custom = {(char *) "cephclusters.ceph.rook.io", (char *) "rook-ceph",
                                     (char *) "rook-ceph", (char *) "{.status.phase}", (char *) "Ready"};
        check_argv_is(&custom,
                      (const char *const[]){"kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf",
                                            "--namespace", "rook-ceph", "get", "cephclusters.ceph.rook.io",
                                            "rook-ceph", "--output=jsonpath={.status.phase}", NULL});
        /* A built-in kind with a jsonpath of its own uses that. */
        struct addon_check dep2 = {(char *) "deployment", (char *) "n", (char *) "x", (char *) "{.status.x}",
                                   (char *) "y"};
        _cleanup_strv_free_ char **argv = NULL;
        assert_int_equal(addon_check_argv(&dep2, "k", &argv), 0);
        assert_string_equal(argv[8], "--output=jsonpath={.status.x}");
        /* No rule for this kind. */
        struct addon_check pods = {(char *) "pods", (char *) "n", (char *) "x", NULL, NULL};
        char **none = NULL;
        assert_int_equal(addon_check_argv(&pods, "k", &none), -EINVAL);
        assert_null(none);

        _cleanup_free_ char *desc = addon_check_describe(&ds);
        assert_string_equal(desc, "daemonset kube-flannel/kube-flannel-ds");
}

static void eval_is(const struct addon_check *c, const char *output, bool want_ready,
                    const char *want_status) {
        bool ready = !want_ready;
        _cleanup_free_ char *status = NULL;
        assert_int_equal(addon_check_eval(c, output, &ready, &status), 0);
        if (ready != want_ready || !status || !streq(status, want_status))
                fail_msg("%s on '%s': ready=%d '%s', expected ready=%d '%s'", c->kind,
                         output ? output : "(null)", ready, status ? status : "(null)", want_ready,
                         want_status);
}

static void test_check_eval(void **unused) {
        (void) unused;
        struct addon_check dep = {(char *) "deployment", (char *) "n", (char *) "x", NULL, NULL};
        struct addon_check ds = {(char *) "daemonset", (char *) "n", (char *) "x", NULL, NULL};
        struct addon_check sts = {(char *) "statefulset", (char *) "n", (char *) "x", NULL, NULL};

        eval_is(&dep, "2 2 2", true, "2 of 2 replicas available, 2 updated");
        eval_is(&dep, "1 1 3", true, "3 of 1 replicas available, 1 updated"); /* surge */
        eval_is(&dep, "3 3 2", false, "2 of 3 replicas available, 3 updated");
        eval_is(&dep, "3 2 3", false, "3 of 3 replicas available, 2 updated"); /* rollout not done */
        eval_is(&dep, "2 2 2\n", true, "2 of 2 replicas available, 2 updated");
        /* Not reported yet: kubectl prints nothing for a missing field. */
        eval_is(&dep, "3  ", false, "0 of 3 replicas available, 0 updated");
        eval_is(&dep, "", false, "0 of 0 replicas available, 0 updated");
        eval_is(&dep, NULL, false, "0 of 0 replicas available, 0 updated");
        /* Scaled to zero: nothing to wait for, but nothing runs either. */
        eval_is(&dep, "0 0 0", false, "0 of 0 replicas available, 0 updated");

        eval_is(&ds, "3 3 3", true, "3 of 3 pods available, 3 updated");
        eval_is(&ds, "3 3 1", false, "1 of 3 pods available, 3 updated");
        eval_is(&ds, "  ", false, "0 of 0 pods available, 0 updated");
        eval_is(&ds, "0 0 0", false, "0 of 0 pods available, 0 updated"); /* no node matches */

        eval_is(&sts, "1 1 1", true, "1 of 1 replicas ready, 1 updated");
        eval_is(&sts, "3 3 ", false, "0 of 3 replicas ready, 3 updated");
        eval_is(&sts, "0  ", false, "0 of 0 replicas ready, 0 updated");

        /* Not counts at all. */
        eval_is(&dep, "abc", false, "unexpected kubectl output 'abc'");
        eval_is(&dep, "1 1 1 1", false, "unexpected kubectl output '1 1 1 1'");
        eval_is(&dep, "3x 3 3", false, "unexpected kubectl output '3x 3 3'");
        eval_is(&ds, "-1 0 0", false, "unexpected kubectl output '-1 0 0'");
        eval_is(&ds, "1\n2\x01", false, "unexpected kubectl output '1?2?'");

        struct addon_check custom = {(char *) "cephclusters.ceph.rook.io", (char *) "rook-ceph",
                                     (char *) "rc", (char *) "{.status.phase}", (char *) "Ready"};
        eval_is(&custom, "Ready", true, "{.status.phase} is 'Ready' (ready when 'Ready')");
        eval_is(&custom, "Ready\n", true, "{.status.phase} is 'Ready' (ready when 'Ready')");
        eval_is(&custom, "Progressing", false, "{.status.phase} is 'Progressing' (ready when 'Ready')");
        eval_is(&custom, "ready", false, "{.status.phase} is 'ready' (ready when 'Ready')");
        eval_is(&custom, "Ready Ready", false, "{.status.phase} is 'Ready Ready' (ready when 'Ready')");
        eval_is(&custom, "", false, "{.status.phase} is '' (ready when 'Ready')");
        eval_is(&custom, NULL, false, "{.status.phase} is '' (ready when 'Ready')");
}

/* kubectl prints an empty string for a field the status does not have yet
 * (Kubernetes omits zero counts): the fields keep their places. */
static void test_check_eval_empty_middle(void **unused) {
        (void) unused;
        struct addon_check dep = {(char *) "deployment", (char *) "n", (char *) "x", NULL, NULL};
        struct addon_check sts = {(char *) "statefulset", (char *) "n", (char *) "x", NULL, NULL};
        eval_is(&dep, "3  2", false, "2 of 3 replicas available, 0 updated");
        eval_is(&sts, "3  3", false, "3 of 3 replicas ready, 0 updated");
}

static void test_kubectl_transient(void **unused) {
        (void) unused;
        static const char *const transient[] = {
                "The connection to the server 10.0.0.1:6443 was refused - did you specify the right host or "
                "port?: dial tcp 10.0.0.1:6443: connect: connection refused",
                "Unable to connect to the server: net/http: TLS handshake timeout",
                "Error from server (ServiceUnavailable): the server is currently unable to handle the "
                "request",
                "error: resource mapping not found for name: \"rook-ceph\" namespace: \"rook-ceph\" from "
                "\"cluster.yaml\": no matches for kind \"CephCluster\" in version \"ceph.rook.io/v1\"\n"
                "ensure CRDs are installed first",
                "Error from server (InternalError): error when creating \"x.yaml\": Internal error "
                "occurred: "
                "failed calling webhook \"x.k8s.io\": failed to call webhook: Post ...: connect: connection "
                "refused",
                "Error from server: etcdserver: request timed out",
                "Error from server: etcdserver: leader changed",
                "read tcp 10.0.0.2:40000->10.0.0.1:6443: read: connection reset by peer",
                "Error from server (TooManyRequests): Too Many Requests",
                "dial tcp 10.0.0.1:6443: i/o timeout",
                "unexpected EOF",
        };
        for (size_t i = 0; i < ELEMENTSOF(transient); i++)
                if (!addon_kubectl_error_transient(transient[i]))
                        fail_msg("not taken as transient: %s", transient[i]);
        static const char *const permanent[] = {
                "error: error validating \"x.yaml\": error validating data: "
                "ValidationError(Deployment.spec): "
                "unknown field \"replica\" in io.k8s.api.apps.v1.DeploymentSpec",
                "Error from server (Forbidden): deployments.apps is forbidden: User \"x\" cannot create",
                "Error from server (NotFound): namespaces \"rook-ceph\" not found",
                "error: error parsing x.yaml: error converting YAML to JSON: yaml: line 3: mapping values "
                "are "
                "not allowed in this context",
                "The Deployment \"x\" is invalid: spec.selector: Invalid value: field is immutable",
                "",
        };
        for (size_t i = 0; i < ELEMENTSOF(permanent); i++)
                if (addon_kubectl_error_transient(permanent[i]))
                        fail_msg("taken as transient: %s", permanent[i]);
        assert_false(addon_kubectl_error_transient(NULL));
}

static void test_parse_duration(void **unused) {
        (void) unused;
        static const struct {
                const char *s;
                unsigned want;
        } ok[] = {{"90s", 90},    {"10m", 600},     {"1h", 3600},     {"600", 600},
                  {"24h", 86400}, {"1440m", 86400}, {"86400", 86400}, {"1", 1}};
        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                unsigned v = 0;
                if (addon_parse_duration(ok[i].s, &v) != 0 || v != ok[i].want)
                        fail_msg("'%s' -> %u, expected %u", ok[i].s, v, ok[i].want);
        }
        static const char *const bad[] = {
                "0",  "0s",  "25h", "86401", "1441m", "10x", "",
                "m",  "-5m", " 5m", "5 m",   "5mm",   "5ms", "99999999999999999999999h",
                "5M", "1d"};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                unsigned v = 4242;
                if (addon_parse_duration(bad[i], &v) != -EINVAL || v != 4242)
                        fail_msg("'%s' accepted (%u)", bad[i], v);
        }
        unsigned v = 4242;
        assert_int_equal(addon_parse_duration(NULL, &v), -EINVAL);
        assert_int_equal(v, 4242);
}

/* ---- rendering ------------------------------------------------------------- */

static void assert_def_equal(const struct addon_def *a, const struct addon_def *b) {
        assert_string_equal(a->name, b->name);
        assert_string_equal(a->category, b->category);
        if (a->description || b->description)
                assert_string_equal(a->description, b->description);
        assert_int_equal(a->is_default, b->is_default);
        assert_strv(a->depends, (const char *const *) b->depends);
        assert_strv(a->images, (const char *const *) b->images);
        assert_int_equal(a->n_manifests, b->n_manifests);
        for (size_t i = 0; i < a->n_manifests; i++) {
                const struct addon_manifest *x = &a->manifests[i], *y = &b->manifests[i];
                assert_true(!x->url == !y->url);
                if (x->url)
                        assert_string_equal(x->url, y->url);
                assert_true(!x->file == !y->file);
                if (x->file)
                        assert_string_equal(x->file, y->file);
                assert_true(!x->sha256 == !y->sha256);
                if (x->sha256)
                        assert_string_equal(x->sha256, y->sha256);
                assert_int_equal(x->server_side, y->server_side);
                assert_int_equal(x->n_subs, y->n_subs);
                for (size_t j = 0; j < x->n_subs; j++) {
                        assert_string_equal(x->subs[j].find, y->subs[j].find);
                        assert_string_equal(x->subs[j].with, y->subs[j].with);
                }
        }
        assert_int_equal(a->timeout_sec, b->timeout_sec);
        assert_int_equal(a->n_checks, b->n_checks);
        for (size_t i = 0; i < a->n_checks; i++) {
                const struct addon_check *x = &a->checks[i], *y = &b->checks[i];
                assert_string_equal(x->kind, y->kind);
                assert_string_equal(x->namespace, y->namespace);
                assert_string_equal(x->name, y->name);
                assert_true(!x->jsonpath == !y->jsonpath);
                if (x->jsonpath) {
                        assert_string_equal(x->jsonpath, y->jsonpath);
                        assert_string_equal(x->equals, y->equals);
                }
        }
        char da[SHA256_HEX_LEN + 8], db[SHA256_HEX_LEN + 8];
        int ra = addon_digest(a, da), rb = addon_digest(b, db);
        assert_int_equal(ra, rb);
        if (ra == 0)
                assert_string_equal(da, db);
}

static void test_render_round_trip(void **unused) {
        (void) unused;
        _cleanup_addon_catalog_ struct addon_catalog cat = {0};
        parse_ok(full_def, &cat);
        /* Awkward strings: quotes, a colon, a leading '*', a '#', '${', 'true'. */
        parse_ok("---\nname: odd\ncategory: cni\ndescription: \"*not an alias: 'x' # y\"\n"
                 "manifests:\n  - file: odd.yaml\n    sha256: " HEX_B "\n    substitute:\n"
                 "      - find: \"true\"\n        with: '${single-node}'\n"
                 "      - find: \"- '10.0.0.0/8'\\n\"\n        with: \"- '${service-subnet}'\\n\\t\"\n"
                 "ready:\n  checks:\n    - {kind: x.y.io, namespace: n, name: 'null', jsonpath: '{.a}', "
                 "equals: 'yes'}\n",
                 &cat);
        assert_int_equal(cat.n_defs, 2);
        assert_string_equal(cat.defs[1].checks[0].name, "null");

        _cleanup_free_ char *text = NULL, *text2 = NULL;
        size_t size = 0, size2 = 0;
        assert_int_equal(addon_catalog_render(&cat, &text, &size), 0);
        assert_int_equal(strlen(text), size);

        _cleanup_addon_catalog_ struct addon_catalog back = {0};
        _cleanup_free_ char *err = NULL;
        int r = addon_catalog_parse("catalog.yaml", text, size, &back, &err);
        if (r < 0)
                fail_msg("%s\n%s", err ? err : "?", text);
        assert_int_equal(back.n_defs, 2);
        assert_def_equal(&back.defs[0], &cat.defs[0]);
        assert_def_equal(&back.defs[1], &cat.defs[1]);
        assert_full_def(&back.defs[0]);
        assert_int_equal(back.defs[1].timeout_sec, ADDON_TIMEOUT_DEFAULT);
        assert_true(strncmp(back.defs[0].origin, "catalog.yaml:", 13) == 0);

        /* Rendering what was parsed back gives the same bytes. */
        assert_int_equal(addon_catalog_render(&back, &text2, &size2), 0);
        assert_int_equal(size, size2);
        assert_string_equal(text, text2);

        /* An empty catalogue renders to something that parses to nothing. */
        _cleanup_addon_catalog_ struct addon_catalog none = {0}, none_back = {0};
        _cleanup_free_ char *t0 = NULL;
        size_t s0 = 0;
        assert_int_equal(addon_catalog_render(&none, &t0, &s0), 0);
        parse_ok(t0, &none_back);
        assert_int_equal(none_back.n_defs, 0);
}

/* ---- the repository's catalogue ------------------------------------------ */

static void load_shipped(struct addon_catalog *cat, glob_t *g) {
        assert_int_equal(glob(ADDONS_DIR "*.yaml", 0, NULL, g), 0);
        assert_true(g->gl_pathc >= 2);
        for (size_t i = 0; i < g->gl_pathc; i++) {
                _cleanup_free_ char *data = NULL, *err = NULL;
                size_t size = 0;
                assert_int_equal(read_file_full(g->gl_pathv[i], ADDON_CATALOG_MAX, &data, &size), 0);
                size_t before = cat->n_defs;
                int r = addon_catalog_parse(g->gl_pathv[i], data, size, cat, &err);
                if (r < 0)
                        fail_msg("%s: %s", g->gl_pathv[i], err ? err : "?");
                /* One add-on per file, named as the file is. */
                assert_int_equal(cat->n_defs, before + 1);
                _cleanup_free_ char *want = strdupf(ADDONS_DIR "%s.yaml", cat->defs[before].name);
                assert_string_equal(g->gl_pathv[i], want);
        }
}

static void test_shipped_catalog(void **unused) {
        (void) unused;
        _cleanup_addon_catalog_ struct addon_catalog cat = {0};
        glob_t g = {0};
        load_shipped(&cat, &g);
        _cleanup_free_ char *err = NULL;
        if (addon_catalog_validate(&cat, &err) < 0)
                fail_msg("%s", err);

        _cleanup_strv_free_ char **sel = NULL, **ordered = NULL;
        assert_int_equal(addon_default_selection(&cat, &sel), 0);
        assert_true(strv_length(sel) >= 1);
        if (addon_order(&cat, sel, &ordered, &err) < 0)
                fail_msg("default selection: %s", err);
        assert_int_equal(strv_length(ordered), strv_length(sel));
        size_t n_cni = 0, cni_at = SIZE_MAX;
        for (size_t i = 0; ordered[i]; i++) {
                const struct addon_def *d = addon_catalog_find(&cat, ordered[i]);
                assert_non_null(d);
                assert_true(d->is_default);
                if (streq(d->category, "cni")) {
                        n_cni++;
                        cni_at = i;
                }
        }
        assert_int_equal(n_cni, 1);
        assert_int_equal(cni_at, 0); /* every other add-on after it */
        for (size_t i = 1; ordered[i]; i++)
                assert_true(addon_depends_on(&cat, ordered, ordered[i], ordered[0]));

        /* Each CNI alone, and with every non-CNI add-on whose dependencies it
         * meets, orders with the CNI first. */
        for (size_t i = 0; i < cat.n_defs; i++) {
                if (!streq(cat.defs[i].category, "cni"))
                        continue;
                _cleanup_strv_free_ char **all = NULL, **out = NULL;
                assert_int_equal(strv_push(&all, cat.defs[i].name), 0);
                for (size_t j = 0; j < cat.n_defs; j++)
                        if (!streq(cat.defs[j].category, "cni"))
                                assert_int_equal(strv_push(&all, cat.defs[j].name), 0);
                free(err);
                err = NULL;
                if (addon_order(&cat, all, &out, &err) < 0)
                        fail_msg("%s with everything: %s", cat.defs[i].name, err);
                assert_string_equal(out[0], cat.defs[i].name);
        }

        /* Every check has a kubectl command; every manifest given by file is
         * beside the definition and every substitution finds its text. */
        for (size_t i = 0; i < cat.n_defs; i++) {
                const struct addon_def *d = &cat.defs[i];
                for (size_t j = 0; j < d->n_checks; j++) {
                        _cleanup_strv_free_ char **argv = NULL;
                        assert_int_equal(
                                addon_check_argv(&d->checks[j], "/etc/kubernetes/admin.conf", &argv), 0);
                }
                for (size_t j = 0; j < d->n_manifests; j++) {
                        const struct addon_manifest *m = &d->manifests[j];
                        if (m->url) {
                                assert_true(strncmp(m->url, "https://", 8) == 0);
                                continue;
                        }
                        _cleanup_free_ char *path = strdupf(ADDONS_DIR "%s", m->file), *data = NULL;
                        size_t size = 0;
                        int r = read_file_full(path, ADDON_CATALOG_MAX, &data, &size);
                        if (r < 0)
                                fail_msg("%s: manifest %s: %d", d->origin, path, r);
                        for (unsigned nodes = 1; nodes <= 5; nodes++) {
                                struct addon_vars v = {"10.244.0.0/16", "10.96.0.0/12", "kubeseed", nodes};
                                _cleanup_free_ char *out = NULL;
                                free(err);
                                err = NULL;
                                r = addon_substitute(data, size, m, &v, &out, NULL, &err);
                                if (r < 0)
                                        fail_msg("%s: %s: %s", d->origin, path, err ? err : "?");
                                /* Nothing of the markers is left to substitute. */
                                for (size_t k = 0; k < m->n_subs; k++)
                                        if (strstr(out, m->subs[k].find))
                                                fail_msg("%s: '%s' still in %s", d->origin, m->subs[k].find,
                                                         path);
                        }
                }
        }
        globfree(&g);
}

/* What rook-ceph's CephCluster becomes on one node and on three. */
static void test_shipped_rook_ceph(void **unused) {
        (void) unused;
        _cleanup_addon_catalog_ struct addon_catalog cat = {0};
        glob_t g = {0};
        load_shipped(&cat, &g);
        globfree(&g);
        const struct addon_def *d = addon_catalog_find(&cat, "rook-ceph");
        if (!d)
                skip();
        const struct addon_manifest *m = NULL;
        for (size_t i = 0; i < d->n_manifests; i++)
                if (d->manifests[i].file)
                        m = &d->manifests[i];
        assert_non_null(m);
        _cleanup_free_ char *path = strdupf(ADDONS_DIR "%s", m->file), *data = NULL;
        size_t size = 0;
        assert_int_equal(read_file_full(path, ADDON_CATALOG_MAX, &data, &size), 0);
        static const struct {
                unsigned nodes;
                const char *mon, *multi, *size, *safe;
        } cases[] = {
                {1, "count: 1\n", "allowMultiplePerNode: true\n", "size: 1\n",
                 "requireSafeReplicaSize: false\n"},
                {2, "count: 1\n", "allowMultiplePerNode: false\n", "size: 2\n",
                 "requireSafeReplicaSize: true\n"},
                {3, "count: 3\n", "allowMultiplePerNode: false\n", "size: 3\n",
                 "requireSafeReplicaSize: true\n"},
                {7, "count: 3\n", "allowMultiplePerNode: false\n", "size: 3\n",
                 "requireSafeReplicaSize: true\n"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct addon_vars v = {"10.244.0.0/16", "10.96.0.0/12", "kubeseed", cases[i].nodes};
                _cleanup_free_ char *out = NULL, *err = NULL;
                assert_int_equal(addon_substitute(data, size, m, &v, &out, NULL, &err), 0);
                _cleanup_free_ char *mon = strdupf("  mon:\n    %s", cases[i].mon);
                assert_non_null(strstr(out, mon));
                assert_non_null(strstr(out, cases[i].multi));
                assert_non_null(strstr(out, cases[i].size));
                assert_non_null(strstr(out, cases[i].safe));
                assert_null(strstr(out, " # kubeseed:"));
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_full),
                cmocka_unit_test(test_parse_minimal),
                cmocka_unit_test(test_parse_errors),
                cmocka_unit_test(test_parse_unknown_key_position),
                cmocka_unit_test(test_parse_empty_strings),
                cmocka_unit_test(test_catalog_documents),
                cmocka_unit_test(test_catalog_empty_documents),
                cmocka_unit_test(test_order),
                cmocka_unit_test(test_depends_on),
                cmocka_unit_test(test_validate),
                cmocka_unit_test(test_validate_cycle_through_categories),
                cmocka_unit_test(test_limits),
                cmocka_unit_test(test_default_selection),
                cmocka_unit_test(test_expand_vars),
                cmocka_unit_test(test_substitute),
                cmocka_unit_test(test_digest),
                cmocka_unit_test(test_check_argv),
                cmocka_unit_test(test_check_eval),
                cmocka_unit_test(test_check_eval_empty_middle),
                cmocka_unit_test(test_kubectl_transient),
                cmocka_unit_test(test_parse_duration),
                cmocka_unit_test(test_render_round_trip),
                cmocka_unit_test(test_shipped_catalog),
                cmocka_unit_test(test_shipped_rook_ceph),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
