/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The boot gate (src/common/gate.c, gate_measure.c): event strings, the replay
 * against values computed independently, the broker's two checks under a
 * hostile client's logs, the gate log reader, and TPM2_PCR_Event on swtpm.
 *
 * Known answers, computed with Python's hashlib (PCR = H(PCR || H(event))):
 *   import hashlib
 *   evs = [b"skr/v1 opened key=disk-1 method=attestation", b"skr/v1 handover"]
 *   for alg in ["sha1", "sha256", "sha384", "sha512"]:
 *       h = getattr(hashlib, alg); pcr = bytes(h().digest_size)
 *       for e in evs: pcr = h(pcr + h(e).digest()).digest()
 *       print(alg, pcr.hex())
 * and the same in sha256 for [b"skr/v1 opened method=passphrase", b"skr/v1 handover"].
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/gate.h"
#include "swtpm.h"
#include "testutil.h"
#include "vm/gate_measure.h"
#include "vm/tpm.h"
#include "common/util.h"

#define ALG_SHA1 0x0004
#define ALG_SHA256 0x000B
#define ALG_SHA384 0x000C
#define ALG_SHA512 0x000D

#define EV_OPEN "skr/v1 opened key=disk-1 method=attestation"
#define EV_HANDOVER "skr/v1 handover"
#define EV_PASS "skr/v1 opened method=passphrase"

static const char *const good_log[] = { EV_OPEN, EV_HANDOVER };

static const struct {
	uint16_t alg;
	const char *hex;
} good_replay[] = {
	{ ALG_SHA1, "2a9366d742cf1f210b7b2005f3ba2e819cc7f8a3" },
	{ ALG_SHA256, "9cb3e77ff39896fce817d003f151b01a1adf71ec4753bad2fe351197236aa05d" },
	{ ALG_SHA384, "91a18ee15045feacc78d5dbbd6484f0b4580e3a6f1202334f18c7cd359dfee5de861a121a"
		      "165e644f7da44046650ac57" },
	{ ALG_SHA512, "e24da4173af364816dad42aeab84108dab00308b486fb16c75ffb1e43056b2bc8021bacfe"
		      "e86009406e254020bfeab274a35640e96575b381990c5ade6fc60cc" },
};
#define PASS_REPLAY_SHA256 "9b74a98a7c210e488ec934c2fb57ddd441a27ca65c12567be2bac1e5a73e6e18"

static char tmpdir[] = "/tmp/skr-test-gate-XXXXXX";

/* ---- Events ------------------------------------------------------------------ */

static void test_event_strings(void **state)
{
	char buf[SKR_GATE_EVENT_MAX + 1];
	struct skr_err err = { 0 };

	assert_ok(skr_gate_event_opened(buf, sizeof(buf), "disk-1", SKR_GATE_METHOD_ATTESTATION,
					&err), err);
	assert_string_equal(buf, EV_OPEN);
	assert_ok(skr_gate_event_opened(buf, sizeof(buf), "host.root_7", SKR_GATE_METHOD_LOCAL, &err),
		  err);
	assert_string_equal(buf, "skr/v1 opened key=host.root_7 method=local");
	assert_int_equal(skr_gate_event_passphrase(buf, sizeof(buf)), 0);
	assert_string_equal(buf, EV_PASS);
	assert_int_equal(skr_gate_event_handover(buf, sizeof(buf)), 0);
	assert_string_equal(buf, EV_HANDOVER);
	assert_ok(skr_gate_event_other(buf, sizeof(buf),
				       "CRYPT-LUKS2-3f1a2b3c4d5e6f708192a3b4c5d6e7f8-data", &err), err);
	assert_string_equal(buf,
			    "skr/v1 opened-other uuid=CRYPT-LUKS2-3f1a2b3c4d5e6f708192a3b4c5d6e7f8-data");
}

