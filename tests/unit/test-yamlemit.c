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

#include <cmocka.h>

#include "macro.h"
#include "yamlemit.h"
#include "yamltree.h"

static char *finish_ok(struct yemit *e) {
        char *text = NULL;
        size_t size = 0;
        int r = yemit_finish(e, &text, &size);
        if (r < 0)
                fail_msg("yemit_finish failed: %d", r);
        assert_non_null(text);
        assert_int_equal(size, strlen(text));
        return text;
}

/* Parses `text` as exactly `n` documents with lib/yamltree. */
static struct ynode **parse(const char *text, size_t n) {
        struct ynode **docs = NULL;
        size_t n_docs = 0;
        char *err = NULL;
        int r = yaml_parse_documents(text, strlen(text), &yaml_default_limits, &docs, &n_docs, &err);
        if (r < 0)
                fail_msg("cannot parse emitted YAML (%d: %s):\n%s", r, err ? err : "", text);
        assert_null(err);
        assert_int_equal(n_docs, n);
        return docs;
}

/* Strings whose plain form a YAML 1.1 reader (libyaml-based tools, Go's
 * yaml.v2 that kubeadm uses) takes for another type. */
static const char *const typed[] = {
        "true", "True", "TRUE",  "false", "yes",        "Yes",  "no",    "NO",    "on",   "off",  "y",
        "n",    "null", "Null",  "~",     "",           "1.20", "0x1f",  "0o17",  "017",  "1e3",  "-3",
        "+1",   ".5",   "1_000", "12:30", "2024-01-02", ".inf", "-.inf", "+.INF", ".nan", ".NaN", "<<",
};

/* Strings that are plain text and stay plain. */
static const char *const plain[] = {
        "plain",
        "debian-bookworm",
        "v1.31.1",
        "kubeadm.k8s.io/v1beta4",
        "https://mirror.local:5000/debian",
        "it's",
        "x,y",
        "a-b_c",
        "nope",
        "truey",
        "nullable",
        "e1",
};

/* Strings that are strings but cannot be plain for syntax reasons. */
static const char *const syntax[] = {
        "a: b", "- x",       "#comment",   " lead",    "trail ",      "*alias",      "&anchor",
        "!tag", "@at",       "`bt",        "%dir",     "?",           "[x]",         "{x}",
        "a #b", "tab\there", "two\nlines", "quote\"d", "back\\slash", "caf\xc3\xa9",
};

static void emit_map_of(struct yemit *e, const char *const *values, size_t n) {
        yemit_document_start(e);
        yemit_map_start(e);
        for (size_t i = 0; i < n; i++) {
                char key[32];
                snprintf(key, sizeof key, "k%zu", i);
                yemit_kv(e, key, values[i]);
        }
        yemit_map_end(e);
        yemit_document_end(e);
}

/* Every value comes back as written, as a string: untagged, and plain only
 * when its plain form is a string. */
static void check_map_of(const struct ynode *doc, const char *const *values, size_t n, bool must_quote) {
        assert_int_equal(doc->kind, YNODE_MAPPING);
        assert_int_equal(doc->n_items, n);
        for (size_t i = 0; i < n; i++) {
                char key[32];
                snprintf(key, sizeof key, "k%zu", i);
                assert_string_equal(doc->keys[i], key);
                const struct ynode *v = doc->items[i];
                assert_int_equal(v->kind, YNODE_SCALAR);
                if (!streq(v->value, values[i]))
                        fail_msg("value %zu came back as <%s>, written <%s>", i, v->value, values[i]);
                if (v->tag)
                        fail_msg("value <%s> came back with the tag <%s>", values[i], v->tag);
                if (must_quote && v->plain)
                        fail_msg("<%s> was written plain: it reads as another type", values[i]);
                if (v->plain && ynode_is_null(v))
                        fail_msg("<%s> reads back as null", values[i]);
        }
}

static void test_typed_strings_quoted(void **state) {
        (void) state;
        _cleanup_(yemit_freep) struct yemit *e = NULL;
        assert_int_equal(yemit_new(&e), 0);
        emit_map_of(e, typed, ELEMENTSOF(typed));
        _cleanup_free_ char *text = finish_ok(e);
        /* Spot checks on the text itself. */
        assert_non_null(strstr(text, "k0: \"true\"\n"));
        assert_non_null(strstr(text, "k12: \"null\"\n"));
        assert_non_null(strstr(text, "k14: \"~\"\n"));
        assert_non_null(strstr(text, "k15: \"\"\n"));
        assert_non_null(strstr(text, "k16: \"1.20\"\n"));
        assert_non_null(strstr(text, "k17: \"0x1f\"\n"));
        assert_non_null(strstr(text, "k4: \"yes\"\n"));
        struct ynode **docs = parse(text, 1);
        check_map_of(docs[0], typed, ELEMENTSOF(typed), true);
        ynode_free_documents(docs, 1);
}

