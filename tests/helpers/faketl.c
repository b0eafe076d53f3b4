/* SPDX-License-Identifier: Apache-2.0 */
#include "faketl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <tss2/tss2_mu.h>

#include "fakevtpm.h"
#include "testchain.h"
#include "verify/hcl_report.h"
#include "verify/wrap_key.h"

#define DAY (24L * 3600)

static int ossl_fail(struct skr_err *err, const char *what)
{
	char buf[256] = "no OpenSSL error queued";
	unsigned long e = ERR_peek_last_error();

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return skr_fail(err, SKR_R_malformed, "faketl: %s: %s", what, buf);
}

void skr_faketl_free(struct skr_faketl *f)
{
	EVP_PKEY_free(f->ak);
	X509_free(f->root);
	X509_free(f->intermediate);
	X509_free(f->leaf);
	memset(f, 0, sizeof(*f));
}

/* ---- certificates ------------------------------------------------------------- */

enum cert_kind { ROOT, INTERMEDIATE, LEAF };

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value, struct skr_err *err)
{
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
	int ok = ext && X509_add_ext(x, ext, -1);

	X509_EXTENSION_free(ext);
	return ok ? 0 : ossl_fail(err, OBJ_nid2sn(nid));
}

/* Extensions as Azure's: the leaf has no Authority Information Access. */
static int add_exts(X509 *x, X509 *issuer, enum cert_kind kind, struct skr_err *err)
{
	X509V3_CTX ctx;

	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	if (add_ext(x, &ctx, NID_subject_key_identifier, "hash", err) < 0 ||
	    (issuer && add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always", err) < 0))
		return -1;
	switch (kind) {
	case ROOT:
		return add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE", err) < 0 ||
			       add_ext(x, &ctx, NID_key_usage,
				       "critical,digitalSignature,keyCertSign,cRLSign", err) < 0
			       ? -1
			       : 0;
	case INTERMEDIATE:
		return add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0", err) < 0 ||
			       add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign", err) < 0 ||
			       add_ext(x, &ctx, NID_ext_key_usage, "2.23.133.8.1,2.23.133.8.3", err) < 0
			       ? -1
			       : 0;
	case LEAF:
		return add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE", err) < 0 ||
			       add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature", err) < 0 ||
			       add_ext(x, &ctx, NID_ext_key_usage, "2.23.133.8.3", err) < 0
			       ? -1
			       : 0;
	}
	return -1;
}

/* A certificate for key named cn, issued by issuer (NULL: self-signed with key). */
static int make_cert(X509 **out, enum cert_kind kind, const char *cn, EVP_PKEY *key,
		     X509 *issuer, EVP_PKEY *issuer_key, long not_before, long not_after,
		     struct skr_err *err)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	uint64_t serial;

	if (!x || !name || RAND_bytes((uint8_t *)&serial, sizeof(serial)) != 1)
		goto fail;
	serial >>= 1;	/* positive */
	if ((kind != LEAF &&
	     (!X509_NAME_add_entry_by_txt(name, "C", MBSTRING_ASC, (const uint8_t *)"US", -1, -1, 0) ||
	      !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const uint8_t *)"skr test", -1,
					  -1, 0))) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const uint8_t *)cn, -1, -1, 0) ||
	    !X509_set_version(x, X509_VERSION_3) ||
	    !ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial) ||
	    !X509_set_subject_name(x, name) ||
	    !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), not_before) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), not_after) || !X509_set_pubkey(x, key))
		goto fail;
	if (add_exts(x, issuer, kind, err) < 0)
		goto out;
	if (X509_sign(x, issuer ? issuer_key : key, EVP_sha256()) <= 0)
		goto fail;
	X509_NAME_free(name);
	*out = x;
	return 0;
fail:
	ossl_fail(err, "making a certificate");
out:
	X509_NAME_free(name);
	X509_free(x);
	return -1;
}

/* ---- the test PKI in ca_dir --------------------------------------------------- */

struct pki {
	X509 *root, *inter;
	EVP_PKEY *root_key, *inter_key;
};

static void pki_free(struct pki *p)
{
	X509_free(p->root);
	X509_free(p->inter);
	EVP_PKEY_free(p->root_key);
	EVP_PKEY_free(p->inter_key);
}

static int path_in(char *buf, size_t size, const char *dir, const char *name, struct skr_err *err)
{
	if ((size_t)snprintf(buf, size, "%s/%s", dir, name) >= size)
		return skr_fail(err, SKR_R_usage, "faketl: path too long: %s/%s", dir, name);
	return 0;
}

