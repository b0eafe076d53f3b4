/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The "skr" LUKS2 token (src/luks/token.h, man skr-token(5)) on its own:
 * schema 2 parse/serialise round trips, the refusal of each hostile field
 * with its reason and the field named, version 1's endpoint fields accepted
 * and ignored, the release options taken from the client configuration and
 * never from the token, and the token through a real LUKS2 header
 * (libcryptsetup on an image file; no device-mapper).
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <json-c/json.h>
#include <libcryptsetup.h>
#include <openssl/rand.h>

#include "common/gate.h"
#include "luks/token.h"
#include "vm/client_config.h"
#include "vm/release_client.h"
#include "vm/local_seal.h"

#define MIN_TOKEN "{\"type\": \"skr\", \"keyslots\": [\"1\"], \"skr_version\": 2, \"key_id\": \"k\"}"

/* A policy signed in software for a made-up counter Name, and its base64. */
static void local_policy_b64(uint64_t epoch, char **b64, struct skr_local_policy *out)
{
	struct skr_local_policy p;
	struct skr_err err = { 0 };
	TPM2B_NAME name = { .size = 34 };
	uint8_t digest[32], raw[SKR_LOCAL_POLICY_SIZE];
	EVP_PKEY *key = NULL;

	name.name[1] = 0x0b;	/* TPM_ALG_SHA256 */
	memset(name.name + 2, 0x5c, 32);
	memset(digest, (int)epoch, sizeof(digest));
	assert_ok(skr_local_signer_generate(&key, &err), err);
	assert_ok(skr_local_policy_sign(key, &name, (1u << 7) | SKR_LOCAL_GATE_MASK, digest, epoch, &p,
					&err),
		  err);
	EVP_PKEY_free(key);
	skr_local_policy_marshal(&p, raw);
	*b64 = skr_base64_encode(raw, sizeof(raw));
	assert_non_null(*b64);
	if (out)
		*out = p;
}

static char *b64_of(size_t len, uint8_t fill)
{
	uint8_t *raw = malloc(len ? len : 1);
	char *s;

	assert_non_null(raw);
	memset(raw, fill, len);
	s = skr_base64_encode(raw, len);
	free(raw);
	assert_non_null(s);
	return s;
}

/*
 * A schema 2 token with a local member: signer/public/private of the given
 * sizes, n_policies policies, extra members (", \"x\": 1" or "") at the top
 * and in "local".
 */
static char *full_token(size_t signer_len, size_t pub_len, size_t priv_len, size_t n_policies,
			const char *local_keyslot, const char *top_extra, const char *local_extra)
{
	char *signer = b64_of(signer_len, 0x30), *pub = b64_of(pub_len, 0x01),
	     *priv = b64_of(priv_len, 0x02);
	char policies[2048] = "";
	size_t off = 0, i;
	char *json = NULL;

	for (i = 0; i < n_policies; i++) {
		char *b64;

		local_policy_b64(i + 1, &b64, NULL);
		off += (size_t)snprintf(policies + off, sizeof(policies) - off, "%s\"%s\"",
					i ? ", " : "", b64);
		free(b64);
	}
	assert_true(off < sizeof(policies));
	assert_true(asprintf(&json,
			     "{\"type\": \"skr\", \"keyslots\": [\"1\", \"4\"], \"skr_version\": 2,"
			     " \"key_id\": \"skr-7f3a\", \"pcrs\": [4, 7, 9], \"timeout\": 45%s,"
			     " \"local\": {\"signer\": \"%s\", \"nv_index\": %u%s,"
			     " \"public\": \"%s\", \"private\": \"%s\", \"policies\": [%s]%s}}",
			     top_extra, signer, SKR_LOCAL_NV_FIRST + 3, local_keyslot, pub, priv, policies,
			     local_extra) > 0);
	free(signer);
	free(pub);
	free(priv);
	return json;
}

static void parse_ok(const char *json, struct skr_token *t)
{
	struct skr_err err = { 0 };

	assert_ok(skr_token_parse(json, t, &err), err);
}

static void refused(const char *json, enum skr_reason reason, const char *detail)
{
	struct skr_token t;
	struct skr_err err = { 0 };
	int rc = skr_token_parse(json, &t, &err);

	if (rc >= 0)
		fail_msg("token accepted: %s", json);
	if (err.reason != reason || (detail && !strstr(err.detail, detail)))
		fail_msg("token %.300s: refused with %s \"%s\", expected %s \"%s\"", json,
			 skr_reason_name(err.reason), err.detail, skr_reason_name(reason),
			 detail ? detail : "");
	/* A refused token leaves nothing allocated behind (ASan checks) and a zeroed struct. */
	assert_null(t.local);
	assert_int_equal(t.n_keyslots, 0);
}

static void malformed(const char *json, const char *detail)
{
	refused(json, SKR_R_malformed, detail);
}

/* A token with one member's value replaced: {"type":...,"keyslots":...,<member>: <value>}. */
static char *with_member(const char *member, const char *value)
{
	json_object *o = json_tokener_parse(MIN_TOKEN), *v = json_tokener_parse(value);
	char *s;

	assert_non_null(o);
	if (!v && strcmp(value, "null") != 0)
		fail_msg("bad test value %s", value);
	json_object_object_add(o, member, v);
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	assert_non_null(s);
	return s;
}

