/* SPDX-License-Identifier: Apache-2.0 */
#include "vm/tpm_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "verify/hcl_report.h"
#include "verify/tpm_attest.h"
#include "verify/wrap.h"

#define SKR_TPM_TRANSIENT_FIRST 0x80000000u

/* Attempts at a quote whose PCR values moved between TPM2_Quote and TPM2_PCR_Read. */
#define QUOTE_ATTEMPTS 3

/* Records a failed TSS call (tpm_int.h). */
__attribute__((format(printf, 5, 0))) static int tpm_vfail(const struct skr_tpm *t, TSS2_RC rc,
							  bool owner, struct skr_err *err,
							  const char *fmt, va_list ap)
{
	const char *hint = "";
	char what[256];

	vsnprintf(what, sizeof(what), fmt, ap);
	if (rc_unreachable(rc))
		return skr_fail(err, SKR_R_tpm_unavailable,
				"%s: the TPM at TCTI \"%s\" cannot be reached: %s (0x%08x)", what,
				t ? t->tcti_conf : "?", Tss2_RC_Decode(rc), rc);
	if (owner && (rc_base(rc) == TPM2_RC_BAD_AUTH || rc_base(rc) == TPM2_RC_AUTH_FAIL))
		hint = ": the owner hierarchy has an authorization value (skr uses an empty one "
		       "unless the caller sets it with Esys_TR_SetAuth(ESYS_TR_RH_OWNER))";
	else if (owner && rc_base(rc) == TPM2_RC_HIERARCHY)
		hint = ": the owner hierarchy is disabled";
	return skr_fail(err, SKR_R_tpm_error, "%s: %s (0x%08x)%s", what, Tss2_RC_Decode(rc), rc,
			hint);
}

int skr_tpm_fail(const struct skr_tpm *t, TSS2_RC rc, struct skr_err *err, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = tpm_vfail(t, rc, false, err, fmt, ap);
	va_end(ap);
	return r;
}

int skr_tpm_owner_fail(const struct skr_tpm *t, TSS2_RC rc, struct skr_err *err, const char *fmt,
		       ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = tpm_vfail(t, rc, true, err, fmt, ap);
	va_end(ap);
	return r;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- Context -------------------------------------------------------------- */

int skr_tpm_open(const char *tcti, struct skr_tpm **out, struct skr_err *err)
{
	struct skr_tpm *t;
	TSS2_RC rc;

	*out = NULL;
	if (!tcti || !*tcti)
		tcti = SKR_TPM_DEFAULT_TCTI;
	/* tpm2-tss logs every failure to stderr itself; we report them through err. */
	if (!getenv("TSS2_LOG"))
		setenv("TSS2_LOG", "all+none", 0);

	t = calloc(1, sizeof(*t));
	if (!t)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	snprintf(t->tcti_conf, sizeof(t->tcti_conf), "%s", tcti);
	t->nv_retries = SKR_TPM_NV_RETRIES;
	t->nv_retry_delay_ms = SKR_TPM_NV_RETRY_DELAY_MS;

	rc = Tss2_TctiLdr_Initialize(tcti, &t->tcti);
	if (rc != TSS2_RC_SUCCESS) {
		skr_fail(err, SKR_R_tpm_unavailable, "cannot reach the TPM at TCTI \"%s\": %s (0x%08x)",
			 tcti, Tss2_RC_Decode(rc), rc);
		goto fail;
	}
	rc = Esys_Initialize(&t->esys, t->tcti, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		skr_tpm_fail(t, rc, err, "cannot initialise ESYS for TCTI \"%s\"", tcti);
		goto fail;
	}
	rc = Esys_Startup(t->esys, TPM2_SU_CLEAR);
	if (rc != TSS2_RC_SUCCESS && rc_base(rc) != TPM2_RC_INITIALIZE) {
		if (rc_unreachable(rc))
			skr_fail(err, SKR_R_tpm_unavailable,
				 "cannot reach the TPM at TCTI \"%s\": %s (0x%08x)", tcti,
				 Tss2_RC_Decode(rc), rc);
		else
			skr_tpm_fail(t, rc, err, "TPM2_Startup");
		goto fail;
	}
	*out = t;
	return 0;
fail:
	skr_tpm_close(t);
	return -1;
}

void skr_tpm_close(struct skr_tpm *t)
{
	if (!t)
		return;
	if (t->esys)
		Esys_Finalize(&t->esys);
	if (t->tcti)
		Tss2_TctiLdr_Finalize(&t->tcti);
	free(t);
}

/* ---- NV ------------------------------------------------------------------- */

static uint32_t nv_chunk_size(struct skr_tpm *t)
{
	_cleanup_esys_ TPMS_CAPABILITY_DATA *cap = NULL;
	uint32_t n = t->nv_chunk;
	TPMI_YES_NO more = TPM2_NO;
	TSS2_RC rc;

	if (!n && !t->nv_buffer_max) {
		t->nv_buffer_max = SKR_TPM_NV_BUFFER_FALLBACK;
		rc = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					TPM2_CAP_TPM_PROPERTIES, TPM2_PT_NV_BUFFER_MAX, 1, &more,
					&cap);
		if (rc == TSS2_RC_SUCCESS && cap->data.tpmProperties.count >= 1 &&
		    cap->data.tpmProperties.tpmProperty[0].property == TPM2_PT_NV_BUFFER_MAX &&
		    cap->data.tpmProperties.tpmProperty[0].value > 0)
			t->nv_buffer_max = cap->data.tpmProperties.tpmProperty[0].value;
	}
	if (!n)
		n = t->nv_buffer_max;
	if (n > sizeof(((TPM2B_MAX_NV_BUFFER *)0)->buffer))
		n = sizeof(((TPM2B_MAX_NV_BUFFER *)0)->buffer);
	return n;
}

