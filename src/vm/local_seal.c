/* SPDX-License-Identifier: Apache-2.0 */
#include "vm/local_seal.h"
#include "vm/tpm_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>

#include "common/x509.h"
#include "verify/wrap_key.h"

#define SIGNER_FILE_MAX (16u << 10)

/* ---- SHA-256 of concatenated parts -------------------------------------------- */

struct hasher {
	EVP_MD_CTX *ctx;
	bool ok;
};

static void h_init(struct hasher *h)
{
	h->ctx = EVP_MD_CTX_new();
	h->ok = h->ctx && EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) == 1;
}

static void h_add(struct hasher *h, const void *p, size_t n)
{
	if (h->ok && n)
		h->ok = EVP_DigestUpdate(h->ctx, p, n) == 1;
}

static void h_u16(struct hasher *h, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	h_add(h, b, sizeof(b));
}

static void h_u32(struct hasher *h, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };

	h_add(h, b, sizeof(b));
}

static int h_final(struct hasher *h, uint8_t out[32], struct skr_err *err)
{
	unsigned int len = 0;
	bool ok = h->ok && EVP_DigestFinal_ex(h->ctx, out, &len) == 1 && len == 32;

	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
	if (!ok)
		return skr_fail(err, SKR_R_nomem, "SHA-256 failed");
	return 0;
}

/* ---- PCR selections ------------------------------------------------------------ */

/* A policy's PCR mask: PCRs 0..23 only, and always the boot gate (PCR 15). */
static int check_policy_mask(uint32_t mask, struct skr_err *err)
{
	if (mask == 0 || mask >> SKR_PCR_COUNT)
		return skr_fail(err, SKR_R_usage, "PCR mask 0x%08x selects no PCR or PCRs above 23",
				mask);
	if (!(mask & SKR_LOCAL_GATE_MASK))
		return skr_fail(err, SKR_R_usage,
				"PCR mask 0x%08x leaves out PCR %d, the boot gate: every local policy "
				"requires it at zero",
				mask, SKR_GATE_PCR);
	return 0;
}

static void mask_str(uint32_t mask, char *out, size_t size)
{
	size_t off = 0;

	out[0] = 0;
	for (unsigned i = 0; i < SKR_PCR_COUNT && off < size; i++)
		if (mask & (1u << i)) {
			int n = snprintf(out + off, size - off, "%s%u", off ? "," : "", i);

			if (n < 0)
				break;
			off += (size_t)n;
		}
}

int skr_local_pcr_digest(const struct skr_pcr_banks *pcrs, uint32_t mask, uint8_t out[32],
			 struct skr_err *err)
{
	static const uint8_t zero[32];
	const struct skr_pcr_bank *b;
	struct hasher h;

	if (check_policy_mask(mask, err) < 0)
		return -1;
	b = skr_pcr_banks_find(pcrs, SKR_TPM_ALG_SHA256);
	if (!b || b->size != 32)
		return skr_fail(err, SKR_R_usage, "no sha256 PCR bank");
	for (unsigned i = 0; i < SKR_PCR_COUNT; i++)
		if ((mask & ~SKR_LOCAL_GATE_MASK & (1u << i)) && !(b->extended_mask & (1u << i)))
			return skr_fail(err, SKR_R_usage, "PCR %u has no sha256 value", i);
	h_init(&h);
	for (unsigned i = 0; i < SKR_PCR_COUNT; i++)
		if (mask & (1u << i))	/* the gate: its initial value, never this boot's */
			h_add(&h, i == SKR_GATE_PCR ? zero : b->value[i], 32);
	return h_final(&h, out, err);
}

/* ---- Policy digests --------------------------------------------------------------- */

static int check_name(const TPM2B_NAME *n, const char *what, struct skr_err *err)
{
	if (n->size != 34 || n->name[0] != 0x00 || n->name[1] != TPM2_ALG_SHA256)
		return skr_fail(err, SKR_R_usage, "%s is not a SHA-256 Name", what);
	return 0;
}

int skr_local_auth_policy(const TPM2B_NAME *signer_name, uint8_t out[32], struct skr_err *err)
{
	static const uint8_t zero[32];
	uint8_t d[32];
	struct hasher h;

	if (check_name(signer_name, "the signer's Name", err) < 0)
		return -1;
	/* TPM2_PolicyAuthorize resets the digest, then PolicyUpdate(CC, keySign, policyRef). */
	h_init(&h);
	h_add(&h, zero, sizeof(zero));
	h_u32(&h, TPM2_CC_PolicyAuthorize);
	h_add(&h, signer_name->name, signer_name->size);
	if (h_final(&h, d, err) < 0)
		return -1;
	h_init(&h);
	h_add(&h, d, sizeof(d));
	h_add(&h, SKR_LOCAL_POLICY_REF, strlen(SKR_LOCAL_POLICY_REF));
	return h_final(&h, out, err);
}

int skr_local_policy_digest(uint32_t pcr_mask, const uint8_t pcr_digest[32],
			    const TPM2B_NAME *nv_name, uint64_t epoch, uint8_t out[32],
			    struct skr_err *err)
{
	static const uint8_t zero[32];
	uint8_t sel_buf[sizeof(TPML_PCR_SELECTION)], d[32], args[32], operand[8];
	TPML_PCR_SELECTION sel;
	size_t sel_len = 0;
	struct hasher h;

	if (check_policy_mask(pcr_mask, err) < 0 ||
	    check_name(nv_name, "the counter's Name", err) < 0)
		return -1;
	skr_tpm_pcr_selection(pcr_mask, &sel);
	if (Tss2_MU_TPML_PCR_SELECTION_Marshal(&sel, sel_buf, sizeof(sel_buf), &sel_len) !=
	    TSS2_RC_SUCCESS)
		return skr_fail(err, SKR_R_nomem, "cannot marshal a TPML_PCR_SELECTION");

