/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The broker's store: keys, encrypted secrets, reference sets, audit,
 * durability.  The whole suite runs twice: on SQLite, then on PostgreSQL (a
 * private server this program starts: tests/helpers/pgserver.h; each test
 * gets a schema of its own on it).  Where a test reaches around the store
 * (raw SQL, files on disk) it says so for each backend.
 */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "broker/store.h"
#include "common/audit_chain.h"
#include "common/util.h"
#include "pgserver.h"

/* The backend of the group running now: false SQLite, true PostgreSQL. */
static bool use_pg;
static struct skr_pg pg;
static int schema_seq;
/* The same thing said in each backend's SQL. */
#define SQL(sqlite, postgresql) (use_pg ? (postgresql) : (sqlite))

#define H8(x) x x x x x x x x
#define H64(x) H8(H8(x))
#define PCRS_A "{\"sha256\":{\"0\":\"" H64("0") "\",\"7\":\"" H64("a") "\"}}"
#define PCRS_B "{\"sha1\":{\"4\":\"" H8("1") H8("2") H8("3") H8("4") H8("5") "\"}," \
	"\"sha256\":{\"7\":\"" H64("B") "\"}}"
#define POLICY "{\"tee\":[\"sev-snp\"],\"pcrs\":[0,7]}"

static const uint8_t master_key[SKR_STORE_MASTER_KEY_SIZE] = "store-test-master-key-0123456789";
static const uint8_t other_key[SKR_STORE_MASTER_KEY_SIZE] = "another-master-key-9876543210abc";
static const uint8_t secret1[32] = "luks-secret-one-0123456789abcdef";
static const uint8_t secret2[48] = "luks-secret-two-0123456789abcdef-and-16-more-byt";

struct fixture {
	char dir[PATH_MAX];
	char db[PATH_MAX + 640];	/* a file, or a connection string with this test's schema */
	char key[PATH_MAX + 16];
	struct skr_store *s;
};

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static void remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[PATH_MAX + 256];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (unlink(path) < 0)
			remove_tree(path);
	}
	closedir(d);
	rmdir(dir);
}

static void raw_exec(const char *db_path, const char *sql);

/* A new, empty schema on the server; db: a connection string that works in it. */
static void pg_schema(char *db, size_t size)
{
	char sql[64];

	snprintf(sql, sizeof(sql), "CREATE SCHEMA t%d", ++schema_seq);
	raw_exec(pg.conninfo, sql);
	snprintf(db, size, "%s options=-csearch_path=t%d", pg.conninfo, schema_seq);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");
	struct skr_err err = { 0 };

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "%s/skr-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/store.db", f->dir);
	if (use_pg)
		pg_schema(f->db, sizeof(f->db));
	snprintf(f->key, sizeof(f->key), "%s/master.key", f->dir);
	write_file(f->key, master_key, sizeof(master_key), 0600);
	assert_ok(skr_store_open(f->db, f->key, &f->s, &err), err);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	skr_store_close(f->s);
	remove_tree(f->dir);
	free(f);
	return 0;
}

static void reopen(struct fixture *f)
{
	struct skr_err err = { 0 };

	skr_store_close(f->s);
	f->s = NULL;
	assert_ok(skr_store_open(f->db, f->key, &f->s, &err), err);
}

static PGconn *pg_connect(const char *conninfo)
{
	PGconn *c = PQconnectdb(conninfo);

	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("cannot connect to %s: %s", conninfo, PQerrorMessage(c));
	return c;
}

/* SQL straight on the database, as an attacker with write access would. */
static void raw_exec(const char *db_path, const char *sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL;

	if (use_pg) {
		PGconn *c = pg_connect(db_path);
		PGresult *r = PQexec(c, sql);

		if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
			fail_msg("raw SQL failed: %s", PQerrorMessage(c));
		PQclear(r);
		PQfinish(c);
		return;
	}
	assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("raw SQL failed: %s", msg);
	sqlite3_close(db);
}

static int64_t raw_count(const char *db_path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t n;

	if (use_pg) {
		PGconn *c = pg_connect(db_path);
		PGresult *r = PQexec(c, sql);

		if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
			fail_msg("raw SQL failed: %s", PQerrorMessage(c));
		n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
		PQfinish(c);
		return n;
	}
	assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static bool file_contains(const char *path, const void *needle, size_t len)
{
	struct skr_buf b = { 0 };
	struct skr_err err = { 0 };
	bool found;

	if (skr_read_file(path, 64u << 20, &b, &err) < 0)
		return false;
	found = memmem(b.data, b.len, needle, len) != NULL;
	skr_buf_free(&b);
	return found;
}

/* Whether any file under dir (the server's data: tables, WAL) holds needle. */
static bool tree_contains(const char *dir, const void *needle, size_t len)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[PATH_MAX + 256];
	struct stat st;
	bool found = false;

	assert_non_null(d);
	while (!found && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (lstat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			found = tree_contains(path, needle, len);
		else if (S_ISREG(st.st_mode))
			found = file_contains(path, needle, len);
	}
	closedir(d);
	return found;
}

static json_object *parse(const char *text)
{
	json_object *o = json_tokener_parse(text);

	assert_non_null(o);
	return o;
}

static const char *field_str(json_object *o, const char *name)
{
	json_object *v = NULL;

	assert_true(json_object_object_get_ex(o, name, &v));
	return v ? json_object_get_string(v) : NULL;
}

static int64_t field_int(json_object *o, const char *name)
{
	json_object *v = NULL;

	assert_true(json_object_object_get_ex(o, name, &v));
	assert_true(json_object_is_type(v, json_type_int));
	return json_object_get_int64(v);
}

static void create_key(struct fixture *f, const char *key_id, const uint8_t *secret, size_t len)
{
	struct skr_err err = { 0 };

	assert_ok(skr_store_key_create(f->s, key_id, secret, len, POLICY, NULL, &err), err);
}

static void assert_secret(struct fixture *f, const char *key_id, const uint8_t *want, size_t len)
{
	uint8_t out[SKR_STORE_MAX_SECRET];
	size_t out_len = 0;
	struct skr_err err = { 0 };

	assert_ok(skr_store_key_secret(f->s, key_id, out, &out_len, &err), err);
	assert_int_equal(out_len, len);
	assert_memory_equal(out, want, len);
}

/* ---- Keys ---------------------------------------------------------------- */

static void keys_create_list_show_delete(void **state)
{
	struct fixture *f = *state;
	struct skr_err err = { 0 };
	_cleanup_free_ char *list = NULL, *policy = NULL, *after = NULL;
	json_object *arr;
	struct stat st;

	/* A new database file is private to its owner, WAL files included. */
	if (!use_pg) {
		assert_int_equal(stat(f->db, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
	}
	assert_ok(skr_store_key_list(f->s, &list, &err), err);
	assert_string_equal(list, "[]");
	free(list);
	list = NULL;

	create_key(f, "disk-b", secret2, sizeof(secret2));
	create_key(f, "disk-a", secret1, sizeof(secret1));
	assert_ok(skr_store_key_list(f->s, &list, &err), err);
	arr = parse(list);
	assert_int_equal(json_object_array_length(arr), 2);
	assert_string_equal(field_str(json_object_array_get_idx(arr, 0), "key_id"), "disk-a");
	assert_string_equal(field_str(json_object_array_get_idx(arr, 1), "key_id"), "disk-b");
	assert_true(field_int(json_object_array_get_idx(arr, 0), "created") > 1600000000);
	json_object_put(arr);

	assert_ok(skr_store_key_policy(f->s, "disk-a", &policy, &err), err);
	assert_string_equal(policy, POLICY);
	free(policy);
	policy = NULL;
	/* Policies are stored in canonical form. */
	assert_ok(skr_store_key_set_policy(f->s, "disk-a", " { \"tee\" : [ \"tdx\" ] }\n", NULL, &err),
		  err);
	assert_ok(skr_store_key_policy(f->s, "disk-a", &policy, &err), err);
	assert_string_equal(policy, "{\"tee\":[\"tdx\"]}");

	assert_ok(skr_store_key_delete(f->s, "disk-b", NULL, &err), err);
	assert_ok(skr_store_key_list(f->s, &after, &err), err);
	arr = parse(after);
	assert_int_equal(json_object_array_length(arr), 1);
	assert_string_equal(field_str(json_object_array_get_idx(arr, 0), "key_id"), "disk-a");
	json_object_put(arr);
	assert_failed_with(skr_store_key_delete(f->s, "disk-b", NULL, &err), err, SKR_R_key_unknown,
			   "disk-b");
}

static void policy_must_be_a_json_object(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
		"", "{", "[]", "\"text\"", "42", "{} {}", "{\"a\":1} x",
		"{\"a\":\"\xff\"}", "{\"a\":1,}",
	};
	struct skr_err err = { 0 };
	_cleanup_free_ char *policy = NULL, *big = NULL;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		skr_err_clear(&err);
		assert_failed_with(skr_store_key_create(f->s, "k", secret1, sizeof(secret1), bad[i],
							NULL, &err), err, SKR_R_malformed, "policy");
	}
	skr_err_clear(&err);
	assert_failed_with(skr_store_key_create(f->s, "k", secret1, sizeof(secret1), NULL, NULL, &err),
			   err, SKR_R_usage, NULL);
	big = malloc(SKR_STORE_JSON_MAX + 16);
	assert_non_null(big);
	memset(big, ' ', SKR_STORE_JSON_MAX + 15);
	big[0] = '{';
	big[SKR_STORE_JSON_MAX + 14] = '}';
	big[SKR_STORE_JSON_MAX + 15] = 0;
	skr_err_clear(&err);
	assert_failed_with(skr_store_key_create(f->s, "k", secret1, sizeof(secret1), big, NULL, &err),
			   err, SKR_R_malformed, "allowed");
	skr_err_clear(&err);
	create_key(f, "k", secret1, sizeof(secret1));
	assert_failed_with(skr_store_key_set_policy(f->s, "k", "[1]", NULL, &err), err, SKR_R_malformed,
			   "not a JSON object");
	skr_err_clear(&err);
	assert_ok(skr_store_key_policy(f->s, "k", &policy, &err), err);
	assert_string_equal(policy, POLICY);
	free(policy);
	policy = NULL;
	/* What is stored is json-c's strict re-serialisation, whatever it accepted. */
	assert_ok(skr_store_key_set_policy(f->s, "k", "{'a':\"\\/\\u00e9\"}", NULL, &err), err);
	assert_ok(skr_store_key_policy(f->s, "k", &policy, &err), err);
	assert_string_equal(policy, "{\"a\":\"/\u00e9\"}");
}

static void secret_round_trip(void **state)
{
	struct fixture *f = *state;
	uint8_t big[SKR_STORE_MAX_SECRET + 1];
	struct skr_err err = { 0 };

	memset(big, 0x5a, sizeof(big));
	create_key(f, "one-byte", (const uint8_t *)"x", 1);
	create_key(f, "luks", secret1, sizeof(secret1));
	create_key(f, "max", big, SKR_STORE_MAX_SECRET);
	assert_secret(f, "one-byte", (const uint8_t *)"x", 1);
	assert_secret(f, "luks", secret1, sizeof(secret1));
	assert_secret(f, "max", big, SKR_STORE_MAX_SECRET);
	assert_failed_with(skr_store_key_create(f->s, "empty", secret1, 0, POLICY, NULL, &err), err,
			   SKR_R_malformed, "0 bytes");
	skr_err_clear(&err);
	assert_failed_with(skr_store_key_create(f->s, "huge", big, sizeof(big), POLICY, NULL, &err), err,
			   SKR_R_malformed, "129 bytes");
	/* A fresh IV per write: the same secret twice gives different ciphertexts. */
	create_key(f, "luks-2", secret1, sizeof(secret1));
	assert_int_equal(raw_count(f->db, "SELECT COUNT(DISTINCT secret_iv) FROM keys"), 4);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM keys a JOIN keys b ON "
				   "a.secret_ct = b.secret_ct AND a.key_id < b.key_id"), 0);
}

static void ciphertext_on_disk_hides_the_secret(void **state)
{
	struct fixture *f = *state;
	uint8_t secret[64];
	char wal[PATH_MAX + 656];
	size_t i;

	for (i = 0; i < sizeof(secret); i++)
		secret[i] = (uint8_t)("SKR-PLAINTEXT-MARKER"[i % 20]);
	create_key(f, "marker-key-id", secret, sizeof(secret));
	assert_secret(f, "marker-key-id", secret, sizeof(secret));
	if (use_pg) {
		char data[PATH_MAX];

		/* Every file of the server, its WAL included, after the pages are written. */
		raw_exec(f->db, "CHECKPOINT");
		snprintf(data, sizeof(data), "%s/data", pg.dir);
		assert_true(tree_contains(data, "marker-key-id", 13));
		assert_false(tree_contains(data, secret, 20));
		assert_false(tree_contains(data, master_key, sizeof(master_key)));
		return;
	}
	/* While open the row is in the WAL; after close it is in the database file. */
	snprintf(wal, sizeof(wal), "%s-wal", f->db);
	assert_true(file_contains(wal, "marker-key-id", 13));
	assert_false(file_contains(wal, secret, 20));
	skr_store_close(f->s);
	f->s = NULL;
	assert_int_equal(access(wal, F_OK), -1);
	assert_true(file_contains(f->db, "marker-key-id", 13));
	assert_false(file_contains(f->db, secret, 20));
	assert_false(file_contains(f->db, master_key, sizeof(master_key)));
	reopen(f);
	assert_secret(f, "marker-key-id", secret, sizeof(secret));
}

