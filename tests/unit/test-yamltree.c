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

#include "macro.h"
#include "yamltree.h"

static struct ynode *parse_ok(const char *text) {
        struct ynode *n = NULL;
        char *error = NULL;
        int r = yaml_parse_one(text, strlen(text), NULL, &n, &error);
        if (r < 0)
                print_error("unexpected error %d: %s\n", r, error ? error : "(none)");
        assert_int_equal(r, 0);
        assert_null(error);
        assert_non_null(n);
        return n;
}

/* Parses `text` (all documents) with `limits`, expects failure `expected_r`
 * and an error message equal to `expected`. */
static void expect_error(const char *text, size_t size, const struct yaml_limits *limits, int expected_r,
                         const char *expected) {
        struct ynode **docs = (struct ynode **) 0x1;
        size_t n_docs = 4242;
        _cleanup_free_ char *error = NULL;
        int r = yaml_parse_documents(text, size, limits, &docs, &n_docs, &error);
        if (r != expected_r || !error || !streq(error, expected))
                print_error("input: %s\n got %d '%s'\n want %d '%s'\n", text, r, error ? error : "(none)",
                            expected_r, expected);
        assert_int_equal(r, expected_r);
        assert_non_null(error);
        assert_string_equal(error, expected);
        /* out-parameters untouched on failure */
        assert_ptr_equal(docs, (struct ynode **) 0x1);
        assert_int_equal(n_docs, 4242);

        /* the same failure without an error buffer (and no leak) */
        assert_int_equal(yaml_parse_documents(text, size, limits, NULL, NULL, NULL), expected_r);
}

static void expect_error_str(const char *text, int expected_r, const char *expected) {
        expect_error(text, strlen(text), NULL, expected_r, expected);
}

static void assert_mark(const struct ynode *n, size_t line, size_t column) {
        assert_non_null(n);
        assert_int_equal(n->line, line);
        assert_int_equal(n->column, column);
}

static void test_scalars(void **state) {
        (void) state;
        _cleanup_ynode_ struct ynode *root = parse_ok("plain: hello world\n"
                                                      "single: 'it''s'\n"
                                                      "double: \"tab\\there\"\n"
                                                      "  # comment\n"
                                                      "number:   42\n"
                                                      "tagged: !!str 5\n"
                                                      "block: |\n"
                                                      "  line one\n"
                                                      "  line two\n");
        assert_int_equal(root->kind, YNODE_MAPPING);
        assert_mark(root, 1, 1);
        assert_int_equal(root->n_items, 6);

        assert_string_equal(root->keys[0], "plain");
        assert_int_equal(root->key_lines[0], 1);
        assert_int_equal(root->key_columns[0], 1);
        const struct ynode *n = ynode_get(root, "plain");
        assert_int_equal(n->kind, YNODE_SCALAR);
        assert_string_equal(n->value, "hello world");
        assert_true(n->plain);
        assert_null(n->tag);
        assert_mark(n, 1, 8);

        n = ynode_get(root, "single");
        assert_string_equal(n->value, "it's");
        assert_false(n->plain);
        assert_mark(n, 2, 9);

        n = ynode_get(root, "double");
        assert_string_equal(n->value, "tab\there");
        assert_false(n->plain);
        assert_mark(n, 3, 9);

        n = ynode_get(root, "number");
        assert_string_equal(n->value, "42");
        assert_mark(n, 5, 11);
        assert_int_equal(root->key_lines[3], 5);
        assert_int_equal(root->key_columns[3], 1);

        n = ynode_get(root, "tagged");
        assert_string_equal(n->value, "5");
        assert_string_equal(n->tag, "tag:yaml.org,2002:str");
        assert_mark(n, 6, 9);

        n = ynode_get(root, "block");
        assert_string_equal(n->value, "line one\nline two\n");
        assert_false(n->plain);
        assert_mark(n, 7, 8);

        assert_string_equal(ynode_get_str(root, "plain"), "hello world");
        assert_null(ynode_get_str(root, "missing"));
        assert_null(ynode_get(root, "missing"));
        assert_null(ynode_get(n, "plain")); /* not a mapping */
        assert_null(ynode_get(NULL, "plain"));
}

static void test_utf8_columns(void **state) {
        (void) state;
        /* columns count characters, not bytes */
        _cleanup_ynode_ struct ynode *root = parse_ok("k\xc3\xa9y: v\xc3\xa4lue\nnext: x\n");
        const struct ynode *n = ynode_get(root, "k\xc3\xa9y");
        assert_non_null(n);
        assert_mark(n, 1, 6);
        assert_string_equal(n->value, "v\xc3\xa4lue");
}

