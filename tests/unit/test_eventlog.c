/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TCG event log parsing and PCR replay.
 *
 * The real logs in tests/vectors/eventlog are replayed and compared, bank by
 * bank and PCR by PCR, with the values published beside them.  Damaged copies
 * of them and small synthetic logs (assembled here byte by byte, expected PCR
 * values computed here with OpenSSL) cover the error paths, unknown
 * algorithms, StartupLocality and the reset values of PCRs 17-22.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <openssl/evp.h>

#include "verify/eventlog.h"
#include "common/util.h"

#define VECTORS SKR_SRCDIR "/tests/vectors/eventlog/"

/* ---- Synthetic logs ----------------------------------------------------- */

struct logbuf {
	uint8_t *b;
	size_t len, cap;
};

static void put_bytes(struct logbuf *l, const void *p, size_t n)
{
	if (l->len + n > l->cap) {
		l->cap = (l->len + n) * 2;
		l->b = realloc(l->b, l->cap);
		assert_non_null(l->b);
	}
	memcpy(l->b + l->len, p, n);
	l->len += n;
}

static void put_u8(struct logbuf *l, uint8_t v)
{
	put_bytes(l, &v, 1);
}

static void put_u16(struct logbuf *l, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	put_bytes(l, b, 2);
}

static void put_u32(struct logbuf *l, uint32_t v)
{
	put_u16(l, (uint16_t)v);
	put_u16(l, (uint16_t)(v >> 16));
}

static void put_fill(struct logbuf *l, uint8_t byte, size_t n)
{
	while (n--)
		put_u8(l, byte);
}

static void logbuf_free(struct logbuf *l)
{
	free(l->b);
}

/* The SHA-1-format first record: EV_NO_ACTION "Spec ID Event03" with a table. */
static void put_spec_id(struct logbuf *l, const struct skr_eventlog_alg *algs, uint32_t count)
{
	uint32_t i;

	put_u32(l, 0);				/* PCR */
	put_u32(l, SKR_EV_NO_ACTION);
	put_fill(l, 0, 20);			/* SHA-1 digest */
	put_u32(l, 16 + 8 + 4 + 4 * count + 1);	/* event data size */
	put_bytes(l, "Spec ID Event03", 16);
	put_u32(l, 0);				/* platformClass */
	put_u8(l, 0);				/* specVersionMinor */
	put_u8(l, 2);				/* specVersionMajor */
	put_u8(l, 0);				/* specErrata */
	put_u8(l, 2);				/* uintnSize */
	put_u32(l, count);
	for (i = 0; i < count; i++) {
		put_u16(l, algs[i].alg);
		put_u16(l, algs[i].size);
	}
	put_u8(l, 0);				/* vendorInfoSize */
}

/* A TCG_PCR_EVENT2 with one digest per row, each digest all `fill` bytes. */
static void put_event2(struct logbuf *l, uint32_t pcr, uint32_t type,
		       const struct skr_eventlog_alg *algs, uint32_t count, uint8_t fill,
		       const void *data, uint32_t data_len)
{
	uint32_t i;

	put_u32(l, pcr);
	put_u32(l, type);
	put_u32(l, count);
	for (i = 0; i < count; i++) {
		put_u16(l, algs[i].alg);
		put_fill(l, fill, algs[i].size);
	}
	put_u32(l, data_len);
	put_bytes(l, data, data_len);
}

static const struct skr_eventlog_alg sha256_only[] = { { SKR_TPM_ALG_SHA256, 32 } };

static void startup_locality_data(uint8_t data[17], uint8_t locality)
{
	memcpy(data, "StartupLocality", 16);
	data[16] = locality;
}

/* H(initial || digest of `fill` bytes): the value of one extend. */
static void expect_extend(const char *md_name, size_t size, const uint8_t *initial, uint8_t fill,
			  uint8_t *out)
{
	uint8_t msg[2 * SKR_PCR_MAX_DIGEST];
	const EVP_MD *md = EVP_get_digestbyname(md_name);

	assert_non_null(md);
	memcpy(msg, initial, size);
	memset(msg + size, fill, size);
	assert_int_equal(EVP_Digest(msg, 2 * size, out, NULL, md, NULL), 1);
}

static int parse(const struct logbuf *l, struct skr_eventlog **log, struct skr_err *err)
{
	skr_err_clear(err);
	return skr_eventlog_parse(l->b, l->len, log, err);
}

