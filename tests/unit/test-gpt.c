/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <blkid.h>
#include <cmocka.h>
#include <zlib.h>

#include "gpt.h"
#include "macro.h"
#include "proc.h"

#define MIB (UINT64_C(1) << 20)
#define SECTOR 512u
#define ESP_TYPE "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
#define ROOT_X86_64 "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"
#define ROOT_ARM64 "B921B045-1DF0-41C3-AF44-4C6F280D3FAE"

/* The seed most tests use: bytes 0x00..0x1f. */
static void seed_fill(uint8_t seed[32], uint8_t start) {
        for (unsigned i = 0; i < 32; i++)
                seed[i] = (uint8_t) (start + i);
}

/* Little-endian readers, written here rather than borrowed from lib/gpt.c so
 * the test decodes the bytes on its own. */
static uint16_t le16(const uint8_t *p) {
        return (uint16_t) (p[0] | p[1] << 8);
}
static uint32_t le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}
static uint64_t le64(const uint8_t *p) {
        return (uint64_t) le32(p) | (uint64_t) le32(p + 4) << 32;
}

static bool all_zero(const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (p[i])
                        return false;
        return true;
}

static void guid_str(const struct gpt_guid *g, bool upper, char out[GPT_GUID_STRING_MAX]) {
        gpt_guid_to_string(g, upper, out);
}

/* ---- GUIDs ---------------------------------------------------------------------------------- */

static void test_guid_known_answers(void **state) {
        (void) state;
        static const uint8_t esp_disk[16] = {0x28, 0x73, 0x2A, 0xC1, 0x1F, 0xF8, 0xD2, 0x11,
                                             0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E, 0xC9, 0x3B};
        static const uint8_t root_x86_disk[16] = {0xE3, 0xBC, 0x68, 0x4F, 0xCD, 0xE8, 0xB1, 0x4D,
                                                  0x96, 0xE7, 0xFB, 0xCA, 0xF9, 0x84, 0xB7, 0x09};
        struct gpt_guid g, back;
        char s[GPT_GUID_STRING_MAX];

        assert_int_equal(gpt_guid_from_string(ESP_TYPE, &g), 0);
        assert_memory_equal(g.bytes, esp_disk, 16);
        assert_string_equal(gpt_guid_to_string(&g, true, s), ESP_TYPE);
        assert_string_equal(gpt_guid_to_string(&g, false, s), "c12a7328-f81f-11d2-ba4b-00a0c93ec93b");

        /* Lowercase input parses to the same bytes. */
        assert_int_equal(gpt_guid_from_string("c12a7328-f81f-11d2-ba4b-00a0c93ec93b", &back), 0);
        assert_true(gpt_guid_equal(&g, &back));

        assert_int_equal(gpt_guid_from_string(ROOT_X86_64, &g), 0);
        assert_memory_equal(g.bytes, root_x86_disk, 16);

        /* Bytes -> string -> bytes for a GUID with every nibble distinct per field. */
        for (unsigned i = 0; i < 16; i++)
                g.bytes[i] = (uint8_t) (i * 17 + 3);
        guid_str(&g, false, s);
        assert_string_equal(s, "36251403-5847-7a69-8b9c-adbecfe0f102");
        assert_int_equal(gpt_guid_from_string(s, &back), 0);
        assert_true(gpt_guid_equal(&g, &back));
}

static void test_guid_from_string_rejects(void **state) {
        (void) state;
        static const char *const bad[] = {
                "",
                "C12A7328-F81F-11D2-BA4B-00A0C93EC93",    /* short */
                "C12A7328-F81F-11D2-BA4B-00A0C93EC93BB",  /* long */
                "C12A7328F81F-11D2-BA4B-00A0C93EC93B0",   /* dash missing */
                "C12A7328-F81F-11D2-BA4B-00A0C93EC93G",   /* not hex */
                "C12A732-8F81F-11D2-BA4B-00A0C93EC93B",   /* dash misplaced */
                "{C12A7328-F81F-11D2-BA4B-00A0C93EC93B}", /* braces */
                " C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
                "C12A7328-F81F-11D2-BA4B-00A0C93EC9 B",
        };
        struct gpt_guid g;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                memset(&g, 0xAA, sizeof g);
                assert_int_equal(gpt_guid_from_string(bad[i], &g), -EINVAL);
                for (unsigned k = 0; k < 16; k++) /* untouched on failure */
                        assert_int_equal(g.bytes[k], 0xAA);
        }
        assert_int_equal(gpt_guid_from_string(NULL, &g), -EINVAL);
}

