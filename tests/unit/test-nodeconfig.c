/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "fsutil.h"
#include "macro.h"
#include "nodeconfig.h"
#include "proc.h"
#include "strv.h"

#include "testutil.h"

#define SOURCE "nocloud /dev/vdb"
#define TOKEN "abcdef.0123456789abcdef"
#define HASH_A "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HASH_B "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define CERT_KEY "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

/* ---- fixtures: two CAs made with the openssl command line -------------- */

static char tmpdir[64];
static struct tu_kube_ca ca1, ca2;

static int group_setup(void **unused) {
        (void) unused;
        snprintf(tmpdir, sizeof tmpdir, "/tmp/test-nodeconfig.XXXXXX");
        if (!mkdtemp(tmpdir))
                return -1;
        tu_make_kube_ca(tmpdir, "ca1", &ca1);
        tu_make_kube_ca(tmpdir, "ca2", &ca2);
        return 0;
}

static int group_teardown(void **unused) {
        (void) unused;
        tu_kube_ca_done(&ca1);
        tu_kube_ca_done(&ca2);
        return rm_rf(tmpdir) < 0 ? -1 : 0;
}

/* ---- helpers --------------------------------------------------------------- */

static int parse(const char *ud, struct nodeconfig *c, char **err) {
        struct nodeconfig_input in = {
                .source = SOURCE,
                .instance_id = "iid-local01",
                .local_hostname = "node-1",
                .user_data = ud,
                .user_data_size = ud ? strlen(ud) : 0,
        };
        return nodeconfig_parse(&in, c, err);
}

static int parse_args(char *const *args, struct nodeconfig *c, char **err) {
        struct nodeconfig_input in = {
                .source = "kernel command line",
                .instance_id = "kubeseed-cmdline",
                .cmdline_args = args,
        };
        return nodeconfig_parse(&in, c, err);
}

/* The secrets that must never show up in a message. */
static void assert_no_secret(const char *msg) {
        assert_null(strstr(msg, TOKEN));
        assert_null(strstr(msg, "abcdef.")); /* any token-looking prefix */
        assert_null(strstr(msg, CERT_KEY));
        assert_null(strstr(msg, "PRIVATE KEY"));
        /* The second line of each key PEM: key material. */
        const struct tu_kube_ca *cas[] = {&ca1, &ca2};
        for (size_t i = 0; i < ELEMENTSOF(cas); i++) {
                const char *nl = strchr(cas[i]->key, '\n');
                char line[32];
                snprintf(line, sizeof line, "%.20s", nl + 1);
                assert_null(strstr(msg, line));
        }
}

static void expect_error(const char *ud, const char *expected) {
        struct nodeconfig c = {};
        char *err = NULL;
        assert_int_equal(parse(ud, &c, &err), -EBADMSG);
        assert_non_null(err);
        if (!streq(err, expected))
                fprintf(stderr, "got:      %s\nexpected: %s\n", err, expected);
        assert_string_equal(err, expected);
        assert_no_secret(err);
        /* *ret untouched on failure */
        assert_null(c.source);
        free(err);
}

static void expect_args_error(char *const *args, const char *expected) {
        struct nodeconfig c = {};
        char *err = NULL;
        assert_int_equal(parse_args(args, &c, &err), -EBADMSG);
        assert_non_null(err);
        if (!streq(err, expected))
                fprintf(stderr, "got:      %s\nexpected: %s\n", err, expected);
        assert_string_equal(err, expected);
        assert_no_secret(err);
        free(err);
}

/* ---- validators ------------------------------------------------------------ */

static void test_token(void **unused) {
        (void) unused;
        assert_true(nodeconfig_token_valid(TOKEN));
        assert_true(nodeconfig_token_valid("000000.0000000000000000"));
        assert_true(nodeconfig_token_valid("zzzzzz.zzzzzzzzzzzzzzzz"));
        const char *bad[] = {"",
                             "abcdef",
                             "abcdef.",
                             "ABCDEF.0123456789abcdef",
                             "abcdef.0123456789ABCDEF",
                             "abcde.0123456789abcdef0",
                             "abcdef-0123456789abcdef",
                             "abcdef.0123456789abcde",
                             "abcdef.0123456789abcdef0",
                             "abcdef.0123456789abcde_",
                             " abcdef.0123456789abcde",
                             "abcdef.0123456789abcdef\n"};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_false(nodeconfig_token_valid(bad[i]));
        assert_false(nodeconfig_token_valid(NULL));
}

static void test_certificate_key(void **unused) {
        (void) unused;
        assert_true(nodeconfig_certificate_key_valid(CERT_KEY));
        assert_true(nodeconfig_certificate_key_valid(
                "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff"));
        assert_false(nodeconfig_certificate_key_valid(CERT_KEY "0"));
        assert_false(nodeconfig_certificate_key_valid(CERT_KEY + 1));
        assert_false(nodeconfig_certificate_key_valid(
                "g0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"));
        assert_false(nodeconfig_certificate_key_valid(""));
}

static void test_ip(void **unused) {
        (void) unused;
        assert_true(nodeconfig_ip_valid("10.0.0.1"));
        assert_true(nodeconfig_ip_valid("fd00::1"));
        assert_true(nodeconfig_ip_valid("::"));
        assert_false(nodeconfig_ip_valid("10.0.0.256"));
        assert_false(nodeconfig_ip_valid("10.0.0"));
        assert_false(nodeconfig_ip_valid("010.0.0.1"));
        assert_false(nodeconfig_ip_valid("[fd00::1]"));
        assert_false(nodeconfig_ip_valid("fe80::1%eth0"));
        assert_false(nodeconfig_ip_valid("node-1"));
        assert_false(nodeconfig_ip_valid(""));
}