	/* TPM2_PolicyPCR: H(old || TPM_CC_PolicyPCR || pcrs || pcrDigest). */
	h_init(&h);
	h_add(&h, zero, sizeof(zero));
	h_u32(&h, TPM2_CC_PolicyPCR);
	h_add(&h, sel_buf, sel_len);
	h_add(&h, pcr_digest, 32);
	if (h_final(&h, d, err) < 0)
		return -1;

	/* TPM2_PolicyNV: args = H(operandB || offset || operation). */
	skr_put_be64(operand, epoch);
	h_init(&h);
	h_add(&h, operand, sizeof(operand));
	h_u16(&h, 0);
	h_u16(&h, TPM2_EO_UNSIGNED_LE);
	if (h_final(&h, args, err) < 0)
		return -1;
	/* H(old || TPM_CC_PolicyNV || args || nvIndex->Name). */
	h_init(&h);
	h_add(&h, d, sizeof(d));
	h_u32(&h, TPM2_CC_PolicyNV);
	h_add(&h, args, sizeof(args));
	h_add(&h, nv_name->name, nv_name->size);
	return h_final(&h, out, err);
}

/* A policy signed before the boot gate: the TPM would unseal it after any open. */
static int gate_missing(const struct skr_local_policy *p, struct skr_err *err)
{
	return skr_fail(err, SKR_R_local_policy_mismatch,
			"the policy (PCR mask 0x%06x) does not require PCR %d at zero, the boot gate: "
			"it was signed before the gate existed; re-create the local copy "
			"(skrctl local-copy --disable, then skrctl local-copy)",
			p->pcr_mask, SKR_GATE_PCR);
}

/* aHash = H(approvedPolicy || policyRef): what the signer signs. */
static int approval_hash(const uint8_t approved[32], uint8_t out[32], struct skr_err *err)
{
	struct hasher h;

	h_init(&h);
	h_add(&h, approved, 32);
	h_add(&h, SKR_LOCAL_POLICY_REF, strlen(SKR_LOCAL_POLICY_REF));
	return h_final(&h, out, err);
}

/* ---- The signer ------------------------------------------------------------------- */

int skr_local_signer_generate(EVP_PKEY **out, struct skr_err *err)
{
	*out = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ERR_clear_error();
	if (!*out)
		return skr_fail(err, SKR_R_nomem, "cannot generate an ECC P-256 key");
	return 0;
}

int skr_local_signer_check(EVP_PKEY *key, struct skr_err *err)
{
	char group[64] = "";
	size_t len = 0;

	if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
	    EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
					   &len) != 1 ||
	    strcmp(group, "prime256v1") != 0) {
		ERR_clear_error();
		return skr_fail(err, SKR_R_unsupported, "the reseal signing key is not ECC P-256");
	}
	return 0;
}

int skr_local_signer_public(EVP_PKEY *key, TPM2B_PUBLIC *pub, TPM2B_NAME *name,
			    struct skr_err *err)
{
	_cleanup_(BN_freep) BIGNUM *x = NULL;
	_cleanup_(BN_freep) BIGNUM *y = NULL;
	TPMT_PUBLIC *p = &pub->publicArea;

	memset(pub, 0, sizeof(*pub));
	if (skr_local_signer_check(key, err) < 0)
		return -1;
	if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1 ||
	    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1 ||
	    BN_bn2binpad(x, p->unique.ecc.x.buffer, 32) != 32 ||
	    BN_bn2binpad(y, p->unique.ecc.y.buffer, 32) != 32) {
		ERR_clear_error();
		return skr_fail(err, SKR_R_malformed, "cannot read the reseal key's public point");
	}
	p->type = TPM2_ALG_ECC;
	p->nameAlg = TPM2_ALG_SHA256;
	p->objectAttributes = SKR_LOCAL_SIGNER_ATTRS;
	p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
	p->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
	p->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
	p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	p->unique.ecc.x.size = 32;
	p->unique.ecc.y.size = 32;
	return name ? skr_tpm_public_name(pub, name, err) : 0;
}

