/* SPDX-License-Identifier: Apache-2.0 */
/* enroll on bare SEV-SNP (tee "snp"): see enroll_snp.h for why the gate is checked here. */
#include "luks/enroll_snp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <libcryptsetup.h>
#include <openssl/rand.h>

#include "common/cleanup.h"
#include "common/secret.h"
#include "common/util.h"
#include "luks/disk_tag.h"
#include "verify/policy.h"
#include "verify/snp_report.h"
#include "verify/tee.h"
#include "vm/cmdline.h"
#include "vm/sev_guest.h"
#include "vm/tsm.h"

/* ---- the policy --------------------------------------------------------- */

/* A given policy: this mode's, binding the launch measurement and no PCRs. */
static int given_policy(const char *text, char **policy, struct skr_err *err)
{
	_cleanup_(json_object_putp) json_object *obj = json_tokener_parse(text);
	struct skr_policy pol;

	if (skr_policy_parse(text, &pol, err) < 0)
		return -1;
	if (pol.tee != SKR_TEE_SNP)
		return skr_fail(err, SKR_R_usage,
				"--policy has tee \"%s\", but this VM's release is bare SEV-SNP "
				"(no vTPM): its key's policy must be tee \"snp\"", skr_tee_name(pol.tee));
	/* Even an empty "pcrs": there are no PCRs to bind in this mode. */
	if (obj && json_object_object_get_ex(obj, "pcrs", NULL))
		return skr_fail(err, SKR_R_usage,
				"--policy binds \"pcrs\", but tee \"snp\" has no vTPM: pin the launch "
				"measurement (\"snp\": {\"measurements\"}) instead");
	if (skr_policy_check_binding(&pol, err) < 0)
		return -1;
	*policy = strdup(text);
	return *policy ? 0 : skr_fail(err, SKR_R_nomem, "out of memory");
}

/*
 * This VM's report, asked for as a release asks (configfs-tsm, else
 * /dev/sev-guest), with random REPORT_DATA: only its launch state is read,
 * and the broker's dry run checks a fresh, bound report afterwards.
 */
static int own_report(struct skr_snp_report *r, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf report = { 0 }, aux = { 0 };
	uint8_t data[SKR_TSM_INBLOB];

	if (RAND_bytes(data, sizeof(data)) != 1)
		return skr_fail(err, SKR_R_nomem, "no randomness");
	if ((skr_tsm_present(NULL) || !skr_sev_guest_present(NULL)
		     ? skr_tsm_report(NULL, data, &report, &aux, err)
		     : skr_sev_guest_report(NULL, data, &report, &aux, err)) < 0)
		return -1;
	return skr_snp_report_parse(report.data, report.len, r, err);
}

int skr_enroll_snp_member(const struct skr_snp_report *r, json_object **snp, struct skr_err *err)
{
	enum skr_snp_product product = skr_snp_report_product(r);
	struct skr_snp_tcb v = skr_snp_tcb_decode(r->reported_tcb, product);
	_cleanup_free_ char *hex = NULL;
	json_object *meas;

	*snp = NULL;
	if (skr_snp_report_debug(r))
		return skr_fail(err, SKR_R_snp_debug_enabled,
				"this VM runs with SNP debugging allowed: no key is bound to it");
	if (!(hex = skr_hex_encode(r->measurement, sizeof(r->measurement))))
		return skr_fail(err, SKR_R_nomem, "out of memory");
	*snp = json_object_new_object();
	meas = json_object_new_array();
	json_object_object_add(*snp, "allow_debug", json_object_new_boolean(false));
	json_object_object_add(*snp, "max_vmpl", json_object_new_int((int)r->vmpl));
	json_object_object_add(*snp, "min_tcb",
			       skr_snp_tcb_to_json(&v, product == SKR_SNP_PRODUCT_TURIN));
	json_object_array_add(meas, json_object_new_string(hex));
	json_object_object_add(*snp, "measurements", meas);
	return 0;
}