static void member_malformed(const char *member, const char *value, enum skr_reason reason,
			     const char *detail)
{
	char *json = with_member(member, value);

	refused(json, reason, detail);
	free(json);
}

/* ---- Schema 2 ------------------------------------------------------------------------ */

static void minimal_token_defaults(void **state)
{
	struct skr_token t;
	char *out;

	parse_ok(MIN_TOKEN, &t);
	assert_int_equal(t.version, 2);
	assert_int_equal(t.n_keyslots, 1);
	assert_int_equal(t.keyslots[0], 1);
	assert_string_equal(t.key_id, "k");
	assert_int_equal(t.pcr_mask, 0);	/* the broker's challenge names them */
	assert_int_equal(t.timeout, SKR_TOKEN_DEFAULT_TIMEOUT);
	assert_false(t.v1_ignored);
	assert_null(t.local);
	out = skr_token_to_json(&t);
	assert_non_null(out);
	/* The written form, member by member. */
	assert_string_equal(out, "{\"type\":\"skr\",\"keyslots\":[\"1\"],\"skr_version\":2,"
				 "\"key_id\":\"k\",\"pcrs\":[],\"timeout\":30}");
	free(out);
	skr_token_free(&t);
}

/* The documented token, local copy included: parse, write, parse again, same token, same text. */
static void round_trip_with_local_copy(void **state)
{
	struct skr_local_policy want[2];
	struct skr_token t, again;
	char *json, *out, *out2, *b64[2], *signer = b64_of(91, 0x30);

	local_policy_b64(5, &b64[0], &want[0]);
	local_policy_b64(6, &b64[1], &want[1]);
	assert_true(asprintf(&json,
			     "{\"type\": \"skr\", \"keyslots\": [\"1\", \"3\"], \"skr_version\": 2,"
			     " \"key_id\": \"skr-7f3a.root_2\", \"pcrs\": [4, 7, 9], \"timeout\": 30,"
			     " \"local\": {\"signer\": \"%s\", \"nv_index\": %u, \"keyslot\": 3,"
			     " \"public\": \"AQIDBA==\", \"private\": \"BQYHCAk=\", \"policies\": [\"%s\", \"%s\"]}}",
			     signer, SKR_LOCAL_NV_FIRST + SKR_LOCAL_NV_COUNT - 1, b64[0],
			     b64[1]) > 0);
	parse_ok(json, &t);
	assert_int_equal(t.n_keyslots, 2);
	assert_int_equal(t.keyslots[1], 3);
	assert_string_equal(t.key_id, "skr-7f3a.root_2");
	assert_int_equal(t.pcr_mask, (1u << 4) | (1u << 7) | (1u << 9));
	assert_int_equal(t.timeout, 30);
	assert_non_null(t.local);
	assert_int_equal(t.local->nv_index, SKR_LOCAL_NV_FIRST + SKR_LOCAL_NV_COUNT - 1);
	assert_int_equal(t.local->keyslot, 3);
	assert_int_equal(t.local->signer.len, 91);
	assert_int_equal(t.local->signer.data[90], 0x30);
	assert_int_equal(t.local->public_blob.len, 4);
	assert_memory_equal(t.local->public_blob.data, "\1\2\3\4", 4);
	assert_int_equal(t.local->private_blob.len, 5);
	assert_int_equal(t.local->n_policies, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(t.local->policies[i].pcr_mask, want[i].pcr_mask);
		assert_int_equal(t.local->policies[i].epoch, want[i].epoch);
		assert_memory_equal(t.local->policies[i].approved, want[i].approved, 32);
		assert_memory_equal(t.local->policies[i].signature, want[i].signature, 64);
		assert_memory_equal(t.local->policies[i].pcr_digest, want[i].pcr_digest, 32);
	}

	out = skr_token_to_json(&t);
	assert_non_null(out);
	parse_ok(out, &again);
	assert_int_equal(again.n_keyslots, 2);
	assert_string_equal(again.key_id, t.key_id);
	assert_int_equal(again.pcr_mask, t.pcr_mask);
	assert_int_equal(again.local->keyslot, 3);
	assert_int_equal(again.local->nv_index, t.local->nv_index);
	assert_int_equal(again.local->signer.len, t.local->signer.len);
	assert_memory_equal(again.local->signer.data, t.local->signer.data, t.local->signer.len);
	assert_int_equal(again.local->n_policies, 2);
	assert_memory_equal(&again.local->policies[1], &t.local->policies[1],
			    sizeof(struct skr_local_policy));
	out2 = skr_token_to_json(&again);
	assert_string_equal(out, out2);	/* writing is a fixed point */
	/* The policies are written exactly as they were read. */
	assert_non_null(strstr(out, b64[0]));
	assert_non_null(strstr(out, b64[1]));
	free(out);
	free(out2);
	skr_token_free(&again);

	/* A copy made before the boot gate has no keyslot: absent, and written without one. */
	skr_token_free(&t);
	free(json);
	json = full_token(91, 100, 150, 1, "", "", "");
	parse_ok(json, &t);
	assert_int_equal(t.local->keyslot, -1);
	out = skr_token_to_json(&t);
	assert_null(strstr(out, "\"keyslot\""));
	parse_ok(out, &again);
	assert_int_equal(again.local->keyslot, -1);
	skr_token_free(&again);
	skr_token_free(&t);
	free(out);
	free(json);
	free(b64[0]);
	free(b64[1]);
	free(signer);
}

