/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TPM2_MakeCredential in software (TPM 2.0 Part 1 §24, "Credential
 * Protection"), for the generic TPM mode ("tee": "tpm"): the broker encrypts
 * a credential to a TPM's endorsement key so that only that TPM, and only
 * for a key of the given name loaded in it, can recover it with
 * TPM2_ActivateCredential.
 *
 * Supported EKs: the TCG EK Credential Profile's low-range templates, both
 * nameAlg SHA-256 with AES-128-CFB: L-1, RSA-2048 (what swtpm_setup
 * --create-ek-cert and nearly every vendor certify), and L-2, ECC NIST P-256.
 * Any other key fails with unsupported.
 *
 * The construction (Part 1 §24 and Annex C "secret sharing"): RSA, a random
 * seed, RSA-OAEP(SHA-256, label "IDENTITY\0") to the EK; ECC, an ephemeral
 * P-256 key e, Z = x(e * EK), seed = KDFe(SHA-256, Z, "IDENTITY", x(e),
 * x(EK), 256), the encrypted secret the marshalled TPMS_ECC_POINT of e's
 * public point (coordinates 32 bytes each).  Then for both: symKey = KDFa(SHA-256, seed, "STORAGE", name, -, 128);
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
#include "common/util.h"
#include "verify/akcert.h"

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

/*
 * KDFe (Part 1 §11.4.10.3) with SHA-256: bits/8 bytes of
 * SHA-256(i || z || label || 0 || party_u || party_v) for i = 1, 2, ...
 * Exposed for the tests.
 */
int skr_kdfe_sha256(const uint8_t *z, size_t z_len, const char *label, const uint8_t *party_u,
		    size_t u_len, const uint8_t *party_v, size_t v_len, uint32_t bits, uint8_t *out,
		    struct skr_err *err);

/*
 * The ECC seed to the P-256 EK ek with the ephemeral P-256 key eph (private
 * part needed): seed (32 bytes) and out, the encrypted secret (eph's
 * point).  skr_make_credential calls it with a fresh key; exposed for the
 * tests' known answers.
 */
int skr_ecc_seed(EVP_PKEY *ek, EVP_PKEY *eph, uint8_t seed[32], TPM2B_ENCRYPTED_SECRET *out,
		 struct skr_err *err);

/*
 * What the VM of a "tpm" key presents at the challenge and again in the
 * release (DESIGN.md 2.2): its EK certificate (DER), extra DER
 * intermediates (may be empty), the EK's and the AK's TPM2B_PUBLIC.
 */
struct skr_tpm_identity {
	const struct skr_buf *ek_cert, *ek_chain, *ek_public, *ak_public;
};

/* What a verified identity established; free with skr_tpm_identity_result_free. */
struct skr_tpm_identity_result {
	EVP_PKEY *ak;
	EVP_PKEY *ek;
	TPM2B_NAME ak_name;
	uint8_t ek_public_sha256[32];	/* of the EK's TPM2B_PUBLIC (the credential's input) */
	uint8_t ek_spki_sha256[32];	/* of the EK's SubjectPublicKeyInfo (the policy's pin) */
};

/*
 * The keys alone, no certificate (tee "snp-svsm": the SVSM's report vouches
 * for the EK instead): the AK's public area (skr_ak_public_check:
 * ak_not_restricted, ak_attributes), its name, and the EK public (malformed
 * when it is no TPM2B_PUBLIC of a usable key) with its SHA-256.  id's
 * ek_cert and ek_chain are not read.  res is freed on failure.
 */
int skr_tpm_identity_keys(const struct skr_tpm_identity *id, struct skr_tpm_identity_result *res,
			  struct skr_err *err);

/*
 * skr_tpm_identity_keys, then the EK certificate to an anchor of trust (an
 * skr_ekcert_trust_new trust; NULL: usage, no ek_roots configured) at time
 * now (0: now), and the certificate's key equal to the EK public
 * (ekcert_untrusted otherwise).
 */
int skr_tpm_identity_verify(const struct skr_akcert_trust *trust,
			    const struct skr_tpm_identity *id, time_t now,
			    struct skr_tpm_identity_result *res, struct skr_err *err);
void skr_tpm_identity_result_free(struct skr_tpm_identity_result *res);

/*
 * The credential the broker makes for a challenge and expects back in the
 * release: HMAC-SHA-256(key, "skr tpm activation" || nonce || AK name ||
 * SHA-256(EK TPM2B_PUBLIC)).  Derived, never stored: the broker keeps no
 * state between the two requests (the nonce is stateless too).
 */
#define SKR_ACTIVATION_SIZE 32
int skr_activation_credential(const uint8_t *key, size_t key_len, const uint8_t *nonce,
			      size_t nonce_len, const struct skr_tpm_identity_result *id,
			      uint8_t out[SKR_ACTIVATION_SIZE], struct skr_err *err);

#endif
