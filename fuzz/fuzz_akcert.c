/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: Azure Trusted Launch's AK certificate and AK public area
 * (src/verify/akcert.c), both chosen by a client before anything about them
 * is verified.  Input byte 0 even: the rest is a marshalled TPM2B_PUBLIC for
 * skr_ak_public_check.  Odd: two big-endian length bytes, then the AK
 * certificate (DER) of that length, then the presented chain (concatenated
 * DER), verified against the built-in Azure root and CA-03 at a fixed time
 * (CA-03's validity), and the key compared with a fixed AK.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <openssl/evp.h>

#include "verify/akcert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static struct skr_akcert_trust *trust;
static EVP_PKEY *ak;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct skr_err err = { 0 };

	(void)argc;
	(void)argv;
	setenv("TSS2_LOG", "all+none", 0);
	ak = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!ak || skr_akcert_trust_new(NULL, NULL, &trust, &err) < 0)
		__builtin_trap();
	return 0;
}

static void certificate(const uint8_t *data, size_t size)
{
	struct skr_akcert_info info = { 0 };
	struct skr_err err = { 0 };
	size_t len;

	if (size < 2)
		return;
	len = (size_t)data[0] << 8 | data[1];
	data += 2;
	size -= 2;
	if (len > size)
		len = size;
	if (skr_akcert_verify(trust, data, len, data + len, size - len, 1780000000, &info,
			      &err) == 0) {
		(void)skr_akcert_key_matches(&info, ak, &err);
		if (!info.key || info.subject_cn[255] != 0)
			__builtin_trap();
	} else if (info.key || err.reason == SKR_R_ok) {
		__builtin_trap();	/* a refusal names its reason and returns no key */
	}
	skr_akcert_info_free(&info);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct skr_err err = { 0 };
	EVP_PKEY *key = NULL;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		certificate(data + 1, size - 1);
		return 0;
	}
	if (skr_ak_public_check(data + 1, size - 1, &key, &err) == 0) {
		if (!key)
			__builtin_trap();
	} else if (key || err.reason == SKR_R_ok) {
		__builtin_trap();
	}
	EVP_PKEY_free(key);
	return 0;
}
