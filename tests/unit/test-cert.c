/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cert.h"
#include "fsutil.h"
#include "macro.h"
#include "proc.h"

#include "testutil.h"

/* Test material is made by the openssl command line, independently of the
 * code under test, in a temporary directory shared by all tests. */
static char tmpdir[] = "/tmp/kubeseed-test-cert-XXXXXX";

#define RUN(...) TU_RUN_IN(tmpdir, __VA_ARGS__)

static char *slurp(const char *name, size_t *ret_size) {
        return tu_read_in(tmpdir, name, ret_size);
}

static void cat_files(const char *out, const char *a, const char *b) {
        size_t na, nb;
        _cleanup_free_ char *da = slurp(a, &na);
        _cleanup_free_ char *db = slurp(b, &nb);
        _cleanup_free_ char *both = malloc(na + nb + 1);
        assert_non_null(both);
        memcpy(both, da, na);
        memcpy(both + na, db, nb);
        both[na + nb] = '\0';
        tu_write_in(tmpdir, out, both);
}

static char hash_ca[CERT_HASH_STRING_MAX], hash_ca_ec[CERT_HASH_STRING_MAX],
        hash_other[CERT_HASH_STRING_MAX];

static int setup(void **state) {
        (void) state;
        if (!mkdtemp(tmpdir))
                return -1;
        tu_make_ca(tmpdir, "ca", "kubernetes", false);
        tu_make_ca(tmpdir, "ca-ec", "kubernetes-ec", true);
        tu_make_ca(tmpdir, "other", "impostor", false);
        /* A certificate that is not a CA. */
        RUN("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "notca.key", "-out",
            "notca.pem", "-days", "30", "-subj", "/CN=not-a-ca", "-addext",
            "basicConstraints=critical,CA:FALSE");
        /* A CA whose keyUsage forbids certificate signing. */
        RUN("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "noku.key", "-out",
            "noku.pem", "-days", "30", "-subj", "/CN=no-keycertsign", "-addext",
            "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,digitalSignature");
        tu_make_leaf(tmpdir, "leaf", "ca", "4242");
        tu_make_leaf(tmpdir, "leaf-other", "other", "4242");
        /* Other encodings of the CA keys. */
        RUN("openssl", "pkey", "-in", "ca.key", "-traditional", "-out", "ca.rsa.key");
        RUN("openssl", "pkey", "-in", "ca-ec.key", "-traditional", "-out", "ca-ec.sec1.key");
        RUN("openssl", "pkey", "-in", "ca.key", "-aes256", "-passout", "pass:secret", "-out", "ca.enc.key");
        /* DER forms for the DER interface. */
        RUN("openssl", "x509", "-in", "leaf.pem", "-outform", "der", "-out", "leaf.der");
        RUN("openssl", "x509", "-in", "ca.pem", "-outform", "der", "-out", "ca.der");
        RUN("openssl", "x509", "-in", "leaf-other.pem", "-outform", "der", "-out", "leaf-other.der");
        cat_files("chain.pem", "leaf.pem", "ca.pem");
        cat_files("chain-other.pem", "leaf-other.pem", "other.pem");
        cat_files("chain-other-with-ca.pem", "leaf-other.pem", "ca.pem");
        tu_openssl_hash(tmpdir, "ca.pem", hash_ca);
        tu_openssl_hash(tmpdir, "ca-ec.pem", hash_ca_ec);
        tu_openssl_hash(tmpdir, "other.pem", hash_other);
        return 0;
}

static int teardown(void **state) {
        (void) state;
        return rm_rf(tmpdir) < 0 ? -1 : 0;
}

static void test_spki_hash_matches_openssl(void **state) {
        (void) state;
        const struct {
                const char *file;
                const char *expected;
        } cases[] = {{"ca.pem", hash_ca}, {"ca-ec.pem", hash_ca_ec}, {"other.pem", hash_other}};
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                size_t size;
                _cleanup_free_ char *pem = slurp(cases[i].file, &size);
                char h[CERT_HASH_STRING_MAX];
                _cleanup_free_ char *err = NULL;
                assert_int_equal(cert_spki_hash_pem(pem, size, h, &err), 0);
                assert_null(err);
                assert_string_equal(h, cases[i].expected);
                assert_true(cert_hash_string_valid(h));
        }
        assert_string_not_equal(hash_ca, hash_other);
}

