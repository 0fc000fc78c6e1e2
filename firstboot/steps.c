/* SPDX-License-Identifier: MIT */
#include "steps.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "facts.h"
#include "fsutil.h"
#include "http.h"
#include "kubeadm.h"
#include "netconfig.h"
#include "log.h"
#include "macro.h"
#include "plan.h"
#include "podnet.h"
#include "proc.h"
#include "strv.h"

static bool real_root(const struct agent_ctx *c) {
        const char *r = c->o->root;
        return !r || !*r || streq(r, "/");
}

void agent_ctx_done(struct agent_ctx *c) {
        if (c->have_cfg)
                nodeconfig_done(&c->cfg);
        if (c->have_md)
                metadata_done(&c->md);
        c->have_cfg = c->have_md = false;
        if (c->have_image)
                image_info_done(&c->image);
        c->have_image = false;
        free(c->kubeadm_version);
        free(c->node_name);
        c->kubeadm_version = c->node_name = NULL;
        addon_catalog_done(&c->addons);
        strv_free(c->addon_order);
        c->addon_order = NULL;
}

void redact_secrets(char *text, const char *const *secrets) {
        if (!text)
                return;
        for (const char *const *s = secrets; *s; s++) {
                size_t n = strlen(*s);
                if (n < 6)
                        continue;
                for (char *p = text; (p = strstr(p, *s)); p += n)
                        memset(p, '*', n);
        }
}

/* The secrets of this node's configuration, for redact_secrets(). */
static void secrets_of(const struct agent_ctx *c, const char *out[4]) {
        size_t n = 0;
        if (c->have_cfg && c->cfg.token)
                out[n++] = c->cfg.token;
        if (c->have_cfg && c->cfg.certificate_key)
                out[n++] = c->cfg.certificate_key;
        out[n] = NULL;
}

/* Runs a program; on failure *ret_reason gets "<what> failed (...): <last
 * lines of stderr, secrets redacted>". */
char *step_last_line(const char *text, size_t max) {
        if (!text)
                return strdup("");
        size_t len = strlen(text);
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' ' || text[len - 1] == '\r'))
                len--;
        size_t start = len;
        while (start > 0 && text[start - 1] != '\n')
                start--;
        return strndup(text + start, max && len - start > max ? max : len - start);
}

int step_run(struct agent_ctx *c, const char *what, char **argv, unsigned timeout_sec,
             struct proc_result *keep, char **ret_reason) {
        struct proc_result res = {0};
        struct proc_opts opts = {
                .timeout_sec = timeout_sec, .stdout_fd = -1, .capture_stdout = keep != NULL};
        _cleanup_free_ char *line = argv_to_string(argv);
        log_info("Running %s", line ? line : argv[0]);
        int r = proc_ops->run(argv, &opts, &res);
        const char *secrets[4];
        secrets_of(c, secrets);
        redact_secrets(res.err_tail, secrets);
        redact_secrets(res.out, secrets);
        if (r < 0) {
                /* The last non-empty line of stderr says why, as a rule. */
                _cleanup_free_ char *last = step_last_line(res.err_tail, 0);
                if (!last) {
                        proc_result_done(&res);
                        return -ENOMEM;
                }
                if (r == -ETIMEDOUT)
                        *ret_reason = strdupf("%s timed out after %u s", what, timeout_sec);
                else if (r == -ENOENT)
                        *ret_reason = strdupf("%s: %s is not installed in the image", what, argv[0]);
                else
                        *ret_reason = strdupf("%s failed (exit status %d)%s%s", what, res.exit_status,
                                              *last ? ": " : "", last);
                if (res.err_tail && *res.err_tail)
                        log_error("%s: standard error of %s:\n%s", what, argv[0], res.err_tail);
                proc_result_done(&res);
                return r;
        }
        if (keep)
                *keep = res;
        else
                proc_result_done(&res);
        return 0;
}

char *step_root_path(const struct agent_ctx *c, const char *p) {
        return path_join_root(c->o->root, p);
}

int step_image_info(struct agent_ctx *c, char **ret_reason) {
        if (c->have_image)
                return 0;
        _cleanup_free_ char *err = NULL;
        int r = image_info_load(c->o->root, &c->image, &err);
        if (r < 0) {
                *ret_reason =
                        err ? TAKE_PTR(err) : strdupf("cannot read %s: %s", IMAGE_YAML_PATH, strerror(-r));
                return r;
        }
        c->have_image = true;
        return 0;
}

