/* SPDX-License-Identifier: MIT */
#include "addon.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "strv.h"
#include "yamlemit.h"

static const char *const categories[] = {"cni", "storage", "ui", "other", NULL};

bool addon_name_valid(const char *s) {
        size_t n = s ? strlen(s) : 0;
        if (n == 0 || n > ADDON_NAME_MAX || s[0] == '-' || s[n - 1] == '-')
                return false;
        for (; *s; s++)
                if (!(islower((unsigned char) *s) || isdigit((unsigned char) *s) || *s == '-'))
                        return false;
        return true;
}

bool addon_category_valid(const char *s) {
        return s && strv_contains((char **) categories, s);
}

static bool is_sha256_hex(const char *s) {
        if (!s || strlen(s) != SHA256_HEX_LEN)
                return false;
        for (; *s; s++)
                if (!isdigit((unsigned char) *s) && !(*s >= 'a' && *s <= 'f'))
                        return false;
        return true;
}

int addon_parse_duration(const char *s, unsigned *ret) {
        if (!s || !isdigit((unsigned char) *s))
                return -EINVAL;
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno)
                return -EINVAL;
        unsigned long long mul = 1;
        if (streq(end, "s") || !*end)
                mul = 1;
        else if (streq(end, "m"))
                mul = 60;
        else if (streq(end, "h"))
                mul = 3600;
        else
                return -EINVAL;
        if (v == 0 || v > 86400 || v * mul > 86400)
                return -EINVAL;
        *ret = (unsigned) (v * mul);
        return 0;
}

/* ---- parsing --------------------------------------------------------------- */

struct pctx {
        const char *filename;
        char **error;
};

_printf_(4, 5) static int perr_at(const struct pctx *c, size_t line, size_t column, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *msg = vstrdupf(fmt, ap);
        va_end(ap);
        return set_error(c->error, -EBADMSG, "%s:%zu:%zu: %s", c->filename, line, column,
                         msg ? msg : "invalid");
}

#define perr(c, n, ...) perr_at((c), (n) ? (n)->line : 0, (n) ? (n)->column : 0, __VA_ARGS__)

static int check_keys(const struct pctx *c, const struct ynode *map, const char *where,
                      const char *const *known) {
        if (!map || map->kind != YNODE_MAPPING)
                return perr(c, map, "%s: expected a mapping", where);
        for (size_t i = 0; i < map->n_items; i++)
                if (!strv_contains((char **) known, map->keys[i])) {
                        _cleanup_free_ char *k = ystr_printable(map->keys[i], 40);
                        _cleanup_free_ char *list = strv_join((char **) known, ", ");
                        return perr_at(c, map->key_lines[i], map->key_columns[i],
                                       "%s: unknown key '%s' (expected one of: %s)", where, k ? k : "?",
                                       list ? list : "");
                }
        return 0;
}

/* A scalar member: required or not; *ret stays NULL when absent. */
static int get_str(const struct pctx *c, const struct ynode *map, const char *key, const char *where,
                   bool required, size_t max, char **ret) {
        const struct ynode *n = ynode_get(map, key);
        if (!n) {
                if (required)
                        return perr(c, map, "%s.%s: missing", where, key);
                return 0;
        }
        if (n->kind != YNODE_SCALAR || ynode_is_null(n) || !*n->value || strlen(n->value) > max)
                return perr(c, n, "%s.%s: expected a string of 1..%zu characters", where, key, max);
        *ret = strdup(n->value);
        return *ret ? 0 : -ENOMEM;
}

static int get_bool(const struct pctx *c, const struct ynode *map, const char *key, const char *where,
                    bool *ret) {
        const struct ynode *n = ynode_get(map, key);
        if (!n)
                return 0;
        if (n->kind == YNODE_SCALAR && n->plain && streq(n->value, "true"))
                *ret = true;
        else if (n->kind == YNODE_SCALAR && n->plain && streq(n->value, "false"))
                *ret = false;
        else
                return perr(c, n, "%s.%s: expected true or false", where, key);
        return 0;
}

static int get_list(const struct pctx *c, const struct ynode *map, const char *key, const char *where,
                    bool (*check)(const char *), const char *expected, char ***ret) {
        const struct ynode *n = ynode_get(map, key);
        char **v = NULL;
        if (n && !(n->kind == YNODE_SCALAR && ynode_is_null(n))) {
                if (n->kind != YNODE_SEQUENCE || n->n_items > ADDON_LIST_MAX)
                        return perr(c, n, "%s.%s: expected a list of at most %u items", where, key,
                                    ADDON_LIST_MAX);
                for (size_t i = 0; i < n->n_items; i++) {
                        const struct ynode *it = n->items[i];
                        if (it->kind != YNODE_SCALAR || (check && !check(it->value)) ||
                            strv_contains(v, it->value)) {
                                strv_free(v);
                                return perr(c, it, "%s.%s[%zu]: expected %s (each once)", where, key, i,
                                            expected);
                        }
                        if (strv_push(&v, it->value) < 0) {
                                strv_free(v);
                                return -ENOMEM;
                        }
                }
        }
        if (!v && !(v = calloc(1, sizeof *v)))
                return -ENOMEM;
        *ret = v;
        return 0;
}

