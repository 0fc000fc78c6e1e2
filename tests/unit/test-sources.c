/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "blk.h"
#include "fsutil.h"
#include "http.h"
#include "macro.h"
#include "nodeconfig.h"
#include "seed.h"
#include "sources.h"
#include "strv.h"

#include "testutil.h"

#define TOKEN "abcdef.0123456789abcdef"
#define HASH_A "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define USER                                                                                                \
        "#cloud-config\nkubeseed:\n  role: worker\n  cluster:\n    endpoint: 10.0.0.10:6443\n    "          \
        "token: " TOKEN "\n    ca-cert-hash: " HASH_A "\n"

/* ---- fixtures ------------------------------------------------------------ */

struct env {
        char dir[64];
        char *root;
};

static char *join(const char *a, const char *b) {
        char *p = path_join_root(a, b);
        assert_non_null(p);
        return p;
}

static void mkfile(const char *path, const char *text) {
        _cleanup_free_ char *dir = strdup(path);
        assert_non_null(dir);
        *strrchr(dir, '/') = '\0';
        assert_int_equal(mkdir_p(dir, 0755), 0);
        assert_int_equal(write_file_atomic(path, text, strlen(text), 0644), 0);
}

static void mkfile_rel(const struct env *e, const char *rel, const char *text) {
        _cleanup_free_ char *p = join(e->root, rel);
        mkfile(p, text);
}

static int setup(void **state) {
        struct env *e = calloc(1, sizeof *e);
        if (!e)
                return -1;
        snprintf(e->dir, sizeof e->dir, "/tmp/test-sources.XXXXXX");
        if (!mkdtemp(e->dir))
                return -1;
        e->root = path_join_root(e->dir, "/root");
        if (!e->root || mkdir_p(e->root, 0755) < 0)
                return -1;
        *state = e;
        return 0;
}

static int teardown(void **state) {
        struct env *e = *state;
        int r = rm_rf(e->dir);
        free(e->root);
        free(e);
        http_ops = &http_ops_real;
        return r < 0 ? -1 : 0;
}

/* ---- fake block devices and mounts -------------------------------------- */

struct fake_file {
        const char *path, *content;
};
struct fake_dev {
        const char *path, *label;
        const struct fake_file *files; /* what a mount shows; NULL-path terminated */
};
struct fake_sys {
        const struct fake_dev *devs;
        size_t n_devs;
        unsigned lists, mounts, umounts;
        char *mounted_at;
};

static int fake_list(void *userdata, char ***ret) {
        struct fake_sys *s = userdata;
        s->lists++;
        char **v = NULL;
        for (size_t i = 0; i < s->n_devs; i++)
                assert_int_equal(strv_push(&v, s->devs[i].path), 0);
        if (!v)
                v = calloc(1, sizeof(char *));
        *ret = v;
        return 0;
}

static int fake_probe(void *userdata, const char *path, struct blk_device **ret) {
        struct fake_sys *s = userdata;
        for (size_t i = 0; i < s->n_devs; i++) {
                if (!streq(s->devs[i].path, path))
                        continue;
                if (!s->devs[i].label)
                        return 0;
                struct blk_device *d = calloc(1, sizeof *d);
                assert_non_null(d);
                d->path = strdup(path);
                d->type = strdup("iso9660");
                d->label = strdup(s->devs[i].label);
                *ret = d;
                return 1;
        }
        return -ENOENT;
}

static const struct blk_ops fake_blk_ops = {.list_devices = fake_list, .probe = fake_probe};

static int fake_mount(void *userdata, const char *device, const char *fstype, const char *target) {
        struct fake_sys *s = userdata;
        assert_string_equal(fstype, "iso9660");
        for (size_t i = 0; i < s->n_devs; i++) {
                if (!streq(s->devs[i].path, device))
                        continue;
                for (const struct fake_file *f = s->devs[i].files; f && f->path; f++) {
                        _cleanup_free_ char *p = join(target, f->path);
                        mkfile(p, f->content);
                }
                s->mounts++;
                free(s->mounted_at);
                s->mounted_at = strdup(target);
                return 0;
        }
        return -ENODEV;
}

static int fake_umount(void *userdata, const char *target) {
        struct fake_sys *s = userdata;
        s->umounts++;
        /* Empty the directory again, as an unmount would. */
        assert_int_equal(rm_rf(target), 0);
        assert_int_equal(mkdir(target, 0700), 0);
        return 0;
}

static const struct seed_mount_ops fake_mount_ops = {.mount = fake_mount, .umount = fake_umount};

/* ---- fake HTTP ----------------------------------------------------------- */

struct route {
        const char *method, *path; /* path below the base */
        long status;
        const char *body;
        const char *need_header; /* answer 401 without it */
        int transport_error;     /* < 0: fail with it */
        unsigned fail_first;     /* answer 503 this many times first */
};

static struct {
        const struct route *routes;
        const char *base;
        unsigned calls;
        char log[4096];
} fake;

