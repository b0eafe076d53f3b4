/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test-only AMD SEV-SNP PKI and report signer; see testchain.h.
 */
#include "testchain.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#define DAY_SECONDS	86400L
#define YEAR_SECONDS	(365L * DAY_SECONDS)

/* AMD's KDS certificates: serial numbers of the Milan ARK, ASK and ASVK. */
#define ARK_SERIAL	0x10000u
#define ASK_SERIAL	0x10001u
#define ASVK_SERIAL	0x10101u

#define OID_AMD		"1.3.6.1.4.1.3704.1."

/*
 * AlgorithmIdentifier exactly as in AMD's certificates: rsassaPss with
 * RSASSA-PSS-params { [0] sha384 (NULL params), [1] mgf1(sha384),
 * [2] saltLength 48, [3] trailerField 1 }.  OpenSSL itself leaves out the
 * DEFAULT trailerField, so certificates it signs differ from AMD's here.
 */
static const unsigned char amd_pss_alg_der[] = {
	0x30, 0x46,
	0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a,
	0x30, 0x39,
	0xa0, 0x0f, 0x30, 0x0d,
	0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00,
	0xa1, 0x1c, 0x30, 0x1a,
	0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08,
	0x30, 0x0d,
	0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00,
	0xa2, 0x03, 0x02, 0x01, 0x30,
	0xa3, 0x03, 0x02, 0x01, 0x01,
};

static void x509_freep(X509 **p) { X509_free(*p); }
static void pkey_freep(EVP_PKEY **p) { EVP_PKEY_free(*p); }
static void mdctx_freep(EVP_MD_CTX **p) { EVP_MD_CTX_free(*p); }
static void bio_freep(BIO **p) { BIO_free(*p); }
static void name_freep(X509_NAME **p) { X509_NAME_free(*p); }
static void ossl_freep(void *p) { OPENSSL_free(*(void **)p); }

/* An OpenSSL failure: names the step and the library's last error. */
static int ossl_fail(struct skr_err *err, const char *what)
{
	char buf[256] = "no OpenSSL error queued";
	unsigned long e = ERR_peek_last_error();

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return skr_fail(err, SKR_R_malformed, "testchain: %s: %s", what, buf);
}

static bool is_product(const char *p, const char *name)
{
	return p && strcasecmp(p, name) == 0;
}

/* ------------------------------------------------------------------ keys */

static int rsa_key(EVP_PKEY *given, int bits, EVP_PKEY **out, struct skr_err *err)
{
	if (given) {
		if (!EVP_PKEY_is_a(given, "RSA"))
			return skr_fail(err, SKR_R_usage, "testchain: CA key is not RSA");
		if (!EVP_PKEY_up_ref(given))
			return ossl_fail(err, "EVP_PKEY_up_ref");
		*out = given;
		return 0;
	}
	*out = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	return *out ? 0 : ossl_fail(err, "RSA key generation");
}

static int ec_key(EVP_PKEY *given, EVP_PKEY **out, struct skr_err *err)
{
	if (given) {
		if (!EVP_PKEY_is_a(given, "EC") || EVP_PKEY_get_bits(given) != 384)
			return skr_fail(err, SKR_R_usage, "testchain: VCEK key is not EC P-384");
		if (!EVP_PKEY_up_ref(given))
			return ossl_fail(err, "EVP_PKEY_up_ref");
		*out = given;
		return 0;
	}
	*out = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	return *out ? 0 : ossl_fail(err, "EC P-384 key generation");
}

/* ------------------------------------------------------------- signing */

static int pss_sign_init(EVP_MD_CTX *mctx, EVP_PKEY *key)
{
	EVP_PKEY_CTX *pctx = NULL;

	if (EVP_DigestSignInit(mctx, &pctx, EVP_sha384(), NULL, key) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha384()) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 48) <= 0)
		return -1;
	return 0;
}

/*
 * Writes the AMD AlgorithmIdentifier into both places of the certificate,
 * then signs the re-encoded TBSCertificate itself (X509_sign would put
 * OpenSSL's own PSS parameters back).
 */
