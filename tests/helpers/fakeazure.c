/* SPDX-License-Identifier: Apache-2.0 */
#include "fakeazure.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include "common/json_util.h"
#include "common/pcr_json.h"

#define HCL_VERSION 1
#define HCL_REQUEST_SNP 2
#define RUNTIME_HEADER 20

EVP_PKEY *skr_test_rsa_key(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
}

/* Base64url without padding, as JWKs carry big integers. */
static char *bn_b64url(const BIGNUM *bn)
{
	int len = BN_num_bytes(bn);
	uint8_t *bytes = malloc((size_t)len + 1);
	char *s = NULL, *p;

	if (bytes && BN_bn2bin(bn, bytes) == len)
		s = skr_base64_encode(bytes, (size_t)len);
	free(bytes);
	for (p = s; p && *p; p++) {
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
		else if (*p == '=')
			*p = 0;
	}
	return s;
}

static json_object *ak_jwk(EVP_PKEY *ak)
{
	BIGNUM *n = NULL, *e = NULL;
	json_object *jwk = NULL, *ops;
	char *n64 = NULL, *e64 = NULL;

	if (!EVP_PKEY_get_bn_param(ak, OSSL_PKEY_PARAM_RSA_N, &n) ||
	    !EVP_PKEY_get_bn_param(ak, OSSL_PKEY_PARAM_RSA_E, &e))
		goto out;
	n64 = bn_b64url(n);
	e64 = bn_b64url(e);
	if (!n64 || !e64)
		goto out;
	jwk = json_object_new_object();
	ops = json_object_new_array();
	json_object_array_add(ops, json_object_new_string("sign"));
	json_object_object_add(jwk, "kid", json_object_new_string("HCLAkPub"));
	json_object_object_add(jwk, "key_ops", ops);
	json_object_object_add(jwk, "kty", json_object_new_string("RSA"));
	json_object_object_add(jwk, "e", json_object_new_string(e64));
	json_object_object_add(jwk, "n", json_object_new_string(n64));
out:
	BN_free(n);
	BN_free(e);
	free(n64);
	free(e64);
	return jwk;
}

int skr_test_claims(EVP_PKEY *ak, const uint8_t *user_data, size_t user_data_len,
		    struct skr_buf *out, struct skr_err *err)
{
	json_object *root = json_object_new_object(), *keys = json_object_new_array();
	json_object *vm = json_object_new_object(), *jwk = ak ? ak_jwk(ak) : NULL;
	char *hex = user_data ? skr_hex_encode(user_data, user_data_len) : NULL;
	const char *text;
	int rc;

	if (jwk)
		json_object_array_add(keys, jwk);
	json_object_object_add(root, "keys", keys);
	json_object_object_add(vm, "secure-boot", json_object_new_boolean(1));
	json_object_object_add(vm, "tpm-enabled", json_object_new_boolean(1));
	json_object_object_add(vm, "vmUniqueId",
			       json_object_new_string("00000000-0000-4000-8000-000000000001"));
	json_object_object_add(root, "vm-configuration", vm);
	if (hex)
		json_object_object_add(root, "user-data", json_object_new_string(hex));
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
						    JSON_C_TO_STRING_NOSLASHESCAPE);
	rc = (ak && !jwk) ? skr_fail(err, SKR_R_malformed, "cannot export the AK")
			  : skr_buf_set(out, text, strlen(text), err);
	free(hex);
	json_object_put(root);
	return rc;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

int skr_test_hcl_assemble(const uint8_t snp[SKR_TEST_REPORT_SIZE], const void *claims,
			  size_t claims_len, struct skr_buf *out, struct skr_err *err)
{
	const size_t rt = 32 + SKR_TEST_REPORT_SIZE;
	size_t total = rt + RUNTIME_HEADER + claims_len;
	uint8_t *p;

	skr_buf_free(out);
	out->data = calloc(1, total + 1);
	if (!out->data)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	out->len = total;
	p = out->data;
	memcpy(p, "HCLA", 4);
	put_le32(p + 4, HCL_VERSION);
	put_le32(p + 8, (uint32_t)total);
	put_le32(p + 12, HCL_REQUEST_SNP);
	memcpy(p + 32, snp, SKR_TEST_REPORT_SIZE);
	put_le32(p + rt, (uint32_t)(RUNTIME_HEADER + claims_len));
	put_le32(p + rt + 4, 1);	/* runtime data version */
	put_le32(p + rt + 8, 2);	/* report type SNP */
	put_le32(p + rt + 12, 1);	/* hash type SHA-256 */
	put_le32(p + rt + 16, (uint32_t)claims_len);
	memcpy(p + rt + RUNTIME_HEADER, claims, claims_len);
	return 0;
}

int skr_test_hcl_report(const struct skr_test_chain *c, struct skr_test_report_opts *r,
			const void *claims, size_t claims_len, struct skr_buf *out,
			struct skr_err *err)
{
	struct skr_test_report_opts defaults;
	uint8_t snp[SKR_TEST_REPORT_SIZE];

	if (!r) {
		skr_test_report_opts_init(&defaults, &c->vcek_opts);
		r = &defaults;
	}
	memset(r->report_data, 0, sizeof(r->report_data));
	if (!EVP_Digest(claims, claims_len, r->report_data, NULL, EVP_sha256(), NULL))
		return skr_fail(err, SKR_R_nomem, "cannot hash the claims");
	if (skr_test_chain_report(c, r, snp, err) < 0)
		return -1;
	return skr_test_hcl_assemble(snp, claims, claims_len, out, err);
}