/* The bounds of every field: the largest token skr accepts parses and writes back. */
static void field_bounds_accepted(void **state)
{
	struct skr_token t;
	char key_id[129], *json, *out;

	/* 128 characters of the allowed set, 8 keyslots, every PCR, the longest timeout. */
	for (size_t i = 0; i < 128; i++)
		key_id[i] = "aZ09._-"[i % 7];
	key_id[128] = 0;
	assert_true(asprintf(&json,
			     "{\"type\": \"skr\", \"keyslots\": [\"0\", \"1\", \"2\", \"3\", \"4\", \"5\","
			     " \"6\", \"31\"], \"skr_version\": 2, \"key_id\": \"%s\", \"pcrs\": [0, 1, 2,"
			     " 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23],"
			     " \"timeout\": 3600}",
			     key_id) > 0);
	parse_ok(json, &t);
	assert_string_equal(t.key_id, key_id);
	assert_int_equal(t.n_keyslots, 8);
	assert_int_equal(t.keyslots[7], 31);
	assert_int_equal(t.pcr_mask, 0xffffff);
	assert_int_equal(t.timeout, 3600);
	out = skr_token_to_json(&t);
	skr_token_free(&t);
	parse_ok(out, &t);
	assert_int_equal(t.pcr_mask, 0xffffff);
	skr_token_free(&t);
	free(out);
	free(json);

	/* The local member at its limits: 1024-byte signer, blobs as large as the TPM types, 4 policies. */
	json = full_token(1024, sizeof(TPM2B_PUBLIC), sizeof(TPM2B_PRIVATE), SKR_TOKEN_MAX_LOCAL_POLICIES,
			  ", \"keyslot\": 4", "", "");
	parse_ok(json, &t);
	assert_int_equal(t.local->signer.len, 1024);
	assert_int_equal(t.local->public_blob.len, sizeof(TPM2B_PUBLIC));
	assert_int_equal(t.local->private_blob.len, sizeof(TPM2B_PRIVATE));
	assert_int_equal(t.local->n_policies, SKR_TOKEN_MAX_LOCAL_POLICIES);
	skr_token_free(&t);
	free(json);
	/* Timeout 1 and a one-character key id. */
	json = with_member("timeout", "1");
	parse_ok(json, &t);
	assert_int_equal(t.timeout, 1);
	skr_token_free(&t);
	free(json);
}

/* ---- Hostile fields ------------------------------------------------------------------------ */

static void refuses_non_tokens(void **state)
{
	struct skr_token t;
	struct skr_err err = { 0 };

	assert_failed_with(skr_token_parse(NULL, &t, &err), err, SKR_R_malformed, "not a JSON object");
	malformed("", "not a JSON object");
	malformed("[]", "not a JSON object");
	malformed("\"skr\"", "not a JSON object");
	malformed("{\"type\": \"skr\"", "not a JSON object");
	malformed("null", "not a JSON object");
}

static void refuses_version(void **state)
{
	refused("{\"type\": \"skr\", \"keyslots\": [\"1\"], \"key_id\": \"k\"}", SKR_R_unsupported,
		"skr_version is missing");
	member_malformed("skr_version", "3", SKR_R_unsupported, "skr_version must be 2 (or 1)");
	member_malformed("skr_version", "0", SKR_R_unsupported, "skr_version must be 2");
	member_malformed("skr_version", "-2", SKR_R_unsupported, "skr_version must be 2");
	member_malformed("skr_version", "4294967298", SKR_R_unsupported, "skr_version must be 2");
	member_malformed("skr_version", "\"2\"", SKR_R_unsupported, "skr_version is missing");
	member_malformed("skr_version", "2.0", SKR_R_unsupported, "skr_version is missing");
	member_malformed("skr_version", "null", SKR_R_unsupported, "skr_version is missing");
}

static void refuses_type_and_key_id(void **state)
{
	char key_id[160];

	malformed("{\"keyslots\": [\"1\"], \"skr_version\": 2, \"key_id\": \"k\"}",
		  "\"type\" is missing");
	member_malformed("type", "\"skr-pending\"", SKR_R_malformed, "token type \"skr-pending\" is not \"skr\"");
	member_malformed("type", "\"systemd-tpm2\"", SKR_R_malformed, "is not \"skr\"");
	member_malformed("type", "\"SKR\"", SKR_R_malformed, "is not \"skr\"");
	member_malformed("type", "\"\"", SKR_R_malformed, "\"type\" is not a non-empty string");
	member_malformed("type", "7", SKR_R_malformed, "\"type\" is not a non-empty string");
	member_malformed("type", "[\"skr\"]", SKR_R_malformed, "\"type\" is not a non-empty string");

	malformed("{\"type\": \"skr\", \"keyslots\": [\"1\"], \"skr_version\": 2}",
		  "\"key_id\" is missing");
	member_malformed("key_id", "\"\"", SKR_R_malformed, "\"key_id\" is not a non-empty string");
	member_malformed("key_id", "42", SKR_R_malformed, "\"key_id\" is not a non-empty string");
	member_malformed("key_id", "{}", SKR_R_malformed, "\"key_id\" is not a non-empty string");
	/* Characters that would matter in a URL, a log or a file name (the local copy's key file). */
	static const char *const bad_ids[] = {
		"\"../../etc/shadow\"", "\"a/b\"", "\".hidden\"", "\".\"", "\"..\"", "\"a b\"",
		"\"a\\nb\"", "\"a\\u001b[31m\"", "\"k\\u00e9y\"", "\"a%2f\"", "\"a?x=1\"", "\"a\\\\b\"",
		"\"a\\\"b\"",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad_ids); i++)
		member_malformed("key_id", bad_ids[i], SKR_R_malformed,
				 "key_id is not 1-128 characters of A-Z a-z 0-9 . _ -");
	/* 129 characters: one too many. */
	key_id[0] = '"';
	memset(key_id + 1, 'k', 129);
	strcpy(key_id + 130, "\"");
	member_malformed("key_id", key_id, SKR_R_malformed, "key_id is not 1-128 characters");
	/* A dot inside is fine, only a leading one is refused. */
	{
		struct skr_token t;
		char *json = with_member("key_id", "\"a.b..c\"");

		parse_ok(json, &t);
		assert_string_equal(t.key_id, "a.b..c");
		skr_token_free(&t);
		free(json);
	}
}

