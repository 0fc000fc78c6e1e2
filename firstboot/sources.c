/* SPDX-License-Identifier: MIT */
#include "sources.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "http.h"
#include "log.h"
#include "macro.h"
#include "strv.h"
#include "yamltree.h"

/* ---- helpers ------------------------------------------------------------ */

static void wipe_free(char *s, size_t size) {
        if (s) {
                explicit_bzero(s, size);
                free(s);
        }
}

static void wipe_strv(char **v) {
        for (char **i = v; i && *i; i++)
                explicit_bzero(*i, strlen(*i));
        strv_free(v);
}

/* strdupf() comes from lib/strv.h (shared with the rest of the agent). */

static void sleep_ms(unsigned ms) {
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* Read a regular file below root: -ENOENT when absent, -EBADF when not a
 * regular file, -EFBIG when larger than max. */
static int read_below_root(const char *root, const char *path, size_t max, char **ret, size_t *ret_size) {
        _cleanup_free_ char *p = path_join_root(root, path);
        if (!p)
                return -ENOMEM;
        return read_regular_file(p, max, ret, ret_size);
}

/* Text of a small HTTP or file answer without trailing white space. */
static void rstrip(char *s) {
        size_t n = strlen(s);
        while (n > 0 && isspace((unsigned char) s[n - 1]))
                s[--n] = '\0';
}

void metadata_done(struct metadata *m) {
        if (!m)
                return;
        free(m->source);
        free(m->instance_id);
        free(m->local_hostname);
        wipe_free(m->user_data, m->user_data_size);
        wipe_strv(m->cmdline_args);
        free(m->network_config);
        *m = (struct metadata){};
}

const char *source_kind_to_string(enum source_kind k) {
        static const char *const names[_SOURCE_KIND_MAX] = {
                [SOURCE_CMDLINE] = "cmdline", [SOURCE_SEEDFROM] = "seedfrom",
                [SOURCE_NOCLOUD] = "nocloud", [SOURCE_CONFIG_DRIVE] = "config-drive",
                [SOURCE_IMDS] = "imds",       [SOURCE_INSTANCE_DATA] = "instance-data",
        };
        if ((int) k < 0 || k >= _SOURCE_KIND_MAX)
                return "invalid";
        return names[k];
}

struct nodeconfig_input metadata_nodeconfig_input(const struct metadata *m) {
        return (struct nodeconfig_input){
                .source = m->source,
                .instance_id = m->instance_id,
                .local_hostname = m->local_hostname,
                .user_data = m->user_data,
                .user_data_size = m->user_data_size,
                .cmdline_args = m->cmdline_args,
        };
}

/* Validate and set the identity. `what` names where it came from. */
static int set_identity(struct metadata *m, const char *iid, const char *host, const char *what,
                        char **ret_error) {
        if (!iid || !seed_instance_id_valid(iid))
                return replace_error(
                        ret_error, -EBADMSG,
                        "%s: %s: instance-id: expected 1-%u printable ASCII characters without spaces",
                        m->source, what, SEED_INSTANCE_ID_MAX);
        if (host && !seed_hostname_valid(host))
                return replace_error(
                        ret_error, -EBADMSG,
                        "%s: %s: local-hostname: expected a hostname (letters, digits, '-' and '.', at most "
                        "253 characters)",
                        m->source, what);
        m->instance_id = strdup(iid);
        m->local_hostname = host ? strdup(host) : NULL;
        if (!m->instance_id || (host && !m->local_hostname))
                return -ENOMEM;
        return 0;
}

/* ---- kernel command line ----------------------------------------------- */

void cmdline_config_done(struct cmdline_config *c) {
        wipe_strv(c->kubeseed_args);
        free(c->seedfrom);
        free(c->ds_instance_id);
        free(c->ds_hostname);
        *c = (struct cmdline_config){};
}

/* The kernel's next_arg() (lib/cmdline.c, kernel/params.c), on a writable copy. */
static char *next_arg(char *args, char **param, char **val) {
        size_t i, equals = 0;
        bool in_quote = false, quoted = false;

        if (*args == '"') {
                args++;
                in_quote = true;
                quoted = true;
        }
        for (i = 0; args[i]; i++) {
                if (isspace((unsigned char) args[i]) && !in_quote)
                        break;
                if (equals == 0 && args[i] == '=')
                        equals = i;
                if (args[i] == '"')
                        in_quote = !in_quote;
        }

        *param = args;
        if (!equals)
                *val = NULL;
        else {
                args[equals] = '\0';
                *val = args + equals + 1;
                /* Don't include quotes in the value. */
                if (**val == '"') {
                        (*val)++;
                        if (args[i - 1] == '"')
                                args[i - 1] = '\0';
                }
        }
        if (quoted && i > 0 && args[i - 1] == '"')
                args[i - 1] = '\0';

        if (args[i]) {
                args[i] = '\0';
                args += i + 1;
        } else
                args += i;
        while (isspace((unsigned char) *args))
                args++;
        return args;
}

static int parse_ds(const char *val, struct cmdline_config *c) {
        _cleanup_free_ char *copy = strdup(val);
        if (!copy)
                return -ENOMEM;
        char *save = NULL;
        char *name = strtok_r(copy, ";", &save);
        if (!name || (strcasecmp(name, "nocloud") != 0 && strcasecmp(name, "nocloud-net") != 0))
                return 0; /* another datasource: not ours */
        /* The last ds= wins, as a whole. */
        free(c->seedfrom);
        free(c->ds_instance_id);
        free(c->ds_hostname);
        c->seedfrom = c->ds_instance_id = c->ds_hostname = NULL;
        c->ds_nocloud = true;
        for (char *kv; (kv = strtok_r(NULL, ";", &save));) {
                char *eq = strchr(kv, '=');
                if (!eq)
                        continue;
                *eq = '\0';
                char **dst = NULL;
                if (streq(kv, "s") || streq(kv, "seedfrom"))
                        dst = &c->seedfrom;
                else if (streq(kv, "i") || streq(kv, "instance-id"))
                        dst = &c->ds_instance_id;
                else if (streq(kv, "h") || streq(kv, "local-hostname"))
                        dst = &c->ds_hostname;
                if (!dst)
                        continue;
                free(*dst);
                *dst = strdup(eq + 1);
                if (!*dst)
                        return -ENOMEM;
        }
        return 0;
}

int sources_cmdline_parse(const char *cmdline, struct cmdline_config *ret) {
        size_t size = strlen(cmdline);
        if (size > SOURCES_CMDLINE_MAX)
                return -E2BIG;
        char *buf = strdup(cmdline);
        if (!buf)
                return -ENOMEM;
        struct cmdline_config c = {};
        int r = 0;
        char *args = buf;
        while (isspace((unsigned char) *args))
                args++;
        while (*args) {
                char *param, *val;
                args = next_arg(args, &param, &val);
                if (!val && streq(param, "--"))
                        break; /* the rest is init's, not the kernel's */
                if (strncmp(param, "kubeseed.", 9) == 0) {
                        if (strv_length(c.kubeseed_args) >= SOURCES_CMDLINE_ARGS_MAX) {
                                r = -E2BIG;
                                break;
                        }
                        r = val ? strv_pushf(&c.kubeseed_args, "%s=%s", param + 9, val)
                                : strv_push(&c.kubeseed_args, param + 9);
                } else if (streq(param, "ds") && val)
                        r = parse_ds(val, &c);
                if (r < 0)
                        break;
        }
        explicit_bzero(buf, size);
        free(buf);
        if (r < 0) {
                cmdline_config_done(&c);
                return r;
        }
        *ret = c;
        return 0;
}

/* ---- HTTP --------------------------------------------------------------- */

struct http_params {
        unsigned connect_timeout_ms, timeout_ms, attempts, retry_delay_ms;
};

static struct http_params http_params(const struct sources_options *o) {
        return (struct http_params){
                .connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : 1000,
                .timeout_ms = o->timeout_ms ? o->timeout_ms : 3000,
                .attempts = o->attempts ? o->attempts : 3,
                .retry_delay_ms = o->retry_delay_ms ? o->retry_delay_ms : 250,
        };
}

static bool transient(int r, long status) {
        if (r < 0)
                return r != -ENOMEM && r != -EFBIG && r != -EPERM;
        return status >= 500;
}

/* One request with bounded retries on transport errors and 5xx. Returns 0
 * with *ret filled (any status), or the last transport error (*ret done). */
static int http_try(const struct http_params *p, const char *method, const char *url,
                    const char *const *headers, size_t max, struct http_response *ret) {
        unsigned delay = p->retry_delay_ms;
        for (unsigned attempt = 1;; attempt++) {
                struct http_request req = {
                        .method = method,
                        .url = url,
                        .headers = headers,
                        .timeout_ms = p->timeout_ms,
                        .connect_timeout_ms = p->connect_timeout_ms,
                        .max_response = max,
                };
                *ret = (struct http_response){};
                int r = http_ops->perform(&req, ret);
                if (attempt >= p->attempts || !transient(r, ret->status)) {
                        if (r < 0)
                                http_response_done(ret);
                        return r;
                }
                log_debug("%s %s: %s, retrying in %u ms", method, url, r < 0 ? strerror(-r) : "server error",
                          delay);
                http_response_done(ret);
                sleep_ms(delay);
                delay = delay < 5000 ? delay * 2 : delay;
        }
}

static void http_response_wipe_done(struct http_response *r) {
        if (r->body)
                explicit_bzero(r->body, r->body_size);
        http_response_done(r);
}

/* GET url: 1 and the body (NUL-terminated) on 200; 0 on 404 when optional;
 * a negative errno with a message otherwise. */
static int http_get(const struct http_params *p, const char *source, const char *url,
                    const char *const *headers, size_t max, bool optional, char **ret, size_t *ret_size,
                    char **ret_error) {
        _cleanup_(http_response_wipe_done) struct http_response resp = {};
        int r = http_try(p, "GET", url, headers, max, &resp);
        if (r == -ENOMEM)
                return r;
        if (r == -EFBIG)
                return replace_error(ret_error, r, "%s: %s: expected at most %zu bytes", source, url, max);
        if (r < 0)
                return replace_error(ret_error, r, "%s: %s: %s%s%s", source, url, strerror(-r),
                                     resp.error ? ": " : "", resp.error ? resp.error : "");
        if (resp.status == 404 && optional)
                return 0;
        if (resp.status != 200)
                return replace_error(ret_error, -EPROTO, "%s: %s: expected HTTP 200, got %ld", source, url,
                                     resp.status);
        char *body = malloc(resp.body_size + 1);
        if (!body)
                return -ENOMEM;
        if (resp.body_size > 0)
                memcpy(body, resp.body, resp.body_size);
        body[resp.body_size] = '\0';
        *ret = body;
        *ret_size = resp.body_size;
        return 1;
}

/* ---- seedfrom ------------------------------------------------------------ */

static int metadata_from_seed(struct seed *s, enum source_kind kind, char *source, struct metadata *ret) {
        struct metadata m = {.kind = kind, .source = source};
        m.instance_id = s->meta.instance_id;
        m.local_hostname = s->meta.local_hostname;
        m.user_data = s->user_data_text;
        m.user_data_size = s->user_data_size;
        m.network_config = s->network_config;
        m.network_config_size = s->network_config_size;
        /* Ownership moved: seed_done() must not free (or wipe) them now. */
        s->meta.instance_id = s->meta.local_hostname = NULL;
        s->user_data_text = s->network_config = NULL;
        s->user_data_size = s->network_config_size = 0;
        *ret = m;
        return 1;
}

int sources_read_nocloud_dir(const char *dir, const char *source, struct metadata *ret, char **ret_error) {
        _cleanup_(seed_done) struct seed s = {};
        _cleanup_free_ char *err = NULL;
        int r = seed_read_dir(dir, source, &s, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0) /* seed.c's messages name the source already */
                return replace_error(ret_error, r, "%s", err ? err : strerror(-r));
        char *src = strdup(source);
        if (!src)
                return -ENOMEM;
        return metadata_from_seed(&s, SOURCE_NOCLOUD, src, ret);
}

static int read_seedfrom(const struct sources_options *o, const struct cmdline_config *cc,
                         struct metadata *ret, char **ret_error) {
        const char *url = cc->seedfrom;
        bool slash = url[0] && url[strlen(url) - 1] == '/';
        _cleanup_free_ char *base = strdupf("%s%s", url, slash ? "" : "/");
        _cleanup_free_ char *source = strdupf("nocloud seedfrom %s", url);
        if (!base || !source)
                return -ENOMEM;
        _cleanup_(metadata_done) struct metadata m = {.kind = SOURCE_SEEDFROM};
        int r;

        if (strncmp(base, "file://", 7) == 0) {
                const char *path = base + 7;
                if (path[0] != '/')
                        return replace_error(ret_error, -EINVAL, "%s: expected file:///absolute/path/",
                                             source);
                _cleanup_free_ char *dir = path_join_root(o->root, path);
                if (!dir)
                        return -ENOMEM;
                r = sources_read_nocloud_dir(dir, source, &m, ret_error);
                if (r < 0)
                        return r;
        } else if (strncmp(base, "http://", 7) == 0 || strncmp(base, "https://", 8) == 0) {
                struct http_params p = http_params(o);
                _cleanup_free_ char *murl = strdupf("%smeta-data", base),
                                    *uurl = strdupf("%suser-data", base),
                                    *nurl = strdupf("%snetwork-config", base);
                if (!murl || !uurl || !nurl)
                        return -ENOMEM;
                _cleanup_free_ char *meta = NULL;
                size_t meta_size = 0;
                r = http_get(&p, source, murl, NULL, SEED_META_DATA_MAX, false, &meta, &meta_size,
                             ret_error);
                if (r < 0)
                        return r;
                _cleanup_(seed_meta_done) struct seed_meta sm = {};
                _cleanup_free_ char *err = NULL;
                r = seed_parse_meta_data(meta, meta_size, &sm, &err);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return replace_error(ret_error, r, "%s: meta-data: %s", source,
                                             err ? err : strerror(-r));
                m.instance_id = TAKE_PTR(sm.instance_id);
                m.local_hostname = TAKE_PTR(sm.local_hostname);
                r = http_get(&p, source, uurl, NULL, SEED_USER_DATA_MAX, true, &m.user_data,
                             &m.user_data_size, ret_error);
                if (r < 0)
                        return r;
                r = http_get(&p, source, nurl, NULL, SEED_NETWORK_CONFIG_MAX, true, &m.network_config,
                             &m.network_config_size, ret_error);
                if (r < 0)
                        return r;
        } else
                return replace_error(ret_error, -EINVAL, "%s: expected an http://, https:// or file:// URL",
                                     source);

        free(m.source);
        m.source = TAKE_PTR(source);
        m.kind = SOURCE_SEEDFROM;
        /* cloud-init: i= and h= on the command line override meta-data. */
        if (cc->ds_instance_id || cc->ds_hostname) {
                _cleanup_free_ char *iid = TAKE_PTR(m.instance_id), *host = TAKE_PTR(m.local_hostname);
                r = set_identity(&m, cc->ds_instance_id ? cc->ds_instance_id : iid,
                                 cc->ds_hostname ? cc->ds_hostname : host,
                                 "kernel command line ds=", ret_error);
                if (r < 0)
                        return r;
        }
        *ret = m;
        m = (struct metadata){};
        return 1;
}

static int read_cmdline_source(const struct sources_options *o, struct metadata *ret, char **ret_error) {
        _cleanup_free_ char *text = NULL;
        const char *cmdline = o->cmdline;
        if (!cmdline) {
                size_t size;
                int r = read_below_root(o->root, "/proc/cmdline", SOURCES_CMDLINE_MAX, &text, &size);
                if (r == -ENOENT)
                        return replace_error(ret_error, 0, "kernel command line: no /proc/cmdline");
                if (r < 0)
                        return replace_error(ret_error, r,
                                             "kernel command line: cannot read /proc/cmdline: %s",
                                             strerror(-r));
                cmdline = text;
        }
        _cleanup_(cmdline_config_done) struct cmdline_config cc = {};
        int r = sources_cmdline_parse(cmdline, &cc);
        if (text)
                explicit_bzero(text, strlen(text));
        if (r == -E2BIG)
                return replace_error(ret_error, r,
                                     "kernel command line: expected at most %u bytes and %u kubeseed.* keys",
                                     SOURCES_CMDLINE_MAX, SOURCES_CMDLINE_ARGS_MAX);
        if (r < 0)
                return r;

        if (cc.kubeseed_args) {
                _cleanup_(metadata_done) struct metadata m = {.kind = SOURCE_CMDLINE};
                m.source = strdup("kernel command line");
                if (!m.source)
                        return -ENOMEM;
                /* kubeseed.instance-id / kubeseed.hostname: the last one wins. */
                const char *iid = "kubeseed-cmdline", *host = NULL;
                for (char **a = cc.kubeseed_args; *a; a++) {
                        if (strncmp(*a, "instance-id=", 12) == 0)
                                iid = *a + 12;
                        else if (strncmp(*a, "hostname=", 9) == 0)
                                host = *a + 9;
                }
                r = set_identity(&m, iid, host, "kubeseed.*", ret_error);
                if (r < 0)
                        return r;
                m.cmdline_args = TAKE_PTR(cc.kubeseed_args);
                *ret = m;
                m = (struct metadata){};
                return 1;
        }
        if (cc.ds_nocloud && cc.seedfrom)
                return read_seedfrom(o, &cc, ret, ret_error);
        return replace_error(ret_error, 0,
                             "kernel command line: no kubeseed.* keys and no ds=nocloud;s=<url>");
}

/* ---- volumes ------------------------------------------------------------- */

static int run_dir(const struct sources_options *o, char **ret) {
        char *d = o->run_dir ? strdup(o->run_dir) : path_join_root(o->root, "/run/kubeseed");
        if (!d)
                return -ENOMEM;
        *ret = d;
        return 0;
}

static int find_volume(const struct sources_options *o, const char *what, const char *const *labels,
                       struct blk_device **ret, char **ret_error) {
        const struct blk_ops *ops = o->blk_ops ? o->blk_ops : &blk_ops_real;
        size_t n = 0;
        int r = blk_find_by_label(ops, o->blk_userdata, labels, seed_fs_types, ret, &n);
        if (r < 0)
                return replace_error(ret_error, r, "%s: cannot list block devices: %s", what, strerror(-r));
        if (r == 0) {
                _cleanup_free_ char *l = strv_join((char *const *) labels, "/");
                return replace_error(ret_error, 0,
                                     "%s: no vfat or iso9660 volume labelled %s among %zu block devices",
                                     what, l ? l : "?", n);
        }
        return 1;
}

static int read_nocloud_volume(const struct sources_options *o, struct metadata *ret, char **ret_error) {
        _cleanup_blk_device_ struct blk_device *dev = NULL;
        int r = find_volume(o, "nocloud", seed_labels, &dev, ret_error);
        if (r <= 0)
                return r;
        _cleanup_free_ char *rd = NULL, *source = strdupf("nocloud %s", dev->path);
        if (!source || run_dir(o, &rd) < 0)
                return -ENOMEM;
        _cleanup_(seed_done) struct seed s = {};
        _cleanup_free_ char *err = NULL;
        r = seed_read_device(dev, rd, o->mount_ops ? o->mount_ops : &seed_mount_ops_real, o->mount_userdata,
                             &s, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0) /* seed.c's messages name the device already */
                return replace_error(ret_error, r, "%s", err ? err : strerror(-r));
        return metadata_from_seed(&s, SOURCE_NOCLOUD, TAKE_PTR(source), ret);
}

/* A JSON document (parsed as YAML, of which JSON is a subset): the scalar at
 * obj[key] for the first of `keys` present; NULL when none. -EBADMSG when
 * present but not a string. */
static int json_get(const struct ynode *obj, const char *const *keys, const char **ret) {
        for (const char *const *k = keys; *k; k++) {
                const struct ynode *n = ynode_get(obj, *k);
                if (!n || ynode_is_null(n))
                        continue;
                if (n->kind != YNODE_SCALAR)
                        return -EBADMSG;
                *ret = n->value;
                return 0;
        }
        *ret = NULL;
        return 0;
}

static int parse_json(const char *json, size_t size, struct ynode **ret, char **ret_error) {
        struct yaml_limits limits = yaml_default_limits;
        limits.max_input = SOURCES_JSON_MAX;
        limits.max_documents = 1;
        _cleanup_free_ char *err = NULL;
        int r = yaml_parse_one(json, size, &limits, ret, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return replace_error(ret_error, -EBADMSG, "%s", err ? err : "expected JSON");
        if ((*ret)->kind != YNODE_MAPPING) {
                size_t line = (*ret)->line, col = (*ret)->column;
                ynode_free(*ret);
                *ret = NULL;
                return replace_error(ret_error, -EBADMSG, "%zu:%zu: expected a JSON object", line, col);
        }
        return 0;
}

static int take_identity(const struct ynode *obj, const char *const *iid_keys, const char *iid_name,
                         const char *const *host_keys, const char *host_name, char **ret_iid,
                         char **ret_host, char **ret_error) {
        const char *iid, *host;
        if (json_get(obj, iid_keys, &iid) < 0)
                return replace_error(ret_error, -EBADMSG, "%s: expected a string", iid_name);
        if (json_get(obj, host_keys, &host) < 0)
                return replace_error(ret_error, -EBADMSG, "%s: expected a string", host_name);
        if (!iid)
                return replace_error(ret_error, -EBADMSG, "%s: expected the instance's id (missing)",
                                     iid_name);
        if (!seed_instance_id_valid(iid))
                return replace_error(ret_error, -EBADMSG,
                                     "%s: expected 1-%u printable ASCII characters without spaces", iid_name,
                                     SEED_INSTANCE_ID_MAX);
        if (host && !seed_hostname_valid(host))
                return replace_error(
                        ret_error, -EBADMSG,
                        "%s: expected a hostname (letters, digits, '-' and '.', at most 253 characters)",
                        host_name);
        _cleanup_free_ char *a = strdup(iid), *b = host ? strdup(host) : NULL;
        if (!a || (host && !b))
                return -ENOMEM;
        *ret_iid = TAKE_PTR(a);
        *ret_host = TAKE_PTR(b);
        return 0;
}

int sources_parse_openstack_meta(const char *json, size_t size, char **ret_instance_id, char **ret_hostname,
                                 char **ret_error) {
        _cleanup_ynode_ struct ynode *root = NULL;
        int r = parse_json(json, size, &root, ret_error);
        if (r < 0)
                return r;
        return take_identity(root, (const char *const[]){"uuid", NULL}, "uuid",
                             (const char *const[]){"hostname", NULL}, "hostname", ret_instance_id,
                             ret_hostname, ret_error);
}

int sources_parse_instance_data(const char *json, size_t size, char **ret_instance_id, char **ret_hostname,
                                char **ret_error) {
        _cleanup_ynode_ struct ynode *root = NULL;
        int r = parse_json(json, size, &root, ret_error);
        if (r < 0)
                return r;
        const struct ynode *v1 = ynode_get(root, "v1");
        if (!v1 || v1->kind != YNODE_MAPPING)
                return replace_error(ret_error, -EBADMSG,
                                     "v1: expected an object (instance_id, local_hostname)");
        return take_identity(v1, (const char *const[]){"instance_id", "instance-id", NULL}, "v1.instance_id",
                             (const char *const[]){"local_hostname", "local-hostname", NULL},
                             "v1.local_hostname", ret_instance_id, ret_hostname, ret_error);
}

#define CONFIG_DRIVE_META "/openstack/latest/meta_data.json"
#define CONFIG_DRIVE_USER "/openstack/latest/user_data"

static int read_config_drive_dir(const char *dir, const char *source, struct metadata *m, char **ret_error) {
        _cleanup_free_ char *json = NULL;
        size_t size = 0;
        int r = read_below_root(dir, CONFIG_DRIVE_META, SOURCES_JSON_MAX, &json, &size);
        if (r == -ENOENT || r == -EBADF)
                return replace_error(ret_error, -EBADMSG,
                                     "%s: expected a regular file openstack/latest/meta_data.json", source);
        if (r == -EFBIG)
                return replace_error(ret_error, r,
                                     "%s: openstack/latest/meta_data.json: expected at most %u bytes",
                                     source, SOURCES_JSON_MAX);
        if (r < 0)
                return replace_error(ret_error, r, "%s: cannot read openstack/latest/meta_data.json: %s",
                                     source, strerror(-r));
        _cleanup_free_ char *err = NULL;
        r = sources_parse_openstack_meta(json, size, &m->instance_id, &m->local_hostname, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return replace_error(ret_error, r, "%s: openstack/latest/meta_data.json: %s", source,
                                     err ? err : "invalid");

        r = read_below_root(dir, CONFIG_DRIVE_USER, SEED_USER_DATA_MAX, &m->user_data, &m->user_data_size);
        if (r == -ENOENT)
                return 0;
        if (r == -EFBIG)
                return replace_error(ret_error, r,
                                     "%s: openstack/latest/user_data: expected at most %u bytes", source,
                                     SEED_USER_DATA_MAX);
        if (r < 0)
                return replace_error(ret_error, r, "%s: cannot read openstack/latest/user_data: %s", source,
                                     strerror(-r));
        return 0;
}

static int read_config_drive(const struct sources_options *o, struct metadata *ret, char **ret_error) {
        static const char *const labels[] = {"config-2", "CONFIG-2", NULL};
        _cleanup_blk_device_ struct blk_device *dev = NULL;
        int r = find_volume(o, "config-drive", labels, &dev, ret_error);
        if (r <= 0)
                return r;
        _cleanup_free_ char *rd = NULL, *source = strdupf("config-drive %s", dev->path);
        if (!source || run_dir(o, &rd) < 0)
                return -ENOMEM;
        _cleanup_free_ char *tmpl = path_join_root(rd, "/kubeseed-config-drive.XXXXXX");
        if (!tmpl)
                return -ENOMEM;
        r = mkdir_p(rd, 0755);
        if (r < 0)
                return replace_error(ret_error, r, "%s: cannot create %s: %s", source, rd, strerror(-r));
        if (!mkdtemp(tmpl)) {
                r = negative_errno();
                return replace_error(ret_error, r, "%s: cannot create a mount point in %s: %s", source, rd,
                                     strerror(-r));
        }
        const struct seed_mount_ops *ops = o->mount_ops ? o->mount_ops : &seed_mount_ops_real;
        r = ops->mount(o->mount_userdata, dev->path, dev->type, tmpl);
        if (r < 0) {
                (void) rmdir(tmpl);
                return replace_error(ret_error, r, "%s: cannot mount read-only: %s", source, strerror(-r));
        }
        _cleanup_(metadata_done) struct metadata m = {.kind = SOURCE_CONFIG_DRIVE};
        r = read_config_drive_dir(tmpl, source, &m, ret_error);
        int k = ops->umount(o->mount_userdata, tmpl);
        if (k < 0)
                log_warning_errno(k, "Failed to unmount %s from %s: %m", dev->path, tmpl);
        else if (rmdir(tmpl) < 0)
                log_warning_errno(negative_errno(), "Failed to remove %s: %m", tmpl);
        if (r < 0)
                return r;
        m.source = TAKE_PTR(source);
        *ret = m;
        m = (struct metadata){};
        return 1;
}

/* ---- IMDS --------------------------------------------------------------- */

static int read_imds(const struct sources_options *o, struct metadata *ret, char **ret_error) {
        _cleanup_free_ char *base = strdup(o->imds_url ? o->imds_url : SOURCES_IMDS_URL_DEFAULT);
        if (!base)
                return -ENOMEM;
        for (size_t n = strlen(base); n > 0 && base[n - 1] == '/'; n--)
                base[n - 1] = '\0';
        _cleanup_free_ char *source = strdupf("imds %s", base);
        if (!source)
                return -ENOMEM;
        if (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0)
                return replace_error(ret_error, -EINVAL, "%s: expected an http:// or https:// base URL",
                                     source);
        struct http_params p = http_params(o);

        /* IMDSv2: a session token first. */
        _cleanup_free_ char *turl = strdupf("%s/latest/api/token", base);
        if (!turl)
                return -ENOMEM;
        static const char *const ttl[] = {"X-aws-ec2-metadata-token-ttl-seconds: 300", NULL};
        char *token_header = NULL;
        {
                _cleanup_(http_response_wipe_done) struct http_response resp = {};
                int r = http_try(&p, "PUT", turl, ttl, 4096, &resp);
                if (r == -ENOMEM)
                        return r;
                if (r < 0 && r != -EFBIG)
                        return replace_error(ret_error, 0, "%s: no answer (%s)", source, strerror(-r));
                if (r < 0)
                        return replace_error(ret_error, r, "%s: the token answer is larger than 4096 bytes",
                                             source);
                if (resp.status == 200) {
                        bool ok = resp.body && strlen(resp.body) == resp.body_size;
                        if (ok)
                                rstrip(resp.body);
                        ok = ok && resp.body[0];
                        for (const char *c = resp.body; ok && *c; c++)
                                ok = *c > 0x20 && *c < 0x7f;
                        if (!ok)
                                return replace_error(ret_error, -EBADMSG,
                                                     "%s: expected a session token in the answer to PUT %s",
                                                     source, turl);
                        token_header = strdupf("X-aws-ec2-metadata-token: %s", resp.body);
                        if (!token_header)
                                return -ENOMEM;
                } else if (resp.status == 403 || resp.status == 404 || resp.status == 405)
                        log_debug("%s: no IMDSv2 session token (HTTP %ld), using IMDSv1", source,
                                  resp.status);
                else
                        return replace_error(ret_error, -EPROTO,
                                             "%s: PUT %s: expected HTTP 200, 403, 404 or 405, got %ld",
                                             source, turl, resp.status);
        }

        const char *headers[] = {token_header, NULL};
        const char *const *h = token_header ? headers : NULL;
        _cleanup_free_ char *iurl = strdupf("%s/latest/meta-data/instance-id", base),
                            *hurl = strdupf("%s/latest/meta-data/local-hostname", base),
                            *uurl = strdupf("%s/latest/user-data", base);
        _cleanup_(metadata_done) struct metadata m = {.kind = SOURCE_IMDS};
        _cleanup_free_ char *iid = NULL, *host = NULL;
        size_t size;
        int r = -ENOMEM;
        if (!iurl || !hurl || !uurl)
                goto finish;
        r = http_get(&p, source, iurl, h, 4096, false, &iid, &size, ret_error);
        if (r < 0)
                goto finish;
        r = http_get(&p, source, hurl, h, 4096, true, &host, &size, ret_error);
        if (r < 0)
                goto finish;
        r = http_get(&p, source, uurl, h, SEED_USER_DATA_MAX, true, &m.user_data, &m.user_data_size,
                     ret_error);
        if (r < 0)
                goto finish;
        m.source = TAKE_PTR(source);
        rstrip(iid);
        if (host)
                rstrip(host);
        r = set_identity(&m, iid, host, "meta-data", ret_error);
        if (r < 0)
                goto finish;
        *ret = m;
        m = (struct metadata){};
        r = 1;
finish:
        if (token_header)
                wipe_free(token_header, strlen(token_header));
        return r;
}

/* ---- cloud-init's instance data ----------------------------------------- */

#define INSTANCE_DATA_PATH "/run/cloud-init/instance-data.json"
#define INSTANCE_USER_DATA_PATH "/var/lib/cloud/instance/user-data.txt"

static int read_instance_data(const struct sources_options *o, struct metadata *ret, char **ret_error) {
        static const char source[] = "cloud-init " INSTANCE_DATA_PATH;
        _cleanup_free_ char *json = NULL;
        size_t size = 0;
        int r = read_below_root(o->root, INSTANCE_DATA_PATH, SOURCES_JSON_MAX, &json, &size);
        if (r == -ENOENT)
                return replace_error(ret_error, 0, "cloud-init: no %s", INSTANCE_DATA_PATH);
        if (r == -EFBIG)
                return replace_error(ret_error, r, "%s: expected at most %u bytes", source,
                                     SOURCES_JSON_MAX);
        if (r < 0)
                return replace_error(ret_error, r, "%s: cannot read: %s", source, strerror(-r));

        _cleanup_(metadata_done) struct metadata m = {.kind = SOURCE_INSTANCE_DATA};
        _cleanup_free_ char *err = NULL;
        r = sources_parse_instance_data(json, size, &m.instance_id, &m.local_hostname, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return replace_error(ret_error, r, "%s: %s", source, err ? err : "invalid");

        r = read_below_root(o->root, INSTANCE_USER_DATA_PATH, SEED_USER_DATA_MAX, &m.user_data,
                            &m.user_data_size);
        if (r == -EFBIG)
                return replace_error(ret_error, r, "%s: %s: expected at most %u bytes", source,
                                     INSTANCE_USER_DATA_PATH, SEED_USER_DATA_MAX);
        if (r < 0 && r != -ENOENT)
                return replace_error(ret_error, r, "%s: cannot read %s: %s", source, INSTANCE_USER_DATA_PATH,
                                     strerror(-r));
        m.source = strdup(source);
        if (!m.source)
                return -ENOMEM;
        *ret = m;
        m = (struct metadata){};
        return 1;
}

/* ---- the search ---------------------------------------------------------- */

int sources_read_one(enum source_kind kind, const struct sources_options *o, struct metadata *ret,
                     char **ret_error) {
        switch (kind) {
        case SOURCE_CMDLINE:
        case SOURCE_SEEDFROM:
                return read_cmdline_source(o, ret, ret_error);
        case SOURCE_NOCLOUD:
                return read_nocloud_volume(o, ret, ret_error);
        case SOURCE_CONFIG_DRIVE:
                return read_config_drive(o, ret, ret_error);
        case SOURCE_IMDS:
                return read_imds(o, ret, ret_error);
        case SOURCE_INSTANCE_DATA:
                return read_instance_data(o, ret, ret_error);
        case _SOURCE_KIND_MAX:
                break;
        }
        return -EINVAL;
}

int sources_find(const struct sources_options *o, struct metadata *ret, char **ret_error) {
        static const enum source_kind order[] = {SOURCE_CMDLINE, SOURCE_NOCLOUD, SOURCE_CONFIG_DRIVE,
                                                 SOURCE_IMDS, SOURCE_INSTANCE_DATA};
        _cleanup_free_ char *summary = NULL;
        for (size_t i = 0; i < ELEMENTSOF(order); i++) {
                enum source_kind k = order[i];
                if (o->disabled & SOURCE_MASK(k))
                        continue;
                if (k == SOURCE_CMDLINE && (o->disabled & SOURCE_MASK(SOURCE_SEEDFROM)))
                        continue;
                _cleanup_free_ char *why = NULL;
                int r = sources_read_one(k, o, ret, &why);
                if (r != 0) {
                        if (r < 0 && ret_error) {
                                free(*ret_error);
                                *ret_error = TAKE_PTR(why);
                        }
                        return r;
                }
                char *s = strdupf("%s%s%s", summary ? summary : "no metadata: ", summary ? "; " : "",
                                  why ? why : source_kind_to_string(k));
                if (!s)
                        return -ENOMEM;
                free(summary);
                summary = s;
        }
        if (ret_error) {
                free(*ret_error);
                *ret_error = summary ? TAKE_PTR(summary) : strdup("no metadata: every source is disabled");
        }
        return 0;
}

/* ---- instance identity -------------------------------------------------- */

bool sources_instance_id_differs(const char *recorded, size_t size, const char *instance_id) {
        while (size > 0 && (recorded[size - 1] == '\n' || recorded[size - 1] == '\r'))
                size--;
        return strlen(instance_id) != size || memcmp(recorded, instance_id, size) != 0;
}

int sources_instance_changed(const char *root, const char *instance_id) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        int r = read_below_root(root, SOURCES_INSTANCE_ID_PATH, SEED_INSTANCE_ID_MAX + 2, &text, &size);
        if (r < 0)
                return r;
        return sources_instance_id_differs(text, size, instance_id) ? 1 : 0;
}

int sources_record_instance_id(const char *root, const char *instance_id) {
        if (!seed_instance_id_valid(instance_id))
                return -EINVAL;
        _cleanup_free_ char *text = strdupf("%s\n", instance_id);
        if (!text)
                return -ENOMEM;
        return write_file_atomic_root(root, SOURCES_INSTANCE_ID_PATH, text, strlen(text), 0644);
}
