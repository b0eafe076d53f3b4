/* SPDX-License-Identifier: Apache-2.0 */
#include "verify/akcert.h"

#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509_vfy.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "verify/wrap_key.h"

/* A configured PEM file of roots or intermediates: a handful of certificates. */
#define MAX_PEM_FILE (1u << 20)

struct skr_akcert_trust {
	X509_STORE *anchors;		/* the built-in root and configured roots */
	STACK_OF(X509) *material;	/* CA-03 and configured intermediates: never anchors */
	bool ek;			/* EK certificates: no built-ins, one reason */
};

/* An EK certificate fails with ekcert_untrusted whatever the cause (the detail says it). */
static enum skr_reason reason_of(const struct skr_akcert_trust *t, enum skr_reason r)
{
	return t->ek ? SKR_R_ekcert_untrusted : r;
}

static const char *kind_of(const struct skr_akcert_trust *t)
{
	return t->ek ? "EK" : "AK";
}

/* Every certificate of PEM text, appended to *out; fails when there is none. */
static int pem_certs(const void *pem, size_t len, STACK_OF(X509) *out, const char *what,
		     struct skr_err *err)
{
	_cleanup_(BIO_freep) BIO *bio = BIO_new_mem_buf(pem, (int)len);
	int n = 0;
	X509 *c;

	if (!bio)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	while ((c = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (!sk_X509_push(out, c)) {
			X509_free(c);
			return skr_fail(err, SKR_R_nomem, "out of memory");
		}
		n++;
	}
	if (n == 0)
		return skr_fail(err, SKR_R_malformed, "%s holds no PEM certificate", what);
	return 0;
}

static int pem_file_certs(const char *path, STACK_OF(X509) *out, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf text = { 0 };

	if (skr_read_file(path, MAX_PEM_FILE, &text, err) < 0)
		return -1;
	return pem_certs(text.data, text.len, out, path, err);
}

static int add_anchors(X509_STORE *store, STACK_OF(X509) *certs, struct skr_err *err)
{
	int i;

	for (i = 0; i < sk_X509_num(certs); i++)
		if (!X509_STORE_add_cert(store, sk_X509_value(certs, i)))
			return skr_fail(err, SKR_R_nomem, "cannot add a trust anchor");
	return 0;
}

static int trust_fill(struct skr_akcert_trust *t, const char *roots, const char *inter,
		      struct skr_err *err)
{
	STACK_OF(X509) *anchors = sk_X509_new_null();
	int rc = -1;

	if (!anchors)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	if (t->ek && !roots) {
		skr_fail(err, SKR_R_usage, "no EK roots are configured (\"ek_roots\")");
		goto out;
	}
	if (!t->ek &&
	    pem_certs(skr_azure_vtpm_root_pem, strlen(skr_azure_vtpm_root_pem), anchors,
		      "the built-in Azure vTPM root", err) < 0)
		goto out;
	if (!t->ek &&
	    pem_certs(skr_azure_vtpm_ca03_pem, strlen(skr_azure_vtpm_ca03_pem), t->material,
		      "the built-in Global Virtual TPM CA - 03", err) < 0)
		goto out;
	if ((roots && pem_file_certs(roots, anchors, err) < 0) ||
	    (inter && pem_file_certs(inter, t->material, err) < 0) ||
	    add_anchors(t->anchors, anchors, err) < 0)
		goto out;
	rc = 0;
out:
	sk_X509_pop_free(anchors, X509_free);
	return rc;
}

static int trust_new(bool ek, const char *roots, const char *inter,
		     struct skr_akcert_trust **out, struct skr_err *err)
{
	struct skr_akcert_trust *t = calloc(1, sizeof(*t));

