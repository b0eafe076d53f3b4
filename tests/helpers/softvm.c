/* SPDX-License-Identifier: Apache-2.0 */
#include "softvm.h"

#include <string.h>

#include <openssl/core_names.h>
#include <tss2/tss2_mu.h>

#include "fakeazure.h"
#include "common/json_util.h"
#include "verify/wrap_key.h"

/* The base policy's PCRs and PCR 15, the boot gate (gate.h), which every release quotes. */
#define DEFAULT_QUOTE_MASK ((1u << 0) | (1u << 7) | (1u << 11) | (1u << 15))

static int common_init(struct skr_softvm *vm, struct skr_err *err)
{
	vm->ak = skr_test_rsa_key();
	vm->wrap_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!vm->ak || !vm->wrap_key)
		return skr_fail(err, SKR_R_nomem, "cannot generate the VM's keys");
	vm->wrap_attrs = SKR_WRAP_KEY_REQUIRED | TPMA_OBJECT_USERWITHAUTH;
	vm->include_vcek = true;
	vm->quote_mask = DEFAULT_QUOTE_MASK;
	skr_test_pcr_banks(&vm->pcrs);
	/* In the initramfs before any volume is open: the boot gate in its initial state. */
	memset(vm->pcrs.bank[0].value[15], 0, sizeof(vm->pcrs.bank[0].value[15]));
	skr_test_report_opts_init(&vm->report, &vm->chain.vcek_opts);
	return skr_softvm_seal(vm, err);
}

int skr_softvm_new(struct skr_softvm *vm, struct skr_err *err)
{
	memset(vm, 0, sizeof(*vm));
	if (skr_test_chain_new(&vm->chain, NULL, err) < 0)
		return -1;
	return common_init(vm, err);
}

int skr_softvm_new_on(struct skr_softvm *vm, const struct skr_test_chain *ca, uint32_t seed,
		      struct skr_err *err)
{
	struct skr_test_vcek_opts v;
	struct skr_test_chain_opts o = { .product = ca->product, .ark_key = ca->ark_key,
					 .ask_key = ca->ask_key, .vcek = &v };
	size_t i;

	memset(vm, 0, sizeof(*vm));
	skr_test_vcek_opts_init(&v, ca->product);
	for (i = 0; i < v.hwid_len; i++)
		v.hwid[i] = (uint8_t)(seed * 131u + i * 7u + (seed >> 8));
	/* Same CA keys and names: the VCEK verifies under the ASK the broker trusts. */
	if (skr_test_chain_new(&vm->chain, &o, err) < 0)
		return -1;
	return common_init(vm, err);
}

void skr_softvm_free(struct skr_softvm *vm)
{
	skr_test_chain_free(&vm->chain);
	EVP_PKEY_free(vm->ak);
	EVP_PKEY_free(vm->wrap_key);
	skr_buf_free(&vm->hcl);
	memset(vm, 0, sizeof(*vm));
}

int skr_softvm_seal(struct skr_softvm *vm, struct skr_err *err)
{
	struct skr_buf claims = { 0 };
	int rc;

	if (skr_test_claims(vm->claims_without_ak ? NULL : vm->ak, NULL, 0, &claims, err) < 0)
		return -1;
	rc = skr_test_hcl_report(&vm->chain, &vm->report, claims.data, claims.len, &vm->hcl, err);
	skr_buf_free(&claims);
	return rc;
}

/* The wrap key as a TPM would describe it: ECC P-256, SHA-256 name. */
static int wrap_public(const struct skr_softvm *vm, EVP_PKEY *key, TPM2B_PUBLIC *pub,
		       struct skr_err *err)
{
	uint8_t point[65];
	size_t len = 0;
	TPMT_PUBLIC *p = &pub->publicArea;

