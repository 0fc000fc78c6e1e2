/* SPDX-License-Identifier: MIT */
#include "puller.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "digest.h"
#include "download.h"
#include "fsutil.h"
#include "http.h"
#include "log.h"
#include "macro.h"
#include "yamltree.h"

#define CHALLENGE_MAX_INPUT 8192u
#define CHALLENGE_MAX_PARAMS 32u
#define CHALLENGE_MAX 16u
#define TOKEN_RESPONSE_MAX (256u * 1024u)
#define TOKEN_MAX 16384u
#define ERROR_BODY_MAX (64u * 1024u)
#define CREDENTIALS_MAX (64u * 1024u)
#define AUTH_HEADERS_MAX 8u
#define PARALLEL_MAX 16u
#define REQUEST_TIMEOUT_MS 60000L
#define CONNECT_TIMEOUT_MS 15000L

static const struct yaml_limits manifest_limits = {
        .max_input = REGISTRY_MANIFEST_MAX,
        .max_depth = 32,
        .max_nodes = 200000,
        .max_documents = 1,
};

/* ---- small helpers ---------------------------------------------------------- */

static char *strdupf(const char *fmt, ...) _printf_(1, 2);
static char *strdupf(const char *fmt, ...) {
        va_list ap;
        char *s = NULL;
        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        return s;
}

/* Sets *ret_error (when not NULL, replacing what was there) and returns r. */
static int fail(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);
static int fail(char **ret_error, int r, const char *fmt, ...) {
        if (ret_error) {
                va_list ap;
                char *s = NULL;
                va_start(ap, fmt);
                if (vasprintf(&s, fmt, ap) < 0)
                        s = NULL;
                va_end(ap);
                free(*ret_error);
                *ret_error = s;
        }
        return r;
}

static bool is_lower_hex(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return s[n] == '\0';
}

static bool is_sha256_digest(const char *s) {
        return s && strncmp(s, "sha256:", 7) == 0 && strlen(s) == 7 + SHA256_HEX_LEN &&
               is_lower_hex(s + 7, SHA256_HEX_LEN);
}

/* RFC 6838 restricted-name: 1-127 characters, first alphanumeric. */
static size_t restricted_name_len(const char *s) {
        size_t i = 0;
        if (!isalnum((unsigned char) s[0]))
                return 0;
        for (i = 1; s[i] && i < 127; i++)
                if (!isalnum((unsigned char) s[i]) && !strchr("!#$&-^_.+", s[i]))
                        break;
        return i;
}

static bool is_media_type(const char *s) {
        if (!s || strlen(s) > REGISTRY_MEDIA_TYPE_MAX)
                return false;
        size_t a = restricted_name_len(s);
        if (a == 0 || s[a] != '/')
                return false;
        size_t b = restricted_name_len(s + a + 1);
        return b > 0 && s[a + 1 + b] == '\0';
}

static int parse_json(const char *body, size_t size, const struct yaml_limits *limits, struct ynode **ret,
                      char **ret_error) {
        _cleanup_free_ char *err = NULL;
        int r = yaml_parse_one(body, size, limits, ret, &err);
        if (r < 0)
                return fail(ret_error,
                            r == -ENOMEM                 ? r
                            : r == -EFBIG || r == -E2BIG ? -E2BIG
                                                         : -EBADMSG,
                            "not valid JSON: %s", err ? err : strerror(-r));
        if ((*ret)->kind != YNODE_MAPPING) {
                ynode_free(TAKE_PTR(*ret));
                return fail(ret_error, -EBADMSG, "not a JSON object");
        }
        return 0;
}

/* The media type without parameters, lowercased, into out (size max+1);
 * false when it does not fit. */
static bool media_type_base(const char *ct, char *out, size_t max) {
        while (*ct == ' ' || *ct == '\t')
                ct++;
        size_t n = strcspn(ct, ";");
        while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
                n--;
        if (n > max)
                return false;
        for (size_t i = 0; i < n; i++)
                out[i] = (char) tolower((unsigned char) ct[i]);
        out[n] = '\0';
        return true;
}

/* ---- endpoints ---------------------------------------------------------- */

void registry_endpoint_done(struct registry_endpoint *e) {
        if (!e)
                return;
        free(e->url);
        free(e->ca_file);
        free(e->host);
        *e = (struct registry_endpoint){};
}

/* "scheme://authority[/path]" -> authority (lowercased) and the URL without a
 * trailing '/'. */
static int split_endpoint(const char *url, bool allow_http, char **ret_url, char **ret_host) {
        size_t skip;
        if (strncasecmp(url, "https://", 8) == 0)
                skip = 8;
        else if (strncasecmp(url, "http://", 7) == 0 && allow_http)
                skip = 7;
        else
                return -EINVAL;
        const char *auth = url + skip;
        size_t n = strcspn(auth, "/?#");
        if (n == 0 || memchr(auth, '@', n))
                return -EINVAL; /* no host, or user:password@ in the URL */
        for (const char *p = url; *p; p++)
                if ((unsigned char) *p <= ' ' || *p == 0x7f || *p == '?' || *p == '#')
                        return -EINVAL;
        size_t len = strlen(url);
        while (len > skip + n && url[len - 1] == '/')
                len--;
        _cleanup_free_ char *u = strndup(url, len);
        _cleanup_free_ char *h = strndup(auth, n);
        if (!u || !h)
                return -ENOMEM;
        for (char *p = h; *p; p++)
                *p = (char) tolower((unsigned char) *p);
        /* The scheme in lowercase, for the protocol checks downstream. */
        for (size_t i = 0; i < skip; i++)
                u[i] = (char) tolower((unsigned char) u[i]);
        *ret_url = TAKE_PTR(u);
        *ret_host = TAKE_PTR(h);
        return 0;
}

int registry_endpoint_resolve(const char *registry, const struct profile_registry_mirror *mirrors,
                              size_t n_mirrors, struct registry_endpoint *ret) {
        if (!registry || !registry[0] || !ret)
                return -EINVAL;
        struct registry_endpoint e = {};
        for (size_t i = 0; i < n_mirrors; i++) {
                const struct profile_registry_mirror *m = &mirrors[i];
                if (!m->registry || strcasecmp(m->registry, registry) != 0)
                        continue;
                if (!m->endpoint)
                        return -EINVAL;
                int r = split_endpoint(m->endpoint, m->insecure, &e.url, &e.host);
                if (r < 0)
                        return r;
                if (m->ca_file && !(e.ca_file = strdup(m->ca_file))) {
                        registry_endpoint_done(&e);
                        return -ENOMEM;
                }
                e.allow_http = m->insecure;
                e.mirror = true;
                *ret = e;
                return 0;
        }
        const char *host = strcasecmp(registry, "docker.io") == 0 ? "registry-1.docker.io" : registry;
        e.url = strdupf("https://%s", host);
        e.host = strdup(registry);
        if (!e.url || !e.host) {
                registry_endpoint_done(&e);
                return -ENOMEM;
        }
        for (char *p = e.url; *p; p++)
                *p = (char) tolower((unsigned char) *p);
        for (char *p = e.host; *p; p++)
                *p = (char) tolower((unsigned char) *p);
        *ret = e;
        return 0;
}

/* ---- WWW-Authenticate --------------------------------------------------------- */

