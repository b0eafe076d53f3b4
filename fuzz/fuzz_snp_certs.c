/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the GHCB certificate table (skr_snp_certs_parse in
 * src/verify/snp_certs.c), which the host writes into configfs-tsm's
 * auxblob.  Every slice it returns must lie inside the input and after the
 * table: the target reads each byte of each one so ASan sees any escape.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "verify/snp_certs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes, so a read past the end is an ASan error. */
	uint8_t *blob = malloc(size ? size : 1);
	struct skr_snp_certs c;
	struct skr_err err = { 0 };
	unsigned sum = 0;
	size_t i, k;

	if (!blob)
		return 0;
	memcpy(blob, data, size);
	if (skr_snp_certs_parse(blob, size, &c, &err) == 0) {
		if (!c.der[SKR_SNP_CERT_VCEK] && !c.der[SKR_SNP_CERT_VLEK])
			abort();
		for (k = 0; k < SKR_SNP_CERT__COUNT; k++)
			for (i = 0; i < c.len[k]; i++)
				sum += c.der[k][i];
	} else if (err.reason == SKR_R_ok) {
		abort();	/* a failure always names its reason */
	}
	free(blob);
	return (int)(sum & 0);
}
