/* SPDX-License-Identifier: MIT */
#include "lock.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "download.h"
#include "fsutil.h"
#include "macro.h"
#include "strv.h"
#include "yamlemit.h"
#include "yamltree.h"

char *lock_path_for_profile(const char *profile_path) {
        size_t n = strlen(profile_path);
        if (n > 5 && streq(profile_path + n - 5, ".yaml"))
                n -= 5;
        else if (n > 4 && streq(profile_path + n - 4, ".yml"))
                n -= 4;
        return strdupf("%.*s.lock", (int) n, profile_path);
}

static bool hex64_valid(const char *s) {
        if (strlen(s) != SHA256_HEX_LEN)
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
                        return false;
        return true;
}

static bool digest_valid(const char *s) {
        return strncmp(s, "sha256:", 7) == 0 && hex64_valid(s + 7);
}

/* ---- building ------------------------------------------------------------- */

struct lock *lock_new(const char *profile_name) {
        struct lock *l = calloc(1, sizeof *l);
        if (!l)
                return NULL;
        if (profile_name && !(l->profile = strdup(profile_name))) {
                free(l);
                return NULL;
        }
        return l;
}

void lock_arch_done(struct lock_arch *a) {
        for (size_t i = 0; i < a->n_files; i++)
                free(a->files[i].name);
        free(a->files);
        for (size_t i = 0; i < a->n_manifests; i++)
                free(a->manifests[i].name);
        free(a->manifests);
        for (size_t i = 0; i < a->n_images; i++)
                free(a->images[i].ref);
        free(a->images);
        free(a->arch);
        free(a->kubernetes_version);
        *a = (struct lock_arch){0};
}

void lock_free(struct lock *l) {
        if (!l)
                return;
        for (size_t i = 0; i < l->n_arches; i++)
                lock_arch_done(&l->arches[i]);
        free(l->arches);
        free(l->profile);
        free(l);
}

const struct lock_arch *lock_find_arch(const struct lock *l, const char *arch) {
        for (size_t i = 0; l && i < l->n_arches; i++)
                if (streq(l->arches[i].arch, arch))
                        return &l->arches[i];
        return NULL;
}

int lock_set_arch(struct lock *l, struct lock_arch *a) {
        if (!a->arch)
                return -EINVAL;
        for (size_t i = 0; i < l->n_arches; i++)
                if (streq(l->arches[i].arch, a->arch)) {
                        lock_arch_done(&l->arches[i]);
                        l->arches[i] = *a;
                        *a = (struct lock_arch){0};
                        return 0;
                }
        struct lock_arch *n = reallocarray(l->arches, l->n_arches + 1, sizeof *n);
        if (!n)
                return -ENOMEM;
        l->arches = n;
        l->arches[l->n_arches++] = *a;
        *a = (struct lock_arch){0};
        return 0;
}

static int add_named(struct lock_file **list, size_t *n_list, const char *name, const char *sha256_hex) {
        if (!hex64_valid(sha256_hex) || !*name)
                return -EINVAL;
        struct lock_file *n = reallocarray(*list, *n_list + 1, sizeof *n);
        if (!n)
                return -ENOMEM;
        *list = n;
        struct lock_file *f = &n[*n_list];
        *f = (struct lock_file){.name = strdup(name)};
        if (!f->name)
                return -ENOMEM;
        memcpy(f->sha256, sha256_hex, SHA256_HEX_LEN + 1);
        (*n_list)++;
        return 0;
}

static const char *find_named(const struct lock_file *list, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (streq(list[i].name, name))
                        return list[i].sha256;
        return NULL;
}

int lock_arch_add_file(struct lock_arch *a, const char *name, const char *sha256_hex) {
        return add_named(&a->files, &a->n_files, name, sha256_hex);
}

int lock_arch_add_manifest(struct lock_arch *a, const char *url, const char *sha256_hex) {
        if (find_named(a->manifests, a->n_manifests, url))
                return 0;
        return add_named(&a->manifests, &a->n_manifests, url, sha256_hex);
}

const char *lock_manifest_sha256(const struct lock_arch *a, const char *url) {
        return a ? find_named(a->manifests, a->n_manifests, url) : NULL;
}

