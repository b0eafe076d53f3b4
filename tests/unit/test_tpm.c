/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VM-side vTPM code (src/vm/tpm.c) against real swtpm instances
 * provisioned like Azure's paravisor does (tests/helpers/fakevtpm.c).  Each
 * group starts its own swtpm; after every test no transient object may be
 * left in the TPM.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <tss2/tss2_mu.h>

#include "faketl.h"
#include "fakevtpm.h"
#include "verify/hcl_report.h"
#include "swtpm.h"
#include "testutil.h"
#include "vm/tpm_int.h"	/* white-box: the context's tunables and ESYS */
#include "verify/tpm_attest.h"
#include "verify/wrap.h"
#include "verify/wrap_key.h"

/* PCRs 0-11, 14, 16, 23: more than the 8 one TPM2_PCR_Read returns. */
#define QUOTE_MASK (0x0FFFu | (1u << 14) | (1u << 16) | (1u << 23))

struct fixture {
	struct skr_swtpm *swtpm;
	struct skr_tpm *tpm;
	struct skr_fakevtpm fake;
	bool provisioned;
	EVP_PKEY *claims_ak;	/* the AK as the HCL claims state it */
	struct skr_swtpm *other_swtpm;	/* a second TPM, for tests that need one */
	struct skr_tpm *other_tpm;
};

static struct fixture fx;

static void random_nonce(uint8_t nonce[32])
{
	assert_int_equal(RAND_bytes(nonce, 32), 1);
}

static void stop_other(void)
{
	skr_tpm_close(fx.other_tpm);
	fx.other_tpm = NULL;
	skr_swtpm_stop(&fx.other_swtpm);
}

static int start_tpm(void)
{
	struct skr_err err = { 0 };

	memset(&fx, 0, sizeof(fx));
	if (skr_swtpm_start(&fx.swtpm, &err) < 0 || skr_tpm_open(fx.swtpm->tcti, &fx.tpm, &err) < 0) {
		fprintf(stderr, "cannot start swtpm: %s: %s\n", skr_reason_name(err.reason),
			err.detail);
		skr_swtpm_stop(&fx.swtpm);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	stop_other();
	EVP_PKEY_free(fx.claims_ak);
	if (fx.provisioned)
		skr_fakevtpm_free(&fx.fake);
	skr_tpm_close(fx.tpm);
	skr_swtpm_stop(&fx.swtpm);
	memset(&fx, 0, sizeof(fx));
	return 0;
}

static int setup_provisioned(void **state)
{
	struct skr_fakevtpm_opts o;
	struct skr_hcl_report r = { 0 };
	struct skr_err err = { 0 };

	if (start_tpm() < 0)
		return -1;
	skr_fakevtpm_opts_init(&o);
	if (skr_fakevtpm_provision(fx.tpm, &o, &fx.fake, &err) < 0) {
		fprintf(stderr, "provisioning failed: %s\n", err.detail);
		group_teardown(state);
		return -1;
	}
	fx.provisioned = true;
	if (skr_hcl_report_parse(fx.fake.hcl.data, fx.fake.hcl.len, &r, &err) < 0 ||
	    skr_hcl_parse_claims(&r, &err) < 0 || skr_hcl_ak_public(&r, &fx.claims_ak, &err) < 0) {
		fprintf(stderr, "provisioned report unusable: %s\n", err.detail);
		skr_hcl_report_free(&r);
		group_teardown(state);
		return -1;
	}
	skr_hcl_report_free(&r);
	return 0;
}

static int setup_bare(void **state)
{
	return start_tpm();
}

/* Flushes whatever a failed test left, so the next test starts clean. */
static void flush_all_transient(void)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;

	if (Esys_GetCapability(fx.tpm->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
			       TPM2_CAP_HANDLES, 0x80000000u, TPM2_MAX_CAP_HANDLES, &more,
			       &cap) != TSS2_RC_SUCCESS)
		return;
	for (UINT32 i = 0; i < cap->data.handles.count; i++) {
		ESYS_TR tr;

		if (Esys_TR_FromTPMPublic(fx.tpm->esys, cap->data.handles.handle[i], ESYS_TR_NONE,
					  ESYS_TR_NONE, ESYS_TR_NONE, &tr) == TSS2_RC_SUCCESS)
			Esys_FlushContext(fx.tpm->esys, tr);
	}
	Esys_Free(cap);
}

/* After every test: nothing transient left behind. */
static int check_no_transient(void **state)
{
	struct skr_err err = { 0 };
	uint32_t n = 99;

	stop_other();
	assert_ok(skr_tpm_count_transient(fx.tpm, &n, &err), err);
	if (n != 0)
		flush_all_transient();
	assert_int_equal(n, 0);
	return 0;
}

#define T(f) cmocka_unit_test_teardown(f, check_no_transient)

/* ---- HCL report in NV ------------------------------------------------------ */

static void test_read_hcl(void **state)
{
	_cleanup_buf_ struct skr_buf hcl = { 0 };
	struct skr_hcl_report r = { 0 };
	struct skr_err err = { 0 };
	EVP_PKEY *ak = NULL;

	assert_ok(skr_tpm_read_hcl(fx.tpm, &hcl, &err), err);
	assert_int_equal(hcl.len, fx.fake.hcl.len);
	assert_memory_equal(hcl.data, fx.fake.hcl.data, hcl.len);
	assert_ok(skr_hcl_report_parse(hcl.data, hcl.len, &r, &err), err);
	assert_ok(skr_hcl_verify_binding(&r, &err), err);
	assert_ok(skr_hcl_parse_claims(&r, &err), err);
	assert_ok(skr_hcl_ak_public(&r, &ak, &err), err);
	/* HCLAkPub is the key the TPM holds at 0x81000003. */
	assert_int_equal(EVP_PKEY_eq(ak, fx.fake.ak), 1);
	EVP_PKEY_free(ak);
	skr_hcl_report_free(&r);
}

