/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Write `size` bytes to `path` atomically: a temp file beside it, fsync,
 * rename over `path`, fsync of the directory. `mode` applies to the new file
 * (0600 for anything holding a secret). Returns 0 or a negative errno. */
int write_file_atomic(const char *path, const void *data, size_t size, mode_t mode);

/* Read a whole file, refusing files larger than max_size (-EFBIG). The
 * buffer is NUL-terminated (not counted in *ret_size). */
int read_file_full(const char *path, size_t max_size, char **ret_data, size_t *ret_size);

/* mkdir -p with `mode` for the directories it creates. */
int mkdir_p(const char *path, mode_t mode);

/* Join a root prefix and an absolute path: ("/tmp/r", "/etc/x") -> "/tmp/r/etc/x";
 * root NULL or "/" gives the path itself. Returns NULL on allocation failure. */
char *path_join_root(const char *root, const char *path);

/* Remove a directory tree (like rm -rf, does not cross mount points). */
int rm_rf(const char *path);

/* fsync the directory holding `path`. */
int fsync_parent_dir(const char *path);