static bool exists_in_root(const struct agent_ctx *c, const char *p) {
        _cleanup_free_ char *f = step_root_path(c, p);
        return f && access(f, F_OK) == 0;
}

/* Write a file below the root (parent directories created with dir_mode). */
int step_put_file(const struct agent_ctx *c, const char *p, const char *data, size_t size, mode_t mode,
                  mode_t dir_mode, char **ret_reason) {
        _cleanup_free_ char *f = step_root_path(c, p);
        if (!f)
                return -ENOMEM;
        _cleanup_free_ char *dir = strdup(f);
        if (!dir)
                return -ENOMEM;
        *strrchr(dir, '/') = '\0';
        int r = mkdir_p(dir, dir_mode);
        if (r >= 0)
                r = write_file_atomic(f, data, size, mode);
        if (r < 0)
                *ret_reason = strdupf("cannot write %s: %s", p, strerror(-r));
        return r;
}

/* ---- metadata ------------------------------------------------------------ */

static int step_metadata(struct agent_ctx *c, char **ret_detail, char **ret_reason) {
        const struct agent_options *o = c->o;
        _cleanup_free_ char *err = NULL;
        int r;

        if (c->have_cfg) {
                nodeconfig_done(&c->cfg);
                c->have_cfg = false;
        }
        if (c->have_md) {
                metadata_done(&c->md);
                c->have_md = false;
        }
        if (o->seed_dir) {
                _cleanup_free_ char *source = strdupf("directory %s", o->seed_dir);
                if (!source)
                        return -ENOMEM;
                r = sources_read_nocloud_dir(o->seed_dir, source, &c->md, &err);
        } else {
                struct sources_options so = {
                        .root = o->root,
                        .cmdline = o->cmdline,
                        .blk_ops = o->blk_ops,
                        .blk_userdata = o->blk_userdata,
                        .mount_ops = o->mount_ops,
                        .mount_userdata = o->mount_userdata,
                        .imds_url = o->imds_url,
                };
                /* Devices (virtio, USB) may still be appearing: a bounded retry. */
                unsigned attempts = o->seed_attempts ? o->seed_attempts : 5;
                unsigned delay_ms = o->seed_retry_ms ? o->seed_retry_ms : 500;
                for (unsigned attempt = 1;; attempt++) {
                        free(err);
                        err = NULL;
                        r = sources_find(&so, &c->md, &err);
                        if (r != 0 || attempt >= attempts)
                                break;
                        log_info("No metadata found yet, retrying in %u ms", delay_ms);
                        (void) usleep(delay_ms * 1000U);
                        delay_ms = delay_ms * 2 > 2000 ? 2000 : delay_ms * 2;
                }
                if (r == 0) {
                        *ret_reason = err ? TAKE_PTR(err) : strdup("no metadata source found");
                        return -ENOENT;
                }
        }
        if (r < 0) {
                *ret_reason = err ? TAKE_PTR(err) : strdupf("cannot read the metadata: %s", strerror(-r));
                return r;
        }
        c->have_md = true;
        log_info("Metadata from %s: instance-id %s, local-hostname %s", c->md.source, c->md.instance_id,
                 c->md.local_hostname ? c->md.local_hostname : "(none)");

        struct nodeconfig_input in = metadata_nodeconfig_input(&c->md);
        r = nodeconfig_parse(&in, &c->cfg, &err);
        if (r < 0) {
                *ret_reason = err ? TAKE_PTR(err) : strdupf("invalid metadata: %s", strerror(-r));
                return r;
        }
        c->have_cfg = true;
        for (char **w = c->cfg.warnings; w && *w; w++)
                log_warning("%s", *w);
        /* The add-on selection is part of the metadata's validation: an
         * unknown name stops the node before anything runs. */
        r = addons_prepare(c, ret_reason);
        if (r < 0)
                return r;

        *ret_detail = strdupf("%s: role %s, instance-id %s", c->cfg.source, node_role_to_string(c->cfg.role),
                              c->cfg.instance_id);
        return *ret_detail ? 0 : -ENOMEM;
}

