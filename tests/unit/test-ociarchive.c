/* SPDX-License-Identifier: MIT */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "arch.h"
#include "digest.h"
#include "fsutil.h"
#include "json.h"
#include "macro.h"
#include "ociarchive.h"
#include "proc.h"
#include "strv.h"
#include "testutil.h"
#include "yamltree.h"

/* Small real images, built here: each layer a gzip'd tar made with
 * libarchive (its diff_id the SHA-256 of the tar), a config naming the
 * diff_ids for the host's platform, an OCI manifest; all put into a temp
 * content-addressed store as <store>/sha256/<hex>. Two images share layer 0. */

#define EPOCH 1700000000
#define NAME_A "registry.k8s.io/pause:3.10"
#define NAME_B "quay.io/test/beta:v2"

struct blobref {
        char digest[80]; /* "sha256:<hex>" */
        size_t size;
};

struct fx {
        char dir[64];
        char *store;
        struct blobref layer[3], config[2], manifest[2];
        struct ociarchive_image images[2];
};

static const char *host_arch(void) {
        const struct arch_info *a = arch_host();
        assert_non_null(a);
        return a->oci_arch;
}

static void store_put(struct fx *f, const void *data, size_t size, struct blobref *ret) {
        tu_store_put(f->store, data, size, ret->digest);
        ret->size = size;
}

static char *blob_path(const struct fx *f, const struct blobref *b) {
        char *p = strdupf("%s/sha256/%s", f->store, b->digest + 7);
        assert_non_null(p);
        return p;
}

static char *gzip_buffer(const char *data, size_t size, size_t *ret_size) {
        z_stream z = {0};
        assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
        size_t cap = deflateBound(&z, size) + 64;
        char *out = malloc(cap);
        assert_non_null(out);
        z.next_in = (Bytef *) data;
        z.avail_in = (uInt) size;
        z.next_out = (Bytef *) out;
        z.avail_out = (uInt) cap;
        assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
        *ret_size = cap - z.avail_out;
        deflateEnd(&z);
        return out;
}

/* A layer: stores the tar.gz, returns its diff_id. */
static void make_layer(struct fx *f, const struct tu_member *m, size_t n, struct blobref *ret,
                       char diff_id[80]) {
        size_t tar_size = 0, gz_size = 0;
        _cleanup_free_ char *tar = tu_make_tar(m, n, &tar_size);
        _cleanup_free_ char *gz = gzip_buffer(tar, tar_size, &gz_size);
        char hex[SHA256_HEX_LEN + 1];
        assert_int_equal(sha256_buffer(tar, tar_size, hex), 0);
        snprintf(diff_id, 80, "sha256:%s", hex);
        store_put(f, gz, gz_size, ret);
}

static void desc(struct json *j, const char *media_type, const struct blobref *b) {
        json_begin_object(j);
        json_kv_string(j, "mediaType", media_type);
        json_kv_string(j, "digest", b->digest);
        json_kv_uint(j, "size", b->size);
        json_end_object(j);
}

static void make_image(struct fx *f, int i, const char *name, const int *layers, size_t n_layers,
                       char diff_ids[][80]) {
        struct json j = {0};
        json_begin_object(&j);
        json_kv_string(&j, "architecture", host_arch());
        json_kv_string(&j, "os", "linux");
        json_key(&j, "config");
        json_begin_object(&j);
        json_key(&j, "Cmd");
        json_begin_array(&j);
        json_string(&j, "/hello");
        json_end_array(&j);
        json_end_object(&j);
        json_key(&j, "rootfs");
        json_begin_object(&j);
        json_kv_string(&j, "type", "layers");
        json_key(&j, "diff_ids");
        json_begin_array(&j);
        for (size_t k = 0; k < n_layers; k++)
                json_string(&j, diff_ids[layers[k]]);
        json_end_array(&j);
        json_end_object(&j);
        json_end_object(&j);
        _cleanup_free_ char *config = NULL;
        size_t config_size = 0;
        assert_int_equal(json_finish(&j, &config, &config_size), 0);
        store_put(f, config, config_size, &f->config[i]);

        json_begin_object(&j);
        json_key(&j, "schemaVersion");
        json_uint(&j, 2);
        json_kv_string(&j, "mediaType", OCI_MEDIA_TYPE_MANIFEST);
        json_key(&j, "config");
        desc(&j, "application/vnd.oci.image.config.v1+json", &f->config[i]);
        json_key(&j, "layers");
        json_begin_array(&j);
        for (size_t k = 0; k < n_layers; k++)
                desc(&j, "application/vnd.oci.image.layer.v1.tar+gzip", &f->layer[layers[k]]);
        json_end_array(&j);
        json_end_object(&j);
        _cleanup_free_ char *manifest = NULL;
        size_t manifest_size = 0;
        assert_int_equal(json_finish(&j, &manifest, &manifest_size), 0);
        store_put(f, manifest, manifest_size, &f->manifest[i]);

        f->images[i] = (struct ociarchive_image){
                .name = name,
                .manifest_digest = f->manifest[i].digest,
                .media_type = OCI_MEDIA_TYPE_MANIFEST,
                .size = f->manifest[i].size,
        };
}

