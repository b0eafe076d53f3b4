/* SPDX-License-Identifier: Apache-2.0 */
/*
 * skr-unlock: opens a LUKS2 volume at boot with the key an attested release
 * gets from a broker (the "skr" tokens in its header), and falls back to a
 * passphrase prompt on any failure — broker down or refusing, TPM missing —
 * so that a broker outage never leaves the machine in an emergency shell.
 *
 * One deadline covers every token's release: the token's timeout, or
 * --timeout, or rd.skr.timeout= on the kernel command line (in that order of
 * strength, the command line winning).  The prompt accepts any passphrase of
 * the volume, the recovery key included.
 *
 * Where to ask and whom to trust come from the client configuration
 * (--config, SKR_CONFIG or /etc/skr/client.json, carried in the initramfs),
 * never from the header: a version 1 token's brokers, ca, tcti and vcek are
 * ignored (said in debug output).  A configuration that does not load (or
 * is untrusted_config) means no release: the local copy and the passphrase
 * remain.
 *
 * Every open is measured into PCR 15 (the boot gate, src/common/gate.h) right
 * after the keyslot opened and before anything from the volume can run:
 * "opened key=K method=attestation|local" or the passphrase event.  An open
 * that cannot be measured is undone (crypt_deactivate) and reported: a volume
 * open with no record would leave PCR 15 at zero, and a later release from
 * this boot — from a root the host chose — would go through.  --handover
 * (handover.h) closes the gate before switch_root.
 *
 * --local-only tries the local offline copies alone, never a broker and never
 * the passphrase: the initramfs runs it first, before it brings up any
 * network, since a boot the copy opens needs none (luks/local_copy.h says
 * why that costs no security).  --no-local then leaves the copies out of
 * the full run, so the brokers get the whole deadline, not the
 * SKR_LOCAL_BROKER_WAIT_S a volume with a copy gives them.
 *
 * Bare SEV-SNP has no PCR 15: there a passphrase open counts only when its
 * volume key's tag is on the measured command line, and the handover stops
 * a boot with any other volume open (luks/disk_tag.h).
 *
 * Exit status: 0 opened, 1 not opened (every try failed or no input, or the
 * open could not be measured), 2 usage, or the device is not a readable
 * LUKS2 volume; --handover: 3 refused on bare SEV-SNP (handover.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libcryptsetup.h>

#include "unlock/askpass.h"
#include "vm/client_config.h"
#include "vm/cmdline.h"
#include "common/gate.h"
#include "unlock/handover.h"
#include "vm/release_client.h"
#include "luks/disk_tag.h"
#include "luks/local_copy.h"
#include "luks/token.h"
#include "vm/gate_measure.h"
#include "vm/local_seal.h"
#include "luks/token_iter.h"
#include "vm/tpm.h"
#include "common/util.h"
#include "vm/words.h"

#ifndef SKR_VERSION
#define SKR_VERSION "0.1.0"
#endif

#define USAGE                                                                                    \
	"usage: skr-unlock --device DEV --name NAME [--timeout S] [--tcti T] [--test-passphrase]\n" \
	"                  [--tries N] [--key-file F] [--no-prompt] [--allow-discards]\n"         \
	"                  [--config PATH] [--local-only | --no-local]\n"                        \
	"       skr-unlock --probe --device DEV [--config PATH]\n"                                \
	"       skr-unlock --config-files [--config PATH]\n"                                     \
	"       skr-unlock --handover [--tcti T] [--config PATH]\n"                              \
	"       skr-unlock --gate [--tcti T] [--config PATH]\n"                                  \
	"Opens DEV as /dev/mapper/NAME with the key released by the broker for its skr token\n"  \
	"(brokers, CA, TPM from the client configuration: --config, $SKR_CONFIG or\n"            \
	"/etc/skr/client.json), or with a passphrase (the recovery key too) when that fails.\n"  \
	"--test-passphrase only checks the key against the keyslot (no device-mapper);\n"        \
	"--no-prompt leaves the passphrase to the caller (cryptroot); --probe lists the\n"       \
	"configured brokers of DEV's keys, exit 0 when it has an skr token; --config-files\n"   \
	"checks the configuration and lists it and the files it names (for the initramfs).\n"   \
	"--local-only tries only the local offline copies (no broker, no prompt);\n"           \
	"--no-local tries every way but them.\n"                                                 \
	"Every open is measured into PCR 15; --handover (initramfs, before switch_root)\n"      \
	"extends PCR 15 for volumes skr-unlock did not open, then \"handover\".\n"             \
	"--gate prints this VM's boot gate: pcr15, or disk-tag on bare SEV-SNP.\n"           \
	"Exit: 0 opened, 1 not opened, 2 usage or unreadable device,\n"                      \
	"3 --handover on bare SEV-SNP refused a volume not shown to be enrolled.\n"

#define KEYFILE_MAX 8192

struct opts {
	const char *device, *name, *tcti, *key_file, *config;
	unsigned timeout, tries;
	bool test, no_prompt, probe, config_files, handover, local_only, no_local, gate;
	uint32_t flags;			/* crypt_activate flags */
	/* Bare SEV-SNP (detected, or the configuration's "gate": "disk-tag"): luks/disk_tag.h. */
	bool tag_gate;
	const struct skr_cmdline *cmdline;
};

