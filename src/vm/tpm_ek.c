/* SPDX-License-Identifier: Apache-2.0 */
/* The generic TPM mode's keys and credential activation (contract: vm/tpm.h). */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>

#include "common/util.h"
#include "vm/tpm_int.h"

/* The TCG EK Credential Profile's policy A: PolicySecret(TPM_RH_ENDORSEMENT). */
static const TPM2B_DIGEST ek_policy_a = {
	32, { 0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xB3, 0xF8, 0x1A, 0x90, 0xCC, 0x8D, 0x46, 0xA5,
	      0xD7, 0x24, 0xFD, 0x52, 0xD7, 0x6E, 0x06, 0x52, 0x0B, 0x64, 0xF2, 0xA1, 0xDA, 0x1B,
	      0x33, 0x14, 0x69, 0xAA }
};

int skr_tpm_read_ekcert(struct skr_tpm *t, struct skr_buf *out, TPM2_ALG_ID *alg,
			struct skr_err *err)
{
	struct skr_err rsa_err = { 0 }, ecc_err = { 0 };

	if (alg)
		*alg = TPM2_ALG_RSA;
	if (skr_tpm_nv_read(t, SKR_TPM_EKCERT_RSA_NV_INDEX, out, &rsa_err) == 0)
		return 0;
	if (rsa_err.reason != SKR_R_tpm_nv_undefined) {
		*err = rsa_err;
		return -1;
	}
	/* No RSA EK certificate: the ECC P-256 one, else neither. */
	if (alg)
		*alg = TPM2_ALG_ECC;
	if (skr_tpm_nv_read(t, SKR_TPM_EKCERT_ECC_NV_INDEX, out, &ecc_err) == 0)
		return 0;
	if (ecc_err.reason == SKR_R_tpm_nv_undefined)
		return skr_fail(err, SKR_R_tpm_nv_undefined,
				"this TPM has no EK certificate (neither RSA, NV 0x%08x, nor ECC P-256, "
				"NV 0x%08x)", SKR_TPM_EKCERT_RSA_NV_INDEX, SKR_TPM_EKCERT_ECC_NV_INDEX);
	*err = ecc_err;
	return -1;
}

int skr_tpm_read_ek_chain(struct skr_tpm *t, struct skr_buf *out, struct skr_err *err)
{
	uint32_t i;

	*out = (struct skr_buf){ 0 };
	for (i = 0; i < SKR_TPM_EK_CHAIN_NV_COUNT; i++) {
		_cleanup_buf_ struct skr_buf part = { 0 };
		struct skr_err e = { 0 };
		uint8_t *p;

		if (skr_tpm_nv_read(t, SKR_TPM_EK_CHAIN_NV_FIRST + i, &part, &e) < 0) {
			if (e.reason == SKR_R_tpm_nv_undefined)
				return 0;	/* the end of the chain (or no chain) */
			*err = e;
			break;
		}
		if (out->len + part.len > SKR_TPM_EK_CHAIN_MAX) {
			skr_fail(err, SKR_R_malformed, "the EK chain in NV 0x%08x.. is more than %u bytes",
				 SKR_TPM_EK_CHAIN_NV_FIRST, SKR_TPM_EK_CHAIN_MAX);
			break;
		}
		if (!(p = realloc(out->data, out->len + part.len + 1))) {
			skr_fail(err, SKR_R_nomem, "out of memory");
			break;
		}
		memcpy(p + out->len, part.data, part.len);
		out->data = p;
		out->len += part.len;
	}
	if (i == SKR_TPM_EK_CHAIN_NV_COUNT)
		return 0;
	skr_buf_free(out);
	return -1;
}

static int create_primary(struct skr_tpm *t, const TPM2B_PUBLIC *tmpl, const char *what,
			  struct skr_tpm_key *out, struct skr_err *err)
{
	static const TPM2B_SENSITIVE_CREATE sensitive;
	static const TPM2B_DATA outside;
	static const TPML_PCR_SELECTION creation_pcrs;
	_cleanup_tr_ struct tr_guard key = TR_GUARD(t);
	_cleanup_esys_ TPM2B_PUBLIC *pub = NULL;
	_cleanup_esys_ TPM2B_NAME *name = NULL;
	TSS2_RC rc;

