/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The software TPM2_MakeCredential (src/verify/makecred.c) against a real
 * swtpm's TPM2_ActivateCredential: the TCG default RSA EK (and the ECC P-256
 * one, template L-2), an AK made as a
 * restricted signing primary, the EK's policy (PolicySecret with the
 * endorsement hierarchy).  The credential comes back only for the AK's name
 * on the EK's TPM: another name, another TPM's EK, a tampered blob fail.
 *
 * Both swtpms are made by swtpm_setup --create-ek-cert, each with a CA of its
 * own (a temporary directory, never the machine's swtpm-localca): the RSA EK
 * certificate verifies against its own CA only (ekcert_untrusted otherwise),
 * and its key is the EK the default template creates.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <tss2/tss2_mu.h>
#include <stdlib.h>

#include "swtpm.h"
#include "testutil.h"
#include "verify/akcert.h"
#include "verify/evidence.h"
#include "verify/makecred.h"
#include "verify/tpm_attest.h"
#include "verify/wrap_key.h"
#include "vm/tpm_int.h"	/* white-box: ESYS */

#define EK_CERT_RSA_NV 0x01C00002
#define AK_PERSISTENT 0x81000020u	/* only so that skr_tpm_quote/certify can use it */

struct tpm_fx {
	char ca[256];		/* this TPM's own swtpm_localca state */
	struct skr_swtpm *swtpm;
	struct skr_tpm *tpm;
	struct skr_tpm_key ek, ak;
	EVP_PKEY *ek_pkey;
	TPM2B_NAME ak_name;
};

static struct tpm_fx fx[2];

static int start_one(struct tpm_fx *f)
{
	struct skr_err err = { 0 };
	EVP_PKEY *ak = NULL;

	f->ek.handle = f->ak.handle = ESYS_TR_NONE;
	snprintf(f->ca, sizeof(f->ca), "%s/skr-ekca.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(f->ca) || skr_swtpm_start_ek(f->ca, &f->swtpm, &err) < 0 ||
	    skr_tpm_open(f->swtpm->tcti, &f->tpm, &err) < 0) {
		fprintf(stderr, "cannot start swtpm: %s\n", err.detail);
		return -1;
	}
	assert_ok(skr_tpm_create_ek(f->tpm, TPM2_ALG_RSA, &f->ek, &err), err);
	assert_ok(skr_tpm_public_to_pkey(&f->ek.public, &f->ek_pkey, &err), err);
	assert_ok(skr_tpm_create_ek_ak(f->tpm, &f->ak, &err), err);
	/* The name computed in software is the TPM's own. */
	assert_ok(skr_tpm_public_name(&f->ak.public, &f->ak_name, &err), err);
	assert_int_equal(f->ak_name.size, f->ak.name.size);
	assert_memory_equal(f->ak_name.name, f->ak.name.name, f->ak_name.size);
	/* The AK passes the checks the broker makes of an AK's public area. */
	assert_ok(skr_ak_public_check(f->ak.public_bytes, f->ak.public_len, &ak, &err), err);
	EVP_PKEY_free(ak);
	return 0;
}

static int setup(void **state)
{
	(void)state;
	memset(fx, 0, sizeof(fx));
	return start_one(&fx[0]) < 0 || start_one(&fx[1]) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		EVP_PKEY_free(fx[i].ek_pkey);
		skr_tpm_key_flush(fx[i].tpm, &fx[i].ek);
		skr_tpm_key_flush(fx[i].tpm, &fx[i].ak);
		skr_tpm_close(fx[i].tpm);
		skr_swtpm_stop(&fx[i].swtpm);
		if (fx[i].ca[0]) {
			char cmd[1024];

			snprintf(cmd, sizeof(cmd), "rm -rf '%.255s'", fx[i].ca);
			if (system(cmd) != 0)
				fprintf(stderr, "cannot remove %s\n", fx[i].ca);
		}
	}
	return 0;
}

static void ca_file(const struct tpm_fx *f, const char *name, char *out, size_t size)
{
	snprintf(out, size, "%s/%s", f->ca, name);
}