static void test_sequences(void **state) {
        (void) state;
        _cleanup_ynode_ struct ynode *root = parse_ok("- one\n"
                                                      "- [two, three]\n"
                                                      "- {k: v}\n"
                                                      "-   - nested\n"
                                                      "    - block\n"
                                                      "- []\n");
        assert_int_equal(root->kind, YNODE_SEQUENCE);
        assert_mark(root, 1, 1);
        assert_int_equal(root->n_items, 5);
        assert_null(root->keys);

        assert_string_equal(root->items[0]->value, "one");
        assert_mark(root->items[0], 1, 3);

        const struct ynode *flow = root->items[1];
        assert_int_equal(flow->kind, YNODE_SEQUENCE);
        assert_mark(flow, 2, 3);
        assert_int_equal(flow->n_items, 2);
        assert_string_equal(flow->items[1]->value, "three");
        assert_mark(flow->items[1], 2, 9);

        const struct ynode *map = root->items[2];
        assert_int_equal(map->kind, YNODE_MAPPING);
        assert_mark(map, 3, 3);
        assert_string_equal(ynode_get_str(map, "k"), "v");
        assert_int_equal(map->key_columns[0], 4);

        const struct ynode *nested = root->items[3];
        assert_int_equal(nested->kind, YNODE_SEQUENCE);
        assert_mark(nested, 4, 5);
        assert_int_equal(nested->n_items, 2);
        assert_mark(nested->items[1], 5, 7);

        assert_int_equal(root->items[4]->kind, YNODE_SEQUENCE);
        assert_int_equal(root->items[4]->n_items, 0);
}

static void test_mappings(void **state) {
        (void) state;
        _cleanup_ynode_ struct ynode *root = parse_ok("top:\n"
                                                      "  inner:\n"
                                                      "    leaf: 1\n"
                                                      "  list:\n"
                                                      "  - a\n"
                                                      "empty: {}\n"
                                                      "nothing:\n"
                                                      "\"quoted key\": x\n");
        assert_int_equal(root->n_items, 4);
        const struct ynode *top = ynode_get(root, "top");
        assert_int_equal(top->kind, YNODE_MAPPING);
        /* a block mapping starts at its first key */
        assert_mark(top, 2, 3);
        const struct ynode *inner = ynode_get(top, "inner");
        assert_mark(inner, 3, 5);
        assert_string_equal(ynode_get_str(inner, "leaf"), "1");
        assert_int_equal(inner->key_lines[0], 3);
        assert_int_equal(inner->key_columns[0], 5);
        const struct ynode *list = ynode_get(top, "list");
        assert_int_equal(list->kind, YNODE_SEQUENCE);
        assert_mark(list, 5, 3);

        const struct ynode *empty = ynode_get(root, "empty");
        assert_int_equal(empty->kind, YNODE_MAPPING);
        assert_int_equal(empty->n_items, 0);
        assert_mark(empty, 6, 8);

        const struct ynode *nothing = ynode_get(root, "nothing");
        assert_int_equal(nothing->kind, YNODE_SCALAR);
        assert_true(ynode_is_null(nothing));

        assert_string_equal(ynode_get_str(root, "quoted key"), "x");
        assert_int_equal(root->key_lines[3], 8);
        assert_int_equal(root->key_columns[3], 1);
}

static void test_multi_document(void **state) {
        (void) state;
        const char *text = "a: 1\n"
                           "---\n"
                           "- b\n"
                           "...\n"
                           "--- plain\n"
                           "---\n";
        struct ynode **docs = NULL;
        size_t n = 0;
        _cleanup_free_ char *error = NULL;
        assert_int_equal(yaml_parse_documents(text, strlen(text), NULL, &docs, &n, &error), 0);
        assert_null(error);
        assert_int_equal(n, 4);
        assert_int_equal(docs[0]->kind, YNODE_MAPPING);
        assert_mark(docs[0], 1, 1);
        assert_int_equal(docs[1]->kind, YNODE_SEQUENCE);
        assert_mark(docs[1], 3, 1);
        assert_int_equal(docs[2]->kind, YNODE_SCALAR);
        assert_string_equal(docs[2]->value, "plain");
        assert_mark(docs[2], 5, 5);
        assert_true(ynode_is_null(docs[3]));
        ynode_free_documents(docs, n);

        /* yaml_parse_one refuses more than one, pointing at the second */
        struct ynode *one = (struct ynode *) 0x1;
        _cleanup_free_ char *error1 = NULL;
        assert_int_equal(yaml_parse_one(text, strlen(text), NULL, &one, &error1), -EBADMSG);
        assert_string_equal(error1, "3:1: expected a single document");
        assert_ptr_equal(one, (struct ynode *) 0x1);
}

