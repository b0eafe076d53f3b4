/* SPDX-License-Identifier: Apache-2.0 */
#include "luks/token.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_tpm2_types.h>	/* the sealed blobs' size caps; no ESAPI */

#include "common/json_util.h"
#include "common/util.h"
#include "vm/client_config.h"
#include "vm/release_client.h"

static const char *const known_fields[] = {
	"type", "keyslots", "skr_version", "key_id", "pcrs", "timeout", "local", NULL,
};

/* Version 1 also carried these; they are accepted there, and never read. */
static const char *const v1_ignored_fields[] = { "brokers", "ca", "tcti", "vcek", NULL };

static bool listed(const char *const *list, const char *key)
{
	while (*list && strcmp(*list, key))
		list++;
	return *list != NULL;
}

static int check_fields(json_object *obj, struct skr_token *t, struct skr_err *err)
{
	json_object_object_foreach(obj, key, val) {
		(void)val;
		if (listed(known_fields, key))
			continue;
		if (t->version == SKR_TOKEN_VERSION_1 && listed(v1_ignored_fields, key)) {
			t->v1_ignored = true;
			continue;
		}
		return skr_fail(err, SKR_R_malformed, "skr token: unknown field \"%.64s\"", key);
	}
	return 0;
}

/* skr_version first: it decides which fields exist. */
static int parse_version(json_object *obj, struct skr_token *t, struct skr_err *err)
{
	json_object *v;
	int64_t n;

	if (!json_object_object_get_ex(obj, "skr_version", &v) || !json_object_is_type(v, json_type_int))
		return skr_fail(err, SKR_R_unsupported, "skr token: skr_version is missing");
	n = json_object_get_int64(v);
	if (n != SKR_TOKEN_VERSION && n != SKR_TOKEN_VERSION_1)
		return skr_fail(err, SKR_R_unsupported, "skr token: skr_version must be %d (or %d)",
				SKR_TOKEN_VERSION, SKR_TOKEN_VERSION_1);
	t->version = (unsigned)n;
	return 0;
}

static const char *get_string(json_object *obj, const char *key, bool required,
			      struct skr_err *err)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, key, &v)) {
		if (required)
			skr_fail(err, SKR_R_malformed, "skr token: \"%s\" is missing", key);
		return NULL;
	}
	if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0) {
		skr_fail(err, SKR_R_malformed, "skr token: \"%s\" is not a non-empty string", key);
		return NULL;
	}
	return json_object_get_string(v);
}

static int parse_keyslots(json_object *obj, struct skr_token *t, struct skr_err *err)
{
	json_object *list;
	size_t i;

	if (!json_object_object_get_ex(obj, "keyslots", &list) ||
	    !json_object_is_type(list, json_type_array) || json_object_array_length(list) == 0 ||
	    json_object_array_length(list) > SKR_TOKEN_MAX_KEYSLOTS)
		return skr_fail(err, SKR_R_malformed, "skr token: \"keyslots\" must list 1 to %d keyslots",
				SKR_TOKEN_MAX_KEYSLOTS);
	for (i = 0; i < json_object_array_length(list); i++) {
		json_object *v = json_object_array_get_idx(list, i);
		const char *s = json_object_get_string(v);
		char *end;
		long n;

		errno = 0;
		n = s ? strtol(s, &end, 10) : -1;
		if (!json_object_is_type(v, json_type_string) || errno || !*s || *end || n < 0 || n > 31)
			return skr_fail(err, SKR_R_malformed, "skr token: keyslot \"%s\" is not 0..31",
					s ? s : "?");
		t->keyslots[t->n_keyslots++] = (int)n;
	}
	return 0;
}

static int parse_pcrs(json_object *obj, struct skr_token *t, struct skr_err *err)
{
	json_object *list;
	size_t i;

	if (!json_object_object_get_ex(obj, "pcrs", &list))
		return 0;	/* the broker's challenge names them */
	if (!json_object_is_type(list, json_type_array))
		return skr_fail(err, SKR_R_malformed, "skr token: \"pcrs\" is not a list");
	for (i = 0; i < json_object_array_length(list); i++) {
		json_object *v = json_object_array_get_idx(list, i);
		int64_t n = json_object_get_int64(v);

		if (!json_object_is_type(v, json_type_int) || n < 0 || n > 23)
			return skr_fail(err, SKR_R_malformed, "skr token: PCR index is not 0..23");
		t->pcr_mask |= 1u << n;
	}
	return 0;
}