/* The key id is the AAD: a ciphertext moved to another key does not open. */
static void row_copied_to_another_key_fails(void **state)
{
	struct fixture *f = *state;
	uint8_t out[SKR_STORE_MAX_SECRET], untouched[SKR_STORE_MAX_SECRET];
	size_t out_len = 0;
	struct skr_err err = { 0 };

	create_key(f, "victim", secret1, sizeof(secret1));
	create_key(f, "attacker", secret2, sizeof(secret2));
	skr_store_close(f->s);
	f->s = NULL;
	raw_exec(f->db, "UPDATE keys SET "
		 "secret_iv = (SELECT secret_iv FROM keys WHERE key_id = 'victim'), "
		 "secret_ct = (SELECT secret_ct FROM keys WHERE key_id = 'victim'), "
		 "secret_tag = (SELECT secret_tag FROM keys WHERE key_id = 'victim') "
		 "WHERE key_id = 'attacker'");
	reopen(f);
	memset(out, 0xa5, sizeof(out));
	memcpy(untouched, out, sizeof(out));
	assert_failed_with(skr_store_key_secret(f->s, "attacker", out, &out_len, &err), err,
			   SKR_R_store_decrypt_failed, "does not decrypt");
	assert_non_null(strstr(err.detail, "attacker"));
	assert_memory_equal(out, untouched, sizeof(out));
	assert_secret(f, "victim", secret1, sizeof(secret1));

	/* A flipped ciphertext bit and a truncated tag are refused the same way. */
	skr_store_close(f->s);
	f->s = NULL;
	raw_exec(f->db, SQL("UPDATE keys SET secret_ct = zeroblob(length(secret_ct)) "
			    "WHERE key_id = 'victim'",
			    "UPDATE keys SET secret_ct = decode(repeat('00', length(secret_ct)), 'hex') "
			    "WHERE key_id = 'victim'"));
	raw_exec(f->db, SQL("UPDATE keys SET secret_tag = X'00' WHERE key_id = 'attacker'",
			    "UPDATE keys SET secret_tag = '\\x00' WHERE key_id = 'attacker'"));
	reopen(f);
	skr_err_clear(&err);
	assert_failed_with(skr_store_key_secret(f->s, "victim", out, &out_len, &err), err,
			   SKR_R_store_decrypt_failed, "does not decrypt");
	skr_err_clear(&err);
	assert_failed_with(skr_store_key_secret(f->s, "attacker", out, &out_len, &err), err,
			   SKR_R_store_decrypt_failed, "damaged");
	assert_memory_equal(out, untouched, sizeof(out));
}

static void wrong_master_key_fails(void **state)
{
	struct fixture *f = *state;
	char other_path[PATH_MAX + 16];
	struct skr_store *s = NULL;
	uint8_t out[SKR_STORE_MAX_SECRET];
	size_t out_len;
	struct skr_err err = { 0 };

	create_key(f, "disk", secret1, sizeof(secret1));
	skr_store_close(f->s);
	f->s = NULL;
	snprintf(other_path, sizeof(other_path), "%s/other.key", f->dir);
	write_file(other_path, other_key, sizeof(other_key), 0600);
	assert_failed_with(skr_store_open(f->db, other_path, &s, &err), err,
			   SKR_R_store_decrypt_failed, "does not match");
	assert_null(s);

	/* Without the check value the row itself still refuses the wrong key. */
	raw_exec(f->db, "DELETE FROM meta");
	skr_err_clear(&err);
	assert_ok(skr_store_open(f->db, other_path, &s, &err), err);
	assert_failed_with(skr_store_key_secret(s, "disk", out, &out_len, &err), err,
			   SKR_R_store_decrypt_failed, "master key");
	skr_store_close(s);

	/* The right key (as hex with a newline this time) still opens the secret. */
	raw_exec(f->db, "DELETE FROM meta");
	{
		_cleanup_free_ char *hex = skr_hex_encode(master_key, sizeof(master_key));
		char line[2 * SKR_STORE_MASTER_KEY_SIZE + 1];

		memcpy(line, hex, 2 * SKR_STORE_MASTER_KEY_SIZE);
		line[2 * SKR_STORE_MASTER_KEY_SIZE] = '\n';
		write_file(f->key, line, sizeof(line), 0400);
	}
	reopen(f);
	assert_secret(f, "disk", secret1, sizeof(secret1));
}

/* Nothing was created at db: no file, or no table in its (empty) schema. */
static bool no_database(const char *db)
{
	if (use_pg)
		return raw_count(db, "SELECT COUNT(*) FROM pg_tables "
				     "WHERE schemaname = current_schema()") == 0;
	return access(db, F_OK) == -1;
}

static void master_key_file_checked(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX + 16], db[PATH_MAX + 640], want[PATH_MAX + 128];
	uint8_t zero[SKR_STORE_MASTER_KEY_SIZE] = { 0 };
	char hex_bad[64];
	struct skr_store *s = NULL;
	struct skr_err err = { 0 };

	snprintf(path, sizeof(path), "%s/bad.key", f->dir);
	snprintf(db, sizeof(db), "%s/fresh.db", f->dir);
	if (use_pg)
		pg_schema(db, sizeof(db));

	write_file(path, master_key, sizeof(master_key), 0644);
	snprintf(want, sizeof(want), "master key file %s is readable by group or others "
		 "(mode 0644); chmod 600", path);
	assert_failed_with(skr_store_open(db, path, &s, &err), err, SKR_R_usage, want);
	assert_null(s);
	/* A refused key file leaves no database behind. */
	assert_true(no_database(db));

	write_file(path, master_key, sizeof(master_key), 0620);
	skr_err_clear(&err);
	assert_failed_with(skr_store_open(db, path, &s, &err), err, SKR_R_usage, "(mode 0620)");

	write_file(path, master_key, 31, 0600);
	skr_err_clear(&err);
	assert_failed_with(skr_store_open(db, path, &s, &err), err, SKR_R_usage, "holds 31 bytes");
	assert_non_null(strstr(err.detail, path));

	memset(hex_bad, 'k', 33);
	write_file(path, hex_bad, 33, 0600);
	skr_err_clear(&err);
	assert_failed_with(skr_store_open(db, path, &s, &err), err, SKR_R_usage, "holds 33 bytes");

	memset(hex_bad, 'g', sizeof(hex_bad));
	write_file(path, hex_bad, sizeof(hex_bad), 0600);
	skr_err_clear(&err);
	assert_failed_with(skr_store_open(db, path, &s, &err), err, SKR_R_usage, "not hex");

	write_file(path, zero, sizeof(zero), 0600);
	skr_err_clear(&err);
	assert_failed_with(skr_store_open(db, path, &s, &err), err, SKR_R_usage, "all-zero");

	skr_err_clear(&err);
	assert_failed_with(skr_store_open(db, f->dir, &s, &err), err, SKR_R_usage,
			   "not a regular file");
	snprintf(path, sizeof(path), "%s/missing.key", f->dir);
	skr_err_clear(&err);
	assert_failed_with(skr_store_open(db, path, &s, &err), err, SKR_R_usage, "cannot open");
	assert_true(no_database(db));
}

static void duplicate_key_refused(void **state)
{
	struct fixture *f = *state;
	struct skr_err err = { 0 };

	create_key(f, "disk", secret1, sizeof(secret1));
	assert_failed_with(skr_store_key_create(f->s, "disk", secret2, sizeof(secret2), POLICY,
						NULL, &err), err, SKR_R_key_exists, "disk");
	assert_secret(f, "disk", secret1, sizeof(secret1));
}

static void unknown_key_refused(void **state)
{
	struct fixture *f = *state;
	uint8_t out[SKR_STORE_MAX_SECRET];
	size_t out_len;
	int64_t id;
	_cleanup_free_ char *policy = NULL, *json = NULL;
	struct skr_err err = { 0 };

	assert_failed_with(skr_store_key_secret(f->s, "nope", out, &out_len, &err), err,
			   SKR_R_key_unknown, "nope");
	assert_int_equal(skr_reason_class(err.reason), SKR_CLASS_VERIFY);
	skr_err_clear(&err);
	assert_failed_with(skr_store_key_policy(f->s, "nope", &policy, &err), err,
			   SKR_R_key_unknown, NULL);
	assert_null(policy);
	skr_err_clear(&err);
	assert_failed_with(skr_store_key_set_policy(f->s, "nope", POLICY, NULL, &err), err,
			   SKR_R_key_unknown, NULL);
	skr_err_clear(&err);
	assert_failed_with(skr_store_key_delete(f->s, "nope", NULL, &err), err, SKR_R_key_unknown, NULL);
	skr_err_clear(&err);
	assert_failed_with(skr_store_refset_add(f->s, "nope", "v1", "current", PCRS_A, &id, NULL, &err),
			   err, SKR_R_key_unknown, NULL);
	skr_err_clear(&err);
	assert_failed_with(skr_store_refset_list(f->s, "nope", &json, &err), err,
			   SKR_R_key_unknown, NULL);
	assert_null(json);
	skr_err_clear(&err);
	assert_failed_with(skr_store_refset_remove(f->s, "nope", 1, NULL, &err), err, SKR_R_key_unknown,
			   NULL);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM refsets"), 0);
}

static void invalid_key_ids_refused(void **state)
{
	struct fixture *f = *state;
	char long_id[SKR_STORE_KEY_ID_MAX + 2];
	static const char *const bad[] = { "", "../x", "a b", " a", "a/b", ".", "..", "a\nb",
					   "k\xc3\xa9", "a;DROP" };
	uint8_t out[SKR_STORE_MAX_SECRET];
	size_t out_len, i;
	int64_t id;
	_cleanup_free_ char *json = NULL;
	struct skr_err err = { 0 };

	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = 0;	/* 129 characters */
	assert_false(skr_store_key_id_valid(long_id));
	assert_failed_with(skr_store_key_create(f->s, long_id, secret1, sizeof(secret1), POLICY,
						NULL, &err), err, SKR_R_malformed, "129 bytes");
	long_id[SKR_STORE_KEY_ID_MAX] = 0;	/* 128 is fine */
	assert_true(skr_store_key_id_valid(long_id));
	create_key(f, long_id, secret1, sizeof(secret1));
	assert_true(skr_store_key_id_valid("A-z_0.9"));
	assert_true(skr_store_key_id_valid("..."));
	assert_false(skr_store_key_id_valid(NULL));

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_false(skr_store_key_id_valid(bad[i]));
		skr_err_clear(&err);
		assert_failed_with(skr_store_key_create(f->s, bad[i], secret1, sizeof(secret1),
							POLICY, NULL, &err), err, SKR_R_malformed,
				   "invalid key id");
		skr_err_clear(&err);
		assert_failed_with(skr_store_key_secret(f->s, bad[i], out, &out_len, &err), err,
				   SKR_R_malformed, NULL);
		skr_err_clear(&err);
		assert_failed_with(skr_store_refset_add(f->s, bad[i], "v1", "current", PCRS_A, &id,
							NULL, &err), err, SKR_R_malformed, NULL);
		skr_err_clear(&err);
		assert_failed_with(skr_store_audit_query(f->s, bad[i], 0, &json, &err), err,
				   SKR_R_malformed, NULL);
	}
	skr_err_clear(&err);
	assert_failed_with(skr_store_key_create(f->s, NULL, secret1, sizeof(secret1), POLICY, NULL, &err),
			   err, SKR_R_usage, NULL);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM keys"), 1);
}

/* ---- Reference sets ------------------------------------------------------ */

static void refsets_add_list_remove(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *json = NULL, *after = NULL, *other = NULL;
	json_object *arr, *row, *pcrs, *bank, *v;
	int64_t id1 = 0, id2 = 0, id3 = 0;
	struct skr_err err = { 0 };

	create_key(f, "disk", secret1, sizeof(secret1));
	create_key(f, "other", secret2, sizeof(secret2));
	assert_ok(skr_store_refset_add(f->s, "disk", "kernel 6.1.0-18", "current", PCRS_A, &id1,
				       NULL, &err), err);
	assert_ok(skr_store_refset_add(f->s, "disk", "kernel 6.1.0-21", "pending", PCRS_B, &id2,
				       NULL, &err), err);
	assert_ok(skr_store_refset_add(f->s, "other", "v1", "current", PCRS_A, &id3, NULL, &err), err);
	assert_true(id1 > 0 && id2 > id1 && id3 > id2);

	assert_ok(skr_store_refset_list(f->s, "disk", &json, &err), err);
	arr = parse(json);
	assert_int_equal(json_object_array_length(arr), 2);
	row = json_object_array_get_idx(arr, 0);
	assert_int_equal(field_int(row, "id"), id1);
	assert_string_equal(field_str(row, "label"), "kernel 6.1.0-18");
	assert_string_equal(field_str(row, "state"), "current");
	assert_true(field_int(row, "created") > 1600000000);
	row = json_object_array_get_idx(arr, 1);
	assert_string_equal(field_str(row, "state"), "pending");
	/* PCR values come back as an object, canonical lower-case hex. */
	assert_true(json_object_object_get_ex(row, "pcrs", &pcrs));
	assert_true(json_object_is_type(pcrs, json_type_object));
	assert_true(json_object_object_get_ex(pcrs, "sha256", &bank));
	assert_true(json_object_object_get_ex(bank, "7", &v));
	assert_string_equal(json_object_get_string(v), H64("b"));
	assert_true(json_object_object_get_ex(pcrs, "sha1", &bank));
	json_object_put(arr);

	/* A set of another key cannot be removed through this one. */
	assert_failed_with(skr_store_refset_remove(f->s, "disk", id3, NULL, &err), err,
			   SKR_R_refset_unknown, "disk");
	skr_err_clear(&err);
	assert_failed_with(skr_store_refset_remove(f->s, "disk", 9999, NULL, &err), err,
			   SKR_R_refset_unknown, "9999");
	skr_err_clear(&err);
	assert_ok(skr_store_refset_remove(f->s, "disk", id1, NULL, &err), err);
	assert_ok(skr_store_refset_list(f->s, "disk", &after, &err), err);
	arr = parse(after);
	assert_int_equal(json_object_array_length(arr), 1);
	assert_int_equal(field_int(json_object_array_get_idx(arr, 0), "id"), id2);
	json_object_put(arr);
	assert_ok(skr_store_refset_list(f->s, "other", &other, &err), err);
	arr = parse(other);
	assert_int_equal(json_object_array_length(arr), 1);
	json_object_put(arr);
}

