/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SQLite schema: versioned migrations, applied at open in one
 * transaction, and the master key check row (meta) that stops a broker
 * started with another master key.
 */
#include "broker/store_sqlite.h"

#include <string.h>

#include "common/util.h"

/*
 * migrations[v] takes a database from schema v-1 to v.  Append only: a
 * released migration never changes.  Each runs in the transaction that
 * records it in schema_version.
 */
static const char *const migrations[] = {
	[0] = NULL,
	[1] =
	"CREATE TABLE keys ("
	"  key_id TEXT PRIMARY KEY NOT NULL,"
	"  secret_iv BLOB NOT NULL,"
	"  secret_ct BLOB NOT NULL,"
	"  secret_tag BLOB NOT NULL,"
	"  policy TEXT NOT NULL,"
	"  created INTEGER NOT NULL"
	");"
	"CREATE TABLE refsets ("
	"  id INTEGER PRIMARY KEY,"
	"  key_id TEXT NOT NULL REFERENCES keys(key_id) ON DELETE CASCADE,"
	"  label TEXT NOT NULL,"
	"  state TEXT NOT NULL CHECK (state IN ('current', 'pending')),"
	"  pcrs TEXT NOT NULL,"
	"  created INTEGER NOT NULL"
	");"
	"CREATE INDEX refsets_key_id ON refsets(key_id);"
	"CREATE TABLE audit ("
	"  id INTEGER PRIMARY KEY,"
	"  time INTEGER NOT NULL,"
	"  key_id TEXT,"
	"  client TEXT,"
	"  action TEXT NOT NULL,"
	"  verdict TEXT NOT NULL,"
	"  reason TEXT,"
	"  detail TEXT,"
	"  evidence_digest BLOB"
	");"
	"CREATE INDEX audit_key_id ON audit(key_id, id);"
	"CREATE TABLE meta ("
	"  name TEXT PRIMARY KEY NOT NULL,"
	"  value BLOB NOT NULL"
	");",
	/* Reseal: sets queued for an operator and retired sets kept as history,
	 * with a note saying why (SQLite changes a CHECK only by a rebuild). */
	[2] =
	"CREATE TABLE refsets_v2 ("
	"  id INTEGER PRIMARY KEY,"
	"  key_id TEXT NOT NULL REFERENCES keys(key_id) ON DELETE CASCADE,"
	"  label TEXT NOT NULL,"
	"  state TEXT NOT NULL CHECK (state IN ('current', 'pending', 'queued', 'retired')),"
	"  pcrs TEXT NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  note TEXT"
	");"
	"INSERT INTO refsets_v2 (id, key_id, label, state, pcrs, created) "
	"  SELECT id, key_id, label, state, pcrs, created FROM refsets;"
	"DROP TABLE refsets;"
	"ALTER TABLE refsets_v2 RENAME TO refsets;"
	"CREATE INDEX refsets_key_id ON refsets(key_id);",
	/* Used release nonces (SHA-256), kept until they expire, so that a
	 * restarted broker (or a replica on the same database) refuses them. */
	[3] =
	"CREATE TABLE used_nonces ("
	"  nonce_hash BLOB PRIMARY KEY NOT NULL,"
	"  expires INTEGER NOT NULL"
	") WITHOUT ROWID;"
	"CREATE INDEX used_nonces_expires ON used_nonces(expires);",
	/* The audit hash chain (common/audit_chain.h): each row's seq, the
	 * previous row's hash and its own; the head (one row) that every
	 * write moves in its transaction; the signed checkpoints.  The rows
	 * already there are chained by sq_chain_existing after this. */
	[4] =
	"ALTER TABLE audit ADD COLUMN seq INTEGER;"
	"ALTER TABLE audit ADD COLUMN prev BLOB;"
	"ALTER TABLE audit ADD COLUMN hash BLOB;"
	"CREATE UNIQUE INDEX audit_seq ON audit(seq);"
	"CREATE TABLE audit_head ("
	"  one INTEGER PRIMARY KEY CHECK (one = 1),"
	"  seq INTEGER NOT NULL,"
	"  hash BLOB NOT NULL"
	");"
	"INSERT INTO audit_head (one, seq, hash) VALUES (1, 0, zeroblob(32));"
	"CREATE TABLE audit_checkpoints ("
	"  id INTEGER PRIMARY KEY,"
	"  seq INTEGER NOT NULL,"
	"  hash BLOB NOT NULL,"
	"  time INTEGER NOT NULL,"
	"  signature BLOB NOT NULL"
	");",
};

