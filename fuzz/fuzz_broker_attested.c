/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the broker's attested-request input (release and
 * reseal: skr_attested_verify in src/broker/release.c) — key_id, nonce,
 * evidence parsing and on into verification — on a real store.  Input byte
 * 0, bit 0 set: the request's "nonce" is replaced by a fresh valid one for
 * its key_id, so inputs get past the nonce to the evidence.  The rest is the
 * request body.
 */
#include "broker_fixture.h"

#include <openssl/err.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct skr_broker *b = fuzz_broker();
	struct skr_attested a;
	struct skr_err err = { 0 };
	json_object *req, *id;
	char *nonce;

	if (size < 1)
		return 0;
	req = fuzz_json_object(data + 1, size - 1);
	if (!req)
		return 0;
	if ((data[0] & 1) && json_object_object_get_ex(req, "key_id", &id) &&
	    json_object_is_type(id, json_type_string) && skr_store_key_id_valid(json_object_get_string(id)) &&
	    (nonce = fuzz_nonce(json_object_get_string(id)))) {
		json_object_object_add(req, "nonce", json_object_new_string(nonce));
		free(nonce);
	}
	if (skr_attested_verify(b, req, true, &a, &err) == 0)
		__builtin_trap();	/* no AMD-signed evidence can come out of a fuzzer */
	if (err.reason == SKR_R_ok)
		__builtin_trap();
	skr_attested_free(&a);
	json_object_put(req);
	/* OpenSSL's error queue grows with every failure: emptied, so that
	 * libFuzzer's leak check does not run (slowly) after every input. */
	ERR_clear_error();
	return 0;
}
