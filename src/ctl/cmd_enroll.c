/* SPDX-License-Identifier: Apache-2.0 */
/* skrctl enroll / unenroll: skr tokens on LUKS2 devices (status: cmd_status.c). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "predict/binding.h"
#include "ctl/cli.h"
#include "vm/client_config.h"
#include "luks/enroll.h"
#include "vm/release_client.h"
#include "common/util.h"

#define DEFAULT_EVENTLOG CLI_DEFAULT_EVENTLOG
#define KEPT_NOTE                                                                           \
	"skrctl: left %u key(s) at the broker: %s does not list them as enrolled from this "   \
	"machine, and the LUKS2 header alone does not choose which key the admin token deletes; " \
	"delete them with the admin API if they are yours\n"

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
			       const char *config, bool disk_tag_gate, struct skr_err *err)
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
				     o->admin.urls, n_admin_cli, disk_tag_gate, err);
	if (rc == 0)
		fprintf(stderr, "skrctl: wrote %s (brokers, CA %s%s%s): rebuild the initramfs "
				"(update-initramfs -u, or dracut -f) so that the boot uses it\n",
			path, ca, o->tcti ? ", TCTI" : "", disk_tag_gate ? ", gate disk-tag" : "");
	return rc;
}

/* enroll --json: what was done (the recovery key too: it is shown once). */
static json_object *enroll_json(const struct skr_enroll_result *r, bool ok)
{
	json_object *res = json_object_new_object();

	json_object_object_add(res, "repaired", json_object_new_int((int)r->repaired));
	/* The tag is what to put on the kernel command line: given on a refusal too. */
	if (r->disk_tag[0])
		json_object_object_add(res, "disk_tag", json_object_new_string(r->disk_tag));
	if (r->snp)
		json_object_object_add(res, "tee", json_object_new_string("snp"));
	if (!ok)
		return res;
	json_object_object_add(res, "pcrs", cli_pcr_mask_json(r->pcr_mask));
	json_object_object_add(res, "chain", json_object_new_string(r->chain));
	if (r->warning[0])
		json_object_object_add(res, "warning", json_object_new_string(r->warning));
	json_object_object_add(res, "key_id", json_object_new_string(r->key_id));
	json_object_object_add(res, "token", json_object_new_int(r->token));
	json_object_object_add(res, "keyslot", json_object_new_int(r->keyslot));
	if (r->recovery) {
		json_object_object_add(res, "recovery_keyslot", json_object_new_int(r->recovery_slot));
		json_object_object_add(res, "recovery_key", json_object_new_string(r->recovery));
	}
	return res;
}

/* The same as text: on stderr, but the recovery key alone on stdout. */
static void print_enrolled(const char *device, const struct skr_enroll_result *r, unsigned kept,
			   const char *registry)
{
	char pcrs[64];

	if (r->repaired)
		fprintf(stderr, "skrctl: repaired %u interrupted enrollment(s)\n", r->repaired);
	if (kept)
		fprintf(stderr, KEPT_NOTE, kept, registry);
	fprintf(stderr, "skrctl: enrolled %s: token %d, keyslot %d, key %s\n", device, r->token,
		r->keyslot, r->key_id);
	if (r->snp) {
		fprintf(stderr, "skrctl: bare SEV-SNP (tee snp, no PCRs): bound to this VM's launch "
				"measurement\n");
		fprintf(stderr, "skrctl: disk tag %s (rd.skr.disk= on the measured kernel command "
				"line)\n", r->disk_tag);
	} else {
		skr_binding_mask_text(r->pcr_mask, pcrs, sizeof(pcrs));
		fprintf(stderr, "skrctl: bound PCRs %s (boot chain %s)\n", pcrs, r->chain);
	}
	if (r->recovery) {
		fprintf(stderr, "skrctl: recovery key in keyslot %d; it is shown once, write it down:\n",
			r->recovery_slot);
		printf("%s\n", r->recovery);
		fflush(stdout);
	}
}

/* What enroll's command line gives beyond skr_enroll_opts. */
struct enroll_args {
	struct skr_enroll_opts o;
	const char *key_file, *admin_file, *policy_file, *config;
	bool json;
};

