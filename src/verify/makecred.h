/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TPM2_MakeCredential in software (TPM 2.0 Part 1 §24, "Credential
 * Protection"), for the generic TPM mode ("tee": "tpm"): the broker encrypts
 * a credential to a TPM's endorsement key so that only that TPM, and only
 * for a key of the given name loaded in it, can recover it with
 * TPM2_ActivateCredential.
 *
 * Supported EK: RSA-2048 (the TCG default EK template, low range: nameAlg
 * SHA-256, AES-128-CFB symmetric), the one swtpm_setup --create-ek-cert and
 * nearly every vendor certify.  ECC EKs (ECDH seed) are not done yet: they
 * fail with unsupported.
 *
 * The construction: a random seed, RSA-OAEP(SHA-256, label "IDENTITY\0") to
 * the EK; symKey = KDFa(SHA-256, seed, "STORAGE", name, -, 128);
 * encIdentity = AES-128-CFB(symKey, IV 0, TPM2B_DIGEST(credential));
 * hmacKey = KDFa(SHA-256, seed, "INTEGRITY", -, -, 256);
 * outerHMAC = HMAC-SHA-256(hmacKey, encIdentity || name).
 * The seed and the derived keys are wiped before returning.
 */
#ifndef SKR_MAKECRED_H
#define SKR_MAKECRED_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include "common/err.h"

/* A credential is a TPM2B_DIGEST: at most the size of the EK's nameAlg digest. */
#define SKR_CREDENTIAL_MAX 32

/*
 * Makes the credential for the object whose TPM name (nameAlg || digest) is
 * name[0..name_len) to the EK ek.  Fills blob (TPM2B_ID_OBJECT) and secret
 * (TPM2B_ENCRYPTED_SECRET), the two inputs of TPM2_ActivateCredential.
 */
int skr_make_credential(EVP_PKEY *ek, const uint8_t *name, size_t name_len,
			const uint8_t *credential, size_t credential_len, TPM2B_ID_OBJECT *blob,
			TPM2B_ENCRYPTED_SECRET *secret, struct skr_err *err);

/*
 * KDFa (Part 1 §11.4.10.2) with SHA-256: bits/8 bytes of
 * HMAC(key, i || label || 0 || context_u || context_v || bits) for i = 1, 2, ...
 * Exposed for the tests.
 */
int skr_kdfa_sha256(const uint8_t *key, size_t key_len, const char *label,
		    const uint8_t *context_u, size_t u_len, const uint8_t *context_v,
		    size_t v_len, uint32_t bits, uint8_t *out, struct skr_err *err);

#endif
