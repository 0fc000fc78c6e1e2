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

#include "json.h"
#include "macro.h"
#include "proc.h"

static char *finish_ok(struct json *j) {
        char *text = NULL;
        size_t len = 0;
        int r = json_finish(j, &text, &len);
        if (r < 0)
                fail_msg("json_finish failed: %d", r);
        assert_non_null(text);
        assert_int_equal(len, strlen(text));
        /* The writer is reset. */
        assert_null(j->buf);
        assert_int_equal(j->depth, 0);
        return text;
}

/* Validate with a real parser when python3 is there; returns false (and the
 * test skips its part) when it is not. The text goes through a file since
 * proc_run gives the child /dev/null as stdin. */
static bool python_available(void) {
        char *argv[] = {"python3", "-c", "pass", NULL};
        return proc_run(argv, NULL, NULL) == 0;
}

/* Parses `text` with python's json module and prints it back canonically
 * (sorted keys, ASCII escapes), so the test can compare decoded values. */
static char *python_roundtrip(const char *text) {
        char path[] = "/tmp/test-json-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        close(fd);
        char *argv[] = {"python3", "-c",
                        "import json,sys\n"
                        "v = json.load(open(sys.argv[1], encoding='utf-8'))\n"
                        "sys.stdout.write(json.dumps(v, sort_keys=True, ensure_ascii=True))\n",
                        path, NULL};
        struct proc_opts o = {.stdout_fd = -1, .capture_stdout = true, .timeout_sec = 60};
        struct proc_result res = {0};
        int r = proc_run(argv, &o, &res);
        unlink(path);
        if (r < 0)
                fail_msg("python3 rejected the JSON (%d):\n%s\n%s", r, text,
                         res.err_tail ? res.err_tail : "");
        char *out = res.out ? strdup(res.out) : strdup("");
        proc_result_done(&res);
        assert_non_null(out);
        return out;
}

static void test_empty_containers(void **state) {
        (void) state;
        struct json j = {0};
        json_begin_object(&j);
        json_end_object(&j);
        _cleanup_free_ char *a = finish_ok(&j);
        assert_string_equal(a, "{}\n");

        json_begin_array(&j);
        json_end_array(&j);
        _cleanup_free_ char *b = finish_ok(&j);
        assert_string_equal(b, "[]\n");

        json_begin_object(&j);
        json_key(&j, "o");
        json_begin_object(&j);
        json_end_object(&j);
        json_key(&j, "a");
        json_begin_array(&j);
        json_end_array(&j);
        json_end_object(&j);
        _cleanup_free_ char *c = finish_ok(&j);
        assert_string_equal(c, "{\n  \"o\": {},\n  \"a\": []\n}\n");
}

static void test_nesting(void **state) {
        (void) state;
        struct json j = {0};
        json_begin_object(&j);
        json_kv_string(&j, "name", "debian-bookworm");
        json_kv_uint(&j, "size", UINT64_MAX);
        json_key(&j, "neg");
        json_int(&j, INT64_MIN);
        json_key(&j, "ok");
        json_bool(&j, true);
        json_key(&j, "no");
        json_bool(&j, false);
        json_kv_string(&j, "none", NULL);
        json_key(&j, "parts");
        json_begin_array(&j);
        for (unsigned i = 1; i <= 2; i++) {
                json_begin_object(&j);
                json_kv_uint(&j, "number", i);
                json_key(&j, "flags");
                json_begin_array(&j);
                json_string(&j, "a");
                json_begin_array(&j);
                json_uint(&j, 0);
                json_end_array(&j);
                json_end_array(&j);
                json_end_object(&j);
        }
        json_end_array(&j);
        json_end_object(&j);
        _cleanup_free_ char *text = finish_ok(&j);
        assert_string_equal(text, "{\n"
                                  "  \"name\": \"debian-bookworm\",\n"
                                  "  \"size\": 18446744073709551615,\n"
                                  "  \"neg\": -9223372036854775808,\n"
                                  "  \"ok\": true,\n"
                                  "  \"no\": false,\n"
                                  "  \"none\": null,\n"
                                  "  \"parts\": [\n"
                                  "    {\n"
                                  "      \"number\": 1,\n"
                                  "      \"flags\": [\n"
                                  "        \"a\",\n"
                                  "        [\n"
                                  "          0\n"
                                  "        ]\n"
                                  "      ]\n"
                                  "    },\n"
                                  "    {\n"
                                  "      \"number\": 2,\n"
                                  "      \"flags\": [\n"
                                  "        \"a\",\n"
                                  "        [\n"
                                  "          0\n"
                                  "        ]\n"
                                  "      ]\n"
                                  "    }\n"
                                  "  ]\n"
                                  "}\n");
        if (!python_available()) {
                print_message("python3 not found: not checking with a real parser\n");
                return;
        }
        _cleanup_free_ char *canon = python_roundtrip(text);
        assert_string_equal(canon, "{\"name\": \"debian-bookworm\", \"neg\": -9223372036854775808, "
                                   "\"no\": false, \"none\": null, \"ok\": true, \"parts\": "
                                   "[{\"flags\": [\"a\", [0]], \"number\": 1}, "
                                   "{\"flags\": [\"a\", [0]], \"number\": 2}], "
                                   "\"size\": 18446744073709551615}");
}

