/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Audit rows and used nonces: rows are checked and their text escaped and
 * bounded here, whatever the backend; nonces are kept as their SHA-256.
 * Rows are written through the group commit (store_group.c).
 */
#include "broker/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/util.h"

#define AUDIT_KEY_ID_MAX 256
#define AUDIT_CLIENT_MAX 256
#define AUDIT_WORD_MAX 64
#define AUDIT_DETAIL_MAX 2048

/*
 * A copy safe to store and to show: printable ASCII kept, a backslash and
 * every other byte escaped (\\, \xNN), at most max characters, "..." when cut.
 * NULL in, NULL out; *oom set when the copy could not be made.
 */
static char *audit_text(const char *in, size_t max, bool *oom)
{
	size_t o = 0;
	char *out;

	if (!in)
		return NULL;
	out = malloc(max + 4);
	if (!out) {
		*oom = true;
		return NULL;
	}
	for (; *in; in++) {
		unsigned char c = (unsigned char)*in;
		size_t need = c == '\\' ? 2 : (c < 0x20 || c > 0x7e) ? 4 : 1;

		if (o + need > max) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (c == '\\')
			o += (size_t)snprintf(out + o, 3, "\\\\");
		else if (need == 4)
			o += (size_t)snprintf(out + o, 5, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = 0;
	return out;
}

void store_audit_row_free(struct store_audit_row *r)
{
	free(r->key_id);
	free(r->client);
	free(r->action);
	free(r->verdict);
	free(r->reason);
	free(r->detail);
	memset(r, 0, sizeof(*r));
}

int store_audit_row_make(const struct skr_audit_entry *e, struct store_audit_row *r,
			 struct skr_err *err)
{
	bool oom = false;

	if (!e || !e->action || !*e->action || !e->verdict)
		return skr_fail(err, SKR_R_usage, "an audit row needs an action and a verdict");
	if (strcmp(e->verdict, "allow") && strcmp(e->verdict, "deny") && strcmp(e->verdict, "error"))
		return skr_fail(err, SKR_R_usage, "audit verdict must be allow, deny or error");
	r->key_id = audit_text(e->key_id, AUDIT_KEY_ID_MAX, &oom);
	r->client = audit_text(e->client, AUDIT_CLIENT_MAX, &oom);
	r->action = audit_text(e->action, AUDIT_WORD_MAX, &oom);
	r->verdict = audit_text(e->verdict, AUDIT_WORD_MAX, &oom);
	r->reason = audit_text(e->reason, AUDIT_WORD_MAX, &oom);
	r->detail = audit_text(e->detail, AUDIT_DETAIL_MAX, &oom);
	r->digest = e->evidence_digest;
	if (oom)
		return skr_fail(err, SKR_R_nomem, "out of memory writing the audit row");
	return 0;
}

int store_audit_row_opt(const struct skr_audit_entry *e, struct store_audit_row *r,
			const struct store_audit_row **row, struct skr_err *err)
{
	*row = NULL;
	if (!e)
		return 0;
	if (store_audit_row_make(e, r, err) < 0)
		return -1;
	*row = r;
	return 0;
}

int store_audit_refused(struct skr_err *err)
{
	char why[sizeof(err->detail)];

	/* Out of space keeps its reason: the answer names it (503 store_full). */
	if (err->reason == SKR_R_store_full)
		return -1;
	snprintf(why, sizeof(why), "%s", err->detail);
	skr_err_clear(err);
	return skr_fail(err, SKR_R_audit_failed,
			"the audit row could not be written, so nothing was changed: %s", why);
}

int skr_store_audit(struct skr_store *s, const struct skr_audit_entry *e, struct skr_err *err)
{
	_cleanup_(store_audit_row_free) struct store_audit_row r = { 0 };

	struct store_batch_item item = { .row = &r };

	if (!s)
		return skr_fail(err, SKR_R_usage, "no store given");
	if (store_audit_row_make(e, &r, err) < 0)
		return -1;
	return store_group_write(s, &item, err);
}

int skr_store_audit_query(struct skr_store *s, const char *key_id, unsigned limit,
			  char **json, struct skr_err *err)
{
	_cleanup_(json_object_putp) json_object *arr = NULL;

	if (!s || !json)
		return skr_fail(err, SKR_R_usage, "no store or output given");
	*json = NULL;
	if (key_id && store_check_key_id(key_id, err) < 0)
		return -1;
	arr = json_object_new_array();
	if (!arr)
		return skr_fail(err, SKR_R_nomem, "out of memory reading the audit log");
	if (s->ops->audit_query(s, key_id, limit, arr, err) < 0)
		return -1;
	*json = store_json_text(arr, err);
	return *json ? 0 : -1;
}

/* ---- The chain ------------------------------------------------------------ */

int store_chain_fields(struct store_chain *head, const struct skr_audit_fields *f,
		       struct store_chained *out, struct skr_err *err)
{
	out->seq = head->seq + 1;
	memcpy(out->prev, head->hash, SKR_AUDIT_HASH_SIZE);
	if (skr_audit_row_hash(out->seq, out->prev, f, out->hash, err) < 0)
		return -1;
	head->seq = out->seq;
	memcpy(head->hash, out->hash, SKR_AUDIT_HASH_SIZE);
	return 0;
}

int store_chain_next(struct store_chain *head, const struct store_audit_row *r, int64_t time,
		     struct store_chained *out, struct skr_err *err)
{
	struct skr_audit_fields f = {
		.time = time,
		.text = { r->key_id, r->client, r->action, r->verdict, r->reason, r->detail },
		.digest = r->digest,
		.digest_len = r->digest ? STORE_AUDIT_DIGEST_SIZE : 0,
	};
	size_t i;

	for (i = 0; i < 6; i++)
		f.text_len[i] = f.text[i] ? strlen(f.text[i]) : 0;
	return store_chain_fields(head, &f, out, err);
}

int skr_store_audit_head(struct skr_store *s, uint64_t *seq, uint8_t hash[SKR_AUDIT_HASH_SIZE],
			 struct skr_err *err)
{
	struct store_chain head = { 0 };

	if (!s || !seq || !hash)
		return skr_fail(err, SKR_R_usage, "no store or output given");
	if (s->ops->audit_head(s, &head, err) < 0)
		return -1;
	*seq = head.seq;
	memcpy(hash, head.hash, SKR_AUDIT_HASH_SIZE);
	return 0;
}

int skr_store_audit_checkpoint_add(struct skr_store *s, uint64_t seq,
				   const uint8_t hash[SKR_AUDIT_HASH_SIZE], int64_t time,
				   const uint8_t *sig, size_t sig_len, struct skr_err *err)
{
	struct store_chain head = { .seq = seq };

	if (!s || !hash || !sig || !sig_len || sig_len > SKR_STORE_MAX_SIGNATURE || seq > INT64_MAX)
		return skr_fail(err, SKR_R_usage, "no store or no valid checkpoint given");
	memcpy(head.hash, hash, SKR_AUDIT_HASH_SIZE);
	return s->ops->audit_checkpoint_add(s, &head, time, sig, sig_len, err);
}

int skr_store_audit_checkpoints(struct skr_store *s, char **json, struct skr_err *err)
{
	_cleanup_(json_object_putp) json_object *arr = NULL;

	if (!s || !json)
		return skr_fail(err, SKR_R_usage, "no store or output given");
	*json = NULL;
	arr = json_object_new_array();
	if (!arr)
		return skr_fail(err, SKR_R_nomem, "out of memory reading the audit checkpoints");
	if (s->ops->audit_checkpoints(s, arr, err) < 0)
		return -1;
	*json = store_json_text(arr, err);
	return *json ? 0 : -1;
}

/* ---- Used nonces ---------------------------------------------------------- */

static int nonce_hash(const uint8_t *nonce, size_t len, uint8_t hash[STORE_NONCE_HASH_SIZE],
		      struct skr_err *err)
{
	if (!nonce || !len)
		return skr_fail(err, SKR_R_usage, "no nonce to record");
	if (!EVP_Digest(nonce, len, hash, NULL, EVP_sha256(), NULL))
		return skr_fail(err, SKR_R_nomem, "cannot hash the nonce");
	return 0;
}

int skr_store_nonce_use(struct skr_store *s, const uint8_t *nonce, size_t len, time_t expires,
			time_t now, struct skr_err *err)
{
	uint8_t hash[STORE_NONCE_HASH_SIZE];

	if (!s)
		return skr_fail(err, SKR_R_usage, "no store");
	if (nonce_hash(nonce, len, hash, err) < 0)
		return -1;
	return s->ops->nonce_use(s, hash, expires, now, err);
}

int skr_store_nonce_check(struct skr_store *s, const uint8_t *nonce, size_t len,
			  struct skr_err *err)
{
	uint8_t hash[STORE_NONCE_HASH_SIZE];

	if (!s)
		return skr_fail(err, SKR_R_usage, "no store");
	if (nonce_hash(nonce, len, hash, err) < 0)
		return -1;
	return s->ops->nonce_check(s, hash, err);
}

int skr_store_audit_nonce(struct skr_store *s, const struct skr_audit_entry *e,
			  const uint8_t *nonce, size_t len, time_t expires, time_t now,
			  struct skr_err *err)
{
	_cleanup_(store_audit_row_free) struct store_audit_row r = { 0 };
	uint8_t hash[STORE_NONCE_HASH_SIZE];

	struct store_batch_item item = { .row = &r, .nonce_hash = hash, .expires = expires,
					 .now = now };

	if (!s)
		return skr_fail(err, SKR_R_usage, "no store given");
	if (store_audit_row_make(e, &r, err) < 0 || nonce_hash(nonce, len, hash, err) < 0)
		return -1;
	return store_group_write(s, &item, err);
}

int store_write_begin(struct skr_store *s, const char *key_id, const struct skr_audit_entry *audit,
		      struct store_audit_row *r, const struct store_audit_row **row,
		      struct skr_err *err)
{
	if (!s)
		return skr_fail(err, SKR_R_usage, "no store given");
	if (store_check_key_id(key_id, err) < 0 || store_audit_row_opt(audit, r, row, err) < 0)
		return -1;
	return 0;
}

/* ---- Reseal outcomes ------------------------------------------------------- */

/* Appends " text" to r->detail; the text is ours (digits and state words). */
static int audit_append(struct store_audit_row *r, const char *text, struct skr_err *err)
{
	size_t had = r->detail ? strlen(r->detail) : 0, add = strlen(text);
	char *d;

	d = realloc(r->detail, had + add + 2);
	if (!d)
		return skr_fail(err, SKR_R_nomem, "out of memory writing the audit row");
	if (had)
		d[had++] = ' ';
	memcpy(d + had, text, add + 1);
	r->detail = d;
	return 0;
}

int store_audit_submit_outcome(struct store_audit_row *r, const struct skr_store_submit *out,
			       struct skr_err *err)
{
	char text[96];

	if (!r)
		return 0;
	snprintf(text, sizeof(text), "set %lld %s%s", (long long)out->id, out->state,
		 out->existed ? " (existed)" : "");
	return audit_append(r, text, err);
}

int store_audit_commit_outcome(struct store_audit_row *r, int64_t id,
			       const struct skr_store_commit *out, struct skr_err *err)
{
	char text[96];

	if (!r)
		return 0;
	snprintf(text, sizeof(text), "set %lld current, %u retired, %u deleted", (long long)id,
		 out->retired, out->deleted);
	return audit_append(r, text, err);
}

int store_audit_withdraw_outcome(struct store_audit_row *r, unsigned removed, struct skr_err *err)
{
	char text[32];

	if (!r)
		return 0;
	snprintf(text, sizeof(text), "%u removed", removed);
	return audit_append(r, text, err);
}
