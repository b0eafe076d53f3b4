/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The local offline copy's signed PCR policy as a format (skr_local_policy_*
 * of src/vm/local_seal.h): the 141-byte binary form (marshal/parse, every
 * refusal), the policy digest against an independent computation of the TPM
 * 2.0 formulas, signing and software verification (tampered fields, another
 * signer, another counter, a policy without the boot gate), the signer's
 * public key as the token carries it, and skr_local_policy_make against a
 * real counter in swtpm whose Name is recomputed here.  Unsealing with the
 * TPM is tests/unit/test_local_seal.c.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <tss2/tss2_mu.h>

#include "common/gate.h"
#include "swtpm.h"
#include "vm/local_seal.h"
#include "vm/tpm.h"

#define MASK ((1u << 4) | (1u << 7) | (1u << 9) | SKR_LOCAL_GATE_MASK)

static EVP_PKEY *signer, *other_signer;

static int group_setup(void **state)
{
	struct skr_err err = { 0 };

	if (skr_local_signer_generate(&signer, &err) < 0 ||
	    skr_local_signer_generate(&other_signer, &err) < 0)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	EVP_PKEY_free(signer);
	EVP_PKEY_free(other_signer);
	return 0;
}

/* A SHA-256 Name (nameAlg 0x000B || 32 bytes) filled with b. */
static TPM2B_NAME name_of(uint8_t b)
{
	TPM2B_NAME n = { .size = 34 };

	n.name[0] = 0x00;
	n.name[1] = 0x0b;
	memset(n.name + 2, b, 32);
	return n;
}

static void sign(EVP_PKEY *key, const TPM2B_NAME *nv, uint32_t mask, uint8_t digest_fill,
		 uint64_t epoch, struct skr_local_policy *p)
{
	uint8_t digest[32];
	struct skr_err err = { 0 };

	memset(digest, digest_fill, sizeof(digest));
	assert_ok(skr_local_policy_sign(key, nv, mask, digest, epoch, p, &err), err);
}

/* ---- The binary form --------------------------------------------------------------------- */

static void marshal_layout(void **state)
{
	struct skr_local_policy p, q;
	struct skr_err err = { 0 };
	uint8_t buf[SKR_LOCAL_POLICY_SIZE];
	size_t i;

	for (i = 0; i < 32; i++) {
		p.pcr_digest[i] = (uint8_t)(0x20 + i);
		p.approved[i] = (uint8_t)(0x60 + i);
	}
	for (i = 0; i < 64; i++)
		p.signature[i] = (uint8_t)(0x90 + i);
	p.pcr_mask = 0x00818283;
	p.epoch = 0x1112131415161718ull;
	memset(buf, 0xee, sizeof(buf));
	skr_local_policy_marshal(&p, buf);
	/* version 1 | pcr_mask BE | pcr_digest | epoch BE | approved | r || s */
	assert_int_equal(buf[0], 1);
	assert_int_equal(buf[1], 0x00);
	assert_int_equal(buf[2], 0x81);
	assert_int_equal(buf[3], 0x82);
	assert_int_equal(buf[4], 0x83);
	assert_memory_equal(buf + 5, p.pcr_digest, 32);
	for (i = 0; i < 8; i++)
		assert_int_equal(buf[37 + i], 0x11 + i);
	assert_memory_equal(buf + 45, p.approved, 32);
	assert_memory_equal(buf + 77, p.signature, 64);
	assert_int_equal(77 + 64, SKR_LOCAL_POLICY_SIZE);

	memset(&q, 0, sizeof(q));
	assert_ok(skr_local_policy_parse(buf, sizeof(buf), &q, &err), err);
	assert_int_equal(q.pcr_mask, p.pcr_mask);
	assert_true(q.epoch == p.epoch);
	assert_memory_equal(q.pcr_digest, p.pcr_digest, 32);
	assert_memory_equal(q.approved, p.approved, 32);
	assert_memory_equal(q.signature, p.signature, 64);
}