static void assert_malformed(const uint8_t *data, size_t len, const char *detail)
{
	struct skr_eventlog *log = (struct skr_eventlog *)1;
	struct skr_err err = { 0 };

	assert_int_equal(skr_eventlog_parse(data, len, &log, &err), -1);
	assert_null(log);
	assert_int_equal(err.reason, SKR_R_malformed);
	if (!strstr(err.detail, detail))
		fail_msg("detail \"%s\" does not contain \"%s\"", err.detail, detail);
}

/* ---- Real logs ----------------------------------------------------------- */

static void load_vector(const char *name, struct skr_buf *raw)
{
	char path[512];
	struct skr_err err = { 0 };

	snprintf(path, sizeof(path), VECTORS "%s.bin", name);
	if (skr_read_file(path, SKR_EVENTLOG_MAX_SIZE, raw, &err) < 0)
		fail_msg("%s: %s", path, err.detail);
}

static void compare_bank(const char *name, const struct skr_pcr_bank *bank, json_object *want)
{
	uint32_t want_mask = 0;

	json_object_object_foreach(want, key, value) {
		unsigned pcr = (unsigned)strtoul(key, NULL, 10);
		_cleanup_free_ char *hex = NULL;

		assert_true(pcr < SKR_PCR_COUNT);
		want_mask |= UINT32_C(1) << pcr;
		hex = skr_hex_encode(bank->value[pcr], bank->size);
		if (strcmp(hex, json_object_get_string(value)))
			fail_msg("%s %s PCR %u: replay gives %s, want %s", name, bank->name, pcr, hex,
				 json_object_get_string(value));
	}
	if (bank->extended_mask != want_mask)
		fail_msg("%s %s: extended PCRs 0x%06x, want 0x%06x", name, bank->name,
			 bank->extended_mask, want_mask);
}

/* Replays a vector and compares every bank and PCR with its .pcrs.json. */
static void test_vector(void **state)
{
	const char *name = *state;
	_cleanup_buf_ struct skr_buf raw = { 0 };
	_cleanup_eventlog_ struct skr_eventlog *log = NULL;
	struct skr_pcr_banks banks;
	struct skr_err err = { 0 };
	char path[512];
	json_object *want;
	size_t i;

	load_vector(name, &raw);
	if (skr_eventlog_parse(raw.data, raw.len, &log, &err) < 0 ||
	    skr_eventlog_replay(log, &banks, &err) < 0)
		fail_msg("%s: %s: %s", name, skr_reason_name(err.reason), err.detail);
	snprintf(path, sizeof(path), VECTORS "%s.pcrs.json", name);
	want = json_object_from_file(path);
	assert_non_null(want);
	/* Every bank replayed is published, and every published bank replayed. */
	assert_int_equal(banks.count, json_object_object_length(want));
	for (i = 0; i < banks.count; i++) {
		json_object *bank;

		if (!json_object_object_get_ex(want, banks.bank[i].name, &bank))
			fail_msg("%s: bank %s is not in the .pcrs.json", name, banks.bank[i].name);
		compare_bank(name, &banks.bank[i], bank);
	}
	json_object_put(want);
}

static void test_vector_formats(void **state)
{
	_cleanup_buf_ struct skr_buf agile = { 0 }, sha1 = { 0 };
	_cleanup_eventlog_ struct skr_eventlog *a = NULL, *s = NULL;
	struct skr_err err = { 0 };

	load_vector("gce-ubuntu-2104-log", &agile);
	load_vector("uefi-sha1-log", &sha1);
	assert_int_equal(skr_eventlog_parse(agile.data, agile.len, &a, &err), 0);
	assert_int_equal(skr_eventlog_parse(sha1.data, sha1.len, &s, &err), 0);
	assert_true(a->crypto_agile);
	assert_int_equal(a->events[0].type, SKR_EV_NO_ACTION);
	assert_non_null(skr_eventlog_event_digest(&a->events[1], SKR_TPM_ALG_SHA384));
	assert_false(s->crypto_agile);
	assert_int_equal(s->alg_count, 1);
	assert_int_equal(s->algs[0].alg, SKR_TPM_ALG_SHA1);
	assert_int_equal(s->events[0].type, SKR_EV_S_CRTM_VERSION);
	assert_int_equal(s->events[0].digest_count, 1);
}

