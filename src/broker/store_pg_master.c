/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The master key in PostgreSQL: the check values in meta (as SQLite's:
 * 'master_key_check', and 'master_key_next' while a rotation runs), the
 * per-key compare and swap of a rotation, and the claim that keeps a
 * rotation and running brokers apart.
 *
 * The claim is a session-level advisory lock, keyed by the schema the
 * store works in, held on a connection of its own for the store's life:
 * shared by every open store (every broker and replica, on any host), taken
 * exclusively by skr-broker rotate-master-key.  Not on the pooled
 * connections: those are dropped and reconnected at any failure, and a
 * rotation's own pooled connections must not wait on its exclusive claim.
 * A pooled connection that (re)connects checks the claim first: when the
 * server restarted meanwhile the claim went with it, and is taken again, or
 * refused while a rotation holds the database.
 */
#include "broker/store_pg.h"

#include <stdio.h>
#include <string.h>

#include "common/util.h"

/* Advisory lock key: "skr" in ASCII, and the schema (several stores may share a database). */
#define CLAIM_KEY "7564146, hashtext(COALESCE(current_schema(), ''))"

int pg_master_read(struct pg_tx *t, struct store_master *m, struct skr_err *err)
{
	_cleanup_res_ PGresult *res = NULL;
	bool cur = false;
	size_t len;
	int i;

	memset(m, 0, sizeof(*m));
	if (pg_exec(t, "SELECT name, value FROM meta WHERE name IN "
		       "('master_key_check', 'master_key_next')", NULL,
		    "cannot read the master key check", &res, err) < 0)
		return -1;
	for (i = 0; i < PQntuples(res); i++) {
		bool next = !strcmp(pg_text(res, i, 0), "master_key_next");

		if (pg_bytea(res, i, 1, next ? m->next : m->current, STORE_CHECK_SIZE, &len) < 0 ||
		    len != STORE_CHECK_SIZE)
			return skr_fail(err, SKR_R_store_error, "%s: a master key check value is "
					"not %d bytes", t->q->desc, STORE_CHECK_SIZE);
		if (next)
			m->has_next = true;
		else
			cur = true;
	}
	return cur ? 1 : 0;
}

static int master_get_fn(struct pg_tx *t, void *ctx, struct skr_err *err)
{
	int rc = pg_master_read(t, ctx, err);

	if (rc == 0)
		return skr_fail(err, SKR_R_store_error, "%s has no master key check", t->q->desc);
	return rc < 0 ? -1 : 0;
}

int pg_master_get(struct skr_store *s, struct store_master *m, struct skr_err *err)
{
	return pg_run(pg_of(s), PG_AUTO, master_get_fn, m, NULL, err);
}

struct master_args {
	const uint8_t *cur, *next;
};

/* Inside the transaction, meta's rows locked: the current check is a->cur, else the reason. */
static int master_expect(struct pg_tx *t, const struct master_args *a, struct store_master *m,
			 struct skr_err *err)
{
	if (pg_exec(t, "SELECT 1 FROM meta WHERE name IN ('master_key_check', "
		       "'master_key_next') FOR UPDATE", NULL, "cannot lock the master key check",
		    NULL, err) < 0 ||
	    master_get_fn(t, m, err) < 0)
		return -1;
	if (!skr_ct_equal(m->current, a->cur, STORE_CHECK_SIZE))
		return skr_fail(err, SKR_R_store_error, "%s: the current master key changed "
				"meanwhile", t->q->desc);
	return 0;
}

static int master_begin_fn(struct pg_tx *t, void *ctx, struct skr_err *err)
{
	const struct master_args *a = ctx;
	struct pg_params p = { 0 };
	struct store_master m;

	if (master_expect(t, a, &m, err) < 0)
		return -1;
	if (m.has_next)
		return skr_ct_equal(m.next, a->next, STORE_CHECK_SIZE)
			       ? 0
			       : skr_fail(err, SKR_R_store_error, "%s is being rotated to another "
					  "master key", t->q->desc);
	pg_p_bytea(&p, a->next, STORE_CHECK_SIZE);
	return pg_exec(t, "INSERT INTO meta (name, value) VALUES ('master_key_next', $1)", &p,
		       "cannot record the next master key", NULL, err);
}

int pg_master_begin(struct skr_store *s, const uint8_t cur[STORE_CHECK_SIZE],
		    const uint8_t next[STORE_CHECK_SIZE], const struct store_audit_row *audit,
		    struct skr_err *err)
{
	struct master_args a = { .cur = cur, .next = next };

	return pg_run(pg_of(s), PG_WRITE, master_begin_fn, &a, audit, err);
}

static int master_finish_fn(struct pg_tx *t, void *ctx, struct skr_err *err)
{
	const struct master_args *a = ctx;
	struct pg_params p = { 0 };
	struct store_master m;

	if (master_expect(t, a, &m, err) < 0)
		return -1;
	if (!m.has_next || !skr_ct_equal(m.next, a->next, STORE_CHECK_SIZE))
		return skr_fail(err, SKR_R_store_error, "%s is not being rotated to this master "
				"key", t->q->desc);
	pg_p_bytea(&p, a->next, STORE_CHECK_SIZE);
	if (pg_exec(t, "UPDATE meta SET value = $1 WHERE name = 'master_key_check'", &p,
		    "cannot record the new master key", NULL, err) < 0)
		return -1;
	return pg_exec(t, "DELETE FROM meta WHERE name = 'master_key_next'", NULL,
		       "cannot record the new master key", NULL, err);
}

