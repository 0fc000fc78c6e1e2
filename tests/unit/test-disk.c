/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "arch.h"
#include "disk.h"
#include "fsutil.h"
#include "gpt.h"
#include "log.h"
#include "macro.h"
#include "proc.h"
#include "strv.h"

#define MIB (UINT64_C(1) << 20)

static void seed_fill(uint8_t seed[32], uint8_t start) {
        for (unsigned i = 0; i < 32; i++)
                seed[i] = (uint8_t) (start + i);
}

static ssize_t index_of(char *const *v, const char *s) {
        for (size_t i = 0; v && v[i]; i++)
                if (streq(v[i], s))
                        return (ssize_t) i;
        return -1;
}

/* ---- UKI ------------------------------------------------------------------------------------ */

static void test_uki_plan(void **state) {
        (void) state;
        static const uint64_t sizes[] = {1, MIB - 1, MIB, MIB + 1, 7 * MIB, 12345678, 64 * MIB + 3};
        for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
                struct uki_layout l;
                memset(&l, 0xaa, sizeof l);
                uki_plan(sizes[i], &l);
                uint64_t linux_end = l.linux_vma + sizes[i];
                /* The initrd follows the kernel, on a 1 MiB boundary, with no
                 * more than the alignment in between. */
                assert_int_equal(l.initrd_vma % MIB, 0);
                assert_true(l.initrd_vma >= linux_end);
                assert_true(l.initrd_vma - linux_end < MIB);
                /* The small sections sit below the kernel, apart. */
                assert_true(l.osrel_vma < l.cmdline_vma);
                assert_true(l.cmdline_vma < l.linux_vma);
                assert_true(l.cmdline_vma - l.osrel_vma >= 0x1000);
                assert_true(l.linux_vma - l.cmdline_vma >= 0x1000);
                assert_int_equal(l.linux_vma % 0x1000, 0);
        }
        /* A kernel of exactly n MiB: the initrd right at its end. */
        struct uki_layout l;
        uki_plan(8 * MIB, &l);
        assert_int_equal(l.initrd_vma, l.linux_vma + 8 * MIB);
}

static void test_uki_objcopy_argv(void **state) {
        (void) state;
        struct uki_layout l;
        uki_plan(10 * MIB + 5, &l);
        _cleanup_strv_free_ char **v = NULL;
        assert_int_equal(
                uki_objcopy_argv(arch_lookup("amd64"), &l, "/r/usr/lib/systemd/boot/efi/linuxx64.efi.stub",
                                 "/r/usr/lib/os-release", "/w/cmdline", "/r/boot/vmlinuz-6.1.0-18-amd64",
                                 "/r/boot/initrd.img-6.1.0-18-amd64", "/w/uki.efi", &v),
                0);
        /* The architecture's own objcopy: a host's plain objcopy may not
         * know the target's PE format. */
        assert_string_equal(v[0], "x86_64-linux-gnu-objcopy");
        char buf[128];
        static const char *const sections[] = {".osrel", ".cmdline", ".linux", ".initrd"};
        const char *const paths[] = {"/r/usr/lib/os-release", "/w/cmdline", "/r/boot/vmlinuz-6.1.0-18-amd64",
                                     "/r/boot/initrd.img-6.1.0-18-amd64"};
        const uint64_t vmas[] = {l.osrel_vma, l.cmdline_vma, l.linux_vma, l.initrd_vma};
        for (size_t i = 0; i < 4; i++) {
                snprintf(buf, sizeof buf, "--add-section=%s=%s", sections[i], paths[i]);
                ssize_t add = index_of(v, buf);
                if (add < 0)
                        fail_msg("missing %s", buf);
                snprintf(buf, sizeof buf, "--change-section-vma=%s=0x%" PRIx64, sections[i], vmas[i]);
                ssize_t vma = index_of(v, buf);
                if (vma < 0)
                        fail_msg("missing %s", buf);
                /* objcopy applies the VMA change to the section added. */
                assert_true(vma > add);
        }
        /* The stub is the input, the UKI the output: the last two. */
        size_t n = strv_length(v);
        assert_string_equal(v[n - 2], "/r/usr/lib/systemd/boot/efi/linuxx64.efi.stub");
        assert_string_equal(v[n - 1], "/w/uki.efi");
        /* 0x2000000 for the kernel, as ukify placed it. */
        assert_true(index_of(v, "--change-section-vma=.linux=0x2000000") > 0);
        assert_true(index_of(v, "--change-section-vma=.initrd=0x2b00000") > 0);
}

