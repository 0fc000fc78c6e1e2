/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* OCI image-layout archives (image-spec image-layout.md) written and read
 * with libarchive: a tar holding
 *
 *   oci-layout                {"imageLayoutVersion": "1.0.0"}
 *   index.json                an image index, one descriptor per image name
 *   blobs/  blobs/sha256/     directories
 *   blobs/sha256/<hex>        every manifest, config and layer, once
 *
 * in that order, the blobs sorted by digest. Each descriptor in index.json
 * carries two annotations:
 *
 *   io.containerd.image.name          "docker.io/library/nginx:latest"
 *   org.opencontainers.image.ref.name "latest"
 *
 * containerd's import (`ctr images import`, client.Import) names an image
 * after io.containerd.image.name and only falls back to the ref.name, which
 * it prefixes with "import-<date>" when it is a bare tag; skopeo's
 * oci-archive:FILE:TAG selects by ref.name, which the OCI spec defines as
 * the tag. A digest-only reference gets no ref.name. See docs/oci-archives.md.
 *
 * The writer is deterministic: same store contents and arguments, same bytes
 * (pax-restricted tar, i.e. plain ustar headers unless a blob is > 8 GiB;
 * uid/gid 0, no user or group names, mode 0644/0755, mtime = the caller's
 * SOURCE_DATE_EPOCH, index entries sorted by name). */

#define OCI_MEDIA_TYPE_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCI_MEDIA_TYPE_INDEX "application/vnd.oci.image.index.v1+json"
#define DOCKER_MEDIA_TYPE_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define DOCKER_MEDIA_TYPE_MANIFEST_LIST "application/vnd.docker.distribution.manifest.list.v2+json"

#define OCI_ANNOTATION_REF_NAME "org.opencontainers.image.ref.name"
#define CONTAINERD_ANNOTATION_IMAGE_NAME "io.containerd.image.name"

/* Limits on what is parsed: manifests and indexes (registries refuse
 * manifests over 4 MiB), index.json, descriptors per manifest, archive
 * entries. */
#define OCIARCHIVE_MANIFEST_MAX (4u << 20)
#define OCIARCHIVE_DESCRIPTORS_MAX 4096u
#define OCIARCHIVE_ENTRIES_MAX 100000u

/* One image to write. Its manifest and everything it references must be in
 * the content-addressed store <cas_dir>/sha256/<hex> (lib/download.h). */
struct ociarchive_image {
        const char *name;            /* a reference, normalised (imageref_parse) before use:
                                      * "registry.k8s.io/pause:3.10", "docker.io/x/y@sha256:..." */
        const char *manifest_digest; /* "sha256:<64 lowercase hex>" */
        const char *media_type;      /* one of the four media types above */
        uint64_t size;               /* of the manifest, as in its descriptor */
};

struct ociarchive_stats {
        size_t n_blobs;       /* blobs written (each once) */
        uint64_t blob_bytes;  /* their total size */
        uint64_t dedup_bytes; /* bytes not written twice: blobs shared between images */
};

/* Write an archive of `images` to `path` (temp file beside it, fsync,
 * rename, fsync of the directory). Manifests are parsed (an index's child
 * manifests too, one level) to find the config and layers, so the archive
 * holds exactly the blobs the images need. Every blob's size and SHA-256 are
 * checked while it is streamed from the store; nothing is loaded whole
 * except manifests. Two names for one manifest give two index entries and
 * one copy of the blobs.
 *
 * Returns 0, or a negative errno with *ret_error (may be NULL) naming the
 * image, the blob and what was wrong: -EINVAL bad argument (an invalid
 * reference, a digest that is not sha256, one name given two digests, a
 * reference whose digest is not the manifest's), -ENOENT a blob missing from
 * the store, -EBADMSG a blob whose size or digest does not match, or a
 * manifest that cannot be parsed, -EMEDIUMTYPE an unsupported media type,
 * -E2BIG limits exceeded, or an I/O error. On failure `path` is untouched.
 * ret_stats may be NULL. */
int ociarchive_write(const char *path, const char *cas_dir, const struct ociarchive_image *images,
                     size_t n_images, int64_t source_date_epoch, struct ociarchive_stats *ret_stats,
                     char **ret_error);

/* ---- reading ---------------------------------------------------------------- */

struct ociarchive_entry {
        char *name;            /* io.containerd.image.name, else ref.name, else NULL */
        char *ref_name;        /* org.opencontainers.image.ref.name or NULL */
        char *manifest_digest; /* "sha256:<hex>" */
        char *media_type;
        uint64_t size;
};

struct ociarchive_listing {
        struct ociarchive_entry *images; /* in index.json's order */
        size_t n_images;
        size_t n_blobs;
        uint64_t blob_bytes;
};

void ociarchive_listing_free(struct ociarchive_listing *l);
static inline void ociarchive_listing_freep(struct ociarchive_listing **l) {
        ociarchive_listing_free(*l);
}
#define _cleanup_ociarchive_listing_ __attribute__((cleanup(ociarchive_listing_freep)))

/* Read and verify an OCI image-layout archive (any compression libarchive
 * reads; entry names with or without "./"): oci-layout says 1.0.0, every
 * blobs/sha256/<hex> hashes to its name, every image in index.json is
 * complete (manifest, an index's child manifests, config, layers present
 * with the sizes their descriptors give). Blobs of other algorithms, links
 * and devices under blobs/, duplicate entries and unsafe names are refused;
 * other files (a docker manifest.json) are ignored.
 *
 * When cas_dir is not NULL every verified blob is also put into the store
 * (written as a temp file, renamed into place; present blobs are kept): the
 * air-gapped `images.source: dir:` case.
 *
 * Returns 0 with *ret (free with ociarchive_listing_free), or a negative
 * errno with *ret_error (may be NULL): -EBADMSG not a valid layout (the
 * message names the entry or the image and digest), -ENOENT a blob an image
 * needs is absent, -EOPNOTSUPP another digest algorithm, -E2BIG limits,
 * or an I/O error. */
int ociarchive_read(const char *path, const char *cas_dir, struct ociarchive_listing **ret,
                    char **ret_error);
