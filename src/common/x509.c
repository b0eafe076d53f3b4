/* SPDX-License-Identifier: Apache-2.0 */
#include "common/x509.h"

#include <stdint.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

static EVP_PKEY *from_pem(const void *data, size_t len)
{
	BIO *bio = BIO_new_mem_buf(data, (int)len);
	EVP_PKEY *key = NULL;
	X509 *cert;

	if (!bio)
		return NULL;
	key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	if (!key && BIO_reset(bio) == 1) {
		cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		key = cert ? X509_get_pubkey(cert) : NULL;
		X509_free(cert);
	}
	BIO_free(bio);
	return key;
}

static EVP_PKEY *from_der(const void *data, size_t len)
{
	const unsigned char *p = data;
	EVP_PKEY *key = d2i_PUBKEY(NULL, &p, (long)len);

	if (key && p != (const unsigned char *)data + len) {
		EVP_PKEY_free(key);
		key = NULL;
	}
	return key;
}

int skr_pubkey_parse(const void *data, size_t len, EVP_PKEY **out, const char *what,
		     struct skr_err *err)
{
	EVP_PKEY *key;

	if (len == 0 || len > INT32_MAX)
		return skr_fail(err, SKR_R_malformed, "%s is empty or too large", what);
	key = memmem(data, len, "-----BEGIN", 10) ? from_pem(data, len) : from_der(data, len);
	ERR_clear_error();
	if (!key)
		return skr_fail(err, SKR_R_malformed, "%s is not a PEM or DER public key", what);
	*out = key;
	return 0;
}

int skr_pubkey_spki_sha256(EVP_PKEY *key, uint8_t out[32], struct skr_err *err)
{
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(key, &der);
	int ok = len > 0 && EVP_Digest(der, (size_t)len, out, NULL, EVP_sha256(), NULL);

	OPENSSL_free(der);
	ERR_clear_error();
	return ok ? 0 : skr_fail(err, SKR_R_nomem, "cannot encode or hash the public key");
}

int skr_x509_parse(const void *data, size_t len, X509 **out, const char *what,
		   struct skr_err *err)
{
	const unsigned char *p = data;
	X509 *x = NULL;

	if (len > INT32_MAX)
		return skr_fail(err, SKR_R_malformed, "%s is too large", what);
	if (len > 10 && memmem(data, len, "-----BEGIN", 10)) {
		BIO *bio = BIO_new_mem_buf(data, (int)len);

		x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
		BIO_free(bio);
	} else {
		x = d2i_X509(NULL, &p, (long)len);
		if (x && p != (const unsigned char *)data + len) {
			X509_free(x);
			x = NULL;
		}
	}
	ERR_clear_error();
	if (!x)
		return skr_fail(err, SKR_R_malformed, "%s is not a DER or PEM X.509 certificate", what);
	*out = x;
	return 0;
}
