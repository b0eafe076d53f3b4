/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AMD SEV-SNP attestation report (SEV-SNP Firmware ABI, ATTESTATION_REPORT):
 * parsing of report versions 2 to 5, TCB decoding for Milan/Genoa and Turin,
 * and verification of the ECDSA P-384 / SHA-384 signature.
 */
#ifndef SKR_SNP_REPORT_H
#define SKR_SNP_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "common/err.h"

#define SKR_SNP_REPORT_SIZE 0x4A0	/* 1184 */
#define SKR_SNP_SIGNED_SIZE 0x2A0	/* bytes covered by the signature */
#define SKR_SNP_SIG_COMPONENT 72	/* R and S, little-endian, zero padded */

/* POLICY bits */
#define SKR_SNP_POLICY_SMT		(1ull << 16)
#define SKR_SNP_POLICY_RESERVED_1	(1ull << 17)
#define SKR_SNP_POLICY_MIGRATE_MA	(1ull << 18)
#define SKR_SNP_POLICY_DEBUG		(1ull << 19)
#define SKR_SNP_POLICY_SINGLE_SOCKET	(1ull << 20)

enum skr_snp_signer { SKR_SNP_SIGNER_VCEK = 0, SKR_SNP_SIGNER_VLEK = 1, SKR_SNP_SIGNER_NONE = 7 };

enum skr_snp_product {
	SKR_SNP_PRODUCT_UNKNOWN = 0,
	SKR_SNP_PRODUCT_MILAN,
	SKR_SNP_PRODUCT_GENOA,
	SKR_SNP_PRODUCT_TURIN,
};

/* One TCB_VERSION, decoded for a product's layout; fmc exists on Turin only. */
struct skr_snp_tcb {
	uint64_t raw;
	uint8_t bootloader, tee, snp, microcode, fmc;
};

struct skr_snp_report {
	uint32_t version;
	uint32_t guest_svn;
	uint64_t policy;
	uint8_t family_id[16];
	uint8_t image_id[16];
	uint32_t vmpl;
	uint32_t signature_algo;
	uint64_t current_tcb;
	uint64_t platform_info;
	bool author_key_en;
	bool mask_chip_key;
	enum skr_snp_signer signing_key;
	uint8_t report_data[64];
	uint8_t measurement[48];
	uint8_t host_data[32];
	uint8_t id_key_digest[48];
	uint8_t author_key_digest[48];
	uint8_t report_id[32];
	uint8_t report_id_ma[32];
	uint64_t reported_tcb;
	uint8_t cpuid_fam_id, cpuid_mod_id, cpuid_step;	/* version >= 3 */
	uint8_t chip_id[64];
	uint64_t committed_tcb;
	uint8_t current_build, current_minor, current_major;
	uint8_t committed_build, committed_minor, committed_major;
	uint64_t launch_tcb;
	uint64_t launch_mit_vector, current_mit_vector;	/* version >= 5 */
	uint8_t sig_r[SKR_SNP_SIG_COMPONENT];
	uint8_t sig_s[SKR_SNP_SIG_COMPONENT];
	uint8_t raw[SKR_SNP_REPORT_SIZE];
};

/* Parses exactly SKR_SNP_REPORT_SIZE bytes; versions 2 to 5, algorithm 1. */
int skr_snp_report_parse(const uint8_t *data, size_t len, struct skr_snp_report *out,
			 struct skr_err *err);

/* Verifies the report signature with the VCEK/VLEK public key (EC P-384). */
int skr_snp_report_verify_signature(const struct skr_snp_report *r, EVP_PKEY *key,
				    struct skr_err *err);

/* The product from CPUID fields (version >= 3); UNKNOWN for version 2. */
enum skr_snp_product skr_snp_report_product(const struct skr_snp_report *r);

/* Decodes a TCB_VERSION in the layout of the product (Turin differs). */
struct skr_snp_tcb skr_snp_tcb_decode(uint64_t raw, enum skr_snp_product product);

const char *skr_snp_product_name(enum skr_snp_product product);
/* Case-insensitive "milan", "genoa", "turin" (a "-B0" stepping suffix is ignored). */
enum skr_snp_product skr_snp_product_from_name(const char *name);

static inline bool skr_snp_report_debug(const struct skr_snp_report *r)
{
	return (r->policy & SKR_SNP_POLICY_DEBUG) != 0;
}

/* A TCB's components {"bootloader","tee","snp","microcode"[,"fmc"]} (the policy's min_tcb form). */
json_object *skr_snp_tcb_to_json(const struct skr_snp_tcb *t, bool with_fmc);

/* Every field as JSON with stable keys; byte strings in lower-case hex. */
json_object *skr_snp_report_to_json(const struct skr_snp_report *r, enum skr_snp_product product);

#endif
