/* SPDX-License-Identifier: Apache-2.0 */
#include "verify/amd_chain.h"

#include <string.h>
#include <strings.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/util.h"

#define AMD_OID_PREFIX "1.3.6.1.4.1.3704.1."
#define MAX_ANCHORS 64

static void x509_stack_pop_free(STACK_OF(X509) **sk)
{
	sk_X509_pop_free(*sk, X509_free);
}

/* The subject CN, e.g. "ARK-Milan", or "" when there is none. */
static void subject_cn(X509 *cert, char *out, size_t size)
{
	out[0] = 0;
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, out,
				      (int)size) < 0)
		out[0] = 0;
}

enum amd_role { ROLE_OTHER, ROLE_ARK, ROLE_ASK, ROLE_ASVK };

/* Classifies an AMD CA certificate by its CN and tells its product. */
static enum amd_role classify(X509 *cert, enum skr_snp_product *product)
{
	char cn[128];

	subject_cn(cert, cn, sizeof(cn));
	if (!strncmp(cn, "ARK-", 4)) {
		*product = skr_snp_product_from_name(cn + 4);
		return ROLE_ARK;
	}
	if (!strncmp(cn, "SEV-VLEK-", 9)) {
		*product = skr_snp_product_from_name(cn + 9);
		return ROLE_ASVK;
	}
	if (!strncmp(cn, "SEV-", 4) && strcmp(cn, "SEV-VCEK") && strcmp(cn, "SEV-VLEK")) {
		*product = skr_snp_product_from_name(cn + 4);
		return ROLE_ASK;
	}
	*product = SKR_SNP_PRODUCT_UNKNOWN;
	return ROLE_OTHER;
}

/* Issuer name and signature both point at `issuer`. */
static bool signed_by(X509 *cert, X509 *issuer)
{
	EVP_PKEY *key;

	if (X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(issuer)) != 0)
		return false;
	key = X509_get0_pubkey(issuer);
	if (!key)
		return false;
	if (X509_verify(cert, key) == 1)
		return true;
	ERR_clear_error();
	return false;
}

static int load_pem_stack(const void *pem, size_t len, STACK_OF(X509) **out,
			  struct skr_err *err)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	STACK_OF(X509) *sk = sk_X509_new_null();
	X509 *x;

	if (!bio || !sk || len > INT32_MAX) {
		BIO_free(bio);
		sk_X509_free(sk);
		return skr_fail(err, SKR_R_nomem, "cannot read certificates");
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		if (!sk_X509_push(sk, x))
			X509_free(x);
	ERR_clear_error();
	BIO_free(bio);
	if (sk_X509_num(sk) == 0) {
		sk_X509_free(sk);
		return skr_fail(err, SKR_R_malformed, "no PEM certificate found");
	}
	*out = sk;
	return 0;
}

static int add_root(struct skr_amd_trust *t, X509 *ark, enum skr_snp_product product,
		    bool builtin, struct skr_err *err)
{
	struct skr_amd_anchor *grown;
	size_t i;

	for (i = 0; i < t->count; i++)
		if (X509_cmp(t->anchors[i].ark, ark) == 0)
			return 0;
	if (t->count >= MAX_ANCHORS)
		return skr_fail(err, SKR_R_malformed, "too many trust anchors");
	if (!signed_by(ark, ark))
		return skr_fail(err, SKR_R_chain_signature_invalid,
				"root certificate is not validly self-signed");
	grown = realloc(t->anchors, (t->count + 1) * sizeof(*grown));
	if (!grown)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	t->anchors = grown;
	t->anchors[t->count] = (struct skr_amd_anchor){ .product = product, .builtin = builtin };
	X509_up_ref(ark);
	t->anchors[t->count].ark = ark;
	t->count++;
	return 0;
}

static int attach_intermediate(struct skr_amd_trust *t, X509 *cert, enum amd_role role,
			       enum skr_snp_product product, struct skr_err *err)
{
	size_t i;

