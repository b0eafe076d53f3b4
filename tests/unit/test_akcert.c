/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Azure Trusted Launch (src/verify/akcert.h): the AK certificate chain with
 * certificates made here with OpenSSL (a test root, an intermediate without
 * AIA as Azure's CA-03, leaves named like Azure's AK certificates), the real
 * CA-03 against the built-in root, the AK public area checks
 * (CVE-2025-49707), the key match, and azure-tl evidence end to end with a
 * software VM's AK and quote (src/verify/evidence.h).  Every refusal asserts
 * its reason.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <tss2/tss2_mu.h>

#include "common/json_util.h"
#include "softtl.h"
#include "softvm.h"
#include "verify/akcert.h"
#include "verify/evidence.h"
#include "verify/policy.h"

#define DAY 86400
#define LEAF_CN "4ad2f6b1-5b42-4c2b-9a3e-0d6c1f7e2a90.TrustedVM.Azure.windows.net"
/* Within the real CA-03's validity (2025-04-24 .. 2027-04-24). */
#define AT_CA03 ((time_t)1780000000)

/* A certificate made by the Trusted Launch test helper (no AIA, as Azure's CA-03 leaves). */
static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
		       bool ca, long from, long to)
{
	X509 *c = skr_softtl_make_cert(cn, key, issuer, issuer_key, ca, from, to);

	assert_non_null(c);
	return c;
}

struct pki {
	EVP_PKEY *root_key, *int_key, *ak;
	X509 *root, *inter, *leaf;
	char root_pem[64], int_pem[64];	/* files under /tmp, removed by pki_free */
};

static void write_pem(char *path, X509 *cert)
{
	int fd = mkstemp(path);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, cert), 1);
	fclose(f);
}

static void pki_new(struct pki *p, EVP_PKEY *ak)
{
	memset(p, 0, sizeof(*p));
	p->root_key = EVP_EC_gen("P-256");
	p->int_key = EVP_EC_gen("P-256");
	p->ak = ak ? ak : EVP_EC_gen("P-256");
	if (ak)
		EVP_PKEY_up_ref(ak);
	p->root = make_cert("skr test vTPM root", p->root_key, NULL, p->root_key, true, -DAY, 30 * DAY);
	p->inter = make_cert("skr test Virtual TPM CA - 03", p->int_key, p->root, p->root_key, true,
			     -DAY, 30 * DAY);
	p->leaf = make_cert(LEAF_CN, p->ak, p->inter, p->int_key, false, -DAY, DAY);
	snprintf(p->root_pem, sizeof(p->root_pem), "/tmp/skr-akroot-XXXXXX");
	snprintf(p->int_pem, sizeof(p->int_pem), "/tmp/skr-akint-XXXXXX");
	write_pem(p->root_pem, p->root);
	write_pem(p->int_pem, p->inter);
}

static void pki_free(struct pki *p)
{
	unlink(p->root_pem);
	unlink(p->int_pem);
	X509_free(p->root);
	X509_free(p->inter);
	X509_free(p->leaf);
	EVP_PKEY_free(p->root_key);
	EVP_PKEY_free(p->int_key);
	EVP_PKEY_free(p->ak);
}

static void der_of(X509 *c, struct skr_buf *out)
{
	uint8_t *der = NULL;
	int len = i2d_X509(c, &der);
	struct skr_err err = { 0 };

	assert_true(len > 0);
	assert_ok(skr_buf_set(out, der, (size_t)len, &err), err);
	OPENSSL_free(der);
}

/* Verifies c with the trust (roots, intermediates) and the presented chain. */
static int verify_cert(X509 *c, const char *roots, const char *inter, X509 *presented,
		       time_t now, struct skr_akcert_info *info, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf der = { 0 }, chain = { 0 };
	struct skr_akcert_trust *t = NULL;
	int rc;

	der_of(c, &der);
	if (presented)
		der_of(presented, &chain);
	assert_ok(skr_akcert_trust_new(roots, inter, &t, err), *err);
	rc = skr_akcert_verify(t, der.data, der.len, chain.data, chain.len, now, info, err);
	skr_akcert_trust_free(t);
	return rc;
}

