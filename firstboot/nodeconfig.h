/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cert.h"

/* The node's kubeseed configuration: the `kubeseed:` key of "#cloud-config"
 * user-data (or the kernel command line's kubeseed.* keys) plus the
 * instance-id and hostname from meta-data, parsed and validated before
 * anything on the node is changed. Pure over memory (OpenSSL parses the CA).
 * The schema, with every key, is documented in docs/metadata.md.
 *
 * Errors come back as one allocated message,
 *   "<source>: user-data:<line>:<column>: <field path>: expected <what>"
 * (or "<source>: kubeseed.<key>: expected <what>" for the kernel command
 * line), e.g. "nocloud /dev/vdb: user-data:5:10: kubeseed.cluster.token:
 * expected 6 lowercase letters or digits, a dot, and 16 more". Messages never
 * contain the value of a field, so never a token, CA key or certificate key. */

/* Bounds on every input, checked before use. */
#define NODECONFIG_USER_DATA_MAX (4U * 1024U * 1024U) /* as SEED_USER_DATA_MAX */
#define NODECONFIG_YAML_DEPTH_MAX 32U
#define NODECONFIG_TOKEN_LEN 23U         /* "abcdef.0123456789abcdef" */
#define NODECONFIG_PEM_MAX (16U * 1024U) /* ca-cert, ca-key */
#define NODECONFIG_NAME_MAX 253U         /* endpoint host, names, label keys, ... */
#define NODECONFIG_LIST_MAX 64U          /* addons, hashes, labels, taints */
#define NODECONFIG_CERT_KEY_LEN 64U      /* certificate-key: 32 bytes in hex */
#define NODECONFIG_WORKERS_MAX 65535U

enum node_role {
        NODE_ROLE_CONTROL_PLANE,      /* kubeadm init */
        NODE_ROLE_WORKER,             /* kubeadm join */
        NODE_ROLE_CONTROL_PLANE_JOIN, /* kubeadm join --control-plane */
        _NODE_ROLE_MAX,
        _NODE_ROLE_INVALID = -1,
};

/* cloud-init's power_state.mode: what to do after the agent finished. */
enum power_mode {
        POWER_MODE_NONE, /* no power_state (or no mode): leave the node running */
        POWER_MODE_POWEROFF,
        POWER_MODE_REBOOT,
        POWER_MODE_HALT,
};

struct node_taint {
        char *key;
        char *value;  /* NULL when the taint has no value ("key:NoSchedule") */
        char *effect; /* NoSchedule | PreferNoSchedule | NoExecute */
};

struct nodeconfig {
        char *source;      /* where it came from: "nocloud /dev/vdb", "kernel command line", ... */
        char *instance_id; /* meta-data instance-id (always set) */
        char *hostname;    /* meta-data local-hostname; NULL when absent */
        enum node_role role;

        /* cluster */
        char *endpoint;      /* "host:port" as given; NULL when absent (control-plane only) */
        char *endpoint_host; /* without brackets: "10.0.0.10", "fd00::10", "api.example" */
        uint16_t endpoint_port;
        char *token;           /* SECRET: bootstrap token */
        char **ca_cert_hashes; /* "sha256:<64 lowercase hex>", NULL-terminated; NULL when none.
                                * When ca-cert is given and no hash, holds the computed one. */
        char *ca_cert;         /* PEM; NULL when absent */
        char *ca_key;          /* SECRET: PEM; set exactly when ca_cert is, on a control-plane */
        char ca_cert_hash[CERT_HASH_STRING_MAX]; /* computed from ca_cert; "" when none */
        char *certificate_key;                   /* SECRET: 64 lowercase hex; NULL when absent */
        char *pod_subnet;         /* one CIDR, or an IPv4 and an IPv6 one joined by ','; NULL: default */
        char *service_subnet;     /* likewise */
        char *kubernetes_version; /* "v1.31.1"; NULL: the image's version */

        /* node */
        char *node_ip; /* NULL: kubelet's choice; on a control plane also the advertise address */
        char **labels; /* "key=value", NULL-terminated; NULL when none */
        struct node_taint *taints;
        size_t n_taints;
        char **disks; /* spare disks for storage add-ons, device paths; NULL-terminated, NULL when none */