/* 0, or -1 for a usage error. */
static int enroll_option(int c, struct enroll_args *a)
{
	struct skr_enroll_opts *o = &a->o;

	switch (c) {
	case 'b':
		if (o->n_brokers == SKR_RELEASE_MAX_BROKERS)
			return -1;
		o->brokers[o->n_brokers++] = optarg;
		return 0;
	case 'a':
		if (o->admin.n_urls == SKR_RELEASE_MAX_BROKERS)
			return -1;
		o->admin.urls[o->admin.n_urls++] = optarg;
		return 0;
	case 'p':
		/* An empty list is a binding, refused as too weak (not a usage slip). */
		o->pcrs_given = true;
		return optarg[strspn(optarg, ", ")] != '\0' ? cli_parse_pcr_list(optarg, &o->pcr_mask)
							     : 0;
	case 'T': {
		long t = atol(optarg);

		if (t < 1 || t > 3600)
			return -1;
		o->timeout = (unsigned)t;
		return 0;
	}
	case 'c': o->admin.ca_file = optarg; return 0;
	case 'A': a->admin_file = optarg; return 0;
	case 'P': a->policy_file = optarg; return 0;
	case 'E': o->eventlog = optarg; return 0;
	case 'W': o->weak_binding = true; return 0;
	case 'k': o->key_id = optarg; return 0;
	case 'r': o->recovery_key = true; return 0;
	case 'f': a->key_file = optarg; return 0;
	case 't': o->tcti = optarg; return 0;
	case 'n': o->no_verify = true; return 0;
	case 'j': a->json = true; return 0;
	case 'C': a->config = optarg; return 0;
	default: return -1;
	}
}

static int enroll_parse(int argc, char **argv, struct enroll_args *a)
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
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
		if (enroll_option(c, a) < 0)
			return -1;
	if (optind + 1 != argc || !a->admin_file)
		return -1;
	a->o.device = argv[optind];
	return 0;
}

/* The policy file, the admin token and the passphrase, then the enrollment. */
/*
 * Bare SEV-SNP: an existing configuration must say "gate": "disk-tag", so
 * that the initramfs keeps the disk-tag gate even on a boot that does not
 * detect SNP (client_config.h); a new one is written with it.  Refused
 * before anything is written, unless --weak-binding.
 */
static int config_gate_check(const struct skr_enroll_opts *o, const struct skr_client_config *cfg,
			     struct skr_err *err)
{
	if (!cfg || cfg->disk_tag_gate || skr_release_path(o->tcti) != SKR_RELEASE_PATH_BARE_SNP)
		return 0;
	if (o->weak_binding) {
		fprintf(stderr, "skrctl: warning: %s lacks \"gate\": \"disk-tag\": a boot that does "
				"not detect SNP would keep the PCR 15 rules, with no TPM to keep them\n",
			cfg->path);
		return 0;
	}
	return skr_fail(err, SKR_R_binding_too_weak,
			"this VM is bare SEV-SNP, but %s lacks \"gate\": \"disk-tag\": add it (and "
			"rebuild the initramfs), so that a boot that does not detect SNP still keeps "
			"the disk-tag gate",
			cfg->path);
}

static int enroll_run(struct enroll_args *a, struct skr_enroll_result *r, struct skr_err *err)
{
	struct skr_enroll_opts *o = &a->o;
	_cleanup_secret_ char *pass = NULL, *admin = NULL;
	_cleanup_buf_ struct skr_buf policy = { 0 };
	int rc;

	if (a->policy_file) {
		if (skr_read_file(a->policy_file, 1u << 20, &policy, err) < 0)
			return -1;
		o->policy_json = (const char *)policy.data;
	}
	if (read_admin_token(a->admin_file, &admin, err) < 0 ||
	    (a->key_file ? read_key_file(a->key_file, &pass, err)
			 : prompt_passphrase(o->device, &pass, err)) < 0)
		return -1;
	o->admin.token = admin;
	o->passphrase = pass;
	o->passphrase_len = skr_secret_size(pass);
	rc = skr_enroll(o, r, err);
	/* Both are wiped and freed on return. */
	o->admin.token = NULL;
	o->passphrase = NULL;
	return rc;
}

