/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imageref.h"
#include "platform.h"
#include "profile.h"

/* The image puller: a client of the OCI distribution API
 * (https://github.com/opencontainers/distribution-spec) that resolves an
 * image reference to the manifest for one platform and brings the manifest,
 * its config and its layers into kubeseed's content store
 * (<cas_dir>/sha256/<hex>, lib/download.h), every byte verified against its
 * digest. See docs/registry.md.
 *
 * The pure parts (endpoint resolution, WWW-Authenticate parsing, token
 * responses, manifests and descriptors, the registry's error JSON, the
 * credentials file) are separate functions over memory so they can be tested
 * without a network. */

#define REGISTRY_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define REGISTRY_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define REGISTRY_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define REGISTRY_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define REGISTRY_MT_DOCKER_SCHEMA1 "application/vnd.docker.distribution.manifest.v1+json"
#define REGISTRY_MT_DOCKER_SCHEMA1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"

/* The Accept header of every manifest request: the four current manifest
 * types (schema 1 is deliberately absent). */
#define REGISTRY_MANIFEST_ACCEPT                                                                            \
        "Accept: " REGISTRY_MT_OCI_INDEX ", " REGISTRY_MT_OCI_MANIFEST ", " REGISTRY_MT_DOCKER_LIST         \
        ", " REGISTRY_MT_DOCKER_MANIFEST

#define REGISTRY_MANIFEST_MAX (4u * 1024u * 1024u) /* distribution's own limit */
#define REGISTRY_LAYERS_MAX 1024u
#define REGISTRY_MEDIA_TYPE_MAX 127

/* ---- endpoints ---------------------------------------------------------- */

struct registry_endpoint {
        char *url;       /* "https://registry-1.docker.io", no trailing '/'; "/v2/..." is appended */
        char *ca_file;   /* trust this CA for this endpoint, or NULL (system trust) */
        bool allow_http; /* plain http:// (a mirror marked insecure) */
        bool mirror;     /* the URL comes from a profile mirror */
        char *host;      /* credentials are looked up under this name: the registry
                          * ("docker.io"), or the mirror's host[:port] */
};

/* Where the images of `registry` ("docker.io", "quay.io", "localhost:5000")
 * are fetched from: the profile mirror for that registry when there is one
 * (its endpoint, CA file; plain http only when marked insecure), otherwise
 * https://registry-1.docker.io for docker.io and https://<registry> for any
 * other. Pure. -EINVAL for a malformed mirror endpoint (not http(s)://host,
 * http without insecure, a query or fragment), -ENOMEM. `ret` is untouched
 * on failure; release with registry_endpoint_done(). */
int registry_endpoint_resolve(const char *registry, const struct profile_registry_mirror *mirrors,
                              size_t n_mirrors, struct registry_endpoint *ret);
void registry_endpoint_done(struct registry_endpoint *e);

/* ---- WWW-Authenticate (RFC 7235 section 4.1 / 2.1) ------------------------ */

struct registry_auth_param {
        char *name;  /* lowercased */
        char *value; /* unquoted, escapes resolved */
};

struct registry_challenge {
        char *scheme;  /* lowercased: "bearer", "basic" */
        char *token68; /* the token68 form, or NULL */
        struct registry_auth_param *params;
        size_t n_params;
};

/* Parse one WWW-Authenticate header value, which may hold several
 * challenges ("Bearer realm=\"a\",service=\"b\", Basic realm=\"c\"").
 * Quoted strings may hold commas, '=' and backslash escapes. -EBADMSG for
 * a malformed value (unterminated quote, a control character, a parameter
 * without '=', an empty scheme, a duplicate parameter), -E2BIG beyond 8 KiB
 * or 32 parameters. */
int registry_challenges_parse(const char *value, struct registry_challenge **ret, size_t *ret_n);
void registry_challenges_free(struct registry_challenge *c, size_t n);
/* A parameter by name (case-insensitive), or NULL. */
const char *registry_challenge_param(const struct registry_challenge *c, const char *name);

/* The token request for a Bearer challenge:
 * <realm>?service=<service>&scope=repository:<repository>:pull (each
 * percent-encoded; the realm's own query is kept). The realm must be an
 * https:// URL (http:// only when allow_http). -EINVAL with *ret_error. */
