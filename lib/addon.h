/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "digest.h"
#include "yamltree.h"

/* Add-on definitions (docs/addons.md): what the builder ships into the image
 * and the first-boot agent applies after kubeadm init. One format serves
 * both: a definition file in the repository's addons/ catalogue (every
 * *.yaml at its top; manifests by url + sha256, or by a file in a subfolder
 * beside the definition), and the image's
 * /usr/share/kubeseed/addons/catalog.yaml, one YAML document per add-on,
 * whose manifests are files in /usr/share/kubeseed/addons/<name>/ with
 * their sha256 always set.
 *
 *   name: flannel
 *   category: cni                   # cni | storage | ui | other
 *   description: ...
 *   default: true                   # applied when the metadata names no add-ons
 *   depends: [local-path, storage]  # add-on names or categories
 *   manifests:
 *     - url: https://.../kube-flannel.yml
 *       sha256: <64 hex>            # optional with a url: then the lock pins it
 *       server-side: false          # kubectl apply --server-side (large CRDs)
 *       substitute:                 # literal replacements made at first boot
 *         - find: '"Network": "10.244.0.0/16"'
 *           with: '"Network": "${pod-subnet}"'
 *   images: [quay.io/ceph/ceph:v18.2.4]   # named only in args, env, ConfigMaps, CRs
 *   ready:
 *     timeout: 10m
 *     checks:
 *       - {kind: daemonset, namespace: kube-flannel, name: kube-flannel-ds}
 *       - {kind: cephclusters.ceph.rook.io, namespace: rook-ceph, name: rook-ceph,
 *          jsonpath: '{.status.phase}', equals: Ready}
 *
 * Every add-on that is not a CNI comes after the selected CNI (implicitly:
 * nothing runs on a cluster without a pod network). Parsing, ordering,
 * substitution and readiness evaluation are pure. */

#define ADDON_IMAGE_DIR "/usr/share/kubeseed/addons"
#define ADDON_CATALOG_PATH ADDON_IMAGE_DIR "/catalog.yaml"
#define ADDON_CATALOG_MAX (1u << 20)
#define ADDON_MAX 32u
#define ADDON_LIST_MAX 16u /* manifests, substitutions, checks, images, depends */
#define ADDON_NAME_MAX 40u
#define ADDON_TIMEOUT_DEFAULT (15u * 60u)

struct addon_subst {
        char *find;
        char *with; /* may hold ${variable}s (addon_variables) */
};

struct addon_manifest {
        char *url;    /* NULL when the manifest is a file */
        char *file;   /* source definitions: relative to the definition; catalog: file name */
        char *sha256; /* 64 hex, or NULL (url only: the lock pins it) */
        bool server_side;
        struct addon_subst *subs;
        size_t n_subs;
};

struct addon_check {
        char *kind; /* deployment, daemonset, statefulset, or any resource with jsonpath */
        char *namespace;
        char *name;
        char *jsonpath; /* custom checks: the value at jsonpath must equal `equals` */
        char *equals;
};

struct addon_def {
        char *name;
        char *category;
        char *description;
        bool is_default;
        char **depends; /* NULL-terminated, never NULL after parsing */
        struct addon_manifest *manifests;
        size_t n_manifests;
        char **images; /* NULL-terminated, never NULL after parsing */
        unsigned timeout_sec;
        struct addon_check *checks;
        size_t n_checks;
        char *origin; /* file:line it came from, for messages */
};

struct addon_catalog {
        struct addon_def *defs;
        size_t n_defs;
};

/* Values the first boot substitutes: ${pod-subnet}, ${service-subnet},
 * ${cluster-name}, ${node-count}, ${replicas} (node count, at most 3),
 * ${mon-count} (3 from three nodes on, else 1), ${single-node} and
 * ${multi-node} (true|false). */
struct addon_vars {
        const char *pod_subnet;
        const char *service_subnet;
        const char *cluster_name;
        unsigned node_count; /* >= 1 */
};

