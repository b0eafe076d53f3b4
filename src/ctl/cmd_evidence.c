/* SPDX-License-Identifier: Apache-2.0 */
/* skrctl evidence verify: an Azure SEV-SNP vTPM evidence bundle, end to end. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ctl/cli.h"
#include "verify/evidence.h"
#include "common/pcr_json.h"
#include "verify/tpm_attest.h"
#include "common/util.h"


struct evidence_args {
	const char *file, *nonce_hex;
	struct cli_amd_opts amd;
};

static int parse_args(int argc, char **argv, struct evidence_args *a)
{
	static const struct option opts[] = {
		{ "nonce", required_argument, NULL, 'n' }, CLI_AMD_LONGOPTS, { 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'n')
			a->nonce_hex = optarg;
		else if (cli_amd_option(c, optarg, &a->amd) != 1)
			return -1;
	}
	if (optind + 1 != argc)
		return -1;
	a->file = argv[optind];
	return 0;
}

struct evidence_inputs {
	struct skr_buf json, nonce, vcek, chain;
	struct skr_amd_trust trust;
	X509 *vcek_cert;
};

static void inputs_free(struct evidence_inputs *in)
{
	skr_buf_free(&in->json);
	skr_buf_free(&in->nonce);
	skr_buf_free(&in->vcek);
	skr_buf_free(&in->chain);
	skr_amd_trust_free(&in->trust);
	X509_free(in->vcek_cert);
}

static int load_inputs(const struct evidence_args *a, struct evidence_inputs *in,
		       struct skr_evidence_policy *pol, struct skr_err *err)
{
	if (skr_read_file(a->file, SKR_EVIDENCE_MAX_JSON, &in->json, err) < 0 ||
	    cli_load_trust(&in->trust, a->amd.anchors, a->amd.n_anchors, err) < 0)
		return -1;
	pol->trust = &in->trust;
	pol->product = (enum skr_snp_product)a->amd.product;
	pol->allow_debug = a->amd.allow_debug;
	if (a->nonce_hex) {
		if (skr_hex_decode(a->nonce_hex, strlen(a->nonce_hex), &in->nonce, "--nonce", err) < 0)
			return -1;
		pol->nonce = in->nonce.data;
		pol->nonce_len = in->nonce.len;
	}
	if (a->amd.vcek) {
		if (skr_read_file(a->amd.vcek, CLI_MAX_INPUT, &in->vcek, err) < 0 ||
		    skr_x509_parse(in->vcek.data, in->vcek.len, &in->vcek_cert, "VCEK", err) < 0)
			return -1;
		pol->vcek = in->vcek_cert;
	}
	if (a->amd.chain) {
		if (skr_read_file(a->amd.chain, CLI_MAX_INPUT, &in->chain, err) < 0)
			return -1;
		pol->chain_pem = in->chain.data;
		pol->chain_pem_len = in->chain.len;
	}
	return 0;
}

static json_object *result_json(const struct skr_evidence *ev, const struct skr_evidence_result *res)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "format", json_object_new_string(
				       ev->format == SKR_EVIDENCE_TRUSTEE ? "trustee-az-snp-vtpm"
									  : "skr"));
	if (ev->format == SKR_EVIDENCE_TRUSTEE)
		json_object_object_add(o, "version", json_object_new_int(ev->trustee_version));
	json_object_object_add(o, "tee", json_object_new_string(skr_tee_name(ev->tee)));
	if (res->akcert.key) {
		json_object_object_add(o, "ak_subject", json_object_new_string(res->akcert.subject_cn));
		json_object_object_add(o, "ak_issuer", json_object_new_string(res->akcert.issuer_cn));
	}
	if (res->hcl.snp.version)
		json_object_object_add(o, "snp_report",
				       skr_snp_report_to_json(&res->hcl.snp, res->product));
	if (res->hcl.claims_json)
		json_object_object_add(o, "claims", json_object_get(res->hcl.claims_json));
	if (res->quote_parsed)
		json_object_object_add(o, "quote", skr_tpm_attest_to_json(&res->quote));
	json_object_object_add(o, "pcrs", skr_pcr_banks_to_json(&ev->pcrs));
	return o;
}

int cmd_evidence_verify(int argc, char **argv)
{
	struct evidence_args a = { 0 };
	struct evidence_inputs in = { 0 };
	struct skr_evidence_policy pol = { 0 };
	struct skr_evidence ev = { 0 };
	struct skr_evidence_result res = { 0 };
	struct skr_err err = { 0 };
	json_object *out = NULL;
	bool parsed = false;
	int rc;

	if (parse_args(argc, argv, &a) < 0)
		return cli_usage(EVIDENCE_USAGE);
	if (load_inputs(&a, &in, &pol, &err) == 0 &&
	    skr_evidence_parse((const char *)in.json.data, in.json.len, &ev, &err) == 0) {
		parsed = true;
		skr_evidence_verify(&ev, &pol, &res, &err);
	}
	if (a.amd.json && parsed)
		out = result_json(&ev, &res);
	else if (err.reason == SKR_R_ok && ev.tee == SKR_TEE_AZURE_TL)
		printf("evidence: valid (azure-tl: AK attributes, AK certificate \"%s\" to a trusted "
		       "root, certificate key = AK, quote signature%s, PCR digest)\n",
		       res.akcert.subject_cn, a.nonce_hex ? ", nonce" : "");
	else if (err.reason == SKR_R_ok)
		printf("evidence: valid (AMD chain, VCEK TCB and chip, SNP signature and policy, "
		       "claims binding, AK, quote signature%s, PCR digest)\n",
		       a.nonce_hex ? ", nonce" : "");
	rc = cli_finish(&err, out, a.amd.json);
	skr_evidence_result_free(&res);
	skr_evidence_free(&ev);
	inputs_free(&in);
	return rc;
}
