/* SPDX-License-Identifier: MIT */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "arch.h"
#include "build.h"
#include "macro.h"
#include "profile.h"

static void test_elf_self(void **state) {
        (void) state;
        uint8_t hdr[64];
        int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(read(fd, hdr, sizeof hdr), (ssize_t) sizeof hdr);
        close(fd);
        unsigned m = 0;
        assert_int_equal(elf_machine(hdr, sizeof hdr, &m), 0);
        const struct arch_info *host = arch_host();
        if (host)
                assert_int_equal(m, host->elf_machine);
#if defined(__x86_64__)
        assert_int_equal(m, EM_X86_64);
#elif defined(__aarch64__)
        assert_int_equal(m, EM_AARCH64);
#endif
        /* Exactly 20 bytes are enough. */
        m = 0;
        assert_int_equal(elf_machine(hdr, 20, &m), 0);
        assert_int_not_equal(m, 0);
}

/* An ELF header built by hand: 32-bit or 64-bit class, either byte order. */
static void make_header(uint8_t hdr[64], unsigned char data, unsigned char cls, uint16_t machine) {
        memset(hdr, 0, 64);
        memcpy(hdr, ELFMAG, SELFMAG);
        hdr[EI_CLASS] = cls;
        hdr[EI_DATA] = data;
        hdr[EI_VERSION] = EV_CURRENT;
        /* e_type (16) = ET_EXEC, e_machine (18) */
        if (data == ELFDATA2MSB) {
                hdr[16] = 0, hdr[17] = ET_EXEC;
                hdr[18] = (uint8_t) (machine >> 8), hdr[19] = (uint8_t) machine;
        } else {
                hdr[16] = ET_EXEC, hdr[17] = 0;
                hdr[18] = (uint8_t) machine, hdr[19] = (uint8_t) (machine >> 8);
        }
}

static void test_elf_byte_orders(void **state) {
        (void) state;
        uint8_t hdr[64];
        unsigned m;

        /* A value whose two bytes differ, so a swapped read is caught. */
        make_header(hdr, ELFDATA2MSB, ELFCLASS64, EM_AARCH64); /* 0x00b7 */
        assert_int_equal(elf_machine(hdr, sizeof hdr, &m), 0);
        assert_int_equal(m, EM_AARCH64);

        make_header(hdr, ELFDATA2MSB, ELFCLASS32, EM_PPC); /* 20 */
        assert_int_equal(elf_machine(hdr, sizeof hdr, &m), 0);
        assert_int_equal(m, EM_PPC);

        make_header(hdr, ELFDATA2MSB, ELFCLASS64, 0x1234);
        assert_int_equal(elf_machine(hdr, sizeof hdr, &m), 0);
        assert_int_equal(m, 0x1234);

        make_header(hdr, ELFDATA2LSB, ELFCLASS64, 0x1234);
        assert_int_equal(elf_machine(hdr, sizeof hdr, &m), 0);
        assert_int_equal(m, 0x1234);

        make_header(hdr, ELFDATA2LSB, ELFCLASS32, EM_386);
        assert_int_equal(elf_machine(hdr, sizeof hdr, &m), 0);
        assert_int_equal(m, EM_386);

        make_header(hdr, ELFDATA2LSB, ELFCLASS64, EM_X86_64);
        assert_int_equal(elf_machine(hdr, sizeof hdr, &m), 0);
        assert_int_equal(m, EM_X86_64);
}

static void test_elf_garbage(void **state) {
        (void) state;
        uint8_t hdr[64];
        unsigned m = 4242;

        memset(hdr, 0, sizeof hdr);
        assert_int_equal(elf_machine(hdr, sizeof hdr, &m), -EINVAL);

        static const char script[] = "#!/bin/sh\necho hello world, not an ELF\n";
        assert_int_equal(elf_machine((const uint8_t *) script, sizeof script, &m), -EINVAL);

        static const char pe[] = "MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0\xb8\0\0\0\0\0\0\0";
        assert_int_equal(elf_machine((const uint8_t *) pe, sizeof pe, &m), -EINVAL);

        /* Right magic but truncated before e_machine. */
        make_header(hdr, ELFDATA2LSB, ELFCLASS64, EM_X86_64);
        assert_int_equal(elf_machine(hdr, 19, &m), -EINVAL);
        assert_int_equal(elf_machine(hdr, 4, &m), -EINVAL);
        assert_int_equal(elf_machine(hdr, 0, &m), -EINVAL);

        /* One byte of the magic wrong. */
        hdr[1] = 'e';
        assert_int_equal(elf_machine(hdr, sizeof hdr, &m), -EINVAL);

        /* ret untouched on failure. */
        assert_int_equal(m, 4242);
}

static void test_output_name(void **state) {
        (void) state;
        struct profile p = {.name = "debian-bookworm"};
        _cleanup_free_ char *a = build_output_name(&p, arch_lookup("amd64"), "raw");
        _cleanup_free_ char *b = build_output_name(&p, arch_lookup("aarch64"), "qcow2");
        assert_string_equal(a, "kubeseed-debian-bookworm-amd64.raw");
        /* The Debian name, whatever name the architecture was looked up by. */
        assert_string_equal(b, "kubeseed-debian-bookworm-arm64.qcow2");
        p.name = "ubuntu-noble";
        _cleanup_free_ char *c = build_output_name(&p, arch_lookup("x86_64"), "raw");
        assert_string_equal(c, "kubeseed-ubuntu-noble-amd64.raw");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_elf_self),
                cmocka_unit_test(test_elf_byte_orders),
                cmocka_unit_test(test_elf_garbage),
                cmocka_unit_test(test_output_name),
        };
        return cmocka_run_group_tests_name("build", tests, NULL, NULL);
}
