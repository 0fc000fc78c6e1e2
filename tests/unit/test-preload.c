/* SPDX-License-Identifier: MIT */
#include <errno.h>
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

#include "arch.h"
#include "digest.h"
#include "fsutil.h"
#include "imageref.h"
#include "kubeadmimages.h"
#include "lock.h"
#include "macro.h"
#include "ociarchive.h"
#include "preload.h"
#include "profile.h"
#include "stagekey.h"
#include "strv.h"
#include "testutil.h"

/* The preload stage over images.source: dir: — a directory of OCI archives
 * made here (one small image per name, written with ociarchive_write from a
 * separate store), holding what kubeadm v1.31.1 pulls and one extra image. */

#define VERSION "v1.31.1"
#define EXTRA "quay.io/test/extra:v1"
#define EXTRA_ORIGIN "images/test.yaml: images.extra[0]"
#define N_IMAGES (KUBEADM_IMAGE_MAX + 1)

struct fixture {
        char dir[64];
        char *srcstore, *images, *cas, *root, *source;
        const struct arch_info *arch;
        char *extra[2];
        struct profile p;
        /* The images: kubeadm's in its order, then the extra. */
        char *names[N_IMAGES];
        struct tu_oci_image img[N_IMAGES];
};

/* Image i, its content naming it and `salt`. */
static void make_image(struct fixture *f, size_t i, const char *salt) {
        _cleanup_free_ char *content = NULL;
        assert_true(asprintf(&content, "%s %s\n", f->names[i], salt) > 0);
        const struct tu_member m[] = {{"etc/image", content}};
        tu_make_oci_image(f->srcstore, m, ELEMENTSOF(m), &f->img[i]);
}

/* dir/file: an archive of images [from, to) except `skip`; none when that
 * leaves nothing. */
static void write_archive(struct fixture *f, const char *file, size_t from, size_t to, size_t skip) {
        struct ociarchive_image images[N_IMAGES];
        size_t n = 0;
        for (size_t i = from; i < to; i++) {
                if (i == skip)
                        continue;
                images[n++] = (struct ociarchive_image){
                        .name = f->names[i],
                        .manifest_digest = f->img[i].manifest_digest,
                        .media_type = OCI_MEDIA_TYPE_MANIFEST,
                        .size = f->img[i].manifest_size,
                };
        }
        if (n == 0)
                return;
        _cleanup_free_ char *path = tu_path(f->images, file), *err = NULL;
        int r = ociarchive_write(path, f->srcstore, images, n, TU_EPOCH, NULL, &err);
        if (r < 0)
                fail_msg("ociarchive_write: %d: %s", r, err ? err : "");
}

/* kubeadm's images in a.tar, the extra in b.tar, and a file that is no archive. */
static void write_source(struct fixture *f, size_t skip) {
        write_archive(f, "a.tar", 0, KUBEADM_IMAGE_MAX, skip);
        write_archive(f, "b.tar", KUBEADM_IMAGE_MAX, N_IMAGES, skip);
        tu_write_in(f->images, "README", "not an archive\n");
}

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof *f);
        assert_non_null(f);
        snprintf(f->dir, sizeof f->dir, "%s", "/tmp/test-preload-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        f->srcstore = tu_path(f->dir, "srcstore");
        f->images = tu_path(f->dir, "images");
        f->cas = tu_path(f->dir, "cas");
        f->root = tu_path(f->dir, "root");
        assert_int_equal(mkdir_p(f->images, 0755), 0);
        assert_true(asprintf(&f->source, "dir:%s", f->images) > 0);
        f->arch = arch_host();
        assert_non_null(f->arch);
        f->extra[0] = (char *) EXTRA;
        f->p = (struct profile){
                .path = (char *) "images/test.yaml",
                .name = (char *) "test",
                .kubernetes = {.version = (char *) VERSION},
                .images_extra = f->extra,
                .images_source = f->source,
        };

        struct kubeadm_images ki;
        assert_int_equal(kubeadm_images_for(VERSION, NULL, &ki, NULL), 0);
        for (size_t i = 0; i < KUBEADM_IMAGE_MAX; i++) {
                f->names[i] = imageref_format(&ki.refs[i]);
                assert_non_null(f->names[i]);
        }
        f->names[KUBEADM_IMAGE_MAX] = strdup(EXTRA);
        assert_non_null(f->names[KUBEADM_IMAGE_MAX]);
        /* What is known of v1.31.1 independently of the table's code. */
        assert_string_equal(f->names[KUBEADM_IMAGE_APISERVER], "registry.k8s.io/kube-apiserver:v1.31.1");
        assert_string_equal(f->names[KUBEADM_IMAGE_PAUSE], "registry.k8s.io/pause:3.10");
        for (size_t i = 0; i < N_IMAGES; i++)
                make_image(f, i, "1");
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;
        assert_int_equal(rm_rf(f->dir), 0);
        for (size_t i = 0; i < N_IMAGES; i++)
                free(f->names[i]);
        free(f->srcstore);
        free(f->images);
        free(f->cas);
        free(f->root);
        free(f->source);
        free(f);
        return 0;
}

