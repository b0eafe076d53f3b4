/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bare SEV-SNP (tee "snp"): the GHCB certificate table parser, the
 * REPORT_DATA binding, and the client's configfs-tsm path against the
 * stand-in (tests/helpers/faketsm.h) through to the broker's verification
 * of the evidence and the unwrap, with one refusal per broken link.
 */
#include "testutil.h"

#include <stdio.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "broker/broker.h"
#include "common/json_util.h"
#include "vm/broker_answer.h"

#include "faketsm.h"
#include "testchain.h"
#include "verify/evidence.h"
#include "verify/policy.h"
#include "verify/snp_bind.h"
#include "verify/snp_certs.h"
#include "verify/svsm_manifest.h"
#include "verify/wrap.h"
#include "vm/snp_evidence.h"
#include "vm/tsm.h"

static const uint8_t nonce[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
				   17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };

/* ---- the certificate table ---------------------------------------------- */

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

/* A blob of n entries (kinds, -1 for an unknown GUID) pointing at 8-byte certs after the table. */
static size_t table(uint8_t *blob, size_t cap, const int *kinds, size_t n)
{
	size_t off = (n + 1) * SKR_SNP_CERT_ENTRY_SIZE, i;

	memset(blob, 0, cap);
	for (i = 0; i < n; i++) {
		uint8_t *e = blob + i * SKR_SNP_CERT_ENTRY_SIZE;

		if (kinds[i] >= 0)
			memcpy(e, skr_snp_cert_guid[kinds[i]], 16);
		else
			memset(e, 0x5a, 16);
		put32(e + 16, (uint32_t)(off + 8 * i));
		put32(e + 20, 8);
		memset(blob + off + 8 * i, 0x30 + (int)i, 8);
	}
	return off + 8 * n;
}

static void certs_table_ok(void **state)
{
	static const int kinds[] = { SKR_SNP_CERT_VCEK, -1, SKR_SNP_CERT_ASK, SKR_SNP_CERT_ARK };
	uint8_t blob[512];
	size_t len = table(blob, sizeof(blob), kinds, 4);
	struct skr_snp_certs c;
	struct skr_err err = { 0 };

	(void)state;
	assert_ok(skr_snp_certs_parse(blob, len, &c, &err), err);
	assert_int_equal(c.len[SKR_SNP_CERT_VCEK], 8);
	assert_int_equal(c.der[SKR_SNP_CERT_VCEK][0], 0x30);
	assert_int_equal(c.der[SKR_SNP_CERT_ASK][0], 0x32);	/* the unknown entry was skipped */
	assert_int_equal(c.der[SKR_SNP_CERT_ARK][0], 0x33);
	assert_null(c.der[SKR_SNP_CERT_VLEK]);
}

static void certs_table_real(void **state)
{
	struct skr_test_chain_opts o = { .with_asvk = true };
	struct skr_test_vcek_opts v;
	struct skr_test_chain chain;
	struct skr_buf blob = { 0 };
	struct skr_snp_certs c;
	struct skr_err err = { 0 };

	(void)state;
	skr_test_vcek_opts_init(&v, "Milan");
	v.vlek = true;
	o.vcek = &v;
	assert_ok(skr_test_chain_new(&chain, &o, &err), err);
	assert_ok(skr_faketsm_cert_table(&chain, &blob, &err), err);
	assert_ok(skr_snp_certs_parse(blob.data, blob.len, &c, &err), err);
	assert_non_null(c.der[SKR_SNP_CERT_VLEK]);
	assert_null(c.der[SKR_SNP_CERT_VCEK]);
	assert_non_null(c.der[SKR_SNP_CERT_ARK]);
	skr_buf_free(&blob);
	skr_test_chain_free(&chain);
}