static bool debug;
static int kmsg_fd = -1;

static void say(bool verbose_only, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * One line to the console and the kernel log.  Lines quote brokers, the
 * LUKS2 header and libcryptsetup: every byte outside printable ASCII is
 * shown as \xNN (skr_sanitize_text), so no escape sequence reaches either.
 */
static void say(bool verbose_only, const char *fmt, ...)
{
	char line[1024], safe[1024];
	va_list ap;

	if (verbose_only && !debug)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	skr_sanitize_text(line, sizeof(line), safe, sizeof(safe));
	fprintf(stderr, "skr: %s\n", safe);
	if (kmsg_fd >= 0) {
		/* One write(2), one kmsg record; dprintf may split it, and glibc's
		 * dprintf leaks a buffer per call on /dev/kmsg (seen under LSan). */
		int n = snprintf(line, sizeof(line), "skr-unlock: %s\n", safe);

		if (n > 0)
			(void)!write(kmsg_fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
	}
}

/* skr_secret_alloc's mlock failure: on the console, never silently. */
static void lock_warning(const char *message)
{
	say(false, "warning: %s", message);
}

static void say_line(const char *line)
{
	say(false, "%s", line);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_unsigned(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (errno || end == s || *end || n < (long)lo || n > (long)hi)
		return -1;
	*out = (unsigned)n;
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "device", required_argument, NULL, 'd' },   { "name", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 'T' },  { "tcti", required_argument, NULL, 't' },
		{ "test-passphrase", no_argument, NULL, 'P' }, { "tries", required_argument, NULL, 'r' },
		{ "key-file", required_argument, NULL, 'k' }, { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },        { "no-prompt", no_argument, NULL, 'N' },
		{ "probe", no_argument, NULL, 'p' },          { "allow-discards", no_argument, NULL, 'D' },
		{ "config", required_argument, NULL, 'c' },   { "config-files", no_argument, NULL, 'f' },
		{ "handover", no_argument, NULL, 'H' },     { "local-only", no_argument, NULL, 'L' },
		{ "no-local", no_argument, NULL, 'l' },     { "gate", no_argument, NULL, 'G' },
		{ 0 }
	};
	int c;

	o->tries = 3;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': o->device = optarg; break;
		case 'n': o->name = optarg; break;
		case 't': o->tcti = optarg; break;
		case 'k': o->key_file = optarg; break;
		case 'c': o->config = optarg; break;
		case 'P': o->test = true; break;
		case 'N': o->no_prompt = true; break;
		case 'p': o->probe = true; break;
		case 'f': o->config_files = true; break;
		case 'H': o->handover = true; break;
		case 'G': o->gate = true; break;
		case 'L': o->local_only = o->no_prompt = true; break;
		case 'l': o->no_local = true; break;
		case 'D': o->flags |= CRYPT_ACTIVATE_ALLOW_DISCARDS; break;
		case 'T':
			if (parse_unsigned(optarg, 1, 3600, &o->timeout) < 0)
				return -1;
			break;
		case 'r':
			if (parse_unsigned(optarg, 1, 100, &o->tries) < 0)
				return -1;
			break;
		case 'h': fputs(USAGE, stdout); exit(0);
		case 'V': printf("skr-unlock %s\n", SKR_VERSION); exit(0);
		default: return -1;
		}
	}
	if (o->local_only && (o->no_local || o->probe || o->key_file))
		return -1;
	if (o->config_files)
		return optind == argc && !o->device ? 0 : -1;
	if (o->handover || o->gate)
		return optind == argc && !o->device && !o->name && !(o->handover && o->gate) ? 0 : -1;
	return optind == argc && o->device && (o->name || o->test || o->probe) ? 0 : -1;
}