static void test_nv_read_chunks(void **state)
{
	_cleanup_buf_ struct skr_buf a = { 0 };
	_cleanup_buf_ struct skr_buf b = { 0 };
	struct skr_err err = { 0 };

	/* Larger than one TPM2_NV_Read (1024 on swtpm), within swtpm's 2048 cap. */
	assert_true(fx.fake.hcl.len > 1024);
	assert_true(fx.fake.hcl.len <= 2048);
	assert_ok(skr_tpm_nv_read(fx.tpm, SKR_HCL_NV_INDEX, &a, &err), err);
	assert_int_equal(fx.tpm->nv_buffer_max, 1024);
	assert_memory_equal(a.data, fx.fake.hcl.data, fx.fake.hcl.len);

	/* Many small chunks, the last one short. */
	fx.tpm->nv_chunk = 100;
	assert_ok(skr_tpm_nv_read(fx.tpm, SKR_HCL_NV_INDEX, &b, &err), err);
	fx.tpm->nv_chunk = 0;
	assert_int_equal(b.len, fx.fake.hcl.len);
	assert_memory_equal(b.data, fx.fake.hcl.data, b.len);
}

static void test_nv_missing(void **state)
{
	struct skr_buf out = { 0 };
	struct skr_err err = { 0 };

	assert_failed_with(skr_tpm_nv_read(fx.tpm, 0x01400002, &out, &err), err,
			   SKR_R_tpm_nv_undefined, "NV index 0x01400002 is not defined");
	assert_null(out.data);
	skr_err_clear(&err);
	assert_failed_with(skr_tpm_nv_read(fx.tpm, SKR_TPM_AK_HANDLE, &out, &err), err, SKR_R_usage,
			   "not an NV index");
}

/* ---- Quote ------------------------------------------------------------------ */

static void test_quote(void **state)
{
	_cleanup_buf_ struct skr_buf attest = { 0 };
	_cleanup_buf_ struct skr_buf sig = { 0 };
	struct skr_pcr_banks *pcrs = calloc(1, sizeof(*pcrs));
	struct skr_err err = { 0 };
	uint8_t nonce[32], other[32];
	TPMS_ATTEST a;

	assert_non_null(pcrs);
	random_nonce(nonce);
	assert_ok(skr_tpm_quote(fx.tpm, SKR_TPM_AK_HANDLE, nonce, sizeof(nonce), QUOTE_MASK, &attest,
				&sig, pcrs, &err),
		  err);
	assert_int_equal(pcrs->count, 1);
	assert_int_equal(pcrs->bank[0].alg, SKR_TPM_ALG_SHA256);
	assert_int_equal(pcrs->bank[0].extended_mask, QUOTE_MASK);
	/* The verifier's view: the AK from the claims, the nonce, the PCR values. */
	assert_ok(skr_tpm_quote_verify(attest.data, attest.len, sig.data, sig.len, fx.claims_ak, nonce,
				       sizeof(nonce), pcrs, &a, &err),
		  err);
	assert_int_equal(a.type, TPM2_ST_ATTEST_QUOTE);

	/* Another nonce does not verify. */
	memcpy(other, nonce, sizeof(other));
	other[0] ^= 1;
	assert_failed_with(skr_tpm_quote_verify(attest.data, attest.len, sig.data, sig.len,
						fx.claims_ak, other, sizeof(other), pcrs, &a, &err),
			   err, SKR_R_quote_nonce_mismatch, NULL);
	free(pcrs);
}

static void extend_pcr16(const char *label)
{
	TPML_DIGEST_VALUES d = { .count = 1 };
	TSS2_RC rc;

	d.digests[0].hashAlg = TPM2_ALG_SHA256;
	assert_int_equal(EVP_Digest(label, strlen(label), d.digests[0].digest.sha256, NULL,
				    EVP_sha256(), NULL),
			 1);
	rc = Esys_PCR_Extend(fx.tpm->esys, ESYS_TR_PCR16, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			     ESYS_TR_NONE, &d);
	assert_int_equal(rc, TSS2_RC_SUCCESS);
}

