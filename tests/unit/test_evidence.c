/* SPDX-License-Identifier: Apache-2.0 */
/* Evidence bundles end to end: the real Azure vector and generated ones. */
#include "testutil.h"

#include <json-c/json.h>

#include "verify/evidence.h"
#include "fakeazure.h"

#define PCR_MASK ((1u << 4) | (1u << 7) | (1u << 11))
#define REAL_USER_DATA                                                          \
	"982f5c6e45df0ed3f10b6f60b02f0c8390e281300f3805e2279c16168cd6ae9aa398f647caa" \
	"2338748cd0fd9f5f819ef"

static const uint8_t nonce[32] = "evidence-nonce-0123456789abcdef";

static int verify_text(const char *text, size_t len, const struct skr_evidence_policy *pol,
		       struct skr_err *err)
{
	struct skr_evidence ev;
	struct skr_evidence_result res;
	int rc;

	if (skr_evidence_parse(text, len, &ev, err) < 0)
		return -1;
	rc = skr_evidence_verify(&ev, pol, &res, err);
	skr_evidence_result_free(&res);
	skr_evidence_free(&ev);
	return rc;
}

/* ---- the real Azure (Trustee v2) vector ---------------------------------- */

static void real_vector_verifies(void **state)
{
	struct skr_buf text = { 0 }, n = { 0 };
	struct skr_amd_trust trust;
	struct skr_evidence_policy pol = { .trust = &trust };
	struct skr_err err = { 0 };

	skr_test_read_vector(VECTOR("azure/milan-evidence.json"), &text);
	assert_ok(skr_amd_trust_init(&trust, true, &err), err);
	assert_ok(verify_text((const char *)text.data, text.len, &pol, &err), err);
	assert_ok(skr_hex_decode(REAL_USER_DATA, strlen(REAL_USER_DATA), &n, "nonce", &err), err);
	pol.nonce = n.data;
	pol.nonce_len = n.len;
	assert_ok(verify_text((const char *)text.data, text.len, &pol, &err), err);
	n.data[0] ^= 1;
	assert_failed_with(verify_text((const char *)text.data, text.len, &pol, &err), err,
			   SKR_R_quote_nonce_mismatch, NULL);
	skr_buf_free(&n);
	skr_amd_trust_free(&trust);
	skr_buf_free(&text);
}

/* Edits the real vector through a JSON path and verifies the result. */
static int verify_real_edited(void (*edit)(json_object *), struct skr_err *err)
{
	struct skr_buf text = { 0 };
	struct skr_amd_trust trust;
	struct skr_evidence_policy pol = { .trust = &trust };
	json_object *obj;
	const char *edited;
	int rc;

	skr_test_read_vector(VECTOR("azure/milan-evidence.json"), &text);
	obj = json_tokener_parse((const char *)text.data);
	assert_non_null(obj);
	edit(obj);
	edited = json_object_to_json_string(obj);
	assert_ok(skr_amd_trust_init(&trust, true, err), *err);
	rc = verify_text(edited, strlen(edited), &pol, err);
	skr_amd_trust_free(&trust);
	json_object_put(obj);
	skr_buf_free(&text);
	return rc;
}

static json_object *member(json_object *o, const char *a, const char *b)
{
	json_object *v = NULL;

	assert_true(json_object_object_get_ex(o, a, &v));
	if (b)
		assert_true(json_object_object_get_ex(v, b, &v));
	return v;
}

static void edit_pcr7(json_object *o)
{
	json_object_array_put_idx(member(o, "tpm_quote", "pcrs"), 7,
				  json_object_new_string("00000000000000000000000000000000"
							 "00000000000000000000000000000000"));
}

static void edit_version3(json_object *o)
{
	json_object_object_add(o, "version", json_object_new_int(3));
}

static void edit_too_many_pcrs(json_object *o)
{
	json_object_array_add(member(o, "tpm_quote", "pcrs"), json_object_new_string("00"));
}

static void edit_drop_message(json_object *o)
{
	json_object_object_del(member(o, "tpm_quote", NULL), "message");
}

static void edit_signature_hex(json_object *o)
{
	json_object_object_add(member(o, "tpm_quote", NULL), "signature",
			       json_object_new_string("zz"));
}

static void edit_drop_vcek(json_object *o)
{
	json_object_object_del(o, "vcek");
}

