/* SPDX-License-Identifier: MIT */
#include "podnet.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "json.h"
#include "macro.h"
#include "nodeconfig.h"
#include "strv.h"

#define CIDRS_TEXT_MAX 256u

int podnet_parse_cidrs(const char *text, char ***ret, char **ret_error) {
        if (!text)
                text = "";
        if (strlen(text) > CIDRS_TEXT_MAX)
                return set_error(ret_error, -EINVAL, "more than %u bytes of pod CIDRs", CIDRS_TEXT_MAX);
        _cleanup_strv_free_ char **v = calloc(1, sizeof(char *));
        if (!v)
                return -ENOMEM;
        int families[2] = {0, 0};
        const char *blank = " \t\r\n";
        for (const char *p = text + strspn(text, blank); *p; p += strspn(p, blank)) {
                size_t n = strcspn(p, blank);
                _cleanup_free_ char *cidr = strndup(p, n);
                if (!cidr)
                        return -ENOMEM;
                p += n;
                int family = nodeconfig_cidr_parse(cidr);
                size_t count = strv_length(v);
                if (family < 0)
                        return set_error(ret_error, -EINVAL, "'%.64s' is not a CIDR", cidr);
                if (count == 2)
                        return set_error(ret_error, -EINVAL, "more than two pod CIDRs");
                if (count == 1 && families[0] == family)
                        return set_error(ret_error, -EINVAL, "two pod CIDRs of the same family");
                families[count] = family;
                if (strv_push(&v, cidr) < 0)
                        return -ENOMEM;
        }
        if (!v[0])
                return -ENODATA;
        *ret = TAKE_PTR(v);
        return 0;
}

int podnet_render_bridge(char *const *cidrs, char **ret_text, size_t *ret_size) {
        if (!cidrs || !cidrs[0])
                return -EINVAL;
        struct json j = {0};
        json_begin_object(&j);
        /* 0.4.0: understood by every containerd and CNI plugin release
         * kubeseed bundles (Debian 12's plugins 1.1.1 included). */
        json_kv_string(&j, "cniVersion", "0.4.0");
        json_kv_string(&j, "name", PODNET_NETWORK_NAME);
        json_key(&j, "plugins");
        json_begin_array(&j);

        json_begin_object(&j);
        json_kv_string(&j, "type", "bridge");
        json_kv_string(&j, "bridge", PODNET_BRIDGE);
        json_key(&j, "isGateway");
        json_bool(&j, true);
        /* Traffic leaving the pod CIDR takes the node's address. */
        json_key(&j, "ipMasq");
        json_bool(&j, true);
        /* A pod reaches itself through its own Service. */
        json_key(&j, "hairpinMode");
        json_bool(&j, true);
        json_key(&j, "ipam");
        json_begin_object(&j);
        json_kv_string(&j, "type", "host-local");
        json_key(&j, "ranges");
        json_begin_array(&j);
        for (char *const *c = cidrs; *c; c++) {
                json_begin_array(&j);
                json_begin_object(&j);
                json_kv_string(&j, "subnet", *c);
                json_end_object(&j);
                json_end_array(&j);
        }
        json_end_array(&j);
        json_key(&j, "routes");
        json_begin_array(&j);
        for (char *const *c = cidrs; *c; c++) {
                json_begin_object(&j);
                json_kv_string(&j, "dst", nodeconfig_cidr_parse(*c) == AF_INET6 ? "::/0" : "0.0.0.0/0");
                json_end_object(&j);
        }
        json_end_array(&j);
        json_end_object(&j); /* ipam */
        json_end_object(&j); /* bridge */

        json_begin_object(&j);
        json_kv_string(&j, "type", "portmap");
        json_key(&j, "capabilities");
        json_begin_object(&j);
        json_key(&j, "portMappings");
        json_bool(&j, true);
        json_end_object(&j);
        json_end_object(&j);

        json_end_array(&j);
        json_end_object(&j);
        return json_finish(&j, ret_text, ret_size);
}

