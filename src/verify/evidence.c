/* SPDX-License-Identifier: Apache-2.0 */
#include "verify/evidence.h"
#include "verify/snp_bind.h"
#include "verify/svsm_manifest.h"

#include <string.h>

#include <openssl/crypto.h>

#include "common/pcr_json.h"
#include "common/x509.h"
#include "verify/tpm_attest.h"

#define MAX_FIELD (256u << 10)	/* any single encoded field */

/*
 * What each decoded field may hold at most.  A client chooses these bytes
 * before anything is verified, so each is bounded near what a genuine one
 * needs: a VCEK or VLEK is under 2 KiB of DER, an Azure HCL report about
 * 2.6 KiB, a TPMS_ATTEST or TPMT_SIGNATURE or TPM2B_PUBLIC well under 1 KiB.
 * A larger field fails with request_too_large before it is decoded.
 */
#define MAX_VCEK SKR_VCEK_MAX_DER
#define MAX_HCL_REPORT (16u << 10)
#define MAX_TPM_BLOB (4u << 10)
#define MAX_AK_CERT SKR_AKCERT_MAX_DER
#define MAX_AK_CHAIN SKR_AKCERT_MAX_CHAIN

enum encoding { ENC_BASE64, ENC_HEX };

static int string_member(json_object *obj, const char *key, bool required, const char **out,
			 size_t *len, struct skr_err *err)
{
	json_object *v;

	*out = NULL;
	*len = 0;
	if (!json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null)) {
		if (required)
			return skr_fail(err, SKR_R_malformed, "evidence lacks \"%s\"", key);
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return skr_fail(err, SKR_R_malformed, "evidence \"%s\" is not a string", key);
	*out = json_object_get_string(v);
	*len = (size_t)json_object_get_string_len(v);
	if (*len > MAX_FIELD)
		return skr_fail(err, SKR_R_malformed, "evidence \"%s\" is too long (%zu bytes)", key,
				*len);
	return 0;
}

static int bytes_member(json_object *obj, const char *key, bool required, enum encoding enc,
			size_t max, struct skr_buf *out, struct skr_err *err)
{
	size_t len, max_encoded = enc == ENC_HEX ? 2 * max : (max + 2) / 3 * 4;
	const char *s;

	if (string_member(obj, key, required, &s, &len, err) < 0)
		return -1;
	if (!s)
		return 0;	/* optional and absent */
	if (len > max_encoded)
		return skr_fail(err, SKR_R_request_too_large,
				"evidence \"%s\" is %zu characters; at most %zu bytes (%zu "
				"characters) are accepted", key, len, max, max_encoded);
	if (enc == ENC_HEX)
		return skr_hex_decode(s, len, out, key, err);
	return skr_base64_decode(s, len, out, key, err);
}

static int object_member(json_object *obj, const char *key, json_object **out,
			 struct skr_err *err)
{
	if (!json_object_object_get_ex(obj, key, out) || !json_object_is_type(*out, json_type_object))
		return skr_fail(err, SKR_R_malformed, "evidence lacks the object \"%s\"", key);
	return 0;
}

/* Trustee's "pcrs": the 24 sha256 PCRs in index order. */
static int trustee_pcrs(json_object *list, struct skr_pcr_banks *out, struct skr_err *err)
{
	struct skr_pcr_bank *bank = &out->bank[0];
	size_t i, n;

	if (!json_object_is_type(list, json_type_array))
		return skr_fail(err, SKR_R_malformed, "tpm_quote \"pcrs\" is not an array");
	n = json_object_array_length(list);
	if (n > SKR_PCR_COUNT)
		return skr_fail(err, SKR_R_malformed, "tpm_quote has %zu PCRs (at most %d)", n,
				SKR_PCR_COUNT);
	memset(out, 0, sizeof(*out));
	if (skr_pcr_bank_init(bank, SKR_TPM_ALG_SHA256, err) < 0)
		return -1;
	out->count = 1;
	for (i = 0; i < n; i++) {
		_cleanup_buf_ struct skr_buf v = { 0 };
		json_object *item = json_object_array_get_idx(list, i);
		const char *s = json_object_get_string(item);

		if (!json_object_is_type(item, json_type_string) ||
		    skr_hex_decode(s, strlen(s), &v, "PCR value", err) < 0 || v.len != bank->size)
			return skr_fail(err, SKR_R_malformed, "tpm_quote PCR %zu is not 32 bytes of hex", i);
		memcpy(bank->value[i], v.data, v.len);
		bank->extended_mask |= 1u << i;
	}
	return 0;
}

