/* SPDX-License-Identifier: Apache-2.0 */
/* The client's checks of a broker's answers (broker_answer.h) and skr_sanitize_text. */
#include <string.h>

#include "vm/broker_answer.h"
#include "testutil.h"
#include "common/util.h"

#define B "https://evil"
#define NONCE32 "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\""
#define EPK65                                                                               \
	"\"BIqq7JLos1LzXReTAZudT4vWO8BGSpQDWUkshKTCWCIZQQ152aIXZLRlCIs0y9AYmN9d+sDhO1q4cbSK9YVjHzo=\""

static json_object *parse(const char *text)
{
	struct skr_err err = { 0 };
	json_object *o = NULL;

	assert_ok(skr_answer_parse_body(B, (const uint8_t *)text, strlen(text), &o, &err), err);
	return o;
}

static void challenge_fails(const char *text, const char *detail)
{
	struct skr_challenge c;
	struct skr_err err = { 0 };
	json_object *o = parse(text);

	assert_failed_with(skr_answer_challenge(B, o, &c, &err), err, SKR_R_broker_protocol, detail);
	json_object_put(o);
}

static void challenge_checks(void **state)
{
	struct skr_challenge c;
	struct skr_err err = { 0 };
	json_object *o;

	(void)state;
	o = parse("{\"nonce\": " NONCE32 ", \"expires\": 1700000000, "
		  "\"pcrs\": {\"bank\": \"sha256\", \"indexes\": [0, 7, 11]}, \"future\": 1}");
	assert_ok(skr_answer_challenge(B, o, &c, &err), err);
	assert_int_equal(c.pcr_mask, (1u << 0) | (1u << 7) | (1u << 11));
	assert_int_equal(c.expires, 1700000000);
	json_object_put(o);
	challenge_fails("{\"nonce\": null}", "nonce must be base64 of 32 bytes");
	challenge_fails("{\"nonce\": \"AAAA\", \"expires\": 1, \"pcrs\": {}}", "nonce must be base64 of 32");
	challenge_fails("{\"nonce\": " NONCE32 ", \"expires\": \"1\"}", "\"expires\" must be an integer");
	challenge_fails("{\"nonce\": " NONCE32 ", \"expires\": 1.5}", "\"expires\"");
	challenge_fails("{\"nonce\": " NONCE32 ", \"expires\": 1, \"pcrs\": {\"bank\": \"md5\", "
			"\"indexes\": [7]}}", "pcrs.bank");
	challenge_fails("{\"nonce\": " NONCE32 ", \"expires\": 1, \"pcrs\": {\"bank\": \"sha1\", "
			"\"indexes\": [7]}}", "pcrs.bank must be sha256");
	challenge_fails("{\"nonce\": " NONCE32 ", \"expires\": 1, \"pcrs\": {\"bank\": \"sha256\", "
			"\"indexes\": [99]}}", "pcrs.indexes must hold integers from 0 to 23");
	challenge_fails("{\"nonce\": " NONCE32 ", \"expires\": 1, \"pcrs\": {\"bank\": \"sha256\", "
			"\"indexes\": [\"7\"]}}", "pcrs.indexes");
	challenge_fails("{\"nonce\": " NONCE32 ", \"expires\": 1, \"pcrs\": {\"bank\": \"sha256\", "
			"\"indexes\": [7, 7]}}", "twice");
	challenge_fails("{\"nonce\": " NONCE32 ", \"expires\": 1, \"pcrs\": {\"bank\": \"sha256\", "
			"\"indexes\": [0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,0]}}",
			"at most 24");
}

static void credential_fails(const char *text, const char *detail)
{
	struct skr_credential c;
	struct skr_err err = { 0 };
	json_object *o = parse(text);

	assert_failed_with(skr_answer_credential(B, o, &c, &err), err, SKR_R_broker_protocol, detail);
	assert_int_equal(c.blob_len, 0);
	json_object_put(o);
}

