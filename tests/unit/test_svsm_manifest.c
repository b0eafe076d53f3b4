/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SVSM vTPM variant's verifier side (src/verify/svsm_manifest.c): the
 * services manifest parser, the vTPM's EK, and the REPORT_DATA binding,
 * with one refusal per broken rule, each asserting its reason.
 *
 * The EKs are real: tests/vectors/svsm/ek-*.tpmt.hex are the TPMT_PUBLIC
 * areas swtpm's TPM2_CreatePrimary returned for the TCG EK templates L-1
 * (RSA-2048, what COCONUT-SVSM's vTPM makes) and L-2 (ECC P-256, which the
 * SVSM never makes and the verifier refuses).  The manifests are built here
 * the way COCONUT-SVSM's GuidTable::to_vec writes them.
 */
#include "testutil.h"
#include "svsm_build.h"

#include <openssl/evp.h>

#include "common/util.h"
#include "verify/svsm_manifest.h"
#include "verify/wrap_key.h"

#define CAP 2048

static const uint8_t nonce[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
				   17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };
static const uint8_t other_guid[16] = { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
					0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00 };

static struct skr_buf ek_rsa, ek_ecc;

#define svc skr_test_svsm_service

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

/* A manifest of n services, data back to back after the table; returns its length. */
static size_t build(uint8_t *blob, const struct svc *s, size_t n)
{
	size_t len = skr_test_svsm_manifest(blob, CAP, s, n);

	assert_true(len > 0);
	return len;
}

/* An empty service, then the vTPM: what a COCONUT-SVSM with one more service returns. */
static size_t good(uint8_t *blob)
{
	struct svc s[2] = { { other_guid, NULL, 0 }, { skr_svsm_vtpm_guid, ek_rsa.data, ek_rsa.len } };

	return build(blob, s, 2);
}

static uint8_t *entry(uint8_t *blob, size_t i)
{
	return blob + (i + 1) * SKR_SVSM_GUID_ENTRY_SIZE;
}

static int setup(void **state)
{
	(void)state;
	skr_test_read_hex_vector(VECTOR("svsm/ek-rsa2048.tpmt.hex"), &ek_rsa);
	skr_test_read_hex_vector(VECTOR("svsm/ek-ecc-p256.tpmt.hex"), &ek_ecc);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	skr_buf_free(&ek_rsa);
	skr_buf_free(&ek_ecc);
	return 0;
}

/* ---- parsing -------------------------------------------------------------- */

static void manifest_ok(void **state)
{
	uint8_t blob[CAP];
	size_t len = good(blob);
	struct skr_svsm_manifest m;
	struct skr_svsm_ek ek;
	struct skr_err err = { 0 };
	EVP_PKEY *pk = NULL;

	(void)state;
	assert_int_equal(ek_rsa.len, 314);	/* COCONUT-SVSM's DEFAULT_PUBLIC_AREA size */
	assert_ok(skr_svsm_manifest_parse(blob, len, &m, &err), err);
	assert_int_equal(m.count, 2);
	assert_null(m.entries[0].data);
	assert_ptr_equal(m.vtpm, &m.entries[1]);
	assert_int_equal(m.vtpm->size, ek_rsa.len);
	assert_ok(skr_svsm_vtpm_ek(SKR_SVSM_FORM_SERVICES, blob, len, &ek, &err), err);
	assert_ptr_equal(ek.tpmt, blob + 3 * SKR_SVSM_GUID_ENTRY_SIZE);
	assert_int_equal(ek.tpmt_len, 314);
	/* The EK is usable as the broker would use it (MakeCredential's key). */
	assert_ok(skr_tpm_public_to_pkey(&ek.pub, &pk, &err), err);
	assert_int_equal(EVP_PKEY_get_bits(pk), 2048);
	EVP_PKEY_free(pk);
	/* The single-service form is the EK alone. */
	assert_ok(skr_svsm_vtpm_ek(SKR_SVSM_FORM_SINGLE_VTPM, ek_rsa.data, ek_rsa.len, &ek, &err),
		  err);
	assert_int_equal(ek.pub.publicArea.type, TPM2_ALG_RSA);
}

