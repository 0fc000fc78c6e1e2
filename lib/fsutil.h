/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* Write `size` bytes to `path` atomically: a temp file beside it, fsync,
 * rename over `path`, fsync of the directory. `mode` applies to the new file
 * (0600 for anything holding a secret). Returns 0 or a negative errno. */
int write_file_atomic(const char *path, const void *data, size_t size, mode_t mode);

/* write_file_atomic() of `path` below `root` (see path_join_root()), creating
 * the directories above it (mode 0755) first. */
int write_file_atomic_root(const char *root, const char *path, const void *data, size_t size, mode_t mode);

/* Read a whole file, refusing files larger than max_size (-EFBIG). The
 * buffer is NUL-terminated (not counted in *ret_size). */
int read_file_full(const char *path, size_t max_size, char **ret_data, size_t *ret_size);

/* read_file_full() of a regular file: -EBADF for anything else (a symlink, a
 * device, a directory), without following a symlink. */
int read_regular_file(const char *path, size_t max_size, char **ret_data, size_t *ret_size);

/* mkdir -p with `mode` for the directories it creates. */
int mkdir_p(const char *path, mode_t mode);
/* pwrite() of all n bytes at off, across short writes and EINTR. */
int write_all_at(int fd, const void *data, size_t n, uint64_t off);

/* Join a root prefix and an absolute path: ("/tmp/r", "/etc/x") -> "/tmp/r/etc/x";
 * root NULL or "/" gives the path itself. Returns NULL on allocation failure. */
char *path_join_root(const char *root, const char *path);

/* Remove a directory tree (like rm -rf, does not cross mount points). */
int rm_rf(const char *path);

/* fsync the directory holding `path`. */
int fsync_parent_dir(const char *path);

/* For a file written front to back and fsynced at the end: once `written`
 * is FSUTIL_WRITEBACK_CHUNK bytes past *mark, start the writeback of
 * [*mark, written) (sync_file_range SYNC_FILE_RANGE_WRITE, which does not
 * wait for it) and move *mark. The disk then works while the rest is being
 * written, and the final fsync has little left to wait for. Errors are left
 * to that fsync. */
#define FSUTIL_WRITEBACK_CHUNK (8u << 20)
void writeback_hint(int fd, uint64_t written, uint64_t *mark);

/* Finish a stream from open_memstream(&buf, &size): fclose it (*f becomes
 * NULL), check for errors, and hand the buffer out through *ret (and the size
 * through *ret_size when not NULL); *buf becomes NULL. Returns 0, or -ENOMEM
 * after freeing the buffer. */
int memstream_finish(FILE **f, char **buf, size_t *size, char **ret, size_t *ret_size);

struct dirent;
/* scandir() filter: a visible "*.tar" entry (preloaded image archives). */
int dirent_is_tar(const struct dirent *d);
