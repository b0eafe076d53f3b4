/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test-only builders of Azure CVM evidence: runtime claims with an HCLAkPub
 * JWK, HCL reports in the real layout around a test-signed SNP report, TPM
 * quotes (TPMS_ATTEST + TPMT_SIGNATURE) signed by a test AK, and evidence
 * bundles in skr's JSON layout.  Used by unit tests now and by the fake Azure
 * vTPM provisioning tool; never linked into skr itself.
 */
#ifndef SKR_FAKEAZURE_H
#define SKR_FAKEAZURE_H

#include <stdint.h>

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include "verify/eventlog.h"
#include "testchain.h"
#include "common/util.h"

/* Claims JSON: {"keys":[HCLAkPub JWK], "vm-configuration":{...}, "user-data": hex}. */
int skr_test_claims(EVP_PKEY *ak, const uint8_t *user_data, size_t user_data_len,
		    struct skr_buf *out, struct skr_err *err);

/*
 * The HCL report: "HCLA" header, the SNP report at 32, the runtime data
 * header at 1216 (hash type SHA-256) and the claims at 1236.
 */
int skr_test_hcl_assemble(const uint8_t snp[SKR_TEST_REPORT_SIZE], const void *claims,
			  size_t claims_len, struct skr_buf *out, struct skr_err *err);

/*
 * A bound HCL report: REPORT_DATA[0:32] = SHA-256(claims), signed by the
 * chain's VCEK.  r NULL = defaults for the chain.
 */
int skr_test_hcl_report(const struct skr_test_chain *c, struct skr_test_report_opts *r,
			const void *claims, size_t claims_len, struct skr_buf *out,
			struct skr_err *err);

/* A sha256 bank with PCR i = SHA-256("pcr" i) for every i in 0..23. */
void skr_test_pcr_banks(struct skr_pcr_banks *banks);

/*
 * A TPM2_Quote as a TPM would produce it: TPMS_ATTEST over the sha256 PCRs
 * in pcr_mask (digest from banks), extraData = nonce, signed RSASSA-SHA256 by
 * ak; attest and signature (TPMT_SIGNATURE) marshalled.
 */
int skr_test_quote(EVP_PKEY *ak, const uint8_t *nonce, size_t nonce_len,
		   const struct skr_pcr_banks *banks, uint32_t pcr_mask, struct skr_buf *attest,
		   struct skr_buf *signature, struct skr_err *err);

/* Signs arbitrary bytes RSASSA-SHA256 and marshals a TPMT_SIGNATURE. */
int skr_test_sign_attest(EVP_PKEY *ak, const uint8_t *msg, size_t len, struct skr_buf *sig,
			 struct skr_err *err);

/* Marshals a TPMS_ATTEST. */
int skr_test_marshal_attest(const TPMS_ATTEST *a, struct skr_buf *out, struct skr_err *err);

/* The whole bundle in skr's layout (see src/verify/evidence.h); vcek NULL omits it. */
int skr_test_evidence_json(const struct skr_buf *hcl, X509 *vcek, const struct skr_buf *attest,
			   const struct skr_buf *signature, const struct skr_pcr_banks *banks,
			   struct skr_buf *out, struct skr_err *err);

/* A fresh RSA-2048 key (the AK). */
EVP_PKEY *skr_test_rsa_key(void);

#endif
