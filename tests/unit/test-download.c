/* SPDX-License-Identifier: MIT */
/* lib/download against a loopback HTTP server forked by the test: plain
 * sockets on 127.0.0.1, a child per connection, GET with Range and HEAD, and
 * faults configured per path (500 the first N times, a body cut short, wrong
 * content, Range ignored, slow). Configuration and request counters live in
 * shared memory so the test can read what the server saw. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "loophttp.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "digest.h"
#include "download.h"
#include "fsutil.h"
#include "macro.h"
#include "testutil.h"

#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif
#ifndef MAX
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#endif

#define MAX_RES 8
#define MAX_BODY (128 * 1024)

struct res {
        char path[64];
        size_t len;
        char body[MAX_BODY];
        int fail_first;     /* answer 500 to the first N GETs */
        int truncate_times; /* cut the body after truncate_at bytes, this many times */
        size_t truncate_at;
        bool close_delimited; /* no Content-Length: the end of the body is the close */
        bool no_range;        /* answer 200 with the whole body to a Range request */
        bool corrupt;         /* one byte flipped */
        unsigned slow_ms;     /* pause before each 1 KiB */
        /* counters, updated by the server */
        int gets, heads, ranges;
};

struct shared {
        struct res res[MAX_RES];
        size_t n_res;
        int requests; /* every request, known paths or not */
};

struct fixture {
        char dir[64];
        char *cas;
        struct shared *sh;
        pid_t server;
        int port;
};

/* ---- the server ------------------------------------------------------------- */

