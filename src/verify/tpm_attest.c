/* SPDX-License-Identifier: Apache-2.0 */
#include "verify/tpm_attest.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include "common/json_util.h"
#include "common/util.h"

int skr_tpm_attest_parse(const uint8_t *data, size_t len, TPMS_ATTEST *out,
			 struct skr_err *err)
{
	size_t offset = 0;

	memset(out, 0, sizeof(*out));
	if (len == 0 || len > SKR_TPM_MAX_ATTEST)
		return skr_fail(err, SKR_R_malformed, "TPMS_ATTEST is %zu bytes (1 to %d allowed)",
				len, SKR_TPM_MAX_ATTEST);
	if (Tss2_MU_TPMS_ATTEST_Unmarshal(data, len, &offset, out) != TSS2_RC_SUCCESS)
		return skr_fail(err, SKR_R_malformed, "TPMS_ATTEST does not unmarshal");
	if (offset != len)
		return skr_fail(err, SKR_R_malformed, "TPMS_ATTEST has %zu trailing bytes",
				len - offset);
	if (out->magic != TPM2_GENERATED_VALUE)
		return skr_fail(err, SKR_R_quote_magic_invalid,
				"TPMS_ATTEST magic is 0x%08x, not TPM_GENERATED_VALUE", out->magic);
	return 0;
}

const EVP_MD *skr_tpm_alg_md(TPMI_ALG_HASH alg)
{
	switch (alg) {
	case TPM2_ALG_SHA1:
		return EVP_sha1();
	case TPM2_ALG_SHA256:
		return EVP_sha256();
	case TPM2_ALG_SHA384:
		return EVP_sha384();
	case TPM2_ALG_SHA512:
		return EVP_sha512();
	default:
		return NULL;
	}
}

TPMI_ALG_HASH skr_tpm_signature_hash(const TPMT_SIGNATURE *sig)
{
	switch (sig->sigAlg) {
	case TPM2_ALG_RSASSA:
		return sig->signature.rsassa.hash;
	case TPM2_ALG_RSAPSS:
		return sig->signature.rsapss.hash;
	case TPM2_ALG_ECDSA:
		return sig->signature.ecdsa.hash;
	default:
		return TPM2_ALG_NULL;
	}
}

int skr_tpm_signature_parse(const uint8_t *data, size_t len, EVP_PKEY *key,
			    TPMT_SIGNATURE *out, struct skr_err *err)
{
	size_t offset = 0;
	int key_size = key ? EVP_PKEY_get_size(key) : 0;

	memset(out, 0, sizeof(*out));
	if (Tss2_MU_TPMT_SIGNATURE_Unmarshal(data, len, &offset, out) == TSS2_RC_SUCCESS &&
	    offset == len)
		return 0;
	memset(out, 0, sizeof(*out));
	/* Raw RSASSA bytes, as tpm2_quote -f plain and Azure evidence carry them. */
	if (key && EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA && key_size > 0 &&
	    len == (size_t)key_size && len <= sizeof(out->signature.rsassa.sig.buffer)) {
		out->sigAlg = TPM2_ALG_RSASSA;
		out->signature.rsassa.hash = TPM2_ALG_SHA256;
		out->signature.rsassa.sig.size = (UINT16)len;
		memcpy(out->signature.rsassa.sig.buffer, data, len);
		return 0;
	}
	return skr_fail(err, SKR_R_malformed,
			"signature (%zu bytes) is neither a TPMT_SIGNATURE nor raw RSASSA bytes "
			"of the key's size", len);
}

