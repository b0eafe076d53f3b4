/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The local offline copy (src/vm/local_seal.c) against a real swtpm: seal,
 * unseal under signed PCR policies, reseal by signing new PCR values,
 * revocation by the NV counter, the boot gate (PCR 15 must be zero: an
 * extended PCR 15 makes the TPM refuse), refusals with their reasons, the
 * software policy digests against the TPM's own, and no transient object or
 * session left in the TPM after any test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <tss2/tss2_mu.h>

#include "luks/local_copy.h"
#include "vm/local_seal.h"
#include "swtpm.h"
#include "testutil.h"
#include "vm/tpm_int.h"	/* white-box: ESYS, to check against the TPM's own digests */

/* PCRs 0, 7 and 16 (16: the debug PCR the tests extend), and the boot gate, PCR 15. */
#define MASK ((1u << 0) | (1u << 7) | (1u << 16) | SKR_LOCAL_GATE_MASK)

static const uint8_t secret32[32] = "the disk secret, 32 bytes long.";

struct fixture {
	struct skr_swtpm *swtpm;
	struct skr_tpm *tpm;
	EVP_PKEY *signer;
	EVP_PKEY *other;	/* another P-256 key */
	uint32_t nv;		/* the counter the tests share */
	struct skr_swtpm *other_swtpm;
	struct skr_tpm *other_tpm;
};

static struct fixture fx;

/* ---- Fixture -------------------------------------------------------------------- */

static void stop_other(void)
{
	skr_tpm_close(fx.other_tpm);
	fx.other_tpm = NULL;
	skr_swtpm_stop(&fx.other_swtpm);
}

static int group_teardown(void **state)
{
	stop_other();
	EVP_PKEY_free(fx.signer);
	EVP_PKEY_free(fx.other);
	skr_tpm_close(fx.tpm);
	skr_swtpm_stop(&fx.swtpm);
	memset(&fx, 0, sizeof(fx));
	return 0;
}

static int group_setup(void **state)
{
	struct skr_err err = { 0 };
	uint64_t value;

	memset(&fx, 0, sizeof(fx));
	if (skr_swtpm_start(&fx.swtpm, &err) < 0 || skr_tpm_open(fx.swtpm->tcti, &fx.tpm, &err) < 0 ||
	    skr_local_signer_generate(&fx.signer, &err) < 0 ||
	    skr_local_signer_generate(&fx.other, &err) < 0 ||
	    skr_local_counter_create(fx.tpm, &fx.nv, &value, &err) < 0) {
		fprintf(stderr, "setup failed: %s: %s\n", skr_reason_name(err.reason), err.detail);
		group_teardown(state);
		return -1;
	}
	return 0;
}

/* Handles of one type (top byte) currently in the TPM. */
static uint32_t count_handles(uint8_t type)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	uint32_t n = 0;

	assert_int_equal(Esys_GetCapability(fx.tpm->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					    TPM2_CAP_HANDLES, (uint32_t)type << 24,
					    TPM2_MAX_CAP_HANDLES, &more, &cap),
			 TSS2_RC_SUCCESS);
	for (UINT32 i = 0; i < cap->data.handles.count; i++)
		if (cap->data.handles.handle[i] >> 24 == type)
			n++;
	Esys_Free(cap);
	return n;
}

/* After every test: no transient object and no session left. */
static int check_clean(void **state)
{
	struct skr_err err = { 0 };
	uint32_t objects = 99;

	stop_other();
	assert_ok(skr_tpm_count_transient(fx.tpm, &objects, &err), err);
	assert_int_equal(objects, 0);
	assert_int_equal(count_handles(TPM2_HT_LOADED_SESSION), 0);
	assert_int_equal(count_handles(TPM2_HT_SAVED_SESSION), 0);
	return 0;
}

#define T(f) cmocka_unit_test_teardown(f, check_clean)

/* ---- Helpers --------------------------------------------------------------------- */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void pcr_digest_now(uint32_t mask, uint8_t out[32])
{
	struct skr_pcr_banks *pcrs = calloc(1, sizeof(*pcrs));
	struct skr_err err = { 0 };

	assert_non_null(pcrs);
	assert_ok(skr_tpm_pcr_read(fx.tpm, mask, pcrs, &err), err);
	assert_ok(skr_local_pcr_digest(pcrs, mask, out, &err), err);
	free(pcrs);
}

static uint64_t counter_now(void)
{
	struct skr_err err = { 0 };
	uint64_t v = 0;

	assert_ok(skr_local_counter_read(fx.tpm, fx.nv, &v, &err), err);
	return v;
}

/* A policy for the current PCR values, signed by key. */
static void policy_now(EVP_PKEY *key, uint64_t epoch, struct skr_local_policy *out)
{
	struct skr_err err = { 0 };
	uint8_t digest[32];

	pcr_digest_now(MASK, digest);
	assert_ok(skr_local_policy_make(fx.tpm, key, fx.nv, MASK, digest, epoch, out, &err), err);
}

static void extend_pcr16(const char *label)
{
	TPML_DIGEST_VALUES d = { .count = 1 };

	d.digests[0].hashAlg = TPM2_ALG_SHA256;
	assert_int_equal(EVP_Digest(label, strlen(label), d.digests[0].digest.sha256, NULL,
				    EVP_sha256(), NULL),
			 1);
	assert_int_equal(Esys_PCR_Extend(fx.tpm->esys, ESYS_TR_PCR16, ESYS_TR_PASSWORD, ESYS_TR_NONE,
					 ESYS_TR_NONE, &d),
			 TSS2_RC_SUCCESS);
}

static void seal(EVP_PKEY *key, struct skr_buf *pub, struct skr_buf *priv)
{
	struct skr_err err = { 0 };

	assert_ok(skr_local_seal(fx.tpm, key, secret32, sizeof(secret32), pub, priv, &err), err);
}

/* Unseals with policies and checks the secret and which policy was used. */
static void assert_unseals(const struct skr_buf *pub, const struct skr_buf *priv,
			   const struct skr_local_policy *p, size_t n, size_t want_used)
{
	struct skr_err err = { 0 };
	uint8_t *out = skr_secret_alloc(SKR_LOCAL_MAX_SECRET);
	size_t len = 0, used = 99;

	assert_non_null(out);
	assert_ok(skr_local_unseal(fx.tpm, pub, priv, fx.signer, fx.nv, p, n, out, &len, &used, &err),
		  err);
	assert_int_equal(len, sizeof(secret32));
	assert_memory_equal(out, secret32, len);
	assert_int_equal(used, want_used);
	skr_secret_free(out);
}

static void assert_refused(const struct skr_buf *pub, const struct skr_buf *priv, EVP_PKEY *key,
			   const struct skr_local_policy *p, size_t n, enum skr_reason reason,
			   const char *detail)
{
	struct skr_err err = { 0 };
	uint8_t out[SKR_LOCAL_MAX_SECRET];
	size_t len = 99, used = 0;

	memset(out, 0xAA, sizeof(out));
	assert_failed_with(skr_local_unseal(fx.tpm, pub, priv, key, fx.nv, p, n, out, &len, &used,
					    &err),
			   err, reason, detail);
	assert_int_equal(len, 0);
	assert_int_equal(used, SIZE_MAX);
	assert_true(skr_is_zero(out, sizeof(out)));
}

/* ---- Seal and unseal ---------------------------------------------------------------- */