/* Is `s` a valid add-on name (lowercase letters, digits, '-'; 1..40)? */
bool addon_name_valid(const char *s);
bool addon_category_valid(const char *s);

/* Parse one definition document. `filename` is for messages. Errors:
 * -EBADMSG with *ret_error "file:line:column: key: expected ...". */
int addon_parse(const char *filename, const struct ynode *doc, struct addon_def *ret, char **ret_error);
/* Parse a multi-document catalogue (the image's catalog.yaml, or a
 * definition file); definitions are appended to `cat` (names must stay
 * unique). */
int addon_catalog_parse(const char *filename, const char *data, size_t size, struct addon_catalog *cat,
                        char **ret_error);
/* Takes ownership of *d (zeroed afterwards). -EEXIST (with message) for a
 * second definition of the same name. */
int addon_catalog_add(struct addon_catalog *cat, struct addon_def *d, char **ret_error);
const struct addon_def *addon_catalog_find(const struct addon_catalog *cat, const char *name);
/* Every name and category a definition depends on must exist in the
 * catalogue, and no cycle may exist. */
int addon_catalog_validate(const struct addon_catalog *cat, char **ret_error);
/* The image's catalog.yaml (manifests as files with their sha256). */
int addon_catalog_render(const struct addon_catalog *cat, char **ret, size_t *ret_size);
void addon_def_done(struct addon_def *d);
void addon_catalog_done(struct addon_catalog *cat);
static inline void addon_catalog_donep(struct addon_catalog *c) {
        addon_catalog_done(c);
}
#define _cleanup_addon_catalog_ __attribute__((cleanup(addon_catalog_donep)))

/* The names the defaults select (is_default), in catalogue order. */
int addon_default_selection(const struct addon_catalog *cat, char ***ret);

/* Dependency order of `selected` (names; NULL-terminated): dependencies
 * first, otherwise the order given. Errors (-EINVAL, message naming the
 * add-ons): unknown name, duplicate, a dependency that is not selected, a
 * category with no selected member, more than one CNI, a cycle. */
int addon_order(const struct addon_catalog *cat, char *const *selected, char ***ret_ordered,
                char **ret_error);

/* Does `name` depend on `on`, directly or through others (categories
 * resolved within `selected`)? */
bool addon_depends_on(const struct addon_catalog *cat, char *const *selected, const char *name,
                      const char *on);

/* Expand ${variable}s in `with`. -EINVAL for an unknown variable. */
int addon_expand_vars(const char *with, const struct addon_vars *v, char **ret, char **ret_error);
/* Apply a manifest's substitutions to `text`: every occurrence of each
 * `find` is replaced; a `find` that does not occur is an error (-ENOENT,
 * naming it: the upstream manifest changed). */
int addon_substitute(const char *text, size_t size, const struct addon_manifest *m,
                     const struct addon_vars *v, char **ret, size_t *ret_size, char **ret_error);

/* The add-on's identity for "done unless it changed": sha256 over its
 * manifests' sha256s and substitutions, as "sha256:<hex>". */
int addon_digest(const struct addon_def *d, char out[SHA256_HEX_LEN + 8]);

/* kubectl argv that prints what addon_check_eval() reads. */
int addon_check_argv(const struct addon_check *c, const char *kubeconfig, char ***ret_argv);
/* Readiness from kubectl's output: *ret_ready, and *ret_status a short
 * description ("1 of 2 replicas available"). */
int addon_check_eval(const struct addon_check *c, const char *output, bool *ret_ready, char **ret_status);
/* "daemonset kube-flannel/kube-flannel-ds" */
char *addon_check_describe(const struct addon_check *c);

/* Is kubectl's error worth retrying (the API server settling, CRDs just
 * created, a webhook not up yet)? */
bool addon_kubectl_error_transient(const char *stderr_text);

/* "10m", "90s", "1h", "600" (seconds) -> seconds, at most a day. */
int addon_parse_duration(const char *s, unsigned *ret);