	memset(pub, 0, sizeof(*pub));
	if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
					    sizeof(point), &len) != 1 || len != 65)
		return skr_fail(err, SKR_R_nomem, "cannot export the wrap key");
	p->type = TPM2_ALG_ECC;
	p->nameAlg = TPM2_ALG_SHA256;
	p->objectAttributes = vm->wrap_attrs;
	p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
	p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
	p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	p->unique.ecc.x.size = 32;
	memcpy(p->unique.ecc.x.buffer, point + 1, 32);
	p->unique.ecc.y.size = 32;
	memcpy(p->unique.ecc.y.buffer, point + 33, 32);
	return 0;
}

static int certify(const struct skr_softvm *vm, const TPM2B_PUBLIC *certified,
		   const uint8_t *nonce, size_t nonce_len, struct skr_buf *attest,
		   struct skr_buf *sig, struct skr_err *err)
{
	TPMS_ATTEST a = {
		.magic = TPM2_GENERATED_VALUE,
		.type = TPM2_ST_ATTEST_CERTIFY,
		.clockInfo = { .clock = 42, .resetCount = 1, .safe = 1 },
	};

	if (nonce_len > sizeof(a.extraData.buffer))
		return skr_fail(err, SKR_R_usage, "nonce too long");
	memcpy(a.extraData.buffer, nonce, nonce_len);
	a.extraData.size = (UINT16)nonce_len;
	if (vm->certify_other_nonce)
		a.extraData.buffer[0] ^= 1;
	a.qualifiedSigner.size = 2;
	if (skr_tpm_public_name(certified, &a.attested.certify.name, err) < 0)
		return -1;
	/* As a vTPM does: the qualified name of a primary of the wrap key's hierarchy. */
	if (skr_tpm_primary_qualified_name(vm->wrap_hierarchy ? vm->wrap_hierarchy : TPM2_RH_NULL,
					   &a.attested.certify.name,
					   &a.attested.certify.qualifiedName, err) < 0)
		return -1;
	if (skr_test_marshal_attest(&a, attest, err) < 0)
		return -1;
	return skr_test_sign_attest(vm->certify_signer ? vm->certify_signer : vm->ak, attest->data,
				    attest->len, sig, err);
}

static int wrap_key_json(struct skr_softvm *vm, const uint8_t *nonce, size_t nonce_len,
			 json_object **out, struct skr_err *err)
{
	struct skr_buf attest = { 0 }, sig = { 0 };
	TPM2B_PUBLIC pub, other;
	uint8_t bytes[sizeof(TPM2B_PUBLIC)];
	size_t off = 0;
	EVP_PKEY *decoy = NULL;
	int rc = -1;

	if (wrap_public(vm, vm->wrap_key, &pub, err) < 0)
		return -1;
	other = pub;
	if (vm->certify_other_key) {
		decoy = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		if (!decoy || wrap_public(vm, decoy, &other, err) < 0)
			goto out;
	}
	if (certify(vm, &other, nonce, nonce_len, &attest, &sig, err) < 0)
		goto out;
	if (Tss2_MU_TPM2B_PUBLIC_Marshal(&pub, bytes, sizeof(bytes), &off) != TSS2_RC_SUCCESS) {
		skr_fail(err, SKR_R_malformed, "cannot marshal the wrap key");
		goto out;
	}
	*out = json_object_new_object();
	skr_json_add_b64(*out, "public", bytes, off);
	skr_json_add_b64(*out, "certify_attest", attest.data, attest.len);
	skr_json_add_b64(*out, "certify_signature", sig.data, sig.len);
	rc = 0;
out:
	EVP_PKEY_free(decoy);
	skr_buf_free(&attest);
	skr_buf_free(&sig);
	return rc;
}

