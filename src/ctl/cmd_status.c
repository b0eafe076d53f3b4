/* SPDX-License-Identifier: Apache-2.0 */
/*
 * skrctl status DEVICE: the device's skr tokens, whether their brokers answer,
 * and whether the broker would release each key to this boot (a dry run), with
 * the event-log entries behind each PCR that differs.  On bare SEV-SNP (tee
 * "snp", no vTPM) there are no PCRs: the dry run checks this guest's report,
 * and the boot gate shown is the kernel command line's (rd.skr.disk= tags,
 * panic=; luks/disk_tag.h).
 */
#include <getopt.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libcryptsetup.h>

#include "ctl/cli.h"
#include "vm/client_config.h"
#include "vm/cmdline.h"
#include "luks/enroll.h"
#include "verify/eventlog.h"
#include "vm/https.h"
#include "verify/tee.h"
#include "vm/release_client.h"
#include "vm/tpm.h"
#include "luks/token.h"
#include "luks/token_iter.h"
#include "common/util.h"

struct status_args {
	const char *device, *tcti, *config, *log_path;
	unsigned timeout;
	bool json;
	/* Where to ask and whom to trust: the configuration (at the first skr token), never the header. */
	bool cfg_tried, have_cfg;
	enum skr_release_path path;	/* this VM's release path (skr_release_path), asked once */
	struct skr_client_config cfg;
	struct skr_err cerr;		/* why it is not there */
};

/* The PCR indexes a pcr_mismatch detail names ("PCR 7: seen ..."). */
static json_object *differing_pcrs(const char *detail)
{
	json_object *a = json_object_new_array();
	uint32_t seen = 0;
	regmatch_t m[2];
	regex_t re;
	const char *p = detail;

	if (regcomp(&re, "PCR ([0-9]+):", REG_EXTENDED) != 0)
		return a;
	while (regexec(&re, p, 2, m, 0) == 0) {
		int n = atoi(p + m[1].rm_so);

		if (n >= 0 && n < 24 && !(seen & (1u << n))) {
			seen |= 1u << n;
			json_object_array_add(a, json_object_new_int(n));
		}
		p += m[0].rm_eo;
	}
	regfree(&re);
	return a;
}

/*
 * For each "PCR N: seen HEX" of a pcr_mismatch detail, the event-log entries
 * that make up PCR N here, and whether the log replays to the value seen.
 */
static json_object *explain_mismatch(const char *detail, const char *log_path)
{
	_cleanup_(skr_eventlog_freep) struct skr_eventlog *log = NULL;
	struct skr_pcr_banks *banks = calloc(1, sizeof(*banks));
	json_object *out = NULL;
	struct skr_err err = { 0 };
	const char *p = detail;
	regmatch_t m[3];
	regex_t re;

	if (!banks || !log_path || cli_load_log(log_path, &log, &err) < 0 ||
	    skr_eventlog_replay(log, banks, &err) < 0 ||
	    regcomp(&re, "PCR ([0-9]+): seen ([0-9a-f]+)", REG_EXTENDED) != 0) {
		free(banks);
		return NULL;
	}
	out = json_object_new_array();
	while (regexec(&re, p, 3, m, 0) == 0) {
		_cleanup_buf_ struct skr_buf seen = { 0 };
		int pcr = atoi(p + m[1].rm_so);

		skr_hex_decode(p + m[2].rm_so, (size_t)(m[2].rm_eo - m[2].rm_so), &seen, "seen", &err);
		if (pcr >= 0 && pcr < SKR_PCR_COUNT)
			json_object_array_add(out, skr_eventlog_explain_pcr(log, banks, SKR_TPM_ALG_SHA256,
									    (unsigned)pcr, seen.data,
									    seen.len));
		p += m[0].rm_eo;
	}
	regfree(&re);
	free(banks);
	return out;
}

static json_object *broker_status(const struct skr_token *t, const char *ca_file, const char *url,
				  struct skr_err *first)
{
	_cleanup_buf_ struct skr_buf resp = { 0 };
	struct skr_https_ca ca = { .file = ca_file };
	struct skr_err err = { 0 };
	json_object *o = json_object_new_object();
	char body[200];
	long status = 0;