	for (i = 0; i < t->count; i++) {
		struct skr_amd_anchor *a = &t->anchors[i];
		X509 **slot = role == ROLE_ASK ? &a->ask : &a->asvk;

		if (a->product != product || !signed_by(cert, a->ark))
			continue;
		X509_free(*slot);
		X509_up_ref(cert);
		*slot = cert;
		return 0;
	}
	return skr_fail(err, SKR_R_chain_untrusted,
			"intermediate for %s does not verify under any trusted ARK",
			skr_snp_product_name(product));
}

static int add_stack(struct skr_amd_trust *t, STACK_OF(X509) *sk, bool builtin,
		     struct skr_err *err)
{
	enum skr_snp_product product;
	int i, pass;

	/* Roots first, so intermediates find them whatever the order in the file. */
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < sk_X509_num(sk); i++) {
			X509 *c = sk_X509_value(sk, i);
			enum amd_role role = classify(c, &product);

			if (role == ROLE_OTHER || product == SKR_SNP_PRODUCT_UNKNOWN)
				return skr_fail(err, SKR_R_malformed,
						"certificate %d is not an AMD ARK, ASK or ASVK", i + 1);
			if (pass == 0 && role == ROLE_ARK &&
			    add_root(t, c, product, builtin, err) < 0)
				return -1;
			if (pass == 1 && role != ROLE_ARK &&
			    attach_intermediate(t, c, role, product, err) < 0)
				return -1;
		}
	}
	return 0;
}

int skr_amd_trust_add_pem(struct skr_amd_trust *t, const void *pem, size_t len,
			  struct skr_err *err)
{
	_cleanup_(x509_stack_pop_free) STACK_OF(X509) *sk = NULL;

	if (load_pem_stack(pem, len, &sk, err) < 0)
		return -1;
	return add_stack(t, sk, false, err);
}

int skr_amd_trust_init(struct skr_amd_trust *t, bool builtin, struct skr_err *err)
{
	size_t i;

	memset(t, 0, sizeof(*t));
	if (!builtin)
		return 0;
	for (i = 0; i < skr_amd_builtin_count; i++) {
		_cleanup_(x509_stack_pop_free) STACK_OF(X509) *sk = NULL;
		const char *pem = skr_amd_builtin_certs[i].pem;

		if (load_pem_stack(pem, strlen(pem), &sk, err) < 0 || add_stack(t, sk, true, err) < 0) {
			skr_amd_trust_free(t);
			return -1;
		}
	}
	return 0;
}

void skr_amd_trust_free(struct skr_amd_trust *t)
{
	size_t i;

	for (i = 0; i < t->count; i++) {
		X509_free(t->anchors[i].ark);
		X509_free(t->anchors[i].ask);
		X509_free(t->anchors[i].asvk);
	}
	free(t->anchors);
	memset(t, 0, sizeof(*t));
}

/* The DER value inside an AMD extension's extnValue, found by dotted OID. */
static const ASN1_OCTET_STRING *amd_extension(X509 *cert, const char *suffix)
{
	char oid_text[64];
	ASN1_OBJECT *oid;
	int idx;

	snprintf(oid_text, sizeof(oid_text), AMD_OID_PREFIX "%s", suffix);
	oid = OBJ_txt2obj(oid_text, 1);
	if (!oid)
		return NULL;
	idx = X509_get_ext_by_OBJ(cert, oid, -1);
	ASN1_OBJECT_free(oid);
	if (idx < 0)
		return NULL;
	return X509_EXTENSION_get_data(X509_get_ext(cert, idx));
}

/* An SPL extension: a DER INTEGER between 0 and 255. */
static int ext_spl(X509 *cert, const char *suffix, const char *name, bool *present,
		   uint8_t *value, struct skr_err *err)
{
	const ASN1_OCTET_STRING *os = amd_extension(cert, suffix);
	const unsigned char *p;
	ASN1_INTEGER *i;
	long v;

	*present = os != NULL;
	if (!os)
		return 0;
	p = ASN1_STRING_get0_data(os);
	i = d2i_ASN1_INTEGER(NULL, &p, ASN1_STRING_length(os));
	v = i ? ASN1_INTEGER_get(i) : -1;
	ASN1_INTEGER_free(i);
	ERR_clear_error();
	if (v < 0 || v > 255)
		return skr_fail(err, SKR_R_cert_invalid, "VCEK extension %s is not an SPL 0..255", name);
	*value = (uint8_t)v;
	return 0;
}