static void manifest_truncated(void **state)
{
	uint8_t blob[CAP];
	size_t len = good(blob);
	struct skr_svsm_manifest m;
	struct skr_err err = { 0 };

	(void)state;
	assert_failed_with(skr_svsm_manifest_parse(blob, 23, &m, &err), err,
			   SKR_R_svsm_manifest_malformed, "shorter than its 24-byte header");
	skr_err_clear(&err);
	assert_failed_with(skr_svsm_manifest_parse(blob, 0, &m, &err), err,
			   SKR_R_svsm_manifest_malformed, "header");
	/* One byte lost at the end: the size field no longer matches. */
	skr_err_clear(&err);
	assert_failed_with(skr_svsm_manifest_parse(blob, len - 1, &m, &err), err,
			   SKR_R_svsm_manifest_malformed, "the header says");
	/* A header whose count needs more table than there is. */
	len = build(blob, NULL, 0);
	put32(blob + 20, 1);
	skr_err_clear(&err);
	assert_failed_with(skr_svsm_manifest_parse(blob, len, &m, &err), err,
			   SKR_R_svsm_manifest_malformed, "runs past");
	put32(blob + 20, 0xffffffffu);
	skr_err_clear(&err);
	assert_failed_with(skr_svsm_manifest_parse(blob, len, &m, &err), err,
			   SKR_R_svsm_manifest_malformed, "over 64");
	assert_int_equal(m.count, 0);
	assert_null(m.vtpm);
}

static void manifest_wrong_guid(void **state)
{
	uint8_t blob[CAP];
	size_t len = good(blob);
	struct skr_svsm_manifest m;
	struct skr_err err = { 0 };

	(void)state;
	blob[0] ^= 1;
	assert_failed_with(skr_svsm_manifest_parse(blob, len, &m, &err), err,
			   SKR_R_svsm_manifest_malformed, "63849ebb");
}

static void manifest_entry_out_of_bounds(void **state)
{
	uint8_t blob[CAP];
	size_t len = good(blob);
	struct skr_svsm_manifest m;
	struct skr_err err = { 0 };

	(void)state;
	/* The vTPM entry's data one byte past the end. */
	put32(entry(blob, 1) + 16, skr_le32(entry(blob, 1) + 16) + 1);
	assert_failed_with(skr_svsm_manifest_parse(blob, len, &m, &err), err,
			   SKR_R_svsm_manifest_malformed, "entry 1");
	/* An offset near 2^32: the sum must not wrap. */
	len = good(blob);
	put32(entry(blob, 1) + 16, 0xffffff00u);
	skr_err_clear(&err);
	assert_failed_with(skr_svsm_manifest_parse(blob, len, &m, &err), err,
			   SKR_R_svsm_manifest_malformed, "is outside");
	/* Data inside the entry table itself. */
	len = good(blob);
	put32(entry(blob, 1) + 16, 0);
	put32(entry(blob, 1) + 20, 8);
	skr_err_clear(&err);
	assert_failed_with(skr_svsm_manifest_parse(blob, len, &m, &err), err,
			   SKR_R_svsm_manifest_malformed, "is outside");
}

static void manifest_overlap(void **state)
{
	uint8_t blob[CAP];
	struct svc s[2] = { { other_guid, ek_ecc.data, 16 },
			    { skr_svsm_vtpm_guid, ek_rsa.data, ek_rsa.len } };
	size_t len = build(blob, s, 2);
	struct skr_svsm_manifest m;
	struct skr_err err = { 0 };

	(void)state;
	/* The first entry's data grows 8 bytes into the vTPM's. */
	put32(entry(blob, 0) + 20, 24);
	assert_failed_with(skr_svsm_manifest_parse(blob, len, &m, &err), err,
			   SKR_R_svsm_manifest_malformed, "overlap");
	/* Both entries on the same bytes. */
	len = build(blob, s, 2);
	memcpy(entry(blob, 0) + 16, entry(blob, 1) + 16, 8);
	skr_err_clear(&err);
	assert_failed_with(skr_svsm_manifest_parse(blob, len, &m, &err), err,
			   SKR_R_svsm_manifest_malformed, "overlap");
}

static void manifest_duplicate_and_gap(void **state)
{
	uint8_t blob[CAP];
	struct svc twice[2] = { { skr_svsm_vtpm_guid, ek_rsa.data, ek_rsa.len },
				{ skr_svsm_vtpm_guid, ek_rsa.data, ek_rsa.len } };
	size_t len = build(blob, twice, 2);
	struct skr_svsm_manifest m;
	struct skr_err err = { 0 };

	(void)state;
	assert_failed_with(skr_svsm_manifest_parse(blob, len, &m, &err), err,
			   SKR_R_svsm_manifest_malformed, "same GUID");
	/* Bytes that belong to no entry (hashed, yet said by nobody). */
	len = good(blob);
	put32(entry(blob, 1) + 20, (uint32_t)ek_rsa.len - 1);
	skr_err_clear(&err);
	assert_failed_with(skr_svsm_manifest_parse(blob, len, &m, &err), err,
			   SKR_R_svsm_manifest_malformed, "cover");
}

