/* SPDX-License-Identifier: Apache-2.0 */
#include "verify/policy.h"

#include <stdio.h>
#include <string.h>

#include "common/gate.h"
#include "common/util.h"

static bool key_allowed(const char *key, const char *const *allowed)
{
	for (; *allowed; allowed++)
		if (!strcmp(key, *allowed))
			return true;
	return false;
}

static int only_keys(json_object *obj, const char *where, const char *const *allowed,
		     struct skr_err *err)
{
	if (!json_object_is_type(obj, json_type_object))
		return skr_fail(err, SKR_R_policy_invalid, "policy %s is not an object", where);
	json_object_object_foreach(obj, key, val) {
		(void)val;
		if (!key_allowed(key, allowed))
			return skr_fail(err, SKR_R_policy_invalid, "policy %s has unknown key \"%s\"",
					where, key);
	}
	return 0;
}

static int get_bool(json_object *obj, const char *key, bool *out, struct skr_err *err)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return skr_fail(err, SKR_R_policy_invalid, "policy \"%s\" is not a boolean", key);
	*out = json_object_get_boolean(v);
	return 0;
}

static int get_uint(json_object *obj, const char *key, uint32_t max, uint32_t *out,
		    struct skr_err *err)
{
	json_object *v;
	int64_t n;

	if (!json_object_object_get_ex(obj, key, &v))
		return 0;
	n = json_object_get_int64(v);
	if (!json_object_is_type(v, json_type_int) || n < 0 || n > max)
		return skr_fail(err, SKR_R_policy_invalid, "policy \"%s\" is not an integer 0..%u",
				key, max);
	*out = (uint32_t)n;
	return 0;
}

static int get_hex(json_object *v, const char *key, uint8_t *out, size_t len,
		   struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf raw = { 0 };
	struct skr_err not_hex = { 0 };	/* its reason (malformed) is not a policy's */
	const char *s = json_object_get_string(v);

	if (!json_object_is_type(v, json_type_string) ||
	    skr_hex_decode(s, strlen(s), &raw, key, &not_hex) < 0 || raw.len != len)
		return skr_fail(err, SKR_R_policy_invalid, "policy \"%s\" is not %zu bytes of hex",
				key, len);
	memcpy(out, raw.data, len);
	return 0;
}

static int parse_min_tcb(json_object *obj, struct skr_policy *p, struct skr_err *err)
{
	static const char *const keys[] = { "bootloader", "tee", "snp", "microcode", "fmc", NULL };
	uint32_t v[5] = { 0 };
	size_t i;

	if (only_keys(obj, "snp.min_tcb", keys, err) < 0)
		return -1;
	for (i = 0; i < 5; i++)
		if (get_uint(obj, keys[i], 255, &v[i], err) < 0)
			return -1;
	p->has_min_tcb = true;
	p->min_tcb = (struct skr_snp_tcb){ .bootloader = (uint8_t)v[0], .tee = (uint8_t)v[1],
					   .snp = (uint8_t)v[2], .microcode = (uint8_t)v[3],
					   .fmc = (uint8_t)v[4] };
	return 0;
}

static int parse_measurements(json_object *list, struct skr_policy *p, struct skr_err *err)
{
	size_t i, n;

	if (!json_object_is_type(list, json_type_array))
		return skr_fail(err, SKR_R_policy_invalid, "policy snp.measurements is not an array");
	n = json_object_array_length(list);
	if (n > SKR_POLICY_MAX_MEASUREMENTS)
		return skr_fail(err, SKR_R_policy_invalid, "policy lists more than %d measurements",
				SKR_POLICY_MAX_MEASUREMENTS);
	for (i = 0; i < n; i++)
		if (get_hex(json_object_array_get_idx(list, i), "measurements", p->measurements[i], 48,
			    err) < 0)
			return -1;
	p->n_measurements = n;
	return 0;
}

static int parse_snp(json_object *obj, struct skr_policy *p, struct skr_err *err)
{
	static const char *const keys[] = { "allow_debug", "max_vmpl", "min_tcb", "measurements",
					    "host_data", "id_key_digest", NULL };
	json_object *v;

	if (only_keys(obj, "snp", keys, err) < 0 || get_bool(obj, "allow_debug", &p->allow_debug, err) < 0 ||
	    get_uint(obj, "max_vmpl", 3, &p->max_vmpl, err) < 0)
		return -1;
	if (json_object_object_get_ex(obj, "min_tcb", &v) && parse_min_tcb(v, p, err) < 0)
		return -1;
	if (json_object_object_get_ex(obj, "measurements", &v) && parse_measurements(v, p, err) < 0)
		return -1;
	if (json_object_object_get_ex(obj, "host_data", &v)) {
		if (get_hex(v, "host_data", p->host_data, 32, err) < 0)
			return -1;
		p->has_host_data = true;
	}
	if (json_object_object_get_ex(obj, "id_key_digest", &v)) {
		if (get_hex(v, "id_key_digest", p->id_key_digest, 48, err) < 0)
			return -1;
		p->has_id_key_digest = true;
	}
	return 0;
}

