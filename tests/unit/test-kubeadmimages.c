/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kubeadmimages.h"
#include "macro.h"

/* Expected lists: `kubeadm config images list --kubernetes-version <v>` of
 * that release's kubeadm (in kubeadm's order), written out by hand. */

static void expect_list(const char *version, const char *repository,
                        const char *const expected[KUBEADM_IMAGE_MAX], bool beyond) {
        struct kubeadm_images images;
        _cleanup_free_ char *error = NULL;
        int r = kubeadm_images_for(version, repository, &images, &error);
        if (r < 0)
                print_error("%s: %s\n", version, error);
        assert_int_equal(r, 0);
        assert_null(error);
        assert_int_equal(images.beyond_table, beyond);
        for (size_t i = 0; i < KUBEADM_IMAGE_MAX; i++) {
                _cleanup_free_ char *s = imageref_format(&images.refs[i]);
                assert_non_null(s);
                if (!streq(s, expected[i]))
                        print_error("%s %s: got '%s', want '%s'\n", version, kubeadm_image_to_string(i), s,
                                    expected[i]);
                assert_string_equal(s, expected[i]);
        }
}

static void test_v1_20_2(void **state) {
        (void) state;
        /* Debian's kubernetes 1.20 bundle (the real-cluster test stand-in) */
        static const char *const want[] = {
                "k8s.gcr.io/kube-apiserver:v1.20.2", "k8s.gcr.io/kube-controller-manager:v1.20.2",
                "k8s.gcr.io/kube-scheduler:v1.20.2", "k8s.gcr.io/kube-proxy:v1.20.2",
                "k8s.gcr.io/coredns:1.7.0",          "k8s.gcr.io/pause:3.2",
                "k8s.gcr.io/etcd:3.4.13-0",
        };
        expect_list("v1.20.2", NULL, want, false);
        expect_list("1.20.2", "", want, false); /* no "v", empty override */
}

static void test_v1_21_14(void **state) {
        (void) state;
        static const char *const want[] = {
                "k8s.gcr.io/kube-apiserver:v1.21.14", "k8s.gcr.io/kube-controller-manager:v1.21.14",
                "k8s.gcr.io/kube-scheduler:v1.21.14", "k8s.gcr.io/kube-proxy:v1.21.14",
                "k8s.gcr.io/coredns/coredns:v1.8.0",  "k8s.gcr.io/pause:3.4.1",
                "k8s.gcr.io/etcd:3.4.13-0",
        };
        expect_list("v1.21.14", NULL, want, false);
}

static void test_v1_24_registry_switch(void **state) {
        (void) state;
        static const char *const want8[] = {
                "k8s.gcr.io/kube-apiserver:v1.24.8", "k8s.gcr.io/kube-controller-manager:v1.24.8",
                "k8s.gcr.io/kube-scheduler:v1.24.8", "k8s.gcr.io/kube-proxy:v1.24.8",
                "k8s.gcr.io/coredns/coredns:v1.8.6", "k8s.gcr.io/pause:3.7",
                "k8s.gcr.io/etcd:3.5.5-0",
        };
        expect_list("v1.24.8", NULL, want8, false);
        static const char *const want9[] = {
                "registry.k8s.io/kube-apiserver:v1.24.9", "registry.k8s.io/kube-controller-manager:v1.24.9",
                "registry.k8s.io/kube-scheduler:v1.24.9", "registry.k8s.io/kube-proxy:v1.24.9",
                "registry.k8s.io/coredns/coredns:v1.8.6", "registry.k8s.io/pause:3.7",
                "registry.k8s.io/etcd:3.5.6-0",
        };
        expect_list("v1.24.9", NULL, want9, false);
}

