/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>

#include "blk.h"
#include "cert.h"
#include "cluster.h"
#include "clusterplan.h"
#include "fsutil.h"
#include "macro.h"
#include "nodeconfig.h"
#include "sources.h"
#include "strv.h"
#include "yamltree.h"

#include "testutil.h"

#define FIXTURES "tests/data/plan/"
#define NOW 1800000000LL /* 2027-01-15: within the fixture CA's ten years */
static const char *const golden_nodes[] = {"cp1", "cp2", "storage-1", "worker-2", NULL};

static struct cluster *fixture_cluster(void) {
        struct cluster *c = NULL;
        _cleanup_free_ char *err = NULL;
        if (cluster_load(FIXTURES "cluster.yaml", &c, &err) < 0)
                fail_msg("%s", err ? err : "?");
        return c;
}

static void fixture_identity(struct cluster_identity *id) {
        size_t size = 0;
        _cleanup_free_ char *text = tu_read(FIXTURES "cluster-secrets.yaml", &size);
        _cleanup_free_ char *err = NULL;
        if (cluster_identity_parse("cluster-secrets.yaml", text, size, NOW, id, &err) < 0)
                fail_msg("%s", err ? err : "?");
}

/* ---- the identity file -------------------------------------------------------- */

static void test_identity_roundtrip(void **unused) {
        (void) unused;
        size_t size = 0;
        _cleanup_free_ char *text = tu_read(FIXTURES "cluster-secrets.yaml", &size);
        _cleanup_(cluster_identity_done) struct cluster_identity id = {};
        fixture_identity(&id);
        assert_string_equal(id.cluster, "golden");
        assert_true(nodeconfig_token_valid(id.token));
        assert_true(nodeconfig_certificate_key_valid(id.certificate_key));
        char hash[CERT_HASH_STRING_MAX];
        assert_int_equal(cert_spki_hash_pem(id.ca.cert_pem, strlen(id.ca.cert_pem), hash, NULL), 0);
        assert_string_equal(id.ca_hash, hash);
        /* Written back, byte for byte. */
        _cleanup_free_ char *again = NULL;
        size_t again_size = 0;
        assert_int_equal(cluster_identity_render(&id, &again, &again_size), 0);
        assert_int_equal(again_size, size);
        assert_string_equal(again, text);
}

static void test_identity_errors(void **unused) {
        (void) unused;
        _cleanup_free_ char *text = tu_read(FIXTURES "cluster-secrets.yaml", NULL);
        _cleanup_(cluster_identity_done) struct cluster_identity id = {};
        fixture_identity(&id);
        _cleanup_(cluster_identity_done) struct cluster_identity other = {};
        assert_int_equal(cluster_identity_new("golden", NULL, NOW, &other, NULL), 0);

        struct {
                const char *from, *to, *want;
        } edits[] = {
                {id.token, "ABCDEF.0123456789abcdef", "x: token: expected 6 lowercase letters"},
                {id.certificate_key, "123", "x: certificate-key: expected 64 hexadecimal digits"},
                {id.ca_hash + 7, "0000000000000000000000000000000000000000000000000000000000000000",
                 "x: ca-cert-hash: expected the hash of ca-cert"},
                {"cluster: golden", "cluster: golden\nextra: 1", "x:5:1: extra: expected one of the keys"},
                {"cluster: golden\n", "", "x: cluster: expected a string (the key is missing)"},
                {"created: ", "created: -", "x: created: expected seconds"},
        };
        for (size_t i = 0; i < ELEMENTSOF(edits); i++) {
                char *at = strstr(text, edits[i].from);
                assert_non_null(at);
                _cleanup_free_ char *edited = strdupf("%.*s%s%s", (int) (at - text), text, edits[i].to,
                                                      at + strlen(edits[i].from));
                struct cluster_identity got = {.created = 42};
                _cleanup_free_ char *err = NULL;
                int r = cluster_identity_parse("x", edited, strlen(edited), NOW, &got, &err);
                if (r != -EBADMSG || !err || !strstr(err, edits[i].want))
                        fail_msg("edit %zu: %d '%s'", i, r, err ? err : "(null)");
                assert_int_equal(got.created, 42);
                /* Never a secret in the message. */
                assert_null(strstr(err, id.token));
                assert_null(strstr(err, id.certificate_key));
                assert_null(strstr(err, "PRIVATE KEY"));
        }

        /* Another CA's key. */
        char *key_at = strstr(text, "ca-key: |");
        assert_non_null(key_at);
        _cleanup_free_ char *indented = tu_indent(other.ca.key_pem, "  ");
        _cleanup_free_ char *mixed = strdupf("%.*sca-key: |\n%s", (int) (key_at - text), text, indented);
        _cleanup_free_ char *err = NULL;
        struct cluster_identity got = {};
        assert_int_equal(cluster_identity_parse("x", mixed, strlen(mixed), NOW, &got, &err), -EBADMSG);
        assert_non_null(strstr(err, "x: ca-cert, ca-key: expected the cluster CA and its key"));
        /* An expired CA (ten years and a day later). */
        free(err);
        err = NULL;
        assert_int_equal(
                cluster_identity_parse("x", text, strlen(text), id.created + 3651LL * 86400, &got, &err),
                -EBADMSG);
        assert_non_null(strstr(err, "expired"));
}

