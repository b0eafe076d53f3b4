/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: skr-unlock's kernel command line options
 * (src/vm/cmdline.h).  The host chooses the command line of a VM it
 * boots; whatever it writes, rd.skr.timeout stays in 1..3600 or unset,
 * and rd.skr.disk= yields either nothing or 1..8 tags of exactly 64
 * lower-case hex digits, never both tags and the malformed flag.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vm/cmdline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct skr_cmdline c;
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	skr_cmdline_parse(text, &c);
	if (c.timeout > 3600)
		__builtin_trap();
	if (c.n_disk_tags > SKR_CMDLINE_MAX_DISK_TAGS || (c.disk_tags_invalid && c.n_disk_tags))
		__builtin_trap();
	for (size_t i = 0; i < c.n_disk_tags; i++) {
		if (strlen(c.disk_tags[i]) != SKR_DISK_TAG_HEX ||
		    strspn(c.disk_tags[i], "0123456789abcdef") != SKR_DISK_TAG_HEX)
			__builtin_trap();
	}
	free(text);
	return 0;
}