static void ext_product_name(X509 *cert, char *out, size_t size)
{
	const ASN1_OCTET_STRING *os = amd_extension(cert, "2");
	const unsigned char *p;
	ASN1_IA5STRING *s;
	int n;

	out[0] = 0;
	if (!os)
		return;
	p = ASN1_STRING_get0_data(os);
	s = d2i_ASN1_IA5STRING(NULL, &p, ASN1_STRING_length(os));
	if (s) {
		n = ASN1_STRING_length(s);
		if (n > 0 && (size_t)n < size && !memchr(ASN1_STRING_get0_data(s), 0, (size_t)n)) {
			memcpy(out, ASN1_STRING_get0_data(s), (size_t)n);
			out[n] = 0;
		}
	}
	ASN1_IA5STRING_free(s);
	ERR_clear_error();
}

static int ext_hwid(X509 *cert, struct skr_vcek_info *info, struct skr_err *err)
{
	const ASN1_OCTET_STRING *os = amd_extension(cert, "4");
	const uint8_t *p;
	int n;

	if (!os)
		return 0;
	p = ASN1_STRING_get0_data(os);
	n = ASN1_STRING_length(os);
	/* AMD stores the raw bytes; tolerate an extra OCTET STRING wrapper too. */
	if ((n == 66 || n == 10) && p[0] == V_ASN1_OCTET_STRING && p[1] == n - 2) {
		p += 2;
		n -= 2;
	}
	if (n != 64 && n != 8)
		return skr_fail(err, SKR_R_cert_invalid, "VCEK hwID is %d bytes, expected 64 or 8", n);
	memcpy(info->hwid, p, (size_t)n);
	info->hwid_len = (size_t)n;
	return 0;
}

int skr_vcek_info_parse(X509 *cert, struct skr_vcek_info *info, struct skr_err *err)
{
	static const struct {
		const char *suffix, *name;
		size_t offset;
	} spls[] = {
		{ "3.1", "blSPL", offsetof(struct skr_snp_tcb, bootloader) },
		{ "3.2", "teeSPL", offsetof(struct skr_snp_tcb, tee) },
		{ "3.3", "snpSPL", offsetof(struct skr_snp_tcb, snp) },
		{ "3.8", "ucodeSPL", offsetof(struct skr_snp_tcb, microcode) },
	};
	char cn[64];
	bool present;
	size_t i;

	memset(info, 0, sizeof(*info));
	subject_cn(cert, cn, sizeof(cn));
	if (!strcmp(cn, "SEV-VCEK"))
		info->kind = SKR_SNP_SIGNER_VCEK;
	else if (!strcmp(cn, "SEV-VLEK"))
		info->kind = SKR_SNP_SIGNER_VLEK;
	else
		return skr_fail(err, SKR_R_cert_invalid,
				"certificate subject CN '%s' is neither SEV-VCEK nor SEV-VLEK", cn);
	ext_product_name(cert, info->product_name, sizeof(info->product_name));
	info->product = skr_snp_product_from_name(info->product_name);
	info->has_tcb = true;
	for (i = 0; i < ARRAY_SIZE(spls); i++) {
		if (ext_spl(cert, spls[i].suffix, spls[i].name, &present,
			    (uint8_t *)&info->tcb + spls[i].offset, err) < 0)
			return -1;
		info->has_tcb &= present;
	}
	if (ext_spl(cert, "3.9", "fmcSPL", &info->has_fmc, &info->tcb.fmc, err) < 0)
		return -1;
	return ext_hwid(cert, info, err);
}

