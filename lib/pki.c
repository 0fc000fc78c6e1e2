/* SPDX-License-Identifier: MIT */
#include "pki.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "digest.h"
#include "macro.h"
#include "strv.h"

static void X509_freep(X509 **x) {
        X509_free(*x);
}
static void EVP_PKEY_freep(EVP_PKEY **k) {
        EVP_PKEY_free(*k);
}
static void BIO_freep(BIO **b) {
        BIO_free(*b);
}
#define _cleanup_x509_ _cleanup_(X509_freep)
#define _cleanup_pkey_ _cleanup_(EVP_PKEY_freep)
#define _cleanup_bio_ _cleanup_(BIO_freep)

static int real_bytes(void *userdata, unsigned char *buf, size_t n) {
        (void) userdata;
        if (n > INT_MAX)
                return -EINVAL;
        /* The private DRBG: what OpenSSL feeds its own key generation. */
        int ok = RAND_priv_bytes(buf, (int) n);
        ERR_clear_error();
        return ok == 1 ? 0 : -EIO;
}

const struct pki_random pki_random_real = {.bytes = real_bytes};

static const struct pki_random *rnd_or_real(const struct pki_random *rnd) {
        return rnd && rnd->bytes ? rnd : &pki_random_real;
}

int pki_token_new(const struct pki_random *rnd, char ret[PKI_TOKEN_LEN + 1]) {
        static const char chars[] = "0123456789abcdefghijklmnopqrstuvwxyz";
        rnd = rnd_or_real(rnd);
        char t[PKI_TOKEN_LEN + 1];
        unsigned char buf[32];
        size_t have = 0, used = 0;
        int r = 0;
        for (size_t i = 0; i < PKI_TOKEN_LEN && r >= 0; i++) {
                if (i == 6) {
                        t[i] = '.';
                        continue;
                }
                /* Uniform over the 36: 252 = 7 * 36, bytes above are drawn again. */
                for (;;) {
                        if (used == have) {
                                r = rnd->bytes(rnd->userdata, buf, sizeof buf);
                                if (r < 0)
                                        break;
                                have = sizeof buf;
                                used = 0;
                        }
                        unsigned char b = buf[used++];
                        if (b < 252) {
                                t[i] = chars[b % 36];
                                break;
                        }
                }
        }
        t[PKI_TOKEN_LEN] = '\0';
        if (r >= 0)
                memcpy(ret, t, sizeof t);
        explicit_bzero(t, sizeof t);
        explicit_bzero(buf, sizeof buf);
        return r;
}

int pki_certificate_key_new(const struct pki_random *rnd, char ret[PKI_CERT_KEY_LEN + 1]) {
        rnd = rnd_or_real(rnd);
        unsigned char buf[PKI_CERT_KEY_LEN / 2];
        int r = rnd->bytes(rnd->userdata, buf, sizeof buf);
        if (r >= 0)
                hex_encode(buf, sizeof buf, ret);
        explicit_bzero(buf, sizeof buf);
        return r;
}

void pki_pair_done(struct pki_pair *p) {
        if (!p)
                return;
        free(p->cert_pem);
        erase_free(p->key_pem);
        *p = (struct pki_pair){};
}

char *pki_base64(const void *data, size_t size) {
        if (size > INT_MAX / 2)
                return NULL;
        char *out = malloc(4 * ((size + 2) / 3) + 1);
        if (!out)
                return NULL;
        EVP_EncodeBlock((unsigned char *) out, data, (int) size);
        return out;
}

/* ---- OpenSSL plumbing ------------------------------------------------------ */

/* A PEM string from a memory BIO filled by `write`. */
static int bio_string(BIO *b, char **ret) {
        char *p = NULL;
        long n = BIO_get_mem_data(b, &p);
        if (n <= 0 || !p)
                return -EIO;
        char *s = strndup(p, (size_t) n);
        explicit_bzero(p, (size_t) n);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static int cert_to_pem(X509 *x, char **ret) {
        _cleanup_bio_ BIO *b = BIO_new(BIO_s_mem());
        if (!b)
                return -ENOMEM;
        if (PEM_write_bio_X509(b, x) != 1)
                return -EIO;
        return bio_string(b, ret);
}

static int key_to_pem(EVP_PKEY *k, char **ret) {
        _cleanup_bio_ BIO *b = BIO_new(BIO_s_secmem());
        if (!b)
                return -ENOMEM;
        if (PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) != 1)
                return -EIO;
        return bio_string(b, ret);
}

