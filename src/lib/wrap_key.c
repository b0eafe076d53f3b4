/* SPDX-License-Identifier: Apache-2.0 */
#include "wrap_key.h"

#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <tss2/tss2_mu.h>

#include "tpm_attest.h"
#include "util.h"

int skr_tpm2b_public_parse(const uint8_t *data, size_t len, TPM2B_PUBLIC *out,
			   struct skr_err *err)
{
	size_t off = 0;

	memset(out, 0, sizeof(*out));
	if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(data, len, &off, out) != TSS2_RC_SUCCESS)
		return skr_fail(err, SKR_R_malformed, "wrap key public is not a TPM2B_PUBLIC");
	if (off != len)
		return skr_fail(err, SKR_R_malformed, "wrap key public has %zu trailing bytes",
				len - off);
	return 0;
}

int skr_tpmt_public_name(const TPMT_PUBLIC *pub, TPM2B_NAME *name, struct skr_err *err)
{
	const EVP_MD *md = skr_tpm_alg_md(pub->nameAlg);
	uint8_t buf[sizeof(TPMT_PUBLIC)];
	unsigned int dlen = 0;
	size_t off = 0;

	if (!md)
		return skr_fail(err, SKR_R_unsupported, "name algorithm 0x%04x is not supported",
				pub->nameAlg);
	if (Tss2_MU_TPMT_PUBLIC_Marshal(pub, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS)
		return skr_fail(err, SKR_R_malformed, "cannot marshal the public area");
	name->name[0] = (uint8_t)(pub->nameAlg >> 8);
	name->name[1] = (uint8_t)pub->nameAlg;
	if (!EVP_Digest(buf, off, name->name + 2, &dlen, md, NULL))
		return skr_fail(err, SKR_R_nomem, "digest failure");
	name->size = (UINT16)(2 + dlen);
	return 0;
}

static int rsa_pkey(const TPMT_PUBLIC *pub, EVP_PKEY **out, struct skr_err *err)
{
	uint32_t exp = pub->parameters.rsaDetail.exponent ? pub->parameters.rsaDetail.exponent : 65537;
	BIGNUM *n = BN_bin2bn(pub->unique.rsa.buffer, pub->unique.rsa.size, NULL);
	BIGNUM *e = BN_new();
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	int ok;

	ok = n && e && bld && ctx && BN_set_word(e, exp) &&
	     OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
	     OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) &&
	     (params = OSSL_PARAM_BLD_to_param(bld)) && EVP_PKEY_fromdata_init(ctx) == 1 &&
	     EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) == 1;
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	BN_free(n);
	BN_free(e);
	return ok ? 0 : skr_fail(err, SKR_R_malformed, "the TPM RSA public key is invalid");
}

static int ecc_pkey(const TPMT_PUBLIC *pub, EVP_PKEY **out, struct skr_err *err)
{
	const TPMS_ECC_POINT *p = &pub->unique.ecc;
	size_t coord = pub->parameters.eccDetail.curveID == TPM2_ECC_NIST_P256 ? 32 : 48;
	const char *group = coord == 32 ? "prime256v1" : "secp384r1";
	uint8_t point[1 + 2 * 48] = { 0x04 };
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *ctx;
	int ok;

	if (pub->parameters.eccDetail.curveID != TPM2_ECC_NIST_P256 &&
	    pub->parameters.eccDetail.curveID != TPM2_ECC_NIST_P384)
		return skr_fail(err, SKR_R_unsupported, "ECC curve 0x%04x is not supported",
				pub->parameters.eccDetail.curveID);
	if (p->x.size > coord || p->y.size > coord)
		return skr_fail(err, SKR_R_malformed, "ECC point coordinates are too long");
	/* Left-pad each coordinate: the TPM may drop leading zero bytes. */
	memcpy(point + 1 + coord - p->x.size, p->x.buffer, p->x.size);
	memcpy(point + 1 + 2 * coord - p->y.size, p->y.buffer, p->y.size);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * coord);
	params[2] = OSSL_PARAM_construct_end();
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	ok = ctx && EVP_PKEY_fromdata_init(ctx) == 1 &&
	     EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) == 1;
	EVP_PKEY_CTX_free(ctx);
	return ok ? 0 : skr_fail(err, SKR_R_malformed, "the TPM ECC point is not on the curve");
}

