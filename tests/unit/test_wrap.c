/* SPDX-License-Identifier: Apache-2.0 */
/* The release wrap (ECDH-P256-HKDF-SHA256-A256GCM) and stateless nonces. */
#include "testutil.h"

#include "verify/nonce.h"
#include "verify/wrap.h"

static const uint8_t secret[32] = "0123456789abcdef0123456789abcdef";
static const uint8_t nonce[32] = "wrap-test-nonce-0123456789abcdef";

static void wrap_round_trip(void **state)
{
	EVP_PKEY *wrap_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	struct skr_wrapped w;
	uint8_t z[SKR_WRAP_COORD], out[SKR_WRAP_MAX_SECRET];
	size_t out_len;
	struct skr_err err = { 0 };

	assert_ok(skr_wrap(wrap_key, nonce, sizeof(nonce), "disk-1", secret, sizeof(secret), &w,
			   &err), err);
	assert_int_equal(w.epk[0], 0x04);
	assert_int_equal(w.ciphertext_len, sizeof(secret));
	assert_memory_not_equal(w.ciphertext, secret, sizeof(secret));
	assert_ok(skr_ecdh_z(wrap_key, w.epk, z, &err), err);
	assert_ok(skr_unwrap_with_z(z, &w, nonce, sizeof(nonce), "disk-1", out, &out_len, &err), err);
	assert_int_equal(out_len, sizeof(secret));
	assert_memory_equal(out, secret, sizeof(secret));
	EVP_PKEY_free(wrap_key);
}

/* Another key, key id, nonce or a flipped bit: the secret never comes out. */
static void wrap_binds_key_id_nonce_and_key(void **state)
{
	EVP_PKEY *wrap_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	uint8_t z[SKR_WRAP_COORD], out[SKR_WRAP_MAX_SECRET], other_nonce[32];
	struct skr_wrapped w, bad;
	struct skr_err err = { 0 };
	size_t out_len;

	assert_ok(skr_wrap(wrap_key, nonce, sizeof(nonce), "disk-1", secret, sizeof(secret), &w,
			   &err), err);
	assert_ok(skr_ecdh_z(other, w.epk, z, &err), err);
	assert_failed_with(skr_unwrap_with_z(z, &w, nonce, sizeof(nonce), "disk-1", out, &out_len,
					     &err), err, SKR_R_malformed, "does not open");
	assert_true(skr_is_zero(out, sizeof(out)));
	skr_err_clear(&err);
	assert_ok(skr_ecdh_z(wrap_key, w.epk, z, &err), err);
	assert_failed_with(skr_unwrap_with_z(z, &w, nonce, sizeof(nonce), "disk-2", out, &out_len,
					     &err), err, SKR_R_malformed, NULL);
	memcpy(other_nonce, nonce, sizeof(other_nonce));
	other_nonce[0] ^= 1;
	skr_err_clear(&err);
	assert_failed_with(skr_unwrap_with_z(z, &w, other_nonce, sizeof(other_nonce), "disk-1", out,
					     &out_len, &err), err, SKR_R_malformed, NULL);
	bad = w;
	bad.ciphertext[3] ^= 1;
	skr_err_clear(&err);
	assert_failed_with(skr_unwrap_with_z(z, &bad, nonce, sizeof(nonce), "disk-1", out, &out_len,
					     &err), err, SKR_R_malformed, NULL);
	bad = w;
	bad.epk[10] ^= 1;	/* not on the curve any more */
	skr_err_clear(&err);
	assert_failed_with(skr_ecdh_z(wrap_key, bad.epk, z, &err), err, SKR_R_malformed, NULL);
	EVP_PKEY_free(wrap_key);
	EVP_PKEY_free(other);
}

static const uint8_t nonce_secret[SKR_NONCE_SECRET_SIZE] = "broker-nonce-secret-0123456789ab";

static void nonce_issue_and_check(void **state)
{
	uint8_t n[SKR_NONCE_SIZE];
	time_t exp, got;
	struct skr_err err = { 0 };

	assert_ok(skr_nonce_issue(nonce_secret, "disk-1", 1000, 60, n, &exp, &err), err);
	assert_int_equal(exp, 1060);
	assert_ok(skr_nonce_check(nonce_secret, "disk-1", n, sizeof(n), 1059, &got, &err), err);
	assert_int_equal(got, 1060);
	assert_failed_with(skr_nonce_check(nonce_secret, "disk-1", n, sizeof(n), 1061, &got, &err),
			   err, SKR_R_nonce_expired, "expired");
	skr_err_clear(&err);
	assert_failed_with(skr_nonce_check(nonce_secret, "disk-2", n, sizeof(n), 1001, &got, &err),
			   err, SKR_R_nonce_invalid, "not issued for this key");
	n[13] ^= 1;	/* move the expiry: the MAC no longer matches */
	skr_err_clear(&err);
	assert_failed_with(skr_nonce_check(nonce_secret, "disk-1", n, sizeof(n), 1001, &got, &err),
			   err, SKR_R_nonce_invalid, NULL);
	skr_err_clear(&err);
	assert_failed_with(skr_nonce_check(nonce_secret, "disk-1", n, 16, 1001, &got, &err), err,
			   SKR_R_nonce_invalid, "16 bytes");
}

static void nonce_replay_refused_until_expiry(void **state)
{
	struct skr_nonce_seen seen;
	uint8_t n[SKR_NONCE_SIZE];
	time_t exp;
	struct skr_err err = { 0 };
	int i;

	skr_nonce_seen_init(&seen);
	assert_ok(skr_nonce_issue(nonce_secret, "disk-1", 1000, 60, n, &exp, &err), err);
	assert_ok(skr_nonce_seen_use(&seen, n, exp, 1000, &err), err);
	assert_failed_with(skr_nonce_seen_use(&seen, n, exp, 1001, &err), err,
			   SKR_R_nonce_replayed, NULL);
	skr_err_clear(&err);
	/* 5000 short-lived nonces, then 5000 more after those expired: the table
	 * prunes only expired entries, so n is still refused and the table stays small. */
	for (i = 0; i < 10000; i++) {
		time_t now = i < 5000 ? 1000 : 1020, e;
		uint8_t m[SKR_NONCE_SIZE];

		assert_ok(skr_nonce_issue(nonce_secret, "disk-1", now, 10, m, &e, &err), err);
		assert_ok(skr_nonce_seen_use(&seen, m, e, now, &err), err);
	}
	assert_true(seen.count < 6000);
	assert_failed_with(skr_nonce_seen_use(&seen, n, exp, 1050, &err), err,
			   SKR_R_nonce_replayed, NULL);
	skr_nonce_seen_free(&seen);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(wrap_round_trip),
		cmocka_unit_test(wrap_binds_key_id_nonce_and_key),
		cmocka_unit_test(nonce_issue_and_check),
		cmocka_unit_test(nonce_replay_refused_until_expiry),
	};

	return cmocka_run_group_tests_name("wrap", tests, NULL, NULL);
}
