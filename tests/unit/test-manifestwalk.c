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

#include "fsutil.h"
#include "macro.h"
#include "manifestwalk.h"

#define FIXTURES "tests/data/manifests/"

static char *read_fixture(const char *name, size_t *ret_size) {
        _cleanup_free_ char *path = NULL;
        char *data = NULL;
        size_t size = 0;
        assert_true(asprintf(&path, FIXTURES "%s", name) > 0);
        int r = read_file_full(path, 1 << 20, &data, &size);
        if (r < 0)
                print_error("%s: %d\n", path, r);
        assert_int_equal(r, 0);
        if (ret_size)
                *ret_size = size;
        return data;
}

static int collect_fixture(const char *name, struct image_list *list, char **ret_error) {
        size_t size;
        _cleanup_free_ char *data = read_fixture(name, &size);
        _cleanup_free_ char *path = NULL;
        assert_true(asprintf(&path, FIXTURES "%s", name) > 0);
        return manifest_collect_images(path, data, size, list, ret_error);
}

/* The list as text, one canonical reference per line. */
static char *list_text(const struct image_list *list) {
        char *s = strdup("");
        assert_non_null(s);
        for (size_t i = 0; i < list->n_items; i++) {
                _cleanup_free_ char *ref = imageref_format(&list->items[i].ref);
                char *n = NULL;
                assert_non_null(ref);
                assert_true(asprintf(&n, "%s%s\n", s, ref) > 0);
                free(s);
                s = n;
        }
        return s;
}

static void expect_golden(const char *yaml, const char *golden, int expected_added) {
        _cleanup_image_list_ struct image_list list = {};
        _cleanup_free_ char *error = NULL;
        int r = collect_fixture(yaml, &list, &error);
        if (r < 0)
                print_error("%s\n", error);
        assert_int_equal(r, expected_added);
        assert_null(error);
        _cleanup_free_ char *got = list_text(&list), *want = read_fixture(golden, NULL);
        if (!streq(got, want))
                print_error("%s:\ngot:\n%swant:\n%s", yaml, got, want);
        assert_string_equal(got, want);
        assert_int_equal(list.n_items, (size_t) expected_added);
}

static void test_workloads(void **state) {
        (void) state;
        expect_golden("workloads.yaml", "workloads.images", 9);
}

static void test_list(void **state) {
        (void) state;
        expect_golden("list.yaml", "list.images", 4);
}

static void test_custom(void **state) {
        (void) state;
        expect_golden("custom.yaml", "custom.images", 3);
}

static void test_origins(void **state) {
        (void) state;
        _cleanup_image_list_ struct image_list list = {};
        assert_int_equal(collect_fixture("workloads.yaml", &list, NULL), 9);
        /* the first place each image was seen: nginx is named again by the
         * DaemonSet's initContainer as index.docker.io/library/nginx:latest */
        assert_string_equal(list.items[0].origin, FIXTURES "workloads.yaml:22:18");
        assert_string_equal(list.items[1].origin, FIXTURES "workloads.yaml:25:18");
        assert_string_equal(list.items[2].origin, FIXTURES "workloads.yaml:42:18");
        assert_string_equal(list.items[5].origin, FIXTURES "workloads.yaml:87:44");

        struct imageref ref;
        assert_int_equal(imageref_parse("nginx:latest", &ref, NULL), 0);
        assert_int_equal(image_list_find(&list, &ref), 0);
        assert_int_equal(imageref_parse("evil.example/should-not-be-collected:1.0", &ref, NULL), 0);
        assert_int_equal(image_list_find(&list, &ref), -ENOENT);

        _cleanup_image_list_ struct image_list l2 = {};
        assert_int_equal(collect_fixture("list.yaml", &l2, NULL), 4);
        assert_string_equal(l2.items[1].origin, FIXTURES "list.yaml:15:18");
}

static void test_bad_image(void **state) {
        (void) state;
        _cleanup_image_list_ struct image_list list = {};
        _cleanup_free_ char *error = NULL;
        assert_int_equal(image_list_add(&list, "quay.io/keep/me:1", "before", NULL), 1);
        assert_int_equal(collect_fixture("bad-image.yaml", &list, &error), -EINVAL);
        assert_string_equal(error, FIXTURES
                            "bad-image.yaml:12:18: Deployment 'broken': "
                            "spec.template.spec.containers[1].image: invalid image reference 'Nginx:1.27': "
                            "repository name must be lowercase");
        /* nothing from the failed file was added (nginx:1.27 came before the error) */
        assert_int_equal(list.n_items, 1);
        assert_string_equal(list.items[0].origin, "before");
        assert_int_equal(collect_fixture("bad-image.yaml", &list, NULL), -EINVAL);
}