static void refuses_keyslots(void **state)
{
	malformed("{\"type\": \"skr\", \"skr_version\": 2, \"key_id\": \"k\"}",
		  "\"keyslots\" must list 1 to 8 keyslots");
	member_malformed("keyslots", "[]", SKR_R_malformed, "\"keyslots\" must list 1 to 8 keyslots");
	member_malformed("keyslots", "\"1\"", SKR_R_malformed, "\"keyslots\" must list 1 to 8");
	member_malformed("keyslots", "{\"0\": \"1\"}", SKR_R_malformed, "\"keyslots\" must list 1 to 8");
	member_malformed("keyslots", "[\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\"]",
			 SKR_R_malformed, "\"keyslots\" must list 1 to 8");
	/* Each entry: a string holding a number 0..31 (libcryptsetup's form). */
	member_malformed("keyslots", "[1]", SKR_R_malformed, "keyslot \"1\" is not 0..31");
	member_malformed("keyslots", "[\"32\"]", SKR_R_malformed, "keyslot \"32\" is not 0..31");
	member_malformed("keyslots", "[\"-1\"]", SKR_R_malformed, "keyslot \"-1\" is not 0..31");
	member_malformed("keyslots", "[\"1a\"]", SKR_R_malformed, "keyslot \"1a\" is not 0..31");
	member_malformed("keyslots", "[\"0x1\"]", SKR_R_malformed, "keyslot \"0x1\" is not 0..31");
	member_malformed("keyslots", "[\"\"]", SKR_R_malformed, "keyslot \"\" is not 0..31");
	member_malformed("keyslots", "[\"one\"]", SKR_R_malformed, "keyslot \"one\" is not 0..31");
	member_malformed("keyslots", "[\"1.0\"]", SKR_R_malformed, "keyslot \"1.0\" is not 0..31");
	member_malformed("keyslots", "[\"18446744073709551617\"]", SKR_R_malformed, "is not 0..31");
	member_malformed("keyslots", "[\"1\", null]", SKR_R_malformed, "is not 0..31");
	member_malformed("keyslots", "[\"1\", [\"2\"]]", SKR_R_malformed, "is not 0..31");
	member_malformed("keyslots", "[true]", SKR_R_malformed, "is not 0..31");
}

static void refuses_pcrs_and_timeout(void **state)
{
	member_malformed("pcrs", "7", SKR_R_malformed, "\"pcrs\" is not a list");
	member_malformed("pcrs", "\"4,7\"", SKR_R_malformed, "\"pcrs\" is not a list");
	member_malformed("pcrs", "{\"7\": true}", SKR_R_malformed, "\"pcrs\" is not a list");
	member_malformed("pcrs", "[24]", SKR_R_malformed, "PCR index is not 0..23");
	member_malformed("pcrs", "[-1]", SKR_R_malformed, "PCR index is not 0..23");
	member_malformed("pcrs", "[\"7\"]", SKR_R_malformed, "PCR index is not 0..23");
	member_malformed("pcrs", "[7.5]", SKR_R_malformed, "PCR index is not 0..23");
	member_malformed("pcrs", "[4294967303]", SKR_R_malformed, "PCR index is not 0..23");
	member_malformed("pcrs", "[null]", SKR_R_malformed, "PCR index is not 0..23");

	member_malformed("timeout", "0", SKR_R_malformed, "timeout is not 1..3600 seconds");
	member_malformed("timeout", "3601", SKR_R_malformed, "timeout is not 1..3600 seconds");
	member_malformed("timeout", "-30", SKR_R_malformed, "timeout is not 1..3600 seconds");
	member_malformed("timeout", "\"30\"", SKR_R_malformed, "timeout is not 1..3600 seconds");
	member_malformed("timeout", "30.5", SKR_R_malformed, "timeout is not 1..3600 seconds");
	member_malformed("timeout", "4294967326", SKR_R_malformed, "timeout is not 1..3600");	/* 2^32+30 */
	member_malformed("timeout", "null", SKR_R_malformed, "timeout is not 1..3600");
}

