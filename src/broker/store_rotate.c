/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Master key rotation (store.h): backend-neutral, on the ops master_get,
 * master_begin, key_reseal, master_finish and exclusive.  The order that
 * makes it crash-safe: the database records the next key's check before
 * the first secret is resealed (so it opens with either key, and no broker
 * starts on it), each secret is resealed in its own transaction, and the
 * new key becomes current only once every secret opens under it.
 */
#include "broker/store_int.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

#define ROTATE_ACTION "admin:rotate-master-key"

/*
 * Test builds only: SKR_FAULT=rotate_after=N kills the process (SIGKILL,
 * as kill -9) once N secrets are resealed; N=0 is just after the rotation
 * was recorded.
 */
static void rotate_fault(unsigned resealed)
{
#ifdef SKR_TEST_FAULTS
	const char *f = getenv("SKR_FAULT");

	if (f && !strncmp(f, "rotate_after=", 13) && strtoul(f + 13, NULL, 10) == resealed)
		kill(getpid(), SIGKILL);
#else
	(void)resealed;
#endif
}

struct rotation {
	struct skr_store *s;
	const char *new_key_path;
	uint8_t *new_master;		/* secret */
	uint8_t old_check[STORE_CHECK_SIZE], new_check[STORE_CHECK_SIZE];
	json_object *keys;		/* [{"key_id", "created"}] */
	struct skr_store_rotation *out;
};

static const char *key_at(const struct rotation *r, size_t i)
{
	json_object *k = NULL;

	json_object_object_get_ex(json_object_array_get_idx(r->keys, i), "key_id", &k);
	return json_object_get_string(k);
}

/*
 * Which key opens key_id's secret: 1 the new one, 0 the old one; -1 with
 * err when neither does.  sealed is the secret as read (for the swap).
 */
static int opened_by(const struct rotation *r, const char *key_id, struct store_sealed *sealed,
		     uint8_t *clear, struct skr_err *err)
{
	struct skr_err ignored = { 0 };

	if (r->s->ops->key_sealed(r->s, key_id, sealed, err) < 0)
		return -1;
	if (store_unseal(r->new_master, key_id, sealed, clear, &ignored) == 0)
		return 1;
	if (store_unseal(r->s->master, key_id, sealed, clear, &ignored) == 0)
		return 0;
	return skr_fail(err, SKR_R_store_decrypt_failed,
			"the secret of key %s opens under neither master key (the row is damaged, "
			"or sealed under a third key): nothing rotated; delete or restore that "
			"key first", key_id);
}

/* Every secret opens under one of the two keys: counted, else refused. */
static int survey(struct rotation *r, unsigned *under_old, unsigned *under_new,
		  struct skr_err *err)
{
	_cleanup_secret_ uint8_t *clear = skr_secret_alloc(SKR_STORE_MAX_SECRET);
	struct store_sealed sealed;
	size_t i;
	int by;

	if (!clear)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	for (i = 0; i < r->out->keys; i++) {
		by = opened_by(r, key_at(r, i), &sealed, clear, err);
		if (by < 0)
			return -1;
		if (by)
			(*under_new)++;
		else
			(*under_old)++;
	}
	return 0;
}

static int reseal_all(struct rotation *r, struct skr_err *err)
{
	_cleanup_secret_ uint8_t *clear = skr_secret_alloc(SKR_STORE_MAX_SECRET);
	struct store_sealed from, to;
	const char *key_id;
	size_t i;
	int by;

	if (!clear)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	for (i = 0; i < r->out->keys; i++) {
		key_id = key_at(r, i);
		by = opened_by(r, key_id, &from, clear, err);
		if (by < 0)
			return -1;
		if (by == 1)
			continue;
		if (store_seal(r->new_master, key_id, clear, from.len, &to, err) < 0 ||
		    r->s->ops->key_reseal(r->s, key_id, &from, &to, err) < 0)
			return -1;
		r->out->resealed++;
		rotate_fault(r->out->resealed);
	}
	return 0;
}

static int audit_step(struct rotation *r, const char *detail, bool finish, struct skr_err *err)
{
	_cleanup_(store_audit_row_free) struct store_audit_row row = { 0 };
	struct skr_audit_entry e = { .client = "local", .action = ROTATE_ACTION,
				     .verdict = "allow", .detail = detail };

	if (store_audit_row_make(&e, &row, err) < 0)
		return -1;
	return finish ? r->s->ops->master_finish(r->s, r->old_check, r->new_check, &row, err)
		      : r->s->ops->master_begin(r->s, r->old_check, r->new_check, &row, err);
}

