/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The broker's release decision, in process, against software VMs: the happy
 * path and the refusal matrix, each refusal asserting its reason code.  (The
 * same code over TLS with a real swtpm is tests/cli/test_release.sh.)
 */
#include "testutil.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <sqlite3.h>

#include "broker/broker.h"
#include "fakeazure.h"
#include "common/gate.h"
#include "common/pcr_json.h"
#include "softtl.h"
#include "softvm.h"

#define KEY "disk-1"
#define BASE_POLICY                                                                     \
	"{\"tee\": \"az-snp-vtpm\", \"snp\": {\"min_tcb\": {\"bootloader\": 3, \"tee\": 0, " \
	"\"snp\": 8, \"microcode\": 115}}, \"pcrs\": {\"bank\": \"sha256\", \"indexes\": [0, 7, 11]}}"

static const uint8_t secret[32] = "the-disk-secret-0123456789abcdef";

struct fx {
	char dir[64];
	struct skr_broker b;
	struct skr_softvm vm;
	struct skr_softtl *tl;	/* azure-tl: the VM's requests are made Trusted Launch */
};

static void write_master_key(const char *path)
{
	uint8_t key[32];
	FILE *f;

	RAND_bytes(key, sizeof(key));
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(key, 1, sizeof(key), f), sizeof(key));
	fclose(f);
	chmod(path, 0600);
}