int skr_local_signer_save(EVP_PKEY *key, const char *path, struct skr_err *err)
{
	_cleanup_(BIO_freep) BIO *bio = NULL;
	char tmp[PATH_MAX];
	const char *data = NULL;
	long len;
	size_t off = 0;
	int fd, n;

	if (skr_local_signer_check(key, err) < 0)
		return -1;
	n = snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return skr_fail(err, SKR_R_usage, "path too long: %s", path);
	/* secmem BIOs wipe their buffer when freed. */
	bio = BIO_new(BIO_s_secmem());
	if (!bio || PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (len = BIO_get_mem_data(bio, &data)) <= 0) {
		ERR_clear_error();
		return skr_fail(err, SKR_R_nomem, "cannot encode the reseal key");
	}
	fd = mkstemp(tmp);	/* mode 0600 */
	if (fd < 0)
		return skr_fail(err, SKR_R_io, "cannot create %s: %s", tmp, strerror(errno));
	if (fchmod(fd, 0600) < 0)
		goto fail;
	while (off < (size_t)len) {
		ssize_t w = write(fd, data + off, (size_t)len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto fail;
		off += (size_t)w;
	}
	if (fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto fail;
	return 0;
fail:
	skr_fail(err, SKR_R_io, "cannot write %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -1;
}

int skr_local_signer_load(const char *path, EVP_PKEY **out, struct skr_err *err)
{
	struct skr_buf file = { 0 };
	EVP_PKEY *key = NULL;
	BIO *bio;

	*out = NULL;
	if (skr_read_file(path, SIGNER_FILE_MAX, &file, err) < 0)
		return -1;
	bio = BIO_new_mem_buf(file.data, (int)file.len);
	if (bio)
		key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	OPENSSL_cleanse(file.data, file.len);
	skr_buf_free(&file);
	ERR_clear_error();
	if (!key)
		return skr_fail(err, SKR_R_malformed, "%s is not a PEM private key", path);
	if (skr_local_signer_check(key, err) < 0) {
		EVP_PKEY_free(key);
		return -1;
	}
	*out = key;
	return 0;
}

int skr_local_signer_public_der(EVP_PKEY *key, struct skr_buf *out, struct skr_err *err)
{
	unsigned char *der = NULL;
	int len;

	if (skr_local_signer_check(key, err) < 0)
		return -1;
	len = i2d_PUBKEY(key, &der);
	ERR_clear_error();
	if (len <= 0)
		return skr_fail(err, SKR_R_nomem, "cannot encode the reseal public key");
	if (skr_buf_set(out, der, (size_t)len, err) < 0) {
		OPENSSL_free(der);
		return -1;
	}
	OPENSSL_free(der);
	return 0;
}

int skr_local_signer_public_parse(const uint8_t *data, size_t len, EVP_PKEY **out,
				  struct skr_err *err)
{
	EVP_PKEY *key = NULL;

	*out = NULL;
	if (skr_pubkey_parse(data, len, &key, "the reseal public key", err) < 0)
		return -1;
	if (skr_local_signer_check(key, err) < 0) {
		EVP_PKEY_free(key);
		return -1;
	}
	*out = key;
	return 0;
}

/* ---- Signing and verifying policies ------------------------------------------------- */

static int sign_digest(EVP_PKEY *signer, const uint8_t digest[32], uint8_t rs[64],
		       struct skr_err *err)
{
	_cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
	_cleanup_(ECDSA_SIG_freep) ECDSA_SIG *sig = NULL;
	unsigned char der[80];
	const unsigned char *p = der;
	const BIGNUM *r, *s;
	size_t der_len = sizeof(der);

	ctx = EVP_PKEY_CTX_new(signer, NULL);
	if (!ctx || EVP_PKEY_sign_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) != 1 ||
	    EVP_PKEY_sign(ctx, der, &der_len, digest, 32) != 1 ||
	    !(sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len))) {
		ERR_clear_error();
		return skr_fail(err, SKR_R_usage,
				"cannot sign with the reseal key (is it a private key?)");
	}
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, rs, 32) != 32 || BN_bn2binpad(s, rs + 32, 32) != 32)
		return skr_fail(err, SKR_R_nomem, "ECDSA signature out of range");
	return 0;
}

static int verify_digest(EVP_PKEY *signer, const uint8_t digest[32], const uint8_t rs[64])
{
	_cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(rs, 32, NULL), *s = BN_bin2bn(rs + 32, 32, NULL);
	unsigned char *der = NULL;
	int der_len = -1, ok = 0;

	if (sig && r && s && ECDSA_SIG_set0(sig, r, s) == 1) {
		r = s = NULL;
		der_len = i2d_ECDSA_SIG(sig, &der);
	}
	ctx = der_len > 0 ? EVP_PKEY_CTX_new(signer, NULL) : NULL;
	if (ctx && EVP_PKEY_verify_init(ctx) == 1 &&
	    EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1)
		ok = EVP_PKEY_verify(ctx, der, (size_t)der_len, digest, 32) == 1;
	ERR_clear_error();
	OPENSSL_free(der);
	ECDSA_SIG_free(sig);
	BN_free(r);
	BN_free(s);
	return ok ? 0 : -1;
}

int skr_local_policy_sign(EVP_PKEY *signer, const TPM2B_NAME *nv_name, uint32_t pcr_mask,
			  const uint8_t pcr_digest[32], uint64_t epoch,
			  struct skr_local_policy *out, struct skr_err *err)
{
	struct skr_local_policy p = { .pcr_mask = pcr_mask, .epoch = epoch };
	uint8_t ahash[32];

	if (skr_local_signer_check(signer, err) < 0)
		return -1;
	memcpy(p.pcr_digest, pcr_digest, 32);
	if (skr_local_policy_digest(pcr_mask, pcr_digest, nv_name, epoch, p.approved, err) < 0 ||
	    approval_hash(p.approved, ahash, err) < 0 || sign_digest(signer, ahash, p.signature, err) < 0)
		return -1;
	*out = p;
	return 0;
}

int skr_local_policy_verify(EVP_PKEY *signer_pub, const TPM2B_NAME *nv_name,
			    const struct skr_local_policy *p, struct skr_err *err)
{
	uint8_t ahash[32], approved[32];

	if (skr_local_signer_check(signer_pub, err) < 0 || approval_hash(p->approved, ahash, err) < 0)
		return -1;
	if (verify_digest(signer_pub, ahash, p->signature) < 0)
		return skr_fail(err, SKR_R_local_policy_signature_invalid,
				"the policy's signature does not verify with the reseal key");
	if (!(p->pcr_mask & SKR_LOCAL_GATE_MASK))
		return gate_missing(p, err);
	if (skr_local_policy_digest(p->pcr_mask, p->pcr_digest, nv_name, p->epoch, approved, err) < 0)
		return -1;
	if (!skr_ct_equal(approved, p->approved, 32))
		return skr_fail(err, SKR_R_local_policy_mismatch,
				"the signed policy digest is not the one of its PCRs, counter and epoch");
	return 0;
}

/* ---- The counter ---------------------------------------------------------------------- */

static int check_counter_public(uint32_t index, const TPMS_NV_PUBLIC *p, bool need_written,
				struct skr_err *err)
{
	if (p->nvIndex != index || p->nameAlg != TPM2_ALG_SHA256 ||
	    (p->attributes & ~(TPMA_NV)TPMA_NV_WRITTEN) != SKR_LOCAL_COUNTER_ATTRS ||
	    p->dataSize != 8 || p->authPolicy.size != 0)
		return skr_fail(err, SKR_R_unsupported,
				"NV index 0x%08x is not an skr counter (attributes 0x%08x, %u bytes)",
				index, p->attributes, p->dataSize);
	if (need_written && !(p->attributes & TPMA_NV_WRITTEN))
		return skr_fail(err, SKR_R_tpm_nv_uninitialized,
				"the counter at NV 0x%08x was never incremented", index);
	return 0;
}

