/* SPDX-License-Identifier: Apache-2.0 */
#include "fakevtpm.h"

#include <stdio.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/rand.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>

#include "fakeazure.h"
#include "verify/hcl_report.h"
#include "verify/wrap_key.h"
#include "vm/tpm_int.h"	/* provisions through the context's ESYS */

static int tss_fail(TSS2_RC rc, struct skr_err *err, const char *what)
{
	return skr_fail(err, SKR_R_tpm_error, "%s: %s (0x%08x)", what, Tss2_RC_Decode(rc), rc);
}

static bool rc_is_handle(TSS2_RC rc)
{
	/* TPM_RC_HANDLE with any handle number, from the TPM or the resource manager. */
	TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;

	return (layer == TSS2_TPM_RC_LAYER || layer == TSS2_RESMGR_TPM_RC_LAYER) &&
	       (rc & 0xFFFF & ~TPM2_RC_N_MASK) == TPM2_RC_HANDLE;
}

void skr_fakevtpm_opts_init(struct skr_fakevtpm_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->tcb_snp = -1;
}

void skr_fakevtpm_free(struct skr_fakevtpm *f)
{
	skr_test_chain_free(&f->chain);
	EVP_PKEY_free(f->ak);
	skr_buf_free(&f->claims);
	skr_buf_free(&f->hcl);
	memset(f, 0, sizeof(*f));
}

static uint32_t tpm_property(struct skr_tpm *t, TPM2_PT prop, uint32_t fallback)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	uint32_t v = fallback;

	if (Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
			       TPM2_CAP_TPM_PROPERTIES, prop, 1, &more, &cap) == TSS2_RC_SUCCESS &&
	    cap->data.tpmProperties.count >= 1 &&
	    cap->data.tpmProperties.tpmProperty[0].property == prop)
		v = cap->data.tpmProperties.tpmProperty[0].value;
	Esys_Free(cap);
	return v;
}

/* ---- AK ------------------------------------------------------------------- */

int skr_fakevtpm_create_ak(struct skr_tpm *t, TPM2B_PUBLIC *out, struct skr_err *err)
{
	/* The paravisor's template (openvmm tpm_helper ak_pub_template). */
	static const TPM2B_PUBLIC tmpl = {
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
				.exponent = 0,
			},
			.unique.rsa = { .size = 256 },	/* zeros, as the paravisor's */
		},
	};

	return skr_fakevtpm_create_ak_from(t, &tmpl, out, err);
}

int skr_fakevtpm_create_ak_from(struct skr_tpm *t, const TPM2B_PUBLIC *tmpl, TPM2B_PUBLIC *out,
				struct skr_err *err)
{
	TPM2B_SENSITIVE_CREATE sensitive = { 0 };
	TPM2B_DATA outside = { 0 };
	TPML_PCR_SELECTION pcrs = { 0 };
	ESYS_TR key = ESYS_TR_NONE, old = ESYS_TR_NONE, persisted = ESYS_TR_NONE;
	TPM2B_PUBLIC *pub = NULL;
	TPM2B_CREATION_DATA *cdata = NULL;
	TPM2B_DIGEST *chash = NULL;
	TPMT_TK_CREATION *ticket = NULL;
	TSS2_RC rc;
	int r = -1;

	rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				ESYS_TR_NONE, &sensitive, tmpl, &outside, &pcrs, &key, &pub, &cdata,
				&chash, &ticket);
	if (rc != TSS2_RC_SUCCESS) {
		key = ESYS_TR_NONE;
		tss_fail(rc, err, "TPM2_CreatePrimary of the AK (endorsement hierarchy)");
		goto out;
	}
	/* An AK from an earlier provisioning occupies the handle: evict it first. */
	rc = Esys_TR_FromTPMPublic(t->esys, SKR_TPM_AK_HANDLE, ESYS_TR_NONE, ESYS_TR_NONE,
				   ESYS_TR_NONE, &old);
	if (rc == TSS2_RC_SUCCESS) {
		ESYS_TR none = ESYS_TR_NONE;

		rc = Esys_EvictControl(t->esys, ESYS_TR_RH_OWNER, old, ESYS_TR_PASSWORD,
				       ESYS_TR_NONE, ESYS_TR_NONE, SKR_TPM_AK_HANDLE, &none);
		(void)Esys_TR_Close(t->esys, &old);	/* BAD_TR if ESYS dropped it already */
		if (rc != TSS2_RC_SUCCESS) {
			tss_fail(rc, err, "TPM2_EvictControl of the old AK at 0x81000003");
			goto out;
		}
	} else if (!rc_is_handle(rc)) {
		tss_fail(rc, err, "cannot look up 0x81000003");
		goto out;
	}
	rc = Esys_EvictControl(t->esys, ESYS_TR_RH_OWNER, key, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			       ESYS_TR_NONE, SKR_TPM_AK_HANDLE, &persisted);
	if (rc != TSS2_RC_SUCCESS) {
		tss_fail(rc, err, "TPM2_EvictControl of the AK to 0x81000003");
		goto out;
	}
	(void)Esys_TR_Close(t->esys, &persisted);
	*out = *pub;
	r = 0;
