/* SPDX-License-Identifier: MIT */
#include "ociarchive.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "fsutil.h"
#include "imageref.h"
#include "json.h"
#include "macro.h"
#include "tarx.h"
#include "strv.h"
#include "yamltree.h"

#define COPY_CHUNK (128u * 1024u)
#define OCI_LAYOUT_MAX 4096u

static const struct yaml_limits manifest_limits = {
        .max_input = OCIARCHIVE_MANIFEST_MAX,
        .max_depth = 16,
        .max_nodes = 20 * OCIARCHIVE_DESCRIPTORS_MAX + 1000,
        .max_documents = 1,
};

/* libarchive's errno as a negative errno; "not an archive" and corrupt data
 * (ARCHIVE_ERRNO_FILE_FORMAT, EILSEQ) become -EBADMSG. */
static int archive_errno_neg(struct archive *a) {
        int e = archive_errno(a);
        if (e == EILSEQ) /* ARCHIVE_ERRNO_FILE_FORMAT */
                return -EBADMSG;
        return e > 0 ? -e : -EIO;
}

/* ---- descriptors and manifests ------------------------------------------------ */

/* "sha256:<64 lowercase hex>": the hex part, or NULL. */
static const char *digest_hex(const char *digest) {
        if (!digest || strncmp(digest, "sha256:", 7) != 0)
                return NULL;
        const char *hex = digest + 7;
        size_t n = 0;
        for (; hex[n]; n++)
                if (!((hex[n] >= '0' && hex[n] <= '9') || (hex[n] >= 'a' && hex[n] <= 'f')))
                        return NULL;
        return n == SHA256_HEX_LEN ? hex : NULL;
}

static bool hex_valid(const char *s) {
        size_t n = 0;
        for (; s[n]; n++)
                if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
                        return false;
        return n == SHA256_HEX_LEN;
}

static bool media_type_is_index(const char *mt) {
        return streq(mt, OCI_MEDIA_TYPE_INDEX) || streq(mt, DOCKER_MEDIA_TYPE_MANIFEST_LIST);
}
static bool media_type_is_manifest(const char *mt) {
        return streq(mt, OCI_MEDIA_TYPE_MANIFEST) || streq(mt, DOCKER_MEDIA_TYPE_MANIFEST);
}

struct desc {
        char hex[SHA256_HEX_LEN + 1];
        uint64_t size;
        char *media_type;
        const char *role; /* "config", "layer", "manifest" (static) */
};

static void descs_free(struct desc *d, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(d[i].media_type);
        free(d);
}

static int parse_u64(const struct ynode *n, uint64_t *ret) {
        if (!n || n->kind != YNODE_SCALAR || !n->plain || !n->value[0])
                return -EINVAL;
        uint64_t v = 0;
        for (const char *p = n->value; *p; p++) {
                if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
                        return -EINVAL;
                v = v * 10 + (uint64_t) (*p - '0');
        }
        *ret = v;
        return 0;
}

/* A descriptor: mediaType, digest (sha256 only), size. */
static int parse_desc(const struct ynode *n, const char *role, const char *where, struct desc *ret,
                      char **err) {
        if (!n || n->kind != YNODE_MAPPING)
                return set_error(err, -EBADMSG, "%s: %s descriptor is not an object", where, role);
        const char *mt = ynode_get_str(n, "mediaType");
        const char *digest = ynode_get_str(n, "digest");
        uint64_t size;
        if (!mt || !mt[0])
                return set_error(err, -EBADMSG, "%s:%zu: %s descriptor has no mediaType", where, n->line,
                                 role);
        if (!digest)
                return set_error(err, -EBADMSG, "%s:%zu: %s descriptor has no digest", where, n->line, role);
        const char *hex = digest_hex(digest);
        if (!hex) {
                _cleanup_free_ char *p = ystr_printable(digest, 80);
                return set_error(err,
                                 strncmp(digest, "sha256:", 7) == 0 || !strchr(digest, ':') ? -EBADMSG
                                                                                            : -EOPNOTSUPP,
                                 "%s:%zu: %s digest '%s' is not sha256:<64 lowercase hex>", where, n->line,
                                 role, p ? p : "?");
        }
        if (parse_u64(ynode_get(n, "size"), &size) < 0)
                return set_error(err, -EBADMSG, "%s:%zu: %s descriptor has no valid size", where, n->line,
                                 role);
        char *m = strdup(mt);
        if (!m)
                return -ENOMEM;
        memcpy(ret->hex, hex, SHA256_HEX_LEN + 1);
        ret->size = size;
        ret->media_type = m;
        ret->role = role;
        return 0;
}

static int descs_push(struct desc **v, size_t *n, const struct desc *d) {
        if (*n >= OCIARCHIVE_DESCRIPTORS_MAX)
                return -E2BIG;
        struct desc *nv = reallocarray(*v, *n + 1, sizeof **v);
        if (!nv)
                return -ENOMEM;
        nv[(*n)++] = *d;
        *v = nv;
        return 0;
}

/* The blobs a manifest or index refers to: config + layers, or the child
 * manifests. `where` names the manifest in messages. */