	snprintf(body, sizeof(body), "{\"key_id\": \"%s\"}", t->key_id);
	json_object_object_add(o, "url", json_object_new_string(url));
	if (skr_https_request("POST", url, "/v1/challenge", body, NULL, &ca, 3000, 5000, &status,
			      &resp, &err) < 0) {
		json_object_object_add(o, "reachable", json_object_new_boolean(false));
		json_object_object_add(o, "error", json_object_new_string(err.detail));
		skr_fail(first, err.reason, "%s", err.detail);
	} else {
		json_object_object_add(o, "reachable", json_object_new_boolean(true));
		json_object_object_add(o, "http_status", json_object_new_int((int)status));
	}
	return o;
}

/*
 * Would this boot be released?  The broker's dry run (skr_check_this_boot):
 * a real release only ever succeeds in the initramfs, before the boot gate
 * closes (gate.h), so status never asks for the key itself.
 */
static json_object *release_status(const struct skr_token *t, const struct skr_client_config *cfg,
				   const char *tcti, unsigned timeout, const char *log_path,
				   struct skr_err *first)
{
	struct skr_release_opts ro;
	struct skr_err err = { 0 };
	json_object *o = json_object_new_object(), *ans = NULL, *id;

	skr_token_release_opts(t, cfg, timeout, &ro);
	if (tcti)
		ro.tcti = tcti;
	skr_check_this_boot(&ro, &ans, &err);
	json_object_object_add(o, "would_be_released", json_object_new_boolean(err.reason == SKR_R_ok));
	if (err.reason == SKR_R_ok && json_object_object_get_ex(ans, "id", &id))
		json_object_object_add(o, "set", json_object_get(id));
	if (err.reason == SKR_R_ok && json_object_object_get_ex(ans, "tee", &id))
		json_object_object_add(o, "tee", json_object_get(id));
	json_object_put(ans);
	if (err.reason != SKR_R_ok) {
		json_object_object_add(o, "reason", json_object_new_string(skr_reason_name(err.reason)));
		json_object_object_add(o, "detail", json_object_new_string(err.detail));
		if (err.reason == SKR_R_pcr_mismatch) {
			json_object *why = explain_mismatch(err.detail, log_path);

			json_object_object_add(o, "pcrs_differ", differing_pcrs(err.detail));
			if (why)
				json_object_object_add(o, "eventlog", why);
		}
		skr_fail(first, err.reason, "%s", err.detail);
	}
	return o;
}

/* The event-log entries behind each differing PCR, one line each. */
static void print_explanation(json_object *why)
{
	size_t i, j;

	for (i = 0; i < json_object_array_length(why); i++) {
		json_object *x = json_object_array_get_idx(why, i), *pcr, *events, *match;

		json_object_object_get_ex(x, "pcr", &pcr);
		json_object_object_get_ex(x, "events", &events);
		printf("    PCR %d in this machine's event log: %zu events%s\n", json_object_get_int(pcr),
		       json_object_array_length(events),
		       json_object_object_get_ex(x, "replay_matches_quote", &match) &&
				       !json_object_get_boolean(match)
			       ? " (the log does not replay to the quoted value: it is not this boot's)"
			       : "");
		for (j = 0; j < json_object_array_length(events); j++) {
			json_object *e = json_object_array_get_idx(events, j), *idx, *type, *desc;

			json_object_object_get_ex(e, "index", &idx);
			json_object_object_get_ex(e, "type", &type);
			printf("      #%d %s", json_object_get_int(idx), json_object_get_string(type));
			if (json_object_object_get_ex(e, "description", &desc))
				printf(" %s", json_object_get_string(desc));
			printf("\n");
		}
	}
}

/* One token's brokers and dry run, one line each. */
static void print_brokers(json_object *t)
{
	json_object *b;
	size_t j;

	json_object_object_get_ex(t, "brokers", &b);
	for (j = 0; j < json_object_array_length(b); j++) {
		json_object *e = json_object_array_get_idx(b, j), *u, *ok, *msg;

		json_object_object_get_ex(e, "url", &u);
		json_object_object_get_ex(e, "reachable", &ok);
		printf("  broker %s: %s", json_object_get_string(u),
		       json_object_get_boolean(ok) ? "reachable" : "unreachable");
		if (json_object_object_get_ex(e, "error", &msg))
			printf(" (%s)", json_object_get_string(msg));
		printf("\n");
	}
}

