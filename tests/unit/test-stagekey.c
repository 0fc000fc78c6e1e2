/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "digest.h"
#include "fsutil.h"
#include "macro.h"
#include "stagekey.h"

typedef char key_t_[SHA256_HEX_LEN + 1];

/* The inputs of one key: a stage, a version, a scalar field and a list field. */
struct inputs {
        const char *stage;
        unsigned version;
        const char *name;
        const char *value;
        const char *list_name;
        char *const *list;
};

static void key_of(const struct inputs *in, key_t_ out) {
        _cleanup_stagekey_ struct stagekey *k = NULL;
        assert_int_equal(stagekey_new(in->stage, in->version, &k), 0);
        assert_int_equal(stagekey_add(k, in->name, in->value), 0);
        assert_int_equal(stagekey_add_list(k, in->list_name, in->list), 0);
        assert_int_equal(stagekey_final(k, out), 0);
        assert_int_equal(strlen(out), SHA256_HEX_LEN);
        for (const char *c = out; *c; c++)
                assert_true((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f'));
}

static char *const base_list[] = {"ab", "c", NULL};
static const struct inputs base = {
        .stage = "rootfs",
        .version = 1,
        .name = "suite",
        .value = "bookworm",
        .list_name = "packages",
        .list = base_list,
};

static void assert_key_differs(const struct inputs *changed, const char *what) {
        key_t_ a, b;
        key_of(&base, a);
        key_of(changed, b);
        if (streq(a, b))
                fail_msg("key did not change when %s changed", what);
}

static void test_stable(void **state) {
        (void) state;
        key_t_ a, b;
        key_of(&base, a);
        key_of(&base, b);
        assert_string_equal(a, b);

        /* Equal inputs held in different memory give the same key. */
        char *other_list[] = {strdup("ab"), strdup("c"), NULL};
        char *value = strdup("bookworm");
        assert_non_null(other_list[0]);
        assert_non_null(other_list[1]);
        assert_non_null(value);
        struct inputs copy = base;
        copy.value = value;
        copy.list = other_list;
        key_of(&copy, b);
        assert_string_equal(a, b);
        free(other_list[0]);
        free(other_list[1]);
        free(value);
}

static void test_each_input_matters(void **state) {
        (void) state;
        struct inputs c;

        c = base, c.stage = "image";
        assert_key_differs(&c, "the stage name");
        c = base, c.version = 2;
        assert_key_differs(&c, "the version");
        c = base, c.name = "suitE";
        assert_key_differs(&c, "a field name");
        c = base, c.value = "trixie";
        assert_key_differs(&c, "a value");
        c = base, c.value = "";
        assert_key_differs(&c, "a value (to empty)");
        c = base, c.list_name = "package";
        assert_key_differs(&c, "a list name");

        static char *const item_changed[] = {"ab", "d", NULL};
        c = base, c.list = item_changed;
        assert_key_differs(&c, "a list item");
        static char *const reordered[] = {"c", "ab", NULL};
        c = base, c.list = reordered;
        assert_key_differs(&c, "the list order");
        static char *const split_differently[] = {"a", "bc", NULL};
        c = base, c.list = split_differently;
        assert_key_differs(&c, "where list items split");
        static char *const concatenated[] = {"abc", NULL};
        c = base, c.list = concatenated;
        assert_key_differs(&c, "a list into one item");
        static char *const longer[] = {"ab", "c", "", NULL};
        c = base, c.list = longer;
        assert_key_differs(&c, "an empty item appended");
        static char *const empty[] = {NULL};
        c = base, c.list = empty;
        assert_key_differs(&c, "the list to empty");
}

/* Field boundaries: moving text between a name and its value, or between two
 * fields, changes the key. */
static void test_boundaries(void **state) {
        (void) state;
        key_t_ a, b;
        {
                _cleanup_stagekey_ struct stagekey *k = NULL;
                assert_int_equal(stagekey_new("s", 1, &k), 0);
                assert_int_equal(stagekey_add(k, "ab", "c"), 0);
                assert_int_equal(stagekey_final(k, a), 0);
        }
        {
                _cleanup_stagekey_ struct stagekey *k = NULL;
                assert_int_equal(stagekey_new("s", 1, &k), 0);
                assert_int_equal(stagekey_add(k, "a", "bc"), 0);
                assert_int_equal(stagekey_final(k, b), 0);
        }
        assert_string_not_equal(a, b);

        /* Two values vs one concatenated value. */
        {
                _cleanup_stagekey_ struct stagekey *k = NULL;
                assert_int_equal(stagekey_new("s", 1, &k), 0);
                assert_int_equal(stagekey_add(k, "x", "ab"), 0);
                assert_int_equal(stagekey_add(k, "x", "c"), 0);
                assert_int_equal(stagekey_final(k, a), 0);
        }
        {
                _cleanup_stagekey_ struct stagekey *k = NULL;
                assert_int_equal(stagekey_new("s", 1, &k), 0);
                assert_int_equal(stagekey_add(k, "x", "a"), 0);
                assert_int_equal(stagekey_add(k, "x", "bc"), 0);
                assert_int_equal(stagekey_final(k, b), 0);
        }
        assert_string_not_equal(a, b);

        /* A list vs its items joined into a scalar. */
        static char *const list[] = {"a", "b", NULL};
        {
                _cleanup_stagekey_ struct stagekey *k = NULL;
                assert_int_equal(stagekey_new("s", 1, &k), 0);
                assert_int_equal(stagekey_add_list(k, "x", list), 0);
                assert_int_equal(stagekey_final(k, a), 0);
        }
        {
                _cleanup_stagekey_ struct stagekey *k = NULL;
                assert_int_equal(stagekey_new("s", 1, &k), 0);
                assert_int_equal(stagekey_add(k, "x", "ab"), 0);
                assert_int_equal(stagekey_final(k, b), 0);
        }
        assert_string_not_equal(a, b);

        /* Stage name vs version boundary: ("s1", 1) vs ("s", 11). */
        {
                _cleanup_stagekey_ struct stagekey *k = NULL;
                assert_int_equal(stagekey_new("s1", 1, &k), 0);
                assert_int_equal(stagekey_final(k, a), 0);
        }
        {
                _cleanup_stagekey_ struct stagekey *k = NULL;
                assert_int_equal(stagekey_new("s", 11, &k), 0);
                assert_int_equal(stagekey_final(k, b), 0);
        }
        assert_string_not_equal(a, b);

        /* Binary data: a NUL inside counts. */
        {
                _cleanup_stagekey_ struct stagekey *k = NULL;
                assert_int_equal(stagekey_new("s", 1, &k), 0);
                assert_int_equal(stagekey_add_data(k, "d", "a\0b", 3), 0);
                assert_int_equal(stagekey_final(k, a), 0);
        }
        {
                _cleanup_stagekey_ struct stagekey *k = NULL;
                assert_int_equal(stagekey_new("s", 1, &k), 0);
                assert_int_equal(stagekey_add_data(k, "d", "a\0c", 3), 0);
                assert_int_equal(stagekey_final(k, b), 0);
        }
        assert_string_not_equal(a, b);

        /* Binary data that looks like a following field: only the length
         * prefix tells "x\0e\0z" from "x\0" followed by a field e = "z". */
        {
                _cleanup_stagekey_ struct stagekey *k = NULL;
                assert_int_equal(stagekey_new("s", 1, &k), 0);
                assert_int_equal(stagekey_add_data(k, "d", "x\0e\0z", 5), 0);
                assert_int_equal(stagekey_final(k, a), 0);
        }
        {
                _cleanup_stagekey_ struct stagekey *k = NULL;
                assert_int_equal(stagekey_new("s", 1, &k), 0);
                assert_int_equal(stagekey_add_data(k, "d", "x\0", 2), 0);
                assert_int_equal(stagekey_add_data(k, "e", "z", 1), 0);
                assert_int_equal(stagekey_final(k, b), 0);
        }
        assert_string_not_equal(a, b);
}

static void test_null_vs_empty(void **state) {
        (void) state;
        key_t_ a, b, c;
        struct inputs in = base;
        in.value = NULL;
        key_of(&in, a);
        in.value = "";
        key_of(&in, b);
        assert_string_not_equal(a, b);
        /* NULL is not the byte string the implementation may use for it. */
        in.value = "\xff";
        key_of(&in, c);
        assert_string_not_equal(a, c);
        assert_string_not_equal(b, c);

        /* A NULL list is an empty list (a profile's absent list is empty). */
        in = base;
        static char *const empty[] = {NULL};
        in.list = empty;
        key_of(&in, a);
        in.list = NULL;
        key_of(&in, b);
        assert_string_equal(a, b);
}

/* ---- trees ---------------------------------------------------------------------------------- */

static char *make_tmpdir(void) {
        char *d = strdup("/tmp/test-stagekey-XXXXXX");
        assert_non_null(d);
        assert_non_null(mkdtemp(d));
        return d;
}

static void write_at(const char *dir, const char *rel, const char *content, mode_t mode) {
        _cleanup_free_ char *p = NULL;
        assert_true(asprintf(&p, "%s/%s", dir, rel) > 0);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, content, strlen(content)), (ssize_t) strlen(content));
        assert_int_equal(close(fd), 0);
        assert_int_equal(chmod(p, mode), 0);
}

