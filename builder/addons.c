/* SPDX-License-Identifier: MIT */
#include "addons.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "digest.h"
#include "download.h"
#include "fsutil.h"
#include "http.h"
#include "log.h"
#include "macro.h"
#include "strv.h"

#define MANIFEST_MAX (16u << 20)

void addons_plan_done(struct addons_plan *p) {
        free(p->catalog_dir);
        addon_catalog_done(&p->source);
        addon_catalog_done(&p->shipped);
        image_list_done(&p->images);
        strv_free(p->defaults);
        *p = (struct addons_plan){0};
}

char *addons_catalog_dir(const struct profile *p) {
        if (p->addons.catalog)
                return strdup(p->addons.catalog);
        /* images/x.yaml -> images/../addons */
        _cleanup_free_ char *copy = strdup(p->path ? p->path : "x.yaml");
        if (!copy)
                return NULL;
        char *slash = strrchr(copy, '/');
        if (!slash)
                return strdup("../addons");
        *slash = '\0';
        return strdupf("%s/../addons", copy);
}

static int is_yaml(const struct dirent *d) {
        size_t n = strlen(d->d_name);
        return d->d_name[0] != '.' && n > 5 && streq(d->d_name + n - 5, ".yaml");
}

int addons_load_catalog(const char *dir, struct addon_catalog *cat) {
        struct dirent **names = NULL;
        int n = scandir(dir, &names, is_yaml, alphasort);
        if (n < 0)
                return log_error_errno(-errno, "addons: cannot read the catalogue '%s': %m", dir);
        int r = 0;
        for (int i = 0; i < n; i++) {
                if (r >= 0) {
                        _cleanup_free_ char *path = strdupf("%s/%s", dir, names[i]->d_name), *data = NULL,
                                            *err = NULL;
                        size_t size = 0;
                        r = path ? read_regular_file(path, ADDON_CATALOG_MAX, &data, &size) : -ENOMEM;
                        if (r < 0)
                                log_error_errno(r, "addons: cannot read '%s': %m", path ? path : dir);
                        else if ((r = addon_catalog_parse(path, data, size, cat, &err)) < 0)
                                log_error_errno(r, "addons: %s", err ? err : "invalid definition");
                }
                free(names[i]);
        }
        free(names);
        if (r < 0)
                return r;
        _cleanup_free_ char *err = NULL;
        r = addon_catalog_validate(cat, &err);
        if (r < 0)
                return log_error_errno(r, "addons: %s", err ? err : "invalid catalogue");
        return 0;
}

int addons_select(const struct profile *p, struct addon_catalog *all, struct addons_plan *ret,
                  char **ret_error) {
        _cleanup_strv_free_ char **ship = NULL;
        if (p->addons.ship) {
                if (strv_extend(&ship, p->addons.ship) < 0)
                        return -ENOMEM;
        } else
                for (size_t i = 0; i < all->n_defs; i++)
                        if (strv_push(&ship, all->defs[i].name) < 0)
                                return -ENOMEM;
        for (char **s = ship; s && *s; s++)
                if (!addon_catalog_find(all, *s))
                        return set_error(ret_error, -ENOENT, "%s: addons.ship: '%s' is not in the catalogue",
                                         p->path, *s);
        /* Whatever a shipped add-on depends on by name is shipped too. */
        for (size_t i = 0; i < strv_length(ship); i++) {
                const struct addon_def *d = addon_catalog_find(all, ship[i]);
                for (char **dep = d->depends; *dep; dep++)
                        if (addon_catalog_find(all, *dep) && !strv_contains(ship, *dep))
                                return set_error(ret_error, -EINVAL,
                                                 "%s: addons.ship: %s depends on %s, which is not shipped",
                                                 p->path, d->name, *dep);
        }
        for (size_t i = 0; i < all->n_defs;) {
                if (!strv_contains(ship, all->defs[i].name)) {
                        i++;
                        continue;
                }
                int r = addon_catalog_add(&ret->source, &all->defs[i], ret_error);
                if (r < 0)
                        return r;
                /* addon_catalog_add() zeroed the slot: drop it. */
                memmove(&all->defs[i], &all->defs[i + 1], (all->n_defs - i - 1) * sizeof *all->defs);
                all->n_defs--;
        }
        _cleanup_strv_free_ char **defaults = NULL;
        if (p->addons.defaults) {
                for (char **s = p->addons.defaults; *s; s++)
                        if (!addon_catalog_find(&ret->source, *s))
                                return set_error(ret_error, -ENOENT,
                                                 "%s: addons.default: '%s' is not shipped (addons.ship)",
                                                 p->path, *s);
                if (strv_extend(&defaults, p->addons.defaults) < 0 ||
                    (!defaults && !(defaults = calloc(1, sizeof(char *)))))
                        return -ENOMEM;
        } else if (addon_default_selection(&ret->source, &defaults) < 0)
                return -ENOMEM;
        _cleanup_free_ char *err = NULL;
        int r = addon_order(&ret->source, defaults, &ret->defaults, &err);
        if (r < 0)
                return set_error(ret_error, r, "%s: the default add-ons: %s", p->path,
                                 err ? err : "invalid");
        /* The image's catalogue marks exactly the default selection. */
        for (size_t i = 0; i < ret->source.n_defs; i++)
                ret->source.defs[i].is_default = strv_contains(ret->defaults, ret->source.defs[i].name);
        return 0;
}

