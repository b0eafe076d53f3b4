/* SPDX-License-Identifier: Apache-2.0 */
/* Keys in PostgreSQL: the sealed secret's IV, ciphertext and tag, the policy text. */
#include "broker/store_pg.h"

#include <stdlib.h>
#include <string.h>

#define UNIQUE_VIOLATION "23505"

struct key_args {
	const char *key_id;
	const struct store_sealed *sealed;
	const char *policy;
	struct store_sealed *out;
	char **policy_out;
	json_object *arr;
};

/* A replica creating the same id meanwhile loses at the primary key: key_exists all the same. */
static int key_create_fn(struct pg_tx *t, void *ctx, struct skr_err *err)
{
	const struct key_args *a = ctx;
	struct pg_params p = { 0 };
	struct skr_err local = { 0 };

	pg_p_text(&p, a->key_id);
	pg_p_bytea(&p, a->sealed->iv, STORE_IV_SIZE);
	pg_p_bytea(&p, a->sealed->ct, a->sealed->len);
	pg_p_bytea(&p, a->sealed->tag, STORE_TAG_SIZE);
	pg_p_text(&p, a->policy);
	pg_p_int(&p, (int64_t)time(NULL));
	if (pg_exec(t, "INSERT INTO keys (key_id, secret_iv, secret_ct, secret_tag, policy, "
		       "created) VALUES ($1, $2, $3, $4, $5, $6)", &p, "cannot store the key", NULL,
		    &local) == 0)
		return 0;
	if (!strcmp(t->sqlstate, UNIQUE_VIOLATION))
		return skr_fail(err, SKR_R_key_exists, "key %s already exists", a->key_id);
	*err = local;
	return -1;
}

int pg_key_create(struct skr_store *s, const char *key_id, const struct store_sealed *secret,
		  const char *policy, const struct store_audit_row *audit, struct skr_err *err)
{
	struct key_args a = { .key_id = key_id, .sealed = secret, .policy = policy };

	return pg_run(pg_of(s), PG_CHANGE, key_create_fn, &a, audit, err);
}

/* One key's row of sql ($1 the key id); key_unknown when there is none. */
static int key_row(struct pg_tx *t, const char *sql, const char *key_id, PGresult **res,
		   struct skr_err *err)
{
	struct pg_params p = { 0 };

	pg_p_text(&p, key_id);
	if (pg_exec(t, sql, &p, "cannot read the key", res, err) < 0)
		return -1;
	if (PQntuples(*res) == 0)
		return skr_fail(err, SKR_R_key_unknown, "there is no key %s", key_id);
	return 0;
}

static int key_sealed_fn(struct pg_tx *t, void *ctx, struct skr_err *err)
{
	_cleanup_res_ PGresult *res = NULL;
	const struct key_args *a = ctx;
	size_t iv_len = 0, ct_len = 0, tag_len = 0;
	int bad;

	if (key_row(t, "SELECT secret_iv, secret_ct, secret_tag FROM keys WHERE key_id = $1",
		    a->key_id, &res, err) < 0)
		return -1;
	bad = pg_bytea(res, 0, 0, a->out->iv, STORE_IV_SIZE, &iv_len) |
	      pg_bytea(res, 0, 1, a->out->ct, SKR_STORE_MAX_SECRET, &ct_len) |
	      pg_bytea(res, 0, 2, a->out->tag, STORE_TAG_SIZE, &tag_len);
	if (bad || iv_len != STORE_IV_SIZE || tag_len != STORE_TAG_SIZE || ct_len == 0)
		return skr_fail(err, SKR_R_store_decrypt_failed,
				"the stored secret of key %s is damaged (IV %zu, ciphertext %zu, "
				"tag %zu bytes)", a->key_id, iv_len, ct_len, tag_len);
	a->out->len = ct_len;
	return 0;
}

int pg_key_sealed(struct skr_store *s, const char *key_id, struct store_sealed *out,
		  struct skr_err *err)
{
	struct key_args a = { .key_id = key_id, .out = out };

