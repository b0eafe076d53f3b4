/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the test PKI helper (tests/helpers/testchain.c): the chain
 * verifies, looks like AMD's real certificates byte for byte where it should,
 * the VCEK extensions decode to what was asked, and signed reports verify
 * through an independent path (and through the openssl command line).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "testchain.h"
#include "common/util.h"

#define VEC(p) SKR_SRCDIR "/tests/vectors/" p
#define AMD_OID "1.3.6.1.4.1.3704.1."

/* ------------------------------------------------------------- helpers */

static X509 *load_cert(const char *path)
{
	struct skr_buf b = { 0 };
	struct skr_err err = { 0 };
	const unsigned char *p;
	X509 *x = NULL;
	BIO *bio;

	assert_int_equal(skr_read_file(path, 1 << 20, &b, &err), 0);
	if (b.len > 0 && b.data[0] == '-') {
		bio = BIO_new_mem_buf(b.data, (int)b.len);
		x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		BIO_free(bio);
	} else {
		p = b.data;
		x = d2i_X509(NULL, &p, (long)b.len);
	}
	skr_buf_free(&b);
	assert_non_null(x);
	return x;
}

static const X509_EXTENSION *find_ext(const X509 *x, const char *oid)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	int i;

	assert_non_null(obj);
	i = X509_get_ext_by_OBJ(x, obj, -1);
	ASN1_OBJECT_free(obj);
	return i < 0 ? NULL : X509_get_ext(x, i);
}

static const ASN1_OCTET_STRING *ext_value(const X509 *x, const char *oid)
{
	const X509_EXTENSION *e = find_ext(x, oid);

	assert_non_null(e);
	assert_int_equal(X509_EXTENSION_get_critical(e), 0);
	return X509_EXTENSION_get_data((X509_EXTENSION *)e);
}

/* extnValue must be exactly one DER INTEGER. */
static int64_t ext_int(const X509 *x, const char *oid)
{
	const ASN1_OCTET_STRING *v = ext_value(x, oid);
	const unsigned char *p = ASN1_STRING_get0_data(v);
	const unsigned char *end = p + ASN1_STRING_length(v);
	ASN1_INTEGER *ai = d2i_ASN1_INTEGER(NULL, &p, ASN1_STRING_length(v));
	int64_t out = -1;

	assert_non_null(ai);
	assert_ptr_equal(p, end);
	assert_int_equal(ASN1_INTEGER_get_int64(&out, ai), 1);
	ASN1_INTEGER_free(ai);
	return out;
}

/* Independent of the helper: LE R/S -> ECDSA-Sig-Value DER -> EVP_DigestVerify. */
static int verify_report(const uint8_t *report, EVP_PKEY *pub)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_lebin2bn(report + 0x2A0, 72, NULL);
	BIGNUM *s = BN_lebin2bn(report + 0x2E8, 72, NULL);
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	unsigned char *der = NULL;
	int len, rc;

	assert_non_null(sig);
	assert_non_null(r);
	assert_non_null(s);
	assert_non_null(mctx);
	assert_int_equal(ECDSA_SIG_set0(sig, r, s), 1);
	len = i2d_ECDSA_SIG(sig, &der);
	assert_true(len > 0);
	assert_int_equal(EVP_DigestVerifyInit(mctx, NULL, EVP_sha384(), NULL, pub), 1);
	rc = EVP_DigestVerify(mctx, der, (size_t)len, report, 0x2A0);
	ERR_clear_error();
	OPENSSL_free(der);
	EVP_MD_CTX_free(mctx);
	ECDSA_SIG_free(sig);
	return rc;
}

static void der_of_name(const X509_NAME *n, struct skr_buf *out)
{
	unsigned char *der = NULL;
	int len = i2d_X509_NAME(n, &der);

	assert_true(len > 0);
	assert_int_equal(skr_buf_set(out, der, (size_t)len, NULL), 0);
	OPENSSL_free(der);
}

static void assert_same_name(const X509_NAME *a, const X509_NAME *b)
{
	struct skr_buf da = { 0 }, db = { 0 };

	der_of_name(a, &da);
	der_of_name(b, &db);
	assert_int_equal(da.len, db.len);
	assert_memory_equal(da.data, db.data, da.len);
	skr_buf_free(&da);
	skr_buf_free(&db);
}

static void algor_der(const X509_ALGOR *a, struct skr_buf *out)
{
	unsigned char *der = NULL;
	int len = i2d_X509_ALGOR(a, &der);

	assert_true(len > 0);
	assert_int_equal(skr_buf_set(out, der, (size_t)len, NULL), 0);
	OPENSSL_free(der);
}