static int run_stage(struct fixture *f, const char *root, struct preload_result *res,
                     char key[SHA256_HEX_LEN + 1]) {
        _cleanup_stagekey_ struct stagekey *k = NULL;
        assert_int_equal(stagekey_new("preload", 1, &k), 0);
        int r = preload_stage(&f->p, f->arch, f->cas, root, TU_EPOCH, NULL, k, res);
        assert_int_equal(stagekey_final(k, key), 0);
        return r;
}

static void assert_archive(struct fixture *f, const char *root) {
        _cleanup_free_ char *path = path_join_root(root, PRELOAD_ARCHIVE), *err = NULL;
        _cleanup_ociarchive_listing_ struct ociarchive_listing *l = NULL;
        int r = ociarchive_read(path, NULL, &l, &err);
        if (r < 0)
                fail_msg("ociarchive_read: %d: %s", r, err ? err : "");
        assert_int_equal(l->n_images, N_IMAGES);
        /* Each name once, with its source digest. */
        for (size_t i = 0; i < N_IMAGES; i++) {
                size_t hits = 0;
                for (size_t j = 0; j < l->n_images; j++)
                        if (l->images[j].name && streq(l->images[j].name, f->names[i])) {
                                hits++;
                                assert_string_equal(l->images[j].manifest_digest, f->img[i].manifest_digest);
                        }
                if (hits != 1)
                        fail_msg("%s is in the archive %zu times", f->names[i], hits);
        }
        /* Manifest, config and layer per image, none shared. */
        assert_int_equal(l->n_blobs, 3 * N_IMAGES);
}

static void test_dir_source(void **state) {
        struct fixture *f = *state;
        write_source(f, SIZE_MAX);
        struct preload_result res = {0};
        char key1[SHA256_HEX_LEN + 1];
        assert_int_equal(run_stage(f, f->root, &res, key1), 1);
        assert_archive(f, f->root);

        _cleanup_free_ char *origin = strdupf("kubeadm %s", VERSION);
        assert_int_equal(res.n_images, N_IMAGES);
        for (size_t i = 0; i < N_IMAGES; i++) {
                assert_string_equal(res.images[i].name, f->names[i]);
                assert_string_equal(res.images[i].digest, f->img[i].manifest_digest);
                assert_string_equal(res.images[i].origin, i < KUBEADM_IMAGE_MAX ? origin : EXTRA_ORIGIN);
        }
        assert_true(res.archive_bytes > 0);
        assert_int_equal(res.dedup_bytes, 0);
        preload_result_done(&res);
        assert_null(res.images);
        assert_int_equal(res.n_images, 0);

        /* Same images: same key, same bytes. */
        _cleanup_free_ char *root2 = tu_path(f->dir, "root2");
        char key2[SHA256_HEX_LEN + 1];
        assert_int_equal(run_stage(f, root2, &res, key2), 1);
        preload_result_done(&res);
        assert_string_equal(key1, key2);
        _cleanup_free_ char *a1 = path_join_root(f->root, PRELOAD_ARCHIVE),
                            *a2 = path_join_root(root2, PRELOAD_ARCHIVE);
        char h1[SHA256_HEX_LEN + 1], h2[SHA256_HEX_LEN + 1];
        assert_int_equal(sha256_file(a1, h1), 0);
        assert_int_equal(sha256_file(a2, h2), 0);
        assert_string_equal(h1, h2);

        /* etcd is rebuilt (another digest under the same name): the key changes. */
        make_image(f, KUBEADM_IMAGE_ETCD, "2");
        write_source(f, SIZE_MAX);
        _cleanup_free_ char *root3 = tu_path(f->dir, "root3");
        char key3[SHA256_HEX_LEN + 1];
        assert_int_equal(run_stage(f, root3, &res, key3), 1);
        assert_string_equal(res.images[KUBEADM_IMAGE_ETCD].digest,
                            f->img[KUBEADM_IMAGE_ETCD].manifest_digest);
        preload_result_done(&res);
        assert_string_not_equal(key1, key3);
        assert_archive(f, root3);
}

