/* SPDX-License-Identifier: Apache-2.0 */
/*
 * skrctl broker keys, refsets and reseal-queue: the admin API's key and
 * reference-set calls (src/broker/admin.c), for operators (broker_int.h has
 * the settings, the exit status and the output rules).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/secret.h"
#include "common/util.h"
#include "ctl/broker_int.h"
#include "ctl/cli.h"

/* The broker's bound on a stored secret (SKR_STORE_MAX_SECRET). */
#define BROKER_MAX_SECRET 128
#define BROKER_MIN_RANDOM 16

/* The options of one group's subcommands, parsed once. */
struct args {
	struct broker_opts o;
	const char *secret_file, *policy_file, *pcrs_file, *label, *state, *key;
	long long random;
	bool yes;
	int npos;
	char *pos[4];		/* the subcommand, then its operands */
};

enum {
	OPT_SECRET_FILE = 0x200, OPT_RANDOM, OPT_POLICY_FILE, OPT_PCRS_FILE, OPT_LABEL, OPT_STATE,
	OPT_YES, OPT_KEY,
};

static int parse(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		BROKER_LONGOPTS,
		{ "secret-file", required_argument, NULL, OPT_SECRET_FILE },
		{ "random", required_argument, NULL, OPT_RANDOM },
		{ "policy-file", required_argument, NULL, OPT_POLICY_FILE },
		{ "pcrs-file", required_argument, NULL, OPT_PCRS_FILE },
		{ "label", required_argument, NULL, OPT_LABEL },
		{ "state", required_argument, NULL, OPT_STATE },
		{ "yes", no_argument, NULL, OPT_YES },
		{ "key", required_argument, NULL, OPT_KEY },
		{ 0 }
	};
	int c, taken;

	memset(a, 0, sizeof(*a));
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if ((taken = broker_option(c, optarg, &a->o)) != 0) {
			if (taken < 0)
				return -1;
			continue;
		}
		switch (c) {
		case OPT_SECRET_FILE: a->secret_file = optarg; break;
		case OPT_RANDOM:
			if (!broker_parse_count(optarg, BROKER_MAX_SECRET, &a->random) ||
			    a->random < BROKER_MIN_RANDOM)
				return -1;
			break;
		case OPT_POLICY_FILE: a->policy_file = optarg; break;
		case OPT_PCRS_FILE: a->pcrs_file = optarg; break;
		case OPT_LABEL: a->label = optarg; break;
		case OPT_STATE: a->state = optarg; break;
		case OPT_YES: a->yes = true; break;
		case OPT_KEY: a->key = optarg; break;
		default: return -1;
		}
	}
	for (; optind < argc; optind++) {
		if (a->npos == (int)ARRAY_SIZE(a->pos))
			return -1;
		a->pos[a->npos++] = argv[optind];
	}
	return 0;
}

/* A usage error that says what was wrong, then the usage line. */
static int usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "skrctl: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	return cli_usage(usage);
}

/* The key id operand, checked before it goes into a URL path. */
static const char *key_operand(const struct args *a, const char *usage, int *rc)
{
	if (a->npos < 2) {
		*rc = usage_error(usage, "%s: name the key", a->pos[0]);
		return NULL;
	}
	if (!broker_key_id_ok(a->pos[1])) {
		*rc = usage_error(usage, "\"%.140s\" is not a key id ([A-Za-z0-9._-], 1 to 128)",
				  a->pos[1]);
		return NULL;
	}
	return a->pos[1];
}

/* A GET whose answer (of type want) is printed: as it came with --json, else by show(). */
static int call_and_print(struct broker_conn *c, const char *path, json_type want,
			  void (*show)(json_object *, const char *), const char *arg)
{
	struct broker_result res;
	json_object *answer = NULL;
	enum broker_outcome o = broker_call(c, "GET", path, NULL, want, &answer, &res);

	if (o == BROKER_OK && c->json)
		cli_print_json(answer);
	else if (o == BROKER_OK)
		show(answer, arg);
	json_object_put(answer);
	return broker_finish(c, c->json, o, &res);
}

static void show_keys(json_object *keys, const char *unused)
{
	(void)unused;
	broker_show_keys(keys);
}