static void real_vector_edits_refused(void **state)
{
	struct skr_err err = { 0 };

	assert_failed_with(verify_real_edited(edit_pcr7, &err), err,
			   SKR_R_quote_pcr_digest_mismatch, NULL);
	skr_err_clear(&err);
	assert_failed_with(verify_real_edited(edit_version3, &err), err, SKR_R_unsupported,
			   "version");
	skr_err_clear(&err);
	assert_failed_with(verify_real_edited(edit_too_many_pcrs, &err), err, SKR_R_malformed,
			   "25 PCRs");
	skr_err_clear(&err);
	assert_failed_with(verify_real_edited(edit_drop_message, &err), err, SKR_R_malformed,
			   "message");
	skr_err_clear(&err);
	assert_failed_with(verify_real_edited(edit_signature_hex, &err), err, SKR_R_malformed,
			   "hex");
	skr_err_clear(&err);
	assert_failed_with(verify_real_edited(edit_drop_vcek, &err), err, SKR_R_usage, "no VCEK");
}

static void malformed_json_refused(void **state)
{
	static const char *const bad[] = {
		"", "{", "[]", "{\"tee\": 1}", "{\"tee\": \"sgx\"}",
		"{\"tee\": \"az-snp-vtpm\"}",
		"{\"tee\": \"az-snp-vtpm\", \"quote\": {}, \"pcrs\": {}}",
	};
	static const enum skr_reason want[] = {
		SKR_R_malformed, SKR_R_malformed, SKR_R_malformed, SKR_R_malformed,
		SKR_R_unsupported, SKR_R_malformed, SKR_R_malformed,
	};
	struct skr_evidence ev;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		struct skr_err err = { 0 };

		assert_failed_with(skr_evidence_parse(bad[i], strlen(bad[i]), &ev, &err), err,
				   want[i], NULL);
	}
}

static void oversized_json_refused(void **state)
{
	size_t len = SKR_EVIDENCE_MAX_JSON + 1;
	char *big = malloc(len);
	struct skr_evidence ev;
	struct skr_err err = { 0 };

	memset(big, ' ', len);
	assert_failed_with(skr_evidence_parse(big, len, &ev, &err), err, SKR_R_malformed,
			   "larger than");
	free(big);
}

/* ---- generated evidence in skr's layout ----------------------------------- */

struct gen {
	struct skr_test_chain chain;
	struct skr_amd_trust trust;
	EVP_PKEY *ak;
	struct skr_pcr_banks banks;
	struct skr_test_report_opts report;
	uint8_t user_data[64];
	bool omit_ak;
	bool tamper_claims;
	EVP_PKEY *quote_key;		/* signs the quote; NULL = ak */
};

static struct gen *gen_new(void)
{
	struct gen *g = calloc(1, sizeof(*g));
	struct skr_buf pem = { 0 };
	struct skr_err err = { 0 };

	assert_ok(skr_test_chain_new(&g->chain, NULL, &err), err);
	assert_ok(skr_amd_trust_init(&g->trust, true, &err), err);
	assert_ok(skr_test_chain_bundle_pem(&g->chain, false, &pem, &err), err);
	assert_ok(skr_amd_trust_add_pem(&g->trust, pem.data, pem.len, &err), err);
	skr_buf_free(&pem);
	g->ak = skr_test_rsa_key();
	skr_test_pcr_banks(&g->banks);
	skr_test_report_opts_init(&g->report, &g->chain.vcek_opts);
	return g;
}

static void gen_free(struct gen *g)
{
	skr_test_chain_free(&g->chain);
	skr_amd_trust_free(&g->trust);
	EVP_PKEY_free(g->ak);
	free(g);
}

/* Builds the bundle as a VM would and verifies it with the given policy. */
static int gen_verify(struct gen *g, struct skr_evidence_policy *pol, struct skr_err *err)
{
	struct skr_buf claims = { 0 }, hcl = { 0 }, attest = { 0 }, sig = { 0 }, json = { 0 };
	struct skr_err e = { 0 };
	int rc;

	assert_ok(skr_test_claims(g->omit_ak ? NULL : g->ak, g->user_data, sizeof(g->user_data),
				  &claims, &e), e);
	assert_ok(skr_test_hcl_report(&g->chain, &g->report, claims.data, claims.len, &hcl, &e), e);
	if (g->tamper_claims)
		hcl.data[hcl.len - 3] ^= 0x01;	/* inside the vmUniqueId string */
	assert_ok(skr_test_quote(g->quote_key ? g->quote_key : g->ak, nonce, sizeof(nonce),
				 &g->banks, PCR_MASK, &attest, &sig, &e), e);
	assert_ok(skr_test_evidence_json(&hcl, g->chain.vcek, &attest, &sig, &g->banks, &json, &e),
		  e);
	if (!pol->trust)
		pol->trust = &g->trust;
	rc = verify_text((const char *)json.data, json.len, pol, err);
	skr_buf_free(&claims);
	skr_buf_free(&hcl);
	skr_buf_free(&attest);
	skr_buf_free(&sig);
	skr_buf_free(&json);
	return rc;
}