/* ---- Damaged real logs ---------------------------------------------------- */

/* arch-linux.bin: event 0 (Spec ID, sha1 + sha256) ends at 0x45, event 1 starts there. */
static void parse_arch(struct skr_buf *raw, struct skr_eventlog **log)
{
	struct skr_err err = { 0 };

	load_vector("arch-linux", raw);
	assert_int_equal(skr_eventlog_parse(raw->data, raw->len, log, &err), 0);
	assert_int_equal((*log)->events[1].offset, 0x45);
}

static size_t offset_in(const struct skr_eventlog *log, const uint8_t *p)
{
	return (size_t)(p - log->raw);
}

static void test_truncated(void **state)
{
	_cleanup_buf_ struct skr_buf raw = { 0 };
	_cleanup_eventlog_ struct skr_eventlog *log = NULL;
	const struct skr_eventlog_event *last;
	const struct skr_eventlog_event *ev1;
	char detail[64];

	parse_arch(&raw, &log);
	ev1 = &log->events[1];
	last = &log->events[log->event_count - 1];
	/* Inside the Spec ID event's own header, then inside its algorithm table. */
	assert_malformed(raw.data, 6, "event 0 at offset 0x0: truncated in the event type");
	assert_malformed(raw.data, 0x3a, "event 0 at offset 0x0: event data size 37 exceeds");
	/* Inside event 1's header (the digest count), then inside its sha256 digest. */
	assert_malformed(raw.data, ev1->offset + 10, "event 1 at offset 0x45: truncated in the digest count");
	assert_malformed(raw.data, offset_in(log, ev1->digests[1].value) + 5,
			 "event 1 at offset 0x45: truncated in the digest");
	/* Inside the event data of the last event. */
	assert_true(last->data_len >= 2);
	snprintf(detail, sizeof(detail), "event %zu at offset 0x%zx: event data size", last->index,
		 last->offset);
	assert_malformed(raw.data, offset_in(log, last->data) + last->data_len / 2, detail);
	assert_malformed(raw.data, raw.len - 1, detail);
}

static void test_event_size_overflow(void **state)
{
	_cleanup_buf_ struct skr_buf raw = { 0 };
	_cleanup_eventlog_ struct skr_eventlog *log = NULL;
	size_t size_field;

	parse_arch(&raw, &log);
	size_field = offset_in(log, log->events[1].data) - 4;
	memset(raw.data + size_field, 0xff, 4);
	assert_malformed(raw.data, raw.len, "event 1 at offset 0x45: event data size 4294967295 exceeds");
}

static void test_digest_count_overflow(void **state)
{
	_cleanup_buf_ struct skr_buf raw = { 0 };
	_cleanup_eventlog_ struct skr_eventlog *log = NULL;

	parse_arch(&raw, &log);
	memset(raw.data + 0x45 + 8, 0xff, 4);
	assert_malformed(raw.data, raw.len,
			 "event 1 at offset 0x45: digest count 4294967295 exceeds the 2 algorithms");
	/* One more than the table has is just as wrong. */
	raw.data[0x45 + 8] = 3;
	memset(raw.data + 0x45 + 9, 0, 3);
	assert_malformed(raw.data, raw.len, "digest count 3 exceeds the 2 algorithms");
}

/* Offsets in the Spec ID event's data, which starts at 0x20 in every log. */
enum { SPEC_SIG = 0x20, SPEC_ALG_COUNT = 0x38, SPEC_FIRST_SIZE = 0x3e };