static int setup(void **state) {
        struct fx *f = calloc(1, sizeof *f);
        assert_non_null(f);
        snprintf(f->dir, sizeof f->dir, "/tmp/test-ociarchive-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        f->store = tu_path(f->dir, "cas");
        _cleanup_free_ char *sd = tu_path(f->store, "sha256");
        assert_int_equal(mkdir_p(sd, 0755), 0);

        /* Layer 1 holds ~600 KiB that gzip cannot shrink, so it is streamed
         * in several chunks. */
        _cleanup_free_ char *noise = malloc(600 * 1024 + 1);
        assert_non_null(noise);
        uint32_t x = 2463534242u;
        for (size_t i = 0; i < 600 * 1024; i++) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                noise[i] = (char) ('!' + x % 90);
        }
        noise[600 * 1024] = '\0';
        static const struct tu_member l0[] = {{"etc/os-release", "ID=kubeseed-test\n"}};
        const struct tu_member l1[] = {
                {"hello", "#!/bin/sh\necho hello\n"}, {"etc/hello.conf", "a=1\n"}, {"noise", noise}};
        static const struct tu_member l2[] = {{"world", "beta\n"}};
        char diff_ids[3][80];
        make_layer(f, l0, ELEMENTSOF(l0), &f->layer[0], diff_ids[0]);
        make_layer(f, l1, ELEMENTSOF(l1), &f->layer[1], diff_ids[1]);
        make_layer(f, l2, ELEMENTSOF(l2), &f->layer[2], diff_ids[2]);
        make_image(f, 0, NAME_A, (const int[]){0, 1}, 2, diff_ids);
        make_image(f, 1, NAME_B, (const int[]){0, 2}, 2, diff_ids);
        assert_true(f->layer[1].size > 3 * 128 * 1024);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fx *f = *state;
        assert_int_equal(rm_rf(f->dir), 0);
        free(f->store);
        free(f);
        return 0;
}

static char *write_ok(struct fx *f, const char *name, const struct ociarchive_image *images, size_t n,
                      int64_t epoch, struct ociarchive_stats *stats) {
        char *path = tu_path(f->dir, name);
        _cleanup_free_ char *err = NULL;
        int r = ociarchive_write(path, f->store, images, n, epoch, stats, &err);
        if (r < 0)
                fail_msg("ociarchive_write: %d: %s", r, err ? err : "(no message)");
        return path;
}

/* ---- the archive as written ------------------------------------------------- */

static void test_write_layout(void **state) {
        struct fx *f = *state;
        struct ociarchive_stats st = {0};
        _cleanup_free_ char *path = write_ok(f, "out.tar", f->images, 2, EPOCH, &st);

        /* 2 manifests + 2 configs + 3 layers; layer 0 written once. */
        assert_int_equal(st.n_blobs, 7);
        assert_int_equal(st.dedup_bytes, f->layer[0].size);
        uint64_t total = 0;
        for (int i = 0; i < 3; i++)
                total += f->layer[i].size;
        for (int i = 0; i < 2; i++)
                total += f->config[i].size + f->manifest[i].size;
        assert_int_equal(st.blob_bytes, total);

        /* The expected entry order: oci-layout, index.json, the directories,
         * the blobs sorted by digest. */
        const char *hexes[7] = {f->layer[0].digest + 7,   f->layer[1].digest + 7,  f->layer[2].digest + 7,
                                f->config[0].digest + 7,  f->config[1].digest + 7, f->manifest[0].digest + 7,
                                f->manifest[1].digest + 7};
        for (int i = 0; i < 7; i++)
                for (int k = i + 1; k < 7; k++)
                        if (strcmp(hexes[i], hexes[k]) > 0) {
                                const char *t = hexes[i];
                                hexes[i] = hexes[k];
                                hexes[k] = t;
                        }

        struct archive *a = archive_read_new();
        archive_read_support_format_tar(a);
        assert_int_equal(archive_read_open_filename(a, path, 1 << 16), ARCHIVE_OK);
        struct archive_entry *e;
        int n = 0;
        char *index = NULL;
        while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
                const char *name = archive_entry_pathname(e);
                char want[128];
                if (n == 0)
                        snprintf(want, sizeof want, "oci-layout");
                else if (n == 1)
                        snprintf(want, sizeof want, "index.json");
                else if (n == 2)
                        snprintf(want, sizeof want, "blobs/");
                else if (n == 3)
                        snprintf(want, sizeof want, "blobs/sha256/");
                else {
                        assert_true(n - 4 < 7);
                        snprintf(want, sizeof want, "blobs/sha256/%s", hexes[n - 4]);
                }
                assert_string_equal(name, want);
                bool dir = n == 2 || n == 3;
                assert_int_equal(archive_entry_filetype(e), dir ? AE_IFDIR : AE_IFREG);
                assert_int_equal(archive_entry_perm(e), dir ? 0755 : 0644);
                assert_int_equal(archive_entry_uid(e), 0);
                assert_int_equal(archive_entry_gid(e), 0);
                assert_int_equal(archive_entry_mtime(e), EPOCH);
                assert_true(!archive_entry_uname(e) || streq(archive_entry_uname(e), ""));
                assert_true(!archive_entry_gname(e) || streq(archive_entry_gname(e), ""));
                if (n == 0) {
                        char buf[128] = {0};
                        assert_true(archive_read_data(a, buf, sizeof buf - 1) > 0);
                        assert_string_equal(buf, "{\"imageLayoutVersion\": \"1.0.0\"}\n");
                }
                if (n == 1) {
                        size_t sz = (size_t) archive_entry_size(e);
                        index = calloc(1, sz + 1);
                        assert_int_equal(archive_read_data(a, index, sz), (la_ssize_t) sz);
                }
                n++;
        }
        assert_int_equal(n, 4 + 7);
        archive_read_free(a);

        /* index.json: sorted by name, both annotations, exact values. */
        _cleanup_ynode_ struct ynode *root = NULL;
        assert_int_equal(yaml_parse_one(index, strlen(index), NULL, &root, NULL), 0);
        free(index);
        assert_string_equal(ynode_get_str(root, "schemaVersion"), "2");
        assert_string_equal(ynode_get_str(root, "mediaType"), OCI_MEDIA_TYPE_INDEX);
        const struct ynode *ms = ynode_get(root, "manifests");
        assert_non_null(ms);
        assert_int_equal(ms->n_items, 2);
        /* "quay.io/..." < "registry.k8s.io/..." */
        const struct {
                const char *name, *tag;
                int img;
        } want[2] = {{NAME_B, "v2", 1}, {NAME_A, "3.10", 0}};
        for (int i = 0; i < 2; i++) {
                const struct ynode *d = ms->items[i];
                assert_string_equal(ynode_get_str(d, "mediaType"), OCI_MEDIA_TYPE_MANIFEST);
                assert_string_equal(ynode_get_str(d, "digest"), f->manifest[want[i].img].digest);
                char sz[32];
                snprintf(sz, sizeof sz, "%zu", f->manifest[want[i].img].size);
                assert_string_equal(ynode_get_str(d, "size"), sz);
                const struct ynode *an = ynode_get(d, "annotations");
                assert_non_null(an);
                assert_int_equal(an->n_items, 2);
                assert_string_equal(ynode_get_str(an, "io.containerd.image.name"), want[i].name);
                assert_string_equal(ynode_get_str(an, "org.opencontainers.image.ref.name"), want[i].tag);
        }
}