static void mkdir_at(const char *dir, const char *rel) {
        _cleanup_free_ char *p = NULL;
        assert_true(asprintf(&p, "%s/%s", dir, rel) > 0);
        assert_int_equal(mkdir(p, 0755), 0);
        assert_int_equal(chmod(p, 0755), 0);
}

static void symlink_at(const char *dir, const char *rel, const char *target) {
        _cleanup_free_ char *p = NULL;
        assert_true(asprintf(&p, "%s/%s", dir, rel) > 0);
        assert_int_equal(symlink(target, p), 0);
}

static void remove_at(const char *dir, const char *rel) {
        _cleanup_free_ char *p = NULL;
        assert_true(asprintf(&p, "%s/%s", dir, rel) > 0);
        assert_int_equal(unlink(p), 0);
}

static void rename_at(const char *dir, const char *from, const char *to) {
        _cleanup_free_ char *a = NULL, *b = NULL;
        assert_true(asprintf(&a, "%s/%s", dir, from) > 0);
        assert_true(asprintf(&b, "%s/%s", dir, to) > 0);
        assert_int_equal(rename(a, b), 0);
}

static int tree_key(const char *dir, key_t_ out) {
        _cleanup_stagekey_ struct stagekey *k = NULL;
        assert_int_equal(stagekey_new("image", 1, &k), 0);
        int r = stagekey_add_tree(k, "overlay", dir);
        if (r < 0)
                return r;
        assert_int_equal(stagekey_final(k, out), 0);
        return 0;
}

