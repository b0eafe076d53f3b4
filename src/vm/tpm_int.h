/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the TPM code (tpm.c, tpm_ek.c, tpm_session.c, local_seal.c; the
 * white-box tests of tests/unit/test_tpm.c, test_local_seal.c and
 * test_makecred.c and tests/helpers/fakevtpm.c):
 * the definition of struct skr_tpm, which is opaque everywhere else, and the
 * ESAPI helpers they share.  `make header-check` fails when another file
 * includes it.
 */
#ifndef SKR_TPM_INT_H
#define SKR_TPM_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_tcti.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "vm/tpm.h"

struct skr_tpm {
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
	char tcti_conf[256];		/* what was opened, for messages */
	/* Tunables, set by skr_tpm_open() to the defaults of tpm.h; the tests change them. */
	unsigned nv_retries;		/* attempts while an index is not written (>= 1) */
	unsigned nv_retry_delay_ms;
	uint32_t nv_chunk;		/* bytes per TPM2_NV_Read; 0 = TPM2_PT_NV_BUFFER_MAX */
	uint32_t nv_buffer_max;		/* cached TPM2_PT_NV_BUFFER_MAX (0 = not queried yet) */
};

/* ---- Cleanup ------------------------------------------------------------- */

/*
 * What ESAPI returns is freed with Esys_Free whatever its type, so one
 * function serves every TPM2B_* / TPML_* / TPMS_* pointer: SKR_DEFINE_FREEP
 * (common/cleanup.h) makes one function per free function and type, which
 * would need a name per TPM type for the same Esys_Free.
 */
static inline void skr_esys_freep(void *p)
{
	void **pp = p;

	Esys_Free(*pp);
	*pp = NULL;
}
#define _cleanup_esys_ _cleanup_(skr_esys_freep)

/*
 * An ESYS_TR released when it goes out of scope, by what it is (the TPM
 * handle's type, from ESYS), the one policy of the TPM code:
 *
 *   - a transient object or a session is flushed from the TPM
 *     (Esys_FlushContext): the TPM has a few slots only, and without a
 *     resource manager (swtpm, or a TCTI straight to /dev/tpm0) nothing else
 *     would free them;
 *   - an NV index or a persistent object looked up with
 *     Esys_TR_FromTPMPublic is only closed in ESYS (Esys_TR_Close), never
 *     undefined or evicted.  Closing matters: ESYS keeps the object's public
 *     area and Name with the ESYS_TR, and tss2-esys (3.2 and later) hands the
 *     same ESYS_TR back to a later Esys_TR_FromTPMPublic of the same TPM
 *     handle, checking that the Name did not change: "Name mismatch between
 *     two calls", TSS2_ESYS_RC_GENERAL_FAILURE, for a persistent object (an
 *     AK that another process re-provisioned: test_tpm.c's
 *     test_reprovision_elsewhere fails with tpm_error if the AK's handle is
 *     kept open) and, in later versions, for an NV index written meanwhile
 *     (the paravisor writing the HCL report while skr_tpm_nv_read retries,
 *     another process incrementing a counter).
 *
 * The price of closing: because ESYS shares the ESYS_TR between look-ups of
 * the same TPM handle, a function must not look an index up again while a
 * caller holds it (the caller's ESYS_TR would be closed under it); it passes
 * the ESYS_TR down instead (local_seal.c's counter_read_open).  Nobody
 * outside the TPM code holds one: struct skr_tpm is opaque (the white-box
 * tests that use ESYS directly keep to the same rule).
 * Permanent handles (ESYS_TR_RH_*, ESYS_TR_PCR*) are never put in a guard;
 * after TPM2_NV_UndefineSpace (which drops the ESYS_TR itself) or handing a
 * handle to the caller, set .tr to ESYS_TR_NONE.
 */
struct tr_guard {
	ESYS_CONTEXT *esys;
	ESYS_TR tr;
};
#define TR_GUARD(t) { .esys = (t)->esys, .tr = ESYS_TR_NONE }

static inline void tr_guard_release(struct tr_guard *g)
{
	TPM2_HANDLE h = 0;

	if (!g->esys || g->tr == ESYS_TR_NONE)
		return;
	if (Esys_TR_GetTpmHandle(g->esys, g->tr, &h) == TSS2_RC_SUCCESS) {
		switch (h >> TPM2_HR_SHIFT) {
		case TPM2_HT_TRANSIENT:
		case TPM2_HT_HMAC_SESSION:
		case TPM2_HT_POLICY_SESSION:
			(void)Esys_FlushContext(g->esys, g->tr);
			break;
		default:	/* NV index, persistent object */
			(void)Esys_TR_Close(g->esys, &g->tr);
			break;
		}
	}
	g->tr = ESYS_TR_NONE;
}
#define _cleanup_tr_ _cleanup_(tr_guard_release)