static void test_spki_hash_garbage(void **state) {
        (void) state;
        const char *bad[] = {"", "hello", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char h[CERT_HASH_STRING_MAX] = "untouched";
                _cleanup_free_ char *err = NULL;
                assert_int_equal(cert_spki_hash_pem(bad[i], strlen(bad[i]), h, &err), -EBADMSG);
                assert_string_equal(h, "untouched");
                assert_non_null(err);
                assert_non_null(strstr(err, "certificate"));
        }
}

static void test_hash_string_valid(void **state) {
        (void) state;
        char upper[CERT_HASH_STRING_MAX];
        snprintf(upper, sizeof upper, "sha256:%s", hash_ca + 7);
        for (char *p = upper + 7; *p; p++)
                *p = (char) toupper((unsigned char) *p);
        assert_true(cert_hash_string_valid(hash_ca));
        assert_true(cert_hash_string_valid(upper));
        assert_false(cert_hash_string_valid(NULL));
        assert_false(cert_hash_string_valid(""));
        assert_false(cert_hash_string_valid("sha256:"));
        assert_false(cert_hash_string_valid(hash_ca + 7)); /* no prefix */
        assert_false(cert_hash_string_valid("sha1:0123456789abcdef0123456789abcdef01234567"));
        char s[100];
        snprintf(s, sizeof s, "%.70s", hash_ca); /* one digit short */
        assert_false(cert_hash_string_valid(s));
        snprintf(s, sizeof s, "%s0", hash_ca); /* one digit long */
        assert_false(cert_hash_string_valid(s));
        snprintf(s, sizeof s, "%s", hash_ca);
        s[20] = 'g';
        assert_false(cert_hash_string_valid(s));
        snprintf(s, sizeof s, "SHA256:%s", hash_ca + 7);
        assert_false(cert_hash_string_valid(s));
}

/* 0 or the error; *ret_error gets the message. */
static int check_pair(const char *cert, const char *key, long long now, char **ret_error) {
        size_t cs, ks;
        _cleanup_free_ char *c = slurp(cert, &cs);
        _cleanup_free_ char *k = slurp(key, &ks);
        return cert_check_ca_pair(c, cs, k, ks, now, ret_error);
}

static void expect_pair_error(const char *cert, const char *key, long long now, const char *needle) {
        _cleanup_free_ char *err = NULL;
        int r = check_pair(cert, key, now, &err);
        if (r != -EBADMSG)
                fail_msg("%s + %s: expected -EBADMSG, got %d", cert, key, r);
        assert_non_null(err);
        if (!strstr(err, needle))
                fail_msg("%s + %s: message '%s' lacks '%s'", cert, key, err, needle);
}

static void test_ca_pair_ok(void **state) {
        (void) state;
        const char *pairs[][2] = {
                {"ca.pem", "ca.key"},           /* PKCS#8 RSA */
                {"ca.pem", "ca.rsa.key"},       /* PKCS#1 RSA */
                {"ca-ec.pem", "ca-ec.key"},     /* PKCS#8 EC */
                {"ca-ec.pem", "ca-ec.sec1.key"} /* SEC1 EC */
        };
        for (size_t i = 0; i < ELEMENTSOF(pairs); i++) {
                _cleanup_free_ char *err = NULL;
                int r = check_pair(pairs[i][0], pairs[i][1], 0, &err);
                if (r != 0)
                        fail_msg("%s + %s refused (%d): %s", pairs[i][0], pairs[i][1], r, err ? err : "");
                assert_null(err);
        }
        _cleanup_free_ char *head = slurp("ca.rsa.key", NULL);
        assert_non_null(strstr(head, "BEGIN RSA PRIVATE KEY"));
        _cleanup_free_ char *sec1 = slurp("ca-ec.sec1.key", NULL);
        assert_non_null(strstr(sec1, "BEGIN EC PRIVATE KEY"));
}

