/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Azure vTPM evidence bundles, verified end to end.
 *
 * az-snp-vtpm (Confidential VM): the AMD chain and the VCEK, the SNP report
 * signature and policy, the HCL claims binding, the AK taken from the claims,
 * and the TPM quote (signature, nonce, PCR digest).
 * azure-tl (Trusted Launch, verify/tee.h): the AK's public area
 * (verify/akcert.h), Azure's certificate for it up to a trusted root, the
 * certificate's key equal to the AK, the subject pin, and the quote.
 *
 * Two JSON layouts are read:
 *   skr:     {"tee": "az-snp-vtpm", "hcl_report": b64, "vcek": b64 DER,
 *             "quote": {"attest": b64, "signature": b64},
 *             "pcrs": {"sha256": {"0": hex, ...}}}            (the release protocol)
 *            {"tee": "azure-tl", "ak_cert": b64 DER, "ak_chain": b64 of
 *             concatenated DER (optional, untrusted), "ak_public": b64
 *             TPM2B_PUBLIC, "quote", "pcrs" as above}         (no hcl_report, no vcek)
 *            {"tee": "snp", "report": b64 (1184 bytes), "certs": {"vcek" | "vlek":
 *             b64 DER, "ask", "ark": b64 DER (optional, untrusted: the broker's
 *             anchors decide)}, "wrap_key": {"epk": b64 of 65 bytes}}
 *                                                             (bare SNP; DESIGN 2.3)
 *            {"tee": "snp-svsm", "report", "certs" as snp, "manifest": b64 (the
 *             SVSM's services manifest), "ak_public", "activation", "quote",
 *             "pcrs", "wrap_key" as tpm}                    (SVSM vTPM; DESIGN 2.3.1)
 *   trustee: {"version": 1|2, "tpm_quote": {"signature": hex, "message": hex,
 *             "pcrs": [24 x hex]}, "hcl_report": b64url, "vcek": b64url DER}
 */
#ifndef SKR_EVIDENCE_H
#define SKR_EVIDENCE_H

#include <stdbool.h>

#include <json-c/json.h>
#include <tss2/tss2_tpm2_types.h>

#include "verify/akcert.h"
#include "verify/amd_chain.h"
#include "common/err.h"
#include "verify/eventlog.h"
#include "verify/hcl_report.h"
#include "verify/makecred.h"
#include "common/util.h"
#include "verify/tee.h"

#define SKR_EVIDENCE_MAX_JSON (1u << 20)

enum skr_evidence_format { SKR_EVIDENCE_SKR = 1, SKR_EVIDENCE_TRUSTEE };

struct skr_evidence {
	enum skr_evidence_format format;
	int trustee_version;
	enum skr_tee tee;		/* trustee bundles are az-snp-vtpm */
	struct skr_buf hcl_report;
	struct skr_buf vcek;		/* DER; empty when the bundle has none */
	struct skr_buf quote_attest;
	struct skr_buf quote_signature;
	struct skr_pcr_banks pcrs;
	/* azure-tl: Azure's AK certificate (DER), extra DER intermediates, the AK's TPM2B_PUBLIC. */
	struct skr_buf ak_cert;
	struct skr_buf ak_chain;
	struct skr_buf ak_public;	/* tpm too */
	/* tpm: the EK certificate (DER), extra DER intermediates, the EK's
	 * TPM2B_PUBLIC, and the credential TPM2_ActivateCredential recovered. */
	struct skr_buf ek_cert;
	struct skr_buf ek_chain;
	struct skr_buf ek_public;
	struct skr_buf activation;
	/* skr layout, release requests: "wrap_key": {"public", "certify_attest",
	 * "certify_signature"} (TPM2B_PUBLIC, TPMS_ATTEST, TPMT_SIGNATURE). */
	struct skr_buf wrap_public;
	struct skr_buf wrap_certify_attest;
	struct skr_buf wrap_certify_signature;
	/* snp: the report, "vlek" (else "vcek": in .vcek), ASK/ARK, the wrap key's point. */
	struct skr_buf snp_report;
	bool vlek;
	struct skr_buf snp_ask, snp_ark;
	struct skr_buf wrap_epk;
	/* snp-svsm: the report and certs as snp, the services manifest
	 * (manifestblob), ak_public and activation as tpm; no EK fields. */
	struct skr_buf svsm_manifest;
};

/* Parses either layout from a JSON object; bounds every field. */
int skr_evidence_from_json(json_object *obj, struct skr_evidence *ev, struct skr_err *err);
/*
 * tpm: the identity fields of obj ("ek_cert", "ek_chain" (optional),
 * "ek_public", "ak_public", base64, bounded) into ev: the challenge's "tpm"
 * object and the release evidence carry the same.  id points into ev.
 */
int skr_evidence_tpm_identity(json_object *obj, struct skr_evidence *ev,
			      struct skr_tpm_identity *id, struct skr_err *err);
/*
 * snp-svsm: the challenge's "tpm" object, "ek_public" and "ak_public" only
 * (no certificate: the SVSM's report vouches for the EK at the release).
 */
int skr_evidence_svsm_identity(json_object *obj, struct skr_evidence *ev,
			       struct skr_tpm_identity *id, struct skr_err *err);
/* Parses JSON text (at most SKR_EVIDENCE_MAX_JSON bytes). */
int skr_evidence_parse(const char *text, size_t len, struct skr_evidence *ev,
		       struct skr_err *err);
void skr_evidence_free(struct skr_evidence *ev);

struct skr_evidence_policy {
	const struct skr_amd_trust *trust;
	enum skr_snp_product product;	/* UNKNOWN: from the VCEK or the report */
	X509 *vcek;			/* overrides the bundle's VCEK when set */
	const void *chain_pem;		/* presented ASK/ARK; may be NULL */
	size_t chain_pem_len;
	const uint8_t *nonce;		/* expected quote qualifying data; NULL: not checked
					   (snp: the REPORT_DATA binding's, required) */
	size_t nonce_len;
	bool allow_debug;
	struct skr_chain_cache *chain_cache;	/* verified VCEK chains; may be NULL */
	/*
	 * Called after the SNP signature and debug checks, before the claims
	 * are looked at (the broker's minimum TCB, VMPL, measurement pins).
	 */
	int (*snp_policy)(const struct skr_snp_report *r, enum skr_snp_product product,
			  void *ctx, struct skr_err *err);
	void *snp_policy_ctx;
	/* azure-tl: the AK certificate trust (NULL: the built-in root and CA-03 only). */
	const struct skr_akcert_trust *ak_trust;
	time_t now;			/* the AK certificate's validity time; 0: now */
	/* Called once the AK certificate verified and matched the AK (subject pins). */
	int (*ak_policy)(const struct skr_akcert_info *info, void *ctx, struct skr_err *err);
	void *ak_policy_ctx;
	/* tpm: the EK trust (skr_ekcert_trust_new; NULL: none configured) and
	 * the key of skr_activation_credential (the broker's nonce secret). */
	const struct skr_akcert_trust *ek_trust;
	const uint8_t *activation_key;
	size_t activation_key_len;
	/* Called once the EK certificate verified and matched the EK (EK pins),
	 * before the activation answer is compared. */
	int (*ek_policy)(const struct skr_tpm_identity_result *id, void *ctx, struct skr_err *err);
	void *ek_policy_ctx;
};

/* What verification established; valid only for the steps that passed. */
struct skr_evidence_result {
	struct skr_hcl_report hcl;	/* snp: only hcl.snp, the bare report */
	struct skr_vcek_info vcek;
	enum skr_snp_product product;
	EVP_PKEY *ak;			/* HCLAkPub, once the claims verified; azure-tl: the
					   checked AK public area */
	struct skr_akcert_info akcert;	/* azure-tl: the verified AK certificate */
	struct skr_tpm_identity_result tpm;	/* tpm: the verified EK and AK */
	TPMS_ATTEST quote;
	bool quote_parsed;
};

int skr_evidence_verify(const struct skr_evidence *ev, const struct skr_evidence_policy *pol,
			struct skr_evidence_result *res, struct skr_err *err);
void skr_evidence_result_free(struct skr_evidence_result *res);

#endif
