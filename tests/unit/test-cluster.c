/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cluster.h"
#include "macro.h"
#include "strv.h"

#define HEAD                                                                                                \
        "name: demo\n"                                                                                      \
        "endpoint: 10.0.0.10:6443\n"                                                                        \
        "pod-subnet: 10.244.0.0/16\n"                                                                       \
        "service-subnet: 10.96.0.0/12\n"
#define CP                                                                                                  \
        "  - name: cp1\n"                                                                                   \
        "    role: control-plane\n"                                                                         \
        "    address: 10.0.0.10/24\n"

static struct cluster *parse_ok(const char *text) {
        struct cluster *c = NULL;
        _cleanup_free_ char *err = NULL;
        int r = cluster_parse("cluster.yaml", text, strlen(text), &c, &err);
        if (r < 0)
                fail_msg("unexpected error %d: %s", r, err ? err : "(none)");
        return c;
}

/* The message, which must hold every string of `want`. */
static void parse_fails(const char *text, const char *const *want) {
        struct cluster *c = (struct cluster *) 1;
        _cleanup_free_ char *err = NULL;
        int r = cluster_parse("cluster.yaml", text, strlen(text), &c, &err);
        if (r != -EBADMSG)
                fail_msg("expected -EBADMSG, got %d for:\n%s", r, text);
        assert_ptr_equal(c, (struct cluster *) 1);
        assert_non_null(err);
        assert_true(strncmp(err, "cluster.yaml", 12) == 0);
        for (const char *const *w = want; *w; w++)
                if (!strstr(err, *w))
                        fail_msg("message '%s' lacks '%s'", err, *w);
}
#define FAILS(text, ...) parse_fails((text), (const char *const[]){__VA_ARGS__, NULL})

static void test_full(void **unused) {
        (void) unused;
        _cleanup_cluster_ struct cluster *c =
                parse_ok(HEAD "kubernetes-version: v1.31.1\n"
                              "addons: [flannel, dashboard]\n"
                              "schedule-workloads: true\n"
                              "nodes:\n" CP "    gateway: 10.0.0.1\n"
                              "    dns: [10.0.0.1, 1.1.1.1]\n"
                              "    mac: 52:54:00:AB:CD:EF\n"
                              "    labels: {disk: ssd, example.com/zone: a, empty: }\n"
                              "    taints: [\"dedicated=storage:NoSchedule\"]\n"
                              "    disks: [/dev/vdb]\n"
                              "  - name: w1\n"
                              "    role: worker\n"
                              "    dhcp: true\n"
                              "    interface: enp1s0\n"
                              "  - name: cp2\n"
                              "    role: control-plane-join\n"
                              "    address: 10.0.0.12/24\n");
        assert_string_equal(c->name, "demo");
        assert_string_equal(c->kubernetes_version, "v1.31.1");
        assert_string_equal(c->endpoint, "10.0.0.10:6443");
        assert_string_equal(c->endpoint_host, "10.0.0.10");
        assert_int_equal(c->endpoint_port, 6443);
        assert_false(c->endpoint_is_load_balancer);
        assert_string_equal(c->pod_subnet, "10.244.0.0/16");
        assert_string_equal(c->addons[1], "dashboard");
        assert_true(c->schedule_workloads_set && c->schedule_workloads);
        assert_int_equal(c->n_nodes, 3);
        const struct cluster_node *cp = cluster_find_node(c, "cp1");
        assert_non_null(cp);
        assert_int_equal(cp->role, NODE_ROLE_CONTROL_PLANE);
        assert_string_equal(cp->address, "10.0.0.10/24");
        assert_string_equal(cp->gateway, "10.0.0.1");
        assert_string_equal(cp->dns[1], "1.1.1.1");
        assert_string_equal(cp->mac, "52:54:00:ab:cd:ef"); /* lowercase */
        assert_string_equal(cp->labels[0], "disk=ssd");
        assert_string_equal(cp->labels[1], "example.com/zone=a");
        assert_string_equal(cp->labels[2], "empty=");
        assert_string_equal(cp->taints[0], "dedicated=storage:NoSchedule");
        assert_string_equal(cp->disks[0], "/dev/vdb");
        const struct cluster_node *w = cluster_find_node(c, "w1");
        assert_true(w->dhcp);
        assert_null(w->address);
        assert_string_equal(w->interface, "enp1s0");
        assert_int_equal(cluster_count_role(c, NODE_ROLE_WORKER), 1);
        assert_int_equal(cluster_count_role(c, NODE_ROLE_CONTROL_PLANE_JOIN), 1);
        assert_null(cluster_find_node(c, "nope"));
}

