/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "blk.h"
#include "fsutil.h"
#include "macro.h"
#include "proc.h"

static const char *const cidata_labels[] = {"cidata", "CIDATA", NULL};
static const char *const seed_types[] = {"vfat", "iso9660", NULL};

/* ---- a fake device table behind blk_ops -------------------------------- */

struct fake_dev {
        const char *path;
        int probe_result; /* 1 found, 0 nothing, < 0 error */
        const char *type, *label;
};

struct fake {
        const struct fake_dev *devs;
        size_t n;
        int list_result;
        unsigned n_probes;
};

static char *xstrdup(const char *s) {
        return s ? strdup(s) : NULL;
}

static int fake_list(void *userdata, char ***ret) {
        struct fake *f = userdata;
        if (f->list_result < 0)
                return f->list_result;
        char **v = calloc(f->n + 1, sizeof(char *));
        assert_non_null(v);
        for (size_t i = 0; i < f->n; i++)
                v[i] = xstrdup(f->devs[i].path);
        *ret = v;
        return 0;
}

static int fake_probe(void *userdata, const char *path, struct blk_device **ret) {
        struct fake *f = userdata;
        f->n_probes++;
        for (size_t i = 0; i < f->n; i++) {
                const struct fake_dev *d = &f->devs[i];
                if (!streq(d->path, path))
                        continue;
                if (d->probe_result <= 0)
                        return d->probe_result;
                struct blk_device *b = calloc(1, sizeof *b);
                assert_non_null(b);
                b->path = xstrdup(path);
                b->type = xstrdup(d->type);
                b->label = xstrdup(d->label);
                *ret = b;
                return 1;
        }
        fail_msg("probe of unknown path %s", path);
        return -EINVAL;
}

static const struct blk_ops fake_ops = {.list_devices = fake_list, .probe = fake_probe};

static void test_find_fake(void **unused) {
        (void) unused;
        static const struct fake_dev devs[] = {
                {"/dev/sda", 1, "ext4", "root"},
                {"/dev/sda2", 1, "ext4", "cidata"}, /* right label, wrong type */
                {"/dev/sr0", -EIO, NULL, NULL},     /* unreadable: skipped */
                {"/dev/sr1", 0, NULL, NULL},        /* nothing on it */
                {"/dev/vdb", 1, "vfat", NULL},      /* no label */
                {"/dev/vdc", 1, "iso9660", "cidata"},
                {"/dev/vdd", 1, "vfat", "CIDATA"},
        };
        struct fake f = {.devs = devs, .n = ELEMENTSOF(devs)};

        struct blk_device *d = NULL;
        size_t n = 0;
        assert_int_equal(blk_find_by_label(&fake_ops, &f, cidata_labels, seed_types, &d, &n), 1);
        assert_non_null(d);
        assert_string_equal(d->path, "/dev/vdc");
        assert_string_equal(d->type, "iso9660");
        assert_string_equal(d->label, "cidata");
        assert_int_equal(n, 6);
        assert_int_equal(f.n_probes, 6);
        blk_device_free(d);
        d = NULL;

        /* Without a type filter the ext4 partition labelled cidata wins. */
        assert_int_equal(blk_find_by_label(&fake_ops, &f, cidata_labels, NULL, &d, &n), 1);
        assert_string_equal(d->path, "/dev/sda2");
        assert_int_equal(n, 2);
        blk_device_free(d);
        d = NULL;

        /* Labels match exactly: "Cidata" is not a seed. */
        static const char *const other[] = {"Cidata", NULL};
        assert_int_equal(blk_find_by_label(&fake_ops, &f, other, NULL, &d, &n), 0);
        assert_null(d);
        assert_int_equal(n, ELEMENTSOF(devs));

        static const char *const upper[] = {"CIDATA", NULL};
        assert_int_equal(blk_find_by_label(&fake_ops, &f, upper, seed_types, &d, &n), 1);
        assert_string_equal(d->path, "/dev/vdd");
        blk_device_free(d);
}

