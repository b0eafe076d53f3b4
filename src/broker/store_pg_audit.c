/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Audit rows and used release nonces in PostgreSQL.  A used nonce is its
 * hash as a PRIMARY KEY: of two replicas inserting one nonce, the second
 * waits for the first's transaction and then fails with unique_violation,
 * which is SKR_R_nonce_replayed.
 */
#include "broker/store_pg.h"

#include <string.h>

#include "common/util.h"

#define UNIQUE_VIOLATION "23505"

/* ---- Audit ---------------------------------------------------------------- */

/*
 * Inside a write transaction: the chain's head, locked until the
 * transaction ends, so writers on every replica append one after the other.
 */
/* The chain's head; lock: FOR UPDATE, so writers of the chain take turns. */
static int chain_head(struct pg_tx *t, bool lock, struct store_chain *head, struct skr_err *err)
{
	_cleanup_res_ PGresult *res = NULL;
	size_t len;

	if (pg_exec(t, lock ? "SELECT seq, hash FROM audit_head WHERE one FOR UPDATE"
			    : "SELECT seq, hash FROM audit_head WHERE one",
		    NULL, lock ? "cannot lock the audit chain's head" : "cannot read the audit chain's head",
		    &res, err) < 0)
		return -1;
	if (PQntuples(res) != 1 || pg_int(res, 0, 0) < 0 ||
	    pg_bytea(res, 0, 1, head->hash, SKR_AUDIT_HASH_SIZE, &len) < 0 ||
	    len != SKR_AUDIT_HASH_SIZE)
		return skr_fail(err, SKR_R_store_error, "%s: the audit chain's head is missing or "
				"damaged", t->q->desc);
	head->seq = (uint64_t)pg_int(res, 0, 0);
	return 0;
}

static int chain_lock(struct pg_tx *t, struct store_chain *head, struct skr_err *err)
{
	return chain_head(t, true, head, err);
}

static int chain_save(struct pg_tx *t, const struct store_chain *head, struct skr_err *err)
{
	struct pg_params p = { 0 };

	pg_p_int(&p, (int64_t)head->seq);
	pg_p_bytea(&p, head->hash, SKR_AUDIT_HASH_SIZE);
	return pg_exec(t, "UPDATE audit_head SET seq = $1, hash = $2 WHERE one", &p,
		       "cannot move the audit chain's head", NULL, err);
}

/* Appends r as the next link of head (which moves; chain_save stores it). */
static int chain_append(struct pg_tx *t, struct store_chain *head,
			const struct store_audit_row *r, struct skr_err *err)
{
	struct pg_params p = { 0 };
	int64_t now = skr_steady_time();
	struct store_chained link;

	if (store_chain_next(head, r, now, &link, err) < 0)
		return -1;
	pg_p_int(&p, now);
	pg_p_text(&p, r->key_id);
	pg_p_text(&p, r->client);
	pg_p_text(&p, r->action);
	pg_p_text(&p, r->verdict);
	pg_p_text(&p, r->reason);
	pg_p_text(&p, r->detail);
	pg_p_bytea(&p, r->digest, STORE_AUDIT_DIGEST_SIZE);
	pg_p_int(&p, (int64_t)link.seq);
	pg_p_bytea(&p, link.prev, SKR_AUDIT_HASH_SIZE);
	pg_p_bytea(&p, link.hash, SKR_AUDIT_HASH_SIZE);
	return pg_exec(t, "INSERT INTO audit (time, key_id, client, action, verdict, reason, "
		       "detail, evidence_digest, seq, prev, hash) "
		       "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)", &p,
		       "cannot append the audit row", NULL, err);
}

int pg_audit_insert(struct pg_tx *t, const struct store_audit_row *r, struct skr_err *err)
{
	struct store_chain head;

	return chain_lock(t, &head, err) < 0 || chain_append(t, &head, r, err) < 0 ||
	       chain_save(t, &head, err) < 0 ? -1 : 0;
}

