/* SPDX-License-Identifier: MIT */
#include "netconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "macro.h"
#include "nodeconfig.h"
#include "proc.h"
#include "seed.h"
#include "strv.h"
#include "yamltree.h"

void netconfig_done(struct netconfig *n) {
        if (!n)
                return;
        for (size_t i = 0; i < n->n_files; i++) {
                free(n->files[i].path);
                free(n->files[i].content);
        }
        free(n->files);
        *n = (struct netconfig){};
}

/* ---- parsing ---------------------------------------------------------------- */

struct ctx {
        char **error;
};

_printf_(4, 5) static int fail(struct ctx *x, const struct ynode *at, const char *path, const char *fmt,
                               ...) {
        va_list ap;
        va_start(ap, fmt);
        int r = yaml_verror(x->error, "network-config", at, path, fmt, ap);
        va_end(ap);
        return r;
}

/* `path` is the mapping's ("" at the top). */
static int check_keys(struct ctx *x, const struct ynode *map, const char *path, const char *const *allowed) {
        _cleanup_free_ char *prefix = *path ? strdupf("%s.", path) : strdup("");
        return prefix ? ynode_check_keys(map, allowed, "network-config", prefix, x->error) : -ENOMEM;
}

static bool scalar_ok(const struct ynode *n, size_t max) {
        if (n->kind != YNODE_SCALAR || strlen(n->value) > max)
                return false;
        for (const char *p = n->value; *p; p++)
                if ((unsigned char) *p < ' ' || *p == 0x7f)
                        return false;
        return true;
}

static int get_bool(struct ctx *x, const struct ynode *map, const char *key, const char *path, bool *ret) {
        static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "on", "On"};
        static const char *const no[] = {"false", "False", "FALSE", "no", "No", "off", "Off"};
        const struct ynode *n = ynode_get(map, key);
        *ret = false;
        if (!n || ynode_is_null(n))
                return 0;
        if (n->kind == YNODE_SCALAR && n->plain)
                for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                        if (streq(n->value, yes[i])) {
                                *ret = true;
                                return 0;
                        }
                        if (streq(n->value, no[i]))
                                return 0;
                }
        return fail(x, n, path, "expected true or false");
}

static bool ip_family(const char *s, int *ret) {
        unsigned char buf[16];
        if (inet_pton(AF_INET, s, buf) == 1)
                *ret = AF_INET;
        else if (inet_pton(AF_INET6, s, buf) == 1)
                *ret = AF_INET6;
        else
                return false;
        return true;
}

/* An interface address "10.0.0.10/24": an address and a prefix in range. */
static bool ifaddr_valid(const char *s) {
        const char *slash = strchr(s, '/');
        if (!slash || (size_t) (slash - s) >= INET6_ADDRSTRLEN)
                return false;
        char a[INET6_ADDRSTRLEN];
        memcpy(a, s, (size_t) (slash - s));
        a[slash - s] = '\0';
        int family;
        if (!ip_family(a, &family))
                return false;
        const char *p = slash + 1;
        size_t n = strspn(p, "0123456789");
        if (n == 0 || n > 3 || p[n] || (n > 1 && p[0] == '0'))
                return false;
        return (unsigned) strtoul(p, NULL, 10) <= (family == AF_INET ? 32U : 128U);
}

/* A list of strings under `key`, each valid; written to `f` as "Key=value". */
static int list_lines(struct ctx *x, const struct ynode *map, const char *key, const char *path,
                      bool (*valid)(const char *), const char *what, const char *out_key, FILE *f) {
        const struct ynode *n = ynode_get(map, key);
        if (!n || ynode_is_null(n))
                return 0;
        if (n->kind != YNODE_SEQUENCE)
                return fail(x, n, path, "expected a list of %s", what);
        if (n->n_items > NETCONFIG_LIST_MAX)
                return fail(x, n, path, "expected at most %u items", NETCONFIG_LIST_MAX);
        for (size_t i = 0; i < n->n_items; i++) {
                const struct ynode *item = n->items[i];
                if (!scalar_ok(item, 255) || !valid(item->value)) {
                        _cleanup_free_ char *ipath = strdupf("%s[%zu]", path, i);
                        return ipath ? fail(x, item, ipath, "expected %s", what) : -ENOMEM;
                }
                fprintf(f, "%s=%s\n", out_key, item->value);
        }
        return 0;
}

