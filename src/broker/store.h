/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The broker's store, the one interface the rest of the broker uses: keys
 * with their policy (JSON text) and reference PCR sets, the used release
 * nonces, and an audit row for every release decision and every admin call.
 * Disk secrets are encrypted at rest with AES-256-GCM under a master key read
 * from a 0600 file, the key id as AAD, before they reach a backend.
 *
 * Behind it a backend (store_int.h): SQLite now (WAL, synchronous=FULL, a
 * versioned schema; store_sqlite*.c).  All functions are safe to call from
 * several threads (one connection per store, serialised by a mutex; SQLite
 * in serialized mode).
 */
#ifndef SKR_STORE_H
#define SKR_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/err.h"

#define SKR_STORE_SCHEMA_VERSION 4
#define SKR_STORE_MASTER_KEY_SIZE 32
#define SKR_STORE_MAX_SECRET 128
#define SKR_STORE_KEY_ID_MAX 128	/* [A-Za-z0-9._-]{1,128}, not "." or ".." */
#define SKR_STORE_LABEL_MAX 64		/* printable ASCII, no leading or trailing space; "": none */
#define SKR_STORE_JSON_MAX (64u * 1024)	/* policy and PCR set text */
#define SKR_STORE_MAX_SIGNATURE 256	/* an audit checkpoint's signature (DER) */

struct skr_store;

struct skr_audit_entry {
	const char *key_id;		/* may be NULL */
	const char *client;		/* client address */
	/*
	 * "release", "reseal:submit" (…check, …commit, …withdraw), "admin:…",
	 * "admin:auth".  Never "challenge": a challenge decides nothing (it hands
	 * out a nonce) and needs no credential, so auditing each would let any
	 * client fill the audit log at will; the release or reseal call that
	 * uses the nonce is audited.
	 */
	const char *action;
	const char *verdict;		/* "allow", "deny", "error" */
	const char *reason;		/* a reason code name or NULL */
	const char *detail;		/* never a secret */
	const uint8_t *evidence_digest;	/* SHA-256 of the request body, or NULL */
};

/*
 * Writes an operator makes (key create, policy, delete, reference set add,
 * remove, approve) take the audit row of the change, or NULL for none.  The
 * row is written in the change's own transaction: the change and its row
 * land together or not at all, and a row that cannot be written (a full
 * disk, say) fails the call with SKR_R_audit_failed, changing nothing.
 * The row's fields are as skr_store_audit's below.
 */

/*
 * Opens (creating if needed) the database at path and migrates it to the
 * current schema.  The master key file must be exactly 32 bytes (raw) or 64
 * hex characters, owned by the caller and not readable by group or others
 * (mode 0600 or stricter), else SKR_R_usage naming the file and the problem.
 * A new database file is created with mode 0600.  A database written by a
 * newer schema fails with SKR_R_store_error; a master key other than the one
 * the database was created with fails with SKR_R_store_decrypt_failed.
 */
int skr_store_open(const char *db_path, const char *master_key_path, struct skr_store **out,
		   struct skr_err *err);
void skr_store_close(struct skr_store *s);

/*
 * Master key rotation (store_rotate.c): every key's secret resealed under
 * the master key in new_key_path, one key per transaction (compare and swap
 * on the sealed secret), then the new key made the database's key.
 *
 * Offline: it holds the database alone (every open store holds a shared
 * claim), so it is refused while any broker has the database open, and a
 * broker started meanwhile is refused; a database left mid-rotation (the
 * command killed) opens for no broker until the rotation is run again.
 *
 * Crash-safe: at every moment each secret opens under the old or the new
 * key, and the database records both check values, so running it again
 * with the same two keys finishes it; run again after it finished, it
 * changes nothing.  A master key that is not the database's (nor the old
 * key of an interrupted rotation), a new key equal to the old one, an
 * interrupted rotation to a third key, and a secret that opens under
 * neither key are refused before anything is written.  With check_only it
 * only counts which key opens each secret (and needs no claim).
 */