static void test_event_names_refused(void **state)
{
	static const char *const bad[] = { "", "disk 1", "disk\n1", "a/b", "k=v", "x method=local",
					   "\x1b[2J", "d\xc3\xa9" };
	char buf[SKR_GATE_EVENT_MAX + 1], long_id[130];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct skr_err err = { 0 };

		assert_failed_with(skr_gate_event_opened(buf, sizeof(buf), bad[i],
							 SKR_GATE_METHOD_ATTESTATION, &err),
				   err, SKR_R_usage, "key id");
		skr_err_clear(&err);
		assert_failed_with(skr_gate_event_other(buf, sizeof(buf), bad[i], &err), err,
				   SKR_R_usage, "dm uuid");
	}
	memset(long_id, 'a', 129);
	long_id[129] = '\0';
	{
		struct skr_err err = { 0 };

		assert_failed_with(skr_gate_event_opened(buf, sizeof(buf), long_id,
							 SKR_GATE_METHOD_ATTESTATION, &err),
				   err, SKR_R_usage, "key id");
		long_id[128] = '\0';	/* 128: the longest key id fits */
		skr_err_clear(&err);
		assert_ok(skr_gate_event_opened(buf, sizeof(buf), long_id,
						SKR_GATE_METHOD_ATTESTATION, &err), err);
	}
	{
		struct skr_err err = { 0 };

		assert_failed_with(skr_gate_event_opened(buf, sizeof(buf), "disk-1", "passphrase",
							 &err), err, SKR_R_usage, "method");
	}
	{
		struct skr_err err = { 0 };
		char small[16];

		assert_failed_with(skr_gate_event_opened(small, sizeof(small), "disk-1",
							 SKR_GATE_METHOD_ATTESTATION, &err),
				   err, SKR_R_usage, "buffer");
		assert_string_equal(small, "");
		assert_int_equal(skr_gate_event_handover(small, 8), -1);
	}
}

/* ---- Replay ------------------------------------------------------------------ */

static void test_replay_known_answers(void **state)
{
	uint8_t out[64];
	size_t len, i;
	struct skr_err err = { 0 };

	for (i = 0; i < sizeof(good_replay) / sizeof(good_replay[0]); i++) {
		char *hex;

		assert_ok(skr_gate_replay(good_replay[i].alg, good_log, 2, out, &len, &err), err);
		hex = skr_hex_encode(out, len);
		assert_string_equal(hex, good_replay[i].hex);
		free(hex);
	}
	assert_ok(skr_gate_replay(ALG_SHA256, NULL, 0, out, &len, &err), err);
	assert_int_equal(len, 32);
	assert_true(skr_is_zero(out, 32));
	assert_failed_with(skr_gate_replay(0x0012, good_log, 2, out, &len, &err), err,
			   SKR_R_unsupported, "0x0012");
}

/* ---- The broker's checks ------------------------------------------------------- */

static void banks_with(struct skr_pcr_banks *b, uint16_t alg, const char *hex15)
{
	struct skr_err err = { 0 };
	struct skr_buf v = { 0 };

	memset(b, 0, sizeof(*b));
	b->count = 1;
	assert_ok(skr_pcr_bank_init(&b->bank[0], alg, &err), err);
	if (!hex15)
		return;
	assert_ok(skr_hex_decode(hex15, strlen(hex15), &v, "PCR 15", &err), err);
	assert_int_equal(v.len, b->bank[0].size);
	memcpy(b->bank[0].value[15], v.data, v.len);
	b->bank[0].extended_mask |= 1u << 15;
	skr_buf_free(&v);
}

/* The sha256 PCR 15 a list of events replays to, as hex. */
static char *replay_hex(const char *const *ev, size_t n)
{
	struct skr_err err = { 0 };
	uint8_t out[64];
	size_t len;

	assert_ok(skr_gate_replay(ALG_SHA256, ev, n, out, &len, &err), err);
	return skr_hex_encode(out, len);
}

static json_object *events_json(const char *const *ev, size_t n)
{
	json_object *a = json_object_new_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(ev[i]));
	return a;
}