static int manifest_children(const char *data, size_t size, const char *media_type, const char *where,
                             struct desc **ret, size_t *ret_n, char **err) {
        _cleanup_ynode_ struct ynode *root = NULL;
        _cleanup_free_ char *perr = NULL;
        int r = yaml_parse_one(data, size, &manifest_limits, &root, &perr);
        if (r < 0)
                return set_error(err, r == -ENOMEM ? r : -EBADMSG, "%s: not valid JSON: %s", where,
                                 perr ? perr : strerror(-r));
        if (root->kind != YNODE_MAPPING)
                return set_error(err, -EBADMSG, "%s: not a JSON object", where);
        uint64_t sv;
        if (parse_u64(ynode_get(root, "schemaVersion"), &sv) < 0 || sv != 2)
                return set_error(err, -EBADMSG, "%s: schemaVersion is not 2", where);
        const char *mt = ynode_get_str(root, "mediaType");
        if (mt && !streq(mt, media_type)) {
                _cleanup_free_ char *p = ystr_printable(mt, 100);
                return set_error(err, -EBADMSG, "%s: mediaType '%s' differs from its descriptor's '%s'",
                                 where, p ? p : "?", media_type);
        }

        struct desc *v = NULL;
        size_t n = 0;
        struct desc d;
        if (media_type_is_index(media_type)) {
                const struct ynode *ms = ynode_get(root, "manifests");
                if (!ms || ms->kind != YNODE_SEQUENCE) {
                        r = set_error(err, -EBADMSG, "%s: no manifests array", where);
                        goto fail;
                }
                for (size_t i = 0; i < ms->n_items; i++) {
                        r = parse_desc(ms->items[i], "manifest", where, &d, err);
                        if (r < 0)
                                goto fail;
                        if (!media_type_is_manifest(d.media_type)) {
                                r = set_error(err, -EMEDIUMTYPE,
                                              "%s: child manifest sha256:%s has media type '%s'", where,
                                              d.hex, d.media_type);
                                free(d.media_type);
                                goto fail;
                        }
                        r = descs_push(&v, &n, &d);
                        if (r < 0) {
                                free(d.media_type);
                                goto fail_limit;
                        }
                }
        } else {
                r = parse_desc(ynode_get(root, "config"), "config", where, &d, err);
                if (r < 0)
                        goto fail;
                r = descs_push(&v, &n, &d);
                if (r < 0) {
                        free(d.media_type);
                        goto fail_limit;
                }
                const struct ynode *ls = ynode_get(root, "layers");
                if (!ls || ls->kind != YNODE_SEQUENCE) {
                        r = set_error(err, -EBADMSG, "%s: no layers array", where);
                        goto fail;
                }
                for (size_t i = 0; i < ls->n_items; i++) {
                        r = parse_desc(ls->items[i], "layer", where, &d, err);
                        if (r < 0)
                                goto fail;
                        r = descs_push(&v, &n, &d);
                        if (r < 0) {
                                free(d.media_type);
                                goto fail_limit;
                        }
                }
        }
        *ret = v;
        *ret_n = n;
        return 0;

fail_limit:
        if (r == -E2BIG)
                r = set_error(err, r, "%s: more than %u descriptors", where, OCIARCHIVE_DESCRIPTORS_MAX);
fail:
        descs_free(v, n);
        return r;
}

/* ---- writer ------------------------------------------------------------------ */

struct wblob {
        char hex[SHA256_HEX_LEN + 1];
        uint64_t size;
        const char *image; /* a name, for messages */
        const char *role;
};

struct wentry {
        char *name; /* io.containerd.image.name */
        char *tag;  /* org.opencontainers.image.ref.name or NULL */
        const char *digest, *media_type;
        uint64_t size;
};

struct wplan {
        const char *cas_dir;
        struct wblob *blobs;
        size_t n_blobs;
        struct wentry *entries;
        size_t n_entries;
};

static void wplan_done(struct wplan *p) {
        free(p->blobs);
        for (size_t i = 0; i < p->n_entries; i++) {
                free(p->entries[i].name);
                free(p->entries[i].tag);
        }
        free(p->entries);
}

static char *store_path(const char *cas_dir, const char *hex) {
        return strdupf("%s/sha256/%s", cas_dir, hex);
}

static int plan_add_blob(struct wplan *p, const char *hex, uint64_t size, const char *image,
                         const char *role) {
        if (p->n_blobs >= OCIARCHIVE_ENTRIES_MAX)
                return -E2BIG;
        struct wblob *nv = reallocarray(p->blobs, p->n_blobs + 1, sizeof *nv);
        if (!nv)
                return -ENOMEM;
        p->blobs = nv;
        struct wblob *b = &nv[p->n_blobs++];
        memcpy(b->hex, hex, SHA256_HEX_LEN + 1);
        b->size = size;
        b->image = image;
        b->role = role;
        return 0;
}

/* Read a manifest from the store, checking size and digest. */
static int load_manifest(const char *cas_dir, const char *hex, uint64_t size, const char *image,
                         const char *role, char **ret, size_t *ret_size, char **err) {
        if (size > OCIARCHIVE_MANIFEST_MAX)
                return set_error(err, -E2BIG, "image %s: %s sha256:%s is %" PRIu64 " bytes, more than %u",
                                 image, role, hex, size, OCIARCHIVE_MANIFEST_MAX);
        _cleanup_free_ char *path = store_path(cas_dir, hex);
        if (!path)
                return -ENOMEM;
        _cleanup_free_ char *data = NULL;
        size_t n = 0;
        int r = read_regular_file(path, OCIARCHIVE_MANIFEST_MAX, &data, &n);
        if (r == -ENOENT)
                return set_error(err, r, "image %s: %s sha256:%s is missing from the store (%s)", image,
                                 role, hex, path);
        if (r == -EFBIG)
                return set_error(err, -EBADMSG,
                                 "image %s: %s sha256:%s in the store is larger than %" PRIu64 " bytes",
                                 image, role, hex, size);
        if (r < 0)
                return set_error(err, r, "image %s: cannot read %s %s: %s", image, role, path, strerror(-r));
        if (n != size)
                return set_error(
                        err, -EBADMSG,
                        "image %s: %s sha256:%s is %zu bytes in the store, its descriptor says %" PRIu64,
                        image, role, hex, n, size);
        char got[SHA256_HEX_LEN + 1];
        r = sha256_buffer(data, n, got);
        if (r < 0)
                return r;
        if (!streq(got, hex))
                return set_error(err, -EBADMSG,
                                 "image %s: %s sha256:%s in the store has digest sha256:%s (%s)", image,
                                 role, hex, got, path);
        *ret = TAKE_PTR(data);
        *ret_size = n;
        return 0;
}

/* Add a manifest and what it references to the plan; an index adds its child
 * manifests (which may not be indexes). */
static int plan_manifest(struct wplan *p, const char *image, const char *hex, const char *media_type,
                         uint64_t size, const char *role, int depth, char **err) {
        if (!media_type_is_manifest(media_type) && !media_type_is_index(media_type))
                return set_error(err, -EMEDIUMTYPE, "image %s: %s sha256:%s has unsupported media type '%s'",
                                 image, role, hex, media_type);
        _cleanup_free_ char *data = NULL;
        size_t n = 0;
        int r = load_manifest(p->cas_dir, hex, size, image, role, &data, &n, err);
        if (r < 0)
                return r;
        r = plan_add_blob(p, hex, size, image, role);
        if (r < 0)
                return r;
        _cleanup_free_ char *where = strdupf("image %s: %s sha256:%s", image, role, hex);
        if (!where)
                return -ENOMEM;
        struct desc *d = NULL;
        size_t nd = 0;
        r = manifest_children(data, n, media_type, where, &d, &nd, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < nd && r >= 0; i++) {
                if (streq(d[i].role, "manifest")) {
                        if (depth > 0)
                                r = set_error(err, -EMEDIUMTYPE, "%s: nested index", where);
                        else
                                r = plan_manifest(p, image, d[i].hex, d[i].media_type, d[i].size, "manifest",
                                                  depth + 1, err);
                } else
                        r = plan_add_blob(p, d[i].hex, d[i].size, image, d[i].role);
        }
        descs_free(d, nd);
        return r;
}

