/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An image profile (images/<name>.yaml), parsed and validated. Every string is
 * owned; string lists are NULL-terminated (never NULL themselves after a
 * successful parse: an absent list is an empty one). See docs/profiles.md. */

enum {
        PROFILE_FORMAT_RAW = 1u << 0,
        PROFILE_FORMAT_QCOW2 = 1u << 1,
};

struct profile_registry_mirror {
        char *registry; /* "docker.io" */
        char *endpoint; /* "https://mirror.local:5000" */
        char *ca_file;  /* optional */
        bool insecure;  /* plain http allowed */
};

struct profile_kubernetes {
        char *version;     /* "v1.31.1", or NULL when the profile has no kubernetes key */
        char *release_url; /* base URL of release binaries */
        char *source;      /* "dir:/path" or NULL */
        char *crictl_version;
        char *crictl_url;
        char *cni_version;
        char *cni_url;
        /* kubeadm: settings of the bundle that the agent gives kubeadm
         * (written into /etc/kubeseed/image.yaml). */
        char *etcd_image_tag;    /* ClusterConfiguration etcd.local.imageTag; NULL: kubeadm's */
        char **init_skip_phases; /* phases of kubeadm init not run; NULL: none */
};

/* addons: which definitions of the catalogue (docs/addons.md) the image
 * ships and which the agent applies when the metadata names none. */
struct profile_addons {
        char *catalog;   /* absolute directory; NULL: addons/ beside the profile's folder */
        char **ship;     /* NULL: every definition in the catalogue */
        char **defaults; /* NULL: the definitions marked default: true */
};

struct profile {
        char *path; /* file it came from */
        char *name;
        char *distro; /* "debian" | "ubuntu" */
        char *suite;
        char *mirror_main;     /* required */
        char *mirror_updates;  /* NULL: no <suite>-updates source */
        char *mirror_security; /* NULL: no <suite>-security source */
        char *mirror_ports;    /* Ubuntu's ports archive: every source for an architecture other than
                                * amd64 (NULL: the mirrors above carry every architecture) */
        char *keyring;         /* path of the archive keyring on the build host */
        char *keyring_package; /* host package that provides it (for the error message) */
        char **components;     /* default: main */
        char **packages;       /* extra packages beyond the base set */
        char *kernel_package;
        char *kernel_cmdline; /* appended after root=... */
        char **initramfs_modules;
        uint64_t disk_size;     /* bytes; 0 = automatic (content + headroom) */
        uint64_t disk_headroom; /* bytes added in automatic mode */
        unsigned formats;       /* PROFILE_FORMAT_* */
        char **overlays;        /* directory names under overlays/, in order */

        /* Keys later stages fill; accepted and validated now. */
        struct profile_kubernetes kubernetes;
        char **images_extra;
        char *images_source; /* "dir:/path" or NULL */
        struct profile_addons addons;
        bool has_addons; /* the profile has an addons key: add-ons are shipped */
        struct profile_registry_mirror *registry_mirrors;
        size_t n_registry_mirrors;
};

/* Parse a profile from memory. `filename` is used in messages only. On error
 * returns a negative errno and, when ret_error is not NULL, an allocated
 * message "file:line:column: what was expected". `overrides` (may be NULL) is a
 * NULL-terminated list of "dotted.key=value" strings (from --set) applied to
 * scalars before validation; an override naming an unknown key is an error. */
int profile_parse(const char *filename, const char *data, size_t size, char *const *overrides,
                  struct profile **ret, char **ret_error);

/* Read and parse `path` (size-limited). */
int profile_load(const char *path, char *const *overrides, struct profile **ret, char **ret_error);

void profile_free(struct profile *p);
static inline void profile_freep(struct profile **p) {
        if (*p)
                profile_free(*p);
}
#define _cleanup_profile_ __attribute__((cleanup(profile_freep)))
