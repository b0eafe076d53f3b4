/* SPDX-License-Identifier: Apache-2.0 */
#include "verify/snp_bind.h"

#include <openssl/evp.h>

#include "common/util.h"

int skr_snp_bind(const uint8_t *nonce, size_t nonce_len, const uint8_t epk[SKR_WRAP_EPK_SIZE],
		 uint8_t out[SKR_SNP_REPORT_DATA], struct skr_err *err)
{
	EVP_MD_CTX *md;
	unsigned int n = 0;
	int ok;

	if (nonce_len != SKR_SNP_BIND_NONCE)
		return skr_fail(err, SKR_R_malformed, "snp binding: the nonce is %zu bytes, not %d",
				nonce_len, SKR_SNP_BIND_NONCE);
	if (!skr_wrap_epk_valid(epk))
		return skr_fail(err, SKR_R_malformed,
				"snp binding: the wrap key is not an uncompressed P-256 point");
	md = EVP_MD_CTX_new();
	if (!md)
		return skr_fail(err, SKR_R_nomem, "snp binding: out of memory");
	ok = EVP_DigestInit_ex(md, EVP_sha512(), NULL) &&
	     EVP_DigestUpdate(md, SKR_SNP_BIND_LABEL, sizeof(SKR_SNP_BIND_LABEL) - 1) &&
	     EVP_DigestUpdate(md, nonce, nonce_len) &&
	     EVP_DigestUpdate(md, epk, SKR_WRAP_EPK_SIZE) && EVP_DigestFinal_ex(md, out, &n) &&
	     n == SKR_SNP_REPORT_DATA;
	EVP_MD_CTX_free(md);
	return ok ? 0 : skr_fail(err, SKR_R_nomem, "snp binding: SHA-512 failed");
}

int skr_snp_bind_check(const uint8_t report_data[SKR_SNP_REPORT_DATA], const uint8_t *nonce,
		       size_t nonce_len, const uint8_t epk[SKR_WRAP_EPK_SIZE],
		       struct skr_err *err)
{
	uint8_t want[SKR_SNP_REPORT_DATA];

	if (skr_snp_bind(nonce, nonce_len, epk, want, err) < 0)
		return -1;
	if (!skr_ct_equal(report_data, want, sizeof(want)))
		return skr_fail(err, SKR_R_report_data_mismatch,
				"REPORT_DATA does not bind this nonce and this wrap key");
	return 0;
}
