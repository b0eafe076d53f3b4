/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VM side of the release protocol, shared by skr-unlock, the token plugin
 * and `skrctl release`: challenge, evidence from the vTPM (HCL report, wrap
 * key, certify, quote), release, unwrap inside the vTPM.  The vTPM's mode
 * (skr_tpm_detect_mode) picks the evidence: the HCL report on an Azure
 * Confidential VM ("az-snp-vtpm"), Azure's AK certificate and the AK's
 * public area on Trusted Launch ("azure-tl"; vcek_file is ignored there);
 * on a TPM with only an EK certificate ("tpm", docs/DESIGN.md 2.2; bare
 * SNP first when the machine has it) the challenge carries the EK
 * certificate, the EK's and a transient AK's public areas, the broker's
 * credential is activated in the TPM, and the evidence carries the identity
 * again with the activation, and the AK's quote and certify.  Under an
 * SVSM vTPM ("snp-svsm", DESIGN.md 2.3.1: a TPM without Azure's indexes and
 * configfs-tsm entries offering service_provider) the same, without an EK
 * certificate, and the evidence carries the SVSM's report and manifest.
 * Brokers are tried in turn with exponential backoff and jitter under one
 * deadline; a broker's denial is final and its reason reaches the caller.
 */
#ifndef SKR_RELEASE_CLIENT_H
#define SKR_RELEASE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "common/err.h"

#define SKR_RELEASE_MAX_BROKERS 8
#define SKR_RELEASE_MAX_SECRET 128

struct skr_release_opts {
	const char *key_id;
	const char *brokers[SKR_RELEASE_MAX_BROKERS];	/* "https://host:port" */
	size_t n_brokers;
	const char *ca_file;		/* PEM the broker's certificate must chain to ... */
	const char *ca_pem;		/* ... or that PEM as text (from a LUKS2 token) */
	const char *tcti;		/* NULL: the kernel resource manager */
	const char *vcek_file;		/* VCEK (DER/PEM) to send; NULL: the broker's cache */
	const char *ek_chain_file;	/* tee "tpm": PEM EK intermediates; NULL: the TPM's NV */
	unsigned connect_timeout_ms;	/* per connection; 0 = 3000 */
	unsigned deadline_ms;		/* the whole release; 0 = 30000 */
	uint32_t pcr_mask;		/* quoted with the challenge's PCRs and PCR 15 (gate.h) */
};

/* Where the time went, for diagnostics and benchmarks. */
struct skr_release_timing {
	double tpm_ms, network_ms, total_ms;
	unsigned attempts;
};

/*
 * Runs the release.  secret_out must hold SKR_RELEASE_MAX_SECRET bytes and
 * should be locked memory (skr_secret_alloc); it is wiped on failure.
 * Failure reasons: a broker's denial reason (e.g. pcr_mismatch) with its
 * detail; broker_unreachable when no broker answered before the deadline;
 * tpm_unavailable / tpm_* when the vTPM fails; broker_protocol for answers
 * that do not follow the protocol (every field is checked, broker_answer.h,
 * and the detail names the one that is wrong) and for a wrapped secret that
 * does not open.  Text from the broker reaches err->detail sanitised.
 */
int skr_release(const struct skr_release_opts *o, uint8_t *secret_out, size_t *secret_len,
		struct skr_release_timing *timing, struct skr_err *err);

/*
 * Another attested call (the broker's reseal API): challenge, the same
 * evidence as a release, then POST path with {"key_id", "nonce", "evidence"},
 * "gate_events" (the boot gate log, skr_gate_log_read(NULL); a missing log
 * is [], a malformed one fails the call) and the members of fields (which may
 * name their own "gate_events"); *answer is the broker's 200 answer (caller
 * puts it), its members checked and reduced to the ones the protocol defines
 * for path (skr_answer_refvals).  Failures as skr_release.
 */
int skr_attested_call(const struct skr_release_opts *o, const char *path, json_object *fields,
		      json_object **answer, struct skr_err *err);

/*
 * Which path a release from this VM takes, by the release's own detection
 * (one TPM open and configfs-tsm probe: ask once, keep the answer):
 *   SKR_RELEASE_PATH_BARE_SNP  tee "snp": no TPM, or one without Azure's
 *       indexes, and configfs-tsm or /dev/sev-guest, and no SVSM vTPM.
 *       There is no PCR 15 gate: skr-unlock and the handover keep the
 *       disk-tag gate instead (luks/disk_tag.h);
 *   SKR_RELEASE_PATH_SVSM      tee "snp-svsm": the SVSM's vTPM (its gate is
 *       the vTPM's PCR 15, as in the TPM modes);
 *   SKR_RELEASE_PATH_TPM       everything else: Azure's modes, tee "tpm", or
 *       a TPM that cannot be used (the release then says why).
 */
enum skr_release_path {
	SKR_RELEASE_PATH_TPM = 0,
	SKR_RELEASE_PATH_BARE_SNP,
	SKR_RELEASE_PATH_SVSM,
};

enum skr_release_path skr_release_path(const char *tcti);

#endif
