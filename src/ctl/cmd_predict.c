/* SPDX-License-Identifier: Apache-2.0 */
/*
 * skrctl predict: the PCR values of the next boot after a kernel, initrd or
 * command-line change (src/predict/predict.h), in the reference-set format the
 * broker takes ("pcrs": {"sha256": {"4": hex, ...}}).
 *
 * Exit status: 0 prediction made, 1 refused (the log does not replay to the
 * live PCRs, or a bound PCR holds a measurement that cannot be attributed),
 * 2 usage or unreadable input.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ctl/cli.h"
#include "verify/eventlog.h"
#include "common/pcr_json.h"
#include "predict/predict.h"
#include "vm/tpm.h"
#include "common/util.h"

#define DEFAULT_EVENTLOG CLI_DEFAULT_EVENTLOG
#define DEFAULT_PCRS CLI_DEFAULT_PCRS


/* Kernels and UKIs with a large initrd run to a few hundred MiB (as pe hash). */
#define MAX_IMAGE_SIZE ((size_t)1 << 30)

struct predict_args {
	struct cli_predict_inputs in;
	bool json;
};

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "skrctl predict: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	return cli_usage(PREDICT_USAGE);
}

static int take_option(int opt, struct predict_args *a)
{
	switch (opt) {
	case 'e': a->in.eventlog = optarg; return 0;
	case 'k': a->in.kernel = optarg; return 0;
	case 'K': a->in.current_kernel = optarg; return 0;
	case 'i': a->in.initrd = optarg; return 0;
	case 'c': a->in.cmdline = optarg; return 0;
	case 'L': a->in.pcrs_live = optarg; return 0;
	case 't': a->in.tcti = optarg; return 0;
	case 'j': a->json = true; return 0;
	case 'p':
		if (cli_parse_pcr_list(optarg, &a->in.mask) < 0)
			return usage_error("--pcrs '%s' is not a list of PCR indexes 0..23 (e.g. 4,7,9)",
					   optarg);
		return 0;
	case 'h':
		printf("usage: %s\n", PREDICT_USAGE);
		return CLI_EXIT_OK;
	default:
		return cli_usage(PREDICT_USAGE);
	}
}

/* Returns -1 when the command should run, else the exit status to end with. */
static int parse_args(int argc, char **argv, struct predict_args *a)
{
	static const struct option options[] = {
		{ "eventlog", required_argument, NULL, 'e' },
		{ "kernel", required_argument, NULL, 'k' },
		{ "current-kernel", required_argument, NULL, 'K' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "cmdline", required_argument, NULL, 'c' },
		{ "pcrs", required_argument, NULL, 'p' },
		{ "pcrs-live", required_argument, NULL, 'L' },
		{ "tcti", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, rc;

	memset(a, 0, sizeof(*a));
	cli_parse_pcr_list(DEFAULT_PCRS, &a->in.mask);
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1)
		if ((rc = take_option(opt, a)) != 0 || opt == 'h')
			return rc;
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!a->in.kernel)
		return usage_error("--kernel (the new kernel image) is required");
	if (a->in.pcrs_live && a->in.tcti)
		return usage_error("--pcrs-live and --tcti both name the live PCR values: give one");
	return -1;
}

/* ---- Inputs ----------------------------------------------------------------- */

/* "PATH: detail", so that a failure says which of the two kernels it is about. */
static void prefix_detail(struct skr_err *err, const char *path)
{
	char detail[sizeof(err->detail)];
	size_t n = strlen(path), m;

	if (n + 3 >= sizeof(detail))
		return;
	m = strnlen(err->detail, sizeof(detail) - n - 3);
	memcpy(detail, path, n);
	memcpy(detail + n, ": ", 2);
	memcpy(detail + n + 2, err->detail, m);
	detail[n + 2 + m] = '\0';
	memcpy(err->detail, detail, sizeof(detail));
}

static int load_image(const struct skr_eventlog *log, const char *path,
		      struct skr_predict_image *out, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf img = { 0 };

	if (skr_read_file(path, MAX_IMAGE_SIZE, &img, err) < 0)
		return -1;
	if (skr_predict_image_digests(log, img.data, img.len, out, err) < 0) {
		prefix_detail(err, path);
		return -1;
	}
	return 0;
}