int registry_token_url(const struct registry_challenge *bearer, const char *repository, bool allow_http,
                       char **ret_url, char **ret_error);

/* The token from a token endpoint's JSON response: "token", else
 * "access_token" (RFC 6749). It must be non-empty printable ASCII without
 * spaces (it goes into a header). -EBADMSG with *ret_error (which never
 * contains the token). */
int registry_token_parse(const char *body, size_t size, char **ret_token, char **ret_error);

/* ---- manifests ------------------------------------------------------------ */

enum registry_kind {
        REGISTRY_KIND_INDEX,    /* OCI index or Docker manifest list */
        REGISTRY_KIND_MANIFEST, /* OCI or Docker v2 image manifest */
};

/* The kind of a manifest media type (parameters after ';' ignored, case
 * insensitive). -EPROTONOSUPPORT for Docker schema 1, -EMEDIUMTYPE for
 * anything else. */
int registry_media_type_kind(const char *media_type);

struct registry_descriptor {
        char media_type[REGISTRY_MEDIA_TYPE_MAX + 1];
        char digest[IMAGEREF_DIGEST_MAX + 1]; /* "sha256:<64 hex>" */
        uint64_t size;
};

struct registry_manifest {
        char media_type[REGISTRY_MEDIA_TYPE_MAX + 1]; /* the manifest's own type */
        struct registry_descriptor config;
        struct registry_descriptor *layers;
        size_t n_layers;
};

/* Work out what a manifest body is: the Content-Type when it names a
 * manifest type (may be NULL), else the body's "mediaType", else its shape
 * (OCI allows leaving mediaType out). When both are present they must
 * agree. Writes the media type to ret_media_type (REGISTRY_MEDIA_TYPE_MAX+1
 * bytes). -EPROTONOSUPPORT for schema 1, -EMEDIUMTYPE, -EBADMSG, with a
 * message in *ret_error. */
int registry_manifest_classify(const char *body, size_t size, const char *content_type, char *ret_media_type,
                               enum registry_kind *ret_kind, char **ret_error);

/* Parse an image manifest (OCI or Docker v2): schemaVersion 2, a config and
 * at most REGISTRY_LAYERS_MAX layers, each descriptor with a valid media
 * type (RFC 6838 type/subtype), a sha256 digest and a non-negative integer
 * size. -EBADMSG (malformed, with "layers[2].digest: expected ..."), -ENOTSUP
 * (a digest algorithm other than sha256), -E2BIG, -EPROTONOSUPPORT,
 * -EMEDIUMTYPE. Release with registry_manifest_done(). */
int registry_manifest_parse(const char *body, size_t size, const char *content_type,
                            struct registry_manifest *ret, char **ret_error);
void registry_manifest_done(struct registry_manifest *m);

/* The registry's error JSON ({"errors":[{"code":"MANIFEST_UNKNOWN",
 * "message":"manifest unknown"}]}) as one printable line
 * ("MANIFEST_UNKNOWN: manifest unknown"), or NULL when the body is not that. */
char *registry_error_summary(const char *body, size_t size);

/* ---- credentials ------------------------------------------------------------ */

/* A YAML (or JSON) file, mode 0600 or stricter:
 *
 *   registries:
 *     docker.io:
 *       username: alice
 *       password: s3cret
 *     "mirror.example:5000":
 *       username: robot
 *       password: t0ken
 *
 * Keys are registry hosts as written in image references, or a mirror's
 * host[:port]. An entry is used only when talking to that host's endpoint
 * ("docker.io" also names registry-1.docker.io): credentials are never sent
 * to a mirror under the name of the registry it mirrors. */
struct registry_credentials;

int registry_credentials_parse(const char *data, size_t size, const char *filename,
                               struct registry_credentials **ret, char **ret_error);
/* Reads the file; -EPERM when it is readable or writable by group or others. */
int registry_credentials_load(const char *path, struct registry_credentials **ret, char **ret_error);
/* The entry for `host`, or false. The strings belong to `c`. */
bool registry_credentials_lookup(const struct registry_credentials *c, const char *host,
                                 const char **ret_username, const char **ret_password);
void registry_credentials_free(struct registry_credentials *c);

/* ---- the content store ------------------------------------------------------ */

