/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fsutil.h"
#include "kubeadm.h"
#include "macro.h"
#include "strv.h"
#include "yamltree.h"

#define GOLDEN "tests/data/kubeadm/"
#define TOKEN "abcdef.0123456789abcdef"
#define CERT_KEY "e6a2eb8581237ab72a4f494f30285ec12a9694d750b9785706a83bfcbbbd2204"
#define CA_HASH "sha256:7bbd3ae7b3a5b1ae2b9a6c7f2d1b3d0b1c2e1f5d2a0c8e9f6b5a4c3d2e1f0a9b"

/* ---- kubeadm's field names, from cmd/kubeadm/app/apis/kubeadm/v1beta{2,3,4}/types.go ----
 * Every mapping the renderer writes (and every golden file) may only use
 * these keys, per API version: a misspelt or misplaced field fails here even
 * when the golden file has the same mistake. */

#define B2 (1u << 2)
#define B3 (1u << 3)
#define B4 (1u << 4)
#define ALL (B2 | B3 | B4)

struct field {
        const char *path; /* "Kind.a.b", "[]" for sequence items */
        const char *key;
        unsigned apis;
};

static const struct field fields[] = {
        /* InitConfiguration */
        {"InitConfiguration", "apiVersion", ALL},
        {"InitConfiguration", "kind", ALL},
        {"InitConfiguration", "bootstrapTokens", ALL},
        {"InitConfiguration", "nodeRegistration", ALL},
        {"InitConfiguration", "localAPIEndpoint", ALL},
        {"InitConfiguration", "certificateKey", ALL},
        {"InitConfiguration", "skipPhases", B3 | B4},
        {"InitConfiguration", "patches", B3 | B4},
        {"InitConfiguration", "dryRun", B4},
        {"InitConfiguration", "timeouts", B4},
        /* BootstrapToken (v1beta2) / bootstraptoken/v1 */
        {"InitConfiguration.bootstrapTokens[]", "token", ALL},
        {"InitConfiguration.bootstrapTokens[]", "description", ALL},
        {"InitConfiguration.bootstrapTokens[]", "ttl", ALL},
        {"InitConfiguration.bootstrapTokens[]", "expires", ALL},
        {"InitConfiguration.bootstrapTokens[]", "usages", ALL},
        {"InitConfiguration.bootstrapTokens[]", "groups", ALL},
        /* APIEndpoint */
        {"InitConfiguration.localAPIEndpoint", "advertiseAddress", ALL},
        {"InitConfiguration.localAPIEndpoint", "bindPort", ALL},
        {"JoinConfiguration.controlPlane.localAPIEndpoint", "advertiseAddress", ALL},
        {"JoinConfiguration.controlPlane.localAPIEndpoint", "bindPort", ALL},
        /* NodeRegistrationOptions */
        {"*.nodeRegistration", "name", ALL},
        {"*.nodeRegistration", "criSocket", ALL},
        {"*.nodeRegistration", "taints", ALL},
        {"*.nodeRegistration", "kubeletExtraArgs", ALL},
        {"*.nodeRegistration", "ignorePreflightErrors", ALL},
        {"*.nodeRegistration", "imagePullPolicy", B3 | B4},
        {"*.nodeRegistration", "imagePullSerial", B4},
        /* corev1.Taint */
        {"*.nodeRegistration.taints[]", "key", ALL},
        {"*.nodeRegistration.taints[]", "value", ALL},
        {"*.nodeRegistration.taints[]", "effect", ALL},
        {"*.nodeRegistration.taints[]", "timeAdded", ALL},
        /* v1beta4 Arg */
        {"*.nodeRegistration.kubeletExtraArgs[]", "name", B4},
        {"*.nodeRegistration.kubeletExtraArgs[]", "value", B4},
        /* v1beta4 Timeouts */
        {"*.timeouts", "controlPlaneComponentHealthCheck", B4},
        {"*.timeouts", "kubeletHealthCheck", B4},
        {"*.timeouts", "kubernetesAPICall", B4},
        {"*.timeouts", "etcdAPICall", B4},
        {"*.timeouts", "tlsBootstrap", B4},
        {"*.timeouts", "discovery", B4},
        {"*.timeouts", "upgradeManifests", B4},
        /* ClusterConfiguration */
        {"ClusterConfiguration", "apiVersion", ALL},
        {"ClusterConfiguration", "kind", ALL},
        {"ClusterConfiguration", "etcd", ALL},
        {"ClusterConfiguration", "networking", ALL},
        {"ClusterConfiguration", "kubernetesVersion", ALL},
        {"ClusterConfiguration", "controlPlaneEndpoint", ALL},
        {"ClusterConfiguration", "apiServer", ALL},
        {"ClusterConfiguration", "controllerManager", ALL},
        {"ClusterConfiguration", "scheduler", ALL},
        {"ClusterConfiguration", "dns", ALL},
        {"ClusterConfiguration", "certificatesDir", ALL},
        {"ClusterConfiguration", "imageRepository", ALL},
        {"ClusterConfiguration", "featureGates", ALL},
        {"ClusterConfiguration", "clusterName", ALL},
        {"ClusterConfiguration", "useHyperKubeImage", B2},
        {"ClusterConfiguration", "proxy", B4},
        {"ClusterConfiguration", "encryptionAlgorithm", B4},
        {"ClusterConfiguration", "certificateValidityPeriod", B4},
        {"ClusterConfiguration", "caCertificateValidityPeriod", B4},
        {"ClusterConfiguration.apiServer", "extraArgs", ALL},
        {"ClusterConfiguration.apiServer", "extraVolumes", ALL},
        {"ClusterConfiguration.apiServer", "certSANs", ALL},
        {"ClusterConfiguration.apiServer", "timeoutForControlPlane", B2 | B3},
        {"ClusterConfiguration.apiServer", "extraEnvs", B4},
        {"ClusterConfiguration.etcd", "local", ALL},
        {"ClusterConfiguration.etcd", "external", ALL},
        {"ClusterConfiguration.etcd.local", "imageRepository", ALL},
        {"ClusterConfiguration.etcd.local", "imageTag", ALL},
        {"ClusterConfiguration.etcd.local", "dataDir", ALL},
        {"ClusterConfiguration.etcd.local", "extraArgs", ALL},
        {"ClusterConfiguration.etcd.local", "serverCertSANs", ALL},
        {"ClusterConfiguration.etcd.local", "peerCertSANs", ALL},
        {"ClusterConfiguration.etcd.local", "extraEnvs", B4},
        {"ClusterConfiguration.networking", "serviceSubnet", ALL},
        {"ClusterConfiguration.networking", "podSubnet", ALL},
        {"ClusterConfiguration.networking", "dnsDomain", ALL},
        /* JoinConfiguration */
        {"JoinConfiguration", "apiVersion", ALL},
        {"JoinConfiguration", "kind", ALL},
        {"JoinConfiguration", "nodeRegistration", ALL},
        {"JoinConfiguration", "caCertPath", ALL},
        {"JoinConfiguration", "discovery", ALL},
        {"JoinConfiguration", "controlPlane", ALL},
        {"JoinConfiguration", "skipPhases", B3 | B4},
        {"JoinConfiguration", "patches", B3 | B4},
        {"JoinConfiguration", "dryRun", B4},
        {"JoinConfiguration", "timeouts", B4},
        {"JoinConfiguration.discovery", "bootstrapToken", ALL},
        {"JoinConfiguration.discovery", "file", ALL},
        {"JoinConfiguration.discovery", "tlsBootstrapToken", ALL},
        {"JoinConfiguration.discovery", "timeout", B2 | B3},
        {"JoinConfiguration.discovery.bootstrapToken", "token", ALL},
        {"JoinConfiguration.discovery.bootstrapToken", "apiServerEndpoint", ALL},
        {"JoinConfiguration.discovery.bootstrapToken", "caCertHashes", ALL},
        {"JoinConfiguration.discovery.bootstrapToken", "unsafeSkipCAVerification", ALL},
        {"JoinConfiguration.controlPlane", "localAPIEndpoint", ALL},
        {"JoinConfiguration.controlPlane", "certificateKey", ALL},
        /* KubeletConfiguration (kubelet.config.k8s.io/v1beta1), the fields
         * the renderer writes, before v1.22 only */
        {"KubeletConfiguration", "apiVersion", B2},
        {"KubeletConfiguration", "kind", B2},
        {"KubeletConfiguration", "cgroupDriver", B2},
};

