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

#include "dpkg.h"

/* Shaped like a real /var/lib/dpkg/status: fields in dpkg's order,
 * multi-line Description and Conffiles, a package removed but not purged,
 * a half-configured one, and not in name order. */
static const char status_file[] =
        "Package: zlib1g\n"
        "Status: install ok installed\n"
        "Priority: optional\n"
        "Section: libs\n"
        "Installed-Size: 168\n"
        "Maintainer: Mark Brown <broonie@debian.org>\n"
        "Architecture: amd64\n"
        "Multi-Arch: same\n"
        "Source: zlib\n"
        "Version: 1:1.2.13.dfsg-1\n"
        "Provides: libz1\n"
        "Depends: libc6 (>= 2.14)\n"
        "Breaks: libxml2 (<< 2.7.6.dfsg-2), texlive-binaries (<< 2009-12)\n"
        "Description: compression library - runtime\n"
        " zlib is a library implementing the deflate compression method found\n"
        " in gzip and PKZIP.  This package includes the shared library.\n"
        "Homepage: http://zlib.net/\n"
        "\n"
        "Package: adduser\n"
        "Status: install ok installed\n"
        "Priority: important\n"
        "Section: admin\n"
        "Installed-Size: 849\n"
        "Maintainer: Debian Adduser Developers <adduser@packages.debian.org>\n"
        "Architecture: all\n"
        "Multi-Arch: foreign\n"
        "Version: 3.134\n"
        "Depends: passwd\n"
        "Conffiles:\n"
        " /etc/deluser.conf 773fb95e98a27947de4a95abb3d3f2a2\n"
        "Description: add and remove users and groups\n"
        " This package includes the 'adduser' and 'deluser' commands for creating\n"
        " and removing users.\n"
        " .\n"
        " Package: fake-in-description\n"
        " Version: 0\n"
        "\n"
        "Package: vim-tiny\n"
        "Status: deinstall ok config-files\n"
        "Priority: important\n"
        "Section: editors\n"
        "Installed-Size: 1746\n"
        "Maintainer: Debian Vim Maintainers <team+vim@tracker.debian.org>\n"
        "Architecture: amd64\n"
        "Source: vim\n"
        "Version: 2:9.0.1378-2\n"
        "Conffiles:\n"
        " /etc/vim/vimrc.tiny 8b2f9a0fd6d8b1e5bd0d3b7d0ae3d1bb\n"
        "Description: Vi IMproved - enhanced vi editor - compact version\n"
        "\n"
        "Package: libc6\n"
        "Status: install ok installed\n"
        "Priority: optional\n"
        "Section: libs\n"
        "Installed-Size: 12987\n"
        "Architecture: amd64\n"
        "Multi-Arch: same\n"
        "Source: glibc\n"
        "Version: 2.36-9+deb12u4\n"
        "Description: GNU C Library: Shared libraries\n"
        " Contains the standard libraries that are used by nearly all programs on\n"
        " the system.\n"
        "\n"
        "Package: broken-thing\n"
        "Status: install ok half-configured\n"
        "Architecture: amd64\n"
        "Version: 1.0\n"
        "Description: not finished\n"
        "\n"
        "Package: libc6\n"
        "Status: install ok installed\n"
        "Architecture: i386\n"
        "Multi-Arch: same\n"
        "Source: glibc\n"
        "Version: 2.36-9+deb12u4\n"
        "Description: GNU C Library: Shared libraries\n"
        "\n"
        "Package: base-files\n"
        "Essential: yes\n"
        "Status: install ok installed\n"
        "Priority: required\n"
        "Architecture: amd64\n"
        "Version: 12.4+deb12u5\n"
        "Description: Debian base system miscellaneous files\n"
        " This package contains the basic filesystem hierarchy of a Debian system.\n";
/* (no blank line after the last stanza) */

struct expect {
        const char *name, *version, *arch;
};