/* ---- report, hostname ---------------------------------------------------- */

static int step_report(struct agent_ctx *c, char **ret_detail, char **ret_reason) {
        struct utsname u;
        if (uname(&u) < 0) {
                int r = negative_errno();
                *ret_reason = strdupf("uname() failed: %s", strerror(-r));
                return r;
        }
        struct facts f = {
                .machine = u.machine,
                .kernel_release = u.release,
                .instance_id = c->cfg.instance_id,
                .hostname = c->cfg.hostname,
                .source = c->cfg.source,
                .role = node_role_to_string(c->cfg.role),
                .user_data_size = c->md.user_data_size,
        };
        int r = facts_save(c->o->root, &f);
        if (r < 0) {
                *ret_reason = strdupf("cannot write %s: %s", FACTS_PATH, strerror(-r));
                return r;
        }
        log_info("Machine %s, kernel %s", u.machine, u.release);
        *ret_detail = strdup("facts in " FACTS_PATH);
        return *ret_detail ? 0 : -ENOMEM;
}

/* The node's name: meta-data's local-hostname, else the current hostname. */
int step_node_name(struct agent_ctx *c) {
        if (c->node_name)
                return 0;
        if (c->cfg.hostname)
                c->node_name = strdup(c->cfg.hostname);
        else {
                char h[256] = "";
                _cleanup_free_ char *p = step_root_path(c, "/etc/hostname"), *data = NULL;
                if (p && read_file_full(p, 4096, &data, NULL) >= 0) {
                        data[strcspn(data, "\n")] = '\0';
                        snprintf(h, sizeof h, "%s", data);
                }
                if (!*h && gethostname(h, sizeof h - 1) < 0)
                        snprintf(h, sizeof h, "localhost");
                c->node_name = strdup(h);
        }
        return c->node_name ? 0 : -ENOMEM;
}

static int step_hostname(struct agent_ctx *c, char **ret_detail, char **ret_reason) {
        if (!c->cfg.hostname) {
                int r = step_node_name(c);
                if (r < 0)
                        return r;
                *ret_detail = strdupf("kept %s (meta-data has no local-hostname)", c->node_name);
                return *ret_detail ? 0 : -ENOMEM;
        }
        const char *name = c->cfg.hostname;
        /* The short name goes to the kernel, as hostnamectl does with a FQDN. */
        char line[300];
        int n = snprintf(line, sizeof line, "%s\n", name);
        int r = step_put_file(c, "/etc/hostname", line, (size_t) n, 0644, 0755, ret_reason);
        if (r < 0)
                return r;
        /* Debian's convention: the host's own name on 127.0.1.1. */
        _cleanup_free_ char *hosts_path = step_root_path(c, "/etc/hosts"), *hosts = NULL;
        if (!hosts_path)
                return -ENOMEM;
        size_t size = 0;
        if (read_file_full(hosts_path, 1 << 20, &hosts, &size) < 0) {
                hosts = strdup("127.0.0.1\tlocalhost\n");
                size = hosts ? strlen(hosts) : 0;
        }
        if (!hosts)
                return -ENOMEM;
        _cleanup_free_ char *want = strdupf("127.0.1.1\t%s\n", name);
        if (!want)
                return -ENOMEM;
        if (!strstr(hosts, want)) {
                /* Drop an older 127.0.1.1 line, append ours. */
                _cleanup_free_ char *out = malloc(size + strlen(want) + 2);
                if (!out)
                        return -ENOMEM;
                size_t o = 0;
                for (char *l = hosts; *l;) {
                        char *nl = strchr(l, '\n');
                        size_t len = nl ? (size_t) (nl - l) + 1 : strlen(l);
                        if (strncmp(l, "127.0.1.1", 9) != 0) {
                                memcpy(out + o, l, len);
                                o += len;
                                if (!nl)
                                        out[o++] = '\n';
                        }
                        l += len;
                }
                memcpy(out + o, want, strlen(want));
                o += strlen(want);
                r = step_put_file(c, "/etc/hosts", out, o, 0644, 0755, ret_reason);
                if (r < 0)
                        return r;
        }
        if (real_root(c) && sethostname(name, strlen(name)) < 0) {
                r = negative_errno();
                *ret_reason = strdupf("sethostname(%s) failed: %s", name, strerror(-r));
                return r;
        }
        free(c->node_name);
        c->node_name = strdup(name);
        *ret_detail = strdup(name);
        return *ret_detail && c->node_name ? 0 : -ENOMEM;
}