/*
 * The skr tokens of the header, parsed, in *tokens (the caller frees it, and
 * each token); unusable ones are reported and skipped.
 */
static size_t load_tokens(struct crypt_device *cd, struct skr_token **tokens)
{
	int max = crypt_token_max(CRYPT_LUKS2), id;
	const char *json;
	size_t n = 0;

	*tokens = calloc(max > 0 ? (size_t)max : 1, sizeof(**tokens));
	if (!*tokens) {
		say(false, "out of memory reading the tokens");
		return 0;
	}
	SKR_LUKS_FOREACH_TOKEN(cd, SKR_TOKEN_TYPE, id, json) {
		struct skr_err err = { 0 };

		if (skr_token_parse(json, &(*tokens)[n], &err) < 0) {
			say(false, "token %d is unusable: %s", id, err.detail);
			continue;
		}
		if ((*tokens)[n].v1_ignored)
			say(true, "token %d: " SKR_TOKEN_V1_NOTICE, id);
		n++;
	}
	return n;
}

/* Tries the secret on one keyslot; the keyslot, or -1. */
static int activate_slot(struct crypt_device *cd, const struct opts *o, int slot, const char *key,
			 size_t len)
{
	int r = crypt_activate_by_passphrase(cd, o->test ? NULL : o->name, slot, key, len, o->flags);

	if (r < 0)
		say(true, "keyslot %d: %s", slot, strerror(-r));
	return r < 0 ? -1 : r;
}

/* Tries the secret on the token's keyslots; the keyslot it opened, or -1. */
static int activate_slots(struct crypt_device *cd, const struct opts *o, const struct skr_token *t,
			  const char *key, size_t len)
{
	size_t i;

	for (i = 0; i < t->n_keyslots; i++) {
		int r = crypt_activate_by_passphrase(cd, o->test ? NULL : o->name, t->keyslots[i], key,
						     len, o->flags);

		if (r >= 0)
			return r;
		say(true, "keyslot %d: %s", t->keyslots[i], strerror(-r));
	}
	return -1;
}

/* The attested release under one deadline; the index of the token that opened, or -1. */
static int try_release(struct crypt_device *cd, const struct opts *o,
		       const struct skr_client_config *cfg, struct skr_token *tokens, size_t n,
		       double deadline)
{
	_cleanup_secret_ uint8_t *secret = skr_secret_alloc(SKR_RELEASE_MAX_SECRET);
	int rc = -1;
	size_t i;

	if (!secret)
		return -1;
	for (i = 0; i < n && rc < 0; i++) {
		struct skr_release_timing timing = { 0 };
		struct skr_release_opts ro;
		struct skr_err err = { 0 };
		double left = deadline - now_s();
		size_t len = 0;
		char line[700];

		if (left <= 0.05) {
			say(false, "no time left for the release");
			break;
		}
		skr_token_release_opts(&tokens[i], cfg, 0, &ro);
		/* Each remaining token gets a fair share: a dead first broker must
		 * not eat the time of a live second one. */
		ro.deadline_ms = (unsigned)(left * 1000.0 / (double)(n - i));
		if (o->tcti)
			ro.tcti = o->tcti;
		say(false, "asking %s for the key of %s", ro.brokers[0], o->device);
		if (skr_release(&ro, secret, &len, &timing, &err) < 0) {
			skr_describe_failure(&err, ro.brokers[0], line, sizeof(line));
			say(false, "%s", line);
			say(true, "detail: %s", err.detail);
			continue;
		}
		say(true, "released in %.0f ms (TPM %.0f ms, network %.0f ms, %u attempts)",
		    timing.total_ms, timing.tpm_ms, timing.network_ms, timing.attempts);
		double t_open = now_s();
		if (activate_slots(cd, o, &tokens[i], (const char *)secret, len) >= 0) {
			/* The boot-time breakdown (make bench-boot) reads this line. */
			say(true, "keyslot opened in %.0f ms", (now_s() - t_open) * 1000.0);
			say(false, "%s %s with the key from %s", o->test ? "checked" : "opened", o->device,
			    ro.brokers[0]);
			rc = (int)i;
		} else {
			say(false, "the released key does not open %s", o->device);
		}
		skr_secret_wipe(secret);
	}
	return rc;
}

