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

/* Limits on what the functions below accept. */
#define CERT_PEM_MAX (256u * 1024u) /* one PEM input (certificate, key or chain) */
#define CERT_CHAIN_MAX 16           /* certificates in a peer chain */

/* kubeadm-style pinning of a TLS peer: is the chain the server sent
 * acceptable? `chain` holds the peer's certificates, leaf first (as a server
 * sends them). The chain is accepted when a CA certificate (a certificate of
 * the chain other than the leaf, the leaf itself when it is self-signed, or
 * `pinned_ca_pem` when given) has an SPKI SHA-256 listed in `pinned_hashes`
 * (NULL-terminated "sha256:<hex>", compared case-insensitively) AND the
 * leaf's signature verifies with that certificate's public key
 * (X509_verify). Only direct signatures count: the API server certificate
 * kubeadm makes is signed by the cluster CA itself. Validity periods are not
 * checked here (a node at first boot may not have the right time yet); the
 * TLS handshake has proven possession of the leaf's key.
 * Returns 0 when accepted; -EPERM when refused (ret_error says why and lists
 * the hashes seen, which are public); -EBADMSG when a certificate does not
 * parse; -EINVAL when no valid pin is given or the chain is empty/too long. */
int cert_chain_check_pins_der(const unsigned char *const *der, const size_t *der_size, size_t n,
                              char *const *pinned_hashes, const char *pinned_ca_pem, size_t pinned_ca_size,
                              char **ret_error);
/* The same over concatenated PEM certificates, leaf first. */
int cert_chain_check_pins_pem(const char *chain_pem, size_t chain_size, char *const *pinned_hashes,
                              const char *pinned_ca_pem, size_t pinned_ca_size, char **ret_error);
