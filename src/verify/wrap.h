/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Wrapping the disk secret to a vTPM-resident ECC P-256 key:
 * "ECDH-P256-HKDF-SHA256-A256GCM".  The broker makes an ephemeral key,
 * Z = x(ECDH(ephemeral, wrap key)), KEK = HKDF-SHA256(Z, salt = nonce,
 * info = "skr/v1" || key_id), and seals the secret with AES-256-GCM under a
 * random IV with AAD = key_id || nonce.  The VM computes the same Z inside its
 * vTPM (TPM2_ECDH_ZGen with the ephemeral point), so only that vTPM can unwrap.
 */
#ifndef SKR_WRAP_H
#define SKR_WRAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/err.h"

#define SKR_WRAP_ALG "ECDH-P256-HKDF-SHA256-A256GCM"
#define SKR_WRAP_COORD 32		/* P-256 coordinate and Z size */
#define SKR_WRAP_EPK_SIZE 65		/* SEC1 uncompressed point 04||x||y */
#define SKR_WRAP_IV_SIZE 12
#define SKR_WRAP_TAG_SIZE 16
#define SKR_WRAP_MAX_SECRET 128

struct skr_wrapped {
	uint8_t epk[SKR_WRAP_EPK_SIZE];
	uint8_t iv[SKR_WRAP_IV_SIZE];
	uint8_t ciphertext[SKR_WRAP_MAX_SECRET];
	size_t ciphertext_len;
	uint8_t tag[SKR_WRAP_TAG_SIZE];
};

/* Seals secret to the P-256 public key `to` (broker side). */
int skr_wrap(EVP_PKEY *to, const uint8_t *nonce, size_t nonce_len, const char *key_id,
	     const uint8_t *secret, size_t secret_len, struct skr_wrapped *out,
	     struct skr_err *err);

/*
 * Opens a wrapped secret given Z (the x-coordinate the vTPM's ECDH_ZGen
 * returned for w->epk).  secret_out must hold SKR_WRAP_MAX_SECRET bytes and
 * should be locked memory; it is wiped on failure.
 */
int skr_unwrap_with_z(const uint8_t z[SKR_WRAP_COORD], const struct skr_wrapped *w,
		      const uint8_t *nonce, size_t nonce_len, const char *key_id,
		      uint8_t *secret_out, size_t *secret_len, struct skr_err *err);

/* Whether epk is an uncompressed point on P-256 (a client checks a broker's before its vTPM sees it). */
bool skr_wrap_epk_valid(const uint8_t epk[SKR_WRAP_EPK_SIZE]);

/* Z = x(ECDH(priv, epk)) in software: for tests and tools standing in for the vTPM. */
int skr_ecdh_z(EVP_PKEY *priv, const uint8_t epk[SKR_WRAP_EPK_SIZE],
	       uint8_t z[SKR_WRAP_COORD], struct skr_err *err);

/* The P-256 public key of an uncompressed point (malformed otherwise). */
int skr_wrap_point_key(const uint8_t epk[SKR_WRAP_EPK_SIZE], EVP_PKEY **out, struct skr_err *err);

/*
 * Bare SNP (no vTPM): the wrap key is an ephemeral P-256 key in guest
 * memory (SNP encrypts it), its point in epk.  The private scalar lives in
 * OpenSSL's secure heap (locked, cleared on free), which the first call sets
 * up for the process.
 */
int skr_wrap_soft_key_new(EVP_PKEY **key, uint8_t epk[SKR_WRAP_EPK_SIZE], struct skr_err *err);
/* Opens w with that key: Z is computed into a locked secret buffer and wiped. */
int skr_unwrap_with_key(EVP_PKEY *priv, const struct skr_wrapped *w, const uint8_t *nonce,
			size_t nonce_len, const char *key_id, uint8_t *secret_out,
			size_t *secret_len, struct skr_err *err);

#endif
