/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The image's partition table: a GUID Partition Table (UEFI 2.10 §5.3) with an
 * EFI system partition and a Linux root partition, planned and rendered in
 * memory so the builder never needs a loop device or a mount. Everything is
 * deterministic: the GUIDs come from a caller-given seed, so the same inputs
 * give the same bytes. See docs/disk-layout.md. */

#define GPT_SECTOR_SIZE 512u
#define GPT_ALIGN_BYTES (UINT64_C(1) << 20) /* partitions start and end on 1 MiB */
#define GPT_ENTRIES 128u
#define GPT_ENTRY_SIZE 128u
#define GPT_HEADER_SIZE 92u
#define GPT_ENTRY_SECTORS (GPT_ENTRIES * GPT_ENTRY_SIZE / GPT_SECTOR_SIZE) /* 32 */
#define GPT_HEAD_SECTORS (2u + GPT_ENTRY_SECTORS) /* protective MBR, header, entries: 34 */
#define GPT_TAIL_SECTORS (GPT_ENTRY_SECTORS + 1u) /* entries, backup header: 33 */
#define GPT_HEAD_BYTES ((size_t) GPT_HEAD_SECTORS * GPT_SECTOR_SIZE)
#define GPT_TAIL_BYTES ((size_t) GPT_TAIL_SECTORS * GPT_SECTOR_SIZE)
#define GPT_MAX_PARTITIONS 4u
#define GPT_NAME_MAX 36u /* UTF-16 code units in an entry's name */

#define GPT_TYPE_ESP "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
#define GPT_NAME_ESP "ESP"
#define GPT_NAME_ROOT "root"

/* A GUID in its on-disk byte order: the first three fields little-endian, the
 * last two as written ("mixed-endian"). C12A7328-F81F-11D2-BA4B-00A0C93EC93B
 * is 28 73 2A C1 1F F8 D2 11 BA 4B 00 A0 C9 3E C9 3B. */
struct gpt_guid {
        uint8_t bytes[16];
};

#define GPT_GUID_STRING_MAX 37 /* 8-4-4-4-12 and a NUL */

/* Canonical text form; blkid prints lowercase, sfdisk uppercase. Returns `out`. */
char *gpt_guid_to_string(const struct gpt_guid *g, bool uppercase, char out[GPT_GUID_STRING_MAX]);
/* Parses exactly 8-4-4-4-12 hex digits (either case, no braces). 0 or -EINVAL;
 * `ret` untouched on failure. */
int gpt_guid_from_string(const char *s, struct gpt_guid *ret);
/* A version-4, variant-1 GUID from the first 16 bytes of
 * SHA-256(seed || label); the version and variant bits are set in the text
 * order, so the string reads xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx.
 * 0, -EINVAL (NULL or empty label) or -EIO (OpenSSL). */
int gpt_guid_derive(const uint8_t seed[32], const char *label, struct gpt_guid *ret);
bool gpt_guid_equal(const struct gpt_guid *a, const struct gpt_guid *b);

struct gpt_partition {
        struct gpt_guid type;
        struct gpt_guid uuid;
        uint64_t first_lba; /* inclusive, in 512-byte sectors */
        uint64_t last_lba;  /* inclusive */
        uint64_t attributes;
        char name[GPT_NAME_MAX + 1]; /* ASCII; stored UTF-16LE on disk */
};

struct gpt_layout {
        uint64_t disk_bytes; /* a multiple of GPT_SECTOR_SIZE */
        struct gpt_guid disk_guid;
        size_t n_partitions; /* entry i of the table is partitions[i] (partition number i+1) */
        struct gpt_partition partitions[GPT_MAX_PARTITIONS];
};

/* The image's layout. Sizes are rounded up to 1 MiB; the ESP starts at 1 MiB,
 * root right after it, and the disk ends 1 MiB after root (room for the backup
 * GPT). `arch` is any name lib/arch.h knows ("amd64", "x86_64", "arm64",
 * "aarch64"); it picks the Discoverable Partitions root type. GUIDs derive from
 * `seed` with the labels "disk", "esp" and "root".
 * 0; -EINVAL (zero size, unknown arch, NULL argument), -EOVERFLOW (the disk
 * would not fit in an off_t), -EIO (OpenSSL). `ret` untouched on failure. */
int gpt_plan(uint64_t esp_bytes, uint64_t root_bytes, const char *arch, const uint8_t seed[32],
             struct gpt_layout *ret);

/* Checks a layout renders to a valid table: the disk holds both GPTs, every
 * partition lies inside the usable LBAs, none overlap, names are ASCII and fit.
 * 0 or -EINVAL. */
int gpt_layout_verify(const struct gpt_layout *l);

/* Renders the table. The head (GPT_HEAD_BYTES) is LBA 0..33: protective MBR,
 * primary header, entry array. The tail (GPT_TAIL_BYTES) is the last 33 LBAs:
 * the entry array copy, then the backup header in the last LBA. Both are
 * malloc()ed; on failure nothing is returned. 0, -EINVAL (see
 * gpt_layout_verify), -ENOMEM. */
int gpt_render(const struct gpt_layout *l, uint8_t **ret_head, size_t *ret_head_size, uint8_t **ret_tail,
               size_t *ret_tail_size);

/* Writes the rendered table into a regular file: the head at offset 0, the
 * tail at disk_bytes - GPT_TAIL_BYTES. A shorter file is extended (sparsely)
 * with ftruncate(); a longer one is refused with -EFBIG, since its backup GPT
 * would not be at the end. Nothing is synced: that is the caller's to do once
 * the whole image is written. 0 or a negative errno. */
int gpt_write(int fd, const struct gpt_layout *l);

/* Byte offset and size of partition i (0-based). 0 when i is out of range. */
uint64_t gpt_partition_offset(const struct gpt_layout *l, size_t i);
uint64_t gpt_partition_size(const struct gpt_layout *l, size_t i);