/* One attempt; *uninitialized says whether it is worth retrying. */
static int nv_read_once(struct skr_tpm *t, uint32_t index, const char *what, struct skr_buf *out,
			bool *uninitialized, struct skr_err *err)
{
	_cleanup_tr_ struct tr_guard nv = TR_GUARD(t);
	_cleanup_esys_ TPM2B_NV_PUBLIC *pub = NULL;
	_cleanup_esys_ TPM2B_NAME *name = NULL;
	_cleanup_buf_ struct skr_buf data = { 0 };
	TPMA_NV attrs;
	ESYS_TR auth;
	uint32_t chunk, off = 0;
	size_t size;
	TSS2_RC rc;

	*uninitialized = false;
	rc = Esys_TR_FromTPMPublic(t->esys, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				   &nv.tr);
	if (rc != TSS2_RC_SUCCESS) {
		nv.tr = ESYS_TR_NONE;
		if (rc_base(rc) == TPM2_RC_HANDLE)
			return skr_fail(err, SKR_R_tpm_nv_undefined,
					"%s is not defined (TPM_RC_HANDLE)", what);
		return skr_tpm_fail(t, rc, err, "cannot look up %s", what);
	}
	rc = Esys_NV_ReadPublic(t->esys, nv.tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub,
				&name);
	if (rc != TSS2_RC_SUCCESS)
		return skr_tpm_fail(t, rc, err, "TPM2_NV_ReadPublic of %s", what);
	attrs = pub->nvPublic.attributes;
	size = pub->nvPublic.dataSize;
	if (!(attrs & TPMA_NV_WRITTEN)) {
		*uninitialized = true;
		return skr_fail(err, SKR_R_tpm_nv_uninitialized,
				"%s is not written yet (TPM_RC_NV_UNINITIALIZED)", what);
	}
	if (((attrs & TPMA_NV_TPM2_NT_MASK) >> TPMA_NV_TPM2_NT_SHIFT) != TPM2_NT_ORDINARY)
		return skr_fail(err, SKR_R_unsupported, "%s is not an ordinary NV index", what);
	if (size > SKR_TPM_MAX_NV_READ)
		return skr_fail(err, SKR_R_malformed, "%s claims %zu bytes", what, size);
	/*
	 * Azure's paravisor gives the index a random auth value of its own and
	 * OWNERREAD: the guest reads it as owner (whose auth is empty).
	 */
	if (attrs & TPMA_NV_OWNERREAD)
		auth = ESYS_TR_RH_OWNER;
	else if (attrs & TPMA_NV_AUTHREAD)
		auth = nv.tr;
	else
		return skr_fail(err, SKR_R_unsupported,
				"%s can be read neither with owner nor with its own auth", what);

	data.data = calloc(1, size + 1);
	if (!data.data)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	data.len = size;
	chunk = nv_chunk_size(t);
	while (off < size) {
		_cleanup_esys_ TPM2B_MAX_NV_BUFFER *part = NULL;
		uint16_t n = (uint16_t)(size - off < chunk ? size - off : chunk);

		rc = Esys_NV_Read(t->esys, auth, nv.tr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				  ESYS_TR_NONE, n, (uint16_t)off, &part);
		if (rc != TSS2_RC_SUCCESS) {
			if (rc_base(rc) == TPM2_RC_NV_UNINITIALIZED) {
				*uninitialized = true;
				return skr_fail(err, SKR_R_tpm_nv_uninitialized,
						"%s is not written yet (TPM_RC_NV_UNINITIALIZED)",
						what);
			}
			return skr_tpm_fail(t, rc, err, "TPM2_NV_Read of %s (%u bytes at offset %u)",
					what, n, off);
		}
		if (part->size != n)
			return skr_fail(err, SKR_R_tpm_error,
					"TPM2_NV_Read of %s returned %u bytes at offset %u, asked %u",
					what, part->size, off, n);
		memcpy(data.data + off, part->buffer, n);
		off += n;
	}
	*out = data;
	data = (struct skr_buf){ 0 };
	return 0;
}

static int nv_read(struct skr_tpm *t, uint32_t index, const char *what, struct skr_buf *out,
		   struct skr_err *err)
{
	unsigned attempts = t->nv_retries ? t->nv_retries : 1, i;

	if ((index >> TPM2_HR_SHIFT) != TPM2_HT_NV_INDEX)
		return skr_fail(err, SKR_R_usage, "0x%08x is not an NV index handle", index);
	for (i = 1;; i++) {
		struct skr_err e = { 0 };
		bool uninitialized;

		if (nv_read_once(t, index, what, out, &uninitialized, &e) == 0)
			return 0;
		if (!uninitialized || i >= attempts) {
			if (uninitialized)
				return skr_fail(err, e.reason, "%s (%u attempts over %u ms)", e.detail,
						i, (i - 1) * t->nv_retry_delay_ms);
			return skr_fail(err, e.reason, "%s", e.detail);
		}
		sleep_ms(t->nv_retry_delay_ms);
	}
}

int skr_tpm_nv_read(struct skr_tpm *t, uint32_t index, struct skr_buf *out, struct skr_err *err)
{
	char what[64];

	snprintf(what, sizeof(what), "NV index 0x%08x", index);
	return nv_read(t, index, what, out, err);
}

int skr_tpm_read_hcl(struct skr_tpm *t, struct skr_buf *out, struct skr_err *err)
{
	char what[64];

	snprintf(what, sizeof(what), "the HCL report in NV 0x%08x", SKR_HCL_NV_INDEX);
	return nv_read(t, SKR_HCL_NV_INDEX, what, out, err);
}

