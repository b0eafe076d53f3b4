/* SPDX-License-Identifier: Apache-2.0 */
/*
 * skrctl local-copy DEVICE [--key-file F] [--disable]: the local offline copy
 * of each skr token (src/luks/local_copy.h), so that the VM unlocks without
 * the broker, under the same PCR discipline: a secret sealed in this vTPM
 * under PolicyAuthorize by a reseal key kept on the encrypted root, with a
 * policy for this boot's PCRs and PCR 15 (the boot gate) at zero; skrctl
 * reseal signs the next boot's.
 *
 * The secret is not the broker's: a release needs PCR 15 at zero, which the
 * running system never has.  Enabling adds a keyslot of the copy's own with
 * 32 fresh random bytes, authorised by an existing passphrase (--key-file F,
 * else asked on the terminal, echo off), with enroll's minimal PBKDF (the
 * secret is full-entropy), seals those bytes and lists the keyslot in the
 * token (its "keyslots", so that libcryptsetup tries it for the plugin, and
 * local.keyslot).  --disable and skrctl unenroll destroy it again.
 *
 * All or nothing, in this order, each undone in reverse on failure:
 *   1. an skr-pending record "local-copy:KEY_ID" naming the keyslot
 *      (enroll.h), so that a kill -9 leaves nothing enroll's reconcile
 *      cannot remove;
 *   2. the keyslot (checked to open with the secret);
 *   3. counter, reseal key and sealed object (skr_local_copy_enable);
 *   4. the token, written back: the commit point;
 *   5. the record removed.
 * --disable: the record, the counter and reseal key deleted, the token
 * written without the copy (commit), the keyslot destroyed, the record
 * removed.  A kill between 3 and 4 leaves the counter and the reseal key
 * file behind (the keyslot is reconciled): they open nothing.
 *
 * Exit status: 0 done, 1 refused (a wrong passphrase, a TPM refusal), 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libcryptsetup.h>
#include <openssl/rand.h>

#include "ctl/cli.h"
#include "vm/client_config.h"
#include "luks/enroll.h"
#include "luks/local_copy.h"
#include "luks/token.h"
#include "luks/token_iter.h"
#include "common/util.h"

#define LOCAL_SECRET_LEN 32

struct local_args {
	const char *device, *tcti, *key_file, *config;
	struct skr_client_config cfg;	/* the TCTI when --tcti is not given: never the token's */
	bool disable, json;
	char *pass;			/* a secret, asked once, for the first token that needs it */
};

static int luks_fail(struct skr_err *err, int rc, const char *what)
{
	return skr_fail(err, SKR_R_luks_error, "%s: %s", what, strerror(-rc));
}

/* The existing passphrase, proven to open a keyslot of the device. */
static int passphrase(struct crypt_device *cd, struct local_args *a, struct skr_err *err)
{
	int r;

	if (!a->pass && (a->key_file ? read_key_file(a->key_file, &a->pass, err)
				     : prompt_passphrase(a->device, &a->pass, err)) < 0)
		return -1;
	r = crypt_activate_by_passphrase(cd, NULL, CRYPT_ANY_SLOT, a->pass, skr_secret_size(a->pass),
					 0);
	if (r == -EPERM)
		return skr_fail(err, SKR_R_passphrase_invalid, "the passphrase opens no keyslot of %s",
				a->device);
	return r < 0 ? luks_fail(err, r, "cannot check the passphrase") : 0;
}

/* A keyslot opened by secret, with enroll's minimal PBKDF (what reconcile recognises). */
static int add_keyslot(struct crypt_device *cd, const struct local_args *a, int *slot,
		       const uint8_t *secret, struct skr_err *err)
{
	struct crypt_pbkdf_type pbkdf = {
		.type = CRYPT_KDF_PBKDF2, .hash = "sha256",
		.iterations = SKR_ENROLL_PBKDF_ITERATIONS, .flags = CRYPT_PBKDF_NO_BENCHMARK,
	};
	int r = crypt_set_pbkdf_type(cd, &pbkdf);

	if (r == 0)
		r = crypt_keyslot_add_by_passphrase(cd, *slot, a->pass, skr_secret_size(a->pass),
						    (const char *)secret, LOCAL_SECRET_LEN);
	if (r < 0)
		return luks_fail(err, r, "cannot add the local copy's keyslot");
	*slot = r;
	r = crypt_activate_by_passphrase(cd, NULL, *slot, (const char *)secret, LOCAL_SECRET_LEN, 0);
	if (r < 0)
		return luks_fail(err, r, "the new keyslot does not open with its secret");
	return 0;
}