static int load_pki(const char *dir, struct pki *p, struct skr_err *err)
{
	static const char *const names[] = { "root.pem", "root.key", "intermediate.pem",
					     "intermediate.key" };
	char path[4096];
	FILE *f;
	size_t i;

	for (i = 0; i < 4; i++) {
		if (path_in(path, sizeof(path), dir, names[i], err) < 0)
			return -1;
		f = fopen(path, "r");
		if (!f)
			return skr_fail(err, SKR_R_io, "faketl: cannot open %s: %s", path,
					strerror(errno));
		if (i == 0)
			p->root = PEM_read_X509(f, NULL, NULL, NULL);
		else if (i == 1)
			p->root_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		else if (i == 2)
			p->inter = PEM_read_X509(f, NULL, NULL, NULL);
		else
			p->inter_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (!p->root || !p->root_key || !p->inter || !p->inter_key)
		return ossl_fail(err, "reading the test PKI in the CA directory");
	return 0;
}

static int write_pem(const char *dir, const char *name, X509 *x, EVP_PKEY *key,
		     struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf b = { 0 };
	char path[4096];

	if (path_in(path, sizeof(path), dir, name, err) < 0 ||
	    (x ? skr_test_cert_pem(x, &b, err) : skr_test_key_pem(key, &b, err)) < 0 ||
	    skr_test_write_file(path, b.data, b.len, err) < 0)
		return -1;
	return key && chmod(path, 0600) < 0 ? skr_fail(err, SKR_R_io, "chmod %s", path) : 0;
}

/* A root and an intermediate of P-256 keys, written to dir. */
static int make_pki(const char *dir, struct pki *p, struct skr_err *err)
{
	p->root_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	p->inter_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!p->root_key || !p->inter_key)
		return ossl_fail(err, "P-256 key generation");
	if (make_cert(&p->root, ROOT, "skr test Virtual TPM Root Certificate Authority",
		      p->root_key, NULL, NULL, -DAY, 3650 * DAY, err) < 0 ||
	    make_cert(&p->inter, INTERMEDIATE, "skr test Global Virtual TPM CA - 03", p->inter_key,
		      p->root, p->root_key, -DAY, 730 * DAY, err) < 0)
		return -1;
	return write_pem(dir, "root.pem", p->root, NULL, err) < 0 ||
			       write_pem(dir, "root.key", NULL, p->root_key, err) < 0 ||
			       write_pem(dir, "intermediate.pem", p->inter, NULL, err) < 0 ||
			       write_pem(dir, "intermediate.key", NULL, p->inter_key, err) < 0
		       ? -1
		       : 0;
}

static int get_pki(const char *dir, struct pki *p, struct skr_err *err)
{
	char path[4096];
	struct stat st;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return skr_fail(err, SKR_R_io, "faketl: cannot create %s: %s", dir, strerror(errno));
	if (path_in(path, sizeof(path), dir, "root.pem", err) < 0)
		return -1;
	return stat(path, &st) == 0 ? load_pki(dir, p, err) : make_pki(dir, p, err);
}

/* ---- the AK -------------------------------------------------------------------- */

static int create_ak(struct skr_tpm *t, enum skr_faketl_ak kind, TPM2B_PUBLIC *out,
		     struct skr_err *err)
{
	/* Azure's Trusted Launch AK template (the TL contract): the same
	 * vTPM as a Confidential VM's, so the paravisor's template (openvmm
	 * tpm_helper ak_pub_template, as in fakevtpm.c), noDA included: a
	 * DA-protected AK used in boots that end without TPM2_Shutdown would
	 * put the vTPM in lockout after three. */
	TPM2B_PUBLIC tmpl = {
		.publicArea = {
			.type = TPM2_ALG_RSA,
			.nameAlg = TPM2_ALG_SHA256,
			.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
					    TPMA_OBJECT_SENSITIVEDATAORIGIN |
					    TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA |
					    TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT,
			.parameters.rsaDetail = {
				.symmetric = { .algorithm = TPM2_ALG_NULL },
				.scheme = { .scheme = TPM2_ALG_RSASSA,
					    .details.rsassa.hashAlg = TPM2_ALG_SHA256 },
				.keyBits = 2048,
			},
		},
	};

