/* SPDX-License-Identifier: MIT */
/* The control plane's add-on steps: each add-on of the selection, in
 * dependency order, applied with the image's kubectl and admin.conf and
 * waited for (docs/addons.md). One state step per add-on ("addon-<name>"),
 * recorded with the digest of what it applied. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "digest.h"
#include "fsutil.h"
#include "log.h"
#include "macro.h"
#include "plan.h"
#include "steps.h"
#include "strv.h"

#define RENDERED_DIR KUBESEED_STATE_DIR "/addons"
#define MANIFEST_MAX (16u << 20)
#define POLL_MAX_MS 10000u

const char *step_pod_subnet(const struct agent_ctx *c) {
        if (c->have_cfg && c->cfg.pod_subnet)
                return c->cfg.pod_subnet;
        return "10.244.0.0/16";
}

const char *step_cni_addon(const struct agent_ctx *c) {
        for (char **a = c->addon_order; a && *a; a++) {
                const struct addon_def *d = addon_catalog_find(&c->addons, *a);
                if (d && streq(d->category, "cni"))
                        return d->name;
        }
        return NULL;
}

int addons_prepare(struct agent_ctx *c, char **ret_reason) {
        addon_catalog_done(&c->addons);
        strv_free(c->addon_order);
        c->addon_order = NULL;
        _cleanup_free_ char *path = step_root_path(c, ADDON_CATALOG_PATH), *data = NULL, *err = NULL;
        if (!path)
                return -ENOMEM;
        size_t size = 0;
        int r = read_file_full(path, ADDON_CATALOG_MAX, &data, &size);
        if (r == -ENOENT) {
                if (c->cfg.addons && c->cfg.addons[0]) {
                        *ret_reason =
                                strdupf("kubeseed.addons names %s, but this image ships no add-ons (no %s)",
                                        c->cfg.addons[0], ADDON_CATALOG_PATH);
                        return -ENOENT;
                }
                c->addon_order = calloc(1, sizeof(char *));
                return c->addon_order ? 0 : -ENOMEM;
        }
        if (r >= 0)
                r = addon_catalog_parse(ADDON_CATALOG_PATH, data, size, &c->addons, &err);
        if (r < 0) {
                *ret_reason = err ? TAKE_PTR(err)
                                  : strdupf("cannot read %s: %s", ADDON_CATALOG_PATH, strerror(-r));
                return r;
        }
        _cleanup_strv_free_ char **defaults = NULL;
        char **selection = c->cfg.addons;
        if (!selection) {
                if (addon_default_selection(&c->addons, &defaults) < 0)
                        return -ENOMEM;
                selection = defaults;
        }
        r = addon_order(&c->addons, selection, &c->addon_order, &err);
        if (r < 0) {
                *ret_reason = strdupf("kubeseed.addons: %s", err ? err : "invalid selection");
                return r;
        }
        return 0;
}

static int vars_for(const struct agent_ctx *c, struct addon_vars *v) {
        unsigned workers = c->cfg.workers_set ? c->cfg.workers : 0;
        *v = (struct addon_vars){
                .pod_subnet = step_pod_subnet(c),
                .service_subnet = c->cfg.service_subnet ? c->cfg.service_subnet : "10.96.0.0/12",
                .cluster_name = "kubernetes",
                .node_count = workers + 1,
        };
        return 0;
}

/* kubectl's last line of output is cut here: a reason must stay one line. */
#define LAST_LINE_MAX 300u

static void sleep_ms(unsigned ms) {
        (void) usleep(ms * 1000U);
}

static unsigned poll_delay_ms(unsigned attempt) {
        unsigned d = step_backoff_ms(attempt);
        return d > POLL_MAX_MS ? POLL_MAX_MS : d;
}

/* kubectl apply of one rendered manifest, retried while the error is one
 * the API server recovers from, until the deadline. */