/* ---- preloaded images ---------------------------------------------------- */

/* Every image /etc/kubeseed/image.yaml lists is in containerd's k8s.io
 * namespace; a missing one fails the step, named. */
static int check_images_present(struct agent_ctx *c, size_t *ret_expected, char **ret_reason) {
        int r = step_image_info(c, ret_reason);
        if (r < 0)
                return r;
        char **images = c->image.images;
        if (!images || !*images)
                return 0; /* an image built without a kubernetes section */
        char *argv[] = {"ctr", "--namespace", "k8s.io", "images", "ls", "-q", NULL};
        struct proc_result res = {0};
        r = step_run(c, "listing containerd's images", argv, 300, &res, ret_reason);
        if (r < 0)
                return r;
        _cleanup_strv_free_ char **missing = NULL;
        for (char **name = images; *name; name++) {
                if (!text_has_line(res.out, *name) && strv_push(&missing, *name) < 0) {
                        proc_result_done(&res);
                        return -ENOMEM;
                }
        }
        proc_result_done(&res);
        if (missing) {
                _cleanup_free_ char *list = strv_join(missing, ", ");
                *ret_reason = strdupf(
                        "%zu of the %zu preloaded images listed in %s are not in containerd after "
                        "the import (kubeadm would have to pull them): %s",
                        strv_length(missing), strv_length(images), IMAGE_YAML_PATH, list ? list : "?");
                return -ENOENT;
        }
        *ret_expected = strv_length(images);
        return 0;
}

static int step_images(struct agent_ctx *c, char **ret_detail, char **ret_reason) {
        _cleanup_free_ char *dir = step_root_path(c, PREFLOADED_IMAGES_DIR);
        if (!dir)
                return -ENOMEM;
        struct dirent **names = NULL;
        int n = scandir(dir, &names, dirent_is_tar, alphasort);
        if (n < 0) {
                if (errno != ENOENT) {
                        int r = negative_errno();
                        *ret_reason = strdupf("cannot list %s: %s", PREFLOADED_IMAGES_DIR, strerror(-r));
                        return r;
                }
                *ret_detail = strdup("no preloaded images in " PREFLOADED_IMAGES_DIR);
                return *ret_detail ? 0 : -ENOMEM;
        }
        int r = 0;
        int imported = 0;
        for (int i = 0; i < n; i++) {
                if (r >= 0) {
                        _cleanup_free_ char *file = NULL;
                        if (asprintf(&file, "%s/%s", dir, names[i]->d_name) < 0)
                                r = -ENOMEM;
                        else {
                                /* Importing again is harmless: a resumed step
                                 * simply redoes every archive. --no-unpack:
                                 * the blobs go into the content store only;
                                 * containerd unpacks an image the first time
                                 * a container of it is created, so each node
                                 * unpacks only what it runs (a worker never
                                 * the control plane's images). */
                                char *argv[] = {"ctr",    "--namespace", "k8s.io", "images",
                                                "import", "--no-unpack", file,     NULL};
                                _cleanup_free_ char *what = strdupf("importing %s", names[i]->d_name);
                                r = what ? step_run(c, what, argv, 1800, NULL, ret_reason) : -ENOMEM;
                                if (r >= 0)
                                        imported++;
                        }
                }
                free(names[i]);
        }
        free(names);
        if (r < 0)
                return r;
        /* kubeadm must never pull: every image the builder recorded must now
         * be in containerd. */
        size_t expected = 0;
        r = check_images_present(c, &expected, ret_reason);
        if (r < 0)
                return r;
        if (expected == 0)
                *ret_detail = strdupf("%d archive%s imported into containerd (namespace k8s.io)", imported,
                                      imported == 1 ? "" : "s");
        else
                *ret_detail =
                        strdupf("%d archive%s imported into containerd (namespace k8s.io); all %zu images "
                                "of %s present",
                                imported, imported == 1 ? "" : "s", expected, IMAGE_YAML_PATH);
        return *ret_detail ? 0 : -ENOMEM;
}

/* ---- control plane -------------------------------------------------------- */

