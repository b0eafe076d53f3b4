/* SPDX-License-Identifier: Apache-2.0 */
/* X.509 helpers: certificates and public keys from PEM or DER (SubjectPublicKeyInfo or a certificate). */
#ifndef SKR_X509_H
#define SKR_X509_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/err.h"

int skr_pubkey_parse(const void *data, size_t len, EVP_PKEY **out, const char *what,
		     struct skr_err *err);

/*
 * SHA-256 of the key's DER SubjectPublicKeyInfo: a short, stable identity an
 * operator can compute from a certificate with openssl alone
 * (x509 -pubkey | pkey -pubin -outform DER | sha256sum).
 */
int skr_pubkey_spki_sha256(EVP_PKEY *key, uint8_t out[32], struct skr_err *err);

/* Parses one certificate in DER or PEM. */
int skr_x509_parse(const void *data, size_t len, X509 **out, const char *what,
		   struct skr_err *err);

#endif