static void add_refset_from_vm(struct fx *f)
{
	json_object *pcrs = skr_pcr_banks_to_json(&f->vm.pcrs);
	struct skr_err err = { 0 };
	int64_t id;

	assert_ok(skr_store_refset_add(f->b.store, KEY, "boot", "current",
				       json_object_to_json_string(pcrs), &id, NULL, &err), err);
	json_object_put(pcrs);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct skr_buf pem = { 0 };
	struct skr_err err = { 0 };
	char db[128], mk[128];

	snprintf(f->dir, sizeof(f->dir), "/tmp/skr-broker-test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(db, sizeof(db), "%s/broker.db", f->dir);
	snprintf(mk, sizeof(mk), "%s/master.key", f->dir);
	write_master_key(mk);
	assert_ok(skr_store_open(db, mk, &f->b.store, &err), err);
	assert_ok(skr_softvm_new(&f->vm, &err), err);
	assert_ok(skr_amd_trust_init(&f->b.trust, true, &err), err);
	assert_ok(skr_softvm_trust_pem(&f->vm, &pem, &err), err);
	assert_ok(skr_amd_trust_add_pem(&f->b.trust, pem.data, pem.len, &err), err);
	skr_buf_free(&pem);
	f->b.nonce_secret = skr_secret_alloc(SKR_NONCE_SECRET_SIZE);
	assert_non_null(f->b.nonce_secret);
	RAND_bytes(f->b.nonce_secret, SKR_NONCE_SECRET_SIZE);
	skr_nonce_seen_init(&f->b.seen);
	skr_chain_cache_init(&f->b.chain_cache);
	skr_key_cache_init(&f->b.key_cache);
	f->b.nonce_ttl = 60;
	assert_ok(skr_store_key_create(f->b.store, KEY, secret, sizeof(secret), BASE_POLICY, NULL,
				       &err), err);
	add_refset_from_vm(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	skr_softvm_free(&f->vm);
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

/* One exchange as a VM does it; returns the HTTP status, reason in *reason. */
static unsigned run_release(struct fx *f, const char *key_id, const uint8_t *nonce_override,
			    char *reason, size_t reason_size, json_object **resp_out,
			    struct skr_buf *nonce_out)
{
	struct skr_response ch = { 0 }, rel = { 0 };
	json_object *req = json_object_new_object(), *n, *r;
	struct skr_buf nonce = { 0 };
	struct skr_err err = { 0 };
	uint8_t digest[32] = { 0 };
	unsigned status;

	json_object_object_add(req, "key_id", json_object_new_string(KEY));
	skr_broker_challenge(&f->b, req, "test", &ch);
	json_object_put(req);
	assert_int_equal(ch.status, 200);
	assert_true(json_object_object_get_ex(ch.body, "nonce", &n));
	assert_ok(skr_base64_decode(json_object_get_string(n), strlen(json_object_get_string(n)),
				    &nonce, "nonce", &err), err);
	json_object_put(ch.body);
	if (nonce_override)
		memcpy(nonce.data, nonce_override, nonce.len);
	assert_ok(skr_softvm_request(&f->vm, key_id, nonce.data, nonce.len, &req, &err), err);
	if (f->tl)
		assert_ok(skr_softtl_convert(f->tl, f->vm.ak, req, &err), err);
	skr_broker_release(&f->b, req, "test", digest, &rel);
	json_object_put(req);
	status = rel.status;
	reason[0] = 0;
	if (json_object_object_get_ex(rel.body, "reason", &r))
		snprintf(reason, reason_size, "%s", json_object_get_string(r));
	if (resp_out)
		*resp_out = rel.body;
	else
		json_object_put(rel.body);
	if (nonce_out)
		*nonce_out = nonce;
	else
		skr_buf_free(&nonce);
	return status;
}

static void expect_refusal(struct fx *f, const char *want_reason)
{
	char reason[64];
	unsigned status = run_release(f, KEY, NULL, reason, sizeof(reason), NULL, NULL);

	if (status != 403 || strcmp(reason, want_reason) != 0)
		fail_msg("expected 403 %s, got %u %s", want_reason, status, reason);
}

static void set_policy(struct fx *f, const char *policy)
{
	struct skr_err err = { 0 };

	assert_ok(skr_store_key_set_policy(f->b.store, KEY, policy, NULL, &err), err);
}

static void reseal(struct fx *f)
{
	struct skr_err err = { 0 };

	assert_ok(skr_softvm_seal(&f->vm, &err), err);
}

static void release_succeeds_and_unwraps(void **state)
{
	struct fx *f = *state;
	struct skr_buf nonce = { 0 };
	struct skr_err err = { 0 };
	json_object *resp = NULL;
	uint8_t out[SKR_WRAP_MAX_SECRET];
	size_t len = 0;
	char reason[64];

	assert_int_equal(run_release(f, KEY, NULL, reason, sizeof(reason), &resp, &nonce), 200);
	assert_ok(skr_softvm_unwrap(&f->vm, resp, KEY, nonce.data, nonce.len, out, &len, &err), err);
	assert_int_equal(len, sizeof(secret));
	assert_memory_equal(out, secret, sizeof(secret));
	/* Another "vTPM" (another wrap key) cannot open the same answer. */
	EVP_PKEY_free(f->vm.wrap_key);
	f->vm.wrap_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_failed_with(skr_softvm_unwrap(&f->vm, resp, KEY, nonce.data, nonce.len, out, &len, &err),
			   err, SKR_R_malformed, NULL);
	json_object_put(resp);
	skr_buf_free(&nonce);
}

static void refuse_debug_vm(void **state)
{
	struct fx *f = *state;

	f->vm.report.policy |= SKR_TEST_POLICY_DEBUG;
	reseal(f);
	expect_refusal(f, "snp_debug_enabled");
}

static void refuse_tcb_below_minimum(void **state)
{
	struct fx *f = *state;
	struct skr_test_vcek_opts v = f->vm.chain.vcek_opts;
	struct skr_err err = { 0 };

	v.key = NULL;
	v.snp_spl = 7;	/* a genuine chip on older firmware: VCEK and report agree */
	assert_ok(skr_test_chain_issue_vcek(&f->vm.chain, &v, &err), err);
	skr_test_report_opts_init(&f->vm.report, &f->vm.chain.vcek_opts);
	reseal(f);
	expect_refusal(f, "snp_tcb_too_low");
}

static void refuse_measurement_not_allowed(void **state)
{
	struct fx *f = *state;

	set_policy(f, "{\"snp\": {\"measurements\": [\"" /* 48 bytes of 0xaa */
		      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		      "\"]}, \"pcrs\": {\"indexes\": [0]}}");
	expect_refusal(f, "snp_measurement_not_allowed");
}

static void refuse_vmpl(void **state)
{
	struct fx *f = *state;

	f->vm.report.vmpl = 2;
	reseal(f);
	expect_refusal(f, "snp_vmpl_not_allowed");
}

static void refuse_host_data_and_id_key_pins(void **state)
{
	struct fx *f = *state;

	set_policy(f, "{\"snp\": {\"host_data\": "
		      "\"0101010101010101010101010101010101010101010101010101010101010101\"}, "
		      "\"pcrs\": {\"indexes\": [0]}}");
	expect_refusal(f, "snp_host_data_mismatch");
	set_policy(f, "{\"snp\": {\"id_key_digest\": \"02020202020202020202020202020202020202020202"
		      "0202020202020202020202020202020202020202020202020202\"}, "
		      "\"pcrs\": {\"indexes\": [0]}}");
	expect_refusal(f, "snp_id_key_mismatch");
}

static void refuse_vcek_of_another_chip(void **state)
{
	struct fx *f = *state;
	struct skr_softvm other;
	struct skr_err err = { 0 };

	assert_ok(skr_softvm_new_on(&other, &f->vm.chain, 99, &err), err);
	f->vm.vcek_override = other.chain.vcek;
	expect_refusal(f, "vcek_chip_mismatch");
	f->vm.vcek_override = NULL;
	skr_softvm_free(&other);
}

static void refuse_untrusted_chain(void **state)
{
	struct fx *f = *state;
	struct skr_softvm stranger;
	struct skr_err err = { 0 };

	/* A VM whose AMD chain the broker does not trust. */
	assert_ok(skr_softvm_new(&stranger, &err), err);
	skr_softvm_free(&f->vm);
	f->vm = stranger;
	expect_refusal(f, "chain_signature_invalid");
}

static void refuse_expired_vcek(void **state)
{
	struct fx *f = *state;
	struct skr_test_vcek_opts v = f->vm.chain.vcek_opts;
	struct skr_err err = { 0 };

	v.key = NULL;
	v.not_before_offset = -10 * 86400;
	v.not_after_offset = -86400;
	assert_ok(skr_test_chain_issue_vcek(&f->vm.chain, &v, &err), err);
	reseal(f);
	expect_refusal(f, "cert_expired");
}

static void refuse_tampered_claims(void **state)
{
	struct fx *f = *state;

	f->vm.tamper_claims = true;
	expect_refusal(f, "hcl_claims_hash_mismatch");
}

static void refuse_claims_without_ak(void **state)
{
	struct fx *f = *state;

	f->vm.claims_without_ak = true;
	reseal(f);
	expect_refusal(f, "hcl_ak_missing");
}

static void refuse_swapped_ak(void **state)
{
	struct fx *f = *state;

	f->vm.quote_signer = skr_test_rsa_key();
	expect_refusal(f, "quote_signature_invalid");
	EVP_PKEY_free(f->vm.quote_signer);
	f->vm.quote_signer = NULL;
}

static void refuse_stale_quote_nonce(void **state)
{
	struct fx *f = *state;

	f->vm.quote_other_nonce = true;
	expect_refusal(f, "quote_nonce_mismatch");
}

static void refuse_replayed_nonce(void **state)
{
	struct fx *f = *state;
	struct skr_buf nonce = { 0 };
	char reason[64];

	assert_int_equal(run_release(f, KEY, NULL, reason, sizeof(reason), NULL, &nonce), 200);
	/* The same nonce again: refused even though everything else is fine. */
	assert_int_equal(run_release(f, KEY, nonce.data, reason, sizeof(reason), NULL, NULL), 403);
	assert_string_equal(reason, "nonce_replayed");
	skr_buf_free(&nonce);
}

static void refuse_foreign_and_expired_nonce(void **state)
{
	struct fx *f = *state;
	uint8_t n[SKR_NONCE_SIZE];
	struct skr_err err = { 0 };
	time_t exp;
	char reason[64];

	/* Issued for another key id. */
	assert_ok(skr_nonce_issue(f->b.nonce_secret, "disk-2", time(NULL), 60, n, &exp, &err), err);
	assert_int_equal(run_release(f, KEY, n, reason, sizeof(reason), NULL, NULL), 403);
	assert_string_equal(reason, "nonce_invalid");
	/* Issued by another broker (another secret). */
	assert_ok(skr_nonce_issue((const uint8_t *)"another-broker-secret-0123456789", KEY,
				  time(NULL), 60, n, &exp, &err), err);
	assert_int_equal(run_release(f, KEY, n, reason, sizeof(reason), NULL, NULL), 403);
	assert_string_equal(reason, "nonce_invalid");
	/* Issued long ago. */
	assert_ok(skr_nonce_issue(f->b.nonce_secret, KEY, time(NULL) - 600, 60, n, &exp, &err), err);
	assert_int_equal(run_release(f, KEY, n, reason, sizeof(reason), NULL, NULL), 403);
	assert_string_equal(reason, "nonce_expired");
}

static void refuse_pcr_not_in_reference_sets(void **state)
{
	struct fx *f = *state;

	f->vm.pcrs.bank[0].value[7][0] ^= 0x55;	/* another boot state, honestly quoted */
	expect_refusal(f, "pcr_mismatch");
}

static void refuse_pcr_not_quoted(void **state)
{
	struct fx *f = *state;

	f->vm.quote_mask &= ~(1u << 11);
	expect_refusal(f, "pcr_not_quoted");
}

static void refuse_certify_of_another_key(void **state)
{
	struct fx *f = *state;

	f->vm.certify_other_key = true;
	expect_refusal(f, "certify_name_mismatch");
}

static void refuse_certify_by_another_key(void **state)
{
	struct fx *f = *state;

	f->vm.certify_signer = skr_test_rsa_key();
	expect_refusal(f, "certify_signature_invalid");
	EVP_PKEY_free(f->vm.certify_signer);
	f->vm.certify_signer = NULL;
}

static void refuse_certify_other_nonce(void **state)
{
	struct fx *f = *state;

	f->vm.certify_other_nonce = true;
	expect_refusal(f, "certify_nonce_mismatch");
}

static void refuse_wrap_key_without_fixedtpm(void **state)
{
	struct fx *f = *state;

	f->vm.wrap_attrs &= ~TPMA_OBJECT_FIXEDTPM;
	expect_refusal(f, "wrap_key_attributes");
}

static void refuse_wrap_key_with_sign(void **state)
{
	struct fx *f = *state;

	f->vm.wrap_attrs |= TPMA_OBJECT_SIGN_ENCRYPT;
	expect_refusal(f, "wrap_key_attributes");
}

/* A primary of the owner hierarchy could be made again in a later boot: refused. */
static void refuse_wrap_key_of_owner_hierarchy(void **state)
{
	struct fx *f = *state;

	f->vm.wrap_hierarchy = TPM2_RH_OWNER;
	expect_refusal(f, "wrap_key_hierarchy");
}

static void refuse_unknown_key(void **state)
{
	struct fx *f = *state;
	char reason[64];

	assert_int_equal(run_release(f, "disk-9", NULL, reason, sizeof(reason), NULL, NULL), 403);
	assert_string_equal(reason, "key_unknown");
}

static void refuse_no_vcek_anywhere(void **state)
{
	struct fx *f = *state;
	char reason[64];

	f->vm.include_vcek = false;
	assert_int_equal(run_release(f, KEY, NULL, reason, sizeof(reason), NULL, NULL), 400);
	assert_string_equal(reason, "usage");
}

static void malformed_requests_are_400(void **state)
{
	static const char *const bodies[] = {
		"{}",
		"{\"key_id\": \"" KEY "\"}",
		"{\"key_id\": \"" KEY "\", \"nonce\": \"!!\"}",
		"{\"key_id\": \"../etc\", \"nonce\": \"AAAA\"}",
		"{\"key_id\": 5}",
	};
	struct fx *f = *state;
	uint8_t digest[32] = { 0 };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bodies); i++) {
		json_object *req = json_tokener_parse(bodies[i]);
		struct skr_response r = { 0 };

		skr_broker_release(&f->b, req, "test", digest, &r);
		if (r.status != 400)
			fail_msg("%s: status %u", bodies[i], r.status);
		json_object_put(r.body);
		json_object_put(req);
	}
}

static void verified_chains_are_cached(void **state)
{
	struct fx *f = *state;
	char reason[64];

	assert_int_equal(run_release(f, KEY, NULL, reason, sizeof(reason), NULL, NULL), 200);
	assert_int_equal(run_release(f, KEY, NULL, reason, sizeof(reason), NULL, NULL), 200);
	assert_int_equal(f->b.chain_cache.misses, 1);
	assert_int_equal(f->b.chain_cache.hits, 1);
	/* A cached VCEK is still matched against each report: a lower TCB is caught. */
	f->vm.report.reported_tcb = skr_test_tcb_milan(3, 0, 9, 115);
	reseal(f);
	assert_int_equal(run_release(f, KEY, NULL, reason, sizeof(reason), NULL, NULL), 403);
	assert_string_equal(reason, "vcek_tcb_mismatch");
}

/*
 * A stored secret that does not decrypt (a damaged tag, another master key, a
 * row moved from another key) is the broker's fault: 500 with its reason, so
 * a client counts it as this broker failing and tries the next, never as a
 * final refusal.
 */
static void store_decrypt_failure_is_500(void **state)
{
	struct fx *f = *state;
	json_object *body = NULL, *v;
	sqlite3 *db = NULL;
	char path[128], reason[64];

	snprintf(path, sizeof(path), "%s/broker.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE keys SET secret_tag = zeroblob(16)", NULL, NULL,
				      NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(run_release(f, KEY, NULL, reason, sizeof(reason), &body, NULL), 500);
	assert_string_equal(reason, "store_decrypt_failed");
	assert_true(json_object_object_get_ex(body, "error", &v));
	assert_string_equal(json_object_get_string(v), "internal error");
	assert_false(json_object_object_get_ex(body, "wrapped", &v));
	json_object_put(body);
}

/* Cached policies follow writes: through this store and through another connection. */
static void key_cache_follows_writes(void **state)
{
	struct fx *f = *state;
	struct skr_store *other = NULL;
	struct skr_err err = { 0 };
	char db[128], mk[128], reason[64];

	assert_int_equal(run_release(f, KEY, NULL, reason, sizeof(reason), NULL, NULL), 200);
	set_policy(f, "{\"snp\": {\"max_vmpl\": 0, \"host_data\": "
		      "\"0101010101010101010101010101010101010101010101010101010101010101\"}, "
		      "\"pcrs\": {\"indexes\": [0]}}");
	expect_refusal(f, "snp_host_data_mismatch");
	/* Another process (here: another connection) puts the base policy back. */
	snprintf(db, sizeof(db), "%s/broker.db", f->dir);
	snprintf(mk, sizeof(mk), "%s/master.key", f->dir);
	assert_ok(skr_store_open(db, mk, &other, &err), err);
	assert_ok(skr_store_key_set_policy(other, KEY, BASE_POLICY, NULL, &err), err);
	skr_store_close(other);
	assert_int_equal(run_release(f, KEY, NULL, reason, sizeof(reason), NULL, NULL), 200);
}

/* The admin API: status and reason of one call. */
static unsigned admin_call(struct fx *f, const char *method, const char *path, const char *body,
			   char *reason, size_t reason_size)
{
	struct skr_response resp = { 0 };
	json_object *req = body ? json_tokener_parse(body) : NULL, *r;
	unsigned status;

	assert_true(!body || req);
	skr_broker_admin(&f->b, method, path, req, "test", &resp);
	json_object_put(req);
	status = resp.status;
	reason[0] = 0;
	if (resp.body && json_object_object_get_ex(resp.body, "reason", &r))
		snprintf(reason, reason_size, "%s", json_object_get_string(r));
	json_object_put(resp.body);
	return status;
}

/* SQL on the broker's database from another connection, as another process would. */
static void db_exec(struct fx *f, const char *sql)
{
	sqlite3 *db = NULL;
	char path[128], *msg = NULL;

	snprintf(path, sizeof(path), "%s/broker.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("SQL failed: %s", msg);
	sqlite3_close(db);
}

#define ZERO_PCRS "{\"sha256\": {\"7\": \"" \
	"0000000000000000000000000000000000000000000000000000000000000000\"}}"
#define NEW_KEY_BODY "{\"key_id\": \"disk-2\", \"secret\": \"c2VjcmV0\", \"policy\": " \
	BASE_POLICY "}"

/*
 * Admin changes are fail-closed: with the audit insert refused (a trigger,
 * as a full disk refuses it), every change answers 500 audit_failed and
 * does not land, and each lost row is counted; a call that changed nothing
 * keeps its own answer.  With the trigger gone the same change lands with
 * its "allow" row.
 */
static void admin_changes_need_their_audit_row(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *policy = NULL, *sets = NULL, *audit = NULL;
	struct skr_err err = { 0 };
	unsigned long failures = atomic_load(&f->b.metrics.audit_failures);
	json_object *rows, *v;
	char reason[64];

	db_exec(f, "CREATE TRIGGER audit_refused BEFORE INSERT ON audit "
		   "WHEN NEW.action LIKE 'admin:%' "
		   "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;");
	assert_int_equal(admin_call(f, "POST", "/v1/keys", NEW_KEY_BODY, reason, sizeof(reason)), 500);
	assert_string_equal(reason, "audit_failed");
	assert_int_equal(admin_call(f, "PUT", "/v1/keys/" KEY "/policy",
				    "{\"pcrs\": {\"indexes\": [0]}}", reason, sizeof(reason)), 500);
	assert_string_equal(reason, "audit_failed");
	assert_int_equal(admin_call(f, "POST", "/v1/keys/" KEY "/refsets",
				    "{\"label\": \"x\", \"pcrs\": " ZERO_PCRS "}", reason,
				    sizeof(reason)), 500);
	assert_string_equal(reason, "audit_failed");
	assert_int_equal(admin_call(f, "DELETE", "/v1/keys/" KEY "/refsets/1", NULL, reason,
				    sizeof(reason)), 500);
	assert_string_equal(reason, "audit_failed");
	assert_int_equal(admin_call(f, "DELETE", "/v1/keys/" KEY, NULL, reason, sizeof(reason)), 500);
	assert_string_equal(reason, "audit_failed");
	assert_int_equal(atomic_load(&f->b.metrics.audit_failures), failures + 5);

	/* Nothing landed. */
	assert_int_equal(admin_call(f, "GET", "/v1/keys/disk-2", NULL, reason, sizeof(reason)), 404);
	assert_ok(skr_store_key_policy(f->b.store, KEY, &policy, &err), err);
	assert_non_null(strstr(policy, "min_tcb"));
	assert_ok(skr_store_refset_list(f->b.store, KEY, &sets, &err), err);
	rows = json_tokener_parse(sets);
	assert_int_equal(json_object_array_length(rows), 1);
	json_object_put(rows);
	assert_int_equal(run_release(f, KEY, NULL, reason, sizeof(reason), NULL, NULL), 200);

	/* A call that changed nothing answers for itself; its lost "error" row is counted. */
	assert_int_equal(admin_call(f, "DELETE", "/v1/keys/nope", NULL, reason, sizeof(reason)), 404);
	assert_int_equal(atomic_load(&f->b.metrics.audit_failures), failures + 6);

	db_exec(f, "DROP TRIGGER audit_refused;");
	assert_int_equal(admin_call(f, "POST", "/v1/keys", NEW_KEY_BODY, reason, sizeof(reason)), 201);
	assert_ok(skr_store_audit_query(f->b.store, NULL, 1, &audit, &err), err);
	rows = json_tokener_parse(audit);
	assert_true(json_object_object_get_ex(json_object_array_get_idx(rows, 0), "action", &v));
	assert_string_equal(json_object_get_string(v), "admin:POST");
	assert_true(json_object_object_get_ex(json_object_array_get_idx(rows, 0), "verdict", &v));
	assert_string_equal(json_object_get_string(v), "allow");
	json_object_put(rows);
	assert_int_equal(atomic_load(&f->b.metrics.audit_failures), failures + 6);
}

/* A reference set's label is optional: absent, null or "" all add a set without one. */
static void admin_refset_label_optional(void **state)
{
	static const char *const bodies[] = {
		"{\"state\": \"pending\", \"pcrs\": " ZERO_PCRS "}",
		"{\"label\": null, \"pcrs\": " ZERO_PCRS "}",
		"{\"label\": \"\", \"pcrs\": " ZERO_PCRS "}",
	};
	struct fx *f = *state;
	_cleanup_free_ char *sets = NULL;
	struct skr_err err = { 0 };
	json_object *rows, *label;
	char reason[64];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bodies); i++)
		assert_int_equal(admin_call(f, "POST", "/v1/keys/" KEY "/refsets", bodies[i], reason,
					    sizeof(reason)), 201);
	assert_int_equal(admin_call(f, "POST", "/v1/keys/" KEY "/refsets",
				    "{\"label\": 7, \"pcrs\": " ZERO_PCRS "}", reason, sizeof(reason)),
			 400);
	assert_string_equal(reason, "malformed");
	assert_int_equal(admin_call(f, "POST", "/v1/keys/" KEY "/refsets",
				    "{\"label\": \" lead\", \"pcrs\": " ZERO_PCRS "}", reason,
				    sizeof(reason)), 400);
	assert_string_equal(reason, "malformed");
	assert_ok(skr_store_refset_list(f->b.store, KEY, &sets, &err), err);
	rows = json_tokener_parse(sets);
	assert_int_equal(json_object_array_length(rows), 4);	/* "boot" and the three */
	for (i = 1; i < 4; i++) {
		assert_true(json_object_object_get_ex(json_object_array_get_idx(rows, i), "label",
						      &label));
		assert_string_equal(json_object_get_string(label), "");
	}
	json_object_put(rows);
}

/* A policy without PCRs is refused when created or set, and never used when stored. */
static void refuse_empty_and_gate_bindings(void **state)
{
	static const char *const empty[] = {
		"{}",
		"{\"tee\": \"az-snp-vtpm\", \"snp\": {\"max_vmpl\": 0}}",
		"{\"pcrs\": {\"bank\": \"sha256\", \"indexes\": []}}",
	};
	struct fx *f = *state;
	struct skr_response ch = { 0 }, rel = { 0 };
	struct skr_buf nonce = { 0 };
	struct skr_err err = { 0 };
	json_object *req, *n, *r;
	uint8_t digest[32] = { 0 };
	char reason[64], body[512];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(empty); i++) {
		snprintf(body, sizeof(body),
			 "{\"key_id\": \"weak-%zu\", \"secret\": \"c2VjcmV0\", \"policy\": %s}", i,
			 empty[i]);
		assert_int_equal(admin_call(f, "POST", "/v1/keys", body, reason, sizeof(reason)), 400);
		assert_string_equal(reason, "binding_too_weak");
		assert_int_equal(admin_call(f, "PUT", "/v1/keys/" KEY "/policy", empty[i], reason,
					    sizeof(reason)), 400);
		assert_string_equal(reason, "binding_too_weak");
	}
	assert_int_equal(admin_call(f, "PUT", "/v1/keys/" KEY "/policy",
				    "{\"pcrs\": {\"indexes\": [7, 15]}}", reason, sizeof(reason)), 400);
	assert_string_equal(reason, "policy_invalid");
	assert_int_equal(admin_call(f, "GET", "/v1/keys/weak-0", NULL, reason, sizeof(reason)), 404);
	/* The key still works with its own policy. */
	assert_int_equal(run_release(f, KEY, NULL, reason, sizeof(reason), NULL, NULL), 200);

	/* A policy stored before the rule (written to the store directly): fail closed. */
	req = json_object_new_object();
	json_object_object_add(req, "key_id", json_object_new_string(KEY));
	skr_broker_challenge(&f->b, req, "test", &ch);
	assert_int_equal(ch.status, 200);
	assert_true(json_object_object_get_ex(ch.body, "nonce", &n));
	assert_ok(skr_base64_decode(json_object_get_string(n), strlen(json_object_get_string(n)),
				    &nonce, "nonce", &err), err);
	json_object_put(ch.body);
	set_policy(f, "{\"tee\": \"az-snp-vtpm\"}");
	memset(&ch, 0, sizeof(ch));
	skr_broker_challenge(&f->b, req, "test", &ch);
	json_object_put(req);
	assert_int_equal(ch.status, 403);
	assert_true(json_object_object_get_ex(ch.body, "reason", &r));
	assert_string_equal(json_object_get_string(r), "binding_too_weak");
	json_object_put(ch.body);
	assert_ok(skr_softvm_request(&f->vm, KEY, nonce.data, nonce.len, &req, &err), err);
	skr_broker_release(&f->b, req, "test", digest, &rel);
	json_object_put(req);
	assert_int_equal(rel.status, 403);
	assert_true(json_object_object_get_ex(rel.body, "reason", &r));
	assert_string_equal(json_object_get_string(r), "binding_too_weak");
	assert_null(json_object_object_get_ex(rel.body, "wrapped", &r) ? r : NULL);
	json_object_put(rel.body);
	skr_buf_free(&nonce);
}