static int sign_amd_pss(X509 *x, EVP_MD_CTX *mctx, struct skr_err *err)
{
	const unsigned char *p = amd_pss_alg_der;
	X509_ALGOR *alg = d2i_X509_ALGOR(NULL, &p, sizeof(amd_pss_alg_der));
	const ASN1_BIT_STRING *csig;
	const X509_ALGOR *csig_alg;
	ASN1_BIT_STRING *sig;
	_cleanup_(ossl_freep) unsigned char *tbs = NULL;
	_cleanup_free_ unsigned char *sigbuf = NULL;
	size_t siglen = 0;
	int tbs_len, ok;

	if (!alg)
		return ossl_fail(err, "decoding the PSS AlgorithmIdentifier");
	X509_get0_signature(&csig, &csig_alg, x);
	/* Both point into x; the getters are const only by convention. */
	ok = X509_ALGOR_copy((X509_ALGOR *)X509_get0_tbs_sigalg(x), alg) &&
	     X509_ALGOR_copy((X509_ALGOR *)csig_alg, alg);
	X509_ALGOR_free(alg);
	if (!ok)
		return ossl_fail(err, "setting the signature algorithm");

	tbs_len = i2d_re_X509_tbs(x, &tbs);
	if (tbs_len <= 0)
		return ossl_fail(err, "encoding the TBSCertificate");
	if (EVP_DigestSign(mctx, NULL, &siglen, tbs, (size_t)tbs_len) != 1)
		return ossl_fail(err, "EVP_DigestSign (size)");
	sigbuf = malloc(siglen);
	if (!sigbuf)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	if (EVP_DigestSign(mctx, sigbuf, &siglen, tbs, (size_t)tbs_len) != 1)
		return ossl_fail(err, "EVP_DigestSign");

	sig = (ASN1_BIT_STRING *)csig;
	if (!ASN1_BIT_STRING_set(sig, sigbuf, (int)siglen))
		return ossl_fail(err, "ASN1_BIT_STRING_set");
	/* A signature is a whole number of octets: no unused bits. */
	sig->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
	sig->flags |= ASN1_STRING_FLAG_BITS_LEFT;
	return 0;
}

/*
 * Signs *xp with an RSA key (RSASSA-PSS, SHA-384, MGF1-SHA-384, salt 48) and
 * replaces it with a copy parsed back from its DER, so the caller holds what
 * any parser of the output would see.
 */
static int sign_cert(X509 **xp, EVP_PKEY *key, bool omit_trailer, struct skr_err *err)
{
	_cleanup_(mdctx_freep) EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	_cleanup_(ossl_freep) unsigned char *der = NULL;
	const unsigned char *p;
	X509 *y;
	int len;

	if (!mctx)
		return ossl_fail(err, "EVP_MD_CTX_new");
	if (pss_sign_init(mctx, key) < 0)
		return ossl_fail(err, "RSA-PSS signing setup");
	if (omit_trailer) {
		if (X509_sign_ctx(*xp, mctx) <= 0)
			return ossl_fail(err, "X509_sign_ctx");
	} else if (sign_amd_pss(*xp, mctx, err) < 0) {
		return -1;
	}

	len = i2d_X509(*xp, &der);
	if (len <= 0)
		return ossl_fail(err, "encoding the certificate");
	p = der;
	y = d2i_X509(NULL, &p, len);
	if (!y || p != der + len) {
		X509_free(y);
		return ossl_fail(err, "re-parsing the certificate");
	}
	X509_free(*xp);
	*xp = y;
	return 0;
}

/* ------------------------------------------------------ certificate body */

/* OU=Engineering, C=US, L=Santa Clara, ST=CA, O=Advanced Micro Devices, CN=cn */
static X509_NAME *amd_name(const char *cn)
{
	static const char *const rdns[][2] = {
		{ "OU", "Engineering" }, { "C", "US" }, { "L", "Santa Clara" },
		{ "ST", "CA" }, { "O", "Advanced Micro Devices" },
	};
	X509_NAME *n = X509_NAME_new();

	if (!n)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(rdns); i++)
		if (!X509_NAME_add_entry_by_txt(n, rdns[i][0], MBSTRING_UTF8,
						(const unsigned char *)rdns[i][1], -1, -1, 0))
			goto fail;
	if (!X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn,
					-1, -1, 0))
		goto fail;
	return n;
fail:
	X509_NAME_free(n);
	return NULL;
}

