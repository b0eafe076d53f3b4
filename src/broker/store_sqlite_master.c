/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The master key in SQLite: the check values in meta ('master_key_check',
 * and 'master_key_next' while a rotation runs), the per-key compare and swap
 * of a rotation, and the claim on PATH.lock that keeps a rotation and
 * running brokers apart.
 *
 * The claim is a flock on a file of its own, not on the database: closing
 * any descriptor of the database file would drop SQLite's own POSIX locks
 * on it in this process (fcntl semantics), and a store must be able to
 * close while another store of the process keeps the database open.
 */
#include "broker/store_sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/util.h"

/* Reads one meta blob of STORE_CHECK_SIZE bytes: 1, 0 when absent, -1. */
static int meta_check(struct sq_store *q, const char *sql, uint8_t out[STORE_CHECK_SIZE],
		      struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int row;

	if (sq_prepare(q, sql, &st, err) < 0)
		return -1;
	row = sq_step_row(q, st, "cannot read the master key check", err);
	if (row != 1)
		return row;
	if (sqlite3_column_bytes(st, 0) != STORE_CHECK_SIZE)
		return skr_fail(err, SKR_R_store_error, "database %s: a master key check value "
				"is %d bytes, not %d", q->path, sqlite3_column_bytes(st, 0),
				STORE_CHECK_SIZE);
	memcpy(out, sqlite3_column_blob(st, 0), STORE_CHECK_SIZE);
	return 1;
}

int sq_master_read(struct sq_store *q, struct store_master *m, struct skr_err *err)
{
	int cur, next;

	memset(m, 0, sizeof(*m));
	cur = meta_check(q, "SELECT value FROM meta WHERE name = 'master_key_check'", m->current,
			 err);
	if (cur != 1)
		return cur;
	next = meta_check(q, "SELECT value FROM meta WHERE name = 'master_key_next'", m->next, err);
	if (next < 0)
		return -1;
	m->has_next = next == 1;
	return 1;
}

static int master_get_locked(struct sq_store *q, void *ctx, struct skr_err *err)
{
	int rc = sq_master_read(q, ctx, err);

	if (rc == 0)
		return skr_fail(err, SKR_R_store_error, "database %s has no master key check",
				q->path);
	return rc < 0 ? -1 : 0;
}

int sq_master_get(struct skr_store *s, struct store_master *m, struct skr_err *err)
{
	return sq_tx(sq_of(s), SQ_READ, master_get_locked, m, NULL, err);
}

struct master_args {
	const uint8_t *cur, *next;
};

/* Inside the transaction: the current check is a->cur, else the reason. */
static int master_expect(struct sq_store *q, const struct master_args *a, struct store_master *m,
			 struct skr_err *err)
{
	if (master_get_locked(q, m, err) < 0)
		return -1;
	if (!skr_ct_equal(m->current, a->cur, STORE_CHECK_SIZE))
		return skr_fail(err, SKR_R_store_error, "database %s: the current master key "
				"changed meanwhile", q->path);
	return 0;
}

static int master_begin_locked(struct sq_store *q, void *ctx, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	const struct master_args *a = ctx;
	struct store_master m;

	if (master_expect(q, a, &m, err) < 0)
		return -1;
	if (m.has_next)
		return skr_ct_equal(m.next, a->next, STORE_CHECK_SIZE)
			       ? 0
			       : skr_fail(err, SKR_R_store_error, "database %s is being rotated "
					  "to another master key", q->path);
	if (sq_prepare(q, "INSERT INTO meta (name, value) VALUES ('master_key_next', ?1)", &st,
		       err) < 0 ||
	    sq_bind_blob(q, st, 1, a->next, STORE_CHECK_SIZE, err) < 0)
		return -1;
	return sq_step_done(q, st, "cannot record the next master key", err);
}

int sq_master_begin(struct skr_store *s, const uint8_t cur[STORE_CHECK_SIZE],
		    const uint8_t next[STORE_CHECK_SIZE], const struct store_audit_row *audit,
		    struct skr_err *err)
{
	struct master_args a = { .cur = cur, .next = next };

	return sq_tx(sq_of(s), SQ_WRITE, master_begin_locked, &a, audit, err);
}