static void test_endpoint(void **unused) {
        (void) unused;
        static const struct {
                const char *in, *host;
                uint16_t port;
        } good[] = {
                {"10.0.0.10:6443", "10.0.0.10", 6443},
                {"[fd00::10]:6443", "fd00::10", 6443},
                {"[::1]:1", "::1", 1},
                {"api.example.com:443", "api.example.com", 443},
                {"localhost:65535", "localhost", 65535},
                {"k8s-api.internal1:6443", "k8s-api.internal1", 6443},
        };
        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                char *host = NULL;
                uint16_t port = 0;
                assert_int_equal(nodeconfig_endpoint_parse(good[i].in, &host, &port), 0);
                assert_string_equal(host, good[i].host);
                assert_int_equal(port, good[i].port);
                free(host);
        }
        const char *bad[] = {"10.0.0.10",       "10.0.0.10:",      "10.0.0.10:0",     "10.0.0.10:65536",
                             "10.0.0.10:06443", "10.0.0.10:+443",  "fd00::10:6443",   "[fd00::10]",
                             "[fd00::10]6443",  "[10.0.0.1]:6443", ":6443",           "10.0.0.300:6443",
                             "10.0.0:6443",     "api..x:6443",     "-api.x:6443",     "api_x:6443",
                             "a b:6443",        "https://a:6443",  "[fe80::1%x]:443", ""};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char *host = NULL;
                if (nodeconfig_endpoint_parse(bad[i], &host, NULL) != -EINVAL)
                        fail_msg("accepted endpoint '%s'", bad[i]);
                assert_null(host);
        }
}

static void test_cidr(void **unused) {
        (void) unused;
        assert_int_equal(nodeconfig_cidr_parse("10.244.0.0/16"), AF_INET);
        assert_int_equal(nodeconfig_cidr_parse("0.0.0.0/0"), AF_INET);
        assert_int_equal(nodeconfig_cidr_parse("10.0.0.1/32"), AF_INET);
        assert_int_equal(nodeconfig_cidr_parse("10.96.0.0/12"), AF_INET);
        assert_int_equal(nodeconfig_cidr_parse("fd00:10::/56"), AF_INET6);
        assert_int_equal(nodeconfig_cidr_parse("::/0"), AF_INET6);
        assert_int_equal(nodeconfig_cidr_parse("fd00::1/128"), AF_INET6);
        const char *bad[] = {"10.244.0.1/16",  "10.244.0.0",  "10.244.0.0/33",
                             "10.244.0.0/016", "10.244.0.0/", "10.244.0/16",
                             "fd00::1/64",     "fd00::/129",  "/16",
                             "10.0.0.0/-1",    "10.0.0.0/1a", "fd00::/56/1",
                             "10.97.0.0/12",   "x/8",         ""};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (nodeconfig_cidr_parse(bad[i]) != -EINVAL)
                        fail_msg("accepted CIDR '%s'", bad[i]);

        assert_true(nodeconfig_subnets_valid("10.244.0.0/16"));
        assert_true(nodeconfig_subnets_valid("10.244.0.0/16,fd00:10::/56"));
        assert_true(nodeconfig_subnets_valid("fd00:10::/56,10.244.0.0/16"));
        assert_false(nodeconfig_subnets_valid("10.244.0.0/16,10.245.0.0/16"));
        assert_false(nodeconfig_subnets_valid("10.244.0.0/16,"));
        assert_false(nodeconfig_subnets_valid("10.244.0.0/16, fd00:10::/56"));
        assert_false(nodeconfig_subnets_valid("10.244.0.0/16,fd00:10::/56,fd00:11::/56"));
}

static void test_version(void **unused) {
        (void) unused;
        assert_true(nodeconfig_version_valid("v1.31.1"));
        assert_true(nodeconfig_version_valid("v1.20.2"));
        assert_true(nodeconfig_version_valid("v1.31.0-rc.1"));
        assert_true(nodeconfig_version_valid("v0.0.0"));
        const char *bad[] = {"1.31.1",    "v1.31", "v1.31.1.2", "v01.31.1", "v1.31.1-",
                             "v1.31.1+x", "v1..1", "v",         ""};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (nodeconfig_version_valid(bad[i]))
                        fail_msg("accepted version '%s'", bad[i]);
}

