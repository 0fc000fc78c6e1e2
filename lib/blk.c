/* SPDX-License-Identifier: MIT */
#include "blk.h"

#include <blkid.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "log.h"
#include "macro.h"

static void blkid_free_probep(blkid_probe *pr) {
        if (*pr)
                blkid_free_probe(*pr);
}
#define _cleanup_blkid_probe_ _cleanup_(blkid_free_probep)

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

void blk_device_free(struct blk_device *d) {
        if (!d)
                return;
        free(d->path);
        free(d->type);
        free(d->label);
        free(d->uuid);
        free(d);
}

/* A value the probe found, copied; NULL (and 0) when absent. */
static int lookup_dup(blkid_probe pr, const char *name, char **ret) {
        const char *v = NULL;
        size_t len = 0;
        if (blkid_probe_lookup_value(pr, name, &v, &len) < 0 || !v || !*v) {
                *ret = NULL;
                return 0;
        }
        /* len counts the terminating NUL; do not trust it further than strnlen. */
        char *s = strndup(v, len);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int blk_probe_path(const char *path, struct blk_device **ret) {
        errno = 0;
        _cleanup_blkid_probe_ blkid_probe pr = blkid_new_probe_from_filename(path);
        if (!pr) {
                int r = negative_errno();
                /* A drive without a medium (empty CD-ROM) is "nothing here". */
                if (r == -ENOMEDIUM || r == -ENXIO)
                        return 0;
                return r;
        }
        if (blkid_probe_enable_partitions(pr, 0) < 0 || blkid_probe_enable_superblocks(pr, 1) < 0 ||
            blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_LABEL | BLKID_SUBLKS_TYPE |
                                                          BLKID_SUBLKS_UUID) < 0 ||
            blkid_probe_filter_superblocks_usage(pr, BLKID_FLTR_ONLYIN, BLKID_USAGE_FILESYSTEM) < 0)
                return -EIO;

        errno = 0;
        int r = blkid_do_safeprobe(pr);
        if (r == 1)
                return 0; /* nothing recognised */
        if (r == -2)
                return -ENOTUNIQ; /* ambivalent: more than one superblock */
        if (r < 0)
                return negative_errno();

        _cleanup_blk_device_ struct blk_device *d = calloc(1, sizeof *d);
        if (!d)
                return -ENOMEM;
        if (lookup_dup(pr, "TYPE", &d->type) < 0 || lookup_dup(pr, "LABEL", &d->label) < 0 ||
            lookup_dup(pr, "UUID", &d->uuid) < 0)
                return -ENOMEM;
        if (!d->type)
                return 0;
        d->path = strdup(path);
        if (!d->path)
                return -ENOMEM;
        *ret = TAKE_PTR(d);
        return 1;
}

/* Is the device empty? Reads <class_dir>/<name>/size (512-byte sectors). A
 * missing or unreadable size file is "not known to be empty". */
static bool device_is_empty(const char *class_dir, const char *name) {
        _cleanup_free_ char *dir = path_join_root(class_dir, name);
        if (!dir)
                return false;
        _cleanup_free_ char *size_path = path_join_root(dir, "size");
        _cleanup_free_ char *data = NULL;
        if (!size_path || read_file_full(size_path, 64, &data, NULL) < 0)
                return false;
        data[strcspn(data, "\n")] = '\0';
        return streq(data, "0");
}

static int cmp_version(const void *a, const void *b) {
        return strverscmp(*(char *const *) a, *(char *const *) b);
}

int blk_list_devices(const struct blk_system *sys, char ***ret_paths) {
        const char *class_dir = sys && sys->class_dir ? sys->class_dir : "/sys/class/block";
        const char *dev_dir = sys && sys->dev_dir ? sys->dev_dir : "/dev";
        enum { MAX_DEVICES = 4096 };

        _cleanup_(closedirp) DIR *d = opendir(class_dir);
        if (!d)
                return negative_errno();

        _cleanup_strv_free_ char **paths = calloc(1, sizeof(char *));
        if (!paths)
                return -ENOMEM;
        size_t n = 0;
        for (;;) {
                errno = 0;
                struct dirent *de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                return negative_errno();
                        break;
                }
                if (de->d_name[0] == '.')
                        continue;
                if (device_is_empty(class_dir, de->d_name))
                        continue;
                if (n >= MAX_DEVICES)
                        return -E2BIG;

                /* sysfs spells '/' in device names as '!' (cciss!c0d0). */
                _cleanup_free_ char *name = strdup(de->d_name);
                if (!name)
                        return -ENOMEM;
                for (char *c = name; *c; c++)
                        if (*c == '!')
                                *c = '/';
                char *p = path_join_root(dev_dir, name);
                if (!p)
                        return -ENOMEM;
                char **grown = realloc(paths, (n + 2) * sizeof(char *));
                if (!grown) {
                        free(p);
                        return -ENOMEM;
                }
                paths = grown;
                paths[n++] = p;
                paths[n] = NULL;
        }
        qsort(paths, n, sizeof(char *), cmp_version);
        *ret_paths = TAKE_PTR(paths);
        return 0;
}

static int real_list_devices(void *userdata, char ***ret_paths) {
        return blk_list_devices(userdata, ret_paths);
}

static int real_probe(void *userdata, const char *path, struct blk_device **ret) {
        (void) userdata;
        return blk_probe_path(path, ret);
}

const struct blk_ops blk_ops_real = {
        .list_devices = real_list_devices,
        .probe = real_probe,
};

static bool strv_contains(const char *const *v, const char *s) {
        if (!s)
                return false;
        for (; v && *v; v++)
                if (streq(*v, s))
                        return true;
        return false;
}

int blk_find_by_label(const struct blk_ops *ops, void *userdata, const char *const *labels,
                      const char *const *types, struct blk_device **ret, size_t *ret_n_examined) {
        if (!ops || !labels || !ret)
                return -EINVAL;

        _cleanup_strv_free_ char **paths = NULL;
        int r = ops->list_devices(userdata, &paths);
        if (r < 0)
                return r;

        size_t n = 0;
        for (char **p = paths; p && *p; p++) {
                n++;
                _cleanup_blk_device_ struct blk_device *d = NULL;
                r = ops->probe(userdata, *p, &d);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        log_debug_errno(r, "Skipping %s: cannot probe: %m", *p);
                        continue;
                }
                if (r == 0 || !d) {
                        log_debug("Skipping %s: no filesystem", *p);
                        continue;
                }
                if (!strv_contains(labels, d->label)) {
                        log_debug("Skipping %s: %s with label '%s'", *p, d->type, d->label ? d->label : "");
                        continue;
                }
                if (types && !strv_contains(types, d->type)) {
                        log_debug("Skipping %s: label '%s' matches but filesystem %s is not "
                                  "accepted",
                                  *p, d->label, d->type);
                        continue;
                }
                if (ret_n_examined)
                        *ret_n_examined = n;
                *ret = TAKE_PTR(d);
                return 1;
        }
        if (ret_n_examined)
                *ret_n_examined = n;
        return 0;
}

char *blk_device_describe(const struct blk_device *d) {
        char *s = NULL;
        int r;
        if (d->label)
                r = asprintf(&s, "%s (%s, label %s)", d->path, d->type, d->label);
        else
                r = asprintf(&s, "%s (%s)", d->path, d->type);
        return r < 0 ? NULL : s;
}