static int ecdsa_to_der(const TPMS_SIGNATURE_ECC *ecc, uint8_t **der, size_t *der_len,
			struct skr_err *err)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(ecc->signatureR.buffer, ecc->signatureR.size, NULL);
	BIGNUM *s = BN_bin2bn(ecc->signatureS.buffer, ecc->signatureS.size, NULL);
	int n;

	if (!sig || !r || !s || !ECDSA_SIG_set0(sig, r, s)) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(sig);
		return skr_fail(err, SKR_R_nomem, "cannot build the ECDSA signature");
	}
	*der = NULL;
	n = i2d_ECDSA_SIG(sig, der);
	ECDSA_SIG_free(sig);
	if (n <= 0)
		return skr_fail(err, SKR_R_nomem, "cannot encode the ECDSA signature");
	*der_len = (size_t)n;
	return 0;
}

/* Picks the OpenSSL padding and the signature bytes for a TPM scheme. */
static int scheme_setup(const TPMT_SIGNATURE *sig, EVP_PKEY *key, int *padding,
			uint8_t **der, const uint8_t **bytes, size_t *len, struct skr_err *err)
{
	int type = EVP_PKEY_get_base_id(key);

	switch (sig->sigAlg) {
	case TPM2_ALG_RSASSA:
	case TPM2_ALG_RSAPSS:
		if (type != EVP_PKEY_RSA)
			break;
		*padding = sig->sigAlg == TPM2_ALG_RSASSA ? RSA_PKCS1_PADDING : RSA_PKCS1_PSS_PADDING;
		*bytes = sig->signature.rsassa.sig.buffer;
		*len = sig->signature.rsassa.sig.size;
		return 0;
	case TPM2_ALG_ECDSA:
		if (type != EVP_PKEY_EC)
			break;
		*padding = 0;
		if (ecdsa_to_der(&sig->signature.ecdsa, der, len, err) < 0)
			return -1;
		*bytes = *der;
		return 0;
	default:
		return skr_fail(err, SKR_R_unsupported, "signature scheme 0x%04x is not supported",
				sig->sigAlg);
	}
	return skr_fail(err, SKR_R_quote_signature_invalid,
			"signature scheme 0x%04x does not match the key type", sig->sigAlg);
}

int skr_tpm_signature_verify(const uint8_t *msg, size_t msg_len, const TPMT_SIGNATURE *sig,
			     EVP_PKEY *key, struct skr_err *err)
{
	const EVP_MD *md = skr_tpm_alg_md(skr_tpm_signature_hash(sig));
	EVP_PKEY_CTX *pctx = NULL;
	EVP_MD_CTX *ctx = NULL;
	const uint8_t *bytes = NULL;
	uint8_t *der = NULL;
	size_t len = 0;
	int padding = 0, ok = 0;

	if (!md)
		return skr_fail(err, SKR_R_unsupported, "signature hash 0x%04x is not supported",
				skr_tpm_signature_hash(sig));
	if (scheme_setup(sig, key, &padding, &der, &bytes, &len, err) < 0)
		return -1;
	ctx = EVP_MD_CTX_new();
	if (ctx && EVP_DigestVerifyInit(ctx, &pctx, md, NULL, key) == 1 &&
	    (!padding || EVP_PKEY_CTX_set_rsa_padding(pctx, padding) == 1) &&
	    (padding != RSA_PKCS1_PSS_PADDING ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) == 1))
		ok = EVP_DigestVerify(ctx, bytes, len, msg, msg_len) == 1;
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	if (!ok)
		return skr_fail(err, SKR_R_quote_signature_invalid,
				"the attestation signature does not verify with the given key");
	return 0;
}

int skr_tpm_attest_check(const TPMS_ATTEST *a, TPM2_ST type, const uint8_t *nonce,
			 size_t nonce_len, struct skr_err *err)
{
	if (a->type != type)
		return skr_fail(err, SKR_R_quote_type_invalid,
				"attestation type is 0x%04x, expected 0x%04x (%s)", a->type, type,
				type == TPM2_ST_ATTEST_QUOTE ? "quote" : "certify");
	if (!nonce)
		return 0;
	if (a->extraData.size != nonce_len ||
	    !skr_ct_equal(a->extraData.buffer, nonce, nonce_len))
		return skr_fail(err, SKR_R_quote_nonce_mismatch,
				"the attestation's qualifying data (%u bytes) is not the expected nonce",
				a->extraData.size);
	return 0;
}