static void test_empty(void **state) {
        (void) state;
        static const char *const empties[] = {"", "\n\n", "# only a comment\n", "---\n", "--- \n...\n"};
        for (size_t i = 0; i < ELEMENTSOF(empties); i++) {
                struct ynode **docs = NULL;
                size_t n = 99;
                assert_int_equal(yaml_parse_documents(empties[i], strlen(empties[i]), NULL, &docs, &n, NULL),
                                 0);
                assert_true(n <= 1);
                ynode_free_documents(docs, n);

                _cleanup_ynode_ struct ynode *root = parse_ok(empties[i]);
                assert_int_equal(root->kind, YNODE_MAPPING);
                assert_int_equal(root->n_items, 0);
        }

        /* NULL data with size 0 is an empty input too */
        struct ynode *root = NULL;
        assert_int_equal(yaml_parse_one(NULL, 0, NULL, &root, NULL), 0);
        assert_int_equal(root->kind, YNODE_MAPPING);
        ynode_free(root);

        /* an explicit null document is not empty: it stays a null scalar */
        _cleanup_ynode_ struct ynode *null = parse_ok("~\n");
        assert_int_equal(null->kind, YNODE_SCALAR);
        assert_true(ynode_is_null(null));
}

static void test_limit_input(void **state) {
        (void) state;
        struct yaml_limits limits = yaml_default_limits;
        limits.max_input = 8;
        const char *text = "a: 12345"; /* exactly 8 bytes */
        struct ynode **docs = NULL;
        size_t n = 0;
        assert_int_equal(yaml_parse_documents(text, 8, &limits, &docs, &n, NULL), 0);
        ynode_free_documents(docs, n);
        expect_error("a: 123456", 9, &limits, -EFBIG, "1:1: input is larger than 8 bytes");

        /* the default is 1 MiB */
        assert_int_equal(yaml_default_limits.max_input, 1024 * 1024);
        size_t big = yaml_default_limits.max_input + 1;
        _cleanup_free_ char *buf = malloc(big);
        assert_non_null(buf);
        memset(buf, '#', big);
        expect_error(buf, big, NULL, -EFBIG, "1:1: input is larger than 1048576 bytes");
}

static void test_limit_depth(void **state) {
        (void) state;
        struct yaml_limits limits = yaml_default_limits;
        limits.max_depth = 3;
        const char *ok = "a: {b: [c]}";
        struct ynode **docs = NULL;
        size_t n = 0;
        assert_int_equal(yaml_parse_documents(ok, strlen(ok), &limits, &docs, &n, NULL), 0);
        ynode_free_documents(docs, n);
        const char *deep = "a:\n  b:\n    - c: d\n";
        expect_error(deep, strlen(deep), &limits, -E2BIG, "3:7: nesting is deeper than 3 levels");

        /* default: 64 levels are fine, 65 are not */
        assert_int_equal(yaml_default_limits.max_depth, 64);
        char buf[200];
        memset(buf, '[', 64);
        memset(buf + 64, ']', 64);
        buf[128] = '\0';
        _cleanup_ynode_ struct ynode *root = parse_ok(buf);
        assert_int_equal(root->kind, YNODE_SEQUENCE);

        memset(buf, '[', 65);
        memset(buf + 65, ']', 65);
        buf[130] = '\0';
        expect_error_str(buf, -E2BIG, "1:65: nesting is deeper than 64 levels");

        /* an unterminated deep nest is refused by the limit before anything else */
        memset(buf, '[', 199);
        buf[199] = '\0';
        expect_error_str(buf, -E2BIG, "1:65: nesting is deeper than 64 levels");
}

static void test_limit_nodes(void **state) {
        (void) state;
        struct yaml_limits limits = yaml_default_limits;
        limits.max_nodes = 5;
        /* mapping + 2 keys + 2 values = 5 nodes */
        const char *ok = "a: 1\nb: 2\n---\nc: 3\nd: 4\n";
        struct ynode **docs = NULL;
        size_t n = 0;
        /* the count is per document */
        assert_int_equal(yaml_parse_documents(ok, strlen(ok), &limits, &docs, &n, NULL), 0);
        assert_int_equal(n, 2);
        ynode_free_documents(docs, n);
        expect_error("a: 1\nb: 2\nc: 3\n", 15, &limits, -E2BIG, "3:1: document has more than 5 nodes");
        expect_error("[1, 2, 3, 4, 5]", 15, &limits, -E2BIG, "1:14: document has more than 5 nodes");

        assert_int_equal(yaml_default_limits.max_nodes, 100000);
}

