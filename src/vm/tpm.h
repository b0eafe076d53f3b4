/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VM side of the release protocol, inside the (v)TPM: reading the Azure
 * HCL report from NV, creating the ephemeral ECC wrap key, certifying it and
 * quoting the PCRs with the AK, and computing the ECDH shared secret Z for an
 * unwrap.  tss2-esys over any TCTI (the kernel resource manager in a VM,
 * swtpm in tests).
 *
 * Conventions: 0 on success, -1 with *err filled.  Reasons: tpm_unavailable
 * when the TPM cannot be reached at all (the detail names the TCTI),
 * tpm_nv_undefined / tpm_nv_uninitialized for an NV index that is missing or
 * not written yet, tpm_error for any other TPM failure (the detail carries
 * Tss2_RC_Decode's text), usage for impossible arguments.  Every transient
 * object a function creates is flushed before it returns, on every path,
 * except the wrap key, which lives until skr_tpm_key_flush().  No secret
 * (Z, auth values) ever reaches a detail string or a log, nor crosses the
 * TPM interface in the clear (salted sessions with parameter encryption:
 * ECDH_ZGen here, ActivateCredential, and the local copy's Create and
 * Unseal in local_seal.c).
 *
 * Unless TSS2_LOG is set in the environment, skr_tpm_open() silences
 * tpm2-tss's own stderr logging (every failure is reported through err).
 */
#ifndef SKR_TPM_H
#define SKR_TPM_H

#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_esys.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/pcr_bank.h"
#include "common/util.h"

#define SKR_TPM_DEFAULT_TCTI "device:/dev/tpmrm0"
#define SKR_TPM_AK_HANDLE 0x81000003u		/* Azure's vTPM attestation key */
#define SKR_TPM_NV_RETRIES 10			/* NV_UNINITIALIZED: attempts ... */
#define SKR_TPM_NV_RETRY_DELAY_MS 100		/* ... and the pause between them */
#define SKR_TPM_NV_BUFFER_FALLBACK 1024		/* when TPM2_PT_NV_BUFFER_MAX is unknown */
#define SKR_TPM_MAX_NV_READ (64u << 10)		/* refuse indexes claiming more */

/* An open TPM: opaque outside the TPM code (vm/tpm_int.h). */
struct skr_tpm;

/*
 * Opens the TPM behind a TCTI configuration string (NULL or "" =
 * SKR_TPM_DEFAULT_TCTI; e.g. "swtpm:host=127.0.0.1,port=2321") and sends
 * TPM2_Startup(CLEAR), tolerating a TPM that is already started.
 */
int skr_tpm_open(const char *tcti, struct skr_tpm **out, struct skr_err *err);
void skr_tpm_close(struct skr_tpm *t);
SKR_DEFINE_FREEP(struct skr_tpm, skr_tpm_close)
#define _cleanup_tpm_ _cleanup_(skr_tpm_closep)

/*
 * Reads a whole NV index in chunks of at most TPM2_PT_NV_BUFFER_MAX bytes.
 * Authorises with the owner hierarchy (empty auth) when the index allows
 * OWNERREAD, as on Azure where the index's own auth value is a secret of the
 * paravisor; otherwise with the index's own (empty) auth.  An index that is
 * defined but not written yet (TPM_RC_NV_UNINITIALIZED) is retried
 * SKR_TPM_NV_RETRIES times, SKR_TPM_NV_RETRY_DELAY_MS apart (the tests
 * change both, and the chunk size, through vm/tpm_int.h), then fails with
 * tpm_nv_uninitialized; a missing index fails with tpm_nv_undefined.
 */
int skr_tpm_nv_read(struct skr_tpm *t, uint32_t index, struct skr_buf *out,
		    struct skr_err *err);

/* The Azure HCL report from SKR_HCL_NV_INDEX (0x01400001). */
int skr_tpm_read_hcl(struct skr_tpm *t, struct skr_buf *out, struct skr_err *err);

/*
 * Which kind of vTPM this is, i.e. which evidence it can give (the "tee" of
 * the evidence and of a key's policy):
 *   SKR_TPM_MODE_AZ_SNP_VTPM  "az-snp-vtpm": an Azure Confidential VM, its
 *                             HCL report at 0x01400001 (defined, even if the
 *                             paravisor has not written it yet);
 *   SKR_TPM_MODE_AZURE_TL     "azure-tl": an Azure Trusted Launch VM, no HCL
 *                             report but Azure's AK certificate at
 *                             SKR_TPM_AKCERT_NV_INDEX;
 *   SKR_TPM_MODE_TPM          "tpm": neither, but an EK certificate at
 *                             SKR_TPM_EKCERT_RSA_NV_INDEX (or, ECC,
 *                             SKR_TPM_EKCERT_ECC_NV_INDEX, P-256).
 * None of these indexes: tpm_nv_undefined, the detail naming them.
 */
#define SKR_TPM_AKCERT_NV_INDEX 0x01C101D0u	/* Azure's AK certificate (DER) */
#define SKR_TPM_EKCERT_RSA_NV_INDEX 0x01C00002u	/* TCG: RSA-2048 EK certificate */
#define SKR_TPM_EKCERT_ECC_NV_INDEX 0x01C0000Au	/* TCG: ECC NIST P-256 EK certificate */
/*
 * TCG EK Credential Profile 2.3+ / TPM v2.0 Provisioning Guidance 2.2.1.5:
 * the EK certificate chain's intermediates, concatenated DER, from
 * 0x01C00100 upwards (the range ends at 0x01C001FF), contiguous.
 */
#define SKR_TPM_EK_CHAIN_NV_FIRST 0x01C00100u
#define SKR_TPM_EK_CHAIN_NV_COUNT 8u		/* read at most these many indices */
#define SKR_TPM_EK_CHAIN_MAX (64u << 10)	/* and this many bytes in all */
enum skr_tpm_mode {
	SKR_TPM_MODE_AZ_SNP_VTPM = 1,
	SKR_TPM_MODE_AZURE_TL,
	SKR_TPM_MODE_TPM,
};
int skr_tpm_detect_mode(struct skr_tpm *t, enum skr_tpm_mode *mode, struct skr_err *err);
/* "az-snp-vtpm" / "azure-tl" / "tpm" (the evidence's and the policy's "tee"); "?" otherwise. */
const char *skr_tpm_mode_name(enum skr_tpm_mode mode);
/* A line for people: "Azure Confidential VM (SEV-SNP, ...)". */
const char *skr_tpm_mode_describe(enum skr_tpm_mode mode);

/* Azure's AK certificate (DER) from SKR_TPM_AKCERT_NV_INDEX. */
int skr_tpm_read_akcert(struct skr_tpm *t, struct skr_buf *out, struct skr_err *err);

/*
 * The public area of the key at a persistent handle, as the TPM returns it
 * (TPM2_ReadPublic), marshalled as a TPM2B_PUBLIC: the evidence's
 * "ak_public".  A handle with nothing there fails with tpm_error naming it.
 */
int skr_tpm_read_public(struct skr_tpm *t, uint32_t handle, struct skr_buf *out,
			struct skr_err *err);

/* A loaded key: the wrap key of one release. */
struct skr_tpm_key {
	ESYS_TR handle;			/* ESYS_TR_NONE when empty */
	TPM2B_PUBLIC public;
	uint8_t public_bytes[sizeof(TPM2B_PUBLIC)];	/* marshalled TPM2B_PUBLIC */
	size_t public_len;
	TPM2B_NAME name;		/* nameAlg || H(TPMT_PUBLIC) */
};

/*
 * The generic TPM mode ("tpm", docs/DESIGN.md 2.2), in tpm_ek.c.
 *
 * skr_tpm_read_ekcert: the RSA EK certificate (DER) from
 * SKR_TPM_EKCERT_RSA_NV_INDEX, as swtpm_setup --create-ek-cert and vendors
 * write it, else the ECC P-256 one from SKR_TPM_EKCERT_ECC_NV_INDEX; *alg
 * (may be NULL) says which (TPM2_ALG_RSA or TPM2_ALG_ECC); neither:
 * tpm_nv_undefined.
 * skr_tpm_read_ek_chain: the chain's NV indices from
 * SKR_TPM_EK_CHAIN_NV_FIRST, up to the first undefined one and at most
 * SKR_TPM_EK_CHAIN_NV_COUNT, concatenated as they are (empty: none); the
 * bytes are the TPM's, not checked here (the broker treats them as untrusted
 * material); over SKR_TPM_EK_CHAIN_MAX bytes fails with malformed.
 * skr_tpm_create_ek: the EK, the primary the TCG EK Credential Profile's
 * low-range template for alg makes in the endorsement hierarchy (L-1,
 * RSA-2048, or L-2, ECC P-256; policy A): the key the certificate certifies.
 * skr_tpm_create_ek_ak: the AK, a primary in the endorsement hierarchy from
 * Azure's AK template (RSA-2048 RSASSA/SHA-256, restricted, sign, fixedTPM,
 * fixedParent, sensitiveDataOrigin, userWithAuth) plus noDA: the same key
 * every boot of this TPM, no blob to keep, and it passes skr_ak_public_check.
 * noDA because its authValue is empty (dictionary-attack protection guards
 * nothing) and TPM2_ActivateCredential authorises it by that authValue: a
 * DA-protected AK used in a boot that ends without TPM2_Shutdown (a power
 * cut, a reset) counts as a failed authorisation, and a few such boots lock
 * the TPM out of every release and reseal.
 * skr_tpm_activate: TPM2_ActivateCredential of blob (a marshalled
 * TPM2B_ID_OBJECT) and secret (a marshalled TPM2B_ENCRYPTED_SECRET) with ak
 * beside ek, the EK authorised by a policy session holding
 * PolicySecret(endorsement), salted with the EK, that encrypts the response
 * (the credential crosses the TPM interface encrypted).  The recovered
 * credential (at most 64 bytes) goes to cred/cred_len.  The TPM's refusal (the credential was made for
 * another EK or another name) is ak_not_on_tpm, a TPM warning (e.g. DA
 * lockout) tpm_error; unparseable input malformed.
 * All keys are transient: skr_tpm_key_flush them.
 */
int skr_tpm_read_ekcert(struct skr_tpm *t, struct skr_buf *out, TPM2_ALG_ID *alg,
			struct skr_err *err);
int skr_tpm_read_ek_chain(struct skr_tpm *t, struct skr_buf *out, struct skr_err *err);
int skr_tpm_create_ek(struct skr_tpm *t, TPM2_ALG_ID alg, struct skr_tpm_key *out,
		      struct skr_err *err);
int skr_tpm_create_ek_ak(struct skr_tpm *t, struct skr_tpm_key *out, struct skr_err *err);
int skr_tpm_activate(struct skr_tpm *t, const struct skr_tpm_key *ek, const struct skr_tpm_key *ak,
		     const uint8_t *blob, size_t blob_len, const uint8_t *secret,
		     size_t secret_len, uint8_t cred[64], size_t *cred_len, struct skr_err *err);

/* The wrap key's TPMA_OBJECT, exactly (see tpm.c for why each bit). */
#define SKR_TPM_WRAP_KEY_ATTRS                                                            \
	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN | \
	 TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_DECRYPT | TPMA_OBJECT_NODA)