static int cmp_blob(const void *a, const void *b) {
        return strcmp(((const struct wblob *) a)->hex, ((const struct wblob *) b)->hex);
}
static int cmp_entry(const void *a, const void *b) {
        return strcmp(((const struct wentry *) a)->name, ((const struct wentry *) b)->name);
}

static int plan_build(struct wplan *p, const struct ociarchive_image *images, size_t n_images,
                      struct ociarchive_stats *stats, char **err) {
        if (n_images == 0)
                return set_error(err, -EINVAL, "no images to write");
        if (n_images > OCIARCHIVE_DESCRIPTORS_MAX)
                return set_error(err, -E2BIG, "more than %u images in one archive",
                                 OCIARCHIVE_DESCRIPTORS_MAX);
        p->entries = calloc(n_images, sizeof *p->entries);
        if (!p->entries)
                return -ENOMEM;

        for (size_t i = 0; i < n_images; i++) {
                const struct ociarchive_image *im = &images[i];
                struct imageref ref;
                const char *why = NULL;
                if (!im->name)
                        return set_error(err, -EINVAL, "image %zu has no name", i);
                if (imageref_parse(im->name, &ref, &why) < 0) {
                        _cleanup_free_ char *pn = ystr_printable(im->name, 300);
                        return set_error(err, -EINVAL, "image '%s': invalid reference: %s", pn ? pn : "?",
                                         why);
                }
                struct wentry *e = &p->entries[p->n_entries++];
                e->name = imageref_format_runtime(&ref);
                if (!e->name)
                        return -ENOMEM;
                if (ref.tag[0]) {
                        e->tag = strdup(ref.tag);
                        if (!e->tag)
                                return -ENOMEM;
                }
                const char *hex = digest_hex(im->manifest_digest);
                if (!hex)
                        return set_error(err, -EINVAL,
                                         "image %s: manifest digest '%s' is not sha256:<64 lowercase hex>",
                                         e->name, im->manifest_digest ? im->manifest_digest : "(null)");
                if (ref.digest[0] && !streq(ref.digest, im->manifest_digest))
                        return set_error(err, -EINVAL,
                                         "image %s: the reference's digest is not the manifest's (%s)",
                                         e->name, im->manifest_digest);
                if (!im->media_type)
                        return set_error(err, -EINVAL, "image %s: no manifest media type", e->name);
                e->digest = im->manifest_digest;
                e->media_type = im->media_type;
                e->size = im->size;
        }

        qsort(p->entries, p->n_entries, sizeof *p->entries, cmp_entry);
        /* One name, one manifest; repeats of an identical entry are dropped. */
        size_t k = 0;
        for (size_t i = 0; i < p->n_entries; i++) {
                struct wentry *e = &p->entries[i];
                if (k > 0 && streq(p->entries[k - 1].name, e->name)) {
                        struct wentry *prev = &p->entries[k - 1];
                        if (!streq(prev->digest, e->digest) || !streq(prev->media_type, e->media_type) ||
                            prev->size != e->size)
                                return set_error(err, -EINVAL, "image %s is given twice, as %s and as %s",
                                                 e->name, prev->digest, e->digest);
                        free(e->name);
                        free(e->tag);
                        continue;
                }
                p->entries[k++] = *e;
        }
        p->n_entries = k;

        for (size_t i = 0; i < p->n_entries; i++) {
                const struct wentry *e = &p->entries[i];
                int r = plan_manifest(p, e->name, e->digest + 7, e->media_type, e->size, "manifest", 0, err);
                if (r == -E2BIG && !*err)
                        return set_error(err, r, "more than %u blobs", OCIARCHIVE_ENTRIES_MAX);
                if (r < 0)
                        return r;
        }

        /* Sort, and keep each blob once; one digest with two sizes is an error. */
        qsort(p->blobs, p->n_blobs, sizeof *p->blobs, cmp_blob);
        k = 0;
        for (size_t i = 0; i < p->n_blobs; i++) {
                if (k > 0 && streq(p->blobs[k - 1].hex, p->blobs[i].hex)) {
                        if (p->blobs[k - 1].size != p->blobs[i].size)
                                return set_error(err, -EBADMSG,
                                                 "blob sha256:%s has size %" PRIu64
                                                 " in image %s and %" PRIu64 " in image %s",
                                                 p->blobs[i].hex, p->blobs[k - 1].size,
                                                 p->blobs[k - 1].image, p->blobs[i].size, p->blobs[i].image);
                        stats->dedup_bytes += p->blobs[i].size;
                        continue;
                }
                p->blobs[k++] = p->blobs[i];
                stats->blob_bytes += p->blobs[i].size;
        }
        p->n_blobs = k;
        stats->n_blobs = k;
        return 0;
}

static int index_json(const struct wplan *p, char **ret, size_t *ret_size) {
        struct json j = {0};
        json_begin_object(&j);
        json_key(&j, "schemaVersion");
        json_uint(&j, 2);
        json_kv_string(&j, "mediaType", OCI_MEDIA_TYPE_INDEX);
        json_key(&j, "manifests");
        json_begin_array(&j);
        for (size_t i = 0; i < p->n_entries; i++) {
                const struct wentry *e = &p->entries[i];
                json_begin_object(&j);
                json_kv_string(&j, "mediaType", e->media_type);
                json_kv_string(&j, "digest", e->digest);
                json_kv_uint(&j, "size", e->size);
                json_key(&j, "annotations");
                json_begin_object(&j);
                json_kv_string(&j, CONTAINERD_ANNOTATION_IMAGE_NAME, e->name);
                if (e->tag)
                        json_kv_string(&j, OCI_ANNOTATION_REF_NAME, e->tag);
                json_end_object(&j);
                json_end_object(&j);
        }
        json_end_array(&j);
        json_end_object(&j);
        return json_finish(&j, ret, ret_size);
}

static struct archive_entry *new_entry(const char *name, mode_t type, mode_t perm, uint64_t size,
                                       int64_t mtime) {
        struct archive_entry *e = archive_entry_new();
        if (!e)
                return NULL;
        archive_entry_set_pathname(e, name);
        archive_entry_set_filetype(e, type);
        archive_entry_set_perm(e, perm);
        archive_entry_set_size(e, (la_int64_t) size);
        archive_entry_set_mtime(e, mtime, 0);
        archive_entry_set_uid(e, 0);
        archive_entry_set_gid(e, 0);
        return e;
}