static int parse_pcrs(json_object *obj, struct skr_policy *p, struct skr_err *err)
{
	static const char *const keys[] = { "bank", "indexes", NULL };
	json_object *bank, *indexes;
	size_t i;

	if (only_keys(obj, "pcrs", keys, err) < 0)
		return -1;
	if (json_object_object_get_ex(obj, "bank", &bank)) {
		p->pcr_bank = json_object_is_type(bank, json_type_string)
				      ? skr_tpm_alg_from_name(json_object_get_string(bank))
				      : 0;
		if (!p->pcr_bank)
			return skr_fail(err, SKR_R_policy_invalid, "policy pcrs.bank is not a known bank");
		/* skr's client quotes the sha256 bank only: a key bound to another is never released. */
		if (p->pcr_bank != SKR_TPM_ALG_SHA256)
			return skr_fail(err, SKR_R_policy_invalid,
					"policy pcrs.bank must be \"sha256\", the only bank skr's client "
					"quotes and predicts");
	}
	if (!json_object_object_get_ex(obj, "indexes", &indexes) ||
	    !json_object_is_type(indexes, json_type_array))
		return skr_fail(err, SKR_R_policy_invalid, "policy pcrs.indexes is not an array");
	for (i = 0; i < json_object_array_length(indexes); i++) {
		json_object *v = json_object_array_get_idx(indexes, i);
		int64_t n = json_object_get_int64(v);

		if (!json_object_is_type(v, json_type_int) || n < 0 || n >= SKR_PCR_COUNT)
			return skr_fail(err, SKR_R_policy_invalid, "policy PCR index is not 0..23");
		p->pcr_mask |= 1u << n;
	}
	return 0;
}

static int parse_tee(json_object *obj, struct skr_policy *p, struct skr_err *err)
{
	json_object *v;
	int tee;

	if (!json_object_object_get_ex(obj, "tee", &v))
		return 0;
	tee = json_object_is_type(v, json_type_string) ? skr_tee_from_name(json_object_get_string(v))
						       : -1;
	if (tee < 0)
		return skr_fail(err, SKR_R_policy_invalid,
				"policy tee must be \"%s\", \"%s\", \"%s\" or \"%s\", or \"%s\" "
				"(bare SEV-SNP under an SVSM vTPM)",
				SKR_TEE_NAME_AZ_SNP_VTPM, SKR_TEE_NAME_AZURE_TL, SKR_TEE_NAME_TPM,
				SKR_TEE_NAME_SNP, SKR_TEE_NAME_SNP_SVSM);
	p->tee = (enum skr_tee)tee;
	return 0;
}

static int parse_ak_subjects(json_object *list, struct skr_policy *p, struct skr_err *err)
{
	size_t i, n;

	if (!json_object_is_type(list, json_type_array) ||
	    (n = json_object_array_length(list)) == 0 || n > SKR_POLICY_MAX_AK_SUBJECTS)
		return skr_fail(err, SKR_R_policy_invalid,
				"policy ak_subjects is not a list of 1 to %d subject names",
				SKR_POLICY_MAX_AK_SUBJECTS);
	for (i = 0; i < n; i++) {
		json_object *v = json_object_array_get_idx(list, i);
		int len = json_object_get_string_len(v);

		if (!json_object_is_type(v, json_type_string) || len < 1 ||
		    len > SKR_POLICY_AK_SUBJECT_MAX ||
		    strlen(json_object_get_string(v)) != (size_t)len)
			return skr_fail(err, SKR_R_policy_invalid,
					"policy ak_subjects[%zu] is not a subject name of 1 to %d characters",
					i, SKR_POLICY_AK_SUBJECT_MAX);
		memcpy(p->ak_subjects[i], json_object_get_string(v), (size_t)len + 1);
	}
	p->n_ak_subjects = n;
	return 0;
}