static void refset_input_validated(void **state)
{
	struct fixture *f = *state;
	static const char *const bad_labels[] = { " lead", "trail ", "tab\there", "nl\n",
						  "caf\xc3\xa9", " " };
	static const char *const bad_states[] = { "", "old", "Current", "current ", "pending;" };
	static const char *const bad_pcrs[] = {
		"",
		"{",
		"[]",
		"{}",					/* no PCR value at all */
		"{\"sha256\":{}}",
		"{\"md5\":{\"0\":\"00\"}}",		/* unknown bank */
		"{\"sha256\":{\"0\":\"00\"}}",		/* wrong length */
		"{\"sha256\":{\"24\":\"" H64("0") "\"}}",	/* no PCR 24 */
		"{\"sha256\":{\"0\":\"" H64("z") "\"}}",	/* not hex */
		"{\"sha256\":{\"0\":7}}",
		"{\"sha256\":[]}",
		PCRS_A " trailing",
	};
	char long_label[SKR_STORE_LABEL_MAX + 2];
	size_t i;
	int64_t id;
	struct skr_err err = { 0 };

	create_key(f, "disk", secret1, sizeof(secret1));
	memset(long_label, 'l', sizeof(long_label) - 1);
	long_label[sizeof(long_label) - 1] = 0;
	assert_failed_with(skr_store_refset_add(f->s, "disk", long_label, "current", PCRS_A, &id,
						NULL, &err), err, SKR_R_malformed, "label");
	long_label[SKR_STORE_LABEL_MAX] = 0;
	skr_err_clear(&err);
	assert_ok(skr_store_refset_add(f->s, "disk", long_label, "current", PCRS_A, &id, NULL, &err),
		  err);
	for (i = 0; i < ARRAY_SIZE(bad_labels); i++) {
		skr_err_clear(&err);
		assert_failed_with(skr_store_refset_add(f->s, "disk", bad_labels[i], "current",
							PCRS_A, &id, NULL, &err), err, SKR_R_malformed,
				   "label");
	}
	for (i = 0; i < ARRAY_SIZE(bad_states); i++) {
		skr_err_clear(&err);
		assert_failed_with(skr_store_refset_add(f->s, "disk", "v1", bad_states[i], PCRS_A,
							&id, NULL, &err), err, SKR_R_malformed, "state");
	}
	for (i = 0; i < ARRAY_SIZE(bad_pcrs); i++) {
		skr_err_clear(&err);
		assert_failed_with(skr_store_refset_add(f->s, "disk", "v1", "current", bad_pcrs[i],
							&id, NULL, &err), err, SKR_R_malformed, NULL);
	}
	skr_err_clear(&err);
	assert_failed_with(skr_store_refset_add(f->s, "disk", "v1", NULL, PCRS_A, &id, NULL, &err),
			   err, SKR_R_usage, NULL);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM refsets"), 1);
}

static void delete_cascades_to_refsets(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *json = NULL, *audit = NULL;
	struct skr_audit_entry e = { .key_id = "disk", .client = "admin", .action =
					     "admin:key_delete", .verdict = "allow" };
	int64_t id;
	json_object *arr;
	struct skr_err err = { 0 };

	create_key(f, "disk", secret1, sizeof(secret1));
	create_key(f, "keep", secret2, sizeof(secret2));
	assert_ok(skr_store_refset_add(f->s, "disk", "a", "current", PCRS_A, &id, NULL, &err), err);
	assert_ok(skr_store_refset_add(f->s, "disk", "b", "pending", PCRS_B, &id, NULL, &err), err);
	assert_ok(skr_store_refset_add(f->s, "keep", "a", "current", PCRS_A, &id, NULL, &err), err);
	assert_ok(skr_store_audit(f->s, &e, &err), err);
	assert_ok(skr_store_key_delete(f->s, "disk", NULL, &err), err);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM refsets WHERE key_id = 'disk'"), 0);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM refsets"), 1);
	/* A key created again under the same id starts without reference sets. */
	create_key(f, "disk", secret2, sizeof(secret2));
	assert_ok(skr_store_refset_list(f->s, "disk", &json, &err), err);
	assert_string_equal(json, "[]");
	assert_secret(f, "disk", secret2, sizeof(secret2));
	/* The audit trail outlives the key. */
	assert_ok(skr_store_audit_query(f->s, "disk", 0, &audit, &err), err);
	arr = parse(audit);
	assert_int_equal(json_object_array_length(arr), 1);
	json_object_put(arr);
}

/* ---- Audit --------------------------------------------------------------- */

static void audit_newest_first_and_filtered(void **state)
{
	struct fixture *f = *state;
	uint8_t digest[32];
	char long_detail[5000];
	struct skr_audit_entry e[] = {
		{ .key_id = "disk-a", .client = "10.0.0.1", .action = "release",
		  .verdict = "allow", .evidence_digest = digest },
		{ .key_id = "disk-b", .client = "10.0.0.2", .action = "release", .verdict = "deny",
		  .reason = "pcr_mismatch", .detail = "PCR 7\n\x01 \\ x" },
		{ .client = "unix", .action = "admin:key_list", .verdict = "allow" },
		{ .key_id = "disk-a", .client = "10.0.0.1", .action = "challenge",
		  .verdict = "error", .detail = long_detail },
	};
	_cleanup_free_ char *all = NULL, *only_a = NULL, *one = NULL, *none = NULL;
	_cleanup_free_ char *hex = NULL;
	json_object *arr, *row, *v;
	int64_t prev = INT64_MAX;
	struct skr_audit_entry bad;
	size_t i;
	struct skr_err err = { 0 };

	for (i = 0; i < sizeof(digest); i++)
		digest[i] = (uint8_t)i;
	memset(long_detail, 'd', sizeof(long_detail) - 1);
	long_detail[sizeof(long_detail) - 1] = 0;
	for (i = 0; i < ARRAY_SIZE(e); i++)
		assert_ok(skr_store_audit(f->s, &e[i], &err), err);

	assert_ok(skr_store_audit_query(f->s, NULL, 0, &all, &err), err);
	arr = parse(all);
	assert_int_equal(json_object_array_length(arr), 4);
	for (i = 0; i < 4; i++) {
		row = json_object_array_get_idx(arr, i);
		assert_true(field_int(row, "id") < prev);
		prev = field_int(row, "id");
		assert_true(field_int(row, "time") > 1600000000);
	}
	row = json_object_array_get_idx(arr, 0);
	assert_string_equal(field_str(row, "action"), "challenge");
	assert_string_equal(field_str(row, "verdict"), "error");
	assert_true(strlen(field_str(row, "detail")) <= 2048 + 3);
	assert_non_null(strstr(field_str(row, "detail"), "ddd..."));
	row = json_object_array_get_idx(arr, 1);
	assert_null(field_str(row, "key_id"));
	assert_null(field_str(row, "reason"));
	assert_null(field_str(row, "evidence_digest"));
	row = json_object_array_get_idx(arr, 2);
	assert_string_equal(field_str(row, "reason"), "pcr_mismatch");
	/* Client-controlled bytes are escaped, never stored raw. */
	assert_string_equal(field_str(row, "detail"), "PCR 7\\x0a\\x01 \\\\ x");
	row = json_object_array_get_idx(arr, 3);
	hex = skr_hex_encode(digest, sizeof(digest));
	assert_true(json_object_object_get_ex(row, "evidence_digest", &v));
	assert_string_equal(json_object_get_string(v), hex);
	assert_string_equal(field_str(row, "client"), "10.0.0.1");
	json_object_put(arr);

	assert_ok(skr_store_audit_query(f->s, "disk-a", 0, &only_a, &err), err);
	arr = parse(only_a);
	assert_int_equal(json_object_array_length(arr), 2);
	assert_string_equal(field_str(json_object_array_get_idx(arr, 0), "action"), "challenge");
	assert_string_equal(field_str(json_object_array_get_idx(arr, 1), "action"), "release");
	json_object_put(arr);
	assert_ok(skr_store_audit_query(f->s, NULL, 1, &one, &err), err);
	arr = parse(one);
	assert_int_equal(json_object_array_length(arr), 1);
	json_object_put(arr);
	assert_ok(skr_store_audit_query(f->s, "disk-z", 10, &none, &err), err);
	assert_string_equal(none, "[]");

	bad = e[0];
	bad.verdict = "maybe";
	assert_failed_with(skr_store_audit(f->s, &bad, &err), err, SKR_R_usage, "verdict");
	bad = e[0];
	bad.action = NULL;
	skr_err_clear(&err);
	assert_failed_with(skr_store_audit(f->s, &bad, &err), err, SKR_R_usage, "action");
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM audit"), 4);
}

/* ---- Durability and schema ----------------------------------------------- */

static void reopen_keeps_everything(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *keys1 = NULL, *keys2 = NULL, *ref1 = NULL, *ref2 = NULL;
	_cleanup_free_ char *aud1 = NULL, *aud2 = NULL, *pol = NULL;
	struct skr_audit_entry e = { .key_id = "disk", .client = "c", .action = "release",
				     .verdict = "deny", .reason = "pcr_mismatch" };
	int64_t id;
	struct skr_err err = { 0 };

	create_key(f, "disk", secret1, sizeof(secret1));
	create_key(f, "disk-2", secret2, sizeof(secret2));
	assert_ok(skr_store_key_set_policy(f->s, "disk-2", "{\"v\":2}", NULL, &err), err);
	assert_ok(skr_store_refset_add(f->s, "disk", "v1", "current", PCRS_A, &id, NULL, &err), err);
	assert_ok(skr_store_audit(f->s, &e, &err), err);
	assert_ok(skr_store_key_list(f->s, &keys1, &err), err);
	assert_ok(skr_store_refset_list(f->s, "disk", &ref1, &err), err);
	assert_ok(skr_store_audit_query(f->s, NULL, 0, &aud1, &err), err);

	reopen(f);
	reopen(f);
	assert_ok(skr_store_key_list(f->s, &keys2, &err), err);
	assert_ok(skr_store_refset_list(f->s, "disk", &ref2, &err), err);
	assert_ok(skr_store_audit_query(f->s, NULL, 0, &aud2, &err), err);
	assert_string_equal(keys1, keys2);
	assert_string_equal(ref1, ref2);
	assert_string_equal(aud1, aud2);
	assert_ok(skr_store_key_policy(f->s, "disk-2", &pol, &err), err);
	assert_string_equal(pol, "{\"v\":2}");
	assert_secret(f, "disk", secret1, sizeof(secret1));
	assert_secret(f, "disk-2", secret2, sizeof(secret2));
	assert_int_equal(raw_count(f->db, "SELECT MAX(version) FROM schema_version"),
			 SKR_STORE_SCHEMA_VERSION);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM schema_version"),
			 SKR_STORE_SCHEMA_VERSION);
}

/* ---- Reseal -------------------------------------------------------------- */

#define PCRS_C "{\"sha256\":{\"4\":\"" H64("c") "\",\"7\":\"" H64("a") "\"}}"
#define PCRS_D "{\"sha256\":{\"4\":\"" H64("d") "\",\"7\":\"" H64("a") "\"}}"
#define PCRS_E "{\"sha256\":{\"4\":\"" H64("e") "\",\"7\":\"" H64("a") "\"}}"

/* "id:state:label" of every set of a key, in id order, one per line. */
static void sets_text(struct fixture *f, const char *key_id, char *out, size_t size)
{
	_cleanup_free_ char *json = NULL;
	struct skr_err err = { 0 };
	json_object *arr;
	size_t i, used = 0;

	assert_ok(skr_store_refset_list(f->s, key_id, &json, &err), err);
	arr = parse(json);
	out[0] = '\0';
	for (i = 0; i < json_object_array_length(arr); i++) {
		json_object *row = json_object_array_get_idx(arr, i);

		used += (size_t)snprintf(out + used, size - used, "%lld:%s:%s\n",
					 (long long)field_int(row, "id"), field_str(row, "state"),
					 field_str(row, "label"));
	}
	json_object_put(arr);
}

static void submit_dedupes_and_supersedes(void **state)
{
	struct fixture *f = *state;
	struct skr_store_submit r;
	struct skr_err err = { 0 };
	int64_t cur = 0;
	char text[1024], want[1024];

	create_key(f, "disk", secret1, sizeof(secret1));
	assert_ok(skr_store_refset_add(f->s, "disk", "enrolled", "current", PCRS_C, &cur, NULL, &err), err);
	/* The same values as the current set: nothing added. */
	assert_ok(skr_store_refset_submit(f->s, "disk", "kernel 56", "pending", PCRS_C, NULL, true, &r,
					  NULL, &err), err);
	assert_true(r.existed);
	assert_int_equal(r.id, cur);
	assert_string_equal(r.state, "current");
	/* New values: pending; submitted again: the same set. */
	assert_ok(skr_store_refset_submit(f->s, "disk", "kernel 56", "pending", PCRS_D, NULL, true, &r,
					  NULL, &err), err);
	assert_false(r.existed);
	assert_string_equal(r.state, "pending");
	int64_t first = r.id;
	assert_ok(skr_store_refset_submit(f->s, "disk", "kernel 56", "pending", PCRS_D, NULL, true, &r,
					  NULL, &err), err);
	assert_true(r.existed);
	assert_int_equal(r.id, first);
	/* Kernel 56 again with another initrd: the older prediction goes, the current set stays. */
	assert_ok(skr_store_refset_submit(f->s, "disk", "kernel 56", "pending", PCRS_A, NULL, true, &r,
					  NULL, &err), err);
	assert_int_equal(r.superseded, 1);
	sets_text(f, "disk", text, sizeof(text));
	snprintf(want, sizeof(want), "%lld:current:enrolled\n%lld:pending:kernel 56\n",
		 (long long)cur, (long long)r.id);
	assert_string_equal(text, want);
	/* A submission never removes a current set, even under its label. */
	assert_ok(skr_store_refset_submit(f->s, "disk", "enrolled", "queued", PCRS_B, "why", false, &r,
					  NULL, &err), err);
	assert_int_equal(r.superseded, 0);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM refsets WHERE state = 'current'"), 1);
	assert_failed_with(skr_store_refset_submit(f->s, "disk", "x", "current", PCRS_B, NULL, false, &r,
						   NULL, &err), err, SKR_R_malformed, "\"pending\" or \"queued\"");
	skr_err_clear(&err);
	assert_failed_with(skr_store_refset_submit(f->s, "nokey", "x", "pending", PCRS_B, NULL, true, &r,
						   NULL, &err), err, SKR_R_key_unknown, "nokey");
}