static void test_uki_objcopy_argv_arm64(void **state) {
        (void) state;
        struct uki_layout l;
        uki_plan(20 * MIB, &l);
        _cleanup_strv_free_ char **v = NULL;
        assert_int_equal(uki_objcopy_argv(arch_lookup("arm64"), &l, "/r/stub.aa64", "/r/os-release",
                                          "/w/cmdline", "/w/vmlinux.image",
                                          "/r/boot/initrd.img-6.1.0-18-cloud-arm64", "/w/uki.efi", &v),
                         0);
        assert_string_equal(v[0], "aarch64-linux-gnu-objcopy");
        assert_true(index_of(v, "--add-section=.linux=/w/vmlinux.image") > 0);
        assert_true(index_of(v, "--change-section-vma=.initrd=0x3400000") > 0);
}

/* ---- the UKI's kernel: gzip-compressed arm64 Image ------------------------------------------ */

static void test_kernel_is_gzip(void **state) {
        (void) state;
        static const uint8_t gz[] = {0x1f, 0x8b, 0x08, 0x00};
        static const uint8_t pe[] = {'M', 'Z', 0x00, 0x00}; /* an x86 bzImage / EFI-stub Image */
        static const uint8_t other_method[] = {0x1f, 0x8b, 0x07};
        assert_true(uki_kernel_is_gzip(gz, sizeof gz));
        assert_true(uki_kernel_is_gzip(gz, 3));
        assert_false(uki_kernel_is_gzip(gz, 2));
        assert_false(uki_kernel_is_gzip(gz, 0));
        assert_false(uki_kernel_is_gzip(pe, sizeof pe));
        assert_false(uki_kernel_is_gzip(other_method, sizeof other_method));
}

struct kimg {
        char dir[64];
        uint8_t *data;
        size_t size;
};

static int kimg_setup(void **state) {
        struct kimg *k = calloc(1, sizeof *k);
        assert_non_null(k);
        snprintf(k->dir, sizeof k->dir, "/tmp/test-disk-kernel-XXXXXX");
        assert_non_null(mkdtemp(k->dir));
        /* Not a multiple of zlib's or our buffer sizes; compressible, but not trivially. */
        k->size = 3 * 65536 + 12345;
        k->data = malloc(k->size);
        assert_non_null(k->data);
        uint32_t x = 2463534242u;
        for (size_t i = 0; i < k->size; i++) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                k->data[i] = (uint8_t) (i % 7 == 0 ? x : i / 1024);
        }
        *state = k;
        return 0;
}

static int kimg_teardown(void **state) {
        struct kimg *k = *state;
        (void) rm_rf(k->dir);
        free(k->data);
        free(k);
        return 0;
}

static char *kimg_write_gzip(const struct kimg *k, const char *name) {
        char *path = NULL;
        assert_true(asprintf(&path, "%s/%s", k->dir, name) > 0);
        gzFile gz = gzopen(path, "wb9");
        assert_non_null(gz);
        assert_int_equal(gzwrite(gz, k->data, (unsigned) k->size), (int) k->size);
        assert_int_equal(gzclose(gz), Z_OK);
        return path;
}

static void assert_file_content(const char *path, const uint8_t *want, size_t size) {
        _cleanup_free_ char *got = NULL;
        size_t n = 0;
        assert_int_equal(read_file_full(path, 64 * MIB, &got, &n), 0);
        assert_int_equal(n, size);
        assert_memory_equal(got, want, size);
}

