/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A throwaway broker for the fuzz targets of its request handlers: a real
 * store (SQLite in a fresh directory under /dev/shm, else $TMPDIR: the
 * store's WAL mode needs a file) holding one key "k", the built-in AMD roots,
 * a random nonce secret.  Made once per process and removed at exit.
 */
#ifndef SKR_FUZZ_BROKER_FIXTURE_H
#define SKR_FUZZ_BROKER_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "broker/broker.h"

#define FUZZ_KEY "k"
#define FUZZ_POLICY                                                                        \
	"{\"tee\": \"az-snp-vtpm\", \"allow_attested_reseal\": true, \"pcrs\": {\"bank\": "   \
	"\"sha256\", \"indexes\": [0, 7, 11]}}"

static struct skr_broker fuzz_b;
static char fuzz_dir[256];

static inline void fuzz_broker_cleanup(void)
{
	char path[300];

	skr_store_close(fuzz_b.store);
	fuzz_b.store = NULL;
	for (const char *const *f = (const char *const[]){ "broker.db", "broker.db-wal", "broker.db-shm",
							   "master.key", NULL };
	     *f; f++) {
		snprintf(path, sizeof(path), "%s/%s", fuzz_dir, *f);
		unlink(path);
	}
	rmdir(fuzz_dir);
}

static inline void fuzz_die(const char *what, const struct skr_err *err)
{
	fprintf(stderr, "fuzz fixture: %s: %s\n", what, err ? err->detail : "");
	abort();
}

static inline struct skr_broker *fuzz_broker(void)
{
	static const uint8_t secret[32] = "fuzz-disk-secret-0123456789abcde";
	struct skr_err err = { 0 };
	char db[300], mk[300];
	uint8_t key[32];
	const char *tmp = getenv("TMPDIR");
	FILE *f;

	if (fuzz_b.store)
		return &fuzz_b;
	snprintf(fuzz_dir, sizeof(fuzz_dir), "/dev/shm/skr-fuzz.XXXXXX");
	if (!mkdtemp(fuzz_dir)) {
		snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/skr-fuzz.XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(fuzz_dir))
			fuzz_die("mkdtemp", NULL);
	}
	snprintf(db, sizeof(db), "%s/broker.db", fuzz_dir);
	snprintf(mk, sizeof(mk), "%s/master.key", fuzz_dir);
	RAND_bytes(key, sizeof(key));
	f = fopen(mk, "wb");
	if (!f || fwrite(key, 1, sizeof(key), f) != sizeof(key) || fclose(f) != 0 || chmod(mk, 0600) < 0)
		fuzz_die("master key", NULL);
	if (skr_store_open(db, mk, &fuzz_b.store, &err) < 0)
		fuzz_die("store", &err);
	atexit(fuzz_broker_cleanup);
	if (skr_amd_trust_init(&fuzz_b.trust, true, &err) < 0)
		fuzz_die("trust", &err);
	fuzz_b.nonce_secret = skr_secret_alloc(SKR_NONCE_SECRET_SIZE);
	if (!fuzz_b.nonce_secret || RAND_bytes(fuzz_b.nonce_secret, SKR_NONCE_SECRET_SIZE) != 1)
		fuzz_die("nonce secret", NULL);
	skr_nonce_seen_init(&fuzz_b.seen);
	skr_chain_cache_init(&fuzz_b.chain_cache);
	skr_key_cache_init(&fuzz_b.key_cache);
	fuzz_b.nonce_ttl = 86400;	/* a prepared request stays valid for a long run */
	if (skr_store_key_create(fuzz_b.store, FUZZ_KEY, secret, sizeof(secret), FUZZ_POLICY, NULL,
				 &err) < 0)
		fuzz_die("key", &err);
	return &fuzz_b;
}

/* A fresh, valid nonce for key_id (base64, caller frees), or NULL. */
static inline char *fuzz_nonce(const char *key_id)
{
	uint8_t nonce[SKR_NONCE_SIZE];
	struct skr_err err = { 0 };
	time_t expires;

	if (skr_nonce_issue(fuzz_b.nonce_secret, key_id, time(NULL), fuzz_b.nonce_ttl, nonce, &expires,
			    &err) < 0)
		return NULL;
	return skr_base64_encode(nonce, sizeof(nonce));
}

/* The nonces used so far are forgotten: a prepared request can be replayed. */
static inline void fuzz_forget_nonces(void)
{
	skr_nonce_seen_free(&fuzz_b.seen);
	skr_nonce_seen_init(&fuzz_b.seen);
}

/* Parses the body as http.c does: one JSON object, bounded depth. */
static inline json_object *fuzz_json_object(const uint8_t *data, size_t size)
{
	json_tokener *tok = json_tokener_new_ex(32);
	json_object *obj = tok ? json_tokener_parse_ex(tok, (const char *)data, (int)size) : NULL;

	if (obj && (json_tokener_get_error(tok) != json_tokener_success ||
		    json_tokener_get_parse_end(tok) != size || !json_object_is_type(obj, json_type_object))) {
		json_object_put(obj);
		obj = NULL;
	}
	json_tokener_free(tok);
	return obj;
}

/* Every handler answers with a status and a JSON body. */
static inline void fuzz_check_response(struct skr_response *r)
{
	if (!r->body || r->status < 200 || r->status > 599)
		__builtin_trap();
	json_object_put(r->body);
	r->body = NULL;
}

#endif
