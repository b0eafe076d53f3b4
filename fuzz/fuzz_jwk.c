/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: JSON Web Keys (src/verify/jwk.h).  The broker reads the
 * HCL report's claims — a JWK of the vTPM's attestation key — from evidence
 * any client sends, before the claims are known to be genuine.
 */
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "verify/jwk.h"

#include <openssl/err.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_tokener *tok = json_tokener_new_ex(16);
	struct skr_err err = { 0 };
	EVP_PKEY *key = NULL;
	json_object *obj;

	if (!tok)
		return 0;
	obj = json_tokener_parse_ex(tok, (const char *)data, (int)size);
	json_tokener_free(tok);
	if (!obj)
		return 0;
	if (skr_jwk_to_pkey(obj, &key, &err) == 0 && (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA))
		__builtin_trap();
	EVP_PKEY_free(key);
	json_object_put(obj);
	/* OpenSSL's error queue grows with every failure: emptied, so that
	 * libFuzzer's leak check does not run (slowly) after every input. */
	ERR_clear_error();
	return 0;
}
