/* SPDX-License-Identifier: MIT */
#include "download.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "digest.h"
#include "fsutil.h"
#include "http.h"
#include "log.h"
#include "macro.h"
#include "strv.h"

#define DOWNLOAD_DEFAULT_ATTEMPTS 4u
#define DOWNLOAD_DEFAULT_RETRY_DELAY_MS 500u
#define DOWNLOAD_MAX_RETRY_DELAY_MS 30000u
#define DOWNLOAD_DEFAULT_CONNECT_TIMEOUT_SEC 15u
#define DOWNLOAD_DEFAULT_LOW_SPEED_TIME_SEC 60u
#define DOWNLOAD_LOW_SPEED_LIMIT 1024L /* bytes/s */
#define DOWNLOAD_MAX_REDIRECTS 5L
/* A server that ignores our Range requests makes us start over; bounded so
 * that a server answering 200 then cutting the connection cannot loop. */
#define DOWNLOAD_MAX_RESTARTS 3u
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define PROGRESS_TTY_INTERVAL_NS 250000000LL
#define PROGRESS_LINE_INTERVAL_NS 10000000000LL

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_init_result = CURLE_FAILED_INIT;
static void global_init(void) {
        global_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void curl_easy_cleanupp(CURL **c) {
        if (*c)
                curl_easy_cleanup(*c);
}
static void curl_slist_freep(struct curl_slist **l) {
        curl_slist_free_all(*l);
}

static bool hex_is_valid(const char *hex) {
        if (!hex || strlen(hex) != SHA256_HEX_LEN)
                return false;
        for (const char *p = hex; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
                        return false;
        return true;
}

char *cas_path(const char *cas_dir, const char *sha256_hex) {
        if (!cas_dir || !sha256_hex)
                return NULL;
        return strdupf("%s/sha256/%s", cas_dir, sha256_hex);
}

static char *cas_sibling(const char *cas_dir, const char *sha256_hex, const char *suffix) {
        return strdupf("%s/sha256/%s%s", cas_dir, sha256_hex, suffix);
}

bool cas_has(const char *cas_dir, const char *sha256_hex) {
        if (!hex_is_valid(sha256_hex))
                return false;
        _cleanup_free_ char *p = cas_path(cas_dir, sha256_hex);
        struct stat st;
        return p && lstat(p, &st) == 0 && S_ISREG(st.st_mode);
}

unsigned download_retry_delay_ms(const struct download_opts *o, unsigned failures) {
        unsigned base = o && o->retry_delay_ms ? o->retry_delay_ms : DOWNLOAD_DEFAULT_RETRY_DELAY_MS;
        uint64_t d = base;
        for (unsigned i = 1; i < failures && d < DOWNLOAD_MAX_RETRY_DELAY_MS; i++)
                d *= 2;
        if (d > DOWNLOAD_MAX_RETRY_DELAY_MS)
                d = DOWNLOAD_MAX_RETRY_DELAY_MS;
        /* Jitter: uniform in [d/2, 3d/2], so that builds started together
         * do not retry together. */
        uint32_t rnd;
        if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t) sizeof rnd)
                rnd = (uint32_t) time(NULL) * 2654435761u;
        return (unsigned) (d / 2 + rnd % (d + 1));
}

