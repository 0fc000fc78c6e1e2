/* SPDX-License-Identifier: MIT */
#include "imageref.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "macro.h"

#define DEFAULT_DOMAIN "docker.io"
#define LEGACY_DEFAULT_DOMAIN "index.docker.io"
#define OFFICIAL_REPO_PREFIX "library/"
/* Longer input cannot be a valid reference; refused before any work. */
#define INPUT_MAX 1024

static bool is_lower_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
static bool is_alnum(char c) {
        return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}
static bool is_word(char c) {
        return is_alnum(c) || c == '_';
}
static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}
static bool is_hex(char c) {
        return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
static char to_lower(char c) {
        return c >= 'A' && c <= 'Z' ? (char) (c - 'A' + 'a') : c;
}

/* path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )* */
static bool valid_path_component(const char *s, size_t n) {
        size_t i = 0;
        for (;;) {
                size_t start = i;
                while (i < n && is_lower_alnum(s[i]))
                        i++;
                if (i == start)
                        return false; /* empty, or a separator not followed by alnum */
                if (i == n)
                        return true;
                if (s[i] == '.')
                        i++;
                else if (s[i] == '_') {
                        i++;
                        if (i < n && s[i] == '_')
                                i++;
                } else if (s[i] == '-') {
                        while (i < n && s[i] == '-')
                                i++;
                } else
                        return false;
        }
}

static bool valid_path(const char *s, size_t n) {
        size_t start = 0;
        for (size_t i = 0; i <= n; i++)
                if (i == n || s[i] == '/') {
                        if (!valid_path_component(s + start, i - start))
                                return false;
                        start = i + 1;
                }
        return true;
}

/* label := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9] */
static bool valid_domain_name(const char *s, size_t n) {
        size_t start = 0;
        for (size_t i = 0; i <= n; i++)
                if (i == n || s[i] == '.') {
                        size_t len = i - start;
                        if (len == 0 || !is_alnum(s[start]) || !is_alnum(s[i - 1]))
                                return false;
                        for (size_t j = start; j < i; j++)
                                if (!is_alnum(s[j]) && s[j] != '-')
                                        return false;
                        start = i + 1;
                }
        return true;
}

/* domain := ( domain-name | "[" [a-fA-F0-9:]+ "]" ) [ ":" [0-9]+ ] */
static bool valid_domain(const char *s, size_t n) {
        size_t host_end;
        if (n > 0 && s[0] == '[') {
                const char *close = memchr(s, ']', n);
                if (!close || close == s + 1)
                        return false;
                for (const char *p = s + 1; p < close; p++)
                        if (!is_hex(*p) && *p != ':')
                                return false;
                host_end = (size_t) (close - s) + 1;
        } else {
                const char *colon = memchr(s, ':', n);
                host_end = colon ? (size_t) (colon - s) : n;
                if (!valid_domain_name(s, host_end))
                        return false;
        }
        if (host_end == n)
                return true;
        if (s[host_end] != ':' || host_end + 1 == n)
                return false;
        for (size_t i = host_end + 1; i < n; i++)
                if (!is_digit(s[i]))
                        return false;
        return true;
}

/* tag := [\w][\w.-]{0,127} */
static bool valid_tag(const char *s, size_t n) {
        if (n == 0 || n > IMAGEREF_TAG_MAX || !is_word(s[0]))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!is_word(s[i]) && s[i] != '.' && s[i] != '-')
                        return false;
        return true;
}

bool imageref_tag_valid(const char *s) {
        return s && valid_tag(s, strlen(s));
}

/* digest := algorithm ":" hex, algorithm := component ( [+._-] component )*,
 * component := [A-Za-z][A-Za-z0-9]*, hex := [0-9a-fA-F]{32,} (distribution's
 * grammar); then go-digest's rules for the one algorithm accepted. */
static int check_digest(const char *s, size_t n, const char **ret_error) {
        const char *colon = memchr(s, ':', n);
        if (!colon) {
                *ret_error = "invalid reference format";
                return -EINVAL;
        }
        size_t alen = (size_t) (colon - s), hlen = n - alen - 1;
        const char *hex = colon + 1;

        bool at_start = true;
        for (size_t i = 0; i < alen; i++) {
                char c = s[i];
                if (at_start) {
                        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
                                goto bad;
                        at_start = false;
                } else if (c == '+' || c == '.' || c == '_' || c == '-')
                        at_start = true;
                else if (!is_alnum(c))
                        goto bad;
        }
        if (alen == 0 || at_start || hlen < 32)
                goto bad;
        for (size_t i = 0; i < hlen; i++)
                if (!is_hex(hex[i]))
                        goto bad;

        if (alen != strlen("sha256") || memcmp(s, "sha256", alen) != 0) {
                *ret_error = "unsupported digest algorithm (only sha256 is accepted)";
                return -EINVAL;
        }
        if (hlen != 64) {
                *ret_error = "invalid checksum digest length (sha256 has 64 hex digits)";
                return -EINVAL;
        }
        for (size_t i = 0; i < hlen; i++)
                if (hex[i] >= 'A' && hex[i] <= 'F') {
                        *ret_error = "invalid checksum digest format (hex digits must be lowercase)";
                        return -EINVAL;
                }
        return 0;
bad:
        *ret_error = "invalid reference format";
        return -EINVAL;
}