static void test_quote_after_extend(void **state)
{
	_cleanup_buf_ struct skr_buf a1 = { 0 }, s1 = { 0 }, a2 = { 0 }, s2 = { 0 };
	struct skr_pcr_banks *p1 = calloc(1, sizeof(*p1)), *p2 = calloc(1, sizeof(*p2));
	struct skr_pcr_bank expect;
	struct skr_err err = { 0 };
	uint8_t nonce[32], digest[32];
	TPMS_ATTEST a;
	unsigned i;

	assert_true(p1 && p2);
	random_nonce(nonce);
	assert_ok(skr_tpm_quote(fx.tpm, SKR_TPM_AK_HANDLE, nonce, 32, QUOTE_MASK, &a1, &s1, p1, &err),
		  err);
	extend_pcr16("skr test extend");
	assert_ok(skr_tpm_quote(fx.tpm, SKR_TPM_AK_HANDLE, nonce, 32, QUOTE_MASK, &a2, &s2, p2, &err),
		  err);

	/* PCR 16 moved exactly as an extend does; nothing else moved. */
	expect = p1->bank[0];
	EVP_Digest("skr test extend", strlen("skr test extend"), digest, NULL, EVP_sha256(), NULL);
	assert_ok(skr_pcr_bank_extend(&expect, 16, digest, 32, &err), err);
	assert_memory_not_equal(p1->bank[0].value[16], p2->bank[0].value[16], 32);
	assert_memory_equal(p2->bank[0].value[16], expect.value[16], 32);
	for (i = 0; i < SKR_PCR_COUNT; i++)
		if (i != 16 && (QUOTE_MASK & (1u << i)))
			assert_memory_equal(p1->bank[0].value[i], p2->bank[0].value[i], 32);

	/* Each quote verifies with its own values, not with the other's. */
	assert_ok(skr_tpm_quote_verify(a1.data, a1.len, s1.data, s1.len, fx.claims_ak, nonce, 32, p1,
				       &a, &err),
		  err);
	assert_ok(skr_tpm_quote_verify(a2.data, a2.len, s2.data, s2.len, fx.claims_ak, nonce, 32, p2,
				       &a, &err),
		  err);
	assert_failed_with(skr_tpm_quote_verify(a2.data, a2.len, s2.data, s2.len, fx.claims_ak, nonce,
						32, p1, &a, &err),
			   err, SKR_R_quote_pcr_digest_mismatch, NULL);
	free(p1);
	free(p2);
}

static void test_quote_bad_args(void **state)
{
	struct skr_buf attest = { 0 }, sig = { 0 };
	struct skr_pcr_banks *pcrs = calloc(1, sizeof(*pcrs));
	struct skr_err err = { 0 };
	uint8_t nonce[32] = { 1 };

	assert_non_null(pcrs);
	assert_failed_with(skr_tpm_quote(fx.tpm, 0x81000099, nonce, 32, QUOTE_MASK, &attest, &sig,
					 pcrs, &err),
			   err, SKR_R_tpm_error, "no attestation key at persistent handle 0x81000099");
	skr_err_clear(&err);
	assert_failed_with(skr_tpm_quote(fx.tpm, SKR_TPM_AK_HANDLE, nonce, 32, 0, &attest, &sig, pcrs,
					 &err),
			   err, SKR_R_usage, NULL);
	skr_err_clear(&err);
	assert_failed_with(skr_tpm_quote(fx.tpm, SKR_TPM_AK_HANDLE, nonce, 32, 1u << 24, &attest,
					 &sig, pcrs, &err),
			   err, SKR_R_usage, NULL);
	assert_null(attest.data);
	assert_null(sig.data);
	free(pcrs);
}

/* ---- Wrap key ---------------------------------------------------------------- */

static void test_wrap_key_public(void **state)
{
	struct skr_tpm_key k, k2;
	struct skr_err err = { 0 };
	const TPMT_PUBLIC *p;
	TPM2B_PUBLIC parsed = { 0 };
	TPM2B_NAME name;
	size_t off = 0;

	assert_ok(skr_tpm_create_wrap_key(fx.tpm, &k, &err), err);
	p = &k.public.publicArea;
	assert_int_equal(p->type, TPM2_ALG_ECC);
	assert_int_equal(p->nameAlg, TPM2_ALG_SHA256);
	assert_int_equal(p->objectAttributes, SKR_TPM_WRAP_KEY_ATTRS);
	assert_false(p->objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT);
	assert_false(p->objectAttributes & TPMA_OBJECT_RESTRICTED);
	assert_int_equal(p->parameters.eccDetail.curveID, TPM2_ECC_NIST_P256);
	assert_int_equal(p->parameters.eccDetail.scheme.scheme, TPM2_ALG_NULL);
	assert_int_equal(p->parameters.eccDetail.symmetric.algorithm, TPM2_ALG_NULL);
	assert_int_equal(p->authPolicy.size, 0);
	assert_int_equal(p->unique.ecc.x.size, 32);
	assert_int_equal(p->unique.ecc.y.size, 32);

	/* The marshalled public is what the broker gets; its Name is the TPM's. */
	assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Unmarshal(k.public_bytes, k.public_len, &off, &parsed),
			 TSS2_RC_SUCCESS);
	assert_int_equal(off, k.public_len);
	assert_ok(skr_tpm_public_name(&parsed, &name, &err), err);
	assert_int_equal(name.size, 34);
	assert_int_equal(k.name.size, 34);
	assert_memory_equal(name.name, k.name.name, 34);
	/* The broker-side attribute check accepts it. */
	assert_ok(skr_wrap_key_check_attributes(&parsed.publicArea, &err), err);

	/* Every call gives a fresh key, even within one boot. */
	assert_ok(skr_tpm_create_wrap_key(fx.tpm, &k2, &err), err);
	assert_memory_not_equal(k.name.name, k2.name.name, 34);
	skr_tpm_key_flush(fx.tpm, &k2);
	skr_tpm_key_flush(fx.tpm, &k);
	assert_int_equal(k.handle, ESYS_TR_NONE);
	skr_tpm_key_flush(fx.tpm, &k);	/* idempotent */
}

