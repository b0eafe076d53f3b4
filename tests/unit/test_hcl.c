/* SPDX-License-Identifier: Apache-2.0 */
/* Azure HCL report: layout, claims binding, HCLAkPub, hostile sizes. */
#include "testutil.h"

#include <json-c/json.h>

#include "fakeazure.h"
#include "verify/hcl_report.h"
#include "verify/jwk.h"

static void load_real_hcl(struct skr_buf *out)
{
	struct skr_buf text = { 0 };
	struct skr_err err = { 0 };
	json_object *obj, *hcl;

	skr_test_read_vector(VECTOR("azure/milan-evidence.json"), &text);
	obj = json_tokener_parse((const char *)text.data);
	assert_non_null(obj);
	assert_true(json_object_object_get_ex(obj, "hcl_report", &hcl));
	assert_ok(skr_base64_decode(json_object_get_string(hcl),
				    (size_t)json_object_get_string_len(hcl), out, "hcl", &err), err);
	json_object_put(obj);
	skr_buf_free(&text);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Parses, checks the binding, parses the claims: the full offline check. */
static int check(const uint8_t *data, size_t len, EVP_PKEY **ak, struct skr_err *err)
{
	struct skr_hcl_report r;
	int rc;

	if (skr_hcl_report_parse(data, len, &r, err) < 0)
		return -1;
	rc = skr_hcl_verify_binding(&r, err) < 0 || skr_hcl_parse_claims(&r, err) < 0 ||
			     skr_hcl_ak_public(&r, ak, err) < 0
		     ? -1
		     : 0;
	skr_hcl_report_free(&r);
	return rc;
}

static void real_report_parses_and_binds(void **state)
{
	struct skr_buf hcl = { 0 };
	struct skr_hcl_report r;
	struct skr_err err = { 0 };
	EVP_PKEY *ak = NULL;
	uint8_t user_data[64];
	size_t ud_len;

	load_real_hcl(&hcl);
	assert_int_equal(hcl.len, 2600);
	assert_ok(skr_hcl_report_parse(hcl.data, hcl.len, &r, &err), err);
	assert_int_equal(r.request_type, 2);
	assert_int_equal(r.runtime_report_type, 2);
	assert_int_equal(r.hash_type, SKR_HCL_HASH_SHA256);
	assert_int_equal(r.claims_len, 1110);
	assert_int_equal(r.snp.version, 3);
	assert_ok(skr_hcl_verify_binding(&r, &err), err);
	assert_ok(skr_hcl_parse_claims(&r, &err), err);
	assert_ok(skr_hcl_ak_public(&r, &ak, &err), err);
	assert_int_equal(EVP_PKEY_get_bits(ak), 2048);
	assert_ok(skr_hcl_user_data(&r, user_data, &ud_len, &err), err);
	assert_int_equal(ud_len, 64);
	assert_int_equal(user_data[0], 0x98);
	EVP_PKEY_free(ak);
	skr_hcl_report_free(&r);
	skr_buf_free(&hcl);
}

static void tampered_claims_break_binding(void **state)
{
	struct skr_buf hcl = { 0 };
	struct skr_err err = { 0 };
	EVP_PKEY *ak = NULL;
	uint8_t *vmid;

	load_real_hcl(&hcl);
	/* Change one character of the vmUniqueId: valid JSON, wrong hash. */
	vmid = memmem(hcl.data, hcl.len, "7DF7B373", 8);
	assert_non_null(vmid);
	vmid[0] = '8';
	assert_failed_with(check(hcl.data, hcl.len, &ak, &err), err,
			   SKR_R_hcl_claims_hash_mismatch, "REPORT_DATA");
	assert_null(ak);
	skr_buf_free(&hcl);
}

static void tampered_report_data_breaks_binding(void **state)
{
	struct skr_buf hcl = { 0 };
	struct skr_err err = { 0 };
	EVP_PKEY *ak = NULL;

	load_real_hcl(&hcl);
	hcl.data[SKR_HCL_SNP_OFFSET + 0x50 + 31] ^= 1;
	assert_failed_with(check(hcl.data, hcl.len, &ak, &err), err,
			   SKR_R_hcl_claims_hash_mismatch, NULL);
	skr_buf_free(&hcl);
}

static void hostile_layouts(void **state)
{
	struct skr_buf hcl = { 0 }, copy = { 0 };
	struct skr_hcl_report r;
	struct skr_err err = { 0 };

	load_real_hcl(&hcl);

	assert_failed_with(skr_hcl_report_parse(hcl.data, SKR_HCL_CLAIMS_OFFSET - 1, &r, &err),
			   err, SKR_R_malformed, "shorter than its fixed part");
	skr_err_clear(&err);
	assert_failed_with(skr_hcl_report_parse(hcl.data, 0, &r, &err), err, SKR_R_malformed, NULL);

	skr_buf_set(&copy, hcl.data, hcl.len, &err);
	put_le32(copy.data + SKR_HCL_RUNTIME_OFFSET + 16, 0xFFFFFFFFu);	/* overflowing size */
	skr_err_clear(&err);
	assert_failed_with(skr_hcl_report_parse(copy.data, copy.len, &r, &err), err,
			   SKR_R_malformed, "out of range");
	put_le32(copy.data + SKR_HCL_RUNTIME_OFFSET + 16, 4000);	/* past the end */
	skr_err_clear(&err);
	assert_failed_with(skr_hcl_report_parse(copy.data, copy.len, &r, &err), err,
			   SKR_R_malformed, "past the end");
	put_le32(copy.data + SKR_HCL_RUNTIME_OFFSET + 16, 0);
	skr_err_clear(&err);
	assert_failed_with(skr_hcl_report_parse(copy.data, copy.len, &r, &err), err,
			   SKR_R_malformed, "out of range");

	memcpy(copy.data, hcl.data, hcl.len);
	copy.data[0] = 'X';
	skr_err_clear(&err);
	assert_failed_with(skr_hcl_report_parse(copy.data, copy.len, &r, &err), err,
			   SKR_R_malformed, "HCLA");
	memcpy(copy.data, hcl.data, hcl.len);
	put_le32(copy.data + 12, 1);
	skr_err_clear(&err);
	assert_failed_with(skr_hcl_report_parse(copy.data, copy.len, &r, &err), err,
			   SKR_R_unsupported, "request type 1");
	memcpy(copy.data, hcl.data, hcl.len);
	put_le32(copy.data + SKR_HCL_RUNTIME_OFFSET + 12, 9);
	skr_err_clear(&err);
	assert_failed_with(skr_hcl_report_parse(copy.data, copy.len, &r, &err), err,
			   SKR_R_unsupported, "hash type 9");
	skr_buf_free(&copy);
	skr_buf_free(&hcl);
}

/* A bound report from the test chain with the given claims text. */
static void build_bound(const char *claims, struct skr_buf *out)
{
	struct skr_test_chain chain;
	struct skr_err err = { 0 };

	assert_ok(skr_test_chain_new(&chain, NULL, &err), err);
	assert_ok(skr_test_hcl_report(&chain, NULL, claims, strlen(claims), out, &err), err);
	skr_test_chain_free(&chain);
}

static void generated_report_round_trips(void **state)
{
	EVP_PKEY *ak = skr_test_rsa_key(), *got = NULL;
	struct skr_buf claims = { 0 }, hcl = { 0 };
	struct skr_err err = { 0 };
	uint8_t ud[64] = { 1, 2, 3 };

	assert_ok(skr_test_claims(ak, ud, sizeof(ud), &claims, &err), err);
	build_bound((const char *)claims.data, &hcl);
	assert_ok(check(hcl.data, hcl.len, &got, &err), err);
	assert_int_equal(EVP_PKEY_eq(ak, got), 1);
	EVP_PKEY_free(got);
	EVP_PKEY_free(ak);
	skr_buf_free(&claims);
	skr_buf_free(&hcl);
}

static void claims_without_ak_refused(void **state)
{
	struct skr_buf hcl = { 0 };
	struct skr_err err = { 0 };
	EVP_PKEY *ak = NULL;

	build_bound("{\"keys\":[{\"kid\":\"HCLEkPub\",\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"AQAB\"}]}",
		    &hcl);
	assert_failed_with(check(hcl.data, hcl.len, &ak, &err), err, SKR_R_hcl_ak_missing,
			   "HCLAkPub");
	skr_buf_free(&hcl);
}

static void malformed_claims_refused(void **state)
{
	static const char *const bad[] = {
		"{\"keys\": [",			/* truncated JSON */
		"[1,2,3]",			/* not an object */
		"{\"a\":1} trailing",		/* trailing bytes */
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		struct skr_buf hcl = { 0 };
		struct skr_err err = { 0 };
		EVP_PKEY *ak = NULL;

		build_bound(bad[i], &hcl);
		assert_failed_with(check(hcl.data, hcl.len, &ak, &err), err, SKR_R_malformed,
				   "JSON object");
		skr_buf_free(&hcl);
	}
}

static void nul_inside_claims_refused(void **state)
{
	struct skr_test_chain chain;
	struct skr_buf hcl = { 0 };
	struct skr_err err = { 0 };
	static const char claims[] = "{\"keys\":[]}\0{\"x\":1}";
	EVP_PKEY *ak = NULL;

	assert_ok(skr_test_chain_new(&chain, NULL, &err), err);
	assert_ok(skr_test_hcl_report(&chain, NULL, claims, sizeof(claims) - 1, &hcl, &err), err);
	assert_failed_with(check(hcl.data, hcl.len, &ak, &err), err, SKR_R_malformed, "NUL byte");
	skr_test_chain_free(&chain);
	skr_buf_free(&hcl);
}

static void jwk_bad_keys_refused(void **state)
{
	static const char *const bad[] = {
		"{\"kty\":\"EC\",\"n\":\"AQAB\",\"e\":\"AQAB\"}",
		"{\"kty\":\"RSA\",\"e\":\"AQAB\"}",
		"{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}",	/* tiny modulus */
		"{\"kty\":\"RSA\",\"n\":\"!!!\",\"e\":\"AQAB\"}",
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		json_object *jwk = json_tokener_parse(bad[i]);
		struct skr_err err = { 0 };
		EVP_PKEY *key = NULL;

		assert_non_null(jwk);
		assert_failed_with(skr_jwk_to_pkey(jwk, &key, &err), err, SKR_R_malformed, NULL);
		assert_null(key);
		json_object_put(jwk);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(real_report_parses_and_binds),
		cmocka_unit_test(tampered_claims_break_binding),
		cmocka_unit_test(tampered_report_data_breaks_binding),
		cmocka_unit_test(hostile_layouts),
		cmocka_unit_test(generated_report_round_trips),
		cmocka_unit_test(claims_without_ak_refused),
		cmocka_unit_test(malformed_claims_refused),
		cmocka_unit_test(nul_inside_claims_refused),
		cmocka_unit_test(jwk_bad_keys_refused),
	};

	return cmocka_run_group_tests_name("hcl", tests, NULL, NULL);
}
