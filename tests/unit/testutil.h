/* SPDX-License-Identifier: MIT */
/* Fixtures shared by several unit tests. Each test is one binary built from
 * one test-*.c, so these are static functions in a header; include it after
 * <cmocka.h>. Files are named relative to a directory the test made with
 * mkdtemp(); every helper fails the test when a step fails. */
#pragma once

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cert.h"
#include "fsutil.h"
#include "macro.h"
#include "proc.h"

/* "dir/name", allocated. */
static inline char *tu_path(const char *dir, const char *name) {
        char *p = NULL;
        assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
        return p;
}

/* A whole file (at most 1 MiB), NUL-terminated. noinline: gcc otherwise takes
 * the returned buffer for the local holding it (-Wdangling-pointer). */
static __attribute__((noinline)) _unused_ char *tu_read(const char *path, size_t *ret_size) {
        char *data = NULL;
        size_t size = 0;
        int r = read_file_full(path, 1 << 20, &data, &size);
        if (r < 0)
                fail_msg("cannot read %s: %d", path, r);
        if (ret_size)
                *ret_size = size;
        return data;
}

static inline char *tu_read_in(const char *dir, const char *name, size_t *ret_size) {
        _cleanup_free_ char *p = tu_path(dir, name);
        return tu_read(p, ret_size);
}

/* Writes `text` to dir/name, mode 0600. */
static inline void tu_write_in(const char *dir, const char *name, const char *text) {
        _cleanup_free_ char *p = tu_path(dir, name);
        assert_int_equal(write_file_atomic(p, text, strlen(text), 0600), 0);
}

/* Runs argv (the real proc_run(), not a test's fake proc_ops) in `dir`. */
static inline void tu_run_in(const char *dir, char *const argv[]) {
        struct proc_opts o = {.timeout_sec = 60, .cwd = dir, .stdout_fd = -1};
        struct proc_result res = {0};
        int r = proc_run(argv, &o, &res);
        if (r < 0) {
                _cleanup_free_ char *line = argv_to_string(argv);
                fail_msg("'%s' failed (%d): %s", line ? line : argv[0], r, res.err_tail ? res.err_tail : "");
        }
        proc_result_done(&res);
}
#define TU_RUN_IN(dir, ...) tu_run_in((dir), (char *[]){__VA_ARGS__, NULL})

/* A PEM block (or any text) indented for a YAML literal block scalar: every
 * line gets `prefix` and ends with a newline. */
static inline char *tu_indent(const char *pem, const char *prefix) {
        char *out = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&out, &size);
        assert_non_null(f);
        for (const char *p = pem; *p;) {
                size_t n = strcspn(p, "\n");
                fprintf(f, "%s%.*s\n", prefix, (int) n, p);
                p += n;
                if (*p == '\n')
                        p++;
        }
        assert_int_equal(fclose(f), 0);
        return out;
}

/* ---- TLS material made with the openssl command line ---------------------- */

/* A self-signed CA for TLS tests: dir/name.pem + dir/name.key (PKCS#8), valid
 * for 30 days, an EC P-256 or RSA 2048 key. */
static inline void tu_make_ca(const char *dir, const char *name, const char *cn, bool ec) {
        _cleanup_free_ char *key = NULL, *pem = NULL, *subj = NULL;
        assert_true(asprintf(&key, "%s.key", name) > 0);
        assert_true(asprintf(&pem, "%s.pem", name) > 0);
        assert_true(asprintf(&subj, "/CN=%s", cn) > 0);
        if (ec)
                TU_RUN_IN(dir, "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                          "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", pem, "-days",
                          "30", "-subj", subj, "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
                          "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign");
        else
                TU_RUN_IN(dir, "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                          "-out", pem, "-days", "30", "-subj", subj, "-addext",
                          "basicConstraints=critical,CA:TRUE", "-addext",
                          "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign");
}

/* A server certificate for 127.0.0.1 signed by the CA dir/ca.pem + ca.key:
 * dir/name.pem + dir/name.key, with the given serial number. */
