/* SPDX-License-Identifier: Apache-2.0 */
#include "verify/jwk.h"

#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>

#include "common/util.h"

#define JWK_RSA_MIN_BITS 2048
#define JWK_RSA_MAX_BITS 8192

static int b64url_member(json_object *jwk, const char *key, struct skr_buf *out,
			 struct skr_err *err)
{
	json_object *v;
	const char *s;

	if (!json_object_object_get_ex(jwk, key, &v) || !json_object_is_type(v, json_type_string))
		return skr_fail(err, SKR_R_malformed, "JWK lacks the string member \"%s\"", key);
	s = json_object_get_string(v);
	return skr_base64_decode(s, strlen(s), out, key, err);
}

static int check_kty(json_object *jwk, struct skr_err *err)
{
	json_object *kty;

	if (!json_object_is_type(jwk, json_type_object) ||
	    !json_object_object_get_ex(jwk, "kty", &kty) ||
	    !json_object_is_type(kty, json_type_string) ||
	    strcmp(json_object_get_string(kty), "RSA") != 0)
		return skr_fail(err, SKR_R_malformed, "JWK is not an RSA key (kty must be \"RSA\")");
	return 0;
}

static int build_rsa(const BIGNUM *n, const BIGNUM *e, EVP_PKEY **out, struct skr_err *err)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	int rc = -1;

	*out = NULL;
	if (!bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
	    !(params = OSSL_PARAM_BLD_to_param(bld)) ||
	    !(ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
		skr_fail(err, SKR_R_malformed, "JWK does not make a valid RSA public key");
		goto out;
	}
	rc = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return rc;
}

int skr_jwk_to_pkey(json_object *jwk, EVP_PKEY **out, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf n_raw = { 0 }, e_raw = { 0 };
	BIGNUM *n = NULL, *e = NULL;
	int rc = -1, bits;

	if (check_kty(jwk, err) < 0 || b64url_member(jwk, "n", &n_raw, err) < 0 ||
	    b64url_member(jwk, "e", &e_raw, err) < 0)
		return -1;
	n = BN_bin2bn(n_raw.data, (int)n_raw.len, NULL);
	e = BN_bin2bn(e_raw.data, (int)e_raw.len, NULL);
	if (!n || !e) {
		skr_fail(err, SKR_R_nomem, "out of memory");
		goto out;
	}
	bits = BN_num_bits(n);
	if (bits < JWK_RSA_MIN_BITS || bits > JWK_RSA_MAX_BITS) {
		skr_fail(err, SKR_R_malformed, "JWK RSA modulus has %d bits (%d to %d allowed)", bits,
			 JWK_RSA_MIN_BITS, JWK_RSA_MAX_BITS);
		goto out;
	}
	if (!BN_is_odd(e) || BN_num_bits(e) > 64 || BN_is_one(e)) {
		skr_fail(err, SKR_R_malformed, "JWK RSA exponent is not a valid public exponent");
		goto out;
	}
	rc = build_rsa(n, e, out, err);
out:
	BN_free(n);
	BN_free(e);
	return rc;
}