static int fake_perform(const struct http_request *req, struct http_response *ret) {
        fake.calls++;
        const char *method = req->method ? req->method : "GET";
        size_t n = strlen(fake.log);
        snprintf(fake.log + n, sizeof fake.log - n, "%s %s%s\n", method, req->url,
                 req->headers && req->headers[0] && strstr(req->headers[0], "token: ") ? " +token" : "");
        /* Bounded timeouts are always set. */
        assert_int_equal(req->connect_timeout_ms, 1000);
        assert_int_equal(req->timeout_ms, 3000);
        assert_true(strncmp(req->url, fake.base, strlen(fake.base)) == 0);
        const char *path = req->url + strlen(fake.base);
        for (struct route *r = (struct route *) fake.routes; r->path; r++) {
                if (!streq(r->method, method) || !streq(r->path, path))
                        continue;
                if (r->transport_error < 0)
                        return r->transport_error;
                if (r->fail_first > 0) {
                        r->fail_first--;
                        ret->status = 503;
                        return 0;
                }
                bool have = false;
                for (const char *const *h = req->headers; h && *h; h++)
                        if (r->need_header && streq(*h, r->need_header))
                                have = true;
                if (r->need_header && !have) {
                        ret->status = 401;
                        return 0;
                }
                ret->status = r->status;
                ret->body = strdup(r->body ? r->body : "");
                ret->body_size = strlen(ret->body);
                return 0;
        }
        ret->status = 404;
        ret->body = strdup("not found");
        ret->body_size = strlen(ret->body);
        return 0;
}

static const struct http_ops fake_http_ops = {.perform = fake_perform};

static void fake_http(const char *base, const struct route *routes) {
        memset(&fake, 0, sizeof fake);
        fake.routes = routes;
        fake.base = base;
        http_ops = &fake_http_ops;
}

static struct sources_options options(const struct env *e, const char *cmdline, struct fake_sys *sys) {
        return (struct sources_options){
                .root = e->root,
                .cmdline = cmdline,
                .blk_ops = &fake_blk_ops,
                .blk_userdata = sys,
                .mount_ops = &fake_mount_ops,
                .mount_userdata = sys,
                .imds_url = "http://imds.test",
                .retry_delay_ms = 1,
        };
}

/* ---- the kernel command line -------------------------------------------- */

static void test_cmdline_parse(void **unused) {
        (void) unused;
        struct cmdline_config c = {};
        assert_int_equal(sources_cmdline_parse("BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro kubeseed.role=worker "
                                               "\"kubeseed.token=" TOKEN
                                               "\" kubeseed.endpoint=\"10.0.0.10:6443\" "
                                               "kubeseed.node-ip=\"a b\"  kubeseed.ca-cert-hash=x "
                                               "kubeseed.ca-cert-hash=y kubeseed.role quiet\n"
                                               "-- kubeseed.role=for-init",
                                               &c),
                         0);
        char *want[] = {"role=worker",
                        "token=" TOKEN,
                        "endpoint=10.0.0.10:6443",
                        "node-ip=a b",
                        "ca-cert-hash=x",
                        "ca-cert-hash=y",
                        "role",
                        NULL};
        assert_int_equal(strv_length(c.kubeseed_args), strv_length(want));
        for (size_t i = 0; want[i]; i++)
                assert_string_equal(c.kubeseed_args[i], want[i]);
        assert_false(c.ds_nocloud);
        assert_null(c.seedfrom);
        cmdline_config_done(&c);

        /* cloud-init's NoCloud syntax, quoted as GRUB needs it for ';' */
        assert_int_equal(sources_cmdline_parse("console=ttyS0 \"ds=nocloud-net;s=http://10.0.2.2:8000/seed/;"
                                               "h=node-1;i=iid-9\" ip=dhcp",
                                               &c),
                         0);
        assert_null(c.kubeseed_args);
        assert_true(c.ds_nocloud);
        assert_string_equal(c.seedfrom, "http://10.0.2.2:8000/seed/");
        assert_string_equal(c.ds_hostname, "node-1");
        assert_string_equal(c.ds_instance_id, "iid-9");
        cmdline_config_done(&c);

        /* The last ds= wins as a whole; other datasources are not ours. */
        assert_int_equal(
                sources_cmdline_parse("ds=nocloud;s=file:///a/;i=x ds=NoCloud;seedfrom=file:///b/", &c), 0);
        assert_string_equal(c.seedfrom, "file:///b/");
        assert_null(c.ds_instance_id);
        cmdline_config_done(&c);
        assert_int_equal(sources_cmdline_parse("ds=ec2 kubeseedx.role=worker kubeseed=1", &c), 0);
        assert_false(c.ds_nocloud);
        assert_null(c.kubeseed_args);
        cmdline_config_done(&c);
        assert_int_equal(sources_cmdline_parse("", &c), 0);
        assert_null(c.kubeseed_args);
        cmdline_config_done(&c);

        /* Bounded. */
        char *big = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&big, &size);
        for (unsigned i = 0; i <= SOURCES_CMDLINE_ARGS_MAX; i++)
                fprintf(f, "kubeseed.addons=a%u ", i);
        fclose(f);
        assert_int_equal(sources_cmdline_parse(big, &c), -E2BIG);
        free(big);
        char *huge = malloc(SOURCES_CMDLINE_MAX + 2);
        memset(huge, 'x', SOURCES_CMDLINE_MAX + 1);
        huge[SOURCES_CMDLINE_MAX + 1] = '\0';
        assert_int_equal(sources_cmdline_parse(huge, &c), -E2BIG);
        free(huge);
}