static void queue_is_bounded_and_approved(void **state)
{
	struct fixture *f = *state;
	struct skr_store_submit r;
	struct skr_err err = { 0 };
	char label[32], pcrs[256], before[2048], after[2048];
	int64_t queued = 0;
	int i;

	create_key(f, "disk", secret1, sizeof(secret1));
	for (i = 0; i < SKR_STORE_MAX_QUEUED; i++) {
		snprintf(label, sizeof(label), "kernel %d", i);
		snprintf(pcrs, sizeof(pcrs), "{\"sha256\":{\"4\":\"%064x\"}}", i + 1);
		assert_ok(skr_store_refset_submit(f->s, "disk", label, "queued", pcrs, "not allowed",
						  false, &r, NULL, &err), err);
		queued = r.id;
	}
	sets_text(f, "disk", before, sizeof(before));
	/* Full: the oldest stay, a new label is refused... */
	assert_failed_with(skr_store_refset_submit(f->s, "disk", "kernel x", "queued", PCRS_A,
						   "not allowed", false, &r, NULL, &err),
			   err, SKR_R_refset_queue_full, "waiting for an operator (at most 8)");
	skr_err_clear(&err);
	/* ...and so is a queued resubmission under a queued label: it replaces nothing. */
	assert_failed_with(skr_store_refset_submit(f->s, "disk", "kernel 0", "queued", PCRS_A,
						   "again", true, &r, NULL, &err),
			   err, SKR_R_refset_queue_full, "disk");
	skr_err_clear(&err);
	sets_text(f, "disk", after, sizeof(after));
	assert_string_equal(before, after);
	/* The queued set's note is listed; approval makes it pending and clears why. */
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM refsets WHERE note = 'not allowed'"),
			 SKR_STORE_MAX_QUEUED);
	assert_ok(skr_store_refset_approve(f->s, "disk", queued, NULL, &err), err);
	assert_failed_with(skr_store_refset_approve(f->s, "disk", queued, NULL, &err), err,
			   SKR_R_refset_unknown, "no queued reference set");
	skr_err_clear(&err);
	/* An approved boot needs no queue room; its set replaces the queued one of its label. */
	assert_ok(skr_store_refset_submit(f->s, "disk", "kernel 0", "pending", PCRS_A, NULL, true, &r,
					  NULL, &err), err);
	assert_false(r.existed);
	assert_string_equal(r.state, "pending");
	assert_int_equal(r.superseded, 1);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM refsets WHERE state = 'pending'"), 2);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM refsets WHERE label = 'kernel 0'"), 1);
}

/* The issue's reproduction: an unapproved boot's look-alike cannot remove an approved set. */
static void queued_submission_never_supersedes(void **state)
{
	struct fixture *f = *state;
	struct skr_store_submit r;
	struct skr_err err = { 0 };
	char text[1024], want[1024];
	int64_t approved, lookalike;

	create_key(f, "disk", secret1, sizeof(secret1));
	assert_ok(skr_store_refset_submit(f->s, "disk", "kernel 56", "pending", PCRS_D, NULL, true, &r,
					  NULL, &err), err);
	approved = r.id;
	/* Queued, even when the caller (wrongly) says it may supersede: nothing removed. */
	assert_ok(skr_store_refset_submit(f->s, "disk", "kernel 56", "queued", PCRS_B, "unapproved",
					  true, &r, NULL, &err), err);
	assert_string_equal(r.state, "queued");
	assert_int_equal(r.superseded, 0);
	lookalike = r.id;
	/* Queued with the approved set's own values: it is that set, untouched and still pending. */
	assert_ok(skr_store_refset_submit(f->s, "disk", "kernel 57", "queued", PCRS_D, "unapproved",
					  false, &r, NULL, &err), err);
	assert_true(r.existed);
	assert_int_equal(r.id, approved);
	assert_string_equal(r.state, "pending");
	sets_text(f, "disk", text, sizeof(text));
	snprintf(want, sizeof(want), "%lld:pending:kernel 56\n%lld:queued:kernel 56\n",
		 (long long)approved, (long long)lookalike);
	assert_string_equal(text, want);
	/* A second queued look-alike under the label is added beside it, not instead. */
	assert_ok(skr_store_refset_submit(f->s, "disk", "kernel 56", "queued", PCRS_A, "unapproved",
					  false, &r, NULL, &err), err);
	assert_int_equal(r.superseded, 0);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM refsets WHERE label = 'kernel 56'"), 3);
	/* A pending submission the caller may not let supersede adds only itself. */
	assert_ok(skr_store_refset_submit(f->s, "disk", "kernel 56", "pending", PCRS_C, NULL, false,
					  &r, NULL, &err), err);
	assert_int_equal(r.superseded, 0);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM refsets WHERE label = 'kernel 56'"), 4);
	/* The approved boot's newer prediction replaces every pending and queued one of the label. */
	assert_ok(skr_store_refset_submit(f->s, "disk", "kernel 56", "pending", PCRS_E, NULL, true, &r,
					  NULL, &err), err);
	assert_int_equal(r.superseded, 4);
	sets_text(f, "disk", text, sizeof(text));
	snprintf(want, sizeof(want), "%lld:pending:kernel 56\n", (long long)r.id);
	assert_string_equal(text, want);
}

/* Promoting a queued set (its values submitted by an approved boot) relabels only it. */
static void queued_promotion_by_pending_submission(void **state)
{
	struct fixture *f = *state;
	struct skr_store_submit r;
	struct skr_err err = { 0 };
	int64_t queued;

	create_key(f, "disk", secret1, sizeof(secret1));
	assert_ok(skr_store_refset_submit(f->s, "disk", "kernel 56", "queued", PCRS_A, "n", false, &r,
					  NULL, &err), err);
	queued = r.id;
	assert_ok(skr_store_refset_submit(f->s, "disk", "kernel 57", "queued", PCRS_B, "n", false, &r,
					  NULL, &err), err);
	/* The same values from an unapproved boot: returned as they are, still queued. */
	assert_ok(skr_store_refset_submit(f->s, "disk", "kernel 57", "queued", PCRS_A, "n", false, &r,
					  NULL, &err), err);
	assert_true(r.existed);
	assert_int_equal(r.id, queued);
	assert_string_equal(r.state, "queued");
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM refsets WHERE label = 'kernel 56'"), 1);
	/* From an approved boot: promoted under the new label, the older queued one of it goes. */
	assert_ok(skr_store_refset_submit(f->s, "disk", "kernel 57", "pending", PCRS_A, NULL, true, &r,
					  NULL, &err), err);
	assert_int_equal(r.id, queued);
	assert_string_equal(r.state, "pending");
	assert_int_equal(r.superseded, 1);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM refsets"), 1);
}

static void commit_retires_older_and_bounds_history(void **state)
{
	struct fixture *f = *state;
	struct skr_store_commit c;
	struct skr_store_submit r;
	struct skr_err err = { 0 };
	int64_t ids[SKR_STORE_KEEP_RETIRED + 3];
	char label[32], pcrs[256];
	size_t i, n = ARRAY_SIZE(ids);

	create_key(f, "disk", secret1, sizeof(secret1));
	for (i = 0; i < n; i++) {
		snprintf(label, sizeof(label), "kernel %zu", i);
		snprintf(pcrs, sizeof(pcrs), "{\"sha256\":{\"4\":\"%064zx\"}}", i + 1);
		assert_ok(skr_store_refset_submit(f->s, "disk", label, "pending", pcrs, NULL, true, &r, NULL, &err),
			  err);
		ids[i] = r.id;
	}
	/* Booted the second newest: it is current, the newest stays pending (a later boot's). */
	assert_ok(skr_store_refset_commit(f->s, "disk", ids[n - 2], SKR_STORE_KEEP_RETIRED, &c, NULL, &err),
		  err);
	assert_int_equal(c.retired, n - 2);
	assert_int_equal(c.deleted, n - 2 - SKR_STORE_KEEP_RETIRED);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM refsets WHERE state = 'retired'"),
			 SKR_STORE_KEEP_RETIRED);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM refsets WHERE state = 'current'"), 1);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM refsets WHERE state = 'pending'"), 1);
	/* The oldest retired sets went first. */
	assert_int_equal(raw_count(f->db, "SELECT MIN(id) FROM refsets"), ids[n - 2 - SKR_STORE_KEEP_RETIRED]);
	/* A retired set cannot be committed; nor can a set of no key. */
	assert_failed_with(skr_store_refset_commit(f->s, "disk", ids[n - 3], 8, &c, NULL, &err), err,
			   SKR_R_refset_unknown, "no current or pending reference set");
	skr_err_clear(&err);
	/* Withdraw: the pending set of a removed kernel goes; current ones never. */
	unsigned removed = 0;
	snprintf(label, sizeof(label), "kernel %zu", n - 1);
	assert_ok(skr_store_refset_withdraw(f->s, "disk", label, &removed, NULL, &err), err);
	assert_int_equal(removed, 1);
	snprintf(label, sizeof(label), "kernel %zu", n - 2);
	assert_ok(skr_store_refset_withdraw(f->s, "disk", label, &removed, NULL, &err), err);
	assert_int_equal(removed, 0);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM refsets WHERE state = 'current'"), 1);
}

/* A schema 1 database (sets current or pending only) migrates, its sets kept. */
static struct skr_store *second_store(struct fixture *f);

/* Schema 4 (the audit chain) undone: what a schema 3 database holds. */
#define UNDO_V4_SQLITE \
	"DROP TABLE audit_head; DROP TABLE audit_checkpoints; DROP INDEX audit_seq;" \
	"ALTER TABLE audit DROP COLUMN seq; ALTER TABLE audit DROP COLUMN prev;" \
	"ALTER TABLE audit DROP COLUMN hash; DELETE FROM schema_version WHERE version = 4"
#define UNDO_V4_PG \
	"DROP TABLE audit_head; DROP TABLE audit_checkpoints;" \
	"ALTER TABLE audit DROP COLUMN seq, DROP COLUMN prev, DROP COLUMN hash;" \
	"DELETE FROM schema_version WHERE version = 4"

/* Decodes name's hex into out (exactly len bytes), or fails the test. */
static void hex_member(json_object *o, const char *name, uint8_t *out, size_t len)
{
	struct skr_buf b = { 0 };
	struct skr_err err = { 0 };
	json_object *v;

	assert_true(json_object_object_get_ex(o, name, &v));
	assert_ok(skr_hex_decode(json_object_get_string(v), (size_t)json_object_get_string_len(v),
				 &b, name, &err), err);
	assert_int_equal(b.len, len);
	memcpy(out, b.data, len);
	skr_buf_free(&b);
}

/*
 * The audit log is one linear chain of want rows: seq 1..want, each row's
 * prev the hash of the one before (zeros for the first), each hash
 * recomputed here from the row as listed.
 */
static void assert_chain(struct skr_store *s, size_t want)
{
	_cleanup_free_ char *json = NULL;
	uint8_t prev[SKR_AUDIT_HASH_SIZE] = { 0 };
	struct skr_err err = { 0 };
	json_object *rows;
	size_t n, i;

	assert_ok(skr_store_audit_query(s, NULL, 0, &json, &err), err);
	rows = json_tokener_parse(json);
	n = json_object_array_length(rows);
	assert_int_equal(n, want);
	for (i = 0; i < n; i++) {
		/* Newest first: the oldest is the last. */
		json_object *r = json_object_array_get_idx(rows, n - 1 - i), *v, *d;
		uint8_t p[SKR_AUDIT_HASH_SIZE], h[SKR_AUDIT_HASH_SIZE], got[SKR_AUDIT_HASH_SIZE];
		uint8_t digest[32];
		struct skr_audit_fields f = { 0 };
		int k;

		assert_true(json_object_object_get_ex(r, "seq", &v));
		assert_int_equal(json_object_get_int64(v), (int64_t)(i + 1));
		hex_member(r, "prev", p, sizeof(p));
		hex_member(r, "hash", h, sizeof(h));
		assert_memory_equal(p, prev, sizeof(p));
		json_object_object_get_ex(r, "time", &v);
		f.time = json_object_get_int64(v);
		for (k = 0; k < 6; k++) {
			json_object_object_get_ex(r, skr_audit_text_names[k], &v);
			f.text[k] = v ? json_object_get_string(v) : NULL;
			f.text_len[k] = v ? (size_t)json_object_get_string_len(v) : 0;
		}
		json_object_object_get_ex(r, "evidence_digest", &d);
		if (d) {
			hex_member(r, "evidence_digest", digest, sizeof(digest));
			f.digest = digest;
			f.digest_len = sizeof(digest);
		}
		assert_ok(skr_audit_row_hash(i + 1, p, &f, got, &err), err);
		assert_memory_equal(got, h, sizeof(h));
		memcpy(prev, h, sizeof(prev));
	}
	json_object_put(rows);
}

/*
 * A schema 3 database with audit rows: the migration chains them in the
 * order they were written, the head follows, and new rows chain on.
 */
static void schema_3_chains_existing_rows(void **state)
{
	struct fixture *f = *state;
	struct skr_audit_entry e = { .key_id = "disk", .client = "c", .action = "release",
				     .verdict = "allow", .detail = "old" };
	const uint8_t digest[32] = { 9, 9, 9 };
	struct skr_err err = { 0 };
	int i;

	create_key(f, "disk", secret1, sizeof(secret1));
	for (i = 0; i < 5; i++) {
		e.evidence_digest = i % 2 ? digest : NULL;
		assert_ok(skr_store_audit(f->s, &e, &err), err);
	}
	skr_store_close(f->s);
	f->s = NULL;
	raw_exec(f->db, SQL(UNDO_V4_SQLITE, UNDO_V4_PG));
	assert_ok(skr_store_open(f->db, f->key, &f->s, &err), err);
	assert_int_equal(raw_count(f->db, "SELECT MAX(version) FROM schema_version"),
			 SKR_STORE_SCHEMA_VERSION);
	assert_chain(f->s, 5);
	assert_int_equal(raw_count(f->db, "SELECT seq FROM audit_head"), 5);
	e.detail = "new";
	assert_ok(skr_store_audit(f->s, &e, &err), err);
	assert_chain(f->s, 6);
}

/*
 * Many writers on two stores of one database (replicas): group commits
 * (rows with and without a nonce) and audited key writes in their own
 * transactions interleave, and the log stays one linear chain.
 */
#define CHAIN_THREADS 4
#define CHAIN_EACH 12

struct chain_writer {
	struct skr_store *s;
	int n, failures;
};

