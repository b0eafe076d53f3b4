/* SPDX-License-Identifier: Apache-2.0 */
/*
 * skrctl eventlog replay LOG [--json]   PCR values a TCG event log produces
 * skrctl eventlog show LOG [--json]     one line (or object) per event
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctl/cli.h"
#include "verify/eventlog.h"
#include "common/pcr_json.h"
#include "common/util.h"

struct eventlog_args {
	const char *path;
	bool json;
};

/* Returns -1 when the command should run, else the exit status to end with. */
static int parse_args(int argc, char **argv, const char *usage, struct eventlog_args *args)
{
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	memset(args, 0, sizeof(*args));
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case 'j':
			args->json = true;
			break;
		case 'h':
			printf("usage: %s\n", usage);
			return CLI_EXIT_OK;
		default:
			return cli_usage(usage);
		}
	}
	if (argc - optind != 1)
		return cli_usage(usage);
	args->path = argv[optind];
	return -1;
}

/* ---- replay ------------------------------------------------------------- */

/* The same map as `quote verify --pcrs` reads: one PCR JSON format everywhere. */
static int print_banks_json(const struct skr_pcr_banks *banks, struct skr_err *err)
{
	json_object *root = skr_pcr_banks_to_json(banks);

	if (!root)
		return skr_fail(err, SKR_R_nomem, "out of memory building the JSON output");
	cli_print_json(root);
	json_object_put(root);
	return 0;
}

static int print_banks_text(const struct skr_pcr_banks *banks, struct skr_err *err)
{
	size_t i;
	unsigned pcr;

	for (i = 0; i < banks->count; i++) {
		const struct skr_pcr_bank *bank = &banks->bank[i];

		for (pcr = 0; pcr < SKR_PCR_COUNT; pcr++) {
			_cleanup_free_ char *hex = NULL;

			if (!(bank->extended_mask & UINT32_C(1) << pcr))
				continue;
			hex = skr_hex_encode(bank->value[pcr], bank->size);
			if (!hex)
				return skr_fail(err, SKR_R_nomem, "out of memory");
			printf("%s PCR %u: %s\n", bank->name, pcr, hex);
		}
	}
	return 0;
}

int cmd_eventlog_replay(int argc, char **argv)
{
	_cleanup_eventlog_ struct skr_eventlog *log = NULL;
	struct skr_pcr_banks banks;
	struct skr_err err = { 0 };
	struct eventlog_args args;
	int rc;

	rc = parse_args(argc, argv, EVENTLOG_REPLAY_USAGE, &args);
	if (rc >= 0)
		return rc;
	if (cli_load_log(args.path, &log, &err) < 0 || skr_eventlog_replay(log, &banks, &err) < 0 ||
	    (args.json ? print_banks_json(&banks, &err) : print_banks_text(&banks, &err)) < 0)
		return cli_finish(&err, NULL, args.json);
	/* Success output is the bare bank map (no "valid"), comparable with *.pcrs.json. */
	return CLI_EXIT_OK;
}

/* ---- show --------------------------------------------------------------- */

/* The digest to show for an event: sha256 if it has one, else its first. */
static const struct skr_eventlog_digest *shown_digest(const struct skr_eventlog_event *ev)
{
	const struct skr_eventlog_digest *d = skr_eventlog_event_digest(ev, SKR_TPM_ALG_SHA256);

	if (d)
		return d;
	return ev->digest_count ? &ev->digests[0] : NULL;
}

/* Event type names are at most 32 characters, unknown types are shown as hex. */
#define TYPE_LABEL_SIZE 40

static void type_label(uint32_t type, char label[static TYPE_LABEL_SIZE])
{
	const char *name = skr_eventlog_type_name(type);

	if (name)
		snprintf(label, TYPE_LABEL_SIZE, "%s", name);
	else
		snprintf(label, TYPE_LABEL_SIZE, "0x%08" PRIx32, type);
}