/*
 * The local offline copies (skrctl local-copy): the secret unsealed by this
 * vTPM under a signed PCR policy, when no broker released it, tried on the
 * copy's own keyslot.  The vTPM refuses once PCR 15 moved (boot_gate_closed):
 * a volume was opened before in this boot.  The index of the token that
 * opened, or -1.
 */
static int try_local(struct crypt_device *cd, const struct opts *o, const char *tcti,
		     const struct skr_token *tokens, size_t n)
{
	_cleanup_secret_ uint8_t *secret = skr_secret_alloc(SKR_LOCAL_MAX_SECRET);
	int rc = -1;
	size_t i;

	if (!secret)
		return -1;
	for (i = 0; i < n && rc < 0; i++) {
		struct skr_err err = { 0 };
		size_t len = 0;

		if (!tokens[i].local)
			continue;
		say(false, "trying the local copy of key %s in this vTPM", tokens[i].key_id);
		if (skr_local_copy_unseal(&tokens[i], tcti, secret, &len, &err) < 0) {
			say(false, "the local copy refused: %s (%s)", err.detail,
			    skr_reason_name(err.reason));
		} else if (activate_slot(cd, o, tokens[i].local->keyslot, (const char *)secret,
					 len) >= 0) {
			say(false, "%s %s with the local copy", o->test ? "checked" : "opened", o->device);
			rc = (int)i;
		} else {
			say(false, "the local copy does not open %s", o->device);
		}
		skr_secret_wipe(secret);
	}
	return rc;
}

/*
 * Bare SEV-SNP: the volume key the passphrase opens must be one the measured
 * command line lists (rd.skr.disk=), and the volume is activated with that
 * very key (luks/disk_tag.h); otherwise it stays closed, whoever typed it.
 */
static int try_passphrase_snp(struct crypt_device *cd, const struct opts *o, const char *pass,
			      size_t len)
{
	char tag[SKR_DISK_TAG_HEX + 1];
	struct skr_err err = { 0 };
	uint8_t *vk = NULL;
	int slot, r;

	slot = skr_disk_volume_key(cd, CRYPT_ANY_SLOT, pass, len, &vk, tag, &err);
	if (slot < 0) {
		if (err.reason != SKR_R_passphrase_invalid)
			say(false, "%s: %s", o->device, err.detail);
		return -1;
	}
	if (!skr_disk_tag_listed(o->cmdline, tag)) {
		say(false, "SECURITY: keyslot %d opens %s, but its volume key (disk tag %s) is not "
			   "one the kernel command line lists (rd.skr.disk=: %s): on bare SEV-SNP a "
			   "volume not shown to be the enrolled one is never opened", slot, o->device,
		    tag, o->cmdline->disk_tags_invalid ? "malformed" : o->cmdline->n_disk_tags ? "other tags" : "none");
		skr_secret_free(vk);
		return -1;
	}
	r = crypt_activate_by_volume_key(cd, o->test ? NULL : o->name, (const char *)vk,
					 skr_secret_size(vk), o->flags);
	skr_secret_free(vk);
	if (r < 0) {
		say(false, "%s: cannot activate with the volume key: %s", o->device, strerror(-r));
		return -1;
	}
	say(false, "%s %s with the passphrase of keyslot %d (disk tag on the command line)",
	    o->test ? "checked" : "opened", o->device, slot);
	return slot;
}