	*out = NULL;
	if (t)
		t->ek = ek;
	if (!t || !(t->anchors = X509_STORE_new()) || !(t->material = sk_X509_new_null())) {
		skr_akcert_trust_free(t);
		return skr_fail(err, SKR_R_nomem, "out of memory");
	}
	if (trust_fill(t, roots, inter, err) < 0) {
		skr_akcert_trust_free(t);
		return -1;
	}
	*out = t;
	return 0;
}

int skr_akcert_trust_new(const char *extra_roots_pem, const char *extra_intermediates_pem,
			 struct skr_akcert_trust **out, struct skr_err *err)
{
	return trust_new(false, extra_roots_pem, extra_intermediates_pem, out, err);
}

int skr_ekcert_trust_new(const char *roots_pem, const char *intermediates_pem,
			 struct skr_akcert_trust **out, struct skr_err *err)
{
	return trust_new(true, roots_pem, intermediates_pem, out, err);
}

void skr_akcert_trust_free(struct skr_akcert_trust *t)
{
	if (!t)
		return;
	X509_STORE_free(t->anchors);
	sk_X509_pop_free(t->material, X509_free);
	free(t);
}

void skr_akcert_info_free(struct skr_akcert_info *info)
{
	EVP_PKEY_free(info->key);
	info->key = NULL;
}

/* Exactly one DER certificate. */
static int der_cert(const uint8_t *der, size_t len, X509 **out, const char *what,
		    enum skr_reason invalid, struct skr_err *err)
{
	const uint8_t *p = der;

	*out = NULL;
	if (len > SKR_AKCERT_MAX_DER)
		return skr_fail(err, SKR_R_request_too_large, "%s is %zu bytes (at most %u)", what,
				len, SKR_AKCERT_MAX_DER);
	if (len == 0 || !(*out = d2i_X509(NULL, &p, (long)len)))
		return skr_fail(err, invalid, "%s is not a DER X.509 certificate", what);
	if ((size_t)(p - der) != len) {
		X509_free(*out);
		*out = NULL;
		return skr_fail(err, invalid, "%s has %zu trailing bytes", what,
				len - (size_t)(p - der));
	}
	return 0;
}

/* The concatenated DER certificates presented with the evidence (untrusted). */
static int der_chain(const struct skr_akcert_trust *t, const uint8_t *der, size_t len,
		     STACK_OF(X509) *out, struct skr_err *err)
{
	const uint8_t *p = der, *end = der + len;

	if (len > SKR_AKCERT_MAX_CHAIN)
		return skr_fail(err, SKR_R_request_too_large, "the %s chain is %zu bytes (at most %u)",
				kind_of(t), len, SKR_AKCERT_MAX_CHAIN);
	while (p < end) {
		X509 *c = d2i_X509(NULL, &p, (long)(end - p));

		if (!c)
			return skr_fail(err, reason_of(t, SKR_R_akcert_invalid),
					"the %s chain is not concatenated DER certificates (at byte %zu)",
					kind_of(t), (size_t)(p - der));
		if (!sk_X509_push(out, c)) {
			X509_free(c);
			return skr_fail(err, SKR_R_nomem, "out of memory");
		}
	}
	return 0;
}

static void cn_of(const X509_NAME *name, char *out, size_t size)
{
	out[0] = '\0';
	if (X509_NAME_get_text_by_NID((X509_NAME *)name, NID_commonName, out, (int)size) < 0)
		out[0] = '\0';
}

/* OpenSSL's verdict as one of the contract's reasons. */
static int chain_failure(const struct skr_akcert_trust *t, X509_STORE_CTX *ctx, X509 *leaf,
			 struct skr_err *err)
{
	int code = X509_STORE_CTX_get_error(ctx), depth = X509_STORE_CTX_get_error_depth(ctx);
	const char *why = X509_verify_cert_error_string(code);
	X509 *at = X509_STORE_CTX_get_current_cert(ctx);
	char cn[128], issuer[128];