static int free_keyslot(struct crypt_device *cd, struct skr_err *err)
{
	for (int i = 0; i < crypt_keyslot_max(CRYPT_LUKS2); i++)
		if (crypt_keyslot_status(cd, i) == CRYPT_SLOT_INACTIVE)
			return i;
	return skr_fail(err, SKR_R_luks_error, "no free keyslot for the local copy");
}

static int write_token(struct crypt_device *cd, int id, const struct skr_token *t,
		       const char *device, struct skr_err *err)
{
	_cleanup_free_ char *json = skr_token_to_json(t);
	int r = json ? crypt_token_json_set(cd, id, json) : -ENOMEM;

	if (r < 0)
		return skr_fail(err, SKR_R_luks_error, "%s: cannot write token %d: %s", device, id,
				strerror(-r));
	return 0;
}

static void pending_id(const struct skr_token *t, char *out, size_t size)
{
	snprintf(out, size, "local-copy:%s", t->key_id);
}

static int enable(struct crypt_device *cd, int id, struct skr_token *t, struct local_args *a,
		  struct skr_err *err)
{
	uint8_t *secret = skr_secret_alloc(LOCAL_SECRET_LEN);
	int slot = -1, pending = -1;
	bool added = false, sealed = false;
	char record[160];

	if (!secret)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	if (t->n_keyslots >= SKR_TOKEN_MAX_KEYSLOTS) {
		skr_fail(err, SKR_R_usage, "token %d lists %zu keyslots: no room for the local copy's",
			 id, t->n_keyslots);
		goto out;
	}
	if (passphrase(cd, a, err) < 0 || (slot = free_keyslot(cd, err)) < 0)
		goto out;
	if (RAND_bytes(secret, LOCAL_SECRET_LEN) != 1) {
		skr_fail(err, SKR_R_nomem, "no randomness for the local copy's secret");
		goto out;
	}
	pending_id(t, record, sizeof(record));
	pending = skr_enroll_pending_write(cd, record, &slot, 1, err);
	if (pending < 0 || skr_enroll_fault("local_after_pending", err) < 0)
		goto out;
	if (add_keyslot(cd, a, &slot, secret, err) < 0)
		goto out;
	added = true;
	if (skr_enroll_fault("local_after_keyslot", err) < 0 ||
	    skr_local_copy_enable(t, a->tcti, secret, LOCAL_SECRET_LEN, slot, err) < 0)
		goto out;
	sealed = true;
	t->keyslots[t->n_keyslots++] = slot;
	if (skr_enroll_fault("local_after_seal", err) < 0 || write_token(cd, id, t, a->device, err) < 0)
		goto out;
	if (crypt_token_json_set(cd, pending, NULL) < 0)	/* committed: a stale record is harmless */
		fprintf(stderr, "skrctl: %s: cannot remove the skr-pending record %d "
			"(skrctl unenroll --reconcile removes it)\n", a->device, pending);
	pending = -1;
out:
	if (err->reason != SKR_R_ok) {
		/* In reverse; the record stays when an undo step fails, for reconcile. */
		struct skr_err undo = { 0 };
		bool clean = true;

		if (sealed && skr_local_copy_disable(t, a->tcti, &undo) < 0)
			clean = false;
		if (added && crypt_keyslot_destroy(cd, slot) < 0)
			clean = false;
		if (clean && pending >= 0)
			crypt_token_json_set(cd, pending, NULL);
	}
	skr_secret_free(secret);
	return err->reason == SKR_R_ok ? 0 : -1;
}

static int disable(struct crypt_device *cd, int id, struct skr_token *t,
		   const struct local_args *a, struct skr_err *err)
{
	int slot = t->local->keyslot, pending = -1, r;
	char record[160];

	if (slot >= 0 && crypt_keyslot_status(cd, slot) == CRYPT_SLOT_ACTIVE_LAST)
		return skr_fail(err, SKR_R_usage,
				"keyslot %d of the local copy is the device's last: removing it would "
				"lock the device", slot);
	if (slot >= 0) {
		pending_id(t, record, sizeof(record));
		pending = skr_enroll_pending_write(cd, record, &slot, 1, err);
		if (pending < 0)
			return -1;
	}
	if (skr_local_copy_disable(t, a->tcti, err) < 0 || write_token(cd, id, t, a->device, err) < 0) {
		if (pending >= 0)
			crypt_token_json_set(cd, pending, NULL);
		return -1;
	}
	if (slot >= 0 && crypt_keyslot_status(cd, slot) != CRYPT_SLOT_INACTIVE &&
	    (r = crypt_keyslot_destroy(cd, slot)) < 0) {
		luks_fail(err, r, "the local copy is removed, but its keyslot is not: run skrctl "
				  "unenroll --reconcile");
		return -1;
	}
	if (pending >= 0)
		crypt_token_json_set(cd, pending, NULL);
	return 0;
}

