/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SQLite backend: its connection (WAL, synchronous=FULL, foreign keys,
 * defensive mode), the statement cache and the helpers every file of the
 * backend uses, the one transaction wrapper, open and close, the version a
 * key cache compares, the durability gauges, and the ops table.
 */
#include "broker/store_sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUSY_TIMEOUT_MS 5000

/* ---- Helpers -------------------------------------------------------------- */

/*
 * A database (or its journal) that cannot grow is store_full, not a generic
 * store_error: the release and admin paths answer it 503 with that reason,
 * and nothing is written (SQLite rolls the statement and the transaction
 * back; the file stays consistent).
 */
int sq_fail(struct sq_store *q, const char *what, struct skr_err *err)
{
	if (sqlite3_errcode(q->db) == SQLITE_FULL)
		return skr_fail(err, SKR_R_store_full, "database %s: %s: %s (out of space)",
				q->path, what, sqlite3_errmsg(q->db));
	return skr_fail(err, SKR_R_store_error, "database %s: %s: %s", q->path, what,
			sqlite3_errmsg(q->db));
}

int sq_prepare(struct sq_store *q, const char *sql, sqlite3_stmt **stmt, struct skr_err *err)
{
	size_t i;

	*stmt = NULL;
	for (i = 0; i < q->n_stmts; i++)
		if (q->stmts[i].sql == sql) {
			*stmt = q->stmts[i].stmt;
			return 0;
		}
	if (q->n_stmts == SQ_STMT_CACHE)
		return skr_fail(err, SKR_R_store_error, "statement cache full (raise SQ_STMT_CACHE)");
	if (sqlite3_prepare_v3(q->db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, NULL) != SQLITE_OK)
		return sq_fail(q, "cannot prepare a statement", err);
	q->stmts[q->n_stmts].sql = sql;
	q->stmts[q->n_stmts++].stmt = *stmt;
	return 0;
}

int sq_exec(struct sq_store *q, const char *sql, const char *what, struct skr_err *err)
{
	if (sqlite3_exec(q->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return sq_fail(q, what, err);
	return 0;
}

int sq_bind_text(struct sq_store *q, sqlite3_stmt *st, int i, const char *v, struct skr_err *err)
{
	int rc = v ? sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);

	if (rc != SQLITE_OK)
		return sq_fail(q, "cannot bind a parameter", err);
	return 0;
}

int sq_bind_blob(struct sq_store *q, sqlite3_stmt *st, int i, const void *v, size_t len,
		 struct skr_err *err)
{
	int rc = v ? sqlite3_bind_blob(st, i, v, (int)len, SQLITE_TRANSIENT)
		   : sqlite3_bind_null(st, i);

	if (rc != SQLITE_OK)
		return sq_fail(q, "cannot bind a parameter", err);
	return 0;
}

int sq_bind_int64(struct sq_store *q, sqlite3_stmt *st, int i, int64_t v, struct skr_err *err)
{
	if (sqlite3_bind_int64(st, i, v) != SQLITE_OK)
		return sq_fail(q, "cannot bind a parameter", err);
	return 0;
}

int sq_step_done(struct sq_store *q, sqlite3_stmt *st, const char *what, struct skr_err *err)
{
	if (sqlite3_step(st) != SQLITE_DONE)
		return sq_fail(q, what, err);
	return 0;
}

int sq_step_row(struct sq_store *q, sqlite3_stmt *st, const char *what, struct skr_err *err)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return sq_fail(q, what, err);
}

int sq_key_exists(struct sq_store *q, const char *key_id, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (sq_prepare(q, "SELECT 1 FROM keys WHERE key_id = ?1", &st, err) < 0 ||
	    sq_bind_text(q, st, 1, key_id, err) < 0)
		return -1;
	return sq_step_row(q, st, "cannot look the key up", err);
}

int sq_require_key(struct sq_store *q, const char *key_id, struct skr_err *err)
{
	int rc = sq_key_exists(q, key_id, err);

	if (rc < 0)
		return -1;
	if (rc == 0)
		return skr_fail(err, SKR_R_key_unknown, "there is no key %s", key_id);
	return 0;
}

