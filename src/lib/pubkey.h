/* SPDX-License-Identifier: Apache-2.0 */
/* Public keys from PEM or DER SubjectPublicKeyInfo (or an X.509 certificate). */
#ifndef SKR_PUBKEY_H
#define SKR_PUBKEY_H

#include <stddef.h>

#include <openssl/evp.h>

#include "err.h"

int skr_pubkey_parse(const void *data, size_t len, EVP_PKEY **out, const char *what,
		     struct skr_err *err);

#endif