static void test_kernel_image_gzip(void **state) {
        struct kimg *k = *state;
        _cleanup_free_ char *gz = kimg_write_gzip(k, "vmlinuz-6.1.0-18-cloud-arm64");
        _cleanup_free_ char *image = NULL;
        assert_int_equal(uki_kernel_image(gz, k->dir, UKI_KERNEL_MAX, &image), 1);
        assert_non_null(image);
        assert_string_not_equal(image, gz);
        assert_true(strncmp(image, k->dir, strlen(k->dir)) == 0);
        assert_file_content(image, k->data, k->size);
}

static void test_kernel_image_plain(void **state) {
        struct kimg *k = *state;
        _cleanup_free_ char *plain = NULL, *image = NULL;
        assert_true(asprintf(&plain, "%s/vmlinuz-6.1.0-18-amd64", k->dir) > 0);
        k->data[0] = 'M';
        k->data[1] = 'Z';
        assert_int_equal(write_file_atomic(plain, k->data, k->size, 0644), 0);
        assert_int_equal(uki_kernel_image(plain, k->dir, UKI_KERNEL_MAX, &image), 0);
        assert_string_equal(image, plain);
        assert_file_content(plain, k->data, k->size);
}

static void test_kernel_image_too_large(void **state) {
        struct kimg *k = *state;
        _cleanup_free_ char *gz = kimg_write_gzip(k, "vmlinuz-big");
        char *image = NULL;
        assert_int_equal(uki_kernel_image(gz, k->dir, k->size - 1, &image), -EFBIG);
        assert_null(image);
        /* Exactly the limit is fine. */
        assert_int_equal(uki_kernel_image(gz, k->dir, k->size, &image), 1);
        free(image);
}

static void test_kernel_image_truncated(void **state) {
        struct kimg *k = *state;
        _cleanup_free_ char *gz = kimg_write_gzip(k, "vmlinuz-truncated");
        struct stat st;
        assert_int_equal(stat(gz, &st), 0);
        assert_int_equal(truncate(gz, st.st_size / 2), 0);
        char *image = NULL;
        assert_int_equal(uki_kernel_image(gz, k->dir, UKI_KERNEL_MAX, &image), -EBADMSG);
        assert_null(image);
}

static void test_kernel_image_corrupt(void **state) {
        struct kimg *k = *state;
        _cleanup_free_ char *gz = kimg_write_gzip(k, "vmlinuz-corrupt");
        /* Damage the trailer's CRC-32: every byte inflates, the check fails. */
        struct stat st;
        assert_int_equal(stat(gz, &st), 0);
        int fd = open(gz, O_RDWR | O_CLOEXEC);
        assert_true(fd >= 0);
        uint8_t b;
        assert_int_equal(pread(fd, &b, 1, st.st_size - 8), 1);
        b ^= 0xff;
        assert_int_equal(pwrite(fd, &b, 1, st.st_size - 8), 1);
        close(fd);
        char *image = NULL;
        assert_int_equal(uki_kernel_image(gz, k->dir, UKI_KERNEL_MAX, &image), -EBADMSG);
        assert_null(image);
}

static void test_kernel_image_missing(void **state) {
        struct kimg *k = *state;
        _cleanup_free_ char *path = NULL;
        assert_true(asprintf(&path, "%s/no-such-kernel", k->dir) > 0);
        char *image = NULL;
        assert_int_equal(uki_kernel_image(path, k->dir, UKI_KERNEL_MAX, &image), -ENOENT);
        assert_null(image);
}

/* ---- command line --------------------------------------------------------------------------- */