static int try_passphrase(struct crypt_device *cd, const struct opts *o, const char *pass, size_t len)
{
	int r;

	if (o->tag_gate)
		return try_passphrase_snp(cd, o, pass, len);
	r = crypt_activate_by_passphrase(cd, o->test ? NULL : o->name, CRYPT_ANY_SLOT, pass, len,
					 o->flags);
	if (r >= 0)
		say(false, "%s %s with the passphrase of keyslot %d", o->test ? "checked" : "opened",
		    o->device, r);
	return r;
}

static int try_key_file(struct crypt_device *cd, const struct opts *o)
{
	_cleanup_secret_ uint8_t *key = NULL;
	struct skr_err err = { 0 };
	int r;

	/* Not mode-checked (secret.h): a key file may sit on FAT media. */
	if (skr_secret_read_input(o->key_file, KEYFILE_MAX, "key", &key, &err) < 0) {
		say(false, "cannot read the key file: %s", err.detail);
		return -1;
	}
	r = try_passphrase(cd, o, (const char *)key, skr_secret_size(key));
	if (r < 0)
		say(false, "the key file does not open %s", o->device);
	return r < 0 ? -1 : 0;
}

static int prompt_loop(struct crypt_device *cd, const struct opts *o)
{
	enum skr_askpass_via via = skr_askpass_detect();
	_cleanup_secret_ char *pass = skr_secret_alloc(SKR_ASKPASS_MAX);
	char prompt[512];
	unsigned i;
	int rc = -1;

	if (!pass)
		return -1;
	snprintf(prompt, sizeof(prompt), "Passphrase for %s%s%s%s: ", o->device, o->name ? " (" : "",
		 o->name ? o->name : "", o->name ? ")" : "");
	say(true, "asking through %s", skr_askpass_name(via));
	for (i = 0; i < o->tries && rc < 0; i++) {
		int len = skr_askpass(via, o->name ? o->name : o->device, prompt, pass);

		if (len < 0) {
			say(false, "no passphrase could be read");
			break;
		}
		if (try_passphrase(cd, o, pass, (size_t)len) >= 0)
			rc = 0;
		else
			say(false, "wrong passphrase (%u of %u)", i + 1, o->tries);
		skr_secret_wipe(pass);
	}
	return rc;
}

/*
 * How this boot opened the volume, in RUN_DIR/NAME.unlocked (handover.h:
 * method=, dm_uuid=, key_id=): /run survives the switch to the real root, so
 * the booted system (and its operator) can tell an attested unlock from a
 * typed one, and the handover knows which dm-crypt device is skr-unlock's
 * (already measured) open.  Best effort: without the record the handover
 * counts the volume as opened by something else, which only closes the gate
 * further.
 */
static void record_unlock(struct crypt_device *cd, const struct opts *o, const char *method,
			  const char *key_id)
{
	const char *dir = skr_run_dir(), *uuid = crypt_get_uuid(cd);
	char path[512], dm_uuid[256];
	FILE *f;

	if (o->test || !o->name || strchr(o->name, '/'))
		return;
	(void)mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/%s.unlocked", dir, o->name);
	f = fopen(path, "we");
	if (!f) {
		say(false, "cannot record the unlock in %s: %s", path, strerror(errno));
		return;
	}
	fprintf(f, "method=%s\n", method);
	if (uuid && skr_dm_uuid(dm_uuid, sizeof(dm_uuid), uuid, o->name) == 0)
		fprintf(f, "dm_uuid=%s\n", dm_uuid);
	if (key_id)
		fprintf(f, "key_id=%s\n", key_id);
	if (o->tag_gate)	/* only opens shown to be the enrolled volume get here */
		fprintf(f, "gate=%s\n", SKR_UNLOCK_GATE_SNP);
	fclose(f);
}

/* The gate event of an open: by a token's key (key_id, method) or by a passphrase. */
static int gate_event(char *buf, size_t size, const char *key_id, const char *method,
		      struct skr_err *err)
{
	if (!key_id)
		return skr_gate_event_passphrase(buf, size);
	return skr_gate_event_opened(buf, size, key_id, method, err);
}