/* Paths whose values are free-form maps (map[string]string in v1beta2/3). */
static bool free_map(const char *path, unsigned api) {
        size_t n = strlen(path);
        const char *suffix = ".nodeRegistration.kubeletExtraArgs";
        size_t sn = strlen(suffix);
        return api != B4 && n > sn && strcmp(path + n - sn, suffix) == 0;
}

static bool path_matches(const char *pattern, const char *path) {
        if (pattern[0] == '*') { /* "*.x": any kind */
                const char *dot = strchr(path, '.');
                return dot && strcmp(pattern + 1, dot) == 0;
        }
        return strcmp(pattern, path) == 0;
}

/* Keys whose values are Go durations, int32 and bool. */
static const char *const duration_keys[] = {"ttl", "timeoutForControlPlane", "timeout",
                                            "controlPlaneComponentHealthCheck",
                                            "discovery" /* a mapping in JoinConfiguration: skipped */};

static bool is_go_duration(const char *s) {
        /* [0-9]+h?[0-9]+m?[0-9]+s as Go prints it */
        if (!*s)
                return false;
        for (const char *p = s; *p;) {
                if (*p < '0' || *p > '9')
                        return false;
                while (*p >= '0' && *p <= '9')
                        p++;
                if (*p != 'h' && *p != 'm' && *p != 's')
                        return false;
                p++;
        }
        return true;
}