static bool is_identifier(const char *s, size_t n) {
        if (n != 64)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!(is_digit(s[i]) || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

static int parse(const char *s, struct imageref *ret, const char **ret_error) {
        if (!s || !*s) {
                *ret_error = "repository name must have at least one component";
                return -EINVAL;
        }
        size_t len = strnlen(s, INPUT_MAX + 1);
        if (len > INPUT_MAX) {
                *ret_error = "reference too long";
                return -EINVAL;
        }
        if (is_identifier(s, len)) {
                *ret_error = "invalid repository name (cannot specify 64-byte hexadecimal strings)";
                return -EINVAL;
        }
        for (size_t i = 0; i < len; i++)
                if ((unsigned char) s[i] <= ' ' || (unsigned char) s[i] >= 0x7f) {
                        *ret_error = "invalid reference format";
                        return -EINVAL;
                }

        /* [name[:tag]]@digest */
        size_t name_tag_len = len;
        const char *digest = NULL;
        size_t digest_len = 0;
        const char *at = memchr(s, '@', len);
        if (at) {
                name_tag_len = (size_t) (at - s);
                digest = at + 1;
                digest_len = len - name_tag_len - 1;
        }

        /* The tag follows the first ':' after the last '/' (a ':' before it
         * belongs to the registry's port). */
        size_t name_len = name_tag_len;
        const char *tag = NULL;
        size_t tag_len = 0;
        size_t last_slash = 0;
        for (size_t i = 0; i < name_tag_len; i++)
                if (s[i] == '/')
                        last_slash = i + 1;
        const char *colon = memchr(s + last_slash, ':', name_tag_len - last_slash);
        if (colon) {
                name_len = (size_t) (colon - s);
                tag = colon + 1;
                tag_len = name_tag_len - name_len - 1;
        }

        /* Registry or not: distribution's splitDockerDomain. */
        const char *domain = DEFAULT_DOMAIN, *path = s;
        size_t domain_len = strlen(DEFAULT_DOMAIN), path_len = name_len;
        bool explicit_domain = false;
        const char *slash = memchr(s, '/', name_len);
        if (slash) {
                size_t first_len = (size_t) (slash - s);
                if (memchr(s, '.', first_len) || memchr(s, ':', first_len) ||
                    (first_len == strlen("localhost") && strncasecmp(s, "localhost", first_len) == 0)) {
                        domain = s;
                        domain_len = first_len;
                        explicit_domain = true;
                        path = slash + 1;
                        path_len = name_len - first_len - 1;
                }
        }

        for (size_t i = 0; i < path_len; i++)
                if (path[i] >= 'A' && path[i] <= 'Z') {
                        *ret_error = "repository name must be lowercase";
                        return -EINVAL;
                }
        if (explicit_domain && !valid_domain(domain, domain_len)) {
                *ret_error = "invalid reference format (registry host)";
                return -EINVAL;
        }
        if (path_len == 0 || !valid_path(path, path_len)) {
                *ret_error = "invalid reference format (repository name)";
                return -EINVAL;
        }
        if (tag && !valid_tag(tag, tag_len)) {
                *ret_error = "invalid reference format (tag)";
                return -EINVAL;
        }
        if (digest) {
                int r = check_digest(digest, digest_len, ret_error);
                if (r < 0)
                        return r;
        }

        struct imageref ref = {};
        /* Lowercased registry; index.docker.io is docker.io. */
        if (domain_len > IMAGEREF_NAME_MAX)
                goto too_long;
        for (size_t i = 0; i < domain_len; i++)
                ref.registry[i] = to_lower(domain[i]);
        if (streq(ref.registry, LEGACY_DEFAULT_DOMAIN))
                (void) snprintf(ref.registry, sizeof(ref.registry), "%s", DEFAULT_DOMAIN);

        const char *prefix = "";
        if (streq(ref.registry, DEFAULT_DOMAIN) && !memchr(path, '/', path_len))
                prefix = OFFICIAL_REPO_PREFIX;
        if (strlen(ref.registry) + 1 + strlen(prefix) + path_len > IMAGEREF_NAME_MAX)
                goto too_long;
        (void) snprintf(ref.repository, sizeof(ref.repository), "%s%.*s", prefix, (int) path_len, path);

        if (tag)
                memcpy(ref.tag, tag, tag_len);
        else if (!digest)
                (void) snprintf(ref.tag, sizeof(ref.tag), "latest");
        if (digest)
                memcpy(ref.digest, digest, digest_len);

        *ret = ref;
        return 0;

too_long:
        *ret_error = "repository name must not be more than 255 characters";
        return -EINVAL;
}

int imageref_parse(const char *s, struct imageref *ret, const char **ret_error) {
        const char *error = NULL;
        struct imageref ref;
        int r = parse(s, &ref, &error);
        if (r < 0) {
                if (ret_error)
                        *ret_error = error;
                return r;
        }
        if (ret)
                *ret = ref;
        return 0;
}

bool imageref_valid(const char *s) {
        return imageref_parse(s, NULL, NULL) == 0;
}

static char *format(const struct imageref *ref, bool tag, bool digest) {
        char *s = NULL;
        bool with_tag = tag && ref->tag[0], with_digest = digest && ref->digest[0];
        if (asprintf(&s, "%s/%s%s%s%s%s", ref->registry, ref->repository, with_tag ? ":" : "",
                     with_tag ? ref->tag : "", with_digest ? "@" : "", with_digest ? ref->digest : "") < 0)
                return NULL;
        return s;
}

char *imageref_format(const struct imageref *ref) {
        return format(ref, true, true);
}

char *imageref_format_runtime(const struct imageref *ref) {
        return format(ref, !ref->digest[0], true);
}

char *imageref_format_name(const struct imageref *ref) {
        return format(ref, false, false);
}

bool imageref_equal(const struct imageref *a, const struct imageref *b) {
        return streq(a->registry, b->registry) && streq(a->repository, b->repository) &&
               streq(a->tag, b->tag) && streq(a->digest, b->digest);
}