static int apply_manifest(struct agent_ctx *c, const struct addon_def *d, const struct addon_manifest *m,
                          const char *rendered, const char *kubeconfig, uint64_t deadline,
                          char **ret_reason) {
        _cleanup_strv_free_ char **argv = NULL;
        if (strv_push(&argv, "kubectl") < 0 || strv_push(&argv, "--kubeconfig") < 0 ||
            strv_push(&argv, kubeconfig) < 0 || strv_push(&argv, "apply") < 0 ||
            (m->server_side &&
             (strv_push(&argv, "--server-side") < 0 || strv_push(&argv, "--force-conflicts") < 0 ||
              strv_push(&argv, "--field-manager=kubeseed") < 0)) ||
            strv_push(&argv, "--filename") < 0 || strv_push(&argv, rendered) < 0)
                return -ENOMEM;
        _cleanup_free_ char *line = argv_to_string(argv);
        log_info("add-on %s: %s", d->name, line ? line : "kubectl apply");
        for (unsigned attempt = 1;; attempt++) {
                struct proc_result res = {0};
                struct proc_opts opts = {.timeout_sec = 300, .stdout_fd = -1};
                int r = proc_ops->run(argv, &opts, &res);
                if (r >= 0) {
                        proc_result_done(&res);
                        return 0;
                }
                _cleanup_free_ char *why = r == -ENOENT ? strdup("kubectl is not installed in the image")
                                                        : step_last_line(res.err_tail, LAST_LINE_MAX);
                bool transient = r != -ENOENT && addon_kubectl_error_transient(res.err_tail);
                proc_result_done(&res);
                if (!why)
                        return -ENOMEM;
                if (!transient || c->now() >= deadline) {
                        *ret_reason = strdupf("add-on %s: kubectl apply of %s failed%s: %s", d->name,
                                              m->file, transient ? " until the deadline" : "", why);
                        return r;
                }
                unsigned wait = poll_delay_ms(attempt);
                log_info("add-on %s: kubectl apply failed (%s); retrying in %.1f s", d->name, why,
                         wait / 1000.0);
                sleep_ms(wait);
        }
}

/* Polls one readiness check until it holds or the deadline passes. */
static int wait_check(struct agent_ctx *c, const struct addon_def *d, const struct addon_check *k,
                      const char *kubeconfig, uint64_t start, uint64_t deadline, char **ret_status,
                      char **ret_reason) {
        _cleanup_strv_free_ char **argv = NULL;
        if (addon_check_argv(k, kubeconfig, &argv) < 0)
                return -ENOMEM;
        _cleanup_free_ char *what = addon_check_describe(k), *status = NULL;
        if (!what)
                return -ENOMEM;
        for (unsigned attempt = 1;; attempt++) {
                struct proc_result res = {0};
                struct proc_opts opts = {
                        .timeout_sec = 60, .stdout_fd = -1, .capture_stdout = true, .max_capture = 4096};
                int r = proc_ops->run(argv, &opts, &res);
                bool ready = false;
                free(status);
                status = NULL;
                if (r >= 0)
                        r = addon_check_eval(k, res.out, &ready, &status);
                else if (res.err_tail && strstr(res.err_tail, "NotFound"))
                        status = strdup("not created yet");
                else if (r == -ENOENT)
                        status = strdup("kubectl is not installed in the image");
                else {
                        _cleanup_free_ char *l = step_last_line(res.err_tail, LAST_LINE_MAX);
                        status = strdupf("kubectl get failed: %s", l ? l : "?");
                }
                proc_result_done(&res);
                if (!status)
                        return -ENOMEM;
                if (ready) {
                        *ret_status = TAKE_PTR(status);
                        return 0;
                }
                if (c->now() >= deadline) {
                        *ret_reason =
                                strdupf("add-on %s: %s not ready after %llu s (last status: %s)", d->name,
                                        what, (unsigned long long) (c->now() - start), status);
                        return -ETIMEDOUT;
                }
                unsigned wait = poll_delay_ms(attempt);
                log_info("add-on %s: %s: %s; next check in %.1f s", d->name, what, status, wait / 1000.0);
                sleep_ms(wait);
        }
}