int skr_enroll_snp_own(bool svsm, json_object **snp, struct skr_err *err)
{
	struct skr_snp_report r;

	*snp = NULL;
	if (own_report(&r, err) < 0)
		return -1;
	/* The SVSM asks for its report at VMPL0; this one is the guest's own (VMPL >= 1). */
	if (svsm)
		r.vmpl = 0;
	return skr_enroll_snp_member(&r, snp, err);
}

static int own_policy(char **policy, struct skr_err *err)
{
	_cleanup_(json_object_putp) json_object *o = NULL;
	json_object *snp;

	if (skr_enroll_snp_own(false, &snp, err) < 0)
		return -1;
	o = json_object_new_object();
	json_object_object_add(o, "tee", json_object_new_string(SKR_TEE_NAME_SNP));
	json_object_object_add(o, "snp", snp);
	*policy = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	return *policy ? 0 : skr_fail(err, SKR_R_nomem, "out of memory");
}

int skr_enroll_snp_policy(const struct skr_enroll_opts *o, char **policy, struct skr_err *err)
{
	*policy = NULL;
	/* No TPM, so no PCR to read or bind, and no event log to choose from. */
	if (o->pcrs_given)
		return skr_fail(err, SKR_R_usage,
				"--pcrs: this VM's release is bare SEV-SNP (tee \"snp\", no vTPM): "
				"there are no PCRs; the key binds the launch measurement");
	return o->policy_json ? given_policy(o->policy_json, policy, err) : own_policy(policy, err);
}

/* ---- the gate ----------------------------------------------------------- */

/* What the command line lacks, as words to add to it ("" when nothing). */
static void gate_missing(const struct skr_cmdline *c, const char *tag, char *out, size_t n)
{
	bool listed = skr_disk_tag_listed(c, tag);

	snprintf(out, n, "%s%s%s%s", listed ? "" : "rd.skr.disk=", listed ? "" : tag,
		 !listed && !c->panic ? " " : "", c->panic ? "" : "panic=10");
}

/* Why the command line falls short, for the detail. */
static const char *gate_why(const struct skr_cmdline *c, const char *tag)
{
	if (c->disk_tags_invalid)
		return "its rd.skr.disk= is malformed (64 hex digits a tag, comma-separated), so no "
		       "volume is accepted";
	if (!c->n_disk_tags)
		return "it lists no rd.skr.disk= tag";
	if (!skr_disk_tag_listed(c, tag))
		return "its rd.skr.disk= does not list this volume's tag (add it to the list, "
		       "comma-separated)";
	return "it has no panic= word, so initramfs-tools may give a root shell";
}

int skr_enroll_snp_gate(struct crypt_device *cd, const struct skr_enroll_opts *o,
			struct skr_enroll_result *r, struct skr_err *err)
{
	_cleanup_secret_ uint8_t *vk = NULL;
	struct skr_cmdline c;
	char add[2 * SKR_DISK_TAG_HEX + 64], why[sizeof(r->warning)];

	if (skr_disk_volume_key(cd, CRYPT_ANY_SLOT, o->passphrase, o->passphrase_len, &vk,
				r->disk_tag, err) < 0)
		return -1;
	skr_cmdline_read(NULL, &c);
	gate_missing(&c, r->disk_tag, add, sizeof(add));
	if (!add[0])
		return 0;
	snprintf(why, sizeof(why),
		 "the kernel command line does not keep the bare SNP boot gate: %s; add \"%s\" to "
		 "the measured kernel command line, boot with it and enroll again (the command line "
		 "is part of the launch measurement the key binds)", gate_why(&c, r->disk_tag), add);
	if (!o->weak_binding)
		return skr_fail(err, SKR_R_binding_too_weak, "%s", why);
	snprintf(r->warning, sizeof(r->warning), "%s", why);
	return 0;
}
