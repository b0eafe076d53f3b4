/* SPDX-License-Identifier: Apache-2.0 */
/* TPM hash algorithms and simulated PCR banks (extend, reset values). */
#include "common/pcr_bank.h"
#include "common/util.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

/* ---- TPM hash algorithms ------------------------------------------------ */

static const struct tpm_alg {
	uint16_t alg;
	const char *name;
	const char *openssl_name;
	size_t size;
} tpm_algs[] = {
	{ SKR_TPM_ALG_SHA1, "sha1", "SHA1", 20 },
	{ SKR_TPM_ALG_SHA256, "sha256", "SHA256", 32 },
	{ SKR_TPM_ALG_SHA384, "sha384", "SHA384", 48 },
	{ SKR_TPM_ALG_SHA512, "sha512", "SHA512", 64 },
	{ SKR_TPM_ALG_SM3_256, "sm3_256", "SM3", 32 },
	{ SKR_TPM_ALG_SHA3_256, "sha3_256", "SHA3-256", 32 },
	{ SKR_TPM_ALG_SHA3_384, "sha3_384", "SHA3-384", 48 },
	{ SKR_TPM_ALG_SHA3_512, "sha3_512", "SHA3-512", 64 },
};

static const struct tpm_alg *tpm_alg_find(uint16_t alg)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(tpm_algs); i++)
		if (tpm_algs[i].alg == alg)
			return &tpm_algs[i];
	return NULL;
}

const char *skr_tpm_alg_name(uint16_t alg)
{
	const struct tpm_alg *a = tpm_alg_find(alg);

	return a ? a->name : NULL;
}

size_t skr_tpm_alg_digest_size(uint16_t alg)
{
	const struct tpm_alg *a = tpm_alg_find(alg);

	return a ? a->size : 0;
}

uint16_t skr_tpm_alg_from_name(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(tpm_algs); i++)
		if (!strcmp(tpm_algs[i].name, name))
			return tpm_algs[i].alg;
	return 0;
}

/* ---- PCR banks ---------------------------------------------------------- */

int skr_pcr_bank_init(struct skr_pcr_bank *bank, uint16_t alg, struct skr_err *err)
{
	const struct tpm_alg *a = tpm_alg_find(alg);
	unsigned pcr;

	if (!a)
		return skr_fail(err, SKR_R_unsupported, "TPM algorithm 0x%04x is not a known hash", alg);
	memset(bank, 0, sizeof(*bank));
	bank->alg = alg;
	bank->name = a->name;
	bank->size = a->size;
	/* The locality-4 (dynamic launch) PCRs reset to all ones. */
	for (pcr = 17; pcr <= 22; pcr++)
		memset(bank->value[pcr], 0xff, a->size);
	return 0;
}

static EVP_MD *fetch_md(uint16_t alg, struct skr_err *err)
{
	const struct tpm_alg *a = tpm_alg_find(alg);
	EVP_MD *md;

	if (!a) {
		skr_fail(err, SKR_R_unsupported, "TPM algorithm 0x%04x is not a known hash", alg);
		return NULL;
	}
	md = EVP_MD_fetch(NULL, a->openssl_name, NULL);
	if (!md)
		skr_fail(err, SKR_R_unsupported, "%s is not available from OpenSSL", a->name);
	return md;
}

EVP_MD *skr_tpm_alg_fetch_md(uint16_t alg, struct skr_err *err)
{
	return fetch_md(alg, err);
}

int skr_tpm_alg_hash(uint16_t alg, const void *data, size_t len, uint8_t *out,
		     struct skr_err *err)
{
	EVP_MD *md = fetch_md(alg, err);
	int ok;

	if (!md)
		return -1;
	ok = EVP_Digest(data, len, out, NULL, md, NULL);
	EVP_MD_free(md);
	return ok ? 0 : skr_fail(err, SKR_R_unsupported, "%s hashing failed", skr_tpm_alg_name(alg));
}

/* Extends with md, the bank's hash already fetched (a replay fetches it once per bank). */
int skr_pcr_bank_extend_md(struct skr_pcr_bank *bank, EVP_MD *md, unsigned pcr,
			  const uint8_t *digest, size_t digest_len, struct skr_err *err)
{
	uint8_t message[2 * SKR_PCR_MAX_DIGEST];

	if (pcr >= SKR_PCR_COUNT)
		return skr_fail(err, SKR_R_malformed, "PCR %u is out of range", pcr);
	if (digest_len != bank->size)
		return skr_fail(err, SKR_R_malformed, "a %s digest is %zu bytes, not %zu", bank->name,
				bank->size, digest_len);
	memcpy(message, bank->value[pcr], bank->size);
	memcpy(message + bank->size, digest, bank->size);
	if (!EVP_Digest(message, 2 * bank->size, bank->value[pcr], NULL, md, NULL))
		return skr_fail(err, SKR_R_unsupported, "%s hashing failed", bank->name);
	bank->extended_mask |= UINT32_C(1) << pcr;
	return 0;
}

int skr_pcr_bank_extend(struct skr_pcr_bank *bank, unsigned pcr, const uint8_t *digest,
			size_t digest_len, struct skr_err *err)
{
	EVP_MD *md = fetch_md(bank->alg, err);
	int rc;

	if (!md)
		return -1;
	rc = skr_pcr_bank_extend_md(bank, md, pcr, digest, digest_len, err);
	EVP_MD_free(md);
	return rc;
}

const struct skr_pcr_bank *skr_pcr_banks_find(const struct skr_pcr_banks *banks, uint16_t alg)
{
	size_t i;

	for (i = 0; i < banks->count; i++)
		if (banks->bank[i].alg == alg)
			return &banks->bank[i];
	return NULL;
}

void skr_tpm_alg_label(uint16_t alg, char label[static 8])
{
	const char *name = skr_tpm_alg_name(alg);

	if (name)
		snprintf(label, 8, "%s", name);
	else
		snprintf(label, 8, "0x%04x", alg);
}
