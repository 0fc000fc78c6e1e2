/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "addon.h"
#include "agent.h"
#include "imageinfo.h"
#include "nodeconfig.h"
#include "proc.h"
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
        struct image_info image; /* /etc/kubeseed/image.yaml, once per boot (step_image_info) */
        bool have_image;
        char *kubeadm_version; /* `kubeadm version -o short` */
        char *node_name;       /* the hostname the node registers with */
        bool resuming;         /* the step being run was interrupted or failed before */
        struct state *state;   /* borrowed */
        const char *step_name; /* the step being run (add-on steps share one function) */
        /* The image's add-on catalogue and the cluster's selection in the
         * order the control plane applies them (metadata step; every role
         * reads it: the selection decides the pod network). */
        struct addon_catalog addons;
        char **addon_order;
        /* Set by a step that applied something identifiable (an add-on's
         * manifests); recorded with the step when it is done. */
        char step_digest[SHA256_HEX_LEN + 8];
};

void agent_ctx_done(struct agent_ctx *c);

/* A step returns >= 0 with an optional *ret_detail, or < 0 with *ret_reason
 * (one line, no secrets). */
typedef int (*step_fn)(struct agent_ctx *c, char **ret_detail, char **ret_reason);

/* The function for a step name of plan.h; NULL when unknown. */
step_fn step_lookup(const char *name);

/* Helpers the steps share. */
/* Runs a program; on failure *ret_reason gets "<what> failed (...): <last
 * line of stderr, secrets redacted>". `keep` (may be NULL) receives the
 * output on success. */
int step_run(struct agent_ctx *c, const char *what, char **argv, unsigned timeout_sec,
             struct proc_result *keep, char **ret_reason);
char *step_root_path(const struct agent_ctx *c, const char *p);
/* c->node_name: meta-data's local-hostname, else the current hostname. */
int step_node_name(struct agent_ctx *c);
/* c->image, read the first time it is needed. */
int step_image_info(struct agent_ctx *c, char **ret_reason);
/* The last non-empty line of a program's output (trailing blanks cut), at
 * most `max` bytes (0: all): why it failed, as a rule. "" for NULL. */
char *step_last_line(const char *text, size_t max);
/* Write a file below the root (parent directories created with dir_mode). */
int step_put_file(const struct agent_ctx *c, const char *p, const char *data, size_t size, mode_t mode,
                  mode_t dir_mode, char **ret_reason);
/* Exponential backoff with jitter: 1 s doubling to 30 s, each +-20%. */
unsigned step_backoff_ms(unsigned attempt);
/* Between the tries of a wait that started at `start` (c->now()): -ETIMEDOUT
 * once `limit_sec` have passed (the caller says why), else logs "Waiting for
 * <what> (<last>); next try in N s", sleeps step_backoff_ms(attempt) and
 * returns 0. */
int step_wait_retry(struct agent_ctx *c, unsigned attempt, uint64_t start, unsigned limit_sec,
                    const char *what, const char *last);

/* The add-on steps (addonstep.c): apply one add-on (c->step_name is
 * "addon-<name>"), and the metadata step's part: the catalogue and the
 * ordered selection. */
int step_addon(struct agent_ctx *c, char **ret_detail, char **ret_reason);
int addons_prepare(struct agent_ctx *c, char **ret_reason);
/* The pod subnet the cluster uses: the metadata's, else flannel's usual
 * 10.244.0.0/16 (a CNI add-on and the node-local bridge both need one: the
 * controller-manager allocates each node's pod CIDR from it). */
const char *step_pod_subnet(const struct agent_ctx *c);
/* The CNI add-on of the cluster's add-on selection; NULL when it has none
 * (the nodes then get the node-local bridge, podnet.h). */
const char *step_cni_addon(const struct agent_ctx *c);

/* Replace every occurrence of each secret in `text` (in place) by
 * "<redacted>"-length-preserving asterisks: tool output that echoes a token
 * must not reach a log. */
void redact_secrets(char *text, const char *const *secrets);
