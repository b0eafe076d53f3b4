/* SPDX-License-Identifier: Apache-2.0 */
/* Audit rows and used release nonces in SQLite. */
#include "broker/store_sqlite.h"

#include <string.h>

#include "common/util.h"

/* ---- Audit ---------------------------------------------------------------- */

/* Inside a write transaction (which serialises every writer): the chain's head. */
static int chain_load(struct sq_store *q, struct store_chain *head, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (sq_prepare(q, "SELECT seq, hash FROM audit_head WHERE one = 1", &st, err) < 0)
		return -1;
	if (sq_step_row(q, st, "cannot read the audit chain's head", err) != 1 ||
	    sqlite3_column_bytes(st, 1) != SKR_AUDIT_HASH_SIZE || sqlite3_column_int64(st, 0) < 0)
		return skr_fail(err, SKR_R_store_error, "database %s: the audit chain's head is "
				"missing or damaged", q->path);
	head->seq = (uint64_t)sqlite3_column_int64(st, 0);
	memcpy(head->hash, sqlite3_column_blob(st, 1), SKR_AUDIT_HASH_SIZE);
	return 0;
}

static int chain_save(struct sq_store *q, const struct store_chain *head, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (sq_prepare(q, "UPDATE audit_head SET seq = ?1, hash = ?2 WHERE one = 1", &st, err) < 0 ||
	    sq_bind_int64(q, st, 1, (int64_t)head->seq, err) < 0 ||
	    sq_bind_blob(q, st, 2, head->hash, SKR_AUDIT_HASH_SIZE, err) < 0)
		return -1;
	return sq_step_done(q, st, "cannot move the audit chain's head", err);
}

/* Appends r as the next link of head (which moves; chain_save stores it). */
static int chain_append(struct sq_store *q, struct store_chain *head,
			const struct store_audit_row *r, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int64_t now = skr_steady_time();
	struct store_chained link;

	if (store_chain_next(head, r, now, &link, err) < 0 ||
	    sq_prepare(q, "INSERT INTO audit (time, key_id, client, action, verdict, reason, "
			  "detail, evidence_digest, seq, prev, hash) "
			  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
		       &st, err) < 0 ||
	    sq_bind_int64(q, st, 1, now, err) < 0 ||
	    sq_bind_text(q, st, 2, r->key_id, err) < 0 || sq_bind_text(q, st, 3, r->client, err) < 0 ||
	    sq_bind_text(q, st, 4, r->action, err) < 0 || sq_bind_text(q, st, 5, r->verdict, err) < 0 ||
	    sq_bind_text(q, st, 6, r->reason, err) < 0 || sq_bind_text(q, st, 7, r->detail, err) < 0 ||
	    sq_bind_blob(q, st, 8, r->digest, STORE_AUDIT_DIGEST_SIZE, err) < 0 ||
	    sq_bind_int64(q, st, 9, (int64_t)link.seq, err) < 0 ||
	    sq_bind_blob(q, st, 10, link.prev, SKR_AUDIT_HASH_SIZE, err) < 0 ||
	    sq_bind_blob(q, st, 11, link.hash, SKR_AUDIT_HASH_SIZE, err) < 0)
		return -1;
	return sq_step_done(q, st, "cannot append the audit row", err);
}

int sq_audit_insert(struct sq_store *q, const struct store_audit_row *r, struct skr_err *err)
{
	struct store_chain head;

	return chain_load(q, &head, err) < 0 || chain_append(q, &head, r, err) < 0 ||
	       chain_save(q, &head, err) < 0 ? -1 : 0;
}

/*
 * The migration to schema 4: the rows written before it get their links,
 * in the order of their ids (the order they were written), and the head.
 */