static int load_live_tpm(const char *tcti, uint32_t mask, struct skr_pcr_banks *live,
			 struct skr_err *err)
{
	_cleanup_tpm_ struct skr_tpm *t = NULL;

	if (skr_tpm_open(tcti, &t, err) < 0)
		return -1;
	return skr_tpm_pcr_read(t, mask, live, err);
}

/* The live PCRs: a file, the TPM (by default when the log is the running
 * system's own), or none (*have = false) for an offline prediction. */
static int load_live(const struct cli_predict_inputs *a, struct skr_pcr_banks *live, bool *have,
		     struct skr_err *err)
{
	*have = a->pcrs_live || a->tcti || !a->eventlog;
	if (a->pcrs_live)
		return cli_load_pcr_banks(a->pcrs_live, live, err);
	if (*have)
		return load_live_tpm(a->tcti, a->mask, live, err);
	return 0;
}

static int load_inputs(const struct cli_predict_inputs *a, const struct skr_eventlog *log,
		       struct skr_predict_request *req, struct skr_err *err)
{
	req->pcr_mask = a->mask;
	req->cmdline = a->cmdline;
	if (load_image(log, a->kernel, &req->kernel, err) < 0)
		return -1;
	if (a->current_kernel && load_image(log, a->current_kernel, &req->current_kernel, err) < 0)
		return -1;
	if (a->initrd && skr_predict_file_digests(log, a->initrd, &req->initrd, err) < 0)
		return -1;
	return 0;
}

/* ---- Output ------------------------------------------------------------------ */

static json_object *event_digests_json(const struct skr_eventlog_event *ev)
{
	json_object *o = json_object_new_object();
	char alg[8];
	size_t i;

	for (i = 0; i < ev->digest_count; i++) {
		skr_tpm_alg_label(ev->digests[i].alg, alg);
		skr_json_add_hex(o, alg, ev->digests[i].value, ev->digests[i].size);
	}
	return o;
}

static json_object *digests_json(const struct skr_predict_digests *d)
{
	json_object *o = json_object_new_object();
	char alg[8];
	size_t i;

	for (i = 0; i < d->count; i++) {
		skr_tpm_alg_label(d->d[i].alg, alg);
		skr_json_add_hex(o, alg, d->d[i].value, d->d[i].size);
	}
	return o;
}

static json_object *subst_json(const struct skr_eventlog *log, const struct skr_predict_subst *s)
{
	const struct skr_eventlog_event *ev = &log->events[s->event];
	const char *type = skr_eventlog_type_name(ev->type);
	struct skr_err ignored = { 0 };
	_cleanup_free_ char *desc = NULL;
	json_object *o = json_object_new_object();

	json_object_object_add(o, "index", json_object_new_int64((int64_t)ev->index));
	json_object_object_add(o, "pcr", json_object_new_int64(ev->pcr));
	json_object_object_add(o, "type", json_object_new_string(type ? type : "unknown"));
	json_object_object_add(o, "component", json_object_new_string(s->component));
	json_object_object_add(o, "measured", json_object_new_string(s->measured));
	if (skr_eventlog_describe(ev, &desc, &ignored) == 0 && desc)
		json_object_object_add(o, "description", json_object_new_string(desc));
	json_object_object_add(o, "old", event_digests_json(ev));
	json_object_object_add(o, "new", digests_json(&s->digests));
	return o;
}

static json_object *changed_json(const struct skr_eventlog *log, const struct skr_predict_result *r)
{
	json_object *changed = json_object_new_array();
	unsigned pcr;
	size_t i;

	for (pcr = 0; pcr < SKR_PCR_COUNT; pcr++) {
		json_object *o, *events;

		if (!(r->changed_mask & (UINT32_C(1) << pcr)))
			continue;
		o = json_object_new_object();
		events = json_object_new_array();
		for (i = 0; i < r->subst_count; i++)
			if (log->events[r->subst[i].event].pcr == pcr)
				json_object_array_add(events, subst_json(log, &r->subst[i]));
		json_object_object_add(o, "pcr", json_object_new_int((int)pcr));
		json_object_object_add(o, "substituted", events);
		json_object_array_add(changed, o);
	}
	return changed;
}