static void test_check_initial(void **state)
{
	struct skr_pcr_banks b;
	struct skr_err err = { 0 };

	banks_with(&b, ALG_SHA256, "0000000000000000000000000000000000000000000000000000000000000000");
	assert_ok(skr_gate_check_initial(&b, ALG_SHA256, &err), err);
	banks_with(&b, ALG_SHA256, PASS_REPLAY_SHA256);
	assert_failed_with(skr_gate_check_initial(&b, ALG_SHA256, &err), err,
			   SKR_R_boot_gate_closed, "not in its initial state");
	skr_err_clear(&err);
	/* One bit set in the last byte is enough. */
	banks_with(&b, ALG_SHA256, "0000000000000000000000000000000000000000000000000000000000000001");
	assert_failed_with(skr_gate_check_initial(&b, ALG_SHA256, &err), err,
			   SKR_R_boot_gate_closed, "initial state");
	skr_err_clear(&err);
	/* Not quoted (no value) and quoted in another bank only: closed. */
	banks_with(&b, ALG_SHA256, NULL);
	assert_failed_with(skr_gate_check_initial(&b, ALG_SHA256, &err), err,
			   SKR_R_boot_gate_closed, "no sha256 PCR 15");
	skr_err_clear(&err);
	banks_with(&b, ALG_SHA1, "0000000000000000000000000000000000000000");
	assert_failed_with(skr_gate_check_initial(&b, ALG_SHA256, &err), err,
			   SKR_R_boot_gate_closed, "no sha256 PCR 15");
	skr_err_clear(&err);
	assert_failed_with(skr_gate_check_initial(NULL, ALG_SHA256, &err), err,
			   SKR_R_boot_gate_closed, NULL);
}

static void test_attested_open_good(void **state)
{
	static const char *const longer[] = { EV_OPEN, EV_HANDOVER, EV_PASS };
	struct skr_pcr_banks b;
	struct skr_err err = { 0 };
	json_object *ev = events_json(good_log, 2);
	char *hex;
	size_t i;

	for (i = 0; i < sizeof(good_replay) / sizeof(good_replay[0]); i++) {
		banks_with(&b, good_replay[i].alg, good_replay[i].hex);
		assert_ok(skr_gate_check_attested_open(&b, good_replay[i].alg, "disk-1", ev, &err),
			  err);
	}
	/* The same log for another key: its own open is not the first event. */
	banks_with(&b, ALG_SHA256, good_replay[1].hex);
	assert_failed_with(skr_gate_check_attested_open(&b, ALG_SHA256, "disk-2", ev, &err), err,
			   SKR_R_boot_gate_unexpected, "another key's volume");
	json_object_put(ev);
	/* Events after the handover (the running system) do not matter. */
	skr_err_clear(&err);
	hex = replay_hex(longer, 3);
	banks_with(&b, ALG_SHA256, hex);
	ev = events_json(longer, 3);
	assert_ok(skr_gate_check_attested_open(&b, ALG_SHA256, "disk-1", ev, &err), err);
	json_object_put(ev);
	free(hex);
}

/* A log that replays but does not show this key's attested open alone. */
static void expect_prefix_refused(const char *const *log, size_t n, const char *detail)
{
	struct skr_pcr_banks b;
	struct skr_err err = { 0 };
	json_object *ev = events_json(log, n);
	char *hex = replay_hex(log, n);

	banks_with(&b, ALG_SHA256, hex);
	assert_failed_with(skr_gate_check_attested_open(&b, ALG_SHA256, "disk-1", ev, &err), err,
			   SKR_R_boot_gate_unexpected, detail);
	json_object_put(ev);
	free(hex);
}

static void test_attested_open_wrong_history(void **state)
{
	static const char *const pass[] = { EV_PASS, EV_HANDOVER };
	static const char *const local[] = { "skr/v1 opened key=disk-1 method=local", EV_HANDOVER };
	static const char *const other_first[] = { "skr/v1 opened-other uuid=CRYPT-PLAIN-x",
						   EV_OPEN, EV_HANDOVER };
	static const char *const other_after[] = { EV_OPEN, "skr/v1 opened-other uuid=CRYPT-x",
						   EV_HANDOVER };
	static const char *const twice[] = { EV_OPEN, EV_OPEN, EV_HANDOVER };
	static const char *const no_handover[] = { EV_OPEN };
	static const char *const handover_only[] = { EV_HANDOVER };
	static const char *const unknown[] = { "EVIL-CLIENT-TEXT", EV_HANDOVER };
	static const char *const similar[] = { "skr/v1 opened key=disk-1 method=attestation ",
					       EV_HANDOVER };

	expect_prefix_refused(pass, 2, "opened by a passphrase");
	expect_prefix_refused(local, 2, "opened by the local copy");
	expect_prefix_refused(other_first, 3, "a volume that skr did not open");
	expect_prefix_refused(other_after, 3, "opened another volume before the handover");
	expect_prefix_refused(twice, 3, "opened another volume");
	expect_prefix_refused(no_handover, 1, "has not recorded the handover");
	expect_prefix_refused(handover_only, 1, "the handover, with no volume opened");
	expect_prefix_refused(unknown, 2, "an event skr does not know");
	expect_prefix_refused(similar, 2, "an event skr does not know");
	expect_prefix_refused(NULL, 0, "initial state");
}

