/* SPDX-License-Identifier: Apache-2.0 */
/* Keys: checked, their secret sealed or opened here, stored by the backend. */
#include "broker/store_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"

int skr_store_key_create(struct skr_store *s, const char *key_id, const uint8_t *secret,
			 size_t secret_len, const char *policy_json,
			 const struct skr_audit_entry *audit, struct skr_err *err)
{
	_cleanup_(store_audit_row_free) struct store_audit_row r = { 0 };
	_cleanup_free_ char *policy = NULL;
	const struct store_audit_row *row;
	struct store_sealed sealed;

	if (!s || !secret)
		return skr_fail(err, SKR_R_usage, "no store or secret given");
	if (store_check_key_id(key_id, err) < 0)
		return -1;
	if (secret_len == 0 || secret_len > SKR_STORE_MAX_SECRET)
		return skr_fail(err, SKR_R_malformed, "the secret is %zu bytes; 1 to %d allowed",
				secret_len, SKR_STORE_MAX_SECRET);
	if (store_canonical_policy(policy_json, &policy, err) < 0 ||
	    store_audit_row_opt(audit, &r, &row, err) < 0 ||
	    store_seal(s->master, key_id, secret, secret_len, &sealed, err) < 0)
		return -1;
	return s->ops->key_create(s, key_id, &sealed, policy, row, err);
}

int skr_store_key_secret(struct skr_store *s, const char *key_id, uint8_t *out,
			 size_t *out_len, struct skr_err *err)
{
	struct store_sealed sealed;

	if (!s || !out || !out_len)
		return skr_fail(err, SKR_R_usage, "no store or output buffer given");
	if (store_check_key_id(key_id, err) < 0 ||
	    s->ops->key_sealed(s, key_id, &sealed, err) < 0 ||
	    store_unseal(s->master, key_id, &sealed, out, err) < 0)
		return -1;
	*out_len = sealed.len;
	return 0;
}

int skr_store_key_policy(struct skr_store *s, const char *key_id, char **policy_json,
			 struct skr_err *err)
{
	if (!s || !policy_json)
		return skr_fail(err, SKR_R_usage, "no store or output given");
	*policy_json = NULL;
	if (store_check_key_id(key_id, err) < 0)
		return -1;
	return s->ops->key_policy(s, key_id, policy_json, err);
}

int skr_store_key_set_policy(struct skr_store *s, const char *key_id, const char *policy_json,
			     const struct skr_audit_entry *audit, struct skr_err *err)
{
	_cleanup_(store_audit_row_free) struct store_audit_row r = { 0 };
	_cleanup_free_ char *policy = NULL;
	const struct store_audit_row *row;

	if (store_write_begin(s, key_id, audit, &r, &row, err) < 0 ||
	    store_canonical_policy(policy_json, &policy, err) < 0)
		return -1;
	return s->ops->key_set_policy(s, key_id, policy, row, err);
}

int skr_store_key_delete(struct skr_store *s, const char *key_id,
			 const struct skr_audit_entry *audit, struct skr_err *err)
{
	_cleanup_(store_audit_row_free) struct store_audit_row r = { 0 };
	const struct store_audit_row *row;

	if (store_write_begin(s, key_id, audit, &r, &row, err) < 0)
		return -1;
	return s->ops->key_delete(s, key_id, row, err);
}

int skr_store_key_list(struct skr_store *s, char **json, struct skr_err *err)
{
	_cleanup_(json_object_putp) json_object *arr = NULL;

	if (!s || !json)
		return skr_fail(err, SKR_R_usage, "no store or output given");
	*json = NULL;
	arr = json_object_new_array();
	if (!arr)
		return skr_fail(err, SKR_R_nomem, "out of memory listing the keys");
	if (s->ops->key_list(s, arr, err) < 0)
		return -1;
	*json = store_json_text(arr, err);
	return *json ? 0 : -1;
}
