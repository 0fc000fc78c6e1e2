/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cert.h"
#include "fsutil.h"
#include "http.h"
#include "macro.h"
#include "proc.h"

#include "testutil.h"

/* Real servers on 127.0.0.1: a small forked HTTP/1.1 server written here,
 * and `openssl s_server` for TLS, with certificates made by the openssl
 * command line. */

static char tmpdir[] = "/tmp/kubeseed-test-http-XXXXXX";

struct server {
        pid_t pid;
        int port;
        int out_fd; /* s_server's stdout, kept open so it never gets SIGPIPE */
};

static struct server plain = {-1, 0, -1};
static struct server tls_chain = {-1, 0, -1};    /* leaf + CA in the chain */
static struct server tls_leaf = {-1, 0, -1};     /* leaf only */
static struct server tls_impostor = {-1, 0, -1}; /* leaf by another CA, real CA in the chain */
static int silent_fd = -1;                       /* listens, never accepts */
static int silent_port;
static char hash_ca[CERT_HASH_STRING_MAX], hash_other[CERT_HASH_STRING_MAX];
static char *ca_pem;

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* ---- the plain HTTP server ---- */

#define BIG_SIZE (2u * 1024u * 1024u)

static void send_all(int fd, const void *p, size_t n) {
        const char *c = p;
        while (n > 0) {
                ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
                if (k <= 0)
                        return;
                c += k;
                n -= (size_t) k;
        }
}

static void respond(int fd, int status, const char *reason, const char *extra, const char *body,
                    size_t size) {
        char head[512];
        int n = snprintf(head, sizeof head,
                         "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n", status,
                         reason, size, extra ? extra : "");
        send_all(fd, head, (size_t) n);
        send_all(fd, body, size);
}

/* The value of header `name` in the request head (NUL-terminated), or NULL. */
static char *header_value(const char *head, const char *name, char *buf, size_t size) {
        size_t n = strlen(name);
        for (const char *line = strstr(head, "\r\n"); line; line = strstr(line + 2, "\r\n")) {
                const char *h = line + 2;
                if (strncasecmp(h, name, n) == 0 && h[n] == ':') {
                        h += n + 1;
                        while (*h == ' ')
                                h++;
                        const char *end = strstr(h, "\r\n");
                        size_t len = end ? (size_t) (end - h) : strlen(h);
                        if (len >= size)
                                len = size - 1;
                        memcpy(buf, h, len);
                        buf[len] = '\0';
                        return buf;
                }
        }
        return NULL;
}

