/* SPDX-License-Identifier: MIT */
#include "platform.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "strv.h"

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"

/* Longest os, architecture or variant considered; longer ones match nothing. */
#define FIELD_MAX 31

struct platform_target platform_target_from_arch(const struct arch_info *arch) {
        return (struct platform_target){
                .os = "linux",
                .architecture = arch->oci_arch,
                .variant = arch->oci_variant,
        };
}

static void lower_copy(char out[FIELD_MAX + 1], const char *s) {
        size_t i = 0;
        for (; s && s[i] && i < FIELD_MAX; i++)
                out[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char) (s[i] - 'A' + 'a') : s[i];
        out[i] = 0;
}

struct norm {
        char os[FIELD_MAX + 1], arch[FIELD_MAX + 1], variant[FIELD_MAX + 1];
};

/* containerd's platforms.Normalize (normalizeOS, normalizeArch). */
static void normalize(const char *os, const char *arch, const char *variant, struct norm *ret) {
        lower_copy(ret->os, os);
        lower_copy(ret->arch, arch);
        lower_copy(ret->variant, variant);
        if (streq(ret->os, "macos"))
                (void) snprintf(ret->os, sizeof(ret->os), "darwin");

        char *a = ret->arch, *v = ret->variant;
        if (streq(a, "i386")) {
                (void) snprintf(a, FIELD_MAX + 1, "386");
                v[0] = 0;
        } else if (streq(a, "x86_64") || streq(a, "x86-64") || streq(a, "amd64")) {
                (void) snprintf(a, FIELD_MAX + 1, "amd64");
                if (streq(v, "v1"))
                        v[0] = 0;
        } else if (streq(a, "aarch64") || streq(a, "arm64")) {
                (void) snprintf(a, FIELD_MAX + 1, "arm64");
                if (streq(v, "8") || streq(v, "v8") || streq(v, "v8.0"))
                        v[0] = 0;
        } else if (streq(a, "armhf")) {
                (void) snprintf(a, FIELD_MAX + 1, "arm");
                (void) snprintf(v, FIELD_MAX + 1, "v7");
        } else if (streq(a, "armel")) {
                (void) snprintf(a, FIELD_MAX + 1, "arm");
                (void) snprintf(v, FIELD_MAX + 1, "v6");
        } else if (streq(a, "arm")) {
                if (streq(v, "") || streq(v, "7"))
                        (void) snprintf(v, FIELD_MAX + 1, "v7");
                else if (streq(v, "5") || streq(v, "6") || streq(v, "8")) {
                        char d = v[0];
                        (void) snprintf(v, FIELD_MAX + 1, "v%c", d);
                }
        }
}