/*
 * The client quotes the sha256 bank only: a policy of another bank could
 * never be satisfied (pcr_not_quoted at every release), so it is refused
 * where it is parsed: by the parser, hence at creation and at every update.
 */
static void policy_bank_must_be_sha256(void **state)
{
	static const char *const banks[] = { "sha1", "sha384", "sha512", "sm3_256" };
	struct fx *f = *state;
	struct skr_response ch = { 0 };
	struct skr_policy p;
	struct skr_err err = { 0 };
	json_object *req, *r;
	char policy[128], body[256], reason[64];
	size_t i;

	assert_ok(skr_policy_parse("{\"pcrs\": {\"indexes\": [7]}}", &p, &err), err);
	assert_int_equal(p.pcr_bank, SKR_TPM_ALG_SHA256);
	assert_ok(skr_policy_parse("{\"pcrs\": {\"bank\": \"sha256\", \"indexes\": [7]}}", &p, &err),
		  err);
	assert_int_equal(p.pcr_bank, SKR_TPM_ALG_SHA256);
	for (i = 0; i < ARRAY_SIZE(banks); i++) {
		snprintf(policy, sizeof(policy), "{\"pcrs\": {\"bank\": \"%s\", \"indexes\": [7]}}",
			 banks[i]);
		skr_err_clear(&err);
		assert_failed_with(skr_policy_parse(policy, &p, &err), err, SKR_R_policy_invalid,
				   "pcrs.bank must be \"sha256\"");
		snprintf(body, sizeof(body),
			 "{\"key_id\": \"bank-%zu\", \"secret\": \"c2VjcmV0\", \"policy\": %s}", i,
			 policy);
		assert_int_equal(admin_call(f, "POST", "/v1/keys", body, reason, sizeof(reason)), 400);
		assert_string_equal(reason, "policy_invalid");
		assert_int_equal(admin_call(f, "PUT", "/v1/keys/" KEY "/policy", policy, reason,
					    sizeof(reason)), 400);
		assert_string_equal(reason, "policy_invalid");
	}
	assert_int_equal(admin_call(f, "GET", "/v1/keys/bank-0", NULL, reason, sizeof(reason)), 404);
	/* The key keeps its own policy and still works. */
	assert_int_equal(run_release(f, KEY, NULL, reason, sizeof(reason), NULL, NULL), 200);
	/* A policy stored before the rule (written to the store directly): fail closed. */
	set_policy(f, "{\"pcrs\": {\"bank\": \"sha1\", \"indexes\": [7]}}");
	req = json_object_new_object();
	json_object_object_add(req, "key_id", json_object_new_string(KEY));
	skr_broker_challenge(&f->b, req, "test", &ch);
	json_object_put(req);
	assert_int_equal(ch.status, 400);
	assert_true(json_object_object_get_ex(ch.body, "reason", &r));
	assert_string_equal(json_object_get_string(r), "policy_invalid");
	assert_false(json_object_object_get_ex(ch.body, "nonce", &r));
	json_object_put(ch.body);
}

