/* SPDX-License-Identifier: MIT */
#include "preload.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fsutil.h"
#include "imageref.h"
#include "kubeadmimages.h"
#include "lock.h"
#include "log.h"
#include "macro.h"
#include "manifestwalk.h"
#include "ociarchive.h"
#include "platform.h"
#include "puller.h"
#include "strv.h"

void preload_result_done(struct preload_result *r) {
        for (size_t i = 0; i < r->n_images; i++) {
                free(r->images[i].name);
                free(r->images[i].digest);
                free(r->images[i].origin);
        }
        free(r->images);
        *r = (struct preload_result){0};
}

int preload_wanted_images(const struct profile *p, const struct image_list *addon_images,
                          struct image_list *list) {
        struct kubeadm_images ki;
        _cleanup_free_ char *err = NULL;
        int r = kubeadm_images_for(p->kubernetes.version, NULL, &ki, &err);
        if (r < 0)
                return log_error_errno(r, "preload: %s", err ? err : "no image list for this version");
        if (ki.beyond_table)
                log_warning("preload: %s is newer than the last patch release kubeseed's image table was "
                            "checked "
                            "against; using that release's images",
                            p->kubernetes.version);
        /* kubeadm pulls (and its preflight checks for) etcd under the tag
         * its configuration names. */
        const char *etcd_tag = p->kubernetes.etcd_image_tag;
        if (etcd_tag && snprintf(ki.refs[KUBEADM_IMAGE_ETCD].tag, sizeof ki.refs[KUBEADM_IMAGE_ETCD].tag,
                                 "%s", etcd_tag) >= (int) sizeof ki.refs[KUBEADM_IMAGE_ETCD].tag)
                return log_error_errno(
                        -EINVAL, "preload: kubernetes.kubeadm.etcd-image-tag '%s' is too long", etcd_tag);
        _cleanup_free_ char *origin = strdupf("kubeadm %s", p->kubernetes.version);
        if (!origin)
                return log_oom();
        for (size_t i = 0; i < KUBEADM_IMAGE_MAX; i++) {
                r = image_list_add_ref(list, &ki.refs[i], origin);
                if (r < 0)
                        return log_oom();
        }
        for (size_t i = 0; addon_images && i < addon_images->n_items; i++)
                if (image_list_add_ref(list, &addon_images->items[i].ref, addon_images->items[i].origin) < 0)
                        return log_oom();
        r = image_list_add_extra(list, p->images_extra, p->path, &err);
        if (r < 0)
                return log_error_errno(r, "preload: %s", err ? err : "bad images.extra");
        return 0;
}

/* images.source: dir:/path — every *.tar there is read (and its blobs
 * verified and put into the store); each wanted image must be in one. */
static int from_directory(const char *dir, const struct image_list *want, const char *cas_dir,
                          struct ociarchive_image *out) {
        struct dirent **names = NULL;
        int n = scandir(dir, &names, dirent_is_tar, alphasort);
        if (n < 0)
                return log_error_errno(-errno, "preload: images.source: cannot read '%s': %m", dir);
        struct ociarchive_listing **listings = calloc((size_t) n + 1, sizeof *listings);
        int r = listings ? 0 : -ENOMEM;
        for (int i = 0; i < n; i++) {
                if (r >= 0) {
                        _cleanup_free_ char *path = strdupf("%s/%s", dir, names[i]->d_name), *err = NULL;
                        r = path ? ociarchive_read(path, cas_dir, &listings[i], &err) : -ENOMEM;
                        if (r < 0)
                                log_error_errno(r, "preload: images.source: %s", err ? err : path);
                }
                free(names[i]);
        }
        free(names);

        size_t missing = 0;
        for (size_t w = 0; r >= 0 && w < want->n_items; w++) {
                _cleanup_free_ char *name = imageref_format(&want->items[w].ref);
                if (!name) {
                        r = -ENOMEM;
                        break;
                }
                bool found = false;
                for (int i = 0; i < n && !found; i++)
                        for (size_t j = 0; j < listings[i]->n_images && !found; j++) {
                                const struct ociarchive_entry *e = &listings[i]->images[j];
                                struct imageref ref;
                                const char *why;
                                if (!e->name || imageref_parse(e->name, &ref, &why) < 0 ||
                                    !imageref_equal(&ref, &want->items[w].ref))
                                        continue;
                                out[w] = (struct ociarchive_image){.name = NULL,
                                                                   .manifest_digest = e->manifest_digest,
                                                                   .media_type = e->media_type,
                                                                   .size = e->size};
                                found = true;
                        }
                if (!found) {
                        log_error("preload: %s (%s) is in no archive of '%s'", name, want->items[w].origin,
                                  dir);
                        missing++;
                }
        }
        if (r >= 0 && missing)
                r = log_error_errno(-ENOENT, "preload: %zu image%s missing from images.source '%s'", missing,
                                    missing == 1 ? "" : "s", dir);
        /* The digests point into the listings: copy them before the listings
         * go. The caller frees out[] whatever we return, so on failure no
         * entry may still point into a listing. */
        for (size_t w = 0; w < want->n_items; w++) {
                const char *d = out[w].manifest_digest, *mt = out[w].media_type;
                out[w].manifest_digest = r >= 0 && d ? strdup(d) : NULL;
                out[w].media_type = r >= 0 && mt ? strdup(mt) : NULL;
                if (r >= 0 && (!out[w].manifest_digest || !out[w].media_type))
                        r = -ENOMEM;
        }
        for (int i = 0; listings && i < n; i++)
                ociarchive_listing_free(listings[i]);
        free(listings);
        return r;
}

