/* SPDX-License-Identifier: Apache-2.0 */
/* TPM quotes: signature forms, type, nonce, PCR digest, hostile structures. */
#include "testutil.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <tss2/tss2_mu.h>

#include "fakeazure.h"
#include "verify/tpm_attest.h"

#define PCR_MASK ((1u << 0) | (1u << 4) | (1u << 7) | (1u << 11))

static const uint8_t nonce[32] = "skr-test-nonce-0123456789abcdef";

struct fixture {
	EVP_PKEY *ak;
	struct skr_pcr_banks banks;
	struct skr_buf attest, sig;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct skr_err err = { 0 };

	f->ak = skr_test_rsa_key();
	skr_test_pcr_banks(&f->banks);
	assert_ok(skr_test_quote(f->ak, nonce, sizeof(nonce), &f->banks, PCR_MASK, &f->attest,
				 &f->sig, &err), err);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	EVP_PKEY_free(f->ak);
	skr_buf_free(&f->attest);
	skr_buf_free(&f->sig);
	free(f);
	return 0;
}

static int verify(struct fixture *f, const struct skr_buf *attest, const struct skr_buf *sig,
		  EVP_PKEY *ak, const uint8_t *n, size_t n_len, struct skr_err *err)
{
	TPMS_ATTEST a;

	return skr_tpm_quote_verify(attest->data, attest->len, sig->data, sig->len, ak, n, n_len,
				    &f->banks, &a, err);
}

static void valid_quote_verifies(void **state)
{
	struct fixture *f = *state;
	struct skr_err err = { 0 };
	TPMS_ATTEST a;
	char sel[64];

	assert_ok(skr_tpm_quote_verify(f->attest.data, f->attest.len, f->sig.data, f->sig.len,
				       f->ak, nonce, sizeof(nonce), &f->banks, &a, &err), err);
	skr_tpm_pcr_selection_str(&a.attested.quote.pcrSelect, sel, sizeof(sel));
	assert_string_equal(sel, "sha256:0,4,7,11");
}

static void other_nonce_refused(void **state)
{
	struct fixture *f = *state;
	struct skr_err err = { 0 };
	uint8_t other[32];

	memcpy(other, nonce, sizeof(other));
	other[31] ^= 1;
	assert_failed_with(verify(f, &f->attest, &f->sig, f->ak, other, sizeof(other), &err), err,
			   SKR_R_quote_nonce_mismatch, "nonce");
	skr_err_clear(&err);
	assert_failed_with(verify(f, &f->attest, &f->sig, f->ak, nonce, 16, &err), err,
			   SKR_R_quote_nonce_mismatch, NULL);
}

static void changed_pcr_refused(void **state)
{
	struct fixture *f = *state;
	struct skr_err err = { 0 };

	f->banks.bank[0].value[7][0] ^= 1;
	assert_failed_with(verify(f, &f->attest, &f->sig, f->ak, nonce, sizeof(nonce), &err), err,
			   SKR_R_quote_pcr_digest_mismatch, "sha256:0,4,7,11");
	f->banks.bank[0].value[7][0] ^= 1;
	/* A selected PCR without a value is named. */
	f->banks.bank[0].extended_mask &= ~(1u << 11);
	skr_err_clear(&err);
	assert_failed_with(verify(f, &f->attest, &f->sig, f->ak, nonce, sizeof(nonce), &err), err,
			   SKR_R_quote_pcr_digest_mismatch, "PCR 11");
	f->banks.bank[0].extended_mask |= 1u << 11;
}

static void signed_by_another_key_refused(void **state)
{
	struct fixture *f = *state;
	EVP_PKEY *other = skr_test_rsa_key();
	struct skr_err err = { 0 };

	assert_failed_with(verify(f, &f->attest, &f->sig, other, nonce, sizeof(nonce), &err), err,
			   SKR_R_quote_signature_invalid, "does not verify");
	EVP_PKEY_free(other);
}

static void tampered_message_refused(void **state)
{
	struct fixture *f = *state;
	struct skr_buf copy = { 0 };
	struct skr_err err = { 0 };

	skr_buf_set(&copy, f->attest.data, f->attest.len, &err);
	copy.data[copy.len - 1] ^= 1;	/* last byte of the PCR digest */
	assert_failed_with(verify(f, &copy, &f->sig, f->ak, nonce, sizeof(nonce), &err), err,
			   SKR_R_quote_signature_invalid, NULL);
	skr_buf_free(&copy);
}

/* Builds and signs an attestation from a template, for structural tests. */
static void signed_attest(struct fixture *f, const TPMS_ATTEST *a, struct skr_buf *msg,
			  struct skr_buf *sig)
{
	struct skr_err err = { 0 };

	assert_ok(skr_test_marshal_attest(a, msg, &err), err);
	assert_ok(skr_test_sign_attest(f->ak, msg->data, msg->len, sig, &err), err);
}