static void expect_error(const char *yaml, int expected_r, const char *expected) {
        _cleanup_image_list_ struct image_list list = {};
        _cleanup_free_ char *error = NULL;
        int r = manifest_collect_images("m.yaml", yaml, strlen(yaml), &list, &error);
        if (r != expected_r || !error || !streq(error, expected))
                print_error("got %d '%s'\nwant %d '%s'\n", r, error ? error : "(none)", expected_r,
                            expected);
        assert_int_equal(r, expected_r);
        assert_string_equal(error, expected);
        assert_int_equal(list.n_items, 0);
        assert_int_equal(manifest_collect_images("m.yaml", yaml, strlen(yaml), &list, NULL), expected_r);
}

static void test_errors(void **state) {
        (void) state;
        expect_error("- a\n- b\n", -EBADMSG, "m.yaml:1:1: expected a Kubernetes object (a mapping)");
        expect_error("--- just text\n", -EBADMSG, "m.yaml:1:5: expected a Kubernetes object (a mapping)");
        expect_error("kind: [Pod]\n", -EBADMSG, "m.yaml:1:1: kind and apiVersion must be strings");
        expect_error("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replicas: 1\n",
                     -EBADMSG,
                     "m.yaml:5:3: Deployment 'd': spec.template.spec: expected a pod spec (a mapping)");
        expect_error("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n"
                     "    spec: {}\n",
                     -EBADMSG,
                     "m.yaml:6:11: Deployment 'd': spec.template.spec.containers: expected a list of "
                     "containers");
        expect_error("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - name: a\n", -EBADMSG,
                     "m.yaml:5:7: Pod: spec.containers[0]: container has no image");
        expect_error("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - name: a\n      image: ~\n",
                     -EBADMSG, "m.yaml:5:7: Pod: spec.containers[0]: container has no image");
        expect_error("apiVersion: v1\nkind: Pod\nspec:\n  containers: {a: b}\n", -EBADMSG,
                     "m.yaml:4:15: Pod: spec.containers: expected a list of containers");
        expect_error("apiVersion: v1\nkind: Pod\nspec:\n  containers: [x]\n", -EBADMSG,
                     "m.yaml:4:16: Pod: spec.containers[0]: expected a container (a mapping)");
        expect_error("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - name: a\n      image: {x: 1}\n",
                     -EBADMSG, "m.yaml:6:14: Pod: spec.containers[0].image: expected an image reference");
        expect_error("apiVersion: v1\nkind: Pod\nspec:\n  containers: [{name: a, image: ok}]\n"
                     "  initContainers: [{name: b, image: \"two words\"}]\n",
                     -EINVAL,
                     "m.yaml:5:37: Pod: spec.initContainers[0].image: invalid image reference "
                     "'two words': invalid reference format");
        expect_error("apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c}\nspec:\n  jobTemplate:\n"
                     "    spec: {}\n",
                     -EBADMSG,
                     "m.yaml:6:11: CronJob 'c': spec.jobTemplate.spec.template.spec: expected a pod "
                     "spec (a mapping)");
        expect_error("apiVersion: v1\nkind: List\nitems: {a: 1}\n", -EBADMSG,
                     "m.yaml:3:8: List: items: expected a list");
        /* an invalid image inside a custom resource's pod spec */
        expect_error("apiVersion: example.com/v1\nkind: Thing\nmetadata: {name: t}\nspec:\n  pod:\n"
                     "    containers: [{name: a, image: \"UPPER/case\"}]\n",
                     -EINVAL,
                     "m.yaml:6:35: Thing 't': (pod spec).containers[0].image: invalid image reference "
                     "'UPPER/case': repository name must be lowercase");
        /* YAML errors are prefixed with the file name */
        expect_error("a: [\n", -EBADMSG,
                     "m.yaml:2:1: did not find expected node content (while parsing a flow node at 2:1)");
        /* control characters in names are not echoed */
        expect_error("apiVersion: v1\nkind: Pod\nmetadata: {name: \"a\\nb\\x1b\"}\nspec: 1\n", -EBADMSG,
                     "m.yaml:4:7: Pod 'a?b?': spec: expected a pod spec (a mapping)");
}

static void test_nulls_and_empty(void **state) {
        (void) state;
        _cleanup_image_list_ struct image_list list = {};
        const char *yaml = "---\n---\n~\n---\nnull\n...\n";
        assert_int_equal(manifest_collect_images("m.yaml", yaml, strlen(yaml), &list, NULL), 0);
        assert_int_equal(list.n_items, 0);
        assert_int_equal(manifest_collect_images("m.yaml", "", 0, &list, NULL), 0);
        /* an object without kind is searched generically */
        const char *nokind = "spec:\n  containers: [{name: a, image: alpine}]\n";
        assert_int_equal(manifest_collect_images("m.yaml", nokind, strlen(nokind), &list, NULL), 1);
        /* a kind named like a built-in one in another API group is searched:
         * with a version, and without one */
        const char *knative =
                "apiVersion: serving.knative.dev/v1\nkind: Service\nspec:\n  template:\n    spec:\n"
                "      containers: [{name: a, image: example.com/kn:1}]\n"
                "---\napiVersion: serving.knative.dev\nkind: Service\nspec:\n  template:\n"
                "    spec:\n      containers: [{name: a, image: example.com/kn:2}]\n"
                "---\napiVersion: v1\nkind: Service\nspec:\n  template:\n    spec:\n"
                "      containers: [{name: a, image: example.com/core-service-is-no-pod:1}]\n";
        assert_int_equal(manifest_collect_images("m.yaml", knative, strlen(knative), &list, NULL), 2);
        assert_int_equal(list.n_items, 3);
        /* empty optional lists */
        const char *pod =
                "apiVersion: v1\nkind: Pod\nspec:\n  initContainers:\n  containers: [{name: a, image: "
                "alpine}]\n  ephemeralContainers: []\n";
        assert_int_equal(manifest_collect_images("m.yaml", pod, strlen(pod), &list, NULL), 0);
        assert_int_equal(list.n_items, 3);
}