static int parse_ek_pins(json_object *list, struct skr_policy *p, struct skr_err *err)
{
	size_t i, n;

	if (!json_object_is_type(list, json_type_array) ||
	    (n = json_object_array_length(list)) == 0 || n > SKR_POLICY_MAX_EK_PINS)
		return skr_fail(err, SKR_R_policy_invalid,
				"policy ek_spki_sha256 is not a list of 1 to %d SHA-256 digests",
				SKR_POLICY_MAX_EK_PINS);
	for (i = 0; i < n; i++)
		if (get_hex(json_object_array_get_idx(list, i), "ek_spki_sha256", p->ek_pins[i], 32,
			    err) < 0)
			return -1;
	p->n_ek_pins = n;
	return 0;
}

/*
 * "snp" is az-snp-vtpm's, bare snp's and snp-svsm's, "ak_subjects"
 * azure-tl's, "ek_spki_sha256" tpm's: a field of another mode is a mistake.
 * snp-svsm has no EK pin: its EK is the one the SVSM's report names.
 */
static int parse_mode_fields(json_object *obj, struct skr_policy *p, struct skr_err *err)
{
	static const char *const field[SKR_TEE__COUNT] = {
		[SKR_TEE_AZ_SNP_VTPM] = "snp", [SKR_TEE_AZURE_TL] = "ak_subjects",
		[SKR_TEE_SNP] = "snp", [SKR_TEE_TPM] = "ek_spki_sha256",
		[SKR_TEE_SNP_SVSM] = "snp",
	};
	static const char *const all[] = { "snp", "ak_subjects", "ek_spki_sha256" };
	const char *mine = field[p->tee];
	json_object *v;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(all); i++)
		if ((!mine || strcmp(all[i], mine)) && json_object_object_get_ex(obj, all[i], &v))
			return skr_fail(err, SKR_R_policy_invalid,
					"policy \"%s\" does not apply to tee \"%s\"", all[i],
					skr_tee_name(p->tee));
	if (!mine || !json_object_object_get_ex(obj, mine, &v))
		return 0;
	return p->tee == SKR_TEE_AZURE_TL ? parse_ak_subjects(v, p, err)
	       : p->tee == SKR_TEE_TPM	  ? parse_ek_pins(v, p, err)
					  : parse_snp(v, p, err);
}

int skr_policy_from_json(json_object *obj, struct skr_policy *p, struct skr_err *err)
{
	static const char *const keys[] = { "tee", "snp", "ak_subjects", "ek_spki_sha256", "pcrs",
					    "allow_attested_reseal", NULL };
	json_object *v;

	memset(p, 0, sizeof(*p));
	p->pcr_bank = SKR_TPM_ALG_SHA256;
	if (only_keys(obj, "", keys, err) < 0 || parse_tee(obj, p, err) < 0 ||
	    parse_mode_fields(obj, p, err) < 0)
		return -1;
	if (json_object_object_get_ex(obj, "pcrs", &v) && parse_pcrs(v, p, err) < 0)
		return -1;
	return get_bool(obj, "allow_attested_reseal", &p->allow_attested_reseal, err);
}

/* Bare SNP has no PCRs: the launch measurement is the boot state, and must be pinned. */
static int check_snp_binding(const struct skr_policy *p, struct skr_err *err)
{
	if (p->pcr_mask)
		return skr_fail(err, SKR_R_policy_invalid,
				"policy binds PCRs, but tee \"snp\" has no vTPM: pin the launch "
				"measurement (\"snp\": {\"measurements\": [...]}) instead");
	if (!p->n_measurements)
		return skr_fail(err, SKR_R_binding_too_weak,
				"policy pins no launch measurement (\"snp\": {\"measurements\"}): "
				"with tee \"snp\" the key would be released to any guest image");
	return 0;
}

int skr_policy_check_binding(const struct skr_policy *p, struct skr_err *err)
{
	if (p->tee == SKR_TEE_SNP)
		return check_snp_binding(p, err);
	if (p->pcr_mask & (1u << SKR_GATE_PCR))
		return skr_fail(err, SKR_R_policy_invalid,
				"policy binds PCR %d, the boot gate: the broker checks it on its own "
				"(all zero at every release) and no key may bind it",
				SKR_GATE_PCR);
	if (!p->pcr_mask)
		return skr_fail(err, SKR_R_binding_too_weak,
				"policy binds no PCR (\"pcrs\" missing or \"indexes\" empty): the key "
				"would be released to any boot state; bind at least the kernel, initrd "
				"and command line PCRs of the boot chain (e.g. 4, 7, 9)");
	return 0;
}

int skr_policy_parse(const char *json, struct skr_policy *p, struct skr_err *err)
{
	json_object *obj = json_tokener_parse(json);
	int rc;

	if (!obj)
		return skr_fail(err, SKR_R_policy_invalid, "policy is not JSON");
	rc = skr_policy_from_json(obj, p, err);
	json_object_put(obj);
	return rc;
}