static bool is_tchar(char c) {
        return isalnum((unsigned char) c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}
static bool is_token68_char(char c) {
        return isalnum((unsigned char) c) || (c && strchr("-._~+/", c));
}
static const char *skip_ows(const char *p) {
        while (*p == ' ' || *p == '\t')
                p++;
        return p;
}

void registry_challenges_free(struct registry_challenge *c, size_t n) {
        if (!c)
                return;
        for (size_t i = 0; i < n; i++) {
                free(c[i].scheme);
                free(c[i].token68);
                for (size_t j = 0; j < c[i].n_params; j++) {
                        free(c[i].params[j].name);
                        free(c[i].params[j].value);
                }
                free(c[i].params);
        }
        free(c);
}

const char *registry_challenge_param(const struct registry_challenge *c, const char *name) {
        for (size_t i = 0; c && i < c->n_params; i++)
                if (strcasecmp(c->params[i].name, name) == 0)
                        return c->params[i].value;
        return NULL;
}

static char *lower_ndup(const char *s, size_t n) {
        char *d = strndup(s, n);
        for (char *p = d; p && *p; p++)
                *p = (char) tolower((unsigned char) *p);
        return d;
}

/* quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE; *p is at the
 * opening quote. */
static int parse_quoted(const char **p, char **ret) {
        const char *s = *p + 1;
        size_t cap = strlen(s) + 1, n = 0;
        _cleanup_free_ char *out = malloc(cap);
        if (!out)
                return -ENOMEM;
        for (;; s++) {
                unsigned char ch = (unsigned char) *s;
                if (ch == '\0')
                        return -EBADMSG; /* unterminated */
                if (ch == '"')
                        break;
                if (ch == '\\') {
                        s++;
                        ch = (unsigned char) *s;
                        if (ch == '\0')
                                return -EBADMSG;
                }
                if ((ch < ' ' && ch != '\t') || ch == 0x7f)
                        return -EBADMSG;
                out[n++] = (char) ch;
        }
        out[n] = '\0';
        *p = s + 1;
        *ret = TAKE_PTR(out);
        return 0;
}

/* Does an auth-param ("name" BWS "=") start at p? */
static bool param_starts(const char *p) {
        const char *q = p;
        while (is_tchar(*q))
                q++;
        if (q == p)
                return false;
        q = skip_ows(q);
        return *q == '=';
}

static int add_param(struct registry_challenge *c, const char *name, size_t name_len, char *value) {
        if (c->n_params >= CHALLENGE_MAX_PARAMS) {
                free(value);
                return -E2BIG;
        }
        _cleanup_free_ char *n = lower_ndup(name, name_len);
        if (!n) {
                free(value);
                return -ENOMEM;
        }
        if (registry_challenge_param(c, n)) {
                free(value);
                return -EBADMSG; /* RFC 7235: each parameter name only once */
        }
        struct registry_auth_param *np = reallocarray(c->params, c->n_params + 1, sizeof(*np));
        if (!np) {
                free(value);
                return -ENOMEM;
        }
        c->params = np;
        c->params[c->n_params++] = (struct registry_auth_param){.name = TAKE_PTR(n), .value = value};
        return 0;
}

/* One auth-param at p (param_starts() was true). */
static int parse_param(const char **p, struct registry_challenge *c) {
        const char *name = *p;
        const char *q = name;
        while (is_tchar(*q))
                q++;
        size_t name_len = (size_t) (q - name);
        q = skip_ows(q);
        q = skip_ows(q + 1); /* '=' */
        char *value = NULL;
        if (*q == '"') {
                int r = parse_quoted(&q, &value);
                if (r < 0)
                        return r;
        } else {
                const char *v = q;
                while (is_tchar(*q))
                        q++;
                if (q == v)
                        return -EBADMSG;
                value = strndup(v, (size_t) (q - v));
                if (!value)
                        return -ENOMEM;
        }
        *p = q;
        return add_param(c, name, name_len, value);
}

int registry_challenges_parse(const char *value, struct registry_challenge **ret, size_t *ret_n) {
        if (!value || !ret || !ret_n)
                return -EINVAL;
        if (strlen(value) > CHALLENGE_MAX_INPUT)
                return -E2BIG;
        struct registry_challenge *list = NULL;
        size_t n = 0;
        int r = 0;
        const char *p = value;

        for (;;) {
                /* Empty list elements are allowed: ", , Bearer ..." */
                while (*p == ' ' || *p == '\t' || *p == ',')
                        p++;
                if (!*p)
                        break;
                const char *scheme = p;
                while (is_tchar(*p))
                        p++;
                if (p == scheme || (*p && *p != ' ' && *p != '\t' && *p != ',')) {
                        r = -EBADMSG;
                        goto fail;
                }
                if (n >= CHALLENGE_MAX) {
                        r = -E2BIG;
                        goto fail;
                }
                struct registry_challenge *nl = reallocarray(list, n + 1, sizeof(*nl));
                if (!nl) {
                        r = -ENOMEM;
                        goto fail;
                }
                list = nl;
                struct registry_challenge *c = &list[n++];
                *c = (struct registry_challenge){.scheme = lower_ndup(scheme, (size_t) (p - scheme))};
                if (!c->scheme) {
                        r = -ENOMEM;
                        goto fail;
                }
                p = skip_ows(p);
                if (!*p || *p == ',')
                        continue; /* a scheme alone */

                /* token68 ("Basic dXNlcjpwYXNz", "Negotiate abc==") or the
                 * first auth-param. */
                const char *t = p;
                while (is_token68_char(*t))
                        t++;
                const char *t_end = t;
                while (*t == '=')
                        t++;
                const char *after = skip_ows(t);
                if (t_end > p && (*after == '\0' || *after == ',')) {
                        /* "abc==" or "x=" alone: a token68 (a parameter
                         * needs a value) */
                        c->token68 = strndup(p, (size_t) (t - p));
                        if (!c->token68) {
                                r = -ENOMEM;
                                goto fail;
                        }
                        p = after;
                        continue;
                }
                /* auth-param *( OWS "," OWS auth-param ) */
                for (;;) {
                        if (!param_starts(p)) {
                                r = -EBADMSG;
                                goto fail;
                        }
                        r = parse_param(&p, c);
                        if (r < 0)
                                goto fail;
                        p = skip_ows(p);
                        if (!*p)
                                break;
                        if (*p != ',') {
                                r = -EBADMSG;
                                goto fail;
                        }
                        while (*p == ' ' || *p == '\t' || *p == ',')
                                p++;
                        if (!*p)
                                break;
                        /* The next element: another parameter of this
                         * challenge, or the next challenge's scheme. */
                        if (!param_starts(p))
                                break;
                }
        }
        *ret = list;
        *ret_n = n;
        return 0;
fail:
        registry_challenges_free(list, n);
        return r;
}

static int append_encoded(FILE *f, const char *s) {
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~')
                        fputc(*p, f);
                else
                        fprintf(f, "%%%02X", *p);
        }
        return 0;
}

int registry_token_url(const struct registry_challenge *bearer, const char *repository, bool allow_http,
                       char **ret_url, char **ret_error) {
        const char *realm = registry_challenge_param(bearer, "realm");
        if (!realm || !realm[0])
                return fail(ret_error, -EINVAL, "the Bearer challenge has no realm");
        _cleanup_free_ char *printable = ystr_printable(realm, 200);
        size_t skip = strncasecmp(realm, "https://", 8) == 0                ? 8
                      : strncasecmp(realm, "http://", 7) == 0 && allow_http ? 7
                                                                            : 0;
        if (skip == 0)
                return fail(ret_error, -EINVAL, "the token realm '%s' is not an https:// URL%s",
                            printable ? printable : "?", allow_http ? " or http:// URL" : "");
        if (strcspn(realm + skip, "/?#") == 0)
                return fail(ret_error, -EINVAL, "the token realm '%s' has no host",
                            printable ? printable : "?");
        for (const char *p = realm; *p; p++)
                if ((unsigned char) *p <= ' ' || *p == 0x7f || *p == '#')
                        return fail(ret_error, -EINVAL, "the token realm '%s' is not a valid URL",
                                    printable ? printable : "?");

        char *buf = NULL;
        size_t size = 0;
        _cleanup_fclose_ FILE *f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        fputs(realm, f);
        fputc(strchr(realm, '?') ? '&' : '?', f);
        const char *service = registry_challenge_param(bearer, "service");
        if (service && service[0]) {
                fputs("service=", f);
                append_encoded(f, service);
                fputc('&', f);
        }
        fputs("scope=", f);
        _cleanup_free_ char *scope = strdupf("repository:%s:pull", repository);
        if (!scope)
                return -ENOMEM;
        append_encoded(f, scope);
        int r = memstream_finish(&f, &buf, &size, ret_url, NULL);
        return r;
}

int registry_token_parse(const char *body, size_t size, char **ret_token, char **ret_error) {
        if (size > TOKEN_RESPONSE_MAX)
                return fail(ret_error, -EBADMSG, "the token response is larger than %u bytes",
                            TOKEN_RESPONSE_MAX);
        _cleanup_ynode_ struct ynode *root = NULL;
        struct yaml_limits limits = yaml_default_limits;
        limits.max_input = TOKEN_RESPONSE_MAX;
        int r = parse_json(body, size, &limits, &root, ret_error);
        if (r < 0)
                return r == -ENOMEM ? r : -EBADMSG;
        const char *key = "token";
        const struct ynode *t = ynode_get(root, key);
        if (!t || (t->kind == YNODE_SCALAR && !t->value[0])) {
                key = "access_token";
                t = ynode_get(root, key);
        }
        if (!t)
                return fail(ret_error, -EBADMSG,
                            "the token response has neither \"token\" nor \"access_token\"");
        if (t->kind != YNODE_SCALAR || t->plain || !t->value[0])
                return fail(ret_error, -EBADMSG, "the token response's \"%s\" is not a non-empty string",
                            key);
        size_t len = strlen(t->value);
        if (len > TOKEN_MAX)
                return fail(ret_error, -EBADMSG, "the token response's \"%s\" is longer than %u bytes", key,
                            TOKEN_MAX);
        for (const char *p = t->value; *p; p++)
                if ((unsigned char) *p <= ' ' || (unsigned char) *p >= 0x7f)
                        return fail(ret_error, -EBADMSG,
                                    "the token response's \"%s\" holds a character not allowed in a header",
                                    key);
        char *tok = strdup(t->value);
        explicit_bzero(t->value, len);
        if (!tok)
                return -ENOMEM;
        *ret_token = tok;
        return 0;
}

/* ---- manifests ------------------------------------------------------------ */

int registry_media_type_kind(const char *media_type) {
        char mt[REGISTRY_MEDIA_TYPE_MAX + 1];
        if (!media_type || !media_type_base(media_type, mt, REGISTRY_MEDIA_TYPE_MAX))
                return -EMEDIUMTYPE;
        if (streq(mt, REGISTRY_MT_OCI_INDEX) || streq(mt, REGISTRY_MT_DOCKER_LIST))
                return REGISTRY_KIND_INDEX;
        if (streq(mt, REGISTRY_MT_OCI_MANIFEST) || streq(mt, REGISTRY_MT_DOCKER_MANIFEST))
                return REGISTRY_KIND_MANIFEST;
        if (streq(mt, REGISTRY_MT_DOCKER_SCHEMA1) || streq(mt, REGISTRY_MT_DOCKER_SCHEMA1_SIGNED))
                return -EPROTONOSUPPORT;
        return -EMEDIUMTYPE;
}