static int parse_trustee(json_object *obj, json_object *version, struct skr_evidence *ev,
			 struct skr_err *err)
{
	json_object *quote, *pcrs;

	ev->format = SKR_EVIDENCE_TRUSTEE;
	ev->trustee_version = json_object_get_int(version);
	if (!json_object_is_type(version, json_type_int) ||
	    (ev->trustee_version != 1 && ev->trustee_version != 2))
		return skr_fail(err, SKR_R_unsupported,
				"az-snp-vtpm evidence version must be 1 or 2");
	if (object_member(obj, "tpm_quote", &quote, err) < 0 ||
	    bytes_member(quote, "message", true, ENC_HEX, MAX_TPM_BLOB, &ev->quote_attest,
			 err) < 0 ||
	    bytes_member(quote, "signature", true, ENC_HEX, MAX_TPM_BLOB, &ev->quote_signature,
			 err) < 0 ||
	    bytes_member(obj, "hcl_report", true, ENC_BASE64, MAX_HCL_REPORT, &ev->hcl_report,
			 err) < 0 ||
	    bytes_member(obj, "vcek", false, ENC_BASE64, MAX_VCEK, &ev->vcek, err) < 0)
		return -1;
	if (!json_object_object_get_ex(quote, "pcrs", &pcrs))
		return skr_fail(err, SKR_R_malformed, "tpm_quote lacks \"pcrs\"");
	return trustee_pcrs(pcrs, &ev->pcrs, err);
}

static int parse_wrap_key(json_object *obj, struct skr_evidence *ev, struct skr_err *err)
{
	json_object *wk;

	if (!json_object_object_get_ex(obj, "wrap_key", &wk))
		return 0;
	if (!json_object_is_type(wk, json_type_object))
		return skr_fail(err, SKR_R_malformed, "evidence \"wrap_key\" is not an object");
	if (bytes_member(wk, "public", true, ENC_BASE64, MAX_TPM_BLOB, &ev->wrap_public, err) < 0 ||
	    bytes_member(wk, "certify_attest", true, ENC_BASE64, MAX_TPM_BLOB,
			 &ev->wrap_certify_attest, err) < 0 ||
	    bytes_member(wk, "certify_signature", true, ENC_BASE64, MAX_TPM_BLOB,
			 &ev->wrap_certify_signature, err) < 0)
		return -1;
	return 0;
}

/* Trusted Launch: the AK's certificate and public area; no SNP report, no VCEK. */
static int parse_azure_tl(json_object *obj, struct skr_evidence *ev, struct skr_err *err)
{
	static const char *const snp_only[] = { "hcl_report", "vcek" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(snp_only); i++) {
		json_object *v;

		if (json_object_object_get_ex(obj, snp_only[i], &v) &&
		    !json_object_is_type(v, json_type_null))
			return skr_fail(err, SKR_R_malformed,
					"azure-tl evidence carries \"%s\" (an az-snp-vtpm field)",
					snp_only[i]);
	}
	if (bytes_member(obj, "ak_cert", true, ENC_BASE64, MAX_AK_CERT, &ev->ak_cert, err) < 0 ||
	    bytes_member(obj, "ak_chain", false, ENC_BASE64, MAX_AK_CHAIN, &ev->ak_chain, err) < 0 ||
	    bytes_member(obj, "ak_public", true, ENC_BASE64, MAX_TPM_BLOB, &ev->ak_public, err) < 0)
		return -1;
	return 0;
}

