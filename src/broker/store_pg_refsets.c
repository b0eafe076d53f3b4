/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reference PCR sets in PostgreSQL: add, remove, list, and reseal
 * (submissions, approval, commit, withdrawal; store.h says the rules).
 * Every write locks the key's row first (pg_lock_key): two replicas working
 * on one key's sets take turns, and each statement after the lock sees what
 * the other committed (READ COMMITTED), so a submission never adds a second
 * copy of a set another replica just added, nor a queued set past the bound.
 */
#include "broker/store_pg.h"

#include <stdio.h>
#include <string.h>

struct refset_args {
	const char *key_id, *label, *state, *pcrs, *note;
	int64_t id;
	int64_t *id_out;
	json_object *arr;
	bool may_supersede;
	unsigned keep_retired;
	struct skr_store_submit *submit;
	struct skr_store_commit *commit;
	unsigned *removed;
	struct store_audit_row *audit;	/* pg_run writes it after the outcome is added */
};

/* Inside a write transaction, the key locked: the INSERT of a set. */
static int refset_insert(struct pg_tx *t, const struct refset_args *a, const char *state,
			 const char *note, int64_t *id_out, struct skr_err *err)
{
	_cleanup_res_ PGresult *res = NULL;
	struct pg_params p = { 0 };

	pg_p_text(&p, a->key_id);
	pg_p_text(&p, a->label);
	pg_p_text(&p, state);
	pg_p_text(&p, a->pcrs);
	pg_p_int(&p, (int64_t)time(NULL));
	pg_p_text(&p, note);
	if (pg_exec(t, "INSERT INTO refsets (key_id, label, state, pcrs, created, note) "
		       "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id", &p,
		    "cannot store the reference set", &res, err) < 0)
		return -1;
	if (id_out)
		*id_out = pg_int(res, 0, 0);
	return 0;
}

static int refset_add_fn(struct pg_tx *t, void *ctx, struct skr_err *err)
{
	const struct refset_args *a = ctx;

	if (pg_lock_key(t, a->key_id, err) < 0)
		return -1;
	return refset_insert(t, a, a->state, NULL, a->id_out, err);
}

int pg_refset_add(struct skr_store *s, const char *key_id, const char *label, const char *state,
		  const char *pcrs, int64_t *id_out, const struct store_audit_row *audit,
		  struct skr_err *err)
{
	struct refset_args a = { .key_id = key_id, .label = label ? label : "", .state = state,
				 .pcrs = pcrs, .id_out = id_out };

	return pg_run(pg_of(s), PG_CHANGE, refset_add_fn, &a, audit, err);
}

/* sql with $1 the key id, $2 a set id, $3 a text; *changed the rows it changed. */
static int refset_run(struct pg_tx *t, const char *sql, const char *key_id, int64_t id,
		      const char *text, const char *what, unsigned *changed, struct skr_err *err)
{
	_cleanup_res_ PGresult *res = NULL;
	struct pg_params p = { 0 };

	pg_p_text(&p, key_id);
	pg_p_int(&p, id);
	pg_p_text(&p, text);
	if (pg_exec(t, sql, &p, what, &res, err) < 0)
		return -1;
	if (changed)
		*changed = pg_changed(res);
	return 0;
}

static int refset_remove_fn(struct pg_tx *t, void *ctx, struct skr_err *err)
{
	_cleanup_res_ PGresult *res = NULL;
	const struct refset_args *a = ctx;
	struct pg_params p = { 0 };

	pg_p_text(&p, a->key_id);
	pg_p_int(&p, a->id);
	if (pg_lock_key(t, a->key_id, err) < 0 ||
	    pg_exec(t, "DELETE FROM refsets WHERE key_id = $1 AND id = $2", &p,
		    "cannot remove the reference set", &res, err) < 0)
		return -1;
	if (pg_changed(res) == 0)
		return skr_fail(err, SKR_R_refset_unknown, "key %s has no reference set %lld",
				a->key_id, (long long)a->id);
	return 0;
}

int pg_refset_remove(struct skr_store *s, const char *key_id, int64_t id,
		     const struct store_audit_row *audit, struct skr_err *err)
{
	struct refset_args a = { .key_id = key_id, .id = id };

	return pg_run(pg_of(s), PG_CHANGE, refset_remove_fn, &a, audit, err);
}

