/* SPDX-License-Identifier: MIT */
#include "cert.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "digest.h"
#include "macro.h"
#include "strv.h"

static void X509_freep(X509 **x) {
        X509_free(*x); /* accepts NULL */
}
static void EVP_PKEY_freep(EVP_PKEY **k) {
        EVP_PKEY_free(*k);
}
static void BIO_freep(BIO **b) {
        BIO_free(*b);
}
static void BASIC_CONSTRAINTS_freep(BASIC_CONSTRAINTS **b) {
        BASIC_CONSTRAINTS_free(*b);
}
#define _cleanup_x509_ _cleanup_(X509_freep)
#define _cleanup_pkey_ _cleanup_(EVP_PKEY_freep)
#define _cleanup_bio_ _cleanup_(BIO_freep)

/* Error messages replace *ret_error (when asked for) through replace_error(). They
 * never quote input bytes: they name the thing and what was expected. */

/* Never prompt on a terminal for a passphrase: encrypted keys just fail. */
static int no_password_cb(char *buf, int size, int rwflag, void *u) {
        (void) buf;
        (void) size;
        (void) rwflag;
        (void) u;
        return -1;
}

static int mem_bio(const void *data, size_t size, BIO **ret) {
        if (!data || size == 0)
                return -EBADMSG;
        if (size > CERT_PEM_MAX || size > INT_MAX)
                return -EFBIG;
        BIO *b = BIO_new_mem_buf(data, (int) size);
        if (!b)
                return -ENOMEM;
        *ret = b;
        return 0;
}

static int read_cert_pem(const char *pem, size_t size, X509 **ret) {
        _cleanup_bio_ BIO *b = NULL;
        int r = mem_bio(pem, size, &b);
        if (r < 0)
                return r;
        X509 *x = PEM_read_bio_X509(b, NULL, no_password_cb, NULL);
        ERR_clear_error();
        if (!x)
                return -EBADMSG;
        *ret = x;
        return 0;
}

static int spki_hash(X509 *x, char out[CERT_HASH_STRING_MAX]) {
        X509_PUBKEY *pk = X509_get_X509_PUBKEY(x);
        if (!pk)
                return -EBADMSG;
        unsigned char *der = NULL;
        int len = i2d_X509_PUBKEY(pk, &der);
        if (len <= 0) {
                ERR_clear_error();
                return -EBADMSG;
        }
        char hex[SHA256_HEX_LEN + 1];
        int r = sha256_buffer(der, (size_t) len, hex);
        OPENSSL_free(der);
        if (r < 0)
                return r;
        memcpy(out, "sha256:", 7);
        memcpy(out + 7, hex, SHA256_HEX_LEN + 1);
        return 0;
}

int cert_spki_hash_pem(const char *pem, size_t size, char out[CERT_HASH_STRING_MAX], char **ret_error) {
        _cleanup_x509_ X509 *x = NULL;
        int r = read_cert_pem(pem, size, &x);
        if (r == -EFBIG) {
                replace_error(ret_error, 0, "certificate: larger than %u bytes", CERT_PEM_MAX);
                return -EBADMSG;
        }
        if (r < 0) {
                replace_error(ret_error, 0, "certificate: not a PEM X.509 certificate");
                return r == -ENOMEM ? r : -EBADMSG;
        }
        char h[CERT_HASH_STRING_MAX];
        r = spki_hash(x, h);
        if (r < 0) {
                replace_error(ret_error, 0, "certificate: cannot encode its public key");
                return r;
        }
        memcpy(out, h, sizeof h);
        return 0;
}

int cert_hash_string_valid(const char *s) {
        if (!s || strncmp(s, "sha256:", 7) != 0)
                return 0;
        s += 7;
        size_t n = 0;
        for (; s[n]; n++) {
                char c = s[n];
                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
                        return 0;
        }
        return n == SHA256_HEX_LEN;
}