static void check_node(const struct ynode *n, const char *path, unsigned api) {
        char sub[256];
        switch (n->kind) {
        case YNODE_SCALAR:
                return;
        case YNODE_SEQUENCE:
                snprintf(sub, sizeof sub, "%s[]", path);
                for (size_t i = 0; i < n->n_items; i++)
                        check_node(n->items[i], sub, api);
                return;
        case YNODE_MAPPING:
                break;
        }
        if (free_map(path, api)) {
                for (size_t i = 0; i < n->n_items; i++)
                        if (n->items[i]->kind != YNODE_SCALAR)
                                fail_msg("%s.%s: a string expected", path, n->keys[i]);
                return;
        }
        for (size_t i = 0; i < n->n_items; i++) {
                const char *key = n->keys[i];
                bool ok = false;
                for (size_t f = 0; f < ELEMENTSOF(fields) && !ok; f++)
                        ok = path_matches(fields[f].path, path) && strcmp(fields[f].key, key) == 0 &&
                             (fields[f].apis & api);
                if (!ok)
                        fail_msg("%s: '%s' is not a field of kubeadm v1beta%u here", path, key,
                                 api == B2   ? 2
                                 : api == B3 ? 3
                                             : 4);
                const struct ynode *v = n->items[i];
                if (strcmp(key, "bindPort") == 0) {
                        assert_int_equal(v->kind, YNODE_SCALAR);
                        assert_true(v->plain); /* an int32, not a string */
                        assert_true(strspn(v->value, "0123456789") == strlen(v->value));
                }
                for (size_t d = 0; d < ELEMENTSOF(duration_keys); d++)
                        if (strcmp(key, duration_keys[d]) == 0 && v->kind == YNODE_SCALAR &&
                            !is_go_duration(v->value))
                                fail_msg("%s.%s: '%s' is not a Go duration", path, key, v->value);
                snprintf(sub, sizeof sub, "%s.%s", path, key);
                check_node(v, sub, api);
        }
}

/* Checks every document of a kubeadm configuration against the field list. */
static void check_schema(const char *text, unsigned api) {
        struct ynode **docs = NULL;
        size_t n = 0;
        _cleanup_free_ char *err = NULL;
        int r = yaml_parse_documents(text, strlen(text), NULL, &docs, &n, &err);
        if (r < 0)
                fail_msg("does not parse (%d: %s):\n%s", r, err ? err : "", text);
        assert_true(n >= 1);
        char expected_api[64];
        snprintf(expected_api, sizeof expected_api, "kubeadm.k8s.io/v1beta%u",
                 api == B2   ? 2
                 : api == B3 ? 3
                             : 4);
        for (size_t i = 0; i < n; i++) {
                const char *kind = ynode_get_str(docs[i], "kind");
                assert_non_null(kind);
                assert_string_equal(ynode_get_str(docs[i], "apiVersion"),
                                    strcmp(kind, "KubeletConfiguration") == 0 ? KUBELET_CONFIG_API
                                                                              : expected_api);
                check_node(docs[i], kind, api);
        }
        ynode_free_documents(docs, n);
}

/* ---- fixed inputs ---- */

static char *ignore[] = {"NumCPU", "Mem", NULL};
static char *skip[] = {"addon/kube-proxy", NULL};
static char *hashes[] = {CA_HASH, NULL};

static struct kubeadm_config init_config(const char *version) {
        return (struct kubeadm_config){
                .kubernetes_version = version,
                .node_name = "cp1",
                .node_ip = "10.0.0.10",
                .set_taints = true, /* taints: [] */
                .ignore_preflight_errors = ignore,
                .skip_phases = skip,
                .advertise_address = "10.0.0.10",
                .bind_port = 6443,
                .control_plane_endpoint = "10.0.0.10:6443",
                .pod_subnet = "10.244.0.0/16",
                .service_subnet = "10.96.0.0/12",
                .image_repository = "registry.local:5000/k8s",
                .etcd_image_tag = "3.5.12-0",
                .token = TOKEN,
                .token_ttl_sec = 24 * 3600,
                .certificate_key = CERT_KEY,
                .control_plane_timeout_sec = 600,
                .discovery_timeout_sec = 300, /* not used by init */
        };
}

static struct kubeadm_config join_config(const char *version) {
        return (struct kubeadm_config){
                .kubernetes_version = version,
                .node_name = "worker1",
                .node_ip = "10.0.0.21",
                .control_plane_endpoint = "10.0.0.10:6443",
                .token = TOKEN,
                .ca_cert_hashes = hashes,
                .discovery_timeout_sec = 300,
                .control_plane_timeout_sec = 600, /* only for control-plane joins */
        };
}

static struct kubeadm_config join_cp_config(const char *version) {
        struct kubeadm_config c = join_config(version);
        c.node_name = "cp2";
        c.node_ip = "10.0.0.11";
        c.advertise_address = "10.0.0.11";
        c.bind_port = 6443;
        c.control_plane = true;
        c.certificate_key = CERT_KEY;
        return c;
}