static bool dep_valid(const char *s) {
        return addon_name_valid(s);
}

static bool image_valid(const char *s) {
        return *s && strlen(s) < 512 && !strpbrk(s, " \t\n");
}

static const char *const variables[] = {"pod-subnet",  "service-subnet", "cluster-name",
                                        "node-count",  "replicas",       "mon-count",
                                        "single-node", "multi-node",     NULL};

static int parse_manifest(const struct pctx *c, const struct ynode *n, const char *where,
                          struct addon_manifest *m) {
        static const char *const keys[] = {"url", "file", "sha256", "server-side", "substitute", NULL};
        int r = check_keys(c, n, where, keys);
        if (r < 0)
                return r;
        if ((r = get_str(c, n, "url", where, false, 2048, &m->url)) < 0 ||
            (r = get_str(c, n, "file", where, false, 255, &m->file)) < 0 ||
            (r = get_str(c, n, "sha256", where, false, SHA256_HEX_LEN, &m->sha256)) < 0 ||
            (r = get_bool(c, n, "server-side", where, &m->server_side)) < 0)
                return r;
        if (!m->url == !m->file)
                return perr(c, n, "%s: expected exactly one of url or file", where);
        if (m->url && strncmp(m->url, "https://", 8) != 0 && strncmp(m->url, "http://", 7) != 0)
                return perr(c, ynode_get(n, "url"), "%s.url: expected an http:// or https:// URL", where);
        if (m->file && (m->file[0] == '/' || strstr(m->file, "..") || streq(m->file, "catalog.yaml")))
                return perr(c, ynode_get(n, "file"),
                            "%s.file: expected a path relative to the definition, without '..'", where);
        if (m->sha256 && !is_sha256_hex(m->sha256))
                return perr(c, ynode_get(n, "sha256"), "%s.sha256: expected 64 lowercase hex digits", where);
        const struct ynode *subs = ynode_get(n, "substitute");
        if (!subs)
                return 0;
        if (subs->kind != YNODE_SEQUENCE || subs->n_items > ADDON_LIST_MAX)
                return perr(c, subs, "%s.substitute: expected a list of at most %u {find, with}", where,
                            ADDON_LIST_MAX);
        m->subs = calloc(subs->n_items ? subs->n_items : 1, sizeof *m->subs);
        if (!m->subs)
                return -ENOMEM;
        for (size_t i = 0; i < subs->n_items; i++) {
                _cleanup_free_ char *w = strdupf("%s.substitute[%zu]", where, i);
                static const char *const skeys[] = {"find", "with", NULL};
                struct addon_subst *s = &m->subs[m->n_subs];
                if (!w)
                        return -ENOMEM;
                if ((r = check_keys(c, subs->items[i], w, skeys)) < 0)
                        return r;
                r = get_str(c, subs->items[i], "find", w, true, 4096, &s->find);
                m->n_subs++;
                if (r >= 0)
                        r = get_str(c, subs->items[i], "with", w, true, 4096, &s->with);
                if (r < 0)
                        return r;
                /* Every variable must be one the first boot knows. */
                struct addon_vars probe = {"10.0.0.0/8", "10.96.0.0/12", "c", 1};
                _cleanup_free_ char *out = NULL, *e = NULL;
                if (addon_expand_vars(s->with, &probe, &out, &e) < 0)
                        return perr(c, ynode_get(subs->items[i], "with"), "%s.with: %s", w,
                                    e ? e : "invalid");
        }
        return 0;
}

static int parse_check(const struct pctx *c, const struct ynode *n, const char *where,
                       struct addon_check *k) {
        static const char *const keys[] = {"kind", "namespace", "name", "jsonpath", "equals", NULL};
        int r = check_keys(c, n, where, keys);
        if (r < 0 || (r = get_str(c, n, "kind", where, true, 128, &k->kind)) < 0 ||
            (r = get_str(c, n, "namespace", where, true, 63, &k->namespace)) < 0 ||
            (r = get_str(c, n, "name", where, true, 253, &k->name)) < 0 ||
            (r = get_str(c, n, "jsonpath", where, false, 256, &k->jsonpath)) < 0 ||
            (r = get_str(c, n, "equals", where, false, 256, &k->equals)) < 0)
                return r;
        for (const char *p = k->kind; *p; p++)
                if (!islower((unsigned char) *p) && !isdigit((unsigned char) *p) && *p != '.' && *p != '-')
                        return perr(c, ynode_get(n, "kind"),
                                    "%s.kind: expected a resource name (daemonset, "
                                    "deployment, statefulset, or plural.group with jsonpath)",
                                    where);
        bool builtin =
                streq(k->kind, "deployment") || streq(k->kind, "daemonset") || streq(k->kind, "statefulset");
        if (!k->jsonpath != !k->equals)
                return perr(c, n, "%s: jsonpath and equals go together", where);
        if (!builtin && !k->jsonpath)
                return perr(c, n,
                            "%s: kind '%s' needs jsonpath and equals (only deployment, daemonset and "
                            "statefulset have a built-in readiness rule)",
                            where, k->kind);
        if (k->jsonpath && (k->jsonpath[0] != '{' || k->jsonpath[strlen(k->jsonpath) - 1] != '}'))
                return perr(c, ynode_get(n, "jsonpath"),
                            "%s.jsonpath: expected a kubectl jsonpath like "
                            "'{.status.phase}'",
                            where);
        return 0;
}

