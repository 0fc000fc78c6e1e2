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
#include "lock.h"
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

/* The planned bundle's files against the lock: every file must be locked;
 * when every locked digest is already in the store the bundle is taken from
 * there (returns 1, nothing is fetched), otherwise 0. -ENOENT (logged,
 * listing every file) when the version or a file is not in the lock. */
static int bundle_from_lock(struct k8s_bundle *b, const struct lock_arch *lock, const char *cas_dir,
                            bool offline) {
        if (!lock->kubernetes_version || !streq(lock->kubernetes_version, b->version))
                return log_error_errno(
                        -ENOENT, "kubernetes: %s for %s is not in the lock (it has %s): run kubeseed fetch",
                        b->version, b->arch,
                        lock->kubernetes_version ? lock->kubernetes_version : "no kubernetes");
        size_t not_locked = 0, not_stored = 0;
        for (size_t i = 0; i < b->n_items; i++) {
                const char *sha = lock_file_sha256(lock, b->items[i].file_name);
                if (!sha) {
                        log_error("kubernetes: %s is not in the lock", b->items[i].file_name);
                        not_locked++;
                } else if (!cas_has(cas_dir, sha)) {
                        if (offline)
                                log_error("kubernetes: %s (sha256 %s) is not in the store",
                                          b->items[i].file_name, sha);
                        not_stored++;
                }
        }
        if (not_locked)
                return log_error_errno(-ENOENT, "kubernetes: %zu file%s not in the lock: run kubeseed fetch",
                                       not_locked, not_locked == 1 ? "" : "s");
        if (not_stored && offline)
                return log_error_errno(-ENOENT, "kubernetes: %zu file%s missing from the store (offline)",
                                       not_stored, not_stored == 1 ? "" : "s");
        if (not_stored)
                return 0;
        for (size_t i = 0; i < b->n_items; i++) {
                struct k8s_item *it = &b->items[i];
                memcpy(it->sha256, lock_file_sha256(lock, it->file_name), SHA256_HEX_LEN + 1);
                free(it->store_path);
                it->store_path = cas_path(cas_dir, it->sha256);
                if (!it->store_path)
                        return log_oom();
        }
        return 1;
}

int kubernetes_bundle_files(const struct profile *p, const struct arch_info *a, char ***ret) {
        _cleanup_strv_free_ char **names = NULL;
        if (p->kubernetes.version) {
                _cleanup_k8s_bundle_ struct k8s_bundle *b = NULL;
                _cleanup_free_ char *err = NULL;
                int r = k8s_bundle_plan(&p->kubernetes, a->debian, &b, &err);
                if (r < 0)
                        return log_error_errno(r, "kubernetes: %s", err ? err : "cannot plan the bundle");
                for (size_t i = 0; i < b->n_items; i++)
                        if (strv_push(&names, b->items[i].file_name) < 0)
                                return log_oom();
        }
        if (!names && !(names = calloc(1, sizeof(char *))))
                return log_oom();
        *ret = TAKE_PTR(names);
        return 0;
}

int kubernetes_fetch(const struct profile *p, const struct arch_info *a, const char *cas_dir,
                     const struct lock_arch *old, struct lock_arch *section) {
        const struct profile_kubernetes *k = &p->kubernetes;
        if (!k->version)
                return 0;
        _cleanup_k8s_bundle_ struct k8s_bundle *b = NULL;
        _cleanup_free_ char *err = NULL;
        int r = k8s_bundle_plan(k, a->debian, &b, &err);
        if (r < 0)
                return log_error_errno(r, "kubernetes: %s", err ? err : "cannot plan the bundle");
        struct download_opts dl = {.follow_redirects = true, .progress = true};
        r = k8s_bundle_fetch(b, cas_dir, &dl, &err);
        if (r < 0)
                return log_error_errno(r, "kubernetes: %s", err ? err : "cannot fetch the bundle");
        free(section->kubernetes_version);
        section->kubernetes_version = strdup(k->version);
        if (!section->kubernetes_version)
                return log_oom();
        for (size_t i = 0; i < b->n_items; i++) {
                const char *was = old ? lock_file_sha256(old, b->items[i].file_name) : NULL;
                if (was && !streq(was, b->items[i].sha256))
                        log_warning("fetch: %s changed under the same name: sha256 was %s, is now %s",
                                    b->items[i].file_name, was, b->items[i].sha256);
                r = lock_arch_add_file(section, b->items[i].file_name, b->items[i].sha256);
                if (r < 0)
                        return log_oom();
                log_info("fetch: %s sha256 %s", b->items[i].file_name, b->items[i].sha256);
        }
        return 1;
}

int kubernetes_stage(const struct profile *p, const struct arch_info *a, const char *cas_dir,
                     const char *overlays_dir, const char *root, struct stagekey *key) {
        return kubernetes_stage_locked(p, a, cas_dir, overlays_dir, root, NULL, false, key);
}

int kubernetes_stage_locked(const struct profile *p, const struct arch_info *a, const char *cas_dir,
                            const char *overlays_dir, const char *root, const struct lock_arch *lock,
                            bool offline, struct stagekey *key) {
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
        int from_store = 0;
        if (lock || offline) {
                if (!lock)
                        return log_error_errno(-ENOENT, "kubernetes: an offline build needs the lock: run "
                                                        "kubeseed fetch");
                from_store = bundle_from_lock(b, lock, cas_dir, offline);
                if (from_store < 0)
                        return from_store;
        }
        if (from_store)
                log_info("kubernetes: every file from the store by the lock's sha256");
        else {
                r = k8s_bundle_fetch(b, cas_dir, &dl, &err);
                if (r < 0)
                        return log_error_errno(r, "kubernetes: %s", err ? err : "cannot fetch the bundle");
        }
        /* The release must still be what the lock recorded: the same name
         * with other bytes is a changed release, never silently taken. */
        for (size_t i = 0; lock && i < b->n_items; i++) {
                const char *want = lock_file_sha256(lock, b->items[i].file_name);
                if (want && !streq(want, b->items[i].sha256))
                        return log_error_errno(
                                -EBADMSG,
                                "kubernetes: %s has sha256 %s but the lock has %s: the release "
                                "changed under the same name (run kubeseed fetch to accept it)",
                                b->items[i].file_name, b->items[i].sha256, want);
        }
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

        /* What the agent gives kubeadm (image.yaml) is part of the content. */
        if (k->etcd_image_tag && stagekey_add(key, "kubeadm.etcd-image-tag", k->etcd_image_tag) < 0)
                return log_oom();
        for (char **ph = k->init_skip_phases; ph && *ph; ph++)
                if (stagekey_add(key, "kubeadm.init-skip-phase", *ph) < 0)
                        return log_oom();

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