static void certs_table_refusals(void **state)
{
	static const int one[] = { SKR_SNP_CERT_VCEK }, dup[] = { SKR_SNP_CERT_VCEK, SKR_SNP_CERT_VCEK },
			 cas[] = { SKR_SNP_CERT_ASK, SKR_SNP_CERT_ARK };
	uint8_t blob[4096];
	size_t len;
	struct skr_snp_certs c;
	struct skr_err err = { 0 };

	(void)state;
	len = table(blob, sizeof(blob), one, 1);
	assert_failed_with(skr_snp_certs_parse(blob, 24, &c, &err), err, SKR_R_snp_certs_malformed,
			   "no terminating zero entry");
	skr_err_clear(&err);
	assert_failed_with(skr_snp_certs_parse(blob, len - 1, &c, &err), err,
			   SKR_R_snp_certs_malformed, "outside");	/* truncated certificate */
	skr_err_clear(&err);
	put32(blob + 16, 24);	/* the certificate overlaps the table */
	assert_failed_with(skr_snp_certs_parse(blob, len, &c, &err), err, SKR_R_snp_certs_malformed,
			   "outside");
	skr_err_clear(&err);
	len = table(blob, sizeof(blob), one, 1);
	put32(blob + 20, 0);
	assert_failed_with(skr_snp_certs_parse(blob, len, &c, &err), err, SKR_R_snp_certs_malformed,
			   "length 0");
	skr_err_clear(&err);
	put32(blob + 16, 0xfffffff0u);	/* offset + length wraps in 32 bits */
	put32(blob + 20, 0x20);
	assert_failed_with(skr_snp_certs_parse(blob, len, &c, &err), err, SKR_R_snp_certs_malformed,
			   "outside");
	skr_err_clear(&err);
	len = table(blob, sizeof(blob), dup, 2);
	assert_failed_with(skr_snp_certs_parse(blob, len, &c, &err), err, SKR_R_snp_certs_malformed,
			   "vcek GUID appears twice");
	skr_err_clear(&err);
	len = table(blob, sizeof(blob), cas, 2);
	assert_failed_with(skr_snp_certs_parse(blob, len, &c, &err), err, SKR_R_snp_certs_no_vcek,
			   NULL);
	skr_err_clear(&err);
	memset(blob, 0x11, sizeof(blob));	/* never a zero entry */
	assert_failed_with(skr_snp_certs_parse(blob, sizeof(blob), &c, &err), err,
			   SKR_R_snp_certs_malformed, "more than 64 entries");
}

/*
 * The ephemeral key's private scalar is in OpenSSL's secure heap (locked,
 * cleared on free): the heap grows when the key is made and shrinks back
 * when it is freed, and an unwrap with it leaves nothing behind there.
 */
static void soft_key_lives_in_secure_heap(void **state)
{
	uint8_t epk[SKR_WRAP_EPK_SIZE];
	EVP_PKEY *k = NULL;
	struct skr_err err = { 0 };
	size_t before, with_key;

	(void)state;
	assert_ok(skr_wrap_soft_key_new(&k, epk, &err), err);
	EVP_PKEY_free(k);
	assert_true(CRYPTO_secure_malloc_initialized());
	before = CRYPTO_secure_used();
	assert_ok(skr_wrap_soft_key_new(&k, epk, &err), err);
	with_key = CRYPTO_secure_used();
	assert_true(with_key > before);
	EVP_PKEY_free(k);
	assert_int_equal(CRYPTO_secure_used(), before);
}

/* ---- the binding --------------------------------------------------------- */

static void bind_is_sha512_of_label_nonce_epk(void **state)
{
	uint8_t epk[SKR_WRAP_EPK_SIZE], other[SKR_WRAP_EPK_SIZE], got[64], want[64], msg[10 + 32 + 65];
	unsigned int n;
	EVP_PKEY *k = NULL, *k2 = NULL;
	struct skr_err err = { 0 };

	(void)state;
	assert_ok(skr_wrap_soft_key_new(&k, epk, &err), err);
	assert_ok(skr_wrap_soft_key_new(&k2, other, &err), err);
	memcpy(msg, "skr-snp-v1", 10);
	memcpy(msg + 10, nonce, 32);
	memcpy(msg + 42, epk, 65);
	assert_int_equal(EVP_Digest(msg, sizeof(msg), want, &n, EVP_sha512(), NULL), 1);
	assert_ok(skr_snp_bind(nonce, 32, epk, got, &err), err);
	assert_memory_equal(got, want, 64);
	assert_ok(skr_snp_bind_check(got, nonce, 32, epk, &err), err);
	assert_failed_with(skr_snp_bind_check(got, nonce, 32, other, &err), err,
			   SKR_R_report_data_mismatch, NULL);
	skr_err_clear(&err);
	assert_failed_with(skr_snp_bind(nonce, 31, epk, got, &err), err, SKR_R_malformed, "31 bytes");
	skr_err_clear(&err);
	epk[0] = 0x02;
	assert_failed_with(skr_snp_bind(nonce, 32, epk, got, &err), err, SKR_R_malformed, "P-256");
	EVP_PKEY_free(k);
	EVP_PKEY_free(k2);
}