#define SCHEMA1_MESSAGE                                                                                     \
        "Docker image manifest schema 1 is not supported (deprecated since 2017); the image must be "       \
        "pushed again with a current client"

static int classify_tree(const struct ynode *root, const char *content_type, char *ret_media_type,
                         enum registry_kind *ret_kind, char **ret_error) {
        const struct ynode *sv = ynode_get(root, "schemaVersion");
        uint64_t version = 0;
        if (!sv || !ynode_parse_uint(sv, INT64_MAX, &version))
                return fail(ret_error, -EBADMSG, "%zu:%zu: schemaVersion: expected 2",
                            sv ? sv->line : root->line, sv ? sv->column : root->column);
        if (version == 1)
                return fail(ret_error, -EPROTONOSUPPORT, SCHEMA1_MESSAGE);
        if (version != 2)
                return fail(ret_error, -EBADMSG, "%zu:%zu: schemaVersion: expected 2, not %" PRIu64,
                            sv->line, sv->column, version);

        const char *from_header = NULL;
        char ct[REGISTRY_MEDIA_TYPE_MAX + 1];
        if (content_type && media_type_base(content_type, ct, REGISTRY_MEDIA_TYPE_MAX)) {
                int k = registry_media_type_kind(ct);
                if (k == -EPROTONOSUPPORT)
                        return fail(ret_error, -EPROTONOSUPPORT, SCHEMA1_MESSAGE);
                if (k >= 0)
                        from_header = ct;
        }

        const struct ynode *mtn = ynode_get(root, "mediaType");
        const char *from_body = NULL;
        if (mtn) {
                if (mtn->kind != YNODE_SCALAR || mtn->plain)
                        return fail(ret_error, -EBADMSG, "%zu:%zu: mediaType: expected a string", mtn->line,
                                    mtn->column);
                _cleanup_free_ char *pr = ystr_printable(mtn->value, 100);
                int k = registry_media_type_kind(mtn->value);
                if (k == -EPROTONOSUPPORT)
                        return fail(ret_error, -EPROTONOSUPPORT, SCHEMA1_MESSAGE);
                if (k < 0)
                        return fail(ret_error, -EMEDIUMTYPE,
                                    "mediaType '%s' is not an image manifest or index", pr ? pr : "?");
                from_body = mtn->value;
        }

        const char *mt;
        if (from_header && from_body) {
                if (!streq(from_header, from_body)) {
                        _cleanup_free_ char *pr = ystr_printable(from_body, 100);
                        return fail(ret_error, -EBADMSG,
                                    "the Content-Type '%s' does not match the manifest's mediaType '%s'",
                                    from_header, pr ? pr : "?");
                }
                mt = from_body;
        } else if (from_header)
                mt = from_header;
        else if (from_body)
                mt = from_body;
        else if (ynode_get(root, "manifests"))
                mt = REGISTRY_MT_OCI_INDEX;
        else if (ynode_get(root, "config") && ynode_get(root, "layers"))
                mt = REGISTRY_MT_OCI_MANIFEST;
        else
                return fail(
                        ret_error, -EMEDIUMTYPE,
                        "neither an image manifest nor an index (no mediaType, no manifests, no layers)");

        int k = registry_media_type_kind(mt);
        if (k < 0)
                return fail(ret_error, k, "unknown manifest media type");
        /* A mediaType that contradicts the shape is a confused document. */
        if (k == REGISTRY_KIND_INDEX && ynode_get(root, "layers"))
                return fail(ret_error, -EBADMSG, "an index (%s) with \"layers\"", mt);
        if (k == REGISTRY_KIND_MANIFEST && ynode_get(root, "manifests"))
                return fail(ret_error, -EBADMSG, "an image manifest (%s) with \"manifests\"", mt);
        (void) media_type_base(mt, ret_media_type, REGISTRY_MEDIA_TYPE_MAX);
        *ret_kind = (enum registry_kind) k;
        return 0;
}

int registry_manifest_classify(const char *body, size_t size, const char *content_type, char *ret_media_type,
                               enum registry_kind *ret_kind, char **ret_error) {
        _cleanup_ynode_ struct ynode *root = NULL;
        int r = parse_json(body, size, &manifest_limits, &root, ret_error);
        if (r < 0)
                return r;
        return classify_tree(root, content_type, ret_media_type, ret_kind, ret_error);
}

static int parse_descriptor(const struct ynode *n, const char *path, struct registry_descriptor *ret,
                            char **ret_error) {
        if (!n || n->kind != YNODE_MAPPING)
                return fail(ret_error, -EBADMSG, "%zu:%zu: %s: expected a descriptor (an object)",
                            n ? n->line : 0, n ? n->column : 0, path);
        const struct ynode *mt = ynode_get(n, "mediaType");
        if (!mt || mt->kind != YNODE_SCALAR || mt->plain || !is_media_type(mt->value))
                return fail(ret_error, -EBADMSG,
                            "%zu:%zu: %s.mediaType: expected a media type (type/subtype)",
                            mt ? mt->line : n->line, mt ? mt->column : n->column, path);
        const struct ynode *d = ynode_get(n, "digest");
        if (!d || d->kind != YNODE_SCALAR || d->plain)
                return fail(ret_error, -EBADMSG, "%zu:%zu: %s.digest: expected a digest string",
                            d ? d->line : n->line, d ? d->column : n->column, path);
        if (!is_sha256_digest(d->value)) {
                /* algorithm ":" encoded, with a registered-looking algorithm:
                 * well formed but not one kubeseed stores by. */
                const char *colon = strchr(d->value, ':');
                bool other_alg =
                        colon && colon > d->value && colon[1] && strncmp(d->value, "sha256:", 7) != 0;
                for (const char *p = d->value; other_alg && p < colon; p++)
                        if (!(islower((unsigned char) *p) || isdigit((unsigned char) *p) ||
                              strchr("+._-", *p)))
                                other_alg = false;
                if (other_alg)
                        return fail(ret_error, -ENOTSUP,
                                    "%zu:%zu: %s.digest: only sha256 digests are supported", d->line,
                                    d->column, path);
                return fail(ret_error, -EBADMSG,
                            "%zu:%zu: %s.digest: expected sha256:<64 lowercase hex digits>", d->line,
                            d->column, path);
        }
        const struct ynode *s = ynode_get(n, "size");
        uint64_t size = 0;
        if (!s || !ynode_parse_uint(s, INT64_MAX, &size))
                return fail(ret_error, -EBADMSG, "%zu:%zu: %s.size: expected a non-negative integer",
                            s ? s->line : n->line, s ? s->column : n->column, path);
        snprintf(ret->media_type, sizeof ret->media_type, "%s", mt->value);
        snprintf(ret->digest, sizeof ret->digest, "%s", d->value);
        ret->size = size;
        return 0;
}

void registry_manifest_done(struct registry_manifest *m) {
        if (!m)
                return;
        free(m->layers);
        *m = (struct registry_manifest){};
}

static int manifest_from_tree(const struct ynode *root, const char *content_type,
                              struct registry_manifest *ret, char **ret_error) {
        struct registry_manifest m = {};
        enum registry_kind kind;
        int r = classify_tree(root, content_type, m.media_type, &kind, ret_error);
        if (r < 0)
                return r;
        if (kind != REGISTRY_KIND_MANIFEST)
                return fail(ret_error, -EMEDIUMTYPE, "an index (%s), not an image manifest", m.media_type);
        r = parse_descriptor(ynode_get(root, "config"), "config", &m.config, ret_error);
        if (r < 0)
                return r;
        const struct ynode *layers = ynode_get(root, "layers");
        if (!layers || layers->kind != YNODE_SEQUENCE)
                return fail(ret_error, -EBADMSG, "%zu:%zu: layers: expected a list of descriptors",
                            layers ? layers->line : root->line, layers ? layers->column : root->column);
        if (layers->n_items > REGISTRY_LAYERS_MAX)
                return fail(ret_error, -E2BIG, "%zu:%zu: layers: more than %u layers", layers->line,
                            layers->column, REGISTRY_LAYERS_MAX);
        if (layers->n_items > 0) {
                m.layers = calloc(layers->n_items, sizeof(*m.layers));
                if (!m.layers)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < layers->n_items; i++) {
                char path[32];
                snprintf(path, sizeof path, "layers[%zu]", i);
                r = parse_descriptor(layers->items[i], path, &m.layers[i], ret_error);
                if (r < 0) {
                        registry_manifest_done(&m);
                        return r;
                }
                m.n_layers++;
        }
        *ret = m;
        return 0;
}

int registry_manifest_parse(const char *body, size_t size, const char *content_type,
                            struct registry_manifest *ret, char **ret_error) {
        _cleanup_ynode_ struct ynode *root = NULL;
        int r = parse_json(body, size, &manifest_limits, &root, ret_error);
        if (r < 0)
                return r;
        return manifest_from_tree(root, content_type, ret, ret_error);
}