static void test_certify(void **state)
{
	_cleanup_buf_ struct skr_buf attest = { 0 };
	_cleanup_buf_ struct skr_buf sig = { 0 };
	struct skr_tpm_key k;
	struct skr_err err = { 0 };
	TPMT_SIGNATURE s;
	TPMS_ATTEST a;
	EVP_PKEY *pkey = NULL, *direct = NULL;
	uint8_t nonce[32], qn_in[4 + 34], qn[32];

	random_nonce(nonce);
	assert_ok(skr_tpm_create_wrap_key(fx.tpm, &k, &err), err);
	assert_ok(skr_tpm_certify(fx.tpm, &k, SKR_TPM_AK_HANDLE, nonce, sizeof(nonce), &attest, &sig,
				  &err),
		  err);

	assert_ok(skr_tpm_signature_parse(sig.data, sig.len, fx.claims_ak, &s, &err), err);
	assert_int_equal(s.sigAlg, TPM2_ALG_RSASSA);
	assert_int_equal(s.signature.rsassa.hash, TPM2_ALG_SHA256);
	assert_ok(skr_tpm_signature_verify(attest.data, attest.len, &s, fx.claims_ak, &err), err);
	assert_ok(skr_tpm_attest_parse(attest.data, attest.len, &a, &err), err);
	assert_ok(skr_tpm_attest_check(&a, TPM2_ST_ATTEST_CERTIFY, nonce, sizeof(nonce), &err), err);
	assert_int_equal(a.attested.certify.name.size, k.name.size);
	assert_memory_equal(a.attested.certify.name.name, k.name.name, k.name.size);

	/* qualifiedName = sha256 || H(TPM_RH_NULL || Name): a NULL-hierarchy primary. */
	qn_in[0] = 0x40, qn_in[1] = 0x00, qn_in[2] = 0x00, qn_in[3] = 0x07;
	memcpy(qn_in + 4, k.name.name, 34);
	EVP_Digest(qn_in, sizeof(qn_in), qn, NULL, EVP_sha256(), NULL);
	assert_int_equal(a.attested.certify.qualifiedName.size, 34);
	assert_memory_equal(a.attested.certify.qualifiedName.name + 2, qn, 32);

	/* The broker's whole wrap-key check passes, and gives the same key. */
	assert_ok(skr_wrap_key_verify(k.public_bytes, k.public_len, attest.data, attest.len, sig.data,
				      sig.len, fx.claims_ak, nonce, sizeof(nonce), &pkey, &err),
		  err);
	assert_ok(skr_tpm_public_to_pkey(&k.public, &direct, &err), err);
	assert_int_equal(EVP_PKEY_eq(pkey, direct), 1);
	EVP_PKEY_free(pkey);
	EVP_PKEY_free(direct);

	/* A wrong nonce is refused. */
	nonce[31] ^= 0x80;
	assert_failed_with(skr_tpm_attest_check(&a, TPM2_ST_ATTEST_CERTIFY, nonce, sizeof(nonce), &err),
			   err, SKR_R_quote_nonce_mismatch, NULL);
	skr_tpm_key_flush(fx.tpm, &k);
}

/*
 * The broker's check of the wrap key's hierarchy against what a real TPM
 * certifies: the same template as a primary of the owner hierarchy (a key the
 * storage seed can make again in any later boot) is refused, and its
 * qualifiedName is H(TPM_RH_OWNER || Name), as for the NULL one above.
 */
static void test_certify_owner_hierarchy_refused(void **state)
{
	_cleanup_buf_ struct skr_buf attest = { 0 };
	_cleanup_buf_ struct skr_buf sig = { 0 };
	TPM2B_SENSITIVE_CREATE sensitive = { 0 };
	TPM2B_DATA outside = { 0 };
	TPML_PCR_SELECTION creation_pcrs = { 0 };
	TPM2B_PUBLIC *pub = NULL;
	TPM2B_CREATION_DATA *creation = NULL;
	TPM2B_DIGEST *creation_hash = NULL;
	TPMT_TK_CREATION *ticket = NULL;
	TPM2B_NAME *name = NULL, qn;
	struct skr_tpm_key null_key, k = { .handle = ESYS_TR_NONE };
	struct skr_err err = { 0 };
	EVP_PKEY *pkey = NULL;
	TPMS_ATTEST a;
	uint8_t nonce[32];

	random_nonce(nonce);
	/* The VM's own template (attributes, curve, a random unique field) ... */
	assert_ok(skr_tpm_create_wrap_key(fx.tpm, &null_key, &err), err);
	/* ... made a primary of the owner hierarchy instead of the NULL one. */
	assert_int_equal(Esys_CreatePrimary(fx.tpm->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD,
					    ESYS_TR_NONE, ESYS_TR_NONE, &sensitive, &null_key.public,
					    &outside, &creation_pcrs, &k.handle, &pub, &creation,
					    &creation_hash, &ticket),
			 TSS2_RC_SUCCESS);
	skr_tpm_key_flush(fx.tpm, &null_key);
	assert_int_equal(Esys_TR_GetName(fx.tpm->esys, k.handle, &name), TSS2_RC_SUCCESS);
	k.public = *pub;
	k.name = *name;
	assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Marshal(pub, k.public_bytes, sizeof(k.public_bytes),
						      &k.public_len),
			 TSS2_RC_SUCCESS);
	Esys_Free(pub);
	Esys_Free(creation);
	Esys_Free(creation_hash);
	Esys_Free(ticket);
	Esys_Free(name);
	assert_int_equal(k.public.publicArea.objectAttributes, SKR_TPM_WRAP_KEY_ATTRS);

	assert_ok(skr_tpm_certify(fx.tpm, &k, SKR_TPM_AK_HANDLE, nonce, sizeof(nonce), &attest, &sig,
				  &err),
		  err);
	assert_ok(skr_tpm_attest_parse(attest.data, attest.len, &a, &err), err);
	assert_ok(skr_tpm_primary_qualified_name(TPM2_RH_OWNER, &k.name, &qn, &err), err);
	assert_int_equal(a.attested.certify.qualifiedName.size, qn.size);
	assert_memory_equal(a.attested.certify.qualifiedName.name, qn.name, qn.size);

	/* Signature, nonce, Name and attributes all pass; the hierarchy does not. */
	assert_failed_with(skr_wrap_key_verify(k.public_bytes, k.public_len, attest.data, attest.len,
					       sig.data, sig.len, fx.claims_ak, nonce, sizeof(nonce),
					       &pkey, &err),
			   err, SKR_R_wrap_key_hierarchy, "NULL hierarchy");
	assert_null(pkey);
	skr_tpm_key_flush(fx.tpm, &k);
}

