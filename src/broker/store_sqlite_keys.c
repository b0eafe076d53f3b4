/* SPDX-License-Identifier: Apache-2.0 */
/* Keys in SQLite: the sealed secret's IV, ciphertext and tag, the policy text. */
#include "broker/store_sqlite.h"

#include <stdlib.h>
#include <string.h>

struct key_args {
	const char *key_id;
	const struct store_sealed *sealed;
	const char *policy;
};

static int key_create_locked(struct sq_store *q, void *ctx, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	const struct key_args *a = ctx;
	int rc;

	rc = sq_key_exists(q, a->key_id, err);
	if (rc < 0)
		return -1;
	if (rc == 1)
		return skr_fail(err, SKR_R_key_exists, "key %s already exists", a->key_id);
	if (sq_prepare(q, "INSERT INTO keys (key_id, secret_iv, secret_ct, secret_tag, policy, "
			  "created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", &st, err) < 0 ||
	    sq_bind_text(q, st, 1, a->key_id, err) < 0 ||
	    sq_bind_blob(q, st, 2, a->sealed->iv, STORE_IV_SIZE, err) < 0 ||
	    sq_bind_blob(q, st, 3, a->sealed->ct, a->sealed->len, err) < 0 ||
	    sq_bind_blob(q, st, 4, a->sealed->tag, STORE_TAG_SIZE, err) < 0 ||
	    sq_bind_text(q, st, 5, a->policy, err) < 0 ||
	    sq_bind_int64(q, st, 6, (int64_t)time(NULL), err) < 0)
		return -1;
	return sq_step_done(q, st, "cannot store the key", err);
}

int sq_key_create(struct skr_store *s, const char *key_id, const struct store_sealed *secret,
		  const char *policy, const struct store_audit_row *audit, struct skr_err *err)
{
	struct key_args a = { .key_id = key_id, .sealed = secret, .policy = policy };

	return sq_tx(sq_of(s), SQ_CHANGE, key_create_locked, &a, audit, err);
}

/* Steps a one-key SELECT to its row; key_unknown when the key does not exist. */
static int key_row(struct sq_store *q, const char *sql, const char *key_id, sqlite3_stmt **st,
		   struct skr_err *err)
{
	int row;

	if (sq_prepare(q, sql, st, err) < 0 || sq_bind_text(q, *st, 1, key_id, err) < 0)
		return -1;
	row = sq_step_row(q, *st, "cannot read the key", err);
	if (row < 0)
		return -1;
	if (row == 0)
		return skr_fail(err, SKR_R_key_unknown, "there is no key %s", key_id);
	return 0;
}

struct key_sealed_args {
	const char *key_id;
	struct store_sealed *out;
};

static int key_sealed_locked(struct sq_store *q, void *ctx, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	const struct key_sealed_args *a = ctx;
	const uint8_t *iv, *ct, *tag;
	int iv_len, ct_len, tag_len;

	if (key_row(q, "SELECT secret_iv, secret_ct, secret_tag FROM keys WHERE key_id = ?1",
		    a->key_id, &st, err) < 0)
		return -1;
	/* Blob pointers stay valid until the next step; lengths read after the pointers. */
	iv = sqlite3_column_blob(st, 0);
	ct = sqlite3_column_blob(st, 1);
	tag = sqlite3_column_blob(st, 2);
	iv_len = sqlite3_column_bytes(st, 0);
	ct_len = sqlite3_column_bytes(st, 1);
	tag_len = sqlite3_column_bytes(st, 2);
	if (!iv || !ct || !tag || iv_len != STORE_IV_SIZE || tag_len != STORE_TAG_SIZE ||
	    ct_len <= 0 || ct_len > SKR_STORE_MAX_SECRET)
		return skr_fail(err, SKR_R_store_decrypt_failed,
				"the stored secret of key %s is damaged (IV %d, ciphertext %d, "
				"tag %d bytes)", a->key_id, iv_len, ct_len, tag_len);
	memcpy(a->out->iv, iv, STORE_IV_SIZE);
	memcpy(a->out->ct, ct, (size_t)ct_len);
	memcpy(a->out->tag, tag, STORE_TAG_SIZE);
	a->out->len = (size_t)ct_len;
	return 0;
}

