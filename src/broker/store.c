/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store's front: open and close (the backend is chosen here), the checks
 * and canonical text every public function shares, the listing rows every
 * backend builds, and the calls that only pass through (version,
 * durability).  store_int.h says what lives where.
 */
#include "broker/store_int.h"
#include "common/cleanup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pcr_json.h"
#include "common/util.h"

#define JSON_DEPTH 32

/* ---- Open, close ---------------------------------------------------------- */

int store_open_master(const char *db_path, const char *master_key_path, bool mid_rotation_ok,
		      struct skr_store **out, struct skr_err *err)
{
	uint8_t *master, check[STORE_CHECK_SIZE];
	struct store_master m;

	if (!out)
		return skr_fail(err, SKR_R_usage, "no store to open into");
	*out = NULL;
	if (!db_path || !master_key_path)
		return skr_fail(err, SKR_R_usage, "no database or master key path given");
	master = skr_secret_alloc(SKR_STORE_MASTER_KEY_SIZE);
	if (!master)
		return skr_fail(err, SKR_R_nomem, "out of memory opening the store");
	/* The key file first: a bad one must not leave a new database behind. */
	if (store_master_key_read(master_key_path, master, err) < 0 ||
	    store_master_key_check(master, check, err) < 0 ||
	    (store_is_postgresql(db_path) ? store_pg_open(db_path, check, out, err)
					  : store_sqlite_open(db_path, check, out, err)) < 0) {
		skr_secret_free(master);
		return -1;
	}
	(*out)->master = master;
	(*out)->group = store_group_new(err);
	if (!(*out)->group)
		goto fail;
	if ((*out)->ops->master_get(*out, &m, err) < 0)
		goto fail;
	/*
	 * Mid-rotation some secrets are sealed under each key: a broker with
	 * either one would fail some releases, so none starts until the
	 * rotation is run again to its end.
	 */
	if (m.has_next && !mid_rotation_ok) {
		skr_fail(err, SKR_R_store_error,
			 "database %s is in the middle of a master key rotation (an interrupted "
			 "skr-broker rotate-master-key; this is its %s key): run it again with "
			 "the same keys to finish it, then start the broker with the new key",
			 db_path, skr_ct_equal(m.current, check, STORE_CHECK_SIZE) ? "old" : "new");
		goto fail;
	}
	return 0;
fail:
	skr_store_close(*out);
	*out = NULL;
	return -1;
}

int skr_store_open(const char *db_path, const char *master_key_path, struct skr_store **out,
		   struct skr_err *err)
{
	return store_open_master(db_path, master_key_path, false, out, err);
}

/*
 * A URI, or a string whose first word is a libpq keyword and '=': a file
 * path starts with '/' or '.' or a name, and has no '=' before any '/'.
 */
bool store_is_postgresql(const char *database)
{
	size_t n;

	if (!strncmp(database, "postgresql://", 13) || !strncmp(database, "postgres://", 11))
		return true;
	while (*database == ' ' || *database == '\t')
		database++;
	n = strspn(database, "abcdefghijklmnopqrstuvwxyz_");
	if (n == 0)
		return false;
	database += n;
	while (*database == ' ' || *database == '\t')
		database++;
	return *database == '=';
}

void skr_store_close(struct skr_store *s)
{
	uint8_t *master;

	if (!s)
		return;
	master = s->master;
	store_group_free(s->group);
	s->ops->close(s);
	skr_secret_free(master);
}

int skr_store_version(struct skr_store *s, struct skr_store_version *v, struct skr_err *err)
{
	if (!s || !v)
		return skr_fail(err, SKR_R_usage, "no store or output given");
	return s->ops->version(s, v, err);
}

int skr_store_durability(struct skr_store *s, struct skr_store_durability *d,
			 struct skr_err *err)
{
	if (!s || !d)
		return skr_fail(err, SKR_R_usage, "no store or output given");
	memset(d, 0, sizeof(*d));
	return s->ops->durability(s, d, err);
}

/* ---- Checks --------------------------------------------------------------- */