static void test_ca_pair_refused(void **state) {
        (void) state;
        expect_pair_error("ca.pem", "other.key", 0, "does not belong");
        expect_pair_error("ca.pem", "ca-ec.key", 0, "does not belong");
        expect_pair_error("ca-ec.pem", "ca.key", 0, "does not belong");
        expect_pair_error("notca.pem", "notca.key", 0, "not a CA");
        expect_pair_error("leaf.pem", "leaf.key", 0, "not a CA");
        expect_pair_error("noku.pem", "noku.key", 0, "keyCertSign");
        /* 2100-01-01: long after the 30 days. */
        expect_pair_error("ca.pem", "ca.key", 4102444800LL, "expired");
        /* 2001-09-09: before it was made. */
        expect_pair_error("ca.pem", "ca.key", 1000000000LL, "not valid before");
        /* Encrypted keys fail without prompting for a passphrase. */
        expect_pair_error("ca.pem", "ca.enc.key", 0, "not an unencrypted PEM private key");
        /* The certificate given as the key and vice versa. */
        expect_pair_error("ca.pem", "ca.pem", 0, "CA key");
        expect_pair_error("ca.key", "ca.key", 0, "not a PEM X.509 certificate");
}

/* A damaged key is refused and the message quotes none of it. */
static void test_ca_pair_garbage_key_not_leaked(void **state) {
        (void) state;
        size_t cs, ks;
        _cleanup_free_ char *cert = slurp("ca.pem", &cs);
        _cleanup_free_ char *key = slurp("ca.key", &ks);

        const char *fake = "-----BEGIN PRIVATE KEY-----\n"
                           "U0VDUkVUS0VZTUFURVJJQUxTRUNSRVRLRVlNQVRFUklBTA==\n"
                           "-----END PRIVATE KEY-----\n";
        /* The real key, cut in the middle of its base64. */
        _cleanup_free_ char *cut = strndup(key, ks / 2);
        assert_non_null(cut);
        /* The real key with one base64 character changed. */
        _cleanup_free_ char *flipped = strdup(key);
        assert_non_null(flipped);
        flipped[ks / 2] = flipped[ks / 2] == 'A' ? 'B' : 'A';

        const char *keys[] = {fake, cut, flipped, "not a key at all", "SECRETSECRET"};
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                _cleanup_free_ char *err = NULL;
                int r = cert_check_ca_pair(cert, cs, keys[i], strlen(keys[i]), 0, &err);
                if (r != -EBADMSG)
                        fail_msg("key %zu: expected -EBADMSG, got %d", i, r);
                assert_non_null(err);
                assert_non_null(strstr(err, "CA key"));
                assert_null(strstr(err, "U0VDUkVU"));
                assert_null(strstr(err, "SECRET"));
                /* No 12-character run of any key line appears in the message. */
                _cleanup_free_ char *copy = strdup(keys[i]);
                for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line;
                     line = strtok_r(NULL, "\n", &save)) {
                        if (strncmp(line, "-----", 5) == 0)
                                continue;
                        for (size_t off = 0; off + 12 <= strlen(line); off++) {
                                char run[13];
                                memcpy(run, line + off, 12);
                                run[12] = '\0';
                                if (strstr(err, run))
                                        fail_msg("message '%s' quotes key bytes '%s'", err, run);
                        }
                }
        }
        /* Empty and oversize inputs. */
        _cleanup_free_ char *err = NULL;
        assert_int_equal(cert_check_ca_pair(cert, cs, "", 0, 0, &err), -EBADMSG);
        assert_non_null(err);
        size_t big = CERT_PEM_MAX + 1;
        _cleanup_free_ char *huge = malloc(big);
        assert_non_null(huge);
        memset(huge, 'A', big);
        assert_int_equal(cert_check_ca_pair(cert, cs, huge, big, 0, &err), -EBADMSG);
        assert_non_null(strstr(err, "larger than"));
        assert_int_equal(cert_check_ca_pair(huge, big, key, ks, 0, &err), -EBADMSG);
        /* ret_error may be NULL. */
        assert_int_equal(cert_check_ca_pair(cert, cs, "x", 1, 0, NULL), -EBADMSG);
}

static int chain_pem(const char *chain, char *const *pins, const char *ca_file, char **ret_error) {
        size_t n, ca_size = 0;
        _cleanup_free_ char *pem = slurp(chain, &n);
        _cleanup_free_ char *ca = ca_file ? slurp(ca_file, &ca_size) : NULL;
        return cert_chain_check_pins_pem(pem, n, pins, ca, ca_size, ret_error);
}

