/* SPDX-License-Identifier: MIT */
#include "kubernetes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "download.h"
#include "fsutil.h"
#include "k8sbundle.h"
#include "kubeadmimages.h"
#include "log.h"
#include "macro.h"
#include "overlay.h"
#include "strv.h"

char *containerd_config(const char *sandbox_image) {
        _cleanup_free_ char *sandbox = NULL;
        if (sandbox_image)
                sandbox = strdupf("    sandbox_image = \"%s\"\n", sandbox_image);
        return strdupf("# containerd configuration written by kubeseed (config format version 2, as\n"
                       "# read by containerd 1.6 and 1.7). The kubelet uses the systemd cgroup\n"
                       "# driver, so runc must too.\n"
                       "version = 2\n"
                       "\n"
                       "[plugins]\n"
                       "  [plugins.\"io.containerd.grpc.v1.cri\"]\n"
                       "%s"
                       "    [plugins.\"io.containerd.grpc.v1.cri\".containerd]\n"
                       "      default_runtime_name = \"runc\"\n"
                       "      [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n"
                       "        runtime_type = \"io.containerd.runc.v2\"\n"
                       "        [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n"
                       "          SystemdCgroup = true\n"
                       "    [plugins.\"io.containerd.grpc.v1.cri\".cni]\n"
                       "      bin_dir = \"/opt/cni/bin\"\n"
                       "      conf_dir = \"/etc/cni/net.d\"\n",
                       sandbox ? sandbox : "");
}

static int write_containerd_config(const char *root, const char *sandbox_image) {
        _cleanup_free_ char *text = containerd_config(sandbox_image);
        if (!text)
                return log_oom();
        int r = write_file_atomic_root(root, "/etc/containerd/config.toml", text, strlen(text), 0644);
        if (r < 0)
                return log_error_errno(r, "kubernetes: cannot write /etc/containerd/config.toml: %m");
        return 0;
}

int kubernetes_stage(const struct profile *p, const struct arch_info *a, const char *cas_dir,
                     const char *overlays_dir, const char *root, struct stagekey *key) {
        const struct profile_kubernetes *k = &p->kubernetes;
        if (!k->version) {
                log_info(
                        "kubernetes: the profile has no kubernetes section: no bundle, no preloaded images");
                return write_containerd_config(root, NULL);
        }

        _cleanup_k8s_bundle_ struct k8s_bundle *b = NULL;
        _cleanup_free_ char *err = NULL;
        int r = k8s_bundle_plan(k, a->debian, &b, &err);
        if (r < 0)
                return log_error_errno(r, "kubernetes: %s", err ? err : "cannot plan the bundle");
        struct download_opts dl = {
                .follow_redirects = true,
                .progress = true,
        };
        log_info("kubernetes: %s for %s from %s", k->version, a->debian,
                 b->source_dir ? b->source_dir
                               : (k->release_url ? k->release_url : K8S_DEFAULT_RELEASE_URL));
        r = k8s_bundle_fetch(b, cas_dir, &dl, &err);
        if (r < 0)
                return log_error_errno(r, "kubernetes: %s", err ? err : "cannot fetch the bundle");
        r = k8s_bundle_install(b, root, &err);
        if (r < 0)
                return log_error_errno(r, "kubernetes: %s", err ? err : "cannot install the bundle");
        for (size_t i = 0; i < b->n_items; i++) {
                log_info("kubernetes: %s -> %s (sha256 %.12s)", b->items[i].file_name,
                         b->items[i].install_path, b->items[i].sha256);
                r = stagekey_add(key, b->items[i].name, b->items[i].sha256);
                if (r < 0)
                        return log_oom();
        }

        /* The kubelet unit and kubeadm's drop-in. */
        _cleanup_free_ char *dir = strdupf("%s/%s", overlays_dir, KUBERNETES_OVERLAY);
        if (!dir)
                return log_oom();
        r = overlay_apply(dir, root);
        if (r < 0)
                return r;
        r = stagekey_add_tree(key, KUBERNETES_OVERLAY, dir);
        if (r < 0)
                return log_error_errno(r, "kubernetes: cannot hash '%s': %m", dir);

        struct imageref pause;
        r = kubeadm_pause_image(k->version, NULL, &pause, &err);
        if (r < 0)
                return log_error_errno(r, "kubernetes: %s", err ? err : "no pause image for this version");
        _cleanup_free_ char *pause_name = imageref_format(&pause);
        if (!pause_name)
                return log_oom();
        r = write_containerd_config(root, pause_name);
        if (r < 0)
                return r;
        log_info("kubernetes: containerd's sandbox image is %s", pause_name);
        return 1;
}