int addon_parse(const char *filename, const struct ynode *doc, struct addon_def *ret, char **ret_error) {
        struct pctx c = {filename, ret_error};
        static const char *const keys[] = {"name",      "category", "description", "default", "depends",
                                           "manifests", "images",   "ready",       NULL};
        struct addon_def d = {0};
        _cleanup_free_ char *where = NULL;
        int r = check_keys(&c, doc, "add-on", keys);
        if (r < 0)
                return r;
        if ((r = get_str(&c, doc, "name", "add-on", true, ADDON_NAME_MAX, &d.name)) < 0)
                goto fail;
        if (!addon_name_valid(d.name)) {
                r = perr(&c, ynode_get(doc, "name"),
                         "name: expected lowercase letters, digits and '-' (at most %u)", ADDON_NAME_MAX);
                goto fail;
        }
        where = strdup(d.name);
        if (!where) {
                r = -ENOMEM;
                goto fail;
        }
        if ((r = get_str(&c, doc, "category", where, true, 16, &d.category)) < 0)
                goto fail;
        if (!addon_category_valid(d.category)) {
                r = perr(&c, ynode_get(doc, "category"), "%s.category: expected cni, storage, ui or other",
                         where);
                goto fail;
        }
        if ((r = get_str(&c, doc, "description", where, false, 1024, &d.description)) < 0 ||
            (r = get_bool(&c, doc, "default", where, &d.is_default)) < 0 ||
            (r = get_list(&c, doc, "depends", where, dep_valid, "an add-on name or a category",
                          &d.depends)) < 0 ||
            (r = get_list(&c, doc, "images", where, image_valid, "an image reference", &d.images)) < 0)
                goto fail;
        if (strv_contains(d.depends, d.name)) {
                r = perr(&c, ynode_get(doc, "depends"), "%s.depends: an add-on cannot depend on itself",
                         where);
                goto fail;
        }
        const struct ynode *ms = ynode_get(doc, "manifests");
        if (!ms || ms->kind != YNODE_SEQUENCE || ms->n_items == 0 || ms->n_items > ADDON_LIST_MAX) {
                r = perr(&c, ms ? ms : doc, "%s.manifests: expected a list of 1..%u manifests", where,
                         ADDON_LIST_MAX);
                goto fail;
        }
        d.manifests = calloc(ms->n_items, sizeof *d.manifests);
        if (!d.manifests) {
                r = -ENOMEM;
                goto fail;
        }
        for (size_t i = 0; i < ms->n_items; i++) {
                _cleanup_free_ char *w = strdupf("%s.manifests[%zu]", where, i);
                d.n_manifests++;
                r = w ? parse_manifest(&c, ms->items[i], w, &d.manifests[i]) : -ENOMEM;
                if (r < 0)
                        goto fail;
        }
        d.timeout_sec = ADDON_TIMEOUT_DEFAULT;
        const struct ynode *ready = ynode_get(doc, "ready");
        if (ready) {
                static const char *const rkeys[] = {"timeout", "checks", NULL};
                _cleanup_free_ char *w = strdupf("%s.ready", where), *t = NULL;
                if (!w) {
                        r = -ENOMEM;
                        goto fail;
                }
                if ((r = check_keys(&c, ready, w, rkeys)) < 0 ||
                    (r = get_str(&c, ready, "timeout", w, false, 16, &t)) < 0)
                        goto fail;
                if (t && addon_parse_duration(t, &d.timeout_sec) < 0) {
                        r = perr(&c, ynode_get(ready, "timeout"),
                                 "%s.timeout: expected a duration like 90s, 10m or 1h (at most 24h)", w);
                        goto fail;
                }
                const struct ynode *ch = ynode_get(ready, "checks");
                if (ch) {
                        if (ch->kind != YNODE_SEQUENCE || ch->n_items > ADDON_LIST_MAX) {
                                r = perr(&c, ch, "%s.checks: expected a list of at most %u checks", w,
                                         ADDON_LIST_MAX);
                                goto fail;
                        }
                        d.checks = calloc(ch->n_items ? ch->n_items : 1, sizeof *d.checks);
                        if (!d.checks) {
                                r = -ENOMEM;
                                goto fail;
                        }
                        for (size_t i = 0; i < ch->n_items; i++) {
                                _cleanup_free_ char *cw = strdupf("%s.checks[%zu]", w, i);
                                d.n_checks++;
                                r = cw ? parse_check(&c, ch->items[i], cw, &d.checks[i]) : -ENOMEM;
                                if (r < 0)
                                        goto fail;
                        }
                }
        }
        d.origin = strdupf("%s:%zu", filename, doc->line);
        if (!d.origin) {
                r = -ENOMEM;
                goto fail;
        }
        *ret = d;
        return 0;
fail:
        addon_def_done(&d);
        return r;
}

