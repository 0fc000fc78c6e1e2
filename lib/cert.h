/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

/* X.509 and keys through OpenSSL. Messages returned through ret_error never
 * contain key material. */

/* "sha256:" + 64 lowercase hex + NUL: kubeadm's CA certificate hash. */
#define CERT_HASH_STRING_MAX (7 + 64 + 1)

/* kubeadm's CA hash of a PEM certificate: SHA-256 over the DER encoding of
 * its SubjectPublicKeyInfo. -EBADMSG when it does not parse. */
int cert_spki_hash_pem(const char *pem, size_t size, char out[CERT_HASH_STRING_MAX], char **ret_error);

/* Checks a CA pair before anything uses it: the certificate parses, is a CA
 * (basicConstraints CA:TRUE), is within its validity period at `now` (0: the
 * current time), the key parses (PKCS#8, PKCS#1 RSA or SEC1 EC) and is the
 * certificate's key. -EBADMSG with a message naming what is wrong. */
int cert_check_ca_pair(const char *cert_pem, size_t cert_size, const char *key_pem, size_t key_size,
                       long long now, char **ret_error);

/* Is "sha256:<64 hex>" well formed (kubeadm's --discovery-token-ca-cert-hash)? */
int cert_hash_string_valid(const char *s);