/* A positive random serial of 63 bits (kubeadm: a random int64), never 0. */
static int set_serial(X509 *x, const struct pki_random *rnd) {
        unsigned char b[8];
        int r = rnd->bytes(rnd->userdata, b, sizeof b);
        if (r < 0)
                return r;
        b[0] &= 0x7f;
        uint64_t v = 0;
        for (size_t i = 0; i < sizeof b; i++)
                v = v << 8 | b[i];
        if (v == 0)
                v = 1;
        ASN1_INTEGER *s = X509_get_serialNumber(x);
        return ASN1_INTEGER_set_uint64(s, v) == 1 ? 0 : -EIO;
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value) {
        X509V3_CTX ctx;
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
        if (!ext)
                return -EIO;
        int ok = X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
        return ok == 1 ? 0 : -EIO;
}

static int set_name(X509_NAME *n, const char *organization, const char *common_name) {
        if (organization && X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8,
                                                       (const unsigned char *) organization, -1, -1, 0) != 1)
                return -EIO;
        if (X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *) common_name, -1, -1,
                                       0) != 1)
                return -EIO;
        return 0;
}

static int new_rsa_key(EVP_PKEY **ret) {
        EVP_PKEY *k = EVP_RSA_gen(PKI_RSA_BITS);
        if (!k)
                return -EIO;
        *ret = k;
        return 0;
}

/* Fills in everything but the extensions and signs nothing. */
static int cert_base(X509 *x, const struct pki_random *rnd, EVP_PKEY *key, X509_NAME *issuer,
                     const char *organization, const char *common_name, long long not_before,
                     long long not_after) {
        if (X509_set_version(x, 2) != 1) /* v3 */
                return -EIO;
        int r = set_serial(x, rnd);
        if (r < 0)
                return r;
        if (!ASN1_TIME_set(X509_getm_notBefore(x), (time_t) not_before) ||
            !ASN1_TIME_set(X509_getm_notAfter(x), (time_t) not_after))
                return -EIO;
        if ((r = set_name(X509_get_subject_name(x), organization, common_name)) < 0)
                return r;
        if (X509_set_issuer_name(x, issuer ? issuer : X509_get_subject_name(x)) != 1)
                return -EIO;
        return X509_set_pubkey(x, key) == 1 ? 0 : -EIO;
}

_printf_(3, 4) static int fail_openssl(int r, char **ret_error, const char *fmt, ...) {
        unsigned long e = ERR_get_error();
        char buf[256] = "";
        if (e)
                ERR_error_string_n(e, buf, sizeof buf);
        ERR_clear_error();
        if (r == -ENOMEM || !ret_error)
                return r;
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *what = vstrdupf(fmt, ap);
        va_end(ap);
        return replace_error(ret_error, r, "%s%s%s", what ? what : "OpenSSL failed", *buf ? ": " : "", buf);
}

struct ext {
        int nid;
        const char *value;
};

/* Adds the extensions, signs with `signer` (SHA-256) and hands out the PEMs
 * of the certificate and of `key`. */
static int finish_cert(X509 *x, X509 *issuer, EVP_PKEY *key, EVP_PKEY *signer, const struct ext *exts,
                       size_t n_exts, const char *what, struct pki_pair *ret, char **ret_error) {
        int r = 0;
        for (size_t i = 0; i < n_exts && r >= 0; i++)
                r = add_ext(x, issuer, exts[i].nid, exts[i].value);
        if (r < 0)
                return fail_openssl(r, ret_error, "cannot add the extensions of %s", what);
        if (X509_sign(x, signer, EVP_sha256()) <= 0)
                return fail_openssl(-EIO, ret_error, "cannot sign %s", what);
        struct pki_pair p = {};
        r = cert_to_pem(x, &p.cert_pem);
        if (r >= 0)
                r = key_to_pem(key, &p.key_pem);
        if (r < 0) {
                pki_pair_done(&p);
                return fail_openssl(r, ret_error, "cannot encode %s", what);
        }
        *ret = p;
        return 0;
}

int pki_ca_new(const struct pki_random *rnd, long long now, struct pki_pair *ret, char **ret_error) {
        rnd = rnd_or_real(rnd);
        _cleanup_pkey_ EVP_PKEY *key = NULL;
        int r = new_rsa_key(&key);
        if (r < 0)
                return fail_openssl(r, ret_error, "cannot generate the CA's RSA key");
        _cleanup_x509_ X509 *x = X509_new();
        if (!x)
                return -ENOMEM;
        r = cert_base(x, rnd, key, NULL, NULL, "kubernetes", now - PKI_BACKDATE_SEC,
                      now + (long long) PKI_CA_DAYS * 86400);
        if (r < 0)
                return fail_openssl(r, ret_error, "cannot fill in the CA certificate");
        static const struct ext exts[] = {
                {NID_basic_constraints, "critical,CA:TRUE"},
                {NID_key_usage, "critical,digitalSignature,keyEncipherment,keyCertSign"},
                {NID_subject_key_identifier, "hash"},
        };
        return finish_cert(x, x, key, key, exts, ELEMENTSOF(exts), "the CA certificate", ret, ret_error);
}