static bool ip_valid(const char *s) {
        int family;
        return ip_family(s, &family);
}

static bool domain_valid(const char *s) {
        return seed_hostname_valid(s);
}

static bool mac_valid(const char *s) {
        if (strlen(s) != 17)
                return false;
        for (size_t i = 0; i < 17; i++)
                if (i % 3 == 2 ? s[i] != ':' : !strchr("0123456789abcdefABCDEF", s[i]))
                        return false;
        return true;
}

/* Interface names and networkd's globs: no spaces, no '/'. */
static bool ifname_valid(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > 64)
                return false;
        for (const char *p = s; *p; p++)
                if (*p <= ' ' || *p == '/' || *p == 0x7f)
                        return false;
        return true;
}

static bool id_valid(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > 64)
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      *p == '_' || *p == '.' || *p == '-'))
                        return false;
        return !streq(s, ".") && !streq(s, "..");
}

static int render_match(struct ctx *x, const struct ynode *eth, const char *id, const char *path, FILE *f) {
        static const char *const keys[] = {"macaddress", "name", NULL};
        const struct ynode *m = ynode_get(eth, "match");
        fputs("[Match]\n", f);
        if (!m || ynode_is_null(m)) {
                /* netplan: without match, the id is the interface's name. */
                fprintf(f, "Name=%s\n", id);
                return 0;
        }
        _cleanup_free_ char *mpath = strdupf("%s.match", path);
        if (!mpath)
                return -ENOMEM;
        if (m->kind != YNODE_MAPPING || m->n_items == 0)
                return fail(x, m, mpath, "expected a mapping with macaddress and/or name");
        int r = check_keys(x, m, mpath, keys);
        if (r < 0)
                return r;
        const struct ynode *n = ynode_get(m, "macaddress");
        if (n && !ynode_is_null(n)) {
                if (!scalar_ok(n, 17) || !mac_valid(n->value)) {
                        _cleanup_free_ char *p = strdupf("%s.macaddress", mpath);
                        return p ? fail(x, n, p, "expected a MAC address such as 52:54:00:12:34:56")
                                 : -ENOMEM;
                }
                char mac[18];
                for (size_t i = 0; i < 18; i++)
                        mac[i] = (n->value[i] >= 'A' && n->value[i] <= 'F') ? (char) (n->value[i] + 32)
                                                                            : n->value[i];
                fprintf(f, "MACAddress=%s\n", mac);
        }
        n = ynode_get(m, "name");
        if (n && !ynode_is_null(n)) {
                if (!scalar_ok(n, 64) || !ifname_valid(n->value)) {
                        _cleanup_free_ char *p = strdupf("%s.name", mpath);
                        return p ? fail(x, n, p, "expected an interface name or glob (no spaces or '/')")
                                 : -ENOMEM;
                }
                fprintf(f, "Name=%s\n", n->value);
        }
        return 0;
}

