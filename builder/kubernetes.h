/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>

#include "arch.h"
#include "imageref.h"
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
