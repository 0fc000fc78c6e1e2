/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

#include "imageref.h"

/* The images `kubeadm init` pulls for a Kubernetes version, computed from a
 * table kept in kubeadmimages.c (one row per range of patch releases with the
 * same etcd, CoreDNS, pause and default registry), so the builder never runs a
 * target-arch kubeadm. The rules follow kubeadm's cmd/kubeadm/app/images:
 *
 *   <repo>/kube-apiserver:<version>  (likewise controller-manager, scheduler, proxy)
 *   <repo>/coredns/coredns:<tag>     when <repo> is the version's default registry
 *                                    and the version is >= 1.21 (the image moved)
 *   <repo>/coredns:<tag>             otherwise
 *   <repo>/pause:<tag>
 *   <repo>/etcd:<tag>
 *
 * in kubeadm's order (GetControlPlaneImages). <repo> is the version's default
 * (k8s.gcr.io, or registry.k8s.io from v1.22.17, v1.23.15, v1.24.9 and v1.25.0
 * on) unless an imageRepository override is given. */

enum kubeadm_image {
        KUBEADM_IMAGE_APISERVER,
        KUBEADM_IMAGE_CONTROLLER_MANAGER,
        KUBEADM_IMAGE_SCHEDULER,
        KUBEADM_IMAGE_PROXY,
        KUBEADM_IMAGE_COREDNS,
        KUBEADM_IMAGE_PAUSE,
        KUBEADM_IMAGE_ETCD,
        KUBEADM_IMAGE_MAX,
};

struct kubeadm_images {
        unsigned minor, patch;
        struct imageref refs[KUBEADM_IMAGE_MAX]; /* normalised, in the order above */
        /* The patch release is newer than the last one the table was checked
         * against: the minor's latest row is used. A later patch release may
         * have changed etcd or CoreDNS; callers should warn. */
        bool beyond_table;
};

/* Component name ("kube-apiserver", "coredns", ...). */
const char *kubeadm_image_to_string(enum kubeadm_image i);

/* `version`: "v1.31.1" or "1.31.1" (no pre-release or build suffix).
 * `image_repository`: kubeadm's imageRepository ("registry.example:5000/k8s"),
 * or NULL/"" for the version's default.
 * Returns 0, or -EINVAL (malformed version or repository) or -ENOTSUP (a minor
 * version outside the table, or a pre-release) with an allocated message in
 * *ret_error when ret_error is not NULL. `ret` is untouched on failure. */
int kubeadm_images_for(const char *version, const char *image_repository, struct kubeadm_images *ret,
                       char **ret_error);

/* The pause image for a version (containerd's sandbox_image must be set to it
 * or kubeadm warns and the kubelet pulls a different one). Same arguments
 * and errors as kubeadm_images_for(). */
int kubeadm_pause_image(const char *version, const char *image_repository, struct imageref *ret,
                        char **ret_error);

/* The table's range of minor versions (1.<min> .. 1.<max>). */
void kubeadm_images_supported(unsigned *ret_min_minor, unsigned *ret_max_minor);