static void manifest_no_vtpm(void **state)
{
	uint8_t blob[CAP];
	struct svc s[1] = { { other_guid, ek_rsa.data, ek_rsa.len } };
	size_t len = build(blob, s, 1);
	struct skr_svsm_manifest m;
	struct skr_svsm_ek ek;
	struct skr_err err = { 0 };

	(void)state;
	assert_ok(skr_svsm_manifest_parse(blob, len, &m, &err), err);
	assert_null(m.vtpm);
	assert_failed_with(skr_svsm_vtpm_ek(SKR_SVSM_FORM_SERVICES, blob, len, &ek, &err), err,
			   SKR_R_svsm_no_vtpm, "c476f1eb");
	/* No service at all. */
	len = build(blob, NULL, 0);
	skr_err_clear(&err);
	assert_failed_with(skr_svsm_vtpm_ek(SKR_SVSM_FORM_SERVICES, blob, len, &ek, &err), err,
			   SKR_R_svsm_no_vtpm, "0 services");
}

static void ek_wrong_type(void **state)
{
	uint8_t blob[CAP], tpmt[400];
	struct svc s[1] = { { skr_svsm_vtpm_guid, ek_ecc.data, ek_ecc.len } };
	size_t len = build(blob, s, 1);
	struct skr_svsm_ek ek;
	struct skr_err err = { 0 };

	(void)state;
	/* A real ECC P-256 EK (template L-2): a valid TPMT_PUBLIC, not the type expected. */
	assert_failed_with(skr_svsm_vtpm_ek(SKR_SVSM_FORM_SERVICES, blob, len, &ek, &err), err,
			   SKR_R_svsm_ek_unsupported, "not RSA");
	assert_null(ek.tpmt);
	/* The RSA EK with one attribute changed (userWithAuth set): not template L-1. */
	memcpy(tpmt, ek_rsa.data, ek_rsa.len);
	tpmt[7] |= 0x40;
	skr_err_clear(&err);
	assert_failed_with(skr_svsm_ek_parse(tpmt, ek_rsa.len, &ek, &err), err,
			   SKR_R_svsm_ek_unsupported, "attributes 0x000300f2");
	/* A trailing byte after the TPMT_PUBLIC. */
	memcpy(tpmt, ek_rsa.data, ek_rsa.len);
	tpmt[ek_rsa.len] = 0;
	skr_err_clear(&err);
	assert_failed_with(skr_svsm_ek_parse(tpmt, ek_rsa.len + 1, &ek, &err), err,
			   SKR_R_svsm_ek_unsupported, "1 bytes after");
	/* Cut short, and empty. */
	skr_err_clear(&err);
	assert_failed_with(skr_svsm_ek_parse(tpmt, ek_rsa.len - 1, &ek, &err), err,
			   SKR_R_svsm_ek_unsupported, "not a TPMT_PUBLIC");
	skr_err_clear(&err);
	assert_failed_with(skr_svsm_ek_parse(NULL, 0, &ek, &err), err,
			   SKR_R_svsm_ek_unsupported, "0 bytes");
}

/* ---- the binding ---------------------------------------------------------- */

/* A report as the SVSM would get it for this manifest (already verified upstream). */
static void svsm_report(struct skr_snp_report *r, const uint8_t *manifest, size_t len)
{
	uint8_t svsm_nonce[64];
	struct skr_err err = { 0 };

	memset(r, 0, sizeof(*r));
	assert_ok(skr_svsm_nonce(nonce, sizeof(nonce), svsm_nonce, &err), err);
	assert_ok(skr_svsm_report_data(svsm_nonce, manifest, len, r->report_data, &err), err);
}

/* The binding against an independent one-shot SHA-512 of the spec's concatenation. */
static void binding_known_answer(void **state)
{
	uint8_t blob[CAP], cat[64 + CAP], svsm_nonce[64], want[64], got[64];
	size_t len = good(blob);
	unsigned int n = 0;
	struct skr_err err = { 0 };

	(void)state;
	memcpy(cat, SKR_SVSM_BIND_LABEL, 11);
	memcpy(cat + 11, nonce, 32);
	assert_true(EVP_Digest(cat, 43, want, &n, EVP_sha512(), NULL));
	assert_ok(skr_svsm_nonce(nonce, sizeof(nonce), svsm_nonce, &err), err);
	assert_memory_equal(svsm_nonce, want, 64);
	memcpy(cat, svsm_nonce, 64);
	memcpy(cat + 64, blob, len);
	assert_true(EVP_Digest(cat, 64 + len, want, &n, EVP_sha512(), NULL));
	assert_ok(skr_svsm_report_data(svsm_nonce, blob, len, got, &err), err);
	assert_memory_equal(got, want, 64);
	assert_failed_with(skr_svsm_nonce(nonce, 31, svsm_nonce, &err), err, SKR_R_malformed,
			   "not 32");
}

