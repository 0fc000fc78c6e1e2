/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "imageref.h"
#include "manifestwalk.h"
#include "puller.h"

/* The lock file (docs/airgap.md): what `kubeseed fetch` resolved for a
 * profile, so that a later build — online or --offline — uses exactly those
 * bytes and never follows a moving tag. It lives beside the profile
 * (images/x.yaml -> images/x.lock) and holds one section per architecture:
 *
 *   lock-version: 1
 *   profile: debian-bookworm
 *   architectures:
 *     amd64:
 *       kubernetes:
 *         version: v1.31.1
 *         files:
 *           - name: kubeadm
 *             sha256: <64 hex>
 *       addon-manifests:                 # add-on manifests fetched by URL
 *         - url: https://github.com/.../kube-flannel.yml
 *           sha256: <64 hex>
 *       images:
 *         - ref: registry.k8s.io/pause:3.10
 *           digest: sha256:<64 hex>     # the manifest for this architecture
 *           media-type: application/vnd.oci.image.manifest.v1+json
 *           size: 527
 *           index-digest: sha256:<64 hex>  # the multi-arch index, when there was one
 *
 * Rendering and parsing are pure; lock_load()/lock_save() are the I/O. */

#define LOCK_VERSION 1
#define LOCK_FILE_MAX (4u * 1024u * 1024u)
#define LOCK_ARCHES_MAX 16u
#define LOCK_ITEMS_MAX 4096u

struct lock_file {
        char *name; /* the bundle item's file_name: "kubeadm", "cni-plugins-linux-amd64-v1.5.1.tgz" */
        char sha256[SHA256_HEX_LEN + 1];
};

struct lock_image {
        char *ref; /* normalised, as the profile asks for it (a tag, or a digest) */
        char digest[IMAGEREF_DIGEST_MAX + 1];
        char media_type[REGISTRY_MEDIA_TYPE_MAX + 1];
        uint64_t size;
        /* The index (manifest list) the reference named, from which `digest`
         * was selected for this architecture; "" for a single-arch image. */
        char index_digest[IMAGEREF_DIGEST_MAX + 1];
};

struct lock_arch {
        char *arch;               /* Debian/Kubernetes name: "amd64", "arm64" */
        char *kubernetes_version; /* NULL: the profile had no kubernetes section */
        struct lock_file *files;
        size_t n_files;
        struct lock_file *manifests; /* add-on manifests: name is the URL */
        size_t n_manifests;
        struct lock_image *images;
        size_t n_images;
};

struct lock {
        char *profile; /* the profile's name, informative */
        struct lock_arch *arches;
        size_t n_arches;
};

/* images/x.yaml -> images/x.lock (any ".yaml"/".yml" suffix dropped). */
char *lock_path_for_profile(const char *profile_path);

/* YAML text of `l`, architectures in the order held. -ENOMEM, -EINVAL. */
int lock_render(const struct lock *l, char **ret, size_t *ret_size);
/* Parse a lock file; `filename` is for messages only. Unknown keys, missing
 * keys, malformed digests, duplicates: -EBADMSG with *ret_error
 * "file:line:column: what was expected". */
int lock_parse(const char *filename, const char *data, size_t size, struct lock **ret, char **ret_error);

/* -ENOENT (no *ret_error) when the file does not exist. */
int lock_load(const char *path, struct lock **ret, char **ret_error);
/* Atomic write (temp file, fsync, rename), mode 0644. */
int lock_save(const char *path, const struct lock *l);

struct lock *lock_new(const char *profile_name);
void lock_free(struct lock *l);
static inline void lock_freep(struct lock **l) {
        if (*l)
                lock_free(*l);
}
#define _cleanup_lock_ __attribute__((cleanup(lock_freep)))
void lock_arch_done(struct lock_arch *a);

/* The section of `arch`, or NULL. */
const struct lock_arch *lock_find_arch(const struct lock *l, const char *arch);
/* Replaces (or appends) the section of a->arch, taking ownership of *a's
 * contents (then zeroed). -ENOMEM. */
int lock_set_arch(struct lock *l, struct lock_arch *a);

/* Appenders for building a section (copy their arguments). -ENOMEM, or
 * -EINVAL for a malformed digest. index_digest may be NULL or "" (a
 * single-arch image). */
int lock_arch_add_file(struct lock_arch *a, const char *name, const char *sha256_hex);
int lock_arch_add_image(struct lock_arch *a, const char *ref, const char *digest, const char *media_type,
                        uint64_t size, const char *index_digest);

const char *lock_file_sha256(const struct lock_arch *a, const char *name);
/* Add-on manifests fetched by URL (a URL already locked is kept). */
int lock_arch_add_manifest(struct lock_arch *a, const char *url, const char *sha256_hex);
const char *lock_manifest_sha256(const struct lock_arch *a, const char *url);
const struct lock_image *lock_find_image(const struct lock_arch *a, const struct imageref *ref);

/* Turns the wanted images into references pinned by the lock's digests:
 * ret_refs[i] is want->items[i].ref with the locked manifest digest set (a
 * tag is kept, so "name:tag@sha256:..." is fetched by digest and never by
 * tag). ret_refs has want->n_items entries. Pure. -ENOENT with *ret_error
 * listing every image not in the lock ("not in the lock: run kubeseed
 * fetch"); a wanted reference that carries its own digest must agree with
 * the lock (-EBADMSG). */
int lock_pin_images(const struct lock_arch *a, const struct image_list *want, struct imageref *ret_refs,
                    char **ret_error);

/* What an offline build needs, all from the store and the lock, no network:
 * the lock section matches `kubernetes_version`, every name in file_names
 * (the planned bundle) is locked and its sha256 is in the store, every
 * wanted image is locked and its manifest, config and layers are in the
 * store (the stored manifest is parsed). 0 when everything is there;
 * otherwise -ENOENT with *ret_error listing EVERY missing item, one per
 * line. */
int lock_check_offline(const struct lock_arch *a, const char *kubernetes_version, char *const *file_names,
                       const struct image_list *want, const char *cas_dir, char **ret_error);