static json_object *result_json(const struct skr_eventlog *log, const struct skr_predict_result *r)
{
	json_object *o = json_object_new_object(), *all = json_object_new_array();
	json_object *notes = json_object_new_array();
	size_t i;

	for (i = 0; i < r->subst_count; i++)
		json_object_array_add(all, subst_json(log, &r->subst[i]));
	for (i = 0; i < r->note_count; i++)
		json_object_array_add(notes, json_object_new_string(r->notes[i]));
	json_object_object_add(o, "chain", json_object_new_string(r->chain));
	json_object_object_add(o, "live_checked", json_object_new_boolean(r->live_checked));
	json_object_object_add(o, "kernel_measurements", json_object_new_int((int)r->kernel_measurements));
	json_object_object_add(o, "pcrs", skr_pcr_banks_to_json(&r->predicted));
	json_object_object_add(o, "current", skr_pcr_banks_to_json(&r->current));
	json_object_object_add(o, "changed", changed_json(log, r));
	json_object_object_add(o, "substituted", all);
	json_object_object_add(o, "notes", notes);
	return o;
}

static void print_text(const struct skr_eventlog *log, const struct skr_predict_result *r)
{
	size_t b, i;
	unsigned pcr;

	printf("boot chain: %s; kernel measured %u time%s into PCR 4; live PCRs %s\n", r->chain,
	       r->kernel_measurements, r->kernel_measurements == 1 ? "" : "s",
	       r->live_checked ? "match the event log" : "not checked");
	for (b = 0; b < r->predicted.count; b++) {
		const struct skr_pcr_bank *bank = &r->predicted.bank[b];

		for (pcr = 0; pcr < SKR_PCR_COUNT; pcr++) {
			_cleanup_free_ char *hex = NULL;

			if (!(bank->extended_mask & (UINT32_C(1) << pcr)))
				continue;
			hex = skr_hex_encode(bank->value[pcr], bank->size);
			printf("%s PCR %u: %s%s\n", bank->name, pcr, hex ? hex : "?",
			       r->changed_mask & (UINT32_C(1) << pcr) ? "  (changed)" : "");
		}
	}
	for (i = 0; i < r->subst_count; i++) {
		const struct skr_eventlog_event *ev = &log->events[r->subst[i].event];

		printf("substituted: PCR %u event %zu, %s (%s)\n", ev->pcr, ev->index,
		       r->subst[i].component, r->subst[i].measured);
	}
	for (i = 0; i < r->note_count; i++)
		printf("note: %s\n", r->notes[i]);
}

/* ---- The command -------------------------------------------------------------- */

int cli_predict(const struct cli_predict_inputs *a, struct skr_eventlog **log,
		struct skr_predict_result *res, struct skr_err *err)
{
	_cleanup_free_ struct skr_pcr_banks *live = calloc(1, sizeof(*live));
	struct skr_predict_request req = { 0 };
	bool have_live = false;

	if (!live)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	if (cli_load_log(a->eventlog ? a->eventlog : DEFAULT_EVENTLOG, log, err) < 0 ||
	    load_inputs(a, *log, &req, err) < 0 || load_live(a, live, &have_live, err) < 0)
		return -1;
	req.live = have_live ? live : NULL;
	return skr_predict(*log, &req, res, err);
}

int cmd_predict(int argc, char **argv)
{
	_cleanup_eventlog_ struct skr_eventlog *log = NULL;
	_cleanup_free_ struct skr_predict_result *res = calloc(1, sizeof(*res));
	struct skr_err err = { 0 };
	struct predict_args a;
	int rc = parse_args(argc, argv, &a);

	if (rc >= 0)
		return rc;
	if (!res) {
		skr_fail(&err, SKR_R_nomem, "out of memory");
		return cli_finish(&err, NULL, a.json);
	}
	if (cli_predict(&a.in, &log, res, &err) < 0)
		return cli_finish(&err, NULL, a.json);
	if (a.json)
		return cli_finish(&err, result_json(log, res), true);
	print_text(log, res);
	return cli_finish(&err, NULL, false);
}