static void test_v1_31(void **state) {
        (void) state;
        static const char *const want1[] = {
                "registry.k8s.io/kube-apiserver:v1.31.1",  "registry.k8s.io/kube-controller-manager:v1.31.1",
                "registry.k8s.io/kube-scheduler:v1.31.1",  "registry.k8s.io/kube-proxy:v1.31.1",
                "registry.k8s.io/coredns/coredns:v1.11.3", "registry.k8s.io/pause:3.10",
                "registry.k8s.io/etcd:3.5.15-0",
        };
        expect_list("v1.31.1", NULL, want1, false);
        /* v1.31.0 still had CoreDNS v1.11.1 */
        static const char *const want0[] = {
                "registry.k8s.io/kube-apiserver:v1.31.0",  "registry.k8s.io/kube-controller-manager:v1.31.0",
                "registry.k8s.io/kube-scheduler:v1.31.0",  "registry.k8s.io/kube-proxy:v1.31.0",
                "registry.k8s.io/coredns/coredns:v1.11.1", "registry.k8s.io/pause:3.10",
                "registry.k8s.io/etcd:3.5.15-0",
        };
        expect_list("v1.31.0", NULL, want0, false);
}

static void test_v1_33_0(void **state) {
        (void) state;
        static const char *const want[] = {
                "registry.k8s.io/kube-apiserver:v1.33.0",  "registry.k8s.io/kube-controller-manager:v1.33.0",
                "registry.k8s.io/kube-scheduler:v1.33.0",  "registry.k8s.io/kube-proxy:v1.33.0",
                "registry.k8s.io/coredns/coredns:v1.12.0", "registry.k8s.io/pause:3.10",
                "registry.k8s.io/etcd:3.5.21-0",
        };
        expect_list("v1.33.0", NULL, want, false);
}

static void test_repository_override(void **state) {
        (void) state;
        /* another repository: CoreDNS at <repo>/coredns, as kubeadm's GetDNSImage */
        static const char *const want[] = {
                "registry.example:5000/k8s/kube-apiserver:v1.31.1",
                "registry.example:5000/k8s/kube-controller-manager:v1.31.1",
                "registry.example:5000/k8s/kube-scheduler:v1.31.1",
                "registry.example:5000/k8s/kube-proxy:v1.31.1",
                "registry.example:5000/k8s/coredns:v1.11.3",
                "registry.example:5000/k8s/pause:3.10",
                "registry.example:5000/k8s/etcd:3.5.15-0",
        };
        expect_list("v1.31.1", "registry.example:5000/k8s", want, false);

        /* naming the default explicitly is the default */
        static const char *const want_default[] = {
                "registry.k8s.io/kube-apiserver:v1.31.1",  "registry.k8s.io/kube-controller-manager:v1.31.1",
                "registry.k8s.io/kube-scheduler:v1.31.1",  "registry.k8s.io/kube-proxy:v1.31.1",
                "registry.k8s.io/coredns/coredns:v1.11.3", "registry.k8s.io/pause:3.10",
                "registry.k8s.io/etcd:3.5.15-0",
        };
        expect_list("v1.31.1", "registry.k8s.io", want_default, false);

        /* the old registry on a version whose default is the new one */
        static const char *const want_old[] = {
                "k8s.gcr.io/kube-apiserver:v1.24.9", "k8s.gcr.io/kube-controller-manager:v1.24.9",
                "k8s.gcr.io/kube-scheduler:v1.24.9", "k8s.gcr.io/kube-proxy:v1.24.9",
                "k8s.gcr.io/coredns:v1.8.6",         "k8s.gcr.io/pause:3.7",
                "k8s.gcr.io/etcd:3.5.6-0",
        };
        expect_list("v1.24.9", "k8s.gcr.io", want_old, false);

        /* a docker.io organisation is normalised like any reference */
        struct kubeadm_images images;
        assert_int_equal(kubeadm_images_for("v1.30.2", "myorg", &images, NULL), 0);
        _cleanup_free_ char *s = imageref_format(&images.refs[KUBEADM_IMAGE_ETCD]);
        assert_string_equal(s, "docker.io/myorg/etcd:3.5.12-0");

        /* malformed repositories */
        static const char *const bad[] = {
                "registry.example/k8s:v1", "registry.example/k8s@sha256:abc", "registry.example/K8s",
                "registry.example/",       "https://registry.example",        "two words",
        };
        _cleanup_free_ char *msg = NULL;
        assert_int_equal(kubeadm_images_for("v1.31.1", "registry.example/K8s", &images, &msg), -EINVAL);
        assert_string_equal(
                msg, "Invalid image repository 'registry.example/K8s': "
                     "'registry.example/K8s/kube-apiserver:v1.31.1': repository name must be lowercase");
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *error = NULL;
                memset(&images, 0x5a, sizeof(images));
                assert_int_equal(kubeadm_images_for("v1.31.1", bad[i], &images, &error), -EINVAL);
                assert_non_null(error);
                assert_non_null(strstr(error, "Invalid image repository"));
                assert_int_equal(((unsigned char *) &images)[0], 0x5a);
        }
}

