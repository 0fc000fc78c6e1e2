/* SPDX-License-Identifier: MIT */
#pragma once

#include "arch.h"
#include "profile.h"
#include "stagekey.h"

/* Stage 1: the root filesystem, made by mmdebstrap and cached as a tarball
 * under <cache>/rootfs/<key>.tar. */

/* Packages every kubeseed image has, whatever the profile (see docs/building.md). */
extern const char *const rootfs_base_packages[];

/* Format version of this stage: bump when the way the rootfs is made changes
 * without any profile input changing. */
#define ROOTFS_STAGE_VERSION 1

/* The kernel package with "${arch}" replaced by the Debian architecture. */
char *rootfs_kernel_package(const struct profile *p, const struct arch_info *a);
/* Full package list: base set, kernel, profile's packages (deduplicated, in
 * that order). */
int rootfs_packages(const struct profile *p, const struct arch_info *a, char ***ret);
/* APT source lines for the main, -updates and -security suites (all from
 * mirrors.ports when the profile has one and `a` is not amd64). */
int rootfs_sources(const struct profile *p, const struct arch_info *a, char ***ret);
/* Contents of /etc/initramfs-tools/modules for the profile. */
char *rootfs_initramfs_modules(const struct profile *p);
/* The mmdebstrap command line. `hookdir` holds the files the setup hook copies
 * in (initramfs configuration), `output` is the tarball to write. */
int rootfs_mmdebstrap_argv(const struct profile *p, const struct arch_info *a, const char *hookdir,
                           const char *output, char ***ret);
/* Adds every input of the stage to `k` (pure: the keyring's contents are
 * added by the caller). */
int rootfs_key_inputs(struct stagekey *k, const struct profile *p, const struct arch_info *a);

/* The agent's sysroot for cross-compiling it: the profile's distro and
 * suite for `a`, `mmdebstrap --variant=extract` of rootfs_sysroot_packages
 * (unpacked, nothing run, no emulation), cached as a directory under
 * <cache>/sysroot/<profile>-<arch>-<key>. */
extern const char *const rootfs_sysroot_packages[];
#define ROOTFS_SYSROOT_VERSION 1
int rootfs_sysroot_argv(const struct profile *p, const struct arch_info *a, const char *output, char ***ret);
int rootfs_sysroot_key_inputs(struct stagekey *k, const struct profile *p, const struct arch_info *a);
/* The target of a symbolic link at `link` (relative to the tree's top, e.g.
 * "usr/lib/x/libz.so") that points at `target`, rewritten relative to the
 * link when `target` is absolute ("../../../lib/x/libz.so.1"); a relative
 * target unchanged. Pure; NULL when out of memory. */
char *rootfs_relative_link(const char *link, const char *target);
/* Returns the sysroot's path in *ret_dir (made when absent; its absolute
 * symbolic links made relative). */
int rootfs_sysroot_stage(const struct profile *p, const struct arch_info *a, const char *cache_dir,
                         char **ret_dir);

/* Runs the stage: returns the path of the cached tarball in *ret_tar (builds
 * it when absent). *ret_cached tells whether mmdebstrap was skipped. */
int rootfs_stage(const struct profile *p, const struct arch_info *a, const char *cache_dir, char **ret_tar,
                 char ret_key[SHA256_HEX_LEN + 1], int *ret_cached);