int skr_tpm_read_akcert(struct skr_tpm *t, struct skr_buf *out, struct skr_err *err)
{
	char what[64];

	snprintf(what, sizeof(what), "the AK certificate in NV 0x%08x", SKR_TPM_AKCERT_NV_INDEX);
	return nv_read(t, SKR_TPM_AKCERT_NV_INDEX, what, out, err);
}

/* 1: the NV index is defined (written or not), 0: it is not, -1: the TPM failed. */
static int nv_defined(struct skr_tpm *t, uint32_t index, struct skr_err *err)
{
	_cleanup_tr_ struct tr_guard nv = TR_GUARD(t);
	TSS2_RC rc;

	rc = Esys_TR_FromTPMPublic(t->esys, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				   &nv.tr);
	if (rc == TSS2_RC_SUCCESS)
		return 1;
	nv.tr = ESYS_TR_NONE;
	if (rc_base(rc) == TPM2_RC_HANDLE)
		return 0;
	return skr_tpm_fail(t, rc, err, "cannot look up NV index 0x%08x", index);
}

int skr_tpm_detect_mode(struct skr_tpm *t, enum skr_tpm_mode *mode, struct skr_err *err)
{
	int hcl, akcert, ekcert;

	/*
	 * The HCL report first: a Confidential VM's vTPM may carry an AK
	 * certificate too, and the SNP evidence proves more than the certificate.
	 * A defined but unwritten report is still a Confidential VM (the
	 * paravisor writes it late; skr_tpm_read_hcl waits for it).
	 */
	hcl = nv_defined(t, SKR_HCL_NV_INDEX, err);
	if (hcl < 0)
		return -1;
	if (hcl) {
		*mode = SKR_TPM_MODE_AZ_SNP_VTPM;
		return 0;
	}
	akcert = nv_defined(t, SKR_TPM_AKCERT_NV_INDEX, err);
	if (akcert < 0)
		return -1;
	if (akcert) {
		*mode = SKR_TPM_MODE_AZURE_TL;
		return 0;
	}
	/* Neither of Azure's: a TPM whose EK a vendor or cloud certified (DESIGN.md 2.2). */
	ekcert = nv_defined(t, SKR_TPM_EKCERT_RSA_NV_INDEX, err);
	if (ekcert == 0)
		ekcert = nv_defined(t, SKR_TPM_EKCERT_ECC_NV_INDEX, err);
	if (ekcert < 0)
		return -1;
	if (ekcert) {
		*mode = SKR_TPM_MODE_TPM;
		return 0;
	}
	return skr_fail(err, SKR_R_tpm_nv_undefined,
			"this TPM has neither an HCL report (NV 0x%08x, Azure Confidential VM) nor "
			"an AK certificate (NV 0x%08x, Azure Trusted Launch) nor an EK certificate "
			"(NV 0x%08x or 0x%08x, tee tpm): skr has no evidence to attest it with",
			SKR_HCL_NV_INDEX, SKR_TPM_AKCERT_NV_INDEX, SKR_TPM_EKCERT_RSA_NV_INDEX,
			SKR_TPM_EKCERT_ECC_NV_INDEX);
}

const char *skr_tpm_mode_name(enum skr_tpm_mode mode)
{
	switch (mode) {
	case SKR_TPM_MODE_AZ_SNP_VTPM:
		return "az-snp-vtpm";
	case SKR_TPM_MODE_AZURE_TL:
		return "azure-tl";
	case SKR_TPM_MODE_TPM:
		return "tpm";
	}
	return "?";
}

const char *skr_tpm_mode_describe(enum skr_tpm_mode mode)
{
	switch (mode) {
	case SKR_TPM_MODE_AZ_SNP_VTPM:
		return "Azure Confidential VM (SEV-SNP; HCL report in NV 0x01400001)";
	case SKR_TPM_MODE_AZURE_TL:
		return "Azure Trusted Launch (vTPM; AK certificate in NV 0x01C101D0; "
		       "the host is trusted)";
	case SKR_TPM_MODE_TPM:
		return "generic TPM (EK certificate in NV 0x01C00002; the AK proven by credential "
		       "activation; the TPM's vendor or host is trusted)";
	}
	return "?";
}

int skr_tpm_read_public(struct skr_tpm *t, uint32_t handle, struct skr_buf *out,
			struct skr_err *err)
{
	_cleanup_tr_ struct tr_guard obj = TR_GUARD(t);
	_cleanup_esys_ TPM2B_PUBLIC *pub = NULL;
	_cleanup_esys_ TPM2B_NAME *name = NULL;
	_cleanup_esys_ TPM2B_NAME *qname = NULL;
	uint8_t buf[sizeof(TPM2B_PUBLIC)];
	size_t off = 0;
	TSS2_RC rc;