static void print_release(json_object *r)
{
	json_object *v, *f, *tee;

	json_object_object_get_ex(r, "would_be_released", &v);
	if (json_object_get_boolean(v) && json_object_object_get_ex(r, "tee", &tee)) {
		printf("  this boot would be released (tee %s: the launch measurement is approved)\n",
		       json_object_get_string(tee));
		return;
	}
	if (json_object_get_boolean(v)) {
		printf("  this boot would be released (approved set %s)\n",
		       json_object_object_get_ex(r, "set", &v) ? json_object_get_string(v) : "?");
		return;
	}
	json_object_object_get_ex(r, "reason", &v);
	printf("  this boot would be refused: %s", json_object_get_string(v));
	if (json_object_object_get_ex(r, "pcrs_differ", &f))
		printf(" (PCRs that differ: %s)", json_object_to_json_string_ext(f, JSON_C_TO_STRING_PLAIN));
	json_object_object_get_ex(r, "detail", &v);
	printf("\n    %s\n", json_object_get_string(v));
	if (json_object_object_get_ex(r, "eventlog", &f))
		print_explanation(f);
	if (json_object_object_get_ex(r, "pcrs_differ", &f))
		printf("    this boot's measurements are not an approved boot state: after a kernel\n"
		       "    or initramfs update without reseal (hooks disabled, SKR_RESEAL=no, or\n"
		       "    the broker unreachable then), run `skrctl reseal --all --kernel-version\n"
		       "    VERSION` from an approved boot before rebooting, or have an operator\n"
		       "    approve this state at the broker; `skrctl reseal --check` tells in advance\n");
}