static void test_attested_open_forged(void **state)
{
	static const char *const pass[] = { EV_PASS, EV_HANDOVER };
	struct skr_pcr_banks b;
	struct skr_err err = { 0 };
	json_object *ev = events_json(good_log, 2);

	/* The log claims the attested open; PCR 15 says a passphrase opened the volume. */
	banks_with(&b, ALG_SHA256, PASS_REPLAY_SHA256);
	assert_failed_with(skr_gate_check_attested_open(&b, ALG_SHA256, "disk-1", ev, &err), err,
			   SKR_R_boot_gate_unexpected, "does not replay to the quoted PCR 15");
	skr_err_clear(&err);
	/* Truthful log, PCR 15 not quoted, or quoted in another bank than the policy's. */
	banks_with(&b, ALG_SHA256, NULL);
	assert_failed_with(skr_gate_check_attested_open(&b, ALG_SHA256, "disk-1", ev, &err), err,
			   SKR_R_boot_gate_unexpected, "no sha256 PCR 15");
	skr_err_clear(&err);
	banks_with(&b, ALG_SHA1, good_replay[0].hex);
	assert_failed_with(skr_gate_check_attested_open(&b, ALG_SHA256, "disk-1", ev, &err), err,
			   SKR_R_boot_gate_unexpected, "no sha256 PCR 15");
	skr_err_clear(&err);
	/* The log leaves out an extension that followed the handover. */
	{
		static const char *const hidden[] = { EV_OPEN, EV_HANDOVER, EV_PASS };
		char *hex = replay_hex(hidden, 3);

		banks_with(&b, ALG_SHA256, hex);
		assert_failed_with(skr_gate_check_attested_open(&b, ALG_SHA256, "disk-1", ev, &err),
				   err, SKR_R_boot_gate_unexpected, "(2 events) does not replay");
		free(hex);
	}
	/* A truthful passphrase log with the good log's value: the replay decides. */
	json_object_put(ev);
	skr_err_clear(&err);
	ev = events_json(pass, 2);
	banks_with(&b, ALG_SHA256, good_replay[1].hex);
	assert_failed_with(skr_gate_check_attested_open(&b, ALG_SHA256, "disk-1", ev, &err), err,
			   SKR_R_boot_gate_unexpected, "does not replay");
	json_object_put(ev);
}