/* ret_index (may be NULL): per image, the index digest it was selected from,
 * or "". */
static int from_registries(const struct profile *p, const struct arch_info *a, const char *cas_dir,
                           const char *credentials_path, const struct image_list *want,
                           const struct imageref *pinned, struct ociarchive_image *out,
                           char (*ret_index)[IMAGEREF_DIGEST_MAX + 1]) {
        _cleanup_free_ char *err = NULL;
        struct registry_credentials *creds = NULL;
        int r;
        if (credentials_path && (r = registry_credentials_load(credentials_path, &creds, &err)) < 0)
                return log_error_errno(r, "preload: %s", err ? err : credentials_path);
        struct registry_options ro = {
                .cas_dir = cas_dir,
                .mirrors = p->registry_mirrors,
                .n_mirrors = p->n_registry_mirrors,
                .credentials = creds,
                .progress = true,
        };
        _cleanup_registry_client_ struct registry_client *client = NULL;
        r = registry_client_new(&ro, &client);
        if (r < 0) {
                registry_credentials_free(creds);
                return log_error_errno(r, "preload: cannot set up the registry client: %m");
        }
        struct platform_target target = platform_target_from_arch(a);
        size_t n = want->n_items, failed = 0;
        /* With a lock, by the locked digest: never by a tag that may have
         * moved since. */
        _cleanup_free_ struct imageref *refs = calloc(n ? n : 1, sizeof *refs);
        _cleanup_free_ struct registry_image *imgs = calloc(n ? n : 1, sizeof *imgs);
        if (!refs || !imgs) {
                registry_credentials_free(creds);
                return log_oom();
        }
        for (size_t w = 0; w < n; w++)
                refs[w] = pinned ? pinned[w] : want->items[w].ref;
        r = registry_pull_many(client, refs, n, &target, imgs, &failed, &err);
        if (r < 0)
                log_error_errno(r, "preload: %s (%s)", err ? err : "pull failed",
                                failed < n ? want->items[failed].origin : "?");
        for (size_t w = 0; r >= 0 && w < n; w++) {
                out[w].manifest_digest = strdup(imgs[w].manifest.digest);
                out[w].media_type = strdup(imgs[w].manifest.media_type);
                out[w].size = imgs[w].manifest.size;
                if (ret_index)
                        snprintf(ret_index[w], sizeof ret_index[w], "%s", imgs[w].manifest.index_digest);
                if (!out[w].manifest_digest || !out[w].media_type)
                        r = log_oom();
        }
        for (size_t w = 0; w < n; w++)
                registry_image_done(&imgs[w]);
        registry_credentials_free(creds);
        return r;
}

/* --offline: every image from the store by the lock's digest; nothing is
 * asked of a registry (lock_check_offline() has checked that every blob is
 * there). */
static int from_lock(const struct lock_arch *lock, const struct image_list *want,
                     struct ociarchive_image *out) {
        for (size_t w = 0; w < want->n_items; w++) {
                const struct lock_image *li = lock_find_image(lock, &want->items[w].ref);
                if (!li)
                        return log_error_errno(-ENOENT,
                                               "preload: an image is not in the lock: run kubeseed fetch");
                out[w].manifest_digest = strdup(li->digest);
                out[w].media_type = strdup(li->media_type);
                out[w].size = li->size;
                if (!out[w].manifest_digest || !out[w].media_type)
                        return log_oom();
        }
        return 0;
}

