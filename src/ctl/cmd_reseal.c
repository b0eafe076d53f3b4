/* SPDX-License-Identifier: Apache-2.0 */
/*
 * skrctl reseal: keep the broker's reference PCR sets in step with kernel and
 * initramfs updates (docs/DESIGN.md, section 7: the reseal state machine).
 *
 *   reseal [--kernel-version V | --kernel IMG] ...   predict the next boot's
 *          PCRs and submit them with fresh evidence (POST /v1/refvals)
 *   reseal --check ...      would the next boot be released?  (dry run)
 *   reseal --commit         after a boot: the set this boot matched becomes
 *                           current, older ones are retired
 *   reseal --withdraw V     drop the sets predicted for kernel V
 *
 * Devices are named on the command line, or --all takes every device of
 * /etc/crypttab (SKR_CRYPTTAB overrides) that has an skr token; every skr
 * token of a device is handled, each with its own broker and PCRs.
 *
 * Brokers, CA and TPM come from the client configuration (--config,
 * SKR_CONFIG or /etc/skr/client.json; --tcti overrides its TPM), never from
 * the token: this runs as root at every boot (skr-reseal-commit.service).
 *
 * Exit status: 0 the next boot unlocks (set pending, or already approved;
 * check accepted; committed; withdrawn), 1 refused, queued for an operator or
 * not accepted (the message says what to do; a queued submission's reason is
 * queued_reason's), 2 usage or unreadable input.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <libcryptsetup.h>

#include "ctl/cli.h"
#include "vm/client_config.h"
#include "verify/eventlog.h"
#include "luks/enroll.h"
#include "luks/local_copy.h"
#include "common/pcr_json.h"
#include "predict/predict.h"
#include "vm/release_client.h"
#include "luks/token.h"
#include "luks/token_iter.h"
#include "common/util.h"


#define DEFAULT_CRYPTTAB "/etc/crypttab"
#define BOOT_DIR "/boot"
#define MAX_DEVICES 32

enum reseal_op { OP_SUBMIT, OP_CHECK, OP_COMMIT, OP_WITHDRAW };

struct reseal_args {
	enum reseal_op op;
	const char *devices[MAX_DEVICES];
	size_t n_devices;
	bool all, json;
	bool bare_snp;			/* no vTPM: nothing to reseal (run_token says why) */
	const char *version;		/* --kernel-version or --withdraw */
	struct cli_predict_inputs in;	/* kernel, initrd, cmdline, eventlog, tcti */
	unsigned timeout;		/* seconds per broker call; 0: the token's */
	const char *config;		/* --config */
	struct lazy_config *cfg;	/* brokers, CA, TCTI: at the first skr token */
	char kernel_path[4096], initrd_path[4096];
	char *cmdline;			/* derived from /proc/cmdline (owned) */
};

/*
 * The client configuration, loaded at the first skr token: a machine whose
 * crypttab names no skr volume reseals nothing (the kernel hooks run this on
 * every kernel install) and needs none.
 */
struct lazy_config {
	const char *path;
	bool tried;
	struct skr_client_config c;
	struct skr_err err;
};

static int config_get(struct lazy_config *l, struct skr_err *err)
{
	if (!l->tried) {
		l->tried = true;
		skr_client_config_load(l->path, &l->c, &l->err);
	}
	if (l->err.reason == SKR_R_ok)
		return 0;
	*err = l->err;
	return -1;
}

/* ---- Arguments ------------------------------------------------------------ */

static int take_option(int opt, struct reseal_args *a)
{
	switch (opt) {
	case 'a': a->all = true; return 0;
	case 'V': a->version = optarg; return 0;
	case 'k': a->in.kernel = optarg; return 0;
	case 'i': a->in.initrd = optarg; return 0;
	case 'c': a->in.cmdline = optarg; return 0;
	case 'e': a->in.eventlog = optarg; return 0;
	case 't': a->in.tcti = optarg; return 0;
	case 'C': a->op = OP_CHECK; return 0;
	case 'M': a->op = OP_COMMIT; return 0;
	case 'W': a->op = OP_WITHDRAW; a->version = optarg; return 0;
	case 'j': a->json = true; return 0;
	case 'G': a->config = optarg; return 0;
	case 'T': {
		long t = atol(optarg);

		if (t < 1 || t > 3600)
			return cli_usage(RESEAL_USAGE);
		a->timeout = (unsigned)t;
		return 0;
	}
	default: return cli_usage(RESEAL_USAGE);
	}
}