/* The EK certificate of f, verified with the trust of ca (roots and, if inter, intermediates). */
static int verify_ek(const struct tpm_fx *f, const struct tpm_fx *ca, bool inter,
		     const struct skr_buf *chain, struct skr_akcert_info *info, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf der = { 0 };
	struct skr_akcert_trust *t = NULL;
	char root[300], issuer[300];
	int rc;

	ca_file(ca, "swtpm-localca-rootca-cert.pem", root, sizeof(root));
	ca_file(ca, "issuercert.pem", issuer, sizeof(issuer));
	assert_int_equal(skr_tpm_nv_read(f->tpm, EK_CERT_RSA_NV, &der, err), 0);
	assert_int_equal(skr_ekcert_trust_new(root, inter ? issuer : NULL, &t, err), 0);
	rc = skr_akcert_verify(t, der.data, der.len, chain ? chain->data : NULL,
			       chain ? chain->len : 0, 0, info, err);
	skr_akcert_trust_free(t);
	return rc;
}

static void test_ekcert_verifies(void **state)
{
	struct skr_akcert_info info;
	struct skr_err err = { 0 };

	(void)state;
	assert_ok(verify_ek(&fx[0], &fx[0], true, NULL, &info, &err), err);
	/* The certified key is the EK the TCG default template recreates. */
	assert_int_equal(EVP_PKEY_eq(info.key, fx[0].ek_pkey), 1);
	assert_int_not_equal(EVP_PKEY_eq(info.key, fx[1].ek_pkey), 1);
	skr_akcert_info_free(&info);
}

static void test_ekcert_other_ca_untrusted(void **state)
{
	struct skr_akcert_info info;
	struct skr_err err = { 0 };

	(void)state;
	assert_failed_with(verify_ek(&fx[1], &fx[0], true, NULL, &info, &err), err,
			   SKR_R_ekcert_untrusted, "EK certificate");
	skr_akcert_info_free(&info);
}

/* Without the intermediate: untrusted; with it presented as chain material: verified. */
static void test_ekcert_intermediate(void **state)
{
	_cleanup_buf_ struct skr_buf pem = { 0 };
	struct skr_buf chain = { 0 };
	struct skr_akcert_info info;
	struct skr_err err = { 0 };
	char issuer[300];
	BIO *bio;
	X509 *x;
	uint8_t *p;

	(void)state;
	assert_failed_with(verify_ek(&fx[0], &fx[0], false, NULL, &info, &err), err,
			   SKR_R_ekcert_untrusted, "neither built in, configured nor presented");
	skr_akcert_info_free(&info);
	ca_file(&fx[0], "issuercert.pem", issuer, sizeof(issuer));
	bio = BIO_new_file(issuer, "r");
	assert_non_null(bio);
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	assert_non_null(x);
	chain.len = (size_t)i2d_X509(x, NULL);
	chain.data = p = malloc(chain.len);
	assert_non_null(p);
	i2d_X509(x, &p);
	X509_free(x);
	skr_err_clear(&err);
	assert_ok(verify_ek(&fx[0], &fx[0], false, &chain, &info, &err), err);
	skr_akcert_info_free(&info);
	free(chain.data);
}

static void test_ekcert_needs_roots(void **state)
{
	struct skr_akcert_trust *t = NULL;
	struct skr_err err = { 0 };

	(void)state;
	assert_failed_with(skr_ekcert_trust_new(NULL, NULL, &t, &err), err, SKR_R_usage, "ek_roots");
	assert_null(t);
}

/* skr_tpm_activate of what skr_make_credential made; the credential must come back. */
static int activate(struct tpm_fx *f, const TPM2B_ID_OBJECT *blob,
		    const TPM2B_ENCRYPTED_SECRET *secret, uint8_t cred[64], size_t *len,
		    struct skr_err *err)
{
	uint8_t b[sizeof(*blob)], s[sizeof(*secret)];
	size_t bl = 0, sl = 0;

	assert_int_equal(Tss2_MU_TPM2B_ID_OBJECT_Marshal(blob, b, sizeof(b), &bl), TSS2_RC_SUCCESS);
	assert_int_equal(Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal(secret, s, sizeof(s), &sl),
			 TSS2_RC_SUCCESS);
	return skr_tpm_activate(f->tpm, &f->ek, &f->ak, b, bl, s, sl, cred, len, err);
}