static int one_token(struct crypt_device *cd, int id, const char *json_text,
		     struct local_args *a, json_object *reports, struct skr_err *err)
{
	struct skr_token t;
	json_object *o = json_object_new_object();
	int rc = -1;

	json_object_array_add(reports, o);
	json_object_object_add(o, "token", json_object_new_int(id));
	if (skr_token_parse(json_text, &t, err) < 0)
		return -1;
	json_object_object_add(o, "key_id", json_object_new_string(t.key_id));
	if (!a->disable && t.local && t.local->keyslot < 0) {
		skr_fail(err, SKR_R_usage,
			 "key %s has a local copy made before the boot gate: remove it with "
			 "--disable, then enable it again", t.key_id);
		goto out;
	}
	if (a->disable == !t.local) {	/* already as asked */
		rc = 0;
		goto out;
	}
	if ((a->disable ? disable(cd, id, &t, a, err) : enable(cd, id, &t, a, err)) < 0)
		goto out;
	rc = 0;
	fprintf(stderr, "skrctl: %s key %s: local copy %s\n", a->device, t.key_id,
		a->disable ? "removed, its keyslot destroyed"
			   : "sealed in this vTPM for this boot's PCRs and PCR 15 at zero");
out:
	json_object_object_add(o, "local_copy", json_object_new_boolean(t.local != NULL));
	if (t.local && t.local->keyslot >= 0)
		json_object_object_add(o, "keyslot", json_object_new_int(t.local->keyslot));
	skr_token_free(&t);
	return rc;
}

/* Every skr token of the device; *err: the first failure. */
static void run_device(struct local_args *a, json_object *reports, struct skr_err *err)
{
	struct crypt_device *cd = NULL;
	const char *text;
	unsigned found = 0;
	int id;

	if (crypt_init(&cd, a->device) < 0 || crypt_load(cd, CRYPT_LUKS2, NULL) < 0) {
		crypt_free(cd);
		skr_fail(err, SKR_R_luks_error, "%s is not a readable LUKS2 device", a->device);
		return;
	}
	SKR_LUKS_FOREACH_TOKEN(cd, SKR_TOKEN_TYPE, id, text) {
		struct skr_err one = { 0 };

		found++;
		if (one_token(cd, id, text, a, reports, &one) < 0 && err->reason == SKR_R_ok)
			*err = one;
	}
	if (!found && err->reason == SKR_R_ok)
		skr_fail(err, SKR_R_usage, "%s has no skr token", a->device);
	crypt_free(cd);
}

int cmd_local_copy(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "disable", no_argument, NULL, 'd' }, { "tcti", required_argument, NULL, 't' },
		{ "key-file", required_argument, NULL, 'f' }, { "json", no_argument, NULL, 'j' },
		{ "config", required_argument, NULL, 'C' },   { "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct local_args a = { 0 };
	struct skr_err err = { 0 };
	json_object *reports;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': a.disable = true; break;
		case 't': a.tcti = optarg; break;
		case 'f': a.key_file = optarg; break;
		case 'j': a.json = true; break;
		case 'C': a.config = optarg; break;
		case 'h': printf("usage: %s\n", LOCAL_USAGE); return CLI_EXIT_OK;
		default: return cli_usage(LOCAL_USAGE);
		}
	}
	if (optind + 1 != argc || (a.disable && a.key_file))
		return cli_usage(LOCAL_USAGE);
	a.device = argv[optind];
	reports = json_object_new_array();
	/* The TPM comes from the command line or the client configuration (the
	 * header's choice of TCTI could run code). */
	if (!a.tcti) {
		if (skr_client_config_load(skr_client_config_path(a.config), &a.cfg, &err) < 0)
			goto out;
		a.tcti = a.cfg.tcti;
	}
	run_device(&a, reports, &err);
out:
	skr_secret_free(a.pass);
	skr_client_config_free(&a.cfg);
	return cli_finish_tokens(&err, reports, a.json);
}
