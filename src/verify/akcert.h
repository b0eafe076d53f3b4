/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Azure Trusted Launch: the vTPM's attestation key (AK) and Azure's
 * certificate for it (NV index 0x01C101D0).
 *
 * Trust: the Azure Virtual TPM Root Certificate Authority 2023 is built in as
 * the one trust anchor; "Global Virtual TPM CA - 03" is built in as
 * chain-building material only (its leaves carry no AIA), never an anchor:
 * it counts only because it chains to the root.  Configured PEM files add
 * roots (anchors) and intermediates (material); intermediates presented with
 * the evidence are untrusted material too.
 *
 * Reasons: akcert_invalid (unparseable, bad signature anywhere in the
 * chain), akcert_intermediate_missing (the leaf's issuer is nowhere),
 * akcert_untrusted (the chain ends at a root we do not trust),
 * akcert_expired (any certificate of the chain outside its validity),
 * akcert_key_mismatch, ak_not_restricted, ak_attributes.
 *
 * The AK's public area is checked on its own too: an administrator of the VM
 * could have Azure certify a key of their choosing (CVE-2025-49707), so the
 * certificate alone does not prove a TPM-resident restricted signing key.
 */
#ifndef SKR_AKCERT_H
#define SKR_AKCERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>

#include "common/err.h"

/* An AK certificate is about 1.5 KiB of DER; a chain of a few of them. */
#define SKR_AKCERT_MAX_DER (16u << 10)
#define SKR_AKCERT_MAX_CHAIN (64u << 10)

/* Built-in certificates (src/verify/certs/azure, by tools/embed-azure-pem.sh). */
extern const char skr_azure_vtpm_root_pem[];
extern const char skr_azure_vtpm_ca03_pem[];

struct skr_akcert_trust;

/*
 * The built-in root and CA-03, plus the certificates of the PEM files given
 * (NULL: none).  Every certificate of extra_roots_pem becomes an anchor;
 * those of extra_intermediates_pem are chain-building material.  A file that
 * cannot be read or holds no certificate fails with io or malformed.
 */
int skr_akcert_trust_new(const char *extra_roots_pem, const char *extra_intermediates_pem,
			 struct skr_akcert_trust **out, struct skr_err *err);
/*
 * The generic TPM mode's EK certificates (verify/makecred.h): the same chain
 * rules, but no built-in certificate at all; roots_pem (required: "ek_roots")
 * holds the anchors, intermediates_pem ("ek_intermediates", may be NULL) the
 * chain-building material.  skr_akcert_verify with such a trust fails with
 * ekcert_untrusted whatever the cause (unparseable, unknown issuer, expired,
 * bad signature); the detail says which.
 */
int skr_ekcert_trust_new(const char *roots_pem, const char *intermediates_pem,
			 struct skr_akcert_trust **out, struct skr_err *err);
void skr_akcert_trust_free(struct skr_akcert_trust *t);

/* What a verified AK certificate says; key is a new reference. */
struct skr_akcert_info {
	char subject_cn[256];
	char issuer_cn[256];
	EVP_PKEY *key;
};

/*
 * Verifies the DER certificate der up to a trusted root at time now (0: the
 * current time).  chain_der: concatenated DER certificates presented with
 * it (untrusted intermediates; may be NULL/0).  On success fills info.
 */
int skr_akcert_verify(const struct skr_akcert_trust *t, const uint8_t *der, size_t len,
		      const uint8_t *chain_der, size_t chain_len, time_t now,
		      struct skr_akcert_info *info, struct skr_err *err);
void skr_akcert_info_free(struct skr_akcert_info *info);

/*
 * The AK public area (a marshalled TPM2B_PUBLIC, exactly len bytes):
 * restricted, sign, fixedTPM, fixedParent, sensitiveDataOrigin set; decrypt
 * clear; RSA-2048 RSASSA/SHA-256 (Azure's AK template) or ECC P-256
 * ECDSA/SHA-256, nameAlg SHA-256.  On success *ak is the key.
 */
int skr_ak_public_check(const uint8_t *tpm2b_public, size_t len, EVP_PKEY **ak,
			struct skr_err *err);

/* The certificate's key equals the AK (EVP_PKEY_eq); akcert_key_mismatch otherwise. */
int skr_akcert_key_matches(const struct skr_akcert_info *info, EVP_PKEY *ak,
			   struct skr_err *err);

#endif