int skr_vcek_match_report(const struct skr_vcek_info *info, const struct skr_snp_report *r,
			  enum skr_snp_product product, struct skr_err *err)
{
	struct skr_snp_tcb rt = skr_snp_tcb_decode(r->reported_tcb, product);
	const struct skr_snp_tcb *ct = &info->tcb;

	if (!info->has_tcb)
		return skr_fail(err, SKR_R_cert_invalid, "certificate lacks the TCB extensions");
#define CHECK_SPL(field)                                                                 \
	if (ct->field != rt.field)                                                       \
		return skr_fail(err, SKR_R_vcek_tcb_mismatch,                            \
				"certificate " #field " SPL %u differs from REPORTED_TCB " #field \
				" %u", ct->field, rt.field);
	CHECK_SPL(bootloader)
	CHECK_SPL(tee)
	CHECK_SPL(snp)
	CHECK_SPL(microcode)
	if (product == SKR_SNP_PRODUCT_TURIN)
		CHECK_SPL(fmc)
#undef CHECK_SPL
	if (info->kind == SKR_SNP_SIGNER_VLEK)
		return 0;	/* a VLEK belongs to a cloud provider, not to one chip */
	if (info->hwid_len == 0)
		return skr_fail(err, SKR_R_cert_invalid, "VCEK lacks the hwID extension");
	if (!skr_ct_equal(info->hwid, r->chip_id, info->hwid_len)) {
		_cleanup_free_ char *want = skr_hex_encode(info->hwid, 8);
		_cleanup_free_ char *got = skr_hex_encode(r->chip_id, 8);

		return skr_fail(err, SKR_R_vcek_chip_mismatch,
				"VCEK hwID %s... differs from CHIP_ID %s...%s", want ? want : "",
				got ? got : "", r->mask_chip_key ? " (CHIP_ID is masked)" : "");
	}
	return 0;
}

static int check_validity(X509 *cert, const char *what, time_t now, struct skr_err *err)
{
	time_t t = now ? now : time(NULL);

	if (X509_cmp_time(X509_get0_notBefore(cert), &t) > 0)
		return skr_fail(err, SKR_R_cert_expired, "%s is not valid yet", what);
	if (X509_cmp_time(X509_get0_notAfter(cert), &t) < 0)
		return skr_fail(err, SKR_R_cert_expired, "%s has expired", what);
	return 0;
}

static enum skr_snp_product pick_product(const struct skr_amd_verify_opts *opts,
					 const struct skr_vcek_info *info,
					 const struct skr_snp_report *report)
{
	if (opts && opts->product != SKR_SNP_PRODUCT_UNKNOWN)
		return opts->product;
	if (info->product != SKR_SNP_PRODUCT_UNKNOWN)
		return info->product;
	return report ? skr_snp_report_product(report) : SKR_SNP_PRODUCT_UNKNOWN;
}

/*
 * A presented chain (untrusted) may only repeat a trusted root and add
 * intermediates that verify under it; a foreign root is refused outright.
 */
static int check_presented_chain(const struct skr_amd_trust *trusted,
				 struct skr_amd_trust *work, const void *pem, size_t len,
				 struct skr_err *err)
{
	_cleanup_(x509_stack_pop_free) STACK_OF(X509) *sk = NULL;
	enum skr_snp_product product;
	size_t j;
	int i;

	if (load_pem_stack(pem, len, &sk, err) < 0)
		return -1;
	for (i = 0; i < sk_X509_num(sk); i++) {
		X509 *c = sk_X509_value(sk, i);
		bool known = false;

		if (classify(c, &product) != ROLE_ARK)
			continue;
		for (j = 0; j < trusted->count; j++)
			known |= X509_cmp(trusted->anchors[j].ark, c) == 0;
		if (!known)
			return skr_fail(err, SKR_R_chain_untrusted,
					"the presented chain's ARK is not a trusted AMD root");
	}
	for (i = 0; i < sk_X509_num(sk); i++) {
		X509 *c = sk_X509_value(sk, i);
		enum amd_role role = classify(c, &product);

		if (role == ROLE_ASK || role == ROLE_ASVK) {
			if (attach_intermediate(work, c, role, product, err) < 0)
				return -1;
		} else if (role != ROLE_ARK) {
			return skr_fail(err, SKR_R_malformed,
					"presented chain certificate %d is not an AMD ARK, ASK or ASVK",
					i + 1);
		}
	}
	return 0;
}