static void test_identity_new(void **unused) {
        (void) unused;
        _cleanup_(cluster_identity_done) struct cluster_identity a = {}, b = {};
        assert_int_equal(cluster_identity_new("demo", NULL, NOW, &a, NULL), 0);
        assert_int_equal(cluster_identity_new("demo", NULL, NOW, &b, NULL), 0);
        assert_true(nodeconfig_token_valid(a.token));
        assert_true(nodeconfig_certificate_key_valid(a.certificate_key));
        assert_int_equal(cert_check_ca_pair(a.ca.cert_pem, strlen(a.ca.cert_pem), a.ca.key_pem,
                                            strlen(a.ca.key_pem), NOW, NULL),
                         0);
        assert_string_not_equal(a.token, b.token);
        assert_string_not_equal(a.certificate_key, b.certificate_key);
        assert_string_not_equal(a.ca_hash, b.ca_hash);
        assert_int_equal(a.created, NOW);
}

/* ---- seeds: golden files, and the agent accepts them ------------------------------ */

static void check_file(const char *node, const char *name, const char *got, size_t size) {
        _cleanup_free_ char *path = strdupf(FIXTURES "%s/%s", node, name);
        _cleanup_free_ char *want = tu_read(path, NULL);
        assert_int_equal(size, strlen(got));
        if (!streq(got, want))
                fail_msg("%s differs:\n--- got\n%s--- want\n%s", path, got, want);
}

static void test_golden_seeds(void **unused) {
        (void) unused;
        _cleanup_cluster_ struct cluster *c = fixture_cluster();
        _cleanup_(cluster_identity_done) struct cluster_identity id = {};
        fixture_identity(&id);
        for (const char *const *name = golden_nodes; *name; name++) {
                const struct cluster_node *n = cluster_find_node(c, *name);
                assert_non_null(n);
                _cleanup_(seed_files_done) struct seed_files f = {};
                assert_int_equal(clusterplan_render_node(c, n, &id, &f), 0);
                check_file(*name, "meta-data", f.meta_data, f.meta_data_size);
                check_file(*name, "user-data", f.user_data, f.user_data_size);
                check_file(*name, "network-config", f.network_config, f.network_config_size);
        }
}

static void parse_seed(const struct seed_files *f, struct nodeconfig *cfg) {
        struct seed_meta m = {};
        assert_int_equal(seed_parse_meta_data(f->meta_data, f->meta_data_size, &m, NULL), 0);
        struct nodeconfig_input in = {
                .source = "test",
                .instance_id = m.instance_id,
                .local_hostname = m.local_hostname,
                .user_data = f->user_data,
                .user_data_size = f->user_data_size,
                .now = NOW,
        };
        _cleanup_free_ char *err = NULL;
        if (nodeconfig_parse(&in, cfg, &err) < 0)
                fail_msg("the agent refuses it: %s", err ? err : "?");
        seed_meta_done(&m);
}

