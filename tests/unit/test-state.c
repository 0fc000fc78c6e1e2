/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fsutil.h"
#include "macro.h"
#include "state.h"

#define HDR "kubeseed-state 1\n"

static struct state *parse_ok(const char *text) {
        struct state *s = NULL;
        char *err = NULL;
        int r = state_parse(text, strlen(text), &s, &err);
        if (r < 0)
                fail_msg("state_parse failed: %d %s", r, err ? err : "(no message)");
        assert_null(err);
        return s;
}

/* Parse must fail with -EBADMSG and a message containing `expect`. */
static void parse_bad(const char *text, const char *expect) {
        struct state *s = NULL;
        char *err = NULL;
        int r = state_parse(text, strlen(text), &s, &err);
        if (r != -EBADMSG)
                fail_msg("expected -EBADMSG for %s, got %d", text, r);
        assert_null(s);
        assert_non_null(err);
        if (!strstr(err, expect))
                fail_msg("message '%s' does not contain '%s'", err, expect);
        free(err);
}

static char *serialize(const struct state *s) {
        char *text = NULL;
        size_t size = 0;
        assert_int_equal(state_serialize(s, &text, &size), 0);
        assert_int_equal(size, strlen(text));
        return text;
}

static void test_status_names(void **unused) {
        (void) unused;
        for (int i = 0; i < _STEP_STATUS_MAX; i++)
                assert_int_equal(step_status_from_string(step_status_to_string(i)), i);
        assert_int_equal(step_status_from_string("Done"), -EINVAL);
        assert_int_equal(step_status_from_string(""), -EINVAL);
}

static void test_escape(void **unused) {
        (void) unused;
        static const struct {
                const char *raw, *escaped;
        } v[] = {
                {"plain", "plain"},
                {"a b", "a\\sb"},
                {"back\\slash", "back\\\\slash"},
                {"two\nlines\r\tx", "two\\nlines\\r\\tx"},
                {"bell\a del\x7f", "bell\\x07\\sdel\\x7f"},
                {"caf\xc3\xa9 = ok", "caf\xc3\xa9\\s=\\sok"},
                {"", ""},
        };
        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                _cleanup_free_ char *e = NULL, *u = NULL;
                assert_int_equal(state_escape(v[i].raw, &e), 0);
                assert_string_equal(e, v[i].escaped);
                assert_int_equal(state_unescape(e, strlen(e), &u), 0);
                assert_string_equal(u, v[i].raw);
        }
        static const char *const bad[] = {"trailing\\", "\\q",       "\\x4",    "\\xzz",
                                          "\\x00",      "raw space", "raw\ttab"};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char *u = NULL;
                assert_int_equal(state_unescape(bad[i], strlen(bad[i]), &u), -EINVAL);
                assert_null(u);
        }
        /* Every byte 1..255 survives the round trip. */
        char all[256];
        for (int i = 1; i < 256; i++)
                all[i - 1] = (char) i;
        all[255] = '\0';
        _cleanup_free_ char *e = NULL, *u = NULL;
        assert_int_equal(state_escape(all, &e), 0);
        assert_null(strchr(e, ' '));
        assert_null(strchr(e, '\n'));
        assert_int_equal(state_unescape(e, strlen(e), &u), 0);
        assert_memory_equal(u, all, 256);
}