int skr_evidence_tpm_identity(json_object *obj, struct skr_evidence *ev,
			      struct skr_tpm_identity *id, struct skr_err *err)
{
	if (bytes_member(obj, "ek_cert", true, ENC_BASE64, MAX_AK_CERT, &ev->ek_cert, err) < 0 ||
	    bytes_member(obj, "ek_chain", false, ENC_BASE64, MAX_AK_CHAIN, &ev->ek_chain, err) < 0 ||
	    bytes_member(obj, "ek_public", true, ENC_BASE64, MAX_TPM_BLOB, &ev->ek_public, err) < 0 ||
	    bytes_member(obj, "ak_public", true, ENC_BASE64, MAX_TPM_BLOB, &ev->ak_public, err) < 0)
		return -1;
	id->ek_cert = &ev->ek_cert;
	id->ek_chain = &ev->ek_chain;
	id->ek_public = &ev->ek_public;
	id->ak_public = &ev->ak_public;
	return 0;
}

int skr_evidence_svsm_identity(json_object *obj, struct skr_evidence *ev,
			       struct skr_tpm_identity *id, struct skr_err *err)
{
	if (bytes_member(obj, "ek_public", true, ENC_BASE64, MAX_TPM_BLOB, &ev->ek_public, err) < 0 ||
	    bytes_member(obj, "ak_public", true, ENC_BASE64, MAX_TPM_BLOB, &ev->ak_public, err) < 0)
		return -1;
	id->ek_cert = &ev->ek_cert;
	id->ek_chain = &ev->ek_chain;
	id->ek_public = &ev->ek_public;
	id->ak_public = &ev->ak_public;
	return 0;
}

/* A member of another mode is a mistake, never ignored. */
static int no_members(json_object *obj, const char *const *keys, size_t n, const char *tee,
		      struct skr_err *err)
{
	size_t i;

	for (i = 0; i < n; i++) {
		json_object *v;

		if (json_object_object_get_ex(obj, keys[i], &v) &&
		    !json_object_is_type(v, json_type_null))
			return skr_fail(err, SKR_R_malformed,
					"%s evidence carries \"%s\" (another mode's field)", tee, keys[i]);
	}
	return 0;
}

/* tpm: the identity and the activation answer; no SNP report, no AK certificate. */
static int parse_tpm(json_object *obj, struct skr_evidence *ev, struct skr_err *err)
{
	static const char *const other[] = { "hcl_report", "vcek", "ak_cert", "ak_chain" };
	struct skr_tpm_identity id;

	if (no_members(obj, other, ARRAY_SIZE(other), "tpm", err) < 0 ||
	    skr_evidence_tpm_identity(obj, ev, &id, err) < 0 ||
	    bytes_member(obj, "activation", true, ENC_BASE64, SKR_ACTIVATION_SIZE, &ev->activation,
			 err) < 0)
		return -1;
	return 0;
}

static int parse_az_snp_vtpm(json_object *obj, struct skr_evidence *ev, struct skr_err *err)
{
	if (bytes_member(obj, "hcl_report", true, ENC_BASE64, MAX_HCL_REPORT, &ev->hcl_report,
			 err) < 0 ||
	    bytes_member(obj, "vcek", false, ENC_BASE64, MAX_VCEK, &ev->vcek, err) < 0)
		return -1;
	return 0;
}