/* Appends to a bounded string; once full, further text is dropped. */
static void append(char *out, size_t size, size_t *used, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void append(char *out, size_t size, size_t *used, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*used + 1 >= size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(out + *used, size - *used, fmt, ap);
	va_end(ap);
	if (n > 0)
		*used = *used + (size_t)n < size ? *used + (size_t)n : size - 1;
}

void skr_tpm_pcr_selection_str(const TPML_PCR_SELECTION *sel, char *out, size_t size)
{
	size_t used = 0;
	UINT32 i;

	if (size == 0)
		return;
	out[0] = 0;
	for (i = 0; i < sel->count && i < TPM2_NUM_PCR_BANKS; i++) {
		const TPMS_PCR_SELECTION *s = &sel->pcrSelections[i];
		const char *name = skr_tpm_alg_name(s->hash);
		const char *sep = ":";
		unsigned pcr;

		append(out, size, &used, "%s%s", i ? " " : "", name ? name : "unknown");
		for (pcr = 0; pcr < s->sizeofSelect * 8u && pcr < sizeof(s->pcrSelect) * 8u; pcr++) {
			if (!(s->pcrSelect[pcr / 8] & (1u << (pcr % 8))))
				continue;
			append(out, size, &used, "%s%u", sep, pcr);
			sep = ",";
		}
	}
}

/* Feeds the selected PCRs of one selection into the digest, in index order. */
static int hash_selection(EVP_MD_CTX *ctx, const TPMS_PCR_SELECTION *s,
			  const struct skr_pcr_banks *banks, struct skr_err *err)
{
	const struct skr_pcr_bank *bank = skr_pcr_banks_find(banks, s->hash);
	unsigned pcr;

	if (s->sizeofSelect > sizeof(s->pcrSelect))
		return skr_fail(err, SKR_R_malformed, "PCR selection size %u is too large",
				s->sizeofSelect);
	for (pcr = 0; pcr < s->sizeofSelect * 8u; pcr++) {
		if (!(s->pcrSelect[pcr / 8] & (1u << (pcr % 8))))
			continue;
		if (pcr >= SKR_PCR_COUNT || !bank || !(bank->extended_mask & (1u << pcr)))
			return skr_fail(err, SKR_R_quote_pcr_digest_mismatch,
					"the quote selects %s PCR %u but no value for it was given",
					skr_tpm_alg_name(s->hash) ? skr_tpm_alg_name(s->hash) : "?", pcr);
		if (EVP_DigestUpdate(ctx, bank->value[pcr], bank->size) != 1)
			return skr_fail(err, SKR_R_nomem, "digest failure");
	}
	return 0;
}

int skr_tpm_quote_check_pcrs(const TPMS_ATTEST *a, const struct skr_pcr_banks *banks,
			     TPMI_ALG_HASH hash_alg, struct skr_err *err)
{
	const TPMS_QUOTE_INFO *q = &a->attested.quote;
	const EVP_MD *md = skr_tpm_alg_md(hash_alg);
	uint8_t digest[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	EVP_MD_CTX *ctx;
	char sel[256];
	UINT32 i;
	int rc = -1;

	if (a->type != TPM2_ST_ATTEST_QUOTE)
		return skr_fail(err, SKR_R_quote_type_invalid, "attestation is not a quote");
	if (!md)
		return skr_fail(err, SKR_R_unsupported, "PCR digest hash 0x%04x is not supported",
				hash_alg);
	if (q->pcrSelect.count > TPM2_NUM_PCR_BANKS)
		return skr_fail(err, SKR_R_malformed, "quote selects %u banks", q->pcrSelect.count);
	ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, md, NULL) != 1) {
		skr_fail(err, SKR_R_nomem, "digest failure");
		goto out;
	}
	for (i = 0; i < q->pcrSelect.count; i++)
		if (hash_selection(ctx, &q->pcrSelect.pcrSelections[i], banks, err) < 0)
			goto out;
	if (EVP_DigestFinal_ex(ctx, digest, &len) != 1) {
		skr_fail(err, SKR_R_nomem, "digest failure");
		goto out;
	}
	skr_tpm_pcr_selection_str(&q->pcrSelect, sel, sizeof(sel));
	if (q->pcrDigest.size != len || !skr_ct_equal(q->pcrDigest.buffer, digest, len)) {
		skr_fail(err, SKR_R_quote_pcr_digest_mismatch,
			 "the quote's PCR digest does not match the PCR values given (%s)", sel);
		goto out;
	}
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}