/* Random policies: parse(marshal(p)) == p, and marshal(parse(b)) == b. */
static void marshal_round_trip(void **state)
{
	struct skr_err err = { 0 };

	for (int n = 0; n < 200; n++) {
		struct skr_local_policy p, q;
		uint8_t a[SKR_LOCAL_POLICY_SIZE], b[SKR_LOCAL_POLICY_SIZE];

		assert_int_equal(RAND_bytes((uint8_t *)&p, sizeof(p)), 1);
		p.pcr_mask &= 0xffffff;
		p.pcr_mask |= 1u << (n % 24);	/* never empty */
		skr_local_policy_marshal(&p, a);
		assert_ok(skr_local_policy_parse(a, sizeof(a), &q, &err), err);
		assert_int_equal(q.pcr_mask, p.pcr_mask);
		assert_true(q.epoch == p.epoch);
		assert_memory_equal(q.pcr_digest, p.pcr_digest, 32);
		assert_memory_equal(q.approved, p.approved, 32);
		assert_memory_equal(q.signature, p.signature, 64);
		skr_local_policy_marshal(&q, b);
		assert_memory_equal(a, b, sizeof(a));
	}
	/* The extremes of the epoch. */
	{
		struct skr_local_policy p = { .pcr_mask = SKR_LOCAL_GATE_MASK, .epoch = UINT64_MAX }, q;
		uint8_t a[SKR_LOCAL_POLICY_SIZE];

		skr_local_policy_marshal(&p, a);
		assert_ok(skr_local_policy_parse(a, sizeof(a), &q, &err), err);
		assert_true(q.epoch == UINT64_MAX);
		p.epoch = 0;
		skr_local_policy_marshal(&p, a);
		assert_ok(skr_local_policy_parse(a, sizeof(a), &q, &err), err);
		assert_true(q.epoch == 0);
	}
}

static void parse_refused(const uint8_t *data, size_t len, const char *detail)
{
	struct skr_local_policy out;
	struct skr_err err = { 0 };

	memset(&out, 0xa5, sizeof(out));
	assert_failed_with(skr_local_policy_parse(data, len, &out, &err), err, SKR_R_malformed, detail);
	/* Nothing of a refused policy reaches the caller. */
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(((uint8_t *)&out)[i], 0xa5);
}

/* Exactly 141 bytes: every shorter and some longer lengths are refused, naming the size. */
static void parse_refuses_sizes(void **state)
{
	uint8_t *buf = calloc(1, 4096);
	struct skr_local_policy p;
	char detail[64];

	assert_non_null(buf);
	TPM2B_NAME nv = name_of(1);

	sign(signer, &nv, MASK, 1, 1, &p);
	skr_local_policy_marshal(&p, buf);
	for (size_t len = 0; len < SKR_LOCAL_POLICY_SIZE; len++) {
		snprintf(detail, sizeof(detail), "is 141 bytes, not %zu", len);
		parse_refused(buf, len, detail);
	}
	/* A truncated buffer is never read past its length (ASan: an exact-size copy). */
	for (size_t len = 1; len < SKR_LOCAL_POLICY_SIZE; len += 35) {
		uint8_t *cut = malloc(len);

		assert_non_null(cut);
		memcpy(cut, buf, len);
		parse_refused(cut, len, "is 141 bytes");
		free(cut);
	}
	parse_refused(buf, SKR_LOCAL_POLICY_SIZE + 1, "not 142");
	parse_refused(buf, 2 * SKR_LOCAL_POLICY_SIZE, "not 282");
	parse_refused(buf, 4096, "not 4096");
	parse_refused(NULL, 0, "not 0");
	free(buf);
}