static void test_names(void **unused) {
        (void) unused;
        assert_true(nodeconfig_addon_name_valid("flannel"));
        assert_true(nodeconfig_addon_name_valid("rook-ceph"));
        assert_true(nodeconfig_addon_name_valid("k8s-dashboard2"));
        assert_false(nodeconfig_addon_name_valid("Flannel"));
        assert_false(nodeconfig_addon_name_valid("-flannel"));
        assert_false(nodeconfig_addon_name_valid("rook_ceph"));
        assert_false(nodeconfig_addon_name_valid("a/b"));
        assert_false(nodeconfig_addon_name_valid(""));
        assert_false(nodeconfig_addon_name_valid(
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")); /* 64 */

        assert_true(nodeconfig_label_key_valid("disk"));
        assert_true(nodeconfig_label_key_valid("example.com/disk-type"));
        assert_true(nodeconfig_label_key_valid("topology.kubernetes.io/zone"));
        assert_true(nodeconfig_label_key_valid("a_b.c"));
        assert_false(nodeconfig_label_key_valid("Example.com/disk"));
        assert_false(nodeconfig_label_key_valid("/disk"));
        assert_false(nodeconfig_label_key_valid("example.com/"));
        assert_false(nodeconfig_label_key_valid("a/b/c"));
        assert_false(nodeconfig_label_key_valid("-disk"));
        assert_false(nodeconfig_label_key_valid("disk="));
        assert_false(nodeconfig_label_key_valid(""));
        assert_true(nodeconfig_label_value_valid(""));
        assert_true(nodeconfig_label_value_valid("ssd"));
        assert_true(nodeconfig_label_value_valid("SSD_1.x"));
        assert_false(nodeconfig_label_value_valid("ssd "));
        assert_false(nodeconfig_label_value_valid("a/b"));
        assert_false(nodeconfig_label_value_valid(".x"));
        assert_true(nodeconfig_disk_valid("/dev/vdb"));
        assert_true(nodeconfig_disk_valid("/dev/disk/by-id/nvme-Samsung_SSD_970_S1234"));
        assert_false(nodeconfig_disk_valid("vdb"));
        assert_false(nodeconfig_disk_valid("/dev/"));
        assert_false(nodeconfig_disk_valid("/dev//vdb"));
        assert_false(nodeconfig_disk_valid("/dev/vdb/"));
        assert_false(nodeconfig_disk_valid("/dev/../etc/shadow"));
        assert_false(nodeconfig_disk_valid("/dev/./vdb"));
        assert_false(nodeconfig_disk_valid("/dev/v db"));
        assert_false(nodeconfig_disk_valid("/etc/passwd"));
        assert_false(nodeconfig_disk_valid(NULL));
}

static void test_taint(void **unused) {
        (void) unused;
        struct node_taint t = {};
        assert_int_equal(nodeconfig_taint_parse("dedicated=gpu:NoSchedule", &t), 0);
        assert_string_equal(t.key, "dedicated");
        assert_string_equal(t.value, "gpu");
        assert_string_equal(t.effect, "NoSchedule");
        node_taint_done(&t);
        assert_int_equal(nodeconfig_taint_parse("example.com/maintenance:NoExecute", &t), 0);
        assert_string_equal(t.key, "example.com/maintenance");
        assert_null(t.value);
        assert_string_equal(t.effect, "NoExecute");
        node_taint_done(&t);
        assert_int_equal(nodeconfig_taint_parse("x=:PreferNoSchedule", &t), 0);
        assert_null(t.value);
        node_taint_done(&t);
        const char *bad[] = {"dedicated=gpu",
                             "dedicated=gpu:",
                             "dedicated=gpu:noschedule",
                             ":NoSchedule",
                             "a b:NoSchedule",
                             "k=v v:NoSchedule",
                             "=v:NoSchedule",
                             ""};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (nodeconfig_taint_parse(bad[i], NULL) != -EINVAL)
                        fail_msg("accepted taint '%s'", bad[i]);
}

static void test_names_roundtrip(void **unused) {
        (void) unused;
        for (int r = 0; r < _NODE_ROLE_MAX; r++)
                assert_int_equal(node_role_from_string(node_role_to_string((enum node_role) r)), r);
        assert_int_equal(node_role_from_string("master"), _NODE_ROLE_INVALID);
        assert_int_equal(node_role_from_string("Worker"), _NODE_ROLE_INVALID);
        assert_string_equal(power_mode_to_string(POWER_MODE_POWEROFF), "poweroff");
        assert_string_equal(power_mode_to_string(POWER_MODE_NONE), "none");
}

/* ---- whole documents ------------------------------------------------------- */

#define WORKER                                                                                              \
        "#cloud-config\n"                                                                                   \
        "hostname: ignored-by-kubeseed\n"                                                                   \
        "kubeseed:\n"                                                                                       \
        "  role: worker\n"                                                                                  \
        "  cluster:\n"                                                                                      \
        "    endpoint: 10.0.0.10:6443\n"                                                                    \
        "    token: " TOKEN "\n"                                                                            \
        "    ca-cert-hash: " HASH_A "\n"                                                                    \
        "  node:\n"                                                                                         \
        "    ip: 10.0.0.21\n"                                                                               \
        "    labels:\n"                                                                                     \
        "      disk: ssd\n"                                                                                 \
        "      example.com/rack: \"\"\n"                                                                    \
        "    taints: [\"dedicated=gpu:NoSchedule\"]\n"                                                      \
        "packages: [htop]\n"

static void test_worker(void **unused) {
        (void) unused;
        struct nodeconfig c = {};
        char *err = NULL;
        assert_int_equal(parse(WORKER, &c, &err), 0);
        assert_null(err);
        assert_string_equal(c.source, SOURCE);
        assert_string_equal(c.instance_id, "iid-local01");
        assert_string_equal(c.hostname, "node-1");
        assert_int_equal(c.role, NODE_ROLE_WORKER);
        assert_string_equal(c.endpoint, "10.0.0.10:6443");
        assert_string_equal(c.endpoint_host, "10.0.0.10");
        assert_int_equal(c.endpoint_port, 6443);
        assert_string_equal(c.token, TOKEN);
        assert_int_equal(strv_length(c.ca_cert_hashes), 1);
        assert_string_equal(c.ca_cert_hashes[0], HASH_A);
        assert_null(c.ca_cert);
        assert_null(c.ca_key);
        assert_string_equal(c.ca_cert_hash, "");
        assert_string_equal(c.node_ip, "10.0.0.21");
        assert_int_equal(strv_length(c.labels), 2);
        assert_string_equal(c.labels[0], "disk=ssd");
        assert_string_equal(c.labels[1], "example.com/rack=");
        assert_int_equal(c.n_taints, 1);
        assert_string_equal(c.taints[0].key, "dedicated");
        assert_string_equal(c.taints[0].effect, "NoSchedule");
        assert_null(c.disks);
        assert_null(c.addons);
        assert_int_equal(c.power_mode, POWER_MODE_NONE);
        assert_null(c.warnings);
        assert_false(nodeconfig_should_untaint(&c));
        nodeconfig_done(&c);
        /* Spare disks for storage. */
        assert_int_equal(
                parse("#cloud-config\nkubeseed:\n  role: worker\n  cluster:\n    endpoint: 10.0.0.10:6443\n"
                      "    token: " TOKEN "\n    ca-cert-hash: " HASH_A "\n  node:\n"
                      "    disks: [/dev/vdb, /dev/disk/by-id/virtio-spare]\n",
                      &c, &err),
                0);
        assert_int_equal(strv_length(c.disks), 2);
        assert_string_equal(c.disks[1], "/dev/disk/by-id/virtio-spare");
        nodeconfig_done(&c);
        /* The destructor leaves nothing behind, the struct included. */
        static const struct nodeconfig zero;
        assert_memory_equal(&c, &zero, sizeof zero);
        nodeconfig_done(&c); /* twice is fine */
}

static char *control_plane_doc(const struct tu_kube_ca *cert, const struct tu_kube_ca *key,
                               const char *extra_cluster, const char *extra) {
        _cleanup_free_ char *c = tu_indent(cert->cert, "      "), *k = tu_indent(key->key, "      ");
        char *doc = NULL;
        assert_true(asprintf(&doc,
                             "#cloud-config\n"
                             "kubeseed:\n"
                             "  role: control-plane\n"
                             "  cluster:\n"
                             "    endpoint: \"[fd00::10]:6443\"\n"
                             "    token: " TOKEN "\n"
                             "    pod-subnet: 10.244.0.0/16,fd00:244::/56\n"
                             "    service-subnet: 10.96.0.0/12\n"
                             "    kubernetes-version: v1.31.1\n"
                             "%s"
                             "    ca-cert: |\n%s"
                             "    ca-key: |\n%s"
                             "  addons: [flannel, dashboard, rook-ceph]\n"
                             "  workers: 3\n"
                             "%s"
                             "power_state:\n"
                             "  mode: poweroff\n"
                             "  delay: now\n"
                             "  message: bye\n",
                             extra_cluster, c, k, extra) > 0);
        return doc;
}

static void test_control_plane(void **unused) {
        (void) unused;
        _cleanup_free_ char *extra = NULL;
        assert_true(asprintf(&extra, "    ca-cert-hash: [%s, %s]\n    certificate-key: %s\n", HASH_A,
                             ca1.hash, CERT_KEY) > 0);
        _cleanup_free_ char *doc = control_plane_doc(&ca1, &ca1, extra, "");
        struct nodeconfig c = {};
        char *err = NULL;
        int r = parse(doc, &c, &err);
        if (r < 0)
                fail_msg("%s", err);
        assert_int_equal(c.role, NODE_ROLE_CONTROL_PLANE);
        assert_string_equal(c.endpoint_host, "fd00::10");
        assert_string_equal(c.pod_subnet, "10.244.0.0/16,fd00:244::/56");
        assert_string_equal(c.service_subnet, "10.96.0.0/12");
        assert_string_equal(c.kubernetes_version, "v1.31.1");
        assert_string_equal(c.ca_cert, ca1.cert);
        assert_string_equal(c.ca_key, ca1.key);
        /* The hash computed by kubeseed equals the openssl command line's. */
        assert_string_equal(c.ca_cert_hash, ca1.hash);
        assert_int_equal(strv_length(c.ca_cert_hashes), 2);
        assert_string_equal(c.certificate_key, CERT_KEY);
        assert_int_equal(strv_length(c.addons), 3);
        assert_string_equal(c.addons[0], "flannel");
        assert_string_equal(c.addons[2], "rook-ceph");
        assert_true(c.workers_set);
        assert_int_equal(c.workers, 3);
        assert_false(c.schedule_workloads_set);
        assert_false(nodeconfig_should_untaint(&c)); /* 3 workers */
        assert_int_equal(c.power_mode, POWER_MODE_POWEROFF);
        assert_null(c.warnings);
        nodeconfig_done(&c);

        /* Without any hash: the computed one becomes the list. */
        _cleanup_free_ char *doc2 = control_plane_doc(&ca2, &ca2, "", "  schedule-workloads: yes\n");
        assert_int_equal(parse(doc2, &c, NULL), 0);
        assert_int_equal(strv_length(c.ca_cert_hashes), 1);
        assert_string_equal(c.ca_cert_hashes[0], ca2.hash);
        assert_true(nodeconfig_should_untaint(&c)); /* schedule-workloads wins over workers: 3 */
        nodeconfig_done(&c);

        /* Upper-case hex in the hash is kubeadm-compatible, and normalised. */
        char upper[CERT_HASH_STRING_MAX];
        snprintf(upper, sizeof upper, "%s", ca1.hash);
        for (char *p = upper + 7; *p; p++)
                if (*p >= 'a' && *p <= 'f')
                        *p = (char) (*p - 'a' + 'A');
        _cleanup_free_ char *extra3 = NULL;
        assert_true(asprintf(&extra3, "    ca-cert-hash: %s\n", upper) > 0);
        _cleanup_free_ char *doc3 = control_plane_doc(&ca1, &ca1, extra3, "");
        assert_int_equal(parse(doc3, &c, NULL), 0);
        assert_string_equal(c.ca_cert_hashes[0], ca1.hash);
        nodeconfig_done(&c);
}

static void test_control_plane_minimal(void **unused) {
        (void) unused;
        /* No CA: kubeadm makes its own; allowed with a warning. No workers: untaint. */
        const char *doc = "#cloud-config\n"
                          "kubeseed:\n"
                          "  role: control-plane\n"
                          "  cluster:\n"
                          "    token: " TOKEN "\n";
        struct nodeconfig c = {};
        assert_int_equal(parse(doc, &c, NULL), 0);
        assert_null(c.endpoint);
        assert_null(c.ca_cert_hashes);
        assert_int_equal(strv_length(c.warnings), 1);
        assert_string_equal(c.warnings[0],
                            SOURCE ": no kubeseed.cluster.ca-cert: kubeadm creates its own CA, so "
                                   "workers cannot know its hash in advance");
        assert_true(nodeconfig_should_untaint(&c));
        nodeconfig_done(&c);

        const char *doc2 = "#cloud-config\n"
                           "kubeseed:\n"
                           "  role: control-plane\n"
                           "  schedule-workloads: false\n"
                           "  workers: 0\n"
                           "  cluster: {token: " TOKEN "}\n";
        assert_int_equal(parse(doc2, &c, NULL), 0);
        assert_true(c.schedule_workloads_set);
        assert_false(nodeconfig_should_untaint(&c));
        nodeconfig_done(&c);
}

static void test_control_plane_join(void **unused) {
        (void) unused;
        /* ca-cert (no key) stands in for the hash. */
        _cleanup_free_ char *cert = tu_indent(ca1.cert, "      ");
        _cleanup_free_ char *doc = NULL;
        assert_true(asprintf(&doc,
                             "#cloud-config\n"
                             "kubeseed:\n"
                             "  role: control-plane-join\n"
                             "  cluster:\n"
                             "    endpoint: api.example.com:6443\n"
                             "    token: " TOKEN "\n"
                             "    certificate-key: %s\n"
                             "    ca-cert: |\n%s",
                             CERT_KEY, cert) > 0);
        struct nodeconfig c = {};
        char *err = NULL;
        int r = parse(doc, &c, &err);
        if (r < 0)
                fail_msg("%s", err);
        assert_int_equal(c.role, NODE_ROLE_CONTROL_PLANE_JOIN);
        assert_string_equal(c.endpoint_host, "api.example.com");
        assert_string_equal(c.certificate_key, CERT_KEY);
        assert_int_equal(strv_length(c.ca_cert_hashes), 1);
        assert_string_equal(c.ca_cert_hashes[0], ca1.hash);
        assert_false(nodeconfig_should_untaint(&c));
        nodeconfig_done(&c);

        /* Same with the hash only. */
        _cleanup_free_ char *doc2 = NULL;
        assert_true(asprintf(&doc2,
                             "#cloud-config\n"
                             "kubeseed:\n"
                             "  role: control-plane-join\n"
                             "  cluster:\n"
                             "    endpoint: 10.0.0.10:6443\n"
                             "    token: " TOKEN "\n"
                             "    ca-cert-hash: [" HASH_B "]\n"
                             "    certificate-key: %s\n",
                             CERT_KEY) > 0);
        assert_int_equal(parse(doc2, &c, NULL), 0);
        assert_string_equal(c.ca_cert_hashes[0], HASH_B);
        nodeconfig_done(&c);
}

/* ---- errors, with their exact messages ----------------------------------- */

static void test_error_token(void **unused) {
        (void) unused;
        /* line 7 is "    token: ...", its value at column 12 */
        const char *doc = "#cloud-config\n"
                          "hostname: x\n"
                          "kubeseed:\n"
                          "  role: worker\n"
                          "  cluster:\n"
                          "    endpoint: 10.0.0.10:6443\n"
                          "    token: ABCDEF.0123456789abcdef\n"
                          "    ca-cert-hash: " HASH_A "\n";
        expect_error(doc, SOURCE ": user-data:7:12: kubeseed.cluster.token: expected 6 lowercase letters or "
                                 "digits, a dot, and 16 more");
        struct nodeconfig c = {};
        char *err = NULL;
        assert_int_equal(parse(doc, &c, &err), -EBADMSG);
        assert_null(strstr(err, "ABCDEF.0123456789abcdef"));
        assert_null(strstr(err, "0123456789abcdef"));
        free(err);

        /* Not a string: still no value. */
        expect_error("#cloud-config\nkubeseed:\n  role: worker\n  cluster:\n    token: [" TOKEN "]\n",
                     SOURCE ": user-data:5:12: kubeseed.cluster.token: expected a string, not a list");
        /* A long one. */
        expect_error("#cloud-config\nkubeseed:\n  role: worker\n  cluster:\n    token: " TOKEN TOKEN "\n",
                     SOURCE
                     ": user-data:5:12: kubeseed.cluster.token: expected 6 lowercase letters or digits, "
                     "a dot, and 16 more");
        /* A YAML error next to the token must not quote it either. */
        struct nodeconfig c2 = {};
        char *err2 = NULL;
        assert_int_equal(parse("#cloud-config\nkubeseed:\n  role: worker\n  cluster:\n    token: \"" TOKEN
                               "\n",
                               &c2, &err2),
                         -EBADMSG);
        assert_non_null(err2);
        assert_true(strncmp(err2, SOURCE ": user-data:", strlen(SOURCE ": user-data:")) == 0);
        assert_no_secret(err2);
        free(err2);
}

static void test_error_structure(void **unused) {
        (void) unused;
        expect_error(NULL,
                     SOURCE ": user-data: expected user-data starting with #cloud-config with a kubeseed: "
                            "key (there is no user-data)");
        expect_error("#!/bin/sh\necho " TOKEN "\n", SOURCE
                     ": user-data:1:1: expected a first line \"#cloud-config\" (other user-data formats "
                     "are not supported)");
        expect_error("#cloud-config\n- a\n",
                     SOURCE ": user-data:2:1: expected a mapping of cloud-config keys");
        expect_error("#cloud-config\npackages: [htop]\n", SOURCE
                     ": user-data: kubeseed: expected a mapping with the node's role and cluster (the key "
                     "is missing)");
        expect_error("#cloud-config\nkubeseed: worker\n", SOURCE
                     ": user-data:2:11: kubeseed: expected a mapping with the node's role and cluster");
        expect_error("#cloud-config\nkubeseed:\n  cluster: {token: " TOKEN "}\n", SOURCE
                     ": user-data:3:3: kubeseed.role: expected control-plane, worker or control-plane-join "
                     "(the key is missing)");
        expect_error("#cloud-config\nkubeseed:\n  role: master\n", SOURCE
                     ": user-data:3:9: kubeseed.role: expected control-plane, worker or control-plane-join");
        expect_error("#cloud-config\nkubeseed:\n  role: worker\n  rol: worker\n", SOURCE
                     ": user-data:4:3: kubeseed.rol: expected one of the keys role, cluster, addons, node, "
                     "schedule-workloads, workers (unknown key)");
        expect_error("#cloud-config\nkubeseed:\n  role: worker\n  cluster:\n    tokn: " TOKEN "\n", SOURCE
                     ": user-data:5:5: kubeseed.cluster.tokn: expected one of the keys endpoint, token, "
                     "ca-cert-hash, ca-cert, ca-key, certificate-key, pod-subnet, service-subnet, "
                     "kubernetes-version (unknown key)");
        expect_error("#cloud-config\nkubeseed:\n  role: worker\n  node: {ipp: 10.0.0.1}\n", SOURCE
                     ": user-data:4:10: kubeseed.node.ipp: expected one of the keys ip, labels, taints, "
                     "disks (unknown key)");
        expect_error("#cloud-config\nkubeseed:\n  role: worker\n  role: worker\n",
                     SOURCE ": user-data:4:3: duplicate key 'role' (first at 3:3)");
        expect_error("#cloud-config\nkubeseed:\n  role: worker\n  cluster: [a]\n",
                     SOURCE ": user-data:4:12: kubeseed.cluster: expected a mapping (endpoint, token, "
                            "ca-cert-hash, ...)");

        /* Nesting is bounded. */
        char deep[512];
        int n = snprintf(deep, sizeof deep, "#cloud-config\nx: ");
        memset(deep + n, '[', 40);
        memset(deep + n + 40, ']', 40);
        snprintf(deep + n + 80, sizeof deep - (size_t) n - 80, "\n");
        struct nodeconfig c = {};
        char *err = NULL;
        assert_int_equal(parse(deep, &c, &err), -EBADMSG);
        assert_non_null(strstr(err, "nesting is deeper than 32 levels"));
        free(err);
}

#define WORKER_HEAD                                                                                         \
        "#cloud-config\n"                                                                                   \
        "kubeseed:\n"                                                                                       \
        "  role: worker\n"                                                                                  \
        "  cluster:\n"

static void test_error_fields(void **unused) {
        (void) unused;
        expect_error(WORKER_HEAD "    endpoint: 10.0.0.10\n",
                     SOURCE ": user-data:5:15: kubeseed.cluster.endpoint: expected host:port (host an IPv4 "
                            "address, an [IPv6] address or a DNS name; port 1-65535)");
        expect_error(WORKER_HEAD "    ca-cert-hash: [" HASH_A ", sha256:abc]\n",
                     SOURCE ": user-data:5:93: kubeseed.cluster.ca-cert-hash[1]: expected sha256: and 64 "
                            "hexadecimal digits");
        expect_error(WORKER_HEAD "    ca-cert-hash: md5:00\n", SOURCE
                     ": user-data:5:19: kubeseed.cluster.ca-cert-hash: expected sha256: and 64 hexadecimal "
                     "digits");
        expect_error(WORKER_HEAD "    ca-cert-hash: []\n", SOURCE
                     ": user-data:5:19: kubeseed.cluster.ca-cert-hash: expected a non-empty list of sha256: "
                     "and 64 hexadecimal digits");
        expect_error(WORKER_HEAD "    pod-subnet: 10.244.0.1/16\n", SOURCE
                     ": user-data:5:17: kubeseed.cluster.pod-subnet: expected a CIDR such as 10.244.0.0/16 "
                     "with the host bits zero, or an IPv4 and an IPv6 CIDR separated by a comma");
        expect_error(WORKER_HEAD "    service-subnet: fd00::/129\n", SOURCE
                     ": user-data:5:21: kubeseed.cluster.service-subnet: expected a CIDR such as "
                     "10.244.0.0/16 with the host bits zero, or an IPv4 and an IPv6 CIDR separated by a "
                     "comma");
        expect_error(WORKER_HEAD "    kubernetes-version: 1.31\n", SOURCE
                     ": user-data:5:25: kubeseed.cluster.kubernetes-version: expected a Kubernetes version "
                     "such as v1.31.1");
        expect_error(WORKER_HEAD "    certificate-key: 00112233\n", SOURCE
                     ": user-data:5:22: kubeseed.cluster.certificate-key: expected 64 hexadecimal digits "
                     "(kubeadm's certificate key)");
        expect_error(WORKER_HEAD "    certificate-key: " CERT_KEY "0\n", SOURCE
                     ": user-data:5:22: kubeseed.cluster.certificate-key: expected 64 hexadecimal digits "
                     "(kubeadm's certificate key)");
        expect_error("#cloud-config\nkubeseed:\n  role: worker\n  node: {ip: 10.0.0.256}\n",
                     SOURCE ": user-data:4:14: kubeseed.node.ip: expected an IPv4 or IPv6 address");
        expect_error(
                "#cloud-config\nkubeseed:\n  role: worker\n  node:\n    labels: {\"Bad Key\": x}\n", SOURCE
                ": user-data:5:14: kubeseed.node.labels.Bad Key: expected a label key: [DNS "
                "prefix/]name, the name 1-63 letters, digits, '-', '_' or '.', starting and ending with "
                "a letter or digit");
        expect_error("#cloud-config\nkubeseed:\n  role: worker\n  node:\n    labels: {disk: \"a b\"}\n",
                     SOURCE
                     ": user-data:5:20: kubeseed.node.labels.disk: expected a label value: empty, or 1-63 "
                     "letters, digits, '-', '_' or '.', starting and ending with a letter or digit");
        expect_error("#cloud-config\nkubeseed:\n  role: worker\n  node:\n    taints: [\"a=b:Sometimes\"]\n",
                     SOURCE
                     ": user-data:5:14: kubeseed.node.taints[0]: expected a taint key[=value]:Effect, "
                     "Effect NoSchedule, PreferNoSchedule or NoExecute");
        expect_error("#cloud-config\nkubeseed:\n  role: worker\n  node:\n    disks: [vdb]\n", SOURCE
                     ": user-data:5:13: kubeseed.node.disks[0]: expected a device path below /dev/ (such as "
                     "/dev/vdb)");
        expect_error("#cloud-config\nkubeseed:\n  role: worker\n  node:\n    disks: [/dev/vdb, /dev/vdb]\n",
                     SOURCE
                     ": user-data:5:23: kubeseed.node.disks[1]: expected each item once (this one repeats)");
        expect_error("#cloud-config\nkubeseed:\n  role: worker\n  node:\n    disks: /dev/vdb\n",
                     SOURCE ": user-data:5:12: kubeseed.node.disks: expected a list of device paths");
        expect_error("#cloud-config\nkubeseed:\n  role: worker\n  addons: [flannel, Dashboard]\n",
                     SOURCE ": user-data:4:21: kubeseed.addons[1]: expected an add-on name (1-63 lowercase "
                            "letters, digits and '-')");
        expect_error("#cloud-config\nkubeseed:\n  role: worker\n  addons: [flannel, flannel]\n", SOURCE
                     ": user-data:4:21: kubeseed.addons[1]: expected each item once (this one repeats)");
        expect_error("#cloud-config\nkubeseed:\n  role: worker\n  addons: flannel\n",
                     SOURCE ": user-data:4:11: kubeseed.addons: expected a list of add-on names");
        expect_error("#cloud-config\nkubeseed:\n  role: worker\n  schedule-workloads: \"true\"\n",
                     SOURCE ": user-data:4:23: kubeseed.schedule-workloads: expected true or false");
        expect_error("#cloud-config\nkubeseed:\n  role: worker\n  workers: -1\n", SOURCE
                     ": user-data:4:12: kubeseed.workers: expected the number of worker nodes (0-65535)");
        expect_error("#cloud-config\nkubeseed:\n  role: worker\n  workers: 65536\n", SOURCE
                     ": user-data:4:12: kubeseed.workers: expected the number of worker nodes (0-65535)");

        /* Lists are bounded at 64 items. */
        char *doc = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&doc, &size);
        fputs("#cloud-config\nkubeseed:\n  role: worker\n  addons: [", f);
        for (int i = 0; i < 65; i++)
                fprintf(f, "%sa%d", i ? ", " : "", i);
        fputs("]\n", f);
        fclose(f);
        expect_error(doc, SOURCE ": user-data:4:11: kubeseed.addons: expected at most 64 items");
        free(doc);
}

static void test_error_roles(void **unused) {
        (void) unused;
        expect_error(
                WORKER_HEAD "    endpoint: 10.0.0.10:6443\n    ca-cert-hash: " HASH_A "\n", SOURCE
                ": user-data:5:5: kubeseed.cluster.token: expected a bootstrap token (required for role "
                "worker)");
        expect_error(WORKER_HEAD "    token: " TOKEN "\n    ca-cert-hash: " HASH_A "\n", SOURCE
                     ": user-data:5:5: kubeseed.cluster.endpoint: expected host:port of the API server "
                     "(required for role worker)");
        expect_error(WORKER_HEAD "    endpoint: 10.0.0.10:6443\n    token: " TOKEN "\n", SOURCE
                     ": user-data:5:5: kubeseed.cluster.ca-cert-hash: expected sha256: and 64 hexadecimal "
                     "digits, or ca-cert (required for role worker)");
        expect_error("#cloud-config\nkubeseed:\n  role: worker\n", SOURCE
                     ": user-data:3:3: kubeseed.cluster.endpoint: expected host:port of the API server "
                     "(required for role worker)");
        expect_error(
                "#cloud-config\nkubeseed:\n  role: control-plane\n  cluster: {endpoint: 10.0.0.1:6443}\n",
                SOURCE ": user-data:4:12: kubeseed.cluster.token: expected a bootstrap token (required for "
                       "role control-plane)");
        expect_error("#cloud-config\nkubeseed:\n  role: control-plane-join\n  cluster:\n"
                     "    endpoint: 10.0.0.10:6443\n    token: " TOKEN "\n    ca-cert-hash: " HASH_A "\n",
                     SOURCE
                     ": user-data:5:5: kubeseed.cluster.certificate-key: expected 64 hexadecimal digits "
                     "(required for role control-plane-join)");
        expect_error(
                WORKER_HEAD "    endpoint: 10.0.0.10:6443\n    token: " TOKEN "\n    ca-cert-hash: " HASH_A
                            "\n    certificate-key: " CERT_KEY "\n",
                SOURCE
                ": user-data:8:22: kubeseed.cluster.certificate-key: expected only on control-plane and "
                "control-plane-join nodes");
        expect_error("#cloud-config\nkubeseed:\n  role: control-plane\n  cluster:\n    token: " TOKEN
                     "\n    ca-cert-hash: " HASH_A "\n",
                     SOURCE
                     ": user-data:6:19: kubeseed.cluster.ca-cert-hash: expected together with ca-cert and "
                     "ca-key on a control-plane node (without them kubeadm creates a new CA, whose hash "
                     "cannot be this one)");
}

static void test_error_ca(void **unused) {
        (void) unused;
        /* The hash given does not belong to the CA: name the one that would. */
        _cleanup_free_ char *extra = NULL, *msg = NULL;
        assert_true(asprintf(&extra, "    ca-cert-hash: %s\n", ca2.hash) > 0);
        _cleanup_free_ char *doc = control_plane_doc(&ca1, &ca1, extra, "");
        assert_true(
                asprintf(&msg,
                         SOURCE
                         ": user-data:10:19: kubeseed.cluster.ca-cert-hash: expected the hash of ca-cert, "
                         "%s (SHA-256 of its public key)",
                         ca1.hash) > 0);
        expect_error(doc, msg);

        /* A key that is not the certificate's. */
        _cleanup_free_ char *doc2 = control_plane_doc(&ca1, &ca2, "", "");
        struct nodeconfig c = {};
        char *err = NULL;
        assert_int_equal(parse(doc2, &c, &err), -EBADMSG);
        assert_true(strncmp(err,
                            SOURCE
                            ": user-data:10:14: kubeseed.cluster.ca-cert: expected a CA certificate and, in "
                            "ca-key, its private key: ",
                            strlen(SOURCE
                                   ": user-data:10:14: kubeseed.cluster.ca-cert: expected a CA certificate "
                                   "and, in ca-key, its private key: ")) == 0);
        assert_no_secret(err);
        free(err);

        /* Garbage for a certificate. */
        const char *doc3 = "#cloud-config\nkubeseed:\n  role: worker\n  cluster:\n    endpoint: a.b:1\n"
                           "    token: " TOKEN "\n    ca-cert: not a certificate\n";
        err = NULL;
        assert_int_equal(parse(doc3, &c, &err), -EBADMSG);
        assert_true(strncmp(err,
                            SOURCE
                            ": user-data:7:14: kubeseed.cluster.ca-cert: expected a PEM CA certificate: ",
                            strlen(SOURCE ": user-data:7:14: kubeseed.cluster.ca-cert: expected a PEM CA "
                                          "certificate: ")) == 0);
        free(err);

        /* Both or neither on a control plane. */
        _cleanup_free_ char *cert = tu_indent(ca1.cert, "      "), *key = tu_indent(ca1.key, "      ");
        _cleanup_free_ char *doc4 = NULL, *doc5 = NULL, *doc6 = NULL;
        assert_true(asprintf(&doc4,
                             "#cloud-config\nkubeseed:\n  role: control-plane\n  cluster:\n    token: " TOKEN
                             "\n    ca-cert: |\n%s",
                             cert) > 0);
        expect_error(doc4,
                     SOURCE ": user-data:5:5: kubeseed.cluster.ca-key: expected together with ca-cert (both "
                            "or neither)");
        assert_true(asprintf(&doc5,
                             "#cloud-config\nkubeseed:\n  role: control-plane\n  cluster:\n    token: " TOKEN
                             "\n    ca-key: |\n%s",
                             key) > 0);
        expect_error(doc5,
                     SOURCE ": user-data:5:5: kubeseed.cluster.ca-cert: expected together with ca-key (both "
                            "or neither)");
        /* The CA key never goes to a worker. */
        assert_true(asprintf(&doc6,
                             WORKER_HEAD "    endpoint: 10.0.0.10:6443\n    token: " TOKEN
                                         "\n    ca-cert-hash: %s\n    ca-key: |\n%s",
                             ca1.hash, key) > 0);
        expect_error(doc6, SOURCE
                     ": user-data:8:13: kubeseed.cluster.ca-key: expected only on a control-plane node "
                     "(role worker must not hold the CA key)");

        /* PEM size is bounded. */
        char *big = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&big, &size);
        fputs("#cloud-config\nkubeseed:\n  role: control-plane\n  cluster:\n    ca-cert: |\n", f);
        for (int i = 0; i < 300; i++)
                fputs("      AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", f);
        fclose(f);
        expect_error(big,
                     SOURCE ": user-data:5:14: kubeseed.cluster.ca-cert: expected at most 16384 characters");
        free(big);
}

