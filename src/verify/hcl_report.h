/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Azure HCL report (vTPM NV index 0x01400001): a 32-byte header, the SNP
 * report, a runtime data header and the runtime claims JSON whose hash is the
 * SNP REPORT_DATA.  The claims carry the vTPM attestation key (HCLAkPub).
 */
#ifndef SKR_HCL_REPORT_H
#define SKR_HCL_REPORT_H

#include <stdint.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "common/err.h"
#include "verify/snp_report.h"

#define SKR_HCL_NV_INDEX 0x01400001u
#define SKR_HCL_HEADER_SIZE 32
#define SKR_HCL_SNP_OFFSET SKR_HCL_HEADER_SIZE
#define SKR_HCL_RUNTIME_OFFSET (SKR_HCL_SNP_OFFSET + SKR_SNP_REPORT_SIZE)	/* 1216 */
#define SKR_HCL_RUNTIME_HEADER_SIZE 20
#define SKR_HCL_CLAIMS_OFFSET (SKR_HCL_RUNTIME_OFFSET + SKR_HCL_RUNTIME_HEADER_SIZE) /* 1236 */
#define SKR_HCL_MAX_CLAIMS (64u << 10)

#define SKR_HCL_REQUEST_TYPE_SNP 2
#define SKR_HCL_REPORT_TYPE_SNP 2

enum skr_hcl_hash { SKR_HCL_HASH_SHA256 = 1, SKR_HCL_HASH_SHA384 = 2, SKR_HCL_HASH_SHA512 = 3 };

struct skr_hcl_report {
	uint32_t version;	/* header */
	uint32_t report_size;	/* header field; unreliable, kept for display */
	uint32_t request_type;
	uint32_t status;
	struct skr_snp_report snp;
	uint32_t runtime_data_size;
	uint32_t runtime_version;
	uint32_t runtime_report_type;
	uint32_t hash_type;
	char *claims;		/* NUL-terminated copy of the claims bytes */
	size_t claims_len;
	json_object *claims_json;
};

/*
 * Parses the fixed layout and bounds the claims, but does not parse the claims
 * JSON: verify the SNP report and the binding first, then skr_hcl_parse_claims.
 */
int skr_hcl_report_parse(const uint8_t *data, size_t len, struct skr_hcl_report *out,
			 struct skr_err *err);
void skr_hcl_report_free(struct skr_hcl_report *r);

/* The claims digest with the report's hash type; returns its length or -1. */
int skr_hcl_claims_digest(const struct skr_hcl_report *r, uint8_t out[64], struct skr_err *err);

/* Parses the claims JSON (after skr_hcl_verify_binding has passed). */
int skr_hcl_parse_claims(struct skr_hcl_report *r, struct skr_err *err);

/* Checks HASH(claims) = REPORT_DATA[0:digest length] (constant time). */
int skr_hcl_verify_binding(const struct skr_hcl_report *r, struct skr_err *err);

/* The HCLAkPub JWK from the claims' "keys" as an RSA public key. */
int skr_hcl_ak_public(const struct skr_hcl_report *r, EVP_PKEY **out, struct skr_err *err);

/* The claims' "user-data" (hex in the JSON) decoded, if present; 0 when absent. */
int skr_hcl_user_data(const struct skr_hcl_report *r, uint8_t out[64], size_t *len,
		      struct skr_err *err);

#endif