/* tee "tpm": the challenge answer's credential, bounded before it reaches the TPM. */
static void credential_checks(void **state)
{
	struct skr_credential c;
	struct skr_err err = { 0 };
	json_object *o;
	char big[2000];
	int n;

	(void)state;
	o = parse("{\"credential\": {\"blob\": \"AAEC\", \"secret\": \"AwQF\"}}");
	assert_ok(skr_answer_credential(B, o, &c, &err), err);
	assert_int_equal(c.blob_len, 3);
	assert_int_equal(c.secret_len, 3);
	assert_int_equal(c.secret[2], 5);
	json_object_put(o);
	credential_fails("{\"nonce\": " NONCE32 "}", "lacks the object \"credential\"");
	credential_fails("{\"credential\": \"AAEC\"}", "lacks the object \"credential\"");
	credential_fails("{\"credential\": {\"blob\": \"\", \"secret\": \"AwQF\"}}",
			 "credential.blob must be base64 of 1 to 256 bytes");
	credential_fails("{\"credential\": {\"blob\": \"AAEC\", \"secret\": 3}}",
			 "credential.secret must be base64 of 1 to 1024 bytes");
	/* 1026 bytes of secret (1368 base64 characters): more than a TPM2B_ENCRYPTED_SECRET. */
	n = snprintf(big, sizeof(big), "{\"credential\": {\"blob\": \"AAEC\", \"secret\": \"");
	memset(big + n, 'A', 1368);
	snprintf(big + n + 1368, sizeof(big) - (size_t)n - 1368, "\"}}");
	credential_fails(big, "credential.secret must be base64 of 1 to 1024 bytes");
}

static void wrapped_fails(const char *text, const char *detail)
{
	struct skr_wrapped w;
	struct skr_err err = { 0 };
	json_object *o = parse(text);

	assert_failed_with(skr_answer_wrapped(B, o, &w, &err), err, SKR_R_broker_protocol, detail);
	json_object_put(o);
}

static void wrapped_checks(void **state)
{
	struct skr_wrapped w;
	struct skr_err err = { 0 };
	json_object *o;

	(void)state;
	o = parse("{\"wrapped\": {\"alg\": \"" SKR_WRAP_ALG "\", \"epk\": " EPK65 ", "
		  "\"iv\": \"AAAAAAAAAAAAAAAA\", \"ciphertext\": \"AAAA\", "
		  "\"tag\": \"AAAAAAAAAAAAAAAAAAAAAA==\"}}");
	assert_ok(skr_answer_wrapped(B, o, &w, &err), err);
	assert_int_equal(w.ciphertext_len, 3);
	json_object_put(o);
	wrapped_fails("{\"wrapped\": {\"alg\": null}}", "wrapped.alg must be");
	wrapped_fails("{\"wrapped\": null}", "lacks the object \"wrapped\"");
	wrapped_fails("{\"wrapped\": [1]}", "\"wrapped\"");
	wrapped_fails("{\"wrapped\": {\"alg\": 5}}", "wrapped.alg");
	wrapped_fails("{\"wrapped\": {\"alg\": \"" SKR_WRAP_ALG "\", \"epk\": 5}}", "wrapped.epk");
	wrapped_fails("{\"wrapped\": {\"alg\": \"" SKR_WRAP_ALG "\", \"epk\": \"AAAA\"}}",
		      "wrapped.epk must be base64 of 65 bytes");
	/* 65 bytes, but not a point on the curve. */
	wrapped_fails("{\"wrapped\": {\"alg\": \"" SKR_WRAP_ALG "\", \"epk\": "
		      "\"BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\", "
		      "\"iv\": \"AAAAAAAAAAAAAAAA\", \"ciphertext\": \"AAAA\", "
		      "\"tag\": \"AAAAAAAAAAAAAAAAAAAAAA==\"}}", "point on P-256");
	wrapped_fails("{\"wrapped\": {\"alg\": \"" SKR_WRAP_ALG "\", \"epk\": " EPK65 ", "
		      "\"iv\": \"AAAAAAAAAAAAAAAA\", \"ciphertext\": \"\", "
		      "\"tag\": \"AAAAAAAAAAAAAAAAAAAAAA==\"}}", "wrapped.ciphertext");
	wrapped_fails("{\"wrapped\": {\"alg\": \"" SKR_WRAP_ALG "\", \"epk\": " EPK65 ", "
		      "\"iv\": \"AAAAAAAAAAAAAAAA\", \"ciphertext\": \"AAAA\", \"tag\": \"AAAA\"}}",
		      "wrapped.tag must be base64 of 16 bytes");
}

