/* SPDX-License-Identifier: Apache-2.0 */
/* An exported audit log checked against its signed checkpoints (audit_log.h). */
#include "verify/audit_log.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/audit_chain.h"
#include "common/util.h"

/* One exported row, as far as it could be read. */
struct row {
	json_object *o;
	uint64_t seq;
	bool seq_ok, links_ok;		/* seq a positive integer; prev and hash 32 bytes of hex */
	uint8_t prev[SKR_AUDIT_HASH_SIZE], hash[SKR_AUDIT_HASH_SIZE];
};

struct checkpoint {
	uint64_t seq;
	int64_t time;
	uint8_t hash[SKR_AUDIT_HASH_SIZE];
};

static json_object *parse_array(const char *text, size_t len, const char *what,
				struct skr_err *err)
{
	json_tokener *tok = json_tokener_new();
	json_object *o = NULL;

	if (!tok) {
		skr_fail(err, SKR_R_nomem, "out of memory reading the %s", what);
		return NULL;
	}
	if (len <= INT32_MAX)
		o = json_tokener_parse_ex(tok, text, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(o, json_type_array)) {
		json_object_put(o);
		o = NULL;
		skr_fail(err, SKR_R_malformed, "the %s is not a JSON array (export it with "
			 "`skrctl broker audit --json --all` and `--checkpoints`)", what);
	}
	json_tokener_free(tok);
	return o;
}

static bool get_u64(json_object *o, const char *name, uint64_t *out)
{
	json_object *v;
	int64_t n;

	if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_int))
		return false;
	n = json_object_get_int64(v);
	*out = (uint64_t)n;
	return n > 0;
}

/* name: exactly len bytes of hex. */
static bool get_hex(json_object *o, const char *name, uint8_t *out, size_t len)
{
	_cleanup_buf_ struct skr_buf b = { 0 };
	struct skr_err e = { 0 };
	json_object *v;

	if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_string) ||
	    (size_t)json_object_get_string_len(v) != 2 * len ||
	    skr_hex_decode(json_object_get_string(v), 2 * len, &b, name, &e) < 0 || b.len != len)
		return false;
	memcpy(out, b.data, len);
	return true;
}

static void read_row(json_object *o, struct row *r)
{
	memset(r, 0, sizeof(*r));
	r->o = o;
	if (!json_object_is_type(o, json_type_object))
		return;
	r->seq_ok = get_u64(o, "seq", &r->seq);
	r->links_ok = get_hex(o, "prev", r->prev, SKR_AUDIT_HASH_SIZE) &&
		      get_hex(o, "hash", r->hash, SKR_AUDIT_HASH_SIZE);
}

/* Whether the row's contents hash to its "hash": false for any member out of shape. */
static bool row_hash_ok(const struct row *r)
{
	struct skr_audit_fields f = { 0 };
	_cleanup_buf_ struct skr_buf digest = { 0 };
	struct skr_err e = { 0 };
	uint8_t got[SKR_AUDIT_HASH_SIZE];
	json_object *v;
	size_t i;

	if (!r->links_ok || !json_object_object_get_ex(r->o, "time", &v) ||
	    !json_object_is_type(v, json_type_int))
		return false;
	f.time = json_object_get_int64(v);
	for (i = 0; i < 6; i++) {
		if (!json_object_object_get_ex(r->o, skr_audit_text_names[i], &v))
			return false;
		if (!v)
			continue;
		if (!json_object_is_type(v, json_type_string))
			return false;
		f.text[i] = json_object_get_string(v);
		f.text_len[i] = (size_t)json_object_get_string_len(v);
	}
	if (!json_object_object_get_ex(r->o, "evidence_digest", &v))
		return false;
	if (v) {
		if (!json_object_is_type(v, json_type_string) ||
		    skr_hex_decode(json_object_get_string(v), (size_t)json_object_get_string_len(v),
				   &digest, "evidence_digest", &e) < 0)
			return false;
		/* An empty digest is still "present": point at something. */
		f.digest = digest.data ? digest.data : (const uint8_t *)"";
		f.digest_len = digest.len;
	}
	return skr_audit_row_hash(r->seq, r->prev, &f, got, &e) == 0 &&
	       !memcmp(got, r->hash, SKR_AUDIT_HASH_SIZE);
}