static int show_event_text(const struct skr_eventlog_event *ev, struct skr_err *err)
{
	const struct skr_eventlog_digest *d = shown_digest(ev);
	_cleanup_free_ char *description = NULL;
	_cleanup_free_ char *hex = NULL;
	char alg[8] = "-", type[TYPE_LABEL_SIZE];
	bool described;

	if (skr_eventlog_describe(ev, &description, err) < 0)
		return -1;
	if (d) {
		skr_tpm_alg_label(d->alg, alg);
		hex = skr_hex_encode(d->value, d->size);
		if (!hex)
			return skr_fail(err, SKR_R_nomem, "out of memory");
	}
	type_label(ev->type, type);
	described = description && description[0];
	printf("%4zu  PCR %-2" PRIu32 "  %-32s  %s:%s%s%s\n", ev->index, ev->pcr, type, alg,
	       hex ? hex : "-", described ? "  " : "", described ? description : "");
	return 0;
}

static json_object *event_digests_json(const struct skr_eventlog_event *ev)
{
	json_object *obj = json_object_new_object();
	size_t i;

	for (i = 0; obj && i < ev->digest_count; i++) {
		char alg[8];

		skr_tpm_alg_label(ev->digests[i].alg, alg);
		if (skr_json_add_hex(obj, alg, ev->digests[i].value, ev->digests[i].size) < 0) {
			json_object_put(obj);
			obj = NULL;
		}
	}
	return obj;
}

static json_object *event_json(const struct skr_eventlog_event *ev, struct skr_err *err)
{
	_cleanup_free_ char *description = NULL;
	json_object *obj, *digests;
	char type[TYPE_LABEL_SIZE];

	if (skr_eventlog_describe(ev, &description, err) < 0)
		return NULL;
	type_label(ev->type, type);
	obj = json_object_new_object();
	digests = event_digests_json(ev);
	if (!obj || !digests) {
		json_object_put(obj);
		json_object_put(digests);
		skr_fail(err, SKR_R_nomem, "out of memory building the JSON output");
		return NULL;
	}
	json_object_object_add(obj, "index", json_object_new_int64((int64_t)ev->index));
	json_object_object_add(obj, "pcr", json_object_new_int64(ev->pcr));
	json_object_object_add(obj, "type", json_object_new_int64(ev->type));
	json_object_object_add(obj, "type_name", json_object_new_string(type));
	json_object_object_add(obj, "digests", digests);
	if (description)
		json_object_object_add(obj, "description", json_object_new_string(description));
	return obj;
}

static int show_json(const struct skr_eventlog *log, struct skr_err *err)
{
	json_object *array = json_object_new_array();
	size_t i;

	if (!array)
		return skr_fail(err, SKR_R_nomem, "out of memory building the JSON output");
	for (i = 0; i < log->event_count; i++) {
		json_object *ev = event_json(&log->events[i], err);

		if (!ev) {
			json_object_put(array);
			return -1;
		}
		json_object_array_add(array, ev);
	}
	cli_print_json(array);
	json_object_put(array);
	return 0;
}

static int show_text(const struct skr_eventlog *log, struct skr_err *err)
{
	size_t i;

	for (i = 0; i < log->event_count; i++)
		if (show_event_text(&log->events[i], err) < 0)
			return -1;
	return 0;
}

int cmd_eventlog_show(int argc, char **argv)
{
	_cleanup_eventlog_ struct skr_eventlog *log = NULL;
	struct skr_err err = { 0 };
	struct eventlog_args args;
	int rc;

	rc = parse_args(argc, argv, EVENTLOG_SHOW_USAGE, &args);
	if (rc >= 0)
		return rc;
	if (cli_load_log(args.path, &log, &err) < 0 ||
	    (args.json ? show_json(log, &err) : show_text(log, &err)) < 0)
		return cli_finish(&err, NULL, args.json);
	return CLI_EXIT_OK;
}