int addon_catalog_add(struct addon_catalog *cat, struct addon_def *d, char **ret_error) {
        const struct addon_def *old = addon_catalog_find(cat, d->name);
        if (old)
                return set_error(ret_error, -EEXIST, "%s: add-on '%s' is already defined at %s", d->origin,
                                 d->name, old->origin);
        if (cat->n_defs >= ADDON_MAX)
                return set_error(ret_error, -E2BIG, "%s: more than %u add-ons", d->origin, ADDON_MAX);
        struct addon_def *n = reallocarray(cat->defs, cat->n_defs + 1, sizeof *n);
        if (!n)
                return -ENOMEM;
        cat->defs = n;
        cat->defs[cat->n_defs++] = *d;
        *d = (struct addon_def){0};
        return 0;
}

int addon_catalog_parse(const char *filename, const char *data, size_t size, struct addon_catalog *cat,
                        char **ret_error) {
        struct ynode **docs = NULL;
        size_t n = 0;
        _cleanup_free_ char *e = NULL;
        static const struct yaml_limits limits = {ADDON_CATALOG_MAX, 32, 200000, ADDON_MAX};
        int r = yaml_parse_documents(data, size, &limits, &docs, &n, &e);
        if (r < 0)
                return set_error(ret_error, r, "%s:%s", filename, e ? e : " cannot parse");
        for (size_t i = 0; r >= 0 && i < n; i++) {
                if ((docs[i]->kind == YNODE_MAPPING && docs[i]->n_items == 0) ||
                    (docs[i]->kind == YNODE_SCALAR && ynode_is_null(docs[i])))
                        continue; /* an empty document (a trailing ---) */
                struct addon_def d = {0};
                r = addon_parse(filename, docs[i], &d, ret_error);
                if (r >= 0) {
                        r = addon_catalog_add(cat, &d, ret_error);
                        addon_def_done(&d);
                }
        }
        ynode_free_documents(docs, n);
        return r;
}

const struct addon_def *addon_catalog_find(const struct addon_catalog *cat, const char *name) {
        for (size_t i = 0; cat && i < cat->n_defs; i++)
                if (streq(cat->defs[i].name, name))
                        return &cat->defs[i];
        return NULL;
}

void addon_def_done(struct addon_def *d) {
        if (!d)
                return;
        free(d->name);
        free(d->category);
        free(d->description);
        free(d->origin);
        strv_free(d->depends);
        strv_free(d->images);
        for (size_t i = 0; i < d->n_manifests; i++) {
                struct addon_manifest *m = &d->manifests[i];
                free(m->url);
                free(m->file);
                free(m->sha256);
                for (size_t j = 0; j < m->n_subs; j++) {
                        free(m->subs[j].find);
                        free(m->subs[j].with);
                }
                free(m->subs);
        }
        free(d->manifests);
        for (size_t i = 0; i < d->n_checks; i++) {
                free(d->checks[i].kind);
                free(d->checks[i].namespace);
                free(d->checks[i].name);
                free(d->checks[i].jsonpath);
                free(d->checks[i].equals);
        }
        free(d->checks);
        *d = (struct addon_def){0};
}

void addon_catalog_done(struct addon_catalog *cat) {
        for (size_t i = 0; i < cat->n_defs; i++)
                addon_def_done(&cat->defs[i]);
        free(cat->defs);
        *cat = (struct addon_catalog){0};
}

int addon_default_selection(const struct addon_catalog *cat, char ***ret) {
        char **v = calloc(1, sizeof *v);
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < cat->n_defs; i++)
                if (cat->defs[i].is_default && strv_push(&v, cat->defs[i].name) < 0) {
                        strv_free(v);
                        return -ENOMEM;
                }
        *ret = v;
        return 0;
}

/* ---- ordering -------------------------------------------------------------- */

/* Direct dependencies of `d` among `selected` (indexes into selected), with
 * the implicit one: every non-CNI add-on after the selected CNI. */
static int direct_deps(const struct addon_catalog *cat, char *const *selected, const struct addon_def *d,
                       bool deps[ADDON_MAX], char **ret_error) {
        size_t n = strv_length(selected);
        memset(deps, 0, sizeof(bool) * ADDON_MAX);
        for (char **dep = d->depends; *dep; dep++) {
                bool found = false;
                if (addon_category_valid(*dep)) {
                        for (size_t j = 0; j < n; j++) {
                                const struct addon_def *o = addon_catalog_find(cat, selected[j]);
                                if (o && o != d && streq(o->category, *dep))
                                        deps[j] = found = true;
                        }
                        if (!found)
                                return set_error(ret_error, -EINVAL,
                                                 "add-on %s needs a %s add-on, and none is selected",
                                                 d->name, *dep);
                } else {
                        for (size_t j = 0; j < n; j++)
                                if (streq(selected[j], *dep))
                                        deps[j] = found = true;
                        if (!found)
                                return set_error(ret_error, -EINVAL,
                                                 "add-on %s depends on %s, which is not selected", d->name,
                                                 *dep);
                }
        }
        if (!streq(d->category, "cni"))
                for (size_t j = 0; j < n; j++) {
                        const struct addon_def *o = addon_catalog_find(cat, selected[j]);
                        if (o && streq(o->category, "cni"))
                                deps[j] = true;
                }
        return 0;
}