static void test_cmdline_source(void **state) {
        struct env *e = *state;
        struct fake_sys sys = {};
        /* Read from <root>/proc/cmdline when no text is given. */
        mkfile_rel(
                e, "/proc/cmdline",
                "root=/dev/vda1 kubeseed.role=worker kubeseed.endpoint=10.0.0.10:6443 kubeseed.token=" TOKEN
                " kubeseed.ca-cert-hash=" HASH_A " kubeseed.instance-id=iid-cmd kubeseed.hostname=node-9\n");
        struct sources_options o = options(e, NULL, &sys);
        struct metadata m = {};
        char *err = NULL;
        assert_int_equal(sources_find(&o, &m, &err), 1);
        assert_null(err);
        assert_int_equal(m.kind, SOURCE_CMDLINE);
        assert_string_equal(m.source, "kernel command line");
        assert_string_equal(m.instance_id, "iid-cmd");
        assert_string_equal(m.local_hostname, "node-9");
        assert_null(m.user_data);
        assert_int_equal(sys.lists, 0); /* first found wins: no device was looked at */

        struct nodeconfig_input in = metadata_nodeconfig_input(&m);
        struct nodeconfig c = {};
        assert_int_equal(nodeconfig_parse(&in, &c, &err), 0);
        assert_int_equal(c.role, NODE_ROLE_WORKER);
        assert_string_equal(c.token, TOKEN);
        assert_string_equal(c.instance_id, "iid-cmd");
        nodeconfig_done(&c);
        metadata_done(&m);

        /* Without kubeseed.instance-id: a fixed one. */
        o.cmdline = "kubeseed.role=control-plane";
        assert_int_equal(sources_read_one(SOURCE_CMDLINE, &o, &m, NULL), 1);
        assert_string_equal(m.instance_id, "kubeseed-cmdline");
        metadata_done(&m);
        o.cmdline = "kubeseed.role=worker kubeseed.hostname=-bad-";
        assert_int_equal(sources_read_one(SOURCE_CMDLINE, &o, &m, &err), -EBADMSG);
        assert_string_equal(err,
                            "kernel command line: kubeseed.*: local-hostname: expected a hostname (letters, "
                            "digits, '-' and '.', at most 253 characters)");
        free(err);
        err = NULL;
        o.cmdline = "quiet";
        assert_int_equal(sources_read_one(SOURCE_CMDLINE, &o, &m, &err), 0);
        assert_string_equal(err, "kernel command line: no kubeseed.* keys and no ds=nocloud;s=<url>");
        free(err);
}

static void test_seedfrom_file(void **state) {
        struct env *e = *state;
        struct fake_sys sys = {};
        mkfile_rel(e, "/srv/seed/meta-data", "instance-id: iid-file\nlocal-hostname: from-meta\n");
        mkfile_rel(e, "/srv/seed/user-data", USER);
        mkfile_rel(e, "/srv/seed/network-config", "version: 2\n");
        struct sources_options o = options(e, "ro ds=nocloud;s=file:///srv/seed;h=from-cmdline", &sys);
        struct metadata m = {};
        char *err = NULL;
        assert_int_equal(sources_find(&o, &m, &err), 1);
        assert_int_equal(m.kind, SOURCE_SEEDFROM);
        assert_string_equal(m.source, "nocloud seedfrom file:///srv/seed");
        assert_string_equal(m.instance_id, "iid-file");
        assert_string_equal(m.local_hostname, "from-cmdline"); /* h= overrides meta-data */
        assert_string_equal(m.user_data, USER);
        assert_int_equal(m.user_data_size, strlen(USER));
        assert_string_equal(m.network_config, "version: 2\n");
        metadata_done(&m);

        /* Present but broken: an error, not the next source. */
        o.cmdline = "ds=nocloud;s=file:///srv/missing/";
        assert_int_equal(sources_find(&o, &m, &err), -ENOENT);
        assert_non_null(strstr(err, "nocloud seedfrom file:///srv/missing/"));
        free(err);
        err = NULL;
        o.cmdline = "ds=nocloud;s=ftp://x/";
        assert_int_equal(sources_find(&o, &m, &err), -EINVAL);
        assert_string_equal(err, "nocloud seedfrom ftp://x/: expected an http://, https:// or file:// URL");
        free(err);
}