/* Both signature algorithm fields of x, compared with those of ref. */
static void assert_sigalg(const X509 *x, const X509 *ref, bool equal)
{
	const ASN1_BIT_STRING *sig;
	const X509_ALGOR *alg, *ref_alg;
	struct skr_buf a = { 0 }, b = { 0 }, t = { 0 };

	X509_get0_signature(&sig, &alg, x);
	X509_get0_signature(&sig, &ref_alg, ref);
	algor_der(alg, &a);
	algor_der(ref_alg, &b);
	algor_der(X509_get0_tbs_sigalg(x), &t);
	assert_int_equal(t.len, a.len);
	assert_memory_equal(t.data, a.data, a.len);
	if (equal) {
		assert_int_equal(a.len, b.len);
		assert_memory_equal(a.data, b.data, a.len);
	} else {
		assert_false(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
	}
	skr_buf_free(&a);
	skr_buf_free(&b);
	skr_buf_free(&t);
}

static int verify_path(X509 *leaf, X509 *intermediate, X509 *root)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	int rc, e;

	assert_non_null(store);
	assert_non_null(ctx);
	assert_non_null(untrusted);
	assert_int_equal(X509_STORE_add_cert(store, root), 1);
	assert_true(sk_X509_push(untrusted, intermediate) > 0);
	assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, untrusted), 1);
	rc = X509_verify_cert(ctx);
	e = X509_STORE_CTX_get_error(ctx);
	sk_X509_free(untrusted);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	ERR_clear_error();
	return rc == 1 ? 0 : e;
}

/* One Milan chain with an ASVK, shared by the read-only tests. */
static int group_setup(void **state)
{
	static struct skr_test_chain chain;
	struct skr_test_chain_opts o = { .with_asvk = true };
	struct skr_err err = { 0 };

	if (skr_test_chain_new(&chain, &o, &err) < 0) {
		print_error("chain: %s\n", err.detail);
		return -1;
	}
	*state = &chain;
	return 0;
}

static int group_teardown(void **state)
{
	skr_test_chain_free(*state);
	return 0;
}

/* ------------------------------------------------------------------ tests */

static void test_chain_signatures(void **state)
{
	struct skr_test_chain *c = *state;

	assert_int_equal(X509_verify(c->ark, c->ark_key), 1);
	assert_int_equal(X509_verify(c->ark, X509_get0_pubkey(c->ark)), 1);
	assert_int_equal(X509_verify(c->ask, X509_get0_pubkey(c->ark)), 1);
	assert_int_equal(X509_verify(c->asvk, X509_get0_pubkey(c->ark)), 1);
	assert_int_equal(X509_verify(c->vcek, X509_get0_pubkey(c->ask)), 1);
	/* Wrong issuers do not verify. */
	assert_true(X509_verify(c->vcek, X509_get0_pubkey(c->ark)) <= 0);
	assert_true(X509_verify(c->ask, X509_get0_pubkey(c->ask)) <= 0);
	ERR_clear_error();
	/* Whole-path validation (basicConstraints, keyUsage, validity). */
	assert_int_equal(verify_path(c->vcek, c->ask, c->ark), 0);
	assert_int_equal(EVP_PKEY_get_bits(c->ark_key), 2048);
	assert_true(EVP_PKEY_is_a(c->vcek_key, "EC"));
	assert_int_equal(EVP_PKEY_get_bits(X509_get0_pubkey(c->vcek)), 384);
}

/* Names and PSS parameters are byte-identical to the real Milan certificates. */
static void test_matches_real_amd(void **state)
{
	struct skr_test_chain *c = *state;
	X509 *ark = load_cert(VEC("amd/milan-ark.pem"));
	X509 *ask = load_cert(VEC("amd/milan-ask.pem"));
	X509 *asvk = load_cert(VEC("amd/milan-asvk.pem"));
	X509 *vcek = load_cert(VEC("snp/milan-vcek.der"));

	assert_same_name(X509_get_subject_name(c->ark), X509_get_subject_name(ark));
	assert_same_name(X509_get_issuer_name(c->ark), X509_get_issuer_name(ark));
	assert_same_name(X509_get_subject_name(c->ask), X509_get_subject_name(ask));
	assert_same_name(X509_get_issuer_name(c->ask), X509_get_issuer_name(ask));
	assert_same_name(X509_get_subject_name(c->asvk), X509_get_subject_name(asvk));
	assert_same_name(X509_get_subject_name(c->vcek), X509_get_subject_name(vcek));
	assert_same_name(X509_get_issuer_name(c->vcek), X509_get_issuer_name(vcek));

	assert_sigalg(c->ark, ark, true);
	assert_sigalg(c->ask, ask, true);
	assert_sigalg(c->asvk, asvk, true);
	assert_sigalg(c->vcek, vcek, true);

	/* Same CA extensions, in the same order, with the same values except key ids. */
	X509 *const pairs[3][2] = { { c->ark, ark }, { c->ask, ask }, { c->asvk, asvk } };
	for (size_t k = 0; k < ARRAY_SIZE(pairs); k++) {
		assert_int_equal(X509_get_ext_count(pairs[k][0]), X509_get_ext_count(pairs[k][1]));
		for (int i = 0; i < X509_get_ext_count(pairs[k][1]); i++) {
			X509_EXTENSION *ours = X509_get_ext(pairs[k][0], i);
			X509_EXTENSION *real = X509_get_ext(pairs[k][1], i);
			const ASN1_OCTET_STRING *a = X509_EXTENSION_get_data(ours);
			const ASN1_OCTET_STRING *b = X509_EXTENSION_get_data(real);
			int nid = OBJ_obj2nid(X509_EXTENSION_get_object(real));

			assert_int_equal(OBJ_cmp(X509_EXTENSION_get_object(ours),
						 X509_EXTENSION_get_object(real)), 0);
			assert_int_equal(X509_EXTENSION_get_critical(ours),
					 X509_EXTENSION_get_critical(real));
			if (nid == NID_subject_key_identifier || nid == NID_authority_key_identifier)
				continue;
			assert_int_equal(ASN1_STRING_cmp(a, b), 0);
		}
	}

	/*
	 * The default VCEK (Milan, bl 3 tee 0 snp 8 ucode 0x73, struct version 0)
	 * carries the real VCEK's extensions in the same order with the same
	 * extnValue bytes; only hwID's 64 bytes differ.
	 */
	assert_int_equal(X509_get_ext_count(c->vcek), X509_get_ext_count(vcek));
	for (int i = 0; i < X509_get_ext_count(vcek); i++) {
		X509_EXTENSION *ours = X509_get_ext(c->vcek, i);
		X509_EXTENSION *real = X509_get_ext(vcek, i);
		const ASN1_OCTET_STRING *a = X509_EXTENSION_get_data(ours);
		const ASN1_OCTET_STRING *b = X509_EXTENSION_get_data(real);
		char oid[64];

		assert_int_equal(OBJ_cmp(X509_EXTENSION_get_object(ours),
					 X509_EXTENSION_get_object(real)), 0);
		assert_int_equal(X509_EXTENSION_get_critical(ours), 0);
		OBJ_obj2txt(oid, sizeof(oid), X509_EXTENSION_get_object(real), 1);
		if (strcmp(oid, AMD_OID "4") == 0)
			assert_int_equal(ASN1_STRING_length(a), ASN1_STRING_length(b));
		else
			assert_int_equal(ASN1_STRING_cmp(a, b), 0);
	}
	assert_int_equal(ASN1_INTEGER_get(X509_get0_serialNumber(c->vcek)), 0);
	assert_int_equal(X509_get_version(c->vcek), X509_VERSION_3);

	X509_free(ark);
	X509_free(ask);
	X509_free(asvk);
	X509_free(vcek);
}

