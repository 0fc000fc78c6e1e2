/* SPDX-License-Identifier: MIT */
#include "http.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The calls below go through a table filled by dlopen(): no compile-time
 * type checking macros for curl_easy_setopt/getinfo. */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "cert.h"
#include "macro.h"

#define HTTP_DEFAULT_TIMEOUT_MS 10000u
#define HTTP_DEFAULT_CONNECT_TIMEOUT_MS 3000u
#define HTTP_DEFAULT_MAX_RESPONSE (1024u * 1024u)
#define HTTP_MAX_REDIRECTS 5L

const struct http_ops http_ops_real = {.perform = http_perform};
const struct http_ops *http_ops = &http_ops_real;

/* libcurl is loaded with dlopen() when the first request is made, not when
 * the program starts: the first-boot agent of a control plane never speaks
 * HTTP, and libcurl with the thirty libraries it depends on would otherwise
 * be most of the agent's memory (make bench measures it). The builder also
 * links libcurl (lib/download.c); dlopen() then returns the same library. */
static struct {
        CURLcode (*global_init)(long flags);
        CURL *(*easy_init)(void);
        CURLcode (*easy_setopt)(CURL *c, CURLoption option, ...);
        CURLcode (*easy_perform)(CURL *c);
        CURLcode (*easy_getinfo)(CURL *c, CURLINFO info, ...);
        void (*easy_cleanup)(CURL *c);
        const char *(*easy_strerror)(CURLcode code);
        struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
        void (*slist_free_all)(struct curl_slist *list);
} lc;
/* curl.h may define these two as macros of themselves. */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_global_init lc.global_init
#define curl_easy_init lc.easy_init
#define curl_easy_setopt lc.easy_setopt
#define curl_easy_perform lc.easy_perform
#define curl_easy_getinfo lc.easy_getinfo
#define curl_easy_cleanup lc.easy_cleanup
#define curl_easy_strerror lc.easy_strerror
#define curl_slist_append lc.slist_append
#define curl_slist_free_all lc.slist_free_all

#define LIBCURL_SONAME "libcurl.so.4" /* the OpenSSL flavour: CA pinning needs it */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_init_result = CURLE_FAILED_INIT;
static char load_error[256];

static void global_init(void) {
        void *h = dlopen(LIBCURL_SONAME, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
                const char *e = dlerror();
                snprintf(load_error, sizeof load_error, "cannot load %s: %s", LIBCURL_SONAME, e ? e : "?");
                return;
        }
        static const struct {
                const char *name;
                void **slot;
        } syms[] = {
                {"curl_global_init", (void **) &lc.global_init},
                {"curl_easy_init", (void **) &lc.easy_init},
                {"curl_easy_setopt", (void **) &lc.easy_setopt},
                {"curl_easy_perform", (void **) &lc.easy_perform},
                {"curl_easy_getinfo", (void **) &lc.easy_getinfo},
                {"curl_easy_cleanup", (void **) &lc.easy_cleanup},
                {"curl_easy_strerror", (void **) &lc.easy_strerror},
                {"curl_slist_append", (void **) &lc.slist_append},
                {"curl_slist_free_all", (void **) &lc.slist_free_all},
        };
        for (size_t i = 0; i < ELEMENTSOF(syms); i++) {
                *syms[i].slot = dlsym(h, syms[i].name);
                if (!*syms[i].slot) {
                        snprintf(load_error, sizeof load_error, "%s has no %s", LIBCURL_SONAME,
                                 syms[i].name);
                        memset(&lc, 0, sizeof lc);
                        return; /* the handle stays open: harmless, and dlclose would race nothing here */
                }
        }
        global_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Loads libcurl once; false (with load_error) when it cannot be used. */
static bool curl_loaded(void) {
        pthread_once(&global_once, global_init);
        return lc.easy_init && global_init_result == CURLE_OK;
}

static void curl_easy_cleanupp(CURL **c) {
        if (*c)
                curl_easy_cleanup(*c);
}
static void curl_slist_freep(struct curl_slist **l) {
        if (*l)
                curl_slist_free_all(*l);
}

void http_response_done(struct http_response *r) {
        if (!r)
                return;
        free(r->body);
        free(r->error);
        r->body = r->error = NULL;
        r->body_size = 0;
}

struct sink {
        char *buf;
        size_t len, cap, max;
        bool too_big;
};

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userdata) {
        struct sink *s = userdata;
        if (nmemb && size > SIZE_MAX / nmemb)
                return 0;
        size_t n = size * nmemb;
        if (n > s->max - s->len) {
                s->too_big = true;
                return 0; /* curl stops with CURLE_WRITE_ERROR */
        }
        if (s->len + n + 1 > s->cap) {
                size_t nc = s->cap ? s->cap : 4096;
                while (nc < s->len + n + 1)
                        nc *= 2;
                char *nb = realloc(s->buf, nc);
                if (!nb)
                        return 0;
                s->buf = nb;
                s->cap = nc;
        }
        memcpy(s->buf + s->len, data, n);
        s->len += n;
        s->buf[s->len] = '\0';
        return n;
}