static void test_read_back(void **state) {
        struct fx *f = *state;
        _cleanup_free_ char *path = write_ok(f, "out.tar", f->images, 2, EPOCH, NULL);
        _cleanup_ociarchive_listing_ struct ociarchive_listing *l = NULL;
        _cleanup_free_ char *err = NULL;
        int r = ociarchive_read(path, NULL, &l, &err);
        if (r < 0)
                fail_msg("ociarchive_read: %d: %s", r, err ? err : "");
        assert_int_equal(l->n_images, 2);
        assert_int_equal(l->n_blobs, 7);
        assert_string_equal(l->images[0].name, NAME_B);
        assert_string_equal(l->images[0].ref_name, "v2");
        assert_string_equal(l->images[0].manifest_digest, f->manifest[1].digest);
        assert_int_equal(l->images[0].size, f->manifest[1].size);
        assert_string_equal(l->images[0].media_type, OCI_MEDIA_TYPE_MANIFEST);
        assert_string_equal(l->images[1].name, NAME_A);
        assert_string_equal(l->images[1].ref_name, "3.10");
        assert_string_equal(l->images[1].manifest_digest, f->manifest[0].digest);

        /* Read into a fresh store: every blob lands there, byte-identical. */
        _cleanup_free_ char *store2 = tu_path(f->dir, "cas2");
        ociarchive_listing_free(TAKE_PTR(l));
        r = ociarchive_read(path, store2, &l, &err);
        if (r < 0)
                fail_msg("ociarchive_read into a store: %d: %s", r, err ? err : "");
        const struct blobref *all[] = {&f->layer[0],  &f->layer[1],    &f->layer[2],   &f->config[0],
                                       &f->config[1], &f->manifest[0], &f->manifest[1]};
        for (size_t i = 0; i < ELEMENTSOF(all); i++) {
                _cleanup_free_ char *p = strdupf("%s/sha256/%s", store2, all[i]->digest + 7);
                char hex[SHA256_HEX_LEN + 1];
                assert_int_equal(sha256_file(p, hex), 0);
                assert_string_equal(hex, all[i]->digest + 7);
        }
        /* The store's temp files are gone. */
        _cleanup_free_ char *sd = strdupf("%s/sha256", store2);
        _cleanup_(closedirp_) DIR *d = opendir(sd);
        assert_non_null(d);
        size_t count = 0;
        for (struct dirent *de; (de = readdir(d));)
                if (de->d_name[0] != '.')
                        count++;
                else
                        assert_true(streq(de->d_name, ".") || streq(de->d_name, ".."));
        assert_int_equal(count, 7);
}

/* Same inputs -> same bytes, whatever order the images come in; another
 * SOURCE_DATE_EPOCH -> other bytes. One name for a manifest listed twice is
 * written once; a second name is a second entry over the same blobs. */