	cn_of(X509_get_subject_name(at ? at : leaf), cn, sizeof(cn));
	cn_of(X509_get_issuer_name(at ? at : leaf), issuer, sizeof(issuer));
	switch (code) {
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
		if (depth == 0)
			return skr_fail(err, reason_of(t, SKR_R_akcert_intermediate_missing),
					"the issuer \"%s\" of the %s certificate \"%s\" is neither built in, "
					"configured nor presented", issuer, kind_of(t), cn);
		return skr_fail(err, reason_of(t, SKR_R_akcert_untrusted),
				"the %s chain ends at \"%s\", issued by \"%s\", which is not a trusted root",
				kind_of(t), cn, issuer);
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		return skr_fail(err, reason_of(t, SKR_R_akcert_untrusted),
				"the %s chain ends at the root \"%s\", which is not trusted", kind_of(t), cn);
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return skr_fail(err, reason_of(t, SKR_R_akcert_expired), "certificate \"%s\" (depth %d): %s", cn,
				depth, why);
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
	case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
	case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
	case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
	case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
		return skr_fail(err, reason_of(t, SKR_R_akcert_invalid), "certificate \"%s\" (depth %d): %s", cn,
				depth, why);
	default:
		return skr_fail(err, reason_of(t, SKR_R_akcert_untrusted), "certificate \"%s\" (depth %d): %s", cn,
				depth, why);
	}
}

static int verify_chain(const struct skr_akcert_trust *t, X509 *leaf, STACK_OF(X509) *untrusted,
			time_t now, struct skr_err *err)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int rc = -1;

	if (!ctx || !X509_STORE_CTX_init(ctx, t->anchors, leaf, untrusted)) {
		skr_fail(err, SKR_R_nomem, "out of memory");
		goto out;
	}
	if (now)
		X509_STORE_CTX_set_time(ctx, 0, now);
	if (X509_verify_cert(ctx) == 1)
		rc = 0;
	else
		chain_failure(t, ctx, leaf, err);
out:
	X509_STORE_CTX_free(ctx);
	return rc;
}

int skr_akcert_verify(const struct skr_akcert_trust *t, const uint8_t *der, size_t len,
		      const uint8_t *chain_der, size_t chain_len, time_t now,
		      struct skr_akcert_info *info, struct skr_err *err)
{
	_cleanup_(X509_freep) X509 *leaf = NULL;
	STACK_OF(X509) *untrusted = NULL;
	int i, rc = -1;

	memset(info, 0, sizeof(*info));
	if (der_cert(der, len, &leaf, t->ek ? "the EK certificate" : "the AK certificate",
		     reason_of(t, SKR_R_akcert_invalid), err) < 0)
		return -1;
	if (!(untrusted = sk_X509_new_null()))
		return skr_fail(err, SKR_R_nomem, "out of memory");
	for (i = 0; i < sk_X509_num(t->material); i++) {
		X509 *c = sk_X509_value(t->material, i);

		/* The stack owns a reference of its own (it is freed with X509_free). */
		if (!X509_up_ref(c)) {
			skr_fail(err, SKR_R_nomem, "out of memory");
			goto out;
		}
		if (!sk_X509_push(untrusted, c)) {
			X509_free(c);
			skr_fail(err, SKR_R_nomem, "out of memory");
			goto out;
		}
	}
	if ((chain_len && der_chain(t, chain_der, chain_len, untrusted, err) < 0) ||
	    verify_chain(t, leaf, untrusted, now, err) < 0)
		goto out;
	cn_of(X509_get_subject_name(leaf), info->subject_cn, sizeof(info->subject_cn));
	cn_of(X509_get_issuer_name(leaf), info->issuer_cn, sizeof(info->issuer_cn));
	if (!(info->key = X509_get_pubkey(leaf))) {
		skr_fail(err, reason_of(t, SKR_R_akcert_invalid), "the %s certificate's key cannot be read",
			 kind_of(t));
		goto out;
	}
	rc = 0;
out:
	sk_X509_pop_free(untrusted, X509_free);
	return rc;
}

/* Azure's AK template: RSA-2048, RSASSA with SHA-256, no symmetric part. */
static int check_rsa(const TPMT_PUBLIC *p, struct skr_err *err)
{
	const TPMS_RSA_PARMS *r = &p->parameters.rsaDetail;

	if (r->keyBits != 2048)
		return skr_fail(err, SKR_R_ak_attributes, "the AK is RSA-%u, not RSA-2048", r->keyBits);
	if (r->symmetric.algorithm != TPM2_ALG_NULL)
		return skr_fail(err, SKR_R_ak_attributes, "the AK has a symmetric algorithm (a storage key)");
	if (r->scheme.scheme != TPM2_ALG_RSASSA || r->scheme.details.rsassa.hashAlg != TPM2_ALG_SHA256)
		return skr_fail(err, SKR_R_ak_attributes,
				"the AK's scheme is 0x%04x/0x%04x, not RSASSA/SHA-256", r->scheme.scheme,
				r->scheme.details.anySig.hashAlg);
	return 0;
}

