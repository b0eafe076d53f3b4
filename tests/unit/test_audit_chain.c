/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The audit chain's canonical encoding (common/audit_chain.h) byte for byte,
 * its unambiguity (NULL vs empty, moved field boundaries), the checkpoint
 * message and signature, and skr_audit_log_verify on a log built here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "common/audit_chain.h"
#include "common/util.h"
#include "testutil.h"
#include "verify/audit_log.h"

static struct skr_audit_fields fields(const char *key_id, const char *client, const char *detail)
{
	struct skr_audit_fields f = {
		.time = 1700000000,
		.text = { key_id, client, "release", "allow", NULL, detail },
	};
	for (int i = 0; i < 6; i++)
		f.text_len[i] = f.text[i] ? strlen(f.text[i]) : 0;
	return f;
}

/* The layout audit_chain.h documents, written out by hand. */
static void encoding_known_answer(void **state)
{
	static const uint8_t want[] =
		"skr-audit-row/1\0"
		"\0\0\0\0\0\0\0\x07"
		"\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11"
		"\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11"
		"\0\0\0\0\x65\x53\xf1\x00"
		"\x01\0\0\0\x01" "k"
		"\0"
		"\x01\0\0\0\x07" "release"
		"\x01\0\0\0\x05" "allow"
		"\0"
		"\x01\0\0\0\0"
		"\x01\0\0\0\x02" "\xab\xcd";
	const uint8_t digest[2] = { 0xab, 0xcd };
	uint8_t prev[32], out[256], hash[32], sha[32];
	struct skr_audit_fields f = fields("k", NULL, "");
	struct skr_err err = { 0 };
	size_t len;

	(void)state;
	memset(prev, 0x11, sizeof(prev));
	f.digest = digest;
	f.digest_len = sizeof(digest);
	len = skr_audit_row_encode(7, prev, &f, NULL, 0);
	assert_int_equal(len, sizeof(want) - 1);
	assert_int_equal(skr_audit_row_encode(7, prev, &f, out, sizeof(out)), len);
	assert_memory_equal(out, want, len);
	assert_ok(skr_audit_row_hash(7, prev, &f, hash, &err), err);
	EVP_Digest(want, len, sha, NULL, EVP_sha256(), NULL);
	assert_memory_equal(hash, sha, sizeof(sha));
}

static void hash_of(uint64_t seq, const struct skr_audit_fields *f, uint8_t out[32])
{
	uint8_t prev[32] = { 0 };
	struct skr_err err = { 0 };

	assert_ok(skr_audit_row_hash(seq, prev, f, out, &err), err);
}

/* Rows a string concatenation would confuse hash apart. */
static void encoding_unambiguous(void **state)
{
	struct skr_audit_fields a = fields("ab", "c", "d"), b = fields("a", "bc", "d");
	struct skr_audit_fields null_detail = fields("ab", "c", NULL), empty = fields("ab", "c", "");
	uint8_t h1[32], h2[32];

	(void)state;
	hash_of(1, &a, h1);
	hash_of(1, &b, h2);
	assert_memory_not_equal(h1, h2, 32);
	hash_of(1, &null_detail, h1);
	hash_of(1, &empty, h2);
	assert_memory_not_equal(h1, h2, 32);
	hash_of(1, &a, h1);
	hash_of(2, &a, h2);
	assert_memory_not_equal(h1, h2, 32);
	/* A long detail (the heap path) hashes like its encoding. */
	{
		char *big = malloc(5000);
		struct skr_audit_fields f;
		uint8_t *enc, sha[32], prev[32] = { 0 };
		size_t len;

		memset(big, 'x', 4999);
		big[4999] = 0;
		f = fields("k", "c", big);
		len = skr_audit_row_encode(3, prev, &f, NULL, 0);
		enc = malloc(len);
		skr_audit_row_encode(3, prev, &f, enc, len);
		EVP_Digest(enc, len, sha, NULL, EVP_sha256(), NULL);
		hash_of(3, &f, h1);
		assert_memory_equal(h1, sha, 32);
		free(enc);
		free(big);
	}
}

static EVP_PKEY *p256(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	assert_non_null(k);
	return k;
}

static size_t sign(EVP_PKEY *k, uint64_t seq, const uint8_t head[32], int64_t t, uint8_t *sig)
{
	uint8_t msg[SKR_AUDIT_CHECKPOINT_MSG_SIZE];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t len = 128;

	skr_audit_checkpoint_msg(seq, head, t, msg);
	assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k), 1);
	assert_int_equal(EVP_DigestSign(ctx, sig, &len, msg, sizeof(msg)), 1);
	EVP_MD_CTX_free(ctx);
	return len;
}