static void serve_one(int fd) {
        static char req[65536];
        size_t len = 0;
        char *end = NULL;
        while (!end) {
                if (len == sizeof req - 1)
                        return;
                ssize_t k = read(fd, req + len, sizeof req - 1 - len);
                if (k <= 0)
                        return;
                len += (size_t) k;
                req[len] = '\0';
                end = strstr(req, "\r\n\r\n");
        }
        size_t head_len = (size_t) (end - req) + 4;
        char v[256];
        size_t body_len = 0;
        if (header_value(req, "Content-Length", v, sizeof v))
                body_len = strtoul(v, NULL, 10);
        while (len < head_len + body_len && len < sizeof req - 1) {
                ssize_t k = read(fd, req + len, sizeof req - 1 - len);
                if (k <= 0)
                        break;
                len += (size_t) k;
                req[len] = '\0';
        }

        if (strncmp(req, "GET /hello HTTP/1.1\r\n", 21) == 0)
                respond(fd, 200, "OK", NULL, "hello world", 11);
        else if (strncmp(req, "HEAD /hello HTTP/1.1\r\n", 22) == 0) {
                const char *h = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\n";
                send_all(fd, h, strlen(h));
        } else if (strncmp(req, "GET /missing HTTP/1.1\r\n", 23) == 0)
                respond(fd, 404, "Not Found", NULL, "no such thing", 13);
        else if (strncmp(req, "GET /redirect HTTP/1.1\r\n", 24) == 0)
                respond(fd, 302, "Found", "Location: /hello\r\n", "", 0);
        else if (strncmp(req, "GET /big HTTP/1.1\r\n", 19) == 0 ||
                 strncmp(req, "GET /big-nolen HTTP/1.1\r\n", 25) == 0) {
                bool with_length = req[8] == ' ';
                char head[256];
                int n = with_length ? snprintf(head, sizeof head,
                                               "HTTP/1.1 200 OK\r\nContent-Length: %u\r\nConnection: "
                                               "close\r\n\r\n",
                                               BIG_SIZE)
                                    : snprintf(head, sizeof head,
                                               "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
                send_all(fd, head, (size_t) n);
                static char chunk[65536];
                memset(chunk, 'x', sizeof chunk);
                for (unsigned sent = 0; sent < BIG_SIZE; sent += sizeof chunk)
                        send_all(fd, chunk, sizeof chunk);
        } else if (strncmp(req, "PUT /latest/api/token HTTP/1.1\r\n", 32) == 0) {
                /* IMDSv2: the session token needs a PUT with the TTL header. */
                if (header_value(req, "X-aws-ec2-metadata-token-ttl-seconds", v, sizeof v) &&
                    strcmp(v, "21600") == 0)
                        respond(fd, 200, "OK", NULL, "TOKEN-abc123", 12);
                else
                        respond(fd, 400, "Bad Request", NULL, "missing ttl", 11);
        } else if (strncmp(req, "GET /latest/meta-data/instance-id HTTP/1.1\r\n", 44) == 0) {
                if (header_value(req, "X-aws-ec2-metadata-token", v, sizeof v) &&
                    strcmp(v, "TOKEN-abc123") == 0)
                        respond(fd, 200, "OK", NULL, "i-0123456789", 12);
                else
                        respond(fd, 401, "Unauthorized", NULL, "", 0);
        } else if (strncmp(req, "PUT /echo HTTP/1.1\r\n", 20) == 0 ||
                   strncmp(req, "GET /echo HTTP/1.1\r\n", 20) == 0)
                respond(fd, 200, "OK", NULL, req, len); /* the whole request back */
        else
                respond(fd, 500, "Unexpected", NULL, req, len);
}

static _Noreturn void plain_server(int lfd) {
        signal(SIGPIPE, SIG_IGN);
        for (;;) {
                int fd = accept(lfd, NULL, NULL);
                if (fd < 0) {
                        if (errno == EINTR)
                                continue;
                        _exit(1);
                }
                serve_one(fd);
                shutdown(fd, SHUT_WR);
                /* Let the client read everything before the close. */
                char drain[4096];
                struct pollfd p = {.fd = fd, .events = POLLIN};
                while (poll(&p, 1, 200) > 0 && read(fd, drain, sizeof drain) > 0)
                        ;
                close(fd);
        }
}

/* ---- TLS material and openssl s_server ---- */

/* Starts `openssl s_server` on 127.0.0.1, port chosen by the kernel, and
 * waits for its "ACCEPT 127.0.0.1:PORT" line: it is listening from then on. */
static void start_s_server(struct server *s, const char *cert, const char *key, const char *chain) {
        int p[2];
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        char *argv[] = {
                "openssl",      "s_server", "-accept",    "127.0.0.1:0", "-cert",
                (char *) cert,  "-key",     (char *) key, "-www",        chain ? "-cert_chain" : NULL,
                (char *) chain, NULL};
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int devnull = open("/dev/null", O_RDWR);
                if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 || dup2(p[1], STDOUT_FILENO) < 0 ||
                    dup2(devnull, STDERR_FILENO) < 0 || chdir(tmpdir) < 0)
                        _exit(125);
                execvp(argv[0], argv);
                _exit(127);
        }
        close(p[1]);
        s->pid = pid;
        s->out_fd = p[0];

        char buf[512];
        size_t len = 0;
        uint64_t deadline = now_ms() + 20000;
        for (;;) {
                buf[len] = '\0';
                char *a = strstr(buf, "ACCEPT 127.0.0.1:");
                if (a && strchr(a, '\n')) {
                        s->port = (int) strtol(a + 17, NULL, 10);
                        break;
                }
                uint64_t now = now_ms();
                if (now >= deadline || len == sizeof buf - 1)
                        fail_msg("openssl s_server did not start (output: %s)", buf);
                struct pollfd pf = {.fd = p[0], .events = POLLIN};
                if (poll(&pf, 1, (int) (deadline - now)) <= 0)
                        continue;
                ssize_t k = read(p[0], buf + len, sizeof buf - 1 - len);
                if (k <= 0)
                        fail_msg("openssl s_server exited (output: %s)", buf);
                len += (size_t) k;
        }
        assert_true(s->port > 0);
}

