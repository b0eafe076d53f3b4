/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PostgreSQL backend: its pool of libpq connections, the query helpers
 * every file of the backend uses, the one transaction wrapper, open and
 * close, the version a key cache compares, the durability gauges, and the
 * ops table.  store_pg.h says how replicas share the database.
 */
#include "broker/store_pg.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Seconds per host to wait for a connection: a stopped server is refused at once. */
#define CONNECT_TIMEOUT "5"
/* How long a statement waits for a row or table lock: SQLite's busy timeout. */
#define LOCK_TIMEOUT "5s"

/* ---- Parameters and results ----------------------------------------------- */

void pg_p_text(struct pg_params *p, const char *v)
{
	p->v[p->n] = v;
	p->len[p->n] = 0;
	p->fmt[p->n++] = 0;
}

void pg_p_bytea(struct pg_params *p, const void *v, size_t len)
{
	p->v[p->n] = v;
	p->len[p->n] = (int)len;
	p->fmt[p->n++] = 1;
}

void pg_p_int(struct pg_params *p, int64_t v)
{
	snprintf(p->num[p->n], sizeof(p->num[p->n]), "%" PRId64, v);
	pg_p_text(p, p->num[p->n]);
}

unsigned pg_changed(PGresult *res)
{
	return (unsigned)strtoul(PQcmdTuples(res), NULL, 10);
}