/* What the TLS verify callback needs, and what it found. */
struct pin_ctx {
        const struct http_request *req;
        bool refused;
        char *error;
};

/* OpenSSL calls this instead of its own chain verification. The peer's
 * chain is checked against the pins with lib/cert; nothing else decides. */
static int pin_verify_cb(X509_STORE_CTX *store, void *arg) {
        struct pin_ctx *pc = arg;
        X509 *leaf = X509_STORE_CTX_get0_cert(store);
        STACK_OF(X509) *untrusted = X509_STORE_CTX_get0_untrusted(store);

        unsigned char *der[CERT_CHAIN_MAX] = {NULL};
        size_t der_size[CERT_CHAIN_MAX] = {0};
        size_t n = 0;
        int r = -EPERM;
        char *err = NULL;

        if (!leaf) {
                err = strdup("the server sent no certificate");
                goto finish;
        }
        X509 *all[CERT_CHAIN_MAX + 1];
        size_t n_all = 0;
        all[n_all++] = leaf;
        int k = untrusted ? sk_X509_num(untrusted) : 0;
        for (int i = 0; i < k; i++) {
                X509 *x = sk_X509_value(untrusted, i);
                if (!x || X509_cmp(x, leaf) == 0)
                        continue; /* the client-side chain starts with the leaf */
                if (n_all == CERT_CHAIN_MAX) {
                        err = strdup("the server's chain is too long");
                        goto finish;
                }
                all[n_all++] = x;
        }
        for (size_t i = 0; i < n_all; i++) {
                int len = i2d_X509(all[i], &der[i]);
                if (len <= 0) {
                        err = strdup("cannot encode the server's certificate");
                        goto finish;
                }
                der_size[i] = (size_t) len;
                n++;
        }
        r = cert_chain_check_pins_der((const unsigned char *const *) der, der_size, n,
                                      (char *const *) pc->req->pinned_ca_hashes, pc->req->pinned_ca_pem,
                                      pc->req->pinned_ca_pem ? strlen(pc->req->pinned_ca_pem) : 0, &err);
finish:
        for (size_t i = 0; i < n; i++)
                OPENSSL_free(der[i]);
        ERR_clear_error();
        if (r == 0) {
                free(err);
                X509_STORE_CTX_set_error(store, X509_V_OK);
                return 1;
        }
        pc->refused = true;
        free(pc->error);
        pc->error = err ? err : strdup("the server's certificate chain was refused by the CA pin");
        X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_UNTRUSTED);
        return 0;
}

static CURLcode ssl_ctx_cb(CURL *c, void *sslctx, void *userdata) {
        (void) c;
        SSL_CTX *ctx = sslctx;
        /* curl set SSL_VERIFY_NONE (VERIFYPEER=0); with it OpenSSL would
         * ignore a refusal from the callback, so ask for verification and
         * let the callback be the only judge. */
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        SSL_CTX_set_cert_verify_callback(ctx, pin_verify_cb, userdata);
        return CURLE_OK;
}

static bool has_header(const char *const *headers, const char *name) {
        size_t n = strlen(name);
        for (const char *const *h = headers; h && *h; h++)
                if (strncasecmp(*h, name, n) == 0 && (*h)[n] == ':')
                        return true;
        return false;
}