static void test_deterministic(void **state) {
        struct fx *f = *state;
        struct ociarchive_image rev[3] = {f->images[1], f->images[0], f->images[1]};
        _cleanup_free_ char *p1 = write_ok(f, "one.tar", f->images, 2, EPOCH, NULL);
        _cleanup_free_ char *p2 = write_ok(f, "two.tar", rev, 3, EPOCH, NULL);
        _cleanup_free_ char *p3 = write_ok(f, "three.tar", f->images, 2, EPOCH + 1, NULL);
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;
        size_t na = 0, nb = 0, nc = 0;
        assert_int_equal(read_file_full(p1, 1 << 24, &a, &na), 0);
        assert_int_equal(read_file_full(p2, 1 << 24, &b, &nb), 0);
        assert_int_equal(read_file_full(p3, 1 << 24, &c, &nc), 0);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na);
        assert_true(na != nc || memcmp(a, c, na) != 0);

        struct ociarchive_image alias[2] = {f->images[0], f->images[0]};
        alias[1].name = "registry.k8s.io/pause:latest";
        struct ociarchive_stats st = {0};
        _cleanup_free_ char *p4 = write_ok(f, "alias.tar", alias, 2, EPOCH, &st);
        assert_int_equal(st.n_blobs, 4);
        _cleanup_ociarchive_listing_ struct ociarchive_listing *l = NULL;
        assert_int_equal(ociarchive_read(p4, NULL, &l, NULL), 0);
        assert_int_equal(l->n_images, 2);
        assert_string_equal(l->images[0].name, NAME_A);
        assert_string_equal(l->images[1].name, "registry.k8s.io/pause:latest");
        assert_string_equal(l->images[1].manifest_digest, f->manifest[0].digest);

        /* Short names are normalised; a digest reference gets no ref.name. */
        struct ociarchive_image short_[2] = {f->images[0], f->images[1]};
        short_[0].name = "pause";
        _cleanup_free_ char *byd = strdupf("quay.io/test/beta@%s", f->manifest[1].digest);
        short_[1].name = byd;
        _cleanup_free_ char *p5 = write_ok(f, "short.tar", short_, 2, EPOCH, NULL);
        ociarchive_listing_free(TAKE_PTR(l));
        assert_int_equal(ociarchive_read(p5, NULL, &l, NULL), 0);
        assert_string_equal(l->images[0].name, "docker.io/library/pause:latest");
        assert_string_equal(l->images[0].ref_name, "latest");
        assert_string_equal(l->images[1].name, byd);
        assert_null(l->images[1].ref_name);
}

static void expect_write_error(struct fx *f, const struct ociarchive_image *images, size_t n, int want,
                               const char *const *needles) {
        _cleanup_free_ char *path = tu_path(f->dir, "bad.tar");
        _cleanup_free_ char *err = NULL;
        int r = ociarchive_write(path, f->store, images, n, EPOCH, NULL, &err);
        assert_int_equal(r, want);
        assert_non_null(err);
        for (size_t i = 0; needles[i]; i++)
                if (!strstr(err, needles[i]))
                        fail_msg("error '%s' does not mention '%s'", err, needles[i]);
        assert_int_equal(access(path, F_OK), -1);
        /* No temp file left beside it. */
        _cleanup_(closedirp_) DIR *d = opendir(f->dir);
        for (struct dirent *de; (de = readdir(d));)
                assert_null(strstr(de->d_name, ".tmp-"));
}

static void test_missing_blob(void **state) {
        struct fx *f = *state;
        _cleanup_free_ char *p = blob_path(f, &f->layer[2]);
        assert_int_equal(unlink(p), 0);
        expect_write_error(f, f->images, 2, -ENOENT,
                           (const char *const[]){NAME_B, f->layer[2].digest, "missing", "layer", NULL});
        /* The other image alone is fine. */
        _cleanup_free_ char *ok = write_ok(f, "a.tar", f->images, 1, EPOCH, NULL);

        _cleanup_free_ char *m = blob_path(f, &f->manifest[0]);
        assert_int_equal(unlink(m), 0);
        expect_write_error(f, f->images, 1, -ENOENT,
                           (const char *const[]){NAME_A, f->manifest[0].digest, "manifest", NULL});
}

static void test_corrupt_blob(void **state) {
        struct fx *f = *state;
        /* An existing archive stays as it was when a rewrite fails. */
        _cleanup_free_ char *good = write_ok(f, "bad.tar", f->images, 2, EPOCH, NULL);
        _cleanup_free_ char *before = NULL;
        size_t before_size = 0;
        assert_int_equal(read_file_full(good, 1 << 24, &before, &before_size), 0);
        assert_int_equal(unlink(good), 0);

        /* Same size, one byte changed: only the digest tells. */
        _cleanup_free_ char *p = blob_path(f, &f->layer[1]);
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        assert_int_equal(read_file_full(p, 1 << 20, &data, &size), 0);
        data[size / 2] ^= 0x55;
        assert_int_equal(write_file_atomic(p, data, size, 0644), 0);
        expect_write_error(f, f->images, 2, -EBADMSG,
                           (const char *const[]){NAME_A, f->layer[1].digest, "has digest", NULL});

        /* A truncated blob: its size is wrong. */
        assert_int_equal(write_file_atomic(p, data, size - 1, 0644), 0);
        expect_write_error(f, f->images, 2, -EBADMSG,
                           (const char *const[]){NAME_A, f->layer[1].digest, "bytes", NULL});

        /* A manifest that is not what its digest says. */
        _cleanup_free_ char *m = blob_path(f, &f->manifest[1]);
        _cleanup_free_ char *mdata = NULL;
        size_t msize = 0;
        assert_int_equal(read_file_full(m, 1 << 20, &mdata, &msize), 0);
        mdata[msize - 2] = ' ';
        assert_int_equal(write_file_atomic(m, mdata, msize, 0644), 0);
        expect_write_error(f, f->images + 1, 1, -EBADMSG,
                           (const char *const[]){NAME_B, f->manifest[1].digest, NULL});
}