/*
 * Opens an skr counter: its ESYS handle in *nv (the caller's guard closes it;
 * tpm_int.h) and its checked Name.
 */
static int open_counter(struct skr_tpm *t, uint32_t index, struct tr_guard *nv, TPM2B_NAME *name,
			bool need_written, struct skr_err *err)
{
	_cleanup_esys_ TPM2B_NV_PUBLIC *pub = NULL;
	_cleanup_esys_ TPM2B_NAME *tpm_name = NULL;
	uint8_t buf[sizeof(TPMS_NV_PUBLIC)];
	size_t off = 0;
	unsigned int len = 0;
	TPM2B_NAME computed = { .size = 34 };
	TSS2_RC rc;

	if ((index >> TPM2_HR_SHIFT) != TPM2_HT_NV_INDEX)
		return skr_fail(err, SKR_R_usage, "0x%08x is not an NV index handle", index);
	rc = Esys_TR_FromTPMPublic(t->esys, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				   &nv->tr);
	if (rc != TSS2_RC_SUCCESS) {
		nv->tr = ESYS_TR_NONE;
		if (rc_base(rc) == TPM2_RC_HANDLE)
			return skr_fail(err, SKR_R_tpm_nv_undefined,
					"the counter at NV 0x%08x is not defined", index);
		return skr_tpm_fail(t, rc, err, "cannot look up NV index 0x%08x", index);
	}
	rc = Esys_NV_ReadPublic(t->esys, nv->tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub,
				&tpm_name);
	if (rc != TSS2_RC_SUCCESS)
		return skr_tpm_fail(t, rc, err, "TPM2_NV_ReadPublic of 0x%08x", index);
	if (check_counter_public(index, &pub->nvPublic, need_written, err) < 0)
		return -1;
	/* The Name the policies bind: nameAlg || H(TPMS_NV_PUBLIC), checked against the TPM's. */
	if (Tss2_MU_TPMS_NV_PUBLIC_Marshal(&pub->nvPublic, buf, sizeof(buf), &off) !=
		    TSS2_RC_SUCCESS ||
	    !EVP_Digest(buf, off, computed.name + 2, &len, EVP_sha256(), NULL) || len != 32)
		return skr_fail(err, SKR_R_nomem, "cannot compute the Name of NV 0x%08x", index);
	computed.name[0] = 0x00;
	computed.name[1] = TPM2_ALG_SHA256;
	if (tpm_name->size != computed.size ||
	    memcmp(tpm_name->name, computed.name, computed.size) != 0)
		return skr_fail(err, SKR_R_tpm_error,
				"the TPM's Name of NV 0x%08x is not the hash of its public area",
				index);
	if (name)
		*name = computed;
	return 0;
}

int skr_local_counter_name(struct skr_tpm *t, uint32_t index, TPM2B_NAME *name,
			   struct skr_err *err)
{
	_cleanup_tr_ struct tr_guard nv = TR_GUARD(t);

	return open_counter(t, index, &nv, name, true, err);
}

/*
 * Reads a counter through a handle the caller holds: never a second look-up
 * of the index, whose closing would close the caller's (tpm_int.h).
 */
static int counter_read_open(struct skr_tpm *t, uint32_t index, ESYS_TR nv, uint64_t *value,
			     struct skr_err *err)
{
	_cleanup_esys_ TPM2B_MAX_NV_BUFFER *data = NULL;
	TSS2_RC rc;

	/* AUTHREAD with the index's own empty auth: no owner auth needed. */
	rc = Esys_NV_Read(t->esys, nv, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, 8, 0,
			  &data);
	if (rc != TSS2_RC_SUCCESS)
		return skr_tpm_fail(t, rc, err, "TPM2_NV_Read of the counter at 0x%08x", index);
	if (data->size != 8)
		return skr_fail(err, SKR_R_tpm_error, "the counter at 0x%08x read as %u bytes",
				index, data->size);
	*value = skr_be64(data->buffer);
	return 0;
}

int skr_local_counter_read(struct skr_tpm *t, uint32_t index, uint64_t *value,
			   struct skr_err *err)
{
	_cleanup_tr_ struct tr_guard nv = TR_GUARD(t);

	if (open_counter(t, index, &nv, NULL, true, err) < 0)
		return -1;
	return counter_read_open(t, index, nv.tr, value, err);
}

int skr_local_counter_increment(struct skr_tpm *t, uint32_t index, uint64_t *value,
				struct skr_err *err)
{
	_cleanup_tr_ struct tr_guard nv = TR_GUARD(t);
	TSS2_RC rc;

	if (open_counter(t, index, &nv, NULL, false, err) < 0)
		return -1;
	rc = Esys_NV_Increment(t->esys, ESYS_TR_RH_OWNER, nv.tr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			       ESYS_TR_NONE);
	if (rc != TSS2_RC_SUCCESS)
		return skr_tpm_owner_fail(t, rc, err, "TPM2_NV_Increment of the counter at 0x%08x",
					  index);
	return counter_read_open(t, index, nv.tr, value, err);
}

/* On success ESYS also drops its handle of the index: the guard is emptied. */
static int undefine(struct skr_tpm *t, uint32_t index, struct tr_guard *nv, struct skr_err *err)
{
	TSS2_RC rc;

	rc = Esys_NV_UndefineSpace(t->esys, ESYS_TR_RH_OWNER, nv->tr, ESYS_TR_PASSWORD,
				   ESYS_TR_NONE, ESYS_TR_NONE);
	if (rc != TSS2_RC_SUCCESS)
		return skr_tpm_owner_fail(t, rc, err, "TPM2_NV_UndefineSpace of 0x%08x", index);
	nv->tr = ESYS_TR_NONE;
	return 0;
}

int skr_local_counter_delete(struct skr_tpm *t, uint32_t index, struct skr_err *err)
{
	_cleanup_tr_ struct tr_guard nv = TR_GUARD(t);

	if (open_counter(t, index, &nv, NULL, false, err) < 0)
		return -1;
	return undefine(t, index, &nv, err);
}