static void test_vcek_extensions_roundtrip(void **state)
{
	struct skr_test_chain *c = *state;
	struct skr_test_chain mine = { 0 };
	struct skr_test_vcek_opts v;
	struct skr_err err = { 0 };
	const ASN1_OCTET_STRING *os;
	const unsigned char *p;
	ASN1_IA5STRING *name;

	skr_test_vcek_opts_init(&v, "Genoa");
	v.serial = 0x1234;
	v.struct_version = 1;
	snprintf(v.product_name, sizeof(v.product_name), "Genoa-B1");
	v.bl_spl = 9;
	v.tee_spl = 1;
	v.snp_spl = 0x17;
	v.ucode_spl = 0xD5;	/* >= 0x80: DER needs a leading 00 */
	v.spl_4_7[0] = 4;
	v.spl_4_7[3] = 7;
	for (size_t i = 0; i < 64; i++)
		v.hwid[i] = (uint8_t)i;

	/* Reuse the shared chain's CA keys: only the VCEK is new. */
	struct skr_test_chain_opts o = {
		.product = "Genoa", .ark_key = c->ark_key, .ask_key = c->ask_key, .vcek = &v,
	};
	assert_int_equal(skr_test_chain_new(&mine, &o, &err), 0);
	assert_int_equal(X509_verify(mine.vcek, X509_get0_pubkey(mine.ask)), 1);
	assert_int_equal(verify_path(mine.vcek, mine.ask, mine.ark), 0);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(mine.ark), X509_get0_pubkey(c->ark)), 1);

	assert_int_equal(ext_int(mine.vcek, AMD_OID "1"), 1);
	assert_int_equal(ext_int(mine.vcek, AMD_OID "3.1"), 9);
	assert_int_equal(ext_int(mine.vcek, AMD_OID "3.2"), 1);
	assert_int_equal(ext_int(mine.vcek, AMD_OID "3.3"), 0x17);
	assert_int_equal(ext_int(mine.vcek, AMD_OID "3.4"), 4);
	assert_int_equal(ext_int(mine.vcek, AMD_OID "3.5"), 0);
	assert_int_equal(ext_int(mine.vcek, AMD_OID "3.6"), 0);
	assert_int_equal(ext_int(mine.vcek, AMD_OID "3.7"), 7);
	assert_int_equal(ext_int(mine.vcek, AMD_OID "3.8"), 0xD5);
	assert_null(find_ext(mine.vcek, AMD_OID "3.9"));
	os = ext_value(mine.vcek, AMD_OID "3.8");
	assert_int_equal(ASN1_STRING_length(os), 4);
	assert_memory_equal(ASN1_STRING_get0_data(os), "\x02\x02\x00\xD5", 4);

	os = ext_value(mine.vcek, AMD_OID "2");
	p = ASN1_STRING_get0_data(os);
	name = d2i_ASN1_IA5STRING(NULL, &p, ASN1_STRING_length(os));
	assert_non_null(name);
	assert_int_equal(ASN1_STRING_length(name), 8);
	assert_memory_equal(ASN1_STRING_get0_data(name), "Genoa-B1", 8);
	ASN1_IA5STRING_free(name);

	os = ext_value(mine.vcek, AMD_OID "4");
	assert_int_equal(ASN1_STRING_length(os), 64);
	assert_memory_equal(ASN1_STRING_get0_data(os), v.hwid, 64);

	assert_int_equal(ASN1_INTEGER_get(X509_get0_serialNumber(mine.vcek)), 0x1234);
	assert_int_equal(mine.vcek_opts.ucode_spl, 0xD5);
	assert_ptr_equal(mine.vcek_opts.key, mine.vcek_key);

	/* Omitted extensions are absent, the others remain. */
	v.omit = SKR_TEST_EXT_HWID | SKR_TEST_EXT_SPL_4_7;
	assert_int_equal(skr_test_chain_issue_vcek(&mine, &v, &err), 0);
	assert_null(find_ext(mine.vcek, AMD_OID "4"));
	assert_null(find_ext(mine.vcek, AMD_OID "3.5"));
	assert_int_equal(ext_int(mine.vcek, AMD_OID "3.3"), 0x17);
	assert_int_equal(X509_get_ext_count(mine.vcek), 6);

	skr_test_chain_free(&mine);
}

