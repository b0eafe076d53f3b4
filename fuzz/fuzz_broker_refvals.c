/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the reseal handlers' own fields (src/broker/refvals.c:
 * label, pcrs, and gate_events where the handlers read them), behind
 * evidence that verifies: a software VM (tests/helpers/softvm.h) on a test
 * AMD chain the broker trusts signs one request at start-up, its nonce valid
 * for the run and forgotten after each input.  Input byte 0 picks the
 * operation (submit, check, commit, withdraw); the rest is a JSON object
 * whose members join the request (key_id, nonce and evidence stay the VM's).
 */
#include "broker_fixture.h"
#include "common/pcr_json.h"
#include "softvm.h"

#include <openssl/err.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const ops[] = { "", "/check", "/commit", "/withdraw" };
static json_object *base;

static void prepare(struct skr_broker *b)
{
	static struct skr_softvm vm;
	struct skr_buf pem = { 0 }, nonce = { 0 };
	struct skr_err err = { 0 };
	json_object *pcrs;
	char *b64 = fuzz_nonce(FUZZ_KEY);
	int64_t id;

	if (!b64 || skr_softvm_new(&vm, &err) < 0 || skr_softvm_trust_pem(&vm, &pem, &err) < 0 ||
	    skr_amd_trust_add_pem(&b->trust, pem.data, pem.len, &err) < 0 ||
	    skr_base64_decode(b64, strlen(b64), &nonce, "nonce", &err) < 0 ||
	    skr_softvm_request(&vm, FUZZ_KEY, nonce.data, nonce.len, &base, &err) < 0)
		fuzz_die("softvm", &err);
	pcrs = skr_pcr_banks_to_json(&vm.pcrs);
	if (skr_store_refset_add(b->store, FUZZ_KEY, "boot", "current", json_object_to_json_string(pcrs),
				 &id, NULL, &err) < 0)
		fuzz_die("refset", &err);
	json_object_put(pcrs);
	skr_buf_free(&pem);
	skr_buf_free(&nonce);
	free(b64);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct skr_broker *b = fuzz_broker();
	struct skr_response resp = { 0 };
	uint8_t digest[32] = { 0 };
	json_object *fields, *req = NULL;

	if (!base)
		prepare(b);
	if (size < 1)
		return 0;
	fields = fuzz_json_object(data + 1, size - 1);
	if (!fields)
		return 0;
	if (json_object_deep_copy(base, &req, NULL) != 0)
		__builtin_trap();
	json_object_object_foreach(fields, k, v) {
		if (strcmp(k, "key_id") && strcmp(k, "nonce") && strcmp(k, "evidence"))
			json_object_object_add(req, k, json_object_get(v));
	}
	fuzz_forget_nonces();
	skr_broker_refvals(b, ops[data[0] % 4], req, "fuzz", digest, &resp);
	fuzz_check_response(&resp);
	json_object_put(req);
	json_object_put(fields);
	/* OpenSSL's error queue grows with every failure: emptied, so that
	 * libFuzzer's leak check does not run (slowly) after every input. */
	ERR_clear_error();
	return 0;
}