static void test_bad_arguments(void **state) {
        struct fx *f = *state;
        struct ociarchive_image im[2] = {f->images[0], f->images[1]};
        im[1].name = NAME_A; /* one name, two manifests */
        expect_write_error(f, im, 2, -EINVAL, (const char *const[]){NAME_A, "twice", NULL});
        im[1] = f->images[1];
        im[1].name = "Not/Valid";
        expect_write_error(f, im, 2, -EINVAL, (const char *const[]){"Not/Valid", NULL});
        im[1] = f->images[1];
        im[1].manifest_digest = "sha512:abcd";
        expect_write_error(f, im, 2, -EINVAL, (const char *const[]){"sha512:abcd", NULL});
        _cleanup_free_ char *wrong = strdupf("quay.io/test/beta@%s", f->manifest[0].digest);
        im[1] = f->images[1];
        im[1].name = wrong;
        expect_write_error(f, im, 2, -EINVAL, (const char *const[]){"not the manifest's", NULL});
        im[1] = f->images[1];
        im[1].media_type = "application/vnd.oci.image.config.v1+json";
        expect_write_error(f, im, 2, -EMEDIUMTYPE, (const char *const[]){NAME_B, "media type", NULL});
        im[1] = f->images[1];
        im[1].size += 1;
        expect_write_error(f, im, 2, -EBADMSG, (const char *const[]){NAME_B, f->manifest[1].digest, NULL});
        expect_write_error(f, im, 0, -EINVAL, (const char *const[]){"no images", NULL});
}

enum rewrite { RW_CORRUPT, RW_DROP, RW_DOT_GZIP, RW_NO_LAYOUT, RW_UNSAFE, RW_INDEX_LAST };
static void rewrite(const char *in, const char *out, enum rewrite how, const char *hex);
static void expect_read_error(const char *path, int want, const char *const *needles);

/* An image index as the image: its child manifests and their blobs go in;
 * the reader follows the index to check them. */
static void test_image_index(void **state) {
        struct fx *f = *state;
        struct json j = {0};
        json_begin_object(&j);
        json_key(&j, "schemaVersion");
        json_uint(&j, 2);
        json_kv_string(&j, "mediaType", OCI_MEDIA_TYPE_INDEX);
        json_key(&j, "manifests");
        json_begin_array(&j);
        const char *arches[2] = {"amd64", "arm64"};
        for (int i = 0; i < 2; i++) {
                json_begin_object(&j);
                json_kv_string(&j, "mediaType", OCI_MEDIA_TYPE_MANIFEST);
                json_kv_string(&j, "digest", f->manifest[i].digest);
                json_kv_uint(&j, "size", f->manifest[i].size);
                json_key(&j, "platform");
                json_begin_object(&j);
                json_kv_string(&j, "architecture", arches[i]);
                json_kv_string(&j, "os", "linux");
                json_end_object(&j);
                json_end_object(&j);
        }
        json_end_array(&j);
        json_end_object(&j);
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        assert_int_equal(json_finish(&j, &text, &size), 0);
        struct blobref idx;
        store_put(f, text, size, &idx);

        struct ociarchive_image im = {.name = "docker.io/test/multi:1",
                                      .manifest_digest = idx.digest,
                                      .media_type = OCI_MEDIA_TYPE_INDEX,
                                      .size = idx.size};
        struct ociarchive_stats st = {0};
        _cleanup_free_ char *path = write_ok(f, "multi.tar", &im, 1, EPOCH, &st);
        assert_int_equal(st.n_blobs, 8);
        _cleanup_ociarchive_listing_ struct ociarchive_listing *l = NULL;
        _cleanup_free_ char *err = NULL;
        int r = ociarchive_read(path, NULL, &l, &err);
        if (r < 0)
                fail_msg("%d: %s", r, err);
        assert_int_equal(l->n_images, 1);
        assert_int_equal(l->n_blobs, 8);
        assert_string_equal(l->images[0].media_type, OCI_MEDIA_TYPE_INDEX);
        assert_string_equal(l->images[0].manifest_digest, idx.digest);

        /* A child manifest's layer missing from the archive is found. */
        _cleanup_free_ char *out = tu_path(f->dir, "multi-bad.tar");
        rewrite(path, out, RW_DROP, f->layer[2].digest + 7);
        expect_read_error(out, -ENOENT,
                          (const char *const[]){"docker.io/test/multi:1", f->layer[2].digest, NULL});
        /* And from the store, when writing. */
        _cleanup_free_ char *p = blob_path(f, &f->manifest[1]);
        assert_int_equal(unlink(p), 0);
        expect_write_error(f, &im, 1, -ENOENT,
                           (const char *const[]){"docker.io/test/multi:1", f->manifest[1].digest, NULL});
}

/* Registries serve compact JSON ("a":1, no spaces): parsed the same. */
static void test_compact_json(void **state) {
        struct fx *f = *state;
        _cleanup_free_ char *m =
                strdupf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":"
                        "\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":%zu},"
                        "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\","
                        "\"digest\":\"%s\",\"size\":%zu,\"annotations\":{\"a\":\"b\"}}]}",
                        OCI_MEDIA_TYPE_MANIFEST, f->config[0].digest, f->config[0].size, f->layer[0].digest,
                        f->layer[0].size);
        assert_non_null(m);
        struct blobref mb;
        store_put(f, m, strlen(m), &mb);
        struct ociarchive_image im = {.name = "docker.io/test/compact:1",
                                      .manifest_digest = mb.digest,
                                      .media_type = OCI_MEDIA_TYPE_MANIFEST,
                                      .size = mb.size};
        struct ociarchive_stats st = {0};
        _cleanup_free_ char *path = write_ok(f, "compact.tar", &im, 1, EPOCH, &st);
        assert_int_equal(st.n_blobs, 3);
        _cleanup_ociarchive_listing_ struct ociarchive_listing *l = NULL;
        assert_int_equal(ociarchive_read(path, NULL, &l, NULL), 0);
        assert_int_equal(l->n_blobs, 3);
}