int skr_softvm_request(struct skr_softvm *vm, const char *key_id, const uint8_t *nonce,
		       size_t nonce_len, json_object **out, struct skr_err *err)
{
	struct skr_buf attest = { 0 }, sig = { 0 }, ev_text = { 0 }, hcl = { 0 };
	uint8_t qnonce[64];
	json_object *ev = NULL, *wk = NULL;
	char *b64;
	int rc = -1;

	if (nonce_len > sizeof(qnonce) || skr_buf_set(&hcl, vm->hcl.data, vm->hcl.len, err) < 0)
		return skr_fail(err, SKR_R_usage, "bad nonce");
	if (vm->tamper_claims)
		hcl.data[hcl.len - 3] ^= 0x01;	/* inside the claims: REPORT_DATA no longer binds */
	memcpy(qnonce, nonce, nonce_len);
	if (vm->quote_other_nonce)
		qnonce[0] ^= 1;
	if (skr_test_quote(vm->quote_signer ? vm->quote_signer : vm->ak, qnonce, nonce_len, &vm->pcrs,
			   vm->quote_mask, &attest, &sig, err) < 0 ||
	    skr_test_evidence_json(&hcl, !vm->include_vcek ? NULL
					 : vm->vcek_override ? vm->vcek_override : vm->chain.vcek,
				   &attest, &sig, &vm->pcrs, &ev_text, err) < 0 ||
	    wrap_key_json(vm, nonce, nonce_len, &wk, err) < 0)
		goto out;
	ev = json_tokener_parse((const char *)ev_text.data);
	if (!ev) {
		skr_fail(err, SKR_R_malformed, "evidence JSON does not parse");
		goto out;
	}
	json_object_object_add(ev, "wrap_key", wk);
	wk = NULL;
	*out = json_object_new_object();
	json_object_object_add(*out, "key_id", json_object_new_string(key_id));
	b64 = skr_base64_encode(nonce, nonce_len);
	json_object_object_add(*out, "nonce", json_object_new_string(b64 ? b64 : ""));
	free(b64);
	json_object_object_add(*out, "evidence", ev);
	rc = 0;
out:
	json_object_put(wk);
	skr_buf_free(&attest);
	skr_buf_free(&sig);
	skr_buf_free(&ev_text);
	skr_buf_free(&hcl);
	return rc;
}

static int b64_field(json_object *w, const char *key, uint8_t *out, size_t max, size_t *len,
		     struct skr_err *err)
{
	struct skr_buf raw = { 0 };
	json_object *v;
	int rc = -1;

	if (json_object_object_get_ex(w, key, &v) &&
	    skr_base64_decode(json_object_get_string(v), (size_t)json_object_get_string_len(v), &raw,
			      key, err) == 0 && raw.len <= max) {
		memcpy(out, raw.data, raw.len);
		*len = raw.len;
		rc = 0;
	}
	skr_buf_free(&raw);
	return rc < 0 ? skr_fail(err, SKR_R_malformed, "wrapped %s is bad", key) : 0;
}

int skr_softvm_unwrap(struct skr_softvm *vm, json_object *resp, const char *key_id,
		      const uint8_t *nonce, size_t nonce_len, uint8_t *secret, size_t *len,
		      struct skr_err *err)
{
	struct skr_wrapped w = { 0 };
	uint8_t z[SKR_WRAP_COORD];
	json_object *wrapped;
	size_t n;

	if (!json_object_object_get_ex(resp, "wrapped", &wrapped) ||
	    b64_field(wrapped, "epk", w.epk, sizeof(w.epk), &n, err) < 0 ||
	    b64_field(wrapped, "iv", w.iv, sizeof(w.iv), &n, err) < 0 ||
	    b64_field(wrapped, "tag", w.tag, sizeof(w.tag), &n, err) < 0 ||
	    b64_field(wrapped, "ciphertext", w.ciphertext, sizeof(w.ciphertext), &w.ciphertext_len,
		      err) < 0 ||
	    skr_ecdh_z(vm->wrap_key, w.epk, z, err) < 0)
		return skr_fail(err, SKR_R_malformed, "no usable wrapped secret");
	return skr_unwrap_with_z(z, &w, nonce, nonce_len, key_id, secret, len, err);
}

int skr_softvm_trust_pem(const struct skr_softvm *vm, struct skr_buf *pem, struct skr_err *err)
{
	return skr_test_chain_bundle_pem(&vm->chain, false, pem, err);
}