static void make(struct tpm_fx *to, const TPM2B_NAME *name, const uint8_t *cred, size_t len,
		 TPM2B_ID_OBJECT *blob, TPM2B_ENCRYPTED_SECRET *secret)
{
	struct skr_err err = { 0 };

	assert_int_equal(skr_make_credential(to->ek_pkey, name->name, name->size, cred, len, blob,
					     secret, &err),
			 0);
}

static void test_activation_recovers_credential(void **state)
{
	TPM2B_ID_OBJECT blob;
	TPM2B_ENCRYPTED_SECRET secret;
	struct skr_err err = { 0 };
	uint8_t cred[32], out[64];
	size_t len, out_len;

	(void)state;
	for (len = 1; len <= sizeof(cred); len += 15) {
		assert_int_equal(RAND_bytes(cred, sizeof(cred)), 1);
		make(&fx[0], &fx[0].ak_name, cred, len, &blob, &secret);
		assert_ok(activate(&fx[0], &blob, &secret, out, &out_len, &err), err);
		assert_int_equal(out_len, len);
		assert_memory_equal(out, cred, len);
	}
}

/* Made for fx[1]'s AK name but activated with fx[0]'s AK: the integrity check fails. */
static void test_other_ak_name_fails(void **state)
{
	TPM2B_ID_OBJECT blob;
	TPM2B_ENCRYPTED_SECRET secret;
	struct skr_err err = { 0 };
	uint8_t out[64];
	size_t out_len = 99;
	uint8_t cred[32] = { 1 };

	(void)state;
	make(&fx[0], &fx[1].ak_name, cred, sizeof(cred), &blob, &secret);
	assert_failed_with(activate(&fx[0], &blob, &secret, out, &out_len, &err), err,
			   SKR_R_ak_not_on_tpm, "TPM2_ActivateCredential");
	assert_int_equal(out_len, 0);
}

/* Made to fx[1]'s EK, presented to fx[0]: the seed does not decrypt. */
static void test_other_ek_fails(void **state)
{
	TPM2B_ID_OBJECT blob;
	TPM2B_ENCRYPTED_SECRET secret;
	struct skr_err err = { 0 };
	uint8_t out[64];
	size_t out_len = 99;
	uint8_t cred[32] = { 2 };

	(void)state;
	make(&fx[1], &fx[0].ak_name, cred, sizeof(cred), &blob, &secret);
	assert_failed_with(activate(&fx[0], &blob, &secret, out, &out_len, &err), err,
			   SKR_R_ak_not_on_tpm, "TPM2_ActivateCredential");
	assert_int_equal(out_len, 0);
}

static void test_tampered_blob_fails(void **state)
{
	TPM2B_ID_OBJECT blob;
	TPM2B_ENCRYPTED_SECRET secret;
	struct skr_err err = { 0 };
	uint8_t out[64];
	size_t out_len = 99;
	uint8_t cred[32] = { 3 };

	(void)state;
	make(&fx[0], &fx[0].ak_name, cred, sizeof(cred), &blob, &secret);
	blob.credential[blob.size - 1] ^= 1;
	assert_failed_with(activate(&fx[0], &blob, &secret, out, &out_len, &err), err,
			   SKR_R_ak_not_on_tpm, "TPM2_ActivateCredential");
	assert_int_equal(out_len, 0);
}

static void test_bad_inputs(void **state)
{
	TPM2B_ID_OBJECT blob;
	TPM2B_ENCRYPTED_SECRET secret;
	struct skr_err err = { 0 };
	uint8_t cred[33] = { 0 };
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");	/* no TCG low-range EK */

	(void)state;
	assert_int_equal(skr_make_credential(fx[0].ek_pkey, fx[0].ak_name.name, 3, cred, 32, &blob,
					     &secret, &err),
			 -1);
	assert_int_equal(err.reason, SKR_R_malformed);
	skr_err_clear(&err);
	assert_int_equal(skr_make_credential(fx[0].ek_pkey, fx[0].ak_name.name,
					     fx[0].ak_name.size, cred, 33, &blob, &secret, &err),
			 -1);
	assert_int_equal(err.reason, SKR_R_malformed);
	skr_err_clear(&err);
	assert_non_null(ec);
	assert_int_equal(skr_make_credential(ec, fx[0].ak_name.name, fx[0].ak_name.size, cred, 32,
					     &blob, &secret, &err),
			 -1);
	assert_int_equal(err.reason, SKR_R_unsupported);
	EVP_PKEY_free(ec);
}

