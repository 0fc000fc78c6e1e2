/* SPDX-License-Identifier: MIT */
/* The builder's add-on stage (builder/addons.c): selection from a catalogue,
 * manifests from files and from a loopback HTTP server checked against
 * their SHA-256, substitutions checked, images collected for the preload
 * list, files and catalog.yaml written into a root, lock pinning. */
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

#include "addons.h"
#include "digest.h"
#include "download.h"
#include "fsutil.h"
#include "log.h"
#include "preload.h"
#include "strv.h"
#include "testutil.h"

struct fixture {
        char dir[64];
        char *catalog, *root, *cas;
        struct profile p;
};

static const char flannel_manifest[] =
        "apiVersion: v1\n"
        "kind: ConfigMap\n"
        "metadata: {name: cfg, namespace: kube-flannel}\n"
        "data:\n"
        "  net-conf.json: '{\"Network\": \"10.244.0.0/16\"}'\n"
        "---\n"
        "apiVersion: apps/v1\n"
        "kind: DaemonSet\n"
        "metadata: {name: kube-flannel-ds, namespace: kube-flannel}\n"
        "spec:\n"
        "  template:\n"
        "    spec:\n"
        "      initContainers: [{name: cni, image: flannel/flannel-cni-plugin:v1}]\n"
        "      containers: [{name: f, image: docker.io/flannel/flannel:v0.26.1}]\n";

static const char storage_manifest[] =
        "kind: List\n"
        "apiVersion: v1\n"
        "items:\n"
        "  - apiVersion: apps/v1\n"
        "    kind: Deployment\n"
        "    metadata: {name: prov, namespace: st}\n"
        "    spec: {template: {spec: {containers: [{name: p, image: quay.io/st/prov:1}]}}}\n";

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof *f);
        assert_non_null(f);
        snprintf(f->dir, sizeof f->dir, "/tmp/kubeseed-test-addons-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        f->catalog = tu_path(f->dir, "catalog");
        f->root = tu_path(f->dir, "root");
        f->cas = tu_path(f->dir, "store");
        assert_int_equal(mkdir_p(f->catalog, 0755), 0);
        assert_int_equal(mkdir_p(f->root, 0755), 0);
        f->p = (struct profile){.path = (char *) "images/test.yaml",
                                .has_addons = true,
                                .addons.catalog = f->catalog,
                                .kubernetes.version = (char *) "v1.31.1"};
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;
        assert_int_equal(rm_rf(f->dir), 0);
        free(f->catalog);
        free(f->root);
        free(f->cas);
        free(f);
        return 0;
}

static void write_def(struct fixture *f, const char *name, const char *text) {
        tu_write_in(f->catalog, name, text);
}

/* flannel from a file with a substitution; storage from a file with an
 * extra image; ui depends on storage. */
static void write_manifest(struct fixture *f, const char *name, const char *text) {
        _cleanup_free_ char *dir = tu_path(f->catalog, "files");
        assert_int_equal(mkdir_p(dir, 0755), 0);
        tu_write_in(dir, name, text);
}

static void standard_catalog(struct fixture *f) {
        write_manifest(f, "kube-flannel.yml", flannel_manifest);
        write_manifest(f, "storage.yaml", storage_manifest);
        write_def(f, "flannel.yaml",
                  "name: flannel\ncategory: cni\ndefault: true\n"
                  "manifests:\n"
                  "  - file: files/kube-flannel.yml\n"
                  "    substitute: [{find: '\"Network\": \"10.244.0.0/16\"', with: '\"Network\": "
                  "\"${pod-subnet}\"'}]\n"
                  "ready: {checks: [{kind: daemonset, namespace: kube-flannel, name: kube-flannel-ds}]}\n");
        write_def(f, "storage.yaml",
                  "name: storage-x\ncategory: storage\ndefault: true\n"
                  "manifests: [{file: files/storage.yaml}]\n"
                  "images: [quay.io/st/helper:2]\n");
        write_def(f, "ui.yaml",
                  "name: ui\ncategory: ui\ndepends: [storage]\nmanifests: [{file: files/storage.yaml}]\n");
}

