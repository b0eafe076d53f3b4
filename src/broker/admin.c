/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The admin API (its own listener, bearer token):
 *   GET    /v1/keys                      list keys
 *   POST   /v1/keys                      {"key_id", "secret": b64, "policy": {...}}
 *   GET    /v1/keys/ID                   {"key_id", "policy", "refsets"}
 *   DELETE /v1/keys/ID
 *   PUT    /v1/keys/ID/policy            {...policy...}
 *   GET    /v1/keys/ID/refsets
 *   POST   /v1/keys/ID/refsets           {"label", "state", "pcrs": {"sha256": {...}}}
 *   DELETE /v1/keys/ID/refsets/N     (remove a reference set)
 *   POST   /v1/keys/ID/refsets/N/approve   a queued reseal set becomes pending
 *   GET    /v1/audit[?key_id=ID&limit=N] (query handled by http.c into req;
 *                                        limit=0: every row)
 *   GET    /v1/audit/checkpoints         the signed checkpoints of the audit chain
 *   GET    /healthz                      {"status": "ok"}: this listener answers and
 *                                        the token is good (skrctl broker health)
 *
 * Every change (any method but GET) is audited, fail-closed: a change that
 * lands writes its "allow" row in its own store transaction, so a change
 * whose row cannot be written does not land (500 audit_failed, counted and
 * logged); a call that changed nothing leaves an "error" row afterwards.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "broker/broker.h"
#include "verify/policy.h"
#include "common/util.h"

#define ADMIN_MAX_PARTS 6

bool skr_broker_admin_auth(const struct skr_broker *b, const char *authorization)
{
	static const char prefix[] = "Bearer ";
	uint8_t digest[32];
	const char *token;

	if (!authorization || strncmp(authorization, prefix, sizeof(prefix) - 1) != 0)
		return false;
	token = authorization + sizeof(prefix) - 1;
	if (!EVP_Digest(token, strlen(token), digest, NULL, EVP_sha256(), NULL))
		return false;
	return skr_ct_equal(digest, b->admin_token_sha256, sizeof(digest));
}

/* One admin call: its answer and, for a change, its audit row. */
struct admin_call {
	struct skr_broker *b;
	struct skr_response *r;
	struct skr_audit_entry audit;	/* action, key id, client, path; verdict "allow" */
	bool change;			/* not a GET: audited */
	bool audited;			/* the row was written with the change */
	bool audit_failed;		/* ... or could not be, and the change did not land */
};

/* The audit row a store write carries: the call's, when it is a change. */
static const struct skr_audit_entry *row_of(const struct admin_call *c)
{
	return c->change ? &c->audit : NULL;
}

/* A store write returned rc: 0 means the change landed with its row. */
static int changed(struct admin_call *c, int rc)
{
	if (rc == 0 && c->change)
		c->audited = true;
	return rc;
}

static void ok_json(struct skr_response *r, unsigned status, json_object *body)
{
	r->status = status;
	r->body = body ? body : json_object_new_object();
}

static void fail(struct admin_call *c, const struct skr_err *err)
{
	struct skr_err shown = { 0 };
	unsigned status = err->reason == SKR_R_key_unknown ? 404
			  : err->reason == SKR_R_key_exists ? 409
			  : err->reason == SKR_R_store_error || err->reason == SKR_R_nomem ? 500
											  : 400;

	if (err->reason == SKR_R_store_unavailable || err->reason == SKR_R_store_full) {
		skr_broker_respond_unavailable(c->r, err);
		return;
	}
	if (err->reason == SKR_R_audit_failed) {
		/* The store rolled the change back with its row: say so, count it, log why. */
		c->audit_failed = true;
		skr_broker_audit_failure(c->b, c->audit.client, c->audit.action, c->audit.verdict,
					 err);
		skr_fail(&shown, SKR_R_audit_failed,
			 "the change could not be audited, so it was not made");
		skr_response_error(c->r, 500, "internal error", &shown);
		return;
	}
	skr_response_error(c->r, status, status == 500 ? "internal error" : "bad request",
			   status == 500 ? NULL : err);
}