char *addons_manifest_file_name(const struct addon_manifest *m, size_t i) {
        const char *src = m->file ? m->file : m->url;
        size_t len = strcspn(src, "?#");
        const char *base = src;
        for (const char *s = src; s < src + len; s++)
                if (*s == '/')
                        base = s + 1;
        size_t blen = (size_t) (src + len - base);
        if (blen == 0 || blen > 100)
                return strdupf("%02zu-manifest.yaml", i + 1);
        _cleanup_free_ char *b = strndup(base, blen);
        if (!b)
                return NULL;
        for (char *s = b; *s; s++)
                if (!(isalnum((unsigned char) *s) || *s == '.' || *s == '-' || *s == '_'))
                        *s = '_';
        return strdupf("%02zu-%s", i + 1, b);
}

/* An unpinned URL (no sha256 in the definition or the lock): fetch
 * downloads it once, trusting it on first use, and the lock pins it from
 * then on. Only https. */
static int fetch_unpinned(const char *url, const char *cas_dir, char out[SHA256_HEX_LEN + 1]) {
        if (strncmp(url, "https://", 8) != 0)
                return log_error_errno(-EPROTONOSUPPORT,
                                       "addons: %s: a manifest without a sha256 must be an https:// URL",
                                       url);
        struct http_request req = {
                .url = url,
                .timeout_ms = 300000,
                .connect_timeout_ms = 15000,
                .max_response = MANIFEST_MAX,
                .follow_redirects = true,
        };
        struct http_response res = {0};
        int r = http_ops->perform(&req, &res);
        if (r >= 0 && res.status != 200)
                r = -EPROTO;
        if (r < 0) {
                log_error_errno(r, "addons: cannot download %s: %s", url,
                                res.error    ? res.error
                                : res.status ? "HTTP error"
                                             : "failed");
                http_response_done(&res);
                return r;
        }
        r = sha256_buffer(res.body, res.body_size, out);
        _cleanup_free_ char *tmpdir = strdupf("%s/../tmp", cas_dir), *tmp = NULL, *err = NULL;
        if (r >= 0 && (!tmpdir || !(tmp = strdupf("%s/manifest-%s", tmpdir, out))))
                r = -ENOMEM;
        if (r >= 0 && (r = mkdir_p(tmpdir, 0755)) >= 0 &&
            (r = write_file_atomic(tmp, res.body, res.body_size, 0644)) >= 0) {
                r = cas_import_file(tmp, out, cas_dir, &err);
                (void) unlink(tmp);
        }
        http_response_done(&res);
        if (r < 0)
                return log_error_errno(r, "addons: cannot store %s: %s", url, err ? err : strerror(-r));
        log_info("addons: %s: sha256:%s (not pinned in its definition: the lock pins it now)", url, out);
        return 0;
}