/* Places the pre-provisioned CA (again after a kubeadm reset, which removes
 * /etc/kubernetes/pki). */
static int place_ca(struct agent_ctx *c, char **ret_reason) {
        int r = step_put_file(c, CA_CERT_PATH, c->cfg.ca_cert, strlen(c->cfg.ca_cert), 0644, 0755,
                              ret_reason);
        if (r >= 0)
                r = step_put_file(c, CA_KEY_PATH, c->cfg.ca_key, strlen(c->cfg.ca_key), 0600, 0755,
                                  ret_reason);
        return r;
}

static int step_ca(struct agent_ctx *c, char **ret_detail, char **ret_reason) {
        if (!c->cfg.ca_cert) {
                *ret_detail = strdup("no pre-provisioned CA: kubeadm generates one");
                return *ret_detail ? 0 : -ENOMEM;
        }
        int r = place_ca(c, ret_reason);
        if (r < 0)
                return r;
        *ret_detail = strdupf("%s (%s), key 0600", CA_CERT_PATH, c->cfg.ca_cert_hash);
        return *ret_detail ? 0 : -ENOMEM;
}

static int step_kubeconfig(struct agent_ctx *c, char **ret_detail, char **ret_reason) {
        _cleanup_free_ char *src = step_root_path(c, ADMIN_CONF), *data = NULL;
        size_t size = 0;
        if (!src)
                return -ENOMEM;
        int r = read_file_full(src, 1 << 20, &data, &size);
        if (r < 0) {
                *ret_reason =
                        strdupf("cannot read %s (did kubeadm init write it?): %s", ADMIN_CONF, strerror(-r));
                return r;
        }
        r = step_put_file(c, "/root/.kube/config", data, size, 0600, 0700, ret_reason);
        if (r < 0)
                return r;
        *ret_detail = strdup("/root/.kube/config");
        return *ret_detail ? 0 : -ENOMEM;
}

/* ---- worker: wait for the API server -------------------------------------- */

/* Exponential backoff with jitter: 1 s doubling to 30 s, each +-20%. */
unsigned step_backoff_ms(unsigned attempt) {
        unsigned base = 1000;
        for (unsigned i = 1; i < attempt && base < 30000; i++)
                base *= 2;
        if (base > 30000)
                base = 30000;
        unsigned jitter = (unsigned) (rand() % (int) (base / 5 + 1));
        return base - base / 10 + jitter;
}

int step_wait_retry(struct agent_ctx *c, unsigned attempt, uint64_t start, unsigned limit_sec,
                    const char *what, const char *last) {
        if (c->now() - start >= limit_sec)
                return -ETIMEDOUT;
        unsigned wait = step_backoff_ms(attempt);
        log_info("Waiting for %s (%s); next try in %.1f s", what, last ? last : "?", wait / 1000.0);
        (void) usleep(wait * 1000U);
        return 0;
}

static int step_wait_api(struct agent_ctx *c, char **ret_detail, char **ret_reason) {
        _cleanup_free_ char *url = NULL;
        bool v6 = strchr(c->cfg.endpoint_host, ':') != NULL;
        if (asprintf(&url, "https://%s%s%s:%u/healthz", v6 ? "[" : "", c->cfg.endpoint_host, v6 ? "]" : "",
                     c->cfg.endpoint_port) < 0)
                return -ENOMEM;
        unsigned deadline_s = c->o->api_wait_timeout_sec ? c->o->api_wait_timeout_sec : 1800;
        uint64_t start = c->now();
        srand((unsigned) (start ^ (uint64_t) getpid()));
        _cleanup_free_ char *last = NULL;
        for (unsigned attempt = 1;; attempt++) {
                struct http_request req = {
                        .url = url,
                        .timeout_ms = 10000,
                        .connect_timeout_ms = 5000,
                        .max_response = 65536,
                        .pinned_ca_hashes = (const char *const *) c->cfg.ca_cert_hashes,
                        /* kube-apiserver sends its own certificate only: the
                         * CA (public, from the metadata when given) verifies it. */
                        .pinned_ca_pem = c->cfg.ca_cert,
                };
                struct http_response res = {0};
                int r = http_ops->perform(&req, &res);
                if (r >= 0 && res.status == 200) {
                        http_response_done(&res);
                        *ret_detail = strdupf("%s answered after %u attempt%s (CA pinned: %s)", url, attempt,
                                              attempt == 1 ? "" : "s", c->cfg.ca_cert_hashes[0]);
                        return *ret_detail ? 0 : -ENOMEM;
                }
                if (r < 0 && res.pin_mismatch) {
                        *ret_reason =
                                strdupf("%s is not signed by the pinned CA %s: refusing to join (%s)", url,
                                        c->cfg.ca_cert_hashes[0], res.error ? res.error : "pin mismatch");
                        http_response_done(&res);
                        return -EPERM;
                }
                free(last);
                last = r < 0 ? strdupf("%s", res.error ? res.error : strerror(-r))
                             : strdupf("HTTP %ld", res.status);
                http_response_done(&res);
                if (step_wait_retry(c, attempt, start, deadline_s, url, last) < 0) {
                        *ret_reason = strdupf("%s did not answer within %u s (last: %s)", url, deadline_s,
                                              last ? last : "?");
                        return -ETIMEDOUT;
                }
        }
}

