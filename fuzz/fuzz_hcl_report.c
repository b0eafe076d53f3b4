/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the Azure HCL report parser, the claims binding, the
 * claims JSON, the HCLAkPub JWK and the user-data.  The claims are parsed
 * even when the binding fails (it always does for mutated inputs), so that
 * the JSON and JWK code sees the fuzzer's bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "verify/hcl_report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct skr_hcl_report r;
	struct skr_err err = { 0 };
	EVP_PKEY *ak = NULL;
	uint8_t digest[64], user_data[64];
	size_t user_len = 0;

	if (skr_hcl_report_parse(data, size, &r, &err) < 0)
		return 0;
	(void)skr_hcl_claims_digest(&r, digest, &err);
	(void)skr_hcl_verify_binding(&r, &err);
	skr_err_clear(&err);
	/* Before parsing the claims: must fail cleanly, not dereference NULL. */
	(void)skr_hcl_user_data(&r, user_data, &user_len, &err);
	(void)skr_hcl_ak_public(&r, &ak, &err);
	EVP_PKEY_free(ak);
	ak = NULL;
	skr_err_clear(&err);
	if (skr_hcl_parse_claims(&r, &err) == 0) {
		(void)skr_hcl_parse_claims(&r, &err);	/* idempotent */
		if (skr_hcl_ak_public(&r, &ak, &err) == 0 && EVP_PKEY_get_bits(ak) < 2048)
			__builtin_trap();	/* the JWK code promises >= 2048 bits */
		EVP_PKEY_free(ak);
		skr_err_clear(&err);
		if (skr_hcl_user_data(&r, user_data, &user_len, &err) == 0 && user_len > 64)
			__builtin_trap();
	}
	skr_hcl_report_free(&r);
	skr_hcl_report_free(&r);	/* freeing twice is allowed */
	ERR_clear_error();
	return 0;
}