static void test_seal_unseal(void **state)
{
	_cleanup_buf_ struct skr_buf pub = { 0 }, priv = { 0 };
	struct skr_local_policy p;
	TPM2B_PUBLIC parsed;
	TPM2B_PRIVATE parsed_priv;
	TPM2B_NAME name;
	struct skr_err err = { 0 };
	uint8_t auth[32];
	double t0, seal_ms, unseal_ms[5];

	policy_now(fx.signer, counter_now(), &p);
	t0 = now_ms();
	seal(fx.signer, &pub, &priv);
	seal_ms = now_ms() - t0;
	for (int i = 0; i < 5; i++) {
		t0 = now_ms();
		assert_unseals(&pub, &priv, &p, 1, 0);
		unseal_ms[i] = now_ms() - t0;
	}
	print_message("seal %.1f ms, unseal %.1f %.1f %.1f %.1f %.1f ms (swtpm)\n", seal_ms,
		      unseal_ms[0], unseal_ms[1], unseal_ms[2], unseal_ms[3], unseal_ms[4]);

	/* The sealed object is what the header says. */
	assert_ok(skr_local_blob_parse(pub.data, pub.len, priv.data, priv.len, &parsed, &parsed_priv,
				       &err),
		  err);
	assert_int_equal(parsed.publicArea.type, TPM2_ALG_KEYEDHASH);
	assert_int_equal(parsed.publicArea.objectAttributes, SKR_LOCAL_OBJECT_ATTRS);
	assert_false(parsed.publicArea.objectAttributes & TPMA_OBJECT_USERWITHAUTH);
	assert_ok(skr_local_signer_public(fx.signer, &(TPM2B_PUBLIC){ 0 }, &name, &err), err);
	assert_ok(skr_local_auth_policy(&name, auth, &err), err);
	assert_memory_equal(parsed.publicArea.authPolicy.buffer, auth, 32);

	/* The signer's public part alone is enough to unseal (and to seal). */
	{
		_cleanup_buf_ struct skr_buf der = { 0 };
		EVP_PKEY *pub_only = NULL;
		uint8_t out[SKR_LOCAL_MAX_SECRET];
		size_t len, used;

		assert_ok(skr_local_signer_public_der(fx.signer, &der, &err), err);
		assert_ok(skr_local_signer_public_parse(der.data, der.len, &pub_only, &err), err);
		assert_ok(skr_local_unseal(fx.tpm, &pub, &priv, pub_only, fx.nv, &p, 1, out, &len,
					   &used, &err),
			  err);
		assert_memory_equal(out, secret32, sizeof(secret32));
		EVP_PKEY_free(pub_only);
	}
}

static void test_seal_sizes(void **state)
{
	_cleanup_buf_ struct skr_buf pub = { 0 }, priv = { 0 };
	struct skr_local_policy p;
	struct skr_err err = { 0 };
	uint8_t big[SKR_LOCAL_MAX_SECRET + 1], out[SKR_LOCAL_MAX_SECRET];
	size_t len = 0, used = 0;
	EVP_PKEY *rsa;

	assert_int_equal(RAND_bytes(big, sizeof(big)), 1);
	assert_ok(skr_local_seal(fx.tpm, fx.signer, big, SKR_LOCAL_MAX_SECRET, &pub, &priv, &err),
		  err);
	policy_now(fx.signer, counter_now(), &p);
	assert_ok(skr_local_unseal(fx.tpm, &pub, &priv, fx.signer, fx.nv, &p, 1, out, &len, &used,
				   &err),
		  err);
	assert_int_equal(len, SKR_LOCAL_MAX_SECRET);
	assert_memory_equal(out, big, len);

	skr_buf_free(&pub);
	skr_buf_free(&priv);
	assert_failed_with(skr_local_seal(fx.tpm, fx.signer, big, sizeof(big), &pub, &priv, &err),
			   err, SKR_R_usage, "1 to 128 bytes");
	skr_err_clear(&err);
	assert_failed_with(skr_local_seal(fx.tpm, fx.signer, big, 0, &pub, &priv, &err), err,
			   SKR_R_usage, NULL);
	skr_err_clear(&err);
	rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	assert_non_null(rsa);
	assert_failed_with(skr_local_seal(fx.tpm, rsa, big, 32, &pub, &priv, &err), err,
			   SKR_R_unsupported, "not ECC P-256");
	EVP_PKEY_free(rsa);
	assert_null(pub.data);
	assert_null(priv.data);
}

/* ---- Reseal: a new PCR policy instead of a new object ---------------------------------- */

static void test_pcr_change_and_reseal(void **state)
{
	_cleanup_buf_ struct skr_buf pub = { 0 }, priv = { 0 };
	struct skr_local_policy p[2], old, fresh;
	uint64_t epoch = counter_now();

	policy_now(fx.signer, epoch, &old);
	seal(fx.signer, &pub, &priv);
	assert_unseals(&pub, &priv, &old, 1, 0);

	/* The boot state changes: the old policy no longer opens it. */
	extend_pcr16("skr local seal test: new kernel");
	assert_refused(&pub, &priv, fx.signer, &old, 1, SKR_R_pcr_mismatch,
		       "sha256 PCRs 0,7,15,16 are not those the policy was signed for");

	/* Reseal = sign the new values; the object stays as it is. */
	policy_now(fx.signer, epoch, &fresh);
	p[0] = fresh;
	p[1] = old;
	assert_unseals(&pub, &priv, p, 2, 0);
	p[0] = old;
	p[1] = fresh;
	assert_unseals(&pub, &priv, p, 2, 1);
}

static void test_revocation(void **state)
{
	_cleanup_buf_ struct skr_buf pub = { 0 }, priv = { 0 };
	struct skr_local_policy p[2], old, fresh;
	struct skr_err err = { 0 };
	uint64_t c = counter_now(), after = 0;
	char want[128];

	/* Both valid until the counter passes the old epoch. */
	policy_now(fx.signer, c, &old);
	policy_now(fx.signer, c + 1, &fresh);
	seal(fx.signer, &pub, &priv);
	assert_unseals(&pub, &priv, &old, 1, 0);
	assert_unseals(&pub, &priv, &fresh, 1, 0);

	assert_ok(skr_local_counter_increment(fx.tpm, fx.nv, &after, &err), err);
	assert_int_equal(after, c + 1);
	snprintf(want, sizeof(want), "is %llu, above its epoch %llu", (unsigned long long)(c + 1),
		 (unsigned long long)c);
	assert_refused(&pub, &priv, fx.signer, &old, 1, SKR_R_local_policy_revoked, want);
	p[0] = old;
	p[1] = fresh;
	assert_unseals(&pub, &priv, p, 2, 1);
	assert_unseals(&pub, &priv, &fresh, 1, 0);

	/* Once more: nothing left. */
	assert_ok(skr_local_counter_increment(fx.tpm, fx.nv, &after, &err), err);
	assert_refused(&pub, &priv, fx.signer, p, 2, SKR_R_local_policy_revoked, "policy 1 of 2");
}

/* ---- Refusals ---------------------------------------------------------------------------- */

