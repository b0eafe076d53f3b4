/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TPM hash algorithms (TPM_ALG_ID names, sizes, OpenSSL digests) and PCR
 * banks as a TPM holds them: reset values and extend.  Shared by the event-log
 * replay, the predictor, the quote check and the boot gate; no parsing here.
 */
#ifndef SKR_PCR_BANK_H
#define SKR_PCR_BANK_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/err.h"

/* TPM_ALG_ID values of the hash algorithms a PCR bank can use. */
enum {
	SKR_TPM_ALG_SHA1 = 0x0004,
	SKR_TPM_ALG_SHA256 = 0x000B,
	SKR_TPM_ALG_SHA384 = 0x000C,
	SKR_TPM_ALG_SHA512 = 0x000D,
	SKR_TPM_ALG_SM3_256 = 0x0012,
	SKR_TPM_ALG_SHA3_256 = 0x0027,
	SKR_TPM_ALG_SHA3_384 = 0x0028,
	SKR_TPM_ALG_SHA3_512 = 0x0029,
};

/* "sha1", "sha256", "sha384", "sha512", "sm3_256", "sha3_*"; NULL if unknown. */
const char *skr_tpm_alg_name(uint16_t alg);
/* Digest size in bytes of a known hash algorithm; 0 if unknown. */
size_t skr_tpm_alg_digest_size(uint16_t alg);
/* The TPM_ALG_ID for a name as returned by skr_tpm_alg_name; 0 if unknown. */
uint16_t skr_tpm_alg_from_name(const char *name);
/* The name, or "0x%04x" for an unknown algorithm, into 8 bytes. */
void skr_tpm_alg_label(uint16_t alg, char label[static 8]);
/*
 * out = H_alg(data); out must hold skr_tpm_alg_digest_size(alg) bytes.
 * Fails with SKR_R_unsupported for an unknown hash or one OpenSSL lacks.
 */
int skr_tpm_alg_hash(uint16_t alg, const void *data, size_t len, uint8_t *out,
		     struct skr_err *err);
/* The OpenSSL digest of a known hash (free with EVP_MD_free), or NULL with
 * SKR_R_unsupported: for hashing inputs too large to hold in memory. */
EVP_MD *skr_tpm_alg_fetch_md(uint16_t alg, struct skr_err *err);

/* ---- PCR banks ---------------------------------------------------------- */

#define SKR_PCR_COUNT 24
#define SKR_PCR_MAX_DIGEST 64	/* sha512 */
#define SKR_PCR_MAX_BANKS 8

/* One bank of PCRs as a TPM would hold them after a sequence of extends. */
struct skr_pcr_bank {
	uint16_t alg;
	const char *name;	/* skr_tpm_alg_name(alg) */
	size_t size;		/* digest size of alg */
	uint32_t extended_mask;	/* bit i set: PCR i was extended at least once */
	uint8_t value[SKR_PCR_COUNT][SKR_PCR_MAX_DIGEST];
};

struct skr_pcr_banks {
	size_t count;
	struct skr_pcr_bank bank[SKR_PCR_MAX_BANKS];
};

/*
 * Sets a bank to the TPM's reset values: PCRs 17-22 (the dynamic-launch PCRs)
 * all 0xFF, every other PCR zero.  Fails with SKR_R_unsupported for an
 * algorithm that is not a known hash.
 */
int skr_pcr_bank_init(struct skr_pcr_bank *bank, uint16_t alg, struct skr_err *err);
/* PCR[pcr] = H(PCR[pcr] || digest); digest must be bank->size bytes. */
int skr_pcr_bank_extend(struct skr_pcr_bank *bank, unsigned pcr, const uint8_t *digest,
			size_t digest_len, struct skr_err *err);
/* The same with the bank's hash already fetched (skr_tpm_alg_fetch_md), for many extends. */
int skr_pcr_bank_extend_md(struct skr_pcr_bank *bank, EVP_MD *md, unsigned pcr,
			   const uint8_t *digest, size_t digest_len, struct skr_err *err);
/* The bank of algorithm alg, or NULL. */
const struct skr_pcr_bank *skr_pcr_banks_find(const struct skr_pcr_banks *banks, uint16_t alg);

#endif
