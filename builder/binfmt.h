/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

#include "arch.h"

/* A foreign-architecture rootfs: mmdebstrap runs the target's maintainer
 * scripts through qemu-user, which the kernel starts through binfmt_misc.
 * See docs/building.md. */

#define BINFMT_MISC_DIR "/proc/sys/fs/binfmt_misc"

/* Does the binfmt_misc entry `text` (the contents of
 * /proc/sys/fs/binfmt_misc/<name>) hand ELF executables for `elf_machine`
 * (64-bit, little-endian, ET_EXEC or ET_DYN) to an interpreter, and is it
 * enabled? Pure. */
bool binfmt_entry_runs_elf(const char *text, unsigned elf_machine);

/* The entry in `dir` (a mounted binfmt_misc) that runs `a`'s binaries:
 * 1 with its name in *ret_name, 0 when there is none. */
int binfmt_find(const char *dir, const struct arch_info *a, char **ret_name);

/* Before mmdebstrap builds a rootfs for `a`: nothing to do when `a` is the
 * host's architecture; otherwise binfmt_misc is mounted when it is not
 * (where this process may), the qemu-user entry enabled with update-binfmts
 * when it is installed but not registered, and when still nothing runs the
 * target's binaries a message says exactly what to run (-ENOEXEC). */
int binfmt_ensure(const struct arch_info *a);