static void test_dir_source_missing_image(void **state) {
        struct fixture *f = *state;
        static const size_t missing[] = {KUBEADM_IMAGE_COREDNS, KUBEADM_IMAGE_MAX};
        for (size_t m = 0; m < ELEMENTSOF(missing); m++) {
                _cleanup_free_ char *a = tu_path(f->images, "a.tar"), *b = tu_path(f->images, "b.tar");
                (void) unlink(a);
                (void) unlink(b);
                write_source(f, missing[m]);
                struct preload_result res = {0};
                char key[SHA256_HEX_LEN + 1];
                assert_int_equal(run_stage(f, f->root, &res, key), -ENOENT);
                assert_null(res.images);
                assert_int_equal(res.n_images, 0);
                _cleanup_free_ char *path = path_join_root(f->root, PRELOAD_ARCHIVE);
                assert_int_equal(access(path, F_OK), -1);
                assert_int_equal(errno, ENOENT);
        }
}

static void test_dir_source_bad_archive(void **state) {
        struct fixture *f = *state;
        write_source(f, SIZE_MAX);
        /* A *.tar that is no archive: the source is refused, nothing written. */
        tu_write_in(f->images, "c.tar", "this is not a tar archive at all");
        struct preload_result res = {0};
        char key[SHA256_HEX_LEN + 1];
        assert_true(run_stage(f, f->root, &res, key) < 0);
        assert_int_equal(res.n_images, 0);
        assert_false(tu_exists_in(f->root, "usr"));
}

static void test_no_kubernetes(void **state) {
        struct fixture *f = *state;
        write_source(f, SIZE_MAX);
        f->p.kubernetes.version = NULL;
        struct preload_result res = {0};
        char key[SHA256_HEX_LEN + 1], empty[SHA256_HEX_LEN + 1];
        assert_int_equal(run_stage(f, f->root, &res, key), 0);
        assert_null(res.images);
        assert_int_equal(res.n_images, 0);
        assert_false(tu_exists_in(f->dir, "root"));
        assert_false(tu_exists_in(f->dir, "cas"));
        _cleanup_stagekey_ struct stagekey *k = NULL;
        assert_int_equal(stagekey_new("preload", 1, &k), 0);
        assert_int_equal(stagekey_final(k, empty), 0);
        assert_string_equal(key, empty);
}

static int run_locked(struct fixture *f, const char *root, const struct lock_arch *lock, bool offline,
                      struct preload_result *res) {
        _cleanup_stagekey_ struct stagekey *k = NULL;
        assert_int_equal(stagekey_new("preload", 1, &k), 0);
        return preload_stage_locked(&f->p, f->arch, f->cas, root, TU_EPOCH, NULL, NULL, lock, offline, k,
                                    res);
}

/* kubeseed fetch records every wanted image with its digest; an offline
 * build then takes them from the store alone, by those digests. */