static void test_spec_id_damaged(void **state)
{
	_cleanup_buf_ struct skr_buf raw = { 0 };
	_cleanup_eventlog_ struct skr_eventlog *log = NULL;
	uint8_t *copy;

	parse_arch(&raw, &log);
	copy = malloc(raw.len);
	assert_non_null(copy);

	memcpy(copy, raw.data, raw.len);
	copy[SPEC_SIG + 14] = '4';		/* "Spec ID Event04" */
	assert_malformed(copy, raw.len, "event 0 at offset 0x0: Spec ID signature");

	/* Not a Spec ID event at all: read as a SHA-1 log, which event 1 is not. */
	memcpy(copy, raw.data, raw.len);
	copy[SPEC_SIG] = 'X';
	assert_malformed(copy, raw.len, "event 1 at offset 0x45");

	memcpy(copy, raw.data, raw.len);
	memset(copy + SPEC_ALG_COUNT, 0, 4);
	assert_malformed(copy, raw.len, "Spec ID event lists no algorithms");

	memcpy(copy, raw.data, raw.len);
	memset(copy + SPEC_ALG_COUNT, 0xff, 4);
	assert_malformed(copy, raw.len, "Spec ID event lists 4294967295 algorithms");

	memcpy(copy, raw.data, raw.len);
	copy[SPEC_ALG_COUNT] = 3;		/* the table then runs into the vendor info */
	assert_malformed(copy, raw.len, "event 0 at offset 0x0: truncated in the Spec ID");

	memcpy(copy, raw.data, raw.len);
	copy[SPEC_FIRST_SIZE] = 32;		/* sha1 said to be 32 bytes */
	assert_malformed(copy, raw.len, "Spec ID event gives sha1 a digest size of 32, not 20");

	memcpy(copy, raw.data, raw.len);
	copy[0] = 1;				/* Spec ID event in PCR 1 */
	assert_malformed(copy, raw.len, "Spec ID event is not an EV_NO_ACTION in PCR 0");
	free(copy);
}

static void test_empty(void **state)
{
	static const uint8_t nothing[1];

	assert_malformed(nothing, 0, "empty");
}

static void test_too_large(void **state)
{
	static const uint8_t one[1];
	struct skr_eventlog *log = NULL;
	struct skr_err err = { 0 };

	/* The size check comes before any read, so the buffer need not be that big. */
	assert_int_equal(skr_eventlog_parse(one, SKR_EVENTLOG_MAX_SIZE + 1, &log, &err), -1);
	assert_int_equal(err.reason, SKR_R_malformed);
	assert_non_null(strstr(err.detail, "more than"));
}

/* ---- Synthetic logs -------------------------------------------------------- */

/* An algorithm the parser does not know, between two it does: skipped by its table size. */
static void test_unknown_alg(void **state)
{
	static const struct skr_eventlog_alg algs[] = {
		{ SKR_TPM_ALG_SHA256, 32 }, { 0x1234, 7 }, { SKR_TPM_ALG_SHA1, 20 },
	};
	static const uint8_t zero[SKR_PCR_MAX_DIGEST];
	struct logbuf l = { 0 };
	_cleanup_eventlog_ struct skr_eventlog *log = NULL;
	struct skr_pcr_banks banks;
	struct skr_err err;
	uint8_t want256[32], want1[20];
	const struct skr_eventlog_digest *odd;

	put_spec_id(&l, algs, 3);
	put_event2(&l, 4, SKR_EV_EFI_ACTION, algs, 3, 0xab, "hello", 5);
	put_event2(&l, 4, SKR_EV_SEPARATOR, algs, 3, 0xcd, "\0\0\0", 4);
	assert_int_equal(parse(&l, &log, &err), 0);
	assert_int_equal(log->event_count, 3);
	odd = skr_eventlog_event_digest(&log->events[1], 0x1234);
	assert_non_null(odd);
	assert_int_equal(odd->size, 7);
	assert_int_equal(log->events[1].data_len, 5);
	assert_memory_equal(log->events[1].data, "hello", 5);
	assert_int_equal(log->events[2].type, SKR_EV_SEPARATOR);
	assert_int_equal(log->events[2].pcr, 4);

	assert_int_equal(skr_eventlog_replay(log, &banks, &err), 0);
	assert_int_equal(banks.count, 2);	/* no bank for 0x1234 */
	expect_extend("SHA256", 32, zero, 0xab, want256);
	expect_extend("SHA256", 32, want256, 0xcd, want256);
	expect_extend("SHA1", 20, zero, 0xab, want1);
	expect_extend("SHA1", 20, want1, 0xcd, want1);
	assert_memory_equal(skr_pcr_banks_find(&banks, SKR_TPM_ALG_SHA256)->value[4], want256, 32);
	assert_memory_equal(skr_pcr_banks_find(&banks, SKR_TPM_ALG_SHA1)->value[4], want1, 20);
	assert_int_equal(skr_pcr_banks_find(&banks, SKR_TPM_ALG_SHA1)->extended_mask, 1u << 4);
	logbuf_free(&l);
}

