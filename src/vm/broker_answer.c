/* SPDX-License-Identifier: Apache-2.0 */
#include "vm/broker_answer.h"

#include <string.h>

#include "verify/eventlog.h"
#include "common/json_util.h"
#include "common/util.h"

#define MAX_DEPTH 16		/* the protocol nests three levels deep */
#define B64_LEN(n) (((n) + 2) / 3 * 4)

static int protocol(struct skr_err *err, const char *broker, const char *what)
{
	char who[160];

	skr_sanitize_text(broker ? broker : "the broker", SIZE_MAX, who, sizeof(who));
	return skr_fail(err, SKR_R_broker_protocol, "%s: %s", who, what);
}

int skr_answer_parse_body(const char *broker, const uint8_t *body, size_t len, json_object **out,
			  struct skr_err *err)
{
	json_object *obj;

	*out = NULL;
	if (!body || !len)
		return protocol(err, broker, "the answer has no body");
	if (len > SKR_ANSWER_MAX_BODY)
		return protocol(err, broker, "the answer is larger than 64 KiB");
	obj = skr_json_parse_exact(body, len, MAX_DEPTH);
	if (!obj || !json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		return protocol(err, broker, "the answer is not one JSON object");
	}
	*out = obj;
	return 0;
}

/* The member key of type t, or NULL (a JSON null is no member at all). */
static json_object *member(json_object *o, const char *key, json_type t)
{
	json_object *v = NULL;

	if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, t))
		return NULL;
	return v;
}

static bool has_member(json_object *o, const char *key)
{
	return json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, key, NULL);
}

/* Base64 of exactly min..max bytes, bounded before it is decoded. */
static int b64_member(const char *broker, json_object *o, const char *key, const char *name,
		      uint8_t *dst, size_t min, size_t max, size_t *len, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf raw = { 0 };
	struct skr_err ignored = { 0 };
	json_object *v = member(o, key, json_type_string);
	char what[128];

	if (min == max)
		snprintf(what, sizeof(what), "%s must be base64 of %zu bytes", name, min);
	else
		snprintf(what, sizeof(what), "%s must be base64 of %zu to %zu bytes", name, min, max);
	if (!v || (size_t)json_object_get_string_len(v) > B64_LEN(max) ||
	    skr_base64_decode(json_object_get_string(v), (size_t)json_object_get_string_len(v), &raw,
			      name, &ignored) < 0 ||
	    raw.len < min || raw.len > max)
		return protocol(err, broker, what);
	memcpy(dst, raw.data, raw.len);
	if (len)
		*len = raw.len;
	return 0;
}

/* An integer member in lo..hi. */
static int int_member(const char *broker, json_object *o, const char *key, int64_t lo, int64_t hi,
		      int64_t *out, struct skr_err *err)
{
	json_object *v = member(o, key, json_type_int);
	char what[128];
	int64_t n;

	n = v ? json_object_get_int64(v) : 0;
	if (!v || n < lo || n > hi) {
		snprintf(what, sizeof(what), "\"%s\" must be an integer from %lld to %lld", key,
			 (long long)lo, (long long)hi);
		return protocol(err, broker, what);
	}
	if (out)
		*out = n;
	return 0;
}

static int bool_member(const char *broker, json_object *o, const char *key, struct skr_err *err)
{
	char what[96];

	if (member(o, key, json_type_boolean))
		return 0;
	snprintf(what, sizeof(what), "\"%s\" must be true or false", key);
	return protocol(err, broker, what);
}

/* A string member of at most max bytes; optional ones may be absent. */
static const char *text_member(const char *broker, json_object *o, const char *key, size_t max,
			       bool optional, struct skr_err *err)
{
	json_object *v = member(o, key, json_type_string);
	char what[128];

	if (!v && optional && !has_member(o, key))
		return "";
	if (v && (size_t)json_object_get_string_len(v) <= max &&
	    strlen(json_object_get_string(v)) == (size_t)json_object_get_string_len(v))
		return json_object_get_string(v);
	snprintf(what, sizeof(what), "\"%s\" must be a string of at most %zu bytes", key, max);
	protocol(err, broker, what);
	return NULL;
}

