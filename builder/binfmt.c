/* SPDX-License-Identifier: MIT */
#include "binfmt.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "macro.h"
#include "proc.h"
#include "strv.h"

#define BINFMT_ENTRY_MAX 4096
#define BINFMT_MAGIC_MAX 128

/* "7f454c46..." up to the end of the line -> bytes; -1 when malformed. */
static int parse_hex(const char *s, uint8_t out[BINFMT_MAGIC_MAX]) {
        int n = 0;
        while (*s && *s != '\n') {
                int hi = unhexchar(s[0]), lo = hi < 0 ? -1 : unhexchar(s[1]);
                if (lo < 0 || n >= BINFMT_MAGIC_MAX)
                        return -1;
                out[n++] = (uint8_t) (hi << 4 | lo);
                s += 2;
        }
        return n;
}

/* The value of "key <value>" at the start of a line of text, or NULL. */
static const char *entry_field(const char *text, const char *key) {
        size_t k = strlen(key);
        for (const char *line = text; line && *line;
             line = strchr(line, '\n'), line = line ? line + 1 : NULL)
                if (strncmp(line, key, k) == 0 && line[k] == ' ')
                        return line + k + 1;
        return NULL;
}

/* A 64-bit little-endian ELF header of type `type` for `machine`. */
static void elf_header(uint8_t hdr[EI_NIDENT + 4], unsigned type, unsigned machine) {
        memset(hdr, 0, EI_NIDENT + 4);
        memcpy(hdr, ELFMAG, SELFMAG);
        hdr[EI_CLASS] = ELFCLASS64;
        hdr[EI_DATA] = ELFDATA2LSB;
        hdr[EI_VERSION] = EV_CURRENT;
        hdr[EI_NIDENT] = (uint8_t) type;
        hdr[EI_NIDENT + 1] = (uint8_t) (type >> 8);
        hdr[EI_NIDENT + 2] = (uint8_t) machine;
        hdr[EI_NIDENT + 3] = (uint8_t) (machine >> 8);
}

bool binfmt_entry_runs_elf(const char *text, unsigned elf_machine) {
        if (!text || strncmp(text, "enabled\n", 8) != 0)
                return false;
        const char *magic_s = entry_field(text, "magic"), *mask_s = entry_field(text, "mask");
        const char *offset_s = entry_field(text, "offset");
        if (!magic_s || !entry_field(text, "interpreter"))
                return false;
        uint8_t magic[BINFMT_MAGIC_MAX], mask[BINFMT_MAGIC_MAX];
        int n = parse_hex(magic_s, magic);
        int m = mask_s ? parse_hex(mask_s, mask) : n;
        if (!mask_s)
                memset(mask, 0xff, sizeof mask);
        unsigned long offset = 0;
        if (offset_s) {
                char *end;
                errno = 0;
                offset = strtoul(offset_s, &end, 10);
                if (errno != 0 || end == offset_s || (*end && *end != '\n'))
                        return false;
        }
        uint8_t hdr[EI_NIDENT + 4];
        if (n <= 0 || m != n || offset + (unsigned long) n > sizeof hdr)
                return false;
        /* Debian builds position-independent executables (ET_DYN), and
         * static helpers may be ET_EXEC: the entry must take both. */
        static const unsigned types[] = {ET_EXEC, ET_DYN};
        for (size_t t = 0; t < ELEMENTSOF(types); t++) {
                elf_header(hdr, types[t], elf_machine);
                for (int i = 0; i < n; i++)
                        if ((hdr[offset + (size_t) i] & mask[i]) != (magic[i] & mask[i]))
                                return false;
        }
        return true;
}

int binfmt_find(const char *dir, const struct arch_info *a, char **ret_name) {
        _cleanup_(closedirp_) DIR *d = opendir(dir);
        if (!d)
                return negative_errno();
        struct dirent *e;
        while ((e = readdir(d))) {
                if (e->d_name[0] == '.' || streq(e->d_name, "register") || streq(e->d_name, "status"))
                        continue;
                _cleanup_free_ char *path = strdupf("%s/%s", dir, e->d_name), *text = NULL;
                size_t size = 0;
                if (!path)
                        return -ENOMEM;
                if (read_file_full(path, BINFMT_ENTRY_MAX, &text, &size) < 0)
                        continue; /* removed meanwhile, or not an entry */
                if (!binfmt_entry_runs_elf(text, a->elf_machine))
                        continue;
                char *name = strdup(e->d_name);
                if (!name)
                        return -ENOMEM;
                *ret_name = name;
                return 1;
        }
        return 0;
}

static int enable_qemu_user(const struct arch_info *a) {
        _cleanup_free_ char *name = strdupf("qemu-%s", a->kernel);
        _cleanup_free_ char *def = strdupf("/usr/share/binfmts/%s", name ? name : "");
        if (!name || !def)
                return -ENOMEM;
        if (access(def, R_OK) < 0)
                return -ENOENT; /* qemu-user-static is not installed */
        char *argv[] = {"update-binfmts", "--enable", name, NULL};
        struct proc_result res = {0};
        struct proc_opts opts = {.timeout_sec = 60, .stdout_fd = -1};
        int r = proc_ops->run(argv, &opts, &res);
        if (r < 0)
                proc_log_failure(r, "rootfs: enabling qemu-user in binfmt_misc", argv, &res);
        else
                log_info("rootfs: enabled %s in binfmt_misc (update-binfmts --enable %s)", name, name);
        proc_result_done(&res);
        return r;
}

int binfmt_ensure(const struct arch_info *a) {
        const struct arch_info *host = arch_host();
        if (host == a)
                return 0;
        _cleanup_free_ char *status = strdupf("%s/status", BINFMT_MISC_DIR), *name = NULL;
        if (!status)
                return log_oom();
        if (access(status, F_OK) < 0) {
                if (mount("binfmt_misc", BINFMT_MISC_DIR, "binfmt_misc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                          NULL) < 0)
                        log_warning_errno(-errno, "rootfs: cannot mount binfmt_misc on %s: %m",
                                          BINFMT_MISC_DIR);
                else
                        log_info("rootfs: mounted binfmt_misc on %s", BINFMT_MISC_DIR);
        }
        int r = binfmt_find(BINFMT_MISC_DIR, a, &name);
        /* update-binfmts writes to binfmt_misc's register file: root only. */
        if (r == 0 && geteuid() == 0 && access(status, F_OK) == 0 && enable_qemu_user(a) >= 0)
                r = binfmt_find(BINFMT_MISC_DIR, a, &name);
        if (r > 0) {
                log_info("rootfs: %s binaries run through binfmt_misc entry '%s'", a->kernel, name);
                return 0;
        }
        return log_error_errno(
                -ENOEXEC,
                "rootfs: building for %s on this %s host runs the image's %s programs "
                "through qemu-user, but no enabled binfmt_misc entry in %s runs them. As root, "
                "run: apt-get install qemu-user-static binfmt-support (or make deps); "
                "mount -t binfmt_misc binfmt_misc %s; update-binfmts --enable qemu-%s",
                a->debian, host ? host->kernel : "unknown", a->kernel, BINFMT_MISC_DIR, BINFMT_MISC_DIR,
                a->kernel);
}