/*
 * Known answers for the ECC seed, computed independently with Python's
 * hashlib and cryptography (ECDH, then KDFe as Part 1 §11.4.10.3 writes
 * it): the EK's and the ephemeral key's private scalars are
 * SHA-256("skr test EK") and SHA-256("skr test ephemeral") mod 2^255.
 */
static const char kat_ek_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgLoMbRvB/+v1BQ9Z3\n"
	"GbJ27pfo9C6dMDqzCxTYBcVqiBKhRANCAATN+UHpCtf1NrKdvd04eSo98Rqc2vj6\n"
	"YGIMPriklctu7H4eAibcWGHOGW3tLIARgY7q6bw3uwYZyAScJqsCE2b6\n"
	"-----END PRIVATE KEY-----\n";
static const char kat_eph_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgND4tB1539Jmg5+lg\n"
	"FCr+UETRdcWVttLP2TBZ2T7mYRuhRANCAAQ9ipXLH8dhFTlthK8Pc+wQyada17Gq\n"
	"KilxcpRML021RWkfWgQpfUecONVHE2Wri1dbfBiuZBOWo0jHBY0FGPjS\n"
	"-----END PRIVATE KEY-----\n";

static EVP_PKEY *pem_key(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	assert_non_null(k);
	return k;
}

