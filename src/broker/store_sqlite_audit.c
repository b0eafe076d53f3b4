/* SPDX-License-Identifier: Apache-2.0 */
/* Audit rows and used release nonces in SQLite. */
#include "broker/store_sqlite.h"

/* ---- Audit ---------------------------------------------------------------- */

int sq_audit_insert(struct sq_store *q, const struct store_audit_row *r, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (sq_prepare(q, "INSERT INTO audit (time, key_id, client, action, verdict, reason, "
			  "detail, evidence_digest) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
		       &st, err) < 0 ||
	    sq_bind_int64(q, st, 1, (int64_t)time(NULL), err) < 0 ||
	    sq_bind_text(q, st, 2, r->key_id, err) < 0 || sq_bind_text(q, st, 3, r->client, err) < 0 ||
	    sq_bind_text(q, st, 4, r->action, err) < 0 || sq_bind_text(q, st, 5, r->verdict, err) < 0 ||
	    sq_bind_text(q, st, 6, r->reason, err) < 0 || sq_bind_text(q, st, 7, r->detail, err) < 0 ||
	    sq_bind_blob(q, st, 8, r->digest, STORE_AUDIT_DIGEST_SIZE, err) < 0)
		return -1;
	return sq_step_done(q, st, "cannot append the audit row", err);
}

struct audit_query_args {
	const char *key_id;
	unsigned limit;
	json_object *arr;
};

static int audit_query_locked(struct sq_store *q, void *ctx, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	const struct audit_query_args *a = ctx;
	int row;

	if (sq_prepare(q, a->key_id ? "SELECT id, time, key_id, client, action, verdict, reason, "
				      "detail, evidence_digest FROM audit WHERE key_id = ?2 "
				      "ORDER BY id DESC LIMIT ?1"
				    : "SELECT id, time, key_id, client, action, verdict, reason, "
				      "detail, evidence_digest FROM audit ORDER BY id DESC LIMIT ?1",
		       &st, err) < 0 ||
	    sq_bind_int64(q, st, 1, a->limit ? (int64_t)a->limit : -1, err) < 0 ||
	    (a->key_id && sq_bind_text(q, st, 2, a->key_id, err) < 0))
		return -1;
	while ((row = sq_step_row(q, st, "cannot read the audit log", err)) == 1) {
		const char *text[6];
		const void *digest;
		int i;

		for (i = 0; i < 6; i++)
			text[i] = sq_text(st, i + 2);
		digest = sqlite3_column_blob(st, 8);
		if (store_json_audit(a->arr, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
				     text, digest, (size_t)sqlite3_column_bytes(st, 8), err) < 0)
			return -1;
	}
	return row;
}

int sq_audit_query(struct skr_store *s, const char *key_id, unsigned limit, json_object *arr,
		   struct skr_err *err)
{
	struct audit_query_args a = { .key_id = key_id, .limit = limit, .arr = arr };

	return sq_locked(sq_of(s), audit_query_locked, &a, err);
}

/* ---- Used nonces ---------------------------------------------------------- */

/* Expired nonces are deleted every this many uses (and at the first use after open). */
#define NONCE_PURGE_EVERY 256

struct nonce_args {
	const uint8_t *hash;
	time_t expires, now;
};

static int nonce_purge_locked(struct sq_store *q, time_t now, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (sq_prepare(q, "DELETE FROM used_nonces WHERE expires < ?1", &st, err) < 0 ||
	    sq_bind_int64(q, st, 1, (int64_t)now, err) < 0)
		return -1;
	return sq_step_done(q, st, "cannot purge expired nonces", err);
}

static int nonce_use_locked(struct sq_store *q, void *ctx, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	const struct nonce_args *a = ctx;
	int rc;

	if (q->nonce_uses++ % NONCE_PURGE_EVERY == 0 && nonce_purge_locked(q, a->now, err) < 0)
		return -1;
	if (sq_prepare(q, "INSERT INTO used_nonces (nonce_hash, expires) VALUES (?1, ?2)", &st,
		       err) < 0 ||
	    sq_bind_blob(q, st, 1, a->hash, STORE_NONCE_HASH_SIZE, err) < 0 ||
	    sq_bind_int64(q, st, 2, (int64_t)a->expires, err) < 0)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return 0;
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		return skr_fail(err, SKR_R_nonce_replayed, "nonce was already used");
	return sq_fail(q, "cannot record the used nonce", err);
}

int sq_nonce_use(struct skr_store *s, const uint8_t hash[STORE_NONCE_HASH_SIZE], time_t expires,
		 time_t now, struct skr_err *err)
{
	struct nonce_args a = { .hash = hash, .expires = expires, .now = now };

	return sq_locked(sq_of(s), nonce_use_locked, &a, err);
}

static int nonce_check_locked(struct sq_store *q, void *ctx, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc;

	if (sq_prepare(q, "SELECT 1 FROM used_nonces WHERE nonce_hash = ?1", &st, err) < 0 ||
	    sq_bind_blob(q, st, 1, ctx, STORE_NONCE_HASH_SIZE, err) < 0)
		return -1;
	rc = sq_step_row(q, st, "cannot look up the nonce", err);
	if (rc == 1)
		return skr_fail(err, SKR_R_nonce_replayed, "nonce was already used");
	return rc;
}

int sq_nonce_check(struct skr_store *s, const uint8_t hash[STORE_NONCE_HASH_SIZE],
		   struct skr_err *err)
{
	return sq_locked(sq_of(s), nonce_check_locked, (void *)hash, err);
}

struct batch_args {
	struct store_batch_item *const *items;
	size_t n;
};

/*
 * Each item's nonce, then its row.  A used nonce fails only its INSERT
 * (SQLite undoes a failed statement and the transaction goes on), so the
 * item is marked replayed and the next one follows; anything else fails
 * the transaction, and sq_tx rolls it back.
 */
static int batch_locked(struct sq_store *q, void *ctx, struct skr_err *err)
{
	const struct batch_args *a = ctx;
	size_t i;

	for (i = 0; i < a->n; i++) {
		struct store_batch_item *it = a->items[i];

		it->replayed = false;
		if (it->nonce_hash) {
			struct nonce_args na = { .hash = it->nonce_hash, .expires = it->expires,
						 .now = it->now };
			struct skr_err e = { 0 };

			if (nonce_use_locked(q, &na, &e) < 0) {
				if (e.reason != SKR_R_nonce_replayed) {
					*err = e;
					return -1;
				}
				it->replayed = true;
				continue;
			}
		}
		if (sq_audit_insert(q, it->row, err) < 0)
			return store_audit_refused(err);
	}
	return 0;
}

/* The whole batch in one transaction, one commit (one fsync). */
int sq_audit_batch(struct skr_store *s, struct store_batch_item *const *items, size_t n,
		   struct skr_err *err)
{
	struct batch_args a = { .items = items, .n = n };

	return sq_tx(sq_of(s), SQ_WRITE, batch_locked, &a, NULL, err);
}
