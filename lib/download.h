/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Downloads into kubeseed's content-addressed store: <cas_dir>/sha256/<hex>,
 * shared by every build and every kind of content (Kubernetes binaries,
 * image blobs, add-on manifests). A file there is complete and verified by
 * construction: it is written as <hex>.partial, its SHA-256 computed while
 * streaming, and renamed only when the digest matches. Built on lib/http.h's
 * libcurl conventions (protocols limited to http/https, timeouts always set,
 * every setopt checked). */

struct download_opts {
        const char *const
                *headers;        /* extra request headers ("Authorization: Bearer ..."), NULL-terminated */
        const char *ca_file;     /* trust this CA bundle (a registry mirror's CA) */
        bool allow_http;         /* plain http:// allowed (a mirror marked insecure; loopback tests) */
        bool follow_redirects;   /* registries redirect blob downloads to storage */
        unsigned attempts;       /* on connection errors, 5xx, truncation: default 4 */
        unsigned retry_delay_ms; /* first backoff, doubled each time, with jitter: default 500 */
        unsigned connect_timeout_sec;   /* default 15 */
        unsigned low_speed_timeout_sec; /* abort when below 1 KiB/s this long: default 60 */
        uint64_t expected_size;         /* 0: unknown; otherwise a larger body is refused */
        const char *label;              /* for progress and messages ("kubeadm", "sha256:abcd… (layer)") */
        bool progress;                  /* a progress line on stderr (only when it is a terminal, else
                                         * a line every 10% / 10 s) */
};

/* Ensures <cas_dir>/sha256/<sha256_hex> exists, downloading `url` when it
 * does not. A partial file from an interrupted download is resumed with a
 * Range request when the server honours it (206), restarted otherwise. Returns
 * 1 when downloaded, 0 when already present, or a negative errno with
 * *ret_error naming the URL and the cause: -EBADMSG digest mismatch (the
 * partial file is deleted, nothing is stored), -EFBIG larger than
 * expected_size, -ETIMEDOUT, -ECONNREFUSED, -EPROTO HTTP error status
 * (4xx: not retried), -EPERM TLS verification failed, -EPROTONOSUPPORT the
 * URL (or a redirect) is not https:// and allow_http is off (refused before
 * any connection is made). *ret_path (may be NULL)
 * gets the store path. */
int download_to_cas(const char *url, const char *sha256_hex, const char *cas_dir,
                    const struct download_opts *o, char **ret_path, char **ret_error);

/* The size cap when expected_size is 0 (unknown). */
#define DOWNLOAD_MAX_SIZE (UINT64_C(16) << 30)

/* The pause before the next attempt after `failures` failed ones (1, 2, ...):
 * retry_delay_ms (default 500) doubled each time, at most 30 s, with jitter
 * (uniform in [d/2, 3d/2]). For callers retrying their own small requests. */
unsigned download_retry_delay_ms(const struct download_opts *o, unsigned failures);

/* Path of a digest in the store (whether or not it exists). */
char *cas_path(const char *cas_dir, const char *sha256_hex);
/* Is the digest in the store? Does not re-hash. */
bool cas_has(const char *cas_dir, const char *sha256_hex);
/* Puts a local file into the store after checking its digest (the
 * air-gapped dir: sources). 1 added, 0 present, -EBADMSG mismatch. */
int cas_import_file(const char *path, const char *sha256_hex, const char *cas_dir, char **ret_error);