static void decisions_are_audited(void **state)
{
	struct fx *f = *state;
	struct skr_err err = { 0 };
	char *text = NULL, reason[64];

	run_release(f, KEY, NULL, reason, sizeof(reason), NULL, NULL);
	f->vm.quote_other_nonce = true;
	run_release(f, KEY, NULL, reason, sizeof(reason), NULL, NULL);
	assert_ok(skr_store_audit_query(f->b.store, KEY, 10, &text, &err), err);
	assert_non_null(strstr(text, "\"allow\""));
	assert_non_null(strstr(text, "quote_nonce_mismatch"));
	free(text);
}

/* ---- The boot gate (PCR 15, gate.h) ---------------------------------------------- */

#define EV_OPEN "skr/v1 opened key=" KEY " method=attestation"
#define EV_PASS "skr/v1 opened method=passphrase"
#define EV_HANDOVER "skr/v1 handover"
#define RESEAL_POLICY                                                                   \
	"{\"tee\": \"az-snp-vtpm\", \"snp\": {\"min_tcb\": {\"bootloader\": 3, \"tee\": 0, " \
	"\"snp\": 8, \"microcode\": 115}}, \"pcrs\": {\"bank\": \"sha256\", \"indexes\": [0, 7, 11]}, " \
	"\"allow_attested_reseal\": true}"

