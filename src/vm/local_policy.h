/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The signed PCR policies of the local offline copy as a LUKS token stores
 * them: the struct, its binary form and parser, and the limits the token
 * format checks.  What the policies mean, how they are signed and how the
 * TPM enforces them is local_seal.h's.
 *
 * No TPM types here: the token format (luks/token.h) includes this header,
 * not local_seal.h, so that code that reads a token needs neither ESAPI nor
 * the TSS headers (`make header-check` holds it to json-c and OpenSSL).
 */
#ifndef SKR_LOCAL_POLICY_H
#define SKR_LOCAL_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/gate.h"

#define SKR_LOCAL_NV_FIRST 0x0100534Bu		/* counters: FIRST .. FIRST + COUNT - 1 */
#define SKR_LOCAL_NV_COUNT 16u
#define SKR_LOCAL_SIG_SIZE 64			/* ECDSA P-256 r || s */
#define SKR_LOCAL_POLICY_VERSION 1
#define SKR_LOCAL_POLICY_SIZE 141		/* skr_local_policy_marshal's output */
/* The boot gate's bit: in every policy's pcr_mask, at the all-zero value. */
#define SKR_LOCAL_GATE_MASK (1u << SKR_GATE_PCR)

/* A signed PCR policy the sealed secret accepts. */
struct skr_local_policy {
	uint32_t pcr_mask;		/* sha256 PCRs, bit i = PCR i (0..23); PCR 15 always */
	uint8_t pcr_digest[32];		/* SHA-256 of the selected PCR values in index order,
					   PCR 15 as 32 zero bytes */
	uint64_t epoch;			/* valid while the NV counter <= epoch */
	uint8_t approved[32];		/* PolicyPCR then PolicyNV(counter <= epoch) */
	uint8_t signature[SKR_LOCAL_SIG_SIZE];	/* ECDSA over SHA-256(approved || ref): r || s */
};

/*
 * Binary form for storage (e.g. base64 in a LUKS token), big-endian:
 *   version (1) = 1 | pcr_mask (4) | pcr_digest (32) | epoch (8) | approved (32) | r||s (64)
 * The parser takes exactly SKR_LOCAL_POLICY_SIZE bytes of untrusted input and
 * checks the version and that the mask selects PCRs 0..23 only (malformed).
 * It accepts a mask without PCR 15 (a policy signed before the boot gate
 * existed, so that such a token still parses); unsealing refuses it.
 * Fuzzed by fuzz/fuzz_local_policy.c.
 */
void skr_local_policy_marshal(const struct skr_local_policy *p,
			      uint8_t out[SKR_LOCAL_POLICY_SIZE]);
int skr_local_policy_parse(const uint8_t *data, size_t len, struct skr_local_policy *out,
			   struct skr_err *err);

#endif