int addon_order(const struct addon_catalog *cat, char *const *selected, char ***ret_ordered,
                char **ret_error) {
        size_t n = strv_length(selected);
        if (n > ADDON_MAX)
                return set_error(ret_error, -E2BIG, "more than %u add-ons selected", ADDON_MAX);
        const struct addon_def *defs[ADDON_MAX];
        bool deps[ADDON_MAX][ADDON_MAX];
        const char *cni = NULL;
        for (size_t i = 0; i < n; i++) {
                defs[i] = addon_catalog_find(cat, selected[i]);
                if (!defs[i]) {
                        _cleanup_free_ char *known = NULL;
                        char **names = NULL;
                        for (size_t j = 0; j < cat->n_defs; j++)
                                (void) strv_push(&names, cat->defs[j].name);
                        known = strv_join(names, ", ");
                        strv_free(names);
                        return set_error(ret_error, -EINVAL, "unknown add-on '%s' (this image has: %s)",
                                         selected[i], known && *known ? known : "none");
                }
                for (size_t j = 0; j < i; j++)
                        if (streq(selected[j], selected[i]))
                                return set_error(ret_error, -EINVAL, "add-on %s is selected twice",
                                                 selected[i]);
                if (streq(defs[i]->category, "cni")) {
                        if (cni)
                                return set_error(ret_error, -EINVAL,
                                                 "add-ons %s and %s are both CNI plugins: select one", cni,
                                                 selected[i]);
                        cni = selected[i];
                }
        }
        for (size_t i = 0; i < n; i++) {
                int r = direct_deps(cat, selected, defs[i], deps[i], ret_error);
                if (r < 0)
                        return r;
        }
        /* Kahn's algorithm, taking the first ready add-on in the given order. */
        bool placed[ADDON_MAX] = {false};
        _cleanup_strv_free_ char **out = calloc(1, sizeof(char *));
        if (!out)
                return -ENOMEM;
        for (size_t k = 0; k < n; k++) {
                size_t pick = n;
                for (size_t i = 0; i < n && pick == n; i++) {
                        if (placed[i])
                                continue;
                        bool ready = true;
                        for (size_t j = 0; j < n && ready; j++)
                                if (deps[i][j] && !placed[j])
                                        ready = false;
                        if (ready)
                                pick = i;
                }
                if (pick == n) {
                        char **cycle = NULL;
                        for (size_t i = 0; i < n; i++)
                                if (!placed[i])
                                        (void) strv_push(&cycle, selected[i]);
                        _cleanup_free_ char *names = strv_join(cycle, ", ");
                        strv_free(cycle);
                        return set_error(ret_error, -ELOOP, "add-ons depend on each other in a cycle: %s",
                                         names ? names : "?");
                }
                placed[pick] = true;
                if (strv_push(&out, selected[pick]) < 0)
                        return -ENOMEM;
        }
        *ret_ordered = TAKE_PTR(out);
        return 0;
}

bool addon_depends_on(const struct addon_catalog *cat, char *const *selected, const char *name,
                      const char *on) {
        size_t n = strv_length(selected);
        if (n > ADDON_MAX)
                return false;
        /* Transitive closure by a bounded walk from `name`. */
        bool seen[ADDON_MAX] = {false};
        size_t stack[ADDON_MAX], top = 0;
        for (size_t i = 0; i < n; i++)
                if (streq(selected[i], name)) {
                        stack[top++] = i;
                        seen[i] = true;
                }
        while (top > 0) {
                size_t i = stack[--top];
                const struct addon_def *d = addon_catalog_find(cat, selected[i]);
                bool deps[ADDON_MAX];
                if (!d || direct_deps(cat, selected, d, deps, NULL) < 0)
                        continue;
                for (size_t j = 0; j < n; j++) {
                        if (!deps[j] || seen[j])
                                continue;
                        if (streq(selected[j], on))
                                return true;
                        seen[j] = true;
                        stack[top++] = j;
                }
        }
        return false;
}