/* A small overlay: populated in one order (forward) or the reverse. */
static void populate(const char *dir, bool reverse) {
        if (!reverse) {
                mkdir_at(dir, "etc");
                mkdir_at(dir, "etc/sub");
                write_at(dir, "etc/a.conf", "alpha\n", 0644);
                write_at(dir, "etc/b.conf", "beta\n", 0600);
                write_at(dir, "etc/sub/run.sh", "#!/bin/sh\n", 0755);
                symlink_at(dir, "etc/link", "a.conf");
                write_at(dir, "top", "", 0644);
        } else {
                write_at(dir, "top", "", 0644);
                mkdir_at(dir, "etc");
                symlink_at(dir, "etc/link", "a.conf");
                mkdir_at(dir, "etc/sub");
                write_at(dir, "etc/sub/run.sh", "#!/bin/sh\n", 0755);
                write_at(dir, "etc/b.conf", "beta\n", 0600);
                write_at(dir, "etc/a.conf", "alpha\n", 0644);
        }
}

struct trees {
        char *a, *b;
};

static int trees_setup(void **state) {
        struct trees *t = calloc(1, sizeof *t);
        assert_non_null(t);
        t->a = make_tmpdir();
        t->b = make_tmpdir();
        *state = t;
        return 0;
}

static int trees_teardown(void **state) {
        struct trees *t = *state;
        (void) rm_rf(t->a);
        (void) rm_rf(t->b);
        free(t->a);
        free(t->b);
        free(t);
        return 0;
}