/* ---- through the stand-in to the broker's verification ------------------ */

struct snp {
	struct skr_test_chain chain;
	struct skr_faketsm tsm;
	struct skr_amd_trust trust;
	struct skr_policy policy;
};

static int policy_hook(const struct skr_snp_report *r, enum skr_snp_product product, void *ctx,
		       struct skr_err *err)
{
	return skr_policy_check_snp(ctx, r, product, err);
}

static void set_policy(struct snp *t, const char *extra)
{
	_cleanup_free_ char *m = skr_hex_encode(t->tsm.report.measurement, 48);
	char json[512];
	struct skr_err err = { 0 };

	snprintf(json, sizeof(json), "{\"tee\": \"snp\", \"snp\": {\"measurements\": [\"%s\"]%s}}",
		 m, extra);
	assert_ok(skr_policy_parse(json, &t->policy, &err), err);
	assert_ok(skr_policy_check_binding(&t->policy, &err), err);
}

static int start(struct snp *t, bool vlek)
{
	struct skr_test_chain_opts o = { .with_asvk = vlek };
	struct skr_test_vcek_opts v;
	struct skr_buf pem = { 0 };
	struct skr_err err = { 0 };

	memset(t, 0, sizeof(*t));
	skr_test_vcek_opts_init(&v, "Milan");
	v.vlek = vlek;
	o.vcek = &v;
	assert_ok(skr_test_chain_new(&t->chain, &o, &err), err);
	assert_ok(skr_amd_trust_init(&t->trust, false, &err), err);
	assert_ok(skr_test_chain_bundle_pem(&t->chain, vlek, &pem, &err), err);
	assert_ok(skr_amd_trust_add_pem(&t->trust, pem.data, pem.len, &err), err);
	skr_buf_free(&pem);
	assert_ok(skr_faketsm_start(&t->tsm, &t->chain, &err), err);
	set_policy(t, "");
	return 0;
}

static int setup_vcek(void **state)
{
	struct snp *t = calloc(1, sizeof(*t));

	start(t, false);
	*state = t;
	return 0;
}

static int setup_vlek(void **state)
{
	struct snp *t = calloc(1, sizeof(*t));

	start(t, true);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct snp *t = *state;

	skr_faketsm_stop(&t->tsm);
	skr_amd_trust_free(&t->trust);
	skr_test_chain_free(&t->chain);
	free(t);
	return 0;
}

/* The client's evidence for vm_nonce, verified against the broker's nonce; *key kept when asked. */
static int release(struct snp *t, const uint8_t *vm_nonce, const uint8_t *epk_override,
		   EVP_PKEY **key_out, struct skr_err *err)
{
	struct skr_evidence_policy pol = { .trust = &t->trust, .nonce = nonce, .nonce_len = 32,
					   .allow_debug = t->policy.allow_debug,
					   .snp_policy = policy_hook, .snp_policy_ctx = &t->policy };
	struct skr_evidence ev;
	struct skr_evidence_result res;
	json_object *obj = NULL;
	EVP_PKEY *key = NULL;
	int rc;

	if (skr_snp_evidence(t->tsm.root, vm_nonce, 32, &key, &obj, err) < 0)
		return -1;
	rc = skr_evidence_from_json(obj, &ev, err);
	json_object_put(obj);
	if (rc == 0 && epk_override)
		memcpy(ev.wrap_epk.data, epk_override, SKR_WRAP_EPK_SIZE);
	if (rc == 0) {
		rc = skr_evidence_verify(&ev, &pol, &res, err);
		skr_evidence_result_free(&res);
		skr_evidence_free(&ev);
	}
	if (key_out)
		*key_out = key;
	else
		EVP_PKEY_free(key);
	return rc;
}

