/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* kubeadm configuration files and command lines, as pure functions over
 * memory. The rendered text holds the bootstrap token and the certificate
 * key: callers write it to a 0600 file and never log it. YAML is written
 * with lib/yamlemit (libyaml), so quoting is libyaml's.
 *
 * Field names follow kubeadm's JSON tags in
 * cmd/kubeadm/app/apis/kubeadm/{v1beta2,v1beta3,v1beta4}/types.go. */

enum kubeadm_api {
        KUBEADM_API_V1BETA2 = 2, /* Kubernetes 1.20 - 1.21 */
        KUBEADM_API_V1BETA3 = 3, /* 1.22 - 1.30 */
        KUBEADM_API_V1BETA4 = 4, /* 1.31 - */
};

#define KUBEADM_MIN_MINOR 20
#define KUBEADM_DEFAULT_CRI_SOCKET "unix:///run/containerd/containerd.sock"
#define KUBEADM_ADMIN_KUBECONFIG "/etc/kubernetes/admin.conf"

struct kubeadm_version {
        unsigned major, minor, patch;
};

/* "v1.31.1", "1.31.1", "v1.31" (patch 0), "v1.31.0-rc.1" (pre-release and
 * build suffixes ignored). -EINVAL when it is not such a version. */
int kubeadm_parse_version(const char *s, struct kubeadm_version *ret);

/* The kubeadm configuration API the kubeadm of Kubernetes `version` is fed.
 * -EINVAL when the version does not parse, -ENOTSUP before 1.20 (or for a
 * major other than 1); ret_error (may be NULL) then says which and why. */
int kubeadm_api_version(const char *version, enum kubeadm_api *ret, char **ret_error);
/* "kubeadm.k8s.io/v1beta3"; NULL for an unknown value. */
const char *kubeadm_api_string(enum kubeadm_api api);

/* The control-plane taint keys kubeadm sets in `version`, NULL-terminated,
 * static: node-role.kubernetes.io/master up to 1.23, both in 1.24,
 * node-role.kubernetes.io/control-plane from 1.25. Same errors as above. */
int kubeadm_taint_keys(const char *version, const char *const **ret_keys);

struct kubeadm_taint {
        const char *key;
        const char *value;  /* may be NULL */
        const char *effect; /* NoSchedule, PreferNoSchedule, NoExecute */
};

struct kubeadm_config {
        /* "v1.31.1": picks the API; ClusterConfiguration.kubernetesVersion. */
        const char *kubernetes_version;

        /* nodeRegistration */
        const char *node_name;    /* NULL: kubeadm uses the host name */
        const char *cri_socket;   /* NULL: KUBEADM_DEFAULT_CRI_SOCKET (every API version takes the URL) */
        const char *node_ip;      /* kubelet --node-ip (kubeletExtraArgs); NULL: none */
        char *const *node_labels; /* "key=value", NULL-terminated: kubelet --node-labels; NULL: none */
        /* false: no `taints` key, kubeadm's default (the control-plane taint
         * on control-plane nodes, none on workers). true: exactly `taints`,
         * and n_taints == 0 renders `taints: []` (an untainted control
         * plane that schedules workloads). */
        bool set_taints;
        const struct kubeadm_taint *taints;
        size_t n_taints;
        char *const *ignore_preflight_errors; /* NULL-terminated; may be NULL */
        /* Phases to skip: in the file from v1beta3 (skipPhases), on the
         * command line (--skip-phases) for v1beta2, which has no field. */
        char *const *skip_phases;

        /* This node's API server: InitConfiguration.localAPIEndpoint, or
         * JoinConfiguration.controlPlane.localAPIEndpoint. */
        const char *advertise_address; /* NULL: kubeadm picks the default route's address */
        unsigned bind_port;            /* 0: kubeadm's 6443 */

        /* Cluster. init: ClusterConfiguration.controlPlaneEndpoint; join:
         * discovery.bootstrapToken.apiServerEndpoint (required). "host:port". */
        const char *control_plane_endpoint;
        const char *pod_subnet;       /* may be NULL */
        const char *service_subnet;   /* may be NULL: kubeadm's 10.96.0.0/12 */
        const char *image_repository; /* may be NULL: registry.k8s.io */
        const char *etcd_image_tag;   /* may be NULL */

        /* Secrets. */
        const char *token;      /* init: bootstrapTokens[0] (NULL: kubeadm makes one); join: required */
        unsigned token_ttl_sec; /* init; 0: kubeadm's 24h */
        /* init: certificateKey and --upload-certs; control-plane join: required. */
        const char *certificate_key;
        char *const *ca_cert_hashes; /* join: caCertHashes, at least one required */

        bool control_plane; /* join: as another control plane (JoinConfiguration.controlPlane) */

        /* Timeouts, 0: kubeadm's defaults (4m and 5m). v1beta2/3:
         * ClusterConfiguration.apiServer.timeoutForControlPlane and
         * JoinConfiguration.discovery.timeout; v1beta4: timeouts.
         * controlPlaneComponentHealthCheck and timeouts.discovery of the
         * Init/JoinConfiguration. */
        unsigned control_plane_timeout_sec;
        unsigned discovery_timeout_sec;
};

/* The kubelet's component configuration API, and the first minor whose
 * kubeadm defaults the kubelet's cgroup driver to systemd. */
#define KUBELET_CONFIG_API "kubelet.config.k8s.io/v1beta1"
#define KUBEADM_SYSTEMD_CGROUP_DEFAULT_MINOR 22

/* InitConfiguration + ClusterConfiguration, two YAML documents, and before
 * v1.22 a third, KubeletConfiguration with cgroupDriver: systemd (the
 * driver of the images' containerd). 0, or
 * -EINVAL/-ENOTSUP with ret_error naming the field. *ret_text is
 * NUL-terminated; the caller frees it (it holds secrets). */
int kubeadm_render_init(const struct kubeadm_config *c, char **ret_text, size_t *ret_size, char **ret_error);
/* JoinConfiguration, one YAML document; needs token, control_plane_endpoint
 * and ca_cert_hashes (and certificate_key when control_plane). */
int kubeadm_render_join(const struct kubeadm_config *c, char **ret_text, size_t *ret_size, char **ret_error);

/* Command lines (NULL-terminated, owned by the caller: strv_free()). Only
 * flags kubeadm allows next to --config are used (--skip-phases, --upload-certs).
 *   kubeadm init --config FILE [--skip-phases=a,b (v1beta2)] [--upload-certs (certificate_key)]
 *   kubeadm join --config FILE [--skip-phases=a,b (v1beta2)]
 *     (a control-plane join is the controlPlane section: --control-plane may not be mixed with --config)
 *   kubeadm reset -f --cri-socket=SOCKET
 *     (the socket is always given: kubeadm refuses to guess when it finds several runtimes) */
int kubeadm_init_argv(const struct kubeadm_config *c, const char *config_path, char ***ret_argv);
int kubeadm_join_argv(const struct kubeadm_config *c, const char *config_path, char ***ret_argv);
int kubeadm_reset_argv(const struct kubeadm_config *c, char ***ret_argv);

/* kubectl --kubeconfig KUBECONFIG taint nodes NODE KEY-
 * (node NULL: --all; kubeconfig NULL: KUBEADM_ADMIN_KUBECONFIG). One key per
 * call: kubectl fails the whole command when one of several keys is absent,
 * so callers run one per kubeadm_taint_keys() entry and treat "not found"
 * as done. */
int kubeadm_untaint_argv(const char *kubeconfig, const char *node, const char *key, char ***ret_argv);