static void test_select(void **state) {
        struct fixture *f = *state;
        standard_catalog(f);
        _cleanup_addon_catalog_ struct addon_catalog all = {0};
        assert_int_equal(addons_load_catalog(f->catalog, &all), 0);
        assert_int_equal(all.n_defs, 3);

        /* No ship list: everything; no default list: those marked. */
        struct addons_plan plan = {0};
        _cleanup_free_ char *err = NULL;
        assert_int_equal(addons_select(&f->p, &all, &plan, &err), 0);
        assert_int_equal(plan.source.n_defs, 3);
        assert_int_equal(all.n_defs, 0);
        assert_int_equal(strv_length(plan.defaults), 2);
        assert_string_equal(plan.defaults[0], "flannel");
        assert_string_equal(plan.defaults[1], "storage-x");
        assert_false(addon_catalog_find(&plan.source, "ui")->is_default);
        addons_plan_done(&plan);
}

static void expect_select_error(struct fixture *f, char **ship, char **defaults, int error,
                                const char *msg) {
        _cleanup_addon_catalog_ struct addon_catalog all = {0};
        assert_int_equal(addons_load_catalog(f->catalog, &all), 0);
        struct profile p = f->p;
        p.addons.ship = ship;
        p.addons.defaults = defaults;
        struct addons_plan plan = {0};
        _cleanup_free_ char *err = NULL;
        assert_int_equal(addons_select(&p, &all, &plan, &err), error);
        assert_non_null(err);
        assert_string_equal(err, msg);
        addons_plan_done(&plan);
}

static void test_select_errors(void **state) {
        struct fixture *f = *state;
        standard_catalog(f);
        write_def(f, "uses.yaml",
                  "name: uses\ncategory: other\ndepends: [ui]\nmanifests: [{file: files/storage.yaml}]\n");
        expect_select_error(f, (char *[]){"flannel", "nope", NULL}, NULL, -ENOENT,
                            "images/test.yaml: addons.ship: 'nope' is not in the catalogue");
        expect_select_error(f, (char *[]){"flannel", "uses", NULL}, NULL, -EINVAL,
                            "images/test.yaml: addons.ship: uses depends on ui, which is not shipped");
        expect_select_error(f, (char *[]){"flannel", NULL}, (char *[]){"ui", NULL}, -ENOENT,
                            "images/test.yaml: addons.default: 'ui' is not shipped (addons.ship)");
        expect_select_error(
                f, NULL, (char *[]){"ui", NULL}, -EINVAL,
                "images/test.yaml: the default add-ons: add-on ui needs a storage add-on, and none "
                "is selected");
}

static void test_catalog_errors(void **state) {
        struct fixture *f = *state;
        write_def(f, "a.yaml", "name: a\ncategory: other\ndepends: [b]\nmanifests: [{file: x}]\n");
        write_def(f, "b.yaml", "name: b\ncategory: other\ndepends: [a]\nmanifests: [{file: x}]\n");
        _cleanup_addon_catalog_ struct addon_catalog all = {0};
        assert_int_equal(addons_load_catalog(f->catalog, &all), -ELOOP);
        addon_catalog_done(&all);
        _cleanup_free_ char *missing = tu_path(f->dir, "nope");
        assert_int_equal(addons_load_catalog(missing, &all), -ENOENT);
}

static void test_file_names(void **state) {
        (void) state;
        struct addon_manifest m = {.url = (char *) "https://h/x/kube-flannel.yml?raw=1"};
        _cleanup_free_ char *a = addons_manifest_file_name(&m, 0);
        assert_string_equal(a, "01-kube-flannel.yml");
        m = (struct addon_manifest){.file = (char *) "rook-ceph/cluster.yaml"};
        _cleanup_free_ char *b = addons_manifest_file_name(&m, 3);
        assert_string_equal(b, "04-cluster.yaml");
        m = (struct addon_manifest){.url = (char *) "https://h/"};
        _cleanup_free_ char *c = addons_manifest_file_name(&m, 1);
        assert_string_equal(c, "02-manifest.yaml");
        m = (struct addon_manifest){.url = (char *) "https://h/a b$c.yaml"};
        _cleanup_free_ char *d = addons_manifest_file_name(&m, 0);
        assert_string_equal(d, "01-a_b_c.yaml");
}