/* Version 3, serial, names, validity and key: everything but extensions. */
static int cert_body(X509 *x, uint64_t serial, const char *subject_cn, X509 *issuer,
		     long not_before, long not_after, EVP_PKEY *key, struct skr_err *err)
{
	_cleanup_(name_freep) X509_NAME *subject = amd_name(subject_cn);

	if (!subject)
		return ossl_fail(err, "building the subject name");
	if (!X509_set_version(x, X509_VERSION_3) ||
	    !ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial) ||
	    !X509_set_subject_name(x, subject) ||
	    !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : subject) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), not_before) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), not_after) ||
	    !X509_set_pubkey(x, key))
		return ossl_fail(err, "filling the certificate");
	return 0;
}

static int add_conf_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value,
			struct skr_err *err)
{
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
	int ok = ext && X509_add_ext(x, ext, -1);

	X509_EXTENSION_free(ext);
	return ok ? 0 : ossl_fail(err, OBJ_nid2sn(nid));
}

static int add_raw_ext(X509 *x, const char *oid, bool critical, const unsigned char *val,
		       int len, struct skr_err *err);

/*
 * keyUsage keyCertSign as AMD encodes it in ASKs and ASVKs: BIT STRING
 * 03 02 01 04, one unused bit where DER (and OpenSSL) would say two.
 */
static const unsigned char amd_ask_key_usage[] = { 0x03, 0x02, 0x01, 0x04 };

struct ca_spec {
	const char *cn_prefix;	/* CN is prefix + product */
	uint64_t serial;
	bool root;
	const char *crl_kind;	/* "vcek" or "vlek" */
};

static const struct ca_spec ARK_SPEC = { "ARK-", ARK_SERIAL, true, "vcek" };
static const struct ca_spec ASK_SPEC = { "SEV-", ASK_SERIAL, false, "vcek" };
static const struct ca_spec ASVK_SPEC = { "SEV-VLEK-", ASVK_SERIAL, false, "vlek" };

/*
 * An AMD CA certificate, extensions in AMD's order.  ARK: keyUsage (critical
 * keyCertSign, cRLSign), subjectKeyIdentifier, basicConstraints (critical
 * CA:TRUE), CRL distribution point.  ASK/ASVK: subjectKeyIdentifier,
 * authorityKeyIdentifier (keyid), basicConstraints (critical CA:TRUE,
 * pathlen:0), keyUsage (critical keyCertSign), CRL distribution point.
 */
static int make_ca(X509 **out, const struct ca_spec *spec, const struct skr_test_chain *c,
		   EVP_PKEY *key, long not_before, long not_after, struct skr_err *err)
{
	_cleanup_(x509_freep) X509 *x = X509_new();
	X509 *issuer = spec->root ? NULL : c->ark;
	char cn[64], crl[160];
	X509V3_CTX ctx;

	if (!x)
		return ossl_fail(err, "X509_new");
	snprintf(cn, sizeof(cn), "%s%s", spec->cn_prefix, c->product);
	snprintf(crl, sizeof(crl), "URI:https://kdsintf.amd.com/%s/v1/%s/crl", spec->crl_kind,
		 c->product);
	if (cert_body(x, spec->serial, cn, issuer, not_before, not_after, key, err) < 0)
		return -1;

	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	if (spec->root) {
		if (add_conf_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign", err) < 0 ||
		    add_conf_ext(x, &ctx, NID_subject_key_identifier, "hash", err) < 0 ||
		    add_conf_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE", err) < 0)
			return -1;
	} else {
		if (add_conf_ext(x, &ctx, NID_subject_key_identifier, "hash", err) < 0 ||
		    add_conf_ext(x, &ctx, NID_authority_key_identifier, "keyid:always", err) < 0 ||
		    add_conf_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0",
				 err) < 0 ||
		    add_raw_ext(x, "2.5.29.15", true, amd_ask_key_usage,
				(int)sizeof(amd_ask_key_usage), err) < 0)
			return -1;
	}
	if (add_conf_ext(x, &ctx, NID_crl_distribution_points, crl, err) < 0)
		return -1;

	if (sign_cert(&x, spec->root ? key : c->ark_key, c->pss_omit_trailer, err) < 0)
		return -1;
	*out = x;
	x = NULL;
	return 0;
}

/* ------------------------------------------------------- VCEK extensions */

/* An extension whose extnValue is exactly len bytes of val. */
static int add_raw_ext(X509 *x, const char *oid, bool critical, const unsigned char *val,
		       int len, struct skr_err *err)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext = NULL;
	int ok = obj && os && ASN1_OCTET_STRING_set(os, val, len) &&
		 (ext = X509_EXTENSION_create_by_OBJ(NULL, obj, critical, os)) &&
		 X509_add_ext(x, ext, -1);

	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(obj);
	return ok ? 0 : ossl_fail(err, oid);
}

