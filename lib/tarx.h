/* SPDX-License-Identifier: MIT */
#pragma once

#include <archive.h>
#include <archive_entry.h>

/* Cleanup helpers for libarchive's objects (they accept NULL). */
static inline void archive_read_freep(struct archive **a) {
        if (*a)
                archive_read_free(*a);
}
static inline void archive_write_freep(struct archive **a) {
        if (*a)
                archive_write_free(*a);
}
static inline void archive_entry_freep(struct archive_entry **e) {
        if (*e)
                archive_entry_free(*e);
}

/* Extract a tar archive (any compression libarchive reads) into `dir`,
 * keeping permissions, owners, times, extended attributes and ACLs. Entries
 * with absolute paths or ".." are refused. */
int tar_extract(const char *archive_path, const char *dir, char **ret_error);
