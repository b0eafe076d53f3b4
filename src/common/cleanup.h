/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Freeing on scope exit, one way everywhere (as systemd's
 * DEFINE_TRIVIAL_CLEANUP_FUNC): SKR_DEFINE_FREEP(type, func) makes
 * `func##p(type **)`, which calls func on a non-NULL pointer, for
 * `_cleanup_(func##p) type *x = NULL;`.  The OpenSSL and json-c types every
 * part of skr uses are defined here; a folder defines its own (ESAPI,
 * SQLite: src/broker/store_sqlite.h) in its private header.
 */
#ifndef SKR_CLEANUP_H
#define SKR_CLEANUP_H

#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

#define SKR_DEFINE_FREEP(type, func)                 \
	static inline void func##p(type **p)         \
	{                                            \
		if (*p)                              \
			func(*p);                    \
	}

SKR_DEFINE_FREEP(BIGNUM, BN_free)
SKR_DEFINE_FREEP(BIO, BIO_free)
SKR_DEFINE_FREEP(EVP_CIPHER_CTX, EVP_CIPHER_CTX_free)
SKR_DEFINE_FREEP(ECDSA_SIG, ECDSA_SIG_free)
SKR_DEFINE_FREEP(EVP_MD, EVP_MD_free)
SKR_DEFINE_FREEP(EVP_MD_CTX, EVP_MD_CTX_free)
SKR_DEFINE_FREEP(EVP_PKEY, EVP_PKEY_free)
SKR_DEFINE_FREEP(EVP_PKEY_CTX, EVP_PKEY_CTX_free)
SKR_DEFINE_FREEP(OSSL_PARAM, OSSL_PARAM_free)
SKR_DEFINE_FREEP(OSSL_PARAM_BLD, OSSL_PARAM_BLD_free)
SKR_DEFINE_FREEP(X509, X509_free)
SKR_DEFINE_FREEP(json_object, json_object_put)

#endif