/*
 * Measures the open that just happened into PCR 15 (in the TPM the release
 * used: --tcti or the client configuration's) and records it; 0 when
 * both are done.  When the measure fails the volume is closed again (fail
 * closed: see the top of this file) and 1 is returned.
 */
static int seal_open(struct crypt_device *cd, const struct opts *o, const char *tcti,
		     const struct skr_token *t, const char *method)
{
	char event[SKR_GATE_EVENT_MAX];
	struct skr_err err = { 0 };
	struct skr_tpm *tpm = NULL;
	const char *key_id = t && strcmp(method, "passphrase") != 0 ? t->key_id : NULL;
	int r;

	if (o->tag_gate) {
		/* No register: the open was shown to be the enrolled volume's instead. */
		say(true, "bare SEV-SNP: no PCR %d; %s opened by %s", SKR_GATE_PCR, o->device, method);
		record_unlock(cd, o, method, key_id);
		return 0;
	}
	r = gate_event(event, sizeof(event), key_id, method, &err) < 0 ? -1 : 0;
	if (r == 0)
		r = skr_tpm_open(tcti, &tpm, &err);
	if (r == 0)
		r = skr_gate_measure(tpm, event, &err);
	skr_tpm_close(tpm);
	if (r == 0) {
		say(true, "PCR %d: %s", SKR_GATE_PCR, event);
		record_unlock(cd, o, method, key_id);
		return 0;
	}
	say(false, "SECURITY: the open of %s could not be measured into PCR %d: %s", o->device,
	    SKR_GATE_PCR, err.detail);
	if (o->test || !o->name) {
		say(false, "%s: the key was checked, but the check is reported as failed", o->device);
		return 1;
	}
	r = crypt_deactivate(cd, o->name);
	if (r < 0)
		say(false, "SECURITY: could not close %s again: %s; do not trust this boot", o->name,
		    strerror(-r));
	else
		say(false, "%s closed again: an unmeasured open would let a later release through",
		    o->name);
	return 1;
}

/* The TPM of --tcti or the client configuration (never a header's); NULL: the default. */
static const char *config_tcti(const struct opts *o, struct skr_client_config *cfg, bool *have_cfg)
{
	struct skr_err err = { 0 };

	*have_cfg = skr_client_config_load(skr_client_config_path(o->config), cfg, &err) == 0;
	return o->tcti ? o->tcti : *have_cfg ? cfg->tcti : NULL;
}

/* Bare SEV-SNP's disk-tag gate: detected, or required by the configuration ("gate"). */
static bool disk_tag_gate(const char *tcti, const struct skr_client_config *cfg)
{
	return (cfg && cfg->disk_tag_gate) || skr_release_path(tcti) == SKR_RELEASE_PATH_BARE_SNP;
}

/* --handover */
static int handover(const struct opts *o)
{
	struct skr_client_config cfg;
	bool have_cfg;
	const char *tcti = config_tcti(o, &cfg, &have_cfg);
	int rc = skr_handover(tcti, disk_tag_gate(tcti, have_cfg ? &cfg : NULL), say_line);

	if (have_cfg)
		skr_client_config_free(&cfg);
	return rc;
}

/*
 * --gate: which boot gate this VM keeps, for the initramfs scripts: "pcr15",
 * or "disk-tag" on bare SEV-SNP, where only skr-unlock's own passphrase
 * opens can be shown to be the enrolled volume, so it must prompt itself.
 */
static int print_gate(const struct opts *o)
{
	struct skr_client_config cfg;
	bool have_cfg;
	const char *tcti = config_tcti(o, &cfg, &have_cfg);
	bool tag = disk_tag_gate(tcti, have_cfg ? &cfg : NULL);

	if (have_cfg)
		skr_client_config_free(&cfg);
	puts(tag ? "disk-tag" : "pcr15");
	return 0;
}

/* libcryptsetup's own messages only in debug mode: ours say it shorter. */
static void crypt_log_cb(int level, const char *msg, void *usrptr)
{
	size_t len = strlen(msg);

	(void)usrptr;
	if (debug && level != CRYPT_LOG_DEBUG)
		say(true, "libcryptsetup: %.*s", (int)(len && msg[len - 1] == '\n' ? len - 1 : len), msg);
}

