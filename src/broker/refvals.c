/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reseal: reference PCR sets proposed by the VM itself, with fresh evidence
 * (docs/DESIGN.md, section 7).  Every request is an attested one,
 * verified as a release is (nonce, AMD chain, SNP policy, claims, quote, wrap
 * key certify); what differs is what the quoted PCRs decide.
 *
 * Every call also carries "gate_events", the client's boot gate log
 * (gate.h).  "The gate passes" below means: the quoted PCR 15 replays from
 * that log, and the log starts with this key's volume opened by an attested
 * release followed by the handover, so the running system is the one the
 * key's own volume booted, and nothing else was opened in the initramfs.
 *
 *   POST /v1/refvals           {key_id, nonce, evidence, label, pcrs, gate_events}
 *        The predicted set becomes "pending" (it matches releases at once)
 *        when the quoted PCRs match the key's sets now, the gate passes and
 *        the policy allows attested reseal; otherwise it is "queued" for an operator
 *        (POST /v1/keys/ID/refsets/N/approve), with a note saying why.
 *        Evidence that fails before the PCRs is refused and queues nothing.
 *        Only a pending submission replaces older sets with its label; a
 *        queued one never removes anything, and a full queue refuses it
 *        (refset_queue_full): an unapproved VM that passes the SNP policy
 *        can neither delete an approved boot's set nor push one out
 *        (skr_store_refset_submit).
 *   POST /v1/refvals/check     {key_id, nonce, evidence, pcrs}
 *        Dry run: would a boot with these PCRs be released, and would a
 *        submission now be pending or queued ("gate": "open" when the gate
 *        passes, else "closed")?  Changes nothing.  A tee "snp" key takes
 *        no "pcrs": its evidence verified as a release's is the answer
 *        ({"accepted", "this_boot_matches": true, "tee": "snp", "note"}).
 *   POST /v1/refvals/commit    {key_id, nonce, evidence}
 *        After a boot: the set the quoted PCRs match becomes current, older
 *        ones are retired (a bounded history).  The gate must pass
 *        (boot_gate_unexpected) and the PCRs must match.
 *   POST /v1/refvals/withdraw  {key_id, nonce, evidence, label}
 *        The pending and queued sets with that label go (a removed kernel).
 *        The gate must pass and the PCRs must match.
 *
 * The old boot's sets stay until a boot that matched a newer one commits, so
 * an interrupted reseal leaves the old boot able to unlock: two-phase.
 */
#include <string.h>

#include "broker/broker.h"
#include "common/gate.h"
#include "common/pcr_json.h"
#include "common/util.h"

struct refvals_req {
	struct skr_attested a;
	const char *label;
	struct skr_pcr_banks *predicted;	/* NULL unless the operation takes "pcrs" */
	json_object *answer;
	/*
	 * A write's "allow" row, handed to the store so the change and its row
	 * land in one transaction (no audit row, no change); audited says it was.
	 */
	struct skr_audit_entry audit;
	bool audited;
};

/* The allow row of a write, its detail the label (the store adds the outcome). */
static const struct skr_audit_entry *allow_row(struct refvals_req *r)
{
	r->audit.key_id = r->a.key_id;
	r->audit.verdict = "allow";
	r->audit.detail = r->label;
	return &r->audit;
}

static const char *label_field(json_object *req, struct skr_err *err)
{
	json_object *v;

	if (!json_object_object_get_ex(req, "label", &v) || !json_object_is_type(v, json_type_string)) {
		skr_fail(err, SKR_R_malformed, "request lacks the string \"label\"");
		return NULL;
	}
	return json_object_get_string(v);
}