static inline void tu_make_leaf(const char *dir, const char *name, const char *ca, const char *serial) {
        _cleanup_free_ char *key = NULL, *pem = NULL, *csr = NULL, *ca_pem = NULL, *ca_key = NULL;
        assert_true(asprintf(&key, "%s.key", name) > 0);
        assert_true(asprintf(&pem, "%s.pem", name) > 0);
        assert_true(asprintf(&csr, "%s.csr", name) > 0);
        assert_true(asprintf(&ca_pem, "%s.pem", ca) > 0);
        assert_true(asprintf(&ca_key, "%s.key", ca) > 0);
        tu_write_in(dir, "leaf.ext",
                    "basicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\n"
                    "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
        TU_RUN_IN(dir, "openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out",
                  csr, "-subj", "/CN=kube-apiserver");
        TU_RUN_IN(dir, "openssl", "x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key, "-set_serial",
                  (char *) serial, "-days", "30", "-extfile", "leaf.ext", "-out", pem);
}

/* kubeadm's CA hash of the certificate dir/cert the way its documentation
 * computes it:
 *   openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256
 * as separate steps with files (no shell): "sha256:<64 hex>". */
static inline void tu_openssl_hash(const char *dir, const char *cert, char out[CERT_HASH_STRING_MAX]) {
        _cleanup_free_ char *pub = NULL, *der = NULL, *dgst = NULL;
        assert_true(asprintf(&pub, "%s.pub", cert) > 0);
        assert_true(asprintf(&der, "%s.pub.der", cert) > 0);
        assert_true(asprintf(&dgst, "%s.dgst", cert) > 0);
        TU_RUN_IN(dir, "openssl", "x509", "-in", (char *) cert, "-pubkey", "-noout", "-out", pub);
        TU_RUN_IN(dir, "openssl", "pkey", "-pubin", "-in", pub, "-outform", "der", "-out", der);
        TU_RUN_IN(dir, "openssl", "dgst", "-sha256", "-r", "-out", dgst, der);
        _cleanup_free_ char *text = tu_read_in(dir, dgst, NULL);
        /* "-r": "<64 hex> *<file>" */
        assert_true(strlen(text) > 64);
        for (int i = 0; i < 64; i++)
                assert_true(isxdigit((unsigned char) text[i]));
        assert_true(text[64] == ' ');
        snprintf(out, CERT_HASH_STRING_MAX, "sha256:%.64s", text);
}

/* A cluster CA as kubeadm makes it: dir/name.crt + dir/name.key (EC P-256,
 * CN=kubernetes, ten years, keyCertSign and cRLSign), read back into memory
 * with its kubeadm hash. */
struct tu_kube_ca {
        char *cert, *key;
        char hash[CERT_HASH_STRING_MAX];
};

static inline void tu_make_kube_ca(const char *dir, const char *name, struct tu_kube_ca *ca) {
        _cleanup_free_ char *crt = NULL, *key = NULL;
        assert_true(asprintf(&crt, "%s.crt", name) > 0);
        assert_true(asprintf(&key, "%s.key", name) > 0);
        TU_RUN_IN(dir, "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", crt, "-subj",
                  "/CN=kubernetes", "-days", "3650", "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign");
        tu_openssl_hash(dir, crt, ca->hash);
        ca->cert = tu_read_in(dir, crt, NULL);
        ca->key = tu_read_in(dir, key, NULL);
}

static inline void tu_kube_ca_done(struct tu_kube_ca *ca) {
        free(ca->cert);
        free(ca->key);
        *ca = (struct tu_kube_ca){};
}

/* ---- sockets ---------------------------------------------------------------- */

/* A listening socket on 127.0.0.1, ephemeral port. */
static inline int tu_listen_loopback(int *ret_port) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        assert_int_equal(bind(fd, (struct sockaddr *) &a, sizeof a), 0);
        assert_int_equal(listen(fd, 16), 0);
        socklen_t al = sizeof a;
        assert_int_equal(getsockname(fd, (struct sockaddr *) &a, &al), 0);
        *ret_port = ntohs(a.sin_port);
        return fd;
}