static void *chain_writer_main(void *arg)
{
	struct chain_writer *w = arg;
	int i;

	for (i = 0; i < CHAIN_EACH; i++) {
		char client[32], id[32];
		uint8_t nonce[32] = { (uint8_t)w->n, (uint8_t)i, 0xc4 };
		struct skr_audit_entry e = { .client = client, .action = "release",
					     .verdict = "allow" };
		struct skr_err err = { 0 };
		int rc;

		snprintf(client, sizeof(client), "w%d-%d", w->n, i);
		snprintf(id, sizeof(id), "k%d-%d", w->n, i);
		if (i % 3 == 0)
			rc = skr_store_audit_nonce(w->s, &e, nonce, sizeof(nonce), 2000, 1000, &err);
		else if (i % 3 == 1)
			rc = skr_store_audit(w->s, &e, &err);
		else
			rc = skr_store_key_create(w->s, id, (const uint8_t *)"0123456789abcdef", 16,
						  POLICY, &e, &err);
		if (rc < 0)
			w->failures++;
	}
	return NULL;
}

static void audit_chain_linear_across_replicas(void **state)
{
	struct fixture *f = *state;
	struct skr_store *b = second_store(f);
	struct chain_writer w[CHAIN_THREADS];
	pthread_t t[CHAIN_THREADS];
	int i;

	for (i = 0; i < CHAIN_THREADS; i++) {
		w[i] = (struct chain_writer){ .s = i % 2 ? b : f->s, .n = i };
		assert_int_equal(pthread_create(&t[i], NULL, chain_writer_main, &w[i]), 0);
	}
	for (i = 0; i < CHAIN_THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].failures, 0);
	}
	assert_chain(f->s, CHAIN_THREADS * CHAIN_EACH);
	skr_store_close(b);
}

/* The head as the store reports it, and checkpoints stored and listed as given. */
static void audit_checkpoints_stored(void **state)
{
	struct fixture *f = *state;
	struct skr_audit_entry e = { .client = "c", .action = "release", .verdict = "deny" };
	uint8_t head[32], sig[70];
	_cleanup_free_ char *json = NULL;
	struct skr_err err = { 0 };
	uint64_t seq = 99;

	assert_ok(skr_store_audit_head(f->s, &seq, head, &err), err);
	assert_int_equal(seq, 0);
	assert_true(skr_is_zero(head, sizeof(head)));
	assert_ok(skr_store_audit(f->s, &e, &err), err);
	assert_ok(skr_store_audit(f->s, &e, &err), err);
	assert_ok(skr_store_audit_head(f->s, &seq, head, &err), err);
	assert_int_equal(seq, 2);
	assert_int_equal(raw_count(f->db, SQL("SELECT COUNT(*) FROM audit WHERE seq = 2 AND "
					      "hash = (SELECT hash FROM audit_head)",
					      "SELECT COUNT(*) FROM audit WHERE seq = 2 AND "
					      "hash = (SELECT hash FROM audit_head)")), 1);
	memset(sig, 0x5a, sizeof(sig));
	assert_ok(skr_store_audit_checkpoint_add(f->s, seq, head, 1234, sig, sizeof(sig), &err), err);
	assert_failed_with(skr_store_audit_checkpoint_add(f->s, seq, head, 1, sig, 0, &err), err,
			   SKR_R_usage, NULL);
	skr_err_clear(&err);
	assert_ok(skr_store_audit_checkpoints(f->s, &json, &err), err);
	assert_non_null(strstr(json, "\"seq\":2"));
	assert_non_null(strstr(json, "\"time\":1234"));
	assert_non_null(strstr(json, "\"signature\":\"WlpaWlpa"));
}

static void schema_1_migrates(void **state)
{
	struct fixture *f = *state;
	struct skr_store_submit r;
	struct skr_err err = { 0 };
	int64_t id = 0;

	create_key(f, "disk", secret1, sizeof(secret1));
	assert_ok(skr_store_refset_add(f->s, "disk", "enrolled", "current", PCRS_A, &id, NULL, &err), err);
	skr_store_close(f->s);
	f->s = NULL;
	raw_exec(f->db, SQL("CREATE TABLE v1 (id INTEGER PRIMARY KEY, key_id TEXT NOT NULL REFERENCES "
			"keys(key_id) ON DELETE CASCADE, label TEXT NOT NULL, state TEXT NOT NULL CHECK "
			"(state IN ('current', 'pending')), pcrs TEXT NOT NULL, created INTEGER NOT NULL);"
			"INSERT INTO v1 SELECT id, key_id, label, state, pcrs, created FROM refsets;"
			"DROP TABLE refsets; ALTER TABLE v1 RENAME TO refsets;"
			"DELETE FROM schema_version WHERE version >= 2; DROP TABLE used_nonces;"
			UNDO_V4_SQLITE,
			/* PostgreSQL's schema 1, as its migration 1 left it. */
			"ALTER TABLE refsets DROP COLUMN note;"
			"ALTER TABLE refsets DROP CONSTRAINT refsets_state;"
			"ALTER TABLE refsets ADD CONSTRAINT refsets_state "
			"  CHECK (state IN ('current', 'pending'));"
			"DELETE FROM schema_version WHERE version >= 2; DROP TABLE used_nonces;"
			UNDO_V4_PG));
	assert_ok(skr_store_open(f->db, f->key, &f->s, &err), err);
	assert_int_equal(raw_count(f->db, "SELECT MAX(version) FROM schema_version"),
			 SKR_STORE_SCHEMA_VERSION);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM refsets WHERE state = 'current'"), 1);
	assert_ok(skr_store_refset_submit(f->s, "disk", "k", "queued", PCRS_B, "n", false, &r, NULL, &err), err);
	assert_string_equal(r.state, "queued");
}

/* A schema 2 database gains the used-nonce table; nothing else changes. */
static void schema_2_migrates(void **state)
{
	struct fixture *f = *state;
	struct skr_err err = { 0 };
	const uint8_t nonce[32] = { 1 };

	create_key(f, "disk", secret1, sizeof(secret1));
	skr_store_close(f->s);
	f->s = NULL;
	raw_exec(f->db, SQL("DROP TABLE used_nonces; DELETE FROM schema_version WHERE version >= 3;"
			    UNDO_V4_SQLITE,
			    "DROP TABLE used_nonces; DELETE FROM schema_version WHERE version >= 3;"
			    UNDO_V4_PG));
	assert_ok(skr_store_open(f->db, f->key, &f->s, &err), err);
	assert_int_equal(raw_count(f->db, "SELECT MAX(version) FROM schema_version"),
			 SKR_STORE_SCHEMA_VERSION);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM keys"), 1);
	assert_ok(skr_store_nonce_use(f->s, nonce, sizeof(nonce), 2000, 1000, &err), err);
}

/*
 * A nonce is accepted once, also across a reopen (a broker restart); the
 * store keeps its hash, not the nonce; expired ones are purged.
 */
static void nonces_used_once_across_reopen(void **state)
{
	struct fixture *f = *state;
	struct skr_err err = { 0 };
	uint8_t nonce[32] = { 7, 7, 7 }, other[32] = { 8 };
	int i;

	assert_ok(skr_store_nonce_use(f->s, nonce, sizeof(nonce), 2000, 1000, &err), err);
	assert_failed_with(skr_store_nonce_use(f->s, nonce, sizeof(nonce), 2000, 1001, &err), err,
			   SKR_R_nonce_replayed, "already used");
	skr_store_close(f->s);
	f->s = NULL;
	memset(&err, 0, sizeof(err));
	assert_ok(skr_store_open(f->db, f->key, &f->s, &err), err);
	assert_failed_with(skr_store_nonce_use(f->s, nonce, sizeof(nonce), 2000, 1002, &err), err,
			   SKR_R_nonce_replayed, "already used");
	assert_int_equal(raw_count(f->db, SQL("SELECT COUNT(*) FROM used_nonces WHERE nonce_hash = "
					  "x'0707070000000000000000000000000000000000000000000000000000000000'",
					  "SELECT COUNT(*) FROM used_nonces WHERE nonce_hash = "
					  "'\\x0707070000000000000000000000000000000000000000000000000000000000'")),
			 0);
	/* Once expired (the MAC check refuses it by then anyway), it is purged. */
	memset(&err, 0, sizeof(err));
	for (i = 0; i < 300; i++) {
		other[1] = (uint8_t)i;
		other[2] = (uint8_t)(i >> 8);
		assert_ok(skr_store_nonce_use(f->s, other, sizeof(other), 5000, 3000, &err), err);
	}
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM used_nonces WHERE expires = 2000"), 0);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM used_nonces"), 300);
}

/* A release's nonce and audit row go in one transaction: both or neither. */
static void nonce_recorded_with_the_audit_row(void **state)
{
	struct fixture *f = *state;
	struct skr_err err = { 0 };
	const uint8_t nonce[32] = { 9, 9 };
	struct skr_audit_entry e = { .key_id = "disk", .client = "127.0.0.1",
				     .action = "release", .verdict = "allow" };

	assert_ok(skr_store_nonce_check(f->s, nonce, sizeof(nonce), &err), err);
	assert_ok(skr_store_audit_nonce(f->s, &e, nonce, sizeof(nonce), 2000, 1000, &err), err);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM audit"), 1);
	assert_failed_with(skr_store_nonce_check(f->s, nonce, sizeof(nonce), &err), err,
			   SKR_R_nonce_replayed, "already used");
	memset(&err, 0, sizeof(err));
	assert_failed_with(skr_store_audit_nonce(f->s, &e, nonce, sizeof(nonce), 2000, 1000, &err),
			   err, SKR_R_nonce_replayed, "already used");
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM audit"), 1);
	/* An audit row that cannot be written leaves the nonce unrecorded too. */
	raw_exec(f->db, SQL("CREATE TRIGGER full BEFORE INSERT ON audit BEGIN "
			"SELECT RAISE(FAIL, 'disk full'); END",
			"CREATE FUNCTION audit_full() RETURNS trigger LANGUAGE plpgsql AS "
			"$$BEGIN RAISE EXCEPTION 'disk full'; END$$;"
			"CREATE TRIGGER audit_full BEFORE INSERT ON audit FOR EACH ROW "
			"EXECUTE FUNCTION audit_full()"));
	memset(&err, 0, sizeof(err));
	assert_failed_with(skr_store_audit_nonce(f->s, &e, (const uint8_t *)"other nonce", 11, 2000,
						 1000, &err), err, SKR_R_audit_failed, "disk full");
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM used_nonces"), 1);
}

static void future_schema_refused(void **state)
{
	struct fixture *f = *state;
	struct skr_store *s = NULL;
	struct skr_err err = { 0 };

	create_key(f, "disk", secret1, sizeof(secret1));
	skr_store_close(f->s);
	f->s = NULL;
	raw_exec(f->db, "INSERT INTO schema_version (version, applied) VALUES (99, 0)");
	assert_failed_with(skr_store_open(f->db, f->key, &s, &err), err, SKR_R_store_error,
			   "schema version 99, newer than version 4");
	assert_null(s);
	/* Refusing changed nothing. */
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM keys"), 1);
	assert_int_equal(raw_count(f->db, "SELECT MAX(version) FROM schema_version"), 99);
}

static void not_a_database_refused(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX + 16];
	struct skr_store *s = NULL;
	struct skr_err err = { 0 };

	if (use_pg) {
		char conninfo[PATH_MAX + 640];

		/* A database the server does not have: unavailable, named. */
		snprintf(conninfo, sizeof(conninfo), "host=%s port=%d user=skr dbname=no_such_db",
			 pg.dir, pg.port);
		assert_failed_with(skr_store_open(conninfo, f->key, &s, &err), err,
				   SKR_R_store_unavailable, "no_such_db");
		assert_null(s);
		/* A string libpq cannot read is the operator's mistake, said as such. */
		skr_err_clear(&err);
		assert_failed_with(skr_store_open("host=x no_such_option=1", f->key, &s, &err), err,
				   SKR_R_usage, "no_such_option");
		skr_err_clear(&err);
		assert_failed_with(skr_store_open("postgresql://[::1", f->key, &s, &err), err,
				   SKR_R_usage, "not a valid PostgreSQL connection string");
		assert_null(s);
		return;
	}
	snprintf(path, sizeof(path), "%s/junk.db", f->dir);
	write_file(path, "this is not an SQLite database, just some text that is long enough",
		   66, 0600);
	assert_failed_with(skr_store_open(path, f->key, &s, &err), err, SKR_R_store_error, path);
	assert_null(s);
}

/*
 * A child opens the store, writes a key and an audit row and is SIGKILLed
 * the moment the calls return: no close, no checkpoint.  The parent must find
 * both (WAL, synchronous=FULL, committed transactions).
 */
static void kill_9_after_commit_keeps_the_data(void **state)
{
	struct fixture *f = *state;
	char wal[PATH_MAX + 656];
	_cleanup_free_ char *audit = NULL;
	json_object *arr;
	struct stat st;
	int status = 0;
	pid_t pid;

	skr_store_close(f->s);
	f->s = NULL;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct skr_audit_entry e = { .key_id = "crash-disk", .client = "child",
					     .action = "admin:key_create", .verdict = "allow" };
		struct skr_store *s = NULL;
		struct skr_err err = { 0 };

		if (skr_store_open(f->db, f->key, &s, &err) < 0)
			_exit(10);
		if (skr_store_key_create(s, "crash-disk", secret1, sizeof(secret1), POLICY, NULL, &err) < 0)
			_exit(11);
		if (skr_store_audit(s, &e, &err) < 0)
			_exit(12);
		kill(getpid(), SIGKILL);
		_exit(13);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status))
		fail_msg("child exited with status %d instead of being killed", WEXITSTATUS(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	/* SQLite: the rows are only in the WAL: the recovery path is what is tested. */
	snprintf(wal, sizeof(wal), "%s-wal", f->db);
	assert_true(use_pg || stat(wal, &st) == 0);
	assert_true(use_pg || st.st_size > 0);

	reopen(f);
	assert_secret(f, "crash-disk", secret1, sizeof(secret1));
	{
		struct skr_err err = { 0 };

		assert_ok(skr_store_audit_query(f->s, "crash-disk", 0, &audit, &err), err);
	}
	arr = parse(audit);
	assert_int_equal(json_object_array_length(arr), 1);
	assert_string_equal(field_str(json_object_array_get_idx(arr, 0), "client"), "child");
	json_object_put(arr);
}

/* ---- Threads ------------------------------------------------------------- */

#define THREADS 4
#define PER_THREAD 20

struct worker {
	struct skr_store *s;
	int n;
	int failures;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int i;

	for (i = 0; i < PER_THREAD; i++) {
		char id[32];
		uint8_t secret[16], out[SKR_STORE_MAX_SECRET];
		size_t out_len = 0;
		struct skr_audit_entry e = { .client = "thread", .action = "release",
					     .verdict = "allow" };
		struct skr_err err = { 0 };
		char *json = NULL;

		snprintf(id, sizeof(id), "t%d-%d", w->n, i);
		memset(secret, w->n * PER_THREAD + i + 1, sizeof(secret));
		e.key_id = id;
		if (skr_store_key_create(w->s, id, secret, sizeof(secret), POLICY, NULL, &err) < 0 ||
		    skr_store_audit(w->s, &e, &err) < 0 ||
		    skr_store_key_secret(w->s, id, out, &out_len, &err) < 0 ||
		    out_len != sizeof(secret) || memcmp(out, secret, sizeof(secret)) ||
		    skr_store_key_list(w->s, &json, &err) < 0)
			w->failures++;
		free(json);
	}
	return NULL;
}

static void threads_share_one_store(void **state)
{
	struct fixture *f = *state;
	struct worker w[THREADS];
	pthread_t t[THREADS];
	int i;

	for (i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .s = f->s, .n = i };
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].failures, 0);
	}
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM keys"), THREADS * PER_THREAD);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM audit"), THREADS * PER_THREAD);
}

