/* SPDX-License-Identifier: MIT */
#include "seed.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "macro.h"
#include "strv.h"
#include "yamltree.h"

const char *const seed_labels[] = {"cidata", "CIDATA", NULL};
const char *const seed_fs_types[] = {"vfat", "iso9660", NULL};

void seed_meta_done(struct seed_meta *m) {
        free(m->instance_id);
        free(m->local_hostname);
        *m = (struct seed_meta){};
}

void seed_done(struct seed *s) {
        free(s->source);
        seed_meta_done(&s->meta);
        if (s->user_data_text) {
                explicit_bzero(s->user_data_text, s->user_data_size);
                free(s->user_data_text);
        }
        free(s->network_config);
        *s = (struct seed){};
}

const char *seed_user_data_kind_to_string(enum seed_user_data_kind k) {
        switch (k) {
        case SEED_USER_DATA_ABSENT:
                return "absent";
        case SEED_USER_DATA_CLOUD_CONFIG:
                return "cloud-config";
        case SEED_USER_DATA_OTHER:
                return "other";
        }
        return "invalid";
}

bool seed_hostname_valid(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > 253)
                return false;
        size_t label = 0;
        for (size_t i = 0; i <= n; i++) {
                char c = s[i];
                if (c == '.' || c == '\0') {
                        /* Labels: 1-63 characters, no '-' at either end. */
                        if (label == 0 || label > 63 || s[i - 1] == '-' || s[i - label] == '-')
                                return false;
                        label = 0;
                        continue;
                }
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-'))
                        return false;
                label++;
        }
        return true;
}

bool seed_instance_id_valid(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > SEED_INSTANCE_ID_MAX)
                return false;
        for (const char *p = s; *p; p++)
                if (*p <= 0x20 || *p >= 0x7f)
                        return false;
        return true;
}

/* A scalar member or NULL (absent or null); -EBADMSG when present but not a scalar. */
static int get_scalar(const struct ynode *map, const char *key, const char **ret, char **ret_error) {
        const struct ynode *n = ynode_get(map, key);
        if (!n || ynode_is_null(n)) {
                *ret = NULL;
                return 0;
        }
        if (n->kind != YNODE_SCALAR)
                return replace_error(ret_error, -EBADMSG, "%zu:%zu: %s: expected a string", n->line,
                                     n->column, key);
        *ret = n->value;
        return 0;
}

int seed_parse_meta_data(const char *data, size_t size, struct seed_meta *ret, char **ret_error) {
        if (size > SEED_META_DATA_MAX)
                return replace_error(ret_error, -EFBIG, "larger than %u bytes", SEED_META_DATA_MAX);
        struct yaml_limits limits = yaml_default_limits;
        limits.max_input = SEED_META_DATA_MAX;
        limits.max_depth = 16;
        limits.max_nodes = 4096;

        _cleanup_free_ char *yerr = NULL;
        _cleanup_ynode_ struct ynode *root = NULL;
        int r = yaml_parse_one(data, size, &limits, &root, &yerr);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return replace_error(ret_error, -EBADMSG, "%s", yerr ? yerr : "not valid YAML");
        if (root->kind != YNODE_MAPPING)
                return replace_error(ret_error, -EBADMSG, "%zu:%zu: expected a mapping (instance-id: ...)",
                                     root->line, root->column);

        const char *iid = NULL, *host = NULL;
        r = get_scalar(root, "instance-id", &iid, ret_error);
        if (r < 0)
                return r;
        r = get_scalar(root, "local-hostname", &host, ret_error);
        if (r < 0)
                return r;
        if (!iid)
                return replace_error(ret_error, -EBADMSG, "instance-id is missing");
        if (!seed_instance_id_valid(iid)) {
                const struct ynode *n = ynode_get(root, "instance-id");
                return replace_error(ret_error, -EBADMSG,
                                     "%zu:%zu: instance-id: expected 1-%u printable ASCII characters "
                                     "without spaces",
                                     n->line, n->column, SEED_INSTANCE_ID_MAX);
        }
        if (host && !seed_hostname_valid(host)) {
                const struct ynode *n = ynode_get(root, "local-hostname");
                return replace_error(ret_error, -EBADMSG,
                                     "%zu:%zu: local-hostname: expected a hostname (letters, digits, "
                                     "'-' and '.', at most 253 characters)",
                                     n->line, n->column);
        }

        _cleanup_free_ char *a = strdup(iid), *b = host ? strdup(host) : NULL;
        if (!a || (host && !b))
                return -ENOMEM;
        *ret = (struct seed_meta){.instance_id = TAKE_PTR(a), .local_hostname = TAKE_PTR(b)};
        return 0;
}

bool seed_user_data_is_cloud_config(const char *data, size_t size) {
        static const char magic[] = "#cloud-config";
        size_t n = sizeof magic - 1;
        if (size < n || memcmp(data, magic, n) != 0)
                return false;
        /* The first line is exactly the magic, perhaps with trailing blanks. */
        for (size_t i = n; i < size; i++) {
                if (data[i] == '\n')
                        return true;
                if (data[i] != ' ' && data[i] != '\t' && data[i] != '\r')
                        return false;
        }
        return true;
}

