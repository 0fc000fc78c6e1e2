/* SPDX-License-Identifier: MIT */
#include "k8sbundle.h"

#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "arch.h"
#include "fsutil.h"
#include "http.h"
#include "log.h"
#include "macro.h"
#include "strv.h"

#define SHA256_FETCH_TIMEOUT_MS 30000u

/* ---- planning (pure) ---------------------------------------------------- */

/* Replaces ${version} and ${arch} in a URL template; anything else in ${...}
 * is an error naming `key`. */
static int expand_template(const char *tmpl, const char *key, const char *version, const char *arch,
                           char **ret, char **ret_error) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        for (const char *p = tmpl; *p;) {
                if (p[0] != '$' || p[1] != '{') {
                        fputc(*p++, f);
                        continue;
                }
                const char *end = strchr(p, '}');
                if (!end) {
                        fclose(f);
                        free(buf);
                        return set_error(ret_error, -EINVAL, "%s: unterminated '${' in '%s'", key, tmpl);
                }
                size_t n = (size_t) (end - p - 2);
                if (n == strlen("version") && strncmp(p + 2, "version", n) == 0)
                        fputs(version, f);
                else if (n == strlen("arch") && strncmp(p + 2, "arch", n) == 0)
                        fputs(arch, f);
                else {
                        fclose(f);
                        free(buf);
                        return set_error(
                                ret_error, -EINVAL,
                                "%s: unknown placeholder '%.*s' in '%s' (expected ${version} or ${arch})",
                                key, (int) (n + 3), p, tmpl);
                }
                p = end + 1;
        }
        return memstream_finish(&f, &buf, &size, ret, NULL);
}

/* The last path component of a URL, without query or fragment. */
static char *url_file_name(const char *url) {
        size_t end = strcspn(url, "?#");
        const char *start = url;
        for (size_t i = 0; i < end; i++)
                if (url[i] == '/')
                        start = url + i + 1;
        return strndup(start, (size_t) (url + end - start));
}

static char *strip_trailing_slashes(const char *s) {
        size_t n = strlen(s);
        while (n > 1 && s[n - 1] == '/')
                n--;
        return strndup(s, n);
}

static void item_done(struct k8s_item *it) {
        free(it->name);
        free(it->file_name);
        free(it->url);
        free(it->sha256_url);
        free(it->local_path);
        free(it->install_path);
        free(it->only_member);
        free(it->store_path);
}

void k8s_bundle_free(struct k8s_bundle *b) {
        if (!b)
                return;
        for (size_t i = 0; i < b->n_items; i++)
                item_done(&b->items[i]);
        free(b->items);
        free(b->version);
        free(b->arch);
        free(b->source_dir);
        free(b->sums_path);
        free(b);
}

static int require(const char *value, const char *key, const char *example, char **ret_error) {
        if (value && *value)
                return 0;
        return set_error(ret_error, -EINVAL, "%s is not set (expected a release such as %s)", key, example);
}

