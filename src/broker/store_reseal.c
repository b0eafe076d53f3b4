/* SPDX-License-Identifier: Apache-2.0 */
/* Reseal (DESIGN.md, two-phase reference values): submit, approve, commit, withdraw. */
#include "broker/store_int.h"

#include <stdio.h>
#include <string.h>

#include "common/util.h"

/* What a reseal submission may create: a set that matches now, or one for an operator. */
static int check_submit_state(const char *state, struct skr_err *err)
{
	if (!state)
		return skr_fail(err, SKR_R_usage, "no state given");
	if (strcmp(state, "pending") && strcmp(state, "queued"))
		return skr_fail(err, SKR_R_malformed, "state must be \"pending\" or \"queued\"");
	return 0;
}

/*
 * store_write_begin for a reseal write, whose backend adds the outcome to the
 * row: *row is r or NULL, and writable.
 */
static int reseal_begin(struct skr_store *s, const char *key_id, const void *out,
			const struct skr_audit_entry *audit, struct store_audit_row *r,
			struct store_audit_row **row, struct skr_err *err)
{
	const struct store_audit_row *made;

	if (!out)
		return skr_fail(err, SKR_R_usage, "no result given");
	if (store_write_begin(s, key_id, audit, r, &made, err) < 0)
		return -1;
	*row = made ? r : NULL;
	return 0;
}

int skr_store_refset_submit(struct skr_store *s, const char *key_id, const char *label,
			    const char *state, const char *pcrs_json, const char *note,
			    bool may_supersede, struct skr_store_submit *out,
			    const struct skr_audit_entry *audit, struct skr_err *err)
{
	_cleanup_(store_audit_row_free) struct store_audit_row r = { 0 };
	_cleanup_free_ char *pcrs = NULL;
	struct store_audit_row *row = NULL;

	if (out)
		memset(out, 0, sizeof(*out));
	/* Superseding matches sets by label: a submission must name one. */
	if (reseal_begin(s, key_id, out, audit, &r, &row, err) < 0 ||
	    store_check_label(label, true, err) < 0 || check_submit_state(state, err) < 0 ||
	    store_canonical_pcrs(pcrs_json, &pcrs, err) < 0)
		return -1;
	return s->ops->refset_submit(s, key_id, label, state, pcrs, note, may_supersede, out, row,
				     err);
}

/* Room for one more queued set: the oldest queued sets stay, a new one is refused. */
static int queue_room(const struct store_submit_steps *steps, void *tx, const char *key_id,
		      struct skr_err *err)
{
	int64_t n;

	if (steps->count_queued(tx, key_id, &n, err) < 0)
		return -1;
	if (n >= SKR_STORE_MAX_QUEUED)
		return skr_fail(err, SKR_R_refset_queue_full,
				"key %s already has %lld reference sets waiting for an operator (at most "
				"%d): this one is not queued; approve or delete queued sets "
				"(GET/DELETE /v1/keys/%s/refsets), or submit from an approved boot",
				key_id, (long long)n, SKR_STORE_MAX_QUEUED, key_id);
	return 0;
}

int store_submit_run(const struct store_submit_steps *steps, void *tx,
		     const struct store_submit_req *r, struct skr_err *err)
{
	struct skr_store_submit *out = r->out;
	bool pending = !strcmp(r->state, "pending");
	int found;

	found = steps->find_same(tx, r->key_id, r->pcrs, &out->id, out->state, err);
	if (found < 0)
		return -1;
	if (found && (strcmp(out->state, "queued") || !pending)) {
		out->existed = true;	/* nothing added, nothing superseded */
		return store_audit_submit_outcome(r->audit, out, err);
	}
	if (found) {	/* queued, now allowed: it becomes pending */
		snprintf(out->state, sizeof(out->state), "pending");
		if (steps->promote(tx, r->key_id, out->id, r->label, err) < 0)
			return -1;
	} else {
		if ((!pending && queue_room(steps, tx, r->key_id, err) < 0) ||
		    steps->insert(tx, r->key_id, r->label, r->state, r->pcrs, r->note, &out->id,
				  err) < 0)
			return -1;
		snprintf(out->state, sizeof(out->state), "%s", r->state);
	}
	/* Only a pending submission supersedes: a queued one (an unapproved
	 * boot's) never removes, replaces or relabels anything (store.h). */
	if (r->may_supersede && pending &&
	    steps->supersede(tx, r->key_id, out->id, r->label, &out->superseded, err) < 0)
		return -1;
	return store_audit_submit_outcome(r->audit, out, err);
}

int skr_store_refset_approve(struct skr_store *s, const char *key_id, int64_t id,
			     const struct skr_audit_entry *audit, struct skr_err *err)
{
	_cleanup_(store_audit_row_free) struct store_audit_row r = { 0 };
	const struct store_audit_row *row;

	if (store_write_begin(s, key_id, audit, &r, &row, err) < 0)
		return -1;
	return s->ops->refset_approve(s, key_id, id, row, err);
}

int skr_store_refset_commit(struct skr_store *s, const char *key_id, int64_t id,
			    unsigned keep_retired, struct skr_store_commit *out,
			    const struct skr_audit_entry *audit, struct skr_err *err)
{
	_cleanup_(store_audit_row_free) struct store_audit_row r = { 0 };
	struct store_audit_row *row = NULL;

	if (out)
		memset(out, 0, sizeof(*out));
	if (reseal_begin(s, key_id, out, audit, &r, &row, err) < 0)
		return -1;
	return s->ops->refset_commit(s, key_id, id, keep_retired, out, row, err);
}

int skr_store_refset_withdraw(struct skr_store *s, const char *key_id, const char *label,
			      unsigned *removed, const struct skr_audit_entry *audit,
			      struct skr_err *err)
{
	_cleanup_(store_audit_row_free) struct store_audit_row r = { 0 };
	struct store_audit_row *row = NULL;

	if (removed)
		*removed = 0;
	if (reseal_begin(s, key_id, removed, audit, &r, &row, err) < 0 ||
	    store_check_label(label, true, err) < 0)
		return -1;
	return s->ops->refset_withdraw(s, key_id, label, removed, row, err);
}