static int master_finish_locked(struct sq_store *q, void *ctx, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *set = NULL, *del = NULL;
	const struct master_args *a = ctx;
	struct store_master m;

	if (master_expect(q, a, &m, err) < 0)
		return -1;
	if (!m.has_next || !skr_ct_equal(m.next, a->next, STORE_CHECK_SIZE))
		return skr_fail(err, SKR_R_store_error, "database %s is not being rotated to "
				"this master key", q->path);
	if (sq_prepare(q, "UPDATE meta SET value = ?1 WHERE name = 'master_key_check'", &set,
		       err) < 0 ||
	    sq_bind_blob(q, set, 1, a->next, STORE_CHECK_SIZE, err) < 0 ||
	    sq_step_done(q, set, "cannot record the new master key", err) < 0 ||
	    sq_prepare(q, "DELETE FROM meta WHERE name = 'master_key_next'", &del, err) < 0)
		return -1;
	return sq_step_done(q, del, "cannot record the new master key", err);
}

int sq_master_finish(struct skr_store *s, const uint8_t cur[STORE_CHECK_SIZE],
		     const uint8_t next[STORE_CHECK_SIZE], const struct store_audit_row *audit,
		     struct skr_err *err)
{
	struct master_args a = { .cur = cur, .next = next };

	return sq_tx(sq_of(s), SQ_WRITE, master_finish_locked, &a, audit, err);
}

struct reseal_args {
	const char *key_id;
	const struct store_sealed *from, *to;
};

/* The compare is in the UPDATE's WHERE: the row as read, or nothing is written. */
static int key_reseal_locked(struct sq_store *q, void *ctx, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	const struct reseal_args *a = ctx;

	if (sq_prepare(q, "UPDATE keys SET secret_iv = ?1, secret_ct = ?2, secret_tag = ?3 "
			  "WHERE key_id = ?4 AND secret_iv = ?5 AND secret_ct = ?6 "
			  "AND secret_tag = ?7", &st, err) < 0 ||
	    sq_bind_blob(q, st, 1, a->to->iv, STORE_IV_SIZE, err) < 0 ||
	    sq_bind_blob(q, st, 2, a->to->ct, a->to->len, err) < 0 ||
	    sq_bind_blob(q, st, 3, a->to->tag, STORE_TAG_SIZE, err) < 0 ||
	    sq_bind_text(q, st, 4, a->key_id, err) < 0 ||
	    sq_bind_blob(q, st, 5, a->from->iv, STORE_IV_SIZE, err) < 0 ||
	    sq_bind_blob(q, st, 6, a->from->ct, a->from->len, err) < 0 ||
	    sq_bind_blob(q, st, 7, a->from->tag, STORE_TAG_SIZE, err) < 0 ||
	    sq_step_done(q, st, "cannot store the resealed secret", err) < 0)
		return -1;
	if (sqlite3_changes(q->db) == 1)
		return 0;
	if (sq_require_key(q, a->key_id, err) < 0)
		return -1;
	return skr_fail(err, SKR_R_store_error, "the secret of key %s changed during the "
			"rotation; nothing written for it", a->key_id);
}

int sq_key_reseal(struct skr_store *s, const char *key_id, const struct store_sealed *from,
		  const struct store_sealed *to, struct skr_err *err)
{
	struct reseal_args a = { .key_id = key_id, .from = from, .to = to };

	return sq_tx(sq_of(s), SQ_CHANGE, key_reseal_locked, &a, NULL, err);
}

int sq_claim_shared(struct sq_store *q, struct skr_err *err)
{
	char path[4096];

	if ((size_t)snprintf(path, sizeof(path), "%s.lock", q->path) >= sizeof(path))
		return skr_fail(err, SKR_R_usage, "database path %s is too long", q->path);
	q->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (q->lock_fd < 0)
		return skr_fail(err, SKR_R_store_error, "cannot open %s: %s", path, strerror(errno));
	if (flock(q->lock_fd, LOCK_SH | LOCK_NB) == 0)
		return 0;
	if (errno == EWOULDBLOCK)
		return skr_fail(err, SKR_R_store_error, "database %s is held by "
				"skr-broker rotate-master-key (its master key is being rotated); "
				"start brokers when it has finished", q->path);
	return skr_fail(err, SKR_R_store_error, "cannot lock %s: %s", path, strerror(errno));
}

int sq_exclusive(struct skr_store *s, struct skr_err *err)
{
	struct sq_store *q = sq_of(s);

	if (flock(q->lock_fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	if (errno == EWOULDBLOCK)
		return skr_fail(err, SKR_R_store_error, "database %s is open in another process "
				"(a running skr-broker?): stop every broker using it first",
				q->path);
	return skr_fail(err, SKR_R_store_error, "cannot lock %s.lock: %s", q->path,
			strerror(errno));
}
