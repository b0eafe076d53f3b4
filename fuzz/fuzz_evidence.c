/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: evidence bundles (skr and Trustee layouts) from JSON
 * text, then the whole verification against the built-in AMD roots (which
 * fails for anything the fuzzer makes, but must fail cleanly), and the PCR
 * JSON reader on the same text.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/err.h>

#include "verify/amd_chain.h"
#include "verify/evidence.h"
#include "common/pcr_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* tss2-mu logs every unmarshalling error to stderr: millions of lines. */
	setenv("TSS2_LOG", "all+none", 0);
	return 0;
}

static const struct skr_amd_trust *trust(void)
{
	static struct skr_amd_trust t;
	static bool loaded;
	struct skr_err err = { 0 };

	if (!loaded) {
		if (skr_amd_trust_init(&t, true, &err) < 0)
			__builtin_trap();
		loaded = true;
	}
	return &t;
}

/* A broker-like SNP policy hook: refuses VMPL above 0. */
static int snp_policy(const struct skr_snp_report *r, enum skr_snp_product product, void *ctx,
		      struct skr_err *err)
{
	(void)product;
	++*(unsigned long *)ctx;
	if (r->vmpl > 0)
		return skr_fail(err, SKR_R_usage, "VMPL %u", r->vmpl);
	return 0;
}

static void verify(const struct skr_evidence *ev)
{
	static const uint8_t nonce[32] = { 0 };
	static struct skr_chain_cache cache;
	static bool cache_ready;
	static unsigned long policy_calls;
	struct skr_evidence_policy pol = { .trust = trust() };
	struct skr_evidence_result res;
	struct skr_err err = { 0 };

	(void)skr_evidence_verify(ev, &pol, &res, &err);
	skr_evidence_result_free(&res);

	/* Once more with a nonce, a forced product, the chain cache and a policy hook. */
	if (!cache_ready) {
		skr_chain_cache_init(&cache);
		cache_ready = true;
	}
	skr_err_clear(&err);
	pol.nonce = nonce;
	pol.nonce_len = sizeof(nonce);
	pol.product = SKR_SNP_PRODUCT_MILAN;
	pol.chain_cache = &cache;
	pol.snp_policy = snp_policy;
	pol.snp_policy_ctx = &policy_calls;
	(void)skr_evidence_verify(ev, &pol, &res, &err);
	skr_evidence_result_free(&res);
	skr_evidence_result_free(&res);	/* freeing twice is allowed */
}

static void pcrs(json_object *obj)
{
	struct skr_pcr_banks banks;
	struct skr_err err = { 0 };
	json_object *j;

	if (skr_pcr_banks_from_json(obj, &banks, &err) == 0) {
		j = skr_pcr_banks_to_json(&banks);
		json_object_put(j);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct skr_evidence ev;
	struct skr_err err = { 0 };
	json_object *obj, *member;
	char *text;

	if (skr_evidence_parse((const char *)data, size, &ev, &err) == 0) {
		verify(&ev);
		skr_evidence_free(&ev);
	}

	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	obj = json_tokener_parse(text);
	free(text);
	if (obj) {
		pcrs(obj);
		/* The skr layout's "pcrs" member, to reach the bank parser with real data. */
		if (json_object_object_get_ex(obj, "pcrs", &member))
			pcrs(member);
		skr_err_clear(&err);
		if (skr_evidence_from_json(obj, &ev, &err) == 0)
			skr_evidence_free(&ev);
		json_object_put(obj);
	}
	ERR_clear_error();
	return 0;
}
