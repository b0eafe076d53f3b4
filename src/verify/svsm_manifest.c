/* SPDX-License-Identifier: Apache-2.0 */
#include "verify/svsm_manifest.h"

#include <string.h>

#include <openssl/evp.h>
#include <tss2/tss2_mu.h>

#include "common/util.h"

/* SVSM specification table 12; 63849ebb-3d92-4670-a1ff-58f9c94b87bb, mixed-endian. */
const uint8_t skr_svsm_manifest_guid[16] = { 0xbb, 0x9e, 0x84, 0x63, 0x92, 0x3d, 0x70, 0x46,
					     0xa1, 0xff, 0x58, 0xf9, 0xc9, 0x4b, 0x87, 0xbb };
/* SVSM specification 8.3.1; c476f1eb-0123-45a5-9641-b4e7dde5bfe3, mixed-endian. */
const uint8_t skr_svsm_vtpm_guid[16] = { 0xeb, 0xf1, 0x76, 0xc4, 0x23, 0x01, 0xa5, 0x45,
					 0x96, 0x41, 0xb4, 0xe7, 0xdd, 0xe5, 0xbf, 0xe3 };

/* TCG EK Credential Profile 2.0, template L-1: PolicyA_SHA256 (PolicySecret(endorsement)). */
static const uint8_t policy_a_sha256[32] = {
	0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc, 0x8d, 0x46, 0xa5, 0xd7, 0x24,
	0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa,
};
/* Template L-1's objectAttributes: fixedTPM, fixedParent, sensitiveDataOrigin,
 * adminWithPolicy, restricted, decrypt (0x000300b2). */
#define EK_L1_ATTRS                                                                     \
	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN | \
	 TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT)

/* ---- the services manifest ---------------------------------------------- */

static int check_header(const uint8_t *blob, size_t len, size_t *count, struct skr_err *err)
{
	if (len > SKR_SVSM_MANIFEST_MAX)
		return skr_fail(err, SKR_R_svsm_manifest_malformed,
				"services manifest: %zu bytes, over %u", len, SKR_SVSM_MANIFEST_MAX);
	if (len < SKR_SVSM_GUID_ENTRY_SIZE)
		return skr_fail(err, SKR_R_svsm_manifest_malformed,
				"services manifest: %zu bytes, shorter than its %d-byte header", len,
				SKR_SVSM_GUID_ENTRY_SIZE);
	if (memcmp(blob, skr_svsm_manifest_guid, 16))
		return skr_fail(err, SKR_R_svsm_manifest_malformed,
				"services manifest: the header's GUID is not 63849ebb-3d92-4670-a1ff-58f9c94b87bb");
	if (skr_le32(blob + 16) != len)
		return skr_fail(err, SKR_R_svsm_manifest_malformed,
				"services manifest: the header says %u bytes, the blob has %zu",
				skr_le32(blob + 16), len);
	*count = skr_le32(blob + 20);
	if (*count > SKR_SVSM_MAX_SERVICES)
		return skr_fail(err, SKR_R_svsm_manifest_malformed,
				"services manifest: %zu services, over %d", *count, SKR_SVSM_MAX_SERVICES);
	if ((*count + 1) * SKR_SVSM_GUID_ENTRY_SIZE > len)
		return skr_fail(err, SKR_R_svsm_manifest_malformed,
				"services manifest: a table of %zu entries runs past the %zu-byte blob",
				*count, len);
	return 0;
}

/* Entry i's data lies in [table_end, len); 64-bit sums, so no wrap. */
static int take_entry(const uint8_t *blob, size_t len, size_t i, size_t table_end,
		      struct skr_svsm_entry *e, struct skr_err *err)
{
	const uint8_t *raw = blob + (i + 1) * SKR_SVSM_GUID_ENTRY_SIZE;
	uint64_t off = skr_le32(raw + 16), n = skr_le32(raw + 20);

	if (off < table_end || off + n > len)
		return skr_fail(err, SKR_R_svsm_manifest_malformed,
				"services manifest: entry %zu (offset %llu, size %llu) is outside "
				"bytes %zu..%zu", i, (unsigned long long)off, (unsigned long long)n,
				table_end, len);
	e->guid = raw;
	e->data = n ? blob + off : NULL;
	e->size = (size_t)n;
	return 0;
}

/* No two entries share a GUID or a byte; with sizes summing to the data area, they tile it. */
static int check_disjoint(const struct skr_svsm_manifest *m, size_t data_len,
			  struct skr_err *err)
{
	size_t i, j, sum = 0;