static void test_stage_files(void **state) {
        struct fixture *f = *state;
        standard_catalog(f);
        _cleanup_stagekey_ struct stagekey *k = NULL;
        assert_int_equal(stagekey_new("content", 1, &k), 0);
        struct addons_plan plan = {0};
        assert_int_equal(addons_stage(&f->p, f->cas, f->root, NULL, false, NULL, k, &plan), 1);

        /* The manifests are in the image, byte for byte. */
        _cleanup_free_ char *got =
                tu_read_in(f->root, "usr/share/kubeseed/addons/flannel/01-kube-flannel.yml", NULL);
        assert_string_equal(got, flannel_manifest);
        assert_true(tu_exists_in(f->root, "usr/share/kubeseed/addons/ui/01-storage.yaml"));
        assert_true(tu_exists_in(f->root, "usr/share/kubeseed/addons/storage-x/01-storage.yaml"));

        /* catalog.yaml parses back, with files and digests. */
        size_t size = 0;
        _cleanup_free_ char *cat_text = tu_read_in(f->root, "usr/share/kubeseed/addons/catalog.yaml", &size);
        _cleanup_addon_catalog_ struct addon_catalog cat = {0};
        _cleanup_free_ char *err = NULL;
        assert_int_equal(addon_catalog_parse("catalog.yaml", cat_text, size, &cat, &err), 0);
        assert_int_equal(cat.n_defs, 3);
        const struct addon_def *fl = addon_catalog_find(&cat, "flannel");
        assert_non_null(fl);
        assert_true(fl->is_default);
        assert_string_equal(fl->manifests[0].file, "01-kube-flannel.yml");
        assert_null(fl->manifests[0].url);
        char hex[SHA256_HEX_LEN + 1];
        assert_int_equal(sha256_buffer(flannel_manifest, strlen(flannel_manifest), hex), 0);
        assert_string_equal(fl->manifests[0].sha256, hex);
        assert_int_equal(fl->manifests[0].n_subs, 1);
        assert_int_equal(fl->n_checks, 1);
        assert_false(addon_catalog_find(&cat, "ui")->is_default);

        /* Preload coverage: every image every shipped manifest names, and
         * the definitions' images, are in the plan, and from there in the
         * preload list. */
        static const char *const want[] = {"docker.io/flannel/flannel-cni-plugin:v1",
                                           "docker.io/flannel/flannel:v0.26.1", "quay.io/st/prov:1",
                                           "quay.io/st/helper:2"};
        _cleanup_image_list_ struct image_list preload = {0};
        assert_int_equal(preload_wanted_images(&f->p, &plan.images, &preload), 0);
        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                struct imageref ref;
                assert_int_equal(imageref_parse(want[i], &ref, NULL), 0);
                assert_true(image_list_find(&plan.images, &ref) >= 0);
                assert_true(image_list_find(&preload, &ref) >= 0);
        }
        assert_int_equal(plan.images.n_items, ELEMENTSOF(want));
        /* 7 kubeadm images + the add-ons' 4. */
        assert_int_equal(preload.n_items, 7 + ELEMENTSOF(want));
        addons_plan_done(&plan);
}

static void test_stage_bad_substitution(void **state) {
        struct fixture *f = *state;
        write_manifest(f, "m.yaml", "kind: ConfigMap\napiVersion: v1\n");
        write_def(f, "cni.yaml",
                  "name: cni\ncategory: cni\n"
                  "manifests: [{file: files/m.yaml, substitute: [{find: 'Network', with: "
                  "'${pod-subnet}'}]}]\n");
        struct addons_plan plan = {0};
        assert_int_equal(addons_stage(&f->p, f->cas, f->root, NULL, false, NULL, NULL, &plan), -ENOENT);
        assert_false(tu_exists_in(f->root, "usr/share/kubeseed/addons/catalog.yaml"));
}