static void test_other_signer(void **state)
{
	_cleanup_buf_ struct skr_buf pub = { 0 }, priv = { 0 }, pub2 = { 0 }, priv2 = { 0 };
	struct skr_local_policy good, forged, p[2];
	uint64_t epoch = counter_now();

	policy_now(fx.signer, epoch, &good);
	policy_now(fx.other, epoch, &forged);
	seal(fx.signer, &pub, &priv);
	/* A policy signed by another key does not verify with the reseal key. */
	assert_refused(&pub, &priv, fx.signer, &forged, 1, SKR_R_local_policy_signature_invalid,
		       "does not verify with the reseal key");
	/* Naming the other key as the signer: the object is not bound to it. */
	assert_refused(&pub, &priv, fx.other, &forged, 1, SKR_R_local_policy_mismatch,
		       "bound to another reseal key");
	p[0] = forged;
	p[1] = good;
	assert_unseals(&pub, &priv, p, 2, 1);

	/* An object sealed for the other key is not opened by policies of ours. */
	seal(fx.other, &pub2, &priv2);
	assert_refused(&pub2, &priv2, fx.signer, &good, 1, SKR_R_local_policy_mismatch, NULL);
}

static void test_tampered_policy(void **state)
{
	_cleanup_buf_ struct skr_buf pub = { 0 }, priv = { 0 };
	struct skr_local_policy good, bad, p[3];
	struct skr_err err = { 0 };
	TPM2B_NAME fake = { .size = 34 };
	uint8_t digest[32];
	uint64_t epoch = counter_now();

	policy_now(fx.signer, epoch, &good);
	seal(fx.signer, &pub, &priv);

	bad = good;
	bad.approved[5] ^= 1;
	assert_refused(&pub, &priv, fx.signer, &bad, 1, SKR_R_local_policy_signature_invalid, NULL);
	bad = good;
	bad.signature[40] ^= 1;
	assert_refused(&pub, &priv, fx.signer, &bad, 1, SKR_R_local_policy_signature_invalid, NULL);
	bad = good;
	memset(bad.signature, 0, 32);	/* r = 0 */
	assert_refused(&pub, &priv, fx.signer, &bad, 1, SKR_R_local_policy_signature_invalid, NULL);

	/* Fields changed under a valid signature: the TPM's digest differs from approved. */
	bad = good;
	bad.epoch = epoch + 1000;	/* "never revoke" */
	assert_refused(&pub, &priv, fx.signer, &bad, 1, SKR_R_local_policy_mismatch,
		       "TPM2_PolicyAuthorize");
	bad = good;
	bad.pcr_digest[0] ^= 1;
	assert_refused(&pub, &priv, fx.signer, &bad, 1, SKR_R_pcr_mismatch, NULL);
	bad = good;
	bad.pcr_mask = (1u << 0) | SKR_LOCAL_GATE_MASK;
	assert_refused(&pub, &priv, fx.signer, &bad, 1, SKR_R_pcr_mismatch, "PCRs 0,15 are");
	/* The gate taken out of the mask: not even tried (and its approved digest differs). */
	bad = good;
	bad.pcr_mask &= ~SKR_LOCAL_GATE_MASK;
	assert_refused(&pub, &priv, fx.signer, &bad, 1, SKR_R_local_policy_mismatch,
		       "does not require PCR 15 at zero");
	bad = good;
	bad.pcr_mask = 0;
	assert_refused(&pub, &priv, fx.signer, &bad, 1, SKR_R_malformed, NULL);

	/* Validly signed, but for another counter's Name. */
	memcpy(fake.name, "\x00\x0b", 2);
	pcr_digest_now(MASK, digest);
	assert_ok(skr_local_policy_sign(fx.signer, &fake, MASK, digest, epoch, &bad, &err), err);
	assert_refused(&pub, &priv, fx.signer, &bad, 1, SKR_R_local_policy_mismatch, NULL);

	/* Several failures: the one that got furthest is reported, good ones still win. */
	p[0] = good;
	p[0].signature[0] ^= 1;		/* fails at the signature */
	p[1] = good;
	p[1].pcr_digest[1] ^= 1;	/* fails at the PCRs */
	p[2] = bad;			/* fails at PolicyAuthorize */
	assert_refused(&pub, &priv, fx.signer, p, 2, SKR_R_pcr_mismatch, "policy 2 of 2:");
	assert_refused(&pub, &priv, fx.signer, p, 3, SKR_R_local_policy_mismatch, "policy 3 of 3:");
	p[1] = good;
	assert_unseals(&pub, &priv, p, 3, 1);
}

static void test_missing_counter(void **state)
{
	_cleanup_buf_ struct skr_buf pub = { 0 }, priv = { 0 };
	struct skr_local_policy p;
	struct skr_err err = { 0 };
	uint8_t out[SKR_LOCAL_MAX_SECRET];
	size_t len, used;

	policy_now(fx.signer, counter_now(), &p);
	seal(fx.signer, &pub, &priv);
	assert_failed_with(skr_local_unseal(fx.tpm, &pub, &priv, fx.signer,
					    SKR_LOCAL_NV_FIRST + SKR_LOCAL_NV_COUNT - 1, &p, 1, out,
					    &len, &used, &err),
			   err, SKR_R_tpm_nv_undefined, "is not defined");
	skr_err_clear(&err);
	assert_failed_with(skr_local_unseal(fx.tpm, &pub, &priv, fx.signer, fx.nv, &p, 0, out, &len,
					    &used, &err),
			   err, SKR_R_usage, NULL);
}

static void test_blobs(void **state)
{
	_cleanup_buf_ struct skr_buf pub = { 0 }, priv = { 0 };
	struct skr_buf bad = { 0 };
	struct skr_local_policy p;
	struct skr_err err = { 0 };
	TPM2B_PUBLIC tp;
	TPM2B_PRIVATE ts;
	uint8_t buf[sizeof(TPM2B_PUBLIC)], out[SKR_LOCAL_MAX_SECRET];
	size_t off = 0, len, used;

	policy_now(fx.signer, counter_now(), &p);
	seal(fx.signer, &pub, &priv);
	assert_ok(skr_local_blob_parse(pub.data, pub.len, priv.data, priv.len, &tp, &ts, &err), err);

	/* Truncated, trailing bytes, empty. */
	assert_failed_with(skr_local_blob_parse(pub.data, pub.len - 1, priv.data, priv.len, &tp, &ts,
						&err),
			   err, SKR_R_malformed, "public part");
	skr_err_clear(&err);
	assert_ok(skr_buf_set(&bad, priv.data, priv.len + 1, &err), err);
	assert_failed_with(skr_local_blob_parse(pub.data, pub.len, bad.data, bad.len, &tp, &ts, &err),
			   err, SKR_R_malformed, "private part");
	skr_buf_free(&bad);
	skr_err_clear(&err);
	assert_failed_with(skr_local_blob_parse(pub.data, pub.len, priv.data, 0, &tp, &ts, &err), err,
			   SKR_R_malformed, NULL);
	skr_err_clear(&err);

	/* A public part with userWithAuth (a password would unseal it) is refused up front. */
	assert_ok(skr_local_blob_parse(pub.data, pub.len, priv.data, priv.len, &tp, &ts, &err), err);
	tp.publicArea.objectAttributes |= TPMA_OBJECT_USERWITHAUTH;
	assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Marshal(&tp, buf, sizeof(buf), &off), TSS2_RC_SUCCESS);
	assert_failed_with(skr_local_blob_parse(buf, off, priv.data, priv.len, &tp, &ts, &err), err,
			   SKR_R_malformed, "not an skr sealed data object");
	skr_err_clear(&err);

	/* An altered private part does not load (its integrity HMAC), and nothing stays loaded. */
	assert_ok(skr_buf_set(&bad, priv.data, priv.len, &err), err);
	bad.data[bad.len - 3] ^= 1;
	assert_failed_with(skr_local_unseal(fx.tpm, &pub, &bad, fx.signer, fx.nv, &p, 1, out, &len,
					    &used, &err),
			   err, SKR_R_tpm_error, "sealed in another TPM, or altered");
	skr_buf_free(&bad);
}