/* Unknown fields are refused (never half-understood), v1's endpoint fields included. */
static void refuses_unknown_fields(void **state)
{
	char name[300];

	member_malformed("brokers", "[\"https://evil.example\"]", SKR_R_malformed,
			 "unknown field \"brokers\"");
	member_malformed("ca", "\"-----BEGIN CERTIFICATE-----\"", SKR_R_malformed,
			 "unknown field \"ca\"");
	member_malformed("tcti", "\"cmd:/bin/sh -c id\"", SKR_R_malformed, "unknown field \"tcti\"");
	member_malformed("vcek", "\"/etc/shadow\"", SKR_R_malformed, "unknown field \"vcek\"");
	member_malformed("skr_version_2", "true", SKR_R_malformed, "unknown field \"skr_version_2\"");
	member_malformed("Key_id", "\"k\"", SKR_R_malformed, "unknown field \"Key_id\"");
	/* A long name is named, cut at 64 characters. */
	memset(name, 'x', 200);
	name[200] = 0;
	{
		char *json = with_member(name, "1");
		struct skr_token t;
		struct skr_err err = { 0 };

		assert_failed_with(skr_token_parse(json, &t, &err), err, SKR_R_malformed, "unknown field \"xxxx");
		assert_true(strlen(err.detail) < 120);
		free(json);
	}
}

/* Version 1: brokers, ca, tcti and vcek accepted, flagged, never used; anything else refused. */
static void version1_fields_ignored(void **state)
{
	struct skr_client_config c;
	struct skr_release_opts o;
	struct skr_token t;
	char *out;

	parse_ok("{\"type\": \"skr\", \"keyslots\": [\"2\"], \"skr_version\": 1, \"key_id\": \"v1-key\","
		 " \"brokers\": [\"https://evil.example:443\"], \"ca\": \"-----BEGIN CERTIFICATE-----\","
		 " \"tcti\": \"cmd:/bin/sh -c 'touch /tmp/pwned'\", \"vcek\": \"/etc/shadow\","
		 " \"pcrs\": [7], \"timeout\": 10}",
		 &t);
	assert_int_equal(t.version, 1);
	assert_true(t.v1_ignored);
	assert_int_equal(t.keyslots[0], 2);
	assert_int_equal(t.pcr_mask, 1u << 7);

	/* The release goes where the configuration says, with its CA, TPM and VCEK. */
	memset(&c, 0, sizeof(c));
	c.ep.brokers[0] = "https://kbs.example:8443";
	c.ep.brokers[1] = "https://kbs2.example:8443";
	c.ep.n_brokers = 2;
	c.ep.ca_file = "/etc/skr/broker-ca.pem";
	c.tcti = "device:/dev/tpmrm0";
	c.vcek = "/var/lib/skr/vcek.der";
	skr_token_release_opts(&t, &c, 0, &o);
	assert_string_equal(o.key_id, "v1-key");
	assert_int_equal(o.n_brokers, 2);
	assert_string_equal(o.brokers[0], "https://kbs.example:8443");
	assert_string_equal(o.brokers[1], "https://kbs2.example:8443");
	assert_string_equal(o.ca_file, "/etc/skr/broker-ca.pem");
	assert_null(o.ca_pem);
	assert_string_equal(o.tcti, "device:/dev/tpmrm0");
	assert_string_equal(o.vcek_file, "/var/lib/skr/vcek.der");
	assert_int_equal(o.pcr_mask, 1u << 7);
	assert_int_equal(o.deadline_ms, 10000);
	/* The command line's timeout wins over the token's. */
	skr_token_release_opts(&t, &c, 3, &o);
	assert_int_equal(o.deadline_ms, 3000);

	/* Written back as version 2, without the ignored fields. */
	out = skr_token_to_json(&t);
	assert_non_null(strstr(out, "\"skr_version\":2"));
	assert_null(strstr(out, "brokers"));
	assert_null(strstr(out, "evil"));
	assert_null(strstr(out, "tcti"));
	assert_null(strstr(out, "shadow"));
	skr_token_free(&t);
	parse_ok(out, &t);
	assert_false(t.v1_ignored);
	skr_token_free(&t);
	free(out);

	/* Whatever their type: they are never read. */
	parse_ok("{\"type\": \"skr\", \"keyslots\": [\"2\"], \"skr_version\": 1, \"key_id\": \"k\","
		 " \"brokers\": {\"x\": [1, 2]}, \"vcek\": null}",
		 &t);
	assert_true(t.v1_ignored);
	skr_token_free(&t);
	/* A version 1 token without them: nothing to say. */
	parse_ok("{\"type\": \"skr\", \"keyslots\": [\"2\"], \"skr_version\": 1, \"key_id\": \"k\"}", &t);
	assert_false(t.v1_ignored);
	skr_token_free(&t);
	/* Other unknown fields stay refused in version 1. */
	malformed("{\"type\": \"skr\", \"keyslots\": [\"2\"], \"skr_version\": 1, \"key_id\": \"k\","
		  " \"brokers\": [], \"admin\": \"x\"}",
		  "unknown field \"admin\"");
}

