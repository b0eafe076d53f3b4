/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signed checkpoints of the audit chain (common/audit_chain.h): the broker
 * reads the chain's head, signs (seq, head hash, time) with its audit
 * signing key, a P-256 key in a file apart from the database, and stores the
 * checkpoint.  skr-broker's main loop calls it every
 * audit_checkpoint_interval seconds and once at shutdown.
 */
#include "broker/broker.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/pem.h>

#include "common/audit_chain.h"
#include "common/secret.h"
#include "common/util.h"

#define SIGNING_KEY_MAX 16384

int skr_audit_signing_key_load(const char *path, EVP_PKEY **out, struct skr_err *err)
{
	_cleanup_secret_ uint8_t *pem = NULL;
	char group[64] = "";
	BIO *bio;

	*out = NULL;
	if (skr_secret_read_file(path, SIGNING_KEY_MAX, "audit signing key", &pem, err) < 0)
		return -1;
	bio = BIO_new_mem_buf(pem, (int)skr_secret_size(pem));
	if (bio)
		*out = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!*out)
		return skr_fail(err, SKR_R_usage, "audit signing key %s is not a PEM private key",
				path);
	if (!EVP_PKEY_is_a(*out, "EC") ||
	    !EVP_PKEY_get_group_name(*out, group, sizeof(group), NULL) ||
	    strcmp(group, "prime256v1")) {
		EVP_PKEY_free(*out);
		*out = NULL;
		return skr_fail(err, SKR_R_usage, "audit signing key %s is not a P-256 (prime256v1) "
				"EC key", path);
	}
	return 0;
}

static int sign(EVP_PKEY *key, const uint8_t *msg, size_t len, uint8_t *sig, size_t *sig_len,
		struct skr_err *err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
		 EVP_DigestSign(ctx, sig, sig_len, msg, len) == 1;

	EVP_MD_CTX_free(ctx);
	return ok ? 0 : skr_fail(err, SKR_R_nomem, "cannot sign the audit checkpoint");
}

int skr_broker_checkpoint(struct skr_broker *b, bool always, struct skr_err *err)
{
	uint8_t head[SKR_AUDIT_HASH_SIZE], msg[SKR_AUDIT_CHECKPOINT_MSG_SIZE];
	uint8_t sig[SKR_STORE_MAX_SIGNATURE];
	size_t sig_len = sizeof(sig);
	int64_t now = skr_steady_time();
	uint64_t seq;

	if (!b->audit_key)
		return 0;
	if (skr_store_audit_head(b->store, &seq, head, err) < 0)
		return -1;
	/* Nothing to anchor yet; or nothing new since this broker's last one. */
	if (seq == 0 || (!always && b->checkpointed && seq == b->checkpoint_seq))
		return 0;
	skr_audit_checkpoint_msg(seq, head, now, msg);
	if (sign(b->audit_key, msg, sizeof(msg), sig, &sig_len, err) < 0 ||
	    skr_store_audit_checkpoint_add(b->store, seq, head, now, sig, sig_len, err) < 0)
		return -1;
	b->checkpointed = true;
	b->checkpoint_seq = seq;
	return 1;
}
