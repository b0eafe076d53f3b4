/* SPDX-License-Identifier: Apache-2.0 */
/* SEV-SNP report parsing and signature, AMD chain and VCEK/report matching. */
#include "testutil.h"

#include <openssl/x509.h>

#include "verify/amd_chain.h"
#include "verify/snp_report.h"
#include "testchain.h"

/* ---- the real Milan vector, with the built-in AMD roots ----------------- */

struct real {
	struct skr_buf report, vcek_der;
	struct skr_snp_report r;
	X509 *vcek;
	struct skr_amd_trust trust;
};

static int real_setup(void **state)
{
	struct real *t = calloc(1, sizeof(*t));
	struct skr_err err = { 0 };

	skr_test_read_hex_vector(VECTOR("snp/milan-report.hex"), &t->report);
	skr_test_read_vector(VECTOR("snp/milan-vcek.der"), &t->vcek_der);
	assert_ok(skr_snp_report_parse(t->report.data, t->report.len, &t->r, &err), err);
	assert_ok(skr_x509_parse(t->vcek_der.data, t->vcek_der.len, &t->vcek, "VCEK", &err), err);
	assert_ok(skr_amd_trust_init(&t->trust, true, &err), err);
	*state = t;
	return 0;
}

static int real_teardown(void **state)
{
	struct real *t = *state;

	skr_buf_free(&t->report);
	skr_buf_free(&t->vcek_der);
	X509_free(t->vcek);
	skr_amd_trust_free(&t->trust);
	free(t);
	return 0;
}

static void real_report_fields(void **state)
{
	struct real *t = *state;
	struct skr_snp_tcb tcb = skr_snp_tcb_decode(t->r.reported_tcb, SKR_SNP_PRODUCT_MILAN);

	assert_int_equal(t->r.version, 2);
	assert_int_equal(t->r.vmpl, 0);
	assert_int_equal(t->r.policy, 0x30000);
	assert_false(skr_snp_report_debug(&t->r));
	assert_int_equal(t->r.signing_key, SKR_SNP_SIGNER_VCEK);
	assert_int_equal(tcb.bootloader, 3);
	assert_int_equal(tcb.tee, 0);
	assert_int_equal(tcb.snp, 8);
	assert_int_equal(tcb.microcode, 115);
	assert_int_equal(skr_snp_report_product(&t->r), SKR_SNP_PRODUCT_UNKNOWN);
	assert_int_equal(t->r.report_data[0], 0xd4);
}

static void real_report_verifies_with_builtin_roots(void **state)
{
	struct real *t = *state;
	struct skr_vcek_info info;
	struct skr_err err = { 0 };
	EVP_PKEY *key = X509_get_pubkey(t->vcek);

	assert_ok(skr_amd_verify_leaf(&t->trust, t->vcek, &t->r, NULL, &info, &err), err);
	assert_int_equal(info.product, SKR_SNP_PRODUCT_MILAN);
	assert_string_equal(info.product_name, "Milan-B0");
	assert_int_equal(info.hwid_len, 64);
	/* AMD issues VCEKs with serial number 0; they must be accepted. */
	assert_int_equal(ASN1_INTEGER_get(X509_get0_serialNumber(t->vcek)), 0);
	assert_ok(skr_snp_report_verify_signature(&t->r, key, &err), err);
	EVP_PKEY_free(key);
}

/* Every signed field: one flipped bit breaks the signature. */
static void real_report_bit_flip_in_each_signed_field(void **state)
{
	static const size_t offsets[] = {
		0x004, 0x008, 0x010, 0x020, 0x030, 0x038, 0x040, 0x048, 0x050, 0x08F, 0x090,
		0x0C0, 0x0E0, 0x110, 0x140, 0x160, 0x180, 0x188, 0x1A0, 0x1DF, 0x1E0, 0x1E8,
		0x1F0, 0x1F8, 0x200, 0x29F,
	};
	struct real *t = *state;
	EVP_PKEY *key = X509_get_pubkey(t->vcek);
	size_t i;

	for (i = 0; i < ARRAY_SIZE(offsets); i++) {
		uint8_t copy[SKR_SNP_REPORT_SIZE];
		struct skr_snp_report r;
		struct skr_err err = { 0 };

		memcpy(copy, t->report.data, sizeof(copy));
		copy[offsets[i]] ^= 0x01;
		assert_ok(skr_snp_report_parse(copy, sizeof(copy), &r, &err), err);
		assert_failed_with(skr_snp_report_verify_signature(&r, key, &err), err,
				   SKR_R_snp_signature_invalid, "does not verify");
	}
	EVP_PKEY_free(key);
}