/* A per-key override of the configuration applies to the token's key id, and only to it. */
static void release_opts_per_key_override(void **state)
{
	struct skr_client_config *c = calloc(1, sizeof(*c));
	struct skr_release_opts o;
	struct skr_token t;
	char *json;

	assert_non_null(c);
	c->ep.brokers[0] = "https://default.example";
	c->ep.n_brokers = 1;
	c->ep.ca_file = "/etc/skr/broker-ca.pem";
	strcpy(c->keys[0].key_id, "data-disk");
	c->keys[0].ep.brokers[0] = "https://data.example";
	c->keys[0].ep.n_brokers = 1;
	c->keys[0].ep.ca_file = "/etc/skr/data-ca.pem";
	c->n_keys = 1;

	json = with_member("key_id", "\"data-disk\"");
	parse_ok(json, &t);
	skr_token_release_opts(&t, c, 0, &o);
	assert_int_equal(o.n_brokers, 1);
	assert_string_equal(o.brokers[0], "https://data.example");
	assert_string_equal(o.ca_file, "/etc/skr/data-ca.pem");
	assert_int_equal(o.deadline_ms, SKR_TOKEN_DEFAULT_TIMEOUT * 1000);
	assert_null(o.tcti);
	assert_null(o.vcek_file);
	skr_token_free(&t);
	free(json);

	parse_ok(MIN_TOKEN, &t);
	skr_token_release_opts(&t, c, 0, &o);
	assert_string_equal(o.brokers[0], "https://default.example");
	assert_string_equal(o.ca_file, "/etc/skr/broker-ca.pem");
	skr_token_free(&t);
	free(c);
}

static void refuses_local_member(void **state)
{
	char *json, *big, *pol;
	char buf[1024];

	/* Shape and counter index. */
	member_malformed("local", "[]", SKR_R_malformed, "\"local\" lacks \"nv_index\"");
	member_malformed("local", "{}", SKR_R_malformed, "\"local\" lacks \"nv_index\"");
	member_malformed("local", "{\"nv_index\": \"21317451\"}", SKR_R_malformed,
			 "\"local\" lacks \"nv_index\"");
	snprintf(buf, sizeof(buf), "{\"nv_index\": %u}", SKR_LOCAL_NV_FIRST - 1);
	member_malformed("local", buf, SKR_R_malformed, "local nv_index 0x100534a is not an skr counter");
	snprintf(buf, sizeof(buf), "{\"nv_index\": %u}", SKR_LOCAL_NV_FIRST + SKR_LOCAL_NV_COUNT);
	member_malformed("local", buf, SKR_R_malformed, "is not an skr counter");
	member_malformed("local", "{\"nv_index\": 25165825}", SKR_R_malformed,	/* 0x01800001 */
			 "is not an skr counter");
	member_malformed("local", "{\"nv_index\": -1}", SKR_R_malformed, "is not an skr counter");
	member_malformed("local", "{\"nv_index\": 4316025675}", SKR_R_malformed, /* 2^32 + FIRST */
			 "is not an skr counter");

	/* Its keyslot: one of "keyslots" (["1", "4"]), an integer. */
	json = full_token(91, 100, 150, 1, ", \"keyslot\": 2", "", "");
	malformed(json, "local keyslot is not one of \"keyslots\" (0..31)");
	free(json);
	json = full_token(91, 100, 150, 1, ", \"keyslot\": \"4\"", "", "");
	malformed(json, "local keyslot is not one of \"keyslots\"");
	free(json);
	json = full_token(91, 100, 150, 1, ", \"keyslot\": 36", "", "");
	malformed(json, "local keyslot is not one of \"keyslots\"");
	free(json);
	json = full_token(91, 100, 150, 1, ", \"keyslot\": 4.0", "", "");
	malformed(json, "local keyslot is not one of \"keyslots\"");
	free(json);
	json = full_token(91, 100, 150, 1, ", \"keyslot\": -1", "", "");
	malformed(json, "local keyslot is not one of \"keyslots\"");
	free(json);
	json = full_token(91, 100, 150, 1, ", \"keyslot\": 4294967300", "", "");	/* 2^32 + 4 */
	malformed(json, "local keyslot is not one of \"keyslots\"");
	free(json);

	/* signer, public, private: base64 of 1..limit bytes. */
	json = full_token(0, 100, 150, 1, "", "", "");
	malformed(json, "local \"signer\" has 0 bytes");
	free(json);
	json = full_token(1025, 100, 150, 1, "", "", "");
	malformed(json, "local \"signer\" has 1025 bytes");
	free(json);
	json = full_token(91, sizeof(TPM2B_PUBLIC) + 1, 150, 1, "", "", "");
	malformed(json, "local \"public\" has");
	free(json);
	json = full_token(91, 100, sizeof(TPM2B_PRIVATE) + 1, 1, "", "", "");
	malformed(json, "local \"private\" has");
	free(json);
	json = full_token(91, 0, 150, 1, "", "", "");
	malformed(json, "local \"public\" has 0 bytes");
	free(json);
	snprintf(buf, sizeof(buf), "{\"nv_index\": %u, \"public\": \"AQ==\", \"private\": \"AQ==\","
		 " \"policies\": []}", SKR_LOCAL_NV_FIRST);
	member_malformed("local", buf, SKR_R_malformed, "local \"signer\" is missing");
	snprintf(buf, sizeof(buf), "{\"nv_index\": %u, \"signer\": 5, \"public\": \"AQ==\","
		 " \"private\": \"AQ==\", \"policies\": []}", SKR_LOCAL_NV_FIRST);
	member_malformed("local", buf, SKR_R_malformed, "local \"signer\" is missing");
	snprintf(buf, sizeof(buf), "{\"nv_index\": %u, \"signer\": \"AQ==\", \"public\": \"AQ==\","
		 " \"policies\": []}", SKR_LOCAL_NV_FIRST);
	member_malformed("local", buf, SKR_R_malformed, "local \"private\" is missing");
	snprintf(buf, sizeof(buf), "{\"nv_index\": %u, \"signer\": \"A*==\", \"public\": \"AQ==\","
		 " \"private\": \"AQ==\", \"policies\": []}", SKR_LOCAL_NV_FIRST);
	member_malformed("local", buf, SKR_R_malformed, "signer: invalid base64");
	snprintf(buf, sizeof(buf), "{\"nv_index\": %u, \"signer\": \"AQ==\", \"public\": \"AQ=\","
		 " \"private\": \"AQ==\", \"policies\": []}", SKR_LOCAL_NV_FIRST);
	member_malformed("local", buf, SKR_R_malformed, "public: base64 has a bad length or padding");

	/* policies: an array of at most 4 base64 strings of 141-byte policies. */
	snprintf(buf, sizeof(buf), "{\"nv_index\": %u, \"signer\": \"AQ==\", \"public\": \"AQ==\","
		 " \"private\": \"AQ==\"}", SKR_LOCAL_NV_FIRST);
	member_malformed("local", buf, SKR_R_malformed, "local \"policies\" must list at most 4");
	snprintf(buf, sizeof(buf), "{\"nv_index\": %u, \"signer\": \"AQ==\", \"public\": \"AQ==\","
		 " \"private\": \"AQ==\", \"policies\": \"AQ==\"}", SKR_LOCAL_NV_FIRST);
	member_malformed("local", buf, SKR_R_malformed, "local \"policies\" must list at most 4");
	json = full_token(91, 100, 150, SKR_TOKEN_MAX_LOCAL_POLICIES + 1, "", "", "");
	malformed(json, "local \"policies\" must list at most 4");
	free(json);
	snprintf(buf, sizeof(buf), "{\"nv_index\": %u, \"signer\": \"AQ==\", \"public\": \"AQ==\","
		 " \"private\": \"AQ==\", \"policies\": [7]}", SKR_LOCAL_NV_FIRST);
	member_malformed("local", buf, SKR_R_malformed, "a local policy is not a string");
	big = b64_of(SKR_LOCAL_POLICY_SIZE - 1, 1);
	snprintf(buf, sizeof(buf), "{\"nv_index\": %u, \"signer\": \"AQ==\", \"public\": \"AQ==\","
		 " \"private\": \"AQ==\", \"policies\": [\"%s\"]}", SKR_LOCAL_NV_FIRST, big);
	member_malformed("local", buf, SKR_R_malformed, "a local policy is 141 bytes, not 140");
	free(big);
	big = b64_of(SKR_LOCAL_POLICY_SIZE, 2);	/* version byte 2 */
	snprintf(buf, sizeof(buf), "{\"nv_index\": %u, \"signer\": \"AQ==\", \"public\": \"AQ==\","
		 " \"private\": \"AQ==\", \"policies\": [\"%s\"]}", SKR_LOCAL_NV_FIRST, big);
	member_malformed("local", buf, SKR_R_malformed, "local policy version 2 is not supported");
	free(big);
	/* The second of two policies is bad: the token is refused, not half-read. */
	local_policy_b64(1, &pol, NULL);
	snprintf(buf, sizeof(buf), "{\"nv_index\": %u, \"signer\": \"AQ==\", \"public\": \"AQ==\","
		 " \"private\": \"AQ==\", \"policies\": [\"%s\", \"!\"]}", SKR_LOCAL_NV_FIRST, pol);
	member_malformed("local", buf, SKR_R_malformed, "local policy: invalid base64");
	free(pol);
}

