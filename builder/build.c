/* SPDX-License-Identifier: MIT */
#include "build.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "addons.h"
#include "digest.h"
#include "disk.h"
#include "dpkg.h"
#include "fsutil.h"
#include "json.h"
#include "log.h"
#include "macro.h"
#include "kubernetes.h"
#include "lock.h"
#include "manifestwalk.h"
#include "overlay.h"
#include "preload.h"
#include "proc.h"
#include "rootfs.h"
#include "stagekey.h"
#include "strv.h"
#include "tarx.h"
#include "yamlemit.h"

#define IMAGE_STAGE_VERSION 1
#define AGENT_PATH_IN_IMAGE "/usr/lib/kubeseed/kubeseed-firstboot"

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* Stage timing: "==> [name] ..." at the start, "<== [name] done in N s". */
struct stage_clock {
        const char *name;
        double start;
};
static struct stage_clock stage_begin(const char *name, const char *what) {
        log_info("==> [%s] %s", name, what);
        return (struct stage_clock){name, now_s()};
}
static void stage_end(const struct stage_clock *c) {
        log_info("<== [%s] done in %.1f s", c->name, now_s() - c->start);
}

char *build_output_name(const struct profile *p, const struct arch_info *a, const char *ext) {
        char *s = NULL;
        if (asprintf(&s, "kubeseed-%s-%s.%s", p->name, a->debian, ext) < 0)
                return NULL;
        return s;
}

int elf_machine(const uint8_t *hdr, size_t size, unsigned *ret) {
        if (size < 20 || memcmp(hdr, ELFMAG, SELFMAG) != 0)
                return -EINVAL;
        /* e_machine is at offset 18 in both ELF32 and ELF64, in the file's
         * byte order. */
        unsigned m = hdr[EI_DATA] == ELFDATA2MSB ? (unsigned) (hdr[18] << 8 | hdr[19])
                                                 : (unsigned) (hdr[19] << 8 | hdr[18]);
        *ret = m;
        return 0;
}

static int install_agent(const struct build_options *o, const char *root) {
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        int r = read_file_full(o->agent_path, 64u << 20, &data, &size);
        if (r < 0)
                return log_error_errno(r, "agent: cannot read '%s' (run 'make' first): %m", o->agent_path);
        unsigned m;
        if (elf_machine((const uint8_t *) data, size, &m) < 0)
                return log_error_errno(-ENOEXEC, "agent: '%s' is not an ELF binary", o->agent_path);
        if (m != o->arch->elf_machine)
                return log_error_errno(
                        -ENOEXEC,
                        "agent: '%s' is built for ELF machine %u, but the image is %s (machine %u)",
                        o->agent_path, m, o->arch->debian, o->arch->elf_machine);
        _cleanup_free_ char *dst = path_join_root(root, AGENT_PATH_IN_IMAGE);
        _cleanup_free_ char *dir = path_join_root(root, "/usr/lib/kubeseed");
        if (!dst || !dir)
                return log_oom();
        r = mkdir_p(dir, 0755);
        if (r >= 0)
                r = write_file_atomic(dst, data, size, 0755);
        if (r < 0)
                return log_error_errno(r, "agent: cannot install '%s': %m", dst);
        log_info("agent: installed %s (%zu KiB, %s)", AGENT_PATH_IN_IMAGE, size / 1024, o->arch->kernel);
        return 0;
}

static int write_root_file(const char *root, const char *path, const char *content, mode_t mode) {
        _cleanup_free_ char *full = path_join_root(root, path);
        if (!full)
                return log_oom();
        _cleanup_free_ char *dir = strdup(full);
        if (!dir)
                return log_oom();
        *strrchr(dir, '/') = '\0';
        int r = mkdir_p(dir, 0755);
        if (r >= 0)
                r = write_file_atomic(full, content, strlen(content), mode);
        if (r < 0)
                return log_error_errno(r, "Failed to write '%s' in the image: %m", path);
        return 0;
}

