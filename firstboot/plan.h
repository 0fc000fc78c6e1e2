/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "nodeconfig.h"
#include "state.h"

/* The first-boot plan: which steps a node of a given role runs, in order,
 * and — from the state file — which one comes next. Pure: no I/O. */

#define STEP_METADATA "metadata" /* every boot: find, read and validate the metadata */
#define STEP_NETWORK "network"   /* network-config -> systemd-networkd (netconfig.c) */
#define STEP_REPORT "report"     /* machine facts */
#define STEP_HOSTNAME "hostname"
#define STEP_IMAGES "images" /* import preloaded OCI archives into containerd */
#define STEP_CA "ca"         /* control-plane: the pre-provisioned CA */
#define STEP_KUBEADM_CONFIG "kubeadm-config"
#define STEP_KUBEADM_INIT "kubeadm-init"
#define STEP_KUBECONFIG "kubeconfig" /* /root/.kube/config */
#define STEP_UNTAINT "untaint"
#define STEP_WAIT_API "wait-api" /* worker, control-plane-join: the API answers, CA pinned */
#define STEP_KUBEADM_JOIN "kubeadm-join"
#define STEP_POD_NETWORK "pod-network" /* every role: the bridge when no CNI add-on (podnet.c) */

#define STEP_ADDON_PREFIX "addon-" /* control-plane: one step per add-on, "addon-<name>" */

/* NULL-terminated list of step names for the role (static storage). */
const char *const *plan_for_role(enum node_role role);

/* The role's plan followed, on a control plane, by one step per add-on of
 * `addons` (NULL-terminated, already in dependency order; may be NULL).
 * Allocated (strv). -ENOMEM, -EINVAL for a role with no plan. */
int plan_build(enum node_role role, char *const *addons, char ***ret);

/* "addon-flannel" -> "flannel"; NULL when `step` is not an add-on step. */
const char *plan_addon_name(const char *step);

/* Steps that run on every boot, whatever the state says: their product lives
 * in memory (the validated metadata). */
bool plan_step_always(const char *step);

enum plan_decision {
        PLAN_RUN,    /* run steps[*ret_index] (never ran, or failed last time) */
        PLAN_RESUME, /* steps[*ret_index] was running when the node stopped: check and redo it safely */
        PLAN_DONE,   /* every step is done */
};

/* The first step of `plan` not recorded as done in `s` (steps that always run
 * are skipped: the caller runs them first). */
enum plan_decision plan_next(const char *const *plan, const struct state *s, size_t *ret_index);

/* Does the state record steps that are not in this role's plan (the metadata
 * changed the node's role after it started)? Returns the first such step's
 * name, or NULL. */
const char *plan_foreign_step(const char *const *plan, const struct state *s);

/* Add-on steps recorded as done whose digest differs from `digest_of`'s for
 * the add-on (its manifests changed in the image): set back to pending.
 * Returns how many were reset. `digest_of` fills out[] or returns < 0 for
 * an add-on it does not know (left alone). */
int plan_reset_changed_addons(struct state *s,
                              int (*digest_of)(const char *name, char out[80], void *userdata),
                              void *userdata);