/* Copies the anchors (sharing references) so a presented chain can be attached. */
static int trust_clone(const struct skr_amd_trust *t, struct skr_amd_trust *out,
		       struct skr_err *err)
{
	size_t i;

	out->count = 0;
	out->anchors = calloc(t->count ? t->count : 1, sizeof(*out->anchors));
	if (!out->anchors)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	for (i = 0; i < t->count; i++) {
		out->anchors[i] = t->anchors[i];
		X509_up_ref(out->anchors[i].ark);
		if (out->anchors[i].ask)
			X509_up_ref(out->anchors[i].ask);
		if (out->anchors[i].asvk)
			X509_up_ref(out->anchors[i].asvk);
	}
	out->count = t->count;
	return 0;
}

/* The validity dates of the CA that issued a leaf and of its ARK. */
static int check_issuer_validity(X509 *ca, X509 *ark, const struct skr_vcek_info *info,
				 time_t now, struct skr_err *err)
{
	return check_validity(ca, info->kind == SKR_SNP_SIGNER_VLEK ? "ASVK" : "ASK", now, err) < 0 ||
	       check_validity(ark, "ARK", now, err) < 0 ? -1 : 0;
}

/* The leaf's signature by a trusted ASK (ASVK); *ca and *ark (borrowed from t) say whose. */
static int verify_leaf_signature(const struct skr_amd_trust *t, X509 *leaf,
				 const struct skr_vcek_info *info, enum skr_snp_product product,
				 X509 **ca_out, X509 **ark_out, struct skr_err *err)
{
	const char *issuer_kind = info->kind == SKR_SNP_SIGNER_VLEK ? "ASVK" : "ASK";
	bool candidate = false;
	size_t i;

	for (i = 0; i < t->count; i++) {
		const struct skr_amd_anchor *a = &t->anchors[i];
		X509 *ca = info->kind == SKR_SNP_SIGNER_VLEK ? a->asvk : a->ask;

		if (a->product != product || !ca)
			continue;
		if (X509_NAME_cmp(X509_get_issuer_name(leaf), X509_get_subject_name(ca)) != 0)
			continue;
		candidate = true;
		if (signed_by(leaf, ca)) {
			*ca_out = ca;
			*ark_out = a->ark;
			return 0;
		}
	}
	if (candidate)
		return skr_fail(err, SKR_R_chain_signature_invalid,
				"the %s signature does not verify under the trusted %s %s",
				info->kind == SKR_SNP_SIGNER_VLEK ? "VLEK" : "VCEK", issuer_kind,
				skr_snp_product_name(product));
	return skr_fail(err, SKR_R_chain_untrusted, "no trusted %s %s issued this certificate",
			issuer_kind, skr_snp_product_name(product));
}

/* Whether ca (an ASK or ASVK, as the leaf's kind says) and ark are an anchor of t for product. */
static bool anchor_holds(const struct skr_amd_trust *t, enum skr_snp_product product,
			 const struct skr_vcek_info *info, X509 *ca, X509 *ark)
{
	size_t i;

	for (i = 0; i < t->count; i++) {
		const struct skr_amd_anchor *a = &t->anchors[i];

		if (a->product == product && a->ark == ark &&
		    (info->kind == SKR_SNP_SIGNER_VLEK ? a->asvk : a->ask) == ca)
			return true;
	}
	return false;
}

void skr_chain_cache_init(struct skr_chain_cache *c)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
}

void skr_chain_cache_free(struct skr_chain_cache *c)
{
	size_t i;

	for (i = 0; i < c->count; i++) {
		X509_free(c->entry[i].cert);
		X509_free(c->entry[i].issuer);
		X509_free(c->entry[i].ark);
	}
	pthread_mutex_destroy(&c->lock);
}