static void show_sets(json_object *sets, const char *unused)
{
	(void)unused;
	broker_show_refsets(sets, false);
}

/* Prints "what" (people) or the broker's answer (--json) after a change. */
static int change(struct broker_conn *c, const char *method, const char *path, const char *body,
		  const char *what)
{
	struct broker_result res;
	json_object *answer = NULL;
	enum broker_outcome o = broker_call(c, method, path, body, json_type_null, &answer, &res);

	if (o == BROKER_OK && c->json && !answer)
		answer = json_object_new_object();
	if (o == BROKER_OK && c->json)
		cli_print_json(answer);
	else if (o == BROKER_OK)
		printf("%s\n", what);
	json_object_put(answer);
	return broker_finish(c, c->json, o, &res);
}

/* The new key's secret: the file's bytes exactly, or N random bytes. */
static int key_secret(const struct args *a, uint8_t **secret, struct skr_err *err)
{
	*secret = NULL;
	if (a->random) {
		*secret = skr_secret_alloc((size_t)a->random);
		if (!*secret)
			return skr_fail(err, SKR_R_nomem, "out of memory");
		if (RAND_priv_bytes(*secret, (int)a->random) != 1) {
			skr_secret_free(*secret);
			*secret = NULL;
			return skr_fail(err, SKR_R_nomem, "the random number generator failed");
		}
		return 0;
	}
	if (skr_secret_read_input(a->secret_file, BROKER_MAX_SECRET, "key secret", secret, err) < 0)
		return -1;
	if (skr_secret_size(*secret))
		return 0;
	skr_secret_free(*secret);
	*secret = NULL;
	return skr_fail(err, SKR_R_usage, "the key secret file %s is empty", a->secret_file);
}

/* {"key_id", "secret", "policy"}, built in locked memory (freed with skr_secret_free). */
static char *create_body(const char *key_id, const uint8_t *secret, const char *policy)
{
	size_t len = skr_secret_size(secret);
	char *b64 = skr_base64_encode(secret, len), *body = NULL;
	size_t cap = strlen(policy) + strlen(key_id) + 4 * len + 128;

	if (b64) {
		body = skr_secret_alloc(cap);
		if (body)
			snprintf(body, cap, "{\"key_id\": \"%s\", \"secret\": \"%s\", \"policy\": %s}",
				 key_id, b64, policy);
		OPENSSL_cleanse(b64, strlen(b64));
		free(b64);
	}
	return body;
}

static int key_create(struct broker_conn *c, const struct args *a, const char *key_id)
{
	_cleanup_free_ char *policy = NULL;
	_cleanup_secret_ uint8_t *secret = NULL;
	_cleanup_secret_ char *body = NULL;
	struct skr_err err = { 0 };
	char what[256];

	if (broker_read_json_object(a->policy_file, "policy", &policy, &err) < 0 ||
	    key_secret(a, &secret, &err) < 0)
		return broker_fail_input(c->json, &err);
	body = create_body(key_id, secret, policy);
	if (!body) {
		skr_fail(&err, SKR_R_nomem, "out of memory");
		return broker_fail_input(c->json, &err);
	}
	snprintf(what, sizeof(what), "created key %s (%zu-byte secret)", key_id,
		 skr_secret_size(secret));
	return change(c, "POST", "/v1/keys", body, what);
}

static int key_policy(struct broker_conn *c, const struct args *a, const char *key_id)
{
	_cleanup_free_ char *policy = NULL;
	struct skr_err err = { 0 };
	char path[200], what[256];

	if (broker_read_json_object(a->policy_file, "policy", &policy, &err) < 0)
		return broker_fail_input(c->json, &err);
	snprintf(path, sizeof(path), "/v1/keys/%s/policy", key_id);
	snprintf(what, sizeof(what), "replaced the policy of key %s", key_id);
	return change(c, "PUT", path, policy, what);
}