static void test_round_trip(void **unused) {
        (void) unused;
        _cleanup_state_ struct state *s = state_new();
        assert_non_null(s);
        assert_int_equal(state_ensure_step(s, "seed"), 1);
        assert_int_equal(state_ensure_step(s, "seed"), 0);
        assert_int_equal(state_ensure_step(s, "report"), 1);
        assert_int_equal(state_ensure_step(s, "kubeadm-init"), 1);
        assert_int_equal(state_step_running(s, "seed", 100), 0);
        assert_int_equal(state_step_done(s, "seed", 103, "/dev/vdb (vfat, label CIDATA)"), 0);
        assert_int_equal(state_step_running(s, "report", 104), 0);
        const char *reason = "line one\nline two \\ with\ttab and \"quotes\" and caf\xc3\xa9";
        assert_int_equal(state_step_failed(s, "report", 110, reason), 0);
        assert_false(state_all_done(s));

        _cleanup_free_ char *text = serialize(s);
        assert_non_null(strstr(text, HDR));
        assert_non_null(strstr(text, "step name=seed status=done start=100 end=103 "
                                     "detail=/dev/vdb\\s(vfat,\\slabel\\sCIDATA)\n"));
        assert_non_null(strstr(text, "step name=kubeadm-init status=pending start=0 end=0\n"));
        /* Exactly four records: the comment, the header and three steps. */
        size_t lines = 0;
        for (const char *p = text; *p; p++)
                lines += *p == '\n';
        assert_int_equal(lines, 5);

        _cleanup_state_ struct state *t = parse_ok(text);
        assert_int_equal(t->n_steps, 3);
        assert_string_equal(t->steps[0].name, "seed");
        assert_int_equal(t->steps[0].status, STEP_DONE);
        assert_int_equal(t->steps[0].start, 100);
        assert_int_equal(t->steps[0].end, 103);
        assert_null(t->steps[0].reason);
        assert_string_equal(t->steps[0].detail, "/dev/vdb (vfat, label CIDATA)");
        assert_string_equal(t->steps[1].name, "report");
        assert_int_equal(t->steps[1].status, STEP_FAILED);
        assert_string_equal(t->steps[1].reason, reason);
        assert_string_equal(t->steps[2].name, "kubeadm-init");
        assert_int_equal(t->steps[2].status, STEP_PENDING);

        _cleanup_free_ char *again = serialize(t);
        assert_string_equal(text, again);
}