static void test_agent_accepts(void **unused) {
        (void) unused;
        _cleanup_cluster_ struct cluster *c = fixture_cluster();
        _cleanup_(cluster_identity_done) struct cluster_identity id = {};
        fixture_identity(&id);
        for (size_t i = 0; i < c->n_nodes; i++) {
                const struct cluster_node *n = &c->nodes[i];
                _cleanup_(seed_files_done) struct seed_files f = {};
                assert_int_equal(clusterplan_render_node(c, n, &id, &f), 0);
                _cleanup_(nodeconfig_done) struct nodeconfig cfg = {};
                parse_seed(&f, &cfg);
                _cleanup_free_ char *iid = clusterplan_instance_id(c, n, &id);
                assert_string_equal(cfg.instance_id, iid);
                assert_string_equal(cfg.hostname, n->name);
                assert_int_equal(cfg.role, n->role);
                assert_string_equal(cfg.endpoint, "10.0.0.10:6443");
                assert_string_equal(cfg.token, id.token);
                /* Every node pins the planned CA. */
                assert_string_equal(cfg.ca_cert_hashes[0], id.ca_hash);
                assert_null(cfg.ca_cert_hashes[1]);
                switch (n->role) {
                case NODE_ROLE_CONTROL_PLANE:
                        assert_string_equal(cfg.ca_cert, id.ca.cert_pem);
                        assert_string_equal(cfg.ca_key, id.ca.key_pem);
                        /* A control plane joins: init uploads the certificates with this key. */
                        assert_string_equal(cfg.certificate_key, id.certificate_key);
                        assert_string_equal(cfg.pod_subnet, "10.244.0.0/16");
                        assert_string_equal(cfg.kubernetes_version, "v1.31.1");
                        assert_string_equal(cfg.addons[0], "flannel");
                        assert_true(cfg.workers_set);
                        assert_int_equal(cfg.workers, 2);
                        assert_false(nodeconfig_should_untaint(&cfg));
                        break;
                case NODE_ROLE_CONTROL_PLANE_JOIN:
                        assert_null(cfg.ca_key);
                        assert_string_equal(cfg.ca_cert, id.ca.cert_pem);
                        assert_string_equal(cfg.certificate_key, id.certificate_key);
                        break;
                case NODE_ROLE_WORKER:
                        /* The CA's certificate (public, for the pinned wait),
                         * no secret beyond the token. */
                        assert_string_equal(cfg.ca_cert, id.ca.cert_pem);
                        assert_null(cfg.ca_key);
                        assert_null(cfg.certificate_key);
                        assert_null(strstr(f.user_data, "PRIVATE"));
                        break;
                default:
                        fail();
                }
                if (streq(n->name, "storage-1")) {
                        assert_string_equal(cfg.node_ip, "10.0.0.21");
                        assert_string_equal(cfg.labels[0], "disk=ssd");
                        assert_string_equal(cfg.labels[1], "kubeseed.io/role=storage");
                        assert_int_equal(cfg.n_taints, 1);
                        assert_string_equal(cfg.taints[0].key, "dedicated");
                        assert_string_equal(cfg.disks[1], "/dev/disk/by-id/virtio-spare");
                }
                if (n->dhcp)
                        assert_null(cfg.node_ip);
        }
}

static void test_no_joiner_no_certificate_key(void **unused) {
        (void) unused;
        const char *text = "name: one\nendpoint: 10.0.0.10:6443\nnodes:\n"
                           "  - {name: cp1, role: control-plane, address: 10.0.0.10/24}\n";
        _cleanup_cluster_ struct cluster *c = NULL;
        assert_int_equal(cluster_parse("c.yaml", text, strlen(text), &c, NULL), 0);
        _cleanup_(cluster_identity_done) struct cluster_identity id = {};
        fixture_identity(&id);
        _cleanup_(seed_files_done) struct seed_files f = {};
        assert_int_equal(clusterplan_render_node(c, &c->nodes[0], &id, &f), 0);
        _cleanup_(nodeconfig_done) struct nodeconfig cfg = {};
        parse_seed(&f, &cfg);
        assert_null(cfg.certificate_key);
        assert_int_equal(cfg.workers, 0);
        /* A lone control plane schedules workloads. */
        assert_true(nodeconfig_should_untaint(&cfg));
}