int k8s_bundle_plan(const struct profile_kubernetes *k, const char *arch_name, struct k8s_bundle **ret,
                    char **ret_error) {
        if (!k || !arch_name || !ret)
                return -EINVAL;
        int r = require(k->version, "kubernetes.version", "v1.31.1", ret_error);
        if (r < 0)
                return r;
        r = require(k->crictl_version, "kubernetes.crictl.version", "v1.31.1", ret_error);
        if (r < 0)
                return r;
        r = require(k->cni_version, "kubernetes.cni.version", "v1.5.1", ret_error);
        if (r < 0)
                return r;
        const struct arch_info *ai = arch_lookup(arch_name);
        if (!ai)
                return set_error(ret_error, -EOPNOTSUPP,
                                 "unknown architecture '%s' (expected amd64 or arm64)", arch_name);
        const char *arch = ai->oci_arch;

        _cleanup_k8s_bundle_ struct k8s_bundle *b = calloc(1, sizeof *b);
        if (!b)
                return -ENOMEM;
        b->items = calloc(5, sizeof *b->items);
        b->version = strdup(k->version);
        b->arch = strdup(arch);
        if (!b->items || !b->version || !b->arch)
                return -ENOMEM;

        if (k->source) {
                if (strncmp(k->source, "dir:", 4) != 0 || k->source[4] != '/')
                        return set_error(ret_error, -EINVAL,
                                         "kubernetes.source: '%s' is not dir:<absolute path>", k->source);
                b->source_dir = strip_trailing_slashes(k->source + 4);
                if (!b->source_dir)
                        return -ENOMEM;
                b->sums_path = strdupf("%s/%s", b->source_dir, K8S_SUMS_FILE);
                if (!b->sums_path)
                        return -ENOMEM;
        }

        _cleanup_free_ char *release =
                strip_trailing_slashes(k->release_url ? k->release_url : K8S_DEFAULT_RELEASE_URL);
        if (!release)
                return -ENOMEM;

        static const char *const binaries[] = {"kubeadm", "kubelet", "kubectl"};
        for (size_t i = 0; i < ELEMENTSOF(binaries); i++) {
                struct k8s_item *it = &b->items[b->n_items++];
                it->name = strdup(binaries[i]);
                it->kind = K8S_ITEM_FILE;
                it->file_name = strdup(binaries[i]);
                it->install_path = strdupf("/usr/bin/%s", binaries[i]);
                it->mode = 0755;
                if (!it->name || !it->file_name || !it->install_path)
                        return -ENOMEM;
                if (!b->source_dir) {
                        it->url = strdupf("%s/%s/bin/linux/%s/%s", release, k->version, arch, binaries[i]);
                        if (!it->url)
                                return -ENOMEM;
                }
        }

        static const struct {
                const char *name, *key, *default_url, *install_dir, *only_member;
        } archives[] = {
                {"crictl", "kubernetes.crictl.url", K8S_DEFAULT_CRICTL_URL, "/usr/bin", "crictl"},
                {"cni-plugins", "kubernetes.cni.url", K8S_DEFAULT_CNI_URL, "/opt/cni/bin", NULL},
        };
        for (size_t i = 0; i < ELEMENTSOF(archives); i++) {
                const char *version = i == 0 ? k->crictl_version : k->cni_version;
                const char *tmpl = i == 0 ? k->crictl_url : k->cni_url;
                struct k8s_item *it = &b->items[b->n_items++];
                it->name = strdup(archives[i].name);
                it->kind = K8S_ITEM_ARCHIVE;
                it->install_path = strdup(archives[i].install_dir);
                it->mode = 0755;
                if (!it->name || !it->install_path)
                        return -ENOMEM;
                if (archives[i].only_member && !(it->only_member = strdup(archives[i].only_member)))
                        return -ENOMEM;
                if (b->source_dir) {
                        /* The upstream release names, so that a directory
                         * filled from the release pages needs no renaming. */
                        it->file_name = i == 0 ? strdupf("crictl-%s-linux-%s.tar.gz", version, arch)
                                               : strdupf("cni-plugins-linux-%s-%s.tgz", arch, version);
                        if (!it->file_name)
                                return -ENOMEM;
                } else {
                        r = expand_template(tmpl ? tmpl : archives[i].default_url, archives[i].key, version,
                                            arch, &it->url, ret_error);
                        if (r < 0)
                                return r;
                        it->file_name = url_file_name(it->url);
                        if (!it->file_name)
                                return -ENOMEM;
                        if (!it->file_name[0])
                                return set_error(ret_error, -EINVAL, "%s: '%s' does not name a file",
                                                 archives[i].key, it->url);
                }
        }

        for (size_t i = 0; i < b->n_items; i++) {
                struct k8s_item *it = &b->items[i];
                if (b->source_dir)
                        it->local_path = strdupf("%s/%s", b->source_dir, it->file_name);
                else
                        it->sha256_url = strdupf("%s.sha256", it->url);
                if (!it->local_path && !it->sha256_url)
                        return -ENOMEM;
        }

        *ret = TAKE_PTR(b);
        return 0;
}

/* ---- digest files (pure) ------------------------------------------------ */

static bool name_matches(const char *listed, size_t n, const char *file_name) {
        /* "./dir/file" or "dir/file" matches "file". */
        const char *base = listed;
        for (size_t i = 0; i < n; i++)
                if (listed[i] == '/')
                        base = listed + i + 1;
        size_t bn = (size_t) (listed + n - base);
        return bn == strlen(file_name) && memcmp(base, file_name, bn) == 0;
}