static void parse_refuses_fields(void **state)
{
	struct skr_local_policy p, q;
	struct skr_err err = { 0 };
	uint8_t buf[SKR_LOCAL_POLICY_SIZE];
	TPM2B_NAME nv = name_of(0x11);

	sign(signer, &nv, MASK, 1, 1, &p);
	skr_local_policy_marshal(&p, buf);
	/* Versions other than 1. */
	buf[0] = 0;
	parse_refused(buf, sizeof(buf), "local policy version 0 is not supported");
	buf[0] = 2;
	parse_refused(buf, sizeof(buf), "local policy version 2 is not supported");
	buf[0] = 0xff;
	parse_refused(buf, sizeof(buf), "version 255");
	buf[0] = 1;
	/* A mask selecting nothing, or PCRs above 23. */
	memset(buf + 1, 0, 4);
	parse_refused(buf, sizeof(buf), "PCR mask 0x00000000 selects no PCR or PCRs above 23");
	buf[1] = 0x80;
	parse_refused(buf, sizeof(buf), "PCR mask 0x80000000");
	buf[1] = 0x01;	/* PCR 24 */
	parse_refused(buf, sizeof(buf), "PCR mask 0x01000000");
	buf[1] = 0x00;
	buf[2] = 0xff;	/* PCRs 16..23 only: fine */
	assert_ok(skr_local_policy_parse(buf, sizeof(buf), &q, &err), err);
	assert_int_equal(q.pcr_mask, 0xff0000);
	/*
	 * A mask without PCR 15 parses (a copy signed before the boot gate, so
	 * its token still reads) but never verifies.
	 */
	sign(signer, &nv, MASK, 1, 1, &p);
	skr_local_policy_marshal(&p, buf);
	buf[3] &= (uint8_t) ~(SKR_LOCAL_GATE_MASK >> 8);
	assert_ok(skr_local_policy_parse(buf, sizeof(buf), &q, &err), err);
	assert_int_equal(q.pcr_mask, MASK & ~SKR_LOCAL_GATE_MASK);
	assert_failed_with(skr_local_policy_verify(signer, &nv, &q, &err), err,
			   SKR_R_local_policy_mismatch, "the boot gate");
}

/* ---- The policy digest --------------------------------------------------------------------- */

static void sha256_cat(uint8_t out[32], const void *a, size_t alen, const void *b, size_t blen,
		       const void *c, size_t clen, const void *d, size_t dlen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	assert_non_null(ctx);
	assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
	assert_int_equal(EVP_DigestUpdate(ctx, a, alen), 1);
	if (blen)
		assert_int_equal(EVP_DigestUpdate(ctx, b, blen), 1);
	if (clen)
		assert_int_equal(EVP_DigestUpdate(ctx, c, clen), 1);
	if (dlen)
		assert_int_equal(EVP_DigestUpdate(ctx, d, dlen), 1);
	assert_int_equal(EVP_DigestFinal_ex(ctx, out, NULL), 1);
	EVP_MD_CTX_free(ctx);
}

/*
 * TPM 2.0 Part 3, written out byte by byte:
 *   PolicyPCR: d1 = H(0^32 || TPM_CC_PolicyPCR (0x17F) || TPML_PCR_SELECTION || pcrDigest)
 *   PolicyNV:  args = H(operandB || offset (0x0000) || TPM_EO_UNSIGNED_LE (0x0009))
 *              d2 = H(d1 || TPM_CC_PolicyNV (0x149) || args || nvIndex Name)
 */
static void expected_digest(uint32_t mask, const uint8_t pcr_digest[32], const TPM2B_NAME *nv,
			    uint64_t epoch, uint8_t out[32])
{
	static const uint8_t zero[32];
	uint8_t pcr_part[4 + 10 + 32], d1[32], args[32], operand[12], nv_part[4 + 32];
	uint8_t *s = pcr_part;

	/* CC_PolicyPCR, then TPML_PCR_SELECTION {count 1, {sha256, 3, mask LE bytes}} */
	memcpy(s, "\x00\x00\x01\x7f", 4);
	memcpy(s + 4, "\x00\x00\x00\x01\x00\x0b\x03", 7);
	s[11] = (uint8_t)mask;
	s[12] = (uint8_t)(mask >> 8);
	s[13] = (uint8_t)(mask >> 16);
	memcpy(s + 14, pcr_digest, 32);
	sha256_cat(d1, zero, 32, pcr_part, sizeof(pcr_part), NULL, 0, NULL, 0);
	for (int i = 0; i < 8; i++)
		operand[i] = (uint8_t)(epoch >> (56 - 8 * i));
	memcpy(operand + 8, "\x00\x00\x00\x09", 4);
	sha256_cat(args, operand, sizeof(operand), NULL, 0, NULL, 0, NULL, 0);
	memcpy(nv_part, "\x00\x00\x01\x49", 4);
	memcpy(nv_part + 4, args, 32);
	sha256_cat(out, d1, 32, nv_part, sizeof(nv_part), nv->name, nv->size, NULL, 0);
}

