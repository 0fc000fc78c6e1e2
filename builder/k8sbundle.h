/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "digest.h"
#include "download.h"
#include "profile.h"

/* The Kubernetes node binaries of an image (docs/kubernetes-bundle.md):
 * kubeadm, kubelet, kubectl, crictl and the CNI plugins, from the official
 * release locations or from a local directory (`kubernetes.source:
 * dir:/path`), each checked against its SHA-256 and kept in the
 * content-addressed store (lib/download.h), then installed into the rootfs.
 *
 * Three steps: k8s_bundle_plan() (pure: profile + arch -> names, URLs,
 * paths), k8s_bundle_fetch() (I/O: digests, downloads or imports into the
 * store), k8s_bundle_install() (I/O: copies and extracts into a root). */

/* Where kubeadm, kubelet and kubectl come from when the profile has no
 * kubernetes.release-url: <release-url>/<version>/bin/linux/<arch>/<name>,
 * with the digest in <...>/<name>.sha256. */
#define K8S_DEFAULT_RELEASE_URL "https://dl.k8s.io/release"
/* kubernetes.crictl.url and kubernetes.cni.url are templates: ${version} and
 * ${arch} ("amd64", "arm64") are replaced; the digest is at <url>.sha256. */
#define K8S_DEFAULT_CRICTL_URL                                                                              \
        "https://github.com/kubernetes-sigs/cri-tools/releases/download/${version}/"                        \
        "crictl-${version}-linux-${arch}.tar.gz"
#define K8S_DEFAULT_CNI_URL                                                                                 \
        "https://github.com/containernetworking/plugins/releases/download/${version}/"                      \
        "cni-plugins-linux-${arch}-${version}.tgz"
/* In a dir: source, the digests of every file, in `sha256sum` format. */
#define K8S_SUMS_FILE "SHA256SUMS"
/* Caps on what is read: a .sha256 body, SHA256SUMS, and archive members. */
#define K8S_SHA256_FILE_MAX 4096u
#define K8S_SUMS_FILE_MAX (64u * 1024u)
#define K8S_ARCHIVE_MAX_ENTRIES 1024u
#define K8S_ARCHIVE_MAX_MEMBER (UINT64_C(1) << 30)

enum k8s_item_kind {
        K8S_ITEM_FILE,    /* installed as it is at install_path */
        K8S_ITEM_ARCHIVE, /* a tarball whose regular files are extracted into the directory install_path */
};

struct k8s_item {
        char *name; /* "kubeadm", "kubelet", "kubectl", "crictl", "cni-plugins" */
        enum k8s_item_kind kind;
        char *file_name;    /* its name in a dir: source and in SHA256SUMS: "kubeadm",
                             * "crictl-v1.31.1-linux-amd64.tar.gz", "cni-plugins-linux-amd64-v1.5.1.tgz" */
        char *url;          /* release mode: the download URL; NULL in dir: mode */
        char *sha256_url;   /* release mode: url + ".sha256"; NULL in dir: mode */
        char *local_path;   /* dir: mode: <dir>/<file_name>; NULL in release mode */
        char *install_path; /* in the image: "/usr/bin/kubeadm" (a file), "/usr/bin" or "/opt/cni/bin"
                               (archives) */
        char *only_member;  /* archive: extract only this member ("crictl"); NULL: every regular file */
        mode_t mode;        /* of the installed file(s): 0755 */

        /* Set by k8s_bundle_fetch(). */
        char sha256[SHA256_HEX_LEN + 1];
        char *store_path;
};

struct k8s_bundle {
        char *version;    /* kubernetes.version */
        char *arch;       /* Kubernetes' name: "amd64", "arm64" */
        char *source_dir; /* dir: mode: the directory; NULL in release mode */
        char *sums_path;  /* dir: mode: <dir>/SHA256SUMS */
        struct k8s_item *items;
        size_t n_items;
};

/* Plans the bundle for `arch` (any name lib/arch knows: "amd64", "x86_64",
 * "arm64", "aarch64"). Pure. -EINVAL with *ret_error naming the profile key
 * ("kubernetes.version is not set ...") when a required key is missing or a
 * URL template is malformed; -EOPNOTSUPP for an unknown architecture. */
int k8s_bundle_plan(const struct profile_kubernetes *k, const char *arch, struct k8s_bundle **ret,
                    char **ret_error);

/* Finds the digest of `file_name` in a .sha256 file or a SHA256SUMS file:
 * lines of "<hex>" (only as the sole line, when allow_bare) or
 * "<hex>  <name>" / "<hex> *<name>" (sha256sum's text and binary modes; a
 * name with directories matches by its last component). Hex digits may be
 * either case; ret gets them lowercase. Pure. -ENOENT when the file does not
 * list the name, -EBADMSG when a line is malformed (*ret_error says which). */
int k8s_sha256_lookup(const char *data, size_t size, const char *file_name, bool allow_bare,
                      char ret[SHA256_HEX_LEN + 1], char **ret_error);

/* Fills every item's sha256 and store_path. Release mode: GET <url>.sha256
 * (through http_ops, retried like downloads), then download_to_cas() with `o`
 * (label and follow_redirects set per item; `o` may be NULL). dir: mode:
 * every file must be listed in SHA256SUMS and present, and is imported with
 * cas_import_file(). Returns 1 when something was added to the store, 0 when
 * all was there, or a negative errno with *ret_error naming the file or URL. */
int k8s_bundle_fetch(struct k8s_bundle *b, const char *cas_dir, const struct download_opts *o,
                     char **ret_error);

/* Installs a fetched bundle below `root` (a staging rootfs): kubeadm, kubelet,
 * kubectl in /usr/bin; crictl extracted from its tarball into /usr/bin; the
 * CNI plugins extracted into /opt/cni/bin; all mode 0755, each file written
 * to a temporary name, fsynced and renamed. Archive members must be regular
 * files at the archive's top level (a leading "./" is fine): absolute names,
 * "..", subdirectories, links and devices are refused (-EPERM). Returns 1, or
 * a negative errno with *ret_error naming the file or member. */
int k8s_bundle_install(const struct k8s_bundle *b, const char *root, char **ret_error);

void k8s_bundle_free(struct k8s_bundle *b);
static inline void k8s_bundle_freep(struct k8s_bundle **b) {
        if (*b)
                k8s_bundle_free(*b);
}
#define _cleanup_k8s_bundle_ __attribute__((cleanup(k8s_bundle_freep)))
