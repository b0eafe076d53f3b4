/* SPDX-License-Identifier: Apache-2.0 */
#include "verify/nonce.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "common/util.h"

#define RANDOM_LEN 12
#define EXPIRY_OFF RANDOM_LEN
#define MAC_OFF (RANDOM_LEN + 4)
#define MAC_LEN 16
#define LABEL "skr/nonce/v1"

struct skr_nonce_entry {
	uint8_t nonce[SKR_NONCE_SIZE];
	time_t expires;
};

static int nonce_mac(const uint8_t secret[SKR_NONCE_SECRET_SIZE], const uint8_t *head,
		     const char *key_id, uint8_t mac[32])
{
	size_t id_len = strlen(key_id);
	uint8_t *msg = malloc(sizeof(LABEL) - 1 + MAC_OFF + id_len);
	unsigned int len = 0;
	bool ok;

	if (!msg)
		return -1;
	memcpy(msg, LABEL, sizeof(LABEL) - 1);
	memcpy(msg + sizeof(LABEL) - 1, head, MAC_OFF);
	memcpy(msg + sizeof(LABEL) - 1 + MAC_OFF, key_id, id_len);
	ok = HMAC(EVP_sha256(), secret, SKR_NONCE_SECRET_SIZE, msg,
		  sizeof(LABEL) - 1 + MAC_OFF + id_len, mac, &len) != NULL;
	free(msg);
	return ok ? 0 : -1;
}

int skr_nonce_issue(const uint8_t secret[SKR_NONCE_SECRET_SIZE], const char *key_id,
		    time_t now, unsigned ttl_seconds, uint8_t out[SKR_NONCE_SIZE],
		    time_t *expires, struct skr_err *err)
{
	uint64_t exp = (uint64_t)now + ttl_seconds;
	uint8_t mac[32];

	if (exp > UINT32_MAX)
		return skr_fail(err, SKR_R_usage, "nonce expiry does not fit 32 bits");
	if (RAND_bytes(out, RANDOM_LEN) != 1)
		return skr_fail(err, SKR_R_nomem, "no randomness for the nonce");
	out[EXPIRY_OFF] = (uint8_t)(exp >> 24);
	out[EXPIRY_OFF + 1] = (uint8_t)(exp >> 16);
	out[EXPIRY_OFF + 2] = (uint8_t)(exp >> 8);
	out[EXPIRY_OFF + 3] = (uint8_t)exp;
	if (nonce_mac(secret, out, key_id, mac) < 0)
		return skr_fail(err, SKR_R_nomem, "cannot compute the nonce MAC");
	memcpy(out + MAC_OFF, mac, MAC_LEN);
	*expires = (time_t)exp;
	return 0;
}

int skr_nonce_check(const uint8_t secret[SKR_NONCE_SECRET_SIZE], const char *key_id,
		    const uint8_t *nonce, size_t len, time_t now, time_t *expires,
		    struct skr_err *err)
{
	uint8_t mac[32];
	uint32_t exp;

	if (len != SKR_NONCE_SIZE)
		return skr_fail(err, SKR_R_nonce_invalid, "nonce is %zu bytes, expected %d", len,
				SKR_NONCE_SIZE);
	if (nonce_mac(secret, nonce, key_id, mac) < 0)
		return skr_fail(err, SKR_R_nomem, "cannot compute the nonce MAC");
	/* A nonce issued for another key, or by another broker, fails here. */
	if (!skr_ct_equal(mac, nonce + MAC_OFF, MAC_LEN))
		return skr_fail(err, SKR_R_nonce_invalid, "nonce was not issued for this key");
	exp = (uint32_t)nonce[EXPIRY_OFF] << 24 | (uint32_t)nonce[EXPIRY_OFF + 1] << 16 |
	      (uint32_t)nonce[EXPIRY_OFF + 2] << 8 | nonce[EXPIRY_OFF + 3];
	if ((time_t)exp < now)
		return skr_fail(err, SKR_R_nonce_expired, "nonce expired %lld s ago",
				(long long)(now - (time_t)exp));
	*expires = (time_t)exp;
	return 0;
}

void skr_nonce_seen_init(struct skr_nonce_seen *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
}

void skr_nonce_seen_free(struct skr_nonce_seen *s)
{
	size_t i;

	for (i = 0; i < SKR_NONCE_BUCKETS; i++)
		free(s->bucket[i].entries);
	pthread_mutex_destroy(&s->lock);
}

/* The random prefix of a nonce spreads nonces evenly over the buckets. */
static struct skr_nonce_bucket *bucket_of(struct skr_nonce_seen *s, const uint8_t *nonce)
{
	return &s->bucket[(nonce[0] | nonce[1] << 8) % SKR_NONCE_BUCKETS];
}

/* Drops a bucket's expired entries; called with the lock held. */
static void prune(struct skr_nonce_seen *s, struct skr_nonce_bucket *b, time_t now)
{
	size_t i = 0;

	while (i < b->count) {
		if (b->entries[i].expires < now) {
			b->entries[i] = b->entries[--b->count];
			s->count--;
		} else {
			i++;
		}
	}
}

int skr_nonce_seen_use(struct skr_nonce_seen *s, const uint8_t nonce[SKR_NONCE_SIZE],
		       time_t expires, time_t now, struct skr_err *err)
{
	struct skr_nonce_bucket *b;
	int rc = 0;
	size_t i;

	pthread_mutex_lock(&s->lock);
	if (++s->since_sweep >= SKR_NONCE_BUCKETS) {
		for (i = 0; i < SKR_NONCE_BUCKETS; i++)
			prune(s, &s->bucket[i], now);
		s->since_sweep = 0;
	}
	b = bucket_of(s, nonce);
	if (b->count == b->cap)
		prune(s, b, now);
	for (i = 0; i < b->count; i++)
		if (memcmp(b->entries[i].nonce, nonce, SKR_NONCE_SIZE) == 0) {
			rc = skr_fail(err, SKR_R_nonce_replayed, "nonce was already used");
			goto out;
		}
	if (b->count == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 4;
		struct skr_nonce_entry *grown = realloc(b->entries, cap * sizeof(*grown));

		if (!grown) {
			rc = skr_fail(err, SKR_R_nomem, "out of memory");
			goto out;
		}
		b->entries = grown;
		b->cap = cap;
	}
	memcpy(b->entries[b->count].nonce, nonce, SKR_NONCE_SIZE);
	b->entries[b->count++].expires = expires;
	s->count++;
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}
