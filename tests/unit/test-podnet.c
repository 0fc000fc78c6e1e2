/* SPDX-License-Identifier: MIT */
/* The node-local pod network (firstboot/podnet.c): kubectl's pod CIDR output
 * parsed, the CNI configuration list rendered (golden files, each also
 * checked by containerd in the QEMU scenario k8s-cluster), the query's argv. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "macro.h"
#include "podnet.h"
#include "strv.h"

#include "testutil.h"

#define GOLDEN "tests/data/podnet/"

static void test_parse(void **state) {
        (void) state;
        static const struct {
                const char *text;
                const char *want; /* joined with ','; NULL: an error */
                int r;
                const char *error;
        } cases[] = {
                {"10.244.1.0/24", "10.244.1.0/24", 0, NULL},
                {"10.244.1.0/24\n", "10.244.1.0/24", 0, NULL},
                {"  10.244.1.0/24 fd00:10:0:1::/64 ", "10.244.1.0/24,fd00:10:0:1::/64", 0, NULL},
                {"fd00:10:0:1::/64\t10.244.1.0/24", "fd00:10:0:1::/64,10.244.1.0/24", 0, NULL},
                {"", NULL, -ENODATA, NULL},
                {" \n", NULL, -ENODATA, NULL},
                {NULL, NULL, -ENODATA, NULL},
                {"10.244.1.1/24", NULL, -EINVAL, "'10.244.1.1/24' is not a CIDR"},
                {"<none>", NULL, -EINVAL, "'<none>' is not a CIDR"},
                {"10.244.1.0/24 10.244.2.0/24", NULL, -EINVAL, "two pod CIDRs of the same family"},
                {"10.244.1.0/24 fd00::/64 10.1.0.0/16", NULL, -EINVAL, "more than two pod CIDRs"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char **v = NULL;
                _cleanup_free_ char *err = NULL;
                int r = podnet_parse_cidrs(cases[i].text, &v, &err);
                if (r != cases[i].r)
                        fail_msg("'%s': %d, expected %d", cases[i].text, r, cases[i].r);
                if (cases[i].want) {
                        _cleanup_free_ char *got = strv_join(v, ",");
                        assert_string_equal(got, cases[i].want);
                } else
                        assert_null(v);
                if (cases[i].error)
                        assert_string_equal(err, cases[i].error);
                strv_free(v);
        }
        char long_text[400];
        memset(long_text, ' ', sizeof long_text - 1);
        long_text[sizeof long_text - 1] = '\0';
        char **v = NULL;
        _cleanup_free_ char *err = NULL;
        assert_int_equal(podnet_parse_cidrs(long_text, &v, &err), -EINVAL);
        assert_string_equal(err, "more than 256 bytes of pod CIDRs");
}

static void check_golden(char *const *cidrs, const char *file) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        assert_int_equal(podnet_render_bridge(cidrs, &text, &size), 0);
        assert_int_equal(strlen(text), size);
        _cleanup_free_ char *want = tu_read(file, NULL);
        if (!streq(text, want))
                fail_msg("%s differs; got:\n%s", file, text);
}

static void test_render(void **state) {
        (void) state;
        check_golden((char *[]){"10.244.1.0/24", NULL}, GOLDEN "ipv4.conflist");
        check_golden((char *[]){"10.244.1.0/24", "fd00:10:0:1::/64", NULL}, GOLDEN "dual-stack.conflist");
        _cleanup_free_ char *text = NULL;
        assert_int_equal(podnet_render_bridge((char *[]){NULL}, &text, NULL), -EINVAL);
        assert_int_equal(podnet_render_bridge(NULL, &text, NULL), -EINVAL);
        assert_null(text);
}

static void test_argv(void **state) {
        (void) state;
        _cleanup_strv_free_ char **argv = NULL;
        assert_int_equal(podnet_cidrs_argv("/etc/kubernetes/kubelet.conf", "w1", &argv), 0);
        _cleanup_free_ char *line = strv_join(argv, " ");
        assert_string_equal(line, "kubectl --kubeconfig /etc/kubernetes/kubelet.conf get node w1 "
                                  "--output=jsonpath={.spec.podCIDRs[*]}");
        char **bad = NULL;
        assert_int_equal(podnet_cidrs_argv("/k", "--all", &bad), -EINVAL); /* never an option */
        assert_int_equal(podnet_cidrs_argv("/k", "", &bad), -EINVAL);
        assert_int_equal(podnet_cidrs_argv(NULL, "w1", &bad), -EINVAL);
        assert_null(bad);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_render),
                cmocka_unit_test(test_argv),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