static void signature_bits_above_384_refused(void **state)
{
	struct real *t = *state;
	EVP_PKEY *key = X509_get_pubkey(t->vcek);
	struct skr_snp_report r = t->r;
	struct skr_err err = { 0 };

	r.sig_s[60] = 1;
	assert_failed_with(skr_snp_report_verify_signature(&r, key, &err), err,
			   SKR_R_snp_signature_invalid, "above 384");
	EVP_PKEY_free(key);
}

static void truncated_and_oversized_reports(void **state)
{
	struct real *t = *state;
	uint8_t big[SKR_SNP_REPORT_SIZE + 1] = { 0 };
	struct skr_snp_report r;
	struct skr_err err = { 0 };

	assert_failed_with(skr_snp_report_parse(t->report.data, SKR_SNP_REPORT_SIZE - 1, &r, &err),
			   err, SKR_R_malformed, "1183 bytes");
	skr_err_clear(&err);
	memcpy(big, t->report.data, SKR_SNP_REPORT_SIZE);
	assert_failed_with(skr_snp_report_parse(big, sizeof(big), &r, &err), err, SKR_R_malformed,
			   "1185 bytes");
	skr_err_clear(&err);
	assert_failed_with(skr_snp_report_parse(big, 0, &r, &err), err, SKR_R_malformed, NULL);
}

static void unsupported_version_and_algorithm(void **state)
{
	struct real *t = *state;
	uint8_t copy[SKR_SNP_REPORT_SIZE];
	struct skr_snp_report r;
	struct skr_err err = { 0 };

	memcpy(copy, t->report.data, sizeof(copy));
	copy[0] = 6;
	assert_failed_with(skr_snp_report_parse(copy, sizeof(copy), &r, &err), err,
			   SKR_R_unsupported, "version 6");
	skr_err_clear(&err);
	copy[0] = 1;
	assert_failed_with(skr_snp_report_parse(copy, sizeof(copy), &r, &err), err,
			   SKR_R_unsupported, "version 1");
	skr_err_clear(&err);
	copy[0] = 2;
	copy[0x34] = 2;
	assert_failed_with(skr_snp_report_parse(copy, sizeof(copy), &r, &err), err,
			   SKR_R_unsupported, "algorithm 2");
}

static void binary_or_hex_input(void **state)
{
	struct real *t = *state;
	struct skr_buf text = { 0 }, out = { 0 };
	struct skr_err err = { 0 };

	skr_test_read_vector(VECTOR("snp/milan-report.hex"), &text);
	assert_ok(skr_decode_binary_or_hex(&text, SKR_SNP_REPORT_SIZE, &out, "report", &err), err);
	assert_int_equal(out.len, SKR_SNP_REPORT_SIZE);
	assert_memory_equal(out.data, t->report.data, SKR_SNP_REPORT_SIZE);
	skr_buf_free(&out);
	assert_ok(skr_decode_binary_or_hex(&t->report, SKR_SNP_REPORT_SIZE, &out, "report", &err),
		  err);
	assert_memory_equal(out.data, t->report.data, SKR_SNP_REPORT_SIZE);
	skr_buf_free(&out);
	skr_buf_free(&text);
}

static void builtin_roots_cover_three_products(void **state)
{
	struct real *t = *state;
	int seen[4] = { 0 };
	size_t i;

	for (i = 0; i < t->trust.count; i++) {
		assert_non_null(t->trust.anchors[i].ask);
		assert_non_null(t->trust.anchors[i].asvk);
		seen[t->trust.anchors[i].product]++;
	}
	assert_int_equal(seen[SKR_SNP_PRODUCT_MILAN], 1);
	assert_int_equal(seen[SKR_SNP_PRODUCT_GENOA], 1);
	assert_int_equal(seen[SKR_SNP_PRODUCT_TURIN], 1);
}

/* ---- generated chains ------------------------------------------------------ */

struct gen {
	struct skr_test_chain chain;
	struct skr_amd_trust trust;	/* built-in roots + this chain's ARK/ASK */
	uint8_t report[SKR_SNP_REPORT_SIZE];
};