/* What each keys subcommand needs before anything is read or sent. */
static int keys_check(const struct args *a, const char *sub, int *rc)
{
	bool create = !strcmp(sub, "create"), policy = !strcmp(sub, "policy");

	if (a->npos > (strcmp(sub, "list") ? 2 : 1))
		*rc = usage_error(KEYS_USAGE, "keys %s: too many operands", sub);
	else if (create && !a->secret_file == !a->random)
		*rc = usage_error(KEYS_USAGE, "keys %s: give one of --secret-file F or --random N "
					      "(16 to 128 bytes)", sub);
	else if ((create || policy) && !a->policy_file)
		*rc = usage_error(KEYS_USAGE, "keys %s: give --policy-file F", sub);
	else if (!create && (a->secret_file || a->random))
		*rc = usage_error(KEYS_USAGE, "keys %s: --secret-file and --random are for keys create", sub);
	else if (!create && !policy && a->policy_file)
		*rc = usage_error(KEYS_USAGE, "keys %s: --policy-file is for keys create and keys policy", sub);
	else if (a->yes && strcmp(sub, "delete"))
		*rc = usage_error(KEYS_USAGE, "keys %s: --yes is for keys delete", sub);
	else if (a->pcrs_file || a->label || a->state || a->key)
		*rc = usage_error(KEYS_USAGE, "keys %s: --pcrs-file, --label, --state and --key are not "
					      "keys options", sub);
	else
		return 0;
	return -1;
}

static int keys_run(struct broker_conn *c, const struct args *a, const char *sub,
		    const char *key_id)
{
	char path[200], what[256];

	snprintf(path, sizeof(path), "/v1/keys/%s", key_id ? key_id : "");
	if (!strcmp(sub, "list"))
		return call_and_print(c, "/v1/keys", json_type_array, show_keys, NULL);
	if (!strcmp(sub, "show"))
		return call_and_print(c, path, json_type_object, broker_show_key, key_id);
	if (!strcmp(sub, "create"))
		return key_create(c, a, key_id);
	if (!strcmp(sub, "policy"))
		return key_policy(c, a, key_id);
	snprintf(what, sizeof(what), "deleted key %s", key_id);
	return change(c, "DELETE", path, NULL, what);
}

int cmd_broker_keys(int argc, char **argv)
{
	static const char *const subs[] = { "list", "show", "create", "delete", "policy" };
	struct broker_conn c;
	struct skr_err err = { 0 };
	const char *sub, *key_id = NULL;
	struct args a;
	size_t i;
	int rc = CLI_EXIT_USAGE;

	if (parse(argc, argv, &a) < 0 || a.npos < 1)
		return cli_usage(KEYS_USAGE);
	sub = a.pos[0];
	for (i = 0; i < ARRAY_SIZE(subs) && strcmp(subs[i], sub); i++)
		;
	if (i == ARRAY_SIZE(subs))
		return usage_error(KEYS_USAGE, "unknown command 'keys %.64s'", sub);
	if (keys_check(&a, sub, &rc) < 0 || (strcmp(sub, "list") && !(key_id = key_operand(&a, KEYS_USAGE, &rc))))
		return rc;
	/* A deletion is never made by accident: it takes --yes. */
	if (!strcmp(sub, "delete") && !a.yes) {
		fprintf(stderr, "skrctl: refusing to delete key %s without --yes: its secret goes with "
				"it, and every VM that needs it stops unlocking\n", key_id);
		return CLI_EXIT_USAGE;
	}
	if (broker_connect(&a.o, true, &c, &err) < 0)
		return broker_fail_input(a.o.json, &err);
	rc = keys_run(&c, &a, sub, key_id);
	broker_disconnect(&c);
	return rc;
}

/* ---- refsets ---------------------------------------------------------------- */

/* The new set's id as the broker gave it: a number, else "?" (never its raw text). */
static const char *refset_id(json_object *answer, char *buf, size_t n)
{
	json_object *id;

	if (!json_object_object_get_ex(answer, "id", &id) || !json_object_is_type(id, json_type_int))
		return "?";
	snprintf(buf, n, "%" PRId64, json_object_get_int64(id));
	return buf;
}

