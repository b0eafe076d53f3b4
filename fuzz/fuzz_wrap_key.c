/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the wrap key a VM presents to the broker — TPM2B_PUBLIC
 * unmarshalling, Name, attribute checks, conversion to an OpenSSL key, and the
 * whole certify check.  The input is split into the public area, the certify
 * attestation and its signature by two leading length bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <openssl/evp.h>

#include "verify/wrap_key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static EVP_PKEY *ak;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setenv("TSS2_LOG", "all+none", 0);
	ak = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	if (!ak)
		__builtin_trap();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t nonce[32] = { 1, 2, 3 };
	struct skr_err err = { 0 };
	EVP_PKEY *key = NULL;
	TPM2B_PUBLIC pub;
	TPM2B_NAME name;
	size_t a, b;

	if (size < 2)
		return 0;
	a = data[0] * 4u;
	b = data[1] * 4u;
	data += 2;
	size -= 2;
	if (a > size)
		a = size;
	if (b > size - a)
		b = size - a;
	if (skr_tpm2b_public_parse(data, a, &pub, &err) == 0) {
		skr_err_clear(&err);
		skr_tpm_public_name(&pub, &name, &err);
		skr_err_clear(&err);
		skr_wrap_key_check_attributes(&pub.publicArea, &err);
		skr_err_clear(&err);
		if (skr_tpm_public_to_pkey(&pub, &key, &err) == 0)
			EVP_PKEY_free(key);
		key = NULL;
	}
	skr_err_clear(&err);
	if (skr_wrap_key_verify(data, a, data + a, b, data + a + b, size - a - b, ak, nonce,
				sizeof(nonce), &key, &err) == 0)
		__builtin_trap();	/* nothing random can carry a valid AK signature */
	EVP_PKEY_free(key);
	return 0;
}