char *registry_error_summary(const char *body, size_t size) {
        if (!body || size == 0 || size > ERROR_BODY_MAX)
                return NULL;
        struct yaml_limits limits = yaml_default_limits;
        limits.max_input = ERROR_BODY_MAX;
        _cleanup_ynode_ struct ynode *root = NULL;
        if (parse_json(body, size, &limits, &root, NULL) < 0)
                return NULL;
        const struct ynode *errors = ynode_get(root, "errors");
        if (!errors || errors->kind != YNODE_SEQUENCE || errors->n_items == 0)
                return NULL;
        const struct ynode *e = errors->items[0];
        const char *code = ynode_get_str(e, "code");
        const char *message = ynode_get_str(e, "message");
        if (!code && !message)
                return NULL;
        _cleanup_free_ char *pc = code ? ystr_printable(code, 64) : NULL;
        _cleanup_free_ char *pm = message ? ystr_printable(message, 200) : NULL;
        if ((code && !pc) || (message && !pm))
                return NULL;
        _cleanup_free_ char *more =
                errors->n_items > 1 ? strdupf(" (and %zu more)", errors->n_items - 1) : strdup("");
        if (!more)
                return NULL;
        if (pc && pm)
                return strdupf("%s: %s%s", pc, pm, more);
        return strdupf("%s%s", pc ? pc : pm, more);
}

/* ---- credentials ------------------------------------------------------------ */

struct registry_credential {
        char *host, *username, *password;
};

struct registry_credentials {
        struct registry_credential *items;
        size_t n;
};

void registry_credentials_free(struct registry_credentials *c) {
        if (!c)
                return;
        for (size_t i = 0; i < c->n; i++) {
                free(c->items[i].host);
                erase_free(c->items[i].username);
                erase_free(c->items[i].password);
        }
        free(c->items);
        free(c);
}
static void registry_credentials_freep(struct registry_credentials **c) {
        registry_credentials_free(*c);
}

static int cred_string(const struct ynode *entry, const char *filename, const char *host, const char *key,
                       char **ret, char **ret_error) {
        const struct ynode *v = ynode_get(entry, key);
        _cleanup_free_ char *ph = ystr_printable(host, 100);
        if (!v || v->kind != YNODE_SCALAR || !v->value[0])
                return fail(ret_error, -EBADMSG, "%s:%zu:%zu: registries.%s.%s: expected a non-empty string",
                            filename, v ? v->line : entry->line, v ? v->column : entry->column,
                            ph ? ph : "?", key);
        for (const char *p = v->value; *p; p++)
                if ((unsigned char) *p < ' ' || *p == 0x7f)
                        return fail(ret_error, -EBADMSG,
                                    "%s:%zu:%zu: registries.%s.%s: control characters are not allowed",
                                    filename, v->line, v->column, ph ? ph : "?", key);
        if (streq(key, "username") && strchr(v->value, ':'))
                return fail(ret_error, -EBADMSG, "%s:%zu:%zu: registries.%s.username: ':' is not allowed",
                            filename, v->line, v->column, ph ? ph : "?");
        *ret = strdup(v->value);
        return *ret ? 0 : -ENOMEM;
}

int registry_credentials_parse(const char *data, size_t size, const char *filename,
                               struct registry_credentials **ret, char **ret_error) {
        if (!filename)
                filename = "credentials";
        if (size > CREDENTIALS_MAX)
                return fail(ret_error, -EFBIG, "%s: larger than %u bytes", filename, CREDENTIALS_MAX);
        _cleanup_ynode_erase_ struct ynode *root = NULL;
        _cleanup_free_ char *err = NULL;
        int r = yaml_parse_one(data, size, NULL, &root, &err);
        if (r < 0)
                return fail(ret_error, r, "%s:%s", filename, err ? err : strerror(-r));
        if (root->kind != YNODE_MAPPING)
                return fail(ret_error, -EBADMSG, "%s:%zu:%zu: expected a mapping with \"registries\"",
                            filename, root->line, root->column);
        for (size_t i = 0; i < root->n_items; i++)
                if (!streq(root->keys[i], "registries"))
                        return fail(ret_error, -EBADMSG, "%s:%zu:%zu: unknown key (expected \"registries\")",
                                    filename, root->key_lines[i], root->key_columns[i]);
        _cleanup_(registry_credentials_freep) struct registry_credentials *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        const struct ynode *regs = ynode_get(root, "registries");
        if (!regs || ynode_is_null(regs)) {
                *ret = TAKE_PTR(c);
                return 0;
        }
        if (regs->kind != YNODE_MAPPING)
                return fail(ret_error, -EBADMSG,
                            "%s:%zu:%zu: registries: expected a mapping of registry host to "
                            "{username, password}",
                            filename, regs->line, regs->column);
        if (regs->n_items > 0) {
                c->items = calloc(regs->n_items, sizeof(*c->items));
                if (!c->items)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < regs->n_items; i++) {
                const char *host = regs->keys[i];
                const struct ynode *e = regs->items[i];
                _cleanup_free_ char *ph = ystr_printable(host, 100);
                if (!host[0] || strcspn(host, " \t/@") != strlen(host))
                        return fail(ret_error, -EBADMSG, "%s:%zu:%zu: registries: '%s' is not a host[:port]",
                                    filename, regs->key_lines[i], regs->key_columns[i], ph ? ph : "?");
                if (e->kind != YNODE_MAPPING)
                        return fail(
                                ret_error, -EBADMSG,
                                "%s:%zu:%zu: registries.%s: expected a mapping with username and password",
                                filename, e->line, e->column, ph ? ph : "?");
                for (size_t k = 0; k < e->n_items; k++)
                        if (!streq(e->keys[k], "username") && !streq(e->keys[k], "password"))
                                return fail(ret_error, -EBADMSG,
                                            "%s:%zu:%zu: registries.%s: unknown key (expected username and "
                                            "password)",
                                            filename, e->key_lines[k], e->key_columns[k], ph ? ph : "?");
                struct registry_credential *it = &c->items[c->n];
                it->host = lower_ndup(host, strlen(host));
                if (!it->host)
                        return -ENOMEM;
                c->n++;
                r = cred_string(e, filename, host, "username", &it->username, ret_error);
                if (r < 0)
                        return r;
                r = cred_string(e, filename, host, "password", &it->password, ret_error);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(c);
        return 0;
}

int registry_credentials_load(const char *path, struct registry_credentials **ret, char **ret_error) {
        struct stat st;
        if (lstat(path, &st) < 0) {
                int r = negative_errno();
                return fail(ret_error, r, "cannot read credentials file '%s': %s", path, strerror(-r));
        }
        if (S_ISREG(st.st_mode) && (st.st_mode & 077))
                return fail(ret_error, -EPERM,
                            "credentials file '%s' is accessible by group or others (mode %04o); "
                            "chmod 600 it",
                            path, (unsigned) (st.st_mode & 07777));
        char *data = NULL;
        size_t size = 0;
        int r = read_regular_file(path, CREDENTIALS_MAX, &data, &size);
        if (r < 0)
                return fail(ret_error, r, "cannot read credentials file '%s': %s", path,
                            r == -EBADF ? "not a regular file" : strerror(-r));
        r = registry_credentials_parse(data, size, path, ret, ret_error);
        explicit_bzero(data, size);
        free(data);
        return r;
}

bool registry_credentials_lookup(const struct registry_credentials *c, const char *host,
                                 const char **ret_username, const char **ret_password) {
        if (!c || !host)
                return false;
        for (size_t i = 0; i < c->n; i++)
                if (strcasecmp(c->items[i].host, host) == 0) {
                        *ret_username = c->items[i].username;
                        *ret_password = c->items[i].password;
                        return true;
                }
        return false;
}

/* ---- the content store ------------------------------------------------------ */

int registry_cas_put_buffer(const char *cas_dir, const char *sha256_hex, const void *data, size_t size) {
        if (!cas_dir || !sha256_hex || !is_lower_hex(sha256_hex, SHA256_HEX_LEN))
                return -EINVAL;
        char hex[SHA256_HEX_LEN + 1];
        int r = sha256_buffer(data, size, hex);
        if (r < 0)
                return r;
        if (!streq(hex, sha256_hex))
                return -EBADMSG;
        if (cas_has(cas_dir, sha256_hex))
                return 0;
        _cleanup_free_ char *dir = strdupf("%s/sha256", cas_dir);
        _cleanup_free_ char *path = cas_path(cas_dir, sha256_hex);
        if (!dir || !path)
                return -ENOMEM;
        r = mkdir_p(dir, 0755);
        if (r < 0)
                return r;
        r = write_file_atomic(path, data, size, 0644);
        return r < 0 ? r : 1;
}

/* ---- HTTP with response headers -------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;
static void curl_init(void) {
        curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}
static void curl_easy_cleanupp(CURL **c) {
        if (*c)
                curl_easy_cleanup(*c);
}
static void curl_slist_freep(struct curl_slist **l) {
        curl_slist_free_all(*l);
}

struct reg_response {
        long status;
        char *body;
        size_t size, cap, max;
        bool too_big;
        char *content_type;
        char *docker_digest;
        char *challenges[AUTH_HEADERS_MAX + 1]; /* WWW-Authenticate values */
        size_t n_challenges;
};

static void reg_response_reset_headers(struct reg_response *r) {
        free(r->content_type);
        free(r->docker_digest);
        r->content_type = r->docker_digest = NULL;
        for (size_t i = 0; i < r->n_challenges; i++)
                free(r->challenges[i]);
        r->n_challenges = 0;
        r->challenges[0] = NULL;
}

static void reg_response_done(struct reg_response *r) {
        reg_response_reset_headers(r);
        free(r->body);
        *r = (struct reg_response){};
}

