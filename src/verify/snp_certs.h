/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The GHCB certificate table (GHCB specification, "SNP Extended Guest
 * Request"): what configfs-tsm's auxblob and SNP_GET_EXT_REPORT's
 * certificate buffer hold.  Entries {guid[16] (RFC 4122 byte order), u32
 * offset, u32 length} (little-endian), ended by an all-zero entry; offsets
 * count from the start of the blob.
 *
 * The host writes this table, so the parser trusts nothing in it: the
 * terminator lies inside the blob, every entry's bytes lie inside the blob
 * after the table, no certificate is empty or over SKR_VCEK_MAX_DER bytes,
 * no known GUID repeats (snp_certs_malformed), and a VCEK or a VLEK is
 * there (snp_certs_no_vcek).  Unknown GUIDs are bounds-checked and
 * skipped.  The certificates themselves are not parsed here: the broker
 * verifies them (verify/amd_chain.h).
 */
#ifndef SKR_SNP_CERTS_H
#define SKR_SNP_CERTS_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define SKR_SNP_CERT_ENTRY_SIZE 24
#define SKR_SNP_CERTS_MAX_ENTRIES 64	/* real tables have 3; bounds a hostile one */
#define SKR_SNP_CERTS_MAX_BLOB (1u << 20)

enum skr_snp_cert_kind {
	SKR_SNP_CERT_VCEK = 0,
	SKR_SNP_CERT_VLEK,
	SKR_SNP_CERT_ASK,
	SKR_SNP_CERT_ARK,
	SKR_SNP_CERT__COUNT
};

/* Each known certificate as a slice of the parsed blob (NULL, 0: absent). */
struct skr_snp_certs {
	const uint8_t *der[SKR_SNP_CERT__COUNT];
	size_t len[SKR_SNP_CERT__COUNT];
};

extern const uint8_t skr_snp_cert_guid[SKR_SNP_CERT__COUNT][16];

/* The name of a kind: "vcek", "vlek", "ask", "ark" (the evidence's keys). */
const char *skr_snp_cert_kind_name(enum skr_snp_cert_kind kind);

/* Parses blob; out points into it and lives as long as it. */
int skr_snp_certs_parse(const uint8_t *blob, size_t len, struct skr_snp_certs *out,
			struct skr_err *err);

#endif