static void test_escaping(void **state) {
        (void) state;
        struct json j = {0};
        json_begin_object(&j);
        json_kv_string(&j, "q\"k\\", "say \"hi\" \\ back\\slash");
        json_kv_string(&j, "ctl",
                       "a\nb\rc\td\x01"
                       "e\x1f"
                       "f\x7f"
                       "g\bh\fi");
        json_kv_string(&j, "utf8", "caf\xc3\xa9 \xe2\x82\xac");
        json_kv_string(&j, "slash", "</script>");
        json_kv_string(&j, "", "");
        json_end_object(&j);
        _cleanup_free_ char *text = finish_ok(&j);

        /* No raw control character may appear in the output except the
         * newlines of the layout. */
        for (const unsigned char *p = (const unsigned char *) text; *p; p++)
                if ((*p < 0x20 && *p != '\n') || *p == 0x7f)
                        fail_msg("raw control character 0x%02x at offset %td", *p, (const char *) p - text);
        assert_non_null(strstr(text, "\"q\\\"k\\\\\": \"say \\\"hi\\\" \\\\ back\\\\slash\""));
        assert_non_null(strstr(text, "\"a\\nb\\rc\\td\\u0001e\\u001ff\\u007fg"));
        assert_non_null(strstr(text, "\"caf\xc3\xa9 \xe2\x82\xac\""));

        if (!python_available()) {
                print_message("python3 not found: not checking with a real parser\n");
                return;
        }
        _cleanup_free_ char *canon = python_roundtrip(text);
        assert_string_equal(canon, "{\"\": \"\", "
                                   "\"ctl\": \"a\\nb\\rc\\td\\u0001e\\u001ff\\u007fg\\bh\\fi\", "
                                   "\"q\\\"k\\\\\": \"say \\\"hi\\\" \\\\ back\\\\slash\", "
                                   "\"slash\": \"</script>\", "
                                   "\"utf8\": \"caf\\u00e9 \\u20ac\"}");
}

static void test_top_level_scalar(void **state) {
        (void) state;
        struct json j = {0};
        json_string(&j, "x");
        _cleanup_free_ char *text = finish_ok(&j);
        assert_string_equal(text, "\"x\"\n");
}

static void expect_finish_error(struct json *j, int want) {
        char *text = (char *) 1;
        size_t len = 77;
        assert_int_equal(json_finish(j, &text, &len), want);
        assert_ptr_equal(text, (char *) 1);
        assert_int_equal(len, 77);
        /* Reset: nothing leaks, and the writer can be used again. */
        assert_null(j->buf);
        assert_int_equal(j->error, 0);
        assert_int_equal(j->depth, 0);
}

static void test_misuse(void **state) {
        (void) state;
        struct json j = {0};

        /* An end without a begin. */
        json_end_object(&j);
        expect_finish_error(&j, -EINVAL);

        /* One end too many, after valid output. */
        json_begin_array(&j);
        json_uint(&j, 1);
        json_end_array(&j);
        json_end_array(&j);
        expect_finish_error(&j, -EINVAL);

        /* A begin never ended. */
        json_begin_object(&j);
        json_kv_string(&j, "a", "b");
        expect_finish_error(&j, -EINVAL);

        json_begin_array(&j);
        json_begin_array(&j);
        json_end_array(&j);
        expect_finish_error(&j, -EINVAL);

        /* A key without its value: {"a": } */
        json_begin_object(&j);
        json_key(&j, "a");
        json_end_object(&j);
        expect_finish_error(&j, -EINVAL);

        /* Two keys in a row: {"a": "b": 1} */
        json_begin_object(&j);
        json_key(&j, "a");
        json_kv_uint(&j, "b", 1);
        json_end_object(&j);
        expect_finish_error(&j, -EINVAL);

        /* A dangling key at the top. */
        json_key(&j, "a");
        expect_finish_error(&j, -EINVAL);

        /* Errors are sticky: later correct calls do not clear them. */
        json_end_array(&j);
        json_begin_object(&j);
        json_end_object(&j);
        expect_finish_error(&j, -EINVAL);

        /* Too deep. */
        for (int i = 0; i < 40; i++)
                json_begin_array(&j);
        for (int i = 0; i < 40; i++)
                json_end_array(&j);
        expect_finish_error(&j, -E2BIG);

        /* After all that, the writer works. */
        json_begin_array(&j);
        json_end_array(&j);
        _cleanup_free_ char *text = finish_ok(&j);
        assert_string_equal(text, "[]\n");
}

static void test_reset_frees(void **state) {
        (void) state;
        struct json j = {0};
        json_begin_object(&j);
        json_kv_string(&j, "a", "b");
        json_reset(&j);
        assert_null(j.buf);
        /* Large output grows the buffer. */
        json_begin_array(&j);
        for (int i = 0; i < 5000; i++)
                json_string(&j, "0123456789abcdef0123456789abcdef");
        json_end_array(&j);
        _cleanup_free_ char *text = finish_ok(&j);
        assert_true(strlen(text) > 5000 * 34);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_empty_containers), cmocka_unit_test(test_nesting),
                cmocka_unit_test(test_escaping),         cmocka_unit_test(test_top_level_scalar),
                cmocka_unit_test(test_misuse),           cmocka_unit_test(test_reset_frees),
        };
        return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