static void test_alg_not_in_table(void **state)
{
	static const struct skr_eventlog_alg other[] = { { SKR_TPM_ALG_SHA384, 48 } };
	struct logbuf l = { 0 };

	put_spec_id(&l, sha256_only, 1);
	put_event2(&l, 0, SKR_EV_SEPARATOR, other, 1, 0, "\0\0\0", 4);
	assert_malformed(l.b, l.len, "event 1 at offset 0x41: digest 0 uses algorithm sha384, which the Spec ID event does not list");
	logbuf_free(&l);
}

static void test_repeated_digest(void **state)
{
	static const struct skr_eventlog_alg twice[] = {
		{ SKR_TPM_ALG_SHA256, 32 }, { SKR_TPM_ALG_SHA256, 32 },
	};
	static const struct skr_eventlog_alg two[] = {
		{ SKR_TPM_ALG_SHA256, 32 }, { SKR_TPM_ALG_SHA1, 20 },
	};
	struct logbuf l = { 0 };

	put_spec_id(&l, two, 2);
	put_event2(&l, 0, SKR_EV_SEPARATOR, twice, 2, 0, "\0\0\0", 4);
	assert_malformed(l.b, l.len, "digest 1 repeats algorithm sha256");
	logbuf_free(&l);
}

static void replay_sha256(const struct logbuf *l, struct skr_pcr_banks *banks)
{
	_cleanup_eventlog_ struct skr_eventlog *log = NULL;
	struct skr_err err;

	if (parse(l, &log, &err) < 0 || skr_eventlog_replay(log, banks, &err) < 0)
		fail_msg("%s", err.detail);
	assert_int_equal(banks->count, 1);
	assert_int_equal(banks->bank[0].alg, SKR_TPM_ALG_SHA256);
}

static void test_startup_locality(void **state)
{
	struct logbuf l = { 0 };
	struct skr_pcr_banks banks;
	uint8_t data[17], initial[32] = { 0 }, want[32];
	size_t locality_at;

	put_spec_id(&l, sha256_only, 1);
	startup_locality_data(data, 3);
	put_event2(&l, 0, SKR_EV_NO_ACTION, sha256_only, 1, 0, data, sizeof(data));
	locality_at = l.len - 1;
	put_event2(&l, 0, SKR_EV_SEPARATOR, sha256_only, 1, 0x5a, "\0\0\0", 4);
	replay_sha256(&l, &banks);
	initial[31] = 3;
	expect_extend("SHA256", 32, initial, 0x5a, want);
	assert_memory_equal(banks.bank[0].value[0], want, 32);
	assert_int_equal(banks.bank[0].extended_mask, 1);

	/* Locality 0 gives the ordinary all-zero start: a different PCR 0. */
	l.b[locality_at] = 0;
	replay_sha256(&l, &banks);
	memset(initial, 0, sizeof(initial));
	expect_extend("SHA256", 32, initial, 0x5a, want);
	assert_memory_equal(banks.bank[0].value[0], want, 32);
	logbuf_free(&l);
}

static void test_startup_locality_after_extend(void **state)
{
	_cleanup_eventlog_ struct skr_eventlog *log = NULL;
	struct logbuf l = { 0 };
	struct skr_pcr_banks banks;
	struct skr_err err;
	uint8_t data[17];

	put_spec_id(&l, sha256_only, 1);
	put_event2(&l, 0, SKR_EV_SEPARATOR, sha256_only, 1, 0x5a, "\0\0\0", 4);
	startup_locality_data(data, 3);
	put_event2(&l, 0, SKR_EV_NO_ACTION, sha256_only, 1, 0, data, sizeof(data));
	assert_int_equal(parse(&l, &log, &err), 0);
	assert_int_equal(skr_eventlog_replay(log, &banks, &err), -1);
	assert_int_equal(err.reason, SKR_R_malformed);
	assert_non_null(strstr(err.detail, "event 2"));
	assert_non_null(strstr(err.detail, "after PCR 0 was extended"));
	logbuf_free(&l);
}

