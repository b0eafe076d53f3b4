/* SPDX-License-Identifier: Apache-2.0 */
#include "verify/wrap.h"

#include <string.h>

#include <errno.h>
#include <pthread.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "common/secret.h"
#include "common/util.h"

#define INFO_PREFIX "skr/v1"
#define KEY_ID_MAX 256

static int point_to_pkey(const uint8_t epk[SKR_WRAP_EPK_SIZE], EVP_PKEY **out,
			 struct skr_err *err)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0),
		OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)epk, SKR_WRAP_EPK_SIZE),
		OSSL_PARAM_END
	};
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	int ok;

	*out = NULL;
	ok = ctx && epk[0] == 0x04 && EVP_PKEY_fromdata_init(ctx) == 1 &&
	     EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) == 1;
	EVP_PKEY_CTX_free(ctx);
	if (!ok)
		return skr_fail(err, SKR_R_malformed, "the ephemeral key is not a P-256 point");
	return 0;
}

int skr_wrap_point_key(const uint8_t epk[SKR_WRAP_EPK_SIZE], EVP_PKEY **out, struct skr_err *err)
{
	return point_to_pkey(epk, out, err);
}

bool skr_wrap_epk_valid(const uint8_t epk[SKR_WRAP_EPK_SIZE])
{
	struct skr_err ignored = { 0 };
	EVP_PKEY *k = NULL;

	if (point_to_pkey(epk, &k, &ignored) < 0)
		return false;
	EVP_PKEY_free(k);
	return true;
}

static int derive_z(EVP_PKEY *priv, EVP_PKEY *peer, uint8_t z[SKR_WRAP_COORD],
		    struct skr_err *err)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(priv, NULL);
	size_t len = SKR_WRAP_COORD;
	int ok;

	/* EVP_PKEY_derive_set_peer validates that the peer point is on the curve. */
	ok = ctx && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, peer) == 1 &&
	     EVP_PKEY_derive(ctx, z, &len) == 1 && len == SKR_WRAP_COORD;
	EVP_PKEY_CTX_free(ctx);
	if (!ok)
		return skr_fail(err, SKR_R_malformed, "ECDH with the wrap key failed");
	return 0;
}

int skr_ecdh_z(EVP_PKEY *priv, const uint8_t epk[SKR_WRAP_EPK_SIZE],
	       uint8_t z[SKR_WRAP_COORD], struct skr_err *err)
{
	EVP_PKEY *peer = NULL;
	int rc;

	if (point_to_pkey(epk, &peer, err) < 0)
		return -1;
	rc = derive_z(priv, peer, z, err);
	EVP_PKEY_free(peer);
	return rc;
}

static int derive_kek(const uint8_t z[SKR_WRAP_COORD], const uint8_t *nonce, size_t nonce_len,
		      const char *key_id, uint8_t kek[32], struct skr_err *err)
{
	uint8_t info[sizeof(INFO_PREFIX) - 1 + KEY_ID_MAX];
	size_t id_len = strlen(key_id), info_len = sizeof(INFO_PREFIX) - 1 + id_len;
	EVP_KDF *kdf;
	EVP_KDF_CTX *ctx = NULL;
	OSSL_PARAM params[5];
	int ok;

	if (id_len == 0 || id_len > KEY_ID_MAX)
		return skr_fail(err, SKR_R_malformed, "key id length %zu is out of range", id_len);
	memcpy(info, INFO_PREFIX, sizeof(INFO_PREFIX) - 1);
	memcpy(info + sizeof(INFO_PREFIX) - 1, key_id, id_len);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)z, SKR_WRAP_COORD);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)nonce, nonce_len);
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, info_len);
	params[4] = OSSL_PARAM_construct_end();
	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	ok = ctx && EVP_KDF_derive(ctx, kek, 32, params) == 1;
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	if (!ok)
		return skr_fail(err, SKR_R_nomem, "HKDF failed");
	return 0;
}

/* AAD = key_id || nonce binds the ciphertext to this key and this exchange. */
static int gcm_aad(EVP_CIPHER_CTX *ctx, const char *key_id, const uint8_t *nonce,
		   size_t nonce_len, bool enc)
{
	int n;

	if (enc)
		return EVP_EncryptUpdate(ctx, NULL, &n, (const uint8_t *)key_id, (int)strlen(key_id)) == 1 &&
		       EVP_EncryptUpdate(ctx, NULL, &n, nonce, (int)nonce_len) == 1;
	return EVP_DecryptUpdate(ctx, NULL, &n, (const uint8_t *)key_id, (int)strlen(key_id)) == 1 &&
	       EVP_DecryptUpdate(ctx, NULL, &n, nonce, (int)nonce_len) == 1;
}

static int seal(const uint8_t kek[32], const uint8_t *nonce, size_t nonce_len,
		const char *key_id, const uint8_t *secret, size_t secret_len,
		struct skr_wrapped *out, struct skr_err *err)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, fin = 0, ok;

	ok = ctx && RAND_bytes(out->iv, sizeof(out->iv)) == 1 &&
	     EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, kek, out->iv) == 1 &&
	     gcm_aad(ctx, key_id, nonce, nonce_len, true) &&
	     EVP_EncryptUpdate(ctx, out->ciphertext, &n, secret, (int)secret_len) == 1 &&
	     EVP_EncryptFinal_ex(ctx, out->ciphertext + n, &fin) == 1 &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SKR_WRAP_TAG_SIZE, out->tag) == 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
		return skr_fail(err, SKR_R_nomem, "AES-256-GCM sealing failed");
	out->ciphertext_len = (size_t)(n + fin);
	return 0;
}

