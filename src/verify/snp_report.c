/* SPDX-License-Identifier: Apache-2.0 */
#include "verify/snp_report.h"

#include <string.h>
#include <strings.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/core_names.h>

#include "common/json_util.h"
#include "common/util.h"

/* Offsets from the SEV-SNP Firmware ABI, ATTESTATION_REPORT structure. */
enum {
	OFF_VERSION = 0x000, OFF_GUEST_SVN = 0x004, OFF_POLICY = 0x008,
	OFF_FAMILY_ID = 0x010, OFF_IMAGE_ID = 0x020, OFF_VMPL = 0x030,
	OFF_SIG_ALGO = 0x034, OFF_CURRENT_TCB = 0x038, OFF_PLATFORM_INFO = 0x040,
	OFF_FLAGS = 0x048, OFF_REPORT_DATA = 0x050, OFF_MEASUREMENT = 0x090,
	OFF_HOST_DATA = 0x0C0, OFF_ID_KEY_DIGEST = 0x0E0, OFF_AUTHOR_KEY_DIGEST = 0x110,
	OFF_REPORT_ID = 0x140, OFF_REPORT_ID_MA = 0x160, OFF_REPORTED_TCB = 0x180,
	OFF_CPUID_FAM = 0x188, OFF_CPUID_MOD = 0x189, OFF_CPUID_STEP = 0x18A,
	OFF_CHIP_ID = 0x1A0, OFF_COMMITTED_TCB = 0x1E0, OFF_CURRENT_BUILD = 0x1E8,
	OFF_COMMITTED_BUILD = 0x1EC, OFF_LAUNCH_TCB = 0x1F0,
	OFF_LAUNCH_MIT = 0x1F8, OFF_CURRENT_MIT = 0x200,
	OFF_SIG_R = 0x2A0, OFF_SIG_S = 0x2E8,
};

#define SNP_SIG_ALGO_ECDSA_P384_SHA384 1
#define P384_BYTES 48

int skr_snp_report_parse(const uint8_t *d, size_t len, struct skr_snp_report *r,
			 struct skr_err *err)
{
	if (len != SKR_SNP_REPORT_SIZE)
		return skr_fail(err, SKR_R_malformed, "SNP report is %zu bytes, expected %d",
				len, SKR_SNP_REPORT_SIZE);
	memset(r, 0, sizeof(*r));
	r->version = skr_le32(d + OFF_VERSION);
	if (r->version < 2 || r->version > 5)
		return skr_fail(err, SKR_R_unsupported,
				"SNP report version %u is not supported (2 to 5 are)", r->version);
	r->signature_algo = skr_le32(d + OFF_SIG_ALGO);
	if (r->signature_algo != SNP_SIG_ALGO_ECDSA_P384_SHA384)
		return skr_fail(err, SKR_R_unsupported,
				"SNP report signature algorithm %u is not ECDSA P-384/SHA-384",
				r->signature_algo);