static void check(const char *text, size_t size, const struct expect *want, size_t n_want) {
        struct dpkg_package *p = NULL;
        size_t n = 0;
        assert_int_equal(dpkg_status_parse(text, size, &p, &n), 0);
        if (n != n_want) {
                for (size_t i = 0; i < n; i++)
                        print_message("got %s %s %s\n", p[i].name, p[i].version, p[i].arch);
                fail_msg("%zu packages, expected %zu", n, n_want);
        }
        for (size_t i = 0; i < n; i++) {
                assert_string_equal(p[i].name, want[i].name);
                assert_string_equal(p[i].version, want[i].version);
                assert_string_equal(p[i].arch, want[i].arch);
        }
        dpkg_packages_free(p, n);
}

static const struct expect status_expect[] = {
        {"adduser", "3.134", "all"},
        {"base-files", "12.4+deb12u5", "amd64"},
        {"libc6", "2.36-9+deb12u4", "amd64"},
        {"libc6", "2.36-9+deb12u4", "i386"},
        {"zlib1g", "1:1.2.13.dfsg-1", "amd64"},
};

static void test_realistic(void **state) {
        (void) state;
        check(status_file, strlen(status_file), status_expect, 5);
}

static void test_final_blank_line_optional(void **state) {
        (void) state;
        /* Without a final newline at all. */
        size_t len = strlen(status_file);
        check(status_file, len - 1, status_expect, 5);
        /* With the usual blank line after the last stanza, and extra ones. */
        char *s = NULL;
        assert_true(asprintf(&s, "%s\n\n\n", status_file) > 0);
        check(s, strlen(s), status_expect, 5);
        free(s);
}

static void test_not_nul_terminated(void **state) {
        (void) state;
        /* The size bounds the parse: the buffer need not end in NUL. */
        static const char text[] = "Package: a\nStatus: install ok installed\nVersion: 1\n\n"
                                   "Package: b\nStatus: install ok installed\nVersion: 2\n";
        size_t first = strstr(text, "\n\n") - text + 2;
        char *copy = malloc(first);
        assert_non_null(copy);
        memcpy(copy, text, first);
        static const struct expect one[] = {{"a", "1", ""}};
        check(copy, first, one, 1);
        free(copy);
}

static void test_empty(void **state) {
        (void) state;
        struct dpkg_package *p = (struct dpkg_package *) 1;
        size_t n = 99;
        assert_int_equal(dpkg_status_parse("", 0, &p, &n), 0);
        assert_int_equal(n, 0);
        dpkg_packages_free(p, n);
        assert_int_equal(dpkg_status_parse("\n\n", 2, &p, &n), 0);
        assert_int_equal(n, 0);
        dpkg_packages_free(p, n);
}

static void test_only_removed(void **state) {
        (void) state;
        static const char text[] = "Package: old\nStatus: deinstall ok config-files\nVersion: 1\n"
                                   "Architecture: amd64\n\n"
                                   "Package: gone\nStatus: purge ok not-installed\nArchitecture: amd64\n";
        check(text, strlen(text), NULL, 0);
}

static void expect_invalid(const char *text) {
        struct dpkg_package *p = (struct dpkg_package *) 1;
        size_t n = 99;
        int r = dpkg_status_parse(text, strlen(text), &p, &n);
        if (r != -EINVAL)
                fail_msg("expected -EINVAL for:\n%s\ngot %d", text, r);
        /* Left untouched on failure. */
        assert_ptr_equal(p, (struct dpkg_package *) 1);
        assert_int_equal(n, 99);
}

static void test_malformed(void **state) {
        (void) state;
        /* A line that is neither "Field: value" nor a continuation. */
        expect_invalid("Package: a\nStatus: install ok installed\nVersion: 1\nthis is not a field\n\n");
        expect_invalid("garbage\n");
        /* An error after good stanzas frees what was collected (ASan checks). */
        expect_invalid("Package: a\nStatus: install ok installed\nVersion: 1\n\n"
                       "Package: b\nStatus: install ok installed\nVersion: 2\n\n"
                       "no colon here\n");
        /* A package without a Status. */
        expect_invalid("Package: a\nVersion: 1\nArchitecture: amd64\n\n");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_realistic),          cmocka_unit_test(test_final_blank_line_optional),
                cmocka_unit_test(test_not_nul_terminated), cmocka_unit_test(test_empty),
                cmocka_unit_test(test_only_removed),       cmocka_unit_test(test_malformed),
        };
        return cmocka_run_group_tests_name("dpkg", tests, NULL, NULL);
}
