/* SPDX-License-Identifier: Apache-2.0 */
/*
 * POST /v1/challenge and POST /v1/release.  Verification order (DESIGN.md):
 * nonce; the evidence's tee is the key's; az-snp-vtpm: AMD chain and
 * VCEK/TCB match, SNP signature, SNP policy, claims hash, AK from claims;
 * azure-tl: AK public area, AK certificate chain, certificate key = AK,
 * subject pin; tpm: AK public area, EK certificate chain, certificate
 * key = EK, the EK pin, the activation answer (the EK and AK verified at the challenge
 * too, where the credential is made); snp-svsm: as snp up to the SNP policy, then
 * VMPL 0, REPORT_DATA = SHA-512(SVSM nonce || manifest) before the manifest is
 * parsed, the manifest's vTPM EK, the AK public area, the activation answer
 * against the credential made to that EK (the rest as tpm); snp: AMD chain, signature, SNP policy (the launch
 * measurement is the boot state), REPORT_DATA = the binding of nonce and
 * wrap key, and nothing of the rest; then quote signature, type, nonce and PCR digest; the
 * boot gate (PCR 15 quoted and all zero: no volume opened yet); PCR values
 * against the key's reference sets; certify signature, nonce and
 * name; wrap key attributes.  The first failure ends the request.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/crypto.h>
#include <tss2/tss2_mu.h>

#include "broker/broker.h"
#include "verify/evidence.h"
#include "common/gate.h"
#include "common/json_util.h"
#include "common/pcr_json.h"
#include "verify/makecred.h"
#include "verify/policy.h"
#include "common/util.h"
#include "verify/wrap.h"
#include "verify/wrap_key.h"

#define MAX_REFSETS 64

void skr_response_error(struct skr_response *r, unsigned status, const char *error,
			const struct skr_err *err)
{
	r->status = status;
	r->body = json_object_new_object();
	json_object_object_add(r->body, "error", json_object_new_string(error));
	if (err) {
		json_object_object_add(r->body, "reason",
				       json_object_new_string(skr_reason_name(err->reason)));
		json_object_object_add(r->body, "detail", json_object_new_string(err->detail));
	}
}

/* Nonce times: the wall clock that never steps back (common/util.h). */
static time_t broker_now(void)
{
	return (time_t)skr_steady_time();
}

void skr_broker_respond_unavailable(struct skr_response *r, const struct skr_err *err)
{
	struct skr_err shown = { 0 };

	if (err->reason == SKR_R_store_full) {
		/* The path stays in the log; the client learns the cause and goes elsewhere. */
		fprintf(stderr, "skr-broker: store_full: %s\n", err->detail);
		skr_fail(&shown, SKR_R_store_full, "the broker's database is out of space, "
			 "nothing was written; try another broker or later");
		skr_response_error(r, 503, "unavailable", &shown);
		return;
	}
	/* The server's own words name hosts and ports: the log has them, the client does not. */
	fprintf(stderr, "skr-broker: store_unavailable: %s\n", err->detail);
	skr_fail(&shown, SKR_R_store_unavailable,
		 "the broker's database is unavailable; try another broker or later");
	skr_response_error(r, 503, "unavailable", &shown);
}

/*
 * Denials are 403 with the reason; malformed requests 400; a database that
 * cannot be reached 503 (store_unavailable: the client tries the next broker).  The broker's own
 * faults are 500, which a client counts as this broker failing (it tries the
 * next one) rather than as a final answer: a stored secret that does not
 * decrypt (another master key, a damaged or moved row) and a change refused
 * because its audit row could not be written keep their reason.
 */
void skr_broker_respond_failure(struct skr_response *r, const struct skr_err *err)
{
	if (err->reason == SKR_R_store_unavailable || err->reason == SKR_R_store_full)
		skr_broker_respond_unavailable(r, err);
	else if (skr_reason_class(err->reason) == SKR_CLASS_VERIFY)
		skr_response_error(r, 403, "denied", err);
	else if (err->reason == SKR_R_nomem || err->reason == SKR_R_store_error)
		skr_response_error(r, 500, "internal error", NULL);
	else if (err->reason == SKR_R_store_decrypt_failed || err->reason == SKR_R_audit_failed)
		skr_response_error(r, 500, "internal error", err);
	else
		skr_response_error(r, 400, "bad request", err);
}