	memcpy(r->raw, d, SKR_SNP_REPORT_SIZE);
	r->guest_svn = skr_le32(d + OFF_GUEST_SVN);
	r->policy = skr_le64(d + OFF_POLICY);
	memcpy(r->family_id, d + OFF_FAMILY_ID, sizeof(r->family_id));
	memcpy(r->image_id, d + OFF_IMAGE_ID, sizeof(r->image_id));
	r->vmpl = skr_le32(d + OFF_VMPL);
	r->current_tcb = skr_le64(d + OFF_CURRENT_TCB);
	r->platform_info = skr_le64(d + OFF_PLATFORM_INFO);
	r->author_key_en = d[OFF_FLAGS] & 1;
	r->mask_chip_key = d[OFF_FLAGS] >> 1 & 1;
	r->signing_key = (enum skr_snp_signer)(d[OFF_FLAGS] >> 2 & 7);
	memcpy(r->report_data, d + OFF_REPORT_DATA, sizeof(r->report_data));
	memcpy(r->measurement, d + OFF_MEASUREMENT, sizeof(r->measurement));
	memcpy(r->host_data, d + OFF_HOST_DATA, sizeof(r->host_data));
	memcpy(r->id_key_digest, d + OFF_ID_KEY_DIGEST, sizeof(r->id_key_digest));
	memcpy(r->author_key_digest, d + OFF_AUTHOR_KEY_DIGEST, sizeof(r->author_key_digest));
	memcpy(r->report_id, d + OFF_REPORT_ID, sizeof(r->report_id));
	memcpy(r->report_id_ma, d + OFF_REPORT_ID_MA, sizeof(r->report_id_ma));
	r->reported_tcb = skr_le64(d + OFF_REPORTED_TCB);
	if (r->version >= 3) {
		r->cpuid_fam_id = d[OFF_CPUID_FAM];
		r->cpuid_mod_id = d[OFF_CPUID_MOD];
		r->cpuid_step = d[OFF_CPUID_STEP];
	}
	memcpy(r->chip_id, d + OFF_CHIP_ID, sizeof(r->chip_id));
	r->committed_tcb = skr_le64(d + OFF_COMMITTED_TCB);
	r->current_build = d[OFF_CURRENT_BUILD];
	r->current_minor = d[OFF_CURRENT_BUILD + 1];
	r->current_major = d[OFF_CURRENT_BUILD + 2];
	r->committed_build = d[OFF_COMMITTED_BUILD];
	r->committed_minor = d[OFF_COMMITTED_BUILD + 1];
	r->committed_major = d[OFF_COMMITTED_BUILD + 2];
	r->launch_tcb = skr_le64(d + OFF_LAUNCH_TCB);
	if (r->version >= 5) {
		r->launch_mit_vector = skr_le64(d + OFF_LAUNCH_MIT);
		r->current_mit_vector = skr_le64(d + OFF_CURRENT_MIT);
	}
	memcpy(r->sig_r, d + OFF_SIG_R, sizeof(r->sig_r));
	memcpy(r->sig_s, d + OFF_SIG_S, sizeof(r->sig_s));
	return 0;
}

/* DER-encodes the little-endian R and S as an ECDSA-Sig-Value. */
static int signature_to_der(const struct skr_snp_report *r, uint8_t **der, int *der_len,
			    struct skr_err *err)
{
	uint8_t be[P384_BYTES];
	ECDSA_SIG *sig = NULL;
	BIGNUM *bn_r = NULL, *bn_s = NULL;
	int i;

	/* Bytes above the curve size must be zero, or the value is not a P-384 scalar. */
	if (!skr_is_zero(r->sig_r + P384_BYTES, SKR_SNP_SIG_COMPONENT - P384_BYTES) ||
	    !skr_is_zero(r->sig_s + P384_BYTES, SKR_SNP_SIG_COMPONENT - P384_BYTES))
		return skr_fail(err, SKR_R_snp_signature_invalid,
				"signature R or S has bits set above 384");
	for (i = 0; i < P384_BYTES; i++)
		be[i] = r->sig_r[P384_BYTES - 1 - i];
	bn_r = BN_bin2bn(be, P384_BYTES, NULL);
	for (i = 0; i < P384_BYTES; i++)
		be[i] = r->sig_s[P384_BYTES - 1 - i];
	bn_s = BN_bin2bn(be, P384_BYTES, NULL);
	sig = ECDSA_SIG_new();
	if (!bn_r || !bn_s || !sig || !ECDSA_SIG_set0(sig, bn_r, bn_s)) {
		BN_free(bn_r);
		BN_free(bn_s);
		ECDSA_SIG_free(sig);
		return skr_fail(err, SKR_R_nomem, "cannot build ECDSA signature");
	}
	*der = NULL;
	*der_len = i2d_ECDSA_SIG(sig, der);
	ECDSA_SIG_free(sig);
	if (*der_len <= 0)
		return skr_fail(err, SKR_R_nomem, "cannot encode ECDSA signature");
	return 0;
}

static int check_p384_key(EVP_PKEY *key, struct skr_err *err)
{
	char group[32] = "";
	size_t glen = 0;

	if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
	    !EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
					    sizeof(group), &glen) ||
	    strcmp(group, "secp384r1") != 0)
		return skr_fail(err, SKR_R_cert_invalid,
				"the report signing key is not an EC P-384 key");
	return 0;
}

int skr_snp_report_verify_signature(const struct skr_snp_report *r, EVP_PKEY *key,
				    struct skr_err *err)
{
	EVP_MD_CTX *ctx = NULL;
	uint8_t *der = NULL;
	int der_len = 0, ok;

