/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Container image references, parsed and normalised as containerd and docker
 * do (github.com/distribution/reference: ParseNormalizedNamed, then
 * TagNameOnly):
 *
 *   nginx                      -> docker.io/library/nginx:latest
 *   user/app                   -> docker.io/user/app:latest
 *   index.docker.io/x/y        -> docker.io/x/y:latest
 *   localhost:5000/a           -> localhost:5000/a:latest
 *   img@sha256:<64 hex>        -> docker.io/library/img@sha256:<64 hex>
 *   img:1.0@sha256:<64 hex>    -> docker.io/library/img:1.0@sha256:<64 hex>
 *
 * Grammar (distribution's reference.go):
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := [ domain "/" ] path-component ( "/" path-component )*
 *   domain     := host [ ":" port ]; host := domain-name | "[" ipv6 "]"
 *   domain-name:= label ( "." label )*; label := [a-zA-Z0-9] ( [a-zA-Z0-9-]* [a-zA-Z0-9] )?
 *   path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
 *   tag        := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
 *   digest     := "sha256:" [a-f0-9]{64}      (other algorithms refused)
 * The first component is the registry when it contains '.' or ':' or is
 * "localhost"; otherwise the name is on docker.io, and a single-component
 * docker.io name gets "library/". The whole name (registry "/" repository) is
 * at most 255 characters.
 *
 * Deliberate differences from distribution:
 *  - the registry host is lowercased (DNS names are case-insensitive), so
 *    "Quay.IO/x" and "quay.io/x" are one image. containerd itself keeps the
 *    case as written: a manifest naming an upper-case host is looked up by
 *    kubelet under that spelling.
 *  - distribution treats an upper-case first component without '.' or ':'
 *    ("Foo/bar") as a registry host; here it is a repository path component and
 *    therefore an error (repository names must be lowercase).
 *  - only "index.docker.io" is an alias of "docker.io" (as in docker);
 *    "registry-1.docker.io" is kept as written. */

#define IMAGEREF_NAME_MAX 255 /* registry "/" repository */
#define IMAGEREF_TAG_MAX 128
#define IMAGEREF_DIGEST_MAX 71 /* "sha256:" + 64 hex */
/* Longest imageref_format() result, without the NUL. */
#define IMAGEREF_STRING_MAX (IMAGEREF_NAME_MAX + 1 + IMAGEREF_TAG_MAX + 1 + IMAGEREF_DIGEST_MAX)

struct imageref {
        char registry[IMAGEREF_NAME_MAX + 1];   /* "docker.io", "localhost:5000", "[fc00::1]:5000" */
        char repository[IMAGEREF_NAME_MAX + 1]; /* "library/nginx" */
        char tag[IMAGEREF_TAG_MAX + 1];         /* "" when the reference has only a digest */
        char digest[IMAGEREF_DIGEST_MAX + 1];   /* "sha256:<64 hex>" or "" */
};

/* Parse and normalise `s`. Returns 0, or -EINVAL with *ret_error (may be NULL)
 * pointing to a static reason ("repository name must be lowercase"). `ret` is
 * left untouched on failure. A reference without tag and digest gets the tag
 * "latest". */
int imageref_parse(const char *s, struct imageref *ret, const char **ret_error);

/* Is `s` a valid reference (by imageref_parse's rules)? */
bool imageref_valid(const char *s);
/* Is `s` a valid tag on its own ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})? */
bool imageref_tag_valid(const char *s);

/* The canonical string: registry/repository[:tag][@digest]. Allocated; NULL
 * when out of memory. Parsing the result gives an equal reference. */
char *imageref_format(const struct imageref *ref);

/* The name containerd's CRI looks the image up by (reference.ParseDockerRef):
 * like imageref_format() but a reference with both a tag and a digest keeps
 * only the digest. Allocated; NULL when out of memory. */
char *imageref_format_runtime(const struct imageref *ref);

/* registry/repository only. Allocated; NULL when out of memory. */
char *imageref_format_name(const struct imageref *ref);

/* Same registry, repository, tag and digest. */
bool imageref_equal(const struct imageref *a, const struct imageref *b);
