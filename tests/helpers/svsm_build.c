/* SPDX-License-Identifier: Apache-2.0 */
#include "svsm_build.h"

#include <string.h>

#include "verify/svsm_manifest.h"

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

size_t skr_test_svsm_manifest(uint8_t *blob, size_t cap, const struct skr_test_svsm_service *s,
			      size_t n)
{
	size_t off = (n + 1) * SKR_SVSM_GUID_ENTRY_SIZE, i;

	if (off > cap)
		return 0;
	memset(blob, 0, cap);
	memcpy(blob, skr_svsm_manifest_guid, 16);
	put32(blob + 20, (uint32_t)n);
	for (i = 0; i < n; i++) {
		uint8_t *e = blob + (i + 1) * SKR_SVSM_GUID_ENTRY_SIZE;

		memcpy(e, s[i].guid, 16);
		put32(e + 16, (uint32_t)off);
		put32(e + 20, (uint32_t)s[i].size);
		if (off + s[i].size > cap)
			return 0;
		if (s[i].size)
			memcpy(blob + off, s[i].data, s[i].size);
		off += s[i].size;
	}
	put32(blob + 16, (uint32_t)off);
	return off;
}