	if ((handle >> TPM2_HR_SHIFT) != TPM2_HT_PERSISTENT)
		return skr_fail(err, SKR_R_usage, "0x%08x is not a persistent handle", handle);
	rc = Esys_TR_FromTPMPublic(t->esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				   &obj.tr);
	if (rc != TSS2_RC_SUCCESS) {
		obj.tr = ESYS_TR_NONE;
		if (rc_base(rc) == TPM2_RC_HANDLE)
			return skr_fail(err, SKR_R_tpm_error,
					"there is no key at persistent handle 0x%08x", handle);
		return skr_tpm_fail(t, rc, err, "cannot open the key at 0x%08x", handle);
	}
	rc = Esys_ReadPublic(t->esys, obj.tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub,
			     &name, &qname);
	if (rc != TSS2_RC_SUCCESS)
		return skr_tpm_fail(t, rc, err, "TPM2_ReadPublic of 0x%08x", handle);
	if (Tss2_MU_TPM2B_PUBLIC_Marshal(pub, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS)
		return skr_fail(err, SKR_R_tpm_error, "cannot marshal the public area of 0x%08x",
				handle);
	return skr_buf_set(out, buf, off, err);
}

/* ---- Keys ------------------------------------------------------------------ */

/*
 * Which hierarchy the wrap key lives in.
 *
 * The wrap key is a primary key of the NULL hierarchy (TPM_RH_NULL):
 *   - The NULL seed is regenerated at every TPM Reset (each boot of the VM),
 *     so the key cannot outlive this boot: it cannot be recreated after a
 *     reboot from the same template, TPM2_EvictControl refuses to persist a
 *     NULL-hierarchy object, and a saved context of it is invalid after the
 *     reset.  That is exactly the DESIGN's "only that vTPM, this boot".
 *   - The NULL hierarchy has no authorisation value and cannot be disabled by
 *     the owner, so creating the key needs no owner or endorsement auth and
 *     does not depend on how the OS configured the storage hierarchy.
 *   - TPM2_Certify of a NULL-hierarchy object is allowed; the certify
 *     attestation's qualifiedName (H(TPM_RH_NULL || Name)) tells the
 *     broker the key is a NULL-hierarchy primary, and the broker checks it.
 * Within one boot the NULL seed is fixed, so the template's unique field gets
 * 32 random bytes: every call gives a fresh key, not the same one again.
 *
 * Attributes: fixedTPM|fixedParent (never duplicated out of this TPM),
 * sensitiveDataOrigin (the TPM generated the private key), userWithAuth
 * (empty password, so no policy session is needed for ZGen), decrypt (ECDH),
 * noDA; not sign, not restricted, scheme NULL so TPM2_ECDH_ZGen may use it.
 */
int skr_tpm_create_wrap_key(struct skr_tpm *t, struct skr_tpm_key *out, struct skr_err *err)
{
	TPM2B_SENSITIVE_CREATE sensitive = { 0 };
	TPM2B_PUBLIC template = {
		.publicArea = {
			.type = TPM2_ALG_ECC,
			.nameAlg = TPM2_ALG_SHA256,
			.objectAttributes = SKR_TPM_WRAP_KEY_ATTRS,
			.parameters.eccDetail = {
				.symmetric = { .algorithm = TPM2_ALG_NULL },
				.scheme = { .scheme = TPM2_ALG_NULL },
				.curveID = TPM2_ECC_NIST_P256,
				.kdf = { .scheme = TPM2_ALG_NULL },
			},
		},
	};
	TPM2B_DATA outside = { 0 };
	TPML_PCR_SELECTION creation_pcrs = { 0 };
	_cleanup_tr_ struct tr_guard key = TR_GUARD(t);
	_cleanup_esys_ TPM2B_PUBLIC *pub = NULL;
	_cleanup_esys_ TPM2B_CREATION_DATA *creation = NULL;
	_cleanup_esys_ TPM2B_DIGEST *creation_hash = NULL;
	_cleanup_esys_ TPMT_TK_CREATION *ticket = NULL;
	_cleanup_esys_ TPM2B_NAME *name = NULL;
	TSS2_RC rc;

	memset(out, 0, sizeof(*out));
	out->handle = ESYS_TR_NONE;
	template.publicArea.unique.ecc.x.size = 32;
	if (RAND_bytes(template.publicArea.unique.ecc.x.buffer, 32) != 1)
		return skr_fail(err, SKR_R_nomem, "no randomness for the wrap key template");

	rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_NULL, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				ESYS_TR_NONE, &sensitive, &template, &outside, &creation_pcrs, &key.tr,
				&pub, &creation, &creation_hash, &ticket);
	if (rc != TSS2_RC_SUCCESS) {
		key.tr = ESYS_TR_NONE;
		return skr_tpm_fail(t, rc, err,
				    "TPM2_CreatePrimary of the wrap key (NULL hierarchy)");
	}
	rc = Esys_TR_GetName(t->esys, key.tr, &name);
	if (rc != TSS2_RC_SUCCESS)
		return skr_tpm_fail(t, rc, err, "cannot get the wrap key's name");
	if (Tss2_MU_TPM2B_PUBLIC_Marshal(pub, out->public_bytes, sizeof(out->public_bytes),
					 &out->public_len) != TSS2_RC_SUCCESS)
		return skr_fail(err, SKR_R_tpm_error, "cannot marshal the wrap key's TPM2B_PUBLIC");
	out->public = *pub;
	out->name = *name;
	out->handle = key.tr;
	key.tr = ESYS_TR_NONE;	/* owned by *out now */
	return 0;
}

void skr_tpm_key_flush(struct skr_tpm *t, struct skr_tpm_key *k)
{
	if (!k)
		return;
	if (t && t->esys && k->handle != ESYS_TR_NONE)
		(void)Esys_FlushContext(t->esys, k->handle);
	memset(k, 0, sizeof(*k));
	k->handle = ESYS_TR_NONE;
}

/* ---- Attestation ----------------------------------------------------------- */

static int nonce_data(const uint8_t *nonce, size_t nonce_len, TPM2B_DATA *out,
		      struct skr_err *err)
{
	if (nonce_len > sizeof(out->buffer) || (nonce_len && !nonce))
		return skr_fail(err, SKR_R_usage, "a nonce of %zu bytes does not fit TPM2B_DATA",
				nonce_len);
	out->size = (UINT16)nonce_len;
	if (nonce_len)
		memcpy(out->buffer, nonce, nonce_len);
	return 0;
}

/*
 * The signing scheme for an AK's public area: NULL when the key has one (a
 * restricted key must use its own), else RSASSA or ECDSA with SHA-256.  obj
 * names the key in the detail.
 */
