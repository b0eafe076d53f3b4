/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: TPMS_ATTEST unmarshalling and checks, the quote's PCR
 * digest recomputation, and TPMT_SIGNATURE / raw RSASSA signature parsing and
 * verification.  Every input goes through both paths: as an attestation and
 * as a signature (with a static RSA-2048 key, and an EC P-256 key for ECDSA).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "verify/eventlog.h"
#include "verify/tpm_attest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *rsa_key, *ec_key;
static struct skr_pcr_banks banks;

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const uint16_t algs[] = { SKR_TPM_ALG_SHA256, SKR_TPM_ALG_SHA1 };
	struct skr_err err = { 0 };
	size_t b;
	unsigned pcr;

	/* tss2-mu logs every unmarshalling error to stderr: millions of lines. */
	setenv("TSS2_LOG", "all+none", 0);
	rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	ec_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!rsa_key || !ec_key)
		__builtin_trap();
	for (b = 0; b < ARRAY_SIZE(algs); b++) {
		struct skr_pcr_bank *bank = &banks.bank[b];

		if (skr_pcr_bank_init(bank, algs[b], &err) < 0)
			__builtin_trap();
		for (pcr = 0; pcr < SKR_PCR_COUNT; pcr++)
			memset(bank->value[pcr], (int)(pcr * 17 + b), bank->size);
		bank->extended_mask = (1u << SKR_PCR_COUNT) - 1;
		banks.count++;
	}
	return 0;
}

static void attest_path(const uint8_t *data, size_t size)
{
	static const uint8_t nonce[32] = { 1, 2, 3, 4 };
	struct skr_err err = { 0 };
	TPMS_ATTEST a;
	json_object *j;
	char sel[256], tiny[8];
	volatile size_t sink;

	if (skr_tpm_attest_parse(data, size, &a, &err) < 0)
		return;
	j = skr_tpm_attest_to_json(&a);
	sink = strlen(json_object_to_json_string(j));
	(void)sink;
	json_object_put(j);

	(void)skr_tpm_attest_check(&a, TPM2_ST_ATTEST_QUOTE, nonce, sizeof(nonce), &err);
	skr_err_clear(&err);
	(void)skr_tpm_attest_check(&a, TPM2_ST_ATTEST_CERTIFY, nonce, sizeof(nonce), &err);
	skr_err_clear(&err);
	/* The attestation's own extraData as the nonce: the success path. */
	if (skr_tpm_attest_check(&a, a.type, a.extraData.buffer, a.extraData.size, &err) < 0)
		__builtin_trap();
	(void)skr_tpm_attest_check(&a, a.type, NULL, 0, &err);

	(void)skr_tpm_quote_check_pcrs(&a, &banks, TPM2_ALG_SHA256, &err);
	skr_err_clear(&err);
	(void)skr_tpm_quote_check_pcrs(&a, &banks, TPM2_ALG_SHA1, &err);
	skr_err_clear(&err);
	(void)skr_tpm_quote_check_pcrs(&a, &banks, TPM2_ALG_SHA384, &err);
	skr_err_clear(&err);
	(void)skr_tpm_quote_check_pcrs(&a, &banks, TPM2_ALG_NULL, &err);

	if (a.type == TPM2_ST_ATTEST_QUOTE) {
		skr_tpm_pcr_selection_str(&a.attested.quote.pcrSelect, sel, sizeof(sel));
		skr_tpm_pcr_selection_str(&a.attested.quote.pcrSelect, tiny, sizeof(tiny));
		if (strlen(tiny) >= sizeof(tiny))
			__builtin_trap();
	}
}

static void signature_path(const uint8_t *data, size_t size)
{
	struct skr_err err = { 0 };
	TPMT_SIGNATURE sig;

	if (skr_tpm_signature_parse(data, size, rsa_key, &sig, &err) == 0) {
		(void)skr_tpm_signature_hash(&sig);
		(void)skr_tpm_signature_verify(data, size, &sig, rsa_key, &err);
		skr_err_clear(&err);
		(void)skr_tpm_signature_verify(data, size, &sig, ec_key, &err);
	}
	skr_err_clear(&err);
	(void)skr_tpm_signature_parse(data, size, NULL, &sig, &err);
	ERR_clear_error();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	attest_path(data, size);
	signature_path(data, size);
	return 0;
}