static int render_routes(struct ctx *x, const struct ynode *eth, const char *path, FILE *f) {
        static const char *const keys[] = {"to", "via", "metric", NULL};
        const struct ynode *rs = ynode_get(eth, "routes");
        if (!rs || ynode_is_null(rs))
                return 0;
        _cleanup_free_ char *rpath = strdupf("%s.routes", path);
        if (!rpath)
                return -ENOMEM;
        if (rs->kind != YNODE_SEQUENCE)
                return fail(x, rs, rpath, "expected a list of routes (to, via, metric)");
        if (rs->n_items > NETCONFIG_LIST_MAX)
                return fail(x, rs, rpath, "expected at most %u routes", NETCONFIG_LIST_MAX);
        for (size_t i = 0; i < rs->n_items; i++) {
                const struct ynode *rt = rs->items[i];
                _cleanup_free_ char *p = strdupf("%s[%zu]", rpath, i);
                if (!p)
                        return -ENOMEM;
                if (rt->kind != YNODE_MAPPING)
                        return fail(x, rt, p, "expected a mapping (to, via, metric)");
                int r = check_keys(x, rt, p, keys);
                if (r < 0)
                        return r;
                const struct ynode *to = ynode_get(rt, "to"), *via = ynode_get(rt, "via"),
                                   *metric = ynode_get(rt, "metric");
                int fv = 0;
                if (!via || !scalar_ok(via, 64) || !ip_family(via->value, &fv)) {
                        _cleanup_free_ char *q = strdupf("%s.via", p);
                        return q ? fail(x, via ? via : rt, q, "expected the gateway's IPv4 or IPv6 address")
                                 : -ENOMEM;
                }
                const char *dest;
                if (!to || !scalar_ok(to, 64) ||
                    !(streq(to->value, "default") || streq(to->value, "0.0.0.0/0") ||
                      streq(to->value, "::/0") || nodeconfig_cidr_parse(to->value) > 0)) {
                        _cleanup_free_ char *q = strdupf("%s.to", p);
                        return q ? fail(x, to ? to : rt, q,
                                        "expected default or a destination CIDR with the host bits zero")
                                 : -ENOMEM;
                }
                dest = streq(to->value, "default") ? (fv == AF_INET ? "0.0.0.0/0" : "::/0") : to->value;
                uint64_t m = 0;
                if (metric && !ynode_is_null(metric) && !ynode_parse_uint(metric, 4294967295ULL, &m)) {
                        _cleanup_free_ char *q = strdupf("%s.metric", p);
                        return q ? fail(x, metric, q, "expected a number 0-4294967295") : -ENOMEM;
                }
                fprintf(f, "\n[Route]\nDestination=%s\nGateway=%s\n", dest, via->value);
                if (metric && !ynode_is_null(metric))
                        fprintf(f, "Metric=%llu\n", (unsigned long long) m);
        }
        return 0;
}