/* ---- chain ------------------------------------------------------------------------ */

static void chain_valid_with_configured_or_presented_intermediate(void **state)
{
	struct pki p;
	struct skr_akcert_info info = { 0 };
	struct skr_err err = { 0 };

	(void)state;
	pki_new(&p, NULL);
	assert_ok(verify_cert(p.leaf, p.root_pem, p.int_pem, NULL, 0, &info, &err), err);
	assert_string_equal(info.subject_cn, LEAF_CN);
	assert_string_equal(info.issuer_cn, "skr test Virtual TPM CA - 03");
	assert_int_equal(EVP_PKEY_eq(info.key, p.ak), 1);
	assert_ok(skr_akcert_key_matches(&info, p.ak, &err), err);
	skr_akcert_info_free(&info);
	assert_ok(verify_cert(p.leaf, p.root_pem, NULL, p.inter, 0, &info, &err), err);
	skr_akcert_info_free(&info);
	pki_free(&p);
}

static void chain_refusals(void **state)
{
	struct pki p;
	struct skr_akcert_info info = { 0 };
	struct skr_err err = { 0 };
	time_t now = time(NULL);

	(void)state;
	pki_new(&p, NULL);
	assert_failed_with(verify_cert(p.leaf, p.root_pem, NULL, NULL, 0, &info, &err), err,
			   SKR_R_akcert_intermediate_missing, "skr test Virtual TPM CA - 03");
	skr_err_clear(&err);
	assert_failed_with(verify_cert(p.leaf, NULL, NULL, p.inter, 0, &info, &err), err,
			   SKR_R_akcert_untrusted, "not a trusted root");
	skr_err_clear(&err);
	/* A configured intermediate is material, never an anchor: the root given as one is not trusted. */
	assert_failed_with(verify_cert(p.leaf, NULL, p.root_pem, p.inter, 0, &info, &err), err,
			   SKR_R_akcert_untrusted, "skr test vTPM root");
	skr_err_clear(&err);
	assert_failed_with(verify_cert(p.leaf, p.root_pem, p.int_pem, NULL, now + 3 * DAY, &info,
				       &err), err, SKR_R_akcert_expired, LEAF_CN);
	skr_err_clear(&err);
	assert_failed_with(verify_cert(p.leaf, p.root_pem, p.int_pem, NULL, now - 3 * DAY, &info,
				       &err), err, SKR_R_akcert_expired, "not yet valid");
	skr_err_clear(&err);
	/* The intermediate expired while the leaf is still valid. */
	assert_failed_with(verify_cert(p.leaf, p.root_pem, p.int_pem, NULL, now + 40 * DAY, &info,
				       &err), err, SKR_R_akcert_expired, NULL);
	assert_null(info.key);
	pki_free(&p);
}

static void chain_refuses_tampered_and_malformed(void **state)
{
	_cleanup_buf_ struct skr_buf der = { 0 }, chain = { 0 };
	struct skr_akcert_trust *t = NULL;
	struct skr_akcert_info info = { 0 };
	struct skr_err err = { 0 };
	struct pki p;
	EVP_PKEY *other = EVP_EC_gen("P-256");
	X509 *forged;

	(void)state;
	pki_new(&p, NULL);
	assert_ok(skr_akcert_trust_new(p.root_pem, p.int_pem, &t, &err), err);
	/* Issued in the intermediate's name by another key: the signature does not verify. */
	forged = make_cert(LEAF_CN, p.ak, p.inter, other, false, -DAY, DAY);
	der_of(forged, &der);
	assert_failed_with(skr_akcert_verify(t, der.data, der.len, NULL, 0, 0, &info, &err), err,
			   SKR_R_akcert_invalid, "signature");
	skr_err_clear(&err);
	skr_buf_free(&der);
	der_of(p.leaf, &der);
	der.data[der.len - 1] ^= 0x01;	/* the signature's last byte */
	assert_failed_with(skr_akcert_verify(t, der.data, der.len, NULL, 0, 0, &info, &err), err,
			   SKR_R_akcert_invalid, NULL);
	skr_err_clear(&err);
	der.data[der.len - 1] ^= 0x01;
	assert_failed_with(skr_akcert_verify(t, der.data, der.len - 1, NULL, 0, 0, &info, &err), err,
			   SKR_R_akcert_invalid, "not a DER");
	skr_err_clear(&err);
	assert_ok(skr_buf_set(&chain, "\x30\x03\x02\x01", 4, &err), err);
	assert_failed_with(skr_akcert_verify(t, der.data, der.len, chain.data, chain.len, 0, &info,
					     &err), err, SKR_R_akcert_invalid, "AK chain");
	skr_err_clear(&err);
	assert_failed_with(skr_akcert_verify(t, der.data, SKR_AKCERT_MAX_DER + 1, NULL, 0, 0, &info,
					     &err), err, SKR_R_request_too_large, NULL);
	skr_err_clear(&err);
	assert_failed_with(skr_akcert_verify(t, der.data, 0, NULL, 0, 0, &info, &err), err,
			   SKR_R_akcert_invalid, NULL);
	assert_null(info.key);
	X509_free(forged);
	EVP_PKEY_free(other);
	skr_akcert_trust_free(t);
	pki_free(&p);
}