/* A string member from a fixed set. */
static int enum_member(const char *broker, json_object *o, const char *key,
		       const char *const *allowed, struct skr_err *err)
{
	const char *s = text_member(broker, o, key, SKR_ANSWER_MAX_NAME, false, err);
	char what[128];
	size_t i;

	for (i = 0; s && allowed[i]; i++)
		if (!strcmp(s, allowed[i]))
			return 0;
	if (s) {
		snprintf(what, sizeof(what), "\"%s\" is not one of the values the protocol defines", key);
		protocol(err, broker, what);
	}
	return -1;
}

/* ---- Challenge ----------------------------------------------------------- */

static int challenge_pcrs(const char *broker, json_object *resp, struct skr_challenge *c,
			  struct skr_err *err)
{
	json_object *pcrs = member(resp, "pcrs", json_type_object), *idx, *bank;
	size_t i, n;

	bank = member(pcrs, "bank", json_type_string);
	if (!pcrs || !bank || !(c->bank = skr_tpm_alg_from_name(json_object_get_string(bank))))
		return protocol(err, broker, "pcrs.bank must name a known PCR bank");
	/* The client quotes the sha256 bank only, and a broker takes no policy of another. */
	if (c->bank != SKR_TPM_ALG_SHA256)
		return protocol(err, broker, "pcrs.bank must be sha256, the bank the client quotes");
	idx = member(pcrs, "indexes", json_type_array);
	n = idx ? json_object_array_length(idx) : 0;
	if (!idx || n > SKR_PCR_COUNT)
		return protocol(err, broker, "pcrs.indexes must be an array of at most 24 PCR indexes");
	for (i = 0; i < n; i++) {
		json_object *v = json_object_array_get_idx(idx, i);
		int64_t pcr = json_object_get_int64(v);

		if (!json_object_is_type(v, json_type_int) || pcr < 0 || pcr >= SKR_PCR_COUNT)
			return protocol(err, broker, "pcrs.indexes must hold integers from 0 to 23");
		if (c->pcr_mask & (UINT32_C(1) << pcr))
			return protocol(err, broker, "pcrs.indexes names a PCR twice");
		c->pcr_mask |= UINT32_C(1) << pcr;
	}
	return 0;
}

int skr_answer_challenge(const char *broker, json_object *resp, struct skr_challenge *out,
			 struct skr_err *err)
{
	struct skr_challenge c = { 0 };

	if (b64_member(broker, resp, "nonce", "nonce", c.nonce, sizeof(c.nonce), sizeof(c.nonce), NULL,
		       err) < 0 ||
	    int_member(broker, resp, "expires", 1, INT64_MAX, &c.expires, err) < 0 ||
	    challenge_pcrs(broker, resp, &c, err) < 0) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	*out = c;
	return 0;
}

int skr_answer_credential(const char *broker, json_object *resp, struct skr_credential *out,
			  struct skr_err *err)
{
	json_object *c = member(resp, "credential", json_type_object);

	memset(out, 0, sizeof(*out));
	if (!c)
		return protocol(err, broker, "the challenge answer lacks the object \"credential\" "
					     "(tee \"tpm\")");
	if (b64_member(broker, c, "blob", "credential.blob", out->blob, 1, sizeof(out->blob),
		       &out->blob_len, err) < 0 ||
	    b64_member(broker, c, "secret", "credential.secret", out->secret, 1,
		       sizeof(out->secret), &out->secret_len, err) < 0) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	return 0;
}

/* ---- Release ------------------------------------------------------------- */

int skr_answer_wrapped(const char *broker, json_object *resp, struct skr_wrapped *out,
		       struct skr_err *err)
{
	json_object *w = member(resp, "wrapped", json_type_object);
	json_object *alg = member(w, "alg", json_type_string);
	int rc;