static const char *plain_json(json_object *v)
{
	return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
}

/* Stored JSON text handed back as a JSON value. */
static void ok_text(struct skr_response *r, char *text)
{
	json_object *v = text ? json_tokener_parse(text) : NULL;

	free(text);
	if (!v) {
		skr_response_error(r, 500, "internal error", NULL);
		return;
	}
	ok_json(r, 200, v);
}

static int split_path(const char *path, char parts[ADMIN_MAX_PARTS][160])
{
	int n = 0;

	while (*path == '/')
		path++;
	while (*path && n < ADMIN_MAX_PARTS) {
		size_t len = strcspn(path, "/");

		if (len >= sizeof(parts[0]))
			return -1;
		memcpy(parts[n], path, len);
		parts[n++][len] = 0;
		path += len;
		while (*path == '/')
			path++;
	}
	return *path ? -1 : n;
}

/*
 * The request's "secret" string, wiped in place once used: the JSON object
 * is freed by the caller and json-c would free it as it is.  (http.c wipes
 * the body buffer and the parser's buffer; the decoded secret is wiped here.)
 */
static void wipe_string(json_object *v)
{
	if (json_object_is_type(v, json_type_string))
		OPENSSL_cleanse((char *)json_object_get_string(v),
				(size_t)json_object_get_string_len(v));
}

static void key_create(struct admin_call *c, json_object *req)
{
	struct skr_response *r = c->r;
	_cleanup_secret_ uint8_t *secret = NULL;
	struct skr_err err = { 0 };
	struct skr_policy policy;
	json_object *id, *sec, *pol;

	if (!json_object_object_get_ex(req, "key_id", &id) ||
	    !json_object_object_get_ex(req, "secret", &sec) ||
	    !json_object_object_get_ex(req, "policy", &pol) ||
	    !json_object_is_type(id, json_type_string) || !json_object_is_type(sec, json_type_string)) {
		skr_fail(&err, SKR_R_malformed, "need \"key_id\", \"secret\" (base64) and \"policy\"");
		fail(c, &err);
		return;
	}
	/* The row of a create names its key (the path does not), so audit?key_id= finds it. */
	c->audit.key_id = json_object_get_string(id);
	/* The decoded secret lives in secret memory, wiped when it goes out of scope. */
	if (skr_base64_decode_secret(json_object_get_string(sec),
				     (size_t)json_object_get_string_len(sec), &secret, "secret",
				     &err) == 0 &&
	    skr_policy_from_json(pol, &policy, &err) == 0 &&
	    skr_policy_check_binding(&policy, &err) == 0 &&
	    changed(c, skr_store_key_create(c->b->store, json_object_get_string(id), secret,
					    skr_secret_size(secret), plain_json(pol), row_of(c), &err)) == 0) {
		wipe_string(sec);
		ok_json(r, 201, json_object_new_object());
		json_object_object_add(r->body, "key_id", json_object_get(id));
		return;
	}
	wipe_string(sec);
	fail(c, &err);
}

static void key_show(struct admin_call *c, const char *key_id)
{
	struct skr_broker *b = c->b;
	char *policy = NULL, *refsets = NULL;
	struct skr_err err = { 0 };
	json_object *body;

	if (skr_store_key_policy(b->store, key_id, &policy, &err) < 0 ||
	    skr_store_refset_list(b->store, key_id, &refsets, &err) < 0) {
		free(policy);
		fail(c, &err);
		return;
	}
	body = json_object_new_object();
	json_object_object_add(body, "key_id", json_object_new_string(key_id));
	json_object_object_add(body, "policy", json_tokener_parse(policy));
	json_object_object_add(body, "refsets", json_tokener_parse(refsets));
	free(policy);
	free(refsets);
	ok_json(c->r, 200, body);
}