	if (check_p384_key(key, err) < 0 || signature_to_der(r, &der, &der_len, err) < 0)
		return -1;
	ctx = EVP_MD_CTX_new();
	ok = ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha384(), NULL, key) == 1 &&
	     EVP_DigestVerify(ctx, der, (size_t)der_len, r->raw, SKR_SNP_SIGNED_SIZE) == 1;
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	if (!ok)
		return skr_fail(err, SKR_R_snp_signature_invalid,
				"SNP report signature does not verify with the %s key",
				r->signing_key == SKR_SNP_SIGNER_VLEK ? "VLEK" : "VCEK");
	return 0;
}

enum skr_snp_product skr_snp_report_product(const struct skr_snp_report *r)
{
	if (r->version < 3)
		return SKR_SNP_PRODUCT_UNKNOWN;
	/* Family 19h: models 0x-, models 1x- and Ax- (Genoa, Bergamo, Siena). */
	if (r->cpuid_fam_id == 0x19) {
		if (r->cpuid_mod_id <= 0x0F)
			return SKR_SNP_PRODUCT_MILAN;
		if (r->cpuid_mod_id <= 0x1F || (r->cpuid_mod_id >= 0xA0 && r->cpuid_mod_id <= 0xAF))
			return SKR_SNP_PRODUCT_GENOA;
	}
	if (r->cpuid_fam_id == 0x1A && r->cpuid_mod_id <= 0x1F)
		return SKR_SNP_PRODUCT_TURIN;
	return SKR_SNP_PRODUCT_UNKNOWN;
}

struct skr_snp_tcb skr_snp_tcb_decode(uint64_t raw, enum skr_snp_product product)
{
	struct skr_snp_tcb t = { .raw = raw };
	uint8_t b[8];
	int i;

	for (i = 0; i < 8; i++)
		b[i] = (uint8_t)(raw >> (8 * i));
	if (product == SKR_SNP_PRODUCT_TURIN) {
		t.fmc = b[0];
		t.bootloader = b[1];
		t.tee = b[2];
		t.snp = b[3];
	} else {
		t.bootloader = b[0];
		t.tee = b[1];
		t.snp = b[6];
	}
	t.microcode = b[7];
	return t;
}

static const char *const product_names[] = {
	[SKR_SNP_PRODUCT_UNKNOWN] = "unknown",
	[SKR_SNP_PRODUCT_MILAN] = "Milan",
	[SKR_SNP_PRODUCT_GENOA] = "Genoa",
	[SKR_SNP_PRODUCT_TURIN] = "Turin",
};

const char *skr_snp_product_name(enum skr_snp_product product)
{
	if ((unsigned)product >= ARRAY_SIZE(product_names))
		return "unknown";
	return product_names[product];
}

enum skr_snp_product skr_snp_product_from_name(const char *name)
{
	size_t i, n;

	if (!name)
		return SKR_SNP_PRODUCT_UNKNOWN;
	n = strcspn(name, "-");
	for (i = 1; i < ARRAY_SIZE(product_names); i++)
		if (strlen(product_names[i]) == n && strncasecmp(name, product_names[i], n) == 0)
			return (enum skr_snp_product)i;
	return SKR_SNP_PRODUCT_UNKNOWN;
}

json_object *skr_snp_tcb_to_json(const struct skr_snp_tcb *t, bool with_fmc)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "bootloader", json_object_new_int(t->bootloader));
	json_object_object_add(o, "tee", json_object_new_int(t->tee));
	json_object_object_add(o, "snp", json_object_new_int(t->snp));
	json_object_object_add(o, "microcode", json_object_new_int(t->microcode));
	if (with_fmc)
		json_object_object_add(o, "fmc", json_object_new_int(t->fmc));
	return o;
}

static json_object *tcb_json(uint64_t raw, enum skr_snp_product product)
{
	struct skr_snp_tcb t = skr_snp_tcb_decode(raw, product);
	json_object *o = skr_snp_tcb_to_json(&t, product == SKR_SNP_PRODUCT_TURIN);
	char hex[17];

	snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)raw);
	json_object_object_add(o, "raw", json_object_new_string(hex));
	return o;
}