static int rotate(struct rotation *r, struct skr_err *err)
{
	unsigned left = 0, done = 0;
	char detail[128];

	snprintf(detail, sizeof(detail), "begun: %u keys, %u under the new key already",
		 r->out->keys, r->out->under_new);
	if (audit_step(r, detail, false, err) < 0)
		return -1;
	rotate_fault(0);
	if (reseal_all(r, err) < 0)
		return -1;
	/* What finish promises: every secret opens under the new key now. */
	if (survey(r, &left, &done, err) < 0)
		return -1;
	if (left)
		return skr_fail(err, SKR_R_store_error, "%u secrets are still under the old key "
				"after resealing; the rotation is left to run again", left);
	snprintf(detail, sizeof(detail), "finished: %u keys, %u resealed by this run",
		 r->out->keys, r->out->resealed);
	return audit_step(r, detail, true, err);
}

/*
 * The database opens with the new key and is under it, not mid-rotation:
 * an earlier run finished (its report lost, say).  0 then, else -1.
 */
static int rotated_before(const char *db_path, const char *new_key_path,
			  const uint8_t new_check[STORE_CHECK_SIZE])
{
	struct skr_store *s = NULL;
	struct skr_err ignored = { 0 };
	struct store_master m;
	int rc = -1;

	if (store_open_master(db_path, new_key_path, true, &s, &ignored) == 0 &&
	    s->ops->master_get(s, &m, &ignored) == 0 && !m.has_next &&
	    skr_ct_equal(m.current, new_check, STORE_CHECK_SIZE))
		rc = 0;
	skr_store_close(s);
	return rc;
}

/* The state found: this rotation may start or resume; else refused. */
static int check_state(struct rotation *r, const char *old_key_path, bool check_only,
		       struct skr_err *err)
{
	struct store_master m;

	if (r->s->ops->master_get(r->s, &m, err) < 0)
		return -1;
	r->out->resumed = m.has_next;
	/* Counting which key opens each secret makes sense with any two keys. */
	if (check_only)
		return 0;
	if (skr_ct_equal(r->old_check, r->new_check, STORE_CHECK_SIZE))
		return skr_fail(err, SKR_R_usage, "the new master key is the master key of %s "
				"already", old_key_path);
	if (!skr_ct_equal(m.current, r->old_check, STORE_CHECK_SIZE))
		return skr_fail(err, SKR_R_usage, "the master key %s is the key an interrupted "
				"rotation was going to: give the old key (the configuration's "
				"master_key) until the rotation has finished", old_key_path);
	if (m.has_next && !skr_ct_equal(m.next, r->new_check, STORE_CHECK_SIZE))
		return skr_fail(err, SKR_R_usage, "the database is in an interrupted rotation "
				"to another master key: finish that one first (its new key)");
	return 0;
}

static int rotation_run(struct rotation *r, const char *db_path, const char *old_key_path,
			bool check_only, struct skr_err *err)
{
	if (store_open_master(db_path, old_key_path, true, &r->s, err) < 0) {
		if (err->reason == SKR_R_store_decrypt_failed &&
		    rotated_before(db_path, r->new_key_path, r->new_check) == 0) {
			memset(err, 0, sizeof(*err));
			r->out->done_before = true;
			return 0;
		}
		if (err->reason == SKR_R_store_decrypt_failed) {
			memset(err, 0, sizeof(*err));	/* skr_fail keeps a first error */
			return skr_fail(err, SKR_R_store_decrypt_failed,
					"the master key %s is not the master key of %s (nor the "
					"old key of an interrupted rotation): refused, nothing "
					"written", old_key_path, db_path);
		}
		return -1;
	}
	if ((!check_only && r->s->ops->exclusive(r->s, err) < 0) ||
	    store_master_key_check(r->s->master, r->old_check, err) < 0 ||
	    check_state(r, old_key_path, check_only, err) < 0)
		return -1;
	r->keys = json_object_new_array();
	if (!r->keys)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	if (r->s->ops->key_list(r->s, r->keys, err) < 0)
		return -1;
	r->out->keys = (unsigned)json_object_array_length(r->keys);
	if (survey(r, &r->out->under_old, &r->out->under_new, err) < 0)
		return -1;
	return check_only ? 0 : rotate(r, err);
}

int skr_store_rotate_master_key(const char *db_path, const char *old_key_path,
				const char *new_key_path, bool check_only,
				struct skr_store_rotation *out, struct skr_err *err)
{
	struct rotation r = { .out = out, .new_key_path = new_key_path };
	int rc = -1;

	if (!db_path || !old_key_path || !new_key_path || !out)
		return skr_fail(err, SKR_R_usage, "no database, master keys or output given");
	memset(out, 0, sizeof(*out));
	r.new_master = skr_secret_alloc(SKR_STORE_MASTER_KEY_SIZE);
	if (!r.new_master)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	if (store_master_key_read(new_key_path, r.new_master, err) == 0 &&
	    store_master_key_check(r.new_master, r.new_check, err) == 0)
		rc = rotation_run(&r, db_path, old_key_path, check_only, err);
	json_object_put(r.keys);
	skr_store_close(r.s);
	skr_secret_free(r.new_master);
	return rc;
}