static size_t reg_write_cb(char *data, size_t size, size_t nmemb, void *userdata) {
        struct reg_response *s = userdata;
        size_t n = size * nmemb;
        if (n > s->max - s->size) {
                s->too_big = true;
                return 0;
        }
        if (s->size + n + 1 > s->cap) {
                size_t nc = s->cap ? s->cap : 4096;
                while (nc < s->size + n + 1)
                        nc *= 2;
                char *nb = realloc(s->body, nc);
                if (!nb)
                        return 0;
                s->body = nb;
                s->cap = nc;
        }
        memcpy(s->body + s->size, data, n);
        s->size += n;
        s->body[s->size] = '\0';
        return n;
}

static size_t reg_header_cb(char *data, size_t size, size_t nmemb, void *userdata) {
        struct reg_response *s = userdata;
        size_t n = size * nmemb;
        if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
                /* A new response (after a redirect or a 100): forget the
                 * headers of the previous one. */
                reg_response_reset_headers(s);
                return n;
        }
        const char *colon = memchr(data, ':', n);
        if (!colon)
                return n;
        size_t name_len = (size_t) (colon - data);
        const char *v = colon + 1;
        size_t vlen = n - name_len - 1;
        while (vlen > 0 && (*v == ' ' || *v == '\t')) {
                v++;
                vlen--;
        }
        while (vlen > 0 &&
               (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
                vlen--;
        char **slot = NULL;
        if (name_len == 12 && strncasecmp(data, "Content-Type", 12) == 0)
                slot = &s->content_type;
        else if (name_len == 21 && strncasecmp(data, "Docker-Content-Digest", 21) == 0)
                slot = &s->docker_digest;
        else if (name_len == 16 && strncasecmp(data, "WWW-Authenticate", 16) == 0) {
                if (s->n_challenges >= AUTH_HEADERS_MAX)
                        return n;
                slot = &s->challenges[s->n_challenges];
        } else
                return n;
        char *val = strndup(v, vlen);
        if (!val)
                return 0;
        free(*slot);
        *slot = val;
        if (slot == &s->challenges[s->n_challenges])
                s->challenges[++s->n_challenges] = NULL;
        return n;
}

#define SETOPT(c, opt, val)                                                                                 \
        do {                                                                                                \
                if (curl_easy_setopt((c), (opt), (val)) != CURLE_OK)                                        \
                        return fail(ret_error, -EIO, "curl_easy_setopt(%s) failed", #opt);                  \
        } while (0)

/* One request; 0 when a response arrived (any status). Errors name the URL. */
static int reg_perform(const char *method, const char *url, const char *ca_file, bool allow_http,
                       const char *const *headers, size_t max, struct reg_response *ret, char **ret_error) {
        pthread_once(&curl_once, curl_init);
        if (curl_init_result != CURLE_OK)
                return fail(ret_error, -EIO, "curl_global_init failed");
        _cleanup_(curl_easy_cleanupp) CURL *c = curl_easy_init();
        if (!c)
                return -ENOMEM;
        _cleanup_(curl_slist_freep) struct curl_slist *list = NULL;
        char errbuf[CURL_ERROR_SIZE] = "";
        ret->max = max;

        SETOPT(c, CURLOPT_ERRORBUFFER, errbuf);
        SETOPT(c, CURLOPT_URL, url);
        SETOPT(c, CURLOPT_PROTOCOLS_STR, allow_http ? "http,https" : "https");
        SETOPT(c, CURLOPT_REDIR_PROTOCOLS_STR, allow_http ? "http,https" : "https");
        SETOPT(c, CURLOPT_NOSIGNAL, 1L);
        SETOPT(c, CURLOPT_NOPROGRESS, 1L);
        SETOPT(c, CURLOPT_TIMEOUT_MS, REQUEST_TIMEOUT_MS);
        SETOPT(c, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
        /* A custom Authorization header is not sent to another host after a
         * redirect (CURLOPT_UNRESTRICTED_AUTH stays off). */
        SETOPT(c, CURLOPT_FOLLOWLOCATION, 1L);
        SETOPT(c, CURLOPT_MAXREDIRS, 5L);
        SETOPT(c, CURLOPT_USERAGENT, "kubeseed");
        SETOPT(c, CURLOPT_WRITEFUNCTION, reg_write_cb);
        SETOPT(c, CURLOPT_WRITEDATA, ret);
        SETOPT(c, CURLOPT_HEADERFUNCTION, reg_header_cb);
        SETOPT(c, CURLOPT_HEADERDATA, ret);
        SETOPT(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) max);
        SETOPT(c, CURLOPT_SSL_VERIFYPEER, 1L);
        SETOPT(c, CURLOPT_SSL_VERIFYHOST, 2L);
        if (ca_file)
                SETOPT(c, CURLOPT_CAINFO, ca_file);
        if (streq(method, "HEAD"))
                SETOPT(c, CURLOPT_NOBODY, 1L);
        else
                SETOPT(c, CURLOPT_HTTPGET, 1L);
        for (const char *const *h = headers; h && *h; h++) {
                struct curl_slist *n = curl_slist_append(list, *h);
                if (!n)
                        return -ENOMEM;
                list = n;
        }
        SETOPT(c, CURLOPT_HTTPHEADER, list);

        CURLcode code = curl_easy_perform(c);
        if (code == CURLE_FILESIZE_EXCEEDED || ret->too_big)
                return fail(ret_error, -EFBIG, "%s: the response is larger than %zu bytes", url, max);
        if (code != CURLE_OK)
                return fail(ret_error, http_curl_errno(c, code), "%s: %s", url,
                            errbuf[0] ? errbuf : curl_easy_strerror(code));
        if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &ret->status) != CURLE_OK)
                ret->status = 0;
        if (!ret->body) {
                ret->body = strdup("");
                if (!ret->body)
                        return -ENOMEM;
        }
        return 0;
}

/* ---- the client ----------------------------------------------------------- */

struct token_entry {
        char *key;    /* "<endpoint url>\n<repository>" */
        char *header; /* "Authorization: Bearer ..." (a secret) */
        struct token_entry *next;
};

struct registry_client {
        struct registry_options o;
        char *cas_dir;
        pthread_mutex_t lock; /* the token cache */
        struct token_entry *tokens;
};

int registry_client_new(const struct registry_options *o, struct registry_client **ret) {
        if (!o || !o->cas_dir || !ret)
                return -EINVAL;
        struct registry_client *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->o = *o;
        c->cas_dir = strdup(o->cas_dir);
        if (!c->cas_dir) {
                free(c);
                return -ENOMEM;
        }
        c->o.cas_dir = c->cas_dir;
        if (c->o.parallel == 0)
                c->o.parallel = 4;
        if (c->o.parallel > PARALLEL_MAX)
                c->o.parallel = PARALLEL_MAX;
        if (c->o.attempts == 0)
                c->o.attempts = 4;
        if (c->o.retry_delay_ms == 0)
                c->o.retry_delay_ms = 500;
        pthread_mutex_init(&c->lock, NULL);
        *ret = c;
        return 0;
}

void registry_client_free(struct registry_client *c) {
        if (!c)
                return;
        for (struct token_entry *t = c->tokens, *next; t; t = next) {
                next = t->next;
                free(t->key);
                erase_free(t->header);
                free(t);
        }
        pthread_mutex_destroy(&c->lock);
        free(c->cas_dir);
        free(c);
}

/* What one image's requests share. */
struct op {
        struct registry_client *c;
        const char *name; /* the reference as the user knows it, for messages */
        const char *repository;
        struct registry_endpoint ep;
};

static char *token_key(const struct op *op) {
        return strdupf("%s\n%s", op->ep.url, op->repository);
}

/* A copy of the cached Authorization header for this endpoint and
 * repository, or NULL. */
static char *auth_header_get(struct op *op) {
        _cleanup_free_ char *key = token_key(op);
        char *h = NULL;
        if (!key)
                return NULL;
        pthread_mutex_lock(&op->c->lock);
        for (struct token_entry *t = op->c->tokens; t; t = t->next)
                if (streq(t->key, key)) {
                        h = strdup(t->header);
                        break;
                }
        pthread_mutex_unlock(&op->c->lock);
        return h;
}

static int auth_header_put(struct op *op, char *header) {
        _cleanup_free_ char *key = token_key(op);
        if (!key) {
                erase_free(header);
                return -ENOMEM;
        }
        pthread_mutex_lock(&op->c->lock);
        for (struct token_entry *t = op->c->tokens; t; t = t->next)
                if (streq(t->key, key)) {
                        erase_free(t->header);
                        t->header = header;
                        pthread_mutex_unlock(&op->c->lock);
                        return 0;
                }
        struct token_entry *t = calloc(1, sizeof(*t));
        if (!t) {
                pthread_mutex_unlock(&op->c->lock);
                erase_free(header);
                return -ENOMEM;
        }
        t->key = TAKE_PTR(key);
        t->header = header;
        t->next = op->c->tokens;
        op->c->tokens = t;
        pthread_mutex_unlock(&op->c->lock);
        return 0;
}

static char *basic_header(const char *user, const char *password) {
        _cleanup_erase_ char *plain = strdupf("%s:%s", user, password);
        if (!plain)
                return NULL;
        size_t n = strlen(plain);
        size_t enc_len = 4 * ((n + 2) / 3);
        _cleanup_erase_ char *enc = malloc(enc_len + 1);
        if (!enc)
                return NULL;
        EVP_EncodeBlock((unsigned char *) enc, (const unsigned char *) plain, (int) n);
        return strdupf("Authorization: Basic %s", enc);
}