int addon_catalog_validate(const struct addon_catalog *cat, char **ret_error) {
        _cleanup_strv_free_ char **all = NULL;
        for (size_t i = 0; i < cat->n_defs; i++) {
                const struct addon_def *d = &cat->defs[i];
                for (char **dep = d->depends; *dep; dep++)
                        if (!addon_category_valid(*dep) && !addon_catalog_find(cat, *dep))
                                return set_error(ret_error, -EINVAL,
                                                 "%s: add-on %s depends on %s, which is "
                                                 "not defined",
                                                 d->origin, d->name, *dep);
        }
        /* A cycle shows in the order of any selection holding its members:
         * from every add-on, the closure of its dependencies (a category
         * taken by its first member in the catalogue). */
        for (size_t i = 0; i < cat->n_defs; i++) {
                _cleanup_strv_free_ char **sel = NULL, **ordered = NULL;
                const struct addon_def *d = &cat->defs[i];
                if (strv_push(&sel, d->name) < 0)
                        return -ENOMEM;
                for (size_t k = 0; k < strv_length(sel); k++) {
                        const struct addon_def *x = addon_catalog_find(cat, sel[k]);
                        for (char **dep = x->depends; *dep; dep++) {
                                if (!addon_category_valid(*dep)) {
                                        if (!strv_contains(sel, *dep) && strv_push(&sel, *dep) < 0)
                                                return -ENOMEM;
                                        continue;
                                }
                                bool have = false;
                                for (size_t m = 0; sel[m] && !have; m++) {
                                        const struct addon_def *y = addon_catalog_find(cat, sel[m]);
                                        have = y != x && streq(y->category, *dep);
                                }
                                for (size_t m = 0; m < cat->n_defs && !have; m++)
                                        if (&cat->defs[m] != x && streq(cat->defs[m].category, *dep)) {
                                                if (strv_push(&sel, cat->defs[m].name) < 0)
                                                        return -ENOMEM;
                                                have = true;
                                        }
                                if (!have)
                                        return set_error(
                                                ret_error, -EINVAL,
                                                "%s: add-on %s needs a %s add-on, and the catalogue "
                                                "has none",
                                                x->origin, x->name, *dep);
                        }
                }
                _cleanup_free_ char *e = NULL;
                int r = addon_order(cat, sel, &ordered, &e);
                if (r == -ELOOP)
                        return set_error(ret_error, r, "%s: %s", d->origin, e ? e : "cycle");
                /* Other errors (two CNIs pulled in) are a selection's problem,
                 * reported when such a selection is made. */
        }
        return 0;
}

/* ---- substitution ---------------------------------------------------------- */

int addon_expand_vars(const char *with, const struct addon_vars *v, char **ret, char **ret_error) {
        _cleanup_free_ char *out = NULL;
        size_t len = 0;
        _cleanup_fclose_ FILE *f = open_memstream(&out, &len);
        if (!f)
                return -ENOMEM;
        unsigned nodes = v->node_count ? v->node_count : 1;
        for (const char *p = with; *p;) {
                if (p[0] != '$' || p[1] != '{') {
                        fputc(*p++, f);
                        continue;
                }
                const char *end = strchr(p, '}');
                if (!end)
                        return set_error(ret_error, -EINVAL, "unterminated ${ in '%s'", with);
                _cleanup_free_ char *name = strndup(p + 2, (size_t) (end - p - 2));
                if (!name)
                        return -ENOMEM;
                if (streq(name, "pod-subnet") && v->pod_subnet)
                        fputs(v->pod_subnet, f);
                else if (streq(name, "service-subnet") && v->service_subnet)
                        fputs(v->service_subnet, f);
                else if (streq(name, "cluster-name") && v->cluster_name)
                        fputs(v->cluster_name, f);
                else if (streq(name, "node-count"))
                        fprintf(f, "%u", nodes);
                else if (streq(name, "replicas"))
                        fprintf(f, "%u", nodes < 3 ? nodes : 3);
                else if (streq(name, "mon-count"))
                        fprintf(f, "%u", nodes >= 3 ? 3 : 1);
                else if (streq(name, "single-node"))
                        fputs(nodes == 1 ? "true" : "false", f);
                else if (streq(name, "multi-node"))
                        fputs(nodes == 1 ? "false" : "true", f);
                else if (strv_contains((char **) variables, name))
                        return set_error(ret_error, -ENODATA, "${%s} has no value on this node", name);
                else {
                        _cleanup_free_ char *known = strv_join((char **) variables, ", ");
                        return set_error(ret_error, -EINVAL, "unknown variable ${%s} (known: %s)", name,
                                         known ? known : "");
                }
                p = end + 1;
        }
        if (fflush(f) != 0)
                return -ENOMEM;
        fclose(TAKE_PTR(f));
        *ret = TAKE_PTR(out);
        return 0;
}