	memset(out, 0, sizeof(*out));
	if (!w)
		return protocol(err, broker, "the answer lacks the object \"wrapped\"");
	if (!alg || strcmp(json_object_get_string(alg), SKR_WRAP_ALG) != 0 ||
	    (size_t)json_object_get_string_len(alg) != strlen(SKR_WRAP_ALG))
		return protocol(err, broker, "wrapped.alg must be \"" SKR_WRAP_ALG "\"");
	rc = b64_member(broker, w, "epk", "wrapped.epk", out->epk, SKR_WRAP_EPK_SIZE,
			SKR_WRAP_EPK_SIZE, NULL, err) < 0 ||
			     b64_member(broker, w, "iv", "wrapped.iv", out->iv, SKR_WRAP_IV_SIZE,
					SKR_WRAP_IV_SIZE, NULL, err) < 0 ||
			     b64_member(broker, w, "ciphertext", "wrapped.ciphertext", out->ciphertext, 1,
					SKR_WRAP_MAX_SECRET, &out->ciphertext_len, err) < 0 ||
			     b64_member(broker, w, "tag", "wrapped.tag", out->tag, SKR_WRAP_TAG_SIZE,
					SKR_WRAP_TAG_SIZE, NULL, err) < 0
		     ? -1
		     : 0;
	if (rc == 0 && !skr_wrap_epk_valid(out->epk))
		rc = protocol(err, broker, "wrapped.epk must be an uncompressed point on P-256");
	if (rc < 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

/* ---- Denials and errors ---------------------------------------------------- */

int skr_answer_failure(const char *broker, const char *path, long status, json_object *resp,
		       struct skr_err *err)
{
	struct skr_err local = { 0 };
	const char *error, *reason, *detail;
	char who[160], safe[400], what[600];
	enum skr_reason r;

	skr_sanitize_text(broker ? broker : "the broker", SIZE_MAX, who, sizeof(who));
	if (status >= 500 && status <= 599)
		return skr_fail(err, SKR_R_broker_unreachable, "%s failed with HTTP %ld", who, status);
	if (!resp) {
		snprintf(what, sizeof(what), "%s answered HTTP %ld without JSON", path ? path : "",
			 status);
		return protocol(err, broker, what);
	}
	/* Every member is checked before any is used: one bad member, one clear error. */
	error = text_member(broker, resp, "error", SKR_ANSWER_MAX_NAME, status != 403, &local);
	reason = error ? text_member(broker, resp, "reason", SKR_ANSWER_MAX_NAME, status != 403, &local)
		       : NULL;
	detail = reason ? text_member(broker, resp, "detail", SKR_ANSWER_MAX_TEXT, true, &local) : NULL;
	if (!detail) {
		*err = local;
		return -1;
	}
	skr_sanitize_text(detail, SIZE_MAX, safe, sizeof(safe));
	r = skr_reason_from_name(reason);
	if (status == 403) {
		if (r < SKR_R__COUNT && skr_reason_class(r) == SKR_CLASS_VERIFY)
			return skr_fail(err, r, "%s refused: %s", who, safe);
		return protocol(err, broker, "\"reason\" of a denial is not a known refusal reason");
	}
	skr_sanitize_text(*reason ? reason : error, SIZE_MAX, what, 80);
	return skr_fail(err, SKR_R_broker_protocol, "%s answered HTTP %ld: %s%s%s", who, status,
			*what ? what : "no reason", *safe ? ": " : "", safe);
}

/* ---- Reseal answers ------------------------------------------------------ */

/* A text member replaced by its sanitised form (absent stays absent). */
static int safe_text(const char *broker, json_object *resp, const char *key, bool optional,
		     struct skr_err *err)
{
	const char *s = text_member(broker, resp, key, SKR_ANSWER_MAX_TEXT, optional, err);
	char safe[SKR_ANSWER_MAX_TEXT + 1];

	if (!s)
		return -1;
	if (!has_member(resp, key))
		return 0;
	skr_sanitize_text(s, SIZE_MAX, safe, sizeof(safe));
	json_object_object_add(resp, key, json_object_new_string(safe));
	return 0;
}

static const char *const submit_states[] = { "current", "pending", "queued", NULL };
static const char *const next_states[] = { "pending", "queued", NULL };
static const char *const gate_states[] = { "open", "closed", NULL };

static const char *const snp_tees[] = { "snp", NULL };

static int refvals_check(const char *broker, json_object *resp, struct skr_err *err)
{
	json_object *accepted = member(resp, "accepted", json_type_boolean);
	/* A tee "snp" key's answer: no PCR set matched (there are none), nothing to resubmit. */
	bool snp = has_member(resp, "tee");

	if (bool_member(broker, resp, "accepted", err) < 0 ||
	    bool_member(broker, resp, "this_boot_matches", err) < 0 ||
	    (snp && enum_member(broker, resp, "tee", snp_tees, err) < 0) ||
	    (!snp && enum_member(broker, resp, "submission_would_be", next_states, err) < 0) ||
	    (has_member(resp, "gate") && enum_member(broker, resp, "gate", gate_states, err) < 0) ||
	    safe_text(broker, resp, "note", true, err) < 0)
		return -1;
	if (json_object_get_boolean(accepted))
		return snp ? 0 : int_member(broker, resp, "id", 1, INT64_MAX, NULL, err);
	return safe_text(broker, resp, "detail", false, err);
}

/*
 * Members other than the operation's own are dropped: skrctl prints the
 * answer (--json), and only checked members may reach a terminal.
 */
static void keep_only(json_object *resp, const char *const *known)
{
	const char *drop[32];
	size_t n = 0, i;

	do {
		n = 0;
		json_object_object_foreach(resp, key, val) {
			(void)val;
			for (i = 0; known[i] && strcmp(known[i], key); i++)
				;
			if (!known[i] && n < ARRAY_SIZE(drop))
				drop[n++] = key;
		}
		for (i = 0; i < n; i++)
			json_object_object_del(resp, drop[i]);
	} while (n == ARRAY_SIZE(drop));
}

static const char *const submit_members[] = { "id", "state", "existed", "superseded",
					      "this_boot_matches", "gate", "note", NULL };
static const char *const check_members[] = { "accepted", "id", "detail", "this_boot_matches",
					     "submission_would_be", "gate", "note", "tee", NULL };
static const char *const commit_members[] = { "id", "retired", "deleted", NULL };
static const char *const withdraw_members[] = { "removed", NULL };

static int refvals_op(const char *broker, const char *op, json_object *resp, struct skr_err *err)
{
	if (!strcmp(op, ""))
		return int_member(broker, resp, "id", 1, INT64_MAX, NULL, err) < 0 ||
				       enum_member(broker, resp, "state", submit_states, err) < 0 ||
				       bool_member(broker, resp, "existed", err) < 0 ||
				       int_member(broker, resp, "superseded", 0, INT32_MAX, NULL, err) < 0 ||
				       (has_member(resp, "this_boot_matches") &&
					bool_member(broker, resp, "this_boot_matches", err) < 0) ||
				       (has_member(resp, "gate") &&
					enum_member(broker, resp, "gate", gate_states, err) < 0) ||
				       safe_text(broker, resp, "note", true, err) < 0
			       ? -1
			       : 0;
	if (!strcmp(op, "/check"))
		return refvals_check(broker, resp, err);
	if (!strcmp(op, "/commit"))
		return int_member(broker, resp, "id", 1, INT64_MAX, NULL, err) < 0 ||
				       int_member(broker, resp, "retired", 0, INT32_MAX, NULL, err) < 0 ||
				       int_member(broker, resp, "deleted", 0, INT32_MAX, NULL, err) < 0
			       ? -1
			       : 0;
	return int_member(broker, resp, "removed", 0, INT32_MAX, NULL, err);
}

int skr_answer_refvals(const char *broker, const char *path, json_object *resp,
		       struct skr_err *err)
{
	static const struct {
		const char *op;
		const char *const *members;
	} ops[] = {
		{ "", submit_members },
		{ "/check", check_members },
		{ "/commit", commit_members },
		{ "/withdraw", withdraw_members },
	};
	const char *op = path && !strncmp(path, "/v1/refvals", 11) ? path + 11 : "?";
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ops) && strcmp(ops[i].op, op); i++)
		;
	if (i == ARRAY_SIZE(ops))
		return skr_fail(err, SKR_R_usage, "no answer check for %s", path ? path : "(none)");
	if (refvals_op(broker, op, resp, err) < 0)
		return -1;
	keep_only(resp, ops[i].members);
	return 0;
}
