/* SPDX-License-Identifier: Apache-2.0 */
#include "broker/store.h"
#include "common/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include "verify/eventlog.h"
#include "common/pcr_json.h"
#include "common/util.h"

#define IV_SIZE 12
#define TAG_SIZE 16
#define CHECK_SIZE 32
#define BUSY_TIMEOUT_MS 5000
#define JSON_DEPTH 32
#define AUDIT_DIGEST_SIZE 32

/* What the master key check value authenticates (HMAC-SHA256 under the master key). */
static const char master_check_label[] = "skr-store master key check v1";

/* Every statement's SQL is a constant: prepared once, reset after each use. */
#define STMT_CACHE 48

struct skr_store {
	pthread_mutex_t lock;
	sqlite3 *db;
	struct {
		const char *sql;
		sqlite3_stmt *stmt;
	} stmts[STMT_CACHE];
	size_t n_stmts;
	uint64_t changes;	/* keys and reference sets written through this store */
	uint64_t nonce_uses;	/* skr_store_nonce_use calls, for the periodic purge */
	uint8_t *master;	/* SKR_STORE_MASTER_KEY_SIZE bytes from skr_secret_alloc */
	char *path;
};

/* ---- Schema ------------------------------------------------------------- */

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
};

_Static_assert(ARRAY_SIZE(migrations) == SKR_STORE_SCHEMA_VERSION + 1,
	       "one migration per schema version");

/* ---- Small helpers ------------------------------------------------------ */

/* Statements belong to the store's cache: done with, they are reset, not finalized. */
static void stmt_freep(sqlite3_stmt **p)
{
	if (*p) {
		sqlite3_reset(*p);
		sqlite3_clear_bindings(*p);
	}
}
#define _cleanup_stmt_ _cleanup_(stmt_freep)

#define _cleanup_json_ _cleanup_(json_object_putp)

static int db_fail(struct skr_store *s, const char *what, struct skr_err *err)
{
	return skr_fail(err, SKR_R_store_error, "database %s: %s: %s", s->path, what,
			sqlite3_errmsg(s->db));
}

static int prepare(struct skr_store *s, const char *sql, sqlite3_stmt **stmt,
		   struct skr_err *err)
{
	size_t i;

	*stmt = NULL;
	for (i = 0; i < s->n_stmts; i++)
		if (s->stmts[i].sql == sql) {
			*stmt = s->stmts[i].stmt;
			return 0;
		}
	if (s->n_stmts == STMT_CACHE)
		return skr_fail(err, SKR_R_store_error, "statement cache full (raise STMT_CACHE)");
	if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, NULL) != SQLITE_OK)
		return db_fail(s, "cannot prepare a statement", err);
	s->stmts[s->n_stmts].sql = sql;
	s->stmts[s->n_stmts++].stmt = *stmt;
	return 0;
}

/* Constant SQL without parameters (pragmas, transactions, migrations). */
static int exec_const(struct skr_store *s, const char *sql, const char *what,
		      struct skr_err *err)
{
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(s, what, err);
	return 0;
}

static int bind_text(struct skr_store *s, sqlite3_stmt *stmt, int i, const char *v,
		     struct skr_err *err)
{
	int rc = v ? sqlite3_bind_text(stmt, i, v, -1, SQLITE_TRANSIENT)
		   : sqlite3_bind_null(stmt, i);

	if (rc != SQLITE_OK)
		return db_fail(s, "cannot bind a parameter", err);
	return 0;
}

static int bind_blob(struct skr_store *s, sqlite3_stmt *stmt, int i, const void *v, size_t len,
		     struct skr_err *err)
{
	int rc = v ? sqlite3_bind_blob(stmt, i, v, (int)len, SQLITE_TRANSIENT)
		   : sqlite3_bind_null(stmt, i);

	if (rc != SQLITE_OK)
		return db_fail(s, "cannot bind a parameter", err);
	return 0;
}

static int bind_int64(struct skr_store *s, sqlite3_stmt *stmt, int i, int64_t v,
		      struct skr_err *err)
{
	if (sqlite3_bind_int64(stmt, i, v) != SQLITE_OK)
		return db_fail(s, "cannot bind a parameter", err);
	return 0;
}

/* Runs a statement that returns no rows. */
static int step_done(struct skr_store *s, sqlite3_stmt *stmt, const char *what,
		     struct skr_err *err)
{
	if (sqlite3_step(stmt) != SQLITE_DONE)
		return db_fail(s, what, err);
	return 0;
}

/* One row (1) or none (0); -1 on error. */
static int step_row(struct skr_store *s, sqlite3_stmt *stmt, const char *what,
		    struct skr_err *err)
{
	int rc = sqlite3_step(stmt);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return db_fail(s, what, err);
}

/*
 * Transactions: writers take the write lock up front (IMMEDIATE) so that a
 * busy database shows at BEGIN, not halfway through.  tx_end commits when rc
 * is 0 and rolls back otherwise (or when the commit fails).
 */
static int tx_begin(struct skr_store *s, bool write, struct skr_err *err)
{
	return exec_const(s, write ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED",
			  "cannot begin a transaction", err);
}

