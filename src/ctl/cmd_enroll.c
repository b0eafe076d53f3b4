/* SPDX-License-Identifier: Apache-2.0 */
/* skrctl enroll / unenroll / status: LUKS2 devices and their skr tokens. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <libcryptsetup.h>
#include <openssl/crypto.h>

#include "predict/binding.h"
#include "ctl/cli.h"
#include "vm/client_config.h"
#include "luks/enroll.h"
#include "verify/eventlog.h"
#include "vm/https.h"
#include "vm/release_client.h"
#include "luks/token.h"
#include "common/util.h"

#define DEFAULT_EVENTLOG CLI_DEFAULT_EVENTLOG
#define KEPT_NOTE                                                                           \
	"skrctl: left %u key(s) at the broker: %s does not list them as enrolled from this "   \
	"machine, and the LUKS2 header alone does not choose which key the admin token deletes; " \
	"delete them with the admin API if they are yours\n"

static json_object *mask_json(uint32_t mask)
{
	json_object *a = json_object_new_array();
	int i;

	for (i = 0; i < 24; i++)
		if (mask & (1u << i))
			json_object_array_add(a, json_object_new_int(i));
	return a;
}

/* The registry of keys enrolled from this machine: keys/ beside the client configuration. */
static void registry_dir(const char *config, char *out, size_t n)
{
	const char *path = skr_client_config_path(config), *slash = strrchr(path, '/');

	snprintf(out, n, "%.*s/keys", slash ? (int)(slash - path) : 1, slash ? path : ".");
}

/* ---- enroll ------------------------------------------------------------- */

/* Same set of URLs, in any order. */
static bool same_urls(const char *const *a, size_t na, char *const *b, size_t nb)
{
	size_t i, j;

	if (na != nb)
		return false;
	for (i = 0; i < na; i++) {
		for (j = 0; j < nb && strcmp(a[i], b[j]); j++)
			;
		if (j == nb)
			return false;
	}
	return true;
}

static bool same_file(const char *a, const char *b)
{
	_cleanup_buf_ struct skr_buf x = { 0 }, y = { 0 };
	struct skr_err err = { 0 };

	return skr_read_file(a, 1u << 20, &x, &err) == 0 && skr_read_file(b, 1u << 20, &y, &err) == 0 &&
	       x.len == y.len && memcmp(x.data, y.data, x.len) == 0;
}

/*
 * The brokers and CA of an enrollment.  With a configuration: its values; a
 * --broker or --ca that differs is refused (the configuration decides what
 * every boot trusts: it is edited deliberately, not by a command line).
 * Without one: --broker and --ca are required, and *write_config is set.
 */
static int enroll_endpoints(struct skr_enroll_opts *o, const char *config, struct skr_client_config *cfg,
			    bool *have_cfg, bool *write_config, struct skr_err *err)
{
	const char *path = skr_client_config_path(config);
	const struct skr_client_endpoints *ep;
	size_t i;

	*have_cfg = *write_config = false;
	if (access(path, F_OK) != 0) {
		if (!o->n_brokers || !o->admin.ca_file)
			return skr_fail(err, SKR_R_usage,
					"no client configuration %s: give --broker and --ca (enroll writes it)",
					path);
		*write_config = true;
		return 0;
	}
	if (skr_client_config_load(path, cfg, err) < 0)
		return -1;
	*have_cfg = true;
	ep = skr_client_config_for_key(cfg, o->key_id ? o->key_id : "");
	if (o->n_brokers && !same_urls(o->brokers, o->n_brokers, ep->brokers, ep->n_brokers))
		return skr_fail(err, SKR_R_usage,
				"--broker differs from the brokers of %s (%s%s): edit the configuration "
				"deliberately, or leave --broker out", path, ep->brokers[0],
				ep->n_brokers > 1 ? ", ..." : "");
	if (o->admin.ca_file && !same_file(o->admin.ca_file, ep->ca_file))
		return skr_fail(err, SKR_R_usage,
				"--ca %s differs from the CA of %s (%s): edit the configuration "
				"deliberately, or leave --ca out", o->admin.ca_file, path, ep->ca_file);
	for (i = 0; i < ep->n_brokers; i++)
		o->brokers[i] = ep->brokers[i];
	o->n_brokers = ep->n_brokers;
	o->admin.ca_file = ep->ca_file;
	for (i = 0; !o->admin.n_urls && i < cfg->n_admin; i++)
		o->admin.urls[i] = cfg->admin[i];
	if (!o->admin.n_urls)
		o->admin.n_urls = cfg->n_admin;
	if (!o->tcti)
		o->tcti = cfg->tcti;
	return 0;
}