/* The bytes of one manifest, verified. */
static int manifest_bytes(const struct addon_def *d, const struct addon_manifest *m, const char *catalog_dir,
                          const char *cas_dir, const struct lock_arch *lock, bool offline, char **ret,
                          size_t *ret_size, char ret_sha[SHA256_HEX_LEN + 1]) {
        int r;
        if (m->file) {
                _cleanup_free_ char *path = strdupf("%s/%s", catalog_dir, m->file);
                if (!path)
                        return log_oom();
                r = read_regular_file(path, MANIFEST_MAX, ret, ret_size);
                if (r < 0)
                        return log_error_errno(r, "addons: %s: cannot read the manifest '%s': %m", d->name,
                                               path);
                r = sha256_buffer(*ret, *ret_size, ret_sha);
                if (r >= 0 && m->sha256 && !streq(m->sha256, ret_sha))
                        return log_error_errno(-EBADMSG,
                                               "addons: %s: '%s' has sha256 %s, the definition says %s",
                                               d->name, path, ret_sha, m->sha256);
                return r;
        }
        const char *want = m->sha256;
        const char *locked = lock_manifest_sha256(lock, m->url);
        if (want && locked && !streq(want, locked))
                return log_error_errno(
                        -EBADMSG,
                        "addons: %s: %s: the definition pins sha256 %s but the lock has %s (run "
                        "kubeseed fetch)",
                        d->name, m->url, want, locked);
        if (!want)
                want = locked;
        if (!want && offline)
                return log_error_errno(
                        -ENOENT,
                        "addons: %s: %s has no sha256 in its definition or the lock (run kubeseed "
                        "fetch)",
                        d->name, m->url);
        if (!want) {
                r = fetch_unpinned(m->url, cas_dir, ret_sha);
                if (r < 0)
                        return r;
        } else {
                snprintf(ret_sha, SHA256_HEX_LEN + 1, "%s", want);
                if (offline && !cas_has(cas_dir, want))
                        return log_error_errno(-ENOENT, "addons: %s: %s (sha256:%s) is not in the store",
                                               d->name, m->url, want);
                /* Pinned: the digest guards the bytes, so a plain http://
                 * mirror of the manifests is acceptable. */
                struct download_opts o = {.label = m->url, .follow_redirects = true, .allow_http = true};
                _cleanup_free_ char *err = NULL;
                r = download_to_cas(m->url, want, cas_dir, &o, NULL, &err);
                if (r < 0)
                        return log_error_errno(r, "addons: %s: %s", d->name, err ? err : m->url);
        }
        _cleanup_free_ char *path = cas_path(cas_dir, ret_sha);
        if (!path)
                return log_oom();
        r = read_regular_file(path, MANIFEST_MAX, ret, ret_size);
        if (r < 0)
                return log_error_errno(r, "addons: cannot read '%s' from the store: %m", path);
        return 0;
}

static int copy_str(char **dst, const char *src) {
        if (!src)
                return 0;
        *dst = strdup(src);
        return *dst ? 0 : -ENOMEM;
}

static int copy_strv(char ***dst, char *const *src) {
        *dst = calloc(1, sizeof(char *));
        if (!*dst)
                return -ENOMEM;
        return strv_extend(dst, src);
}

/* The image's definition: the source one with files and digests. */
static int shipped_def(const struct addon_def *src, struct addon_def *out) {
        *out = (struct addon_def){.is_default = src->is_default, .timeout_sec = src->timeout_sec};
        int r = 0;
        if ((r = copy_str(&out->name, src->name)) < 0 || (r = copy_str(&out->category, src->category)) < 0 ||
            (r = copy_str(&out->description, src->description)) < 0 ||
            (r = copy_str(&out->origin, src->origin)) < 0 ||
            (r = copy_strv(&out->depends, src->depends)) < 0 ||
            (r = copy_strv(&out->images, src->images)) < 0)
                return r;
        out->manifests = calloc(src->n_manifests, sizeof *out->manifests);
        out->checks = calloc(src->n_checks ? src->n_checks : 1, sizeof *out->checks);
        if (!out->manifests || !out->checks)
                return -ENOMEM;
        for (size_t i = 0; i < src->n_manifests; i++) {
                const struct addon_manifest *s = &src->manifests[i];
                struct addon_manifest *m = &out->manifests[out->n_manifests++];
                m->server_side = s->server_side;
                if (!(m->file = addons_manifest_file_name(s, i)))
                        return -ENOMEM;
                m->subs = calloc(s->n_subs ? s->n_subs : 1, sizeof *m->subs);
                if (!m->subs)
                        return -ENOMEM;
                for (size_t j = 0; j < s->n_subs; j++, m->n_subs++)
                        if ((r = copy_str(&m->subs[j].find, s->subs[j].find)) < 0 ||
                            (r = copy_str(&m->subs[j].with, s->subs[j].with)) < 0)
                                return r;
        }
        for (size_t i = 0; i < src->n_checks; i++, out->n_checks++) {
                const struct addon_check *s = &src->checks[i];
                struct addon_check *c = &out->checks[i];
                if ((r = copy_str(&c->kind, s->kind)) < 0 ||
                    (r = copy_str(&c->namespace, s->namespace)) < 0 ||
                    (r = copy_str(&c->name, s->name)) < 0 || (r = copy_str(&c->jsonpath, s->jsonpath)) < 0 ||
                    (r = copy_str(&c->equals, s->equals)) < 0)
                        return r;
        }
        return 0;
}

