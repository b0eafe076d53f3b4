/* SPDX-License-Identifier: Apache-2.0 */
#include "vm/words.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	enum skr_reason r;
	const char *words;
} table[] = {
	{ SKR_R_pcr_mismatch, "the boot state (PCRs) differs from the approved one" },
	{ SKR_R_pcr_not_quoted, "the TPM quote does not cover the PCRs the policy needs" },
	{ SKR_R_key_unknown, "the broker does not know this disk's key" },
	{ SKR_R_snp_tcb_too_low, "the platform firmware (TCB) is older than the policy allows" },
	{ SKR_R_snp_measurement_not_allowed, "the VM's launch measurement is not approved" },
	{ SKR_R_snp_debug_enabled, "the VM runs with debugging enabled" },
	{ SKR_R_chain_untrusted, "the hardware report does not chain to AMD" },
	{ SKR_R_snp_signature_invalid, "the hardware report's signature is invalid" },
	{ SKR_R_quote_signature_invalid, "the TPM quote's signature is invalid" },
	{ SKR_R_nonce_expired, "the broker's challenge expired" },
	{ SKR_R_broker_unreachable, "no broker answered" },
	{ SKR_R_broker_protocol, "the broker's answer did not follow the protocol" },
	{ SKR_R_tpm_unavailable, "the TPM is not available" },
	{ SKR_R_tpm_error, "the TPM failed" },
	{ SKR_R_malformed, "the skr token is invalid" },
};

const char *skr_reason_words(enum skr_reason r)
{
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].r == r)
			return table[i].words;
	return NULL;
}

bool skr_reason_is_unreachable(enum skr_reason r)
{
	return r == SKR_R_broker_unreachable || r == SKR_R_tpm_unavailable || r == SKR_R_tpm_error ||
	       r == SKR_R_tpm_nv_uninitialized || r == SKR_R_tpm_nv_undefined;
}

bool skr_reason_is_refusal(enum skr_reason r)
{
	return r < SKR_R__COUNT && skr_reason_class(r) == SKR_CLASS_VERIFY;
}

/* "PCR 7: seen ..." in the broker's detail names the first PCR that differs. */
static int first_pcr(const char *detail)
{
	const char *p = strstr(detail, "PCR ");
	char *end;
	long n;

	if (!p)
		return -1;
	n = strtol(p + 4, &end, 10);
	return end != p + 4 && n >= 0 && n <= 23 ? (int)n : -1;
}

void skr_describe_failure(const struct skr_err *err, const char *broker, char *out, size_t n)
{
	const char *code = skr_reason_name(err->reason);
	const char *words = skr_reason_words(err->reason);
	const char *refused = strstr(err->detail, " refused: ");
	char who[512];

	/* The release client's refusal detail starts with the broker that refused. */
	if (refused && (size_t)(refused - err->detail) < sizeof(who)) {
		memcpy(who, err->detail, (size_t)(refused - err->detail));
		who[refused - err->detail] = '\0';
	} else {
		snprintf(who, sizeof(who), "%s", broker ? broker : "the broker");
	}
	if (err->reason == SKR_R_pcr_mismatch && first_pcr(err->detail) >= 0)
		snprintf(out, n, "refused by %s: PCR %d differs from the approved boot state (%s)", who,
			 first_pcr(err->detail), code);
	else if (skr_reason_is_refusal(err->reason))
		snprintf(out, n, "refused by %s: %s (%s)", who, words ? words : "verification failed",
			 code);
	else if (err->reason == SKR_R_broker_unreachable)
		snprintf(out, n, "no answer from %s (%s)", who, code);
	else
		snprintf(out, n, "%s (%s)", words ? words : "the release failed", code);
}