int addon_substitute(const char *text, size_t size, const struct addon_manifest *m,
                     const struct addon_vars *v, char **ret, size_t *ret_size, char **ret_error) {
        _cleanup_free_ char *cur = malloc(size + 1);
        if (!cur)
                return -ENOMEM;
        memcpy(cur, text, size);
        cur[size] = '\0';
        size_t cur_size = size;
        if (memchr(text, '\0', size))
                return set_error(ret_error, -EBADMSG, "the manifest holds a NUL byte");
        for (size_t i = 0; i < m->n_subs; i++) {
                const char *find = m->subs[i].find;
                size_t flen = strlen(find);
                _cleanup_free_ char *with = NULL;
                int r = addon_expand_vars(m->subs[i].with, v, &with, ret_error);
                if (r < 0)
                        return r;
                if (!flen || !strstr(cur, find)) {
                        _cleanup_free_ char *p = ystr_printable(find, 80);
                        return set_error(ret_error, -ENOENT,
                                         "substitute[%zu]: '%s' does not occur in the manifest", i,
                                         p ? p : "?");
                }
                _cleanup_free_ char *out = NULL;
                size_t len = 0;
                _cleanup_fclose_ FILE *f = open_memstream(&out, &len);
                if (!f)
                        return -ENOMEM;
                const char *p = cur;
                for (const char *hit; (hit = strstr(p, find)); p = hit + flen) {
                        fwrite(p, 1, (size_t) (hit - p), f);
                        fputs(with, f);
                }
                fputs(p, f);
                if (fflush(f) != 0)
                        return -ENOMEM;
                fclose(TAKE_PTR(f));
                free(cur);
                cur = TAKE_PTR(out);
                cur_size = len;
        }
        *ret = TAKE_PTR(cur);
        if (ret_size)
                *ret_size = cur_size;
        return 0;
}

int addon_digest(const struct addon_def *d, char out[SHA256_HEX_LEN + 8]) {
        _cleanup_sha256_ struct sha256 *h = NULL;
        int r = sha256_new(&h);
        for (size_t i = 0; r >= 0 && i < d->n_manifests; i++) {
                const struct addon_manifest *m = &d->manifests[i];
                if (!m->sha256)
                        return -ENODATA;
                r = sha256_update(h, m->sha256, strlen(m->sha256) + 1);
                for (size_t j = 0; r >= 0 && j < m->n_subs; j++) {
                        r = sha256_update(h, m->subs[j].find, strlen(m->subs[j].find) + 1);
                        if (r >= 0)
                                r = sha256_update(h, m->subs[j].with, strlen(m->subs[j].with) + 1);
                }
        }
        char hex[SHA256_HEX_LEN + 1];
        if (r >= 0)
                r = sha256_final(h, hex, NULL);
        if (r < 0)
                return r;
        snprintf(out, SHA256_HEX_LEN + 8, "sha256:%s", hex);
        return 0;
}

/* ---- readiness ------------------------------------------------------------- */

/* What each built-in kind reports: wanted, updated, available. */
static const char *builtin_jsonpath(const char *kind) {
        if (streq(kind, "deployment"))
                return "{.spec.replicas} {.status.updatedReplicas} {.status.availableReplicas}";
        if (streq(kind, "daemonset"))
                return "{.status.desiredNumberScheduled} {.status.updatedNumberScheduled} "
                       "{.status.numberAvailable}";
        if (streq(kind, "statefulset"))
                return "{.spec.replicas} {.status.updatedReplicas} {.status.readyReplicas}";
        return NULL;
}

int addon_check_argv(const struct addon_check *c, const char *kubeconfig, char ***ret_argv) {
        const char *jp = c->jsonpath ? c->jsonpath : builtin_jsonpath(c->kind);
        if (!jp)
                return -EINVAL;
        _cleanup_strv_free_ char **v = NULL;
        if (strv_push(&v, "kubectl") < 0 || strv_push(&v, "--kubeconfig") < 0 ||
            strv_push(&v, kubeconfig) < 0 || strv_push(&v, "--namespace") < 0 ||
            strv_push(&v, c->namespace) < 0 || strv_push(&v, "get") < 0 || strv_push(&v, c->kind) < 0 ||
            strv_push(&v, c->name) < 0 || strv_pushf(&v, "--output=jsonpath=%s", jp) < 0)
                return -ENOMEM;
        *ret_argv = TAKE_PTR(v);
        return 0;
}

/* Three counts separated by single spaces, as kubectl prints the jsonpath
 * template "{a} {b} {c}": a field not reported yet is empty, and counts as
 * 0, so the position of each value matters. */
static int parse_counts(const char *s, unsigned long out[3]) {
        size_t len = strlen(s);
        while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r'))
                len--;
        const char *p = s, *end = s + len;
        for (size_t k = 0; k < 3; k++) {
                out[k] = 0;
                const char *q = p;
                while (q < end && *q != ' ')
                        q++;
                if (q - p > 9)
                        return -EBADMSG;
                for (const char *d = p; d < q; d++) {
                        if (!isdigit((unsigned char) *d))
                                return -EBADMSG;
                        out[k] = out[k] * 10 + (unsigned long) (*d - '0');
                }
                if (k < 2) {
                        if (q >= end)
                                return -EBADMSG;
                        p = q + 1;
                } else if (q != end)
                        return -EBADMSG;
        }
        return 0;
}