/* ---- the reader against archives it did not write ------------------------- */

/* Copy `in` to `out` entry by entry, changing one thing. */
static void rewrite(const char *in, const char *out, enum rewrite how, const char *hex) {
        struct archive *r = archive_read_new(), *w = archive_write_new();
        archive_read_support_format_tar(r);
        assert_int_equal(archive_read_open_filename(r, in, 1 << 16), ARCHIVE_OK);
        assert_int_equal(archive_write_set_format_pax_restricted(w), ARCHIVE_OK);
        if (how == RW_DOT_GZIP)
                assert_int_equal(archive_write_add_filter_gzip(w), ARCHIVE_OK);
        assert_int_equal(archive_write_open_filename(w, out), ARCHIVE_OK);
        struct archive_entry *e, *index = NULL;
        _cleanup_free_ char *index_data = NULL;
        while (archive_read_next_header(r, &e) == ARCHIVE_OK) {
                const char *name = archive_entry_pathname(e);
                size_t size = (size_t) archive_entry_size(e);
                _cleanup_free_ char *data = malloc(size + 1);
                assert_int_equal(archive_read_data(r, data, size), (la_ssize_t) size);
                if (how == RW_INDEX_LAST && streq(name, "index.json")) {
                        index = archive_entry_clone(e);
                        index_data = TAKE_PTR(data);
                        continue;
                }
                bool target = hex && strstr(name, hex);
                if (how == RW_DROP && target)
                        continue;
                if (how == RW_NO_LAYOUT && streq(name, "oci-layout"))
                        continue;
                if (how == RW_CORRUPT && target)
                        data[size / 2] ^= 0x01;
                struct archive_entry *c = archive_entry_clone(e);
                _cleanup_free_ char *nn = NULL;
                if (how == RW_DOT_GZIP)
                        nn = strdupf("./%s", name);
                if (how == RW_UNSAFE && target)
                        nn = strdupf("../%s", name);
                if (nn)
                        archive_entry_set_pathname(c, nn);
                assert_int_equal(archive_write_header(w, c), ARCHIVE_OK);
                if (size)
                        assert_int_equal(archive_write_data(w, data, size), (la_ssize_t) size);
                archive_entry_free(c);
        }
        if (index) {
                assert_int_equal(archive_write_header(w, index), ARCHIVE_OK);
                size_t size = (size_t) archive_entry_size(index);
                assert_int_equal(archive_write_data(w, index_data, size), (la_ssize_t) size);
                archive_entry_free(index);
        }
        assert_int_equal(archive_write_close(w), ARCHIVE_OK);
        archive_write_free(w);
        archive_read_free(r);
}

static void expect_read_error(const char *path, int want, const char *const *needles) {
        _cleanup_ociarchive_listing_ struct ociarchive_listing *l = NULL;
        _cleanup_free_ char *err = NULL;
        int r = ociarchive_read(path, NULL, &l, &err);
        assert_int_equal(r, want);
        assert_null(l);
        assert_non_null(err);
        for (size_t i = 0; needles[i]; i++)
                if (!strstr(err, needles[i]))
                        fail_msg("error '%s' does not mention '%s'", err, needles[i]);
}

static void test_read_foreign(void **state) {
        struct fx *f = *state;
        _cleanup_free_ char *good = write_ok(f, "good.tar", f->images, 2, EPOCH, NULL);
        _cleanup_free_ char *out = tu_path(f->dir, "x.tar");

        /* "./" names, gzip: read like ours. */
        rewrite(good, out, RW_DOT_GZIP, NULL);
        _cleanup_ociarchive_listing_ struct ociarchive_listing *l = NULL;
        _cleanup_free_ char *err = NULL;
        int r = ociarchive_read(out, NULL, &l, &err);
        if (r < 0)
                fail_msg("%d: %s", r, err);
        assert_int_equal(l->n_images, 2);
        assert_int_equal(l->n_blobs, 7);

        /* index.json after the blobs: the manifests are read on a second pass. */
        rewrite(good, out, RW_INDEX_LAST, NULL);
        ociarchive_listing_free(TAKE_PTR(l));
        r = ociarchive_read(out, NULL, &l, &err);
        if (r < 0)
                fail_msg("%d: %s", r, err);
        assert_int_equal(l->n_images, 2);
        assert_string_equal(l->images[1].name, NAME_A);
        _cleanup_free_ char *out2 = tu_path(f->dir, "y.tar");
        rewrite(out, out2, RW_DROP, f->layer[2].digest + 7);
        expect_read_error(out2, -ENOENT, (const char *const[]){NAME_B, f->layer[2].digest, NULL});

        rewrite(good, out, RW_CORRUPT, f->layer[0].digest + 7);
        expect_read_error(out, -EBADMSG, (const char *const[]){f->layer[0].digest + 7, "has digest", NULL});
        rewrite(good, out, RW_DROP, f->layer[2].digest + 7);
        expect_read_error(out, -ENOENT, (const char *const[]){NAME_B, f->layer[2].digest, NULL});
        rewrite(good, out, RW_DROP, f->manifest[0].digest + 7);
        expect_read_error(out, -ENOENT, (const char *const[]){NAME_A, f->manifest[0].digest, NULL});
        rewrite(good, out, RW_NO_LAYOUT, NULL);
        expect_read_error(out, -EBADMSG, (const char *const[]){"oci-layout", NULL});
        rewrite(good, out, RW_UNSAFE, f->config[0].digest + 7);
        expect_read_error(out, -EBADMSG, (const char *const[]){"unsafe", NULL});

        /* A corrupted archive puts nothing wrong into a store. */
        rewrite(good, out, RW_CORRUPT, f->layer[1].digest + 7);
        _cleanup_free_ char *store2 = tu_path(f->dir, "cas2");
        ociarchive_listing_free(TAKE_PTR(l));
        free(TAKE_PTR(err));
        assert_int_equal(ociarchive_read(out, store2, &l, &err), -EBADMSG);
        _cleanup_free_ char *bad = strdupf("%s/sha256/%s", store2, f->layer[1].digest + 7);
        assert_int_equal(access(bad, F_OK), -1);

        /* Not a tar at all. */
        _cleanup_free_ char *junk = tu_path(f->dir, "junk");
        assert_int_equal(write_file_atomic(junk, "hello\n", 6, 0644), 0);
        expect_read_error(junk, -EBADMSG, (const char *const[]){junk, NULL});
}