static void expect_chain(const char *chain, char *const *pins, const char *ca_file, int expected,
                         const char *needle) {
        _cleanup_free_ char *err = NULL;
        int r = chain_pem(chain, pins, ca_file, &err);
        if (r != expected)
                fail_msg("%s (CA %s): expected %d, got %d (%s)", chain, ca_file ? ca_file : "-", expected, r,
                         err ? err : "");
        if (needle) {
                assert_non_null(err);
                if (!strstr(err, needle))
                        fail_msg("%s: message '%s' lacks '%s'", chain, err, needle);
        }
}

static void test_chain_pem(void **state) {
        (void) state;
        char *pin_ca[] = {hash_ca, NULL};
        char *pin_other[] = {hash_other, NULL};
        char *pin_wrong[] = {hash_ca_ec, NULL};
        char *pin_both[] = {"garbage", hash_ca_ec, hash_ca, NULL};

        /* The leaf signed by the pinned CA, the CA sent in the chain. */
        expect_chain("chain.pem", pin_ca, NULL, 0, NULL);
        expect_chain("chain.pem", pin_both, NULL, 0, NULL);
        /* The CA not sent: accepted only with the pinned CA certificate. */
        expect_chain("leaf.pem", pin_ca, "ca.pem", 0, NULL);
        expect_chain("leaf.pem", pin_ca, NULL, -EPERM, "no pinned CA key");
        /* A CA in the chain whose hash is not pinned. */
        expect_chain("chain.pem", pin_wrong, NULL, -EPERM, "no pinned CA key");
        expect_chain("chain.pem", pin_other, NULL, -EPERM, hash_ca);
        /* A leaf signed by another CA: refused, whether that CA comes along... */
        expect_chain("chain-other.pem", pin_ca, NULL, -EPERM, "no pinned CA key");
        /* ...or the real CA is put in the chain (or given) next to it. */
        expect_chain("chain-other-with-ca.pem", pin_ca, NULL, -EPERM, "not signed by the pinned CA");
        expect_chain("leaf-other.pem", pin_ca, "ca.pem", -EPERM, "not signed by the pinned CA");
        /* The pinned CA PEM must itself match a pin. */
        expect_chain("leaf.pem", pin_wrong, "ca.pem", -EPERM, NULL);
        /* Pinning the impostor's own CA accepts the impostor (that is what a pin means). */
        expect_chain("chain-other.pem", pin_other, NULL, 0, NULL);
}

static void test_chain_pem_uppercase_pin(void **state) {
        (void) state;
        char upper[CERT_HASH_STRING_MAX];
        snprintf(upper, sizeof upper, "sha256:%s", hash_ca + 7);
        for (char *p = upper + 7; *p; p++)
                *p = (char) toupper((unsigned char) *p);
        char *pins[] = {upper, NULL};
        expect_chain("chain.pem", pins, NULL, 0, NULL);
}

static void test_chain_bad_input(void **state) {
        (void) state;
        char *no_pins[] = {NULL};
        char *bad_pins[] = {"sha256:xyz", "md5:00", NULL};
        char *pin_ca[] = {hash_ca, NULL};
        expect_chain("chain.pem", no_pins, NULL, -EINVAL, "no valid pinned CA hash");
        expect_chain("chain.pem", bad_pins, NULL, -EINVAL, "no valid pinned CA hash");
        expect_chain("chain.pem", NULL, NULL, -EINVAL, NULL);
        expect_chain("chain.pem", pin_ca, "leaf.key", -EBADMSG, "pinned CA");

        _cleanup_free_ char *err = NULL;
        assert_int_equal(cert_chain_check_pins_pem("garbage", 7, pin_ca, NULL, 0, &err), -EBADMSG);
        assert_non_null(err);
        assert_int_equal(cert_chain_check_pins_pem("", 0, pin_ca, NULL, 0, &err), -EBADMSG);
        /* A good certificate followed by a damaged one. */
        size_t n;
        _cleanup_free_ char *leaf = slurp("leaf.pem", &n);
        char *damaged = NULL;
        assert_true(asprintf(&damaged, "%s-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
                             leaf) > 0);
        assert_int_equal(cert_chain_check_pins_pem(damaged, strlen(damaged), pin_ca, NULL, 0, &err),
                         -EBADMSG);
        free(damaged);

        /* More than CERT_CHAIN_MAX certificates. */
        size_t total = n * (CERT_CHAIN_MAX + 1);
        _cleanup_free_ char *many = malloc(total + 1);
        assert_non_null(many);
        for (size_t i = 0; i <= CERT_CHAIN_MAX; i++)
                memcpy(many + i * n, leaf, n);
        many[total] = '\0';
        assert_int_equal(cert_chain_check_pins_pem(many, total, pin_ca, NULL, 0, &err), -EINVAL);
}