static void test_attested_open_hostile_shapes(void **state)
{
	struct skr_pcr_banks b;
	struct skr_err err = { 0 };
	json_object *ev;
	char big[SKR_GATE_EVENT_MAX + 2];
	size_t i;

	banks_with(&b, ALG_SHA256, good_replay[1].hex);
	assert_failed_with(skr_gate_check_attested_open(&b, ALG_SHA256, "disk-1", NULL, &err), err,
			   SKR_R_boot_gate_unexpected, "no \"gate_events\"");
	skr_err_clear(&err);
	ev = json_object_new_string(EV_OPEN);
	assert_failed_with(skr_gate_check_attested_open(&b, ALG_SHA256, "disk-1", ev, &err), err,
			   SKR_R_boot_gate_unexpected, "not an array");
	json_object_put(ev);
	skr_err_clear(&err);
	ev = json_object_new_array();
	for (i = 0; i < SKR_GATE_LOG_MAX + 1; i++)
		json_object_array_add(ev, json_object_new_string(EV_HANDOVER));
	assert_failed_with(skr_gate_check_attested_open(&b, ALG_SHA256, "disk-1", ev, &err), err,
			   SKR_R_boot_gate_unexpected, "more than 32 events");
	json_object_put(ev);
	skr_err_clear(&err);
	ev = events_json(good_log, 2);
	json_object_array_add(ev, json_object_new_int(7));
	assert_failed_with(skr_gate_check_attested_open(&b, ALG_SHA256, "disk-1", ev, &err), err,
			   SKR_R_boot_gate_unexpected, "item 2");
	json_object_put(ev);
	skr_err_clear(&err);
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ev = events_json(good_log, 2);
	json_object_array_add(ev, json_object_new_string(big));
	assert_failed_with(skr_gate_check_attested_open(&b, ALG_SHA256, "disk-1", ev, &err), err,
			   SKR_R_boot_gate_unexpected, "item 2");
	assert_null(strstr(err.detail, "AAAA"));
	json_object_put(ev);
	skr_err_clear(&err);
	/* Escapes, newlines and an embedded NUL: refused, never echoed. */
	ev = events_json(good_log, 2);
	json_object_array_add(ev, json_object_new_string("\x1b]0;owned\x07"));
	assert_failed_with(skr_gate_check_attested_open(&b, ALG_SHA256, "disk-1", ev, &err), err,
			   SKR_R_boot_gate_unexpected, "printable");
	assert_null(strchr(err.detail, 0x1b));
	json_object_put(ev);
	skr_err_clear(&err);
	ev = json_object_new_array();
	json_object_array_add(ev, json_object_new_string_len(EV_OPEN "\0x", sizeof(EV_OPEN) + 1));
	json_object_array_add(ev, json_object_new_string(EV_HANDOVER));
	assert_failed_with(skr_gate_check_attested_open(&b, ALG_SHA256, "disk-1", ev, &err), err,
			   SKR_R_boot_gate_unexpected, "item 0");
	json_object_put(ev);
	skr_err_clear(&err);
	ev = json_object_new_array();
	json_object_array_add(ev, json_object_new_string(""));
	assert_failed_with(skr_gate_check_attested_open(&b, ALG_SHA256, "disk-1", ev, &err), err,
			   SKR_R_boot_gate_unexpected, "item 0");
	json_object_put(ev);
}

/* ---- The gate log ---------------------------------------------------------------- */

static char *tmp_path(const char *name)
{
	char *p = NULL;

	assert_true(asprintf(&p, "%s/%s", tmpdir, name) > 0);
	return p;
}

static void write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void test_log_read(void **state)
{
	struct skr_err err = { 0 };
	json_object *ev = NULL;
	char *p = tmp_path("good.log"), *missing = tmp_path("nope/gate.log");
	const char text[] = EV_OPEN "\n" EV_HANDOVER "\n";

	write_file(p, text, sizeof(text) - 1);
	assert_ok(skr_gate_log_read(p, &ev, &err), err);
	assert_int_equal(json_object_array_length(ev), 2);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(ev, 0)), EV_OPEN);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(ev, 1)), EV_HANDOVER);
	json_object_put(ev);
	assert_ok(skr_gate_log_read(missing, &ev, &err), err);
	assert_int_equal(json_object_array_length(ev), 0);
	json_object_put(ev);
	/* NULL: SKR_GATE_LOG names the log. */
	setenv("SKR_GATE_LOG", p, 1);
	assert_string_equal(skr_gate_log_path(), p);
	assert_ok(skr_gate_log_read(NULL, &ev, &err), err);
	assert_int_equal(json_object_array_length(ev), 2);
	json_object_put(ev);
	unsetenv("SKR_GATE_LOG");
	assert_string_equal(skr_gate_log_path(), SKR_GATE_LOG_DEFAULT);
	free(p);
	free(missing);
}

static void expect_log_refused(const char *name, const char *data, size_t len,
			       enum skr_reason reason, const char *detail)
{
	struct skr_err err = { 0 };
	json_object *ev = (json_object *)1;
	char *p = tmp_path(name);

	write_file(p, data, len);
	assert_failed_with(skr_gate_log_read(p, &ev, &err), err, reason, detail);
	assert_null(ev);
	free(p);
}