/* ---- kubeadm ------------------------------------------------------------- */

/* What the image's kubeadm is (`kubeadm version -o short`), once per boot. */
static int kubeadm_version(struct agent_ctx *c, char **ret_reason) {
        if (c->kubeadm_version)
                return 0;
        char *argv[] = {"kubeadm", "version", "-o", "short", NULL};
        struct proc_result res = {0};
        int r = step_run(c, "kubeadm version", argv, 60, &res, ret_reason);
        if (r < 0)
                return r;
        char empty[] = ""; /* no output leaves res.out NULL; never write into a literal */
        char *v = res.out ? res.out : empty;
        v[strcspn(v, " \t\r\n")] = '\0';
        struct kubeadm_version kv;
        if (kubeadm_parse_version(v, &kv) < 0) {
                *ret_reason = strdupf("kubeadm version printed '%.40s', not a version", v);
                proc_result_done(&res);
                return -EBADMSG;
        }
        c->kubeadm_version = strdup(v);
        proc_result_done(&res);
        return c->kubeadm_version ? 0 : -ENOMEM;
}

/* The kubeadm configuration for this node. Borrowed pointers: valid while
 * c and `taints` live. */
static int kubeadm_config_for(struct agent_ctx *c, struct kubeadm_config *kc, struct kubeadm_taint *taints,
                              char **ret_reason) {
        int r = kubeadm_version(c, ret_reason);
        if (r < 0)
                return r;
        r = step_node_name(c);
        if (r < 0)
                return r;
        r = step_image_info(c, ret_reason);
        if (r < 0)
                return r;
        const struct nodeconfig *cfg = &c->cfg;
        for (size_t i = 0; i < cfg->n_taints && i < NODECONFIG_LIST_MAX; i++)
                taints[i] = (struct kubeadm_taint){.key = cfg->taints[i].key,
                                                   .value = cfg->taints[i].value,
                                                   .effect = cfg->taints[i].effect};
        *kc = (struct kubeadm_config){
                /* The metadata may name the cluster's version; kubeadm must
                 * speak its own API whatever it deploys. */
                .kubernetes_version = cfg->kubernetes_version ? cfg->kubernetes_version : c->kubeadm_version,
                .node_name = c->node_name,
                .node_ip = cfg->node_ip,
                .node_labels = cfg->labels,
                .set_taints = cfg->n_taints > 0,
                .taints = taints,
                .n_taints = cfg->n_taints,
                .advertise_address = cfg->role != NODE_ROLE_WORKER ? cfg->node_ip : NULL,
                .control_plane_endpoint = cfg->endpoint,
                .pod_subnet = step_pod_subnet(c),
                .service_subnet = cfg->service_subnet,
                /* The bundle's settings (the builder's image.yaml): the
                 * etcd it carries, the init phases it has no images for. */
                .etcd_image_tag = c->image.etcd_image_tag,
                .skip_phases = cfg->role == NODE_ROLE_CONTROL_PLANE ? c->image.init_skip_phases : NULL,
                .token = cfg->token,
                .certificate_key = cfg->certificate_key,
                .ca_cert_hashes = cfg->ca_cert_hashes,
                .control_plane = cfg->role == NODE_ROLE_CONTROL_PLANE_JOIN,
                /* Generous: slow disks, emulated CPUs, images still loading. */
                .control_plane_timeout_sec = 20 * 60,
                .discovery_timeout_sec = 30 * 60,
        };
        return 0;
}