/* PCRs 17-22 reset to all ones; EV_NO_ACTION events are not extended. */
static void test_initial_values_and_no_action(void **state)
{
	static const uint8_t ones[32] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	};
	static const uint8_t zero[32];
	struct logbuf l = { 0 };
	struct skr_pcr_banks banks;
	uint8_t want17[32], want23[32];
	unsigned pcr;

	put_spec_id(&l, sha256_only, 1);
	put_event2(&l, 17, SKR_EV_EFI_ACTION, sha256_only, 1, 0x11, "drtm", 4);
	put_event2(&l, 23, SKR_EV_EFI_ACTION, sha256_only, 1, 0x11, "app", 3);
	put_event2(&l, 1, SKR_EV_NO_ACTION, sha256_only, 1, 0x22, "note", 4);
	replay_sha256(&l, &banks);
	expect_extend("SHA256", 32, ones, 0x11, want17);
	expect_extend("SHA256", 32, zero, 0x11, want23);
	assert_memory_equal(banks.bank[0].value[17], want17, 32);
	assert_memory_equal(banks.bank[0].value[23], want23, 32);
	for (pcr = 18; pcr <= 22; pcr++)
		assert_memory_equal(banks.bank[0].value[pcr], ones, 32);
	assert_memory_equal(banks.bank[0].value[16], zero, 32);
	assert_memory_equal(banks.bank[0].value[1], zero, 32);
	assert_int_equal(banks.bank[0].extended_mask, (1u << 17) | (1u << 23));
	logbuf_free(&l);
}

static void expect_replay_failure(const struct logbuf *l, const char *detail)
{
	_cleanup_eventlog_ struct skr_eventlog *log = NULL;
	struct skr_pcr_banks banks;
	struct skr_err err;

	assert_int_equal(parse(l, &log, &err), 0);
	assert_int_equal(skr_eventlog_replay(log, &banks, &err), -1);
	assert_int_equal(err.reason, SKR_R_malformed);
	if (!strstr(err.detail, detail))
		fail_msg("detail \"%s\" does not contain \"%s\"", err.detail, detail);
}

static void test_replay_missing_digest(void **state)
{
	static const struct skr_eventlog_alg two[] = {
		{ SKR_TPM_ALG_SHA256, 32 }, { SKR_TPM_ALG_SHA1, 20 },
	};
	struct logbuf l = { 0 };

	put_spec_id(&l, two, 2);
	put_event2(&l, 5, SKR_EV_SEPARATOR, two, 1, 0, "\0\0\0", 4);
	expect_replay_failure(&l, "event 1 at offset 0x45: PCR 5 event has no sha1 digest");
	logbuf_free(&l);
}

static void test_replay_pcr_out_of_range(void **state)
{
	struct logbuf l = { 0 };

	put_spec_id(&l, sha256_only, 1);
	put_event2(&l, 24, SKR_EV_SEPARATOR, sha256_only, 1, 0, "\0\0\0", 4);
	expect_replay_failure(&l, "event 1 at offset 0x41: PCR index 24 is out of range");
	logbuf_free(&l);
}

static void test_too_many_events(void **state)
{
	struct logbuf l = { 0 };
	_cleanup_eventlog_ struct skr_eventlog *log = NULL;
	struct skr_err err;
	size_t i;

	put_spec_id(&l, sha256_only, 1);
	for (i = 1; i < SKR_EVENTLOG_MAX_EVENTS; i++)
		put_event2(&l, 1, SKR_EV_ACTION, sha256_only, 0, 0, "", 0);
	assert_int_equal(parse(&l, &log, &err), 0);
	assert_int_equal(log->event_count, SKR_EVENTLOG_MAX_EVENTS);
	skr_eventlog_freep(&log);
	put_event2(&l, 1, SKR_EV_ACTION, sha256_only, 0, 0, "", 0);
	assert_malformed(l.b, l.len, "more than 100000 events");
	logbuf_free(&l);
}

/* ---- Descriptions and names -------------------------------------------------- */

static char *describe(const struct skr_eventlog_event *ev)
{
	struct skr_err err = { 0 };
	char *text = NULL;

	assert_int_equal(skr_eventlog_describe(ev, &text, &err), 0);
	return text;
}

