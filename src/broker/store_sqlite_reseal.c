/* SPDX-License-Identifier: Apache-2.0 */
/* Reseal in SQLite: submissions, approval, commit, withdrawal (store.h says the rules). */
#include "broker/store_sqlite.h"

#include <stdio.h>
#include <string.h>

/* The best existing set with exactly these values: current, then pending, then queued. */
static int refset_find_same(struct sq_store *q, const char *key_id, const char *pcrs,
			    int64_t *id, char state[8], struct skr_err *err)
{
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

/* Room for one more queued set: the oldest queued sets stay, a new one is refused. */
static int refset_queue_room(struct sq_store *q, const char *key_id, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int64_t n;

	if (sq_prepare(q, "SELECT COUNT(*) FROM refsets WHERE key_id = ?1 AND state = 'queued'",
		       &st, err) < 0 ||
	    sq_bind_text(q, st, 1, key_id, err) < 0 ||
	    sq_step_row(q, st, "cannot count queued reference sets", err) != 1)
		return -1;
	n = sqlite3_column_int64(st, 0);
	if (n >= SKR_STORE_MAX_QUEUED)
		return skr_fail(err, SKR_R_refset_queue_full,
				"key %s already has %lld reference sets waiting for an operator (at most "
				"%d): this one is not queued; approve or delete queued sets "
				"(GET/DELETE /v1/keys/%s/refsets), or submit from an approved boot",
				key_id, (long long)n, SKR_STORE_MAX_QUEUED, key_id);
	return 0;
}

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

static int refset_submit_locked(struct sq_store *q, void *ctx, struct skr_err *err)
{
	const struct reseal_args *a = ctx;
	const char *key_id = a->key_id, *label = a->label, *state = a->state;
	struct skr_store_submit *out = a->submit;
	bool pending = !strcmp(state, "pending");
	int found;

	if (sq_require_key(q, key_id, err) < 0)
		return -1;
	found = refset_find_same(q, key_id, a->pcrs, &out->id, out->state, err);
	if (found < 0)
		return -1;
	if (found && (strcmp(out->state, "queued") || !pending)) {
		out->existed = true;	/* nothing added, nothing superseded */
		return store_audit_submit_outcome(a->audit, out, err);
	}
	if (found) {	/* queued, now allowed: it becomes pending */
		snprintf(out->state, sizeof(out->state), "pending");
		if (refset_run(q, sql_promote, key_id, out->id, label,
			       "cannot promote the reference set", NULL, err) < 0)
			return -1;
	} else {
		if ((!pending && refset_queue_room(q, key_id, err) < 0) ||
		    sq_refset_insert(q, key_id, label, state, a->pcrs, &out->id, err) < 0 ||
		    refset_run(q, "UPDATE refsets SET note = ?3 WHERE key_id = ?1 AND id = ?2",
			       key_id, out->id, a->note, "cannot annotate the reference set", NULL,
			       err) < 0)
			return -1;
		snprintf(out->state, sizeof(out->state), "%s", state);
	}
	/* Only a pending submission supersedes (store.h). */
	if (a->may_supersede && pending &&
	    refset_run(q, sql_supersede, key_id, out->id, label,
		       "cannot remove superseded reference sets", &out->superseded, err) < 0)
		return -1;
	return store_audit_submit_outcome(a->audit, out, err);
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
