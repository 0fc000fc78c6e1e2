/* SPDX-License-Identifier: MIT */
#include "stagekey.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"

struct stagekey {
        struct sha256 *h;
};

static int put_field(struct stagekey *k, const char *name, const void *data, size_t size) {
        /* name NUL size(8 bytes LE) data: unambiguous whatever the contents. */
        uint8_t len[8];
        for (int i = 0; i < 8; i++)
                len[i] = (uint8_t) ((uint64_t) size >> (8 * i));
        int r = sha256_update(k->h, name, strlen(name) + 1);
        if (r >= 0)
                r = sha256_update(k->h, len, sizeof len);
        if (r >= 0 && size)
                r = sha256_update(k->h, data, size);
        return r;
}

int stagekey_new(const char *stage, unsigned version, struct stagekey **ret) {
        struct stagekey *k = calloc(1, sizeof *k);
        if (!k)
                return -ENOMEM;
        int r = sha256_new(&k->h);
        if (r < 0) {
                free(k);
                return r;
        }
        char v[32];
        snprintf(v, sizeof v, "%u", version);
        r = put_field(k, "stage", stage, strlen(stage));
        if (r >= 0)
                r = put_field(k, "version", v, strlen(v));
        if (r < 0) {
                stagekey_free(k);
                return r;
        }
        *ret = k;
        return 0;
}

int stagekey_add(struct stagekey *k, const char *name, const char *value) {
        /* NULL and "" are different inputs. */
        if (!value)
                return put_field(k, name, "\xff", 1);
        return put_field(k, name, value, strlen(value) + 1);
}

int stagekey_add_list(struct stagekey *k, const char *name, char *const *list) {
        size_t n = 0;
        for (char *const *i = list; i && *i; i++)
                n++;
        char count[32];
        snprintf(count, sizeof count, "%zu", n);
        int r = put_field(k, name, count, strlen(count));
        for (char *const *i = list; r >= 0 && i && *i; i++)
                r = put_field(k, "item", *i, strlen(*i) + 1);
        return r;
}

int stagekey_add_data(struct stagekey *k, const char *name, const void *data, size_t size) {
        return put_field(k, name, data, size);
}

int stagekey_add_file(struct stagekey *k, const char *name, const char *path) {
        char hex[SHA256_HEX_LEN + 1];
        int r = sha256_file(path, hex);
        if (r < 0)
                return r;
        return put_field(k, name, hex, SHA256_HEX_LEN);
}

/* Byte order, not the locale's collation: the key must not depend on
 * LC_COLLATE. */
static int name_cmp(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

static int add_tree_rec(struct stagekey *k, const char *root, const char *rel) {
        _cleanup_free_ char *dir = NULL;
        if (asprintf(&dir, "%s%s%s", root, *rel ? "/" : "", rel) < 0)
                return -ENOMEM;
        struct dirent **names = NULL;
        int n = scandir(dir, &names, NULL, name_cmp);
        if (n < 0)
                return negative_errno();
        int r = 0;
        for (int i = 0; i < n; i++) {
                const char *e = names[i]->d_name;
                if (r < 0 || streq(e, ".") || streq(e, "..")) {
                        free(names[i]);
                        continue;
                }
                _cleanup_free_ char *relpath = NULL, *full = NULL;
                if (asprintf(&relpath, "%s%s%s", rel, *rel ? "/" : "", e) < 0 ||
                    asprintf(&full, "%s/%s", root, relpath) < 0) {
                        r = -ENOMEM;
                        free(names[i]);
                        continue;
                }
                free(names[i]);
                struct stat st;
                if (lstat(full, &st) < 0) {
                        r = negative_errno();
                        continue;
                }
                char meta[64];
                snprintf(meta, sizeof meta, "%o", (unsigned) st.st_mode);
                r = put_field(k, "path", relpath, strlen(relpath));
                if (r >= 0)
                        r = put_field(k, "mode", meta, strlen(meta));
                if (r < 0)
                        continue;
                if (S_ISDIR(st.st_mode))
                        r = add_tree_rec(k, root, relpath);
                else if (S_ISLNK(st.st_mode)) {
                        char target[4096];
                        ssize_t l = readlink(full, target, sizeof target);
                        r = l < 0 ? negative_errno() : put_field(k, "link", target, (size_t) l);
                } else if (S_ISREG(st.st_mode))
                        r = stagekey_add_file(k, "content", full);
                else
                        r = -EBADF; /* devices and fifos have no place in an overlay */
        }
        free(names);
        return r;
}

int stagekey_add_tree(struct stagekey *k, const char *name, const char *dir) {
        int r = put_field(k, "tree", name, strlen(name));
        if (r < 0)
                return r;
        return add_tree_rec(k, dir, "");
}

int stagekey_final(struct stagekey *k, char out[SHA256_HEX_LEN + 1]) {
        return sha256_final(k->h, out, NULL);
}

void stagekey_free(struct stagekey *k) {
        if (!k)
                return;
        sha256_free(k->h);
        free(k);
}