static void release_and_unwrap(void **state)
{
	static const uint8_t secret[32] = "a LUKS key of thirty-two bytes!";
	struct snp *t = *state;
	struct skr_err err = { 0 };
	EVP_PKEY *key = NULL, *pub = NULL;
	uint8_t epk[SKR_WRAP_EPK_SIZE], out[SKR_WRAP_MAX_SECRET];
	struct skr_wrapped w;
	size_t len = 0, elen = 0;

	assert_ok(release(t, nonce, NULL, &key, &err), err);
	assert_int_equal(t->tsm.served, 1);
	assert_int_equal(EVP_PKEY_get_octet_string_param(key, "encoded-pub-key", epk, sizeof(epk),
							 &elen), 1);
	assert_ok(skr_wrap_point_key(epk, &pub, &err), err);
	assert_ok(skr_wrap(pub, nonce, 32, "k1", secret, sizeof(secret), &w, &err), err);
	assert_ok(skr_unwrap_with_key(key, &w, nonce, 32, "k1", out, &len, &err), err);
	assert_int_equal(len, sizeof(secret));
	assert_memory_equal(out, secret, sizeof(secret));
	EVP_PKEY_free(pub);
	EVP_PKEY_free(key);
}

static void refuse_other_nonce(void **state)
{
	struct snp *t = *state;
	uint8_t other[32] = { 9 };
	struct skr_err err = { 0 };

	assert_failed_with(release(t, other, NULL, NULL, &err), err, SKR_R_report_data_mismatch,
			   NULL);
}

static void refuse_other_key(void **state)
{
	struct snp *t = *state;
	uint8_t epk[SKR_WRAP_EPK_SIZE];
	EVP_PKEY *k = NULL;
	struct skr_err err = { 0 };

	assert_ok(skr_wrap_soft_key_new(&k, epk, &err), err);
	assert_failed_with(release(t, nonce, epk, NULL, &err), err, SKR_R_report_data_mismatch, NULL);
	EVP_PKEY_free(k);
}

static void refuse_debug(void **state)
{
	struct snp *t = *state;
	struct skr_err err = { 0 };

	t->tsm.report.policy |= SKR_TEST_POLICY_DEBUG;
	assert_failed_with(release(t, nonce, NULL, NULL, &err), err, SKR_R_snp_debug_enabled, NULL);
}

static void refuse_low_tcb(void **state)
{
	struct snp *t = *state;
	struct skr_err err = { 0 };

	set_policy(t, ", \"min_tcb\": {\"bootloader\": 3, \"tee\": 0, \"snp\": 9, \"microcode\": 115}");
	assert_failed_with(release(t, nonce, NULL, NULL, &err), err, SKR_R_snp_tcb_too_low, "snp 8");
}

static void refuse_unpinned_measurement(void **state)
{
	struct snp *t = *state;
	struct skr_err err = { 0 };

	t->tsm.report.measurement[0] ^= 1;
	assert_failed_with(release(t, nonce, NULL, NULL, &err), err,
			   SKR_R_snp_measurement_not_allowed, NULL);
}

static void refuse_other_chip(void **state)
{
	struct snp *t = *state;
	struct skr_test_chain other;
	struct skr_err err = { 0 };

	assert_ok(skr_test_chain_new(&other, NULL, &err), err);
	t->tsm.signer = other.vcek_key;
	assert_failed_with(release(t, nonce, NULL, NULL, &err), err, SKR_R_snp_signature_invalid,
			   NULL);
	t->tsm.signer = NULL;
	skr_test_chain_free(&other);
}

static void refuse_bad_table(void **state)
{
	struct snp *t = *state;
	struct skr_err err = { 0 };

	t->tsm.bad_table = true;
	assert_failed_with(release(t, nonce, NULL, NULL, &err), err, SKR_R_snp_certs_malformed,
			   "outside");
}