int http_curl_errno(void *curl, int curl_code) {
        CURL *c = curl;
        if (!curl_loaded())
                return -EIO;
        switch ((CURLcode) curl_code) {
        case CURLE_OK:
                return 0;
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_COULDNT_CONNECT: {
                long os_errno = 0;
                if (curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno) == CURLE_OK &&
                    (os_errno == EHOSTUNREACH || os_errno == ENETUNREACH))
                        return -EHOSTUNREACH;
                if (os_errno == ETIMEDOUT)
                        return -ETIMEDOUT;
                return -ECONNREFUSED;
        }
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
                return -EHOSTUNREACH;
        case CURLE_FILESIZE_EXCEEDED:
                return -EFBIG;
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        case CURLE_URL_MALFORMAT:
        case CURLE_UNSUPPORTED_PROTOCOL:
                return -EINVAL;
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_SSL_INVALIDCERTSTATUS:
        case CURLE_SSL_ENGINE_INITFAILED:
        case CURLE_SSL_ENGINE_NOTFOUND:
        case CURLE_SSL_ENGINE_SETFAILED:
        case CURLE_SSL_CRL_BADFILE:
        case CURLE_SSL_SHUTDOWN_FAILED:
        case CURLE_USE_SSL_FAILED:
                return -EPERM;
        default:
                return -EIO;
        }
}

static int map_curl_error(CURL *c, CURLcode code, const struct sink *sink, const struct pin_ctx *pc) {
        if (code == CURLE_WRITE_ERROR)
                return sink->too_big ? -EFBIG : -ENOMEM;
        int r = http_curl_errno(c, code);
        /* A pin refusal surfaces as whatever the TLS layer made of the
         * failed handshake (usually CURLE_SSL_CONNECT_ERROR). */
        if (r == -EIO && pc->refused)
                return -EPERM;
        return r;
}

static void set_error(struct http_response *ret, const char *what, CURLcode rc) {
        free(ret->error);
        ret->error = NULL;
        if (asprintf(&ret->error, "curl_easy_setopt(%s): %s", what, curl_easy_strerror(rc)) < 0)
                ret->error = NULL;
}