int skr_local_counter_create(struct skr_tpm *t, uint32_t *index, uint64_t *value,
			     struct skr_err *err)
{
	TPM2B_AUTH auth = { 0 };

	for (uint32_t i = 0; i < SKR_LOCAL_NV_COUNT; i++) {
		_cleanup_tr_ struct tr_guard nv = TR_GUARD(t);
		uint32_t h = SKR_LOCAL_NV_FIRST + i;
		TPM2B_NV_PUBLIC pub = {
			.nvPublic = {
				.nvIndex = h,
				.nameAlg = TPM2_ALG_SHA256,
				.attributes = SKR_LOCAL_COUNTER_ATTRS,
				.dataSize = 8,
			},
		};
		struct skr_err e = { 0 };
		TSS2_RC rc;

		rc = Esys_NV_DefineSpace(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
					 ESYS_TR_NONE, &auth, &pub, &nv.tr);
		if (rc != TSS2_RC_SUCCESS) {
			nv.tr = ESYS_TR_NONE;
			if (rc_base(rc) == TPM2_RC_NV_DEFINED)
				continue;
			return skr_tpm_owner_fail(t, rc, err,
						  "TPM2_NV_DefineSpace of a counter at 0x%08x", h);
		}
		/* Twice: above every epoch signed for an older counter here (see local_seal.h). */
		for (int k = 0; k < 2 && rc == TSS2_RC_SUCCESS; k++)
			rc = Esys_NV_Increment(t->esys, ESYS_TR_RH_OWNER, nv.tr, ESYS_TR_PASSWORD,
					       ESYS_TR_NONE, ESYS_TR_NONE);
		if (rc != TSS2_RC_SUCCESS) {
			skr_tpm_owner_fail(t, rc, err,
					   "TPM2_NV_Increment of the new counter at 0x%08x", h);
			(void)undefine(t, h, &nv, &e);
			return -1;
		}
		if (counter_read_open(t, h, nv.tr, value, err) < 0) {
			(void)undefine(t, h, &nv, &e);
			return -1;
		}
		*index = h;
		return 0;
	}
	return skr_fail(err, SKR_R_tpm_error, "no free NV index for a counter in 0x%08x-0x%08x",
			SKR_LOCAL_NV_FIRST, SKR_LOCAL_NV_FIRST + SKR_LOCAL_NV_COUNT - 1);
}

int skr_local_policy_make(struct skr_tpm *t, EVP_PKEY *signer, uint32_t nv_index,
			  uint32_t pcr_mask, const uint8_t pcr_digest[32], uint64_t epoch,
			  struct skr_local_policy *out, struct skr_err *err)
{
	TPM2B_NAME name;

	if (skr_local_counter_name(t, nv_index, &name, err) < 0)
		return -1;
	return skr_local_policy_sign(signer, &name, pcr_mask, pcr_digest, epoch, out, err);
}

/* ---- Sealing ---------------------------------------------------------------------------- */

static int export_blobs(const TPM2B_PUBLIC *p, const TPM2B_PRIVATE *s, struct skr_buf *pub,
			struct skr_buf *priv, struct skr_err *err)
{
	uint8_t pbuf[sizeof(TPM2B_PUBLIC)], sbuf[sizeof(TPM2B_PRIVATE)];
	size_t poff = 0, soff = 0;

	if (Tss2_MU_TPM2B_PUBLIC_Marshal(p, pbuf, sizeof(pbuf), &poff) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_PRIVATE_Marshal(s, sbuf, sizeof(sbuf), &soff) != TSS2_RC_SUCCESS)
		return skr_fail(err, SKR_R_tpm_error, "cannot marshal the sealed object");
	if (skr_buf_set(pub, pbuf, poff, err) < 0 || skr_buf_set(priv, sbuf, soff, err) < 0) {
		skr_buf_free(pub);
		skr_buf_free(priv);
		return -1;
	}
	return 0;
}

int skr_local_seal(struct skr_tpm *t, EVP_PKEY *signer_pub, const uint8_t *secret, size_t len,
		   struct skr_buf *pub, struct skr_buf *priv, struct skr_err *err)
{
	_cleanup_tr_ struct tr_guard primary = TR_GUARD(t);
	_cleanup_tr_ struct tr_guard session = TR_GUARD(t);
	_cleanup_esys_ TPM2B_PRIVATE *out_private = NULL;
	_cleanup_esys_ TPM2B_PUBLIC *out_public = NULL;
	_cleanup_esys_ TPM2B_CREATION_DATA *creation = NULL;
	_cleanup_esys_ TPM2B_DIGEST *creation_hash = NULL;
	_cleanup_esys_ TPMT_TK_CREATION *ticket = NULL;
	TPM2B_SENSITIVE_CREATE *sensitive = NULL;
	TPM2B_PUBLIC signer, template = {
		.publicArea = {
			.type = TPM2_ALG_KEYEDHASH,
			.nameAlg = TPM2_ALG_SHA256,
			.objectAttributes = SKR_LOCAL_OBJECT_ATTRS,
			.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL,
		},
	};
	TPM2B_DATA outside = { 0 };
	TPML_PCR_SELECTION creation_pcrs = { 0 };
	TPM2B_NAME signer_name;
	TSS2_RC rc;

	if (!secret || len == 0 || len > SKR_LOCAL_MAX_SECRET)
		return skr_fail(err, SKR_R_usage, "a sealed secret is 1 to %u bytes, not %zu",
				SKR_LOCAL_MAX_SECRET, len);
	if (skr_local_signer_public(signer_pub, &signer, &signer_name, err) < 0 ||
	    skr_local_auth_policy(&signer_name, template.publicArea.authPolicy.buffer, err) < 0)
		return -1;
	template.publicArea.authPolicy.size = 32;
	if (skr_tpm_storage_primary(t, &primary, err) < 0 ||
	    skr_tpm_salted_session(t, primary.tr, TPM2_SE_HMAC,
				   TPMA_SESSION_DECRYPT | TPMA_SESSION_CONTINUESESSION, &session,
				   err) < 0)
		return -1;

