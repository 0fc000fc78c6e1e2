/* SPDX-License-Identifier: MIT */
#include "gpt.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "arch.h"
#include "macro.h"
#include "strv.h"

/* On-disk offsets, UEFI 2.10 §5.3.2 (header) and §5.3.3 (entry). */
enum {
        HDR_SIGNATURE = 0,
        HDR_REVISION = 8,
        HDR_HEADER_SIZE = 12,
        HDR_HEADER_CRC = 16,
        HDR_MY_LBA = 24,
        HDR_ALTERNATE_LBA = 32,
        HDR_FIRST_USABLE = 40,
        HDR_LAST_USABLE = 48,
        HDR_DISK_GUID = 56,
        HDR_ENTRIES_LBA = 72,
        HDR_N_ENTRIES = 80,
        HDR_ENTRY_SIZE = 84,
        HDR_ENTRIES_CRC = 88,

        ENT_TYPE = 0,
        ENT_UUID = 16,
        ENT_FIRST_LBA = 32,
        ENT_LAST_LBA = 40,
        ENT_ATTRIBUTES = 48,
        ENT_NAME = 56,

        MBR_PART0 = 446,
        MBR_SIGNATURE = 510,
};

#define GPT_REVISION_1_0 UINT32_C(0x00010000)
#define MBR_TYPE_GPT_PROTECTIVE 0xEE

