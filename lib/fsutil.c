/* SPDX-License-Identifier: MIT */
#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"

int fsync_parent_dir(const char *path) {
        _cleanup_free_ char *copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        _cleanup_close_ int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        if (fsync(fd) < 0)
                return negative_errno();
        return 0;
}

void writeback_hint(int fd, uint64_t written, uint64_t *mark) {
        if (written < *mark || written - *mark < FSUTIL_WRITEBACK_CHUNK)
                return;
        (void) sync_file_range(fd, (off_t) *mark, (off_t) (written - *mark), SYNC_FILE_RANGE_WRITE);
        *mark = written;
}

int write_file_atomic(const char *path, const void *data, size_t size, mode_t mode) {
        size_t len = strlen(path);
        _cleanup_free_ char *tmp = malloc(len + 16);
        if (!tmp)
                return -ENOMEM;
        snprintf(tmp, len + 16, "%s.tmpXXXXXX", path);

        _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        int r = 0;
        if (fchmod(fd, mode) < 0) {
                r = negative_errno();
                goto fail;
        }
        const char *p = data;
        size_t left = size;
        while (left > 0) {
                ssize_t n = write(fd, p, left);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = negative_errno();
                        goto fail;
                }
                p += n;
                left -= (size_t) n;
        }
        if (fsync(fd) < 0) {
                r = negative_errno();
                goto fail;
        }
        if (rename(tmp, path) < 0) {
                r = negative_errno();
                goto fail;
        }
        return fsync_parent_dir(path);
fail:
        (void) unlink(tmp);
        return r;
}

int write_file_atomic_root(const char *root, const char *path, const void *data, size_t size, mode_t mode) {
        _cleanup_free_ char *full = path_join_root(root, path);
        _cleanup_free_ char *dir = full ? strdup(full) : NULL;
        if (!dir)
                return -ENOMEM;
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
                *slash = '\0';
                int r = mkdir_p(dir, 0755);
                if (r < 0)
                        return r;
        }
        return write_file_atomic(full, data, size, mode);
}

int read_file_full(const char *path, size_t max_size, char **ret_data, size_t *ret_size) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        struct stat st;
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        size_t cap = 4096, used = 0;
        _cleanup_free_ char *buf = malloc(cap + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                if (used == cap) {
                        if (cap > max_size)
                                return -EFBIG;
                        cap *= 2;
                        char *n = realloc(buf, cap + 1);
                        if (!n)
                                return -ENOMEM;
                        buf = n;
                }
                ssize_t k = read(fd, buf + used, cap - used);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        break;
                used += (size_t) k;
                if (used > max_size)
                        return -EFBIG;
        }
        buf[used] = '\0';
        *ret_data = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = used;
        return 0;
}

int read_regular_file(const char *path, size_t max_size, char **ret_data, size_t *ret_size) {
        struct stat st;
        if (lstat(path, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return -EBADF;
        return read_file_full(path, max_size, ret_data, ret_size);
}

int mkdir_p(const char *path, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);
        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = '\0';
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return negative_errno();
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return negative_errno();
        return 0;
}

char *path_join_root(const char *root, const char *path) {
        if (!root || streq(root, "/") || !*root)
                return strdup(path);
        size_t rl = strlen(root);
        while (rl > 1 && root[rl - 1] == '/')
                rl--;
        while (*path == '/')
                path++;
        size_t n = rl + 1 + strlen(path) + 1;
        char *out = malloc(n);
        if (!out)
                return NULL;
        snprintf(out, n, "%.*s/%s", (int) rl, root, path);
        return out;
}

static int rm_one(const char *fpath, const struct stat *sb, int typeflag, struct FTW *ftwbuf) {
        (void) sb;
        (void) ftwbuf;
        if (typeflag == FTW_DP)
                return rmdir(fpath) < 0 ? -1 : 0;
        return unlink(fpath) < 0 ? -1 : 0;
}

int rm_rf(const char *path) {
        struct stat st;
        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : negative_errno();
        if (!S_ISDIR(st.st_mode))
                return unlink(path) < 0 ? negative_errno() : 0;
        if (nftw(path, rm_one, 64, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
                return negative_errno();
        return 0;
}

int memstream_finish(FILE **f, char **buf, size_t *size, char **ret, size_t *ret_size) {
        bool failed = ferror(*f);
        int k = fclose(*f);
        *f = NULL;
        if (failed || k != 0 || !*buf) {
                free(*buf);
                *buf = NULL;
                return -ENOMEM;
        }
        *ret = *buf;
        *buf = NULL;
        if (ret_size)
                *ret_size = *size;
        return 0;
}

int dirent_is_tar(const struct dirent *d) {
        size_t n = strlen(d->d_name);
        return n > 4 && streq(d->d_name + n - 4, ".tar") && d->d_name[0] != '.';
}

int write_all_at(int fd, const void *data, size_t n, uint64_t off) {
        const char *p = data;
        while (n > 0) {
                ssize_t k = pwrite(fd, p, n, (off_t) off);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                p += k;
                n -= (size_t) k;
                off += (uint64_t) k;
        }
        return 0;
}