static int read_pair(const struct pki_pair *pair, X509 **ret_cert, EVP_PKEY **ret_key) {
        if (!pair->cert_pem || !pair->key_pem)
                return -EBADMSG;
        _cleanup_bio_ BIO *cb = BIO_new_mem_buf(pair->cert_pem, -1);
        _cleanup_bio_ BIO *kb = BIO_new_mem_buf(pair->key_pem, -1);
        if (!cb || !kb)
                return -ENOMEM;
        _cleanup_x509_ X509 *x = PEM_read_bio_X509(cb, NULL, NULL, NULL);
        _cleanup_pkey_ EVP_PKEY *k = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
        ERR_clear_error();
        if (!x || !k || X509_check_private_key(x, k) != 1) {
                ERR_clear_error();
                return -EBADMSG;
        }
        *ret_cert = TAKE_PTR(x);
        *ret_key = TAKE_PTR(k);
        return 0;
}

/* "IP:a,IP:b,DNS:c": subjectAltName's configuration syntax. */
static int append_sans(char **sans, const char *type, char *const *items) {
        for (char *const *i = items; i && *i; i++) {
                char *t = strdupf("%s%s%s:%s", *sans ? *sans : "", *sans ? "," : "", type, *i);
                if (!t)
                        return -ENOMEM;
                free(*sans);
                *sans = t;
        }
        return 0;
}

int pki_leaf_cert_new(const struct pki_pair *ca, const struct pki_leaf *leaf, const struct pki_random *rnd,
                      long long now, struct pki_pair *ret, char **ret_error) {
        rnd = rnd_or_real(rnd);
        _cleanup_x509_ X509 *ca_cert = NULL;
        _cleanup_pkey_ EVP_PKEY *ca_key = NULL;
        int r = read_pair(ca, &ca_cert, &ca_key);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return replace_error(ret_error, r,
                                     "the CA certificate and key do not parse or do not match");
        _cleanup_free_ char *sans = NULL;
        if ((r = append_sans(&sans, "IP", leaf->ip_sans)) < 0 ||
            (r = append_sans(&sans, "DNS", leaf->dns_sans)) < 0)
                return r;

        _cleanup_pkey_ EVP_PKEY *key = NULL;
        r = new_rsa_key(&key);
        if (r < 0)
                return fail_openssl(r, ret_error, "cannot generate an RSA key");
        _cleanup_x509_ X509 *x = X509_new();
        if (!x)
                return -ENOMEM;
        /* kubeadm: NotBefore is the CA's, NotAfter a year from now. */
        time_t nb = 0;
        struct tm tm;
        if (ASN1_TIME_to_tm(X509_get0_notBefore(ca_cert), &tm) == 1)
                nb = timegm(&tm);
        r = cert_base(x, rnd, key, X509_get_subject_name(ca_cert), leaf->organization, leaf->common_name,
                      nb > 0 ? (long long) nb : now - PKI_BACKDATE_SEC,
                      now + (long long) PKI_CLIENT_DAYS * 86400);
        if (r < 0)
                return fail_openssl(r, ret_error, "cannot fill in the certificate");
        const struct ext exts[] = {
                {NID_basic_constraints, "critical,CA:FALSE"},
                {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
                {NID_ext_key_usage, leaf->server ? "serverAuth" : "clientAuth"},
                {NID_authority_key_identifier, "keyid:always"},
                {NID_subject_alt_name, sans},
        };
        return finish_cert(x, ca_cert, key, ca_key, exts, sans ? ELEMENTSOF(exts) : ELEMENTSOF(exts) - 1,
                           leaf->server ? "the server certificate" : "the client certificate", ret,
                           ret_error);
}

int pki_client_cert_new(const struct pki_pair *ca, const char *common_name, const char *organization,
                        const struct pki_random *rnd, long long now, struct pki_pair *ret,
                        char **ret_error) {
        struct pki_leaf leaf = {.common_name = common_name, .organization = organization};
        return pki_leaf_cert_new(ca, &leaf, rnd, now, ret, ret_error);
}