/* The real CA-03 against the built-in root; a leaf naming CA-03 but not signed by it. */
static void builtin_root_and_ca03(void **state)
{
	_cleanup_buf_ struct skr_buf pem = { 0 }, der = { 0 };
	_cleanup_(X509_freep) X509 *ca03 = NULL;
	struct skr_akcert_trust *t = NULL;
	struct skr_akcert_info info = { 0 };
	struct skr_err err = { 0 };
	EVP_PKEY *key = EVP_RSA_gen(2048);	/* CA-03 is RSA: an issuer of another type never matches */
	X509 *leaf;

	(void)state;
	skr_test_read_vector(VECTOR("azure-vtpm/global-vtpm-ca-03.pem"), &pem);
	assert_ok(skr_x509_parse(pem.data, pem.len, &ca03, "CA-03", &err), err);
	der_of(ca03, &der);
	assert_ok(skr_akcert_trust_new(NULL, NULL, &t, &err), err);
	assert_ok(skr_akcert_verify(t, der.data, der.len, NULL, 0, AT_CA03, &info, &err), err);
	assert_string_equal(info.issuer_cn, "Azure Virtual TPM Root Certificate Authority 2023");
	skr_akcert_info_free(&info);
	/* The built-in CA-03 is found as the issuer; the forged signature fails. */
	leaf = make_cert(LEAF_CN, key, ca03, key, false, -DAY, DAY);
	skr_buf_free(&der);
	der_of(leaf, &der);
	assert_failed_with(skr_akcert_verify(t, der.data, der.len, NULL, 0, AT_CA03, &info, &err),
			   err, SKR_R_akcert_invalid, "signature");
	skr_err_clear(&err);
	assert_failed_with(skr_akcert_verify(t, der.data, der.len, NULL, 0, 1900000000, &info, &err),
			   err, SKR_R_akcert_expired, NULL);
	X509_free(leaf);
	EVP_PKEY_free(key);
	skr_akcert_trust_free(t);
}

static void trust_files(void **state)
{
	struct skr_akcert_trust *t = NULL;
	struct skr_err err = { 0 };
	char junk[] = "/tmp/skr-akjunk-XXXXXX";
	int fd = mkstemp(junk);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "no certificate\n", 15), 15);
	close(fd);
	assert_failed_with(skr_akcert_trust_new("/nonexistent/roots.pem", NULL, &t, &err), err,
			   SKR_R_io, "/nonexistent/roots.pem");
	skr_err_clear(&err);
	assert_failed_with(skr_akcert_trust_new(NULL, junk, &t, &err), err, SKR_R_malformed,
			   "no PEM certificate");
	assert_null(t);
	unlink(junk);
}

/* ---- the AK public area ----------------------------------------------------------- */

