/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fsutil.h"
#include "macro.h"
#include "proc.h"

/* Tests use `sh -c` to make children that misbehave in precise ways; the
 * code under test never does. */

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        assert_non_null(d);
        int n = 0;
        struct dirent *e;
        while ((e = readdir(d)))
                if (e->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

static void test_exit_zero(void **state) {
        (void) state;
        char *argv[] = {"true", NULL};
        struct proc_result res = {0};
        int fds = count_fds();
        assert_int_equal(proc_run(argv, NULL, &res), 0);
        assert_int_equal(res.exit_status, 0);
        assert_false(res.timed_out);
        assert_non_null(res.err_tail);
        assert_string_equal(res.err_tail, "");
        assert_null(res.out);
        proc_result_done(&res);
        /* Without a result. */
        assert_int_equal(proc_run(argv, NULL, NULL), 0);
        /* No descriptor leaked. */
        assert_int_equal(count_fds(), fds);
}

static void test_exit_status(void **state) {
        (void) state;
        char *argv[] = {"sh", "-c", "echo failing >&2; exit 3", NULL};
        struct proc_result res = {0};
        assert_int_equal(proc_run(argv, NULL, &res), -EPROTO);
        assert_int_equal(res.exit_status, 3);
        assert_false(res.timed_out);
        assert_string_equal(res.err_tail, "failing\n");
        proc_result_done(&res);

        char *argv2[] = {"false", NULL};
        assert_int_equal(proc_run(argv2, NULL, &res), -EPROTO);
        assert_int_equal(res.exit_status, 1);
        proc_result_done(&res);

        /* Killed by a signal: 128 + signal. */
        char *argv3[] = {"sh", "-c", "kill -KILL $$", NULL};
        assert_int_equal(proc_run(argv3, NULL, &res), -EPROTO);
        assert_int_equal(res.exit_status, 128 + SIGKILL);
        proc_result_done(&res);
}

static void test_missing_program(void **state) {
        (void) state;
        char *argv[] = {"kubeseed-no-such-program-0b9f", "x", NULL};
        struct proc_result res = {0};
        assert_int_equal(proc_run(argv, NULL, &res), -ENOENT);
        assert_int_equal(res.exit_status, 127);
        proc_result_done(&res);

        char *argv2[] = {"/nonexistent/dir/prog", NULL};
        assert_int_equal(proc_run(argv2, NULL, NULL), -ENOENT);
}

static void test_not_executable(void **state) {
        (void) state;
        char path[] = "/tmp/test-proc-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "#!/bin/sh\n", 10), 10);
        close(fd);
        assert_int_equal(chmod(path, 0644), 0);
        char *argv[] = {path, NULL};
        assert_int_equal(proc_run(argv, NULL, NULL), -EACCES);
        unlink(path);
}

static void test_bad_argv(void **state) {
        (void) state;
        char *argv[] = {NULL};
        assert_int_equal(proc_run(argv, NULL, NULL), -EINVAL);
        assert_int_equal(proc_run(NULL, NULL, NULL), -EINVAL);
}

static void test_stderr_tail(void **state) {
        (void) state;
        /* About 19 KB of stderr: only the last 4 KiB are kept. */
        char *argv[] = {"sh", "-c",
                        "i=0; while [ $i -lt 2000 ]; do echo \"line $i\" >&2; i=$((i+1)); done; exit 2",
                        NULL};
        struct proc_result res = {0};
        assert_int_equal(proc_run(argv, NULL, &res), -EPROTO);
        assert_int_equal(res.exit_status, 2);

        /* What the child wrote, rebuilt here. */
        size_t cap = 32 * 2000, len = 0;
        char *full = malloc(cap);
        assert_non_null(full);
        for (int i = 0; i < 2000; i++)
                len += (size_t) snprintf(full + len, cap - len, "line %d\n", i);
        size_t tail_len = strlen(res.err_tail);
        assert_true(tail_len > 0);
        assert_true(tail_len <= 4096);
        assert_true(tail_len >= 4000); /* it is a tail, not a few lines */
        /* Exactly the end of the stream, in order. */
        assert_memory_equal(res.err_tail, full + len - tail_len, tail_len);
        assert_null(strstr(res.err_tail, "line 0\n"));
        free(full);
        proc_result_done(&res);

        /* A single write larger than the tail (one pipe read of 8 KiB). */
        char *argv2[] = {"sh", "-c", "head -c 9000 /dev/zero | tr '\\0' a >&2; printf END >&2; exit 1",
                         NULL};
        assert_int_equal(proc_run(argv2, NULL, &res), -EPROTO);
        tail_len = strlen(res.err_tail);
        assert_int_equal(tail_len, 4096);
        assert_string_equal(res.err_tail + tail_len - 3, "END");
        for (size_t i = 0; i < tail_len - 3; i++)
                assert_int_equal(res.err_tail[i], 'a');
        proc_result_done(&res);
}

static void test_capture_stdout(void **state) {
        (void) state;
        char *argv[] = {"printf", "hello\\000world", NULL};
        struct proc_opts o = {.stdout_fd = -1, .capture_stdout = true};
        struct proc_result res = {0};
        assert_int_equal(proc_run(argv, &o, &res), 0);
        assert_int_equal(res.out_size, 11);
        assert_memory_equal(res.out, "hello\0world", 11);
        assert_int_equal(res.out[11], '\0');
        proc_result_done(&res);
        assert_null(res.out);

        /* Large output is collected whole. */
        char *argv2[] = {"head", "-c", "300000", "/dev/zero", NULL};
        assert_int_equal(proc_run(argv2, &o, &res), 0);
        assert_int_equal(res.out_size, 300000);
        proc_result_done(&res);

        /* Over the cap: -EFBIG, not a silent truncation. */
        o.max_capture = 1000;
        assert_int_equal(proc_run(argv2, &o, &res), -EFBIG);
        proc_result_done(&res);

        /* Not captured: stdout goes to /dev/null, not ours. */
        char *argv3[] = {"echo", "not captured", NULL};
        struct proc_opts plain = {.stdout_fd = -1};
        assert_int_equal(proc_run(argv3, &plain, &res), 0);
        assert_null(res.out);
        assert_string_equal(res.err_tail, "");
        proc_result_done(&res);
}

static void test_stdout_routing(void **state) {
        (void) state;
        char *argv[] = {"sh", "-c", "echo to-out; echo to-err >&2; exit 4", NULL};
        struct proc_opts o = {.stdout_fd = -1, .stdout_to_stderr = true};
        struct proc_result res = {0};
        assert_int_equal(proc_run(argv, &o, &res), -EPROTO);
        assert_string_equal(res.err_tail, "to-out\nto-err\n");
        proc_result_done(&res);

        char path[] = "/tmp/test-proc-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        struct proc_opts o2 = {.stdout_fd = fd};
        assert_int_equal(proc_run(argv, &o2, &res), -EPROTO);
        assert_string_equal(res.err_tail, "to-err\n");
        proc_result_done(&res);
        close(fd);
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        assert_int_equal(read_file_full(path, 4096, &data, &size), 0);
        assert_int_equal(size, 7);
        assert_memory_equal(data, "to-out\n", 7);
        unlink(path);
}

static void test_stdin_devnull(void **state) {
        (void) state;
        /* Our stdin becomes a pipe nobody writes to or closes: a child that
         * inherited it would wait on it. */
        int saved = dup(STDIN_FILENO), p[2];
        assert_true(saved >= 0);
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        assert_true(dup2(p[0], STDIN_FILENO) >= 0);

        char *argv[] = {"cat", NULL};
        struct proc_opts o = {.stdout_fd = -1, .capture_stdout = true, .timeout_sec = 10};
        struct proc_result res = {0};
        double t0 = now_s();
        assert_int_equal(proc_run(argv, &o, &res), 0);
        assert_true(now_s() - t0 < 5);
        assert_int_equal(res.out_size, 0);
        proc_result_done(&res);

        char *argv2[] = {"sh", "-c", "readlink /proc/self/fd/0", NULL};
        assert_int_equal(proc_run(argv2, &o, &res), 0);
        assert_string_equal(res.out, "/dev/null\n");
        proc_result_done(&res);

        assert_true(dup2(saved, STDIN_FILENO) >= 0);
        close(saved);
        close(p[0]);
        close(p[1]);
}

/* Is `pid` gone (or only a zombie waiting for init to reap it)? */
static bool pid_gone(pid_t pid) {
        if (kill(pid, 0) < 0 && errno == ESRCH)
                return true;
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
        FILE *f = fopen(path, "re");
        if (!f)
                return true;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        const char *paren = strrchr(buf, ')');
        return paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
}

static bool wait_gone(pid_t pid, double seconds) {
        double end = now_s() + seconds;
        while (now_s() < end) {
                if (pid_gone(pid))
                        return true;
                usleep(20000);
        }
        return pid_gone(pid);
}

static pid_t read_pid(const char *path) {
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        assert_int_equal(read_file_full(path, 64, &data, &size), 0);
        long v = strtol(data, NULL, 10);
        assert_true(v > 1);
        return (pid_t) v;
}

static int tmpdir_setup(void **state) {
        char *dir = strdup("/tmp/test-proc-XXXXXX");
        if (!dir || !mkdtemp(dir)) {
                free(dir);
                return -1;
        }
        *state = dir;
        return 0;
}

static int tmpdir_teardown(void **state) {
        (void) rm_rf(*state);
        free(*state);
        return 0;
}

static void test_timeout_kills_group(void **state) {
        const char *dir = *state;
        _cleanup_free_ char *pidfile = NULL, *script = NULL;
        assert_true(asprintf(&pidfile, "%s/pid", dir) > 0);
        /* The grandchild holds stderr open too, so the parent cannot see the
         * end of the stream until the whole group is gone. */
        assert_true(asprintf(&script, "sleep 100 & echo $! > %s; sleep 100", pidfile) > 0);
        char *argv[] = {"sh", "-c", script, NULL};
        /* A long grace period: SIGTERM must reach every member of the group
         * at once, or the run would last until the SIGKILL. */
        struct proc_opts o = {.stdout_fd = -1, .timeout_sec = 1, .kill_grace_sec = 30};
        struct proc_result res = {0};
        double t0 = now_s();
        assert_int_equal(proc_run(argv, &o, &res), -ETIMEDOUT);
        double took = now_s() - t0;
        assert_true(res.timed_out);
        assert_true(took >= 0.9);
        assert_true(took < 5);
        proc_result_done(&res);
        pid_t grandchild = read_pid(pidfile);
        if (!wait_gone(grandchild, 3)) {
                kill(grandchild, SIGKILL);
                fail_msg("grandchild %d survived the timeout", (int) grandchild);
        }
}

static void test_timeout_sigterm_ignored(void **state) {
        (void) state;
        /* SIGTERM is ignored (and the disposition survives exec): only the
         * SIGKILL after the grace period ends it. */
        char *argv[] = {"sh", "-c", "trap '' TERM; sleep 100", NULL};
        struct proc_opts o = {.stdout_fd = -1, .timeout_sec = 1, .kill_grace_sec = 1};
        struct proc_result res = {0};
        double t0 = now_s();
        assert_int_equal(proc_run(argv, &o, &res), -ETIMEDOUT);
        double took = now_s() - t0;
        assert_true(took >= 1.9);
        assert_true(took < 6);
        assert_true(res.timed_out);
        assert_int_equal(res.exit_status, 128 + SIGKILL);
        proc_result_done(&res);
}

static void test_timeout_closed_stderr(void **state) {
        (void) state;
        /* A child that closes its stderr and carries on must still time out. */
        char *argv[] = {"sh", "-c", "exec 2>&-; exec sleep 100", NULL};
        struct proc_opts o = {.stdout_fd = -1, .timeout_sec = 1, .kill_grace_sec = 1};
        double t0 = now_s();
        assert_int_equal(proc_run(argv, &o, NULL), -ETIMEDOUT);
        assert_true(now_s() - t0 < 5);
}

static void test_no_timeout_when_fast(void **state) {
        (void) state;
        char *argv[] = {"sh", "-c", "exit 0", NULL};
        struct proc_opts o = {.stdout_fd = -1, .timeout_sec = 30};
        double t0 = now_s();
        assert_int_equal(proc_run(argv, &o, NULL), 0);
        assert_true(now_s() - t0 < 5);
}

static void test_env_and_cwd(void **state) {
        (void) state;
        char *env[] = {"KS_TEST_VAR=hello world", "KS_TEST_OTHER=x=y", NULL};
        char *argv[] = {"sh", "-c", "printf '%s|%s|%s' \"$KS_TEST_VAR\" \"$KS_TEST_OTHER\" \"$(pwd)\"",
                        NULL};
        struct proc_opts o = {.stdout_fd = -1, .capture_stdout = true, .env_add = env, .cwd = "/"};
        struct proc_result res = {0};
        assert_int_equal(proc_run(argv, &o, &res), 0);
        assert_string_equal(res.out, "hello world|x=y|/");
        proc_result_done(&res);
        /* Our own environment is untouched. */
        assert_null(getenv("KS_TEST_VAR"));
        /* The rest of the environment is inherited. */
        assert_int_equal(setenv("KS_TEST_INHERITED", "yes", 1), 0);
        char *argv2[] = {"sh", "-c", "printf %s \"$KS_TEST_INHERITED\"", NULL};
        struct proc_opts o2 = {.stdout_fd = -1, .capture_stdout = true};
        assert_int_equal(proc_run(argv2, &o2, &res), 0);
        assert_string_equal(res.out, "yes");
        proc_result_done(&res);
        unsetenv("KS_TEST_INHERITED");

        /* A cwd that does not exist fails, it does not run elsewhere. */
        o.cwd = "/nonexistent-kubeseed-dir";
        assert_true(proc_run(argv, &o, &res) < 0);
        proc_result_done(&res);
}

/* ---- argv_to_string ------------------------------------------------------------------------- */

static void expect_line(char *const argv[], const char *want) {
        _cleanup_free_ char *s = argv_to_string(argv);
        assert_non_null(s);
        assert_string_equal(s, want);
}

static void test_argv_to_string(void **state) {
        (void) state;
        expect_line((char *[]){"mkfs.ext4", "-F", "-L", "root", NULL}, "mkfs.ext4 -F -L root");
        expect_line((char *[]){"echo", "a b", "", NULL}, "echo 'a b' ''");
        expect_line((char *[]){"sh", "-c", "echo $HOME", NULL}, "sh -c 'echo $HOME'");
        expect_line((char *[]){"x", "back\\slash", "q\"uote", NULL}, "x 'back\\slash' 'q\"uote'");
        /* A single quote ends the quoted string, is escaped, and reopens it. */
        expect_line((char *[]){"echo", "it's", NULL}, "echo 'it'\\''s'");
        expect_line((char *[]){"a", NULL}, "a");
}

/* The rendered line, given back to a shell, yields the same argv: the
 * property that makes a logged command line copy-pasteable. */
static void test_argv_to_string_shell_roundtrip(void **state) {
        (void) state;
        char *const cases[][6] = {
                {"prog", "plain", "with space", "", "tab\there", NULL},
                {"prog", "it's", "'", "''", "a'b'c", NULL},
                {"prog", "$HOME", "`id`", "\"dq\"", "back\\slash\\", NULL},
                {"prog", "new\nline", "*", "a;b", "x|y&z", NULL},
        };
        for (size_t c = 0; c < ELEMENTSOF(cases); c++) {
                _cleanup_free_ char *line = argv_to_string(cases[c]);
                assert_non_null(line);
                _cleanup_free_ char *script = NULL;
                /* The shell re-parses the line and prints each word NUL-terminated. */
                assert_true(asprintf(&script, "set -f; eval \"set -- $1\"; shift; printf '%%s\\0' \"$@\"") >
                            0);
                char *argv[] = {"sh", "-c", script, "sh", line, NULL};
                struct proc_opts o = {.stdout_fd = -1, .capture_stdout = true};
                struct proc_result res = {0};
                int r = proc_run(argv, &o, &res);
                if (r < 0)
                        fail_msg("the shell rejected <%s>: %s", line, res.err_tail);
                size_t off = 0;
                for (size_t i = 1; cases[c][i]; i++) {
                        assert_true(off < res.out_size);
                        if (!streq(res.out + off, cases[c][i]))
                                fail_msg("<%s>: word %zu came back as <%s>, expected <%s>", line, i,
                                         res.out + off, cases[c][i]);
                        off += strlen(cases[c][i]) + 1;
                }
                assert_int_equal(off, res.out_size);
                proc_result_done(&res);
        }
}

static void test_ops_table(void **state) {
        (void) state;
        assert_ptr_equal(proc_ops, &proc_ops_real);
        assert_ptr_equal(proc_ops_real.run, proc_run);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_exit_zero),
                cmocka_unit_test(test_exit_status),
                cmocka_unit_test(test_missing_program),
                cmocka_unit_test(test_not_executable),
                cmocka_unit_test(test_bad_argv),
                cmocka_unit_test(test_stderr_tail),
                cmocka_unit_test(test_capture_stdout),
                cmocka_unit_test(test_stdout_routing),
                cmocka_unit_test(test_stdin_devnull),
                cmocka_unit_test_setup_teardown(test_timeout_kills_group, tmpdir_setup, tmpdir_teardown),
                cmocka_unit_test(test_timeout_sigterm_ignored),
                cmocka_unit_test(test_timeout_closed_stderr),
                cmocka_unit_test(test_no_timeout_when_fast),
                cmocka_unit_test(test_env_and_cwd),
                cmocka_unit_test(test_argv_to_string),
                cmocka_unit_test(test_argv_to_string_shell_roundtrip),
                cmocka_unit_test(test_ops_table),
        };
        return cmocka_run_group_tests_name("proc", tests, NULL, NULL);
}