static int export_point(EVP_PKEY *eph, uint8_t epk[SKR_WRAP_EPK_SIZE], struct skr_err *err)
{
	size_t len = 0;

	if (EVP_PKEY_get_octet_string_param(eph, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, epk,
					    SKR_WRAP_EPK_SIZE, &len) != 1 ||
	    len != SKR_WRAP_EPK_SIZE || epk[0] != 0x04)
		return skr_fail(err, SKR_R_nomem, "cannot encode the ephemeral key");
	return 0;
}

int skr_wrap(EVP_PKEY *to, const uint8_t *nonce, size_t nonce_len, const char *key_id,
	     const uint8_t *secret, size_t secret_len, struct skr_wrapped *out,
	     struct skr_err *err)
{
	uint8_t z[SKR_WRAP_COORD], kek[32];
	EVP_PKEY *eph = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (secret_len == 0 || secret_len > SKR_WRAP_MAX_SECRET)
		return skr_fail(err, SKR_R_usage, "secret length %zu is out of range", secret_len);
	eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!eph) {
		skr_fail(err, SKR_R_nomem, "cannot generate the ephemeral key");
		goto out;
	}
	if (export_point(eph, out->epk, err) < 0 || derive_z(eph, to, z, err) < 0 ||
	    derive_kek(z, nonce, nonce_len, key_id, kek, err) < 0 ||
	    seal(kek, nonce, nonce_len, key_id, secret, secret_len, out, err) < 0)
		goto out;
	rc = 0;
out:
	OPENSSL_cleanse(z, sizeof(z));
	OPENSSL_cleanse(kek, sizeof(kek));
	EVP_PKEY_free(eph);
	return rc;
}

int skr_unwrap_with_z(const uint8_t z[SKR_WRAP_COORD], const struct skr_wrapped *w,
		      const uint8_t *nonce, size_t nonce_len, const char *key_id,
		      uint8_t *secret_out, size_t *secret_len, struct skr_err *err)
{
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t kek[32];
	int n = 0, fin = 0, ok;

	*secret_len = 0;
	if (w->ciphertext_len == 0 || w->ciphertext_len > SKR_WRAP_MAX_SECRET)
		return skr_fail(err, SKR_R_malformed, "wrapped secret length %zu is out of range",
				w->ciphertext_len);
	if (derive_kek(z, nonce, nonce_len, key_id, kek, err) < 0)
		return -1;
	ctx = EVP_CIPHER_CTX_new();
	ok = ctx && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, kek, w->iv) == 1 &&
	     gcm_aad(ctx, key_id, nonce, nonce_len, false) &&
	     EVP_DecryptUpdate(ctx, secret_out, &n, w->ciphertext, (int)w->ciphertext_len) == 1 &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SKR_WRAP_TAG_SIZE, (void *)w->tag) == 1 &&
	     EVP_DecryptFinal_ex(ctx, secret_out + n, &fin) == 1;
	EVP_CIPHER_CTX_free(ctx);
	OPENSSL_cleanse(kek, sizeof(kek));
	if (!ok) {
		OPENSSL_cleanse(secret_out, SKR_WRAP_MAX_SECRET);
		return skr_fail(err, SKR_R_malformed,
				"the wrapped secret does not open (wrong key, nonce or key id, or tampered)");
	}
	*secret_len = (size_t)(n + fin);
	return 0;
}

/*
 * OpenSSL keeps an EC private scalar in its secure heap (BN_secure_new, and
 * BN_CTX_secure for ECDH's temporaries) once the heap exists: mlock'd pages
 * with guard pages, cleared on free.  Without it the scalar would sit on the
 * ordinary heap.  32 KiB holds a few keys; a heap that cannot be locked is
 * reported as skr_secret reports it, never silently.
 */
static void secure_heap_init(void)
{
	if (CRYPTO_secure_malloc_initialized())
		return;
	if (CRYPTO_secure_malloc_init(32768, 16) != 1)
		skr_secret_report_lock_failure(errno ? errno : ENOMEM);
}

int skr_wrap_soft_key_new(EVP_PKEY **key, uint8_t epk[SKR_WRAP_EPK_SIZE], struct skr_err *err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, secure_heap_init);
	*key = EVP_EC_gen("P-256");
	if (!*key)
		return skr_fail(err, SKR_R_nomem, "cannot make an ephemeral P-256 wrap key");
	if (export_point(*key, epk, err) < 0) {
		EVP_PKEY_free(*key);
		*key = NULL;
		return -1;
	}
	return 0;
}

int skr_unwrap_with_key(EVP_PKEY *priv, const struct skr_wrapped *w, const uint8_t *nonce,
			size_t nonce_len, const char *key_id, uint8_t *secret_out,
			size_t *secret_len, struct skr_err *err)
{
	uint8_t *z = skr_secret_alloc(SKR_WRAP_COORD);
	int rc;

	if (!z)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	rc = skr_ecdh_z(priv, w->epk, z, err) < 0
		     ? -1
		     : skr_unwrap_with_z(z, w, nonce, nonce_len, key_id, secret_out, secret_len, err);
	skr_secret_free(z);
	return rc;
}