static void test_find_fake_errors(void **unused) {
        (void) unused;
        static const struct fake_dev devs[] = {
                {"/dev/sda", 1, "ext4", "root"},
                {"/dev/sdb", -ENOMEM, NULL, NULL},
                {"/dev/sdc", 1, "vfat", "CIDATA"},
        };
        struct fake f = {.devs = devs, .n = ELEMENTSOF(devs)};
        struct blk_device *d = NULL;
        size_t n = 99;
        /* Out of memory is not "skip this device". */
        assert_int_equal(blk_find_by_label(&fake_ops, &f, cidata_labels, NULL, &d, &n), -ENOMEM);
        assert_null(d);

        struct fake broken = {.list_result = -EACCES};
        assert_int_equal(blk_find_by_label(&fake_ops, &broken, cidata_labels, NULL, &d, &n), -EACCES);
        assert_null(d);

        struct fake none = {.devs = NULL, .n = 0};
        n = 99;
        assert_int_equal(blk_find_by_label(&fake_ops, &none, cidata_labels, NULL, &d, &n), 0);
        assert_int_equal(n, 0);
        assert_int_equal(blk_find_by_label(NULL, &none, cidata_labels, NULL, &d, &n), -EINVAL);
}

/* ---- real libblkid on image files -------------------------------------- */

struct tmp {
        char dir[64];
};

static int setup_tmp(void **state) {
        struct tmp *t = calloc(1, sizeof *t);
        if (!t)
                return -1;
        snprintf(t->dir, sizeof t->dir, "/tmp/test-blk.XXXXXX");
        if (!mkdtemp(t->dir)) {
                free(t);
                return -1;
        }
        *state = t;
        return 0;
}

static int teardown_tmp(void **state) {
        struct tmp *t = *state;
        int r = rm_rf(t->dir);
        free(t);
        return r < 0 ? -1 : 0;
}

static char *tmp_path(const struct tmp *t, const char *rel) {
        char *p = path_join_root(t->dir, rel);
        assert_non_null(p);
        return p;
}

/* A real FAT filesystem in a file, made by mtools (no loop device, no root). */
static void make_vfat(const char *path, const char *label) {
        char *const argv[] = {"mformat", "-i", (char *) path,  "-C", "-T",
                              "2880",    "-v", (char *) label, "::", NULL};
        struct proc_opts opts = {.timeout_sec = 60};
        struct proc_result res = {};
        int r = proc_run(argv, &opts, &res);
        if (r < 0)
                fail_msg("mformat failed (%d): %s", r, res.err_tail ? res.err_tail : "");
        proc_result_done(&res);
}

static void write_bytes(const char *path, size_t size, char fill) {
        _cleanup_free_ char *buf = malloc(size);
        assert_non_null(buf);
        memset(buf, fill, size);
        assert_int_equal(write_file_atomic(path, buf, size, 0644), 0);
}

static void test_probe_image(void **state) {
        struct tmp *t = *state;
        _cleanup_free_ char *img = tmp_path(t, "seed.img");
        make_vfat(img, "CIDATA");

        struct blk_device *d = NULL;
        assert_int_equal(blk_probe_path(img, &d), 1);
        assert_non_null(d);
        assert_string_equal(d->path, img);
        assert_string_equal(d->type, "vfat");
        assert_string_equal(d->label, "CIDATA");
        assert_non_null(d->uuid);
        assert_int_equal(strlen(d->uuid), 9); /* FAT volume id: XXXX-XXXX */
        _cleanup_free_ char *desc = blk_device_describe(d);
        _cleanup_free_ char *expect = NULL;
        assert_true(asprintf(&expect, "%s (vfat, label CIDATA)", img) > 0);
        assert_string_equal(desc, expect);
        blk_device_free(d);
        d = NULL;

        /* Zeros: no filesystem. */
        _cleanup_free_ char *zero = tmp_path(t, "zero.img");
        write_bytes(zero, 1024 * 1024, 0);
        assert_int_equal(blk_probe_path(zero, &d), 0);
        assert_null(d);

        _cleanup_free_ char *missing = tmp_path(t, "missing.img");
        assert_int_equal(blk_probe_path(missing, &d), -ENOENT);
        assert_null(d);
}

static void mkfile(const char *path, const char *text) {
        assert_int_equal(write_file_atomic(path, text, strlen(text), 0644), 0);
}

/* A fake /sys/class/block and /dev under the temp dir; the device nodes are
 * image files, probed for real through blk_ops_real. */