int lock_arch_add_image(struct lock_arch *a, const char *ref, const char *digest, const char *media_type,
                        uint64_t size, const char *index_digest) {
        if (!digest_valid(digest) || !imageref_valid(ref) || strlen(media_type) > REGISTRY_MEDIA_TYPE_MAX ||
            (index_digest && *index_digest && !digest_valid(index_digest)))
                return -EINVAL;
        struct lock_image *n = reallocarray(a->images, a->n_images + 1, sizeof *n);
        if (!n)
                return -ENOMEM;
        a->images = n;
        struct lock_image *im = &a->images[a->n_images];
        *im = (struct lock_image){.ref = strdup(ref), .size = size};
        if (!im->ref)
                return -ENOMEM;
        snprintf(im->digest, sizeof im->digest, "%s", digest);
        snprintf(im->media_type, sizeof im->media_type, "%s", media_type);
        snprintf(im->index_digest, sizeof im->index_digest, "%s", index_digest ? index_digest : "");
        a->n_images++;
        return 0;
}

const char *lock_file_sha256(const struct lock_arch *a, const char *name) {
        return a ? find_named(a->files, a->n_files, name) : NULL;
}

const struct lock_image *lock_find_image(const struct lock_arch *a, const struct imageref *ref) {
        for (size_t i = 0; a && i < a->n_images; i++) {
                struct imageref r;
                if (imageref_parse(a->images[i].ref, &r, NULL) >= 0 && imageref_equal(&r, ref))
                        return &a->images[i];
        }
        return NULL;
}

/* ---- rendering ------------------------------------------------------------ */

/* The counterpart of parse_named_list(): "<key>:" and a list of
 * {<name_key>, sha256}. */
static void render_named_list(struct yemit *e, const char *key, const char *name_key,
                              const struct lock_file *list, size_t n) {
        yemit_str(e, key);
        yemit_seq_start(e);
        for (size_t j = 0; j < n; j++) {
                yemit_map_start(e);
                yemit_kv(e, name_key, list[j].name);
                yemit_kv(e, "sha256", list[j].sha256);
                yemit_map_end(e);
        }
        yemit_seq_end(e);
}

int lock_render(const struct lock *l, char **ret, size_t *ret_size) {
        _cleanup_yemit_ struct yemit *e = NULL;
        if (yemit_new(&e) < 0)
                return -ENOMEM;
        char num[32];
        yemit_document_start(e);
        yemit_map_start(e);
        snprintf(num, sizeof num, "%d", LOCK_VERSION);
        yemit_kv_raw(e, "lock-version", num);
        if (l->profile)
                yemit_kv(e, "profile", l->profile);
        yemit_str(e, "architectures");
        yemit_map_start(e);
        for (size_t i = 0; i < l->n_arches; i++) {
                const struct lock_arch *a = &l->arches[i];
                yemit_str(e, a->arch);
                yemit_map_start(e);
                if (a->kubernetes_version) {
                        yemit_str(e, "kubernetes");
                        yemit_map_start(e);
                        yemit_kv(e, "version", a->kubernetes_version);
                        render_named_list(e, "files", "name", a->files, a->n_files);
                        yemit_map_end(e);
                }
                if (a->n_manifests)
                        render_named_list(e, "addon-manifests", "url", a->manifests, a->n_manifests);
                yemit_str(e, "images");
                yemit_seq_start(e);
                for (size_t j = 0; j < a->n_images; j++) {
                        const struct lock_image *im = &a->images[j];
                        yemit_map_start(e);
                        yemit_kv(e, "ref", im->ref);
                        yemit_kv(e, "digest", im->digest);
                        yemit_kv(e, "media-type", im->media_type);
                        snprintf(num, sizeof num, "%" PRIu64, im->size);
                        yemit_kv_raw(e, "size", num);
                        if (im->index_digest[0])
                                yemit_kv(e, "index-digest", im->index_digest);
                        yemit_map_end(e);
                }
                yemit_seq_end(e);
                yemit_map_end(e);
        }
        yemit_map_end(e);
        yemit_map_end(e);
        yemit_document_end(e);
        return yemit_finish(e, ret, ret_size) < 0 ? -EINVAL : 0;
}

/* ---- parsing -------------------------------------------------------------- */

struct pctx {
        const char *filename;
        char **ret_error;
};