static void test_transitions(void **unused) {
        (void) unused;
        _cleanup_state_ struct state *s = state_new();
        assert_int_equal(state_step_running(s, "seed", 10), 0);
        assert_int_equal(state_step_failed(s, "seed", 12, "no volume"), 0);
        struct state_step *st = state_find(s, "seed");
        assert_non_null(st);
        assert_int_equal(st->status, STEP_FAILED);
        assert_int_equal(st->start, 10);
        assert_int_equal(st->end, 12);
        /* A retry clears the old reason and times. */
        assert_int_equal(state_step_running(s, "seed", 20), 0);
        assert_int_equal(st->status, STEP_RUNNING);
        assert_null(st->reason);
        assert_int_equal(st->start, 20);
        assert_int_equal(st->end, 0);
        assert_int_equal(state_step_done(s, "seed", 21, NULL), 0);
        assert_null(st->detail);
        assert_true(state_all_done(s));

        assert_int_equal(state_step_failed(s, "seed", 22, ""), -EINVAL);
        assert_int_equal(state_step_running(s, "Bad Name", 1), -EINVAL);
        assert_int_equal(state_ensure_step(s, ""), -EINVAL);
        char big[STATE_MAX_TEXT + 2];
        memset(big, 'x', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        assert_int_equal(state_step_done(s, "seed", 23, big), -E2BIG);
        /* A failure reason that is too long is cut, not lost. */
        assert_int_equal(state_step_failed(s, "seed", 24, big), 0);
        assert_int_equal(strlen(st->reason), STATE_MAX_TEXT);

        _cleanup_state_ struct state *e = state_new();
        assert_false(state_all_done(e));
        char name[16];
        for (unsigned i = 0; i < STATE_MAX_STEPS; i++) {
                snprintf(name, sizeof name, "s%u", i);
                assert_int_equal(state_ensure_step(e, name), 1);
        }
        assert_int_equal(state_ensure_step(e, "one-too-many"), -E2BIG);
}

static void test_parse_accepts(void **unused) {
        (void) unused;
        _cleanup_state_ struct state *s = parse_ok("# comment\n\n" HDR "# another\n"
                                                   "step end=5 start=4 status=done name=a_b-9\n");
        assert_int_equal(s->n_steps, 1);
        assert_string_equal(s->steps[0].name, "a_b-9");
        assert_int_equal(s->steps[0].start, 4);

        _cleanup_state_ struct state *empty = parse_ok(HDR);
        assert_int_equal(empty->n_steps, 0);
        _cleanup_state_ struct state *big =
                parse_ok(HDR "step name=x status=running start=18446744073709551615 end=0\n");
        assert_int_equal(big->steps[0].start, UINT64_MAX);
}

static void test_parse_rejects(void **unused) {
        (void) unused;
        parse_bad("", "no 'kubeseed-state 1' header");
        parse_bad("# only a comment\n", "no 'kubeseed-state 1' header");
        parse_bad("step name=a status=done start=1 end=2\n", "line 1: expected the header");
        parse_bad("kubeseed-state 2\n", "line 1: unsupported format version '2'");
        parse_bad("kubeseed-state 1", "no newline at the end");
        parse_bad(HDR "step name=a status=done start=1 end=2", "line 2: no newline");
        parse_bad(HDR "stop name=a\n", "line 2: unknown record");
        parse_bad(HDR "step\n", "line 2: missing field 'name'");
        parse_bad(HDR "step name=a status=done start=1\n", "missing field 'end'");
        parse_bad(HDR "step name=a status=done start=1 end=2 colour=red\n", "unknown field 'colour'");
        parse_bad(HDR "step name=a name=b status=done start=1 end=2\n", "field 'name' given twice");
        parse_bad(HDR "step name=a status=finished start=1 end=2\n", "unknown status 'finished'");
        parse_bad(HDR "step name=A status=done start=1 end=2\n", "invalid step name");
        parse_bad(HDR "step name=a status=done start=-1 end=2\n", "'start' is not a unix time");
        parse_bad(HDR "step name=a status=done start=01 end=2\n", "'start' is not a unix time");
        parse_bad(HDR "step name=a status=done start=1 end=18446744073709551616\n",
                  "'end' is not a unix time");
        parse_bad(HDR "step name=a status=done start=1 end=2 detail=\n", "empty value for 'detail'");
        parse_bad(HDR "step name=a status=failed start=1 end=2 reason=bad\\q\n",
                  "malformed escape in 'reason'");
        parse_bad(HDR "step name=a  status=done start=1 end=2\n", "line 2: empty field");
        parse_bad(HDR "step name=a status=done start=1 end=2 \n", "line 2: empty field");
        parse_bad(HDR "stepname=a status=done start=1 end=2\n", "line 2: unknown record");
        parse_bad(HDR "step name=a status=done start=1 end=2 stray\n", "not key=value");
        parse_bad(HDR "step name=a status=done start=1 end=2\tx\n", "raw control character");
        parse_bad(HDR "step name=a status=done start=5 end=2\n", "ends before it starts");
        parse_bad(HDR "step name=a status=pending start=5 end=0\n", "pending step 'a' has times");
        parse_bad(HDR "step name=a status=done start=1 end=2 reason=x\n", "has a reason but did not fail");
        parse_bad(HDR "step name=a status=failed start=1 end=2\n", "has no reason");
        parse_bad(HDR "step name=a status=done start=1 end=2\n"
                      "step name=a status=done start=1 end=2\n",
                  "line 3: step 'a' listed twice");
        parse_bad(HDR "kubeseed-state 1\n", "line 2: unknown record");

        /* A NUL byte inside a line. */
        static const char nul[] = HDR "step name=a\0 status=done start=1 end=2\n";
        struct state *s = NULL;
        char *err = NULL;
        assert_int_equal(state_parse(nul, sizeof nul - 1, &s, &err), -EBADMSG);
        assert_non_null(strstr(err, "NUL"));
        free(err);
}

static void test_parse_limits(void **unused) {
        (void) unused;
        /* Too large as a whole. */
        size_t n = STATE_MAX_SIZE + 1;
        _cleanup_free_ char *big = malloc(n + 1);
        assert_non_null(big);
        memset(big, '#', n);
        big[n] = '\0';
        struct state *s = NULL;
        char *err = NULL;
        assert_int_equal(state_parse(big, n, &s, &err), -EFBIG);
        assert_non_null(strstr(err, "larger than"));
        free(err);

        /* One line too long. */
        _cleanup_free_ char *line = malloc(STATE_MAX_LINE + 64);
        assert_non_null(line);
        int k = snprintf(line, STATE_MAX_LINE + 64, HDR "#");
        memset(line + k, 'x', STATE_MAX_LINE);
        line[k + STATE_MAX_LINE] = '\n';
        line[k + STATE_MAX_LINE + 1] = '\0';
        parse_bad(line, "line 2: longer than");

        /* A reason longer than STATE_MAX_TEXT once unescaped. */
        _cleanup_free_ char *r = malloc(STATE_MAX_TEXT + 200);
        assert_non_null(r);
        k = snprintf(r, STATE_MAX_TEXT + 200, HDR "step name=a status=failed start=1 end=2 reason=");
        memset(r + k, 'y', STATE_MAX_TEXT + 1);
        r[k + STATE_MAX_TEXT + 1] = '\n';
        r[k + STATE_MAX_TEXT + 2] = '\0';
        parse_bad(r, "'reason' longer than");

        /* Too many steps. */
        _cleanup_free_ char *many = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&many, &size);
        assert_non_null(f);
        fputs(HDR, f);
        for (unsigned i = 0; i <= STATE_MAX_STEPS; i++)
                fprintf(f, "step name=s%u status=pending start=0 end=0\n", i);
        assert_int_equal(fclose(f), 0);
        parse_bad(many, "more than");
}