static void test_seedfrom_http(void **state) {
        struct env *e = *state;
        struct fake_sys sys = {};
        const struct route routes[] = {
                {"GET", "/seed/meta-data", 200, "instance-id: iid-http\n", NULL, 0, 1}, /* one 503 first */
                {"GET", "/seed/user-data", 200, USER, NULL, 0, 0},
                {NULL, NULL, 0, NULL, NULL, 0, 0},
        };
        struct route copy[ELEMENTSOF(routes)];
        memcpy(copy, routes, sizeof routes);
        fake_http("http://10.0.2.2:8000", copy);
        struct sources_options o = options(e, "ds=nocloud-net;s=http://10.0.2.2:8000/seed/", &sys);
        struct metadata m = {};
        char *err = NULL;
        int r = sources_find(&o, &m, &err);
        if (r != 1)
                fail_msg("%d %s", r, err);
        assert_int_equal(m.kind, SOURCE_SEEDFROM);
        assert_string_equal(m.instance_id, "iid-http");
        assert_null(m.local_hostname);
        assert_string_equal(m.user_data, USER);
        assert_null(m.network_config); /* 404: optional */
        assert_string_equal(fake.log, "GET http://10.0.2.2:8000/seed/meta-data\n"
                                      "GET http://10.0.2.2:8000/seed/meta-data\n"
                                      "GET http://10.0.2.2:8000/seed/user-data\n"
                                      "GET http://10.0.2.2:8000/seed/network-config\n");
        metadata_done(&m);

        /* meta-data is required. */
        const struct route none[] = {{NULL, NULL, 0, NULL, NULL, 0, 0}};
        fake_http("http://10.0.2.2:8000", none);
        assert_int_equal(sources_find(&o, &m, &err), -EPROTO);
        assert_string_equal(err, "nocloud seedfrom http://10.0.2.2:8000/seed/: "
                                 "http://10.0.2.2:8000/seed/meta-data: expected HTTP 200, got 404");
        free(err);
}

/* ---- order --------------------------------------------------------------- */

static const struct fake_file nocloud_files[] = {
        {"meta-data", "instance-id: iid-nocloud\nlocal-hostname: node-1\n"},
        {"user-data", USER},
        {NULL, NULL},
};
static const struct fake_file nocloud_broken[] = {
        {"meta-data", "local-hostname: node-1\n"},
        {NULL, NULL},
};
static const struct fake_file config_drive_files[] = {
        {"openstack/latest/meta_data.json",
         "{\"uuid\": \"83679162-1378-4288-a2d4-70e13ec132aa\", \"hostname\": \"node-2.novalocal\", "
         "\"name\": \"node-2\", \"launch_index\": 0, \"availability_zone\": \"nova\", "
         "\"meta\": {\"role\": \"x\"}, \"public_keys\": {\"k\": \"ssh-ed25519 AAAA\"}, \"devices\": []}"},
        {"openstack/latest/user_data", USER},
        {NULL, NULL},
};

static const struct route imds_v2[] = {
        {"PUT", "/latest/api/token", 200, "AQAEAFAKE-TOKEN==\n", "X-aws-ec2-metadata-token-ttl-seconds: 300",
         0, 0},
        {"GET", "/latest/meta-data/instance-id", 200, "i-0123456789abcdef0",
         "X-aws-ec2-metadata-token: AQAEAFAKE-TOKEN==", 0, 0},
        {"GET", "/latest/meta-data/local-hostname", 200, "ip-10-0-0-5.ec2.internal\n",
         "X-aws-ec2-metadata-token: AQAEAFAKE-TOKEN==", 0, 0},
        {"GET", "/latest/user-data", 200, USER, "X-aws-ec2-metadata-token: AQAEAFAKE-TOKEN==", 0, 0},
        {NULL, NULL, 0, NULL, NULL, 0, 0},
};