/* extnValue = DER of INTEGER v (e.g. 02 01 73, or 02 02 00 D5 for 0xD5). */
static int add_int_ext(X509 *x, const char *oid, int64_t v, struct skr_err *err)
{
	ASN1_INTEGER *ai = ASN1_INTEGER_new();
	_cleanup_(ossl_freep) unsigned char *der = NULL;
	int len = -1;

	if (ai && ASN1_INTEGER_set_int64(ai, v))
		len = i2d_ASN1_INTEGER(ai, &der);
	ASN1_INTEGER_free(ai);
	if (len <= 0)
		return ossl_fail(err, oid);
	return add_raw_ext(x, oid, false, der, len, err);
}

/* extnValue = DER of IA5String s (16 08 "Milan-B0"). */
static int add_ia5_ext(X509 *x, const char *oid, const char *s, struct skr_err *err)
{
	ASN1_IA5STRING *str = ASN1_IA5STRING_new();
	_cleanup_(ossl_freep) unsigned char *der = NULL;
	int len = -1;

	if (str && ASN1_STRING_set(str, s, -1))
		len = i2d_ASN1_IA5STRING(str, &der);
	ASN1_IA5STRING_free(str);
	if (len <= 0)
		return ossl_fail(err, oid);
	return add_raw_ext(x, oid, false, der, len, err);
}

/*
 * In the order of a real Milan VCEK: structVersion, productName, blSPL,
 * teeSPL, spl_4..spl_7, snpSPL, ucodeSPL, [fmcSPL], hwID.
 */
static int add_vcek_exts(X509 *x, const struct skr_test_vcek_opts *v, struct skr_err *err)
{
	static const char *const spl_4_7[4] = {
		OID_AMD "3.4", OID_AMD "3.5", OID_AMD "3.6", OID_AMD "3.7",
	};

	if (!(v->omit & SKR_TEST_EXT_STRUCT_VERSION) &&
	    add_int_ext(x, OID_AMD "1", v->struct_version, err) < 0)
		return -1;
	if (!(v->omit & SKR_TEST_EXT_PRODUCT_NAME) &&
	    add_ia5_ext(x, OID_AMD "2", v->product_name, err) < 0)
		return -1;
	if (!(v->omit & SKR_TEST_EXT_BL_SPL) && add_int_ext(x, OID_AMD "3.1", v->bl_spl, err) < 0)
		return -1;
	if (!(v->omit & SKR_TEST_EXT_TEE_SPL) &&
	    add_int_ext(x, OID_AMD "3.2", v->tee_spl, err) < 0)
		return -1;
	if (!(v->omit & SKR_TEST_EXT_SPL_4_7))
		for (size_t i = 0; i < ARRAY_SIZE(spl_4_7); i++)
			if (add_int_ext(x, spl_4_7[i], v->spl_4_7[i], err) < 0)
				return -1;
	if (!(v->omit & SKR_TEST_EXT_SNP_SPL) &&
	    add_int_ext(x, OID_AMD "3.3", v->snp_spl, err) < 0)
		return -1;
	if (!(v->omit & SKR_TEST_EXT_UCODE_SPL) &&
	    add_int_ext(x, OID_AMD "3.8", v->ucode_spl, err) < 0)
		return -1;
	if (v->with_fmc_spl && add_int_ext(x, OID_AMD "3.9", v->fmc_spl, err) < 0)
		return -1;
	/* hwID: the chip id itself, not wrapped in a nested OCTET STRING. */
	if (!(v->omit & SKR_TEST_EXT_HWID) &&
	    add_raw_ext(x, OID_AMD "4", false, v->hwid, (int)v->hwid_len, err) < 0)
		return -1;
	return 0;
}

/* ------------------------------------------------------------ public API */