static void refuse_generation_change(void **state)
{
	struct snp *t = *state;
	struct skr_err err = { 0 };

	t->tsm.bump_generation = true;
	assert_failed_with(release(t, nonce, NULL, NULL, &err), err, SKR_R_tsm_generation_changed,
			   "another writer");
}

/* ---- the stand-in's SVSM mode (DESIGN 2.3.1) ---------------------------- */

static void svsm_mode(struct snp *t, struct skr_buf *ek)
{
	skr_test_read_hex_vector(VECTOR("svsm/ek-rsa2048.tpmt.hex"), ek);
	assert_true(ek->len <= sizeof(t->tsm.svsm_ek));
	memcpy(t->tsm.svsm_ek, ek->data, ek->len);
	t->tsm.svsm_ek_len = ek->len;
}

/* Linux hides service_provider without an SVSM: the client's probe says no, then yes. */
static void svsm_attributes_only_under_svsm(void **state)
{
	struct snp *t = *state;
	struct skr_buf ek = { 0 };

	assert_false(skr_tsm_svsm_present(t->tsm.root));
	svsm_mode(t, &ek);
	assert_true(skr_tsm_svsm_present(t->tsm.root));
	assert_int_equal(t->tsm.served, 0);
	skr_buf_free(&ek);
}

/* The SVSM's report: VMPL 0, REPORT_DATA = SHA-512(inblob || manifest), the EK in the manifest. */
static void svsm_report_binds_manifest(void **state)
{
	struct snp *t = *state;
	struct skr_buf ek = { 0 }, report = { 0 }, aux = { 0 }, manifest = { 0 };
	struct skr_snp_report r;
	struct skr_svsm_ek got;
	struct skr_err err = { 0 };
	uint8_t svsm_nonce[SKR_SVSM_NONCE_SIZE];

	svsm_mode(t, &ek);
	assert_ok(skr_svsm_nonce(nonce, 32, svsm_nonce, &err), err);
	assert_ok(skr_tsm_svsm_report(t->tsm.root, svsm_nonce, &report, &aux, &manifest, &err), err);
	assert_ok(skr_snp_report_parse(report.data, report.len, &r, &err), err);
	assert_int_equal(r.vmpl, 0);
	assert_ok(skr_svsm_report_check(&r, nonce, 32, SKR_SVSM_FORM_SERVICES, manifest.data,
					manifest.len, &got, &err), err);
	assert_int_equal(got.tpmt_len, ek.len);
	assert_memory_equal(got.tpmt, ek.data, ek.len);
	skr_buf_free(&report);
	skr_buf_free(&aux);
	skr_buf_free(&manifest);
	/* The knob: REPORT_DATA that does not bind the manifest. */
	t->tsm.svsm_unbound = true;
	assert_ok(skr_tsm_svsm_report(t->tsm.root, svsm_nonce, &report, &aux, &manifest, &err), err);
	assert_ok(skr_snp_report_parse(report.data, report.len, &r, &err), err);
	assert_failed_with(skr_svsm_report_check(&r, nonce, 32, SKR_SVSM_FORM_SERVICES,
						 manifest.data, manifest.len, &got, &err),
			   err, SKR_R_svsm_binding_mismatch, NULL);
	skr_buf_free(&report);
	skr_buf_free(&aux);
	skr_buf_free(&manifest);
	skr_buf_free(&ek);
}

/* snp-svsm's layout: the SVSM's report and manifest, the AK and activation; no EK of the VM's. */
static json_object *svsm_evidence(void)
{
	static uint8_t report[SKR_SNP_REPORT_SIZE];
	json_object *ev = json_object_new_object(), *certs = json_object_new_object(),
		    *quote = json_object_new_object();

	json_object_object_add(ev, "tee", json_object_new_string("snp-svsm"));
	skr_json_add_b64(ev, "report", report, sizeof(report));
	json_object_object_add(certs, "vcek", json_object_new_string("AA=="));
	json_object_object_add(ev, "certs", certs);
	json_object_object_add(ev, "manifest", json_object_new_string("AA=="));
	json_object_object_add(ev, "ak_public", json_object_new_string("AA=="));
	json_object_object_add(ev, "activation", json_object_new_string("AA=="));
	json_object_object_add(quote, "attest", json_object_new_string("AA=="));
	json_object_object_add(quote, "signature", json_object_new_string("AA=="));
	json_object_object_add(ev, "quote", quote);
	json_object_object_add(ev, "pcrs", json_object_new_object());
	return ev;
}