/* Images read from images.source archives must be the locked ones. */
static int check_against_lock(const struct lock_arch *lock, const struct imageref *pinned,
                              const struct image_list *want, const struct ociarchive_image *out) {
        size_t bad = 0;
        for (size_t w = 0; lock && w < want->n_items; w++)
                if (!out[w].manifest_digest || !streq(out[w].manifest_digest, pinned[w].digest)) {
                        _cleanup_free_ char *name = imageref_format(&want->items[w].ref);
                        log_error("preload: %s is %s in images.source but %s in the lock", name ? name : "?",
                                  out[w].manifest_digest ? out[w].manifest_digest : "(none)",
                                  pinned[w].digest);
                        bad++;
                }
        if (bad)
                return log_error_errno(-EBADMSG,
                                       "preload: %zu image%s changed since the lock was written: run "
                                       "kubeseed fetch",
                                       bad, bad == 1 ? "" : "s");
        return 0;
}

static void images_free(struct ociarchive_image *images, size_t n) {
        for (size_t w = 0; images && w < n; w++) {
                free((char *) images[w].manifest_digest);
                free((char *) images[w].media_type);
        }
        free(images);
}

/* Brings every wanted image into the store (pinned by the lock when there is
 * one) and fills out[] with each one's manifest digest, type and size, and
 * ret_index[] (may be NULL) with the index digest of an image pulled from a
 * multi-arch index ("" otherwise). */
static int resolve_images(const struct profile *p, const struct arch_info *a, const char *cas_dir,
                          const char *credentials_path, const struct lock_arch *lock, bool offline,
                          const struct image_list *want, struct ociarchive_image *out,
                          char (*ret_index)[IMAGEREF_DIGEST_MAX + 1]) {
        _cleanup_free_ struct imageref *pinned = NULL;
        int r;
        if (lock || offline) {
                _cleanup_free_ char *err = NULL;
                pinned = calloc(want->n_items ? want->n_items : 1, sizeof *pinned);
                if (!pinned)
                        return log_oom();
                r = lock_pin_images(lock, want, pinned, &err);
                if (r < 0)
                        return log_error_errno(r, "preload: %s", err ? err : "cannot pin the images");
        }
        const char *src =
                p->images_source && strncmp(p->images_source, "dir:", 4) == 0 ? p->images_source + 4 : NULL;
        if (offline) {
                log_info("preload: %zu images, offline, from the store by the lock's digests",
                         want->n_items);
                return from_lock(lock, want, out);
        }
        log_info("preload: %zu images, from %s%s", want->n_items, src ? src : "registries",
                 lock ? " (pinned by the lock's digests)" : "");
        if (src) {
                r = from_directory(src, want, cas_dir, out);
                if (r >= 0 && lock)
                        r = check_against_lock(lock, pinned, want, out);
                return r;
        }
        return from_registries(p, a, cas_dir, credentials_path, want, pinned, out, ret_index);
}

int preload_fetch(const struct profile *p, const struct arch_info *a, const char *cas_dir,
                  const char *credentials_path, const struct image_list *addon_images,
                  struct lock_arch *section) {
        if (!p->kubernetes.version)
                return 0;
        _cleanup_image_list_ struct image_list want = {0};
        int r = preload_wanted_images(p, addon_images, &want);
        if (r < 0)
                return r;
        struct ociarchive_image *images = calloc(want.n_items ? want.n_items : 1, sizeof *images);
        _cleanup_free_ char(*index)[IMAGEREF_DIGEST_MAX + 1] =
                calloc(want.n_items ? want.n_items : 1, sizeof *index);
        if (!images || !index) {
                free(images);
                return log_oom();
        }
        r = resolve_images(p, a, cas_dir, credentials_path, NULL, false, &want, images, index);
        for (size_t w = 0; r >= 0 && w < want.n_items; w++) {
                _cleanup_free_ char *name = imageref_format(&want.items[w].ref);
                r = name ? lock_arch_add_image(section, name, images[w].manifest_digest,
                                               images[w].media_type, images[w].size, index[w])
                         : -ENOMEM;
                if (r < 0)
                        log_error_errno(r, "fetch: cannot record %s in the lock: %m",
                                        name ? name : "an image");
                else
                        log_info("fetch: %s -> %s%s%s%s", name, images[w].manifest_digest,
                                 index[w][0] ? " (from index " : "", index[w], index[w][0] ? ")" : "");
        }
        images_free(images, want.n_items);
        return r < 0 ? r : 1;
}