	sensitive = skr_secret_alloc(sizeof(*sensitive));
	if (!sensitive)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	sensitive->sensitive.data.size = (UINT16)len;
	memcpy(sensitive->sensitive.data.buffer, secret, len);
	rc = Esys_Create(t->esys, primary.tr, session.tr, ESYS_TR_NONE, ESYS_TR_NONE, sensitive,
			 &template, &outside, &creation_pcrs, &out_private, &out_public, &creation,
			 &creation_hash, &ticket);
	skr_secret_free(sensitive);
	if (rc != TSS2_RC_SUCCESS)
		return skr_tpm_fail(t, rc, err, "TPM2_Create of the sealed object");
	return export_blobs(out_public, out_private, pub, priv, err);
}

int skr_local_blob_parse(const uint8_t *pub, size_t pub_len, const uint8_t *priv,
			 size_t priv_len, TPM2B_PUBLIC *pub_out, TPM2B_PRIVATE *priv_out,
			 struct skr_err *err)
{
	const TPMT_PUBLIC *p = &pub_out->publicArea;
	size_t off = 0;

	memset(pub_out, 0, sizeof(*pub_out));
	memset(priv_out, 0, sizeof(*priv_out));
	if (!pub || !priv || pub_len > SKR_LOCAL_MAX_BLOB || priv_len > SKR_LOCAL_MAX_BLOB)
		return skr_fail(err, SKR_R_malformed, "the sealed object is missing or too large");
	if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(pub, pub_len, &off, pub_out) != TSS2_RC_SUCCESS ||
	    off != pub_len)
		return skr_fail(err, SKR_R_malformed,
				"the sealed object's public part is not one TPM2B_PUBLIC");
	if (p->type != TPM2_ALG_KEYEDHASH || p->nameAlg != TPM2_ALG_SHA256 ||
	    p->objectAttributes != SKR_LOCAL_OBJECT_ATTRS ||
	    p->parameters.keyedHashDetail.scheme.scheme != TPM2_ALG_NULL ||
	    p->authPolicy.size != 32 || p->unique.keyedHash.size != 32)
		return skr_fail(err, SKR_R_malformed,
				"the sealed object's public part is not an skr sealed data object "
				"(type 0x%04x, attributes 0x%08x)",
				p->type, p->objectAttributes);
	off = 0;
	if (Tss2_MU_TPM2B_PRIVATE_Unmarshal(priv, priv_len, &off, priv_out) != TSS2_RC_SUCCESS ||
	    off != priv_len || priv_out->size == 0)
		return skr_fail(err, SKR_R_malformed,
				"the sealed object's private part is not one TPM2B_PRIVATE");
	return 0;
}

/* ---- Unsealing ---------------------------------------------------------------------------- */

/* How far a policy got: the stage of its first failed check. */
enum stage {
	STAGE_ARGS,
	STAGE_SIGNATURE,
	STAGE_PCR,
	STAGE_COUNTER,
	STAGE_AUTHORIZE,
	STAGE_UNSEAL,
};

struct unseal_ctx {
	struct skr_tpm *t;
	ESYS_TR object, signer, session, nv;
	uint32_t nv_index;
	const TPM2B_NAME *signer_name;
};

/*
 * A failed TPM command during one policy's attempt: a transport or ESYS error
 * ends the whole unseal (-2); a TPM response is this policy's failure (-1),
 * with `reason` when the response code is `expected`, tpm_error otherwise.
 */
__attribute__((format(printf, 6, 7))) static int step_fail(const struct unseal_ctx *c,
							  TSS2_RC rc, TSS2_RC expected,
							  enum skr_reason reason, struct skr_err *err,
							  const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (!rc_is_tpm(rc)) {
		skr_tpm_fail(c->t, rc, err, "%s", what);
		return -2;
	}
	if (rc_base(rc) == expected)
		skr_fail(err, reason, "%s", what);
	else
		skr_tpm_fail(c->t, rc, err, "%s", what);
	return -1;
}

/*
 * After the TPM refused a PolicyPCR: is that because the gate is closed?
 * Only names the refusal; the TPM already made it.  A PCR 15 that cannot be
 * read counts as open (the refusal is then reported as pcr_mismatch).
 */
static bool gate_closed(struct skr_tpm *t)
{
	static const uint8_t zero[32];
	struct skr_pcr_banks *pcrs = calloc(1, sizeof(*pcrs));
	struct skr_err e = { 0 };
	const struct skr_pcr_bank *b;
	bool closed = false;

	if (pcrs && skr_tpm_pcr_read(t, SKR_LOCAL_GATE_MASK, pcrs, &e) == 0 &&
	    (b = skr_pcr_banks_find(pcrs, SKR_TPM_ALG_SHA256)) && b->size == 32)
		closed = memcmp(b->value[SKR_GATE_PCR], zero, 32) != 0;
	free(pcrs);
	return closed;
}

/*
 * The steps of one policy's attempt, in the order the TPM checks them.  Each
 * returns 0, -1 when this policy failed (err) or -2 when nothing else can be
 * tried (err).
 */

