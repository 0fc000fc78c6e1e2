/* SPDX-License-Identifier: MIT */
#include "overlay.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include <stdbool.h>

static int copy_regular(const char *src, const char *dst, mode_t mode) {
        _cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
        if (in < 0)
                return log_error_errno(-errno, "overlay: cannot open '%s': %m", src);
        _cleanup_free_ char *tmp = NULL;
        if (asprintf(&tmp, "%s.kubeseed-tmp", dst) < 0)
                return log_oom();
        _cleanup_close_ int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (out < 0)
                return log_error_errno(-errno, "overlay: cannot create '%s': %m", tmp);
        char buf[65536];
        for (;;) {
                ssize_t n = read(in, buf, sizeof buf);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return log_error_errno(-errno, "overlay: cannot read '%s': %m", src);
                if (n == 0)
                        break;
                for (ssize_t off = 0; off < n;) {
                        ssize_t w = write(out, buf + off, (size_t) (n - off));
                        if (w < 0 && errno == EINTR)
                                continue;
                        if (w < 0)
                                return log_error_errno(-errno, "overlay: cannot write '%s': %m", tmp);
                        off += w;
                }
        }
        if (fchown(out, 0, 0) < 0 && geteuid() == 0)
                return log_error_errno(-errno, "overlay: cannot chown '%s': %m", tmp);
        if (fchmod(out, mode & 07777) < 0)
                return log_error_errno(-errno, "overlay: cannot chmod '%s': %m", tmp);
        if (rename(tmp, dst) < 0)
                return log_error_errno(-errno, "overlay: cannot install '%s': %m", dst);
        return 0;
}

static int copy_tree(const char *src, const char *dst) {
        _cleanup_(closedirp_) DIR *d = NULL;
        d = opendir(src);
        if (!d)
                return log_error_errno(-errno, "overlay: cannot open directory '%s': %m", src);
        struct dirent *e;
        while ((errno = 0, e = readdir(d))) {
                if (streq(e->d_name, ".") || streq(e->d_name, ".."))
                        continue;
                _cleanup_free_ char *s = NULL, *t = NULL;
                if (asprintf(&s, "%s/%s", src, e->d_name) < 0 || asprintf(&t, "%s/%s", dst, e->d_name) < 0)
                        return log_oom();
                struct stat st, tst;
                if (lstat(s, &st) < 0)
                        return log_error_errno(-errno, "overlay: cannot stat '%s': %m", s);
                int r = 0;
                bool exists = lstat(t, &tst) == 0;
                if (S_ISDIR(st.st_mode)) {
                        if (exists && !S_ISDIR(tst.st_mode))
                                return log_error_errno(
                                        -ENOTDIR,
                                        "overlay: '%s' is a directory in the overlay but not in the image",
                                        t);
                        if (!exists && mkdir(t, 0755) < 0)
                                return log_error_errno(-errno, "overlay: cannot create '%s': %m", t);
                        if (lchown(t, 0, 0) < 0 && geteuid() == 0)
                                return log_error_errno(-errno, "overlay: cannot chown '%s': %m", t);
                        if (chmod(t, st.st_mode & 07777) < 0)
                                return log_error_errno(-errno, "overlay: cannot chmod '%s': %m", t);
                        r = copy_tree(s, t);
                } else if (S_ISLNK(st.st_mode)) {
                        char target[4096];
                        ssize_t l = readlink(s, target, sizeof target - 1);
                        if (l < 0)
                                return log_error_errno(-errno, "overlay: cannot read link '%s': %m", s);
                        target[l] = '\0';
                        if (exists && S_ISDIR(tst.st_mode))
                                return log_error_errno(
                                        -EISDIR, "overlay: cannot replace directory '%s' by a symlink", t);
                        if (exists && unlink(t) < 0)
                                return log_error_errno(-errno, "overlay: cannot replace '%s': %m", t);
                        if (symlink(target, t) < 0)
                                return log_error_errno(-errno, "overlay: cannot create symlink '%s': %m", t);
                        if (lchown(t, 0, 0) < 0 && geteuid() == 0)
                                return log_error_errno(-errno, "overlay: cannot chown '%s': %m", t);
                } else if (S_ISREG(st.st_mode)) {
                        if (exists && S_ISDIR(tst.st_mode))
                                return log_error_errno(
                                        -EISDIR, "overlay: cannot replace directory '%s' by a file", t);
                        r = copy_regular(s, t, st.st_mode);
                } else
                        return log_error_errno(-EBADF,
                                               "overlay: '%s' is not a file, directory or symlink; overlays "
                                               "may hold only those",
                                               s);
                if (r < 0)
                        return r;
        }
        if (errno != 0)
                return log_error_errno(-errno, "overlay: cannot read directory '%s': %m", src);
        return 0;
}

int overlay_apply(const char *overlay_dir, const char *root) {
        struct stat st;
        if (stat(overlay_dir, &st) < 0 || !S_ISDIR(st.st_mode))
                return log_error_errno(-ENOENT, "overlay: '%s' is not a directory", overlay_dir);
        return copy_tree(overlay_dir, root);
}