static int ak_scheme(const TPMT_PUBLIC *p, const char *obj, TPMT_SIG_SCHEME *scheme,
		     struct skr_err *err)
{
	TPMI_ALG_PUBLIC key_scheme;

	if (!(p->objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT) ||
	    (p->type != TPM2_ALG_RSA && p->type != TPM2_ALG_ECC))
		return skr_fail(err, SKR_R_tpm_error, "%s is not an RSA or ECC signing key", obj);
	key_scheme = p->type == TPM2_ALG_RSA ? p->parameters.rsaDetail.scheme.scheme
					     : p->parameters.eccDetail.scheme.scheme;
	memset(scheme, 0, sizeof(*scheme));
	if (key_scheme != TPM2_ALG_NULL) {
		scheme->scheme = TPM2_ALG_NULL;
	} else if (p->type == TPM2_ALG_RSA) {
		scheme->scheme = TPM2_ALG_RSASSA;
		scheme->details.rsassa.hashAlg = TPM2_ALG_SHA256;
	} else {
		scheme->scheme = TPM2_ALG_ECDSA;
		scheme->details.ecdsa.hashAlg = TPM2_ALG_SHA256;
	}
	return 0;
}

/* Opens the AK at a persistent handle and picks its signing scheme (ak_scheme). */
static int open_ak(struct skr_tpm *t, uint32_t ak_handle, struct tr_guard *ak,
		   TPMT_SIG_SCHEME *scheme, struct skr_err *err)
{
	_cleanup_esys_ TPM2B_PUBLIC *pub = NULL;
	_cleanup_esys_ TPM2B_NAME *name = NULL;
	_cleanup_esys_ TPM2B_NAME *qname = NULL;
	char obj[48];
	TSS2_RC rc;

	if ((ak_handle >> TPM2_HR_SHIFT) != TPM2_HT_PERSISTENT)
		return skr_fail(err, SKR_R_usage, "AK handle 0x%08x is not a persistent handle",
				ak_handle);
	rc = Esys_TR_FromTPMPublic(t->esys, ak_handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				   &ak->tr);
	if (rc != TSS2_RC_SUCCESS) {
		ak->tr = ESYS_TR_NONE;
		if (rc_base(rc) == TPM2_RC_HANDLE)
			return skr_fail(err, SKR_R_tpm_error,
					"there is no attestation key at persistent handle 0x%08x",
					ak_handle);
		return skr_tpm_fail(t, rc, err, "cannot open the AK at 0x%08x", ak_handle);
	}
	rc = Esys_ReadPublic(t->esys, ak->tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub,
			     &name, &qname);
	if (rc != TSS2_RC_SUCCESS)
		return skr_tpm_fail(t, rc, err, "TPM2_ReadPublic of the AK at 0x%08x", ak_handle);
	snprintf(obj, sizeof(obj), "the object at 0x%08x", ak_handle);
	return ak_scheme(&pub->publicArea, obj, scheme, err);
}

static int export_attest(const TPM2B_ATTEST *a, const TPMT_SIGNATURE *sig, struct skr_buf *attest,
			 struct skr_buf *signature, struct skr_err *err)
{
	uint8_t buf[sizeof(TPMT_SIGNATURE)];
	size_t off = 0;

	if (a->size == 0 || a->size > sizeof(a->attestationData))
		return skr_fail(err, SKR_R_tpm_error, "the TPM returned a %u-byte attestation",
				a->size);
	if (Tss2_MU_TPMT_SIGNATURE_Marshal(sig, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS)
		return skr_fail(err, SKR_R_tpm_error, "cannot marshal the TPMT_SIGNATURE");
	if (skr_buf_set(attest, a->attestationData, a->size, err) < 0 ||
	    skr_buf_set(signature, buf, off, err) < 0) {
		skr_buf_free(attest);
		skr_buf_free(signature);
		return -1;
	}
	return 0;
}

/* TPM2_Certify of k by the loaded AK ak (named "the AK at ..." by what). */
static int certify_by(struct skr_tpm *t, const struct skr_tpm_key *k, ESYS_TR ak,
		      const TPMT_SIG_SCHEME *scheme, const char *what, const TPM2B_DATA *qualifying,
		      struct skr_buf *attest, struct skr_buf *signature, struct skr_err *err)
{
	_cleanup_esys_ TPM2B_ATTEST *info = NULL;
	_cleanup_esys_ TPMT_SIGNATURE *sig = NULL;
	TSS2_RC rc;

	rc = Esys_Certify(t->esys, k->handle, ak, ESYS_TR_PASSWORD, ESYS_TR_PASSWORD,
			  ESYS_TR_NONE, qualifying, scheme, &info, &sig);
	if (rc != TSS2_RC_SUCCESS)
		return skr_tpm_fail(t, rc, err, "TPM2_Certify of the wrap key by %s", what);
	return export_attest(info, sig, attest, signature, err);
}

int skr_tpm_certify(struct skr_tpm *t, const struct skr_tpm_key *k, uint32_t ak_handle,
		    const uint8_t *nonce, size_t nonce_len, struct skr_buf *attest,
		    struct skr_buf *signature, struct skr_err *err)
{
	_cleanup_tr_ struct tr_guard ak = TR_GUARD(t);
	TPMT_SIG_SCHEME scheme;
	TPM2B_DATA qualifying;
	char what[40];