void skr_test_pcr_banks(struct skr_pcr_banks *banks)
{
	struct skr_pcr_bank *b = &banks->bank[0];
	unsigned i;

	memset(banks, 0, sizeof(*banks));
	skr_pcr_bank_init(b, SKR_TPM_ALG_SHA256, NULL);
	banks->count = 1;
	for (i = 0; i < SKR_PCR_COUNT; i++) {
		char label[16];

		snprintf(label, sizeof(label), "pcr%u", i);
		EVP_Digest(label, strlen(label), b->value[i], NULL, EVP_sha256(), NULL);
		b->extended_mask |= 1u << i;
	}
}

int skr_test_marshal_attest(const TPMS_ATTEST *a, struct skr_buf *out, struct skr_err *err)
{
	uint8_t buf[sizeof(TPMS_ATTEST)];
	size_t off = 0;

	if (Tss2_MU_TPMS_ATTEST_Marshal(a, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS)
		return skr_fail(err, SKR_R_malformed, "cannot marshal TPMS_ATTEST");
	return skr_buf_set(out, buf, off, err);
}

int skr_test_sign_attest(EVP_PKEY *ak, const uint8_t *msg, size_t len, struct skr_buf *sig,
			 struct skr_err *err)
{
	TPMT_SIGNATURE s = { .sigAlg = TPM2_ALG_RSASSA };
	uint8_t out[sizeof(TPMT_SIGNATURE)];
	size_t slen = sizeof(s.signature.rsassa.sig.buffer), off = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	ok = ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, ak) == 1 &&
	     EVP_DigestSign(ctx, s.signature.rsassa.sig.buffer, &slen, msg, len) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return skr_fail(err, SKR_R_malformed, "cannot sign the attestation");
	s.signature.rsassa.hash = TPM2_ALG_SHA256;
	s.signature.rsassa.sig.size = (UINT16)slen;
	if (Tss2_MU_TPMT_SIGNATURE_Marshal(&s, out, sizeof(out), &off) != TSS2_RC_SUCCESS)
		return skr_fail(err, SKR_R_malformed, "cannot marshal TPMT_SIGNATURE");
	return skr_buf_set(sig, out, off, err);
}

static int pcr_digest(const struct skr_pcr_banks *banks, uint32_t mask, TPM2B_DIGEST *out)
{
	const struct skr_pcr_bank *b = skr_pcr_banks_find(banks, SKR_TPM_ALG_SHA256);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int len = 0, i;
	int ok = ctx && b && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;

	for (i = 0; ok && i < SKR_PCR_COUNT; i++)
		if (mask & (1u << i))
			ok = EVP_DigestUpdate(ctx, b->value[i], b->size) == 1;
	ok = ok && EVP_DigestFinal_ex(ctx, out->buffer, &len) == 1;
	out->size = (UINT16)len;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}

int skr_test_quote(EVP_PKEY *ak, const uint8_t *nonce, size_t nonce_len,
		   const struct skr_pcr_banks *banks, uint32_t pcr_mask, struct skr_buf *attest,
		   struct skr_buf *signature, struct skr_err *err)
{
	TPMS_ATTEST a = {
		.magic = TPM2_GENERATED_VALUE,
		.type = TPM2_ST_ATTEST_QUOTE,
		.clockInfo = { .clock = 123456, .resetCount = 1, .restartCount = 0, .safe = 1 },
		.firmwareVersion = 0x2023045100000000ull,
	};
	TPMS_PCR_SELECTION *sel = &a.attested.quote.pcrSelect.pcrSelections[0];

	if (nonce_len > sizeof(a.extraData.buffer))
		return skr_fail(err, SKR_R_usage, "nonce too long");
	a.qualifiedSigner.size = 34;
	a.qualifiedSigner.name[0] = 0x00;
	a.qualifiedSigner.name[1] = 0x0b;	/* sha256 name, content irrelevant here */
	memcpy(a.extraData.buffer, nonce, nonce_len);
	a.extraData.size = (UINT16)nonce_len;
	a.attested.quote.pcrSelect.count = 1;
	sel->hash = TPM2_ALG_SHA256;
	sel->sizeofSelect = 3;
	sel->pcrSelect[0] = (BYTE)pcr_mask;
	sel->pcrSelect[1] = (BYTE)(pcr_mask >> 8);
	sel->pcrSelect[2] = (BYTE)(pcr_mask >> 16);
	if (pcr_digest(banks, pcr_mask, &a.attested.quote.pcrDigest) < 0)
		return skr_fail(err, SKR_R_malformed, "cannot compute the PCR digest");
	if (skr_test_marshal_attest(&a, attest, err) < 0)
		return -1;
	return skr_test_sign_attest(ak, attest->data, attest->len, signature, err);
}

int skr_test_evidence_json(const struct skr_buf *hcl, X509 *vcek, const struct skr_buf *attest,
			   const struct skr_buf *signature, const struct skr_pcr_banks *banks,
			   struct skr_buf *out, struct skr_err *err)
{
	json_object *root = json_object_new_object(), *quote = json_object_new_object();
	const char *text;
	int rc;

	json_object_object_add(root, "tee", json_object_new_string("az-snp-vtpm"));
	skr_json_add_b64(root, "hcl_report", hcl->data, hcl->len);
	if (vcek) {
		uint8_t *der = NULL;
		int len = i2d_X509(vcek, &der);

		if (len > 0)
			skr_json_add_b64(root, "vcek", der, (size_t)len);
		OPENSSL_free(der);
	}
	skr_json_add_b64(quote, "attest", attest->data, attest->len);
	skr_json_add_b64(quote, "signature", signature->data, signature->len);
	json_object_object_add(root, "quote", quote);
	json_object_object_add(root, "pcrs", skr_pcr_banks_to_json(banks));
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
						    JSON_C_TO_STRING_NOSLASHESCAPE);
	rc = skr_buf_set(out, text, strlen(text), err);
	json_object_put(root);
	return rc;
}
