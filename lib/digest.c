/* SPDX-License-Identifier: MIT */
#include "digest.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <unistd.h>

#include "macro.h"

struct sha256 {
        EVP_MD_CTX *ctx;
};

void hex_encode(const void *data, size_t size, char *out) {
        static const char hex[] = "0123456789abcdef";
        const uint8_t *p = data;
        for (size_t i = 0; i < size; i++) {
                out[2 * i] = hex[p[i] >> 4];
                out[2 * i + 1] = hex[p[i] & 15];
        }
        out[2 * size] = '\0';
}

int sha256_new(struct sha256 **ret) {
        struct sha256 *h = calloc(1, sizeof *h);
        if (!h)
                return -ENOMEM;
        h->ctx = EVP_MD_CTX_new();
        if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
                sha256_free(h);
                return -EIO;
        }
        *ret = h;
        return 0;
}

int sha256_update(struct sha256 *h, const void *data, size_t size) {
        return EVP_DigestUpdate(h->ctx, data, size) == 1 ? 0 : -EIO;
}

int sha256_final(struct sha256 *h, char out[SHA256_HEX_LEN + 1], uint8_t raw[32]) {
        uint8_t md[EVP_MAX_MD_SIZE];
        unsigned len = 0;
        if (EVP_DigestFinal_ex(h->ctx, md, &len) != 1 || len != 32)
                return -EIO;
        hex_encode(md, 32, out);
        if (raw)
                for (unsigned i = 0; i < 32; i++)
                        raw[i] = md[i];
        return 0;
}

void sha256_free(struct sha256 *h) {
        if (!h)
                return;
        EVP_MD_CTX_free(h->ctx);
        free(h);
}

int sha256_buffer(const void *data, size_t size, char out[SHA256_HEX_LEN + 1]) {
        _cleanup_sha256_ struct sha256 *h = NULL;
        int r = sha256_new(&h);
        if (r < 0)
                return r;
        r = sha256_update(h, data, size);
        if (r < 0)
                return r;
        return sha256_final(h, out, NULL);
}

int sha256_file(const char *path, char out[SHA256_HEX_LEN + 1]) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        _cleanup_sha256_ struct sha256 *h = NULL;
        int r = sha256_new(&h);
        if (r < 0)
                return r;
        _cleanup_free_ char *buf = malloc(1 << 20);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n = read(fd, buf, 1 << 20);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        break;
                r = sha256_update(h, buf, (size_t) n);
                if (r < 0)
                        return r;
        }
        return sha256_final(h, out, NULL);
}