static void digest_known_answer(void **state)
{
	struct skr_err err = { 0 };
	uint8_t pcr_digest[32], got[32], want[32];
	TPM2B_NAME nv = name_of(0x3c);
	static const uint32_t masks[] = { SKR_LOCAL_GATE_MASK, MASK, 0xffffff, 1u | SKR_LOCAL_GATE_MASK,
					  (1u << 23) | SKR_LOCAL_GATE_MASK };
	static const uint64_t epochs[] = { 0, 1, 2, 0x0102030405060708ull, UINT64_MAX };

	for (size_t i = 0; i < 32; i++)
		pcr_digest[i] = (uint8_t)(i * 7);
	for (size_t m = 0; m < ARRAY_SIZE(masks); m++)
		for (size_t e = 0; e < ARRAY_SIZE(epochs); e++) {
			expected_digest(masks[m], pcr_digest, &nv, epochs[e], want);
			assert_ok(skr_local_policy_digest(masks[m], pcr_digest, &nv, epochs[e], got, &err),
				  err);
			assert_memory_equal(got, want, 32);
		}
}

/* Every input moves the digest. */
static void digest_binds_every_input(void **state)
{
	struct skr_err err = { 0 };
	uint8_t pd[32] = { 0 }, base[32], d[32];
	TPM2B_NAME nv = name_of(1), nv2 = name_of(1);

	assert_ok(skr_local_policy_digest(MASK, pd, &nv, 5, base, &err), err);
	assert_ok(skr_local_policy_digest(MASK | 1u, pd, &nv, 5, d, &err), err);
	assert_memory_not_equal(d, base, 32);
	assert_ok(skr_local_policy_digest(MASK, pd, &nv, 6, d, &err), err);
	assert_memory_not_equal(d, base, 32);
	pd[31] = 1;
	assert_ok(skr_local_policy_digest(MASK, pd, &nv, 5, d, &err), err);
	assert_memory_not_equal(d, base, 32);
	pd[31] = 0;
	nv2.name[33] ^= 1;
	assert_ok(skr_local_policy_digest(MASK, pd, &nv2, 5, d, &err), err);
	assert_memory_not_equal(d, base, 32);
	assert_ok(skr_local_policy_digest(MASK, pd, &nv, 5, d, &err), err);
	assert_memory_equal(d, base, 32);	/* and the same inputs give the same digest */
}

static void digest_refusals(void **state)
{
	struct skr_err err = { 0 };
	uint8_t pd[32] = { 0 }, d[32];
	TPM2B_NAME nv = name_of(1);

	assert_failed_with(skr_local_policy_digest(MASK & ~SKR_LOCAL_GATE_MASK, pd, &nv, 1, d, &err),
			   err, SKR_R_usage, "leaves out PCR 15, the boot gate");
	skr_err_clear(&err);
	assert_failed_with(skr_local_policy_digest(0, pd, &nv, 1, d, &err), err, SKR_R_usage,
			   "selects no PCR");
	skr_err_clear(&err);
	assert_failed_with(skr_local_policy_digest(MASK | (1u << 24), pd, &nv, 1, d, &err), err,
			   SKR_R_usage, "above 23");
	/* The counter's Name must be a SHA-256 Name. */
	skr_err_clear(&err);
	nv.size = 22;	/* a SHA-1 Name */
	nv.name[1] = 0x04;
	assert_failed_with(skr_local_policy_digest(MASK, pd, &nv, 1, d, &err), err, SKR_R_usage,
			   "the counter's Name is not a SHA-256 Name");
	skr_err_clear(&err);
	nv = name_of(1);
	nv.name[1] = 0x0c;	/* SHA-384's id with a 32-byte digest */
	assert_failed_with(skr_local_policy_digest(MASK, pd, &nv, 1, d, &err), err, SKR_R_usage,
			   "not a SHA-256 Name");
	skr_err_clear(&err);
	nv = name_of(1);
	nv.size = 4;	/* a handle, not a Name */
	assert_failed_with(skr_local_policy_digest(MASK, pd, &nv, 1, d, &err), err, SKR_R_usage,
			   "not a SHA-256 Name");
}

