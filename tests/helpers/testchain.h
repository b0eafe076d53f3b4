/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test-only AMD SEV-SNP PKI and report signer.
 *
 * Mints a fresh AMD-shaped certificate chain (ARK -> ASK [-> ASVK] -> VCEK or
 * VLEK) with the names, extensions and RSASSA-PSS parameters the real AMD KDS
 * certificates carry, and builds and signs ATTESTATION_REPORTs with the VCEK.
 * Nothing is cached: every chain has its own keys (RSA-2048 by default, so a
 * chain takes a fraction of a second).  Used by the unit tests and by test
 * tools that fake a platform; never linked into skr itself.
 *
 * Encodings copied from real certificates (tests/vectors):
 *   - signatureAlgorithm rsassaPss { sha384, mgf1(sha384), saltLength 48,
 *     trailerField 1 written explicitly, as AMD does }
 *   - names OU=Engineering, C=US, L=Santa Clara, ST=CA,
 *     O=Advanced Micro Devices, CN=...; UTF8String, C as PrintableString
 *   - CA extensions in AMD's order and encoding; the ASK/ASVK keyUsage is
 *     AMD's non-minimal BIT STRING 03 02 01 04; serials 0x10000 (ARK),
 *     0x10001 (ASK), 0x10101 (ASVK) as Milan's
 *   - VCEK extensions 1.3.6.1.4.1.3704.1.*: extnValue holds the DER of an
 *     INTEGER (SPLs, structVersion) or an IA5String (productName); hwID's
 *     extnValue is the raw chip id (64 bytes Milan/Genoa, 8 bytes Turin), not
 *     a nested OCTET STRING.  Never critical; no other extensions.
 *
 * Conventions follow libskr: 0 on success, -1 with *err filled (err may be
 * NULL): SKR_R_usage for impossible options, SKR_R_io for files,
 * SKR_R_nomem, and SKR_R_malformed when an OpenSSL call fails (the detail
 * names the step and OpenSSL's error).
 */
#ifndef SKR_TESTCHAIN_H
#define SKR_TESTCHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/err.h"
#include "common/util.h"

/* ATTESTATION_REPORT geometry (SEV-SNP Firmware ABI). */
#define SKR_TEST_REPORT_SIZE	0x4A0	/* 1184 */
#define SKR_TEST_SIGNED_SIZE	0x2A0	/* bytes 0x000..0x29F are signed */
#define SKR_TEST_SIG_R_OFFSET	0x2A0
#define SKR_TEST_SIG_S_OFFSET	0x2E8
#define SKR_TEST_SIG_COMPONENT	72	/* R, S: little-endian, zero padded */

#define SKR_TEST_POLICY_DEFAULT	0x30000ull	/* SMT allowed + reserved bit 17 */
#define SKR_TEST_POLICY_DEBUG	(1ull << 19)

/* FLAGS (0x048): bit 0 AUTHOR_KEY_EN, bit 1 MASK_CHIP_KEY, bits 4:2 SIGNING_KEY. */
#define SKR_TEST_FLAG_AUTHOR_KEY_EN	(1u << 0)
#define SKR_TEST_FLAG_MASK_CHIP_KEY	(1u << 1)
#define SKR_TEST_FLAG_SIGNING_KEY(k)	(((uint32_t)(k) & 7u) << 2)	/* 0 VCEK, 1 VLEK, 7 none */

#define SKR_TEST_PRODUCT_MAX	16	/* "Milan", "Genoa", "Turin" + room */

/* Bits of skr_test_vcek_opts.omit: leave that extension out of the VCEK. */
enum skr_test_vcek_ext {
	SKR_TEST_EXT_STRUCT_VERSION = 1u << 0,	/* .1.1 */
	SKR_TEST_EXT_PRODUCT_NAME = 1u << 1,	/* .1.2 */
	SKR_TEST_EXT_BL_SPL = 1u << 2,		/* .1.3.1 */
	SKR_TEST_EXT_TEE_SPL = 1u << 3,		/* .1.3.2 */
	SKR_TEST_EXT_SNP_SPL = 1u << 4,		/* .1.3.3 */
	SKR_TEST_EXT_SPL_4_7 = 1u << 5,		/* .1.3.4 - .1.3.7 */
	SKR_TEST_EXT_UCODE_SPL = 1u << 6,	/* .1.3.8 */
	SKR_TEST_EXT_HWID = 1u << 7,		/* .1.4 */
};

/* What the VCEK (or VLEK) certificate says.  Fill with skr_test_vcek_opts_init(). */
struct skr_test_vcek_opts {
	char product[SKR_TEST_PRODUCT_MAX];	/* what the defaults were for; sets report CPUID */
	bool vlek;		/* CN=SEV-VLEK, issued by the ASVK; default false */
	bool turin_tcb;		/* TCB layout for reports built from these opts (Turin) */
	EVP_PKEY *key;		/* borrowed P-384 key to certify; NULL generates one */
	uint64_t serial;	/* default 0, as real VCEKs */
	long not_before_offset;	/* seconds from now; default -1 day */
	long not_after_offset;	/* seconds from now; default +7 years */
	/* Extension values. */
	int64_t struct_version;	/* .1.1: 0 Milan/Genoa (as real Milan VCEKs), 1 Turin */
	char product_name[32];	/* .1.2 IA5String: "Milan-B0", "Genoa-B0", "Turin-B0" */
	int64_t bl_spl;		/* .1.3.1 */
	int64_t tee_spl;	/* .1.3.2 */
	int64_t snp_spl;	/* .1.3.3 */
	int64_t spl_4_7[4];	/* .1.3.4 - .1.3.7, default 0 */
	int64_t ucode_spl;	/* .1.3.8 */
	bool with_fmc_spl;	/* .1.3.9 present: default true for Turin only */
	int64_t fmc_spl;	/* .1.3.9 */
	uint8_t hwid[64];	/* .1.4, raw */
	size_t hwid_len;	/* 64 Milan/Genoa, 8 Turin; at most 64 */
	unsigned omit;		/* enum skr_test_vcek_ext bits */
};

/*
 * Defaults for a product ("Milan", "Genoa" or "Turin"; NULL is "Milan"; any
 * other name gets Milan's layout): the TCB of the real Milan vector (bl 3,
 * tee 0, snp 8, ucode 0x73; Turin adds fmc 1), a deterministic hwID.
 */
void skr_test_vcek_opts_init(struct skr_test_vcek_opts *o, const char *product);

struct skr_test_chain_opts {
	const char *product;	/* NULL = "Milan" (or vcek->product when given) */
	int rsa_bits;		/* ARK/ASK/ASVK modulus; 0 = 2048 (AMD uses 4096) */
	bool with_asvk;		/* also mint the ASVK (forced when vcek->vlek) */
	bool no_vcek;		/* only the CA certificates */
	bool pss_omit_trailer;	/* OpenSSL's canonical PSS params (no trailerField) */
	long ca_not_before_offset;	/* seconds from now; 0 = -1 day */
	long ca_not_after_offset;	/* seconds from now; 0 = +20 years */
	/* Optional borrowed RSA keys, to reuse across chains. */
	EVP_PKEY *ark_key, *ask_key, *asvk_key;
	const struct skr_test_vcek_opts *vcek;	/* NULL = skr_test_vcek_opts_init(product) */
};

struct skr_test_chain {
	char product[SKR_TEST_PRODUCT_MAX];
	bool pss_omit_trailer;
	EVP_PKEY *ark_key, *ask_key, *asvk_key, *vcek_key;	/* owned */
	X509 *ark, *ask, *asvk, *vcek;				/* owned; asvk, vcek may be NULL */
	struct skr_test_vcek_opts vcek_opts;	/* what vcek was issued with (key = vcek_key) */
};

/* opts may be NULL (Milan, RSA-2048, ARK+ASK+VCEK). On failure *c is left empty. */
int skr_test_chain_new(struct skr_test_chain *c, const struct skr_test_chain_opts *opts,
		       struct skr_err *err);
void skr_test_chain_free(struct skr_test_chain *c);
#define _cleanup_test_chain_ _cleanup_(skr_test_chain_free)

/*
 * (Re)issues c->vcek from opts (NULL = defaults for c->product), signed by
 * the ASK, or by the ASVK for a VLEK (which then must exist).  Replaces the
 * previous VCEK and its key.
 */
int skr_test_chain_issue_vcek(struct skr_test_chain *c, const struct skr_test_vcek_opts *opts,
			      struct skr_err *err);

/* Serialization.  PEM output is NUL-terminated (skr_buf convention). */
int skr_test_cert_der(X509 *x, struct skr_buf *out, struct skr_err *err);
int skr_test_cert_pem(X509 *x, struct skr_buf *out, struct skr_err *err);
/* Signing CA then ARK, as the KDS cert_chain: ASK+ARK, or ASVK+ARK when asvk. */
int skr_test_chain_bundle_pem(const struct skr_test_chain *c, bool asvk, struct skr_buf *out,
			      struct skr_err *err);
/* PKCS#8 PEM of a private key (unencrypted; test keys only). */
int skr_test_key_pem(EVP_PKEY *key, struct skr_buf *out, struct skr_err *err);
int skr_test_write_file(const char *path, const void *data, size_t len, struct skr_err *err);
/*
 * Writes into an existing directory: ark.pem, ask.pem, chain.pem (ASK then
 * ARK) and, when present, asvk.pem, asvk-chain.pem (ASVK then ARK), vcek.der,
 * vcek.pem and vcek-key.pem.
 */
int skr_test_chain_write(const struct skr_test_chain *c, const char *dir, struct skr_err *err);

/* TCB_VERSION values. Milan/Genoa: byte 0 bl, 1 tee, 2-5 reserved, 6 snp, 7 ucode. */
uint64_t skr_test_tcb_milan(uint8_t bl, uint8_t tee, uint8_t snp, uint8_t ucode);
/* Turin: byte 0 fmc, 1 bl, 2 tee, 3 snp, 4-6 reserved, 7 ucode. */
uint64_t skr_test_tcb_turin(uint8_t fmc, uint8_t bl, uint8_t tee, uint8_t snp, uint8_t ucode);
/* The TCB a VCEK's SPL extensions certify, in its layout. */
uint64_t skr_test_vcek_tcb(const struct skr_test_vcek_opts *v);

/* Every field of an ATTESTATION_REPORT, host values (written little-endian). */
struct skr_test_report_opts {
	uint32_t version;		/* 0x000: 2..5 meaningful; default 3 */
	uint32_t guest_svn;		/* 0x004 */
	uint64_t policy;		/* 0x008: default SKR_TEST_POLICY_DEFAULT */
	uint8_t family_id[16];		/* 0x010 */
	uint8_t image_id[16];		/* 0x020 */
	uint32_t vmpl;			/* 0x030 */
	uint32_t signature_algo;	/* 0x034: 1 = ECDSA P-384 SHA-384 */
	uint64_t current_tcb;		/* 0x038 */
	uint64_t platform_info;		/* 0x040: default 1 (SMT enabled) */
	uint32_t flags;			/* 0x048: SKR_TEST_FLAG_* */
	uint8_t report_data[64];	/* 0x050 */
	uint8_t measurement[48];	/* 0x090 */
	uint8_t host_data[32];		/* 0x0C0 */
	uint8_t id_key_digest[48];	/* 0x0E0 */
	uint8_t author_key_digest[48];	/* 0x110 */
	uint8_t report_id[32];		/* 0x140 */
	uint8_t report_id_ma[32];	/* 0x160: default all 0xFF (no migration agent) */
	uint64_t reported_tcb;		/* 0x180 */
	uint8_t cpuid_fam_id;		/* 0x188, version >= 3 */
	uint8_t cpuid_mod_id;		/* 0x189, version >= 3 */
	uint8_t cpuid_step;		/* 0x18A, version >= 3 */
	uint8_t chip_id[64];		/* 0x1A0 */
	uint64_t committed_tcb;		/* 0x1E0 */
	uint8_t current_build, current_minor, current_major;		/* 0x1E8.. */
	uint8_t committed_build, committed_minor, committed_major;	/* 0x1EC.. */
	uint64_t launch_tcb;		/* 0x1F0 */
	uint64_t launch_mit_vector;	/* 0x1F8, version >= 5 */
	uint64_t current_mit_vector;	/* 0x200, version >= 5 */
};

/*
 * Defaults consistent with a VCEK (v NULL = Milan defaults): every TCB is
 * the one the VCEK certifies, chip_id is its hwID (zero padded), SIGNING_KEY
 * says VLEK for a VLEK, CPUID is the product's (Milan 19h/01h, Genoa 19h/11h,
 * Turin 1Ah/02h), firmware 1.52 build 4 (the Milan vector's), measurement
 * and report_id a fixed non-zero pattern, everything else zero.
 */
void skr_test_report_opts_init(struct skr_test_report_opts *r, const struct skr_test_vcek_opts *v);

/* Lays out an unsigned report; fields of later versions are left zero. */
void skr_test_report_build(const struct skr_test_report_opts *r,
			   uint8_t out[SKR_TEST_REPORT_SIZE]);

/*
 * Signs bytes 0x000..0x29F with an EC P-384 key (ECDSA, SHA-384) and stores
 * R at 0x2A0 and S at 0x2E8 (72 bytes each, little-endian, zero padded);
 * the rest of the signature area is zeroed.
 */
int skr_test_report_sign(uint8_t report[SKR_TEST_REPORT_SIZE], EVP_PKEY *key,
			 struct skr_err *err);

/* Build + sign with the chain's VCEK; r NULL = defaults from c->vcek_opts. */
int skr_test_chain_report(const struct skr_test_chain *c, const struct skr_test_report_opts *r,
			  uint8_t out[SKR_TEST_REPORT_SIZE], struct skr_err *err);

#endif