static void test_power_state(void **unused) {
        (void) unused;
        static const struct {
                const char *mode;
                enum power_mode want;
        } modes[] = {
                {"poweroff", POWER_MODE_POWEROFF}, {"reboot", POWER_MODE_REBOOT}, {"halt", POWER_MODE_HALT}};
        for (size_t i = 0; i < ELEMENTSOF(modes); i++) {
                _cleanup_free_ char *doc = NULL;
                assert_true(asprintf(&doc,
                                     WORKER "power_state:\n  mode: %s\n  delay: \"+1\"\n  timeout: 30\n",
                                     modes[i].mode) > 0);
                struct nodeconfig c = {};
                assert_int_equal(parse(doc, &c, NULL), 0);
                assert_int_equal(c.power_mode, modes[i].want);
                nodeconfig_done(&c);
        }
        struct nodeconfig c = {};
        assert_int_equal(parse(WORKER "power_state: {message: no mode}\n", &c, NULL), 0);
        assert_int_equal(c.power_mode, POWER_MODE_NONE);
        nodeconfig_done(&c);
        expect_error(WORKER "power_state:\n  mode: shutdown\n",
                     SOURCE ": user-data:17:9: power_state.mode: expected poweroff, reboot or halt");
        expect_error(WORKER "power_state: poweroff\n",
                     SOURCE ": user-data:16:14: power_state: expected a mapping (mode, delay, message)");
}