static void gen_trust(struct gen *g, const struct skr_test_chain *c, bool asvk)
{
	struct skr_buf pem = { 0 };
	struct skr_err err = { 0 };

	assert_ok(skr_amd_trust_init(&g->trust, true, &err), err);
	assert_ok(skr_test_chain_bundle_pem(c, false, &pem, &err), err);
	assert_ok(skr_amd_trust_add_pem(&g->trust, pem.data, pem.len, &err), err);
	skr_buf_free(&pem);
	if (asvk) {
		assert_ok(skr_test_chain_bundle_pem(c, true, &pem, &err), err);
		assert_ok(skr_amd_trust_add_pem(&g->trust, pem.data, pem.len, &err), err);
		skr_buf_free(&pem);
	}
}

static struct gen *gen_new(const char *product, bool vlek)
{
	struct gen *g = calloc(1, sizeof(*g));
	struct skr_test_vcek_opts v;
	struct skr_test_chain_opts o = { .product = product, .with_asvk = vlek, .vcek = &v };
	struct skr_err err = { 0 };

	skr_test_vcek_opts_init(&v, product);
	v.vlek = vlek;
	assert_ok(skr_test_chain_new(&g->chain, &o, &err), err);
	gen_trust(g, &g->chain, vlek);
	assert_ok(skr_test_chain_report(&g->chain, NULL, g->report, &err), err);
	return g;
}

static void gen_free(struct gen *g)
{
	skr_test_chain_free(&g->chain);
	skr_amd_trust_free(&g->trust);
	free(g);
}

/* Parses report and runs the whole check: chain, match, signature. */
static int gen_verify(struct gen *g, const uint8_t *report, X509 *leaf,
		      const struct skr_amd_verify_opts *opts, struct skr_err *err)
{
	struct skr_snp_report r;
	EVP_PKEY *key;
	int rc;

	if (skr_snp_report_parse(report, SKR_SNP_REPORT_SIZE, &r, err) < 0 ||
	    skr_amd_verify_leaf(&g->trust, leaf, &r, opts, NULL, err) < 0)
		return -1;
	key = X509_get_pubkey(leaf);
	rc = skr_snp_report_verify_signature(&r, key, err);
	EVP_PKEY_free(key);
	return rc;
}

static void generated_versions_2_to_5_verify(void **state)
{
	struct gen *g = gen_new("Milan", false);
	uint32_t version;

	for (version = 2; version <= 5; version++) {
		struct skr_test_report_opts o;
		struct skr_snp_report r;
		struct skr_err err = { 0 };

		skr_test_report_opts_init(&o, &g->chain.vcek_opts);
		o.version = version;
		o.launch_mit_vector = 0x1234;
		assert_ok(skr_test_chain_report(&g->chain, &o, g->report, &err), err);
		assert_ok(gen_verify(g, g->report, g->chain.vcek, NULL, &err), err);
		assert_ok(skr_snp_report_parse(g->report, sizeof(g->report), &r, &err), err);
		assert_int_equal(r.launch_mit_vector, version >= 5 ? 0x1234 : 0);
		assert_int_equal(skr_snp_report_product(&r),
				 version >= 3 ? SKR_SNP_PRODUCT_MILAN : SKR_SNP_PRODUCT_UNKNOWN);
	}
	gen_free(g);
}

static void untrusted_chain_refused(void **state)
{
	struct gen *g = gen_new("Milan", false);
	struct skr_amd_trust builtin_only;
	struct skr_snp_report r;
	struct skr_err err = { 0 };

	assert_ok(skr_amd_trust_init(&builtin_only, true, &err), err);
	assert_ok(skr_snp_report_parse(g->report, sizeof(g->report), &r, &err), err);
	assert_failed_with(skr_amd_verify_leaf(&builtin_only, g->chain.vcek, &r, NULL, NULL, &err),
			   err, SKR_R_chain_signature_invalid, "ASK Milan");
	skr_amd_trust_free(&builtin_only);
	gen_free(g);
}