static void failure_checks(void **state)
{
	struct skr_err err = { 0 };
	json_object *o;

	(void)state;
	o = parse("{\"error\": \"denied\", \"reason\": \"pcr_mismatch\", "
		  "\"detail\": \"PCR 7\\u001b[2J\\u009b31m\\u0007 differs\"}");
	assert_failed_with(skr_answer_failure(B, "/v1/release", 403, o, &err), err, SKR_R_pcr_mismatch,
			   "refused: PCR 7\\x1b[2J\\xc2\\x9b31m\\x07 differs");
	assert_null(strchr(err.detail, 0x1b));
	json_object_put(o);
	skr_err_clear(&err);
	o = parse("{\"error\": \"denied\", \"reason\": \"\\u001b]0;owned\\u0007\", \"detail\": \"x\"}");
	assert_failed_with(skr_answer_failure(B, "/v1/release", 403, o, &err), err,
			   SKR_R_broker_protocol, "not a known refusal reason");
	json_object_put(o);
	skr_err_clear(&err);
	/* A client-side reason (not a verification verdict) is no refusal either. */
	o = parse("{\"error\": \"denied\", \"reason\": \"tpm_error\", \"detail\": \"x\"}");
	assert_failed_with(skr_answer_failure(B, "/v1/release", 403, o, &err), err,
			   SKR_R_broker_protocol, "reason");
	json_object_put(o);
	skr_err_clear(&err);
	o = parse("{\"error\": \"denied\", \"reason\": null, \"detail\": \"x\"}");
	assert_failed_with(skr_answer_failure(B, "/v1/release", 403, o, &err), err,
			   SKR_R_broker_protocol, "\"reason\" must be a string");
	json_object_put(o);
	skr_err_clear(&err);
	o = parse("{\"error\": \"denied\", \"reason\": \"pcr_mismatch\", \"detail\": 7}");
	assert_failed_with(skr_answer_failure(B, "/v1/release", 403, o, &err), err,
			   SKR_R_broker_protocol, "\"detail\" must be a string of at most 1024 bytes");
	json_object_put(o);
	skr_err_clear(&err);
	assert_failed_with(skr_answer_failure(B, "/v1/release", 503, NULL, &err), err,
			   SKR_R_broker_unreachable, "HTTP 503");
	skr_err_clear(&err);
	assert_failed_with(skr_answer_failure(B, "/v1/release", 302, NULL, &err), err,
			   SKR_R_broker_protocol, "HTTP 302 without JSON");
}

static void body_checks(void **state)
{
	struct skr_err err = { 0 };
	json_object *o = NULL;
	static const char trailing[] = "{\"a\": 1} {\"b\": 2}";
	static const char nul[] = "{\"a\": 1}\0{";
	char deep[64];

	(void)state;
	assert_failed_with(skr_answer_parse_body(B, (const uint8_t *)trailing, strlen(trailing), &o, &err),
			   err, SKR_R_broker_protocol, "not one JSON object");
	skr_err_clear(&err);
	assert_failed_with(skr_answer_parse_body(B, (const uint8_t *)nul, sizeof(nul) - 1, &o, &err),
			   err, SKR_R_broker_protocol, "not one JSON object");
	skr_err_clear(&err);
	assert_failed_with(skr_answer_parse_body(B, (const uint8_t *)"[1]", 3, &o, &err), err,
			   SKR_R_broker_protocol, "not one JSON object");
	skr_err_clear(&err);
	memset(deep, '[', sizeof(deep));
	deep[0] = '{';
	assert_failed_with(skr_answer_parse_body(B, (const uint8_t *)deep, sizeof(deep), &o, &err), err,
			   SKR_R_broker_protocol, NULL);
	assert_null(o);
}