int k8s_sha256_lookup(const char *data, size_t size, const char *file_name, bool allow_bare,
                      char ret[SHA256_HEX_LEN + 1], char **ret_error) {
        if (!data || !file_name || !ret)
                return -EINVAL;
        char found[SHA256_HEX_LEN + 1] = "";
        unsigned lines = 0, bare = 0;
        unsigned lineno = 0;
        for (size_t pos = 0; pos < size;) {
                const char *line = data + pos;
                const char *nl = memchr(line, '\n', size - pos);
                size_t len = nl ? (size_t) (nl - line) : size - pos;
                pos += len + (nl ? 1 : 0);
                lineno++;
                while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
                        len--;
                if (len == 0)
                        continue;
                lines++;

                if (len < SHA256_HEX_LEN)
                        return set_error(ret_error, -EBADMSG, "line %u: expected 64 hex digits, got '%.*s'",
                                         lineno, (int) (len < 80 ? len : 80), line);
                char hex[SHA256_HEX_LEN + 1];
                for (size_t i = 0; i < SHA256_HEX_LEN; i++) {
                        if (!isxdigit((unsigned char) line[i]))
                                return set_error(ret_error, -EBADMSG,
                                                 "line %u: expected 64 hex digits, got '%.*s'", lineno,
                                                 (int) (len < 80 ? len : 80), line);
                        hex[i] = (char) tolower((unsigned char) line[i]);
                }
                hex[SHA256_HEX_LEN] = '\0';

                if (len == SHA256_HEX_LEN) {
                        bare++;
                        memcpy(found, hex, sizeof hex);
                        continue;
                }
                /* "<hex> <mode><name>": mode ' ' (text) or '*' (binary). */
                if (line[SHA256_HEX_LEN] != ' ' && line[SHA256_HEX_LEN] != '\t')
                        return set_error(ret_error, -EBADMSG, "line %u: expected a space after the digest",
                                         lineno);
                const char *name = line + SHA256_HEX_LEN + 1;
                size_t nlen = len - SHA256_HEX_LEN - 1;
                if (nlen > 0 && (name[0] == ' ' || name[0] == '*')) {
                        name++;
                        nlen--;
                }
                if (nlen == 0)
                        return set_error(ret_error, -EBADMSG, "line %u: no file name after the digest",
                                         lineno);
                if (name_matches(name, nlen, file_name)) {
                        memcpy(ret, hex, sizeof hex);
                        return 0;
                }
        }
        if (bare > 0) {
                if (!allow_bare || lines != 1)
                        return set_error(ret_error, -EBADMSG, "a digest without a file name%s",
                                         allow_bare ? " among other lines" : " (expected sha256sum format)");
                memcpy(ret, found, sizeof found);
                return 0;
        }
        return set_error(ret_error, -ENOENT, "'%s' is not listed", file_name);
}

/* ---- fetching (I/O) ----------------------------------------------------- */

static bool url_allowed(const char *url, const struct download_opts *o) {
        return strncasecmp(url, "https://", 8) == 0 ||
               (o->allow_http && strncasecmp(url, "http://", 7) == 0);
}