/* The object's authPolicy: PolicyAuthorize(Name(signer), "skr-local"), written out. */
static void auth_policy_known_answer(void **state)
{
	static const uint8_t zero[32];
	struct skr_err err = { 0 };
	TPM2B_PUBLIC pub;
	TPM2B_NAME name, other;
	uint8_t got[32], want[32], d[32];

	assert_ok(skr_local_signer_public(signer, &pub, &name, &err), err);
	assert_int_equal(name.size, 34);
	assert_ok(skr_local_auth_policy(&name, got, &err), err);
	sha256_cat(d, zero, 32, "\x00\x00\x01\x6a", 4, name.name, name.size, NULL, 0);
	sha256_cat(want, d, 32, "skr-local", 9, NULL, 0, NULL, 0);
	assert_memory_equal(got, want, 32);
	/* Another signer, another authPolicy. */
	assert_ok(skr_local_signer_public(other_signer, &pub, &other, &err), err);
	assert_ok(skr_local_auth_policy(&other, d, &err), err);
	assert_memory_not_equal(d, got, 32);
	other.size = 20;
	assert_failed_with(skr_local_auth_policy(&other, d, &err), err, SKR_R_usage,
			   "the signer's Name is not a SHA-256 Name");
}

/* ---- Signing and verifying ------------------------------------------------------------------- */

/* The signature is plain ECDSA-SHA256 over SHA-256(approved || "skr-local"), r || s. */
static void signature_format(void **state)
{
	struct skr_local_policy p;
	TPM2B_NAME nv = name_of(7);
	uint8_t ahash[32], want[32];
	struct skr_err err = { 0 };
	ECDSA_SIG *sig = ECDSA_SIG_new();
	unsigned char *der = NULL;
	EVP_PKEY_CTX *ctx;
	int der_len;

	sign(signer, &nv, MASK, 0x42, 9, &p);
	assert_int_equal(p.pcr_mask, MASK);
	assert_true(p.epoch == 9);
	assert_int_equal(p.pcr_digest[0], 0x42);
	uint8_t pd[32];

	memset(pd, 0x42, 32);
	expected_digest(MASK, pd, &nv, 9, want);
	assert_memory_equal(p.approved, want, 32);
	sha256_cat(ahash, p.approved, 32, "skr-local", 9, NULL, 0, NULL, 0);
	assert_non_null(sig);
	assert_int_equal(ECDSA_SIG_set0(sig, BN_bin2bn(p.signature, 32, NULL),
					BN_bin2bn(p.signature + 32, 32, NULL)),
			 1);
	der_len = i2d_ECDSA_SIG(sig, &der);
	assert_true(der_len > 0);
	ctx = EVP_PKEY_CTX_new(signer, NULL);
	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
	assert_int_equal(EVP_PKEY_verify(ctx, der, (size_t)der_len, ahash, 32), 1);
	EVP_PKEY_CTX_free(ctx);
	OPENSSL_free(der);
	ECDSA_SIG_free(sig);
	assert_ok(skr_local_policy_verify(signer, &nv, &p, &err), err);
	/* ECDSA is randomised: a second signature differs and verifies as well. */
	struct skr_local_policy p2;

	sign(signer, &nv, MASK, 0x42, 9, &p2);
	assert_memory_equal(p2.approved, p.approved, 32);
	assert_memory_not_equal(p2.signature, p.signature, 64);
	assert_ok(skr_local_policy_verify(signer, &nv, &p2, &err), err);
}

static void verify_refused(const struct skr_local_policy *p, EVP_PKEY *key, const TPM2B_NAME *nv,
			   enum skr_reason reason, const char *detail)
{
	struct skr_err err = { 0 };

	assert_failed_with(skr_local_policy_verify(key, nv, p, &err), err, reason, detail);
}