static int step_kubeadm_config(struct agent_ctx *c, char **ret_detail, char **ret_reason) {
        struct kubeadm_config kc;
        struct kubeadm_taint taints[NODECONFIG_LIST_MAX];
        int r = kubeadm_config_for(c, &kc, taints, ret_reason);
        if (r < 0)
                return r;
        _cleanup_free_ char *text = NULL, *err = NULL;
        size_t size = 0;
        r = c->cfg.role == NODE_ROLE_CONTROL_PLANE ? kubeadm_render_init(&kc, &text, &size, &err)
                                                   : kubeadm_render_join(&kc, &text, &size, &err);
        if (r < 0) {
                *ret_reason = err ? TAKE_PTR(err)
                                  : strdupf("cannot render the kubeadm configuration: %s", strerror(-r));
                return r;
        }
        /* It holds the token (and certificate key): 0600, and outside
         * /etc/kubernetes so that kubeadm reset keeps it. */
        r = step_put_file(c, KUBEADM_CONFIG_PATH, text, size, 0600, 0700, ret_reason);
        explicit_bzero(text, size);
        if (r < 0)
                return r;
        enum kubeadm_api api;
        if (kubeadm_api_version(kc.kubernetes_version, &api, NULL) < 0)
                api = 0;
        *ret_detail = strdupf("%s (%s, kubeadm %s) in %s", kubeadm_api_string(api) ?: "?",
                              kc.kubernetes_version, c->kubeadm_version, KUBEADM_CONFIG_PATH);
        return *ret_detail ? 0 : -ENOMEM;
}

/* kubeadm reset before a retried init or join: a half-done one leaves files
 * that make kubeadm's preflight refuse to run again. */
static int kubeadm_reset(struct agent_ctx *c, const struct kubeadm_config *kc, char **ret_reason) {
        _cleanup_strv_free_ char **argv = NULL;
        if (kubeadm_reset_argv(kc, &argv) < 0)
                return -ENOMEM;
        log_info("A previous kubeadm run did not finish: resetting the node before trying again");
        return step_run(c, "kubeadm reset", argv, 600, NULL, ret_reason);
}

static unsigned kubeadm_timeout(const struct agent_ctx *c) {
        return c->o->kubeadm_timeout_sec ? c->o->kubeadm_timeout_sec : 1800;
}

/* kubeadm init (control plane) or join (the others). A previous attempt
 * that did not finish, or the files kubeadm's preflight refuses (the API
 * server manifest before init, kubelet.conf before join), mean a reset
 * first. */
static int run_kubeadm(struct agent_ctx *c, bool init, char **ret_detail, char **ret_reason) {
        struct kubeadm_config kc;
        struct kubeadm_taint taints[NODECONFIG_LIST_MAX];
        int r = kubeadm_config_for(c, &kc, taints, ret_reason);
        if (r < 0)
                return r;
        if (c->resuming || exists_in_root(c, init ? APISERVER_MANIFEST : KUBELET_CONF)) {
                r = kubeadm_reset(c, &kc, ret_reason);
                if (r < 0)
                        return r;
                /* reset removed /etc/kubernetes/pki. */
                if (init && c->cfg.ca_cert && (r = place_ca(c, ret_reason)) < 0)
                        return r;
        }
        _cleanup_strv_free_ char **argv = NULL;
        r = init ? kubeadm_init_argv(&kc, KUBEADM_CONFIG_PATH, &argv)
                 : kubeadm_join_argv(&kc, KUBEADM_CONFIG_PATH, &argv);
        if (r < 0)
                return -ENOMEM;
        const char *what = init               ? "kubeadm init"
                           : kc.control_plane ? "kubeadm join (control plane)"
                                              : "kubeadm join";
        r = step_run(c, what, argv, kubeadm_timeout(c), NULL, ret_reason);
        if (r < 0)
                return r;
        *ret_detail = init ? strdupf("control plane %s initialised (Kubernetes %s)", c->node_name,
                                     kc.kubernetes_version)
                           : strdupf("%s joined %s%s", c->node_name, c->cfg.endpoint,
                                     kc.control_plane ? " as a control plane" : "");
        return *ret_detail ? 0 : -ENOMEM;
}