static void hex_eq(const uint8_t *got, size_t len, const char *want)
{
	char hex[2 * 64 + 1];
	size_t i;

	assert_true(len <= 64);
	for (i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", got[i]);
	assert_string_equal(hex, want);
}

static void test_ecc_seed_known_answer(void **state)
{
	static const uint8_t z[32] = { 0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
				       11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
				       22, 23, 24, 25, 26, 27, 28, 29, 30, 31 };
	uint8_t u[32], v[32], out[64], seed[32];
	EVP_PKEY *ek = pem_key(kat_ek_pem), *eph = pem_key(kat_eph_pem);
	TPM2B_ENCRYPTED_SECRET secret = { 0 };
	struct skr_err err = { 0 };

	(void)state;
	/* KDFe alone, two blocks: counter 1 and 2. */
	memset(u, 1, sizeof(u));
	memset(v, 2, sizeof(v));
	assert_ok(skr_kdfe_sha256(z, sizeof(z), "IDENTITY", u, 32, v, 32, 512, out, &err), err);
	hex_eq(out, 64, "46c1a8b985095523623fbee1f5d4b3df184a6991e5706b9bbee430d76b9b5909"
			"5bf2ccada630246c1d45074ba06d0517734453df6c4a9a95a958efab54ac27aa");
	/* The seed, and the secret: the ephemeral point as a TPMS_ECC_POINT. */
	assert_ok(skr_ecc_seed(ek, eph, seed, &secret, &err), err);
	hex_eq(seed, 32, "6319f99b9e909d4456dc49108c757982ba787dc5038e8c7e0a4c4684c1ba0593");
	assert_int_equal(secret.size, 68);
	assert_int_equal(secret.secret[0] << 8 | secret.secret[1], 32);
	hex_eq(secret.secret + 2, 32, "3d8a95cb1fc76115396d84af0f73ec10c9a75ad7b1aa2a297172944c2f4db545");
	assert_int_equal(secret.secret[34] << 8 | secret.secret[35], 32);
	hex_eq(secret.secret + 36, 32, "691f5a04297d479c38d5471365ab8b575b7c18ae641396a348c7058d0518f8d2");
	EVP_PKEY_free(ek);
	EVP_PKEY_free(eph);
}

/*
 * The ECC EK (template L-2, P-256) on fx[0]'s swtpm: the credential made to
 * it comes back through TPM2_ActivateCredential, so the seed is the one the
 * TPM derives; fx[1]'s ECC EK cannot open it.
 */
static void test_ecc_ek_activation(void **state)
{
	struct skr_tpm_key ek[2] = { { .handle = ESYS_TR_NONE }, { .handle = ESYS_TR_NONE } };
	TPM2B_ID_OBJECT blob;
	TPM2B_ENCRYPTED_SECRET secret;
	struct skr_err err = { 0 };
	uint8_t cred[32], out[64], b[sizeof(blob)], sb[sizeof(secret)];
	size_t out_len = 0, bl = 0, sl = 0, i;
	EVP_PKEY *pk = NULL;

	(void)state;
	for (i = 0; i < 2; i++)
		assert_ok(skr_tpm_create_ek(fx[i].tpm, TPM2_ALG_ECC, &ek[i], &err), err);
	assert_int_equal(ek[0].public.publicArea.type, TPM2_ALG_ECC);
	assert_ok(skr_tpm_public_to_pkey(&ek[0].public, &pk, &err), err);
	assert_int_equal(RAND_bytes(cred, sizeof(cred)), 1);
	assert_ok(skr_make_credential(pk, fx[0].ak_name.name, fx[0].ak_name.size, cred, sizeof(cred),
				      &blob, &secret, &err), err);
	assert_int_equal(secret.size, 68);
	assert_int_equal(Tss2_MU_TPM2B_ID_OBJECT_Marshal(&blob, b, sizeof(b), &bl), TSS2_RC_SUCCESS);
	assert_int_equal(Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal(&secret, sb, sizeof(sb), &sl),
			 TSS2_RC_SUCCESS);
	assert_ok(skr_tpm_activate(fx[0].tpm, &ek[0], &fx[0].ak, b, bl, sb, sl, out, &out_len, &err),
		  err);
	assert_int_equal(out_len, sizeof(cred));
	assert_memory_equal(out, cred, sizeof(cred));
	assert_failed_with(skr_tpm_activate(fx[1].tpm, &ek[1], &fx[1].ak, b, bl, sb, sl, out,
					    &out_len, &err),
			   err, SKR_R_ak_not_on_tpm, "ActivateCredential");
	EVP_PKEY_free(pk);
	for (i = 0; i < 2; i++)
		skr_tpm_key_flush(fx[i].tpm, &ek[i]);
}

/* What MakeCredential costs the broker: the median of 200, printed. */
static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void test_cost(void **state)
{
	TPM2B_ID_OBJECT blob;
	TPM2B_ENCRYPTED_SECRET secret;
	uint8_t cred[32] = { 4 };
	double t[200];
	struct timespec a, b;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(t); i++) {
		clock_gettime(CLOCK_MONOTONIC, &a);
		make(&fx[0], &fx[0].ak_name, cred, sizeof(cred), &blob, &secret);
		clock_gettime(CLOCK_MONOTONIC, &b);
		t[i] = (double)(b.tv_sec - a.tv_sec) * 1e6 + (double)(b.tv_nsec - a.tv_nsec) / 1e3;
	}
	qsort(t, ARRAY_SIZE(t), sizeof(t[0]), cmp_double);
	printf("makecredential: median %.1f us over %zu\n", t[ARRAY_SIZE(t) / 2], ARRAY_SIZE(t));
	assert_true(t[ARRAY_SIZE(t) / 2] < 1e5);
}

/* ---- the whole tpm-mode evidence, as the broker verifies it --------------------- */

static void ek_trust(const struct tpm_fx *ca, struct skr_akcert_trust **t)
{
	struct skr_err err = { 0 };
	char root[300], issuer[300];

	ca_file(ca, "swtpm-localca-rootca-cert.pem", root, sizeof(root));
	ca_file(ca, "issuercert.pem", issuer, sizeof(issuer));
	assert_ok(skr_ekcert_trust_new(root, issuer, t, &err), err);
}

/* The identity f presents (its EK certificate, its EK, the AK of ak_of) into ev. */
static void identity_of(const struct tpm_fx *f, const struct tpm_fx *ak_of, struct skr_evidence *ev,
			struct skr_tpm_identity *id)
{
	struct skr_err err = { 0 };

	assert_ok(skr_tpm_read_ekcert(f->tpm, &ev->ek_cert, NULL, &err), err);
	assert_ok(skr_buf_set(&ev->ek_public, f->ek.public_bytes, f->ek.public_len, &err), err);
	assert_ok(skr_buf_set(&ev->ak_public, ak_of->ak.public_bytes, ak_of->ak.public_len, &err),
		  err);
	*id = (struct skr_tpm_identity){ &ev->ek_cert, &ev->ek_chain, &ev->ek_public,
					 &ev->ak_public };
}

