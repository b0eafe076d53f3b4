/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the broker's store: the seam between the public functions (store.h)
 * and a backend.
 *
 * The public functions (store.c, store_keys.c, store_refsets.c,
 * store_reseal.c, store_audit.c) check every argument, put JSON in canonical
 * form, escape and bound audit text and seal secrets (store_crypto.c) before
 * they call the backend through its ops table, so what a backend gets is
 * already valid, and a backend never sees a secret in clear nor the master
 * key (only its check value, at open).  The JSON a listing returns is built
 * by the store_json_* helpers here, so every backend lists the same shape.
 *
 * Two backends: SQLite (store_sqlite*.c, store_sqlite.h), the default, and
 * PostgreSQL (store_pg*.c, store_pg.h) for replicas sharing one database;
 * skr_store_open picks one by the database string (store_is_postgresql).
 * Another adds its ops table, its open function and a line there.  Audit
 * rows (with a release's nonce) never reach a backend one by one: the group
 * commit (store_group.c) hands it batches through ops->audit_batch.
 */
#ifndef SKR_STORE_INT_H
#define SKR_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <json-c/json.h>

#include "broker/store.h"
#include "common/audit_chain.h"
#include "common/cleanup.h"

#define STORE_IV_SIZE 12
#define STORE_TAG_SIZE 16
#define STORE_CHECK_SIZE 32		/* HMAC-SHA256 of a constant under the master key */
#define STORE_NONCE_HASH_SIZE 32	/* used nonces are kept as their SHA-256 */
#define STORE_AUDIT_DIGEST_SIZE 32	/* an audit row's evidence digest (SHA-256) */

/* A secret as a backend stores it: AES-256-GCM, the key id as AAD. */
struct store_sealed {
	uint8_t iv[STORE_IV_SIZE];
	uint8_t ct[SKR_STORE_MAX_SECRET];
	size_t len;			/* of ct, 1..SKR_STORE_MAX_SECRET */
	uint8_t tag[STORE_TAG_SIZE];
};

/* The master key check values a database keeps (ops master_get). */
struct store_master {
	uint8_t current[STORE_CHECK_SIZE];
	uint8_t next[STORE_CHECK_SIZE];
	bool has_next;		/* a rotation to next has begun and not finished */
};

/* An audit row as a backend stores it: checked, its text escaped and bounded. */
struct store_audit_row {
	char *key_id, *client, *action, *verdict, *reason, *detail;	/* owned, may be NULL */
	const uint8_t *digest;		/* STORE_AUDIT_DIGEST_SIZE bytes, or NULL */
};

/* The audit chain's head: the last row's seq and hash. */
struct store_chain {
	uint64_t seq;
	uint8_t hash[SKR_AUDIT_HASH_SIZE];
};

/* What a chained row stores besides its fields. */
struct store_chained {
	uint64_t seq;
	uint8_t prev[SKR_AUDIT_HASH_SIZE], hash[SKR_AUDIT_HASH_SIZE];
};

/* Rows one group commit writes at most (store_group.c). */
#define STORE_BATCH_MAX 64

/* One caller's part of a group commit (ops->audit_batch). */
struct store_batch_item {
	const struct store_audit_row *row;
	const uint8_t *nonce_hash;	/* STORE_NONCE_HASH_SIZE bytes, or NULL: a row alone */
	time_t expires, now;		/* of the nonce */
	bool replayed;			/* out: the nonce was already used, nothing written */
};

/*
 * What a backend implements.  Every operation is atomic (one transaction)
 * and serialised with the others on the same store; errors as store.h
 * (SKR_R_key_unknown, SKR_R_refset_unknown, SKR_R_store_error, ...), and
 * SKR_R_store_unavailable when the database server cannot be reached (the
 * next call tries again).  A write given an audit row (not NULL) writes it
 * in the write's transaction and, when it cannot, fails with
 * SKR_R_audit_failed having changed nothing (store_unavailable when the
 * server went away meanwhile: nothing changed either).
 * Listings append to arr with the store_json_* helpers.
 */
struct skr_store_ops {
	const char *name;
	void (*close)(struct skr_store *s);

	int (*key_create)(struct skr_store *s, const char *key_id, const struct store_sealed *secret,
			  const char *policy, const struct store_audit_row *audit,
			  struct skr_err *err);
	/* The sealed secret as stored; a row of the wrong shape is store_decrypt_failed. */
	int (*key_sealed)(struct skr_store *s, const char *key_id, struct store_sealed *out,
			  struct skr_err *err);
	int (*key_policy)(struct skr_store *s, const char *key_id, char **policy,
			  struct skr_err *err);
	int (*key_set_policy)(struct skr_store *s, const char *key_id, const char *policy,
			      const struct store_audit_row *audit, struct skr_err *err);
	int (*key_delete)(struct skr_store *s, const char *key_id,
			  const struct store_audit_row *audit, struct skr_err *err);
	int (*key_list)(struct skr_store *s, json_object *arr, struct skr_err *err);

	/* label: "" for none. */
	int (*refset_add)(struct skr_store *s, const char *key_id, const char *label,
			  const char *state, const char *pcrs, int64_t *id_out,
			  const struct store_audit_row *audit, struct skr_err *err);
	int (*refset_remove)(struct skr_store *s, const char *key_id, int64_t id,
			     const struct store_audit_row *audit, struct skr_err *err);
	int (*refset_list)(struct skr_store *s, const char *key_id, json_object *arr,
			   struct skr_err *err);

	/*
	 * The reseal writes: before writing audit (when not NULL) in the
	 * write's transaction they add the outcome to it with the matching
	 * store_audit_*_outcome below, so every backend words it the same.
	 */
	int (*refset_submit)(struct skr_store *s, const char *key_id, const char *label,
			     const char *state, const char *pcrs, const char *note,
			     bool may_supersede, struct skr_store_submit *out,
			     struct store_audit_row *audit, struct skr_err *err);
	int (*refset_approve)(struct skr_store *s, const char *key_id, int64_t id,
			      const struct store_audit_row *audit, struct skr_err *err);
	int (*refset_commit)(struct skr_store *s, const char *key_id, int64_t id,
			     unsigned keep_retired, struct skr_store_commit *out,
			     struct store_audit_row *audit, struct skr_err *err);
	int (*refset_withdraw)(struct skr_store *s, const char *key_id, const char *label,
			       unsigned *removed, struct store_audit_row *audit,
			       struct skr_err *err);

	/*
	 * Group commit (store_group.c calls it; nothing else does): the rows of
	 * items[0..n-1] (1 <= n <= STORE_BATCH_MAX), each with its used nonce
	 * when nonce_hash is not NULL, written in ONE transaction, one commit
	 * (one fsync on SQLite with synchronous=FULL; one WAL flush on
	 * PostgreSQL with synchronous_commit on).  In order, for each item:
	 *   - with a nonce: record it (as nonce_use, expires/now as there); a
	 *     nonce already recorded, by an earlier item of this batch too,
	 *     sets item->replayed and writes nothing else for this item (its
	 *     row is not written; the caller audits the refusal later); the
	 *     other items go on (on SQLite the failed INSERT undoes itself; on
	 *     PostgreSQL use a SAVEPOINT per item or INSERT ... ON CONFLICT DO
	 *     NOTHING and look at the row count);
	 *   - its audit row (time: now at the backend).
	 * Every other failure (a row that cannot be written, a failed COMMIT, a
	 * lost connection) fails the whole call: -1 with err, nothing committed,
	 * and the caller fails every item ("no audit row, no release"), each
	 * with SKR_R_audit_failed, but SKR_R_store_unavailable when the server
	 * went away (the backend's err says which).  0 means
	 * committed and durable: every item with !replayed has its row (and
	 * nonce) in the database.  The backend sets replayed on every item
	 * (false on the others) and touches nothing else in them.
	 */
	int (*audit_batch)(struct skr_store *s, struct store_batch_item *const *items, size_t n,
			   struct skr_err *err);
	int (*audit_query)(struct skr_store *s, const char *key_id, unsigned limit,
			   json_object *arr, struct skr_err *err);
	/*
	 * The audit chain (common/audit_chain.h).  Every audit row a backend
	 * writes, whatever the write, is chained: in the write's transaction
	 * it takes the head (the last row's seq and hash; 0 and zeros before
	 * the first row) under a lock that serialises every writer of the
	 * database (SQLite: the write transaction; PostgreSQL: SELECT ... FOR
	 * UPDATE on the one-row audit_head table, which orders the replicas
	 * too), stores the row with seq = head + 1, prev = head's hash and its
	 * hash (store_chain_next), and moves the head.  A batch takes the head
	 * once, before anything else it locks (no lock order to get wrong), and
	 * moves it once.
	 */
	int (*audit_head)(struct skr_store *s, struct store_chain *head, struct skr_err *err);
	/* Stores a signed checkpoint (the signature as made, DER). */
	int (*audit_checkpoint_add)(struct skr_store *s, const struct store_chain *head,
				    int64_t time, const uint8_t *sig, size_t sig_len,
				    struct skr_err *err);
	/* Every checkpoint, oldest first, with store_json_checkpoint. */
	int (*audit_checkpoints)(struct skr_store *s, json_object *arr, struct skr_err *err);
	int (*nonce_use)(struct skr_store *s, const uint8_t hash[STORE_NONCE_HASH_SIZE],
			 time_t expires, time_t now, struct skr_err *err);
	int (*nonce_check)(struct skr_store *s, const uint8_t hash[STORE_NONCE_HASH_SIZE],
			   struct skr_err *err);

	int (*version)(struct skr_store *s, struct skr_store_version *v, struct skr_err *err);
	int (*durability)(struct skr_store *s, struct skr_store_durability *d,
			  struct skr_err *err);

	/*
	 * Master key rotation (store_rotate.c, docs in the README).  The
	 * database keeps the current master key's check value and, while a
	 * rotation runs, the next one's; each key's secret opens under one of
	 * the two at every moment.
	 */
	/* The check values as stored now. */
	int (*master_get)(struct skr_store *s, struct store_master *m, struct skr_err *err);
	/*
	 * One transaction: if the current check is cur and there is no next
	 * one (or it is next already), next becomes the next check, with the
	 * audit row; otherwise SKR_R_store_error saying which differs, and
	 * nothing changes.
	 */
	int (*master_begin)(struct skr_store *s, const uint8_t cur[STORE_CHECK_SIZE],
			    const uint8_t next[STORE_CHECK_SIZE],
			    const struct store_audit_row *audit, struct skr_err *err);
	/*
	 * One transaction: if the current check is cur and the next is next,
	 * next becomes current and there is no next any more, with the audit
	 * row; otherwise SKR_R_store_error and nothing changes.
	 */
	int (*master_finish)(struct skr_store *s, const uint8_t cur[STORE_CHECK_SIZE],
			     const uint8_t next[STORE_CHECK_SIZE],
			     const struct store_audit_row *audit, struct skr_err *err);
	/*
	 * One transaction, compare and swap: the key's sealed secret becomes to
	 * if it is still from, byte for byte (IV, ciphertext, tag);
	 * SKR_R_key_unknown when the key is gone, SKR_R_store_error when its
	 * secret changed meanwhile (nothing written then).
	 */
	int (*key_reseal)(struct skr_store *s, const char *key_id, const struct store_sealed *from,
			  const struct store_sealed *to, struct skr_err *err);
	/*
	 * Every open holds a shared claim on the database until close (SQLite:
	 * flock on DATABASE.lock; a server database: a session advisory lock),
	 * and an open while another store holds the exclusive one fails with
	 * SKR_R_store_error saying so.  This takes the exclusive claim, for a
	 * maintenance that no running broker may see half done (the rotation):
	 * SKR_R_store_error when any other store has the database open.
	 */
	int (*exclusive)(struct skr_store *s, struct skr_err *err);
};

struct store_group;

/* The first member of a backend's own store structure. */
struct skr_store {
	const struct skr_store_ops *ops;
	uint8_t *master;	/* SKR_STORE_MASTER_KEY_SIZE bytes from skr_secret_alloc */
	struct store_group *group;	/* group commit of audit rows (store_group.c) */
};

/* ---- Backends ------------------------------------------------------------ */

/*
 * Opens (creating, migrating) the SQLite database at path.  The first open
 * keeps check (the master key's check value), every later one compares it
 * with the current check and, during a rotation, the next one:
 * SKR_R_store_decrypt_failed when it is neither (the caller asks master_get
 * which one it was).  *out's master is left NULL.
 */
int store_sqlite_open(const char *path, const uint8_t check[STORE_CHECK_SIZE],
		      struct skr_store **out, struct skr_err *err);

/*
 * Connects to the PostgreSQL database of conninfo (a postgresql:// URI or a
 * libpq key=value string), creating and migrating the schema; the master
 * key check as store_sqlite_open.  SKR_R_store_unavailable when no server
 * answers, SKR_R_usage for a string libpq cannot parse.
 */
int store_pg_open(const char *conninfo, const uint8_t check[STORE_CHECK_SIZE],
		  struct skr_store **out, struct skr_err *err);

/* database names PostgreSQL: a postgresql:// or postgres:// URI, or "keyword=value ...". */
bool store_is_postgresql(const char *database);

/*
 * skr_store_open, except that with mid_rotation_ok a database in the middle
 * of a master key rotation opens too (with its old or its new key; the
 * caller asks master_get which).
 */
int store_open_master(const char *db_path, const char *master_key_path, bool mid_rotation_ok,
		      struct skr_store **out, struct skr_err *err);

/* ---- Crypto at rest (store_crypto.c) -------------------------------------- */

int store_master_key_read(const char *path, uint8_t key[SKR_STORE_MASTER_KEY_SIZE],
			  struct skr_err *err);
int store_master_key_check(const uint8_t *master, uint8_t out[STORE_CHECK_SIZE],
			   struct skr_err *err);
int store_seal(const uint8_t *master, const char *key_id, const uint8_t *secret, size_t len,
	       struct store_sealed *out, struct skr_err *err);
/* out is written only once the tag verified (SKR_R_store_decrypt_failed otherwise). */
int store_unseal(const uint8_t *master, const char *key_id, const struct store_sealed *in,
		 uint8_t *out, struct skr_err *err);

/* ---- Checks and canonical text shared by the public functions (store.c) --- */

int store_check_key_id(const char *key_id, struct skr_err *err);
/* required: "" and NULL are refused; otherwise they are "no label". */
int store_check_label(const char *label, bool required, struct skr_err *err);
/* The policy, a JSON object, in canonical text (caller frees). */
int store_canonical_policy(const char *policy_json, char **out, struct skr_err *err);
/* A PCR set with at least one value, in canonical text (caller frees). */
int store_canonical_pcrs(const char *pcrs_json, char **out, struct skr_err *err);
/* arr as JSON text (caller frees); NULL with SKR_R_nomem. */
char *store_json_text(json_object *arr, struct skr_err *err);

/* ---- Group commit (store_group.c) ----------------------------------------- */

/* Made by skr_store_open after the backend opened, freed by skr_store_close. */
struct store_group *store_group_new(struct skr_err *err);
void store_group_free(struct store_group *g);
/*
 * Writes item through the next group commit and returns once the flush that
 * covers it returned: 0 when its row is committed; SKR_R_nonce_replayed
 * when its nonce was used before (nothing written); SKR_R_audit_failed when
 * the flush failed (nothing of the batch written).
 */
int store_group_write(struct skr_store *s, struct store_batch_item *item, struct skr_err *err);

/* ---- Audit rows (store_audit.c) ------------------------------------------- */

/* The row to store for e: action and verdict checked, text escaped and bounded. */
int store_audit_row_make(const struct skr_audit_entry *e, struct store_audit_row *r,
			 struct skr_err *err);
void store_audit_row_free(struct store_audit_row *r);
/*
 * A write's optional row: NULL for a NULL entry, else the row made in r
 * (*row); -1 when e is not a valid entry.
 */
int store_audit_row_opt(const struct skr_audit_entry *e, struct store_audit_row *r,
			const struct store_audit_row **row, struct skr_err *err);

/*
 * The checks every operator write starts with: a store, a valid key id, and
 * its optional audit row made in r (*row).  -1 with err set otherwise.
 */
int store_write_begin(struct skr_store *s, const char *key_id, const struct skr_audit_entry *audit,
		      struct store_audit_row *r, const struct store_audit_row **row,
		      struct skr_err *err);

/*
 * A reseal write's outcome appended to its row's detail (NULL row: nothing
 * to do); SKR_R_nomem, and the write must fail, when it cannot be.
 */
int store_audit_submit_outcome(struct store_audit_row *r, const struct skr_store_submit *out,
			       struct skr_err *err);
int store_audit_commit_outcome(struct store_audit_row *r, int64_t id,
			       const struct skr_store_commit *out, struct skr_err *err);
int store_audit_withdraw_outcome(struct store_audit_row *r, unsigned removed,
				 struct skr_err *err);

/*
 * A reseal submission's rules (store.h), written once for every backend:
 * the backend's refset_submit locks or checks the key inside its
 * transaction, then runs store_submit_run with these steps on that
 * transaction (tx).  Each step is one statement; -1 with err on failure.
 */
struct store_submit_steps {
	/* 1 with *id and state: the best set with exactly these values
	 * (current, then pending, then queued; the newest); 0: none. */
	int (*find_same)(void *tx, const char *key_id, const char *pcrs, int64_t *id,
			 char state[8], struct skr_err *err);
	int (*count_queued)(void *tx, const char *key_id, int64_t *n, struct skr_err *err);
	/* A queued set becomes pending under label, its note cleared. */
	int (*promote)(void *tx, const char *key_id, int64_t id, const char *label,
		       struct skr_err *err);
	int (*insert)(void *tx, const char *key_id, const char *label, const char *state,
		      const char *pcrs, const char *note, int64_t *id, struct skr_err *err);
	/* Removes the pending and queued sets with label other than keep. */
	int (*supersede)(void *tx, const char *key_id, int64_t keep, const char *label,
			 unsigned *removed, struct skr_err *err);
};

struct store_submit_req {
	const char *key_id, *label, *state, *pcrs, *note;
	bool may_supersede;
	struct skr_store_submit *out;
	struct store_audit_row *audit;	/* may be NULL; gets the outcome */
};

int store_submit_run(const struct store_submit_steps *steps, void *tx,
		     const struct store_submit_req *r, struct skr_err *err);

/*
 * The next link: out gets seq (head + 1), prev (head's hash) and the hash
 * of r written at time; head moves to it.  One SHA-256.
 */
int store_chain_next(struct store_chain *head, const struct store_audit_row *r, int64_t time,
		     struct store_chained *out, struct skr_err *err);
/* The same for a row as read back (a migration chaining existing rows). */
int store_chain_fields(struct store_chain *head, const struct skr_audit_fields *f,
		       struct store_chained *out, struct skr_err *err);

/* err (a failed audit row write) becomes SKR_R_audit_failed, keeping its detail. */
int store_audit_refused(struct skr_err *err);

/* ---- Listing rows, the same from every backend (NULL text: JSON null) ------ */

int store_json_key(json_object *arr, const char *key_id, int64_t created, struct skr_err *err);
/* pcrs: the stored canonical text; note NULL: no "note" member. */
int store_json_refset(json_object *arr, int64_t id, const char *label, const char *state,
		      const char *pcrs, int64_t created, const char *note, struct skr_err *err);
/* An audit row's chain as read back; prev or hash NULL: not chained (JSON null). */
struct store_json_link {
	int64_t seq;
	const uint8_t *prev, *hash;
	size_t prev_len, hash_len;
};
int store_json_audit(json_object *arr, int64_t id, int64_t time, const char *const text[6],
		     const uint8_t *digest, size_t digest_len, const struct store_json_link *link,
		     struct skr_err *err);
/* A checkpoint: seq, hash (hex), time, signature (base64). */
int store_json_checkpoint(json_object *arr, int64_t seq, const uint8_t *hash, size_t hash_len,
			  int64_t time, const uint8_t *sig, size_t sig_len, struct skr_err *err);

#endif