out:
	if (key != ESYS_TR_NONE)
		(void)Esys_FlushContext(t->esys, key);
	Esys_Free(pub);
	Esys_Free(cdata);
	Esys_Free(chash);
	Esys_Free(ticket);
	return r;
}

/* ---- NV ------------------------------------------------------------------- */

int skr_fakevtpm_nv_undefine(struct skr_tpm *t, uint32_t index, struct skr_err *err)
{
	ESYS_TR nv = ESYS_TR_NONE;
	TSS2_RC rc;

	rc = Esys_TR_FromTPMPublic(t->esys, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nv);
	if (rc != TSS2_RC_SUCCESS)
		return rc_is_handle(rc) ? 0 : tss_fail(rc, err, "cannot look up the NV index");
	rc = Esys_NV_UndefineSpace(t->esys, ESYS_TR_RH_OWNER, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				   ESYS_TR_NONE);
	if (rc != TSS2_RC_SUCCESS) {
		(void)Esys_TR_Close(t->esys, &nv);
		return tss_fail(rc, err, "TPM2_NV_UndefineSpace");
	}
	return 0;	/* ESYS released nv */
}

int skr_fakevtpm_nv_write(struct skr_tpm *t, uint32_t index, const uint8_t *data, size_t size,
			  bool define_only, struct skr_err *err)
{
	TPM2B_NV_PUBLIC info = {
		.nvPublic = {
			.nvIndex = index,
			.nameAlg = TPM2_ALG_SHA256,
			.attributes = TPMA_NV_AUTHREAD | TPMA_NV_AUTHWRITE | TPMA_NV_OWNERREAD |
				      TPMA_NV_OWNERWRITE | TPMA_NV_NO_DA,
		},
	};
	TPM2B_AUTH auth = { .size = 8 };	/* the paravisor's random u64 */
	uint32_t index_max = tpm_property(t, TPM2_PT_NV_INDEX_MAX, SKR_FAKEVTPM_SWTPM_NV_MAX);
	uint32_t chunk = tpm_property(t, TPM2_PT_NV_BUFFER_MAX, 1024);
	ESYS_TR nv = ESYS_TR_NONE;
	size_t off = 0;
	TSS2_RC rc;
	int r = -1;

	if (size == 0 || size > index_max)
		return skr_fail(err, SKR_R_usage,
				"the NV data is %zu bytes but this TPM caps an NV index at %u bytes "
				"(swtpm: 2048); shorten the claims",
				size, index_max);
	if (chunk == 0 || chunk > sizeof(((TPM2B_MAX_NV_BUFFER *)0)->buffer))
		chunk = 1024;
	if (skr_fakevtpm_nv_undefine(t, index, err) < 0)
		return -1;
	if (RAND_bytes(auth.buffer, auth.size) != 1)
		return skr_fail(err, SKR_R_nomem, "no randomness");
	info.nvPublic.dataSize = (UINT16)size;
	rc = Esys_NV_DefineSpace(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				 ESYS_TR_NONE, &auth, &info, &nv);
	if (rc != TSS2_RC_SUCCESS) {
		nv = ESYS_TR_NONE;
		tss_fail(rc, err, "TPM2_NV_DefineSpace");
		goto out;
	}
	rc = Esys_TR_SetAuth(t->esys, nv, &auth);
	if (rc != TSS2_RC_SUCCESS) {
		tss_fail(rc, err, "Esys_TR_SetAuth");
		goto out;
	}
	while (!define_only && off < size) {
		TPM2B_MAX_NV_BUFFER part;
		size_t n = size - off < chunk ? size - off : chunk;

		part.size = (UINT16)n;
		memcpy(part.buffer, data + off, n);
		rc = Esys_NV_Write(t->esys, nv, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
				   &part, (UINT16)off);
		if (rc != TSS2_RC_SUCCESS) {
			tss_fail(rc, err, "TPM2_NV_Write");
			goto out;
		}
		off += n;
	}
	r = 0;
out:
	if (nv != ESYS_TR_NONE)
		(void)Esys_TR_Close(t->esys, &nv);
	return r;
}