int seed_read_dir(const char *dir, const char *source, struct seed *ret, char **ret_error) {
        _cleanup_free_ char *mpath = path_join_root(dir, "/meta-data");
        _cleanup_free_ char *upath = path_join_root(dir, "/user-data");
        if (!mpath || !upath)
                return -ENOMEM;

        _cleanup_free_ char *meta = NULL;
        size_t meta_size = 0;
        int r = read_regular_file(mpath, SEED_META_DATA_MAX, &meta, &meta_size);
        if (r == -ENOENT)
                return replace_error(ret_error, r, "no meta-data file on %s", source);
        if (r == -EFBIG)
                return replace_error(ret_error, r, "meta-data on %s is larger than %u bytes", source,
                                     SEED_META_DATA_MAX);
        if (r == -EBADF)
                return replace_error(ret_error, r, "meta-data on %s is not a regular file", source);
        if (r < 0)
                return replace_error(ret_error, r, "cannot read meta-data on %s: %s", source, strerror(-r));

        _cleanup_(seed_meta_done) struct seed_meta m = {};
        _cleanup_free_ char *err = NULL;
        r = seed_parse_meta_data(meta, meta_size, &m, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return replace_error(ret_error, r, "meta-data on %s: %s", source, err ? err : strerror(-r));

        enum seed_user_data_kind kind = SEED_USER_DATA_ABSENT;
        size_t user_size = 0;
        _cleanup_erase_ char *user = NULL;
        r = read_regular_file(upath, SEED_USER_DATA_MAX, &user, &user_size);
        if (r == -EFBIG)
                return replace_error(ret_error, r, "user-data on %s is larger than %u bytes", source,
                                     SEED_USER_DATA_MAX);
        if (r == -EBADF)
                return replace_error(ret_error, r, "user-data on %s is not a regular file", source);
        if (r < 0 && r != -ENOENT)
                return replace_error(ret_error, r, "cannot read user-data on %s: %s", source, strerror(-r));
        if (r >= 0)
                kind = seed_user_data_is_cloud_config(user, user_size) ? SEED_USER_DATA_CLOUD_CONFIG
                                                                       : SEED_USER_DATA_OTHER;

        _cleanup_free_ char *npath = path_join_root(dir, "/network-config");
        if (!npath)
                return -ENOMEM;
        _cleanup_free_ char *net = NULL;
        size_t net_size = 0;
        r = read_regular_file(npath, SEED_NETWORK_CONFIG_MAX, &net, &net_size);
        if (r == -EFBIG)
                return replace_error(ret_error, r, "network-config on %s is larger than %u bytes", source,
                                     SEED_NETWORK_CONFIG_MAX);
        if (r == -EBADF)
                return replace_error(ret_error, r, "network-config on %s is not a regular file", source);
        if (r < 0 && r != -ENOENT)
                return replace_error(ret_error, r, "cannot read network-config on %s: %s", source,
                                     strerror(-r));

        char *src = strdup(source);
        if (!src)
                return -ENOMEM;
        *ret = (struct seed){
                .source = src,
                .meta = m,
                .user_data = kind,
                .user_data_size = user_size,
                .user_data_text = TAKE_PTR(user),
                .network_config = TAKE_PTR(net),
                .network_config_size = net_size,
        };
        m = (struct seed_meta){};
        return 0;
}

static int real_mount(void *userdata, const char *device, const char *fstype, const char *target) {
        (void) userdata;
        if (mount(device, target, fstype, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
                return negative_errno();
        return 0;
}

static int real_umount(void *userdata, const char *target) {
        (void) userdata;
        if (umount2(target, UMOUNT_NOFOLLOW) >= 0)
                return 0;
        if (errno != EBUSY)
                return negative_errno();
        /* Something still holds it: detach now, the kernel frees it later. */
        if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
                return negative_errno();
        return 0;
}

const struct seed_mount_ops seed_mount_ops_real = {
        .mount = real_mount,
        .umount = real_umount,
};

int seed_read_device(const struct blk_device *dev, const char *run_dir, const struct seed_mount_ops *ops,
                     void *userdata, struct seed *ret, char **ret_error) {
        _cleanup_free_ char *desc = blk_device_describe(dev);
        _cleanup_free_ char *tmpl = path_join_root(run_dir, "/kubeseed-seed.XXXXXX");
        if (!desc || !tmpl)
                return -ENOMEM;
        int r = mkdir_p(run_dir, 0755);
        if (r < 0)
                return replace_error(ret_error, r, "cannot create %s: %s", run_dir, strerror(-r));
        if (!mkdtemp(tmpl)) { /* mode 0700 */
                r = negative_errno();
                return replace_error(ret_error, r, "cannot create a mount point in %s: %s", run_dir,
                                     strerror(-r));
        }

        r = ops->mount(userdata, dev->path, dev->type, tmpl);
        if (r < 0) {
                (void) rmdir(tmpl);
                return replace_error(ret_error, r, "cannot mount %s read-only: %s", desc, strerror(-r));
        }
        log_debug("Mounted %s on %s", desc, tmpl);

        r = seed_read_dir(tmpl, desc, ret, ret_error);

        int k = ops->umount(userdata, tmpl);
        if (k < 0)
                log_warning_errno(k, "Failed to unmount %s from %s: %m", desc, tmpl);
        else if (rmdir(tmpl) < 0)
                log_warning_errno(negative_errno(), "Failed to remove %s: %m", tmpl);
        return r;
}