struct skr_store_rotation {
	unsigned keys;		/* keys in the database */
	unsigned under_old;	/* secrets that opened under the old key before the run */
	unsigned under_new;	/* ... under the new key (an interrupted run's) */
	unsigned resealed;	/* resealed by this run */
	bool resumed;		/* an interrupted rotation to this key was found */
	bool done_before;	/* the database's key was the new key already: nothing done */
};

int skr_store_rotate_master_key(const char *db_path, const char *old_key_path,
				const char *new_key_path, bool check_only,
				struct skr_store_rotation *out, struct skr_err *err);

/*
 * Key ids are checked by every call that takes one (SKR_R_malformed), as are
 * labels, states and JSON text.  Calls naming a key that does not exist fail
 * with SKR_R_key_unknown; store failures with SKR_R_store_error.
 */
bool skr_store_key_id_valid(const char *key_id);

/*
 * Creates a key with its secret (1..SKR_STORE_MAX_SECRET bytes, encrypted at
 * rest) and policy (a JSON object); SKR_R_key_exists if the id is taken.
 */
int skr_store_key_create(struct skr_store *s, const char *key_id, const uint8_t *secret,
			 size_t secret_len, const char *policy_json,
			 const struct skr_audit_entry *audit, struct skr_err *err);
/*
 * Decrypts the secret into out (SKR_STORE_MAX_SECRET bytes, caller-locked
 * memory).  A ciphertext that does not open under the master key and this key
 * id (another master key, a tampered row, a row moved from another key) fails
 * with SKR_R_store_decrypt_failed and leaves out untouched.
 */
int skr_store_key_secret(struct skr_store *s, const char *key_id, uint8_t *out,
			 size_t *out_len, struct skr_err *err);
/* The policy JSON text (caller frees); SKR_R_key_unknown when there is no such key. */
int skr_store_key_policy(struct skr_store *s, const char *key_id, char **policy_json,
			 struct skr_err *err);
int skr_store_key_set_policy(struct skr_store *s, const char *key_id, const char *policy_json,
			     const struct skr_audit_entry *audit, struct skr_err *err);
int skr_store_key_delete(struct skr_store *s, const char *key_id,
			 const struct skr_audit_entry *audit, struct skr_err *err);
/* Deleting a key deletes its reference PCR sets; its audit rows stay. */
/* JSON array text of {"key_id","created"} ordered by key id (caller frees). */
int skr_store_key_list(struct skr_store *s, char **json, struct skr_err *err);

/*
 * Reference PCR sets of a key. state is "current" or "pending" (see reseal
 * below for "queued" and "retired"); pcrs_json as
 * pcr_json.h, with at least one PCR value (stored in canonical form).
 * The label is optional here: NULL or "" is a set without a label (listed
 * with "label": ""); reseal submissions and withdrawals name one.
 * Removing an id that is not a set of this key fails with SKR_R_refset_unknown.
 */
int skr_store_refset_add(struct skr_store *s, const char *key_id, const char *label,
			 const char *state, const char *pcrs_json, int64_t *id_out,
			 const struct skr_audit_entry *audit, struct skr_err *err);
int skr_store_refset_remove(struct skr_store *s, const char *key_id, int64_t id,
			    const struct skr_audit_entry *audit, struct skr_err *err);
/* JSON array text of {"id","label","state","pcrs":{...},"created"[,"note"]} by id (caller frees). */
int skr_store_refset_list(struct skr_store *s, const char *key_id, char **json,
			  struct skr_err *err);

/*
 * Reseal (DESIGN.md, two-phase reference values).  States: "current" and
 * "pending" sets both match releases; "queued" sets wait for an operator and
 * never match; "retired" sets are history and never match.  A set's "note"
 * (when present in the listing) says why it is in its state.
 */
/*
 * Queued sets per key.  The queue is filled by clients that passed only the
 * SNP policy (their boot state is not approved), so it is bounded, and when
 * it is full the oldest entries stay and new submissions are refused
 * (refset_queue_full): what was queued first is never pushed out, and a
 * submission that becomes pending needs no queue room at all.  A bound per
 * submitting identity (chip id, launch measurement) was the alternative; it
 * does not stop an attacker with several VMs (several chips) or with one
 * VM's approved measurement, and every identity it admits adds to what an
 * operator must review, so a plain bound with a clear refusal it is.
 */