int cmd_enroll(int argc, char **argv)
{
	struct enroll_args a = { 0 };
	struct skr_enroll_opts *o = &a.o;
	struct skr_client_config cfg;
	bool have_cfg = false, write_cfg = false;
	size_t n_admin_cli;
	char registry[4200];
	unsigned kept = 0;
	struct skr_enroll_result r = { 0 };
	struct skr_err err = { 0 };
	json_object *res = NULL;

	if (enroll_parse(argc, argv, &a) < 0)
		return cli_usage(ENROLL_USAGE);
	n_admin_cli = o->admin.n_urls;
	registry_dir(a.config, registry, sizeof(registry));
	o->admin.registry = registry;
	o->admin.kept = &kept;
	/* Without --admin or a configured one, the admin API is asked at the brokers' URLs. */
	if (enroll_endpoints(o, a.config, &cfg, &have_cfg, &write_cfg, &err) == 0) {
		for (size_t i = 0; !o->admin.n_urls && i < o->n_brokers; i++)
			o->admin.urls[i] = o->brokers[i];
		if (!o->admin.n_urls)
			o->admin.n_urls = o->n_brokers;
		if (config_gate_check(o, have_cfg ? &cfg : NULL, &err) == 0 &&
		    enroll_run(&a, &r, &err) == 0 && write_cfg)
			write_client_config(o, n_admin_cli, a.config, r.snp, &err);
	}

	/* The weaker binding is said on every outcome: the operator chose it. */
	if (r.warning[0])
		fprintf(stderr, "skrctl: warning: %s\n", r.warning);
	else if (r.note[0])
		fprintf(stderr, "skrctl: note: %s\n", r.note);
	if (a.json)
		res = enroll_json(&r, err.reason == SKR_R_ok);
	else if (err.reason == SKR_R_ok)
		print_enrolled(o->device, &r, kept, registry);
	skr_enroll_result_free(&r);
	if (have_cfg)
		skr_client_config_free(&cfg);
	return cli_finish(&err, res, a.json);
}

/* ---- unenroll ----------------------------------------------------------- */

/*
 * Broker keys go at --admin, else the configuration's admin (or broker) URLs,
 * with its CA: *have_cfg says cfg was loaded.
 */
static int unenroll_endpoints(struct skr_admin *a, const char *config,
			      struct skr_client_config *cfg, bool *have_cfg, struct skr_err *err)
{
	size_t i, n;

	*have_cfg = false;
	if (a->n_urls && a->ca_file)
		return 0;
	if (skr_client_config_load(skr_client_config_path(config), cfg, err) < 0)
		return -1;
	*have_cfg = true;
	n = cfg->n_admin ? cfg->n_admin : cfg->ep.n_brokers;
	for (i = 0; !a->n_urls && i < n; i++)
		a->urls[i] = cfg->n_admin ? cfg->admin[i] : cfg->ep.brokers[i];
	if (!a->n_urls)
		a->n_urls = n;
	if (!a->ca_file)
		a->ca_file = cfg->ep.ca_file;
	return 0;
}

static void print_unenrolled(bool reconcile, bool with_admin, unsigned repaired, unsigned removed,
			     unsigned kept, const char *registry)
{
	if (repaired || reconcile)
		fprintf(stderr, "skrctl: repaired %u interrupted enrollment(s)\n", repaired);
	if (!reconcile)
		fprintf(stderr, "skrctl: removed %u skr token(s)%s\n", removed,
			with_admin ? " and their broker keys"
				   : "; their broker keys remain (no --admin-token)");
	if (kept)
		fprintf(stderr, KEPT_NOTE, kept, registry);
}

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
	if (admin_file && unenroll_endpoints(&a, config, &cfg, &have_cfg, &err) == 0 &&
	    read_admin_token(admin_file, &admin, &err) == 0)
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
		print_unenrolled(reconcile, admin_file != NULL, repaired, removed, kept, registry);
	}
	if (have_cfg)
		skr_client_config_free(&cfg);
	return cli_finish(&err, res, json);
}
