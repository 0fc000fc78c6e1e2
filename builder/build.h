/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "arch.h"
#include "lock.h"
#include "profile.h"

struct build_options {
        const struct profile *profile;
        const struct arch_info *arch;
        const char *out_dir;
        const char *cache_dir;
        const char *overlays_dir; /* where overlays/<name> live */
        /* Directories copied after the profile's overlays (--extra-overlay):
         * site customisation, and the test doubles of qemu-tests/. */
        char *const *extra_overlays;
        const char *agent_path;           /* kubeseed-firstboot built for the target */
        const char *registry_credentials; /* --registry-credentials FILE, or NULL */
        uint64_t source_date_epoch;
        /* The lock file (beside the profile: images/x.yaml -> images/x.lock).
         * When it exists, builds take every digest from it; `kubeseed fetch`
         * writes it. NULL: no lock. */
        const char *lock_path;
        /* --offline: the lock is required, nothing is downloaded; everything
         * must already be in <cache>/store. */
        bool offline;
};

/* Output file names: kubeseed-<profile>-<arch>.<ext>. */
char *build_output_name(const struct profile *p, const struct arch_info *a, const char *ext);

/* ELF e_machine of the binary whose first bytes are `hdr` (at least 20
 * bytes); -EINVAL when it is not an ELF file. */
int elf_machine(const uint8_t *hdr, size_t size, unsigned *ret);

/* Every overlay directory in the order it is applied: the profile's
 * overlays/<name>, then the extra ones. */
int build_overlay_dirs(const struct build_options *o, char ***ret);

/* The whole pipeline: rootfs -> overlays -> agent -> disk -> outputs. Every
 * output is written under a temporary name and renamed only when everything
 * succeeded. */
int build_run(const struct build_options *o);

/* kubeseed fetch: on a connected machine, brings the Kubernetes bundle and
 * every image for o->arch into <cache>/store (tags resolved to digests) and
 * writes o->lock_path with this architecture's section replaced. No image
 * is built. 0 or a negative errno (logged). */
int fetch_run(const struct build_options *o);

/* kubeseed preload: the preload stage alone, with the same lock and
 * --offline rules as a build: every image the image would hold, written as
 * one OCI archive <out_dir>/kubeseed-<profile>-<arch>.images.tar (what a
 * build puts at /usr/share/kubeseed/images/preload.tar). No root
 * filesystem, no Kubernetes binaries. 0 or a negative errno (logged). */
int preload_run(const struct build_options *o);

/* --offline: checks before anything is built that the lock and the store
 * hold everything the build needs; logs every missing item at once. */
int build_offline_check(const struct build_options *o, const struct lock_arch *section, const char *cas_dir);