static void sleep_ms(unsigned ms) {
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* GET <item>.sha256 (small, through http_ops), retried on connection errors
 * and 5xx like downloads. */
static int fetch_sha256(const struct k8s_item *it, const struct download_opts *o,
                        char ret[SHA256_HEX_LEN + 1], char **ret_error) {
        const char *url = it->sha256_url;
        if (!url_allowed(url, o))
                return set_error(ret_error, -EPROTONOSUPPORT, "%s: only %s URLs are allowed", url,
                                 o->allow_http ? "http:// and https://" : "https://");
        unsigned attempts = o->attempts ? o->attempts : 4;
        struct http_request req = {
                .method = "GET",
                .url = url,
                .timeout_ms = SHA256_FETCH_TIMEOUT_MS,
                .connect_timeout_ms = o->connect_timeout_sec ? o->connect_timeout_sec * 1000u : 15000u,
                .max_response = K8S_SHA256_FILE_MAX,
                .ca_file = o->ca_file,
                .follow_redirects = true,
        };
        for (unsigned attempt = 1;; attempt++) {
                struct http_response res = {0};
                int r = http_ops->perform(&req, &res);
                bool transient;
                _cleanup_free_ char *why = NULL;
                if (r < 0) {
                        transient = r == -ETIMEDOUT || r == -ECONNREFUSED || r == -EHOSTUNREACH || r == -EIO;
                        why = strdup(res.error ? res.error : strerror(-r));
                } else if (res.status != 200) {
                        transient = res.status >= 500;
                        r = -EPROTO;
                        why = strdupf("HTTP %ld", res.status);
                } else {
                        _cleanup_free_ char *err = NULL;
                        r = k8s_sha256_lookup(res.body, res.body_size, it->file_name, true, ret, &err);
                        http_response_done(&res);
                        if (r < 0)
                                return set_error(ret_error, r == -ENOENT ? -EBADMSG : r, "%s: %s", url,
                                                 err ? err : "malformed");
                        return 0;
                }
                http_response_done(&res);
                if (!why)
                        return -ENOMEM;
                if (!transient || attempt >= attempts)
                        return set_error(ret_error, r, "%s: %s%s", url, why,
                                         transient ? " (gave up retrying)" : "");
                unsigned delay = download_retry_delay_ms(o, attempt);
                log_debug("%s: %s, retrying in %u ms", url, why, delay);
                sleep_ms(delay);
        }
}

static int fetch_release(struct k8s_bundle *b, const char *cas_dir, const struct download_opts *o,
                         char **ret_error) {
        int added = 0;
        for (size_t i = 0; i < b->n_items; i++) {
                struct k8s_item *it = &b->items[i];
                int r = fetch_sha256(it, o, it->sha256, ret_error);
                if (r < 0)
                        return r;
                struct download_opts d = *o;
                d.label = it->name;
                d.follow_redirects = true; /* dl.k8s.io and GitHub redirect to their CDNs */
                free(it->store_path);
                it->store_path = NULL;
                r = download_to_cas(it->url, it->sha256, cas_dir, &d, &it->store_path, ret_error);
                if (r < 0)
                        return r;
                log_info("%s %s: %s (sha256:%s)", it->name, r > 0 ? "downloaded" : "present", it->url,
                         it->sha256);
                if (r > 0)
                        added = 1;
        }
        return added;
}

static int fetch_dir(struct k8s_bundle *b, const char *cas_dir, char **ret_error) {
        _cleanup_free_ char *sums = NULL;
        size_t sums_size = 0;
        int r = read_file_full(b->sums_path, K8S_SUMS_FILE_MAX, &sums, &sums_size);
        if (r == -ENOENT)
                return set_error(ret_error, r,
                                 "%s is missing (expected `sha256sum` output listing kubeadm, "
                                 "kubelet, kubectl, %s and %s)",
                                 b->sums_path, b->items[3].file_name, b->items[4].file_name);
        if (r < 0)
                return set_error(ret_error, r, "cannot read %s: %s", b->sums_path, strerror(-r));

        int added = 0;
        for (size_t i = 0; i < b->n_items; i++) {
                struct k8s_item *it = &b->items[i];
                struct stat st;
                if (stat(it->local_path, &st) < 0) {
                        r = negative_errno();
                        return set_error(ret_error, r, "%s: %s (kubernetes.source expects %s there)",
                                         it->local_path, strerror(-r), it->file_name);
                }
                _cleanup_free_ char *err = NULL;
                r = k8s_sha256_lookup(sums, sums_size, it->file_name, false, it->sha256, &err);
                if (r == -ENOENT)
                        return set_error(ret_error, r, "'%s' is not listed in %s", it->file_name,
                                         b->sums_path);
                if (r < 0)
                        return set_error(ret_error, r, "%s: %s", b->sums_path, err ? err : "malformed");
                r = cas_import_file(it->local_path, it->sha256, cas_dir, ret_error);
                if (r < 0)
                        return r;
                free(it->store_path);
                it->store_path = cas_path(cas_dir, it->sha256);
                if (!it->store_path)
                        return -ENOMEM;
                log_info("%s %s: %s (sha256:%s)", it->name, r > 0 ? "imported" : "present", it->local_path,
                         it->sha256);
                if (r > 0)
                        added = 1;
        }
        return added;
}

int k8s_bundle_fetch(struct k8s_bundle *b, const char *cas_dir, const struct download_opts *o,
                     char **ret_error) {
        static const struct download_opts defaults = {0};
        if (!b || !cas_dir)
                return -EINVAL;
        if (!o)
                o = &defaults;
        return b->source_dir ? fetch_dir(b, cas_dir, ret_error) : fetch_release(b, cas_dir, o, ret_error);
}

/* ---- installing (I/O) --------------------------------------------------- */

/* A file written under a temporary name in its final directory, then
 * fsynced and renamed into place. */
struct staged {
        int fd;
        uint64_t written; /* where the next write goes */
        char *tmp;
        char *path;
};

static int staged_open(struct staged *s, const char *path) {
        *s = (struct staged){.fd = -1};
        const char *slash = strrchr(path, '/');
        s->tmp = strdupf("%.*s/.#%s.XXXXXX", (int) (slash - path), path, slash + 1);
        s->path = strdup(path);
        if (!s->tmp || !s->path)
                return -ENOMEM;
        s->fd = mkostemp(s->tmp, O_CLOEXEC);
        if (s->fd < 0)
                return negative_errno();
        return 0;
}

static int staged_write(struct staged *s, const void *data, size_t n) {
        int r = write_all_at(s->fd, data, n, s->written);
        if (r >= 0)
                s->written += n;
        return r;
}

static int staged_commit(struct staged *s, mode_t mode) {
        if (fchmod(s->fd, mode) < 0 || fsync(s->fd) < 0)
                return negative_errno();
        int fd = TAKE_FD(s->fd);
        if (close(fd) < 0)
                return negative_errno();
        if (rename(s->tmp, s->path) < 0)
                return negative_errno();
        free(s->tmp);
        s->tmp = NULL;
        return fsync_parent_dir(s->path);
}

static void staged_done(struct staged *s) {
        if (s->fd >= 0)
                close(s->fd);
        if (s->tmp)
                (void) unlink(s->tmp);
        free(s->tmp);
        free(s->path);
        *s = (struct staged){.fd = -1};
}

static int install_file(const struct k8s_item *it, const char *dst, char **ret_error) {
        _cleanup_close_ int in = open(it->store_path, O_RDONLY | O_CLOEXEC);
        if (in < 0) {
                int r = negative_errno();
                return set_error(ret_error, r, "%s: cannot open '%s': %s", it->name, it->store_path,
                                 strerror(-r));
        }
        _cleanup_(staged_done) struct staged s = {.fd = -1};
        int r = staged_open(&s, dst);
        if (r < 0)
                return set_error(ret_error, r, "cannot create '%s': %s", dst, strerror(-r));
        char buf[64 * 1024];
        for (;;) {
                ssize_t k = read(in, buf, sizeof buf);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        r = negative_errno();
                        return set_error(ret_error, r, "cannot read '%s': %s", it->store_path, strerror(-r));
                }
                if (k == 0)
                        break;
                r = staged_write(&s, buf, (size_t) k);
                if (r < 0)
                        return set_error(ret_error, r, "cannot write '%s': %s", dst, strerror(-r));
        }
        r = staged_commit(&s, it->mode);
        if (r < 0)
                return set_error(ret_error, r, "cannot install '%s': %s", dst, strerror(-r));
        return 0;
}

