/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PE parsing and Authenticode digests.  Synthetic PE32 and PE32+ images are
 * assembled here byte by byte; the expected digest is computed by hashing the
 * spans the spec names, at offsets the builder chose (not ones the parser
 * found).  Cross-checks against osslsigncode live in tests/cli/test_pe.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "predict/pe.h"
#include "common/util.h"

/* Layout of the synthetic image. */
enum {
	NT = 0x40,			/* e_lfanew */
	OPT = NT + 4 + 20,		/* optional header */
	HEADERS = 0x200,		/* SizeOfHeaders */
	TEXT_OFF = 0x200,		/* .text raw data (2nd in the table) */
	DATA_OFF = 0x400,		/* .data raw data (1st in the table) */
	SECT_RAW = 0x200,
	SECTIONS_END = 0x600,
	NSECTIONS = 3,			/* .data, .text, .bss (no raw data) */
	MAX_IMAGE = 0x1000,
};

struct image {
	uint8_t b[MAX_IMAGE];
	size_t len;
	bool pe32plus;
	size_t checksum_off, certdir_off, section_table;
	size_t trailing;		/* bytes after the sections, before any cert table */
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void put_section(struct image *im, int i, const char *name, uint32_t off, uint32_t size)
{
	uint8_t *s = im->b + im->section_table + 40 * i;

	memset(s, 0, 40);
	memcpy(s, name, strlen(name));
	put32(s + 8, size);			/* VirtualSize */
	put32(s + 12, 0x1000 * (uint32_t)(i + 1)); /* VirtualAddress */
	put32(s + 16, size);			/* SizeOfRawData */
	put32(s + 20, off);			/* PointerToRawData */
}

static void set_cert_dir(struct image *im, uint32_t off, uint32_t size)
{
	put32(im->b + im->certdir_off, off);
	put32(im->b + im->certdir_off + 4, size);
}

/*
 * An image with headers, .text and .data (in reverse file order in the
 * table, so that sorting matters), a .bss without raw data, `trailing` bytes
 * after the sections and, if cert_len, a certificate table after those.
 */
static void build(struct image *im, bool pe32plus, size_t trailing, size_t cert_len)
{
	size_t dir_start = pe32plus ? 112 : 96, opt_size = dir_start + 16 * 8, i;

	memset(im, 0, sizeof(*im));
	for (i = 0; i < MAX_IMAGE; i++)	/* every byte distinct-ish, so spans matter */
		im->b[i] = (uint8_t)(i * 7 + (i >> 8) + 3);
	im->pe32plus = pe32plus;
	im->trailing = trailing;
	im->len = SECTIONS_END + trailing + cert_len;
	im->checksum_off = OPT + 64;
	im->certdir_off = OPT + dir_start + 4 * 8;
	im->section_table = OPT + opt_size;

	memcpy(im->b, "MZ", 2);
	put32(im->b + 0x3c, NT);
	memcpy(im->b + NT, "PE\0\0", 4);
	put16(im->b + NT + 4, pe32plus ? 0x8664 : 0x14c);
	put16(im->b + NT + 6, NSECTIONS);
	put16(im->b + NT + 20, (uint16_t)opt_size);
	put16(im->b + OPT, pe32plus ? 0x20b : 0x10b);
	put32(im->b + OPT + 60, HEADERS);
	put32(im->b + OPT + 64, 0x12345678);	/* CheckSum: must not matter */
	put32(im->b + OPT + (pe32plus ? 108 : 92), 16);
	set_cert_dir(im, cert_len ? (uint32_t)(SECTIONS_END + trailing) : 0, (uint32_t)cert_len);
	put_section(im, 0, ".data", DATA_OFF, SECT_RAW);
	put_section(im, 1, ".text", TEXT_OFF, SECT_RAW);
	put_section(im, 2, ".bss", 0xfffffff0, 0);
}

static void update(EVP_MD_CTX *ctx, const struct image *im, size_t from, size_t to)
{
	assert_true(from <= to && to <= im->len);
	assert_int_equal(EVP_DigestUpdate(ctx, im->b + from, to - from), 1);
}

/* The spec's spans, written out for the layout build() made. */
static size_t expected_digest(const struct image *im, const char *alg, size_t zero_pad,
			      uint8_t *out)
{
	static const uint8_t zeros[8];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 0;

	assert_non_null(ctx);
	assert_int_equal(EVP_DigestInit_ex(ctx, EVP_get_digestbyname(alg), NULL), 1);
	update(ctx, im, 0, im->checksum_off);
	update(ctx, im, im->checksum_off + 4, im->certdir_off);
	update(ctx, im, im->certdir_off + 8, HEADERS);
	update(ctx, im, TEXT_OFF, TEXT_OFF + SECT_RAW);
	update(ctx, im, DATA_OFF, DATA_OFF + SECT_RAW);
	update(ctx, im, SECTIONS_END, SECTIONS_END + im->trailing);
	assert_true(zero_pad < 8);
	assert_int_equal(EVP_DigestUpdate(ctx, zeros, zero_pad), 1);
	assert_int_equal(EVP_DigestFinal_ex(ctx, out, &n), 1);
	EVP_MD_CTX_free(ctx);
	return n;
}

static void assert_digest(const struct image *im, const char *alg, unsigned flags, size_t zero_pad)
{
	struct skr_err err = { 0 };
	struct skr_pe pe;
	uint8_t want[SKR_PE_DIGEST_MAX], got[SKR_PE_DIGEST_MAX];
	size_t want_len = expected_digest(im, alg, zero_pad, want), got_len = 0;

	assert_int_equal(skr_pe_parse(im->b, im->len, &pe, &err), 0);
	assert_int_equal(skr_pe_hash(&pe, alg, flags, got, &got_len, &err), 0);
	skr_pe_free(&pe);
	assert_int_equal(got_len, want_len);
	assert_int_equal(got_len, skr_pe_digest_size(alg));
	assert_memory_equal(got, want, want_len);
}

static void digest_matches_spans(bool pe32plus)
{
	static const char *const algs[] = { "sha1", "sha256", "sha384", "sha512" };
	struct image im;
	size_t i;

	build(&im, pe32plus, 13, 0);
	for (i = 0; i < ARRAY_SIZE(algs); i++)
		assert_digest(&im, algs[i], 0, 0);
}

static void test_pe32plus_digest(void **state)
{
	digest_matches_spans(true);
}

static void test_pe32_digest(void **state)
{
	digest_matches_spans(false);
}

static void test_parse_layout(void **state)
{
	struct skr_err err = { 0 };
	struct image im;
	struct skr_pe pe;
	const struct skr_pe_section *text;

	build(&im, true, 0, 16);
	assert_int_equal(skr_pe_parse(im.b, im.len, &pe, &err), 0);
	assert_int_equal(pe.machine, 0x8664);
	assert_true(pe.pe32plus);
	assert_int_equal(pe.size_of_headers, HEADERS);
	assert_int_equal(pe.nsections, NSECTIONS);
	assert_string_equal(pe.sections[0].name, ".data");
	assert_int_equal(pe.cert_offset, SECTIONS_END);
	assert_int_equal(pe.cert_size, 16);
	text = skr_pe_find_section(&pe, ".text");
	assert_non_null(text);
	assert_int_equal(text->raw_offset, TEXT_OFF);
	assert_ptr_equal(skr_pe_section_data(&pe, text), im.b + TEXT_OFF);
	assert_null(skr_pe_find_section(&pe, ".linux"));
	skr_pe_free(&pe);
}

/* The signature, the CheckSum and the Certificate Table entry all change on
 * signing; none of them may change the digest. */
static void test_signed_equals_unsigned(void **state)
{
	uint8_t a[SKR_PE_DIGEST_MAX], b[SKR_PE_DIGEST_MAX];
	size_t alen, blen;
	struct skr_err err = { 0 };
	struct image plain, sig;

	build(&plain, true, 16, 0);
	build(&sig, true, 16, 0x48);
	put32(sig.b + sig.checksum_off, 0xcafef00d);
	assert_int_equal(skr_pe_authenticode(plain.b, plain.len, "sha256", a, &alen, &err), 0);
	assert_int_equal(skr_pe_authenticode(sig.b, sig.len, "sha256", b, &blen, &err), 0);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	assert_digest(&sig, "sha256", 0, 0);
}

static void digest_of(const struct image *im, unsigned flags, uint8_t *out)
{
	struct skr_err err = { 0 };
	struct skr_pe pe;
	size_t len;

	assert_int_equal(skr_pe_parse(im->b, im->len, &pe, &err), 0);
	assert_int_equal(skr_pe_hash(&pe, "sha256", flags, out, &len, &err), 0);
	assert_int_equal(len, 32);
	skr_pe_free(&pe);
}

/* Signers pad to 8 bytes before appending the certificate table; with
 * SKR_PE_PAD_UNSIGNED the unsigned image's digest predicts the signed one. */
static void test_pad_unsigned(void **state)
{
	uint8_t predicted[SKR_PE_DIGEST_MAX], actual[SKR_PE_DIGEST_MAX];
	struct image plain, sig;

	build(&plain, true, 13, 0);
	assert_digest(&plain, "sha256", 0, 0);
	assert_digest(&plain, "sha256", SKR_PE_PAD_UNSIGNED, 3);

	build(&sig, true, 16, 0x20);
	memset(sig.b + SECTIONS_END + 13, 0, 3);	/* the signer's padding */
	memcpy(sig.b + SECTIONS_END, plain.b + SECTIONS_END, 13);
	assert_digest(&sig, "sha256", 0, 0);
	assert_digest(&sig, "sha256", SKR_PE_PAD_UNSIGNED, 0); /* no effect when signed */
	digest_of(&plain, SKR_PE_PAD_UNSIGNED, predicted);
	digest_of(&sig, 0, actual);
	assert_memory_equal(predicted, actual, 32);
}

/* With NumberOfRvaAndSizes <= 4 there is no Certificate Table entry to skip. */
static void test_no_cert_directory(void **state)
{
	struct skr_err err = { 0 };
	uint8_t got[SKR_PE_DIGEST_MAX], want[SKR_PE_DIGEST_MAX];
	unsigned int n = 0;
	size_t got_len;
	struct image im;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	build(&im, false, 0, 0);
	put32(im.b + OPT + 92, 4);
	assert_int_equal(skr_pe_authenticode(im.b, im.len, "sha256", got, &got_len, &err), 0);
	assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
	update(ctx, &im, 0, im.checksum_off);
	update(ctx, &im, im.checksum_off + 4, HEADERS);
	update(ctx, &im, TEXT_OFF, TEXT_OFF + SECT_RAW);
	update(ctx, &im, DATA_OFF, DATA_OFF + SECT_RAW);
	assert_int_equal(EVP_DigestFinal_ex(ctx, want, &n), 1);
	EVP_MD_CTX_free(ctx);
	assert_int_equal(got_len, n);
	assert_memory_equal(got, want, n);
}

/* The committed lld-link outputs; digests as osslsigncode computed them on
 * signed copies (see tests/vectors/pe/README.md). */
static void check_vector(const char *file, const char *alg, const char *hex, uint16_t machine)
{
	struct skr_err err = { 0 };
	_cleanup_buf_ struct skr_buf img = { 0 };
	_cleanup_free_ char *got = NULL;
	uint8_t d[SKR_PE_DIGEST_MAX];
	size_t dlen;
	struct skr_pe pe;
	char path[512];

	snprintf(path, sizeof(path), "%s/tests/vectors/pe/%s", SKR_SRCDIR, file);
	assert_int_equal(skr_read_file(path, 1 << 20, &img, &err), 0);
	assert_int_equal(skr_pe_parse(img.data, img.len, &pe, &err), 0);
	assert_int_equal(pe.machine, machine);
	assert_non_null(skr_pe_find_section(&pe, ".text"));
	assert_int_equal(skr_pe_hash(&pe, alg, 0, d, &dlen, &err), 0);
	skr_pe_free(&pe);
	got = skr_hex_encode(d, dlen);
	assert_string_equal(got, hex);
}

static void test_real_vectors(void **state)
{
	check_vector("hello-x64.efi", "sha256",
		     "5059e699acbd8393c72d0e6845c098fba86de8114d84e1db335f74f4d59e7f01", 0x8664);
	check_vector("hello-ia32.efi", "sha1", "9ffbea50d5ce337b8bf3f9408b3cddfbb8007dc6", 0x14c);
	check_vector("hello-ia32.efi", "sha384",
		     "f441f25490a8882e179663ebd921fcdcd51384d12d555238106df1cea519153d"
		     "ed1080101d873ef6e2d39efe25f15ce3", 0x14c);
}

/* ---- malformed images ---- */

static void expect_failure(const uint8_t *img, size_t len, enum skr_reason reason,
			   const char *detail)
{
	struct skr_err err = { 0 };
	uint8_t d[SKR_PE_DIGEST_MAX];
	size_t dlen;

	assert_int_equal(skr_pe_authenticode(img, len, "sha256", d, &dlen, &err), -1);
	if (err.reason != reason || !strstr(err.detail, detail))
		fail_msg("wanted %s /%s/, got %s: %s", skr_reason_name(reason), detail,
			 skr_reason_name(err.reason), err.detail);
}

static void expect_malformed(const struct image *im, const char *detail)
{
	expect_failure(im->b, im->len, SKR_R_malformed, detail);
}

static void test_not_mz(void **state)
{
	struct image im;

	build(&im, true, 0, 0);
	im.b[0] = 'Z';
	expect_malformed(&im, "no MZ signature");
	expect_failure(im.b, 10, SKR_R_malformed, "too short for a DOS header");
	expect_failure(NULL, 0, SKR_R_malformed, "too short for a DOS header");
}

static void test_lfanew_past_end(void **state)
{
	struct image im;

	build(&im, true, 0, 0);
	put32(im.b + 0x3c, 0xfffffff0);
	expect_malformed(&im, "e_lfanew 0xfffffff0");
	put32(im.b + 0x3c, (uint32_t)im.len - 10);
	expect_malformed(&im, "past end of file");
}

static void test_bad_pe_signature(void **state)
{
	struct image im;

	build(&im, false, 0, 0);
	im.b[NT + 1] = 'X';
	expect_malformed(&im, "bad PE signature");
}

static void test_truncated_optional_header(void **state)
{
	struct image im;

	build(&im, true, 0, 0);
	expect_failure(im.b, OPT + 100, SKR_R_malformed, "optional header truncated");
	put16(im.b + NT + 20, 100);		/* < 112 for PE32+ */
	expect_malformed(&im, "optional header truncated: SizeOfOptionalHeader 100");
	build(&im, true, 0, 0);
	put32(im.b + OPT + 108, 17);		/* one more directory than fits */
	expect_malformed(&im, "NumberOfRvaAndSizes 17");
	build(&im, true, 0, 0);
	put16(im.b + OPT, 0x107);
	expect_malformed(&im, "magic 0x107");
}

static void test_section_raw_past_end(void **state)
{
	struct image im;

	build(&im, true, 0, 0);
	expect_failure(im.b, SECTIONS_END - 1, SKR_R_malformed,
		       "section 0 (.data): raw data 0x400+0x200 past end of file");
	put32(im.b + im.section_table + 40 + 16, 0x10000);
	expect_malformed(&im, "section 1 (.text): raw data 0x200+0x10000 past end of file");
}

static void test_raw_data_overflow(void **state)
{
	struct image im;

	build(&im, true, 0, 0);
	put32(im.b + im.section_table + 40 + 20, 0xffffff00);	/* PointerToRawData */
	put32(im.b + im.section_table + 40 + 16, 0x200);	/* + SizeOfRawData wraps */
	expect_malformed(&im, "section 1 (.text): raw data 0xffffff00+0x200 past end of file");
}

static void test_too_many_sections(void **state)
{
	struct image im;

	build(&im, true, 0, 0);
	put16(im.b + NT + 6, 0xffff);
	expect_malformed(&im, "NumberOfSections 65535: section table");
	put16(im.b + NT + 6, 20);		/* in the file but past SizeOfHeaders */
	expect_malformed(&im, "past SizeOfHeaders 0x200");
}

static void test_size_of_headers(void **state)
{
	struct image im;

	build(&im, true, 0, 0);
	put32(im.b + OPT + 60, 0x10000);
	expect_malformed(&im, "SizeOfHeaders 0x10000 past end of file");
}

static void test_cert_table_bounds(void **state)
{
	struct image im;

	build(&im, true, 16, 0x20);
	set_cert_dir(&im, SECTIONS_END, 0x20);		/* followed by 16 unhashed bytes */
	expect_malformed(&im, "certificate table 0x600+0x20 is not at the end of the file");
	set_cert_dir(&im, SECTIONS_END + 16, 0x21);
	expect_malformed(&im, "certificate table 0x610+0x21 past end of file");
	set_cert_dir(&im, 0xfffffff0, 0x20);
	expect_malformed(&im, "past end of file");
	set_cert_dir(&im, 0x100, (uint32_t)im.len - 0x100);
	expect_malformed(&im, "overlaps the headers");
	set_cert_dir(&im, DATA_OFF, (uint32_t)im.len - DATA_OFF); /* inside .data */
	expect_malformed(&im, "run past the certificate table at 0x400");
}

static void test_unknown_alg(void **state)
{
	struct skr_err err = { 0 };
	uint8_t d[SKR_PE_DIGEST_MAX];
	size_t dlen;
	struct image im;

	build(&im, true, 0, 0);
	assert_int_equal(skr_pe_authenticode(im.b, im.len, "md5", d, &dlen, &err), -1);
	assert_int_equal(err.reason, SKR_R_unsupported);
	assert_int_equal(skr_pe_digest_size("md5"), 0);
	assert_int_equal(skr_pe_digest_size("sha384"), 48);
	assert_int_equal(skr_pe_digest_size("sha512"), 64);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pe32plus_digest),
		cmocka_unit_test(test_pe32_digest),
		cmocka_unit_test(test_parse_layout),
		cmocka_unit_test(test_signed_equals_unsigned),
		cmocka_unit_test(test_pad_unsigned),
		cmocka_unit_test(test_no_cert_directory),
		cmocka_unit_test(test_real_vectors),
		cmocka_unit_test(test_not_mz),
		cmocka_unit_test(test_lfanew_past_end),
		cmocka_unit_test(test_bad_pe_signature),
		cmocka_unit_test(test_truncated_optional_header),
		cmocka_unit_test(test_section_raw_past_end),
		cmocka_unit_test(test_raw_data_overflow),
		cmocka_unit_test(test_too_many_sections),
		cmocka_unit_test(test_size_of_headers),
		cmocka_unit_test(test_cert_table_bounds),
		cmocka_unit_test(test_unknown_alg),
	};

	return cmocka_run_group_tests_name("pe", tests, NULL, NULL);
}