static void test_kubeconfig(void **unused) {
        (void) unused;
        _cleanup_cluster_ struct cluster *c = fixture_cluster();
        _cleanup_(cluster_identity_done) struct cluster_identity id = {};
        fixture_identity(&id);
        _cleanup_(pki_pair_done) struct pki_pair admin = {};
        assert_int_equal(
                pki_client_cert_new(&id.ca, "kubernetes-admin", "system:masters", NULL, NOW, &admin, NULL),
                0);
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        assert_int_equal(
                clusterplan_render_kubeconfig(c, id.ca.cert_pem, "kubernetes-admin", &admin, &text, &size),
                0);
        _cleanup_ynode_ struct ynode *root = NULL;
        assert_int_equal(yaml_parse_one(text, size, NULL, &root, NULL), 0);
        assert_string_equal(ynode_get_str(root, "kind"), "Config");
        assert_string_equal(ynode_get_str(root, "current-context"), "kubernetes-admin@golden");
        const struct ynode *cl = ynode_get(ynode_get(root, "clusters")->items[0], "cluster");
        assert_string_equal(ynode_get_str(cl, "server"), "https://10.0.0.10:6443");
        _cleanup_free_ char *ca64 = pki_base64(id.ca.cert_pem, strlen(id.ca.cert_pem));
        assert_string_equal(ynode_get_str(cl, "certificate-authority-data"), ca64);
        const struct ynode *user = ynode_get(ynode_get(root, "users")->items[0], "user");
        _cleanup_free_ char *cert64 = pki_base64(admin.cert_pem, strlen(admin.cert_pem));
        _cleanup_free_ char *key64 = pki_base64(admin.key_pem, strlen(admin.key_pem));
        assert_string_equal(ynode_get_str(user, "client-certificate-data"), cert64);
        assert_string_equal(ynode_get_str(user, "client-key-data"), key64);
        const struct ynode *ctx = ynode_get(ynode_get(root, "contexts")->items[0], "context");
        assert_string_equal(ynode_get_str(ctx, "cluster"), "golden");
        assert_string_equal(ynode_get_str(ctx, "user"), "kubernetes-admin");
}

/* ---- kubeseed plan, in a directory -------------------------------------------------- */

static char tmp[64];

static int setup(void **unused) {
        (void) unused;
        snprintf(tmp, sizeof tmp, "/tmp/test-clusterplan.XXXXXX");
        return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **unused) {
        (void) unused;
        return rm_rf(tmp) < 0 ? -1 : 0;
}

static mode_t mode_of(const char *dir, const char *name) {
        _cleanup_free_ char *p = tu_path(dir, name);
        struct stat st;
        if (stat(p, &st) < 0)
                fail_msg("no %s", p);
        return st.st_mode & 07777;
}

static int plan(const char *cluster_text, bool rotate) {
        _cleanup_free_ char *cpath = tu_path(tmp, "cluster.yaml"), *out = tu_path(tmp, "seeds");
        tu_write_in(tmp, "cluster.yaml", cluster_text);
        struct clusterplan_options o = {.cluster_path = cpath, .out_dir = out, .rotate = rotate, .now = NOW};
        return clusterplan_run(&o);
}

#define TWO_NODES                                                                                           \
        "name: demo\nendpoint: 10.0.0.10:6443\nnodes:\n"                                                    \
        "  - {name: cp1, role: control-plane, address: 10.0.0.10/24}\n"                                     \
        "  - {name: w1, role: worker, address: 10.0.0.11/24}\n"