static void test_order(void **state) {
        struct env *e = *state;
        const struct fake_dev devs[] = {
                {"/dev/vda", NULL, NULL},
                {"/dev/vdb", "config-2", config_drive_files},
                {"/dev/vdc", "cidata", nocloud_files},
        };
        struct fake_sys sys = {.devs = devs, .n_devs = ELEMENTSOF(devs)};
        mkfile_rel(e, "/run/cloud-init/instance-data.json",
                   "{\"v1\": {\"instance_id\": \"iid-ci\", \"local_hostname\": \"node-ci\"}}");
        struct route routes[ELEMENTSOF(imds_v2)];
        memcpy(routes, imds_v2, sizeof imds_v2);
        fake_http("http://imds.test", routes);

        /* 1. the command line wins over everything. */
        struct sources_options o = options(e, "kubeseed.role=control-plane", &sys);
        struct metadata m = {};
        char *err = NULL;
        assert_int_equal(sources_find(&o, &m, &err), 1);
        assert_int_equal(m.kind, SOURCE_CMDLINE);
        assert_int_equal(sys.lists, 0);
        metadata_done(&m);

        /* 2. then the NoCloud volume (even though config-2 comes first in device order). */
        o.cmdline = "root=/dev/vda1";
        assert_int_equal(sources_find(&o, &m, &err), 1);
        assert_int_equal(m.kind, SOURCE_NOCLOUD);
        assert_string_equal(m.source, "nocloud /dev/vdc");
        assert_string_equal(m.instance_id, "iid-nocloud");
        assert_string_equal(m.user_data, USER);
        assert_int_equal(sys.mounts, 1);
        assert_int_equal(sys.umounts, 1);
        _cleanup_free_ char *run = join(e->root, "/run/kubeseed/");
        assert_true(strncmp(sys.mounted_at, run, strlen(run)) == 0);
        assert_int_equal(access(sys.mounted_at, F_OK), -1); /* the mount point is gone */
        assert_int_equal(fake.calls, 0);
        metadata_done(&m);

        /* 3. then config-drive. */
        sys.n_devs = 2;
        assert_int_equal(sources_find(&o, &m, &err), 1);
        assert_int_equal(m.kind, SOURCE_CONFIG_DRIVE);
        assert_string_equal(m.source, "config-drive /dev/vdb");
        assert_string_equal(m.instance_id, "83679162-1378-4288-a2d4-70e13ec132aa");
        assert_string_equal(m.local_hostname, "node-2.novalocal");
        assert_string_equal(m.user_data, USER);
        assert_int_equal(sys.mounts, 2);
        assert_int_equal(sys.umounts, 2);
        assert_int_equal(access(sys.mounted_at, F_OK), -1);
        assert_int_equal(fake.calls, 0);
        metadata_done(&m);

        /* 4. then IMDS. */
        sys.n_devs = 1;
        assert_int_equal(sources_find(&o, &m, &err), 1);
        assert_int_equal(m.kind, SOURCE_IMDS);
        assert_string_equal(m.source, "imds http://imds.test");
        metadata_done(&m);

        /* 5. then cloud-init's instance data: the IMDS does not answer. */
        const struct route down[] = {{"PUT", "/latest/api/token", 0, NULL, NULL, -ECONNREFUSED, 0},
                                     {NULL, NULL, 0, NULL, NULL, 0, 0}};
        fake_http("http://imds.test", down);
        assert_int_equal(sources_find(&o, &m, &err), 1);
        assert_int_equal(m.kind, SOURCE_INSTANCE_DATA);
        assert_string_equal(m.source, "cloud-init /run/cloud-init/instance-data.json");
        assert_string_equal(m.instance_id, "iid-ci");
        assert_string_equal(m.local_hostname, "node-ci");
        assert_null(m.user_data);        /* no user-data.txt */
        assert_int_equal(fake.calls, 3); /* bounded retries */
        metadata_done(&m);
        mkfile_rel(e, "/var/lib/cloud/instance/user-data.txt", USER);
        assert_int_equal(sources_find(&o, &m, &err), 1);
        assert_string_equal(m.user_data, USER);
        metadata_done(&m);

        /* Nothing at all: 0 and what was looked at. */
        _cleanup_free_ char *idata = join(e->root, "/run/cloud-init/instance-data.json");
        assert_int_equal(unlink(idata), 0);
        fake_http("http://imds.test", down);
        assert_int_equal(sources_find(&o, &m, &err), 0);
        assert_string_equal(
                err, "no metadata: kernel command line: no kubeseed.* keys and no ds=nocloud;s=<url>; "
                     "nocloud: no vfat or iso9660 volume labelled cidata/CIDATA among 1 block devices; "
                     "config-drive: no vfat or iso9660 volume labelled config-2/CONFIG-2 among 1 block "
                     "devices; imds http://imds.test: no answer (Connection refused); cloud-init: no "
                     "/run/cloud-init/instance-data.json");
        free(err);
        err = NULL;

        /* Sources can be disabled. */
        o.disabled = SOURCE_MASK(SOURCE_IMDS);
        fake_http("http://imds.test", down);
        assert_int_equal(sources_find(&o, &m, &err), 0);
        assert_int_equal(fake.calls, 0);
        assert_null(strstr(err, "imds"));
        free(err);
        free(sys.mounted_at);
}

static void test_broken_stops(void **state) {
        struct env *e = *state;
        const struct fake_dev devs[] = {
                {"/dev/vdb", "CIDATA", nocloud_broken},
                {"/dev/vdc", "config-2", config_drive_files},
        };
        struct fake_sys sys = {.devs = devs, .n_devs = ELEMENTSOF(devs)};
        struct route routes[ELEMENTSOF(imds_v2)];
        memcpy(routes, imds_v2, sizeof imds_v2);
        fake_http("http://imds.test", routes);
        struct sources_options o = options(e, "", &sys);
        struct metadata m = {};
        char *err = NULL;
        assert_int_equal(sources_find(&o, &m, &err), -EBADMSG);
        assert_string_equal(err, "meta-data on /dev/vdb (iso9660, label CIDATA): instance-id is missing");
        assert_int_equal(sys.mounts, 1);
        assert_int_equal(sys.umounts, 1);
        assert_int_equal(fake.calls, 0);
        free(err);
        err = NULL;

        /* A config-drive without meta_data.json. */
        static const struct fake_file empty[] = {{"openstack/latest/user_data", USER}, {NULL, NULL}};
        const struct fake_dev devs2[] = {{"/dev/vdc", "config-2", empty}};
        free(sys.mounted_at);
        sys = (struct fake_sys){.devs = devs2, .n_devs = 1};
        assert_int_equal(sources_find(&o, &m, &err), -EBADMSG);
        assert_string_equal(
                err, "config-drive /dev/vdc: expected a regular file openstack/latest/meta_data.json");
        free(sys.mounted_at);
        free(err);
}

/* ---- IMDS against the fake table ---------------------------------------- */

