/* SPDX-License-Identifier: MIT */
#include "profile.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "imageref.h"
#include "macro.h"
#include "strv.h"
#include "yamltree.h"

/* The profile schema: every key, its type, whether it is required, where its
 * value goes and what a valid value looks like. Validation and --set
 * overrides both walk this table, so a key known to one is known to the other. */

#define PROFILE_MAX_SIZE (1024u * 1024u)
#define PROFILE_MAX_LIST 4096u
#define PROFILE_MAX_REGISTRY_MIRRORS 256u
#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)
#define HEADROOM_UNSET UINT64_MAX

enum ftype {
        F_STRING,  /* char * */
        F_BOOL,    /* bool */
        F_SIZE,    /* uint64_t, bytes */
        F_LIST,    /* char ** (NULL-terminated) */
        F_FORMATS, /* unsigned, PROFILE_FORMAT_* */
        F_MAP,     /* children, same base */
        F_MIRRORS, /* registry host -> mirror_fields */
};

struct field {
        const char *key;
        enum ftype type;
        bool required;
        bool nonempty;  /* F_LIST, F_FORMATS: at least one item */
        bool unique;    /* F_LIST: no item twice */
        bool auto_size; /* F_SIZE: "auto" means 0 */
        size_t offset;
        bool (*check)(const char *s); /* F_STRING, F_LIST items */
        const char *expected;         /* "expected ..." */
        const struct field *children; /* F_MAP */
};

/* --- value checks ---------------------------------------------------- */

static bool chars_in(const char *s, const char *extra, bool upper) {
        for (; *s; s++) {
                unsigned char c = (unsigned char) *s;
                if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (upper && c >= 'A' && c <= 'Z') ||
                    (c && strchr(extra, c)))
                        continue;
                return false;
        }
        return true;
}

