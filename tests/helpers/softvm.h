/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test-only: a confidential VM in software.  It holds what a real Azure CVM
 * holds — a (test) AMD chain and VCEK-signed SNP report inside an HCL report,
 * an RSA AK named by the claims, PCR values — and answers a broker's nonce
 * with a release request whose quote, wrap key and certify it signs itself.
 * The broker cannot tell it from a vTPM, which is what the refusal matrix and
 * the load generator need; knobs break one thing at a time.
 */
#ifndef SKR_SOFTVM_H
#define SKR_SOFTVM_H

#include <stdbool.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include "verify/eventlog.h"
#include "testchain.h"
#include "verify/wrap.h"

struct skr_softvm {
	struct skr_test_chain chain;
	struct skr_test_report_opts report;	/* edit, then skr_softvm_seal() */
	EVP_PKEY *ak;
	struct skr_pcr_banks pcrs;
	struct skr_buf hcl;
	EVP_PKEY *wrap_key;			/* P-256 private: the "vTPM" wrap key */
	TPMA_OBJECT wrap_attrs;
	uint32_t wrap_hierarchy;	/* the wrap key is a primary of this one; 0: TPM_RH_NULL */
	/* Faults, each breaking one link of the evidence. */
	EVP_PKEY *quote_signer;		/* NULL: ak */
	EVP_PKEY *certify_signer;	/* NULL: ak */
	bool claims_without_ak;
	bool tamper_claims;
	bool certify_other_key;		/* certify names another key than the one sent */
	bool quote_other_nonce;
	bool certify_other_nonce;
	bool include_vcek;		/* send the VCEK in the evidence (default true) */
	X509 *vcek_override;		/* send this VCEK instead */
	uint32_t quote_mask;		/* sha256 PCRs quoted */
};

/* A VM on its own test chain (product Milan), PCRs from skr_test_pcr_banks. */
int skr_softvm_new(struct skr_softvm *vm, struct skr_err *err);
/* A VM on an existing chain (shares the CA; its own VCEK, chip id from seed). */
int skr_softvm_new_on(struct skr_softvm *vm, const struct skr_test_chain *ca, uint32_t seed,
		      struct skr_err *err);
void skr_softvm_free(struct skr_softvm *vm);
/* Rebuilds the HCL report after report/claims knobs changed. */
int skr_softvm_seal(struct skr_softvm *vm, struct skr_err *err);

/* The release request body {"key_id","nonce","evidence"} for this nonce. */
int skr_softvm_request(struct skr_softvm *vm, const char *key_id, const uint8_t *nonce,
		       size_t nonce_len, json_object **out, struct skr_err *err);

/* Opens the broker's {"wrapped": ...} answer with the VM's wrap key. */
int skr_softvm_unwrap(struct skr_softvm *vm, json_object *resp, const char *key_id,
		      const uint8_t *nonce, size_t nonce_len, uint8_t *secret, size_t *len,
		      struct skr_err *err);

/* The PEM bundle (ASK+ARK) a broker must trust for this VM. */
int skr_softvm_trust_pem(const struct skr_softvm *vm, struct skr_buf *pem, struct skr_err *err);

#endif
