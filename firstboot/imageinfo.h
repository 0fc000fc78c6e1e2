/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* What the builder recorded in /etc/kubeseed/image.yaml that the agent acts
 * on: the preloaded images (each must be in containerd before kubeadm runs)
 * and the bundle's kubeadm settings (kubernetes.kubeadm, docs/profiles.md).
 * The file's other keys are for people and are not read. */

#define IMAGE_YAML_PATH "/etc/kubeseed/image.yaml" /* written by the builder */
#define IMAGE_YAML_MAX (4u << 20)

struct image_info {
        char **images;           /* preloaded image names, NULL-terminated (maybe empty) */
        char *etcd_image_tag;    /* kubeadm's etcd.local.imageTag; NULL: kubeadm's default */
        char **init_skip_phases; /* kubeadm init phases not run, NULL-terminated (maybe empty) */
};

/* Parse image.yaml's text. `name` is used in messages. 0, or -EBADMSG with
 * *ret_error "<name>:<line>:<column>: <key>: what was expected". */
int image_info_parse(const char *name, const char *data, size_t size, struct image_info *ret,
                     char **ret_error);

/* Read IMAGE_YAML_PATH below `root`. An image built without it (no
 * kubernetes section, an older builder) has nothing to act on: 0 and an
 * empty *ret. Returns 1 when the file was read. */
int image_info_load(const char *root, struct image_info *ret, char **ret_error);

void image_info_done(struct image_info *i);