static void print_token(json_object *t)
{
	json_object *v, *r;

	json_object_object_get_ex(t, "token", &v);
	printf("token %d:", json_object_get_int(v));
	if (json_object_object_get_ex(t, "invalid", &v)) {
		printf(" invalid: %s\n", json_object_get_string(v));
		return;
	}
	json_object_object_get_ex(t, "key_id", &v);
	printf(" key %s", json_object_get_string(v));
	json_object_object_get_ex(t, "keyslots", &v);
	printf(", keyslots %s", json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	json_object_object_get_ex(t, "pcrs", &v);
	if (json_object_array_length(v))
		printf(", pcrs %s\n", json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	else
		printf(", no PCRs\n");
	if (json_object_object_get_ex(t, "notice", &v))
		printf("  notice: %s\n", json_object_get_string(v));
	if (json_object_object_get_ex(t, "config_error", &v)) {
		printf("  no broker asked: %s\n", json_object_get_string(v));
		return;
	}
	print_brokers(t);
	if (json_object_object_get_ex(t, "release", &r))
		print_release(r);
}

static void print_status(json_object *res)
{
	json_object *tokens, *v;
	size_t i;

	json_object_object_get_ex(res, "tokens", &tokens);
	if (json_object_object_get_ex(res, "pending", &v) && json_object_get_int(v))
		printf("%d interrupted enrollment(s): run skrctl unenroll --reconcile\n",
		       json_object_get_int(v));
	if (!json_object_array_length(tokens))
		printf("no skr token\n");
	for (i = 0; i < json_object_array_length(tokens); i++)
		print_token(json_object_array_get_idx(tokens, i));
}

/* The client configuration, loaded at the first skr token; false: a->cerr says why not. */
static bool status_config(struct status_args *a)
{
	if (!a->cfg_tried) {
		a->cfg_tried = true;
		a->have_cfg = skr_client_config_load(skr_client_config_path(a->config), &a->cfg,
						     &a->cerr) == 0;
		if (a->have_cfg && !a->tcti)
			a->tcti = a->cfg.tcti;
	}
	return a->have_cfg;
}

/* The token's brokers (are they reachable?) and the broker's dry run for this boot. */
static void ask_brokers(const struct status_args *a, const struct skr_token *tok, json_object *o,
			struct skr_err *err)
{
	const struct skr_client_endpoints *ep = skr_client_config_for_key(&a->cfg, tok->key_id);
	json_object *brokers = json_object_new_array();
	size_t i;

	for (i = 0; i < ep->n_brokers; i++)
		json_object_array_add(brokers, broker_status(tok, ep->ca_file, ep->brokers[i], err));
	json_object_object_add(o, "brokers", brokers);
	/*
	 * The dry run needs a TPM (--tcti, the configuration's, or the kernel's
	 * resource manager), or bare SNP's report.
	 */
	if (a->path == SKR_RELEASE_PATH_BARE_SNP || a->tcti || access("/dev/tpmrm0", F_OK) == 0)
		json_object_object_add(o, "release", release_status(tok, &a->cfg, a->tcti, a->timeout,
								    a->log_path, err));
}

/* One skr token's report; an invalid token is reported as such, and fails the command. */
static json_object *token_status(struct status_args *a, int t, const char *text,
				 struct skr_err *err)
{
	json_object *o = json_object_new_object(), *slots;
	struct skr_err perr = { 0 };
	struct skr_token tok;
	size_t i;

	json_object_object_add(o, "token", json_object_new_int(t));
	if (skr_token_parse(text, &tok, &perr) < 0) {
		json_object_object_add(o, "invalid", json_object_new_string(perr.detail));
		skr_fail(err, perr.reason, "token %d: %s", t, perr.detail);
		return o;
	}
	json_object_object_add(o, "key_id", json_object_new_string(tok.key_id));
	if (tok.v1_ignored)
		json_object_object_add(o, "notice", json_object_new_string(SKR_TOKEN_V1_NOTICE));
	slots = json_object_new_array();
	for (i = 0; i < tok.n_keyslots; i++)
		json_object_array_add(slots, json_object_new_int(tok.keyslots[i]));
	json_object_object_add(o, "keyslots", slots);
	json_object_object_add(o, "pcrs", cli_pcr_mask_json(tok.pcr_mask));
	json_object_object_add(o, "timeout", json_object_new_int((int)tok.timeout));
	if (status_config(a)) {
		ask_brokers(a, &tok, o, err);
	} else {
		json_object_object_add(o, "config_error", json_object_new_string(a->cerr.detail));
		if (err->reason == SKR_R_ok)
			*err = a->cerr;
	}
	skr_token_free(&tok);
	return o;
}

/*
 * This VM's mode (the "tee" its evidence and an enrollment's policy name),
 * when there is a TPM to ask: {"tee", "description"} or {"error"}.  Only a
 * diagnostic: the exit status stays the tokens'.
 */
static json_object *vm_mode(const char *tcti, bool svsm)
{
	json_object *o = json_object_new_object();
	struct skr_tpm *tpm = NULL;
	struct skr_err err = { 0 };
	enum skr_tpm_mode mode;

	/* As the release decides: the SVSM's vTPM first (its EK has no certificate). */
	if (svsm) {
		json_object_object_add(o, "tee", json_object_new_string(SKR_TEE_NAME_SNP_SVSM));
		json_object_object_add(o, "description",
				       json_object_new_string("SEV-SNP under an SVSM vTPM: the SVSM's "
							      "report vouches for the vTPM's EK"));
		return o;
	}
	if (skr_tpm_open(tcti, &tpm, &err) == 0 && skr_tpm_detect_mode(tpm, &mode, &err) == 0) {
		json_object_object_add(o, "tee", json_object_new_string(skr_tpm_mode_name(mode)));
		json_object_object_add(o, "description",
				       json_object_new_string(skr_tpm_mode_describe(mode)));
	} else {
		json_object_object_add(o, "reason", json_object_new_string(skr_reason_name(err.reason)));
		json_object_object_add(o, "error", json_object_new_string(err.detail));
	}
	skr_tpm_close(tpm);
	return o;
}

/* Bare SNP: this VM's mode, without a TPM to ask. */
static json_object *vm_mode_snp(void)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "tee", json_object_new_string("snp"));
	json_object_object_add(o, "description",
			       json_object_new_string("bare SEV-SNP, no vTPM: no PCRs, the launch "
						      "measurement is the boot state"));
	return o;
}

/*
 * Bare SNP's boot gate, from the kernel command line ($SKR_CMDLINE or
 * /proc/cmdline): how many volume tags a passphrase open may hand over, and
 * whether panic= keeps initramfs-tools from giving a shell.
 */
static json_object *snp_gate(void)
{
	json_object *o = json_object_new_object();
	struct skr_cmdline c;

	skr_cmdline_read(NULL, &c);
	json_object_object_add(o, "disk_tags", json_object_new_int((int)c.n_disk_tags));
	json_object_object_add(o, "disk_tags_invalid", json_object_new_boolean(c.disk_tags_invalid));
	json_object_object_add(o, "panic", json_object_new_boolean(c.panic));
	return o;
}