/* The entry for a digest; called with the lock held. */
static struct skr_chain_cache_entry *cache_find(struct skr_chain_cache *c, const uint8_t digest[32])
{
	size_t i;

	for (i = 0; i < c->count; i++)
		if (memcmp(c->entry[i].digest, digest, 32) == 0)
			return &c->entry[i];
	return NULL;
}

/* Adds (or refreshes) an entry; called with the lock held. */
static struct skr_chain_cache_entry *cache_put(struct skr_chain_cache *c, const uint8_t digest[32],
					       X509 *cert)
{
	struct skr_chain_cache_entry *e = cache_find(c, digest);

	if (e)
		return e;
	e = &c->entry[c->next];
	X509_free(e->cert);
	X509_free(e->issuer);
	X509_free(e->ark);
	memcpy(e->digest, digest, 32);
	X509_up_ref(cert);
	e->cert = cert;
	e->issuer = e->ark = NULL;
	e->verified = false;
	c->next = (c->next + 1) % SKR_CHAIN_CACHE_SIZE;
	if (c->count < SKR_CHAIN_CACHE_SIZE)
		c->count++;
	return e;
}

int skr_chain_cache_cert(struct skr_chain_cache *c, const void *data, size_t len, X509 **out,
			 struct skr_err *err)
{
	struct skr_chain_cache_entry *e;
	uint8_t digest[32];

	if (len > SKR_VCEK_MAX_DER)
		return skr_fail(err, SKR_R_request_too_large,
				"VCEK is %zu bytes; a VCEK is at most %u", len, SKR_VCEK_MAX_DER);
	if (!EVP_Digest(data, len, digest, NULL, EVP_sha256(), NULL))
		return skr_fail(err, SKR_R_nomem, "digest failure");
	pthread_mutex_lock(&c->lock);
	e = cache_find(c, digest);
	if (e && e->verified) {
		X509_up_ref(e->cert);
		*out = e->cert;
	}
	pthread_mutex_unlock(&c->lock);
	if (e && e->verified)
		return 0;
	/* Not cached here: verify_chain_cached keeps it once its chain verified. */
	return skr_x509_parse(data, len, out, "VCEK", err);
}

size_t skr_chain_cache_entries(struct skr_chain_cache *c)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = c->count;
	pthread_mutex_unlock(&c->lock);
	return n;
}

static bool leaf_digest(X509 *leaf, uint8_t out[32])
{
	unsigned int len = 0;

	return X509_digest(leaf, EVP_sha256(), out, &len) == 1 && len == 32;
}

/*
 * Whether leaf's chain verified before (by identity first, else by digest),
 * and under which CA and ARK: *ca and *ark are new references when it did.
 */
static bool cache_verified(struct skr_chain_cache *c, X509 *leaf, uint8_t digest[32],
			   bool *have_digest, X509 **ca, X509 **ark)
{
	struct skr_chain_cache_entry *e = NULL;
	size_t i;

	*have_digest = false;
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->count && !e; i++)
		if (c->entry[i].cert == leaf && c->entry[i].verified)
			e = &c->entry[i];
	if (!e) {
		pthread_mutex_unlock(&c->lock);
		if (!(*have_digest = leaf_digest(leaf, digest)))
			return false;
		pthread_mutex_lock(&c->lock);
		e = cache_find(c, digest);
		if (e && !e->verified)
			e = NULL;
	}
	if (e) {
		X509_up_ref(e->issuer);
		X509_up_ref(e->ark);
		*ca = e->issuer;
		*ark = e->ark;
	}
	pthread_mutex_unlock(&c->lock);
	return e != NULL;
}

static void cache_count(struct skr_chain_cache *c, bool hit)
{
	pthread_mutex_lock(&c->lock);
	if (hit)
		c->hits++;
	else
		c->misses++;
	pthread_mutex_unlock(&c->lock);
}