static void test_kernel_cmdline(void **state) {
        (void) state;
        const char *uuid = "0a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d";
        _cleanup_free_ char *a = disk_kernel_cmdline(arch_lookup("amd64"), uuid, "quiet loglevel=3");
        _cleanup_free_ char *b = disk_kernel_cmdline(arch_lookup("arm64"), uuid, NULL);
        _cleanup_free_ char *c = disk_kernel_cmdline(arch_lookup("aarch64"), uuid, "");
        assert_string_equal(a, "root=PARTUUID=0a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d rw console=tty0 "
                               "console=ttyS0,115200 quiet loglevel=3");
        assert_string_equal(b, "root=PARTUUID=0a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d rw console=tty0 "
                               "console=ttyAMA0,115200");
        assert_string_equal(c, b);
        /* The serial console is the last console= (it becomes /dev/console). */
        const char *last = NULL;
        for (const char *p = a; (p = strstr(p, "console=")); p++)
                last = p;
        assert_non_null(last);
        assert_true(strncmp(last, "console=ttyS0", 13) == 0);
        /* No trailing or doubled space. */
        assert_int_not_equal(b[strlen(b) - 1], ' ');
        assert_null(strstr(a, "  "));
}

/* ---- sizes ---------------------------------------------------------------------------------- */

static void test_root_size_automatic(void **state) {
        (void) state;
        uint64_t s = 0, content = 700 * MIB + 12345, inodes = 30000, headroom = 512 * MIB;
        assert_int_equal(disk_root_size(content, inodes, 0, headroom, &s), 0);
        assert_int_equal(s % MIB, 0);
        /* Content, headroom, and room for ext4's own structures: at least a
         * journal's worth and the inode tables (256 bytes per inode). */
        assert_true(s >= content + headroom + 64 * MIB + inodes * 256);
        /* ...but not wildly more. */
        assert_true(s <= content + headroom + content / 4 + inodes * 4096 + 256 * MIB);

        /* Each input raises the size. */
        uint64_t t;
        assert_int_equal(disk_root_size(content + 100 * MIB, inodes, 0, headroom, &t), 0);
        assert_true(t >= s + 100 * MIB);
        assert_int_equal(disk_root_size(content, inodes, 0, headroom + 300 * MIB, &t), 0);
        assert_int_equal(t, s + 300 * MIB);
        assert_int_equal(disk_root_size(content, inodes + 1000000, 0, headroom, &t), 0);
        assert_true(t > s);

        /* An empty tree still gets a usable filesystem. */
        assert_int_equal(disk_root_size(0, 0, 0, 0, &t), 0);
        assert_true(t >= 64 * MIB);
        assert_int_equal(t % MIB, 0);

        /* Absurd inputs are refused rather than wrapped. */
        t = 4242;
        assert_int_equal(disk_root_size(UINT64_MAX - 5, 0, 0, 0, &t), -EOVERFLOW);
        assert_int_equal(disk_root_size(0, 0, 0, UINT64_MAX, &t), -EOVERFLOW);
        assert_int_equal(t, 4242);
}

static void test_root_size_fixed(void **state) {
        (void) state;
        uint64_t s = 0;
        assert_int_equal(disk_root_size(700 * MIB, 30000, 4096 * MIB, 512 * MIB, &s), 0);
        assert_int_equal(s, 4096 * MIB); /* headroom does not apply */
        /* A size off the MiB grid is aligned up. */
        assert_int_equal(disk_root_size(100 * MIB, 100, 2048 * MIB + 1, 0, &s), 0);
        assert_int_equal(s, 2049 * MIB);

        /* Does not fit: -ENOSPC, ret untouched. */
        s = 4242;
        assert_int_equal(disk_root_size(1024 * MIB, 30000, 512 * MIB, 0, &s), -ENOSPC);
        assert_int_equal(s, 4242);
        /* Exactly the content, with no room for the filesystem itself. */
        assert_int_equal(disk_root_size(1024 * MIB, 30000, 1024 * MIB, 0, &s), -ENOSPC);
        /* What the automatic mode picks (without headroom) fits. */
        uint64_t automatic;
        assert_int_equal(disk_root_size(1024 * MIB, 30000, 0, 0, &automatic), 0);
        assert_int_equal(disk_root_size(1024 * MIB, 30000, automatic, 0, &s), 0);
        assert_int_equal(s, automatic);
        assert_int_equal(disk_root_size(1024 * MIB, 30000, automatic - 2 * MIB, 0, &s), -ENOSPC);
}

