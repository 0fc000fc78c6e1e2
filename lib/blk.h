/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

/* Finding block devices (and image files) by filesystem label with libblkid's
 * low-level probe API: no blkid(8) subprocess and no blkid cache file. Each
 * candidate is opened read-only and probed for filesystem superblocks only
 * (LABEL, TYPE, UUID), as util-linux's `blkid -p` does. */

struct blk_device {
        char *path;  /* "/dev/vdb", or the image file probed */
        char *type;  /* "vfat", "iso9660", ... (never NULL) */
        char *label; /* NULL when the filesystem has none */
        char *uuid;  /* NULL when the filesystem has none */
};

void blk_device_free(struct blk_device *d);
static inline void blk_device_freep(struct blk_device **d) {
        blk_device_free(*d);
}
#define _cleanup_blk_device_ __attribute__((cleanup(blk_device_freep)))

/* The I/O behind blk_find_by_label(); tests replace it.
 *
 * list_devices: candidate device paths, a NULL-terminated array the caller
 *   frees with strv_free(). Returns 0 or a negative errno.
 * probe: probe one path. Returns 1 and *ret when a filesystem was recognised,
 *   0 when there is none (empty or unknown content, no medium), or a negative
 *   errno when the device could not be read. */
struct blk_ops {
        int (*list_devices)(void *userdata, char ***ret_paths);
        int (*probe)(void *userdata, const char *path, struct blk_device **ret);
};

/* Where the real ops look. NULL userdata means {"/sys/class/block", "/dev"};
 * tests point these at a fake sysfs directory and a directory of image files. */
struct blk_system {
        const char *class_dir; /* one entry per block device, each with a "size" file */
        const char *dev_dir;   /* device nodes, named as in class_dir ('!' -> '/') */
};
extern const struct blk_ops blk_ops_real;

/* Probe one path (a block device or a regular image file) for a filesystem
 * superblock. Ambivalent results (two filesystems claim the device) are
 * refused with -ENOTUNIQ. Same return values as blk_ops.probe. */
int blk_probe_path(const char *path, struct blk_device **ret);

/* Enumerate block devices below `sys->class_dir`, skipping those of size 0
 * (unbound loop devices, empty drives). Sorted by version order (vda < vdb <
 * vdb1 < vdb10). */
int blk_list_devices(const struct blk_system *sys, char ***ret_paths);

/* Find the first device (in list order) whose filesystem label is one of
 * `labels` (exact, case-sensitive match; NULL-terminated) and, when `types` is
 * not NULL, whose filesystem type is one of `types`. Devices that cannot be
 * read are skipped (logged at debug level). Returns 1 and *ret when found, 0
 * when none matched (*ret untouched), or a negative errno (listing failed, out
 * of memory). *ret_n_examined (may be NULL) receives how many devices were
 * looked at, for the caller's "looked at N block devices" message. */
int blk_find_by_label(const struct blk_ops *ops, void *userdata, const char *const *labels,
                      const char *const *types, struct blk_device **ret, size_t *ret_n_examined);

/* "/dev/vdb (vfat, label CIDATA)" for messages. Caller frees; NULL on ENOMEM. */
char *blk_device_describe(const struct blk_device *d);