static int tx_end(struct skr_store *s, int rc, struct skr_err *err)
{
	if (rc == 0 && exec_const(s, "COMMIT", "cannot commit", err) == 0)
		return 0;
	if (!sqlite3_get_autocommit(s->db))
		(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static char *json_text(json_object *obj, struct skr_err *err)
{
	const char *t = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
						       JSON_C_TO_STRING_NOSLASHESCAPE);
	char *dup = t ? strdup(t) : NULL;

	if (!dup)
		skr_fail(err, SKR_R_nomem, "out of memory building JSON");
	return dup;
}

static json_object *column_string(sqlite3_stmt *stmt, int col)
{
	const unsigned char *t = sqlite3_column_text(stmt, col);

	return t ? json_object_new_string((const char *)t) : NULL;
}

/* Strict JSON text that must be an object; *out owns the parsed value. */
static int parse_json_object(const char *text, const char *what, json_object **out,
			     struct skr_err *err)
{
	struct json_tokener *tok;
	enum json_tokener_error jerr;
	json_object *obj;
	size_t len, end;

	*out = NULL;
	if (!text)
		return skr_fail(err, SKR_R_usage, "no %s given", what);
	len = strlen(text);
	if (len > SKR_STORE_JSON_MAX)
		return skr_fail(err, SKR_R_malformed, "%s is %zu bytes, more than the %u allowed",
				what, len, SKR_STORE_JSON_MAX);
	tok = json_tokener_new_ex(JSON_DEPTH);
	if (!tok)
		return skr_fail(err, SKR_R_nomem, "out of memory parsing %s", what);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, text, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (jerr != json_tokener_success || !obj) {
		json_object_put(obj);
		return skr_fail(err, SKR_R_malformed, "%s is not valid JSON: %s", what,
				jerr == json_tokener_continue ? "unexpected end of text" :
								json_tokener_error_desc(jerr));
	}
	while (end < len && strchr(" \t\r\n", text[end]))
		end++;
	if (end != len) {
		json_object_put(obj);
		return skr_fail(err, SKR_R_malformed, "%s has text after the JSON value", what);
	}
	if (!json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		return skr_fail(err, SKR_R_malformed, "%s is not a JSON object", what);
	}
	*out = obj;
	return 0;
}

/* ---- Validation --------------------------------------------------------- */

bool skr_store_key_id_valid(const char *key_id)
{
	size_t i, len;

	if (!key_id)
		return false;
	len = strlen(key_id);
	if (len == 0 || len > SKR_STORE_KEY_ID_MAX)
		return false;
	if (strcmp(key_id, ".") == 0 || strcmp(key_id, "..") == 0)
		return false;
	for (i = 0; i < len; i++) {
		char c = key_id[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static int check_key_id(const char *key_id, struct skr_err *err)
{
	if (skr_store_key_id_valid(key_id))
		return 0;
	if (!key_id)
		return skr_fail(err, SKR_R_usage, "no key id given");
	/* The id may come from a client: show its length, not its bytes. */
	return skr_fail(err, SKR_R_malformed,
			"invalid key id (%zu bytes): key ids are 1 to %d of A-Z a-z 0-9 . _ -, "
			"not \".\" or \"..\"", strlen(key_id), SKR_STORE_KEY_ID_MAX);
}

static int check_label(const char *label, struct skr_err *err)
{
	size_t i, len;

	if (!label)
		return skr_fail(err, SKR_R_usage, "no label given");
	len = strlen(label);
	if (len == 0 || len > SKR_STORE_LABEL_MAX)
		return skr_fail(err, SKR_R_malformed, "label is %zu bytes; 1 to %d allowed", len,
				SKR_STORE_LABEL_MAX);
	for (i = 0; i < len; i++)
		if (label[i] < 0x20 || label[i] > 0x7e)
			return skr_fail(err, SKR_R_malformed,
					"label has a byte that is not printable ASCII at offset %zu", i);
	if (label[0] == ' ' || label[len - 1] == ' ')
		return skr_fail(err, SKR_R_malformed, "label starts or ends with a space");
	return 0;
}

static int check_state(const char *state, struct skr_err *err)
{
	if (!state)
		return skr_fail(err, SKR_R_usage, "no state given");
	if (strcmp(state, "current") && strcmp(state, "pending"))
		return skr_fail(err, SKR_R_malformed, "state must be \"current\" or \"pending\"");
	return 0;
}

/* What a reseal submission may create: a set that matches now, or one for an operator. */
static int check_submit_state(const char *state, struct skr_err *err)
{
	if (!state)
		return skr_fail(err, SKR_R_usage, "no state given");
	if (strcmp(state, "pending") && strcmp(state, "queued"))
		return skr_fail(err, SKR_R_malformed, "state must be \"pending\" or \"queued\"");
	return 0;
}

/* The policy in canonical text (caller frees). */
static int canonical_policy(const char *policy_json, char **out, struct skr_err *err)
{
	_cleanup_json_ json_object *obj = NULL;

	*out = NULL;
	if (parse_json_object(policy_json, "policy", &obj, err) < 0)
		return -1;
	*out = json_text(obj, err);
	return *out ? 0 : -1;
}

/* A PCR set with at least one value, in canonical text (caller frees). */
static int canonical_pcrs(const char *pcrs_json, char **out, struct skr_err *err)
{
	_cleanup_json_ json_object *obj = NULL, *canon = NULL;
	struct skr_pcr_banks banks;
	size_t b;
	bool any = false;

	*out = NULL;
	if (parse_json_object(pcrs_json, "PCR set", &obj, err) < 0 ||
	    skr_pcr_banks_from_json(obj, &banks, err) < 0)
		return -1;
	for (b = 0; b < banks.count; b++)
		any |= banks.bank[b].extended_mask != 0;
	if (!any)
		return skr_fail(err, SKR_R_malformed, "PCR set names no PCR value");
	canon = skr_pcr_banks_to_json(&banks);
	if (!canon)
		return skr_fail(err, SKR_R_nomem, "out of memory building the PCR set");
	*out = json_text(canon, err);
	return *out ? 0 : -1;
}

/* ---- Master key --------------------------------------------------------- */

static bool all_hex(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f') ||
		      (p[i] >= 'A' && p[i] <= 'F')))
			return false;
	return true;
}

static int hex_value(uint8_t c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

static int parse_master_key(const char *path, const uint8_t *buf, size_t len,
			    uint8_t key[SKR_STORE_MASTER_KEY_SIZE], struct skr_err *err)
{
	size_t i, text_len = len;

	if (len == SKR_STORE_MASTER_KEY_SIZE) {
		memcpy(key, buf, SKR_STORE_MASTER_KEY_SIZE);
	} else {
		if (text_len && buf[text_len - 1] == '\n')
			text_len--;
		if (text_len != 2 * SKR_STORE_MASTER_KEY_SIZE)
			return skr_fail(err, SKR_R_usage,
					"master key file %s holds %zu bytes; expected %d raw bytes "
					"or %d hex characters", path, len,
					SKR_STORE_MASTER_KEY_SIZE, 2 * SKR_STORE_MASTER_KEY_SIZE);
		if (!all_hex(buf, text_len))
			return skr_fail(err, SKR_R_usage,
					"master key file %s is %d characters but not hex", path,
					2 * SKR_STORE_MASTER_KEY_SIZE);
		for (i = 0; i < SKR_STORE_MASTER_KEY_SIZE; i++)
			key[i] = (uint8_t)(hex_value(buf[2 * i]) << 4 | hex_value(buf[2 * i + 1]));
	}
	if (skr_is_zero(key, SKR_STORE_MASTER_KEY_SIZE))
		return skr_fail(err, SKR_R_usage, "master key file %s holds an all-zero key", path);
	return 0;
}

/* Through secret.h's reader and rule, like the admin token and the nonce secret. */
static int read_master_key(const char *path, uint8_t key[SKR_STORE_MASTER_KEY_SIZE],
			   struct skr_err *err)
{
	_cleanup_secret_ uint8_t *buf = NULL;

	if (skr_secret_read_file(path, 2 * SKR_STORE_MASTER_KEY_SIZE + 1, "master key", &buf,
				 err) < 0)
		return -1;
	return parse_master_key(path, buf, skr_secret_size(buf), key, err);
}

static int master_key_check_value(const uint8_t *master, uint8_t out[CHECK_SIZE],
				  struct skr_err *err)
{
	size_t len = 0;

	if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, master, SKR_STORE_MASTER_KEY_SIZE,
		       (const uint8_t *)master_check_label, sizeof(master_check_label) - 1, out,
		       CHECK_SIZE, &len) || len != CHECK_SIZE)
		return skr_fail(err, SKR_R_nomem, "cannot compute the master key check value");
	return 0;
}

/* ---- Secret encryption -------------------------------------------------- */

static int seal_secret(const uint8_t *master, const char *key_id, const uint8_t *secret,
		       size_t len, uint8_t iv[IV_SIZE], uint8_t *ct, uint8_t tag[TAG_SIZE],
		       struct skr_err *err)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, fin = 0, ok;

	ok = ctx && RAND_bytes(iv, IV_SIZE) == 1 &&
	     EVP_EncryptInit_ex2(ctx, EVP_aes_256_gcm(), master, iv, NULL) == 1 &&
	     EVP_EncryptUpdate(ctx, NULL, &n, (const uint8_t *)key_id, (int)strlen(key_id)) == 1 &&
	     EVP_EncryptUpdate(ctx, ct, &n, secret, (int)len) == 1 &&
	     EVP_EncryptFinal_ex(ctx, ct + n, &fin) == 1 && (size_t)(n + fin) == len &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_SIZE, tag) == 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
		return skr_fail(err, SKR_R_nomem, "cannot encrypt the secret");
	return 0;
}