static void test_log_read_refused(void **state)
{
	static const char torn[] = EV_OPEN "\n" "skr/v1 hand";
	static const char empty_line[] = EV_OPEN "\n\n" EV_HANDOVER "\n";
	static const char ctrl[] = EV_OPEN "\n" "skr/v1 \x1b[31mhandover\n";
	static const char crlf[] = EV_OPEN "\r\n";
	static const char nul[] = "skr/v1 hand\0over\n";
	char many[(SKR_GATE_LOG_MAX + 1) * sizeof(EV_HANDOVER)], big[SKR_GATE_EVENT_MAX + 2];
	struct skr_err err = { 0 };
	json_object *ev = NULL;
	char *link, *target;
	size_t i;

	expect_log_refused("torn.log", torn, sizeof(torn) - 1, SKR_R_malformed, "no newline");
	expect_log_refused("empty-line.log", empty_line, sizeof(empty_line) - 1, SKR_R_malformed,
			   "line 2");
	expect_log_refused("ctrl.log", ctrl, sizeof(ctrl) - 1, SKR_R_malformed, "line 2");
	expect_log_refused("crlf.log", crlf, sizeof(crlf) - 1, SKR_R_malformed, "line 1");
	expect_log_refused("nul.log", nul, sizeof(nul) - 1, SKR_R_malformed, "line 1");
	for (i = 0; i < SKR_GATE_LOG_MAX + 1; i++)
		memcpy(many + i * sizeof(EV_HANDOVER), EV_HANDOVER "\n", sizeof(EV_HANDOVER));
	expect_log_refused("many.log", many, sizeof(many), SKR_R_malformed, "more than 32 events");
	/* SKR_GATE_LOG_MAX lines are fine. */
	target = tmp_path("max.log");
	write_file(target, many, sizeof(many) - sizeof(EV_HANDOVER));
	assert_ok(skr_gate_log_read(target, &ev, &err), err);
	assert_int_equal(json_object_array_length(ev), SKR_GATE_LOG_MAX);
	json_object_put(ev);
	memset(big, 'a', sizeof(big));
	big[sizeof(big) - 1] = '\n';
	expect_log_refused("long-line.log", big, sizeof(big), SKR_R_malformed, "line 1");
	/* A file larger than the bound is refused before it is parsed. */
	{
		size_t n = SKR_GATE_LOG_MAX * (SKR_GATE_EVENT_MAX + 1) + 1;
		char *huge = malloc(n);

		assert_non_null(huge);
		memset(huge, '\n', n);
		expect_log_refused("huge.log", huge, n, SKR_R_malformed, "larger than");
		free(huge);
	}
	/* A symlink is not followed; a directory is not a log. */
	link = tmp_path("link.log");
	assert_int_equal(symlink(target, link), 0);
	assert_failed_with(skr_gate_log_read(link, &ev, &err), err, SKR_R_io, "gate log");
	skr_err_clear(&err);
	assert_failed_with(skr_gate_log_read(tmpdir, &ev, &err), err, SKR_R_malformed,
			   "not a regular file");
	free(link);
	free(target);
}

/* ---- On a TPM ------------------------------------------------------------------- */

