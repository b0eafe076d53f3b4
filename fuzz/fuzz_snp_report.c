/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the SEV-SNP attestation report parser, product and TCB
 * decoding, the JSON rendering and the signature check (with a fixed P-384
 * key generated once, so verification fails, but every step before it runs).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "verify/snp_report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *p384_key(void)
{
	static EVP_PKEY *key;

	if (!key)
		key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	return key;
}

static void exercise(const struct skr_snp_report *r)
{
	enum skr_snp_product product = skr_snp_report_product(r);
	struct skr_err err = { 0 };
	struct skr_snp_tcb tcb;
	json_object *j;
	volatile size_t sink;

	tcb = skr_snp_tcb_decode(r->reported_tcb, product);
	sink = tcb.bootloader + tcb.tee + tcb.snp + tcb.microcode + tcb.fmc;
	tcb = skr_snp_tcb_decode(r->current_tcb, SKR_SNP_PRODUCT_TURIN);
	sink += tcb.fmc;
	(void)sink;
	(void)skr_snp_product_name(product);

	/* Every product layout, so that Turin's is rendered for every input too. */
	j = skr_snp_report_to_json(r, product);
	sink = strlen(json_object_to_json_string(j));
	json_object_put(j);
	j = skr_snp_report_to_json(r, product == SKR_SNP_PRODUCT_TURIN ? SKR_SNP_PRODUCT_MILAN
								       : SKR_SNP_PRODUCT_TURIN);
	json_object_put(j);

	(void)skr_snp_report_verify_signature(r, p384_key(), &err);
	skr_err_clear(&err);
	(void)skr_snp_report_verify_signature(r, NULL, &err);
	ERR_clear_error();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct skr_snp_report report;
	struct skr_err err = { 0 };
	uint8_t padded[SKR_SNP_REPORT_SIZE];

	if (skr_snp_report_parse(data, size, &report, &err) == 0) {
		exercise(&report);
		return 0;
	}
	if (size == SKR_SNP_REPORT_SIZE)
		return 0;
	/* Wrong length: also try the input cut or zero-padded to a report's size. */
	memset(padded, 0, sizeof(padded));
	memcpy(padded, data, size < sizeof(padded) ? size : sizeof(padded));
	skr_err_clear(&err);
	if (skr_snp_report_parse(padded, sizeof(padded), &report, &err) == 0)
		exercise(&report);
	return 0;
}