_printf_(4, 5) static int perr(const struct pctx *c, size_t line, size_t col, const char *fmt, ...) {
        if (c->ret_error) {
                _cleanup_free_ char *msg = NULL;
                va_list ap;
                va_start(ap, fmt);
                int k = vasprintf(&msg, fmt, ap);
                va_end(ap);
                free(*c->ret_error);
                *c->ret_error = k < 0 ? NULL : strdupf("%s:%zu:%zu: %s", c->filename, line, col, msg);
        }
        return -EBADMSG;
}

/* Every key of `map` must be one of `allowed`. */
static int check_keys(const struct pctx *c, const struct ynode *map, const char *where,
                      const char *const *allowed) {
        for (size_t i = 0; i < map->n_items; i++) {
                bool ok = false;
                for (const char *const *k = allowed; *k && !ok; k++)
                        ok = streq(map->keys[i], *k);
                if (!ok) {
                        _cleanup_free_ char *k = ystr_printable(map->keys[i], 64);
                        return perr(c, map->key_lines[i], map->key_columns[i], "unknown key '%s' in %s",
                                    k ? k : "?", where);
                }
        }
        return 0;
}

static int want_kind(const struct pctx *c, const struct ynode *n, enum ynode_kind kind, const char *what) {
        static const char *const names[] = {"a string", "a list", "a mapping"};
        if (n->kind != kind)
                return perr(c, n->line, n->column, "%s: expected %s", what, names[kind]);
        return 0;
}

/* A required scalar member. */
static int get_str(const struct pctx *c, const struct ynode *map, const char *key, const char *where,
                   const char **ret) {
        const struct ynode *n = ynode_get(map, key);
        if (!n)
                return perr(c, map->line, map->column, "%s: '%s' is missing", where, key);
        if (n->kind != YNODE_SCALAR || ynode_is_null(n) || !*n->value)
                return perr(c, n->line, n->column, "%s.%s: expected a non-empty string", where, key);
        *ret = n->value;
        return 0;
}