static int check_min_tcb(const struct skr_policy *p, const struct skr_snp_report *r,
			 enum skr_snp_product product, struct skr_err *err)
{
	struct skr_snp_tcb t = skr_snp_tcb_decode(r->reported_tcb, product);
	const struct skr_snp_tcb *m = &p->min_tcb;

#define MIN_SPL(field)                                                                 \
	if (t.field < m->field)                                                        \
		return skr_fail(err, SKR_R_snp_tcb_too_low,                             \
				"REPORTED_TCB " #field " %u is below the policy's minimum %u", \
				t.field, m->field);
	MIN_SPL(bootloader)
	MIN_SPL(tee)
	MIN_SPL(snp)
	MIN_SPL(microcode)
	if (product == SKR_SNP_PRODUCT_TURIN)
		MIN_SPL(fmc)
#undef MIN_SPL
	return 0;
}

static int check_measurement(const struct skr_policy *p, const struct skr_snp_report *r,
			     struct skr_err *err)
{
	_cleanup_free_ char *hex = NULL;
	size_t i;

	for (i = 0; i < p->n_measurements; i++)
		if (skr_ct_equal(p->measurements[i], r->measurement, 48))
			return 0;
	hex = skr_hex_encode(r->measurement, 48);
	return skr_fail(err, SKR_R_snp_measurement_not_allowed,
			"launch measurement %s is not among the %zu allowed", hex ? hex : "?",
			p->n_measurements);
}

int skr_policy_check_snp(const struct skr_policy *p, const struct skr_snp_report *r,
			 enum skr_snp_product product, struct skr_err *err)
{
	if (skr_snp_report_debug(r) && !p->allow_debug)
		return skr_fail(err, SKR_R_snp_debug_enabled,
				"the guest policy allows debugging (POLICY bit 19)");
	if (r->vmpl > p->max_vmpl)
		return skr_fail(err, SKR_R_snp_vmpl_not_allowed, "report VMPL %u is above %u", r->vmpl,
				p->max_vmpl);
	if (p->has_min_tcb && check_min_tcb(p, r, product, err) < 0)
		return -1;
	if (p->n_measurements && check_measurement(p, r, err) < 0)
		return -1;
	if (p->has_host_data && !skr_ct_equal(p->host_data, r->host_data, 32))
		return skr_fail(err, SKR_R_snp_host_data_mismatch, "HOST_DATA is not the pinned value");
	if (p->has_id_key_digest && !skr_ct_equal(p->id_key_digest, r->id_key_digest, 48))
		return skr_fail(err, SKR_R_snp_id_key_mismatch,
				"ID_KEY_DIGEST is not the pinned value");
	return 0;
}

int skr_policy_check_tee(const struct skr_policy *p, enum skr_tee evidence_tee,
			 struct skr_err *err)
{
	if (evidence_tee != p->tee)
		return skr_fail(err, SKR_R_tee_mismatch,
				"the key's policy is for tee \"%s\", the evidence is \"%s\"",
				skr_tee_name(p->tee), skr_tee_name(evidence_tee));
	return 0;
}

int skr_policy_check_ak_subject(const struct skr_policy *p, const char *subject_cn,
				struct skr_err *err)
{
	size_t i;

	for (i = 0; i < p->n_ak_subjects; i++)
		if (!strcmp(p->ak_subjects[i], subject_cn))
			return 0;
	if (p->n_ak_subjects == 0)
		return 0;
	return skr_fail(err, SKR_R_akcert_subject,
			"the AK certificate's subject \"%.255s\" is not among the policy's %zu ak_subjects",
			subject_cn, p->n_ak_subjects);
}

int skr_policy_check_ek_pin(const struct skr_policy *p, const uint8_t ek_spki_sha256[32],
			    struct skr_err *err)
{
	_cleanup_free_ char *hex = NULL;
	size_t i;

	if (p->n_ek_pins == 0)
		return 0;
	for (i = 0; i < p->n_ek_pins; i++)
		if (skr_ct_equal(p->ek_pins[i], ek_spki_sha256, 32))
			return 0;
	hex = skr_hex_encode(ek_spki_sha256, 32);
	return skr_fail(err, SKR_R_ek_not_pinned,
			"the EK (SPKI SHA-256 %s) is not among the policy's %zu ek_spki_sha256 pins",
			hex ? hex : "?", p->n_ek_pins);
}