static void test_imds_fake(void **state) {
        struct env *e = *state;
        struct fake_sys sys = {};
        struct sources_options o = options(e, "", &sys);
        struct metadata m = {};
        char *err = NULL;

        /* v2: the token, then every GET carries it. */
        struct route v2[ELEMENTSOF(imds_v2)];
        memcpy(v2, imds_v2, sizeof imds_v2);
        v2[0].fail_first = 1; /* a 503 first: retried */
        fake_http("http://imds.test", v2);
        o.imds_url = "http://imds.test/";
        assert_int_equal(sources_read_one(SOURCE_IMDS, &o, &m, &err), 1);
        assert_string_equal(m.instance_id, "i-0123456789abcdef0");
        assert_string_equal(m.local_hostname, "ip-10-0-0-5.ec2.internal");
        assert_string_equal(m.user_data, USER);
        assert_string_equal(fake.log, "PUT http://imds.test/latest/api/token\n"
                                      "PUT http://imds.test/latest/api/token\n"
                                      "GET http://imds.test/latest/meta-data/instance-id +token\n"
                                      "GET http://imds.test/latest/meta-data/local-hostname +token\n"
                                      "GET http://imds.test/latest/user-data +token\n");
        metadata_done(&m);

        /* v1 fallback on 403, 404 and 405. */
        static const long statuses[] = {403, 404, 405};
        for (size_t i = 0; i < ELEMENTSOF(statuses); i++) {
                const struct route v1[] = {
                        {"PUT", "/latest/api/token", statuses[i], "", NULL, 0, 0},
                        {"GET", "/latest/meta-data/instance-id", 200, "i-v1\n", NULL, 0, 0},
                        {NULL, NULL, 0, NULL, NULL, 0, 0},
                };
                fake_http("http://imds.test", v1);
                assert_int_equal(sources_read_one(SOURCE_IMDS, &o, &m, &err), 1);
                assert_string_equal(m.instance_id, "i-v1");
                assert_null(m.local_hostname); /* 404 */
                assert_null(m.user_data);      /* 404 */
                assert_string_equal(fake.log, "PUT http://imds.test/latest/api/token\n"
                                              "GET http://imds.test/latest/meta-data/instance-id\n"
                                              "GET http://imds.test/latest/meta-data/local-hostname\n"
                                              "GET http://imds.test/latest/user-data\n");
                metadata_done(&m);
        }

        /* Present but broken: the token answered, instance-id did not. */
        const struct route broken[] = {
                {"PUT", "/latest/api/token", 200, "tok", NULL, 0, 0},
                {NULL, NULL, 0, NULL, NULL, 0, 0},
        };
        fake_http("http://imds.test", broken);
        assert_int_equal(sources_read_one(SOURCE_IMDS, &o, &m, &err), -EPROTO);
        assert_string_equal(err,
                            "imds http://imds.test: http://imds.test/latest/meta-data/instance-id: expected "
                            "HTTP 200, got 404");
        assert_null(strstr(err, "tok\n"));
        free(err);
        err = NULL;
        const struct route teapot[] = {{"PUT", "/latest/api/token", 418, "", NULL, 0, 0},
                                       {NULL, NULL, 0, NULL, NULL, 0, 0}};
        fake_http("http://imds.test", teapot);
        assert_int_equal(sources_read_one(SOURCE_IMDS, &o, &m, &err), -EPROTO);
        free(err);
        err = NULL;
        const struct route badid[] = {{"PUT", "/latest/api/token", 405, "", NULL, 0, 0},
                                      {"GET", "/latest/meta-data/instance-id", 200, "i d", NULL, 0, 0},
                                      {NULL, NULL, 0, NULL, NULL, 0, 0}};
        fake_http("http://imds.test", badid);
        assert_int_equal(sources_read_one(SOURCE_IMDS, &o, &m, &err), -EBADMSG);
        assert_string_equal(err,
                            "imds http://imds.test: meta-data: instance-id: expected 1-255 printable ASCII "
                            "characters without spaces");
        free(err);
        err = NULL;
        /* Always 503: bounded. */
        const struct route busy[] = {{"PUT", "/latest/api/token", 200, "x", NULL, 0, 100},
                                     {NULL, NULL, 0, NULL, NULL, 0, 0}};
        struct route busy_copy[ELEMENTSOF(busy)];
        memcpy(busy_copy, busy, sizeof busy);
        fake_http("http://imds.test", busy_copy);
        o.attempts = 4;
        assert_int_equal(sources_read_one(SOURCE_IMDS, &o, &m, &err), -EPROTO);
        assert_int_equal(fake.calls, 4);
        free(err);
}

/* ---- IMDS against a real HTTP server on loopback ------------------------ */

/* A tiny HTTP/1.1 server in a child process: IMDSv2 when `v2`, else the
 * token PUT gets 405. One request per connection. */