static char *render(bool init, const struct kubeadm_config *c) {
        char *text = NULL, *err = NULL;
        size_t size = 0;
        int r = init ? kubeadm_render_init(c, &text, &size, &err)
                     : kubeadm_render_join(c, &text, &size, &err);
        if (r < 0)
                fail_msg("render failed (%d): %s", r, err ? err : "");
        assert_null(err);
        assert_int_equal(size, strlen(text));
        return text;
}

static void compare_golden(const char *name, const char *text) {
        _cleanup_free_ char *path = NULL, *golden = NULL;
        assert_true(asprintf(&path, GOLDEN "%s", name) > 0);
        size_t size = 0;
        int r = read_file_full(path, 1 << 20, &golden, &size);
        if (r < 0)
                fail_msg("cannot read %s: %d", path, r);
        if (strlen(text) != size || memcmp(text, golden, size) != 0)
                fail_msg("%s differs.\n--- expected\n%s--- rendered\n%s", path, golden, text);
}

/* The golden files themselves only use kubeadm's fields. */
static void test_goldens_schema(void **state) {
        (void) state;
        const struct {
                const char *file;
                unsigned api;
        } g[] = {
                {"init-v1beta2.yaml", B2},
                {"init-v1beta3.yaml", B3},
                {"init-v1beta4.yaml", B4},
                {"join-v1beta2.yaml", B2},
                {"join-v1beta3.yaml", B3},
                {"join-v1beta4.yaml", B4},
                {"join-control-plane-v1beta4.yaml", B4},
        };
        for (size_t i = 0; i < ELEMENTSOF(g); i++) {
                _cleanup_free_ char *path = NULL, *text = NULL;
                assert_true(asprintf(&path, GOLDEN "%s", g[i].file) > 0);
                assert_int_equal(read_file_full(path, 1 << 20, &text, NULL), 0);
                check_schema(text, g[i].api);
        }
}

/* The checker catches misplaced fields (so the test above can fail). */
static void test_schema_checker_catches(void **state) {
        (void) state;
        /* Parsing and walking only; failures are expected through fail_msg,
         * so probe the pieces that decide instead. */
        bool found = false;
        for (size_t f = 0; f < ELEMENTSOF(fields); f++)
                if (path_matches(fields[f].path, "ClusterConfiguration.apiServer") &&
                    strcmp(fields[f].key, "timeoutForControlPlane") == 0)
                        found = (fields[f].apis & B4) != 0;
        assert_false(found); /* v1beta4 has no apiServer.timeoutForControlPlane */
        assert_true(path_matches("*.nodeRegistration", "JoinConfiguration.nodeRegistration"));
        assert_false(path_matches("*.nodeRegistration", "JoinConfiguration.discovery"));
        assert_true(free_map("InitConfiguration.nodeRegistration.kubeletExtraArgs", B3));
        assert_false(free_map("InitConfiguration.nodeRegistration.kubeletExtraArgs", B4));
        assert_true(is_go_duration("24h0m0s"));
        assert_true(is_go_duration("45s"));
        assert_false(is_go_duration("24"));
        assert_false(is_go_duration("5 minutes"));
}

static void test_render_init_goldens(void **state) {
        (void) state;
        const struct {
                const char *version, *file;
                unsigned api;
        } g[] = {
                {"v1.20.2", "init-v1beta2.yaml", B2},
                {"v1.30.2", "init-v1beta3.yaml", B3},
                {"v1.31.1", "init-v1beta4.yaml", B4},
        };
        for (size_t i = 0; i < ELEMENTSOF(g); i++) {
                struct kubeadm_config c = init_config(g[i].version);
                _cleanup_free_ char *text = render(true, &c);
                compare_golden(g[i].file, text);
                check_schema(text, g[i].api);
        }
}

static void test_render_join_goldens(void **state) {
        (void) state;
        const struct {
                const char *version, *file;
                unsigned api;
        } g[] = {
                {"v1.20.2", "join-v1beta2.yaml", B2},
                {"v1.30.2", "join-v1beta3.yaml", B3},
                {"v1.31.1", "join-v1beta4.yaml", B4},
        };
        for (size_t i = 0; i < ELEMENTSOF(g); i++) {
                struct kubeadm_config c = join_config(g[i].version);
                _cleanup_free_ char *text = render(false, &c);
                compare_golden(g[i].file, text);
                check_schema(text, g[i].api);
        }
        struct kubeadm_config c = join_cp_config("v1.31.1");
        _cleanup_free_ char *text = render(false, &c);
        compare_golden("join-control-plane-v1beta4.yaml", text);
        check_schema(text, B4);
}

/* Control-plane joins in the older APIs, and minimal configurations, also
 * stay within kubeadm's fields. */
