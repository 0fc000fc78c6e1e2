/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cert.h"
#include "macro.h"
#include "nodeconfig.h"
#include "pki.h"
#include "strv.h"

#include "testutil.h"

#define NOW 1767225600LL /* 2026-01-01T00:00:00Z */

/* ---- random sources --------------------------------------------------------- */

/* A scripted source: hands out `script` cyclically and counts what it gave. */
struct scripted {
        const unsigned char *script;
        size_t len, pos, calls, given;
};

static int scripted_bytes(void *userdata, unsigned char *buf, size_t n) {
        struct scripted *s = userdata;
        s->calls++;
        for (size_t i = 0; i < n; i++)
                buf[i] = s->script[s->pos++ % s->len];
        s->given += n;
        return 0;
}

static int failing_bytes(void *userdata, unsigned char *buf, size_t n) {
        (void) userdata;
        (void) buf;
        (void) n;
        return -EIO;
}

static void test_token_from_source(void **unused) {
        (void) unused;
        /* 0..35 map to 0-9a-z; 252..255 are drawn again (would bias the modulo). */
        static const unsigned char script[] = {0,   1,   2,  3,   4,   5,   252, 253, 254, 255, 10,
                                               35,  36,  71, 72,  107, 108, 143, 144, 179, 180, 215,
                                               216, 251, 9,  100, 200, 250, 11,  12,  13,  14};
        struct scripted s = {.script = script, .len = sizeof script};
        struct pki_random rnd = {.bytes = scripted_bytes, .userdata = &s};
        char t[PKI_TOKEN_LEN + 1];
        assert_int_equal(pki_token_new(&rnd, t), 0);
        /* 36 -> 0, 71 -> z, 72 -> 0, ...: uniform over the 36 per 7 draws. */
        assert_string_equal(t, "012345.az0z0z0z0z0z0z9s");
        assert_true(nodeconfig_token_valid(t));
        assert_true(s.calls >= 1);

        /* Every token comes from the source: another script, another token. */
        static const unsigned char other[] = {7};
        struct scripted s2 = {.script = other, .len = 1};
        rnd.userdata = &s2;
        assert_int_equal(pki_token_new(&rnd, t), 0);
        assert_string_equal(t, "777777.7777777777777777");

        struct pki_random bad = {.bytes = failing_bytes};
        memcpy(t, "untouched", 10);
        assert_int_equal(pki_token_new(&bad, t), -EIO);
        assert_string_equal(t, "untouched");
}

static void test_token_real_source(void **unused) {
        (void) unused;
        char seen[64][PKI_TOKEN_LEN + 1];
        unsigned counts[36] = {0};
        for (size_t i = 0; i < ELEMENTSOF(seen); i++) {
                assert_int_equal(pki_token_new(NULL, seen[i]), 0);
                assert_true(nodeconfig_token_valid(seen[i]));
                for (size_t j = 0; j < i; j++)
                        assert_string_not_equal(seen[i], seen[j]);
                for (const char *p = seen[i]; *p; p++)
                        if (*p != '.')
                                counts[*p <= '9' ? *p - '0' : *p - 'a' + 10]++;
        }
        /* 64 * 22 = 1408 characters over 36 symbols (about 39 each): every
         * symbol shows up (a constant or narrowed source would not). */
        for (size_t i = 0; i < 36; i++)
                assert_true(counts[i] > 5);
}

static void test_certificate_key(void **unused) {
        (void) unused;
        static const unsigned char script[] = {0x00, 0x01, 0xab, 0xff};
        struct scripted s = {.script = script, .len = sizeof script};
        struct pki_random rnd = {.bytes = scripted_bytes, .userdata = &s};
        char k[PKI_CERT_KEY_LEN + 1];
        assert_int_equal(pki_certificate_key_new(&rnd, k), 0);
        assert_string_equal(k, "0001abff0001abff0001abff0001abff0001abff0001abff0001abff0001abff");
        assert_int_equal(s.given, 32);
        assert_true(nodeconfig_certificate_key_valid(k));

        char k2[PKI_CERT_KEY_LEN + 1];
        assert_int_equal(pki_certificate_key_new(NULL, k), 0);
        assert_int_equal(pki_certificate_key_new(NULL, k2), 0);
        assert_true(nodeconfig_certificate_key_valid(k));
        assert_string_not_equal(k, k2);
}