static void test_other_tpm(void **state)
{
	_cleanup_buf_ struct skr_buf pub = { 0 }, priv = { 0 };
	struct skr_local_policy p;
	struct skr_err err = { 0 };
	uint8_t out[SKR_LOCAL_MAX_SECRET];
	size_t len, used;
	uint32_t nv2, n = 99;
	uint64_t v2;

	policy_now(fx.signer, counter_now(), &p);
	seal(fx.signer, &pub, &priv);
	assert_ok(skr_swtpm_start(&fx.other_swtpm, &err), err);
	assert_ok(skr_tpm_open(fx.other_swtpm->tcti, &fx.other_tpm, &err), err);
	assert_ok(skr_local_counter_create(fx.other_tpm, &nv2, &v2, &err), err);
	assert_int_equal(nv2, fx.nv);
	assert_failed_with(skr_local_unseal(fx.other_tpm, &pub, &priv, fx.signer, nv2, &p, 1, out,
					    &len, &used, &err),
			   err, SKR_R_tpm_error, "TPM2_Load");
	skr_err_clear(&err);
	assert_ok(skr_tpm_count_transient(fx.other_tpm, &n, &err), err);
	assert_int_equal(n, 0);
}

/* ---- The boot gate ------------------------------------------------------------------------ */

/* TPM2_PCR_Event on PCR 15 of the other swtpm, as skr_gate_measure does after an open. */
static void gate_event(const char *event)
{
	TPM2B_EVENT data = { .size = (UINT16)strlen(event) };
	TPML_DIGEST_VALUES *digests = NULL;

	memcpy(data.buffer, event, data.size);
	assert_int_equal(Esys_PCR_Event(fx.other_tpm->esys, ESYS_TR_PCR15, ESYS_TR_PASSWORD,
					ESYS_TR_NONE, ESYS_TR_NONE, &data, &digests),
			 TSS2_RC_SUCCESS);
	Esys_Free(digests);
}

/* A reboot of the other swtpm: TPM2_Shutdown, then its INIT (swtpm_ioctl -i) and Startup. */
static void power_cycle_other(void)
{
	char cmd[128];
	TSS2_RC rc;

	assert_int_equal(Esys_Shutdown(fx.other_tpm->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				       TPM2_SU_CLEAR),
			 TSS2_RC_SUCCESS);
	snprintf(cmd, sizeof(cmd), "swtpm_ioctl --tcp 127.0.0.1:%d -i >/dev/null",
		 fx.other_swtpm->port + 1);
	assert_int_equal(system(cmd), 0);
	rc = Esys_Startup(fx.other_tpm->esys, TPM2_SU_CLEAR);
	/* swtpm's startup-clear flag may have sent it already. */
	assert_true(rc == TSS2_RC_SUCCESS || (rc & 0xFFF) == TPM2_RC_INITIALIZE);
}

/*
 * A fresh swtpm (PCR 15 zero, as in an initramfs before any open): the copy
 * unseals; after the event a passphrase open records, the TPM itself refuses
 * (TPM2_PolicyPCR: TPM_RC_VALUE), reported as boot_gate_closed, also for a
 * policy signed afterwards for the same PCRs.
 */
static void test_boot_gate(void **state)
{
	_cleanup_buf_ struct skr_buf pub = { 0 }, priv = { 0 };
	struct skr_pcr_banks *pcrs = calloc(1, sizeof(*pcrs));
	struct skr_local_policy p, later;
	struct skr_err err = { 0 };
	TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_NULL };
	TPML_PCR_SELECTION sel = { .count = 1 };
	TPM2B_DIGEST d = { .size = 32 };
	uint8_t digest[32], out[SKR_LOCAL_MAX_SECRET];
	size_t len = 0, used = 0;
	uint32_t nv;
	uint64_t v;
	ESYS_TR s = ESYS_TR_NONE;
	TSS2_RC rc;

	assert_non_null(pcrs);
	assert_ok(skr_swtpm_start(&fx.other_swtpm, &err), err);
	assert_ok(skr_tpm_open(fx.other_swtpm->tcti, &fx.other_tpm, &err), err);
	assert_ok(skr_local_counter_create(fx.other_tpm, &nv, &v, &err), err);
	assert_ok(skr_tpm_pcr_read(fx.other_tpm, MASK, pcrs, &err), err);
	assert_ok(skr_local_pcr_digest(pcrs, MASK, digest, &err), err);
	assert_ok(skr_local_policy_make(fx.other_tpm, fx.signer, nv, MASK, digest, v, &p, &err), err);
	assert_ok(skr_local_seal(fx.other_tpm, fx.signer, secret32, sizeof(secret32), &pub, &priv,
				 &err),
		  err);
	assert_ok(skr_local_unseal(fx.other_tpm, &pub, &priv, fx.signer, nv, &p, 1, out, &len, &used,
				   &err),
		  err);
	assert_memory_equal(out, secret32, sizeof(secret32));

	gate_event("skr/v1 opened method=passphrase");
	assert_failed_with(skr_local_unseal(fx.other_tpm, &pub, &priv, fx.signer, nv, &p, 1, out,
					    &len, &used, &err),
			   err, SKR_R_boot_gate_closed, "TPM2_PolicyPCR");
	assert_non_null(strstr(err.detail, "PCR 15 is not zero"));
	assert_true(skr_is_zero(out, sizeof(out)));
	skr_err_clear(&err);

	/* The refusal is the TPM's: the signed pcrDigest in a policy session of its own. */
	sel.pcrSelections[0].hash = TPM2_ALG_SHA256;
	sel.pcrSelections[0].sizeofSelect = 3;
	sel.pcrSelections[0].pcrSelect[0] = MASK & 0xFF;
	sel.pcrSelections[0].pcrSelect[1] = (MASK >> 8) & 0xFF;
	sel.pcrSelections[0].pcrSelect[2] = (MASK >> 16) & 0xFF;
	memcpy(d.buffer, p.pcr_digest, 32);
	assert_int_equal(Esys_StartAuthSession(fx.other_tpm->esys, ESYS_TR_NONE, ESYS_TR_NONE,
					       ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, NULL,
					       TPM2_SE_POLICY, &sym, TPM2_ALG_SHA256, &s),
			 TSS2_RC_SUCCESS);
	rc = Esys_PolicyPCR(fx.other_tpm->esys, s, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &d, &sel);
	assert_int_equal(rc & 0xFFF & ~TPM2_RC_P & ~TPM2_RC_1, TPM2_RC_VALUE);
	assert_int_equal(Esys_FlushContext(fx.other_tpm->esys, s), TSS2_RC_SUCCESS);

	/* Signing this boot's PCRs now gives the same policy (PCR 15 counts as zero): refused too. */
	assert_ok(skr_tpm_pcr_read(fx.other_tpm, MASK, pcrs, &err), err);
	assert_ok(skr_local_pcr_digest(pcrs, MASK, digest, &err), err);
	assert_memory_equal(digest, p.pcr_digest, 32);
	assert_ok(skr_local_policy_make(fx.other_tpm, fx.signer, nv, MASK, digest, v + 1, &later,
					&err),
		  err);
	assert_failed_with(skr_local_unseal(fx.other_tpm, &pub, &priv, fx.signer, nv, &later, 1, out,
					    &len, &used, &err),
			   err, SKR_R_boot_gate_closed, NULL);
	skr_err_clear(&err);

	/* A fresh boot (power cycle: PCR 15 back to zero) unseals again ... */
	power_cycle_other();
	assert_ok(skr_local_unseal(fx.other_tpm, &pub, &priv, fx.signer, nv, &p, 1, out, &len, &used,
				   &err),
		  err);
	/* ... until the initramfs hands over, even with nothing opened. */
	gate_event("skr/v1 handover");
	assert_failed_with(skr_local_unseal(fx.other_tpm, &pub, &priv, fx.signer, nv, &p, 1, out,
					    &len, &used, &err),
			   err, SKR_R_boot_gate_closed, NULL);
	skr_err_clear(&err);
	assert_ok(skr_local_counter_delete(fx.other_tpm, nv, &err), err);
	free(pcrs);
}