static int write_header(struct archive *a, struct archive_entry *e, char **err) {
        if (archive_write_header(a, e) != ARCHIVE_OK)
                return set_error(err, archive_errno_neg(a), "cannot write archive entry %s: %s",
                                 archive_entry_pathname(e), archive_error_string(a) ?: "unknown error");
        return 0;
}

static int write_data(struct archive *a, const void *buf, size_t n, const char *name, char **err) {
        la_ssize_t w = archive_write_data(a, buf, n);
        if (w < 0 || (size_t) w != n)
                return set_error(err, w < 0 ? archive_errno_neg(a) : -EIO,
                                 "cannot write %s into the archive: %s", name,
                                 archive_error_string(a) ?: "short write");
        return 0;
}

static int write_mem(struct archive *a, const char *name, const void *data, size_t size, int64_t mtime,
                     char **err) {
        _cleanup_(archive_entry_freep) struct archive_entry *e =
                new_entry(name, AE_IFREG, 0644, size, mtime);
        if (!e)
                return -ENOMEM;
        int r = write_header(a, e, err);
        if (r < 0)
                return r;
        return write_data(a, data, size, name, err);
}

static int write_dir(struct archive *a, const char *name, int64_t mtime, char **err) {
        _cleanup_(archive_entry_freep) struct archive_entry *e = new_entry(name, AE_IFDIR, 0755, 0, mtime);
        if (!e)
                return -ENOMEM;
        return write_header(a, e, err);
}

/* Stream one blob from the store into the archive, checking size and digest. */
/* `fd` is the archive's file, *synced how far its writeback was started. */
static int write_blob(struct archive *a, int fd_out, uint64_t *synced, const char *cas_dir,
                      const struct wblob *b, int64_t mtime, char **err) {
        _cleanup_free_ char *path = store_path(cas_dir, b->hex);
        _cleanup_free_ char *name = strdupf("blobs/sha256/%s", b->hex);
        if (!path || !name)
                return -ENOMEM;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0) {
                int r = negative_errno();
                if (r == -ENOENT)
                        return set_error(err, r, "image %s: %s sha256:%s is missing from the store (%s)",
                                         b->image, b->role, b->hex, path);
                return set_error(err, r, "image %s: cannot open %s: %s", b->image, path, strerror(-r));
        }
        struct stat st;
        if (fstat(fd, &st) < 0)
                return set_error(err, negative_errno(), "cannot stat %s: %m", path);
        if (!S_ISREG(st.st_mode))
                return set_error(err, -EBADMSG, "image %s: %s in the store is not a regular file", b->image,
                                 path);
        if ((uint64_t) st.st_size != b->size)
                return set_error(err, -EBADMSG,
                                 "image %s: %s sha256:%s is %" PRIu64
                                 " bytes in the store, its descriptor says %" PRIu64,
                                 b->image, b->role, b->hex, (uint64_t) st.st_size, b->size);

        _cleanup_(archive_entry_freep) struct archive_entry *e =
                new_entry(name, AE_IFREG, 0644, b->size, mtime);
        _cleanup_sha256_ struct sha256 *h = NULL;
        _cleanup_free_ char *buf = malloc(COPY_CHUNK);
        if (!e || !buf)
                return -ENOMEM;
        int r = sha256_new(&h);
        if (r < 0)
                return r;
        r = write_header(a, e, err);
        if (r < 0)
                return r;

        uint64_t done = 0;
        for (;;) {
                ssize_t n = read(fd, buf, COPY_CHUNK);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return set_error(err, negative_errno(), "cannot read %s: %m", path);
                }
                if (n == 0)
                        break;
                if ((uint64_t) n > b->size - done)
                        return set_error(err, -EBADMSG, "image %s: %s sha256:%s grew while being read (%s)",
                                         b->image, b->role, b->hex, path);
                done += (uint64_t) n;
                r = sha256_update(h, buf, (size_t) n);
                if (r < 0)
                        return r;
                r = write_data(a, buf, (size_t) n, name, err);
                if (r < 0)
                        return r;
                off_t pos = lseek(fd_out, 0, SEEK_CUR);
                if (pos > 0)
                        writeback_hint(fd_out, (uint64_t) pos, synced);
        }
        if (done != b->size)
                return set_error(err, -EBADMSG, "image %s: %s sha256:%s shrank while being read (%s)",
                                 b->image, b->role, b->hex, path);
        char got[SHA256_HEX_LEN + 1];
        r = sha256_final(h, got, NULL);
        if (r < 0)
                return r;
        if (!streq(got, b->hex))
                return set_error(err, -EBADMSG,
                                 "image %s: %s sha256:%s in the store has digest sha256:%s (%s)", b->image,
                                 b->role, b->hex, got, path);
        return 0;
}

static int write_archive(int fd, const struct wplan *p, int64_t mtime, char **err) {
        static const char layout[] = "{\"imageLayoutVersion\": \"1.0.0\"}\n";
        _cleanup_free_ char *index = NULL;
        size_t index_size = 0;
        int r = index_json(p, &index, &index_size);
        if (r < 0)
                return r;

        _cleanup_(archive_write_freep) struct archive *a = archive_write_new();
        if (!a)
                return -ENOMEM;
        if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
            archive_write_add_filter_none(a) != ARCHIVE_OK || archive_write_open_fd(a, fd) != ARCHIVE_OK)
                return set_error(err, archive_errno_neg(a), "cannot start the archive: %s",
                                 archive_error_string(a) ?: "unknown error");

        r = write_mem(a, "oci-layout", layout, sizeof layout - 1, mtime, err);
        if (r >= 0)
                r = write_mem(a, "index.json", index, index_size, mtime, err);
        if (r >= 0)
                r = write_dir(a, "blobs/", mtime, err);
        if (r >= 0)
                r = write_dir(a, "blobs/sha256/", mtime, err);
        uint64_t synced = 0;
        for (size_t i = 0; i < p->n_blobs && r >= 0; i++)
                r = write_blob(a, fd, &synced, p->cas_dir, &p->blobs[i], mtime, err);
        if (r < 0)
                return r;
        if (archive_write_close(a) != ARCHIVE_OK)
                return set_error(err, archive_errno_neg(a), "cannot finish the archive: %s",
                                 archive_error_string(a) ?: "unknown error");
        return 0;
}