#define SKR_STORE_MAX_QUEUED 8
#define SKR_STORE_KEEP_RETIRED 8	/* per key: retired sets kept as history */

struct skr_store_submit {
	int64_t id;
	char state[8];		/* what the set is now: current, pending or queued */
	bool existed;		/* a set with these values was already there: nothing added */
	unsigned superseded;	/* older pending or queued sets with this label removed */
};

/*
 * Reseal writes (submit, commit, withdraw) take their audit row like the
 * operator writes above, written in the same transaction; the row's detail
 * gets the outcome appended (" set ID STATE", " set ID current, N retired,
 * N deleted", " N removed"), which only the transaction knows.
 *
 * A predicted set, in one transaction: if a current, pending or queued set
 * has the same values it is returned (a queued one becomes pending, taking
 * this label, when state is "pending"); otherwise the set is added in state
 * ("pending" or "queued") with note.  A new queued set needs room: at most
 * SKR_STORE_MAX_QUEUED queued per key, else SKR_R_refset_queue_full and
 * nothing changes.
 *
 * Superseding: when may_supersede is true and the set is pending after the
 * call, the other pending and queued sets with the same label are removed
 * (they predicted the same boot from older files; a queued look-alike under
 * that label goes too, so an operator is never asked to approve it).  Only
 * the caller knows whether the submitting boot is approved, so it says so;
 * a queued submission never removes, replaces or relabels anything, whatever
 * may_supersede says: an unapproved boot must not be able to take an
 * approved boot's set away.  Current sets are never touched.
 */
int skr_store_refset_submit(struct skr_store *s, const char *key_id, const char *label,
			    const char *state, const char *pcrs_json, const char *note,
			    bool may_supersede, struct skr_store_submit *out,
			    const struct skr_audit_entry *audit, struct skr_err *err);
/* A queued set becomes pending (SKR_R_refset_unknown when no such queued set). */
int skr_store_refset_approve(struct skr_store *s, const char *key_id, int64_t id,
			     const struct skr_audit_entry *audit, struct skr_err *err);

struct skr_store_commit {
	unsigned retired;	/* older current or pending sets now retired */
	unsigned deleted;	/* retired sets beyond the history bound, removed */
};

/*
 * After a boot that matched set id (current or pending): it becomes current,
 * older current and pending sets become retired, and only the newest
 * keep_retired retired sets are kept.  Newer pending sets stay: they are
 * predictions for a later boot.
 */
int skr_store_refset_commit(struct skr_store *s, const char *key_id, int64_t id,
			    unsigned keep_retired, struct skr_store_commit *out,
			    const struct skr_audit_entry *audit, struct skr_err *err);
/* Removes the pending and queued sets with this label (a removed kernel's). */
int skr_store_refset_withdraw(struct skr_store *s, const char *key_id, const char *label,
			      unsigned *removed, const struct skr_audit_entry *audit,
			      struct skr_err *err);

/*
 * What a cache of keys and reference sets must compare: writes through this
 * store, and commits by any other connection to the database (data_version).
 * Equal versions mean nothing a release reads has changed.
 */
struct skr_store_version {
	uint64_t changes;
	uint64_t data_version;
};

int skr_store_version(struct skr_store *s, struct skr_store_version *v, struct skr_err *err);

/*
 * The durability settings as SQLite reports them now on the store's own
 * connection (both pragmas are per connection, so no other connection can
 * observe them): synchronous 2 is FULL (every commit fsynced), journal_mode
 * "wal".  Read on each call, not remembered from open: the unit test and the
 * broker's /metrics see what the broker really runs with.
 */
struct skr_store_durability {
	int synchronous;
	char journal_mode[16];
};

int skr_store_durability(struct skr_store *s, struct skr_store_durability *d,
			 struct skr_err *err);