void skr_test_vcek_opts_init(struct skr_test_vcek_opts *o, const char *product)
{
	bool turin = is_product(product, "Turin");

	memset(o, 0, sizeof(*o));
	snprintf(o->product, sizeof(o->product), "%s", product ? product : "Milan");
	o->turin_tcb = turin;
	o->serial = 0;
	o->not_before_offset = -DAY_SECONDS;
	o->not_after_offset = 7 * YEAR_SECONDS;
	o->struct_version = turin ? 1 : 0;
	snprintf(o->product_name, sizeof(o->product_name), "%s-B0", o->product);
	o->bl_spl = 3;
	o->tee_spl = 0;
	o->snp_spl = 8;
	o->ucode_spl = 0x73;
	o->with_fmc_spl = turin;
	o->fmc_spl = turin ? 1 : 0;
	for (size_t i = 0; i < sizeof(o->hwid); i++)
		o->hwid[i] = (uint8_t)(0xA5 ^ (i * 0x3B));
	o->hwid_len = turin ? 8 : 64;
}

void skr_test_chain_free(struct skr_test_chain *c)
{
	if (!c)
		return;
	X509_free(c->ark);
	X509_free(c->ask);
	X509_free(c->asvk);
	X509_free(c->vcek);
	EVP_PKEY_free(c->ark_key);
	EVP_PKEY_free(c->ask_key);
	EVP_PKEY_free(c->asvk_key);
	EVP_PKEY_free(c->vcek_key);
	memset(c, 0, sizeof(*c));
}

int skr_test_chain_issue_vcek(struct skr_test_chain *c, const struct skr_test_vcek_opts *opts,
			      struct skr_err *err)
{
	struct skr_test_vcek_opts v;
	_cleanup_(x509_freep) X509 *x = NULL;
	_cleanup_(pkey_freep) EVP_PKEY *key = NULL;
	X509 *issuer;
	EVP_PKEY *issuer_key;

	if (opts)
		v = *opts;
	else
		skr_test_vcek_opts_init(&v, c->product);
	if (v.hwid_len > sizeof(v.hwid))
		return skr_fail(err, SKR_R_usage, "testchain: hwid_len %zu > 64", v.hwid_len);
	if (!memchr(v.product_name, '\0', sizeof(v.product_name)) ||
	    !memchr(v.product, '\0', sizeof(v.product)))
		return skr_fail(err, SKR_R_usage, "testchain: unterminated product name");
	issuer = v.vlek ? c->asvk : c->ask;
	issuer_key = v.vlek ? c->asvk_key : c->ask_key;
	if (!issuer || !issuer_key)
		return skr_fail(err, SKR_R_usage, "testchain: no %s to issue the %s",
				v.vlek ? "ASVK" : "ASK", v.vlek ? "VLEK" : "VCEK");

	if (ec_key(v.key, &key, err) < 0)
		return -1;
	x = X509_new();
	if (!x)
		return ossl_fail(err, "X509_new");
	if (cert_body(x, v.serial, v.vlek ? "SEV-VLEK" : "SEV-VCEK", issuer, v.not_before_offset,
		      v.not_after_offset, key, err) < 0 ||
	    add_vcek_exts(x, &v, err) < 0 ||
	    sign_cert(&x, issuer_key, c->pss_omit_trailer, err) < 0)
		return -1;

	X509_free(c->vcek);
	EVP_PKEY_free(c->vcek_key);
	c->vcek = x;
	c->vcek_key = key;
	x = NULL;
	key = NULL;
	c->vcek_opts = v;
	c->vcek_opts.key = c->vcek_key;
	return 0;
}

int skr_test_chain_new(struct skr_test_chain *c, const struct skr_test_chain_opts *opts,
		       struct skr_err *err)
{
	static const struct skr_test_chain_opts defaults;
	const char *product;
	bool want_vcek, want_asvk;
	long nb, na;
	int bits;

	memset(c, 0, sizeof(*c));
	if (!opts)
		opts = &defaults;
	product = opts->product ? opts->product : opts->vcek ? opts->vcek->product : "Milan";
	if (!*product || strlen(product) >= sizeof(c->product))
		return skr_fail(err, SKR_R_usage, "testchain: bad product name \"%s\"", product);
	bits = opts->rsa_bits ? opts->rsa_bits : 2048;
	if (bits < 1024)
		return skr_fail(err, SKR_R_usage, "testchain: RSA-%d is too small for PSS-SHA384",
				bits);
	want_vcek = !opts->no_vcek;
	want_asvk = opts->with_asvk || (want_vcek && opts->vcek && opts->vcek->vlek);
	nb = opts->ca_not_before_offset ? opts->ca_not_before_offset : -DAY_SECONDS;
	na = opts->ca_not_after_offset ? opts->ca_not_after_offset : 20 * YEAR_SECONDS;