static void test_render_schema_variants(void **state) {
        (void) state;
        const char *versions[] = {"v1.20.0", "v1.21.14", "v1.22.0", "v1.24.3",
                                  "v1.30.0", "v1.31.0",  "v1.33.1"};
        for (size_t i = 0; i < ELEMENTSOF(versions); i++) {
                enum kubeadm_api api;
                assert_int_equal(kubeadm_api_version(versions[i], &api, NULL), 0);
                unsigned bit = 1u << api;

                struct kubeadm_config cp = join_cp_config(versions[i]);
                _cleanup_free_ char *t1 = render(false, &cp);
                check_schema(t1, bit);

                struct kubeadm_config min = {.kubernetes_version = versions[i]};
                _cleanup_free_ char *t2 = render(true, &min);
                check_schema(t2, bit);
                assert_null(strstr(t2, "bootstrapTokens")); /* kubeadm makes its own */
                assert_null(strstr(t2, "taints"));          /* kubeadm's default taint */
                assert_non_null(strstr(t2, "criSocket: " KUBEADM_DEFAULT_CRI_SOCKET "\n"));
                /* The kubelet's cgroup driver is containerd's (systemd): set
                 * where kubeadm's default is still cgroupfs; a join takes the
                 * kubelet configuration init uploaded. */
                struct kubeadm_version v;
                assert_int_equal(kubeadm_parse_version(versions[i], &v), 0);
                assert_int_equal(strstr(t2, "\n---\napiVersion: " KUBELET_CONFIG_API
                                            "\nkind: KubeletConfiguration\ncgroupDriver: systemd\n") != NULL,
                                 v.minor < 22);
                assert_null(strstr(t1, "KubeletConfiguration"));

                struct kubeadm_taint t[] = {{"dedicated", "infra", "NoSchedule"},
                                            {"example.com/gpu", NULL, "NoExecute"}};
                struct kubeadm_config tainted = init_config(versions[i]);
                tainted.taints = t;
                tainted.n_taints = ELEMENTSOF(t);
                _cleanup_free_ char *t3 = render(true, &tainted);
                check_schema(t3, bit);
                assert_non_null(strstr(
                        t3, "  taints:\n  - key: dedicated\n    value: infra\n    effect: NoSchedule\n"
                            "  - key: example.com/gpu\n    effect: NoExecute\n"));

                /* node labels: kubelet's --node-labels, beside --node-ip. */
                char *labels[] = {"disk=ssd", "example.com/zone=", NULL};
                struct kubeadm_config labelled = join_config(versions[i]);
                labelled.node_labels = labels;
                _cleanup_free_ char *t4 = render(false, &labelled);
                check_schema(t4, bit);
                if (api >= KUBEADM_API_V1BETA4)
                        assert_non_null(strstr(
                                t4, "  kubeletExtraArgs:\n  - name: node-ip\n    value: \"10.0.0.21\"\n"
                                    "  - name: node-labels\n    value: disk=ssd,example.com/zone=\n"));
                else
                        assert_non_null(strstr(t4, "  kubeletExtraArgs:\n    node-ip: \"10.0.0.21\"\n"
                                                   "    node-labels: disk=ssd,example.com/zone=\n"));
                labelled.node_ip = NULL;
                _cleanup_free_ char *t5 = render(false, &labelled);
                check_schema(t5, bit);
                assert_null(strstr(t5, "node-ip"));
                assert_non_null(strstr(t5, "node-labels"));
        }
}

static void test_secrets_only_where_expected(void **state) {
        (void) state;
        /* The token appears exactly once per document that needs it, the
         * certificate key only when given. */
        struct kubeadm_config c = init_config("v1.31.1");
        c.certificate_key = NULL;
        _cleanup_free_ char *t = render(true, &c);
        assert_null(strstr(t, "certificateKey"));
        char *first = strstr(t, TOKEN);
        assert_non_null(first);
        assert_null(strstr(first + 1, TOKEN));

        /* Errors name the field and carry no secret. */
        struct kubeadm_config j = join_config("v1.31.1");
        j.control_plane_endpoint = NULL;
        char *text = NULL, *err = NULL;
        assert_int_equal(kubeadm_render_join(&j, &text, NULL, &err), -EINVAL);
        assert_null(text);
        assert_non_null(strstr(err, "endpoint"));
        assert_null(strstr(err, TOKEN));
        free(err);
}

