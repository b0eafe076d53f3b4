/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Crypto at rest, the same for every backend: the master key file, its check
 * value (what a backend keeps to refuse another master key at open), and
 * the sealing of a key's secret (AES-256-GCM under the master key, a fresh
 * IV each time, the key id as AAD, so a row moved to another key id does not
 * open).
 */
#include "broker/store_int.h"
#include "common/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/util.h"

/* What the master key check value authenticates (HMAC-SHA256 under the master key). */
static const char master_check_label[] = "skr-store master key check v1";

/* ---- Master key --------------------------------------------------------- */

static bool all_hex(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f') ||
		      (p[i] >= 'A' && p[i] <= 'F')))
			return false;
	return true;
}

static int hex_value(uint8_t c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

static int parse_master_key(const char *path, const uint8_t *buf, size_t len,
			    uint8_t key[SKR_STORE_MASTER_KEY_SIZE], struct skr_err *err)
{
	size_t i, text_len = len;

	if (len == SKR_STORE_MASTER_KEY_SIZE) {
		memcpy(key, buf, SKR_STORE_MASTER_KEY_SIZE);
	} else {
		if (text_len && buf[text_len - 1] == '\n')
			text_len--;
		if (text_len != 2 * SKR_STORE_MASTER_KEY_SIZE)
			return skr_fail(err, SKR_R_usage,
					"master key file %s holds %zu bytes; expected %d raw bytes "
					"or %d hex characters", path, len,
					SKR_STORE_MASTER_KEY_SIZE, 2 * SKR_STORE_MASTER_KEY_SIZE);
		if (!all_hex(buf, text_len))
			return skr_fail(err, SKR_R_usage,
					"master key file %s is %d characters but not hex", path,
					2 * SKR_STORE_MASTER_KEY_SIZE);
		for (i = 0; i < SKR_STORE_MASTER_KEY_SIZE; i++)
			key[i] = (uint8_t)(hex_value(buf[2 * i]) << 4 | hex_value(buf[2 * i + 1]));
	}
	if (skr_is_zero(key, SKR_STORE_MASTER_KEY_SIZE))
		return skr_fail(err, SKR_R_usage, "master key file %s holds an all-zero key", path);
	return 0;
}

/* Through secret.h's reader and rule, like the admin token and the nonce secret. */
int store_master_key_read(const char *path, uint8_t key[SKR_STORE_MASTER_KEY_SIZE],
			  struct skr_err *err)
{
	_cleanup_secret_ uint8_t *buf = NULL;

	if (skr_secret_read_file(path, 2 * SKR_STORE_MASTER_KEY_SIZE + 1, "master key", &buf,
				 err) < 0)
		return -1;
	return parse_master_key(path, buf, skr_secret_size(buf), key, err);
}

int store_master_key_check(const uint8_t *master, uint8_t out[STORE_CHECK_SIZE],
			   struct skr_err *err)
{
	size_t len = 0;

	if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, master, SKR_STORE_MASTER_KEY_SIZE,
		       (const uint8_t *)master_check_label, sizeof(master_check_label) - 1, out,
		       STORE_CHECK_SIZE, &len) || len != STORE_CHECK_SIZE)
		return skr_fail(err, SKR_R_nomem, "cannot compute the master key check value");
	return 0;
}

/* ---- Secret encryption -------------------------------------------------- */

int store_seal(const uint8_t *master, const char *key_id, const uint8_t *secret, size_t len,
	       struct store_sealed *out, struct skr_err *err)
{
	_cleanup_(EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, fin = 0;

	if (len == 0 || len > SKR_STORE_MAX_SECRET)
		return skr_fail(err, SKR_R_malformed, "the secret is %zu bytes; 1 to %d allowed",
				len, SKR_STORE_MAX_SECRET);
	if (!ctx || RAND_bytes(out->iv, STORE_IV_SIZE) != 1 ||
	    EVP_EncryptInit_ex2(ctx, EVP_aes_256_gcm(), master, out->iv, NULL) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &n, (const uint8_t *)key_id, (int)strlen(key_id)) != 1 ||
	    EVP_EncryptUpdate(ctx, out->ct, &n, secret, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(ctx, out->ct + n, &fin) != 1 || (size_t)(n + fin) != len ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, STORE_TAG_SIZE, out->tag) != 1)
		return skr_fail(err, SKR_R_nomem, "cannot encrypt the secret");
	out->len = len;
	return 0;
}

/* Decrypts into a locked temporary; out is written only once the tag verified. */
int store_unseal(const uint8_t *master, const char *key_id, const struct store_sealed *in,
		 uint8_t *out, struct skr_err *err)
{
	_cleanup_(EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8_t *tmp = skr_secret_alloc(SKR_STORE_MAX_SECRET);
	int n = 0, fin = 0, ok, rc = -1;

	if (!ctx || !tmp) {
		skr_fail(err, SKR_R_nomem, "out of memory decrypting the secret");
		goto out;
	}
	ok = in->len > 0 && in->len <= SKR_STORE_MAX_SECRET &&
	     EVP_DecryptInit_ex2(ctx, EVP_aes_256_gcm(), master, in->iv, NULL) == 1 &&
	     EVP_DecryptUpdate(ctx, NULL, &n, (const uint8_t *)key_id, (int)strlen(key_id)) == 1 &&
	     EVP_DecryptUpdate(ctx, tmp, &n, in->ct, (int)in->len) == 1 &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, STORE_TAG_SIZE, (void *)in->tag) == 1 &&
	     EVP_DecryptFinal_ex(ctx, tmp + n, &fin) == 1 && (size_t)(n + fin) == in->len;
	if (!ok) {
		skr_fail(err, SKR_R_store_decrypt_failed,
			 "the secret of key %s does not decrypt under the master key: another "
			 "master key, or the row was altered or copied from another key", key_id);
		goto out;
	}
	memcpy(out, tmp, in->len);
	rc = 0;
out:
	skr_secret_free(tmp);
	return rc;
}