	memset(out, 0, sizeof(*out));
	out->handle = ESYS_TR_NONE;
	rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				ESYS_TR_NONE, &sensitive, tmpl, &outside, &creation_pcrs, &key.tr,
				&pub, NULL, NULL, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		key.tr = ESYS_TR_NONE;
		return skr_tpm_fail(t, rc, err, "TPM2_CreatePrimary of the %s (endorsement hierarchy)",
				    what);
	}
	rc = Esys_TR_GetName(t->esys, key.tr, &name);
	if (rc != TSS2_RC_SUCCESS)
		return skr_tpm_fail(t, rc, err, "cannot get the %s's name", what);
	if (Tss2_MU_TPM2B_PUBLIC_Marshal(pub, out->public_bytes, sizeof(out->public_bytes),
					 &out->public_len) != TSS2_RC_SUCCESS)
		return skr_fail(err, SKR_R_tpm_error, "cannot marshal the %s's TPM2B_PUBLIC", what);
	out->public = *pub;
	out->name = *name;
	out->handle = key.tr;
	key.tr = ESYS_TR_NONE;	/* owned by *out now */
	return 0;
}

/*
 * The profile's low-range templates, L-1 (RSA-2048) and L-2 (ECC NIST
 * P-256): the same attributes, policy A, SHA-256 and AES-128-CFB; the
 * unique field zeros of the key's size.
 */
int skr_tpm_create_ek(struct skr_tpm *t, TPM2_ALG_ID alg, struct skr_tpm_key *out,
		      struct skr_err *err)
{
	static const TPMT_SYM_DEF_OBJECT aes128_cfb = { TPM2_ALG_AES, { .aes = 128 },
							{ .aes = TPM2_ALG_CFB } };
	TPM2B_PUBLIC tmpl = {
		.publicArea = {
			.type = alg == TPM2_ALG_ECC ? TPM2_ALG_ECC : TPM2_ALG_RSA,
			.nameAlg = TPM2_ALG_SHA256,
			.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
					    TPMA_OBJECT_SENSITIVEDATAORIGIN |
					    TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_RESTRICTED |
					    TPMA_OBJECT_DECRYPT,
			.authPolicy = ek_policy_a,
		},
	};
	TPMT_PUBLIC *p = &tmpl.publicArea;

	if (p->type == TPM2_ALG_ECC) {
		p->parameters.eccDetail = (TPMS_ECC_PARMS){
			.symmetric = aes128_cfb,
			.scheme = { .scheme = TPM2_ALG_NULL },
			.curveID = TPM2_ECC_NIST_P256,
			.kdf = { .scheme = TPM2_ALG_NULL },
		};
		p->unique.ecc.x.size = p->unique.ecc.y.size = 32;
	} else {
		p->parameters.rsaDetail = (TPMS_RSA_PARMS){
			.symmetric = aes128_cfb,
			.scheme = { .scheme = TPM2_ALG_NULL },
			.keyBits = 2048,
		};
		p->unique.rsa.size = 256;
	}
	return create_primary(t, &tmpl, "EK", out, err);
}

int skr_tpm_create_ek_ak(struct skr_tpm *t, struct skr_tpm_key *out, struct skr_err *err)
{
	TPM2B_PUBLIC tmpl = {
		.publicArea = {
			.type = TPM2_ALG_RSA,
			.nameAlg = TPM2_ALG_SHA256,
			.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
					    TPMA_OBJECT_SENSITIVEDATAORIGIN |
					    TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA |
					    TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT,
			.parameters.rsaDetail = {
				.symmetric = { .algorithm = TPM2_ALG_NULL },
				.scheme = { TPM2_ALG_RSASSA, { .rsassa = { TPM2_ALG_SHA256 } } },
				.keyBits = 2048,
			},
		},
	};

	return create_primary(t, &tmpl, "AK", out, err);
}

