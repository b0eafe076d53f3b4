/* SPDX-License-Identifier: Apache-2.0 */
/* The binary form of a local policy (local_policy.h): no TPM here. */
#include "vm/local_policy.h"

#include <string.h>

#include "common/pcr_bank.h"
#include "common/util.h"

void skr_local_policy_marshal(const struct skr_local_policy *p, uint8_t out[SKR_LOCAL_POLICY_SIZE])
{
	uint8_t *o = out;

	*o++ = SKR_LOCAL_POLICY_VERSION;
	*o++ = (uint8_t)(p->pcr_mask >> 24);
	*o++ = (uint8_t)(p->pcr_mask >> 16);
	*o++ = (uint8_t)(p->pcr_mask >> 8);
	*o++ = (uint8_t)p->pcr_mask;
	memcpy(o, p->pcr_digest, 32);
	o += 32;
	skr_put_be64(o, p->epoch);
	o += 8;
	memcpy(o, p->approved, 32);
	o += 32;
	memcpy(o, p->signature, SKR_LOCAL_SIG_SIZE);
}

int skr_local_policy_parse(const uint8_t *data, size_t len, struct skr_local_policy *out,
			   struct skr_err *err)
{
	struct skr_local_policy p;
	const uint8_t *d = data;

	if (len != SKR_LOCAL_POLICY_SIZE)
		return skr_fail(err, SKR_R_malformed, "a local policy is %u bytes, not %zu",
				SKR_LOCAL_POLICY_SIZE, len);
	if (d[0] != SKR_LOCAL_POLICY_VERSION)
		return skr_fail(err, SKR_R_malformed, "local policy version %u is not supported",
				d[0]);
	d++;
	p.pcr_mask = skr_be32(d);
	d += 4;
	if (p.pcr_mask == 0 || p.pcr_mask >> SKR_PCR_COUNT)
		return skr_fail(err, SKR_R_malformed,
				"local policy PCR mask 0x%08x selects no PCR or PCRs above 23",
				p.pcr_mask);
	memcpy(p.pcr_digest, d, 32);
	d += 32;
	p.epoch = skr_be64(d);
	d += 8;
	memcpy(p.approved, d, 32);
	d += 32;
	memcpy(p.signature, d, SKR_LOCAL_SIG_SIZE);
	*out = p;
	return 0;
}
