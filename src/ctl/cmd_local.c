/* SPDX-License-Identifier: Apache-2.0 */
/*
 * skrctl local-copy DEVICE [--disable]: the local offline copy of each skr
 * token's secret (src/lib/local_copy.h), so that the VM unlocks without the
 * broker, under the same PCR discipline: the secret is sealed in this vTPM
 * under PolicyAuthorize by a reseal key kept on the encrypted root, with a
 * policy for this boot's PCRs; skrctl reseal signs the next boot's.
 *
 * Enabling needs the secret: it is released by the broker (this boot must be
 * approved), checked against the token's keyslots, sealed and wiped.
 *
 * Exit status: 0 done, 1 refused (the broker's denial, a TPM refusal), 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libcryptsetup.h>

#include "cli.h"
#include "client_config.h"
#include "local_copy.h"
#include "release_client.h"
#include "token.h"
#include "util.h"

#define LOCAL_USAGE \
	"skrctl local-copy DEVICE [--disable] [--tcti T] [--timeout S] [--config PATH] [--json]"

struct local_args {
	const char *device, *tcti, *config;
	struct skr_client_config cfg;	/* brokers, CA, TCTI: never the token's */
	unsigned timeout;
	bool disable, json;
};

/* The secret from the broker, proven by opening one of the token's keyslots. */
static int released_secret(struct crypt_device *cd, const struct skr_token *t,
			   const struct local_args *a, uint8_t *secret, size_t *len,
			   struct skr_err *err)
{
	struct skr_release_opts ro;
	size_t i;

	skr_token_release_opts(t, &a->cfg, a->timeout, &ro);
	if (a->tcti)
		ro.tcti = a->tcti;
	if (skr_release(&ro, secret, len, NULL, err) < 0)
		return -1;
	for (i = 0; i < t->n_keyslots; i++)
		if (crypt_activate_by_passphrase(cd, NULL, t->keyslots[i], (const char *)secret, *len,
						 0) >= 0)
			return 0;
	return skr_fail(err, SKR_R_enroll_verify_failed,
			"the released secret opens none of the token's keyslots");
}

static int enable(struct crypt_device *cd, struct skr_token *t, const struct local_args *a,
		  struct skr_err *err)
{
	uint8_t *secret = skr_secret_alloc(SKR_RELEASE_MAX_SECRET);
	size_t len = 0;
	int rc;

	if (!secret)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	rc = released_secret(cd, t, a, secret, &len, err) < 0 ||
			     skr_local_copy_enable(t, a->tcti, secret, len, err) < 0
		     ? -1
		     : 0;
	skr_secret_free(secret, SKR_RELEASE_MAX_SECRET);
	return rc;
}

static int one_token(struct crypt_device *cd, int id, const char *json_text,
		     const struct local_args *a, json_object *reports, struct skr_err *err)
{
	_cleanup_free_ char *json = NULL;
	struct skr_token t;
	json_object *o = json_object_new_object();
	int rc = -1, r;

	json_object_array_add(reports, o);
	json_object_object_add(o, "token", json_object_new_int(id));
	if (skr_token_parse(json_text, &t, err) < 0)
		return -1;
	json_object_object_add(o, "key_id", json_object_new_string(t.key_id));
	if (a->disable == !t.local) {	/* already as asked */
		rc = 0;
		goto out;
	}
	if ((a->disable ? skr_local_copy_disable(&t, a->tcti, err) : enable(cd, &t, a, err)) < 0)
		goto out;
	json = skr_token_to_json(&t);
	r = json ? crypt_token_json_set(cd, id, json) : -ENOMEM;
	if (r < 0) {
		skr_fail(err, SKR_R_luks_error, "%s: cannot write token %d: %s", a->device, id,
			 strerror(-r));
		goto out;
	}
	rc = 0;
	fprintf(stderr, "skrctl: %s key %s: local copy %s\n", a->device, t.key_id,
		a->disable ? "removed" : "sealed in this vTPM for this boot's PCRs");
out:
	json_object_object_add(o, "local_copy", json_object_new_boolean(t.local != NULL));
	skr_token_free(&t);
	return rc;
}

int cmd_local_copy(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "disable", no_argument, NULL, 'd' }, { "tcti", required_argument, NULL, 't' },
		{ "timeout", required_argument, NULL, 'T' }, { "json", no_argument, NULL, 'j' },
		{ "config", required_argument, NULL, 'C' },  { 0 }
	};
	struct local_args a = { 0 };
	struct crypt_device *cd = NULL;
	struct skr_err err = { 0 };
	json_object *reports = json_object_new_array(), *res = NULL;
	unsigned found = 0;
	int c, id;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': a.disable = true; break;
		case 't': a.tcti = optarg; break;
		case 'T': a.timeout = (unsigned)atoi(optarg); break;
		case 'j': a.json = true; break;
		case 'C': a.config = optarg; break;
		default: json_object_put(reports); return cli_usage(LOCAL_USAGE);
		}
	}
	if (optind + 1 != argc || a.timeout > 3600) {
		json_object_put(reports);
		return cli_usage(LOCAL_USAGE);
	}
	a.device = argv[optind];
	if (skr_client_config_load(skr_client_config_path(a.config), &a.cfg, &err) < 0)
		goto out;
	if (!a.tcti)
		a.tcti = a.cfg.tcti;
	if (crypt_init(&cd, a.device) < 0 || crypt_load(cd, CRYPT_LUKS2, NULL) < 0) {
		skr_fail(&err, SKR_R_luks_error, "%s is not a readable LUKS2 device", a.device);
		goto out;
	}
	for (id = 0; id < crypt_token_max(CRYPT_LUKS2); id++) {
		const char *type = NULL, *text = NULL;
		struct skr_err one = { 0 };

		if (crypt_token_status(cd, id, &type) < CRYPT_TOKEN_EXTERNAL || !type ||
		    strcmp(type, SKR_TOKEN_TYPE) || crypt_token_json_get(cd, id, &text) < 0)
			continue;
		found++;
		if (one_token(cd, id, text, &a, reports, &one) < 0 && err.reason == SKR_R_ok)
			err = one;
	}
	if (!found && err.reason == SKR_R_ok)
		skr_fail(&err, SKR_R_usage, "%s has no skr token", a.device);
out:
	crypt_free(cd);
	skr_client_config_free(&a.cfg);
	if (a.json) {
		res = json_object_new_object();
		json_object_object_add(res, "tokens", reports);
	} else {
		json_object_put(reports);
	}
	return cli_finish(&err, res, a.json);
}