static void presented_foreign_ark_refused(void **state)
{
	struct gen *g = gen_new("Milan", false);
	struct skr_test_chain other;
	struct skr_buf pem = { 0 };
	struct skr_err err = { 0 };
	struct skr_amd_verify_opts opts = { 0 };

	assert_ok(skr_test_chain_new(&other, NULL, &err), err);
	assert_ok(skr_test_chain_bundle_pem(&other, false, &pem, &err), err);
	opts.chain_pem = pem.data;
	opts.chain_pem_len = pem.len;
	assert_failed_with(gen_verify(g, g->report, g->chain.vcek, &opts, &err), err,
			   SKR_R_chain_untrusted, "not a trusted AMD root");
	skr_buf_free(&pem);
	skr_test_chain_free(&other);
	gen_free(g);
}

static void vcek_from_another_ask_refused(void **state)
{
	struct gen *g = gen_new("Genoa", false);
	struct skr_test_chain other;
	struct skr_test_chain_opts o = { .product = "Genoa" };
	struct skr_err err = { 0 };

	/* Same names, different keys: the ASK's signature on the VCEK fails. */
	assert_ok(skr_test_chain_new(&other, &o, &err), err);
	assert_failed_with(gen_verify(g, g->report, other.vcek, NULL, &err), err,
			   SKR_R_chain_signature_invalid, "does not verify");
	skr_test_chain_free(&other);
	gen_free(g);
}

static void vcek_of_another_chip_refused(void **state)
{
	struct gen *g = gen_new("Milan", false);
	struct skr_test_vcek_opts v = g->chain.vcek_opts;
	struct skr_test_report_opts o;
	struct skr_err err = { 0 };

	skr_test_report_opts_init(&o, &g->chain.vcek_opts);
	v.key = NULL;
	v.hwid[5] ^= 0x40;	/* a VCEK for another chip, same TCB */
	assert_ok(skr_test_chain_issue_vcek(&g->chain, &v, &err), err);
	assert_ok(skr_test_chain_report(&g->chain, &o, g->report, &err), err);
	assert_failed_with(gen_verify(g, g->report, g->chain.vcek, NULL, &err), err,
			   SKR_R_vcek_chip_mismatch, "CHIP_ID");
	gen_free(g);
}

static void vcek_tcb_differs_names_component(void **state)
{
	static const char *const names[] = { "bootloader", "tee", "snp", "microcode" };
	struct gen *g = gen_new("Milan", false);
	size_t i;

	for (i = 0; i < ARRAY_SIZE(names); i++) {
		struct skr_test_report_opts o;
		struct skr_snp_tcb t;
		struct skr_err err = { 0 };

		skr_test_report_opts_init(&o, &g->chain.vcek_opts);
		t = skr_snp_tcb_decode(o.reported_tcb, SKR_SNP_PRODUCT_MILAN);
		o.reported_tcb = skr_test_tcb_milan(t.bootloader + (i == 0), t.tee + (i == 1),
						    t.snp + (i == 2), t.microcode + (i == 3));
		assert_ok(skr_test_chain_report(&g->chain, &o, g->report, &err), err);
		assert_failed_with(gen_verify(g, g->report, g->chain.vcek, NULL, &err), err,
				   SKR_R_vcek_tcb_mismatch, names[i]);
	}
	gen_free(g);
}

static void turin_layout_and_fmc(void **state)
{
	struct gen *g = gen_new("Turin", false);
	struct skr_test_report_opts o;
	struct skr_snp_report r;
	struct skr_vcek_info info;
	struct skr_err err = { 0 };

	assert_ok(gen_verify(g, g->report, g->chain.vcek, NULL, &err), err);
	assert_ok(skr_vcek_info_parse(g->chain.vcek, &info, &err), err);
	assert_int_equal(info.hwid_len, 8);
	assert_true(info.has_fmc);
	assert_ok(skr_snp_report_parse(g->report, sizeof(g->report), &r, &err), err);
	assert_int_equal(skr_snp_report_product(&r), SKR_SNP_PRODUCT_TURIN);
	assert_int_equal(skr_snp_tcb_decode(r.reported_tcb, SKR_SNP_PRODUCT_TURIN).fmc,
			 info.tcb.fmc);

	skr_test_report_opts_init(&o, &g->chain.vcek_opts);
	o.reported_tcb = skr_test_tcb_turin(info.tcb.fmc + 1, info.tcb.bootloader, info.tcb.tee,
					    info.tcb.snp, info.tcb.microcode);
	assert_ok(skr_test_chain_report(&g->chain, &o, g->report, &err), err);
	assert_failed_with(gen_verify(g, g->report, g->chain.vcek, NULL, &err), err,
			   SKR_R_vcek_tcb_mismatch, "fmc");
	gen_free(g);
}