/* The SNP report and its "certs" (bare snp and snp-svsm alike). */
static int parse_snp_report(json_object *obj, struct skr_evidence *ev, struct skr_err *err)
{
	json_object *certs;

	if (object_member(obj, "certs", &certs, err) < 0)
		return -1;
	ev->vlek = json_object_object_get_ex(certs, "vlek", NULL);
	if (ev->vlek && json_object_object_get_ex(certs, "vcek", NULL))
		return skr_fail(err, SKR_R_malformed, "evidence certs carry both a VCEK and a VLEK");
	if (bytes_member(obj, "report", true, ENC_BASE64, SKR_SNP_REPORT_SIZE, &ev->snp_report,
			 err) < 0 ||
	    bytes_member(certs, ev->vlek ? "vlek" : "vcek", true, ENC_BASE64, MAX_VCEK, &ev->vcek,
			 err) < 0 ||
	    bytes_member(certs, "ask", false, ENC_BASE64, MAX_VCEK, &ev->snp_ask, err) < 0 ||
	    bytes_member(certs, "ark", false, ENC_BASE64, MAX_VCEK, &ev->snp_ark, err) < 0)
		return -1;
	if (ev->snp_report.len != SKR_SNP_REPORT_SIZE)
		return skr_fail(err, SKR_R_malformed, "evidence report is %zu bytes (not %d)",
				ev->snp_report.len, SKR_SNP_REPORT_SIZE);
	return 0;
}

/*
 * snp-svsm: the SVSM's report and certificates, its services manifest, the
 * AK and the activation answer; the EK is the manifest's, so no "ek_public"
 * and no EK certificate.
 */
static int parse_svsm(json_object *obj, struct skr_evidence *ev, struct skr_err *err)
{
	static const char *const other[] = { "hcl_report", "vcek", "ak_cert", "ak_chain",
					     "ek_cert", "ek_chain", "ek_public" };

	if (no_members(obj, other, ARRAY_SIZE(other), SKR_TEE_NAME_SNP_SVSM, err) < 0 ||
	    parse_snp_report(obj, ev, err) < 0 ||
	    bytes_member(obj, "manifest", true, ENC_BASE64, SKR_SVSM_MANIFEST_MAX,
			 &ev->svsm_manifest, err) < 0 ||
	    bytes_member(obj, "ak_public", true, ENC_BASE64, MAX_TPM_BLOB, &ev->ak_public, err) < 0 ||
	    bytes_member(obj, "activation", true, ENC_BASE64, SKR_ACTIVATION_SIZE, &ev->activation,
			 err) < 0)
		return -1;
	return 0;
}

static int parse_mode(json_object *obj, struct skr_evidence *ev, struct skr_err *err)
{
	switch (ev->tee) {
	case SKR_TEE_AZURE_TL:
		return parse_azure_tl(obj, ev, err);
	case SKR_TEE_TPM:
		return parse_tpm(obj, ev, err);
	case SKR_TEE_SNP_SVSM:
		return parse_svsm(obj, ev, err);
	default:
		return parse_az_snp_vtpm(obj, ev, err);
	}
}

/* Bare SNP: the report, its certificates and the wrap key's point; no quote, no PCRs. */
static int parse_snp(json_object *obj, struct skr_evidence *ev, struct skr_err *err)
{
	json_object *wk;

	if (object_member(obj, "wrap_key", &wk, err) < 0 || parse_snp_report(obj, ev, err) < 0 ||
	    bytes_member(wk, "epk", true, ENC_BASE64, SKR_WRAP_EPK_SIZE, &ev->wrap_epk, err) < 0)
		return -1;
	if (ev->wrap_epk.len != SKR_WRAP_EPK_SIZE)
		return skr_fail(err, SKR_R_malformed, "evidence wrap_key epk is %zu bytes (not %d)",
				ev->wrap_epk.len, SKR_WRAP_EPK_SIZE);
	return 0;
}