static void verify_refuses_tampering(void **state)
{
	struct skr_local_policy p, bad;
	TPM2B_NAME nv = name_of(7);
	struct skr_err err = { 0 };
	uint8_t buf[SKR_LOCAL_POLICY_SIZE];

	sign(signer, &nv, MASK, 0x42, 9, &p);
	/* Through the binary form, untouched: verifies. */
	skr_local_policy_marshal(&p, buf);
	assert_ok(skr_local_policy_parse(buf, sizeof(buf), &bad, &err), err);
	assert_ok(skr_local_policy_verify(signer, &nv, &bad, &err), err);

	/* Each byte of the signed digest or the signature: the signature fails. */
	for (size_t i = 0; i < 32; i++) {
		bad = p;
		bad.approved[i] ^= 0x01;
		verify_refused(&bad, signer, &nv, SKR_R_local_policy_signature_invalid,
			       "does not verify with the reseal key");
	}
	for (size_t i = 0; i < 64; i += 7) {
		bad = p;
		bad.signature[i] ^= 0x80;
		verify_refused(&bad, signer, &nv, SKR_R_local_policy_signature_invalid, NULL);
	}
	/* r and s swapped, zero, or all ones (above the group order). */
	bad = p;
	memcpy(bad.signature, p.signature + 32, 32);
	memcpy(bad.signature + 32, p.signature, 32);
	verify_refused(&bad, signer, &nv, SKR_R_local_policy_signature_invalid, NULL);
	memset(bad.signature, 0, 64);
	verify_refused(&bad, signer, &nv, SKR_R_local_policy_signature_invalid, NULL);
	memset(bad.signature, 0xff, 64);
	verify_refused(&bad, signer, &nv, SKR_R_local_policy_signature_invalid, NULL);

	/*
	 * The fields beside the signed digest: the signature still verifies
	 * (it covers approved only), but approved is not theirs.
	 */
	bad = p;
	bad.epoch = 10;	/* a revoked policy re-labelled with a later epoch */
	verify_refused(&bad, signer, &nv, SKR_R_local_policy_mismatch,
		       "the signed policy digest is not the one of its PCRs, counter and epoch");
	bad = p;
	bad.epoch = 8;
	verify_refused(&bad, signer, &nv, SKR_R_local_policy_mismatch, NULL);
	bad = p;
	bad.pcr_digest[31] ^= 1;	/* other PCR values */
	verify_refused(&bad, signer, &nv, SKR_R_local_policy_mismatch, NULL);
	bad = p;
	bad.pcr_mask &= ~(1u << 9);	/* fewer PCRs */
	verify_refused(&bad, signer, &nv, SKR_R_local_policy_mismatch, NULL);
	bad = p;
	bad.pcr_mask |= 1u << 23;	/* more PCRs */
	verify_refused(&bad, signer, &nv, SKR_R_local_policy_mismatch, NULL);
	/* The boot gate dropped from the mask: refused as such, naming it. */
	bad = p;
	bad.pcr_mask &= ~SKR_LOCAL_GATE_MASK;
	verify_refused(&bad, signer, &nv, SKR_R_local_policy_mismatch,
		       "does not require PCR 15 at zero, the boot gate");
}

static void verify_refuses_other_signer_and_counter(void **state)
{
	struct skr_local_policy p, q;
	TPM2B_NAME nv = name_of(7), other_nv = name_of(7);
	EVP_PKEY *pub = NULL;
	struct skr_buf der = { 0 };
	struct skr_err err = { 0 };

	sign(signer, &nv, MASK, 0x42, 9, &p);
	/* Another reseal key. */
	verify_refused(&p, other_signer, &nv, SKR_R_local_policy_signature_invalid,
		       "does not verify with the reseal key");
	/* A policy the other key signed for the same fields: not this signer's. */
	sign(other_signer, &nv, MASK, 0x42, 9, &q);
	assert_memory_equal(q.approved, p.approved, 32);
	verify_refused(&q, signer, &nv, SKR_R_local_policy_signature_invalid, NULL);
	/* Another counter (its Name): the signed digest binds the counter. */
	other_nv.name[2] ^= 1;
	verify_refused(&p, signer, &other_nv, SKR_R_local_policy_mismatch,
		       "not the one of its PCRs, counter and epoch");
	skr_err_clear(&err);
	other_nv = name_of(7);
	other_nv.size = 2;
	verify_refused(&p, signer, &other_nv, SKR_R_usage, "the counter's Name is not a SHA-256 Name");
	/* The public part alone verifies (it is what the token carries). */
	assert_ok(skr_local_signer_public_der(signer, &der, &err), err);
	assert_ok(skr_local_signer_public_parse(der.data, der.len, &pub, &err), err);
	assert_ok(skr_local_policy_verify(pub, &nv, &p, &err), err);
	/* ... and cannot sign. */
	assert_failed_with(skr_local_policy_sign(pub, &nv, MASK, p.pcr_digest, 1, &q, &err), err,
			   SKR_R_usage, "is it a private key?");
	EVP_PKEY_free(pub);
	skr_buf_free(&der);
}

