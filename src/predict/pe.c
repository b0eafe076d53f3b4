/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PE/COFF parsing and the Authenticode image digest ("Windows Authenticode
 * Portable Executable Signature Format", section "Calculating the PE Image
 * Hash"), written so that it gives what UEFI firmware and shim compute.
 *
 * All file offsets are checked with 64-bit arithmetic against the image
 * length before any byte is read; field names in error details follow the
 * PE/COFF specification.
 */
#include "predict/pe.h"
#include "common/cleanup.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/util.h"

/* Offsets and sizes from the PE/COFF specification. */
enum {
	DOS_HEADER_SIZE = 0x40,
	DOS_E_LFANEW = 0x3c,
	PE_SIGNATURE_SIZE = 4,
	COFF_HEADER_SIZE = 20,
	COFF_MACHINE = 0,
	COFF_NUMBER_OF_SECTIONS = 2,
	COFF_SIZE_OF_OPTIONAL_HEADER = 16,
	OPT_MAGIC = 0,
	OPT_SIZE_OF_HEADERS = 60,
	OPT_CHECKSUM = 64,
	OPT32_NUMBER_OF_RVA_AND_SIZES = 92,
	OPT32_DATA_DIRECTORY = 96,
	OPT64_NUMBER_OF_RVA_AND_SIZES = 108,
	OPT64_DATA_DIRECTORY = 112,
	DATA_DIRECTORY_SIZE = 8,
	CERT_DIR_INDEX = 4,
	SECTION_HEADER_SIZE = 40,
	SECTION_VIRTUAL_SIZE = 8,
	SECTION_VIRTUAL_ADDRESS = 12,
	SECTION_SIZE_OF_RAW_DATA = 16,
	SECTION_POINTER_TO_RAW_DATA = 20,
	SECTION_CHARACTERISTICS = 36,
	MAGIC_PE32 = 0x10b,
	MAGIC_PE32PLUS = 0x20b,
};

/* Whether [off, off + size) lies within len bytes; cannot overflow. */
static bool span_fits(uint64_t off, uint64_t size, uint64_t len)
{
	return off <= len && size <= len - off;
}

static int parse_dos_header(struct skr_pe *pe, uint64_t *nt_offset, struct skr_err *err)
{
	if (pe->len < DOS_HEADER_SIZE)
		return skr_fail(err, SKR_R_malformed,
				"file of %zu bytes is too short for a DOS header", pe->len);
	if (pe->img[0] != 'M' || pe->img[1] != 'Z')
		return skr_fail(err, SKR_R_malformed, "no MZ signature: not a PE image");
	*nt_offset = skr_le32(pe->img + DOS_E_LFANEW);
	if (!span_fits(*nt_offset, PE_SIGNATURE_SIZE + COFF_HEADER_SIZE, pe->len))
		return skr_fail(err, SKR_R_malformed,
				"e_lfanew 0x%llx: PE and COFF headers past end of file (0x%zx bytes)",
				(unsigned long long)*nt_offset, pe->len);
	if (memcmp(pe->img + *nt_offset, "PE\0\0", PE_SIGNATURE_SIZE) != 0)
		return skr_fail(err, SKR_R_malformed, "bad PE signature at e_lfanew 0x%llx",
				(unsigned long long)*nt_offset);
	return 0;
}

/*
 * The optional header's fixed part (up to the data directories) and the
 * directory entries NumberOfRvaAndSizes claims must all lie within
 * SizeOfOptionalHeader, which must lie within the file.
 */
static int parse_optional_header(struct skr_pe *pe, uint64_t opt, uint16_t opt_size,
				 struct skr_err *err)
{
	const uint8_t *p = pe->img + opt;
	uint32_t dir_start, nrva;
	uint16_t magic;

	if (opt_size < OPT_MAGIC + 2 || !span_fits(opt, opt_size, pe->len))
		return skr_fail(err, SKR_R_malformed,
				"optional header truncated: SizeOfOptionalHeader %u at 0x%llx, file 0x%zx bytes",
				opt_size, (unsigned long long)opt, pe->len);
	magic = skr_le16(p + OPT_MAGIC);
	if (magic != MAGIC_PE32 && magic != MAGIC_PE32PLUS)
		return skr_fail(err, SKR_R_malformed,
				"optional header magic 0x%x is neither PE32 (0x10b) nor PE32+ (0x20b)", magic);
	pe->pe32plus = magic == MAGIC_PE32PLUS;
	dir_start = pe->pe32plus ? OPT64_DATA_DIRECTORY : OPT32_DATA_DIRECTORY;
	if (opt_size < dir_start)
		return skr_fail(err, SKR_R_malformed,
				"optional header truncated: SizeOfOptionalHeader %u < %u for %s",
				opt_size, dir_start, pe->pe32plus ? "PE32+" : "PE32");
	nrva = skr_le32(p + (pe->pe32plus ? OPT64_NUMBER_OF_RVA_AND_SIZES
					  : OPT32_NUMBER_OF_RVA_AND_SIZES));
	if (nrva > (uint32_t)(opt_size - dir_start) / DATA_DIRECTORY_SIZE)
		return skr_fail(err, SKR_R_malformed,
				"NumberOfRvaAndSizes %u does not fit in SizeOfOptionalHeader %u",
				nrva, opt_size);
	pe->size_of_headers = skr_le32(p + OPT_SIZE_OF_HEADERS);
	pe->checksum_offset = opt + OPT_CHECKSUM;
	pe->has_cert_dir = nrva > CERT_DIR_INDEX;
	pe->cert_dir_offset = opt + dir_start + CERT_DIR_INDEX * DATA_DIRECTORY_SIZE;
	return 0;
}

/*
 * The certificate table's "VirtualAddress" is a file offset.  Firmware and
 * shim hash up to it and stop, so anything after it would be unauthenticated:
 * like shim (and the MS12-024 fix) we demand that it ends the file.
 */
static int parse_cert_table(struct skr_pe *pe, struct skr_err *err)
{
	uint64_t off, size;

	if (!pe->has_cert_dir)
		return 0;
	off = skr_le32(pe->img + pe->cert_dir_offset);
	size = skr_le32(pe->img + pe->cert_dir_offset + 4);
	if (size == 0)
		return 0;
	if (!span_fits(off, size, pe->len))
		return skr_fail(err, SKR_R_malformed,
				"certificate table 0x%llx+0x%llx past end of file (0x%zx bytes)",
				(unsigned long long)off, (unsigned long long)size, pe->len);
	if (off + size != pe->len)
		return skr_fail(err, SKR_R_malformed,
				"certificate table 0x%llx+0x%llx is not at the end of the file (0x%zx bytes)",
				(unsigned long long)off, (unsigned long long)size, pe->len);
	if (off < pe->size_of_headers)
		return skr_fail(err, SKR_R_malformed,
				"certificate table at 0x%llx overlaps the headers (SizeOfHeaders 0x%x)",
				(unsigned long long)off, pe->size_of_headers);
	pe->cert_offset = (uint32_t)off;
	pe->cert_size = (uint32_t)size;
	return 0;
}

static void read_section_header(const uint8_t *p, struct skr_pe_section *s)
{
	memcpy(s->name, p, 8);
	s->name[8] = 0;
	s->virtual_size = skr_le32(p + SECTION_VIRTUAL_SIZE);
	s->virtual_address = skr_le32(p + SECTION_VIRTUAL_ADDRESS);
	s->raw_size = skr_le32(p + SECTION_SIZE_OF_RAW_DATA);
	s->raw_offset = skr_le32(p + SECTION_POINTER_TO_RAW_DATA);
	s->characteristics = skr_le32(p + SECTION_CHARACTERISTICS);
}

/*
 * The section table must lie inside SizeOfHeaders: the digest covers the
 * headers only that far, and a table outside it would not be authenticated.
 */
static int parse_sections(struct skr_pe *pe, uint64_t table, uint16_t count, struct skr_err *err)
{
	uint64_t table_size = (uint64_t)count * SECTION_HEADER_SIZE;
	size_t i;

	if (!span_fits(table, table_size, pe->len))
		return skr_fail(err, SKR_R_malformed,
				"NumberOfSections %u: section table 0x%llx+0x%llx past end of file (0x%zx bytes)",
				count, (unsigned long long)table, (unsigned long long)table_size, pe->len);
	if (table + table_size > pe->size_of_headers)
		return skr_fail(err, SKR_R_malformed,
				"NumberOfSections %u: section table ends at 0x%llx, past SizeOfHeaders 0x%x",
				count, (unsigned long long)(table + table_size), pe->size_of_headers);
	if (count == 0)
		return 0;
	pe->sections = calloc(count, sizeof(*pe->sections));
	if (!pe->sections)
		return skr_fail(err, SKR_R_nomem, "out of memory for %u section headers", count);
	pe->nsections = count;
	for (i = 0; i < count; i++) {
		struct skr_pe_section *s = &pe->sections[i];

		read_section_header(pe->img + table + i * SECTION_HEADER_SIZE, s);
		if (s->raw_size && !span_fits(s->raw_offset, s->raw_size, pe->len))
			return skr_fail(err, SKR_R_malformed,
					"section %zu (%s): raw data 0x%x+0x%x past end of file (0x%zx bytes)",
					i, s->name, s->raw_offset, s->raw_size, pe->len);
	}
	return 0;
}

int skr_pe_parse(const uint8_t *img, size_t len, struct skr_pe *pe, struct skr_err *err)
{
	uint64_t nt = 0, opt;
	uint16_t nsections, opt_size;

	memset(pe, 0, sizeof(*pe));
	pe->img = img;
	pe->len = len;
	if (parse_dos_header(pe, &nt, err) < 0)
		return -1;
	pe->machine = skr_le16(img + nt + PE_SIGNATURE_SIZE + COFF_MACHINE);
	nsections = skr_le16(img + nt + PE_SIGNATURE_SIZE + COFF_NUMBER_OF_SECTIONS);
	opt_size = skr_le16(img + nt + PE_SIGNATURE_SIZE + COFF_SIZE_OF_OPTIONAL_HEADER);
	opt = nt + PE_SIGNATURE_SIZE + COFF_HEADER_SIZE;
	if (parse_optional_header(pe, opt, opt_size, err) < 0)
		return -1;
	if (pe->size_of_headers > len)
		return skr_fail(err, SKR_R_malformed,
				"SizeOfHeaders 0x%x past end of file (0x%zx bytes)",
				pe->size_of_headers, len);
	/* Also guarantees the CheckSum and Certificate Table fields lie inside
	 * SizeOfHeaders, since the section table follows the optional header. */
	if (parse_sections(pe, opt + opt_size, nsections, err) < 0)
		return -1;
	return parse_cert_table(pe, err);
}

void skr_pe_free(struct skr_pe *pe)
{
	if (!pe)
		return;
	free(pe->sections);
	pe->sections = NULL;
	pe->nsections = 0;
}

const struct skr_pe_section *skr_pe_find_section(const struct skr_pe *pe, const char *name)
{
	size_t i;

	for (i = 0; i < pe->nsections; i++)
		if (strcmp(pe->sections[i].name, name) == 0)
			return &pe->sections[i];
	return NULL;
}

static const EVP_MD *digest_by_name(const char *alg)
{
	if (!alg)
		return NULL;
	if (strcmp(alg, "sha1") == 0)
		return EVP_sha1();
	if (strcmp(alg, "sha256") == 0)
		return EVP_sha256();
	if (strcmp(alg, "sha384") == 0)
		return EVP_sha384();
	/* swtpm (and QEMU's vTPMs) allocate a sha512 bank: firmware hashes images for it too. */
	if (strcmp(alg, "sha512") == 0)
		return EVP_sha512();
	return NULL;
}

size_t skr_pe_digest_size(const char *alg)
{
	const EVP_MD *md = digest_by_name(alg);

	return md ? (size_t)EVP_MD_get_size(md) : 0;
}

/* Hashes [from, to) of the image; the bounds were checked by parse, and are
 * checked again here so that a logic error cannot become an overread. */
static int hash_range(EVP_MD_CTX *ctx, const struct skr_pe *pe, uint64_t from, uint64_t to,
		      struct skr_err *err)
{
	if (from > to || to > pe->len)
		return skr_fail(err, SKR_R_malformed, "internal: hash range 0x%llx..0x%llx outside image",
				(unsigned long long)from, (unsigned long long)to);
	if (from == to)
		return 0;
	if (EVP_DigestUpdate(ctx, pe->img + from, to - from) != 1)
		return skr_fail(err, SKR_R_nomem, "digest update failed");
	return 0;
}

/* Steps 3-7 of the spec: the headers less CheckSum and the Certificate
 * Table entry (which signing changes). */
static int hash_headers(EVP_MD_CTX *ctx, const struct skr_pe *pe, struct skr_err *err)
{
	uint64_t after_checksum = pe->checksum_offset + 4;

	if (hash_range(ctx, pe, 0, pe->checksum_offset, err) < 0)
		return -1;
	if (!pe->has_cert_dir)
		return hash_range(ctx, pe, after_checksum, pe->size_of_headers, err);
	if (hash_range(ctx, pe, after_checksum, pe->cert_dir_offset, err) < 0)
		return -1;
	return hash_range(ctx, pe, pe->cert_dir_offset + DATA_DIRECTORY_SIZE,
			  pe->size_of_headers, err);
}

/* Orders by PointerToRawData; ties keep section-table order (as firmware's
 * insertion sort does), which qsort alone would not guarantee. */
static int by_raw_offset(const void *a, const void *b)
{
	const struct skr_pe_section *sa = *(const struct skr_pe_section *const *)a;
	const struct skr_pe_section *sb = *(const struct skr_pe_section *const *)b;

	if (sa->raw_offset != sb->raw_offset)
		return sa->raw_offset < sb->raw_offset ? -1 : 1;
	return sa < sb ? -1 : sa > sb;
}

/* Steps 8-13: each section's raw data in file order.  Returns in *hashed the
 * count of bytes hashed so far (SUM_OF_BYTES_HASHED in the spec). */
static int hash_sections(EVP_MD_CTX *ctx, const struct skr_pe *pe, uint64_t *hashed,
			 struct skr_err *err)
{
	_cleanup_free_ const struct skr_pe_section **order = NULL;
	size_t i;

	*hashed = pe->size_of_headers;
	if (pe->nsections == 0)
		return 0;
	order = calloc(pe->nsections, sizeof(*order));
	if (!order)
		return skr_fail(err, SKR_R_nomem, "out of memory sorting sections");
	for (i = 0; i < pe->nsections; i++)
		order[i] = &pe->sections[i];
	qsort(order, pe->nsections, sizeof(*order), by_raw_offset);
	for (i = 0; i < pe->nsections; i++) {
		const struct skr_pe_section *s = order[i];

		if (s->raw_size == 0)
			continue;
		if (hash_range(ctx, pe, s->raw_offset, (uint64_t)s->raw_offset + s->raw_size, err) < 0)
			return -1;
		*hashed += s->raw_size;
	}
	return 0;
}

/*
 * Steps 14-15: the data after the sections, up to the certificate table.
 * Like firmware and shim, it starts at SUM_OF_BYTES_HASHED, a byte count,
 * rather than at the end of the last section; the two agree for any
 * linker's output, and matching them is what makes PCR 4 predictions right.
 */
static int hash_trailing(EVP_MD_CTX *ctx, const struct skr_pe *pe, uint64_t hashed,
			 unsigned flags, struct skr_err *err)
{
	static const uint8_t zeros[8];
	uint64_t end = pe->cert_size ? pe->cert_offset : pe->len;

	if (pe->cert_size && hashed > end)
		return skr_fail(err, SKR_R_malformed,
				"headers and sections (0x%llx bytes) run past the certificate table at 0x%x",
				(unsigned long long)hashed, pe->cert_offset);
	if (hashed < end && hash_range(ctx, pe, hashed, end, err) < 0)
		return -1;
	if (!pe->cert_size && (flags & SKR_PE_PAD_UNSIGNED) && end % 8 &&
	    EVP_DigestUpdate(ctx, zeros, 8 - end % 8) != 1)
		return skr_fail(err, SKR_R_nomem, "digest update failed");
	return 0;
}

int skr_pe_hash(const struct skr_pe *pe, const char *alg, unsigned flags,
		uint8_t *digest_out, size_t *digest_len, struct skr_err *err)
{
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = NULL;
	const EVP_MD *md = digest_by_name(alg);
	unsigned int out_len = 0;
	uint64_t hashed;

	if (!md)
		return skr_fail(err, SKR_R_unsupported,
				"digest algorithm '%s' (use sha1, sha256, sha384 or sha512)", alg ? alg : "(null)");
	ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, md, NULL) != 1)
		return skr_fail(err, SKR_R_nomem, "cannot initialise %s", alg);
	if (hash_headers(ctx, pe, err) < 0 || hash_sections(ctx, pe, &hashed, err) < 0 ||
	    hash_trailing(ctx, pe, hashed, flags, err) < 0)
		return -1;
	if (EVP_DigestFinal_ex(ctx, digest_out, &out_len) != 1)
		return skr_fail(err, SKR_R_nomem, "cannot finish %s", alg);
	*digest_len = out_len;
	return 0;
}

int skr_pe_authenticode(const uint8_t *img, size_t len, const char *alg,
			uint8_t *digest_out, size_t *digest_len, struct skr_err *err)
{
	_cleanup_(skr_pe_free) struct skr_pe pe = { 0 };

	if (skr_pe_parse(img, len, &pe, err) < 0)
		return -1;
	return skr_pe_hash(&pe, alg, 0, digest_out, digest_len, err);
}