/*
 * A policy session satisfying the EK's policy A; the guard flushes it.  It is
 * salted with the EK itself (a restricted RSA decrypt key, the key the EK
 * certificate certifies and the broker checks) and encrypts the first
 * response parameter (TPMA_SESSION_ENCRYPT, AES-128-CFB): the credential
 * TPM2_ActivateCredential recovers, which the release then presents to the
 * broker as the proof that the AK is on the certified TPM, crosses the TPM
 * interface encrypted to a session key only that TPM knows.
 */
static int ek_session(struct skr_tpm *t, const struct skr_tpm_key *ek, struct tr_guard *session,
		      struct skr_err *err)
{
	TSS2_RC rc;

	if (skr_tpm_salted_session(t, ek->handle, TPM2_SE_POLICY,
				   TPMA_SESSION_ENCRYPT | TPMA_SESSION_CONTINUESESSION, session,
				   err) < 0)
		return -1;
	rc = Esys_PolicySecret(t->esys, ESYS_TR_RH_ENDORSEMENT, session->tr, ESYS_TR_PASSWORD,
			       ESYS_TR_NONE, ESYS_TR_NONE, NULL, NULL, NULL, 0, NULL, NULL);
	if (rc != TSS2_RC_SUCCESS)
		return skr_tpm_fail(t, rc, err, "TPM2_PolicySecret(endorsement) for the EK");
	return 0;
}

static int unmarshal_credential(const uint8_t *blob, size_t blob_len, const uint8_t *secret,
				size_t secret_len, TPM2B_ID_OBJECT *id, TPM2B_ENCRYPTED_SECRET *enc,
				struct skr_err *err)
{
	size_t off = 0;

	if (Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(blob, blob_len, &off, id) != TSS2_RC_SUCCESS ||
	    off != blob_len)
		return skr_fail(err, SKR_R_malformed, "the credential blob is not a TPM2B_ID_OBJECT");
	off = 0;
	if (Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(secret, secret_len, &off, enc) !=
		    TSS2_RC_SUCCESS || off != secret_len)
		return skr_fail(err, SKR_R_malformed,
				"the credential secret is not a TPM2B_ENCRYPTED_SECRET");
	return 0;
}

int skr_tpm_activate(struct skr_tpm *t, const struct skr_tpm_key *ek, const struct skr_tpm_key *ak,
		     const uint8_t *blob, size_t blob_len, const uint8_t *secret,
		     size_t secret_len, uint8_t cred[64], size_t *cred_len, struct skr_err *err)
{
	_cleanup_tr_ struct tr_guard session = TR_GUARD(t);
	_cleanup_esys_ TPM2B_DIGEST *out = NULL;
	TPM2B_ID_OBJECT id;
	TPM2B_ENCRYPTED_SECRET enc;
	TSS2_RC rc;

	*cred_len = 0;
	if (unmarshal_credential(blob, blob_len, secret, secret_len, &id, &enc, err) < 0 ||
	    ek_session(t, ek, &session, err) < 0)
		return -1;
	rc = Esys_ActivateCredential(t->esys, ak->handle, ek->handle, ESYS_TR_PASSWORD, session.tr,
				     ESYS_TR_NONE, &id, &enc, &out);
	/* A warning (DA lockout, retry, no memory) is the TPM's state, not its verdict. */
	if (rc != TSS2_RC_SUCCESS && rc_is_tpm(rc) &&
	    ((rc_base(rc) & TPM2_RC_FMT1) || (rc_base(rc) & TPM2_RC_WARN) != TPM2_RC_WARN))
		return skr_fail(err, SKR_R_ak_not_on_tpm,
				"the TPM refused TPM2_ActivateCredential (%s, 0x%08x): the credential "
				"is for another EK or another AK", Tss2_RC_Decode(rc), rc);
	if (rc != TSS2_RC_SUCCESS)
		return skr_tpm_fail(t, rc, err, "TPM2_ActivateCredential");
	if (out->size > 64)
		return skr_fail(err, SKR_R_tpm_error, "the activated credential is %u bytes", out->size);
	memcpy(cred, out->buffer, out->size);
	*cred_len = out->size;
	OPENSSL_cleanse(out->buffer, out->size);
	return 0;
}
