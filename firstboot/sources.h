/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "blk.h"
#include "nodeconfig.h"
#include "seed.h"

/* Where the node's metadata comes from. The sources are tried in this order
 * and the first one found wins (docs/metadata.md):
 *
 *   1. the kernel command line: kubeseed.* keys, else cloud-init's
 *      "ds=nocloud;s=<url>" / "ds=nocloud-net;s=<url>" (seedfrom: http://,
 *      https:// or file://, the latter below the root prefix);
 *   2. a NoCloud seed volume (label cidata/CIDATA, vfat or iso9660);
 *   3. an OpenStack config-drive (label config-2): openstack/latest/
 *      meta_data.json (uuid, hostname) and openstack/latest/user_data;
 *   4. an EC2-style instance metadata service (IMDSv2 session token, falling
 *      back to IMDSv1 when the token request gets 403, 404 or 405);
 *   5. cloud-init's /run/cloud-init/instance-data.json (v1.instance_id,
 *      v1.local_hostname) with /var/lib/cloud/instance/user-data.txt.
 *
 * A source that is present but broken (a seed volume whose meta-data does not
 * parse, an IMDS that answers the token request but not instance-id, a
 * seedfrom URL that cannot be fetched) is an error: the search stops there
 * rather than falling through to another source, so a typo never silently
 * turns the node into something configured elsewhere.
 *
 * Every path is below the root prefix. This module only reads; user-data
 * (and the kubeseed.* arguments) hold secrets and are never logged. */

enum source_kind {
        SOURCE_CMDLINE,  /* kubeseed.* keys on the kernel command line */
        SOURCE_SEEDFROM, /* ds=nocloud;s=<url> on the kernel command line */
        SOURCE_NOCLOUD,  /* seed volume */
        SOURCE_CONFIG_DRIVE,
        SOURCE_IMDS,
        SOURCE_INSTANCE_DATA, /* cloud-init's instance-data.json */
        _SOURCE_KIND_MAX,
};

#define SOURCE_MASK(k) (1U << (k))

#define SOURCES_IMDS_URL_DEFAULT "http://169.254.169.254"
#define SOURCES_INSTANCE_ID_PATH "/var/lib/kubeseed/instance-id"
#define SOURCES_CMDLINE_MAX (64U * 1024U)
#define SOURCES_CMDLINE_ARGS_MAX 256U
#define SOURCES_JSON_MAX (1024U * 1024U) /* meta_data.json, instance-data.json */

/* What a source gave: raw bytes plus the normalised identity. */
struct metadata {
        enum source_kind kind;
        char *source; /* for messages: "nocloud /dev/vdb", "kernel command line", "imds http://...", ... */
        char *instance_id;    /* always set (validated: seed_instance_id_valid()) */
        char *local_hostname; /* NULL when the source has none (validated: seed_hostname_valid()) */
        /* SECRET (both): never log; metadata_done() wipes them. */
        char *user_data; /* NUL-terminated; NULL when the source has none */
        size_t user_data_size;
        char **cmdline_args;  /* SOURCE_CMDLINE: "key=value" with "kubeseed." removed, in order */
        char *network_config; /* NoCloud network-config when present, else NULL */
        size_t network_config_size;
};

void metadata_done(struct metadata *m);
const char *source_kind_to_string(enum source_kind k); /* "cmdline", "seedfrom", "nocloud", ... */

/* The input nodeconfig_parse() wants, borrowing from m. */
struct nodeconfig_input metadata_nodeconfig_input(const struct metadata *m);

struct sources_options {
        const char *root; /* NULL or "/": the real root */
        /* The kernel command line; NULL: read <root>/proc/cmdline. */
        const char *cmdline;
        unsigned disabled;   /* SOURCE_MASK()s of sources to skip */
        const char *run_dir; /* where volumes are mounted; NULL: <root>/run/kubeseed */

        const struct blk_ops *blk_ops; /* NULL: blk_ops_real */
        void *blk_userdata;
        const struct seed_mount_ops *mount_ops; /* NULL: seed_mount_ops_real */
        void *mount_userdata;

