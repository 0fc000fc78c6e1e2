/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* SHA-256 through OpenSSL's EVP interface. */

#define SHA256_HEX_LEN 64

struct sha256;

int sha256_new(struct sha256 **ret);
int sha256_update(struct sha256 *h, const void *data, size_t size);
/* Finalises; `out` gets 64 lowercase hex digits and a NUL. The context may not
 * be updated again. `raw` (may be NULL) gets the 32 bytes. */
int sha256_final(struct sha256 *h, char out[SHA256_HEX_LEN + 1], uint8_t raw[32]);
void sha256_free(struct sha256 *h);
static inline void sha256_freep(struct sha256 **h) {
        if (*h)
                sha256_free(*h);
}
#define _cleanup_sha256_ __attribute__((cleanup(sha256_freep)))

/* `size` bytes as 2*size lowercase hex digits and a NUL into `out`. */
void hex_encode(const void *data, size_t size, char *out);

int sha256_buffer(const void *data, size_t size, char out[SHA256_HEX_LEN + 1]);
int sha256_file(const char *path, char out[SHA256_HEX_LEN + 1]);