static bool is_sha256_digest(const char *s) {
        if (strncmp(s, "sha256:", 7) != 0 || strlen(s) != 7 + 64)
                return false;
        for (const char *p = s + 7; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
                        return false;
        return true;
}

/* A string member: absent is NULL with *ok true; present but not a scalar
 * sets *ok false. */
static const char *member_str(const struct ynode *map, const char *key, bool *ok) {
        const struct ynode *n = ynode_get(map, key);
        if (!n)
                return NULL;
        if (n->kind != YNODE_SCALAR) {
                *ok = false;
                return NULL;
        }
        return n->value;
}

static bool is_attestation(const struct ynode *desc) {
        const struct ynode *ann = ynode_get(desc, "annotations");
        const char *t = ynode_get_str(ann, "vnd.docker.reference.type");
        return t && streq(t, "attestation-manifest");
}

/* "os/arch[/variant]" as written (printable, each part at most 31
 * characters). */
static int platform_written(const char *os, const char *arch, const char *variant,
                            char out[PLATFORM_STRING_MAX + 1]) {
        _cleanup_free_ char *pos = ystr_printable(os, 31), *parch = ystr_printable(arch, 31),
                            *pvar = variant ? ystr_printable(variant, 31) : NULL;
        if (!pos || !parch || (variant && !pvar))
                return -ENOMEM;
        (void) snprintf(out, PLATFORM_STRING_MAX + 1, "%s/%s%s%s", pos, parch, pvar ? "/" : "",
                        pvar ? pvar : "");
        return 0;
}

int platform_check_config(const struct ynode *config, const struct platform_target *target,
                          char **ret_error) {
        if (!target || !target->os || !target->architecture)
                return set_error(ret_error, -EINVAL, "No target platform given");
        if (!config || config->kind != YNODE_MAPPING)
                return set_error(ret_error, -EBADMSG, "%zu:%zu: expected an image config (a JSON object)",
                                 config ? config->line : 0, config ? config->column : 0);
        bool ok = true;
        const char *os = member_str(config, "os", &ok);
        const char *arch = member_str(config, "architecture", &ok);
        const char *variant = member_str(config, "variant", &ok);
        if (!ok || !os || !arch || !*os || !*arch)
                return set_error(ret_error, -EBADMSG,
                                 "%zu:%zu: the image config has no \"os\" and \"architecture\" strings",
                                 config->line, config->column);
        struct norm have, want;
        normalize(os, arch, variant, &have);
        normalize(target->os, target->architecture, target->variant, &want);
        /* A config need not state its variant (most arm64 images do not):
         * then os and architecture decide. */
        if (strlen(os) <= FIELD_MAX && strlen(arch) <= FIELD_MAX &&
            (!variant || strlen(variant) <= FIELD_MAX) && streq(have.os, want.os) &&
            streq(have.arch, want.arch) && (!variant || !*variant || streq(have.variant, want.variant)))
                return 0;
        char written[PLATFORM_STRING_MAX + 1];
        if (platform_written(os, arch, variant && *variant ? variant : NULL, written) < 0)
                return set_error(ret_error, -ENOMEM, "Out of memory");
        return set_error(ret_error, -ENOEXEC, "the image is for %s (its config says so), not %s/%s%s%s",
                         written, target->os, target->architecture, target->variant ? "/" : "",
                         target->variant ? target->variant : "");
}

int platform_select(const struct ynode *index, const struct platform_target *target,
                    struct platform_choice *ret, char **ret_error) {
        if (!index || index->kind != YNODE_MAPPING)
                return set_error(ret_error, -EMEDIUMTYPE, "%zu:%zu: expected an image index (a JSON object)",
                                 index ? index->line : 0, index ? index->column : 0);
        if (!target || !target->os || !target->architecture)
                return set_error(ret_error, -EINVAL, "No target platform given");

        bool ok = true;
        const char *media_type = member_str(index, "mediaType", &ok);
        const struct ynode *manifests = ynode_get(index, "manifests");
        if (!ok)
                return set_error(ret_error, -EBADMSG, "%zu:%zu: mediaType: expected a string", index->line,
                                 index->column);
        if (media_type && !streq(media_type, MT_OCI_INDEX) && !streq(media_type, MT_DOCKER_LIST)) {
                _cleanup_free_ char *p = ystr_printable(media_type, 100);
                return set_error(ret_error, -EMEDIUMTYPE,
                                 "Media type '%s' is not an image index (" MT_OCI_INDEX " or " MT_DOCKER_LIST
                                 ")",
                                 p ? p : "?");
        }
        /* The OCI index's mediaType is optional: then "manifests" decides. */
        if (!media_type && !manifests)
                return set_error(ret_error, -EMEDIUMTYPE,
                                 "%zu:%zu: not an image index (no mediaType and no manifests)", index->line,
                                 index->column);
        const struct ynode *sv = ynode_get(index, "schemaVersion");
        if (!sv || sv->kind != YNODE_SCALAR || !streq(sv->value, "2"))
                return set_error(ret_error, -EBADMSG, "%zu:%zu: schemaVersion: expected 2",
                                 sv ? sv->line : index->line, sv ? sv->column : index->column);
        if (!manifests || manifests->kind != YNODE_SEQUENCE)
                return set_error(ret_error, -EBADMSG, "%zu:%zu: manifests: expected a list",
                                 manifests ? manifests->line : index->line,
                                 manifests ? manifests->column : index->column);

        struct norm want;
        normalize(target->os, target->architecture, target->variant, &want);

        _cleanup_strv_free_ char **available = NULL;
        for (size_t i = 0; i < manifests->n_items; i++) {
                const struct ynode *d = manifests->items[i];
                if (d->kind != YNODE_MAPPING)
                        return set_error(ret_error, -EBADMSG, "%zu:%zu: manifests[%zu]: expected an object",
                                         d->line, d->column, i);
                if (is_attestation(d))
                        continue;
                const struct ynode *plat = ynode_get(d, "platform");
                if (!plat)
                        continue;
                if (plat->kind != YNODE_MAPPING)
                        return set_error(ret_error, -EBADMSG,
                                         "%zu:%zu: manifests[%zu].platform: expected an object", plat->line,
                                         plat->column, i);
                ok = true;
                const char *os = member_str(plat, "os", &ok);
                const char *arch = member_str(plat, "architecture", &ok);
                const char *variant = member_str(plat, "variant", &ok);
                if (!ok || !os || !arch)
                        return set_error(
                                ret_error, -EBADMSG,
                                "%zu:%zu: manifests[%zu].platform: expected os and architecture strings",
                                plat->line, plat->column, i);
                if (streq(os, "unknown") && streq(arch, "unknown"))
                        continue;

                char written[PLATFORM_STRING_MAX + 1];
                if (platform_written(os, arch, variant, written) < 0)
                        return set_error(ret_error, -ENOMEM, "Out of memory");

                struct norm have;
                normalize(os, arch, variant, &have);
                if (strlen(os) > FIELD_MAX || strlen(arch) > FIELD_MAX ||
                    (variant && strlen(variant) > FIELD_MAX) || !streq(have.os, want.os) ||
                    !streq(have.arch, want.arch) || !streq(have.variant, want.variant)) {
                        if (!strv_contains(available, written) && strv_push(&available, written) < 0)
                                return set_error(ret_error, -ENOMEM, "Out of memory");
                        continue;
                }

                /* The match: now its descriptor must be complete. */
                ok = true;
                const char *mt = member_str(d, "mediaType", &ok);
                const char *digest = member_str(d, "digest", &ok);
                uint64_t size;
                if (!ok || !mt || !digest)
                        return set_error(ret_error, -EBADMSG,
                                         "%zu:%zu: manifests[%zu]: expected mediaType and digest strings",
                                         d->line, d->column, i);
                const struct ynode *sn = ynode_get(d, "size");
                if (!ynode_parse_uint(sn, UINT64_MAX, &size))
                        return set_error(ret_error, -EBADMSG,
                                         "%zu:%zu: manifests[%zu].size: expected a non-negative integer",
                                         sn ? sn->line : d->line, sn ? sn->column : d->column, i);
                if (!streq(mt, MT_OCI_MANIFEST) && !streq(mt, MT_DOCKER_MANIFEST)) {
                        _cleanup_free_ char *p = ystr_printable(mt, 100);
                        return set_error(
                                ret_error, -ENOTSUP,
                                "%zu:%zu: manifests[%zu] (%s) has media type '%s', not an image manifest",
                                d->line, d->column, i, written, p ? p : "?");
                }
                if (!is_sha256_digest(digest)) {
                        _cleanup_free_ char *p = ystr_printable(digest, 100);
                        return set_error(ret_error,
                                         strchr(digest, ':') && strncmp(digest, "sha256:", 7) != 0
                                                 ? -ENOTSUP
                                                 : -EBADMSG,
                                         "%zu:%zu: manifests[%zu].digest: '%s' is not a sha256 digest",
                                         d->line, d->column, i, p ? p : "?");
                }

                struct platform_choice c = {.size = size, .index = i};
                (void) snprintf(c.digest, sizeof(c.digest), "%s", digest);
                (void) snprintf(c.media_type, sizeof(c.media_type), "%s", mt);
                (void) snprintf(c.platform, sizeof(c.platform), "%s", written);
                *ret = c;
                return 0;
        }

        _cleanup_free_ char *list = strv_join(available, ", ");
        if (!list)
                return set_error(ret_error, -ENOMEM, "Out of memory");
        return set_error(ret_error, -ENOENT, "No manifest for %s/%s%s%s in the index; it has: %s",
                         target->os, target->architecture, target->variant ? "/" : "",
                         target->variant ? target->variant : "", list[0] ? list : "no platforms");
}