static json_object *policy_json(uint64_t policy)
{
	json_object *o = json_object_new_object();
	char hex[17];

	snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)policy);
	json_object_object_add(o, "raw", json_object_new_string(hex));
	json_object_object_add(o, "abi_major", json_object_new_int((int)(policy >> 8 & 0xff)));
	json_object_object_add(o, "abi_minor", json_object_new_int((int)(policy & 0xff)));
	json_object_object_add(o, "smt", json_object_new_boolean(policy & SKR_SNP_POLICY_SMT));
	json_object_object_add(o, "migrate_ma",
			       json_object_new_boolean(policy & SKR_SNP_POLICY_MIGRATE_MA));
	json_object_object_add(o, "debug", json_object_new_boolean(policy & SKR_SNP_POLICY_DEBUG));
	json_object_object_add(o, "single_socket",
			       json_object_new_boolean(policy & SKR_SNP_POLICY_SINGLE_SOCKET));
	return o;
}

static const char *signer_name(enum skr_snp_signer s)
{
	switch (s) {
	case SKR_SNP_SIGNER_VCEK:
		return "vcek";
	case SKR_SNP_SIGNER_VLEK:
		return "vlek";
	case SKR_SNP_SIGNER_NONE:
		return "none";
	default:
		return "reserved";
	}
}

static json_object *version_json(uint8_t major, uint8_t minor, uint8_t build)
{
	char s[16];

	snprintf(s, sizeof(s), "%u.%u.%u", major, minor, build);
	return json_object_new_string(s);
}

json_object *skr_snp_report_to_json(const struct skr_snp_report *r, enum skr_snp_product p)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "version", json_object_new_int64(r->version));
	json_object_object_add(o, "product", json_object_new_string(skr_snp_product_name(p)));
	json_object_object_add(o, "guest_svn", json_object_new_int64(r->guest_svn));
	json_object_object_add(o, "policy", policy_json(r->policy));
	skr_json_add_hex(o, "family_id", r->family_id, sizeof(r->family_id));
	skr_json_add_hex(o, "image_id", r->image_id, sizeof(r->image_id));
	json_object_object_add(o, "vmpl", json_object_new_int64(r->vmpl));
	json_object_object_add(o, "signature_algo", json_object_new_int64(r->signature_algo));
	json_object_object_add(o, "current_tcb", tcb_json(r->current_tcb, p));
	json_object_object_add(o, "platform_info", json_object_new_int64((int64_t)r->platform_info));
	json_object_object_add(o, "author_key_en", json_object_new_boolean(r->author_key_en));
	json_object_object_add(o, "mask_chip_key", json_object_new_boolean(r->mask_chip_key));
	json_object_object_add(o, "signing_key", json_object_new_string(signer_name(r->signing_key)));
	skr_json_add_hex(o, "report_data", r->report_data, sizeof(r->report_data));
	skr_json_add_hex(o, "measurement", r->measurement, sizeof(r->measurement));
	skr_json_add_hex(o, "host_data", r->host_data, sizeof(r->host_data));
	skr_json_add_hex(o, "id_key_digest", r->id_key_digest, sizeof(r->id_key_digest));
	skr_json_add_hex(o, "author_key_digest", r->author_key_digest, sizeof(r->author_key_digest));
	skr_json_add_hex(o, "report_id", r->report_id, sizeof(r->report_id));
	skr_json_add_hex(o, "report_id_ma", r->report_id_ma, sizeof(r->report_id_ma));
	json_object_object_add(o, "reported_tcb", tcb_json(r->reported_tcb, p));
	if (r->version >= 3) {
		json_object_object_add(o, "cpuid_fam_id", json_object_new_int(r->cpuid_fam_id));
		json_object_object_add(o, "cpuid_mod_id", json_object_new_int(r->cpuid_mod_id));
		json_object_object_add(o, "cpuid_step", json_object_new_int(r->cpuid_step));
	}
	skr_json_add_hex(o, "chip_id", r->chip_id, sizeof(r->chip_id));
	json_object_object_add(o, "committed_tcb", tcb_json(r->committed_tcb, p));
	json_object_object_add(o, "current_version",
			       version_json(r->current_major, r->current_minor, r->current_build));
	json_object_object_add(o, "committed_version",
			       version_json(r->committed_major, r->committed_minor, r->committed_build));
	json_object_object_add(o, "launch_tcb", tcb_json(r->launch_tcb, p));
	if (r->version >= 5) {
		json_object_object_add(o, "launch_mit_vector",
				       json_object_new_int64((int64_t)r->launch_mit_vector));
		json_object_object_add(o, "current_mit_vector",
				       json_object_new_int64((int64_t)r->current_mit_vector));
	}
	return o;
}