static int refset_add(struct broker_conn *c, const struct args *a, const char *key_id)
{
	_cleanup_free_ char *pcrs = NULL, *body = NULL;
	_cleanup_(json_object_putp) json_object *req = NULL;
	struct skr_err err = { 0 };
	struct broker_result res;
	json_object *answer = NULL;
	char path[200], id[32];
	enum broker_outcome o;

	if (broker_read_json_object(a->pcrs_file, "PCR values", &pcrs, &err) < 0)
		return broker_fail_input(c->json, &err);
	req = json_object_new_object();
	json_object_object_add(req, "label", json_object_new_string(a->label));
	json_object_object_add(req, "state", json_object_new_string(a->state ? a->state : "current"));
	json_object_object_add(req, "pcrs", json_tokener_parse(pcrs));
	body = strdup(json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN));
	snprintf(path, sizeof(path), "/v1/keys/%s/refsets", key_id);
	o = body ? broker_call(c, "POST", path, body, json_type_object, &answer, &res) : BROKER_FAILED;
	if (!body)
		skr_fail(&res.err, SKR_R_nomem, "out of memory");
	if (o == BROKER_OK && c->json)
		cli_print_json(answer);
	else if (o == BROKER_OK)
		printf("added reference set %s (%s, \"%s\") to key %s\n", refset_id(answer, id, sizeof(id)),
		       a->state ? a->state : "current", a->label, key_id);
	json_object_put(answer);
	return broker_finish(c, c->json, o, &res);
}

static int refsets_check(const struct args *a, const char *sub, int *rc)
{
	bool add = !strcmp(sub, "add"), numbered = !strcmp(sub, "approve") || !strcmp(sub, "delete");
	long long n;

	if (a->npos > (numbered ? 3 : 2))
		*rc = usage_error(REFSETS_USAGE, "refsets %s: too many operands", sub);
	else if (numbered && (a->npos < 3 || !broker_parse_count(a->pos[2], INT64_MAX, &n)))
		*rc = usage_error(REFSETS_USAGE, "refsets %s: name the key and the reference set's id "
						 "(a positive number)", sub);
	else if (add && (!a->label || !a->pcrs_file))
		*rc = usage_error(REFSETS_USAGE, "refsets %s: give --label L and --pcrs-file F", sub);
	else if (add && a->state && strcmp(a->state, "current") && strcmp(a->state, "pending"))
		*rc = usage_error(REFSETS_USAGE, "refsets add: --state is current or pending, not \"%.64s\"",
				  a->state);
	else if (!add && (a->label || a->pcrs_file || a->state))
		*rc = usage_error(REFSETS_USAGE, "refsets %s: --label, --pcrs-file and --state are for "
						 "refsets add", sub);
	else if (a->secret_file || a->random || a->policy_file || a->yes || a->key)
		*rc = usage_error(REFSETS_USAGE, "refsets %s: --secret-file, --random, --policy-file, "
						 "--yes and --key are not refsets options", sub);
	else
		return 0;
	return -1;
}

static int refsets_run(struct broker_conn *c, const struct args *a, const char *sub,
		       const char *key_id)
{
	char path[240], what[256];

	if (!strcmp(sub, "list")) {
		snprintf(path, sizeof(path), "/v1/keys/%s/refsets", key_id);
		return call_and_print(c, path, json_type_array, show_sets, NULL);
	}
	if (!strcmp(sub, "add"))
		return refset_add(c, a, key_id);
	if (!strcmp(sub, "approve")) {
		snprintf(path, sizeof(path), "/v1/keys/%s/refsets/%s/approve", key_id, a->pos[2]);
		snprintf(what, sizeof(what), "approved reference set %s of key %s: pending", a->pos[2],
			 key_id);
		return change(c, "POST", path, "{}", what);
	}
	snprintf(path, sizeof(path), "/v1/keys/%s/refsets/%s", key_id, a->pos[2]);
	snprintf(what, sizeof(what), "deleted reference set %s of key %s", a->pos[2], key_id);
	return change(c, "DELETE", path, NULL, what);
}