	if (!k || k->handle == ESYS_TR_NONE)
		return skr_fail(err, SKR_R_usage, "no wrap key to certify");
	if (nonce_data(nonce, nonce_len, &qualifying, err) < 0 ||
	    open_ak(t, ak_handle, &ak, &scheme, err) < 0)
		return -1;
	snprintf(what, sizeof(what), "the AK at 0x%08x", ak_handle);
	return certify_by(t, k, ak.tr, &scheme, what, &qualifying, attest, signature, err);
}

int skr_tpm_certify_with(struct skr_tpm *t, const struct skr_tpm_key *k,
			 const struct skr_tpm_key *ak, const uint8_t *nonce, size_t nonce_len,
			 struct skr_buf *attest, struct skr_buf *signature, struct skr_err *err)
{
	TPMT_SIG_SCHEME scheme;
	TPM2B_DATA qualifying;

	if (!k || k->handle == ESYS_TR_NONE)
		return skr_fail(err, SKR_R_usage, "no wrap key to certify");
	if (!ak || ak->handle == ESYS_TR_NONE)
		return skr_fail(err, SKR_R_usage, "no AK to certify with");
	if (nonce_data(nonce, nonce_len, &qualifying, err) < 0 ||
	    ak_scheme(&ak->public.publicArea, "the transient AK", &scheme, err) < 0)
		return -1;
	return certify_by(t, k, ak->handle, &scheme, "the transient AK", &qualifying, attest,
			  signature, err);
}

static int check_mask(uint32_t mask, struct skr_err *err)
{
	if (mask == 0 || mask >> SKR_PCR_COUNT)
		return skr_fail(err, SKR_R_usage, "PCR mask 0x%08x selects no PCR or PCRs above 23",
				mask);
	return 0;
}

int skr_tpm_pcr_read(struct skr_tpm *t, uint32_t mask, struct skr_pcr_banks *pcrs,
		     struct skr_err *err)
{
	struct skr_pcr_bank *bank = &pcrs->bank[0];
	uint32_t remaining = mask;

	memset(pcrs, 0, sizeof(*pcrs));
	if (check_mask(mask, err) < 0 || skr_pcr_bank_init(bank, SKR_TPM_ALG_SHA256, err) < 0)
		return -1;
	pcrs->count = 1;
	while (remaining) {
		_cleanup_esys_ TPML_PCR_SELECTION *sel_out = NULL;
		_cleanup_esys_ TPML_DIGEST *values = NULL;
		TPML_PCR_SELECTION sel;
		const TPMS_PCR_SELECTION *s = NULL;
		UINT32 counter, i, k = 0;
		unsigned pcr;
		TSS2_RC rc;

		skr_tpm_pcr_selection(remaining, &sel);
		rc = Esys_PCR_Read(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &sel, &counter,
				   &sel_out, &values);
		if (rc != TSS2_RC_SUCCESS)
			return skr_tpm_fail(t, rc, err, "TPM2_PCR_Read");
		for (i = 0; i < sel_out->count; i++)
			if (sel_out->pcrSelections[i].hash == TPM2_ALG_SHA256)
				s = &sel_out->pcrSelections[i];
		if (!s || values->count == 0)
			return skr_fail(err, SKR_R_tpm_error,
					"the TPM returned no sha256 value for PCR mask 0x%06x "
					"(is the sha256 bank allocated?)",
					remaining);
		for (pcr = 0; pcr < SKR_PCR_COUNT && pcr < s->sizeofSelect * 8u; pcr++) {
			if (!(s->pcrSelect[pcr / 8] & (1u << (pcr % 8))))
				continue;
			if (!(remaining & (1u << pcr)) || k >= values->count ||
			    values->digests[k].size != bank->size)
				return skr_fail(err, SKR_R_tpm_error,
						"TPM2_PCR_Read returned an inconsistent answer at PCR %u",
						pcr);
			memcpy(bank->value[pcr], values->digests[k].buffer, bank->size);
			bank->extended_mask |= 1u << pcr;
			remaining &= ~(1u << pcr);
			k++;
		}
		if (k == 0)
			return skr_fail(err, SKR_R_tpm_error,
					"TPM2_PCR_Read returned none of the PCRs in mask 0x%06x",
					remaining);
	}
	return 0;
}

/* TPM2_Quote by the loaded AK ak, and the PCR values it covers (skr_tpm_quote). */
static int quote_by(struct skr_tpm *t, ESYS_TR ak, const TPMT_SIG_SCHEME *scheme,
		    const char *what, const TPM2B_DATA *qualifying, uint32_t mask,
		    struct skr_buf *attest, struct skr_buf *signature, struct skr_pcr_banks *pcrs,
		    struct skr_err *err)
{
	TPML_PCR_SELECTION sel;
	unsigned attempt;

	skr_tpm_pcr_selection(mask, &sel);
	for (attempt = 1;; attempt++) {
		_cleanup_esys_ TPM2B_ATTEST *quoted = NULL;
		_cleanup_esys_ TPMT_SIGNATURE *sig = NULL;
		struct skr_err e = { 0 };
		TPMS_ATTEST parsed;
		TSS2_RC rc;

		rc = Esys_Quote(t->esys, ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
				qualifying, scheme, &sel, &quoted, &sig);
		if (rc != TSS2_RC_SUCCESS)
			return skr_tpm_fail(t, rc, err, "TPM2_Quote with %s", what);
		if (skr_tpm_pcr_read(t, mask, pcrs, err) < 0)
			return -1;
		if (quoted->size > sizeof(quoted->attestationData) ||
		    skr_tpm_attest_parse(quoted->attestationData, quoted->size, &parsed, err) < 0)
			return -1;
		if (skr_tpm_quote_check_pcrs(&parsed, pcrs, skr_tpm_signature_hash(sig), &e) == 0)
			return export_attest(quoted, sig, attest, signature, err);
		if (e.reason != SKR_R_quote_pcr_digest_mismatch || attempt >= QUOTE_ATTEMPTS)
			return skr_fail(err, SKR_R_tpm_error,
					"the PCR values read do not match the quote after %u attempts: %s",
					attempt, e.detail);
		/* A PCR was extended between TPM2_Quote and TPM2_PCR_Read: take both again. */
	}
}

int skr_tpm_quote(struct skr_tpm *t, uint32_t ak_handle, const uint8_t *nonce, size_t nonce_len,
		  uint32_t mask, struct skr_buf *attest, struct skr_buf *signature,
		  struct skr_pcr_banks *pcrs, struct skr_err *err)
{
	_cleanup_tr_ struct tr_guard ak = TR_GUARD(t);
	TPMT_SIG_SCHEME scheme;
	TPM2B_DATA qualifying;
	char what[40];