	snprintf(c->product, sizeof(c->product), "%s", product);
	c->pss_omit_trailer = opts->pss_omit_trailer;
	if (rsa_key(opts->ark_key, bits, &c->ark_key, err) < 0 ||
	    make_ca(&c->ark, &ARK_SPEC, c, c->ark_key, nb, na, err) < 0 ||
	    rsa_key(opts->ask_key, bits, &c->ask_key, err) < 0 ||
	    make_ca(&c->ask, &ASK_SPEC, c, c->ask_key, nb, na, err) < 0)
		goto fail;
	if (want_asvk &&
	    (rsa_key(opts->asvk_key, bits, &c->asvk_key, err) < 0 ||
	     make_ca(&c->asvk, &ASVK_SPEC, c, c->asvk_key, nb, na, err) < 0))
		goto fail;
	if (want_vcek && skr_test_chain_issue_vcek(c, opts->vcek, err) < 0)
		goto fail;
	return 0;
fail:
	skr_test_chain_free(c);
	return -1;
}

/* --------------------------------------------------------- serialization */

static int bio_to_buf(BIO *b, struct skr_buf *out, struct skr_err *err)
{
	char *data = NULL;
	long n = BIO_get_mem_data(b, &data);

	if (n <= 0 || !data)
		return ossl_fail(err, "reading a memory BIO");
	return skr_buf_set(out, data, (size_t)n, err);
}

int skr_test_cert_der(X509 *x, struct skr_buf *out, struct skr_err *err)
{
	_cleanup_(ossl_freep) unsigned char *der = NULL;
	int len = x ? i2d_X509(x, &der) : -1;

	if (len <= 0)
		return ossl_fail(err, "i2d_X509");
	return skr_buf_set(out, der, (size_t)len, err);
}

int skr_test_cert_pem(X509 *x, struct skr_buf *out, struct skr_err *err)
{
	_cleanup_(bio_freep) BIO *b = BIO_new(BIO_s_mem());

	if (!b || !x || !PEM_write_bio_X509(b, x))
		return ossl_fail(err, "PEM_write_bio_X509");
	return bio_to_buf(b, out, err);
}

int skr_test_chain_bundle_pem(const struct skr_test_chain *c, bool asvk, struct skr_buf *out,
			      struct skr_err *err)
{
	_cleanup_(bio_freep) BIO *b = BIO_new(BIO_s_mem());
	X509 *ca = asvk ? c->asvk : c->ask;

	if (!ca || !c->ark)
		return skr_fail(err, SKR_R_usage, "testchain: no %s in this chain",
				asvk ? "ASVK" : "ASK");
	if (!b || !PEM_write_bio_X509(b, ca) || !PEM_write_bio_X509(b, c->ark))
		return ossl_fail(err, "PEM_write_bio_X509");
	return bio_to_buf(b, out, err);
}

int skr_test_key_pem(EVP_PKEY *key, struct skr_buf *out, struct skr_err *err)
{
	_cleanup_(bio_freep) BIO *b = BIO_new(BIO_s_mem());

	if (!b || !key || !PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL))
		return ossl_fail(err, "PEM_write_bio_PrivateKey");
	return bio_to_buf(b, out, err);
}

int skr_test_write_file(const char *path, const void *data, size_t len, struct skr_err *err)
{
	FILE *f = fopen(path, "wb");
	bool ok;

	if (!f)
		return skr_fail(err, SKR_R_io, "testchain: cannot create %s: %m", path);
	ok = fwrite(data, 1, len, f) == len;
	ok = (fclose(f) == 0) && ok;
	return ok ? 0 : skr_fail(err, SKR_R_io, "testchain: cannot write %s", path);
}

static int write_buf(const char *dir, const char *name, const struct skr_buf *b,
		     struct skr_err *err)
{
	char path[4096];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return skr_fail(err, SKR_R_usage, "testchain: path too long");
	return skr_test_write_file(path, b->data, b->len, err);
}

static int write_cert(const char *dir, const char *name, X509 *x, bool der,
		      struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf b = { 0 };

	if ((der ? skr_test_cert_der(x, &b, err) : skr_test_cert_pem(x, &b, err)) < 0)
		return -1;
	return write_buf(dir, name, &b, err);
}