static void test_plain_strings_plain(void **state) {
        (void) state;
        _cleanup_(yemit_freep) struct yemit *e = NULL;
        assert_int_equal(yemit_new(&e), 0);
        emit_map_of(e, plain, ELEMENTSOF(plain));
        _cleanup_free_ char *text = finish_ok(e);
        for (size_t i = 0; i < ELEMENTSOF(plain); i++) {
                char line[128];
                snprintf(line, sizeof line, "k%zu: %s\n", i, plain[i]);
                if (!strstr(text, line))
                        fail_msg("<%s> is not written plain:\n%s", plain[i], text);
        }
        struct ynode **docs = parse(text, 1);
        check_map_of(docs[0], plain, ELEMENTSOF(plain), false);
        for (size_t i = 0; i < ELEMENTSOF(plain); i++)
                assert_true(docs[0]->items[i]->plain);
        ynode_free_documents(docs, 1);
}

static void test_syntax_strings(void **state) {
        (void) state;
        _cleanup_(yemit_freep) struct yemit *e = NULL;
        assert_int_equal(yemit_new(&e), 0);
        emit_map_of(e, syntax, ELEMENTSOF(syntax));
        _cleanup_free_ char *text = finish_ok(e);
        /* Quoted without a tag ("! 'a: b'" would be a non-specific tag). */
        assert_null(strstr(text, "!"
                                 " '"));
        assert_non_null(strstr(text, "k0: 'a: b'\n"));
        struct ynode **docs = parse(text, 1);
        check_map_of(docs[0], syntax, ELEMENTSOF(syntax), false);
        ynode_free_documents(docs, 1);
}

static const char pem[] = "-----BEGIN CERTIFICATE-----\n"
                          "MIIBszCCAVmgAwIBAgIUSGV5IHRoZXJlIQ==\n"
                          "aGVsbG8gd29ybGQ=\n"
                          "-----END CERTIFICATE-----\n";

static void test_block_scalars(void **state) {
        (void) state;
        _cleanup_(yemit_freep) struct yemit *e = NULL;
        assert_int_equal(yemit_new(&e), 0);
        yemit_document_start(e);
        yemit_map_start(e);
        yemit_str(e, "ca.crt");
        yemit_block(e, pem);
        yemit_str(e, "no-final-newline");
        yemit_block(e, "line one\nline two");
        yemit_map_end(e);
        yemit_document_end(e);
        _cleanup_free_ char *text = finish_ok(e);
        assert_non_null(strstr(text, "ca.crt: |\n"
                                     "  -----BEGIN CERTIFICATE-----\n"
                                     "  MIIBszCCAVmgAwIBAgIUSGV5IHRoZXJlIQ==\n"
                                     "  aGVsbG8gd29ybGQ=\n"
                                     "  -----END CERTIFICATE-----\n"));
        assert_non_null(strstr(text, "no-final-newline: |-\n  line one\n  line two\n"));
        struct ynode **docs = parse(text, 1);
        assert_string_equal(ynode_get_str(docs[0], "ca.crt"), pem);
        assert_false(ynode_get(docs[0], "ca.crt")->plain);
        assert_null(ynode_get(docs[0], "ca.crt")->tag);
        assert_string_equal(ynode_get_str(docs[0], "no-final-newline"), "line one\nline two");
        ynode_free_documents(docs, 1);
}