/* ---- Group commit ---------------------------------------------------------- */

/*
 * Another connection holding the database's write lock (BEGIN IMMEDIATE), as
 * a replica or an operator's sqlite3 shell would: the store's next flush
 * waits for it (busy timeout), so the callers that arrive meanwhile queue
 * up and are flushed together once it lets go.  This makes the batches of a
 * test the same on every run instead of a matter of thread timing.
 */
struct write_lock {
	sqlite3 *sq;
	PGconn *pg;
};

/*
 * PostgreSQL: a transaction of another session holding the tables a flush
 * writes in EXCLUSIVE mode (reads go on, INSERTs wait), as SQLite's write
 * lock does; lock_timeout (5 s) is far above what the tests wait.
 */
static struct write_lock hold_write_lock(const char *db_path)
{
	struct write_lock l = { 0 };
	PGresult *r;

	if (use_pg) {
		l.pg = pg_connect(db_path);
		r = PQexec(l.pg, "BEGIN; LOCK TABLE used_nonces, audit IN EXCLUSIVE MODE");
		assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
		PQclear(r);
		return l;
	}
	assert_int_equal(sqlite3_open(db_path, &l.sq), SQLITE_OK);
	assert_int_equal(sqlite3_exec(l.sq, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	return l;
}

static void release_write_lock(struct write_lock l)
{
	PGresult *r;

	if (l.pg) {
		r = PQexec(l.pg, "ROLLBACK");
		assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
		PQclear(r);
		PQfinish(l.pg);
		return;
	}
	assert_int_equal(sqlite3_exec(l.sq, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(l.sq);
}

/* Waits (up to 10 s) until n rows are queued behind the running flush. */
static void wait_queued(struct skr_store *s, uint64_t n)
{
	struct skr_store_commit_stats st = { 0 };
	struct skr_err err = { 0 };
	int i;

	for (i = 0; i < 10000; i++) {
		assert_ok(skr_store_commit_stats(s, &st, &err), err);
		if (st.queued == n)
			return;
		usleep(1000);
	}
	fail_msg("%llu rows queued, expected %llu", (unsigned long long)st.queued,
		 (unsigned long long)n);
}

struct releaser {
	struct skr_store *s;
	uint8_t nonce[32];
	char client[16];
	int rc;
	struct skr_err err;
	pthread_t t;
};

static void *releaser_main(void *arg)
{
	struct releaser *r = arg;
	struct skr_audit_entry e = { .key_id = "disk", .client = r->client, .action = "release",
				     .verdict = "allow" };

	r->rc = skr_store_audit_nonce(r->s, &e, r->nonce, sizeof(r->nonce), 2000, 1000, &r->err);
	return NULL;
}

/* Starts r[i] (nonce tag as its first byte) and waits until it queued (queued_after). */
static void start_releaser(struct fixture *f, struct releaser *r, int i, uint8_t tag,
			   uint64_t queued_after)
{
	memset(r, 0, sizeof(*r));
	r->s = f->s;
	r->nonce[0] = tag;
	r->nonce[1] = 0x5a;
	snprintf(r->client, sizeof(r->client), "vm-%d", i);
	assert_int_equal(pthread_create(&r->t, NULL, releaser_main, r), 0);
	if (queued_after != UINT64_MAX)
		wait_queued(f->s, queued_after);
}

#define GROUP 8

/*
 * Callers that arrive while a flush runs share the next one: the first
 * caller flushes alone (nobody to wait for), the GROUP - 1 that queued
 * behind it go in one transaction; every caller gets its own row and nonce.
 */
static void group_commit_batches_concurrent_callers(void **state)
{
	struct fixture *f = *state;
	struct releaser r[GROUP];
	struct skr_store_commit_stats st;
	struct skr_err err = { 0 };
	struct write_lock lock = hold_write_lock(f->db);
	int i;

	start_releaser(f, &r[0], 0, 1, 0);	/* the leader, waiting on the lock */
	for (i = 1; i < GROUP; i++)
		start_releaser(f, &r[i], i, (uint8_t)(i + 1), UINT64_MAX);
	wait_queued(f->s, GROUP - 1);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM audit"), 0);
	release_write_lock(lock);
	for (i = 0; i < GROUP; i++) {
		assert_int_equal(pthread_join(r[i].t, NULL), 0);
		assert_ok(r[i].rc, r[i].err);
	}
	assert_ok(skr_store_commit_stats(f->s, &st, &err), err);
	assert_int_equal(st.flushes, 2);
	assert_int_equal(st.rows, GROUP);
	assert_int_equal(st.max_batch, GROUP - 1);
	assert_int_equal(st.failed_flushes, 0);
	assert_int_equal(st.queued, 0);
	/* Exactly one row per decision, each with its caller's client, and its nonce. */
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM audit"), GROUP);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(DISTINCT client) FROM audit"), GROUP);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM used_nonces"), GROUP);
	/* A lone caller afterwards flushes at once, alone. */
	start_releaser(f, &r[0], 0, 0x77, UINT64_MAX);
	assert_int_equal(pthread_join(r[0].t, NULL), 0);
	assert_ok(r[0].rc, r[0].err);
	assert_ok(skr_store_commit_stats(f->s, &st, &err), err);
	assert_int_equal(st.flushes, 3);
	assert_int_equal(st.rows, GROUP + 1);
}

#define STORM_THREADS 8
#define STORM_EACH 25

struct storm {
	struct skr_store *s;
	int n, failures;
};

static void *storm_main(void *arg)
{
	struct storm *w = arg;
	int i;

	for (i = 0; i < STORM_EACH; i++) {
		uint8_t nonce[32] = { (uint8_t)w->n, (uint8_t)i, 0xee };
		char client[32];
		struct skr_audit_entry e = { .key_id = "disk", .client = client,
					     .action = "release", .verdict = "allow" };
		struct skr_err err = { 0 };

		snprintf(client, sizeof(client), "storm-%d-%d", w->n, i);
		if (skr_store_audit_nonce(w->s, &e, nonce, sizeof(nonce), 2000, 1000, &err) < 0)
			w->failures++;
	}
	return NULL;
}

/* Free-running threads: every decision has exactly one row and one nonce. */
static void group_commit_storm_one_row_per_decision(void **state)
{
	struct fixture *f = *state;
	struct storm w[STORM_THREADS];
	pthread_t t[STORM_THREADS];
	struct skr_store_commit_stats st;
	struct skr_err err = { 0 };
	int i;

	for (i = 0; i < STORM_THREADS; i++) {
		w[i] = (struct storm){ .s = f->s, .n = i };
		assert_int_equal(pthread_create(&t[i], NULL, storm_main, &w[i]), 0);
	}
	for (i = 0; i < STORM_THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].failures, 0);
	}
	assert_ok(skr_store_commit_stats(f->s, &st, &err), err);
	assert_int_equal(st.rows, STORM_THREADS * STORM_EACH);
	assert_true(st.flushes >= 1 && st.flushes <= st.rows);
	assert_true(st.max_batch <= STORM_THREADS);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM audit"), STORM_THREADS * STORM_EACH);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(DISTINCT client) FROM audit"),
			 STORM_THREADS * STORM_EACH);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM used_nonces"),
			 STORM_THREADS * STORM_EACH);
	assert_chain(f->s, STORM_THREADS * STORM_EACH);
}

/*
 * A nonce used twice inside one batch, and one used by an earlier flush:
 * only those callers fail (nonce_replayed, no row); the rest of the batch
 * commits.
 */
static void group_commit_replayed_nonce_fails_alone(void **state)
{
	struct fixture *f = *state;
	struct releaser r[5];
	struct skr_store_commit_stats st;
	struct skr_err err = { 0 };
	struct write_lock lock = hold_write_lock(f->db);
	int i;

	start_releaser(f, &r[0], 0, 0x10, 0);	/* leader, alone: records nonce 0x10 */
	start_releaser(f, &r[1], 1, 0x11, 1);
	start_releaser(f, &r[2], 2, 0x11, 2);	/* the same nonce, later in the batch */
	start_releaser(f, &r[3], 3, 0x10, 3);	/* the leader's nonce, committed before */
	start_releaser(f, &r[4], 4, 0x12, 4);
	release_write_lock(lock);
	for (i = 0; i < 5; i++)
		assert_int_equal(pthread_join(r[i].t, NULL), 0);
	assert_ok(r[0].rc, r[0].err);
	assert_ok(r[1].rc, r[1].err);
	assert_failed_with(r[2].rc, r[2].err, SKR_R_nonce_replayed, "already used");
	assert_failed_with(r[3].rc, r[3].err, SKR_R_nonce_replayed, "already used");
	assert_ok(r[4].rc, r[4].err);
	assert_ok(skr_store_commit_stats(f->s, &st, &err), err);
	assert_int_equal(st.flushes, 2);
	assert_int_equal(st.max_batch, 4);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM audit"), 3);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM audit WHERE client IN "
					  "('vm-2', 'vm-3')"), 0);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM used_nonces"), 3);
}

static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : 0;
}

/*
 * The disk fills while callers wait (RLIMIT_FSIZE at the WAL's size: the
 * next commit cannot append its frames, as on a full disk): the leader's
 * flush and the batch behind it fail, every caller is told audit_failed,
 * and none of their rows nor nonces is in the database.  With room again
 * the store writes as before.
 */
static void group_commit_failed_flush_fails_every_caller(void **state)
{
	struct fixture *f = *state;
	struct releaser r[GROUP];
	struct skr_store_commit_stats st;
	struct skr_err err = { 0 };
	struct rlimit old, full;
	char wal[sizeof(((struct fixture *)0)->db) + 8];
	void (*old_sig)(int);
	struct write_lock lock;
	int i;

	create_key(f, "disk", secret1, sizeof(secret1));	/* the WAL has frames now */
	snprintf(wal, sizeof(wal), "%s-wal", f->db);
	assert_true(file_size(wal) > 0);
	lock = hold_write_lock(f->db);
	start_releaser(f, &r[0], 0, 0x20, 0);
	for (i = 1; i < GROUP; i++)
		start_releaser(f, &r[i], i, (uint8_t)(0x20 + i), UINT64_MAX);
	wait_queued(f->s, GROUP - 1);
	/* From here until the limit is lifted nothing may print (stdout may be a file). */
	old_sig = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	full = old;
	full.rlim_cur = (rlim_t)file_size(wal);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &full), 0);
	release_write_lock(lock);
	for (i = 0; i < GROUP; i++)
		pthread_join(r[i].t, NULL);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, old_sig);

	for (i = 0; i < GROUP; i++)
		assert_failed_with(r[i].rc, r[i].err, SKR_R_audit_failed, "cannot commit");
	assert_ok(skr_store_commit_stats(f->s, &st, &err), err);
	assert_int_equal(st.flushes, 2);	/* the leader's, then the batch behind it */
	assert_int_equal(st.failed_flushes, 2);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM audit WHERE action = 'release'"), 0);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM used_nonces"), 0);
	/* Room again: the same nonce goes through (it was never recorded). */
	start_releaser(f, &r[0], 0, 0x20, UINT64_MAX);
	assert_int_equal(pthread_join(r[0].t, NULL), 0);
	assert_ok(r[0].rc, r[0].err);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM audit WHERE action = 'release'"), 1);
}

/* Durability as the broker runs it: synchronous and journal_mode are per
 * connection, so they are read on the store's own connection (the one
 * skr_store_open gives the broker), on a new database and on reopen. */
static void durability_full_and_wal(void **state)
{
	struct fixture *f = *state;
	struct skr_store_durability d;
	struct skr_err err = { 0 };
	int round;

	for (round = 0; round < 2; round++) {
		assert_ok(skr_store_durability(f->s, &d, &err), err);
		assert_int_equal(d.synchronous, 2);	/* FULL: every commit fsynced */
		assert_string_equal(d.journal_mode, "wal");
		reopen(f);
	}
}

/* ---- Master key rotation ------------------------------------------------- */

static void write_other_key(struct fixture *f, char *path, size_t size)
{
	snprintf(path, size, "%s/other.key", f->dir);
	write_file(path, other_key, sizeof(other_key), 0600);
}

/*
 * Offline (refused while a store has the database open), a wrong old key
 * refused before anything is written, every secret resealed, the old key
 * refused afterwards, a second run does nothing, begin and end audited.
 */