static const char *const gate_good[] = { EV_OPEN, EV_HANDOVER };
static const char *const gate_pass[] = { EV_PASS, EV_HANDOVER };

/* The VM's PCR 15 as if these events had been measured. */
static void set_gate(struct fx *f, const char *const *ev, size_t n)
{
	struct skr_err err = { 0 };
	size_t len;

	assert_ok(skr_gate_replay(SKR_TPM_ALG_SHA256, ev, n, f->vm.pcrs.bank[0].value[15], &len,
				  &err), err);
	assert_int_equal(len, 32);
}

static json_object *events_json(const char *const *ev, size_t n)
{
	json_object *a = json_object_new_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(ev[i]));
	return a;
}

static void challenge_names_the_gate(void **state)
{
	struct fx *f = *state;
	json_object *req = json_object_new_object(), *pcrs, *idx;
	struct skr_response ch = { 0 };
	uint32_t mask = 0;
	size_t i;

	json_object_object_add(req, "key_id", json_object_new_string(KEY));
	skr_broker_challenge(&f->b, req, "test", &ch);
	json_object_put(req);
	assert_int_equal(ch.status, 200);
	assert_true(json_object_object_get_ex(ch.body, "pcrs", &pcrs));
	assert_true(json_object_object_get_ex(pcrs, "indexes", &idx));
	for (i = 0; i < json_object_array_length(idx); i++)
		mask |= 1u << json_object_get_int(json_object_array_get_idx(idx, i));
	assert_int_equal(mask, (1u << 0) | (1u << 7) | (1u << 11) | (1u << 15));
	json_object_put(ch.body);
}

static void refuse_gate_not_quoted(void **state)
{
	struct fx *f = *state;

	f->vm.quote_mask &= ~(1u << 15);
	expect_refusal(f, "pcr_not_quoted");
}

/* A volume was opened in this boot (here: by a passphrase): no release, whatever else holds. */
static void refuse_gate_closed(void **state)
{
	struct fx *f = *state;

	set_gate(f, gate_pass, 2);
	expect_refusal(f, "boot_gate_closed");
	/* Even the key's own attested open closes it: releases only happen before any open. */
	set_gate(f, gate_good, 2);
	expect_refusal(f, "boot_gate_closed");
	/* Checked before the reference sets: the reason names the gate. */
	f->vm.pcrs.bank[0].value[7][0] ^= 0x55;
	expect_refusal(f, "boot_gate_closed");
}

/* PCR 15 never takes part in matching: a set whose PCR 15 differs still matches. */
static void gate_not_in_reference_sets(void **state)
{
	struct fx *f = *state;
	struct skr_pcr_banks *ref = malloc(sizeof(*ref));
	struct skr_err err = { 0 };
	json_object *pcrs;
	char reason[64];
	int64_t id;

	assert_non_null(ref);
	*ref = f->vm.pcrs;
	memset(ref->bank[0].value[15], 0xAA, 32);
	pcrs = skr_pcr_banks_to_json(ref);
	assert_ok(skr_store_refset_add(f->b.store, KEY, "gate-differs", "current",
				       json_object_to_json_string(pcrs), &id, NULL, &err), err);
	assert_ok(skr_store_refset_remove(f->b.store, KEY, 1, NULL, &err), err);
	json_object_put(pcrs);
	free(ref);
	assert_int_equal(run_release(f, KEY, NULL, reason, sizeof(reason), NULL, NULL), 200);
}

/* One reseal call (op "", "/check", "/commit", "/withdraw") from the VM; the answer in *out. */
static unsigned run_refvals(struct fx *f, const char *op, json_object *extra, json_object **out)
{
	struct skr_response ch = { 0 }, r = { 0 };
	json_object *req = json_object_new_object(), *n;
	struct skr_buf nonce = { 0 };
	struct skr_err err = { 0 };
	uint8_t digest[32] = { 0 };

	json_object_object_add(req, "key_id", json_object_new_string(KEY));
	skr_broker_challenge(&f->b, req, "test", &ch);
	json_object_put(req);
	assert_int_equal(ch.status, 200);
	assert_true(json_object_object_get_ex(ch.body, "nonce", &n));
	assert_ok(skr_base64_decode(json_object_get_string(n), strlen(json_object_get_string(n)),
				    &nonce, "nonce", &err), err);
	json_object_put(ch.body);
	assert_ok(skr_softvm_request(&f->vm, KEY, nonce.data, nonce.len, &req, &err), err);
	if (f->tl)
		assert_ok(skr_softtl_convert(f->tl, f->vm.ak, req, &err), err);
	skr_buf_free(&nonce);
	if (extra) {
		json_object_object_foreach(extra, k, v)
			json_object_object_add(req, k, json_object_get(v));
		json_object_put(extra);
	}
	skr_broker_refvals(&f->b, op, req, "test", digest, &r);
	json_object_put(req);
	*out = r.body;
	return r.status;
}

static const char *str_of(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "";
}

/* {"label", "pcrs": the VM's PCRs with PCR 0 changed by tweak, "gate_events"?} */
static json_object *submit_fields(struct fx *f, const char *label, uint8_t tweak,
				  json_object *events)
{
	struct skr_pcr_banks *p = malloc(sizeof(*p));
	json_object *o = json_object_new_object();

	assert_non_null(p);
	*p = f->vm.pcrs;
	p->bank[0].value[0][0] ^= tweak;
	json_object_object_add(o, "label", json_object_new_string(label));
	json_object_object_add(o, "pcrs", skr_pcr_banks_to_json(p));
	if (events)
		json_object_object_add(o, "gate_events", events);
	free(p);
	return o;
}