static int write_fstab(const char *root, const struct disk_build *d) {
        char buf[512];
        char esp[GPT_GUID_STRING_MAX];
        gpt_guid_to_string(&d->layout.partitions[0].uuid, false, esp);
        snprintf(buf, sizeof buf,
                 "# Written by kubeseed. The root is found by partition UUID.\n"
                 "PARTUUID=%s / ext4 rw,errors=remount-ro 0 1\n"
                 "PARTUUID=%s /boot/efi vfat umask=0077,nofail 0 2\n",
                 d->root_partuuid, esp);
        _cleanup_free_ char *efi = path_join_root(root, "/boot/efi");
        if (!efi || mkdir_p(efi, 0755) < 0)
                return log_error_errno(-EIO, "Failed to create /boot/efi in the image");
        return write_root_file(root, "/etc/fstab", buf, 0644);
}

/* /etc/kubeseed/image.yaml: what the image holds, for the agent and for
 * people. */
static int write_image_yaml(const struct build_options *o, const char *root, const char *rootfs_key,
                            const char *image_key, const struct preload_result *pre,
                            const struct addons_plan *addons) {
        _cleanup_yemit_ struct yemit *e = NULL;
        if (yemit_new(&e) < 0)
                return log_oom();
        char epoch[32];
        snprintf(epoch, sizeof epoch, "%" PRIu64, o->source_date_epoch);
        yemit_document_start(e);
        yemit_map_start(e);
        yemit_kv(e, "profile", o->profile->name);
        yemit_kv(e, "distro", o->profile->distro);
        yemit_kv(e, "suite", o->profile->suite);
        yemit_kv(e, "arch", o->arch->debian);
        yemit_kv_raw(e, "source-date-epoch", epoch);
        yemit_str(e, "stage-keys");
        yemit_map_start(e);
        yemit_kv(e, "rootfs", rootfs_key);
        yemit_kv(e, "image", image_key);
        yemit_map_end(e);
        yemit_str(e, "kubernetes");
        yemit_map_start(e);
        const struct profile_kubernetes *k = &o->profile->kubernetes;
        yemit_kv(e, "version", k->version ? k->version : "");
        /* What the agent gives kubeadm for this bundle. */
        if (k->etcd_image_tag || (k->init_skip_phases && *k->init_skip_phases)) {
                yemit_str(e, "kubeadm");
                yemit_map_start(e);
                if (k->etcd_image_tag)
                        yemit_kv(e, "etcd-image-tag", k->etcd_image_tag);
                if (k->init_skip_phases && *k->init_skip_phases) {
                        yemit_str(e, "init-skip-phases");
                        yemit_seq_start(e);
                        for (char **ph = k->init_skip_phases; *ph; ph++)
                                yemit_str(e, *ph);
                        yemit_seq_end(e);
                }
                yemit_map_end(e);
        }
        yemit_map_end(e);
        yemit_str(e, "images");
        yemit_seq_start(e);
        for (size_t i = 0; i < pre->n_images; i++) {
                yemit_map_start(e);
                yemit_kv(e, "name", pre->images[i].name);
                yemit_kv(e, "digest", pre->images[i].digest);
                yemit_map_end(e);
        }
        yemit_seq_end(e);
        /* The add-ons shipped (their manifests and checks are in
         * ADDON_CATALOG_PATH); digest = what the agent records once applied. */
        yemit_str(e, "addons");
        yemit_seq_start(e);
        for (size_t i = 0; i < addons->shipped.n_defs; i++) {
                const struct addon_def *d = &addons->shipped.defs[i];
                char digest[SHA256_HEX_LEN + 8] = "";
                (void) addon_digest(d, digest);
                yemit_map_start(e);
                yemit_kv(e, "name", d->name);
                yemit_kv(e, "category", d->category);
                yemit_kv_raw(e, "default", d->is_default ? "true" : "false");
                yemit_kv(e, "digest", digest);
                yemit_map_end(e);
        }
        yemit_seq_end(e);
        yemit_map_end(e);
        yemit_document_end(e);
        _cleanup_free_ char *text = NULL;
        if (yemit_finish(e, &text, NULL) < 0)
                return log_error_errno(-EINVAL, "Failed to render image.yaml");
        return write_root_file(root, "/etc/kubeseed/image.yaml", text, 0644);
}

