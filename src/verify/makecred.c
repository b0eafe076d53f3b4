/* SPDX-License-Identifier: Apache-2.0 */
#include "verify/makecred.h"

#include <stdbool.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "common/secret.h"
#include "common/util.h"
#include "common/x509.h"
#include "verify/wrap_key.h"

#define SEED_SIZE 32		/* the EK nameAlg's digest size (SHA-256) */
#define SYM_KEY_SIZE 16		/* AES-128, the default EK template's symmetric */
#define HMAC_KEY_SIZE 32

/* The seed and what is derived from it, in one wiped skr_secret allocation. */
struct cred_keys {
	uint8_t seed[SEED_SIZE];
	uint8_t sym[SYM_KEY_SIZE];
	uint8_t hmac[HMAC_KEY_SIZE];
	uint8_t plain[2 + SKR_CREDENTIAL_MAX];	/* TPM2B_DIGEST(credential) */
};

static int hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *const *parts,
		       const size_t *lens, size_t n, uint8_t out[32], struct skr_err *err)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	size_t i, out_len = 0;
	int ok = ctx && EVP_MAC_init(ctx, key, key_len, params);

	for (i = 0; ok && i < n; i++)
		ok = EVP_MAC_update(ctx, parts[i], lens[i]);
	ok = ok && EVP_MAC_final(ctx, out, &out_len, 32) && out_len == 32;
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return ok ? 0 : skr_fail(err, SKR_R_nomem, "HMAC-SHA-256 failed");
}

int skr_kdfa_sha256(const uint8_t *key, size_t key_len, const char *label,
		    const uint8_t *context_u, size_t u_len, const uint8_t *context_v,
		    size_t v_len, uint32_t bits, uint8_t *out, struct skr_err *err)
{
	uint8_t counter[4], bits_be[4] = { bits >> 24, bits >> 16, bits >> 8, bits }, block[32];
	/* The label is used with its terminating NUL (Part 1 §11.4.10.2). */
	const uint8_t *parts[] = { counter, (const uint8_t *)label, context_u, context_v, bits_be };
	const size_t lens[] = { 4, strlen(label) + 1, u_len, v_len, 4 };
	size_t done = 0, want = bits / 8;
	uint32_t i;

	for (i = 1; done < want; i++) {
		size_t n = want - done < 32 ? want - done : 32;

		counter[0] = i >> 24, counter[1] = i >> 16, counter[2] = i >> 8, counter[3] = i;
		if (hmac_sha256(key, key_len, parts, lens, ARRAY_SIZE(parts), block, err) < 0)
			return -1;
		memcpy(out + done, block, n);
		done += n;
	}
	OPENSSL_cleanse(block, sizeof(block));
	return 0;
}

/* A random seed, RSA-OAEP(SHA-256) encrypted to the EK with the label "IDENTITY\0". */
static int rsa_encrypt_seed(EVP_PKEY *ek, uint8_t seed[SEED_SIZE], TPM2B_ENCRYPTED_SECRET *out,
			    struct skr_err *err)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, ek, NULL);
	unsigned char *label = OPENSSL_memdup("IDENTITY", sizeof("IDENTITY"));
	size_t len = sizeof(out->secret);
	int ok;

	if (RAND_bytes(seed, SEED_SIZE) != 1) {
		EVP_PKEY_CTX_free(ctx);
		OPENSSL_free(label);
		return skr_fail(err, SKR_R_nomem, "no random bytes for the credential seed");
	}
	ok = ctx && label && EVP_PKEY_encrypt_init(ctx) > 0 &&
	     EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) > 0 &&
	     EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) > 0 &&
	     EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) > 0 &&
	     EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, label, sizeof("IDENTITY")) > 0;

	if (ok)
		label = NULL;	/* owned by ctx now */
	ok = ok && EVP_PKEY_encrypt(ctx, out->secret, &len, seed, SEED_SIZE) > 0;
	OPENSSL_free(label);
	EVP_PKEY_CTX_free(ctx);
	if (!ok)
		return skr_fail(err, SKR_R_malformed, "cannot encrypt the credential seed to the EK");
	out->size = (UINT16)len;
	return 0;
}