/* ---- Through a real LUKS2 header ------------------------------------------------------------ */

struct image {
	char path[64];
	struct crypt_device *cd;
};

static void image_format(struct image *im)
{
	struct crypt_pbkdf_type pbkdf = { .type = CRYPT_KDF_PBKDF2, .hash = "sha256",
					  .iterations = 1000, .flags = CRYPT_PBKDF_NO_BENCHMARK };
	int fd;

	snprintf(im->path, sizeof(im->path), "/tmp/skr-token-test.XXXXXX");
	fd = mkstemp(im->path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 32 << 20), 0);	/* sparse */
	close(fd);
	assert_int_equal(crypt_init(&im->cd, im->path), 0);
	assert_int_equal(crypt_set_pbkdf_type(im->cd, &pbkdf), 0);
	assert_int_equal(crypt_format(im->cd, CRYPT_LUKS2, "aes", "xts-plain64", NULL, NULL, 64, NULL),
			 0);
	/* Keyslots 1 and 4, as the token's. */
	assert_int_equal(crypt_keyslot_add_by_volume_key(im->cd, 1, NULL, 0, "one", 3), 1);
	assert_int_equal(crypt_keyslot_add_by_volume_key(im->cd, 4, NULL, 0, "four", 4), 4);
}

static void image_reopen(struct image *im)
{
	crypt_free(im->cd);
	assert_int_equal(crypt_init(&im->cd, im->path), 0);
	assert_int_equal(crypt_load(im->cd, CRYPT_LUKS2, NULL), 0);
}

static void image_free(struct image *im)
{
	crypt_free(im->cd);
	unlink(im->path);
}