static void vlek_chain_verifies(void **state)
{
	struct gen *g = gen_new("Genoa", true);
	struct skr_vcek_info info;
	struct skr_err err = { 0 };
	struct skr_snp_report r;

	assert_ok(skr_snp_report_parse(g->report, sizeof(g->report), &r, &err), err);
	assert_int_equal(r.signing_key, SKR_SNP_SIGNER_VLEK);
	assert_ok(skr_amd_verify_leaf(&g->trust, g->chain.vcek, &r, NULL, &info, &err), err);
	assert_int_equal(info.kind, SKR_SNP_SIGNER_VLEK);
	gen_free(g);
}

static void signer_kind_mismatch_refused(void **state)
{
	struct gen *g = gen_new("Genoa", true);
	struct skr_test_report_opts o;
	struct skr_err err = { 0 };

	skr_test_report_opts_init(&o, &g->chain.vcek_opts);
	o.flags = SKR_TEST_FLAG_SIGNING_KEY(0);	/* claims VCEK, signed by the VLEK */
	assert_ok(skr_test_chain_report(&g->chain, &o, g->report, &err), err);
	assert_failed_with(gen_verify(g, g->report, g->chain.vcek, NULL, &err), err,
			   SKR_R_snp_signing_key_mismatch, "VLEK");
	gen_free(g);
}

static void product_mismatch_refused(void **state)
{
	struct gen *g = gen_new("Genoa", false);
	struct skr_amd_verify_opts opts = { .product = SKR_SNP_PRODUCT_MILAN };
	struct skr_err err = { 0 };

	assert_failed_with(gen_verify(g, g->report, g->chain.vcek, &opts, &err), err,
			   SKR_R_vcek_product_mismatch, "Genoa");
	gen_free(g);
}

static void expired_vcek_refused(void **state)
{
	struct gen *g = gen_new("Milan", false);
	struct skr_test_vcek_opts v = g->chain.vcek_opts;
	struct skr_err err = { 0 };

	v.key = NULL;
	v.not_before_offset = -3 * 86400;
	v.not_after_offset = -86400;
	assert_ok(skr_test_chain_issue_vcek(&g->chain, &v, &err), err);
	assert_ok(skr_test_chain_report(&g->chain, NULL, g->report, &err), err);
	assert_failed_with(gen_verify(g, g->report, g->chain.vcek, NULL, &err), err,
			   SKR_R_cert_expired, "expired");
	gen_free(g);
}

/*
 * The chain cache skips the ASK's signature over a VCEK it verified before,
 * never the dates: once the ASK and ARK have expired (the VCEK has not), the
 * cached chain is refused as a fresh one is.
 */
static void cached_chain_refused_after_ask_expiry(void **state)
{
	struct gen *g = calloc(1, sizeof(*g));
	struct skr_test_vcek_opts v;
	struct skr_test_chain_opts o = { .product = "Milan", .vcek = &v,
					 .ca_not_after_offset = 2 * 86400 };
	struct skr_chain_cache cache;
	struct skr_amd_verify_opts vo = { .cache = &cache };
	struct skr_err err = { 0 };

	skr_test_vcek_opts_init(&v, "Milan");
	assert_ok(skr_test_chain_new(&g->chain, &o, &err), err);
	gen_trust(g, &g->chain, false);
	assert_ok(skr_test_chain_report(&g->chain, NULL, g->report, &err), err);
	skr_chain_cache_init(&cache);

	/* Today: verified once, then from the cache. */
	assert_ok(gen_verify(g, g->report, g->chain.vcek, &vo, &err), err);
	assert_ok(gen_verify(g, g->report, g->chain.vcek, &vo, &err), err);
	assert_int_equal(cache.misses, 1);
	assert_int_equal(cache.hits, 1);
	assert_int_equal(skr_chain_cache_entries(&cache), 1);

	/* Three days on, the ASK and the ARK have expired: the cached chain is refused. */
	vo.now = time(NULL) + 3 * 86400;
	assert_failed_with(gen_verify(g, g->report, g->chain.vcek, &vo, &err), err,
			   SKR_R_cert_expired, "ASK has expired");
	assert_int_equal(cache.hits, 2);
	/* The same without the cache. */
	skr_err_clear(&err);
	vo.cache = NULL;
	assert_failed_with(gen_verify(g, g->report, g->chain.vcek, &vo, &err), err,
			   SKR_R_cert_expired, "ASK has expired");
	/* And back at today's date the cached chain is good again. */
	skr_err_clear(&err);
	vo.cache = &cache;
	vo.now = 0;
	assert_ok(gen_verify(g, g->report, g->chain.vcek, &vo, &err), err);
	assert_int_equal(cache.hits, 3);
	skr_chain_cache_free(&cache);
	gen_free(g);
}

