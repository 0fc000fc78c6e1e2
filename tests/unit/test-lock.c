/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "download.h"
#include "fsutil.h"
#include "imageref.h"
#include "k8sbundle.h"
#include "kubernetes.h"
#include "lock.h"
#include "macro.h"
#include "manifestwalk.h"
#include "puller.h"
#include "strv.h"
#include "stagekey.h"
#include "testutil.h"

#define HEX_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define HEX_C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define MT_OCI "application/vnd.oci.image.manifest.v1+json"

static struct lock *sample(void) {
        struct lock *l = lock_new("debian-bookworm");
        assert_non_null(l);
        struct lock_arch a = {.arch = strdup("amd64"), .kubernetes_version = strdup("v1.31.1")};
        assert_int_equal(lock_arch_add_file(&a, "kubeadm", HEX_A), 0);
        assert_int_equal(lock_arch_add_file(&a, "cni-plugins-linux-amd64-v1.5.1.tgz", HEX_B), 0);
        /* pause: selected from a multi-arch index; nginx: a single-arch tag. */
        assert_int_equal(lock_arch_add_image(&a, "registry.k8s.io/pause:3.10", "sha256:" HEX_C, MT_OCI, 527,
                                             "sha256:" HEX_B),
                         0);
        assert_int_equal(lock_arch_add_image(&a, "docker.io/library/nginx:1.27", "sha256:" HEX_A,
                                             "application/vnd.docker.distribution.manifest.v2+json", 1,
                                             NULL),
                         0);
        assert_int_equal(lock_set_arch(l, &a), 0);
        assert_null(a.arch);
        /* A second architecture with no kubernetes section and no image. */
        struct lock_arch b = {.arch = strdup("arm64")};
        assert_int_equal(lock_set_arch(l, &b), 0);
        return l;
}

static void test_round_trip(void **state) {
        (void) state;
        _cleanup_lock_ struct lock *l = sample();
        _cleanup_free_ char *text = NULL, *text2 = NULL, *err = NULL;
        size_t size = 0, size2 = 0;
        assert_int_equal(lock_render(l, &text, &size), 0);
        assert_non_null(strstr(text, "lock-version: 1\n"));
        assert_non_null(strstr(text, "sha256: " HEX_A));
        assert_non_null(strstr(text, "digest: sha256:" HEX_C));
        assert_non_null(strstr(text, "size: 527\n      index-digest: sha256:" HEX_B "\n"));
        assert_null(strstr(text, "index-digest: sha256:" HEX_A)); /* none for nginx */

        _cleanup_lock_ struct lock *p = NULL;
        int r = lock_parse("x.lock", text, size, &p, &err);
        if (r < 0)
                fail_msg("%s\n%s", err ? err : "?", text);
        assert_string_equal(p->profile, "debian-bookworm");
        assert_int_equal(p->n_arches, 2);
        const struct lock_arch *a = lock_find_arch(p, "amd64");
        assert_non_null(a);
        assert_string_equal(a->kubernetes_version, "v1.31.1");
        assert_int_equal(a->n_files, 2);
        assert_string_equal(lock_file_sha256(a, "cni-plugins-linux-amd64-v1.5.1.tgz"), HEX_B);
        assert_null(lock_file_sha256(a, "kubelet"));
        assert_int_equal(a->n_images, 2);
        struct imageref ref;
        assert_int_equal(imageref_parse("nginx:1.27", &ref, NULL), 0);
        const struct lock_image *li = lock_find_image(a, &ref);
        assert_non_null(li);
        assert_string_equal(li->digest, "sha256:" HEX_A);
        assert_string_equal(li->media_type, "application/vnd.docker.distribution.manifest.v2+json");
        assert_int_equal(li->size, 1);
        assert_string_equal(li->index_digest, "");
        assert_int_equal(a->images[0].size, 527);
        assert_string_equal(a->images[0].index_digest, "sha256:" HEX_B);
        const struct lock_arch *b = lock_find_arch(p, "arm64");
        assert_non_null(b);
        assert_null(b->kubernetes_version);
        assert_int_equal(b->n_images, 0);
        assert_null(lock_find_arch(p, "riscv64"));

        /* Rendering the parsed lock gives the same bytes. */
        assert_int_equal(lock_render(p, &text2, &size2), 0);
        assert_int_equal(size, size2);
        assert_string_equal(text, text2);
}

