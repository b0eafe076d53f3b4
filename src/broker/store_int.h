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
 * Another adds its ops table, its open function and a line there.
 */
#ifndef SKR_STORE_INT_H
#define SKR_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <json-c/json.h>

#include "broker/store.h"
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

/* An audit row as a backend stores it: checked, its text escaped and bounded. */
struct store_audit_row {
	char *key_id, *client, *action, *verdict, *reason, *detail;	/* owned, may be NULL */
	const uint8_t *digest;		/* STORE_AUDIT_DIGEST_SIZE bytes, or NULL */
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

	int (*audit)(struct skr_store *s, const struct store_audit_row *row, struct skr_err *err);
	int (*audit_nonce)(struct skr_store *s, const struct store_audit_row *row,
			   const uint8_t hash[STORE_NONCE_HASH_SIZE], time_t expires, time_t now,
			   struct skr_err *err);
	int (*audit_query)(struct skr_store *s, const char *key_id, unsigned limit,
			   json_object *arr, struct skr_err *err);
	int (*nonce_use)(struct skr_store *s, const uint8_t hash[STORE_NONCE_HASH_SIZE],
			 time_t expires, time_t now, struct skr_err *err);
	int (*nonce_check)(struct skr_store *s, const uint8_t hash[STORE_NONCE_HASH_SIZE],
			   struct skr_err *err);

	int (*version)(struct skr_store *s, struct skr_store_version *v, struct skr_err *err);
	int (*durability)(struct skr_store *s, struct skr_store_durability *d,
			  struct skr_err *err);
};

/* The first member of a backend's own store structure. */
struct skr_store {
	const struct skr_store_ops *ops;
	uint8_t *master;	/* SKR_STORE_MASTER_KEY_SIZE bytes from skr_secret_alloc */
};

/* ---- Backends ------------------------------------------------------------ */

/*
 * Opens (creating, migrating) the SQLite database at path.  The first open
 * keeps check (the master key's check value), every later one compares it:
 * SKR_R_store_decrypt_failed when it differs.  *out's master is left NULL.
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

/* err (a failed audit row write) becomes SKR_R_audit_failed, keeping its detail. */
int store_audit_refused(struct skr_err *err);

/* ---- Listing rows, the same from every backend (NULL text: JSON null) ------ */

int store_json_key(json_object *arr, const char *key_id, int64_t created, struct skr_err *err);
/* pcrs: the stored canonical text; note NULL: no "note" member. */
int store_json_refset(json_object *arr, int64_t id, const char *label, const char *state,
		      const char *pcrs, int64_t created, const char *note, struct skr_err *err);
int store_json_audit(json_object *arr, int64_t id, int64_t time, const char *const text[6],
		     const uint8_t *digest, size_t digest_len, struct skr_err *err);

#endif
