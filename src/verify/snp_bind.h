/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The bare SEV-SNP binding (tee "snp", docs/DESIGN.md section 2.3): the
 * REPORT_DATA a guest asks for, which ties its report to the broker's
 * nonce and to the P-256 key that will receive the secret:
 *
 *   SHA-512("skr-snp-v1" (10 bytes) || nonce (32 bytes) || epk (65 bytes,
 *           SEC1 uncompressed P-256 point))
 *
 * The VM computes it to fill REPORT_DATA; the broker recomputes it from the
 * nonce it issued and the presented key and compares in constant time.
 */
#ifndef SKR_SNP_BIND_H
#define SKR_SNP_BIND_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "verify/wrap.h"

#define SKR_SNP_BIND_LABEL "skr-snp-v1"
#define SKR_SNP_BIND_NONCE 32
#define SKR_SNP_REPORT_DATA 64

/* Fails (malformed) on a nonce not of 32 bytes or an epk not on P-256. */
int skr_snp_bind(const uint8_t *nonce, size_t nonce_len, const uint8_t epk[SKR_WRAP_EPK_SIZE],
		 uint8_t out[SKR_SNP_REPORT_DATA], struct skr_err *err);

/* REPORT_DATA equals the binding of this nonce and key (report_data_mismatch otherwise). */
int skr_snp_bind_check(const uint8_t report_data[SKR_SNP_REPORT_DATA], const uint8_t *nonce,
		       size_t nonce_len, const uint8_t epk[SKR_WRAP_EPK_SIZE],
		       struct skr_err *err);

#endif