        /* HTTP (IMDS, seedfrom) goes through the global http_ops table. */
        const char *imds_url;        /* base URL (--imds-url); NULL: SOURCES_IMDS_URL_DEFAULT */
        unsigned connect_timeout_ms; /* per request; 0: 1000 */
        unsigned timeout_ms;         /* per request; 0: 3000 */
        unsigned attempts;           /* per request, on transport errors and 5xx; 0: 3 */
        unsigned retry_delay_ms;     /* before the 2nd attempt, doubled each time; 0: 250 */
};

/* Try the sources in order. Returns 1 and fills *ret (release with
 * metadata_done()) when one was found; 0 when none is present, with a summary
 * of what was looked at in *ret_error ("no metadata: kernel command line: no
 * kubeseed.* keys and no ds=nocloud;s=<url>; nocloud: no vfat or iso9660
 * volume labelled cidata/CIDATA among 3 block devices; ..."), so the
 * caller can retry (devices appear late) and finally report it; a negative
 * errno with the reason in *ret_error when a present source is broken.
 * ret_error may be NULL. *ret is untouched unless 1 is returned. */
int sources_find(const struct sources_options *o, struct metadata *ret, char **ret_error);

/* One source only (SOURCE_CMDLINE covers both kernel command line forms);
 * same return values as sources_find(). */
int sources_read_one(enum source_kind kind, const struct sources_options *o, struct metadata *ret,
                     char **ret_error);

/* A NoCloud directory (the agent's --seed-dir): meta-data, user-data,
 * network-config. Returns 1 and *ret, or a negative errno and *ret_error. */
int sources_read_nocloud_dir(const char *dir, const char *source, struct metadata *ret, char **ret_error);

/* ---- pure parts, exposed for tests -------------------------------------- */

/* The kernel command line, split as the kernel's next_arg() does: words
 * separated by white space, double quotes group (a quote opening the word or
 * the value is removed with its closing partner), no backslash escapes; the
 * kernel's own parameters end at a lone "--". */
struct cmdline_config {
        char **kubeseed_args; /* "kubeseed.KEY=VALUE" -> "KEY=VALUE" (SECRET), in order; NULL when none */
        /* From the last "ds=nocloud[-net];..." word (cloud-init's syntax):
         * s= / seedfrom=, i= / instance-id=, h= / local-hostname=. */
        bool ds_nocloud;
        char *seedfrom; /* NULL when not given */
        char *ds_instance_id;
        char *ds_hostname;
};
void cmdline_config_done(struct cmdline_config *c);
/* -E2BIG when longer than SOURCES_CMDLINE_MAX or with more than
 * SOURCES_CMDLINE_ARGS_MAX kubeseed.* words; -ENOMEM. */
int sources_cmdline_parse(const char *cmdline, struct cmdline_config *ret);

/* config-drive's openstack/latest/meta_data.json: uuid -> instance-id,
 * hostname -> local-hostname (may be absent). -EBADMSG with a message. */
int sources_parse_openstack_meta(const char *json, size_t size, char **ret_instance_id, char **ret_hostname,
                                 char **ret_error);
/* cloud-init's instance-data.json: v1.instance_id, v1.local_hostname
 * (the dashed spellings are accepted too). -EBADMSG with a message. */
int sources_parse_instance_data(const char *json, size_t size, char **ret_instance_id, char **ret_hostname,
                                char **ret_error);

/* ---- instance identity -------------------------------------------------- */

/* Pure: does the recorded text (the file's content; a trailing newline is
 * ignored) name another instance than `instance_id`? */
bool sources_instance_id_differs(const char *recorded, size_t size, const char *instance_id);
/* Compare with <root>SOURCES_INSTANCE_ID_PATH: 1 when it records another
 * instance-id (a new instance, as cloud-init treats it), 0 when the same,
 * -ENOENT when nothing is recorded, other negative errnos when unreadable. */
int sources_instance_changed(const char *root, const char *instance_id);
/* Record instance_id there (atomically, 0644). */
int sources_record_instance_id(const char *root, const char *instance_id);