static void test_turin(void **state)
{
	struct skr_test_chain *shared = *state;
	struct skr_test_chain c;
	struct skr_test_chain_opts o = {
		.product = "Turin", .ark_key = shared->ark_key, .ask_key = shared->ask_key,
	};
	struct skr_test_report_opts r;
	struct skr_err err = { 0 };
	uint8_t report[SKR_TEST_REPORT_SIZE];
	const ASN1_OCTET_STRING *os;
	char cn[64];

	assert_int_equal(skr_test_chain_new(&c, &o, &err), 0);
	X509_NAME_get_text_by_NID(X509_get_subject_name(c.ark), NID_commonName, cn, sizeof(cn));
	assert_string_equal(cn, "ARK-Turin");
	X509_NAME_get_text_by_NID(X509_get_subject_name(c.ask), NID_commonName, cn, sizeof(cn));
	assert_string_equal(cn, "SEV-Turin");
	assert_int_equal(verify_path(c.vcek, c.ask, c.ark), 0);

	assert_int_equal(ext_int(c.vcek, AMD_OID "1"), 1);
	assert_int_equal(ext_int(c.vcek, AMD_OID "3.9"), 1);
	os = ext_value(c.vcek, AMD_OID "4");
	assert_int_equal(ASN1_STRING_length(os), 8);
	assert_memory_equal(ASN1_STRING_get0_data(os), c.vcek_opts.hwid, 8);
	os = ext_value(c.vcek, AMD_OID "2");
	assert_memory_equal(ASN1_STRING_get0_data(os), "\x16\x08Turin-B0", 10);

	/* Reports use the Turin TCB layout and an 8-byte chip id. */
	skr_test_report_opts_init(&r, &c.vcek_opts);
	assert_int_equal(r.current_tcb, skr_test_tcb_turin(1, 3, 0, 8, 0x73));
	assert_int_equal(r.cpuid_fam_id, 0x1A);
	assert_int_equal(r.cpuid_mod_id, 0x02);
	assert_memory_equal(r.chip_id, c.vcek_opts.hwid, 8);
	assert_true(skr_is_zero(r.chip_id + 8, 56));
	assert_int_equal(skr_test_chain_report(&c, &r, report, &err), 0);
	assert_int_equal(skr_le64(report + 0x38), 0x7300000008000301ull);
	assert_int_equal(verify_report(report, X509_get0_pubkey(c.vcek)), 1);
	skr_test_chain_free(&c);
}

static void test_vlek(void **state)
{
	struct skr_test_chain c;
	struct skr_test_vcek_opts v;
	struct skr_err err = { 0 };
	uint8_t report[SKR_TEST_REPORT_SIZE];
	char cn[64];

	skr_test_vcek_opts_init(&v, "Genoa");
	v.vlek = true;
	/* Product from v, ASVK implied by v.vlek; CA keys reused from the shared chain. */
	struct skr_test_chain *shared = *state;
	struct skr_test_chain_opts o = {
		.vcek = &v, .ark_key = shared->ark_key, .ask_key = shared->ask_key,
		.asvk_key = shared->asvk_key,
	};
	assert_int_equal(skr_test_chain_new(&c, &o, &err), 0);
	assert_non_null(c.asvk);
	X509_NAME_get_text_by_NID(X509_get_subject_name(c.asvk), NID_commonName, cn, sizeof(cn));
	assert_string_equal(cn, "SEV-VLEK-Genoa");
	X509_NAME_get_text_by_NID(X509_get_subject_name(c.vcek), NID_commonName, cn, sizeof(cn));
	assert_string_equal(cn, "SEV-VLEK");
	assert_int_equal(X509_verify(c.vcek, X509_get0_pubkey(c.asvk)), 1);
	assert_true(X509_verify(c.vcek, X509_get0_pubkey(c.ask)) <= 0);
	ERR_clear_error();
	assert_int_equal(verify_path(c.vcek, c.asvk, c.ark), 0);

	assert_int_equal(skr_test_chain_report(&c, NULL, report, &err), 0);
	assert_int_equal((skr_le32(report + 0x48) >> 2) & 7, 1);
	assert_int_equal(report[0x189], 0x11);
	assert_int_equal(verify_report(report, X509_get0_pubkey(c.vcek)), 1);
	skr_test_chain_free(&c);
}