static void cache_mark_verified(struct skr_chain_cache *c, X509 *leaf, const uint8_t digest[32],
				X509 *ca, X509 *ark)
{
	struct skr_chain_cache_entry *e;

	pthread_mutex_lock(&c->lock);
	e = cache_put(c, digest, leaf);
	X509_up_ref(ca);
	X509_up_ref(ark);
	X509_free(e->issuer);
	X509_free(e->ark);
	e->issuer = ca;
	e->ark = ark;
	e->verified = true;
	pthread_mutex_unlock(&c->lock);
}

/*
 * The chain: the leaf's signature, through the cache when there is one and
 * no presented chain (a leaf verified before under a CA and ARK that are
 * still trusted is not verified again), then the validity dates of that CA
 * and ARK, every time, cached or not: they expire as the VCEK does.
 */
static int verify_chain_cached(const struct skr_amd_trust *work, X509 *leaf,
			       const struct skr_vcek_info *info, enum skr_snp_product product,
			       const struct skr_amd_verify_opts *opts, struct skr_err *err)
{
	struct skr_chain_cache *cache = opts && !opts->chain_pem ? opts->cache : NULL;
	time_t now = opts ? opts->now : 0;
	X509 *cached_ca = NULL, *cached_ark = NULL, *ca = NULL, *ark = NULL;
	uint8_t digest[32];
	bool have_digest = false, hit = false;
	int rc;

	if (cache) {
		hit = cache_verified(cache, leaf, digest, &have_digest, &cached_ca, &cached_ark) &&
		      anchor_holds(work, product, info, cached_ca, cached_ark);
		cache_count(cache, hit);
	}
	if (hit) {
		rc = check_issuer_validity(cached_ca, cached_ark, info, now, err);
	} else {
		rc = verify_leaf_signature(work, leaf, info, product, &ca, &ark, err);
		if (rc == 0)
			rc = check_issuer_validity(ca, ark, info, now, err);
		if (rc == 0 && cache && (have_digest || leaf_digest(leaf, digest)))
			cache_mark_verified(cache, leaf, digest, ca, ark);
	}
	X509_free(cached_ca);
	X509_free(cached_ark);
	return rc;
}

int skr_amd_verify_leaf(const struct skr_amd_trust *t, X509 *leaf,
			const struct skr_snp_report *report,
			const struct skr_amd_verify_opts *opts,
			struct skr_vcek_info *info_out, struct skr_err *err)
{
	_cleanup_(skr_amd_trust_free) struct skr_amd_trust work = { 0 };
	struct skr_vcek_info info;
	enum skr_snp_product product;
	time_t now = opts ? opts->now : 0;

	if (skr_vcek_info_parse(leaf, &info, err) < 0)
		return -1;
	if (info_out)
		*info_out = info;
	product = pick_product(opts, &info, report);
	if (product == SKR_SNP_PRODUCT_UNKNOWN)
		return skr_fail(err, SKR_R_usage,
				"cannot tell the AMD product (Milan, Genoa, Turin): give it explicitly");
	if (info.product != SKR_SNP_PRODUCT_UNKNOWN && info.product != product)
		return skr_fail(err, SKR_R_vcek_product_mismatch,
				"certificate is for %s, expected %s", info.product_name,
				skr_snp_product_name(product));
	if (report && report->signing_key != info.kind)
		return skr_fail(err, SKR_R_snp_signing_key_mismatch,
				"report says it is signed by the %s, the certificate is a %s",
				report->signing_key == SKR_SNP_SIGNER_VLEK ? "VLEK" : "VCEK",
				info.kind == SKR_SNP_SIGNER_VLEK ? "VLEK" : "VCEK");
	if (trust_clone(t, &work, err) < 0)
		return -1;
	if (opts && opts->chain_pem &&
	    check_presented_chain(t, &work, opts->chain_pem, opts->chain_pem_len, err) < 0)
		return -1;
	if (verify_chain_cached(&work, leaf, &info, product, opts, err) < 0 ||
	    check_validity(leaf, info.kind == SKR_SNP_SIGNER_VLEK ? "VLEK" : "VCEK", now, err) < 0)
		return -1;
	if (report && skr_vcek_match_report(&info, report, product, err) < 0)
		return -1;
	return 0;
}