static void test_describe_vector(void **state)
{
	_cleanup_buf_ struct skr_buf raw = { 0 };
	_cleanup_eventlog_ struct skr_eventlog *log = NULL;
	struct skr_err err = { 0 };
	size_t i;
	int found = 0;

	load_vector("uefi-sha1-log", &raw);
	assert_int_equal(skr_eventlog_parse(raw.data, raw.len, &log, &err), 0);
	for (i = 0; i < log->event_count; i++) {
		_cleanup_free_ char *text = describe(&log->events[i]);

		if (log->events[i].type == SKR_EV_EFI_VARIABLE_DRIVER_CONFIG && i == 1) {
			assert_string_equal(text, "SecureBoot 8be4df61-93ca-11d2-aa0d-00e098032b8c");
			found++;
		} else if (log->events[i].type == SKR_EV_SEPARATOR) {
			assert_string_equal(text, "0x00000000");
			found++;
		} else if (i == 15) {
			assert_string_equal(text, "image at 0x9f64d018, 1334816 bytes, device path 146 bytes, file /EFI/ubuntu/shimx64.efi");
			found++;
		} else if (log->events[i].type == 0x80000006) {	/* EV_EFI_GPT_EVENT */
			assert_null(text);
		}
	}
	assert_int_equal(found, 1 + 8 + 1);
}

static struct skr_eventlog_event synthetic_event(uint32_t type, const void *data, size_t len)
{
	struct skr_eventlog_event ev = { 0 };

	ev.type = type;
	ev.data = data;
	ev.data_len = len;
	return ev;
}

/* Control characters, backslashes and non-ASCII never reach the output raw. */
static void test_describe_escapes(void **state)
{
	static const uint8_t action[] = "\x1b[2Jok\\\n\xff";
	static const uint8_t not_utf16[] = { 'A', 0, 0xe9, 0, 0x3b, 0x26, '\n', 0, 0, 0 };
	static const uint8_t utf16[] = { 'A', 0, 0xe9, 0, '\n', 0, 0, 0 };
	uint8_t variable[40] = { 0 };
	struct skr_eventlog_event ev;
	char *text;

	ev = synthetic_event(SKR_EV_EFI_ACTION, action, sizeof(action));
	text = describe(&ev);
	assert_string_equal(text, "\\x1b[2Jok\\\\\\x0a\\xff");
	free(text);

	ev = synthetic_event(SKR_EV_IPL, utf16, sizeof(utf16));
	text = describe(&ev);
	assert_string_equal(text, "A\\xe9\\x0a");
	free(text);

	/* Not every high byte is 0, so it is shown byte by byte. */
	ev = synthetic_event(SKR_EV_IPL, not_utf16, sizeof(not_utf16));
	text = describe(&ev);
	assert_string_equal(text, "A\\x00\\xe9\\x00;&\\x0a");
	free(text);

	/* A variable named "\x01\u263b" (2 characters), GUID all zero. */
	variable[16] = 2;
	variable[32] = 0x01;
	variable[34] = 0x3b;
	variable[35] = 0x26;
	ev = synthetic_event(SKR_EV_EFI_VARIABLE_DRIVER_CONFIG, variable, 36);
	text = describe(&ev);
	assert_string_equal(text, "\\x01\\u263b 00000000-0000-0000-0000-000000000000");
	free(text);

	/* UEFI_VARIABLE_DATA whose name claims 2^62 characters. */
	variable[16] = 0;
	variable[16 + 7] = 0x40;
	ev = synthetic_event(SKR_EV_EFI_VARIABLE_BOOT, variable, sizeof(variable));
	text = describe(&ev);
	assert_non_null(strstr(text, "overruns the event"));
	free(text);

	ev = synthetic_event(SKR_EV_EFI_BOOT_SERVICES_APPLICATION, variable, 31);
	text = describe(&ev);
	assert_string_equal(text, "[truncated UEFI_IMAGE_LOAD_EVENT]");
	free(text);

	ev = synthetic_event(SKR_EV_POST_CODE, action, sizeof(action));
	assert_null(describe(&ev));
}

static void test_describe_no_action(void **state)
{
	uint8_t locality[17];
	struct skr_eventlog_event ev;
	char *text;

	startup_locality_data(locality, 3);
	ev = synthetic_event(SKR_EV_NO_ACTION, locality, sizeof(locality));
	text = describe(&ev);
	assert_string_equal(text, "StartupLocality 3");
	free(text);
}