static void test_guid_derive(void **state) {
        (void) state;
        uint8_t seed[32], seed2[32];
        struct gpt_guid a, b, c;
        char s[GPT_GUID_STRING_MAX];

        seed_fill(seed, 0);
        /* Known answers: `openssl dgst -sha256` over the 32 seed bytes followed by
         * the label, first 16 bytes, version nibble set to 4 and variant to 10b. */
        assert_int_equal(gpt_guid_derive(seed, "disk", &a), 0);
        assert_string_equal(gpt_guid_to_string(&a, false, s), "b92778da-76c5-4789-8777-ce843e092955");
        assert_int_equal(gpt_guid_derive(seed, "esp", &a), 0);
        assert_string_equal(gpt_guid_to_string(&a, true, s), "202F2E9E-8814-4F3C-BE41-8317F0996CE1");

        /* Version 4 and variant 1 in the text form, for many seeds. */
        for (unsigned i = 0; i < 64; i++) {
                seed_fill(seed2, (uint8_t) i);
                assert_int_equal(gpt_guid_derive(seed2, "root", &b), 0);
                guid_str(&b, false, s);
                assert_int_equal(s[14], '4');
                assert_non_null(strchr("89ab", s[19]));
        }

        /* Same inputs, same GUID; a different label or seed, a different one. */
        assert_int_equal(gpt_guid_derive(seed, "root", &a), 0);
        assert_int_equal(gpt_guid_derive(seed, "root", &b), 0);
        assert_true(gpt_guid_equal(&a, &b));
        assert_int_equal(gpt_guid_derive(seed, "roo", &c), 0);
        assert_false(gpt_guid_equal(&a, &c));
        seed_fill(seed2, 0);
        seed2[31] ^= 1;
        assert_int_equal(gpt_guid_derive(seed2, "root", &c), 0);
        assert_false(gpt_guid_equal(&a, &c));

        assert_int_equal(gpt_guid_derive(seed, "", &a), -EINVAL);
        assert_int_equal(gpt_guid_derive(seed, NULL, &a), -EINVAL);
        assert_int_equal(gpt_guid_derive(NULL, "x", &a), -EINVAL);
}

/* ---- Planning ------------------------------------------------------------------------------- */

static void assert_type(const struct gpt_guid *g, const char *want) {
        char s[GPT_GUID_STRING_MAX];
        assert_string_equal(gpt_guid_to_string(g, true, s), want);
}

static void test_plan_amd64(void **state) {
        (void) state;
        uint8_t seed[32];
        struct gpt_layout l;

        seed_fill(seed, 0);
        assert_int_equal(gpt_plan(256 * MIB, 2048 * MIB, "amd64", seed, &l), 0);

        assert_int_equal(l.n_partitions, 2);
        assert_int_equal(l.partitions[0].first_lba, 2048);
        assert_int_equal(l.partitions[0].last_lba, 2048 + 256 * 2048 - 1);
        assert_int_equal(l.partitions[1].first_lba, (1 + 256) * 2048);
        assert_int_equal(l.partitions[1].last_lba, (1 + 256 + 2048) * 2048 - 1);
        assert_int_equal(l.disk_bytes, (1 + 256 + 2048 + 1) * MIB);
        assert_type(&l.partitions[0].type, ESP_TYPE);
        assert_type(&l.partitions[1].type, ROOT_X86_64);
        assert_string_equal(l.partitions[0].name, "ESP");
        assert_string_equal(l.partitions[1].name, "root");
        assert_int_equal(l.partitions[0].attributes, 0);
        assert_int_equal(l.partitions[1].attributes, 0);

        assert_int_equal(gpt_partition_offset(&l, 0), 1 * MIB);
        assert_int_equal(gpt_partition_size(&l, 0), 256 * MIB);
        assert_int_equal(gpt_partition_offset(&l, 1), 257 * MIB);
        assert_int_equal(gpt_partition_size(&l, 1), 2048 * MIB);
        assert_int_equal(gpt_partition_offset(&l, 2), 0);
        assert_int_equal(gpt_partition_size(&l, 2), 0);

        /* The backup GPT (33 sectors) fits between the end of root and the disk's end. */
        assert_true(l.partitions[1].last_lba < l.disk_bytes / SECTOR - 1 - 33);
        assert_int_equal(gpt_layout_verify(&l), 0);

        /* The three GUIDs are distinct and the ones gpt_guid_derive() gives for
         * the documented labels. */
        struct gpt_guid g;
        assert_int_equal(gpt_guid_derive(seed, "disk", &g), 0);
        assert_true(gpt_guid_equal(&g, &l.disk_guid));
        assert_int_equal(gpt_guid_derive(seed, "esp", &g), 0);
        assert_true(gpt_guid_equal(&g, &l.partitions[0].uuid));
        assert_int_equal(gpt_guid_derive(seed, "root", &g), 0);
        assert_true(gpt_guid_equal(&g, &l.partitions[1].uuid));
        assert_false(gpt_guid_equal(&l.disk_guid, &l.partitions[0].uuid));
        assert_false(gpt_guid_equal(&l.partitions[0].uuid, &l.partitions[1].uuid));
}