static void test_tree_order_independent(void **state) {
        struct trees *t = *state;
        populate(t->a, false);
        populate(t->b, true);
        key_t_ a, b;
        assert_int_equal(tree_key(t->a, a), 0);
        assert_int_equal(tree_key(t->b, b), 0);
        assert_string_equal(a, b);
}

static void test_tree_mtime_ignored(void **state) {
        struct trees *t = *state;
        populate(t->a, false);
        key_t_ a, b;
        assert_int_equal(tree_key(t->a, a), 0);
        _cleanup_free_ char *p = NULL, *d = NULL;
        assert_true(asprintf(&p, "%s/etc/a.conf", t->a) > 0);
        assert_true(asprintf(&d, "%s/etc", t->a) > 0);
        struct timespec ts[2] = {{.tv_sec = 12345}, {.tv_sec = 12345}};
        assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
        assert_int_equal(utimensat(AT_FDCWD, d, ts, 0), 0);
        assert_int_equal(tree_key(t->a, b), 0);
        assert_string_equal(a, b);
}

/* Apply one change to tree b (a copy of a) and expect a different key. */
static void expect_tree_change(struct trees *t, void (*change)(const char *dir), const char *what) {
        populate(t->a, false);
        populate(t->b, false);
        key_t_ a, b;
        assert_int_equal(tree_key(t->a, a), 0);
        assert_int_equal(tree_key(t->b, b), 0);
        assert_string_equal(a, b);
        change(t->b);
        assert_int_equal(tree_key(t->b, b), 0);
        if (streq(a, b))
                fail_msg("tree key did not change when %s changed", what);
}

static void change_content(const char *dir) {
        write_at(dir, "etc/a.conf", "alphA\n", 0644);
}
static void change_content_same_size_deep(const char *dir) {
        write_at(dir, "etc/sub/run.sh", "#!/bin/bash", 0755);
}
static void change_mode(const char *dir) {
        _cleanup_free_ char *p = NULL;
        assert_true(asprintf(&p, "%s/etc/a.conf", dir) > 0);
        assert_int_equal(chmod(p, 0640), 0);
}
static void change_dir_mode(const char *dir) {
        _cleanup_free_ char *p = NULL;
        assert_true(asprintf(&p, "%s/etc/sub", dir) > 0);
        assert_int_equal(chmod(p, 0700), 0);
}
static void change_link_target(const char *dir) {
        remove_at(dir, "etc/link");
        symlink_at(dir, "etc/link", "b.conf");
}
static void change_name(const char *dir) {
        rename_at(dir, "etc/b.conf", "etc/c.conf");
}
static void change_move_between_dirs(const char *dir) {
        rename_at(dir, "etc/sub/run.sh", "etc/run.sh");
}
static void change_add_empty_file(const char *dir) {
        write_at(dir, "etc/sub/empty", "", 0644);
}
static void change_add_empty_dir(const char *dir) {
        mkdir_at(dir, "etc/sub/empty");
}
static void change_file_to_link(const char *dir) {
        remove_at(dir, "top");
        symlink_at(dir, "top", "x");
}

