/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The AMD SEV-SNP certificate chain: ARK -> ASK -> VCEK and ARK -> ASVK ->
 * VLEK (RSA-PSS), trust anchors (Milan, Genoa and Turin built in, more by
 * configuration), the VCEK's TCB and hwID extensions, and their match with a
 * report's REPORTED_TCB and CHIP_ID.
 */
#ifndef SKR_AMD_CHAIN_H
#define SKR_AMD_CHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <time.h>

#include <openssl/x509.h>

#include "common/err.h"
#include "common/x509.h"
#include "verify/snp_report.h"

/* Built-in AMD certificates (generated from src/verify/certs by tools/embed-pem.sh). */
struct skr_builtin_cert {
	const char *product;	/* "milan", "genoa", "turin" */
	const char *role;	/* "ark", "ask", "asvk" */
	const char *pem;
};
extern const struct skr_builtin_cert skr_amd_builtin_certs[];
extern const size_t skr_amd_builtin_count;

/* One trusted root and the intermediates proven to chain to it. */
struct skr_amd_anchor {
	enum skr_snp_product product;
	X509 *ark;
	X509 *ask;	/* signs VCEKs; may be NULL */
	X509 *asvk;	/* signs VLEKs; may be NULL */
	bool builtin;
};

struct skr_amd_trust {
	struct skr_amd_anchor *anchors;
	size_t count;
};

/* Loads the built-in AMD roots when `builtin` is set; otherwise starts empty. */
int skr_amd_trust_init(struct skr_amd_trust *t, bool builtin, struct skr_err *err);
/*
 * Adds trust anchors from PEM text: each self-signed certificate named
 * ARK-<Product> becomes a root; each SEV-<Product> / SEV-VLEK-<Product>
 * certificate must verify under a root of the same product and is attached to it.
 */
int skr_amd_trust_add_pem(struct skr_amd_trust *t, const void *pem, size_t len,
			  struct skr_err *err);
void skr_amd_trust_free(struct skr_amd_trust *t);

/* What a VCEK or VLEK certificate says about itself. */
struct skr_vcek_info {
	enum skr_snp_signer kind;	/* from the subject CN: SEV-VCEK or SEV-VLEK */
	char product_name[32];		/* extension 1.3.6.1.4.1.3704.1.2, e.g. "Milan-B0" */
	enum skr_snp_product product;
	bool has_tcb;
	struct skr_snp_tcb tcb;		/* from extensions 1.3.6.1.4.1.3704.1.3.{1,2,3,8,9} */
	bool has_fmc;
	uint8_t hwid[64];		/* extension 1.3.6.1.4.1.3704.1.4: 64 bytes, 8 on Turin */
	size_t hwid_len;
};

int skr_vcek_info_parse(X509 *cert, struct skr_vcek_info *info, struct skr_err *err);

/* A VCEK or VLEK is under 2 KiB of DER: anything beyond this is not one. */
#define SKR_VCEK_MAX_DER (8u << 10)

/*
 * VCEKs whose chain verified (by SHA-256 of their DER): parsed once, and
 * their chain signature verified once, so a busy broker does one parse and
 * one RSA-PSS verify per VCEK rather than per release.  The validity dates of
 * the VCEK and of the ASK (ASVK) and ARK that verified it, and the match with
 * each report, are still checked every time, and a cached VCEK counts only
 * while that ASK and ARK are still trusted.  Only a certificate whose chain
 * verified is ever kept: what a client sends and does not verify is freed
 * with its request, so unverified junk cannot fill the cache or the heap.
 */
#define SKR_CHAIN_CACHE_SIZE 4096

struct skr_chain_cache_entry {
	uint8_t digest[32];
	X509 *cert;
	X509 *issuer, *ark;	/* the trusted ASK (ASVK) and ARK that verified cert */
	bool verified;
};

struct skr_chain_cache {
	pthread_mutex_t lock;
	struct skr_chain_cache_entry entry[SKR_CHAIN_CACHE_SIZE];
	size_t next, count;
	unsigned long hits, misses;
};

void skr_chain_cache_init(struct skr_chain_cache *c);
void skr_chain_cache_free(struct skr_chain_cache *c);
/*
 * The certificate of these DER (or PEM) bytes: the cached one when these
 * bytes verified before, else freshly parsed and not cached (the chain
 * verification caches it once it passes); *out is a new reference.  More
 * than SKR_VCEK_MAX_DER bytes fail with request_too_large, unparsed.
 */
int skr_chain_cache_cert(struct skr_chain_cache *c, const void *data, size_t len, X509 **out,
			 struct skr_err *err);
/* How many certificates the cache holds (all of them verified). */
size_t skr_chain_cache_entries(struct skr_chain_cache *c);

struct skr_amd_verify_opts {
	enum skr_snp_product product;	/* UNKNOWN: from the certificate, then the report */
	const void *chain_pem;		/* presented ASK/ARK (untrusted); may be NULL */
	size_t chain_pem_len;
	time_t now;			/* 0: the current time */
	struct skr_chain_cache *cache;	/* NULL: verify every time */
};

/*
 * Verifies leaf (VCEK or VLEK) up to a trusted ARK and checks it against the
 * report: signer kind, product, REPORTED_TCB and CHIP_ID.  Does not verify the
 * report signature itself (skr_snp_report_verify_signature does).
 */
int skr_amd_verify_leaf(const struct skr_amd_trust *t, X509 *leaf,
			const struct skr_snp_report *report,
			const struct skr_amd_verify_opts *opts,
			struct skr_vcek_info *info_out, struct skr_err *err);

/* Compares the certificate's TCB and hwID with the report; names what differs. */
int skr_vcek_match_report(const struct skr_vcek_info *info, const struct skr_snp_report *r,
			  enum skr_snp_product product, struct skr_err *err);

#endif