int sq_chain_existing(struct sq_store *q, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct store_chain head = { 0 };
	int row;

	if (sq_prepare(q, "SELECT id, time, key_id, client, action, verdict, reason, detail, "
			  "evidence_digest FROM audit ORDER BY id", &st, err) < 0)
		return -1;
	while ((row = sq_step_row(q, st, "cannot read the audit log", err)) == 1) {
		_cleanup_stmt_ sqlite3_stmt *up = NULL;
		struct skr_audit_fields f = { .time = sqlite3_column_int64(st, 1) };
		struct store_chained link;
		int i;

		for (i = 0; i < 6; i++) {
			f.text[i] = sq_text(st, i + 2);
			f.text_len[i] = (size_t)sqlite3_column_bytes(st, i + 2);
		}
		f.digest = sqlite3_column_blob(st, 8);
		f.digest_len = (size_t)sqlite3_column_bytes(st, 8);
		if (store_chain_fields(&head, &f, &link, err) < 0 ||
		    sq_prepare(q, "UPDATE audit SET seq = ?1, prev = ?2, hash = ?3 WHERE id = ?4", &up,
			       err) < 0 ||
		    sq_bind_int64(q, up, 1, (int64_t)link.seq, err) < 0 ||
		    sq_bind_blob(q, up, 2, link.prev, SKR_AUDIT_HASH_SIZE, err) < 0 ||
		    sq_bind_blob(q, up, 3, link.hash, SKR_AUDIT_HASH_SIZE, err) < 0 ||
		    sq_bind_int64(q, up, 4, sqlite3_column_int64(st, 0), err) < 0 ||
		    sq_step_done(q, up, "cannot chain an audit row", err) < 0)
			return -1;
	}
	return row < 0 ? -1 : chain_save(q, &head, err);
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
				      "detail, evidence_digest, seq, prev, hash FROM audit "
				      "WHERE key_id = ?2 ORDER BY seq DESC LIMIT ?1"
				    : "SELECT id, time, key_id, client, action, verdict, reason, "
				      "detail, evidence_digest, seq, prev, hash FROM audit "
				      "ORDER BY seq DESC LIMIT ?1",
		       &st, err) < 0 ||
	    sq_bind_int64(q, st, 1, a->limit ? (int64_t)a->limit : -1, err) < 0 ||
	    (a->key_id && sq_bind_text(q, st, 2, a->key_id, err) < 0))
		return -1;
	while ((row = sq_step_row(q, st, "cannot read the audit log", err)) == 1) {
		const char *text[6];
		const void *digest;
		struct store_json_link link = {
			.seq = sqlite3_column_int64(st, 9),
			.prev = sqlite3_column_blob(st, 10),
			.prev_len = (size_t)sqlite3_column_bytes(st, 10),
			.hash = sqlite3_column_blob(st, 11),
			.hash_len = (size_t)sqlite3_column_bytes(st, 11),
		};
		int i;

		for (i = 0; i < 6; i++)
			text[i] = sq_text(st, i + 2);
		digest = sqlite3_column_blob(st, 8);
		if (store_json_audit(a->arr, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
				     text, digest, (size_t)sqlite3_column_bytes(st, 8), &link,
				     err) < 0)
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
	struct store_chain head;
	uint64_t first;
	size_t i;

	if (chain_load(q, &head, err) < 0)
		return store_audit_refused(err);
	first = head.seq;
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
		if (chain_append(q, &head, it->row, err) < 0)
			return store_audit_refused(err);
	}
	/* The head moves once per batch. */
	if (head.seq != first && chain_save(q, &head, err) < 0)
		return store_audit_refused(err);
	return 0;
}

/* The whole batch in one transaction, one commit (one fsync). */
int sq_audit_batch(struct skr_store *s, struct store_batch_item *const *items, size_t n,
		   struct skr_err *err)
{
	struct batch_args a = { .items = items, .n = n };

	return sq_tx(sq_of(s), SQ_WRITE, batch_locked, &a, NULL, err);
}

/* ---- Checkpoints ----------------------------------------------------------- */

static int head_locked(struct sq_store *q, void *ctx, struct skr_err *err)
{
	return chain_load(q, ctx, err);
}

int sq_audit_head(struct skr_store *s, struct store_chain *head, struct skr_err *err)
{
	return sq_tx(sq_of(s), SQ_READ, head_locked, head, NULL, err);
}

struct checkpoint_args {
	const struct store_chain *head;
	int64_t time;
	const uint8_t *sig;
	size_t sig_len;
};

static int checkpoint_add_locked(struct sq_store *q, void *ctx, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	const struct checkpoint_args *a = ctx;

	if (sq_prepare(q, "INSERT INTO audit_checkpoints (seq, hash, time, signature) "
			  "VALUES (?1, ?2, ?3, ?4)", &st, err) < 0 ||
	    sq_bind_int64(q, st, 1, (int64_t)a->head->seq, err) < 0 ||
	    sq_bind_blob(q, st, 2, a->head->hash, SKR_AUDIT_HASH_SIZE, err) < 0 ||
	    sq_bind_int64(q, st, 3, a->time, err) < 0 ||
	    sq_bind_blob(q, st, 4, a->sig, a->sig_len, err) < 0)
		return -1;
	return sq_step_done(q, st, "cannot store the audit checkpoint", err);
}

int sq_audit_checkpoint_add(struct skr_store *s, const struct store_chain *head, int64_t time,
			    const uint8_t *sig, size_t sig_len, struct skr_err *err)
{
	struct checkpoint_args a = { .head = head, .time = time, .sig = sig, .sig_len = sig_len };

	return sq_tx(sq_of(s), SQ_WRITE, checkpoint_add_locked, &a, NULL, err);
}

static int checkpoints_locked(struct sq_store *q, void *ctx, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int row;

	if (sq_prepare(q, "SELECT seq, hash, time, signature FROM audit_checkpoints ORDER BY id",
		       &st, err) < 0)
		return -1;
	while ((row = sq_step_row(q, st, "cannot read the audit checkpoints", err)) == 1)
		if (store_json_checkpoint(ctx, sqlite3_column_int64(st, 0),
					  sqlite3_column_blob(st, 1),
					  (size_t)sqlite3_column_bytes(st, 1),
					  sqlite3_column_int64(st, 2), sqlite3_column_blob(st, 3),
					  (size_t)sqlite3_column_bytes(st, 3), err) < 0)
			return -1;
	return row;
}

int sq_audit_checkpoints(struct skr_store *s, json_object *arr, struct skr_err *err)
{
	return sq_locked(sq_of(s), checkpoints_locked, arr, err);
}