int skr_kdfe_sha256(const uint8_t *z, size_t z_len, const char *label, const uint8_t *party_u,
		    size_t u_len, const uint8_t *party_v, size_t v_len, uint32_t bits, uint8_t *out,
		    struct skr_err *err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t counter[4], block[32];
	size_t done = 0, want = bits / 8;
	uint32_t i;
	int ok = ctx != NULL;

	/* Part 1 §11.4.10.3: H(counter || Z || label with its NUL || PartyUInfo || PartyVInfo). */
	for (i = 1; ok && done < want; i++) {
		size_t n = want - done < 32 ? want - done : 32;

		counter[0] = i >> 24, counter[1] = i >> 16, counter[2] = i >> 8, counter[3] = i;
		ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) && EVP_DigestUpdate(ctx, counter, 4) &&
		     EVP_DigestUpdate(ctx, z, z_len) &&
		     EVP_DigestUpdate(ctx, label, strlen(label) + 1) &&
		     EVP_DigestUpdate(ctx, party_u, u_len) && EVP_DigestUpdate(ctx, party_v, v_len) &&
		     EVP_DigestFinal_ex(ctx, block, NULL);
		if (ok)
			memcpy(out + done, block, n);
		done += n;
	}
	EVP_MD_CTX_free(ctx);
	OPENSSL_cleanse(block, sizeof(block));
	return ok ? 0 : skr_fail(err, SKR_R_nomem, "SHA-256 failed");
}

/* A P-256 key's public x and y, each padded to 32 bytes (TPM2B_ECC_PARAMETER's form). */
static int ecc_xy(EVP_PKEY *key, uint8_t x[32], uint8_t y[32])
{
	BIGNUM *bx = NULL, *by = NULL;
	int ok = EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &bx) &&
		 EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &by) &&
		 BN_bn2binpad(bx, x, 32) == 32 && BN_bn2binpad(by, y, 32) == 32;

	BN_free(bx);
	BN_free(by);
	return ok ? 0 : -1;
}

/* Z: the x coordinate of eph's private scalar times the EK's point (ECDH), 32 bytes. */
static int ecdh_z(EVP_PKEY *eph, EVP_PKEY *ek, uint8_t z[32])
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, eph, NULL);
	size_t len = 32;
	int ok = ctx && EVP_PKEY_derive_init(ctx) > 0 && EVP_PKEY_derive_set_peer(ctx, ek) > 0 &&
		 EVP_PKEY_derive(ctx, z, &len) > 0 && len == 32;

	EVP_PKEY_CTX_free(ctx);
	return ok ? 0 : -1;
}

int skr_ecc_seed(EVP_PKEY *ek, EVP_PKEY *eph, uint8_t seed[32], TPM2B_ENCRYPTED_SECRET *out,
		 struct skr_err *err)
{
	uint8_t z[32], ex[32], ey[32], kx[32], ky[32], *p = out->secret;
	int rc = -1;

	if (ecc_xy(eph, ex, ey) < 0 || ecc_xy(ek, kx, ky) < 0 || ecdh_z(eph, ek, z) < 0) {
		skr_fail(err, SKR_R_malformed, "ECDH with the EK failed");
		goto out;
	}
	if (skr_kdfe_sha256(z, sizeof(z), "IDENTITY", ex, 32, kx, 32, SEED_SIZE * 8, seed, err) < 0)
		goto out;
	/* The encrypted secret: the ephemeral point, a marshalled TPMS_ECC_POINT. */
	p[0] = 0, p[1] = 32;
	memcpy(p + 2, ex, 32);
	p[34] = 0, p[35] = 32;
	memcpy(p + 36, ey, 32);
	out->size = 68;
	rc = 0;
out:
	OPENSSL_cleanse(z, sizeof(z));
	return rc;
}

/* The seed to an ECC EK: a fresh ephemeral P-256 key each time. */
static int ecc_encrypt_seed(EVP_PKEY *ek, uint8_t seed[32], TPM2B_ENCRYPTED_SECRET *out,
			    struct skr_err *err)
{
	EVP_PKEY *eph = EVP_EC_gen("P-256");
	int rc;

