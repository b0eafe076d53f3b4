/* SPDX-License-Identifier: Apache-2.0 */
/* Reference PCR sets in SQLite: add, remove, list. */
#include "broker/store_sqlite.h"

int sq_refset_insert(struct sq_store *q, const char *key_id, const char *label,
		     const char *state, const char *pcrs, int64_t *id_out, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (sq_require_key(q, key_id, err) < 0 ||
	    sq_prepare(q, "INSERT INTO refsets (key_id, label, state, pcrs, created) "
			  "VALUES (?1, ?2, ?3, ?4, ?5)", &st, err) < 0 ||
	    sq_bind_text(q, st, 1, key_id, err) < 0 || sq_bind_text(q, st, 2, label, err) < 0 ||
	    sq_bind_text(q, st, 3, state, err) < 0 || sq_bind_text(q, st, 4, pcrs, err) < 0 ||
	    sq_bind_int64(q, st, 5, (int64_t)time(NULL), err) < 0 ||
	    sq_step_done(q, st, "cannot store the reference set", err) < 0)
		return -1;
	if (id_out)
		*id_out = sqlite3_last_insert_rowid(q->db);
	return 0;
}

struct refset_args {
	const char *key_id, *label, *state, *pcrs;
	int64_t id;
	int64_t *id_out;
	json_object *arr;
};

static int refset_add_locked(struct sq_store *q, void *ctx, struct skr_err *err)
{
	const struct refset_args *a = ctx;

	return sq_refset_insert(q, a->key_id, a->label, a->state, a->pcrs, a->id_out, err);
}

int sq_refset_add(struct skr_store *s, const char *key_id, const char *label, const char *state,
		  const char *pcrs, int64_t *id_out, const struct store_audit_row *audit,
		  struct skr_err *err)
{
	struct refset_args a = { .key_id = key_id, .label = label, .state = state, .pcrs = pcrs,
				 .id_out = id_out };

	return sq_tx(sq_of(s), SQ_CHANGE, refset_add_locked, &a, audit, err);
}

static int refset_remove_locked(struct sq_store *q, void *ctx, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	const struct refset_args *a = ctx;

	if (sq_require_key(q, a->key_id, err) < 0 ||
	    sq_prepare(q, "DELETE FROM refsets WHERE id = ?1 AND key_id = ?2", &st, err) < 0 ||
	    sq_bind_int64(q, st, 1, a->id, err) < 0 || sq_bind_text(q, st, 2, a->key_id, err) < 0 ||
	    sq_step_done(q, st, "cannot remove the reference set", err) < 0)
		return -1;
	if (sqlite3_changes(q->db) == 0)
		return skr_fail(err, SKR_R_refset_unknown, "key %s has no reference set %lld",
				a->key_id, (long long)a->id);
	return 0;
}

int sq_refset_remove(struct skr_store *s, const char *key_id, int64_t id,
		     const struct store_audit_row *audit, struct skr_err *err)
{
	struct refset_args a = { .key_id = key_id, .id = id };

	return sq_tx(sq_of(s), SQ_CHANGE, refset_remove_locked, &a, audit, err);
}

static int refset_list_locked(struct sq_store *q, void *ctx, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	const struct refset_args *a = ctx;
	int row;

	if (sq_require_key(q, a->key_id, err) < 0 ||
	    sq_prepare(q, "SELECT id, label, state, pcrs, created, note FROM refsets "
			  "WHERE key_id = ?1 ORDER BY id", &st, err) < 0 ||
	    sq_bind_text(q, st, 1, a->key_id, err) < 0)
		return -1;
	while ((row = sq_step_row(q, st, "cannot list reference sets", err)) == 1)
		if (store_json_refset(a->arr, sqlite3_column_int64(st, 0), sq_text(st, 1),
				      sq_text(st, 2), sq_text(st, 3), sqlite3_column_int64(st, 4),
				      sq_text(st, 5), err) < 0)
			return -1;
	return row;
}

int sq_refset_list(struct skr_store *s, const char *key_id, json_object *arr,
		   struct skr_err *err)
{
	struct refset_args a = { .key_id = key_id, .arr = arr };

	/* One read transaction: the key check and the rows see the same snapshot. */
	return sq_tx(sq_of(s), SQ_READ, refset_list_locked, &a, NULL, err);
}