static void test_limit_documents(void **state) {
        (void) state;
        struct yaml_limits limits = yaml_default_limits;
        limits.max_documents = 2;
        const char *ok = "a\n---\nb\n";
        struct ynode **docs = NULL;
        size_t n = 0;
        assert_int_equal(yaml_parse_documents(ok, strlen(ok), &limits, &docs, &n, NULL), 0);
        assert_int_equal(n, 2);
        ynode_free_documents(docs, n);
        const char *bad = "a\n---\nb\n---\nc\n";
        expect_error(bad, strlen(bad), &limits, -E2BIG, "4:1: more than 2 documents");

        assert_int_equal(yaml_default_limits.max_documents, 64);
}

static void test_aliases_refused(void **state) {
        (void) state;
        expect_error_str("a: &x 1\nb: *x\n", -EBADMSG, "1:4: anchors and aliases are not supported");
        expect_error_str("a: 1\nb: *x\n", -EBADMSG, "2:4: anchors and aliases are not supported");
        expect_error_str("base: &b {k: v}\n", -EBADMSG, "1:7: anchors and aliases are not supported");
        expect_error_str("- &s\n  - 1\n", -EBADMSG, "1:3: anchors and aliases are not supported");
        expect_error_str("&k key: v\n", -EBADMSG, "1:1: anchors and aliases are not supported");
        /* the billion laughs never gets past the first anchor */
        expect_error_str("a: &a [\"lol\",\"lol\"]\nb: &b [*a,*a]\nc: [*b,*b]\n", -EBADMSG,
                         "1:4: anchors and aliases are not supported");
}

static void test_duplicate_keys(void **state) {
        (void) state;
        expect_error_str("a: 1\nb: 2\na: 3\n", -EBADMSG, "3:1: duplicate key 'a' (first at 1:1)");
        expect_error_str("{x: 1, x: 2}", -EBADMSG, "1:8: duplicate key 'x' (first at 1:2)");
        expect_error_str("top:\n  k: 1\n  k: 1\n", -EBADMSG, "3:3: duplicate key 'k' (first at 2:3)");
        /* the first repetition in input order is reported */
        expect_error_str("b: 1\na: 1\nb: 2\na: 2\na: 3\n", -EBADMSG,
                         "3:1: duplicate key 'b' (first at 1:1)");
        expect_error_str("a: 1\nb: 1\nz: 0\nb: 2\na: 2\n", -EBADMSG,
                         "4:1: duplicate key 'b' (first at 2:1)");
        /* keys compare as text: quoting does not make them different */
        expect_error_str("k: 1\n'k': 2\n", -EBADMSG, "2:1: duplicate key 'k' (first at 1:1)");
        /* control characters in a key do not reach the message */
        expect_error_str("\"a\\eb\": 1\n\"a\\eb\": 2\n", -EBADMSG,
                         "2:1: duplicate key 'a?b' (first at 1:1)");

        /* the same key in different mappings is fine */
        _cleanup_ynode_ struct ynode *root = parse_ok("a: {k: 1}\nb: {k: 2}\n");
        assert_int_equal(root->n_items, 2);
}

static void test_non_scalar_keys(void **state) {
        (void) state;
        expect_error_str("? [a, b]\n: 1\n", -EBADMSG, "1:3: mapping keys must be scalars, not a sequence");
        expect_error_str("? {a: 1}\n: x\n", -EBADMSG, "1:3: mapping keys must be scalars, not a mapping");
        expect_error_str("ok: 1\n[a]: 1\n", -EBADMSG, "2:1: mapping keys must be scalars, not a sequence");
}

static void test_syntax_errors(void **state) {
        (void) state;
        expect_error_str("a: [1, 2\nb: 3\n", -EBADMSG,
                         "2:2: did not find expected ',' or ']' "
                         "(while parsing a flow sequence at 1:4)");
        expect_error_str("key: value\n bad: x\n", -EBADMSG,
                         "2:5: mapping values are not allowed in this context");
        expect_error_str("a:\n  - b\n - c\n", -EBADMSG,
                         "3:2: did not find expected key (while parsing a block mapping at 1:1)");
        expect_error_str("a: \"unterminated\n", -EBADMSG,
                         "2:1: found unexpected end of stream "
                         "(while scanning a quoted scalar at 1:4)");
        /* reader errors: the position is computed from the byte offset */
        expect_error_str("a: ok\nb: \xff\n", -EBADMSG, "2:4: invalid leading UTF-8 octet");
        /* an embedded NUL would silently truncate a C string */
        expect_error_str("a: \"x\\0y\"\n", -EBADMSG, "1:4: scalar contains a NUL character");
}