/* ---- mkfs ----------------------------------------------------------------------------------- */

static void test_mkfs_argv(void **state) {
        (void) state;
        const char *uuid = "6b0c8c1e-1d2f-4e3a-9b4c-5d6e7f8a9b0c";
        _cleanup_strv_free_ char **v = NULL;
        assert_int_equal(
                disk_mkfs_ext4_argv("/out/img.raw", 129 * MIB, 1000 * MIB, "root", uuid, "/stage/root", &v),
                0);
        assert_string_equal(v[0], "mkfs.ext4");
        ssize_t i;
        assert_true((i = index_of(v, "-L")) > 0);
        assert_string_equal(v[i + 1], "root");
        assert_true((i = index_of(v, "-U")) > 0);
        assert_string_equal(v[i + 1], uuid);
        assert_true((i = index_of(v, "-d")) > 0);
        assert_string_equal(v[i + 1], "/stage/root");
        assert_true(index_of(v, "-F") > 0);
        assert_true((i = index_of(v, "-b")) > 0);
        assert_string_equal(v[i + 1], "4096");
        assert_true((i = index_of(v, "-E")) > 0);
        /* The extended options, whatever their order. */
        _cleanup_free_ char *ext = strdup(v[i + 1]);
        assert_non_null(ext);
        bool offset = false, owner = false, seed = false;
        for (char *save = NULL, *tok = strtok_r(ext, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                if (streq(tok, "offset=135266304"))
                        offset = true;
                else if (streq(tok, "root_owner=0:0"))
                        owner = true;
                else if (strncmp(tok, "hash_seed=", 10) == 0) {
                        assert_string_equal(tok + 10, uuid);
                        seed = true;
                }
        }
        assert_true(offset);
        assert_true(owner);
        assert_true(seed);
        /* The device, then its size in KiB, last. */
        size_t n = strv_length(v);
        assert_string_equal(v[n - 2], "/out/img.raw");
        assert_string_equal(v[n - 1], "1024000k");

        _cleanup_strv_free_ char **w = NULL;
        assert_int_equal(disk_mkfs_ext4_argv("/i", 0, 4096, "root", uuid, "/s", &w), 0);
        assert_string_equal(w[strv_length(w) - 1], "4k");

        /* Not a whole number of 4 KiB blocks: refused, ret untouched. */
        char **untouched = (char **) 1;
        assert_int_equal(disk_mkfs_ext4_argv("/i", 0, 4096 + 1024, "root", uuid, "/s", &untouched), -EINVAL);
        assert_int_equal(disk_mkfs_ext4_argv("/i", 0, 1000, "root", uuid, "/s", &untouched), -EINVAL);
        assert_ptr_equal(untouched, (char **) 1);
}

/* ---- FAT serial ----------------------------------------------------------------------------- */

static void test_fat_serial(void **state) {
        (void) state;
        uint8_t seed[32];
        struct gpt_layout a, b, c;
        seed_fill(seed, 0);
        assert_int_equal(gpt_plan(128 * MIB, 1024 * MIB, "amd64", seed, &a), 0);
        assert_int_equal(gpt_plan(128 * MIB, 1024 * MIB, "amd64", seed, &b), 0);
        seed_fill(seed, 1);
        assert_int_equal(gpt_plan(128 * MIB, 1024 * MIB, "amd64", seed, &c), 0);
        char sa[9], sb[9], sc[9];
        disk_fat_serial(&a, sa);
        disk_fat_serial(&b, sb);
        disk_fat_serial(&c, sc);
        assert_int_equal(strlen(sa), 8);
        for (size_t i = 0; i < 8; i++)
                assert_true(isxdigit((unsigned char) sa[i]) && !islower((unsigned char) sa[i]));
        assert_string_equal(sa, sb);
        assert_string_not_equal(sa, sc);
        /* It is the ESP's GUID's first field: the same 8 digits. */
        char guid[GPT_GUID_STRING_MAX];
        gpt_guid_to_string(&a.partitions[0].uuid, true, guid);
        assert_memory_equal(sa, guid, 8);
        /* Only the ESP GUID counts: another root or disk GUID leaves it. */
        b.partitions[1].uuid.bytes[0] ^= 0xff;
        b.disk_guid.bytes[0] ^= 0xff;
        disk_fat_serial(&b, sb);
        assert_string_equal(sa, sb);
        b.partitions[0].uuid.bytes[0] ^= 0x01;
        disk_fat_serial(&b, sb);
        assert_string_not_equal(sa, sb);
}

/* ---- disk_verify on a real image ------------------------------------------------------------ */

#define T_ESP_BYTES (8 * MIB)
#define T_ROOT_BYTES (16 * MIB)

struct image {
        char dir[64];
        char *image, *esp;
        uint8_t seed[32];
        struct disk_build d;
};

static bool have(const char *prog, const char *arg) {
        char *argv[] = {(char *) prog, (char *) arg, NULL};
        return proc_run(argv, NULL, NULL) == 0;
}

static int run(char **argv) {
        struct proc_result res = {0};
        struct proc_opts o = {
                .stdout_fd = -1, .timeout_sec = 120, .env_add = (char *[]){"MTOOLS_SKIP_CHECK=1", NULL}};
        int r = proc_run(argv, &o, &res);
        if (r < 0) {
                _cleanup_free_ char *line = argv_to_string(argv);
                fail_msg("%s: %d: %s", line, r, res.err_tail ? res.err_tail : "");
        }
        proc_result_done(&res);
        return r;
}

static void make_fat(struct image *im, const char *label, const char *serial8) {
        (void) unlink(im->esp);
        int fd = open(im->esp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, (off_t) gpt_partition_size(&im->d.layout, 0)), 0);
        close(fd);
        char *argv[] = {"mformat", "-i", im->esp, "-v", (char *) label, "-N", (char *) serial8, "::", NULL};
        run(argv);
        /* Copy it to the partition's offset. */
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        assert_int_equal(read_file_full(im->esp, 64 * MIB, &data, &size), 0);
        assert_int_equal(size, gpt_partition_size(&im->d.layout, 0));
        fd = open(im->image, O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, data, size, (off_t) gpt_partition_offset(&im->d.layout, 0)),
                         (ssize_t) size);
        close(fd);
}

