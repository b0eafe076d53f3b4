/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A key's release policy (JSON), checked by the broker:
 *
 *   {"tee": "az-snp-vtpm",
 *    "snp": {"allow_debug": false, "max_vmpl": 0,
 *            "min_tcb": {"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115},
 *            "measurements": ["hex48", ...], "host_data": "hex32",
 *            "id_key_digest": "hex48"},
 *    "pcrs": {"bank": "sha256", "indexes": [4, 7, 11]},
 *    "allow_attested_reseal": false}
 *
 *   {"tee": "azure-tl",
 *    "ak_subjects": ["<id>.TrustedVM.Azure.windows.net", ...],
 *    "pcrs": {...}, "allow_attested_reseal": false}
 *
 *   {"tee": "tpm", "ek_spki_sha256": ["hex32", ...], "pcrs": {...}}
 *
 *   {"tee": "snp-svsm", "snp": {...}, "pcrs": {...}}   (SVSM vTPM, DESIGN 2.3.1:
 *    the SNP requirements, measurement optional, and the PCRs, required)
 *
 * "tee" defaults to az-snp-vtpm (policies stored before Trusted Launch).  A
 * key of one mode refuses evidence of the other (tee_mismatch).  "snp"
 * applies to az-snp-vtpm only and "ak_subjects" to azure-tl only: each in
 * the other mode is policy_invalid.  "ak_subjects" pins the AK certificate's
 * subject CN (exact match; akcert_subject otherwise), so that a key is
 * released to one VM only; without it any Trusted Launch VM whose boot state
 * matches a reference set qualifies.  "ek_spki_sha256" (tpm only) pins the
 * EK: the SHA-256 of its certificate's SubjectPublicKeyInfo (ek_not_pinned
 * otherwise), for the same reason: without it any TPM the broker's ek_roots
 * certified qualifies, and a CA certifies a whole fleet, or every swtpm.
 *
 * Unknown keys are refused so that a typo never weakens a policy.  Reference
 * PCR sets live beside the policy (the broker's store); a release needs the
 * quoted PCRs to equal one of them at every index of "pcrs".
 */
#ifndef SKR_POLICY_H
#define SKR_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>
#include <tss2/tss2_tpm2_types.h>

#include "common/err.h"
#include "verify/eventlog.h"
#include "verify/snp_report.h"
#include "verify/tee.h"

#define SKR_POLICY_MAX_MEASUREMENTS 32
#define SKR_POLICY_MAX_AK_SUBJECTS 16
#define SKR_POLICY_AK_SUBJECT_MAX 255	/* characters of one subject CN */
#define SKR_POLICY_MAX_EK_PINS 16

struct skr_policy {
	enum skr_tee tee;
	size_t n_ak_subjects;
	char ak_subjects[SKR_POLICY_MAX_AK_SUBJECTS][SKR_POLICY_AK_SUBJECT_MAX + 1];
	size_t n_ek_pins;
	uint8_t ek_pins[SKR_POLICY_MAX_EK_PINS][32];	/* SHA-256 of the EK's SPKI */
	bool allow_debug;
	uint32_t max_vmpl;
	bool has_min_tcb;
	struct skr_snp_tcb min_tcb;
	size_t n_measurements;
	uint8_t measurements[SKR_POLICY_MAX_MEASUREMENTS][48];
	bool has_host_data;
	uint8_t host_data[32];
	bool has_id_key_digest;
	uint8_t id_key_digest[48];
	uint16_t pcr_bank;		/* TPM_ALG_ID, sha256 by default */
	uint32_t pcr_mask;		/* bit i: PCR i is bound */
	bool allow_attested_reseal;
};

int skr_policy_parse(const char *json, struct skr_policy *out, struct skr_err *err);
int skr_policy_from_json(json_object *obj, struct skr_policy *out, struct skr_err *err);

/*
 * What the broker accepts as a key's PCR binding, at creation, at a policy
 * change and at every use of a stored policy (fail closed for a policy stored
 * before the rule):
 *   - at least one PCR, else binding_too_weak: a policy without PCRs would
 *     release the key to any boot state that passes the SNP checks, whatever
 *     kernel, initrd or command line the host put on the ESP;
 *   - never PCR 15 (SKR_GATE_PCR), else policy_invalid: the boot gate is
 *     checked on its own at every release (all zero) and at reseal, so a
 *     reference value for it could only contradict that rule.
 * Which PCRs are enough for a boot chain is the client's decision
 * (binding.h: enroll refuses what leaves the initrd or command line
 * unmeasured); the broker cannot see the chain.
 */
int skr_policy_check_binding(const struct skr_policy *p, struct skr_err *err);

/* The SNP requirements: debug, VMPL, minimum TCB, measurement and pins. */
int skr_policy_check_snp(const struct skr_policy *p, const struct skr_snp_report *r,
			 enum skr_snp_product product, struct skr_err *err);

/* The evidence's mode is the key's (tee_mismatch otherwise). */
int skr_policy_check_tee(const struct skr_policy *p, enum skr_tee evidence_tee,
			 struct skr_err *err);

/* The AK certificate's subject CN is one of "ak_subjects" (when there are any). */
int skr_policy_check_ak_subject(const struct skr_policy *p, const char *subject_cn,
				struct skr_err *err);

/* The verified EK's SPKI SHA-256 is one of "ek_spki_sha256" (when there are any). */
int skr_policy_check_ek_pin(const struct skr_policy *p, const uint8_t ek_spki_sha256[32],
			    struct skr_err *err);

/* The quote covers every bound PCR of the policy's bank. */
int skr_policy_check_quote_selection(const struct skr_policy *p, const TPMS_ATTEST *quote,
				     struct skr_err *err);

/*
 * As skr_policy_check_pcrs, and *matched is the index of the last set that
 * matches (the newest, as sets are listed by id).
 */
int skr_policy_match_pcrs(const struct skr_policy *p, const struct skr_pcr_banks *seen,
			  const struct skr_pcr_banks *refsets, size_t n_refsets, size_t *matched,
			  struct skr_err *err);

/*
 * The quoted values (seen) equal one reference set at every bound index.
 * On refusal the detail names, for the closest set, each differing PCR with
 * the value seen and the values the sets allow.
 */
int skr_policy_check_pcrs(const struct skr_policy *p, const struct skr_pcr_banks *seen,
			  const struct skr_pcr_banks *refsets, size_t n_refsets,
			  struct skr_err *err);

#endif