/* ---- Response codes -------------------------------------------------------- */

static inline bool rc_is_tpm(TSS2_RC rc)
{
	TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;

	return layer == TSS2_TPM_RC_LAYER || layer == TSS2_RESMGR_TPM_RC_LAYER;
}

/*
 * The TPM's response code without the layer and, for format-one codes, the
 * handle/session/parameter number: comparable to TPM2_RC_* constants.
 */
static inline TSS2_RC rc_base(TSS2_RC rc)
{
	if (!rc_is_tpm(rc))
		return rc;
	rc &= 0xFFFF;
	if (rc & TPM2_RC_FMT1)
		return rc & (TPM2_RC_FMT1 | 0x3F);
	return rc & 0xFFF;
}

/* The TCTI could not reach the TPM (as opposed to a TPM or ESYS error). */
static inline bool rc_unreachable(TSS2_RC rc)
{
	return (rc & TSS2_RC_LAYER_MASK) == TSS2_TCTI_RC_LAYER;
}

/*
 * Records a failed TSS call (tpm.c): tpm_unavailable for transport errors,
 * tpm_error otherwise with Tss2_RC_Decode's text.  skr_tpm_owner_fail is for
 * commands authorised by the owner hierarchy: an authorisation failure or a
 * disabled hierarchy says so.
 */
__attribute__((format(printf, 4, 5))) int skr_tpm_fail(const struct skr_tpm *t, TSS2_RC rc,
						       struct skr_err *err, const char *fmt, ...);
__attribute__((format(printf, 4, 5))) int skr_tpm_owner_fail(const struct skr_tpm *t,
							     TSS2_RC rc, struct skr_err *err,
							     const char *fmt, ...);

/* ---- Salted sessions (tpm_session.c) ----------------------------------------- */

/*
 * skr_tpm_storage_primary: the primary ECC P-256 storage key of the owner
 * hierarchy from the TCG SRK-style template (restricted decrypt,
 * AES-128-CFB, userWithAuth, noDA, empty unique, empty auth).  The owner
 * seed is fixed for the life of the TPM, so the same template gives the same
 * key every time; nothing is persisted.  The local copy's parent, and the
 * salt key when the one a caller wanted is refused.
 *
 * skr_tpm_salted_session: TPM2_StartAuthSession of a session of the given
 * type (HMAC or policy) salted with salt_key (a loaded decrypt key: ESYS
 * encrypts the salt to its public area, so only the TPM holding its private
 * part learns the session key), AES-128-CFB parameter encryption, SHA-256,
 * unbound, then attrs (TPMA_SESSION_DECRYPT: the first command parameter
 * crosses the TCTI encrypted; TPMA_SESSION_ENCRYPT: the first response
 * parameter; either must be a TPM2B).  The guard flushes the session.
 * Failures: tpm_unavailable, or tpm_error when the TPM or ESYS refuses (a
 * key the TPM will not salt with included).
 */
int skr_tpm_storage_primary(struct skr_tpm *t, struct tr_guard *primary, struct skr_err *err);
int skr_tpm_salted_session(struct skr_tpm *t, ESYS_TR salt_key, TPM2_SE type, TPMA_SESSION attrs,
			   struct tr_guard *session, struct skr_err *err);

/* ---- PCR selections ---------------------------------------------------------- */

/* One sha256 selection of 3 bytes (PCRs 0..23) from a mask, bit i = PCR i. */
static inline void skr_tpm_pcr_selection(uint32_t mask, TPML_PCR_SELECTION *sel)
{
	memset(sel, 0, sizeof(*sel));
	sel->count = 1;
	sel->pcrSelections[0].hash = TPM2_ALG_SHA256;
	sel->pcrSelections[0].sizeofSelect = 3;
	sel->pcrSelections[0].pcrSelect[0] = (BYTE)mask;
	sel->pcrSelections[0].pcrSelect[1] = (BYTE)(mask >> 8);
	sel->pcrSelections[0].pcrSelect[2] = (BYTE)(mask >> 16);
}

#endif