static void make_ext4(struct image *im, const char *label, const char *uuid) {
        char ext[64], size[32];
        snprintf(ext, sizeof ext, "offset=%" PRIu64, gpt_partition_offset(&im->d.layout, 1));
        snprintf(size, sizeof size, "%" PRIu64 "k", gpt_partition_size(&im->d.layout, 1) / 1024);
        char *argv[] = {"mkfs.ext4",   "-q", "-F", "-L",      (char *) label, "-U",
                        (char *) uuid, "-E", ext,  im->image, size,           NULL};
        run(argv);
}

static void write_table(struct image *im, const struct gpt_layout *l) {
        int fd = open(im->image, O_RDWR | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(gpt_write(fd, l), 0);
        close(fd);
}

/* A good image, and the disk_build that describes it. */
static int image_setup(void **state) {
        if (!have("mformat", "--version") || !have("mkfs.ext4", "-V")) {
                *state = NULL;
                return 0;
        }
        struct image *im = calloc(1, sizeof *im);
        assert_non_null(im);
        snprintf(im->dir, sizeof im->dir, "/tmp/test-disk-XXXXXX");
        assert_non_null(mkdtemp(im->dir));
        assert_true(asprintf(&im->image, "%s/disk.raw", im->dir) > 0);
        assert_true(asprintf(&im->esp, "%s/esp.img", im->dir) > 0);
        seed_fill(im->seed, 0x40);

        struct disk_build *d = &im->d;
        d->arch = arch_lookup("amd64");
        d->image = im->image;
        d->seed = im->seed;
        assert_int_equal(gpt_plan(T_ESP_BYTES, T_ROOT_BYTES, "amd64", im->seed, &d->layout), 0);
        gpt_guid_to_string(&d->layout.partitions[1].uuid, false, d->root_partuuid);
        struct gpt_guid fs;
        assert_int_equal(gpt_guid_derive(im->seed, "root-filesystem", &fs), 0);
        gpt_guid_to_string(&fs, false, d->root_fs_uuid);
        char serial[9];
        disk_fat_serial(&d->layout, serial);
        snprintf(d->esp_serial, sizeof d->esp_serial, "%.4s-%.4s", serial, serial + 4);

        int fd = open(im->image, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, (off_t) d->layout.disk_bytes), 0);
        close(fd);
        write_table(im, &d->layout);
        make_fat(im, DISK_ESP_LABEL, serial);
        make_ext4(im, DISK_ROOT_LABEL, d->root_fs_uuid);
        /* mkfs must not have grown the file past the backup GPT. */
        struct stat st;
        assert_int_equal(stat(im->image, &st), 0);
        assert_int_equal((uint64_t) st.st_size, d->layout.disk_bytes);
        *state = im;
        return 0;
}