/* A CA copy beside the configuration; an existing file must hold the same certificate. */
static int copy_ca(const char *from, const char *to, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf pem = { 0 };
	FILE *f;
	int fd;

	if (access(to, F_OK) == 0)
		return same_file(from, to) ? 0
					   : skr_fail(err, SKR_R_usage, "%s exists and differs from --ca %s",
						      to, from);
	if (skr_read_file(from, 1u << 20, &pem, err) < 0)
		return -1;
	if (!strstr((const char *)pem.data, "-----BEGIN CERTIFICATE-----"))
		return skr_fail(err, SKR_R_malformed, "--ca %s is not a PEM certificate", from);
	fd = open(to, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		if (fd >= 0)
			close(fd);
		return skr_fail(err, SKR_R_io, "cannot create %s: %s", to, strerror(errno));
	}
	if (fchmod(fd, 0644) < 0 || fwrite(pem.data, 1, pem.len, f) != pem.len || fflush(f) != 0 ||
	    fsync(fd) < 0) {
		fclose(f);
		unlink(to);
		return skr_fail(err, SKR_R_io, "cannot write %s", to);
	}
	return fclose(f) == 0 ? 0 : skr_fail(err, SKR_R_io, "cannot write %s", to);
}

/* The first enrollment's configuration: the brokers, the CA copied beside it, the TCTI. */
static int write_client_config(const struct skr_enroll_opts *o, size_t n_admin_cli,
			       const char *config, struct skr_err *err)
{
	const char *path = skr_client_config_path(config), *slash = strrchr(path, '/');
	char ca[4200];
	int rc;

	snprintf(ca, sizeof(ca), "%.*s/broker-ca.pem", slash ? (int)(slash - path) : 1,
		 slash ? path : ".");
	if (o->tcti && skr_client_tcti_check(o->tcti, "--tcti", err) < 0)
		return -1;
	if (copy_ca(o->admin.ca_file, ca, err) < 0)
		return -1;
	rc = skr_client_config_write(path, o->brokers, o->n_brokers, ca, o->tcti,
				     o->admin.urls, n_admin_cli, err);
	if (rc == 0)
		fprintf(stderr, "skrctl: wrote %s (brokers, CA %s%s): rebuild the initramfs "
				"(update-initramfs -u, or dracut -f) so that the boot uses it\n",
			path, ca, o->tcti ? ", TCTI" : "");
	return rc;
}

