/* SPDX-License-Identifier: Apache-2.0 */
#include "verify/wrap_key.h"
#include "common/cleanup.h"

#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <tss2/tss2_mu.h>

#include "verify/tpm_attest.h"
#include "common/util.h"
#include "verify/wrap.h"

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

int skr_tpm_public_name(const TPM2B_PUBLIC *pub, TPM2B_NAME *out, struct skr_err *err)
{
	uint8_t buf[sizeof(TPMT_PUBLIC)];
	const EVP_MD *md = skr_tpm_alg_md(pub->publicArea.nameAlg);
	unsigned int len = 0;
	size_t off = 0;

	if (!md)
		return skr_fail(err, SKR_R_unsupported, "name algorithm 0x%04x is not supported",
				pub->publicArea.nameAlg);
	if (Tss2_MU_TPMT_PUBLIC_Marshal(&pub->publicArea, buf, sizeof(buf), &off) !=
	    TSS2_RC_SUCCESS)
		return skr_fail(err, SKR_R_malformed, "cannot marshal TPMT_PUBLIC");
	out->name[0] = (uint8_t)(pub->publicArea.nameAlg >> 8);
	out->name[1] = (uint8_t)pub->publicArea.nameAlg;
	if (!EVP_Digest(buf, off, out->name + 2, &len, md, NULL))
		return skr_fail(err, SKR_R_nomem, "digest failure");
	out->size = (UINT16)(2 + len);
	return 0;
}

int skr_tpm_primary_qualified_name(uint32_t hierarchy, const TPM2B_NAME *name, TPM2B_NAME *out,
				   struct skr_err *err)
{
	uint8_t buf[4 + sizeof(name->name)];
	const EVP_MD *md;
	unsigned int len = 0;
	uint16_t alg;

	if (name->size < 2 || name->size > sizeof(name->name))
		return skr_fail(err, SKR_R_malformed, "a Name of %u bytes has no name algorithm",
				name->size);
	alg = (uint16_t)(name->name[0] << 8 | name->name[1]);
	md = skr_tpm_alg_md(alg);
	if (!md)
		return skr_fail(err, SKR_R_unsupported, "name algorithm 0x%04x is not supported", alg);
	buf[0] = (uint8_t)(hierarchy >> 24);
	buf[1] = (uint8_t)(hierarchy >> 16);
	buf[2] = (uint8_t)(hierarchy >> 8);
	buf[3] = (uint8_t)hierarchy;
	memcpy(buf + 4, name->name, name->size);
	out->name[0] = name->name[0];
	out->name[1] = name->name[1];
	if (!EVP_Digest(buf, 4u + name->size, out->name + 2, &len, md, NULL))
		return skr_fail(err, SKR_R_nomem, "digest failure");
	out->size = (UINT16)(2 + len);
	return 0;
}

static int rsa_to_pkey(const TPMT_PUBLIC *p, EVP_PKEY **out, struct skr_err *err)
{
	_cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
	_cleanup_(OSSL_PARAM_BLD_freep) OSSL_PARAM_BLD *bld = NULL;
	_cleanup_(OSSL_PARAM_freep) OSSL_PARAM *params = NULL;
	_cleanup_(BN_freep) BIGNUM *n = NULL;
	_cleanup_(BN_freep) BIGNUM *e = NULL;
	const TPM2B_PUBLIC_KEY_RSA *mod = &p->unique.rsa;
	uint32_t exp = p->parameters.rsaDetail.exponent ? p->parameters.rsaDetail.exponent : 65537;

	if (mod->size == 0 || mod->size > sizeof(mod->buffer) ||
	    (unsigned)mod->size * 8 != p->parameters.rsaDetail.keyBits)
		return skr_fail(err, SKR_R_malformed, "RSA public: %u-byte modulus for %u-bit key",
				mod->size, p->parameters.rsaDetail.keyBits);
	n = BN_bin2bn(mod->buffer, mod->size, NULL);
	e = BN_new();
	bld = OSSL_PARAM_BLD_new();
	if (!n || !e || !bld || !BN_set_word(e, exp) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
	    !(params = OSSL_PARAM_BLD_to_param(bld)))
		return skr_fail(err, SKR_R_nomem, "out of memory");
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) != 1)
		return skr_fail(err, SKR_R_malformed, "RSA public key rejected by OpenSSL");
	return 0;
}

static int ecc_to_pkey(const TPMT_PUBLIC *p, EVP_PKEY **out, struct skr_err *err)
{
	_cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
	uint8_t point[SKR_WRAP_EPK_SIZE] = { 0x04 };
	const TPMS_ECC_POINT *q = &p->unique.ecc;
	OSSL_PARAM params[3];
	char group[] = "prime256v1";

	if (p->parameters.eccDetail.curveID != TPM2_ECC_NIST_P256)
		return skr_fail(err, SKR_R_unsupported, "ECC curve 0x%04x is not supported (P-256 only)",
				p->parameters.eccDetail.curveID);
	if (q->x.size == 0 || q->x.size > 32 || q->y.size == 0 || q->y.size > 32)
		return skr_fail(err, SKR_R_malformed, "ECC public point has coordinates of %u and %u bytes",
				q->x.size, q->y.size);
	memcpy(point + 1 + 32 - q->x.size, q->x.buffer, q->x.size);
	memcpy(point + 1 + 64 - q->y.size, q->y.buffer, q->y.size);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point));
	params[2] = OSSL_PARAM_construct_end();
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) != 1)
		return skr_fail(err, SKR_R_malformed, "ECC public point is not on P-256");
	return 0;
}

int skr_tpm_public_to_pkey(const TPM2B_PUBLIC *pub, EVP_PKEY **out, struct skr_err *err)
{
	*out = NULL;
	switch (pub->publicArea.type) {
	case TPM2_ALG_RSA:
		return rsa_to_pkey(&pub->publicArea, out, err);
	case TPM2_ALG_ECC:
		return ecc_to_pkey(&pub->publicArea, out, err);
	default:
		return skr_fail(err, SKR_R_unsupported, "TPM key type 0x%04x is not supported",
				pub->publicArea.type);
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
	TPM2B_NAME name, null_qn;
	TPMS_ATTEST a;
	const TPM2B_NAME *certified;

	*pkey = NULL;
	if (verify_certify(certify_attest, attest_len, certify_sig, sig_len, ak, nonce, nonce_len,
			   &a, err) < 0 ||
	    skr_tpm2b_public_parse(public_bytes, public_len, &pub, err) < 0 ||
	    skr_tpm_public_name(&pub, &name, err) < 0)
		return -1;
	certified = &a.attested.certify.name;
	if (certified->size != name.size || !skr_ct_equal(certified->name, name.name, name.size))
		return skr_fail(err, SKR_R_certify_name_mismatch,
				"the AK certified another key than the wrap key presented");
	if (skr_wrap_key_check_attributes(&pub.publicArea, err) < 0 ||
	    skr_tpm_primary_qualified_name(TPM2_RH_NULL, &name, &null_qn, err) < 0)
		return -1;
	certified = &a.attested.certify.qualifiedName;
	if (certified->size != null_qn.size ||
	    !skr_ct_equal(certified->name, null_qn.name, null_qn.size))
		return skr_fail(err, SKR_R_wrap_key_hierarchy,
				"the certified qualified name shows that the wrap key is not a primary "
				"key of the NULL hierarchy, so it could outlive this boot");
	return skr_tpm_public_to_pkey(&pub, pkey, err);
}