static json_object *gate_fields(json_object *events)
{
	json_object *o = json_object_new_object();

	if (events)
		json_object_object_add(o, "gate_events", events);
	return o;
}

static bool refset_listed(struct fx *f, int64_t id, const char *state)
{
	struct skr_err err = { 0 };
	char *text = NULL, want[64];
	bool found;

	assert_ok(skr_store_refset_list(f->b.store, KEY, &text, &err), err);
	snprintf(want, sizeof(want), "\"id\":%lld,", (long long)id);
	found = strstr(text, want) && (!state || strstr(strstr(text, want), state));
	free(text);
	return found;
}

static void reseal_submit_pending_only_through_the_gate(void **state)
{
	struct fx *f = *state;
	json_object *ans = NULL;
	int64_t pending_id;

	set_policy(f, RESEAL_POLICY);
	/* The key's own volume opened by a release, then the handover: pending. */
	set_gate(f, gate_good, 2);
	assert_int_equal(run_refvals(f, "", submit_fields(f, "kernel 2", 0x11,
							  events_json(gate_good, 2)), &ans), 200);
	assert_string_equal(str_of(ans, "state"), "pending");
	assert_string_equal(str_of(ans, "gate"), "open");
	pending_id = json_object_get_int64(json_object_object_get(ans, "id"));
	json_object_put(ans);
	/* A passphrase boot (truthful log): queued, names the gate, supersedes nothing. */
	set_gate(f, gate_pass, 2);
	assert_int_equal(run_refvals(f, "", submit_fields(f, "kernel 2", 0x22,
							  events_json(gate_pass, 2)), &ans), 200);
	assert_string_equal(str_of(ans, "state"), "queued");
	assert_string_equal(str_of(ans, "gate"), "closed");
	assert_int_equal(json_object_get_int(json_object_object_get(ans, "superseded")), 0);
	assert_non_null(strstr(str_of(ans, "note"), "boot gate (PCR 15)"));
	assert_non_null(strstr(str_of(ans, "note"), "passphrase"));
	json_object_put(ans);
	assert_true(refset_listed(f, pending_id, "pending"));
	/* The attested open's value, but no log (or a forged one): queued too. */
	set_gate(f, gate_good, 2);
	assert_int_equal(run_refvals(f, "", submit_fields(f, "kernel 2", 0x33, NULL), &ans), 200);
	assert_string_equal(str_of(ans, "state"), "queued");
	assert_non_null(strstr(str_of(ans, "note"), "no \"gate_events\""));
	json_object_put(ans);
	set_gate(f, gate_pass, 2);
	assert_int_equal(run_refvals(f, "", submit_fields(f, "kernel 2", 0x44,
							  events_json(gate_good, 2)), &ans), 200);
	assert_string_equal(str_of(ans, "state"), "queued");
	assert_non_null(strstr(str_of(ans, "note"), "does not replay"));
	json_object_put(ans);
	assert_true(refset_listed(f, pending_id, "pending"));
}

static void reseal_commit_and_withdraw_need_the_gate(void **state)
{
	struct fx *f = *state;
	json_object *ans = NULL;

	set_policy(f, RESEAL_POLICY);
	/* Forged: the log claims the attested open, PCR 15 says passphrase. */
	set_gate(f, gate_pass, 2);
	assert_int_equal(run_refvals(f, "/commit", gate_fields(events_json(gate_good, 2)), &ans),
			 403);
	assert_string_equal(str_of(ans, "reason"), "boot_gate_unexpected");
	assert_non_null(strstr(str_of(ans, "detail"), "does not replay"));
	json_object_put(ans);
	/* Truthful passphrase log: replays, but it is not the key's attested open. */
	assert_int_equal(run_refvals(f, "/commit", gate_fields(events_json(gate_pass, 2)), &ans),
			 403);
	assert_string_equal(str_of(ans, "reason"), "boot_gate_unexpected");
	assert_non_null(strstr(str_of(ans, "detail"), "passphrase"));
	json_object_put(ans);
	assert_int_equal(run_refvals(f, "/withdraw", submit_fields(f, "kernel 2", 0,
								   events_json(gate_pass, 2)), &ans),
			 403);
	assert_string_equal(str_of(ans, "reason"), "boot_gate_unexpected");
	json_object_put(ans);
	/* PCR 15 not quoted at all. */
	set_gate(f, gate_good, 2);
	f->vm.quote_mask &= ~(1u << 15);
	assert_int_equal(run_refvals(f, "/commit", gate_fields(events_json(gate_good, 2)), &ans),
			 403);
	assert_string_equal(str_of(ans, "reason"), "boot_gate_unexpected");
	assert_non_null(strstr(str_of(ans, "detail"), "does not cover sha256 PCR 15"));
	json_object_put(ans);
	/* The good path. */
	f->vm.quote_mask |= 1u << 15;
	assert_int_equal(run_refvals(f, "/commit", gate_fields(events_json(gate_good, 2)), &ans),
			 200);
	json_object_put(ans);
	assert_int_equal(run_refvals(f, "/withdraw", submit_fields(f, "kernel 2", 0,
								   events_json(gate_good, 2)), &ans),
			 200);
	json_object_put(ans);
}