static void test_validity(void **state)
{
	struct skr_test_chain *c = *state;
	struct skr_test_chain mine = { 0 };
	struct skr_test_vcek_opts v;
	struct skr_err err = { 0 };

	assert_true(X509_cmp_current_time(X509_get0_notBefore(c->vcek)) < 0);
	assert_true(X509_cmp_current_time(X509_get0_notAfter(c->vcek)) > 0);

	skr_test_vcek_opts_init(&v, "Milan");
	v.not_before_offset = -30 * 86400L;
	v.not_after_offset = -86400L;
	struct skr_test_chain_opts o = { .ark_key = c->ark_key, .ask_key = c->ask_key, .vcek = &v };
	assert_int_equal(skr_test_chain_new(&mine, &o, &err), 0);
	assert_true(X509_cmp_current_time(X509_get0_notAfter(mine.vcek)) < 0);
	assert_int_equal(X509_verify(mine.vcek, X509_get0_pubkey(mine.ask)), 1);
	assert_int_equal(verify_path(mine.vcek, mine.ask, mine.ark), X509_V_ERR_CERT_HAS_EXPIRED);

	/* Not yet valid. */
	v.not_before_offset = 86400L;
	v.not_after_offset = 2 * 86400L;
	assert_int_equal(skr_test_chain_issue_vcek(&mine, &v, &err), 0);
	assert_int_equal(verify_path(mine.vcek, mine.ask, mine.ark), X509_V_ERR_CERT_NOT_YET_VALID);
	skr_test_chain_free(&mine);
}

static void test_pss_omit_trailer(void **state)
{
	struct skr_test_chain *c = *state;
	struct skr_test_chain mine;
	struct skr_test_chain_opts o = {
		.pss_omit_trailer = true, .ark_key = c->ark_key, .ask_key = c->ask_key,
	};
	struct skr_err err = { 0 };

	assert_int_equal(skr_test_chain_new(&mine, &o, &err), 0);
	assert_sigalg(mine.vcek, c->vcek, false);
	assert_int_equal(X509_verify(mine.ark, X509_get0_pubkey(mine.ark)), 1);
	assert_int_equal(verify_path(mine.vcek, mine.ask, mine.ark), 0);
	skr_test_chain_free(&mine);
}

static void test_chains_are_independent(void **state)
{
	struct skr_test_chain *c = *state;
	struct skr_test_chain other;
	struct skr_test_chain_opts o = { .rsa_bits = 1024, .no_vcek = true };
	struct skr_err err = { 0 };
	uint8_t report[SKR_TEST_REPORT_SIZE];

	assert_int_equal(skr_test_chain_new(&other, &o, &err), 0);
	assert_null(other.vcek);
	assert_null(other.asvk);
	assert_int_equal(EVP_PKEY_get_bits(other.ark_key), 1024);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(other.ark), X509_get0_pubkey(c->ark)), 0);
	assert_true(X509_verify(c->vcek, X509_get0_pubkey(other.ask)) <= 0);
	ERR_clear_error();
	assert_int_not_equal(verify_path(c->vcek, c->ask, other.ark), 0);
	assert_int_equal(skr_test_chain_report(&other, NULL, report, &err), -1);
	assert_int_equal(err.reason, SKR_R_usage);
	skr_test_chain_free(&other);
}

static void test_bad_options(void **state)
{
	struct skr_test_chain *c = *state;
	struct skr_test_chain mine;
	struct skr_test_vcek_opts v;
	struct skr_err err = { 0 };
	struct skr_test_chain_opts o = {
		.ark_key = c->ark_key, .ask_key = c->ask_key, .no_vcek = true,
	};

	assert_int_equal(skr_test_chain_new(&mine, &o, &err), 0);
	skr_test_vcek_opts_init(&v, NULL);
	v.vlek = true;	/* no ASVK in this chain */
	assert_int_equal(skr_test_chain_issue_vcek(&mine, &v, &err), -1);
	assert_int_equal(err.reason, SKR_R_usage);
	skr_err_clear(&err);
	v.vlek = false;
	v.hwid_len = 65;
	assert_int_equal(skr_test_chain_issue_vcek(&mine, &v, &err), -1);
	assert_int_equal(err.reason, SKR_R_usage);
	skr_err_clear(&err);
	v.hwid_len = 64;
	v.key = c->ark_key;	/* not an EC key */
	assert_int_equal(skr_test_chain_issue_vcek(&mine, &v, &err), -1);
	assert_int_equal(err.reason, SKR_R_usage);
	skr_err_clear(&err);
	/* A given VCEK key is certified as is. */
	v.key = c->vcek_key;
	assert_int_equal(skr_test_chain_issue_vcek(&mine, &v, &err), 0);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(mine.vcek), c->vcek_key), 1);
	skr_test_chain_free(&mine);

	o.rsa_bits = 512;
	o.ark_key = o.ask_key = NULL;
	assert_int_equal(skr_test_chain_new(&mine, &o, &err), -1);
	assert_int_equal(err.reason, SKR_R_usage);
	assert_null(mine.ark);
}

