/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: what the local offline copy reads from a LUKS header —
 * the sealed object's marshalled TPM2B_PUBLIC and TPM2B_PRIVATE, a signed
 * policy in its binary form, and the reseal public key (PEM or DER).  The
 * input is split into the public part, the private part and the rest by two
 * leading length bytes (times 4); the rest is tried as a policy and as a
 * public key, and the whole input as a policy too.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "vm/local_seal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static EVP_PKEY *signer;
static TPM2B_NAME nv_name = { .size = 34, .name = { 0x00, 0x0b, 1, 2, 3 } };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct skr_err err = { 0 };

	(void)argc;
	(void)argv;
	setenv("TSS2_LOG", "all+none", 0);
	if (skr_local_signer_generate(&signer, &err) < 0)
		__builtin_trap();
	return 0;
}

static void policy(const uint8_t *data, size_t size)
{
	uint8_t again[SKR_LOCAL_POLICY_SIZE];
	struct skr_local_policy p;
	struct skr_err err = { 0 };

	if (skr_local_policy_parse(data, size, &p, &err) < 0)
		return;
	/* The format has one encoding per policy. */
	skr_local_policy_marshal(&p, again);
	if (size != sizeof(again) || memcmp(again, data, size) != 0)
		__builtin_trap();
	/* Nothing random carries a valid signature of a key made at start-up. */
	if (skr_local_policy_verify(signer, &nv_name, &p, &err) == 0)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct skr_err err = { 0 };
	TPM2B_PUBLIC pub;
	TPM2B_PRIVATE priv;
	EVP_PKEY *key = NULL;
	size_t a, b;

	policy(data, size);
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
	if (skr_local_blob_parse(data, a, data + a, b, &pub, &priv, &err) == 0 &&
	    (pub.publicArea.objectAttributes != SKR_LOCAL_OBJECT_ATTRS ||
	     pub.publicArea.authPolicy.size != 32 || priv.size == 0))
		__builtin_trap();
	skr_err_clear(&err);
	policy(data + a + b, size - a - b);
	if (skr_local_signer_public_parse(data + a + b, size - a - b, &key, &err) == 0) {
		skr_err_clear(&err);
		if (skr_local_signer_check(key, &err) < 0)
			__builtin_trap();
		EVP_PKEY_free(key);
	}
	return 0;
}
