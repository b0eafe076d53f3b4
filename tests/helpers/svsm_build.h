/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SVSM services manifests for the tests (DESIGN 2.3.1), laid out the way
 * COCONUT-SVSM's GuidTable::to_vec writes them: a 24-byte header {GUID
 * 63849ebb-..., u32 size of the whole manifest, u32 count}, one 24-byte
 * entry per service {GUID, u32 offset, u32 size}, then the services' data
 * back to back; little-endian.  Shared by the parser's unit test and the
 * configfs-tsm stand-in's SVSM mode (faketsm.h).
 */
#ifndef SKR_TEST_SVSM_BUILD_H
#define SKR_TEST_SVSM_BUILD_H

#include <stddef.h>
#include <stdint.h>

struct skr_test_svsm_service {
	const uint8_t *guid;	/* 16 bytes, mixed-endian as in the manifest */
	const uint8_t *data;	/* NULL when size is 0 */
	size_t size;
};

/*
 * Writes the manifest of n services into blob (cap bytes, zeroed first);
 * returns its length, 0 when it does not fit.
 */
size_t skr_test_svsm_manifest(uint8_t *blob, size_t cap, const struct skr_test_svsm_service *s,
			      size_t n);

#endif