static void rotate_master_key(void **state)
{
	struct fixture *f = *state;
	char other_path[PATH_MAX + 16];
	struct skr_store_rotation r;
	_cleanup_free_ char *audit = NULL;
	struct skr_store *s = NULL;
	json_object *arr;
	struct skr_err err = { 0 };

	create_key(f, "disk1", secret1, sizeof(secret1));
	create_key(f, "disk2", secret2, sizeof(secret2));
	write_other_key(f, other_path, sizeof(other_path));
	assert_failed_with(skr_store_rotate_master_key(f->db, f->key, other_path, false, &r, &err),
			   err, SKR_R_store_error, "open in another process");
	skr_store_close(f->s);
	f->s = NULL;
	skr_err_clear(&err);
	assert_failed_with(skr_store_rotate_master_key(f->db, other_path, other_path, false, &r,
						       &err),
			   err, SKR_R_store_decrypt_failed, "refused, nothing written");
	skr_err_clear(&err);
	assert_ok(skr_store_rotate_master_key(f->db, f->key, other_path, false, &r, &err), err);
	assert_int_equal(r.keys, 2);
	assert_int_equal(r.resealed, 2);
	assert_false(r.resumed || r.done_before);
	assert_ok(skr_store_rotate_master_key(f->db, f->key, other_path, false, &r, &err), err);
	assert_true(r.done_before);
	assert_int_equal(r.resealed, 0);

	assert_failed_with(skr_store_open(f->db, f->key, &s, &err), err,
			   SKR_R_store_decrypt_failed, "after a rotation");
	assert_null(s);
	skr_err_clear(&err);
	assert_ok(skr_store_open(f->db, other_path, &f->s, &err), err);
	assert_secret(f, "disk1", secret1, sizeof(secret1));
	assert_secret(f, "disk2", secret2, sizeof(secret2));
	assert_ok(skr_store_audit_query(f->s, NULL, 0, &audit, &err), err);
	arr = parse(audit);
	assert_int_equal(json_object_array_length(arr), 2);
	assert_string_equal(field_str(json_object_array_get_idx(arr, 0), "action"),
			    "admin:rotate-master-key");
	assert_non_null(strstr(field_str(json_object_array_get_idx(arr, 0), "detail"),
			       "finished: 2 keys, 2 resealed"));
	json_object_put(arr);
}

/*
 * A database left mid-rotation (the next key recorded, as an interrupted
 * run leaves it): no broker opens it with either key, a rotation to a third
 * key is refused, the same rotation run again finishes it.
 */
static void rotate_interrupted_resumes(void **state)
{
	struct fixture *f = *state;
	char other_path[PATH_MAX + 16], third_path[PATH_MAX + 16], sql[256];
	static const uint8_t third_key[SKR_STORE_MASTER_KEY_SIZE] = "a-third-master-key-for-the-tests";
	/* The master key check value (store_crypto.c): HMAC-SHA256 of this label. */
	static const char label[] = "skr-store master key check v1";
	uint8_t check[32];
	size_t check_len = 0;
	_cleanup_free_ char *hex = NULL;
	struct skr_store_rotation r;
	struct skr_store *s = NULL;
	struct skr_err err = { 0 };

	create_key(f, "disk1", secret1, sizeof(secret1));
	create_key(f, "disk2", secret2, sizeof(secret2));
	skr_store_close(f->s);
	f->s = NULL;
	write_other_key(f, other_path, sizeof(other_path));
	snprintf(third_path, sizeof(third_path), "%s/third.key", f->dir);
	write_file(third_path, third_key, sizeof(third_key), 0600);
	assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, other_key, sizeof(other_key),
				  (const uint8_t *)label, sizeof(label) - 1, check, sizeof(check),
				  &check_len));
	hex = skr_hex_encode(check, sizeof(check));
	snprintf(sql, sizeof(sql),
		 SQL("INSERT INTO meta VALUES ('master_key_next', X'%s')",
		     "INSERT INTO meta VALUES ('master_key_next', decode('%s', 'hex'))"), hex);
	raw_exec(f->db, sql);

	assert_failed_with(skr_store_open(f->db, f->key, &s, &err), err, SKR_R_store_error,
			   "middle of a master key rotation (an interrupted skr-broker "
			   "rotate-master-key; this is its old key)");
	skr_err_clear(&err);
	assert_failed_with(skr_store_open(f->db, other_path, &s, &err), err, SKR_R_store_error,
			   "this is its new key");
	assert_null(s);
	skr_err_clear(&err);
	assert_failed_with(skr_store_rotate_master_key(f->db, f->key, third_path, false, &r, &err),
			   err, SKR_R_usage, "interrupted rotation to another master key");
	skr_err_clear(&err);
	assert_ok(skr_store_rotate_master_key(f->db, f->key, other_path, true, &r, &err), err);
	assert_int_equal(r.under_old, 2);
	assert_ok(skr_store_rotate_master_key(f->db, f->key, other_path, false, &r, &err), err);
	assert_true(r.resumed);
	assert_int_equal(r.resealed, 2);
	assert_ok(skr_store_open(f->db, other_path, &f->s, &err), err);
	assert_secret(f, "disk1", secret1, sizeof(secret1));
	assert_secret(f, "disk2", secret2, sizeof(secret2));
}

/*
 * SQLite: while a rotation holds the database (its exclusive flock on DATABASE.lock,
 * taken here as the rotation takes it), a store (a broker) does not open it.
 */
static void rotation_holds_the_database(void **state)
{
	struct fixture *f = *state;
	char lock[sizeof(((struct fixture *)0)->db) + 8];
	struct skr_store *s = NULL;
	struct skr_err err = { 0 };
	int fd;

	skr_store_close(f->s);
	f->s = NULL;
	snprintf(lock, sizeof(lock), "%s.lock", f->db);
	fd = open(lock, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	assert_failed_with(skr_store_open(f->db, f->key, &s, &err), err, SKR_R_store_error,
			   "held by skr-broker rotate-master-key");
	assert_null(s);
	close(fd);
	skr_err_clear(&err);
	assert_ok(skr_store_open(f->db, f->key, &f->s, &err), err);
}

/*
 * PostgreSQL: while a rotation holds the database (its exclusive advisory
 * lock, taken here by another session as the rotation takes it), a store
 * (a broker, on any host) does not open it; once it lets go, one does.
 */
static void pg_rotation_holds_the_database(void **state)
{
	struct fixture *f = *state;
	struct skr_store *s = NULL;
	struct skr_err err = { 0 };
	PGconn *c;
	PGresult *r;

	skr_store_close(f->s);
	f->s = NULL;
	c = pg_connect(f->db);
	r = PQexec(c, "SELECT pg_try_advisory_lock(7564146, hashtext(current_schema()))");
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(r, 0, 0), "t");
	PQclear(r);
	assert_failed_with(skr_store_open(f->db, f->key, &s, &err), err, SKR_R_store_error,
			   "held by skr-broker rotate-master-key");
	assert_null(s);
	PQfinish(c);
	skr_err_clear(&err);
	assert_ok(skr_store_open(f->db, f->key, &f->s, &err), err);
}

/*
 * PostgreSQL: a row the database refuses (a trigger raising, where SQLite's
 * test fills the disk) fails the flush whole: every caller of the batch
 * and the leader's flush before it is told audit_failed, and none of their
 * rows nor nonces is written (the nonces went in first, in the same
 * transaction).  Without the trigger the same nonce goes through.
 */
static void pg_group_commit_refused_row_fails_every_caller(void **state)
{
	struct fixture *f = *state;
	struct releaser r[GROUP];
	struct skr_store_commit_stats st;
	struct skr_err err = { 0 };
	struct write_lock lock;
	int i;

	raw_exec(f->db, "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
			"$$BEGIN RAISE EXCEPTION 'row refused by the test'; END$$;"
			"CREATE TRIGGER refuse BEFORE INSERT ON audit FOR EACH ROW "
			"WHEN (NEW.action = 'release') EXECUTE FUNCTION refuse()");
	lock = hold_write_lock(f->db);
	start_releaser(f, &r[0], 0, 0x20, 0);
	for (i = 1; i < GROUP; i++)
		start_releaser(f, &r[i], i, (uint8_t)(0x20 + i), UINT64_MAX);
	wait_queued(f->s, GROUP - 1);
	release_write_lock(lock);
	for (i = 0; i < GROUP; i++) {
		assert_int_equal(pthread_join(r[i].t, NULL), 0);
		assert_failed_with(r[i].rc, r[i].err, SKR_R_audit_failed, "row refused by the test");
	}
	assert_ok(skr_store_commit_stats(f->s, &st, &err), err);
	assert_int_equal(st.flushes, 2);
	assert_int_equal(st.failed_flushes, 2);
	assert_int_equal(st.max_batch, GROUP - 1);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM audit WHERE action = 'release'"), 0);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM used_nonces"), 0);
	raw_exec(f->db, "DROP TRIGGER refuse ON audit");
	start_releaser(f, &r[0], 0, 0x20, UINT64_MAX);
	assert_int_equal(pthread_join(r[0].t, NULL), 0);
	assert_ok(r[0].rc, r[0].err);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM audit WHERE action = 'release'"), 1);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM used_nonces"), 1);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

/*
 * The label of an operator's set is optional: NULL and "" add a set without
 * one, listed with "label": "".  Reseal matches sets by label, so a
 * submission and a withdrawal still need one.
 */
static void refset_label_optional(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *json = NULL;
	struct skr_store_submit r;
	json_object *arr;
	int64_t id1 = 0, id2 = 0;
	unsigned removed;
	size_t i;
	struct skr_err err = { 0 };

	create_key(f, "disk", secret1, sizeof(secret1));
	assert_ok(skr_store_refset_add(f->s, "disk", NULL, "current", PCRS_A, &id1, NULL, &err), err);
	assert_ok(skr_store_refset_add(f->s, "disk", "", "pending", PCRS_B, &id2, NULL, &err), err);
	assert_true(id1 > 0 && id2 > id1);
	assert_ok(skr_store_refset_list(f->s, "disk", &json, &err), err);
	arr = parse(json);
	assert_int_equal(json_object_array_length(arr), 2);
	for (i = 0; i < 2; i++)
		assert_string_equal(field_str(json_object_array_get_idx(arr, i), "label"), "");
	assert_string_equal(field_str(json_object_array_get_idx(arr, 1), "state"), "pending");
	json_object_put(arr);

	assert_failed_with(skr_store_refset_submit(f->s, "disk", "", "pending", PCRS_C, NULL, true,
						   &r, NULL, &err), err, SKR_R_malformed, "label is empty");
	skr_err_clear(&err);
	assert_failed_with(skr_store_refset_submit(f->s, "disk", NULL, "queued", PCRS_C, "n", false,
						   &r, NULL, &err), err, SKR_R_usage, "no label");
	skr_err_clear(&err);
	assert_failed_with(skr_store_refset_withdraw(f->s, "disk", "", &removed, NULL, &err), err,
			   SKR_R_malformed, "label is empty");
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM refsets"), 2);
}

/*
 * A write given its audit row commits both or neither: with the row refused
 * (a trigger, as a full disk refuses it) each audited write fails with
 * audit_failed, nothing changes and the store's version stays; the same
 * writes without a row, and plain rows of other actions, still go through.
 */
static void audited_writes_are_atomic(void **state)
{
	struct fixture *f = *state;
	struct skr_audit_entry e = { .key_id = "disk", .client = "127.0.0.1",
				     .action = "admin:POST", .verdict = "allow",
				     .detail = "/v1/keys" };
	struct skr_audit_entry other = { .action = "release", .verdict = "deny" };
	struct skr_store_version v0, v1;
	_cleanup_free_ char *policy = NULL, *audit = NULL;
	int64_t id = 0;
	json_object *arr;
	struct skr_err err = { 0 };

	assert_ok(skr_store_key_create(f->s, "disk", secret1, sizeof(secret1), POLICY, &e, &err),
		  err);
	assert_ok(skr_store_audit_query(f->s, "disk", 0, &audit, &err), err);
	arr = parse(audit);
	assert_int_equal(json_object_array_length(arr), 1);
	assert_string_equal(field_str(json_object_array_get_idx(arr, 0), "action"), "admin:POST");
	assert_string_equal(field_str(json_object_array_get_idx(arr, 0), "verdict"), "allow");
	json_object_put(arr);

	raw_exec(f->db, SQL("CREATE TRIGGER audit_refused BEFORE INSERT ON audit "
			"WHEN NEW.action LIKE 'admin:%' "
			"BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
			"CREATE FUNCTION audit_refused() RETURNS trigger LANGUAGE plpgsql AS "
			"$$BEGIN IF NEW.action LIKE 'admin:%' THEN "
			"RAISE EXCEPTION 'database or disk is full'; END IF; RETURN NEW; END$$;"
			"CREATE TRIGGER audit_refused BEFORE INSERT ON audit FOR EACH ROW "
			"EXECUTE FUNCTION audit_refused()"));
	assert_ok(skr_store_version(f->s, &v0, &err), err);
	assert_failed_with(skr_store_key_create(f->s, "disk-2", secret2, sizeof(secret2), POLICY,
						&e, &err), err, SKR_R_audit_failed,
			   "database or disk is full");
	skr_err_clear(&err);
	assert_failed_with(skr_store_key_set_policy(f->s, "disk", "{\"v\":2}", &e, &err), err,
			   SKR_R_audit_failed, "nothing was changed");
	skr_err_clear(&err);
	assert_failed_with(skr_store_refset_add(f->s, "disk", "v1", "current", PCRS_A, &id, &e,
						&err), err, SKR_R_audit_failed, NULL);
	skr_err_clear(&err);
	assert_failed_with(skr_store_key_delete(f->s, "disk", &e, &err), err, SKR_R_audit_failed,
			   NULL);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM keys"), 1);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM refsets"), 0);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM audit"), 1);
	skr_err_clear(&err);
	assert_ok(skr_store_key_policy(f->s, "disk", &policy, &err), err);
	assert_string_equal(policy, POLICY);
	assert_ok(skr_store_version(f->s, &v1, &err), err);
	assert_true(v1.changes == v0.changes && v1.data_version == v0.data_version);
	/* A write that fails for itself says so, not audit_failed. */
	skr_err_clear(&err);
	assert_failed_with(skr_store_key_delete(f->s, "nope", &e, &err), err, SKR_R_key_unknown,
			   NULL);

	/* Without a row, and rows the trigger lets through, as before. */
	skr_err_clear(&err);
	assert_ok(skr_store_refset_add(f->s, "disk", "v1", "current", PCRS_A, &id, NULL, &err), err);
	assert_ok(skr_store_audit(f->s, &other, &err), err);
	assert_failed_with(skr_store_audit(f->s, &e, &err), err, SKR_R_audit_failed,
			   "database or disk is full");
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM audit"), 2);
}