static void svsm_evidence_layout(void **state)
{
	static const char *const missing[] = { "report", "certs", "manifest", "ak_public",
						"activation" };
	static const char *const foreign[] = { "ek_public", "ek_cert", "hcl_report" };
	uint8_t big[SKR_SVSM_MANIFEST_MAX + 3] = { 0 };	/* past the encoded bound */
	struct skr_evidence ev;
	struct skr_err err = { 0 };
	json_object *obj = svsm_evidence();
	size_t i;

	(void)state;
	assert_ok(skr_evidence_from_json(obj, &ev, &err), err);
	assert_int_equal(ev.tee, SKR_TEE_SNP_SVSM);
	assert_int_equal(ev.svsm_manifest.len, 1);
	assert_int_equal(ev.snp_report.len, SKR_SNP_REPORT_SIZE);
	skr_evidence_free(&ev);
	json_object_put(obj);
	for (i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
		obj = svsm_evidence();
		json_object_object_del(obj, missing[i]);
		assert_failed_with(skr_evidence_from_json(obj, &ev, &err), err, SKR_R_malformed,
				   missing[i]);
		skr_err_clear(&err);
		json_object_put(obj);
	}
	for (i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++) {
		obj = svsm_evidence();
		json_object_object_add(obj, foreign[i], json_object_new_string("AA=="));
		assert_failed_with(skr_evidence_from_json(obj, &ev, &err), err, SKR_R_malformed,
				   "another mode's field");
		skr_err_clear(&err);
		json_object_put(obj);
	}
	obj = svsm_evidence();
	skr_json_add_b64(obj, "manifest", big, sizeof(big));
	assert_failed_with(skr_evidence_from_json(obj, &ev, &err), err, SKR_R_request_too_large,
			   "manifest");
	json_object_put(obj);
}

static void evidence_layout_refusals(void **state)
{
	static const char *const bad[][2] = {
		{ "{\"tee\": \"snp\", \"report\": \"AA==\", \"certs\": {\"vcek\": \"AA==\", \"vlek\": \"AA==\"}, "
		  "\"wrap_key\": {\"epk\": \"AA==\"}}", "both a VCEK and a VLEK" },
		{ "{\"tee\": \"snp\", \"report\": \"AA==\", \"certs\": {\"ask\": \"AA==\"}, "
		  "\"wrap_key\": {\"epk\": \"AA==\"}}", "\"vcek\"" },
		{ "{\"tee\": \"snp\", \"report\": \"AA==\", \"certs\": {\"vcek\": \"AA==\"}, "
		  "\"wrap_key\": {\"epk\": \"AA==\"}}", "report is 1 bytes" },
		{ "{\"tee\": \"snp\", \"report\": \"AA==\", \"certs\": {\"vcek\": \"AA==\"}}", "wrap_key" },
	};
	struct skr_evidence ev;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct skr_err err = { 0 };

		assert_failed_with(skr_evidence_parse(bad[i][0], strlen(bad[i][0]), &ev, &err), err,
				   SKR_R_malformed, bad[i][1]);
	}
}

static void refuse_snp_policy_with_pcrs(void **state)
{
	struct skr_policy p;
	struct skr_err err = { 0 };

	(void)state;
	assert_ok(skr_policy_parse("{\"tee\": \"snp\", \"snp\": {}}", &p, &err), err);
	assert_failed_with(skr_policy_check_binding(&p, &err), err, SKR_R_binding_too_weak,
			   "measurement");
	skr_err_clear(&err);
	assert_ok(skr_policy_parse("{\"tee\": \"snp\", \"pcrs\": {\"indexes\": [4]}}", &p, &err),
		  err);
	assert_failed_with(skr_policy_check_binding(&p, &err), err, SKR_R_policy_invalid,
			   "no vTPM");
}

/* ---- through the broker's release decision (in process) ----------------- */

struct fx {
	struct snp s;
	char dir[64];
	struct skr_broker b;
};