int skr_test_chain_write(const struct skr_test_chain *c, const char *dir, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf chain = { 0 };
	_cleanup_buf_ struct skr_buf asvk_chain = { 0 };
	_cleanup_buf_ struct skr_buf key = { 0 };

	if (write_cert(dir, "ark.pem", c->ark, false, err) < 0 ||
	    write_cert(dir, "ask.pem", c->ask, false, err) < 0 ||
	    skr_test_chain_bundle_pem(c, false, &chain, err) < 0 ||
	    write_buf(dir, "chain.pem", &chain, err) < 0)
		return -1;
	if (c->asvk &&
	    (write_cert(dir, "asvk.pem", c->asvk, false, err) < 0 ||
	     skr_test_chain_bundle_pem(c, true, &asvk_chain, err) < 0 ||
	     write_buf(dir, "asvk-chain.pem", &asvk_chain, err) < 0))
		return -1;
	if (c->vcek &&
	    (write_cert(dir, "vcek.der", c->vcek, true, err) < 0 ||
	     write_cert(dir, "vcek.pem", c->vcek, false, err) < 0 ||
	     skr_test_key_pem(c->vcek_key, &key, err) < 0 ||
	     write_buf(dir, "vcek-key.pem", &key, err) < 0))
		return -1;
	return 0;
}

/* --------------------------------------------------------------- reports */

uint64_t skr_test_tcb_milan(uint8_t bl, uint8_t tee, uint8_t snp, uint8_t ucode)
{
	return (uint64_t)bl | (uint64_t)tee << 8 | (uint64_t)snp << 48 | (uint64_t)ucode << 56;
}

uint64_t skr_test_tcb_turin(uint8_t fmc, uint8_t bl, uint8_t tee, uint8_t snp, uint8_t ucode)
{
	return (uint64_t)fmc | (uint64_t)bl << 8 | (uint64_t)tee << 16 | (uint64_t)snp << 24 |
	       (uint64_t)ucode << 56;
}

uint64_t skr_test_vcek_tcb(const struct skr_test_vcek_opts *v)
{
	if (v->turin_tcb)
		return skr_test_tcb_turin((uint8_t)v->fmc_spl, (uint8_t)v->bl_spl,
					  (uint8_t)v->tee_spl, (uint8_t)v->snp_spl,
					  (uint8_t)v->ucode_spl);
	return skr_test_tcb_milan((uint8_t)v->bl_spl, (uint8_t)v->tee_spl, (uint8_t)v->snp_spl,
				  (uint8_t)v->ucode_spl);
}

