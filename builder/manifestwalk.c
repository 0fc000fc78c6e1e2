/* SPDX-License-Identifier: MIT */
#include "manifestwalk.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "strv.h"

const struct yaml_limits manifest_limits = {
        .max_input = 16u << 20,
        .max_depth = 128,
        .max_nodes = 2000000,
        .max_documents = 4096,
};

/* ---- the list ---- */

void image_list_done(struct image_list *list) {
        if (!list)
                return;
        for (size_t i = 0; i < list->n_items; i++)
                free(list->items[i].origin);
        free(list->items);
        *list = (struct image_list){};
}

int image_list_find(const struct image_list *list, const struct imageref *ref) {
        for (size_t i = 0; i < list->n_items; i++)
                if (imageref_equal(&list->items[i].ref, ref))
                        return (int) i;
        return -ENOENT;
}

static int reserve(struct image_list *list, size_t extra) {
        if (list->n_items + extra <= list->n_allocated)
                return 0;
        size_t n = list->n_allocated ? list->n_allocated : 8;
        while (n < list->n_items + extra) {
                if (n > SIZE_MAX / 2 / sizeof(struct image_use))
                        return -ENOMEM;
                n *= 2;
        }
        struct image_use *items = realloc(list->items, n * sizeof(struct image_use));
        if (!items)
                return -ENOMEM;
        list->items = items;
        list->n_allocated = n;
        return 0;
}

/* Takes ownership of `origin` in every case. */
static int add_owned(struct image_list *list, const struct imageref *ref, char *origin) {
        if (image_list_find(list, ref) >= 0) {
                free(origin);
                return 0;
        }
        if (reserve(list, 1) < 0) {
                free(origin);
                return -ENOMEM;
        }
        list->items[list->n_items++] = (struct image_use){.ref = *ref, .origin = origin};
        return 1;
}

int image_list_add_ref(struct image_list *list, const struct imageref *ref, const char *origin) {
        char *o = strdup(origin ? origin : "");
        if (!o)
                return -ENOMEM;
        return add_owned(list, ref, o);
}

static int parse_ref(const char *image, const char *where, struct imageref *ret, char **ret_error) {
        const char *reason = NULL;
        if (imageref_parse(image, ret, &reason) < 0) {
                _cleanup_free_ char *p = ystr_printable(image, 200);
                return set_error(ret_error, -EINVAL, "%s: invalid image reference '%s': %s", where,
                                 p ? p : "?", reason);
        }
        return 0;
}

int image_list_add(struct image_list *list, const char *image, const char *origin, char **ret_error) {
        struct imageref ref;
        int r = parse_ref(image, origin ? origin : "", &ref, ret_error);
        if (r < 0)
                return r;
        return image_list_add_ref(list, &ref, origin);
}

/* Move every item of `from` into `to` (deduplicated), emptying `from`. Cannot
 * fail once the room is reserved, so `to` changes all or nothing. */
static int merge(struct image_list *to, struct image_list *from) {
        int r = reserve(to, from->n_items);
        if (r < 0)
                return r;
        int added = 0;
        for (size_t i = 0; i < from->n_items; i++) {
                r = add_owned(to, &from->items[i].ref, from->items[i].origin);
                from->items[i].origin = NULL;
                if (r > 0)
                        added++;
        }
        from->n_items = 0;
        return added;
}

int image_list_add_extra(struct image_list *list, char *const *extra, const char *profile_path,
                         char **ret_error) {
        _cleanup_image_list_ struct image_list found = {};
        for (size_t i = 0; extra && extra[i]; i++) {
                char *origin = NULL;
                if (asprintf(&origin, "%s: images.extra[%zu]", profile_path ? profile_path : "profile", i) <
                    0)
                        return set_error(ret_error, -ENOMEM, "Out of memory");
                struct imageref ref;
                int r = parse_ref(extra[i], origin, &ref, ret_error);
                if (r < 0) {
                        free(origin);
                        return r;
                }
                if (add_owned(&found, &ref, origin) < 0)
                        return set_error(ret_error, -ENOMEM, "Out of memory");
        }
        int r = merge(list, &found);
        if (r < 0)
                return set_error(ret_error, r, "Out of memory");
        return r;
}