/* One statement, one snapshot: no row is no key, a row without an id a key without sets. */
static int refset_list_fn(struct pg_tx *t, void *ctx, struct skr_err *err)
{
	_cleanup_res_ PGresult *res = NULL;
	const struct refset_args *a = ctx;
	struct pg_params p = { 0 };
	int i;

	pg_p_text(&p, a->key_id);
	if (pg_exec(t, "SELECT r.id, r.label, r.state, r.pcrs, r.created, r.note FROM keys k "
		       "LEFT JOIN refsets r ON r.key_id = k.key_id WHERE k.key_id = $1 "
		       "ORDER BY r.id", &p, "cannot list reference sets", &res, err) < 0)
		return -1;
	if (PQntuples(res) == 0)
		return skr_fail(err, SKR_R_key_unknown, "there is no key %s", a->key_id);
	for (i = 0; i < PQntuples(res); i++)
		if (!PQgetisnull(res, i, 0) &&
		    store_json_refset(a->arr, pg_int(res, i, 0), pg_text(res, i, 1),
				      pg_text(res, i, 2), pg_text(res, i, 3), pg_int(res, i, 4),
				      pg_text(res, i, 5), err) < 0)
			return -1;
	return 0;
}

int pg_refset_list(struct skr_store *s, const char *key_id, json_object *arr,
		   struct skr_err *err)
{
	struct refset_args a = { .key_id = key_id, .arr = arr };

	return pg_run(pg_of(s), PG_AUTO, refset_list_fn, &a, NULL, err);
}

/* ---- Reseal ----------------------------------------------------------------- */

static const char sql_promote[] =
	"UPDATE refsets SET state = 'pending', label = $3, note = NULL "
	"WHERE key_id = $1 AND id = $2 AND state = 'queued'";
static const char sql_supersede[] =
	"DELETE FROM refsets WHERE key_id = $1 AND id != $2 AND label = $3 "
	"AND state IN ('pending', 'queued')";

/* ---- The submission's steps (store_submit_run), on the transaction ---------- */

static int step_find_same(void *tx, const char *key_id, const char *pcrs, int64_t *id,
			  char state[8], struct skr_err *err)
{
	_cleanup_res_ PGresult *res = NULL;
	struct pg_params p = { 0 };

	pg_p_text(&p, key_id);
	pg_p_text(&p, pcrs);
	if (pg_exec(tx, "SELECT id, state FROM refsets WHERE key_id = $1 AND pcrs = $2 AND "
			"state IN ('current', 'pending', 'queued') ORDER BY CASE state "
			"WHEN 'current' THEN 0 WHEN 'pending' THEN 1 ELSE 2 END, id DESC LIMIT 1",
		    &p, "cannot look up reference sets", &res, err) < 0)
		return -1;
	if (PQntuples(res) == 0)
		return 0;
	*id = pg_int(res, 0, 0);
	snprintf(state, 8, "%s", pg_text(res, 0, 1));
	return 1;
}

static int step_count_queued(void *tx, const char *key_id, int64_t *n, struct skr_err *err)
{
	_cleanup_res_ PGresult *res = NULL;
	struct pg_params p = { 0 };

	pg_p_text(&p, key_id);
	if (pg_exec(tx, "SELECT COUNT(*) FROM refsets WHERE key_id = $1 AND state = 'queued'", &p,
		    "cannot count queued reference sets", &res, err) < 0)
		return -1;
	*n = pg_int(res, 0, 0);
	return 0;
}

static int step_promote(void *tx, const char *key_id, int64_t id, const char *label,
			struct skr_err *err)
{
	return refset_run(tx, sql_promote, key_id, id, label, "cannot promote the reference set",
			  NULL, err);
}

static int step_insert(void *tx, const char *key_id, const char *label, const char *state,
		       const char *pcrs, const char *note, int64_t *id, struct skr_err *err)
{
	const struct refset_args a = { .key_id = key_id, .label = label, .pcrs = pcrs };

	return refset_insert(tx, &a, state, note, id, err);
}

static int step_supersede(void *tx, const char *key_id, int64_t keep, const char *label,
			  unsigned *removed, struct skr_err *err)
{
	return refset_run(tx, sql_supersede, key_id, keep, label,
			  "cannot remove superseded reference sets", removed, err);
}

static const struct store_submit_steps submit_steps = {
	.find_same = step_find_same,
	.count_queued = step_count_queued,
	.promote = step_promote,
	.insert = step_insert,
	.supersede = step_supersede,
};

static int refset_submit_fn(struct pg_tx *t, void *ctx, struct skr_err *err)
{
	const struct refset_args *a = ctx;
	struct store_submit_req r = { .key_id = a->key_id, .label = a->label, .state = a->state,
				      .pcrs = a->pcrs, .note = a->note,
				      .may_supersede = a->may_supersede, .out = a->submit,
				      .audit = a->audit };

	if (pg_lock_key(t, a->key_id, err) < 0)
		return -1;
	return store_submit_run(&submit_steps, t, &r, err);
}