int skr_policy_check_quote_selection(const struct skr_policy *p, const TPMS_ATTEST *quote,
				     struct skr_err *err)
{
	const TPML_PCR_SELECTION *sel = &quote->attested.quote.pcrSelect;
	uint32_t covered = 0;
	UINT32 i;

	for (i = 0; i < sel->count && i < TPM2_NUM_PCR_BANKS; i++) {
		const TPMS_PCR_SELECTION *s = &sel->pcrSelections[i];
		unsigned b;

		if (s->hash != p->pcr_bank)
			continue;
		for (b = 0; b < s->sizeofSelect && b < 3; b++)
			covered |= (uint32_t)s->pcrSelect[b] << (8 * b);
	}
	if ((covered & p->pcr_mask) != p->pcr_mask)
		return skr_fail(err, SKR_R_pcr_not_quoted,
				"the quote does not cover the policy's PCRs (mask 0x%06x missing)",
				p->pcr_mask & ~covered);
	return 0;
}

/* PCRs of the policy where a reference set differs from seen. */
static uint32_t differing(const struct skr_policy *p, const struct skr_pcr_bank *seen,
			  const struct skr_pcr_bank *ref)
{
	uint32_t diff = 0;
	unsigned i;

	for (i = 0; i < SKR_PCR_COUNT; i++) {
		if (!(p->pcr_mask & (1u << i)))
			continue;
		if (!(ref->extended_mask & (1u << i)) || !(seen->extended_mask & (1u << i)) ||
		    !skr_ct_equal(ref->value[i], seen->value[i], seen->size))
			diff |= 1u << i;
	}
	return diff;
}

static void describe_mismatch(const struct skr_policy *p, const struct skr_pcr_bank *seen,
			      const struct skr_pcr_banks *refsets, size_t n, uint32_t diff,
			      struct skr_err *err)
{
	char detail[sizeof(err->detail)];
	size_t used = 0, r;
	unsigned pcr;

	for (pcr = 0; pcr < SKR_PCR_COUNT && used < sizeof(detail); pcr++) {
		_cleanup_free_ char *hex = NULL;

		if (!(diff & (1u << pcr)))
			continue;
		hex = skr_hex_encode(seen->value[pcr], seen->size);
		used += (size_t)snprintf(detail + used, sizeof(detail) - used,
					 "%sPCR %u: seen %s, allowed", used ? "; " : "", pcr,
					 hex ? hex : "?");
		for (r = 0; r < n && used < sizeof(detail); r++) {
			const struct skr_pcr_bank *b = skr_pcr_banks_find(&refsets[r], p->pcr_bank);
			_cleanup_free_ char *want =
				b ? skr_hex_encode(b->value[pcr], b->size) : NULL;

			used += (size_t)snprintf(detail + used, sizeof(detail) - used, " %s",
						 want ? want : "(none)");
		}
	}
	skr_fail(err, SKR_R_pcr_mismatch, "%s", detail);
}

int skr_policy_match_pcrs(const struct skr_policy *p, const struct skr_pcr_banks *seen,
			  const struct skr_pcr_banks *refsets, size_t n_refsets, size_t *matched,
			  struct skr_err *err)
{
	const struct skr_pcr_bank *s = skr_pcr_banks_find(seen, p->pcr_bank);
	uint32_t best = UINT32_MAX;
	size_t r;

	*matched = 0;
	/* No PCR bound matches nothing (never everything): fail closed. */
	if (skr_policy_check_binding(p, err) < 0)
		return -1;
	if (!s)
		return skr_fail(err, SKR_R_pcr_not_quoted, "the evidence has no %s PCR values",
				skr_tpm_alg_name(p->pcr_bank));
	if (n_refsets == 0)
		return skr_fail(err, SKR_R_pcr_mismatch, "the key has no reference PCR sets");
	for (r = n_refsets; r-- > 0;) {
		const struct skr_pcr_bank *ref = skr_pcr_banks_find(&refsets[r], p->pcr_bank);
		uint32_t diff = ref ? differing(p, s, ref) : p->pcr_mask;

		if (diff == 0) {
			*matched = r;
			return 0;
		}
		if (__builtin_popcount(diff) < __builtin_popcount(best))
			best = diff;
	}
	describe_mismatch(p, s, refsets, n_refsets, best, err);
	return -1;
}

int skr_policy_check_pcrs(const struct skr_policy *p, const struct skr_pcr_banks *seen,
			  const struct skr_pcr_banks *refsets, size_t n_refsets,
			  struct skr_err *err)
{
	size_t matched;

	return skr_policy_match_pcrs(p, seen, refsets, n_refsets, &matched, err);
}