/* skr_svsm_report_check with a fresh err (the EK, when it passes, in ek_out if not NULL). */
static int check(const struct skr_snp_report *r, const uint8_t *n, enum skr_svsm_form form,
		 const uint8_t *manifest, size_t len, struct skr_svsm_ek *ek_out, struct skr_err *err)
{
	struct skr_svsm_ek ek;
	int rc;

	skr_err_clear(err);
	rc = skr_svsm_report_check(r, n, 32, form, manifest, len, &ek, err);
	if (rc < 0)
		assert_null(ek.tpmt);	/* nothing half-parsed is handed back */
	if (ek_out)
		*ek_out = ek;
	return rc;
}

static void binding_ok(void **state)
{
	uint8_t blob[CAP];
	size_t len = good(blob);
	struct skr_snp_report r;
	struct skr_svsm_ek ek;
	struct skr_err err = { 0 };

	(void)state;
	svsm_report(&r, blob, len);
	assert_ok(check(&r, nonce, SKR_SVSM_FORM_SERVICES, blob, len, &ek, &err), err);
	assert_memory_equal(ek.tpmt, ek_rsa.data, ek_rsa.len);
	/* The single-service form binds the EK alone. */
	svsm_report(&r, ek_rsa.data, ek_rsa.len);
	assert_ok(check(&r, nonce, SKR_SVSM_FORM_SINGLE_VTPM, ek_rsa.data, ek_rsa.len, NULL, &err),
		  err);
}

static void binding_refused(void **state)
{
	uint8_t blob[CAP], other_nonce[32];
	size_t len = good(blob);
	struct skr_snp_report r;
	struct skr_err err = { 0 };

	(void)state;
	svsm_report(&r, blob, len);
	/* Another nonce (a replayed report). */
	memcpy(other_nonce, nonce, 32);
	other_nonce[31] ^= 1;
	assert_failed_with(check(&r, other_nonce, SKR_SVSM_FORM_SERVICES, blob, len, NULL, &err),
			   err, SKR_R_svsm_binding_mismatch, "SHA-512(nonce || manifest)");
	/* The manifest changed by one byte: the last byte of the EK's modulus. */
	blob[len - 1] ^= 0x80;
	assert_failed_with(check(&r, nonce, SKR_SVSM_FORM_SERVICES, blob, len, NULL, &err), err,
			   SKR_R_svsm_binding_mismatch, NULL);
	/* The right manifest read in the wrong form. */
	blob[len - 1] ^= 0x80;
	assert_failed_with(check(&r, nonce, SKR_SVSM_FORM_SINGLE_VTPM, blob, len, NULL, &err), err,
			   SKR_R_svsm_ek_unsupported, NULL);
	/* A report the guest OS asked for itself (VMPL > 0) with the same REPORT_DATA. */
	r.vmpl = 2;
	assert_failed_with(check(&r, nonce, SKR_SVSM_FORM_SERVICES, blob, len, NULL, &err), err,
			   SKR_R_snp_vmpl_not_allowed, "VMPL2");
	/* A manifest that binds but does not parse is still refused, after the binding. */
	put32(entry(blob, 1) + 20, 0xffffu);
	svsm_report(&r, blob, len);
	assert_failed_with(check(&r, nonce, SKR_SVSM_FORM_SERVICES, blob, len, NULL, &err), err,
			   SKR_R_svsm_manifest_malformed, "entry 1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(manifest_ok),
		cmocka_unit_test(manifest_truncated),
		cmocka_unit_test(manifest_wrong_guid),
		cmocka_unit_test(manifest_entry_out_of_bounds),
		cmocka_unit_test(manifest_overlap),
		cmocka_unit_test(manifest_duplicate_and_gap),
		cmocka_unit_test(manifest_no_vtpm),
		cmocka_unit_test(ek_wrong_type),
		cmocka_unit_test(binding_known_answer),
		cmocka_unit_test(binding_ok),
		cmocka_unit_test(binding_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