        bool schedule_workloads; /* meaningful only when schedule_workloads_set */
        bool schedule_workloads_set;
        unsigned workers; /* meaningful only when workers_set */
        bool workers_set;
        char **addons; /* names in order, NULL-terminated; empty for `addons: []`; NULL when not given */

        enum power_mode power_mode; /* top-level power_state.mode */

        /* Things allowed but worth a warning (e.g. a control plane without a
         * pre-provisioned CA); NULL-terminated, NULL when none; no secrets. */
        char **warnings;
};

/* What to parse. Exactly one of user_data / cmdline_args is used: when
 * cmdline_args is not NULL, user_data is ignored. */
struct nodeconfig_input {
        const char *source;         /* required: names the source in messages */
        const char *instance_id;    /* required (a kubeseed.instance-id argument may replace it) */
        const char *local_hostname; /* may be NULL */
        /* "#cloud-config" user-data; need not be NUL-terminated. NULL: none. */
        const char *user_data;
        size_t user_data_size;
        /* The kernel command line's kubeseed.* arguments with "kubeseed."
         * removed, in order: "role=worker", "token=...", "addons=a,b" (or a
         * bare "role" when given without '='). See sources_cmdline_parse(). */
        char *const *cmdline_args;
        /* Time for the CA validity check (seconds since the epoch); 0: now. */
        long long now;
};

/* Parse and validate. Returns 0 and fills *ret (release with
 * nodeconfig_done()), or -EBADMSG with an allocated message in *ret_error
 * (may be NULL), or -ENOMEM. *ret is untouched on failure. */
int nodeconfig_parse(const struct nodeconfig_input *in, struct nodeconfig *ret, char **ret_error);

/* Releases everything; wipes the token, CA key and certificate key (and the
 * CA certificate) with explicit_bzero() first. Accepts a zeroed struct. */
void nodeconfig_done(struct nodeconfig *c);

/* Should the agent remove the control-plane taint? True on a control-plane
 * when schedule-workloads is true, or when it is unset and workers is 0 or
 * absent. Always false for the other roles. */
bool nodeconfig_should_untaint(const struct nodeconfig *c);

const char *node_role_to_string(enum node_role r);
enum node_role node_role_from_string(const char *s); /* _NODE_ROLE_INVALID when unknown */
const char *power_mode_to_string(enum power_mode m); /* "none", "poweroff", ... */

/* Validators (pure; exposed for tests and for `kubeseed plan`). */
bool nodeconfig_token_valid(const char *s);           /* [a-z0-9]{6}\.[a-z0-9]{16} */
bool nodeconfig_certificate_key_valid(const char *s); /* 64 hex digits */
bool nodeconfig_ip_valid(const char *s);              /* IPv4 or IPv6 (no brackets, no zone) */
/* "host:port": host an IPv4 address, "[IPv6]" or a DNS name (not all-numeric
 * in its last label); port 1-65535, decimal, no leading zero. On success, and
 * when not NULL, *ret_host (allocated, brackets removed) and *ret_port. */
int nodeconfig_endpoint_parse(const char *s, char **ret_host, uint16_t *ret_port);
/* "10.244.0.0/16", "fd00:10::/56": inet_pton, prefix 0-32/0-128 without
 * leading zeros, host bits zero. Returns AF_INET or AF_INET6, or -EINVAL. */
int nodeconfig_cidr_parse(const char *s);
/* One CIDR or a dual-stack pair "IPv4-CIDR,IPv6-CIDR" (either order). */
bool nodeconfig_subnets_valid(const char *s);
/* "v1.31.1", with an optional pre-release "-rc.1"; no leading zeros. */
bool nodeconfig_version_valid(const char *s);
/* Add-on names: 1-63 of [a-z0-9-], starting with a letter or digit. */
bool nodeconfig_addon_name_valid(const char *s);
/* Kubernetes label key ("[prefix/]name") and value ("" or a name). */
bool nodeconfig_label_key_valid(const char *s);
bool nodeconfig_label_value_valid(const char *s);
/* A spare disk: an absolute device path below /dev/ ("/dev/vdb",
 * "/dev/disk/by-id/..."), at most 253 characters, without "." or ".."
 * components, empty components, spaces or control characters. */
bool nodeconfig_disk_valid(const char *s);
/* "key[=value]:Effect" -> *ret (allocated members). -EINVAL when malformed. */
int nodeconfig_taint_parse(const char *s, struct node_taint *ret);
void node_taint_done(struct node_taint *t);