/*
 * local_copy.c on top: a copy with its own keyslot unseals; the same copy
 * seen as made before the gate (no keyslot) is refused, and commit deletes
 * its counter, which revokes its policies in the TPM.  On a swtpm of its
 * own (local_copy opens its own connection, and swtpm serves one at a time).
 */
static void test_local_copy_pre_gate(void **state)
{
	char dir[] = "/tmp/skr-local-copy-test.XXXXXX", key[300];
	struct skr_token t = { .key_id = "unit-key", .pcr_mask = (1u << 0) | (1u << 7) };
	struct skr_err err = { 0 };
	uint8_t *out = skr_secret_alloc(SKR_LOCAL_MAX_SECRET);
	size_t len = 0;
	bool changed = true;

	assert_non_null(out);
	assert_non_null(mkdtemp(dir));
	assert_int_equal(setenv("SKR_LOCAL_DIR", dir, 1), 0);
	assert_ok(skr_swtpm_start(&fx.other_swtpm, &err), err);
	t.keyslots[0] = 0;
	t.keyslots[1] = 1;
	t.n_keyslots = 2;
	assert_ok(skr_local_copy_enable(&t, fx.other_swtpm->tcti, secret32, sizeof(secret32), 1, &err),
		  err);
	assert_int_equal(t.local->keyslot, 1);
	assert_int_equal(t.local->n_policies, 1);
	assert_int_equal(t.local->policies[0].pcr_mask, t.pcr_mask | SKR_LOCAL_GATE_MASK);
	assert_ok(skr_local_copy_unseal(&t, fx.other_swtpm->tcti, out, &len, &err), err);
	assert_int_equal(len, sizeof(secret32));
	assert_memory_equal(out, secret32, len);

	t.local->keyslot = -1;	/* as a token written before the gate reads */
	assert_failed_with(skr_local_copy_unseal(&t, fx.other_swtpm->tcti, out, &len, &err), err,
			   SKR_R_local_policy_mismatch, "made before the boot gate");
	skr_err_clear(&err);
	assert_failed_with(skr_local_copy_commit(&t, fx.other_swtpm->tcti, &changed, &err), err,
			   SKR_R_local_policy_mismatch, "its counter at 0x");
	skr_err_clear(&err);
	assert_false(changed);
	/* The counter is gone: even with its keyslot back, the TPM unseals nothing. */
	t.local->keyslot = 1;
	assert_failed_with(skr_local_copy_unseal(&t, fx.other_swtpm->tcti, out, &len, &err), err,
			   SKR_R_tpm_nv_undefined, NULL);
	skr_err_clear(&err);
	/* --disable still works, and drops the keyslot from the token's list. */
	assert_ok(skr_local_copy_disable(&t, fx.other_swtpm->tcti, &err), err);
	assert_null(t.local);
	assert_int_equal(t.n_keyslots, 1);
	assert_int_equal(t.keyslots[0], 0);
	snprintf(key, sizeof(key), "%s/unit-key.pem", dir);
	assert_int_equal(access(key, F_OK), -1);
	assert_int_equal(rmdir(dir), 0);
	unsetenv("SKR_LOCAL_DIR");
	skr_secret_free(out);
}

/* ---- The TPM's own digests ---------------------------------------------------------------- */

static void get_digest(ESYS_TR session, uint8_t out[32])
{
	TPM2B_DIGEST *d = NULL;

	assert_int_equal(Esys_PolicyGetDigest(fx.tpm->esys, session, ESYS_TR_NONE, ESYS_TR_NONE,
					      ESYS_TR_NONE, &d),
			 TSS2_RC_SUCCESS);
	assert_int_equal(d->size, 32);
	memcpy(out, d->buffer, 32);
	Esys_Free(d);
}

static ESYS_TR start(TPM2_SE type)
{
	TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_NULL };
	ESYS_TR s = ESYS_TR_NONE;

	assert_int_equal(Esys_StartAuthSession(fx.tpm->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					       ESYS_TR_NONE, ESYS_TR_NONE, NULL, type, &sym,
					       TPM2_ALG_SHA256, &s),
			 TSS2_RC_SUCCESS);
	return s;
}

static void policy_pcr_nv(ESYS_TR s, ESYS_TR nv, const uint8_t *pcr_digest, uint64_t epoch)
{
	TPML_PCR_SELECTION sel = { .count = 1 };
	TPM2B_DIGEST d = { .size = pcr_digest ? 32 : 0 };
	TPM2B_OPERAND operand = { .size = 8 };

	sel.pcrSelections[0].hash = TPM2_ALG_SHA256;
	sel.pcrSelections[0].sizeofSelect = 3;
	sel.pcrSelections[0].pcrSelect[0] = MASK & 0xFF;
	sel.pcrSelections[0].pcrSelect[1] = (MASK >> 8) & 0xFF;
	sel.pcrSelections[0].pcrSelect[2] = (MASK >> 16) & 0xFF;
	if (pcr_digest)
		memcpy(d.buffer, pcr_digest, 32);
	assert_int_equal(Esys_PolicyPCR(fx.tpm->esys, s, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &d,
					&sel),
			 TSS2_RC_SUCCESS);
	for (int i = 7; i >= 0; i--, epoch >>= 8)
		operand.buffer[i] = (uint8_t)epoch;
	assert_int_equal(Esys_PolicyNV(fx.tpm->esys, nv, nv, s, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				       ESYS_TR_NONE, &operand, 0, TPM2_EO_UNSIGNED_LE),
			 TSS2_RC_SUCCESS);
}