static int parse_skr(json_object *obj, struct skr_evidence *ev, struct skr_err *err)
{
	json_object *quote, *pcrs;
	const char *tee;
	size_t len;
	int mode;

	ev->format = SKR_EVIDENCE_SKR;
	if (string_member(obj, "tee", true, &tee, &len, err) < 0)
		return -1;
	mode = strlen(tee) == len ? skr_tee_from_name(tee) : -1;
	if (mode < 0)
		return skr_fail(err, SKR_R_unsupported, "evidence tee \"%.32s\" is not supported", tee);
	ev->tee = (enum skr_tee)mode;
	if (ev->tee == SKR_TEE_SNP)
		return parse_snp(obj, ev, err);
	if (object_member(obj, "quote", &quote, err) < 0 || object_member(obj, "pcrs", &pcrs, err) < 0 ||
	    bytes_member(quote, "attest", true, ENC_BASE64, MAX_TPM_BLOB, &ev->quote_attest,
			 err) < 0 ||
	    bytes_member(quote, "signature", true, ENC_BASE64, MAX_TPM_BLOB, &ev->quote_signature,
			 err) < 0 ||
	    parse_mode(obj, ev, err) < 0)
		return -1;
	if (skr_pcr_banks_from_json(pcrs, &ev->pcrs, err) < 0)
		return -1;
	return parse_wrap_key(obj, ev, err);
}

int skr_evidence_from_json(json_object *obj, struct skr_evidence *ev, struct skr_err *err)
{
	json_object *version;
	int rc;

	memset(ev, 0, sizeof(*ev));
	if (!json_object_is_type(obj, json_type_object))
		return skr_fail(err, SKR_R_malformed, "evidence is not a JSON object");
	if (json_object_object_get_ex(obj, "tpm_quote", NULL) &&
	    json_object_object_get_ex(obj, "version", &version))
		rc = parse_trustee(obj, version, ev, err);
	else
		rc = parse_skr(obj, ev, err);
	if (rc < 0)
		skr_evidence_free(ev);
	return rc;
}

int skr_evidence_parse(const char *text, size_t len, struct skr_evidence *ev,
		       struct skr_err *err)
{
	struct json_tokener *tok;
	json_object *obj;
	int rc;

	if (len > SKR_EVIDENCE_MAX_JSON)
		return skr_fail(err, SKR_R_malformed, "evidence is larger than %u bytes",
				SKR_EVIDENCE_MAX_JSON);
	tok = json_tokener_new_ex(16);
	if (!tok)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	obj = json_tokener_parse_ex(tok, text, (int)len);
	if (!obj || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len) {
		json_object_put(obj);
		json_tokener_free(tok);
		return skr_fail(err, SKR_R_malformed, "evidence is not valid JSON");
	}
	json_tokener_free(tok);
	rc = skr_evidence_from_json(obj, ev, err);
	json_object_put(obj);
	return rc;
}

void skr_evidence_free(struct skr_evidence *ev)
{
	skr_buf_free(&ev->hcl_report);
	skr_buf_free(&ev->vcek);
	skr_buf_free(&ev->quote_attest);
	skr_buf_free(&ev->quote_signature);
	skr_buf_free(&ev->wrap_public);
	skr_buf_free(&ev->wrap_certify_attest);
	skr_buf_free(&ev->wrap_certify_signature);
	skr_buf_free(&ev->ak_cert);
	skr_buf_free(&ev->ak_chain);
	skr_buf_free(&ev->snp_report);
	skr_buf_free(&ev->snp_ask);
	skr_buf_free(&ev->snp_ark);
	skr_buf_free(&ev->wrap_epk);
	skr_buf_free(&ev->ak_public);
	skr_buf_free(&ev->ek_cert);
	skr_buf_free(&ev->ek_chain);
	skr_buf_free(&ev->ek_public);
	skr_buf_free(&ev->activation);
	skr_buf_free(&ev->svsm_manifest);
}

void skr_evidence_result_free(struct skr_evidence_result *res)
{
	skr_hcl_report_free(&res->hcl);
	skr_akcert_info_free(&res->akcert);
	skr_tpm_identity_result_free(&res->tpm);
	EVP_PKEY_free(res->ak);
	res->ak = NULL;
}