static int image_teardown(void **state) {
        struct image *im = *state;
        log_set_max_level(LOG_INFO);
        if (!im)
                return 0;
        (void) rm_rf(im->dir);
        free(im->image);
        free(im->esp);
        free(im);
        return 0;
}

static struct image *image_or_skip(void **state) {
        if (!*state) {
                print_message("mformat or mkfs.ext4 not found: skipping\n");
                skip();
        }
        return *state;
}

static void expect_bad(const struct disk_build *d) {
        /* The mismatch is logged at error level: keep the test output quiet. */
        log_set_max_level(LOG_ERR - 1);
        int r = disk_verify(d);
        log_set_max_level(LOG_INFO);
        assert_int_equal(r, -EBADMSG);
}

static void test_verify_good(void **state) {
        struct image *im = image_or_skip(state);
        assert_int_equal(disk_verify(&im->d), 0);
        /* Verification is read-only and repeatable. */
        assert_int_equal(disk_verify(&im->d), 0);
}

static void test_verify_root_label(void **state) {
        struct image *im = image_or_skip(state);
        make_ext4(im, "other", im->d.root_fs_uuid);
        expect_bad(&im->d);
}

static void test_verify_root_uuid(void **state) {
        struct image *im = image_or_skip(state);
        make_ext4(im, DISK_ROOT_LABEL, "11111111-2222-4333-8444-555555555555");
        expect_bad(&im->d);
}