	if (check_mask(mask, err) < 0 || nonce_data(nonce, nonce_len, &qualifying, err) < 0 ||
	    open_ak(t, ak_handle, &ak, &scheme, err) < 0)
		return -1;
	snprintf(what, sizeof(what), "the AK at 0x%08x", ak_handle);
	return quote_by(t, ak.tr, &scheme, what, &qualifying, mask, attest, signature, pcrs, err);
}

int skr_tpm_quote_with(struct skr_tpm *t, const struct skr_tpm_key *ak, const uint8_t *nonce,
		       size_t nonce_len, uint32_t mask, struct skr_buf *attest,
		       struct skr_buf *signature, struct skr_pcr_banks *pcrs, struct skr_err *err)
{
	TPMT_SIG_SCHEME scheme;
	TPM2B_DATA qualifying;

	if (!ak || ak->handle == ESYS_TR_NONE)
		return skr_fail(err, SKR_R_usage, "no AK to quote with");
	if (check_mask(mask, err) < 0 || nonce_data(nonce, nonce_len, &qualifying, err) < 0 ||
	    ak_scheme(&ak->public.publicArea, "the transient AK", &scheme, err) < 0)
		return -1;
	return quote_by(t, ak->handle, &scheme, "the transient AK", &qualifying, mask, attest,
			signature, pcrs, err);
}

/* ---- ECDH ------------------------------------------------------------------ */

#ifdef SKR_TEST_FAULTS
/*
 * Test builds only (tests/cli/test_tpm_param_enc.sh, bench/tpm_session.sh):
 * SKR_TEST_ZGEN=clear runs TPM2_ECDH_ZGen under a plain password session,
 * the path before parameter encryption, so that a test can show that its
 * capture of the TPM traffic would see Z; SKR_TEST_ZGEN=primary acts as if
 * the TPM refused to salt with the wrap key, to exercise the fallback;
 * SKR_TEST_Z_FILE=PATH appends each Z, in hex, to PATH, so that the test
 * knows what to look for.
 */
static bool test_zgen(const char *what)
{
	const char *v = getenv("SKR_TEST_ZGEN");

	return v && !strcmp(v, what);
}

static void test_z_out(const uint8_t z[32])
{
	const char *path = getenv("SKR_TEST_Z_FILE");
	FILE *f;

	if (!path || !*path || !(f = fopen(path, "a")))
		return;
	for (size_t i = 0; i < 32; i++)
		fprintf(f, "%02x", z[i]);
	fputc('\n', f);
	fclose(f);
}
#else
static bool test_zgen(const char *what)
{
	(void)what;
	return false;
}

static void test_z_out(const uint8_t z[32])
{
	(void)z;
}
#endif

/*
 * The session that carries Z out of the TPM: HMAC, salted, response
 * parameter encryption (TPMA_SESSION_ENCRYPT: outPoint is ECDH_ZGen's first
 * response parameter), AES-128-CFB.  It also authorises the wrap key (empty
 * auth, userWithAuth): the HMAC binds the command to the session key.
 * continueSession is clear: the TPM closes the session when ZGen succeeds,
 * which saves a TPM2_FlushContext (the guard flushes it only on failure).
 *
 * The salt key is the wrap key itself: the ECC decrypt key whose public area
 * the AK certified and the broker verified.  ESYS encrypts the salt to that
 * public area (ECDH with it, KDFe), so only the TPM holding the certified
 * private key learns the session key: an interposer on the TPM interface (a
 * discrete TPM's bus, a vTPM's host-visible channel) that substituted a key
 * of its own for the one in the evidence could not read Z either.  TPM 2.0
 * Part 3 (TPM2_StartAuthSession) asks of tpmKey only a loaded asymmetric key
 * with decrypt SET and its private part loaded, which the wrap key is
 * (unrestricted ECC decrypt, scheme NULL).
 *
 * Should a TPM still refuse it (tpm_error), the salt key is the owner
 * hierarchy's storage primary of local_seal.c's template
 * (skr_tpm_storage_primary), which a TPM must salt with: Z is still
 * encrypted against a passive interposer, but nothing certifies that
 * primary, so an active one that answered its TPM2_CreatePrimary with a key
 * of its own could read the salt.  swtpm (libtpms) salts with the wrap key
 * (tests/cli/test_tpm_param_enc.sh checks that the session's tpmKey is the
 * wrap key's handle).  Never the clear: a TPM that can salt with neither
 * key fails the release.
 */
static int zgen_session(struct skr_tpm *t, const struct skr_tpm_key *k, struct tr_guard *session,
			struct skr_err *err)
{
	const TPMA_SESSION attrs = TPMA_SESSION_ENCRYPT;
	_cleanup_tr_ struct tr_guard primary = TR_GUARD(t);
	struct skr_err e = { 0 }, e2 = { 0 };