static bool status_is_transient(long status) {
        return status >= 500 || status == 429 || status == 408;
}
static bool errno_is_transient(int r) {
        return r == -ETIMEDOUT || r == -ECONNREFUSED || r == -EIO || r == -EHOSTUNREACH || r == -ECONNRESET;
}

static void sleep_ms(unsigned ms) {
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* reg_perform() with retries (transport errors, 5xx, 429) and backoff. */
static int perform_retry(struct op *op, const char *method, const char *url, const char *ca_file,
                         bool allow_http, const char *const *headers, size_t max, struct reg_response *ret,
                         char **ret_error) {
        struct download_opts d = {.retry_delay_ms = op->c->o.retry_delay_ms};
        for (unsigned attempt = 1;; attempt++) {
                reg_response_done(ret);
                int r = reg_perform(method, url, ca_file, allow_http, headers, max, ret, ret_error);
                bool again = r < 0 ? errno_is_transient(r) : status_is_transient(ret->status);
                if (!again || attempt >= op->c->o.attempts)
                        return r;
                unsigned delay = download_retry_delay_ms(&d, attempt);
                log_debug("%s: %s (attempt %u of %u), retrying in %u ms", url,
                          r < 0 ? "request failed" : "server error", attempt, op->c->o.attempts, delay);
                sleep_ms(delay);
        }
}

/* "HTTP 404 (MANIFEST_UNKNOWN: manifest unknown)" */
static char *status_text(const struct reg_response *resp) {
        _cleanup_free_ char *summary = registry_error_summary(resp->body, resp->size);
        if (summary)
                return strdupf("HTTP %ld (%s)", resp->status, summary);
        return strdupf("HTTP %ld", resp->status);
}

/* The answer to a 401: a Bearer token from the realm, or Basic credentials. */
static int authenticate(struct op *op, const struct reg_response *resp, const char *url, char **ret_error) {
        struct registry_challenge *bearer = NULL, *basic = NULL;
        struct registry_challenge *all[AUTH_HEADERS_MAX] = {};
        size_t n_all[AUTH_HEADERS_MAX] = {};
        int r = 0;

        for (size_t i = 0; i < resp->n_challenges; i++) {
                r = registry_challenges_parse(resp->challenges[i], &all[i], &n_all[i]);
                if (r < 0) {
                        _cleanup_free_ char *pv = ystr_printable(resp->challenges[i], 200);
                        r = fail(ret_error, -EACCES,
                                 "%s: %s: HTTP 401 with a malformed WWW-Authenticate: %s", op->name, url,
                                 pv ? pv : "?");
                        goto finish;
                }
                for (size_t j = 0; j < n_all[i]; j++) {
                        if (!bearer && streq(all[i][j].scheme, "bearer"))
                                bearer = &all[i][j];
                        if (!basic && streq(all[i][j].scheme, "basic"))
                                basic = &all[i][j];
                }
        }

        const char *user = NULL, *password = NULL;
        bool have_creds = registry_credentials_lookup(op->c->o.credentials, op->ep.host, &user, &password);

        if (bearer) {
                _cleanup_free_ char *token_url = NULL, *err = NULL;
                r = registry_token_url(bearer, op->repository, op->ep.allow_http, &token_url, &err);
                if (r < 0) {
                        r = fail(ret_error, -EACCES, "%s: %s: %s", op->name, url, err ? err : strerror(-r));
                        goto finish;
                }
                _cleanup_erase_ char *basic_h = have_creds ? basic_header(user, password) : NULL;
                if (have_creds && !basic_h) {
                        r = -ENOMEM;
                        goto finish;
                }
                const char *hdrs[] = {basic_h, NULL};
                struct reg_response tr = {};
                r = perform_retry(op, "GET", token_url, op->ep.ca_file, op->ep.allow_http, hdrs,
                                  TOKEN_RESPONSE_MAX, &tr, &err);
                if (r < 0) {
                        reg_response_done(&tr);
                        r = fail(ret_error, r, "%s: cannot get a token: %s", op->name,
                                 err ? err : strerror(-r));
                        goto finish;
                }
                if (tr.status != 200) {
                        _cleanup_free_ char *st = status_text(&tr);
                        reg_response_done(&tr);
                        r = fail(ret_error, -EACCES, "%s: the token endpoint %s refused%s: %s", op->name,
                                 token_url, have_creds ? " the credentials" : " an anonymous pull",
                                 st ? st : "?");
                        goto finish;
                }
                _cleanup_erase_ char *token = NULL;
                r = registry_token_parse(tr.body, tr.size, &token, &err);
                explicit_bzero(tr.body, tr.size);
                reg_response_done(&tr);
                if (r < 0) {
                        r = fail(ret_error, r, "%s: %s: %s", op->name, token_url, err ? err : strerror(-r));
                        goto finish;
                }
                char *h = strdupf("Authorization: Bearer %s", token);
                if (!h) {
                        r = -ENOMEM;
                        goto finish;
                }
                r = auth_header_put(op, h);
                goto finish;
        }
        if (basic) {
                if (!have_creds) {
                        r = fail(ret_error, -EACCES,
                                 "%s: %s: the registry asks for a user name and password (Basic "
                                 "authentication) and the credentials file has none for '%s'",
                                 op->name, url, op->ep.host);
                        goto finish;
                }
                char *h = basic_header(user, password);
                if (!h) {
                        r = -ENOMEM;
                        goto finish;
                }
                r = auth_header_put(op, h);
                goto finish;
        }
        r = fail(ret_error, -EACCES, "%s: %s: HTTP 401 without a Bearer or Basic challenge", op->name, url);
finish:
        for (size_t i = 0; i < AUTH_HEADERS_MAX; i++)
                registry_challenges_free(all[i], n_all[i]);
        return r;
}

/* A request to the registry with its authentication: anonymous or with the
 * cached token first; on a 401, authenticate once and try again. */
static int registry_request(struct op *op, const char *method, const char *url, const char *accept,
                            size_t max, struct reg_response *ret, char **ret_error) {
        for (int round = 0;; round++) {
                _cleanup_erase_ char *auth = auth_header_get(op);
                const char *hdrs[3] = {};
                size_t n = 0;
                if (accept)
                        hdrs[n++] = accept;
                if (auth)
                        hdrs[n++] = auth;
                _cleanup_free_ char *err = NULL;
                int r = perform_retry(op, method, url, op->ep.ca_file, op->ep.allow_http, hdrs, max, ret,
                                      &err);
                if (r < 0)
                        return fail(ret_error, r, "%s: %s", op->name, err ? err : strerror(-r));
                if (ret->status != 401)
                        return 0;
                if (round > 0)
                        return fail(ret_error, -EACCES,
                                    "%s: %s: the registry refused the credentials (HTTP 401)", op->name,
                                    url);
                r = authenticate(op, ret, url, ret_error);
                if (r < 0)
                        return r;
        }
}

struct expect {
        const char *digest; /* "sha256:..." or NULL */
        uint64_t size;
        bool check_size;
};

struct fetched {
        char *body;
        size_t size;
        char digest[IMAGEREF_DIGEST_MAX + 1];
        char media_type[REGISTRY_MEDIA_TYPE_MAX + 1];
        enum registry_kind kind;
        struct ynode *root;
};

static void fetched_done(struct fetched *f) {
        free(f->body);
        ynode_free(f->root);
        *f = (struct fetched){};
}

static char *manifest_url(const struct op *op, const char *reference) {
        return strdupf("%s/v2/%s/manifests/%s", op->ep.url, op->repository, reference);
}

/* A manifest or index by tag or digest, verified and stored. */
static int fetch_manifest(struct op *op, const char *reference, const struct expect *exp,
                          struct fetched *ret, char **ret_error) {
        bool by_digest = is_sha256_digest(reference);
        const char *want = exp && exp->digest ? exp->digest : by_digest ? reference : NULL;
        _cleanup_free_ char *url = manifest_url(op, reference);
        if (!url)
                return -ENOMEM;
        struct fetched f = {};
        const char *content_type = NULL;
        struct reg_response resp = {};
        _cleanup_free_ char *err = NULL;
        int r;

        if (want && cas_has(op->c->cas_dir, want + 7)) {
                /* Content-addressed: what the store holds under a digest is
                 * that manifest, whichever registry it came from. */
                _cleanup_free_ char *path = cas_path(op->c->cas_dir, want + 7);
                if (!path)
                        return -ENOMEM;
                r = read_regular_file(path, REGISTRY_MANIFEST_MAX, &f.body, &f.size);
                if (r < 0)
                        return fail(ret_error, r, "%s: cannot read '%s' from the store: %s", op->name, path,
                                    strerror(-r));
        } else {
                r = registry_request(op, "GET", url, REGISTRY_MANIFEST_ACCEPT, REGISTRY_MANIFEST_MAX, &resp,
                                     ret_error);
                if (r < 0) {
                        reg_response_done(&resp);
                        return r;
                }
                if (resp.status != 200) {
                        _cleanup_free_ char *st = status_text(&resp);
                        r = resp.status == 404                         ? -ENOENT
                            : resp.status == 401 || resp.status == 403 ? -EACCES
                                                                       : -EPROTO;
                        reg_response_done(&resp);
                        return fail(ret_error, r, "%s: GET %s: %s", op->name, url, st ? st : "?");
                }
                f.body = TAKE_PTR(resp.body);
                f.size = resp.size;
                content_type = resp.content_type;
        }

        char hex[SHA256_HEX_LEN + 1];
        r = sha256_buffer(f.body, f.size, hex);
        if (r < 0)
                goto out;
        snprintf(f.digest, sizeof f.digest, "sha256:%s", hex);
        if (resp.docker_digest && strncmp(resp.docker_digest, "sha256:", 7) == 0 &&
            !streq(resp.docker_digest, f.digest)) {
                _cleanup_free_ char *pd = ystr_printable(resp.docker_digest, 80);
                r = fail(ret_error, -EBADMSG,
                         "%s: GET %s: the manifest's digest %s does not match Docker-Content-Digest %s",
                         op->name, url, f.digest, pd ? pd : "?");
                goto out;
        }
        if (want && !streq(want, f.digest)) {
                r = fail(ret_error, -EBADMSG, "%s: GET %s: the manifest's digest %s does not match %s",
                         op->name, url, f.digest, want);
                goto out;
        }
        if (exp && exp->check_size && exp->size != f.size) {
                r = fail(ret_error, -EBADMSG,
                         "%s: GET %s: the manifest is %zu bytes, the index says %" PRIu64, op->name, url,
                         f.size, exp->size);
                goto out;
        }
        r = parse_json(f.body, f.size, &manifest_limits, &f.root, &err);
        if (r >= 0)
                r = classify_tree(f.root, content_type, f.media_type, &f.kind, &err);
        if (r < 0) {
                r = fail(ret_error, r, "%s: %s: %s", op->name, url, err ? err : strerror(-r));
                goto out;
        }
        r = registry_cas_put_buffer(op->c->cas_dir, hex, f.body, f.size);
        if (r < 0) {
                r = fail(ret_error, r, "%s: cannot store manifest %s in '%s': %s", op->name, f.digest,
                         op->c->cas_dir, strerror(-r));
                goto out;
        }
        *ret = f;
        f = (struct fetched){};
        r = 0;
out:
        fetched_done(&f);
        reg_response_done(&resp);
        return r;
}

static int op_init(struct registry_client *c, const struct imageref *ref, struct op *op, char **ret_name,
                   char **ret_error) {
        char *name = imageref_format(ref);
        if (!name)
                return -ENOMEM;
        *op = (struct op){.c = c, .name = name, .repository = ref->repository};
        int r = registry_endpoint_resolve(ref->registry, c->o.mirrors, c->o.n_mirrors, &op->ep);
        if (r < 0) {
                free(name);
                return fail(ret_error, r, "%s: cannot work out the registry endpoint for '%s'%s",
                            ref->registry, ref->registry,
                            r == -EINVAL ? ": the mirror's endpoint is not a valid URL" : "");
        }
        *ret_name = name;
        return 0;
}

static int resolve_internal(struct op *op, const struct imageref *ref, const struct platform_target *target,
                            struct registry_resolved *ret, struct fetched *ret_manifest, char **ret_error) {
        struct registry_resolved res = {};
        struct fetched top = {};
        const char *reference = ref->digest[0] ? ref->digest : ref->tag;
        int r = fetch_manifest(op, reference, NULL, &top, ret_error);
        if (r < 0)
                return r;
        if (top.kind == REGISTRY_KIND_MANIFEST) {
                snprintf(res.digest, sizeof res.digest, "%s", top.digest);
                snprintf(res.media_type, sizeof res.media_type, "%s", top.media_type);
                res.size = top.size;
                *ret = res;
                *ret_manifest = top;
                return 0;
        }

        struct platform_choice choice;
        _cleanup_free_ char *err = NULL;
        r = platform_select(top.root, target, &choice, &err);
        if (r < 0) {
                char t[PLATFORM_STRING_MAX + 1];
                snprintf(t, sizeof t, "%s/%s%s%s", target->os, target->architecture,
                         target->variant ? "/" : "", target->variant ? target->variant : "");
                r = fail(ret_error, r, "%s: index %s from %s: %s%s%s", op->name, top.digest, op->ep.url,
                         r == -ENOENT ? "no image for " : "", r == -ENOENT ? t : "",
                         err ? err : strerror(-r));
                if (r == -ENOENT && ret_error && *ret_error) {
                        char *m = strdupf("%s: index %s from %s has no image for %s (it has: %s)", op->name,
                                          top.digest, op->ep.url, t, err ? err : "?");
                        if (m) {
                                free(*ret_error);
                                *ret_error = m;
                        }
                }
                fetched_done(&top);
                return r;
        }
        snprintf(res.index_digest, sizeof res.index_digest, "%s", top.digest);
        snprintf(res.index_media_type, sizeof res.index_media_type, "%s", top.media_type);
        res.index_size = top.size;
        snprintf(res.platform, sizeof res.platform, "%s", choice.platform);
        fetched_done(&top);

        struct expect exp = {.digest = choice.digest, .size = choice.size, .check_size = true};
        struct fetched m = {};
        r = fetch_manifest(op, choice.digest, &exp, &m, ret_error);
        if (r < 0)
                return r;
        if (m.kind != REGISTRY_KIND_MANIFEST) {
                fetched_done(&m);
                return fail(ret_error, -ENOTSUP, "%s: the index's entry for %s (%s) is another index",
                            op->name, res.platform, choice.digest);
        }
        if (registry_media_type_kind(choice.media_type) == REGISTRY_KIND_MANIFEST &&
            !streq(choice.media_type, m.media_type)) {
                fetched_done(&m);
                return fail(ret_error, -EBADMSG, "%s: the index names %s as %s, the manifest says %s",
                            op->name, choice.digest, choice.media_type, m.media_type);
        }
        snprintf(res.digest, sizeof res.digest, "%s", m.digest);
        snprintf(res.media_type, sizeof res.media_type, "%s", m.media_type);
        res.size = m.size;
        *ret = res;
        *ret_manifest = m;
        return 0;
}

/* The start of every operation: the endpoint, then the manifest for `target`.
 * On failure nothing is left to release and the outputs are untouched. */
static int op_start(struct registry_client *c, const struct imageref *ref,
                    const struct platform_target *target, struct op *op, char **ret_name,
                    struct registry_resolved *ret_resolved, struct fetched *ret_manifest, char **ret_error) {
        _cleanup_free_ char *name = NULL;
        int r = op_init(c, ref, op, &name, ret_error);
        if (r < 0)
                return r;
        r = resolve_internal(op, ref, target, ret_resolved, ret_manifest, ret_error);
        if (r < 0) {
                registry_endpoint_done(&op->ep);
                return r;
        }
        *ret_name = TAKE_PTR(name);
        return 0;
}

int registry_resolve(struct registry_client *c, const struct imageref *ref,
                     const struct platform_target *target, struct registry_resolved *ret, char **ret_error) {
        if (!c || !ref || !target || !ret)
                return -EINVAL;
        struct op op;
        _cleanup_free_ char *name = NULL;
        struct fetched m = {};
        int r = op_start(c, ref, target, &op, &name, ret, &m, ret_error);
        if (r < 0)
                return r;
        fetched_done(&m);
        registry_endpoint_done(&op.ep);
        return 0;
}

/* ---- blobs ------------------------------------------------------------------ */

struct blob_job {
        struct op *op; /* the image's requests (endpoint, token) */
        size_t image;  /* which image of the batch asked for it first */
        struct registry_image *img;
        const struct registry_descriptor *desc;
        const char *what; /* "config", "layer 3" */
        char what_buf[32];
};

/* Every blob the images of one registry_pull_many() lack, downloaded
 * `parallel` at a time whichever image needs it. */
struct pool {
        const char *label; /* the image, or "8 images" */
        struct blob_job *jobs;
        size_t n_jobs, next, done;
        uint64_t bytes_total, bytes_done;
        int error;
        char *error_text;
        size_t error_image;
        pthread_mutex_t lock;
        bool progress, tty;
        unsigned last_decile;
};

static void progress_line(struct pool *p, bool final) {
        if (!p->progress)
                return;
        unsigned decile = p->bytes_total ? (unsigned) (p->bytes_done * 10 / p->bytes_total) : 10;
        if (!p->tty && !final && decile == p->last_decile)
                return;
        p->last_decile = decile;
        fprintf(stderr, "%sPulling %s: %zu/%zu blobs, %.1f/%.1f MiB%s", p->tty ? "\r\033[K" : "", p->label,
                p->done, p->n_jobs, (double) p->bytes_done / (1024.0 * 1024.0),
                (double) p->bytes_total / (1024.0 * 1024.0), p->tty && !final ? "" : "\n");
        fflush(stderr);
}

static int download_blob(struct op *op, const struct blob_job *job, char **ret_error) {
        const struct registry_descriptor *d = job->desc;
        _cleanup_free_ char *url = strdupf("%s/v2/%s/blobs/%s", op->ep.url, op->repository, d->digest);
        _cleanup_free_ char *label = strdupf("%.19s (%s)", d->digest, job->what);
        if (!url || !label)
                return -ENOMEM;
        for (int round = 0;; round++) {
                _cleanup_erase_ char *auth = auth_header_get(op);
                const char *hdrs[] = {auth, NULL};
                struct download_opts o = {
                        .headers = hdrs,
                        .ca_file = op->ep.ca_file,
                        .allow_http = op->ep.allow_http,
                        .follow_redirects = true,
                        .attempts = op->c->o.attempts,
                        .retry_delay_ms = op->c->o.retry_delay_ms,
                        .expected_size = d->size,
                        .label = label,
                };
                _cleanup_free_ char *err = NULL;
                int r = download_to_cas(url, d->digest + 7, op->c->cas_dir, &o, NULL, &err);
                if (r >= 0)
                        return r;
                if (r == -EPROTO && round == 0) {
                        /* Perhaps the token expired (or the blob needs one
                         * the manifest did not): ask, and authenticate
                         * again on a 401. */
                        struct reg_response resp = {};
                        _cleanup_free_ char *herr = NULL;
                        int k = reg_perform("HEAD", url, op->ep.ca_file, op->ep.allow_http, hdrs, 0, &resp,
                                            &herr);
                        bool unauthorized = k >= 0 && resp.status == 401;
                        if (unauthorized)
                                k = authenticate(op, &resp, url, ret_error);
                        reg_response_done(&resp);
                        if (unauthorized) {
                                if (k < 0)
                                        return k;
                                continue;
                        }
                }
                return fail(ret_error, r, "%s: %s %s from %s: %s", op->name, job->what, d->digest,
                            op->ep.url, err ? err : strerror(-r));
        }
}

static void *pool_worker(void *arg) {
        struct pool *p = arg;
        for (;;) {
                pthread_mutex_lock(&p->lock);
                if (p->error || p->next >= p->n_jobs) {
                        pthread_mutex_unlock(&p->lock);
                        return NULL;
                }
                struct blob_job *job = &p->jobs[p->next++];
                pthread_mutex_unlock(&p->lock);

                char *err = NULL;
                int r = download_blob(job->op, job, &err);

                pthread_mutex_lock(&p->lock);
                if (r < 0 && !p->error) {
                        p->error = r;
                        p->error_text = TAKE_PTR(err);
                        p->error_image = job->image;
                } else if (r >= 0) {
                        p->done++;
                        p->bytes_done += job->desc->size;
                        if (r > 0) {
                                job->img->blobs_downloaded++;
                                job->img->bytes_downloaded += job->desc->size;
                        }
                        progress_line(p, false);
                }
                pthread_mutex_unlock(&p->lock);
                free(err);
        }
}

static int run_pool(struct pool *p, unsigned parallel) {
        size_t n_threads = parallel < p->n_jobs ? parallel : p->n_jobs;
        pthread_t threads[PARALLEL_MAX];
        size_t started = 0;
        for (; started < n_threads; started++)
                if (pthread_create(&threads[started], NULL, pool_worker, p) != 0)
                        break;
        if (started == 0)
                (void) pool_worker(p); /* no threads: do it here */
        for (size_t i = 0; i < started; i++)
                pthread_join(threads[i], NULL);
        return p->error;
}

/* A single-arch image (no index said which platform it is for): its config,
 * fetched first, must be for `target`, so that no layer of an image for
 * another platform is downloaded. 1 when the config was downloaded. */
static int check_config_platform(struct op *op, const struct registry_descriptor *config,
                                 const struct platform_target *target, char **ret_error) {
        int downloaded = 0, r;
        if (!cas_has(op->c->cas_dir, config->digest + 7)) {
                struct blob_job job = {.desc = config, .what = "config"};
                r = download_blob(op, &job, ret_error);
                if (r < 0)
                        return r;
                downloaded = r > 0;
        }
        _cleanup_free_ char *path = cas_path(op->c->cas_dir, config->digest + 7), *body = NULL, *err = NULL;
        size_t size = 0;
        if (!path)
                return -ENOMEM;
        r = read_regular_file(path, REGISTRY_MANIFEST_MAX, &body, &size);
        if (r < 0)
                return fail(ret_error, r, "%s: cannot read config %s from '%s': %s", op->name,
                            config->digest, path, strerror(-r));
        _cleanup_ynode_ struct ynode *root = NULL;
        r = parse_json(body, size, &manifest_limits, &root, &err);
        if (r >= 0)
                r = platform_check_config(root, target, &err);
        if (r < 0)
                return fail(ret_error, r, "%s: config %s from %s: %s%s", op->name, config->digest,
                            op->ep.url, err ? err : strerror(-r),
                            r == -ENOEXEC ? " (a single-arch tag: name a tag or digest built for the target)"
                                          : "");
        return downloaded;
}

void registry_image_done(struct registry_image *img) {
        if (!img)
                return;
        free(img->layers);
        *img = (struct registry_image){};
}

/* One image of a batch. */
struct pull_item {
        struct op op;
        char *name;
        bool started; /* op.ep to release */
        struct fetched m;
        struct registry_manifest man;
        struct registry_image img;
};

static void pull_item_done(struct pull_item *it) {
        registry_image_done(&it->img);
        registry_manifest_done(&it->man);
        fetched_done(&it->m);
        if (it->started)
                registry_endpoint_done(&it->op.ep);
        free(it->name);
        *it = (struct pull_item){};
}

/* The blobs of every image not in the store yet, each once (a layer may
 * repeat in an image and be shared between images). */
static int plan_jobs(struct registry_client *c, struct pull_item *items, size_t n, struct pool *p) {
        size_t n_desc = 0;
        for (size_t i = 0; i < n; i++)
                n_desc += items[i].man.n_layers + 1;
        p->jobs = calloc(n_desc ? n_desc : 1, sizeof(*p->jobs));
        if (!p->jobs)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const struct registry_manifest *man = &items[i].man;
                for (size_t l = 0; l <= man->n_layers; l++) {
                        const struct registry_descriptor *d = l == 0 ? &man->config : &man->layers[l - 1];
                        if (cas_has(c->cas_dir, d->digest + 7))
                                continue;
                        bool dup = false;
                        for (size_t j = 0; j < p->n_jobs && !dup; j++)
                                dup = streq(p->jobs[j].desc->digest, d->digest);
                        if (dup)
                                continue;
                        struct blob_job *job = &p->jobs[p->n_jobs++];
                        *job = (struct blob_job){
                                .op = &items[i].op, .image = i, .img = &items[i].img, .desc = d};
                        if (l == 0)
                                snprintf(job->what_buf, sizeof job->what_buf, "config");
                        else
                                snprintf(job->what_buf, sizeof job->what_buf, "layer %zu", l);
                        job->what = job->what_buf;
                        p->bytes_total += d->size;
                }
        }
        return 0;
}