/* ---- a loopback HTTP server ---------------------------------------------------
 * Forked; GET <path> answers 200 with the route's body, anything else 404.
 * tu_stop_server() kills it and frees the routes' path and body. */
#include <signal.h>
#include <sys/wait.h>

#include "loophttp.h"

struct tu_route {
        char *path;
        char *body;
        size_t size;
};

static inline void tu_serve(int lfd, const struct tu_route *routes, size_t n) {
        for (;;) {
                int fd = accept(lfd, NULL, NULL);
                if (fd < 0)
                        continue;
                char req[4096], method[8], path[256];
                const struct tu_route *r = NULL;
                if (lh_read_request(fd, req, sizeof req, method, path))
                        for (size_t i = 0; i < n; i++)
                                if (streq(routes[i].path, path))
                                        r = &routes[i];
                lh_reply(fd, r ? r->body : NULL, r ? r->size : 0);
                close(fd);
        }
}

static inline pid_t tu_start_server(const struct tu_route *routes, size_t n, int *ret_port) {
        int lfd = tu_listen_loopback(ret_port);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                tu_serve(lfd, routes, n);
                _exit(0);
        }
        close(lfd);
        return pid;
}

static inline void tu_stop_server(pid_t pid, struct tu_route *routes, size_t n) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        for (size_t i = 0; i < n; i++) {
                free(routes[i].path);
                free(routes[i].body);
        }
}

/* ---- tarballs and small OCI images ------------------------------------------ */

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include "arch.h"
#include "digest.h"
#include "json.h"

/* A regular file in a test tarball (mode 0644, mtime TU_EPOCH). */
struct tu_member {
        const char *name;
        const char *content;
};
#define TU_EPOCH 1700000000