static void set_policy(struct admin_call *c, const char *key_id, json_object *req)
{
	struct skr_err err = { 0 };
	struct skr_policy policy;

	if (skr_policy_from_json(req, &policy, &err) < 0 ||
	    skr_policy_check_binding(&policy, &err) < 0 ||
	    changed(c, skr_store_key_set_policy(c->b->store, key_id, plain_json(req), row_of(c),
						&err)) < 0)
		fail(c, &err);
	else
		ok_json(c->r, 200, NULL);
}

/* The label is optional: absent, null or "" is a set without one. */
static void refset_add(struct admin_call *c, const char *key_id, json_object *req)
{
	struct skr_err err = { 0 };
	json_object *label = NULL, *state = NULL, *pcrs;
	int64_t id = 0;

	if (!json_object_object_get_ex(req, "pcrs", &pcrs)) {
		skr_fail(&err, SKR_R_malformed, "need \"pcrs\"");
		fail(c, &err);
		return;
	}
	json_object_object_get_ex(req, "label", &label);
	json_object_object_get_ex(req, "state", &state);
	if (label && !json_object_is_type(label, json_type_string)) {
		skr_fail(&err, SKR_R_malformed, "\"label\" must be a string");
		fail(c, &err);
		return;
	}
	if (changed(c, skr_store_refset_add(c->b->store, key_id,
					    label ? json_object_get_string(label) : NULL,
					    state ? json_object_get_string(state) : "current",
					    plain_json(pcrs), &id, row_of(c), &err)) < 0) {
		fail(c, &err);
		return;
	}
	ok_json(c->r, 201, json_object_new_object());
	json_object_object_add(c->r->body, "id", json_object_new_int64(id));
}

/* DELETE .../refsets/N (remove) or POST .../refsets/N/approve. */
static void refset_change(struct admin_call *c, const char *key_id, const char *id_text,
			  bool approve)
{
	struct skr_store *store = c->b->store;
	struct skr_err err = { 0 };
	char *end;
	long long id;

	errno = 0;
	id = strtoll(id_text, &end, 10);
	if (errno || end == id_text || *end || id <= 0) {
		skr_fail(&err, SKR_R_malformed, "reference set id \"%s\" is not a positive number", id_text);
		fail(c, &err);
	} else if (changed(c, approve ? skr_store_refset_approve(store, key_id, (int64_t)id,
								row_of(c), &err)
				      : skr_store_refset_remove(store, key_id, (int64_t)id,
							       row_of(c), &err)) < 0) {
		fail(c, &err);
	} else {
		ok_json(c->r, 200, NULL);
	}
}

static void audit_query(struct admin_call *c, json_object *req)
{
	struct skr_err err = { 0 };
	json_object *key = NULL, *limit = NULL;
	char *text = NULL;

	if (req) {
		json_object_object_get_ex(req, "key_id", &key);
		json_object_object_get_ex(req, "limit", &limit);
	}
	if (skr_store_audit_query(c->b->store, key ? json_object_get_string(key) : NULL,
				  limit ? (unsigned)json_object_get_int(limit) : 100, &text, &err) < 0)
		fail(c, &err);
	else
		ok_text(c->r, text);
}

static void checkpoints_query(struct admin_call *c)
{
	struct skr_err err = { 0 };
	char *text = NULL;

	if (skr_store_audit_checkpoints(c->b->store, &text, &err) < 0)
		fail(c, &err);
	else
		ok_text(c->r, text);
}

