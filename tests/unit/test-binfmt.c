/* SPDX-License-Identifier: MIT */
#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "arch.h"
#include "binfmt.h"
#include "fsutil.h"
#include "macro.h"
#include "strv.h"

/* What Debian 12's qemu-user-static registers (cat
 * /proc/sys/fs/binfmt_misc/qemu-aarch64), byte for byte. */
static const char qemu_aarch64[] = "enabled\n"
                                   "interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\n"
                                   "flags: PF\n"
                                   "offset 0\n"
                                   "magic 7f454c460201010000000000000000000200b700\n"
                                   "mask ffffffffffffff00fffffffffffffffffeffffff\n";
static const char qemu_x86_64[] = "enabled\n"
                                  "interpreter /usr/libexec/qemu-binfmt/x86_64-binfmt-P\n"
                                  "flags: PF\n"
                                  "offset 0\n"
                                  "magic 7f454c4602010100000000000000000002003e00\n"
                                  "mask fffffffffffefe00fffffffffffffffffeffffff\n";

static void test_entry_aarch64(void **state) {
        (void) state;
        assert_true(binfmt_entry_runs_elf(qemu_aarch64, EM_AARCH64));
        assert_false(binfmt_entry_runs_elf(qemu_aarch64, EM_X86_64));
        assert_true(binfmt_entry_runs_elf(qemu_x86_64, EM_X86_64));
        assert_false(binfmt_entry_runs_elf(qemu_x86_64, EM_AARCH64));
        /* The table's numbers are what the entries test for. */
        assert_true(binfmt_entry_runs_elf(qemu_aarch64, arch_lookup("arm64")->elf_machine));
}

static char *replace(const char *text, const char *from, const char *to) {
        const char *at = strstr(text, from);
        assert_non_null(at);
        return strdupf("%.*s%s%s", (int) (at - text), text, to, at + strlen(from));
}

static void test_entry_disabled_or_odd(void **state) {
        (void) state;
        /* Debian's entry with one change each: none of them runs aarch64
         * programs any more. */
        static const struct {
                const char *from, *to, *why;
        } changes[] = {
                {"enabled", "disabled", "disabled"},
                {"fffffffffeffffff\n", "ffffffffffffffff\n", "ET_EXEC only, not Debian's PIE (ET_DYN)"},
                {"magic 7f454c4602", "magic 7f454c4601", "32-bit ELF class"},
                {"offset 0", "offset 60", "magic past the ELF header"},
                {"offset 0", "offset x", "offset not a number"},
                {"magic 7f45", "magic 7g45", "magic not hex"},
                {"b700\n", "b70\n", "odd number of hex digits"},
                {"feffffff\n", "feff\n", "mask shorter than the magic"},
                {"interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\n", "", "no interpreter"},
                /* Without a mask every magic byte counts: e_type 2 only. */
                {"mask ffffffffffffff00fffffffffffffffffeffffff\n", "", "no mask"},
        };
        for (size_t i = 0; i < ELEMENTSOF(changes); i++) {
                _cleanup_free_ char *text = replace(qemu_aarch64, changes[i].from, changes[i].to);
                if (binfmt_entry_runs_elf(text, EM_AARCH64))
                        fail_msg("taken although %s", changes[i].why);
        }
        /* An extension entry (no magic). */
        assert_false(binfmt_entry_runs_elf("enabled\ninterpreter /usr/bin/wine\nflags: \nextension .exe\n",
                                           EM_AARCH64));
        assert_false(binfmt_entry_runs_elf("", EM_AARCH64));
        assert_false(binfmt_entry_runs_elf(NULL, EM_AARCH64));
        /* A mask-less magic that stops before e_type takes every ELF64 LE. */
        assert_true(binfmt_entry_runs_elf("enabled\ninterpreter /x\nflags: \noffset 0\nmagic 7f454c460201\n",
                                          EM_AARCH64));
}

static void test_find(void **state) {
        (void) state;
        char dir[] = "/tmp/test-binfmt-XXXXXX";
        assert_non_null(mkdtemp(dir));
        const struct arch_info *arm64 = arch_lookup("arm64"), *amd64 = arch_lookup("amd64");
        char *name = NULL;
        assert_int_equal(binfmt_find(dir, arm64, &name), 0);
        _cleanup_free_ char *status = strdupf("%s/status", dir), *reg = strdupf("%s/register", dir);
        _cleanup_free_ char *x86 = strdupf("%s/qemu-x86_64", dir), *aa = strdupf("%s/qemu-aarch64", dir);
        assert_int_equal(write_file_atomic(status, "enabled\n", 8, 0644), 0);
        assert_int_equal(write_file_atomic(reg, "", 0, 0200), 0);
        assert_int_equal(write_file_atomic(x86, qemu_x86_64, strlen(qemu_x86_64), 0644), 0);
        assert_int_equal(binfmt_find(dir, arm64, &name), 0);
        assert_null(name);
        assert_int_equal(write_file_atomic(aa, qemu_aarch64, strlen(qemu_aarch64), 0644), 0);
        assert_int_equal(binfmt_find(dir, arm64, &name), 1);
        assert_string_equal(name, "qemu-aarch64");
        free(name);
        name = NULL;
        assert_int_equal(binfmt_find(dir, amd64, &name), 1);
        assert_string_equal(name, "qemu-x86_64");
        free(name);
        _cleanup_free_ char *missing = strdupf("%s/none", dir);
        assert_int_equal(binfmt_find(missing, arm64, &name), -ENOENT);
        assert_int_equal(rm_rf(dir), 0);
}

/* The host's own architecture needs no emulation whatever binfmt_misc holds. */
static void test_ensure_host(void **state) {
        (void) state;
        const struct arch_info *host = arch_host();
        if (!host)
                skip();
        assert_int_equal(binfmt_ensure(host), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_entry_aarch64),
                cmocka_unit_test(test_entry_disabled_or_odd),
                cmocka_unit_test(test_find),
                cmocka_unit_test(test_ensure_host),
        };
        return cmocka_run_group_tests_name("binfmt", tests, NULL, NULL);
}