/* The predicted set: values for every PCR the policy binds, in its bank. */
static int predicted_field(struct refvals_req *r, json_object *req, struct skr_err *err)
{
	const struct skr_policy *p = &r->a.key.policy;
	const struct skr_pcr_bank *bank;
	json_object *v;
	uint32_t missing;

	if (!json_object_object_get_ex(req, "pcrs", &v))
		return skr_fail(err, SKR_R_malformed, "request lacks \"pcrs\" (the predicted set)");
	r->predicted = calloc(1, sizeof(*r->predicted));
	if (!r->predicted)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	if (skr_pcr_banks_from_json(v, r->predicted, err) < 0)
		return -1;
	bank = skr_pcr_banks_find(r->predicted, p->pcr_bank);
	missing = p->pcr_mask & ~(bank ? bank->extended_mask : 0);
	if (missing)
		return skr_fail(err, SKR_R_malformed,
				"the predicted set lacks %s PCR %d, which the key's policy binds",
				skr_tpm_alg_name(p->pcr_bank), __builtin_ctz(missing));
	return 0;
}

/* The predicted set as the store keeps it: the policy's bank and PCRs only. */
static json_object *bound_values_json(const struct skr_policy *p, const struct skr_pcr_banks *in)
{
	_cleanup_free_ struct skr_pcr_banks *out = calloc(1, sizeof(*out));
	const struct skr_pcr_bank *bank = skr_pcr_banks_find(in, p->pcr_bank);

	if (!out || !bank)
		return NULL;
	out->count = 1;
	out->bank[0] = *bank;
	out->bank[0].extended_mask = p->pcr_mask;
	return skr_pcr_banks_to_json(out);
}

/* ---- Operations ------------------------------------------------------------ */

/*
 * The boot gate for reseal (gate.h): PCR 15 quoted, replaying from the
 * client's "gate_events", which start with this key's attested open and the
 * handover.  Else boot_gate_unexpected, the detail naming what failed.
 */
static int gate_check(const struct refvals_req *r, json_object *req, struct skr_err *err)
{
	json_object *events = NULL;

	if (skr_attested_gate_quoted(&r->a, SKR_R_boot_gate_unexpected, err) < 0)
		return -1;
	json_object_object_get_ex(req, "gate_events", &events);
	return skr_gate_check_attested_open(&r->a.ev.pcrs, r->a.key.policy.pcr_bank, r->a.key_id,
					    events, err);
}

/* Why a submission cannot be pending at once (NULL: it can). */
static const char *queue_reason(const struct refvals_req *r, const struct skr_err *now,
				const struct skr_err *gate, char *buf, size_t size)
{
	if (now->reason != SKR_R_ok) {
		snprintf(buf, size, "this boot does not match the key's sets (%s): %s",
			 skr_reason_name(now->reason), now->detail);
		return buf;
	}
	if (gate->reason != SKR_R_ok) {
		snprintf(buf, size, "the boot gate (PCR 15) does not show this key's volume opened "
			 "by an attested release and nothing else (%s): %s",
			 skr_reason_name(gate->reason), gate->detail);
		return buf;
	}
	if (!r->a.key.policy.allow_attested_reseal)
		return "the key's policy does not allow attested reseal";
	return NULL;
}

static int op_submit(struct refvals_req *r, json_object *req, struct skr_err *err)
{
	struct skr_err now = { 0 }, gate = { 0 };
	struct skr_store_submit res;
	json_object *values;
	const char *why;
	char buf[sizeof(now.detail) + 160];
	int rc;

	if (!(r->label = label_field(req, err)) || predicted_field(r, req, err) < 0)
		return -1;
	skr_attested_match_pcrs(&r->a, NULL, NULL, &now);
	gate_check(r, req, &gate);
	why = queue_reason(r, &now, &gate, buf, sizeof(buf));
	values = bound_values_json(&r->a.key.policy, r->predicted);
	if (!values)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	/* Only a boot that is approved now (its set will be pending) may supersede. */
	rc = skr_store_refset_submit(r->a.b->store, r->a.key_id, r->label, why ? "queued" : "pending",
				     json_object_to_json_string(values), why, why == NULL, &res,
				     allow_row(r), err);
	json_object_put(values);
	if (rc < 0)
		return -1;
	r->audited = true;
	r->answer = json_object_new_object();
	json_object_object_add(r->answer, "id", json_object_new_int64(res.id));
	json_object_object_add(r->answer, "state", json_object_new_string(res.state));
	json_object_object_add(r->answer, "existed", json_object_new_boolean(res.existed));
	json_object_object_add(r->answer, "superseded", json_object_new_int((int)res.superseded));
	json_object_object_add(r->answer, "this_boot_matches",
			       json_object_new_boolean(now.reason == SKR_R_ok));
	json_object_object_add(r->answer, "gate",
			       json_object_new_string(gate.reason == SKR_R_ok ? "open" : "closed"));
	if (why && !strcmp(res.state, "queued"))
		json_object_object_add(r->answer, "note", json_object_new_string(why));
	return 0;
}