static void checkpoint_message_and_signature(void **state)
{
	uint8_t head[32], msg[SKR_AUDIT_CHECKPOINT_MSG_SIZE], sig[128];
	EVP_PKEY *k = p256(), *other = p256();
	size_t len;

	(void)state;
	memset(head, 0x42, sizeof(head));
	skr_audit_checkpoint_msg(5, head, 9, msg);
	assert_memory_equal(msg, "skr-audit-checkpoint/1\0", 23);
	assert_memory_equal(msg + 23, "\0\0\0\0\0\0\0\x05", 8);
	assert_memory_equal(msg + 31, head, 32);
	assert_memory_equal(msg + 63, "\0\0\0\0\0\0\0\x09", 8);
	len = sign(k, 5, head, 9, sig);
	assert_int_equal(skr_audit_checkpoint_verify(k, 5, head, 9, sig, len), 1);
	assert_int_equal(skr_audit_checkpoint_verify(k, 6, head, 9, sig, len), 0);
	assert_int_equal(skr_audit_checkpoint_verify(k, 5, head, 10, sig, len), 0);
	assert_int_equal(skr_audit_checkpoint_verify(other, 5, head, 9, sig, len), 0);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
}

/* A log of n rows and one checkpoint at its end, as the admin API exports them. */
static void build(EVP_PKEY *k, int n, char **log, char **cps)
{
	json_object *rows = json_object_new_array(), *cp = json_object_new_array(), *c;
	uint8_t prev[32] = { 0 }, hash[32], sig[128];
	struct skr_err err = { 0 };
	size_t len;
	char *hex;

	for (int i = 1; i <= n; i++) {
		struct skr_audit_fields f = fields("disk", "10.0.0.1", "d");
		json_object *r = json_object_new_object();

		assert_ok(skr_audit_row_hash((uint64_t)i, prev, &f, hash, &err), err);
		json_object_object_add(r, "seq", json_object_new_int64(i));
		json_object_object_add(r, "time", json_object_new_int64(f.time));
		for (int t = 0; t < 6; t++)
			json_object_object_add(r, skr_audit_text_names[t],
					       f.text[t] ? json_object_new_string(f.text[t]) : NULL);
		json_object_object_add(r, "evidence_digest", NULL);
		hex = skr_hex_encode(prev, 32);
		json_object_object_add(r, "prev", json_object_new_string(hex));
		free(hex);
		hex = skr_hex_encode(hash, 32);
		json_object_object_add(r, "hash", json_object_new_string(hex));
		free(hex);
		json_object_array_add(rows, r);
		memcpy(prev, hash, 32);
	}
	len = sign(k, (uint64_t)n, prev, 77, sig);
	c = json_object_new_object();
	json_object_object_add(c, "seq", json_object_new_int64(n));
	json_object_object_add(c, "time", json_object_new_int64(77));
	hex = skr_hex_encode(prev, 32);
	json_object_object_add(c, "hash", json_object_new_string(hex));
	free(hex);
	hex = skr_base64_encode(sig, len);
	json_object_object_add(c, "signature", json_object_new_string(hex));
	free(hex);
	json_object_array_add(cp, c);
	*log = strdup(json_object_to_json_string(rows));
	*cps = strdup(json_object_to_json_string(cp));
	json_object_put(rows);
	json_object_put(cp);
}

static void log_verified_and_tampering_named(void **state)
{
	EVP_PKEY *k = p256();
	struct skr_audit_report rep;
	struct skr_err err = { 0 };
	char *log, *cps, *p;

	(void)state;
	build(k, 6, &log, &cps);
	assert_ok(skr_audit_log_verify(log, strlen(log), cps, strlen(cps), k, &rep, &err), err);
	assert_int_equal(rep.rows, 6);
	assert_int_equal(rep.anchored_seq, 6);
	/* The third row's client edited in place. */
	p = strstr(log, "\"seq\": 3");
	assert_non_null(p);
	p = strstr(p, "10.0.0.1");
	p[0] = '9';
	assert_failed_with(skr_audit_log_verify(log, strlen(log), cps, strlen(cps), k, &rep, &err),
			   err, SKR_R_audit_chain_broken, "row 3 changed");
	assert_int_equal(rep.bad_seq, 3);
	skr_err_clear(&err);
	assert_failed_with(skr_audit_log_verify("{}", 2, cps, strlen(cps), k, &rep, &err), err,
			   SKR_R_malformed, "not a JSON array");
	free(log);
	free(cps);
	EVP_PKEY_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(encoding_known_answer),
		cmocka_unit_test(encoding_unambiguous),
		cmocka_unit_test(checkpoint_message_and_signature),
		cmocka_unit_test(log_verified_and_tampering_named),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