	for (i = 0; i < m->count; i++) {
		const struct skr_svsm_entry *a = &m->entries[i];

		sum += a->size;
		for (j = 0; j < i; j++) {
			const struct skr_svsm_entry *b = &m->entries[j];

			if (!memcmp(a->guid, b->guid, 16))
				return skr_fail(err, SKR_R_svsm_manifest_malformed,
						"services manifest: entries %zu and %zu have the same GUID",
						j, i);
			if (a->size && b->size && a->data < b->data + b->size &&
			    b->data < a->data + a->size)
				return skr_fail(err, SKR_R_svsm_manifest_malformed,
						"services manifest: the data of entries %zu and %zu overlap",
						j, i);
		}
	}
	if (sum != data_len)
		return skr_fail(err, SKR_R_svsm_manifest_malformed,
				"services manifest: the entries cover %zu of the %zu bytes after the table",
				sum, data_len);
	return 0;
}

int skr_svsm_manifest_parse(const uint8_t *blob, size_t len, struct skr_svsm_manifest *out,
			    struct skr_err *err)
{
	size_t count = 0, table_end, i;

	memset(out, 0, sizeof(*out));
	if (check_header(blob, len, &count, err) < 0)
		return -1;
	table_end = (count + 1) * SKR_SVSM_GUID_ENTRY_SIZE;
	for (i = 0; i < count; i++)
		if (take_entry(blob, len, i, table_end, &out->entries[i], err) < 0)
			goto fail;
	out->count = count;
	if (check_disjoint(out, len - table_end, err) < 0)
		goto fail;
	for (i = 0; i < count; i++)
		if (!memcmp(out->entries[i].guid, skr_svsm_vtpm_guid, 16))
			out->vtpm = &out->entries[i];
	return 0;
fail:
	memset(out, 0, sizeof(*out));
	return -1;
}

/* ---- the vTPM's EK -------------------------------------------------------- */

/* Template L-1's shape: the only EK the SVSM's vTPM makes and the broker takes. */
static int check_ek_l1(const TPMT_PUBLIC *p, struct skr_err *err)
{
	const TPMS_RSA_PARMS *rsa = &p->parameters.rsaDetail;

	if (p->type != TPM2_ALG_RSA)
		return skr_fail(err, SKR_R_svsm_ek_unsupported,
				"vTPM EK: type 0x%04x, not RSA (template L-1)", p->type);
	if (p->nameAlg != TPM2_ALG_SHA256 || p->objectAttributes != EK_L1_ATTRS ||
	    p->authPolicy.size != sizeof(policy_a_sha256) ||
	    memcmp(p->authPolicy.buffer, policy_a_sha256, sizeof(policy_a_sha256)))
		return skr_fail(err, SKR_R_svsm_ek_unsupported,
				"vTPM EK: nameAlg 0x%04x, attributes 0x%08x or its policy differ from "
				"template L-1's", p->nameAlg, p->objectAttributes);
	if (rsa->symmetric.algorithm != TPM2_ALG_AES || rsa->symmetric.keyBits.aes != 128 ||
	    rsa->symmetric.mode.aes != TPM2_ALG_CFB || rsa->scheme.scheme != TPM2_ALG_NULL ||
	    rsa->keyBits != 2048 || (rsa->exponent != 0 && rsa->exponent != 65537) ||
	    p->unique.rsa.size != 256)
		return skr_fail(err, SKR_R_svsm_ek_unsupported,
				"vTPM EK: not RSA-2048 with AES-128-CFB and no scheme (template L-1)");
	return 0;
}

int skr_svsm_ek_parse(const uint8_t *data, size_t len, struct skr_svsm_ek *out,
		      struct skr_err *err)
{
	size_t off = 0;

	memset(out, 0, sizeof(*out));
	if (!data || len == 0 ||
	    Tss2_MU_TPMT_PUBLIC_Unmarshal(data, len, &off, &out->pub.publicArea) !=
		    TSS2_RC_SUCCESS)
		return skr_fail(err, SKR_R_svsm_ek_unsupported,
				"vTPM EK: %zu bytes that are not a TPMT_PUBLIC", len);
	if (off != len)
		return skr_fail(err, SKR_R_svsm_ek_unsupported,
				"vTPM EK: %zu bytes after the %zu-byte TPMT_PUBLIC", len - off, off);
	if (check_ek_l1(&out->pub.publicArea, err) < 0) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	out->pub.size = (uint16_t)len;
	out->tpmt = data;
	out->tpmt_len = len;
	return 0;
}

