/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test-only: provisions a TPM (swtpm) the way Azure's paravisor provisions a
 * CVM's vTPM, so the VM-side code (src/vm/tpm.c) runs against a real TPM:
 *
 *   - the AK: an RSA-2048 restricted signing primary of the endorsement
 *     hierarchy (fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|noDA,
 *     RSASSA-SHA256; the paravisor's template) persisted at 0x81000003, an
 *     older key at that handle evicted first;
 *   - a test AMD chain (Milan), an SNP report signed by its VCEK whose
 *     REPORT_DATA binds the runtime claims (HCLAkPub = the AK), assembled into
 *     an HCL report;
 *   - NV index 0x01400001 (owner hierarchy; AUTHREAD|AUTHWRITE|OWNERREAD|
 *     OWNERWRITE|NO_DA; a random 8-byte auth value of its own, as the
 *     paravisor's, so readers must use owner auth) sized exactly to the report
 *     and written in chunks of TPM2_PT_NV_BUFFER_MAX.  An older index is
 *     undefined first.
 *
 * Used by tests/tools/skr-fake-azure and tests/unit/test_tpm.c.
 */
#ifndef SKR_FAKEVTPM_H
#define SKR_FAKEVTPM_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include "testchain.h"
#include "vm/tpm.h"
#include "common/util.h"

#define SKR_FAKEVTPM_SWTPM_NV_MAX 2048	/* libtpms' MAX_NV_INDEX_SIZE */

struct skr_fakevtpm_opts {
	bool debug;			/* SNP POLICY.DEBUG */
	int tcb_snp;			/* SNP SPL of VCEK and report; < 0 = chain default */
	bool have_measurement;
	uint8_t measurement[48];
	bool have_chip_seed;		/* CHIP_ID / hwID derived from chip_seed */
	uint32_t chip_seed;
	const uint8_t *user_data;	/* claims "user-data"; NULL = none */
	size_t user_data_len;
	bool no_hcl;			/* an unprovisioned paravisor: no NV index at all */
	bool define_only;		/* define the index but never write it */
};

void skr_fakevtpm_opts_init(struct skr_fakevtpm_opts *o);

struct skr_fakevtpm {
	struct skr_test_chain chain;
	TPM2B_PUBLIC ak_public;		/* as the TPM returned it */
	EVP_PKEY *ak;			/* its public key */
	struct skr_buf claims;
	struct skr_buf hcl;		/* the report (built even with no_hcl/define_only) */
	uint8_t snp[SKR_TEST_REPORT_SIZE];
};

int skr_fakevtpm_provision(struct skr_tpm *t, const struct skr_fakevtpm_opts *o,
			   struct skr_fakevtpm *out, struct skr_err *err);
void skr_fakevtpm_free(struct skr_fakevtpm *f);

/*
 * Writes into an existing directory: the chain (skr_test_chain_write), ak.pem
 * (SubjectPublicKeyInfo), ak.pub (marshalled TPM2B_PUBLIC), claims.json,
 * report.bin (the SNP report) and hcl.bin.
 */
int skr_fakevtpm_write(const struct skr_fakevtpm *f, const char *dir, struct skr_err *err);

/* The pieces, for tests that need one of them. */
int skr_fakevtpm_create_ak(struct skr_tpm *t, TPM2B_PUBLIC *out, struct skr_err *err);
/* The same with another template (a primary of the endorsement hierarchy, persisted there). */
int skr_fakevtpm_create_ak_from(struct skr_tpm *t, const TPM2B_PUBLIC *tmpl, TPM2B_PUBLIC *out,
				struct skr_err *err);
/* Undefines index if present; a no-op when it is not. */
int skr_fakevtpm_nv_undefine(struct skr_tpm *t, uint32_t index, struct skr_err *err);
/*
 * (Re)defines index with size bytes (the paravisor's attributes and a random
 * auth value) and, unless define_only, writes data (size bytes) in chunks.
 * Fails with usage when size exceeds the TPM's TPM2_PT_NV_INDEX_MAX.
 */
int skr_fakevtpm_nv_write(struct skr_tpm *t, uint32_t index, const uint8_t *data, size_t size,
			  bool define_only, struct skr_err *err);

#endif