/*
 * The migration to schema 4 (under the migration lock): the rows written
 * before it get their links, in the order of their ids, and the head.
 */
int pg_chain_existing(struct pg_tx *t, struct skr_err *err)
{
	_cleanup_res_ PGresult *res = NULL;
	struct store_chain head = { 0 };
	uint8_t digest[STORE_AUDIT_DIGEST_SIZE * 8];
	int i, c;

	if (pg_exec(t, "SELECT id, time, key_id, client, action, verdict, reason, detail, "
		       "evidence_digest FROM audit ORDER BY id", NULL, "cannot read the audit log",
		    &res, err) < 0)
		return -1;
	for (i = 0; i < PQntuples(res); i++) {
		struct skr_audit_fields f = { .time = pg_int(res, i, 1) };
		struct pg_params p = { 0 };
		struct store_chained link;

		for (c = 0; c < 6; c++) {
			f.text[c] = pg_text(res, i, c + 2);
			f.text_len[c] = f.text[c] ? strlen(f.text[c]) : 0;
		}
		if (!PQgetisnull(res, i, 8)) {
			if (pg_bytea(res, i, 8, digest, sizeof(digest), &f.digest_len) < 0)
				return skr_fail(err, SKR_R_store_error, "%s: audit row %lld has a "
						"damaged evidence digest", t->q->desc,
						(long long)pg_int(res, i, 0));
			f.digest = digest;
		}
		if (store_chain_fields(&head, &f, &link, err) < 0)
			return -1;
		pg_p_int(&p, (int64_t)link.seq);
		pg_p_bytea(&p, link.prev, SKR_AUDIT_HASH_SIZE);
		pg_p_bytea(&p, link.hash, SKR_AUDIT_HASH_SIZE);
		pg_p_int(&p, pg_int(res, i, 0));
		if (pg_exec(t, "UPDATE audit SET seq = $1, prev = $2, hash = $3 WHERE id = $4", &p,
			    "cannot chain an audit row", NULL, err) < 0)
			return -1;
	}
	return chain_save(t, &head, err);
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
	uint8_t digest[STORE_AUDIT_DIGEST_SIZE * 8];
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
				   "detail, evidence_digest, seq, prev, hash FROM audit "
				   "WHERE key_id = $2 ORDER BY seq DESC LIMIT $1"
				 : "SELECT id, time, key_id, client, action, verdict, reason, "
				   "detail, evidence_digest, seq, prev, hash FROM audit "
				   "ORDER BY seq DESC LIMIT $1",
		    &p, "cannot read the audit log", &res, err) < 0)
		return -1;
	for (i = 0; i < PQntuples(res); i++) {
		const char *text[6];
		bool have = !PQgetisnull(res, i, 8);
		uint8_t prev[SKR_AUDIT_HASH_SIZE * 8], hash[SKR_AUDIT_HASH_SIZE * 8];
		struct store_json_link link = { .seq = pg_int(res, i, 9) };

		for (c = 0; c < 6; c++)
			text[c] = pg_text(res, i, c + 2);
		if ((have && pg_bytea(res, i, 8, digest, sizeof(digest), &len) < 0) ||
		    (!PQgetisnull(res, i, 10) &&
		     pg_bytea(res, i, 10, prev, sizeof(prev), &link.prev_len) < 0) ||
		    (!PQgetisnull(res, i, 11) &&
		     pg_bytea(res, i, 11, hash, sizeof(hash), &link.hash_len) < 0))
			return skr_fail(err, SKR_R_store_error, "%s: audit row %lld has a damaged "
					"evidence digest or link", t->q->desc,
					(long long)pg_int(res, i, 0));
		link.prev = PQgetisnull(res, i, 10) ? NULL : prev;
		link.hash = PQgetisnull(res, i, 11) ? NULL : hash;
		if (store_json_audit(a->arr, pg_int(res, i, 0), pg_int(res, i, 1), text,
				     have ? digest : NULL, have ? len : 0, &link, err) < 0)
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
	struct store_chain head;
	uint64_t first;
	size_t i;

	/*
	 * The head first, before any nonce: a batch waiting on another's
	 * nonce INSERT then never holds what that one waits for.
	 */
	if (chain_lock(t, &head, err) < 0)
		return batch_refused(err);
	first = head.seq;
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
		if (chain_append(t, &head, it->row, err) < 0)
			return batch_refused(err);
	}
	/* The head moves once per batch. */
	if (head.seq != first && chain_save(t, &head, err) < 0)
		return batch_refused(err);
	return 0;
}