/* ASN1_TIME as text ("Jan  1 00:00:00 2030 GMT"); "?" when it cannot. */
static void asn1_time_string(const ASN1_TIME *t, char *buf, size_t size) {
        snprintf(buf, size, "?");
        BIO *b = BIO_new(BIO_s_mem());
        if (!b)
                return;
        if (ASN1_TIME_print(b, t) == 1) {
                char *p = NULL;
                long n = BIO_get_mem_data(b, &p);
                if (n > 0 && p)
                        snprintf(buf, size, "%.*s", (int) n, p);
        }
        BIO_free(b);
        ERR_clear_error();
}

int cert_check_ca_pair(const char *cert_pem, size_t cert_size, const char *key_pem, size_t key_size,
                       long long now, char **ret_error) {
        _cleanup_x509_ X509 *x = NULL;
        int r = read_cert_pem(cert_pem, cert_size, &x);
        if (r == -ENOMEM)
                return r;
        if (r == -EFBIG) {
                replace_error(ret_error, 0, "CA certificate: larger than %u bytes", CERT_PEM_MAX);
                return -EBADMSG;
        }
        if (r < 0) {
                replace_error(ret_error, 0, "CA certificate: not a PEM X.509 certificate");
                return -EBADMSG;
        }

        int crit = 0;
        _cleanup_(BASIC_CONSTRAINTS_freep) BASIC_CONSTRAINTS *bc =
                X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
        ERR_clear_error();
        if (!bc || !bc->ca) {
                replace_error(ret_error, 0, "CA certificate: not a CA (basicConstraints CA:TRUE expected)");
                return -EBADMSG;
        }
        /* 1: basicConstraints CA:TRUE and, when keyUsage is present, keyCertSign. */
        if (X509_check_ca(x) != 1) {
                replace_error(ret_error, 0,
                              "CA certificate: keyUsage does not allow certificate signing "
                              "(keyCertSign expected)");
                return -EBADMSG;
        }

        time_t t = now ? (time_t) now : time(NULL);
        char when[64];
        int c = X509_cmp_time(X509_get0_notBefore(x), &t);
        if (c == 0) {
                replace_error(ret_error, 0, "CA certificate: unreadable notBefore time");
                return -EBADMSG;
        }
        if (c > 0) {
                asn1_time_string(X509_get0_notBefore(x), when, sizeof when);
                replace_error(ret_error, 0, "CA certificate: not valid before %s (check the clock)", when);
                return -EBADMSG;
        }
        c = X509_cmp_time(X509_get0_notAfter(x), &t);
        if (c == 0) {
                replace_error(ret_error, 0, "CA certificate: unreadable notAfter time");
                return -EBADMSG;
        }
        if (c < 0) {
                asn1_time_string(X509_get0_notAfter(x), when, sizeof when);
                replace_error(ret_error, 0, "CA certificate: expired on %s", when);
                return -EBADMSG;
        }

        _cleanup_bio_ BIO *kb = NULL;
        r = mem_bio(key_pem, key_size, &kb);
        if (r == -ENOMEM)
                return r;
        if (r == -EFBIG) {
                replace_error(ret_error, 0, "CA key: larger than %u bytes", CERT_PEM_MAX);
                return -EBADMSG;
        }
        if (r < 0) {
                replace_error(ret_error, 0, "CA key: empty");
                return -EBADMSG;
        }
        /* PEM_read_bio_PrivateKey takes "PRIVATE KEY" (PKCS#8), "RSA PRIVATE
         * KEY" (PKCS#1) and "EC PRIVATE KEY" (SEC1), skipping other blocks
         * such as "EC PARAMETERS". OpenSSL's own error text is not passed on. */
        _cleanup_pkey_ EVP_PKEY *key = PEM_read_bio_PrivateKey(kb, NULL, no_password_cb, NULL);
        ERR_clear_error();
        if (!key) {
                replace_error(ret_error, 0,
                              "CA key: not an unencrypted PEM private key "
                              "(PKCS#8, PKCS#1 RSA or SEC1 EC expected)");
                return -EBADMSG;
        }

        EVP_PKEY *pub = X509_get0_pubkey(x);
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
        int eq = pub ? EVP_PKEY_eq(pub, key) : -1;
#else
        int eq = pub ? EVP_PKEY_cmp(pub, key) : -1;
#endif
        ERR_clear_error();
        if (eq != 1) {
                replace_error(ret_error, 0, "CA key: does not belong to the CA certificate");
                return -EBADMSG;
        }
        /* The public halves match; is the private half consistent with them
         * (a damaged private exponent or prime still parses)? */
        EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new(key, NULL);
        if (!pctx)
                return -ENOMEM;
        int ok = EVP_PKEY_check(pctx);
        EVP_PKEY_CTX_free(pctx);
        ERR_clear_error();
        if (ok != 1) {
                replace_error(ret_error, 0, "CA key: damaged (its private part is inconsistent)");
                return -EBADMSG;
        }
        return 0;
}