/* ---- Provisioning ----------------------------------------------------------- */

static int build_chain(const struct skr_fakevtpm_opts *o, struct skr_test_chain *c,
		       struct skr_err *err)
{
	struct skr_test_vcek_opts v;
	struct skr_test_chain_opts co = { .product = "Milan", .vcek = &v };

	skr_test_vcek_opts_init(&v, "Milan");
	if (o->tcb_snp >= 0)
		v.snp_spl = o->tcb_snp;
	if (o->have_chip_seed) {
		uint8_t seed[32] = "skr-fake-azure chip id";

		seed[28] = (uint8_t)o->chip_seed;
		seed[29] = (uint8_t)(o->chip_seed >> 8);
		seed[30] = (uint8_t)(o->chip_seed >> 16);
		seed[31] = (uint8_t)(o->chip_seed >> 24);
		if (!EVP_Digest(seed, sizeof(seed), v.hwid, NULL, EVP_sha512(), NULL))
			return skr_fail(err, SKR_R_nomem, "digest failure");
		v.hwid_len = 64;
	}
	return skr_test_chain_new(c, &co, err);
}

int skr_fakevtpm_provision(struct skr_tpm *t, const struct skr_fakevtpm_opts *o,
			   struct skr_fakevtpm *out, struct skr_err *err)
{
	struct skr_test_report_opts r;

	memset(out, 0, sizeof(*out));
	if (skr_fakevtpm_create_ak(t, &out->ak_public, err) < 0 ||
	    skr_tpm_public_to_pkey(&out->ak_public, &out->ak, err) < 0 ||
	    build_chain(o, &out->chain, err) < 0 ||
	    skr_test_claims(out->ak, o->user_data, o->user_data_len, &out->claims, err) < 0)
		goto fail;
	skr_test_report_opts_init(&r, &out->chain.vcek_opts);
	if (o->debug)
		r.policy |= SKR_TEST_POLICY_DEBUG;
	if (o->have_measurement)
		memcpy(r.measurement, o->measurement, sizeof(r.measurement));
	if (skr_test_hcl_report(&out->chain, &r, out->claims.data, out->claims.len, &out->hcl,
				err) < 0)
		goto fail;
	memcpy(out->snp, out->hcl.data + SKR_HCL_SNP_OFFSET, sizeof(out->snp));
	if (o->no_hcl) {
		if (skr_fakevtpm_nv_undefine(t, SKR_HCL_NV_INDEX, err) < 0)
			goto fail;
	} else if (skr_fakevtpm_nv_write(t, SKR_HCL_NV_INDEX, out->hcl.data, out->hcl.len,
					 o->define_only, err) < 0) {
		goto fail;
	}
	return 0;
fail:
	skr_fakevtpm_free(out);
	return -1;
}

static int write_in(const char *dir, const char *name, const void *data, size_t len,
		    struct skr_err *err)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return skr_test_write_file(path, data, len, err);
}

int skr_fakevtpm_write(const struct skr_fakevtpm *f, const char *dir, struct skr_err *err)
{
	uint8_t pub[sizeof(TPM2B_PUBLIC)];
	size_t off = 0;
	BIO *bio;
	char *pem = NULL;
	long pem_len;
	int r;

	if (Tss2_MU_TPM2B_PUBLIC_Marshal(&f->ak_public, pub, sizeof(pub), &off) != TSS2_RC_SUCCESS)
		return skr_fail(err, SKR_R_malformed, "cannot marshal the AK public");
	bio = BIO_new(BIO_s_mem());
	if (!bio || PEM_write_bio_PUBKEY(bio, f->ak) != 1 ||
	    (pem_len = BIO_get_mem_data(bio, &pem)) <= 0) {
		BIO_free(bio);
		return skr_fail(err, SKR_R_nomem, "cannot write the AK as PEM");
	}
	r = skr_test_chain_write(&f->chain, dir, err) < 0 ||
			    write_in(dir, "ak.pem", pem, (size_t)pem_len, err) < 0 ||
			    write_in(dir, "ak.pub", pub, off, err) < 0 ||
			    write_in(dir, "claims.json", f->claims.data, f->claims.len, err) < 0 ||
			    write_in(dir, "report.bin", f->snp, sizeof(f->snp), err) < 0 ||
			    write_in(dir, "hcl.bin", f->hcl.data, f->hcl.len, err) < 0
		    ? -1
		    : 0;
	BIO_free(bio);
	return r;
}