int ociarchive_write(const char *path, const char *cas_dir, const struct ociarchive_image *images,
                     size_t n_images, int64_t source_date_epoch, struct ociarchive_stats *ret_stats,
                     char **ret_error) {
        _cleanup_free_ char *err = NULL;
        struct wplan p = {.cas_dir = cas_dir};
        struct ociarchive_stats stats = {0};
        _cleanup_free_ char *tmp = NULL;
        int fd = -1, r;

        if (!path || !cas_dir || (!images && n_images > 0)) {
                r = -EINVAL;
                goto out;
        }
        if (source_date_epoch < 0) {
                r = set_error(&err, -EINVAL, "SOURCE_DATE_EPOCH %" PRId64 " is negative", source_date_epoch);
                goto out;
        }
        r = plan_build(&p, images, n_images, &stats, &err);
        if (r < 0)
                goto out;

        tmp = strdupf("%s.tmp-XXXXXX", path);
        if (!tmp) {
                r = -ENOMEM;
                goto out;
        }
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0) {
                r = set_error(&err, negative_errno(), "cannot create a temporary file beside %s: %m", path);
                free(tmp);
                tmp = NULL;
                goto out;
        }
        r = write_archive(fd, &p, source_date_epoch, &err);
        if (r < 0)
                goto out;
        if (fchmod(fd, 0644) < 0 || fsync(fd) < 0) {
                r = set_error(&err, negative_errno(), "cannot write %s: %m", tmp);
                goto out;
        }
        r = close(fd);
        fd = -1;
        if (r < 0) {
                r = set_error(&err, negative_errno(), "cannot write %s: %m", tmp);
                goto out;
        }
        if (rename(tmp, path) < 0) {
                r = set_error(&err, negative_errno(), "cannot rename %s to %s: %m", tmp, path);
                goto out;
        }
        free(tmp);
        tmp = NULL;
        r = fsync_parent_dir(path);
        if (r < 0) {
                r = set_error(&err, r, "cannot sync the directory of %s: %s", path, strerror(-r));
                goto out;
        }
        if (ret_stats)
                *ret_stats = stats;
        r = 0;
out:
        if (fd >= 0)
                close(fd);
        if (tmp)
                (void) unlink(tmp);
        wplan_done(&p);
        if (r < 0 && ret_error && err)
                *ret_error = TAKE_PTR(err);
        return r;
}

/* ---- reader ------------------------------------------------------------------ */

struct rblob {
        char hex[SHA256_HEX_LEN + 1];
        uint64_t size;
};

/* A manifest whose content the reader needs. */
struct rwant {
        char hex[SHA256_HEX_LEN + 1];
        uint64_t size;
        char *media_type;
        const char *image; /* name for messages (owned by the listing) */
        int depth;         /* 0: from index.json, 1: child of an index */
        char *data;
        bool loaded, checked;
};

struct rstate {
        const char *path;
        const char *cas_dir;
        struct rblob *blobs;
        size_t n_blobs;
        struct rwant *wants;
        size_t n_wants;
        bool wants_sorted;
        bool have_layout;
        char *index;
        size_t index_size;
        struct ociarchive_listing *listing;
        char *store_dir;
};

void ociarchive_listing_free(struct ociarchive_listing *l) {
        if (!l)
                return;
        for (size_t i = 0; i < l->n_images; i++) {
                free(l->images[i].name);
                free(l->images[i].ref_name);
                free(l->images[i].manifest_digest);
                free(l->images[i].media_type);
        }
        free(l->images);
        free(l);
}

static void rstate_done(struct rstate *s) {
        free(s->blobs);
        for (size_t i = 0; i < s->n_wants; i++) {
                free(s->wants[i].media_type);
                free(s->wants[i].data);
        }
        free(s->wants);
        free(s->index);
        free(s->store_dir);
        ociarchive_listing_free(s->listing);
}

static int cmp_rblob(const void *a, const void *b) {
        return strcmp(((const struct rblob *) a)->hex, ((const struct rblob *) b)->hex);
}
static int cmp_rwant(const void *a, const void *b) {
        return strcmp(((const struct rwant *) a)->hex, ((const struct rwant *) b)->hex);
}

static struct rwant *want_find(struct rstate *s, const char *hex) {
        if (s->n_wants == 0)
                return NULL;
        if (!s->wants_sorted) {
                qsort(s->wants, s->n_wants, sizeof *s->wants, cmp_rwant);
                s->wants_sorted = true;
        }
        struct rwant key = {0};
        memcpy(key.hex, hex, SHA256_HEX_LEN + 1);
        return bsearch(&key, s->wants, s->n_wants, sizeof *s->wants, cmp_rwant);
}

static const struct rblob *blob_find(const struct rstate *s, const char *hex) {
        if (s->n_blobs == 0)
                return NULL;
        struct rblob key = {0};
        memcpy(key.hex, hex, SHA256_HEX_LEN + 1);
        return bsearch(&key, s->blobs, s->n_blobs, sizeof *s->blobs, cmp_rblob);
}

static int want_add(struct rstate *s, const char *hex, uint64_t size, const char *media_type,
                    const char *image, int depth) {
        for (size_t i = 0; i < s->n_wants; i++) /* small: one per image and child manifest */
                if (streq(s->wants[i].hex, hex))
                        return 0;
        if (s->n_wants >= OCIARCHIVE_ENTRIES_MAX)
                return -E2BIG;
        struct rwant *nv = reallocarray(s->wants, s->n_wants + 1, sizeof *nv);
        if (!nv)
                return -ENOMEM;
        s->wants = nv;
        char *mt = strdup(media_type);
        if (!mt)
                return -ENOMEM;
        nv[s->n_wants++] = (struct rwant){.size = size, .media_type = mt, .image = image, .depth = depth};
        memcpy(nv[s->n_wants - 1].hex, hex, SHA256_HEX_LEN + 1);
        s->wants_sorted = false;
        return 0;
}