int addon_check_eval(const struct addon_check *c, const char *output, bool *ret_ready, char **ret_status) {
        static const char *const nothing = "  "; /* kubectl prints empty fields: nothing reported yet */
        const char *out = output ? output : "";
        if (c->jsonpath) {
                size_t n = strlen(out);
                while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
                        n--;
                _cleanup_free_ char *v = strndup(out, n), *p = NULL;
                if (!v || !(p = ystr_printable(v, 60)))
                        return -ENOMEM;
                *ret_ready = streq(v, c->equals);
                *ret_status = strdupf("%s is '%s' (ready when '%s')", c->jsonpath, p, c->equals);
                return *ret_status ? 0 : -ENOMEM;
        }
        unsigned long v[3];
        int k = parse_counts(*out ? out : nothing, v);
        if (k < 0) {
                _cleanup_free_ char *p = ystr_printable(out, 60);
                *ret_ready = false;
                *ret_status = strdupf("unexpected kubectl output '%s'", p ? p : "?");
                return *ret_status ? 0 : -ENOMEM;
        }
        const char *unit = streq(c->kind, "daemonset") ? "pods" : "replicas";
        const char *what = streq(c->kind, "statefulset") ? "ready" : "available";
        /* Nothing scheduled yet is not ready: the controller has not
         * reported, or no node matches. */
        *ret_ready = v[0] > 0 && v[1] >= v[0] && v[2] >= v[0];
        *ret_status = strdupf("%lu of %lu %s %s, %lu updated", v[2], v[0], unit, what, v[1]);
        return *ret_status ? 0 : -ENOMEM;
}

char *addon_check_describe(const struct addon_check *c) {
        return strdupf("%s %s/%s", c->kind, c->namespace, c->name);
}

bool addon_kubectl_error_transient(const char *s) {
        static const char *const transient[] = {
                "connection refused",
                "connection reset by peer",
                "i/o timeout",
                "TLS handshake timeout",
                "Unable to connect to the server",
                "the server is currently unable to handle the request",
                "the server was unable to return a response",
                "etcdserver: request timed out",
                "etcdserver: leader changed",
                "no matches for kind", /* CRDs applied a moment ago */
                "ensure CRDs are installed first",
                "failed calling webhook", /* the webhook's pod is not up yet */
                "Too Many Requests",
                "ServiceUnavailable",
                "InternalError",
                "net/http: request canceled",
                "unexpected EOF",
                NULL,
        };
        if (!s)
                return false;
        for (const char *const *t = transient; *t; t++)
                if (strstr(s, *t))
                        return true;
        return false;
}

/* ---- rendering ------------------------------------------------------------- */

int addon_catalog_render(const struct addon_catalog *cat, char **ret, size_t *ret_size) {
        _cleanup_yemit_ struct yemit *e = NULL;
        if (yemit_new(&e) < 0)
                return -ENOMEM;
        char num[32];
        for (size_t i = 0; i < cat->n_defs; i++) {
                const struct addon_def *d = &cat->defs[i];
                yemit_document_start(e);
                yemit_map_start(e);
                yemit_kv(e, "name", d->name);
                yemit_kv(e, "category", d->category);
                if (d->description)
                        yemit_kv(e, "description", d->description);
                yemit_kv_raw(e, "default", d->is_default ? "true" : "false");
                yemit_str(e, "depends");
                yemit_seq_start(e);
                for (char **s = d->depends; s && *s; s++)
                        yemit_str(e, *s);
                yemit_seq_end(e);
                yemit_str(e, "manifests");
                yemit_seq_start(e);
                for (size_t j = 0; j < d->n_manifests; j++) {
                        const struct addon_manifest *m = &d->manifests[j];
                        yemit_map_start(e);
                        if (m->url)
                                yemit_kv(e, "url", m->url);
                        if (m->file)
                                yemit_kv(e, "file", m->file);
                        if (m->sha256)
                                yemit_kv(e, "sha256", m->sha256);
                        yemit_kv_raw(e, "server-side", m->server_side ? "true" : "false");
                        if (m->n_subs) {
                                yemit_str(e, "substitute");
                                yemit_seq_start(e);
                                for (size_t k = 0; k < m->n_subs; k++) {
                                        yemit_map_start(e);
                                        yemit_kv(e, "find", m->subs[k].find);
                                        yemit_kv(e, "with", m->subs[k].with);
                                        yemit_map_end(e);
                                }
                                yemit_seq_end(e);
                        }
                        yemit_map_end(e);
                }
                yemit_seq_end(e);
                yemit_str(e, "images");
                yemit_seq_start(e);
                for (char **s = d->images; s && *s; s++)
                        yemit_str(e, *s);
                yemit_seq_end(e);
                yemit_str(e, "ready");
                yemit_map_start(e);
                snprintf(num, sizeof num, "%us", d->timeout_sec);
                yemit_kv(e, "timeout", num);
                yemit_str(e, "checks");
                yemit_seq_start(e);
                for (size_t j = 0; j < d->n_checks; j++) {
                        const struct addon_check *c = &d->checks[j];
                        yemit_map_start(e);
                        yemit_kv(e, "kind", c->kind);
                        yemit_kv(e, "namespace", c->namespace);
                        yemit_kv(e, "name", c->name);
                        if (c->jsonpath) {
                                yemit_kv(e, "jsonpath", c->jsonpath);
                                yemit_kv(e, "equals", c->equals);
                        }
                        yemit_map_end(e);
                }
                yemit_seq_end(e);
                yemit_map_end(e);
                yemit_map_end(e);
                yemit_document_end(e);
        }
        return yemit_finish(e, ret, ret_size);
}