static int parse_scalars(json_object *obj, struct skr_token *t, struct skr_err *err)
{
	const char *type = get_string(obj, "type", true, err);
	const char *key_id = get_string(obj, "key_id", true, err);
	json_object *v;
	size_t len;

	if (err->reason != SKR_R_ok)
		return -1;
	if (strcmp(type, SKR_TOKEN_TYPE) != 0)
		return skr_fail(err, SKR_R_malformed, "token type \"%.32s\" is not \"skr\"", type);
	/* The key id goes into URLs' JSON bodies, logs and file names (local copy): plain characters only. */
	len = strlen(key_id);
	if (len >= sizeof(t->key_id) ||
	    strspn(key_id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != len ||
	    key_id[0] == '.')
		return skr_fail(err, SKR_R_malformed,
				"skr token: key_id is not 1-128 characters of A-Z a-z 0-9 . _ -");
	strcpy(t->key_id, key_id);
	t->timeout = SKR_TOKEN_DEFAULT_TIMEOUT;
	if (json_object_object_get_ex(obj, "timeout", &v)) {
		int64_t n = json_object_get_int64(v);

		if (!json_object_is_type(v, json_type_int) || n < 1 || n > 3600)
			return skr_fail(err, SKR_R_malformed, "skr token: timeout is not 1..3600 seconds");
		t->timeout = (unsigned)n;
	}
	return 0;
}

static int local_b64(json_object *obj, const char *key, size_t max, struct skr_buf *out,
		     struct skr_err *err)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
		return skr_fail(err, SKR_R_malformed, "skr token: local \"%s\" is missing", key);
	if (skr_base64_decode(json_object_get_string(v), (size_t)json_object_get_string_len(v), out,
			      key, err) < 0)
		return -1;
	if (out->len == 0 || out->len > max)
		return skr_fail(err, SKR_R_malformed, "skr token: local \"%s\" has %zu bytes", key,
				out->len);
	return 0;
}

static int local_policies(json_object *obj, struct skr_token_local *l, struct skr_err *err)
{
	json_object *list;
	size_t i;

	if (!json_object_object_get_ex(obj, "policies", &list) ||
	    !json_object_is_type(list, json_type_array) ||
	    json_object_array_length(list) > SKR_TOKEN_MAX_LOCAL_POLICIES)
		return skr_fail(err, SKR_R_malformed, "skr token: local \"policies\" must list at most %d",
				SKR_TOKEN_MAX_LOCAL_POLICIES);
	for (i = 0; i < json_object_array_length(list); i++) {
		json_object *v = json_object_array_get_idx(list, i);
		_cleanup_buf_ struct skr_buf raw = { 0 };

		if (!json_object_is_type(v, json_type_string) ||
		    skr_base64_decode(json_object_get_string(v), (size_t)json_object_get_string_len(v),
				      &raw, "local policy", err) < 0 ||
		    skr_local_policy_parse(raw.data, raw.len, &l->policies[l->n_policies++], err) < 0)
			return err->reason ? -1 : skr_fail(err, SKR_R_malformed,
							   "skr token: a local policy is not a string");
	}
	return 0;
}

void skr_token_local_free(struct skr_token_local *l)
{
	if (!l)
		return;
	skr_buf_free(&l->signer);
	skr_buf_free(&l->public_blob);
	skr_buf_free(&l->private_blob);
	free(l);
}

/* "local" (optional): parsed in full here, checked against the TPM at unseal. */
static int parse_local(json_object *obj, struct skr_token *t, struct skr_err *err)
{
	json_object *l, *idx;
	int64_t n;

	if (!json_object_object_get_ex(obj, "local", &l))
		return 0;
	t->local = calloc(1, sizeof(*t->local));
	if (!t->local)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	if (!json_object_is_type(l, json_type_object) ||
	    !json_object_object_get_ex(l, "nv_index", &idx) || !json_object_is_type(idx, json_type_int))
		return skr_fail(err, SKR_R_malformed, "skr token: \"local\" lacks \"nv_index\"");
	n = json_object_get_int64(idx);
	if (n < SKR_LOCAL_NV_FIRST || n >= (int64_t)SKR_LOCAL_NV_FIRST + SKR_LOCAL_NV_COUNT)
		return skr_fail(err, SKR_R_malformed, "skr token: local nv_index 0x%llx is not an skr counter",
				(unsigned long long)n);
	t->local->nv_index = (uint32_t)n;
	/* Its own keyslot, one of the token's so that libcryptsetup tries it (absent: pre-gate). */
	t->local->keyslot = -1;
	if (json_object_object_get_ex(l, "keyslot", &idx)) {
		size_t i = 0;

		n = json_object_get_int64(idx);
		while (i < t->n_keyslots && t->keyslots[i] != n)
			i++;
		if (!json_object_is_type(idx, json_type_int) || n < 0 || n > 31 || i == t->n_keyslots)
			return skr_fail(err, SKR_R_malformed,
					"skr token: local keyslot is not one of \"keyslots\" (0..31)");
		t->local->keyslot = (int)n;
	}
	return local_b64(l, "signer", 1024, &t->local->signer, err) < 0 ||
			       local_b64(l, "public", sizeof(TPM2B_PUBLIC), &t->local->public_blob, err) < 0 ||
			       local_b64(l, "private", sizeof(TPM2B_PRIVATE), &t->local->private_blob, err) < 0 ||
			       local_policies(l, t->local, err) < 0
		       ? -1
		       : 0;
}

