/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* HTTP(S) through libcurl: every setopt checked, protocols restricted to http
 * and https, redirects off unless asked, response bodies capped, timeouts
 * always set. Tests replace http_ops. Issue 4 adds downloads (resume,
 * progress, retries) on top of this. */

struct http_request {
        const char *method; /* "GET" (default), "PUT", "HEAD" */
        const char *url;
        const char *const *headers; /* "Name: value", NULL-terminated, may be NULL */
        const char *body;           /* request body (PUT/POST) or NULL */
        size_t body_size;
        unsigned timeout_ms;         /* whole transfer; default 10000 */
        unsigned connect_timeout_ms; /* default 3000 */
        size_t max_response;         /* body cap; default 1 MiB; larger -> -EFBIG */
        const char *ca_file;         /* trust this CA bundle instead of the system's */
        bool follow_redirects;       /* default off */
        /* Pinning (kubeadm-style discovery): when set, the server's chain is
         * accepted only if it is signed by a CA certificate whose SPKI
         * SHA-256 ("sha256:<hex>") is in this NULL-terminated list; normal
         * CA and host name verification are then replaced by this check. */
        const char *const *pinned_ca_hashes;
        /* With pinning: a PEM CA certificate to verify the server against
         * when the server does not send its CA in the chain (the caller got
         * it from cluster-info and checked its hash). May be NULL. */
        const char *pinned_ca_pem;
};

struct http_response {
        long status; /* HTTP status, 0 when no response */
        char *body;  /* NUL-terminated, body_size bytes */
        size_t body_size;
        char *error;       /* curl's error buffer or the pin failure, when r < 0 */
        bool pin_mismatch; /* the TLS peer was refused by the pin check */
};

/* 0 when a response arrived (any status); negative errno when not:
 * -ETIMEDOUT, -ECONNREFUSED, -EHOSTUNREACH, -EFBIG, -EPERM (TLS verify/pin
 * failure), -EIO (other). `ret` must be zeroed by the caller and released with
 * http_response_done() in every case. */
int http_perform(const struct http_request *req, struct http_response *ret);
void http_response_done(struct http_response *r);

/* A libcurl CURLcode as a negative errno (0 for CURLE_OK): -ETIMEDOUT,
 * -ECONNREFUSED, -EHOSTUNREACH, -EFBIG, -ENOMEM, -EINVAL (bad URL or
 * protocol), -EPERM (TLS), -EIO (anything else). `curl` (a CURL *, may be
 * NULL) tells a refused connection from an unreachable host. For lib/download. */
int http_curl_errno(void *curl, int curl_code);

struct http_ops {
        int (*perform)(const struct http_request *req, struct http_response *ret);
};
extern const struct http_ops *http_ops;
extern const struct http_ops http_ops_real;