static int ethernet_body(struct ctx *x, const char *id, const struct ynode *eth, const char *path, FILE *f) {
        fprintf(f, "# Written by kubeseed-firstboot from network-config (ethernets.%s).\n", id);
        int r = render_match(x, eth, id, path, f);
        if (r < 0)
                return r;

        bool optional, dhcp4, dhcp6;
        _cleanup_free_ char *p_opt = strdupf("%s.optional", path), *p_d4 = strdupf("%s.dhcp4", path),
                            *p_d6 = strdupf("%s.dhcp6", path), *p_mtu = strdupf("%s.mtu", path),
                            *p_addr = strdupf("%s.addresses", path), *p_ns = strdupf("%s.nameservers", path),
                            *p_nsa = strdupf("%s.nameservers.addresses", path),
                            *p_nss = strdupf("%s.nameservers.search", path);
        if (!p_opt || !p_d4 || !p_d6 || !p_mtu || !p_addr || !p_ns || !p_nsa || !p_nss)
                return -ENOMEM;
        if ((r = get_bool(x, eth, "optional", p_opt, &optional)) < 0 ||
            (r = get_bool(x, eth, "dhcp4", p_d4, &dhcp4)) < 0 ||
            (r = get_bool(x, eth, "dhcp6", p_d6, &dhcp6)) < 0)
                return r;

        const struct ynode *mtu = ynode_get(eth, "mtu");
        uint64_t mtu_v = 0;
        if (mtu && !ynode_is_null(mtu) && (!ynode_parse_uint(mtu, 65535, &mtu_v) || mtu_v < 68))
                return fail(x, mtu, p_mtu, "expected a number 68-65535");
        if (mtu_v || optional) {
                fputs("\n[Link]\n", f);
                if (mtu_v)
                        fprintf(f, "MTUBytes=%llu\n", (unsigned long long) mtu_v);
                if (optional)
                        fputs("RequiredForOnline=no\n", f);
        }

        fputs("\n[Network]\n", f);
        fprintf(f, "DHCP=%s\n", dhcp4 && dhcp6 ? "yes" : dhcp4 ? "ipv4" : dhcp6 ? "ipv6" : "no");
        if ((r = list_lines(x, eth, "addresses", p_addr, ifaddr_valid,
                            "addresses with their prefix length (10.0.0.10/24)", "Address", f)) < 0)
                return r;
        static const char *const gws[] = {"gateway4", "gateway6"};
        for (size_t i = 0; i < ELEMENTSOF(gws); i++) {
                const struct ynode *g = ynode_get(eth, gws[i]);
                if (!g || ynode_is_null(g))
                        continue;
                int family = 0;
                if (!scalar_ok(g, 64) || !ip_family(g->value, &family) ||
                    family != (i == 0 ? AF_INET : AF_INET6)) {
                        _cleanup_free_ char *p = strdupf("%s.%s", path, gws[i]);
                        return p ? fail(x, g, p, "expected an %s address", i == 0 ? "IPv4" : "IPv6")
                                 : -ENOMEM;
                }
                fprintf(f, "Gateway=%s\n", g->value);
        }
        const struct ynode *ns = ynode_get(eth, "nameservers");
        if (ns && !ynode_is_null(ns)) {
                static const char *const ns_keys[] = {"addresses", "search", NULL};
                if (ns->kind != YNODE_MAPPING)
                        return fail(x, ns, p_ns, "expected a mapping (addresses, search)");
                if ((r = check_keys(x, ns, p_ns, ns_keys)) < 0 ||
                    (r = list_lines(x, ns, "addresses", p_nsa, ip_valid, "IPv4 or IPv6 addresses", "DNS",
                                    f)) < 0 ||
                    (r = list_lines(x, ns, "search", p_nss, domain_valid, "domain names", "Domains", f)) < 0)
                        return r;
        }
        return render_routes(x, eth, path, f);
}

static int render_ethernet(struct ctx *x, const char *id, const struct ynode *eth,
                           struct netconfig_file *ret) {
        static const char *const keys[] = {"match",    "dhcp4",    "dhcp6",  "addresses",
                                           "gateway4", "gateway6", "routes", "nameservers",
                                           "mtu",      "optional", NULL};
        _cleanup_free_ char *printable = ystr_printable(id, 64);
        _cleanup_free_ char *path = printable ? strdupf("ethernets.%s", printable) : NULL;
        if (!path)
                return -ENOMEM;
        if (!id_valid(id))
                return fail(x, eth, path,
                            "expected an id of 1-64 letters, digits, '_', '.' or '-' (it names the file)");
        if (eth->kind != YNODE_MAPPING)
                return fail(x, eth, path, "expected a mapping (match, addresses, dhcp4, ...)");
        int r = check_keys(x, eth, path, keys);
        if (r < 0)
                return r;

        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        r = ethernet_body(x, id, eth, path, f);
        _cleanup_free_ char *text = NULL;
        int k = memstream_finish(&f, &buf, &size, &text, &size);
        if (r < 0)
                return r;
        if (k < 0)
                return k;
        _cleanup_free_ char *file = strdupf(NETCONFIG_NETWORK_DIR "/10-kubeseed-%s.network", id);
        if (!file)
                return -ENOMEM;
        *ret = (struct netconfig_file){.path = TAKE_PTR(file), .content = TAKE_PTR(text), .size = size};
        return 0;
}