static void test_plan_run(void **unused) {
        (void) unused;
        _cleanup_free_ char *out = tu_path(tmp, "seeds");
        assert_int_equal(plan(TWO_NODES, false), 0);
        /* Secrets 0600, in a 0700 directory. */
        assert_int_equal(mode_of(tmp, "seeds"), 0700);
        assert_int_equal(mode_of(out, "cluster-secrets.yaml"), 0600);
        assert_int_equal(mode_of(out, "admin.conf"), 0600);
        assert_int_equal(mode_of(out, "cp1.img"), 0600);
        assert_int_equal(mode_of(out, "cp1/user-data"), 0600);
        assert_int_equal(mode_of(out, "cp1/meta-data"), 0644);
        assert_int_equal(mode_of(out, "w1/network-config"), 0644);
        _cleanup_free_ char *secrets1 = tu_read_in(out, "cluster-secrets.yaml", NULL);
        _cleanup_free_ char *admin1 = tu_read_in(out, "admin.conf", NULL);
        _cleanup_free_ char *w1_1 = tu_read_in(out, "w1/user-data", NULL);

        /* Again, with a node added: the identity stays, the new node gets its seed. */
        assert_int_equal(plan(TWO_NODES "  - {name: w2, role: worker, dhcp: true}\n", false), 0);
        _cleanup_free_ char *secrets2 = tu_read_in(out, "cluster-secrets.yaml", NULL);
        _cleanup_free_ char *admin2 = tu_read_in(out, "admin.conf", NULL);
        _cleanup_free_ char *w1_2 = tu_read_in(out, "w1/user-data", NULL);
        _cleanup_free_ char *w2 = tu_read_in(out, "w2/user-data", NULL);
        assert_string_equal(secrets1, secrets2);
        assert_string_equal(admin1, admin2);
        assert_string_equal(w1_1, w1_2);
        struct cluster_identity id = {};
        assert_int_equal(cluster_identity_parse("s", secrets2, strlen(secrets2), NOW, &id, NULL), 0);
        assert_non_null(strstr(w2, id.token));
        assert_non_null(strstr(w2, id.ca_hash));
        _cleanup_free_ char *w2_img = tu_path(out, "w2.img");
        assert_int_equal(access(w2_img, F_OK), 0);

        /* Another cluster's directory: refused. */
        assert_int_equal(plan("name: other\nendpoint: 10.0.0.10:6443\nnodes:\n"
                              "  - {name: cp1, role: control-plane, address: 10.0.0.10/24}\n",
                              false),
                         -EEXIST);
        /* Secrets gone but seeds made with them still there: refused. */
        _cleanup_free_ char *spath = tu_path(out, "cluster-secrets.yaml");
        assert_int_equal(unlink(spath), 0);
        assert_int_equal(plan(TWO_NODES, false), -EEXIST);
        assert_int_not_equal(access(spath, F_OK), 0);
        /* --rotate: a new identity, new seeds, a new admin.conf. */
        assert_int_equal(plan(TWO_NODES, true), 0);
        _cleanup_free_ char *secrets3 = tu_read_in(out, "cluster-secrets.yaml", NULL);
        _cleanup_free_ char *admin3 = tu_read_in(out, "admin.conf", NULL);
        _cleanup_free_ char *w1_3 = tu_read_in(out, "w1/user-data", NULL);
        assert_string_not_equal(secrets1, secrets3);
        assert_string_not_equal(admin1, admin3);
        assert_null(strstr(w1_3, id.token));
        cluster_identity_done(&id);

        /* A cluster file with an error: nothing written. */
        assert_int_equal(plan("name: demo\nendpoint: 10.0.0.10:6443\nnodes: []\n", false), -EBADMSG);
}

/* ---- the seed volume: libblkid, libarchive and the agent read it -------------------- */

/* The files of an ISO 9660 image, read with libarchive, into dir. */
static int extract_iso(const char *image, const char *dir) {
        struct archive *a = archive_read_new();
        assert_non_null(a);
        assert_int_equal(archive_read_support_format_iso9660(a), ARCHIVE_OK);
        if (archive_read_open_filename(a, image, 10240) != ARCHIVE_OK)
                fail_msg("%s: %s", image, archive_error_string(a));
        struct archive_entry *e;
        int n = 0;
        while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
                if (archive_entry_filetype(e) != AE_IFREG)
                        continue;
                size_t size = (size_t) archive_entry_size(e);
                _cleanup_free_ char *data = malloc(size + 1);
                assert_non_null(data);
                assert_int_equal(archive_read_data(a, data, size), (la_ssize_t) size);
                _cleanup_free_ char *p = tu_path(dir, archive_entry_pathname(e));
                assert_int_equal(write_file_atomic(p, data, size, 0600), 0);
                n++;
        }
        archive_read_free(a);
        return n;
}