static void test_set_arch_replaces_one(void **state) {
        (void) state;
        _cleanup_lock_ struct lock *l = sample();
        struct lock_arch a = {.arch = strdup("amd64"), .kubernetes_version = strdup("v1.31.2")};
        assert_int_equal(lock_arch_add_file(&a, "kubeadm", HEX_C), 0);
        assert_int_equal(lock_set_arch(l, &a), 0);
        assert_int_equal(l->n_arches, 2);
        const struct lock_arch *n = lock_find_arch(l, "amd64");
        assert_string_equal(n->kubernetes_version, "v1.31.2");
        assert_int_equal(n->n_files, 1);
        assert_int_equal(n->n_images, 0);
        assert_string_equal(lock_file_sha256(n, "kubeadm"), HEX_C);
        assert_non_null(lock_find_arch(l, "arm64"));
        /* Appenders refuse malformed digests. */
        struct lock_arch c = {0};
        assert_int_equal(lock_arch_add_file(&c, "kubeadm", "ABC"), -EINVAL);
        assert_int_equal(lock_arch_add_image(&c, "nginx", "sha256:" HEX_A "0", MT_OCI, 1, NULL), -EINVAL);
        assert_int_equal(lock_arch_add_image(&c, "nginx", "md5:" HEX_A, MT_OCI, 1, NULL), -EINVAL);
        assert_int_equal(lock_arch_add_image(&c, "nginx", "sha256:" HEX_A, MT_OCI, 1, "sha256:" HEX_B "0"),
                         -EINVAL);
        assert_int_equal(c.n_files + c.n_images, 0);
        lock_arch_done(&c);
}