static void generated_evidence_verifies(void **state)
{
	struct gen *g = gen_new();
	struct skr_evidence_policy pol = { .nonce = nonce, .nonce_len = sizeof(nonce) };
	struct skr_err err = { 0 };

	assert_ok(gen_verify(g, &pol, &err), err);
	gen_free(g);
}

static void generated_untrusted_chain_refused(void **state)
{
	struct gen *g = gen_new();
	struct skr_amd_trust builtin;
	struct skr_evidence_policy pol = { .trust = &builtin };
	struct skr_err err = { 0 };

	assert_ok(skr_amd_trust_init(&builtin, true, &err), err);
	assert_failed_with(gen_verify(g, &pol, &err), err, SKR_R_chain_signature_invalid, NULL);
	skr_amd_trust_free(&builtin);
	gen_free(g);
}

static void debug_vm_refused_unless_allowed(void **state)
{
	struct gen *g = gen_new();
	struct skr_evidence_policy pol = { 0 };
	struct skr_err err = { 0 };

	g->report.policy |= SKR_TEST_POLICY_DEBUG;
	assert_failed_with(gen_verify(g, &pol, &err), err, SKR_R_snp_debug_enabled, "bit 19");
	pol.allow_debug = true;
	skr_err_clear(&err);
	assert_ok(gen_verify(g, &pol, &err), err);
	gen_free(g);
}

static void tampered_claims_refused(void **state)
{
	struct gen *g = gen_new();
	struct skr_evidence_policy pol = { 0 };
	struct skr_err err = { 0 };

	g->tamper_claims = true;
	assert_failed_with(gen_verify(g, &pol, &err), err, SKR_R_hcl_claims_hash_mismatch, NULL);
	gen_free(g);
}

static void swapped_ak_refused(void **state)
{
	struct gen *g = gen_new();
	struct skr_evidence_policy pol = { 0 };
	struct skr_err err = { 0 };

	/* The quote comes from a key that is not the HCLAkPub of the claims. */
	g->quote_key = skr_test_rsa_key();
	assert_failed_with(gen_verify(g, &pol, &err), err, SKR_R_quote_signature_invalid, NULL);
	EVP_PKEY_free(g->quote_key);
	gen_free(g);
}

static void missing_ak_refused(void **state)
{
	struct gen *g = gen_new();
	struct skr_evidence_policy pol = { 0 };
	struct skr_err err = { 0 };

	g->omit_ak = true;
	assert_failed_with(gen_verify(g, &pol, &err), err, SKR_R_hcl_ak_missing, NULL);
	gen_free(g);
}

static void stale_nonce_refused(void **state)
{
	struct gen *g = gen_new();
	uint8_t fresh[32] = { 0x42 };
	struct skr_evidence_policy pol = { .nonce = fresh, .nonce_len = sizeof(fresh) };
	struct skr_err err = { 0 };

	assert_failed_with(gen_verify(g, &pol, &err), err, SKR_R_quote_nonce_mismatch, NULL);
	gen_free(g);
}

static void tcb_mismatch_refused(void **state)
{
	struct gen *g = gen_new();
	struct skr_evidence_policy pol = { 0 };
	struct skr_err err = { 0 };

	g->report.reported_tcb = skr_test_tcb_milan(3, 0, 7, 0x73);
	assert_failed_with(gen_verify(g, &pol, &err), err, SKR_R_vcek_tcb_mismatch, "snp");
	gen_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(real_vector_verifies),
		cmocka_unit_test(real_vector_edits_refused),
		cmocka_unit_test(malformed_json_refused),
		cmocka_unit_test(oversized_json_refused),
		cmocka_unit_test(generated_evidence_verifies),
		cmocka_unit_test(generated_untrusted_chain_refused),
		cmocka_unit_test(debug_vm_refused_unless_allowed),
		cmocka_unit_test(tampered_claims_refused),
		cmocka_unit_test(swapped_ak_refused),
		cmocka_unit_test(missing_ak_refused),
		cmocka_unit_test(stale_nonce_refused),
		cmocka_unit_test(tcb_mismatch_refused),
	};

	return cmocka_run_group_tests_name("evidence", tests, NULL, NULL);
}
