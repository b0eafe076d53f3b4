/* SPDX-License-Identifier: Apache-2.0 */
#include "verify/hcl_report.h"

#include <string.h>

#include "verify/jwk.h"
#include "common/util.h"

static const uint8_t hcl_signature[4] = { 'H', 'C', 'L', 'A' };

static int parse_header(const uint8_t *d, size_t len, struct skr_hcl_report *r,
			struct skr_err *err)
{
	if (len < SKR_HCL_CLAIMS_OFFSET)
		return skr_fail(err, SKR_R_malformed,
				"HCL report is %zu bytes, shorter than its fixed part (%d)", len,
				SKR_HCL_CLAIMS_OFFSET);
	if (memcmp(d, hcl_signature, sizeof(hcl_signature)) != 0)
		return skr_fail(err, SKR_R_malformed, "HCL report does not start with \"HCLA\"");
	r->version = skr_le32(d + 4);
	r->report_size = skr_le32(d + 8);
	r->request_type = skr_le32(d + 12);
	r->status = skr_le32(d + 16);
	if (r->request_type != SKR_HCL_REQUEST_TYPE_SNP)
		return skr_fail(err, SKR_R_unsupported,
				"HCL request type %u is not an SNP report (2)", r->request_type);
	return 0;
}

/* The runtime data header bounds the claims; the HCL header's size is not trusted. */
static int parse_runtime_header(const uint8_t *d, size_t len, struct skr_hcl_report *r,
				struct skr_err *err)
{
	const uint8_t *rt = d + SKR_HCL_RUNTIME_OFFSET;
	uint32_t claims_size;

	r->runtime_data_size = skr_le32(rt);
	r->runtime_version = skr_le32(rt + 4);
	r->runtime_report_type = skr_le32(rt + 8);
	r->hash_type = skr_le32(rt + 12);
	claims_size = skr_le32(rt + 16);
	if (r->runtime_report_type != SKR_HCL_REPORT_TYPE_SNP)
		return skr_fail(err, SKR_R_unsupported,
				"HCL runtime report type %u is not SNP (2)", r->runtime_report_type);
	if (r->hash_type < SKR_HCL_HASH_SHA256 || r->hash_type > SKR_HCL_HASH_SHA512)
		return skr_fail(err, SKR_R_unsupported, "HCL claims hash type %u is unknown",
				r->hash_type);
	if (claims_size == 0 || claims_size > SKR_HCL_MAX_CLAIMS)
		return skr_fail(err, SKR_R_malformed, "HCL claims size %u is out of range (1 to %u)",
				claims_size, SKR_HCL_MAX_CLAIMS);
	if (claims_size > len - SKR_HCL_CLAIMS_OFFSET)
		return skr_fail(err, SKR_R_malformed,
				"HCL claims (%u bytes) run past the end of the report (%zu bytes left)",
				claims_size, len - SKR_HCL_CLAIMS_OFFSET);
	r->claims_len = claims_size;
	return 0;
}

static int copy_claims(const uint8_t *d, struct skr_hcl_report *r, struct skr_err *err)
{
	r->claims = malloc(r->claims_len + 1);
	if (!r->claims)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	memcpy(r->claims, d + SKR_HCL_CLAIMS_OFFSET, r->claims_len);
	r->claims[r->claims_len] = 0;
	return 0;
}

int skr_hcl_parse_claims(struct skr_hcl_report *r, struct skr_err *err)
{
	struct json_tokener *tok;
	size_t i;

	if (r->claims_json)
		return 0;
	/* The hash covers all claims bytes, but JSON must not hide bytes after a NUL. */
	for (i = 0; i < r->claims_len; i++)
		if (r->claims[i] == 0)
			return skr_fail(err, SKR_R_malformed, "HCL claims contain a NUL byte at %zu", i);
	tok = json_tokener_new_ex(32);
	if (!tok)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	r->claims_json = json_tokener_parse_ex(tok, r->claims, (int)r->claims_len);
	if (!r->claims_json || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != r->claims_len ||
	    !json_object_is_type(r->claims_json, json_type_object)) {
		json_tokener_free(tok);
		return skr_fail(err, SKR_R_malformed, "HCL claims are not one JSON object");
	}
	json_tokener_free(tok);
	return 0;
}