/*
 * Bare SNP (tee "snp"): no PCRs, no reference sets, no PCR 15.  The evidence
 * was verified as a release verifies it (chain, signature, the policy with
 * its launch measurements, REPORT_DATA bound to nonce and wrap key), and a
 * refusal there has already ended the request with its reason; so this boot
 * would be released.  There is nothing to reseal: a new image is a new
 * measurement in the policy, hence no "submission_would_be".
 */
static int op_check_snp(struct refvals_req *r)
{
	r->answer = json_object_new_object();
	json_object_object_add(r->answer, "accepted", json_object_new_boolean(true));
	json_object_object_add(r->answer, "this_boot_matches", json_object_new_boolean(true));
	json_object_object_add(r->answer, "tee", json_object_new_string(SKR_TEE_NAME_SNP));
	json_object_object_add(r->answer, "note",
			       json_object_new_string("tee \"snp\": the launch measurement is the "
						      "boot state; no PCR sets, nothing to reseal"));
	return 0;
}

static int op_check(struct refvals_req *r, json_object *req, struct skr_err *err)
{
	struct skr_err now = { 0 }, next = { 0 }, gate = { 0 };
	char buf[sizeof(now.detail) + 160];
	const char *why;
	size_t matched = 0;
	bool accepted;

	if (r->a.key.policy.tee == SKR_TEE_SNP)
		return op_check_snp(r);
	if (predicted_field(r, req, err) < 0)
		return -1;
	skr_attested_match_pcrs(&r->a, NULL, NULL, &now);
	accepted = skr_attested_match_pcrs(&r->a, r->predicted, &matched, &next) == 0;
	gate_check(r, req, &gate);
	why = queue_reason(r, &now, &gate, buf, sizeof(buf));
	r->answer = json_object_new_object();
	json_object_object_add(r->answer, "accepted", json_object_new_boolean(accepted));
	if (accepted)
		json_object_object_add(r->answer, "id", json_object_new_int64(r->a.key.ids[matched]));
	else
		json_object_object_add(r->answer, "detail", json_object_new_string(next.detail));
	json_object_object_add(r->answer, "this_boot_matches",
			       json_object_new_boolean(now.reason == SKR_R_ok));
	json_object_object_add(r->answer, "gate",
			       json_object_new_string(gate.reason == SKR_R_ok ? "open" : "closed"));
	json_object_object_add(r->answer, "submission_would_be",
			       json_object_new_string(why ? "queued" : "pending"));
	if (why)
		json_object_object_add(r->answer, "note", json_object_new_string(why));
	return 0;
}

static int op_commit(struct refvals_req *r, json_object *req, struct skr_err *err)
{
	struct skr_store_commit res;
	size_t matched;
	int64_t id;

	if (gate_check(r, req, err) < 0 || skr_attested_match_pcrs(&r->a, NULL, &matched, err) < 0)
		return -1;
	id = r->a.key.ids[matched];
	if (skr_store_refset_commit(r->a.b->store, r->a.key_id, id, SKR_STORE_KEEP_RETIRED, &res,
				    allow_row(r), err) < 0)
		return -1;
	r->audited = true;
	r->answer = json_object_new_object();
	json_object_object_add(r->answer, "id", json_object_new_int64(id));
	json_object_object_add(r->answer, "retired", json_object_new_int((int)res.retired));
	json_object_object_add(r->answer, "deleted", json_object_new_int((int)res.deleted));
	return 0;
}

