/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TCG PC Client event log parser and PCR replay.  Layouts, all little-endian:
 *
 *   TCG_PCClientPCREvent (SHA-1 format; every record of a SHA-1 log, and the
 *   first record of a crypto-agile log):
 *     u32 pcrIndex, u32 eventType, u8 digest[20], u32 eventDataSize, data
 *
 *   TCG_PCR_EVENT2 (every later record of a crypto-agile log):
 *     u32 pcrIndex, u32 eventType, u32 count,
 *     count x { u16 algorithmId, u8 digest[size from the Spec ID table] },
 *     u32 eventSize, data
 *
 *   TCG_EfiSpecIdEvent (data of the first record of a crypto-agile log):
 *     char signature[16] = "Spec ID Event03", u32 platformClass,
 *     u8 specVersionMinor, u8 specVersionMajor, u8 specErrata, u8 uintnSize,
 *     u32 numberOfAlgorithms, numberOfAlgorithms x { u16 algorithmId,
 *     u16 digestSize }, u8 vendorInfoSize, u8 vendorInfo[vendorInfoSize]
 */
#include "verify/eventlog.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

_Static_assert(SKR_EVENTLOG_MAX_ALGS <= SKR_PCR_MAX_BANKS, "a bank for every algorithm of a log");

/* ---- Reading records ---------------------------------------------------- */

/* A read position in the log, and which record it is in (for error details). */
struct cursor {
	const uint8_t *data;
	size_t len;
	size_t pos;
	size_t index;	/* of the record being read */
	size_t start;	/* offset at which that record begins */
};

