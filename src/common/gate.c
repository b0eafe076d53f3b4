/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The boot gate's pure half (gate.h): event strings, their replay into a PCR
 * value, the broker's two checks and the reading of the gate log.  Nothing
 * here talks to a TPM (gate_measure.c does), so verifiers link it alone.
 *
 * Everything the client sends is bounded before it is hashed or compared,
 * and a refusal's detail names the condition that failed, never the client's
 * text: the detail lands in audit rows and on consoles.
 */
#include "common/gate.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/util.h"

#define NAME_MAX_LEN 128	/* a key id ([A-Za-z0-9._-]{1,128}) or a dm uuid (DM_UUID_LEN - 1) */
#define LOG_MAX_BYTES (SKR_GATE_LOG_MAX * (SKR_GATE_EVENT_MAX + 1))

#define EV_PREFIX "skr/v1 "
#define EV_HANDOVER EV_PREFIX "handover"
#define EV_PASSPHRASE EV_PREFIX "opened method=passphrase"

static bool name_valid(const char *s)
{
	size_t n;

	if (!s)
		return false;
	for (n = 0; s[n]; n++) {
		char c = s[n];

		if (n >= NAME_MAX_LEN ||
		    !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return n > 0;
}

/* One event string, printable ASCII of 1..SKR_GATE_EVENT_MAX bytes (a log line). */
bool skr_gate_event_valid(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > SKR_GATE_EVENT_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

__attribute__((format(printf, 3, 4))) static int event_format(char *buf, size_t size,
								 const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size || n > SKR_GATE_EVENT_MAX) {
		if (size)
			buf[0] = '\0';
		return -1;
	}
	return 0;
}

int skr_gate_event_opened(char *buf, size_t size, const char *key_id, const char *method,
			  struct skr_err *err)
{
	if (!name_valid(key_id))
		return skr_fail(err, SKR_R_usage, "the key id is not [A-Za-z0-9._-]{1,%d}",
				NAME_MAX_LEN);
	if (!method || (strcmp(method, SKR_GATE_METHOD_ATTESTATION) &&
			strcmp(method, SKR_GATE_METHOD_LOCAL)))
		return skr_fail(err, SKR_R_usage, "the open method is not \"%s\" or \"%s\"",
				SKR_GATE_METHOD_ATTESTATION, SKR_GATE_METHOD_LOCAL);
	if (event_format(buf, size, EV_PREFIX "opened key=%s method=%s", key_id, method) < 0)
		return skr_fail(err, SKR_R_usage, "the gate event does not fit its buffer");
	return 0;
}

int skr_gate_event_passphrase(char *buf, size_t size)
{
	return event_format(buf, size, "%s", EV_PASSPHRASE);
}

int skr_gate_event_other(char *buf, size_t size, const char *dm_uuid, struct skr_err *err)
{
	if (!name_valid(dm_uuid))
		return skr_fail(err, SKR_R_usage, "the dm uuid is not [A-Za-z0-9._-]{1,%d}",
				NAME_MAX_LEN);
	if (event_format(buf, size, EV_PREFIX "opened-other uuid=%s", dm_uuid) < 0)
		return skr_fail(err, SKR_R_usage, "the gate event does not fit its buffer");
	return 0;
}

int skr_gate_event_handover(char *buf, size_t size)
{
	return event_format(buf, size, "%s", EV_HANDOVER);
}

/* The hash of a PCR bank; only the four banks a TPM 2.0 allocates in practice. */
static const EVP_MD *bank_md(uint16_t alg)
{
	switch (alg) {
	case 0x0004: return EVP_sha1();
	case 0x000B: return EVP_sha256();
	case 0x000C: return EVP_sha384();
	case 0x000D: return EVP_sha512();
	default: return NULL;
	}
}

static int digest(const EVP_MD *md, const void *a, size_t a_len, const void *b, size_t b_len,
		  uint8_t *out, struct skr_err *err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestInit_ex(ctx, md, NULL) == 1 &&
		 EVP_DigestUpdate(ctx, a, a_len) == 1 &&
		 (!b_len || EVP_DigestUpdate(ctx, b, b_len) == 1) &&
		 EVP_DigestFinal_ex(ctx, out, NULL) == 1;

	EVP_MD_CTX_free(ctx);
	return ok ? 0 : skr_fail(err, SKR_R_nomem, "digest failure");
}

int skr_gate_replay(uint16_t alg, const char *const *events, size_t n, uint8_t *out,
		    size_t *out_len, struct skr_err *err)
{
	const EVP_MD *md = bank_md(alg);
	uint8_t ev_digest[EVP_MAX_MD_SIZE];
	size_t size, i;

	if (!md)
		return skr_fail(err, SKR_R_unsupported, "PCR bank 0x%04x is not sha1/256/384/512",
				alg);
	size = (size_t)EVP_MD_get_size(md);
	memset(out, 0, size);
	for (i = 0; i < n; i++) {
		/* TPM2_PCR_Event: PCR = H(PCR || H(event)), the event without a terminator. */
		if (digest(md, events[i], strlen(events[i]), NULL, 0, ev_digest, err) < 0 ||
		    digest(md, out, size, ev_digest, size, out, err) < 0)
			return -1;
	}
	*out_len = size;
	return 0;
}

/* PCR 15 of bank alg from the quoted values, or NULL when it is not among them. */
static const uint8_t *gate_value(const struct skr_pcr_banks *quoted, uint16_t alg, size_t *size)
{
	const struct skr_pcr_bank *bank = quoted ? skr_pcr_banks_find(quoted, alg) : NULL;

	if (!bank || !(bank->extended_mask & (1u << SKR_GATE_PCR)))
		return NULL;
	*size = bank->size;
	return bank->value[SKR_GATE_PCR];
}

int skr_gate_check_initial(const struct skr_pcr_banks *quoted, uint16_t alg, struct skr_err *err)
{
	const char *name = skr_tpm_alg_name(alg) ? skr_tpm_alg_name(alg) : "?";
	const uint8_t *v;
	size_t size = 0;

	v = gate_value(quoted, alg, &size);
	if (!v)
		return skr_fail(err, SKR_R_boot_gate_closed,
				"the evidence has no %s PCR 15 (the boot gate) value", name);
	if (!skr_is_zero(v, size))
		return skr_fail(err, SKR_R_boot_gate_closed,
				"PCR 15 (the boot gate) is not in its initial state: a volume was "
				"already opened in this boot, or the boot has left the initramfs");
	return 0;
}

/* Names a first event without echoing it: the client chose it. */
static const char *describe_event(const char *ev, const char *key_id)
{
	size_t klen = strlen(key_id);

	if (!strcmp(ev, EV_PASSPHRASE))
		return "a volume opened by a passphrase";
	if (!strcmp(ev, EV_HANDOVER))
		return "the handover, with no volume opened before it";
	if (!strncmp(ev, EV_PREFIX "opened-other ", sizeof(EV_PREFIX "opened-other ") - 1))
		return "a volume that skr did not open";
	if (!strncmp(ev, EV_PREFIX "opened key=", sizeof(EV_PREFIX "opened key=") - 1)) {
		const char *k = ev + sizeof(EV_PREFIX "opened key=") - 1;

		if (strncmp(k, key_id, klen) || k[klen] != ' ')
			return "another key's volume";
		if (!strcmp(k + klen, " method=" SKR_GATE_METHOD_LOCAL))
			return "this key's volume opened by the local copy";
	}
	return "an event skr does not know";
}

/* The log's strings, checked for shape; *n their number. */
static int events_array(json_object *events, const char **out, size_t *n, struct skr_err *err)
{
	size_t i, count;

	if (!events)
		return skr_fail(err, SKR_R_boot_gate_unexpected,
				"the request carries no \"gate_events\" (the boot gate log)");
	if (!json_object_is_type(events, json_type_array))
		return skr_fail(err, SKR_R_boot_gate_unexpected,
				"\"gate_events\" is not an array of strings");
	count = json_object_array_length(events);
	if (count > SKR_GATE_LOG_MAX)
		return skr_fail(err, SKR_R_boot_gate_unexpected,
				"\"gate_events\" holds more than %d events", SKR_GATE_LOG_MAX);
	for (i = 0; i < count; i++) {
		json_object *e = json_object_array_get_idx(events, i);

		if (!json_object_is_type(e, json_type_string) ||
		    !skr_gate_event_valid(json_object_get_string(e), (size_t)json_object_get_string_len(e)) ||
		    strlen(json_object_get_string(e)) != (size_t)json_object_get_string_len(e))
			return skr_fail(err, SKR_R_boot_gate_unexpected,
					"\"gate_events\" item %zu is not printable text of 1..%d "
					"bytes", i, SKR_GATE_EVENT_MAX);
		out[i] = json_object_get_string(e);
	}
	*n = count;
	return 0;
}

int skr_gate_check_attested_open(const struct skr_pcr_banks *quoted, uint16_t alg,
				 const char *key_id, json_object *events, struct skr_err *err)
{
	const char *ev[SKR_GATE_LOG_MAX];
	char opened[SKR_GATE_EVENT_MAX + 1];
	uint8_t replay[EVP_MAX_MD_SIZE];
	size_t n = 0, size = 0, replay_len = 0;
	const uint8_t *v = gate_value(quoted, alg, &size);
	struct skr_err ignored = { 0 };

	if (!v)
		return skr_fail(err, SKR_R_boot_gate_unexpected,
				"the evidence has no %s PCR 15 (the boot gate) value",
				skr_tpm_alg_name(alg) ? skr_tpm_alg_name(alg) : "?");
	if (events_array(events, ev, &n, err) < 0)
		return -1;
	if (skr_gate_replay(alg, ev, n, replay, &replay_len, err) < 0)
		return -1;
	if (replay_len != size || CRYPTO_memcmp(replay, v, size) != 0)
		return skr_fail(err, SKR_R_boot_gate_unexpected,
				"the gate log (%zu events) does not replay to the quoted PCR 15", n);
	if (skr_gate_event_opened(opened, sizeof(opened), key_id, SKR_GATE_METHOD_ATTESTATION,
				  &ignored) < 0)
		return skr_fail(err, SKR_R_boot_gate_unexpected,
				"the key id cannot name a gate event");
	if (n == 0)
		return skr_fail(err, SKR_R_boot_gate_unexpected,
				"PCR 15 (the boot gate) is in its initial state: this boot has not "
				"left the initramfs through skr's handover");
	if (strcmp(ev[0], opened))
		return skr_fail(err, SKR_R_boot_gate_unexpected,
				"the first volume this boot opened is not key %s's opened by an "
				"attested release, but %s", key_id, describe_event(ev[0], key_id));
	if (n < 2 || strcmp(ev[1], EV_HANDOVER))
		return skr_fail(err, SKR_R_boot_gate_unexpected,
				"after key %s's volume, this boot %s before the handover", key_id,
				n < 2 ? "has not recorded the handover" : "opened another volume");
	return 0;
}

/* ---- The gate log ---------------------------------------------------------- */

static int read_log(int fd, const char *path, struct skr_buf *out, struct skr_err *err)
{
	struct stat st;
	ssize_t got;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return skr_fail(err, SKR_R_malformed, "the gate log %s is not a regular file", path);
	if (st.st_size > LOG_MAX_BYTES)
		return skr_fail(err, SKR_R_malformed, "the gate log %s is larger than %d bytes",
				path, LOG_MAX_BYTES);
	out->data = malloc(LOG_MAX_BYTES + 1);
	if (!out->data)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	out->len = 0;
	/* Read to the end (not st_size): a file that grows past the bound is refused too. */
	while ((got = read(fd, out->data + out->len, LOG_MAX_BYTES + 1 - out->len)) > 0)
		if ((out->len += (size_t)got) > LOG_MAX_BYTES)
			return skr_fail(err, SKR_R_malformed, "the gate log %s is larger than %d bytes",
					path, LOG_MAX_BYTES);
	if (got < 0)
		return skr_fail(err, SKR_R_io, "cannot read the gate log %s: %s", path,
				strerror(errno));
	return 0;
}

static int parse_log(const struct skr_buf *text, const char *path, json_object *arr,
		     struct skr_err *err)
{
	size_t pos = 0, line = 0;

	while (pos < text->len) {
		const char *s = (const char *)text->data + pos;
		const char *nl = memchr(s, '\n', text->len - pos);
		size_t len = nl ? (size_t)(nl - s) : text->len - pos;

		line++;
		if (!nl)
			return skr_fail(err, SKR_R_malformed,
					"the gate log %s ends inside line %zu (no newline)", path, line);
		if (line > SKR_GATE_LOG_MAX)
			return skr_fail(err, SKR_R_malformed, "the gate log %s holds more than %d events",
					path, SKR_GATE_LOG_MAX);
		if (!skr_gate_event_valid(s, len))
			return skr_fail(err, SKR_R_malformed,
					"line %zu of the gate log %s is not printable text of 1..%d bytes",
					line, path, SKR_GATE_EVENT_MAX);
		json_object_array_add(arr, json_object_new_string_len(s, (int)len));
		pos += len + 1;
	}
	return 0;
}

const char *skr_gate_log_path(void)
{
	const char *p = getenv("SKR_GATE_LOG");

	return p && *p ? p : SKR_GATE_LOG_DEFAULT;
}

int skr_gate_log_read(const char *path, json_object **events, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf text = { 0 };
	json_object *arr;
	int fd, rc;

	*events = NULL;
	if (!path)
		path = skr_gate_log_path();
	arr = json_object_new_array();
	if (!arr)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT) {	/* nothing measured yet (or no skr in this boot) */
		*events = arr;
		return 0;
	}
	if (fd < 0) {
		json_object_put(arr);
		return skr_fail(err, SKR_R_io, "cannot open the gate log %s: %s", path,
				strerror(errno));
	}
	rc = read_log(fd, path, &text, err);
	close(fd);
	if (rc == 0)
		rc = parse_log(&text, path, arr, err);
	if (rc < 0) {
		json_object_put(arr);
		return -1;
	}
	*events = arr;
	return 0;
}