	if (test_zgen("primary"))
		skr_fail(&e, SKR_R_tpm_error, "refused for the test (SKR_TEST_ZGEN=primary)");
	else if (skr_tpm_salted_session(t, k->handle, TPM2_SE_HMAC, attrs, session, &e) == 0)
		return 0;
	if (e.reason != SKR_R_tpm_error)
		return skr_fail(err, e.reason, "%s", e.detail);
	if (skr_tpm_storage_primary(t, &primary, &e2) < 0 ||
	    skr_tpm_salted_session(t, primary.tr, TPM2_SE_HMAC, attrs, session, &e2) < 0)
		return skr_fail(err, e2.reason,
				"no salted session for TPM2_ECDH_ZGen (with the wrap key: %s; with "
				"the storage primary: %s)", e.detail, e2.detail);
	return 0;	/* the primary is flushed: only the session needed it */
}

int skr_tpm_ecdh_zgen(struct skr_tpm *t, const struct skr_tpm_key *k, const uint8_t epk[65],
		      uint8_t z[32], struct skr_err *err)
{
	_cleanup_tr_ struct tr_guard session = TR_GUARD(t);
	TPM2B_ECC_POINT in = { .size = 2 + 32 + 2 + 32 };
	TPM2B_ECC_POINT *outp = NULL;
	TSS2_RC rc;
	int r = -1;

	if (!k || k->handle == ESYS_TR_NONE)
		return skr_fail(err, SKR_R_usage, "no wrap key for ECDH");
	if (epk[0] != 0x04)
		return skr_fail(err, SKR_R_malformed,
				"the ephemeral key is not an uncompressed SEC1 point");
	in.point.x.size = 32;
	memcpy(in.point.x.buffer, epk + 1, 32);
	in.point.y.size = 32;
	memcpy(in.point.y.buffer, epk + 33, 32);
	if (test_zgen("clear"))
		session.tr = ESYS_TR_PASSWORD;	/* test builds only: the clear path */
	else if (zgen_session(t, k, &session, err) < 0)
		return -1;
	rc = Esys_ECDH_ZGen(t->esys, k->handle, session.tr, ESYS_TR_NONE, ESYS_TR_NONE, &in, &outp);
	if (session.tr == ESYS_TR_PASSWORD)
		session.tr = ESYS_TR_NONE;	/* not a session to flush */
	else if (rc == TSS2_RC_SUCCESS)
		/* continueSession clear: the TPM closed it; ESYS only has to forget it. */
		(void)Esys_TR_Close(t->esys, &session.tr);
	if (rc != TSS2_RC_SUCCESS) {
		skr_tpm_fail(t, rc, err, "TPM2_ECDH_ZGen with the wrap key");
		goto out;
	}
	if (outp->point.x.size == 0 || outp->point.x.size > 32) {
		skr_fail(err, SKR_R_tpm_error, "TPM2_ECDH_ZGen returned a %u-byte x coordinate",
			 outp->point.x.size);
		goto out;
	}
	memset(z, 0, 32 - outp->point.x.size);
	memcpy(z + 32 - outp->point.x.size, outp->point.x.buffer, outp->point.x.size);
	test_z_out(z);
	r = 0;
out:
	if (outp) {
		OPENSSL_cleanse(outp, sizeof(*outp));
		Esys_Free(outp);
	}
	return r;
}

/* ---- PCR extension ---------------------------------------------------------- */

int skr_tpm_pcr_event(struct skr_tpm *t, uint32_t pcr, const void *data, size_t len,
		      struct skr_err *err)
{
	TPM2B_EVENT ev = { .size = (UINT16)len };
	TPML_DIGEST_VALUES *digests = NULL;
	TSS2_RC rc;

	if (!t || pcr >= SKR_PCR_COUNT)
		return skr_fail(err, SKR_R_usage, "PCR %u is not 0..%d", pcr, SKR_PCR_COUNT - 1);
	if (!data || len == 0 || len > sizeof(ev.buffer))
		return skr_fail(err, SKR_R_usage, "a PCR event holds 1..%zu bytes, not %zu",
				sizeof(ev.buffer), len);
	memcpy(ev.buffer, data, len);
	rc = Esys_PCR_Event(t->esys, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			    ESYS_TR_NONE, &ev, &digests);
	Esys_Free(digests);
	if (rc != TSS2_RC_SUCCESS)
		return skr_tpm_fail(t, rc, err, "TPM2_PCR_Event(PCR %u)", pcr);
	return 0;
}

/* ---- Diagnostics ----------------------------------------------------------- */

int skr_tpm_count_transient(struct skr_tpm *t, uint32_t *count, struct skr_err *err)
{
	/* Not TPM2_TRANSIENT_FIRST: its definition shifts an int into the sign bit. */
	TPM2_HANDLE next = SKR_TPM_TRANSIENT_FIRST;
	TPMI_YES_NO more = TPM2_YES;

	*count = 0;
	while (more == TPM2_YES) {
		_cleanup_esys_ TPMS_CAPABILITY_DATA *cap = NULL;
		const TPML_HANDLE *h;
		TSS2_RC rc;

		rc = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					TPM2_CAP_HANDLES, next, TPM2_MAX_CAP_HANDLES, &more, &cap);
		if (rc != TSS2_RC_SUCCESS)
			return skr_tpm_fail(t, rc, err, "TPM2_GetCapability(handles)");
		h = &cap->data.handles;
		if (h->count == 0)
			break;
		for (UINT32 i = 0; i < h->count; i++)
			if ((h->handle[i] >> TPM2_HR_SHIFT) == TPM2_HT_TRANSIENT)
				(*count)++;
		next = h->handle[h->count - 1] + 1;
		if ((next >> TPM2_HR_SHIFT) != TPM2_HT_TRANSIENT)
			break;
	}
	return 0;
}
