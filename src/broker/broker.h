/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The broker's request logic, independent of HTTP: challenge, release and the
 * admin operations take a parsed JSON body and produce a status and a JSON
 * body.  Every decision is audited.  http.c maps them onto libmicrohttpd.
 */
#ifndef SKR_BROKER_H
#define SKR_BROKER_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "verify/amd_chain.h"
#include "common/err.h"
#include "verify/evidence.h"
#include "broker/metrics.h"
#include "verify/nonce.h"
#include "verify/policy.h"
#include "broker/store.h"

/*
 * Parsed policies and reference sets by key id, valid while the store's
 * version (its own writes and other connections' commits) is unchanged, so a
 * release neither queries nor re-parses them.  Entries are copied out under
 * the lock: no reader ever holds a pointer into the cache.
 */
#define SKR_KEY_CACHE_SIZE 256

struct skr_key_cache_entry {
	char key_id[SKR_STORE_KEY_ID_MAX + 1];
	struct skr_store_version version;
	struct skr_policy policy;
	struct skr_pcr_banks *sets;
	int64_t *ids;		/* the sets' ids in the store */
	size_t n_sets;
};

struct skr_key_cache {
	pthread_mutex_t lock;
	struct skr_key_cache_entry entry[SKR_KEY_CACHE_SIZE];
	size_t next;
};

void skr_key_cache_init(struct skr_key_cache *c);
void skr_key_cache_free(struct skr_key_cache *c);

struct skr_broker {
	struct skr_store *store;
	struct skr_amd_trust trust;
	struct skr_akcert_trust *ak_trust;	/* azure-tl: built-in root and CA-03, "ak_roots",
						   "ak_intermediates" */
	struct skr_akcert_trust *ek_trust;	/* tpm: "ek_roots", "ek_intermediates";
						   NULL without ek_roots (tpm keys refused) */
	uint8_t *nonce_secret;		/* a secret of SKR_NONCE_SECRET_SIZE bytes */
	struct skr_nonce_seen seen;
	unsigned nonce_ttl;		/* seconds */
	const char *vcek_cache_dir;	/* DER files named CHIPID-REPORTEDTCB.der; may be NULL */
	uint8_t admin_token_sha256[32];
	struct skr_metrics metrics;
	struct skr_chain_cache chain_cache;
	struct skr_key_cache key_cache;
	EVP_PKEY *audit_key;		/* the audit signing key (checkpoint.c), or NULL */
	bool checkpointed;		/* this broker signed a checkpoint, at ... */
	uint64_t checkpoint_seq;	/* ... this seq */
};

/* The audit signing key: a PEM P-256 private key file, held to secret.h's file rule. */
int skr_audit_signing_key_load(const char *path, EVP_PKEY **out, struct skr_err *err);
/*
 * Signs and stores a checkpoint of the audit chain's head (checkpoint.c):
 * 1 when one was stored, 0 when there was nothing to do (no key, an empty
 * log, or, unless always, no row since this broker's last checkpoint).
 */
int skr_broker_checkpoint(struct skr_broker *b, bool always, struct skr_err *err);

/* A response: HTTP status and JSON body (owned). */
struct skr_response {
	unsigned status;
	json_object *body;
};

void skr_response_error(struct skr_response *r, unsigned status, const char *error,
			const struct skr_err *err);

/*
 * Denials are 403 with the reason; malformed requests 400; store trouble
 * 500; a database that cannot be reached 503 with reason store_unavailable.
 */
void skr_broker_respond_failure(struct skr_response *r, const struct skr_err *err);
/* 503 store_unavailable, err's detail logged (it names the database's hosts), not sent. */
void skr_broker_respond_unavailable(struct skr_response *r, const struct skr_err *err);
/*
 * One audit row for a client request (verdict allow when err is ok).  A row
 * that cannot be written counts in skr_audit_failures_total, is logged, and
 * returns -1: the caller must not grant what it could not audit.
 */
int skr_broker_audit(struct skr_broker *b, const char *key_id, const char *client,
		     const char *action, const struct skr_err *err, const uint8_t *digest);
/* An audit row that could not be written: counted (skr_audit_failures_total) and logged. */
void skr_broker_audit_failure(struct skr_broker *b, const char *client, const char *action,
			      const char *verdict, const struct skr_err *failed);

/* A key's policy and the ids and values of its sets that match releases. */
struct skr_key_state {
	struct skr_policy policy;
	struct skr_pcr_banks *sets;
	int64_t *ids;
	size_t n_sets;
};

void skr_key_state_free(struct skr_key_state *k);

/*
 * An attested request (release, reseal): {"key_id", "nonce", "evidence"}
 * verified in DESIGN.md's order; with pcrs_now PCR 15 must be quoted and in
 * its initial state (the boot gate, gate.h) and the quoted PCRs must match a
 * set before the wrap key is checked (a release), without it the caller
 * decides about the PCRs (skr_attested_match_pcrs).  Free it in any case.
 */
struct skr_attested {
	struct skr_broker *b;
	const char *key_id;
	struct skr_buf nonce;
	struct skr_key_state key;
	struct skr_evidence ev;
	struct skr_evidence_result res;
	X509 *cached_vcek;
	EVP_PKEY *wrap_pub;
	time_t nonce_expires;	/* set once the nonce's MAC and expiry checked */
	bool nonce_unrecorded;	/* release: the store records it with the audit row */
};

int skr_attested_verify(struct skr_broker *b, json_object *req, bool pcrs_now,
			struct skr_attested *a, struct skr_err *err);
/* values (NULL: the quoted PCRs) match one of the key's sets: its index in a->key. */
int skr_attested_match_pcrs(const struct skr_attested *a, const struct skr_pcr_banks *values,
			    size_t *matched, struct skr_err *err);
/*
 * The verified quote covers PCR 15 (the boot gate) in the policy's bank, so
 * a->ev.pcrs holds its signed value; else reason (pcr_not_quoted for a
 * release, boot_gate_unexpected for reseal).
 */
int skr_attested_gate_quoted(const struct skr_attested *a, enum skr_reason reason,
			     struct skr_err *err);
void skr_attested_free(struct skr_attested *a);

/* POST /v1/refvals[/check|/commit|/withdraw]: reseal (refvals.c). */
void skr_broker_refvals(struct skr_broker *b, const char *op, json_object *req,
			const char *client, const uint8_t body_sha256[32],
			struct skr_response *resp);

/* POST /v1/challenge {"key_id"} -> {"nonce", "expires"} */
void skr_broker_challenge(struct skr_broker *b, json_object *req, const char *client,
			  struct skr_response *resp);
/* POST /v1/release -> {"wrapped": {...}} or 403 {"error","reason","detail"} */
void skr_broker_release(struct skr_broker *b, json_object *req, const char *client,
			const uint8_t body_sha256[32], struct skr_response *resp);

/* Admin API; the bearer token is checked by the caller with skr_broker_admin_auth. */
bool skr_broker_admin_auth(const struct skr_broker *b, const char *authorization);
void skr_broker_admin(struct skr_broker *b, const char *method, const char *path,
		      json_object *req, const char *client, struct skr_response *resp);

#endif