int pg_refset_submit(struct skr_store *s, const char *key_id, const char *label,
		     const char *state, const char *pcrs, const char *note, bool may_supersede,
		     struct skr_store_submit *out, struct store_audit_row *audit,
		     struct skr_err *err)
{
	struct refset_args a = { .key_id = key_id, .label = label, .state = state, .pcrs = pcrs,
				 .note = note, .may_supersede = may_supersede, .submit = out,
				 .audit = audit };

	return pg_run(pg_of(s), PG_CHANGE, refset_submit_fn, &a, audit, err);
}

static int refset_approve_fn(struct pg_tx *t, void *ctx, struct skr_err *err)
{
	const struct refset_args *a = ctx;
	unsigned n = 0;

	if (pg_lock_key(t, a->key_id, err) < 0 ||
	    refset_run(t, "UPDATE refsets SET state = 'pending', note = $3 "
			  "WHERE key_id = $1 AND id = $2 AND state = 'queued'",
		       a->key_id, a->id, "approved by an operator", "cannot approve the reference set",
		       &n, err) < 0)
		return -1;
	if (n == 0)
		return skr_fail(err, SKR_R_refset_unknown, "key %s has no queued reference set %lld",
				a->key_id, (long long)a->id);
	return 0;
}

int pg_refset_approve(struct skr_store *s, const char *key_id, int64_t id,
		      const struct store_audit_row *audit, struct skr_err *err)
{
	struct refset_args a = { .key_id = key_id, .id = id };

	return pg_run(pg_of(s), PG_CHANGE, refset_approve_fn, &a, audit, err);
}

static int refset_prune(struct pg_tx *t, const struct refset_args *a, struct skr_err *err)
{
	_cleanup_res_ PGresult *res = NULL;
	struct pg_params p = { 0 };

	pg_p_text(&p, a->key_id);
	pg_p_int(&p, a->keep_retired);
	if (pg_exec(t, "DELETE FROM refsets WHERE key_id = $1 AND state = 'retired' AND id NOT IN "
		       "(SELECT id FROM refsets WHERE key_id = $1 AND state = 'retired' "
		       "ORDER BY id DESC LIMIT $2)", &p, "cannot prune retired reference sets", &res,
		    err) < 0)
		return -1;
	a->commit->deleted = pg_changed(res);
	return 0;
}

static int refset_commit_fn(struct pg_tx *t, void *ctx, struct skr_err *err)
{
	const struct refset_args *a = ctx;
	char note[64];
	unsigned n = 0;

	snprintf(note, sizeof(note), "retired when set %lld booted", (long long)a->id);
	if (pg_lock_key(t, a->key_id, err) < 0 ||
	    refset_run(t, "UPDATE refsets SET state = 'current', note = $3 WHERE key_id = $1 "
			  "AND id = $2 AND state IN ('current', 'pending')",
		       a->key_id, a->id, NULL, "cannot commit the reference set", &n, err) < 0)
		return -1;
	if (n == 0)
		return skr_fail(err, SKR_R_refset_unknown,
				"key %s has no current or pending reference set %lld", a->key_id,
				(long long)a->id);
	/* Older sets describe boots before this one; newer ones may be the next boot's. */
	if (refset_run(t, "UPDATE refsets SET state = 'retired', note = $3 WHERE key_id = $1 "
			  "AND id < $2 AND state IN ('current', 'pending')",
		       a->key_id, a->id, note, "cannot retire reference sets", &a->commit->retired,
		       err) < 0)
		return -1;
	if (refset_prune(t, a, err) < 0)
		return -1;
	return store_audit_commit_outcome(a->audit, a->id, a->commit, err);
}

int pg_refset_commit(struct skr_store *s, const char *key_id, int64_t id, unsigned keep_retired,
		     struct skr_store_commit *out, struct store_audit_row *audit,
		     struct skr_err *err)
{
	struct refset_args a = { .key_id = key_id, .id = id, .keep_retired = keep_retired,
				 .commit = out, .audit = audit };

	return pg_run(pg_of(s), PG_CHANGE, refset_commit_fn, &a, audit, err);
}

static int refset_withdraw_fn(struct pg_tx *t, void *ctx, struct skr_err *err)
{
	const struct refset_args *a = ctx;

	if (pg_lock_key(t, a->key_id, err) < 0 ||
	    refset_run(t, sql_supersede, a->key_id, -1, a->label,
		       "cannot withdraw reference sets", a->removed, err) < 0)
		return -1;
	return store_audit_withdraw_outcome(a->audit, *a->removed, err);
}

int pg_refset_withdraw(struct skr_store *s, const char *key_id, const char *label,
		       unsigned *removed, struct store_audit_row *audit, struct skr_err *err)
{
	struct refset_args a = { .key_id = key_id, .label = label, .removed = removed,
				 .audit = audit };

	return pg_run(pg_of(s), PG_CHANGE, refset_withdraw_fn, &a, audit, err);
}