static void reseal_check_reports_the_gate(void **state)
{
	struct fx *f = *state;
	json_object *ans = NULL, *fields;

	set_policy(f, RESEAL_POLICY);
	set_gate(f, gate_pass, 2);
	fields = submit_fields(f, "x", 0, events_json(gate_pass, 2));
	json_object_object_del(fields, "label");
	assert_int_equal(run_refvals(f, "/check", fields, &ans), 200);
	assert_true(json_object_get_boolean(json_object_object_get(ans, "accepted")));
	assert_string_equal(str_of(ans, "gate"), "closed");
	assert_string_equal(str_of(ans, "submission_would_be"), "queued");
	json_object_put(ans);
	set_gate(f, gate_good, 2);
	fields = submit_fields(f, "x", 0, events_json(gate_good, 2));
	json_object_object_del(fields, "label");
	assert_int_equal(run_refvals(f, "/check", fields, &ans), 200);
	assert_string_equal(str_of(ans, "gate"), "open");
	assert_string_equal(str_of(ans, "submission_would_be"), "pending");
	json_object_put(ans);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

/* ---- Azure Trusted Launch (tee azure-tl) ---------------------------------------- */

#define TL_POLICY "{\"tee\": \"azure-tl\", \"pcrs\": {\"bank\": \"sha256\", \"indexes\": [0, 7, 11]}}"

/* The key is azure-tl, the VM Trusted Launch, the broker trusts the test AK root. */
static int tl_setup(void **state)
{
	struct skr_err err = { 0 };
	struct fx *f;

	setup(state);
	f = *state;
	f->tl = calloc(1, sizeof(*f->tl));
	assert_non_null(f->tl);
	assert_ok(skr_softtl_new(f->tl, f->vm.ak, &err), err);
	assert_ok(skr_akcert_trust_new(f->tl->roots_pem, f->tl->intermediates_pem, &f->b.ak_trust,
				       &err), err);
	set_policy(f, TL_POLICY);
	return 0;
}

static int tl_teardown(void **state)
{
	struct fx *f = *state;

	skr_akcert_trust_free(f->b.ak_trust);
	skr_softtl_free(f->tl);
	free(f->tl);
	return teardown(state);
}

static void tl_release_succeeds_and_unwraps(void **state)
{
	struct fx *f = *state;
	struct skr_buf nonce = { 0 };
	struct skr_err err = { 0 };
	json_object *resp = NULL;
	uint8_t out[SKR_WRAP_MAX_SECRET];
	size_t len = 0;
	char reason[64];

	assert_int_equal(run_release(f, KEY, NULL, reason, sizeof(reason), &resp, &nonce), 200);
	assert_ok(skr_softvm_unwrap(&f->vm, resp, KEY, nonce.data, nonce.len, out, &len, &err), err);
	assert_int_equal(len, sizeof(secret));
	assert_memory_equal(out, secret, sizeof(secret));
	json_object_put(resp);
	skr_buf_free(&nonce);
	/* The intermediate also counts when the VM presents it. */
	f->tl->send_intermediate = true;
	assert_int_equal(run_release(f, KEY, NULL, reason, sizeof(reason), NULL, NULL), 200);
}

/* A key of one mode never accepts evidence of the other. */
static void tl_tee_mismatch_both_ways(void **state)
{
	struct fx *f = *state;
	struct skr_softtl *tl = f->tl;

	set_policy(f, BASE_POLICY);
	expect_refusal(f, "tee_mismatch");
	set_policy(f, TL_POLICY);
	f->tl = NULL;	/* az-snp-vtpm evidence, verifiable on its own, for the azure-tl key */
	expect_refusal(f, "tee_mismatch");
	f->tl = tl;
}

static void tl_subject_pins(void **state)
{
	struct fx *f = *state;
	char reason[64];

	set_policy(f, "{\"tee\": \"azure-tl\", \"ak_subjects\": [\"" SKR_SOFTTL_SUBJECT "\"], "
		      "\"pcrs\": {\"bank\": \"sha256\", \"indexes\": [0, 7, 11]}}");
	assert_int_equal(run_release(f, KEY, NULL, reason, sizeof(reason), NULL, NULL), 200);
	set_policy(f, "{\"tee\": \"azure-tl\", \"ak_subjects\": "
		      "[\"0000.TrustedVM.Azure.windows.net\"], "
		      "\"pcrs\": {\"bank\": \"sha256\", \"indexes\": [0, 7, 11]}}");
	expect_refusal(f, "akcert_subject");
}

static void tl_refuse_untrusted_and_missing_intermediate(void **state)
{
	struct fx *f = *state;
	struct skr_err err = { 0 };

	skr_akcert_trust_free(f->b.ak_trust);
	assert_ok(skr_akcert_trust_new(f->tl->roots_pem, NULL, &f->b.ak_trust, &err), err);
	expect_refusal(f, "akcert_intermediate_missing");
	skr_akcert_trust_free(f->b.ak_trust);
	f->b.ak_trust = NULL;	/* the built-in Azure root only */
	f->tl->send_intermediate = true;
	expect_refusal(f, "akcert_untrusted");
}

static void tl_refuse_expired_cert(void **state)
{
	struct fx *f = *state;

	f->tl->cert_override = skr_softtl_make_cert(SKR_SOFTTL_SUBJECT, f->vm.ak, f->tl->inter,
						    f->tl->int_key, false, -3 * 86400, -86400);
	assert_non_null(f->tl->cert_override);
	expect_refusal(f, "akcert_expired");
}

static void tl_refuse_cert_of_another_key(void **state)
{
	struct fx *f = *state;
	EVP_PKEY *other = EVP_EC_gen("P-256");

	f->tl->cert_override = skr_softtl_make_cert(SKR_SOFTTL_SUBJECT, other, f->tl->inter,
						    f->tl->int_key, false, -86400, 86400);
	assert_non_null(f->tl->cert_override);
	expect_refusal(f, "akcert_key_mismatch");
	EVP_PKEY_free(other);
}

static void tl_refuse_ak_attributes(void **state)
{
	struct fx *f = *state;

	f->tl->ak_attributes = SKR_SOFTTL_AK_ATTRIBUTES & ~TPMA_OBJECT_RESTRICTED;
	expect_refusal(f, "ak_not_restricted");
	f->tl->ak_attributes = SKR_SOFTTL_AK_ATTRIBUTES | TPMA_OBJECT_DECRYPT;
	expect_refusal(f, "ak_attributes");
	f->tl->ak_attributes = SKR_SOFTTL_AK_ATTRIBUTES & ~TPMA_OBJECT_FIXEDTPM;
	expect_refusal(f, "ak_attributes");
}

static void tl_refuse_quote_and_pcrs(void **state)
{
	struct fx *f = *state;

	f->vm.quote_signer = skr_test_rsa_key();
	expect_refusal(f, "quote_signature_invalid");
	EVP_PKEY_free(f->vm.quote_signer);
	f->vm.quote_signer = NULL;
	f->vm.quote_other_nonce = true;
	expect_refusal(f, "quote_nonce_mismatch");
	f->vm.quote_other_nonce = false;
	f->vm.certify_other_key = true;
	expect_refusal(f, "certify_name_mismatch");
	f->vm.certify_other_key = false;
	f->vm.pcrs.bank[0].value[7][0] ^= 0x01;
	expect_refusal(f, "pcr_mismatch");
}

/* Reseal takes the same evidence: a Trusted Launch key's check and submission. */
static void tl_reseal(void **state)
{
	struct fx *f = *state;
	struct skr_softtl *tl = f->tl;
	json_object *ans = NULL, *fields;

	set_policy(f, "{\"tee\": \"azure-tl\", \"pcrs\": {\"bank\": \"sha256\", \"indexes\": "
		      "[0, 7, 11]}, \"allow_attested_reseal\": true}");
	set_gate(f, gate_good, 2);
	fields = submit_fields(f, "x", 0, events_json(gate_good, 2));
	json_object_object_del(fields, "label");
	assert_int_equal(run_refvals(f, "/check", fields, &ans), 200);
	assert_true(json_object_get_boolean(json_object_object_get(ans, "accepted")));
	assert_string_equal(str_of(ans, "submission_would_be"), "pending");
	json_object_put(ans);
	assert_int_equal(run_refvals(f, "", submit_fields(f, "next", 1, events_json(gate_good, 2)),
				     &ans), 200);
	json_object_put(ans);
	/* The same call with the VM's Confidential VM evidence: not this key's mode. */
	f->tl = NULL;
	fields = submit_fields(f, "x", 0, events_json(gate_good, 2));
	json_object_object_del(fields, "label");
	assert_int_equal(run_refvals(f, "/check", fields, &ans), 403);
	assert_string_equal(str_of(ans, "reason"), "tee_mismatch");
	json_object_put(ans);
	f->tl = tl;
}

#define TL(fn) cmocka_unit_test_setup_teardown(fn, tl_setup, tl_teardown)

/* ---- Group commit: no audit row, no release ------------------------------------ */

#define FLUSH_RELEASES 4

struct flush_release {
	struct fx *f;
	json_object *req;
	struct skr_response resp;
	pthread_t t;
};

static void *flush_release_main(void *arg)
{
	struct flush_release *r = arg;
	uint8_t digest[32] = { 0 };

	skr_broker_release(&r->f->b, r->req, "flush-vm", digest, &r->resp);
	return NULL;
}

/* A VM's release request on a fresh nonce, not sent yet. */
static json_object *release_request(struct fx *f)
{
	struct skr_response ch = { 0 };
	json_object *req = json_object_new_object(), *n;
	struct skr_buf nonce = { 0 };
	struct skr_err err = { 0 };

	json_object_object_add(req, "key_id", json_object_new_string(KEY));
	skr_broker_challenge(&f->b, req, "test", &ch);
	json_object_put(req);
	assert_int_equal(ch.status, 200);
	assert_true(json_object_object_get_ex(ch.body, "nonce", &n));
	assert_ok(skr_base64_decode(json_object_get_string(n), strlen(json_object_get_string(n)),
				    &nonce, "nonce", &err), err);
	json_object_put(ch.body);
	assert_ok(skr_softvm_request(&f->vm, KEY, nonce.data, nonce.len, &req, &err), err);
	skr_buf_free(&nonce);
	return req;
}

static int64_t db_count(struct fx *f, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char path[128];
	int64_t n;

	snprintf(path, sizeof(path), "%s/broker.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/*
 * Attack: fill the disk under a boot storm so the audit cannot be written
 * (RLIMIT_FSIZE at the WAL's size: no commit can append its frames, as on a
 * full disk).  FLUSH_RELEASES verified releases run at once and share the
 * group commits; every one is refused 500 audit_failed, none carries a
 * wrapped secret, and the database holds neither their rows nor their
 * nonces.  (test_store's group_commit_* tests pin down how batches form.)
 */
static void release_refused_when_its_flush_fails(void **state)
{
	struct fx *f = *state;
	struct flush_release r[FLUSH_RELEASES];
	struct skr_store_commit_stats st = { 0 };
	struct skr_err err = { 0 };
	struct rlimit old, full;
	struct stat wst;
	char path[160];
	void (*old_sig)(int);
	int i;

	for (i = 0; i < FLUSH_RELEASES; i++)
		r[i] = (struct flush_release){ .f = f, .req = release_request(f) };
	snprintf(path, sizeof(path), "%s/broker.db-wal", f->dir);
	assert_int_equal(stat(path, &wst), 0);
	assert_true(wst.st_size > 0);
	/* Nothing of the test prints until the limit is lifted (stdout may be a file). */
	old_sig = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	full = old;
	full.rlim_cur = (rlim_t)wst.st_size;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &full), 0);
	for (i = 0; i < FLUSH_RELEASES; i++)
		assert_int_equal(pthread_create(&r[i].t, NULL, flush_release_main, &r[i]), 0);
	for (i = 0; i < FLUSH_RELEASES; i++)
		pthread_join(r[i].t, NULL);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, old_sig);

	for (i = 0; i < FLUSH_RELEASES; i++) {
		json_object *v;

		assert_int_equal(r[i].resp.status, 500);
		assert_true(json_object_object_get_ex(r[i].resp.body, "reason", &v));
		assert_string_equal(json_object_get_string(v), "audit_failed");
		assert_false(json_object_object_get_ex(r[i].resp.body, "wrapped", &v));
		json_object_put(r[i].resp.body);
		json_object_put(r[i].req);
	}
	assert_int_equal(atomic_load(&f->b.metrics.audit_failures), FLUSH_RELEASES);
	assert_int_equal(atomic_load(&f->b.metrics.released), 0);
	assert_int_equal(db_count(f, "SELECT COUNT(*) FROM audit WHERE action = 'release'"), 0);
	assert_int_equal(db_count(f, "SELECT COUNT(*) FROM used_nonces"), 0);
	assert_ok(skr_store_commit_stats(f->b.store, &st, &err), err);
	assert_int_equal(st.rows, FLUSH_RELEASES);
	assert_true(st.flushes >= 1 && st.failed_flushes == st.flushes);
	/* With room again, a release goes through, with its row. */
	{
		char reason[64];

		assert_int_equal(run_release(f, KEY, NULL, reason, sizeof(reason), NULL, NULL), 200);
		assert_int_equal(db_count(f, "SELECT COUNT(*) FROM audit WHERE action = 'release'"),
				 1);
	}
}

/* ---- generic TPM (tee tpm): the challenge's refusals ----------------------------- */

/* A challenge for KEY with body fields (JSON text merged in); its status and reason. */
static unsigned tpm_challenge(struct fx *f, const char *tpm_json, char *reason, size_t size)
{
	struct skr_response ch = { 0 };
	json_object *req = json_object_new_object(), *r;
	unsigned status;

	json_object_object_add(req, "key_id", json_object_new_string(KEY));
	if (tpm_json)
		json_object_object_add(req, "tpm", json_tokener_parse(tpm_json));
	skr_broker_challenge(&f->b, req, "test", &ch);
	json_object_put(req);
	status = ch.status;
	reason[0] = '\0';
	if (json_object_object_get_ex(ch.body, "reason", &r))
		snprintf(reason, size, "%s", json_object_get_string(r));
	assert_false(json_object_object_get_ex(ch.body, "nonce", NULL) && status != 200);
	json_object_put(ch.body);
	return status;
}

/*
 * A tpm key's challenge needs the VM's identity and the broker's EK roots;
 * nothing is issued without both.  (The success path and the EK refusals
 * run against swtpm in test_makecred and test_release_tpm.sh.)
 */
static void tpm_challenge_refusals(void **state)
{
	struct fx *f = *state;
	char reason[64];

	set_policy(f, "{\"tee\": \"tpm\", \"pcrs\": {\"bank\": \"sha256\", \"indexes\": [0, 7]}}");
	assert_int_equal(tpm_challenge(f, NULL, reason, sizeof(reason)), 400);
	assert_string_equal(reason, "malformed");
	assert_int_equal(tpm_challenge(f, "{\"ek_cert\": \"AAAA\"}", reason, sizeof(reason)), 400);
	assert_string_equal(reason, "malformed");	/* ek_public, ak_public missing */
	assert_int_equal(tpm_challenge(f, "{\"ek_cert\": \"AAAA\", \"ek_public\": \"AAAA\", "
				       "\"ak_public\": \"AAAA\"}", reason, sizeof(reason)), 400);
	assert_string_equal(reason, "usage");	/* no ek_roots configured */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(release_succeeds_and_unwraps),
		T(refuse_debug_vm),
		T(refuse_tcb_below_minimum),
		T(refuse_measurement_not_allowed),
		T(refuse_vmpl),
		T(refuse_host_data_and_id_key_pins),
		T(refuse_vcek_of_another_chip),
		T(refuse_untrusted_chain),
		T(refuse_expired_vcek),
		T(refuse_tampered_claims),
		T(refuse_claims_without_ak),
		T(refuse_swapped_ak),
		T(refuse_stale_quote_nonce),
		T(refuse_replayed_nonce),
		T(refuse_foreign_and_expired_nonce),
		T(refuse_pcr_not_in_reference_sets),
		T(refuse_pcr_not_quoted),
		T(refuse_certify_of_another_key),
		T(refuse_certify_by_another_key),
		T(refuse_certify_other_nonce),
		T(refuse_wrap_key_without_fixedtpm),
		T(refuse_wrap_key_with_sign),
		T(refuse_wrap_key_of_owner_hierarchy),
		T(refuse_unknown_key),
		T(refuse_no_vcek_anywhere),
		T(malformed_requests_are_400),
		T(verified_chains_are_cached),
		T(store_decrypt_failure_is_500),
		T(key_cache_follows_writes),
		T(refuse_empty_and_gate_bindings),
		T(admin_changes_need_their_audit_row),
		T(admin_refset_label_optional),
		T(challenge_names_the_gate),
		T(refuse_gate_not_quoted),
		T(refuse_gate_closed),
		T(gate_not_in_reference_sets),
		T(reseal_submit_pending_only_through_the_gate),
		T(reseal_commit_and_withdraw_need_the_gate),
		T(reseal_check_reports_the_gate),
		T(decisions_are_audited),
		T(release_refused_when_its_flush_fails),
		T(policy_bank_must_be_sha256),
		TL(tl_release_succeeds_and_unwraps),
		TL(tl_tee_mismatch_both_ways),
		TL(tl_subject_pins),
		TL(tl_refuse_untrusted_and_missing_intermediate),
		TL(tl_refuse_expired_cert),
		TL(tl_refuse_cert_of_another_key),
		TL(tl_refuse_ak_attributes),
		TL(tl_refuse_quote_and_pcrs),
		TL(tl_reseal),
		T(tpm_challenge_refusals),
	};

	return cmocka_run_group_tests_name("broker", tests, NULL, NULL);
}