int skr_hcl_report_parse(const uint8_t *data, size_t len, struct skr_hcl_report *r,
			 struct skr_err *err)
{
	memset(r, 0, sizeof(*r));
	if (parse_header(data, len, r, err) < 0 ||
	    skr_snp_report_parse(data + SKR_HCL_SNP_OFFSET, SKR_SNP_REPORT_SIZE, &r->snp, err) < 0 ||
	    parse_runtime_header(data, len, r, err) < 0 || copy_claims(data, r, err) < 0) {
		skr_hcl_report_free(r);
		return -1;
	}
	return 0;
}

void skr_hcl_report_free(struct skr_hcl_report *r)
{
	if (!r)
		return;
	json_object_put(r->claims_json);
	free(r->claims);
	r->claims_json = NULL;
	r->claims = NULL;
}

int skr_hcl_claims_digest(const struct skr_hcl_report *r, uint8_t out[64], struct skr_err *err)
{
	const EVP_MD *md = r->hash_type == SKR_HCL_HASH_SHA256 ? EVP_sha256()
			   : r->hash_type == SKR_HCL_HASH_SHA384 ? EVP_sha384()
								 : EVP_sha512();
	unsigned int n = 0;

	if (!EVP_Digest(r->claims, r->claims_len, out, &n, md, NULL))
		return skr_fail(err, SKR_R_nomem, "cannot hash the HCL claims");
	return (int)n;
}

int skr_hcl_verify_binding(const struct skr_hcl_report *r, struct skr_err *err)
{
	uint8_t digest[64];
	int n = skr_hcl_claims_digest(r, digest, err);

	if (n < 0)
		return -1;
	if (!skr_ct_equal(digest, r->snp.report_data, (size_t)n))
		return skr_fail(err, SKR_R_hcl_claims_hash_mismatch,
				"the hash of the runtime claims differs from the SNP REPORT_DATA");
	return 0;
}

/* The first entry of "keys" whose "kid" is "HCLAkPub". */
static json_object *find_ak(json_object *claims)
{
	json_object *keys, *kid;
	size_t i;

	if (!json_object_object_get_ex(claims, "keys", &keys) ||
	    !json_object_is_type(keys, json_type_array))
		return NULL;
	for (i = 0; i < json_object_array_length(keys); i++) {
		json_object *k = json_object_array_get_idx(keys, i);

		if (json_object_is_type(k, json_type_object) &&
		    json_object_object_get_ex(k, "kid", &kid) &&
		    json_object_is_type(kid, json_type_string) &&
		    strcmp(json_object_get_string(kid), "HCLAkPub") == 0)
			return k;
	}
	return NULL;
}

int skr_hcl_ak_public(const struct skr_hcl_report *r, EVP_PKEY **out, struct skr_err *err)
{
	json_object *jwk = r->claims_json ? find_ak(r->claims_json) : NULL;

	if (!jwk)
		return skr_fail(err, SKR_R_hcl_ak_missing,
				"the runtime claims have no key with kid \"HCLAkPub\"");
	return skr_jwk_to_pkey(jwk, out, err);
}

int skr_hcl_user_data(const struct skr_hcl_report *r, uint8_t out[64], size_t *len,
		      struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf raw = { 0 };
	json_object *v;
	const char *s;

	*len = 0;
	if (!r->claims_json)
		return skr_fail(err, SKR_R_usage, "HCL claims were not parsed");
	if (!json_object_object_get_ex(r->claims_json, "user-data", &v))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return skr_fail(err, SKR_R_malformed, "claims \"user-data\" is not a string");
	s = json_object_get_string(v);
	if (skr_hex_decode(s, strlen(s), &raw, "user-data", err) < 0)
		return -1;
	if (raw.len > 64)
		return skr_fail(err, SKR_R_malformed, "claims \"user-data\" is longer than 64 bytes");
	memcpy(out, raw.data, raw.len);
	*len = raw.len;
	return 0;
}