#define SETOPT(c, opt, val)                                                                                 \
        do {                                                                                                \
                CURLcode _rc = curl_easy_setopt((c), (opt), (val));                                         \
                if (_rc != CURLE_OK) {                                                                      \
                        set_error(ret, #opt, _rc);                                                          \
                        return _rc == CURLE_NOT_BUILT_IN || _rc == CURLE_UNKNOWN_OPTION ? -EOPNOTSUPP       \
                               : _rc == CURLE_OUT_OF_MEMORY                             ? -ENOMEM           \
                                                                                        : -EINVAL;                                      \
                }                                                                                           \
        } while (0)

static int setup_handle(CURL *c, const struct http_request *req, struct http_response *ret,
                        struct sink *sink, struct pin_ctx *pc, struct curl_slist **headers, char *errbuf) {
        const char *method = req->method ? req->method : "GET";
        long timeout = req->timeout_ms ? (long) req->timeout_ms : (long) HTTP_DEFAULT_TIMEOUT_MS;
        long connect_timeout = req->connect_timeout_ms ? (long) req->connect_timeout_ms
                                                       : (long) HTTP_DEFAULT_CONNECT_TIMEOUT_MS;

        SETOPT(c, CURLOPT_ERRORBUFFER, errbuf);
        SETOPT(c, CURLOPT_URL, req->url);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 */
        SETOPT(c, CURLOPT_PROTOCOLS_STR, "http,https");
        SETOPT(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
        SETOPT(c, CURLOPT_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
        SETOPT(c, CURLOPT_REDIR_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
        SETOPT(c, CURLOPT_NOSIGNAL, 1L);
        SETOPT(c, CURLOPT_NOPROGRESS, 1L);
        SETOPT(c, CURLOPT_TIMEOUT_MS, timeout);
        SETOPT(c, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout);
        SETOPT(c, CURLOPT_FOLLOWLOCATION, req->follow_redirects ? 1L : 0L);
        SETOPT(c, CURLOPT_MAXREDIRS, HTTP_MAX_REDIRECTS);
        SETOPT(c, CURLOPT_USERAGENT, "kubeseed");
        SETOPT(c, CURLOPT_WRITEFUNCTION, write_cb);
        SETOPT(c, CURLOPT_WRITEDATA, sink);
        /* Refused early when the server announces a larger body; the write
         * callback enforces the cap either way. */
        SETOPT(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) sink->max);

        if (strcmp(method, "GET") == 0)
                SETOPT(c, CURLOPT_HTTPGET, 1L);
        else if (strcmp(method, "HEAD") == 0)
                SETOPT(c, CURLOPT_NOBODY, 1L);
        else if (strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0) {
                /* The body goes with POSTFIELDS; the method name is ours. */
                SETOPT(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) (req->body ? req->body_size : 0));
                SETOPT(c, CURLOPT_COPYPOSTFIELDS, req->body ? req->body : "");
                SETOPT(c, CURLOPT_CUSTOMREQUEST, method);
        } else
                return -EINVAL;

        for (const char *const *h = req->headers; h && *h; h++) {
                struct curl_slist *n = curl_slist_append(*headers, *h);
                if (!n)
                        return -ENOMEM;
                *headers = n;
        }
        /* No "Expect: 100-continue" round trip; no form content type that
         * the caller did not ask for. */
        static const char *const extra[] = {"Expect:", "Content-Type:"};
        for (size_t i = 0; i < ELEMENTSOF(extra); i++) {
                char name[32];
                size_t len = strlen(extra[i]) - 1;
                memcpy(name, extra[i], len);
                name[len] = '\0';
                if (has_header(req->headers, name))
                        continue;
                struct curl_slist *n = curl_slist_append(*headers, extra[i]);
                if (!n)
                        return -ENOMEM;
                *headers = n;
        }
        SETOPT(c, CURLOPT_HTTPHEADER, *headers);

        if (req->pinned_ca_hashes) {
                /* (SSL_CTX_FUNCTION fails with -EOPNOTSUPP when libcurl is
                 * not built with OpenSSL.) Pinning replaces CA and host name verification (as kubeadm
                 * discovery does): the callback decides. */
                SETOPT(c, CURLOPT_SSL_VERIFYPEER, 0L);
                SETOPT(c, CURLOPT_SSL_VERIFYHOST, 0L);
                SETOPT(c, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
                SETOPT(c, CURLOPT_SSL_CTX_DATA, pc);
                /* A session resumed from a cache would skip the callback. */
                SETOPT(c, CURLOPT_SSL_SESSIONID_CACHE, 0L);
        } else {
                SETOPT(c, CURLOPT_SSL_VERIFYPEER, 1L);
                SETOPT(c, CURLOPT_SSL_VERIFYHOST, 2L);
                if (req->ca_file)
                        SETOPT(c, CURLOPT_CAINFO, req->ca_file);
        }
        return 0;
}

int http_perform(const struct http_request *req, struct http_response *ret) {
        if (!req || !ret || !req->url)
                return -EINVAL;
        if (!curl_loaded()) {
                free(ret->error);
                ret->error = strdup(load_error[0] ? load_error : "curl_global_init() failed");
                return -EIO;
        }
        if (req->pinned_ca_pem && strlen(req->pinned_ca_pem) > CERT_PEM_MAX)
                return -EINVAL;

        _cleanup_(curl_easy_cleanupp) CURL *c = curl_easy_init();
        if (!c)
                return -ENOMEM;
        _cleanup_(curl_slist_freep) struct curl_slist *headers = NULL;
        char errbuf[CURL_ERROR_SIZE] = "";
        struct sink sink = {.max = req->max_response ? req->max_response : HTTP_DEFAULT_MAX_RESPONSE};
        struct pin_ctx pc = {.req = req};

        int r = setup_handle(c, req, ret, &sink, &pc, &headers, errbuf);
        if (r < 0) {
                free(sink.buf);
                return r;
        }

        CURLcode code = curl_easy_perform(c);
        if (code == CURLE_FILESIZE_EXCEEDED)
                sink.too_big = true;
        r = map_curl_error(c, code, &sink, &pc);
        long status = 0;
        if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
                status = 0;

        if (r < 0) {
                free(sink.buf);
                ret->status = status;
                ret->pin_mismatch = pc.refused;
                free(ret->error);
                if (pc.refused) {
                        ret->error = TAKE_PTR(pc.error);
                } else if (sink.too_big) {
                        ret->error = NULL;
                        if (asprintf(&ret->error, "response body larger than %zu bytes", sink.max) < 0)
                                ret->error = NULL;
                } else
                        ret->error = strdup(errbuf[0] ? errbuf : curl_easy_strerror(code));
                free(pc.error);
                return r;
        }
        free(pc.error);

        if (!sink.buf) {
                sink.buf = strdup("");
                if (!sink.buf)
                        return -ENOMEM;
        }
        ret->status = status;
        ret->body = sink.buf;
        ret->body_size = sink.len;
        ret->pin_mismatch = false;
        return 0;
}
