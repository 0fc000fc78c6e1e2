/* SPDX-License-Identifier: MIT */
#include "rootfs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

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

int rootfs_sources(const struct profile *p, char ***ret) {
        _cleanup_strv_free_ char **v = NULL;
        _cleanup_free_ char *comps = strv_join(p->components, " ");
        if (!comps)
                return -ENOMEM;
        if (strv_pushf(&v, "deb %s %s %s", p->mirror_main, p->suite, comps) < 0)
                return -ENOMEM;
        if (p->mirror_updates &&
            strv_pushf(&v, "deb %s %s-updates %s", p->mirror_updates, p->suite, comps) < 0)
                return -ENOMEM;
        if (p->mirror_security &&
            strv_pushf(&v, "deb %s %s-security %s", p->mirror_security, p->suite, comps) < 0)
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

int rootfs_mmdebstrap_argv(const struct profile *p, const struct arch_info *a, const char *hookdir,
                           const char *output, char ***ret) {
        _cleanup_strv_free_ char **argv = NULL, **pkgs = NULL, **sources = NULL;
        int r = rootfs_packages(p, a, &pkgs);
        if (r < 0)
                return r;
        r = rootfs_sources(p, &sources);
        if (r < 0)
                return r;
        _cleanup_free_ char *include = strv_join(pkgs, ",");
        if (!include)
                return -ENOMEM;
        if (strv_push(&argv, "mmdebstrap") < 0 || strv_push(&argv, "--variant=minbase") < 0 ||
            strv_push(&argv, "--format=tar") < 0 ||
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
            strv_push(&argv, "--aptopt=APT::Install-Recommends \"false\"") < 0 ||
            /* The initramfs configuration must be in place before the kernel
             * package's postinst builds the initramfs. */
            strv_pushf(&argv, "--setup-hook=sync-in %s /", hookdir) < 0 || strv_push(&argv, p->suite) < 0 ||
            strv_push(&argv, output) < 0)
                return -ENOMEM;
        for (char **s = sources; *s; s++)
                if (strv_push(&argv, *s) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(argv);
        return 0;
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
        /* --mode (root or unshare) depends on who builds, not on what is
         * built: it must not change the key. */
        _cleanup_strv_free_ char **keyed = NULL;
        for (char **arg = argv; *arg; arg++)
                if (strncmp(*arg, "--mode=", 7) != 0 && strv_push(&keyed, *arg) < 0)
                        return -ENOMEM;
        r = stagekey_add_list(k, "mmdebstrap-argv", keyed);
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

int rootfs_stage(const struct profile *p, const struct arch_info *a, const char *cache_dir, char **ret_tar,
                 char ret_key[SHA256_HEX_LEN + 1], int *ret_cached) {
        struct stat st;
        if (stat(p->keyring, &st) < 0)
                return log_error_errno(-errno,
                                       "rootfs: the archive keyring '%s' of profile '%s' is missing: "
                                       "install the package '%s' (apt-get install %s)",
                                       p->keyring, p->name, p->keyring_package, p->keyring_package);

        _cleanup_stagekey_ struct stagekey *k = NULL;
        int r = stagekey_new("rootfs", ROOTFS_STAGE_VERSION, &k);
        if (r < 0)
                return log_error_errno(r, "rootfs: cannot hash inputs: %m");
        r = rootfs_key_inputs(k, p, a);
        if (r >= 0)
                r = stagekey_add_file(k, "keyring", p->keyring);
        if (r >= 0)
                r = stagekey_final(k, ret_key);
        if (r < 0)
                return log_error_errno(r, "rootfs: cannot hash inputs: %m");

        _cleanup_free_ char *dir = NULL, *tar = NULL, *tmp = NULL, *hookdir = NULL;
        if (asprintf(&dir, "%s/rootfs", cache_dir) < 0 ||
            asprintf(&tar, "%s/%s-%s-%s.tar", dir, p->name, a->debian, ret_key) < 0 ||
            asprintf(&tmp, "%s.partial", tar) < 0 || asprintf(&hookdir, "%s/hooks-%s", dir, ret_key) < 0)
                return log_oom();
        r = mkdir_p(dir, 0755);
        if (r < 0)
                return log_error_errno(r, "rootfs: cannot create cache directory '%s': %m", dir);
        /* Two builds sharing a cache wait for each other instead of writing
         * the same partial tarball. The lock is released when fd closes. */
        _cleanup_free_ char *lockpath = NULL;
        if (asprintf(&lockpath, "%s.lock", tar) < 0)
                return log_oom();
        _cleanup_close_ int lock = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (lock < 0 || flock(lock, LOCK_EX) < 0)
                return log_error_errno(-errno, "rootfs: cannot lock '%s': %m", lockpath);
        if (stat(tar, &st) == 0) {
                log_info("rootfs: cached %s", tar);
                *ret_tar = TAKE_PTR(tar);
                *ret_cached = 1;
                return 0;
        }
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
        struct proc_result res = {0};
        struct proc_opts opts = {
                .timeout_sec = 3600, .stdout_fd = -1, .stdout_to_stderr = true, .passthrough_stderr = true};
        r = proc_ops->run(argv, &opts, &res);
        if (r < 0) {
                proc_log_failure(r, "rootfs: mmdebstrap failed", argv, &res);
                proc_result_done(&res);
                (void) unlink(tmp);
                (void) rm_rf(hookdir);
                return r;
        }
        proc_result_done(&res);
        (void) rm_rf(hookdir);
        if (rename(tmp, tar) < 0)
                return log_error_errno(-errno, "rootfs: cannot rename '%s': %m", tmp);
        (void) fsync_parent_dir(tar);
        *ret_tar = TAKE_PTR(tar);
        *ret_cached = 0;
        return 0;
}
