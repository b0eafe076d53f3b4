/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: key policies (admin input, stored and re-read at every
 * release) and PCR value maps, as the broker parses them.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/pcr_json.h"
#include "verify/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct skr_pcr_banks *banks = calloc(1, sizeof(*banks));
	struct skr_err err = { 0 };
	struct skr_policy p;
	char *text = malloc(size + 1);
	json_object *obj;

	if (!text || !banks)
		__builtin_trap();
	memcpy(text, data, size);
	text[size] = 0;
	if (skr_policy_parse(text, &p, &err) == 0) {
		if (p.pcr_mask >> SKR_PCR_COUNT)
			__builtin_trap();	/* a parsed policy never binds a PCR above 23 */
		/* What the broker accepts binds at least one PCR and never the boot gate. */
		if (skr_policy_check_binding(&p, &err) == 0 && (!p.pcr_mask || p.pcr_mask & (1u << 15)))
			__builtin_trap();
	}
	obj = json_tokener_parse(text);
	if (obj) {
		skr_err_clear(&err);
		if (skr_pcr_banks_from_json(obj, banks, &err) == 0) {
			json_object *back = skr_pcr_banks_to_json(banks);

			json_object_put(back);
		}
		json_object_put(obj);
	}
	free(text);
	free(banks);
	return 0;
}
