/* SPDX-License-Identifier: MIT */
#include "tarx.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"

/* Entries are re-rooted under dir (so libarchive sees absolute paths): check
 * the entry's own name instead. */
static bool name_is_safe(const char *name) {
        if (name[0] == '/')
                return false;
        for (const char *p = name; (p = strstr(p, "..")); p += 2)
                if ((p == name || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
                        return false;
        return true;
}

static int fail(struct archive *a, const char *what, char **ret_error) {
        int e = archive_errno(a);
        if (ret_error && asprintf(ret_error, "%s: %s", what, archive_error_string(a) ?: "unknown error") < 0)
                *ret_error = NULL;
        return e > 0 ? -e : -EIO;
}

int tar_extract(const char *archive_path, const char *dir, char **ret_error) {
        _cleanup_(archive_read_freep) struct archive *in = archive_read_new();
        _cleanup_(archive_write_freep) struct archive *out = archive_write_disk_new();
        if (!in || !out)
                return -ENOMEM;
        archive_read_support_format_tar(in);
        archive_read_support_format_gnutar(in);
        archive_read_support_filter_all(in);
        int flags = ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_TIME |
                    ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_ACL | ARCHIVE_EXTRACT_FFLAGS |
                    ARCHIVE_EXTRACT_SECURE_NODOTDOT;
        archive_write_disk_set_options(out, flags);
        archive_write_disk_set_standard_lookup(out);

        if (archive_read_open_filename(in, archive_path, 1 << 20) != ARCHIVE_OK)
                return fail(in, archive_path, ret_error);

        size_t dlen = strlen(dir);
        for (;;) {
                struct archive_entry *e;
                int r = archive_read_next_header(in, &e);
                if (r == ARCHIVE_EOF)
                        break;
                if (r < ARCHIVE_WARN)
                        return fail(in, archive_path, ret_error);

                /* Re-root every path (and hard link target) under dir. */
                const char *name = archive_entry_pathname(e);
                while (name[0] == '.' && name[1] == '/')
                        name += 2;
                if (!name_is_safe(name)) {
                        if (ret_error && asprintf(ret_error, "%s: unsafe entry '%s' (absolute or with '..')",
                                                  archive_path, name) < 0)
                                *ret_error = NULL;
                        return -EPERM;
                }
                _cleanup_free_ char *full = NULL;
                if (asprintf(&full, "%.*s/%s", (int) dlen, dir, name) < 0)
                        return -ENOMEM;
                archive_entry_set_pathname(e, full);
                const char *hl = archive_entry_hardlink(e);
                _cleanup_free_ char *hlfull = NULL;
                if (hl) {
                        while (hl[0] == '.' && hl[1] == '/')
                                hl += 2;
                        if (!name_is_safe(hl)) {
                                if (ret_error && asprintf(ret_error, "%s: unsafe hard link target '%s'",
                                                          archive_path, hl) < 0)
                                        *ret_error = NULL;
                                return -EPERM;
                        }
                        if (asprintf(&hlfull, "%.*s/%s", (int) dlen, dir, hl) < 0)
                                return -ENOMEM;
                        archive_entry_set_hardlink(e, hlfull);
                }

                r = archive_write_header(out, e);
                if (r < ARCHIVE_WARN)
                        return fail(out, name, ret_error);
                if (archive_entry_size(e) > 0) {
                        const void *buf;
                        size_t size;
                        la_int64_t off;
                        for (;;) {
                                r = archive_read_data_block(in, &buf, &size, &off);
                                if (r == ARCHIVE_EOF)
                                        break;
                                if (r < ARCHIVE_WARN)
                                        return fail(in, archive_path, ret_error);
                                if (archive_write_data_block(out, buf, size, off) < ARCHIVE_WARN)
                                        return fail(out, name, ret_error);
                        }
                }
                if (archive_write_finish_entry(out) < ARCHIVE_WARN)
                        return fail(out, name, ret_error);
        }
        if (archive_write_close(out) != ARCHIVE_OK)
                return fail(out, dir, ret_error);
        return 0;
}