/* The signature over the approved digest: the ticket PolicyAuthorize needs. */
static int policy_ticket(const struct unseal_ctx *c, const struct skr_local_policy *p,
			 TPMT_TK_VERIFIED **ticket, struct skr_err *err)
{
	TPMT_SIGNATURE sig = {
		.sigAlg = TPM2_ALG_ECDSA,
		.signature.ecdsa = {
			.hash = TPM2_ALG_SHA256,
			.signatureR.size = 32,
			.signatureS.size = 32,
		},
	};
	TPM2B_DIGEST ahash = { .size = 32 };
	TSS2_RC rc;

	if (approval_hash(p->approved, ahash.buffer, err) < 0)
		return -2;
	memcpy(sig.signature.ecdsa.signatureR.buffer, p->signature, 32);
	memcpy(sig.signature.ecdsa.signatureS.buffer, p->signature + 32, 32);
	rc = Esys_VerifySignature(c->t->esys, c->signer, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				  &ahash, &sig, ticket);
	if (rc == TSS2_RC_SUCCESS)
		return 0;
	/* Any TPM refusal here (SIGNATURE, VALUE for r or s out of range, ...) is the same. */
	if (!rc_is_tpm(rc))
		return step_fail(c, rc, 0, SKR_R_tpm_error, err, "TPM2_VerifySignature");
	return skr_fail(err, SKR_R_local_policy_signature_invalid,
			"the signature does not verify with the reseal key "
			"(TPM2_VerifySignature: %s)",
			Tss2_RC_Decode(rc));
}

/* PolicyPCR on the signed digest; a closed boot gate is named as such. */
static int policy_pcrs(const struct unseal_ctx *c, const struct skr_local_policy *p,
		       struct skr_err *err)
{
	TPM2B_DIGEST pcr_digest = { .size = 32 };
	TPML_PCR_SELECTION sel;
	char pcrs[80];
	TSS2_RC rc;

	mask_str(p->pcr_mask, pcrs, sizeof(pcrs));
	skr_tpm_pcr_selection(p->pcr_mask, &sel);
	memcpy(pcr_digest.buffer, p->pcr_digest, 32);
	rc = Esys_PolicyPCR(c->t->esys, c->session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
			    &pcr_digest, &sel);
	if (rc != TSS2_RC_SUCCESS && rc_is_tpm(rc) && rc_base(rc) == TPM2_RC_VALUE &&
	    gate_closed(c->t))
		return skr_fail(err, SKR_R_boot_gate_closed,
				"the TPM refused the policy (TPM2_PolicyPCR: %s): PCR %d is not zero, "
				"so a volume was already opened in this boot or the initramfs handed "
				"over; the local copy unseals only before that",
				Tss2_RC_Decode(rc), SKR_GATE_PCR);
	if (rc != TSS2_RC_SUCCESS)
		return step_fail(c, rc, TPM2_RC_VALUE, SKR_R_pcr_mismatch, err,
				 "the current values of sha256 PCRs %s are not those the policy was "
				 "signed for",
				 pcrs);
	return 0;
}

/* PolicyNV: the counter still at the policy's epoch (else it was revoked). */
static int policy_counter(const struct unseal_ctx *c, const struct skr_local_policy *p,
			  struct skr_err *err)
{
	TPM2B_OPERAND operand = { .size = 8 };
	struct skr_err e = { 0 };
	uint64_t now = 0;
	TSS2_RC rc;

	skr_put_be64(operand.buffer, p->epoch);
	rc = Esys_PolicyNV(c->t->esys, c->nv, c->nv, c->session, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			   ESYS_TR_NONE, &operand, 0, TPM2_EO_UNSIGNED_LE);
	if (rc == TSS2_RC_SUCCESS)
		return 0;
	if (!rc_is_tpm(rc) || rc_base(rc) != TPM2_RC_POLICY)
		return step_fail(c, rc, TPM2_RC_POLICY, SKR_R_local_policy_revoked, err,
				 "TPM2_PolicyNV on the counter at 0x%08x", c->nv_index);
	if (counter_read_open(c->t, c->nv_index, c->nv, &now, &e) < 0)
		return skr_fail(err, SKR_R_local_policy_revoked,
				"the policy is revoked: the counter at 0x%08x is above its "
				"epoch %" PRIu64,
				c->nv_index, p->epoch);
	return skr_fail(err, SKR_R_local_policy_revoked,
			"the policy is revoked: the counter at 0x%08x is %" PRIu64
			", above its epoch %" PRIu64,
			c->nv_index, now, p->epoch);
}

/* PolicyAuthorize with the ticket, then Unseal into secret. */
static int policy_unseal(const struct unseal_ctx *c, const struct skr_local_policy *p,
			 const TPMT_TK_VERIFIED *ticket, uint8_t *secret, size_t *len,
			 enum stage *stage, struct skr_err *err)
{
	TPM2B_DIGEST approved = { .size = 32 };
	TPM2B_NONCE ref = { .size = (UINT16)strlen(SKR_LOCAL_POLICY_REF) };
	TPM2B_SENSITIVE_DATA *out = NULL;
	TSS2_RC rc;
	int r = 0;

	memcpy(approved.buffer, p->approved, 32);
	memcpy(ref.buffer, SKR_LOCAL_POLICY_REF, ref.size);
	rc = Esys_PolicyAuthorize(c->t->esys, c->session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				  &approved, &ref, c->signer_name, ticket);
	if (rc != TSS2_RC_SUCCESS)
		return step_fail(c, rc, TPM2_RC_VALUE, SKR_R_local_policy_mismatch, err,
				 "the signed policy digest is not the one of its PCRs, counter and "
				 "epoch (TPM2_PolicyAuthorize)");

	*stage = STAGE_UNSEAL;
	rc = Esys_Unseal(c->t->esys, c->object, c->session, ESYS_TR_NONE, ESYS_TR_NONE, &out);
	if (rc != TSS2_RC_SUCCESS)
		return step_fail(c, rc, TPM2_RC_POLICY_FAIL, SKR_R_local_policy_mismatch, err,
				 "TPM2_Unseal refused the policy session");
	if (out->size == 0 || out->size > SKR_LOCAL_MAX_SECRET) {
		skr_fail(err, SKR_R_tpm_error, "TPM2_Unseal returned %u bytes", out->size);
		r = -2;
	} else {
		memcpy(secret, out->buffer, out->size);
		*len = out->size;
	}
	OPENSSL_cleanse(out, sizeof(*out));
	Esys_Free(out);
	return r;
}