static int cursor_fail(const struct cursor *c, struct skr_err *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int cursor_fail(const struct cursor *c, struct skr_err *err, const char *fmt, ...)
{
	char what[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return skr_fail(err, SKR_R_malformed, "event %zu at offset 0x%zx: %s", c->index, c->start,
			what);
}

static size_t cursor_left(const struct cursor *c)
{
	return c->len - c->pos;
}

/* Takes a fixed-size field. */
static int take(struct cursor *c, size_t n, const char *what, const uint8_t **out,
		struct skr_err *err)
{
	if (cursor_left(c) < n)
		return cursor_fail(c, err, "truncated in the %s at offset 0x%zx (needs %zu bytes, %zu left)",
				   what, c->pos, n, cursor_left(c));
	*out = c->data + c->pos;
	c->pos += n;
	return 0;
}

/* Takes a field whose size the log itself declares. */
static int take_declared(struct cursor *c, uint32_t n, const char *what, const uint8_t **out,
			 struct skr_err *err)
{
	if (cursor_left(c) < n)
		return cursor_fail(c, err, "%s size %" PRIu32 " exceeds the %zu bytes left", what, n,
				   cursor_left(c));
	*out = c->data + c->pos;
	c->pos += n;
	return 0;
}

static int take_u8(struct cursor *c, const char *what, uint8_t *v, struct skr_err *err)
{
	const uint8_t *p = NULL;

	if (take(c, 1, what, &p, err) < 0)
		return -1;
	*v = p[0];
	return 0;
}

static int take_u16(struct cursor *c, const char *what, uint16_t *v, struct skr_err *err)
{
	const uint8_t *p = NULL;

	if (take(c, 2, what, &p, err) < 0)
		return -1;
	*v = skr_le16(p);
	return 0;
}

static int take_u32(struct cursor *c, const char *what, uint32_t *v, struct skr_err *err)
{
	const uint8_t *p = NULL;

	if (take(c, 4, what, &p, err) < 0)
		return -1;
	*v = skr_le32(p);
	return 0;
}

static int take_event_data(struct cursor *c, struct skr_eventlog_event *ev, struct skr_err *err)
{
	uint32_t size;

	if (take_u32(c, "event data size", &size, err) < 0 ||
	    take_declared(c, size, "event data", &ev->data, err) < 0)
		return -1;
	ev->data_len = size;
	return 0;
}

/* One TCG_PCClientPCREvent. */
static int read_sha1_event(struct cursor *c, struct skr_eventlog_event *ev, struct skr_err *err)
{
	const uint8_t *digest = NULL;

	if (take_u32(c, "PCR index", &ev->pcr, err) < 0 ||
	    take_u32(c, "event type", &ev->type, err) < 0 ||
	    take(c, 20, "SHA-1 digest", &digest, err) < 0)
		return -1;
	ev->digests[0] = (struct skr_eventlog_digest){ SKR_TPM_ALG_SHA1, 20, digest };
	ev->digest_count = 1;
	return take_event_data(c, ev, err);
}

static const struct skr_eventlog_alg *log_alg_find(const struct skr_eventlog *log, uint16_t alg)
{
	size_t i;

	for (i = 0; i < log->alg_count; i++)
		if (log->algs[i].alg == alg)
			return &log->algs[i];
	return NULL;
}


/* One { algorithmId, digest } of a TCG_PCR_EVENT2; its size is the Spec ID table's. */
static int read_agile_digest(struct cursor *c, const struct skr_eventlog *log,
			     struct skr_eventlog_event *ev, struct skr_err *err)
{
	struct skr_eventlog_digest *d = &ev->digests[ev->digest_count];
	const struct skr_eventlog_alg *row;
	char label[8];

	if (take_u16(c, "digest algorithm", &d->alg, err) < 0)
		return -1;
	skr_tpm_alg_label(d->alg, label);
	row = log_alg_find(log, d->alg);
	if (!row)
		return cursor_fail(c, err, "digest %zu uses algorithm %s, which the Spec ID event does not list",
				   ev->digest_count, label);
	if (skr_eventlog_event_digest(ev, d->alg))
		return cursor_fail(c, err, "digest %zu repeats algorithm %s", ev->digest_count, label);
	d->size = row->size;
	if (take(c, row->size, "digest", &d->value, err) < 0)
		return -1;
	ev->digest_count++;
	return 0;
}

/* One TCG_PCR_EVENT2. */
static int read_agile_event(struct cursor *c, const struct skr_eventlog *log,
			    struct skr_eventlog_event *ev, struct skr_err *err)
{
	uint32_t count, i;

	if (take_u32(c, "PCR index", &ev->pcr, err) < 0 ||
	    take_u32(c, "event type", &ev->type, err) < 0 ||
	    take_u32(c, "digest count", &count, err) < 0)
		return -1;
	/* Each algorithm appears at most once, so this also bounds digests[]. */
	if (count > log->alg_count)
		return cursor_fail(c, err, "digest count %" PRIu32 " exceeds the %zu algorithms of the Spec ID event",
				   count, log->alg_count);
	for (i = 0; i < count; i++)
		if (read_agile_digest(c, log, ev, err) < 0)
			return -1;
	return take_event_data(c, ev, err);
}

/* ---- The first record: Spec ID event or a plain SHA-1 event ------------- */

static const char spec_id_prefix[] = "Spec ID Event";	/* 13 bytes, then "NN\0" */
#define SPEC_ID_SIGNATURE_LEN 16

static bool claims_spec_id(const struct skr_eventlog_event *ev)
{
	return ev->data_len >= SPEC_ID_SIGNATURE_LEN &&
	       !memcmp(ev->data, spec_id_prefix, sizeof(spec_id_prefix) - 1);
}

static bool signature_is(const struct skr_eventlog_event *ev, const char *version)
{
	return !memcmp(ev->data + sizeof(spec_id_prefix) - 1, version, 3);
}

static int read_spec_id_alg(struct cursor *c, struct skr_eventlog *log, struct skr_err *err)
{
	struct skr_eventlog_alg *row = &log->algs[log->alg_count];
	size_t known;
	char label[8];

	if (take_u16(c, "Spec ID algorithm id", &row->alg, err) < 0 ||
	    take_u16(c, "Spec ID digest size", &row->size, err) < 0)
		return -1;
	skr_tpm_alg_label(row->alg, label);
	known = skr_tpm_alg_digest_size(row->alg);
	if (row->size == 0)
		return cursor_fail(c, err, "Spec ID event gives %s a digest size of 0", label);
	if (known && row->size != known)
		return cursor_fail(c, err, "Spec ID event gives %s a digest size of %u, not %zu", label,
				   row->size, known);
	if (log_alg_find(log, row->alg))
		return cursor_fail(c, err, "Spec ID event lists %s twice", label);
	log->alg_count++;
	return 0;
}

/* Reads the algorithm table of a "Spec ID Event03" (TCG_EfiSpecIdEvent). */
static int read_spec_id(const struct cursor *outer, const struct skr_eventlog_event *ev,
			struct skr_eventlog *log, struct skr_err *err)
{
	/* Reads only within the event data, with offsets still relative to the log. */
	size_t data_pos = (size_t)(ev->data - outer->data);
	struct cursor c = { outer->data, data_pos + ev->data_len, data_pos, ev->index, outer->start };
	const uint8_t *skip = NULL;
	uint32_t count, i;
	uint8_t vendor_size;

	if (take(&c, SPEC_ID_SIGNATURE_LEN, "Spec ID signature", &skip, err) < 0 ||
	    take(&c, 8, "Spec ID platform class and version", &skip, err) < 0 ||
	    take_u32(&c, "Spec ID algorithm count", &count, err) < 0)
		return -1;
	if (count == 0)
		return cursor_fail(&c, err, "Spec ID event lists no algorithms");
	if (count > SKR_EVENTLOG_MAX_ALGS)
		return cursor_fail(&c, err, "Spec ID event lists %" PRIu32 " algorithms, more than the %d supported",
				   count, SKR_EVENTLOG_MAX_ALGS);
	for (i = 0; i < count; i++)
		if (read_spec_id_alg(&c, log, err) < 0)
			return -1;
	if (take_u8(&c, "Spec ID vendor info size", &vendor_size, err) < 0 ||
	    take_declared(&c, vendor_size, "Spec ID vendor info", &skip, err) < 0)
		return -1;
	if (cursor_left(&c))
		return cursor_fail(&c, err, "%zu unexpected bytes after the Spec ID vendor info",
				   cursor_left(&c));
	log->crypto_agile = true;
	return 0;
}

/*
 * The first record is always in SHA-1 format.  If it is a "Spec ID Event03"
 * the log is crypto-agile; if it is an older Spec ID event ("00", "02", TPM
 * 1.2 firmware) or any other event, the log is SHA-1 only.
 */
static int read_first_event(struct cursor *c, struct skr_eventlog *log,
			    struct skr_eventlog_event *ev, struct skr_err *err)
{
	if (read_sha1_event(c, ev, err) < 0)
		return -1;
	if (claims_spec_id(ev)) {
		if (ev->type != SKR_EV_NO_ACTION || ev->pcr != 0)
			return cursor_fail(c, err, "Spec ID event is not an EV_NO_ACTION in PCR 0");
		if (signature_is(ev, "03"))
			return read_spec_id(c, ev, log, err);
		if (!signature_is(ev, "00") && !signature_is(ev, "02"))
			return cursor_fail(c, err, "Spec ID signature is not \"Spec ID Event\" 00, 02 or 03");
	}
	log->algs[0] = (struct skr_eventlog_alg){ SKR_TPM_ALG_SHA1, 20 };
	log->alg_count = 1;
	return 0;
}

/* ---- The whole log ------------------------------------------------------- */

static int append_event(struct skr_eventlog *log, size_t *capacity,
			const struct skr_eventlog_event *ev, struct skr_err *err)
{
	if (log->event_count == *capacity) {
		size_t grown = *capacity ? *capacity * 2 : 64;
		struct skr_eventlog_event *events;

		if (grown > SKR_EVENTLOG_MAX_EVENTS)
			grown = SKR_EVENTLOG_MAX_EVENTS;
		events = realloc(log->events, grown * sizeof(*events));
		if (!events)
			return skr_fail(err, SKR_R_nomem, "out of memory for %zu events", grown);
		log->events = events;
		*capacity = grown;
	}
	log->events[log->event_count++] = *ev;
	return 0;
}

static int read_records(struct skr_eventlog *log, struct cursor *c, struct skr_err *err)
{
	struct skr_eventlog_event ev;
	size_t capacity = 0;

	while (c->pos < c->len) {
		c->index = log->event_count;
		c->start = c->pos;
		if (log->event_count == SKR_EVENTLOG_MAX_EVENTS)
			return cursor_fail(c, err, "the log has more than %d events",
					   SKR_EVENTLOG_MAX_EVENTS);
		memset(&ev, 0, sizeof(ev));
		ev.index = c->index;
		ev.offset = c->start;
		if (c->index == 0 ? read_first_event(c, log, &ev, err) :
		    log->crypto_agile ? read_agile_event(c, log, &ev, err) :
					read_sha1_event(c, &ev, err))
			return -1;
		if (append_event(log, &capacity, &ev, err) < 0)
			return -1;
	}
	return 0;
}

int skr_eventlog_parse(const uint8_t *data, size_t len, struct skr_eventlog **out,
		       struct skr_err *err)
{
	struct skr_eventlog *log;
	struct cursor c = { 0 };

	*out = NULL;
	if (len == 0)
		return skr_fail(err, SKR_R_malformed, "the event log is empty");
	if (len > SKR_EVENTLOG_MAX_SIZE)
		return skr_fail(err, SKR_R_malformed, "the event log is %zu bytes, more than the %u allowed",
				len, SKR_EVENTLOG_MAX_SIZE);
	log = calloc(1, sizeof(*log));
	if (!log || !(log->raw = malloc(len))) {
		free(log);
		return skr_fail(err, SKR_R_nomem, "out of memory for a %zu-byte event log", len);
	}
	memcpy(log->raw, data, len);
	log->raw_len = len;
	c.data = log->raw;
	c.len = len;
	if (read_records(log, &c, err) < 0) {
		skr_eventlog_free(log);
		return -1;
	}
	*out = log;
	return 0;
}

void skr_eventlog_free(struct skr_eventlog *log)
{
	if (!log)
		return;
	free(log->events);
	free(log->raw);
	free(log);
}

void skr_eventlog_freep(struct skr_eventlog **log)
{
	skr_eventlog_free(*log);
	*log = NULL;
}

const struct skr_eventlog_digest *skr_eventlog_event_digest(const struct skr_eventlog_event *ev,
							    uint16_t alg)
{
	size_t i;

	for (i = 0; i < ev->digest_count; i++)
		if (ev->digests[i].alg == alg)
			return &ev->digests[i];
	return NULL;
}

/* ---- Replay ------------------------------------------------------------- */

static int event_fail(const struct skr_eventlog_event *ev, struct skr_err *err, const char *fmt,
		      ...) __attribute__((format(printf, 3, 4)));

static int event_fail(const struct skr_eventlog_event *ev, struct skr_err *err, const char *fmt,
		      ...)
{
	char what[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return skr_fail(err, SKR_R_malformed, "event %zu at offset 0x%zx: %s", ev->index, ev->offset,
			what);
}

static const char startup_locality_signature[16] = "StartupLocality";

/*
 * A TPM started at locality 3 or 4 (H-CRTM) resets PCR 0 to the locality in
 * its last byte instead of zero; firmware records that as this event, which
 * is only meaningful before PCR 0's first extend.
 */
static int apply_startup_locality(struct skr_pcr_banks *banks, const struct skr_eventlog_event *ev,
				  struct skr_err *err)
{
	size_t i;

	if (ev->pcr != 0 || ev->data_len < sizeof(startup_locality_signature) ||
	    memcmp(ev->data, startup_locality_signature, sizeof(startup_locality_signature)))
		return 0;
	if (ev->data_len < sizeof(startup_locality_signature) + 1)
		return event_fail(ev, err, "StartupLocality event has no locality byte");
	for (i = 0; i < banks->count; i++) {
		struct skr_pcr_bank *bank = &banks->bank[i];

		if (bank->extended_mask & 1)
			return event_fail(ev, err, "StartupLocality event comes after PCR 0 was extended");
		memset(bank->value[0], 0, bank->size);
		bank->value[0][bank->size - 1] = ev->data[sizeof(startup_locality_signature)];
	}
	return 0;
}

/* The banks being replayed and the hash of each (same index). */
struct replay {
	struct skr_pcr_banks *banks;
	EVP_MD *md[SKR_PCR_MAX_BANKS];
};

static int replay_event(struct replay *r, const struct skr_eventlog_event *ev,
			struct skr_err *err)
{
	struct skr_pcr_banks *banks = r->banks;
	size_t i;

	if (ev->type == SKR_EV_NO_ACTION)
		return apply_startup_locality(banks, ev, err);
	if (ev->pcr >= SKR_PCR_COUNT)
		return event_fail(ev, err, "PCR index %" PRIu32 " is out of range", ev->pcr);
	for (i = 0; i < banks->count; i++) {
		struct skr_pcr_bank *bank = &banks->bank[i];
		const struct skr_eventlog_digest *d = skr_eventlog_event_digest(ev, bank->alg);

		if (!d)
			return event_fail(ev, err, "PCR %" PRIu32 " event has no %s digest", ev->pcr,
					  bank->name);
		if (skr_pcr_bank_extend_md(bank, r->md[i], ev->pcr, d->value, d->size, err) < 0)
			return -1;
	}
	return 0;
}

static int replay_init(struct replay *r, const struct skr_eventlog *log, struct skr_err *err)
{
	struct skr_pcr_banks *banks = r->banks;
	size_t i;

	for (i = 0; i < log->alg_count; i++) {
		uint16_t alg = log->algs[i].alg;

		if (!skr_tpm_alg_name(alg))
			continue;	/* unknown hash: its digests were skipped by size */
		if (skr_pcr_bank_init(&banks->bank[banks->count], alg, err) < 0)
			return -1;
		r->md[banks->count] = skr_tpm_alg_fetch_md(alg, err);
		if (!r->md[banks->count])
			return -1;
		banks->count++;
	}
	return 0;
}

int skr_eventlog_replay(const struct skr_eventlog *log, struct skr_pcr_banks *out,
			struct skr_err *err)
{
	struct replay r = { .banks = out };
	size_t i;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (replay_init(&r, log, err) < 0)
		rc = -1;
	for (i = 0; rc == 0 && i < log->event_count; i++)
		rc = replay_event(&r, &log->events[i], err);
	for (i = 0; i < ARRAY_SIZE(r.md); i++)
		EVP_MD_free(r.md[i]);
	return rc;
}