int cmd_enroll(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "broker", required_argument, NULL, 'b' },  { "admin", required_argument, NULL, 'a' },
		{ "ca", required_argument, NULL, 'c' },      { "admin-token", required_argument, NULL, 'A' },
		{ "pcrs", required_argument, NULL, 'p' },    { "policy", required_argument, NULL, 'P' },
		{ "key-id", required_argument, NULL, 'k' },  { "recovery-key", no_argument, NULL, 'r' },
		{ "key-file", required_argument, NULL, 'f' }, { "tcti", required_argument, NULL, 't' },
		{ "timeout", required_argument, NULL, 'T' }, { "no-verify", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },          { "eventlog", required_argument, NULL, 'E' },
		{ "weak-binding", no_argument, NULL, 'W' },  { "config", required_argument, NULL, 'C' },
		{ 0 }
	};
	struct skr_client_config cfg;
	bool have_cfg = false, write_cfg = false;
	const char *config = NULL;
	size_t n_admin_cli;
	char registry[4200];
	unsigned kept = 0;
	struct skr_enroll_opts o = { 0 };
	struct skr_enroll_result r = { 0 };
	_cleanup_secret_ char *pass = NULL, *admin = NULL;
	_cleanup_buf_ struct skr_buf policy = { 0 };
	struct skr_err err = { 0 };
	const char *key_file = NULL, *admin_file = NULL, *policy_file = NULL;
	json_object *res = NULL;
	bool json = false;
	char pcrs[64];
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (o.n_brokers == SKR_RELEASE_MAX_BROKERS)
				return cli_usage(ENROLL_USAGE);
			o.brokers[o.n_brokers++] = optarg;
			break;
		case 'a':
			if (o.admin.n_urls == SKR_RELEASE_MAX_BROKERS)
				return cli_usage(ENROLL_USAGE);
			o.admin.urls[o.admin.n_urls++] = optarg;
			break;
		case 'c': o.admin.ca_file = optarg; break;
		case 'A': admin_file = optarg; break;
		case 'p':
			/* An empty list is a binding, refused as too weak (not a usage slip). */
			o.pcrs_given = true;
			if (optarg[strspn(optarg, ", ")] != '\0' &&
			    cli_parse_pcr_list(optarg, &o.pcr_mask) < 0)
				return cli_usage(ENROLL_USAGE);
			break;
		case 'P': policy_file = optarg; break;
		case 'E': o.eventlog = optarg; break;
		case 'W': o.weak_binding = true; break;
		case 'k': o.key_id = optarg; break;
		case 'r': o.recovery_key = true; break;
		case 'f': key_file = optarg; break;
		case 't': o.tcti = optarg; break;
		case 'T': {
			long t = atol(optarg);

			if (t < 1 || t > 3600)
				return cli_usage(ENROLL_USAGE);
			o.timeout = (unsigned)t;
			break;
		}
		case 'n': o.no_verify = true; break;
		case 'j': json = true; break;
		case 'C': config = optarg; break;
		default: return cli_usage(ENROLL_USAGE);
		}
	}
	if (optind + 1 != argc || !admin_file)
		return cli_usage(ENROLL_USAGE);
	o.device = argv[optind];

	n_admin_cli = o.admin.n_urls;
	registry_dir(config, registry, sizeof(registry));
	o.admin.registry = registry;
	o.admin.kept = &kept;
	enroll_endpoints(&o, config, &cfg, &have_cfg, &write_cfg, &err);
	/* Without --admin or a configured one, the admin API is asked at the brokers' URLs. */
	for (size_t i = 0; !o.admin.n_urls && i < o.n_brokers; i++)
		o.admin.urls[i] = o.brokers[i];
	if (!o.admin.n_urls)
		o.admin.n_urls = o.n_brokers;
	if (err.reason == SKR_R_ok && policy_file && skr_read_file(policy_file, 1u << 20, &policy, &err) == 0)
		o.policy_json = (const char *)policy.data;
	if (err.reason == SKR_R_ok && read_admin_token(admin_file, &admin, &err) == 0)
		o.admin.token = admin;
	if (err.reason == SKR_R_ok)
		(void)(key_file ? read_key_file(key_file, &pass, &err)
				: prompt_passphrase(o.device, &pass, &err));
	if (err.reason == SKR_R_ok) {
		o.passphrase = pass;
		o.passphrase_len = skr_secret_size(pass);
		skr_enroll(&o, &r, &err);
	}
	if (err.reason == SKR_R_ok && write_cfg)
		write_client_config(&o, n_admin_cli, config, &err);
	skr_secret_free(pass);
	skr_secret_free(admin);
	pass = admin = NULL;

	/* The weaker binding is said on every outcome: the operator chose it. */
	if (r.warning[0])
		fprintf(stderr, "skrctl: warning: %s\n", r.warning);
	else if (r.note[0])
		fprintf(stderr, "skrctl: note: %s\n", r.note);
	if (json) {
		res = json_object_new_object();
		json_object_object_add(res, "repaired", json_object_new_int((int)r.repaired));
		if (err.reason == SKR_R_ok) {
			json_object_object_add(res, "pcrs", mask_json(r.pcr_mask));
			json_object_object_add(res, "chain", json_object_new_string(r.chain));
			if (r.warning[0])
				json_object_object_add(res, "warning", json_object_new_string(r.warning));
			json_object_object_add(res, "key_id", json_object_new_string(r.key_id));
			json_object_object_add(res, "token", json_object_new_int(r.token));
			json_object_object_add(res, "keyslot", json_object_new_int(r.keyslot));
			if (r.recovery) {
				json_object_object_add(res, "recovery_keyslot",
						       json_object_new_int(r.recovery_slot));
				json_object_object_add(res, "recovery_key",
						       json_object_new_string(r.recovery));
			}
		}
	} else if (err.reason == SKR_R_ok) {
		if (r.repaired)
			fprintf(stderr, "skrctl: repaired %u interrupted enrollment(s)\n", r.repaired);
		if (kept)
			fprintf(stderr, KEPT_NOTE, kept, registry);
		fprintf(stderr, "skrctl: enrolled %s: token %d, keyslot %d, key %s\n", o.device,
			r.token, r.keyslot, r.key_id);
		skr_binding_mask_text(r.pcr_mask, pcrs, sizeof(pcrs));
		fprintf(stderr, "skrctl: bound PCRs %s (boot chain %s)\n", pcrs, r.chain);
		if (r.recovery) {
			fprintf(stderr, "skrctl: recovery key in keyslot %d; it is shown once, write it down:\n",
				r.recovery_slot);
			printf("%s\n", r.recovery);
			fflush(stdout);
		}
	}
	skr_enroll_result_free(&r);
	if (have_cfg)
		skr_client_config_free(&cfg);
	return cli_finish(&err, res, json);
}

