/* SPDX-License-Identifier: MIT */
#pragma once

/* One table for every name an architecture goes by: Debian's (dpkg), the
 * kernel's (uname -m), OCI's platform, UEFI's removable-media suffix, the
 * serial console, QEMU's system emulator, ELF's e_machine, the objcopy that
 * writes its PE images. */
struct arch_info {
        const char *debian;         /* "amd64", "arm64" */
        const char *kernel;         /* "x86_64", "aarch64" */
        const char *oci_arch;       /* "amd64", "arm64" */
        const char *oci_variant;    /* NULL, "v8" */
        const char *efi_suffix;     /* "X64", "AA64" (BOOTX64.EFI) */
        const char *efi_stub;       /* systemd-boot stub file name in /usr/lib/systemd/boot/efi */
        const char *console;        /* kernel console device */
        const char *qemu_system;    /* qemu-system-x86_64 */
        const char *gpt_root_type;  /* Discoverable Partitions root type GUID */
        unsigned elf_machine;       /* EM_X86_64, EM_AARCH64 */
        const char *objcopy_target; /* BFD name of the PE format for objcopy */
        const char *objcopy;        /* GNU binutils' objcopy that knows objcopy_target, from any host */
};

/* Look up by any of its names (debian, kernel or OCI). NULL when unknown. */
const struct arch_info *arch_lookup(const char *name);
/* The architecture this program runs on. */
const struct arch_info *arch_host(void);