int pg_master_finish(struct skr_store *s, const uint8_t cur[STORE_CHECK_SIZE],
		     const uint8_t next[STORE_CHECK_SIZE], const struct store_audit_row *audit,
		     struct skr_err *err)
{
	struct master_args a = { .cur = cur, .next = next };

	return pg_run(pg_of(s), PG_WRITE, master_finish_fn, &a, audit, err);
}

struct reseal_args {
	const char *key_id;
	const struct store_sealed *from, *to;
};

/* The compare is in the UPDATE's WHERE: the row as read, or nothing is written. */
static int key_reseal_fn(struct pg_tx *t, void *ctx, struct skr_err *err)
{
	_cleanup_res_ PGresult *res = NULL;
	const struct reseal_args *a = ctx;
	struct pg_params p = { 0 };

	if (pg_lock_key(t, a->key_id, err) < 0)
		return -1;
	pg_p_bytea(&p, a->to->iv, STORE_IV_SIZE);
	pg_p_bytea(&p, a->to->ct, a->to->len);
	pg_p_bytea(&p, a->to->tag, STORE_TAG_SIZE);
	pg_p_text(&p, a->key_id);
	pg_p_bytea(&p, a->from->iv, STORE_IV_SIZE);
	pg_p_bytea(&p, a->from->ct, a->from->len);
	pg_p_bytea(&p, a->from->tag, STORE_TAG_SIZE);
	if (pg_exec(t, "UPDATE keys SET secret_iv = $1, secret_ct = $2, secret_tag = $3 "
		       "WHERE key_id = $4 AND secret_iv = $5 AND secret_ct = $6 "
		       "AND secret_tag = $7", &p, "cannot store the resealed secret", &res,
		    err) < 0)
		return -1;
	if (pg_changed(res) == 1)
		return 0;
	return skr_fail(err, SKR_R_store_error, "the secret of key %s changed during the "
			"rotation; nothing written for it", a->key_id);
}

int pg_key_reseal(struct skr_store *s, const char *key_id, const struct store_sealed *from,
		  const struct store_sealed *to, struct skr_err *err)
{
	struct reseal_args a = { .key_id = key_id, .from = from, .to = to };

	return pg_run(pg_of(s), PG_CHANGE, key_reseal_fn, &a, NULL, err);
}

/* ---- The claim ------------------------------------------------------------- */

/* Runs one SELECT of a boolean on the claim's connection: 1 true, 0 false, -1. */
static int claim_query(struct pg_store *q, const char *sql, struct skr_err *err)
{
	_cleanup_res_ PGresult *res = NULL;
	struct pg_tx t = { .q = q, .conn = &q->claim };
	const char *v;

	if (pg_exec(&t, sql, NULL, "cannot claim the database", &res, err) < 0)
		return -1;
	v = PQntuples(res) == 1 ? pg_text(res, 0, 0) : NULL;
	return v && !strcmp(v, "t") ? 1 : 0;
}

/*
 * With claim_lock held.  A round trip says whether the claim's session is
 * still there (libpq notices a server that went away only on a read after
 * its goodbye); this runs only when a pooled connection (re)connects.
 */
static int claim_locked(struct pg_store *q, struct skr_err *err)
{
	struct skr_err gone = { 0 };
	int rc;

	if (q->claim.c && claim_query(q, "SELECT true", &gone) == 1)
		return 0;
	pg_conn_drop(&q->claim);
	if (q->exclusive)
		return skr_fail(err, SKR_R_store_unavailable, "%s: the connection holding the "
				"exclusive claim on the database was lost", q->desc);
	if (pg_conn_open(q, &q->claim, err) < 0)
		return -1;
	rc = claim_query(q, "SELECT pg_try_advisory_lock_shared(" CLAIM_KEY ")", err);
	if (rc == 1)
		return 0;
	pg_conn_drop(&q->claim);
	if (rc < 0)
		return -1;
	return skr_fail(err, SKR_R_store_error, "%s is held by skr-broker rotate-master-key "
			"(its master key is being rotated); start brokers when it has finished",
			q->desc);
}

int pg_claim(struct pg_store *q, struct skr_err *err)
{
	int rc;

	pthread_mutex_lock(&q->claim_lock);
	rc = claim_locked(q, err);
	pthread_mutex_unlock(&q->claim_lock);
	return rc;
}

/* The session's own shared claim does not conflict with its exclusive one. */
int pg_exclusive(struct skr_store *s, struct skr_err *err)
{
	struct pg_store *q = pg_of(s);
	int rc;

	pthread_mutex_lock(&q->claim_lock);
	rc = claim_locked(q, err);
	if (rc == 0)
		rc = claim_query(q, "SELECT pg_try_advisory_lock(" CLAIM_KEY ")", err);
	if (rc == 1)
		q->exclusive = true;
	pthread_mutex_unlock(&q->claim_lock);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return skr_fail(err, SKR_R_store_error, "%s is open in another process (a running "
				"skr-broker?): stop every broker using it first", q->desc);
	return 0;
}