static void stop_server(struct server *s) {
        if (s->pid > 0) {
                kill(s->pid, SIGTERM);
                waitpid(s->pid, NULL, 0);
                s->pid = -1;
        }
        if (s->out_fd >= 0) {
                close(s->out_fd);
                s->out_fd = -1;
        }
}

static int setup(void **state) {
        (void) state;
        if (!mkdtemp(tmpdir))
                return -1;

        /* Plain HTTP. */
        int lfd = tu_listen_loopback(&plain.port);
        pid_t pid = fork();
        if (pid < 0)
                return -1;
        if (pid == 0)
                plain_server(lfd);
        plain.pid = pid;
        close(lfd);

        /* Accepts connections (the kernel does) and never answers. */
        silent_fd = tu_listen_loopback(&silent_port);

        tu_make_ca(tmpdir, "ca", "kubernetes", false);
        tu_make_ca(tmpdir, "other", "impostor", false);
        tu_make_leaf(tmpdir, "leaf", "ca", "7");
        tu_make_leaf(tmpdir, "impostor", "other", "7");
        tu_openssl_hash(tmpdir, "ca.pem", hash_ca);
        tu_openssl_hash(tmpdir, "other.pem", hash_other);
        ca_pem = tu_read_in(tmpdir, "ca.pem", NULL);

        start_s_server(&tls_chain, "leaf.pem", "leaf.key", "ca.pem");
        start_s_server(&tls_leaf, "leaf.pem", "leaf.key", NULL);
        start_s_server(&tls_impostor, "impostor.pem", "impostor.key", "ca.pem");
        return 0;
}

static int teardown(void **state) {
        (void) state;
        stop_server(&plain);
        stop_server(&tls_chain);
        stop_server(&tls_leaf);
        stop_server(&tls_impostor);
        if (silent_fd >= 0)
                close(silent_fd);
        free(ca_pem);
        return rm_rf(tmpdir) < 0 ? -1 : 0;
}

static char *url(const char *scheme, int port, const char *path) {
        char *u = NULL;
        assert_true(asprintf(&u, "%s://127.0.0.1:%d%s", scheme, port, path) > 0);
        return u;
}

/* ---- plain HTTP ---- */

static void test_get_ok(void **state) {
        (void) state;
        _cleanup_free_ char *u = url("http", plain.port, "/hello");
        struct http_request req = {.url = u};
        struct http_response res = {0};
        assert_int_equal(http_ops->perform(&req, &res), 0);
        assert_int_equal(res.status, 200);
        assert_int_equal(res.body_size, 11);
        assert_string_equal(res.body, "hello world");
        assert_null(res.error);
        assert_false(res.pin_mismatch);
        http_response_done(&res);
        assert_null(res.body);
}

static void test_head(void **state) {
        (void) state;
        _cleanup_free_ char *u = url("http", plain.port, "/hello");
        struct http_request req = {.url = u, .method = "HEAD"};
        struct http_response res = {0};
        assert_int_equal(http_perform(&req, &res), 0);
        assert_int_equal(res.status, 200);
        assert_int_equal(res.body_size, 0);
        assert_string_equal(res.body, "");
        http_response_done(&res);
}