/* ---- independent tools --------------------------------------------------- */

static int run(char *const argv[], unsigned timeout, char **ret_out, char **ret_err) {
        struct proc_opts o = {.timeout_sec = timeout, .stdout_fd = -1, .capture_stdout = ret_out != NULL};
        struct proc_result res = {0};
        int r = proc_run(argv, &o, &res);
        if (ret_out)
                *ret_out = TAKE_PTR(res.out);
        if (ret_err)
                *ret_err = res.err_tail ? strdup(res.err_tail) : NULL;
        proc_result_done(&res);
        return r;
}
#define RUN(timeout, out, err, ...) run((char *[]){__VA_ARGS__, NULL}, (timeout), (out), (err))

static bool have(const char *prog) {
        _cleanup_free_ char *err = NULL;
        return RUN(30, NULL, &err, (char *) prog, "--version") != -ENOENT;
}

/* skopeo's oci-archive transport reads the layout itself (Go's
 * containers/image): it selects an image by org.opencontainers.image.ref.name
 * and verifies every blob's digest while copying. */
static void test_skopeo(void **state) {
        struct fx *f = *state;
        if (!have("skopeo"))
                skip();
        _cleanup_free_ char *path = write_ok(f, "out.tar", f->images, 2, EPOCH, NULL);
        _cleanup_free_ char *ref_b = strdupf("oci-archive:%s:v2", path);
        _cleanup_free_ char *out = NULL, *err = NULL;
        int r = RUN(120, &out, &err, "skopeo", "--insecure-policy", "inspect", ref_b);
        if (r < 0)
                fail_msg("skopeo inspect %s: %d: %s", ref_b, r, err ? err : "");
        _cleanup_ynode_ struct ynode *root = NULL;
        assert_int_equal(yaml_parse_one(out, strlen(out), NULL, &root, NULL), 0);
        assert_string_equal(ynode_get_str(root, "Digest"), f->manifest[1].digest);
        assert_string_equal(ynode_get_str(root, "Architecture"), host_arch());
        assert_string_equal(ynode_get_str(root, "Os"), "linux");

        _cleanup_free_ char *ref_a = strdupf("oci-archive:%s:3.10", path);
        _cleanup_free_ char *dir = tu_path(f->dir, "skopeo-out");
        _cleanup_free_ char *dest = strdupf("dir:%s", dir);
        free(TAKE_PTR(err));
        r = RUN(120, NULL, &err, "skopeo", "--insecure-policy", "copy", "--quiet", ref_a, dest);
        if (r < 0)
                fail_msg("skopeo copy %s: %d: %s", ref_a, r, err ? err : "");
        _cleanup_free_ char *mp = tu_path(dir, "manifest.json");
        char hex[SHA256_HEX_LEN + 1];
        assert_int_equal(sha256_file(mp, hex), 0);
        assert_string_equal(hex, f->manifest[0].digest + 7);
        const struct blobref *want[] = {&f->config[0], &f->layer[0], &f->layer[1]};
        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                _cleanup_free_ char *bp = tu_path(dir, want[i]->digest + 7);
                assert_int_equal(sha256_file(bp, hex), 0);
                assert_string_equal(hex, want[i]->digest + 7);
        }

        /* skopeo refuses what the reader refuses: a corrupted layer. */
        _cleanup_free_ char *bad = tu_path(f->dir, "corrupt.tar");
        rewrite(path, bad, RW_CORRUPT, f->layer[1].digest + 7);
        _cleanup_free_ char *ref_bad = strdupf("oci-archive:%s:3.10", bad);
        _cleanup_free_ char *dest2 = strdupf("dir:%s-2", dir);
        free(TAKE_PTR(err));
        r = RUN(120, NULL, &err, "skopeo", "--insecure-policy", "copy", "--quiet", ref_bad, dest2);
        assert_int_equal(r, -EPROTO);
}

/* containerd itself: a private daemon (own root, state, socket; no CRI),
 * `ctr images import` unpacking with the native snapshotter, and the names
 * it lists must be the full references. */
struct ctrd {
        char *dir, *sock, *pidfile;
        bool started;
};

static void ctrd_stop(struct ctrd *c) {
        if (c->started) {
                _cleanup_free_ char *err = NULL;
                int r = RUN(60, NULL, &err, "start-stop-daemon", "--stop", "--quiet", "--pidfile",
                            c->pidfile, "--retry", "TERM/15/KILL/5", "--remove-pidfile");
                if (r < 0)
                        print_message("stopping containerd: %d: %s\n", r, err ? err : "");
                c->started = false;
        }
}