/* Every row boundary: the last patch before and the first patch of each
 * change. Transcribed from the releases' `kubeadm config images list`. */
struct point {
        const char *version, *registry, *etcd, *coredns, *pause;
};
static const struct point points[] = {
        {"v1.20.0", "k8s.gcr.io", "3.4.13-0", "1.7.0", "3.2"},
        {"v1.20.15", "k8s.gcr.io", "3.4.13-0", "1.7.0", "3.2"},
        {"v1.21.0", "k8s.gcr.io", "3.4.13-0", "v1.8.0", "3.4.1"},
        {"v1.22.0", "k8s.gcr.io", "3.5.0-0", "v1.8.4", "3.5"},
        {"v1.22.16", "k8s.gcr.io", "3.5.0-0", "v1.8.4", "3.5"},
        {"v1.22.17", "registry.k8s.io", "3.5.6-0", "v1.8.4", "3.5"},
        {"v1.23.0", "k8s.gcr.io", "3.5.1-0", "v1.8.6", "3.6"},
        {"v1.23.13", "k8s.gcr.io", "3.5.1-0", "v1.8.6", "3.6"},
        {"v1.23.14", "k8s.gcr.io", "3.5.5-0", "v1.8.6", "3.6"},
        {"v1.23.15", "registry.k8s.io", "3.5.6-0", "v1.8.6", "3.6"},
        {"v1.23.17", "registry.k8s.io", "3.5.6-0", "v1.8.6", "3.6"},
        {"v1.24.0", "k8s.gcr.io", "3.5.3-0", "v1.8.6", "3.7"},
        {"v1.24.7", "k8s.gcr.io", "3.5.3-0", "v1.8.6", "3.7"},
        {"v1.24.17", "registry.k8s.io", "3.5.6-0", "v1.8.6", "3.7"},
        {"v1.25.0", "registry.k8s.io", "3.5.4-0", "v1.9.3", "3.8"},
        {"v1.25.3", "registry.k8s.io", "3.5.4-0", "v1.9.3", "3.8"},
        {"v1.25.4", "registry.k8s.io", "3.5.5-0", "v1.9.3", "3.8"},
        {"v1.25.5", "registry.k8s.io", "3.5.6-0", "v1.9.3", "3.8"},
        {"v1.25.14", "registry.k8s.io", "3.5.6-0", "v1.9.3", "3.8"},
        {"v1.25.15", "registry.k8s.io", "3.5.9-0", "v1.9.3", "3.8"},
        {"v1.26.0", "registry.k8s.io", "3.5.6-0", "v1.9.3", "3.9"},
        {"v1.26.9", "registry.k8s.io", "3.5.6-0", "v1.9.3", "3.9"},
        {"v1.26.10", "registry.k8s.io", "3.5.9-0", "v1.9.3", "3.9"},
        {"v1.26.13", "registry.k8s.io", "3.5.10-0", "v1.9.3", "3.9"},
        {"v1.27.0", "registry.k8s.io", "3.5.7-0", "v1.10.1", "3.9"},
        {"v1.27.6", "registry.k8s.io", "3.5.7-0", "v1.10.1", "3.9"},
        {"v1.27.7", "registry.k8s.io", "3.5.9-0", "v1.10.1", "3.9"},
        {"v1.27.10", "registry.k8s.io", "3.5.10-0", "v1.10.1", "3.9"},
        {"v1.27.12", "registry.k8s.io", "3.5.12-0", "v1.10.1", "3.9"},
        {"v1.28.0", "registry.k8s.io", "3.5.9-0", "v1.10.1", "3.9"},
        {"v1.28.6", "registry.k8s.io", "3.5.10-0", "v1.10.1", "3.9"},
        {"v1.28.8", "registry.k8s.io", "3.5.12-0", "v1.10.1", "3.9"},
        {"v1.28.13", "registry.k8s.io", "3.5.12-0", "v1.10.1", "3.9"},
        {"v1.28.14", "registry.k8s.io", "3.5.15-0", "v1.10.1", "3.9"},
        {"v1.29.0", "registry.k8s.io", "3.5.10-0", "v1.11.1", "3.9"},
        {"v1.29.3", "registry.k8s.io", "3.5.12-0", "v1.11.1", "3.9"},
        {"v1.29.9", "registry.k8s.io", "3.5.15-0", "v1.11.1", "3.9"},
        {"v1.29.11", "registry.k8s.io", "3.5.16-0", "v1.11.1", "3.9"},
        {"v1.30.0", "registry.k8s.io", "3.5.12-0", "v1.11.1", "3.9"},
        {"v1.30.4", "registry.k8s.io", "3.5.12-0", "v1.11.1", "3.9"},
        {"v1.30.5", "registry.k8s.io", "3.5.15-0", "v1.11.3", "3.9"},
        {"v1.31.13", "registry.k8s.io", "3.5.15-0", "v1.11.3", "3.10"},
        {"v1.31.14", "registry.k8s.io", "3.5.24-0", "v1.11.3", "3.10"},
        {"v1.32.0", "registry.k8s.io", "3.5.16-0", "v1.11.3", "3.10"},
        {"v1.32.9", "registry.k8s.io", "3.5.16-0", "v1.11.3", "3.10"},
        {"v1.32.10", "registry.k8s.io", "3.5.24-0", "v1.11.3", "3.10"},
        {"v1.33.5", "registry.k8s.io", "3.5.21-0", "v1.12.0", "3.10"},
        {"v1.33.6", "registry.k8s.io", "3.5.24-0", "v1.12.0", "3.10"},
        {"v1.34.0", "registry.k8s.io", "3.6.4-0", "v1.12.1", "3.10.1"},
        {"v1.34.2", "registry.k8s.io", "3.6.5-0", "v1.12.1", "3.10.1"},
        {"v1.35.0", "registry.k8s.io", "3.6.6-0", "v1.13.1", "3.10.1"},
        {"v1.36.3", "registry.k8s.io", "3.6.8-0", "v1.14.2", "3.10.2"},
};