static TPM2B_PUBLIC ak_template_rsa(EVP_PKEY *key)
{
	TPM2B_PUBLIC pub = { 0 };
	TPMT_PUBLIC *p = &pub.publicArea;
	BIGNUM *n = NULL;

	p->type = TPM2_ALG_RSA;
	p->nameAlg = TPM2_ALG_SHA256;
	p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
			      TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
			      TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
	p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
	p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
	p->parameters.rsaDetail.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
	p->parameters.rsaDetail.keyBits = 2048;
	assert_int_equal(EVP_PKEY_get_bn_param(key, "n", &n), 1);
	p->unique.rsa.size = (UINT16)BN_bn2bin(n, p->unique.rsa.buffer);
	BN_free(n);
	return pub;
}

static TPM2B_PUBLIC ak_template_ecc(EVP_PKEY *key)
{
	TPM2B_PUBLIC pub = { 0 };
	TPMT_PUBLIC *p = &pub.publicArea;
	uint8_t point[65];
	size_t len = 0;

	p->type = TPM2_ALG_ECC;
	p->nameAlg = TPM2_ALG_SHA256;
	p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
			      TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
			      TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
	p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
	p->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
	p->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
	p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	assert_int_equal(EVP_PKEY_get_octet_string_param(key, "encoded-pub-key", point,
							 sizeof(point), &len), 1);
	assert_int_equal(len, 65);
	p->unique.ecc.x.size = 32;
	memcpy(p->unique.ecc.x.buffer, point + 1, 32);
	p->unique.ecc.y.size = 32;
	memcpy(p->unique.ecc.y.buffer, point + 33, 32);
	return pub;
}

static size_t marshal(const TPM2B_PUBLIC *pub, uint8_t *buf, size_t size)
{
	size_t off = 0;

	assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Marshal(pub, buf, size, &off), TSS2_RC_SUCCESS);
	return off;
}

static void ak_refused(const TPM2B_PUBLIC *pub, enum skr_reason reason, const char *detail)
{
	uint8_t buf[sizeof(TPM2B_PUBLIC)];
	size_t len = marshal(pub, buf, sizeof(buf));
	struct skr_err err = { 0 };
	EVP_PKEY *ak = NULL;

	assert_failed_with(skr_ak_public_check(buf, len, &ak, &err), err, reason, detail);
	assert_null(ak);
}

static void ak_public_rsa_and_ecc(void **state)
{
	EVP_PKEY *rsa = EVP_RSA_gen(2048), *ec = EVP_EC_gen("P-256"), *ak = NULL;
	TPM2B_PUBLIC pubs[2] = { ak_template_rsa(rsa), ak_template_ecc(ec) };
	EVP_PKEY *keys[2] = { rsa, ec };
	uint8_t buf[sizeof(TPM2B_PUBLIC)];
	struct skr_err err = { 0 };
	size_t i, len;

	(void)state;
	for (i = 0; i < 2; i++) {
		len = marshal(&pubs[i], buf, sizeof(buf));
		assert_ok(skr_ak_public_check(buf, len, &ak, &err), err);
		assert_int_equal(EVP_PKEY_eq(ak, keys[i]), 1);
		EVP_PKEY_free(ak);
		ak = NULL;
		assert_failed_with(skr_ak_public_check(buf, len - 1, &ak, &err), err, SKR_R_malformed,
				   "AK public area");
		skr_err_clear(&err);
	}
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
}