int registry_pull_many(struct registry_client *c, const struct imageref *refs, size_t n,
                       const struct platform_target *target, struct registry_image *ret, size_t *ret_failed,
                       char **ret_error) {
        if (!c || (n > 0 && (!refs || !ret)) || !target)
                return -EINVAL;
        struct pull_item *items = calloc(n ? n : 1, sizeof(*items));
        if (!items)
                return -ENOMEM;
        char label[32];
        snprintf(label, sizeof label, "%zu images", n);
        struct pool p = {.label = label, .progress = c->o.progress, .tty = isatty(STDERR_FILENO) == 1};
        _cleanup_free_ char *err = NULL;
        size_t failed = 0;
        int r = 0;
        pthread_mutex_init(&p.lock, NULL);

        /* Every manifest first (small requests, one image after another),
         * so that the blobs of all images share one pool. */
        for (size_t i = 0; i < n; i++) {
                struct pull_item *it = &items[i];
                failed = i;
                r = op_start(c, &refs[i], target, &it->op, &it->name, &it->img.manifest, &it->m, ret_error);
                if (r < 0)
                        goto out;
                it->started = true;
                r = manifest_from_tree(it->m.root, it->m.media_type, &it->man, &err);
                if (r < 0) {
                        r = fail(ret_error, r, "%s: manifest %s from %s: %s", it->op.name, it->m.digest,
                                 it->op.ep.url, err ? err : strerror(-r));
                        goto out;
                }
                if (!it->img.manifest.index_digest[0]) {
                        r = check_config_platform(&it->op, &it->man.config, target, ret_error);
                        if (r < 0)
                                goto out;
                        if (r > 0) {
                                it->img.blobs_downloaded++;
                                it->img.bytes_downloaded += it->man.config.size;
                        }
                }
        }

        r = plan_jobs(c, items, n, &p);
        if (r < 0)
                goto out;
        if (n == 1)
                p.label = items[0].op.name;
        if (p.n_jobs > 0) {
                progress_line(&p, false);
                r = run_pool(&p, c->o.parallel);
                if (r < 0) {
                        if (p.tty && p.progress)
                                fputc('\n', stderr);
                        failed = p.error_image;
                        r = fail(ret_error, r, "%s", p.error_text ? p.error_text : strerror(-r));
                        goto out;
                }
                if (p.tty)
                        progress_line(&p, true);
        }

        for (size_t i = 0; i < n; i++) {
                struct registry_image *img = &items[i].img;
                img->config = items[i].man.config;
                img->layers = TAKE_PTR(items[i].man.layers);
                img->n_layers = items[i].man.n_layers;
                ret[i] = *img;
                *img = (struct registry_image){};
        }
        r = 0;
out:
        if (r < 0 && ret_failed)
                *ret_failed = failed;
        for (size_t i = 0; i < n; i++)
                pull_item_done(&items[i]);
        free(items);
        free(p.jobs);
        free(p.error_text);
        pthread_mutex_destroy(&p.lock);
        return r;
}

int registry_pull(struct registry_client *c, const struct imageref *ref,
                  const struct platform_target *target, struct registry_image *ret, char **ret_error) {
        if (!ref || !ret)
                return -EINVAL;
        return registry_pull_many(c, ref, 1, target, ret, NULL, ret_error);
}