static void test_row_boundaries(void **state) {
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(points); i++) {
                const struct point *p = &points[i];
                struct kubeadm_images images;
                assert_int_equal(kubeadm_images_for(p->version, NULL, &images, NULL), 0);
                assert_false(images.beyond_table);
                const struct imageref *etcd = &images.refs[KUBEADM_IMAGE_ETCD];
                const struct imageref *dns = &images.refs[KUBEADM_IMAGE_COREDNS];
                const struct imageref *pause = &images.refs[KUBEADM_IMAGE_PAUSE];
                if (!streq(etcd->tag, p->etcd) || !streq(dns->tag, p->coredns) ||
                    !streq(pause->tag, p->pause) || !streq(etcd->registry, p->registry))
                        print_error("%s: got %s etcd %s coredns %s pause %s\n", p->version, etcd->registry,
                                    etcd->tag, dns->tag, pause->tag);
                assert_string_equal(etcd->tag, p->etcd);
                assert_string_equal(dns->tag, p->coredns);
                assert_string_equal(pause->tag, p->pause);
                for (size_t j = 0; j < KUBEADM_IMAGE_MAX; j++)
                        assert_string_equal(images.refs[j].registry, p->registry);
                assert_string_equal(dns->repository,
                                    streq(p->coredns, "1.7.0") ? "coredns" : "coredns/coredns");
                assert_string_equal(images.refs[KUBEADM_IMAGE_APISERVER].tag, p->version);
                assert_string_equal(images.refs[KUBEADM_IMAGE_PROXY].repository, "kube-proxy");
        }
}