/* CVE-2025-49707: Azure certifies whatever AK the guest state holds; its attributes decide. */
static void ak_public_refusals(void **state)
{
	EVP_PKEY *rsa = EVP_RSA_gen(2048), *ec = EVP_EC_gen("P-256");
	const TPM2B_PUBLIC good = ak_template_rsa(rsa), good_ec = ak_template_ecc(ec);
	TPM2B_PUBLIC p;

	(void)state;
#define WITH(base, stmt) (p = (base), (stmt), &p)
	ak_refused(WITH(good, p.publicArea.objectAttributes &= ~TPMA_OBJECT_RESTRICTED),
		   SKR_R_ak_not_restricted, "not restricted");
	ak_refused(WITH(good, p.publicArea.objectAttributes |= TPMA_OBJECT_DECRYPT),
		   SKR_R_ak_attributes, "decrypt");
	ak_refused(WITH(good, p.publicArea.objectAttributes &= ~TPMA_OBJECT_SIGN_ENCRYPT),
		   SKR_R_ak_attributes, "sign");
	ak_refused(WITH(good, p.publicArea.objectAttributes &= ~TPMA_OBJECT_FIXEDTPM),
		   SKR_R_ak_attributes, "fixedTPM");
	ak_refused(WITH(good, p.publicArea.objectAttributes &= ~TPMA_OBJECT_FIXEDPARENT),
		   SKR_R_ak_attributes, "fixedParent");
	ak_refused(WITH(good, p.publicArea.objectAttributes &= ~TPMA_OBJECT_SENSITIVEDATAORIGIN),
		   SKR_R_ak_attributes, "sensitiveDataOrigin");
	ak_refused(WITH(good, p.publicArea.nameAlg = TPM2_ALG_SHA1), SKR_R_ak_attributes,
		   "name algorithm");
	ak_refused(WITH(good, p.publicArea.parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSAPSS),
		   SKR_R_ak_attributes, "RSASSA/SHA-256");
	ak_refused(WITH(good, p.publicArea.parameters.rsaDetail.scheme.details.rsassa.hashAlg =
				     TPM2_ALG_SHA1), SKR_R_ak_attributes, "RSASSA/SHA-256");
	ak_refused(WITH(good, p.publicArea.parameters.rsaDetail.keyBits = 3072), SKR_R_ak_attributes,
		   "RSA-3072");
	ak_refused(WITH(good, (p.publicArea.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_AES,
			       p.publicArea.parameters.rsaDetail.symmetric.keyBits.aes = 128,
			       p.publicArea.parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CFB)),
		   SKR_R_ak_attributes, "symmetric");
	ak_refused(WITH(good_ec, p.publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P384),
		   SKR_R_ak_attributes, "P-256");
	ak_refused(WITH(good_ec, p.publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL),
		   SKR_R_ak_attributes, "ECDSA/SHA-256");
	ak_refused(WITH(good_ec, p.publicArea.objectAttributes &= ~TPMA_OBJECT_RESTRICTED),
		   SKR_R_ak_not_restricted, NULL);
	ak_refused(WITH(good, (p.publicArea.type = TPM2_ALG_KEYEDHASH,
			       p.publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL,
			       p.publicArea.unique.keyedHash.size = 32)),
		   SKR_R_ak_attributes, "neither RSA nor ECC");
#undef WITH
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
}

static void key_match(void **state)
{
	struct skr_akcert_info info = { .key = EVP_EC_gen("P-256") };
	EVP_PKEY *other = EVP_EC_gen("P-256");
	struct skr_err err = { 0 };

	(void)state;
	snprintf(info.subject_cn, sizeof(info.subject_cn), "%s", LEAF_CN);
	assert_ok(skr_akcert_key_matches(&info, info.key, &err), err);
	assert_failed_with(skr_akcert_key_matches(&info, other, &err), err,
			   SKR_R_akcert_key_mismatch, LEAF_CN);
	skr_err_clear(&err);
	assert_failed_with(skr_akcert_key_matches(&info, NULL, &err), err,
			   SKR_R_akcert_key_mismatch, NULL);
	EVP_PKEY_free(other);
	skr_akcert_info_free(&info);
}

/* ---- azure-tl evidence, end to end ------------------------------------------------ */

struct tl {
	struct skr_softvm vm;
	struct pki pki;
	struct skr_akcert_trust *trust;
	uint8_t nonce[32];
	json_object *req;
};

/* The software VM's release request, turned into Trusted Launch evidence. */
static json_object *tl_evidence(struct tl *t, X509 *cert, const TPM2B_PUBLIC *pub)
{
	_cleanup_buf_ struct skr_buf der = { 0 };
	uint8_t buf[sizeof(TPM2B_PUBLIC)];
	TPM2B_PUBLIC ak = ak_template_rsa(t->vm.ak);
	struct skr_err err = { 0 };
	json_object *ev;

	json_object_put(t->req);
	assert_ok(skr_softvm_request(&t->vm, "k", t->nonce, sizeof(t->nonce), &t->req, &err), err);
	assert_true(json_object_object_get_ex(t->req, "evidence", &ev));
	json_object_object_del(ev, "hcl_report");
	json_object_object_del(ev, "vcek");
	json_object_object_add(ev, "tee", json_object_new_string("azure-tl"));
	der_of(cert ? cert : t->pki.leaf, &der);
	skr_json_add_b64(ev, "ak_cert", der.data, der.len);
	skr_json_add_b64(ev, "ak_public", buf, marshal(pub ? pub : &ak, buf, sizeof(buf)));
	return ev;
}