static void test_render_join_required(void **state) {
        (void) state;
        char *text = NULL, *err = NULL;

        struct kubeadm_config c = join_config("v1.30.2");
        c.token = NULL;
        assert_int_equal(kubeadm_render_join(&c, &text, NULL, &err), -EINVAL);
        assert_non_null(strstr(err, "token"));

        c = join_config("v1.30.2");
        c.ca_cert_hashes = (char *[]){NULL};
        assert_int_equal(kubeadm_render_join(&c, &text, NULL, &err), -EINVAL);
        assert_non_null(strstr(err, "CA certificate hash"));

        c = join_cp_config("v1.30.2");
        c.certificate_key = NULL;
        assert_int_equal(kubeadm_render_join(&c, &text, NULL, &err), -EINVAL);
        assert_non_null(strstr(err, "certificate key"));

        c = join_config("v1.19.16");
        assert_int_equal(kubeadm_render_join(&c, &text, NULL, &err), -ENOTSUP);
        assert_non_null(strstr(err, "1.19"));

        struct kubeadm_config i = init_config("v1.19.0");
        assert_int_equal(kubeadm_render_init(&i, &text, NULL, &err), -ENOTSUP);
        i = init_config("latest");
        assert_int_equal(kubeadm_render_init(&i, &text, NULL, &err), -EINVAL);
        assert_non_null(strstr(err, "latest"));
        i = init_config("v1.31.1");
        i.bind_port = 70000;
        assert_int_equal(kubeadm_render_init(&i, &text, NULL, &err), -EINVAL);
        i = init_config("v1.31.1");
        i.taints = (struct kubeadm_taint[]){{"k", NULL, NULL}};
        i.n_taints = 1;
        assert_int_equal(kubeadm_render_init(&i, &text, NULL, &err), -EINVAL);
        assert_null(text);
        free(err);
}

/* Values are quoted by libyaml wherever their plain form would read as
 * another type or break the syntax; all come back as written. */
static void test_quoting_is_libyaml(void **state) {
        (void) state;
        const char *odd[] = {"true",     "123456.0123456789abcdef",
                             "a: b",     "#x",
                             "yes",      "null",
                             "1.20",     "-x",
                             "quote\"s", "multi\nline"};
        for (size_t i = 0; i < ELEMENTSOF(odd); i++) {
                struct kubeadm_config c = join_config("v1.31.1");
                c.token = odd[i];
                c.node_name = odd[i];
                _cleanup_free_ char *t = render(false, &c);
                _cleanup_ynode_ struct ynode *doc = NULL;
                _cleanup_free_ char *err = NULL;
                if (yaml_parse_one(t, strlen(t), NULL, &doc, &err) < 0)
                        fail_msg("'%s': output does not parse: %s\n%s", odd[i], err, t);
                const struct ynode *bt = ynode_get(ynode_get(doc, "discovery"), "bootstrapToken");
                const struct ynode *tok = ynode_get(bt, "token");
                assert_non_null(tok);
                assert_int_equal(tok->kind, YNODE_SCALAR);
                assert_string_equal(tok->value, odd[i]);
                assert_string_equal(ynode_get_str(ynode_get(doc, "nodeRegistration"), "name"), odd[i]);
                if (strcmp(odd[i], "true") == 0 || strcmp(odd[i], "yes") == 0 ||
                    strcmp(odd[i], "null") == 0 || strcmp(odd[i], "1.20") == 0)
                        assert_false(tok->plain);
        }
}

static void test_durations(void **state) {
        (void) state;
        const struct {
                unsigned sec;
                const char *text;
        } d[] = {{45, "ttl: 45s\n"},
                 {300, "ttl: 5m0s\n"},
                 {3661, "ttl: 1h1m1s\n"},
                 {86400, "ttl: 24h0m0s\n"},
                 {7 * 86400, "ttl: 168h0m0s\n"}};
        for (size_t i = 0; i < ELEMENTSOF(d); i++) {
                struct kubeadm_config c = init_config("v1.30.0");
                c.token_ttl_sec = d[i].sec;
                _cleanup_free_ char *t = render(true, &c);
                if (!strstr(t, d[i].text))
                        fail_msg("%u s: '%s' expected in\n%s", d[i].sec, d[i].text, t);
        }
        struct kubeadm_config c = init_config("v1.30.0");
        c.token_ttl_sec = 0;
        _cleanup_free_ char *t = render(true, &c);
        assert_null(strstr(t, "ttl:"));
}

static void test_parse_version(void **state) {
        (void) state;
        struct kubeadm_version v;
        assert_int_equal(kubeadm_parse_version("v1.31.1", &v), 0);
        assert_int_equal(v.major, 1);
        assert_int_equal(v.minor, 31);
        assert_int_equal(v.patch, 1);
        assert_int_equal(kubeadm_parse_version("1.20.2", &v), 0);
        assert_int_equal(v.minor, 20);
        assert_int_equal(v.patch, 2);
        assert_int_equal(kubeadm_parse_version("v1.22", &v), 0);
        assert_int_equal(v.minor, 22);
        assert_int_equal(v.patch, 0);
        assert_int_equal(kubeadm_parse_version("v1.32.0-rc.1", &v), 0);
        assert_int_equal(v.minor, 32);
        assert_int_equal(kubeadm_parse_version("v1.30.2+k3s1", &v), 0);

        const char *bad[] = {
                NULL,           "",        "v",        "1",        "v1.",      "v1.x",     "v1.31.",
                "v1.31.1.1",    "V1.31.1", "v1.031.1", "v1.31.1-", "v1.31.1 ", " v1.31.1", "v1.31.1-rc/1",
                "v1.9999999.0", "latest"};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                v = (struct kubeadm_version){9, 9, 9};
                if (kubeadm_parse_version(bad[i], &v) != -EINVAL)
                        fail_msg("'%s' accepted", bad[i] ? bad[i] : "(null)");
                assert_int_equal(v.major, 9); /* untouched */
        }
}