/* Is `hash` ("sha256:<64 lowercase hex>") one of the valid pins? */
static bool pinned(const char *hash, char *const *pins) {
        for (char *const *p = pins; p && *p; p++)
                if (cert_hash_string_valid(*p) && strcasecmp(*p + 7, hash + 7) == 0)
                        return true;
        return false;
}

static void free_certs(X509 **certs, size_t n) {
        for (size_t i = 0; i < n; i++)
                X509_free(certs[i]);
}

/* The decision over parsed certificates; certs[0] is the leaf. */
static int check_chain(X509 *const *certs, size_t n, X509 *pinned_ca, char *const *pins, char **ret_error) {
        size_t n_pins = 0;
        for (char *const *p = pins; p && *p; p++)
                if (cert_hash_string_valid(*p))
                        n_pins++;
        if (n_pins == 0) {
                replace_error(ret_error, 0, "no valid pinned CA hash (sha256:<64 hex> expected)");
                return -EINVAL;
        }
        if (n == 0 || n > CERT_CHAIN_MAX) {
                replace_error(ret_error, 0, "peer chain: %zu certificates (1 to %d expected)", n,
                              CERT_CHAIN_MAX);
                return -EINVAL;
        }

        X509 *leaf = certs[0];
        /* Candidates: every certificate of the chain (the leaf signs itself
         * only when self-signed), then the pinned CA. */
        X509 *cand[CERT_CHAIN_MAX + 1];
        size_t n_cand = 0;
        for (size_t i = 0; i < n; i++)
                cand[n_cand++] = certs[i];
        if (pinned_ca)
                cand[n_cand++] = pinned_ca;

        char seen[(CERT_HASH_STRING_MAX + 2) * (CERT_CHAIN_MAX + 1) + 1] = "";
        size_t seen_len = 0;
        bool pin_found = false;
        for (size_t i = 0; i < n_cand; i++) {
                char h[CERT_HASH_STRING_MAX];
                if (spki_hash(cand[i], h) < 0) {
                        replace_error(ret_error, 0,
                                      "peer chain: certificate %zu has no encodable public key", i);
                        return -EBADMSG;
                }
                int k = snprintf(seen + seen_len, sizeof seen - seen_len, "%s%s", seen_len ? ", " : "", h);
                if (k > 0 && (size_t) k < sizeof seen - seen_len)
                        seen_len += (size_t) k;
                if (!pinned(h, pins))
                        continue;
                pin_found = true;
                EVP_PKEY *pub = X509_get0_pubkey(cand[i]);
                int v = pub ? X509_verify(leaf, pub) : -1;
                ERR_clear_error();
                if (v == 1)
                        return 0;
        }

        char subject[256] = "?";
        X509_NAME_oneline(X509_get_subject_name(leaf), subject, sizeof subject);
        ERR_clear_error();
        if (pin_found)
                replace_error(ret_error, 0,
                              "server certificate '%s' is not signed by the pinned CA (keys seen: %s)",
                              subject, seen);
        else
                replace_error(ret_error, 0, "no pinned CA key in the server's chain (keys seen: %s)", seen);
        return -EPERM;
}