/* ---- Transactions --------------------------------------------------------- */

int sq_locked(struct sq_store *q, sq_fn fn, void *ctx, struct skr_err *err)
{
	int rc;

	pthread_mutex_lock(&q->lock);
	rc = fn(q, ctx, err);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

static int tx_run(struct sq_store *q, enum sq_tx kind, sq_fn fn, void *ctx,
		  const struct store_audit_row *audit, struct skr_err *err)
{
	int rc;

	if (sq_exec(q, kind == SQ_READ ? "BEGIN DEFERRED" : "BEGIN IMMEDIATE",
		    "cannot begin a transaction", err) < 0)
		return -1;
	rc = fn(q, ctx, err);
	if (rc >= 0 && audit && sq_audit_insert(q, audit, err) < 0)
		rc = store_audit_refused(err);
	if (rc >= 0 && sq_exec(q, "COMMIT", "cannot commit", err) == 0)
		return 0;
	if (!sqlite3_get_autocommit(q->db))
		(void)sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

int sq_tx(struct sq_store *q, enum sq_tx kind, sq_fn fn, void *ctx,
	  const struct store_audit_row *audit, struct skr_err *err)
{
	int rc;

	pthread_mutex_lock(&q->lock);
	rc = tx_run(q, kind, fn, ctx, audit, err);
	if (rc == 0 && kind == SQ_CHANGE)
		q->changes++;
	pthread_mutex_unlock(&q->lock);
	return rc;
}

/* ---- Open, close ---------------------------------------------------------- */

static int pragma_text(struct sq_store *q, const char *sql, const char *want, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	const char *got;

	if (sq_prepare(q, sql, &st, err) < 0 || sq_step_row(q, st, sql, err) < 0)
		return -1;
	got = sq_text(st, 0);
	if (!got || strcmp(got, want))
		return skr_fail(err, SKR_R_store_error, "database %s: \"%s\" gave \"%s\", not \"%s\"",
				q->path, sql, got ? got : "nothing", want);
	return 0;
}

static int configure(struct sq_store *q, void *ctx, struct skr_err *err)
{
	sqlite3_extended_result_codes(q->db, 1);
	if (sqlite3_db_config(q->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL) != SQLITE_OK ||
	    sqlite3_db_config(q->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL) != SQLITE_OK ||
	    sqlite3_busy_timeout(q->db, BUSY_TIMEOUT_MS) != SQLITE_OK)
		return sq_fail(q, "cannot configure the connection", err);
	return pragma_text(q, "PRAGMA journal_mode = WAL", "wal", err) < 0 ||
	       sq_exec(q, "PRAGMA synchronous = FULL", "cannot set synchronous", err) < 0 ||
	       sq_exec(q, "PRAGMA secure_delete = ON", "cannot set secure_delete", err) < 0 ||
	       sq_exec(q, "PRAGMA foreign_keys = ON", "cannot enable foreign keys", err) < 0 ||
	       pragma_text(q, "PRAGMA synchronous", "2", err) < 0 ||
	       pragma_text(q, "PRAGMA foreign_keys", "1", err) < 0 ? -1 : 0;
}

/* SQLite would create the file 0644; the store holds policies and audit rows. */
static int create_private(const char *path, struct skr_err *err)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (errno == EEXIST)
		return 0;
	return skr_fail(err, SKR_R_store_error, "cannot create database %s: %s", path,
			strerror(errno));
}

static void sq_close(struct skr_store *s)
{
	struct sq_store *q = sq_of(s);

	/* The last connection checkpoints the WAL into the database and removes it. */
	while (q->n_stmts)
		sqlite3_finalize(q->stmts[--q->n_stmts].stmt);
	if (q->db)
		sqlite3_close_v2(q->db);
	if (q->lock_fd >= 0)
		close(q->lock_fd);
	free(q->path);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

static const struct skr_store_ops sq_ops;

int store_sqlite_open(const char *path, const uint8_t check[STORE_CHECK_SIZE],
		      struct skr_store **out, struct skr_err *err)
{
	struct sq_store *q;
	int rc;

	*out = NULL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return skr_fail(err, SKR_R_nomem, "out of memory opening the store");
	if (pthread_mutex_init(&q->lock, NULL) != 0) {
		free(q);
		return skr_fail(err, SKR_R_nomem, "cannot create the store mutex");
	}
	q->base.ops = &sq_ops;
	q->lock_fd = -1;
	q->path = strdup(path);
	if (!q->path) {
		skr_fail(err, SKR_R_nomem, "out of memory opening the store");
		goto fail;
	}
	if (sq_claim_shared(q, err) < 0 || create_private(path, err) < 0)
		goto fail;
	rc = sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			     SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_EXRESCODE, NULL);
	if (rc != SQLITE_OK) {
		skr_fail(err, SKR_R_store_error, "cannot open database %s: %s", path,
			 q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
		goto fail;
	}
	if (sq_locked(q, configure, NULL, err) < 0 ||
	    sq_tx(q, SQ_WRITE, sq_migrate, (void *)check, NULL, err) < 0)
		goto fail;
	*out = &q->base;
	return 0;
fail:
	sq_close(&q->base);
	return -1;
}

/* ---- Version, durability -------------------------------------------------- */

static int version_locked(struct sq_store *q, void *ctx, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct skr_store_version *v = ctx;

	v->changes = q->changes;
	if (sq_prepare(q, "PRAGMA data_version", &st, err) < 0 ||
	    sq_step_row(q, st, "cannot read data_version", err) != 1)
		return -1;
	v->data_version = (uint64_t)sqlite3_column_int64(st, 0);
	return 0;
}

static int sq_version(struct skr_store *s, struct skr_store_version *v, struct skr_err *err)
{
	return sq_locked(sq_of(s), version_locked, v, err);
}

static int durability_locked(struct sq_store *q, void *ctx, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *sync = NULL;
	_cleanup_stmt_ sqlite3_stmt *journal = NULL;
	struct skr_store_durability *d = ctx;
	const char *mode;

	if (sq_prepare(q, "PRAGMA synchronous", &sync, err) < 0 ||
	    sq_step_row(q, sync, "cannot read synchronous", err) != 1 ||
	    sq_prepare(q, "PRAGMA journal_mode", &journal, err) < 0 ||
	    sq_step_row(q, journal, "cannot read journal_mode", err) != 1)
		return -1;
	d->synchronous = sqlite3_column_int(sync, 0);
	mode = sq_text(journal, 0);
	snprintf(d->journal_mode, sizeof(d->journal_mode), "%s", mode ? mode : "");
	return 0;
}

static int sq_durability(struct skr_store *s, struct skr_store_durability *d,
			 struct skr_err *err)
{
	return sq_locked(sq_of(s), durability_locked, d, err);
}

static const struct skr_store_ops sq_ops = {
	.name = "sqlite",
	.close = sq_close,
	.key_create = sq_key_create,
	.key_sealed = sq_key_sealed,
	.key_policy = sq_key_policy,
	.key_set_policy = sq_key_set_policy,
	.key_delete = sq_key_delete,
	.key_list = sq_key_list,
	.refset_add = sq_refset_add,
	.refset_remove = sq_refset_remove,
	.refset_list = sq_refset_list,
	.refset_submit = sq_refset_submit,
	.refset_approve = sq_refset_approve,
	.refset_commit = sq_refset_commit,
	.refset_withdraw = sq_refset_withdraw,
	.audit_batch = sq_audit_batch,
	.audit_query = sq_audit_query,
	.audit_head = sq_audit_head,
	.audit_checkpoint_add = sq_audit_checkpoint_add,
	.audit_checkpoints = sq_audit_checkpoints,
	.nonce_use = sq_nonce_use,
	.nonce_check = sq_nonce_check,
	.version = sq_version,
	.durability = sq_durability,
	.master_get = sq_master_get,
	.master_begin = sq_master_begin,
	.master_finish = sq_master_finish,
	.key_reseal = sq_key_reseal,
	.exclusive = sq_exclusive,
};