int cmd_broker_refsets(int argc, char **argv)
{
	static const char *const subs[] = { "list", "add", "approve", "delete" };
	struct broker_conn c;
	struct skr_err err = { 0 };
	const char *key_id;
	struct args a;
	size_t i;
	int rc = CLI_EXIT_USAGE;

	if (parse(argc, argv, &a) < 0 || a.npos < 1)
		return cli_usage(REFSETS_USAGE);
	for (i = 0; i < ARRAY_SIZE(subs) && strcmp(subs[i], a.pos[0]); i++)
		;
	if (i == ARRAY_SIZE(subs))
		return usage_error(REFSETS_USAGE, "unknown command 'refsets %.64s'", a.pos[0]);
	if (refsets_check(&a, a.pos[0], &rc) < 0 || !(key_id = key_operand(&a, REFSETS_USAGE, &rc)))
		return rc;
	if (broker_connect(&a.o, true, &c, &err) < 0)
		return broker_fail_input(a.o.json, &err);
	rc = refsets_run(&c, &a, a.pos[0], key_id);
	broker_disconnect(&c);
	return rc;
}

/* ---- reseal-queue --------------------------------------------------------- */

/* The queued and pending sets of one key into out (each with "key_id"). */
static enum broker_outcome queue_of(struct broker_conn *c, const char *key_id, json_object *out,
				    struct broker_result *res)
{
	json_object *sets = NULL;
	char path[200];
	enum broker_outcome o;
	size_t i, n;

	snprintf(path, sizeof(path), "/v1/keys/%s/refsets", key_id);
	o = broker_call(c, "GET", path, NULL, json_type_array, &sets, res);
	n = o == BROKER_OK ? json_object_array_length(sets) : 0;
	for (i = 0; i < n; i++) {
		json_object *s = json_object_array_get_idx(sets, i);
		const char *state = broker_field(s, "state", NULL, 0);

		/* A member that is no object has no state: not queued. */
		if (!json_object_is_type(s, json_type_object) || !state || (strcmp(state, "queued") && strcmp(state, "pending")))
			continue;
		json_object_object_add(s, "key_id", json_object_new_string(key_id));
		json_object_array_add(out, json_object_get(s));
	}
	json_object_put(sets);
	return o;
}

/* Every key's queue; a key deleted between the listing and its sets is skipped. */
static enum broker_outcome queue_all(struct broker_conn *c, const char *only, json_object *out,
				     struct broker_result *res)
{
	json_object *keys = NULL;
	enum broker_outcome o;
	size_t i, n;

	if (only)
		return queue_of(c, only, out, res);
	o = broker_call(c, "GET", "/v1/keys", NULL, json_type_array, &keys, res);
	n = o == BROKER_OK ? json_object_array_length(keys) : 0;
	for (i = 0; i < n && o == BROKER_OK; i++) {
		const char *id = broker_field(json_object_array_get_idx(keys, i), "key_id", NULL, 0);

		if (!id || !broker_key_id_ok(id))
			continue;
		o = queue_of(c, id, out, res);
		if (o == BROKER_REFUSED && !strcmp(res->reason, "key_unknown"))
			o = BROKER_OK;
	}
	json_object_put(keys);
	return o;
}

int cmd_broker_reseal_queue(int argc, char **argv)
{
	_cleanup_(json_object_putp) json_object *queue = NULL;
	struct broker_conn c;
	struct broker_result res;
	struct skr_err err = { 0 };
	enum broker_outcome o;
	struct args a;
	int rc;

	if (parse(argc, argv, &a) < 0 || a.npos || a.secret_file || a.random || a.policy_file ||
	    a.pcrs_file || a.label || a.state || a.yes)
		return cli_usage(RESEAL_QUEUE_USAGE);
	if (a.key && !broker_key_id_ok(a.key))
		return usage_error(RESEAL_QUEUE_USAGE, "\"%.140s\" is not a key id", a.key);
	if (broker_connect(&a.o, true, &c, &err) < 0)
		return broker_fail_input(a.o.json, &err);
	queue = json_object_new_array();
	o = queue_all(&c, a.key, queue, &res);
	if (o == BROKER_OK && c.json)
		cli_print_json(queue);
	else if (o == BROKER_OK)
		broker_show_refsets(queue, true);
	rc = broker_finish(&c, c.json, o, &res);
	broker_disconnect(&c);
	return rc;
}
