/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The broker's request logic, independent of HTTP: challenge, release and the
 * admin operations take a parsed JSON body and produce a status and a JSON
 * body.  Every decision is audited.  http.c maps them onto libmicrohttpd.
 */
#ifndef SKR_BROKER_H
#define SKR_BROKER_H

#include <stdint.h>

#include <json-c/json.h>

#include "amd_chain.h"
#include "err.h"
#include "metrics.h"
#include "nonce.h"
#include "policy.h"
#include "store.h"

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
	uint8_t nonce_secret[SKR_NONCE_SECRET_SIZE];
	struct skr_nonce_seen seen;
	unsigned nonce_ttl;		/* seconds */
	const char *vcek_cache_dir;	/* DER files named CHIPID-REPORTEDTCB.der; may be NULL */
	uint8_t admin_token_sha256[32];
	struct skr_metrics metrics;
	struct skr_chain_cache chain_cache;
	struct skr_key_cache key_cache;
};

/* A response: HTTP status and JSON body (owned). */
struct skr_response {
	unsigned status;
	json_object *body;
};

void skr_response_error(struct skr_response *r, unsigned status, const char *error,
			const struct skr_err *err);

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