static void test_tcb_encoding(void **state)
{
	uint8_t *raw;
	struct skr_buf hex = { 0 }, bin = { 0 };
	struct skr_test_vcek_opts v;

	assert_int_equal(skr_test_tcb_milan(3, 0, 8, 0x73), 0x7308000000000003ull);
	assert_int_equal(skr_test_tcb_milan(1, 2, 3, 4), 0x0403000000000201ull);
	assert_int_equal(skr_test_tcb_turin(1, 2, 3, 4, 5), 0x0500000004030201ull);
	skr_test_vcek_opts_init(&v, "Milan");
	assert_int_equal(skr_test_vcek_tcb(&v), 0x7308000000000003ull);

	/* The real Milan report's CURRENT_TCB is the real VCEK's SPLs in this layout. */
	assert_int_equal(skr_read_file(VEC("snp/milan-report.hex"), 1 << 16, &hex, NULL), 0);
	assert_int_equal(skr_decode_binary_or_hex(&hex, SKR_TEST_REPORT_SIZE, &bin, "report", NULL),
			 0);
	raw = bin.data;
	assert_int_equal(skr_le64(raw + 0x38), skr_test_tcb_milan(3, 0, 8, 0x73));
	assert_int_equal(skr_le64(raw + 0x180), skr_test_tcb_milan(3, 0, 8, 0x73));
	skr_buf_free(&hex);
	skr_buf_free(&bin);
}

static void test_report_layout(void **state)
{
	struct skr_test_report_opts r;
	uint8_t out[SKR_TEST_REPORT_SIZE];

	skr_test_report_opts_init(&r, NULL);
	assert_int_equal(r.version, 3);
	assert_int_equal(r.policy, 0x30000);
	assert_int_equal(r.signature_algo, 1);
	assert_int_equal(r.current_tcb, skr_test_tcb_milan(3, 0, 8, 0x73));

	r.version = 5;
	r.guest_svn = 0x11223344;
	r.policy = 0x30000 | SKR_TEST_POLICY_DEBUG;
	memset(r.family_id, 0xF1, 16);
	memset(r.image_id, 0xF2, 16);
	r.vmpl = 2;
	r.current_tcb = 0x0102030405060708ull;
	r.platform_info = 0x25;
	r.flags = SKR_TEST_FLAG_AUTHOR_KEY_EN | SKR_TEST_FLAG_SIGNING_KEY(1);
	memset(r.report_data, 0xD0, 64);
	memset(r.host_data, 0xB0, 32);
	memset(r.id_key_digest, 0xE0, 48);
	memset(r.author_key_digest, 0xE1, 48);
	r.reported_tcb = 0x1112131415161718ull;
	r.cpuid_fam_id = 0x19;
	r.cpuid_mod_id = 0x11;
	r.cpuid_step = 0x02;
	memset(r.chip_id, 0xC1, 64);
	r.committed_tcb = 0x2122232425262728ull;
	r.current_build = 7;
	r.current_minor = 55;
	r.current_major = 1;
	r.committed_build = 6;
	r.committed_minor = 54;
	r.committed_major = 1;
	r.launch_tcb = 0x3132333435363738ull;
	r.launch_mit_vector = 0x4142434445464748ull;
	r.current_mit_vector = 0x5152535455565758ull;
	skr_test_report_build(&r, out);

	assert_int_equal(skr_le32(out + 0x000), 5);
	assert_int_equal(skr_le32(out + 0x004), 0x11223344);
	assert_int_equal(skr_le64(out + 0x008), 0xB0000ull);
	assert_int_equal(out[0x010], 0xF1);
	assert_int_equal(out[0x02F], 0xF2);
	assert_int_equal(skr_le32(out + 0x030), 2);
	assert_int_equal(skr_le32(out + 0x034), 1);
	assert_int_equal(out[0x038], 0x08);	/* little-endian */
	assert_int_equal(skr_le64(out + 0x038), 0x0102030405060708ull);
	assert_int_equal(skr_le64(out + 0x040), 0x25);
	assert_int_equal(skr_le32(out + 0x048), 0x5);
	assert_true(skr_is_zero(out + 0x04C, 4));
	assert_int_equal(out[0x050], 0xD0);
	assert_int_equal(out[0x08F], 0xD0);
	assert_int_equal(out[0x090], 0x30);	/* default measurement pattern */
	assert_int_equal(out[0x0BF], 0x30 + 47);
	assert_int_equal(out[0x0C0], 0xB0);
	assert_int_equal(out[0x0E0], 0xE0);
	assert_int_equal(out[0x110], 0xE1);
	assert_int_equal(out[0x140], 0xC0);
	assert_int_equal(out[0x160], 0xFF);
	assert_int_equal(out[0x17F], 0xFF);
	assert_int_equal(skr_le64(out + 0x180), 0x1112131415161718ull);
	assert_int_equal(out[0x188], 0x19);
	assert_int_equal(out[0x189], 0x11);
	assert_int_equal(out[0x18A], 0x02);
	assert_true(skr_is_zero(out + 0x18B, 0x1A0 - 0x18B));
	assert_int_equal(out[0x1A0], 0xC1);
	assert_int_equal(out[0x1DF], 0xC1);
	assert_int_equal(skr_le64(out + 0x1E0), 0x2122232425262728ull);
	assert_memory_equal(out + 0x1E8, "\x07\x37\x01\x00\x06\x36\x01\x00", 8);
	assert_int_equal(skr_le64(out + 0x1F0), 0x3132333435363738ull);
	assert_int_equal(skr_le64(out + 0x1F8), 0x4142434445464748ull);
	assert_int_equal(skr_le64(out + 0x200), 0x5152535455565758ull);
	assert_true(skr_is_zero(out + 0x208, SKR_TEST_REPORT_SIZE - 0x208));

	/* Version 2 has no CPUID bytes, versions < 5 no mitigation vectors. */
	r.version = 2;
	skr_test_report_build(&r, out);
	assert_true(skr_is_zero(out + 0x188, 3));
	assert_true(skr_is_zero(out + 0x1F8, 16));
	r.version = 4;
	skr_test_report_build(&r, out);
	assert_int_equal(out[0x188], 0x19);
	assert_true(skr_is_zero(out + 0x1F8, 16));
}