static void test_digests_match_tpm(void **state)
{
	_cleanup_buf_ struct skr_buf pub = { 0 }, priv = { 0 };
	struct skr_local_policy p;
	struct skr_err err = { 0 };
	TPM2B_NAME nv_name, signer_name;
	TPM2B_PUBLIC signer_pub, obj;
	TPM2B_PRIVATE obj_priv;
	TPMT_TK_VERIFIED null_ticket = { .tag = TPM2_ST_VERIFIED, .hierarchy = TPM2_RH_NULL };
	TPM2B_DIGEST approved = { .size = 32 };
	TPM2B_NONCE ref = { .size = 9 };
	uint8_t pcr_digest[32], tpm[32], soft[32];
	uint64_t epoch = counter_now() + 7;
	ESYS_TR nv, s;

	pcr_digest_now(MASK, pcr_digest);
	assert_ok(skr_local_counter_name(fx.tpm, fx.nv, &nv_name, &err), err);
	assert_ok(skr_local_policy_digest(MASK, pcr_digest, &nv_name, epoch, soft, &err), err);
	assert_int_equal(Esys_TR_FromTPMPublic(fx.tpm->esys, fx.nv, ESYS_TR_NONE, ESYS_TR_NONE,
					       ESYS_TR_NONE, &nv),
			 TSS2_RC_SUCCESS);

	/* Trial session: PolicyPCR + PolicyNV = approved. */
	s = start(TPM2_SE_TRIAL);
	policy_pcr_nv(s, nv, pcr_digest, epoch);
	get_digest(s, tpm);
	assert_memory_equal(tpm, soft, 32);

	/* ... then PolicyAuthorize = the sealed object's authPolicy. */
	assert_ok(skr_local_signer_public(fx.signer, &signer_pub, &signer_name, &err), err);
	memcpy(approved.buffer, soft, 32);
	memcpy(ref.buffer, SKR_LOCAL_POLICY_REF, 9);
	assert_int_equal(Esys_PolicyAuthorize(fx.tpm->esys, s, ESYS_TR_NONE, ESYS_TR_NONE,
					      ESYS_TR_NONE, &approved, &ref, &signer_name,
					      &null_ticket),
			 TSS2_RC_SUCCESS);
	get_digest(s, tpm);
	assert_ok(skr_local_auth_policy(&signer_name, soft, &err), err);
	assert_memory_equal(tpm, soft, 32);
	seal(fx.signer, &pub, &priv);
	assert_ok(skr_local_blob_parse(pub.data, pub.len, priv.data, priv.len, &obj, &obj_priv, &err),
		  err);
	assert_memory_equal(obj.publicArea.authPolicy.buffer, soft, 32);
	assert_int_equal(Esys_FlushContext(fx.tpm->esys, s), TSS2_RC_SUCCESS);

	/*
	 * A real session with the TPM's own PCR values (empty pcrDigest) gives
	 * approved too.  nv is closed before skr looks the counter up (its
	 * handle is ESYS's shared one: tpm_int.h).
	 */
	s = start(TPM2_SE_POLICY);
	policy_pcr_nv(s, nv, NULL, epoch);
	get_digest(s, tpm);
	assert_int_equal(Esys_TR_Close(fx.tpm->esys, &nv), TSS2_RC_SUCCESS);
	assert_ok(skr_local_policy_make(fx.tpm, fx.signer, fx.nv, MASK, pcr_digest, epoch, &p, &err),
		  err);
	assert_memory_equal(tpm, p.approved, 32);
	assert_int_equal(Esys_FlushContext(fx.tpm->esys, s), TSS2_RC_SUCCESS);

	/* The signer's Name as the TPM computes it on TPM2_LoadExternal. */
	{
		TPM2B_NAME *name = NULL;
		ESYS_TR k;

		assert_int_equal(Esys_LoadExternal(fx.tpm->esys, ESYS_TR_NONE, ESYS_TR_NONE,
						   ESYS_TR_NONE, NULL, &signer_pub, ESYS_TR_RH_OWNER,
						   &k),
				 TSS2_RC_SUCCESS);
		assert_int_equal(Esys_TR_GetName(fx.tpm->esys, k, &name), TSS2_RC_SUCCESS);
		assert_int_equal(name->size, signer_name.size);
		assert_memory_equal(name->name, signer_name.name, signer_name.size);
		Esys_Free(name);
		assert_int_equal(Esys_FlushContext(fx.tpm->esys, k), TSS2_RC_SUCCESS);
	}
}

/* ---- The counter ------------------------------------------------------------------------- */

static void test_counter(void **state)
{
	struct skr_err err = { 0 };
	uint32_t idx, again;
	uint64_t v, r, high;
	TPM2B_NAME n1, n2;

	assert_ok(skr_local_counter_create(fx.tpm, &idx, &v, &err), err);
	assert_int_equal(idx, fx.nv + 1);	/* the next free index of the block */
	assert_true(v >= 1);
	assert_ok(skr_local_counter_read(fx.tpm, idx, &r, &err), err);
	assert_int_equal(r, v);
	assert_ok(skr_local_counter_increment(fx.tpm, idx, &r, &err), err);
	assert_int_equal(r, v + 1);
	assert_ok(skr_local_counter_increment(fx.tpm, idx, &high, &err), err);
	assert_int_equal(high, v + 2);
	assert_ok(skr_local_counter_read(fx.tpm, idx, &r, &err), err);
	assert_int_equal(r, high);
	assert_ok(skr_local_counter_name(fx.tpm, idx, &n1, &err), err);

	assert_ok(skr_local_counter_delete(fx.tpm, idx, &err), err);
	assert_failed_with(skr_local_counter_read(fx.tpm, idx, &r, &err), err,
			   SKR_R_tpm_nv_undefined, "is not defined");
	skr_err_clear(&err);
	assert_failed_with(skr_local_counter_delete(fx.tpm, idx, &err), err,
			   SKR_R_tpm_nv_undefined, NULL);
	skr_err_clear(&err);

	/* Re-created at the same index: same Name, but the value never goes back. */
	assert_ok(skr_local_counter_create(fx.tpm, &again, &r, &err), err);
	assert_int_equal(again, idx);
	assert_true(r > high);
	assert_ok(skr_local_counter_name(fx.tpm, again, &n2, &err), err);
	assert_memory_equal(n1.name, n2.name, 34);
	assert_ok(skr_local_counter_delete(fx.tpm, again, &err), err);
}

static void test_counter_foreign_index(void **state)
{
	TPM2B_NV_PUBLIC info = {
		.nvPublic = {
			.nvIndex = fx.nv + 1,
			.nameAlg = TPM2_ALG_SHA256,
			.attributes = TPMA_NV_OWNERWRITE | TPMA_NV_OWNERREAD | TPMA_NV_AUTHREAD |
				      TPMA_NV_AUTHWRITE | TPMA_NV_NO_DA,
			.dataSize = 8,
		},
	};
	TPM2B_AUTH auth = { 0 };
	struct skr_err err = { 0 };
	uint8_t digest[32] = { 0 };
	struct skr_local_policy p;
	uint32_t idx;
	uint64_t v;
	ESYS_TR nv;

	/*
	 * An ordinary index anyone can write sits in the block.  No ESYS handle
	 * of it is held across skr's calls: ESYS shares one per TPM handle, and
	 * skr closes the ones it looked up (tpm_int.h).
	 */
	assert_int_equal(Esys_NV_DefineSpace(fx.tpm->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD,
					     ESYS_TR_NONE, ESYS_TR_NONE, &auth, &info, &nv),
			 TSS2_RC_SUCCESS);
	assert_int_equal(Esys_TR_Close(fx.tpm->esys, &nv), TSS2_RC_SUCCESS);
	assert_failed_with(skr_local_counter_read(fx.tpm, fx.nv + 1, &v, &err), err,
			   SKR_R_unsupported, "not an skr counter");
	skr_err_clear(&err);
	assert_failed_with(skr_local_counter_delete(fx.tpm, fx.nv + 1, &err), err,
			   SKR_R_unsupported, NULL);
	skr_err_clear(&err);
	/* No policy is ever signed for it. */
	assert_failed_with(skr_local_policy_make(fx.tpm, fx.signer, fx.nv + 1, MASK, digest, 1, &p,
						 &err),
			   err, SKR_R_unsupported, NULL);
	skr_err_clear(&err);
	/* A new counter goes to the next free index. */
	assert_ok(skr_local_counter_create(fx.tpm, &idx, &v, &err), err);
	assert_int_equal(idx, fx.nv + 2);
	assert_ok(skr_local_counter_delete(fx.tpm, idx, &err), err);
	assert_int_equal(Esys_TR_FromTPMPublic(fx.tpm->esys, fx.nv + 1, ESYS_TR_NONE, ESYS_TR_NONE,
					       ESYS_TR_NONE, &nv),
			 TSS2_RC_SUCCESS);
	assert_int_equal(Esys_NV_UndefineSpace(fx.tpm->esys, ESYS_TR_RH_OWNER, nv, ESYS_TR_PASSWORD,
					       ESYS_TR_NONE, ESYS_TR_NONE),
			 TSS2_RC_SUCCESS);
	assert_failed_with(skr_local_counter_read(fx.tpm, 0x81000001, &v, &err), err, SKR_R_usage,
			   NULL);
}