/* AMD chain, VCEK/TCB match, SNP signature and policy, in that order. */
static int verify_snp(const struct skr_evidence *ev, const struct skr_evidence_policy *pol,
		      struct skr_evidence_result *res, struct skr_err *err)
{
	struct skr_amd_verify_opts opts = {
		.product = pol->product,
		.chain_pem = pol->chain_pem,
		.chain_pem_len = pol->chain_pem_len,
		.cache = pol->chain_cache,
	};
	const struct skr_snp_report *snp = &res->hcl.snp;
	X509 *vcek = pol->vcek;
	EVP_PKEY *key = NULL;
	int rc = -1;

	if (!vcek && !ev->vcek.len)
		return skr_fail(err, SKR_R_usage, "the evidence carries no VCEK and none was given");
	if (!vcek && (pol->chain_cache ? skr_chain_cache_cert(pol->chain_cache, ev->vcek.data,
							     ev->vcek.len, &vcek, err)
				       : skr_x509_parse(ev->vcek.data, ev->vcek.len, &vcek,
							"evidence VCEK", err)) < 0)
		return -1;
	if (skr_amd_verify_leaf(pol->trust, vcek, snp, &opts, &res->vcek, err) < 0)
		goto out;
	res->product = pol->product ? pol->product
		       : res->vcek.product ? res->vcek.product : skr_snp_report_product(snp);
	key = X509_get_pubkey(vcek);
	if (skr_snp_report_verify_signature(snp, key, err) < 0)
		goto out;
	if (skr_snp_report_debug(snp) && !pol->allow_debug) {
		skr_fail(err, SKR_R_snp_debug_enabled,
			 "the guest policy allows debugging (POLICY bit 19)");
		goto out;
	}
	if (pol->snp_policy && pol->snp_policy(snp, res->product, pol->snp_policy_ctx, err) < 0)
		goto out;
	rc = 0;
out:
	EVP_PKEY_free(key);
	if (vcek != pol->vcek)
		X509_free(vcek);
	return rc;
}

/* Trustee v2 puts the quote's qualifying data into the claims' user-data. */
static int check_trustee_user_data(const struct skr_evidence *ev,
				   const struct skr_evidence_result *res, struct skr_err *err)
{
	uint8_t user_data[64];
	size_t len = 0;
	const TPM2B_DATA *extra = &res->quote.extraData;

	if (ev->format != SKR_EVIDENCE_TRUSTEE || ev->trustee_version != 2)
		return 0;
	if (skr_hcl_user_data(&res->hcl, user_data, &len, err) < 0)
		return -1;
	if (len < extra->size || !skr_ct_equal(user_data, extra->buffer, extra->size) ||
	    !skr_is_zero(user_data + extra->size, len - extra->size))
		return skr_fail(err, SKR_R_quote_nonce_mismatch,
				"the quote's qualifying data is not the claims' user-data");
	return 0;
}

/*
 * Trusted Launch: the AK's own attributes first (Azure would certify a key
 * an administrator chose, CVE-2025-49707), then Azure's certificate for it
 * up to a trusted root, the certificate's key equal to the AK, the pins.
 */
static int verify_azure_tl_ak(const struct skr_evidence *ev, const struct skr_evidence_policy *pol,
			      struct skr_evidence_result *res, struct skr_err *err)
{
	struct skr_akcert_trust *builtin = NULL;
	const struct skr_akcert_trust *trust = pol->ak_trust;
	int rc = -1;

	if (skr_ak_public_check(ev->ak_public.data, ev->ak_public.len, &res->ak, err) < 0)
		return -1;
	if (!trust) {
		if (skr_akcert_trust_new(NULL, NULL, &builtin, err) < 0)
			return -1;
		trust = builtin;
	}
	if (skr_akcert_verify(trust, ev->ak_cert.data, ev->ak_cert.len, ev->ak_chain.data,
			      ev->ak_chain.len, pol->now, &res->akcert, err) < 0 ||
	    skr_akcert_key_matches(&res->akcert, res->ak, err) < 0 ||
	    (pol->ak_policy && pol->ak_policy(&res->akcert, pol->ak_policy_ctx, err) < 0))
		goto out;
	rc = 0;
out:
	skr_akcert_trust_free(builtin);
	return rc;
}

