/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>

#include "arch.h"
#include "imageref.h"
#include "yamltree.h"

/* Platform selection in an OCI image index
 * (application/vnd.oci.image.index.v1+json) or a Docker manifest list
 * (application/vnd.docker.distribution.manifest.list.v2+json), pure over the
 * document parsed with lib/yamltree (which reads JSON).
 *
 * Matching follows containerd's platforms package: os and architecture
 * compared after normalisation (lowercase; x86_64 -> amd64, aarch64 -> arm64;
 * arm64 variants "", "8", "v8" and "v8.0" are one; amd64 "v1" is ""; arm ""
 * and "7" are "v7"), then the variant. There is no fallback to an older
 * variant: an arm64 target never takes arm/v7, an amd64 target never takes
 * amd64/v3. The first matching descriptor in document order wins.
 * Descriptors without a platform are skipped (containerd would fetch their
 * config to find out), and so are attestation manifests (annotation
 * "vnd.docker.reference.type": "attestation-manifest", platform
 * unknown/unknown). */

#define PLATFORM_MEDIA_TYPE_MAX 127
#define PLATFORM_STRING_MAX 95

struct platform_target {
        const char *os;           /* "linux" */
        const char *architecture; /* OCI name: "amd64", "arm64" */
        const char *variant;      /* "v8", or NULL */
};

/* The target for an architecture of lib/arch.h (os linux, its OCI arch and
 * variant). */
struct platform_target platform_target_from_arch(const struct arch_info *arch);

struct platform_choice {
        char digest[IMAGEREF_DIGEST_MAX + 1];         /* "sha256:<64 hex>" */
        char media_type[PLATFORM_MEDIA_TYPE_MAX + 1]; /* an image manifest type */
        uint64_t size;                                /* bytes of the manifest */
        size_t index;                                 /* position in "manifests" */
        char platform[PLATFORM_STRING_MAX + 1];       /* as written: "linux/arm64/v8" */
};

/* Pick the manifest for `target` from `index`. Returns 0, or a negative errno
 * with an allocated message in *ret_error (when not NULL); `ret` is untouched
 * on failure:
 *   -ENOENT     no descriptor for the target; the message lists the platforms
 *               the index has ("linux/amd64, linux/arm/v7")
 *   -EMEDIUMTYPE the document is not an index or manifest list
 *   -EBADMSG    a malformed index or descriptor ("line:column: manifests[2].size:
 *               expected a non-negative integer")
 *   -ENOTSUP    the matching descriptor is not an image manifest (a nested
 *               index) or its digest is not sha256 */
int platform_select(const struct ynode *index, const struct platform_target *target,
                    struct platform_choice *ret, char **ret_error);

/* Check an image config (image-spec config.md: "os" and "architecture"
 * required, "variant" optional) against `target`, for an image that came
 * with no index to say its platform (a single-arch tag). Same normalisation
 * as platform_select(); a config without a variant matches on os and
 * architecture. 0 when it matches; otherwise a negative errno with a
 * message in *ret_error (when not NULL):
 *   -ENOEXEC  another platform ("the image is for linux/arm64 (its config
 *             says so), not linux/amd64")
 *   -EBADMSG  not an object, or no os/architecture strings */
int platform_check_config(const struct ynode *config, const struct platform_target *target,
                          char **ret_error);