#define DIGEST "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* An add-on step records what it applied; running it again forgets it;
 * pending forgets everything; malformed digests are refused. */
static void test_digest(void **unused) {
        (void) unused;
        _cleanup_state_ struct state *s = state_new();
        assert_int_equal(state_step_done(s, "addon-flannel", 5, "applied"), 0);
        assert_int_equal(state_step_set_digest(s, "addon-flannel", DIGEST), 0);
        assert_int_equal(state_step_set_digest(s, "addon-flannel", "sha256:xyz"), -EINVAL);
        assert_int_equal(state_step_set_digest(s, "nope", DIGEST), -ENOENT);
        _cleanup_free_ char *text = NULL;
        assert_int_equal(state_serialize(s, &text, NULL), 0);
        assert_non_null(strstr(text, " digest=" DIGEST "\n"));
        _cleanup_state_ struct state *back = NULL;
        assert_int_equal(state_parse(text, strlen(text), &back, NULL), 0);
        assert_string_equal(state_find(back, "addon-flannel")->digest, DIGEST);
        assert_int_equal(state_step_running(back, "addon-flannel", 6), 0);
        assert_null(state_find(back, "addon-flannel")->digest);
        assert_int_equal(state_step_set_digest(back, "addon-flannel", DIGEST), 0);
        assert_int_equal(state_step_pending(back, "addon-flannel"), 0);
        const struct state_step *st = state_find(back, "addon-flannel");
        assert_int_equal(st->status, STEP_PENDING);
        assert_null(st->digest);
        assert_int_equal(st->start, 0);
        parse_bad(HDR "step name=a status=done start=1 end=1 digest=sha256:abc\n", "invalid digest");
        parse_bad(HDR "step name=a status=done start=1 end=1 digest=" DIGEST " digest=" DIGEST "\n",
                  "twice");
}