static void refvals_checks(void **state)
{
	struct skr_err err = { 0 };
	json_object *o, *note;

	(void)state;
	o = parse("{\"id\": 3, \"state\": \"queued\", \"existed\": false, \"superseded\": 0, "
		  "\"note\": \"\\u001b[31mred\", \"extra\": \"\\u009b\", \"more\": 1}");
	assert_ok(skr_answer_refvals(B, "/v1/refvals", o, &err), err);
	assert_true(json_object_object_get_ex(o, "note", &note));
	assert_string_equal(json_object_get_string(note), "\\x1b[31mred");
	/* Members skrctl does not check do not reach its --json output. */
	assert_false(json_object_object_get_ex(o, "extra", NULL));
	assert_false(json_object_object_get_ex(o, "more", NULL));
	assert_int_equal(json_object_object_length(o), 5);
	json_object_put(o);
	o = parse("{\"id\": 3, \"state\": \"owned\", \"existed\": false, \"superseded\": 0}");
	assert_failed_with(skr_answer_refvals(B, "/v1/refvals", o, &err), err, SKR_R_broker_protocol,
			   "\"state\"");
	json_object_put(o);
	skr_err_clear(&err);
	o = parse("{\"accepted\": false, \"this_boot_matches\": true, \"submission_would_be\": "
		  "\"pending\", \"note\": null}");
	assert_failed_with(skr_answer_refvals(B, "/v1/refvals/check", o, &err), err,
			   SKR_R_broker_protocol, "\"note\"");
	json_object_put(o);
	skr_err_clear(&err);
	/* A tee "snp" key's dry run: accepted without a set id or a submission state. */
	o = parse("{\"accepted\": true, \"this_boot_matches\": true, \"tee\": \"snp\", "
		  "\"note\": \"no PCR sets\"}");
	assert_ok(skr_answer_refvals(B, "/v1/refvals/check", o, &err), err);
	assert_int_equal(json_object_object_length(o), 4);
	json_object_put(o);
	o = parse("{\"accepted\": true, \"this_boot_matches\": true, \"tee\": \"tpm\"}");
	assert_failed_with(skr_answer_refvals(B, "/v1/refvals/check", o, &err), err,
			   SKR_R_broker_protocol, "\"tee\"");
	json_object_put(o);
	skr_err_clear(&err);
	/* Without "tee" an accepted answer still names its set. */
	o = parse("{\"accepted\": true, \"this_boot_matches\": true, \"submission_would_be\": "
		  "\"pending\"}");
	assert_failed_with(skr_answer_refvals(B, "/v1/refvals/check", o, &err), err,
			   SKR_R_broker_protocol, "\"id\"");
	json_object_put(o);
	skr_err_clear(&err);
	o = parse("{\"id\": 2, \"retired\": -1, \"deleted\": 0}");
	assert_failed_with(skr_answer_refvals(B, "/v1/refvals/commit", o, &err), err,
			   SKR_R_broker_protocol, "\"retired\"");
	json_object_put(o);
}

static void sanitize_text(void **state)
{
	char out[32];

	(void)state;
	assert_string_equal(skr_sanitize_text("plain text", SIZE_MAX, out, sizeof(out)), "plain text");
	assert_string_equal(skr_sanitize_text("\x1b[2J\x7f\x9b\t", SIZE_MAX, out, sizeof(out)),
			    "\\x1b[2J\\x7f\\x9b\\x09");
	assert_string_equal(skr_sanitize_text("0123456789012345678901234567890123456789", SIZE_MAX, out,
					      sizeof(out)),
			    "0123456789012345678901234567...");
	assert_int_equal(strlen(skr_sanitize_text("\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b", SIZE_MAX,
						  out, sizeof(out))),
			 28 + 3);
	assert_string_equal(skr_sanitize_text("abc", 2, out, sizeof(out)), "ab");
	assert_string_equal(skr_sanitize_text("abc", SIZE_MAX, out, 4), "...");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(challenge_checks), cmocka_unit_test(wrapped_checks),
		cmocka_unit_test(failure_checks),   cmocka_unit_test(body_checks),
		cmocka_unit_test(refvals_checks),   cmocka_unit_test(sanitize_text),
		cmocka_unit_test(credential_checks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