/* ---- certificates, checked with OpenSSL ------------------------------------- */

static X509 *read_cert(const char *pem) {
        BIO *b = BIO_new_mem_buf(pem, -1);
        assert_non_null(b);
        X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
        BIO_free(b);
        assert_non_null(x);
        return x;
}

static EVP_PKEY *read_key(const char *pem) {
        BIO *b = BIO_new_mem_buf(pem, -1);
        assert_non_null(b);
        EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
        BIO_free(b);
        assert_non_null(k);
        return k;
}

static void name_entry(X509_NAME *n, int nid, char *buf, size_t size) {
        buf[0] = '\0';
        assert_true(X509_NAME_get_text_by_NID(n, nid, buf, (int) size) > 0);
}

static long long asn1_seconds(const ASN1_TIME *t) {
        struct tm tm;
        assert_int_equal(ASN1_TIME_to_tm(t, &tm), 1);
        return (long long) timegm(&tm);
}

/* The chain verified the way a TLS peer would, at `at`, for `purpose`. */
static int verify_chain(X509 *ca, X509 *leaf, long long at, int purpose) {
        X509_STORE *store = X509_STORE_new();
        assert_non_null(store);
        assert_int_equal(X509_STORE_add_cert(store, ca), 1);
        X509_STORE_CTX *ctx = X509_STORE_CTX_new();
        assert_non_null(ctx);
        assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, NULL), 1);
        X509_STORE_CTX_set_time(ctx, 0, (time_t) at);
        if (purpose)
                assert_int_equal(X509_STORE_CTX_set_purpose(ctx, purpose), 1);
        int ok = X509_verify_cert(ctx);
        int err = X509_STORE_CTX_get_error(ctx);
        X509_STORE_CTX_free(ctx);
        X509_STORE_free(store);
        ERR_clear_error();
        return ok == 1 ? 0 : err;
}

static struct pki_pair ca;
static X509 *ca_x;

static int group_setup(void **unused) {
        (void) unused;
        if (pki_ca_new(NULL, NOW, &ca, NULL) < 0)
                return -1;
        ca_x = read_cert(ca.cert_pem);
        return 0;
}

static int group_teardown(void **unused) {
        (void) unused;
        X509_free(ca_x);
        pki_pair_done(&ca);
        return 0;
}

static void test_ca(void **unused) {
        (void) unused;
        char buf[256];
        /* Subject = issuer = CN=kubernetes, self-signed. */
        name_entry(X509_get_subject_name(ca_x), NID_commonName, buf, sizeof buf);
        assert_string_equal(buf, "kubernetes");
        assert_int_equal(X509_NAME_cmp(X509_get_subject_name(ca_x), X509_get_issuer_name(ca_x)), 0);
        EVP_PKEY *pub = X509_get0_pubkey(ca_x);
        assert_int_equal(X509_verify(ca_x, pub), 1);
        /* RSA 2048, SHA-256. */
        assert_int_equal(EVP_PKEY_get_base_id(pub), EVP_PKEY_RSA);
        assert_int_equal(EVP_PKEY_get_bits(pub), 2048);
        assert_int_equal(X509_get_signature_nid(ca_x), NID_sha256WithRSAEncryption);
        /* basicConstraints critical CA:TRUE; keyUsage critical with exactly these bits. */
        assert_int_equal(X509_check_ca(ca_x), 1);
        int crit = -1;
        BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(ca_x, NID_basic_constraints, &crit, NULL);
        assert_non_null(bc);
        assert_true(bc->ca);
        assert_int_equal(crit, 1);
        BASIC_CONSTRAINTS_free(bc);
        assert_int_equal(X509_get_key_usage(ca_x),
                         KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT | KU_KEY_CERT_SIGN);
        ASN1_BIT_STRING *ku = X509_get_ext_d2i(ca_x, NID_key_usage, &crit, NULL);
        assert_non_null(ku);
        assert_int_equal(crit, 1);
        ASN1_BIT_STRING_free(ku);
        assert_non_null(X509_get0_subject_key_id(ca_x));
        /* Ten years from an hour before NOW. */
        assert_int_equal(asn1_seconds(X509_get0_notBefore(ca_x)), NOW - PKI_BACKDATE_SEC);
        assert_int_equal(asn1_seconds(X509_get0_notAfter(ca_x)), NOW + 3650LL * 86400);
        /* The key is the certificate's, and the agent's own check accepts the pair. */
        EVP_PKEY *k = read_key(ca.key_pem);
        assert_int_equal(X509_check_private_key(ca_x, k), 1);
        EVP_PKEY_free(k);
        assert_non_null(strstr(ca.key_pem, "-----BEGIN PRIVATE KEY-----"));
        assert_int_equal(cert_check_ca_pair(ca.cert_pem, strlen(ca.cert_pem), ca.key_pem, strlen(ca.key_pem),
                                            NOW, NULL),
                         0);
        /* A serial, positive. */
        const ASN1_INTEGER *serial = X509_get0_serialNumber(ca_x);
        uint64_t sv = 0;
        assert_int_equal(ASN1_INTEGER_get_uint64(&sv, serial), 1);
        assert_true(sv > 0 && sv <= INT64_MAX);
}

