/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "blk.h"

/* The NoCloud seed: a volume labelled cidata/CIDATA (vfat or iso9660) holding
 * "meta-data" (YAML: instance-id, local-hostname), "user-data"
 * ("#cloud-config" YAML; it carries the cluster's secrets, so its content is
 * never logged: it is kept in memory only, and wiped by seed_done()) and an
 * optional "network-config". */

#define SEED_META_DATA_MAX (64U * 1024U)
#define SEED_USER_DATA_MAX (4U * 1024U * 1024U)
#define SEED_INSTANCE_ID_MAX 255U
#define SEED_NETWORK_CONFIG_MAX (64U * 1024U)

/* Labels and filesystem types the seed volume may have. */
extern const char *const seed_labels[];   /* "cidata", "CIDATA" */
extern const char *const seed_fs_types[]; /* "vfat", "iso9660" */

struct seed_meta {
        char *instance_id;    /* required */
        char *local_hostname; /* NULL when absent */
};

enum seed_user_data_kind {
        SEED_USER_DATA_ABSENT,
        SEED_USER_DATA_CLOUD_CONFIG, /* starts with "#cloud-config" */
        SEED_USER_DATA_OTHER,        /* a script, MIME multipart, ...: not used by kubeseed */
};

struct seed {
        char *source; /* "/dev/vdb (vfat, label CIDATA)" or "directory /x" */
        struct seed_meta meta;
        enum seed_user_data_kind user_data;
        size_t user_data_size;
        /* The user-data bytes, NUL-terminated (not counted in user_data_size);
         * NULL when absent. SECRET: never log it; seed_done() wipes it. */
        char *user_data_text;
        /* "network-config" (cloud-init network config v1/v2 YAML), NUL-terminated;
         * NULL when absent. Kept as is, not interpreted here. */
        char *network_config;
        size_t network_config_size;
};

void seed_meta_done(struct seed_meta *m);
void seed_done(struct seed *s);
const char *seed_user_data_kind_to_string(enum seed_user_data_kind k);

/* Pure: parse meta-data. instance-id is required (1-255 printable ASCII, no
 * spaces); local-hostname optional, a valid hostname (RFC 1123, labels of
 * [A-Za-z0-9-], at most 253 characters). On error returns -EBADMSG (or
 * -ENOMEM) and an allocated message ("3:1: instance-id: ..."). */
int seed_parse_meta_data(const char *data, size_t size, struct seed_meta *ret, char **ret_error);
/* Pure: does user-data start with a "#cloud-config" line? */
bool seed_user_data_is_cloud_config(const char *data, size_t size);
bool seed_hostname_valid(const char *s);
/* 1-255 printable ASCII characters, no spaces (meta-data's instance-id). */
bool seed_instance_id_valid(const char *s);

/* Read meta-data, user-data and network-config from a directory (a mounted
 * seed or, in tests, an extracted one). `source` is recorded in ret->source.
 * meta-data is required; user-data and network-config are optional. */
int seed_read_dir(const char *dir, const char *source, struct seed *ret, char **ret_error);

/* Mounting, behind a table tests replace. */
struct seed_mount_ops {
        int (*mount)(void *userdata, const char *device, const char *fstype, const char *target);
        int (*umount)(void *userdata, const char *target);
};
extern const struct seed_mount_ops seed_mount_ops_real; /* mount(2) read-only, umount2(2) */

/* Mount `dev` read-only (nosuid, nodev, noexec) on a fresh private directory
 * below `run_dir` (created 0700, removed afterwards), read it, unmount. */
int seed_read_device(const struct blk_device *dev, const char *run_dir, const struct seed_mount_ops *ops,
                     void *userdata, struct seed *ret, char **ret_error);