	if (!eph)
		return skr_fail(err, SKR_R_nomem, "cannot make an ephemeral P-256 key");
	rc = skr_ecc_seed(ek, eph, seed, out, err);
	EVP_PKEY_free(eph);
	return rc;
}

static int aes128_cfb(const uint8_t *key, const uint8_t *in, size_t len, uint8_t *out,
		      struct skr_err *err)
{
	static const uint8_t iv[16];
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, m = 0;
	int ok = ctx && EVP_EncryptInit_ex(ctx, EVP_aes_128_cfb(), NULL, key, iv) &&
		 EVP_EncryptUpdate(ctx, out, &n, in, (int)len) &&
		 EVP_EncryptFinal_ex(ctx, out + n, &m) && (size_t)(n + m) == len;

	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : skr_fail(err, SKR_R_nomem, "AES-128-CFB failed");
}

/* encIdentity and its outer HMAC into blob: TPM2B_DIGEST(hmac) || encIdentity. */
static int seal_identity(struct cred_keys *k, const uint8_t *name, size_t name_len,
			 size_t plain_len, TPM2B_ID_OBJECT *blob, struct skr_err *err)
{
	uint8_t *enc = blob->credential + 2 + 32;
	const uint8_t *parts[] = { enc, name };
	const size_t lens[] = { plain_len, name_len };

	if (aes128_cfb(k->sym, k->plain, plain_len, enc, err) < 0 ||
	    hmac_sha256(k->hmac, sizeof(k->hmac), parts, lens, 2, blob->credential + 2, err) < 0)
		return -1;
	blob->credential[0] = 0;
	blob->credential[1] = 32;
	blob->size = (UINT16)(2 + 32 + plain_len);
	return 0;
}

static bool is_rsa_2048(EVP_PKEY *k)
{
	return EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA && EVP_PKEY_get_bits(k) == 2048;
}

static bool is_p256(EVP_PKEY *k)
{
	char group[32];

	return EVP_PKEY_get_base_id(k) == EVP_PKEY_EC &&
	       EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
					      NULL) &&
	       strcmp(group, "prime256v1") == 0;
}

static int check_inputs(EVP_PKEY *ek, size_t name_len, size_t credential_len,
			struct skr_err *err)
{
	if (!is_rsa_2048(ek) && !is_p256(ek))
		return skr_fail(err, SKR_R_unsupported,
				"the EK is neither RSA-2048 nor ECC P-256 (the TCG EK templates L-1, L-2)");
	if (name_len != 2 + 32)
		return skr_fail(err, SKR_R_malformed, "the AK name is %zu bytes, not a SHA-256 name",
				name_len);
	if (!credential_len || credential_len > SKR_CREDENTIAL_MAX)
		return skr_fail(err, SKR_R_malformed, "a credential is 1 to %d bytes",
				SKR_CREDENTIAL_MAX);
	return 0;
}

int skr_make_credential(EVP_PKEY *ek, const uint8_t *name, size_t name_len,
			const uint8_t *credential, size_t credential_len, TPM2B_ID_OBJECT *blob,
			TPM2B_ENCRYPTED_SECRET *secret, struct skr_err *err)
{
	struct cred_keys *k;
	size_t plain_len = 2 + credential_len;
	int rc = -1;

	memset(blob, 0, sizeof(*blob));
	memset(secret, 0, sizeof(*secret));
	if (check_inputs(ek, name_len, credential_len, err) < 0)
		return -1;
	k = skr_secret_alloc(sizeof(*k));
	if (!k)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	k->plain[0] = (uint8_t)(credential_len >> 8);
	k->plain[1] = (uint8_t)credential_len;
	memcpy(k->plain + 2, credential, credential_len);
	if (is_p256(ek) ? ecc_encrypt_seed(ek, k->seed, secret, err) < 0
			: rsa_encrypt_seed(ek, k->seed, secret, err) < 0)
		goto out;
	if (skr_kdfa_sha256(k->seed, sizeof(k->seed), "STORAGE", name, name_len, NULL, 0,
			    SYM_KEY_SIZE * 8, k->sym, err) < 0 ||
	    skr_kdfa_sha256(k->seed, sizeof(k->seed), "INTEGRITY", NULL, 0, NULL, 0,
			    HMAC_KEY_SIZE * 8, k->hmac, err) < 0 ||
	    seal_identity(k, name, name_len, plain_len, blob, err) < 0)
		goto out;
	rc = 0;
out:
	skr_secret_free(k);
	return rc;
}