static int op_withdraw(struct refvals_req *r, json_object *req, struct skr_err *err)
{
	unsigned removed;

	if (!(r->label = label_field(req, err)) || gate_check(r, req, err) < 0 ||
	    skr_attested_match_pcrs(&r->a, NULL, NULL, err) < 0 ||
	    skr_store_refset_withdraw(r->a.b->store, r->a.key_id, r->label, &removed, allow_row(r),
				      err) < 0)
		return -1;
	r->audited = true;
	r->answer = json_object_new_object();
	json_object_object_add(r->answer, "removed", json_object_new_int((int)removed));
	return 0;
}

static const struct {
	const char *path;	/* after /v1/refvals */
	const char *action;	/* in the audit log */
	int (*run)(struct refvals_req *r, json_object *req, struct skr_err *err);
} ops[] = {
	{ "", "reseal:submit", op_submit },
	{ "/check", "reseal:check", op_check },
	{ "/commit", "reseal:commit", op_commit },
	{ "/withdraw", "reseal:withdraw", op_withdraw },
};

/* What the audit row says beyond the verdict: the set and its new state. */
static void audit_outcome(const struct refvals_req *r, char *buf, size_t size)
{
	json_object *id = NULL, *state = NULL;

	buf[0] = '\0';
	if (!r->answer)
		return;
	json_object_object_get_ex(r->answer, "id", &id);
	json_object_object_get_ex(r->answer, "state", &state);
	snprintf(buf, size, "%s%s%s%s%s", r->label ? r->label : "", id ? " set " : "",
		 id ? json_object_get_string(id) : "", state ? " " : "",
		 state ? json_object_get_string(state) : "");
}

void skr_broker_refvals(struct skr_broker *b, const char *op, json_object *req,
			const char *client, const uint8_t body_sha256[32],
			struct skr_response *resp)
{
	struct refvals_req r = { 0 };
	struct skr_err err = { 0 };
	char outcome[160];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ops) && strcmp(ops[i].path, op); i++)
		;
	if (i == ARRAY_SIZE(ops)) {
		skr_response_error(resp, 404, "no such endpoint", NULL);
		return;
	}
	r.audit.client = client;
	r.audit.action = ops[i].action;
	r.audit.evidence_digest = body_sha256;
	if (skr_attested_verify(b, req, false, &r.a, &err) < 0 || ops[i].run(&r, req, &err) < 0) {
		skr_broker_respond_failure(resp, &err);
	} else {
		audit_outcome(&r, outcome, sizeof(outcome));
		snprintf(err.detail, sizeof(err.detail), "%s", outcome);
		resp->status = 200;
		resp->body = r.answer;
		r.answer = NULL;
	}
	/*
	 * A write's allow row landed with it.  Any other outcome (a refusal, a
	 * check, a write the store refused) changed nothing and is audited now;
	 * no audit row, no success: the client is told the call failed (500
	 * audit_failed; skr_broker_audit counts and logs it).
	 */
	if (r.audited)
		goto out;
	if (err.reason == SKR_R_audit_failed)
		skr_broker_audit_failure(b, client, ops[i].action, "allow", &err);
	if (skr_broker_audit(b, r.a.key_id, client, ops[i].action, &err, body_sha256) < 0 &&
	    resp->status == 200) {
		struct skr_err failed = { 0 };

		json_object_put(resp->body);
		resp->body = NULL;
		skr_fail(&failed, SKR_R_audit_failed, "the audit row could not be written");
		skr_response_error(resp, 500, "internal error", &failed);
	}
out:
	json_object_put(r.answer);
	free(r.predicted);
	skr_attested_free(&r.a);
}