/* ---- Software parts ------------------------------------------------------------------------ */

static void test_policy_marshal(void **state)
{
	struct skr_local_policy p, q;
	struct skr_err err = { 0 };
	uint8_t buf[SKR_LOCAL_POLICY_SIZE];

	policy_now(fx.signer, 0x0102030405060708ull, &p);
	skr_local_policy_marshal(&p, buf);
	assert_int_equal(buf[0], 1);
	assert_int_equal(buf[37], 0x01);	/* epoch, big-endian */
	assert_int_equal(buf[44], 0x08);
	assert_ok(skr_local_policy_parse(buf, sizeof(buf), &q, &err), err);
	assert_int_equal(q.pcr_mask, MASK);
	assert_int_equal(q.epoch, p.epoch);
	assert_memory_equal(&q.pcr_digest, p.pcr_digest, 32);
	assert_memory_equal(&q.approved, p.approved, 32);
	assert_memory_equal(&q.signature, p.signature, 64);

	assert_failed_with(skr_local_policy_parse(buf, sizeof(buf) - 1, &q, &err), err,
			   SKR_R_malformed, NULL);
	skr_err_clear(&err);
	buf[0] = 2;
	assert_failed_with(skr_local_policy_parse(buf, sizeof(buf), &q, &err), err, SKR_R_malformed,
			   "version 2");
	skr_err_clear(&err);
	buf[0] = 1;
	buf[1] = 0x01;	/* PCR 24 */
	assert_failed_with(skr_local_policy_parse(buf, sizeof(buf), &q, &err), err, SKR_R_malformed,
			   "above 23");
	skr_err_clear(&err);
	memset(buf + 1, 0, 4);
	assert_failed_with(skr_local_policy_parse(buf, sizeof(buf), &q, &err), err, SKR_R_malformed,
			   NULL);
}

static void test_policy_verify_software(void **state)
{
	struct skr_local_policy p, bad;
	struct skr_err err = { 0 };
	TPM2B_NAME name;

	policy_now(fx.signer, 5, &p);
	assert_ok(skr_local_counter_name(fx.tpm, fx.nv, &name, &err), err);
	assert_ok(skr_local_policy_verify(fx.signer, &name, &p, &err), err);
	assert_failed_with(skr_local_policy_verify(fx.other, &name, &p, &err), err,
			   SKR_R_local_policy_signature_invalid, NULL);
	skr_err_clear(&err);
	bad = p;
	bad.approved[0] ^= 1;
	assert_failed_with(skr_local_policy_verify(fx.signer, &name, &bad, &err), err,
			   SKR_R_local_policy_signature_invalid, NULL);
	skr_err_clear(&err);
	bad = p;
	bad.epoch++;
	assert_failed_with(skr_local_policy_verify(fx.signer, &name, &bad, &err), err,
			   SKR_R_local_policy_mismatch, NULL);
	skr_err_clear(&err);
	bad = p;
	bad.pcr_mask &= ~SKR_LOCAL_GATE_MASK;
	assert_failed_with(skr_local_policy_verify(fx.signer, &name, &bad, &err), err,
			   SKR_R_local_policy_mismatch, "boot gate");
	skr_err_clear(&err);
	/* skr signs no policy without the gate. */
	assert_failed_with(skr_local_policy_sign(fx.signer, &name, MASK & ~SKR_LOCAL_GATE_MASK,
						 p.pcr_digest, 5, &bad, &err),
			   err, SKR_R_usage, "leaves out PCR 15");
	skr_err_clear(&err);
	assert_failed_with(skr_local_policy_digest(MASK & ~SKR_LOCAL_GATE_MASK, p.pcr_digest, &name,
						   5, bad.approved, &err),
			   err, SKR_R_usage, "leaves out PCR 15");
	skr_err_clear(&err);
	name.name[10] ^= 1;
	assert_failed_with(skr_local_policy_verify(fx.signer, &name, &p, &err), err,
			   SKR_R_local_policy_mismatch, NULL);
}

static void test_pcr_digest(void **state)
{
	struct skr_pcr_banks *b = calloc(1, sizeof(*b));
	struct skr_err err = { 0 };
	uint8_t want[32], got[32], cat[96];

	const uint32_t gate = SKR_LOCAL_GATE_MASK;

	assert_non_null(b);
	b->count = 1;
	assert_ok(skr_pcr_bank_init(&b->bank[0], SKR_TPM_ALG_SHA256, &err), err);
	memset(b->bank[0].value[0], 0x11, 32);
	memset(b->bank[0].value[7], 0x77, 32);
	b->bank[0].extended_mask = (1u << 0) | (1u << 7);
	/* PCR 0, PCR 7, then PCR 15 as zero: its value in the bank (none here) does not count. */
	memset(cat, 0, sizeof(cat));
	memcpy(cat, b->bank[0].value[0], 32);
	memcpy(cat + 32, b->bank[0].value[7], 32);
	EVP_Digest(cat, sizeof(cat), want, NULL, EVP_sha256(), NULL);
	assert_ok(skr_local_pcr_digest(b, (1u << 0) | (1u << 7) | gate, got, &err), err);
	assert_memory_equal(got, want, 32);
	/* A moved PCR 15 (this boot's, read after an open) still gives the zero digest. */
	memset(b->bank[0].value[15], 0x55, 32);
	b->bank[0].extended_mask |= gate;
	assert_ok(skr_local_pcr_digest(b, (1u << 0) | (1u << 7) | gate, got, &err), err);
	assert_memory_equal(got, want, 32);
	/* Without the gate: no digest, no policy. */
	assert_failed_with(skr_local_pcr_digest(b, (1u << 0) | (1u << 7), got, &err), err, SKR_R_usage,
			   "leaves out PCR 15, the boot gate");
	skr_err_clear(&err);
	assert_failed_with(skr_local_pcr_digest(b, (1u << 0) | (1u << 8) | gate, got, &err), err,
			   SKR_R_usage, "PCR 8 has no sha256 value");
	skr_err_clear(&err);
	assert_failed_with(skr_local_pcr_digest(b, 0, got, &err), err, SKR_R_usage, NULL);
	skr_err_clear(&err);
	assert_ok(skr_pcr_bank_init(&b->bank[0], SKR_TPM_ALG_SHA1, &err), err);
	assert_failed_with(skr_local_pcr_digest(b, 1 | gate, got, &err), err, SKR_R_usage, "no sha256");
	free(b);
}