static void serve(int fd, bool v2) {
        for (;;) {
                int c = accept(fd, NULL, NULL);
                if (c < 0)
                        continue;
                char req[8192];
                size_t n = 0;
                while (n < sizeof req - 1) {
                        ssize_t k = read(c, req + n, sizeof req - 1 - n);
                        if (k <= 0)
                                break;
                        n += (size_t) k;
                        req[n] = '\0';
                        if (strstr(req, "\r\n\r\n"))
                                break;
                }
                req[n] = '\0';
                char method[8] = "", path[256] = "";
                (void) sscanf(req, "%7s %255s", method, path);
                bool has_token = strstr(req, "\r\nX-aws-ec2-metadata-token: s3cr3t-session\r\n") != NULL;
                bool has_ttl = strstr(req, "\r\nX-aws-ec2-metadata-token-ttl-seconds: 300\r\n") != NULL;
                int status = 404;
                const char *body = "";
                if (streq(method, "PUT") && streq(path, "/latest/api/token")) {
                        status = v2 && has_ttl ? 200 : v2 ? 400 : 405;
                        body = v2 ? "s3cr3t-session" : "";
                } else if (streq(method, "GET") && v2 && !has_token)
                        status = 401;
                else if (streq(method, "GET") && streq(path, "/latest/meta-data/instance-id")) {
                        status = 200;
                        body = v2 ? "i-loopback-v2" : "i-loopback-v1";
                } else if (streq(method, "GET") && streq(path, "/latest/meta-data/local-hostname")) {
                        status = 200;
                        body = "loopback-node";
                } else if (streq(method, "GET") && streq(path, "/latest/user-data")) {
                        status = 200;
                        body = USER;
                }
                char head[256];
                int h = snprintf(head, sizeof head,
                                 "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", status,
                                 strlen(body));
                if (write(c, head, (size_t) h) < 0 || write(c, body, strlen(body)) < 0) {
                        /* the client went away */
                }
                close(c);
        }
}

static pid_t start_server(bool v2, char *url, size_t url_size) {
        int port;
        int fd = tu_listen_loopback(&port);
        snprintf(url, url_size, "http://127.0.0.1:%d", port);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                serve(fd, v2);
                _exit(0);
        }
        close(fd);
        return pid;
}

static void stop_server(pid_t pid) {
        assert_int_equal(kill(pid, SIGKILL), 0);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
}

static void test_imds_loopback(void **state) {
        struct env *e = *state;
        http_ops = &http_ops_real;
        for (int v2 = 1; v2 >= 0; v2--) {
                char url[64];
                pid_t pid = start_server(v2, url, sizeof url);
                struct sources_options o = {.root = e->root, .imds_url = url, .retry_delay_ms = 1};
                struct metadata m = {};
                char *err = NULL;
                int r = sources_read_one(SOURCE_IMDS, &o, &m, &err);
                stop_server(pid);
                if (r != 1)
                        fail_msg("v%d: %d %s", v2 ? 2 : 1, r, err);
                assert_string_equal(m.instance_id, v2 ? "i-loopback-v2" : "i-loopback-v1");
                assert_string_equal(m.local_hostname, "loopback-node");
                assert_string_equal(m.user_data, USER);
                _cleanup_free_ char *source = NULL;
                assert_true(asprintf(&source, "imds %s", url) > 0);
                assert_string_equal(m.source, source);
                metadata_done(&m);
        }

        /* Nobody listening: not present, quickly. */
        char url[64];
        pid_t pid = start_server(true, url, sizeof url);
        stop_server(pid); /* the port is closed now */
        struct sources_options o = {.root = e->root, .imds_url = url, .retry_delay_ms = 1, .disabled = 0};
        struct metadata m = {};
        char *err = NULL;
        assert_int_equal(sources_read_one(SOURCE_IMDS, &o, &m, &err), 0);
        assert_non_null(strstr(err, "no answer"));
        free(err);
}

/* ---- JSON mappings -------------------------------------------------------- */

static void test_openstack_meta(void **unused) {
        (void) unused;
        char *iid = NULL, *host = NULL, *err = NULL;
        const char *json = config_drive_files[0].content;
        assert_int_equal(sources_parse_openstack_meta(json, strlen(json), &iid, &host, &err), 0);
        assert_string_equal(iid, "83679162-1378-4288-a2d4-70e13ec132aa");
        assert_string_equal(host, "node-2.novalocal");
        free(iid);
        free(host);
        /* Compact JSON, no hostname. */
        const char *compact = "{\"uuid\":\"u-1\",\"files\":[{\"path\":\"/x\"}]}";
        assert_int_equal(sources_parse_openstack_meta(compact, strlen(compact), &iid, &host, &err), 0);
        assert_string_equal(iid, "u-1");
        assert_null(host);
        free(iid);

        static const struct {
                const char *json, *error;
        } bad[] = {
                {"{\"hostname\": \"x\"}", "uuid: expected the instance's id (missing)"},
                {"{\"uuid\": {\"a\": 1}}", "uuid: expected a string"},
                {"{\"uuid\": \"a b\"}", "uuid: expected 1-255 printable ASCII characters without spaces"},
                {"{\"uuid\": \"u\", \"hostname\": \"bad_host\"}",
                 "hostname: expected a hostname (letters, digits, '-' and '.', at most 253 characters)"},
                {"[1, 2]", "1:1: expected a JSON object"},
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_int_equal(
                        sources_parse_openstack_meta(bad[i].json, strlen(bad[i].json), &iid, &host, &err),
                        -EBADMSG);
                assert_string_equal(err, bad[i].error);
                free(err);
                err = NULL;
        }
        assert_int_equal(sources_parse_openstack_meta("{\"uuid\": ", 9, &iid, &host, &err), -EBADMSG);
        assert_non_null(err);
        free(err);
}