/* Written with libcryptsetup, read back from the header (a fresh load), parsed to the same token. */
static void luks2_header_round_trip(void **state)
{
	struct image im;
	struct skr_token t, back;
	const char *type = NULL, *json = NULL;
	char *text, *out, *back_text;
	int id;

	image_format(&im);
	text = full_token(91, sizeof(TPM2B_PUBLIC), sizeof(TPM2B_PRIVATE), SKR_TOKEN_MAX_LOCAL_POLICIES,
			  ", \"keyslot\": 4", "", "");
	parse_ok(text, &t);
	out = skr_token_to_json(&t);
	id = crypt_token_json_set(im.cd, CRYPT_ANY_TOKEN, out);
	assert_true(id >= 0);
	image_reopen(&im);
	assert_int_equal(crypt_token_status(im.cd, id, &type), CRYPT_TOKEN_EXTERNAL_UNKNOWN);
	assert_string_equal(type, SKR_TOKEN_TYPE);
	assert_int_equal(crypt_token_json_get(im.cd, id, &json), id);
	parse_ok(json, &back);
	back_text = skr_token_to_json(&back);
	assert_string_equal(back_text, out);
	assert_int_equal(back.local->keyslot, 4);
	assert_int_equal(back.local->n_policies, SKR_TOKEN_MAX_LOCAL_POLICIES);
	assert_memory_equal(back.local->private_blob.data, t.local->private_blob.data,
			    sizeof(TPM2B_PRIVATE));
	/* libcryptsetup binds the token to the keyslots it lists. */
	assert_int_equal(crypt_token_is_assigned(im.cd, id, 1), 0);
	assert_int_equal(crypt_token_is_assigned(im.cd, id, 4), 0);
	assert_int_equal(crypt_token_is_assigned(im.cd, id, 0), -ENOENT);
	skr_token_free(&back);
	skr_token_free(&t);
	free(back_text);
	free(out);
	free(text);
	image_free(&im);
}

/*
 * What a hostile header may hold: libcryptsetup stores any token with a
 * type and keyslots; skr refuses it when it reads it back, naming the field.
 */
static void luks2_header_hostile_tokens(void **state)
{
	static const struct {
		const char *json;
		enum skr_reason reason;
		const char *detail;
	} cases[] = {
		{ "{\"type\": \"skr\", \"keyslots\": [\"1\"], \"skr_version\": 2, \"key_id\": \"k\","
		  " \"brokers\": [\"https://evil.example\"]}",
		  SKR_R_malformed, "unknown field \"brokers\"" },
		{ "{\"type\": \"skr\", \"keyslots\": [\"1\"], \"skr_version\": 2, \"key_id\": \"k\","
		  " \"tcti\": \"cmd:/bin/sh\"}",
		  SKR_R_malformed, "unknown field \"tcti\"" },
		{ "{\"type\": \"skr\", \"keyslots\": [], \"skr_version\": 2, \"key_id\": \"k\"}",
		  SKR_R_malformed, "\"keyslots\" must list 1 to 8" },
		{ "{\"type\": \"skr\", \"keyslots\": [\"1\"], \"skr_version\": 9, \"key_id\": \"k\"}",
		  SKR_R_unsupported, "skr_version must be 2" },
		{ "{\"type\": \"skr\", \"keyslots\": [\"1\"], \"skr_version\": 2,"
		  " \"key_id\": \"../../../root/.ssh/id\"}",
		  SKR_R_malformed, "key_id is not" },
		{ "{\"type\": \"skr\", \"keyslots\": [\"1\"], \"skr_version\": 2, \"key_id\": \"k\","
		  " \"timeout\": 99999999}",
		  SKR_R_malformed, "timeout is not 1..3600" },
	};
	struct image im;
	size_t i;

	image_format(&im);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *json = NULL;
		struct skr_token t;
		struct skr_err err = { 0 };
		int id = crypt_token_json_set(im.cd, CRYPT_ANY_TOKEN, cases[i].json);

		if (id < 0)
			fail_msg("libcryptsetup refused case %zu: %d", i, id);
		image_reopen(&im);
		assert_int_equal(crypt_token_json_get(im.cd, id, &json), id);
		assert_failed_with(skr_token_parse(json, &t, &err), err, cases[i].reason,
				   cases[i].detail);
		assert_int_equal(crypt_token_json_set(im.cd, id, NULL), id);	/* remove it */
	}
	image_free(&im);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(minimal_token_defaults),
		cmocka_unit_test(round_trip_with_local_copy),
		cmocka_unit_test(field_bounds_accepted),
		cmocka_unit_test(refuses_non_tokens),
		cmocka_unit_test(refuses_version),
		cmocka_unit_test(refuses_type_and_key_id),
		cmocka_unit_test(refuses_keyslots),
		cmocka_unit_test(refuses_pcrs_and_timeout),
		cmocka_unit_test(refuses_unknown_fields),
		cmocka_unit_test(version1_fields_ignored),
		cmocka_unit_test(release_opts_per_key_override),
		cmocka_unit_test(refuses_local_member),
		cmocka_unit_test(luks2_header_round_trip),
		cmocka_unit_test(luks2_header_hostile_tokens),
	};

	/* Only libcryptsetup's own code: no token plugin from the system's directory. */
	crypt_token_external_disable();
	return cmocka_run_group_tests_name("token", tests, NULL, NULL);
}