static void test_chain_der(void **state) {
        (void) state;
        size_t ls, cs, os;
        _cleanup_free_ char *leaf = slurp("leaf.der", &ls);
        _cleanup_free_ char *ca = slurp("ca.der", &cs);
        _cleanup_free_ char *other = slurp("leaf-other.der", &os);
        size_t ps;
        _cleanup_free_ char *ca_pem = slurp("ca.pem", &ps);
        char *pin_ca[] = {hash_ca, NULL};
        char *pin_wrong[] = {hash_other, NULL};

        const unsigned char *good[] = {(unsigned char *) leaf, (unsigned char *) ca};
        size_t good_sz[] = {ls, cs};
        _cleanup_free_ char *err = NULL;
        assert_int_equal(cert_chain_check_pins_der(good, good_sz, 2, pin_ca, NULL, 0, &err), 0);
        assert_int_equal(cert_chain_check_pins_der(good, good_sz, 1, pin_ca, ca_pem, ps, &err), 0);
        assert_int_equal(cert_chain_check_pins_der(good, good_sz, 1, pin_ca, NULL, 0, &err), -EPERM);
        assert_int_equal(cert_chain_check_pins_der(good, good_sz, 2, pin_wrong, NULL, 0, &err), -EPERM);

        const unsigned char *bad[] = {(unsigned char *) other, (unsigned char *) ca};
        size_t bad_sz[] = {os, cs};
        assert_int_equal(cert_chain_check_pins_der(bad, bad_sz, 2, pin_ca, NULL, 0, &err), -EPERM);
        assert_non_null(strstr(err, "not signed by the pinned CA"));

        /* Trailing bytes after the DER certificate, truncation, nothing. */
        size_t trailing[] = {ls + 1, cs};
        _cleanup_free_ char *leaf_plus = malloc(ls + 1);
        assert_non_null(leaf_plus);
        memcpy(leaf_plus, leaf, ls);
        leaf_plus[ls] = 0;
        const unsigned char *tr[] = {(unsigned char *) leaf_plus, (unsigned char *) ca};
        assert_int_equal(cert_chain_check_pins_der(tr, trailing, 2, pin_ca, NULL, 0, &err), -EBADMSG);
        size_t truncated[] = {ls - 10, cs};
        assert_int_equal(cert_chain_check_pins_der(good, truncated, 2, pin_ca, NULL, 0, &err), -EBADMSG);
        assert_int_equal(cert_chain_check_pins_der(good, good_sz, 0, pin_ca, NULL, 0, &err), -EINVAL);
        assert_int_equal(cert_chain_check_pins_der(good, good_sz, CERT_CHAIN_MAX + 1, pin_ca, NULL, 0, &err),
                         -EINVAL);
}

/* A self-signed server certificate whose own key is pinned is accepted: the
 * pin names the key that signed the leaf. */
static void test_chain_self_signed_pinned(void **state) {
        (void) state;
        char *pin_ca[] = {hash_ca, NULL};
        char *pin_other[] = {hash_other, NULL};
        expect_chain("ca.pem", pin_ca, NULL, 0, NULL);
        expect_chain("ca.pem", pin_other, NULL, -EPERM, "no pinned CA key");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_spki_hash_matches_openssl),
                cmocka_unit_test(test_spki_hash_garbage),
                cmocka_unit_test(test_hash_string_valid),
                cmocka_unit_test(test_ca_pair_ok),
                cmocka_unit_test(test_ca_pair_refused),
                cmocka_unit_test(test_ca_pair_garbage_key_not_leaked),
                cmocka_unit_test(test_chain_pem),
                cmocka_unit_test(test_chain_pem_uppercase_pin),
                cmocka_unit_test(test_chain_bad_input),
                cmocka_unit_test(test_chain_der),
                cmocka_unit_test(test_chain_self_signed_pinned),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