static void keys_route(struct admin_call *c, const char *method, char parts[][160], int n,
		       json_object *req)
{
	struct skr_store *store = c->b->store;
	struct skr_err err = { 0 };
	char *text = NULL;

	if (n == 2 && !strcmp(method, "GET")) {
		if (skr_store_key_list(store, &text, &err) < 0)
			fail(c, &err);
		else
			ok_text(c->r, text);
	} else if (n == 2 && !strcmp(method, "POST")) {
		key_create(c, req);
	} else if (n == 3 && !strcmp(method, "GET")) {
		key_show(c, parts[2]);
	} else if (n == 3 && !strcmp(method, "DELETE")) {
		if (changed(c, skr_store_key_delete(store, parts[2], row_of(c), &err)) < 0)
			fail(c, &err);
		else
			ok_json(c->r, 200, NULL);
	} else if (n == 4 && !strcmp(parts[3], "policy") && !strcmp(method, "PUT")) {
		set_policy(c, parts[2], req);
	} else if (n == 4 && !strcmp(parts[3], "refsets") && !strcmp(method, "GET")) {
		if (skr_store_refset_list(store, parts[2], &text, &err) < 0)
			fail(c, &err);
		else
			ok_text(c->r, text);
	} else if (n == 4 && !strcmp(parts[3], "refsets") && !strcmp(method, "POST")) {
		refset_add(c, parts[2], req);
	} else if (n == 5 && !strcmp(parts[3], "refsets") && !strcmp(method, "DELETE")) {
		refset_change(c, parts[2], parts[4], false);
	} else if (n == 6 && !strcmp(parts[3], "refsets") && !strcmp(parts[5], "approve") &&
		   !strcmp(method, "POST")) {
		refset_change(c, parts[2], parts[4], true);
	} else {
		skr_response_error(c->r, 404, "no such admin endpoint", NULL);
	}
}

/*
 * The row of a change that did not land with one: an "error" row for a call
 * that changed nothing.  (Every change that succeeds carries its row; were
 * one not to, its row is written here and, when that fails, the caller is
 * told 500 audit_failed, as the change itself stays.)
 */
static void audit_afterwards(struct admin_call *c)
{
	struct skr_err err = { 0 };

	if (!c->change || c->audited || c->audit_failed)
		return;
	c->audit.verdict = c->r->status < 300 ? "allow" : "error";
	if (skr_store_audit(c->b->store, &c->audit, &err) == 0)
		return;
	skr_broker_audit_failure(c->b, c->audit.client, c->audit.action, c->audit.verdict, &err);
	if (c->r->status < 300) {
		struct skr_err shown = { 0 };

		json_object_put(c->r->body);
		c->r->body = NULL;
		skr_fail(&shown, SKR_R_audit_failed, "the change could not be audited");
		skr_response_error(c->r, 500, "internal error", &shown);
	}
}

void skr_broker_admin(struct skr_broker *b, const char *method, const char *path,
		      json_object *req, const char *client, struct skr_response *r)
{
	char parts[ADMIN_MAX_PARTS][160];
	char action[64];
	int n = split_path(path, parts);
	struct admin_call c = {
		.b = b,
		.r = r,
		.audit = { .client = client, .action = action, .verdict = "allow", .detail = path,
			   .key_id = n >= 3 ? parts[2] : NULL },
		/* Reads are not audited; every change is. */
		.change = strcmp(method, "GET") != 0,
	};

	snprintf(action, sizeof(action), "admin:%s", method);
	if (n >= 2 && !strcmp(parts[0], "v1") && !strcmp(parts[1], "keys"))
		keys_route(&c, method, parts, n, req);
	else if (n == 2 && !strcmp(parts[0], "v1") && !strcmp(parts[1], "audit") &&
		 !strcmp(method, "GET"))
		audit_query(&c, req);
	else if (n == 3 && !strcmp(parts[0], "v1") && !strcmp(parts[1], "audit") &&
		 !strcmp(parts[2], "checkpoints") && !strcmp(method, "GET"))
		checkpoints_query(&c);
	else if (n == 1 && !strcmp(parts[0], "healthz") && !strcmp(method, "GET")) {
		ok_json(r, 200, json_object_new_object());
		json_object_object_add(r->body, "status", json_object_new_string("ok"));
	}
	else
		skr_response_error(r, 404, "no such admin endpoint", NULL);
	audit_afterwards(&c);
}