/*
 * The reseal writes too: the row lands with the change, its detail carrying
 * the outcome only the transaction knew; with the row refused, submit,
 * commit and withdraw fail with audit_failed and change nothing.
 */
static void reseal_writes_are_audited_with_their_change(void **state)
{
	struct fixture *f = *state;
	struct skr_audit_entry e = { .key_id = "disk", .client = "10.0.0.9",
				     .action = "reseal:submit", .verdict = "allow",
				     .detail = "kernel 56" };
	struct skr_store_submit r;
	struct skr_store_commit c;
	_cleanup_free_ char *audit = NULL;
	unsigned removed = 0;
	int64_t id = 0;
	json_object *arr;
	struct skr_err err = { 0 };

	assert_ok(skr_store_key_create(f->s, "disk", secret1, sizeof(secret1), POLICY, NULL, &err),
		  err);
	assert_ok(skr_store_refset_add(f->s, "disk", "v1", "current", PCRS_A, &id, NULL, &err), err);
	assert_ok(skr_store_refset_submit(f->s, "disk", "kernel 56", "pending", PCRS_B, NULL, true,
					  &r, &e, &err), err);
	assert_ok(skr_store_audit_query(f->s, "disk", 0, &audit, &err), err);
	arr = parse(audit);
	assert_int_equal(json_object_array_length(arr), 1);
	{
		char want[64];

		snprintf(want, sizeof(want), "kernel 56 set %lld pending", (long long)r.id);
		assert_string_equal(field_str(json_object_array_get_idx(arr, 0), "detail"), want);
	}
	json_object_put(arr);

	raw_exec(f->db, SQL("CREATE TRIGGER audit_refused BEFORE INSERT ON audit "
			"WHEN NEW.action LIKE 'reseal:%' "
			"BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
			"CREATE FUNCTION audit_refused() RETURNS trigger LANGUAGE plpgsql AS "
			"$$BEGIN IF NEW.action LIKE 'reseal:%' THEN "
			"RAISE EXCEPTION 'database or disk is full'; END IF; RETURN NEW; END$$;"
			"CREATE TRIGGER audit_refused BEFORE INSERT ON audit FOR EACH ROW "
			"EXECUTE FUNCTION audit_refused()"));
	assert_failed_with(skr_store_refset_submit(f->s, "disk", "kernel 57", "pending", PCRS_C,
						   NULL, true, &r, &e, &err),
			   err, SKR_R_audit_failed, "nothing was changed");
	skr_err_clear(&err);
	e.action = "reseal:commit";
	assert_failed_with(skr_store_refset_commit(f->s, "disk", id + 1, 8, &c, &e, &err), err,
			   SKR_R_audit_failed, NULL);
	skr_err_clear(&err);
	e.action = "reseal:withdraw";
	assert_failed_with(skr_store_refset_withdraw(f->s, "disk", "kernel 56", &removed, &e, &err),
			   err, SKR_R_audit_failed, NULL);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM refsets"), 2);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM refsets WHERE state = 'current'"), 1);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM refsets WHERE state = 'pending'"), 1);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM audit"), 1);
}

/* ---- Replicas: two stores on one database ---------------------------------- */

static struct skr_store *second_store(struct fixture *f)
{
	struct skr_store *s = NULL;
	struct skr_err err = { 0 };

	assert_ok(skr_store_open(f->db, f->key, &s, &err), err);
	return s;
}

static bool same_version(const struct skr_store_version *a, const struct skr_store_version *b)
{
	return a->changes == b->changes && a->data_version == b->data_version;
}

/*
 * What replicas share: a nonce used through one store is refused through
 * the other (alone and with its audit row); a write through one moves the
 * other's version (its key cache reloads) and the other reads it at once;
 * on PostgreSQL, audit rows alone move no version (releases keep the cache).
 */
static void replicas_share_one_database(void **state)
{
	struct fixture *f = *state;
	struct skr_store *b = second_store(f);
	struct skr_audit_entry e = { .key_id = "disk", .client = "a", .action = "release",
				     .verdict = "allow" };
	const uint8_t n1[32] = { 1, 2, 3 }, n2[32] = { 4, 5, 6 };
	struct skr_store_version v0, v1, v2;
	_cleanup_free_ char *sets = NULL, *policy = NULL;
	int64_t id = 0;
	struct skr_err err = { 0 };

	assert_ok(skr_store_nonce_use(f->s, n1, sizeof(n1), 2000, 1000, &err), err);
	assert_failed_with(skr_store_nonce_use(b, n1, sizeof(n1), 2000, 1000, &err), err,
			   SKR_R_nonce_replayed, "already used");
	skr_err_clear(&err);
	assert_failed_with(skr_store_nonce_check(b, n1, sizeof(n1), &err), err,
			   SKR_R_nonce_replayed, NULL);
	skr_err_clear(&err);
	assert_ok(skr_store_audit_nonce(b, &e, n2, sizeof(n2), 2000, 1000, &err), err);
	assert_failed_with(skr_store_audit_nonce(f->s, &e, n2, sizeof(n2), 2000, 1000, &err), err,
			   SKR_R_nonce_replayed, NULL);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM audit"), 1);

	skr_err_clear(&err);
	assert_ok(skr_store_version(b, &v0, &err), err);
	assert_ok(skr_store_audit(f->s, &e, &err), err);
	assert_ok(skr_store_version(b, &v1, &err), err);
	/* SQLite's data_version moves with any other connection's commit: coarser, never stale. */
	assert_true(!use_pg || same_version(&v0, &v1));
	create_key(f, "disk", secret1, sizeof(secret1));
	assert_ok(skr_store_version(b, &v1, &err), err);
	assert_false(same_version(&v0, &v1));
	assert_ok(skr_store_refset_add(f->s, "disk", "boot", "current", PCRS_A, &id, NULL, &err), err);
	assert_ok(skr_store_version(b, &v2, &err), err);
	assert_false(same_version(&v1, &v2));
	assert_ok(skr_store_refset_list(b, "disk", &sets, &err), err);
	assert_non_null(strstr(sets, "\"boot\""));
	assert_ok(skr_store_key_delete(f->s, "disk", NULL, &err), err);
	assert_ok(skr_store_version(b, &v1, &err), err);
	assert_false(same_version(&v1, &v2));
	assert_failed_with(skr_store_key_policy(b, "disk", &policy, &err), err, SKR_R_key_unknown,
			   "disk");
	skr_store_close(b);
}

struct racer {
	struct skr_store *s;
	pthread_barrier_t *go;
	int nonce_ok, nonce_replayed;
	struct skr_store_submit submit;
	int submit_rc;
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;
	const uint8_t nonce[32] = { 0x42 };
	struct skr_err err = { 0 };

	pthread_barrier_wait(r->go);
	if (skr_store_nonce_use(r->s, nonce, sizeof(nonce), 2000, 1000, &err) == 0)
		r->nonce_ok++;
	else if (err.reason == SKR_R_nonce_replayed)
		r->nonce_replayed++;
	skr_err_clear(&err);
	r->submit_rc = skr_store_refset_submit(r->s, "disk", "k", "pending", PCRS_C, NULL, true,
					       &r->submit, NULL, &err);
	return NULL;
}

/* Replicas racing: one nonce is accepted once; one set submitted twice is stored once. */
static void replicas_race_on_one_nonce_and_one_set(void **state)
{
	struct fixture *f = *state;
	struct racer r[4];
	pthread_t t[4];
	pthread_barrier_t go;
	int i, ok = 0, replayed = 0, existed = 0;

	create_key(f, "disk", secret1, sizeof(secret1));
	assert_int_equal(pthread_barrier_init(&go, NULL, 4), 0);
	for (i = 0; i < 4; i++) {
		r[i] = (struct racer){ .s = i == 0 ? f->s : second_store(f), .go = &go };
		assert_int_equal(pthread_create(&t[i], NULL, racer_main, &r[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		ok += r[i].nonce_ok;
		replayed += r[i].nonce_replayed;
		assert_int_equal(r[i].submit_rc, 0);
		existed += r[i].submit.existed;
		assert_int_equal(r[i].submit.id, r[0].submit.id);
		if (i)
			skr_store_close(r[i].s);
	}
	pthread_barrier_destroy(&go);
	assert_int_equal(ok, 1);
	assert_int_equal(replayed, 3);
	assert_int_equal(existed, 3);
	assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM refsets"), 1);
}

/*
 * PostgreSQL stopped under an open store: each call fails with
 * store_unavailable (no hang, no crash); started again, the same store
 * works without being reopened, its writes and reads as before.
 */
static void pg_outage_then_reconnect(void **state)
{
	struct fixture *f = *state;
	struct skr_store_version v;
	_cleanup_free_ char *list = NULL;
	uint8_t out[SKR_STORE_MAX_SECRET];
	size_t out_len = 0;
	struct skr_audit_entry e = { .client = "c", .action = "release", .verdict = "allow" };
	const uint8_t nonce[32] = { 0x77 };
	char other_path[PATH_MAX + 16];
	struct skr_store_rotation r;
	struct skr_err err = { 0 };
	int i;

	create_key(f, "disk", secret1, sizeof(secret1));
	assert_int_equal(skr_pg_down(&pg), 0);
	/* More calls than the pool has connections: each one finds its own gone. */
	for (i = 0; i < 6; i++) {
		skr_err_clear(&err);
		assert_failed_with(skr_store_version(f->s, &v, &err), err, SKR_R_store_unavailable,
				   NULL);
	}
	skr_err_clear(&err);
	assert_failed_with(skr_store_key_secret(f->s, "disk", out, &out_len, &err), err,
			   SKR_R_store_unavailable, "PostgreSQL database skr");
	assert_null(strstr(err.detail, "password"));
	skr_err_clear(&err);
	assert_failed_with(skr_store_audit_nonce(f->s, &e, nonce, sizeof(nonce), 2000, 1000, &err),
			   err, SKR_R_store_unavailable, NULL);
	skr_err_clear(&err);
	assert_failed_with(skr_store_key_create(f->s, "disk-2", secret2, sizeof(secret2), POLICY, &e,
						&err), err, SKR_R_store_unavailable, NULL);
	assert_int_equal(skr_pg_up(&pg), 0);
	skr_err_clear(&err);
	for (i = 0; i < 6; i++)
		assert_ok(skr_store_version(f->s, &v, &err), err);
	assert_secret(f, "disk", secret1, sizeof(secret1));
	assert_ok(skr_store_audit_nonce(f->s, &e, nonce, sizeof(nonce), 2000, 1000, &err), err);
	create_key(f, "disk-2", secret2, sizeof(secret2));
	assert_ok(skr_store_key_list(f->s, &list, &err), err);
	assert_non_null(strstr(list, "disk-2"));
	/* The store's claim went with the server and was taken again: no rotation meanwhile. */
	write_other_key(f, other_path, sizeof(other_path));
	assert_failed_with(skr_store_rotate_master_key(f->db, f->key, other_path, false, &r, &err),
			   err, SKR_R_store_error, "open in another process");
}

static int pg_group_setup(void **state)
{
	struct skr_err err = { 0 };

	use_pg = true;
	/* fsync on: the durability the store reports is the server's real one. */
	if (skr_pg_start(&pg, SKR_SRCDIR "/tests/helpers/pg-server.sh", 1, &err) < 0) {
		fprintf(stderr, "test_store: %s\n", err.detail);
		return -1;
	}
	return 0;
}

static int pg_group_teardown(void **state)
{
	skr_pg_stop(&pg);
	use_pg = false;
	return 0;
}

#define BOTH_BACKENDS \
		T(keys_create_list_show_delete), \
		T(policy_must_be_a_json_object), \
		T(secret_round_trip), \
		T(ciphertext_on_disk_hides_the_secret), \
		T(row_copied_to_another_key_fails), \
		T(wrong_master_key_fails), \
		T(master_key_file_checked), \
		T(duplicate_key_refused), \
		T(unknown_key_refused), \
		T(invalid_key_ids_refused), \
		T(refsets_add_list_remove), \
		T(refset_input_validated), \
		T(refset_label_optional), \
		T(audited_writes_are_atomic), \
		T(reseal_writes_are_audited_with_their_change), \
		T(delete_cascades_to_refsets), \
		T(audit_newest_first_and_filtered), \
		T(reopen_keeps_everything), \
		T(future_schema_refused), \
		T(submit_dedupes_and_supersedes), \
		T(queue_is_bounded_and_approved), \
		T(queued_submission_never_supersedes), \
		T(queued_promotion_by_pending_submission), \
		T(commit_retires_older_and_bounds_history), \
		T(schema_1_migrates), \
		T(schema_2_migrates), \
		T(schema_3_chains_existing_rows), \
		T(audit_chain_linear_across_replicas), \
		T(audit_checkpoints_stored), \
		T(nonces_used_once_across_reopen), \
		T(nonce_recorded_with_the_audit_row), \
		T(not_a_database_refused), \
		T(kill_9_after_commit_keeps_the_data), \
		T(threads_share_one_store), \
		T(durability_full_and_wal), \
		T(replicas_share_one_database), \
		T(replicas_race_on_one_nonce_and_one_set), \
		T(group_commit_batches_concurrent_callers), \
		T(group_commit_storm_one_row_per_decision), \
		T(group_commit_replayed_nonce_fails_alone), \
		T(rotate_master_key), \
		T(rotate_interrupted_resumes)

int main(void)
{
	const struct CMUnitTest sqlite_tests[] = {
		BOTH_BACKENDS,
		T(group_commit_failed_flush_fails_every_caller),
		T(rotation_holds_the_database),
	};
	const struct CMUnitTest pg_tests[] = {
		BOTH_BACKENDS,
		T(pg_outage_then_reconnect),
		T(pg_group_commit_refused_row_fails_every_caller),
		T(pg_rotation_holds_the_database),
	};
	int failed;

	failed = cmocka_run_group_tests_name("store (SQLite)", sqlite_tests, NULL, NULL);
	/* PostgreSQL that cannot start fails the group: never a skip. */
	failed += cmocka_run_group_tests_name("store (PostgreSQL)", pg_tests, pg_group_setup,
					      pg_group_teardown);
	return failed ? 1 : 0;
}
