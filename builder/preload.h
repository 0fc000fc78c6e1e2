/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch.h"
#include "lock.h"
#include "manifestwalk.h"
#include "profile.h"
#include "stagekey.h"

/* The preload stage: every container image the cluster will run (what
 * kubeadm needs for the version, plus the profile's images.extra), taken
 * from a directory of OCI archives (images.source: dir:, the air-gapped
 * case) or pulled from registries through the profile's mirrors, verified by
 * digest, and written as one OCI archive into the image, where the
 * first-boot agent imports it into containerd. */

#define PRELOAD_ARCHIVE "/usr/share/kubeseed/images/preload.tar"

struct preload_image {
        char *name;   /* normalised reference */
        char *digest; /* manifest digest */
        char *origin; /* why it is there */
};

struct preload_result {
        struct preload_image *images;
        size_t n_images;
        uint64_t archive_bytes;
        uint64_t dedup_bytes;
};
void preload_result_done(struct preload_result *r);

/* Nothing to do (0) without kubernetes.version; 1 when the archive was
 * written. Each image's name and digest are added to `key`. */
int preload_stage(const struct profile *p, const struct arch_info *a, const char *cas_dir, const char *root,
                  uint64_t source_date_epoch, const char *credentials_path, struct stagekey *key,
                  struct preload_result *ret);

/* Every image the image will hold, in order: kubeadm's images for
 * kubernetes.version, then the add-ons' (addon_images, may be NULL: what
 * their manifests name and their images lists), then images.extra. fetch
 * and build share it. Logs its errors. */
int preload_wanted_images(const struct profile *p, const struct image_list *addon_images,
                          struct image_list *list);

/* preload_stage() with a lock section (may be NULL): every wanted image must
 * be in it ("not in the lock: run kubeseed fetch") and is pulled by the
 * locked digest, never by tag; images from images.source must have the
 * locked digest. `offline`: the lock is required and nothing is asked of a
 * registry: the images are taken from the store by digest. */
int preload_stage_locked(const struct profile *p, const struct arch_info *a, const char *cas_dir,
                         const char *root, uint64_t source_date_epoch, const char *credentials_path,
                         const struct image_list *addon_images, const struct lock_arch *lock, bool offline,
                         struct stagekey *key, struct preload_result *ret);

/* preload_stage_locked() writing the archive to `archive` instead of into a
 * root (kubeseed preload); `key` may be NULL. */
int preload_write(const struct profile *p, const struct arch_info *a, const char *cas_dir,
                  const char *archive, uint64_t source_date_epoch, const char *credentials_path,
                  const struct image_list *addon_images, const struct lock_arch *lock, bool offline,
                  struct stagekey *key, struct preload_result *ret);

/* kubeseed fetch: resolves every wanted image for `a` (by tag, or from
 * images.source), brings it into the store, and appends each one (name as
 * asked, manifest digest, media type, size) to `section`. 0 without
 * kubernetes.version, 1 otherwise, or a negative errno (logged). */
int preload_fetch(const struct profile *p, const struct arch_info *a, const char *cas_dir,
                  const char *credentials_path, const struct image_list *addon_images,
                  struct lock_arch *section);