/* Keys that are not ECC P-256 neither sign nor verify. */
static void signer_must_be_p256(void **state)
{
	EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	EVP_PKEY *keys[] = { p384, rsa, ed, NULL };
	struct skr_local_policy p, q;
	TPM2B_NAME nv = name_of(3);
	struct skr_err err = { 0 };

	assert_non_null(p384);
	assert_non_null(rsa);
	assert_non_null(ed);
	sign(signer, &nv, MASK, 1, 1, &p);
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		skr_err_clear(&err);
		assert_failed_with(skr_local_policy_sign(keys[i], &nv, MASK, p.pcr_digest, 1, &q, &err),
				   err, SKR_R_unsupported, "not ECC P-256");
		skr_err_clear(&err);
		assert_failed_with(skr_local_policy_verify(keys[i], &nv, &p, &err), err,
				   SKR_R_unsupported, "not ECC P-256");
	}
	EVP_PKEY_free(p384);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ed);
}

/* The signer's public key as a token carries it: 91 bytes of SPKI DER; PEM too; P-256 only. */
static void signer_public_forms(void **state)
{
	struct skr_buf der = { 0 };
	struct skr_err err = { 0 };
	EVP_PKEY *back = NULL, *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	unsigned char *p384_der = NULL;
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem = NULL;
	long pem_len;
	int n;

	assert_ok(skr_local_signer_public_der(signer, &der, &err), err);
	assert_int_equal(der.len, 91);
	assert_ok(skr_local_signer_public_parse(der.data, der.len, &back, &err), err);
	assert_int_equal(EVP_PKEY_eq(back, signer), 1);
	EVP_PKEY_free(back);
	/* PEM of the same key. */
	assert_int_equal(PEM_write_bio_PUBKEY(bio, signer), 1);
	pem_len = BIO_get_mem_data(bio, &pem);
	assert_ok(skr_local_signer_public_parse((const uint8_t *)pem, (size_t)pem_len, &back, &err), err);
	assert_int_equal(EVP_PKEY_eq(back, signer), 1);
	EVP_PKEY_free(back);
	BIO_free(bio);
	/* Truncated, trailing bytes, empty, garbage: malformed. */
	assert_failed_with(skr_local_signer_public_parse(der.data, der.len - 1, &back, &err), err,
			   SKR_R_malformed, "the reseal public key");
	assert_null(back);
	skr_err_clear(&err);
	assert_failed_with(skr_local_signer_public_parse(der.data, 0, &back, &err), err,
			   SKR_R_malformed, NULL);
	skr_err_clear(&err);
	assert_failed_with(skr_local_signer_public_parse((const uint8_t *)"hello", 5, &back, &err), err,
			   SKR_R_malformed, NULL);
	/* Another curve: unsupported. */
	skr_err_clear(&err);
	n = i2d_PUBKEY(p384, &p384_der);
	assert_true(n > 0);
	assert_failed_with(skr_local_signer_public_parse(p384_der, (size_t)n, &back, &err), err,
			   SKR_R_unsupported, "not ECC P-256");
	assert_null(back);
	OPENSSL_free(p384_der);
	EVP_PKEY_free(p384);
	skr_buf_free(&der);
}

/* ---- skr_local_policy_make: the counter's Name from a real TPM ------------------------------- */

static struct skr_swtpm *swtpm;
static struct skr_tpm *tpm;

static int tpm_setup(void **state)
{
	struct skr_err err = { 0 };

	if (group_setup(state) < 0)
		return -1;
	if (skr_swtpm_start(&swtpm, &err) < 0 || skr_tpm_open(swtpm->tcti, &tpm, &err) < 0) {
		fprintf(stderr, "cannot start swtpm: %s: %s\n", skr_reason_name(err.reason), err.detail);
		skr_swtpm_stop(&swtpm);
		return -1;
	}
	return 0;
}

static int tpm_teardown(void **state)
{
	skr_tpm_close(tpm);
	tpm = NULL;
	skr_swtpm_stop(&swtpm);
	return group_teardown(state);
}

