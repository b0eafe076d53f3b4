/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The software TPM2_MakeCredential (src/verify/makecred.c) against a real
 * swtpm's TPM2_ActivateCredential: the TCG default RSA EK, an AK made as a
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
#include <stdlib.h>

#include "swtpm.h"
#include "testutil.h"
#include "verify/akcert.h"
#include "verify/makecred.h"
#include "verify/wrap_key.h"
#include "vm/tpm_int.h"	/* white-box: ESYS */

#define EK_CERT_RSA_NV 0x01C00002

struct tpm_fx {
	char ca[256];		/* this TPM's own swtpm_localca state */
	struct skr_swtpm *swtpm;
	struct skr_tpm *tpm;
	ESYS_TR ek, ak;
	EVP_PKEY *ek_pkey;
	TPM2B_NAME ak_name;
};

static struct tpm_fx fx[2];

/* The TCG EK Credential Profile's default RSA-2048 EK template (low range, policy A). */
static const TPM2B_PUBLIC ek_template = {
	.publicArea = {
		.type = TPM2_ALG_RSA,
		.nameAlg = TPM2_ALG_SHA256,
		.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
				    TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_ADMINWITHPOLICY |
				    TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT,
		.authPolicy = { 32, { 0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xB3, 0xF8, 0x1A, 0x90,
				      0xCC, 0x8D, 0x46, 0xA5, 0xD7, 0x24, 0xFD, 0x52, 0xD7, 0x6E,
				      0x06, 0x52, 0x0B, 0x64, 0xF2, 0xA1, 0xDA, 0x1B, 0x33, 0x14,
				      0x69, 0xAA } },
		.parameters.rsaDetail = {
			.symmetric = { TPM2_ALG_AES, { .aes = 128 }, { .aes = TPM2_ALG_CFB } },
			.scheme = { TPM2_ALG_NULL },
			.keyBits = 2048,
		},
		.unique.rsa = { 256, { 0 } },
	},
};

static const TPM2B_PUBLIC ak_template = {
	.publicArea = {
		.type = TPM2_ALG_RSA,
		.nameAlg = TPM2_ALG_SHA256,
		.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
				    TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
				    TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT,
		.parameters.rsaDetail = {
			.symmetric = { TPM2_ALG_NULL },
			.scheme = { TPM2_ALG_RSASSA, { .rsassa = { TPM2_ALG_SHA256 } } },
			.keyBits = 2048,
		},
	},
};

static ESYS_TR create_primary(ESYS_CONTEXT *esys, ESYS_TR hierarchy, const TPM2B_PUBLIC *tmpl,
			      TPM2B_PUBLIC **pub)
{
	static const TPM2B_SENSITIVE_CREATE sens;
	static const TPM2B_DATA outside;
	static const TPML_PCR_SELECTION pcrs;
	ESYS_TR h = ESYS_TR_NONE;

	assert_int_equal(Esys_CreatePrimary(esys, hierarchy, ESYS_TR_PASSWORD, ESYS_TR_NONE,
					    ESYS_TR_NONE, &sens, tmpl, &outside, &pcrs, &h, pub, NULL,
					    NULL, NULL),
			 TSS2_RC_SUCCESS);
	return h;
}

