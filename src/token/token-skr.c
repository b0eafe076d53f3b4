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
 * cryptsetup_token_open_pin is deliberately not exported: an skr token has no
 * PIN, and without the symbol libcryptsetup never offers a PIN prompt for it
 * (a caller that passes a PIN anyway gets "token not eligible").
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

#include <libcryptsetup.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "err.h"
#include "release_client.h"
#include "local_copy.h"
#include "token.h"
#include "util.h"
#include "../unlock/cmdline.h"
#include "../unlock/words.h"

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
 * refuses once PCR 15 moved (boot_gate_closed).
 */
static int try_local(struct crypt_device *cd, const struct skr_token *t, uint8_t *secret,
		     size_t *len)
{
	struct skr_err err = { 0 };

	crypt_logf(cd, CRYPT_LOG_NORMAL, "skr: trying the local copy of key %s in this vTPM\n",
		   t->key_id);
	if (skr_local_copy_unseal(t, NULL, secret, len, &err) < 0) {
		skr_sanitize_inplace(err.detail, sizeof(err.detail));
		crypt_logf(cd, CRYPT_LOG_ERROR, "skr: the local copy refused: %s (%s)", err.detail,
			   skr_reason_name(err.reason));
		return -1;
	}
	crypt_logf(cd, CRYPT_LOG_NORMAL, "skr: key %s unsealed from the local copy\n", t->key_id);
	return 0;
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

int cryptsetup_token_open(struct crypt_device *cd, int token, char **buffer, size_t *buffer_len,
			  void *usrptr)
{
	struct skr_err err = { 0 };
	struct skr_release_opts o;
	struct skr_cmdline cmd;
	struct skr_token t;
	const char *json = NULL;
	uint8_t *secret = NULL;
	char *out = NULL;
	size_t len = 0;
	char line[700];
	int r;

	(void)usrptr;
	*buffer = NULL;
	*buffer_len = 0;
	r = crypt_token_json_get(cd, token, &json);
	if (r < 0) {
		crypt_logf(cd, CRYPT_LOG_DEBUG, "skr: cannot read token %d", token);
		return -ENOENT;
	}
	if (skr_token_parse(json, &t, &err) < 0) {
		skr_sanitize_inplace(err.detail, sizeof(err.detail));
		crypt_logf(cd, CRYPT_LOG_ERROR, "skr: token %d: %s", token, err.detail);
		return errno_for(err.reason);
	}
	/* The boot's kernel command line rules here as in skr-unlock: rd.skr=0
	 * skips the release (the caller asks for the passphrase at once) and
	 * rd.skr.timeout= replaces the token's deadline. */
	skr_cmdline_read(NULL, &cmd);
	if (cmd.disabled) {
		crypt_logf(cd, CRYPT_LOG_NORMAL, "skr: attested release disabled (rd.skr=0)\n");
		skr_token_free(&t);
		return -ENOENT;
	}
	skr_token_release_opts(&t, cmd.timeout, &o);
	crypt_logf(cd, CRYPT_LOG_DEBUG, "skr: asking %s%s for key %s (token %d, %u s)",
		   skr_sanitize_text(t.brokers[0], SIZE_MAX, line, sizeof(line)),
		   t.n_brokers > 1 ? " and others" : "", t.key_id, token, t.timeout);
	no_core_dumps(cd);
	secret = skr_secret_alloc(SKR_RELEASE_MAX_SECRET);
	if (!secret) {
		r = -ENOMEM;
		goto out;
	}
	if (skr_secret_lock_failed())
		crypt_logf(cd, CRYPT_LOG_ERROR, "skr: warning: cannot lock memory: the key may be swapped");
	if (skr_release(&o, secret, &len, NULL, &err) < 0) {
		/* The detail quotes the broker: no control byte reaches the console or journal. */
		skr_sanitize_inplace(err.detail, sizeof(err.detail));
		skr_describe_failure(&err, t.brokers[0], line, sizeof(line));
		skr_sanitize_inplace(line, sizeof(line));
		crypt_logf(cd, CRYPT_LOG_ERROR, "skr: %s", line);
		crypt_logf(cd, CRYPT_LOG_DEBUG, "skr: %s", err.detail);
		r = errno_for(err.reason);
		/* No broker released it: the local offline copy, when there is one. */
		if (!t.local || try_local(cd, &t, secret, &len) < 0)
			goto out;
	}
	/* Exactly len bytes, so that buffer_free (which gets the length) wipes them all. */
	out = skr_secret_alloc(len);
	if (!out) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(out, secret, len);
	*buffer = out;
	*buffer_len = len;
	crypt_logf(cd, CRYPT_LOG_NORMAL, "skr: key %s released\n", t.key_id);
	r = 0;
out:
	skr_secret_free(secret, SKR_RELEASE_MAX_SECRET);
	skr_token_free(&t);
	return r;
}

void cryptsetup_token_buffer_free(void *buffer, size_t buffer_len)
{
	skr_secret_free(buffer, buffer_len);
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

/* The CA's subject, one line; "?" when it does not parse. */
static void ca_subject(const char *pem, char *out, size_t n)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	char *s = x ? X509_NAME_oneline(X509_get_subject_name(x), NULL, 0) : NULL;

	snprintf(out, n, "%s", s ? s : "?");
	OPENSSL_free(s);
	X509_free(x);
	BIO_free(bio);
}

/* One dump line; the header's text is the attacker's: sanitised. */
static void dump_line(struct crypt_device *cd, const char *label, const char *value)
{
	char safe[512];

	crypt_logf(cd, CRYPT_LOG_NORMAL, "\tskr %-8s %s\n", label,
		   skr_sanitize_text(value, SIZE_MAX, safe, sizeof(safe)));
}

void cryptsetup_token_dump(struct crypt_device *cd, const char *json)
{
	struct skr_err err = { 0 };
	struct skr_token t;
	char pcrs[96] = "", subject[256], timeout[32];
	size_t i, used = 0;

	if (skr_token_parse(json, &t, &err) < 0) {
		skr_sanitize_inplace(err.detail, sizeof(err.detail));
		crypt_logf(cd, CRYPT_LOG_ERROR, "\tinvalid skr token: %s", err.detail);
		return;
	}
	dump_line(cd, "key id:", t.key_id);
	for (i = 0; i < t.n_brokers; i++)
		dump_line(cd, "broker:", t.brokers[i]);
	for (i = 0; i < 24; i++)
		if (t.pcr_mask & (1u << i) && used < sizeof(pcrs))
			used += (size_t)snprintf(pcrs + used, sizeof(pcrs) - used, "%s%zu",
						 used ? "," : "", i);
	dump_line(cd, "PCRs:", used ? pcrs : "(as the broker asks)");
	snprintf(timeout, sizeof(timeout), "%u s", t.timeout);
	dump_line(cd, "timeout:", timeout);
	ca_subject(t.ca_pem, subject, sizeof(subject));
	dump_line(cd, "CA:", subject);
	if (t.tcti)
		dump_line(cd, "TCTI:", t.tcti);
	if (t.vcek)
		dump_line(cd, "VCEK:", t.vcek);
	skr_token_free(&t);
}

const char *cryptsetup_token_version(void)
{
	return "skr " SKR_VERSION;
}