int preload_stage(const struct profile *p, const struct arch_info *a, const char *cas_dir, const char *root,
                  uint64_t source_date_epoch, const char *credentials_path, struct stagekey *key,
                  struct preload_result *ret) {
        return preload_stage_locked(p, a, cas_dir, root, source_date_epoch, credentials_path, NULL, NULL,
                                    false, key, ret);
}

int preload_stage_locked(const struct profile *p, const struct arch_info *a, const char *cas_dir,
                         const char *root, uint64_t source_date_epoch, const char *credentials_path,
                         const struct image_list *addon_images, const struct lock_arch *lock, bool offline,
                         struct stagekey *key, struct preload_result *ret) {
        if (!p->kubernetes.version)
                return 0;
        _cleanup_free_ char *archive = path_join_root(root, PRELOAD_ARCHIVE);
        if (!archive)
                return log_oom();
        return preload_write(p, a, cas_dir, archive, source_date_epoch, credentials_path, addon_images, lock,
                             offline, key, ret);
}

int preload_write(const struct profile *p, const struct arch_info *a, const char *cas_dir,
                  const char *archive, uint64_t source_date_epoch, const char *credentials_path,
                  const struct image_list *addon_images, const struct lock_arch *lock, bool offline,
                  struct stagekey *key, struct preload_result *ret) {
        if (!p->kubernetes.version)
                return 0;
        _cleanup_image_list_ struct image_list want = {0};
        int r = preload_wanted_images(p, addon_images, &want);
        if (r < 0)
                return r;
        struct ociarchive_image *images = calloc(want.n_items, sizeof *images);
        if (!images)
                return log_oom();
        _cleanup_strv_free_ char **names = calloc(want.n_items + 1, sizeof(char *));
        if (!names) {
                free(images);
                return log_oom();
        }
        r = resolve_images(p, a, cas_dir, credentials_path, lock, offline, &want, images, NULL);
        for (size_t w = 0; r >= 0 && w < want.n_items; w++) {
                names[w] = imageref_format(&want.items[w].ref);
                if (!names[w])
                        r = log_oom();
                images[w].name = names[w];
        }
        struct ociarchive_stats stats = {0};
        _cleanup_free_ char *dir = NULL, *err = NULL;
        if (r >= 0 && !(dir = strdup(archive)))
                r = log_oom();
        if (r >= 0 && strrchr(dir, '/')) {
                *strrchr(dir, '/') = '\0';
                r = mkdir_p(dir, 0755);
                if (r < 0)
                        log_error_errno(r, "preload: cannot create '%s': %m", dir);
        }
        if (r >= 0) {
                r = ociarchive_write(archive, cas_dir, images, want.n_items, (int64_t) source_date_epoch,
                                     &stats, &err);
                if (r < 0)
                        log_error_errno(r, "preload: %s", err ? err : "cannot write the archive");
        }
        if (r >= 0) {
                ret->images = calloc(want.n_items, sizeof *ret->images);
                if (!ret->images)
                        r = log_oom();
        }
        for (size_t w = 0; r >= 0 && w < want.n_items; w++) {
                struct preload_image *pi = &ret->images[ret->n_images++];
                pi->name = strdup(images[w].name);
                pi->digest = strdup(images[w].manifest_digest);
                pi->origin = strdup(want.items[w].origin);
                if (!pi->name || !pi->digest || !pi->origin ||
                    (key && stagekey_add(key, pi->name, pi->digest) < 0))
                        r = log_oom();
                else
                        log_info("preload: %s@%s", pi->name, pi->digest);
        }
        if (r >= 0) {
                ret->archive_bytes = stats.blob_bytes;
                ret->dedup_bytes = stats.dedup_bytes;
                /* In a build's staging root, the path the image will have. */
                size_t al = strlen(archive), pl = strlen(PRELOAD_ARCHIVE);
                const char *shown =
                        al >= pl && streq(archive + al - pl, PRELOAD_ARCHIVE) ? PRELOAD_ARCHIVE : archive;
                log_info("preload: %s: %zu blobs, %llu MiB (%llu MiB shared between images, stored once)",
                         shown, stats.n_blobs, (unsigned long long) (stats.blob_bytes >> 20),
                         (unsigned long long) (stats.dedup_bytes >> 20));
        } else
                preload_result_done(ret);
        images_free(images, want.n_items);
        return r < 0 ? r : 1;
}
