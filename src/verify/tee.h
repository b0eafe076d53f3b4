/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The attestation modes ("tee" in evidence and in a key's policy):
 *   az-snp-vtpm  Azure Confidential VM: SEV-SNP report, HCL claims, the AK
 *                they name, a quote by that AK;
 *   azure-tl     Azure Trusted Launch: no SNP; Azure's certificate for the
 *                vTPM's AK (verify/akcert.h) and a quote by that AK.  The
 *                host runs the vTPM: this proves the boot state as Azure's
 *                vTPM measured it, not protection from the host;
 *   tpm          a TPM with an EK certificate from configured roots; the AK
 *                proven on it by credential activation (verify/makecred.h,
 *                DESIGN.md 2.2) and a quote by that AK;
 *   snp          bare SEV-SNP (GCP, AWS, KVM; DESIGN 2.3): a report the guest
 *                asked for itself, REPORT_DATA binding the nonce and an
 *                ephemeral P-256 wrap key; the boot state is the launch
 *                measurement, there are no PCRs;
 *   snp-svsm     bare SEV-SNP under an SVSM vTPM (DESIGN 2.3.1): the SVSM's
 *                report at VMPL0 binds the nonce and the services manifest,
 *                whose vTPM entry is the EK; the AK proven on that EK by
 *                credential activation (as tpm) and a quote by that AK.
 * A key of one mode never accepts evidence of another (tee_mismatch).
 */
#ifndef SKR_TEE_H
#define SKR_TEE_H

#include <string.h>

enum skr_tee {
	SKR_TEE_AZ_SNP_VTPM = 0,
	SKR_TEE_AZURE_TL = 1,
	SKR_TEE_TPM = 2,
	SKR_TEE_SNP = 3,
	SKR_TEE_SNP_SVSM = 4,
	SKR_TEE__COUNT
};

#define SKR_TEE_NAME_AZ_SNP_VTPM "az-snp-vtpm"
#define SKR_TEE_NAME_AZURE_TL "azure-tl"
#define SKR_TEE_NAME_TPM "tpm"
#define SKR_TEE_NAME_SNP "snp"
#define SKR_TEE_NAME_SNP_SVSM "snp-svsm"

static inline const char *skr_tee_name(enum skr_tee tee)
{
	return tee == SKR_TEE_AZURE_TL ? SKR_TEE_NAME_AZURE_TL
	       : tee == SKR_TEE_TPM    ? SKR_TEE_NAME_TPM
	       : tee == SKR_TEE_SNP    ? SKR_TEE_NAME_SNP
	       : tee == SKR_TEE_SNP_SVSM ? SKR_TEE_NAME_SNP_SVSM
				       : SKR_TEE_NAME_AZ_SNP_VTPM;
}

/* The mode of that name; -1 for none. */
static inline int skr_tee_from_name(const char *name)
{
	if (!strcmp(name, SKR_TEE_NAME_AZ_SNP_VTPM))
		return SKR_TEE_AZ_SNP_VTPM;
	if (!strcmp(name, SKR_TEE_NAME_AZURE_TL))
		return SKR_TEE_AZURE_TL;
	if (!strcmp(name, SKR_TEE_NAME_TPM))
		return SKR_TEE_TPM;
	if (!strcmp(name, SKR_TEE_NAME_SNP))
		return SKR_TEE_SNP;
	if (!strcmp(name, SKR_TEE_NAME_SNP_SVSM))
		return SKR_TEE_SNP_SVSM;
	return -1;
}

#endif