/*
 * Challenge (identity verified, credential made), ActivateCredential on f,
 * quote by f's AK: a complete tee "tpm" evidence in ev.
 */
static void build_evidence(struct tpm_fx *f, const struct skr_akcert_trust *t, const uint8_t *key,
			   const uint8_t nonce[32], struct skr_evidence *ev)
{
	struct skr_tpm_identity id;
	struct skr_tpm_identity_result res;
	struct skr_err err = { 0 };
	uint8_t cred[SKR_ACTIVATION_SIZE], out[64];
	size_t out_len = 0;
	TPM2B_ID_OBJECT blob;
	TPM2B_ENCRYPTED_SECRET secret;

	memset(ev, 0, sizeof(*ev));
	ev->format = SKR_EVIDENCE_SKR;
	ev->tee = SKR_TEE_TPM;
	identity_of(f, f, ev, &id);
	assert_ok(skr_tpm_identity_verify(t, &id, 0, &res, &err), err);
	assert_ok(skr_activation_credential(key, 32, nonce, 32, &res, cred, &err), err);
	make(f, &res.ak_name, cred, sizeof(cred), &blob, &secret);
	skr_tpm_identity_result_free(&res);
	assert_ok(activate(f, &blob, &secret, out, &out_len, &err), err);
	assert_ok(skr_buf_set(&ev->activation, out, out_len, &err), err);
	assert_ok(skr_tpm_quote(f->tpm, AK_PERSISTENT, nonce, 32, 0xFFu | (1u << 15),
				&ev->quote_attest, &ev->quote_signature, &ev->pcrs, &err),
		  err);
}

static int persist_ak(void **state)
{
	ESYS_TR persisted = ESYS_TR_NONE;

	(void)state;
	assert_int_equal(Esys_EvictControl(fx[0].tpm->esys, ESYS_TR_RH_OWNER, fx[0].ak.handle,
					   ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
					   AK_PERSISTENT, &persisted),
			 TSS2_RC_SUCCESS);
	Esys_TR_Close(fx[0].tpm->esys, &persisted);
	return 0;
}

static void verify_tpm_evidence(bool tamper, enum skr_reason want, const char *detail)
{
	struct skr_akcert_trust *t = NULL;
	struct skr_evidence ev;
	struct skr_evidence_result res;
	struct skr_err err = { 0 };
	uint8_t key[32], nonce[32];
	struct skr_evidence_policy pol = { .nonce = nonce, .nonce_len = 32, .activation_key = key,
					   .activation_key_len = 32 };

	assert_int_equal(RAND_bytes(key, 32), 1);
	assert_int_equal(RAND_bytes(nonce, 32), 1);
	ek_trust(&fx[0], &t);
	pol.ek_trust = t;
	build_evidence(&fx[0], t, key, nonce, &ev);
	if (tamper)
		ev.activation.data[0] ^= 1;
	if (want == SKR_R_ok)
		assert_ok(skr_evidence_verify(&ev, &pol, &res, &err), err);
	else
		assert_failed_with(skr_evidence_verify(&ev, &pol, &res, &err), err, want, detail);
	skr_evidence_result_free(&res);
	skr_evidence_free(&ev);
	skr_akcert_trust_free(t);
}

static void test_evidence_verifies(void **state)
{
	(void)state;
	verify_tpm_evidence(false, SKR_R_ok, NULL);
}

static void test_evidence_wrong_activation(void **state)
{
	(void)state;
	verify_tpm_evidence(true, SKR_R_activation_failed, "not the credential made");
}