static void test_stage_needs_kubernetes(void **state) {
        struct fixture *f = *state;
        standard_catalog(f);
        struct profile p = f->p;
        p.kubernetes.version = NULL;
        struct addons_plan plan = {0};
        assert_int_equal(addons_stage(&p, f->cas, f->root, NULL, false, NULL, NULL, &plan), -EINVAL);
        p = f->p;
        p.has_addons = false;
        assert_int_equal(addons_stage(&p, f->cas, f->root, NULL, false, NULL, NULL, &plan), 0);
}

/* One add-on whose manifest comes from a loopback server. */
static void url_catalog(struct fixture *f, int port, const char *sha) {
        _cleanup_free_ char *def = NULL;
        assert_true(asprintf(&def,
                             "name: flannel\ncategory: cni\n"
                             "manifests:\n  - url: http://127.0.0.1:%d/kube-flannel.yml\n%s%s%s",
                             port, sha ? "    sha256: " : "", sha ? sha : "", sha ? "\n" : "") > 0);
        write_def(f, "flannel.yaml", def);
}

static void test_stage_url(void **state) {
        struct fixture *f = *state;
        struct tu_route routes[1] = {{.path = strdup("/kube-flannel.yml"),
                                      .body = strdup(flannel_manifest),
                                      .size = strlen(flannel_manifest)}};
        int port = 0;
        pid_t pid = tu_start_server(routes, 1, &port);
        char hex[SHA256_HEX_LEN + 1], wrong[SHA256_HEX_LEN + 1];
        assert_int_equal(sha256_buffer(flannel_manifest, strlen(flannel_manifest), hex), 0);
        assert_int_equal(sha256_buffer("other", 5, wrong), 0);

        /* Pinned in the definition: downloaded over http, verified, recorded. */
        url_catalog(f, port, hex);
        struct lock_arch record = {0};
        struct addons_plan plan = {0};
        assert_int_equal(addons_stage(&f->p, f->cas, f->root, NULL, false, &record, NULL, &plan), 1);
        assert_true(cas_has(f->cas, hex));
        assert_int_equal(record.n_manifests, 1);
        assert_string_equal(record.manifests[0].sha256, hex);
        addons_plan_done(&plan);

        /* A wrong pin: refused, nothing shipped. */
        _cleanup_free_ char *root2 = tu_path(f->dir, "root2");
        url_catalog(f, port, wrong);
        assert_int_equal(addons_stage(&f->p, f->cas, root2, NULL, false, NULL, NULL, &plan), -EBADMSG);
        assert_false(tu_exists_in(root2, "usr/share/kubeseed/addons/catalog.yaml"));

        /* No pin: the lock's is used; a definition pin that disagrees with
         * the lock is an error; without either, plain http is refused. */
        url_catalog(f, port, NULL);
        assert_int_equal(addons_stage(&f->p, f->cas, NULL, &record, false, NULL, NULL, &plan), 1);
        addons_plan_done(&plan);
        assert_int_equal(addons_stage(&f->p, f->cas, NULL, NULL, false, NULL, NULL, &plan),
                         -EPROTONOSUPPORT);
        url_catalog(f, port, wrong);
        assert_int_equal(addons_stage(&f->p, f->cas, NULL, &record, false, NULL, NULL, &plan), -EBADMSG);
        tu_stop_server(pid, routes, 1);

        /* Offline: from the store only; a missing blob is named. */
        url_catalog(f, port, NULL);
        assert_int_equal(addons_stage(&f->p, f->cas, NULL, &record, true, NULL, NULL, &plan), 1);
        addons_plan_done(&plan);
        _cleanup_free_ char *blob = cas_path(f->cas, hex);
        assert_int_equal(unlink(blob), 0);
        assert_int_equal(addons_stage(&f->p, f->cas, NULL, &record, true, NULL, NULL, &plan), -ENOENT);
        assert_int_equal(addons_stage(&f->p, f->cas, NULL, NULL, true, NULL, NULL, &plan), -ENOENT);
        lock_arch_done(&record);
}

int main(void) {
        log_set_max_level(LOG_WARNING);
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_select, setup, teardown),
                cmocka_unit_test_setup_teardown(test_select_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_catalog_errors, setup, teardown),
                cmocka_unit_test(test_file_names),
                cmocka_unit_test_setup_teardown(test_stage_files, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stage_bad_substitution, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stage_needs_kubernetes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stage_url, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
