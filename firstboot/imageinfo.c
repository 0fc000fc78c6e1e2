/* SPDX-License-Identifier: MIT */
#include "imageinfo.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "macro.h"
#include "strv.h"
#include "yamltree.h"

void image_info_done(struct image_info *i) {
        strv_free(i->images);
        free(i->etcd_image_tag);
        strv_free(i->init_skip_phases);
        *i = (struct image_info){};
}

/* A list of non-empty strings (`item_key`: each item is a mapping and the
 * string is its value there). An absent or null node is an empty list. */
static int string_list(const char *name, const struct ynode *n, const char *path, const char *item_key,
                       char ***ret, char **ret_error) {
        _cleanup_strv_free_ char **v = calloc(1, sizeof(char *));
        if (!v)
                return -ENOMEM;
        if (n && !ynode_is_null(n)) {
                if (n->kind != YNODE_SEQUENCE)
                        return yaml_error(ret_error, name, n, path, "expected a list");
                for (size_t i = 0; i < n->n_items; i++) {
                        const struct ynode *item = n->items[i];
                        if (item_key)
                                item = item->kind == YNODE_MAPPING ? ynode_get(item, item_key) : NULL;
                        bool ok = item && item->kind == YNODE_SCALAR && !ynode_is_null(item) && *item->value;
                        if (!ok && item_key)
                                return yaml_error(ret_error, name, n->items[i], path,
                                                  "expected each item to be a mapping with a non-empty %s",
                                                  item_key);
                        if (!ok)
                                return yaml_error(ret_error, name, n->items[i], path,
                                                  "expected a list of non-empty strings");
                        if (strv_push(&v, item->value) < 0)
                                return -ENOMEM;
                }
        }
        strv_free(*ret);
        *ret = TAKE_PTR(v);
        return 0;
}

int image_info_parse(const char *name, const char *data, size_t size, struct image_info *ret,
                     char **ret_error) {
        _cleanup_ynode_ struct ynode *doc = NULL;
        int r = yaml_parse_named(name, data, size, NULL, &doc, ret_error);
        if (r < 0)
                return r;
        if (doc->kind != YNODE_MAPPING)
                return yaml_error(ret_error, name, doc, NULL, "expected a mapping");
        struct image_info info = {};
        const struct ynode *k = ynode_get(doc, "kubernetes");
        const struct ynode *kubeadm = k && k->kind == YNODE_MAPPING ? ynode_get(k, "kubeadm") : NULL;
        if (kubeadm && ynode_is_null(kubeadm))
                kubeadm = NULL;
        const struct ynode *tag = NULL, *phases = NULL;
        if (kubeadm && kubeadm->kind != YNODE_MAPPING)
                r = yaml_error(ret_error, name, kubeadm, "kubernetes.kubeadm", "expected a mapping");
        else if (kubeadm) {
                tag = ynode_get(kubeadm, "etcd-image-tag");
                phases = ynode_get(kubeadm, "init-skip-phases");
        }
        if (tag && ynode_is_null(tag))
                tag = NULL;
        if (r >= 0 && tag && (tag->kind != YNODE_SCALAR || !*tag->value))
                r = yaml_error(ret_error, name, tag, "kubernetes.kubeadm.etcd-image-tag",
                               "expected an image tag");
        else if (r >= 0 && tag && !(info.etcd_image_tag = strdup(tag->value)))
                r = -ENOMEM;
        if (r >= 0)
                r = string_list(name, phases, "kubernetes.kubeadm.init-skip-phases", NULL,
                                &info.init_skip_phases, ret_error);
        if (r >= 0)
                r = string_list(name, ynode_get(doc, "images"), "images", "name", &info.images, ret_error);
        if (r < 0) {
                image_info_done(&info);
                return r;
        }
        *ret = info;
        return 0;
}

int image_info_load(const char *root, struct image_info *ret, char **ret_error) {
        _cleanup_free_ char *path = path_join_root(root, IMAGE_YAML_PATH), *data = NULL;
        if (!path)
                return -ENOMEM;
        size_t size = 0;
        int r = read_file_full(path, IMAGE_YAML_MAX, &data, &size);
        if (r == -ENOENT) /* what an empty file says: nothing to act on */
                return image_info_parse(IMAGE_YAML_PATH, "{}", 2, ret, ret_error);
        if (r < 0) {
                replace_error(ret_error, 0, "cannot read %s: %s", IMAGE_YAML_PATH, strerror(-r));
                return r;
        }
        r = image_info_parse(IMAGE_YAML_PATH, data, size, ret, ret_error);
        return r < 0 ? r : 1;
}