/* Put `data` into <cas_dir>/sha256/<sha256_hex> (atomic write, 0644) after
 * checking its digest. 1 added, 0 already present, -EBADMSG mismatch. */
int registry_cas_put_buffer(const char *cas_dir, const char *sha256_hex, const void *data, size_t size);

/* ---- the client ----------------------------------------------------------- */

struct registry_options {
        const char *cas_dir;                           /* required */
        const struct profile_registry_mirror *mirrors; /* the profile's registry-mirrors */
        size_t n_mirrors;
        const struct registry_credentials *credentials; /* may be NULL; must outlive the client */
        unsigned parallel;                              /* blob downloads at once: default 4, at most 16 */
        unsigned attempts;       /* manifest requests and blobs (download_to_cas): default 4 */
        unsigned retry_delay_ms; /* first backoff, doubled each time: default 500 */
        bool progress;           /* an overall progress line per image on stderr */
};

struct registry_client;

int registry_client_new(const struct registry_options *o, struct registry_client **ret);
void registry_client_free(struct registry_client *c);
static inline void registry_client_freep(struct registry_client **c) {
        registry_client_free(*c);
}
#define _cleanup_registry_client_ __attribute__((cleanup(registry_client_freep)))

struct registry_resolved {
        char digest[IMAGEREF_DIGEST_MAX + 1]; /* the platform's image manifest */
        char media_type[REGISTRY_MEDIA_TYPE_MAX + 1];
        uint64_t size;
        /* The index or manifest list the reference named, or "" when it named
         * an image manifest directly (the digest to record for the image). */
        char index_digest[IMAGEREF_DIGEST_MAX + 1];
        char index_media_type[REGISTRY_MEDIA_TYPE_MAX + 1];
        uint64_t index_size;
        char platform[PLATFORM_STRING_MAX + 1]; /* as the index wrote it, or "" */
};

/* Resolve `ref` for `target`: GET /v2/<repository>/manifests/<tag|digest>
 * (a reference with a digest is fetched by digest; a digest already in the
 * store is read from there, with no request), verify the body against
 * Docker-Content-Digest and the requested digest, select the platform's
 * manifest from an index, fetch and verify that, and store both in the
 * content store. Returns 0 or a negative errno with *ret_error naming the
 * reference, the URL and the cause:
 *   -EBADMSG  a digest mismatch, a malformed manifest
 *   -ENOENT   the registry does not know the manifest (404), or the index has
 *             no manifest for the platform (the message lists those it has)
 *   -EACCES   authentication refused or needed and not possible
 *   -EPROTONOSUPPORT  schema 1; -EMEDIUMTYPE not a manifest
 *   -EPROTO   another HTTP error status; and the lib/http.h transport errors */
int registry_resolve(struct registry_client *c, const struct imageref *ref,
                     const struct platform_target *target, struct registry_resolved *ret, char **ret_error);

struct registry_image {
        struct registry_resolved manifest;
        struct registry_descriptor config;
        struct registry_descriptor *layers;
        size_t n_layers;
        unsigned blobs_downloaded; /* blobs that were not in the store before */
        uint64_t bytes_downloaded; /* their sizes */
};

/* registry_resolve(), then the config and layers from
 * /v2/<repository>/blobs/<digest> into the store with download_to_cas()
 * (redirects followed, digest verified while streaming, retries), skipping
 * those already there, `parallel` at a time. Errors as registry_resolve(),
 * plus those of download_to_cas(). Release with registry_image_done(). */
int registry_pull(struct registry_client *c, const struct imageref *ref,
                  const struct platform_target *target, struct registry_image *ret, char **ret_error);
void registry_image_done(struct registry_image *img);

/* registry_pull() of n images at once: every manifest is resolved first
 * (one image after another), then the blobs all of them lack go through one
 * pool of `parallel` downloads, each blob once even when several images
 * share it (counted in blobs_downloaded of the first image that has it).
 * ret has n entries, filled only on success. On failure *ret_failed (may be
 * NULL) is the index of the image the error is about. */
int registry_pull_many(struct registry_client *c, const struct imageref *refs, size_t n,
                       const struct platform_target *target, struct registry_image *ret, size_t *ret_failed,
                       char **ret_error);
