/* SPDX-License-Identifier: Apache-2.0 */
#include "verify/snp_certs.h"

#include <string.h>

#include "common/util.h"
#include "verify/amd_chain.h"

/* GHCB specification, table of certificate GUIDs; RFC 4122 byte order. */
const uint8_t skr_snp_cert_guid[SKR_SNP_CERT__COUNT][16] = {
	[SKR_SNP_CERT_VCEK] = { 0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64,
				0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd },
	[SKR_SNP_CERT_VLEK] = { 0xa8, 0x07, 0x4b, 0xc2, 0xa2, 0x5a, 0x48, 0x3e,
				0xaa, 0xe6, 0x39, 0xc0, 0x45, 0xa0, 0xb8, 0xa1 },
	[SKR_SNP_CERT_ASK] = { 0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4,
			       0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7, 0x82 },
	[SKR_SNP_CERT_ARK] = { 0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52,
			       0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0, 0xae },
};

const char *skr_snp_cert_kind_name(enum skr_snp_cert_kind kind)
{
	static const char *const names[SKR_SNP_CERT__COUNT] = { "vcek", "vlek", "ask", "ark" };

	return (unsigned)kind < SKR_SNP_CERT__COUNT ? names[kind] : "unknown";
}

static int kind_of(const uint8_t guid[16])
{
	int k;

	for (k = 0; k < SKR_SNP_CERT__COUNT; k++)
		if (!memcmp(guid, skr_snp_cert_guid[k], 16))
			return k;
	return -1;
}

/* The number of entries before the terminator; fails when it is not in the blob. */
static int count_entries(const uint8_t *blob, size_t len, size_t *n, struct skr_err *err)
{
	size_t i;

	for (i = 0; i < SKR_SNP_CERTS_MAX_ENTRIES; i++) {
		if ((i + 1) * SKR_SNP_CERT_ENTRY_SIZE > len)
			return skr_fail(err, SKR_R_snp_certs_malformed,
					"certificate table: entry %zu runs past the %zu-byte blob "
					"(no terminating zero entry)", i, len);
		if (skr_is_zero(blob + i * SKR_SNP_CERT_ENTRY_SIZE, SKR_SNP_CERT_ENTRY_SIZE)) {
			*n = i;
			return 0;
		}
	}
	return skr_fail(err, SKR_R_snp_certs_malformed,
			"certificate table: more than %d entries", SKR_SNP_CERTS_MAX_ENTRIES);
}

static int take_entry(const uint8_t *blob, size_t len, size_t i, size_t table_end,
		      struct skr_snp_certs *out, struct skr_err *err)
{
	const uint8_t *e = blob + i * SKR_SNP_CERT_ENTRY_SIZE;
	uint64_t off = skr_le32(e + 16), n = skr_le32(e + 20);
	int kind = kind_of(e);

	if (off < table_end || off + n > len)
		return skr_fail(err, SKR_R_snp_certs_malformed,
				"certificate table: entry %zu (offset %llu, length %llu) is outside "
				"bytes %zu..%zu", i, (unsigned long long)off,
				(unsigned long long)n, table_end, len);
	if (n == 0 || n > SKR_VCEK_MAX_DER)
		return skr_fail(err, SKR_R_snp_certs_malformed,
				"certificate table: entry %zu has length %llu (1..%u allowed)", i,
				(unsigned long long)n, SKR_VCEK_MAX_DER);
	if (kind < 0)
		return 0;
	if (out->der[kind])
		return skr_fail(err, SKR_R_snp_certs_malformed,
				"certificate table: the %s GUID appears twice",
				skr_snp_cert_kind_name(kind));
	out->der[kind] = blob + off;
	out->len[kind] = n;
	return 0;
}

int skr_snp_certs_parse(const uint8_t *blob, size_t len, struct skr_snp_certs *out,
			struct skr_err *err)
{
	size_t n = 0, i;

	memset(out, 0, sizeof(*out));
	if (len > SKR_SNP_CERTS_MAX_BLOB)
		return skr_fail(err, SKR_R_request_too_large,
				"certificate table: %zu bytes, over %u", len, SKR_SNP_CERTS_MAX_BLOB);
	if (count_entries(blob, len, &n, err) < 0)
		return -1;
	for (i = 0; i < n; i++)
		if (take_entry(blob, len, i, (n + 1) * SKR_SNP_CERT_ENTRY_SIZE, out, err) < 0) {
			memset(out, 0, sizeof(*out));
			return -1;
		}
	if (!out->der[SKR_SNP_CERT_VCEK] && !out->der[SKR_SNP_CERT_VLEK]) {
		memset(out, 0, sizeof(*out));
		return skr_fail(err, SKR_R_snp_certs_no_vcek,
				"certificate table: %zu entries, neither a VCEK nor a VLEK", n);
	}
	return 0;
}