static void test_load_balancer(void **unused) {
        (void) unused;
        /* An address in front of the control planes, or a DNS name: allowed when said so. */
        _cleanup_cluster_ struct cluster *a = parse_ok(
                "name: demo\nendpoint: 10.0.0.5:6443\nendpoint-is-load-balancer: true\nnodes:\n" CP);
        assert_true(a->endpoint_is_load_balancer);
        _cleanup_cluster_ struct cluster *b = parse_ok(
                "name: demo\nendpoint: api.example.com:443\nendpoint-is-load-balancer: true\nnodes:\n" CP);
        assert_string_equal(b->endpoint_host, "api.example.com");
        /* Without it, no. */
        FAILS("name: demo\nendpoint: 10.0.0.5:6443\nnodes:\n" CP,
              "cluster.yaml:2:11: endpoint:", "static address of a control-plane node (cp1 (10.0.0.10/24))",
              "endpoint-is-load-balancer");
        FAILS("name: demo\nendpoint: api.example.com:6443\nnodes:\n" CP,
              "cluster.yaml:2:11: endpoint:", "endpoint-is-load-balancer: true");
        /* A worker's address is not a control plane's. */
        FAILS("name: demo\nendpoint: 10.0.0.20:6443\nnodes:\n" CP
              "  - name: w1\n    role: worker\n    address: 10.0.0.20/24\n",
              "endpoint:", "cp1 (10.0.0.10/24)");
        /* A joining control plane's address is fine. */
        _cleanup_cluster_ struct cluster *c =
                parse_ok("name: demo\nendpoint: 10.0.0.12:6443\nnodes:\n" CP
                         "  - name: cp2\n    role: control-plane-join\n    address: 10.0.0.12/24\n");
        assert_non_null(c);
        /* An IPv6 endpoint, spelled differently from the address. */
        _cleanup_cluster_ struct cluster *d = parse_ok("name: demo\nendpoint: \"[fd00::0a]:6443\"\nnodes:\n"
                                                       "  - name: cp1\n    role: control-plane\n"
                                                       "    address: fd00::a/64\n");
        assert_string_equal(d->endpoint_host, "fd00::0a");
}

static void test_roles(void **unused) {
        (void) unused;
        FAILS(HEAD "nodes:\n" CP "  - name: cp2\n    role: control-plane\n    address: 10.0.0.11/24\n",
              "cluster.yaml:6:3: nodes: expected exactly one node with role control-plane",
              "nodes cp1, cp2 all have it", "control-plane-join");
        FAILS("name: demo\nendpoint: 10.0.0.10:6443\nendpoint-is-load-balancer: true\nnodes:\n"
              "  - name: w1\n    role: worker\n    dhcp: true\n",
              "nodes: expected exactly one node with role control-plane", "none has it");
        FAILS(HEAD "nodes:\n  - name: cp1\n    role: master\n    address: 10.0.0.10/24\n",
              "cluster.yaml:7:11: nodes[0].role: expected control-plane, worker or control-plane-join");
        FAILS(HEAD "nodes:\n  - name: cp1\n    address: 10.0.0.10/24\n",
              "cluster.yaml:6:5: nodes[0].role:", "the key is missing");
}

static void test_duplicates(void **unused) {
        (void) unused;
        FAILS(HEAD "nodes:\n" CP "  - name: cp1\n    role: worker\n    address: 10.0.0.11/24\n",
              "cluster.yaml:9:5: nodes[1].name: expected a name no other node has", "nodes cp1",
              "nodes[0] and nodes[1]");
        FAILS(HEAD "nodes:\n" CP "  - name: w1\n    role: worker\n    address: 10.0.0.11/24\n"
                   "  - name: w2\n    role: worker\n    address: 10.0.0.11/16\n",
              "cluster.yaml:12:5: nodes[2].address: expected an address no other node has",
              "nodes w1 and w2 both have 10.0.0.11");
        FAILS(HEAD "nodes:\n" CP "    mac: 52:54:00:00:00:01\n"
                   "  - name: w1\n    role: worker\n    dhcp: true\n    mac: 52:54:00:00:00:01\n",
              "nodes[1].mac: expected a MAC address no other node has", "nodes cp1 and w1");
        /* IPv6 spelled two ways is the same address. */
        FAILS("name: demo\nendpoint: \"[fd00::a]:6443\"\nnodes:\n"
              "  - name: cp1\n    role: control-plane\n    address: fd00::a/64\n"
              "  - name: w1\n    role: worker\n    address: fd00:0::0a/64\n",
              "nodes cp1 and w1 both have fd00::a");
        FAILS(HEAD "nodes:\n" CP "    disks: [/dev/vdb, /dev/vdb]\n",
              "nodes[0].disks[1]: expected each item once");
}