/* 0: unsealed; -1: this policy failed (err, *stage); -2: fatal (err). */
static int try_policy(const struct unseal_ctx *c, const struct skr_local_policy *p,
		      uint8_t *secret, size_t *len, enum stage *stage, struct skr_err *err)
{
	_cleanup_esys_ TPMT_TK_VERIFIED *ticket = NULL;
	TSS2_RC rc;
	int r;

	*stage = STAGE_ARGS;
	if (p->pcr_mask == 0 || p->pcr_mask >> SKR_PCR_COUNT)
		return skr_fail(err, SKR_R_malformed, "PCR mask 0x%08x is invalid", p->pcr_mask);
	if (!(p->pcr_mask & SKR_LOCAL_GATE_MASK))
		return gate_missing(p, err);

	*stage = STAGE_SIGNATURE;
	if ((r = policy_ticket(c, p, &ticket, err)) < 0)
		return r;
	rc = Esys_PolicyRestart(c->t->esys, c->session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE);
	if (rc != TSS2_RC_SUCCESS) {
		skr_tpm_fail(c->t, rc, err, "TPM2_PolicyRestart");
		return -2;
	}
	*stage = STAGE_PCR;
	if ((r = policy_pcrs(c, p, err)) < 0)
		return r;
	*stage = STAGE_COUNTER;
	if ((r = policy_counter(c, p, err)) < 0)
		return r;
	*stage = STAGE_AUTHORIZE;
	return policy_unseal(c, p, ticket, secret, len, stage, err);
}

static int unseal(struct skr_tpm *t, const struct skr_buf *pub, const struct skr_buf *priv,
		  EVP_PKEY *signer_pub, uint32_t nv_index, const struct skr_local_policy *policies,
		  size_t n, uint8_t *secret, size_t *len, size_t *used, struct skr_err *err)
{
	_cleanup_tr_ struct tr_guard primary = TR_GUARD(t);
	_cleanup_tr_ struct tr_guard object = TR_GUARD(t);
	_cleanup_tr_ struct tr_guard session = TR_GUARD(t);
	_cleanup_tr_ struct tr_guard signer = TR_GUARD(t);
	_cleanup_tr_ struct tr_guard nv = TR_GUARD(t);
	TPM2B_PUBLIC obj_pub, signer_pub_area;
	TPM2B_PRIVATE obj_priv;
	TPM2B_NAME signer_name;
	struct skr_err best = { 0 };
	enum stage best_stage = STAGE_ARGS;
	size_t best_i = 0;
	uint8_t expected[32];
	struct unseal_ctx c;
	TSS2_RC rc;

	if (!policies || n == 0)
		return skr_fail(err, SKR_R_usage, "no local policy to unseal with");
	if (!pub || !priv ||
	    skr_local_blob_parse(pub->data, pub->len, priv->data, priv->len, &obj_pub, &obj_priv,
				 err) < 0 ||
	    skr_local_signer_public(signer_pub, &signer_pub_area, &signer_name, err) < 0 ||
	    skr_local_auth_policy(&signer_name, expected, err) < 0)
		return -1;
	if (!skr_ct_equal(expected, obj_pub.publicArea.authPolicy.buffer, 32))
		return skr_fail(err, SKR_R_local_policy_mismatch,
				"the sealed object is bound to another reseal key than the one given");

	if (skr_tpm_storage_primary(t, &primary, err) < 0)
		return -1;
	rc = Esys_Load(t->esys, primary.tr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &obj_priv,
		       &obj_pub, &object.tr);
	if (rc != TSS2_RC_SUCCESS) {
		object.tr = ESYS_TR_NONE;
		return skr_tpm_fail(t, rc, err,
				"TPM2_Load of the sealed object (sealed in another TPM, or altered)");
	}
	if (skr_tpm_salted_session(t, primary.tr, TPM2_SE_POLICY,
				   TPMA_SESSION_ENCRYPT | TPMA_SESSION_CONTINUESESSION, &session,
				   err) < 0)
		return -1;
	/* The parent is no longer needed: keep at most two objects loaded. */
	tr_guard_release(&primary);
	rc = Esys_LoadExternal(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, NULL,
			       &signer_pub_area, ESYS_TR_RH_OWNER, &signer.tr);
	if (rc != TSS2_RC_SUCCESS) {
		signer.tr = ESYS_TR_NONE;
		return skr_tpm_owner_fail(t, rc, err, "TPM2_LoadExternal of the reseal public key");
	}
	if (open_counter(t, nv_index, &nv, NULL, true, err) < 0)
		return -1;

	c = (struct unseal_ctx){
		.t = t,
		.object = object.tr,
		.signer = signer.tr,
		.session = session.tr,
		.nv = nv.tr,
		.nv_index = nv_index,
		.signer_name = &signer_name,
	};
	for (size_t i = 0; i < n; i++) {
		struct skr_err e = { 0 };
		enum stage stage;
		int r = try_policy(&c, &policies[i], secret, len, &stage, &e);

		if (r == 0) {
			*used = i;
			return 0;
		}
		if (r == -2)
			return skr_fail(err, e.reason, "%s", e.detail);
		if (i == 0 || stage > best_stage) {
			best = e;
			best_stage = stage;
			best_i = i;
		}
	}
	if (n == 1)
		return skr_fail(err, best.reason, "%s", best.detail);
	return skr_fail(err, best.reason, "no local policy opens the sealed secret; policy %zu of %zu: %s",
			best_i + 1, n, best.detail);
}

int skr_local_unseal(struct skr_tpm *t, const struct skr_buf *pub, const struct skr_buf *priv,
		     EVP_PKEY *signer_pub, uint32_t nv_index, const struct skr_local_policy *policies,
		     size_t n, uint8_t *secret, size_t *len, size_t *used, struct skr_err *err)
{
	*len = 0;
	*used = SIZE_MAX;
	if (unseal(t, pub, priv, signer_pub, nv_index, policies, n, secret, len, used, err) == 0)
		return 0;
	OPENSSL_cleanse(secret, SKR_LOCAL_MAX_SECRET);
	*len = 0;
	*used = SIZE_MAX;
	return -1;
}