static int start_one(struct tpm_fx *f)
{
	struct skr_err err = { 0 };
	TPM2B_PUBLIC *pub = NULL;
	TPM2B_NAME *name = NULL;

	snprintf(f->ca, sizeof(f->ca), "%s/skr-ekca.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(f->ca) || skr_swtpm_start_ek(f->ca, &f->swtpm, &err) < 0 ||
	    skr_tpm_open(f->swtpm->tcti, &f->tpm, &err) < 0) {
		fprintf(stderr, "cannot start swtpm: %s\n", err.detail);
		return -1;
	}
	f->ek = create_primary(f->tpm->esys, ESYS_TR_RH_ENDORSEMENT, &ek_template, &pub);
	assert_int_equal(skr_tpm_public_to_pkey(pub, &f->ek_pkey, &err), 0);
	Esys_Free(pub);
	f->ak = create_primary(f->tpm->esys, ESYS_TR_RH_OWNER, &ak_template, &pub);
	assert_int_equal(skr_tpm_public_name(pub, &f->ak_name, &err), 0);
	assert_int_equal(Esys_TR_GetName(f->tpm->esys, f->ak, &name), TSS2_RC_SUCCESS);
	/* The name computed in software is the TPM's own. */
	assert_memory_equal(name->name, f->ak_name.name, name->size);
	assert_int_equal(name->size, f->ak_name.size);
	Esys_Free(name);
	Esys_Free(pub);
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
		skr_tpm_close(fx[i].tpm);
		skr_swtpm_stop(&fx[i].swtpm);
		if (fx[i].ca[0]) {
			char cmd[1024];

			snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx[i].ca);
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

/* TPM2_ActivateCredential with the EK's policy; the TPM's response code. */
static TSS2_RC activate(struct tpm_fx *f, ESYS_TR ak, const TPM2B_ID_OBJECT *blob,
			const TPM2B_ENCRYPTED_SECRET *secret, TPM2B_DIGEST **cred)
{
	static const TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_NULL };
	ESYS_CONTEXT *esys = f->tpm->esys;
	ESYS_TR session = ESYS_TR_NONE;
	TSS2_RC rc;

	assert_int_equal(Esys_StartAuthSession(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					       ESYS_TR_NONE, ESYS_TR_NONE, NULL, TPM2_SE_POLICY,
					       &sym, TPM2_ALG_SHA256, &session),
			 TSS2_RC_SUCCESS);
	assert_int_equal(Esys_PolicySecret(esys, ESYS_TR_RH_ENDORSEMENT, session, ESYS_TR_PASSWORD,
					   ESYS_TR_NONE, ESYS_TR_NONE, NULL, NULL, NULL, 0, NULL,
					   NULL),
			 TSS2_RC_SUCCESS);
	rc = Esys_ActivateCredential(esys, ak, f->ek, ESYS_TR_PASSWORD, session, ESYS_TR_NONE,
				     blob, secret, cred);
	Esys_FlushContext(esys, session);
	return rc;
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
	TPM2B_DIGEST *out = NULL;
	uint8_t cred[32];
	size_t len;

	(void)state;
	for (len = 1; len <= sizeof(cred); len += 15) {
		assert_int_equal(RAND_bytes(cred, sizeof(cred)), 1);
		make(&fx[0], &fx[0].ak_name, cred, len, &blob, &secret);
		assert_int_equal(activate(&fx[0], fx[0].ak, &blob, &secret, &out), TSS2_RC_SUCCESS);
		assert_int_equal(out->size, len);
		assert_memory_equal(out->buffer, cred, len);
		Esys_Free(out);
		out = NULL;
	}
}

/* Made for fx[1]'s AK name but activated with fx[0]'s AK: the integrity check fails. */
static void test_other_ak_name_fails(void **state)
{
	TPM2B_ID_OBJECT blob;
	TPM2B_ENCRYPTED_SECRET secret;
	TPM2B_DIGEST *out = NULL;
	uint8_t cred[32] = { 1 };

	(void)state;
	make(&fx[0], &fx[1].ak_name, cred, sizeof(cred), &blob, &secret);
	assert_int_not_equal(activate(&fx[0], fx[0].ak, &blob, &secret, &out), TSS2_RC_SUCCESS);
	assert_null(out);
}

/* Made to fx[1]'s EK, presented to fx[0]: the seed does not decrypt. */
static void test_other_ek_fails(void **state)
{
	TPM2B_ID_OBJECT blob;
	TPM2B_ENCRYPTED_SECRET secret;
	TPM2B_DIGEST *out = NULL;
	uint8_t cred[32] = { 2 };

	(void)state;
	make(&fx[1], &fx[0].ak_name, cred, sizeof(cred), &blob, &secret);
	assert_int_not_equal(activate(&fx[0], fx[0].ak, &blob, &secret, &out), TSS2_RC_SUCCESS);
	assert_null(out);
}

static void test_tampered_blob_fails(void **state)
{
	TPM2B_ID_OBJECT blob;
	TPM2B_ENCRYPTED_SECRET secret;
	TPM2B_DIGEST *out = NULL;
	uint8_t cred[32] = { 3 };

	(void)state;
	make(&fx[0], &fx[0].ak_name, cred, sizeof(cred), &blob, &secret);
	blob.credential[blob.size - 1] ^= 1;
	assert_int_not_equal(activate(&fx[0], fx[0].ak, &blob, &secret, &out), TSS2_RC_SUCCESS);
	assert_null(out);
}

static void test_bad_inputs(void **state)
{
	TPM2B_ID_OBJECT blob;
	TPM2B_ENCRYPTED_SECRET secret;
	struct skr_err err = { 0 };
	uint8_t cred[33] = { 0 };
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_activation_recovers_credential),
		cmocka_unit_test(test_other_ak_name_fails),
		cmocka_unit_test(test_other_ek_fails),
		cmocka_unit_test(test_tampered_blob_fails),
		cmocka_unit_test(test_bad_inputs),
		cmocka_unit_test(test_cost),
		cmocka_unit_test(test_ekcert_verifies),
		cmocka_unit_test(test_ekcert_other_ca_untrusted),
		cmocka_unit_test(test_ekcert_intermediate),
		cmocka_unit_test(test_ekcert_needs_roots),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