static inline void tu_tar_members(struct archive *a, const struct tu_member *m, size_t n) {
        for (size_t i = 0; i < n; i++) {
                size_t len = strlen(m[i].content);
                struct archive_entry *e = archive_entry_new();
                assert_non_null(e);
                archive_entry_set_pathname(e, m[i].name);
                archive_entry_set_filetype(e, AE_IFREG);
                archive_entry_set_perm(e, 0644);
                archive_entry_set_size(e, (la_int64_t) len);
                archive_entry_set_mtime(e, TU_EPOCH, 0);
                assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
                assert_int_equal(archive_write_data(a, m[i].content, len), (la_ssize_t) len);
                archive_entry_free(e);
        }
        assert_int_equal(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
}

/* A tar (pax-restricted) of the members at `path`, gzip-compressed when `gzip`. */
static inline void tu_make_tar_file(const char *path, const struct tu_member *m, size_t n, bool gzip) {
        struct archive *a = archive_write_new();
        assert_non_null(a);
        assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
        if (gzip)
                assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
        assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
        tu_tar_members(a, m, n);
}

/* The same uncompressed, in memory. */
static inline char *tu_make_tar(const struct tu_member *m, size_t n, size_t *ret_size) {
        size_t cap = 2 * 10240, used = 0;
        for (size_t i = 0; i < n; i++)
                cap += 2048 + strlen(m[i].content);
        char *buf = malloc(cap);
        assert_non_null(buf);
        struct archive *a = archive_write_new();
        assert_non_null(a);
        assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
        assert_int_equal(archive_write_open_memory(a, buf, cap, &used), ARCHIVE_OK);
        tu_tar_members(a, m, n);
        *ret_size = used;
        return buf;
}

/* Puts `data` into the content-addressed store <store>/sha256/<hex>
 * (lib/download.h); ret_digest gets "sha256:<hex>". */
#define TU_DIGEST_MAX (7 + SHA256_HEX_LEN + 1)
static inline void tu_store_put(const char *store, const void *data, size_t size,
                                char ret_digest[TU_DIGEST_MAX]) {
        char hex[SHA256_HEX_LEN + 1];
        assert_int_equal(sha256_buffer(data, size, hex), 0);
        char *path = NULL;
        assert_true(asprintf(&path, "%s/sha256/%s", store, hex) > 0);
        char *dir = NULL;
        assert_true(asprintf(&dir, "%s/sha256", store) > 0);
        assert_int_equal(mkdir_p(dir, 0755), 0);
        assert_int_equal(write_file_atomic(path, data, size, 0644), 0);
        free(dir);
        free(path);
        snprintf(ret_digest, TU_DIGEST_MAX, "sha256:%s", hex);
}

/* A one-layer OCI image for the host's platform in `store`: the layer an
 * uncompressed tar of the members (its diff_id its own digest), a config, an
 * OCI manifest. Different members give a different manifest digest. */
struct tu_oci_image {
        char manifest_digest[TU_DIGEST_MAX];
        uint64_t manifest_size;
};

static inline void tu_make_oci_image(const char *store, const struct tu_member *m, size_t n,
                                     struct tu_oci_image *ret) {
        size_t layer_size = 0, config_size = 0, manifest_size = 0;
        char layer_digest[TU_DIGEST_MAX], config_digest[TU_DIGEST_MAX];
        char *layer = tu_make_tar(m, n, &layer_size);
        tu_store_put(store, layer, layer_size, layer_digest);
        free(layer);

        const struct arch_info *host = arch_host();
        assert_non_null(host);
        struct json j = {0};
        json_begin_object(&j);
        json_kv_string(&j, "architecture", host->oci_arch);
        json_kv_string(&j, "os", "linux");
        json_key(&j, "rootfs");
        json_begin_object(&j);
        json_kv_string(&j, "type", "layers");
        json_key(&j, "diff_ids");
        json_begin_array(&j);
        json_string(&j, layer_digest);
        json_end_array(&j);
        json_end_object(&j);
        json_end_object(&j);
        char *config = NULL;
        assert_int_equal(json_finish(&j, &config, &config_size), 0);
        tu_store_put(store, config, config_size, config_digest);
        free(config);

        json_begin_object(&j);
        json_key(&j, "schemaVersion");
        json_uint(&j, 2);
        json_kv_string(&j, "mediaType", "application/vnd.oci.image.manifest.v1+json");
        json_key(&j, "config");
        json_begin_object(&j);
        json_kv_string(&j, "mediaType", "application/vnd.oci.image.config.v1+json");
        json_kv_string(&j, "digest", config_digest);
        json_kv_uint(&j, "size", config_size);
        json_end_object(&j);
        json_key(&j, "layers");
        json_begin_array(&j);
        json_begin_object(&j);
        json_kv_string(&j, "mediaType", "application/vnd.oci.image.layer.v1.tar");
        json_kv_string(&j, "digest", layer_digest);
        json_kv_uint(&j, "size", layer_size);
        json_end_object(&j);
        json_end_array(&j);
        json_end_object(&j);
        char *manifest = NULL;
        assert_int_equal(json_finish(&j, &manifest, &manifest_size), 0);
        tu_store_put(store, manifest, manifest_size, ret->manifest_digest);
        free(manifest);
        ret->manifest_size = manifest_size;
}

/* dir/sums_name listing the SHA-256 of each dir/files[i] the way sha256sum
 * writes it: "<64 hex>  <name>" lines. */
static inline void tu_write_sums(const char *dir, const char *sums_name, const char *const *files,
                                 size_t n) {
        _cleanup_free_ char *sums = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&sums, &size);
        assert_non_null(f);
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *p = tu_path(dir, files[i]);
                char hex[SHA256_HEX_LEN + 1];
                assert_int_equal(sha256_file(p, hex), 0);
                fprintf(f, "%s  %s\n", hex, files[i]);
        }
        assert_int_equal(fclose(f), 0);
        tu_write_in(dir, sums_name, sums);
}

/* Does dir/name exist (lstat)? */
static inline bool tu_exists_in(const char *dir, const char *name) {
        _cleanup_free_ char *p = tu_path(dir, name);
        struct stat st;
        return lstat(p, &st) == 0;
}