static int broker_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	_cleanup_free_ char *m = NULL;
	struct skr_buf pem = { 0 };
	struct skr_err err = { 0 };
	char db[128], mk[128], policy[256];
	uint8_t key[32];
	FILE *fp;

	start(&f->s, false);
	snprintf(f->dir, sizeof(f->dir), "/tmp/skr-snp-test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(db, sizeof(db), "%s/broker.db", f->dir);
	snprintf(mk, sizeof(mk), "%s/master.key", f->dir);
	RAND_bytes(key, sizeof(key));
	fp = fopen(mk, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(key, 1, sizeof(key), fp), sizeof(key));
	fclose(fp);
	chmod(mk, 0600);
	assert_ok(skr_store_open(db, mk, &f->b.store, &err), err);
	assert_ok(skr_amd_trust_init(&f->b.trust, true, &err), err);
	assert_ok(skr_test_chain_bundle_pem(&f->s.chain, false, &pem, &err), err);
	assert_ok(skr_amd_trust_add_pem(&f->b.trust, pem.data, pem.len, &err), err);
	skr_buf_free(&pem);
	f->b.nonce_secret = skr_secret_alloc(SKR_NONCE_SECRET_SIZE);
	RAND_bytes(f->b.nonce_secret, SKR_NONCE_SECRET_SIZE);
	skr_nonce_seen_init(&f->b.seen);
	skr_chain_cache_init(&f->b.chain_cache);
	skr_key_cache_init(&f->b.key_cache);
	f->b.nonce_ttl = 60;
	m = skr_hex_encode(f->s.tsm.report.measurement, 48);
	snprintf(policy, sizeof(policy), "{\"tee\": \"snp\", \"snp\": {\"measurements\": [\"%s\"]}}", m);
	assert_ok(skr_store_key_create(f->b.store, "disk-1", (const uint8_t *)"the-disk-secret-0123456789abcdef",
				       32, policy, NULL, &err), err);
	assert_ok(skr_store_key_create(f->b.store, "cvm-1", (const uint8_t *)"another-secret-0123456789abcdef!",
				       32, "{\"tee\": \"az-snp-vtpm\", \"pcrs\": {\"indexes\": [7]}}",
				       NULL, &err), err);
	*state = f;
	return 0;
}

static int broker_teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	skr_faketsm_stop(&f->s.tsm);
	skr_amd_trust_free(&f->s.trust);
	skr_test_chain_free(&f->s.chain);
	skr_store_close(f->b.store);
	skr_amd_trust_free(&f->b.trust);
	skr_nonce_seen_free(&f->b.seen);
	skr_secret_free(f->b.nonce_secret);
	skr_chain_cache_free(&f->b.chain_cache);
	skr_key_cache_free(&f->b.key_cache);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Challenge, evidence from the stand-in, release; the status, the reason, the answer. */
static unsigned broker_release(struct fx *f, const char *key_id, char reason[64], json_object **resp,
			       struct skr_buf *nonce_out, EVP_PKEY **key)
{
	struct skr_response ch = { 0 }, rel = { 0 };
	json_object *req = json_object_new_object(), *n, *ev = NULL, *r;
	struct skr_buf nb = { 0 };
	struct skr_err err = { 0 };
	uint8_t digest[32] = { 0 };

	json_object_object_add(req, "key_id", json_object_new_string(key_id));
	skr_broker_challenge(&f->b, req, "test", &ch);
	json_object_put(req);
	assert_int_equal(ch.status, 200);
	assert_true(json_object_object_get_ex(ch.body, "nonce", &n));
	assert_ok(skr_base64_decode(json_object_get_string(n), strlen(json_object_get_string(n)), &nb,
				    "nonce", &err), err);
	json_object_put(ch.body);
	assert_ok(skr_snp_evidence(f->s.tsm.root, nb.data, nb.len, key, &ev, &err), err);
	req = json_object_new_object();
	json_object_object_add(req, "key_id", json_object_new_string(key_id));
	skr_json_add_b64(req, "nonce", nb.data, nb.len);
	json_object_object_add(req, "evidence", ev);
	skr_broker_release(&f->b, req, "test", digest, &rel);
	json_object_put(req);
	reason[0] = 0;
	if (json_object_object_get_ex(rel.body, "reason", &r))
		snprintf(reason, 64, "%s", json_object_get_string(r));
	*resp = rel.body;
	*nonce_out = nb;
	return rel.status;
}