static int iso_mount(void *userdata, const char *device, const char *fstype, const char *target) {
        unsigned *mounts = userdata;
        assert_string_equal(fstype, "iso9660");
        (*mounts)++;
        return extract_iso(device, target) > 0 ? 0 : -EIO;
}

static int iso_umount(void *userdata, const char *target) {
        (void) userdata;
        assert_int_equal(rm_rf(target), 0);
        assert_int_equal(mkdir(target, 0700), 0);
        return 0;
}

static void test_seed_volume(void **unused) {
        (void) unused;
        _cleanup_free_ char *out = tu_path(tmp, "seeds");
        assert_int_equal(plan(TWO_NODES, false), 0);

        /* libblkid: an ISO 9660 filesystem labelled cidata. */
        _cleanup_free_ char *img = tu_path(out, "w1.img");
        _cleanup_blk_device_ struct blk_device *d = NULL;
        assert_int_equal(blk_probe_path(img, &d), 1);
        assert_string_equal(d->type, "iso9660");
        assert_string_equal(d->label, "cidata");

        /* libarchive: the three files, as in the directory. */
        _cleanup_free_ char *x = tu_path(tmp, "x");
        assert_int_equal(mkdir(x, 0700), 0);
        assert_int_equal(extract_iso(img, x), 3);
        static const char *const files[] = {"meta-data", "user-data", "network-config"};
        _cleanup_free_ char *w1 = tu_path(out, "w1");
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_free_ char *a = tu_read_in(x, files[i], NULL), *b = tu_read_in(w1, files[i], NULL);
                assert_string_equal(a, b);
        }

        /* The agent's NoCloud source finds it among block devices (libblkid
         * on a fake /sys/class/block and /dev; the kernel's mount replaced
         * by an extraction) and reads it. */
        _cleanup_free_ char *sys = tu_path(tmp, "sys"), *dev = tu_path(tmp, "dev"),
                            *run = tu_path(tmp, "run");
        assert_int_equal(write_file_atomic_root(sys, "/vda/size", "0\n", 2, 0644), 0);
        assert_int_equal(write_file_atomic_root(sys, "/vdb/size", "100\n", 4, 0644), 0);
        assert_int_equal(write_file_atomic_root(sys, "/vdc/size", "100\n", 4, 0644), 0);
        size_t size = 0;
        _cleanup_free_ char *bytes = tu_read(img, &size);
        assert_int_equal(write_file_atomic_root(dev, "/vdb", "not a filesystem", 16, 0600), 0);
        assert_int_equal(write_file_atomic_root(dev, "/vdc", bytes, size, 0600), 0);
        struct blk_system bs = {.class_dir = sys, .dev_dir = dev};
        unsigned mounts = 0;
        struct seed_mount_ops mops = {.mount = iso_mount, .umount = iso_umount};
        struct sources_options so = {
                .root = tmp,
                .run_dir = run,
                .blk_ops = &blk_ops_real,
                .blk_userdata = &bs,
                .mount_ops = &mops,
                .mount_userdata = &mounts,
        };
        _cleanup_(metadata_done) struct metadata md = {};
        _cleanup_free_ char *err = NULL;
        int r = sources_read_one(SOURCE_NOCLOUD, &so, &md, &err);
        if (r != 1)
                fail_msg("%d %s", r, err ? err : "");
        assert_int_equal(mounts, 1);
        _cleanup_free_ char *vdc = tu_path(dev, "vdc");
        _cleanup_free_ char *want_source = strdupf("nocloud %s", vdc);
        assert_non_null(strstr(md.source, want_source));
        assert_string_equal(md.local_hostname, "w1");
        assert_non_null(md.network_config);
        struct nodeconfig_input in = metadata_nodeconfig_input(&md);
        in.now = NOW;
        _cleanup_(nodeconfig_done) struct nodeconfig cfg = {};
        if (nodeconfig_parse(&in, &cfg, &err) < 0)
                fail_msg("%s", err);
        assert_int_equal(cfg.role, NODE_ROLE_WORKER);
        assert_string_equal(cfg.node_ip, "10.0.0.11");
}

