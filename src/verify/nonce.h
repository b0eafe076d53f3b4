/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Stateless release nonces: 32 bytes = random(12) || expiry(u32 BE, Unix
 * seconds) || HMAC-SHA256(secret, "skr/nonce/v1" || random || expiry ||
 * key_id)[0:16].  Any broker replica holding the secret can check a nonce
 * without a shared table; replays are refused by a per-process set of used
 * nonces kept until they expire (struct skr_nonce_seen).
 */
#ifndef SKR_NONCE_H
#define SKR_NONCE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/err.h"

#define SKR_NONCE_SIZE 32
#define SKR_NONCE_SECRET_SIZE 32

int skr_nonce_issue(const uint8_t secret[SKR_NONCE_SECRET_SIZE], const char *key_id,
		    time_t now, unsigned ttl_seconds, uint8_t out[SKR_NONCE_SIZE],
		    time_t *expires, struct skr_err *err);

/* Checks the MAC (constant time), then the expiry.  Reasons: nonce_invalid, nonce_expired. */
int skr_nonce_check(const uint8_t secret[SKR_NONCE_SECRET_SIZE], const char *key_id,
		    const uint8_t *nonce, size_t len, time_t now, time_t *expires,
		    struct skr_err *err);

/*
 * Nonces already used, remembered until they expire; thread-safe.  A hash of
 * buckets keeps a lookup constant-time however many nonces are alive (rate
 * times TTL); a bucket drops its expired entries when it grows, and every
 * SKR_NONCE_BUCKETS insertions all buckets do (amortised O(1) per nonce).
 */
#define SKR_NONCE_BUCKETS 4096

struct skr_nonce_bucket {
	struct skr_nonce_entry *entries;
	size_t count, cap;
};

struct skr_nonce_seen {
	pthread_mutex_t lock;
	struct skr_nonce_bucket bucket[SKR_NONCE_BUCKETS];
	size_t count;
	size_t since_sweep;	/* insertions since every bucket was pruned */
};

void skr_nonce_seen_init(struct skr_nonce_seen *s);
void skr_nonce_seen_free(struct skr_nonce_seen *s);
/* Records a nonce; fails with nonce_replayed if it was recorded before. */
int skr_nonce_seen_use(struct skr_nonce_seen *s, const uint8_t nonce[SKR_NONCE_SIZE],
		       time_t expires, time_t now, struct skr_err *err);

#endif