static void sleep_ms(unsigned ms) {
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static int64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Waits for the per-digest lock: two builds sharing a store download a blob
 * once. The lock file stays (removing it would race with a waiter). */
static int lock_digest(const char *cas_dir, const char *hex, int *ret_fd) {
        _cleanup_free_ char *p = cas_sibling(cas_dir, hex, ".lock");
        if (!p)
                return -ENOMEM;
        _cleanup_close_ int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return negative_errno();
        while (flock(fd, LOCK_EX) < 0)
                if (errno != EINTR)
                        return negative_errno();
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* fsync, rename <hex>.partial to <hex>, fsync the directory. */
static int commit(int fd, const char *partial, const char *final) {
        if (fchmod(fd, 0644) < 0 || fsync(fd) < 0)
                return negative_errno();
        if (rename(partial, final) < 0)
                return negative_errno();
        return fsync_parent_dir(final);
}

static char *format_size(char buf[32], uint64_t n) {
        static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
        double v = (double) n;
        size_t u = 0;
        while (v >= 1024.0 && u + 1 < ELEMENTSOF(units)) {
                v /= 1024.0;
                u++;
        }
        if (u == 0)
                snprintf(buf, 32, "%" PRIu64 " B", n);
        else
                snprintf(buf, 32, "%.1f %s", v, units[u]);
        return buf;
}

/* ---- one transfer ------------------------------------------------------- */

struct xfer {
        CURL *curl;
        int fd;
        struct sha256 *hash;
        uint64_t offset; /* bytes in the partial file, all of them hashed */
        uint64_t synced; /* writeback started up to here (writeback_hint) */
        uint64_t start;  /* offset this attempt asked for */
        uint64_t max;    /* size cap */
        uint64_t expected_size;

        bool have_range; /* the final response carried Content-Range */
        uint64_t range_start;
        bool checked;   /* the response was looked at before the first byte */
        bool restarted; /* a 200 replaced the partial file's content */

        /* Why the write callback stopped the transfer. */
        bool too_big;
        bool bad_range;
        long bad_status;
        int io_error;

        /* Progress. */
        bool progress, tty;
        const char *label;
        int64_t t_begin, t_last;
        uint64_t bytes_begin;
        unsigned last_decile;
        bool printed;
};

static int restart_from_zero(struct xfer *x) {
        if (ftruncate(x->fd, 0) < 0)
                return negative_errno();
        sha256_free(x->hash);
        x->hash = NULL;
        int r = sha256_new(&x->hash);
        if (r < 0)
                return r;
        x->offset = 0;
        return 0;
}

static size_t header_cb(char *data, size_t size, size_t nmemb, void *userdata) {
        struct xfer *x = userdata;
        size_t n = size * nmemb;
        if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
                /* A new response (after a redirect or a 100): forget the last one's. */
                x->have_range = false;
                x->range_start = 0;
        } else if (n > 14 && strncasecmp(data, "Content-Range:", 14) == 0) {
                /* "Content-Range: bytes <first>-<last>/<len>" */
                char buf[128];
                size_t k = MIN(n - 14, sizeof buf - 1);
                memcpy(buf, data + 14, k);
                buf[k] = '\0';
                unsigned long long first;
                if (sscanf(buf, " bytes %llu-", &first) == 1) {
                        x->have_range = true;
                        x->range_start = first;
                }
        }
        return n;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userdata) {
        struct xfer *x = userdata;
        size_t n = size * nmemb;

        if (!x->checked) {
                x->checked = true;
                long status = 0;
                if (curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
                        status = 0;
                if (status == 206) {
                        if (!x->have_range || x->range_start != x->offset) {
                                x->bad_range = true;
                                return 0;
                        }
                } else if (status == 200) {
                        /* The whole body, whatever we asked for. */
                        if (x->offset > 0) {
                                x->restarted = true;
                                int r = restart_from_zero(x);
                                if (r < 0) {
                                        x->io_error = r;
                                        return 0;
                                }
                        }
                } else {
                        x->bad_status = status;
                        return 0;
                }
        }

        if (n > x->max || x->offset > x->max - n) {
                x->too_big = true;
                return 0;
        }
        int r = write_all_at(x->fd, data, n, x->offset);
        if (r >= 0)
                r = sha256_update(x->hash, data, n);
        if (r < 0) {
                x->io_error = r;
                return 0;
        }
        x->offset += n;
        writeback_hint(x->fd, x->offset, &x->synced);
        return n;
}

static void progress_print(struct xfer *x, bool final) {
        int64_t now = now_ns();
        uint64_t total = x->expected_size;
        if (total == 0) {
                curl_off_t cl = -1;
                if (curl_easy_getinfo(x->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK &&
                    cl > 0)
                        total = x->start + (uint64_t) cl;
        }
        unsigned pct = total ? (unsigned) (MIN(x->offset, total) * 100 / total) : 0;

        if (!final) {
                if (x->tty) {
                        if (x->printed && now - x->t_last < PROGRESS_TTY_INTERVAL_NS)
                                return;
                } else {
                        bool decile = total && pct / 10 > x->last_decile;
                        if (!decile && now - x->t_last < PROGRESS_LINE_INTERVAL_NS)
                                return;
                }
        }
        x->t_last = now;
        x->last_decile = pct / 10;
        x->printed = true;

        double secs = (double) (now - x->t_begin) / 1e9;
        uint64_t rate =
                secs > 0.05 ? (uint64_t) ((double) (x->offset - MIN(x->offset, x->bytes_begin)) / secs) : 0;
        char a[32], b[32], c[32];
        char pcts[8] = "";
        if (total)
                snprintf(pcts, sizeof pcts, " %3u%%", pct);
        fprintf(stderr, "%s%s: %s%s%s%s, %s/s%s", x->tty ? "\r\033[K" : "", x->label,
                format_size(a, x->offset), total ? " of " : "", total ? format_size(b, total) : "", pcts,
                format_size(c, rate), x->tty && !final ? "" : "\n");
        fflush(stderr);
}

static int xferinfo_cb(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow) {
        (void) dltotal, (void) dlnow, (void) ultotal, (void) ulnow;
        progress_print(userdata, false);
        return 0;
}

#define SETOPT(c, opt, val)                                                                                 \
        do {                                                                                                \
                CURLcode _rc = curl_easy_setopt((c), (opt), (val));                                         \
                if (_rc != CURLE_OK)                                                                        \
                        return set_error(ret_error,                                                         \
                                         _rc == CURLE_NOT_BUILT_IN || _rc == CURLE_UNKNOWN_OPTION           \
                                                 ? -EOPNOTSUPP                                              \
                                         : _rc == CURLE_OUT_OF_MEMORY ? -ENOMEM                             \
                                                                      : -EINVAL,                            \
                                         "curl_easy_setopt(%s): %s", #opt, curl_easy_strerror(_rc));        \
        } while (0)

static int setup(CURL *c, const char *url, const struct download_opts *o, struct xfer *x,
                 struct curl_slist **headers, char *errbuf, char **ret_error) {
        const char *protocols = o->allow_http ? "http,https" : "https";
        long connect_timeout = o->connect_timeout_sec ? (long) o->connect_timeout_sec
                                                      : (long) DOWNLOAD_DEFAULT_CONNECT_TIMEOUT_SEC;
        long low_speed_time = o->low_speed_timeout_sec ? (long) o->low_speed_timeout_sec
                                                       : (long) DOWNLOAD_DEFAULT_LOW_SPEED_TIME_SEC;

        SETOPT(c, CURLOPT_ERRORBUFFER, errbuf);
        SETOPT(c, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 */
        SETOPT(c, CURLOPT_PROTOCOLS_STR, protocols);
        SETOPT(c, CURLOPT_REDIR_PROTOCOLS_STR, protocols);
#else
        long mask = o->allow_http ? (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS) : (long) CURLPROTO_HTTPS;
        (void) protocols;
        SETOPT(c, CURLOPT_PROTOCOLS, mask);
        SETOPT(c, CURLOPT_REDIR_PROTOCOLS, mask);
#endif
        SETOPT(c, CURLOPT_NOSIGNAL, 1L);
        SETOPT(c, CURLOPT_HTTPGET, 1L);
        SETOPT(c, CURLOPT_FAILONERROR, 1L);
        SETOPT(c, CURLOPT_CONNECTTIMEOUT, connect_timeout);
        /* No overall timeout (a kubelet is 100 MB on a slow link): a transfer
         * slower than 1 KiB/s for low_speed_time seconds is abandoned. */
        SETOPT(c, CURLOPT_LOW_SPEED_LIMIT, DOWNLOAD_LOW_SPEED_LIMIT);
        SETOPT(c, CURLOPT_LOW_SPEED_TIME, low_speed_time);
        SETOPT(c, CURLOPT_FOLLOWLOCATION, o->follow_redirects ? 1L : 0L);
        SETOPT(c, CURLOPT_MAXREDIRS, DOWNLOAD_MAX_REDIRECTS);
        SETOPT(c, CURLOPT_USERAGENT, "kubeseed");
        SETOPT(c, CURLOPT_HEADERFUNCTION, header_cb);
        SETOPT(c, CURLOPT_HEADERDATA, x);
        SETOPT(c, CURLOPT_WRITEFUNCTION, write_cb);
        SETOPT(c, CURLOPT_WRITEDATA, x);
        /* Refused before the body when the server announces more; the write
         * callback enforces the exact cap either way. */
        SETOPT(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) x->max);
        /* Bodies are hashed as they are: no transparent decompression. */
        SETOPT(c, CURLOPT_HTTP_CONTENT_DECODING, 0L);
        SETOPT(c, CURLOPT_SSL_VERIFYPEER, 1L);
        SETOPT(c, CURLOPT_SSL_VERIFYHOST, 2L);
        if (o->ca_file)
                SETOPT(c, CURLOPT_CAINFO, o->ca_file);
        if (o->progress) {
                SETOPT(c, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
                SETOPT(c, CURLOPT_XFERINFODATA, x);
                SETOPT(c, CURLOPT_NOPROGRESS, 0L);
        } else
                SETOPT(c, CURLOPT_NOPROGRESS, 1L);

        for (const char *const *h = o->headers; h && *h; h++) {
                struct curl_slist *l = curl_slist_append(*headers, *h);
                if (!l)
                        return -ENOMEM;
                *headers = l;
        }
        if (*headers)
                SETOPT(c, CURLOPT_HTTPHEADER, *headers);
        return 0;
}

/* Hashes the bytes already in the partial file. */
static int hash_existing(int fd, struct sha256 *h, uint64_t *ret_size) {
        char buf[64 * 1024];
        uint64_t off = 0;
        for (;;) {
                ssize_t k = pread(fd, buf, sizeof buf, (off_t) off);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        break;
                int r = sha256_update(h, buf, (size_t) k);
                if (r < 0)
                        return r;
                off += (uint64_t) k;
        }
        *ret_size = off;
        return 0;
}

enum outcome {
        OUT_DONE,    /* body complete: check the digest */
        OUT_RETRY,   /* transient: back off and try again (resuming) */
        OUT_RESTART, /* the server did not resume: start over now */
        OUT_FAIL,    /* permanent */
};

static bool curl_code_is_transient(CURLcode code) {
        switch (code) {
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_CONNECT:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_PARTIAL_FILE:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
                return true;
        default:
                return false;
        }
}

static void xfer_done(struct xfer *x) {
        sha256_free(x->hash);
        x->hash = NULL;
}

static int io_failure(char **ret_error, int r, const char *partial) {
        return set_error(ret_error, r, "cannot write '%s': %s", partial, strerror(-r));
}

/* Runs one transfer into x (curl_easy_perform) and classifies the result.
 * *ret_err and *ret_why (allocated) explain anything but OUT_DONE. */
static int perform_once(const char *url, const char *partial, const struct download_opts *o, struct xfer *x,
                        enum outcome *ret_out, int *ret_err, char **ret_why, char **ret_error) {
        _cleanup_(curl_easy_cleanupp) CURL *c = curl_easy_init();
        _cleanup_(curl_slist_freep) struct curl_slist *headers = NULL;
        char errbuf[CURL_ERROR_SIZE] = "";
        if (!c)
                return -ENOMEM;
        x->curl = c;
        x->start = x->offset;
        x->checked = x->have_range = x->too_big = x->bad_range = x->restarted = false;
        x->bad_status = 0;
        x->io_error = 0;
        x->t_begin = x->t_last = now_ns();
        x->bytes_begin = x->offset;
        x->last_decile = x->expected_size ? (unsigned) (x->offset * 10 / x->expected_size) : 0;
        x->printed = false;

        int r = setup(c, url, o, x, &headers, errbuf, ret_error);
        if (r < 0)
                return r;
        if (x->offset > 0)
                SETOPT(c, CURLOPT_RESUME_FROM_LARGE, (curl_off_t) x->offset);

        CURLcode code = curl_easy_perform(c);
        long status = 0;
        if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
                status = 0;
        /* A last line: the end of a transfer, or of an updating line. */
        if (x->progress && (x->printed || code == CURLE_OK))
                progress_print(x, true);

        enum outcome out = OUT_FAIL;
        int err = 0;
        char *why = NULL;
        if (x->io_error) {
                x->curl = NULL;
                return io_failure(ret_error, x->io_error, partial);
        } else if (x->too_big || code == CURLE_FILESIZE_EXCEEDED) {
                err = -EFBIG;
                why = strdupf("larger than %" PRIu64 " bytes", x->max);
        } else if (x->bad_range) {
                out = OUT_RESTART;
                why = strdupf("the server answered a range request with another range");
        } else if (x->bad_status) {
                err = -EPROTO;
                why = strdupf("unexpected HTTP status %ld", x->bad_status);
        } else if (code == CURLE_RANGE_ERROR ||
                   (code == CURLE_HTTP_RETURNED_ERROR && status == 416 && x->start > 0)) {
                /* A 200 to a range request (curl will not append it to the
                 * partial file) or a 416: start over. */
                out = OUT_RESTART;
                why = strdupf("the server did not resume at byte %" PRIu64, x->start);
        } else if (code == CURLE_HTTP_RETURNED_ERROR) {
                err = -EPROTO;
                out = status >= 500 ? OUT_RETRY : OUT_FAIL;
                why = strdupf("HTTP %ld", status);
        } else if (code == CURLE_UNSUPPORTED_PROTOCOL) {
                /* A redirect to a protocol the options do not allow. */
                err = -EPROTONOSUPPORT;
                why = strdupf("%s", errbuf[0] ? errbuf : curl_easy_strerror(code));
        } else if (code != CURLE_OK) {
                err = http_curl_errno(c, code);
                out = curl_code_is_transient(code) ? OUT_RETRY : OUT_FAIL;
                why = strdupf("%s", errbuf[0] ? errbuf : curl_easy_strerror(code));
        } else if (x->expected_size && x->offset < x->expected_size) {
                /* A close-delimited body cut short. */
                err = -EIO;
                out = OUT_RETRY;
                why = strdupf("connection closed after %" PRIu64 " of %" PRIu64 " bytes", x->offset,
                              x->expected_size);
        } else
                out = OUT_DONE;
        x->curl = NULL;
        if (out != OUT_DONE && !why)
                return -ENOMEM;
        *ret_out = out;
        *ret_err = err;
        *ret_why = why;
        return 0;
}

/* Called with the digest's lock held and the digest not in the store. */
static int transfer(const char *url, const char *hex, const struct download_opts *o, const char *partial,
                    const char *final, char **ret_error) {
        _cleanup_close_ int fd = open(partial, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0) {
                int r = negative_errno();
                return set_error(ret_error, r, "cannot open '%s': %s", partial, strerror(-r));
        }

        _cleanup_(xfer_done) struct xfer x = {
                .fd = fd,
                .expected_size = o->expected_size,
                .max = o->expected_size ? o->expected_size : DOWNLOAD_MAX_SIZE,
                .progress = o->progress,
                .tty = o->progress && isatty(STDERR_FILENO),
        };
        const char *slash = strrchr(url, '/');
        x.label = o->label ? o->label : slash && slash[1] ? slash + 1 : url;

        int r = sha256_new(&x.hash);
        if (r < 0)
                return r;
        r = hash_existing(fd, x.hash, &x.offset);
        if (r < 0)
                return set_error(ret_error, r, "cannot read '%s': %s", partial, strerror(-r));
        if (x.offset > x.max) {
                r = restart_from_zero(&x);
                if (r < 0)
                        return io_failure(ret_error, r, partial);
        }
        if (x.offset > 0)
                log_debug("%s: resuming '%s' at %" PRIu64 " bytes", url, partial, x.offset);

        unsigned attempts = o->attempts ? o->attempts : DOWNLOAD_DEFAULT_ATTEMPTS;
        unsigned failures = 0, restarts = 0;
        bool spliced = x.offset > 0; /* the file holds bytes from an earlier transfer */

        for (;;) {
                enum outcome out = OUT_DONE;
                int err = 0;
                _cleanup_free_ char *why = NULL;

                /* A partial file as long as the expected size needs no request. */
                if (!(x.expected_size && x.offset == x.expected_size)) {
                        r = perform_once(url, partial, o, &x, &out, &err, &why, ret_error);
                        if (r < 0)
                                return r;
                        if (x.restarted)
                                spliced = false;
                        else if (x.start > 0)
                                spliced = true;
                }

                if (out == OUT_DONE) {
                        char got[SHA256_HEX_LEN + 1];
                        r = sha256_final(x.hash, got, NULL);
                        if (r < 0)
                                return r;
                        if (streq(got, hex)) {
                                r = commit(fd, partial, final);
                                if (r < 0)
                                        return io_failure(ret_error, r, partial);
                                log_debug("%s: stored as '%s' (%" PRIu64 " bytes)", url, final, x.offset);
                                return 1;
                        }
                        if (spliced && restarts < DOWNLOAD_MAX_RESTARTS) {
                                /* Perhaps a stale partial of other content: once more from zero. */
                                log_debug("%s: digest mismatch after a resumed transfer, starting over",
                                          url);
                                restarts++;
                                spliced = false;
                                r = restart_from_zero(&x);
                                if (r < 0)
                                        return io_failure(ret_error, r, partial);
                                continue;
                        }
                        (void) unlink(partial);
                        return set_error(ret_error, -EBADMSG,
                                         "%s: SHA-256 of the %" PRIu64 " bytes received is %s, expected %s",
                                         url, x.offset, got, hex);
                }
                if (out == OUT_RESTART) {
                        log_debug("%s: %s, starting over", url, why);
                        r = restart_from_zero(&x);
                        if (r < 0)
                                return io_failure(ret_error, r, partial);
                        spliced = false;
                        if (++restarts <= DOWNLOAD_MAX_RESTARTS)
                                continue;
                        return set_error(ret_error, -EPROTO, "%s: %s (%u times)", url, why, restarts);
                }
                if (out == OUT_RETRY && ++failures < attempts) {
                        unsigned delay = download_retry_delay_ms(o, failures);
                        log_debug("%s: %s (attempt %u of %u), retrying in %u ms", url, why, failures,
                                  attempts, delay);
                        sleep_ms(delay);
                        continue;
                }
                /* Content that can never match goes; an interrupted transfer
                 * stays for the next run to resume. */
                if (err == -EFBIG)
                        (void) unlink(partial);
                if (out == OUT_RETRY)
                        return set_error(ret_error, err, "%s: %s (after %u attempts)", url, why, attempts);
                return set_error(ret_error, err ? err : -EIO, "%s: %s", url, why);
        }
}

int download_to_cas(const char *url, const char *sha256_hex, const char *cas_dir,
                    const struct download_opts *o, char **ret_path, char **ret_error) {
        static const struct download_opts defaults = {0};
        if (!o)
                o = &defaults;
        if (!url || !cas_dir || !sha256_hex)
                return -EINVAL;
        if (!hex_is_valid(sha256_hex))
                return set_error(ret_error, -EINVAL,
                                 "'%s' is not a SHA-256 digest (64 lowercase hex digits)", sha256_hex);
        /* Refused before any connection: https, or http when allowed. */
        if (strncasecmp(url, "https://", 8) != 0 && !(o->allow_http && strncasecmp(url, "http://", 7) == 0))
                return set_error(ret_error, -EPROTONOSUPPORT, "%s: only %s URLs are allowed", url,
                                 o->allow_http ? "http:// and https://" : "https://");

        _cleanup_free_ char *final = cas_path(cas_dir, sha256_hex);
        _cleanup_free_ char *partial = cas_sibling(cas_dir, sha256_hex, ".partial");
        _cleanup_free_ char *dir = strdupf("%s/sha256", cas_dir);
        if (!final || !partial || !dir)
                return -ENOMEM;

        int r = 0;
        if (!cas_has(cas_dir, sha256_hex)) {
                r = mkdir_p(dir, 0755);
                if (r < 0)
                        return set_error(ret_error, r, "cannot create the store directory '%s': %s", dir,
                                         strerror(-r));
                _cleanup_close_ int lock_fd = -1;
                r = lock_digest(cas_dir, sha256_hex, &lock_fd);
                if (r < 0)
                        return set_error(ret_error, r, "cannot lock '%s.lock': %s", final, strerror(-r));
                /* Another build may have stored it while we waited. */
                if (!cas_has(cas_dir, sha256_hex)) {
                        pthread_once(&global_once, global_init);
                        if (global_init_result != CURLE_OK)
                                return set_error(ret_error, -EIO, "curl_global_init() failed");
                        r = transfer(url, sha256_hex, o, partial, final, ret_error);
                        if (r < 0)
                                return r;
                }
        }
        if (ret_path)
                *ret_path = TAKE_PTR(final);
        return r > 0;
}

/* ---- importing local files --------------------------------------------- */

int cas_import_file(const char *path, const char *sha256_hex, const char *cas_dir, char **ret_error) {
        if (!path || !cas_dir || !sha256_hex)
                return -EINVAL;
        if (!hex_is_valid(sha256_hex))
                return set_error(ret_error, -EINVAL,
                                 "'%s' is not a SHA-256 digest (64 lowercase hex digits)", sha256_hex);
        if (cas_has(cas_dir, sha256_hex))
                return 0;

        _cleanup_free_ char *final = cas_path(cas_dir, sha256_hex);
        _cleanup_free_ char *partial = cas_sibling(cas_dir, sha256_hex, ".partial");
        _cleanup_free_ char *dir = strdupf("%s/sha256", cas_dir);
        if (!final || !partial || !dir)
                return -ENOMEM;

        _cleanup_close_ int in = open(path, O_RDONLY | O_CLOEXEC);
        if (in < 0) {
                int r = negative_errno();
                return set_error(ret_error, r, "cannot open '%s': %s", path, strerror(-r));
        }
        struct stat st;
        if (fstat(in, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return set_error(ret_error, -EBADF, "'%s' is not a regular file", path);
        if ((uint64_t) st.st_size > DOWNLOAD_MAX_SIZE)
                return set_error(ret_error, -EFBIG, "'%s' is larger than %" PRIu64 " bytes", path,
                                 (uint64_t) DOWNLOAD_MAX_SIZE);

        int r = mkdir_p(dir, 0755);
        if (r < 0)
                return set_error(ret_error, r, "cannot create the store directory '%s': %s", dir,
                                 strerror(-r));
        _cleanup_close_ int lock_fd = -1;
        r = lock_digest(cas_dir, sha256_hex, &lock_fd);
        if (r < 0)
                return set_error(ret_error, r, "cannot lock '%s.lock': %s", final, strerror(-r));
        if (cas_has(cas_dir, sha256_hex))
                return 0;

        _cleanup_close_ int out = open(partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (out < 0) {
                r = negative_errno();
                return set_error(ret_error, r, "cannot open '%s': %s", partial, strerror(-r));
        }
        _cleanup_sha256_ struct sha256 *h = NULL;
        r = sha256_new(&h);
        if (r < 0)
                return r;
        char buf[64 * 1024];
        uint64_t total = 0;
        for (;;) {
                ssize_t k = read(in, buf, sizeof buf);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        r = negative_errno();
                        (void) unlink(partial);
                        return set_error(ret_error, r, "cannot read '%s': %s", path, strerror(-r));
                }
                if (k == 0)
                        break;
                if ((uint64_t) k > DOWNLOAD_MAX_SIZE - total) {
                        (void) unlink(partial);
                        return set_error(ret_error, -EFBIG, "'%s' grew beyond %" PRIu64 " bytes", path,
                                         (uint64_t) DOWNLOAD_MAX_SIZE);
                }
                r = write_all_at(out, buf, (size_t) k, total);
                if (r >= 0)
                        r = sha256_update(h, buf, (size_t) k);
                if (r < 0) {
                        (void) unlink(partial);
                        return set_error(ret_error, r, "cannot write '%s': %s", partial, strerror(-r));
                }
                total += (uint64_t) k;
        }
        char got[SHA256_HEX_LEN + 1];
        r = sha256_final(h, got, NULL);
        if (r < 0) {
                (void) unlink(partial);
                return r;
        }
        if (!streq(got, sha256_hex)) {
                (void) unlink(partial);
                return set_error(ret_error, -EBADMSG, "'%s': SHA-256 is %s, expected %s", path, got,
                                 sha256_hex);
        }
        r = commit(out, partial, final);
        if (r < 0) {
                (void) unlink(partial);
                return set_error(ret_error, r, "cannot store '%s' as '%s': %s", path, final, strerror(-r));
        }
        return 1;
}