static void test_certify_bad_args(void **state)
{
	struct skr_buf attest = { 0 }, sig = { 0 };
	struct skr_tpm_key k, none = { .handle = ESYS_TR_NONE };
	struct skr_err err = { 0 };
	uint8_t nonce[100] = { 0 };

	assert_ok(skr_tpm_create_wrap_key(fx.tpm, &k, &err), err);
	assert_failed_with(skr_tpm_certify(fx.tpm, &k, 0x81000099, nonce, 32, &attest, &sig, &err),
			   err, SKR_R_tpm_error, "0x81000099");
	skr_err_clear(&err);
	assert_failed_with(skr_tpm_certify(fx.tpm, &k, SKR_TPM_AK_HANDLE, nonce, sizeof(nonce),
					   &attest, &sig, &err),
			   err, SKR_R_usage, NULL);
	skr_err_clear(&err);
	assert_failed_with(skr_tpm_certify(fx.tpm, &none, SKR_TPM_AK_HANDLE, nonce, 32, &attest, &sig,
					   &err),
			   err, SKR_R_usage, NULL);
	assert_null(attest.data);
	skr_tpm_key_flush(fx.tpm, &k);
}

/* ---- ECDH -------------------------------------------------------------------- */

static void test_ecdh_roundtrip(void **state)
{
	static const uint8_t secret[32] = "0123456789abcdef0123456789abcde";
	struct skr_tpm_key k;
	struct skr_wrapped w;
	struct skr_err err = { 0 };
	EVP_PKEY *pub = NULL;
	uint8_t nonce[32], z[32], out[SKR_WRAP_MAX_SECRET];
	size_t out_len = 0;

	random_nonce(nonce);
	assert_ok(skr_tpm_create_wrap_key(fx.tpm, &k, &err), err);
	/* Broker side: seal to the presented public. */
	assert_ok(skr_tpm_public_to_pkey(&k.public, &pub, &err), err);
	assert_ok(skr_wrap(pub, nonce, sizeof(nonce), "disk-1", secret, sizeof(secret), &w, &err), err);
	/* VM side: Z inside the TPM, then open. */
	assert_ok(skr_tpm_ecdh_zgen(fx.tpm, &k, w.epk, z, &err), err);
	assert_ok(skr_unwrap_with_z(z, &w, nonce, sizeof(nonce), "disk-1", out, &out_len, &err), err);
	assert_int_equal(out_len, sizeof(secret));
	assert_memory_equal(out, secret, sizeof(secret));
	/* Bound to nonce and key id too. */
	assert_failed_with(skr_unwrap_with_z(z, &w, nonce, sizeof(nonce), "disk-2", out, &out_len,
					     &err),
			   err, SKR_R_malformed, NULL);
	EVP_PKEY_free(pub);
	skr_tpm_key_flush(fx.tpm, &k);
}

static void test_ecdh_other_tpm(void **state)
{
	static const uint8_t secret[32] = "the disk secret, 32 bytes long.";
	struct skr_tpm_key k, other, later;
	struct skr_wrapped w;
	struct skr_err err = { 0 };
	EVP_PKEY *pub = NULL;
	uint8_t nonce[32], z[32], z_other[32], out[SKR_WRAP_MAX_SECRET];
	size_t out_len = 0;
	uint32_t n = 99;

	random_nonce(nonce);
	assert_ok(skr_tpm_create_wrap_key(fx.tpm, &k, &err), err);
	assert_ok(skr_tpm_public_to_pkey(&k.public, &pub, &err), err);
	assert_ok(skr_wrap(pub, nonce, sizeof(nonce), "disk-1", secret, sizeof(secret), &w, &err), err);
	assert_ok(skr_tpm_ecdh_zgen(fx.tpm, &k, w.epk, z, &err), err);

	/* Another TPM with a wrap key from the same template cannot open it. */
	assert_ok(skr_swtpm_start(&fx.other_swtpm, &err), err);
	assert_ok(skr_tpm_open(fx.other_swtpm->tcti, &fx.other_tpm, &err), err);
	assert_ok(skr_tpm_create_wrap_key(fx.other_tpm, &other, &err), err);
	assert_ok(skr_tpm_ecdh_zgen(fx.other_tpm, &other, w.epk, z_other, &err), err);
	assert_memory_not_equal(z, z_other, 32);
	assert_failed_with(skr_unwrap_with_z(z_other, &w, nonce, sizeof(nonce), "disk-1", out,
					     &out_len, &err),
			   err, SKR_R_malformed, "does not open");
	skr_err_clear(&err);
	skr_tpm_key_flush(fx.other_tpm, &other);
	assert_ok(skr_tpm_count_transient(fx.other_tpm, &n, &err), err);
	assert_int_equal(n, 0);
	stop_other();

	/* Nor can a later wrap key of the same TPM. */
	skr_err_clear(&err);
	assert_ok(skr_tpm_create_wrap_key(fx.tpm, &later, &err), err);
	assert_ok(skr_tpm_ecdh_zgen(fx.tpm, &later, w.epk, z_other, &err), err);
	assert_memory_not_equal(z, z_other, 32);
	skr_tpm_key_flush(fx.tpm, &later);
	skr_tpm_key_flush(fx.tpm, &k);
	EVP_PKEY_free(pub);
}

