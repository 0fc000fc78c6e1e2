/* SPDX-License-Identifier: MIT */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"

#define ERR_TAIL_MAX 4096

const struct proc_ops proc_ops_real = {.run = proc_run};
const struct proc_ops *proc_ops = &proc_ops_real;

void proc_result_done(struct proc_result *r) {
        if (!r)
                return;
        free(r->err_tail);
        free(r->out);
        r->err_tail = r->out = NULL;
        r->out_size = 0;
}

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* Keep the last ERR_TAIL_MAX bytes of stderr in a ring-like buffer. */
struct tail {
        char buf[ERR_TAIL_MAX];
        size_t len;
};
static void tail_add(struct tail *t, const char *p, size_t n) {
        if (n >= sizeof t->buf) {
                memcpy(t->buf, p + n - sizeof t->buf, sizeof t->buf);
                t->len = sizeof t->buf;
                return;
        }
        if (t->len + n > sizeof t->buf) {
                size_t drop = t->len + n - sizeof t->buf;
                memmove(t->buf, t->buf + drop, t->len - drop);
                t->len -= drop;
        }
        memcpy(t->buf + t->len, p, n);
        t->len += n;
}

static _Noreturn void child_exec(char *const argv[], const struct proc_opts *o, int err_w, int out_w) {
        /* Own process group, so a timeout kills grandchildren too. */
        (void) setpgid(0, 0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);

        int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0)
                _exit(125);
        if (out_w >= 0) {
                if (dup2(out_w, STDOUT_FILENO) < 0)
                        _exit(125);
        } else if (o->stdout_fd >= 0) {
                if (dup2(o->stdout_fd, STDOUT_FILENO) < 0)
                        _exit(125);
        } else if (o->stdout_to_stderr) {
                if (dup2(err_w, STDOUT_FILENO) < 0)
                        _exit(125);
        } else {
                int dn = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (dn < 0 || dup2(dn, STDOUT_FILENO) < 0)
                        _exit(125);
        }
        if (dup2(err_w, STDERR_FILENO) < 0)
                _exit(125);
        if (o->cwd && chdir(o->cwd) < 0)
                _exit(125);
        if (o->env_add)
                for (char *const *e = o->env_add; *e; e++)
                        putenv(*e);
        execvp(argv[0], argv);
        _exit(errno == ENOENT ? 127 : 126);
}

/* The timeout: SIGTERM to the whole group at the deadline, SIGKILL once the
 * grace period after it has passed. */
static void escalate(pid_t pid, uint64_t now, unsigned grace, uint64_t *deadline, uint64_t *kill_at,
                     bool *timed_out) {
        if (*deadline && !*timed_out && now >= *deadline) {
                *timed_out = true;
                (void) kill(-pid, SIGTERM);
                *kill_at = now + (uint64_t) grace * 1000;
        } else if (*kill_at && now >= *kill_at) {
                (void) kill(-pid, SIGKILL);
                *kill_at = 0;
                *deadline = 0;
        }
}