static void test_plan_rounding(void **state) {
        (void) state;
        uint8_t seed[32];
        struct gpt_layout l;

        seed_fill(seed, 0);
        /* 100 bytes of ESP take one MiB; 1 MiB + 1 byte of root take two. */
        assert_int_equal(gpt_plan(100, MIB + 1, "amd64", seed, &l), 0);
        assert_int_equal(gpt_partition_offset(&l, 0), MIB);
        assert_int_equal(gpt_partition_size(&l, 0), MIB);
        assert_int_equal(gpt_partition_offset(&l, 1), 2 * MIB);
        assert_int_equal(gpt_partition_size(&l, 1), 2 * MIB);
        assert_int_equal(l.disk_bytes, 5 * MIB);

        /* Every boundary on 1 MiB for odd sizes. */
        for (uint64_t esp = 1; esp < 40 * MIB; esp = esp * 3 + 7)
                for (uint64_t root = 1; root < 400 * MIB; root = root * 5 + 11) {
                        assert_int_equal(gpt_plan(esp, root, "arm64", seed, &l), 0);
                        for (size_t i = 0; i < 2; i++) {
                                assert_int_equal(gpt_partition_offset(&l, i) % MIB, 0);
                                assert_int_equal(gpt_partition_size(&l, i) % MIB, 0);
                        }
                        assert_true(gpt_partition_size(&l, 0) >= esp);
                        assert_true(gpt_partition_size(&l, 0) < esp + MIB);
                        assert_true(gpt_partition_size(&l, 1) >= root);
                        assert_true(gpt_partition_size(&l, 1) < root + MIB);
                        assert_int_equal(gpt_partition_offset(&l, 1),
                                         gpt_partition_offset(&l, 0) + gpt_partition_size(&l, 0));
                        assert_int_equal(l.disk_bytes,
                                         gpt_partition_offset(&l, 1) + gpt_partition_size(&l, 1) + MIB);
                }
}

static void test_plan_arches(void **state) {
        (void) state;
        uint8_t seed[32];
        struct gpt_layout a, b;

        seed_fill(seed, 0);
        assert_int_equal(gpt_plan(MIB, MIB, "x86_64", seed, &a), 0);
        assert_type(&a.partitions[1].type, ROOT_X86_64);
        assert_int_equal(gpt_plan(MIB, MIB, "arm64", seed, &a), 0);
        assert_type(&a.partitions[1].type, ROOT_ARM64);
        assert_type(&a.partitions[0].type, ESP_TYPE);
        assert_int_equal(gpt_plan(MIB, MIB, "aarch64", seed, &b), 0);
        assert_memory_equal(&a, &b, sizeof a);
}

static void test_plan_errors(void **state) {
        (void) state;
        uint8_t seed[32];
        struct gpt_layout l, untouched;

        seed_fill(seed, 0);
        memset(&l, 0x5A, sizeof l);
        untouched = l;

        assert_int_equal(gpt_plan(0, MIB, "amd64", seed, &l), -EINVAL);
        assert_int_equal(gpt_plan(MIB, 0, "amd64", seed, &l), -EINVAL);
        assert_int_equal(gpt_plan(MIB, MIB, "riscv64", seed, &l), -EINVAL);
        assert_int_equal(gpt_plan(MIB, MIB, "", seed, &l), -EINVAL);
        assert_int_equal(gpt_plan(MIB, MIB, NULL, seed, &l), -EINVAL);
        assert_int_equal(gpt_plan(MIB, MIB, "amd64", NULL, &l), -EINVAL);
        assert_int_equal(gpt_plan(MIB, MIB, "amd64", seed, NULL), -EINVAL);

        assert_int_equal(gpt_plan(UINT64_MAX, MIB, "amd64", seed, &l), -EOVERFLOW);
        assert_int_equal(gpt_plan(MIB, UINT64_MAX, "amd64", seed, &l), -EOVERFLOW);
        assert_int_equal(gpt_plan(UINT64_MAX / 2, UINT64_MAX / 2, "amd64", seed, &l), -EOVERFLOW);
        /* Past what an off_t can address. */
        assert_int_equal(gpt_plan(MIB, (uint64_t) INT64_MAX - 2 * MIB, "amd64", seed, &l), -EOVERFLOW);
        assert_memory_equal(&l, &untouched, sizeof l);

        /* The largest disk that still fits: INT64_MAX rounded down to 1 MiB. */
        uint64_t max_root = ((uint64_t) INT64_MAX & ~(MIB - 1)) - 3 * MIB;
        assert_int_equal(gpt_plan(MIB, max_root, "amd64", seed, &l), 0);
        assert_int_equal(l.disk_bytes, (uint64_t) INT64_MAX & ~(MIB - 1));
        assert_int_equal(gpt_plan(MIB, max_root + 1, "amd64", seed, &l), -EOVERFLOW);
}

/* ---- Rendering ------------------------------------------------------------------------------ */

struct rendered {
        uint8_t *head, *tail;
        size_t head_size, tail_size;
};

static void rendered_done(struct rendered *r) {
        free(r->head);
        free(r->tail);
}

static void render_ok(const struct gpt_layout *l, struct rendered *r) {
        assert_int_equal(gpt_render(l, &r->head, &r->head_size, &r->tail, &r->tail_size), 0);
        assert_int_equal(r->head_size, 34 * SECTOR);
        assert_int_equal(r->tail_size, 33 * SECTOR);
}

