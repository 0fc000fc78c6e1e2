/* SPDX-License-Identifier: MIT */
#include "cluster.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fsutil.h"
#include "macro.h"
#include "seed.h"
#include "strv.h"
#include "yamltree.h"

static void cluster_node_done(struct cluster_node *n) {
        free(n->name);
        free(n->address);
        free(n->gateway);
        strv_free(n->dns);
        free(n->mac);
        free(n->interface);
        strv_free(n->labels);
        strv_free(n->taints);
        strv_free(n->disks);
}

void cluster_free(struct cluster *c) {
        if (!c)
                return;
        free(c->name);
        free(c->kubernetes_version);
        free(c->endpoint);
        free(c->endpoint_host);
        free(c->pod_subnet);
        free(c->service_subnet);
        strv_free(c->addons);
        for (size_t i = 0; i < c->n_nodes; i++)
                cluster_node_done(&c->nodes[i]);
        free(c->nodes);
        free(c);
}

const struct cluster_node *cluster_find_node(const struct cluster *c, const char *name) {
        for (size_t i = 0; i < c->n_nodes; i++)
                if (streq(c->nodes[i].name, name))
                        return &c->nodes[i];
        return NULL;
}

size_t cluster_count_role(const struct cluster *c, enum node_role role) {
        size_t n = 0;
        for (size_t i = 0; i < c->n_nodes; i++)
                n += c->nodes[i].role == role;
        return n;
}

/* ---- pure helpers ---------------------------------------------------------- */

int cluster_ifaddr_parse(const char *s, int *ret_family, uint8_t ret_addr[16], unsigned *ret_prefix) {
        const char *slash = s ? strchr(s, '/') : NULL;
        if (!slash || (size_t) (slash - s) >= INET6_ADDRSTRLEN)
                return -EINVAL;
        char a[INET6_ADDRSTRLEN];
        memcpy(a, s, (size_t) (slash - s));
        a[slash - s] = '\0';
        uint8_t buf[16] = {};
        int family = inet_pton(AF_INET, a, buf) == 1    ? AF_INET
                     : inet_pton(AF_INET6, a, buf) == 1 ? AF_INET6
                                                        : -1;
        if (family < 0)
                return -EINVAL;
        unsigned max = family == AF_INET ? 32 : 128, prefix = 0;
        const char *p = slash + 1;
        if (!*p || strlen(p) > 3 || (p[0] == '0' && p[1]))
                return -EINVAL;
        for (; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                prefix = prefix * 10 + (unsigned) (*p - '0');
        }
        if (prefix > max)
                return -EINVAL;
        if (ret_family)
                *ret_family = family;
        if (ret_addr)
                memcpy(ret_addr, buf, 16);
        if (ret_prefix)
                *ret_prefix = prefix;
        return 0;
}

bool cluster_cidrs_overlap(const char *a, const char *b) {
        int fa, fb;
        uint8_t xa[16], xb[16];
        unsigned pa, pb;
        if (cluster_ifaddr_parse(a, &fa, xa, &pa) < 0 || cluster_ifaddr_parse(b, &fb, xb, &pb) < 0 ||
            fa != fb)
                return false;
        /* Two networks overlap when they agree on the shorter prefix. */
        unsigned p = pa < pb ? pa : pb;
        for (unsigned bit = 0; bit < p; bit++) {
                uint8_t m = (uint8_t) (0x80U >> (bit % 8));
                if ((xa[bit / 8] & m) != (xb[bit / 8] & m))
                        return false;
        }
        return true;
}

bool cluster_mac_valid(const char *s) {
        if (!s || strlen(s) != 17)
                return false;
        for (size_t i = 0; i < 17; i++) {
                char c = s[i];
                if (i % 3 == 2) {
                        if (c != ':')
                                return false;
                } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
                        return false;
        }
        return true;
}

/* The address of an interface address ("10.0.0.10/24" -> "10.0.0.10"), canonical. */
static int ifaddr_ip(const char *s, char out[INET6_ADDRSTRLEN]) {
        int family;
        uint8_t a[16];
        if (cluster_ifaddr_parse(s, &family, a, NULL) < 0)
                return -EINVAL;
        return inet_ntop(family, a, out, INET6_ADDRSTRLEN) ? 0 : -EINVAL;
}