int64_t pg_int(PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

const char *pg_text(PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

int pg_bytea(PGresult *res, int row, int col, uint8_t *out, size_t max, size_t *len)
{
	unsigned char *raw;
	size_t n = 0;

	*len = 0;
	if (PQgetisnull(res, row, col))
		return -1;
	raw = PQunescapeBytea((const unsigned char *)PQgetvalue(res, row, col), &n);
	if (!raw)
		return -1;
	*len = n;
	if (n > max) {
		PQfreemem(raw);
		return -1;
	}
	memcpy(out, raw, n);
	PQfreemem(raw);
	return 0;
}

/* libpq's text, whitespace runs (its messages span lines) made one space. */
static void one_line(const char *in, char *out, size_t size)
{
	size_t o = 0;
	bool space = false;

	for (; in && *in && o + 1 < size; in++) {
		if (isspace((unsigned char)*in)) {
			space = o > 0;
			continue;
		}
		if (space && o + 2 < size)
			out[o++] = ' ';
		space = false;
		out[o++] = *in;
	}
	out[o] = 0;
}

/* ---- Connections ------------------------------------------------------------ */

/* Server notices (and a FATAL that arrives on an idle connection) are not the log's business. */
static void quiet(void *arg, const char *message)
{
}

void pg_conn_drop(struct pg_conn *conn)
{
	if (conn->c)
		PQfinish(conn->c);
	conn->c = NULL;
}

int pg_conn_open(struct pg_store *q, struct pg_conn *conn, struct skr_err *err)
{
	/* The configured string is expanded in place of dbname: what it sets wins. */
	static const char *const keys[] = { "connect_timeout", "application_name", "dbname", NULL };
	const char *values[] = { CONNECT_TIMEOUT, "skr-broker", q->conninfo, NULL };
	char why[400];
	PGresult *res;
	bool ok;

	conn->c = PQconnectdbParams(keys, values, 1);
	if (!conn->c)
		return skr_fail(err, SKR_R_nomem, "out of memory connecting to %s", q->desc);
	if (PQstatus(conn->c) != CONNECTION_OK) {
		one_line(PQerrorMessage(conn->c), why, sizeof(why));
		pg_conn_drop(conn);
		return skr_fail(err, SKR_R_store_unavailable, "cannot connect to %s: %s", q->desc,
				why);
	}
	PQsetNoticeProcessor(conn->c, quiet, NULL);
	/* A lock another session holds is waited for as SQLite's busy timeout, not forever. */
	res = PQexec(conn->c, "SET lock_timeout = '" LOCK_TIMEOUT "'");
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	if (!ok) {
		one_line(PQerrorMessage(conn->c), why, sizeof(why));
		pg_conn_drop(conn);
		return skr_fail(err, SKR_R_store_unavailable, "%s: cannot set lock_timeout: %s",
				q->desc, why);
	}
	return 0;
}

/*
 * A connection from the pool, connected.  One the server closed while it was
 * idle (a restart, a failover) shows it here: what it sent is read without
 * waiting, and a connection that is not idle and healthy is replaced.
 */
static int conn_acquire(struct pg_store *q, struct pg_tx *t, struct skr_err *err)
{
	struct pg_conn *conn = NULL;
	size_t i;

	pthread_mutex_lock(&q->lock);
	while (!conn) {
		for (i = 0; i < PG_POOL && !conn; i++)
			if (!q->conns[i].busy)
				conn = &q->conns[i];
		if (!conn)
			pthread_cond_wait(&q->freed, &q->lock);
	}
	conn->busy = true;
	pthread_mutex_unlock(&q->lock);
	t->q = q;
	t->conn = conn;
	t->sqlstate[0] = 0;
	if (conn->c && (!PQconsumeInput(conn->c) || PQstatus(conn->c) != CONNECTION_OK ||
			PQtransactionStatus(conn->c) != PQTRANS_IDLE))
		pg_conn_drop(conn);
	if (conn->c)
		return 0;
	/* A new session: the server may have restarted, taking the store's claim along. */
	if (pg_conn_open(q, conn, err) < 0)
		return -1;
	if (pg_claim(q, err) < 0) {
		pg_conn_drop(conn);
		return -1;
	}
	return 0;
}

static void conn_release(struct pg_tx *t)
{
	struct pg_store *q = t->q;

	pthread_mutex_lock(&q->lock);
	t->conn->busy = false;
	pthread_cond_signal(&q->freed);
	pthread_mutex_unlock(&q->lock);
}

/*
 * Failures that say "this server, now" rather than "this statement": the
 * connection is gone (class 08, or libpq's CONNECTION_BAD), the server is
 * shutting down or starting (57P01..57P03), out of connection slots (53300),
 * or read-only (a standby, 25006: after a failover the connection must find
 * the primary).
 */
static bool server_unavailable(PGconn *c, const char *state)
{
	static const char *const states[] = { "57P01", "57P02", "57P03", "53300", "25006" };
	size_t i;

	if (PQstatus(c) != CONNECTION_OK || !*state || !strncmp(state, "08", 2))
		return true;
	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		if (!strcmp(state, states[i]))
			return true;
	return false;
}

int pg_exec(struct pg_tx *t, const char *sql, const struct pg_params *p, const char *what,
	    PGresult **res, struct skr_err *err)
{
	PGconn *c = t->conn->c;
	PGresult *r;
	ExecStatusType st;
	const char *state, *msg;
	char why[400];

	if (res)
		*res = NULL;
	t->sqlstate[0] = 0;
	if (!c)
		return skr_fail(err, SKR_R_store_unavailable, "%s: %s: the connection was lost",
				t->q->desc, what);
	r = p ? PQexecParams(c, sql, p->n, NULL, p->v, p->len, p->fmt, 0) : PQexec(c, sql);
	st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		if (res)
			*res = r;
		else
			PQclear(r);
		return 0;
	}
	state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	snprintf(t->sqlstate, sizeof(t->sqlstate), "%s", state ? state : "");
	msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	one_line(msg ? msg : PQerrorMessage(c), why, sizeof(why));
	PQclear(r);
	/*
	 * The server could not grow a file (SQLSTATE 53100, disk_full: a table or
	 * index that cannot extend, a WAL segment it cannot make outside a
	 * critical section): as SQLite's SQLITE_FULL, store_full, 503 with that
	 * reason.  The statement failed and the transaction rolls back; the
	 * connection stays.  A WAL write that fails inside a critical section is
	 * a PANIC instead: the server restarts every backend, and this
	 * connection's loss below is store_unavailable.
	 */
	if (!strcmp(t->sqlstate, "53100"))
		return skr_fail(err, SKR_R_store_full, "%s: %s: %s (out of space: disk full, "
				"SQLSTATE 53100)", t->q->desc, what, why);
	if (server_unavailable(c, t->sqlstate)) {
		pg_conn_drop(t->conn);
		return skr_fail(err, SKR_R_store_unavailable, "%s is unavailable: %s: %s",
				t->q->desc, what, why);
	}
	return skr_fail(err, SKR_R_store_error, "%s: %s: %s", t->q->desc, what, why);
}

int pg_lock_key(struct pg_tx *t, const char *key_id, struct skr_err *err)
{
	_cleanup_res_ PGresult *res = NULL;
	struct pg_params p = { 0 };

	pg_p_text(&p, key_id);
	if (pg_exec(t, "SELECT 1 FROM keys WHERE key_id = $1 FOR UPDATE", &p,
		    "cannot look the key up", &res, err) < 0)
		return -1;
	if (PQntuples(res) == 0)
		return skr_fail(err, SKR_R_key_unknown, "there is no key %s", key_id);
	return 0;
}

/* ---- Transactions ----------------------------------------------------------- */

static int tx_body(struct pg_tx *t, enum pg_kind kind, pg_fn fn, void *ctx,
		   const struct store_audit_row *audit, struct skr_err *err)
{
	int rc;

	if (kind == PG_AUTO)
		return fn(t, ctx, err) < 0 ? -1 : 0;
	if (pg_exec(t, "BEGIN", NULL, "cannot begin a transaction", NULL, err) < 0)
		return -1;
	rc = fn(t, ctx, err);
	if (rc >= 0 && audit && pg_audit_insert(t, audit, err) < 0)
		rc = err->reason == SKR_R_store_unavailable ? -1 : store_audit_refused(err);
	if (rc >= 0 && kind == PG_CHANGE)
		rc = pg_exec(t, "UPDATE store_version SET value = value + 1", NULL,
			     "cannot count the change", NULL, err);
	if (rc >= 0 && pg_exec(t, "COMMIT", NULL, "cannot commit", NULL, err) == 0)
		return 0;
	if (t->conn->c && PQtransactionStatus(t->conn->c) != PQTRANS_IDLE)
		PQclear(PQexec(t->conn->c, "ROLLBACK"));
	return -1;
}

int pg_run(struct pg_store *q, enum pg_kind kind, pg_fn fn, void *ctx,
	   const struct store_audit_row *audit, struct skr_err *err)
{
	struct pg_tx t = { 0 };
	int rc;

	if (conn_acquire(q, &t, err) < 0) {
		conn_release(&t);
		return -1;
	}
	rc = tx_body(&t, kind, fn, ctx, audit, err);
	conn_release(&t);
	if (rc == 0 && kind == PG_CHANGE)
		atomic_fetch_add(&q->changes, 1);
	return rc;
}

/* ---- Open, close -------------------------------------------------------------- */

/* "PostgreSQL database D (host H port P)" from the string: never its password. */
static int describe(struct pg_store *q, struct skr_err *err)
{
	PQconninfoOption *opts, *o;
	const char *db = NULL, *host = NULL, *port = NULL;
	char *msg = NULL, why[300];
	int n;

	opts = PQconninfoParse(q->conninfo, &msg);
	if (!opts) {
		one_line(msg ? msg : "out of memory", why, sizeof(why));
		PQfreemem(msg);
		return skr_fail(err, SKR_R_usage, "database: not a valid PostgreSQL connection "
				"string: %s", why);
	}
	for (o = opts; o->keyword; o++) {
		if (!strcmp(o->keyword, "dbname"))
			db = o->val;
		else if (!strcmp(o->keyword, "host") || (!host && !strcmp(o->keyword, "hostaddr")))
			host = o->val;
		else if (!strcmp(o->keyword, "port"))
			port = o->val;
	}
	n = asprintf(&q->desc, "PostgreSQL database %s (host %s port %s)", db ? db : "(default)",
		     host ? host : "(default)", port ? port : "(default)");
	PQconninfoFree(opts);
	if (n < 0) {
		q->desc = NULL;
		return skr_fail(err, SKR_R_nomem, "out of memory opening the store");
	}
	return 0;
}

static void pg_close(struct skr_store *s)
{
	struct pg_store *q = pg_of(s);
	size_t i;

	for (i = 0; i < PG_POOL; i++)
		pg_conn_drop(&q->conns[i]);
	pg_conn_drop(&q->claim);	/* the session's advisory locks go with it */
	pthread_mutex_destroy(&q->claim_lock);
	free(q->conninfo);
	free(q->desc);
	pthread_cond_destroy(&q->freed);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

static const struct skr_store_ops pg_ops;

int store_pg_open(const char *conninfo, const uint8_t check[STORE_CHECK_SIZE],
		  struct skr_store **out, struct skr_err *err)
{
	struct pg_store *q;

	*out = NULL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return skr_fail(err, SKR_R_nomem, "out of memory opening the store");
	if (pthread_mutex_init(&q->lock, NULL) != 0) {
		free(q);
		return skr_fail(err, SKR_R_nomem, "cannot create the store mutex");
	}
	if (pthread_cond_init(&q->freed, NULL) != 0) {
		pthread_mutex_destroy(&q->lock);
		free(q);
		return skr_fail(err, SKR_R_nomem, "cannot create the store condition");
	}
	if (pthread_mutex_init(&q->claim_lock, NULL) != 0) {
		pthread_cond_destroy(&q->freed);
		pthread_mutex_destroy(&q->lock);
		free(q);
		return skr_fail(err, SKR_R_nomem, "cannot create the store mutex");
	}
	q->base.ops = &pg_ops;
	q->conninfo = strdup(conninfo);
	if (!q->conninfo) {
		skr_fail(err, SKR_R_nomem, "out of memory opening the store");
		goto fail;
	}
	/* The claim first: a database a rotation holds is not even migrated. */
	if (describe(q, err) < 0 || pg_claim(q, err) < 0 ||
	    pg_run(q, PG_WRITE, pg_migrate, (void *)check, NULL, err) < 0)
		goto fail;
	*out = &q->base;
	return 0;
fail:
	pg_close(&q->base);
	return -1;
}

/* ---- Version, durability ---------------------------------------------------- */

static int version_fn(struct pg_tx *t, void *ctx, struct skr_err *err)
{
	_cleanup_res_ PGresult *res = NULL;
	struct skr_store_version *v = ctx;

	if (pg_exec(t, "SELECT value FROM store_version", NULL, "cannot read the version", &res,
		    err) < 0)
		return -1;
	if (PQntuples(res) != 1)
		return skr_fail(err, SKR_R_store_error, "%s has no store_version row", t->q->desc);
	v->changes = atomic_load(&t->q->changes);
	v->data_version = (uint64_t)pg_int(res, 0, 0);
	return 0;
}

static int pg_version(struct skr_store *s, struct skr_store_version *v, struct skr_err *err)
{
	return pg_run(pg_of(s), PG_AUTO, version_fn, v, NULL, err);
}

/*
 * As SQLite's numbers: synchronous 2 (FULL) when every commit is flushed
 * before it returns (fsync on, synchronous_commit not off), 1 when commits
 * may be lost in a crash (synchronous_commit off), 0 without fsync at all.
 * PostgreSQL always writes ahead: journal_mode "wal".
 */
static int durability_fn(struct pg_tx *t, void *ctx, struct skr_err *err)
{
	_cleanup_res_ PGresult *res = NULL;
	struct skr_store_durability *d = ctx;
	const char *fsync, *commit;

	if (pg_exec(t, "SELECT current_setting('fsync'), current_setting('synchronous_commit')",
		    NULL, "cannot read the durability settings", &res, err) < 0)
		return -1;
	fsync = pg_text(res, 0, 0);
	commit = pg_text(res, 0, 1);
	d->synchronous = !fsync || strcmp(fsync, "on") ? 0 : !commit || !strcmp(commit, "off") ? 1 : 2;
	snprintf(d->journal_mode, sizeof(d->journal_mode), "wal");
	return 0;
}

static int pg_durability(struct skr_store *s, struct skr_store_durability *d,
			 struct skr_err *err)
{
	return pg_run(pg_of(s), PG_AUTO, durability_fn, d, NULL, err);
}

static const struct skr_store_ops pg_ops = {
	.name = "postgresql",
	.close = pg_close,
	.key_create = pg_key_create,
	.key_sealed = pg_key_sealed,
	.key_policy = pg_key_policy,
	.key_set_policy = pg_key_set_policy,
	.key_delete = pg_key_delete,
	.key_list = pg_key_list,
	.refset_add = pg_refset_add,
	.refset_remove = pg_refset_remove,
	.refset_list = pg_refset_list,
	.refset_submit = pg_refset_submit,
	.refset_approve = pg_refset_approve,
	.refset_commit = pg_refset_commit,
	.refset_withdraw = pg_refset_withdraw,
	.audit_batch = pg_audit_batch,
	.audit_query = pg_audit_query,
	.audit_head = pg_audit_head,
	.audit_checkpoint_add = pg_audit_checkpoint_add,
	.audit_checkpoints = pg_audit_checkpoints,
	.nonce_use = pg_nonce_use,
	.nonce_check = pg_nonce_check,
	.version = pg_version,
	.durability = pg_durability,
	.master_get = pg_master_get,
	.master_begin = pg_master_begin,
	.master_finish = pg_master_finish,
	.key_reseal = pg_key_reseal,
	.exclusive = pg_exclusive,
};