/*
 * Audit rows are group-committed: callers on several threads that write at
 * the same time share one transaction and one flush (one fsync), and each
 * call returns only after the flush that covers its row returned, so a
 * reply sent after a successful call is covered by a durable row.  A lone
 * caller does not wait for company: the first caller to find no flush
 * running flushes at once whatever is queued (at most STORE_BATCH_MAX rows);
 * callers arriving meanwhile are flushed together right after it.  A flush
 * that fails fails every call of its batch with SKR_R_audit_failed (with
 * SKR_R_store_unavailable when the database server went away) and writes
 * none of their rows (nor nonces).
 */

/*
 * One audit row on its own.  action and verdict are required.  Text fields
 * may come from a client: they are stored with bytes outside printable ASCII
 * escaped as \xNN and cut to a bounded length, so no text stops a row.  A
 * row that cannot be written fails with SKR_R_audit_failed.
 */
int skr_store_audit(struct skr_store *s, const struct skr_audit_entry *e, struct skr_err *err);
/*
 * The nonce (as skr_store_nonce_use) and the audit row in one transaction,
 * one commit: neither is written without the other.  A nonce recorded
 * meanwhile (a replica on the same database, or another call in the same
 * group commit) fails with SKR_R_nonce_replayed and writes no row, failing
 * only this call; a row that cannot be written, or a flush that fails,
 * fails with SKR_R_audit_failed and records no nonce.
 */
int skr_store_audit_nonce(struct skr_store *s, const struct skr_audit_entry *e,
			  const uint8_t *nonce, size_t len, time_t expires, time_t now,
			  struct skr_err *err);
/* Group commit counters since the store was opened (for /metrics and tests). */
struct skr_store_commit_stats {
	uint64_t flushes;		/* group commits run (failed ones included) */
	uint64_t failed_flushes;	/* of which failed: their rows were not written */
	uint64_t rows;			/* rows the flushes carried (written or not) */
	uint64_t max_batch;		/* the most rows one flush carried */
	uint64_t queued;		/* rows waiting now for a flush (not counting one running) */
};

int skr_store_commit_stats(struct skr_store *s, struct skr_store_commit_stats *st,
			   struct skr_err *err);

/*
 * Records a used release nonce (its SHA-256) until expires: one indexed
 * INSERT.  A nonce recorded before, by this broker before a restart or by a
 * replica on the same database, fails with SKR_R_nonce_replayed.  Nonces
 * expired at now are purged every few hundred calls.
 */
int skr_store_nonce_use(struct skr_store *s, const uint8_t *nonce, size_t len, time_t expires,
			time_t now, struct skr_err *err);
/* Whether a nonce was recorded: SKR_R_nonce_replayed if so (a read, no write). */
int skr_store_nonce_check(struct skr_store *s, const uint8_t *nonce, size_t len,
			  struct skr_err *err);

/*
 * JSON array text of the newest rows first, optionally for one key_id (NULL:
 * every row), at most limit rows (0: no limit) (caller frees).  Rows are
 * {"id","time","key_id","client","action","verdict","reason","detail",
 * "evidence_digest","seq","prev","hash"} with null for absent fields and the
 * digest, prev and hash in hex, ordered by seq (the audit chain,
 * common/audit_chain.h: every row is chained when written, in the write's
 * transaction).
 */
int skr_store_audit_query(struct skr_store *s, const char *key_id, unsigned limit,
			  char **json, struct skr_err *err);

/* The audit chain's head: the last row's seq (0 before the first row) and hash. */
int skr_store_audit_head(struct skr_store *s, uint64_t *seq, uint8_t hash[32],
			 struct skr_err *err);
/*
 * Stores a checkpoint the broker signed (common/audit_chain.h): seq, head
 * hash, time and the DER signature (at most SKR_STORE_MAX_SIGNATURE bytes).
 */
int skr_store_audit_checkpoint_add(struct skr_store *s, uint64_t seq, const uint8_t hash[32],
				   int64_t time, const uint8_t *sig, size_t sig_len,
				   struct skr_err *err);
/*
 * JSON array text of every checkpoint, oldest first (caller frees):
 * {"seq","time","hash" (hex),"signature" (base64 DER)}.
 */
int skr_store_audit_checkpoints(struct skr_store *s, char **json, struct skr_err *err);

#endif