static void test_path_for_profile(void **state) {
        (void) state;
        static const char *const cases[][2] = {
                {"images/debian-bookworm.yaml", "images/debian-bookworm.lock"},
                {"/a/b/x.yml", "/a/b/x.lock"},
                {"profile", "profile.lock"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *p = lock_path_for_profile(cases[i][0]);
                assert_string_equal(p, cases[i][1]);
        }
}

static void expect_error(const char *text, const char *where_what) {
        _cleanup_lock_ struct lock *l = NULL;
        _cleanup_free_ char *err = NULL;
        int r = lock_parse("x.lock", text, strlen(text), &l, &err);
        if (r >= 0)
                fail_msg("accepted:\n%s", text);
        assert_int_equal(r, -EBADMSG);
        assert_null(l);
        assert_non_null(err);
        if (!strstr(err, where_what))
                fail_msg("error '%s' does not contain '%s'", err, where_what);
}

#define HEAD "lock-version: 1\narchitectures:\n  amd64:\n"

static void test_parse_errors(void **state) {
        (void) state;
        expect_error("lock-version: 1\narchitectures: {}\ncolour: red\n",
                     "x.lock:3:1: unknown key 'colour'");
        expect_error("architectures: {}\n", "x.lock:1:1: 'lock-version' is missing");
        expect_error("lock-version: 2\narchitectures: {}\n", "x.lock:1:15: lock-version: expected 1");
        expect_error("lock-version: 1\n", "'architectures' is missing");
        expect_error("lock-version: 1\narchitectures: []\n",
                     "x.lock:2:16: architectures: expected a mapping");
        expect_error(HEAD "    kubernets: {}\n",
                     "x.lock:4:5: unknown key 'kubernets' in architectures.amd64");
        expect_error(HEAD "    kubernetes:\n      version: v1.31.1\n      files:\n"
                          "        - name: kubeadm\n          sha256: " HEX_A "0\n",
                     "x.lock:8:19: kubeadm: sha256 must be 64 lowercase hex digits");
        expect_error(HEAD "    kubernetes:\n      version: v1.31.1\n      files:\n"
                          "        - name: kubeadm\n          sha256: " HEX_A "\n"
                          "        - name: kubeadm\n          sha256: " HEX_B "\n",
                     "x.lock:9:11: file 'kubeadm' is listed twice");
        expect_error(HEAD "    kubernetes:\n      files: []\n", "'version' is missing");
        expect_error(HEAD "    images:\n      - ref: nginx\n        digest: sha256:" HEX_A "\n"
                          "        media-type: " MT_OCI "\n        size: 1\n        tag: x\n",
                     "x.lock:9:9: unknown key 'tag' in an image");
        expect_error(HEAD "    images:\n      - ref: nginx\n        digest: sha256:ABC\n"
                          "        media-type: " MT_OCI "\n        size: 1\n",
                     "x.lock:6:17: nginx: digest must be sha256:");
        expect_error(HEAD "    images:\n      - ref: nginx\n        digest: sha256:" HEX_A "\n"
                          "        media-type: " REGISTRY_MT_OCI_INDEX "\n        size: 1\n",
                     "x.lock:7:21: nginx: media-type must be an image manifest type");
        expect_error(HEAD "    images:\n      - ref: nginx\n        digest: sha256:" HEX_A "\n"
                          "        media-type: " MT_OCI "\n        size: -1\n",
                     "x.lock:8:15: nginx: size must be a number of bytes");
        expect_error(HEAD "    images:\n      - ref: nginx\n        digest: sha256:" HEX_A "\n"
                          "        media-type: " MT_OCI "\n        size: 1\n        index-digest: " HEX_B
                          "\n",
                     "x.lock:9:23: nginx: index-digest must be sha256:");
        expect_error(HEAD "    images:\n      - ref: nginx\n        digest: sha256:" HEX_A "\n"
                          "        media-type: " MT_OCI "\n        size: 1\n        index-digest: \"\"\n",
                     "x.lock:9:23: an image.index-digest: expected a non-empty string");
        expect_error(HEAD "    images:\n      - ref: Nginx\n        digest: sha256:" HEX_A "\n"
                          "        media-type: " MT_OCI "\n        size: 1\n",
                     "x.lock:5:14: invalid image reference");
        expect_error(HEAD "    images:\n      - ref: nginx\n        digest: sha256:" HEX_A "\n"
                          "        media-type: " MT_OCI "\n        size: 1\n"
                          "      - ref: docker.io/library/nginx:latest\n        digest: sha256:" HEX_B "\n"
                          "        media-type: " MT_OCI "\n        size: 1\n",
                     "x.lock:9:9: image 'docker.io/library/nginx:latest' is listed twice");
        /* A YAML syntax error keeps the file name and position. */
        expect_error("lock-version: [1\n", "x.lock:");
}

static void test_load_save(void **state) {
        (void) state;
        char dir[] = "/tmp/test-lock-XXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_free_ char *path = tu_path(dir, "p.lock"), *err = NULL;
        _cleanup_lock_ struct lock *none = NULL;
        assert_int_equal(lock_load(path, &none, &err), -ENOENT);
        assert_null(none);
        _cleanup_lock_ struct lock *l = sample(), *back = NULL;
        assert_int_equal(lock_save(path, l), 0);
        assert_int_equal(lock_load(path, &back, &err), 0);
        assert_int_equal(back->n_arches, 2);
        assert_string_equal(lock_find_arch(back, "amd64")->images[0].ref, "registry.k8s.io/pause:3.10");
        tu_write_in(dir, "p.lock", "lock-version: 1\narchitectures: {}\nx: 1\n");
        assert_int_equal(lock_load(path, &none, &err), -EBADMSG);
        assert_non_null(strstr(err, "p.lock:3:1: unknown key 'x'"));
        assert_int_equal(rm_rf(dir), 0);
}

/* The images a build wants (kubeadm's, images.extra), pinned by the lock:
 * the tag is kept and the locked digest added, so the puller asks for the
 * digest and never follows the tag. */
static void test_pin_images(void **state) {
        (void) state;
        _cleanup_lock_ struct lock *l = sample();
        const struct lock_arch *a = lock_find_arch(l, "amd64");
        _cleanup_image_list_ struct image_list want = {0};
        assert_int_equal(image_list_add(&want, "registry.k8s.io/pause:3.10", "kubeadm v1.31.1", NULL), 1);
        assert_int_equal(image_list_add(&want, "nginx:1.27", "images.extra[0]", NULL), 1);
        struct imageref refs[3];
        _cleanup_free_ char *err = NULL;
        assert_int_equal(lock_pin_images(a, &want, refs, &err), 0);
        _cleanup_free_ char *s0 = imageref_format(&refs[0]), *s1 = imageref_format(&refs[1]);
        assert_string_equal(s0, "registry.k8s.io/pause:3.10@sha256:" HEX_C);
        assert_string_equal(s1, "docker.io/library/nginx:1.27@sha256:" HEX_A);
        /* The wanted list itself is unchanged (the archive keeps the tag name). */
        assert_string_equal(want.items[0].ref.digest, "");

        /* Two images the lock does not have: both named, nothing pinned. */
        assert_int_equal(image_list_add(&want, "quay.io/x/y:v2", "images.extra[1]", NULL), 1);
        assert_int_equal(image_list_add(&want, "nginx:1.28", "images.extra[2]", NULL), 1);
        struct imageref refs4[4];
        memset(refs4, 0x5a, sizeof refs4);
        assert_int_equal(lock_pin_images(a, &want, refs4, &err), -ENOENT);
        assert_non_null(
                strstr(err, "2 images are not in the lock (architecture amd64): run kubeseed fetch"));
        assert_non_null(strstr(err, "quay.io/x/y:v2 (images.extra[1])"));
        assert_non_null(strstr(err, "docker.io/library/nginx:1.28 (images.extra[2])"));
        assert_null(strstr(err, "pause"));
        assert_int_equal((unsigned char) refs4[0].registry[0], 0x5a);

        /* No lock section at all: everything is missing. */
        free(err);
        err = NULL;
        assert_int_equal(lock_pin_images(NULL, &want, refs4, &err), -ENOENT);
        assert_non_null(strstr(err, "4 images are not in the lock"));

        /* A profile reference with its own digest must agree with the lock. */
        _cleanup_image_list_ struct image_list want2 = {0};
        assert_int_equal(image_list_add(&want2, "registry.k8s.io/pause:3.10@sha256:" HEX_B, "x", NULL), 1);
        free(err);
        err = NULL;
        assert_int_equal(lock_pin_images(a, &want2, refs, &err), -ENOENT);
        _cleanup_lock_ struct lock *l2 = lock_new(NULL);
        struct lock_arch s = {.arch = strdup("amd64")};
        assert_int_equal(lock_arch_add_image(&s, "registry.k8s.io/pause:3.10@sha256:" HEX_B, "sha256:" HEX_C,
                                             MT_OCI, 3, NULL),
                         0);
        assert_int_equal(lock_set_arch(l2, &s), 0);
        free(err);
        err = NULL;
        assert_int_equal(lock_pin_images(lock_find_arch(l2, "amd64"), &want2, refs, &err), -EBADMSG);
        assert_non_null(strstr(err, "the profile pins sha256:" HEX_B " but the lock has sha256:" HEX_C));
}

/* --offline's check against a store filled partially here: every missing
 * item is named at once. */
static void test_check_offline(void **state) {
        (void) state;
        char dir[] = "/tmp/test-lock-XXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_free_ char *store = tu_path(dir, "store");
        char d_kubeadm[TU_DIGEST_MAX], d_kubelet[TU_DIGEST_MAX];
        tu_store_put(store, "kubeadm binary", 14, d_kubeadm);
        tu_store_put(store, "kubelet binary", 14, d_kubelet);
        struct tu_oci_image img1, img2, img3;
        const struct tu_member m1[] = {{"etc/one", "1"}}, m2[] = {{"etc/two", "2"}}, m3[] = {{"etc/3", "3"}};
        tu_make_oci_image(store, m1, 1, &img1);
        tu_make_oci_image(store, m2, 1, &img2);
        tu_make_oci_image(store, m3, 1, &img3);

        struct lock_arch a = {.arch = strdup("amd64"), .kubernetes_version = strdup("v1.31.1")};
        assert_int_equal(lock_arch_add_file(&a, "kubeadm", d_kubeadm + 7), 0);
        assert_int_equal(lock_arch_add_file(&a, "kubelet", d_kubelet + 7), 0);
        assert_int_equal(lock_arch_add_file(&a, "kubectl", HEX_A), 0);
        assert_int_equal(lock_arch_add_image(&a, "example.com/one:v1", img1.manifest_digest, MT_OCI,
                                             img1.manifest_size, NULL),
                         0);
        assert_int_equal(lock_arch_add_image(&a, "example.com/two:v1", img2.manifest_digest, MT_OCI,
                                             img2.manifest_size, NULL),
                         0);
        assert_int_equal(lock_arch_add_image(&a, "example.com/three:v1", img3.manifest_digest, MT_OCI,
                                             img3.manifest_size, NULL),
                         0);
        _cleanup_image_list_ struct image_list want = {0};
        assert_int_equal(image_list_add(&want, "example.com/one:v1", "kubeadm v1.31.1", NULL), 1);
        assert_int_equal(image_list_add(&want, "example.com/two:v1", "kubeadm v1.31.1", NULL), 1);
        assert_int_equal(image_list_add(&want, "example.com/three:v1", "images.extra[0]", NULL), 1);

        /* Everything there (kubectl aside, not asked for). */
        char *files_ok[] = {(char *) "kubeadm", (char *) "kubelet", NULL};
        _cleanup_free_ char *err = NULL;
        assert_int_equal(lock_check_offline(&a, "v1.31.1", files_ok, &want, store, &err), 0);
        assert_null(err);

        /* Now take things away: kubelet's file, image two's second blob
         * (the layer) and config, image three's manifest; and ask for a file
         * and an image the lock does not have, and another version. */
        _cleanup_free_ char *p = cas_path(store, d_kubelet + 7);
        assert_int_equal(unlink(p), 0);
        {
                _cleanup_free_ char *mp = cas_path(store, img2.manifest_digest + 7), *body = NULL,
                                    *merr = NULL;
                size_t size = 0;
                assert_int_equal(read_file_full(mp, 1 << 20, &body, &size), 0);
                struct registry_manifest m = {0};
                assert_int_equal(registry_manifest_parse(body, size, MT_OCI, &m, &merr), 0);
                _cleanup_free_ char *lp = cas_path(store, m.layers[0].digest + 7),
                                    *cp = cas_path(store, m.config.digest + 7);
                assert_int_equal(unlink(lp), 0);
                assert_int_equal(unlink(cp), 0);
                registry_manifest_done(&m);
        }
        _cleanup_free_ char *m3p = cas_path(store, img3.manifest_digest + 7);
        assert_int_equal(unlink(m3p), 0);
        assert_int_equal(image_list_add(&want, "example.com/four:v1", "images.extra[1]", NULL), 1);
        char *files[] = {(char *) "kubeadm", (char *) "kubelet",
                         (char *) "crictl-v1.31.1-linux-amd64.tar.gz", NULL};

        assert_int_equal(lock_check_offline(&a, "v1.31.2", files, &want, store, &err), -ENOENT);
        assert_non_null(err);
        assert_non_null(strstr(err, "7 items are missing for an offline build"));
        assert_non_null(strstr(err, "\nkubernetes v1.31.2: not in the lock (the lock has v1.31.1)"));
        _cleanup_free_ char *l_kubelet = strdupf("\nkubelet: sha256 %s not in the store", d_kubelet + 7);
        assert_non_null(strstr(err, l_kubelet));
        assert_non_null(strstr(err, "\ncrictl-v1.31.1-linux-amd64.tar.gz: not in the lock"));
        _cleanup_free_ char *l_two =
                                    strdupf("\nexample.com/two:v1@%s: config sha256:", img2.manifest_digest),
                            *l_two_layer =
                                    strdupf("\nexample.com/two:v1@%s: layer sha256:", img2.manifest_digest),
                            *l_three = strdupf("\nexample.com/three:v1@%s: manifest not in the store",
                                               img3.manifest_digest);
        assert_non_null(strstr(err, l_two));
        assert_non_null(strstr(err, l_two_layer));
        assert_non_null(strstr(err, l_three));
        assert_non_null(strstr(err, "\nexample.com/four:v1 (images.extra[1]): not in the lock"));
        assert_null(strstr(err, "kubeadm:"));
        assert_null(strstr(err, "example.com/one"));

        /* No section at all: the version, every file and every image. */
        free(err);
        err = NULL;
        assert_int_equal(lock_check_offline(NULL, "v1.31.1", files_ok, &want, store, &err), -ENOENT);
        assert_non_null(strstr(err, "7 items are missing"));
        assert_non_null(strstr(err, "the lock has none"));

        lock_arch_done(&a);
        assert_int_equal(rm_rf(dir), 0);
}

/* ---- add-on manifests -------------------------------------------------------- */

#define URL_FLANNEL "https://github.com/flannel-io/flannel/releases/download/v0.26.1/kube-flannel.yml"
#define URL_ROOK "https://raw.githubusercontent.com/rook/rook/v1.15.5/deploy/examples/crds.yaml"

static void test_addon_manifests(void **state) {
        (void) state;
        _cleanup_lock_ struct lock *l = sample();
        struct lock_arch a = {.arch = strdup("amd64"), .kubernetes_version = strdup("v1.31.1")};
        assert_int_equal(lock_arch_add_file(&a, "kubeadm", HEX_A), 0);
        assert_int_equal(lock_arch_add_manifest(&a, URL_FLANNEL, HEX_B), 0);
        assert_int_equal(lock_arch_add_manifest(&a, URL_ROOK, HEX_C), 0);
        /* A URL already locked keeps its first sha256. */
        assert_int_equal(lock_arch_add_manifest(&a, URL_FLANNEL, HEX_A), 0);
        assert_int_equal(a.n_manifests, 2);
        assert_string_equal(lock_manifest_sha256(&a, URL_FLANNEL), HEX_B);
        /* Malformed: refused, nothing added. */
        assert_int_equal(lock_arch_add_manifest(&a, "https://e.com/x", "ABC"), -EINVAL);
        assert_int_equal(lock_arch_add_manifest(&a, "https://e.com/x", HEX_A "0"), -EINVAL);
        assert_int_equal(lock_arch_add_manifest(&a, "", HEX_A), -EINVAL);
        assert_int_equal(a.n_manifests, 2);
        assert_null(lock_manifest_sha256(&a, "https://e.com/x"));
        assert_null(lock_manifest_sha256(NULL, URL_FLANNEL));
        /* Manifests and files are separate lists. */
        assert_null(lock_file_sha256(&a, URL_FLANNEL));
        assert_null(lock_manifest_sha256(&a, "kubeadm"));
        assert_int_equal(lock_set_arch(l, &a), 0);

        _cleanup_free_ char *text = NULL, *text2 = NULL, *err = NULL;
        size_t size = 0, size2 = 0;
        assert_int_equal(lock_render(l, &text, &size), 0);
        assert_non_null(strstr(text, "    addon-manifests:\n    - url: " URL_FLANNEL "\n      sha256: " HEX_B
                                     "\n    - url: " URL_ROOK "\n      sha256: " HEX_C "\n"));
        /* arm64 has none: no empty section. */
        assert_null(strstr(strstr(text, "arm64:"), "addon-manifests"));

        _cleanup_lock_ struct lock *p = NULL;
        int r = lock_parse("x.lock", text, size, &p, &err);
        if (r < 0)
                fail_msg("%s\n%s", err ? err : "?", text);
        const struct lock_arch *b = lock_find_arch(p, "amd64");
        assert_non_null(b);
        assert_int_equal(b->n_manifests, 2);
        assert_string_equal(b->manifests[0].name, URL_FLANNEL);
        assert_string_equal(b->manifests[1].name, URL_ROOK);
        assert_string_equal(lock_manifest_sha256(b, URL_FLANNEL), HEX_B);
        assert_string_equal(lock_manifest_sha256(b, URL_ROOK), HEX_C);
        assert_string_equal(lock_file_sha256(b, "kubeadm"), HEX_A);
        assert_int_equal(lock_find_arch(p, "arm64")->n_manifests, 0);
        assert_int_equal(lock_render(p, &text2, &size2), 0);
        assert_int_equal(size, size2);
        assert_string_equal(text, text2);

        /* A section with manifests only (no kubernetes, no images). */
        _cleanup_lock_ struct lock *q = NULL;
        _cleanup_free_ char *err2 = NULL;
        static const char only[] =
                HEAD "    addon-manifests:\n      - url: " URL_ROOK "\n        sha256: " HEX_A "\n";
        assert_int_equal(lock_parse("x.lock", only, strlen(only), &q, &err2), 0);
        assert_string_equal(lock_manifest_sha256(lock_find_arch(q, "amd64"), URL_ROOK), HEX_A);
        assert_null(lock_find_arch(q, "amd64")->kubernetes_version);
}

static void test_addon_manifests_errors(void **state) {
        (void) state;
        /* A URL twice: where the second one is, and which URL. */
        static const char twice[] =
                HEAD "    addon-manifests:\n      - url: " URL_ROOK "\n        sha256: " HEX_A
                     "\n      - url: " URL_ROOK "\n        sha256: " HEX_B "\n";
        expect_error(twice, "x.lock:7:9: ");
        expect_error(twice, "'" URL_ROOK "' is listed twice");
        expect_error(HEAD "    addon-manifests:\n      - url: " URL_ROOK "\n        sha256: " HEX_A "0\n",
                     "x.lock:6:17: " URL_ROOK ": sha256 must be 64 lowercase hex digits");
        expect_error(HEAD "    addon-manifests:\n      - url: " URL_ROOK "\n        sha256: "
                          "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
                     "x.lock:6:17: " URL_ROOK ": sha256 must be 64 lowercase hex digits");
        expect_error(HEAD "    addon-manifests:\n      - url: " URL_ROOK "\n",
                     "x.lock:5:9: addon-manifests: 'sha256' is missing");
        expect_error(HEAD "    addon-manifests:\n      - name: x\n        sha256: " HEX_A "\n",
                     "unknown key 'name' in addon-manifests");
        expect_error(HEAD "    addon-manifests:\n      url: " URL_ROOK "\n",
                     "x.lock:5:7: addon-manifests: expected a list");
}

/* ---- the Kubernetes stage with a lock ------------------------------------- */

#define CRICTL_AMD64 "crictl-v1.31.1-linux-amd64.tar.gz"
#define CNI_AMD64 "cni-plugins-linux-amd64-v1.5.1.tgz"

static void make_bundle(const char *dir, const char *kubelet) {
        assert_int_equal(mkdir_p(dir, 0755), 0);
        tu_write_in(dir, "kubeadm", "fake kubeadm\n");
        tu_write_in(dir, "kubelet", kubelet);
        tu_write_in(dir, "kubectl", "fake kubectl\n");
        static const struct tu_member crictl[] = {{"crictl", "fake crictl\n"}};
        static const struct tu_member cni[] = {{"./bridge", "fake bridge\n"}};
        _cleanup_free_ char *c = tu_path(dir, CRICTL_AMD64), *n = tu_path(dir, CNI_AMD64);
        tu_make_tar_file(c, crictl, ELEMENTSOF(crictl), true);
        tu_make_tar_file(n, cni, ELEMENTSOF(cni), true);
        static const char *const files[] = {"kubeadm", "kubelet", "kubectl", CRICTL_AMD64, CNI_AMD64};
        tu_write_sums(dir, K8S_SUMS_FILE, files, ELEMENTSOF(files));
}

static int stage(const struct profile *p, const char *cas, const char *root, const struct lock_arch *lock,
                 bool offline) {
        _cleanup_stagekey_ struct stagekey *k = NULL;
        assert_int_equal(stagekey_new("kubernetes", 1, &k), 0);
        return kubernetes_stage_locked(p, arch_lookup("amd64"), cas, "overlays", root, lock, offline, k);
}

static void test_kubernetes_locked(void **state) {
        (void) state;
        char dir[] = "/tmp/test-lock-XXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_free_ char *src = tu_path(dir, "src"), *cas = tu_path(dir, "cas"),
                            *cas2 = tu_path(dir, "cas2"), *root = tu_path(dir, "root"),
                            *source = strdupf("dir:%s", src);
        const struct arch_info *amd64 = arch_lookup("amd64");
        struct profile p = {
                .path = (char *) "images/test.yaml",
                .name = (char *) "test",
                .kubernetes = {.version = (char *) "v1.31.1",
                               .source = source,
                               .crictl_version = (char *) "v1.31.1",
                               .cni_version = (char *) "v1.5.1"},
        };
        make_bundle(src, "kubelet one\n");

        _cleanup_strv_free_ char **files = NULL;
        assert_int_equal(kubernetes_bundle_files(&p, amd64, &files), 0);
        assert_int_equal(strv_length(files), 5);
        assert_true(strv_contains(files, CNI_AMD64));

        /* fetch records the version and each file's digest. */
        struct lock_arch a = {.arch = strdup("amd64")};
        assert_int_equal(kubernetes_fetch(&p, amd64, cas, NULL, &a), 1);
        assert_string_equal(a.kubernetes_version, "v1.31.1");
        assert_int_equal(a.n_files, 5);
        char hex[SHA256_HEX_LEN + 1];
        assert_int_equal(sha256_buffer("kubelet one\n", 12, hex), 0);
        assert_string_equal(lock_file_sha256(&a, "kubelet"), hex);

        /* Offline, from the store alone: the source directory is gone. */
        _cleanup_free_ char *saved = tu_path(dir, "saved");
        assert_int_equal(rename(src, saved), 0);
        assert_int_equal(stage(&p, cas, root, &a, true), 1);
        _cleanup_free_ char *kubelet = tu_read_in(root, "usr/bin/kubelet", NULL);
        assert_string_equal(kubelet, "kubelet one\n");
        assert_true(tu_exists_in(root, "opt/cni/bin/bridge"));

        /* Offline with the lock but a file missing from the store. */
        _cleanup_free_ char *root2 = tu_path(dir, "root2");
        assert_int_equal(stage(&p, cas2, root2, &a, true), -ENOENT);
        assert_false(tu_exists_in(root2, "usr/bin/kubelet"));
        /* Offline with no lock at all. */
        assert_int_equal(stage(&p, cas, root2, NULL, true), -ENOENT);

        /* The release changed under the same name: an online build with the
         * lock fetches it (into an empty store) and refuses it. */
        assert_int_equal(rm_rf(saved), 0);
        make_bundle(src, "kubelet two\n");
        assert_int_equal(stage(&p, cas2, root2, &a, false), -EBADMSG);
        assert_false(tu_exists_in(root2, "usr/bin/kubelet"));
        /* Without the lock the same build goes through (today's behaviour). */
        assert_int_equal(stage(&p, cas2, root2, NULL, false), 1);

        /* Another version than the lock's: not in the lock. */
        p.kubernetes.version = (char *) "v1.31.2";
        _cleanup_free_ char *root3 = tu_path(dir, "root3");
        assert_int_equal(stage(&p, cas, root3, &a, false), -ENOENT);
        assert_false(tu_exists_in(root3, "usr/bin/kubelet"));

        lock_arch_done(&a);
        assert_int_equal(rm_rf(dir), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),       cmocka_unit_test(test_set_arch_replaces_one),
                cmocka_unit_test(test_path_for_profile), cmocka_unit_test(test_parse_errors),
                cmocka_unit_test(test_load_save),        cmocka_unit_test(test_pin_images),
                cmocka_unit_test(test_check_offline),    cmocka_unit_test(test_kubernetes_locked),
                cmocka_unit_test(test_addon_manifests),  cmocka_unit_test(test_addon_manifests_errors),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