/* ---- the walk ---- */

struct walk {
        const char *file;
        struct image_list *found;
        char **ret_error;
        char what[160]; /* "Deployment 'coredns'" */
};

static int walk_error(struct walk *w, const struct ynode *n, int r, const char *fmt, ...) _printf_(4, 5);
static int walk_error(struct walk *w, const struct ynode *n, int r, const char *fmt, ...) {
        if (w->ret_error) {
                va_list ap;
                va_start(ap, fmt);
                _cleanup_free_ char *msg = vstrdupf(fmt, ap);
                va_end(ap);
                if (!msg) {
                        *w->ret_error = NULL;
                        return -ENOMEM;
                }
                if (asprintf(w->ret_error, "%s:%zu:%zu: %s", w->file, n ? n->line : 0, n ? n->column : 0,
                             msg) < 0) {
                        *w->ret_error = NULL;
                        return -ENOMEM;
                }
        }
        return r;
}

static int add_image_node(struct walk *w, const struct ynode *img, const char *path, const char *key,
                          size_t i) {
        if (img->kind != YNODE_SCALAR || ynode_is_null(img))
                return walk_error(w, img, -EBADMSG, "%s: %s.%s[%zu].image: expected an image reference",
                                  w->what, path, key, i);
        char where[512];
        (void) snprintf(where, sizeof(where), "%s:%zu:%zu: %s: %s.%s[%zu].image", w->file, img->line,
                        img->column, w->what, path, key, i);
        struct imageref ref;
        int r = parse_ref(img->value, where, &ref, w->ret_error);
        if (r < 0)
                return r;
        char *origin = NULL;
        if (asprintf(&origin, "%s:%zu:%zu", w->file, img->line, img->column) < 0)
                return walk_error(w, NULL, -ENOMEM, "Out of memory");
        r = add_owned(w->found, &ref, origin);
        if (r < 0)
                return walk_error(w, NULL, r, "Out of memory");
        return 0;
}

static const char *const container_keys[] = {"containers", "initContainers", "ephemeralContainers"};

/* `strict`: the pod spec of a Kubernetes workload, which must be complete.
 * Otherwise a pod-spec-shaped mapping found by the generic search. */
static int walk_podspec(struct walk *w, const struct ynode *spec, const struct ynode *parent,
                        const char *path, bool strict) {
        if (!spec || spec->kind != YNODE_MAPPING)
                return walk_error(w, spec ? spec : parent, -EBADMSG,
                                  "%s: %s: expected a pod spec (a mapping)", w->what, path);
        /* in document order, so "first seen" is what a reader sees first */
        bool have_containers = false;
        for (size_t m = 0; m < spec->n_items; m++) {
                const char *key = spec->keys[m];
                bool known = false;
                for (size_t k = 0; k < ELEMENTSOF(container_keys); k++)
                        known = known || streq(key, container_keys[k]);
                if (!known)
                        continue;
                const struct ynode *seq = spec->items[m];
                if (seq->kind == YNODE_SCALAR && ynode_is_null(seq))
                        continue;
                if (seq->kind != YNODE_SEQUENCE)
                        return walk_error(w, seq, -EBADMSG, "%s: %s.%s: expected a list of containers",
                                          w->what, path, key);
                if (streq(key, "containers"))
                        have_containers = true;
                for (size_t i = 0; i < seq->n_items; i++) {
                        const struct ynode *c = seq->items[i];
                        if (c->kind != YNODE_MAPPING)
                                return walk_error(w, c, -EBADMSG,
                                                  "%s: %s.%s[%zu]: expected a container (a mapping)",
                                                  w->what, path, key, i);
                        const struct ynode *img = ynode_get(c, "image");
                        if (!img || (img->kind == YNODE_SCALAR && ynode_is_null(img))) {
                                if (!strict)
                                        continue;
                                return walk_error(w, c, -EBADMSG, "%s: %s.%s[%zu]: container has no image",
                                                  w->what, path, key, i);
                        }
                        int r = add_image_node(w, img, path, key, i);
                        if (r < 0)
                                return r;
                }
        }
        if (strict && !have_containers)
                return walk_error(w, spec, -EBADMSG, "%s: %s.containers: expected a list of containers",
                                  w->what, path);
        return 0;
}