static void test_pcr_event_swtpm(void **state)
{
	struct skr_swtpm *sw = NULL;
	struct skr_tpm *tpm = NULL;
	struct skr_pcr_banks pcrs;
	struct skr_err err = { 0 };
	json_object *ev = NULL;
	char *log = tmp_path("run/skr/gate.log"), *hex;
	char buf[SKR_GATE_EVENT_MAX + 1];
	struct stat st;

	assert_ok(skr_swtpm_start(&sw, &err), err);
	assert_ok(skr_tpm_open(sw->tcti, &tpm, &err), err);
	/* The TPM's own extension equals the independent replay. */
	assert_ok(skr_tpm_pcr_event(tpm, 15, EV_OPEN, strlen(EV_OPEN), &err), err);
	assert_ok(skr_tpm_pcr_event(tpm, 15, EV_HANDOVER, strlen(EV_HANDOVER), &err), err);
	assert_ok(skr_tpm_pcr_read(tpm, 1u << 15, &pcrs, &err), err);
	hex = skr_hex_encode(pcrs.bank[0].value[15], 32);
	assert_string_equal(hex, good_replay[1].hex);
	free(hex);
	assert_ok(skr_gate_check_attested_open(&pcrs, ALG_SHA256, "disk-1",
					       ev = events_json(good_log, 2), &err), err);
	json_object_put(ev);
	assert_failed_with(skr_gate_check_initial(&pcrs, ALG_SHA256, &err), err,
			   SKR_R_boot_gate_closed, NULL);
	skr_err_clear(&err);
	assert_failed_with(skr_tpm_pcr_event(tpm, 24, "x", 1, &err), err, SKR_R_usage, "PCR 24");
	skr_err_clear(&err);
	assert_failed_with(skr_tpm_pcr_event(tpm, 15, "x", 0, &err), err, SKR_R_usage, "0");
	skr_err_clear(&err);
	skr_tpm_close(tpm);
	skr_swtpm_stop(&sw);

	/* skr_gate_measure: the PCR and the log move together; the directory is made. */
	assert_ok(skr_swtpm_start(&sw, &err), err);
	assert_ok(skr_tpm_open(sw->tcti, &tpm, &err), err);
	{
		char *dir = tmp_path("run");

		assert_int_equal(mkdir(dir, 0755), 0);
		free(dir);
	}
	setenv("SKR_GATE_LOG", log, 1);
	assert_int_equal(skr_gate_event_passphrase(buf, sizeof(buf)), 0);
	assert_ok(skr_gate_measure(tpm, buf, &err), err);
	assert_int_equal(skr_gate_event_handover(buf, sizeof(buf)), 0);
	assert_ok(skr_gate_measure(tpm, buf, &err), err);
	assert_ok(skr_gate_log_read(NULL, &ev, &err), err);
	assert_int_equal(json_object_array_length(ev), 2);
	assert_ok(skr_tpm_pcr_read(tpm, 1u << 15, &pcrs, &err), err);
	hex = skr_hex_encode(pcrs.bank[0].value[15], 32);
	assert_string_equal(hex, PASS_REPLAY_SHA256);
	free(hex);
	/* A truthful log of a passphrase boot: replays, but not the attested open. */
	assert_failed_with(skr_gate_check_attested_open(&pcrs, ALG_SHA256, "disk-1", ev, &err),
			   err, SKR_R_boot_gate_unexpected, "passphrase");
	json_object_put(ev);
	skr_err_clear(&err);
	{
		char *dir = tmp_path("run/skr");

		assert_int_equal(stat(dir, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0755);
		free(dir);
	}
	/* Events that could break the log's lines are refused before the TPM sees them. */
	assert_failed_with(skr_gate_measure(tpm, "skr/v1 x\nskr/v1 handover", &err), err,
			   SKR_R_usage, "printable");
	skr_err_clear(&err);
	assert_failed_with(skr_gate_measure(tpm, "", &err), err, SKR_R_usage, NULL);
	skr_err_clear(&err);
	/* A log that is a symlink is not written through. */
	assert_int_equal(unlink(log), 0);
	assert_int_equal(symlink("/dev/null", log), 0);
	assert_failed_with(skr_gate_measure(tpm, EV_HANDOVER, &err), err, SKR_R_io, "gate log");
	unsetenv("SKR_GATE_LOG");
	skr_tpm_close(tpm);
	skr_swtpm_stop(&sw);
	free(log);
}

static int setup(void **state)
{
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	skr_swtpm_stop_all();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_strings),
		cmocka_unit_test(test_event_names_refused),
		cmocka_unit_test(test_replay_known_answers),
		cmocka_unit_test(test_check_initial),
		cmocka_unit_test(test_attested_open_good),
		cmocka_unit_test(test_attested_open_wrong_history),
		cmocka_unit_test(test_attested_open_forged),
		cmocka_unit_test(test_attested_open_hostile_shapes),
		cmocka_unit_test(test_log_read),
		cmocka_unit_test(test_log_read_refused),
		cmocka_unit_test(test_pcr_event_swtpm),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
