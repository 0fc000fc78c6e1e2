/* SPDX-License-Identifier: MIT */
#include "kubeadm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "strv.h"
#include "yamlemit.h"

/* A decimal number of at most 6 digits; advances *p. */
static int parse_uint(const char **p, unsigned *ret) {
        const char *s = *p;
        unsigned v = 0;
        size_t n = 0;
        while (s[n] >= '0' && s[n] <= '9') {
                if (n == 6)
                        return -EINVAL;
                v = v * 10 + (unsigned) (s[n] - '0');
                n++;
        }
        if (n == 0 || (n > 1 && s[0] == '0'))
                return -EINVAL;
        *p = s + n;
        *ret = v;
        return 0;
}

int kubeadm_parse_version(const char *s, struct kubeadm_version *ret) {
        if (!s)
                return -EINVAL;
        const char *p = s;
        if (*p == 'v')
                p++;
        struct kubeadm_version v = {0};
        if (parse_uint(&p, &v.major) < 0 || *p != '.')
                return -EINVAL;
        p++;
        if (parse_uint(&p, &v.minor) < 0)
                return -EINVAL;
        if (*p == '.') {
                p++;
                if (parse_uint(&p, &v.patch) < 0)
                        return -EINVAL;
        }
        /* Semantic-version pre-release ("-rc.1") or build ("+build") suffix. */
        if (*p == '-' || *p == '+') {
                if (!p[1])
                        return -EINVAL;
                for (const char *q = p + 1; *q; q++)
                        if (!((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'z') ||
                              (*q >= 'A' && *q <= 'Z') || *q == '.' || *q == '-' || *q == '+'))
                                return -EINVAL;
        } else if (*p)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* The version, checked to be one this agent configures. */
static int supported_version(const char *version, struct kubeadm_version *ret, char **ret_error) {
        struct kubeadm_version v;
        if (kubeadm_parse_version(version, &v) < 0) {
                replace_error(ret_error, 0, "Kubernetes version '%s' is not a version like v1.31.1",
                              version ? version : "(none)");
                return -EINVAL;
        }
        if (v.major != 1 || v.minor < KUBEADM_MIN_MINOR) {
                replace_error(
                        ret_error, 0,
                        "Kubernetes v%u.%u is not supported: kubeadm configuration is written for 1.%u "
                        "and later",
                        v.major, v.minor, KUBEADM_MIN_MINOR);
                return -ENOTSUP;
        }
        *ret = v;
        return 0;
}

int kubeadm_api_version(const char *version, enum kubeadm_api *ret, char **ret_error) {
        struct kubeadm_version v;
        int r = supported_version(version, &v, ret_error);
        if (r < 0)
                return r;
        if (v.minor <= 21)
                *ret = KUBEADM_API_V1BETA2;
        else if (v.minor <= 30)
                *ret = KUBEADM_API_V1BETA3;
        else
                *ret = KUBEADM_API_V1BETA4;
        return 0;
}

const char *kubeadm_api_string(enum kubeadm_api api) {
        switch (api) {
        case KUBEADM_API_V1BETA2:
                return "kubeadm.k8s.io/v1beta2";
        case KUBEADM_API_V1BETA3:
                return "kubeadm.k8s.io/v1beta3";
        case KUBEADM_API_V1BETA4:
                return "kubeadm.k8s.io/v1beta4";
        }
        return NULL;
}

#define TAINT_MASTER "node-role.kubernetes.io/master"
#define TAINT_CONTROL_PLANE "node-role.kubernetes.io/control-plane"

int kubeadm_taint_keys(const char *version, const char *const **ret_keys) {
        static const char *const master[] = {TAINT_MASTER, NULL};
        static const char *const both[] = {TAINT_CONTROL_PLANE, TAINT_MASTER, NULL};
        static const char *const control_plane[] = {TAINT_CONTROL_PLANE, NULL};
        struct kubeadm_version v;
        int r = supported_version(version, &v, NULL);
        if (r < 0)
                return r;
        if (v.minor <= 23)
                *ret_keys = master;
        else if (v.minor == 24)
                *ret_keys = both;
        else
                *ret_keys = control_plane;
        return 0;
}

/* A duration the way Go's time.Duration prints it ("24h0m0s", "5m0s", "45s"),
 * which metav1.Duration reads back. */
static void format_duration(unsigned sec, char buf[32]) {
        unsigned h = sec / 3600, m = sec % 3600 / 60, s = sec % 60;
        if (h)
                snprintf(buf, 32, "%uh%um%us", h, m, s);
        else if (m)
                snprintf(buf, 32, "%um%us", m, s);
        else
                snprintf(buf, 32, "%us", s);
}

static void kv_duration(struct yemit *e, const char *key, unsigned sec) {
        char buf[32];
        format_duration(sec, buf);
        yemit_kv_raw(e, key, buf); /* plain, as kubeadm's own output: 24h0m0s */
}

static void kv_uint(struct yemit *e, const char *key, unsigned v) {
        char buf[16];
        snprintf(buf, sizeof buf, "%u", v);
        yemit_kv_raw(e, key, buf); /* an int32 field: must stay a number */
}

static void kv_opt(struct yemit *e, const char *key, const char *value) {
        if (value && *value)
                yemit_kv(e, key, value);
}

static void str_list(struct yemit *e, const char *key, char *const *items) {
        yemit_str(e, key);
        yemit_seq_start(e);
        for (char *const *i = items; i && *i; i++)
                yemit_str(e, *i);
        yemit_seq_end(e);
}

static void header(struct yemit *e, enum kubeadm_api api, const char *kind) {
        yemit_kv(e, "apiVersion", kubeadm_api_string(api));
        yemit_kv(e, "kind", kind);
}

static void api_endpoint(struct yemit *e, const struct kubeadm_config *c) {
        yemit_str(e, "localAPIEndpoint");
        yemit_map_start(e);
        kv_opt(e, "advertiseAddress", c->advertise_address);
        if (c->bind_port)
                kv_uint(e, "bindPort", c->bind_port);
        yemit_map_end(e);
}

static bool want_api_endpoint(const struct kubeadm_config *c) {
        return (c->advertise_address && *c->advertise_address) || c->bind_port;
}

/* nodeRegistration (NodeRegistrationOptions). */
static void node_registration(struct yemit *e, enum kubeadm_api api, const struct kubeadm_config *c) {
        yemit_str(e, "nodeRegistration");
        yemit_map_start(e);
        kv_opt(e, "name", c->node_name);
        yemit_kv(e, "criSocket", c->cri_socket ? c->cri_socket : KUBEADM_DEFAULT_CRI_SOCKET);
        if (c->set_taints) {
                /* `taints: []` is kubeadm's documented "no taint at all". */
                yemit_str(e, "taints");
                yemit_seq_start(e);
                for (size_t i = 0; i < c->n_taints; i++) {
                        yemit_map_start(e);
                        yemit_kv(e, "key", c->taints[i].key);
                        kv_opt(e, "value", c->taints[i].value);
                        yemit_kv(e, "effect", c->taints[i].effect);
                        yemit_map_end(e);
                }
                yemit_seq_end(e);
        }
        /* kubelet's flags: node-ip, node-labels (joined with ','). */
        _cleanup_free_ char *labels =
                c->node_labels && *c->node_labels ? strv_join(c->node_labels, ",") : NULL;
        const char *args[][2] = {{"node-ip", c->node_ip && *c->node_ip ? c->node_ip : NULL},
                                 {"node-labels", labels}};
        bool any = false;
        for (size_t i = 0; i < ELEMENTSOF(args); i++)
                any = any || args[i][1];
        if (any) {
                yemit_str(e, "kubeletExtraArgs");
                /* v1beta4: []Arg{name, value}; v1beta2/3: map[string]string */
                if (api >= KUBEADM_API_V1BETA4)
                        yemit_seq_start(e);
                else
                        yemit_map_start(e);
                for (size_t i = 0; i < ELEMENTSOF(args); i++) {
                        if (!args[i][1])
                                continue;
                        if (api >= KUBEADM_API_V1BETA4) {
                                yemit_map_start(e);
                                yemit_kv(e, "name", args[i][0]);
                                yemit_kv(e, "value", args[i][1]);
                                yemit_map_end(e);
                        } else
                                yemit_kv(e, args[i][0], args[i][1]);
                }
                if (api >= KUBEADM_API_V1BETA4)
                        yemit_seq_end(e);
                else
                        yemit_map_end(e);
        }
        if (c->ignore_preflight_errors && *c->ignore_preflight_errors)
                str_list(e, "ignorePreflightErrors", c->ignore_preflight_errors);
        yemit_map_end(e);
}

static int check_common(const struct kubeadm_config *c, enum kubeadm_api *ret_api, char **ret_error) {
        if (!c) {
                replace_error(ret_error, 0, "no configuration");
                return -EINVAL;
        }
        int r = kubeadm_api_version(c->kubernetes_version, ret_api, ret_error);
        if (r < 0)
                return r;
        if (c->bind_port > 65535) {
                replace_error(ret_error, 0, "bind port %u is not a TCP port (1-65535)", c->bind_port);
                return -EINVAL;
        }
        if (c->n_taints && (!c->set_taints || !c->taints)) {
                replace_error(ret_error, 0, "taints given without set_taints");
                return -EINVAL;
        }
        for (size_t i = 0; i < c->n_taints; i++)
                if (!c->taints[i].key || !*c->taints[i].key || !c->taints[i].effect ||
                    !*c->taints[i].effect) {
                        replace_error(ret_error, 0, "taint %zu: key and effect are required", i);
                        return -EINVAL;
                }
        return 0;
}

static int finish(struct yemit *e, char **ret_text, size_t *ret_size, char **ret_error) {
        char *text = NULL;
        size_t size = 0;
        int r = yemit_finish(e, &text, &size);
        if (r < 0) {
                replace_error(ret_error, 0, "cannot write the kubeadm configuration as YAML");
                return r;
        }
        *ret_text = text;
        if (ret_size)
                *ret_size = size;
        return 0;
}

int kubeadm_render_init(const struct kubeadm_config *c, char **ret_text, size_t *ret_size,
                        char **ret_error) {
        enum kubeadm_api api;
        int r = check_common(c, &api, ret_error);
        if (r < 0)
                return r;

        _cleanup_yemit_ struct yemit *e = NULL;
        r = yemit_new(&e);
        if (r < 0)
                return r;

        /* InitConfiguration */
        yemit_document_start(e);
        yemit_map_start(e);
        header(e, api, "InitConfiguration");
        if (c->token && *c->token) {
                /* One token, with the groups and usages kubeadm gives its
                 * default token (bootstraptoken/v1 and v1beta2.BootstrapToken). */
                yemit_str(e, "bootstrapTokens");
                yemit_seq_start(e);
                yemit_map_start(e);
                yemit_kv(e, "token", c->token);
                if (c->token_ttl_sec)
                        kv_duration(e, "ttl", c->token_ttl_sec);
                str_list(e, "groups", (char *[]){"system:bootstrappers:kubeadm:default-node-token", NULL});
                str_list(e, "usages", (char *[]){"signing", "authentication", NULL});
                yemit_map_end(e);
                yemit_seq_end(e);
        }
        if (want_api_endpoint(c))
                api_endpoint(e, c);
        node_registration(e, api, c);
        kv_opt(e, "certificateKey", c->certificate_key);
        if (api >= KUBEADM_API_V1BETA3 && c->skip_phases && *c->skip_phases)
                str_list(e, "skipPhases", c->skip_phases);
        if (api >= KUBEADM_API_V1BETA4 && c->control_plane_timeout_sec) {
                yemit_str(e, "timeouts");
                yemit_map_start(e);
                kv_duration(e, "controlPlaneComponentHealthCheck", c->control_plane_timeout_sec);
                yemit_map_end(e);
        }
        yemit_map_end(e);
        yemit_document_end(e);

        /* ClusterConfiguration */
        yemit_document_start(e);
        yemit_map_start(e);
        header(e, api, "ClusterConfiguration");
        yemit_kv(e, "kubernetesVersion", c->kubernetes_version);
        kv_opt(e, "controlPlaneEndpoint", c->control_plane_endpoint);
        kv_opt(e, "imageRepository", c->image_repository);
        if (c->etcd_image_tag && *c->etcd_image_tag) {
                yemit_str(e, "etcd");
                yemit_map_start(e);
                yemit_str(e, "local");
                yemit_map_start(e);
                yemit_kv(e, "imageTag", c->etcd_image_tag);
                yemit_map_end(e);
                yemit_map_end(e);
        }
        if ((c->pod_subnet && *c->pod_subnet) || (c->service_subnet && *c->service_subnet)) {
                yemit_str(e, "networking");
                yemit_map_start(e);
                kv_opt(e, "podSubnet", c->pod_subnet);
                kv_opt(e, "serviceSubnet", c->service_subnet);
                yemit_map_end(e);
        }
        if (api <= KUBEADM_API_V1BETA3 && c->control_plane_timeout_sec) {
                yemit_str(e, "apiServer");
                yemit_map_start(e);
                kv_duration(e, "timeoutForControlPlane", c->control_plane_timeout_sec);
                yemit_map_end(e);
        }
        yemit_map_end(e);
        yemit_document_end(e);

        /* KubeletConfiguration: containerd runs runc with SystemdCgroup =
         * true (builder/kubernetes.c), and the kubelet must use the same
         * cgroup driver or no pod sandbox starts. kubeadm defaults it to
         * systemd from v1.22; before, to cgroupfs (after failing to ask
         * Docker). kubeadm init uploads it for the nodes that join. */
        struct kubeadm_version v;
        if (kubeadm_parse_version(c->kubernetes_version, &v) >= 0 && v.major == 1 &&
            v.minor < KUBEADM_SYSTEMD_CGROUP_DEFAULT_MINOR) {
                yemit_document_start(e);
                yemit_map_start(e);
                yemit_kv(e, "apiVersion", KUBELET_CONFIG_API);
                yemit_kv(e, "kind", "KubeletConfiguration");
                yemit_kv(e, "cgroupDriver", "systemd");
                yemit_map_end(e);
                yemit_document_end(e);
        }

        return finish(e, ret_text, ret_size, ret_error);
}

int kubeadm_render_join(const struct kubeadm_config *c, char **ret_text, size_t *ret_size,
                        char **ret_error) {
        enum kubeadm_api api;
        int r = check_common(c, &api, ret_error);
        if (r < 0)
                return r;
        if (!c->token || !*c->token) {
                replace_error(ret_error, 0, "joining needs the bootstrap token");
                return -EINVAL;
        }
        if (!c->control_plane_endpoint || !*c->control_plane_endpoint) {
                replace_error(ret_error, 0, "joining needs the API server endpoint (host:port)");
                return -EINVAL;
        }
        if (!c->ca_cert_hashes || !*c->ca_cert_hashes) {
                replace_error(ret_error, 0, "joining needs at least one CA certificate hash");
                return -EINVAL;
        }
        if (c->control_plane && (!c->certificate_key || !*c->certificate_key)) {
                replace_error(ret_error, 0, "joining as a control plane needs the certificate key");
                return -EINVAL;
        }

        _cleanup_yemit_ struct yemit *e = NULL;
        r = yemit_new(&e);
        if (r < 0)
                return r;

        yemit_document_start(e);
        yemit_map_start(e);
        header(e, api, "JoinConfiguration");

        yemit_str(e, "discovery");
        yemit_map_start(e);
        yemit_str(e, "bootstrapToken");
        yemit_map_start(e);
        yemit_kv(e, "token", c->token);
        yemit_kv(e, "apiServerEndpoint", c->control_plane_endpoint);
        str_list(e, "caCertHashes", c->ca_cert_hashes);
        yemit_map_end(e);
        if (api <= KUBEADM_API_V1BETA3 && c->discovery_timeout_sec)
                kv_duration(e, "timeout", c->discovery_timeout_sec);
        yemit_map_end(e);

        node_registration(e, api, c);

        if (c->control_plane) {
                yemit_str(e, "controlPlane");
                yemit_map_start(e);
                if (want_api_endpoint(c))
                        api_endpoint(e, c);
                yemit_kv(e, "certificateKey", c->certificate_key);
                yemit_map_end(e);
        }
        if (api >= KUBEADM_API_V1BETA3 && c->skip_phases && *c->skip_phases)
                str_list(e, "skipPhases", c->skip_phases);
        if (api >= KUBEADM_API_V1BETA4 &&
            (c->discovery_timeout_sec || (c->control_plane && c->control_plane_timeout_sec))) {
                yemit_str(e, "timeouts");
                yemit_map_start(e);
                if (c->control_plane && c->control_plane_timeout_sec)
                        kv_duration(e, "controlPlaneComponentHealthCheck", c->control_plane_timeout_sec);
                if (c->discovery_timeout_sec)
                        kv_duration(e, "discovery", c->discovery_timeout_sec);
                yemit_map_end(e);
        }
        yemit_map_end(e);
        yemit_document_end(e);

        return finish(e, ret_text, ret_size, ret_error);
}

static int kubeadm_config_argv(const struct kubeadm_config *c, const char *verb, const char *config_path,
                               char ***ret_argv) {
        enum kubeadm_api api;
        if (!c || !config_path || !*config_path)
                return -EINVAL;
        int r = kubeadm_api_version(c->kubernetes_version, &api, NULL);
        if (r < 0)
                return r;
        _cleanup_strv_free_ char **argv = NULL;
        if (strv_push(&argv, "kubeadm") < 0 || strv_push(&argv, verb) < 0 ||
            strv_push(&argv, "--config") < 0 || strv_push(&argv, config_path) < 0)
                return -ENOMEM;
        if (api == KUBEADM_API_V1BETA2 && c->skip_phases && *c->skip_phases) {
                _cleanup_free_ char *list = strv_join(c->skip_phases, ",");
                if (!list || strv_pushf(&argv, "--skip-phases=%s", list) < 0)
                        return -ENOMEM;
        }
        if (streq(verb, "init") && c->certificate_key && *c->certificate_key &&
            strv_push(&argv, "--upload-certs") < 0)
                return -ENOMEM;
        *ret_argv = TAKE_PTR(argv);
        return 0;
}

int kubeadm_init_argv(const struct kubeadm_config *c, const char *config_path, char ***ret_argv) {
        return kubeadm_config_argv(c, "init", config_path, ret_argv);
}

int kubeadm_join_argv(const struct kubeadm_config *c, const char *config_path, char ***ret_argv) {
        return kubeadm_config_argv(c, "join", config_path, ret_argv);
}

int kubeadm_reset_argv(const struct kubeadm_config *c, char ***ret_argv) {
        if (!c)
                return -EINVAL;
        _cleanup_strv_free_ char **argv = NULL;
        if (strv_push(&argv, "kubeadm") < 0 || strv_push(&argv, "reset") < 0 || strv_push(&argv, "-f") < 0 ||
            strv_pushf(&argv, "--cri-socket=%s",
                       c->cri_socket ? c->cri_socket : KUBEADM_DEFAULT_CRI_SOCKET) < 0)
                return -ENOMEM;
        *ret_argv = TAKE_PTR(argv);
        return 0;
}

int kubeadm_untaint_argv(const char *kubeconfig, const char *node, const char *key, char ***ret_argv) {
        if (!key || !*key || (node && (!*node || *node == '-')))
                return -EINVAL;
        _cleanup_strv_free_ char **argv = NULL;
        if (strv_push(&argv, "kubectl") < 0 || strv_push(&argv, "--kubeconfig") < 0 ||
            strv_push(&argv, kubeconfig ? kubeconfig : KUBEADM_ADMIN_KUBECONFIG) < 0 ||
            strv_push(&argv, "taint") < 0 || strv_push(&argv, "nodes") < 0 ||
            strv_push(&argv, node ? node : "--all") < 0 || strv_pushf(&argv, "%s-", key) < 0)
                return -ENOMEM;
        *ret_argv = TAKE_PTR(argv);
        return 0;
}
