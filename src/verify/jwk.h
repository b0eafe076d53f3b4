/* SPDX-License-Identifier: Apache-2.0 */
/* JSON Web Keys (RFC 7517) to OpenSSL keys; RSA only, as Azure's HCLAkPub. */
#ifndef SKR_JWK_H
#define SKR_JWK_H

#include <json-c/json.h>
#include <openssl/evp.h>

#include "common/err.h"

/* Builds an RSA public key from a JWK object {"kty":"RSA","n":b64url,"e":b64url}. */
int skr_jwk_to_pkey(json_object *jwk, EVP_PKEY **out, struct skr_err *err);

#endif