int netconfig_render_networkd(const char *data, size_t size, struct netconfig *ret, char **ret_error) {
        static const char *const keys[] = {"version", "renderer", "ethernets", NULL};
        struct ctx x = {.error = ret_error};
        if (size > SEED_NETWORK_CONFIG_MAX)
                return fail(&x, NULL, NULL, "expected at most %u bytes", SEED_NETWORK_CONFIG_MAX);
        struct yaml_limits limits = yaml_default_limits;
        limits.max_input = SEED_NETWORK_CONFIG_MAX;
        limits.max_depth = 16;
        limits.max_documents = 1;
        _cleanup_ynode_ struct ynode *root = NULL;
        int r = yaml_parse_named("network-config", data, size, &limits, &root, ret_error);
        if (r < 0)
                return r;
        const struct ynode *top = root;
        /* cloud-init accepts the netplan form with its "network:" key too. */
        const struct ynode *wrapped = ynode_get(root, "network");
        if (wrapped && root->n_items == 1)
                top = wrapped;
        if (top->kind != YNODE_MAPPING)
                return fail(&x, top, NULL, "expected a mapping (version: 2, ethernets: ...)");
        const struct ynode *v = ynode_get(top, "version");
        if (!v || v->kind != YNODE_SCALAR || !streq(v->value, "2"))
                return fail(
                        &x, v ? v : top, "version",
                        "expected 2 (network-config version 2; version 1 needs cloud-init in the image)");
        if ((r = check_keys(&x, top, "", keys)) < 0)
                return r;

        struct netconfig n = {};
        const struct ynode *eths = ynode_get(top, "ethernets");
        if (eths && !ynode_is_null(eths)) {
                if (eths->kind != YNODE_MAPPING)
                        return fail(&x, eths, "ethernets", "expected a mapping of ids to interfaces");
                if (eths->n_items > NETCONFIG_ETHERNETS_MAX)
                        return fail(&x, eths, "ethernets", "expected at most %u interfaces",
                                    NETCONFIG_ETHERNETS_MAX);
                n.files = calloc(eths->n_items ? eths->n_items : 1, sizeof *n.files);
                if (!n.files)
                        return -ENOMEM;
                for (size_t i = 0; i < eths->n_items; i++) {
                        r = render_ethernet(&x, eths->keys[i], eths->items[i], &n.files[i]);
                        if (r < 0) {
                                netconfig_done(&n);
                                return r;
                        }
                        n.n_files++;
                }
        }
        *ret = n;
        return 0;
}

/* ---- the step ---------------------------------------------------------------- */

static bool is_real_root(const char *root) {
        return !root || !*root || streq(root, "/");
}

/* Runs argv; false (and a warning) when it fails. */
static bool try_run(char *const argv[], unsigned timeout_sec) {
        struct proc_result res = {0};
        struct proc_opts opts = {.timeout_sec = timeout_sec, .stdout_fd = -1};
        int r = proc_ops->run(argv, &opts, &res);
        if (r < 0)
                proc_log_failure(r, "network", argv, &res);
        proc_result_done(&res);
        return r >= 0;
}

static bool has_cloud_init(const char *root) {
        _cleanup_free_ char *p = path_join_root(root, "/usr/bin/cloud-init");
        return p && access(p, F_OK) == 0;
}

/* Renders network-config and writes the files below the root. Returns how
 * many, or a negative errno with *ret_reason. */
static int write_networkd(const char *root, const char *source, const char *data, size_t size,
                          char **ret_reason) {
        _cleanup_(netconfig_done) struct netconfig n = {};
        _cleanup_free_ char *err = NULL;
        int r = netconfig_render_networkd(data, size, &n, &err);
        if (r < 0) {
                *ret_reason = err ? strdupf("%s: %s", source, err) : strdup(strerror(-r));
                return r;
        }
        for (size_t i = 0; i < n.n_files; i++) {
                r = write_file_atomic_root(root, n.files[i].path, n.files[i].content, n.files[i].size, 0644);
                if (r < 0) {
                        *ret_reason = strdupf("cannot write %s: %s", n.files[i].path, strerror(-r));
                        return r;
                }
                log_info("Wrote %s", n.files[i].path);
        }
        return (int) n.n_files;
}

