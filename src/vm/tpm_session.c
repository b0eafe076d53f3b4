/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Salted sessions for TPM parameter encryption (contract: vm/tpm_int.h),
 * shared by the release's TPM2_ECDH_ZGen (tpm.c) and the local copy's
 * TPM2_Create and TPM2_Unseal (local_seal.c).
 */
#include "vm/tpm_int.h"

int skr_tpm_storage_primary(struct skr_tpm *t, struct tr_guard *primary, struct skr_err *err)
{
	TPM2B_SENSITIVE_CREATE sensitive = { 0 };
	TPM2B_PUBLIC template = {
		.publicArea = {
			.type = TPM2_ALG_ECC,
			.nameAlg = TPM2_ALG_SHA256,
			.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
					    TPMA_OBJECT_SENSITIVEDATAORIGIN |
					    TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA |
					    TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT,
			.parameters.eccDetail = {
				.symmetric = {
					.algorithm = TPM2_ALG_AES,
					.keyBits.aes = 128,
					.mode.aes = TPM2_ALG_CFB,
				},
				.scheme = { .scheme = TPM2_ALG_NULL },
				.curveID = TPM2_ECC_NIST_P256,
				.kdf = { .scheme = TPM2_ALG_NULL },
			},
		},
	};
	TPM2B_DATA outside = { 0 };
	TPML_PCR_SELECTION creation_pcrs = { 0 };
	_cleanup_esys_ TPM2B_PUBLIC *pub = NULL;
	_cleanup_esys_ TPM2B_CREATION_DATA *creation = NULL;
	_cleanup_esys_ TPM2B_DIGEST *creation_hash = NULL;
	_cleanup_esys_ TPMT_TK_CREATION *ticket = NULL;
	TSS2_RC rc;

	rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				ESYS_TR_NONE, &sensitive, &template, &outside, &creation_pcrs,
				&primary->tr, &pub, &creation, &creation_hash, &ticket);
	if (rc != TSS2_RC_SUCCESS) {
		primary->tr = ESYS_TR_NONE;
		return skr_tpm_owner_fail(t, rc, err,
				  "TPM2_CreatePrimary of the storage key in the owner hierarchy");
	}
	return 0;
}

int skr_tpm_salted_session(struct skr_tpm *t, ESYS_TR salt_key, TPM2_SE type, TPMA_SESSION attrs,
			   struct tr_guard *session, struct skr_err *err)
{
	TPMT_SYM_DEF sym = {
		.algorithm = TPM2_ALG_AES,
		.keyBits.aes = 128,
		.mode.aes = TPM2_ALG_CFB,
	};
	TSS2_RC rc;

	if (salt_key == ESYS_TR_NONE)
		return skr_fail(err, SKR_R_usage, "a salted session needs a loaded decrypt key");
	rc = Esys_StartAuthSession(t->esys, salt_key, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				   ESYS_TR_NONE, NULL, type, &sym, TPM2_ALG_SHA256, &session->tr);
	if (rc != TSS2_RC_SUCCESS) {
		session->tr = ESYS_TR_NONE;
		return skr_tpm_fail(t, rc, err, "TPM2_StartAuthSession (salted)");
	}
	rc = Esys_TRSess_SetAttributes(t->esys, session->tr, attrs, 0xFF);
	if (rc != TSS2_RC_SUCCESS)
		return skr_tpm_fail(t, rc, err, "cannot set the session's attributes");
	return 0;
}