/* The whole batch in one transaction, one commit (one WAL flush). */
int pg_audit_batch(struct skr_store *s, struct store_batch_item *const *items, size_t n,
		   struct skr_err *err)
{
	struct batch_args a = { .items = items, .n = n };

	return pg_run(pg_of(s), PG_WRITE, batch_fn, &a, NULL, err);
}

/* ---- Checkpoints ----------------------------------------------------------- */

static int head_fn(struct pg_tx *t, void *ctx, struct skr_err *err)
{
	return chain_head(t, false, ctx, err);
}

int pg_audit_head(struct skr_store *s, struct store_chain *head, struct skr_err *err)
{
	return pg_run(pg_of(s), PG_AUTO, head_fn, head, NULL, err);
}

struct checkpoint_args {
	const struct store_chain *head;
	int64_t time;
	const uint8_t *sig;
	size_t sig_len;
};

static int checkpoint_add_fn(struct pg_tx *t, void *ctx, struct skr_err *err)
{
	const struct checkpoint_args *a = ctx;
	struct pg_params p = { 0 };

	pg_p_int(&p, (int64_t)a->head->seq);
	pg_p_bytea(&p, a->head->hash, SKR_AUDIT_HASH_SIZE);
	pg_p_int(&p, a->time);
	pg_p_bytea(&p, a->sig, a->sig_len);
	return pg_exec(t, "INSERT INTO audit_checkpoints (seq, hash, time, signature) "
		       "VALUES ($1, $2, $3, $4)", &p, "cannot store the audit checkpoint", NULL,
		       err);
}

int pg_audit_checkpoint_add(struct skr_store *s, const struct store_chain *head, int64_t time,
			    const uint8_t *sig, size_t sig_len, struct skr_err *err)
{
	struct checkpoint_args a = { .head = head, .time = time, .sig = sig, .sig_len = sig_len };

	return pg_run(pg_of(s), PG_AUTO, checkpoint_add_fn, &a, NULL, err);
}

static int checkpoints_fn(struct pg_tx *t, void *ctx, struct skr_err *err)
{
	_cleanup_res_ PGresult *res = NULL;
	uint8_t hash[SKR_AUDIT_HASH_SIZE * 8], sig[SKR_STORE_MAX_SIGNATURE * 2];
	size_t hash_len, sig_len;
	int i;

	if (pg_exec(t, "SELECT seq, hash, time, signature FROM audit_checkpoints ORDER BY id",
		    NULL, "cannot read the audit checkpoints", &res, err) < 0)
		return -1;
	for (i = 0; i < PQntuples(res); i++) {
		if (pg_bytea(res, i, 1, hash, sizeof(hash), &hash_len) < 0 ||
		    pg_bytea(res, i, 3, sig, sizeof(sig), &sig_len) < 0)
			return skr_fail(err, SKR_R_store_error, "%s: audit checkpoint %d is damaged",
					t->q->desc, i + 1);
		if (store_json_checkpoint(ctx, pg_int(res, i, 0), hash, hash_len, pg_int(res, i, 2),
					  sig, sig_len, err) < 0)
			return -1;
	}
	return 0;
}

int pg_audit_checkpoints(struct skr_store *s, json_object *arr, struct skr_err *err)
{
	return pg_run(pg_of(s), PG_AUTO, checkpoints_fn, arr, NULL, err);
}
