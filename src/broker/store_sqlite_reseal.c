/* SPDX-License-Identifier: Apache-2.0 */
/* Reseal in SQLite: submissions, approval, commit, withdrawal (store.h says the rules). */
#include "broker/store_sqlite.h"

#include <stdio.h>
#include <string.h>

static int refset_run(struct sq_store *q, const char *sql, const char *key_id, int64_t id,
		      const char *text, const char *what, unsigned *changed, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (sq_prepare(q, sql, &st, err) < 0 || sq_bind_text(q, st, 1, key_id, err) < 0 ||
	    sq_bind_int64(q, st, 2, id, err) < 0 || sq_bind_text(q, st, 3, text, err) < 0 ||
	    sq_step_done(q, st, what, err) < 0)
		return -1;
	if (changed)
		*changed = (unsigned)sqlite3_changes(q->db);
	return 0;
}

static const char sql_promote[] =
	"UPDATE refsets SET state = 'pending', label = ?3, note = NULL "
	"WHERE key_id = ?1 AND id = ?2 AND state = 'queued'";
static const char sql_supersede[] =
	"DELETE FROM refsets WHERE key_id = ?1 AND id != ?2 AND label = ?3 "
	"AND state IN ('pending', 'queued')";

struct reseal_args {
	const char *key_id, *label, *state, *pcrs, *note;
	int64_t id;
	bool may_supersede;
	unsigned keep_retired;
	struct skr_store_submit *submit;
	struct skr_store_commit *commit;
	unsigned *removed;
	struct store_audit_row *audit;	/* sq_tx writes it after the outcome is added */
};

/* ---- The submission's steps (store_submit_run), on q ------------------------ */

static int step_find_same(void *tx, const char *key_id, const char *pcrs, int64_t *id,
			  char state[8], struct skr_err *err)
{
	struct sq_store *q = tx;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int row;

	if (sq_prepare(q, "SELECT id, state FROM refsets WHERE key_id = ?1 AND pcrs = ?2 AND "
			  "state IN ('current', 'pending', 'queued') ORDER BY CASE state "
			  "WHEN 'current' THEN 0 WHEN 'pending' THEN 1 ELSE 2 END, id DESC LIMIT 1",
		       &st, err) < 0 ||
	    sq_bind_text(q, st, 1, key_id, err) < 0 || sq_bind_text(q, st, 2, pcrs, err) < 0)
		return -1;
	row = sq_step_row(q, st, "cannot look up reference sets", err);
	if (row == 1) {
		*id = sqlite3_column_int64(st, 0);
		snprintf(state, 8, "%s", sq_text(st, 1));
	}
	return row;
}