static void put_le16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v) {
        for (unsigned i = 0; i < 4; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v) {
        for (unsigned i = 0; i < 8; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

/* Text order (the bytes as the string spells them) <-> disk order. The swap
 * is its own inverse. */
static void guid_swap_order(const uint8_t in[16], uint8_t out[16]) {
        static const uint8_t map[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
        for (unsigned i = 0; i < 16; i++)
                out[i] = in[map[i]];
}

char *gpt_guid_to_string(const struct gpt_guid *g, bool uppercase, char out[GPT_GUID_STRING_MAX]) {
        const char *hex = uppercase ? "0123456789ABCDEF" : "0123456789abcdef";
        uint8_t t[16];
        char *p = out;

        guid_swap_order(g->bytes, t);
        for (unsigned i = 0; i < 16; i++) {
                if (i == 4 || i == 6 || i == 8 || i == 10)
                        *p++ = '-';
                *p++ = hex[t[i] >> 4];
                *p++ = hex[t[i] & 15];
        }
        *p = '\0';
        return out;
}

int gpt_guid_from_string(const char *s, struct gpt_guid *ret) {
        uint8_t t[16];
        size_t k = 0;

        if (!s || !ret)
                return -EINVAL;
        for (size_t i = 0; i < GPT_GUID_STRING_MAX - 1; i++) {
                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (s[i] != '-')
                                return -EINVAL;
                        continue;
                }
                int hi = unhexchar(s[i]);
                if (hi < 0)
                        return -EINVAL;
                int lo = unhexchar(s[++i]); /* s[i] was a hex digit, so s[i+1] is in bounds */
                if (lo < 0)
                        return -EINVAL;
                t[k++] = (uint8_t) (hi << 4 | lo);
        }
        if (s[GPT_GUID_STRING_MAX - 1] != '\0')
                return -EINVAL;

        guid_swap_order(t, ret->bytes);
        return 0;
}

bool gpt_guid_equal(const struct gpt_guid *a, const struct gpt_guid *b) {
        return memcmp(a->bytes, b->bytes, sizeof a->bytes) == 0;
}

static bool guid_is_null(const struct gpt_guid *g) {
        static const struct gpt_guid null;
        return gpt_guid_equal(g, &null);
}

static void evp_md_ctx_freep(EVP_MD_CTX **c) {
        EVP_MD_CTX_free(*c); /* accepts NULL */
}

int gpt_guid_derive(const uint8_t seed[32], const char *label, struct gpt_guid *ret) {
        _cleanup_(evp_md_ctx_freep) EVP_MD_CTX *ctx = NULL;
        uint8_t md[EVP_MAX_MD_SIZE], t[16];
        unsigned md_len = 0;

        if (!seed || !label || !*label || !ret)
                return -EINVAL;

        ctx = EVP_MD_CTX_new();
        if (!ctx)
                return -ENOMEM;
        if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 || EVP_DigestUpdate(ctx, seed, 32) != 1 ||
            EVP_DigestUpdate(ctx, label, strlen(label)) != 1 || EVP_DigestFinal_ex(ctx, md, &md_len) != 1 ||
            md_len != 32)
                return -EIO;

        /* RFC 9562 §5.4: version 4 in the high nibble of byte 6, variant 10b
         * in the top bits of byte 8, both counted in text order. */
        memcpy(t, md, sizeof t);
        t[6] = (uint8_t) ((t[6] & 0x0F) | 0x40);
        t[8] = (uint8_t) ((t[8] & 0x3F) | 0x80);
        guid_swap_order(t, ret->bytes);
        return 0;
}

static int round_up_align(uint64_t v, uint64_t *ret) {
        uint64_t r;
        if (__builtin_add_overflow(v, GPT_ALIGN_BYTES - 1, &r))
                return -EOVERFLOW;
        *ret = r & ~(GPT_ALIGN_BYTES - 1);
        return 0;
}

static int make_partition(const char *type, const char *name, const uint8_t seed[32], const char *label,
                          uint64_t offset, uint64_t size, struct gpt_partition *ret) {
        struct gpt_partition p = {
                .first_lba = offset / GPT_SECTOR_SIZE,
                .last_lba = (offset + size) / GPT_SECTOR_SIZE - 1,
        };
        int r;

        r = gpt_guid_from_string(type, &p.type);
        if (r < 0)
                return r;
        r = gpt_guid_derive(seed, label, &p.uuid);
        if (r < 0)
                return r;
        if (strlen(name) > GPT_NAME_MAX)
                return -EINVAL;
        memcpy(p.name, name, strlen(name) + 1);
        *ret = p;
        return 0;
}

int gpt_plan(uint64_t esp_bytes, uint64_t root_bytes, const char *arch, const uint8_t seed[32],
             struct gpt_layout *ret) {
        struct gpt_layout l = {};
        uint64_t esp_size, root_size, root_offset, root_end, disk;
        const struct arch_info *a;
        int r;

        if (esp_bytes == 0 || root_bytes == 0 || !seed || !ret)
                return -EINVAL;
        a = arch_lookup(arch);
        if (!a || !a->gpt_root_type)
                return -EINVAL;

        if (round_up_align(esp_bytes, &esp_size) < 0 || round_up_align(root_bytes, &root_size) < 0 ||
            __builtin_add_overflow(GPT_ALIGN_BYTES, esp_size, &root_offset) ||
            __builtin_add_overflow(root_offset, root_size, &root_end) ||
            __builtin_add_overflow(root_end, GPT_ALIGN_BYTES, &disk) || disk > (uint64_t) INT64_MAX)
                return -EOVERFLOW;

        l.disk_bytes = disk; /* every term is a multiple of 1 MiB already */
        r = gpt_guid_derive(seed, "disk", &l.disk_guid);
        if (r < 0)
                return r;
        r = make_partition(GPT_TYPE_ESP, GPT_NAME_ESP, seed, "esp", GPT_ALIGN_BYTES, esp_size,
                           &l.partitions[0]);
        if (r < 0)
                return r;
        r = make_partition(a->gpt_root_type, GPT_NAME_ROOT, seed, "root", root_offset, root_size,
                           &l.partitions[1]);
        if (r < 0)
                return r;
        l.n_partitions = 2;

        *ret = l;
        return 0;
}

static uint64_t disk_sectors(const struct gpt_layout *l) {
        return l->disk_bytes / GPT_SECTOR_SIZE;
}

int gpt_layout_verify(const struct gpt_layout *l) {
        uint64_t sectors, first_usable, last_usable;

        if (!l)
                return -EINVAL;
        if (l->disk_bytes % GPT_SECTOR_SIZE != 0 || l->disk_bytes > (uint64_t) INT64_MAX)
                return -EINVAL;
        sectors = disk_sectors(l);
        if (sectors < GPT_HEAD_SECTORS + GPT_TAIL_SECTORS + 1)
                return -EINVAL;
        first_usable = GPT_HEAD_SECTORS;
        last_usable = sectors - 1 - GPT_TAIL_SECTORS;
        if (l->n_partitions > GPT_MAX_PARTITIONS || guid_is_null(&l->disk_guid))
                return -EINVAL;

        for (size_t i = 0; i < l->n_partitions; i++) {
                const struct gpt_partition *p = &l->partitions[i];
                size_t n = strnlen(p->name, sizeof p->name);

                if (guid_is_null(&p->type) || guid_is_null(&p->uuid))
                        return -EINVAL;
                if (p->first_lba < first_usable || p->last_lba < p->first_lba || p->last_lba > last_usable)
                        return -EINVAL;
                if (n > GPT_NAME_MAX)
                        return -EINVAL;
                for (size_t k = 0; k < n; k++)
                        if ((unsigned char) p->name[k] >= 0x80)
                                return -EINVAL;
                for (size_t j = 0; j < i; j++) {
                        const struct gpt_partition *q = &l->partitions[j];
                        if (p->first_lba <= q->last_lba && q->first_lba <= p->last_lba)
                                return -EINVAL;
                        if (gpt_guid_equal(&p->uuid, &q->uuid))
                                return -EINVAL;
                }
        }
        return 0;
}

static void render_entries(const struct gpt_layout *l, uint8_t *entries) {
        for (size_t i = 0; i < l->n_partitions; i++) {
                const struct gpt_partition *p = &l->partitions[i];
                uint8_t *e = entries + i * GPT_ENTRY_SIZE;

                memcpy(e + ENT_TYPE, p->type.bytes, 16);
                memcpy(e + ENT_UUID, p->uuid.bytes, 16);
                put_le64(e + ENT_FIRST_LBA, p->first_lba);
                put_le64(e + ENT_LAST_LBA, p->last_lba);
                put_le64(e + ENT_ATTRIBUTES, p->attributes);
                /* ASCII (checked by gpt_layout_verify) is UTF-16 with a zero high byte. */
                for (size_t k = 0; k < GPT_NAME_MAX && p->name[k]; k++)
                        put_le16(e + ENT_NAME + 2 * k, (uint8_t) p->name[k]);
        }
}

static void render_header(const struct gpt_layout *l, uint8_t *h, uint64_t my_lba, uint64_t alternate_lba,
                          uint64_t entries_lba, uint32_t entries_crc) {
        uint64_t sectors = disk_sectors(l);

        memcpy(h + HDR_SIGNATURE, "EFI PART", 8);
        put_le32(h + HDR_REVISION, GPT_REVISION_1_0);
        put_le32(h + HDR_HEADER_SIZE, GPT_HEADER_SIZE);
        put_le64(h + HDR_MY_LBA, my_lba);
        put_le64(h + HDR_ALTERNATE_LBA, alternate_lba);
        put_le64(h + HDR_FIRST_USABLE, GPT_HEAD_SECTORS);
        put_le64(h + HDR_LAST_USABLE, sectors - 1 - GPT_TAIL_SECTORS);
        memcpy(h + HDR_DISK_GUID, l->disk_guid.bytes, 16);
        put_le64(h + HDR_ENTRIES_LBA, entries_lba);
        put_le32(h + HDR_N_ENTRIES, GPT_ENTRIES);
        put_le32(h + HDR_ENTRY_SIZE, GPT_ENTRY_SIZE);
        put_le32(h + HDR_ENTRIES_CRC, entries_crc);
        /* The header CRC covers HeaderSize bytes with its own field zero. */
        put_le32(h + HDR_HEADER_CRC, 0);
        put_le32(h + HDR_HEADER_CRC, (uint32_t) crc32(0, h, GPT_HEADER_SIZE));
}

static void render_pmbr(const struct gpt_layout *l, uint8_t *mbr) {
        uint64_t sectors = disk_sectors(l);
        uint8_t *e = mbr + MBR_PART0;

        /* One partition of type 0xEE from LBA 1 to the end of the disk, or as
         * far as 32 bits reach (UEFI 2.10 §5.2.3); CHS as libfdisk writes it. */
        static const uint8_t chs_first[3] = {0x00, 0x02, 0x00}; /* LBA 1 */
        static const uint8_t chs_last[3] = {0xFF, 0xFF, 0xFF};  /* beyond CHS */

        e[0] = 0x00; /* not bootable */
        memcpy(e + 1, chs_first, 3);
        e[4] = MBR_TYPE_GPT_PROTECTIVE;
        memcpy(e + 5, chs_last, 3);
        put_le32(e + 8, 1);
        put_le32(e + 12, (uint32_t) (sectors - 1 > UINT32_MAX ? UINT32_MAX : sectors - 1));
        mbr[MBR_SIGNATURE] = 0x55;
        mbr[MBR_SIGNATURE + 1] = 0xAA;
}

int gpt_render(const struct gpt_layout *l, uint8_t **ret_head, size_t *ret_head_size, uint8_t **ret_tail,
               size_t *ret_tail_size) {
        _cleanup_free_ uint8_t *head = NULL, *tail = NULL;
        uint64_t last_lba;
        uint32_t entries_crc;
        uint8_t *entries;
        int r;

        if (!ret_head || !ret_head_size || !ret_tail || !ret_tail_size)
                return -EINVAL;
        r = gpt_layout_verify(l);
        if (r < 0)
                return r;

        head = calloc(1, GPT_HEAD_BYTES);
        tail = calloc(1, GPT_TAIL_BYTES);
        if (!head || !tail)
                return -ENOMEM;

        last_lba = disk_sectors(l) - 1;
        entries = head + 2 * GPT_SECTOR_SIZE;
        render_entries(l, entries);
        entries_crc = (uint32_t) crc32(0, entries, GPT_ENTRIES * GPT_ENTRY_SIZE);
        memcpy(tail, entries, GPT_ENTRIES * GPT_ENTRY_SIZE);

        render_pmbr(l, head);
        render_header(l, head + GPT_SECTOR_SIZE, 1, last_lba, 2, entries_crc);
        render_header(l, tail + GPT_ENTRY_SECTORS * GPT_SECTOR_SIZE, last_lba, 1,
                      last_lba - GPT_ENTRY_SECTORS, entries_crc);

        *ret_head = TAKE_PTR(head);
        *ret_head_size = GPT_HEAD_BYTES;
        *ret_tail = TAKE_PTR(tail);
        *ret_tail_size = GPT_TAIL_BYTES;
        return 0;
}

static int pwrite_full(int fd, const uint8_t *buf, size_t size, off_t offset) {
        while (size > 0) {
                ssize_t n = pwrite(fd, buf, size, offset);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        return -EIO;
                buf += n;
                size -= (size_t) n;
                offset += n;
        }
        return 0;
}

int gpt_write(int fd, const struct gpt_layout *l) {
        _cleanup_free_ uint8_t *head = NULL, *tail = NULL;
        size_t head_size, tail_size;
        struct stat st;
        int r;

        if (fd < 0)
                return -EBADF;
        r = gpt_render(l, &head, &head_size, &tail, &tail_size);
        if (r < 0)
                return r;

        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        if ((uint64_t) st.st_size > l->disk_bytes)
                return -EFBIG;
        if ((uint64_t) st.st_size < l->disk_bytes && ftruncate(fd, (off_t) l->disk_bytes) < 0)
                return negative_errno();

        r = pwrite_full(fd, head, head_size, 0);
        if (r < 0)
                return r;
        return pwrite_full(fd, tail, tail_size, (off_t) (l->disk_bytes - tail_size));
}

uint64_t gpt_partition_offset(const struct gpt_layout *l, size_t i) {
        if (!l || i >= l->n_partitions || i >= GPT_MAX_PARTITIONS ||
            l->partitions[i].first_lba > UINT64_MAX / GPT_SECTOR_SIZE)
                return 0;
        return l->partitions[i].first_lba * GPT_SECTOR_SIZE;
}

uint64_t gpt_partition_size(const struct gpt_layout *l, size_t i) {
        if (!l || i >= l->n_partitions || i >= GPT_MAX_PARTITIONS ||
            l->partitions[i].last_lba < l->partitions[i].first_lba ||
            l->partitions[i].last_lba - l->partitions[i].first_lba >= UINT64_MAX / GPT_SECTOR_SIZE)
                return 0;
        return (l->partitions[i].last_lba - l->partitions[i].first_lba + 1) * GPT_SECTOR_SIZE;
}