static json_object *local_json(const struct skr_token_local *l)
{
	json_object *o = json_object_new_object(), *list = json_object_new_array();
	uint8_t raw[SKR_LOCAL_POLICY_SIZE];
	size_t i;

	skr_json_add_b64(o, "signer", l->signer.data, l->signer.len);
	json_object_object_add(o, "nv_index", json_object_new_int64(l->nv_index));
	if (l->keyslot >= 0)
		json_object_object_add(o, "keyslot", json_object_new_int(l->keyslot));
	skr_json_add_b64(o, "public", l->public_blob.data, l->public_blob.len);
	skr_json_add_b64(o, "private", l->private_blob.data, l->private_blob.len);
	for (i = 0; i < l->n_policies; i++) {
		char *b64;

		skr_local_policy_marshal(&l->policies[i], raw);
		b64 = skr_base64_encode(raw, sizeof(raw));
		json_object_array_add(list, json_object_new_string(b64 ? b64 : ""));
		free(b64);
	}
	json_object_object_add(o, "policies", list);
	return o;
}

int skr_token_parse(const char *json, struct skr_token *t, struct skr_err *err)
{
	json_object *obj = json ? json_tokener_parse(json) : NULL;
	int rc;

	memset(t, 0, sizeof(*t));
	if (!obj || !json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		return skr_fail(err, SKR_R_malformed, "skr token is not a JSON object");
	}
	rc = parse_version(obj, t, err) < 0 || check_fields(obj, t, err) < 0 ||
			     parse_scalars(obj, t, err) < 0 || parse_keyslots(obj, t, err) < 0 ||
			     parse_pcrs(obj, t, err) < 0 || parse_local(obj, t, err) < 0
		     ? -1
		     : 0;
	json_object_put(obj);
	if (rc < 0)
		skr_token_free(t);
	return rc;
}

void skr_token_free(struct skr_token *t)
{
	skr_token_local_free(t->local);
	memset(t, 0, sizeof(*t));
}

char *skr_token_to_json(const struct skr_token *t)
{
	json_object *o = json_object_new_object(), *slots = json_object_new_array();
	json_object *pcrs = json_object_new_array();
	char *text;
	size_t i;

	json_object_object_add(o, "type", json_object_new_string(SKR_TOKEN_TYPE));
	for (i = 0; i < t->n_keyslots; i++) {
		char slot[8];

		snprintf(slot, sizeof(slot), "%d", t->keyslots[i]);
		json_object_array_add(slots, json_object_new_string(slot));
	}
	json_object_object_add(o, "keyslots", slots);
	json_object_object_add(o, "skr_version", json_object_new_int(SKR_TOKEN_VERSION));
	json_object_object_add(o, "key_id", json_object_new_string(t->key_id));
	for (i = 0; i < 24; i++)
		if (t->pcr_mask & (1u << i))
			json_object_array_add(pcrs, json_object_new_int((int)i));
	json_object_object_add(o, "pcrs", pcrs);
	json_object_object_add(o, "timeout", json_object_new_int((int)t->timeout));
	if (t->local)
		json_object_object_add(o, "local", local_json(t->local));
	text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return text;
}

void skr_token_release_opts(const struct skr_token *t, const struct skr_client_config *c,
			    unsigned timeout_override, struct skr_release_opts *o)
{
	const struct skr_client_endpoints *ep = skr_client_config_for_key(c, t->key_id);
	size_t i;

	memset(o, 0, sizeof(*o));
	o->key_id = t->key_id;
	for (i = 0; i < ep->n_brokers; i++)
		o->brokers[i] = ep->brokers[i];
	o->n_brokers = ep->n_brokers;
	o->ca_file = ep->ca_file;
	o->tcti = c->tcti;
	o->vcek_file = c->vcek;
	o->ek_chain_file = c->ek_chain;
	o->pcr_mask = t->pcr_mask;
	o->deadline_ms = (timeout_override ? timeout_override : t->timeout) * 1000u;
}
