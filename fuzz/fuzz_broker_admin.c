/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the admin API's routing and handlers (skr_broker_admin
 * in src/broker/admin.c) on a real store.  Input: byte 0 picks the method,
 * then the path up to a newline, then the body (JSON, as http.c passes it:
 * an object for POST/PUT — others are refused there — and for GET the query
 * as an object).
 */
#include "broker_fixture.h"

#include <openssl/err.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const methods[] = { "GET", "POST", "PUT", "DELETE", "PATCH" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct skr_broker *b = fuzz_broker();
	struct skr_response resp = { 0 };
	const uint8_t *nl;
	const char *method;
	json_object *req;
	char path[512];
	size_t plen;

	if (size < 1)
		return 0;
	method = methods[data[0] % (sizeof(methods) / sizeof(methods[0]))];
	nl = memchr(data + 1, '\n', size - 1);
	plen = nl ? (size_t)(nl - data - 1) : size - 1;
	if (plen >= sizeof(path) || memchr(data + 1, 0, plen))
		return 0;
	memcpy(path, data + 1, plen);
	path[plen] = 0;
	req = nl ? fuzz_json_object(nl + 1, size - (size_t)(nl + 1 - data)) : NULL;
	if ((!strcmp(method, "POST") || !strcmp(method, "PUT")) && !req)
		return 0;
	if (!strcmp(method, "GET") && !req)
		req = json_object_new_object();
	skr_broker_admin(b, method, path, req, "fuzz", &resp);
	fuzz_check_response(&resp);
	json_object_put(req);
	/* OpenSSL's error queue grows with every failure: emptied, so that
	 * libFuzzer's leak check does not run (slowly) after every input. */
	ERR_clear_error();
	return 0;
}