/* index.json -> the listing, and the top-level manifests wanted. */
static int parse_index(struct rstate *s, char **err) {
        _cleanup_ynode_ struct ynode *root = NULL;
        _cleanup_free_ char *perr = NULL;
        int r = yaml_parse_one(s->index, s->index_size, &manifest_limits, &root, &perr);
        if (r < 0)
                return set_error(err, r == -ENOMEM ? r : -EBADMSG, "%s: index.json: not valid JSON: %s",
                                 s->path, perr ? perr : strerror(-r));
        uint64_t sv;
        if (root->kind != YNODE_MAPPING || parse_u64(ynode_get(root, "schemaVersion"), &sv) < 0 || sv != 2)
                return set_error(err, -EBADMSG, "%s: index.json is not an image index with schemaVersion 2",
                                 s->path);
        const char *mt = ynode_get_str(root, "mediaType");
        if (mt && !streq(mt, OCI_MEDIA_TYPE_INDEX))
                return set_error(err, -EBADMSG, "%s: index.json has mediaType '%s'", s->path, mt);
        const struct ynode *ms = ynode_get(root, "manifests");
        if (!ms || ms->kind != YNODE_SEQUENCE)
                return set_error(err, -EBADMSG, "%s: index.json has no manifests array", s->path);
        if (ms->n_items > OCIARCHIVE_DESCRIPTORS_MAX)
                return set_error(err, -E2BIG, "%s: index.json lists more than %u manifests", s->path,
                                 OCIARCHIVE_DESCRIPTORS_MAX);

        s->listing = calloc(1, sizeof *s->listing);
        if (!s->listing)
                return -ENOMEM;
        s->listing->images = calloc(ms->n_items ? ms->n_items : 1, sizeof *s->listing->images);
        if (!s->listing->images)
                return -ENOMEM;
        _cleanup_free_ char *where = strdupf("%s: index.json", s->path);
        if (!where)
                return -ENOMEM;
        for (size_t i = 0; i < ms->n_items; i++) {
                struct desc d;
                r = parse_desc(ms->items[i], "manifest", where, &d, err);
                if (r < 0)
                        return r;
                struct ociarchive_entry *e = &s->listing->images[s->listing->n_images++];
                e->media_type = d.media_type;
                e->size = d.size;
                e->manifest_digest = strdupf("sha256:%s", d.hex);
                if (!e->manifest_digest)
                        return -ENOMEM;
                const struct ynode *an = ynode_get(ms->items[i], "annotations");
                const char *cname = an ? ynode_get_str(an, CONTAINERD_ANNOTATION_IMAGE_NAME) : NULL;
                const char *rname = an ? ynode_get_str(an, OCI_ANNOTATION_REF_NAME) : NULL;
                if (rname && !(e->ref_name = strdup(rname)))
                        return -ENOMEM;
                if ((cname || rname) && !(e->name = strdup(cname ? cname : rname)))
                        return -ENOMEM;
                if (!media_type_is_manifest(d.media_type) && !media_type_is_index(d.media_type))
                        return set_error(err, -EMEDIUMTYPE,
                                         "%s: image %s: manifest %s has unsupported media type '%s'",
                                         s->path, e->name ? e->name : "(unnamed)", e->manifest_digest,
                                         d.media_type);
                if (d.size > OCIARCHIVE_MANIFEST_MAX)
                        return set_error(err, -E2BIG, "%s: image %s: manifest %s is larger than %u bytes",
                                         s->path, e->name ? e->name : "(unnamed)", e->manifest_digest,
                                         OCIARCHIVE_MANIFEST_MAX);
                r = want_add(s, d.hex, d.size, d.media_type, e->name ? e->name : e->manifest_digest, 0);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* "./a/b" -> "a/b"; NULL for names that leave the archive. */
static const char *entry_name(const char *name) {
        while (name[0] == '.' && name[1] == '/')
                name += 2;
        if (name[0] == '/')
                return NULL;
        for (const char *p = name; (p = strstr(p, "..")); p += 2)
                if ((p == name || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
                        return NULL;
        return name;
}

static int read_small(struct archive *a, struct archive_entry *e, size_t max, const char *what,
                      const char *path, char **ret, size_t *ret_size, char **err) {
        la_int64_t size = archive_entry_size(e);
        if (!archive_entry_size_is_set(e) || size < 0 || (uint64_t) size > max)
                return set_error(err, -E2BIG, "%s: %s is larger than %zu bytes", path, what, max);
        _cleanup_free_ char *buf = malloc((size_t) size + 1);
        if (!buf)
                return -ENOMEM;
        size_t got = 0;
        while (got < (size_t) size) {
                la_ssize_t n = archive_read_data(a, buf + got, (size_t) size - got);
                if (n < 0)
                        return set_error(err, archive_errno_neg(a), "%s: cannot read %s: %s", path, what,
                                         archive_error_string(a) ?: "unknown error");
                if (n == 0)
                        break;
                got += (size_t) n;
        }
        if (got != (size_t) size)
                return set_error(err, -EBADMSG, "%s: %s is truncated", path, what);
        buf[got] = '\0';
        *ret = TAKE_PTR(buf);
        *ret_size = got;
        return 0;
}

static int check_layout(const char *data, size_t size, const char *path, char **err) {
        _cleanup_ynode_ struct ynode *root = NULL;
        int r = yaml_parse_one(data, size, &manifest_limits, &root, NULL);
        if (r == -ENOMEM)
                return r;
        const char *v = r >= 0 ? ynode_get_str(root, "imageLayoutVersion") : NULL;
        if (!v || !streq(v, "1.0.0"))
                return set_error(err, -EBADMSG, "%s: oci-layout does not say imageLayoutVersion 1.0.0",
                                 path);
        return 0;
}

/* Put a verified blob into the store: rename the temp file, or drop it when
 * the blob is there already. */
static int store_commit(struct rstate *s, int fd, const char *tmp, const char *hex, char **err) {
        _cleanup_free_ char *final = store_path(s->cas_dir, hex);
        if (!final)
                return -ENOMEM;
        if (fchmod(fd, 0644) < 0 || fsync(fd) < 0)
                return set_error(err, negative_errno(), "cannot write %s: %m", tmp);
        if (access(final, F_OK) == 0) {
                (void) unlink(tmp);
                return 0;
        }
        if (rename(tmp, final) < 0)
                return set_error(err, negative_errno(), "cannot rename %s to %s: %m", tmp, final);
        return 0;
}

/* One blob entry: stream it, hash it, keep it when wanted, store it. */
static int read_blob(struct rstate *s, struct archive *a, struct archive_entry *e, const char *hex,
                     bool first, char **err) {
        la_int64_t esize = archive_entry_size(e);
        if (!archive_entry_size_is_set(e) || esize < 0)
                return set_error(err, -EBADMSG, "%s: blobs/sha256/%s has no size", s->path, hex);
        uint64_t size = (uint64_t) esize;
        struct rwant *w = want_find(s, hex);
        if (w && w->loaded)
                w = NULL;
        if (!first && !w)
                return 0; /* verified on the first pass */
        if (w && w->size != size)
                return set_error(err, -EBADMSG,
                                 "%s: image %s: manifest sha256:%s is %" PRIu64
                                 " bytes, its descriptor says %" PRIu64,
                                 s->path, w->image, hex, size, w->size);

        _cleanup_free_ char *data = NULL;
        if (w) {
                data = malloc((size_t) size + 1);
                if (!data)
                        return -ENOMEM;
        }
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -1;
        if (first && s->cas_dir) {
                tmp = strdupf("%s/.%s.import-XXXXXX", s->store_dir, hex);
                if (!tmp)
                        return -ENOMEM;
                fd = mkostemp(tmp, O_CLOEXEC);
                if (fd < 0) {
                        int r = set_error(err, negative_errno(), "cannot create a file in %s: %m",
                                          s->store_dir);
                        free(tmp);
                        tmp = NULL;
                        return r;
                }
        }
        _cleanup_sha256_ struct sha256 *h = NULL;
        _cleanup_free_ char *buf = malloc(COPY_CHUNK);
        int r = buf ? sha256_new(&h) : -ENOMEM;
        uint64_t done = 0;
        while (r >= 0) {
                la_ssize_t n = archive_read_data(a, buf, COPY_CHUNK);
                if (n < 0) {
                        r = set_error(err, archive_errno_neg(a), "%s: cannot read blobs/sha256/%s: %s",
                                      s->path, hex, archive_error_string(a) ?: "unknown error");
                        break;
                }
                if (n == 0)
                        break;
                if ((uint64_t) n > size - done) {
                        r = set_error(err, -EBADMSG, "%s: blobs/sha256/%s is longer than its header says",
                                      s->path, hex);
                        break;
                }
                if (data)
                        memcpy(data + done, buf, (size_t) n);
                done += (uint64_t) n;
                r = sha256_update(h, buf, (size_t) n);
                if (r >= 0 && fd >= 0) {
                        for (size_t off = 0; off < (size_t) n && r >= 0;) {
                                ssize_t k = write(fd, buf + off, (size_t) n - off);
                                if (k < 0 && errno == EINTR)
                                        continue;
                                if (k < 0)
                                        r = set_error(err, negative_errno(), "cannot write %s: %m", tmp);
                                else
                                        off += (size_t) k;
                        }
                }
        }
        char got[SHA256_HEX_LEN + 1];
        if (r >= 0 && done != size)
                r = set_error(err, -EBADMSG, "%s: blobs/sha256/%s is truncated", s->path, hex);
        if (r >= 0)
                r = sha256_final(h, got, NULL);
        if (r >= 0 && !streq(got, hex))
                r = set_error(err, -EBADMSG, "%s: blobs/sha256/%s has digest sha256:%s", s->path, hex, got);
        if (r >= 0 && fd >= 0)
                r = store_commit(s, fd, tmp, hex, err);
        if (r < 0) {
                if (tmp)
                        (void) unlink(tmp);
                return r;
        }
        if (w) {
                data[size] = '\0';
                w->data = TAKE_PTR(data);
                w->loaded = true;
        }
        if (first) {
                if (s->n_blobs >= OCIARCHIVE_ENTRIES_MAX)
                        return set_error(err, -E2BIG, "%s: more than %u blobs", s->path,
                                         OCIARCHIVE_ENTRIES_MAX);
                struct rblob *nv = reallocarray(s->blobs, s->n_blobs + 1, sizeof *nv);
                if (!nv)
                        return -ENOMEM;
                s->blobs = nv;
                memcpy(nv[s->n_blobs].hex, hex, SHA256_HEX_LEN + 1);
                nv[s->n_blobs++].size = size;
        }
        return 0;
}

/* One pass over the archive. The first verifies every blob and reads
 * oci-layout and index.json; later passes only collect wanted manifests. */
static int read_pass(struct rstate *s, bool first, char **err) {
        _cleanup_(archive_read_freep) struct archive *a = archive_read_new();
        if (!a)
                return -ENOMEM;
        archive_read_support_format_tar(a);
        archive_read_support_format_gnutar(a);
        archive_read_support_filter_all(a);
        if (archive_read_open_filename(a, s->path, 1 << 16) != ARCHIVE_OK)
                return set_error(err, archive_errno_neg(a), "%s: %s", s->path,
                                 archive_error_string(a) ?: "cannot open");

        for (size_t count = 0;; count++) {
                struct archive_entry *e;
                int ar = archive_read_next_header(a, &e);
                if (ar == ARCHIVE_EOF)
                        break;
                if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN)
                        return set_error(err, ar == ARCHIVE_FATAL ? -EBADMSG : archive_errno_neg(a),
                                         "%s: %s", s->path, archive_error_string(a) ?: "not a tar archive");
                if (count >= OCIARCHIVE_ENTRIES_MAX)
                        return set_error(err, -E2BIG, "%s: more than %u entries", s->path,
                                         OCIARCHIVE_ENTRIES_MAX);
                const char *raw = archive_entry_pathname(e);
                const char *name = raw ? entry_name(raw) : NULL;
                if (!name) {
                        _cleanup_free_ char *pn = raw ? ystr_printable(raw, 200) : NULL;
                        return set_error(err, -EBADMSG, "%s: unsafe entry name '%s'", s->path,
                                         pn ? pn : "?");
                }
                mode_t type = archive_entry_filetype(e);
                size_t len = strlen(name);
                if (type == AE_IFDIR || len == 0 || streq(name, "."))
                        continue;

                if (strncmp(name, "blobs/", 6) == 0) {
                        const char *alg = name + 6;
                        const char *slash = strchr(alg, '/');
                        if (!slash || slash == alg)
                                return set_error(err, -EBADMSG, "%s: unexpected entry %s", s->path, name);
                        if ((size_t) (slash - alg) != 6 || strncmp(alg, "sha256", 6) != 0) {
                                _cleanup_free_ char *pn = ystr_printable(name, 200);
                                return set_error(err, -EOPNOTSUPP, "%s: %s: only sha256 blobs are supported",
                                                 s->path, pn ? pn : "?");
                        }
                        const char *hex = slash + 1;
                        if (!hex_valid(hex)) {
                                _cleanup_free_ char *pn = ystr_printable(name, 200);
                                return set_error(err, -EBADMSG, "%s: %s is not named by a sha256 digest",
                                                 s->path, pn ? pn : "?");
                        }
                        if (type != AE_IFREG || archive_entry_hardlink(e))
                                return set_error(err, -EBADMSG, "%s: %s is not a regular file", s->path,
                                                 name);
                        int r = read_blob(s, a, e, hex, first, err);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (!first)
                        continue;
                if (streq(name, "oci-layout") || streq(name, "index.json")) {
                        bool is_index = streq(name, "index.json");
                        if (type != AE_IFREG || archive_entry_hardlink(e))
                                return set_error(err, -EBADMSG, "%s: %s is not a regular file", s->path,
                                                 name);
                        if (is_index ? s->index != NULL : s->have_layout)
                                return set_error(err, -EBADMSG, "%s: %s appears twice", s->path, name);
                        _cleanup_free_ char *data = NULL;
                        size_t size = 0;
                        int r = read_small(a, e, is_index ? OCIARCHIVE_MANIFEST_MAX : OCI_LAYOUT_MAX, name,
                                           s->path, &data, &size, err);
                        if (r < 0)
                                return r;
                        if (!is_index) {
                                r = check_layout(data, size, s->path, err);
                                if (r < 0)
                                        return r;
                                s->have_layout = true;
                        } else {
                                s->index = TAKE_PTR(data);
                                s->index_size = size;
                                r = parse_index(s, err);
                                if (r < 0)
                                        return r;
                        }
                }
                /* Anything else (a docker manifest.json, repositories) is not ours to check. */
        }
        if (first) {
                if (!s->have_layout)
                        return set_error(err, -EBADMSG, "%s: no oci-layout file: not an OCI image layout",
                                         s->path);
                if (!s->index)
                        return set_error(err, -EBADMSG, "%s: no index.json: not an OCI image layout",
                                         s->path);
        }
        return 0;
}

/* Check the loaded manifests: their children are present with the right
 * sizes; an index's child manifests become wanted. */
static int check_wants(struct rstate *s, bool *ret_more, char **err) {
        bool more = false;
        size_t n = s->n_wants; /* want_add() below may grow the array */
        for (size_t i = 0; i < n; i++) {
                if (s->wants[i].checked)
                        continue;
                const struct rblob *b = blob_find(s, s->wants[i].hex);
                if (!b)
                        return set_error(err, -ENOENT,
                                         "%s: image %s: manifest sha256:%s is not in the archive", s->path,
                                         s->wants[i].image, s->wants[i].hex);
                if (b->size != s->wants[i].size)
                        return set_error(err, -EBADMSG,
                                         "%s: image %s: manifest sha256:%s is %" PRIu64
                                         " bytes, its descriptor says %" PRIu64,
                                         s->path, s->wants[i].image, s->wants[i].hex, b->size,
                                         s->wants[i].size);
                if (!s->wants[i].loaded) {
                        more = true;
                        continue;
                }
                /* Loaded on a later pass: the file may have changed since. */
                char got[SHA256_HEX_LEN + 1];
                int r = sha256_buffer(s->wants[i].data, s->wants[i].size, got);
                if (r < 0)
                        return r;
                if (!streq(got, s->wants[i].hex))
                        return set_error(err, -EBADMSG, "%s: blobs/sha256/%s changed while being read",
                                         s->path, s->wants[i].hex);
                _cleanup_free_ char *where = strdupf("%s: image %s: manifest sha256:%s", s->path,
                                                     s->wants[i].image, s->wants[i].hex);
                if (!where)
                        return -ENOMEM;
                struct desc *d = NULL;
                size_t nd = 0;
                r = manifest_children(s->wants[i].data, s->wants[i].size, s->wants[i].media_type, where, &d,
                                      &nd, err);
                if (r < 0)
                        return r;
                s->wants[i].checked = true;
                free(s->wants[i].data);
                s->wants[i].data = NULL;
                for (size_t j = 0; j < nd && r >= 0; j++) {
                        const struct rblob *c = blob_find(s, d[j].hex);
                        if (!c)
                                r = set_error(err, -ENOENT, "%s: %s sha256:%s is not in the archive", where,
                                              d[j].role, d[j].hex);
                        else if (c->size != d[j].size)
                                r = set_error(err, -EBADMSG,
                                              "%s: %s sha256:%s is %" PRIu64
                                              " bytes, its descriptor says %" PRIu64,
                                              where, d[j].role, d[j].hex, c->size, d[j].size);
                        else if (streq(d[j].role, "manifest")) {
                                if (s->wants[i].depth > 0)
                                        r = set_error(err, -EMEDIUMTYPE, "%s: nested index", where);
                                else if (d[j].size > OCIARCHIVE_MANIFEST_MAX)
                                        r = set_error(err, -E2BIG,
                                                      "%s: child manifest sha256:%s is too large", where,
                                                      d[j].hex);
                                else {
                                        r = want_add(s, d[j].hex, d[j].size, d[j].media_type,
                                                     s->wants[i].image, s->wants[i].depth + 1);
                                        if (r >= 0)
                                                more = true;
                                }
                        }
                }
                descs_free(d, nd);
                if (r < 0)
                        return r;
        }
        *ret_more = more;
        return 0;
}

int ociarchive_read(const char *path, const char *cas_dir, struct ociarchive_listing **ret,
                    char **ret_error) {
        _cleanup_free_ char *err = NULL;
        struct rstate s = {.path = path, .cas_dir = cas_dir};
        int r;

        if (!path || !ret) {
                r = -EINVAL;
                goto out;
        }
        if (cas_dir) {
                s.store_dir = strdupf("%s/sha256", cas_dir);
                if (!s.store_dir) {
                        r = -ENOMEM;
                        goto out;
                }
                r = mkdir_p(s.store_dir, 0755);
                if (r < 0) {
                        r = set_error(&err, r, "cannot create %s: %s", s.store_dir, strerror(-r));
                        goto out;
                }
        }
        r = read_pass(&s, true, &err);
        if (r < 0)
                goto out;
        if (s.n_blobs > 0)
                qsort(s.blobs, s.n_blobs, sizeof *s.blobs, cmp_rblob);
        for (size_t i = 1; i < s.n_blobs; i++)
                if (streq(s.blobs[i - 1].hex, s.blobs[i].hex)) {
                        r = set_error(&err, -EBADMSG, "%s: blobs/sha256/%s appears twice", path,
                                      s.blobs[i].hex);
                        goto out;
                }
        /* index.json, then at most two more passes: manifests listed after
         * their blobs, then the children of image indexes. */
        for (int pass = 0;; pass++) {
                bool more = false;
                r = check_wants(&s, &more, &err);
                if (r < 0)
                        goto out;
                if (!more)
                        break;
                if (pass >= 3) {
                        r = set_error(&err, -EBADMSG, "%s: manifests could not be resolved", path);
                        goto out;
                }
                r = read_pass(&s, false, &err);
                if (r < 0)
                        goto out;
        }
        if (cas_dir) {
                _cleanup_free_ char *probe = strdupf("%s/x", s.store_dir);
                if (!probe) {
                        r = -ENOMEM;
                        goto out;
                }
                r = fsync_parent_dir(probe);
                if (r < 0) {
                        r = set_error(&err, r, "cannot sync %s: %s", s.store_dir, strerror(-r));
                        goto out;
                }
        }
        s.listing->n_blobs = s.n_blobs;
        for (size_t i = 0; i < s.n_blobs; i++)
                s.listing->blob_bytes += s.blobs[i].size;
        *ret = TAKE_PTR(s.listing);
        r = 0;
out:
        rstate_done(&s);
        if (r < 0 && ret_error && err)
                *ret_error = TAKE_PTR(err);
        return r;
}