static int send_all(int fd, const void *data, size_t n) {
        const char *p = data;
        while (n > 0) {
                ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -1;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

static void serve_one(int fd, struct shared *sh) {
        char req[8192], method[8], path[256];
        bool parsed = lh_read_request(fd, req, sizeof req, method, path);
        if (!strstr(req, "\r\n\r\n"))
                return;
        __atomic_add_fetch(&sh->requests, 1, __ATOMIC_SEQ_CST);
        if (!parsed)
                return;
        bool head = streq(method, "HEAD");
        long long range_start = -1;
        for (char *h = strstr(req, "\r\n"); h && h[2] != '\r'; h = strstr(h + 2, "\r\n"))
                if (strncasecmp(h + 2, "Range: bytes=", 13) == 0)
                        range_start = strtoll(h + 15, NULL, 10);

        struct res *r = NULL;
        for (size_t i = 0; i < sh->n_res; i++)
                if (streq(sh->res[i].path, path))
                        r = &sh->res[i];
        char hdr[512];
        if (!r) {
                static const char nf[] =
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\nConnection: close\r\n\r\n"
                        "not found\n";
                send_all(fd, nf, head ? strlen(nf) - 10 : strlen(nf));
                return;
        }
        if (head)
                __atomic_add_fetch(&r->heads, 1, __ATOMIC_SEQ_CST);
        else {
                int n = __atomic_add_fetch(&r->gets, 1, __ATOMIC_SEQ_CST);
                if (range_start >= 0)
                        __atomic_add_fetch(&r->ranges, 1, __ATOMIC_SEQ_CST);
                if (n <= r->fail_first) {
                        static const char e[] = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 6\r\n"
                                                "Connection: close\r\n\r\nboom!\n";
                        send_all(fd, e, strlen(e));
                        return;
                }
        }

        size_t start = 0;
        int hl;
        if (range_start >= 0 && !r->no_range) {
                if ((size_t) range_start >= r->len) {
                        hl = snprintf(hdr, sizeof hdr,
                                      "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */%zu\r\n"
                                      "Content-Length: 0\r\nConnection: close\r\n\r\n",
                                      r->len);
                        send_all(fd, hdr, (size_t) hl);
                        return;
                }
                start = (size_t) range_start;
                hl = snprintf(hdr, sizeof hdr,
                              "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %zu-%zu/%zu\r\n"
                              "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                              start, r->len - 1, r->len, r->len - start);
        } else if (r->close_delimited)
                hl = snprintf(hdr, sizeof hdr,
                              "HTTP/1.1 200 OK\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n");
        else
                hl = snprintf(hdr, sizeof hdr,
                              "HTTP/1.1 200 OK\r\nAccept-Ranges: %s\r\nContent-Length: %zu\r\n"
                              "Connection: close\r\n\r\n",
                              r->no_range ? "none" : "bytes", r->len);
        if (send_all(fd, hdr, (size_t) hl) < 0 || head)
                return;

        size_t end = r->len;
        if (__atomic_sub_fetch(&r->truncate_times, 1, __ATOMIC_SEQ_CST) >= 0 && r->truncate_at < end)
                end = MAX(start, r->truncate_at);
        char *body = malloc(MAX_BODY);
        if (!body)
                return;
        memcpy(body, r->body, r->len);
        if (r->corrupt && r->len > 0)
                body[r->len / 2] ^= 0x20;
        for (size_t pos = start; pos < end;) {
                size_t n = MIN(end - pos, (size_t) 1024);
                if (r->slow_ms)
                        usleep(r->slow_ms * 1000u);
                if (send_all(fd, body + pos, n) < 0)
                        break;
                pos += n;
        }
        free(body);
}

static void server_loop(int lfd, struct shared *sh) {
        signal(SIGCHLD, SIG_IGN);
        for (;;) {
                int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0) {
                        if (errno == EINTR)
                                continue;
                        _exit(1);
                }
                pid_t pid = fork();
                if (pid == 0) {
                        close(lfd);
                        serve_one(fd, sh);
                        shutdown(fd, SHUT_RDWR);
                        close(fd);
                        _exit(0);
                }
                close(fd);
        }
}

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof *f);
        assert_non_null(f);
        snprintf(f->dir, sizeof f->dir, "%s", "/tmp/test-download-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        f->cas = tu_path(f->dir, "cas");
        f->sh = mmap(NULL, sizeof *f->sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        assert_true(f->sh != MAP_FAILED);
        int lfd = tu_listen_loopback(&f->port);
        f->server = fork();
        assert_true(f->server >= 0);
        if (f->server == 0) {
                setpgid(0, 0);
                server_loop(lfd, f->sh);
                _exit(0);
        }
        setpgid(f->server, f->server);
        close(lfd);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;
        kill(-f->server, SIGKILL);
        kill(f->server, SIGKILL);
        waitpid(f->server, NULL, 0);
        rm_rf(f->dir);
        munmap(f->sh, sizeof *f->sh);
        free(f->cas);
        free(f);
        return 0;
}

/* A resource of `len` pseudo-random bytes at `path`; its digest in hex. */
static struct res *add_res(struct fixture *f, const char *path, size_t len, char hex[SHA256_HEX_LEN + 1]) {
        assert_true(f->sh->n_res < MAX_RES);
        assert_true(len <= MAX_BODY);
        struct res *r = &f->sh->res[f->sh->n_res++];
        snprintf(r->path, sizeof r->path, "%s", path);
        uint32_t x = 2463534242u ^ (uint32_t) len;
        for (size_t i = 0; i < len; i++) {
                x ^= x << 13, x ^= x >> 17, x ^= x << 5;
                r->body[i] = (char) x;
        }
        r->len = len;
        assert_int_equal(sha256_buffer(r->body, len, hex), 0);
        return r;
}

static char *url_of(struct fixture *f, const char *path) {
        char *u = NULL;
        assert_true(asprintf(&u, "http://127.0.0.1:%d%s", f->port, path) > 0);
        return u;
}

static struct download_opts fast_opts(void) {
        return (struct download_opts){
                .allow_http = true,
                .attempts = 4,
                .retry_delay_ms = 5,
                .connect_timeout_sec = 5,
                .low_speed_timeout_sec = 10,
        };
}

static bool exists_with_suffix(struct fixture *f, const char *hex, const char *suffix) {
        _cleanup_free_ char *p = NULL;
        assert_true(asprintf(&p, "%s/sha256/%s%s", f->cas, hex, suffix) > 0);
        return access(p, F_OK) == 0;
}

static void assert_stored(struct fixture *f, const char *hex, const struct res *r) {
        assert_true(cas_has(f->cas, hex));
        _cleanup_free_ char *p = cas_path(f->cas, hex);
        size_t size = 0;
        _cleanup_free_ char *data = tu_read(p, &size);
        assert_int_equal(size, r->len);
        assert_memory_equal(data, r->body, r->len);
        char got[SHA256_HEX_LEN + 1];
        assert_int_equal(sha256_file(p, got), 0);
        assert_string_equal(got, hex);
        assert_false(exists_with_suffix(f, hex, ".partial"));
}

/* ---- cases -------------------------------------------------------------------- */

static void test_fresh_then_present(void **state) {
        struct fixture *f = *state;
        char hex[SHA256_HEX_LEN + 1];
        struct res *r = add_res(f, "/blob", 40000, hex);
        _cleanup_free_ char *url = url_of(f, "/blob");
        struct download_opts o = fast_opts();
        _cleanup_free_ char *path = NULL, *err = NULL;

        assert_false(cas_has(f->cas, hex));
        assert_int_equal(download_to_cas(url, hex, f->cas, &o, &path, &err), 1);
        _cleanup_free_ char *expect = cas_path(f->cas, hex);
        assert_string_equal(path, expect);
        assert_stored(f, hex, r);
        assert_int_equal(r->gets, 1);
        assert_int_equal(r->ranges, 0);

        /* Present: 0, and the server sees nothing. */
        free(path);
        path = NULL;
        int before = f->sh->requests;
        assert_int_equal(download_to_cas(url, hex, f->cas, &o, &path, &err), 0);
        assert_string_equal(path, expect);
        assert_int_equal(f->sh->requests, before);
        /* Even from a URL that would fail. */
        _cleanup_free_ char *gone = url_of(f, "/nothing-here");
        assert_int_equal(download_to_cas(gone, hex, f->cas, &o, NULL, &err), 0);
        assert_int_equal(f->sh->requests, before);
}

static void test_retry_5xx(void **state) {
        struct fixture *f = *state;
        char hex[SHA256_HEX_LEN + 1];
        struct res *r = add_res(f, "/flaky", 5000, hex);
        r->fail_first = 2;
        _cleanup_free_ char *url = url_of(f, "/flaky");
        struct download_opts o = fast_opts();
        _cleanup_free_ char *err = NULL;
        assert_int_equal(download_to_cas(url, hex, f->cas, &o, NULL, &err), 1);
        assert_int_equal(r->gets, 3);
        assert_stored(f, hex, r);
}

static void test_5xx_gives_up(void **state) {
        struct fixture *f = *state;
        char hex[SHA256_HEX_LEN + 1];
        struct res *r = add_res(f, "/down", 5000, hex);
        r->fail_first = 100;
        _cleanup_free_ char *url = url_of(f, "/down");
        struct download_opts o = fast_opts();
        o.attempts = 3;
        _cleanup_free_ char *err = NULL;
        assert_int_equal(download_to_cas(url, hex, f->cas, &o, NULL, &err), -EPROTO);
        assert_int_equal(r->gets, 3);
        assert_non_null(strstr(err, "HTTP 500"));
        assert_non_null(strstr(err, url));
        assert_false(cas_has(f->cas, hex));
}

static void test_truncated_then_resumed(void **state) {
        struct fixture *f = *state;
        char hex[SHA256_HEX_LEN + 1];
        struct res *r = add_res(f, "/cut", 40000, hex);
        r->truncate_times = 1;
        r->truncate_at = 10000;
        _cleanup_free_ char *url = url_of(f, "/cut");
        struct download_opts o = fast_opts();
        _cleanup_free_ char *err = NULL;
        assert_int_equal(download_to_cas(url, hex, f->cas, &o, NULL, &err), 1);
        assert_int_equal(r->gets, 2);
        assert_int_equal(r->ranges, 1);
        assert_stored(f, hex, r);
}

/* No Content-Length: the cut is seen only against expected_size. */
static void test_truncated_close_delimited(void **state) {
        struct fixture *f = *state;
        char hex[SHA256_HEX_LEN + 1];
        struct res *r = add_res(f, "/cut-nolen", 30000, hex);
        r->close_delimited = true;
        r->truncate_times = 1;
        r->truncate_at = 7000;
        _cleanup_free_ char *url = url_of(f, "/cut-nolen");
        struct download_opts o = fast_opts();
        o.expected_size = r->len;
        _cleanup_free_ char *err = NULL;
        assert_int_equal(download_to_cas(url, hex, f->cas, &o, NULL, &err), 1);
        assert_int_equal(r->gets, 2);
        assert_int_equal(r->ranges, 1);
        assert_stored(f, hex, r);
}

/* An interrupted run leaves <hex>.partial; the next run resumes it. */
static void test_resume_across_runs(void **state) {
        struct fixture *f = *state;
        char hex[SHA256_HEX_LEN + 1];
        struct res *r = add_res(f, "/again", 40000, hex);
        r->truncate_times = 1;
        r->truncate_at = 12288;
        _cleanup_free_ char *url = url_of(f, "/again");
        struct download_opts o = fast_opts();
        o.attempts = 1;
        _cleanup_free_ char *err = NULL;
        int rc = download_to_cas(url, hex, f->cas, &o, NULL, &err);
        assert_true(rc < 0);
        assert_non_null(strstr(err, url));
        assert_true(exists_with_suffix(f, hex, ".partial"));
        assert_false(cas_has(f->cas, hex));

        free(err);
        err = NULL;
        assert_int_equal(download_to_cas(url, hex, f->cas, &o, NULL, &err), 1);
        assert_int_equal(r->gets, 2);
        assert_int_equal(r->ranges, 1);
        assert_stored(f, hex, r);
}

/* A server that ignores Range: the partial is thrown away and the whole body
 * fetched again. */
static void test_no_range_support(void **state) {
        struct fixture *f = *state;
        char hex[SHA256_HEX_LEN + 1];
        struct res *r = add_res(f, "/norange", 40000, hex);
        r->no_range = true;
        r->truncate_times = 1;
        r->truncate_at = 9000;
        _cleanup_free_ char *url = url_of(f, "/norange");
        struct download_opts o = fast_opts();
        o.attempts = 2; /* the restart does not count as a failed attempt */
        _cleanup_free_ char *err = NULL;
        assert_int_equal(download_to_cas(url, hex, f->cas, &o, NULL, &err), 1);
        assert_true(r->ranges >= 1);
        assert_true(r->gets >= 2);
        assert_stored(f, hex, r);
}

/* A partial file of other content (say, an earlier release at the same
 * digest path is impossible, but a corrupted disk is not): the resumed body
 * does not match, so it starts over from zero once. */
static void test_stale_partial(void **state) {
        struct fixture *f = *state;
        char hex[SHA256_HEX_LEN + 1];
        struct res *r = add_res(f, "/stale", 20000, hex);
        _cleanup_free_ char *dir = tu_path(f->cas, "sha256");
        assert_int_equal(mkdir_p(dir, 0755), 0);
        _cleanup_free_ char *partial = NULL;
        assert_true(asprintf(&partial, "%s.partial", hex) > 0);
        tu_write_in(dir, partial, "this is not the beginning of the blob");
        _cleanup_free_ char *url = url_of(f, "/stale");
        struct download_opts o = fast_opts();
        _cleanup_free_ char *err = NULL;
        assert_int_equal(download_to_cas(url, hex, f->cas, &o, NULL, &err), 1);
        assert_int_equal(r->ranges, 1);
        assert_int_equal(r->gets, 2);
        assert_stored(f, hex, r);
}

static void test_wrong_content(void **state) {
        struct fixture *f = *state;
        char hex[SHA256_HEX_LEN + 1];
        struct res *r = add_res(f, "/evil", 30000, hex);
        r->corrupt = true;
        _cleanup_free_ char *url = url_of(f, "/evil");
        struct download_opts o = fast_opts();
        _cleanup_free_ char *path = NULL, *err = NULL;
        assert_int_equal(download_to_cas(url, hex, f->cas, &o, &path, &err), -EBADMSG);
        assert_null(path);
        assert_non_null(strstr(err, hex));
        assert_non_null(strstr(err, url));
        assert_false(cas_has(f->cas, hex));
        assert_false(exists_with_suffix(f, hex, ""));
        assert_false(exists_with_suffix(f, hex, ".partial"));
        assert_int_equal(r->gets, 1); /* a mismatch is not retried */
}

static void test_404_not_retried(void **state) {
        struct fixture *f = *state;
        _cleanup_free_ char *url = url_of(f, "/missing");
        struct download_opts o = fast_opts();
        _cleanup_free_ char *err = NULL;
        char hex[SHA256_HEX_LEN + 1];
        assert_int_equal(sha256_buffer("x", 1, hex), 0);
        assert_int_equal(download_to_cas(url, hex, f->cas, &o, NULL, &err), -EPROTO);
        assert_int_equal(f->sh->requests, 1);
        assert_non_null(strstr(err, "HTTP 404"));
        assert_false(cas_has(f->cas, hex));
}

static void test_too_big(void **state) {
        struct fixture *f = *state;
        char hex[SHA256_HEX_LEN + 1], hex2[SHA256_HEX_LEN + 1];
        struct res *r = add_res(f, "/big", 50000, hex);
        _cleanup_free_ char *url = url_of(f, "/big");
        struct download_opts o = fast_opts();
        o.expected_size = r->len - 1;
        _cleanup_free_ char *err = NULL;
        assert_int_equal(download_to_cas(url, hex, f->cas, &o, NULL, &err), -EFBIG);
        assert_false(cas_has(f->cas, hex));
        assert_false(exists_with_suffix(f, hex, ".partial"));
        assert_int_equal(r->gets, 1);

        /* Without a Content-Length, the body itself is counted. */
        struct res *r2 = add_res(f, "/big-nolen", 60000, hex2);
        r2->close_delimited = true;
        _cleanup_free_ char *url2 = url_of(f, "/big-nolen");
        o.expected_size = 20000;
        free(err);
        err = NULL;
        assert_int_equal(download_to_cas(url2, hex2, f->cas, &o, NULL, &err), -EFBIG);
        assert_false(cas_has(f->cas, hex2));
        assert_false(exists_with_suffix(f, hex2, ".partial"));
        assert_int_equal(r2->gets, 1);
}

/* Plain http is refused before any connection unless allow_http:
 * -EPROTONOSUPPORT (-EPERM means a TLS verification failure). */
static void test_http_refused(void **state) {
        struct fixture *f = *state;
        char hex[SHA256_HEX_LEN + 1];
        add_res(f, "/plain", 100, hex);
        _cleanup_free_ char *url = url_of(f, "/plain");
        struct download_opts o = fast_opts();
        o.allow_http = false;
        _cleanup_free_ char *err = NULL;
        assert_int_equal(download_to_cas(url, hex, f->cas, &o, NULL, &err), -EPROTONOSUPPORT);
        assert_non_null(strstr(err, "https://"));
        assert_int_equal(f->sh->requests, 0);
        free(err);
        err = NULL;
        assert_int_equal(download_to_cas("ftp://127.0.0.1/x", hex, f->cas,
                                         &(struct download_opts){.allow_http = true}, NULL, &err),
                         -EPROTONOSUPPORT);
        assert_false(cas_has(f->cas, hex));
}

static void test_bad_digest_argument(void **state) {
        struct fixture *f = *state;
        _cleanup_free_ char *url = url_of(f, "/x");
        _cleanup_free_ char *err = NULL;
        assert_int_equal(download_to_cas(url, "abc", f->cas, NULL, NULL, &err), -EINVAL);
        free(err);
        err = NULL;
        /* Upper case is not the store's spelling. */
        char hex[SHA256_HEX_LEN + 1];
        assert_int_equal(sha256_buffer("x", 1, hex), 0);
        for (char *p = hex; *p; p++)
                if (*p >= 'a' && *p <= 'f')
                        *p = (char) (*p - 'a' + 'A');
        assert_int_equal(download_to_cas(url, hex, f->cas, NULL, NULL, &err), -EINVAL);
        assert_int_equal(f->sh->requests, 0);
}

static void test_low_speed(void **state) {
        struct fixture *f = *state;
        char hex[SHA256_HEX_LEN + 1];
        struct res *r = add_res(f, "/slow", 20000, hex);
        r->slow_ms = 2500; /* 1 KiB per 2.5 s: under the 1 KiB/s floor */
        _cleanup_free_ char *url = url_of(f, "/slow");
        struct download_opts o = fast_opts();
        o.attempts = 2;
        o.low_speed_timeout_sec = 1;
        _cleanup_free_ char *err = NULL;
        assert_int_equal(download_to_cas(url, hex, f->cas, &o, NULL, &err), -ETIMEDOUT);
        assert_int_equal(r->gets, 2);
        assert_false(cas_has(f->cas, hex));
}

static void test_progress_lines(void **state) {
        struct fixture *f = *state;
        char hex[SHA256_HEX_LEN + 1];
        add_res(f, "/shown", 100000, hex);
        _cleanup_free_ char *url = url_of(f, "/shown");
        struct download_opts o = fast_opts();
        o.progress = true;
        o.label = "kubelet";

        /* stderr to a file: not a terminal, so whole lines. */
        _cleanup_free_ char *log = tu_path(f->dir, "stderr.txt");
        int saved = dup(STDERR_FILENO);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(saved >= 0 && fd >= 0);
        fflush(stderr);
        assert_true(dup2(fd, STDERR_FILENO) >= 0);
        close(fd);
        _cleanup_free_ char *err = NULL;
        int r = download_to_cas(url, hex, f->cas, &o, NULL, &err);
        fflush(stderr);
        assert_true(dup2(saved, STDERR_FILENO) >= 0);
        close(saved);
        assert_int_equal(r, 1);

        _cleanup_free_ char *text = tu_read(log, NULL);
        assert_non_null(strstr(text, "kubelet: "));
        assert_non_null(strstr(text, "100%"));
        assert_null(strchr(text, '\r'));
        assert_null(strstr(text, "\033["));
}

static void test_import_file(void **state) {
        struct fixture *f = *state;
        tu_write_in(f->dir, "kubeadm", "#!/bin/sh\necho fake kubeadm\n");
        _cleanup_free_ char *src = tu_path(f->dir, "kubeadm");
        char hex[SHA256_HEX_LEN + 1], other[SHA256_HEX_LEN + 1];
        assert_int_equal(sha256_file(src, hex), 0);
        assert_int_equal(sha256_buffer("something else", 14, other), 0);
        _cleanup_free_ char *err = NULL;

        assert_int_equal(cas_import_file(src, other, f->cas, &err), -EBADMSG);
        assert_non_null(strstr(err, src));
        assert_non_null(strstr(err, other));
        assert_false(cas_has(f->cas, other));
        assert_false(exists_with_suffix(f, other, ".partial"));

        assert_int_equal(cas_import_file(src, hex, f->cas, NULL), 1);
        assert_true(cas_has(f->cas, hex));
        _cleanup_free_ char *p = cas_path(f->cas, hex);
        _cleanup_free_ char *data = tu_read(p, NULL);
        assert_string_equal(data, "#!/bin/sh\necho fake kubeadm\n");
        assert_false(exists_with_suffix(f, hex, ".partial"));
        assert_int_equal(cas_import_file(src, hex, f->cas, NULL), 0);

        _cleanup_free_ char *missing = tu_path(f->dir, "nope");
        assert_int_equal(cas_import_file(missing, other, f->cas, NULL), -ENOENT);
        assert_int_equal(cas_import_file(f->dir, other, f->cas, NULL), -EBADF);
}

/* Two builds fetching the same blob at once: one downloads, the other waits
 * on the lock and finds it stored. */
static void test_concurrent(void **state) {
        struct fixture *f = *state;
        char hex[SHA256_HEX_LEN + 1];
        struct res *r = add_res(f, "/shared", 64 * 1024, hex);
        r->slow_ms = 5; /* ~0.3 s: long enough for both to be inside */
        _cleanup_free_ char *url = url_of(f, "/shared");
        struct download_opts o = fast_opts();

        int go[2];
        assert_int_equal(pipe(go), 0);
        pid_t kids[2];
        for (int i = 0; i < 2; i++) {
                kids[i] = fork();
                assert_true(kids[i] >= 0);
                if (kids[i] == 0) {
                        close(go[1]);
                        char c;
                        if (read(go[0], &c, 1) != 0)
                                _exit(99);
                        int rc = download_to_cas(url, hex, f->cas, &o, NULL, NULL);
                        _exit(rc < 0 ? 100 : 10 + rc);
                }
        }
        close(go[0]);
        close(go[1]); /* both start now */
        int codes[2];
        for (int i = 0; i < 2; i++) {
                int st;
                assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
                assert_true(WIFEXITED(st));
                codes[i] = WEXITSTATUS(st);
        }
        assert_int_equal(codes[0] + codes[1], 21); /* one 1 (downloaded), one 0 (present) */
        assert_int_equal(r->gets, 1);
        assert_stored(f, hex, r);

        /* One file in the store (besides the lock). */
        _cleanup_free_ char *dir = tu_path(f->cas, "sha256");
        _cleanup_(closedirp_) DIR *d = opendir(dir);
        assert_non_null(d);
        int files = 0;
        for (struct dirent *de; (de = readdir(d));)
                if (de->d_name[0] != '.' && !strstr(de->d_name, ".lock"))
                        files++;
        assert_int_equal(files, 1);
}

/* writeback_hint(): writeback is started once a chunk has been written past
 * the mark, and the mark follows; what was written is untouched. */
static void test_writeback_hint(void **state) {
        (void) state;
        char path[] = "/tmp/test-writeback-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        static char chunk[1 << 20];
        memset(chunk, 'x', sizeof chunk);
        uint64_t mark = 0, written = 0;
        for (int i = 0; i < 20; i++) {
                assert_int_equal(write(fd, chunk, sizeof chunk), (ssize_t) sizeof chunk);
                written += sizeof chunk;
                writeback_hint(fd, written, &mark);
                /* 8 MiB steps: at 8 and 16 MiB */
                assert_int_equal(mark, written < 8u << 20 ? 0 : written < 16u << 20 ? 8u << 20 : 16u << 20);
        }
        writeback_hint(fd, 4u << 20, &mark); /* behind the mark: nothing */
        assert_int_equal(mark, 16u << 20);
        assert_int_equal(fsync(fd), 0);
        struct stat st;
        assert_int_equal(fstat(fd, &st), 0);
        assert_int_equal(st.st_size, 20 << 20);
        /* Not a file: the mark still moves, the error is the fsync's. */
        int pipefd[2];
        assert_int_equal(pipe(pipefd), 0);
        uint64_t pmark = 0;
        writeback_hint(pipefd[1], 9u << 20, &pmark);
        assert_int_equal(pmark, 9u << 20);
        close(pipefd[0]);
        close(pipefd[1]);
        close(fd);
        unlink(path);
}

static void test_retry_delay(void **state) {
        (void) state;
        struct download_opts o = {.retry_delay_ms = 100};
        for (int i = 0; i < 50; i++) {
                unsigned d1 = download_retry_delay_ms(&o, 1), d3 = download_retry_delay_ms(&o, 3);
                assert_true(d1 >= 50 && d1 <= 150);
                assert_true(d3 >= 200 && d3 <= 600);
                unsigned dmax = download_retry_delay_ms(&o, 40);
                assert_true(dmax >= 15000 && dmax <= 45000);
        }
        unsigned d = download_retry_delay_ms(NULL, 1); /* default 500 */
        assert_true(d >= 250 && d <= 750);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_fresh_then_present, setup, teardown),
                cmocka_unit_test_setup_teardown(test_retry_5xx, setup, teardown),
                cmocka_unit_test_setup_teardown(test_5xx_gives_up, setup, teardown),
                cmocka_unit_test_setup_teardown(test_truncated_then_resumed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_truncated_close_delimited, setup, teardown),
                cmocka_unit_test_setup_teardown(test_resume_across_runs, setup, teardown),
                cmocka_unit_test_setup_teardown(test_no_range_support, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stale_partial, setup, teardown),
                cmocka_unit_test_setup_teardown(test_wrong_content, setup, teardown),
                cmocka_unit_test_setup_teardown(test_404_not_retried, setup, teardown),
                cmocka_unit_test_setup_teardown(test_too_big, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_digest_argument, setup, teardown),
                cmocka_unit_test_setup_teardown(test_low_speed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_progress_lines, setup, teardown),
                cmocka_unit_test_setup_teardown(test_import_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
                cmocka_unit_test(test_retry_delay),
                cmocka_unit_test(test_writeback_hint),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
