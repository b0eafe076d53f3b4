/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Audit rows and used release nonces in PostgreSQL.  A used nonce is its
 * hash as a PRIMARY KEY: of two replicas inserting one nonce, the second
 * waits for the first's transaction and then fails with unique_violation,
 * which is SKR_R_nonce_replayed.
 */
#include "broker/store_pg.h"

#include <string.h>

#define UNIQUE_VIOLATION "23505"

/* ---- Audit ---------------------------------------------------------------- */

int pg_audit_insert(struct pg_tx *t, const struct store_audit_row *r, struct skr_err *err)
{
	struct pg_params p = { 0 };

	pg_p_int(&p, (int64_t)time(NULL));
	pg_p_text(&p, r->key_id);
	pg_p_text(&p, r->client);
	pg_p_text(&p, r->action);
	pg_p_text(&p, r->verdict);
	pg_p_text(&p, r->reason);
	pg_p_text(&p, r->detail);
	pg_p_bytea(&p, r->digest, STORE_AUDIT_DIGEST_SIZE);
	return pg_exec(t, "INSERT INTO audit (time, key_id, client, action, verdict, reason, "
		       "detail, evidence_digest) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", &p,
		       "cannot append the audit row", NULL, err);
}

struct audit_query_args {
	const char *key_id;
	unsigned limit;
	json_object *arr;
};

static int audit_query_fn(struct pg_tx *t, void *ctx, struct skr_err *err)
{
	_cleanup_res_ PGresult *res = NULL;
	const struct audit_query_args *a = ctx;
	struct pg_params p = { 0 };
	uint8_t digest[STORE_AUDIT_DIGEST_SIZE];
	size_t len;
	int i, c;

	/* LIMIT NULL: no limit. */
	if (a->limit)
		pg_p_int(&p, a->limit);
	else
		pg_p_text(&p, NULL);
	if (a->key_id)
		pg_p_text(&p, a->key_id);
	if (pg_exec(t, a->key_id ? "SELECT id, time, key_id, client, action, verdict, reason, "
				   "detail, evidence_digest FROM audit WHERE key_id = $2 "
				   "ORDER BY id DESC LIMIT $1"
				 : "SELECT id, time, key_id, client, action, verdict, reason, "
				   "detail, evidence_digest FROM audit ORDER BY id DESC LIMIT $1",
		    &p, "cannot read the audit log", &res, err) < 0)
		return -1;
	for (i = 0; i < PQntuples(res); i++) {
		const char *text[6];
		bool have = !PQgetisnull(res, i, 8);

		for (c = 0; c < 6; c++)
			text[c] = pg_text(res, i, c + 2);
		if (have && pg_bytea(res, i, 8, digest, sizeof(digest), &len) < 0)
			return skr_fail(err, SKR_R_store_error, "%s: audit row %lld has a damaged "
					"evidence digest", t->q->desc, (long long)pg_int(res, i, 0));
		if (store_json_audit(a->arr, pg_int(res, i, 0), pg_int(res, i, 1), text,
				     have ? digest : NULL, have ? len : 0, err) < 0)
			return -1;
	}
	return 0;
}

int pg_audit_query(struct skr_store *s, const char *key_id, unsigned limit, json_object *arr,
		   struct skr_err *err)
{
	struct audit_query_args a = { .key_id = key_id, .limit = limit, .arr = arr };

	return pg_run(pg_of(s), PG_AUTO, audit_query_fn, &a, NULL, err);
}

/* ---- Used nonces ---------------------------------------------------------- */

/* Expired nonces are deleted every this many uses (and at the first use after open). */
#define NONCE_PURGE_EVERY 256

struct nonce_args {
	const uint8_t *hash;
	time_t expires, now;
};

static int nonce_purge(struct pg_tx *t, time_t now, struct skr_err *err)
{
	struct pg_params p = { 0 };

	pg_p_int(&p, (int64_t)now);
	return pg_exec(t, "DELETE FROM used_nonces WHERE expires < $1", &p,
		       "cannot purge expired nonces", NULL, err);
}

/* A batch fails whole: audit_failed, but store_unavailable when the server went away. */
static int batch_refused(struct skr_err *err)
{
	return err->reason == SKR_R_store_unavailable ? -1 : store_audit_refused(err);
}

