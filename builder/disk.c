/* SPDX-License-Identifier: MIT */
#include "disk.h"

#include <blkid.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "fsutil.h"
#include "log.h"
#include "macro.h"
#include "proc.h"
#include "strv.h"

#define MiB (UINT64_C(1) << 20)

static uint64_t align_up(uint64_t v, uint64_t a) {
        return (v + a - 1) / a * a;
}

void uki_plan(uint64_t linux_size, struct uki_layout *ret) {
        /* The stub's own sections sit below 0x20000 (systemd 252..255); the
         * kernel goes at 32 MiB as systemd's ukify did, the initrd after it. */
        ret->osrel_vma = 0x20000;
        ret->cmdline_vma = 0x30000;
        ret->linux_vma = 0x2000000;
        ret->initrd_vma = align_up(ret->linux_vma + linux_size, MiB);
}

int uki_objcopy_argv(const struct arch_info *a, const struct uki_layout *l, const char *stub,
                     const char *osrel, const char *cmdline, const char *linux_path, const char *initrd,
                     const char *out, char ***ret) {
        _cleanup_strv_free_ char **v = NULL;
        if (strv_push(&v, a->objcopy) < 0 || strv_pushf(&v, "--add-section=.osrel=%s", osrel) < 0 ||
            strv_pushf(&v, "--change-section-vma=.osrel=0x%" PRIx64, l->osrel_vma) < 0 ||
            strv_pushf(&v, "--add-section=.cmdline=%s", cmdline) < 0 ||
            strv_pushf(&v, "--change-section-vma=.cmdline=0x%" PRIx64, l->cmdline_vma) < 0 ||
            strv_pushf(&v, "--add-section=.linux=%s", linux_path) < 0 ||
            strv_pushf(&v, "--change-section-vma=.linux=0x%" PRIx64, l->linux_vma) < 0 ||
            strv_pushf(&v, "--add-section=.initrd=%s", initrd) < 0 ||
            strv_pushf(&v, "--change-section-vma=.initrd=0x%" PRIx64, l->initrd_vma) < 0 ||
            strv_push(&v, stub) < 0 || strv_push(&v, out) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(v);
        return 0;
}

bool uki_kernel_is_gzip(const uint8_t *hdr, size_t size) {
        /* RFC 1952: ID1 ID2 CM=8 (deflate). */
        return size >= 3 && hdr[0] == 0x1f && hdr[1] == 0x8b && hdr[2] == 8;
}

static void gzclosep(gzFile *f) {
        if (*f)
                (void) gzclose(*f);
}

int uki_kernel_image(const char *kernel, const char *workdir, uint64_t max_size, char **ret_path) {
        _cleanup_close_ int in = open(kernel, O_RDONLY | O_CLOEXEC);
        if (in < 0)
                return log_error_errno(-errno, "disk: cannot open the kernel '%s': %m", kernel);
        uint8_t hdr[3];
        ssize_t n = pread(in, hdr, sizeof hdr, 0);
        if (n < 0)
                return log_error_errno(-errno, "disk: cannot read the kernel '%s': %m", kernel);
        if (!uki_kernel_is_gzip(hdr, (size_t) n)) {
                char *p = strdup(kernel);
                if (!p)
                        return log_oom();
                *ret_path = p;
                return 0;
        }
        /* Some distributions package arm64 kernels as a gzip-compressed
         * Image (Ubuntu's vmlinuz); systemd 252's stub hands .linux to the
         * firmware's LoadImage() as it is ("Bad kernel image: Load Error"
         * for a gzip file), so the UKI needs the Image itself. */
        _cleanup_free_ char *out = NULL;
        if (asprintf(&out, "%s/vmlinux.image", workdir) < 0)
                return log_oom();
        _cleanup_(gzclosep) gzFile gz = gzdopen(in, "rb");
        if (!gz)
                return log_oom();
        in = -1; /* owned by gz now */
        _cleanup_close_ int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return log_error_errno(-errno, "disk: cannot create '%s': %m", out);
        static char buf[1 << 16];
        uint64_t total = 0;
        for (;;) {
                int got = gzread(gz, buf, sizeof buf);
                if (got < 0) {
                        int zerr;
                        const char *msg = gzerror(gz, &zerr);
                        return log_error_errno(-EBADMSG, "disk: cannot decompress the kernel '%s': %s",
                                               kernel, msg ? msg : "zlib error");
                }
                if (got == 0)
                        break;
                if (total + (uint64_t) got > max_size)
                        return log_error_errno(
                                -EFBIG, "disk: the kernel '%s' decompresses to more than %" PRIu64 " bytes",
                                kernel, max_size);
                int w = write_all_at(fd, buf, (size_t) got, total);
                if (w < 0)
                        return log_error_errno(w, "disk: cannot write '%s': %m", out);
                total += (uint64_t) got;
        }
        /* gzread() stops quietly at a truncated stream: only a clean end of
         * the gzip member counts. */
        int zerr = Z_OK;
        (void) gzerror(gz, &zerr);
        if (zerr != Z_OK || total == 0)
                return log_error_errno(-EBADMSG, "disk: the kernel '%s' is a truncated gzip stream", kernel);
        log_info("disk: the kernel is gzip-compressed; decompressed %" PRIu64 " MiB for the UKI",
                 total >> 20);
        *ret_path = TAKE_PTR(out);
        return 1;
}

char *disk_kernel_cmdline(const struct arch_info *a, const char *root_partuuid,
                          const char *profile_cmdline) {
        char *s = NULL;
        bool extra = profile_cmdline && *profile_cmdline;
        /* tty0 first, then the serial console: the last console= is
         * /dev/console, which is where systemd and the agent report. */
        if (asprintf(&s, "root=PARTUUID=%s rw console=tty0 console=%s,115200%s%s", root_partuuid, a->console,
                     extra ? " " : "", extra ? profile_cmdline : "") < 0)
                return NULL;
        return s;
}

int disk_root_size(uint64_t content_bytes, uint64_t inodes, uint64_t fixed_size, uint64_t headroom,
                   uint64_t *ret) {
        /* ext4 overhead: inode tables (256 bytes per inode at one inode per
         * 16 KiB), the journal (64 MiB up to 128 GiB filesystems as mke2fs
         * picks it for our sizes, capped here) and 5% reserved blocks. */
        if (content_bytes > UINT64_MAX / 2 || headroom > UINT64_MAX / 4)
                return -EOVERFLOW;
        uint64_t need = content_bytes + content_bytes / 10 + inodes * 4096 / 8 + 128 * MiB;
        if (fixed_size) {
                if (fixed_size < need)
                        return -ENOSPC;
                *ret = align_up(fixed_size, MiB);
                return 0;
        }
        *ret = align_up(need + headroom, MiB);
        return 0;
}

int disk_mkfs_ext4_argv(const char *image, uint64_t offset, uint64_t size, const char *label,
                        const char *uuid, const char *src, char ***ret) {
        _cleanup_strv_free_ char **v = NULL;
        if (size % 4096 != 0)
                return -EINVAL;
        if (strv_push(&v, "mkfs.ext4") < 0 || strv_push(&v, "-F") < 0 || strv_push(&v, "-q") < 0 ||
            strv_push(&v, "-b") < 0 || strv_push(&v, "4096") < 0 || strv_push(&v, "-L") < 0 ||
            strv_push(&v, label) < 0 || strv_push(&v, "-U") < 0 || strv_push(&v, uuid) < 0 ||
            strv_push(&v, "-E") < 0 ||
            strv_pushf(&v, "offset=%" PRIu64 ",root_owner=0:0,hash_seed=%s,lazy_itable_init=0", offset,
                       uuid) < 0 ||
            strv_push(&v, "-d") < 0 || strv_push(&v, src) < 0 || strv_push(&v, image) < 0 ||
            strv_pushf(&v, "%" PRIu64 "k", size / 1024) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(v);
        return 0;
}

void disk_fat_serial(const struct gpt_layout *l, char out[9]) {
        const uint8_t *g = l->partitions[0].uuid.bytes;
        snprintf(out, 9, "%02X%02X%02X%02X", g[3], g[2], g[1], g[0]);
}

static uint64_t measured_bytes, measured_inodes;
static int measure_one(const char *p, const struct stat *st, int type, struct FTW *f) {
        (void) p;
        (void) type;
        (void) f;
        measured_inodes++;
        /* Files rounded to 4 KiB blocks, as ext4 will store them. */
        if (S_ISREG(st->st_mode) || S_ISLNK(st->st_mode) || S_ISDIR(st->st_mode))
                measured_bytes += align_up((uint64_t) st->st_size, 4096);
        return 0;
}

int disk_measure_tree(const char *root, uint64_t *ret_bytes, uint64_t *ret_inodes) {
        measured_bytes = measured_inodes = 0;
        if (nftw(root, measure_one, 64, FTW_PHYS | FTW_MOUNT) < 0)
                return negative_errno();
        *ret_bytes = measured_bytes;
        *ret_inodes = measured_inodes;
        return 0;
}

static int run_tool(const char *what, char **argv, char *const *env) {
        struct proc_result res = {0};
        struct proc_opts opts = {.timeout_sec = 1800, .stdout_fd = -1, .env_add = env};
        int r = proc_ops->run(argv, &opts, &res);
        if (r < 0)
                proc_log_failure(r, what, argv, &res);
        proc_result_done(&res);
        return r;
}

/* The single file matching prefix* in dir (a kernel or initrd). */
static int find_one(const char *dir, const char *prefix, char **ret) {
        _cleanup_(closedirp_) DIR *d = opendir(dir);
        if (!d)
                return log_error_errno(-errno, "disk: cannot open '%s': %m", dir);
        _cleanup_free_ char *found = NULL;
        struct dirent *e;
        while ((e = readdir(d))) {
                if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
                        continue;
                if (found)
                        return log_error_errno(-ENOTUNIQ,
                                               "disk: more than one %s* in '%s' ('%s' and '%s'); the image "
                                               "must hold exactly one kernel",
                                               prefix, dir, found, e->d_name);
                found = strdup(e->d_name);
                if (!found)
                        return log_oom();
        }
        if (!found)
                return log_error_errno(-ENOENT,
                                       "disk: no %s* in '%s': is the profile's kernel package installed?",
                                       prefix, dir);
        if (asprintf(ret, "%s/%s", dir, found) < 0)
                return log_oom();
        return 0;
}

int disk_plan(struct disk_build *b) {
        uint64_t bytes, inodes, root_size;
        int r = disk_measure_tree(b->root, &bytes, &inodes);
        if (r < 0)
                return log_error_errno(r, "disk: cannot measure '%s': %m", b->root);
        r = disk_root_size(bytes, inodes, b->profile->disk_size, b->profile->disk_headroom, &root_size);
        if (r == -ENOSPC)
                return log_error_errno(r,
                                       "disk: the content (%" PRIu64
                                       " MiB) does not fit the profile's disk.size (%" PRIu64 " MiB)",
                                       bytes / MiB, b->profile->disk_size / MiB);
        if (r < 0)
                return log_error_errno(r, "disk: cannot size the root filesystem: %m");
        r = gpt_plan(DISK_ESP_BYTES, root_size, b->arch->debian, b->seed, &b->layout);
        if (r < 0)
                return log_error_errno(r, "disk: cannot plan the partition table: %m");
        gpt_guid_to_string(&b->layout.partitions[1].uuid, false, b->root_partuuid);
        struct gpt_guid fs;
        r = gpt_guid_derive(b->seed, "root-filesystem", &fs);
        if (r < 0)
                return log_error_errno(r, "disk: cannot derive the filesystem UUID: %m");
        gpt_guid_to_string(&fs, false, b->root_fs_uuid);
        char serial[9];
        disk_fat_serial(&b->layout, serial);
        snprintf(b->esp_serial, sizeof b->esp_serial, "%.4s-%.4s", serial, serial + 4);
        b->cmdline = disk_kernel_cmdline(b->arch, b->root_partuuid, b->profile->kernel_cmdline);
        if (!b->cmdline)
                return log_oom();
        log_info("disk: layout: ESP %" PRIu64 " MiB, root %" PRIu64 " MiB (content %" PRIu64 " MiB, %" PRIu64
                 " inodes), disk %" PRIu64 " MiB",
                 DISK_ESP_BYTES / MiB, root_size / MiB, bytes / MiB, inodes, b->layout.disk_bytes / MiB);
        return 0;
}

/* Copies src into fd at offset, leaving holes where src has zero blocks. */
static int copy_into(const char *src, int fd, uint64_t offset) {
        _cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
        if (in < 0)
                return negative_errno();
        static char buf[1 << 16];
        uint64_t pos = 0;
        for (;;) {
                ssize_t n = read(in, buf, sizeof buf);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return negative_errno();
                if (n == 0)
                        return 0;
                bool zero = true;
                for (ssize_t i = 0; i < n && zero; i++)
                        zero = buf[i] == 0;
                if (!zero) {
                        ssize_t w = pwrite(fd, buf, (size_t) n, (off_t) (offset + pos));
                        if (w != n)
                                return w < 0 ? negative_errno() : -EIO;
                }
                pos += (uint64_t) n;
        }
}

static int build_uki(struct disk_build *b, const char *out) {
        _cleanup_free_ char *boot = path_join_root(b->root, "/boot");
        _cleanup_free_ char *stub = NULL, *osrel = NULL, *cmdline = NULL, *kernel = NULL, *initrd = NULL;
        if (!boot || asprintf(&stub, "%s/usr/lib/systemd/boot/efi/%s", b->root, b->arch->efi_stub) < 0 ||
            asprintf(&osrel, "%s/usr/lib/os-release", b->root) < 0 ||
            asprintf(&cmdline, "%s/cmdline", b->workdir) < 0)
                return log_oom();
        int r = find_one(boot, "vmlinuz-", &kernel);
        if (r < 0)
                return r;
        r = find_one(boot, "initrd.img-", &initrd);
        if (r < 0)
                return r;
        if (access(stub, R_OK) < 0)
                return log_error_errno(
                        -errno, "disk: the EFI stub '%s' is missing (package systemd-boot-efi): %m", stub);
        r = write_file_atomic(cmdline, b->cmdline, strlen(b->cmdline), 0644);
        if (r < 0)
                return log_error_errno(r, "disk: cannot write '%s': %m", cmdline);
        _cleanup_free_ char *image = NULL;
        r = uki_kernel_image(kernel, b->workdir, UKI_KERNEL_MAX, &image);
        if (r < 0)
                return r;
        struct stat st;
        if (stat(image, &st) < 0)
                return log_error_errno(-errno, "disk: cannot stat '%s': %m", image);
        struct uki_layout l;
        uki_plan((uint64_t) st.st_size, &l);
        _cleanup_strv_free_ char **argv = NULL;
        if (uki_objcopy_argv(b->arch, &l, stub, osrel, cmdline, image, initrd, out, &argv) < 0)
                return log_oom();
        log_info("disk: unified kernel image from %s", strrchr(kernel, '/') + 1);
        return run_tool("disk: building the unified kernel image", argv, NULL);
}

static int build_esp(struct disk_build *b, const char *uki, const char *esp) {
        _cleanup_close_ int fd = open(esp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || ftruncate(fd, (off_t) DISK_ESP_BYTES) < 0)
                return log_error_errno(-errno, "disk: cannot create '%s': %m", esp);
        char serial[9];
        disk_fat_serial(&b->layout, serial);
        _cleanup_free_ char *dst = NULL;
        if (asprintf(&dst, "::/EFI/BOOT/BOOT%s.EFI", b->arch->efi_suffix) < 0)
                return log_oom();
        char *mformat[] = {"mformat",      "-i", (char *) esp, "-F", "-v",
                           DISK_ESP_LABEL, "-N", serial,       "::", NULL};
        char *mmd[] = {"mmd", "-i", (char *) esp, "::/EFI", "::/EFI/BOOT", NULL};
        char *mcopy[] = {"mcopy", "-i", (char *) esp, "-m", (char *) uki, dst, NULL};
        char epoch[64];
        snprintf(epoch, sizeof epoch, "SOURCE_DATE_EPOCH=%" PRIu64, b->source_date_epoch);
        char *env[] = {epoch, "MTOOLS_SKIP_CHECK=1", NULL};
        int r = run_tool("disk: formatting the EFI system partition", mformat, env);
        if (r >= 0)
                r = run_tool("disk: creating /EFI/BOOT", mmd, env);
        if (r >= 0)
                r = run_tool("disk: copying the boot loader to the ESP", mcopy, env);
        return r;
}

int disk_build_raw(struct disk_build *b) {
        _cleanup_free_ char *uki = NULL, *esp = NULL;
        if (asprintf(&uki, "%s/uki.efi", b->workdir) < 0 || asprintf(&esp, "%s/esp.img", b->workdir) < 0)
                return log_oom();
        int r = build_uki(b, uki);
        if (r < 0)
                return r;
        struct timespec t[2] = {{.tv_sec = (time_t) b->source_date_epoch},
                                {.tv_sec = (time_t) b->source_date_epoch}};
        (void) utimensat(AT_FDCWD, uki, t, 0);
        r = build_esp(b, uki, esp);
        if (r < 0)
                return r;

        _cleanup_close_ int fd = open(b->image, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return log_error_errno(-errno, "disk: cannot create '%s': %m", b->image);
        if (ftruncate(fd, (off_t) b->layout.disk_bytes) < 0)
                return log_error_errno(-errno, "disk: cannot size '%s': %m", b->image);
        r = gpt_write(fd, &b->layout);
        if (r < 0)
                return log_error_errno(r, "disk: cannot write the partition table to '%s': %m", b->image);
        r = copy_into(esp, fd, gpt_partition_offset(&b->layout, 0));
        if (r < 0)
                return log_error_errno(r, "disk: cannot copy the ESP into '%s': %m", b->image);
        if (fsync(fd) < 0)
                return log_error_errno(-errno, "disk: cannot sync '%s': %m", b->image);

        _cleanup_strv_free_ char **mkfs = NULL;
        if (disk_mkfs_ext4_argv(b->image, gpt_partition_offset(&b->layout, 1),
                                gpt_partition_size(&b->layout, 1), DISK_ROOT_LABEL, b->root_fs_uuid, b->root,
                                &mkfs) < 0)
                return log_oom();
        char epoch[64];
        snprintf(epoch, sizeof epoch, "E2FSPROGS_FAKE_TIME=%" PRIu64, b->source_date_epoch);
        char *env[] = {epoch, NULL};
        log_info("disk: ext4 root filesystem from the staging tree");
        r = run_tool("disk: making the root filesystem", mkfs, env);
        if (r < 0)
                return r;
        /* mke2fs must not have grown the file past the backup GPT. */
        struct stat st;
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if ((uint64_t) st.st_size != b->layout.disk_bytes)
                return log_error_errno(-EFBIG, "disk: '%s' is %jd bytes after mkfs, expected %" PRIu64,
                                       b->image, (intmax_t) st.st_size, b->layout.disk_bytes);
        if (fsync(fd) < 0)
                return log_error_errno(-errno, "disk: cannot sync '%s': %m", b->image);
        return 0;
}

static void blkid_free_probep(blkid_probe *p) {
        if (*p)
                blkid_free_probe(*p);
}

static int check_value(const char *what, const char *got, const char *want) {
        if (got && strcasecmp(got, want) == 0)
                return 0;
        return log_error_errno(-EBADMSG, "disk: verification failed: %s is '%s', expected '%s'", what,
                               got ? got : "(none)", want);
}

static int verify_fs(const struct disk_build *b, int fd, size_t i, const char *type, const char *label,
                     const char *uuid) {
        _cleanup_(blkid_free_probep) blkid_probe pr = blkid_new_probe();
        if (!pr)
                return log_oom();
        if (blkid_probe_set_device(pr, fd, (blkid_loff_t) gpt_partition_offset(&b->layout, i),
                                   (blkid_loff_t) gpt_partition_size(&b->layout, i)) < 0)
                return log_error_errno(-EIO, "disk: libblkid cannot open partition %zu", i + 1);
        blkid_probe_enable_superblocks(pr, 1);
        blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_LABEL | BLKID_SUBLKS_UUID | BLKID_SUBLKS_TYPE);
        if (blkid_do_safeprobe(pr) != 0)
                return log_error_errno(
                        -EBADMSG, "disk: verification failed: no filesystem found in partition %zu", i + 1);
        const char *v_type = NULL, *v_label = NULL, *v_uuid = NULL;
        blkid_probe_lookup_value(pr, "TYPE", &v_type, NULL);
        blkid_probe_lookup_value(pr, "LABEL", &v_label, NULL);
        blkid_probe_lookup_value(pr, "UUID", &v_uuid, NULL);
        char what[64];
        snprintf(what, sizeof what, "partition %zu filesystem type", i + 1);
        int r = check_value(what, v_type, type);
        snprintf(what, sizeof what, "partition %zu filesystem label", i + 1);
        if (r >= 0)
                r = check_value(what, v_label, label);
        snprintf(what, sizeof what, "partition %zu filesystem UUID", i + 1);
        if (r >= 0)
                r = check_value(what, v_uuid, uuid);
        return r;
}

int disk_verify(const struct disk_build *b) {
        _cleanup_close_ int fd = open(b->image, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(-errno, "disk: cannot open '%s': %m", b->image);
        _cleanup_(blkid_free_probep) blkid_probe pr = blkid_new_probe();
        if (!pr || blkid_probe_set_device(pr, fd, 0, 0) < 0)
                return log_error_errno(-EIO, "disk: libblkid cannot probe '%s'", b->image);
        blkid_probe_enable_partitions(pr, 1);
        blkid_probe_set_partitions_flags(pr, BLKID_PARTS_ENTRY_DETAILS);
        blkid_probe_enable_superblocks(pr, 0);
        blkid_partlist pl = blkid_probe_get_partitions(pr);
        if (!pl)
                return log_error_errno(
                        -EBADMSG, "disk: verification failed: libblkid finds no partition table in '%s'",
                        b->image);
        blkid_parttable tab = blkid_partlist_get_table(pl);
        int r = check_value("partition table type", tab ? blkid_parttable_get_type(tab) : NULL, "gpt");
        if (r < 0)
                return r;
        char want[GPT_GUID_STRING_MAX];
        r = check_value("disk GUID", tab ? blkid_parttable_get_id(tab) : NULL,
                        gpt_guid_to_string(&b->layout.disk_guid, false, want));
        if (r < 0)
                return r;
        int n = blkid_partlist_numof_partitions(pl);
        if (n != (int) b->layout.n_partitions)
                return log_error_errno(-EBADMSG, "disk: verification failed: %d partitions, expected %zu", n,
                                       b->layout.n_partitions);
        for (int i = 0; i < n; i++) {
                blkid_partition p = blkid_partlist_get_partition(pl, i);
                const struct gpt_partition *gp = &b->layout.partitions[i];
                char what[64];
                if ((uint64_t) blkid_partition_get_start(p) != gp->first_lba ||
                    (uint64_t) blkid_partition_get_size(p) != gp->last_lba - gp->first_lba + 1)
                        return log_error_errno(-EBADMSG,
                                               "disk: verification failed: partition %d spans %jd+%jd "
                                               "sectors, expected %" PRIu64 "+%" PRIu64,
                                               i + 1, (intmax_t) blkid_partition_get_start(p),
                                               (intmax_t) blkid_partition_get_size(p), gp->first_lba,
                                               gp->last_lba - gp->first_lba + 1);
                snprintf(what, sizeof what, "partition %d type", i + 1);
                r = check_value(what, blkid_partition_get_type_string(p),
                                gpt_guid_to_string(&gp->type, false, want));
                snprintf(what, sizeof what, "partition %d UUID", i + 1);
                if (r >= 0)
                        r = check_value(what, blkid_partition_get_uuid(p),
                                        gpt_guid_to_string(&gp->uuid, false, want));
                snprintf(what, sizeof what, "partition %d name", i + 1);
                if (r >= 0)
                        r = check_value(what, blkid_partition_get_name(p), gp->name);
                if (r < 0)
                        return r;
        }
        r = verify_fs(b, fd, 0, "vfat", DISK_ESP_LABEL, b->esp_serial);
        if (r >= 0)
                r = verify_fs(b, fd, 1, "ext4", DISK_ROOT_LABEL, b->root_fs_uuid);
        return r;
}

void disk_build_done(struct disk_build *b) {
        free(b->cmdline);
        b->cmdline = NULL;
}