/* ---- unenroll ----------------------------------------------------------- */

int cmd_unenroll(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "token", required_argument, NULL, 'n' },   { "admin-token", required_argument, NULL, 'A' },
		{ "ca", required_argument, NULL, 'c' },      { "admin", required_argument, NULL, 'a' },
		{ "reconcile", no_argument, NULL, 'R' },     { "json", no_argument, NULL, 'j' },
		{ "config", required_argument, NULL, 'C' },  { 0 }
	};
	struct skr_client_config cfg;
	const char *config = NULL;
	bool have_cfg = false;
	char registry[4200];
	unsigned kept = 0;
	struct skr_admin a = { .kept = &kept };
	_cleanup_secret_ char *admin = NULL;
	struct skr_err err = { 0 };
	const char *admin_file = NULL, *device;
	bool json = false, reconcile = false;
	unsigned repaired = 0, removed = 0;
	json_object *res = NULL;
	int token = -1, c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n': {
			char *end;
			long t = strtol(optarg, &end, 10);

			if (*end || t < 0 || t > 31)
				return cli_usage(UNENROLL_USAGE);
			token = (int)t;
			break;
		}
		case 'A': admin_file = optarg; break;
		case 'c': a.ca_file = optarg; break;
		case 'a':
			if (a.n_urls == SKR_RELEASE_MAX_BROKERS)
				return cli_usage(UNENROLL_USAGE);
			a.urls[a.n_urls++] = optarg;
			break;
		case 'R': reconcile = true; break;
		case 'j': json = true; break;
		case 'C': config = optarg; break;
		default: return cli_usage(UNENROLL_USAGE);
		}
	}
	if (optind + 1 != argc)
		return cli_usage(UNENROLL_USAGE);
	device = argv[optind];
	registry_dir(config, registry, sizeof(registry));
	a.registry = registry;
	/* Broker keys go at --admin, else the configuration's admin (or broker) URLs, with its CA. */
	if (admin_file && (!a.n_urls || !a.ca_file)) {
		have_cfg = skr_client_config_load(skr_client_config_path(config), &cfg, &err) == 0;
		for (size_t i = 0; have_cfg && !a.n_urls && i < (cfg.n_admin ? cfg.n_admin : cfg.ep.n_brokers); i++)
			a.urls[i] = cfg.n_admin ? cfg.admin[i] : cfg.ep.brokers[i];
		if (have_cfg && !a.n_urls)
			a.n_urls = cfg.n_admin ? cfg.n_admin : cfg.ep.n_brokers;
		if (have_cfg && !a.ca_file)
			a.ca_file = cfg.ep.ca_file;
	}
	if (err.reason == SKR_R_ok && admin_file && read_admin_token(admin_file, &admin, &err) == 0)
		a.token = admin;
	/* Interrupted enrollments first, always; --reconcile does only that. */
	if (err.reason == SKR_R_ok && skr_enroll_reconcile(device, &a, &repaired, &err) == 0 &&
	    !reconcile)
		skr_unenroll(device, token, &a, &removed, &err);
	skr_secret_free(admin);
	admin = NULL;
	a.token = NULL;
	if (json) {
		res = json_object_new_object();
		json_object_object_add(res, "repaired", json_object_new_int((int)repaired));
		json_object_object_add(res, "removed", json_object_new_int((int)removed));
		json_object_object_add(res, "kept_broker_keys", json_object_new_int((int)kept));
	} else if (err.reason == SKR_R_ok) {
		if (repaired || reconcile)
			fprintf(stderr, "skrctl: repaired %u interrupted enrollment(s)\n", repaired);
		if (!reconcile)
			fprintf(stderr, "skrctl: removed %u skr token(s)%s\n", removed,
				a.token ? " and their broker keys"
					: "; their broker keys remain (no --admin-token)");
		if (kept)
			fprintf(stderr, KEPT_NOTE, kept, registry);
	}
	if (have_cfg)
		skr_client_config_free(&cfg);
	return cli_finish(&err, res, json);
}