static void test_documents_and_nesting(void **state) {
        (void) state;
        _cleanup_(yemit_freep) struct yemit *e = NULL;
        assert_int_equal(yemit_new(&e), 0);
        /* kubeadm's layout: several documents in one stream. */
        yemit_document_start(e);
        yemit_map_start(e);
        yemit_kv(e, "apiVersion", "kubeadm.k8s.io/v1beta3");
        yemit_kv(e, "kind", "InitConfiguration");
        yemit_str(e, "nodeRegistration");
        yemit_map_start(e);
        yemit_kv(e, "name", "node-1");
        yemit_str(e, "taints");
        yemit_seq_start(e);
        yemit_seq_end(e);
        yemit_map_end(e);
        yemit_map_end(e);
        yemit_document_end(e);

        yemit_document_start(e);
        yemit_map_start(e);
        yemit_kv(e, "kind", "ClusterConfiguration");
        yemit_kv(e, "kubernetesVersion", "1.30");
        yemit_kv_raw(e, "port", "6443");
        yemit_kv_raw(e, "enabled", "true");
        yemit_str(e, "certSANs");
        yemit_seq_start(e);
        yemit_str(e, "10.0.0.1");
        yemit_str(e, "node-1.example");
        yemit_seq_end(e);
        yemit_map_end(e);
        yemit_document_end(e);

        yemit_document_start(e);
        yemit_seq_start(e);
        yemit_str(e, "no");
        yemit_seq_end(e);
        yemit_document_end(e);
        _cleanup_free_ char *text = finish_ok(e);

        struct ynode **docs = parse(text, 3);
        assert_string_equal(ynode_get_str(docs[0], "kind"), "InitConfiguration");
        const struct ynode *nr = ynode_get(docs[0], "nodeRegistration");
        assert_non_null(nr);
        assert_string_equal(ynode_get_str(nr, "name"), "node-1");
        assert_int_equal(ynode_get(nr, "taints")->kind, YNODE_SEQUENCE);
        assert_int_equal(ynode_get(nr, "taints")->n_items, 0);

        assert_string_equal(ynode_get_str(docs[1], "kind"), "ClusterConfiguration");
        assert_string_equal(ynode_get_str(docs[1], "kubernetesVersion"), "1.30");
        assert_false(ynode_get(docs[1], "kubernetesVersion")->plain);
        /* Raw values are written plain, so a reader types them. */
        assert_string_equal(ynode_get_str(docs[1], "port"), "6443");
        assert_true(ynode_get(docs[1], "port")->plain);
        assert_true(ynode_get(docs[1], "enabled")->plain);
        const struct ynode *sans = ynode_get(docs[1], "certSANs");
        assert_int_equal(sans->kind, YNODE_SEQUENCE);
        assert_int_equal(sans->n_items, 2);
        assert_string_equal(sans->items[0]->value, "10.0.0.1");
        assert_false(sans->items[0]->plain);
        assert_string_equal(sans->items[1]->value, "node-1.example");

        assert_int_equal(docs[2]->kind, YNODE_SEQUENCE);
        assert_string_equal(docs[2]->items[0]->value, "no");
        assert_false(docs[2]->items[0]->plain);
        ynode_free_documents(docs, 3);

        /* Each document is marked: a reader splitting on "---" sees three. */
        size_t markers = 0;
        for (const char *p = text; (p = strstr(p, "---")); p += 3)
                if (p == text || p[-1] == '\n')
                        markers++;
        assert_int_equal(markers, 3);
}

static void test_misuse(void **state) {
        (void) state;
        /* An end without a start: libyaml's emitter refuses it, the error
         * is sticky and reported at the end. */
        _cleanup_(yemit_freep) struct yemit *e = NULL;
        assert_int_equal(yemit_new(&e), 0);
        yemit_document_start(e);
        yemit_map_start(e);
        yemit_seq_end(e);
        yemit_str(e, "later");
        char *text = (char *) 1;
        assert_true(yemit_finish(e, &text, NULL) < 0);
        assert_ptr_equal(text, (char *) 1);

        /* A document left open. */
        _cleanup_(yemit_freep) struct yemit *e2 = NULL;
        assert_int_equal(yemit_new(&e2), 0);
        yemit_document_start(e2);
        yemit_map_start(e2);
        yemit_kv(e2, "a", "b");
        assert_true(yemit_finish(e2, &text, NULL) < 0);
        assert_ptr_equal(text, (char *) 1);
}

static void test_empty_stream(void **state) {
        (void) state;
        _cleanup_(yemit_freep) struct yemit *e = NULL;
        assert_int_equal(yemit_new(&e), 0);
        _cleanup_free_ char *text = finish_ok(e);
        assert_string_equal(text, "");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_typed_strings_quoted),  cmocka_unit_test(test_plain_strings_plain),
                cmocka_unit_test(test_syntax_strings),        cmocka_unit_test(test_block_scalars),
                cmocka_unit_test(test_documents_and_nesting), cmocka_unit_test(test_misuse),
                cmocka_unit_test(test_empty_stream),
        };
        return cmocka_run_group_tests_name("yamlemit", tests, NULL, NULL);
}