bool skr_store_key_id_valid(const char *key_id)
{
	size_t i, len;

	if (!key_id)
		return false;
	len = strlen(key_id);
	if (len == 0 || len > SKR_STORE_KEY_ID_MAX)
		return false;
	if (strcmp(key_id, ".") == 0 || strcmp(key_id, "..") == 0)
		return false;
	for (i = 0; i < len; i++) {
		char c = key_id[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

int store_check_key_id(const char *key_id, struct skr_err *err)
{
	if (skr_store_key_id_valid(key_id))
		return 0;
	if (!key_id)
		return skr_fail(err, SKR_R_usage, "no key id given");
	/* The id may come from a client: show its length, not its bytes. */
	return skr_fail(err, SKR_R_malformed,
			"invalid key id (%zu bytes): key ids are 1 to %d of A-Z a-z 0-9 . _ -, "
			"not \".\" or \"..\"", strlen(key_id), SKR_STORE_KEY_ID_MAX);
}

int store_check_label(const char *label, bool required, struct skr_err *err)
{
	size_t i, len;

	if (!label && required)
		return skr_fail(err, SKR_R_usage, "no label given");
	len = label ? strlen(label) : 0;
	if (len == 0 && !required)
		return 0;
	if (len > SKR_STORE_LABEL_MAX)
		return skr_fail(err, SKR_R_malformed, "label is %zu bytes; at most %d allowed", len,
				SKR_STORE_LABEL_MAX);
	if (len == 0)
		return skr_fail(err, SKR_R_malformed, "label is empty; 1 to %d bytes needed here",
				SKR_STORE_LABEL_MAX);
	for (i = 0; i < len; i++)
		if (label[i] < 0x20 || label[i] > 0x7e)
			return skr_fail(err, SKR_R_malformed,
					"label has a byte that is not printable ASCII at offset %zu", i);
	if (label[0] == ' ' || label[len - 1] == ' ')
		return skr_fail(err, SKR_R_malformed, "label starts or ends with a space");
	return 0;
}

/* ---- Canonical JSON ------------------------------------------------------- */

char *store_json_text(json_object *obj, struct skr_err *err)
{
	const char *t = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
						       JSON_C_TO_STRING_NOSLASHESCAPE);
	char *dup = t ? strdup(t) : NULL;

	if (!dup)
		skr_fail(err, SKR_R_nomem, "out of memory building JSON");
	return dup;
}

/* Strict JSON text that must be an object; *out owns the parsed value. */
static int parse_json_object(const char *text, const char *what, json_object **out,
			     struct skr_err *err)
{
	struct json_tokener *tok;
	enum json_tokener_error jerr;
	json_object *obj;
	size_t len, end;

	*out = NULL;
	if (!text)
		return skr_fail(err, SKR_R_usage, "no %s given", what);
	len = strlen(text);
	if (len > SKR_STORE_JSON_MAX)
		return skr_fail(err, SKR_R_malformed, "%s is %zu bytes, more than the %u allowed",
				what, len, SKR_STORE_JSON_MAX);
	tok = json_tokener_new_ex(JSON_DEPTH);
	if (!tok)
		return skr_fail(err, SKR_R_nomem, "out of memory parsing %s", what);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, text, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (jerr != json_tokener_success || !obj) {
		json_object_put(obj);
		return skr_fail(err, SKR_R_malformed, "%s is not valid JSON: %s", what,
				jerr == json_tokener_continue ? "unexpected end of text" :
								json_tokener_error_desc(jerr));
	}
	while (end < len && strchr(" \t\r\n", text[end]))
		end++;
	if (end != len) {
		json_object_put(obj);
		return skr_fail(err, SKR_R_malformed, "%s has text after the JSON value", what);
	}
	if (!json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		return skr_fail(err, SKR_R_malformed, "%s is not a JSON object", what);
	}
	*out = obj;
	return 0;
}

int store_canonical_policy(const char *policy_json, char **out, struct skr_err *err)
{
	_cleanup_(json_object_putp) json_object *obj = NULL;

	*out = NULL;
	if (parse_json_object(policy_json, "policy", &obj, err) < 0)
		return -1;
	*out = store_json_text(obj, err);
	return *out ? 0 : -1;
}

int store_canonical_pcrs(const char *pcrs_json, char **out, struct skr_err *err)
{
	_cleanup_(json_object_putp) json_object *obj = NULL, *canon = NULL;
	struct skr_pcr_banks banks;
	size_t b;
	bool any = false;

	*out = NULL;
	if (parse_json_object(pcrs_json, "PCR set", &obj, err) < 0 ||
	    skr_pcr_banks_from_json(obj, &banks, err) < 0)
		return -1;
	for (b = 0; b < banks.count; b++)
		any |= banks.bank[b].extended_mask != 0;
	if (!any)
		return skr_fail(err, SKR_R_malformed, "PCR set names no PCR value");
	canon = skr_pcr_banks_to_json(&banks);
	if (!canon)
		return skr_fail(err, SKR_R_nomem, "out of memory building the PCR set");
	*out = store_json_text(canon, err);
	return *out ? 0 : -1;
}

/* ---- Listing rows --------------------------------------------------------- */

static json_object *string_or_null(const char *t)
{
	return t ? json_object_new_string(t) : NULL;
}

/* A new object appended to arr, or NULL (SKR_R_nomem, what it was for). */
static json_object *new_row(json_object *arr, const char *what, struct skr_err *err)
{
	json_object *o = json_object_new_object();

	if (!o || json_object_array_add(arr, o) < 0) {
		json_object_put(o);
		skr_fail(err, SKR_R_nomem, "out of memory %s", what);
		return NULL;
	}
	return o;
}

int store_json_key(json_object *arr, const char *key_id, int64_t created, struct skr_err *err)
{
	json_object *o = new_row(arr, "listing the keys", err);

	if (!o)
		return -1;
	json_object_object_add(o, "key_id", string_or_null(key_id));
	json_object_object_add(o, "created", json_object_new_int64(created));
	return 0;
}

int store_json_refset(json_object *arr, int64_t id, const char *label, const char *state,
		      const char *pcrs, int64_t created, const char *note, struct skr_err *err)
{
	json_object *o, *values = pcrs ? json_tokener_parse(pcrs) : NULL;

	if (!values)
		return skr_fail(err, SKR_R_store_error,
				"reference set %lld has unreadable PCR values", (long long)id);
	o = new_row(arr, "listing reference sets", err);
	if (!o) {
		json_object_put(values);
		return -1;
	}
	json_object_object_add(o, "id", json_object_new_int64(id));
	json_object_object_add(o, "label", string_or_null(label));
	json_object_object_add(o, "state", string_or_null(state));
	json_object_object_add(o, "pcrs", values);
	json_object_object_add(o, "created", json_object_new_int64(created));
	if (note)
		json_object_object_add(o, "note", json_object_new_string(note));
	return 0;
}

/* name: the bytes' hex, or null when p is NULL. */
static int add_hex(json_object *o, const char *name, const uint8_t *p, size_t len)
{
	char *hex;

	if (!p) {
		json_object_object_add(o, name, NULL);
		return 0;
	}
	hex = skr_hex_encode(p, len);
	if (!hex)
		return -1;
	json_object_object_add(o, name, json_object_new_string(hex));
	free(hex);
	return 0;
}

int store_json_audit(json_object *arr, int64_t id, int64_t time, const char *const text[6],
		     const uint8_t *digest, size_t digest_len, const struct store_json_link *link,
		     struct skr_err *err)
{
	static const char *const names[6] = { "key_id", "client", "action", "verdict", "reason",
					      "detail" };
	json_object *o = new_row(arr, "reading the audit log", err);
	size_t i;

	if (!o)
		return -1;
	json_object_object_add(o, "id", json_object_new_int64(id));
	json_object_object_add(o, "time", json_object_new_int64(time));
	for (i = 0; i < ARRAY_SIZE(names); i++)
		json_object_object_add(o, names[i], string_or_null(text[i]));
	if (digest) {
		_cleanup_free_ char *hex = skr_hex_encode(digest, digest_len);

		if (!hex)
			return skr_fail(err, SKR_R_nomem, "out of memory reading the audit log");
		json_object_object_add(o, "evidence_digest", json_object_new_string(hex));
	} else {
		json_object_object_add(o, "evidence_digest", NULL);
	}
	json_object_object_add(o, "seq", json_object_new_int64(link->seq));
	if (add_hex(o, "prev", link->prev, link->prev_len) < 0 ||
	    add_hex(o, "hash", link->hash, link->hash_len) < 0)
		return skr_fail(err, SKR_R_nomem, "out of memory reading the audit log");
	return 0;
}

int store_json_checkpoint(json_object *arr, int64_t seq, const uint8_t *hash, size_t hash_len,
			  int64_t time, const uint8_t *sig, size_t sig_len, struct skr_err *err)
{
	json_object *o = new_row(arr, "reading the audit checkpoints", err);
	_cleanup_free_ char *b64 = NULL;

	if (!o)
		return -1;
	json_object_object_add(o, "seq", json_object_new_int64(seq));
	json_object_object_add(o, "time", json_object_new_int64(time));
	b64 = skr_base64_encode(sig, sig_len);
	if (add_hex(o, "hash", hash, hash_len) < 0 || !b64)
		return skr_fail(err, SKR_R_nomem, "out of memory reading the audit checkpoints");
	json_object_object_add(o, "signature", json_object_new_string(b64));
	return 0;
}