static void test_ecdh_bad_point(void **state)
{
	struct skr_tpm_key k, none = { .handle = ESYS_TR_NONE };
	struct skr_err err = { 0 };
	uint8_t epk[65] = { 0x04 }, z[32];

	assert_ok(skr_tpm_create_wrap_key(fx.tpm, &k, &err), err);
	epk[1] = 1;
	epk[33] = 1;	/* (…01, …01) is not on P-256 */
	epk[32] = 1;
	epk[64] = 1;
	assert_failed_with(skr_tpm_ecdh_zgen(fx.tpm, &k, epk, z, &err), err, SKR_R_tpm_error,
			   "TPM2_ECDH_ZGen");
	skr_err_clear(&err);
	epk[0] = 0x02;
	assert_failed_with(skr_tpm_ecdh_zgen(fx.tpm, &k, epk, z, &err), err, SKR_R_malformed, NULL);
	skr_err_clear(&err);
	assert_failed_with(skr_tpm_ecdh_zgen(fx.tpm, &none, epk, z, &err), err, SKR_R_usage, NULL);
	skr_tpm_key_flush(fx.tpm, &k);
}

/* ---- Public keys --------------------------------------------------------------- */

static void test_public_to_pkey(void **state)
{
	struct skr_err err = { 0 };
	EVP_PKEY *ak = NULL, *p = NULL;
	struct skr_tpm_key k;
	TPM2B_PUBLIC bad;

	assert_ok(skr_tpm_public_to_pkey(&fx.fake.ak_public, &ak, &err), err);
	assert_int_equal(EVP_PKEY_eq(ak, fx.claims_ak), 1);
	assert_int_equal(EVP_PKEY_get_bits(ak), 2048);
	EVP_PKEY_free(ak);

	bad = fx.fake.ak_public;
	bad.publicArea.unique.rsa.size = 100;
	assert_failed_with(skr_tpm_public_to_pkey(&bad, &p, &err), err, SKR_R_malformed, NULL);
	skr_err_clear(&err);
	bad.publicArea.type = TPM2_ALG_KEYEDHASH;
	assert_failed_with(skr_tpm_public_to_pkey(&bad, &p, &err), err, SKR_R_unsupported, NULL);
	assert_null(p);

	skr_err_clear(&err);
	assert_ok(skr_tpm_create_wrap_key(fx.tpm, &k, &err), err);
	bad = k.public;
	skr_tpm_key_flush(fx.tpm, &k);
	bad.publicArea.unique.ecc.y.buffer[31] ^= 1;
	assert_failed_with(skr_tpm_public_to_pkey(&bad, &p, &err), err, SKR_R_malformed,
			   "not on P-256");
	skr_err_clear(&err);
	bad.publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P384;
	assert_failed_with(skr_tpm_public_to_pkey(&bad, &p, &err), err, SKR_R_unsupported, NULL);
}

/* ---- Opening --------------------------------------------------------------------- */

static int closed_port(void)
{
	struct skr_swtpm *s = NULL;
	struct skr_err err = { 0 };
	int port;

	/* A port swtpm just listened on and no longer does. */
	assert_ok(skr_swtpm_start(&s, &err), err);
	port = s->port;
	skr_swtpm_stop(&s);
	return port;
}

static void test_open_unreachable(void **state)
{
	struct skr_tpm *t = NULL;
	struct skr_err err = { 0 };
	char tcti[64];

	snprintf(tcti, sizeof(tcti), "swtpm:host=127.0.0.1,port=%d", closed_port());
	assert_failed_with(skr_tpm_open(tcti, &t, &err), err, SKR_R_tpm_unavailable, tcti);
	assert_null(t);
	skr_err_clear(&err);
	assert_failed_with(skr_tpm_open("device:/nonexistent/tpmrm0", &t, &err), err,
			   SKR_R_tpm_unavailable, "device:/nonexistent/tpmrm0");
	assert_null(t);
}

/* ---- Unprovisioned paravisor -------------------------------------------------------- */

static void test_hcl_undefined(void **state)
{
	struct skr_fakevtpm_opts o;
	struct skr_fakevtpm f;
	struct skr_buf out = { 0 };
	struct skr_err err = { 0 };

	skr_fakevtpm_opts_init(&o);
	o.no_hcl = true;
	assert_ok(skr_fakevtpm_provision(fx.tpm, &o, &f, &err), err);
	assert_failed_with(skr_tpm_read_hcl(fx.tpm, &out, &err), err, SKR_R_tpm_nv_undefined,
			   "the HCL report in NV 0x01400001 is not defined");
	assert_null(out.data);
	skr_fakevtpm_free(&f);
}

