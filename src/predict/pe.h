/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PE/COFF images (EFI applications, kernels with an EFI stub, UKIs): header
 * and section-table parsing, and the Authenticode image digest that UEFI
 * firmware and shim compare against db/dbx/MOK and measure into PCR 4.
 *
 * Images are untrusted: every offset and size is checked against the file
 * before it is used, and failures are SKR_R_malformed with a detail naming the
 * field.  Nothing here checks signatures; the certificate table is only
 * located (so that it can be left out of the digest).
 */
#ifndef SKR_PE_H
#define SKR_PE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Large enough for every digest skr_pe_hash() computes (SHA-512 is 64). */
#define SKR_PE_DIGEST_MAX 64

struct skr_pe_section {
	char name[9];			/* NUL-terminated; "/N" long names are not resolved */
	uint32_t virtual_size;
	uint32_t virtual_address;
	uint32_t raw_size;		/* SizeOfRawData */
	uint32_t raw_offset;		/* PointerToRawData */
	uint32_t characteristics;
};

/* A parsed image.  It borrows the bytes: keep them alive while using it. */
struct skr_pe {
	const uint8_t *img;
	size_t len;
	uint16_t machine;		/* IMAGE_FILE_MACHINE_*, e.g. 0x8664 */
	bool pe32plus;			/* optional header magic 0x20b (else 0x10b) */
	uint32_t size_of_headers;
	size_t checksum_offset;		/* file offset of OptionalHeader.CheckSum */
	bool has_cert_dir;		/* NumberOfRvaAndSizes > 4 */
	size_t cert_dir_offset;		/* file offset of the Certificate Table entry */
	/* The attribute certificate table (a file offset, not an RVA); it is
	 * checked to end exactly at the end of the file.  Size 0: unsigned. */
	uint32_t cert_offset;
	uint32_t cert_size;
	size_t nsections;
	struct skr_pe_section *sections; /* in section-table order; raw data
					  * of each is within the file */
};

/* Fills pe (free it with skr_pe_free, also after a failure). */
int skr_pe_parse(const uint8_t *img, size_t len, struct skr_pe *pe, struct skr_err *err);
void skr_pe_free(struct skr_pe *pe);

/* The first section named `name` (e.g. ".linux"), or NULL. */
const struct skr_pe_section *skr_pe_find_section(const struct skr_pe *pe, const char *name);

/* A section's SizeOfRawData bytes in the file (bounds checked by parse). */
static inline const uint8_t *skr_pe_section_data(const struct skr_pe *pe,
						 const struct skr_pe_section *s)
{
	return pe->img + s->raw_offset;
}

/* Digest size of "sha1", "sha256", "sha384" or "sha512"; 0 for any other name. */
size_t skr_pe_digest_size(const char *alg);

enum skr_pe_hash_flags {
	/*
	 * Pad an unsigned image's data with zeros to a multiple of 8 bytes, as
	 * signers do before appending the certificate table (sbsign,
	 * osslsigncode, pesign) and as shim's generate_hash() does for images
	 * without one: the result is the digest the image will carry once
	 * signed.  Without it the digest is what UEFI firmware (EDK2's PE
	 * measurement and image verification) computes: no padding.  Signed
	 * images are unaffected.
	 */
	SKR_PE_PAD_UNSIGNED = 1u << 0,
};

/*
 * The Authenticode digest of a parsed image: headers without CheckSum and
 * the Certificate Table entry, the sections' raw data in file order, then the
 * data after them up to the certificate table.  digest_out must hold
 * SKR_PE_DIGEST_MAX bytes; *digest_len receives the digest's size.
 * An unknown alg is SKR_R_unsupported.
 */
int skr_pe_hash(const struct skr_pe *pe, const char *alg, unsigned flags,
		uint8_t *digest_out, size_t *digest_len, struct skr_err *err);

/* Parse and hash in one step, without flags (what firmware computes). */
int skr_pe_authenticode(const uint8_t *img, size_t len, const char *alg,
			uint8_t *digest_out, size_t *digest_len, struct skr_err *err);

#endif