static const char *string_field(json_object *req, const char *key, struct skr_err *err)
{
	json_object *v;

	if (!json_object_is_type(req, json_type_object) ||
	    !json_object_object_get_ex(req, key, &v) || !json_object_is_type(v, json_type_string)) {
		skr_fail(err, SKR_R_malformed, "request lacks the string \"%s\"", key);
		return NULL;
	}
	return json_object_get_string(v);
}

static const char *key_id_field(json_object *req, struct skr_err *err)
{
	const char *key_id = string_field(req, "key_id", err);

	if (key_id && !skr_store_key_id_valid(key_id)) {
		skr_fail(err, SKR_R_malformed, "key_id is not [A-Za-z0-9._-]{1,128}");
		return NULL;
	}
	return key_id;
}

static const char *verdict_of(const struct skr_err *err)
{
	return err->reason == SKR_R_ok ? "allow" : "deny";
}

/*
 * The audit row; with a (release) nonce not recorded yet, the nonce and the
 * row in one transaction.  failed says why it was not written.
 */
static int audit_write(struct skr_broker *b, const char *key_id, const char *client,
		       const char *action, const struct skr_err *err, const uint8_t *digest,
		       const struct skr_attested *nonce_of, struct skr_err *failed)
{
	struct skr_audit_entry e = {
		.key_id = key_id,
		.client = client,
		.action = action,
		.verdict = verdict_of(err),
		.reason = err->reason == SKR_R_ok ? NULL : skr_reason_name(err->reason),
		.detail = err->detail[0] ? err->detail : NULL,
		.evidence_digest = digest,
	};

	if (nonce_of && nonce_of->nonce_unrecorded)
		return skr_store_audit_nonce(b->store, &e, nonce_of->nonce.data, nonce_of->nonce.len,
					     nonce_of->nonce_expires, broker_now(), failed);
	return skr_store_audit(b->store, &e, failed);
}

void skr_broker_audit_failure(struct skr_broker *b, const char *client, const char *action,
			      const char *verdict, const struct skr_err *failed)
{
	atomic_fetch_add(&b->metrics.audit_failures, 1);
	fprintf(stderr, "skr-broker: audit_failed: cannot write the audit row of %s (%s) for %s: %s\n",
		action, verdict, client ? client : "?", failed->detail);
}


int skr_broker_audit(struct skr_broker *b, const char *key_id, const char *client,
		     const char *action, const struct skr_err *err, const uint8_t *digest)
{
	struct skr_err failed = { 0 };

	if (audit_write(b, key_id, client, action, err, digest, NULL, &failed) == 0)
		return 0;
	skr_broker_audit_failure(b, client, action, verdict_of(err), &failed);
	return -1;
}

/* The PCRs the client must quote: the policy's bank and indexes, and the boot gate. */
static json_object *policy_pcrs_json(const struct skr_policy *p)
{
	json_object *o = json_object_new_object(), *idx = json_object_new_array();
	uint32_t mask = p->pcr_mask | (1u << SKR_GATE_PCR);
	unsigned i;

	json_object_object_add(o, "bank", json_object_new_string(skr_tpm_alg_name(p->pcr_bank)));
	for (i = 0; i < SKR_PCR_COUNT; i++)
		if (mask & (1u << i))
			json_object_array_add(idx, json_object_new_int((int)i));
	json_object_object_add(o, "indexes", idx);
	return o;
}

/* ---- keys: policy and reference sets, through the cache ------------------ */

void skr_key_cache_init(struct skr_key_cache *c)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
}

void skr_key_cache_free(struct skr_key_cache *c)
{
	size_t i;

	for (i = 0; i < SKR_KEY_CACHE_SIZE; i++) {
		free(c->entry[i].sets);
		free(c->entry[i].ids);
	}
	pthread_mutex_destroy(&c->lock);
}