static void bad_magic_and_type_refused(void **state)
{
	struct fixture *f = *state;
	struct skr_buf msg = { 0 }, sig = { 0 };
	struct skr_err err = { 0 };
	TPMS_ATTEST a;

	assert_ok(skr_tpm_attest_parse(f->attest.data, f->attest.len, &a, &err), err);
	a.magic = 0x12345678;
	signed_attest(f, &a, &msg, &sig);
	assert_failed_with(verify(f, &msg, &sig, f->ak, nonce, sizeof(nonce), &err), err,
			   SKR_R_quote_magic_invalid, "TPM_GENERATED_VALUE");
	skr_buf_free(&msg);
	skr_buf_free(&sig);

	a.magic = TPM2_GENERATED_VALUE;
	a.type = TPM2_ST_ATTEST_CERTIFY;
	a.attested.certify.name.size = 0;
	a.attested.certify.qualifiedName.size = 0;
	signed_attest(f, &a, &msg, &sig);
	skr_err_clear(&err);
	assert_failed_with(verify(f, &msg, &sig, f->ak, nonce, sizeof(nonce), &err), err,
			   SKR_R_quote_type_invalid, "quote");
	skr_buf_free(&msg);
	skr_buf_free(&sig);
}

static void truncated_and_trailing_attest_refused(void **state)
{
	struct fixture *f = *state;
	uint8_t longer[SKR_TPM_MAX_ATTEST];
	struct skr_err err = { 0 };
	TPMS_ATTEST a;
	size_t cut;

	for (cut = 1; cut < f->attest.len; cut += 7) {
		skr_err_clear(&err);
		assert_failed_with(skr_tpm_attest_parse(f->attest.data, cut, &a, &err), err,
				   SKR_R_malformed, NULL);
	}
	memcpy(longer, f->attest.data, f->attest.len);
	longer[f->attest.len] = 0;
	skr_err_clear(&err);
	assert_failed_with(skr_tpm_attest_parse(longer, f->attest.len + 1, &a, &err), err,
			   SKR_R_malformed, "trailing");
	skr_err_clear(&err);
	assert_failed_with(skr_tpm_attest_parse(longer, sizeof(longer) + 1, &a, &err), err,
			   SKR_R_malformed, "allowed");
}

static void raw_rsassa_signature_accepted(void **state)
{
	struct fixture *f = *state;
	struct skr_err err = { 0 };
	TPMT_SIGNATURE s;
	struct skr_buf raw = { 0 };
	size_t off = 0;

	assert_int_equal(Tss2_MU_TPMT_SIGNATURE_Unmarshal(f->sig.data, f->sig.len, &off, &s), 0);
	skr_buf_set(&raw, s.signature.rsassa.sig.buffer, s.signature.rsassa.sig.size, &err);
	assert_ok(verify(f, &f->attest, &raw, f->ak, nonce, sizeof(nonce), &err), err);
	/* Raw bytes of the wrong size are neither form. */
	raw.len--;
	assert_failed_with(verify(f, &f->attest, &raw, f->ak, nonce, sizeof(nonce), &err), err,
			   SKR_R_malformed, "neither");
	skr_buf_free(&raw);
}

static void ecdsa_signature_verifies(void **state)
{
	struct fixture *f = *state;
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	TPMT_SIGNATURE s = { .sigAlg = TPM2_ALG_ECDSA };
	uint8_t der[128], out[sizeof(TPMT_SIGNATURE)];
	size_t der_len = sizeof(der), off = 0;
	const unsigned char *p = der;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	struct skr_buf sig = { 0 };
	struct skr_err err = { 0 };
	ECDSA_SIG *es;

	assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, ec), 1);
	assert_int_equal(EVP_DigestSign(ctx, der, &der_len, f->attest.data, f->attest.len), 1);
	es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	assert_non_null(es);
	s.signature.ecdsa.hash = TPM2_ALG_SHA256;
	s.signature.ecdsa.signatureR.size =
		(UINT16)BN_bn2binpad(ECDSA_SIG_get0_r(es), s.signature.ecdsa.signatureR.buffer, 32);
	s.signature.ecdsa.signatureS.size =
		(UINT16)BN_bn2binpad(ECDSA_SIG_get0_s(es), s.signature.ecdsa.signatureS.buffer, 32);
	assert_int_equal(Tss2_MU_TPMT_SIGNATURE_Marshal(&s, out, sizeof(out), &off), 0);
	skr_buf_set(&sig, out, off, &err);
	assert_ok(verify(f, &f->attest, &sig, ec, nonce, sizeof(nonce), &err), err);
	/* The ECDSA signature does not pass for the RSA AK. */
	assert_failed_with(verify(f, &f->attest, &sig, f->ak, nonce, sizeof(nonce), &err), err,
			   SKR_R_quote_signature_invalid, "key type");
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(ec);
	skr_buf_free(&sig);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(valid_quote_verifies),
		cmocka_unit_test(other_nonce_refused),
		cmocka_unit_test(changed_pcr_refused),
		cmocka_unit_test(signed_by_another_key_refused),
		cmocka_unit_test(tampered_message_refused),
		cmocka_unit_test(bad_magic_and_type_refused),
		cmocka_unit_test(truncated_and_trailing_attest_refused),
		cmocka_unit_test(raw_rsassa_signature_accepted),
		cmocka_unit_test(ecdsa_signature_verifies),
	};

	return cmocka_run_group_tests_name("quote", tests, setup, teardown);
}