static void test_merge_and_extra(void **state) {
        (void) state;
        _cleanup_image_list_ struct image_list list = {};
        struct imageref pause;
        assert_int_equal(imageref_parse("registry.k8s.io/pause:3.10", &pause, NULL), 0);
        assert_int_equal(image_list_add_ref(&list, &pause, "kubeadm v1.31.1"), 1);
        assert_int_equal(image_list_add_ref(&list, &pause, "again"), 0);

        assert_int_equal(collect_fixture("workloads.yaml", &list, NULL), 9);
        /* list.yaml shares nothing with workloads.yaml */
        assert_int_equal(collect_fixture("list.yaml", &list, NULL), 4);
        /* a second time adds nothing */
        assert_int_equal(collect_fixture("list.yaml", &list, NULL), 0);
        assert_int_equal(list.n_items, 14);

        char *extra[] = {"quay.io/ceph/ceph:v18.2.4", "nginx", "registry.k8s.io/pause:3.10",
                         "docker.io/rook/ceph:v1.15.3", NULL};
        assert_int_equal(image_list_add_extra(&list, extra, "images/x.yaml", NULL), 2);
        assert_int_equal(list.n_items, 16);
        assert_string_equal(list.items[0].origin, "kubeadm v1.31.1");
        assert_string_equal(list.items[14].origin, "images/x.yaml: images.extra[0]");
        assert_string_equal(list.items[15].origin, "images/x.yaml: images.extra[3]");
        _cleanup_free_ char *s = imageref_format(&list.items[15].ref);
        assert_string_equal(s, "docker.io/rook/ceph:v1.15.3");

        /* an invalid extra: nothing added */
        char *bad[] = {"docker.io/new/one:1", "Bad/Ref", NULL};
        _cleanup_free_ char *error = NULL;
        assert_int_equal(image_list_add_extra(&list, bad, "images/x.yaml", &error), -EINVAL);
        assert_string_equal(error, "images/x.yaml: images.extra[1]: invalid image reference 'Bad/Ref': "
                                   "repository name must be lowercase");
        assert_int_equal(list.n_items, 16);
        assert_int_equal(image_list_add_extra(&list, NULL, "images/x.yaml", NULL), 0);

        _cleanup_free_ char *error2 = NULL;
        assert_int_equal(image_list_add(&list, "a b", "cli", &error2), -EINVAL);
        assert_string_equal(error2, "cli: invalid image reference 'a b': invalid reference format");

        image_list_done(&list);
        assert_int_equal(list.n_items, 0);
        assert_null(list.items);
        image_list_done(&list); /* twice is fine */
}

static void test_generic_shapes(void **state) {
        (void) state;
        /* a pod spec deep inside a custom resource, next to look-alikes */
        const char *yaml = "apiVersion: example.com/v1\n"
                           "kind: Thing\n"
                           "spec:\n"
                           "  notes: \"image: example.com/in-a-string:1\"\n"
                           "  partial:\n"
                           "    containers:\n"
                           "      - name: a\n"
                           "        image: example.com/a:1\n"
                           "      - name: b\n" /* no image: the mapping is not a pod spec */
                           "  stages:\n"
                           "    - jobs:\n"
                           "        - podSpec:\n"
                           "            initContainers: [{name: i, image: example.com/init:1}]\n"
                           "            containers: [{name: m, image: example.com/main:1}]\n";
        _cleanup_image_list_ struct image_list list = {};
        assert_int_equal(manifest_collect_images("t.yaml", yaml, strlen(yaml), &list, NULL), 2);
        _cleanup_free_ char *got = list_text(&list);
        assert_string_equal(got, "example.com/init:1\nexample.com/main:1\n");
        assert_string_equal(list.items[0].origin, "t.yaml:13:47");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_workloads),       cmocka_unit_test(test_list),
                cmocka_unit_test(test_custom),          cmocka_unit_test(test_origins),
                cmocka_unit_test(test_bad_image),       cmocka_unit_test(test_errors),
                cmocka_unit_test(test_nulls_and_empty), cmocka_unit_test(test_merge_and_extra),
                cmocka_unit_test(test_generic_shapes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