int step_addon(struct agent_ctx *c, char **ret_detail, char **ret_reason) {
        const char *name = plan_addon_name(c->step_name);
        const struct addon_def *d = name ? addon_catalog_find(&c->addons, name) : NULL;
        if (!d) {
                *ret_reason = strdupf("add-on %s is not in this image's catalogue", name ? name : "?");
                return -ENOENT;
        }
        int r = addon_digest(d, c->step_digest);
        if (r < 0) {
                *ret_reason = strdupf("add-on %s: the catalogue lacks a manifest digest", d->name);
                return r;
        }
        struct addon_vars vars;
        vars_for(c, &vars);
        _cleanup_free_ char *kubeconfig = step_root_path(c, ADMIN_CONF);
        if (!kubeconfig)
                return -ENOMEM;
        uint64_t start = c->now(), deadline = start + d->timeout_sec;

        for (size_t i = 0; i < d->n_manifests; i++) {
                const struct addon_manifest *m = &d->manifests[i];
                _cleanup_free_ char *src = NULL, *path = NULL, *data = NULL, *text = NULL, *err = NULL,
                                    *out_rel = NULL, *out = NULL;
                size_t size = 0, text_size = 0;
                char sha[SHA256_HEX_LEN + 1];
                if (!(src = strdupf("%s/%s/%s", ADDON_IMAGE_DIR, d->name, m->file)) ||
                    !(path = step_root_path(c, src)) ||
                    !(out_rel = strdupf("%s/%s/%s", RENDERED_DIR, d->name, m->file)) ||
                    !(out = step_root_path(c, out_rel)))
                        return -ENOMEM;
                r = read_file_full(path, MANIFEST_MAX, &data, &size);
                if (r < 0) {
                        *ret_reason = strdupf("add-on %s: cannot read %s: %s", d->name, src, strerror(-r));
                        return r;
                }
                /* The image's copy must be what the builder verified. */
                r = sha256_buffer(data, size, sha);
                if (r < 0)
                        return r;
                if (!m->sha256 || !streq(sha, m->sha256)) {
                        *ret_reason = strdupf("add-on %s: %s has sha256 %s, the catalogue says %s", d->name,
                                              src, sha, m->sha256 ? m->sha256 : "nothing");
                        return -EBADMSG;
                }
                r = addon_substitute(data, size, m, &vars, &text, &text_size, &err);
                if (r < 0) {
                        *ret_reason = strdupf("add-on %s: %s: %s", d->name, m->file,
                                              err ? err : "substitution failed");
                        return r;
                }
                r = step_put_file(c, out_rel, text, text_size, 0644, 0755, ret_reason);
                if (r < 0)
                        return r;
                r = apply_manifest(c, d, m, out, kubeconfig, deadline, ret_reason);
                if (r < 0)
                        return r;
        }

        _cleanup_strv_free_ char **done = NULL;
        for (size_t i = 0; i < d->n_checks; i++) {
                _cleanup_free_ char *status = NULL, *what = addon_check_describe(&d->checks[i]);
                if (!what)
                        return -ENOMEM;
                r = wait_check(c, d, &d->checks[i], kubeconfig, start, deadline, &status, ret_reason);
                if (r < 0)
                        return r;
                log_info("add-on %s: %s ready (%s)", d->name, what, status);
                if (strv_pushf(&done, "%s (%s)", what, status) < 0)
                        return -ENOMEM;
        }
        _cleanup_free_ char *checks = strv_join(done, "; ");
        *ret_detail =
                strdupf("%zu manifest%s applied (%.19s…)%s%s", d->n_manifests,
                        d->n_manifests == 1 ? "" : "s", c->step_digest,
                        checks && *checks ? "; ready: " : "; no readiness checks", checks ? checks : "");
        return *ret_detail ? 0 : -ENOMEM;
}