static int subject_hook(const struct skr_akcert_info *info, void *ctx, struct skr_err *err)
{
	return skr_policy_check_ak_subject(ctx, info->subject_cn, err);
}

static int tl_verify(struct tl *t, json_object *evj, const struct skr_policy *pin,
		     struct skr_err *err)
{
	struct skr_evidence ev;
	struct skr_evidence_result res;
	struct skr_evidence_policy pol = {
		.ak_trust = t->trust, .nonce = t->nonce, .nonce_len = sizeof(t->nonce),
		.ak_policy = pin ? subject_hook : NULL, .ak_policy_ctx = (void *)pin,
	};
	int rc;

	if (skr_evidence_from_json(evj, &ev, err) < 0)
		return -1;
	assert_int_equal(ev.tee, SKR_TEE_AZURE_TL);
	rc = skr_evidence_verify(&ev, &pol, &res, err);
	if (rc == 0) {
		assert_string_equal(res.akcert.subject_cn, LEAF_CN);
		assert_true(res.quote_parsed);
		assert_int_equal(EVP_PKEY_eq(res.ak, t->vm.ak), 1);
	}
	skr_evidence_result_free(&res);
	skr_evidence_free(&ev);
	return rc;
}

static int tl_setup(void **state)
{
	struct tl *t = calloc(1, sizeof(*t));
	struct skr_err err = { 0 };

	assert_non_null(t);
	assert_ok(skr_softvm_new(&t->vm, &err), err);
	pki_new(&t->pki, t->vm.ak);
	assert_ok(skr_akcert_trust_new(t->pki.root_pem, t->pki.int_pem, &t->trust, &err), err);
	memset(t->nonce, 0x5a, sizeof(t->nonce));
	*state = t;
	return 0;
}

static int tl_teardown(void **state)
{
	struct tl *t = *state;

	json_object_put(t->req);
	skr_akcert_trust_free(t->trust);
	pki_free(&t->pki);
	skr_softvm_free(&t->vm);
	free(t);
	return 0;
}

static void evidence_tl_verifies(void **state)
{
	struct tl *t = *state;
	struct skr_policy pin = { .n_ak_subjects = 2 };
	struct skr_err err = { 0 };

	snprintf(pin.ak_subjects[0], sizeof(pin.ak_subjects[0]), "other.TrustedVM.Azure.windows.net");
	snprintf(pin.ak_subjects[1], sizeof(pin.ak_subjects[1]), "%s", LEAF_CN);
	assert_ok(tl_verify(t, tl_evidence(t, NULL, NULL), NULL, &err), err);
	assert_ok(tl_verify(t, tl_evidence(t, NULL, NULL), &pin, &err), err);
	pin.n_ak_subjects = 1;
	assert_failed_with(tl_verify(t, tl_evidence(t, NULL, NULL), &pin, &err), err,
			   SKR_R_akcert_subject, LEAF_CN);
}