/* The seq a failure names. */
static void broken(struct skr_audit_report *rep, uint64_t seq)
{
	rep->bad_seq = seq;
}

/* Whether a row with seq appears at or after position from. */
static bool seq_later(const struct row *rows, size_t n, size_t from, uint64_t seq)
{
	for (size_t i = from; i < n; i++)
		if (rows[i].seq_ok && rows[i].seq == seq)
			return true;
	return false;
}

/* A seq other than want at position i: reordered or removed, named by want. */
static int out_of_order(const struct row *rows, size_t n, size_t i, uint64_t want,
			struct skr_audit_report *rep, struct skr_err *err)
{
	broken(rep, want);
	if (!rows[i].seq_ok)
		return skr_fail(err, SKR_R_audit_chain_broken, "row %llu changed: the row in its "
				"place (position %zu) has no valid seq", (unsigned long long)want,
				i + 1);
	if (seq_later(rows, n, i + 1, want))
		return skr_fail(err, SKR_R_audit_chain_broken, "rows reordered: row %llu comes "
				"after row %llu", (unsigned long long)want,
				(unsigned long long)rows[i].seq);
	if (want == 1 && rows[i].seq > want)
		return skr_fail(err, SKR_R_audit_chain_broken, "row 1 removed: the log starts at row "
				"%llu", (unsigned long long)rows[i].seq);
	if (rows[i].seq > want)
		return skr_fail(err, SKR_R_audit_chain_broken, "row %llu removed: row %llu follows "
				"row %llu", (unsigned long long)want, (unsigned long long)rows[i].seq,
				(unsigned long long)(want - 1));
	return skr_fail(err, SKR_R_audit_chain_broken, "rows reordered or duplicated: row %llu "
			"appears again where row %llu belongs", (unsigned long long)rows[i].seq,
			(unsigned long long)want);
}

/* The rows in chain order: seq 1, 2, ..., each linked to the one before. */
static int walk(const struct row *rows, size_t n, struct skr_audit_report *rep,
		struct skr_err *err)
{
	uint8_t prev[SKR_AUDIT_HASH_SIZE] = { 0 };
	uint64_t want = 1;
	size_t i;

	for (i = 0; i < n; i++, want++) {
		if (!rows[i].seq_ok || rows[i].seq != want)
			return out_of_order(rows, n, i, want, rep, err);
		if (!row_hash_ok(&rows[i])) {
			broken(rep, want);
			return skr_fail(err, SKR_R_audit_chain_broken, "row %llu changed: its hash "
					"is not the hash of its contents",
					(unsigned long long)want);
		}
		if (memcmp(rows[i].prev, prev, SKR_AUDIT_HASH_SIZE)) {
			broken(rep, want - 1);
			return skr_fail(err, SKR_R_audit_chain_broken, "row %llu changed (or rows "
					"removed and rewritten after it): row %llu's prev is not its "
					"hash", (unsigned long long)(want - 1),
					(unsigned long long)want);
		}
		memcpy(prev, rows[i].hash, SKR_AUDIT_HASH_SIZE);
	}
	rep->last_seq = n;
	return 0;
}

/* Every checkpoint's shape and signature, before anything trusts it. */
static int read_checkpoints(json_object *arr, EVP_PKEY *key, struct checkpoint *cps,
			    struct skr_audit_report *rep, struct skr_err *err)
{
	size_t i, n = json_object_array_length(arr);

	for (i = 0; i < n; i++) {
		_cleanup_buf_ struct skr_buf sig = { 0 };
		json_object *o = json_object_array_get_idx(arr, i), *v;
		struct skr_err e = { 0 };
		bool shaped = json_object_is_type(o, json_type_object) &&
			      get_u64(o, "seq", &cps[i].seq) &&
			      get_hex(o, "hash", cps[i].hash, SKR_AUDIT_HASH_SIZE) &&
			      json_object_object_get_ex(o, "time", &v) &&
			      json_object_is_type(v, json_type_int) &&
			      json_object_object_get_ex(o, "signature", &v) &&
			      json_object_is_type(v, json_type_string) &&
			      skr_base64_decode(json_object_get_string(v),
						(size_t)json_object_get_string_len(v), &sig,
						"signature", &e) == 0;

		if (shaped && json_object_object_get_ex(o, "time", &v))
			cps[i].time = json_object_get_int64(v);
		if (!shaped || !skr_audit_checkpoint_verify(key, cps[i].seq, cps[i].hash,
							    cps[i].time, sig.data, sig.len)) {
			broken(rep, shaped ? cps[i].seq : 0);
			return skr_fail(err, SKR_R_audit_checkpoint_invalid, "checkpoint %zu (seq "
					"%llu) is forged or changed: its signature does not verify "
					"with the key", i + 1,
					shaped ? (unsigned long long)cps[i].seq : 0ULL);
		}
	}
	return 0;
}