static void test_names(void **state)
{
	assert_string_equal(skr_tpm_alg_name(0x0004), "sha1");
	assert_string_equal(skr_tpm_alg_name(0x000B), "sha256");
	assert_string_equal(skr_tpm_alg_name(0x000C), "sha384");
	assert_string_equal(skr_tpm_alg_name(0x000D), "sha512");
	assert_string_equal(skr_tpm_alg_name(0x0012), "sm3_256");
	assert_null(skr_tpm_alg_name(0x1234));
	assert_int_equal(skr_tpm_alg_digest_size(0x0012), 32);
	assert_int_equal(skr_tpm_alg_digest_size(0x000D), 64);
	assert_int_equal(skr_tpm_alg_digest_size(0x1234), 0);
	assert_int_equal(skr_tpm_alg_from_name("sha384"), 0x000C);
	assert_int_equal(skr_tpm_alg_from_name("md5"), 0);
	assert_string_equal(skr_eventlog_type_name(0x80000001), "EV_EFI_VARIABLE_DRIVER_CONFIG");
	assert_string_equal(skr_eventlog_type_name(0x00000004), "EV_SEPARATOR");
	assert_string_equal(skr_eventlog_type_name(0x800000E2), "EV_EFI_SPDM_FIRMWARE_CONFIG");
	assert_null(skr_eventlog_type_name(0x7777));
}

/* Every supported bank extends with its own hash (sm3_256 and sha512 included). */
static void test_bank_extend_all_algs(void **state)
{
	static const struct {
		uint16_t alg;
		const char *openssl;
	} algs[] = {
		{ SKR_TPM_ALG_SHA1, "SHA1" },     { SKR_TPM_ALG_SHA256, "SHA256" },
		{ SKR_TPM_ALG_SHA384, "SHA384" }, { SKR_TPM_ALG_SHA512, "SHA512" },
		{ SKR_TPM_ALG_SM3_256, "SM3" },
	};
	static const uint8_t zero[SKR_PCR_MAX_DIGEST];
	struct skr_pcr_bank bank;
	struct skr_err err = { 0 };
	uint8_t digest[SKR_PCR_MAX_DIGEST], want[SKR_PCR_MAX_DIGEST];
	size_t i;

	memset(digest, 0x42, sizeof(digest));
	for (i = 0; i < ARRAY_SIZE(algs); i++) {
		assert_int_equal(skr_pcr_bank_init(&bank, algs[i].alg, &err), 0);
		assert_int_equal(skr_pcr_bank_extend(&bank, 10, digest, bank.size, &err), 0);
		expect_extend(algs[i].openssl, bank.size, zero, 0x42, want);
		assert_memory_equal(bank.value[10], want, bank.size);
		assert_int_equal(skr_pcr_bank_extend(&bank, 10, digest, bank.size - 1, &err), -1);
		assert_int_equal(err.reason, SKR_R_malformed);
		skr_err_clear(&err);
	}
	assert_int_equal(skr_pcr_bank_init(&bank, 0x1234, &err), -1);
	assert_int_equal(err.reason, SKR_R_unsupported);
}

int main(void)
{
	static const char *vectors[] = {
		"arch-linux", "gce-ubuntu-2104-log", "moklisttrusted", "sd-boot-fedora37",
		"uefi-sha1-log",
	};
	const struct CMUnitTest tests[] = {
		{ "replay arch-linux", test_vector, NULL, NULL, (void *)vectors[0] },
		{ "replay gce-ubuntu-2104-log", test_vector, NULL, NULL, (void *)vectors[1] },
		{ "replay moklisttrusted", test_vector, NULL, NULL, (void *)vectors[2] },
		{ "replay sd-boot-fedora37", test_vector, NULL, NULL, (void *)vectors[3] },
		{ "replay uefi-sha1-log", test_vector, NULL, NULL, (void *)vectors[4] },
		cmocka_unit_test(test_vector_formats),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_event_size_overflow),
		cmocka_unit_test(test_digest_count_overflow),
		cmocka_unit_test(test_spec_id_damaged),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_unknown_alg),
		cmocka_unit_test(test_alg_not_in_table),
		cmocka_unit_test(test_repeated_digest),
		cmocka_unit_test(test_startup_locality),
		cmocka_unit_test(test_startup_locality_after_extend),
		cmocka_unit_test(test_initial_values_and_no_action),
		cmocka_unit_test(test_replay_missing_digest),
		cmocka_unit_test(test_replay_pcr_out_of_range),
		cmocka_unit_test(test_too_many_events),
		cmocka_unit_test(test_describe_vector),
		cmocka_unit_test(test_describe_escapes),
		cmocka_unit_test(test_describe_no_action),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_bank_extend_all_algs),
	};

	return cmocka_run_group_tests_name("eventlog", tests, NULL, NULL);
}