void skr_key_state_free(struct skr_key_state *k)
{
	free(k->sets);
	free(k->ids);
	k->sets = NULL;
	k->ids = NULL;
	k->n_sets = 0;
}

static int copy_sets(struct skr_pcr_banks **dst, int64_t **dst_ids, const struct skr_pcr_banks *src,
		     const int64_t *ids, size_t n)
{
	*dst = malloc((n ? n : 1) * sizeof(**dst));
	*dst_ids = malloc((n ? n : 1) * sizeof(**dst_ids));
	if (!*dst || !*dst_ids) {
		free(*dst);
		free(*dst_ids);
		*dst = NULL;
		*dst_ids = NULL;
		return -1;
	}
	memcpy(*dst, src, n * sizeof(**dst));
	memcpy(*dst_ids, ids, n * sizeof(**dst_ids));
	return 0;
}

static bool cache_get(struct skr_key_cache *c, const char *key_id,
		      const struct skr_store_version *v, struct skr_key_state *out)
{
	bool hit = false;
	size_t i;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < SKR_KEY_CACHE_SIZE && !hit; i++) {
		struct skr_key_cache_entry *e = &c->entry[i];

		if (e->sets && !strcmp(e->key_id, key_id) && e->version.changes == v->changes &&
		    e->version.data_version == v->data_version) {
			out->policy = e->policy;
			hit = copy_sets(&out->sets, &out->ids, e->sets, e->ids, e->n_sets) == 0;
			out->n_sets = hit ? e->n_sets : 0;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return hit;
}

static void cache_put(struct skr_key_cache *c, const char *key_id,
		      const struct skr_store_version *v, const struct skr_key_state *k)
{
	struct skr_key_cache_entry *e;
	struct skr_pcr_banks *sets;
	int64_t *ids;
	size_t i;

	if (copy_sets(&sets, &ids, k->sets, k->ids, k->n_sets) < 0)
		return;
	pthread_mutex_lock(&c->lock);
	for (i = 0, e = NULL; i < SKR_KEY_CACHE_SIZE && !e; i++)
		if (c->entry[i].sets && !strcmp(c->entry[i].key_id, key_id))
			e = &c->entry[i];
	if (!e) {
		e = &c->entry[c->next];
		c->next = (c->next + 1) % SKR_KEY_CACHE_SIZE;
	}
	free(e->sets);
	free(e->ids);
	snprintf(e->key_id, sizeof(e->key_id), "%s", key_id);
	e->version = *v;
	e->policy = k->policy;
	e->sets = sets;
	e->ids = ids;
	e->n_sets = k->n_sets;
	pthread_mutex_unlock(&c->lock);
}

static int load_policy(struct skr_broker *b, const char *key_id, struct skr_policy *p,
		       struct skr_err *err)
{
	_cleanup_free_ char *text = NULL;

	if (skr_store_key_policy(b->store, key_id, &text, err) < 0)
		return -1;
	/* A stored policy from before the binding rule is refused, never used. */
	return skr_policy_parse(text, p, err) < 0 ? -1 : skr_policy_check_binding(p, err);
}

/* Sets in these states match a release; queued and retired ones never do. */
static bool refset_matches_releases(json_object *set)
{
	json_object *state;
	const char *st;

	if (!json_object_object_get_ex(set, "state", &state))
		return false;
	st = json_object_get_string(state);
	return !strcmp(st, "current") || !strcmp(st, "pending");
}

/* The key's reference sets that can match, allocated to their number (each 12.5 KiB). */
static int load_refsets(struct skr_broker *b, const char *key_id, struct skr_key_state *k,
			struct skr_err *err)
{
	_cleanup_free_ char *text = NULL;
	json_object *list;
	size_t i, count;
	int rc = 0;

	if (skr_store_refset_list(b->store, key_id, &text, err) < 0)
		return -1;
	list = json_tokener_parse(text);
	if (!list || !json_object_is_type(list, json_type_array)) {
		json_object_put(list);
		return skr_fail(err, SKR_R_store_error, "reference sets are not a JSON array");
	}
	count = json_object_array_length(list);
	k->sets = calloc(count ? count : 1, sizeof(*k->sets));
	k->ids = calloc(count ? count : 1, sizeof(*k->ids));
	if (!k->sets || !k->ids)
		rc = skr_fail(err, SKR_R_nomem, "out of memory");
	for (i = 0; i < count && rc == 0 && k->n_sets < MAX_REFSETS; i++) {
		json_object *set = json_object_array_get_idx(list, i), *pcrs, *id;

		if (!refset_matches_releases(set) || !json_object_object_get_ex(set, "pcrs", &pcrs) ||
		    !json_object_object_get_ex(set, "id", &id))
			continue;
		k->ids[k->n_sets] = json_object_get_int64(id);
		rc = skr_pcr_banks_from_json(pcrs, &k->sets[k->n_sets++], err);
	}
	json_object_put(list);
	return rc;
}

/*
 * A key's policy and reference sets.  The version is read before the store
 * is: a write that lands in between makes the cached copy stale at once.
 */
static int load_key(struct skr_broker *b, const char *key_id, struct skr_key_state *k,
		    struct skr_err *err)
{
	struct skr_store_version v;

	memset(k, 0, sizeof(*k));
	if (skr_store_version(b->store, &v, err) < 0)
		return -1;
	if (cache_get(&b->key_cache, key_id, &v, k))
		return 0;
	if (load_policy(b, key_id, &k->policy, err) < 0 ||
	    load_refsets(b, key_id, k, err) < 0) {
		skr_key_state_free(k);
		return -1;
	}
	cache_put(&b->key_cache, key_id, &v, k);
	return 0;
}

/* The two inputs of TPM2_ActivateCredential, marshalled and base64. */
static int credential_json(const TPM2B_ID_OBJECT *blob, const TPM2B_ENCRYPTED_SECRET *secret,
			   json_object **out, struct skr_err *err)
{
	uint8_t b[sizeof(*blob)], s[sizeof(*secret)];
	size_t bl = 0, sl = 0;

	if (Tss2_MU_TPM2B_ID_OBJECT_Marshal(blob, b, sizeof(b), &bl) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal(secret, s, sizeof(s), &sl) != TSS2_RC_SUCCESS)
		return skr_fail(err, SKR_R_nomem, "cannot marshal the credential");
	*out = json_object_new_object();
	if (!*out || skr_json_add_b64(*out, "blob", b, bl) < 0 ||
	    skr_json_add_b64(*out, "secret", s, sl) < 0) {
		json_object_put(*out);
		return skr_fail(err, SKR_R_nomem, "out of memory");
	}
	return 0;
}

/*
 * The challenge's identity, verified as the key's mode wants it: tee "tpm",
 * the EK certificate to ek_roots and the EK pin; tee "snp-svsm", the keys
 * alone (the EK is only claimed here: the release's SVSM report must name
 * it, and a credential made to another EK is never activated for it).
 */
static int challenge_identity(struct skr_broker *b, const struct skr_policy *policy,
			      json_object *tpm, struct skr_evidence *ev,
			      struct skr_tpm_identity_result *res, struct skr_err *err)
{
	struct skr_tpm_identity id;

	if (policy->tee == SKR_TEE_SNP_SVSM)
		return skr_evidence_svsm_identity(tpm, ev, &id, err) < 0 ||
				       skr_tpm_identity_keys(&id, res, err) < 0
			       ? -1
			       : 0;
	if (skr_evidence_tpm_identity(tpm, ev, &id, err) < 0 ||
	    skr_tpm_identity_verify(b->ek_trust, &id, 0, res, err) < 0)
		return -1;
	return skr_policy_check_ek_pin(policy, res->ek_spki_sha256, err);
}

/*
 * tee "tpm" and "snp-svsm": the EK and the AK the request names, verified
 * (challenge_identity), and the credential for this nonce made to that EK
 * for that AK's name (DESIGN.md 2.2): "credential": {"blob", "secret"} in
 * the answer.
 */
static int tpm_credential(struct skr_broker *b, const struct skr_policy *policy,
			  json_object *req, const uint8_t *nonce, size_t nonce_len,
			  json_object *answer, struct skr_err *err)
{
	struct skr_evidence ev = { 0 };
	struct skr_tpm_identity_result res = { 0 };
	uint8_t *cred = skr_secret_alloc(SKR_ACTIVATION_SIZE);
	TPM2B_ID_OBJECT blob;
	TPM2B_ENCRYPTED_SECRET secret;
	json_object *tpm, *o = NULL;
	int rc = -1;

	if (!cred)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	if (!json_object_object_get_ex(req, "tpm", &tpm) || !json_object_is_type(tpm, json_type_object)) {
		skr_fail(err, SKR_R_malformed, "a challenge for a tee \"%s\" key needs the object \"tpm\"",
			 skr_tee_name(policy->tee));
		goto out;
	}
	if (challenge_identity(b, policy, tpm, &ev, &res, err) < 0 ||
	    skr_activation_credential(b->nonce_secret, SKR_NONCE_SECRET_SIZE, nonce, nonce_len, &res,
				      cred, err) < 0 ||
	    skr_make_credential(res.ek, res.ak_name.name, res.ak_name.size, cred,
				SKR_ACTIVATION_SIZE, &blob, &secret, err) < 0 ||
	    credential_json(&blob, &secret, &o, err) < 0)
		goto out;
	json_object_object_add(answer, "credential", o);
	rc = 0;
out:
	skr_secret_free(cred);
	skr_tpm_identity_result_free(&res);
	skr_evidence_free(&ev);
	return rc;
}

void skr_broker_challenge(struct skr_broker *b, json_object *req, const char *client,
			  struct skr_response *resp)
{
	struct skr_err err = { 0 };
	_cleanup_free_ char *b64 = NULL;
	uint8_t nonce[SKR_NONCE_SIZE];
	const char *key_id = key_id_field(req, &err);
	struct skr_key_state key = { 0 };
	time_t expires;

	/* A challenge for an unknown key is refused, so nonces are only ever issued per key. */
	if (!key_id || load_key(b, key_id, &key, &err) < 0 ||
	    skr_nonce_issue(b->nonce_secret, key_id, broker_now(), b->nonce_ttl, nonce, &expires,
			    &err) < 0) {
		skr_broker_respond_failure(resp, &err);
		skr_key_state_free(&key);
		return;
	}
	resp->body = json_object_new_object();
	if ((key.policy.tee == SKR_TEE_TPM || key.policy.tee == SKR_TEE_SNP_SVSM) &&
	    tpm_credential(b, &key.policy, req, nonce, sizeof(nonce), resp->body, &err) < 0) {
		json_object_put(resp->body);
		resp->body = NULL;
		skr_broker_respond_failure(resp, &err);
		skr_key_state_free(&key);
		return;
	}
	atomic_fetch_add(&b->metrics.challenges, 1);
	b64 = skr_base64_encode(nonce, sizeof(nonce));
	resp->status = 200;
	json_object_object_add(resp->body, "nonce", json_object_new_string(b64 ? b64 : ""));
	json_object_object_add(resp->body, "expires", json_object_new_int64((int64_t)expires));
	json_object_object_add(resp->body, "pcrs", policy_pcrs_json(&key.policy));
	skr_key_state_free(&key);
}

void skr_attested_free(struct skr_attested *c)
{
	skr_buf_free(&c->nonce);
	skr_key_state_free(&c->key);
	skr_evidence_result_free(&c->res);
	skr_evidence_free(&c->ev);
	X509_free(c->cached_vcek);
	EVP_PKEY_free(c->wrap_pub);
}

/*
 * Marked used before anything else is checked: one nonce, one attempt.  The
 * set in memory answers a replay cheaply; the store remembers the nonce
 * across a restart (and for replicas sharing the database).  With
 * defer_record (a release) the store is only asked here, and the nonce is
 * recorded in the transaction of the release's audit row (one commit per
 * release, and a release whose nonce a replica used meanwhile is refused).
 */
static int check_nonce(struct skr_attested *c, json_object *req, bool defer_record,
		       struct skr_err *err)
{
	const char *b64 = string_field(req, "nonce", err);
	time_t expires;

	if (!b64 || skr_base64_decode(b64, strlen(b64), &c->nonce, "nonce", err) < 0)
		return -1;
	if (skr_nonce_check(c->b->nonce_secret, c->key_id, c->nonce.data, c->nonce.len,
			    broker_now(), &expires, err) < 0)
		return -1;
	if (skr_nonce_seen_use(&c->b->seen, c->nonce.data, expires, broker_now(), err) < 0)
		return -1;
	c->nonce_expires = expires;
	if (defer_record) {
		if (skr_store_nonce_check(c->b->store, c->nonce.data, c->nonce.len, err) < 0)
			return -1;
		c->nonce_unrecorded = true;
		return 0;
	}
	return skr_store_nonce_use(c->b->store, c->nonce.data, c->nonce.len, expires, broker_now(),
				   err);
}

static int parse_evidence(struct skr_attested *c, json_object *req, struct skr_err *err)
{
	json_object *ev;

	if (!json_object_object_get_ex(req, "evidence", &ev))
		return skr_fail(err, SKR_R_malformed, "request lacks \"evidence\"");
	if (skr_evidence_from_json(ev, &c->ev, err) < 0)
		return -1;
	if (c->ev.format != SKR_EVIDENCE_SKR ||
	    !(c->ev.tee == SKR_TEE_SNP ? c->ev.wrap_epk.len : c->ev.wrap_public.len))
		return skr_fail(err, SKR_R_malformed, "evidence lacks \"tee\" or \"wrap_key\"");
	return skr_policy_check_tee(&c->key.policy, c->ev.tee, err);
}

/* The VCEK from the configured cache when the evidence carries none. */
static int cached_vcek(struct skr_attested *c, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf der = { 0 };
	_cleanup_free_ char *chip = NULL;
	struct skr_snp_report r;
	char path[4096];

	if (c->ev.tee != SKR_TEE_AZ_SNP_VTPM || c->ev.vcek.len || !c->b->vcek_cache_dir)
		return 0;
	if (c->ev.hcl_report.len < SKR_HCL_SNP_OFFSET + SKR_SNP_REPORT_SIZE ||
	    skr_snp_report_parse(c->ev.hcl_report.data + SKR_HCL_SNP_OFFSET, SKR_SNP_REPORT_SIZE, &r,
				 err) < 0)
		return skr_fail(err, SKR_R_malformed, "evidence HCL report is too short");
	chip = skr_hex_encode(r.chip_id, sizeof(r.chip_id));
	snprintf(path, sizeof(path), "%s/%s-%016llx.der", c->b->vcek_cache_dir, chip ? chip : "",
		 (unsigned long long)r.reported_tcb);
	if (skr_read_file(path, 1u << 16, &der, err) < 0)
		return skr_fail(err, SKR_R_usage, "no VCEK in the evidence nor in the cache");
	return skr_x509_parse(der.data, der.len, &c->cached_vcek, "cached VCEK", err);
}

static int snp_policy_hook(const struct skr_snp_report *r, enum skr_snp_product product,
			   void *ctx, struct skr_err *err)
{
	return skr_policy_check_snp(ctx, r, product, err);
}

static int ak_policy_hook(const struct skr_akcert_info *info, void *ctx, struct skr_err *err)
{
	return skr_policy_check_ak_subject(ctx, info->subject_cn, err);
}

static int ek_policy_hook(const struct skr_tpm_identity_result *id, void *ctx,
			  struct skr_err *err)
{
	return skr_policy_check_ek_pin(ctx, id->ek_spki_sha256, err);
}

static int verify_evidence(struct skr_attested *c, struct skr_err *err)
{
	struct skr_evidence_policy pol = {
		.trust = &c->b->trust,
		.vcek = c->cached_vcek,
		.nonce = c->nonce.data,
		.nonce_len = c->nonce.len,
		.allow_debug = c->key.policy.allow_debug,
		.chain_cache = &c->b->chain_cache,
		.snp_policy = snp_policy_hook,
		.snp_policy_ctx = &c->key.policy,
		.ak_trust = c->b->ak_trust,
		.ak_policy = ak_policy_hook,
		.ak_policy_ctx = &c->key.policy,
		.ek_trust = c->b->ek_trust,
		.activation_key = c->b->nonce_secret,
		.activation_key_len = SKR_NONCE_SECRET_SIZE,
		.ek_policy = ek_policy_hook,
		.ek_policy_ctx = &c->key.policy,
	};

	return skr_evidence_verify(&c->ev, &pol, &c->res, err);
}

int skr_attested_match_pcrs(const struct skr_attested *c, const struct skr_pcr_banks *values,
			    size_t *matched, struct skr_err *err)
{
	size_t ignored;

	if (skr_policy_check_quote_selection(&c->key.policy, &c->res.quote, err) < 0)
		return -1;
	return skr_policy_match_pcrs(&c->key.policy, values ? values : &c->ev.pcrs, c->key.sets,
				     c->key.n_sets, matched ? matched : &ignored, err);
}

int skr_attested_gate_quoted(const struct skr_attested *c, enum skr_reason reason,
			     struct skr_err *err)
{
	const TPML_PCR_SELECTION *sel = &c->res.quote.attested.quote.pcrSelect;
	UINT32 i;

	for (i = 0; i < sel->count && i < TPM2_NUM_PCR_BANKS; i++) {
		const TPMS_PCR_SELECTION *s = &sel->pcrSelections[i];

		if (s->hash == c->key.policy.pcr_bank && s->sizeofSelect > SKR_GATE_PCR / 8 &&
		    s->sizeofSelect <= sizeof(s->pcrSelect) &&
		    (s->pcrSelect[SKR_GATE_PCR / 8] & (1u << (SKR_GATE_PCR % 8))))
			return 0;
	}
	return skr_fail(err, reason, "the quote does not cover %s PCR 15 (the boot gate)",
			skr_tpm_alg_name(c->key.policy.pcr_bank));
}

/*
 * A release only before any volume is open (gate.h): PCR 15 quoted (its value
 * is then covered by the verified PCR digest) and in its initial state.
 */
static int check_gate(struct skr_attested *c, struct skr_err *err)
{
	if (skr_attested_gate_quoted(c, SKR_R_pcr_not_quoted, err) < 0)
		return -1;
	return skr_gate_check_initial(&c->ev.pcrs, c->key.policy.pcr_bank, err);
}

/* Bare SNP has no PCRs: its boot state is the launch measurement, checked with the report. */
static int check_pcrs(struct skr_attested *c, struct skr_err *err)
{
	if (c->ev.tee == SKR_TEE_SNP)
		return 0;
	return check_gate(c, err) < 0 ? -1 : skr_attested_match_pcrs(c, NULL, NULL, err);
}

static int verify_wrap_key(struct skr_attested *c, struct skr_err *err)
{
	const struct skr_evidence *ev = &c->ev;

	/* snp: the key REPORT_DATA bound (checked with the evidence). */
	if (ev->tee == SKR_TEE_SNP)
		return skr_wrap_point_key(ev->wrap_epk.data, &c->wrap_pub, err);
	return skr_wrap_key_verify(ev->wrap_public.data, ev->wrap_public.len,
				   ev->wrap_certify_attest.data, ev->wrap_certify_attest.len,
				   ev->wrap_certify_signature.data, ev->wrap_certify_signature.len,
				   c->res.ak, c->nonce.data, c->nonce.len, &c->wrap_pub, err);
}

static int wrap_secret(struct skr_attested *c, struct skr_response *resp, struct skr_err *err)
{
	uint8_t *secret = skr_secret_alloc(SKR_STORE_MAX_SECRET);
	struct skr_wrapped w;
	json_object *wrapped;
	size_t len = 0;
	int rc = -1;

	if (!secret)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	if (skr_store_key_secret(c->b->store, c->key_id, secret, &len, err) < 0 ||
	    skr_wrap(c->wrap_pub, c->nonce.data, c->nonce.len, c->key_id, secret, len, &w, err) < 0)
		goto out;
	wrapped = json_object_new_object();
	json_object_object_add(wrapped, "alg", json_object_new_string(SKR_WRAP_ALG));
	skr_json_add_b64(wrapped, "epk", w.epk, sizeof(w.epk));
	skr_json_add_b64(wrapped, "iv", w.iv, sizeof(w.iv));
	skr_json_add_b64(wrapped, "ciphertext", w.ciphertext, w.ciphertext_len);
	skr_json_add_b64(wrapped, "tag", w.tag, sizeof(w.tag));
	resp->status = 200;
	resp->body = json_object_new_object();
	json_object_object_add(resp->body, "wrapped", wrapped);
	rc = 0;
out:
	skr_secret_free(secret);
	return rc;
}

static double elapsed(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static int attested_verify(struct skr_broker *b, json_object *req, bool pcrs_now,
			   bool defer_nonce, struct skr_attested *c, struct skr_err *err)
{
	memset(c, 0, sizeof(*c));
	c->b = b;
	c->key_id = key_id_field(req, err);
	if (!c->key_id || load_key(b, c->key_id, &c->key, err) < 0 ||
	    check_nonce(c, req, defer_nonce, err) < 0 ||
	    parse_evidence(c, req, err) < 0 || cached_vcek(c, err) < 0 ||
	    verify_evidence(c, err) < 0 || (pcrs_now && check_pcrs(c, err) < 0))
		return -1;
	return verify_wrap_key(c, err);
}

int skr_attested_verify(struct skr_broker *b, json_object *req, bool pcrs_now,
			struct skr_attested *c, struct skr_err *err)
{
	return attested_verify(b, req, pcrs_now, false, c, err);
}

/*
 * A release's audit row, with its nonce.  No audit row, no release: a
 * granted release whose row (or nonce) cannot be written is turned into a
 * refusal and the wrapped secret built for it is dropped unsent.  err (and
 * resp) end as the request's final outcome.
 */
static void release_audit(struct skr_broker *b, struct skr_attested *c, const char *client,
			  const uint8_t body_sha256[32], struct skr_response *resp,
			  struct skr_err *err)
{
	struct skr_err failed = { 0 };

	if (audit_write(b, c->key_id, client, "release", err, body_sha256, c, &failed) == 0)
		return;
	if (failed.reason == SKR_R_nonce_replayed) {
		/* A replica released on this nonce meanwhile: a denial, audited as such. */
		c->nonce_unrecorded = false;
		if (err->reason == SKR_R_ok) {
			json_object_put(resp->body);
			*err = failed;
			skr_broker_respond_failure(resp, err);
		}
		skr_broker_audit(b, c->key_id, client, "release", err, body_sha256);
		return;
	}
	skr_broker_audit_failure(b, client, "release", verdict_of(err), &failed);
	if (err->reason != SKR_R_ok)
		return;
	json_object_put(resp->body);
	if (failed.reason == SKR_R_store_unavailable || failed.reason == SKR_R_store_full) {
		/* Not granted after all: the client tries another broker. */
		*err = failed;
		skr_broker_respond_unavailable(resp, err);
		return;
	}
	skr_fail(err, SKR_R_audit_failed, "the release could not be audited, so it is refused");
	skr_response_error(resp, 500, "internal error", err);
}

void skr_broker_release(struct skr_broker *b, json_object *req, const char *client,
			const uint8_t body_sha256[32], struct skr_response *resp)
{
	struct skr_attested c;
	struct skr_err err = { 0 };
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (attested_verify(b, req, true, true, &c, &err) < 0 || wrap_secret(&c, resp, &err) < 0)
		skr_broker_respond_failure(resp, &err);
	release_audit(b, &c, client, body_sha256, resp, &err);
	skr_metrics_release(&b->metrics, err.reason, elapsed(&t0));
	skr_attested_free(&c);
}