static void test_fetch_then_offline(void **state) {
        struct fixture *f = *state;
        write_source(f, SIZE_MAX);
        struct lock_arch section = {.arch = strdup(f->arch->debian)};
        assert_int_equal(preload_fetch(&f->p, f->arch, f->cas, NULL, NULL, &section), 1);
        assert_int_equal(section.n_images, N_IMAGES);
        for (size_t i = 0; i < N_IMAGES; i++) {
                assert_string_equal(section.images[i].ref, f->names[i]);
                assert_string_equal(section.images[i].digest, f->img[i].manifest_digest);
                assert_string_equal(section.images[i].media_type, OCI_MEDIA_TYPE_MANIFEST);
                assert_int_equal(section.images[i].size, f->img[i].manifest_size);
        }
        /* The archives are gone and images.source names nothing: offline, the
         * store is all there is. */
        assert_int_equal(rm_rf(f->images), 0);
        f->p.images_source = NULL;
        struct preload_result res = {0};
        assert_int_equal(run_locked(f, f->root, &section, true, &res), 1);
        assert_int_equal(res.n_images, N_IMAGES);
        for (size_t i = 0; i < N_IMAGES; i++)
                assert_string_equal(res.images[i].digest, f->img[i].manifest_digest);
        preload_result_done(&res);
        assert_archive(f, f->root);

        /* An image added to the profile after the fetch: not in the lock. */
        char *extra2[] = {(char *) EXTRA, (char *) "quay.io/test/late:v1", NULL};
        f->p.images_extra = extra2;
        _cleanup_free_ char *root2 = tu_path(f->dir, "root2");
        assert_int_equal(run_locked(f, root2, &section, true, &res), -ENOENT);
        assert_int_equal(run_locked(f, root2, &section, false, &res), -ENOENT);
        assert_int_equal(res.n_images, 0);
        assert_false(tu_exists_in(f->dir, "root2"));
        /* Offline without a lock: refused. */
        f->p.images_extra = f->extra;
        assert_int_equal(run_locked(f, root2, NULL, true, &res), -ENOENT);
        lock_arch_done(&section);
}

/* An image rebuilt under the same tag after the fetch: a build with the lock
 * refuses it rather than take the new digest. */
static void test_lock_refuses_moved_tag(void **state) {
        struct fixture *f = *state;
        write_source(f, SIZE_MAX);
        struct lock_arch section = {.arch = strdup(f->arch->debian)};
        assert_int_equal(preload_fetch(&f->p, f->arch, f->cas, NULL, NULL, &section), 1);
        struct preload_result res = {0};
        assert_int_equal(run_locked(f, f->root, &section, false, &res), 1);
        preload_result_done(&res);

        make_image(f, KUBEADM_IMAGE_ETCD, "2");
        write_source(f, SIZE_MAX);
        _cleanup_free_ char *root2 = tu_path(f->dir, "root2");
        assert_int_equal(run_locked(f, root2, &section, false, &res), -EBADMSG);
        assert_int_equal(res.n_images, 0);
        assert_false(tu_exists_in(f->dir, "root2"));
        lock_arch_done(&section);
}

/* kubernetes.kubeadm.etcd-image-tag: etcd is preloaded under the tag kubeadm
 * will be told; kubeadm v1.20's CoreDNS stays in the list (its preflight
 * checks for it even when the phase is skipped). */
static void test_wanted_kubeadm_settings(void **state) {
        (void) state;
        char *phases[] = {(char *) "addon/coredns", NULL};
        struct profile p = {
                .path = (char *) "images/test.yaml",
                .kubernetes = {.version = (char *) "v1.20.2",
                               .etcd_image_tag = (char *) "3.4.23",
                               .init_skip_phases = phases},
        };
        _cleanup_(image_list_donep) struct image_list want = {0};
        assert_int_equal(preload_wanted_images(&p, NULL, &want), 0);
        assert_int_equal(want.n_items, KUBEADM_IMAGE_MAX);
        bool etcd = false, old_etcd = false, coredns = false;
        for (size_t i = 0; i < want.n_items; i++) {
                _cleanup_free_ char *name = imageref_format(&want.items[i].ref);
                etcd = etcd || streq(name, "k8s.gcr.io/etcd:3.4.23");
                old_etcd = old_etcd || streq(name, "k8s.gcr.io/etcd:3.4.13-0");
                coredns = coredns || streq(name, "k8s.gcr.io/coredns:1.7.0");
        }
        assert_true(etcd);
        assert_false(old_etcd);
        assert_true(coredns);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_wanted_kubeadm_settings),
                cmocka_unit_test_setup_teardown(test_dir_source, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dir_source_missing_image, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dir_source_bad_archive, setup, teardown),
                cmocka_unit_test_setup_teardown(test_no_kubernetes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fetch_then_offline, setup, teardown),
                cmocka_unit_test_setup_teardown(test_lock_refuses_moved_tag, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