static void test_report_signature(void **state)
{
	struct skr_test_chain *c = *state;
	struct skr_test_report_opts r;
	struct skr_err err = { 0 };
	uint8_t report[SKR_TEST_REPORT_SIZE];
	EVP_PKEY *pub = X509_get0_pubkey(c->vcek);

	skr_test_report_opts_init(&r, &c->vcek_opts);
	memcpy(r.report_data, "nonce", 5);
	assert_int_equal(skr_test_chain_report(c, &r, report, &err), 0);
	assert_int_equal(verify_report(report, pub), 1);
	/* R and S are < 2^384: the top 24 bytes of each 72-byte field are zero. */
	assert_true(skr_is_zero(report + 0x2A0 + 48, 24));
	assert_true(skr_is_zero(report + 0x2E8 + 48, 24));
	assert_true(skr_is_zero(report + 0x330, SKR_TEST_REPORT_SIZE - 0x330));
	assert_false(skr_is_zero(report + 0x2A0, 48));
	assert_memory_equal(report + 0x1A0, c->vcek_opts.hwid, 64);

	/* Any bit of the signed area matters; bytes after it are not signed. */
	for (size_t off = 0; off < SKR_TEST_SIGNED_SIZE; off += 0x53) {
		report[off] ^= 0x01;
		assert_int_equal(verify_report(report, pub), 0);
		report[off] ^= 0x01;
	}
	report[0x29F] ^= 0x80;
	assert_int_equal(verify_report(report, pub), 0);
	report[0x29F] ^= 0x80;
	report[0x2A0] ^= 0x01;	/* R */
	assert_int_equal(verify_report(report, pub), 0);
	report[0x2A0] ^= 0x01;
	report[0x400] ^= 0x01;	/* reserved, outside the signature */
	assert_int_equal(verify_report(report, pub), 1);

	/* Other keys do not verify it. */
	struct skr_test_chain other;
	struct skr_test_chain_opts o = { .ark_key = c->ark_key, .ask_key = c->ask_key };
	assert_int_equal(skr_test_chain_new(&other, &o, &err), 0);
	assert_int_equal(verify_report(report, X509_get0_pubkey(other.vcek)), 0);
	skr_test_chain_free(&other);

	/* Re-signing after an edit makes it valid again. */
	report[0x50] ^= 0xFF;
	assert_int_equal(skr_test_report_sign(report, c->vcek_key, &err), 0);
	assert_int_equal(verify_report(report, pub), 1);
	assert_int_equal(skr_test_report_sign(report, c->ark_key, &err), -1);
}

/* The independent verifier accepts AMD's own signature over the real vector. */
static void test_real_vector_verifies(void **state)
{
	struct skr_buf hex = { 0 }, bin = { 0 };
	X509 *vcek = load_cert(VEC("snp/milan-vcek.der"));

	assert_int_equal(skr_read_file(VEC("snp/milan-report.hex"), 1 << 16, &hex, NULL), 0);
	assert_int_equal(skr_decode_binary_or_hex(&hex, SKR_TEST_REPORT_SIZE, &bin, "report", NULL),
			 0);
	assert_int_equal(verify_report(bin.data, X509_get0_pubkey(vcek)), 1);
	bin.data[0x90] ^= 1;
	assert_int_equal(verify_report(bin.data, X509_get0_pubkey(vcek)), 0);
	skr_buf_free(&hex);
	skr_buf_free(&bin);
	X509_free(vcek);
}

static const char *const written[] = {
	"ark.pem", "ask.pem", "chain.pem", "asvk.pem", "asvk-chain.pem",
	"vcek.der", "vcek.pem", "vcek-key.pem", "vcek-pub.pem", "report.bin", "report.sig",
};

static int sh(const char *cmd, const char *dir)
{
	char line[2048];

	snprintf(line, sizeof(line), "cd '%s' && %s >/dev/null 2>&1", dir, cmd);
	return system(line);
}