static void test_verify_root_missing(void **state) {
        struct image *im = image_or_skip(state);
        /* Zero the ext4 superblock (1024 bytes in) and its magic. */
        int fd = open(im->image, O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        static const char zero[4096];
        assert_int_equal(pwrite(fd, zero, sizeof zero, (off_t) gpt_partition_offset(&im->d.layout, 1)),
                         (ssize_t) sizeof zero);
        close(fd);
        expect_bad(&im->d);
}

static void test_verify_esp_serial(void **state) {
        struct image *im = image_or_skip(state);
        make_fat(im, DISK_ESP_LABEL, "0BADCAFE");
        expect_bad(&im->d);
}

static void test_verify_esp_label(void **state) {
        struct image *im = image_or_skip(state);
        char serial[9];
        disk_fat_serial(&im->d.layout, serial);
        make_fat(im, "NOTESP", serial);
        expect_bad(&im->d);
}

static void test_verify_table(void **state) {
        struct image *im = image_or_skip(state);
        /* The same sizes from another seed: every GUID differs. */
        uint8_t other[32];
        seed_fill(other, 0x41);
        struct gpt_layout l;
        assert_int_equal(gpt_plan(T_ESP_BYTES, T_ROOT_BYTES, "amd64", other, &l), 0);
        write_table(im, &l);
        expect_bad(&im->d);
}

static void test_verify_root_type(void **state) {
        struct image *im = image_or_skip(state);
        /* The arm64 root type on an amd64 image. */
        struct gpt_layout l = im->d.layout;
        assert_int_equal(gpt_guid_from_string(arch_lookup("arm64")->gpt_root_type, &l.partitions[1].type),
                         0);
        write_table(im, &l);
        expect_bad(&im->d);
}

static void test_verify_partition_name(void **state) {
        struct image *im = image_or_skip(state);
        struct gpt_layout l = im->d.layout;
        snprintf(l.partitions[1].name, sizeof l.partitions[1].name, "rootfs");
        write_table(im, &l);
        expect_bad(&im->d);
}

static void test_verify_expectation(void **state) {
        /* The image is good; the description is not. */
        struct image *im = image_or_skip(state);
        struct disk_build d = im->d;
        d.root_fs_uuid[0] = d.root_fs_uuid[0] == 'a' ? 'b' : 'a';
        expect_bad(&d);
        d = im->d;
        d.esp_serial[0] = d.esp_serial[0] == 'A' ? 'B' : 'A';
        expect_bad(&d);
        d = im->d;
        d.layout.partitions[1].last_lba -= 2048;
        expect_bad(&d);
}

static void test_verify_no_table(void **state) {
        struct image *im = image_or_skip(state);
        /* Wipe both headers and the protective MBR. */
        int fd = open(im->image, O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        static const char zero[GPT_HEAD_BYTES];
        assert_int_equal(pwrite(fd, zero, sizeof zero, 0), (ssize_t) sizeof zero);
        assert_int_equal(
                pwrite(fd, zero, GPT_TAIL_BYTES, (off_t) (im->d.layout.disk_bytes - GPT_TAIL_BYTES)),
                (ssize_t) GPT_TAIL_BYTES);
        close(fd);
        expect_bad(&im->d);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_uki_plan),
                cmocka_unit_test(test_uki_objcopy_argv),
                cmocka_unit_test(test_uki_objcopy_argv_arm64),
                cmocka_unit_test(test_kernel_is_gzip),
                cmocka_unit_test_setup_teardown(test_kernel_image_gzip, kimg_setup, kimg_teardown),
                cmocka_unit_test_setup_teardown(test_kernel_image_plain, kimg_setup, kimg_teardown),
                cmocka_unit_test_setup_teardown(test_kernel_image_too_large, kimg_setup, kimg_teardown),
                cmocka_unit_test_setup_teardown(test_kernel_image_truncated, kimg_setup, kimg_teardown),
                cmocka_unit_test_setup_teardown(test_kernel_image_corrupt, kimg_setup, kimg_teardown),
                cmocka_unit_test_setup_teardown(test_kernel_image_missing, kimg_setup, kimg_teardown),
                cmocka_unit_test(test_kernel_cmdline),
                cmocka_unit_test(test_root_size_automatic),
                cmocka_unit_test(test_root_size_fixed),
                cmocka_unit_test(test_mkfs_argv),
                cmocka_unit_test(test_fat_serial),
                cmocka_unit_test_setup_teardown(test_verify_good, image_setup, image_teardown),
                cmocka_unit_test_setup_teardown(test_verify_root_label, image_setup, image_teardown),
                cmocka_unit_test_setup_teardown(test_verify_root_uuid, image_setup, image_teardown),
                cmocka_unit_test_setup_teardown(test_verify_root_missing, image_setup, image_teardown),
                cmocka_unit_test_setup_teardown(test_verify_esp_serial, image_setup, image_teardown),
                cmocka_unit_test_setup_teardown(test_verify_esp_label, image_setup, image_teardown),
                cmocka_unit_test_setup_teardown(test_verify_table, image_setup, image_teardown),
                cmocka_unit_test_setup_teardown(test_verify_root_type, image_setup, image_teardown),
                cmocka_unit_test_setup_teardown(test_verify_partition_name, image_setup, image_teardown),
                cmocka_unit_test_setup_teardown(test_verify_expectation, image_setup, image_teardown),
                cmocka_unit_test_setup_teardown(test_verify_no_table, image_setup, image_teardown),
        };
        return cmocka_run_group_tests_name("disk", tests, NULL, NULL);
}