static bool starts_alnum(const char *s) {
        return (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9');
}

static bool is_name(const char *s) {
        return starts_alnum(s) && strlen(s) <= 64 && chars_in(s, ".-", false);
}

static bool is_suite(const char *s) {
        return starts_alnum(s) && strlen(s) <= 64 && chars_in(s, "._-", false);
}

static bool is_distro(const char *s) {
        return streq(s, "debian") || streq(s, "ubuntu");
}

static bool is_url(const char *s) {
        const char *rest;
        if (strncmp(s, "http://", 7) == 0)
                rest = s + 7;
        else if (strncmp(s, "https://", 8) == 0)
                rest = s + 8;
        else
                return false;
        if (strlen(s) > 2048 || *rest == '\0' || *rest == '/' || *rest == ':')
                return false;
        for (const char *p = s; *p; p++) {
                unsigned char c = (unsigned char) *p;
                if (c <= 0x20 || c >= 0x7f || strchr("\"'<>\\`{}|^", c))
                        return false;
        }
        return true;
}

static bool is_abs_path(const char *s) {
        if (s[0] != '/' || strlen(s) > 4096)
                return false;
        for (const char *p = s; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        return false;
        /* no ".." component */
        for (const char *p = s; (p = strstr(p, "/..")); p += 3)
                if (p[3] == '/' || p[3] == '\0')
                        return false;
        return true;
}

static bool is_dir_source(const char *s) {
        return strncmp(s, "dir:", 4) == 0 && is_abs_path(s + 4);
}

/* Debian policy 5.6.1: lowercase letters, digits, '+', '-', '.'; at least two
 * characters; starts with an alphanumeric. */
static bool is_package(const char *s) {
        return starts_alnum(s) && strlen(s) >= 2 && strlen(s) <= 128 && chars_in(s, "+.-", false);
}

/* A package name in which "${arch}" (once) stands for the Debian architecture. */
static bool is_kernel_package(const char *s) {
        char buf[256];
        size_t n = 0;
        bool substituted = false;
        while (*s) {
                if (strncmp(s, "${arch}", 7) == 0) {
                        /* at most once: rootfs_kernel_package() replaces the first */
                        if (substituted || n + 5 >= sizeof(buf))
                                return false;
                        substituted = true;
                        memcpy(buf + n, "amd64", 5);
                        n += 5;
                        s += 7;
                        continue;
                }
                if (*s == '$' || n + 1 >= sizeof(buf))
                        return false;
                buf[n++] = *s++;
        }
        buf[n] = '\0';
        return is_package(buf);
}

static bool is_cmdline(const char *s) {
        if (strlen(s) > 1024)
                return false;
        for (; *s; s++)
                if ((unsigned char) *s < 0x20 || *s == 0x7f)
                        return false;
        return true;
}

static bool is_module(const char *s) {
        return *s && strlen(s) <= 55 && chars_in(s, "_-", true);
}

static bool is_component(const char *s) {
        return starts_alnum(s) && strlen(s) <= 64 && chars_in(s, "._-", false);
}

static bool is_overlay(const char *s) {
        return starts_alnum(s) && strlen(s) <= 64 && chars_in(s, "._-", false);
}

static bool is_format(const char *s) {
        return streq(s, "raw") || streq(s, "qcow2");
}

static bool is_number(const char **p) {
        if (!isdigit((unsigned char) **p))
                return false;
        size_t n = 0;
        while (isdigit((unsigned char) **p)) {
                (*p)++;
                n++;
        }
        return n <= 9;
}

static bool is_version(const char *s) {
        if (*s++ != 'v')
                return false;
        for (int i = 0; i < 3; i++) {
                if (!is_number(&s))
                        return false;
                if (i < 2 && *s++ != '.')
                        return false;
        }
        return *s == '\0';
}

/* A kubeadm phase: "addon/coredns", "upload-certs" (lowercase words joined
 * by '-', sub-phases after '/'). */
static bool is_kubeadm_phase(const char *s) {
        if (strlen(s) > 64 || !chars_in(s, "-/", false))
                return false;
        for (const char *p = s;; p++) {
                /* each component starts with a letter and ends before '/' or the end */
                if (!(*p >= 'a' && *p <= 'z'))
                        return false;
                p += strcspn(p, "/");
                if (!*p)
                        return p[-1] != '-';
                if (p[-1] == '-')
                        return false;
        }
}

static bool is_addon(const char *s) {
        return *s && strlen(s) <= 64 && chars_in(s, "-", false);
}

/* host[:port], as in image references: "docker.io", "localhost:5000". */
static bool is_registry_host(const char *s) {
        if (!*s || strlen(s) > 253 || !isalnum((unsigned char) *s))
                return false;
        const char *colon = strchr(s, ':');
        size_t host_len = colon ? (size_t) (colon - s) : strlen(s);
        for (size_t i = 0; i < host_len; i++) {
                unsigned char c = (unsigned char) s[i];
                if (!isalnum(c) && c != '.' && c != '-')
                        return false;
        }
        if (!colon)
                return true;
        const char *port = colon + 1;
        size_t n = strlen(port);
        if (n == 0 || n > 5)
                return false;
        unsigned long v = 0;
        for (const char *p = port; *p; p++) {
                if (!isdigit((unsigned char) *p))
                        return false;
                v = v * 10 + (unsigned long) (*p - '0');
        }
        return v >= 1 && v <= 65535;
}

/* "123", "4G", "512M", "2GiB", "1k": binary units. -EINVAL when not a size. */
static int parse_size(const char *s, uint64_t *ret) {
        static const struct {
                const char *suffix;
                unsigned shift;
        } units[] = {
                {"", 0},     {"K", 10},   {"M", 20},   {"G", 30},   {"T", 40},
                {"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40},
        };
        const char *p = s;
        uint64_t v = 0;
        if (!isdigit((unsigned char) *p))
                return -EINVAL;
        for (; isdigit((unsigned char) *p); p++) {
                if (v > (UINT64_MAX - 9) / 10)
                        return -EINVAL;
                v = v * 10 + (uint64_t) (*p - '0');
        }
        for (size_t i = 0; i < ELEMENTSOF(units); i++) {
                if (strcasecmp(p, units[i].suffix) != 0)
                        continue;
                if (v > (UINT64_C(1) << 50) >> units[i].shift) /* at most 1 PiB */
                        return -EINVAL;
                *ret = v << units[i].shift;
                return 0;
        }
        return -EINVAL;
}

/* --- the schema ------------------------------------------------------- */

#define OFF(member) offsetof(struct profile, member)

#define EXP_URL "an http:// or https:// URL"
#define EXP_PATH "an absolute path"
#define EXP_PACKAGE                                                                                         \
        "a Debian package name (lowercase letters, digits, '+', '-', '.'; at least 2 "                      \
        "characters, starting with a letter or digit)"
#define EXP_VERSION "a version v<major>.<minor>.<patch>"
#define EXP_DIR "dir:/absolute/path"

static const struct field mirrors_fields[] = {
        {.key = "main",
         .type = F_STRING,
         .required = true,
         .offset = OFF(mirror_main),
         .check = is_url,
         .expected = EXP_URL},
        {.key = "updates",
         .type = F_STRING,
         .offset = OFF(mirror_updates),
         .check = is_url,
         .expected = EXP_URL " (or null for none)"},
        {.key = "security",
         .type = F_STRING,
         .offset = OFF(mirror_security),
         .check = is_url,
         .expected = EXP_URL " (or null for none)"},
        {.key = "ports",
         .type = F_STRING,
         .offset = OFF(mirror_ports),
         .check = is_url,
         .expected = EXP_URL " (or null for none)"},
        {},
};

static const struct field keyring_fields[] = {
        {.key = "path",
         .type = F_STRING,
         .required = true,
         .offset = OFF(keyring),
         .check = is_abs_path,
         .expected = EXP_PATH},
        {.key = "package",
         .type = F_STRING,
         .required = true,
         .offset = OFF(keyring_package),
         .check = is_package,
         .expected = EXP_PACKAGE},
        {},
};

static const struct field kernel_fields[] = {
        {.key = "package",
         .type = F_STRING,
         .required = true,
         .offset = OFF(kernel_package),
         .check = is_kernel_package,
         .expected = "a Debian package name, in which ${arch} stands for the architecture"},
        {.key = "cmdline",
         .type = F_STRING,
         .offset = OFF(kernel_cmdline),
         .check = is_cmdline,
         .expected = "kernel parameters on one line (at most 1024 characters)"},
        {.key = "initramfs-modules",
         .type = F_LIST,
         .unique = true,
         .offset = OFF(initramfs_modules),
         .check = is_module,
         .expected = "a kernel module name (letters, digits, '_', '-')"},
        {},
};

static const struct field disk_fields[] = {
        {.key = "size",
         .type = F_SIZE,
         .auto_size = true,
         .offset = OFF(disk_size),
         .expected = "\"auto\" or a size such as 4G, 512M or 2GiB (a whole number of MiB)"},
        {.key = "headroom",
         .type = F_SIZE,
         .offset = OFF(disk_headroom),
         .expected = "a size such as 1G, 512M, 2GiB or 0"},
        {},
};

static const struct field crictl_fields[] = {
        {.key = "version",
         .type = F_STRING,
         .offset = OFF(kubernetes.crictl_version),
         .check = is_version,
         .expected = EXP_VERSION},
        {.key = "url",
         .type = F_STRING,
         .offset = OFF(kubernetes.crictl_url),
         .check = is_url,
         .expected = EXP_URL},
        {},
};

static const struct field cni_fields[] = {
        {.key = "version",
         .type = F_STRING,
         .offset = OFF(kubernetes.cni_version),
         .check = is_version,
         .expected = EXP_VERSION},
        {.key = "url",
         .type = F_STRING,
         .offset = OFF(kubernetes.cni_url),
         .check = is_url,
         .expected = EXP_URL},
        {},
};

static const struct field kubeadm_fields[] = {
        {.key = "etcd-image-tag",
         .type = F_STRING,
         .offset = OFF(kubernetes.etcd_image_tag),
         .check = imageref_tag_valid,
         .expected =
                 "an image tag (letters, digits, '_', '.', '-'; at most 128, not starting with '.' or '-')"},
        {.key = "init-skip-phases",
         .type = F_LIST,
         .unique = true,
         .offset = OFF(kubernetes.init_skip_phases),
         .check = is_kubeadm_phase,
         .expected =
                 "a kubeadm init phase such as addon/coredns (lowercase words, '-', sub-phases after '/')"},
        {},
};

static const struct field kubernetes_fields[] = {
        {.key = "version",
         .type = F_STRING,
         .offset = OFF(kubernetes.version),
         .check = is_version,
         .expected = EXP_VERSION},
        {.key = "release-url",
         .type = F_STRING,
         .offset = OFF(kubernetes.release_url),
         .check = is_url,
         .expected = EXP_URL},
        {.key = "source",
         .type = F_STRING,
         .offset = OFF(kubernetes.source),
         .check = is_dir_source,
         .expected = EXP_DIR},
        {.key = "crictl", .type = F_MAP, .children = crictl_fields, .expected = "a mapping"},
        {.key = "cni", .type = F_MAP, .children = cni_fields, .expected = "a mapping"},
        {.key = "kubeadm",
         .type = F_MAP,
         .children = kubeadm_fields,
         .expected = "a mapping with etcd-image-tag, init-skip-phases"},
        {},
};

static const struct field images_fields[] = {
        {.key = "extra",
         .type = F_LIST,
         .unique = true,
         .offset = OFF(images_extra),
         .check = imageref_valid,
         .expected = "an image reference (registry/repository[:tag][@sha256:digest], lowercase repository)"},
        {.key = "source",
         .type = F_STRING,
         .offset = OFF(images_source),
         .check = is_dir_source,
         .expected = EXP_DIR},
        {},
};

static const struct field addons_fields[] = {
        {.key = "catalog",
         .type = F_STRING,
         .offset = OFF(addons.catalog),
         .check = is_abs_path,
         .expected = EXP_PATH},
        {.key = "ship",
         .type = F_LIST,
         .unique = true,
         .offset = OFF(addons.ship),
         .check = is_addon,
         .expected = "an add-on name (lowercase letters, digits and '-')"},
        {.key = "default",
         .type = F_LIST,
         .unique = true,
         .offset = OFF(addons.defaults),
         .check = is_addon,
         .expected = "an add-on name (lowercase letters, digits and '-')"},
        {},
};

#define MOFF(member) offsetof(struct profile_registry_mirror, member)

static const struct field mirror_fields[] = {
        {.key = "endpoint",
         .type = F_STRING,
         .required = true,
         .offset = MOFF(endpoint),
         .check = is_url,
         .expected = EXP_URL},
        {.key = "ca-file",
         .type = F_STRING,
         .offset = MOFF(ca_file),
         .check = is_abs_path,
         .expected = EXP_PATH},
        {.key = "insecure", .type = F_BOOL, .offset = MOFF(insecure), .expected = "true or false"},
        {},
};

static const struct field profile_fields[] = {
        {.key = "name",
         .type = F_STRING,
         .required = true,
         .offset = OFF(name),
         .check = is_name,
         .expected = "a name of lowercase letters, digits, '.' and '-' (starting with a letter "
                     "or digit, at most 64 characters)"},
        {.key = "distro",
         .type = F_STRING,
         .required = true,
         .offset = OFF(distro),
         .check = is_distro,
         .expected = "ubuntu or debian"},
        {.key = "suite",
         .type = F_STRING,
         .required = true,
         .offset = OFF(suite),
         .check = is_suite,
         .expected = "a suite name (lowercase letters, digits, '.', '_', '-')"},
        {.key = "mirrors",
         .type = F_MAP,
         .required = true,
         .children = mirrors_fields,
         .expected = "a mapping with main, updates, security, ports"},
        {.key = "keyring",
         .type = F_MAP,
         .required = true,
         .children = keyring_fields,
         .expected = "a mapping with path, package"},
        {.key = "components",
         .type = F_LIST,
         .nonempty = true,
         .unique = true,
         .offset = OFF(components),
         .check = is_component,
         .expected = "an archive component name (lowercase letters, digits, '.', '_', '-')"},
        {.key = "packages",
         .type = F_LIST,
         .offset = OFF(packages),
         .check = is_package,
         .expected = EXP_PACKAGE},
        {.key = "kernel",
         .type = F_MAP,
         .required = true,
         .children = kernel_fields,
         .expected = "a mapping with package, cmdline, initramfs-modules"},
        {.key = "disk", .type = F_MAP, .children = disk_fields, .expected = "a mapping with size, headroom"},
        {.key = "formats",
         .type = F_FORMATS,
         .nonempty = true,
         .offset = OFF(formats),
         .expected = "raw or qcow2"},
        {.key = "overlays",
         .type = F_LIST,
         .unique = true,
         .offset = OFF(overlays),
         .check = is_overlay,
         .expected = "an overlay directory name (lowercase letters, digits, '.', '_', '-'; "
                     "no '/')"},
        {.key = "kubernetes", .type = F_MAP, .children = kubernetes_fields, .expected = "a mapping"},
        {.key = "images",
         .type = F_MAP,
         .children = images_fields,
         .expected = "a mapping with extra, source"},
        {.key = "addons",
         .type = F_MAP,
         .children = addons_fields,
         .expected = "a mapping with catalog, ship, default"},
        {.key = "registry-mirrors",
         .type = F_MIRRORS,
         .expected = "a mapping of registry host to {endpoint, ca-file, insecure}"},
        {},
};

/* convert_map() tracks the keys it has seen in a bool[32]. */
_Static_assert(ELEMENTSOF(profile_fields) <= 32, "too many keys in one mapping");

/* --- errors ------------------------------------------------------------ */

struct override_node {
        const struct ynode *node;
        const char *text; /* the --set argument */
        bool leaf;        /* the value itself, not a mapping created on the way */
};

struct ctx {
        const char *filename;
        struct override_node *overrides;
        size_t n_overrides;
        char *error;
};

static const char *kind_name(const struct ynode *n) {
        switch (n->kind) {
        case YNODE_SCALAR:
                return "a scalar";
        case YNODE_SEQUENCE:
                return "a list";
        case YNODE_MAPPING:
                return "a mapping";
        }
        return "?";
}

static const struct override_node *find_override(const struct ctx *c, const struct ynode *n) {
        if (!n)
                return NULL;
        for (size_t i = 0; i < c->n_overrides; i++)
                if (c->overrides[i].node == n)
                        return &c->overrides[i];
        return NULL;
}

/* Record the first error: "FILE:LINE:COLUMN: PATH: reason", or, for a value
 * that came from --set, "--set KEY=VALUE: reason". `n` is the node the error
 * is about (to find out whether it came from --set); `path` may be NULL. */
_printf_(6, 7) static int fail(struct ctx *c, const struct ynode *n, size_t line, size_t column,
                               const char *path, const char *fmt, ...) {
        if (c->error)
                return -EINVAL;
        _cleanup_free_ char *where = NULL, *printable_path = NULL;
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *reason = vstrdupf(fmt, ap);
        va_end(ap);
        if (!reason)
                return -ENOMEM;
        if (path) {
                printable_path = ystr_printable(path, 256);
                if (!printable_path)
                        return -ENOMEM;
        }

        int k;
        const struct override_node *o = find_override(c, n);
        if (o) {
                _cleanup_free_ char *text = ystr_printable(o->text, 256);
                if (!text)
                        return -ENOMEM;
                k = asprintf(&where, "--set %s", text);
                if (o->leaf) {
                        free(printable_path);
                        printable_path = NULL;
                }
        } else
                k = asprintf(&where, "%s:%zu:%zu", c->filename, line, column);
        if (k < 0) {
                where = NULL;
                return -ENOMEM;
        }

        if (printable_path)
                k = asprintf(&c->error, "%s: %s: %s", where, printable_path, reason);
        else
                k = asprintf(&c->error, "%s: %s", where, reason);
        if (k < 0) {
                c->error = NULL;
                return -ENOMEM;
        }
        return -EINVAL;
}

/* An error about a --set argument itself: "--set TEXT: reason". */
_printf_(3, 4) static int fail_override(struct ctx *c, const char *text, const char *fmt, ...) {
        if (c->error)
                return -EINVAL;
        _cleanup_free_ char *t = ystr_printable(text, 256);
        if (!t)
                return -ENOMEM;
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *reason = vstrdupf(fmt, ap);
        va_end(ap);
        if (!reason)
                return -ENOMEM;
        if (asprintf(&c->error, "--set %s: %s", t, reason) < 0) {
                c->error = NULL;
                return -ENOMEM;
        }
        return -EINVAL;
}

static char *child_path(const char *parent, const char *key) {
        char *p;
        if (asprintf(&p, "%s%s%s", parent ? parent : "", parent && *parent ? "." : "", key) < 0)
                return NULL;
        return p;
}

/* --- conversion -------------------------------------------------------- */

static int convert_map(struct ctx *c, const struct field *fields, const struct ynode *n, size_t line,
                       size_t column, void *base, const char *path);

static int check_no_tag(struct ctx *c, const struct ynode *n, const char *path) {
        if (n->tag)
                return fail(c, n, n->line, n->column, path, "YAML tags are not supported");
        return 0;
}

/* "PATH: expected WHAT, not 'VALUE'" (or "not a list" for a collection). */
static int fail_value(struct ctx *c, const struct field *f, const struct ynode *n, const char *path) {
        if (n->kind != YNODE_SCALAR)
                return fail(c, n, n->line, n->column, path, "expected %s, not %s", f->expected,
                            kind_name(n));
        if (ynode_is_null(n))
                return fail(c, n, n->line, n->column, path, "expected %s, not null", f->expected);
        _cleanup_free_ char *v = ystr_printable(n->value, 64);
        if (!v)
                return -ENOMEM;
        return fail(c, n, n->line, n->column, path, "expected %s, not '%s'", f->expected, v);
}

static int convert_string(struct ctx *c, const struct field *f, const struct ynode *n, const char *path,
                          char **ret) {
        if (n->kind != YNODE_SCALAR || (f->check && !f->check(n->value)))
                return fail_value(c, f, n, path);
        char *s = strdup(n->value);
        if (!s)
                return -ENOMEM;
        free(*ret);
        *ret = s;
        return 0;
}

static int convert_bool(struct ctx *c, const struct field *f, const struct ynode *n, const char *path,
                        bool *ret) {
        if (n->kind == YNODE_SCALAR && n->plain) {
                if (streq(n->value, "true") || streq(n->value, "True") || streq(n->value, "TRUE")) {
                        *ret = true;
                        return 0;
                }
                if (streq(n->value, "false") || streq(n->value, "False") || streq(n->value, "FALSE")) {
                        *ret = false;
                        return 0;
                }
        }
        return fail_value(c, f, n, path);
}

static int convert_size(struct ctx *c, const struct field *f, const struct ynode *n, const char *path,
                        uint64_t *ret) {
        if (n->kind == YNODE_SCALAR) {
                if (f->auto_size && streq(n->value, "auto")) {
                        *ret = 0;
                        return 0;
                }
                uint64_t v;
                if (parse_size(n->value, &v) >= 0 && (!f->auto_size || (v > 0 && v % MIB == 0))) {
                        *ret = v;
                        return 0;
                }
        }
        return fail_value(c, f, n, path);
}

/* A list whose items are all non-null scalars passing f->check. */
static int check_list(struct ctx *c, const struct field *f, const struct ynode *n, const char *path) {
        if (n->kind != YNODE_SEQUENCE)
                return fail(c, n, n->line, n->column, path, "expected a list, not %s (each item: %s)",
                            kind_name(n), f->expected);
        if (f->nonempty && n->n_items == 0)
                return fail(c, n, n->line, n->column, path, "expected at least one item (%s)", f->expected);
        if (n->n_items > PROFILE_MAX_LIST)
                return fail(c, n, n->line, n->column, path, "more than %u items", PROFILE_MAX_LIST);

        for (size_t i = 0; i < n->n_items; i++) {
                const struct ynode *item = n->items[i];
                _cleanup_free_ char *item_path = NULL;
                if (asprintf(&item_path, "%s[%zu]", path, i) < 0)
                        return -ENOMEM;
                int r = check_no_tag(c, item, item_path);
                if (r < 0)
                        return r;
                if (item->kind != YNODE_SCALAR || ynode_is_null(item) ||
                    (f->check && !f->check(item->value)))
                        return fail_value(c, f, item, item_path);
                _cleanup_free_ char *v = ystr_printable(item->value, 64);
                if (!v)
                        return -ENOMEM;
                if (f->unique)
                        for (size_t j = 0; j < i; j++)
                                if (streq(n->items[j]->value, item->value))
                                        return fail(c, item, item->line, item->column, item_path,
                                                    "'%s' is listed twice (first at %zu:%zu)", v,
                                                    n->items[j]->line, n->items[j]->column);
        }
        return 0;
}

static int convert_list(struct ctx *c, const struct field *f, const struct ynode *n, const char *path,
                        char ***ret) {
        int r = check_list(c, f, n, path);
        if (r < 0)
                return r;
        _cleanup_strv_free_ char **v = calloc(n->n_items + 1, sizeof(char *));
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < n->n_items; i++) {
                v[i] = strdup(n->items[i]->value);
                if (!v[i])
                        return -ENOMEM;
        }
        strv_free(*ret);
        *ret = TAKE_PTR(v);
        return 0;
}

static int convert_formats(struct ctx *c, const struct field *f, const struct ynode *n, const char *path,
                           unsigned *ret) {
        struct field items = *f;
        items.check = is_format;
        items.unique = true;
        int r = check_list(c, &items, n, path);
        if (r < 0)
                return r;
        unsigned formats = 0;
        for (size_t i = 0; i < n->n_items; i++)
                formats |= streq(n->items[i]->value, "raw") ? PROFILE_FORMAT_RAW : PROFILE_FORMAT_QCOW2;
        *ret = formats;
        return 0;
}

static int convert_mirrors(struct ctx *c, const struct field *f, const struct ynode *n, const char *path,
                           struct profile *p) {
        if (n->kind != YNODE_MAPPING)
                return fail(c, n, n->line, n->column, path, "expected %s, not %s", f->expected,
                            kind_name(n));
        if (n->n_items > PROFILE_MAX_REGISTRY_MIRRORS)
                return fail(c, n, n->line, n->column, path, "more than %u registry mirrors",
                            PROFILE_MAX_REGISTRY_MIRRORS);

        struct profile_registry_mirror *m = calloc(n->n_items ? n->n_items : 1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        /* owned by p from here: profile_free() releases what was filled in */
        p->registry_mirrors = m;
        p->n_registry_mirrors = 0;

        for (size_t i = 0; i < n->n_items; i++) {
                _cleanup_free_ char *item_path = child_path(path, n->keys[i]);
                if (!item_path)
                        return -ENOMEM;
                if (!is_registry_host(n->keys[i]))
                        return fail(c, n->items[i], n->key_lines[i], n->key_columns[i], item_path,
                                    "expected a registry host name, optionally with :port "
                                    "(e.g. docker.io, localhost:5000)");
                m[i].registry = strdup(n->keys[i]);
                if (!m[i].registry)
                        return -ENOMEM;
                p->n_registry_mirrors = i + 1;

                const struct ynode *v = n->items[i];
                int r = check_no_tag(c, v, item_path);
                if (r < 0)
                        return r;
                r = convert_map(c, mirror_fields, v, n->key_lines[i], n->key_columns[i], &m[i], item_path);
                if (r < 0)
                        return r;
                if (strncmp(m[i].endpoint, "http://", 7) == 0 && !m[i].insecure) {
                        const struct ynode *e = ynode_get(v, "endpoint");
                        _cleanup_free_ char *e_path = child_path(item_path, "endpoint");
                        if (!e_path)
                                return -ENOMEM;
                        return fail(c, e, e->line, e->column, e_path,
                                    "a plain http:// endpoint needs insecure: true");
                }
        }
        return 0;
}

static int convert_field(struct ctx *c, const struct field *f, const struct ynode *n, size_t key_line,
                         size_t key_column, void *base, const char *path) {
        int r = check_no_tag(c, n, path);
        if (r < 0)
                return r;

        /* null is "not given" for optional keys; mappings become empty */
        if (ynode_is_null(n) && f->type != F_MAP && f->type != F_MIRRORS) {
                if (f->required)
                        return fail(c, n, key_line, key_column, path, "expected %s, not null", f->expected);
                return 0;
        }

        void *dst = (char *) base + f->offset;
        switch (f->type) {
        case F_STRING:
                return convert_string(c, f, n, path, dst);
        case F_BOOL:
                return convert_bool(c, f, n, path, dst);
        case F_SIZE:
                return convert_size(c, f, n, path, dst);
        case F_LIST:
                return convert_list(c, f, n, path, dst);
        case F_FORMATS:
                return convert_formats(c, f, n, path, dst);
        case F_MAP:
                return convert_map(c, f->children, n, key_line, key_column, base, path);
        case F_MIRRORS:
                if (ynode_is_null(n))
                        return 0;
                return convert_mirrors(c, f, n, path, base);
        }
        return -EINVAL;
}

/* `n` is a mapping, or a null scalar (an empty mapping at key_line:key_column). */
static int convert_map(struct ctx *c, const struct field *fields, const struct ynode *n, size_t key_line,
                       size_t key_column, void *base, const char *path) {
        size_t line = key_line, column = key_column;
        if (n->kind == YNODE_MAPPING) {
                line = n->line;
                column = n->column;
        } else if (!ynode_is_null(n))
                return fail(c, n, n->line, n->column, path, "expected a mapping, not %s", kind_name(n));

        bool seen[32] = {};
        for (size_t i = 0; i < n->n_items; i++) {
                _cleanup_free_ char *key_path = child_path(path, n->keys[i]);
                if (!key_path)
                        return -ENOMEM;
                size_t j = 0;
                for (; fields[j].key; j++)
                        if (streq(fields[j].key, n->keys[i]))
                                break;
                if (!fields[j].key)
                        return fail(c, n, n->key_lines[i], n->key_columns[i], key_path, "unknown key");
                seen[j] = true;
                int r = convert_field(c, &fields[j], n->items[i], n->key_lines[i], n->key_columns[i], base,
                                      key_path);
                if (r < 0)
                        return r;
        }

        for (size_t j = 0; fields[j].key; j++) {
                if (seen[j] || !fields[j].required)
                        continue;
                _cleanup_free_ char *key_path = child_path(path, fields[j].key);
                if (!key_path)
                        return -ENOMEM;
                return fail(c, n, line, column, key_path, "required key is missing (expected %s)",
                            fields[j].expected);
        }
        return 0;
}

/* --- overrides --------------------------------------------------------- */

static const struct field *find_field(const struct field *fields, const char *key, size_t len) {
        for (size_t j = 0; fields[j].key; j++)
                if (strlen(fields[j].key) == len && strncmp(fields[j].key, key, len) == 0)
                        return &fields[j];
        return NULL;
}

static int remember_override(struct ctx *c, const struct ynode *n, const char *text, bool leaf) {
        struct override_node *o = reallocarray(c->overrides, c->n_overrides + 1, sizeof(*o));
        if (!o)
                return -ENOMEM;
        c->overrides = o;
        c->overrides[c->n_overrides++] = (struct override_node){n, text, leaf};
        return 0;
}

static void forget_override(struct ctx *c, const struct ynode *n) {
        for (size_t i = 0; i < c->n_overrides; i++)
                if (c->overrides[i].node == n)
                        c->overrides[i].node = NULL;
}

/* The mapping `map[key]`, created when absent or null. */
static int descend(struct ctx *c, struct ynode *map, const char *key, const char *text, const char *path,
                   struct ynode **ret) {
        struct ynode *child = ynode_get(map, key);
        if (child && child->kind == YNODE_MAPPING) {
                *ret = child;
                return 0;
        }
        if (child && !ynode_is_null(child))
                return fail(c, child, child->line, child->column, path,
                            "expected a mapping, not %s (while applying --set %s)", kind_name(child), text);
        /* A null in the file ("kernel:") stays the file's: errors about the
         * mapping replacing it point there. A mapping --set had to create
         * (or that replaces one it created) belongs to the override. */
        bool from_file = child && !find_override(c, child);
        size_t line = 0, column = 0;
        for (size_t i = 0; from_file && i < map->n_items; i++)
                if (map->items[i] == child) {
                        /* where the key is, as for a null mapping left alone */
                        line = map->key_lines[i];
                        column = map->key_columns[i];
                }
        struct ynode *m = ynode_new_mapping(line, column);
        if (!m)
                return -ENOMEM;
        forget_override(c, child);
        int r = ynode_map_set(map, key, m, 0, 0);
        if (r < 0) {
                ynode_free(m);
                return r;
        }
        if (!from_file) {
                r = remember_override(c, m, text, false);
                if (r < 0)
                        return r;
        }
        *ret = m;
        return 0;
}

static bool is_scalar_type(enum ftype t) {
        return t == F_STRING || t == F_BOOL || t == F_SIZE;
}

#define OVERRIDE_LIST_MAX (64u * 1024u)

/* A list key's --set value: a YAML flow list, "[vim, curl]" ("[]": empty).
 * The list and its items belong to the override, so errors about them name
 * the --set argument. */
static int parse_override_list(struct ctx *c, const char *text, const char *key, const char *value,
                               struct ynode **ret) {
        if (*value != '[')
                return fail_override(c, text, "%s is a list; --set takes it as a YAML flow list: %s=[a, b]",
                                     key, key);
        struct yaml_limits limits = yaml_default_limits;
        limits.max_input = OVERRIDE_LIST_MAX;
        limits.max_depth = 2;
        _cleanup_ynode_ struct ynode *n = NULL;
        _cleanup_free_ char *err = NULL;
        int r = yaml_parse_one(value, strlen(value), &limits, &n, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || n->kind != YNODE_SEQUENCE) {
                /* libyaml's words, without its "line:column: " (one line here). */
                const char *why = err ? strstr(err, ": ") : NULL;
                return fail_override(c, text, "expected a YAML flow list such as [a, b]%s%s%s",
                                     why ? " (" : "", why ? why + 2 : "", why ? ")" : "");
        }
        for (size_t i = 0; i < n->n_items; i++)
                if (remember_override(c, n->items[i], text, false) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(n);
        return 0;
}

static int apply_override(struct ctx *c, struct ynode *root, const char *text) {
        const char *eq = strchr(text, '=');
        if (!eq || eq == text)
                return fail_override(c, text, "expected key.path=value");
        _cleanup_free_ char *key_path = strndup(text, (size_t) (eq - text));
        if (!key_path)
                return -ENOMEM;
        const char *value = eq + 1;

        const struct field *fields = profile_fields, *f = NULL;
        struct ynode *map = root;
        const char *seg = key_path;
        _cleanup_free_ char *leaf_key = NULL;
        for (;;) {
                const char *dot = strchr(seg, '.');
                size_t len = dot ? (size_t) (dot - seg) : strlen(seg);
                f = find_field(fields, seg, len);
                if (!f)
                        break;
                _cleanup_free_ char *walked = strndup(key_path, (size_t) (seg + len - key_path));
                if (!walked)
                        return -ENOMEM;

                if (f->type == F_MAP && dot) {
                        int r = descend(c, map, f->key, text, walked, &map);
                        if (r < 0)
                                return r;
                        fields = f->children;
                        seg = dot + 1;
                        continue;
                }
                if (f->type == F_MIRRORS && dot) {
                        /* registry-mirrors.<host, may contain dots>.<leaf> */
                        const char *last = strrchr(seg, '.');
                        if (last == dot) {
                                f = NULL;
                                break;
                        }
                        int r = descend(c, map, f->key, text, walked, &map);
                        if (r < 0)
                                return r;
                        _cleanup_free_ char *host = strndup(dot + 1, (size_t) (last - dot - 1));
                        if (!host)
                                return -ENOMEM;
                        _cleanup_free_ char *host_path = strndup(key_path, (size_t) (last - key_path));
                        if (!host_path)
                                return -ENOMEM;
                        r = descend(c, map, host, text, host_path, &map);
                        if (r < 0)
                                return r;
                        fields = mirror_fields;
                        seg = last + 1;
                        continue;
                }
                if (dot)
                        f = NULL; /* a scalar or list key with more after it */
                else
                        leaf_key = strdup(f->key);
                break;
        }

        if (!f) {
                _cleanup_free_ char *k = ystr_printable(key_path, 128);
                if (!k)
                        return -ENOMEM;
                return fail_override(c, text, "unknown key '%s'", k);
        }
        if (!leaf_key)
                return -ENOMEM;
        if (f->type == F_MAP || f->type == F_MIRRORS)
                return fail_override(c, text, "%s is a mapping; --set only sets single values and lists",
                                     f->key);

        struct ynode *v = NULL;
        if (is_scalar_type(f->type) || !*value || streq(value, "~") || streq(value, "null"))
                v = ynode_new_scalar(value, true, 0, 0);
        else {
                int r = parse_override_list(c, text, f->key, value, &v);
                if (r < 0)
                        return r;
        }
        if (!v)
                return -ENOMEM;
        forget_override(c, ynode_get(map, leaf_key));
        int r = ynode_map_set(map, leaf_key, v, 0, 0);
        if (r < 0) {
                ynode_free(v);
                return r;
        }
        return remember_override(c, v, text, true);
}

/* --- entry points ------------------------------------------------------ */

void profile_free(struct profile *p) {
        if (!p)
                return;
        free(p->path);
        free(p->name);
        free(p->distro);
        free(p->suite);
        free(p->mirror_main);
        free(p->mirror_ports);
        free(p->mirror_updates);
        free(p->mirror_security);
        free(p->keyring);
        free(p->keyring_package);
        strv_free(p->components);
        strv_free(p->packages);
        free(p->kernel_package);
        free(p->kernel_cmdline);
        strv_free(p->initramfs_modules);
        strv_free(p->overlays);
        free(p->kubernetes.version);
        free(p->kubernetes.release_url);
        free(p->kubernetes.source);
        free(p->kubernetes.crictl_version);
        free(p->kubernetes.crictl_url);
        free(p->kubernetes.cni_version);
        free(p->kubernetes.cni_url);
        free(p->kubernetes.etcd_image_tag);
        strv_free(p->kubernetes.init_skip_phases);
        strv_free(p->images_extra);
        free(p->images_source);
        free(p->addons.catalog);
        strv_free(p->addons.ship);
        strv_free(p->addons.defaults);
        for (size_t i = 0; i < p->n_registry_mirrors; i++) {
                free(p->registry_mirrors[i].registry);
                free(p->registry_mirrors[i].endpoint);
                free(p->registry_mirrors[i].ca_file);
        }
        free(p->registry_mirrors);
        free(p);
}

static int strv_default(char ***v, const char *item) {
        if (*v)
                return 0;
        char **n = calloc(2, sizeof(char *));
        if (!n)
                return -ENOMEM;
        if (item) {
                n[0] = strdup(item);
                if (!n[0]) {
                        free(n);
                        return -ENOMEM;
                }
        }
        *v = n;
        return 0;
}

static int apply_defaults(struct profile *p) {
        int r;
        if ((r = strv_default(&p->components, "main")) < 0 || (r = strv_default(&p->packages, NULL)) < 0 ||
            (r = strv_default(&p->initramfs_modules, NULL)) < 0 ||
            (r = strv_default(&p->overlays, "base")) < 0 || (r = strv_default(&p->images_extra, NULL)) < 0)
                return r;
        if (!p->kernel_cmdline) {
                p->kernel_cmdline = strdup("");
                if (!p->kernel_cmdline)
                        return -ENOMEM;
        }
        if (p->formats == 0)
                p->formats = PROFILE_FORMAT_RAW | PROFILE_FORMAT_QCOW2;
        if (p->disk_headroom == HEADROOM_UNSET)
                p->disk_headroom = p->disk_size == 0 ? GIB : 0;
        return 0;
}

static void ctx_done(struct ctx *c) {
        free(c->overrides);
        free(c->error);
}

int profile_parse(const char *filename, const char *data, size_t size, char *const *overrides,
                  struct profile **ret, char **ret_error) {
        _cleanup_(ctx_done) struct ctx c = {.filename = filename ? filename : "<profile>"};

        struct yaml_limits limits = yaml_default_limits;
        limits.max_input = PROFILE_MAX_SIZE;
        limits.max_depth = 16;
        _cleanup_ynode_ struct ynode *root = NULL;
        _cleanup_free_ char *yaml_error = NULL;
        int r = yaml_parse_one(data, size, &limits, &root, &yaml_error);
        if (r < 0) {
                if (ret_error && yaml_error && asprintf(ret_error, "%s:%s", c.filename, yaml_error) < 0) {
                        *ret_error = NULL;
                        return -ENOMEM;
                }
                return r;
        }

        if (root->kind != YNODE_MAPPING)
                r = fail(&c, root, root->line, root->column, NULL,
                         "expected a mapping of profile keys, not %s", kind_name(root));
        for (char *const *o = overrides; r >= 0 && o && *o; o++)
                r = apply_override(&c, root, *o);

        _cleanup_profile_ struct profile *p = NULL;
        if (r >= 0) {
                p = calloc(1, sizeof(*p));
                if (!p)
                        return -ENOMEM;
                p->disk_headroom = HEADROOM_UNSET;
                p->path = strdup(c.filename);
                if (!p->path)
                        return -ENOMEM;
                r = convert_map(&c, profile_fields, root, 1, 1, p, NULL);
                p->has_addons = ynode_get(root, "addons") != NULL;
        }
        if (r >= 0)
                r = apply_defaults(p);
        if (r < 0) {
                if (ret_error && c.error)
                        *ret_error = TAKE_PTR(c.error);
                return r;
        }

        if (ret)
                *ret = TAKE_PTR(p);
        return 0;
}

int profile_load(const char *path, char *const *overrides, struct profile **ret, char **ret_error) {
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        int r = read_file_full(path, PROFILE_MAX_SIZE, &data, &size);
        if (r >= 0 && size > PROFILE_MAX_SIZE)
                r = -EFBIG;
        if (r < 0) {
                if (ret_error) {
                        int k = r == -EFBIG ? asprintf(ret_error, "%s: larger than %u bytes", path,
                                                       PROFILE_MAX_SIZE)
                                            : asprintf(ret_error, "%s: %s", path, strerror(-r));
                        if (k < 0)
                                *ret_error = NULL;
                }
                return r;
        }
        return profile_parse(path, data, size, overrides, ret, ret_error);
}