static void test_hcl_uninitialized(void **state)
{
	struct skr_fakevtpm_opts o;
	struct skr_fakevtpm f;
	struct skr_buf out = { 0 };
	struct skr_err err = { 0 };
	struct timespec t0, t1;
	long ms;

	skr_fakevtpm_opts_init(&o);
	o.define_only = true;
	assert_ok(skr_fakevtpm_provision(fx.tpm, &o, &f, &err), err);
	fx.tpm->nv_retries = 3;
	fx.tpm->nv_retry_delay_ms = 30;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_failed_with(skr_tpm_read_hcl(fx.tpm, &out, &err), err, SKR_R_tpm_nv_uninitialized,
			   "the HCL report in NV 0x01400001 is not written yet "
			   "(TPM_RC_NV_UNINITIALIZED) (3 attempts");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= 60);	/* two pauses between three attempts */
	assert_null(out.data);

	/* Once the paravisor writes it, it reads. */
	skr_err_clear(&err);
	assert_ok(skr_fakevtpm_nv_write(fx.tpm, SKR_HCL_NV_INDEX, f.hcl.data, f.hcl.len, false, &err),
		  err);
	assert_ok(skr_tpm_read_hcl(fx.tpm, &out, &err), err);
	assert_int_equal(out.len, f.hcl.len);
	skr_buf_free(&out);
	fx.tpm->nv_retries = SKR_TPM_NV_RETRIES;
	fx.tpm->nv_retry_delay_ms = SKR_TPM_NV_RETRY_DELAY_MS;
	skr_fakevtpm_free(&f);
}

static void remove_ca_dir(const char *dir)
{
	static const char *const names[] = { "root.pem", "root.key", "intermediate.pem",
					     "intermediate.key" };
	char path[256];
	size_t i;

	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		assert_int_equal(unlink(path), 0);
	}
	assert_int_equal(rmdir(dir), 0);
}

/*
 * The mode: an HCL report (even unwritten) is a Confidential VM, the AK
 * certificate without one is Trusted Launch, neither is an error naming both;
 * the AK's public area reads as the TPM holds it.
 */
static void test_detect_mode(void **state)
{
	char ca[] = "/tmp/skr-test-tl-XXXXXX";
	struct skr_fakevtpm_opts o;
	struct skr_fakevtpm f;
	struct skr_faketl_opts to = { .ca_dir = ca };
	struct skr_faketl tl;
	struct skr_buf pub = { 0 }, cert = { 0 };
	uint8_t want[sizeof(TPM2B_PUBLIC)];
	size_t off = 0;
	enum skr_tpm_mode mode = 0;
	struct skr_err err = { 0 };

	assert_non_null(mkdtemp(ca));
	assert_ok(skr_faketl_provision(fx.tpm, &to, &tl, &err), err);
	assert_ok(skr_tpm_detect_mode(fx.tpm, &mode, &err), err);
	assert_int_equal(mode, SKR_TPM_MODE_AZURE_TL);
	assert_string_equal(skr_tpm_mode_name(mode), "azure-tl");
	assert_ok(skr_tpm_read_public(fx.tpm, SKR_TPM_AK_HANDLE, &pub, &err), err);
	assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Marshal(&tl.ak_public, want, sizeof(want), &off), 0);
	assert_int_equal(pub.len, off);
	assert_memory_equal(pub.data, want, off);
	assert_ok(skr_tpm_read_akcert(fx.tpm, &cert, &err), err);
	assert_true(cert.len > 100 && cert.data[0] == 0x30);
	skr_buf_free(&pub);
	skr_buf_free(&cert);
	skr_faketl_free(&tl);

	/* A Confidential VM's report, written or not yet, wins over the certificate. */
	skr_fakevtpm_opts_init(&o);
	o.define_only = true;
	assert_ok(skr_fakevtpm_provision(fx.tpm, &o, &f, &err), err);
	assert_ok(skr_tpm_detect_mode(fx.tpm, &mode, &err), err);
	assert_int_equal(mode, SKR_TPM_MODE_AZ_SNP_VTPM);
	assert_string_equal(skr_tpm_mode_name(mode), "az-snp-vtpm");
	skr_fakevtpm_free(&f);

	to.no_cert = true;
	assert_ok(skr_faketl_provision(fx.tpm, &to, &tl, &err), err);
	assert_failed_with(skr_tpm_detect_mode(fx.tpm, &mode, &err), err, SKR_R_tpm_nv_undefined,
			   "neither an HCL report (NV 0x01400001");
	skr_err_clear(&err);
	assert_failed_with(skr_tpm_read_akcert(fx.tpm, &cert, &err), err, SKR_R_tpm_nv_undefined,
			   "the AK certificate in NV 0x01c101d0 is not defined");
	skr_err_clear(&err);
	assert_failed_with(skr_tpm_read_public(fx.tpm, 0x81000004, &pub, &err), err, SKR_R_tpm_error,
			   "there is no key at persistent handle 0x81000004");
	skr_err_clear(&err);
	assert_failed_with(skr_tpm_read_public(fx.tpm, 0x01400001, &pub, &err), err, SKR_R_usage,
			   "not a persistent handle");
	skr_err_clear(&err);
	skr_faketl_free(&tl);
	remove_ca_dir(ca);
}

static void test_nv_too_big(void **state)
{
	static uint8_t big[2049];
	struct skr_err err = { 0 };

	assert_failed_with(skr_fakevtpm_nv_write(fx.tpm, 0x01400003, big, sizeof(big), false, &err),
			   err, SKR_R_usage, "caps an NV index at 2048 bytes");
	skr_err_clear(&err);
	assert_ok(skr_fakevtpm_nv_write(fx.tpm, 0x01400003, big, 2048, false, &err), err);
	assert_ok(skr_fakevtpm_nv_undefine(fx.tpm, 0x01400003, &err), err);
}

