/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

#include "steps.h"

/* The node's pod network when the cluster selects no CNI add-on: a
 * node-local bridge (the CNI bridge, host-local and portmap plugins of the
 * image's bundle) over the pod CIDR the controller-manager allocated to this
 * node from the cluster's pod subnet, read from the node's own Node object
 * with the kubelet's credentials. Pods on one node reach each other, the
 * node and, masqueraded, everything the node reaches; pods on different
 * nodes do not reach each other directly (that takes a CNI add-on). With a
 * CNI add-on the add-on's DaemonSet writes the node's configuration and this
 * step writes nothing. docs/firstboot.md, "pod-network". */

#define PODNET_CONFLIST_PATH "/etc/cni/net.d/99-kubeseed-bridge.conflist"
#define PODNET_BRIDGE "kubeseed0"
#define PODNET_NETWORK_NAME "kubeseed-bridge"
#define PODNET_CIDR_WAIT_SEC 900u

/* kubectl's output for the node's spec.podCIDRs ("10.244.1.0/24", or an
 * IPv4 and an IPv6 CIDR separated by blanks). 0 and *ret (NULL-terminated,
 * one or two CIDRs, at most one per family); -ENODATA when the output is
 * empty (no CIDR allocated yet); -EINVAL when it is anything else, with
 * *ret_error saying what. */
int podnet_parse_cidrs(const char *text, char ***ret, char **ret_error);

/* The CNI configuration list (JSON) for those CIDRs: bridge PODNET_BRIDGE
 * as the pods' gateway, masquerading, hairpin; host-local addresses from
 * each CIDR with a default route per family; portmap for hostPort. */
int podnet_render_bridge(char *const *cidrs, char **ret_text, size_t *ret_size);

/* kubectl --kubeconfig KUBECONFIG get node NODE --output=jsonpath={.spec.podCIDRs[*]} */
int podnet_cidrs_argv(const char *kubeconfig, const char *node, char ***ret_argv);

/* The agent's "pod-network" step (plan.h STEP_POD_NETWORK), after kubeadm
 * init or join. */
int step_pod_network(struct agent_ctx *c, char **ret_detail, char **ret_reason);