static void test_status_404(void **state) {
        (void) state;
        _cleanup_free_ char *u = url("http", plain.port, "/missing");
        struct http_request req = {.url = u};
        struct http_response res = {0};
        assert_int_equal(http_perform(&req, &res), 0);
        assert_int_equal(res.status, 404);
        assert_string_equal(res.body, "no such thing");
        http_response_done(&res);
}

static void test_redirects(void **state) {
        (void) state;
        _cleanup_free_ char *u = url("http", plain.port, "/redirect");
        struct http_request req = {.url = u};
        struct http_response res = {0};
        assert_int_equal(http_perform(&req, &res), 0);
        assert_int_equal(res.status, 302); /* not followed by default */
        http_response_done(&res);

        req.follow_redirects = true;
        assert_int_equal(http_perform(&req, &res), 0);
        assert_int_equal(res.status, 200);
        assert_string_equal(res.body, "hello world");
        http_response_done(&res);
}

static void test_body_cap(void **state) {
        (void) state;
        const char *paths[] = {"/big", "/big-nolen"}; /* announced size, and none */
        for (size_t i = 0; i < ELEMENTSOF(paths); i++) {
                _cleanup_free_ char *u = url("http", plain.port, paths[i]);
                struct http_request req = {.url = u}; /* default cap: 1 MiB */
                struct http_response res = {0};
                int r = http_perform(&req, &res);
                if (r != -EFBIG)
                        fail_msg("%s: expected -EFBIG, got %d (%s)", paths[i], r,
                                 res.error ? res.error : "");
                assert_null(res.body);
                assert_non_null(res.error);
                assert_non_null(strstr(res.error, "larger than"));
                http_response_done(&res);

                req.max_response = BIG_SIZE; /* exactly the size: fits */
                assert_int_equal(http_perform(&req, &res), 0);
                assert_int_equal(res.body_size, BIG_SIZE);
                assert_int_equal(res.body[BIG_SIZE - 1], 'x');
                assert_int_equal(res.body[BIG_SIZE], '\0');
                http_response_done(&res);
        }

        _cleanup_free_ char *u = url("http", plain.port, "/hello");
        struct http_request req = {.url = u, .max_response = 10};
        struct http_response res = {0};
        assert_int_equal(http_perform(&req, &res), -EFBIG);
        http_response_done(&res);
        req.max_response = 11;
        assert_int_equal(http_perform(&req, &res), 0);
        assert_string_equal(res.body, "hello world");
        http_response_done(&res);
}

static void test_connection_refused(void **state) {
        (void) state;
        int port;
        int fd = tu_listen_loopback(&port);
        close(fd); /* nobody listens there now */
        _cleanup_free_ char *u = url("http", port, "/");
        struct http_request req = {.url = u};
        struct http_response res = {0};
        assert_int_equal(http_perform(&req, &res), -ECONNREFUSED);
        assert_int_equal(res.status, 0);
        assert_non_null(res.error);
        assert_null(res.body);
        http_response_done(&res);
}

static void test_timeout(void **state) {
        (void) state;
        _cleanup_free_ char *u = url("http", silent_port, "/hello");
        struct http_request req = {.url = u, .timeout_ms = 700};
        struct http_response res = {0};
        uint64_t t0 = now_ms();
        assert_int_equal(http_perform(&req, &res), -ETIMEDOUT);
        uint64_t took = now_ms() - t0;
        if (took < 600 || took > 3000)
                fail_msg("timeout of 700 ms took %llu ms", (unsigned long long) took);
        assert_int_equal(res.status, 0);
        assert_non_null(res.error);
        http_response_done(&res);
}