/* Checks one header against the layout, decoding every field by offset. */
static void check_header(const struct gpt_layout *l, const uint8_t *h, uint64_t my_lba,
                         uint64_t alternate_lba, uint64_t entries_lba, const uint8_t *entries) {
        uint64_t last = l->disk_bytes / SECTOR - 1;
        uint8_t copy[92];

        assert_memory_equal(h, "EFI PART", 8);
        assert_int_equal(le32(h + 8), 0x00010000);
        assert_int_equal(le32(h + 12), 92);
        assert_int_equal(le32(h + 20), 0); /* reserved */
        assert_int_equal(le64(h + 24), my_lba);
        assert_int_equal(le64(h + 32), alternate_lba);
        assert_int_equal(le64(h + 40), 34);
        assert_int_equal(le64(h + 48), last - 33);
        assert_memory_equal(h + 56, l->disk_guid.bytes, 16);
        assert_int_equal(le64(h + 72), entries_lba);
        assert_int_equal(le32(h + 80), 128);
        assert_int_equal(le32(h + 84), 128);
        assert_int_equal(le32(h + 88), (uint32_t) crc32(0, entries, 128 * 128));
        assert_true(all_zero(h + 92, SECTOR - 92));

        memcpy(copy, h, sizeof copy);
        memset(copy + 16, 0, 4);
        assert_int_equal(le32(h + 16), (uint32_t) crc32(0, copy, sizeof copy));
}

static void check_entries(const struct gpt_layout *l, const uint8_t *entries) {
        for (size_t i = 0; i < l->n_partitions; i++) {
                const uint8_t *e = entries + i * 128;
                const struct gpt_partition *p = &l->partitions[i];
                size_t n = strlen(p->name);

                assert_memory_equal(e, p->type.bytes, 16);
                assert_memory_equal(e + 16, p->uuid.bytes, 16);
                assert_int_equal(le64(e + 32), p->first_lba);
                assert_int_equal(le64(e + 40), p->last_lba);
                assert_int_equal(le64(e + 48), p->attributes);
                for (size_t k = 0; k < n; k++)
                        assert_int_equal(le16(e + 56 + 2 * k), (uint8_t) p->name[k]);
                assert_true(all_zero(e + 56 + 2 * n, 72 - 2 * n));
        }
        assert_true(all_zero(entries + l->n_partitions * 128, (128 - l->n_partitions) * 128));
}

static void test_render_golden(void **state) {
        (void) state;
        uint8_t seed[32];
        struct gpt_layout l;
        struct rendered r = {};

        seed_fill(seed, 0);
        assert_int_equal(gpt_plan(16 * MIB, 46 * MIB, "amd64", seed, &l), 0);
        assert_int_equal(l.disk_bytes, 64 * MIB);
        render_ok(&l, &r);
        uint64_t last = l.disk_bytes / SECTOR - 1;

        /* Protective MBR: boot code and disk signature empty, one 0xEE entry
         * from LBA 1 over the whole disk, the other three empty, 55 AA. */
        static const uint8_t pmbr_entry[16] = {0x00, 0x00, 0x02, 0x00, 0xEE, 0xFF, 0xFF, 0xFF,
                                               0x01, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0x01, 0x00};
        assert_true(all_zero(r.head, 446));
        assert_memory_equal(r.head + 446, pmbr_entry, 16); /* 0x1FFFF = 64 MiB / 512 - 1 */
        assert_true(all_zero(r.head + 462, 48));
        assert_int_equal(r.head[510], 0x55);
        assert_int_equal(r.head[511], 0xAA);

        const uint8_t *entries = r.head + 2 * SECTOR;
        check_entries(&l, entries);
        check_header(&l, r.head + SECTOR, 1, last, 2, entries);

        /* Tail: the same entries, then the backup header pointing back. */
        assert_memory_equal(r.tail, entries, 128 * 128);
        check_header(&l, r.tail + 32 * SECTOR, last, 1, last - 32, r.tail);

        /* Primary and backup differ exactly in MyLBA, AlternateLBA,
         * PartitionEntryLBA and hence the header CRC. */
        uint8_t a[92], b[92];
        memcpy(a, r.head + SECTOR, 92);
        memcpy(b, r.tail + 32 * SECTOR, 92);
        memset(a + 16, 0, 4), memset(b + 16, 0, 4);
        memset(a + 24, 0, 16), memset(b + 24, 0, 16);
        memset(a + 72, 0, 8), memset(b + 72, 0, 8);
        assert_memory_equal(a, b, 92);

        /* Golden values: a change here changes every image's GUIDs or layout.
         * The disk GUID is the openssl-computed answer of test_guid_derive; the
         * CRCs (cross-checked with Python's zlib.crc32 over the same bytes) pin
         * the rest of both headers and the entry array. */
        static const uint8_t disk_guid[16] = {0xda, 0x78, 0x27, 0xb9, 0xc5, 0x76, 0x89, 0x47,
                                              0x87, 0x77, 0xce, 0x84, 0x3e, 0x09, 0x29, 0x55};
        assert_memory_equal(r.head + SECTOR + 56, disk_guid, 16);
        assert_int_equal(le32(r.head + SECTOR + 88), 0x8198d811);
        assert_int_equal(le32(r.head + SECTOR + 16), 0xee0c8182);
        assert_int_equal(le32(r.tail + 32 * SECTOR + 16), 0x60004d47);

        rendered_done(&r);
}