static void test_api_version_boundaries(void **state) {
        (void) state;
        const struct {
                const char *version;
                enum kubeadm_api api;
        } ok[] = {
                {"v1.20.0", KUBEADM_API_V1BETA2},  {"v1.20.2", KUBEADM_API_V1BETA2},
                {"v1.21.14", KUBEADM_API_V1BETA2}, {"v1.22.0", KUBEADM_API_V1BETA3},
                {"v1.30.14", KUBEADM_API_V1BETA3}, {"v1.31.0", KUBEADM_API_V1BETA4},
                {"v1.31.1", KUBEADM_API_V1BETA4},  {"v1.33.1", KUBEADM_API_V1BETA4},
        };
        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                enum kubeadm_api api = 0;
                assert_int_equal(kubeadm_api_version(ok[i].version, &api, NULL), 0);
                if (api != ok[i].api)
                        fail_msg("%s: v1beta%d, expected v1beta%d", ok[i].version, api, ok[i].api);
        }
        assert_string_equal(kubeadm_api_string(KUBEADM_API_V1BETA2), "kubeadm.k8s.io/v1beta2");
        assert_string_equal(kubeadm_api_string(KUBEADM_API_V1BETA3), "kubeadm.k8s.io/v1beta3");
        assert_string_equal(kubeadm_api_string(KUBEADM_API_V1BETA4), "kubeadm.k8s.io/v1beta4");
        assert_null(kubeadm_api_string((enum kubeadm_api) 7));

        enum kubeadm_api api = KUBEADM_API_V1BETA3;
        _cleanup_free_ char *err = NULL;
        assert_int_equal(kubeadm_api_version("v1.19.16", &api, &err), -ENOTSUP);
        assert_int_equal(api, KUBEADM_API_V1BETA3); /* untouched */
        assert_non_null(err);
        assert_non_null(strstr(err, "1.19"));
        assert_non_null(strstr(err, "1.20"));
        assert_int_equal(kubeadm_api_version("v1.0.0", &api, NULL), -ENOTSUP);
        assert_int_equal(kubeadm_api_version("v2.0.0", &api, NULL), -ENOTSUP);
        assert_int_equal(kubeadm_api_version("v0.31.0", &api, NULL), -ENOTSUP);
        assert_int_equal(kubeadm_api_version("stable", &api, &err), -EINVAL);
        assert_non_null(strstr(err, "stable"));
        assert_int_equal(kubeadm_api_version(NULL, &api, NULL), -EINVAL);
}

static void expect_keys(const char *version, const char *const *expected) {
        const char *const *keys = NULL;
        assert_int_equal(kubeadm_taint_keys(version, &keys), 0);
        size_t n = 0;
        for (; keys[n]; n++) {
                assert_non_null(expected[n]);
                assert_string_equal(keys[n], expected[n]);
        }
        assert_null(expected[n]);
}

static void test_taint_keys(void **state) {
        (void) state;
        const char *master[] = {"node-role.kubernetes.io/master", NULL};
        const char *both[] = {"node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master",
                              NULL};
        const char *cp[] = {"node-role.kubernetes.io/control-plane", NULL};
        expect_keys("v1.20.2", master);
        expect_keys("v1.23.17", master);
        expect_keys("v1.24.0", both);
        expect_keys("v1.24.17", both);
        expect_keys("v1.25.0", cp);
        expect_keys("v1.31.1", cp);
        const char *const *keys = NULL;
        assert_int_equal(kubeadm_taint_keys("v1.19.0", &keys), -ENOTSUP);
        assert_int_equal(kubeadm_taint_keys("x", &keys), -EINVAL);
        assert_null(keys);
}

static void expect_argv(char **argv, const char *const *expected) {
        _cleanup_free_ char *got = strv_join(argv, " ");
        size_t n = 0;
        for (; argv[n]; n++)
                if (!expected[n] || strcmp(argv[n], expected[n]) != 0)
                        fail_msg("argv '%s': item %zu differs", got, n);
        if (expected[n])
                fail_msg("argv '%s': '%s' missing", got, expected[n]);
        strv_free(argv);
}