/* containers: a non-empty list of mappings, each with a name and an image. */
static bool looks_like_podspec(const struct ynode *n) {
        const struct ynode *c = ynode_get(n, "containers");
        if (!c || c->kind != YNODE_SEQUENCE || c->n_items == 0)
                return false;
        for (size_t i = 0; i < c->n_items; i++) {
                const struct ynode *item = c->items[i];
                const struct ynode *img = ynode_get(item, "image");
                if (item->kind != YNODE_MAPPING || !ynode_get_str(item, "name") || !img ||
                    img->kind != YNODE_SCALAR)
                        return false;
        }
        return true;
}

static int scan(struct walk *w, const struct ynode *n) {
        if (n->kind == YNODE_MAPPING && looks_like_podspec(n))
                return walk_podspec(w, n, n, "(pod spec)", false);
        if (n->kind == YNODE_SCALAR)
                return 0;
        for (size_t i = 0; i < n->n_items; i++) {
                int r = scan(w, n->items[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* API groups built into Kubernetes: their kinds are known. */
static bool builtin_group(const char *api_version, size_t group_len) {
        static const char *const groups[] = {
                "",
                "apps",
                "batch",
                "extensions",
                "policy",
                "autoscaling",
                "rbac.authorization.k8s.io",
                "apiextensions.k8s.io",
                "storage.k8s.io",
                "networking.k8s.io",
                "scheduling.k8s.io",
                "node.k8s.io",
                "admissionregistration.k8s.io",
                "apiregistration.k8s.io",
                "coordination.k8s.io",
                "certificates.k8s.io",
                "flowcontrol.apiserver.k8s.io",
                "discovery.k8s.io",
                "events.k8s.io",
                "resource.k8s.io",
                "internal.apiserver.k8s.io",
                "authentication.k8s.io",
                "authorization.k8s.io",
                "storagemigration.k8s.io",
        };
        for (size_t i = 0; i < ELEMENTSOF(groups); i++)
                if (strlen(groups[i]) == group_len && strncmp(groups[i], api_version, group_len) == 0)
                        return true;
        return false;
}

enum shape { SHAPE_POD, SHAPE_POD_TEMPLATE, SHAPE_TEMPLATE, SHAPE_CRONJOB };

static const struct {
        const char *kind;
        enum shape shape;
} workloads[] = {
        {"Pod", SHAPE_POD},
        {"PodTemplate", SHAPE_POD_TEMPLATE},
        {"ReplicationController", SHAPE_TEMPLATE},
        {"Deployment", SHAPE_TEMPLATE},
        {"StatefulSet", SHAPE_TEMPLATE},
        {"DaemonSet", SHAPE_TEMPLATE},
        {"ReplicaSet", SHAPE_TEMPLATE},
        {"Job", SHAPE_TEMPLATE},
        {"CronJob", SHAPE_CRONJOB},
};

/* Follow `path` ("spec.template.spec") through mappings. Returns the node, or
 * NULL with *ret_last set to the last node reached (for the message). */
static const struct ynode *get_path(const struct ynode *n, const char *path, const struct ynode **ret_last) {
        char buf[64];
        (void) snprintf(buf, sizeof(buf), "%s", path);
        *ret_last = n;
        for (char *p = buf, *dot; p; p = dot ? dot + 1 : NULL) {
                dot = strchr(p, '.');
                if (dot)
                        *dot = 0;
                const struct ynode *next = ynode_get(n, p);
                if (!next)
                        return NULL;
                *ret_last = n = next;
        }
        return n;
}

static int walk_object(struct walk *w, const struct ynode *obj) {
        if (obj->kind == YNODE_SCALAR && ynode_is_null(obj))
                return 0;
        if (obj->kind != YNODE_MAPPING)
                return walk_error(w, obj, -EBADMSG, "expected a Kubernetes object (a mapping)");

        const struct ynode *kn = ynode_get(obj, "kind"), *an = ynode_get(obj, "apiVersion");
        if ((kn && kn->kind != YNODE_SCALAR) || (an && an->kind != YNODE_SCALAR))
                return walk_error(w, obj, -EBADMSG, "kind and apiVersion must be strings");
        const char *kind = kn ? kn->value : "", *api_version = an ? an->value : "";
        /* "apps/v1" -> "apps"; "v1" -> the core group ""; a bare
         * "example.com" (no version) is a group of its own */
        const char *slash = strchr(api_version, '/');
        size_t group_len = slash                      ? (size_t) (slash - api_version)
                           : strchr(api_version, '.') ? strlen(api_version)
                                                      : 0;

        const struct ynode *meta = ynode_get(obj, "metadata");
        const char *name = ynode_get_str(meta, "name");
        _cleanup_free_ char *pkind = ystr_printable(kind[0] ? kind : "object", 60),
                            *pname = name ? ystr_printable(name, 80) : NULL;
        if (!pkind || (name && !pname))
                return walk_error(w, NULL, -ENOMEM, "Out of memory");
        if (pname)
                (void) snprintf(w->what, sizeof(w->what), "%s '%s'", pkind, pname);
        else
                (void) snprintf(w->what, sizeof(w->what), "%s", pkind);

        /* List, and every <Kind>List with items */
        size_t kl = strlen(kind);
        const struct ynode *items = ynode_get(obj, "items");
        if (kl >= 4 && streq(kind + kl - 4, "List") && items && items->kind == YNODE_SEQUENCE) {
                for (size_t i = 0; i < items->n_items; i++) {
                        int r = walk_object(w, items->items[i]);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        if (kl >= 4 && streq(kind + kl - 4, "List") && items &&
            !(items->kind == YNODE_SCALAR && ynode_is_null(items)))
                return walk_error(w, items, -EBADMSG, "%s: items: expected a list", w->what);

        if (kind[0] && builtin_group(api_version, group_len)) {
                for (size_t i = 0; i < ELEMENTSOF(workloads); i++) {
                        if (!streq(kind, workloads[i].kind))
                                continue;
                        const char *path = workloads[i].shape == SHAPE_POD            ? "spec"
                                           : workloads[i].shape == SHAPE_POD_TEMPLATE ? "template.spec"
                                           : workloads[i].shape == SHAPE_TEMPLATE
                                                   ? "spec.template.spec"
                                                   : "spec.jobTemplate.spec.template.spec";
                        const struct ynode *last = NULL, *spec = get_path(obj, path, &last);
                        return walk_podspec(w, spec, last, path, true);
                }
                /* a built-in kind that never holds a pod spec */
                return 0;
        }
        return scan(w, obj);
}

int manifest_collect_documents(const char *file_name, struct ynode *const *docs, size_t n_docs,
                               struct image_list *list, char **ret_error) {
        _cleanup_image_list_ struct image_list found = {};
        struct walk w = {.file = file_name ? file_name : "-", .found = &found, .ret_error = ret_error};
        for (size_t i = 0; i < n_docs; i++) {
                int r = walk_object(&w, docs[i]);
                if (r < 0)
                        return r;
        }
        int r = merge(list, &found);
        if (r < 0)
                return set_error(ret_error, r, "Out of memory");
        return r;
}

int manifest_collect_images(const char *file_name, const char *data, size_t size, struct image_list *list,
                            char **ret_error) {
        struct ynode **docs = NULL;
        size_t n_docs = 0;
        _cleanup_free_ char *error = NULL;
        int r = yaml_parse_documents(data, size, &manifest_limits, &docs, &n_docs, &error);
        if (r < 0)
                return set_error(ret_error, r, "%s:%s", file_name ? file_name : "-",
                                 error ? error : " parse error");
        r = manifest_collect_documents(file_name, docs, n_docs, list, ret_error);
        ynode_free_documents(docs, n_docs);
        return r;
}