static void test_seed_command(void **unused) {
        (void) unused;
        _cleanup_free_ char *out = tu_path(tmp, "seeds"), *img = tu_path(tmp, "node.img");
        assert_int_equal(plan(TWO_NODES, false), 0);
        /* From a directory kubeseed plan wrote. */
        _cleanup_free_ char *w1 = tu_path(out, "w1");
        assert_int_equal(clusterplan_seed_run(w1, img, NOW), 0);
        assert_int_equal(mode_of(tmp, "node.img"), 0600);
        _cleanup_blk_device_ struct blk_device *d = NULL;
        assert_int_equal(blk_probe_path(img, &d), 1);
        assert_string_equal(d->label, "cidata");

        /* From a node file. */
        _cleanup_free_ char *ud = tu_read_in(w1, "user-data", NULL);
        _cleanup_free_ char *ud_block = tu_indent(ud, "  ");
        _cleanup_free_ char *node = strdupf("meta-data: |\n  instance-id: by-hand-1\n  local-hostname: w9\n"
                                            "user-data: |\n%s"
                                            "network-config: |\n  version: 2\n  ethernets:\n"
                                            "    eth0: {dhcp4: true}\n",
                                            ud_block);
        tu_write_in(tmp, "node.yaml", node);
        _cleanup_free_ char *node_path = tu_path(tmp, "node.yaml");
        assert_int_equal(clusterplan_seed_run(node_path, img, NOW), 0);
        _cleanup_free_ char *x = tu_path(tmp, "x");
        assert_int_equal(mkdir(x, 0700), 0);
        assert_int_equal(extract_iso(img, x), 3);
        _cleanup_free_ char *md = tu_read_in(x, "meta-data", NULL);
        assert_string_equal(md, "instance-id: by-hand-1\nlocal-hostname: w9\n");

        /* Checked with the agent's parsers first: nothing written when wrong. */
        _cleanup_free_ char *bad_img = tu_path(tmp, "bad.img");
        tu_write_in(tmp, "bad.yaml",
                    "meta-data: |\n  instance-id: x\nuser-data: |\n  #cloud-config\n"
                    "  kubeseed:\n    role: worker\n");
        _cleanup_free_ char *bad = tu_path(tmp, "bad.yaml");
        assert_int_equal(clusterplan_seed_run(bad, bad_img, NOW), -EBADMSG);
        tu_write_in(tmp, "bad.yaml", "meta-data: |\n  local-hostname: x\nuser-data: \"#cloud-config\"\n");
        assert_true(clusterplan_seed_run(bad, bad_img, NOW) < 0);
        tu_write_in(tmp, "bad.yaml",
                    "meta-data: |\n  instance-id: x\nuser-data: \"#cloud-config\"\nextra: 1\n");
        assert_int_equal(clusterplan_seed_run(bad, bad_img, NOW), -EBADMSG);
        assert_int_not_equal(access(bad_img, F_OK), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_identity_roundtrip),
                cmocka_unit_test(test_identity_errors),
                cmocka_unit_test(test_identity_new),
                cmocka_unit_test(test_golden_seeds),
                cmocka_unit_test(test_agent_accepts),
                cmocka_unit_test(test_no_joiner_no_certificate_key),
                cmocka_unit_test(test_kubeconfig),
                cmocka_unit_test_setup_teardown(test_plan_run, setup, teardown),
                cmocka_unit_test_setup_teardown(test_seed_volume, setup, teardown),
                cmocka_unit_test_setup_teardown(test_seed_command, setup, teardown),
        };
        return cmocka_run_group_tests_name("clusterplan", tests, NULL, NULL);
}