static void test_tree_changes(void **state) {
        struct trees *t = *state;
        static const struct {
                void (*fn)(const char *);
                const char *what;
        } cases[] = {
                {change_content, "a file's content"},
                {change_content_same_size_deep, "a nested file's content"},
                {change_mode, "a file's mode"},
                {change_dir_mode, "a directory's mode"},
                {change_link_target, "a symlink's target"},
                {change_name, "a file's name"},
                {change_move_between_dirs, "a file's directory"},
                {change_add_empty_file, "an added empty file"},
                {change_add_empty_dir, "an added empty directory"},
                {change_file_to_link, "a file's type"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                (void) rm_rf(t->a);
                (void) rm_rf(t->b);
                assert_int_equal(mkdir(t->a, 0700), 0);
                assert_int_equal(mkdir(t->b, 0700), 0);
                expect_tree_change(t, cases[i].fn, cases[i].what);
        }
}

static void test_tree_name_matters(void **state) {
        struct trees *t = *state;
        populate(t->a, false);
        key_t_ a, b;
        {
                _cleanup_stagekey_ struct stagekey *k = NULL;
                assert_int_equal(stagekey_new("image", 1, &k), 0);
                assert_int_equal(stagekey_add_tree(k, "base", t->a), 0);
                assert_int_equal(stagekey_final(k, a), 0);
        }
        {
                _cleanup_stagekey_ struct stagekey *k = NULL;
                assert_int_equal(stagekey_new("image", 1, &k), 0);
                assert_int_equal(stagekey_add_tree(k, "other", t->a), 0);
                assert_int_equal(stagekey_final(k, b), 0);
        }
        assert_string_not_equal(a, b);
}

static void test_tree_refuses_fifo(void **state) {
        struct trees *t = *state;
        populate(t->a, false);
        _cleanup_free_ char *p = NULL;
        assert_true(asprintf(&p, "%s/etc/sub/pipe", t->a) > 0);
        assert_int_equal(mkfifo(p, 0644), 0);
        key_t_ a;
        assert_int_equal(tree_key(t->a, a), -EBADF);
}

static void test_tree_missing_dir(void **state) {
        struct trees *t = *state;
        _cleanup_free_ char *p = NULL;
        assert_true(asprintf(&p, "%s/absent", t->a) > 0);
        key_t_ a;
        assert_int_equal(tree_key(p, a), -ENOENT);
}

static void test_file(void **state) {
        struct trees *t = *state;
        write_at(t->a, "f", "one", 0644);
        _cleanup_free_ char *p = NULL;
        assert_true(asprintf(&p, "%s/f", t->a) > 0);
        key_t_ a, b;
        {
                _cleanup_stagekey_ struct stagekey *k = NULL;
                assert_int_equal(stagekey_new("s", 1, &k), 0);
                assert_int_equal(stagekey_add_file(k, "keyring", p), 0);
                assert_int_equal(stagekey_final(k, a), 0);
        }
        write_at(t->a, "f", "two", 0644);
        {
                _cleanup_stagekey_ struct stagekey *k = NULL;
                assert_int_equal(stagekey_new("s", 1, &k), 0);
                assert_int_equal(stagekey_add_file(k, "keyring", p), 0);
                assert_int_equal(stagekey_final(k, b), 0);
        }
        assert_string_not_equal(a, b);
        remove_at(t->a, "f");
        {
                _cleanup_stagekey_ struct stagekey *k = NULL;
                assert_int_equal(stagekey_new("s", 1, &k), 0);
                assert_true(stagekey_add_file(k, "keyring", p) < 0);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_stable),
                cmocka_unit_test(test_each_input_matters),
                cmocka_unit_test(test_boundaries),
                cmocka_unit_test(test_null_vs_empty),
                cmocka_unit_test_setup_teardown(test_tree_order_independent, trees_setup, trees_teardown),
                cmocka_unit_test_setup_teardown(test_tree_mtime_ignored, trees_setup, trees_teardown),
                cmocka_unit_test_setup_teardown(test_tree_changes, trees_setup, trees_teardown),
                cmocka_unit_test_setup_teardown(test_tree_name_matters, trees_setup, trees_teardown),
                cmocka_unit_test_setup_teardown(test_tree_refuses_fifo, trees_setup, trees_teardown),
                cmocka_unit_test_setup_teardown(test_tree_missing_dir, trees_setup, trees_teardown),
                cmocka_unit_test_setup_teardown(test_file, trees_setup, trees_teardown),
        };
        return cmocka_run_group_tests_name("stagekey", tests, NULL, NULL);
}