/* Decrypts into a locked temporary; out is written only once the tag verified. */
static int open_secret(const uint8_t *master, const char *key_id, const uint8_t *iv,
		       const uint8_t *ct, size_t len, const uint8_t *tag, uint8_t *out,
		       struct skr_err *err)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8_t *tmp = skr_secret_alloc(SKR_STORE_MAX_SECRET);
	int n = 0, fin = 0, ok = 0, rc = -1;

	if (!ctx || !tmp) {
		skr_fail(err, SKR_R_nomem, "out of memory decrypting the secret");
		goto out;
	}
	ok = EVP_DecryptInit_ex2(ctx, EVP_aes_256_gcm(), master, iv, NULL) == 1 &&
	     EVP_DecryptUpdate(ctx, NULL, &n, (const uint8_t *)key_id, (int)strlen(key_id)) == 1 &&
	     EVP_DecryptUpdate(ctx, tmp, &n, ct, (int)len) == 1 &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_SIZE, (void *)tag) == 1 &&
	     EVP_DecryptFinal_ex(ctx, tmp + n, &fin) == 1 && (size_t)(n + fin) == len;
	if (!ok) {
		skr_fail(err, SKR_R_store_decrypt_failed,
			 "the secret of key %s does not decrypt under the master key: another "
			 "master key, or the row was altered or copied from another key", key_id);
		goto out;
	}
	memcpy(out, tmp, len);
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	skr_secret_free(tmp);
	return rc;
}

/* ---- Open, migrate, close ----------------------------------------------- */

static int schema_version(struct skr_store *s, int64_t *version, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (prepare(s, "SELECT COALESCE(MAX(version), 0) FROM schema_version", &st, err) < 0 ||
	    step_row(s, st, "cannot read the schema version", err) != 1)
		return skr_fail(err, SKR_R_store_error, "database %s has no schema version", s->path);
	*version = sqlite3_column_int64(st, 0);
	return 0;
}

static int record_version(struct skr_store *s, int64_t v, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (prepare(s, "INSERT INTO schema_version (version, applied) VALUES (?1, ?2)", &st,
		    err) < 0 ||
	    bind_int64(s, st, 1, v, err) < 0 || bind_int64(s, st, 2, (int64_t)time(NULL), err) < 0)
		return -1;
	return step_done(s, st, "cannot record the schema version", err);
}

/*
 * The first open stores an HMAC of a constant under the master key; every
 * later open checks it, so a wrong master key stops the broker at start
 * rather than failing each release.
 */
static int check_master_key(struct skr_store *s, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *get = NULL, *put = NULL;
	uint8_t want[CHECK_SIZE];
	int row;

	if (master_key_check_value(s->master, want, err) < 0 ||
	    prepare(s, "SELECT value FROM meta WHERE name = 'master_key_check'", &get, err) < 0)
		return -1;
	row = step_row(s, get, "cannot read the master key check", err);
	if (row < 0)
		return -1;
	if (row == 1) {
		if (sqlite3_column_bytes(get, 0) != CHECK_SIZE ||
		    !skr_ct_equal(sqlite3_column_blob(get, 0), want, CHECK_SIZE))
			return skr_fail(err, SKR_R_store_decrypt_failed,
					"the master key does not match database %s: it was created "
					"with another master key", s->path);
		return 0;
	}
	if (prepare(s, "INSERT INTO meta (name, value) VALUES ('master_key_check', ?1)", &put,
		    err) < 0 ||
	    bind_blob(s, put, 1, want, CHECK_SIZE, err) < 0)
		return -1;
	return step_done(s, put, "cannot store the master key check", err);
}

static int migrate_locked(struct skr_store *s, struct skr_err *err)
{
	int64_t version = 0, v;

	if (exec_const(s, "CREATE TABLE IF NOT EXISTS schema_version ("
			  "  version INTEGER PRIMARY KEY,"
			  "  applied INTEGER NOT NULL)",
		       "cannot create the schema_version table", err) < 0 ||
	    schema_version(s, &version, err) < 0)
		return -1;
	if (version > SKR_STORE_SCHEMA_VERSION)
		return skr_fail(err, SKR_R_store_error,
				"database %s has schema version %lld, newer than version %d that "
				"this broker knows; use a newer skr-broker", s->path,
				(long long)version, SKR_STORE_SCHEMA_VERSION);
	if (version < 0)
		return skr_fail(err, SKR_R_store_error, "database %s has schema version %lld",
				s->path, (long long)version);
	for (v = version + 1; v <= SKR_STORE_SCHEMA_VERSION; v++)
		if (exec_const(s, migrations[v], "cannot migrate the schema", err) < 0 ||
		    record_version(s, v, err) < 0)
			return -1;
	return check_master_key(s, err);
}

static int pragma_text(struct skr_store *s, const char *sql, const char *want,
		       struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	const unsigned char *got;

	if (prepare(s, sql, &st, err) < 0 || step_row(s, st, sql, err) < 0)
		return -1;
	got = sqlite3_column_text(st, 0);
	if (!got || strcmp((const char *)got, want))
		return skr_fail(err, SKR_R_store_error, "database %s: \"%s\" gave \"%s\", not \"%s\"",
				s->path, sql, got ? (const char *)got : "nothing", want);
	return 0;
}

static int configure(struct skr_store *s, struct skr_err *err)
{
	sqlite3_extended_result_codes(s->db, 1);
	if (sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL) != SQLITE_OK ||
	    sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL) != SQLITE_OK ||
	    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS) != SQLITE_OK)
		return db_fail(s, "cannot configure the connection", err);
	return pragma_text(s, "PRAGMA journal_mode = WAL", "wal", err) < 0 ||
	       exec_const(s, "PRAGMA synchronous = FULL", "cannot set synchronous", err) < 0 ||
	       exec_const(s, "PRAGMA secure_delete = ON", "cannot set secure_delete", err) < 0 ||
	       exec_const(s, "PRAGMA foreign_keys = ON", "cannot enable foreign keys", err) < 0 ||
	       pragma_text(s, "PRAGMA synchronous", "2", err) < 0 ||
	       pragma_text(s, "PRAGMA foreign_keys", "1", err) < 0 ? -1 : 0;
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

int skr_store_open(const char *db_path, const char *master_key_path, struct skr_store **out,
		   struct skr_err *err)
{
	struct skr_store *s;
	int rc;

