/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SQLite backend of the store (store_int.h), private to its files:
 *   store_sqlite.c         the connection, statements, transactions, open,
 *                          close, version and durability, the ops table
 *   store_sqlite_schema.c  migrations and the master key check row
 *   store_sqlite_keys.c    keys
 *   store_sqlite_refsets.c reference sets: add, remove, list
 *   store_sqlite_reseal.c  reseal: submit, approve, commit, withdraw
 *   store_sqlite_audit.c   audit rows and used nonces
 *   store_sqlite_master.c  master key check values, rotation, the claim
 * One connection per store (WAL, synchronous=FULL), serialised by a mutex.
 */
#ifndef SKR_STORE_SQLITE_H
#define SKR_STORE_SQLITE_H

#include <pthread.h>

#include <sqlite3.h>

#include "broker/store_int.h"
#include "common/cleanup.h"

/* Every statement's SQL is a constant: prepared once, reset after each use. */
#define SQ_STMT_CACHE 48

struct sq_store {
	struct skr_store base;	/* first: a struct skr_store * is a struct sq_store * */
	pthread_mutex_t lock;
	sqlite3 *db;
	struct {
		const char *sql;
		sqlite3_stmt *stmt;
	} stmts[SQ_STMT_CACHE];
	size_t n_stmts;
	uint64_t changes;	/* keys and reference sets written through this store */
	uint64_t nonce_uses;	/* nonce_use calls, for the periodic purge */
	char *path;
	int lock_fd;		/* PATH.lock, flock'ed shared (exclusive: ops exclusive) */
};

static inline struct sq_store *sq_of(struct skr_store *s)
{
	return (struct sq_store *)s;
}

/*
 * Statements belong to the store's cache: done with, they are reset (and
 * their bindings cleared), not finalized.  Under the store's lock only: a
 * `_cleanup_stmt_ sqlite3_stmt *st` lives in a function the lock covers.
 */
