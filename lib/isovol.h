/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Small ISO 9660 volumes (NoCloud seeds) written with libarchive's iso9660
 * writer: Rock Ridge and Joliet names, so Linux and cloud-init read the
 * files under their own names; the volume identifier is the label libblkid
 * reports. No mkisofs/genisoimage. */

#define ISOVOL_FILE_MAX (8U * 1024U * 1024U)
#define ISOVOL_FILES_MAX 64U

struct isovol_file {
        const char *name; /* a plain file name in the root directory */
        const void *data;
        size_t size;
};

/* The whole volume in memory. `volume_id`: 1-32 characters ("cidata").
 * `mtime`: the files' time. -EINVAL for bad arguments, -EIO with
 * libarchive's reason in *ret_error (may be NULL), -ENOMEM. The buffer may
 * hold secrets: the caller wipes it. */
int isovol_build(const char *volume_id, const struct isovol_file *files, size_t n_files, long long mtime,
                 char **ret_data, size_t *ret_size, char **ret_error);

/* isovol_build() and write_file_atomic() to `path` with `mode`. */
int isovol_write(const char *path, mode_t mode, const char *volume_id, const struct isovol_file *files,
                 size_t n_files, long long mtime, char **ret_error);
