/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the client's reading of a broker's answers
 * (src/vm/broker_answer.h), which skr-unlock, the token plugin and skrctl
 * run on whatever an unpinned broker or the network sends.  The first byte
 * picks the HTTP status the body comes with; the body goes through every
 * answer check.  Invariants: nothing crashes, and no text that reaches an
 * error detail or an accepted reseal answer holds a control byte.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vm/broker_answer.h"
#include "common/util.h"

#include <openssl/err.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const long statuses[] = { 200, 403, 400, 401, 404, 302, 500, 503 };
static const char *const reseal_paths[] = { "/v1/refvals", "/v1/refvals/check",
					    "/v1/refvals/commit", "/v1/refvals/withdraw" };

static void printable_or_trap(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			__builtin_trap();
}

static void text_members_printable(json_object *o)
{
	json_object *v;

	if (json_object_object_get_ex(o, "note", &v) && json_object_is_type(v, json_type_string))
		printable_or_trap(json_object_get_string(v));
	if (json_object_object_get_ex(o, "detail", &v) && json_object_is_type(v, json_type_string))
		printable_or_trap(json_object_get_string(v));
}

static void unwrap_with_fixed_z(const struct skr_wrapped *w, const uint8_t *nonce)
{
	static const uint8_t z[SKR_WRAP_COORD] = { 1 };
	uint8_t secret[SKR_WRAP_MAX_SECRET];
	struct skr_err err = { 0 };
	size_t len = 0;

	if (skr_unwrap_with_z(z, w, nonce, SKR_ANSWER_NONCE_SIZE, "key", secret, &len, &err) == 0 &&
	    len != w->ciphertext_len)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct skr_err err = { 0 };
	struct skr_challenge ch;
	struct skr_credential cred;
	struct skr_wrapped w;
	json_object *resp = NULL;
	long status;
	size_t i;

	if (size < 1)
		return 0;
	status = statuses[data[0] % (sizeof(statuses) / sizeof(statuses[0]))];
	if (skr_answer_parse_body("https://broker", data + 1, size - 1, &resp, &err) < 0)
		resp = NULL;
	if (status != 200 || !resp) {
		memset(&err, 0, sizeof(err));
		if (skr_answer_failure("https://broker", "/v1/release", status, resp, &err) != -1 ||
		    err.reason == SKR_R_ok)
			__builtin_trap();
		printable_or_trap(err.detail);
		json_object_put(resp);
		return 0;
	}
	memset(&err, 0, sizeof(err));
	if (skr_answer_challenge("https://broker", resp, &ch, &err) == 0 &&
	    (ch.expires <= 0 || ch.pcr_mask >> 24))
		__builtin_trap();
	memset(&err, 0, sizeof(err));
	if (skr_answer_credential("https://broker", resp, &cred, &err) == 0 &&
	    (!cred.blob_len || cred.blob_len > sizeof(cred.blob) || !cred.secret_len ||
	     cred.secret_len > sizeof(cred.secret)))
		__builtin_trap();
	memset(&err, 0, sizeof(err));
	if (skr_answer_wrapped("https://broker", resp, &w, &err) == 0) {
		if (w.ciphertext_len == 0 || w.ciphertext_len > SKR_WRAP_MAX_SECRET)
			__builtin_trap();
		unwrap_with_fixed_z(&w, ch.nonce);
	}
	for (i = 0; i < sizeof(reseal_paths) / sizeof(reseal_paths[0]); i++) {
		memset(&err, 0, sizeof(err));
		if (skr_answer_refvals("https://broker", reseal_paths[i], resp, &err) == 0)
			text_members_printable(resp);
		else
			printable_or_trap(err.detail);
	}
	json_object_put(resp);
	/* OpenSSL's error queue grows with every failure: emptied, so that
	 * libFuzzer's leak check does not run (slowly) after every input. */
	ERR_clear_error();
	return 0;
}
