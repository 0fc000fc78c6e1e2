/* SPDX-License-Identifier: MIT */
#include "rootfs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "binfmt.h"
#include "fsutil.h"
#include "log.h"
#include "proc.h"
#include "strv.h"

const char *const rootfs_base_packages[] = {
        "systemd",
        "systemd-sysv",
        "udev",
        "dbus",
        "kmod",
        "initramfs-tools",
        "e2fsprogs",
        "iproute2",
        "ca-certificates",
        "containerd",
        "runc",
        /* kubeadm's preflight requires both in PATH on every node
         * (FileExisting-iptables, FileExisting-conntrack), and kubelet and
         * the CNI plugins (bridge's ipMasq, portmap) run iptables. */
        "iptables",
        "conntrack",
        "systemd-boot-efi",
        /* The agent's shared libraries (same names in Debian 12 and Ubuntu
         * 24.04 through their t64 Provides). */
        "libyaml-0-2",
        "libcurl4",
        "libarchive13",
        "libssl3",
        "libblkid1",
        NULL,
};

const char *const rootfs_sysroot_packages[] = {
        /* Headers and link-time libraries of what lib/ and firstboot/ use:
         * the -dev packages of the agent's libraries in rootfs_base_packages,
         * and the C library. */
        "libc6-dev",  "libyaml-dev",  "libcurl4-openssl-dev", "libarchive-dev",
        "libssl-dev", "libblkid-dev", "zlib1g-dev",           NULL,
};

char *rootfs_kernel_package(const struct profile *p, const struct arch_info *a) {
        const char *k = p->kernel_package;
        const char *at = strstr(k, "${arch}");
        char *out = NULL;
        if (!at)
                return strdup(k);
        if (asprintf(&out, "%.*s%s%s", (int) (at - k), k, a->debian, at + strlen("${arch}")) < 0)
                return NULL;
        return out;
}