static int step_kubeadm_init(struct agent_ctx *c, char **ret_detail, char **ret_reason) {
        return run_kubeadm(c, true, ret_detail, ret_reason);
}

static int step_kubeadm_join(struct agent_ctx *c, char **ret_detail, char **ret_reason) {
        return run_kubeadm(c, false, ret_detail, ret_reason);
}

static int step_untaint(struct agent_ctx *c, char **ret_detail, char **ret_reason) {
        if (!nodeconfig_should_untaint(&c->cfg)) {
                *ret_detail = strdup("kept the control-plane taint: the cluster has workers");
                return *ret_detail ? 0 : -ENOMEM;
        }
        int r = kubeadm_version(c, ret_reason);
        if (r < 0)
                return r;
        r = step_node_name(c);
        if (r < 0)
                return r;
        const char *version = c->cfg.kubernetes_version ? c->cfg.kubernetes_version : c->kubeadm_version;
        const char *const *keys = NULL;
        r = kubeadm_taint_keys(version, &keys);
        if (r < 0) {
                *ret_reason = strdupf("no taint keys known for Kubernetes %s", version);
                return r;
        }
        _cleanup_free_ char *admin = step_root_path(c, ADMIN_CONF);
        if (!admin)
                return -ENOMEM;
        for (const char *const *key = keys; *key; key++) {
                _cleanup_strv_free_ char **argv = NULL;
                if (kubeadm_untaint_argv(admin, c->node_name, *key, &argv) < 0)
                        return -ENOMEM;
                /* kubectl's words for an absent taint; `nodes "x" not found`
                 * (the node not registered yet) is a failure to retry. */
                _cleanup_free_ char *absent_msg = strdupf("taint \"%s\" not found", *key);
                if (!absent_msg)
                        return -ENOMEM;
                /* The API server may still be settling: bounded retries. A
                 * taint that is not there is what we want. */
                for (unsigned attempt = 1;; attempt++) {
                        struct proc_result res = {0};
                        struct proc_opts opts = {.timeout_sec = 60, .stdout_fd = -1};
                        r = proc_ops->run(argv, &opts, &res);
                        bool absent = r < 0 && res.err_tail && strstr(res.err_tail, absent_msg);
                        if (r >= 0 || absent) {
                                proc_result_done(&res);
                                break;
                        }
                        if (attempt >= 10) {
                                proc_log_failure(r, "untaint", argv, &res);
                                *ret_reason = strdupf("kubectl taint %s %s- failed %u times", c->node_name,
                                                      *key, attempt);
                                proc_result_done(&res);
                                return r;
                        }
                        proc_result_done(&res);
                        unsigned wait = step_backoff_ms(attempt);
                        log_info("kubectl taint failed; retrying in %.1f s", wait / 1000.0);
                        (void) usleep(wait * 1000U);
                }
        }
        *ret_detail = strdupf("removed %s from %s: it schedules workloads", keys[0], c->node_name);
        return *ret_detail ? 0 : -ENOMEM;
}

static const struct {
        const char *name;
        step_fn fn;
} steps[] = {
        {STEP_METADATA, step_metadata},
        {STEP_NETWORK, step_network}, /* netconfig.c */
        {STEP_REPORT, step_report},
        {STEP_HOSTNAME, step_hostname},
        {STEP_IMAGES, step_images},
        {STEP_CA, step_ca},
        {STEP_KUBECONFIG, step_kubeconfig},
        {STEP_WAIT_API, step_wait_api},
        {STEP_KUBEADM_CONFIG, step_kubeadm_config},
        {STEP_KUBEADM_INIT, step_kubeadm_init},
        {STEP_KUBEADM_JOIN, step_kubeadm_join},
        {STEP_UNTAINT, step_untaint},
        {STEP_POD_NETWORK, step_pod_network}, /* podnet.c */
};

step_fn step_lookup(const char *name) {
        if (plan_addon_name(name))
                return step_addon;
        for (size_t i = 0; i < ELEMENTSOF(steps); i++)
                if (streq(steps[i].name, name))
                        return steps[i].fn;
        return NULL;
}
