/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SVSM vTPM variant of bare SEV-SNP (issue 16, docs/DESIGN.md 2.3.1): the
 * services manifest an SVSM returns with its attestation report, and the
 * binding of that report to a nonce and to the manifest.
 *
 * Sources (AMD "Secure VM Service Module for SEV-SNP Guests", 58019 rev.
 * 1.00, section 7 "Attestation", tables 11 to 13, and section 8.3.1 for the
 * vTPM service; as implemented by COCONUT-SVSM kernel/src/protocols/attest.rs
 * and parsed by google/go-sev-guest abi/abi_svsm.go; Linux configfs-tsm,
 * Documentation/ABI/testing/configfs-tsm, service_provider "svsm",
 * service_guid, service_manifest_version, manifestblob):
 *
 *  - REPORT_DATA of the SNP report the SVSM asks for (at VMPL0) is
 *    SHA-512(nonce || manifest): nonce the 64 bytes the guest passed
 *    (configfs-tsm's inblob; Linux hands the SVSM as many bytes as were
 *    written, and COCONUT-SVSM takes exactly 64), manifest exactly the
 *    bytes returned (configfs-tsm's manifestblob).
 *  - SVSM_ATTEST_SERVICES (configfs-tsm service_guid all zero, the default)
 *    returns the services manifest: a 24-byte header {guid[16] = 63849ebb-
 *    3d92-4670-a1ff-58f9c94b87bb, u32 size (of the whole manifest), u32
 *    count}, count 24-byte entries {guid[16], u32 offset (from the start of
 *    the manifest), u32 size}, then the entries' data.  Integers are
 *    little-endian; GUIDs in the mixed-endian (EFI) layout: the first three
 *    fields little-endian, the last eight bytes as written.
 *  - SVSM_ATTEST_SINGLE_SERVICE (service_guid = the vTPM's c476f1eb-0123-
 *    45a5-9641-b4e7dde5bfe3, service_manifest_version 0) returns that one
 *    service's manifest alone, no header.
 *  - The vTPM service's manifest is its EK public area: a marshalled
 *    TPMT_PUBLIC (no TPM2B size), the key TPM2_CreatePrimary makes from the
 *    TCG EK Credential Profile's default template L-1 (RSA-2048, SHA-256,
 *    AES-128-CFB, policy A).  COCONUT-SVSM caches it at vTPM start.
 *
 * The guest writes none of this (the SVSM does, at VMPL0) but it carries it
 * to the broker, so nothing is trusted before the binding holds, and the
 * parser trusts nothing either (the fuzz target runs it on anything): the
 * manifest is at most SKR_SVSM_MANIFEST_MAX bytes, its size field equals its
 * length, the entry table lies inside it, every entry's data lies inside
 * it after the table, no two entries overlap or share a GUID, and the
 * entries' data covers every byte after the table (the SVSM writes them
 * back to back) (svsm_manifest_malformed); a vTPM entry is there
 * (svsm_no_vtpm); its data is exactly one TPMT_PUBLIC of template L-1's
 * shape (svsm_ek_unsupported otherwise).
 */
#ifndef SKR_SVSM_MANIFEST_H
#define SKR_SVSM_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_tpm2_types.h>

#include "common/err.h"
#include "verify/snp_report.h"

#define SKR_SVSM_GUID_ENTRY_SIZE 24	/* the header and each entry */
#define SKR_SVSM_MANIFEST_MAX (64u * 1024)	/* one vTPM EK is 314 bytes */
#define SKR_SVSM_MAX_SERVICES 64	/* COCONUT-SVSM lists 1; bounds a hostile count */
#define SKR_SVSM_NONCE_SIZE 64	/* the SVSM takes exactly 64 bytes */
#define SKR_SVSM_BIND_LABEL "skr-svsm-v1"

/* Mixed-endian byte layouts, as they appear in the manifest. */
extern const uint8_t skr_svsm_manifest_guid[16];
extern const uint8_t skr_svsm_vtpm_guid[16];

/* Which attestation call produced the manifest. */
enum skr_svsm_form {
	SKR_SVSM_FORM_SERVICES = 0,	/* SVSM_ATTEST_SERVICES: the GUID table */
	SKR_SVSM_FORM_SINGLE_VTPM,	/* SVSM_ATTEST_SINGLE_SERVICE for the vTPM: the EK alone */
};

struct skr_svsm_entry {
	const uint8_t *guid;	/* 16 bytes, into the manifest */
	const uint8_t *data;	/* into the manifest; NULL when size is 0 */
	size_t size;
};

/* A parsed services manifest; pointers into the blob, valid as long as it. */
struct skr_svsm_manifest {
	size_t count;
	struct skr_svsm_entry entries[SKR_SVSM_MAX_SERVICES];
	const struct skr_svsm_entry *vtpm;	/* NULL: no vTPM service */
};

/* The vTPM's EK: its marshalled TPMT_PUBLIC (into the manifest) and parsed. */
struct skr_svsm_ek {
	const uint8_t *tpmt;
	size_t tpmt_len;
	TPM2B_PUBLIC pub;	/* ready for skr_tpm_public_to_pkey */
};

/* Parses a services manifest (SKR_SVSM_FORM_SERVICES); out->vtpm may be NULL. */
int skr_svsm_manifest_parse(const uint8_t *blob, size_t len, struct skr_svsm_manifest *out,
			    struct skr_err *err);

/* Parses the vTPM's manifest: exactly one TPMT_PUBLIC of template L-1's shape. */
int skr_svsm_ek_parse(const uint8_t *data, size_t len, struct skr_svsm_ek *out,
		      struct skr_err *err);

/* The EK from a manifest of either form (svsm_no_vtpm when the table lacks it). */
int skr_svsm_vtpm_ek(enum skr_svsm_form form, const uint8_t *manifest, size_t len,
		     struct skr_svsm_ek *out, struct skr_err *err);

/*
 * The 64-byte SVSM nonce skr's VM hands the SVSM (configfs-tsm inblob):
 * SHA-512("skr-svsm-v1" (11 bytes) || broker nonce (32 bytes)).  The label
 * keeps it apart from the no-vTPM binding (verify/snp_bind.h).
 */
int skr_svsm_nonce(const uint8_t *nonce, size_t nonce_len, uint8_t out[SKR_SVSM_NONCE_SIZE],
		   struct skr_err *err);

/* REPORT_DATA as the SVSM specification defines it: SHA-512(svsm_nonce || manifest). */
int skr_svsm_report_data(const uint8_t svsm_nonce[SKR_SVSM_NONCE_SIZE], const uint8_t *manifest,
			 size_t len, uint8_t out[64], struct skr_err *err);

/*
 * The whole check of an SVSM report already verified (signature, chain,
 * policy) by the existing code: the report came from VMPL0 (only the SVSM
 * runs there: the guest OS can ask for a report with any REPORT_DATA, but
 * not at VMPL0; snp_vmpl_not_allowed), REPORT_DATA equals
 * SHA-512(skr_svsm_nonce(nonce) || manifest) in constant time
 * (svsm_binding_mismatch), and only then is the manifest parsed and its EK
 * returned in *ek (pointers into manifest).
 */
int skr_svsm_report_check(const struct skr_snp_report *report, const uint8_t *nonce,
			  size_t nonce_len, enum skr_svsm_form form, const uint8_t *manifest,
			  size_t len, struct skr_svsm_ek *ek, struct skr_err *err);

#endif