/* At the challenge: fx[0]'s EK certificate with fx[1]'s EK public is refused. */
static void test_identity_other_ek(void **state)
{
	struct skr_akcert_trust *t = NULL;
	struct skr_evidence ev = { 0 };
	struct skr_tpm_identity id;
	struct skr_tpm_identity_result res;
	struct skr_err err = { 0 };

	(void)state;
	ek_trust(&fx[0], &t);
	identity_of(&fx[0], &fx[0], &ev, &id);
	assert_ok(skr_buf_set(&ev.ek_public, fx[1].ek.public_bytes, fx[1].ek.public_len, &err), err);
	assert_failed_with(skr_tpm_identity_verify(t, &id, 0, &res, &err), err,
			   SKR_R_ekcert_untrusted, "another key than the EK");
	skr_tpm_identity_result_free(&res);
	skr_evidence_free(&ev);
	/* fx[1]'s whole identity against fx[0]'s CA: untrusted too. */
	identity_of(&fx[1], &fx[1], &ev, &id);
	skr_err_clear(&err);
	assert_failed_with(skr_tpm_identity_verify(t, &id, 0, &res, &err), err,
			   SKR_R_ekcert_untrusted, NULL);
	skr_tpm_identity_result_free(&res);
	skr_evidence_free(&ev);
	skr_akcert_trust_free(t);
}

/*
 * fx[0]'s EK certificate and EK with fx[1]'s AK: the credential is made to
 * fx[0]'s EK for fx[1]'s AK; fx[1] cannot activate it (ak_not_on_tpm), so
 * no correct activation answer exists.
 */
static void test_ak_on_other_tpm(void **state)
{
	struct skr_akcert_trust *t = NULL;
	struct skr_evidence ev = { 0 };
	struct skr_tpm_identity id;
	struct skr_tpm_identity_result res;
	struct skr_err err = { 0 };
	uint8_t key[32] = { 7 }, nonce[32] = { 8 }, cred[SKR_ACTIVATION_SIZE], out[64];
	size_t out_len;
	TPM2B_ID_OBJECT blob;
	TPM2B_ENCRYPTED_SECRET secret;

	(void)state;
	ek_trust(&fx[0], &t);
	identity_of(&fx[0], &fx[1], &ev, &id);
	assert_ok(skr_tpm_identity_verify(t, &id, 0, &res, &err), err);
	assert_ok(skr_activation_credential(key, 32, nonce, 32, &res, cred, &err), err);
	make(&fx[0], &res.ak_name, cred, sizeof(cred), &blob, &secret);
	assert_failed_with(activate(&fx[1], &blob, &secret, out, &out_len, &err), err,
			   SKR_R_ak_not_on_tpm, NULL);
	skr_tpm_identity_result_free(&res);
	skr_evidence_free(&ev);
	skr_akcert_trust_free(t);
}

/* The tpm evidence's JSON: its own fields required and bounded, other modes' refused. */
/*
 * The client's side of the mode: an EK certificate and neither of Azure's
 * indexes is tee "tpm"; the transient AK (never persisted: fx[1]'s) quotes
 * and certifies, and both verify with that AK's public area.
 */
static void test_client_mode_transient_ak(void **state)
{
	struct tpm_fx *f = &fx[1];
	struct skr_err err = { 0 };
	enum skr_tpm_mode mode;
	struct skr_tpm_key wrap = { .handle = ESYS_TR_NONE };
	struct skr_buf q_attest = { 0 }, q_sig = { 0 }, c_attest = { 0 }, c_sig = { 0 };
	struct skr_pcr_banks pcrs;
	EVP_PKEY *ak = NULL, *wrap_pub = NULL;
	TPMS_ATTEST quoted;
	uint8_t nonce[32];

	(void)state;
	assert_ok(skr_tpm_detect_mode(f->tpm, &mode, &err), err);
	assert_int_equal(mode, SKR_TPM_MODE_TPM);
	assert_string_equal(skr_tpm_mode_name(mode), "tpm");
	assert_int_equal(RAND_bytes(nonce, sizeof(nonce)), 1);
	assert_ok(skr_ak_public_check(f->ak.public_bytes, f->ak.public_len, &ak, &err), err);
	assert_ok(skr_tpm_quote_with(f->tpm, &f->ak, nonce, sizeof(nonce), 0xFFu | (1u << 15),
				     &q_attest, &q_sig, &pcrs, &err),
		  err);
	assert_ok(skr_tpm_quote_verify(q_attest.data, q_attest.len, q_sig.data, q_sig.len, ak, nonce,
				       sizeof(nonce), &pcrs, &quoted, &err),
		  err);
	assert_ok(skr_tpm_create_wrap_key(f->tpm, &wrap, &err), err);
	assert_ok(skr_tpm_certify_with(f->tpm, &wrap, &f->ak, nonce, sizeof(nonce), &c_attest,
				       &c_sig, &err),
		  err);
	assert_ok(skr_wrap_key_verify(wrap.public_bytes, wrap.public_len, c_attest.data, c_attest.len,
				      c_sig.data, c_sig.len, ak, nonce, sizeof(nonce), &wrap_pub, &err),
		  err);
	/* No AK, no quote. */
	assert_failed_with(skr_tpm_quote_with(f->tpm, NULL, nonce, sizeof(nonce), 1, &q_attest, &q_sig,
					      &pcrs, &err),
			   err, SKR_R_usage, "no AK");
	skr_tpm_key_flush(f->tpm, &wrap);
	EVP_PKEY_free(wrap_pub);
	EVP_PKEY_free(ak);
	skr_buf_free(&q_attest);
	skr_buf_free(&q_sig);
	skr_buf_free(&c_attest);
	skr_buf_free(&c_sig);
}