/* ---- the kernel command line form ---------------------------------------- */

static void test_cmdline_args(void **unused) {
        (void) unused;
        char *args[] = {"role=control-plane",
                        "role=worker", /* the last one wins */
                        "endpoint=10.0.0.10:6443",
                        "token=" TOKEN,
                        "ca-cert-hash=" HASH_A,
                        "ca-cert-hash=" HASH_B ",",
                        "addons=flannel,dashboard",
                        "node-ip=10.0.0.21",
                        "instance-id=iid-cmd",
                        "hostname=node-7",
                        "power-state=poweroff",
                        "workers=2",
                        NULL};
        struct nodeconfig c = {};
        char *err = NULL;
        int r = parse_args(args, &c, &err);
        if (r < 0)
                fail_msg("%s", err);
        assert_string_equal(c.source, "kernel command line");
        assert_string_equal(c.instance_id, "iid-cmd");
        assert_string_equal(c.hostname, "node-7");
        assert_int_equal(c.role, NODE_ROLE_WORKER);
        assert_string_equal(c.endpoint, "10.0.0.10:6443");
        assert_string_equal(c.token, TOKEN);
        assert_int_equal(strv_length(c.ca_cert_hashes), 2);
        assert_string_equal(c.ca_cert_hashes[1], HASH_B);
        assert_int_equal(strv_length(c.addons), 2);
        assert_string_equal(c.addons[1], "dashboard");
        assert_string_equal(c.node_ip, "10.0.0.21");
        assert_int_equal(c.power_mode, POWER_MODE_POWEROFF);
        assert_int_equal(c.workers, 2);
        nodeconfig_done(&c);

        char *bad_token[] = {"role=worker", "endpoint=10.0.0.10:6443", "token=abcdef-0123456789abcdef",
                             NULL};
        expect_args_error(
                bad_token,
                "kernel command line: kubeseed.token: expected 6 lowercase letters or digits, a dot, and "
                "16 more");
        char *missing[] = {"role=worker", "endpoint=10.0.0.10:6443", "token=" TOKEN, NULL};
        expect_args_error(missing,
                          "kernel command line: kubeseed.ca-cert-hash: expected sha256: and 64 hexadecimal "
                          "digits, or ca-cert (required for role worker)");
        char *bad_hash[] = {"role=worker", "ca-cert-hash=" HASH_A ",sha256:00", NULL};
        expect_args_error(
                bad_hash,
                "kernel command line: kubeseed.ca-cert-hash: expected sha256: and 64 hexadecimal digits");
        char *unknown[] = {"role=worker", "tokn=" TOKEN, NULL};
        expect_args_error(
                unknown,
                "kernel command line: kubeseed.tokn: expected one of the keys role, endpoint, token, "
                "ca-cert-hash, certificate-key, pod-subnet, service-subnet, kubernetes-version, node-ip, "
                "schedule-workloads, workers, addons, power-state, instance-id, hostname (unknown key)");
        char *novalue[] = {"role", NULL};
        expect_args_error(novalue, "kernel command line: kubeseed.role: expected kubeseed.role=<value>");
        char *badrole[] = {"role=", NULL};
        expect_args_error(badrole, "kernel command line: kubeseed.role: expected control-plane, worker or "
                                   "control-plane-join (the key is missing)");
        char *badiid[] = {"role=worker", "instance-id=a b", NULL};
        expect_args_error(badiid,
                          "kernel command line: kubeseed.instance-id: expected 1-255 printable ASCII "
                          "characters without spaces");
        char *badpower[] = {"role=control-plane", "token=" TOKEN, "power-state=off", NULL};
        expect_args_error(badpower,
                          "kernel command line: kubeseed.power-state: expected poweroff, reboot or halt");
        char *badbool[] = {"role=control-plane", "token=" TOKEN, "schedule-workloads=maybe", NULL};
        expect_args_error(badbool,
                          "kernel command line: kubeseed.schedule-workloads: expected true or false");
}