_Static_assert(ARRAY_SIZE(migrations) == SKR_STORE_SCHEMA_VERSION + 1,
	       "one migration per schema version");

static int schema_version(struct sq_store *q, int64_t *version, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (sq_prepare(q, "SELECT COALESCE(MAX(version), 0) FROM schema_version", &st, err) < 0 ||
	    sq_step_row(q, st, "cannot read the schema version", err) != 1)
		return skr_fail(err, SKR_R_store_error, "database %s has no schema version", q->path);
	*version = sqlite3_column_int64(st, 0);
	return 0;
}

static int record_version(struct sq_store *q, int64_t v, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (sq_prepare(q, "INSERT INTO schema_version (version, applied) VALUES (?1, ?2)", &st,
		       err) < 0 ||
	    sq_bind_int64(q, st, 1, v, err) < 0 ||
	    sq_bind_int64(q, st, 2, (int64_t)time(NULL), err) < 0)
		return -1;
	return sq_step_done(q, st, "cannot record the schema version", err);
}

/*
 * The first open stores the master key's check value; every later open
 * compares it, so a wrong master key stops the broker at start rather than
 * failing each release.  During a rotation the next key's check is there
 * too, and either key opens (store.c decides what may be done then).
 */
static int check_master_key(struct sq_store *q, const uint8_t want[STORE_CHECK_SIZE],
			    struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *put = NULL;
	struct store_master m;
	int found = sq_master_read(q, &m, err);

	if (found < 0)
		return -1;
	if (found == 1) {
		if (skr_ct_equal(m.current, want, STORE_CHECK_SIZE) ||
		    (m.has_next && skr_ct_equal(m.next, want, STORE_CHECK_SIZE)))
			return 0;
		return skr_fail(err, SKR_R_store_decrypt_failed,
				"the master key does not match database %s: its secrets are "
				"sealed under another master key (after a rotation, under the "
				"new one)", q->path);
	}
	if (sq_prepare(q, "INSERT INTO meta (name, value) VALUES ('master_key_check', ?1)", &put,
		       err) < 0 ||
	    sq_bind_blob(q, put, 1, want, STORE_CHECK_SIZE, err) < 0)
		return -1;
	return sq_step_done(q, put, "cannot store the master key check", err);
}

int sq_migrate(struct sq_store *q, void *check, struct skr_err *err)
{
	int64_t version = 0, v;

	if (sq_exec(q, "CREATE TABLE IF NOT EXISTS schema_version ("
		       "  version INTEGER PRIMARY KEY,"
		       "  applied INTEGER NOT NULL)",
		    "cannot create the schema_version table", err) < 0 ||
	    schema_version(q, &version, err) < 0)
		return -1;
	if (version > SKR_STORE_SCHEMA_VERSION)
		return skr_fail(err, SKR_R_store_error,
				"database %s has schema version %lld, newer than version %d that "
				"this broker knows; use a newer skr-broker", q->path,
				(long long)version, SKR_STORE_SCHEMA_VERSION);
	if (version < 0)
		return skr_fail(err, SKR_R_store_error, "database %s has schema version %lld",
				q->path, (long long)version);
	for (v = version + 1; v <= SKR_STORE_SCHEMA_VERSION; v++)
		if (sq_exec(q, migrations[v], "cannot migrate the schema", err) < 0 ||
		    (v == 4 && sq_chain_existing(q, err) < 0) || record_version(q, v, err) < 0)
			return -1;
	return check_master_key(q, check, err);
}