static void test_instance_data(void **unused) {
        (void) unused;
        char *iid = NULL, *host = NULL, *err = NULL;
        const char *json = "{\n \"_beta_keys\": [\"subplatform\"],\n \"ds\": {\"meta_data\": {\"x\": 1}},\n"
                           " \"v1\": {\n  \"cloud_name\": \"nocloud\",\n  \"instance_id\": \"iid-ci-1\",\n"
                           "  \"local_hostname\": \"ci-node\",\n  \"region\": null\n }\n}\n";
        assert_int_equal(sources_parse_instance_data(json, strlen(json), &iid, &host, &err), 0);
        assert_string_equal(iid, "iid-ci-1");
        assert_string_equal(host, "ci-node");
        free(iid);
        free(host);
        const char *dashed = "{\"v1\": {\"instance-id\": \"iid-2\", \"local-hostname\": \"n2\"}}";
        assert_int_equal(sources_parse_instance_data(dashed, strlen(dashed), &iid, &host, &err), 0);
        assert_string_equal(iid, "iid-2");
        assert_string_equal(host, "n2");
        free(iid);
        free(host);
        const char *nov1 = "{\"instance_id\": \"x\"}";
        assert_int_equal(sources_parse_instance_data(nov1, strlen(nov1), &iid, &host, &err), -EBADMSG);
        assert_string_equal(err, "v1: expected an object (instance_id, local_hostname)");
        free(err);
        err = NULL;
        const char *noid = "{\"v1\": {\"local_hostname\": \"n\"}}";
        assert_int_equal(sources_parse_instance_data(noid, strlen(noid), &iid, &host, &err), -EBADMSG);
        assert_string_equal(err, "v1.instance_id: expected the instance's id (missing)");
        free(err);
}

/* ---- instance identity ---------------------------------------------------- */

static void test_instance_changed(void **state) {
        struct env *e = *state;
        assert_false(sources_instance_id_differs("iid-1\n", 6, "iid-1"));
        assert_false(sources_instance_id_differs("iid-1", 5, "iid-1"));
        assert_false(sources_instance_id_differs("iid-1\r\n", 7, "iid-1"));
        assert_true(sources_instance_id_differs("iid-1\n", 6, "iid-2"));
        assert_true(sources_instance_id_differs("iid-1\n", 6, "iid-10"));
        assert_true(sources_instance_id_differs("iid-10\n", 7, "iid-1"));
        assert_true(sources_instance_id_differs("", 0, "iid-1"));

        assert_int_equal(sources_instance_changed(e->root, "iid-1"), -ENOENT);
        assert_int_equal(sources_record_instance_id(e->root, "iid-1"), 0);
        assert_int_equal(sources_instance_changed(e->root, "iid-1"), 0);
        assert_int_equal(sources_instance_changed(e->root, "iid-2"), 1);
        _cleanup_free_ char *p = join(e->root, SOURCES_INSTANCE_ID_PATH);
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644);
        assert_int_equal(sources_record_instance_id(e->root, "iid-2"), 0);
        assert_int_equal(sources_instance_changed(e->root, "iid-2"), 0);
        assert_int_equal(sources_record_instance_id(e->root, "bad id"), -EINVAL);
        /* Oversized: refused, not misread. */
        char big[600];
        memset(big, 'x', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        mkfile(p, big);
        assert_int_equal(sources_instance_changed(e->root, "iid-2"), -EFBIG);
}

/* ---- secrets ---------------------------------------------------------------- */

static void test_metadata_done(void **unused) {
        (void) unused;
        struct metadata m = {.source = strdup("x"),
                             .instance_id = strdup("i"),
                             .user_data = strdup(USER),
                             .user_data_size = strlen(USER)};
        assert_int_equal(strv_push(&m.cmdline_args, "token=" TOKEN), 0);
        metadata_done(&m);
        static const struct metadata zero;
        assert_memory_equal(&m, &zero, sizeof zero);
        metadata_done(&m);
        assert_string_equal(source_kind_to_string(SOURCE_CONFIG_DRIVE), "config-drive");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cmdline_parse),
                cmocka_unit_test_setup_teardown(test_cmdline_source, setup, teardown),
                cmocka_unit_test_setup_teardown(test_seedfrom_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_seedfrom_http, setup, teardown),
                cmocka_unit_test_setup_teardown(test_order, setup, teardown),
                cmocka_unit_test_setup_teardown(test_broken_stops, setup, teardown),
                cmocka_unit_test_setup_teardown(test_imds_fake, setup, teardown),
                cmocka_unit_test_setup_teardown(test_imds_loopback, setup, teardown),
                cmocka_unit_test(test_openstack_meta),
                cmocka_unit_test(test_instance_data),
                cmocka_unit_test_setup_teardown(test_instance_changed, setup, teardown),
                cmocka_unit_test(test_metadata_done),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