/* The brokers of each token's key, as the configuration names them (--probe). */
static int probe(const struct skr_client_config *cfg, bool have_cfg,
		 const struct skr_token *tokens, size_t n)
{
	size_t i, b;

	for (i = 0; have_cfg && i < n; i++) {
		const struct skr_client_endpoints *ep = skr_client_config_for_key(cfg, tokens[i].key_id);

		for (b = 0; b < ep->n_brokers; b++)
			printf("%s\n", ep->brokers[b]);
	}
	return n ? 0 : 1;
}

/*
 * --config-files: the configuration, each CA file it names, its VCEK and EK chain files,
 * one a line, once each, after the same checks a boot makes (exit 2 when it
 * is refused): what the initramfs hooks copy.
 */
static int config_files(const char *path)
{
	struct skr_client_config c;
	struct skr_err err = { 0 };
	const char *seen[2 + SKR_CLIENT_CONFIG_MAX_KEYS];
	size_t n = 0, i, k;

	if (skr_client_config_load(skr_client_config_path(path), &c, &err) < 0) {
		fprintf(stderr, "skr: %s (%s)\n", err.detail, skr_reason_name(err.reason));
		return 2;
	}
	seen[n++] = c.path;
	seen[n++] = c.ep.ca_file;
	for (k = 0; k < c.n_keys; k++)
		if (c.keys[k].ep.ca_file)
			seen[n++] = c.keys[k].ep.ca_file;
	for (i = 0; i < n; i++) {
		for (k = 0; k < i && strcmp(seen[k], seen[i]); k++)
			;
		if (k == i)
			printf("%s\n", seen[i]);
	}
	if (c.vcek)
		printf("%s\n", c.vcek);
	if (c.ek_chain)		/* the release reads it in the initramfs too */
		printf("%s\n", c.ek_chain);
	skr_client_config_free(&c);
	return 0;
}

static bool has_local_copy(const struct skr_token *tokens, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (tokens[i].local)
			return true;
	return false;
}

/*
 * The attested release, else the local copy, measured (seal_open): 0 opened;
 * 1 not, with *sealed set when a token opened it and the measure failed.
 * With a local copy, the brokers get SKR_LOCAL_BROKER_WAIT_S at most
 * (luks/local_copy.h says why).  --local-only: the copy alone; --no-local:
 * no copy, and the brokers get the whole deadline.
 */
static int open_by_token(struct crypt_device *cd, const struct opts *o,
			 const struct skr_client_config *cfg, const char *tcti,
			 struct skr_token *tokens, size_t n, double deadline, bool *sealed)
{
	bool local = n && !o->no_local && has_local_copy(tokens, n);
	const char *method = NULL;
	int opened = -1;

	if (local && !o->local_only && deadline > now_s() + SKR_LOCAL_BROKER_WAIT_S) {
		deadline = now_s() + SKR_LOCAL_BROKER_WAIT_S;
		say(true, "a local copy exists: the brokers get at most %u s", SKR_LOCAL_BROKER_WAIT_S);
	}
	if (!n)
		say(false, "no skr token on %s", o->device);
	else if (o->local_only && !local)
		say(true, "no local copy on %s", o->device);
	else if (!o->local_only && cfg && (opened = try_release(cd, o, cfg, tokens, n, deadline)) >= 0)
		method = SKR_GATE_METHOD_ATTESTATION;
	if (!method && local && (opened = try_local(cd, o, tcti, tokens, n)) >= 0)
		method = SKR_GATE_METHOD_LOCAL;
	if (!method)
		return 1;
	*sealed = true;
	return seal_open(cd, o, tcti, &tokens[opened], method);
}

/* No token opened it: the passphrase, unless --no-prompt leaves that to the caller. */
static int open_by_passphrase(struct crypt_device *cd, const struct opts *o, const char *tcti,
			      const struct skr_token *first)
{
	if (o->local_only) {
		say(true, "%s stays closed: no local copy opened it", o->device);
		return 1;
	}
	if (o->no_prompt) {
		say(false, "%s stays closed: the passphrase is asked next", o->device);
		return 1;
	}
	say(false, "falling back to the passphrase");
	if ((o->key_file && try_key_file(cd, o) == 0) || prompt_loop(cd, o) == 0)
		return seal_open(cd, o, tcti, first, "passphrase");
	return 1;
}