static void test_overlaps(void **unused) {
        (void) unused;
        FAILS("name: demo\nendpoint: 10.0.0.10:6443\npod-subnet: 10.0.0.0/8\nnodes:\n" CP,
              "nodes[0].address: expected a node network that does not overlap pod-subnet",
              "node cp1: 10.0.0.10/24 overlaps 10.0.0.0/8");
        FAILS("name: demo\nendpoint: 10.96.0.10:6443\nservice-subnet: 10.96.0.0/12\nnodes:\n"
              "  - name: cp1\n    role: control-plane\n    address: 10.96.0.10/24\n",
              "does not overlap service-subnet", "node cp1");
        FAILS("name: demo\nendpoint: 10.0.0.10:6443\npod-subnet: 10.244.0.0/16\nservice-subnet: "
              "10.240.0.0/12\n"
              "nodes:\n" CP,
              "cluster.yaml:4:17: service-subnet: expected a network that does not overlap pod-subnet",
              "10.240.0.0/12 overlaps 10.244.0.0/16");
        /* Dual stack: each family against its own. */
        FAILS("name: demo\nendpoint: 10.0.0.10:6443\npod-subnet: 10.244.0.0/16,fd00:10::/56\n"
              "service-subnet: 10.96.0.0/12,fd00:10:0:1::/112\nnodes:\n" CP,
              "fd00:10:0:1::/112 overlaps fd00:10::/56");
        _cleanup_cluster_ struct cluster *ok =
                parse_ok("name: demo\nendpoint: 10.0.0.10:6443\n"
                         "pod-subnet: 10.244.0.0/16,fd00:10::/56\n"
                         "service-subnet: 10.96.0.0/12,fd00:20::/112\nnodes:\n" CP);
        assert_non_null(ok);
}

static void test_overlap_helper(void **unused) {
        (void) unused;
        assert_true(cluster_cidrs_overlap("10.0.0.0/8", "10.1.2.3/32"));
        assert_true(cluster_cidrs_overlap("10.1.2.3/24", "10.1.2.200/30"));
        assert_false(cluster_cidrs_overlap("10.244.0.0/16", "10.96.0.0/12"));
        assert_true(cluster_cidrs_overlap("10.96.0.0/12", "10.100.0.0/16"));
        assert_false(cluster_cidrs_overlap("10.0.0.0/8", "fd00::/8"));
        assert_true(cluster_cidrs_overlap("0.0.0.0/0", "192.168.1.1/32"));
        assert_false(cluster_cidrs_overlap("nonsense", "10.0.0.0/8"));
        int family;
        unsigned prefix;
        uint8_t addr[16];
        assert_int_equal(cluster_ifaddr_parse("192.168.1.7/24", &family, addr, &prefix), 0);
        assert_int_equal(prefix, 24);
        assert_int_equal(addr[3], 7);
        assert_int_equal(cluster_ifaddr_parse("192.168.1.7", NULL, NULL, NULL), -EINVAL);
        assert_int_equal(cluster_ifaddr_parse("192.168.1.7/33", NULL, NULL, NULL), -EINVAL);
        assert_int_equal(cluster_ifaddr_parse("192.168.1.7/024", NULL, NULL, NULL), -EINVAL);
        assert_int_equal(cluster_ifaddr_parse("fd00::1/129", NULL, NULL, NULL), -EINVAL);
        assert_true(cluster_mac_valid("52:54:00:ab:CD:ef"));
        assert_false(cluster_mac_valid("52:54:00:ab:cd"));
        assert_false(cluster_mac_valid("52-54-00-ab-cd-ef"));
        assert_false(cluster_mac_valid("52:54:00:ab:cd:eg"));
}