/* `addons: []` selects none (an empty list); no key means the image's defaults (NULL). */
static void test_addons_empty_list(void **state) {
        (void) state;
        struct nodeconfig c;
        _cleanup_free_ char *err = NULL;
        const char *ud =
                "#cloud-config\nkubeseed:\n  role: worker\n  cluster:\n    endpoint: 10.0.0.10:6443\n"
                "    token: " TOKEN "\n    ca-cert-hash: " HASH_A "\n  addons: []\n";
        assert_int_equal(parse(ud, &c, &err), 0);
        assert_non_null(c.addons);
        assert_null(c.addons[0]);
        nodeconfig_done(&c);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_token),
                cmocka_unit_test(test_addons_empty_list),
                cmocka_unit_test(test_certificate_key),
                cmocka_unit_test(test_ip),
                cmocka_unit_test(test_endpoint),
                cmocka_unit_test(test_cidr),
                cmocka_unit_test(test_version),
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_taint),
                cmocka_unit_test(test_names_roundtrip),
                cmocka_unit_test(test_worker),
                cmocka_unit_test(test_control_plane),
                cmocka_unit_test(test_control_plane_minimal),
                cmocka_unit_test(test_control_plane_join),
                cmocka_unit_test(test_error_token),
                cmocka_unit_test(test_error_structure),
                cmocka_unit_test(test_error_fields),
                cmocka_unit_test(test_error_roles),
                cmocka_unit_test(test_error_ca),
                cmocka_unit_test(test_power_state),
                cmocka_unit_test(test_cmdline_args),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