/* ---- status ------------------------------------------------------------- */

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
	_cleanup_buf_ struct skr_buf raw = { 0 };
	_cleanup_(skr_eventlog_freep) struct skr_eventlog *log = NULL;
	struct skr_pcr_banks *banks = calloc(1, sizeof(*banks));
	json_object *out = NULL;
	struct skr_err err = { 0 };
	const char *p = detail;
	regmatch_t m[3];
	regex_t re;

	if (!banks || !log_path || skr_read_file(log_path, SKR_EVENTLOG_MAX_SIZE, &raw, &err) < 0 ||
	    skr_eventlog_parse(raw.data, raw.len, &log, &err) < 0 ||
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

static void print_status(json_object *res)
{
	json_object *tokens, *v;
	size_t i, j;

	json_object_object_get_ex(res, "tokens", &tokens);
	if (json_object_object_get_ex(res, "pending", &v) && json_object_get_int(v))
		printf("%d interrupted enrollment(s): run skrctl unenroll --reconcile\n",
		       json_object_get_int(v));
	if (!json_object_array_length(tokens))
		printf("no skr token\n");
	for (i = 0; i < json_object_array_length(tokens); i++) {
		json_object *t = json_object_array_get_idx(tokens, i), *b, *r, *f;

		json_object_object_get_ex(t, "token", &v);
		printf("token %d:", json_object_get_int(v));
		if (json_object_object_get_ex(t, "invalid", &v)) {
			printf(" invalid: %s\n", json_object_get_string(v));
			continue;
		}
		json_object_object_get_ex(t, "key_id", &v);
		printf(" key %s", json_object_get_string(v));
		json_object_object_get_ex(t, "keyslots", &v);
		printf(", keyslots %s", json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
		json_object_object_get_ex(t, "pcrs", &v);
		printf(", pcrs %s\n", json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
		if (json_object_object_get_ex(t, "notice", &v))
			printf("  notice: %s\n", json_object_get_string(v));
		if (json_object_object_get_ex(t, "config_error", &v)) {
			printf("  no broker asked: %s\n", json_object_get_string(v));
			continue;
		}
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
		if (!json_object_object_get_ex(t, "release", &r))
			continue;
		json_object_object_get_ex(r, "would_be_released", &v);
		if (json_object_get_boolean(v)) {
			printf("  this boot would be released (approved set %s)\n",
			       json_object_object_get_ex(r, "set", &v) ? json_object_get_string(v) : "?");
			continue;
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
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tcti", required_argument, NULL, 't' }, { "timeout", required_argument, NULL, 'T' },
		{ "json", no_argument, NULL, 'j' },       { "eventlog", required_argument, NULL, 'e' },
		{ "config", required_argument, NULL, 'C' }, { 0 }
	};
	struct skr_client_config cfg;
	struct skr_err cerr = { 0 };
	bool cfg_tried = false, have_cfg = false;
	const char *config = NULL;
	struct crypt_device *cd = NULL;
	struct skr_err err = { 0 };
	const char *tcti = NULL;
	const char *log_path = access(DEFAULT_EVENTLOG, R_OK) == 0 ? DEFAULT_EVENTLOG : NULL;
	unsigned timeout = 10;
	bool json = false;
	json_object *res, *tokens;
	int c, t, rc, pending = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 't': tcti = optarg; break;
		case 'T': timeout = (unsigned)atoi(optarg); break;
		case 'j': json = true; break;
		case 'e': log_path = optarg; break;
		case 'C': config = optarg; break;
		default: return cli_usage(STATUS_USAGE);
		}
	}
	if (optind + 1 != argc || timeout < 1)
		return cli_usage(STATUS_USAGE);
	if ((rc = crypt_init(&cd, argv[optind])) < 0 || (rc = crypt_load(cd, CRYPT_LUKS2, NULL)) < 0) {
		crypt_free(cd);
		skr_fail(&err, SKR_R_luks_error, "%s is not a readable LUKS2 device: %s", argv[optind],
			 strerror(-rc));
		return cli_finish(&err, NULL, json);
	}
	res = json_object_new_object();
	tokens = json_object_new_array();
	for (t = 0; t < crypt_token_max(CRYPT_LUKS2); t++) {
		const char *type = NULL, *text = NULL;
		crypt_token_info st = crypt_token_status(cd, t, &type);
		struct skr_token tok;
		struct skr_err perr = { 0 };
		const struct skr_client_endpoints *ep;
		json_object *o, *slots, *brokers;
		size_t i;

		if ((st != CRYPT_TOKEN_EXTERNAL && st != CRYPT_TOKEN_EXTERNAL_UNKNOWN) || !type)
			continue;
		if (!strcmp(type, SKR_PENDING_TOKEN_TYPE)) {
			pending++;
			continue;
		}
		if (strcmp(type, SKR_TOKEN_TYPE) != 0 || crypt_token_json_get(cd, t, &text) < 0)
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "token", json_object_new_int(t));
		if (skr_token_parse(text, &tok, &perr) < 0) {
			json_object_object_add(o, "invalid", json_object_new_string(perr.detail));
			json_object_array_add(tokens, o);
			skr_fail(&err, perr.reason, "token %d: %s", t, perr.detail);
			continue;
		}
		json_object_object_add(o, "key_id", json_object_new_string(tok.key_id));
		if (tok.v1_ignored)
			json_object_object_add(o, "notice", json_object_new_string(SKR_TOKEN_V1_NOTICE));
		slots = json_object_new_array();
		for (i = 0; i < tok.n_keyslots; i++)
			json_object_array_add(slots, json_object_new_int(tok.keyslots[i]));
		json_object_object_add(o, "keyslots", slots);
		json_object_object_add(o, "pcrs", mask_json(tok.pcr_mask));
		json_object_object_add(o, "timeout", json_object_new_int((int)tok.timeout));
		/* Where to ask and whom to trust: the configuration (at the first skr token), never the header. */
		if (!cfg_tried) {
			cfg_tried = true;
			have_cfg = skr_client_config_load(skr_client_config_path(config), &cfg, &cerr) == 0;
			if (have_cfg && !tcti)
				tcti = cfg.tcti;
		}
		if (!have_cfg) {
			json_object_object_add(o, "config_error", json_object_new_string(cerr.detail));
			json_object_array_add(tokens, o);
			skr_token_free(&tok);
			if (err.reason == SKR_R_ok)
				err = cerr;
			continue;
		}
		ep = skr_client_config_for_key(&cfg, tok.key_id);
		brokers = json_object_new_array();
		for (i = 0; i < ep->n_brokers; i++)
			json_object_array_add(brokers, broker_status(&tok, ep->ca_file, ep->brokers[i], &err));
		json_object_object_add(o, "brokers", brokers);
		/* The dry run needs a TPM: --tcti, the configuration's, or the kernel's resource manager. */
		if (tcti || access("/dev/tpmrm0", F_OK) == 0)
			json_object_object_add(o, "release",
					       release_status(&tok, &cfg, tcti, timeout, log_path, &err));
		json_object_array_add(tokens, o);
		skr_token_free(&tok);
	}
	crypt_free(cd);
	if (have_cfg)
		skr_client_config_free(&cfg);
	json_object_object_add(res, "tokens", tokens);
	json_object_object_add(res, "pending", json_object_new_int(pending));
	if (!json) {
		print_status(res);
		json_object_put(res);
		res = NULL;
	}
	return cli_finish(&err, res, json);
}