int step_network(struct agent_ctx *c, char **ret_detail, char **ret_reason) {
        const char *root = c->o->root;
        if (!c->md.network_config) {
                *ret_detail =
                        strdup("no network-config: the image's default (DHCP on every wired interface)");
                return *ret_detail ? 0 : -ENOMEM;
        }
        if (has_cloud_init(root)) {
                *ret_detail = strdup("network-config left to cloud-init (it is in the image)");
                return *ret_detail ? 0 : -ENOMEM;
        }
        int n = write_networkd(root, c->md.source, c->md.network_config, c->md.network_config_size,
                               ret_reason);
        if (n < 0)
                return n;

        const char *applied = "not applied (not the real root)";
        if (is_real_root(root) && n > 0) {
                /* networkd reconfigures the links a new or changed .network
                 * file matches; a restart when reload is refused. */
                char *reload[] = {"networkctl", "reload", NULL};
                char *restart[] = {"systemctl", "restart", "systemd-networkd.service", NULL};
                if (!try_run(reload, 60) && !try_run(restart, 120)) {
                        *ret_reason =
                                strdup("systemd-networkd took neither networkctl reload nor a restart");
                        return -EIO;
                }
                /* The wait for the network the unit's ordering did before
                 * this configuration existed. Not fatal: the steps that need
                 * the network say so themselves. */
                char *wait[] = {"/lib/systemd/systemd-networkd-wait-online", "--any",
                                "--operational-state=routable", "--timeout=120", NULL};
                applied = try_run(wait, 150) ? "applied, network online" : "applied, network not online yet";
        }
        *ret_detail = strdupf("%d systemd-networkd file%s in %s, %s", n, n == 1 ? "" : "s",
                              NETCONFIG_NETWORK_DIR, applied);
        return *ret_detail ? 0 : -ENOMEM;
}

int netconfig_early(const struct agent_options *o) {
        log_set_ident(AGENT_PROGRAM);
        if (has_cloud_init(o->root)) {
                log_info("network: cloud-init is in the image and applies network-config");
                return 0;
        }
        _cleanup_(metadata_done) struct metadata md = {};
        _cleanup_free_ char *err = NULL, *source = o->seed_dir ? strdupf("directory %s", o->seed_dir) : NULL;
        int r;
        if (o->seed_dir)
                r = source ? sources_read_nocloud_dir(o->seed_dir, source, &md, &err) : -ENOMEM;
        else {
                /* Local sources only: the network is what is being configured. */
                struct sources_options so = {
                        .root = o->root,
                        .cmdline = o->cmdline,
                        .disabled = SOURCE_MASK(SOURCE_IMDS) | SOURCE_MASK(SOURCE_INSTANCE_DATA),
                        .blk_ops = o->blk_ops,
                        .blk_userdata = o->blk_userdata,
                        .mount_ops = o->mount_ops,
                        .mount_userdata = o->mount_userdata,
                        .imds_url = o->imds_url,
                };
                r = sources_find(&so, &md, &err);
        }
        if (r <= 0) {
                /* Not this program's failure to report: the run verb reads
                 * the metadata again once the network is up, and says why. */
                log_info("network: no local metadata source with network-config (%s)",
                         err     ? err
                         : r < 0 ? strerror(-r)
                                 : "none found");
                return 0;
        }
        if (!md.network_config) {
                log_info("network: %s has no network-config", md.source);
                return 0;
        }
        _cleanup_free_ char *reason = NULL;
        int n = write_networkd(o->root, md.source, md.network_config, md.network_config_size, &reason);
        if (n < 0)
                return log_error_errno(n, "network: %s", reason ? reason : strerror(-n));
        log_info("network: %d systemd-networkd file%s from %s's network-config", n, n == 1 ? "" : "s",
                 md.source);
        return 0;
}