int sq_key_sealed(struct skr_store *s, const char *key_id, struct store_sealed *out,
		  struct skr_err *err)
{
	struct key_sealed_args a = { .key_id = key_id, .out = out };

	return sq_locked(sq_of(s), key_sealed_locked, &a, err);
}

struct key_policy_args {
	const char *key_id;
	char **policy;
};

static int key_policy_locked(struct sq_store *q, void *ctx, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	const struct key_policy_args *a = ctx;
	const char *t;

	if (key_row(q, "SELECT policy FROM keys WHERE key_id = ?1", a->key_id, &st, err) < 0)
		return -1;
	t = sq_text(st, 0);
	*a->policy = t ? strdup(t) : NULL;
	if (!*a->policy)
		return skr_fail(err, SKR_R_nomem, "out of memory reading the policy");
	return 0;
}

int sq_key_policy(struct skr_store *s, const char *key_id, char **policy, struct skr_err *err)
{
	struct key_policy_args a = { .key_id = key_id, .policy = policy };

	return sq_locked(sq_of(s), key_policy_locked, &a, err);
}

static int key_set_policy_locked(struct sq_store *q, void *ctx, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	const struct key_args *a = ctx;

	if (sq_prepare(q, "UPDATE keys SET policy = ?1 WHERE key_id = ?2", &st, err) < 0 ||
	    sq_bind_text(q, st, 1, a->policy, err) < 0 ||
	    sq_bind_text(q, st, 2, a->key_id, err) < 0 ||
	    sq_step_done(q, st, "cannot update the policy", err) < 0)
		return -1;
	if (sqlite3_changes(q->db) == 0)
		return skr_fail(err, SKR_R_key_unknown, "there is no key %s", a->key_id);
	return 0;
}

int sq_key_set_policy(struct skr_store *s, const char *key_id, const char *policy,
		      const struct store_audit_row *audit, struct skr_err *err)
{
	struct key_args a = { .key_id = key_id, .policy = policy };

	return sq_tx(sq_of(s), SQ_CHANGE, key_set_policy_locked, &a, audit, err);
}

static int key_delete_locked(struct sq_store *q, void *ctx, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	const char *key_id = ctx;

	/* ON DELETE CASCADE removes the key's reference sets in the same statement. */
	if (sq_prepare(q, "DELETE FROM keys WHERE key_id = ?1", &st, err) < 0 ||
	    sq_bind_text(q, st, 1, key_id, err) < 0 ||
	    sq_step_done(q, st, "cannot delete the key", err) < 0)
		return -1;
	if (sqlite3_changes(q->db) == 0)
		return skr_fail(err, SKR_R_key_unknown, "there is no key %s", key_id);
	return 0;
}

int sq_key_delete(struct skr_store *s, const char *key_id, const struct store_audit_row *audit,
		  struct skr_err *err)
{
	return sq_tx(sq_of(s), SQ_CHANGE, key_delete_locked, (void *)key_id, audit, err);
}

static int key_list_locked(struct sq_store *q, void *ctx, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	json_object *arr = ctx;
	int row;

	if (sq_prepare(q, "SELECT key_id, created FROM keys ORDER BY key_id", &st, err) < 0)
		return -1;
	while ((row = sq_step_row(q, st, "cannot list the keys", err)) == 1)
		if (store_json_key(arr, sq_text(st, 0), sqlite3_column_int64(st, 1), err) < 0)
			return -1;
	return row;
}

int sq_key_list(struct skr_store *s, json_object *arr, struct skr_err *err)
{
	return sq_locked(sq_of(s), key_list_locked, arr, err);
}