static void test_put_imds_token_flow(void **state) {
        (void) state;
        _cleanup_free_ char *tu = url("http", plain.port, "/latest/api/token");
        const char *put_headers[] = {"X-aws-ec2-metadata-token-ttl-seconds: 21600", NULL};
        struct http_request put = {.method = "PUT", .url = tu, .headers = put_headers};
        struct http_response res = {0};
        assert_int_equal(http_perform(&put, &res), 0);
        assert_int_equal(res.status, 200);
        assert_string_equal(res.body, "TOKEN-abc123");

        char token_header[128];
        snprintf(token_header, sizeof token_header, "X-aws-ec2-metadata-token: %s", res.body);
        http_response_done(&res);

        _cleanup_free_ char *iu = url("http", plain.port, "/latest/meta-data/instance-id");
        const char *get_headers[] = {token_header, NULL};
        struct http_request get = {.url = iu, .headers = get_headers};
        assert_int_equal(http_perform(&get, &res), 0);
        assert_int_equal(res.status, 200);
        assert_string_equal(res.body, "i-0123456789");
        http_response_done(&res);

        /* Without the header the server says no: the check above is real. */
        get.headers = NULL;
        assert_int_equal(http_perform(&get, &res), 0);
        assert_int_equal(res.status, 401);
        http_response_done(&res);
        put.headers = NULL;
        assert_int_equal(http_perform(&put, &res), 0);
        assert_int_equal(res.status, 400);
        http_response_done(&res);
}

static void test_put_body_echo(void **state) {
        (void) state;
        _cleanup_free_ char *u = url("http", plain.port, "/echo");
        const char *headers[] = {"X-Test: one", NULL};
        struct http_request req = {
                .method = "PUT", .url = u, .headers = headers, .body = "k=v&x", .body_size = 5};
        struct http_response res = {0};
        assert_int_equal(http_perform(&req, &res), 0);
        assert_int_equal(res.status, 200);
        assert_true(strncmp(res.body, "PUT /echo HTTP/1.1\r\n", 20) == 0);
        assert_non_null(strstr(res.body, "\r\nX-Test: one\r\n"));
        assert_non_null(strstr(res.body, "\r\nContent-Length: 5\r\n"));
        assert_null(strcasestr(res.body, "Expect:"));
        assert_null(strcasestr(res.body, "Content-Type:"));
        assert_non_null(strstr(res.body, "\r\n\r\nk=v&x"));
        http_response_done(&res);
}

static void test_bad_requests(void **state) {
        (void) state;
        struct http_response res = {0};
        struct http_request req = {.url = NULL};
        assert_int_equal(http_perform(&req, &res), -EINVAL);
        req.url = "ftp://127.0.0.1/x"; /* protocols are http and https only */
        assert_int_equal(http_perform(&req, &res), -EINVAL);
        http_response_done(&res);
        req.url = "file:///etc/passwd";
        assert_int_equal(http_perform(&req, &res), -EINVAL);
        assert_null(res.body);
        http_response_done(&res);
        _cleanup_free_ char *u = url("http", plain.port, "/hello");
        req.url = u;
        req.method = "DELETE";
        assert_int_equal(http_perform(&req, &res), -EINVAL);
        http_response_done(&res);
}

/* ---- HTTPS with pinning ---- */

static int https_get(const struct server *s, char *const *pins, const char *pinned_ca, const char *ca_file,
                     struct http_response *res) {
        _cleanup_free_ char *u = url("https", s->port, "/healthz");
        _cleanup_free_ char *cafile = NULL;
        if (ca_file)
                assert_true(asprintf(&cafile, "%s/%s", tmpdir, ca_file) > 0);
        struct http_request req = {
                .url = u,
                .pinned_ca_hashes = (const char *const *) pins,
                .pinned_ca_pem = pinned_ca,
                .ca_file = cafile,
        };
        return http_perform(&req, res);
}