static void broker_releases_and_refuses(void **state)
{
	struct fx *f = *state;
	struct skr_buf bnonce = { 0 };
	struct skr_wrapped w;
	struct skr_err err = { 0 };
	json_object *resp = NULL;
	EVP_PKEY *key = NULL;
	uint8_t out[SKR_WRAP_MAX_SECRET];
	size_t len = 0;
	char reason[64];

	assert_int_equal(broker_release(f, "disk-1", reason, &resp, &bnonce, &key), 200);
	assert_ok(skr_answer_wrapped("test", resp, &w, &err), err);
	assert_ok(skr_unwrap_with_key(key, &w, bnonce.data, bnonce.len, "disk-1", out, &len, &err), err);
	assert_int_equal(len, 32);
	assert_memory_equal(out, "the-disk-secret-0123456789abcdef", 32);
	json_object_put(resp);
	EVP_PKEY_free(key);
	skr_buf_free(&bnonce);

	/* Each refusal by its reason, through the broker. */
	f->s.tsm.report.policy |= SKR_TEST_POLICY_DEBUG;
	assert_int_equal(broker_release(f, "disk-1", reason, &resp, &bnonce, &key), 403);
	assert_string_equal(reason, "snp_debug_enabled");
	json_object_put(resp), EVP_PKEY_free(key), skr_buf_free(&bnonce);
	f->s.tsm.report.policy &= ~SKR_TEST_POLICY_DEBUG;
	f->s.tsm.report.measurement[0] ^= 1;
	assert_int_equal(broker_release(f, "disk-1", reason, &resp, &bnonce, &key), 403);
	assert_string_equal(reason, "snp_measurement_not_allowed");
	json_object_put(resp), EVP_PKEY_free(key), skr_buf_free(&bnonce);
	f->s.tsm.report.measurement[0] ^= 1;
	assert_int_equal(broker_release(f, "cvm-1", reason, &resp, &bnonce, &key), 403);
	assert_string_equal(reason, "tee_mismatch");
	json_object_put(resp), EVP_PKEY_free(key), skr_buf_free(&bnonce);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(certs_table_ok),
		cmocka_unit_test(certs_table_real),
		cmocka_unit_test(certs_table_refusals),
		cmocka_unit_test(bind_is_sha512_of_label_nonce_epk),
		cmocka_unit_test(soft_key_lives_in_secure_heap),
		cmocka_unit_test(refuse_snp_policy_with_pcrs),
		cmocka_unit_test(evidence_layout_refusals),
		cmocka_unit_test(svsm_evidence_layout),
		cmocka_unit_test_setup_teardown(release_and_unwrap, setup_vcek, teardown),
		cmocka_unit_test_setup_teardown(release_and_unwrap, setup_vlek, teardown),
		cmocka_unit_test_setup_teardown(refuse_other_nonce, setup_vcek, teardown),
		cmocka_unit_test_setup_teardown(refuse_other_key, setup_vcek, teardown),
		cmocka_unit_test_setup_teardown(refuse_debug, setup_vcek, teardown),
		cmocka_unit_test_setup_teardown(refuse_low_tcb, setup_vcek, teardown),
		cmocka_unit_test_setup_teardown(refuse_unpinned_measurement, setup_vcek, teardown),
		cmocka_unit_test_setup_teardown(refuse_other_chip, setup_vcek, teardown),
		cmocka_unit_test_setup_teardown(refuse_bad_table, setup_vcek, teardown),
		cmocka_unit_test_setup_teardown(refuse_generation_change, setup_vcek, teardown),
		cmocka_unit_test_setup_teardown(svsm_attributes_only_under_svsm, setup_vcek, teardown),
		cmocka_unit_test_setup_teardown(svsm_report_binds_manifest, setup_vcek, teardown),
		cmocka_unit_test_setup_teardown(broker_releases_and_refuses, broker_setup,
						broker_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
