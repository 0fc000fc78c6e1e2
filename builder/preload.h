/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "arch.h"
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
