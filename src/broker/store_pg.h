/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PostgreSQL backend of the store (store_int.h), private to its files:
 *   store_pg.c          the connection pool, queries, the transaction
 *                       wrapper, open, close, version, durability, ops table
 *   store_pg_schema.c   migrations and the master key check row
 *   store_pg_keys.c     keys
 *   store_pg_refsets.c  reference sets: add, remove, list, and reseal
 *   store_pg_audit.c    audit rows (the group commit's batches) and used nonces
 *   store_pg_master.c   master key rotation and the claim on the database
 *
 * Several brokers (replicas) share one database: every rule a replica must
 * honour lives in it.  A used nonce is a PRIMARY KEY row (an INSERT that a
 * second replica's INSERT of the same nonce fails with unique_violation);
 * writes to one key lock that key's row first (SELECT ... FOR UPDATE), so
 * two replicas' reseal submissions or commits of one key run one after the
 * other, each seeing the other's rows; every write to keys or reference sets
 * increments the one row of store_version in its transaction, which is what
 * a replica's key cache compares on each request.
 *
 * A connection that fails (the server stopped, restarted, failed over) makes
 * the call fail with SKR_R_store_unavailable and is dropped; the next call
 * connects again (all hosts of a multi-host connection string, in order).
 */
#ifndef SKR_STORE_PG_H
#define SKR_STORE_PG_H

#include <pthread.h>
#include <stdatomic.h>

#include <libpq-fe.h>

#include "broker/store_int.h"
#include "common/cleanup.h"

SKR_DEFINE_FREEP(PGresult, PQclear)
#define _cleanup_res_ _cleanup_(PQclearp)

/*
 * Connections per store.  A commit waits for the server's WAL flush (a
 * network round trip and an fsync) while holding its connection: with one
 * connection every release would queue behind every other's round trips, so
 * the broker's handler threads get a few connections to overlap them.  Few:
 * each replica holds them all at worst, and a fleet of replicas must stay
 * well under the server's max_connections (100 by default).
 */
#define PG_POOL 4
#define PG_MAX_PARAMS 12

struct pg_conn {
	PGconn *c;		/* NULL: not connected (yet, or dropped after a failure) */
	bool busy;
};

struct pg_store {
	struct skr_store base;	/* first: a struct skr_store * is a struct pg_store * */
	pthread_mutex_t lock;	/* guards conns[].busy and the pool's wait */
	pthread_cond_t freed;
	struct pg_conn conns[PG_POOL];
	char *conninfo;		/* as configured: may hold a password, never shown */
	char *desc;		/* "PostgreSQL database D on H:P": what errors name */
	atomic_uint_fast64_t changes;	/* keys and reference sets written through this store */
	atomic_uint_fast64_t nonce_uses;	/* for the periodic purge */
	pthread_mutex_t claim_lock;	/* guards claim and exclusive */
	struct pg_conn claim;	/* holds the advisory lock (store_pg_master.c) */
	bool exclusive;		/* ... exclusively: a rotation's store */
};

static inline struct pg_store *pg_of(struct skr_store *s)
{
	return (struct pg_store *)s;
}

/* One operation's connection, taken from the pool for the operation. */
struct pg_tx {
	struct pg_store *q;
	struct pg_conn *conn;
	char sqlstate[6];	/* of the last failed statement, "" otherwise */
};

/* A connection of the store's (a pooled one, or the claim's), and its end. */
int pg_conn_open(struct pg_store *q, struct pg_conn *conn, struct skr_err *err);
void pg_conn_drop(struct pg_conn *conn);

/* Statement parameters: text (NULL is SQL NULL), bytea (binary), integers. */
struct pg_params {
	int n;
	const char *v[PG_MAX_PARAMS];
	int len[PG_MAX_PARAMS];
	int fmt[PG_MAX_PARAMS];
	char num[PG_MAX_PARAMS][24];
};

void pg_p_text(struct pg_params *p, const char *v);
/* NULL v is SQL NULL. */
void pg_p_bytea(struct pg_params *p, const void *v, size_t len);
void pg_p_int(struct pg_params *p, int64_t v);

/*
 * Runs sql (parameters $1.. from p; without p, the simple protocol, which
 * also runs several statements: migrations) on the operation's
 * connection; *res (when res is not NULL) holds the result to PQclear.
 * Failures: SKR_R_store_unavailable when the connection failed (the
 * connection is dropped), else SKR_R_store_error naming what failed and the
 * server's message; t->sqlstate says which.
 */
int pg_exec(struct pg_tx *t, const char *sql, const struct pg_params *p, const char *what,
	    PGresult **res, struct skr_err *err);
/* Rows a command changed (UPDATE, DELETE). */
unsigned pg_changed(PGresult *res);
int64_t pg_int(PGresult *res, int row, int col);
/* NULL for SQL NULL. */
const char *pg_text(PGresult *res, int row, int col);
/* A bytea column into out (at most max bytes); -1 when it does not fit or is NULL. */
int pg_bytea(PGresult *res, int row, int col, uint8_t *out, size_t max, size_t *len);

/*
 * The one way the backend runs an operation: fn(t, ctx, err) on a pooled
 * connection, in a transaction of kind:
 *   PG_AUTO    no transaction: fn runs one statement (autocommit);
 *   PG_WRITE   BEGIN ... COMMIT (READ COMMITTED: each statement sees what
 *              other replicas committed before it; fn locks what it must);
 *   PG_CHANGE  PG_WRITE to keys or reference sets: store_version's row is
 *              incremented in the transaction (what every replica's key
 *              cache compares).
 * With audit, the row is appended after fn succeeded, in the same
 * transaction; a row that cannot be written is SKR_R_audit_failed (but
 * SKR_R_store_unavailable when the database went away meanwhile).  COMMIT
 * when everything succeeded, else ROLLBACK.  Returns 0 only when committed.
 */
enum pg_kind {
	PG_AUTO,
	PG_WRITE,
	PG_CHANGE,
};

typedef int (*pg_fn)(struct pg_tx *t, void *ctx, struct skr_err *err);

int pg_run(struct pg_store *q, enum pg_kind kind, pg_fn fn, void *ctx,
	   const struct store_audit_row *audit, struct skr_err *err);

/*
 * Inside a write transaction: locks the key's row until the transaction
 * ends (writes to one key from several replicas run one after the other);
 * SKR_R_key_unknown when there is no such key.
 */
int pg_lock_key(struct pg_tx *t, const char *key_id, struct skr_err *err);

/* ---- Per file ------------------------------------------------------------- */

/* store_pg_schema.c: migrates to SKR_STORE_SCHEMA_VERSION, checks the master key. */
int pg_migrate(struct pg_tx *t, void *check, struct skr_err *err);

/* store_pg_master.c */
/* The check values: 1, 0 when there is none yet, -1. */
int pg_master_read(struct pg_tx *t, struct store_master *m, struct skr_err *err);
int pg_master_get(struct skr_store *s, struct store_master *m, struct skr_err *err);
int pg_master_begin(struct skr_store *s, const uint8_t cur[STORE_CHECK_SIZE],
		    const uint8_t next[STORE_CHECK_SIZE], const struct store_audit_row *audit,
		    struct skr_err *err);
int pg_master_finish(struct skr_store *s, const uint8_t cur[STORE_CHECK_SIZE],
		     const uint8_t next[STORE_CHECK_SIZE], const struct store_audit_row *audit,
		     struct skr_err *err);
int pg_key_reseal(struct skr_store *s, const char *key_id, const struct store_sealed *from,
		  const struct store_sealed *to, struct skr_err *err);
/*
 * The store's shared claim on the database (its advisory lock), taken again
 * when its connection was lost: SKR_R_store_error while a rotation holds
 * the database exclusively.
 */
int pg_claim(struct pg_store *q, struct skr_err *err);
int pg_exclusive(struct skr_store *s, struct skr_err *err);

/* store_pg_keys.c */
int pg_key_create(struct skr_store *s, const char *key_id, const struct store_sealed *secret,
		  const char *policy, const struct store_audit_row *audit, struct skr_err *err);
int pg_key_sealed(struct skr_store *s, const char *key_id, struct store_sealed *out,
		  struct skr_err *err);
int pg_key_policy(struct skr_store *s, const char *key_id, char **policy, struct skr_err *err);
int pg_key_set_policy(struct skr_store *s, const char *key_id, const char *policy,
		      const struct store_audit_row *audit, struct skr_err *err);
int pg_key_delete(struct skr_store *s, const char *key_id, const struct store_audit_row *audit,
		  struct skr_err *err);
int pg_key_list(struct skr_store *s, json_object *arr, struct skr_err *err);

/* store_pg_refsets.c */
int pg_refset_add(struct skr_store *s, const char *key_id, const char *label, const char *state,
		  const char *pcrs, int64_t *id_out, const struct store_audit_row *audit,
		  struct skr_err *err);
int pg_refset_remove(struct skr_store *s, const char *key_id, int64_t id,
		     const struct store_audit_row *audit, struct skr_err *err);
int pg_refset_list(struct skr_store *s, const char *key_id, json_object *arr,
		   struct skr_err *err);
int pg_refset_submit(struct skr_store *s, const char *key_id, const char *label,
		     const char *state, const char *pcrs, const char *note, bool may_supersede,
		     struct skr_store_submit *out, struct store_audit_row *audit,
		     struct skr_err *err);
int pg_refset_approve(struct skr_store *s, const char *key_id, int64_t id,
		      const struct store_audit_row *audit, struct skr_err *err);
int pg_refset_commit(struct skr_store *s, const char *key_id, int64_t id, unsigned keep_retired,
		     struct skr_store_commit *out, struct store_audit_row *audit,
		     struct skr_err *err);
int pg_refset_withdraw(struct skr_store *s, const char *key_id, const char *label,
		       unsigned *removed, struct store_audit_row *audit, struct skr_err *err);

/* store_pg_audit.c */
/* Inside a transaction (or alone): appends the row. */
int pg_audit_insert(struct pg_tx *t, const struct store_audit_row *row, struct skr_err *err);
/* Inside the migration's transaction: links every row written before schema 4. */
int pg_chain_existing(struct pg_tx *t, struct skr_err *err);
int pg_audit_head(struct skr_store *s, struct store_chain *head, struct skr_err *err);
int pg_audit_checkpoint_add(struct skr_store *s, const struct store_chain *head, int64_t time,
			    const uint8_t *sig, size_t sig_len, struct skr_err *err);
int pg_audit_checkpoints(struct skr_store *s, json_object *arr, struct skr_err *err);
int pg_audit_batch(struct skr_store *s, struct store_batch_item *const *items, size_t n,
		   struct skr_err *err);
int pg_audit_query(struct skr_store *s, const char *key_id, unsigned limit, json_object *arr,
		   struct skr_err *err);
int pg_nonce_use(struct skr_store *s, const uint8_t hash[STORE_NONCE_HASH_SIZE], time_t expires,
		 time_t now, struct skr_err *err);
int pg_nonce_check(struct skr_store *s, const uint8_t hash[STORE_NONCE_HASH_SIZE],
		   struct skr_err *err);

#endif