	if (kind == SKR_FAKETL_AK_UNRESTRICTED)
		tmpl.publicArea.objectAttributes &= ~TPMA_OBJECT_RESTRICTED;
	else if (kind == SKR_FAKETL_AK_RSAPSS)
		tmpl.publicArea.parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSAPSS;
	return skr_fakevtpm_create_ak_from(t, &tmpl, out, err);
}

/* ---- provisioning ---------------------------------------------------------------- */

static int issue_leaf(const struct skr_faketl_opts *o, struct pki *p, EVP_PKEY *ak, X509 **leaf,
		      struct skr_err *err)
{
	EVP_PKEY *other = NULL;
	int rc;

	if (o->cert_other_key && !(other = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)))
		return ossl_fail(err, "RSA key generation");
	rc = make_cert(leaf, LEAF, o->subject_cn ? o->subject_cn : SKR_FAKETL_DEFAULT_SUBJECT,
		       other ? other : ak, p->inter, p->inter_key,
		       o->expired ? -30 * DAY : -DAY, o->expired ? -DAY : 365 * DAY, err);
	EVP_PKEY_free(other);
	return rc;
}

int skr_faketl_provision(struct skr_tpm *t, const struct skr_faketl_opts *o,
			 struct skr_faketl *out, struct skr_err *err)
{
	struct pki p = { 0 };
	_cleanup_buf_ struct skr_buf der = { 0 };

	memset(out, 0, sizeof(*out));
	if (!o->ca_dir)
		return skr_fail(err, SKR_R_usage, "faketl: a CA directory is required");
	if (get_pki(o->ca_dir, &p, err) < 0 || create_ak(t, o->ak, &out->ak_public, err) < 0 ||
	    skr_tpm_public_to_pkey(&out->ak_public, &out->ak, err) < 0 ||
	    issue_leaf(o, &p, out->ak, &out->leaf, err) < 0 ||
	    skr_test_cert_der(out->leaf, &der, err) < 0 ||
	    skr_fakevtpm_nv_undefine(t, SKR_HCL_NV_INDEX, err) < 0)
		goto fail;
	if ((o->no_cert ? skr_fakevtpm_nv_undefine(t, SKR_TPM_AKCERT_NV_INDEX, err)
			: skr_fakevtpm_nv_write(t, SKR_TPM_AKCERT_NV_INDEX, der.data, der.len, false,
						err)) < 0)
		goto fail;
	out->root = p.root;
	out->intermediate = p.inter;
	p.root = p.inter = NULL;
	pki_free(&p);
	return 0;
fail:
	pki_free(&p);
	skr_faketl_free(out);
	return -1;
}

static int write_pubkey(const char *dir, const char *name, EVP_PKEY *key, struct skr_err *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char path[4096], *pem = NULL;
	long len;
	int rc;

	if (!bio || PEM_write_bio_PUBKEY(bio, key) != 1 || (len = BIO_get_mem_data(bio, &pem)) <= 0) {
		BIO_free(bio);
		return ossl_fail(err, "writing a public key as PEM");
	}
	rc = path_in(path, sizeof(path), dir, name, err) < 0 ||
			     skr_test_write_file(path, pem, (size_t)len, err) < 0
		     ? -1
		     : 0;
	BIO_free(bio);
	return rc;
}

int skr_faketl_write(const struct skr_faketl *f, const char *dir, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf der = { 0 };
	uint8_t pub[sizeof(TPM2B_PUBLIC)];
	size_t off = 0;
	char path[4096];

	if (Tss2_MU_TPM2B_PUBLIC_Marshal(&f->ak_public, pub, sizeof(pub), &off) != TSS2_RC_SUCCESS)
		return skr_fail(err, SKR_R_malformed, "cannot marshal the AK public");
	return write_pem(dir, "akcert.pem", f->leaf, NULL, err) < 0 ||
			       write_pem(dir, "root.pem", f->root, NULL, err) < 0 ||
			       write_pem(dir, "intermediate.pem", f->intermediate, NULL, err) < 0 ||
			       skr_test_cert_der(f->leaf, &der, err) < 0 ||
			       path_in(path, sizeof(path), dir, "akcert.der", err) < 0 ||
			       skr_test_write_file(path, der.data, der.len, err) < 0 ||
			       path_in(path, sizeof(path), dir, "ak.pub", err) < 0 ||
			       skr_test_write_file(path, pub, off, err) < 0 ||
			       write_pubkey(dir, "ak.pem", f->ak, err) < 0
		       ? -1
		       : 0;
}