static void archive_read_freep(struct archive **a) {
        if (*a)
                archive_read_free(*a);
}

static int archive_failure(struct archive *a, const struct k8s_item *it, char **ret_error) {
        int e = archive_errno(a);
        return set_error(ret_error, e > 0 ? -e : -EIO, "%s: '%s': %s", it->name, it->store_path,
                         archive_error_string(a) ?: "unreadable archive");
}

static bool has_dotdot(const char *name) {
        for (const char *p = name; (p = strstr(p, "..")); p += 2)
                if ((p == name || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
                        return true;
        return false;
}

static int extract_member(struct archive *a, const struct k8s_item *it, const char *member, const char *dst,
                          char **ret_error) {
        _cleanup_(staged_done) struct staged s = {.fd = -1};
        int r = staged_open(&s, dst);
        if (r < 0)
                return set_error(ret_error, r, "cannot create '%s': %s", dst, strerror(-r));
        char buf[64 * 1024];
        uint64_t total = 0;
        for (;;) {
                la_ssize_t k = archive_read_data(a, buf, sizeof buf);
                if (k < 0)
                        return archive_failure(a, it, ret_error);
                if (k == 0)
                        break;
                total += (uint64_t) k;
                if (total > K8S_ARCHIVE_MAX_MEMBER)
                        return set_error(ret_error, -EFBIG,
                                         "%s: member '%s' is larger than %" PRIu64 " bytes", it->name,
                                         member, (uint64_t) K8S_ARCHIVE_MAX_MEMBER);
                r = staged_write(&s, buf, (size_t) k);
                if (r < 0)
                        return set_error(ret_error, r, "cannot write '%s': %s", dst, strerror(-r));
        }
        r = staged_commit(&s, it->mode);
        if (r < 0)
                return set_error(ret_error, r, "cannot install '%s': %s", dst, strerror(-r));
        return 0;
}

static int install_archive(const struct k8s_item *it, const char *dir, char **ret_error) {
        _cleanup_(archive_read_freep) struct archive *a = archive_read_new();
        if (!a)
                return -ENOMEM;
        if (archive_read_support_format_tar(a) != ARCHIVE_OK ||
            archive_read_support_format_gnutar(a) != ARCHIVE_OK ||
            archive_read_support_filter_gzip(a) != ARCHIVE_OK)
                return archive_failure(a, it, ret_error);
        if (archive_read_open_filename(a, it->store_path, 64 * 1024) != ARCHIVE_OK)
                return archive_failure(a, it, ret_error);

        bool found = false;
        for (unsigned n = 0;; n++) {
                struct archive_entry *e;
                int ar = archive_read_next_header(a, &e);
                if (ar == ARCHIVE_EOF)
                        break;
                if (ar < ARCHIVE_WARN)
                        return archive_failure(a, it, ret_error);
                if (n >= K8S_ARCHIVE_MAX_ENTRIES)
                        return set_error(ret_error, -E2BIG, "%s: '%s' has more than %u members", it->name,
                                         it->store_path, K8S_ARCHIVE_MAX_ENTRIES);
                const char *raw = archive_entry_pathname(e);
                if (!raw)
                        return set_error(ret_error, -EBADMSG, "%s: a member of '%s' has no name", it->name,
                                         it->store_path);
                const char *name = raw;
                while (name[0] == '.' && name[1] == '/')
                        name += 2;
                if (name[0] == '/' || has_dotdot(name))
                        return set_error(ret_error, -EPERM, "%s: unsafe member '%s' (absolute or with '..')",
                                         it->name, raw);
                mode_t type = archive_entry_filetype(e);
                if (type == AE_IFDIR) {
                        if (name[0] == '\0' || streq(name, "."))
                                continue; /* the archive's own top directory */
                        return set_error(ret_error, -EPERM,
                                         "%s: unexpected directory '%s' (members must be "
                                         "files at the top level)",
                                         it->name, raw);
                }
                if (type != AE_IFREG || archive_entry_hardlink(e))
                        return set_error(ret_error, -EPERM, "%s: member '%s' is not a regular file",
                                         it->name, raw);
                if (name[0] == '\0' || strchr(name, '/'))
                        return set_error(ret_error, -EPERM,
                                         "%s: member '%s' is not at the top level of the archive", it->name,
                                         raw);
                if (it->only_member && !streq(name, it->only_member)) {
                        if (archive_read_data_skip(a) != ARCHIVE_OK)
                                return archive_failure(a, it, ret_error);
                        continue;
                }
                if (archive_entry_size_is_set(e) &&
                    archive_entry_size(e) > (la_int64_t) K8S_ARCHIVE_MAX_MEMBER)
                        return set_error(ret_error, -EFBIG,
                                         "%s: member '%s' is larger than %" PRIu64 " bytes", it->name, raw,
                                         (uint64_t) K8S_ARCHIVE_MAX_MEMBER);
                _cleanup_free_ char *dst = strdupf("%s/%s", dir, name);
                if (!dst)
                        return -ENOMEM;
                int r = extract_member(a, it, raw, dst, ret_error);
                if (r < 0)
                        return r;
                found = true;
        }
        if (it->only_member && !found)
                return set_error(ret_error, -ENOENT, "%s: '%s' has no member '%s'", it->name, it->store_path,
                                 it->only_member);
        if (!found)
                return set_error(ret_error, -ENOENT, "%s: '%s' has no files", it->name, it->store_path);
        return 0;
}

int k8s_bundle_install(const struct k8s_bundle *b, const char *root, char **ret_error) {
        if (!b || !root)
                return -EINVAL;
        for (size_t i = 0; i < b->n_items; i++) {
                const struct k8s_item *it = &b->items[i];
                if (!it->store_path)
                        return set_error(ret_error, -EINVAL, "%s: not fetched", it->name);
                _cleanup_free_ char *target = path_join_root(root, it->install_path);
                if (!target)
                        return -ENOMEM;
                /* A file goes into its parent; an archive into the directory itself. */
                _cleanup_free_ char *dir = strdup(target);
                if (!dir)
                        return -ENOMEM;
                char *slash = it->kind == K8S_ITEM_FILE ? strrchr(dir, '/') : NULL;
                if (slash)
                        *slash = '\0';
                int r = mkdir_p(dir, 0755);
                if (r < 0)
                        return set_error(ret_error, r, "cannot create '%s': %s", dir, strerror(-r));
                r = it->kind == K8S_ITEM_FILE ? install_file(it, target, ret_error)
                                              : install_archive(it, target, ret_error);
                if (r < 0)
                        return r;
                log_debug("%s installed in %s", it->name, target);
        }
        return 1;
}