int podnet_cidrs_argv(const char *kubeconfig, const char *node, char ***ret_argv) {
        if (!kubeconfig || !node || !*node || *node == '-')
                return -EINVAL;
        _cleanup_strv_free_ char **argv = NULL;
        if (strv_push(&argv, "kubectl") < 0 || strv_push(&argv, "--kubeconfig") < 0 ||
            strv_push(&argv, kubeconfig) < 0 || strv_push(&argv, "get") < 0 ||
            strv_push(&argv, "node") < 0 || strv_push(&argv, node) < 0 ||
            strv_push(&argv, "--output=jsonpath={.spec.podCIDRs[*]}") < 0)
                return -ENOMEM;
        *ret_argv = TAKE_PTR(argv);
        return 0;
}

/* The node's pod CIDRs, once the controller-manager allocated them. */
static int wait_pod_cidrs(struct agent_ctx *c, char ***ret, char **ret_reason) {
        _cleanup_free_ char *kubeconfig = step_root_path(c, KUBELET_CONF);
        _cleanup_free_ char *what = strdupf("node %s's pod CIDR", c->node_name);
        _cleanup_strv_free_ char **argv = NULL;
        if (!kubeconfig || !what || podnet_cidrs_argv(kubeconfig, c->node_name, &argv) < 0)
                return -ENOMEM;
        uint64_t start = c->now();
        _cleanup_free_ char *last = NULL;
        for (unsigned attempt = 1;; attempt++) {
                struct proc_result res = {0};
                struct proc_opts opts = {.timeout_sec = 60, .stdout_fd = -1, .capture_stdout = true};
                int r = proc_ops->run(argv, &opts, &res);
                _cleanup_free_ char *err = NULL;
                if (r >= 0) {
                        r = podnet_parse_cidrs(res.out, ret, &err);
                        if (r >= 0 || r == -ENOMEM) {
                                proc_result_done(&res);
                                return r;
                        }
                        if (r == -EINVAL) {
                                *ret_reason = strdupf("node %s: spec.podCIDRs: %s", c->node_name, err);
                                proc_result_done(&res);
                                return r;
                        }
                        free(last);
                        last = strdup("no pod CIDR allocated yet");
                } else {
                        /* The node may not be registered yet, the API
                         * server busy: kubectl's last line, and again. */
                        free(last);
                        last = step_last_line(res.err_tail, 300);
                }
                proc_result_done(&res);
                if (step_wait_retry(c, attempt, start, PODNET_CIDR_WAIT_SEC, what, last) < 0) {
                        *ret_reason =
                                strdupf("node %s has no pod CIDR after %u s (last: %s); the "
                                        "controller-manager allocates one from the cluster's pod subnet",
                                        c->node_name, PODNET_CIDR_WAIT_SEC, last ? last : "?");
                        return -ETIMEDOUT;
                }
        }
}

int step_pod_network(struct agent_ctx *c, char **ret_detail, char **ret_reason) {
        const char *cni = step_cni_addon(c);
        if (cni) {
                *ret_detail = strdupf("from the CNI add-on %s (the control plane applies it)", cni);
                return *ret_detail ? 0 : -ENOMEM;
        }
        int r = step_node_name(c);
        if (r < 0)
                return r;
        _cleanup_strv_free_ char **cidrs = NULL;
        r = wait_pod_cidrs(c, &cidrs, ret_reason);
        if (r < 0)
                return r;
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        r = podnet_render_bridge(cidrs, &text, &size);
        if (r < 0)
                return r;
        r = step_put_file(c, PODNET_CONFLIST_PATH, text, size, 0644, 0755, ret_reason);
        if (r < 0)
                return r;
        _cleanup_free_ char *list = strv_join(cidrs, " and ");
        *ret_detail = strdupf("no CNI add-on: node-local bridge %s for %s in %s", PODNET_BRIDGE,
                              list ? list : "?", PODNET_CONFLIST_PATH);
        return *ret_detail ? 0 : -ENOMEM;
}