/*
 * Creates the wrap key: a primary ECC P-256 decrypt key in the NULL
 * hierarchy (ephemeral: gone at the next TPM reset), SKR_TPM_WRAP_KEY_ATTRS,
 * scheme NULL (usable for ECDH_ZGen), nameAlg SHA-256, empty auth.
 */
int skr_tpm_create_wrap_key(struct skr_tpm *t, struct skr_tpm_key *out, struct skr_err *err);
/* Flushes the key (if loaded) and clears *k; safe on an empty or flushed key. */
void skr_tpm_key_flush(struct skr_tpm *t, struct skr_tpm_key *k);

/*
 * TPM2_Certify of k by the AK at the persistent handle ak_handle with the
 * nonce as qualifying data.  attest receives the marshalled TPMS_ATTEST (the
 * bytes the signature covers, i.e. TPM2B_ATTEST.attestationData), signature
 * the marshalled TPMT_SIGNATURE.  The AK's own scheme applies (RSASSA-SHA256
 * on Azure); an AK without one signs RSASSA/ECDSA with SHA-256.
 */
int skr_tpm_certify(struct skr_tpm *t, const struct skr_tpm_key *k, uint32_t ak_handle,
		    const uint8_t *nonce, size_t nonce_len, struct skr_buf *attest,
		    struct skr_buf *signature, struct skr_err *err);

