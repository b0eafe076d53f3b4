/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TPM 2.0 attestation structures: TPMS_ATTEST (quote and certify) unmarshalled
 * with tss2-mu, their signatures (TPMT_SIGNATURE or raw RSASSA bytes) checked
 * with OpenSSL, and the quote's PCR digest recomputed from PCR values.
 */
#ifndef SKR_TPM_ATTEST_H
#define SKR_TPM_ATTEST_H

#include <stdint.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include "common/err.h"
#include "verify/eventlog.h"

#define SKR_TPM_MAX_ATTEST 4096

/* Unmarshals exactly len bytes as TPMS_ATTEST and checks the magic. */
int skr_tpm_attest_parse(const uint8_t *data, size_t len, TPMS_ATTEST *out,
			 struct skr_err *err);

/*
 * Reads a signature: a marshalled TPMT_SIGNATURE, or the raw RSASSA-PKCS1
 * bytes (SHA-256) when the key is RSA and len equals its modulus size.
 */
int skr_tpm_signature_parse(const uint8_t *data, size_t len, EVP_PKEY *key,
			    TPMT_SIGNATURE *out, struct skr_err *err);

/* Verifies sig over msg (the marshalled TPMS_ATTEST) with key. */
int skr_tpm_signature_verify(const uint8_t *msg, size_t msg_len, const TPMT_SIGNATURE *sig,
			     EVP_PKEY *key, struct skr_err *err);

/* Checks the attestation type and that extraData equals the nonce (constant time). */
int skr_tpm_attest_check(const TPMS_ATTEST *a, TPM2_ST type, const uint8_t *nonce,
			 size_t nonce_len, struct skr_err *err);

/*
 * Recomputes a quote's pcrDigest with hash_alg (the signing scheme's hash)
 * over the selected PCRs taken from banks, and compares.  A selected PCR
 * missing from banks is an error naming it.
 */
int skr_tpm_quote_check_pcrs(const TPMS_ATTEST *a, const struct skr_pcr_banks *banks,
			     TPMI_ALG_HASH hash_alg, struct skr_err *err);

/*
 * The whole quote check in the order that matters: the signature over the raw
 * bytes first (nothing is parsed further before it holds), then the structure,
 * type quote, the nonce (when given) and the PCR digest (when banks is given).
 */
int skr_tpm_quote_verify(const uint8_t *msg, size_t msg_len, const uint8_t *sig,
			 size_t sig_len, EVP_PKEY *ak, const uint8_t *nonce, size_t nonce_len,
			 const struct skr_pcr_banks *banks, TPMS_ATTEST *out, struct skr_err *err);

/* "sha256:0,1,2,7 sha1:0" for messages; writes at most size bytes. */
void skr_tpm_pcr_selection_str(const TPML_PCR_SELECTION *sel, char *out, size_t size);

/* The hash of a TPMT_SIGNATURE's scheme (TPM2_ALG_NULL for none). */
TPMI_ALG_HASH skr_tpm_signature_hash(const TPMT_SIGNATURE *sig);

/* The attestation's fields with stable keys; byte strings in lower-case hex. */
json_object *skr_tpm_attest_to_json(const TPMS_ATTEST *a);

/* The OpenSSL digest for a TPM hash algorithm, or NULL. */
const EVP_MD *skr_tpm_alg_md(TPMI_ALG_HASH alg);

#endif
