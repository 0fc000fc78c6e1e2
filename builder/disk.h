/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch.h"
#include "gpt.h"
#include "profile.h"

/* Stage 5: the disk. A unified kernel image (systemd-stub + kernel + initrd +
 * command line, made with objcopy) on a FAT EFI system partition made with
 * mtools, an ext4 root made by `mkfs.ext4 -d` straight into the image file at
 * the partition's offset, and a GPT written by lib/gpt. No loop device, no
 * mount. See docs/building.md. */

#define DISK_ESP_BYTES (UINT64_C(128) << 20)
#define DISK_ROOT_LABEL "root"
#define DISK_ESP_LABEL "ESP"

/* Section placement of a UKI: systemd-stub finds sections by name; their
 * virtual addresses must not overlap the stub or each other. */
struct uki_layout {
        uint64_t osrel_vma, cmdline_vma, linux_vma, initrd_vma;
};
void uki_plan(uint64_t linux_size, struct uki_layout *ret);

/* The UKI's kernel: arm64 kernels are shipped gzip-compressed, which
 * systemd's stub (v252) cannot start. A gzip file is decompressed with zlib
 * into `workdir` (at most `max_size` bytes, else -EFBIG; a corrupt or
 * truncated stream is -EBADMSG) and its path returned with 1; any other
 * file is used as it is (its own path, 0). */
#define UKI_KERNEL_MAX (UINT64_C(256) << 20)
bool uki_kernel_is_gzip(const uint8_t *hdr, size_t size);
int uki_kernel_image(const char *kernel, const char *workdir, uint64_t max_size, char **ret_path);

/* objcopy argv building the UKI (the architecture's objcopy). */
int uki_objcopy_argv(const struct arch_info *a, const struct uki_layout *l, const char *stub,
                     const char *osrel, const char *cmdline, const char *linux_path, const char *initrd,
                     const char *out, char ***ret);

/* The kernel command line: root by PARTUUID, the arch's serial console, then
 * the profile's own words. */
char *disk_kernel_cmdline(const struct arch_info *a, const char *root_partuuid, const char *profile_cmdline);

/* Size of the root filesystem for `content_bytes` of files and `inodes`
 * inodes: content + ext4 overhead + headroom, or the profile's fixed size
 * (-ENOSPC when the content does not fit it). */
int disk_root_size(uint64_t content_bytes, uint64_t inodes, uint64_t fixed_size, uint64_t headroom,
                   uint64_t *ret);

/* mkfs.ext4 argv writing a filesystem of `size` bytes at `offset` in `image`
 * from the tree `src`. */
int disk_mkfs_ext4_argv(const char *image, uint64_t offset, uint64_t size, const char *label,
                        const char *uuid, const char *src, char ***ret);

/* FAT volume serial (8 hex digits) derived from the layout's ESP GUID. */
void disk_fat_serial(const struct gpt_layout *l, char out[9]);

struct disk_build {
        const struct profile *profile;
        const struct arch_info *arch;
        const char *root;    /* staging root (finished tree) */
        const char *workdir; /* scratch space */
        const char *image;   /* raw image path to create */
        const uint8_t *seed; /* 32 bytes: GUIDs and serials derive from it */
        uint64_t source_date_epoch;
        /* Filled in: */
        struct gpt_layout layout;
        char root_partuuid[GPT_GUID_STRING_MAX];
        char root_fs_uuid[GPT_GUID_STRING_MAX];
        char esp_serial[10]; /* XXXX-XXXX as blkid prints it */
        char *cmdline;
};

/* Measures the root tree (apparent size, blocks and inode count). */
int disk_measure_tree(const char *root, uint64_t *ret_bytes, uint64_t *ret_inodes);

/* Plans the layout (before anything in the root depends on the GUIDs:
 * fstab and the command line do). */
int disk_plan(struct disk_build *b);
/* Builds the raw image. */
int disk_build_raw(struct disk_build *b);
/* Probes the finished image with libblkid: GPT, both partitions, their
 * types, names and UUIDs, and both filesystems' types, labels and UUIDs.
 * Returns -EBADMSG with the mismatch logged. */
int disk_verify(const struct disk_build *b);
void disk_build_done(struct disk_build *b);
