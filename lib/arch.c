/* SPDX-License-Identifier: MIT */
#include "arch.h"

#include <elf.h>
#include <stddef.h>
#include <string.h>

#include "macro.h"

static const struct arch_info arches[] = {
        {
                .debian = "amd64",
                .kernel = "x86_64",
                .oci_arch = "amd64",
                .oci_variant = NULL,
                .efi_suffix = "X64",
                .efi_stub = "linuxx64.efi.stub",
                .console = "ttyS0",
                .qemu_system = "qemu-system-x86_64",
                .gpt_root_type = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",
                .elf_machine = EM_X86_64,
                .objcopy_target = "pei-x86-64",
                /* Debian's and Ubuntu's binutils-x86-64-linux-gnu (plain
                 * "objcopy" on an amd64 host is a link to it). */
                .objcopy = "x86_64-linux-gnu-objcopy",
        },
        {
                .debian = "arm64",
                .kernel = "aarch64",
                .oci_arch = "arm64",
                .oci_variant = "v8",
                .efi_suffix = "AA64",
                .efi_stub = "linuxaa64.efi.stub",
                .console = "ttyAMA0",
                .qemu_system = "qemu-system-aarch64",
                .gpt_root_type = "B921B045-1DF0-41C3-AF44-4C6F280D3FAE",
                .elf_machine = EM_AARCH64,
                .objcopy_target = "pei-aarch64-little",
                /* binutils-aarch64-linux-gnu: an amd64 host's own objcopy
                 * knows no pei-aarch64-little. */
                .objcopy = "aarch64-linux-gnu-objcopy",
        },
};

const struct arch_info *arch_lookup(const char *name) {
        if (!name)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(arches); i++)
                if (streq(name, arches[i].debian) || streq(name, arches[i].kernel) ||
                    streq(name, arches[i].oci_arch))
                        return &arches[i];
        return NULL;
}

const struct arch_info *arch_host(void) {
#if defined(__x86_64__)
        return &arches[0];
#elif defined(__aarch64__)
        return &arches[1];
#else
        return NULL;
#endif
}
