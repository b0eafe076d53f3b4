/* SPDX-License-Identifier: Apache-2.0 */
/* Reference PCR sets an operator manages: add (label optional), remove, list. */
#include "broker/store_int.h"

#include <string.h>

#include "common/util.h"

static int check_state(const char *state, struct skr_err *err)
{
	if (!state)
		return skr_fail(err, SKR_R_usage, "no state given");
	if (strcmp(state, "current") && strcmp(state, "pending"))
		return skr_fail(err, SKR_R_malformed, "state must be \"current\" or \"pending\"");
	return 0;
}

int skr_store_refset_add(struct skr_store *s, const char *key_id, const char *label,
			 const char *state, const char *pcrs_json, int64_t *id_out,
			 const struct skr_audit_entry *audit, struct skr_err *err)
{
	_cleanup_(store_audit_row_free) struct store_audit_row r = { 0 };
	_cleanup_free_ char *pcrs = NULL;
	const struct store_audit_row *row;

	if (store_write_begin(s, key_id, audit, &r, &row, err) < 0 ||
	    store_check_label(label, false, err) < 0 || check_state(state, err) < 0 ||
	    store_canonical_pcrs(pcrs_json, &pcrs, err) < 0)
		return -1;
	return s->ops->refset_add(s, key_id, label ? label : "", state, pcrs, id_out, row, err);
}

int skr_store_refset_remove(struct skr_store *s, const char *key_id, int64_t id,
			    const struct skr_audit_entry *audit, struct skr_err *err)
{
	_cleanup_(store_audit_row_free) struct store_audit_row r = { 0 };
	const struct store_audit_row *row;

	if (store_write_begin(s, key_id, audit, &r, &row, err) < 0)
		return -1;
	return s->ops->refset_remove(s, key_id, id, row, err);
}

int skr_store_refset_list(struct skr_store *s, const char *key_id, char **json,
			  struct skr_err *err)
{
	_cleanup_(json_object_putp) json_object *arr = NULL;

	if (!s || !json)
		return skr_fail(err, SKR_R_usage, "no store or output given");
	*json = NULL;
	if (store_check_key_id(key_id, err) < 0)
		return -1;
	arr = json_object_new_array();
	if (!arr)
		return skr_fail(err, SKR_R_nomem, "out of memory listing reference sets");
	if (s->ops->refset_list(s, key_id, arr, err) < 0)
		return -1;
	*json = store_json_text(arr, err);
	return *json ? 0 : -1;
}