/* A version is a file name part: no path separators, nothing odd. */
static bool version_ok(const char *v)
{
	size_t i, n = strlen(v);

	if (n == 0 || n > 48 || v[0] == '.')
		return false;
	for (i = 0; i < n; i++)
		if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') ||
		      (v[i] >= '0' && v[i] <= '9') || strchr(".+_~-", v[i])))
			return false;
	return true;
}

static int parse_args(int argc, char **argv, struct reseal_args *a)
{
	static const struct option options[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "kernel-version", required_argument, NULL, 'V' },
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "cmdline", required_argument, NULL, 'c' },
		{ "eventlog", required_argument, NULL, 'e' },
		{ "tcti", required_argument, NULL, 't' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "check", no_argument, NULL, 'C' },
		{ "commit", no_argument, NULL, 'M' },
		{ "withdraw", required_argument, NULL, 'W' },
		{ "json", no_argument, NULL, 'j' },
		{ "config", required_argument, NULL, 'G' },
		{ NULL, 0, NULL, 0 },
	};
	bool predicts;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1)
		if ((rc = take_option(opt, a)) != 0)
			return rc;
	for (; optind < argc; optind++) {
		if (a->n_devices == MAX_DEVICES)
			return cli_usage(RESEAL_USAGE);
		a->devices[a->n_devices++] = argv[optind];
	}
	predicts = a->op == OP_SUBMIT || a->op == OP_CHECK;
	if (!a->all == !a->n_devices) {
		fprintf(stderr, "skrctl reseal: name the devices or give --all, not both\n");
		return cli_usage(RESEAL_USAGE);
	}
	if (a->version && !version_ok(a->version)) {
		fprintf(stderr, "skrctl reseal: '%s' is not a kernel version\n", a->version);
		return cli_usage(RESEAL_USAGE);
	}
	if (predicts && !a->version == !a->in.kernel) {
		fprintf(stderr, "skrctl reseal: give --kernel-version or --kernel (one of them)\n");
		return cli_usage(RESEAL_USAGE);
	}
	if (!predicts && (a->in.kernel || a->in.initrd || a->in.cmdline || a->in.eventlog)) {
		fprintf(stderr, "skrctl reseal: --commit and --withdraw predict nothing: "
				"--kernel, --initrd, --cmdline and --eventlog do not apply\n");
		return cli_usage(RESEAL_USAGE);
	}
	return -1;
}

/* ---- What the next boot runs ---------------------------------------------- */

