/* SPDX-License-Identifier: MIT */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>

#include <cmocka.h>

#include "arch.h"
#include "proc.h"

/* From the UAPI Group's Discoverable Partitions Specification ("Root
 * Partition (x86-64)" and "Root Partition (64-bit ARM/AArch64)"), written
 * here rather than taken from lib/. */
#define DPS_ROOT_X86_64 "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"
#define DPS_ROOT_ARM64 "B921B045-1DF0-41C3-AF44-4C6F280D3FAE"

static void test_amd64(void **state) {
        (void) state;
        const struct arch_info *a = arch_lookup("amd64");
        assert_non_null(a);
        assert_ptr_equal(arch_lookup("x86_64"), a);
        assert_string_equal(a->debian, "amd64");
        assert_string_equal(a->kernel, "x86_64");
        assert_string_equal(a->oci_arch, "amd64");
        assert_null(a->oci_variant);
        assert_string_equal(a->efi_suffix, "X64");
        assert_string_equal(a->efi_stub, "linuxx64.efi.stub");
        assert_string_equal(a->console, "ttyS0");
        assert_string_equal(a->qemu_system, "qemu-system-x86_64");
        assert_int_equal(a->elf_machine, EM_X86_64);
        assert_int_equal(a->elf_machine, 62);
        assert_string_equal(a->objcopy_target, "pei-x86-64");
        assert_string_equal(a->objcopy, "x86_64-linux-gnu-objcopy");
        assert_true(strcasecmp(a->gpt_root_type, DPS_ROOT_X86_64) == 0);
}

static void test_arm64(void **state) {
        (void) state;
        const struct arch_info *a = arch_lookup("arm64");
        assert_non_null(a);
        assert_ptr_equal(arch_lookup("aarch64"), a);
        assert_string_equal(a->debian, "arm64");
        assert_string_equal(a->kernel, "aarch64");
        /* OCI: platform arm64, variant v8 ("arm64/v8"). */
        assert_string_equal(a->oci_arch, "arm64");
        assert_non_null(a->oci_variant);
        assert_string_equal(a->oci_variant, "v8");
        assert_string_equal(a->efi_suffix, "AA64");
        assert_string_equal(a->efi_stub, "linuxaa64.efi.stub");
        assert_string_equal(a->console, "ttyAMA0");
        assert_string_equal(a->qemu_system, "qemu-system-aarch64");
        assert_int_equal(a->elf_machine, EM_AARCH64);
        assert_int_equal(a->elf_machine, 183);
        assert_string_equal(a->objcopy_target, "pei-aarch64-little");
        assert_string_equal(a->objcopy, "aarch64-linux-gnu-objcopy");
        assert_true(strcasecmp(a->gpt_root_type, DPS_ROOT_ARM64) == 0);
}

/* Every name an entry goes by finds that same entry. */
static void test_names_round_trip(void **state) {
        (void) state;
        static const char *const all[] = {"amd64", "arm64"};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
                const struct arch_info *a = arch_lookup(all[i]);
                assert_non_null(a);
                assert_ptr_equal(arch_lookup(a->debian), a);
                assert_ptr_equal(arch_lookup(a->kernel), a);
                assert_ptr_equal(arch_lookup(a->oci_arch), a);
        }
        assert_ptr_not_equal(arch_lookup("amd64"), arch_lookup("arm64"));
}

static void test_unknown(void **state) {
        (void) state;
        assert_null(arch_lookup(NULL));
        assert_null(arch_lookup(""));
        assert_null(arch_lookup("i386"));
        assert_null(arch_lookup("armhf"));
        assert_null(arch_lookup("riscv64"));
        assert_null(arch_lookup("AMD64"));
        assert_null(arch_lookup("amd"));
        assert_null(arch_lookup("amd64 "));
        assert_null(arch_lookup("X64"));
        assert_null(arch_lookup("ttyS0"));
        assert_null(arch_lookup("arm64/v8")); /* the OCI name is split in two fields */
}

/* Each entry's objcopy writes its PE format: `objcopy --info` lists the BFD
 * targets it knows. Checked for every objcopy installed here (make deps
 * installs both on an amd64 host). */
static void test_objcopy_knows_target(void **state) {
        (void) state;
        static const char *const all[] = {"amd64", "arm64"};
        size_t checked = 0;
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
                const struct arch_info *a = arch_lookup(all[i]);
                char *argv[] = {(char *) a->objcopy, "--info", NULL};
                struct proc_result res = {0};
                struct proc_opts opts = {.timeout_sec = 30, .capture_stdout = true, .stdout_fd = -1};
                int r = proc_run(argv, &opts, &res);
                if (r == -ENOENT) {
                        proc_result_done(&res);
                        continue;
                }
                assert_int_equal(r, 0);
                assert_non_null(res.out);
                char want[64];
                snprintf(want, sizeof want, "\n%s\n", a->objcopy_target);
                if (!strstr(res.out, want))
                        fail_msg("%s --info does not list %s", a->objcopy, a->objcopy_target);
                proc_result_done(&res);
                checked++;
        }
        /* This program's own architecture's objcopy is always there. */
        assert_true(checked >= 1);
}

static void test_host(void **state) {
        (void) state;
        struct utsname u;
        assert_int_equal(uname(&u), 0);
        const struct arch_info *a = arch_host();
        if (!arch_lookup(u.machine)) {
                assert_null(a);
                return;
        }
        assert_non_null(a);
        assert_ptr_equal(a, arch_lookup(u.machine));
        assert_string_equal(a->kernel, u.machine);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_amd64),
                cmocka_unit_test(test_arm64),
                cmocka_unit_test(test_names_round_trip),
                cmocka_unit_test(test_unknown),
                cmocka_unit_test(test_objcopy_knows_target),
                cmocka_unit_test(test_host),
        };
        return cmocka_run_group_tests_name("arch", tests, NULL, NULL);
}