static void make_sysfs(const struct tmp *t, const char *name, const char *size) {
        _cleanup_free_ char *rel = NULL;
        assert_true(asprintf(&rel, "sys/class/block/%s", name) > 0);
        _cleanup_free_ char *dir = tmp_path(t, rel);
        assert_int_equal(mkdir_p(dir, 0755), 0);
        if (size) {
                _cleanup_free_ char *f = path_join_root(dir, "size");
                mkfile(f, size);
        }
}

static void test_list_devices(void **state) {
        struct tmp *t = *state;
        make_sysfs(t, "vdb", "2880\n");
        make_sysfs(t, "vda10", "8\n");
        make_sysfs(t, "vda2", "8\n");
        make_sysfs(t, "loop0", "0\n"); /* unbound: skipped */
        make_sysfs(t, "sr0", "0\n");   /* empty drive: skipped */
        make_sysfs(t, "cciss!c0d0", "16\n");
        make_sysfs(t, "nosize", NULL); /* unknown size: kept */

        _cleanup_free_ char *cls = tmp_path(t, "sys/class/block");
        struct blk_system sys = {.class_dir = cls, .dev_dir = "/x/dev"};
        _cleanup_strv_free_ char **paths = NULL;
        assert_int_equal(blk_list_devices(&sys, &paths), 0);
        const char *expect[] = {"/x/dev/cciss/c0d0", "/x/dev/nosize", "/x/dev/vda2",
                                "/x/dev/vda10",      "/x/dev/vdb",    NULL};
        for (size_t i = 0; i < ELEMENTSOF(expect); i++) {
                if (!expect[i]) {
                        assert_null(paths[i]);
                        break;
                }
                assert_non_null(paths[i]);
                assert_string_equal(paths[i], expect[i]);
        }

        sys.class_dir = "/nonexistent/class/block";
        char **none = NULL;
        assert_int_equal(blk_list_devices(&sys, &none), -ENOENT);
        assert_null(none);
}

static void test_find_real(void **state) {
        struct tmp *t = *state;
        _cleanup_free_ char *dev = tmp_path(t, "dev");
        assert_int_equal(mkdir_p(dev, 0755), 0);

        make_sysfs(t, "loop0", "0\n");
        make_sysfs(t, "vda", "2048\n");
        make_sysfs(t, "vdb", "2880\n");
        make_sysfs(t, "vdc", "2880\n");
        make_sysfs(t, "vdd", "2880\n");
        _cleanup_free_ char *vda = tmp_path(t, "dev/vda");
        write_bytes(vda, 1024 * 1024, 0);
        _cleanup_free_ char *vdb = tmp_path(t, "dev/vdb");
        make_vfat(vdb, "OTHER");
        _cleanup_free_ char *vdc = tmp_path(t, "dev/vdc");
        make_vfat(vdc, "CIDATA");
        _cleanup_free_ char *vdd = tmp_path(t, "dev/vdd");
        make_vfat(vdd, "CIDATA");
        /* vde is in sysfs but has no node: skipped, still counted. */
        make_sysfs(t, "vde", "8\n");

        _cleanup_free_ char *cls = tmp_path(t, "sys/class/block");
        struct blk_system sys = {.class_dir = cls, .dev_dir = dev};
        struct blk_device *d = NULL;
        size_t n = 0;
        assert_int_equal(blk_find_by_label(&blk_ops_real, &sys, cidata_labels, seed_types, &d, &n), 1);
        assert_string_equal(d->path, vdc);
        assert_string_equal(d->type, "vfat");
        assert_string_equal(d->label, "CIDATA");
        assert_int_equal(n, 3);
        blk_device_free(d);
        d = NULL;

        static const char *const none[] = {"config-2", NULL};
        assert_int_equal(blk_find_by_label(&blk_ops_real, &sys, none, NULL, &d, &n), 0);
        assert_null(d);
        assert_int_equal(n, 5); /* vda vdb vdc vdd vde; loop0 is not a candidate */
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_find_fake),
                cmocka_unit_test(test_find_fake_errors),
                cmocka_unit_test_setup_teardown(test_probe_image, setup_tmp, teardown_tmp),
                cmocka_unit_test_setup_teardown(test_list_devices, setup_tmp, teardown_tmp),
                cmocka_unit_test_setup_teardown(test_find_real, setup_tmp, teardown_tmp),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