void skr_test_report_opts_init(struct skr_test_report_opts *r, const struct skr_test_vcek_opts *v)
{
	struct skr_test_vcek_opts def;
	uint64_t tcb;

	if (!v) {
		skr_test_vcek_opts_init(&def, NULL);
		v = &def;
	}
	memset(r, 0, sizeof(*r));
	tcb = skr_test_vcek_tcb(v);
	r->version = 3;
	r->policy = SKR_TEST_POLICY_DEFAULT;
	r->signature_algo = 1;
	r->current_tcb = r->reported_tcb = r->committed_tcb = r->launch_tcb = tcb;
	r->platform_info = 1;
	r->flags = SKR_TEST_FLAG_SIGNING_KEY(v->vlek ? 1 : 0);
	for (size_t i = 0; i < sizeof(r->measurement); i++)
		r->measurement[i] = (uint8_t)(0x30 + i);
	for (size_t i = 0; i < sizeof(r->report_id); i++)
		r->report_id[i] = (uint8_t)(0xC0 + i);
	memset(r->report_id_ma, 0xFF, sizeof(r->report_id_ma));
	if (is_product(v->product, "Turin")) {
		r->cpuid_fam_id = 0x1A;
		r->cpuid_mod_id = 0x02;
	} else if (is_product(v->product, "Genoa")) {
		r->cpuid_fam_id = 0x19;
		r->cpuid_mod_id = 0x11;
	} else {
		r->cpuid_fam_id = 0x19;
		r->cpuid_mod_id = 0x01;
	}
	r->cpuid_step = 1;
	memcpy(r->chip_id, v->hwid, v->hwid_len < sizeof(r->chip_id) ? v->hwid_len
								       : sizeof(r->chip_id));
	r->current_build = r->committed_build = 4;
	r->current_minor = r->committed_minor = 52;
	r->current_major = r->committed_major = 1;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void skr_test_report_build(const struct skr_test_report_opts *r,
			   uint8_t out[SKR_TEST_REPORT_SIZE])
{
	memset(out, 0, SKR_TEST_REPORT_SIZE);
	put32(out + 0x000, r->version);
	put32(out + 0x004, r->guest_svn);
	put64(out + 0x008, r->policy);
	memcpy(out + 0x010, r->family_id, 16);
	memcpy(out + 0x020, r->image_id, 16);
	put32(out + 0x030, r->vmpl);
	put32(out + 0x034, r->signature_algo);
	put64(out + 0x038, r->current_tcb);
	put64(out + 0x040, r->platform_info);
	put32(out + 0x048, r->flags);
	memcpy(out + 0x050, r->report_data, 64);
	memcpy(out + 0x090, r->measurement, 48);
	memcpy(out + 0x0C0, r->host_data, 32);
	memcpy(out + 0x0E0, r->id_key_digest, 48);
	memcpy(out + 0x110, r->author_key_digest, 48);
	memcpy(out + 0x140, r->report_id, 32);
	memcpy(out + 0x160, r->report_id_ma, 32);
	put64(out + 0x180, r->reported_tcb);
	if (r->version >= 3) {
		out[0x188] = r->cpuid_fam_id;
		out[0x189] = r->cpuid_mod_id;
		out[0x18A] = r->cpuid_step;
	}
	memcpy(out + 0x1A0, r->chip_id, 64);
	put64(out + 0x1E0, r->committed_tcb);
	out[0x1E8] = r->current_build;
	out[0x1E9] = r->current_minor;
	out[0x1EA] = r->current_major;
	out[0x1EC] = r->committed_build;
	out[0x1ED] = r->committed_minor;
	out[0x1EE] = r->committed_major;
	put64(out + 0x1F0, r->launch_tcb);
	if (r->version >= 5) {
		put64(out + 0x1F8, r->launch_mit_vector);
		put64(out + 0x200, r->current_mit_vector);
	}
}

int skr_test_report_sign(uint8_t report[SKR_TEST_REPORT_SIZE], EVP_PKEY *key,
			 struct skr_err *err)
{
	_cleanup_(mdctx_freep) EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	_cleanup_free_ unsigned char *der = NULL;
	const unsigned char *p;
	const BIGNUM *r, *s;
	ECDSA_SIG *sig;
	size_t len = 0;
	int rc = 0;

	if (!key || !EVP_PKEY_is_a(key, "EC"))
		return skr_fail(err, SKR_R_usage, "testchain: report signing key is not EC");
	if (!mctx || EVP_DigestSignInit(mctx, NULL, EVP_sha384(), NULL, key) != 1 ||
	    EVP_DigestSign(mctx, NULL, &len, report, SKR_TEST_SIGNED_SIZE) != 1)
		return ossl_fail(err, "ECDSA signing setup");
	der = malloc(len);
	if (!der)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	if (EVP_DigestSign(mctx, der, &len, report, SKR_TEST_SIGNED_SIZE) != 1)
		return ossl_fail(err, "ECDSA signing");

	p = der;
	sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
	if (!sig)
		return ossl_fail(err, "decoding the ECDSA signature");
	ECDSA_SIG_get0(sig, &r, &s);
	memset(report + SKR_TEST_SIGNED_SIZE, 0, SKR_TEST_REPORT_SIZE - SKR_TEST_SIGNED_SIZE);
	if (BN_bn2lebinpad(r, report + SKR_TEST_SIG_R_OFFSET, SKR_TEST_SIG_COMPONENT) < 0 ||
	    BN_bn2lebinpad(s, report + SKR_TEST_SIG_S_OFFSET, SKR_TEST_SIG_COMPONENT) < 0)
		rc = ossl_fail(err, "BN_bn2lebinpad");
	ECDSA_SIG_free(sig);
	return rc;
}

int skr_test_chain_report(const struct skr_test_chain *c, const struct skr_test_report_opts *r,
			  uint8_t out[SKR_TEST_REPORT_SIZE], struct skr_err *err)
{
	struct skr_test_report_opts def;

	if (!c->vcek_key)
		return skr_fail(err, SKR_R_usage, "testchain: the chain has no VCEK");
	if (!r) {
		skr_test_report_opts_init(&def, &c->vcek_opts);
		r = &def;
	}
	skr_test_report_build(r, out);
	return skr_test_report_sign(out, c->vcek_key, err);
}