static int read_pinned_ca(const char *pem, size_t size, X509 **ret, char **ret_error) {
        if (!pem) {
                *ret = NULL;
                return 0;
        }
        int r = read_cert_pem(pem, size, ret);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                replace_error(ret_error, 0, "pinned CA: not a PEM X.509 certificate");
                return -EBADMSG;
        }
        return 0;
}

int cert_chain_check_pins_der(const unsigned char *const *der, const size_t *der_size, size_t n,
                              char *const *pinned_hashes, const char *pinned_ca_pem, size_t pinned_ca_size,
                              char **ret_error) {
        if (n == 0 || n > CERT_CHAIN_MAX || !der || !der_size) {
                replace_error(ret_error, 0, "peer chain: %zu certificates (1 to %d expected)", n,
                              CERT_CHAIN_MAX);
                return -EINVAL;
        }
        X509 *certs[CERT_CHAIN_MAX] = {NULL};
        size_t n_certs = 0;
        X509 *ca = NULL;
        int r = 0;
        for (size_t i = 0; i < n; i++) {
                if (!der[i] || der_size[i] == 0 || der_size[i] > CERT_PEM_MAX) {
                        replace_error(ret_error, 0, "peer chain: certificate %zu is empty or too large", i);
                        r = -EBADMSG;
                        goto finish;
                }
                const unsigned char *p = der[i];
                X509 *x = d2i_X509(NULL, &p, (long) der_size[i]);
                ERR_clear_error();
                if (!x || p != der[i] + der_size[i]) {
                        X509_free(x);
                        replace_error(ret_error, 0, "peer chain: certificate %zu is not DER X.509", i);
                        r = -EBADMSG;
                        goto finish;
                }
                certs[n_certs++] = x;
        }

        r = read_pinned_ca(pinned_ca_pem, pinned_ca_size, &ca, ret_error);
        if (r >= 0)
                r = check_chain(certs, n_certs, ca, pinned_hashes, ret_error);
finish:
        X509_free(ca);
        free_certs(certs, n_certs);
        return r;
}

int cert_chain_check_pins_pem(const char *chain_pem, size_t chain_size, char *const *pinned_hashes,
                              const char *pinned_ca_pem, size_t pinned_ca_size, char **ret_error) {
        _cleanup_bio_ BIO *b = NULL;
        int r = mem_bio(chain_pem, chain_size, &b);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                replace_error(ret_error, 0, "peer chain: empty or larger than %u bytes", CERT_PEM_MAX);
                return -EBADMSG;
        }

        X509 *certs[CERT_CHAIN_MAX] = {NULL};
        size_t n = 0;
        for (;;) {
                X509 *x = PEM_read_bio_X509(b, NULL, no_password_cb, NULL);
                if (!x)
                        break;
                if (n == CERT_CHAIN_MAX) {
                        X509_free(x);
                        free_certs(certs, n);
                        ERR_clear_error();
                        replace_error(ret_error, 0, "peer chain: more than %d certificates", CERT_CHAIN_MAX);
                        return -EINVAL;
                }
                certs[n++] = x;
        }
        /* The loop ends at "no start line" after the last certificate;
         * anything else is a damaged certificate. */
        unsigned long e = ERR_peek_last_error();
        bool clean_end =
                n > 0 &&
                (e == 0 || (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE));
        ERR_clear_error();
        if (!clean_end) {
                free_certs(certs, n);
                replace_error(ret_error, 0, "peer chain: not PEM X.509 certificates");
                return -EBADMSG;
        }

        _cleanup_x509_ X509 *ca = NULL;
        r = read_pinned_ca(pinned_ca_pem, pinned_ca_size, &ca, ret_error);
        if (r >= 0)
                r = check_chain(certs, n, ca, pinned_hashes, ret_error);
        free_certs(certs, n);
        return r;
}