	if (!out)
		return skr_fail(err, SKR_R_usage, "no store to open into");
	*out = NULL;
	if (!db_path || !master_key_path)
		return skr_fail(err, SKR_R_usage, "no database or master key path given");
	s = calloc(1, sizeof(*s));
	if (!s)
		return skr_fail(err, SKR_R_nomem, "out of memory opening the store");
	if (pthread_mutex_init(&s->lock, NULL) != 0) {
		free(s);
		return skr_fail(err, SKR_R_nomem, "cannot create the store mutex");
	}
	s->master = skr_secret_alloc(SKR_STORE_MASTER_KEY_SIZE);
	s->path = strdup(db_path);
	if (!s->master || !s->path) {
		skr_fail(err, SKR_R_nomem, "out of memory opening the store");
		goto fail;
	}
	/* The key file first: a bad one must not leave a new database behind. */
	if (read_master_key(master_key_path, s->master, err) < 0 ||
	    create_private(db_path, err) < 0)
		goto fail;
	rc = sqlite3_open_v2(db_path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			     SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_EXRESCODE, NULL);
	if (rc != SQLITE_OK) {
		skr_fail(err, SKR_R_store_error, "cannot open database %s: %s", db_path,
			 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		goto fail;
	}
	if (configure(s, err) < 0 || tx_begin(s, true, err) < 0 ||
	    tx_end(s, migrate_locked(s, err), err) < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	skr_store_close(s);
	return -1;
}

void skr_store_close(struct skr_store *s)
{
	if (!s)
		return;
	/* The last connection checkpoints the WAL into the database and removes it. */
	while (s->n_stmts)
		sqlite3_finalize(s->stmts[--s->n_stmts].stmt);
	if (s->db)
		sqlite3_close_v2(s->db);
	skr_secret_free(s->master);
	free(s->path);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* ---- Locking wrappers --------------------------------------------------- */

static void store_lock(struct skr_store *s)
{
	pthread_mutex_lock(&s->lock);
}

static void store_unlock(struct skr_store *s)
{
	pthread_mutex_unlock(&s->lock);
}

/* 1 if the key exists, 0 if not, -1 on error (inside the caller's transaction). */
static int key_exists(struct skr_store *s, const char *key_id, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (prepare(s, "SELECT 1 FROM keys WHERE key_id = ?1", &st, err) < 0 ||
	    bind_text(s, st, 1, key_id, err) < 0)
		return -1;
	return step_row(s, st, "cannot look the key up", err);
}

static int require_key(struct skr_store *s, const char *key_id, struct skr_err *err)
{
	int rc = key_exists(s, key_id, err);

	if (rc < 0)
		return -1;
	if (rc == 0)
		return skr_fail(err, SKR_R_key_unknown, "there is no key %s", key_id);
	return 0;
}

/* ---- Keys --------------------------------------------------------------- */

static int key_create_locked(struct skr_store *s, const char *key_id, const uint8_t iv[IV_SIZE],
			     const uint8_t *ct, size_t len, const uint8_t tag[TAG_SIZE],
			     const char *policy, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc;

	rc = key_exists(s, key_id, err);
	if (rc < 0)
		return -1;
	if (rc == 1)
		return skr_fail(err, SKR_R_key_exists, "key %s already exists", key_id);
	if (prepare(s, "INSERT INTO keys (key_id, secret_iv, secret_ct, secret_tag, policy, created) "
		       "VALUES (?1, ?2, ?3, ?4, ?5, ?6)", &st, err) < 0 ||
	    bind_text(s, st, 1, key_id, err) < 0 || bind_blob(s, st, 2, iv, IV_SIZE, err) < 0 ||
	    bind_blob(s, st, 3, ct, len, err) < 0 || bind_blob(s, st, 4, tag, TAG_SIZE, err) < 0 ||
	    bind_text(s, st, 5, policy, err) < 0 ||
	    bind_int64(s, st, 6, (int64_t)time(NULL), err) < 0)
		return -1;
	return step_done(s, st, "cannot store the key", err);
}

int skr_store_key_create(struct skr_store *s, const char *key_id, const uint8_t *secret,
			 size_t secret_len, const char *policy_json, struct skr_err *err)
{
	_cleanup_free_ char *policy = NULL;
	uint8_t iv[IV_SIZE], ct[SKR_STORE_MAX_SECRET], tag[TAG_SIZE];
	int rc;

	if (!s || !secret)
		return skr_fail(err, SKR_R_usage, "no store or secret given");
	if (check_key_id(key_id, err) < 0)
		return -1;
	if (secret_len == 0 || secret_len > SKR_STORE_MAX_SECRET)
		return skr_fail(err, SKR_R_malformed, "the secret is %zu bytes; 1 to %d allowed",
				secret_len, SKR_STORE_MAX_SECRET);
	if (canonical_policy(policy_json, &policy, err) < 0 ||
	    seal_secret(s->master, key_id, secret, secret_len, iv, ct, tag, err) < 0)
		return -1;
	store_lock(s);
	rc = tx_begin(s, true, err);
	if (rc == 0)
		rc = tx_end(s, key_create_locked(s, key_id, iv, ct, secret_len, tag, policy, err), err);
	if (rc == 0)
		s->changes++;
	store_unlock(s);
	return rc;
}

/* Steps a one-key SELECT to its row; key_unknown when the key does not exist. */
static int key_row(struct skr_store *s, const char *sql, const char *key_id, sqlite3_stmt **st,
		   struct skr_err *err)
{
	int row;

	if (prepare(s, sql, st, err) < 0 || bind_text(s, *st, 1, key_id, err) < 0)
		return -1;
	row = step_row(s, *st, "cannot read the key", err);
	if (row < 0)
		return -1;
	if (row == 0)
		return skr_fail(err, SKR_R_key_unknown, "there is no key %s", key_id);
	return 0;
}

static int key_secret_locked(struct skr_store *s, const char *key_id, uint8_t *out,
			     size_t *out_len, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	const uint8_t *iv, *ct, *tag;
	int iv_len, ct_len, tag_len;

	if (key_row(s, "SELECT secret_iv, secret_ct, secret_tag FROM keys WHERE key_id = ?1",
		    key_id, &st, err) < 0)
		return -1;
	/* Blob pointers stay valid until the next step; lengths read after the pointers. */
	iv = sqlite3_column_blob(st, 0);
	ct = sqlite3_column_blob(st, 1);
	tag = sqlite3_column_blob(st, 2);

	iv_len = sqlite3_column_bytes(st, 0);
	ct_len = sqlite3_column_bytes(st, 1);
	tag_len = sqlite3_column_bytes(st, 2);
	if (!iv || !ct || !tag || iv_len != IV_SIZE || tag_len != TAG_SIZE || ct_len <= 0 ||
	    ct_len > SKR_STORE_MAX_SECRET)
		return skr_fail(err, SKR_R_store_decrypt_failed,
				"the stored secret of key %s is damaged (IV %d, ciphertext %d, "
				"tag %d bytes)", key_id, iv_len, ct_len, tag_len);
	if (open_secret(s->master, key_id, iv, ct, (size_t)ct_len, tag, out, err) < 0)
		return -1;
	*out_len = (size_t)ct_len;
	return 0;
}

int skr_store_key_secret(struct skr_store *s, const char *key_id, uint8_t *out,
			 size_t *out_len, struct skr_err *err)
{
	int rc;

	if (!s || !out || !out_len)
		return skr_fail(err, SKR_R_usage, "no store or output buffer given");
	if (check_key_id(key_id, err) < 0)
		return -1;
	store_lock(s);
	rc = key_secret_locked(s, key_id, out, out_len, err);
	store_unlock(s);
	return rc;
}

static int key_policy_locked(struct skr_store *s, const char *key_id, char **policy_json,
			     struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	const unsigned char *t;

	if (key_row(s, "SELECT policy FROM keys WHERE key_id = ?1", key_id, &st, err) < 0)
		return -1;
	t = sqlite3_column_text(st, 0);
	*policy_json = t ? strdup((const char *)t) : NULL;
	if (!*policy_json)
		return skr_fail(err, SKR_R_nomem, "out of memory reading the policy");
	return 0;
}

int skr_store_key_policy(struct skr_store *s, const char *key_id, char **policy_json,
			 struct skr_err *err)
{
	int rc;

	if (!s || !policy_json)
		return skr_fail(err, SKR_R_usage, "no store or output given");
	*policy_json = NULL;
	if (check_key_id(key_id, err) < 0)
		return -1;
	store_lock(s);
	rc = key_policy_locked(s, key_id, policy_json, err);
	store_unlock(s);
	return rc;
}

static int key_set_policy_locked(struct skr_store *s, const char *key_id, const char *policy,
				 struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (prepare(s, "UPDATE keys SET policy = ?1 WHERE key_id = ?2", &st, err) < 0 ||
	    bind_text(s, st, 1, policy, err) < 0 || bind_text(s, st, 2, key_id, err) < 0 ||
	    step_done(s, st, "cannot update the policy", err) < 0)
		return -1;
	if (sqlite3_changes(s->db) == 0)
		return skr_fail(err, SKR_R_key_unknown, "there is no key %s", key_id);
	return 0;
}

int skr_store_key_set_policy(struct skr_store *s, const char *key_id, const char *policy_json,
			     struct skr_err *err)
{
	_cleanup_free_ char *policy = NULL;
	int rc;

	if (!s)
		return skr_fail(err, SKR_R_usage, "no store given");
	if (check_key_id(key_id, err) < 0 || canonical_policy(policy_json, &policy, err) < 0)
		return -1;
	store_lock(s);
	rc = tx_begin(s, true, err);
	if (rc == 0)
		rc = tx_end(s, key_set_policy_locked(s, key_id, policy, err), err);
	if (rc == 0)
		s->changes++;
	store_unlock(s);
	return rc;
}

static int key_delete_locked(struct skr_store *s, const char *key_id, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	/* ON DELETE CASCADE removes the key's reference sets in the same statement. */
	if (prepare(s, "DELETE FROM keys WHERE key_id = ?1", &st, err) < 0 ||
	    bind_text(s, st, 1, key_id, err) < 0 ||
	    step_done(s, st, "cannot delete the key", err) < 0)
		return -1;
	if (sqlite3_changes(s->db) == 0)
		return skr_fail(err, SKR_R_key_unknown, "there is no key %s", key_id);
	return 0;
}

int skr_store_key_delete(struct skr_store *s, const char *key_id, struct skr_err *err)
{
	int rc;

	if (!s)
		return skr_fail(err, SKR_R_usage, "no store given");
	if (check_key_id(key_id, err) < 0)
		return -1;
	store_lock(s);
	rc = tx_begin(s, true, err);
	if (rc == 0)
		rc = tx_end(s, key_delete_locked(s, key_id, err), err);
	if (rc == 0)
		s->changes++;
	store_unlock(s);
	return rc;
}

static int key_list_locked(struct skr_store *s, json_object *arr, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int row;

	if (prepare(s, "SELECT key_id, created FROM keys ORDER BY key_id", &st, err) < 0)
		return -1;
	while ((row = step_row(s, st, "cannot list the keys", err)) == 1) {
		json_object *o = json_object_new_object();

		if (!o || json_object_array_add(arr, o) < 0) {
			json_object_put(o);
			return skr_fail(err, SKR_R_nomem, "out of memory listing the keys");
		}
		json_object_object_add(o, "key_id", column_string(st, 0));
		json_object_object_add(o, "created", json_object_new_int64(sqlite3_column_int64(st, 1)));
	}
	return row;
}

int skr_store_key_list(struct skr_store *s, char **json, struct skr_err *err)
{
	_cleanup_json_ json_object *arr = NULL;
	int rc;

	if (!s || !json)
		return skr_fail(err, SKR_R_usage, "no store or output given");
	*json = NULL;
	arr = json_object_new_array();
	if (!arr)
		return skr_fail(err, SKR_R_nomem, "out of memory listing the keys");
	store_lock(s);
	rc = key_list_locked(s, arr, err);
	store_unlock(s);
	if (rc < 0)
		return -1;
	*json = json_text(arr, err);
	return *json ? 0 : -1;
}

/* ---- Reference PCR sets ------------------------------------------------- */

static int refset_add_locked(struct skr_store *s, const char *key_id, const char *label,
			     const char *state, const char *pcrs, int64_t *id_out,
			     struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (require_key(s, key_id, err) < 0 ||
	    prepare(s, "INSERT INTO refsets (key_id, label, state, pcrs, created) "
		       "VALUES (?1, ?2, ?3, ?4, ?5)", &st, err) < 0 ||
	    bind_text(s, st, 1, key_id, err) < 0 || bind_text(s, st, 2, label, err) < 0 ||
	    bind_text(s, st, 3, state, err) < 0 || bind_text(s, st, 4, pcrs, err) < 0 ||
	    bind_int64(s, st, 5, (int64_t)time(NULL), err) < 0 ||
	    step_done(s, st, "cannot store the reference set", err) < 0)
		return -1;
	if (id_out)
		*id_out = sqlite3_last_insert_rowid(s->db);
	return 0;
}

int skr_store_refset_add(struct skr_store *s, const char *key_id, const char *label,
			 const char *state, const char *pcrs_json, int64_t *id_out,
			 struct skr_err *err)
{
	_cleanup_free_ char *pcrs = NULL;
	int rc;

	if (!s)
		return skr_fail(err, SKR_R_usage, "no store given");
	if (check_key_id(key_id, err) < 0 || check_label(label, err) < 0 ||
	    check_state(state, err) < 0 || canonical_pcrs(pcrs_json, &pcrs, err) < 0)
		return -1;
	store_lock(s);
	rc = tx_begin(s, true, err);
	if (rc == 0)
		rc = tx_end(s, refset_add_locked(s, key_id, label, state, pcrs, id_out, err), err);
	if (rc == 0)
		s->changes++;
	store_unlock(s);
	return rc;
}

static int refset_remove_locked(struct skr_store *s, const char *key_id, int64_t id,
				struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (require_key(s, key_id, err) < 0 ||
	    prepare(s, "DELETE FROM refsets WHERE id = ?1 AND key_id = ?2", &st, err) < 0 ||
	    bind_int64(s, st, 1, id, err) < 0 || bind_text(s, st, 2, key_id, err) < 0 ||
	    step_done(s, st, "cannot remove the reference set", err) < 0)
		return -1;
	if (sqlite3_changes(s->db) == 0)
		return skr_fail(err, SKR_R_refset_unknown, "key %s has no reference set %lld",
				key_id, (long long)id);
	return 0;
}

int skr_store_refset_remove(struct skr_store *s, const char *key_id, int64_t id,
			    struct skr_err *err)
{
	int rc;

	if (!s)
		return skr_fail(err, SKR_R_usage, "no store given");
	if (check_key_id(key_id, err) < 0)
		return -1;
	store_lock(s);
	rc = tx_begin(s, true, err);
	if (rc == 0)
		rc = tx_end(s, refset_remove_locked(s, key_id, id, err), err);
	if (rc == 0)
		s->changes++;
	store_unlock(s);
	return rc;
}

static int refset_row(struct skr_store *s, sqlite3_stmt *st, json_object *arr,
		      struct skr_err *err)
{
	const unsigned char *text = sqlite3_column_text(st, 3);
	json_object *o, *pcrs;

	pcrs = text ? json_tokener_parse((const char *)text) : NULL;
	if (!pcrs)
		return skr_fail(err, SKR_R_store_error, "database %s: reference set %lld has "
				"unreadable PCR values", s->path, (long long)sqlite3_column_int64(st, 0));
	o = json_object_new_object();
	if (!o || json_object_array_add(arr, o) < 0) {
		json_object_put(o);
		json_object_put(pcrs);
		return skr_fail(err, SKR_R_nomem, "out of memory listing reference sets");
	}
	json_object_object_add(o, "id", json_object_new_int64(sqlite3_column_int64(st, 0)));
	json_object_object_add(o, "label", column_string(st, 1));
	json_object_object_add(o, "state", column_string(st, 2));
	json_object_object_add(o, "pcrs", pcrs);
	json_object_object_add(o, "created", json_object_new_int64(sqlite3_column_int64(st, 4)));
	if (sqlite3_column_type(st, 5) != SQLITE_NULL)
		json_object_object_add(o, "note", column_string(st, 5));
	return 0;
}

static int refset_list_locked(struct skr_store *s, const char *key_id, json_object *arr,
			      struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int row;

	if (require_key(s, key_id, err) < 0 ||
	    prepare(s, "SELECT id, label, state, pcrs, created, note FROM refsets WHERE key_id = ?1 "
		       "ORDER BY id", &st, err) < 0 ||
	    bind_text(s, st, 1, key_id, err) < 0)
		return -1;
	while ((row = step_row(s, st, "cannot list reference sets", err)) == 1)
		if (refset_row(s, st, arr, err) < 0)
			return -1;
	return row;
}

int skr_store_refset_list(struct skr_store *s, const char *key_id, char **json,
			  struct skr_err *err)
{
	_cleanup_json_ json_object *arr = NULL;
	int rc;

	if (!s || !json)
		return skr_fail(err, SKR_R_usage, "no store or output given");
	*json = NULL;
	if (check_key_id(key_id, err) < 0)
		return -1;
	arr = json_object_new_array();
	if (!arr)
		return skr_fail(err, SKR_R_nomem, "out of memory listing reference sets");
	store_lock(s);
	/* One read transaction: the key check and the rows see the same snapshot. */
	rc = tx_begin(s, false, err);
	if (rc == 0)
		rc = tx_end(s, refset_list_locked(s, key_id, arr, err), err);
	store_unlock(s);
	if (rc < 0)
		return -1;
	*json = json_text(arr, err);
	return *json ? 0 : -1;
}

/* ---- Reseal: submissions, approval, commit, withdrawal -------------------- */

/* The best existing set with exactly these values: current, then pending, then queued. */
static int refset_find_same(struct skr_store *s, const char *key_id, const char *pcrs,
			    int64_t *id, char state[8], struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int row;

	if (prepare(s, "SELECT id, state FROM refsets WHERE key_id = ?1 AND pcrs = ?2 AND "
		       "state IN ('current', 'pending', 'queued') ORDER BY CASE state "
		       "WHEN 'current' THEN 0 WHEN 'pending' THEN 1 ELSE 2 END, id DESC LIMIT 1",
		    &st, err) < 0 ||
	    bind_text(s, st, 1, key_id, err) < 0 || bind_text(s, st, 2, pcrs, err) < 0)
		return -1;
	row = step_row(s, st, "cannot look up reference sets", err);
	if (row == 1) {
		*id = sqlite3_column_int64(st, 0);
		snprintf(state, 8, "%s", (const char *)sqlite3_column_text(st, 1));
	}
	return row;
}

/* Room for one more queued set: the oldest queued sets stay, a new one is refused. */
static int refset_queue_room(struct skr_store *s, const char *key_id, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int64_t n;

	if (prepare(s, "SELECT COUNT(*) FROM refsets WHERE key_id = ?1 AND state = 'queued'", &st,
		    err) < 0 ||
	    bind_text(s, st, 1, key_id, err) < 0 ||
	    step_row(s, st, "cannot count queued reference sets", err) != 1)
		return -1;
	n = sqlite3_column_int64(st, 0);
	if (n >= SKR_STORE_MAX_QUEUED)
		return skr_fail(err, SKR_R_refset_queue_full,
				"key %s already has %lld reference sets waiting for an operator (at most "
				"%d): this one is not queued; approve or delete queued sets "
				"(GET/DELETE /v1/keys/%s/refsets), or submit from an approved boot",
				key_id, (long long)n, SKR_STORE_MAX_QUEUED, key_id);
	return 0;
}

static int refset_run(struct skr_store *s, const char *sql, const char *key_id, int64_t id,
		      const char *text, const char *what, unsigned *changed, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (prepare(s, sql, &st, err) < 0 || bind_text(s, st, 1, key_id, err) < 0 ||
	    bind_int64(s, st, 2, id, err) < 0 || bind_text(s, st, 3, text, err) < 0 ||
	    step_done(s, st, what, err) < 0)
		return -1;
	if (changed)
		*changed = (unsigned)sqlite3_changes(s->db);
	return 0;
}

static const char sql_promote[] =
	"UPDATE refsets SET state = 'pending', label = ?3, note = NULL "
	"WHERE key_id = ?1 AND id = ?2 AND state = 'queued'";
static const char sql_supersede[] =
	"DELETE FROM refsets WHERE key_id = ?1 AND id != ?2 AND label = ?3 "
	"AND state IN ('pending', 'queued')";

static int refset_submit_locked(struct skr_store *s, const char *key_id, const char *label,
				const char *state, const char *pcrs, const char *note,
				bool may_supersede, struct skr_store_submit *out, struct skr_err *err)
{
	bool pending = !strcmp(state, "pending");
	int found;

	if (require_key(s, key_id, err) < 0)
		return -1;
	found = refset_find_same(s, key_id, pcrs, &out->id, out->state, err);
	if (found < 0)
		return -1;
	if (found && (strcmp(out->state, "queued") || !pending)) {
		out->existed = true;	/* nothing added, nothing superseded */
		return 0;
	}
	if (found) {	/* queued, now allowed: it becomes pending */
		snprintf(out->state, sizeof(out->state), "pending");
		if (refset_run(s, sql_promote, key_id, out->id, label, "cannot promote the reference set",
			       NULL, err) < 0)
			return -1;
	} else {
		if ((!pending && refset_queue_room(s, key_id, err) < 0) ||
		    refset_add_locked(s, key_id, label, state, pcrs, &out->id, err) < 0 ||
		    refset_run(s, "UPDATE refsets SET note = ?3 WHERE key_id = ?1 AND id = ?2",
			       key_id, out->id, note, "cannot annotate the reference set", NULL, err) < 0)
			return -1;
		snprintf(out->state, sizeof(out->state), "%s", state);
	}
	/* Only a pending submission supersedes (store.h). */
	if (!may_supersede || !pending)
		return 0;
	return refset_run(s, sql_supersede, key_id, out->id, label,
			  "cannot remove superseded reference sets", &out->superseded, err);
}

int skr_store_refset_submit(struct skr_store *s, const char *key_id, const char *label,
			    const char *state, const char *pcrs_json, const char *note,
			    bool may_supersede, struct skr_store_submit *out, struct skr_err *err)
{
	_cleanup_free_ char *pcrs = NULL;
	int rc;

	if (!s || !out)
		return skr_fail(err, SKR_R_usage, "no store or result given");
	memset(out, 0, sizeof(*out));
	if (check_key_id(key_id, err) < 0 || check_label(label, err) < 0 ||
	    check_submit_state(state, err) < 0 || canonical_pcrs(pcrs_json, &pcrs, err) < 0)
		return -1;
	store_lock(s);
	rc = tx_begin(s, true, err);
	if (rc == 0)
		rc = tx_end(s, refset_submit_locked(s, key_id, label, state, pcrs, note, may_supersede,
						    out, err),
			    err);
	if (rc == 0)
		s->changes++;
	store_unlock(s);
	return rc;
}

static int refset_approve_locked(struct skr_store *s, const char *key_id, int64_t id,
				 struct skr_err *err)
{
	unsigned n = 0;

	if (require_key(s, key_id, err) < 0 ||
	    refset_run(s, "UPDATE refsets SET state = 'pending', note = ?3 "
			  "WHERE key_id = ?1 AND id = ?2 AND state = 'queued'",
		       key_id, id, "approved by an operator", "cannot approve the reference set", &n,
		       err) < 0)
		return -1;
	if (n == 0)
		return skr_fail(err, SKR_R_refset_unknown, "key %s has no queued reference set %lld",
				key_id, (long long)id);
	return 0;
}

int skr_store_refset_approve(struct skr_store *s, const char *key_id, int64_t id,
			     struct skr_err *err)
{
	int rc;

	if (!s)
		return skr_fail(err, SKR_R_usage, "no store given");
	if (check_key_id(key_id, err) < 0)
		return -1;
	store_lock(s);
	rc = tx_begin(s, true, err);
	if (rc == 0)
		rc = tx_end(s, refset_approve_locked(s, key_id, id, err), err);
	if (rc == 0)
		s->changes++;
	store_unlock(s);
	return rc;
}

static int refset_commit_locked(struct skr_store *s, const char *key_id, int64_t id,
				unsigned keep_retired, struct skr_store_commit *out,
				struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	char note[64];
	unsigned n = 0;

	snprintf(note, sizeof(note), "retired when set %lld booted", (long long)id);
	if (require_key(s, key_id, err) < 0 ||
	    refset_run(s, "UPDATE refsets SET state = 'current', note = ?3 WHERE key_id = ?1 "
			  "AND id = ?2 AND state IN ('current', 'pending')",
		       key_id, id, NULL, "cannot commit the reference set", &n, err) < 0)
		return -1;
	if (n == 0)
		return skr_fail(err, SKR_R_refset_unknown,
				"key %s has no current or pending reference set %lld", key_id,
				(long long)id);
	/* Older sets describe boots before this one; newer ones may be the next boot's. */
	if (refset_run(s, "UPDATE refsets SET state = 'retired', note = ?3 WHERE key_id = ?1 "
			  "AND id < ?2 AND state IN ('current', 'pending')",
		       key_id, id, note, "cannot retire reference sets", &out->retired, err) < 0 ||
	    prepare(s, "DELETE FROM refsets WHERE key_id = ?1 AND state = 'retired' AND id NOT IN "
		       "(SELECT id FROM refsets WHERE key_id = ?1 AND state = 'retired' "
		       "ORDER BY id DESC LIMIT ?2)", &st, err) < 0 ||
	    bind_text(s, st, 1, key_id, err) < 0 || bind_int64(s, st, 2, keep_retired, err) < 0 ||
	    step_done(s, st, "cannot prune retired reference sets", err) < 0)
		return -1;
	out->deleted = (unsigned)sqlite3_changes(s->db);
	return 0;
}

int skr_store_refset_commit(struct skr_store *s, const char *key_id, int64_t id,
			    unsigned keep_retired, struct skr_store_commit *out, struct skr_err *err)
{
	int rc;

	if (!s || !out)
		return skr_fail(err, SKR_R_usage, "no store or result given");
	memset(out, 0, sizeof(*out));
	if (check_key_id(key_id, err) < 0)
		return -1;
	store_lock(s);
	rc = tx_begin(s, true, err);
	if (rc == 0)
		rc = tx_end(s, refset_commit_locked(s, key_id, id, keep_retired, out, err), err);
	if (rc == 0)
		s->changes++;
	store_unlock(s);
	return rc;
}

static int refset_withdraw_locked(struct skr_store *s, const char *key_id, const char *label,
				  unsigned *removed, struct skr_err *err)
{
	if (require_key(s, key_id, err) < 0)
		return -1;
	return refset_run(s, sql_supersede, key_id, -1, label, "cannot withdraw reference sets",
			  removed, err);
}

int skr_store_refset_withdraw(struct skr_store *s, const char *key_id, const char *label,
			      unsigned *removed, struct skr_err *err)
{
	int rc;

	if (!s || !removed)
		return skr_fail(err, SKR_R_usage, "no store or result given");
	*removed = 0;
	if (check_key_id(key_id, err) < 0 || check_label(label, err) < 0)
		return -1;
	store_lock(s);
	rc = tx_begin(s, true, err);
	if (rc == 0)
		rc = tx_end(s, refset_withdraw_locked(s, key_id, label, removed, err), err);
	if (rc == 0)
		s->changes++;
	store_unlock(s);
	return rc;
}

/* ---- Audit -------------------------------------------------------------- */

#define AUDIT_KEY_ID_MAX 256
#define AUDIT_CLIENT_MAX 256
#define AUDIT_WORD_MAX 64
#define AUDIT_DETAIL_MAX 2048

/*
 * A copy safe to store and to show: printable ASCII kept, a backslash and
 * every other byte escaped (\\, \xNN), at most max characters, "..." when cut.
 * NULL in, NULL out; *oom set when the copy could not be made.
 */
static char *audit_text(const char *in, size_t max, bool *oom)
{
	size_t o = 0;
	char *out;

	if (!in)
		return NULL;
	out = malloc(max + 4);
	if (!out) {
		*oom = true;
		return NULL;
	}
	for (; *in; in++) {
		unsigned char c = (unsigned char)*in;
		size_t need = c == '\\' ? 2 : (c < 0x20 || c > 0x7e) ? 4 : 1;

		if (o + need > max) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (c == '\\')
			o += (size_t)snprintf(out + o, 3, "\\\\");
		else if (need == 4)
			o += (size_t)snprintf(out + o, 5, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = 0;
	return out;
}

struct audit_row {
	char *key_id, *client, *action, *verdict, *reason, *detail;
};

static void audit_row_free(struct audit_row *r)
{
	free(r->key_id);
	free(r->client);
	free(r->action);
	free(r->verdict);
	free(r->reason);
	free(r->detail);
}

static int audit_locked(struct skr_store *s, const struct audit_row *r,
			const uint8_t *digest, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (prepare(s, "INSERT INTO audit (time, key_id, client, action, verdict, reason, detail, "
		       "evidence_digest) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", &st, err) < 0 ||
	    bind_int64(s, st, 1, (int64_t)time(NULL), err) < 0 ||
	    bind_text(s, st, 2, r->key_id, err) < 0 || bind_text(s, st, 3, r->client, err) < 0 ||
	    bind_text(s, st, 4, r->action, err) < 0 || bind_text(s, st, 5, r->verdict, err) < 0 ||
	    bind_text(s, st, 6, r->reason, err) < 0 || bind_text(s, st, 7, r->detail, err) < 0 ||
	    bind_blob(s, st, 8, digest, AUDIT_DIGEST_SIZE, err) < 0)
		return -1;
	return step_done(s, st, "cannot append the audit row", err);
}

/* The row to store for an entry: checked, text escaped and bounded. */
static int audit_row_make(struct skr_store *s, const struct skr_audit_entry *e,
			  struct audit_row *r, struct skr_err *err)
{
	bool oom = false;

	if (!s || !e || !e->action || !*e->action || !e->verdict)
		return skr_fail(err, SKR_R_usage, "an audit row needs an action and a verdict");
	if (strcmp(e->verdict, "allow") && strcmp(e->verdict, "deny") && strcmp(e->verdict, "error"))
		return skr_fail(err, SKR_R_usage, "audit verdict must be allow, deny or error");
	r->key_id = audit_text(e->key_id, AUDIT_KEY_ID_MAX, &oom);
	r->client = audit_text(e->client, AUDIT_CLIENT_MAX, &oom);
	r->action = audit_text(e->action, AUDIT_WORD_MAX, &oom);
	r->verdict = audit_text(e->verdict, AUDIT_WORD_MAX, &oom);
	r->reason = audit_text(e->reason, AUDIT_WORD_MAX, &oom);
	r->detail = audit_text(e->detail, AUDIT_DETAIL_MAX, &oom);
	if (oom)
		return skr_fail(err, SKR_R_nomem, "out of memory writing the audit row");
	return 0;
}

int skr_store_audit(struct skr_store *s, const struct skr_audit_entry *e, struct skr_err *err)
{
	_cleanup_(audit_row_free) struct audit_row r = { 0 };
	int rc;

	if (audit_row_make(s, e, &r, err) < 0)
		return -1;
	store_lock(s);
	rc = audit_locked(s, &r, e->evidence_digest, err);
	store_unlock(s);
	return rc;
}

static int audit_row_json(sqlite3_stmt *st, json_object *arr, struct skr_err *err)
{
	static const char *const names[] = { "key_id", "client", "action", "verdict", "reason",
					     "detail" };
	json_object *o = json_object_new_object();
	const void *digest;
	size_t i;

	if (!o || json_object_array_add(arr, o) < 0) {
		json_object_put(o);
		return skr_fail(err, SKR_R_nomem, "out of memory reading the audit log");
	}
	json_object_object_add(o, "id", json_object_new_int64(sqlite3_column_int64(st, 0)));
	json_object_object_add(o, "time", json_object_new_int64(sqlite3_column_int64(st, 1)));
	for (i = 0; i < ARRAY_SIZE(names); i++)
		json_object_object_add(o, names[i], column_string(st, (int)i + 2));
	digest = sqlite3_column_blob(st, 8);
	if (digest) {
		char *hex = skr_hex_encode(digest, (size_t)sqlite3_column_bytes(st, 8));

		if (!hex)
			return skr_fail(err, SKR_R_nomem, "out of memory reading the audit log");
		json_object_object_add(o, "evidence_digest", json_object_new_string(hex));
		free(hex);
	} else {
		json_object_object_add(o, "evidence_digest", NULL);
	}
	return 0;
}

static int audit_query_locked(struct skr_store *s, const char *key_id, unsigned limit,
			      json_object *arr, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int row;

	if (prepare(s, key_id ? "SELECT id, time, key_id, client, action, verdict, reason, "
				"detail, evidence_digest FROM audit WHERE key_id = ?2 "
				"ORDER BY id DESC LIMIT ?1"
			      : "SELECT id, time, key_id, client, action, verdict, reason, "
				"detail, evidence_digest FROM audit ORDER BY id DESC LIMIT ?1",
		    &st, err) < 0 ||
	    bind_int64(s, st, 1, limit ? (int64_t)limit : -1, err) < 0 ||
	    (key_id && bind_text(s, st, 2, key_id, err) < 0))
		return -1;
	while ((row = step_row(s, st, "cannot read the audit log", err)) == 1)
		if (audit_row_json(st, arr, err) < 0)
			return -1;
	return row;
}

int skr_store_audit_query(struct skr_store *s, const char *key_id, unsigned limit,
			  char **json, struct skr_err *err)
{
	_cleanup_json_ json_object *arr = NULL;
	int rc;

	if (!s || !json)
		return skr_fail(err, SKR_R_usage, "no store or output given");
	*json = NULL;
	if (key_id && check_key_id(key_id, err) < 0)
		return -1;
	arr = json_object_new_array();
	if (!arr)
		return skr_fail(err, SKR_R_nomem, "out of memory reading the audit log");
	store_lock(s);
	rc = audit_query_locked(s, key_id, limit, arr, err);
	store_unlock(s);
	if (rc < 0)
		return -1;
	*json = json_text(arr, err);
	return *json ? 0 : -1;
}

int skr_store_version(struct skr_store *s, struct skr_store_version *v, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc;

	store_lock(s);
	v->changes = s->changes;
	rc = prepare(s, "PRAGMA data_version", &st, err) < 0 ||
			     step_row(s, st, "cannot read data_version", err) != 1
		     ? -1
		     : 0;
	if (rc == 0)
		v->data_version = (uint64_t)sqlite3_column_int64(st, 0);
	stmt_freep(&st);
	st = NULL;
	store_unlock(s);
	return rc;
}

int skr_store_durability(struct skr_store *s, struct skr_store_durability *d,
			 struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *sync = NULL;
	_cleanup_stmt_ sqlite3_stmt *journal = NULL;
	const unsigned char *mode;
	int rc = -1;

	memset(d, 0, sizeof(*d));
	store_lock(s);
	if (prepare(s, "PRAGMA synchronous", &sync, err) < 0 ||
	    step_row(s, sync, "cannot read synchronous", err) != 1 ||
	    prepare(s, "PRAGMA journal_mode", &journal, err) < 0 ||
	    step_row(s, journal, "cannot read journal_mode", err) != 1)
		goto out;
	d->synchronous = sqlite3_column_int(sync, 0);
	mode = sqlite3_column_text(journal, 0);
	snprintf(d->journal_mode, sizeof(d->journal_mode), "%s", mode ? (const char *)mode : "");
	rc = 0;
out:
	/* Reset under the lock: the cached statements are shared. */
	stmt_freep(&sync);
	stmt_freep(&journal);
	sync = journal = NULL;
	store_unlock(s);
	return rc;
}

/* ---- Used nonces -------------------------------------------------------- */

/* Expired nonces are deleted every this many uses (and at open, by the caller's first use). */
#define NONCE_PURGE_EVERY 256

static int nonce_purge_locked(struct skr_store *s, time_t now, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (prepare(s, "DELETE FROM used_nonces WHERE expires < ?1", &st, err) < 0 ||
	    bind_int64(s, st, 1, (int64_t)now, err) < 0)
		return -1;
	return step_done(s, st, "cannot purge expired nonces", err);
}

static int nonce_use_locked(struct skr_store *s, const uint8_t hash[32], time_t expires,
			    time_t now, struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc;

	if (s->nonce_uses++ % NONCE_PURGE_EVERY == 0 && nonce_purge_locked(s, now, err) < 0)
		return -1;
	if (prepare(s, "INSERT INTO used_nonces (nonce_hash, expires) VALUES (?1, ?2)", &st,
		    err) < 0 ||
	    bind_blob(s, st, 1, hash, 32, err) < 0 || bind_int64(s, st, 2, (int64_t)expires, err) < 0)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return 0;
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		return skr_fail(err, SKR_R_nonce_replayed, "nonce was already used");
	return db_fail(s, "cannot record the used nonce", err);
}

static int nonce_hash(const uint8_t *nonce, size_t len, uint8_t hash[32], struct skr_err *err)
{
	if (!nonce || !len)
		return skr_fail(err, SKR_R_usage, "no nonce to record");
	if (!EVP_Digest(nonce, len, hash, NULL, EVP_sha256(), NULL))
		return skr_fail(err, SKR_R_nomem, "cannot hash the nonce");
	return 0;
}

int skr_store_nonce_use(struct skr_store *s, const uint8_t *nonce, size_t len, time_t expires,
			time_t now, struct skr_err *err)
{
	uint8_t hash[32];
	int rc;

	if (!s || nonce_hash(nonce, len, hash, err) < 0)
		return s ? -1 : skr_fail(err, SKR_R_usage, "no store");
	store_lock(s);
	rc = nonce_use_locked(s, hash, expires, now, err);
	store_unlock(s);
	return rc;
}

static int nonce_check_locked(struct skr_store *s, const uint8_t hash[32], struct skr_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc;

	if (prepare(s, "SELECT 1 FROM used_nonces WHERE nonce_hash = ?1", &st, err) < 0 ||
	    bind_blob(s, st, 1, hash, 32, err) < 0)
		return -1;
	rc = step_row(s, st, "cannot look up the nonce", err);
	if (rc == 1)
		return skr_fail(err, SKR_R_nonce_replayed, "nonce was already used");
	return rc;
}

int skr_store_nonce_check(struct skr_store *s, const uint8_t *nonce, size_t len,
			  struct skr_err *err)
{
	uint8_t hash[32];
	int rc;

	if (!s || nonce_hash(nonce, len, hash, err) < 0)
		return s ? -1 : skr_fail(err, SKR_R_usage, "no store");
	store_lock(s);
	rc = nonce_check_locked(s, hash, err);
	store_unlock(s);
	return rc;
}

int skr_store_audit_nonce(struct skr_store *s, const struct skr_audit_entry *e,
			  const uint8_t *nonce, size_t len, time_t expires, time_t now,
			  struct skr_err *err)
{
	_cleanup_(audit_row_free) struct audit_row r = { 0 };
	uint8_t hash[32];
	int rc;

	if (audit_row_make(s, e, &r, err) < 0 || nonce_hash(nonce, len, hash, err) < 0)
		return -1;
	store_lock(s);
	rc = tx_begin(s, true, err);
	if (rc == 0) {
		rc = nonce_use_locked(s, hash, expires, now, err);
		if (rc == 0)
			rc = audit_locked(s, &r, e->evidence_digest, err);
		rc = tx_end(s, rc, err);
	}
	store_unlock(s);
	return rc;
}