int addons_stage(const struct profile *p, const char *cas_dir, const char *root,
                 const struct lock_arch *lock, bool offline, struct lock_arch *record, struct stagekey *key,
                 struct addons_plan *ret) {
        if (!p->has_addons)
                return 0;
        if (!p->kubernetes.version)
                return log_error_errno(-EINVAL, "%s: addons need a kubernetes section (kubernetes.version)",
                                       p->path);
        struct addons_plan plan = {0};
        _cleanup_addon_catalog_ struct addon_catalog all = {0};
        _cleanup_free_ char *err = NULL, *catalog = NULL, *defaults = NULL;
        size_t catalog_size = 0;
        int r = -ENOMEM;
        plan.catalog_dir = addons_catalog_dir(p);
        if (!plan.catalog_dir)
                goto fail;
        r = addons_load_catalog(plan.catalog_dir, &all);
        if (r < 0)
                goto fail;
        r = addons_select(p, &all, &plan, &err);
        if (r < 0) {
                log_error_errno(r, "addons: %s", err ? err : "invalid selection");
                goto fail;
        }
        /* One value of every variable, to check each substitution's find. */
        const struct addon_vars probe = {"10.244.0.0/16", "10.96.0.0/12", "kubernetes", 1};
        for (size_t i = 0; i < plan.source.n_defs; i++) {
                const struct addon_def *d = &plan.source.defs[i];
                struct addon_def out;
                r = shipped_def(d, &out);
                if (r >= 0)
                        r = addon_catalog_add(&plan.shipped, &out, NULL);
                addon_def_done(&out);
                if (r < 0)
                        goto fail;
                struct addon_def *sd = &plan.shipped.defs[plan.shipped.n_defs - 1];
                for (size_t j = 0; j < d->n_manifests; j++) {
                        const struct addon_manifest *m = &d->manifests[j];
                        _cleanup_free_ char *data = NULL, *text = NULL, *origin = NULL;
                        size_t size = 0;
                        char sha[SHA256_HEX_LEN + 1];
                        r = manifest_bytes(d, m, plan.catalog_dir, cas_dir, lock, offline, &data, &size,
                                           sha);
                        if (r < 0)
                                goto fail;
                        free(err);
                        err = NULL;
                        r = addon_substitute(data, size, m, &probe, &text, NULL, &err);
                        if (r < 0) {
                                log_error_errno(r, "addons: %s: %s: %s", d->name, m->url ? m->url : m->file,
                                                err ? err : "substitution failed");
                                goto fail;
                        }
                        origin = strdupf("add-on %s: %s", d->name, m->url ? m->url : m->file);
                        if (!origin || !(sd->manifests[j].sha256 = strdup(sha))) {
                                r = log_oom();
                                goto fail;
                        }
                        free(err);
                        err = NULL;
                        r = manifest_collect_images(origin, data, size, &plan.images, &err);
                        if (r < 0) {
                                log_error_errno(r, "addons: %s", err ? err : "cannot walk the manifest");
                                goto fail;
                        }
                        if (m->url && record && (r = lock_arch_add_manifest(record, m->url, sha)) < 0)
                                goto fail;
                        if (key && (r = stagekey_add(key, "addon-manifest", sha)) < 0)
                                goto fail;
                        if (root) {
                                _cleanup_free_ char *path =
                                        strdupf("%s/%s/%s", ADDON_IMAGE_DIR, d->name, sd->manifests[j].file);
                                if (!path) {
                                        r = log_oom();
                                        goto fail;
                                }
                                r = write_file_atomic_root(root, path, data, size, 0644);
                                if (r < 0) {
                                        log_error_errno(r, "addons: cannot write %s in the image: %m", path);
                                        goto fail;
                                }
                        }
                        log_info("addons: %s: %s (sha256:%.12s…)", d->name, m->url ? m->url : m->file, sha);
                }
                for (char **im = d->images; *im; im++) {
                        _cleanup_free_ char *origin = strdupf("add-on %s: images", d->name);
                        free(err);
                        err = NULL;
                        r = origin ? image_list_add(&plan.images, *im, origin, &err) : -ENOMEM;
                        if (r < 0) {
                                log_error_errno(r, "addons: %s", err ? err : "invalid image");
                                goto fail;
                        }
                }
        }
        r = addon_catalog_render(&plan.shipped, &catalog, &catalog_size);
        if (r < 0) {
                log_error_errno(r, "addons: cannot render catalog.yaml");
                goto fail;
        }
        if (key && (r = stagekey_add_data(key, "addon-catalog", catalog, catalog_size)) < 0)
                goto fail;
        if (root &&
            (r = write_file_atomic_root(root, ADDON_CATALOG_PATH, catalog, catalog_size, 0644)) < 0) {
                log_error_errno(r, "addons: cannot write %s in the image: %m", ADDON_CATALOG_PATH);
                goto fail;
        }
        defaults = strv_join(plan.defaults, ", ");
        log_info("addons: %zu shipped, %zu images named, default: %s", plan.shipped.n_defs,
                 plan.images.n_items, defaults && *defaults ? defaults : "(none)");
        *ret = plan;
        return 1;
fail:
        addons_plan_done(&plan);
        return r < 0 ? r : -EINVAL;
}
