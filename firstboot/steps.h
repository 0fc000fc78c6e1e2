/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "agent.h"
#include "nodeconfig.h"
#include "sources.h"
#include "state.h"

/* The agent's steps. Each checks its preconditions first and is safe to run
 * twice; `resuming` tells it that the last boot stopped in the middle of it
 * (or that it failed), so it must clean up before redoing its work. */

#define KUBESEED_STATE_DIR "/var/lib/kubeseed"
#define KUBEADM_CONFIG_PATH KUBESEED_STATE_DIR "/kubeadm.yaml" /* 0600: holds the token */
#define PREFLOADED_IMAGES_DIR "/usr/share/kubeseed/images"
#define ADMIN_CONF "/etc/kubernetes/admin.conf"
#define KUBELET_CONF "/etc/kubernetes/kubelet.conf"
#define APISERVER_MANIFEST "/etc/kubernetes/manifests/kube-apiserver.yaml"
#define CA_CERT_PATH "/etc/kubernetes/pki/ca.crt"
#define CA_KEY_PATH "/etc/kubernetes/pki/ca.key"

struct agent_ctx {
        const struct agent_options *o;
        uint64_t (*now)(void);
        struct metadata md;
        bool have_md;
        struct nodeconfig cfg;
        bool have_cfg;
        char *kubeadm_version; /* `kubeadm version -o short` */
        char *node_name;       /* the hostname the node registers with */
        bool resuming;         /* the step being run was interrupted or failed before */
        struct state *state;   /* borrowed */
};

void agent_ctx_done(struct agent_ctx *c);

/* A step returns >= 0 with an optional *ret_detail, or < 0 with *ret_reason
 * (one line, no secrets). */
typedef int (*step_fn)(struct agent_ctx *c, char **ret_detail, char **ret_reason);

/* The function for a step name of plan.h; NULL when unknown. */
step_fn step_lookup(const char *name);

/* Replace every occurrence of each secret in `text` (in place) by
 * "<redacted>"-length-preserving asterisks: tool output that echoes a token
 * must not reach a log. */
void redact_secrets(char *text, const char *const *secrets);