static void test_signer_files(void **state)
{
	char dir[] = "/tmp/skr-local-test.XXXXXX", path[300], bad[300];
	_cleanup_buf_ struct skr_buf der = { 0 };
	struct skr_err err = { 0 };
	EVP_PKEY *loaded = NULL, *pub = NULL, *p384;
	unsigned char *pem = NULL;
	struct stat st;
	BIO *bio;
	long pem_len;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/reseal.pem", dir);
	assert_ok(skr_local_signer_save(fx.signer, path, &err), err);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_ok(skr_local_signer_load(path, &loaded, &err), err);
	assert_int_equal(EVP_PKEY_eq(loaded, fx.signer), 1);
	/* Overwritten in place (rename). */
	assert_ok(skr_local_signer_save(fx.other, path, &err), err);
	EVP_PKEY_free(loaded);
	assert_ok(skr_local_signer_load(path, &loaded, &err), err);
	assert_int_equal(EVP_PKEY_eq(loaded, fx.other), 1);
	EVP_PKEY_free(loaded);

	/* The public key, DER and PEM. */
	assert_ok(skr_local_signer_public_der(fx.signer, &der, &err), err);
	assert_int_equal(der.len, 91);
	assert_ok(skr_local_signer_public_parse(der.data, der.len, &pub, &err), err);
	assert_int_equal(EVP_PKEY_eq(pub, fx.signer), 1);
	EVP_PKEY_free(pub);
	bio = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PUBKEY(bio, fx.signer), 1);
	pem_len = BIO_get_mem_data(bio, &pem);
	assert_ok(skr_local_signer_public_parse(pem, (size_t)pem_len, &pub, &err), err);
	assert_int_equal(EVP_PKEY_eq(pub, fx.signer), 1);
	EVP_PKEY_free(pub);
	BIO_free(bio);

	/* Only P-256; garbage is malformed; the directory must exist. */
	p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	assert_non_null(p384);
	assert_failed_with(skr_local_signer_save(p384, path, &err), err, SKR_R_unsupported, NULL);
	skr_err_clear(&err);
	skr_buf_free(&der);
	assert_int_equal(i2d_PUBKEY(p384, NULL) > 0, 1);
	{
		unsigned char *d = NULL;
		int n = i2d_PUBKEY(p384, &d);

		assert_failed_with(skr_local_signer_public_parse(d, (size_t)n, &pub, &err), err,
				   SKR_R_unsupported, NULL);
		OPENSSL_free(d);
	}
	skr_err_clear(&err);
	EVP_PKEY_free(p384);
	assert_failed_with(skr_local_signer_public_parse((const uint8_t *)"junk", 4, &pub, &err), err,
			   SKR_R_malformed, NULL);
	skr_err_clear(&err);
	snprintf(bad, sizeof(bad), "%s/junk.pem", dir);
	f = fopen(bad, "w");
	assert_non_null(f);
	fputs("not a key\n", f);
	fclose(f);
	assert_failed_with(skr_local_signer_load(bad, &loaded, &err), err, SKR_R_malformed, NULL);
	skr_err_clear(&err);
	snprintf(bad, sizeof(bad), "%s/missing/reseal.pem", dir);
	assert_failed_with(skr_local_signer_save(fx.signer, bad, &err), err, SKR_R_io, NULL);
	/* A public key cannot sign. */
	skr_err_clear(&err);
	{
		struct skr_local_policy p;
		TPM2B_NAME name;
		uint8_t digest[32] = { 0 };

		assert_ok(skr_local_counter_name(fx.tpm, fx.nv, &name, &err), err);
		assert_ok(skr_local_signer_public_der(fx.signer, &der, &err), err);
		assert_ok(skr_local_signer_public_parse(der.data, der.len, &pub, &err), err);
		assert_failed_with(skr_local_policy_sign(pub, &name, MASK, digest, 1, &p, &err), err,
				   SKR_R_usage, NULL);
		EVP_PKEY_free(pub);
	}

	snprintf(bad, sizeof(bad), "%s/junk.pem", dir);
	unlink(bad);
	unlink(path);
	assert_int_equal(rmdir(dir), 0);
}

/* ---- Owner authorisation ------------------------------------------------------------------- */

/* Last in the list: it sets an owner password (and clears it again). */
static void test_owner_auth(void **state)
{
	_cleanup_buf_ struct skr_buf pub = { 0 }, priv = { 0 }, pub2 = { 0 }, priv2 = { 0 };
	TPM2B_AUTH pw = { .size = 6, .buffer = "s3cret" }, empty = { 0 };
	struct skr_local_policy p;
	struct skr_err err = { 0 };
	uint8_t out[SKR_LOCAL_MAX_SECRET];
	size_t len, used;
	uint64_t v;
	uint32_t idx;
	ESYS_CONTEXT *e = fx.tpm->esys;

	policy_now(fx.signer, counter_now(), &p);
	seal(fx.signer, &pub, &priv);
	assert_int_equal(Esys_HierarchyChangeAuth(e, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
						  ESYS_TR_NONE, &pw),
			 TSS2_RC_SUCCESS);

	/* A process that does not know the owner password. */
	assert_int_equal(Esys_TR_SetAuth(e, ESYS_TR_RH_OWNER, &empty), TSS2_RC_SUCCESS);
	assert_failed_with(skr_local_unseal(fx.tpm, &pub, &priv, fx.signer, fx.nv, &p, 1, out, &len,
					    &used, &err),
			   err, SKR_R_tpm_error, "the owner hierarchy has an authorization value");
	skr_err_clear(&err);
	assert_failed_with(skr_local_seal(fx.tpm, fx.signer, secret32, 32, &pub2, &priv2, &err), err,
			   SKR_R_tpm_error, "TPM2_CreatePrimary");
	skr_err_clear(&err);
	assert_failed_with(skr_local_counter_increment(fx.tpm, fx.nv, &v, &err), err,
			   SKR_R_tpm_error, "the owner hierarchy has an authorization value");
	skr_err_clear(&err);
	assert_failed_with(skr_local_counter_create(fx.tpm, &idx, &v, &err), err, SKR_R_tpm_error,
			   "TPM2_NV_DefineSpace");
	skr_err_clear(&err);
	/* Reading the counter needs only the index's own (empty) auth. */
	assert_ok(skr_local_counter_read(fx.tpm, fx.nv, &v, &err), err);

	/* A caller that knows it sets it on the ESYS context. */
	assert_int_equal(Esys_TR_SetAuth(e, ESYS_TR_RH_OWNER, &pw), TSS2_RC_SUCCESS);
	assert_unseals(&pub, &priv, &p, 1, 0);
	assert_int_equal(Esys_HierarchyChangeAuth(e, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
						  ESYS_TR_NONE, &empty),
			 TSS2_RC_SUCCESS);
	assert_int_equal(Esys_TR_SetAuth(e, ESYS_TR_RH_OWNER, &empty), TSS2_RC_SUCCESS);
	assert_unseals(&pub, &priv, &p, 1, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_seal_unseal),
		T(test_seal_sizes),
		T(test_pcr_change_and_reseal),
		T(test_revocation),
		T(test_other_signer),
		T(test_tampered_policy),
		T(test_missing_counter),
		T(test_blobs),
		T(test_other_tpm),
		T(test_boot_gate),
		T(test_local_copy_pre_gate),
		T(test_digests_match_tpm),
		T(test_counter),
		T(test_counter_foreign_index),
		T(test_policy_marshal),
		T(test_policy_verify_software),
		T(test_pcr_digest),
		T(test_signer_files),
		T(test_owner_auth),
	};
	int failed;

	failed = cmocka_run_group_tests_name("local_seal", tests, group_setup, group_teardown);
	skr_swtpm_stop_all();
	return failed ? 1 : 0;
}