/* ---- the generic TPM mode's identity ------------------------------------- */

static int ek_public_key(const struct skr_buf *ek_public, EVP_PKEY **ek, uint8_t sha256[32],
			 struct skr_err *err)
{
	TPM2B_PUBLIC pub;
	struct skr_err why = { 0 };

	if (skr_tpm2b_public_parse(ek_public->data, ek_public->len, &pub, &why) < 0 ||
	    skr_tpm_public_to_pkey(&pub, ek, &why) < 0)
		return skr_fail(err, SKR_R_malformed, "the EK public area: %s", why.detail);
	if (!EVP_Digest(ek_public->data, ek_public->len, sha256, NULL, EVP_sha256(), NULL))
		return skr_fail(err, SKR_R_nomem, "SHA-256 failed");
	return 0;
}

static int ak_name_of(const struct skr_buf *ak_public, TPM2B_NAME *name, struct skr_err *err)
{
	TPM2B_PUBLIC pub;

	if (skr_tpm2b_public_parse(ak_public->data, ak_public->len, &pub, err) < 0)
		return -1;
	return skr_tpm_public_name(&pub, name, err);
}

int skr_tpm_identity_keys(const struct skr_tpm_identity *id, struct skr_tpm_identity_result *res,
			  struct skr_err *err)
{
	memset(res, 0, sizeof(*res));
	if (skr_ak_public_check(id->ak_public->data, id->ak_public->len, &res->ak, err) < 0 ||
	    ak_name_of(id->ak_public, &res->ak_name, err) < 0 ||
	    ek_public_key(id->ek_public, &res->ek, res->ek_public_sha256, err) < 0) {
		skr_tpm_identity_result_free(res);
		return -1;
	}
	return 0;
}

int skr_tpm_identity_verify(const struct skr_akcert_trust *trust,
			    const struct skr_tpm_identity *id, time_t now,
			    struct skr_tpm_identity_result *res, struct skr_err *err)
{
	struct skr_akcert_info cert = { 0 };
	int rc = -1;

	memset(res, 0, sizeof(*res));
	if (!trust)
		return skr_fail(err, SKR_R_usage,
				"the broker has no EK roots (\"ek_roots\") for tee \"tpm\"");
	if (skr_tpm_identity_keys(id, res, err) < 0 ||
	    skr_akcert_verify(trust, id->ek_cert->data, id->ek_cert->len, id->ek_chain->data,
			      id->ek_chain->len, now, &cert, err) < 0)
		goto out;
	if (EVP_PKEY_eq(cert.key, res->ek) != 1) {
		skr_fail(err, SKR_R_ekcert_untrusted,
			 "the EK certificate (issuer \"%s\") is for another key than the EK presented",
			 cert.issuer_cn);
		goto out;
	}
	rc = skr_pubkey_spki_sha256(res->ek, res->ek_spki_sha256, err);
out:
	skr_akcert_info_free(&cert);
	return rc;
}

void skr_tpm_identity_result_free(struct skr_tpm_identity_result *res)
{
	EVP_PKEY_free(res->ak);
	EVP_PKEY_free(res->ek);
	memset(res, 0, sizeof(*res));
}

int skr_activation_credential(const uint8_t *key, size_t key_len, const uint8_t *nonce,
			      size_t nonce_len, const struct skr_tpm_identity_result *id,
			      uint8_t out[SKR_ACTIVATION_SIZE], struct skr_err *err)
{
	static const char label[] = "skr tpm activation";
	const uint8_t *parts[] = { (const uint8_t *)label, nonce, id->ak_name.name,
				   id->ek_public_sha256 };
	const size_t lens[] = { sizeof(label), nonce_len, id->ak_name.size,
				sizeof(id->ek_public_sha256) };

	return hmac_sha256(key, key_len, parts, lens, ARRAY_SIZE(parts), out, err);
}