static void test_beyond_table(void **state) {
        (void) state;
        struct kubeadm_images images;
        /* newer than the last checked patch: the minor's last row, flagged */
        assert_int_equal(kubeadm_images_for("v1.31.15", NULL, &images, NULL), 0);
        assert_true(images.beyond_table);
        assert_string_equal(images.refs[KUBEADM_IMAGE_ETCD].tag, "3.5.24-0");
        assert_string_equal(images.refs[KUBEADM_IMAGE_APISERVER].tag, "v1.31.15");
        assert_int_equal(kubeadm_images_for("v1.31.14", NULL, &images, NULL), 0);
        assert_false(images.beyond_table);
        assert_int_equal(kubeadm_images_for("v1.36.4", NULL, &images, NULL), 0);
        assert_true(images.beyond_table);
        assert_int_equal(kubeadm_images_for("v1.20.16", NULL, &images, NULL), 0);
        assert_true(images.beyond_table);
        assert_int_equal(images.minor, 20);
        assert_int_equal(images.patch, 16);
}

static void test_pause(void **state) {
        (void) state;
        struct imageref pause;
        assert_int_equal(kubeadm_pause_image("v1.31.1", NULL, &pause, NULL), 0);
        _cleanup_free_ char *s = imageref_format(&pause);
        assert_string_equal(s, "registry.k8s.io/pause:3.10");
        assert_int_equal(kubeadm_pause_image("v1.20.2", "mirror.local/k8s", &pause, NULL), 0);
        _cleanup_free_ char *s2 = imageref_format(&pause);
        assert_string_equal(s2, "mirror.local/k8s/pause:3.2");

        _cleanup_free_ char *error = NULL;
        assert_int_equal(kubeadm_pause_image("v1.19.0", NULL, &pause, &error), -ENOTSUP);
        assert_non_null(error);
}