int skr_tpm_quote_verify(const uint8_t *msg, size_t msg_len, const uint8_t *sig,
			 size_t sig_len, EVP_PKEY *ak, const uint8_t *nonce, size_t nonce_len,
			 const struct skr_pcr_banks *banks, TPMS_ATTEST *out, struct skr_err *err)
{
	TPMT_SIGNATURE signature;

	if (msg_len == 0 || msg_len > SKR_TPM_MAX_ATTEST)
		return skr_fail(err, SKR_R_malformed, "quote message is %zu bytes (1 to %d allowed)",
				msg_len, SKR_TPM_MAX_ATTEST);
	if (skr_tpm_signature_parse(sig, sig_len, ak, &signature, err) < 0 ||
	    skr_tpm_signature_verify(msg, msg_len, &signature, ak, err) < 0 ||
	    skr_tpm_attest_parse(msg, msg_len, out, err) < 0 ||
	    skr_tpm_attest_check(out, TPM2_ST_ATTEST_QUOTE, nonce, nonce_len, err) < 0)
		return -1;
	if (banks && skr_tpm_quote_check_pcrs(out, banks, skr_tpm_signature_hash(&signature), err) < 0)
		return -1;
	return 0;
}

json_object *skr_tpm_attest_to_json(const TPMS_ATTEST *a)
{
	json_object *o = json_object_new_object();
	json_object *clock = json_object_new_object();
	char sel[256];

	json_object_object_add(o, "type", json_object_new_string(
				       a->type == TPM2_ST_ATTEST_QUOTE     ? "quote"
				       : a->type == TPM2_ST_ATTEST_CERTIFY ? "certify"
									   : "other"));
	skr_json_add_hex(o, "qualified_signer", a->qualifiedSigner.name, a->qualifiedSigner.size);
	skr_json_add_hex(o, "extra_data", a->extraData.buffer, a->extraData.size);
	json_object_object_add(clock, "clock", json_object_new_int64((int64_t)a->clockInfo.clock));
	json_object_object_add(clock, "reset_count", json_object_new_int64(a->clockInfo.resetCount));
	json_object_object_add(clock, "restart_count",
			       json_object_new_int64(a->clockInfo.restartCount));
	json_object_object_add(clock, "safe", json_object_new_boolean(a->clockInfo.safe));
	json_object_object_add(o, "clock_info", clock);
	snprintf(sel, sizeof(sel), "%016llx", (unsigned long long)a->firmwareVersion);
	json_object_object_add(o, "firmware_version", json_object_new_string(sel));
	if (a->type == TPM2_ST_ATTEST_QUOTE) {
		skr_tpm_pcr_selection_str(&a->attested.quote.pcrSelect, sel, sizeof(sel));
		json_object_object_add(o, "pcr_select", json_object_new_string(sel));
		skr_json_add_hex(o, "pcr_digest", a->attested.quote.pcrDigest.buffer,
			a->attested.quote.pcrDigest.size);
	} else if (a->type == TPM2_ST_ATTEST_CERTIFY) {
		skr_json_add_hex(o, "name", a->attested.certify.name.name, a->attested.certify.name.size);
		skr_json_add_hex(o, "qualified_name", a->attested.certify.qualifiedName.name,
			a->attested.certify.qualifiedName.size);
	}
	return o;
}