int build_overlay_dirs(const struct build_options *o, char ***ret) {
        _cleanup_strv_free_ char **dirs = NULL;
        for (char **ov = o->profile->overlays; ov && *ov; ov++)
                if (strv_pushf(&dirs, "%s/%s", o->overlays_dir, *ov) < 0)
                        return -ENOMEM;
        if (strv_extend(&dirs, o->extra_overlays) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(dirs);
        return 0;
}

static int image_key(const struct build_options *o, char *const *overlay_dirs, const char *rootfs_key,
                     const char *content_key, char out[SHA256_HEX_LEN + 1]) {
        _cleanup_stagekey_ struct stagekey *k = NULL;
        int r = stagekey_new("image", IMAGE_STAGE_VERSION, &k);
        if (r < 0)
                return r;
        char num[64];
        r = stagekey_add(k, "rootfs", rootfs_key);
        if (r >= 0)
                r = stagekey_add(k, "content", content_key);
        for (char *const *dir = overlay_dirs; r >= 0 && *dir; dir++)
                r = stagekey_add_tree(k, "overlay", *dir);
        if (r >= 0)
                r = stagekey_add_file(k, "agent", o->agent_path);
        if (r >= 0)
                r = stagekey_add(k, "kernel-cmdline", o->profile->kernel_cmdline);
        snprintf(num, sizeof num, "%" PRIu64 "/%" PRIu64 "/%u", o->profile->disk_size,
                 o->profile->disk_headroom, o->profile->formats);
        if (r >= 0)
                r = stagekey_add(k, "disk", num);
        snprintf(num, sizeof num, "%" PRIu64, o->source_date_epoch);
        if (r >= 0)
                r = stagekey_add(k, "source-date-epoch", num);
        if (r >= 0)
                r = stagekey_add(k, "profile-name", o->profile->name);
        if (r >= 0)
                r = stagekey_final(k, out);
        return r;
}

static int write_manifest(const struct build_options *o, const char *root, const struct disk_build *d,
                          const char *rootfs_key, const char *img_key, const char *path) {
        _cleanup_free_ char *status_path = path_join_root(root, "/var/lib/dpkg/status");
        _cleanup_free_ char *status = NULL;
        size_t status_size = 0;
        if (!status_path)
                return log_oom();
        int r = read_file_full(status_path, 64u << 20, &status, &status_size);
        if (r < 0)
                return log_error_errno(r, "manifest: cannot read '%s': %m", status_path);
        struct dpkg_package *pkgs = NULL;
        size_t n = 0;
        r = dpkg_status_parse(status, status_size, &pkgs, &n);
        if (r < 0)
                return log_error_errno(r, "manifest: '%s' is not a dpkg status file", status_path);

        struct json j = {0};
        char guid[GPT_GUID_STRING_MAX];
        json_begin_object(&j);
        json_key(&j, "profile");
        json_begin_object(&j);
        json_kv_string(&j, "name", o->profile->name);
        json_kv_string(&j, "file", o->profile->path);
        json_kv_string(&j, "distro", o->profile->distro);
        json_kv_string(&j, "suite", o->profile->suite);
        json_kv_string(&j, "mirror", o->profile->mirror_main);
        json_end_object(&j);
        json_kv_string(&j, "arch", o->arch->debian);
        json_kv_uint(&j, "source_date_epoch", o->source_date_epoch);
        json_key(&j, "stage_keys");
        json_begin_object(&j);
        json_kv_string(&j, "rootfs", rootfs_key);
        json_kv_string(&j, "image", img_key);
        json_end_object(&j);
        json_kv_string(&j, "kernel_cmdline", d->cmdline);
        json_key(&j, "disk");
        json_begin_object(&j);
        json_kv_uint(&j, "size_bytes", d->layout.disk_bytes);
        json_kv_string(&j, "table", "gpt");
        json_kv_string(&j, "disk_guid", gpt_guid_to_string(&d->layout.disk_guid, false, guid));
        json_key(&j, "partitions");
        json_begin_array(&j);
        for (size_t i = 0; i < d->layout.n_partitions; i++) {
                const struct gpt_partition *p = &d->layout.partitions[i];
                json_begin_object(&j);
                json_kv_uint(&j, "number", i + 1);
                json_kv_string(&j, "name", p->name);
                json_kv_string(&j, "type", gpt_guid_to_string(&p->type, false, guid));
                json_kv_string(&j, "partuuid", gpt_guid_to_string(&p->uuid, false, guid));
                json_kv_uint(&j, "offset_bytes", gpt_partition_offset(&d->layout, i));
                json_kv_uint(&j, "size_bytes", gpt_partition_size(&d->layout, i));
                json_kv_string(&j, "filesystem", i == 0 ? "vfat" : "ext4");
                json_kv_string(&j, "label", i == 0 ? DISK_ESP_LABEL : DISK_ROOT_LABEL);
                json_kv_string(&j, "fs_uuid", i == 0 ? d->esp_serial : d->root_fs_uuid);
                json_end_object(&j);
        }
        json_end_array(&j);
        json_end_object(&j);
        json_key(&j, "packages");
        json_begin_array(&j);
        for (size_t i = 0; i < n; i++) {
                json_begin_object(&j);
                json_kv_string(&j, "name", pkgs[i].name);
                json_kv_string(&j, "version", pkgs[i].version);
                json_kv_string(&j, "arch", pkgs[i].arch);
                json_end_object(&j);
        }
        json_end_array(&j);
        json_end_object(&j);
        dpkg_packages_free(pkgs, n);
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        r = json_finish(&j, &text, &len);
        if (r < 0)
                return log_error_errno(r, "manifest: cannot render: %m");
        r = write_file_atomic(path, text, len, 0644);
        if (r < 0)
                return log_error_errno(r, "manifest: cannot write '%s': %m", path);
        return 0;
}

struct output {
        char *final;
        char *tmp;
};

static void outputs_free(struct output *outs, size_t n) {
        for (size_t i = 0; i < n; i++) {
                if (outs[i].tmp)
                        (void) unlink(outs[i].tmp);
                free(outs[i].tmp);
                free(outs[i].final);
        }
}

enum { OUT_RAW, OUT_QCOW2, OUT_SUMS, OUT_MANIFEST, N_OUT };

/* The offline check of a whole build (`with_files`: the Kubernetes bundle
 * too) or of the images alone (kubeseed preload). */
static int offline_check(const struct build_options *o, const struct lock_arch *section, const char *cas_dir,
                         bool with_files) {
        if (!o->profile->kubernetes.version)
                return 0;
        _cleanup_strv_free_ char **files = NULL;
        _cleanup_image_list_ struct image_list want = {0};
        int r = with_files ? kubernetes_bundle_files(o->profile, o->arch, &files) : 0;
        if (r < 0)
                return r;
        /* The add-ons' manifests first: their images are part of the list. */
        struct addons_plan addons = {0};
        r = addons_stage(o->profile, cas_dir, NULL, section, true, NULL, NULL, &addons);
        if (r >= 0)
                r = preload_wanted_images(o->profile, &addons.images, &want);
        addons_plan_done(&addons);
        if (r < 0)
                return r;
        _cleanup_free_ char *err = NULL;
        r = lock_check_offline(section, o->profile->kubernetes.version, files, &want, cas_dir, &err);
        if (r < 0)
                return log_error_errno(r, "offline: %s", err ? err : "cannot check the store");
        log_info("offline: the lock and the store hold all %zu files and %zu images", strv_length(files),
                 want.n_items);
        return 0;
}

int build_offline_check(const struct build_options *o, const struct lock_arch *section,
                        const char *cas_dir) {
        return offline_check(o, section, cas_dir, true);
}

/* The lock's section for this build: NULL when there is no lock; an empty
 * section (so that everything is "not in the lock") when the lock has none
 * for this architecture. */
static int load_lock(const struct build_options *o, struct lock **ret_lock,
                     const struct lock_arch **ret_section, struct lock_arch *empty) {
        _cleanup_free_ char *err = NULL;
        *ret_lock = NULL;
        *ret_section = NULL;
        if (!o->lock_path) {
                if (o->offline)
                        return log_error_errno(-EINVAL, "offline: no lock file given");
                return 0;
        }
        int r = lock_load(o->lock_path, ret_lock, &err);
        if (r == -ENOENT) {
                /* A profile without Kubernetes has nothing to lock. */
                if (o->offline && o->profile->kubernetes.version)
                        return log_error_errno(r,
                                               "offline: the lock file '%s' does not exist: run kubeseed "
                                               "fetch -p %s on a connected machine first",
                                               o->lock_path, o->profile->path);
                log_info("lock: no '%s': image tags are resolved now (kubeseed fetch writes a lock)",
                         o->lock_path);
                return 0;
        }
        if (r < 0)
                return log_error_errno(r, "lock: %s", err ? err : o->lock_path);
        *ret_section = lock_find_arch(*ret_lock, o->arch->debian);
        if (!*ret_section) {
                log_warning("lock: '%s' has no section for %s", o->lock_path, o->arch->debian);
                empty->arch = (char *) o->arch->debian;
                *ret_section = empty;
        } else
                log_info("lock: using '%s' (%s): digests pinned, no tag is followed", o->lock_path,
                         o->arch->debian);
        return 0;
}

int fetch_run(const struct build_options *o) {
        _cleanup_free_ char *cas_dir = strdupf("%s/store", o->cache_dir), *err = NULL;
        if (!cas_dir)
                return log_oom();
        _cleanup_lock_ struct lock *l = NULL;
        int r = lock_load(o->lock_path, &l, &err);
        if (r < 0 && r != -ENOENT)
                return log_error_errno(r, "fetch: %s", err ? err : o->lock_path);
        if (!l && !(l = lock_new(o->profile->name)))
                return log_oom();
        free(l->profile);
        if (!(l->profile = strdup(o->profile->name)))
                return log_oom();
        r = mkdir_p(cas_dir, 0755);
        if (r < 0)
                return log_error_errno(r, "fetch: cannot create '%s': %m", cas_dir);

        struct addons_plan addons = {0};
        struct lock_arch section = {.arch = strdup(o->arch->debian)};
        if (!section.arch)
                return log_oom();
        struct stage_clock c = stage_begin("kubernetes", "Kubernetes node binaries into the store");
        r = kubernetes_fetch(o->profile, o->arch, cas_dir, lock_find_arch(l, o->arch->debian), &section);
        if (r >= 0) {
                stage_end(&c);
                c = stage_begin("addons", "add-on manifests into the store");
                r = addons_stage(o->profile, cas_dir, NULL, NULL, false, &section, NULL, &addons);
        }
        if (r >= 0) {
                stage_end(&c);
                c = stage_begin("images", "resolving every image tag to a digest, pulling into the store");
                r = preload_fetch(o->profile, o->arch, cas_dir, o->registry_credentials, &addons.images,
                                  &section);
        }
        if (r >= 0) {
                stage_end(&c);
                if (!o->profile->kubernetes.version)
                        log_info("fetch: the profile has no kubernetes section: nothing to fetch");
                size_t nf = section.n_files, ni = section.n_images;
                r = lock_set_arch(l, &section);
                if (r >= 0)
                        r = lock_save(o->lock_path, l);
                if (r < 0)
                        log_error_errno(r, "fetch: cannot write the lock '%s': %m", o->lock_path);
                else
                        log_info("fetch: wrote '%s' for %s: %zu files, %zu images", o->lock_path,
                                 o->arch->debian, nf, ni);
        }
        lock_arch_done(&section);
        addons_plan_done(&addons);
        return r < 0 ? r : 0;
}

int preload_run(const struct build_options *o) {
        double t0 = now_s();
        _cleanup_free_ char *cas_dir = strdupf("%s/store", o->cache_dir), *name = NULL, *path = NULL;
        if (!cas_dir)
                return log_oom();
        _cleanup_lock_ struct lock *lock = NULL;
        const struct lock_arch *section = NULL;
        struct lock_arch empty_section = {0};
        if (!o->profile->kubernetes.version)
                return log_error_errno(-EINVAL,
                                       "preload: the profile '%s' has no kubernetes section, so no image "
                                       "to preload",
                                       o->profile->path);
        int r = load_lock(o, &lock, &section, &empty_section);
        if (r < 0)
                return r;
        if (o->offline && (r = offline_check(o, section, cas_dir, false)) < 0)
                return r;
        name = build_output_name(o->profile, o->arch, "images.tar");
        if (!name || !(path = strdupf("%s/%s", o->out_dir, name)))
                return log_oom();
        r = mkdir_p(cas_dir, 0755);
        if (r < 0)
                return log_error_errno(r, "preload: cannot create '%s': %m", cas_dir);
        struct preload_result pre = {0};
        /* The add-ons' images belong to the set: their manifests first. */
        struct addons_plan addons = {0};
        struct stage_clock c = stage_begin("addons", "add-on manifests (digests verified)");
        r = addons_stage(o->profile, cas_dir, NULL, section, o->offline, NULL, NULL, &addons);
        if (r >= 0) {
                stage_end(&c);
                c = stage_begin("preload", "container images into one OCI archive");
                r = preload_write(o->profile, o->arch, cas_dir, path, o->source_date_epoch,
                                  o->registry_credentials, &addons.images, section, o->offline, NULL, &pre);
        }
        preload_result_done(&pre);
        addons_plan_done(&addons);
        if (r < 0) {
                log_error("preload: FAILED after %.1f s; '%s' was not written", now_s() - t0, path);
                return r;
        }
        stage_end(&c);
        log_info("outputs: %s", path);
        return 0;
}

int build_run(const struct build_options *o) {
        double t0 = now_s();
        int r;
        struct output outs[N_OUT] = {{0}};
        /* Every variable with a cleanup is declared here, before the first
         * goto: a jump past such a declaration would free garbage. */
        _cleanup_free_ char *workdir = NULL, *root = NULL, *tar = NULL, *tmpbase = NULL, *err = NULL;
        _cleanup_strv_free_ char **overlay_dirs = NULL;
        _cleanup_stagekey_ struct stagekey *content = NULL;
        char content_hex[SHA256_HEX_LEN + 1] = "";
        struct preload_result pre = {0};
        struct addons_plan addons = {0};
        _cleanup_free_ char *cas_dir = strdupf("%s/store", o->cache_dir);
        if (!cas_dir)
                return log_oom();
        char rootfs_key[SHA256_HEX_LEN + 1], img_key[SHA256_HEX_LEN + 1];
        struct disk_build d = {0};
        _cleanup_lock_ struct lock *lock = NULL;
        const struct lock_arch *section = NULL;
        struct lock_arch empty_section = {0};

        r = load_lock(o, &lock, &section, &empty_section);
        if (r < 0)
                goto finish;
        if (o->offline) {
                r = build_offline_check(o, section, cas_dir);
                if (r < 0)
                        goto finish;
        }
        r = mkdir_p(o->out_dir, 0755);
        if (r < 0) {
                log_error_errno(r, "Failed to create output directory '%s': %m", o->out_dir);
                goto finish;
        }
        static const char *const exts[N_OUT] = {"raw", "qcow2", NULL, NULL};
        for (int i = 0; i < N_OUT; i++) {
                _cleanup_free_ char *name = exts[i] ? build_output_name(o->profile, o->arch, exts[i])
                                                    : strdup(i == OUT_SUMS ? "SHA256SUMS" : "manifest.json");
                if (!name || asprintf(&outs[i].final, "%s/%s", o->out_dir, name) < 0 ||
                    asprintf(&outs[i].tmp, "%s/.%s.partial", o->out_dir, name) < 0) {
                        r = log_oom();
                        goto finish;
                }
        }

        /* 1. rootfs */
        struct stage_clock c = stage_begin("rootfs", "root filesystem (mmdebstrap, cached by input hash)");
        int cached = 0;
        r = rootfs_stage(o->profile, o->arch, o->cache_dir, &tar, rootfs_key, &cached);
        if (r < 0)
                goto finish;
        stage_end(&c);

        /* Staging tree under the cache (same filesystem, outside the clone). */
        c = stage_begin("stage", "unpacking the root filesystem");
        if (asprintf(&tmpbase, "%s/tmp", o->cache_dir) < 0 ||
            asprintf(&workdir, "%s/build-XXXXXX", tmpbase) < 0) {
                r = log_oom();
                goto finish;
        }
        r = mkdir_p(tmpbase, 0755);
        if (r < 0 || !mkdtemp(workdir)) {
                r = log_error_errno(r < 0 ? r : -errno,
                                    "stage: cannot create a work directory under '%s': %m", tmpbase);
                free(workdir);
                workdir = NULL;
                goto finish;
        }
        if (asprintf(&root, "%s/root", workdir) < 0 || mkdir(root, 0755) < 0) {
                r = log_error_errno(-EIO, "stage: cannot create the staging root");
                goto finish;
        }
        r = tar_extract(tar, root, &err);
        if (r < 0) {
                log_error_errno(r, "stage: cannot unpack '%s': %s", tar, err ? err : "unknown error");
                goto finish;
        }
        stage_end(&c);

        /* 2. Kubernetes: node binaries, kubelet unit, containerd configuration;
         * then every container image the cluster runs. Both before the
         * overlays, so that a site's overlay can still override a file. */
        c = stage_begin("kubernetes",
                        "Kubernetes node binaries (digests verified), kubelet unit, containerd");
        r = stagekey_new("content", 1, &content);
        if (r < 0) {
                log_oom();
                goto finish;
        }
        r = kubernetes_stage_locked(o->profile, o->arch, cas_dir, o->overlays_dir, root, section, o->offline,
                                    content);
        if (r < 0)
                goto finish;
        stage_end(&c);
        c = stage_begin("addons", "add-on manifests (digests verified) and their catalogue");
        r = addons_stage(o->profile, cas_dir, root, section, o->offline, NULL, content, &addons);
        if (r < 0)
                goto finish;
        stage_end(&c);
        c = stage_begin("preload",
                        "container images for an offline cluster (OCI archive, digests verified)");
        r = preload_stage_locked(o->profile, o->arch, cas_dir, root, o->source_date_epoch,
                                 o->registry_credentials, &addons.images, section, o->offline, content,
                                 &pre);
        if (r < 0)
                goto finish;
        r = stagekey_final(content, content_hex);
        if (r < 0) {
                log_oom();
                goto finish;
        }
        stage_end(&c);

        /* 3. overlays */
        c = stage_begin("overlays", "copying overlay trees");
        r = build_overlay_dirs(o, &overlay_dirs);
        if (r < 0) {
                log_oom();
                goto finish;
        }
        for (char **dir = overlay_dirs; *dir; dir++) {
                log_info("overlays: %s", *dir);
                r = overlay_apply(*dir, root);
                if (r < 0)
                        goto finish;
        }
        stage_end(&c);

        /* 4. agent */
        c = stage_begin("agent", "installing kubeseed-firstboot");
        r = install_agent(o, root);
        if (r < 0)
                goto finish;
        stage_end(&c);

        /* 5. disk */
        c = stage_begin("disk", "GPT, EFI system partition with a unified kernel image, ext4 root");
        r = image_key(o, overlay_dirs, rootfs_key, content_hex, img_key);
        if (r < 0) {
                log_error_errno(r, "disk: cannot hash the image's inputs: %m");
                goto finish;
        }
        uint8_t seed[32];
        for (int i = 0; i < 32; i++) {
                unsigned v;
                sscanf(img_key + 2 * i, "%2x", &v);
                seed[i] = (uint8_t) v;
        }
        d = (struct disk_build){.profile = o->profile,
                                .arch = o->arch,
                                .root = root,
                                .workdir = workdir,
                                .image = outs[OUT_RAW].tmp,
                                .seed = seed,
                                .source_date_epoch = o->source_date_epoch};
        r = write_image_yaml(o, root, rootfs_key, img_key, &pre, &addons);
        if (r < 0)
                goto finish;
        r = disk_plan(&d);
        if (r < 0)
                goto finish;
        r = write_fstab(root, &d);
        if (r < 0)
                goto finish;
        r = disk_build_raw(&d);
        if (r < 0)
                goto finish;
        r = disk_verify(&d);
        if (r < 0)
                goto finish;
        log_info("disk: verified with libblkid: gpt, ESP vfat %s, root ext4 %s", d.esp_serial,
                 d.root_fs_uuid);
        stage_end(&c);

        /* 6. outputs */
        c = stage_begin("outputs", "qcow2, SHA256SUMS, manifest.json");
        if (o->profile->formats & PROFILE_FORMAT_QCOW2) {
                char *argv[] = {"qemu-img",        "convert",           "-q", "-f", "raw", "-O", "qcow2",
                                outs[OUT_RAW].tmp, outs[OUT_QCOW2].tmp, NULL};
                struct proc_result res = {0};
                struct proc_opts popts = {.timeout_sec = 1800, .stdout_fd = -1};
                r = proc_ops->run(argv, &popts, &res);
                if (r < 0)
                        proc_log_failure(r, "outputs: converting to qcow2", argv, &res);
                proc_result_done(&res);
                if (r < 0)
                        goto finish;
        }
        r = write_manifest(o, root, &d, rootfs_key, img_key, outs[OUT_MANIFEST].tmp);
        if (r < 0)
                goto finish;
        {
                char sums[1024] = "";
                size_t off = 0;
                for (int i = OUT_RAW; i <= OUT_QCOW2; i++) {
                        if (i == OUT_RAW && !(o->profile->formats & PROFILE_FORMAT_RAW) && false)
                                continue;
                        if (i == OUT_QCOW2 && !(o->profile->formats & PROFILE_FORMAT_QCOW2))
                                continue;
                        char hex[SHA256_HEX_LEN + 1];
                        r = sha256_file(outs[i].tmp, hex);
                        if (r < 0) {
                                log_error_errno(r, "outputs: cannot hash '%s': %m", outs[i].tmp);
                                goto finish;
                        }
                        off += (size_t) snprintf(sums + off, sizeof sums - off, "%s  %s\n", hex,
                                                 strrchr(outs[i].final, '/') + 1);
                }
                r = write_file_atomic(outs[OUT_SUMS].tmp, sums, off, 0644);
                if (r < 0) {
                        log_error_errno(r, "outputs: cannot write SHA256SUMS: %m");
                        goto finish;
                }
        }
        /* Everything succeeded: give the files their real names. A raw image
         * is still produced when the profile lists only qcow2 (it is the
         * source of every other format) but then it is not kept. */
        for (int i = 0; i < N_OUT; i++) {
                if (i == OUT_QCOW2 && !(o->profile->formats & PROFILE_FORMAT_QCOW2))
                        continue;
                if (i == OUT_RAW && !(o->profile->formats & PROFILE_FORMAT_RAW))
                        continue;
                if (rename(outs[i].tmp, outs[i].final) < 0) {
                        r = log_error_errno(-errno, "outputs: cannot rename '%s': %m", outs[i].tmp);
                        goto finish;
                }
                free(outs[i].tmp);
                outs[i].tmp = NULL;
                log_info("outputs: %s", outs[i].final);
        }
        (void) fsync_parent_dir(outs[OUT_SUMS].final);
        stage_end(&c);
        log_info("build: %s for %s finished in %.1f s", o->profile->name, o->arch->debian, now_s() - t0);
        r = 0;

finish:
        if (r < 0)
                log_error("build: FAILED after %.1f s; no output was left under its final name in '%s'",
                          now_s() - t0, o->out_dir);
        outputs_free(outs, N_OUT);
        disk_build_done(&d);
        preload_result_done(&pre);
        addons_plan_done(&addons);
        if (workdir)
                (void) rm_rf(workdir);
        return r;
}