int skr_svsm_vtpm_ek(enum skr_svsm_form form, const uint8_t *manifest, size_t len,
		     struct skr_svsm_ek *out, struct skr_err *err)
{
	struct skr_svsm_manifest m;

	memset(out, 0, sizeof(*out));
	if (form == SKR_SVSM_FORM_SINGLE_VTPM) {
		if (len > SKR_SVSM_MANIFEST_MAX)
			return skr_fail(err, SKR_R_svsm_manifest_malformed,
					"vTPM manifest: %zu bytes, over %u", len,
					SKR_SVSM_MANIFEST_MAX);
		return skr_svsm_ek_parse(manifest, len, out, err);
	}
	if (form != SKR_SVSM_FORM_SERVICES)
		return skr_fail(err, SKR_R_usage, "svsm: unknown manifest form %d", (int)form);
	if (skr_svsm_manifest_parse(manifest, len, &m, err) < 0)
		return -1;
	if (!m.vtpm)
		return skr_fail(err, SKR_R_svsm_no_vtpm,
				"services manifest: %zu services, none is the vTPM "
				"(c476f1eb-0123-45a5-9641-b4e7dde5bfe3)", m.count);
	return skr_svsm_ek_parse(m.vtpm->data, m.vtpm->size, out, err);
}

/* ---- the binding ---------------------------------------------------------- */

static int sha512_two(const void *a, size_t a_len, const void *b, size_t b_len, uint8_t out[64],
		      struct skr_err *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int n = 0;
	int ok;

	if (!md)
		return skr_fail(err, SKR_R_nomem, "svsm binding: out of memory");
	ok = EVP_DigestInit_ex(md, EVP_sha512(), NULL) && EVP_DigestUpdate(md, a, a_len) &&
	     (b_len == 0 || EVP_DigestUpdate(md, b, b_len)) && EVP_DigestFinal_ex(md, out, &n) &&
	     n == 64;
	EVP_MD_CTX_free(md);
	return ok ? 0 : skr_fail(err, SKR_R_nomem, "svsm binding: SHA-512 failed");
}

int skr_svsm_nonce(const uint8_t *nonce, size_t nonce_len, uint8_t out[SKR_SVSM_NONCE_SIZE],
		   struct skr_err *err)
{
	if (!nonce || nonce_len != 32)
		return skr_fail(err, SKR_R_malformed, "svsm binding: the nonce is %zu bytes, not 32",
				nonce ? nonce_len : 0);
	return sha512_two(SKR_SVSM_BIND_LABEL, sizeof(SKR_SVSM_BIND_LABEL) - 1, nonce, nonce_len,
			  out, err);
}

int skr_svsm_report_data(const uint8_t svsm_nonce[SKR_SVSM_NONCE_SIZE], const uint8_t *manifest,
			 size_t len, uint8_t out[64], struct skr_err *err)
{
	if (len > SKR_SVSM_MANIFEST_MAX)
		return skr_fail(err, SKR_R_svsm_manifest_malformed,
				"svsm binding: the manifest is %zu bytes, over %u", len,
				SKR_SVSM_MANIFEST_MAX);
	return sha512_two(svsm_nonce, SKR_SVSM_NONCE_SIZE, manifest, len, out, err);
}

int skr_svsm_report_check(const struct skr_snp_report *report, const uint8_t *nonce,
			  size_t nonce_len, enum skr_svsm_form form, const uint8_t *manifest,
			  size_t len, struct skr_svsm_ek *ek, struct skr_err *err)
{
	uint8_t svsm_nonce[SKR_SVSM_NONCE_SIZE], want[64];

	memset(ek, 0, sizeof(*ek));
	if (report->vmpl != 0)
		return skr_fail(err, SKR_R_snp_vmpl_not_allowed,
				"svsm: the report was requested at VMPL%u, not VMPL0 (the SVSM's)",
				report->vmpl);
	if (skr_svsm_nonce(nonce, nonce_len, svsm_nonce, err) < 0 ||
	    skr_svsm_report_data(svsm_nonce, manifest, len, want, err) < 0)
		return -1;
	if (!skr_ct_equal(report->report_data, want, sizeof(want)))
		return skr_fail(err, SKR_R_svsm_binding_mismatch,
				"REPORT_DATA is not SHA-512(nonce || manifest) for this nonce and "
				"this %zu-byte manifest", len);
	return skr_svsm_vtpm_ek(form, manifest, len, ek, err);
}