static void evidence_tl_refusals(void **state)
{
	struct tl *t = *state;
	struct skr_err err = { 0 };
	EVP_PKEY *other = EVP_RSA_gen(2048);
	TPM2B_PUBLIC unrestricted = ak_template_rsa(t->vm.ak), other_pub = ak_template_rsa(other);
	X509 *other_cert = make_cert(LEAF_CN, other, t->pki.inter, t->pki.int_key, false, -DAY, DAY);
	X509 *foreign_root = make_cert("skr test vTPM root", other, NULL, other, true, -DAY, DAY);
	X509 *foreign_int = make_cert("foreign CA", other, foreign_root, other, true, -DAY, DAY);
	X509 *foreign_leaf = make_cert(LEAF_CN, t->vm.ak, foreign_int, other, false, -DAY, DAY);
	json_object *ev;

	(void)state;
	unrestricted.publicArea.objectAttributes &= ~TPMA_OBJECT_RESTRICTED;
	assert_failed_with(tl_verify(t, tl_evidence(t, NULL, &unrestricted), NULL, &err), err,
			   SKR_R_ak_not_restricted, NULL);
	skr_err_clear(&err);
	/* The certificate is for another key than the AK that signed the quote. */
	assert_failed_with(tl_verify(t, tl_evidence(t, other_cert, NULL), NULL, &err), err,
			   SKR_R_akcert_key_mismatch, NULL);
	skr_err_clear(&err);
	/* Certificate and AK agree, but the quote was made by the VM's own AK. */
	assert_failed_with(tl_verify(t, tl_evidence(t, other_cert, &other_pub), NULL, &err), err,
			   SKR_R_quote_signature_invalid, NULL);
	skr_err_clear(&err);
	assert_failed_with(tl_verify(t, tl_evidence(t, foreign_leaf, NULL), NULL, &err), err,
			   SKR_R_akcert_intermediate_missing, "foreign CA");
	skr_err_clear(&err);
	t->vm.quote_other_nonce = true;
	assert_failed_with(tl_verify(t, tl_evidence(t, NULL, NULL), NULL, &err), err,
			   SKR_R_quote_nonce_mismatch, NULL);
	t->vm.quote_other_nonce = false;
	skr_err_clear(&err);
	/* A presented chain is material: the intermediate alone still needs a trusted root. */
	ev = tl_evidence(t, foreign_leaf, NULL);
	{
		_cleanup_buf_ struct skr_buf der = { 0 };

		der_of(foreign_int, &der);
		skr_json_add_b64(ev, "ak_chain", der.data, der.len);
	}
	assert_failed_with(tl_verify(t, ev, NULL, &err), err, SKR_R_akcert_untrusted, NULL);
	X509_free(other_cert);
	X509_free(foreign_root);
	X509_free(foreign_int);
	X509_free(foreign_leaf);
	EVP_PKEY_free(other);
}

static void evidence_tl_parse_bounds(void **state)
{
	struct tl *t = *state;
	struct skr_evidence ev;
	struct skr_err err = { 0 };
	json_object *evj = tl_evidence(t, NULL, NULL);
	char *big = malloc(4 * SKR_AKCERT_MAX_DER);

	(void)state;
	assert_non_null(big);
	json_object_object_add(evj, "hcl_report", json_object_new_string("AAAA"));
	assert_failed_with(skr_evidence_from_json(evj, &ev, &err), err, SKR_R_malformed,
			   "hcl_report");
	skr_err_clear(&err);
	json_object_object_del(evj, "hcl_report");
	memset(big, 'A', 4 * SKR_AKCERT_MAX_DER - 1);
	big[4 * SKR_AKCERT_MAX_DER - 1] = 0;
	json_object_object_add(evj, "ak_cert", json_object_new_string(big));
	assert_failed_with(skr_evidence_from_json(evj, &ev, &err), err, SKR_R_request_too_large,
			   "ak_cert");
	skr_err_clear(&err);
	json_object_object_del(evj, "ak_cert");
	assert_failed_with(skr_evidence_from_json(evj, &ev, &err), err, SKR_R_malformed, "ak_cert");
	skr_err_clear(&err);
	json_object_object_add(evj, "tee", json_object_new_string("azure-tlx"));
	assert_failed_with(skr_evidence_from_json(evj, &ev, &err), err, SKR_R_unsupported, "tee");
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(chain_valid_with_configured_or_presented_intermediate),
		cmocka_unit_test(chain_refusals),
		cmocka_unit_test(chain_refuses_tampered_and_malformed),
		cmocka_unit_test(builtin_root_and_ca03),
		cmocka_unit_test(trust_files),
		cmocka_unit_test(ak_public_rsa_and_ecc),
		cmocka_unit_test(ak_public_refusals),
		cmocka_unit_test(key_match),
		cmocka_unit_test_setup_teardown(evidence_tl_verifies, tl_setup, tl_teardown),
		cmocka_unit_test_setup_teardown(evidence_tl_refusals, tl_setup, tl_teardown),
		cmocka_unit_test_setup_teardown(evidence_tl_parse_bounds, tl_setup, tl_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