static void test_ca_serial_from_source(void **unused) {
        (void) unused;
        static const unsigned char script[] = {0xff, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07};
        struct scripted s = {.script = script, .len = sizeof script};
        struct pki_random rnd = {.bytes = scripted_bytes, .userdata = &s};
        _cleanup_(pki_pair_done) struct pki_pair p = {};
        assert_int_equal(pki_ca_new(&rnd, NOW, &p, NULL), 0);
        X509 *x = read_cert(p.cert_pem);
        uint64_t sv = 0;
        assert_int_equal(ASN1_INTEGER_get_uint64(&sv, X509_get0_serialNumber(x)), 1);
        /* The top bit cleared: a positive 63-bit number. */
        assert_int_equal(sv, 0x7f01020304050607ULL);
        X509_free(x);

        struct pki_random bad = {.bytes = failing_bytes};
        struct pki_pair q = {};
        assert_true(pki_ca_new(&bad, NOW, &q, NULL) < 0);
        assert_null(q.cert_pem);
}

static void test_admin_cert(void **unused) {
        (void) unused;
        _cleanup_(pki_pair_done) struct pki_pair admin = {};
        _cleanup_free_ char *err = NULL;
        assert_int_equal(
                pki_client_cert_new(&ca, "kubernetes-admin", "system:masters", NULL, NOW + 60, &admin, &err),
                0);
        X509 *x = read_cert(admin.cert_pem);
        char buf[256];
        name_entry(X509_get_subject_name(x), NID_commonName, buf, sizeof buf);
        assert_string_equal(buf, "kubernetes-admin");
        name_entry(X509_get_subject_name(x), NID_organizationName, buf, sizeof buf);
        assert_string_equal(buf, "system:masters");
        assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(ca_x)), 0);

        /* The chain: valid now as a TLS client certificate, not as a server one. */
        assert_int_equal(verify_chain(ca_x, x, NOW + 120, X509_PURPOSE_SSL_CLIENT), 0);
        assert_int_not_equal(verify_chain(ca_x, x, NOW + 120, X509_PURPOSE_SSL_SERVER), 0);
        /* Valid from the CA's notBefore, for a year. */
        assert_int_equal(asn1_seconds(X509_get0_notBefore(x)), NOW - PKI_BACKDATE_SEC);
        assert_int_equal(asn1_seconds(X509_get0_notAfter(x)), NOW + 60 + 365LL * 86400);
        assert_int_equal(verify_chain(ca_x, x, NOW + 60 + 366LL * 86400, 0), X509_V_ERR_CERT_HAS_EXPIRED);

        assert_int_equal(X509_check_ca(x), 0);
        assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT);
        assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_CLIENT);
        /* No SANs: a client certificate names its user in the subject. */
        assert_null(X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL));
        /* Linked to the CA's key. */
        const ASN1_OCTET_STRING *akid = X509_get0_authority_key_id(x);
        assert_non_null(akid);
        assert_int_equal(ASN1_OCTET_STRING_cmp(akid, X509_get0_subject_key_id(ca_x)), 0);
        EVP_PKEY *pub = X509_get0_pubkey(x);
        assert_int_equal(EVP_PKEY_get_bits(pub), 2048);
        EVP_PKEY *k = read_key(admin.key_pem);
        assert_int_equal(X509_check_private_key(x, k), 1);
        EVP_PKEY_free(k);
        X509_free(x);

        /* Another CA does not verify it. */
        _cleanup_(pki_pair_done) struct pki_pair other = {};
        assert_int_equal(pki_ca_new(NULL, NOW, &other, NULL), 0);
        X509 *ox = read_cert(other.cert_pem), *ax = read_cert(admin.cert_pem);
        assert_int_not_equal(verify_chain(ox, ax, NOW + 120, 0), 0);
        X509_free(ox);
        X509_free(ax);
}