static void test_render_pmbr_cap(void **state) {
        (void) state;
        uint8_t seed[32];
        struct gpt_layout l;
        struct rendered r = {};

        seed_fill(seed, 0);
        /* 3 TiB: more sectors than 32 bits count, so the 0xEE entry stops at 0xFFFFFFFF. */
        assert_int_equal(gpt_plan(512 * MIB, 3 * (MIB << 20), "amd64", seed, &l), 0);
        render_ok(&l, &r);
        assert_int_equal(le32(r.head + 446 + 8), 1);
        assert_int_equal(le32(r.head + 446 + 12), 0xFFFFFFFF);
        check_header(&l, r.tail + 32 * SECTOR, l.disk_bytes / SECTOR - 1, 1, l.disk_bytes / SECTOR - 33,
                     r.tail);
        rendered_done(&r);

        /* Exactly 2^32 sectors: size - 1 still fits. */
        l.disk_bytes = (UINT64_C(1) << 32) * SECTOR;
        l.partitions[1].last_lba = l.disk_bytes / SECTOR - 34 - 2048;
        render_ok(&l, &r);
        assert_int_equal(le32(r.head + 446 + 12), 0xFFFFFFFF);
        rendered_done(&r);
}

static void test_render_rejects(void **state) {
        (void) state;
        uint8_t seed[32];
        struct gpt_layout good, l;
        uint8_t *head = (uint8_t *) &seed, *tail = (uint8_t *) &seed;
        size_t hs = 7, ts = 7;

        seed_fill(seed, 0);
        assert_int_equal(gpt_plan(MIB, MIB, "amd64", seed, &good), 0);

#define EXPECT_EINVAL(mutation)                                                                             \
        do {                                                                                                \
                l = good;                                                                                   \
                mutation;                                                                                   \
                assert_int_equal(gpt_layout_verify(&l), -EINVAL);                                           \
                assert_int_equal(gpt_render(&l, &head, &hs, &tail, &ts), -EINVAL);                          \
                assert_ptr_equal(head, (uint8_t *) &seed);                                                  \
                assert_ptr_equal(tail, (uint8_t *) &seed);                                                  \
                assert_int_equal(hs, 7);                                                                    \
                assert_int_equal(ts, 7);                                                                    \
        } while (0)

        EXPECT_EINVAL(l.disk_bytes += 1);
        EXPECT_EINVAL(l.disk_bytes = 67 * SECTOR);
        EXPECT_EINVAL(l.n_partitions = GPT_MAX_PARTITIONS + 1);
        EXPECT_EINVAL(memset(&l.disk_guid, 0, sizeof l.disk_guid));
        EXPECT_EINVAL(memset(&l.partitions[1].type, 0, 16));
        EXPECT_EINVAL(memset(&l.partitions[1].uuid, 0, 16));
        EXPECT_EINVAL(l.partitions[1].uuid = l.partitions[0].uuid);
        EXPECT_EINVAL(l.partitions[0].first_lba = 33);
        EXPECT_EINVAL(l.partitions[1].first_lba = l.partitions[0].last_lba); /* overlap */
        EXPECT_EINVAL(l.partitions[0].last_lba = l.partitions[0].first_lba - 1);
        EXPECT_EINVAL(l.partitions[1].last_lba = l.disk_bytes / SECTOR - 34 + 1);      /* on backup */
        EXPECT_EINVAL(memset(l.partitions[0].name, 'x', sizeof l.partitions[0].name)); /* no NUL */
        EXPECT_EINVAL(memcpy(l.partitions[0].name, "r\xc3\xa9", 4));                   /* not ASCII */
#undef EXPECT_EINVAL

        /* The limits themselves are fine. */
        l = good;
        l.partitions[0].first_lba = 34;
        l.partitions[1].last_lba = l.disk_bytes / SECTOR - 34;
        memset(l.partitions[0].name, 'x', GPT_NAME_MAX);
        l.partitions[0].name[GPT_NAME_MAX] = '\0';
        assert_int_equal(gpt_layout_verify(&l), 0);
        struct rendered r = {};
        render_ok(&l, &r);
        check_entries(&l, r.head + 2 * SECTOR);
        rendered_done(&r);

        assert_int_equal(gpt_render(NULL, &head, &hs, &tail, &ts), -EINVAL);
        assert_int_equal(gpt_render(&good, NULL, &hs, &tail, &ts), -EINVAL);
}

