/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: PE parsing and the Authenticode digest on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "predict/pe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Touch every byte parse vouched for, so ASan sees any overread. */
static unsigned sum_sections(const struct skr_pe *pe)
{
	unsigned sum = 0;
	size_t i;

	for (i = 0; i < pe->nsections; i++) {
		const struct skr_pe_section *s = &pe->sections[i];
		const uint8_t *p = skr_pe_section_data(pe, s);
		uint32_t j;

		sum += (unsigned)strlen(s->name);
		for (j = 0; j < s->raw_size; j += 64)
			sum += p[j];
		if (s->raw_size)
			sum += p[s->raw_size - 1];
	}
	return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct skr_err err = { 0 };
	struct skr_pe pe;
	uint8_t digest[SKR_PE_DIGEST_MAX];
	size_t digest_len;
	volatile unsigned sink;

	if (skr_pe_parse(data, size, &pe, &err) == 0) {
		sink = sum_sections(&pe);
		(void)sink;
		(void)skr_pe_find_section(&pe, ".linux");
		(void)skr_pe_hash(&pe, "sha256", 0, digest, &digest_len, &err);
		skr_err_clear(&err);
		(void)skr_pe_hash(&pe, "sha256", SKR_PE_PAD_UNSIGNED, digest, &digest_len, &err);
	}
	skr_pe_free(&pe);
	return 0;
}