/*
 * The activation answer against the credential made for this nonce, the
 * AK and the EK of res->tpm (verified by the caller, each mode its own
 * way); then res->tpm's AK is the one the quote must be by.
 */
static int check_activation(const struct skr_evidence *ev, const struct skr_evidence_policy *pol,
			    struct skr_evidence_result *res, const char *ek_of,
			    struct skr_err *err)
{
	uint8_t want[SKR_ACTIVATION_SIZE];
	int rc;

	if (skr_activation_credential(pol->activation_key, pol->activation_key_len, pol->nonce,
				      pol->nonce_len, &res->tpm, want, err) < 0)
		return -1;
	if (!EVP_PKEY_up_ref(res->tpm.ak))
		return skr_fail(err, SKR_R_nomem, "out of memory");
	res->ak = res->tpm.ak;
	rc = ev->activation.len == sizeof(want) &&
	     skr_ct_equal(ev->activation.data, want, sizeof(want));
	OPENSSL_cleanse(want, sizeof(want));
	if (!rc)
		return skr_fail(err, SKR_R_activation_failed,
				"the activation answer is not the credential made for this nonce, AK and "
				"EK: the AK is not on the TPM of the EK %s", ek_of);
	return 0;
}

static int needs_activation_key(const struct skr_evidence *ev,
				const struct skr_evidence_policy *pol, struct skr_err *err)
{
	if (!pol->activation_key || !pol->nonce)
		return skr_fail(err, SKR_R_usage, "tee \"%s\" needs the nonce and its activation key",
				skr_tee_name(ev->tee));
	return 0;
}

/*
 * Generic TPM: the EK certificate and the AK as at the challenge, then the
 * activation answer against the credential made for this nonce, AK and EK.
 */
static int verify_tpm_ak(const struct skr_evidence *ev, const struct skr_evidence_policy *pol,
			 struct skr_evidence_result *res, struct skr_err *err)
{
	const struct skr_tpm_identity id = { &ev->ek_cert, &ev->ek_chain, &ev->ek_public,
					     &ev->ak_public };

	if (needs_activation_key(ev, pol, err) < 0 ||
	    skr_tpm_identity_verify(pol->ek_trust, &id, pol->now, &res->tpm, err) < 0 ||
	    (pol->ek_policy && pol->ek_policy(&res->tpm, pol->ek_policy_ctx, err) < 0))
		return -1;
	return check_activation(ev, pol, res, "the certificate certifies", err);
}

/*
 * The manifest's EK as the TPM2B_PUBLIC the VM sent at the challenge (the
 * credential's EK input is the SHA-256 of those bytes): its TPMT_PUBLIC
 * with the size in front.
 */
static int svsm_ek_public(const struct skr_svsm_ek *ek, struct skr_buf *out, struct skr_err *err)
{
	if (ek->tpmt_len > UINT16_MAX)
		return skr_fail(err, SKR_R_svsm_ek_unsupported, "the EK is over 64 KiB");
	out->data = malloc(ek->tpmt_len + 2);
	if (!out->data)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	out->data[0] = (uint8_t)(ek->tpmt_len >> 8);
	out->data[1] = (uint8_t)ek->tpmt_len;
	memcpy(out->data + 2, ek->tpmt, ek->tpmt_len);
	out->len = ek->tpmt_len + 2;
	return 0;
}

/*
 * SEV-SNP under an SVSM vTPM (DESIGN 2.3.1): the report as bare snp's
 * (chain, signature, policy), then VMPL 0 and REPORT_DATA binding nonce and
 * manifest before a byte of the manifest is parsed, its vTPM entry the EK;
 * then, as tpm after its certificate step, the AK's public area and the
 * activation answer against the credential made to that EK.  A manifest
 * naming another EK than the challenge's makes another credential:
 * activation_failed.
 */
