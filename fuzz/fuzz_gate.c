/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the boot gate's inputs (gate.h) — the gate log as the
 * client reads it from /run, and "gate_events" as the broker takes them from
 * a hostile client.  The first byte picks the PCR bank, the rest is tried as
 * a log file and as the JSON array.
 *
 * Invariant: with PCR 15 set to the replay of what was parsed, the broker's
 * check passes exactly when the events start with the key's attested open
 * and the handover; with PCR 15 one bit off, it never passes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/gate.h"

#define KEY "disk-1"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint16_t algs[] = { 0x0004, 0x000B, 0x000C, 0x000D };

static bool good_prefix(json_object *ev)
{
	size_t n = json_object_array_length(ev);

	return n >= 2 &&
	       !strcmp(json_object_get_string(json_object_array_get_idx(ev, 0)),
		       "skr/v1 opened key=" KEY " method=attestation") &&
	       !strcmp(json_object_get_string(json_object_array_get_idx(ev, 1)), "skr/v1 handover");
}

/* The broker's check against the replay of events (all valid strings). */
static void check_invariant(uint16_t alg, json_object *ev)
{
	struct skr_pcr_banks *banks = calloc(1, sizeof(*banks));
	const char *list[SKR_GATE_LOG_MAX];
	struct skr_err err = { 0 };
	size_t n = json_object_array_length(ev), i, len = 0;
	int rc;

	if (!banks || n > SKR_GATE_LOG_MAX)
		__builtin_trap();
	for (i = 0; i < n; i++)
		list[i] = json_object_get_string(json_object_array_get_idx(ev, i));
	banks->count = 1;
	if (skr_pcr_bank_init(&banks->bank[0], alg, &err) < 0 ||
	    skr_gate_replay(alg, list, n, banks->bank[0].value[15], &len, &err) < 0)
		__builtin_trap();
	banks->bank[0].extended_mask = 1u << 15;
	rc = skr_gate_check_attested_open(banks, alg, KEY, ev, &err);
	if ((rc == 0) != good_prefix(ev))
		__builtin_trap();
	banks->bank[0].value[15][len - 1] ^= 1;
	skr_err_clear(&err);
	if (skr_gate_check_attested_open(banks, alg, KEY, ev, &err) == 0)
		__builtin_trap();
	free(banks);
}

static void as_log(uint16_t alg, const uint8_t *data, size_t size)
{
	static char path[64];
	struct skr_err err = { 0 };
	json_object *ev = NULL;
	FILE *f;

	if (!path[0])
		snprintf(path, sizeof(path), "/tmp/skr-fuzz-gate-%ld.log", (long)getpid());
	f = fopen(path, "wb");
	if (!f)
		return;
	if (size)
		fwrite(data, 1, size, f);
	fclose(f);
	if (skr_gate_log_read(path, &ev, &err) == 0) {
		check_invariant(alg, ev);
		json_object_put(ev);
	}
	unlink(path);
}

static void as_json(uint16_t alg, const uint8_t *data, size_t size)
{
	struct skr_pcr_banks *banks = calloc(1, sizeof(*banks));
	struct skr_err err = { 0 };
	char *text = malloc(size + 1);
	json_object *ev;

	if (!text || !banks)
		__builtin_trap();
	memcpy(text, data, size);
	text[size] = 0;
	ev = json_tokener_parse(text);
	/* Any shape, PCR 15 zero: never passes (the gate must have seen the handover). */
	banks->count = 1;
	skr_pcr_bank_init(&banks->bank[0], alg, &err);
	banks->bank[0].extended_mask = 1u << 15;
	if (skr_gate_check_attested_open(banks, alg, KEY, ev, &err) == 0)
		__builtin_trap();
	skr_err_clear(&err);
	if (ev && json_object_is_type(ev, json_type_array) &&
	    json_object_array_length(ev) <= SKR_GATE_LOG_MAX) {
		size_t i, n = json_object_array_length(ev);
		bool valid = true;

		for (i = 0; i < n && valid; i++) {
			json_object *e = json_object_array_get_idx(ev, i);

			valid = json_object_is_type(e, json_type_string) &&
				strlen(json_object_get_string(e)) ==
					(size_t)json_object_get_string_len(e) &&
				skr_gate_event_valid(json_object_get_string(e),
						     (size_t)json_object_get_string_len(e));
		}
		if (valid)
			check_invariant(alg, ev);
	}
	json_object_put(ev);
	free(text);
	free(banks);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint16_t alg;

	if (size < 1)
		return 0;
	alg = algs[data[0] % 4];
	as_log(alg, data + 1, size - 1);
	as_json(alg, data + 1, size - 1);
	return 0;
}
