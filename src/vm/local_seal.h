/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The local offline copy of a disk secret: sealed in the vTPM under
 * TPM2_PolicyAuthorize by a reseal signing key, so that a reseal (new kernel,
 * new PCR values) signs a new PCR policy instead of resealing the object, and
 * old signed policies are revoked by an NV counter.
 *
 * The pieces and what binds them:
 *
 *   signer     an ECC P-256 key held by the owner of the disk (skrctl's
 *              reseal key, a 0600 PEM file on the encrypted root).  Its public
 *              part is what the TPM sees through TPM2_LoadExternal with the
 *              fixed template SKR_LOCAL_SIGNER_ATTRS / ECDSA-SHA256 / P-256 /
 *              nameAlg SHA-256: the Name of that public area is part of the
 *              sealed object's authPolicy, so the template never changes.
 *
 *   object     a KEYEDHASH data object holding the secret (<= 128 bytes),
 *              SKR_LOCAL_OBJECT_ATTRS (fixedTPM|fixedParent|noDA|
 *              adminWithPolicy, no userWithAuth: only a policy session can
 *              unseal it, and no admin action is possible), parent: the
 *              owner-hierarchy primary ECC P-256 storage key made from the
 *              TCG SRK-style template in local_seal.c (re-created with
 *              TPM2_CreatePrimary at every seal and unseal, which needs the
 *              owner hierarchy's auth: empty on Azure and on swtpm; TPM
 *              code that knows another one sets it with
 *              Esys_TR_SetAuth(t->esys, ESYS_TR_RH_OWNER, ...) (tpm_int.h), otherwise
 *              seal/unseal/define/increment/delete fail with tpm_error saying
 *              so, while reading the counter still works),
 *              authPolicy = PolicyAuthorize(Name(signer), policyRef
 *              SKR_LOCAL_POLICY_REF):
 *                  H(H(0^32 || TPM_CC_PolicyAuthorize || Name(signer)) || "skr-local")
 *
 *   counter    an NV counter (TPM_NT_COUNTER, SKR_LOCAL_COUNTER_ATTRS) at the
 *              first free index of SKR_LOCAL_NV_FIRST .. +SKR_LOCAL_NV_COUNT-1
 *              (the TCG owner range 0x01000000-0x013FFFFF; "SK" in the low
 *              bytes).  Written by the owner (empty owner auth), read by
 *              PolicyNV with the index's own empty auth (AUTHREAD, noDA), so
 *              reading needs no owner auth.  A TPM counter never goes back:
 *              deleting and re-defining it starts the new one at the highest
 *              value any counter of that TPM ever had, and its Name (which
 *              includes the attributes) is what the policies bind.
 *
 *   policy     approved = PolicyPCR(sha256 PCRs in pcr_mask, pcr_digest) then
 *              PolicyNV(counter, operandB = epoch as 8 big-endian bytes,
 *              offset 0, TPM_EO_UNSIGNED_LE): valid while counter <= epoch.
 *              pcr_mask always holds PCR 15, the boot gate (gate.h), and
 *              pcr_digest counts it as all zero: the TPM unseals only before
 *              any volume was opened in this boot and before the initramfs
 *              handed over.  Why: the host can swap in a disk of its own,
 *              open it with its own passphrase in a boot whose other PCRs are
 *              approved, and run its own code; without the gate that code
 *              could have the TPM unseal the real disk's secret.  With it,
 *              the passphrase open (or skr's own open, or the handover) has
 *              already moved PCR 15, and TPM2_PolicyPCR refuses.
 *              The signer signs aHash = SHA-256(approved || "skr-local") with
 *              ECDSA P-256; the signature is kept as r || s (32 bytes each,
 *              big-endian), which is what TPMT_SIGNATURE carries.
 *
 * Unsealing runs, for one policy: TPM2_VerifySignature with the signer loaded
 * as an external public key in the owner hierarchy (a NULL-hierarchy key
 * would give a NULL ticket that PolicyAuthorize refuses) -> ticket; in a
 * policy session salted with the storage key (so that the secret crosses the
 * TCTI encrypted): PolicyPCR, PolicyNV, PolicyAuthorize(approved, ref,
 * Name(signer), ticket); TPM2_Unseal.  All enforcement is the TPM's.
 *
 * Revocation: a reseal signs the new PCR values with epoch = counter + 1 and
 * keeps the old policy; both open the object until the new boot is proven and
 * the counter is incremented past the old epoch (skr_local_counter_increment).
 *
 * Conventions as in tpm.h: 0 on success, -1 with *err filled; tpm_unavailable,
 * tpm_error (the detail carries Tss2_RC_Decode's text), tpm_nv_undefined;
 * every transient object and session flushed on every path.  Sealed blobs,
 * policies and public keys read from a LUKS header are untrusted: the
 * parsers (skr_local_blob_parse, skr_local_signer_public_parse below,
 * skr_local_policy_parse in local_policy.h) check them completely and are
 * fuzzed (fuzz/fuzz_local_policy.c).
 */
#ifndef SKR_LOCAL_SEAL_H
#define SKR_LOCAL_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include "common/err.h"
#include "common/pcr_bank.h"
#include "common/util.h"
#include "vm/local_policy.h"	/* struct skr_local_policy, its binary form, the NV range */

struct skr_tpm;			/* vm/tpm.h */

#define SKR_LOCAL_POLICY_REF "skr-local"	/* policyRef, without a NUL */
#define SKR_LOCAL_MAX_SECRET 128		/* MAX_SYM_DATA: a sealed data object's limit */
#define SKR_LOCAL_MAX_BLOB 1024			/* refuse larger marshalled public/private */

/* The counter's TPMA_NV, exactly (TPMA_NV_WRITTEN is added by the first increment). */
#define SKR_LOCAL_COUNTER_ATTRS                                                        \
	((TPM2_NT_COUNTER << TPMA_NV_TPM2_NT_SHIFT) | TPMA_NV_OWNERWRITE |              \
	 TPMA_NV_OWNERREAD | TPMA_NV_AUTHREAD | TPMA_NV_NO_DA)

/* The sealed object's TPMA_OBJECT, exactly. */
#define SKR_LOCAL_OBJECT_ATTRS                                                         \
	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_NODA |            \
	 TPMA_OBJECT_ADMINWITHPOLICY)

/* The signer's TPMA_OBJECT as loaded with TPM2_LoadExternal (part of its Name). */
#define SKR_LOCAL_SIGNER_ATTRS TPMA_OBJECT_SIGN_ENCRYPT

/* ---- The signer ------------------------------------------------------------ */

/* A new ECC P-256 key. */
int skr_local_signer_generate(EVP_PKEY **out, struct skr_err *err);

/* Fails with unsupported unless key is an EC key on P-256. */
int skr_local_signer_check(EVP_PKEY *key, struct skr_err *err);

/* The signer's public area as TPM2_LoadExternal receives it, and its Name. */
int skr_local_signer_public(EVP_PKEY *key, TPM2B_PUBLIC *pub, TPM2B_NAME *name,
			    struct skr_err *err);

/*
 * Writes the private key as PKCS#8 PEM to path with mode 0600 (a temporary
 * file in the same directory, fsync'd, then renamed over path).
 */
int skr_local_signer_save(EVP_PKEY *key, const char *path, struct skr_err *err);
/* Reads a PEM private key written by skr_local_signer_save (P-256 only). */
int skr_local_signer_load(const char *path, EVP_PKEY **out, struct skr_err *err);

/* The public key as DER SubjectPublicKeyInfo (91 bytes), e.g. for a LUKS token. */
int skr_local_signer_public_der(EVP_PKEY *key, struct skr_buf *out, struct skr_err *err);
/* The public key from PEM or DER SubjectPublicKeyInfo (untrusted input): P-256 only. */
int skr_local_signer_public_parse(const uint8_t *data, size_t len, EVP_PKEY **out,
				  struct skr_err *err);

/* ---- Policies (software) ---------------------------------------------------- */

/*
 * TPM2_PolicyPCR's pcrDigest: SHA-256 over the sha256 bank's values of the
 * PCRs in mask, in index order, with PCR 15 (the boot gate) as 32 zero bytes
 * whatever pcrs holds for it.  mask must hold SKR_LOCAL_GATE_MASK, and every
 * other PCR in mask must have a value (extended_mask), else usage.
 */
int skr_local_pcr_digest(const struct skr_pcr_banks *pcrs, uint32_t mask, uint8_t out[32],
			 struct skr_err *err);

/* The sealed object's authPolicy for a signer Name. */
int skr_local_auth_policy(const TPM2B_NAME *signer_name, uint8_t out[32], struct skr_err *err);

/*
 * The software trial of approved: H(H(0^32 || CC_PolicyPCR || TPML_PCR_SELECTION
 * || pcr_digest) || CC_PolicyNV || H(epoch_be64 || 0x0000 || TPM_EO_UNSIGNED_LE)
 * || nv_name).  pcr_mask must hold SKR_LOCAL_GATE_MASK (usage): skr signs no
 * policy that leaves the boot gate out (the same holds for _sign and _make).
 */
int skr_local_policy_digest(uint32_t pcr_mask, const uint8_t pcr_digest[32],
			    const TPM2B_NAME *nv_name, uint64_t epoch, uint8_t out[32],
			    struct skr_err *err);

/* Fills *out (approved and signature) without a TPM, for a known counter Name. */
int skr_local_policy_sign(EVP_PKEY *signer, const TPM2B_NAME *nv_name, uint32_t pcr_mask,
			  const uint8_t pcr_digest[32], uint64_t epoch,
			  struct skr_local_policy *out, struct skr_err *err);

/*
 * The same in software as the TPM checks it: the signature over approved
 * (local_policy_signature_invalid), then approved against the policy's own
 * fields and nv_name, and PCR 15 in its mask (local_policy_mismatch).
 * Advisory only (e.g. before writing a policy to a LUKS header): unsealing
 * never relies on it.
 */
int skr_local_policy_verify(EVP_PKEY *signer_pub, const TPM2B_NAME *nv_name,
			    const struct skr_local_policy *p, struct skr_err *err);

/* ---- Policies (TPM) ---------------------------------------------------------- */

/*
 * The counter's Name read with TPM2_NV_ReadPublic, after checking the index
 * is an skr counter: TPM_NT_COUNTER with exactly SKR_LOCAL_COUNTER_ATTRS,
 * written, SHA-256, 8 bytes, no authPolicy (else unsupported: a policy bound
 * to an index anyone could write would not revoke anything), and that the
 * Name is the hash of that public area.
 */
int skr_local_counter_name(struct skr_tpm *t, uint32_t index, TPM2B_NAME *name,
			   struct skr_err *err);

/* skr_local_policy_sign with the counter's Name from the TPM. */
int skr_local_policy_make(struct skr_tpm *t, EVP_PKEY *signer, uint32_t nv_index,
			  uint32_t pcr_mask, const uint8_t pcr_digest[32], uint64_t epoch,
			  struct skr_local_policy *out, struct skr_err *err);

/* ---- The counter ------------------------------------------------------------- */

/*
 * Defines a counter at the first free index of SKR_LOCAL_NV_FIRST ..
 * + SKR_LOCAL_NV_COUNT - 1 (owner auth), increments it so that it is
 * readable and its Name final, and returns the index and its value (not
 * necessarily 2: see the header comment).  It is incremented twice: a
 * re-defined counter starts at the highest value any counter of the TPM
 * had, and a deleted counter at the same index (same Name) may have had
 * policies signed for its value + 1 (reseal's epoch); twice puts the new
 * counter above every epoch ever signed for an older one, so they stay
 * revoked.  tpm_error when the block is full.
 */
int skr_local_counter_create(struct skr_tpm *t, uint32_t *index, uint64_t *value,
			     struct skr_err *err);
/* Reads the counter (its own empty auth). */
int skr_local_counter_read(struct skr_tpm *t, uint32_t index, uint64_t *value,
			   struct skr_err *err);
/* Increments it by one (owner auth) and returns the new value. */
int skr_local_counter_increment(struct skr_tpm *t, uint32_t index, uint64_t *value,
				struct skr_err *err);
/* Undefines it (owner auth); refuses an index that is not an skr counter. */
int skr_local_counter_delete(struct skr_tpm *t, uint32_t index, struct skr_err *err);

/* ---- Sealing ------------------------------------------------------------------- */

/*
 * Seals secret (1..SKR_LOCAL_MAX_SECRET bytes) under the storage primary with
 * the authPolicy of signer_pub (see the header comment); the secret reaches
 * the TPM encrypted (salted session, parameter encryption).  pub and priv
 * receive the marshalled TPM2B_PUBLIC and TPM2B_PRIVATE.
 */
int skr_local_seal(struct skr_tpm *t, EVP_PKEY *signer_pub, const uint8_t *secret, size_t len,
		   struct skr_buf *pub, struct skr_buf *priv, struct skr_err *err);

/*
 * Unmarshals the sealed blobs (untrusted: from a LUKS header): exactly one
 * TPM2B_PUBLIC and one TPM2B_PRIVATE, no trailing bytes, and the public area
 * must be a sealed data object as skr_local_seal makes them: KEYEDHASH,
 * scheme NULL, nameAlg SHA-256, SKR_LOCAL_OBJECT_ATTRS, a 32-byte authPolicy
 * and a 32-byte unique (malformed otherwise).
 */
int skr_local_blob_parse(const uint8_t *pub, size_t pub_len, const uint8_t *priv,
			 size_t priv_len, TPM2B_PUBLIC *pub_out, TPM2B_PRIVATE *priv_out,
			 struct skr_err *err);

/*
 * Unseals with the first of policies[0..n) that the TPM accepts (order them
 * newest first); *used = its position.  secret must hold
 * SKR_LOCAL_MAX_SECRET bytes and should be locked memory; it is wiped on
 * failure, and the TPM's output buffer is wiped.
 *
 * Before the TPM: the blobs are parsed (malformed) and the object's
 * authPolicy must be the one of signer_pub (local_policy_mismatch: sealed
 * for another signer); a policy whose mask lacks PCR 15 is not tried
 * (local_policy_mismatch: signed before the boot gate).  A policy that fails
 * reports the first check it failed, in this order: the signature
 * (local_policy_signature_invalid: another signer, a tampered approved
 * digest or signature), the PCR values (TPM2_PolicyPCR refused: boot_gate_closed
 * when PCR 15 is not zero now — a volume was opened in this boot or the
 * initramfs handed over — else pcr_mismatch), the counter (local_policy_revoked: counter above epoch;
 * the detail has both), approved against the fields
 * (local_policy_mismatch).  When none works, the error is the one of the
 * policy that got furthest (the first of those on a tie), its detail
 * prefixed with its position when n > 1 ("policy 2 of 3: ...", 1-based).  A missing counter is tpm_nv_undefined, an object that does not
 * load (another TPM, altered blobs) tpm_error.
 */
int skr_local_unseal(struct skr_tpm *t, const struct skr_buf *pub, const struct skr_buf *priv,
		     EVP_PKEY *signer_pub, uint32_t nv_index, const struct skr_local_policy *policies,
		     size_t n, uint8_t *secret, size_t *len, size_t *used, struct skr_err *err);

#endif
