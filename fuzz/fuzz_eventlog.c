/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: event log parsing, PCR replay and the descriptions
 * `skrctl eventlog show` prints, on arbitrary bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "verify/eventlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Touch every byte the parser vouched for, so ASan sees any overread. */
static unsigned touch_event(const struct skr_eventlog_event *ev)
{
	unsigned sum = ev->pcr ^ ev->type;
	size_t i, j;

	for (i = 0; i < ev->digest_count; i++)
		for (j = 0; j < ev->digests[i].size; j++)
			sum += ev->digests[i].value[j];
	for (i = 0; i < ev->data_len; i++)
		sum += ev->data[i];
	return sum;
}

/* The description must be printable ASCII only: the log is untrusted. */
static void check_description(const struct skr_eventlog_event *ev)
{
	struct skr_err err = { 0 };
	char *text = NULL;
	size_t i;

	if (skr_eventlog_describe(ev, &text, &err) < 0)
		return;
	for (i = 0; text && text[i]; i++)
		if (text[i] < 0x20 || text[i] > 0x7e)
			abort();
	free(text);
	(void)skr_eventlog_type_name(ev->type);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct skr_eventlog *log = NULL;
	struct skr_pcr_banks banks;
	struct skr_err err = { 0 };
	volatile unsigned sink = 0;
	size_t i;

	if (skr_eventlog_parse(data, size, &log, &err) < 0)
		return 0;
	for (i = 0; i < log->event_count; i++) {
		sink += touch_event(&log->events[i]);
		check_description(&log->events[i]);
	}
	skr_err_clear(&err);
	(void)skr_eventlog_replay(log, &banks, &err);
	skr_eventlog_free(log);
	(void)sink;
	return 0;
}
