/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* A cluster's identity, made before any machine boots (`kubeseed plan`):
 * the cluster CA, a bootstrap token, the certificate key for control-plane
 * joins and the administrator's client certificate, all with OpenSSL and as
 * kubeadm makes them (cmd/kubeadm/app/util/pkiutil, bootstraputil). Random
 * bytes come from a table that tests replace; the time is a parameter.
 * Private keys, tokens and certificate keys are secrets: messages never
 * contain them, and the destructors wipe them. */

/* Random bytes. The real one is OpenSSL's CSPRNG (RAND_priv_bytes). */
struct pki_random {
        int (*bytes)(void *userdata, unsigned char *buf, size_t n); /* 0 or a negative errno */
        void *userdata;
};
extern const struct pki_random pki_random_real;

#define PKI_TOKEN_LEN 23U    /* "abcdef.0123456789abcdef" */
#define PKI_CERT_KEY_LEN 64U /* 32 bytes in hex */

/* A bootstrap token in kubeadm's format, [a-z0-9]{6}\.[a-z0-9]{16}, each
 * character uniform over the 36 (bytes >= 252 are drawn again). */
int pki_token_new(const struct pki_random *rnd, char ret[PKI_TOKEN_LEN + 1]);
/* kubeadm's certificate key (init --upload-certs): 32 random bytes as 64
 * lowercase hexadecimal digits. */
int pki_certificate_key_new(const struct pki_random *rnd, char ret[PKI_CERT_KEY_LEN + 1]);

/* A certificate and its private key, both PEM (the key PKCS#8, SECRET). */
struct pki_pair {
        char *cert_pem;
        char *key_pem;
};
void pki_pair_done(struct pki_pair *p); /* wipes the key; accepts a zeroed struct */

#define PKI_RSA_BITS 2048
#define PKI_CA_DAYS (10 * 365) /* kubeadm's CA validity */
#define PKI_CLIENT_DAYS 365    /* kubeadm's client certificates */
#define PKI_BACKDATE_SEC                                                                                    \
        3600LL /* notBefore this long before `now`: nodes whose clock lags still accept it */

/* The cluster CA as kubeadm makes it: RSA 2048, CN=kubernetes, valid 10
 * years, basicConstraints critical CA:TRUE, keyUsage critical
 * digitalSignature, keyEncipherment, keyCertSign, a subject key identifier,
 * a random 63-bit serial, SHA-256. `now`: seconds since the epoch.
 * -ENOMEM, or -EIO with a message. */
int pki_ca_new(const struct pki_random *rnd, long long now, struct pki_pair *ret, char **ret_error);

/* A client certificate signed by `ca` (kubeadm's admin.conf user): a new RSA
 * 2048 key, subject O=<organization>, CN=<common_name>, valid from the CA's
 * notBefore to `now` + 1 year, keyUsage critical digitalSignature,
 * keyEncipherment, extendedKeyUsage clientAuth, basicConstraints CA:FALSE,
 * the CA's key identifier. -EBADMSG when `ca` does not parse. */
int pki_client_cert_new(const struct pki_pair *ca, const char *common_name, const char *organization,
                        const struct pki_random *rnd, long long now, struct pki_pair *ret, char **ret_error);

/* A certificate signed by `ca` in general: the same as above, with
 * extendedKeyUsage serverAuth when `server` (kubeadm's apiserver.crt), and
 * the given subject alternative names. */
struct pki_leaf {
        const char *common_name;
        const char *organization; /* NULL: none */
        bool server;
        char *const *ip_sans;  /* NULL-terminated, may be NULL */
        char *const *dns_sans; /* likewise */
};
int pki_leaf_cert_new(const struct pki_pair *ca, const struct pki_leaf *leaf, const struct pki_random *rnd,
                      long long now, struct pki_pair *ret, char **ret_error);

/* Base64 (one line, no newline) of `size` bytes; NULL out of memory. */
char *pki_base64(const void *data, size_t size);