static void test_server_cert(void **unused) {
        (void) unused;
        _cleanup_(pki_pair_done) struct pki_pair srv = {};
        char *ips[] = {"10.0.0.10", "fd00::10", NULL}, *dns[] = {"kubernetes", NULL};
        struct pki_leaf leaf = {
                .common_name = "kube-apiserver", .server = true, .ip_sans = ips, .dns_sans = dns};
        assert_int_equal(pki_leaf_cert_new(&ca, &leaf, NULL, NOW, &srv, NULL), 0);
        X509 *x = read_cert(srv.cert_pem);
        assert_int_equal(verify_chain(ca_x, x, NOW + 60, X509_PURPOSE_SSL_SERVER), 0);
        assert_int_not_equal(verify_chain(ca_x, x, NOW + 60, X509_PURPOSE_SSL_CLIENT), 0);
        assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_SERVER);
        /* The SANs a TLS client checks. */
        assert_int_equal(X509_check_ip_asc(x, "10.0.0.10", 0), 1);
        assert_int_equal(X509_check_ip_asc(x, "fd00::10", 0), 1);
        assert_int_equal(X509_check_ip_asc(x, "10.0.0.11", 0), 0);
        assert_int_equal(X509_check_host(x, "kubernetes", 0, 0, NULL), 1);
        assert_int_equal(X509_check_host(x, "example.com", 0, 0, NULL), 0);
        /* The agent's pinning accepts it with the CA's hash. */
        char hash[CERT_HASH_STRING_MAX];
        assert_int_equal(cert_spki_hash_pem(ca.cert_pem, strlen(ca.cert_pem), hash, NULL), 0);
        char *pins[] = {hash, NULL};
        _cleanup_free_ char *chain = strdupf("%s%s", srv.cert_pem, ca.cert_pem);
        assert_int_equal(cert_chain_check_pins_pem(chain, strlen(chain), pins, NULL, 0, NULL), 0);
        X509_free(x);
}

static void test_admin_bad_ca(void **unused) {
        (void) unused;
        _cleanup_(pki_pair_done) struct pki_pair other = {};
        assert_int_equal(pki_ca_new(NULL, NOW, &other, NULL), 0);
        /* A certificate with another CA's key. */
        struct pki_pair mixed = {.cert_pem = ca.cert_pem, .key_pem = other.key_pem};
        struct pki_pair out = {};
        _cleanup_free_ char *err = NULL;
        assert_int_equal(pki_client_cert_new(&mixed, "x", NULL, NULL, NOW, &out, &err), -EBADMSG);
        assert_non_null(err);
        assert_null(strstr(err, "PRIVATE"));
        assert_null(out.cert_pem);
        struct pki_pair garbage = {.cert_pem = (char *) "nope", .key_pem = (char *) "nope"};
        assert_int_equal(pki_client_cert_new(&garbage, "x", NULL, NULL, NOW, &out, NULL), -EBADMSG);
}

static void test_base64(void **unused) {
        (void) unused;
        const char *cases[][2] = {
                {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}};
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *b = pki_base64(cases[i][0], strlen(cases[i][0]));
                assert_string_equal(b, cases[i][1]);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_token_from_source),
                cmocka_unit_test(test_token_real_source),
                cmocka_unit_test(test_certificate_key),
                cmocka_unit_test(test_ca),
                cmocka_unit_test(test_ca_serial_from_source),
                cmocka_unit_test(test_admin_cert),
                cmocka_unit_test(test_server_cert),
                cmocka_unit_test(test_admin_bad_ca),
                cmocka_unit_test(test_base64),
        };
        return cmocka_run_group_tests_name("pki", tests, group_setup, group_teardown);
}