/* --probe, or the open of the volume: the exit status. */
static int unlock_volume(struct crypt_device *cd, struct opts *o, const struct skr_cmdline *cmd,
			 double start)
{
	struct skr_token *tokens = NULL;
	struct skr_client_config cfg;
	struct skr_err cerr = { 0 };
	bool have_cfg, sealed = false;
	const char *tcti;
	size_t n = 0, i;
	int rc = 1;

	have_cfg = skr_client_config_load(skr_client_config_path(o->config), &cfg, &cerr) == 0;
	if (!have_cfg && !o->probe && !o->local_only && !cmd->disabled)
		say(false, "no release: %s (%s)", cerr.detail, skr_reason_name(cerr.reason));
	/* --tcti (the initramfs script's, trusted) or the configuration's; never the header's. */
	tcti = o->tcti ? o->tcti : have_cfg ? cfg.tcti : NULL;
	o->cmdline = cmd;
	o->tag_gate = !o->probe && disk_tag_gate(tcti, have_cfg ? &cfg : NULL);
	if (o->tag_gate)
		say(true, "bare SEV-SNP (no vTPM): the disk-tag gate; the command line lists %zu tag(s)%s",
		    cmd->n_disk_tags, cmd->disk_tags_invalid ? " (rd.skr.disk= malformed)" : "");
	if (o->probe || !cmd->disabled)
		n = load_tokens(cd, &tokens);
	if (o->probe) {
		rc = probe(&cfg, have_cfg, tokens, n);
	} else if (cmd->disabled) {
		say(false, "attested release disabled (rd.skr=0)");
	} else {
		unsigned timeout = cmd->timeout ? cmd->timeout : o->timeout ? o->timeout
							: n ? tokens[0].timeout
							    : SKR_TOKEN_DEFAULT_TIMEOUT;

		rc = open_by_token(cd, o, have_cfg ? &cfg : NULL, tcti, tokens, n, start + timeout,
				   &sealed);
	}
	if (rc != 0 && !sealed && !o->probe)
		rc = open_by_passphrase(cd, o, tcti, n ? &tokens[0] : NULL);
	for (i = 0; i < n; i++)
		skr_token_free(&tokens[i]);
	free(tokens);
	if (have_cfg)
		skr_client_config_free(&cfg);
	return rc;
}

int main(int argc, char **argv)
{
	struct crypt_device *cd = NULL;
	struct skr_cmdline cmd;
	struct opts o = { 0 };
	const char *kmsg = getenv("SKR_KMSG");
	double start = now_s();
	int rc, r;

	/* The released key, the passphrase and the unwrap state live in this
	 * process: no core dump of it, no ptrace by other users.  First thing. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		fprintf(stderr, "skr: warning: cannot disable core dumps: %s\n", strerror(errno));
	if (parse_args(argc, argv, &o) < 0) {
		fputs(USAGE, stderr);
		return 2;
	}
	if (o.config_files)
		return config_files(o.config);
	skr_cmdline_read(NULL, &cmd);
	debug = cmd.debug;
	kmsg_fd = open(kmsg && *kmsg ? kmsg : "/dev/kmsg", O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
	skr_secret_set_lock_warning(lock_warning);
	if (o.handover) {
		rc = handover(&o);
	} else if (o.gate) {
		rc = print_gate(&o);
	} else {
		crypt_set_log_callback(NULL, crypt_log_cb, NULL);
		r = crypt_init(&cd, o.device);
		if (r == 0)
			r = crypt_load(cd, CRYPT_LUKS2, NULL);
		if (r < 0)
			say(false, "%s is not a readable LUKS2 volume: %s", o.device, strerror(-r));
		rc = r < 0 ? 2 : unlock_volume(cd, &o, &cmd, start);
		crypt_free(cd);
	}
	if (kmsg_fd >= 0)
		close(kmsg_fd);
	return rc;
}