static void test_json(void **unused) {
        (void) unused;
        _cleanup_state_ struct state *s = state_new();
        assert_int_equal(state_step_done(s, "seed", 7, "dir \"x\"\\y"), 0);
        assert_int_equal(state_step_set_digest(s, "seed", DIGEST), 0);
        assert_int_equal(state_step_failed(s, "report", 9, "bad\n\x01 \xff caf\xc3\xa9 \xed\xa0\x80"), 0);
        assert_int_equal(state_ensure_step(s, "later"), 1);
        _cleanup_free_ char *json = NULL;
        assert_int_equal(state_to_json(s, &json), 0);
        assert_string_equal(json,
                            "{\"format\":1,\"steps\":["
                            "{\"name\":\"seed\",\"status\":\"done\",\"start\":7,\"end\":7,\"reason\":null,"
                            "\"detail\":\"dir \\\"x\\\"\\\\y\",\"digest\":\"" DIGEST "\"},"
                            "{\"name\":\"report\",\"status\":\"failed\",\"start\":9,\"end\":9,"
                            "\"reason\":\"bad\\n\\u0001 \\ufffd caf\xc3\xa9 \\ufffd\\ufffd\\ufffd\","
                            "\"detail\":null,\"digest\":null},"
                            "{\"name\":\"later\",\"status\":\"pending\",\"start\":null,\"end\":null,"
                            "\"reason\":null,\"detail\":null,\"digest\":null}]}\n");

        _cleanup_state_ struct state *e = state_new();
        _cleanup_free_ char *ej = NULL;
        assert_int_equal(state_to_json(e, &ej), 0);
        assert_string_equal(ej, "{\"format\":1,\"steps\":[]}\n");
}

static void test_text(void **unused) {
        (void) unused;
        _cleanup_state_ struct state *s = state_new();
        assert_int_equal(state_step_done(s, "seed", 1714557600, "/dev/vdb"), 0);
        assert_int_equal(state_step_failed(s, "report", 1714557601, "oops\nfake line"), 0);
        assert_int_equal(state_ensure_step(s, "later"), 1);
        _cleanup_free_ char *text = NULL;
        assert_int_equal(state_to_text(s, &text), 0);
        assert_string_equal(text,
                            "seed         done     2024-05-01T10:00:00Z .. 2024-05-01T10:00:00Z  /dev/vdb\n"
                            "report       failed   2024-05-01T10:00:01Z .. 2024-05-01T10:00:01Z  "
                            "reason: oops\\nfake line\n"
                            "later        pending\n");
}

static char *make_root(void) {
        char tmpl[] = "/tmp/test-state.XXXXXX";
        assert_non_null(mkdtemp(tmpl));
        return strdup(tmpl);
}

static void test_load_save(void **unused) {
        (void) unused;
        _cleanup_free_ char *root = make_root();
        assert_non_null(root);

        /* Missing file: a fresh start. */
        struct state *s = NULL;
        char *err = NULL;
        assert_int_equal(state_load(root, &s, &err), 0);
        assert_non_null(s);
        assert_int_equal(s->n_steps, 0);
        assert_null(err);

        assert_int_equal(state_step_failed(s, "seed", 5, "why not"), 0);
        assert_int_equal(state_save(root, s), 0);
        state_free(s);
        s = NULL;

        _cleanup_free_ char *path = path_join_root(root, STATE_PATH);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644);

        assert_int_equal(state_load(root, &s, &err), 1);
        assert_int_equal(s->n_steps, 1);
        assert_string_equal(s->steps[0].reason, "why not");
        state_free(s);
        s = NULL;

        /* A corrupted file names itself and the line. */
        assert_int_equal(write_file_atomic(path, HDR "garbage\n", strlen(HDR "garbage\n"), 0644), 0);
        assert_int_equal(state_load(root, &s, &err), -EBADMSG);
        assert_null(s);
        assert_non_null(err);
        assert_non_null(strstr(err, path));
        assert_non_null(strstr(err, "line 2: unknown record"));
        free(err);

        assert_int_equal(rm_rf(root), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_status_names),  cmocka_unit_test(test_escape),
                cmocka_unit_test(test_round_trip),    cmocka_unit_test(test_transitions),
                cmocka_unit_test(test_parse_accepts), cmocka_unit_test(test_parse_rejects),
                cmocka_unit_test(test_parse_limits),  cmocka_unit_test(test_json),
                cmocka_unit_test(test_digest),        cmocka_unit_test(test_text),
                cmocka_unit_test(test_load_save),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
