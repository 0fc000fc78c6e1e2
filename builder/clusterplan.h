/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "cert.h"
#include "cluster.h"
#include "pki.h"

/* `kubeseed plan` and `kubeseed seed`: the cluster's identity (CA, token,
 * certificate key) and, from it and cluster.yaml, every node's NoCloud seed
 * (meta-data, user-data, network-config; a directory and an ISO 9660 volume
 * labelled cidata), the administrator's kubeconfig and the secrets file
 * (docs/cluster-plan.md). The renderers are pure; clusterplan_run() does
 * the I/O. Secrets never reach a log line; files holding them are 0600. */

#define CLUSTERPLAN_SECRETS_FILE "cluster-secrets.yaml"
#define CLUSTERPLAN_ADMIN_CONF "admin.conf"
#define CLUSTERPLAN_SECRETS_MAX (256U * 1024U)
#define CLUSTERPLAN_VOLUME_ID "cidata"

/* The cluster's identity: what cluster-secrets.yaml holds. */
struct cluster_identity {
        char *cluster;                              /* the cluster's name */
        long long created;                          /* seconds since the epoch */
        struct pki_pair ca;                         /* SECRET: ca.key_pem */
        char token[PKI_TOKEN_LEN + 1];              /* SECRET */
        char certificate_key[PKI_CERT_KEY_LEN + 1]; /* SECRET */
        char ca_hash[CERT_HASH_STRING_MAX];         /* computed from ca.cert_pem */
};
void cluster_identity_done(struct cluster_identity *id); /* wipes the secrets */

/* A new identity: a CA, a token and a certificate key from `rnd` (NULL: the
 * CSPRNG) at time `now`. */
int cluster_identity_new(const char *cluster, const struct pki_random *rnd, long long now,
                         struct cluster_identity *ret, char **ret_error);

/* cluster-secrets.yaml, and back. The parser checks everything (the CA
 * and its key belong together and are valid at `now`, the token's and the
 * certificate key's format) and names `filename` in its messages. */
int cluster_identity_render(const struct cluster_identity *id, char **ret, size_t *ret_size);
int cluster_identity_parse(const char *filename, const char *data, size_t size, long long now,
                           struct cluster_identity *ret, char **ret_error);

/* One node's seed files. user_data holds secrets. */
struct seed_files {
        char *meta_data, *user_data, *network_config;
        size_t meta_data_size, user_data_size, network_config_size;
};
void seed_files_done(struct seed_files *f); /* wipes user-data */

/* The instance-id of a node: "<cluster>-<node>-<first 8 hex digits of the
 * CA hash>": stable across runs, new when the identity is rotated. */
char *clusterplan_instance_id(const struct cluster *c, const struct cluster_node *n,
                              const struct cluster_identity *id);

/* Pure: the node's meta-data, user-data (#cloud-config with the kubeseed:
 * key, docs/metadata.md) and network-config (version 2). */
int clusterplan_render_node(const struct cluster *c, const struct cluster_node *n,
                            const struct cluster_identity *id, struct seed_files *ret);

/* Pure: a kubeconfig for `user` (a client certificate and key signed by the
 * cluster CA) pointing at https://<endpoint>. SECRET output. */
int clusterplan_render_kubeconfig(const struct cluster *c, const char *ca_cert_pem, const char *user,
                                  const struct pki_pair *client, char **ret, size_t *ret_size);

struct clusterplan_options {
        const char *cluster_path;     /* cluster.yaml */
        const char *out_dir;          /* seeds/ */
        bool rotate;                  /* make a new identity even when one exists */
        const struct pki_random *rnd; /* NULL: the CSPRNG */
        long long now;                /* 0: time(NULL) */
};

/* `kubeseed plan`: validate cluster.yaml; read the identity from
 * <out>/cluster-secrets.yaml or make one (refused when <out> holds an
 * admin.conf but no secrets, unless rotate); render every node's seed,
 * check each user-data with the agent's own parser, write
 * <out>/<node>/{meta-data,user-data,network-config} and <out>/<node>.img,
 * and admin.conf when missing (or rotated). Logs what it did, once. */
int clusterplan_run(const struct clusterplan_options *o);

/* `kubeseed seed`: one seed volume from a node file (YAML with meta-data,
 * user-data and optionally network-config, each a string) or from a
 * directory holding those files. Everything is checked with the agent's
 * parsers before the volume is written (0600). */
int clusterplan_seed_run(const char *input, const char *out_img, long long now);
