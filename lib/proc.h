/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Running external programs: argv arrays only (never a shell), stdin from
 * /dev/null, a timeout that kills the whole process group (SIGTERM, a grace
 * period, SIGKILL), stderr captured so the caller can attach its tail to the
 * error message. */

struct proc_opts {
        unsigned timeout_sec;    /* 0: no timeout */
        unsigned kill_grace_sec; /* default 5 */
        const char *cwd;         /* NULL: inherit */
        char *const *env_add;    /* extra "KEY=value" entries, NULL-terminated, may be NULL */
        bool stdout_to_stderr;   /* child's stdout goes where our stderr goes */
        bool capture_stdout;     /* collect stdout into proc_result.out */
        bool passthrough_stderr; /* also echo child's stderr to ours live (long builds) */
        int stdout_fd;           /* >= 0: child's stdout goes to this fd; -1 default */
        size_t max_capture;      /* cap for captured stdout; default 16 MiB */
};

struct proc_result {
        int exit_status; /* exit code, or 128+signal */
        bool timed_out;
        char *err_tail; /* last few KiB of stderr, NUL-terminated, may be "" */
        char *out;      /* captured stdout when requested */
        size_t out_size;
};

void proc_result_done(struct proc_result *r);

/* Run argv[0] (searched in PATH). Returns 0 when the program ran and exited 0;
 * -ENOENT (127: not found), -EACCES (126), -ETIMEDOUT, or -EPROTO for any other
 * non-zero exit. `ret` (may be NULL) is filled in every case where the child
 * ran; free with proc_result_done(). */
int proc_run(char *const argv[], const struct proc_opts *opts, struct proc_result *ret);

/* The I/O table tests replace (the agent and builder call proc_ops->run). */
struct proc_ops {
        int (*run)(char *const argv[], const struct proc_opts *opts, struct proc_result *ret);
};
extern const struct proc_ops *proc_ops;
extern const struct proc_ops proc_ops_real;

/* Render argv as one line for logs (quoted where needed). Caller frees. */
char *argv_to_string(char *const argv[]);

/* Log an error for a failed run: "<what>: <argv0> <reason>: <stderr tail>".
 * Returns r. */
int proc_log_failure(int r, const char *what, char *const argv[], const struct proc_result *res);