static void print_gate(json_object *g)
{
	json_object *n, *bad, *panic;

	json_object_object_get_ex(g, "disk_tags", &n);
	json_object_object_get_ex(g, "disk_tags_invalid", &bad);
	json_object_object_get_ex(g, "panic", &panic);
	if (json_object_get_boolean(bad))
		printf("boot gate: the kernel command line's rd.skr.disk= is malformed: no volume is "
		       "accepted after a passphrase open");
	else
		printf("boot gate: the kernel command line lists %d rd.skr.disk tag(s)",
		       json_object_get_int(n));
	printf("; panic= %s\n", json_object_get_boolean(panic)
					 ? "present"
					 : "missing (initramfs-tools may give a shell: add panic=10)");
}

static void print_vm(json_object *vm)
{
	json_object *v, *d;

	if (json_object_object_get_ex(vm, "tee", &v) && json_object_object_get_ex(vm, "description", &d))
		printf("this VM: %s, %s\n", json_object_get_string(v), json_object_get_string(d));
	else if (json_object_object_get_ex(vm, "error", &v))
		printf("this VM: mode unknown: %s\n", json_object_get_string(v));
}

/* -1: go on; else the exit status. */
static int parse_args(int argc, char **argv, struct status_args *a)
{
	static const struct option opts[] = {
		{ "tcti", required_argument, NULL, 't' }, { "timeout", required_argument, NULL, 'T' },
		{ "json", no_argument, NULL, 'j' },       { "eventlog", required_argument, NULL, 'e' },
		{ "config", required_argument, NULL, 'C' }, { 0 }
	};
	int c;

	a->timeout = 10;
	a->log_path = access(CLI_DEFAULT_EVENTLOG, R_OK) == 0 ? CLI_DEFAULT_EVENTLOG : NULL;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 't': a->tcti = optarg; break;
		case 'T': a->timeout = (unsigned)atoi(optarg); break;
		case 'j': a->json = true; break;
		case 'e': a->log_path = optarg; break;
		case 'C': a->config = optarg; break;
		default: return cli_usage(STATUS_USAGE);
		}
	}
	if (optind + 1 != argc || a->timeout < 1)
		return cli_usage(STATUS_USAGE);
	a->device = argv[optind];
	return -1;
}

int cmd_status(int argc, char **argv)
{
	struct status_args a = { 0 };
	struct crypt_device *cd = NULL;
	struct skr_err err = { 0 };
	json_object *res, *tokens;
	const char *text;
	unsigned pending;
	int t, rc = parse_args(argc, argv, &a);

	if (rc >= 0)
		return rc;
	/* The configuration's TCTI picks the mode as the release would (none: the tokens say why). */
	status_config(&a);
	a.path = skr_release_path(a.tcti);
	if ((rc = crypt_init(&cd, a.device)) < 0 || (rc = crypt_load(cd, CRYPT_LUKS2, NULL)) < 0) {
		crypt_free(cd);
		if (a.have_cfg)
			skr_client_config_free(&a.cfg);
		skr_fail(&err, SKR_R_luks_error, "%s is not a readable LUKS2 device: %s", a.device,
			 strerror(-rc));
		return cli_finish(&err, NULL, a.json);
	}
	tokens = json_object_new_array();
	SKR_LUKS_FOREACH_TOKEN(cd, SKR_TOKEN_TYPE, t, text)
		json_object_array_add(tokens, token_status(&a, t, text, &err));
	pending = skr_luks_token_count(cd, SKR_PENDING_TOKEN_TYPE);
	crypt_free(cd);
	res = json_object_new_object();
	if (a.path == SKR_RELEASE_PATH_BARE_SNP) {
		json_object_object_add(res, "vm", vm_mode_snp());
		json_object_object_add(res, "gate", snp_gate());
	} else if (a.tcti || access("/dev/tpmrm0", F_OK) == 0) {
		json_object_object_add(res, "vm", vm_mode(a.tcti, a.path == SKR_RELEASE_PATH_SVSM));
	}
	if (a.have_cfg)
		skr_client_config_free(&a.cfg);
	json_object_object_add(res, "tokens", tokens);
	json_object_object_add(res, "pending", json_object_new_int((int)pending));
	if (!a.json) {
		json_object *vm;

		if (json_object_object_get_ex(res, "vm", &vm))
			print_vm(vm);
		if (json_object_object_get_ex(res, "gate", &vm))
			print_gate(vm);
		print_status(res);
		json_object_put(res);
		res = NULL;
	}
	return cli_finish(&err, res, a.json);
}