/*
 * skr_tpm_certify and skr_tpm_quote with a loaded (transient) AK instead of
 * a persistent handle: the "tpm" mode's AK (skr_tpm_create_ek_ak).  The same
 * scheme rule and outputs.
 */
int skr_tpm_certify_with(struct skr_tpm *t, const struct skr_tpm_key *k,
			 const struct skr_tpm_key *ak, const uint8_t *nonce, size_t nonce_len,
			 struct skr_buf *attest, struct skr_buf *signature, struct skr_err *err);

/*
 * TPM2_Quote over the sha256 PCRs in sha256_pcr_mask (bit i = PCR i, 0..23)
 * with the nonce, and the values of those PCRs in pcrs (one sha256 bank,
 * extended_mask = the mask).  The values are checked against the quote's PCR
 * digest; if a PCR changed between quote and read, the pair is taken again
 * (a few times) before failing with tpm_error.
 */
int skr_tpm_quote(struct skr_tpm *t, uint32_t ak_handle, const uint8_t *nonce, size_t nonce_len,
		  uint32_t sha256_pcr_mask, struct skr_buf *attest, struct skr_buf *signature,
		  struct skr_pcr_banks *pcrs, struct skr_err *err);

int skr_tpm_quote_with(struct skr_tpm *t, const struct skr_tpm_key *ak, const uint8_t *nonce,
		       size_t nonce_len, uint32_t sha256_pcr_mask, struct skr_buf *attest,
		       struct skr_buf *signature, struct skr_pcr_banks *pcrs, struct skr_err *err);

