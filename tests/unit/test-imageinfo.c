/* SPDX-License-Identifier: MIT */
/* /etc/kubeseed/image.yaml as the agent reads it (firstboot/imageinfo.c):
 * what the builder writes (builder/build.c write_image_yaml), the keys the
 * agent acts on, and damaged files named by line and key. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fsutil.h"
#include "imageinfo.h"
#include "macro.h"
#include "strv.h"

#include "testutil.h"

/* As builder/build.c writes it for a profile with kubernetes.kubeadm. */
#define FULL                                                                                                \
        "---\n"                                                                                             \
        "profile: debian-bookworm\n"                                                                        \
        "distro: debian\n"                                                                                  \
        "suite: bookworm\n"                                                                                 \
        "arch: amd64\n"                                                                                     \
        "source-date-epoch: 0\n"                                                                            \
        "stage-keys:\n"                                                                                     \
        "  rootfs: aa\n"                                                                                    \
        "  image: bb\n"                                                                                     \
        "kubernetes:\n"                                                                                     \
        "  version: v1.20.2\n"                                                                              \
        "  kubeadm:\n"                                                                                      \
        "    etcd-image-tag: \"3.4.23\"\n"                                                                  \
        "    init-skip-phases:\n"                                                                           \
        "    - addon/coredns\n"                                                                             \
        "images:\n"                                                                                         \
        "- name: k8s.gcr.io/etcd:3.4.23\n"                                                                  \
        "  digest: sha256:aa\n"                                                                             \
        "- name: k8s.gcr.io/pause:3.2\n"                                                                    \
        "  digest: sha256:bb\n"                                                                             \
        "addons: []\n"

static void test_parse(void **state) {
        (void) state;
        struct image_info i;
        _cleanup_free_ char *err = NULL;
        assert_int_equal(image_info_parse("image.yaml", FULL, strlen(FULL), &i, &err), 0);
        assert_string_equal(i.etcd_image_tag, "3.4.23");
        _cleanup_free_ char *phases = strv_join(i.init_skip_phases, ","), *images = strv_join(i.images, ",");
        assert_string_equal(phases, "addon/coredns");
        assert_string_equal(images, "k8s.gcr.io/etcd:3.4.23,k8s.gcr.io/pause:3.2");
        image_info_done(&i);

        /* An image without a kubernetes section: nothing to act on. */
        const char *plain = "profile: p\nkubernetes:\n  version: \"\"\nimages: []\naddons: []\n";
        assert_int_equal(image_info_parse("image.yaml", plain, strlen(plain), &i, &err), 0);
        assert_null(i.etcd_image_tag);
        assert_non_null(i.init_skip_phases);
        assert_null(i.init_skip_phases[0]);
        assert_non_null(i.images);
        assert_null(i.images[0]);
        image_info_done(&i);
}

static void test_errors(void **state) {
        (void) state;
        static const struct {
                const char *text, *error;
        } cases[] = {
                {"- a\n", "image.yaml:1:1: expected a mapping"},
                {"kubernetes:\n  kubeadm: [a]\n", "image.yaml:2:12: kubernetes.kubeadm: expected a mapping"},
                {"kubernetes:\n  kubeadm:\n    etcd-image-tag: [x]\n",
                 "image.yaml:3:21: kubernetes.kubeadm.etcd-image-tag: expected an image tag"},
                {"kubernetes:\n  kubeadm:\n    init-skip-phases: addon/coredns\n",
                 "image.yaml:3:23: kubernetes.kubeadm.init-skip-phases: expected a list"},
                {"kubernetes:\n  kubeadm:\n    init-skip-phases: [a, {b: c}]\n",
                 "image.yaml:3:27: kubernetes.kubeadm.init-skip-phases: expected a list of non-empty "
                 "strings"},
                {"images:\n- {digest: sha256:aa}\n",
                 "image.yaml:2:3: images: expected each item to be a mapping with a non-empty name"},
                {"images: {a: b}\n", "image.yaml:1:9: images: expected a list"},
                {"images: [\n", NULL}, /* libyaml's words */
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct image_info info = {.etcd_image_tag = (char *) "untouched"};
                _cleanup_free_ char *err = NULL;
                int r = image_info_parse("image.yaml", cases[i].text, strlen(cases[i].text), &info, &err);
                if (r != -EBADMSG)
                        fail_msg("'%s': %d", cases[i].text, r);
                assert_non_null(err);
                assert_int_equal(strncmp(err, "image.yaml:", 11), 0);
                if (cases[i].error)
                        assert_string_equal(err, cases[i].error);
                assert_string_equal(info.etcd_image_tag, "untouched");
        }
}

static void test_load(void **state) {
        (void) state;
        char root[] = "/tmp/test-imageinfo.XXXXXX";
        assert_non_null(mkdtemp(root));
        struct image_info i;
        _cleanup_free_ char *err = NULL;
        /* No file: an image without Kubernetes. */
        assert_int_equal(image_info_load(root, &i, &err), 0);
        assert_null(i.images[0]);
        assert_null(i.init_skip_phases[0]);
        image_info_done(&i);

        _cleanup_free_ char *dir = tu_path(root, "etc/kubeseed"), *path = tu_path(dir, "image.yaml");
        assert_int_equal(mkdir_p(dir, 0755), 0);
        assert_int_equal(write_file_atomic(path, FULL, strlen(FULL), 0644), 0);
        assert_int_equal(image_info_load(root, &i, &err), 1);
        assert_string_equal(i.etcd_image_tag, "3.4.23");
        image_info_done(&i);

        const char *bad = "images: 3\n";
        assert_int_equal(write_file_atomic(path, bad, strlen(bad), 0644), 0);
        assert_int_equal(image_info_load(root, &i, &err), -EBADMSG);
        assert_string_equal(err, "/etc/kubeseed/image.yaml:1:9: images: expected a list");
        assert_int_equal(rm_rf(root), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_load),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