static void test_evidence_json(void **state)
{
	static const char base[] =
		"{\"tee\": \"tpm\", \"quote\": {\"attest\": \"AAAA\", \"signature\": \"AAAA\"}, "
		"\"pcrs\": {\"sha256\": {}}, \"ek_cert\": \"AAAA\", \"ek_public\": \"AAAA\", "
		"\"ak_public\": \"AAAA\", \"activation\": \"AAAA\"}";
	struct skr_evidence ev;
	struct skr_err err = { 0 };
	json_object *o = json_tokener_parse(base);
	char big[128];

	(void)state;
	assert_non_null(o);
	assert_ok(skr_evidence_from_json(o, &ev, &err), err);
	assert_int_equal(ev.tee, SKR_TEE_TPM);
	assert_int_equal(ev.activation.len, 3);
	skr_evidence_free(&ev);
	json_object_object_add(o, "hcl_report", json_object_new_string("AAAA"));
	assert_failed_with(skr_evidence_from_json(o, &ev, &err), err, SKR_R_malformed, "hcl_report");
	skr_err_clear(&err);
	json_object_object_del(o, "hcl_report");
	json_object_object_add(o, "ak_cert", json_object_new_string("AAAA"));
	assert_failed_with(skr_evidence_from_json(o, &ev, &err), err, SKR_R_malformed, "ak_cert");
	skr_err_clear(&err);
	json_object_object_del(o, "ak_cert");
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;	/* 127 base64 characters: more than 32 bytes */
	json_object_object_add(o, "activation", json_object_new_string(big));
	assert_failed_with(skr_evidence_from_json(o, &ev, &err), err, SKR_R_request_too_large,
			   "activation");
	skr_err_clear(&err);
	json_object_object_del(o, "activation");
	assert_failed_with(skr_evidence_from_json(o, &ev, &err), err, SKR_R_malformed, "activation");
	skr_err_clear(&err);
	json_object_object_del(o, "ek_public");
	assert_failed_with(skr_evidence_from_json(o, &ev, &err), err, SKR_R_malformed, "ek_public");
	json_object_put(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_activation_recovers_credential),
		cmocka_unit_test(test_other_ak_name_fails),
		cmocka_unit_test(test_other_ek_fails),
		cmocka_unit_test(test_tampered_blob_fails),
		cmocka_unit_test(test_bad_inputs),
		cmocka_unit_test(test_ecc_seed_known_answer),
		cmocka_unit_test(test_ecc_ek_activation),
		cmocka_unit_test(test_cost),
		cmocka_unit_test(test_ekcert_verifies),
		cmocka_unit_test(test_ekcert_other_ca_untrusted),
		cmocka_unit_test(test_ekcert_intermediate),
		cmocka_unit_test(test_ekcert_needs_roots),
		cmocka_unit_test(test_identity_other_ek),
		cmocka_unit_test(test_ak_on_other_tpm),
		cmocka_unit_test_setup(test_evidence_verifies, persist_ak),
		cmocka_unit_test(test_evidence_wrong_activation),
		cmocka_unit_test(test_evidence_json),
		cmocka_unit_test(test_client_mode_transient_ak),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