static void test_fields(void **unused) {
        (void) unused;
        FAILS("endpoint: 10.0.0.10:6443\nnodes:\n" CP, "cluster.yaml:1:1: name:", "the key is missing");
        FAILS("name: Demo\nendpoint: 10.0.0.10:6443\nnodes:\n" CP,
              "cluster.yaml:1:7: name: expected a DNS label");
        FAILS("name: demo.example\nendpoint: 10.0.0.10:6443\nnodes:\n" CP, "name: expected a DNS label");
        FAILS("name: demo\nnodes:\n" CP, "endpoint: expected host:port", "the key is missing");
        FAILS("name: demo\nendpoint: 10.0.0.10\nnodes:\n" CP,
              "cluster.yaml:2:11: endpoint: expected host:port");
        FAILS("name: demo\nendpoint: 10.0.0.10:6443\nkubernetes-version: 1.31\nnodes:\n" CP,
              "cluster.yaml:3:21: kubernetes-version: expected a Kubernetes version");
        FAILS("name: demo\nendpoint: 10.0.0.10:6443\npod-subnet: 10.244.0.1/16\nnodes:\n" CP,
              "cluster.yaml:3:13: pod-subnet: expected a CIDR");
        FAILS("name: demo\nendpoint: 10.0.0.10:6443\naddons: [Flannel]\nnodes:\n" CP,
              "cluster.yaml:3:10: addons[0]: expected add-on names");
        FAILS("name: demo\nendpoint: 10.0.0.10:6443\nschedule-workloads: maybe\nnodes:\n" CP,
              "schedule-workloads: expected true or false");
        FAILS("name: demo\nendpoint: 10.0.0.10:6443\nnodez:\n" CP,
              "cluster.yaml:3:1: nodez: expected one of the keys name, kubernetes-version, endpoint");
        FAILS("name: demo\nendpoint: 10.0.0.10:6443\n", "nodes: expected a list of nodes");
        FAILS("name: demo\nendpoint: 10.0.0.10:6443\nnodes: []\n", "nodes: expected a non-empty list");
        FAILS("name: demo\nendpoint: 10.0.0.10:6443\nnodes:\n" CP "    adress: 10.0.0.1/24\n",
              "cluster.yaml:7:5: nodes[0].adress: expected one of the keys name, role, address");
        FAILS(HEAD "nodes:\n  - name: CP1\n    role: control-plane\n    address: 10.0.0.10/24\n",
              "cluster.yaml:6:11: nodes[0].name: expected a lowercase hostname");
        FAILS(HEAD "nodes:\n  - name: cp1\n    role: control-plane\n",
              "nodes[0].address: expected a static address", "or dhcp: true");
        FAILS(HEAD "nodes:\n" CP "    dhcp: true\n",
              "nodes[0].address: expected either address or dhcp: true");
        FAILS(HEAD "nodes:\n  - name: cp1\n    role: control-plane\n    address: 10.0.0.10\n",
              "cluster.yaml:8:14: nodes[0].address: expected an IPv4 or IPv6 address with its prefix "
              "length");
        FAILS(HEAD "nodes:\n" CP "    gateway: 10.0.0\n",
              "nodes[0].gateway: expected an IPv4 or IPv6 address");
        FAILS(HEAD "nodes:\n" CP "    dns: [8.8.8]\n", "nodes[0].dns[0]: expected nameserver addresses");
        FAILS(HEAD "nodes:\n" CP "    mac: 52:54:00\n", "nodes[0].mac: expected a MAC address");
        FAILS(HEAD "nodes:\n" CP "    interface: \"en p1\"\n",
              "nodes[0].interface: expected an interface name");
        FAILS(HEAD "nodes:\n" CP "    labels: {\"-bad\": x}\n",
              "nodes[0].labels: -bad: expected a label key");
        FAILS(HEAD "nodes:\n" CP "    labels: {ok: \"-bad\"}\n",
              "nodes[0].labels: ok: expected a label value");
        FAILS(HEAD "nodes:\n" CP "    taints: [\"x:Sometimes\"]\n", "nodes[0].taints[0]: expected a taint");
        FAILS(HEAD "nodes:\n" CP "    disks: [vdb]\n",
              "nodes[0].disks[0]: expected a device path below /dev/");
        FAILS(HEAD "nodes:\n" CP "    disks: [/dev/../etc/passwd]\n", "nodes[0].disks[0]");
        FAILS("- just\n- a list\n", "cluster.yaml:1:1: expected a mapping");
        FAILS("name: [unclosed\n", "cluster.yaml:");
        FAILS("a: &x 1\nb: *x\n", "cluster.yaml:");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_full),     cmocka_unit_test(test_load_balancer),
                cmocka_unit_test(test_roles),    cmocka_unit_test(test_duplicates),
                cmocka_unit_test(test_overlaps), cmocka_unit_test(test_overlap_helper),
                cmocka_unit_test(test_fields),
        };
        return cmocka_run_group_tests_name("cluster", tests, NULL, NULL);
}
