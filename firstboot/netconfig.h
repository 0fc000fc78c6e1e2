/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

#include "steps.h"

/* cloud-init network-config version 2 (the netplan subset below) rendered as
 * systemd-networkd .network files, for images without cloud-init. The
 * renderer is pure; the "network" step writes its files below the root
 * prefix and makes networkd use them before the node waits for its network.
 *
 * Accepted (docs/metadata.md, "network-config"): an optional top-level
 * `network:` wrapper; `version: 2`; `renderer` (ignored); `ethernets:`
 * mapping an id ([A-Za-z0-9_.-], 1-64) to: match (macaddress, name),
 * dhcp4, dhcp6, addresses (CIDRs), gateway4, gateway6, routes (to, via,
 * metric), nameservers (addresses, search), mtu, optional. Anything else
 * (version 1, bonds, bridges, vlans, wifis, set-name, ...) is an error
 * naming the key: a node is never half configured. */

#define NETCONFIG_NETWORK_DIR "/etc/systemd/network"
#define NETCONFIG_ETHERNETS_MAX 16U
#define NETCONFIG_LIST_MAX 32U /* addresses, routes, nameservers, search domains */

struct netconfig_file {
        char *path; /* below the root: "/etc/systemd/network/10-kubeseed-<id>.network" */
        char *content;
        size_t size;
};

struct netconfig {
        struct netconfig_file *files;
        size_t n_files;
};

void netconfig_done(struct netconfig *n);

/* Parse and render. Returns 0 and *ret (no files for `ethernets: {}`), or
 * -EBADMSG with "network-config:<line>:<column>: <key path>: expected ..."
 * in *ret_error, or -ENOMEM. */
int netconfig_render_networkd(const char *data, size_t size, struct netconfig *ret, char **ret_error);

/* The agent's "network" step (plan.h STEP_NETWORK): writes the files and,
 * on the real root, reloads systemd-networkd and waits for a routable link. */
int step_network(struct agent_ctx *c, char **ret_detail, char **ret_reason);

/* `kubeseed-firstboot network` (kubeseed-firstboot-network.service, before
 * systemd-networkd starts): the network-config of the first local metadata
 * source (kernel command line, NoCloud volume or file:// seedfrom,
 * config-drive; never the IMDS) written as networkd files, so that the boot's
 * own network wait already sees the static configuration. No state is
 * recorded and a missing or unreadable source is not an error (the run verb
 * reports it); 0, or a negative errno when the files cannot be written. */
int netconfig_early(const struct agent_options *o);