static void test_bad_versions(void **state) {
        (void) state;
        static const struct {
                const char *version;
                int r;
                const char *error;
        } cases[] = {
                {"v1.19.16", -ENOTSUP,
                 "Kubernetes v1.19.16 is not supported: the kubeadm image table covers v1.20.0 to v1.36.x"},
                {"v1.37.0", -ENOTSUP,
                 "Kubernetes v1.37.0 is not supported: the kubeadm image table covers v1.20.0 to v1.36.x"},
                {"v2.0.0", -ENOTSUP,
                 "Kubernetes v2.0.0 is not supported: the kubeadm image table covers v1.20.0 to v1.36.x"},
                {"v1.31.0-rc.1", -ENOTSUP,
                 "Kubernetes version 'v1.31.0-rc.1' is a pre-release or custom build: the kubeadm image "
                 "table "
                 "only covers releases (v1.20.0 to v1.36.x)"},
                {"v1.31.1+k3s1", -ENOTSUP,
                 "Kubernetes version 'v1.31.1+k3s1' is a pre-release or custom build: the kubeadm image "
                 "table "
                 "only covers releases (v1.20.0 to v1.36.x)"},
                {"v1.31", -EINVAL,
                 "Invalid Kubernetes version 'v1.31': expected vMAJOR.MINOR.PATCH (e.g. v1.31.1)"},
                {"", -EINVAL, "Invalid Kubernetes version '': expected vMAJOR.MINOR.PATCH (e.g. v1.31.1)"},
                {"v1.31.1.2", -EINVAL,
                 "Invalid Kubernetes version 'v1.31.1.2': expected vMAJOR.MINOR.PATCH (e.g. v1.31.1)"},
                {"v01.31.1", -EINVAL,
                 "Invalid Kubernetes version 'v01.31.1': expected vMAJOR.MINOR.PATCH (e.g. v1.31.1)"},
                {"v1.31.x", -EINVAL,
                 "Invalid Kubernetes version 'v1.31.x': expected vMAJOR.MINOR.PATCH (e.g. v1.31.1)"},
                {" v1.31.1", -EINVAL,
                 "Invalid Kubernetes version ' v1.31.1': expected vMAJOR.MINOR.PATCH (e.g. v1.31.1)"},
                {"v1.31.1 ", -EINVAL,
                 "Invalid Kubernetes version 'v1.31.1 ': expected vMAJOR.MINOR.PATCH (e.g. v1.31.1)"},
                {"V1.31.1", -EINVAL,
                 "Invalid Kubernetes version 'V1.31.1': expected vMAJOR.MINOR.PATCH (e.g. v1.31.1)"},
                {"v1.-31.1", -EINVAL,
                 "Invalid Kubernetes version 'v1.-31.1': expected vMAJOR.MINOR.PATCH (e.g. v1.31.1)"},
                {"v1.99999.1", -EINVAL,
                 "Invalid Kubernetes version 'v1.99999.1': expected vMAJOR.MINOR.PATCH (e.g. v1.31.1)"},
                {"v1.31.4294967297", -EINVAL,
                 "Invalid Kubernetes version 'v1.31.4294967297': expected vMAJOR.MINOR.PATCH (e.g. "
                 "v1.31.1)"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct kubeadm_images images;
                memset(&images, 0x5a, sizeof(images));
                _cleanup_free_ char *error = NULL;
                int r = kubeadm_images_for(cases[i].version, NULL, &images, &error);
                if (r != cases[i].r || !error || !streq(error, cases[i].error))
                        print_error("'%s': got %d '%s'\n", cases[i].version, r, error ? error : "(none)");
                assert_int_equal(r, cases[i].r);
                assert_string_equal(error, cases[i].error);
                assert_int_equal(((unsigned char *) &images)[sizeof(images) - 1], 0x5a);
                assert_int_equal(kubeadm_images_for(cases[i].version, NULL, &images, NULL), cases[i].r);
        }
        assert_int_equal(kubeadm_images_for(NULL, NULL, NULL, NULL), -EINVAL);

        unsigned lo, hi;
        kubeadm_images_supported(&lo, &hi);
        assert_int_equal(lo, 20);
        assert_true(hi >= 33);
}

static void test_every_patch(void **state) {
        (void) state;
        /* every version in range gives seven valid, distinct references */
        unsigned lo, hi;
        kubeadm_images_supported(&lo, &hi);
        for (unsigned minor = lo; minor <= hi; minor++)
                for (unsigned patch = 0; patch <= 20; patch++) {
                        char v[32];
                        snprintf(v, sizeof(v), "v1.%u.%u", minor, patch);
                        struct kubeadm_images images;
                        assert_int_equal(kubeadm_images_for(v, NULL, &images, NULL), 0);
                        for (size_t a = 0; a < KUBEADM_IMAGE_MAX; a++) {
                                assert_true(images.refs[a].tag[0]);
                                for (size_t b = a + 1; b < KUBEADM_IMAGE_MAX; b++)
                                        assert_false(imageref_equal(&images.refs[a], &images.refs[b]));
                        }
                }
        assert_string_equal(kubeadm_image_to_string(KUBEADM_IMAGE_CONTROLLER_MANAGER),
                            "kube-controller-manager");
        assert_null(kubeadm_image_to_string(KUBEADM_IMAGE_MAX));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_v1_20_2),
                cmocka_unit_test(test_v1_21_14),
                cmocka_unit_test(test_v1_24_registry_switch),
                cmocka_unit_test(test_v1_31),
                cmocka_unit_test(test_v1_33_0),
                cmocka_unit_test(test_repository_override),
                cmocka_unit_test(test_row_boundaries),
                cmocka_unit_test(test_beyond_table),
                cmocka_unit_test(test_pause),
                cmocka_unit_test(test_bad_versions),
                cmocka_unit_test(test_every_patch),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