/* Each checkpoint against the row it names (the rows are seq 1..n in order here). */
static int anchor(const struct row *rows, size_t n, const struct checkpoint *cps, size_t m,
		  struct skr_audit_report *rep, struct skr_err *err)
{
	size_t i;

	for (i = 0; i < m; i++) {
		if (cps[i].seq > n) {
			broken(rep, n + 1);
			return skr_fail(err, SKR_R_audit_chain_broken, "tail truncated: the log ends "
					"at row %zu but checkpoint %zu names row %llu (rows %zu to "
					"%llu removed)", n, i + 1, (unsigned long long)cps[i].seq,
					n + 1, (unsigned long long)cps[i].seq);
		}
		if (memcmp(rows[cps[i].seq - 1].hash, cps[i].hash, SKR_AUDIT_HASH_SIZE)) {
			broken(rep, rep->anchored_seq + 1);
			return skr_fail(err, SKR_R_audit_chain_broken, "rows rewritten: row %llu's "
					"hash is not the one checkpoint %zu signed; the first changed "
					"row is after row %llu (the last one anchored)",
					(unsigned long long)cps[i].seq, i + 1,
					(unsigned long long)rep->anchored_seq);
		}
		if (cps[i].seq > rep->anchored_seq)
			rep->anchored_seq = cps[i].seq;
	}
	if (!m)
		return skr_fail(err, SKR_R_audit_checkpoint_invalid, "no checkpoint: nothing "
				"anchors the log (is \"audit_signing_key\" configured?)");
	return 0;
}

static int verify_parsed(json_object *log, json_object *cparr, EVP_PKEY *key,
			 struct skr_audit_report *rep, struct skr_err *err)
{
	size_t n = json_object_array_length(log), m = json_object_array_length(cparr), i;
	_cleanup_free_ struct row *rows = calloc(n ? n : 1, sizeof(*rows));
	_cleanup_free_ struct checkpoint *cps = calloc(m ? m : 1, sizeof(*cps));
	bool newest_first;

	if (!rows || !cps)
		return skr_fail(err, SKR_R_nomem, "out of memory verifying the audit log");
	rep->rows = n;
	rep->checkpoints = m;
	for (i = 0; i < n; i++)
		read_row(json_object_array_get_idx(log, i), &rows[i]);
	/* The broker sends the newest first: then walk the file backwards. */
	newest_first = n > 1 && rows[0].seq_ok && rows[n - 1].seq_ok &&
		       rows[0].seq > rows[n - 1].seq;
	for (i = 0; newest_first && i < n / 2; i++) {
		struct row t = rows[i];

		rows[i] = rows[n - 1 - i];
		rows[n - 1 - i] = t;
	}
	if (read_checkpoints(cparr, key, cps, rep, err) < 0 || walk(rows, n, rep, err) < 0)
		return -1;
	return anchor(rows, n, cps, m, rep, err);
}

int skr_audit_log_verify(const char *log, size_t log_len, const char *checkpoints,
			 size_t checkpoints_len, EVP_PKEY *key, struct skr_audit_report *report,
			 struct skr_err *err)
{
	_cleanup_(json_object_putp) json_object *rows = NULL;
	_cleanup_(json_object_putp) json_object *cps = NULL;

	memset(report, 0, sizeof(*report));
	if (!log || !checkpoints || !key)
		return skr_fail(err, SKR_R_usage, "no log, checkpoints or key given");
	rows = parse_array(log, log_len, "audit log", err);
	if (!rows)
		return -1;
	cps = parse_array(checkpoints, checkpoints_len, "checkpoint list", err);
	if (!cps)
		return -1;
	return verify_parsed(rows, cps, key, report, err);
}