static int step_count_queued(void *tx, const char *key_id, int64_t *n, struct skr_err *err)
{
	struct sq_store *q = tx;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (sq_prepare(q, "SELECT COUNT(*) FROM refsets WHERE key_id = ?1 AND state = 'queued'",
		       &st, err) < 0 ||
	    sq_bind_text(q, st, 1, key_id, err) < 0 ||
	    sq_step_row(q, st, "cannot count queued reference sets", err) != 1)
		return -1;
	*n = sqlite3_column_int64(st, 0);
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
	if (sq_refset_insert(tx, key_id, label, state, pcrs, id, err) < 0)
		return -1;
	return refset_run(tx, "UPDATE refsets SET note = ?3 WHERE key_id = ?1 AND id = ?2", key_id,
			  *id, note, "cannot annotate the reference set", NULL, err);
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

static int refset_submit_locked(struct sq_store *q, void *ctx, struct skr_err *err)
{
	const struct reseal_args *a = ctx;
	struct store_submit_req r = { .key_id = a->key_id, .label = a->label, .state = a->state,
				      .pcrs = a->pcrs, .note = a->note,
				      .may_supersede = a->may_supersede, .out = a->submit,
				      .audit = a->audit };

	if (sq_require_key(q, a->key_id, err) < 0)
		return -1;
	return store_submit_run(&submit_steps, q, &r, err);
}

int sq_refset_submit(struct skr_store *s, const char *key_id, const char *label,
		     const char *state, const char *pcrs, const char *note, bool may_supersede,
		     struct skr_store_submit *out, struct store_audit_row *audit,
		     struct skr_err *err)
{
	struct reseal_args a = { .key_id = key_id, .label = label, .state = state, .pcrs = pcrs,
				 .note = note, .may_supersede = may_supersede, .submit = out,
				 .audit = audit };

	return sq_tx(sq_of(s), SQ_CHANGE, refset_submit_locked, &a, audit, err);
}

static int refset_approve_locked(struct sq_store *q, void *ctx, struct skr_err *err)
{
	const struct reseal_args *a = ctx;
	unsigned n = 0;

	if (sq_require_key(q, a->key_id, err) < 0 ||
	    refset_run(q, "UPDATE refsets SET state = 'pending', note = ?3 "
			  "WHERE key_id = ?1 AND id = ?2 AND state = 'queued'",
		       a->key_id, a->id, "approved by an operator", "cannot approve the reference set",
		       &n, err) < 0)
		return -1;
	if (n == 0)
		return skr_fail(err, SKR_R_refset_unknown, "key %s has no queued reference set %lld",
				a->key_id, (long long)a->id);
	return 0;
}

int sq_refset_approve(struct skr_store *s, const char *key_id, int64_t id,
		      const struct store_audit_row *audit, struct skr_err *err)
{
	struct reseal_args a = { .key_id = key_id, .id = id };

	return sq_tx(sq_of(s), SQ_CHANGE, refset_approve_locked, &a, audit, err);
}

static int refset_commit_locked(struct sq_store *q, void *ctx, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	const struct reseal_args *a = ctx;
	char note[64];
	unsigned n = 0;

	snprintf(note, sizeof(note), "retired when set %lld booted", (long long)a->id);
	if (sq_require_key(q, a->key_id, err) < 0 ||
	    refset_run(q, "UPDATE refsets SET state = 'current', note = ?3 WHERE key_id = ?1 "
			  "AND id = ?2 AND state IN ('current', 'pending')",
		       a->key_id, a->id, NULL, "cannot commit the reference set", &n, err) < 0)
		return -1;
	if (n == 0)
		return skr_fail(err, SKR_R_refset_unknown,
				"key %s has no current or pending reference set %lld", a->key_id,
				(long long)a->id);
	/* Older sets describe boots before this one; newer ones may be the next boot's. */
	if (refset_run(q, "UPDATE refsets SET state = 'retired', note = ?3 WHERE key_id = ?1 "
			  "AND id < ?2 AND state IN ('current', 'pending')",
		       a->key_id, a->id, note, "cannot retire reference sets", &a->commit->retired,
		       err) < 0 ||
	    sq_prepare(q, "DELETE FROM refsets WHERE key_id = ?1 AND state = 'retired' AND id NOT IN "
			  "(SELECT id FROM refsets WHERE key_id = ?1 AND state = 'retired' "
			  "ORDER BY id DESC LIMIT ?2)", &st, err) < 0 ||
	    sq_bind_text(q, st, 1, a->key_id, err) < 0 ||
	    sq_bind_int64(q, st, 2, a->keep_retired, err) < 0 ||
	    sq_step_done(q, st, "cannot prune retired reference sets", err) < 0)
		return -1;
	a->commit->deleted = (unsigned)sqlite3_changes(q->db);
	return store_audit_commit_outcome(a->audit, a->id, a->commit, err);
}

int sq_refset_commit(struct skr_store *s, const char *key_id, int64_t id, unsigned keep_retired,
		     struct skr_store_commit *out, struct store_audit_row *audit,
		     struct skr_err *err)
{
	struct reseal_args a = { .key_id = key_id, .id = id, .keep_retired = keep_retired,
				 .commit = out, .audit = audit };

	return sq_tx(sq_of(s), SQ_CHANGE, refset_commit_locked, &a, audit, err);
}

static int refset_withdraw_locked(struct sq_store *q, void *ctx, struct skr_err *err)
{
	const struct reseal_args *a = ctx;

	if (sq_require_key(q, a->key_id, err) < 0 ||
	    refset_run(q, sql_supersede, a->key_id, -1, a->label,
		       "cannot withdraw reference sets", a->removed, err) < 0)
		return -1;
	return store_audit_withdraw_outcome(a->audit, *a->removed, err);
}

int sq_refset_withdraw(struct skr_store *s, const char *key_id, const char *label,
		       unsigned *removed, struct store_audit_row *audit, struct skr_err *err)
{
	struct reseal_args a = { .key_id = key_id, .label = label, .removed = removed,
				 .audit = audit };

	return sq_tx(sq_of(s), SQ_CHANGE, refset_withdraw_locked, &a, audit, err);
}