static void test_determinism(void **state) {
        (void) state;
        uint8_t seed[32];
        struct gpt_layout a, b, c;
        struct rendered ra = {}, rb = {}, rc = {};

        seed_fill(seed, 0);
        assert_int_equal(gpt_plan(100 * MIB, 900 * MIB, "arm64", seed, &a), 0);
        assert_int_equal(gpt_plan(100 * MIB, 900 * MIB, "arm64", seed, &b), 0);
        seed[0] ^= 0x80;
        assert_int_equal(gpt_plan(100 * MIB, 900 * MIB, "arm64", seed, &c), 0);

        render_ok(&a, &ra);
        render_ok(&b, &rb);
        render_ok(&c, &rc);
        assert_memory_equal(ra.head, rb.head, ra.head_size);
        assert_memory_equal(ra.tail, rb.tail, ra.tail_size);

        assert_false(gpt_guid_equal(&a.disk_guid, &c.disk_guid));
        for (size_t i = 0; i < 2; i++) {
                assert_false(gpt_guid_equal(&a.partitions[i].uuid, &c.partitions[i].uuid));
                assert_true(gpt_guid_equal(&a.partitions[i].type, &c.partitions[i].type));
                assert_int_equal(a.partitions[i].first_lba, c.partitions[i].first_lba);
                assert_int_equal(a.partitions[i].last_lba, c.partitions[i].last_lba);
        }
        assert_memory_not_equal(ra.head, rc.head, ra.head_size);
        /* Only GUIDs and CRCs differ: the MBR is the same. */
        assert_memory_equal(ra.head, rc.head, SECTOR);

        rendered_done(&ra);
        rendered_done(&rb);
        rendered_done(&rc);
}

/* ---- Writing, cross-checked with libblkid and sfdisk ----------------------------------------- */

struct tmpdisk {
        char dir[64];
        char path[96];
        struct gpt_layout l;
};