/* src with every occurrence of from replaced by to (caller frees). */
static char *replace_all(const char *src, const char *from, const char *to)
{
	size_t n = 0, lf = strlen(from), lt = strlen(to);
	const char *p;
	char *out, *o;

	for (p = src; (p = strstr(p, from)); p += lf)
		n++;
	out = malloc(strlen(src) + n * lt + 1);
	if (!out)
		return NULL;
	for (o = out, p = src; *p;) {
		if (!strncmp(p, from, lf)) {
			memcpy(o, to, lt);
			o += lt;
			p += lf;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	return out;
}

/*
 * The next boot's command line when only the kernel version changes: this
 * boot's, with the running release replaced by the new one (the kernel's and
 * initrd's paths name it).  Unchanged (NULL) when it does not name it.
 */
static int derive_cmdline(struct reseal_args *a, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf raw = { 0 };
	struct utsname u;
	size_t n;

	if (a->in.cmdline || !a->version || uname(&u) < 0 || !strcmp(u.release, a->version) ||
	    skr_read_file("/proc/cmdline", 1u << 16, &raw, err) < 0)
		return 0;
	n = raw.len;
	while (n && (raw.data[n - 1] == '\n' || raw.data[n - 1] == '\0'))
		n--;
	raw.data[n] = '\0';
	if (!strstr((const char *)raw.data, u.release))
		return 0;
	a->cmdline = replace_all((const char *)raw.data, u.release, a->version);
	if (!a->cmdline)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	a->in.cmdline = a->cmdline;
	return 0;
}

/* --kernel-version V: Debian's file names under /boot (SKR_BOOT_DIR overrides). */
static int resolve_inputs(struct reseal_args *a, struct skr_err *err)
{
	const char *boot = getenv("SKR_BOOT_DIR") ? getenv("SKR_BOOT_DIR") : BOOT_DIR;
	struct utsname u;

	if (a->version && !a->in.kernel) {
		snprintf(a->kernel_path, sizeof(a->kernel_path), "%s/vmlinuz-%s", boot, a->version);
		a->in.kernel = a->kernel_path;
		if (!a->in.initrd) {
			snprintf(a->initrd_path, sizeof(a->initrd_path), "%s/initrd.img-%s", boot,
				 a->version);
			if (access(a->initrd_path, R_OK) != 0)
				return skr_fail(err, SKR_R_usage,
						"%s does not exist (yet): the initramfs hook reseals once it is built",
						a->initrd_path);
			a->in.initrd = a->initrd_path;
		}
	}
	/* The running kernel, so that shim+GRUB logs can find its measurements. */
	if (uname(&u) == 0 && !a->in.current_kernel) {
		static char current[4096];

		snprintf(current, sizeof(current), "%s/vmlinuz-%s", boot, u.release);
		if (access(current, R_OK) == 0)
			a->in.current_kernel = current;
	}
	return derive_cmdline(a, err);
}

/* "kernel 6.1.0-56-cloud-amd64", or the image's file name. */
static void set_label(const struct reseal_args *a, char *label, size_t size)
{
	const char *name = a->version;

	if (!name && !a->in.kernel) {	/* --commit: no kernel named */
		label[0] = '\0';
		return;
	}
	if (!name) {
		name = strrchr(a->in.kernel, '/');
		name = name ? name + 1 : a->in.kernel;
	}
	snprintf(label, size, "kernel %.56s", name);
}

/* ---- One token ------------------------------------------------------------ */

struct token_job {
	const struct reseal_args *a;
	const char *device;
	struct crypt_device *cd;
	int token_id;
	struct skr_token *tok;
	json_object *report;		/* per-token result for --json */
	struct skr_pcr_banks *predicted;
	const char *tcti;		/* --tcti, else the configuration's */
};

/* The token back into the LUKS2 header, in place (libcryptsetup writes both header copies). */
static int write_token(const struct token_job *j, struct skr_err *err)
{
	_cleanup_free_ char *json = skr_token_to_json(j->tok);
	int r;

	if (!json)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	r = crypt_token_json_set(j->cd, j->token_id, json);
	if (r < 0)
		return skr_fail(err, SKR_R_luks_error, "%s: cannot write token %d: %s", j->device,
				j->token_id, strerror(-r));
	return 0;
}

/*
 * The local offline copy follows the broker's sets: a policy for the
 * predicted PCRs, or the counter raised on commit.  Independent of the
 * broker, so that a reseal while the broker is down still lets the next
 * boot unlock.
 */
static int local_step(struct token_job *j, struct skr_err *err)
{
	bool changed = true;
	int rc;

	if (!j->tok->local || (j->a->op != OP_SUBMIT && j->a->op != OP_COMMIT))
		return 0;
	rc = j->a->op == OP_SUBMIT ? skr_local_copy_add(j->tok, j->tcti, j->predicted, err)
				   : skr_local_copy_commit(j->tok, j->tcti, &changed, err);
	/* Fault points (test builds): the policy signed, or the counter raised, not yet in the header. */
	if (rc == 0)
		rc = skr_enroll_fault(j->a->op == OP_SUBMIT ? "reseal_after_local_sign"
				      : "commit_after_counter", err);
	if (rc == 0 && changed)
		rc = write_token(j, err);
	json_object_object_add(j->report, "local_copy",
			       json_object_new_string(rc == 0 ? "updated" : err->detail));
	if (rc == 0)
		fprintf(stderr, "skrctl: %s key %s: local copy %s\n", j->device, j->tok->key_id,
			j->a->op == OP_SUBMIT ? "accepts the predicted PCRs too"
			: changed ? "revoked the older policies" : "already current");
	return rc;
}

static int predict_for(struct token_job *j, json_object **pcrs, struct skr_err *err)
{
	_cleanup_eventlog_ struct skr_eventlog *log = NULL;
	_cleanup_free_ struct skr_predict_result *res = calloc(1, sizeof(*res));
	struct cli_predict_inputs in = j->a->in;

	if (!res)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	in.mask = j->tok->pcr_mask;
	in.tcti = j->tcti;
	if (cli_predict(&in, &log, res, err) < 0)
		return -1;
	j->predicted = malloc(sizeof(*j->predicted));
	if (!j->predicted)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	*j->predicted = res->predicted;
	*pcrs = skr_pcr_banks_to_json(&res->predicted);
	json_object_object_add(j->report, "changed_pcrs", json_object_new_int64(res->changed_mask));
	return 0;
}

static const char *const op_path[] = {
	[OP_SUBMIT] = "/v1/refvals", [OP_CHECK] = "/v1/refvals/check",
	[OP_COMMIT] = "/v1/refvals/commit", [OP_WITHDRAW] = "/v1/refvals/withdraw",
};

/* Members skr_answer_refvals checked (types, ranges) and sanitised (text). */
static const char *answer_string(json_object *o, const char *key)
{
	json_object *v = NULL;
	const char *s;

	s = json_object_object_get_ex(o, key, &v) && v ? json_object_get_string(v) : NULL;
	return s ? s : "";
}

static bool answer_bool(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

/*
 * Why the broker queued a submission, as a reason: the first of its three
 * conditions that failed (refvals.c checks them in this order).  This boot
 * does not match the key's sets (pcr_mismatch); the boot gate does not pass
 * (boot_gate_unexpected); else only the policy's allow_attested_reseal is
 * off, and every reseal of this key needs an operator (approval_required).
 */
static enum skr_reason queued_reason(json_object *ans)
{
	if (!answer_bool(ans, "this_boot_matches"))
		return SKR_R_pcr_mismatch;
	if (strcmp(answer_string(ans, "gate"), "open"))
		return SKR_R_boot_gate_unexpected;
	return SKR_R_approval_required;
}

/* What the broker said, for people; fails (exit 1) when the next boot would not unlock. */
static int tell(const struct token_job *j, const char *label, json_object *ans, struct skr_err *err)
{
	const char *dev = j->device, *key = j->tok->key_id, *state = answer_string(ans, "state");

	switch (j->a->op) {
	case OP_SUBMIT:
		if (!strcmp(state, "queued"))
			return skr_fail(err, queued_reason(ans),
					"%s key %s: %s: set %s is queued for an operator's approval "
					"(%s); until it is approved the next boot asks for the passphrase",
					dev, key, label, answer_string(ans, "id"),
					answer_string(ans, "note"));
		fprintf(stderr, "skrctl: %s key %s: %s: %s set %s is %s\n", dev, key, label,
			answer_bool(ans, "existed") ? "already approved:" : "submitted:",
			answer_string(ans, "id"), state);
		return 0;
	case OP_CHECK:
		if (!answer_bool(ans, "accepted"))
			return skr_fail(err, SKR_R_pcr_mismatch,
					"%s key %s: %s would be refused: %s (a submission now would be %s%s%s)",
					dev, key, label, answer_string(ans, "detail"),
					answer_string(ans, "submission_would_be"),
					*answer_string(ans, "note") ? ": " : "", answer_string(ans, "note"));
		fprintf(stderr, "skrctl: %s key %s: %s will unlock (set %s)%s%s\n", dev, key, label,
			answer_string(ans, "id"),
			*answer_string(ans, "note") ? "; a submission from this boot would be queued: "
						   : "",
			answer_string(ans, "note"));
		return 0;
	case OP_COMMIT:
		fprintf(stderr, "skrctl: %s key %s: this boot matched set %s, now current; %s older "
				"set(s) retired\n", dev, key, answer_string(ans, "id"),
			answer_string(ans, "retired"));
		return 0;
	case OP_WITHDRAW:
		fprintf(stderr, "skrctl: %s key %s: %s: %s pending or queued set(s) withdrawn\n", dev,
			key, label,
			answer_string(ans, "removed"));
		return 0;
	}
	return 0;
}

/*
 * A commit or withdraw the boot gate refused: says which boot may do it.  The
 * broker's detail names the failed condition (it never echoes the log).
 */
static void explain_gate(const struct token_job *j, struct skr_err *e)
{
	struct skr_err x = { 0 };

	if (e->reason != SKR_R_boot_gate_unexpected || j->a->op == OP_SUBMIT)
		return;
	skr_fail(&x, e->reason,
		 "%s key %s: %s refused by the boot gate: %s. Only a boot whose initramfs "
		 "opened this key's volume by an attested release, and nothing else, may "
		 "change the key's sets: reboot and let skr unlock it, or ask an operator",
		 j->device, j->tok->key_id, j->a->op == OP_COMMIT ? "commit" : "withdraw",
		 e->detail);
	*e = x;
}

static int run_token(struct token_job *j, struct skr_err *err)
{
	const struct reseal_args *a = j->a;
	struct skr_release_opts ro;
	json_object *fields = json_object_new_object(), *pcrs = NULL, *ans = NULL;
	struct skr_err broker_err = { 0 };
	char label[72];	/* the broker takes labels of up to 64 bytes */
	int rc = -1;

	set_label(a, label, sizeof(label));
	if (a->bare_snp) {
		/* No PCRs to predict: the boot state is the launch measurement. */
		skr_fail(err, SKR_R_predict_unsupported,
			 "%s key %s: bare SEV-SNP (no vTPM) has nothing to reseal: the new kernel, "
			 "initrd or command line is a new launch measurement, and on a new command line "
			 "the disk tag (rd.skr.disk=) must stay; add the new measurement to the key's "
			 "policy (\"snp\": {\"measurements\"}) before you boot it, or the boot will ask "
			 "for the passphrase", j->device, j->tok->key_id);
		goto out;
	}
	if (config_get(a->cfg, err) < 0)
		goto out;
	j->tcti = a->in.tcti ? a->in.tcti : a->cfg->c.tcti;
	skr_token_release_opts(j->tok, &a->cfg->c, a->timeout, &ro);
	ro.tcti = j->tcti;
	if (a->op == OP_SUBMIT || a->op == OP_CHECK) {
		if (predict_for(j, &pcrs, err) < 0)
			goto out;
		json_object_object_add(fields, "pcrs", pcrs);
		if (a->op == OP_SUBMIT && skr_enroll_fault("reseal_after_predict", err) < 0)
			goto out;
	}
	if (a->op == OP_SUBMIT || a->op == OP_WITHDRAW)
		json_object_object_add(fields, "label", json_object_new_string(label));
	if (skr_attested_call(&ro, op_path[a->op], fields, &ans, &broker_err) == 0) {
		json_object_object_add(j->report, "broker", json_object_get(ans));
		rc = tell(j, label, ans, &broker_err);
		/* Fault points (test builds): the broker holds the set, or has committed. */
		if ((a->op == OP_SUBMIT && skr_enroll_fault("reseal_after_broker_set", err) < 0) ||
		    (a->op == OP_COMMIT && skr_enroll_fault("commit_after_broker", err) < 0)) {
			rc = -1;
			goto out;
		}
	} else {
		explain_gate(j, &broker_err);
	}
	/* The local copy is updated whatever the broker said; the broker's failure is reported first. */
	if (local_step(j, err) == 0 || broker_err.reason != SKR_R_ok)
		*err = broker_err;
	else
		rc = -1;
out:
	free(j->predicted);
	json_object_put(fields);
	json_object_put(ans);
	return rc;
}

/* ---- Devices ---------------------------------------------------------------- */

/* Runs every skr token of a device; *found counts them.  Keeps going after a failure. */
static int run_device(const struct reseal_args *a, const char *device, json_object *reports,
		      unsigned *found, struct skr_err *first)
{
	struct crypt_device *cd = NULL;
	const char *text;
	int t, rc = 0;

	if (crypt_init(&cd, device) < 0 || crypt_load(cd, CRYPT_LUKS2, NULL) < 0) {
		crypt_free(cd);
		if (a->all)	/* crypttab also names plain and LUKS1 devices */
			return 0;
		return skr_fail(first, SKR_R_luks_error, "%s is not a readable LUKS2 device", device);
	}
	SKR_LUKS_FOREACH_TOKEN(cd, SKR_TOKEN_TYPE, t, text) {
		struct skr_token tok;
		struct skr_err err = { 0 };
		struct token_job j = { .a = a, .device = device, .cd = cd, .token_id = t, .tok = &tok };

		(*found)++;
		j.report = json_object_new_object();
		json_object_object_add(j.report, "device", json_object_new_string(device));
		json_object_object_add(j.report, "token", json_object_new_int(t));
		if (skr_token_parse(text, &tok, &err) == 0) {
			json_object_object_add(j.report, "key_id", json_object_new_string(tok.key_id));
			run_token(&j, &err);
			skr_token_free(&tok);
		}
		if (err.reason != SKR_R_ok) {
			/* The detail may quote the header or a broker. */
			skr_sanitize_inplace(err.detail, sizeof(err.detail));
			json_object_object_add(j.report, "reason",
					       json_object_new_string(skr_reason_name(err.reason)));
			json_object_object_add(j.report, "detail", json_object_new_string(err.detail));
			if (first->reason == SKR_R_ok)
				*first = err;
			else
				fprintf(stderr, "skrctl: %s: %s\n", skr_reason_name(err.reason), err.detail);
			rc = -1;
		}
		json_object_array_add(reports, j.report);
	}
	crypt_free(cd);
	return rc;
}

/* crypttab's source field as a path: UUID=, PARTUUID=, LABEL= or a path. */
static void source_path(const char *src, char *out, size_t size)
{
	static const struct { const char *tag, *dir; } tags[] = {
		{ "UUID=", "/dev/disk/by-uuid/" }, { "PARTUUID=", "/dev/disk/by-partuuid/" },
		{ "LABEL=", "/dev/disk/by-label/" }, { "PARTLABEL=", "/dev/disk/by-partlabel/" },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(tags); i++)
		if (!strncmp(src, tags[i].tag, strlen(tags[i].tag))) {
			snprintf(out, size, "%s%s", tags[i].dir, src + strlen(tags[i].tag));
			return;
		}
	snprintf(out, size, "%s", src);
}

static int run_crypttab(const struct reseal_args *a, json_object *reports, unsigned *found,
			struct skr_err *err)
{
	const char *path = getenv("SKR_CRYPTTAB") ? getenv("SKR_CRYPTTAB") : DEFAULT_CRYPTTAB;
	char line[4096], name[256], src[1024], dev[1100];
	FILE *f = fopen(path, "re");
	int rc = 0;

	if (!f)
		return skr_fail(err, SKR_R_io, "cannot read %s", path);
	while (fgets(line, sizeof(line), f))
		if (line[0] != '#' && sscanf(line, "%255s %1023s", name, src) == 2) {
			source_path(src, dev, sizeof(dev));
			if (run_device(a, dev, reports, found, err) < 0)
				rc = -1;
		}
	fclose(f);
	return rc;
}

int cmd_reseal(int argc, char **argv)
{
	struct reseal_args a = { .op = OP_SUBMIT };
	struct lazy_config cfg = { 0 };
	struct skr_err err = { 0 };
	json_object *reports = json_object_new_array();
	unsigned found = 0;
	size_t i;
	int rc = parse_args(argc, argv, &a);

	if (rc >= 0) {
		json_object_put(reports);
		return rc;
	}
	cfg.path = skr_client_config_path(a.config);
	a.cfg = &cfg;
	a.bare_snp = skr_release_path(a.in.tcti ? a.in.tcti
				      : config_get(&cfg, &err) == 0 ? cfg.c.tcti : NULL) == SKR_RELEASE_PATH_BARE_SNP;
	err = (struct skr_err){ 0 };	/* a configuration that does not load: reported per token */
	if (!a.bare_snp && (a.op == OP_SUBMIT || a.op == OP_CHECK) && resolve_inputs(&a, &err) < 0)
		goto out;
	if (a.all)
		run_crypttab(&a, reports, &found, &err);
	for (i = 0; i < a.n_devices; i++)
		run_device(&a, a.devices[i], reports, &found, &err);
	if (err.reason == SKR_R_ok && found == 0) {
		if (!a.all)
			skr_fail(&err, SKR_R_usage, "%s has no skr token", a.devices[0]);
		else
			fprintf(stderr, "skrctl: no device in the crypttab has an skr token: nothing to reseal\n");
	}
out:
	free(a.cmdline);
	skr_client_config_free(&cfg.c);
	return cli_finish_tokens(&err, reports, a.json);
}