static void test_https_pin_accepted(void **state) {
        (void) state;
        char *pins[] = {hash_other, hash_ca, NULL};
        struct http_response res = {0};
        int r = https_get(&tls_chain, pins, NULL, NULL, &res);
        if (r != 0)
                fail_msg("pinned CA refused (%d): %s", r, res.error ? res.error : "");
        assert_int_equal(res.status, 200);
        assert_false(res.pin_mismatch);
        assert_non_null(strstr(res.body, "s_server"));
        http_response_done(&res);
}

static void test_https_wrong_pin(void **state) {
        (void) state;
        char *pins[] = {hash_other, NULL};
        struct http_response res = {0};
        assert_int_equal(https_get(&tls_chain, pins, NULL, NULL, &res), -EPERM);
        assert_true(res.pin_mismatch);
        assert_int_equal(res.status, 0);
        assert_null(res.body);
        assert_non_null(res.error);
        assert_non_null(strstr(res.error, "no pinned CA key"));
        assert_non_null(strstr(res.error, hash_ca)); /* the key it saw */
        http_response_done(&res);
}

static void test_https_pinned_ca_pem(void **state) {
        (void) state;
        char *pins[] = {hash_ca, NULL};
        struct http_response res = {0};
        /* The server sends only its leaf: the pin needs the CA from elsewhere. */
        assert_int_equal(https_get(&tls_leaf, pins, NULL, NULL, &res), -EPERM);
        assert_true(res.pin_mismatch);
        http_response_done(&res);

        int r = https_get(&tls_leaf, pins, ca_pem, NULL, &res);
        if (r != 0)
                fail_msg("pinned CA PEM refused (%d): %s", r, res.error ? res.error : "");
        assert_int_equal(res.status, 200);
        assert_false(res.pin_mismatch);
        http_response_done(&res);
}

static void test_https_impostor(void **state) {
        (void) state;
        char *pins[] = {hash_ca, NULL};
        struct http_response res = {0};
        /* Sends the real CA in its chain, but the leaf is signed by another. */
        assert_int_equal(https_get(&tls_impostor, pins, NULL, NULL, &res), -EPERM);
        assert_true(res.pin_mismatch);
        assert_non_null(strstr(res.error, "not signed by the pinned CA"));
        http_response_done(&res);
        assert_int_equal(https_get(&tls_impostor, pins, ca_pem, NULL, &res), -EPERM);
        http_response_done(&res);
}

static void test_https_no_pin(void **state) {
        (void) state;
        struct http_response res = {0};
        /* No pin, no CA file: the system's CAs do not know this one. */
        assert_int_equal(https_get(&tls_chain, NULL, NULL, NULL, &res), -EPERM);
        assert_false(res.pin_mismatch);
        assert_non_null(res.error);
        http_response_done(&res);

        /* With the CA as the trust anchor, normal verification accepts it
         * (the leaf names 127.0.0.1). */
        int r = https_get(&tls_leaf, NULL, NULL, "ca.pem", &res);
        if (r != 0)
                fail_msg("ca_file refused (%d): %s", r, res.error ? res.error : "");
        assert_int_equal(res.status, 200);
        http_response_done(&res);

        /* ...and refuses the impostor. */
        assert_int_equal(https_get(&tls_impostor, NULL, NULL, "ca.pem", &res), -EPERM);
        http_response_done(&res);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_get_ok),
                cmocka_unit_test(test_head),
                cmocka_unit_test(test_status_404),
                cmocka_unit_test(test_redirects),
                cmocka_unit_test(test_body_cap),
                cmocka_unit_test(test_connection_refused),
                cmocka_unit_test(test_timeout),
                cmocka_unit_test(test_put_imds_token_flow),
                cmocka_unit_test(test_put_body_echo),
                cmocka_unit_test(test_bad_requests),
                cmocka_unit_test(test_https_pin_accepted),
                cmocka_unit_test(test_https_wrong_pin),
                cmocka_unit_test(test_https_pinned_ca_pem),
                cmocka_unit_test(test_https_impostor),
                cmocka_unit_test(test_https_no_pin),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
