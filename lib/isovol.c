/* SPDX-License-Identifier: MIT */
#include "isovol.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "macro.h"
#include "strv.h"
#include "tarx.h"

struct membuf {
        char *data;
        size_t size, cap;
};

static la_ssize_t mem_write(struct archive *a, void *userdata, const void *buf, size_t n) {
        struct membuf *m = userdata;
        if (m->size + n > ISOVOL_FILES_MAX * (size_t) ISOVOL_FILE_MAX + (1U << 20)) {
                archive_set_error(a, EFBIG, "volume too large");
                return -1;
        }
        if (m->size + n > m->cap) {
                size_t cap = m->cap ? m->cap : 256U * 1024U;
                while (cap < m->size + n)
                        cap *= 2;
                char *d = malloc(cap);
                if (!d) {
                        archive_set_error(a, ENOMEM, "out of memory");
                        return -1;
                }
                /* Not realloc(): the old buffer is wiped, not left behind. */
                if (m->data) {
                        memcpy(d, m->data, m->size);
                        explicit_bzero(m->data, m->cap);
                        free(m->data);
                }
                m->data = d;
                m->cap = cap;
        }
        memcpy(m->data + m->size, buf, n);
        m->size += n;
        return (la_ssize_t) n;
}

static int fail(struct archive *a, char **ret_error, const char *what) {
        int e = archive_errno(a);
        int r = e == ENOMEM ? -ENOMEM : e == EFBIG ? -EFBIG : -EIO;
        const char *why = archive_error_string(a);
        return replace_error(ret_error, r, "%s: %s", what, why ? why : "libarchive failed");
}

int isovol_build(const char *volume_id, const struct isovol_file *files, size_t n_files, long long mtime,
                 char **ret_data, size_t *ret_size, char **ret_error) {
        if (!volume_id || !*volume_id || strlen(volume_id) > 32 || n_files > ISOVOL_FILES_MAX)
                return replace_error(ret_error, -EINVAL,
                                     "volume id of 1-32 characters and at most %u files expected",
                                     ISOVOL_FILES_MAX);
        for (size_t i = 0; i < n_files; i++)
                if (!files[i].name || !*files[i].name || strchr(files[i].name, '/') ||
                    files[i].size > ISOVOL_FILE_MAX)
                        return replace_error(ret_error, -EINVAL,
                                             "file %zu: a plain name and at most %u bytes expected", i,
                                             ISOVOL_FILE_MAX);

        _cleanup_(archive_write_freep) struct archive *a = archive_write_new();
        if (!a)
                return -ENOMEM;
        struct membuf m = {};
        int r = 0;
        if (archive_write_set_format_iso9660(a) != ARCHIVE_OK ||
            archive_write_set_format_option(a, "iso9660", "volume-id", volume_id) != ARCHIVE_OK ||
            archive_write_set_format_option(a, "iso9660", "rockridge", "useful") != ARCHIVE_OK ||
            archive_write_set_format_option(a, "iso9660", "joliet", "1") != ARCHIVE_OK ||
            archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
            archive_write_open2(a, &m, NULL, mem_write, NULL, NULL) != ARCHIVE_OK) {
                r = fail(a, ret_error, "cannot start an ISO 9660 volume");
                goto finish;
        }
        for (size_t i = 0; i < n_files; i++) {
                _cleanup_(archive_entry_freep) struct archive_entry *e = archive_entry_new();
                if (!e) {
                        r = -ENOMEM;
                        goto finish;
                }
                archive_entry_set_pathname(e, files[i].name);
                archive_entry_set_filetype(e, AE_IFREG);
                archive_entry_set_perm(e, 0400);
                archive_entry_set_size(e, (la_int64_t) files[i].size);
                archive_entry_set_mtime(e, (time_t) mtime, 0);
                if (archive_write_header(a, e) != ARCHIVE_OK ||
                    (files[i].size > 0 &&
                     archive_write_data(a, files[i].data, files[i].size) != (la_ssize_t) files[i].size)) {
                        r = fail(a, ret_error, files[i].name);
                        goto finish;
                }
        }
        if (archive_write_close(a) != ARCHIVE_OK) {
                r = fail(a, ret_error, "cannot finish the ISO 9660 volume");
                goto finish;
        }
        *ret_data = TAKE_PTR(m.data);
        *ret_size = m.size;
        return 0;
finish:
        if (m.data) {
                explicit_bzero(m.data, m.cap);
                free(m.data);
        }
        return r;
}

int isovol_write(const char *path, mode_t mode, const char *volume_id, const struct isovol_file *files,
                 size_t n_files, long long mtime, char **ret_error) {
        char *data = NULL;
        size_t size = 0;
        int r = isovol_build(volume_id, files, n_files, mtime, &data, &size, ret_error);
        if (r < 0)
                return r;
        r = write_file_atomic(path, data, size, mode);
        explicit_bzero(data, size);
        free(data);
        if (r < 0)
                return replace_error(ret_error, r, "cannot write %s: %s", path, strerror(-r));
        return 0;
}