int skr_tpmt_public_pkey(const TPMT_PUBLIC *pub, EVP_PKEY **out, struct skr_err *err)
{
	*out = NULL;
	switch (pub->type) {
	case TPM2_ALG_RSA:
		return rsa_pkey(pub, out, err);
	case TPM2_ALG_ECC:
		return ecc_pkey(pub, out, err);
	default:
		return skr_fail(err, SKR_R_unsupported, "TPM key type 0x%04x is not supported",
				pub->type);
	}
}

int skr_wrap_key_check_attributes(const TPMT_PUBLIC *pub, struct skr_err *err)
{
	TPMA_OBJECT a = pub->objectAttributes;

	if (pub->type != TPM2_ALG_ECC || pub->parameters.eccDetail.curveID != TPM2_ECC_NIST_P256)
		return skr_fail(err, SKR_R_wrap_key_attributes, "the wrap key is not ECC P-256");
	if (pub->nameAlg != TPM2_ALG_SHA256)
		return skr_fail(err, SKR_R_wrap_key_attributes, "the wrap key's name algorithm is not SHA-256");
	if ((a & SKR_WRAP_KEY_REQUIRED) != SKR_WRAP_KEY_REQUIRED)
		return skr_fail(err, SKR_R_wrap_key_attributes,
				"the wrap key lacks attributes 0x%08x (needs fixedTPM, fixedParent, "
				"sensitiveDataOrigin, decrypt, noDA)",
				(unsigned)(SKR_WRAP_KEY_REQUIRED & ~a));
	if (a & SKR_WRAP_KEY_FORBIDDEN)
		return skr_fail(err, SKR_R_wrap_key_attributes,
				"the wrap key has attributes 0x%08x it must not have (sign, restricted)",
				(unsigned)(a & SKR_WRAP_KEY_FORBIDDEN));
	return 0;
}

/* Verifies the certify; quote-flavoured reasons become certify reasons. */
static int verify_certify(const uint8_t *attest, size_t attest_len, const uint8_t *sig,
			  size_t sig_len, EVP_PKEY *ak, const uint8_t *nonce, size_t nonce_len,
			  TPMS_ATTEST *a, struct skr_err *err)
{
	struct skr_err local = { 0 };
	TPMT_SIGNATURE s;

	if (skr_tpm_signature_parse(sig, sig_len, ak, &s, &local) == 0 &&
	    skr_tpm_signature_verify(attest, attest_len, &s, ak, &local) == 0 &&
	    skr_tpm_attest_parse(attest, attest_len, a, &local) == 0 &&
	    skr_tpm_attest_check(a, TPM2_ST_ATTEST_CERTIFY, nonce, nonce_len, &local) == 0)
		return 0;
	switch (local.reason) {
	case SKR_R_quote_signature_invalid:
		return skr_fail(err, SKR_R_certify_signature_invalid,
				"the wrap key's certification is not signed by the AK");
	case SKR_R_quote_nonce_mismatch:
		return skr_fail(err, SKR_R_certify_nonce_mismatch,
				"the wrap key's certification is not for this nonce");
	case SKR_R_quote_type_invalid:
		return skr_fail(err, SKR_R_certify_signature_invalid,
				"the wrap key's certification is not a TPM2_Certify");
	default:
		return skr_fail(err, local.reason, "wrap key certification: %s", local.detail);
	}
}

int skr_wrap_key_verify(const uint8_t *public_bytes, size_t public_len,
			const uint8_t *certify_attest, size_t attest_len,
			const uint8_t *certify_sig, size_t sig_len, EVP_PKEY *ak,
			const uint8_t *nonce, size_t nonce_len, EVP_PKEY **pkey,
			struct skr_err *err)
{
	TPM2B_PUBLIC pub;
	TPM2B_NAME name;
	TPMS_ATTEST a;
	const TPM2B_NAME *certified;

	*pkey = NULL;
	if (verify_certify(certify_attest, attest_len, certify_sig, sig_len, ak, nonce, nonce_len,
			   &a, err) < 0 ||
	    skr_tpm2b_public_parse(public_bytes, public_len, &pub, err) < 0 ||
	    skr_tpmt_public_name(&pub.publicArea, &name, err) < 0)
		return -1;
	certified = &a.attested.certify.name;
	if (certified->size != name.size || !skr_ct_equal(certified->name, name.name, name.size))
		return skr_fail(err, SKR_R_certify_name_mismatch,
				"the AK certified another key than the wrap key presented");
	if (skr_wrap_key_check_attributes(&pub.publicArea, err) < 0)
		return -1;
	return skr_tpmt_public_pkey(&pub.publicArea, pkey, err);
}