static bool ip_equal(const char *a, const char *b) {
        uint8_t xa[16] = {}, xb[16] = {};
        int fa = inet_pton(AF_INET, a, xa) == 1 ? AF_INET : inet_pton(AF_INET6, a, xa) == 1 ? AF_INET6 : 0;
        int fb = inet_pton(AF_INET, b, xb) == 1 ? AF_INET : inet_pton(AF_INET6, b, xb) == 1 ? AF_INET6 : 0;
        return fa && fa == fb && memcmp(xa, xb, 16) == 0;
}

static bool interface_name_valid(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > 15)
                return false;
        for (const char *p = s; *p; p++)
                if (*p <= ' ' || *p >= 0x7f || *p == '/' || *p == ':')
                        return false;
        return true;
}

/* Kubernetes node names: lowercase RFC 1123 subdomains. */
static bool node_name_valid(const char *s) {
        for (const char *p = s; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                        return false;
        return seed_hostname_valid(s);
}

static bool cluster_name_valid(const char *s) {
        size_t n = strlen(s);
        return n <= CLUSTER_NAME_MAX && !strchr(s, '.') && node_name_valid(s);
}

/* ---- parsing -------------------------------------------------------------- */

struct ctx {
        const char *filename;
        char **error;
        struct cluster *c;
};

/* "<file>:<line>:<column>: <path>: <what>"; never quotes a value. */
_printf_(4, 5) static int fail(struct ctx *x, const struct ynode *at, const char *path, const char *fmt,
                               ...) {
        va_list ap;
        va_start(ap, fmt);
        int r = yaml_verror(x->error, x->filename, at, path, fmt, ap);
        va_end(ap);
        return r;
}

static int check_keys(struct ctx *x, const struct ynode *map, const char *prefix,
                      const char *const *allowed) {
        return ynode_check_keys(map, allowed, x->filename, prefix, x->error);
}

/* A string member (absent or null: *ret NULL). */
static int get_str(struct ctx *x, const struct ynode *map, const char *key, const char *path, size_t max,
                   const struct ynode **ret_node, const char **ret) {
        const struct ynode *n = ynode_get(map, key);
        *ret = NULL;
        if (ret_node)
                *ret_node = n;
        if (!n || ynode_is_null(n))
                return 0;
        if (n->kind != YNODE_SCALAR)
                return fail(x, n, path, "expected a string");
        if (strlen(n->value) > max)
                return fail(x, n, path, "expected at most %zu characters", max);
        *ret = n->value;
        return 0;
}

static int dup_str(const char *s, char **ret) {
        if (!s)
                return 0;
        char *d = strdup(s);
        if (!d)
                return -ENOMEM;
        *ret = d;
        return 0;
}

static int get_bool(struct ctx *x, const struct ynode *map, const char *key, const char *path, bool *ret,
                    bool *ret_set) {
        const struct ynode *n = ynode_get(map, key);
        if (!n || ynode_is_null(n))
                return 0;
        if (n->kind != YNODE_SCALAR || !n->plain || (!streq(n->value, "true") && !streq(n->value, "false")))
                return fail(x, n, path, "expected true or false");
        *ret = streq(n->value, "true");
        if (ret_set)
                *ret_set = true;
        return 0;
}

/* A list of strings, each checked by `valid` and unique. */
static int get_list(struct ctx *x, const struct ynode *map, const char *key, const char *path,
                    size_t max_items, bool (*valid)(const char *), const char *what, char ***ret) {
        const struct ynode *n = ynode_get(map, key);
        if (!n || ynode_is_null(n))
                return 0;
        if (n->kind != YNODE_SEQUENCE)
                return fail(x, n, path, "expected a list of %s", what);
        if (n->n_items > max_items)
                return fail(x, n, path, "expected at most %zu items", max_items);
        for (size_t i = 0; i < n->n_items; i++) {
                const struct ynode *item = n->items[i];
                _cleanup_free_ char *ipath = strdupf("%s[%zu]", path, i);
                if (!ipath)
                        return -ENOMEM;
                if (item->kind != YNODE_SCALAR || strlen(item->value) > NODECONFIG_NAME_MAX + 80 ||
                    !valid(item->value))
                        return fail(x, item, ipath, "expected %s", what);
                if (strv_contains(*ret, item->value))
                        return fail(x, item, ipath, "expected each item once (this one repeats)");
                int r = strv_push(ret, item->value);
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool taint_valid(const char *s) {
        return nodeconfig_taint_parse(s, NULL) == 0;
}

static int parse_labels(struct ctx *x, const struct ynode *nd, const char *path, char ***ret) {
        const struct ynode *n = ynode_get(nd, "labels");
        if (!n || ynode_is_null(n))
                return 0;
        if (n->kind != YNODE_MAPPING)
                return fail(x, n, path, "expected a mapping of label keys to values");
        if (n->n_items > NODECONFIG_LIST_MAX)
                return fail(x, n, path, "expected at most %u labels", NODECONFIG_LIST_MAX);
        for (size_t i = 0; i < n->n_items; i++) {
                const char *key = n->keys[i];
                const struct ynode *v = n->items[i];
                struct ynode at = {.line = n->key_lines[i], .column = n->key_columns[i]};
                _cleanup_free_ char *k = ystr_printable(key, 64);
                if (!k)
                        return -ENOMEM;
                if (!nodeconfig_label_key_valid(key))
                        return fail(x, &at, path,
                                    "%s: expected a label key: [DNS prefix/]name, the name 1-63 letters, "
                                    "digits, '-', '_' or '.', starting and ending with a letter or digit",
                                    k);
                const char *value = "";
                if (!ynode_is_null(v)) {
                        if (v->kind != YNODE_SCALAR || !nodeconfig_label_value_valid(v->value))
                                return fail(x, v, path,
                                            "%s: expected a label value: empty, or 1-63 letters, digits, "
                                            "'-', '_' or '.', starting and ending with a letter or digit",
                                            k);
                        value = v->value;
                }
                int r = strv_pushf(ret, "%s=%s", key, value);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_node(struct ctx *x, const struct ynode *nd, size_t index, struct cluster_node *ret) {
        static const char *const keys[] = {"name", "role",      "address", "gateway", "dns",   "dhcp",
                                           "mac",  "interface", "labels",  "taints",  "disks", NULL};
        char path[64];
        snprintf(path, sizeof path, "nodes[%zu]", index);
        if (nd->kind != YNODE_MAPPING)
                return fail(x, nd, path, "expected a mapping (name, role, address, ...)");
        char prefix[80];
        snprintf(prefix, sizeof prefix, "%s.", path);
        int r = check_keys(x, nd, prefix, keys);
        if (r < 0)
                return r;
        ret->line = nd->line;
        ret->column = nd->column;

        char p[96];
        const char *s;
        const struct ynode *n;
#define P(k) (snprintf(p, sizeof p, "%s.%s", path, (k)), p)

        if ((r = get_str(x, nd, "name", P("name"), NODECONFIG_NAME_MAX, &n, &s)) < 0)
                return r;
        if (!s)
                return fail(x, nd, P("name"), "expected the node's name (the key is missing)");
        if (!node_name_valid(s))
                return fail(x, n, P("name"),
                            "expected a lowercase hostname (letters, digits, '-' and '.', at most 253 "
                            "characters)");
        if ((r = dup_str(s, &ret->name)) < 0)
                return r;

        if ((r = get_str(x, nd, "role", P("role"), 64, &n, &s)) < 0)
                return r;
        if (!s)
                return fail(x, nd, P("role"),
                            "expected control-plane, worker or control-plane-join (the key is missing)");
        ret->role = node_role_from_string(s);
        if (ret->role == _NODE_ROLE_INVALID)
                return fail(x, n, P("role"), "expected control-plane, worker or control-plane-join");

        if ((r = get_bool(x, nd, "dhcp", P("dhcp"), &ret->dhcp, NULL)) < 0)
                return r;
        const struct ynode *n_addr;
        if ((r = get_str(x, nd, "address", P("address"), 64, &n_addr, &s)) < 0)
                return r;
        if (s && ret->dhcp)
                return fail(x, n_addr, P("address"), "expected either address or dhcp: true, not both");
        if (!s && !ret->dhcp)
                return fail(
                        x, nd, P("address"),
                        "expected a static address with its prefix length (10.0.0.10/24), or dhcp: true");
        if (s) {
                if (cluster_ifaddr_parse(s, NULL, NULL, NULL) < 0)
                        return fail(x, n_addr, P("address"),
                                    "expected an IPv4 or IPv6 address with its prefix length, such as "
                                    "10.0.0.10/24");
                if ((r = dup_str(s, &ret->address)) < 0)
                        return r;
        }
        if ((r = get_str(x, nd, "gateway", P("gateway"), 64, &n, &s)) < 0)
                return r;
        if (s) {
                if (ret->dhcp)
                        return fail(x, n, P("gateway"),
                                    "expected only with a static address (DHCP gives one)");
                if (!nodeconfig_ip_valid(s))
                        return fail(x, n, P("gateway"), "expected an IPv4 or IPv6 address");
                if ((r = dup_str(s, &ret->gateway)) < 0)
                        return r;
        }
        if ((r = get_list(x, nd, "dns", P("dns"), CLUSTER_DNS_MAX, nodeconfig_ip_valid,
                          "nameserver addresses (IPv4 or IPv6)", &ret->dns)) < 0)
                return r;
        if ((r = get_str(x, nd, "mac", P("mac"), 64, &n, &s)) < 0)
                return r;
        if (s) {
                if (!cluster_mac_valid(s))
                        return fail(x, n, P("mac"), "expected a MAC address such as 52:54:00:12:34:56");
                if ((r = dup_str(s, &ret->mac)) < 0)
                        return r;
                for (char *c = ret->mac; *c; c++)
                        if (*c >= 'A' && *c <= 'F')
                                *c = (char) (*c - 'A' + 'a');
        }
        if ((r = get_str(x, nd, "interface", P("interface"), 64, &n, &s)) < 0)
                return r;
        if (s) {
                if (!interface_name_valid(s))
                        return fail(x, n, P("interface"),
                                    "expected an interface name or glob (1-15 characters, no spaces, '/' "
                                    "or ':')");
                if ((r = dup_str(s, &ret->interface)) < 0)
                        return r;
        }
        if ((r = parse_labels(x, nd, P("labels"), &ret->labels)) < 0)
                return r;
        if ((r = get_list(x, nd, "taints", P("taints"), NODECONFIG_LIST_MAX, taint_valid,
                          "a taint key[=value]:Effect, Effect NoSchedule, PreferNoSchedule or NoExecute",
                          &ret->taints)) < 0)
                return r;
        if ((r = get_list(x, nd, "disks", P("disks"), NODECONFIG_LIST_MAX, nodeconfig_disk_valid,
                          "a device path below /dev/ (such as /dev/vdb or /dev/disk/by-id/...)",
                          &ret->disks)) < 0)
                return r;
#undef P
        return 0;
}

/* ---- rules between nodes --------------------------------------------------- */

static int check_nodes(struct ctx *x, const struct ynode *nodes_node, const struct ynode *n_endpoint) {
        struct cluster *c = x->c;
        for (size_t i = 0; i < c->n_nodes; i++) {
                const struct cluster_node *a = &c->nodes[i];
                struct ynode at = {.line = a->line, .column = a->column};
                char ipa[INET6_ADDRSTRLEN] = "";
                if (a->address && ifaddr_ip(a->address, ipa) < 0)
                        return -EINVAL;
                for (size_t j = 0; j < i; j++) {
                        const struct cluster_node *b = &c->nodes[j];
                        if (streq(a->name, b->name))
                                return fail(x, &at, NULL,
                                            "nodes[%zu].name: expected a name no other node has (nodes %s: "
                                            "nodes[%zu] and nodes[%zu] have the same name)",
                                            i, a->name, j, i);
                        char ipb[INET6_ADDRSTRLEN];
                        if (a->address && b->address && ifaddr_ip(b->address, ipb) >= 0 &&
                            ip_equal(ipa, ipb))
                                return fail(x, &at, NULL,
                                            "nodes[%zu].address: expected an address no other node has "
                                            "(nodes %s and %s both have %s)",
                                            i, b->name, a->name, ipa);
                        if (a->mac && b->mac && streq(a->mac, b->mac))
                                return fail(
                                        x, &at, NULL,
                                        "nodes[%zu].mac: expected a MAC address no other node has (nodes "
                                        "%s and %s both have %s)",
                                        i, b->name, a->name, a->mac);
                }
                /* The cluster's own networks must not be the nodes' network. */
                const char *subnets[] = {c->pod_subnet, c->service_subnet};
                const char *names[] = {"pod-subnet", "service-subnet"};
                for (size_t k = 0; a->address && k < ELEMENTSOF(subnets); k++) {
                        if (!subnets[k])
                                continue;
                        _cleanup_free_ char *copy = strdup(subnets[k]);
                        if (!copy)
                                return -ENOMEM;
                        for (char *part = copy, *next; part; part = next) {
                                next = strchr(part, ',');
                                if (next)
                                        *next++ = '\0';
                                if (cluster_cidrs_overlap(a->address, part))
                                        return fail(x, &at, NULL,
                                                    "nodes[%zu].address: expected a node network that does "
                                                    "not overlap %s (node %s: %s overlaps %s)",
                                                    i, names[k], a->name, a->address, part);
                        }
                }
        }

        size_t n_init = cluster_count_role(c, NODE_ROLE_CONTROL_PLANE);
        if (n_init == 0)
                return fail(x, nodes_node, "nodes",
                            "expected exactly one node with role control-plane (the one that runs kubeadm "
                            "init; none has it)");
        if (n_init > 1) {
                _cleanup_strv_free_ char **names = NULL;
                for (size_t i = 0; i < c->n_nodes; i++)
                        if (c->nodes[i].role == NODE_ROLE_CONTROL_PLANE &&
                            strv_push(&names, c->nodes[i].name) < 0)
                                return -ENOMEM;
                _cleanup_free_ char *list = strv_join(names, ", ");
                if (!list)
                        return -ENOMEM;
                return fail(x, nodes_node, "nodes",
                            "expected exactly one node with role control-plane, the one that runs kubeadm "
                            "init (nodes %s all have it; give the others role control-plane-join)",
                            list);
        }

        if (!c->endpoint_is_load_balancer) {
                _cleanup_strv_free_ char **cps = NULL;
                for (size_t i = 0; i < c->n_nodes; i++) {
                        const struct cluster_node *a = &c->nodes[i];
                        if (a->role == NODE_ROLE_WORKER)
                                continue;
                        char ip[INET6_ADDRSTRLEN];
                        if (a->address && ifaddr_ip(a->address, ip) >= 0 && ip_equal(ip, c->endpoint_host))
                                return 0;
                        if (strv_pushf(&cps, "%s (%s)", a->name, a->address ? a->address : "dhcp") < 0)
                                return -ENOMEM;
                }
                _cleanup_free_ char *list = strv_join(cps, ", ");
                if (!list)
                        return -ENOMEM;
                return fail(x, n_endpoint, "endpoint",
                            "expected the static address of a control-plane node (%s), or "
                            "endpoint-is-load-balancer: true for an address in front of them",
                            list);
        }
        return 0;
}

int cluster_parse(const char *filename, const char *data, size_t size, struct cluster **ret,
                  char **ret_error) {
        static const char *const keys[] = {"name",       "kubernetes-version",
                                           "endpoint",   "endpoint-is-load-balancer",
                                           "pod-subnet", "service-subnet",
                                           "addons",     "schedule-workloads",
                                           "nodes",      NULL};
        struct ctx x = {.filename = filename, .error = ret_error};
        if (size > CLUSTER_FILE_MAX)
                return fail(&x, NULL, NULL, "expected at most %u bytes", CLUSTER_FILE_MAX);
        struct yaml_limits limits = yaml_default_limits;
        limits.max_input = CLUSTER_FILE_MAX;
        limits.max_depth = 16;
        _cleanup_ynode_ struct ynode *root = NULL;
        int r = yaml_parse_named(filename, data, size, &limits, &root, ret_error);
        if (r < 0)
                return r;
        if (root->kind != YNODE_MAPPING)
                return fail(&x, root, NULL, "expected a mapping (name, endpoint, nodes, ...)");
        if ((r = check_keys(&x, root, "", keys)) < 0)
                return r;

        _cleanup_cluster_ struct cluster *c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        x.c = c;
        const char *s;
        const struct ynode *n;

        if ((r = get_str(&x, root, "name", "name", CLUSTER_NAME_MAX, &n, &s)) < 0)
                return r;
        if (!s)
                return fail(&x, root, "name", "expected the cluster's name (the key is missing)");
        if (!cluster_name_valid(s))
                return fail(&x, n, "name", "expected a DNS label: 1-63 lowercase letters, digits and '-'");
        if ((r = dup_str(s, &c->name)) < 0)
                return r;

        if ((r = get_str(&x, root, "kubernetes-version", "kubernetes-version", 64, &n, &s)) < 0)
                return r;
        if (s && !nodeconfig_version_valid(s))
                return fail(&x, n, "kubernetes-version", "expected a Kubernetes version such as v1.31.1");
        if ((r = dup_str(s, &c->kubernetes_version)) < 0)
                return r;

        const struct ynode *n_endpoint;
        if ((r = get_str(&x, root, "endpoint", "endpoint", NODECONFIG_NAME_MAX + 8, &n_endpoint, &s)) < 0)
                return r;
        if (!s)
                return fail(&x, root, "endpoint",
                            "expected host:port of the API server, such as 10.0.0.10:6443 (the key is "
                            "missing)");
        r = nodeconfig_endpoint_parse(s, &c->endpoint_host, &c->endpoint_port);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return fail(&x, n_endpoint, "endpoint",
                            "expected host:port (host an IPv4 address, an [IPv6] address or a DNS name; "
                            "port 1-65535)");
        if ((r = dup_str(s, &c->endpoint)) < 0)
                return r;
        if ((r = get_bool(&x, root, "endpoint-is-load-balancer", "endpoint-is-load-balancer",
                          &c->endpoint_is_load_balancer, NULL)) < 0)
                return r;
        if (!c->endpoint_is_load_balancer && !nodeconfig_ip_valid(c->endpoint_host))
                return fail(&x, n_endpoint, "endpoint",
                            "expected a control-plane node's address; a DNS name needs "
                            "endpoint-is-load-balancer: true");

        static const char *const subnet_keys[] = {"pod-subnet", "service-subnet"};
        char **subnet_dst[] = {&c->pod_subnet, &c->service_subnet};
        for (size_t i = 0; i < ELEMENTSOF(subnet_keys); i++) {
                if ((r = get_str(&x, root, subnet_keys[i], subnet_keys[i], NODECONFIG_NAME_MAX, &n, &s)) < 0)
                        return r;
                if (s && !nodeconfig_subnets_valid(s))
                        return fail(&x, n, subnet_keys[i],
                                    "expected a CIDR such as 10.244.0.0/16 with the host bits zero, or an "
                                    "IPv4 and an IPv6 CIDR separated by a comma");
                if ((r = dup_str(s, subnet_dst[i])) < 0)
                        return r;
        }
        if (c->pod_subnet && c->service_subnet) {
                /* Each family's CIDR against each. */
                _cleanup_strv_free_ char **pods = NULL, **svcs = NULL;
                for (const char *p = c->pod_subnet; *p;) {
                        size_t k = strcspn(p, ",");
                        if (strv_pushf(&pods, "%.*s", (int) k, p) < 0)
                                return -ENOMEM;
                        p += k + (p[k] == ',');
                }
                for (const char *p = c->service_subnet; *p;) {
                        size_t k = strcspn(p, ",");
                        if (strv_pushf(&svcs, "%.*s", (int) k, p) < 0)
                                return -ENOMEM;
                        p += k + (p[k] == ',');
                }
                for (char **a = pods; *a; a++)
                        for (char **b = svcs; *b; b++)
                                if (cluster_cidrs_overlap(*a, *b))
                                        return fail(&x, ynode_get(root, "service-subnet"), "service-subnet",
                                                    "expected a network that does not overlap pod-subnet "
                                                    "(%s overlaps %s)",
                                                    *b, *a);
        }

        if ((r = get_list(&x, root, "addons", "addons", NODECONFIG_LIST_MAX, nodeconfig_addon_name_valid,
                          "add-on names (1-63 lowercase letters, digits and '-')", &c->addons)) < 0)
                return r;
        if ((r = get_bool(&x, root, "schedule-workloads", "schedule-workloads", &c->schedule_workloads,
                          &c->schedule_workloads_set)) < 0)
                return r;

        const struct ynode *nodes = ynode_get(root, "nodes");
        if (!nodes || ynode_is_null(nodes))
                return fail(&x, root, "nodes", "expected a list of nodes (the key is missing)");
        if (nodes->kind != YNODE_SEQUENCE || nodes->n_items == 0)
                return fail(&x, nodes, "nodes", "expected a non-empty list of nodes");
        if (nodes->n_items > CLUSTER_NODES_MAX)
                return fail(&x, nodes, "nodes", "expected at most %u nodes", CLUSTER_NODES_MAX);
        c->nodes = calloc(nodes->n_items, sizeof *c->nodes);
        if (!c->nodes)
                return -ENOMEM;
        for (size_t i = 0; i < nodes->n_items; i++) {
                c->n_nodes++;
                if ((r = parse_node(&x, nodes->items[i], i, &c->nodes[i])) < 0)
                        return r;
        }
        if ((r = check_nodes(&x, nodes, n_endpoint)) < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

int cluster_load(const char *path, struct cluster **ret, char **ret_error) {
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        int r = read_regular_file(path, CLUSTER_FILE_MAX, &data, &size);
        if (r == -EFBIG)
                return replace_error(ret_error, r, "%s: larger than %u bytes", path, CLUSTER_FILE_MAX);
        if (r < 0)
                return replace_error(ret_error, r, "%s: cannot read: %s", path, strerror(-r));
        return cluster_parse(path, data, size, ret, ret_error);
}