static void test_argv(void **state) {
        (void) state;
        char **argv = NULL;
        char *two_phases[] = {"addon/kube-proxy", "preflight", NULL};

        /* v1beta2 has no skipPhases field: the flag carries them. */
        struct kubeadm_config c = init_config("v1.20.2");
        c.skip_phases = two_phases;
        assert_int_equal(kubeadm_init_argv(&c, "/etc/kubeseed/kubeadm.yaml", &argv), 0);
        expect_argv(argv,
                    (const char *[]){"kubeadm", "init", "--config", "/etc/kubeseed/kubeadm.yaml",
                                     "--skip-phases=addon/kube-proxy,preflight", "--upload-certs", NULL});
        /* and the rendered v1beta2 file does not have it */
        _cleanup_free_ char *t2 = render(true, &c);
        assert_null(strstr(t2, "skipPhases"));

        c = init_config("v1.30.2");
        c.certificate_key = NULL;
        assert_int_equal(kubeadm_init_argv(&c, "/x.yaml", &argv), 0);
        expect_argv(argv, (const char *[]){"kubeadm", "init", "--config", "/x.yaml", NULL});
        _cleanup_free_ char *t3 = render(true, &c);
        assert_non_null(strstr(t3, "\nskipPhases:\n- addon/kube-proxy\n"));

        c = init_config("v1.31.1");
        assert_int_equal(kubeadm_init_argv(&c, "/x.yaml", &argv), 0);
        expect_argv(argv,
                    (const char *[]){"kubeadm", "init", "--config", "/x.yaml", "--upload-certs", NULL});

        struct kubeadm_config j = join_cp_config("v1.31.1");
        assert_int_equal(kubeadm_join_argv(&j, "/j.yaml", &argv), 0);
        expect_argv(argv, (const char *[]){"kubeadm", "join", "--config", "/j.yaml", NULL});
        j = join_config("v1.21.0");
        j.skip_phases = two_phases;
        assert_int_equal(kubeadm_join_argv(&j, "/j.yaml", &argv), 0);
        expect_argv(argv, (const char *[]){"kubeadm", "join", "--config", "/j.yaml",
                                           "--skip-phases=addon/kube-proxy,preflight", NULL});

        assert_int_equal(kubeadm_reset_argv(&j, &argv), 0);
        expect_argv(argv, (const char *[]){"kubeadm", "reset", "-f",
                                           "--cri-socket=unix:///run/containerd/containerd.sock", NULL});
        j.cri_socket = "unix:///var/run/crio/crio.sock";
        assert_int_equal(kubeadm_reset_argv(&j, &argv), 0);
        expect_argv(argv, (const char *[]){"kubeadm", "reset", "-f",
                                           "--cri-socket=unix:///var/run/crio/crio.sock", NULL});

        assert_int_equal(kubeadm_untaint_argv(NULL, "cp1", "node-role.kubernetes.io/control-plane", &argv),
                         0);
        expect_argv(argv, (const char *[]){"kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf", "taint",
                                           "nodes", "cp1", "node-role.kubernetes.io/control-plane-", NULL});
        assert_int_equal(
                kubeadm_untaint_argv("/root/.kube/config", NULL, "node-role.kubernetes.io/master", &argv),
                0);
        expect_argv(argv, (const char *[]){"kubectl", "--kubeconfig", "/root/.kube/config", "taint", "nodes",
                                           "--all", "node-role.kubernetes.io/master-", NULL});

        argv = NULL;
        assert_int_equal(kubeadm_untaint_argv(NULL, "--all", "k", &argv), -EINVAL);
        assert_int_equal(kubeadm_untaint_argv(NULL, "", "k", &argv), -EINVAL);
        assert_int_equal(kubeadm_untaint_argv(NULL, "cp1", NULL, &argv), -EINVAL);
        assert_int_equal(kubeadm_init_argv(&c, NULL, &argv), -EINVAL);
        c.kubernetes_version = "v1.19.0";
        assert_int_equal(kubeadm_init_argv(&c, "/x", &argv), -ENOTSUP);
        assert_null(argv);

        /* Every taint key of a version makes one untaint command. */
        const char *const *keys = NULL;
        assert_int_equal(kubeadm_taint_keys("v1.24.3", &keys), 0);
        size_t n = 0;
        for (; keys[n]; n++) {
                assert_int_equal(kubeadm_untaint_argv(NULL, "cp1", keys[n], &argv), 0);
                assert_string_equal(argv[6][strlen(argv[6]) - 1] == '-' ? "ok" : "no", "ok");
                strv_free(argv);
        }
        assert_int_equal(n, 2);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_version),
                cmocka_unit_test(test_api_version_boundaries),
                cmocka_unit_test(test_taint_keys),
                cmocka_unit_test(test_goldens_schema),
                cmocka_unit_test(test_schema_checker_catches),
                cmocka_unit_test(test_render_init_goldens),
                cmocka_unit_test(test_render_join_goldens),
                cmocka_unit_test(test_render_schema_variants),
                cmocka_unit_test(test_secrets_only_where_expected),
                cmocka_unit_test(test_render_join_required),
                cmocka_unit_test(test_quoting_is_libyaml),
                cmocka_unit_test(test_durations),
                cmocka_unit_test(test_argv),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