/* Reads the sha256 PCRs in mask (any number; TPM2_PCR_Read returns 8 per call). */
int skr_tpm_pcr_read(struct skr_tpm *t, uint32_t sha256_pcr_mask, struct skr_pcr_banks *pcrs,
		     struct skr_err *err);

/*
 * Z = x(d * epk) computed by TPM2_ECDH_ZGen with the wrap key's private part
 * d; epk is SEC1 uncompressed (04 || x || y).  z should be locked memory; the
 * TPM's output point is wiped.  Z crosses the TPM interface encrypted: the
 * command runs under an HMAC session salted with the wrap key itself (or,
 * should the TPM refuse that key, with the owner hierarchy's storage
 * primary), AES-128-CFB response encryption; never under a password session.
 */
int skr_tpm_ecdh_zgen(struct skr_tpm *t, const struct skr_tpm_key *k, const uint8_t epk[65],
		      uint8_t z[32], struct skr_err *err);

/*
 * TPM2_PCR_Event(pcr, data): every allocated bank's PCR is extended with its
 * own hash of data (1..1024 bytes), under an empty-password session as the
 * other commands use.  pcr is 0..23; whether the TPM lets this locality
 * extend it is the TPM's decision (tpm_error otherwise).
 */
int skr_tpm_pcr_event(struct skr_tpm *t, uint32_t pcr, const void *data, size_t len,
		      struct skr_err *err);

/* The number of transient objects loaded in the TPM (TPM2_CAP_HANDLES). */
int skr_tpm_count_transient(struct skr_tpm *t, uint32_t *count, struct skr_err *err);

#endif
