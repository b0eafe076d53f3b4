/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libcryptsetup-token-skr.so: the "skr" LUKS2 token for libcryptsetup's
 * external token ABI (CRYPTSETUP_TOKEN_1.0).  `cryptsetup open` (or any
 * libcryptsetup caller activating by token) gets the keyslot passphrase from
 * the attested release, the same code skr-unlock runs (skr_release).
 *
 * Return values of cryptsetup_token_open, as libcryptsetup defines them:
 *   0        the buffer holds the keyslot passphrase;
 *   -EAGAIN  the broker or the TPM cannot be reached now ("requires hardware
 *            not present"): callers fall back to another token or a passphrase;
 *   -ENOENT  the token cannot provide a passphrase: the broker refused (a
 *            verification verdict), or the token is unusable.  -EPERM is
 *            reserved by libcryptsetup for "the token's passphrase did not open
 *            its keyslot" (it maps a handler's -EPERM to -ENOENT itself), so a
 *            refusal is reported as -ENOENT with the reason logged;
 *   -ENOMEM  out of memory.
 *
 * Messages go through crypt_log: libcryptsetup ends ERROR and DEBUG lines
 * itself, NORMAL lines (the dump) carry their own newline.
 *
 * The record of how the volume opens is the line
 *   skr: keyslot N opened with key KEY_ID (method=attestation|local)
 * logged only once the secret has opened keyslot N of this token (checked
 * here, see opened_keyslot); "skr: key KEY_ID released" only says that the
 * broker released it, before any keyslot was tried.
 *
 * Nothing from the token chooses where to connect, what to trust or which
 * TPM driver to load: the brokers, the CA, the TCTI and the VCEK file come
 * from the client configuration (client_config.h: SKR_CONFIG or
 * /etc/skr/client.json, which the initramfs carries).  A version 1 token's
 * own fields for them are ignored, and the debug output says so.
 *
 * cryptsetup_token_open_pin is deliberately not exported: an skr token has no
 * PIN, and without the symbol libcryptsetup never offers a PIN prompt for it
 * (a caller that passes a PIN anyway gets "token not eligible").
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

#include <libcryptsetup.h>

#include "vm/client_config.h"
#include "common/err.h"
#include "vm/release_client.h"
#include "luks/enroll.h"
#include "luks/local_copy.h"
#include "luks/token.h"
#include "common/util.h"
#include "vm/cmdline.h"
#include "vm/words.h"

#ifndef SKR_VERSION
#define SKR_VERSION "0.1.0"
#endif

#define EXPORT __attribute__((visibility("default")))

EXPORT int cryptsetup_token_open(struct crypt_device *cd, int token, char **buffer, size_t *buffer_len,
				 void *usrptr);
EXPORT void cryptsetup_token_buffer_free(void *buffer, size_t buffer_len);
EXPORT int cryptsetup_token_validate(struct crypt_device *cd, const char *json);
EXPORT void cryptsetup_token_dump(struct crypt_device *cd, const char *json);
EXPORT const char *cryptsetup_token_version(void);

static int errno_for(enum skr_reason r)
{
	if (skr_reason_is_unreachable(r))
		return -EAGAIN;
	if (r == SKR_R_nomem)
		return -ENOMEM;
	return -ENOENT;
}

/*
 * The local offline copy's secret opens the copy's own keyslot, which the
 * token lists among its keyslots: libcryptsetup tries the buffer returned
 * on every keyslot of the token, so that one is tried too.  The vTPM
 * refuses once PCR 15 moved (boot_gate_closed).  tcti: the client
 * configuration's (NULL: the default device), never the token's.
 */
static int try_local(struct crypt_device *cd, const struct skr_token *t, const char *tcti,
		     uint8_t *secret, size_t *len)
{
	struct skr_err err = { 0 };

	crypt_logf(cd, CRYPT_LOG_NORMAL, "skr: trying the local copy of key %s in this vTPM\n",
		   t->key_id);
	if (skr_local_copy_unseal(t, tcti, secret, len, &err) < 0) {
		skr_sanitize_inplace(err.detail, sizeof(err.detail));
		crypt_logf(cd, CRYPT_LOG_ERROR, "skr: the local copy refused: %s (%s)", err.detail,
			   skr_reason_name(err.reason));
		return -1;
	}
	crypt_logf(cd, CRYPT_LOG_NORMAL, "skr: key %s unsealed from the local copy\n", t->key_id);
	return 0;
}

/*
 * Whether checking the secret on keyslot slot costs next to nothing: enroll's
 * PBKDF (PBKDF2, SKR_ENROLL_PBKDF_ITERATIONS) or less.  Any other would cost
 * the boot a second derivation (seconds, and for Argon2 its memory too).
 */
static bool cheap_keyslot(struct crypt_device *cd, int slot)
{
	struct crypt_pbkdf_type p;

	return crypt_keyslot_get_pbkdf(cd, slot, &p) == 0 && p.type &&
	       strcmp(p.type, CRYPT_KDF_PBKDF2) == 0 && p.iterations <= SKR_ENROLL_PBKDF_ITERATIONS;
}

/*
 * The keyslot of token the secret opens, checked before the buffer goes back
 * to libcryptsetup (which then tries the same keyslots itself): -1 when none
 * of them does.  crypt_activate_by_passphrase without a name only checks:
 * with libcryptsetup 2.6 that is LUKS2_keyslot_open on the header already
 * loaded in cd (no reload, so the token list libcryptsetup is walking stays
 * valid; no device, no volume key in the keyring, nothing handed to us).
 * Checked as libcryptsetup's token open tries them: in the token's order,
 * bound to the volume's segment (the check refuses an unbound one, as the
 * open does), priority "ignore" left out (not tried for CRYPT_ANY_TOKEN,
 * which systemd-cryptsetup uses).  A keyslot whose PBKDF is not cheap
 * (cheap_keyslot) is not checked: its open goes unrecorded, never recorded
 * falsely.
 */
static int opened_keyslot(struct crypt_device *cd, int token, const struct skr_token *t,
			  const char *secret, size_t len)
{
	size_t i, tried = 0, skipped = 0;

	for (i = 0; i < t->n_keyslots; i++) {
		int slot = t->keyslots[i];

		if (crypt_keyslot_get_priority(cd, slot) == CRYPT_SLOT_PRIORITY_IGNORE)
			continue;
		if (!cheap_keyslot(cd, slot)) {
			crypt_logf(cd, CRYPT_LOG_DEBUG,
				   "skr: keyslot %d not checked: its PBKDF costs more than enroll's", slot);
			skipped++;
			continue;
		}
		tried++;
		if (crypt_activate_by_passphrase(cd, NULL, slot, secret, len, 0) >= 0)
			return slot;
	}
	if (tried && !skipped)
		crypt_logf(cd, CRYPT_LOG_ERROR, "skr: key %s opens none of token %d's keyslots",
			   t->key_id, token);
	return -1;
}

/*
 * The process that loaded us (systemd-cryptsetup, cryptsetup) is about to
 * hold the released key, and after it the volume key: it becomes
 * non-dumpable (no core file, no ptrace by other users) and stays so.
 * Restoring the old state after we return would be unsafe: the key lives on
 * in the buffer we hand over and in libcryptsetup's copy of the volume key
 * until the process ends, and these one-shot unlock processes lose nothing
 * by not dumping core.  A failure is logged, not fatal.
 */
static void no_core_dumps(struct crypt_device *cd)
{
	if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0 && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		crypt_logf(cd, CRYPT_LOG_ERROR, "skr: warning: cannot disable core dumps: %s",
			   strerror(errno));
}

/* The token's JSON, parsed: 0, or the errno libcryptsetup is told. */
static int load_token(struct crypt_device *cd, int token, struct skr_token *t)
{
	struct skr_err err = { 0 };
	const char *json = NULL;

	if (crypt_token_json_get(cd, token, &json) < 0) {
		crypt_logf(cd, CRYPT_LOG_DEBUG, "skr: cannot read token %d", token);
		return -ENOENT;
	}
	if (skr_token_parse(json, t, &err) < 0) {
		skr_sanitize_inplace(err.detail, sizeof(err.detail));
		crypt_logf(cd, CRYPT_LOG_ERROR, "skr: token %d: %s", token, err.detail);
		return errno_for(err.reason);
	}
	if (t->v1_ignored)
		crypt_logf(cd, CRYPT_LOG_DEBUG, "skr: token %d: " SKR_TOKEN_V1_NOTICE, token);
	return 0;
}

/*
 * The secret from the brokers the client configuration names, else from the
 * local copy: 0 with *method set, or the errno libcryptsetup is told.
 */
static int obtain_secret(struct crypt_device *cd, int token, const struct skr_token *t,
			 unsigned timeout_s, uint8_t *secret, size_t *len, const char **method)
{
	struct skr_err err = { 0 }, cerr = { 0 };
	struct skr_client_config cfg;
	struct skr_release_opts o;
	char line[700];
	int r;

	*method = "local";
	if (skr_client_config_load(skr_client_config_path(NULL), &cfg, &cerr) < 0) {
		/* No endpoints, no release; the local copy needs no broker (default TPM). */
		skr_sanitize_inplace(cerr.detail, sizeof(cerr.detail));
		crypt_logf(cd, CRYPT_LOG_ERROR, "skr: %s (%s)", cerr.detail, skr_reason_name(cerr.reason));
		r = cerr.reason == SKR_R_nomem ? -ENOMEM : -ENOENT;
		return t->local && try_local(cd, t, NULL, secret, len) == 0 ? 0 : r;
	}
	skr_token_release_opts(t, &cfg, timeout_s, &o);
	/* With a local copy, no long wait for the brokers (luks/local_copy.h). */
	if (t->local && o.deadline_ms > SKR_LOCAL_BROKER_WAIT_S * 1000u)
		o.deadline_ms = SKR_LOCAL_BROKER_WAIT_S * 1000u;
	crypt_logf(cd, CRYPT_LOG_DEBUG, "skr: asking %s%s for key %s (token %d, %u s; %s)",
		   o.brokers[0], o.n_brokers > 1 ? " and others" : "", t->key_id, token,
		   o.deadline_ms / 1000u, cfg.path);
	r = 0;
	if (skr_release(&o, secret, len, NULL, &err) == 0) {
		crypt_logf(cd, CRYPT_LOG_NORMAL, "skr: key %s released\n", t->key_id);
		*method = "attestation";
	} else {
		/* The detail quotes the broker: no control byte reaches the console or journal. */
		skr_sanitize_inplace(err.detail, sizeof(err.detail));
		skr_describe_failure(&err, o.brokers[0], line, sizeof(line));
		skr_sanitize_inplace(line, sizeof(line));
		crypt_logf(cd, CRYPT_LOG_ERROR, "skr: %s", line);
		crypt_logf(cd, CRYPT_LOG_DEBUG, "skr: %s", err.detail);
		/* No broker released it: the local offline copy, when there is one. */
		if (!t->local || try_local(cd, t, cfg.tcti, secret, len) < 0)
			r = errno_for(err.reason);
	}
	skr_client_config_free(&cfg);
	return r;
}

int cryptsetup_token_open(struct crypt_device *cd, int token, char **buffer, size_t *buffer_len,
			  void *usrptr)
{
	_cleanup_(skr_token_free) struct skr_token t = { 0 };
	struct skr_cmdline cmd;
	const char *method;
	uint8_t *secret;
	char *out;
	size_t len = 0;
	int r, slot;

	(void)usrptr;
	*buffer = NULL;
	*buffer_len = 0;
	if ((r = load_token(cd, token, &t)) < 0)
		return r;
	/* The boot's kernel command line rules here as in skr-unlock: rd.skr=0
	 * skips the release (the caller asks for the passphrase at once) and
	 * rd.skr.timeout= replaces the token's deadline. */
	skr_cmdline_read(NULL, &cmd);
	if (cmd.disabled) {
		crypt_logf(cd, CRYPT_LOG_NORMAL, "skr: attested release disabled (rd.skr=0)\n");
		return -ENOENT;
	}
	no_core_dumps(cd);
	secret = skr_secret_alloc(SKR_RELEASE_MAX_SECRET);
	if (!secret)
		return -ENOMEM;
	if (skr_secret_lock_failed())
		crypt_logf(cd, CRYPT_LOG_ERROR, "skr: warning: cannot lock memory: the key may be swapped");
	r = obtain_secret(cd, token, &t, cmd.timeout, secret, &len, &method);
	/* A secret of its own, which buffer_free wipes whole (it knows its size). */
	out = r == 0 ? skr_secret_dup(secret, len) : NULL;
	skr_secret_free(secret);
	if (r < 0)
		return r;
	if (!out)
		return -ENOMEM;
	*buffer = out;
	*buffer_len = len;
	/* A secret that opens nothing is still handed over: libcryptsetup's own
	 * try then fails with -EPERM ("the token's passphrase opens no keyslot"). */
	slot = opened_keyslot(cd, token, &t, out, len);
	if (slot >= 0)
		crypt_logf(cd, CRYPT_LOG_NORMAL, "skr: keyslot %d opened with key %s (method=%s)\n",
			   slot, t.key_id, method);
	return 0;
}

void cryptsetup_token_buffer_free(void *buffer, size_t buffer_len)
{
	(void)buffer_len;	/* the secret's own size is wiped, whatever the caller says */
	skr_secret_free(buffer);
}

int cryptsetup_token_validate(struct crypt_device *cd, const char *json)
{
	struct skr_err err = { 0 };
	struct skr_token t;

	if (skr_token_parse(json, &t, &err) < 0) {
		crypt_logf(cd, CRYPT_LOG_ERROR, "skr: invalid token: %s (%s)", err.detail,
			   skr_reason_name(err.reason));
		return -EINVAL;
	}
	skr_token_free(&t);
	return 0;
}

/* One dump line; the header's text is the attacker's: sanitised. */
static void dump_line(struct crypt_device *cd, const char *label, const char *value)
{
	char safe[512];

	crypt_logf(cd, CRYPT_LOG_NORMAL, "\tskr %-8s %s\n", label,
		   skr_sanitize_text(value, SIZE_MAX, safe, sizeof(safe)));
}

/*
 * The token's own fields, then where the endpoints come from: the client
 * configuration (its brokers, when it loads), never the token.
 */
void cryptsetup_token_dump(struct crypt_device *cd, const char *json)
{
	struct skr_err err = { 0 };
	struct skr_client_config cfg;
	struct skr_token t;
	char pcrs[96] = "", line[64];
	size_t i, used = 0;

	if (skr_token_parse(json, &t, &err) < 0) {
		skr_sanitize_inplace(err.detail, sizeof(err.detail));
		crypt_logf(cd, CRYPT_LOG_ERROR, "\tinvalid skr token: %s", err.detail);
		return;
	}
	snprintf(line, sizeof(line), "%u", t.version);
	dump_line(cd, "version:", line);
	dump_line(cd, "key id:", t.key_id);
	for (i = 0; i < 24; i++)
		if (t.pcr_mask & (1u << i) && used < sizeof(pcrs))
			used += (size_t)snprintf(pcrs + used, sizeof(pcrs) - used, "%s%zu",
						 used ? "," : "", i);
	dump_line(cd, "PCRs:", used ? pcrs : "(as the broker asks)");
	snprintf(line, sizeof(line), "%u s", t.timeout);
	dump_line(cd, "timeout:", line);
	if (t.local) {
		snprintf(line, sizeof(line), "offline copy, %zu signed policies", t.local->n_policies);
		dump_line(cd, "local:", line);
	}
	if (t.v1_ignored)
		dump_line(cd, "notice:", SKR_TOKEN_V1_NOTICE);
	if (skr_client_config_load(skr_client_config_path(NULL), &cfg, &err) < 0) {
		skr_sanitize_inplace(err.detail, sizeof(err.detail));
		crypt_logf(cd, CRYPT_LOG_NORMAL, "\tskr brokers: from the client configuration: %s (%s)\n",
			   err.detail, skr_reason_name(err.reason));
	} else {
		const struct skr_client_endpoints *ep = skr_client_config_for_key(&cfg, t.key_id);

		for (i = 0; i < ep->n_brokers; i++)
			crypt_logf(cd, CRYPT_LOG_NORMAL, "\tskr broker:  %s (from %s)\n", ep->brokers[i],
				   cfg.path);
		crypt_logf(cd, CRYPT_LOG_NORMAL, "\tskr CA:      %s (from %s)\n", ep->ca_file, cfg.path);
		skr_client_config_free(&cfg);
	}
	skr_token_free(&t);
}

const char *cryptsetup_token_version(void)
{
	return "skr " SKR_VERSION;
}