static int check_ecc(const TPMT_PUBLIC *p, struct skr_err *err)
{
	const TPMS_ECC_PARMS *e = &p->parameters.eccDetail;

	if (e->curveID != TPM2_ECC_NIST_P256)
		return skr_fail(err, SKR_R_ak_attributes, "the AK's curve 0x%04x is not P-256", e->curveID);
	if (e->symmetric.algorithm != TPM2_ALG_NULL || e->kdf.scheme != TPM2_ALG_NULL)
		return skr_fail(err, SKR_R_ak_attributes, "the AK has a symmetric algorithm or a KDF");
	if (e->scheme.scheme != TPM2_ALG_ECDSA || e->scheme.details.ecdsa.hashAlg != TPM2_ALG_SHA256)
		return skr_fail(err, SKR_R_ak_attributes,
				"the AK's scheme is 0x%04x/0x%04x, not ECDSA/SHA-256", e->scheme.scheme,
				e->scheme.details.anySig.hashAlg);
	return 0;
}

static int check_attributes(const TPMT_PUBLIC *p, struct skr_err *err)
{
	static const struct { TPMA_OBJECT bit; const char *name; } need[] = {
		{ TPMA_OBJECT_SIGN_ENCRYPT, "sign" },
		{ TPMA_OBJECT_FIXEDTPM, "fixedTPM" },
		{ TPMA_OBJECT_FIXEDPARENT, "fixedParent" },
		{ TPMA_OBJECT_SENSITIVEDATAORIGIN, "sensitiveDataOrigin" },
	};
	size_t i;

	/* Unrestricted, the key would sign any digest, a forged quote included. */
	if (!(p->objectAttributes & TPMA_OBJECT_RESTRICTED))
		return skr_fail(err, SKR_R_ak_not_restricted,
				"the AK is not restricted: it could sign a forged quote");
	for (i = 0; i < ARRAY_SIZE(need); i++)
		if (!(p->objectAttributes & need[i].bit))
			return skr_fail(err, SKR_R_ak_attributes, "the AK lacks the attribute %s",
					need[i].name);
	if (p->objectAttributes & TPMA_OBJECT_DECRYPT)
		return skr_fail(err, SKR_R_ak_attributes, "the AK has the attribute decrypt");
	if (p->nameAlg != TPM2_ALG_SHA256)
		return skr_fail(err, SKR_R_ak_attributes, "the AK's name algorithm 0x%04x is not SHA-256",
				p->nameAlg);
	if (p->type == TPM2_ALG_RSA)
		return check_rsa(p, err);
	if (p->type == TPM2_ALG_ECC)
		return check_ecc(p, err);
	return skr_fail(err, SKR_R_ak_attributes, "the AK's type 0x%04x is neither RSA nor ECC",
			p->type);
}

int skr_ak_public_check(const uint8_t *tpm2b_public, size_t len, EVP_PKEY **ak,
			struct skr_err *err)
{
	TPM2B_PUBLIC pub;
	struct skr_err parse = { 0 };

	*ak = NULL;
	if (skr_tpm2b_public_parse(tpm2b_public, len, &pub, &parse) < 0)
		return skr_fail(err, SKR_R_malformed, "the AK public area: %s", parse.detail);
	if (check_attributes(&pub.publicArea, err) < 0)
		return -1;
	return skr_tpm_public_to_pkey(&pub, ak, err);
}

int skr_akcert_key_matches(const struct skr_akcert_info *info, EVP_PKEY *ak,
			   struct skr_err *err)
{
	if (!info->key || !ak || EVP_PKEY_eq(info->key, ak) != 1)
		return skr_fail(err, SKR_R_akcert_key_mismatch,
				"the AK certificate (\"%s\") is for another key than the AK",
				info->subject_cn);
	return 0;
}