int proc_run(char *const argv[], const struct proc_opts *opts, struct proc_result *ret) {
        static const struct proc_opts defaults = {.stdout_fd = -1};
        const struct proc_opts *o = opts ? opts : &defaults;
        if (!argv || !argv[0])
                return -EINVAL;

        int err_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1};
        if (pipe2(err_pipe, O_CLOEXEC) < 0)
                return negative_errno();
        if (o->capture_stdout && pipe2(out_pipe, O_CLOEXEC) < 0) {
                int r = negative_errno();
                close(err_pipe[0]);
                close(err_pipe[1]);
                return r;
        }

        pid_t pid = fork();
        if (pid < 0) {
                int r = negative_errno();
                close(err_pipe[0]);
                close(err_pipe[1]);
                if (out_pipe[0] >= 0) {
                        close(out_pipe[0]);
                        close(out_pipe[1]);
                }
                return r;
        }
        if (pid == 0)
                child_exec(argv, o, err_pipe[1], out_pipe[1]);

        /* Also set it from the parent: avoids the race where we kill before
         * the child called setpgid. */
        (void) setpgid(pid, pid);
        close(err_pipe[1]);
        if (out_pipe[1] >= 0)
                close(out_pipe[1]);

        struct tail tail = {.len = 0};
        size_t max_out = o->max_capture ? o->max_capture : 16u << 20;
        char *out = NULL;
        size_t out_size = 0, out_cap = 0;
        bool out_overflow = false, timed_out = false;
        uint64_t deadline = o->timeout_sec ? now_ms() + (uint64_t) o->timeout_sec * 1000 : 0;
        uint64_t kill_at = 0;
        unsigned grace = o->kill_grace_sec ? o->kill_grace_sec : 5;
        int err_fd = err_pipe[0], out_fd = out_pipe[0];

        while (err_fd >= 0 || out_fd >= 0) {
                struct pollfd p[2];
                int n = 0;
                if (err_fd >= 0)
                        p[n++] = (struct pollfd){.fd = err_fd, .events = POLLIN};
                if (out_fd >= 0)
                        p[n++] = (struct pollfd){.fd = out_fd, .events = POLLIN};
                int wait_ms = -1;
                uint64_t now = now_ms();
                if (kill_at)
                        wait_ms = kill_at > now ? (int) (kill_at - now) : 0;
                else if (deadline)
                        wait_ms = deadline > now ? (int) (deadline - now) : 0;
                int k = poll(p, (nfds_t) n, wait_ms);
                if (k < 0 && errno != EINTR)
                        break;
                escalate(pid, now_ms(), grace, &deadline, &kill_at, &timed_out);
                for (int i = 0; k > 0 && i < n; i++) {
                        if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        char buf[8192];
                        ssize_t got = read(p[i].fd, buf, sizeof buf);
                        if (got < 0 && errno == EINTR)
                                continue;
                        if (got <= 0) {
                                close(p[i].fd);
                                if (p[i].fd == err_fd)
                                        err_fd = -1;
                                else
                                        out_fd = -1;
                                continue;
                        }
                        if (p[i].fd == err_fd) {
                                tail_add(&tail, buf, (size_t) got);
                                if (o->passthrough_stderr)
                                        (void) !write(STDERR_FILENO, buf, (size_t) got);
                        } else if (!out_overflow) {
                                if (out_size + (size_t) got > max_out) {
                                        out_overflow = true;
                                        continue;
                                }
                                if (out_size + (size_t) got + 1 > out_cap) {
                                        size_t nc = (out_cap ? out_cap * 2 : 65536);
                                        while (nc < out_size + (size_t) got + 1)
                                                nc *= 2;
                                        char *nb = realloc(out, nc);
                                        if (!nb) {
                                                out_overflow = true;
                                                continue;
                                        }
                                        out = nb;
                                        out_cap = nc;
                                }
                                memcpy(out + out_size, buf, (size_t) got);
                                out_size += (size_t) got;
                        }
                }
        }

        /* Pipes closed: the child (or its group) is gone or closed them; wait,
         * still honouring the timeout for a child that closed stderr. */
        int status = 0;
        for (;;) {
                pid_t w = waitpid(pid, &status, deadline || kill_at ? WNOHANG : 0);
                if (w == pid)
                        break;
                if (w < 0 && errno != EINTR) {
                        status = 0;
                        break;
                }
                escalate(pid, now_ms(), grace, &deadline, &kill_at, &timed_out);
                if (w == 0)
                        usleep(20000);
        }
        /* Anything left in the group after the leader exited goes too when we
         * timed out. */
        if (timed_out)
                (void) kill(-pid, SIGKILL);

        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        int r;
        if (timed_out)
                r = -ETIMEDOUT;
        else if (code == 0)
                r = 0;
        else if (code == 127)
                r = -ENOENT;
        else if (code == 126)
                r = -EACCES;
        else
                r = -EPROTO;
        if (r == 0 && out_overflow)
                r = -EFBIG;

        if (ret) {
                ret->exit_status = code;
                ret->timed_out = timed_out;
                ret->err_tail = strndup(tail.buf, tail.len);
                ret->out = out;
                ret->out_size = out_size;
                if (out)
                        out[out_size] = '\0';
        } else
                free(out);
        return r;
}

char *argv_to_string(char *const argv[]) {
        size_t n = 1;
        for (char *const *a = argv; *a; a++)
                n += strlen(*a) * 4 + 3; /* each ' may become '\'' */
        char *s = malloc(n), *p = s;
        if (!s)
                return NULL;
        for (char *const *a = argv; *a; a++) {
                if (a != argv)
                        *p++ = ' ';
                /* Quote anything beyond the characters a shell never treats
                 * specially (as Python's shlex.quote does). */
                bool quote = !**a || (*a)[strspn(*a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                     "0123456789_@%+=:,./-")] != '\0';
                if (quote)
                        *p++ = '\'';
                for (const char *c = *a; *c; c++) {
                        if (*c == '\'' && quote) {
                                /* Close the quote, an escaped ', reopen. */
                                memcpy(p, "'\\''", 4);
                                p += 4;
                                continue;
                        }
                        *p++ = *c;
                }
                if (quote)
                        *p++ = '\'';
        }
        *p = '\0';
        return s;
}

int proc_log_failure(int r, const char *what, char *const argv[], const struct proc_result *res) {
        const char *tail = res && res->err_tail ? res->err_tail : "";
        /* Only the last lines of stderr: enough to see the cause. */
        size_t len = strlen(tail);
        const char *start = tail;
        int lines = 0;
        for (const char *c = tail + len; c > tail; c--)
                if (c[-1] == '\n' && c != tail + len && ++lines >= 15) {
                        start = c;
                        break;
                }
        char reason[64];
        if (r == -ETIMEDOUT)
                snprintf(reason, sizeof reason, "timed out");
        else if (r == -ENOENT)
                snprintf(reason, sizeof reason, "not found (is it installed?)");
        else if (r == -EACCES)
                snprintf(reason, sizeof reason, "could not be executed");
        else if (res)
                snprintf(reason, sizeof reason, "failed with exit status %d", res->exit_status);
        else
                snprintf(reason, sizeof reason, "failed: %s", strerror(-r));
        return log_error_errno(r, "%s: '%s' %s%s%s", what, argv[0], reason, *start ? ":\n" : "", start);
}