static int verify_svsm_ak(const struct skr_evidence *ev, const struct skr_evidence_policy *pol,
			  struct skr_evidence_result *res, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf ek_public = { 0 };
	const struct skr_buf none = { 0 };
	const struct skr_tpm_identity id = { &none, &none, &ek_public, &ev->ak_public };
	struct skr_svsm_ek ek;

	if (needs_activation_key(ev, pol, err) < 0 ||
	    skr_snp_report_parse(ev->snp_report.data, ev->snp_report.len, &res->hcl.snp, err) < 0 ||
	    verify_snp(ev, pol, res, err) < 0 ||
	    skr_svsm_report_check(&res->hcl.snp, pol->nonce, pol->nonce_len, SKR_SVSM_FORM_SERVICES,
				  ev->svsm_manifest.data, ev->svsm_manifest.len, &ek, err) < 0 ||
	    svsm_ek_public(&ek, &ek_public, err) < 0 ||
	    skr_tpm_identity_keys(&id, &res->tpm, err) < 0)
		return -1;
	return check_activation(ev, pol, res, "the SVSM's manifest names", err);
}

/* Confidential VM: the SNP report and the AK its claims carry. */
static int verify_az_snp_vtpm_ak(const struct skr_evidence *ev,
				 const struct skr_evidence_policy *pol,
				 struct skr_evidence_result *res, struct skr_err *err)
{
	if (skr_hcl_report_parse(ev->hcl_report.data, ev->hcl_report.len, &res->hcl, err) < 0 ||
	    verify_snp(ev, pol, res, err) < 0 || skr_hcl_verify_binding(&res->hcl, err) < 0 ||
	    skr_hcl_parse_claims(&res->hcl, err) < 0)
		return -1;
	return skr_hcl_ak_public(&res->hcl, &res->ak, err);
}

static int verify_mode_ak(const struct skr_evidence *ev, const struct skr_evidence_policy *pol,
			  struct skr_evidence_result *res, struct skr_err *err)
{
	switch (ev->tee) {
	case SKR_TEE_AZURE_TL:
		return verify_azure_tl_ak(ev, pol, res, err);
	case SKR_TEE_TPM:
		return verify_tpm_ak(ev, pol, res, err);
	case SKR_TEE_SNP_SVSM:
		return verify_svsm_ak(ev, pol, res, err);
	default:
		return verify_az_snp_vtpm_ak(ev, pol, res, err);
	}
}

/* Bare SNP: chain, signature, policy as in Azure mode; then REPORT_DATA binds nonce and key. */
static int verify_bare_snp(const struct skr_evidence *ev, const struct skr_evidence_policy *pol,
			   struct skr_evidence_result *res, struct skr_err *err)
{
	if (!pol->nonce)
		return skr_fail(err, SKR_R_usage, "snp evidence is verified against a nonce");
	if (skr_snp_report_parse(ev->snp_report.data, ev->snp_report.len, &res->hcl.snp, err) < 0 ||
	    verify_snp(ev, pol, res, err) < 0)
		return -1;
	return skr_snp_bind_check(res->hcl.snp.report_data, pol->nonce, pol->nonce_len,
				  ev->wrap_epk.data, err);
}

int skr_evidence_verify(const struct skr_evidence *ev, const struct skr_evidence_policy *pol,
			struct skr_evidence_result *res, struct skr_err *err)
{
	memset(res, 0, sizeof(*res));
	if (ev->tee == SKR_TEE_SNP)
		return verify_bare_snp(ev, pol, res, err);
	if (verify_mode_ak(ev, pol, res, err) < 0)
		return -1;
	if (skr_tpm_quote_verify(ev->quote_attest.data, ev->quote_attest.len,
				 ev->quote_signature.data, ev->quote_signature.len, res->ak,
				 pol->nonce, pol->nonce_len, &ev->pcrs, &res->quote, err) < 0) {
		res->quote_parsed = res->quote.magic == TPM2_GENERATED_VALUE;
		return -1;
	}
	res->quote_parsed = true;
	return check_trustee_user_data(ev, res, err);
}