static int nonce_use_fn(struct pg_tx *t, void *ctx, struct skr_err *err)
{
	const struct nonce_args *a = ctx;
	struct pg_params p = { 0 };
	struct skr_err local = { 0 };

	if (atomic_fetch_add(&t->q->nonce_uses, 1) % NONCE_PURGE_EVERY == 0 &&
	    nonce_purge(t, a->now, err) < 0)
		return -1;
	pg_p_bytea(&p, a->hash, STORE_NONCE_HASH_SIZE);
	pg_p_int(&p, (int64_t)a->expires);
	if (pg_exec(t, "INSERT INTO used_nonces (nonce_hash, expires) VALUES ($1, $2)", &p,
		    "cannot record the used nonce", NULL, &local) == 0)
		return 0;
	if (!strcmp(t->sqlstate, UNIQUE_VIOLATION))
		return skr_fail(err, SKR_R_nonce_replayed, "nonce was already used");
	*err = local;
	return -1;
}

/*
 * In a transaction of its own: a purge and the INSERT land together, and a
 * replica's concurrent INSERT of the same nonce waits for this one.
 */
int pg_nonce_use(struct skr_store *s, const uint8_t hash[STORE_NONCE_HASH_SIZE], time_t expires,
		 time_t now, struct skr_err *err)
{
	struct nonce_args a = { .hash = hash, .expires = expires, .now = now };

	return pg_run(pg_of(s), PG_WRITE, nonce_use_fn, &a, NULL, err);
}

static int nonce_check_fn(struct pg_tx *t, void *ctx, struct skr_err *err)
{
	_cleanup_res_ PGresult *res = NULL;
	struct pg_params p = { 0 };

	pg_p_bytea(&p, ctx, STORE_NONCE_HASH_SIZE);
	if (pg_exec(t, "SELECT 1 FROM used_nonces WHERE nonce_hash = $1", &p,
		    "cannot look up the nonce", &res, err) < 0)
		return -1;
	if (PQntuples(res) > 0)
		return skr_fail(err, SKR_R_nonce_replayed, "nonce was already used");
	return 0;
}

int pg_nonce_check(struct skr_store *s, const uint8_t hash[STORE_NONCE_HASH_SIZE],
		   struct skr_err *err)
{
	return pg_run(pg_of(s), PG_AUTO, nonce_check_fn, (void *)hash, NULL, err);
}

struct batch_args {
	struct store_batch_item *const *items;
	size_t n;
};

/*
 * Each item's nonce, then its row.  A used nonce must fail only its item,
 * but a failed statement aborts a PostgreSQL transaction: so the INSERT
 * does nothing on a conflict, and no row inserted means replayed (an
 * earlier item's, a committed one's, or a replica's that commits first:
 * ON CONFLICT waits for it).  Anything else fails the whole transaction.
 */
static int batch_fn(struct pg_tx *t, void *ctx, struct skr_err *err)
{
	const struct batch_args *a = ctx;
	size_t i;

	for (i = 0; i < a->n; i++) {
		struct store_batch_item *it = a->items[i];

		it->replayed = false;
		if (it->nonce_hash) {
			_cleanup_res_ PGresult *res = NULL;
			struct pg_params p = { 0 };

			if (atomic_fetch_add(&t->q->nonce_uses, 1) % NONCE_PURGE_EVERY == 0 &&
			    nonce_purge(t, it->now, err) < 0)
				return batch_refused(err);
			pg_p_bytea(&p, it->nonce_hash, STORE_NONCE_HASH_SIZE);
			pg_p_int(&p, (int64_t)it->expires);
			if (pg_exec(t, "INSERT INTO used_nonces (nonce_hash, expires) VALUES ($1, $2) "
				       "ON CONFLICT (nonce_hash) DO NOTHING", &p,
				    "cannot record the used nonce", &res, err) < 0)
				return batch_refused(err);
			if (pg_changed(res) == 0) {
				it->replayed = true;
				continue;
			}
		}
		if (pg_audit_insert(t, it->row, err) < 0)
			return batch_refused(err);
	}
	return 0;
}

/* The whole batch in one transaction, one commit (one WAL flush). */
int pg_audit_batch(struct skr_store *s, struct store_batch_item *const *items, size_t n,
		   struct skr_err *err)
{
	struct batch_args a = { .items = items, .n = n };

	return pg_run(pg_of(s), PG_WRITE, batch_fn, &a, NULL, err);
}