/* Files on disk, and the openssl command line agrees with everything. */
static void test_write_and_openssl_cli(void **state)
{
	struct skr_test_chain *c = *state;
	char dir[] = "/tmp/skr-testchain-XXXXXX";
	char path[512];
	struct skr_err err = { 0 };
	struct skr_buf file = { 0 }, der = { 0 }, bundle = { 0 };
	uint8_t report[SKR_TEST_REPORT_SIZE];
	unsigned char *sig = NULL;
	ECDSA_SIG *es;
	int siglen;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(skr_test_chain_write(c, dir, &err), 0);

	snprintf(path, sizeof(path), "%s/vcek.der", dir);
	assert_int_equal(skr_read_file(path, 1 << 20, &file, NULL), 0);
	assert_int_equal(skr_test_cert_der(c->vcek, &der, NULL), 0);
	assert_int_equal(file.len, der.len);
	assert_memory_equal(file.data, der.data, der.len);
	snprintf(path, sizeof(path), "%s/chain.pem", dir);
	assert_int_equal(skr_read_file(path, 1 << 20, &file, NULL), 0);
	assert_int_equal(skr_test_chain_bundle_pem(c, false, &bundle, NULL), 0);
	assert_int_equal(file.len, bundle.len);
	assert_memory_equal(file.data, bundle.data, bundle.len);
	assert_non_null(strstr((char *)bundle.data, "-----END CERTIFICATE-----\n-----BEGIN"));

	/* Signed report and its signature in DER, for openssl dgst. */
	assert_int_equal(skr_test_chain_report(c, NULL, report, &err), 0);
	snprintf(path, sizeof(path), "%s/report.bin", dir);
	assert_int_equal(skr_test_write_file(path, report, SKR_TEST_SIGNED_SIZE, &err), 0);
	es = ECDSA_SIG_new();
	assert_int_equal(ECDSA_SIG_set0(es, BN_lebin2bn(report + 0x2A0, 72, NULL),
					BN_lebin2bn(report + 0x2E8, 72, NULL)), 1);
	siglen = i2d_ECDSA_SIG(es, &sig);
	assert_true(siglen > 0);
	snprintf(path, sizeof(path), "%s/report.sig", dir);
	assert_int_equal(skr_test_write_file(path, sig, (size_t)siglen, &err), 0);
	OPENSSL_free(sig);
	ECDSA_SIG_free(es);

	if (system("command -v openssl >/dev/null 2>&1") == 0) {
		assert_int_equal(sh("openssl verify -CAfile ark.pem -untrusted ask.pem vcek.pem", dir), 0);
		assert_int_equal(sh("openssl verify -CAfile ark.pem -untrusted asvk.pem ask.pem", dir), 0);
		assert_int_equal(sh("openssl verify -CAfile ark.pem ask.pem", dir), 0);
		assert_int_equal(sh("openssl x509 -inform der -in vcek.der -noout", dir), 0);
		assert_int_equal(sh("openssl x509 -in vcek.pem -noout -text | "
				    "grep -q 'Trailer Field: 0x01'", dir), 0);
		assert_int_equal(sh("openssl x509 -in vcek.pem -noout -subject -nameopt compat | "
				    "grep -q '/OU=Engineering/C=US/L=Santa Clara/ST=CA/"
				    "O=Advanced Micro Devices/CN=SEV-VCEK'", dir), 0);
		assert_int_equal(sh("openssl pkey -in vcek-key.pem -pubout -out vcek-pub.pem", dir), 0);
		assert_int_equal(sh("openssl dgst -sha384 -verify vcek-pub.pem -signature report.sig "
				    "report.bin", dir), 0);
		report[0x50] ^= 1;
		snprintf(path, sizeof(path), "%s/report.bin", dir);
		assert_int_equal(skr_test_write_file(path, report, SKR_TEST_SIGNED_SIZE, &err), 0);
		assert_int_not_equal(sh("openssl dgst -sha384 -verify vcek-pub.pem -signature "
					"report.sig report.bin", dir), 0);
	} else {
		print_message("openssl not in PATH: command-line checks skipped\n");
	}

	for (size_t i = 0; i < ARRAY_SIZE(written); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, written[i]);
		unlink(path);
	}
	assert_int_equal(rmdir(dir), 0);
	skr_buf_free(&file);
	skr_buf_free(&der);
	skr_buf_free(&bundle);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chain_signatures),
		cmocka_unit_test(test_matches_real_amd),
		cmocka_unit_test(test_vcek_extensions_roundtrip),
		cmocka_unit_test(test_turin),
		cmocka_unit_test(test_vlek),
		cmocka_unit_test(test_validity),
		cmocka_unit_test(test_pss_omit_trailer),
		cmocka_unit_test(test_chains_are_independent),
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_tcb_encoding),
		cmocka_unit_test(test_report_layout),
		cmocka_unit_test(test_report_signature),
		cmocka_unit_test(test_real_vector_verifies),
		cmocka_unit_test(test_write_and_openssl_cli),
	};

	return cmocka_run_group_tests_name("testchain", tests, group_setup, group_teardown);
}