static void vcek_without_tcb_extensions_refused(void **state)
{
	struct gen *g = gen_new("Milan", false);
	struct skr_test_vcek_opts v = g->chain.vcek_opts;
	struct skr_err err = { 0 };

	v.key = NULL;
	v.omit = SKR_TEST_EXT_SNP_SPL;
	assert_ok(skr_test_chain_issue_vcek(&g->chain, &v, &err), err);
	assert_ok(skr_test_chain_report(&g->chain, NULL, g->report, &err), err);
	assert_failed_with(gen_verify(g, g->report, g->chain.vcek, NULL, &err), err,
			   SKR_R_cert_invalid, "TCB extensions");
	gen_free(g);
}

static void debug_policy_reported(void **state)
{
	struct gen *g = gen_new("Milan", false);
	struct skr_test_report_opts o;
	struct skr_snp_report r;
	struct skr_err err = { 0 };

	skr_test_report_opts_init(&o, &g->chain.vcek_opts);
	o.policy |= SKR_TEST_POLICY_DEBUG;
	assert_ok(skr_test_chain_report(&g->chain, &o, g->report, &err), err);
	assert_ok(gen_verify(g, g->report, g->chain.vcek, NULL, &err), err);
	assert_ok(skr_snp_report_parse(g->report, sizeof(g->report), &r, &err), err);
	assert_true(skr_snp_report_debug(&r));
	gen_free(g);
}

static void trust_anchor_file_rejects_non_amd(void **state)
{
	struct skr_amd_trust t;
	struct skr_err err = { 0 };
	static const char junk[] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";

	assert_ok(skr_amd_trust_init(&t, false, &err), err);
	assert_failed_with(skr_amd_trust_add_pem(&t, junk, sizeof(junk) - 1, &err), err,
			   SKR_R_malformed, "no PEM certificate");
	skr_amd_trust_free(&t);
}

int main(void)
{
	const struct CMUnitTest real_tests[] = {
		cmocka_unit_test(real_report_fields),
		cmocka_unit_test(real_report_verifies_with_builtin_roots),
		cmocka_unit_test(real_report_bit_flip_in_each_signed_field),
		cmocka_unit_test(signature_bits_above_384_refused),
		cmocka_unit_test(truncated_and_oversized_reports),
		cmocka_unit_test(unsupported_version_and_algorithm),
		cmocka_unit_test(binary_or_hex_input),
		cmocka_unit_test(builtin_roots_cover_three_products),
	};
	const struct CMUnitTest gen_tests[] = {
		cmocka_unit_test(generated_versions_2_to_5_verify),
		cmocka_unit_test(untrusted_chain_refused),
		cmocka_unit_test(presented_foreign_ark_refused),
		cmocka_unit_test(vcek_from_another_ask_refused),
		cmocka_unit_test(vcek_of_another_chip_refused),
		cmocka_unit_test(vcek_tcb_differs_names_component),
		cmocka_unit_test(turin_layout_and_fmc),
		cmocka_unit_test(vlek_chain_verifies),
		cmocka_unit_test(signer_kind_mismatch_refused),
		cmocka_unit_test(product_mismatch_refused),
		cmocka_unit_test(expired_vcek_refused),
		cmocka_unit_test(cached_chain_refused_after_ask_expiry),
		cmocka_unit_test(vcek_without_tcb_extensions_refused),
		cmocka_unit_test(debug_policy_reported),
		cmocka_unit_test(trust_anchor_file_rejects_non_amd),
	};
	int failed = cmocka_run_group_tests_name("snp_real", real_tests, real_setup, real_teardown);

	return failed + cmocka_run_group_tests_name("snp_generated", gen_tests, NULL, NULL);
}