/* The Name of an skr counter, from its public area as local_seal.h specifies it. */
static TPM2B_NAME counter_name(uint32_t index)
{
	TPMS_NV_PUBLIC pub = {
		.nvIndex = index,
		.nameAlg = TPM2_ALG_SHA256,
		.attributes = SKR_LOCAL_COUNTER_ATTRS | TPMA_NV_WRITTEN,
		.dataSize = 8,
	};
	uint8_t buf[sizeof(TPMS_NV_PUBLIC)];
	size_t len = 0;
	TPM2B_NAME n = { .size = 34 };

	assert_int_equal(Tss2_MU_TPMS_NV_PUBLIC_Marshal(&pub, buf, sizeof(buf), &len), TSS2_RC_SUCCESS);
	n.name[0] = 0x00;
	n.name[1] = 0x0b;
	sha256_cat(n.name + 2, buf, len, NULL, 0, NULL, 0, NULL, 0);
	return n;
}

static void make_with_tpm_counter(void **state)
{
	struct skr_local_policy p, q;
	struct skr_err err = { 0 };
	uint8_t pd[32];
	uint32_t index = 0;
	uint64_t value = 0;
	TPM2B_NAME want, got;

	memset(pd, 0x33, sizeof(pd));
	assert_ok(skr_local_counter_create(tpm, &index, &value, &err), err);
	assert_int_equal(index, SKR_LOCAL_NV_FIRST);
	want = counter_name(index);
	assert_ok(skr_local_counter_name(tpm, index, &got, &err), err);
	assert_int_equal(got.size, want.size);
	assert_memory_equal(got.name, want.name, want.size);

	assert_ok(skr_local_policy_make(tpm, signer, index, MASK, pd, value + 1, &p, &err), err);
	assert_true(p.epoch == value + 1);
	/* The same as signing in software for the recomputed Name, and verifies with it. */
	assert_ok(skr_local_policy_verify(signer, &want, &p, &err), err);
	sign(signer, &want, MASK, 0x33, value + 1, &q);
	assert_memory_equal(q.approved, p.approved, 32);
	/* Another counter of the block has another Name: the policy is not valid for it. */
	{
		TPM2B_NAME next = counter_name(index + 1);

		verify_refused(&p, signer, &next, SKR_R_local_policy_mismatch, NULL);
	}
	/* An index that is not defined, or not an NV index at all. */
	assert_failed_with(skr_local_policy_make(tpm, signer, index + 1, MASK, pd, 1, &q, &err), err,
			   SKR_R_tpm_nv_undefined, NULL);
	skr_err_clear(&err);
	assert_failed_with(skr_local_policy_make(tpm, signer, 0x81000003u, MASK, pd, 1, &q, &err), err,
			   SKR_R_usage, "is not an NV index handle");
	/* The gate rule holds here too. */
	skr_err_clear(&err);
	assert_failed_with(skr_local_policy_make(tpm, signer, index, MASK & ~SKR_LOCAL_GATE_MASK, pd, 1,
						 &q, &err),
			   err, SKR_R_usage, "leaves out PCR 15");
	skr_err_clear(&err);
	assert_ok(skr_local_counter_delete(tpm, index, &err), err);
}

int main(void)
{
	const struct CMUnitTest software[] = {
		cmocka_unit_test(marshal_layout),
		cmocka_unit_test(marshal_round_trip),
		cmocka_unit_test(parse_refuses_sizes),
		cmocka_unit_test(parse_refuses_fields),
		cmocka_unit_test(digest_known_answer),
		cmocka_unit_test(digest_binds_every_input),
		cmocka_unit_test(digest_refusals),
		cmocka_unit_test(auth_policy_known_answer),
		cmocka_unit_test(signature_format),
		cmocka_unit_test(verify_refuses_tampering),
		cmocka_unit_test(verify_refuses_other_signer_and_counter),
		cmocka_unit_test(signer_must_be_p256),
		cmocka_unit_test(signer_public_forms),
	};
	const struct CMUnitTest with_tpm[] = {
		cmocka_unit_test(make_with_tpm_counter),
	};
	int failed = 0;

	failed += cmocka_run_group_tests_name("local_policy", software, group_setup, group_teardown);
	failed += cmocka_run_group_tests_name("local_policy_make", with_tpm, tpm_setup, tpm_teardown);
	return failed;
}
