/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nodeconfig.h"

/* cluster.yaml: one file describing a whole cluster, the input of
 * `kubeseed plan` (docs/cluster-plan.md has every key). Parsed with
 * lib/yamltree and checked completely before anything is generated: errors
 * are "<file>:<line>:<column>: <key path>: expected <what>", and those
 * between nodes name every node involved. Pure over memory. */

#define CLUSTER_FILE_MAX (1024U * 1024U)
#define CLUSTER_NODES_MAX 1000U
#define CLUSTER_DNS_MAX 8U
#define CLUSTER_NAME_MAX 63U /* a DNS label: it goes into instance-ids and the kubeconfig */

struct cluster_node {
        char *name; /* hostname and Kubernetes node name: lowercase DNS name */
        enum node_role role;
        bool dhcp;
        char *address;   /* static: "10.0.0.10/24"; NULL with dhcp */
        char *gateway;   /* may be NULL */
        char **dns;      /* NULL-terminated nameserver addresses; NULL when none */
        char *mac;       /* "52:54:00:12:34:56", lowercase; NULL: match by interface name */
        char *interface; /* interface name (or glob) to match; NULL: "e*" when no mac */
        char **labels;   /* "key=value", NULL-terminated; NULL when none */
        char **taints;   /* "key[=value]:Effect", NULL-terminated; NULL when none */
        char **disks;    /* spare disks for storage, device paths; NULL when none */
        size_t line, column;
};

struct cluster {
        char *name;
        char *kubernetes_version; /* NULL: the image's */
        char *endpoint;           /* "host:port" */
        char *endpoint_host;
        uint16_t endpoint_port;
        bool endpoint_is_load_balancer;
        char *pod_subnet;     /* NULL: kubeadm's default (none set) */
        char *service_subnet; /* NULL: kubeadm's 10.96.0.0/12 */
        char **addons;        /* NULL-terminated; NULL when none */
        bool schedule_workloads;
        bool schedule_workloads_set;
        struct cluster_node *nodes;
        size_t n_nodes;
};

void cluster_free(struct cluster *c);
static inline void cluster_freep(struct cluster **c) {
        cluster_free(*c);
}
#define _cleanup_cluster_ __attribute__((cleanup(cluster_freep)))

/* Parse and validate. `filename` only names the file in messages. Returns 0
 * and *ret, -EBADMSG with an allocated message in *ret_error, or -ENOMEM. */
int cluster_parse(const char *filename, const char *data, size_t size, struct cluster **ret,
                  char **ret_error);

/* Read `path` (at most CLUSTER_FILE_MAX) and cluster_parse() it. */
int cluster_load(const char *path, struct cluster **ret, char **ret_error);

/* The node by name; NULL when none. */
const struct cluster_node *cluster_find_node(const struct cluster *c, const char *name);
/* How many nodes have `role`. */
size_t cluster_count_role(const struct cluster *c, enum node_role role);

/* Pure helpers, exposed for tests. */
/* "10.0.0.10/24" -> family, address bytes and prefix; -EINVAL unless a
 * valid address with a prefix (host bits may be set: it is an interface
 * address, not a network). */
int cluster_ifaddr_parse(const char *s, int *ret_family, uint8_t ret_addr[16], unsigned *ret_prefix);
/* Do two CIDRs (or interface addresses, taken as their networks) overlap?
 * false when either does not parse or the families differ. */
bool cluster_cidrs_overlap(const char *a, const char *b);
/* "52:54:00:12:34:56" (either case). */
bool cluster_mac_valid(const char *s);