static void test_is_null(void **state) {
        (void) state;
        _cleanup_ynode_ struct ynode *root = parse_ok("empty:\n"
                                                      "tilde: ~\n"
                                                      "lower: null\n"
                                                      "title: Null\n"
                                                      "upper: NULL\n"
                                                      "tagged: !!null ''\n"
                                                      "single: 'null'\n"
                                                      "double: \"\"\n"
                                                      "mixed: nULL\n"
                                                      "word: nullable\n"
                                                      "str: !!str null\n"
                                                      "map: {}\n"
                                                      "seq: []\n");
        static const char *const nulls[] = {"empty", "tilde", "lower", "title", "upper", "tagged"};
        static const char *const not_nulls[] = {"single", "double", "mixed", "word", "str", "map", "seq"};
        for (size_t i = 0; i < ELEMENTSOF(nulls); i++) {
                const struct ynode *n = ynode_get(root, nulls[i]);
                assert_non_null(n);
                if (!ynode_is_null(n))
                        fail_msg("'%s' should be null", nulls[i]);
        }
        for (size_t i = 0; i < ELEMENTSOF(not_nulls); i++) {
                const struct ynode *n = ynode_get(root, not_nulls[i]);
                assert_non_null(n);
                if (ynode_is_null(n))
                        fail_msg("'%s' should not be null", not_nulls[i]);
        }
        assert_false(ynode_is_null(NULL));
        assert_false(ynode_is_null(root));
}

static void test_map_set(void **state) {
        (void) state;
        _cleanup_ynode_ struct ynode *root = parse_ok("a: 1\nb: [x]\n");
        /* replace an existing value (a sequence by a scalar) */
        struct ynode *v = ynode_new_scalar("two", true, 0, 0);
        assert_non_null(v);
        assert_int_equal(ynode_map_set(root, "b", v, 0, 0), 0);
        assert_int_equal(root->n_items, 2);
        assert_string_equal(ynode_get_str(root, "b"), "two");
        assert_int_equal(root->key_lines[1], 2); /* the key keeps its place */

        /* add new keys, several times (the arrays grow) */
        for (int i = 0; i < 20; i++) {
                char key[16];
                snprintf(key, sizeof(key), "k%d", i);
                struct ynode *m = ynode_new_mapping(0, 0);
                assert_non_null(m);
                assert_int_equal(ynode_map_set(root, key, m, 0, 0), 0);
        }
        assert_int_equal(root->n_items, 22);
        assert_string_equal(root->keys[21], "k19");
        assert_int_equal(ynode_get(root, "k19")->kind, YNODE_MAPPING);
        assert_string_equal(ynode_get_str(root, "a"), "1");

        /* not a mapping: refused, ownership stays with the caller */
        struct ynode *s = ynode_new_scalar(NULL, false, 1, 1);
        assert_non_null(s);
        assert_string_equal(s->value, "");
        assert_int_equal(ynode_map_set(s, "k", s, 0, 0), -EINVAL);
        ynode_free(s);
}

static void test_printable(void **state) {
        (void) state;
        _cleanup_free_ char *a = ystr_printable("plain", 10);
        assert_string_equal(a, "plain");
        _cleanup_free_ char *b = ystr_printable("a\nb\x1b[31m\x7f", 20);
        assert_string_equal(b, "a?b?[31m?");
        _cleanup_free_ char *c = ystr_printable("0123456789abc", 10);
        assert_string_equal(c, "0123456789...");
        _cleanup_free_ char *d = ystr_printable(NULL, 10);
        assert_string_equal(d, "");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_scalars),         cmocka_unit_test(test_utf8_columns),
                cmocka_unit_test(test_sequences),       cmocka_unit_test(test_mappings),
                cmocka_unit_test(test_multi_document),  cmocka_unit_test(test_empty),
                cmocka_unit_test(test_limit_input),     cmocka_unit_test(test_limit_depth),
                cmocka_unit_test(test_limit_nodes),     cmocka_unit_test(test_limit_documents),
                cmocka_unit_test(test_aliases_refused), cmocka_unit_test(test_duplicate_keys),
                cmocka_unit_test(test_non_scalar_keys), cmocka_unit_test(test_syntax_errors),
                cmocka_unit_test(test_is_null),         cmocka_unit_test(test_map_set),
                cmocka_unit_test(test_printable),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
