/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "arch.h"
#include "imageref.h"
#include "lock.h"
#include "profile.h"
#include "stagekey.h"

/* The Kubernetes part of the image: the node binaries (builder/k8sbundle.h),
 * the kubelet unit and kubeadm drop-in (overlays/kubernetes), containerd's
 * configuration with the sandbox image set to the preloaded pause image, and
 * the preloaded container images (builder/preload.h). */

#define KUBERNETES_OVERLAY "kubernetes"

/* containerd's /etc/containerd/config.toml: systemd cgroups for runc (the
 * kubelet's driver), the CNI directories, and, when given, the sandbox
 * (pause) image, which must be one the image holds: offline, containerd
 * could not pull its own default. Pure. */
char *containerd_config(const char *sandbox_image);

/* Installs the bundle into `root` and writes containerd's configuration.
 * Adds every installed file's digest to `key`. A profile without
 * kubernetes.version gets containerd's configuration only (return 0);
 * otherwise returns 1. */
int kubernetes_stage(const struct profile *p, const struct arch_info *a, const char *cas_dir,
                     const char *overlays_dir, const char *root, struct stagekey *key);

/* kubernetes_stage() with a lock section (may be NULL). With one, the
 * profile's version and every planned file must be in it ("run kubeseed
 * fetch" otherwise); files whose locked sha256 is in the store are taken
 * from there with no request, others are fetched and must match the lock
 * (a mismatch names the file: the release changed under the same name).
 * `offline`: the lock is required and nothing is fetched. */
int kubernetes_stage_locked(const struct profile *p, const struct arch_info *a, const char *cas_dir,
                            const char *overlays_dir, const char *root, const struct lock_arch *lock,
                            bool offline, struct stagekey *key);

/* The file names of the planned bundle (NULL-terminated; empty without
 * kubernetes.version). Logs its errors. */
int kubernetes_bundle_files(const struct profile *p, const struct arch_info *a, char ***ret);

/* kubeseed fetch: plans and fetches the bundle into the store and records
 * the version and every file's sha256 in `section`; a file whose digest
 * differs from the `old` section (may be NULL) is reported. 0 without
 * kubernetes.version, 1, or a negative errno (logged). */
int kubernetes_fetch(const struct profile *p, const struct arch_info *a, const char *cas_dir,
                     const struct lock_arch *old, struct lock_arch *section);