static int ctrd_start(struct ctrd *c, const char *base, char **ret_why) {
        c->dir = tu_path(base, "ctrd");
        assert_int_equal(mkdir_p(c->dir, 0700), 0);
        c->sock = tu_path(c->dir, "sock");
        c->pidfile = tu_path(c->dir, "pid");
        _cleanup_free_ char *cfg = strdupf("version = 2\n"
                                           "root = \"%s/root\"\n"
                                           "state = \"%s/state\"\n"
                                           "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"
                                           "[grpc]\n"
                                           "  address = \"%s\"\n"
                                           "[ttrpc]\n"
                                           "  address = \"%s/ttrpc.sock\"\n",
                                           c->dir, c->dir, c->sock, c->dir);
        tu_write_in(c->dir, "config.toml", cfg);
        _cleanup_free_ char *cfg_path = tu_path(c->dir, "config.toml");
        _cleanup_free_ char *log = tu_path(c->dir, "containerd.log");
        _cleanup_free_ char *err = NULL;
        int r = RUN(30, NULL, &err, "start-stop-daemon", "--start", "--quiet", "--background",
                    "--make-pidfile", "--pidfile", c->pidfile, "--output", log, "--exec",
                    "/usr/bin/containerd", "--", "--config", cfg_path);
        if (r < 0) {
                *ret_why = strdupf("start-stop-daemon: %d: %s", r, err ? err : "");
                return r;
        }
        c->started = true;
        for (int i = 0; i < 100; i++) {
                free(TAKE_PTR(err));
                r = RUN(10, NULL, &err, "ctr", "--address", c->sock, "version");
                if (r >= 0)
                        return 0;
                usleep(200 * 1000);
        }
        _cleanup_free_ char *logtext = NULL;
        size_t n = 0;
        (void) read_file_full(log, 1 << 20, &logtext, &n);
        size_t off = n > 2000 ? n - 2000 : 0;
        *ret_why = strdupf("containerd did not answer on %s: %s\n%s", c->sock, err ? err : "",
                           logtext ? logtext + off : "");
        ctrd_stop(c);
        return -ETIMEDOUT;
}

static void ctrd_done(struct ctrd *c) {
        ctrd_stop(c);
        free(c->dir);
        free(c->sock);
        free(c->pidfile);
}

static void test_containerd_import(void **state) {
        struct fx *f = *state;
        if (geteuid() != 0 || !have("containerd") || !have("ctr") || !have("start-stop-daemon") ||
            access("/usr/bin/containerd", X_OK) < 0)
                skip();
        _cleanup_free_ char *path = write_ok(f, "out.tar", f->images, 2, EPOCH, NULL);
        /* A unix socket path must fit in 108 bytes: f->dir is short. */
        struct ctrd c = {0};
        _cleanup_free_ char *why = NULL;
        if (ctrd_start(&c, f->dir, &why) < 0) {
                print_message("containerd cannot run here, skipping: %s\n", why ? why : "");
                ctrd_done(&c);
                skip();
                return;
        }
        _cleanup_free_ char *out = NULL, *err = NULL;
        int r = RUN(120, &out, &err, "ctr", "--address", c.sock, "-n", "k8s.io", "images", "import",
                    "--snapshotter", "native", path);
        if (r < 0) {
                ctrd_done(&c);
                fail_msg("ctr images import: %d: %s", r, err ? err : "");
        }
        free(TAKE_PTR(out));
        free(TAKE_PTR(err));
        r = RUN(60, &out, &err, "ctr", "--address", c.sock, "-n", "k8s.io", "images", "ls", "-q");
        _cleanup_free_ char *check = NULL, *check_err = NULL;
        int rc = RUN(60, &check, &check_err, "ctr", "--address", c.sock, "-n", "k8s.io", "images", "check",
                     "--snapshotter", "native");
        ctrd_done(&c);
        if (r < 0)
                fail_msg("ctr images ls: %d: %s", r, err ? err : "");
        /* Exactly the two full names, sorted by ctr. */
        assert_string_equal(out, NAME_B "\n" NAME_A "\n");
        if (rc < 0)
                fail_msg("ctr images check: %d: %s", rc, check_err ? check_err : "");
        /* Both "complete (3/3)" (every blob arrived) and unpacked: the
         * layers applied and their diff_ids matched the configs. */
        size_t lines = 0;
        for (char *line = check, *next; line && *line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                if (strncmp(line, "REF", 3) == 0)
                        continue;
                lines++;
                if (!strstr(line, "complete (3/3)") || !strstr(line, " true"))
                        fail_msg("ctr images check: '%s'", line);
        }
        assert_int_equal(lines, 2);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_write_layout, setup, teardown),
                cmocka_unit_test_setup_teardown(test_read_back, setup, teardown),
                cmocka_unit_test_setup_teardown(test_deterministic, setup, teardown),
                cmocka_unit_test_setup_teardown(test_missing_blob, setup, teardown),
                cmocka_unit_test_setup_teardown(test_corrupt_blob, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
                cmocka_unit_test_setup_teardown(test_image_index, setup, teardown),
                cmocka_unit_test_setup_teardown(test_compact_json, setup, teardown),
                cmocka_unit_test_setup_teardown(test_read_foreign, setup, teardown),
                cmocka_unit_test_setup_teardown(test_skopeo, setup, teardown),
                cmocka_unit_test_setup_teardown(test_containerd_import, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
