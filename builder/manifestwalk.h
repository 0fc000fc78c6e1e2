/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

#include "imageref.h"
#include "yamltree.h"

/* Every container image named in Kubernetes manifests, found by walking the
 * parsed YAML (never by grepping text).
 *
 * Each document is handled by its kind:
 *  - Pod (spec), PodTemplate (template.spec), Deployment, StatefulSet,
 *    DaemonSet, ReplicaSet, ReplicationController, Job (spec.template.spec),
 *    CronJob (spec.jobTemplate.spec.template.spec), when their apiVersion is
 *    Kubernetes' own (v1, apps/..., extensions/..., batch/...): the pod spec
 *    must be there, every container must have an image, and the `image` of
 *    containers, initContainers and ephemeralContainers is collected;
 *  - List and every <Kind>List: each of `items`, recursively;
 *  - Kubernetes kinds that never hold a pod spec (ConfigMap, Secret, Service,
 *    RBAC, CustomResourceDefinition, ...): nothing. A string that looks like
 *    an image inside them (a ConfigMap value, a CRD default) is not collected;
 *  - any other kind (custom resources, or a workload kind of another API
 *    group, such as Volcano's batch.volcano.sh Job): a generic search for
 *    pod-spec-shaped mappings anywhere in the object: a mapping whose
 *    `containers` is a non-empty list of mappings that each have a `name` and
 *    an `image` string. That finds pod templates embedded in custom
 *    resources (Knative's Service, Volcano's Job, KubeVirt, ...), which a
 *    list of kinds would miss, while a bare string that merely looks like an
 *    image is never taken. It cannot find images an operator derives from
 *    fields of its own (Rook's CephCluster spec.cephVersion.image, an Argo
 *    Workflow's templates[].container): those belong in the profile's
 *    images.extra.
 * Null documents are skipped; a document that is not a mapping is an error.
 *
 * References are normalised (lib/imageref), deduplicated, and kept in the
 * order first seen, each with where it was first found. */

struct image_use {
        struct imageref ref;
        char *origin; /* "addons/flannel.yaml:41:16", "images/x.yaml: images.extra[0]" */
};

struct image_list {
        struct image_use *items;
        size_t n_items, n_allocated;
};

/* Limits for add-on manifests, larger than yaml_default_limits: CRD bundles
 * (Rook, Calico's operator) reach megabytes, dozens of documents and deep
 * openAPIV3Schema nesting. 16 MiB, depth 128, 2000000 nodes, 4096 documents. */
extern const struct yaml_limits manifest_limits;

/* Parse every document of `data` (read from `file_name`, used in origins and
 * messages) and add its images to `list`. On error returns a negative errno
 * and, when ret_error is not NULL, an allocated message
 * "file:line:column: what is wrong"; `list` is then unchanged. Returns the
 * number of images added that were not in the list before. */
int manifest_collect_images(const char *file_name, const char *data, size_t size, struct image_list *list,
                            char **ret_error);

/* Same over already parsed documents. */
int manifest_collect_documents(const char *file_name, struct ynode *const *docs, size_t n_docs,
                               struct image_list *list, char **ret_error);

/* Add one reference string, normalised. Returns 1 when added, 0 when it was
 * already there (the first origin is kept), -EINVAL for an invalid reference
 * (message "origin: invalid image reference 'x': reason"), -ENOMEM. */
int image_list_add(struct image_list *list, const char *image, const char *origin, char **ret_error);
/* Add a parsed reference (the kubeadm images). Returns 1, 0 or -ENOMEM. */
int image_list_add_ref(struct image_list *list, const struct imageref *ref, const char *origin);

/* Merge a profile's images.extra (NULL-terminated; NULL is empty). Origins
 * are "<profile_path>: images.extra[i]". Returns the number added, or an error
 * as image_list_add() with `list` unchanged. */
int image_list_add_extra(struct image_list *list, char *const *extra, const char *profile_path,
                         char **ret_error);

/* Index of `ref` in the list, or -ENOENT. */
int image_list_find(const struct image_list *list, const struct imageref *ref);

/* Frees the items; the list is then empty and reusable. */
void image_list_done(struct image_list *list);
static inline void image_list_donep(struct image_list *list) {
        image_list_done(list);
}
#define _cleanup_image_list_ __attribute__((cleanup(image_list_donep)))