/* A list of {<name_key>, sha256} (bundle files, add-on manifests). */
static int parse_named_list(const struct pctx *c, const struct ynode *list, const char *what,
                            const char *item, const char *name_key, struct lock_file **arr, size_t *n_arr) {
        const char *const keys[] = {name_key, "sha256", NULL};
        int r = want_kind(c, list, YNODE_SEQUENCE, what);
        if (r < 0)
                return r;
        if (list->n_items > LOCK_ITEMS_MAX)
                return perr(c, list->line, list->column, "more than %u %s", LOCK_ITEMS_MAX, what);
        for (size_t i = 0; i < list->n_items; i++) {
                const struct ynode *f = list->items[i];
                const char *name = NULL, *sha = NULL;
                r = want_kind(c, f, YNODE_MAPPING, what);
                if (r >= 0)
                        r = check_keys(c, f, what, keys);
                if (r >= 0)
                        r = get_str(c, f, name_key, what, &name);
                if (r >= 0)
                        r = get_str(c, f, "sha256", what, &sha);
                if (r < 0)
                        return r;
                const struct ynode *sn = ynode_get(f, "sha256");
                if (!hex64_valid(sha))
                        return perr(c, sn->line, sn->column, "%s: sha256 must be 64 lowercase hex digits",
                                    name);
                if (find_named(*arr, *n_arr, name))
                        return perr(c, f->line, f->column, "%s '%s' is listed twice", item, name);
                r = add_named(arr, n_arr, name, sha);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_kubernetes(const struct pctx *c, const struct ynode *k, const char *where,
                            struct lock_arch *a) {
        static const char *const keys[] = {"version", "files", NULL};
        int r = want_kind(c, k, YNODE_MAPPING, where);
        if (r >= 0)
                r = check_keys(c, k, where, keys);
        const char *v = NULL;
        if (r >= 0)
                r = get_str(c, k, "version", where, &v);
        if (r < 0)
                return r;
        if (!(a->kubernetes_version = strdup(v)))
                return -ENOMEM;
        const struct ynode *files = ynode_get(k, "files");
        if (!files)
                return perr(c, k->line, k->column, "%s: 'files' is missing", where);
        return parse_named_list(c, files, "files", "file", "name", &a->files, &a->n_files);
}

static int parse_images(const struct pctx *c, const struct ynode *images, struct lock_arch *a) {
        static const char *const ikeys[] = {"ref", "digest", "media-type", "size", "index-digest", NULL};
        int r = want_kind(c, images, YNODE_SEQUENCE, "images");
        if (r < 0)
                return r;
        if (images->n_items > LOCK_ITEMS_MAX)
                return perr(c, images->line, images->column, "more than %u images", LOCK_ITEMS_MAX);
        for (size_t i = 0; i < images->n_items; i++) {
                const struct ynode *im = images->items[i];
                const char *ref = NULL, *digest = NULL, *mt = NULL;
                r = want_kind(c, im, YNODE_MAPPING, "an image");
                if (r >= 0)
                        r = check_keys(c, im, "an image", ikeys);
                if (r >= 0)
                        r = get_str(c, im, "ref", "an image", &ref);
                if (r >= 0)
                        r = get_str(c, im, "digest", "an image", &digest);
                if (r >= 0)
                        r = get_str(c, im, "media-type", "an image", &mt);
                if (r < 0)
                        return r;
                struct imageref parsed;
                const char *why = NULL;
                const struct ynode *n = ynode_get(im, "ref");
                if (imageref_parse(ref, &parsed, &why) < 0)
                        return perr(c, n->line, n->column, "invalid image reference: %s", why ? why : "?");
                n = ynode_get(im, "digest");
                if (!digest_valid(digest))
                        return perr(c, n->line, n->column, "%s: digest must be sha256:<64 lowercase hex>",
                                    ref);
                n = ynode_get(im, "media-type");
                if (registry_media_type_kind(mt) != REGISTRY_KIND_MANIFEST)
                        return perr(c, n->line, n->column, "%s: media-type must be an image manifest type",
                                    ref);
                uint64_t size = 0;
                n = ynode_get(im, "size");
                if (!n)
                        return perr(c, im->line, im->column, "an image: 'size' is missing");
                if (!ynode_parse_uint(n, REGISTRY_MANIFEST_MAX, &size))
                        return perr(c, n->line, n->column, "%s: size must be a number of bytes", ref);
                const char *index_digest = NULL;
                n = ynode_get(im, "index-digest");
                if (n && (r = get_str(c, im, "index-digest", "an image", &index_digest)) < 0)
                        return r;
                if (index_digest && !digest_valid(index_digest))
                        return perr(c, n->line, n->column,
                                    "%s: index-digest must be sha256:<64 lowercase hex>", ref);
                if (lock_find_image(a, &parsed))
                        return perr(c, im->line, im->column, "image '%s' is listed twice", ref);
                r = lock_arch_add_image(a, ref, digest, mt, size, index_digest);
                if (r < 0)
                        return r;
        }
        return 0;
}

int lock_parse(const char *filename, const char *data, size_t size, struct lock **ret, char **ret_error) {
        static const char *const top_keys[] = {"lock-version", "profile", "architectures", NULL};
        static const char *const arch_keys[] = {"kubernetes", "addon-manifests", "images", NULL};
        struct pctx c = {filename, ret_error};
        _cleanup_free_ char *yerr = NULL;
        _cleanup_ynode_ struct ynode *root = NULL;
        int r = yaml_parse_one(data, size, NULL, &root, &yerr);
        if (r < 0) {
                if (ret_error)
                        *ret_error = strdupf("%s:%s", filename, yerr ? yerr : "cannot parse");
                return r;
        }
        r = want_kind(&c, root, YNODE_MAPPING, "the lock file");
        if (r >= 0)
                r = check_keys(&c, root, "the lock file", top_keys);
        if (r < 0)
                return r;
        const struct ynode *v = ynode_get(root, "lock-version");
        uint64_t version = 0;
        if (!v)
                return perr(&c, root->line, root->column, "'lock-version' is missing");
        if (!ynode_parse_uint(v, 1000, &version) || version != LOCK_VERSION)
                return perr(&c, v->line, v->column, "lock-version: expected %d", LOCK_VERSION);
        const struct ynode *prof = ynode_get(root, "profile");
        if (prof && (r = want_kind(&c, prof, YNODE_SCALAR, "profile")) < 0)
                return r;
        const struct ynode *arches = ynode_get(root, "architectures");
        if (!arches)
                return perr(&c, root->line, root->column, "'architectures' is missing");
        r = want_kind(&c, arches, YNODE_MAPPING, "architectures");
        if (r < 0)
                return r;
        if (arches->n_items > LOCK_ARCHES_MAX)
                return perr(&c, arches->line, arches->column, "more than %u architectures", LOCK_ARCHES_MAX);

        _cleanup_lock_ struct lock *l = lock_new(prof ? prof->value : NULL);
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < arches->n_items; i++) {
                const struct ynode *an = arches->items[i];
                const char *name = arches->keys[i];
                _cleanup_free_ char *where = strdupf("architectures.%s", name);
                if (!where)
                        return -ENOMEM;
                r = want_kind(&c, an, YNODE_MAPPING, where);
                if (r >= 0)
                        r = check_keys(&c, an, where, arch_keys);
                if (r < 0)
                        return r;
                struct lock_arch a = {.arch = strdup(name)};
                if (!a.arch)
                        return -ENOMEM;
                const struct ynode *k = ynode_get(an, "kubernetes");
                if (k && !ynode_is_null(k))
                        r = parse_kubernetes(&c, k, where, &a);
                const struct ynode *ms = ynode_get(an, "addon-manifests");
                if (r >= 0 && ms && !ynode_is_null(ms))
                        r = parse_named_list(&c, ms, "addon-manifests", "manifest", "url", &a.manifests,
                                             &a.n_manifests);
                const struct ynode *images = ynode_get(an, "images");
                if (r >= 0 && images && !ynode_is_null(images))
                        r = parse_images(&c, images, &a);
                if (r >= 0)
                        r = lock_set_arch(l, &a);
                lock_arch_done(&a);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

int lock_load(const char *path, struct lock **ret, char **ret_error) {
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        int r = read_file_full(path, LOCK_FILE_MAX, &data, &size);
        if (r == -ENOENT)
                return r;
        if (r < 0) {
                if (ret_error)
                        *ret_error = strdupf("%s: cannot read: %s", path, strerror(-r));
                return r;
        }
        return lock_parse(path, data, size, ret, ret_error);
}

int lock_save(const char *path, const struct lock *l) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        int r = lock_render(l, &text, &size);
        if (r < 0)
                return r;
        return write_file_atomic(path, text, size, 0644);
}

/* ---- using a lock --------------------------------------------------------- */

static int memstream_open(FILE **f, char **buf, size_t *size) {
        *f = open_memstream(buf, size);
        return *f ? 0 : -ENOMEM;
}

int lock_pin_images(const struct lock_arch *a, const struct image_list *want, struct imageref *ret_refs,
                    char **ret_error) {
        _cleanup_free_ char *buf = NULL;
        size_t bsize = 0, missing = 0;
        FILE *f = NULL;
        if (memstream_open(&f, &buf, &bsize) < 0)
                return -ENOMEM;
        struct imageref *refs = calloc(want->n_items ? want->n_items : 1, sizeof *refs);
        int r = refs ? 0 : -ENOMEM;
        for (size_t i = 0; r >= 0 && i < want->n_items; i++) {
                const struct imageref *w = &want->items[i].ref;
                _cleanup_free_ char *name = imageref_format(w);
                const struct lock_image *li = lock_find_image(a, w);
                if (!name) {
                        r = -ENOMEM;
                        break;
                }
                if (!li) {
                        fprintf(f, "%s%s (%s)", missing ? "\n" : "", name, want->items[i].origin);
                        missing++;
                        continue;
                }
                if (w->digest[0] && !streq(w->digest, li->digest)) {
                        /* The profile names a digest (an index, perhaps) that the
                         * lock resolved to a platform manifest: that is fine only
                         * when it is the same manifest. */
                        if (ret_error)
                                *ret_error = strdupf("%s: the profile pins %s but the lock has %s: run "
                                                     "kubeseed fetch",
                                                     name, w->digest, li->digest);
                        r = -EBADMSG;
                        break;
                }
                refs[i] = *w;
                snprintf(refs[i].digest, sizeof refs[i].digest, "%s", li->digest);
        }
        _cleanup_free_ char *list = NULL;
        size_t lsize = 0;
        if (memstream_finish(&f, &buf, &bsize, &list, &lsize) < 0 && r >= 0)
                r = -ENOMEM;
        if (r >= 0 && missing) {
                if (ret_error)
                        *ret_error = strdupf("%zu image%s not in the lock (architecture %s): run kubeseed "
                                             "fetch:\n%s",
                                             missing, missing == 1 ? " is" : "s are", a ? a->arch : "?",
                                             list ? list : "");
                r = -ENOENT;
        }
        if (r >= 0)
                memcpy(ret_refs, refs, want->n_items * sizeof *refs);
        free(refs);
        return r;
}

/* The config and layers of a stored manifest: appends to `f` each one missing. */
static int check_image_blobs(const char *cas_dir, const struct lock_image *li, FILE *f, size_t *missing) {
        _cleanup_free_ char *path = cas_path(cas_dir, li->digest + 7), *data = NULL, *err = NULL;
        size_t size = 0;
        if (!path)
                return -ENOMEM;
        int r = read_file_full(path, REGISTRY_MANIFEST_MAX, &data, &size);
        if (r < 0) {
                fprintf(f, "%s%s@%s: manifest cannot be read from the store (%s)", *missing ? "\n" : "",
                        li->ref, li->digest, strerror(-r));
                (*missing)++;
                return 0;
        }
        struct registry_manifest m = {0};
        r = registry_manifest_parse(data, size, li->media_type, &m, &err);
        if (r < 0) {
                fprintf(f, "%s%s@%s: the stored manifest is not usable: %s", *missing ? "\n" : "", li->ref,
                        li->digest, err ? err : "malformed");
                (*missing)++;
                return 0;
        }
        if (!cas_has(cas_dir, m.config.digest + 7)) {
                fprintf(f, "%s%s@%s: config %s", *missing ? "\n" : "", li->ref, li->digest, m.config.digest);
                (*missing)++;
        }
        for (size_t i = 0; i < m.n_layers; i++)
                if (!cas_has(cas_dir, m.layers[i].digest + 7)) {
                        fprintf(f, "%s%s@%s: layer %s", *missing ? "\n" : "", li->ref, li->digest,
                                m.layers[i].digest);
                        (*missing)++;
                }
        registry_manifest_done(&m);
        return 0;
}

int lock_check_offline(const struct lock_arch *a, const char *kubernetes_version, char *const *file_names,
                       const struct image_list *want, const char *cas_dir, char **ret_error) {
        _cleanup_free_ char *buf = NULL;
        size_t bsize = 0, missing = 0;
        FILE *f = NULL;
        if (memstream_open(&f, &buf, &bsize) < 0)
                return -ENOMEM;
        int r = 0;
        const char *locked_version = a ? a->kubernetes_version : NULL;
        if (kubernetes_version && (!locked_version || !streq(locked_version, kubernetes_version))) {
                fprintf(f, "%skubernetes %s: not in the lock (the lock has %s)", missing ? "\n" : "",
                        kubernetes_version, locked_version ? locked_version : "none");
                missing++;
        }
        for (char *const *n = file_names; n && *n; n++) {
                const char *sha = lock_file_sha256(a, *n);
                if (!sha) {
                        fprintf(f, "%s%s: not in the lock", missing ? "\n" : "", *n);
                        missing++;
                } else if (!cas_has(cas_dir, sha)) {
                        fprintf(f, "%s%s: sha256 %s not in the store", missing ? "\n" : "", *n, sha);
                        missing++;
                }
        }
        for (size_t i = 0; want && i < want->n_items && r >= 0; i++) {
                const struct lock_image *li = lock_find_image(a, &want->items[i].ref);
                if (!li) {
                        _cleanup_free_ char *name = imageref_format(&want->items[i].ref);
                        if (!name) {
                                r = -ENOMEM;
                                break;
                        }
                        fprintf(f, "%s%s (%s): not in the lock", missing ? "\n" : "", name,
                                want->items[i].origin);
                        missing++;
                } else if (!cas_has(cas_dir, li->digest + 7)) {
                        fprintf(f, "%s%s@%s: manifest not in the store", missing ? "\n" : "", li->ref,
                                li->digest);
                        missing++;
                } else
                        r = check_image_blobs(cas_dir, li, f, &missing);
        }
        _cleanup_free_ char *list = NULL;
        size_t lsize = 0;
        if (memstream_finish(&f, &buf, &bsize, &list, &lsize) < 0 && r >= 0)
                r = -ENOMEM;
        if (r >= 0 && missing) {
                if (ret_error)
                        *ret_error = strdupf("%zu item%s missing for an offline build (run kubeseed fetch "
                                             "with the same --cache):\n%s",
                                             missing, missing == 1 ? " is" : "s are", list ? list : "");
                r = -ENOENT;
        }
        return r;
}