static void test_reprovision(void **state)
{
	struct skr_fakevtpm_opts o;
	struct skr_fakevtpm f1, f2;
	_cleanup_buf_ struct skr_buf out = { 0 };
	struct skr_err err = { 0 };

	/* A second provisioning replaces the AK and the report (a new boot of the host). */
	skr_fakevtpm_opts_init(&o);
	assert_ok(skr_fakevtpm_provision(fx.tpm, &o, &f1, &err), err);
	o.debug = true;
	assert_ok(skr_fakevtpm_provision(fx.tpm, &o, &f2, &err), err);
	assert_ok(skr_tpm_read_hcl(fx.tpm, &out, &err), err);
	assert_int_equal(out.len, f2.hcl.len);
	assert_memory_equal(out.data, f2.hcl.data, out.len);
	assert_true(out.data[SKR_HCL_SNP_OFFSET + 0x0A] & 0x08);	/* POLICY bit 19 */
	skr_fakevtpm_free(&f1);
	skr_fakevtpm_free(&f2);
}

/* A quote with the AK at SKR_TPM_AK_HANDLE that verifies with ak. */
static void quote_verifies(EVP_PKEY *ak)
{
	_cleanup_buf_ struct skr_buf attest = { 0 };
	_cleanup_buf_ struct skr_buf sig = { 0 };
	struct skr_pcr_banks *pcrs = calloc(1, sizeof(*pcrs));
	struct skr_err err = { 0 };
	uint8_t nonce[32];
	TPMS_ATTEST a;

	assert_non_null(pcrs);
	random_nonce(nonce);
	assert_ok(skr_tpm_quote(fx.tpm, SKR_TPM_AK_HANDLE, nonce, sizeof(nonce), QUOTE_MASK, &attest,
				&sig, pcrs, &err),
		  err);
	assert_ok(skr_tpm_quote_verify(attest.data, attest.len, sig.data, sig.len, ak, nonce,
				       sizeof(nonce), pcrs, &a, &err),
		  err);
	free(pcrs);
}

/*
 * test_reprovision, but the second provisioning is another ESYS context's
 * (the paravisor's; here one on the same TCTI), with a new AK, after this
 * context used the old AK and the report: the next quote and read look both
 * up afresh.  Had this context kept its ESYS handle of the AK open,
 * tss2-esys would hand it back to the next look-up and refuse the AK's new
 * Name (TSS2_ESYS_RC_GENERAL_FAILURE, "Name mismatch between two calls"):
 * tpm_int.h, tr_guard.
 */
static void test_reprovision_elsewhere(void **state)
{
	struct skr_fakevtpm_opts o;
	struct skr_fakevtpm f1, f2;
	struct skr_tpm paravisor;
	_cleanup_buf_ struct skr_buf out = { 0 };
	struct skr_err err = { 0 };

	skr_fakevtpm_opts_init(&o);
	assert_ok(skr_fakevtpm_provision(fx.tpm, &o, &f1, &err), err);
	quote_verifies(f1.ak);
	assert_ok(skr_tpm_read_hcl(fx.tpm, &out, &err), err);
	skr_buf_free(&out);

	/* A new endorsement seed (platform auth, empty on swtpm): a new AK. */
	paravisor = *fx.tpm;
	assert_int_equal(Esys_Initialize(&paravisor.esys, fx.tpm->tcti, NULL), TSS2_RC_SUCCESS);
	assert_int_equal(Esys_ChangeEPS(paravisor.esys, ESYS_TR_RH_PLATFORM, ESYS_TR_PASSWORD,
					ESYS_TR_NONE, ESYS_TR_NONE),
			 TSS2_RC_SUCCESS);
	o.debug = true;
	assert_ok(skr_fakevtpm_provision(&paravisor, &o, &f2, &err), err);
	Esys_Finalize(&paravisor.esys);
	assert_int_equal(EVP_PKEY_eq(f1.ak, f2.ak), 0);

	quote_verifies(f2.ak);
	assert_ok(skr_tpm_read_hcl(fx.tpm, &out, &err), err);
	assert_int_equal(out.len, f2.hcl.len);
	assert_memory_equal(out.data, f2.hcl.data, out.len);
	skr_fakevtpm_free(&f1);
	skr_fakevtpm_free(&f2);
}

static void test_harness_stop_idempotent(void **state)
{
	struct skr_swtpm *s = NULL, *copy;
	struct skr_err err = { 0 };
	int before = skr_swtpm_running();

	assert_ok(skr_swtpm_start(&s, &err), err);
	assert_int_equal(skr_swtpm_running(), before + 1);
	copy = s;
	skr_swtpm_stop(&s);
	assert_null(s);
	skr_swtpm_stop(&s);
	assert_int_equal(skr_swtpm_running(), before);
	assert_int_equal(copy->pid, 0);
}

int main(void)
{
	const struct CMUnitTest provisioned[] = {
		T(test_read_hcl),
		T(test_nv_read_chunks),
		T(test_nv_missing),
		T(test_quote),
		T(test_quote_after_extend),
		T(test_quote_bad_args),
		T(test_wrap_key_public),
		T(test_certify),
		T(test_certify_owner_hierarchy_refused),
		T(test_certify_bad_args),
		T(test_ecdh_roundtrip),
		T(test_ecdh_other_tpm),
		T(test_ecdh_bad_point),
		T(test_public_to_pkey),
		T(test_open_unreachable),
	};
	const struct CMUnitTest bare[] = {
		T(test_hcl_undefined),
		T(test_hcl_uninitialized),
		T(test_nv_too_big),
		T(test_detect_mode),
		T(test_reprovision),
		T(test_reprovision_elsewhere),
		T(test_harness_stop_idempotent),
	};
	int failed = 0;

	failed += cmocka_run_group_tests_name("tpm_provisioned", provisioned, setup_provisioned,
					      group_teardown);
	failed += cmocka_run_group_tests_name("tpm_unprovisioned", bare, setup_bare,
					      group_teardown);
	skr_swtpm_stop_all();
	return failed ? 1 : 0;
}
