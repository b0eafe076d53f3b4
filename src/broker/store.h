/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The broker's store: SQLite (WAL, synchronous=FULL) with a versioned schema.
 * Disk secrets are encrypted at rest with AES-256-GCM under a master key read
 * from a 0600 file, the key id as AAD.  Keys carry a policy (JSON text) and
 * reference PCR sets; every release decision and every admin call leaves an
 * audit row.  All functions are safe to call from several threads (one
 * connection per store, serialised by a mutex; SQLite in serialized mode).
 */
#ifndef SKR_STORE_H
#define SKR_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "err.h"

#define SKR_STORE_SCHEMA_VERSION 2
#define SKR_STORE_MASTER_KEY_SIZE 32
#define SKR_STORE_MAX_SECRET 128
#define SKR_STORE_KEY_ID_MAX 128	/* [A-Za-z0-9._-]{1,128}, not "." or ".." */
#define SKR_STORE_LABEL_MAX 64		/* printable ASCII, no leading or trailing space */
#define SKR_STORE_JSON_MAX (64u * 1024)	/* policy and PCR set text */

struct skr_store;

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
			 size_t secret_len, const char *policy_json, struct skr_err *err);
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
			     struct skr_err *err);
int skr_store_key_delete(struct skr_store *s, const char *key_id, struct skr_err *err);
/* Deleting a key deletes its reference PCR sets; its audit rows stay. */
/* JSON array text of {"key_id","created"} ordered by key id (caller frees). */
int skr_store_key_list(struct skr_store *s, char **json, struct skr_err *err);

/*
 * Reference PCR sets of a key. state is "current" or "pending" (see reseal
 * below for "queued" and "retired"); pcrs_json as
 * pcr_json.h, with at least one PCR value (stored in canonical form).
 * Removing an id that is not a set of this key fails with SKR_R_refset_unknown.
 */
int skr_store_refset_add(struct skr_store *s, const char *key_id, const char *label,
			 const char *state, const char *pcrs_json, int64_t *id_out,
			 struct skr_err *err);
int skr_store_refset_remove(struct skr_store *s, const char *key_id, int64_t id,
			    struct skr_err *err);
/* JSON array text of {"id","label","state","pcrs":{...},"created"[,"note"]} by id (caller frees). */
int skr_store_refset_list(struct skr_store *s, const char *key_id, char **json,
			  struct skr_err *err);

/*
 * Reseal (DESIGN.md, two-phase reference values).  States: "current" and
 * "pending" sets both match releases; "queued" sets wait for an operator and
 * never match; "retired" sets are history and never match.  A set's "note"
 * (when present in the listing) says why it is in its state.
 */
#define SKR_STORE_MAX_QUEUED 8		/* per key: bounds what unapproved clients can add */
#define SKR_STORE_KEEP_RETIRED 8	/* per key: retired sets kept as history */

struct skr_store_submit {
	int64_t id;
	char state[8];		/* what the set is now: current, pending or queued */
	bool existed;		/* a set with these values was already there: nothing added */
	unsigned superseded;	/* older pending or queued sets with this label removed */
};

/*
 * A predicted set, in one transaction: if a current, pending or queued set
 * has the same values it is returned (a queued one becomes pending when state
 * is "pending"); otherwise the set is added in state ("pending" or "queued",
 * at most SKR_STORE_MAX_QUEUED queued per key: SKR_R_refset_queue_full) with
 * note.  Then, only when the set is pending, the other pending and queued
 * sets with the same label are removed: they predicted the same boot from
 * older files.  A queued set (an unapproved client's) removes nothing, so
 * it cannot push out an approved boot's prediction.  Current sets are never
 * touched.
 */
int skr_store_refset_submit(struct skr_store *s, const char *key_id, const char *label,
			    const char *state, const char *pcrs_json, const char *note,
			    struct skr_store_submit *out, struct skr_err *err);
/* A queued set becomes pending (SKR_R_refset_unknown when no such queued set). */
int skr_store_refset_approve(struct skr_store *s, const char *key_id, int64_t id,
			     struct skr_err *err);

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
			    unsigned keep_retired, struct skr_store_commit *out, struct skr_err *err);
/* Removes the pending and queued sets with this label (a removed kernel's). */
int skr_store_refset_withdraw(struct skr_store *s, const char *key_id, const char *label,
			      unsigned *removed, struct skr_err *err);

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

struct skr_audit_entry {
	const char *key_id;		/* may be NULL */
	const char *client;		/* client address */
	const char *action;		/* "release", "challenge", "admin:key_create", ... */
	const char *verdict;		/* "allow", "deny", "error" */
	const char *reason;		/* a reason code name or NULL */
	const char *detail;		/* never a secret */
	const uint8_t *evidence_digest;	/* SHA-256 of the request body, or NULL */
};

/*
 * action and verdict are required.  Text fields may come from a client: they
 * are stored with bytes outside printable ASCII escaped as \xNN and cut to a
 * bounded length, so an audit row is always written.
 */
int skr_store_audit(struct skr_store *s, const struct skr_audit_entry *e, struct skr_err *err);
/*
 * JSON array text of the newest rows first, optionally for one key_id (NULL:
 * every row), at most limit rows (0: no limit) (caller frees).  Rows are
 * {"id","time","key_id","client","action","verdict","reason","detail",
 * "evidence_digest"} with null for absent fields and the digest in hex.
 */
int skr_store_audit_query(struct skr_store *s, const char *key_id, unsigned limit,
			  char **json, struct skr_err *err);

#endif
