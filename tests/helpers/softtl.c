/* SPDX-License-Identifier: Apache-2.0 */
#include "softtl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <tss2/tss2_mu.h>

#include "common/json_util.h"
#include "common/util.h"

#define DAY 86400

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	ok = ext && X509_add_ext(cert, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

X509 *skr_softtl_make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
			   bool ca, long from, long to)
{
	static long serial = 1000;
	X509 *c = X509_new();
	X509_NAME *name = X509_NAME_new();
	X509 *signer = issuer ? issuer : c;
	bool ok;

	ok = c && name && X509_set_version(c, 2) &&
	     ASN1_INTEGER_set(X509_get_serialNumber(c), __atomic_add_fetch(&serial, 1, __ATOMIC_RELAXED)) &&
	     X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) &&
	     X509_set_subject_name(c, name) &&
	     X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name) &&
	     X509_gmtime_adj(X509_getm_notBefore(c), from) && X509_gmtime_adj(X509_getm_notAfter(c), to) &&
	     X509_set_pubkey(c, key) &&
	     add_ext(c, signer, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE") == 0 &&
	     add_ext(c, signer, NID_key_usage,
		     ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature") == 0 &&
	     X509_sign(c, issuer_key, EVP_sha256()) > 0;	/* no AIA, as Azure's CA-03 leaves */
	X509_NAME_free(name);
	if (!ok) {
		X509_free(c);
		return NULL;
	}
	return c;
}

static int write_pem(const char *path, X509 *cert, struct skr_err *err)
{
	FILE *f = fopen(path, "w");
	int ok = f && PEM_write_X509(f, cert) == 1;

	if (f && fclose(f) != 0)
		ok = 0;
	return ok ? 0 : skr_fail(err, SKR_R_io, "cannot write %s", path);
}

int skr_softtl_new(struct skr_softtl *t, EVP_PKEY *ak, struct skr_err *err)
{
	memset(t, 0, sizeof(*t));
	t->ak_attributes = SKR_SOFTTL_AK_ATTRIBUTES;
	snprintf(t->dir, sizeof(t->dir), "/tmp/skr-softtl.XXXXXX");
	if (!mkdtemp(t->dir))
		return skr_fail(err, SKR_R_io, "cannot make a temporary directory");
	snprintf(t->roots_pem, sizeof(t->roots_pem), "%s/roots.pem", t->dir);
	snprintf(t->intermediates_pem, sizeof(t->intermediates_pem), "%s/intermediates.pem", t->dir);
	t->root_key = EVP_EC_gen("P-256");
	t->int_key = EVP_EC_gen("P-256");
	if (!t->root_key || !t->int_key)
		return skr_fail(err, SKR_R_nomem, "key generation failed");
	t->root = skr_softtl_make_cert("skr test Virtual TPM Root", t->root_key, NULL, t->root_key,
				       true, -DAY, 30 * DAY);
	t->inter = t->root ? skr_softtl_make_cert("skr test Global Virtual TPM CA - 03", t->int_key,
						  t->root, t->root_key, true, -DAY, 30 * DAY) : NULL;
	t->leaf = t->inter ? skr_softtl_make_cert(SKR_SOFTTL_SUBJECT, ak, t->inter, t->int_key,
						  false, -DAY, DAY) : NULL;
	if (!t->leaf)
		return skr_fail(err, SKR_R_malformed, "cannot make the test AK PKI");
	if (write_pem(t->roots_pem, t->root, err) < 0 ||
	    write_pem(t->intermediates_pem, t->inter, err) < 0)
		return -1;
	return 0;
}

void skr_softtl_free(struct skr_softtl *t)
{
	if (t->roots_pem[0])
		unlink(t->roots_pem);
	if (t->intermediates_pem[0])
		unlink(t->intermediates_pem);
	if (t->dir[0])
		rmdir(t->dir);
	X509_free(t->root);
	X509_free(t->inter);
	X509_free(t->leaf);
	X509_free(t->cert_override);
	EVP_PKEY_free(t->root_key);
	EVP_PKEY_free(t->int_key);
	memset(t, 0, sizeof(*t));
}

int skr_softtl_ak_public(EVP_PKEY *ak, TPMA_OBJECT attributes, uint8_t *buf, size_t size,
			 size_t *len, struct skr_err *err)
{
	TPM2B_PUBLIC pub = { 0 };
	TPMT_PUBLIC *p = &pub.publicArea;
	BIGNUM *n = NULL;

	p->type = TPM2_ALG_RSA;
	p->nameAlg = TPM2_ALG_SHA256;
	p->objectAttributes = attributes;
	p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
	p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
	p->parameters.rsaDetail.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
	p->parameters.rsaDetail.keyBits = 2048;
	if (EVP_PKEY_get_bn_param(ak, "n", &n) != 1 || BN_num_bytes(n) > 256) {
		BN_free(n);
		return skr_fail(err, SKR_R_unsupported, "the AK is not RSA-2048");
	}
	p->unique.rsa.size = (UINT16)BN_bn2bin(n, p->unique.rsa.buffer);
	BN_free(n);
	*len = 0;
	if (Tss2_MU_TPM2B_PUBLIC_Marshal(&pub, buf, size, len) != TSS2_RC_SUCCESS)
		return skr_fail(err, SKR_R_malformed, "cannot marshal the AK public area");
	return 0;
}

static int add_der(json_object *ev, const char *key, X509 *cert)
{
	uint8_t *der = NULL;
	int len = i2d_X509(cert, &der), rc;

	if (len <= 0)
		return -1;
	rc = skr_json_add_b64(ev, key, der, (size_t)len);
	OPENSSL_free(der);
	return rc;
}

int skr_softtl_convert(struct skr_softtl *t, EVP_PKEY *ak, json_object *req, struct skr_err *err)
{
	uint8_t pub[sizeof(TPM2B_PUBLIC)];
	size_t len;
	json_object *ev;

	if (!json_object_object_get_ex(req, "evidence", &ev))
		return skr_fail(err, SKR_R_malformed, "the request has no evidence");
	json_object_object_del(ev, "hcl_report");
	json_object_object_del(ev, "vcek");
	json_object_object_add(ev, "tee", json_object_new_string("azure-tl"));
	if (skr_softtl_ak_public(ak, t->ak_attributes, pub, sizeof(pub), &len, err) < 0)
		return -1;
	if (add_der(ev, "ak_cert", t->cert_override ? t->cert_override : t->leaf) < 0 ||
	    skr_json_add_b64(ev, "ak_public", pub, len) < 0 ||
	    (t->send_intermediate && add_der(ev, "ak_chain", t->inter) < 0))
		return skr_fail(err, SKR_R_nomem, "cannot build the azure-tl evidence");
	return 0;
}