int rootfs_packages(const struct profile *p, const struct arch_info *a, char ***ret) {
        _cleanup_strv_free_ char **v = NULL;
        _cleanup_free_ char *kernel = rootfs_kernel_package(p, a);
        if (!kernel)
                return -ENOMEM;
        for (const char *const *i = rootfs_base_packages; *i; i++)
                if (strv_push(&v, *i) < 0)
                        return -ENOMEM;
        if (!strv_contains(v, kernel) && strv_push(&v, kernel) < 0)
                return -ENOMEM;
        for (char **i = p->packages; i && *i; i++)
                if (!strv_contains(v, *i) && strv_push(&v, *i) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(v);
        return 0;
}

int rootfs_sources(const struct profile *p, const struct arch_info *a, char ***ret) {
        _cleanup_strv_free_ char **v = NULL;
        _cleanup_free_ char *comps = strv_join(p->components, " ");
        if (!comps)
                return -ENOMEM;
        /* Ubuntu serves amd64 from archive/security.ubuntu.com and every
         * other architecture, -security included, from its ports archive. */
        bool ports = p->mirror_ports && !streq(a->debian, "amd64");
        const char *main_url = ports ? p->mirror_ports : p->mirror_main;
        const char *updates = ports && p->mirror_updates ? p->mirror_ports : p->mirror_updates;
        const char *security = ports && p->mirror_security ? p->mirror_ports : p->mirror_security;
        if (strv_pushf(&v, "deb %s %s %s", main_url, p->suite, comps) < 0)
                return -ENOMEM;
        if (updates && strv_pushf(&v, "deb %s %s-updates %s", updates, p->suite, comps) < 0)
                return -ENOMEM;
        if (security && strv_pushf(&v, "deb %s %s-security %s", security, p->suite, comps) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(v);
        return 0;
}

char *rootfs_initramfs_modules(const struct profile *p) {
        size_t n = 128;
        for (char **i = p->initramfs_modules; i && *i; i++)
                n += strlen(*i) + 1;
        char *s = malloc(n);
        if (!s)
                return NULL;
        int off = snprintf(
                s, n, "# Written by kubeseed: the modules the initramfs needs to find the root disk.\n");
        for (char **i = p->initramfs_modules; i && *i; i++)
                off += snprintf(s + off, n - (size_t) off, "%s\n", *i);
        return s;
}

/* What differs between the image's rootfs and the agent's sysroot. */
struct mmdebstrap_spec {
        const char *variant; /* minbase, extract */
        const char *format;  /* tar, directory */
        char *const *packages;
        const char *hookdir; /* files the setup hook copies in; NULL: none */
};

static int mmdebstrap_argv(const struct profile *p, const struct arch_info *a,
                           const struct mmdebstrap_spec *s, const char *output, char ***ret) {
        _cleanup_strv_free_ char **argv = NULL, **sources = NULL;
        int r = rootfs_sources(p, a, &sources);
        if (r < 0)
                return r;
        _cleanup_free_ char *include = strv_join((char **) s->packages, ",");
        if (!include)
                return -ENOMEM;
        if (strv_push(&argv, "mmdebstrap") < 0 || strv_pushf(&argv, "--variant=%s", s->variant) < 0 ||
            strv_pushf(&argv, "--format=%s", s->format) < 0 ||
            strv_pushf(&argv, "--mode=%s", geteuid() == 0 ? "root" : "unshare") < 0 ||
            strv_pushf(&argv, "--architectures=%s", a->debian) < 0 ||
            strv_pushf(&argv, "--keyring=%s", p->keyring) < 0 ||
            strv_pushf(&argv, "--include=%s", include) < 0 ||
            /* Documentation is not needed on an appliance: smaller image,
             * faster build. Copyright files stay. */
            strv_push(&argv, "--dpkgopt=path-exclude=/usr/share/man/*") < 0 ||
            strv_push(&argv, "--dpkgopt=path-exclude=/usr/share/doc/*") < 0 ||
            strv_push(&argv, "--dpkgopt=path-include=/usr/share/doc/*/copyright") < 0 ||
            strv_push(&argv, "--dpkgopt=path-exclude=/usr/share/locale/*") < 0 ||
            strv_push(&argv, "--aptopt=APT::Install-Recommends \"false\"") < 0)
                return -ENOMEM;
        /* The initramfs configuration must be in place before the kernel
         * package's postinst builds the initramfs. */
        if (s->hookdir && strv_pushf(&argv, "--setup-hook=sync-in %s /", s->hookdir) < 0)
                return -ENOMEM;
        if (strv_push(&argv, p->suite) < 0 || strv_push(&argv, output) < 0)
                return -ENOMEM;
        for (char **src = sources; *src; src++)
                if (strv_push(&argv, *src) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(argv);
        return 0;
}

int rootfs_mmdebstrap_argv(const struct profile *p, const struct arch_info *a, const char *hookdir,
                           const char *output, char ***ret) {
        _cleanup_strv_free_ char **pkgs = NULL;
        int r = rootfs_packages(p, a, &pkgs);
        if (r < 0)
                return r;
        const struct mmdebstrap_spec s = {
                .variant = "minbase", .format = "tar", .packages = pkgs, .hookdir = hookdir};
        return mmdebstrap_argv(p, a, &s, output, ret);
}

int rootfs_sysroot_argv(const struct profile *p, const struct arch_info *a, const char *output,
                        char ***ret) {
        /* extract: the packages and their dependencies unpacked, no
         * maintainer script run, so no emulation either. */
        const struct mmdebstrap_spec s = {.variant = "extract",
                                          .format = "directory",
                                          .packages = (char *const *) rootfs_sysroot_packages};
        return mmdebstrap_argv(p, a, &s, output, ret);
}

/* An mmdebstrap command line as a stage key input: --mode (root or
 * unshare) depends on who builds, not on what is built. */
static int key_add_argv(struct stagekey *k, char **argv) {
        _cleanup_strv_free_ char **keyed = NULL;
        for (char **arg = argv; *arg; arg++)
                if (strncmp(*arg, "--mode=", 7) != 0 && strv_push(&keyed, *arg) < 0)
                        return -ENOMEM;
        return stagekey_add_list(k, "mmdebstrap-argv", keyed);
}

int rootfs_key_inputs(struct stagekey *k, const struct profile *p, const struct arch_info *a) {
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *modules = rootfs_initramfs_modules(p);
        if (!modules)
                return -ENOMEM;
        /* The argv with placeholder paths covers packages, sources, keyring
         * path, variant and options; the hook files are added by content. */
        int r = rootfs_mmdebstrap_argv(p, a, "HOOKDIR", "OUTPUT", &argv);
        if (r < 0)
                return r;
        r = key_add_argv(k, argv);
        if (r >= 0)
                r = stagekey_add(k, "initramfs-modules", modules);
        if (r >= 0)
                r = stagekey_add(k, "initramfs-conf", "MODULES=list\n");
        return r;
}

static int write_hook_files(const char *hookdir, const struct profile *p) {
        _cleanup_free_ char *confdir = NULL, *modules_path = NULL, *conf_path = NULL;
        if (asprintf(&confdir, "%s/etc/initramfs-tools/conf.d", hookdir) < 0 ||
            asprintf(&modules_path, "%s/etc/initramfs-tools/modules", hookdir) < 0 ||
            asprintf(&conf_path, "%s/kubeseed.conf", confdir) < 0)
                return -ENOMEM;
        int r = mkdir_p(confdir, 0755);
        if (r < 0)
                return r;
        _cleanup_free_ char *modules = rootfs_initramfs_modules(p);
        if (!modules)
                return -ENOMEM;
        r = write_file_atomic(modules_path, modules, strlen(modules), 0644);
        if (r < 0)
                return r;
        static const char conf[] = "MODULES=list\n";
        return write_file_atomic(conf_path, conf, strlen(conf), 0644);
}

/* The keyring must exist before anything is hashed or run. */
static int check_keyring(const struct profile *p) {
        if (access(p->keyring, R_OK) < 0)
                return log_error_errno(-errno,
                                       "rootfs: the archive keyring '%s' of profile '%s' is missing: "
                                       "install the package '%s' (apt-get install %s)",
                                       p->keyring, p->name, p->keyring_package, p->keyring_package);
        return 0;
}

/* The stage key: `key_inputs` plus the keyring's contents. */
static int stage_key(const char *stage, unsigned version, const struct profile *p, const struct arch_info *a,
                     int (*key_inputs)(struct stagekey *, const struct profile *, const struct arch_info *),
                     char ret_key[SHA256_HEX_LEN + 1]) {
        _cleanup_stagekey_ struct stagekey *k = NULL;
        int r = stagekey_new(stage, version, &k);
        if (r >= 0)
                r = key_inputs(k, p, a);
        if (r >= 0)
                r = stagekey_add_file(k, "keyring", p->keyring);
        if (r >= 0)
                r = stagekey_final(k, ret_key);
        if (r < 0)
                return log_error_errno(r, "%s: cannot hash inputs: %m", stage);
        return 0;
}

/* <cache>/<stage>/<profile>-<arch>-<key><suffix>, its directory created and
 * "<path>.lock" held: two builds sharing a cache wait for each other
 * instead of writing the same partial output. The lock is released when
 * *ret_lock is closed. */
static int stage_path_locked(const char *stage, const char *cache_dir, const struct profile *p,
                             const struct arch_info *a, const char *key, const char *suffix, char **ret_path,
                             int *ret_lock) {
        _cleanup_free_ char *dir = strdupf("%s/%s", cache_dir, stage);
        _cleanup_free_ char *path =
                strdupf("%s/%s-%s-%s%s", dir ? dir : "", p->name, a->debian, key, suffix);
        _cleanup_free_ char *lockpath = strdupf("%s.lock", path ? path : "");
        if (!dir || !path || !lockpath)
                return log_oom();
        int r = mkdir_p(dir, 0755);
        if (r < 0)
                return log_error_errno(r, "%s: cannot create cache directory '%s': %m", stage, dir);
        _cleanup_close_ int lock = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (lock < 0 || flock(lock, LOCK_EX) < 0)
                return log_error_errno(-errno, "%s: cannot lock '%s': %m", stage, lockpath);
        *ret_path = TAKE_PTR(path);
        *ret_lock = TAKE_FD(lock);
        return 0;
}

static int run_mmdebstrap(const char *what, char **argv) {
        struct proc_result res = {0};
        struct proc_opts opts = {
                .timeout_sec = 3600, .stdout_fd = -1, .stdout_to_stderr = true, .passthrough_stderr = true};
        int r = proc_ops->run(argv, &opts, &res);
        if (r < 0)
                proc_log_failure(r, what, argv, &res);
        proc_result_done(&res);
        return r;
}

int rootfs_stage(const struct profile *p, const struct arch_info *a, const char *cache_dir, char **ret_tar,
                 char ret_key[SHA256_HEX_LEN + 1], int *ret_cached) {
        int r = check_keyring(p);
        if (r < 0)
                return r;
        r = stage_key("rootfs", ROOTFS_STAGE_VERSION, p, a, rootfs_key_inputs, ret_key);
        if (r < 0)
                return r;
        _cleanup_free_ char *tar = NULL, *tmp = NULL, *hookdir = NULL;
        _cleanup_close_ int lock = -1;
        r = stage_path_locked("rootfs", cache_dir, p, a, ret_key, ".tar", &tar, &lock);
        if (r < 0)
                return r;
        if (asprintf(&tmp, "%s.partial", tar) < 0 ||
            asprintf(&hookdir, "%s/rootfs/hooks-%s", cache_dir, ret_key) < 0)
                return log_oom();
        if (access(tar, F_OK) == 0) {
                log_info("rootfs: cached %s", tar);
                *ret_tar = TAKE_PTR(tar);
                *ret_cached = 1;
                return 0;
        }
        /* A foreign architecture needs qemu-user registered before
         * mmdebstrap runs the image's maintainer scripts. */
        r = binfmt_ensure(a);
        if (r < 0)
                return r;
        (void) rm_rf(hookdir);
        r = write_hook_files(hookdir, p);
        if (r < 0)
                return log_error_errno(r, "rootfs: cannot write hook files in '%s': %m", hookdir);

        _cleanup_strv_free_ char **argv = NULL;
        r = rootfs_mmdebstrap_argv(p, a, hookdir, tmp, &argv);
        if (r < 0)
                return log_oom();
        log_info("rootfs: mmdebstrap %s %s for %s (not cached: key %.12s)", p->distro, p->suite, a->debian,
                 ret_key);
        r = run_mmdebstrap("rootfs: mmdebstrap failed", argv);
        (void) rm_rf(hookdir);
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }
        if (rename(tmp, tar) < 0)
                return log_error_errno(-errno, "rootfs: cannot rename '%s': %m", tmp);
        (void) fsync_parent_dir(tar);
        *ret_tar = TAKE_PTR(tar);
        *ret_cached = 0;
        return 0;
}

int rootfs_sysroot_key_inputs(struct stagekey *k, const struct profile *p, const struct arch_info *a) {
        _cleanup_strv_free_ char **argv = NULL;
        int r = rootfs_sysroot_argv(p, a, "OUTPUT", &argv);
        if (r < 0)
                return r;
        return key_add_argv(k, argv);
}

char *rootfs_relative_link(const char *link, const char *target) {
        if (target[0] != '/')
                return strdup(target);
        size_t depth = 0;
        for (const char *c = link; *c; c++)
                if (*c == '/' && c[1] && c[1] != '/')
                        depth++;
        while (*target == '/')
                target++;
        size_t n = depth * 3 + strlen(target) + 2;
        char *out = malloc(n);
        if (!out)
                return NULL;
        size_t off = 0;
        for (size_t i = 0; i < depth; i++) {
                memcpy(out + off, "../", 3);
                off += 3;
        }
        snprintf(out + off, n - off, "%s", *target ? target : ".");
        return out;
}

static size_t relink_root_len;
static int relink_errno;
static int relink_one(const char *path, const struct stat *st, int type, struct FTW *f) {
        (void) st;
        (void) f;
        if (type != FTW_SL)
                return 0;
        char target[PATH_MAX];
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (n < 0) {
                relink_errno = -errno;
                return 1;
        }
        target[n] = '\0';
        if (target[0] != '/')
                return 0;
        _cleanup_free_ char *rel = rootfs_relative_link(path + relink_root_len + 1, target);
        if (!rel) {
                relink_errno = -ENOMEM;
                return 1;
        }
        if (unlink(path) < 0 || symlink(rel, path) < 0) {
                relink_errno = -errno;
                return 1;
        }
        return 0;
}

/* Absolute symbolic links in a tree that is not / point at the host
 * (libz.so -> /lib/aarch64-linux-gnu/libz.so.1 would make the linker
 * quietly fall back to libz.a): each becomes relative, inside the tree. */
static int relink_tree(const char *root) {
        relink_root_len = strlen(root);
        relink_errno = 0;
        if (nftw(root, relink_one, 64, FTW_PHYS | FTW_MOUNT) != 0)
                return relink_errno < 0 ? relink_errno : negative_errno();
        return 0;
}

int rootfs_sysroot_stage(const struct profile *p, const struct arch_info *a, const char *cache_dir,
                         char **ret_dir) {
        int r = check_keyring(p);
        if (r < 0)
                return r;
        char key[SHA256_HEX_LEN + 1];
        r = stage_key("sysroot", ROOTFS_SYSROOT_VERSION, p, a, rootfs_sysroot_key_inputs, key);
        if (r < 0)
                return r;
        _cleanup_free_ char *dir = NULL, *tmp = NULL;
        _cleanup_close_ int lock = -1;
        r = stage_path_locked("sysroot", cache_dir, p, a, key, "", &dir, &lock);
        if (r < 0)
                return r;
        if (access(dir, F_OK) == 0) {
                log_info("sysroot: cached %s", dir);
                *ret_dir = TAKE_PTR(dir);
                return 0;
        }
        if (asprintf(&tmp, "%s.partial", dir) < 0)
                return log_oom();
        (void) rm_rf(tmp);
        _cleanup_strv_free_ char **argv = NULL;
        r = rootfs_sysroot_argv(p, a, tmp, &argv);
        if (r < 0)
                return log_oom();
        log_info("sysroot: mmdebstrap --variant=extract %s %s for %s (not cached: key %.12s)", p->distro,
                 p->suite, a->debian, key);
        r = run_mmdebstrap("sysroot: mmdebstrap failed", argv);
        if (r >= 0) {
                r = relink_tree(tmp);
                if (r < 0)
                        log_error_errno(r, "sysroot: cannot make the links in '%s' relative: %m", tmp);
        }
        if (r >= 0 && rename(tmp, dir) < 0)
                r = log_error_errno(-errno, "sysroot: cannot rename '%s': %m", tmp);
        if (r < 0) {
                (void) rm_rf(tmp);
                return r;
        }
        (void) fsync_parent_dir(dir);
        *ret_dir = TAKE_PTR(dir);
        return 0;
}