	return pg_run(pg_of(s), PG_AUTO, key_sealed_fn, &a, NULL, err);
}

static int key_policy_fn(struct pg_tx *t, void *ctx, struct skr_err *err)
{
	_cleanup_res_ PGresult *res = NULL;
	const struct key_args *a = ctx;
	const char *text;

	if (key_row(t, "SELECT policy FROM keys WHERE key_id = $1", a->key_id, &res, err) < 0)
		return -1;
	text = pg_text(res, 0, 0);
	*a->policy_out = text ? strdup(text) : NULL;
	if (!*a->policy_out)
		return skr_fail(err, SKR_R_nomem, "out of memory reading the policy");
	return 0;
}

int pg_key_policy(struct skr_store *s, const char *key_id, char **policy, struct skr_err *err)
{
	struct key_args a = { .key_id = key_id, .policy_out = policy };

	return pg_run(pg_of(s), PG_AUTO, key_policy_fn, &a, NULL, err);
}

static int key_set_policy_fn(struct pg_tx *t, void *ctx, struct skr_err *err)
{
	_cleanup_res_ PGresult *res = NULL;
	const struct key_args *a = ctx;
	struct pg_params p = { 0 };

	pg_p_text(&p, a->policy);
	pg_p_text(&p, a->key_id);
	if (pg_exec(t, "UPDATE keys SET policy = $1 WHERE key_id = $2", &p,
		    "cannot update the policy", &res, err) < 0)
		return -1;
	if (pg_changed(res) == 0)
		return skr_fail(err, SKR_R_key_unknown, "there is no key %s", a->key_id);
	return 0;
}

int pg_key_set_policy(struct skr_store *s, const char *key_id, const char *policy,
		      const struct store_audit_row *audit, struct skr_err *err)
{
	struct key_args a = { .key_id = key_id, .policy = policy };

	return pg_run(pg_of(s), PG_CHANGE, key_set_policy_fn, &a, audit, err);
}

static int key_delete_fn(struct pg_tx *t, void *ctx, struct skr_err *err)
{
	_cleanup_res_ PGresult *res = NULL;
	const struct key_args *a = ctx;
	struct pg_params p = { 0 };

	/* ON DELETE CASCADE removes the key's reference sets in the same statement. */
	pg_p_text(&p, a->key_id);
	if (pg_exec(t, "DELETE FROM keys WHERE key_id = $1", &p, "cannot delete the key", &res,
		    err) < 0)
		return -1;
	if (pg_changed(res) == 0)
		return skr_fail(err, SKR_R_key_unknown, "there is no key %s", a->key_id);
	return 0;
}

int pg_key_delete(struct skr_store *s, const char *key_id, const struct store_audit_row *audit,
		  struct skr_err *err)
{
	struct key_args a = { .key_id = key_id };

	return pg_run(pg_of(s), PG_CHANGE, key_delete_fn, &a, audit, err);
}

static int key_list_fn(struct pg_tx *t, void *ctx, struct skr_err *err)
{
	_cleanup_res_ PGresult *res = NULL;
	const struct key_args *a = ctx;
	int i;

	/* COLLATE "C": the order SQLite gives (bytes), whatever the database's locale. */
	if (pg_exec(t, "SELECT key_id, created FROM keys ORDER BY key_id COLLATE \"C\"", NULL,
		    "cannot list the keys", &res, err) < 0)
		return -1;
	for (i = 0; i < PQntuples(res); i++)
		if (store_json_key(a->arr, pg_text(res, i, 0), pg_int(res, i, 1), err) < 0)
			return -1;
	return 0;
}

int pg_key_list(struct skr_store *s, json_object *arr, struct skr_err *err)
{
	struct key_args a = { .arr = arr };

	return pg_run(pg_of(s), PG_AUTO, key_list_fn, &a, NULL, err);
}
