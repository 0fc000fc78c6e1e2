/* SPDX-License-Identifier: MIT */
#include "nodeconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cert.h"
#include "macro.h"
#include "seed.h"
#include "strv.h"
#include "yamltree.h"

/* ---- small helpers ------------------------------------------------------ */

static bool is_lower_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
static bool is_alnum(char c) {
        return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}
static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}
static bool is_hex(char c) {
        return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Decimal without sign or leading zero, at most `max`. */
static bool parse_uint(const char *s, size_t len, unsigned long max, unsigned long *ret) {
        if (len == 0 || len > 10 || (len > 1 && s[0] == '0'))
                return false;
        unsigned long v = 0;
        for (size_t i = 0; i < len; i++) {
                if (!is_digit(s[i]))
                        return false;
                v = v * 10 + (unsigned long) (s[i] - '0');
        }
        if (v > max)
                return false;
        if (ret)
                *ret = v;
        return true;
}

/* ---- names -------------------------------------------------------------- */

static const char *const role_names[_NODE_ROLE_MAX] = {
        [NODE_ROLE_CONTROL_PLANE] = "control-plane",
        [NODE_ROLE_WORKER] = "worker",
        [NODE_ROLE_CONTROL_PLANE_JOIN] = "control-plane-join",
};

const char *node_role_to_string(enum node_role r) {
        if (r < 0 || r >= _NODE_ROLE_MAX)
                return "invalid";
        return role_names[r];
}

enum node_role node_role_from_string(const char *s) {
        for (int i = 0; s && i < _NODE_ROLE_MAX; i++)
                if (streq(s, role_names[i]))
                        return (enum node_role) i;
        return _NODE_ROLE_INVALID;
}

const char *power_mode_to_string(enum power_mode m) {
        switch (m) {
        case POWER_MODE_NONE:
                return "none";
        case POWER_MODE_POWEROFF:
                return "poweroff";
        case POWER_MODE_REBOOT:
                return "reboot";
        case POWER_MODE_HALT:
                return "halt";
        }
        return "invalid";
}

/* ---- validators --------------------------------------------------------- */

bool nodeconfig_token_valid(const char *s) {
        if (!s || strlen(s) != NODECONFIG_TOKEN_LEN || s[6] != '.')
                return false;
        for (size_t i = 0; i < NODECONFIG_TOKEN_LEN; i++)
                if (i != 6 && !is_lower_alnum(s[i]))
                        return false;
        return true;
}

bool nodeconfig_certificate_key_valid(const char *s) {
        if (!s || strlen(s) != NODECONFIG_CERT_KEY_LEN)
                return false;
        for (const char *p = s; *p; p++)
                if (!is_hex(*p))
                        return false;
        return true;
}

bool nodeconfig_ip_valid(const char *s) {
        unsigned char buf[sizeof(struct in6_addr)];
        if (!s || strlen(s) >= INET6_ADDRSTRLEN)
                return false;
        return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* A DNS name that cannot be mistaken for an address: its last label is not
 * all digits (RFC 3696 section 2). */
static bool dns_name_valid(const char *s) {
        if (!seed_hostname_valid(s))
                return false;
        const char *last = strrchr(s, '.');
        last = last ? last + 1 : s;
        for (const char *p = last; *p; p++)
                if (!is_digit(*p))
                        return true;
        return false;
}

int nodeconfig_endpoint_parse(const char *s, char **ret_host, uint16_t *ret_port) {
        if (!s || strlen(s) > NODECONFIG_NAME_MAX + 8)
                return -EINVAL;
        const char *colon = strrchr(s, ':');
        if (!colon)
                return -EINVAL;
        unsigned long port;
        if (!parse_uint(colon + 1, strlen(colon + 1), 65535, &port) || port == 0)
                return -EINVAL;

        size_t hlen = (size_t) (colon - s);
        char host[NODECONFIG_NAME_MAX + 8];
        if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']') {
                memcpy(host, s + 1, hlen - 2);
                host[hlen - 2] = '\0';
                unsigned char buf[sizeof(struct in6_addr)];
                if (inet_pton(AF_INET6, host, buf) != 1)
                        return -EINVAL;
        } else {
                memcpy(host, s, hlen);
                host[hlen] = '\0';
                unsigned char buf[sizeof(struct in_addr)];
                if (inet_pton(AF_INET, host, buf) != 1 && !dns_name_valid(host))
                        return -EINVAL;
        }
        if (ret_host) {
                char *h = strdup(host);
                if (!h)
                        return -ENOMEM;
                *ret_host = h;
        }
        if (ret_port)
                *ret_port = (uint16_t) port;
        return 0;
}

int nodeconfig_cidr_parse(const char *s) {
        if (!s)
                return -EINVAL;
        const char *slash = strchr(s, '/');
        if (!slash || (size_t) (slash - s) >= INET6_ADDRSTRLEN)
                return -EINVAL;
        char addr[INET6_ADDRSTRLEN];
        memcpy(addr, s, (size_t) (slash - s));
        addr[slash - s] = '\0';

        unsigned char buf[sizeof(struct in6_addr)] = {};
        int family;
        size_t bits;
        if (inet_pton(AF_INET, addr, buf) == 1) {
                family = AF_INET;
                bits = 32;
        } else if (inet_pton(AF_INET6, addr, buf) == 1) {
                family = AF_INET6;
                bits = 128;
        } else
                return -EINVAL;

        unsigned long prefix;
        if (!parse_uint(slash + 1, strlen(slash + 1), bits, &prefix))
                return -EINVAL;
        /* Host bits must be zero: 10.244.0.1/16 is a mistake, not a network. */
        for (size_t bit = prefix; bit < bits; bit++)
                if (buf[bit / 8] & (0x80U >> (bit % 8)))
                        return -EINVAL;
        return family;
}

bool nodeconfig_subnets_valid(const char *s) {
        if (!s || strlen(s) > 2 * (INET6_ADDRSTRLEN + 4))
                return false;
        const char *comma = strchr(s, ',');
        if (!comma)
                return nodeconfig_cidr_parse(s) > 0;
        char first[2 * (INET6_ADDRSTRLEN + 4)];
        memcpy(first, s, (size_t) (comma - s));
        first[comma - s] = '\0';
        int a = nodeconfig_cidr_parse(first), b = nodeconfig_cidr_parse(comma + 1);
        /* Dual stack: exactly one of each family. */
        return a > 0 && b > 0 && a != b;
}

bool nodeconfig_version_valid(const char *s) {
        if (!s || s[0] != 'v' || strlen(s) > 64)
                return false;
        const char *p = s + 1;
        for (int part = 0; part < 3; part++) {
                size_t n = strspn(p, "0123456789");
                if (!parse_uint(p, n, 999999, NULL))
                        return false;
                p += n;
                if (part < 2) {
                        if (*p != '.')
                                return false;
                        p++;
                }
        }
        if (*p == '\0')
                return true;
        if (*p != '-' || p[1] == '\0')
                return false;
        for (p++; *p; p++)
                if (!is_alnum(*p) && *p != '.' && *p != '-')
                        return false;
        return true;
}

bool nodeconfig_addon_name_valid(const char *s) {
        size_t n = s ? strlen(s) : 0;
        if (n == 0 || n > 63 || s[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_lower_alnum(s[i]) && s[i] != '-')
                        return false;
        return true;
}

/* A label name or value: 1-63 of [A-Za-z0-9_.-], alphanumeric at both ends. */
static bool label_name_valid(const char *s, size_t n) {
        if (n == 0 || n > 63 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
                        return false;
        return true;
}

bool nodeconfig_label_key_valid(const char *s) {
        if (!s)
                return false;
        const char *slash = strchr(s, '/');
        if (!slash)
                return label_name_valid(s, strlen(s));
        size_t plen = (size_t) (slash - s);
        if (plen == 0 || plen > NODECONFIG_NAME_MAX)
                return false;
        /* The prefix is a DNS subdomain: lowercase. */
        char prefix[NODECONFIG_NAME_MAX + 1];
        memcpy(prefix, s, plen);
        prefix[plen] = '\0';
        for (size_t i = 0; i < plen; i++)
                if (prefix[i] >= 'A' && prefix[i] <= 'Z')
                        return false;
        return seed_hostname_valid(prefix) && label_name_valid(slash + 1, strlen(slash + 1));
}

bool nodeconfig_label_value_valid(const char *s) {
        return s && (s[0] == '\0' || label_name_valid(s, strlen(s)));
}

bool nodeconfig_disk_valid(const char *s) {
        if (!s || strncmp(s, "/dev/", 5) != 0 || strlen(s) > NODECONFIG_NAME_MAX)
                return false;
        for (const char *seg = s + 5;;) {
                size_t n = strcspn(seg, "/");
                if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
                        return false;
                for (size_t i = 0; i < n; i++)
                        if ((unsigned char) seg[i] <= ' ' || seg[i] == 0x7f)
                                return false;
                if (!seg[n])
                        return true;
                seg += n + 1;
        }
}

void node_taint_done(struct node_taint *t) {
        free(t->key);
        free(t->value);
        free(t->effect);
        *t = (struct node_taint){};
}

int nodeconfig_taint_parse(const char *s, struct node_taint *ret) {
        static const char *const effects[] = {"NoSchedule", "PreferNoSchedule", "NoExecute"};
        if (!s || strlen(s) > NODECONFIG_NAME_MAX + 64 + 20)
                return -EINVAL;
        const char *colon = strrchr(s, ':');
        if (!colon)
                return -EINVAL;
        const char *effect = NULL;
        for (size_t i = 0; i < ELEMENTSOF(effects); i++)
                if (streq(colon + 1, effects[i]))
                        effect = effects[i];
        if (!effect)
                return -EINVAL;

        char kv[NODECONFIG_NAME_MAX + 64 + 20];
        memcpy(kv, s, (size_t) (colon - s));
        kv[colon - s] = '\0';
        char *eq = strchr(kv, '=');
        const char *value = NULL;
        if (eq) {
                *eq = '\0';
                value = eq + 1;
                if (!nodeconfig_label_value_valid(value))
                        return -EINVAL;
                if (value[0] == '\0')
                        value = NULL;
        }
        if (!nodeconfig_label_key_valid(kv))
                return -EINVAL;

        struct node_taint t = {
                .key = strdup(kv),
                .value = value ? strdup(value) : NULL,
                .effect = strdup(effect),
        };
        if (!t.key || !t.effect || (value && !t.value)) {
                node_taint_done(&t);
                return -ENOMEM;
        }
        if (ret)
                *ret = t;
        else
                node_taint_done(&t);
        return 0;
}

/* ---- the config --------------------------------------------------------- */

void nodeconfig_done(struct nodeconfig *c) {
        if (!c)
                return;
        free(c->source);
        free(c->instance_id);
        free(c->hostname);
        free(c->endpoint);
        free(c->endpoint_host);
        erase_free(c->token);
        strv_free(c->ca_cert_hashes);
        erase_free(c->ca_cert);
        erase_free(c->ca_key);
        erase_free(c->certificate_key);
        free(c->pod_subnet);
        free(c->service_subnet);
        free(c->kubernetes_version);
        free(c->node_ip);
        strv_free(c->labels);
        strv_free(c->disks);
        for (size_t i = 0; i < c->n_taints; i++)
                node_taint_done(&c->taints[i]);
        free(c->taints);
        strv_free(c->addons);
        strv_free(c->warnings);
        explicit_bzero(c, sizeof(*c));
}

bool nodeconfig_should_untaint(const struct nodeconfig *c) {
        if (c->role != NODE_ROLE_CONTROL_PLANE)
                return false;
        if (c->schedule_workloads_set)
                return c->schedule_workloads;
        return !c->workers_set || c->workers == 0;
}

/* ---- parsing ------------------------------------------------------------ */

struct ctx {
        const struct nodeconfig_input *in;
        bool cmdline;
        char **error;
        struct nodeconfig *c;
        /* Where things are, for cross-field messages. */
        const struct ynode *kubeseed, *cluster, *n_endpoint, *n_token, *n_hashes, *n_ca_cert, *n_ca_key,
                *n_cert_key;
};

/* The kernel command line's kubeseed.<name> keys and the YAML path each
 * stands for. "list" keys accumulate (repeated and/or comma-separated). */
static const struct cmdline_key {
        const char *name;
        const char *path;
        bool list;
} cmdline_keys[] = {
        {"role", "kubeseed.role", false},
        {"endpoint", "kubeseed.cluster.endpoint", false},
        {"token", "kubeseed.cluster.token", false},
        {"ca-cert-hash", "kubeseed.cluster.ca-cert-hash", true},
        {"certificate-key", "kubeseed.cluster.certificate-key", false},
        {"pod-subnet", "kubeseed.cluster.pod-subnet", false},
        {"service-subnet", "kubeseed.cluster.service-subnet", false},
        {"kubernetes-version", "kubeseed.cluster.kubernetes-version", false},
        {"node-ip", "kubeseed.node.ip", false},
        {"schedule-workloads", "kubeseed.schedule-workloads", false},
        {"workers", "kubeseed.workers", false},
        {"addons", "kubeseed.addons", true},
        {"power-state", "power_state.mode", false},
        {"instance-id", NULL, false}, /* meta-data's instance-id */
        {"hostname", NULL, false},    /* meta-data's local-hostname */
};

/* The name the user wrote for a YAML path: itself for user-data,
 * "kubeseed.<key>" for the kernel command line. */
static const char *display_path(const struct ctx *x, const char *path, char *buf, size_t size) {
        if (!x->cmdline)
                return path;
        size_t n = strcspn(path, "[");
        for (size_t i = 0; i < ELEMENTSOF(cmdline_keys); i++)
                if (cmdline_keys[i].path && strlen(cmdline_keys[i].path) == n &&
                    strncmp(cmdline_keys[i].path, path, n) == 0) {
                        snprintf(buf, size, "kubeseed.%s", cmdline_keys[i].name);
                        return buf;
                }
        return path;
}

/* "<source>: user-data:<line>:<column>: <path>: <what>". Never pass a
 * field's value in `fmt`'s arguments. */
_printf_(5, 6) static int fail(struct ctx *x, const struct ynode *at, const char *path, int r,
                               const char *fmt, ...) {
        if (!x->error)
                return r;
        va_list ap;
        va_start(ap, fmt);
        char *what = vstrdupf(fmt, ap);
        va_end(ap);
        if (!what)
                return -ENOMEM;

        char pbuf[128], loc[64] = "";
        const char *shown = path ? display_path(x, path, pbuf, sizeof pbuf) : NULL;
        if (!x->cmdline) {
                if (at && at->line > 0)
                        snprintf(loc, sizeof loc, "user-data:%zu:%zu: ", at->line, at->column);
                else
                        snprintf(loc, sizeof loc, "user-data: ");
        }
        char *msg = NULL;
        if (asprintf(&msg, "%s: %s%s%s%s", x->in->source, loc, shown ? shown : "", shown ? ": " : "", what) <
            0)
                msg = NULL;
        free(what);
        if (!msg)
                return -ENOMEM;
        free(*x->error);
        *x->error = msg;
        return r;
}

/* Like fail() at a mapping key's position. */
static int fail_key(struct ctx *x, const struct ynode *map, size_t i, const char *path, const char *what) {
        struct ynode at = {.line = map->key_lines ? map->key_lines[i] : 0,
                           .column = map->key_columns ? map->key_columns[i] : 0};
        return fail(x, &at, path, -EBADMSG, "%s", what);
}

static int check_keys(struct ctx *x, const struct ynode *map, const char *path, const char *const *allowed) {
        for (size_t i = 0; i < map->n_items; i++) {
                if (strv_contains((char *const *) allowed, map->keys[i]))
                        continue;
                _cleanup_free_ char *k = ystr_printable(map->keys[i], 64);
                _cleanup_free_ char *list = strv_join((char *const *) allowed, ", ");
                _cleanup_free_ char *full = NULL, *what = NULL;
                if (!k || !list || asprintf(&full, "%s.%s", path, k) < 0 ||
                    asprintf(&what, "expected one of the keys %s (unknown key)", list) < 0)
                        return -ENOMEM;
                return fail_key(x, map, i, full, what);
        }
        return 0;
}

/* The scalar at map[key]: NULL (and *ret_node NULL) when absent or null.
 * Refuses non-scalars and strings longer than `max`. */
static int get_str(struct ctx *x, const struct ynode *map, const char *key, const char *path, size_t max,
                   const struct ynode **ret_node, const char **ret) {
        const struct ynode *n = map ? ynode_get(map, key) : NULL;
        *ret = NULL;
        if (ret_node)
                *ret_node = NULL;
        if (!n || ynode_is_null(n))
                return 0;
        if (n->kind != YNODE_SCALAR)
                return fail(x, n, path, -EBADMSG, "expected a string, not a %s",
                            n->kind == YNODE_MAPPING ? "mapping" : "list");
        if (strlen(n->value) > max)
                return fail(x, n, path, -EBADMSG, "expected at most %zu characters", max);
        *ret = n->value;
        if (ret_node)
                *ret_node = n;
        return 0;
}

static int dup_to(char **dst, const char *s) {
        if (!s)
                return 0;
        char *d = strdup(s);
        if (!d)
                return -ENOMEM;
        *dst = d;
        return 0;
}

static int add_warning(struct ctx *x, const char *fmt, ...) _printf_(2, 3);
static int add_warning(struct ctx *x, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        char *w = vstrdupf(fmt, ap);
        va_end(ap);
        if (!w)
                return -ENOMEM;
        int r = strv_push(&x->c->warnings, w);
        free(w);
        return r;
}

static bool parse_bool(const struct ynode *n, bool *ret) {
        static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
        static const char *const no[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
        if (n->kind != YNODE_SCALAR || !n->plain)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (streq(n->value, yes[i])) {
                        *ret = true;
                        return true;
                }
                if (streq(n->value, no[i])) {
                        *ret = false;
                        return true;
                }
        }
        return false;
}

/* A string or a list of strings, each checked by `valid`. */
static int get_str_list(struct ctx *x, const struct ynode *n, const char *path, size_t max_len,
                        bool (*valid)(const char *), const char *what, char ***ret) {
        if (n->kind == YNODE_MAPPING)
                return fail(x, n, path, -EBADMSG, "expected a list of %s", what);
        if (n->kind == YNODE_SCALAR) {
                if (strlen(n->value) > max_len || !valid(n->value))
                        return fail(x, n, path, -EBADMSG, "expected %s", what);
                return strv_push(ret, n->value);
        }
        if (n->n_items == 0)
                return fail(x, n, path, -EBADMSG, "expected a non-empty list of %s", what);
        if (n->n_items > NODECONFIG_LIST_MAX)
                return fail(x, n, path, -EBADMSG, "expected at most %u items", NODECONFIG_LIST_MAX);
        for (size_t i = 0; i < n->n_items; i++) {
                const struct ynode *item = n->items[i];
                char ipath[128];
                snprintf(ipath, sizeof ipath, "%s[%zu]", path, i);
                if (item->kind != YNODE_SCALAR || strlen(item->value) > max_len || !valid(item->value))
                        return fail(x, item, ipath, -EBADMSG, "expected %s", what);
                if (strv_contains(*ret, item->value))
                        return fail(x, item, ipath, -EBADMSG, "expected each item once (this one repeats)");
                int r = strv_push(ret, item->value);
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool hash_valid(const char *s) {
        return cert_hash_string_valid(s) > 0;
}

#define MSG_TOKEN "expected 6 lowercase letters or digits, a dot, and 16 more"
#define MSG_HASH "expected sha256: and 64 hexadecimal digits"
#define MSG_ENDPOINT                                                                                        \
        "expected host:port (host an IPv4 address, an [IPv6] address or a DNS name; port 1-65535)"
#define MSG_SUBNET                                                                                          \
        "expected a CIDR such as 10.244.0.0/16 with the host bits zero, or an IPv4 and an IPv6 CIDR "       \
        "separated by a comma"

static int parse_cluster(struct ctx *x, const struct ynode *cl) {
        static const char *const keys[] = {
                "endpoint",   "token",          "ca-cert-hash",       "ca-cert", "ca-key", "certificate-key",
                "pod-subnet", "service-subnet", "kubernetes-version", NULL};
        struct nodeconfig *c = x->c;
        if (cl->kind != YNODE_MAPPING)
                return fail(x, cl, "kubeseed.cluster", -EBADMSG,
                            "expected a mapping (endpoint, token, ca-cert-hash, ...)");
        int r = check_keys(x, cl, "kubeseed.cluster", keys);
        if (r < 0)
                return r;

        const char *s;
        const struct ynode *n;

        r = get_str(x, cl, "endpoint", "kubeseed.cluster.endpoint", NODECONFIG_NAME_MAX + 8, &n, &s);
        if (r < 0)
                return r;
        if (s) {
                r = nodeconfig_endpoint_parse(s, &c->endpoint_host, &c->endpoint_port);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return fail(x, n, "kubeseed.cluster.endpoint", -EBADMSG, MSG_ENDPOINT);
                if ((r = dup_to(&c->endpoint, s)) < 0)
                        return r;
                x->n_endpoint = n;
        }

        /* The token: no length in the message beyond the format, never the value. */
        r = get_str(x, cl, "token", "kubeseed.cluster.token", SIZE_MAX, &n, &s);
        if (r < 0)
                return r;
        if (s) {
                if (!nodeconfig_token_valid(s))
                        return fail(x, n, "kubeseed.cluster.token", -EBADMSG, MSG_TOKEN);
                if ((r = dup_to(&c->token, s)) < 0)
                        return r;
                x->n_token = n;
        }

        n = ynode_get(cl, "ca-cert-hash");
        if (n && !ynode_is_null(n)) {
                r = get_str_list(x, n, "kubeseed.cluster.ca-cert-hash", CERT_HASH_STRING_MAX, hash_valid,
                                 "sha256: and 64 hexadecimal digits", &c->ca_cert_hashes);
                if (r < 0)
                        return r;
                for (char **h = c->ca_cert_hashes; h && *h; h++)
                        for (char *p = *h; *p; p++)
                                if (*p >= 'A' && *p <= 'F')
                                        *p = (char) (*p - 'A' + 'a');
                x->n_hashes = n;
        }

        r = get_str(x, cl, "ca-cert", "kubeseed.cluster.ca-cert", NODECONFIG_PEM_MAX, &n, &s);
        if (r < 0)
                return r;
        if (s) {
                if ((r = dup_to(&c->ca_cert, s)) < 0)
                        return r;
                x->n_ca_cert = n;
        }
        r = get_str(x, cl, "ca-key", "kubeseed.cluster.ca-key", NODECONFIG_PEM_MAX, &n, &s);
        if (r < 0)
                return r;
        if (s) {
                if ((r = dup_to(&c->ca_key, s)) < 0)
                        return r;
                x->n_ca_key = n;
        }

        r = get_str(x, cl, "certificate-key", "kubeseed.cluster.certificate-key", SIZE_MAX, &n, &s);
        if (r < 0)
                return r;
        if (s) {
                if (!nodeconfig_certificate_key_valid(s))
                        return fail(x, n, "kubeseed.cluster.certificate-key", -EBADMSG,
                                    "expected 64 hexadecimal digits (kubeadm's certificate key)");
                if ((r = dup_to(&c->certificate_key, s)) < 0)
                        return r;
                for (char *p = c->certificate_key; *p; p++)
                        if (*p >= 'A' && *p <= 'F')
                                *p = (char) (*p - 'A' + 'a');
                x->n_cert_key = n;
        }

        static const struct {
                const char *key, *path;
                size_t offset;
        } subnets[] = {
                {"pod-subnet", "kubeseed.cluster.pod-subnet", offsetof(struct nodeconfig, pod_subnet)},
                {"service-subnet", "kubeseed.cluster.service-subnet",
                 offsetof(struct nodeconfig, service_subnet)},
        };
        for (size_t i = 0; i < ELEMENTSOF(subnets); i++) {
                r = get_str(x, cl, subnets[i].key, subnets[i].path, NODECONFIG_NAME_MAX, &n, &s);
                if (r < 0)
                        return r;
                if (!s)
                        continue;
                if (!nodeconfig_subnets_valid(s))
                        return fail(x, n, subnets[i].path, -EBADMSG, MSG_SUBNET);
                if ((r = dup_to((char **) ((char *) c + subnets[i].offset), s)) < 0)
                        return r;
        }

        r = get_str(x, cl, "kubernetes-version", "kubeseed.cluster.kubernetes-version", 64, &n, &s);
        if (r < 0)
                return r;
        if (s) {
                if (!nodeconfig_version_valid(s))
                        return fail(x, n, "kubeseed.cluster.kubernetes-version", -EBADMSG,
                                    "expected a Kubernetes version such as v1.31.1");
                if ((r = dup_to(&c->kubernetes_version, s)) < 0)
                        return r;
        }
        return 0;
}

static int parse_labels(struct ctx *x, const struct ynode *n) {
        if (n->kind != YNODE_MAPPING)
                return fail(x, n, "kubeseed.node.labels", -EBADMSG,
                            "expected a mapping of label keys to values");
        if (n->n_items > NODECONFIG_LIST_MAX)
                return fail(x, n, "kubeseed.node.labels", -EBADMSG, "expected at most %u labels",
                            NODECONFIG_LIST_MAX);
        for (size_t i = 0; i < n->n_items; i++) {
                const char *key = n->keys[i];
                _cleanup_free_ char *k = ystr_printable(key, 64), *path = NULL;
                if (!k || asprintf(&path, "kubeseed.node.labels.%s", k) < 0)
                        return -ENOMEM;
                if (strlen(key) > NODECONFIG_NAME_MAX + 64 || !nodeconfig_label_key_valid(key))
                        return fail_key(
                                x, n, i, path,
                                "expected a label key: [DNS prefix/]name, the name 1-63 letters, "
                                "digits, '-', '_' or '.', starting and ending with a letter or digit");
                const struct ynode *v = n->items[i];
                const char *value = "";
                if (!ynode_is_null(v)) {
                        if (v->kind != YNODE_SCALAR || !nodeconfig_label_value_valid(v->value))
                                return fail(
                                        x, v, path, -EBADMSG,
                                        "expected a label value: empty, or 1-63 letters, digits, '-', '_' "
                                        "or '.', starting and ending with a letter or digit");
                        value = v->value;
                }
                int r = strv_pushf(&x->c->labels, "%s=%s", key, value);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_taints(struct ctx *x, const struct ynode *n) {
        if (n->kind != YNODE_SEQUENCE)
                return fail(x, n, "kubeseed.node.taints", -EBADMSG, "expected a list of key=value:Effect");
        if (n->n_items > NODECONFIG_LIST_MAX)
                return fail(x, n, "kubeseed.node.taints", -EBADMSG, "expected at most %u taints",
                            NODECONFIG_LIST_MAX);
        struct nodeconfig *c = x->c;
        c->taints = calloc(n->n_items ? n->n_items : 1, sizeof(*c->taints));
        if (!c->taints)
                return -ENOMEM;
        for (size_t i = 0; i < n->n_items; i++) {
                const struct ynode *item = n->items[i];
                char path[64];
                snprintf(path, sizeof path, "kubeseed.node.taints[%zu]", i);
                int r = item->kind == YNODE_SCALAR ? nodeconfig_taint_parse(item->value, &c->taints[i])
                                                   : -EINVAL;
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return fail(x, item, path, -EBADMSG,
                                    "expected a taint key[=value]:Effect, Effect NoSchedule, "
                                    "PreferNoSchedule or NoExecute");
                c->n_taints++;
        }
        return 0;
}

static int parse_node(struct ctx *x, const struct ynode *nd) {
        static const char *const keys[] = {"ip", "labels", "taints", "disks", NULL};
        if (nd->kind != YNODE_MAPPING)
                return fail(x, nd, "kubeseed.node", -EBADMSG,
                            "expected a mapping (ip, labels, taints, disks)");
        int r = check_keys(x, nd, "kubeseed.node", keys);
        if (r < 0)
                return r;
        const char *s;
        const struct ynode *n;
        r = get_str(x, nd, "ip", "kubeseed.node.ip", INET6_ADDRSTRLEN, &n, &s);
        if (r < 0)
                return r;
        if (s) {
                if (!nodeconfig_ip_valid(s))
                        return fail(x, n, "kubeseed.node.ip", -EBADMSG, "expected an IPv4 or IPv6 address");
                if ((r = dup_to(&x->c->node_ip, s)) < 0)
                        return r;
        }
        n = ynode_get(nd, "labels");
        if (n && !ynode_is_null(n) && (r = parse_labels(x, n)) < 0)
                return r;
        n = ynode_get(nd, "taints");
        if (n && !ynode_is_null(n) && (r = parse_taints(x, n)) < 0)
                return r;
        n = ynode_get(nd, "disks");
        if (n && !ynode_is_null(n)) {
                if (n->kind != YNODE_SEQUENCE)
                        return fail(x, n, "kubeseed.node.disks", -EBADMSG,
                                    "expected a list of device paths");
                if (n->n_items > 0 &&
                    (r = get_str_list(x, n, "kubeseed.node.disks", NODECONFIG_NAME_MAX,
                                      nodeconfig_disk_valid, "a device path below /dev/ (such as /dev/vdb)",
                                      &x->c->disks)) < 0)
                        return r;
        }
        return 0;
}

static int parse_kubeseed(struct ctx *x, const struct ynode *k) {
        static const char *const keys[] = {"role",    "cluster", "addons", "node", "schedule-workloads",
                                           "workers", NULL};
        struct nodeconfig *c = x->c;
        int r = check_keys(x, k, "kubeseed", keys);
        if (r < 0)
                return r;

        const char *s;
        const struct ynode *n;
        r = get_str(x, k, "role", "kubeseed.role", 64, &n, &s);
        if (r < 0)
                return r;
        if (!s)
                return fail(x, k, "kubeseed.role", -EBADMSG,
                            "expected control-plane, worker or control-plane-join (the key is missing)");
        c->role = node_role_from_string(s);
        if (c->role == _NODE_ROLE_INVALID)
                return fail(x, n, "kubeseed.role", -EBADMSG,
                            "expected control-plane, worker or control-plane-join");

        n = ynode_get(k, "cluster");
        if (n && !ynode_is_null(n)) {
                x->cluster = n;
                if ((r = parse_cluster(x, n)) < 0)
                        return r;
        }

        n = ynode_get(k, "addons");
        if (n && !ynode_is_null(n)) {
                if (n->kind != YNODE_SEQUENCE)
                        return fail(x, n, "kubeseed.addons", -EBADMSG, "expected a list of add-on names");
                if (n->n_items > 0) {
                        r = get_str_list(x, n, "kubeseed.addons", 63, nodeconfig_addon_name_valid,
                                         "an add-on name (1-63 lowercase letters, digits and '-')",
                                         &c->addons);
                        if (r < 0)
                                return r;
                } else if (!(c->addons = calloc(1, sizeof(char *))))
                        return -ENOMEM; /* `addons: []`: none, not the image's defaults */
        }

        n = ynode_get(k, "node");
        if (n && !ynode_is_null(n) && (r = parse_node(x, n)) < 0)
                return r;

        n = ynode_get(k, "schedule-workloads");
        if (n && !ynode_is_null(n)) {
                if (!parse_bool(n, &c->schedule_workloads))
                        return fail(x, n, "kubeseed.schedule-workloads", -EBADMSG, "expected true or false");
                c->schedule_workloads_set = true;
        }

        n = ynode_get(k, "workers");
        if (n && !ynode_is_null(n)) {
                unsigned long v;
                if (n->kind != YNODE_SCALAR || !n->plain ||
                    !parse_uint(n->value, strlen(n->value), NODECONFIG_WORKERS_MAX, &v))
                        return fail(x, n, "kubeseed.workers", -EBADMSG,
                                    "expected the number of worker nodes (0-%u)", NODECONFIG_WORKERS_MAX);
                c->workers = (unsigned) v;
                c->workers_set = true;
        }
        return 0;
}

static int parse_power_state(struct ctx *x, const struct ynode *p) {
        static const char *const modes[] = {[POWER_MODE_POWEROFF] = "poweroff",
                                            [POWER_MODE_REBOOT] = "reboot",
                                            [POWER_MODE_HALT] = "halt"};
        if (p->kind != YNODE_MAPPING)
                return fail(x, p, "power_state", -EBADMSG, "expected a mapping (mode, delay, message)");
        /* cloud-init's other keys (delay, message, timeout, condition) are
         * cloud-init's business: accepted, not interpreted. */
        const char *s;
        const struct ynode *n;
        int r = get_str(x, p, "mode", "power_state.mode", 64, &n, &s);
        if (r < 0)
                return r;
        if (!s)
                return 0;
        for (size_t i = 1; i < ELEMENTSOF(modes); i++)
                if (streq(s, modes[i])) {
                        x->c->power_mode = (enum power_mode) i;
                        return 0;
                }
        return fail(x, n, "power_state.mode", -EBADMSG, "expected poweroff, reboot or halt");
}

/* Rules between fields and per role, once every field parsed. */
static int check_rules(struct ctx *x) {
        struct nodeconfig *c = x->c;
        const struct ynode *where = x->cluster ? x->cluster : x->kubeseed;
        const char *role = node_role_to_string(c->role);
        int r;

        /* Secrets only where they are needed. */
        if (c->ca_key && c->role != NODE_ROLE_CONTROL_PLANE)
                return fail(x, x->n_ca_key, "kubeseed.cluster.ca-key", -EBADMSG,
                            "expected only on a control-plane node (role %s must not hold the CA key)",
                            role);
        if (c->certificate_key && c->role == NODE_ROLE_WORKER)
                return fail(x, x->n_cert_key, "kubeseed.cluster.certificate-key", -EBADMSG,
                            "expected only on control-plane and control-plane-join nodes");
        if (c->role == NODE_ROLE_CONTROL_PLANE) {
                if (c->ca_cert && !c->ca_key)
                        return fail(x, where, "kubeseed.cluster.ca-key", -EBADMSG,
                                    "expected together with ca-cert (both or neither)");
                if (c->ca_key && !c->ca_cert)
                        return fail(x, where, "kubeseed.cluster.ca-cert", -EBADMSG,
                                    "expected together with ca-key (both or neither)");
        }

        if (c->ca_cert) {
                _cleanup_free_ char *err = NULL;
                size_t cert_size = strlen(c->ca_cert);
                if (c->ca_key) {
                        r = cert_check_ca_pair(c->ca_cert, cert_size, c->ca_key, strlen(c->ca_key),
                                               x->in->now, &err);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0)
                                return fail(x, x->n_ca_cert, "kubeseed.cluster.ca-cert", -EBADMSG,
                                            "expected a CA certificate and, in ca-key, its private key: %s",
                                            err ? err : "they do not parse or do not belong together");
                }
                free(err);
                err = NULL;
                r = cert_spki_hash_pem(c->ca_cert, cert_size, c->ca_cert_hash, &err);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return fail(x, x->n_ca_cert, "kubeseed.cluster.ca-cert", -EBADMSG,
                                    "expected a PEM CA certificate: %s", err ? err : "it does not parse");
                if (c->ca_cert_hashes) {
                        if (!strv_contains(c->ca_cert_hashes, c->ca_cert_hash))
                                return fail(x, x->n_hashes, "kubeseed.cluster.ca-cert-hash", -EBADMSG,
                                            "expected the hash of ca-cert, %s (SHA-256 of its public key)",
                                            c->ca_cert_hash);
                } else if ((r = strv_push(&c->ca_cert_hashes, c->ca_cert_hash)) < 0)
                        return r;
        } else if (c->ca_cert_hashes && c->role == NODE_ROLE_CONTROL_PLANE)
                return fail(x, x->n_hashes, "kubeseed.cluster.ca-cert-hash", -EBADMSG,
                            "expected together with ca-cert and ca-key on a control-plane node (without "
                            "them kubeadm creates a new CA, whose hash cannot be this one)");

        /* Required per role. */
        bool joins = c->role != NODE_ROLE_CONTROL_PLANE;
        if (joins && !c->endpoint)
                return fail(x, where, "kubeseed.cluster.endpoint", -EBADMSG,
                            "expected host:port of the API server (required for role %s)", role);
        if (!c->token)
                return fail(x, where, "kubeseed.cluster.token", -EBADMSG,
                            "expected a bootstrap token (required for role %s)", role);
        if (joins && !c->ca_cert_hashes)
                return fail(x, where, "kubeseed.cluster.ca-cert-hash", -EBADMSG,
                            "expected sha256: and 64 hexadecimal digits, or ca-cert (required for role %s)",
                            role);
        if (c->role == NODE_ROLE_CONTROL_PLANE_JOIN && !c->certificate_key)
                return fail(x, where, "kubeseed.cluster.certificate-key", -EBADMSG,
                            "expected 64 hexadecimal digits (required for role %s)", role);

        if (c->role == NODE_ROLE_CONTROL_PLANE && !c->ca_cert &&
            (r = add_warning(x,
                             "%s: no kubeseed.cluster.ca-cert: kubeadm creates its own CA, so workers "
                             "cannot know its hash in advance",
                             x->in->source)) < 0)
                return r;
        return 0;
}

/* ---- the kernel command line as a tree ----------------------------------- */

static struct ynode *child_mapping(struct ynode *map, const char *key) {
        struct ynode *n = ynode_get(map, key);
        if (n)
                return n;
        n = ynode_new_mapping(0, 0);
        if (!n)
                return NULL;
        if (ynode_map_set(map, key, n, 0, 0) < 0) {
                ynode_free(n);
                return NULL;
        }
        return n;
}

static int seq_append(struct ynode *seq, const char *value) {
        struct ynode **items = reallocarray(seq->items, seq->n_items + 1, sizeof(*items));
        if (!items)
                return -ENOMEM;
        seq->items = items;
        struct ynode *v = ynode_new_scalar(value, true, 0, 0);
        if (!v)
                return -ENOMEM;
        seq->items[seq->n_items++] = v;
        return 0;
}

/* Set the scalar (or append to the list) at a dotted path below root. */
static int tree_set(struct ynode *root, const char *path, const char *value, bool list) {
        char buf[128];
        snprintf(buf, sizeof buf, "%s", path);
        struct ynode *map = root;
        char *seg = buf;
        for (char *dot; (dot = strchr(seg, '.')); seg = dot + 1) {
                *dot = '\0';
                map = child_mapping(map, seg);
                if (!map)
                        return -ENOMEM;
        }
        if (!list) {
                struct ynode *v = ynode_new_scalar(value, true, 0, 0);
                if (!v)
                        return -ENOMEM;
                int r = ynode_map_set(map, seg, v, 0, 0);
                if (r < 0)
                        ynode_free(v);
                return r;
        }
        struct ynode *seq = ynode_get(map, seg);
        if (!seq) {
                seq = calloc(1, sizeof(*seq));
                if (!seq)
                        return -ENOMEM;
                seq->kind = YNODE_SEQUENCE;
                int r = ynode_map_set(map, seg, seq, 0, 0);
                if (r < 0) {
                        free(seq);
                        return r;
                }
        }
        /* Comma-separated items; empty ones are skipped ("a,,b"). */
        const char *p = value;
        while (*p) {
                size_t n = strcspn(p, ",");
                if (n > 0) {
                        if (seq->n_items >= NODECONFIG_LIST_MAX + 1)
                                return 0; /* the validator reports "at most N" */
                        char *item = strndup(p, n);
                        if (!item)
                                return -ENOMEM;
                        int r = seq_append(seq, item);
                        erase_free(item);
                        if (r < 0)
                                return r;
                }
                p += n;
                if (*p == ',')
                        p++;
        }
        return 0;
}

static int cmdline_tree(struct ctx *x, struct ynode **ret, const char **ret_iid, const char **ret_host) {
        _cleanup_ynode_erase_ struct ynode *root = ynode_new_mapping(0, 0);
        if (!root || !child_mapping(root, "kubeseed"))
                return -ENOMEM;
        for (char *const *a = x->in->cmdline_args; *a; a++) {
                size_t klen = strcspn(*a, "=");
                const struct cmdline_key *k = NULL;
                for (size_t i = 0; i < ELEMENTSOF(cmdline_keys); i++)
                        if (strlen(cmdline_keys[i].name) == klen &&
                            strncmp(cmdline_keys[i].name, *a, klen) == 0)
                                k = &cmdline_keys[i];
                if (!k) {
                        char name[80];
                        snprintf(name, sizeof name, "kubeseed.%.*s", (int) (klen > 64 ? 64 : klen), *a);
                        for (char *p = name; *p; p++)
                                if ((unsigned char) *p < 0x21 || (unsigned char) *p > 0x7e)
                                        *p = '?';
                        _cleanup_free_ char *names = NULL;
                        for (size_t i = 0; i < ELEMENTSOF(cmdline_keys); i++) {
                                char *t = NULL;
                                if (asprintf(&t, "%s%s%s", names ? names : "", names ? ", " : "",
                                             cmdline_keys[i].name) < 0)
                                        return -ENOMEM;
                                free(names);
                                names = t;
                        }
                        return fail(x, NULL, name, -EBADMSG, "expected one of the keys %s (unknown key)",
                                    names);
                }
                if ((*a)[klen] != '=') {
                        char name[80];
                        snprintf(name, sizeof name, "kubeseed.%s", k->name);
                        return fail(x, NULL, name, -EBADMSG, "expected kubeseed.%s=<value>", k->name);
                }
                const char *value = *a + klen + 1;
                if (!k->path) { /* repeated: the last one wins, as for the kernel's own options */
                        if (streq(k->name, "instance-id"))
                                *ret_iid = value;
                        else
                                *ret_host = value;
                        continue;
                }
                int r = tree_set(root, k->path, value, k->list);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(root);
        return 0;
}

/* ---- entry point -------------------------------------------------------- */

int nodeconfig_parse(const struct nodeconfig_input *in, struct nodeconfig *ret, char **ret_error) {
        if (!in || !in->source || !ret)
                return -EINVAL;
        _cleanup_(nodeconfig_done) struct nodeconfig c = {};
        struct ctx x = {.in = in, .cmdline = in->cmdline_args != NULL, .error = ret_error, .c = &c};
        _cleanup_ynode_erase_ struct ynode *root = NULL;
        const char *iid = in->instance_id, *host = in->local_hostname;
        int r;

        if (x.cmdline) {
                r = cmdline_tree(&x, &root, &iid, &host);
                if (r < 0)
                        return r;
        } else {
                if (!in->user_data)
                        return fail(&x, NULL, NULL, -EBADMSG,
                                    "expected user-data starting with #cloud-config with a kubeseed: key "
                                    "(there is no user-data)");
                if (in->user_data_size > NODECONFIG_USER_DATA_MAX)
                        return fail(&x, NULL, NULL, -EBADMSG, "expected at most %u bytes of user-data",
                                    NODECONFIG_USER_DATA_MAX);
                if (!seed_user_data_is_cloud_config(in->user_data, in->user_data_size)) {
                        struct ynode at = {.line = 1, .column = 1};
                        return fail(&x, &at, NULL, -EBADMSG,
                                    "expected a first line \"#cloud-config\" (other user-data formats are "
                                    "not supported)");
                }
                struct yaml_limits limits = yaml_default_limits;
                limits.max_input = NODECONFIG_USER_DATA_MAX;
                limits.max_depth = NODECONFIG_YAML_DEPTH_MAX;
                limits.max_documents = 1;
                _cleanup_free_ char *yerr = NULL;
                r = yaml_parse_one(in->user_data, in->user_data_size, &limits, &root, &yerr);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        /* yamltree's reason starts with "line:column: " and never quotes values. */
                        if (ret_error) {
                                char *msg = NULL;
                                if (asprintf(&msg, "%s: user-data:%s", in->source,
                                             yerr ? yerr : " expected valid YAML") < 0)
                                        return -ENOMEM;
                                free(*ret_error);
                                *ret_error = msg;
                        }
                        return -EBADMSG;
                }
        }

        if (root->kind != YNODE_MAPPING)
                return fail(&x, root, NULL, -EBADMSG, "expected a mapping of cloud-config keys");

        if (!iid)
                return fail(&x, NULL, "meta-data instance-id", -EBADMSG,
                            "expected an instance-id (none given)");
        if (!seed_instance_id_valid(iid))
                return fail(&x, NULL, x.cmdline ? "kubeseed.instance-id" : "meta-data instance-id", -EBADMSG,
                            "expected 1-%u printable ASCII characters without spaces", SEED_INSTANCE_ID_MAX);
        if (host && !seed_hostname_valid(host))
                return fail(&x, NULL, x.cmdline ? "kubeseed.hostname" : "meta-data local-hostname", -EBADMSG,
                            "expected a hostname (letters, digits, '-' and '.', at most 253 characters)");

        const struct ynode *k = ynode_get(root, "kubeseed");
        if (!k || ynode_is_null(k))
                return fail(&x, k, "kubeseed", -EBADMSG,
                            "expected a mapping with the node's role and cluster (the key is missing)");
        if (k->kind != YNODE_MAPPING)
                return fail(&x, k, "kubeseed", -EBADMSG,
                            "expected a mapping with the node's role and cluster");
        x.kubeseed = k;
        if ((r = parse_kubeseed(&x, k)) < 0)
                return r;

        const struct ynode *p = ynode_get(root, "power_state");
        if (p && !ynode_is_null(p) && (r = parse_power_state(&x, p)) < 0)
                return r;

        if ((r = check_rules(&x)) < 0)
                return r;

        if ((r = dup_to(&c.source, in->source)) < 0 || (r = dup_to(&c.instance_id, iid)) < 0 ||
            (r = dup_to(&c.hostname, host)) < 0)
                return r;
        *ret = c;
        c = (struct nodeconfig){};
        return 0;
}