static int tmpdisk_setup(void **state) {
        struct tmpdisk *t = calloc(1, sizeof *t);
        uint8_t seed[32];

        assert_non_null(t);
        const char *tmp = getenv("TMPDIR");
        if (!tmp || strlen(tmp) > 40)
                tmp = "/tmp";
        assert_true(snprintf(t->dir, sizeof t->dir, "%s/test-gpt-XXXXXX", tmp) < (int) sizeof t->dir);
        assert_non_null(mkdtemp(t->dir));
        assert_true(snprintf(t->path, sizeof t->path, "%s/disk.raw", t->dir) < (int) sizeof t->path);

        seed_fill(seed, 0x40);
        assert_int_equal(gpt_plan(16 * MIB, 46 * MIB, "amd64", seed, &t->l), 0);
        assert_int_equal(t->l.disk_bytes, 64 * MIB);

        _cleanup_close_ int fd = open(t->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(gpt_write(fd, &t->l), 0);

        *state = t;
        return 0;
}

static int tmpdisk_teardown(void **state) {
        struct tmpdisk *t = *state;
        if (!t)
                return 0;
        (void) unlink(t->path);
        (void) rmdir(t->dir);
        free(t);
        return 0;
}

static void test_write_file(void **state) {
        struct tmpdisk *t = *state;
        struct rendered r = {};
        struct stat st;

        assert_int_equal(stat(t->path, &st), 0);
        assert_int_equal(st.st_size, 64 * MIB);

        /* The file holds exactly the rendered head and tail, zeros (holes) between. */
        _cleanup_close_ int fd = open(t->path, O_RDWR | O_CLOEXEC);
        assert_true(fd >= 0);
        render_ok(&t->l, &r);
        _cleanup_free_ uint8_t *buf = malloc(r.head_size);
        assert_non_null(buf);
        assert_int_equal(pread(fd, buf, r.head_size, 0), (ssize_t) r.head_size);
        assert_memory_equal(buf, r.head, r.head_size);
        assert_int_equal(pread(fd, buf, r.tail_size, (off_t) (64 * MIB - r.tail_size)),
                         (ssize_t) r.tail_size);
        assert_memory_equal(buf, r.tail, r.tail_size);
        assert_int_equal(pread(fd, buf, SECTOR, (off_t) MIB), (ssize_t) SECTOR);
        assert_true(all_zero(buf, SECTOR));

        /* Writing again over the same file is fine and changes nothing. */
        assert_int_equal(gpt_write(fd, &t->l), 0);
        assert_int_equal(fstat(fd, &st), 0);
        assert_int_equal(st.st_size, 64 * MIB);

        /* A file longer than the layout would leave the backup GPT inside it. */
        assert_int_equal(ftruncate(fd, (off_t) (65 * MIB)), 0);
        assert_int_equal(gpt_write(fd, &t->l), -EFBIG);
        assert_int_equal(ftruncate(fd, (off_t) (64 * MIB)), 0);

        /* Not a regular file; a bad fd; an invalid layout. */
        int p[2];
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        assert_int_equal(gpt_write(p[1], &t->l), -EINVAL);
        close(p[0]);
        close(p[1]);
        assert_int_equal(gpt_write(-1, &t->l), -EBADF);
        struct gpt_layout bad = t->l;
        bad.disk_bytes = 1000;
        assert_int_equal(gpt_write(fd, &bad), -EINVAL);

        rendered_done(&r);
}

static void blkid_probe_freep(blkid_probe *p) {
        if (*p)
                blkid_free_probe(*p);
}

static void test_libblkid(void **state) {
        struct tmpdisk *t = *state;
        _cleanup_(blkid_probe_freep) blkid_probe pr = NULL;
        const char *v = NULL;
        char s[GPT_GUID_STRING_MAX];

        pr = blkid_new_probe_from_filename(t->path);
        assert_non_null(pr);
        assert_int_equal(blkid_probe_enable_partitions(pr, 1), 0);
        assert_int_equal(blkid_probe_set_partitions_flags(pr, BLKID_PARTS_ENTRY_DETAILS), 0);
        assert_int_equal(blkid_do_safeprobe(pr), 0);
        assert_int_equal(blkid_probe_lookup_value(pr, "PTTYPE", &v, NULL), 0);
        assert_string_equal(v, "gpt");
        assert_int_equal(blkid_probe_lookup_value(pr, "PTUUID", &v, NULL), 0);
        assert_string_equal(v, gpt_guid_to_string(&t->l.disk_guid, false, s));

        blkid_partlist ls = blkid_probe_get_partitions(pr);
        assert_non_null(ls);
        blkid_parttable tab = blkid_partlist_get_table(ls);
        assert_non_null(tab);
        assert_string_equal(blkid_parttable_get_type(tab), "gpt");
        assert_string_equal(blkid_parttable_get_id(tab), s);
        assert_int_equal(blkid_partlist_numof_partitions(ls), 2);

        for (int i = 0; i < 2; i++) {
                const struct gpt_partition *want = &t->l.partitions[i];
                blkid_partition par = blkid_partlist_get_partition(ls, i);
                assert_non_null(par);
                assert_int_equal(blkid_partition_get_partno(par), i + 1);
                /* libblkid counts in 512-byte sectors whatever the device's sector size. */
                assert_int_equal(blkid_partition_get_start(par), (int64_t) want->first_lba);
                assert_int_equal(blkid_partition_get_size(par),
                                 (int64_t) (want->last_lba - want->first_lba + 1));
                assert_int_equal((uint64_t) blkid_partition_get_start(par) * 512,
                                 gpt_partition_offset(&t->l, (size_t) i));
                assert_string_equal(blkid_partition_get_type_string(par),
                                    gpt_guid_to_string(&want->type, false, s));
                assert_string_equal(blkid_partition_get_uuid(par),
                                    gpt_guid_to_string(&want->uuid, false, s));
                assert_string_equal(blkid_partition_get_name(par), want->name);
                assert_int_equal(blkid_partition_get_flags(par), 0);
        }
        assert_string_equal(blkid_partition_get_type_string(blkid_partlist_get_partition(ls, 0)),
                            "c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
        assert_string_equal(blkid_partition_get_type_string(blkid_partlist_get_partition(ls, 1)),
                            "4f68bce3-e8cd-4db1-96e7-fbcaf984b709");
        assert_string_equal(blkid_partition_get_name(blkid_partlist_get_partition(ls, 0)), "ESP");
        assert_string_equal(blkid_partition_get_name(blkid_partlist_get_partition(ls, 1)), "root");
}

/* Runs sfdisk with the given arguments; skips the test when sfdisk is missing. */
static void run_sfdisk(const char *opt, const char *path, struct proc_result *res) {
        char *const argv[] = {(char *) "sfdisk", (char *) opt, (char *) path, NULL};
        char *const env[] = {(char *) "LC_ALL=C", NULL};
        struct proc_opts o = {.timeout_sec = 30, .capture_stdout = true, .stdout_fd = -1, .env_add = env};
        int r = proc_run(argv, &o, res);
        if (r == -ENOENT) {
                proc_result_done(res);
                skip();
        }
        if (r < 0)
                fail_msg("sfdisk %s %s: %s: %s", opt, path, strerror(-r),
                         res->err_tail ? res->err_tail : "");
        assert_non_null(res->out);
}

/* Finds `key=` in an sfdisk --dump partition line and returns the value up
 * to the next ',' (or end of line), without surrounding quotes. */
static void dump_field(const char *line, const char *key, char *out, size_t out_size) {
        char pat[32];
        assert_true(snprintf(pat, sizeof pat, " %s=", key) < (int) sizeof pat);
        const char *p = strstr(line, pat);
        if (!p)
                fail_msg("no %s= in sfdisk line: %s", key, line);
        p += strlen(pat);
        while (*p == ' ')
                p++;
        size_t n = strcspn(p, ",\n");
        if (n >= 2 && p[0] == '"' && p[n - 1] == '"')
                p++, n -= 2;
        assert_true(n < out_size);
        memcpy(out, p, n);
        out[n] = '\0';
}

static void test_sfdisk_dump(void **state) {
        struct tmpdisk *t = *state;
        struct proc_result res = {};
        char s[GPT_GUID_STRING_MAX], v[64], want[160];

        run_sfdisk("--dump", t->path, &res);

        assert_non_null(strstr(res.out, "label: gpt\n"));
        assert_true(snprintf(want, sizeof want, "label-id: %s\n",
                             gpt_guid_to_string(&t->l.disk_guid, true, s)) < (int) sizeof want);
        assert_non_null(strstr(res.out, want));
        assert_non_null(strstr(res.out, "first-lba: 34\n"));
        assert_true(snprintf(want, sizeof want, "last-lba: %" PRIu64 "\n", t->l.disk_bytes / SECTOR - 34) <
                    (int) sizeof want);
        assert_non_null(strstr(res.out, want));
        assert_non_null(strstr(res.out, "sector-size: 512\n"));

        for (size_t i = 0; i < 2; i++) {
                const struct gpt_partition *p = &t->l.partitions[i];
                assert_true(snprintf(want, sizeof want, "%s%zu : ", t->path, i + 1) < (int) sizeof want);
                const char *line = strstr(res.out, want);
                if (!line)
                        fail_msg("no line for partition %zu in:\n%s", i + 1, res.out);
                char l[512];
                size_t n = strcspn(line, "\n");
                assert_true(n < sizeof l);
                memcpy(l, line, n);
                l[n] = '\0';

                dump_field(l, "start", v, sizeof v);
                assert_int_equal(strtoull(v, NULL, 10), p->first_lba);
                dump_field(l, "size", v, sizeof v);
                assert_int_equal(strtoull(v, NULL, 10), p->last_lba - p->first_lba + 1);
                dump_field(l, "type", v, sizeof v);
                assert_string_equal(v, gpt_guid_to_string(&p->type, true, s));
                dump_field(l, "uuid", v, sizeof v);
                assert_string_equal(v, gpt_guid_to_string(&p->uuid, true, s));
                dump_field(l, "name", v, sizeof v);
                assert_string_equal(v, p->name);
                assert_null(strstr(l, "attrs="));
        }
        assert_null(strstr(res.out, "disk.raw3 :"));
        proc_result_done(&res);
}

static void test_sfdisk_verify(void **state) {
        struct tmpdisk *t = *state;
        struct proc_result res = {};

        /* A clean table: no problems, and nothing on stderr, where libfdisk
         * reports a primary or backup table it could not use. */
        run_sfdisk("--verify", t->path, &res);
        if (!strstr(res.out, "No errors detected.") || !res.err_tail || *res.err_tail)
                fail_msg("sfdisk --verify:\n%s%s", res.out, res.err_tail ? res.err_tail : "");
        assert_non_null(strstr(res.out, "Header version: 1.0\n"));
        assert_non_null(strstr(res.out, "Using 2 out of 128 partitions."));
        proc_result_done(&res);

        /* The check can fail: one byte flipped in the backup entry array (so its
         * CRC no longer matches) and libfdisk complains; the same for the
         * primary header. gpt_write() repairs both. */
        static const struct {
                uint64_t from_end; /* 0: offset from the start */
                uint64_t offset;
                const char *complaint;
        } cases[] = {
                {33 * SECTOR, 40, "backup GPT table is corrupt"},
                {0, SECTOR + 40, "primary GPT table is corrupt"},
        };
        _cleanup_close_ int fd = open(t->path, O_RDWR | O_CLOEXEC);
        assert_true(fd >= 0);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                uint8_t b = 0x5A;
                uint64_t at = cases[i].from_end ? t->l.disk_bytes - cases[i].from_end + cases[i].offset
                                                : cases[i].offset;
                assert_int_equal(pwrite(fd, &b, 1, (off_t) at), 1);
                run_sfdisk("--verify", t->path, &res);
                assert_non_null(res.err_tail);
                if (!strstr(res.err_tail, cases[i].complaint))
                        fail_msg("expected '%s' from sfdisk --verify, got:\n%s%s", cases[i].complaint,
                                 res.out, res.err_tail);
                proc_result_done(&res);

                assert_int_equal(gpt_write(fd, &t->l), 0);
                run_sfdisk("--verify", t->path, &res);
                assert_non_null(strstr(res.out, "No errors detected."));
                assert_string_equal(res.err_tail, "");
                proc_result_done(&res);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_guid_known_answers),
                cmocka_unit_test(test_guid_from_string_rejects),
                cmocka_unit_test(test_guid_derive),
                cmocka_unit_test(test_plan_amd64),
                cmocka_unit_test(test_plan_rounding),
                cmocka_unit_test(test_plan_arches),
                cmocka_unit_test(test_plan_errors),
                cmocka_unit_test(test_render_golden),
                cmocka_unit_test(test_render_pmbr_cap),
                cmocka_unit_test(test_render_rejects),
                cmocka_unit_test(test_determinism),
                cmocka_unit_test_setup_teardown(test_write_file, tmpdisk_setup, tmpdisk_teardown),
                cmocka_unit_test_setup_teardown(test_libblkid, tmpdisk_setup, tmpdisk_teardown),
                cmocka_unit_test_setup_teardown(test_sfdisk_dump, tmpdisk_setup, tmpdisk_teardown),
                cmocka_unit_test_setup_teardown(test_sfdisk_verify, tmpdisk_setup, tmpdisk_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