static inline void sq_stmt_release(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

SKR_DEFINE_FREEP(sqlite3_stmt, sq_stmt_release)
#define _cleanup_stmt_ _cleanup_(sq_stmt_releasep)

/* SKR_R_store_error naming the database, what failed and SQLite's message. */
int sq_fail(struct sq_store *q, const char *what, struct skr_err *err);
/* The cached statement for sql (a constant: compared by address). */
int sq_prepare(struct sq_store *q, const char *sql, sqlite3_stmt **stmt, struct skr_err *err);
/* Constant SQL without parameters (pragmas, migrations). */
int sq_exec(struct sq_store *q, const char *sql, const char *what, struct skr_err *err);
/* NULL v binds NULL. */
int sq_bind_text(struct sq_store *q, sqlite3_stmt *st, int i, const char *v,
		 struct skr_err *err);
int sq_bind_blob(struct sq_store *q, sqlite3_stmt *st, int i, const void *v, size_t len,
		 struct skr_err *err);
int sq_bind_int64(struct sq_store *q, sqlite3_stmt *st, int i, int64_t v, struct skr_err *err);
/* A statement that returns no rows. */
int sq_step_done(struct sq_store *q, sqlite3_stmt *st, const char *what, struct skr_err *err);
/* One row (1) or none (0); -1 on error. */
int sq_step_row(struct sq_store *q, sqlite3_stmt *st, const char *what, struct skr_err *err);
/* Column text, NULL for SQL NULL. */
static inline const char *sq_text(sqlite3_stmt *st, int col)
{
	return (const char *)sqlite3_column_text(st, col);
}

/*
 * The one way the backend runs an operation: fn(q, ctx, err) under the
 * store's lock, in a transaction of kind:
 *   SQ_READ    BEGIN DEFERRED: several reads see one snapshot;
 *   SQ_WRITE   BEGIN IMMEDIATE: the write lock up front, so a busy database
 *              shows at BEGIN (after the connection's busy timeout), never
 *              halfway through;
 *   SQ_CHANGE  SQ_WRITE to keys or reference sets: once committed, the
 *              store's version moves (what the broker's key cache compares).
 * With audit, the row is appended after fn succeeded, in the same
 * transaction; a row that cannot be written is SKR_R_audit_failed.  COMMIT
 * when everything succeeded, else ROLLBACK (also when the COMMIT itself
 * failed, a busy COMMIT included: nothing is retried halfway), unless
 * SQLite already rolled back.  Returns 0 only when committed.
 */
enum sq_tx {
	SQ_READ,
	SQ_WRITE,
	SQ_CHANGE,
};

typedef int (*sq_fn)(struct sq_store *q, void *ctx, struct skr_err *err);

int sq_tx(struct sq_store *q, enum sq_tx kind, sq_fn fn, void *ctx,
	  const struct store_audit_row *audit, struct skr_err *err);
/* fn under the store's lock, without a transaction (a single statement). */
int sq_locked(struct sq_store *q, sq_fn fn, void *ctx, struct skr_err *err);

/* Inside a transaction: 1 if the key exists, 0 if not, -1 on error. */
int sq_key_exists(struct sq_store *q, const char *key_id, struct skr_err *err);
/* SKR_R_key_unknown when the key does not exist. */
int sq_require_key(struct sq_store *q, const char *key_id, struct skr_err *err);

/* ---- Per file ------------------------------------------------------------- */

/* store_sqlite_schema.c: migrates to SKR_STORE_SCHEMA_VERSION (in a transaction). */
int sq_migrate(struct sq_store *q, void *check, struct skr_err *err);

/* store_sqlite_keys.c */
int sq_key_create(struct skr_store *s, const char *key_id, const struct store_sealed *secret,
		  const char *policy, const struct store_audit_row *audit, struct skr_err *err);
int sq_key_sealed(struct skr_store *s, const char *key_id, struct store_sealed *out,
		  struct skr_err *err);
int sq_key_policy(struct skr_store *s, const char *key_id, char **policy, struct skr_err *err);
int sq_key_set_policy(struct skr_store *s, const char *key_id, const char *policy,
		      const struct store_audit_row *audit, struct skr_err *err);
int sq_key_delete(struct skr_store *s, const char *key_id, const struct store_audit_row *audit,
		  struct skr_err *err);
int sq_key_list(struct skr_store *s, json_object *arr, struct skr_err *err);

/* store_sqlite_refsets.c */
int sq_refset_add(struct skr_store *s, const char *key_id, const char *label, const char *state,
		  const char *pcrs, int64_t *id_out, const struct store_audit_row *audit,
		  struct skr_err *err);
int sq_refset_remove(struct skr_store *s, const char *key_id, int64_t id,
		     const struct store_audit_row *audit, struct skr_err *err);
int sq_refset_list(struct skr_store *s, const char *key_id, json_object *arr,
		   struct skr_err *err);
/* Inside a transaction: the INSERT of a set (the key checked). */
int sq_refset_insert(struct sq_store *q, const char *key_id, const char *label,
		     const char *state, const char *pcrs, int64_t *id_out, struct skr_err *err);

/* store_sqlite_reseal.c */
int sq_refset_submit(struct skr_store *s, const char *key_id, const char *label,
		     const char *state, const char *pcrs, const char *note, bool may_supersede,
		     struct skr_store_submit *out, struct store_audit_row *audit,
		     struct skr_err *err);
int sq_refset_approve(struct skr_store *s, const char *key_id, int64_t id,
		      const struct store_audit_row *audit, struct skr_err *err);
int sq_refset_commit(struct skr_store *s, const char *key_id, int64_t id, unsigned keep_retired,
		     struct skr_store_commit *out, struct store_audit_row *audit,
		     struct skr_err *err);
int sq_refset_withdraw(struct skr_store *s, const char *key_id, const char *label,
		       unsigned *removed, struct store_audit_row *audit, struct skr_err *err);

/* store_sqlite_audit.c */
/* Inside a transaction: appends the row. */
int sq_audit_insert(struct sq_store *q, const struct store_audit_row *row, struct skr_err *err);
/* Inside the migration's transaction: links every row written before schema 4. */
int sq_chain_existing(struct sq_store *q, struct skr_err *err);
int sq_audit_head(struct skr_store *s, struct store_chain *head, struct skr_err *err);
int sq_audit_checkpoint_add(struct skr_store *s, const struct store_chain *head, int64_t time,
			    const uint8_t *sig, size_t sig_len, struct skr_err *err);
int sq_audit_checkpoints(struct skr_store *s, json_object *arr, struct skr_err *err);
int sq_audit_batch(struct skr_store *s, struct store_batch_item *const *items, size_t n,
		   struct skr_err *err);
int sq_audit_query(struct skr_store *s, const char *key_id, unsigned limit, json_object *arr,
		   struct skr_err *err);
int sq_nonce_use(struct skr_store *s, const uint8_t hash[STORE_NONCE_HASH_SIZE], time_t expires,
		 time_t now, struct skr_err *err);
int sq_nonce_check(struct skr_store *s, const uint8_t hash[STORE_NONCE_HASH_SIZE],
		   struct skr_err *err);

/* store_sqlite_master.c */
/* Inside a transaction: the check values; 0 when none is stored yet (a new database). */
int sq_master_read(struct sq_store *q, struct store_master *m, struct skr_err *err);
/* The shared claim on PATH.lock (at open); SKR_R_store_error when it is held exclusively. */
int sq_claim_shared(struct sq_store *q, struct skr_err *err);
int sq_master_get(struct skr_store *s, struct store_master *m, struct skr_err *err);
int sq_master_begin(struct skr_store *s, const uint8_t cur[STORE_CHECK_SIZE],
		    const uint8_t next[STORE_CHECK_SIZE], const struct store_audit_row *audit,
		    struct skr_err *err);
int sq_master_finish(struct skr_store *s, const uint8_t cur[STORE_CHECK_SIZE],
		     const uint8_t next[STORE_CHECK_SIZE], const struct store_audit_row *audit,
		     struct skr_err *err);
int sq_key_reseal(struct skr_store *s, const char *key_id, const struct store_sealed *from,
		  const struct store_sealed *to, struct skr_err *err);
int sq_exclusive(struct skr_store *s, struct skr_err *err);

#endif
