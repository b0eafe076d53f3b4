/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: skrctl broker's reading and showing of the admin API's
 * answers (src/ctl/broker_out.c broker_parse_answer, src/ctl/broker_views.c),
 * which an admin broker, or whoever holds its certificate, chooses byte for
 * byte.  The first byte picks the type the call expects and the view; the
 * rest is the answer's body.  Invariants: nothing crashes or leaks, a body
 * that parses is exactly of the type asked for, and no control byte other
 * than a line feed reaches the terminal (stdout is captured and checked).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "ctl/broker_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const json_type wants[] = { json_type_array, json_type_object, json_type_null };

static void show(unsigned view, json_object *answer)
{
	switch (view) {
	case 0:
		broker_show_keys(answer);
		break;
	case 1:
		broker_show_key(answer, "key-\x1b[31m");
		break;
	case 2:
		broker_show_refsets(answer, false);
		break;
	default:
		broker_show_refsets(answer, true);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct skr_err err = { 0 };
	json_object *answer = NULL;
	char *out = NULL;
	size_t out_len = 0;
	FILE *real = stdout, *mem;
	json_type want;

	if (size < 1)
		return 0;
	want = wants[data[0] % 3];
	if (broker_parse_answer("https://admin\x07", data + 1, size - 1, want, &answer, &err) < 0) {
		for (const char *p = err.detail; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
				__builtin_trap();
		return 0;
	}
	if (want != json_type_null && !json_object_is_type(answer, want))
		__builtin_trap();
	mem = open_memstream(&out, &out_len);
	if (!mem)
		abort();
	stdout = mem;
	show((data[0] / 3) % 4, answer);
	fclose(mem);
	stdout = real;
	for (size_t i = 0; i < out_len; i++)
		if ((((unsigned char)out[i] < 0x20 && out[i] != '\n') || (unsigned char)out[i] == 0x7f))
			__builtin_trap();
	free(out);
	json_object_put(answer);
	return 0;
}
