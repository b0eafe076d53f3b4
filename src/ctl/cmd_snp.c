/* SPDX-License-Identifier: Apache-2.0 */
/* skrctl snp verify: an SEV-SNP report against its VCEK/VLEK and the AMD roots. */
#include <getopt.h>
#include <stdio.h>

#include "verify/amd_chain.h"
#include "ctl/cli.h"
#include "verify/snp_report.h"
#include "common/util.h"


struct snp_args {
	const char *report;
	struct cli_amd_opts amd;
};

static int parse_args(int argc, char **argv, struct snp_args *a)
{
	static const struct option opts[] = { CLI_AMD_LONGOPTS, { 0 } };
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
		if (cli_amd_option(c, optarg, &a->amd) != 1)
			return -1;
	if (optind + 1 != argc || !a->amd.vcek)
		return -1;
	a->report = argv[optind];
	return 0;
}

static json_object *vcek_json(const struct skr_vcek_info *info)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "kind", json_object_new_string(
				       info->kind == SKR_SNP_SIGNER_VLEK ? "vlek" : "vcek"));
	json_object_object_add(o, "product_name", json_object_new_string(info->product_name));
	json_object_object_add(o, "tcb", skr_snp_tcb_to_json(&info->tcb, info->has_fmc));
	skr_json_add_hex(o, "hwid", info->hwid, info->hwid_len);
	return o;
}

static void print_summary(const struct skr_snp_report *r, enum skr_snp_product product)
{
	_cleanup_free_ char *m = skr_hex_encode(r->measurement, sizeof(r->measurement));
	_cleanup_free_ char *rd = skr_hex_encode(r->report_data, sizeof(r->report_data));
	struct skr_snp_tcb t = skr_snp_tcb_decode(r->reported_tcb, product);

	printf("SNP report version %u (%s), signed by the %s: valid\n", r->version,
	       skr_snp_product_name(product), r->signing_key == SKR_SNP_SIGNER_VLEK ? "VLEK" : "VCEK");
	printf("measurement:  %s\n", m ? m : "");
	printf("report_data:  %s\n", rd ? rd : "");
	printf("policy:       0x%016llx (debug %s)\n", (unsigned long long)r->policy,
	       skr_snp_report_debug(r) ? "on" : "off");
	printf("vmpl:         %u\n", r->vmpl);
	printf("reported_tcb: bootloader %u tee %u snp %u microcode %u\n", t.bootloader, t.tee,
	       t.snp, t.microcode);
}

/* Verification order: chain and TCB/chip match, signature, then policy. */
static int verify(const struct snp_args *a, struct skr_snp_report *r,
		  struct skr_vcek_info *info, enum skr_snp_product *product, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf raw = { 0 }, report = { 0 }, cert = { 0 }, chain = { 0 };
	_cleanup_(skr_amd_trust_free) struct skr_amd_trust trust = { 0 };
	struct skr_amd_verify_opts opts = { .product = (enum skr_snp_product)a->amd.product };
	X509 *vcek = NULL;
	EVP_PKEY *key = NULL;
	int rc = -1;

	if (skr_read_file(a->report, CLI_MAX_INPUT, &raw, err) < 0 ||
	    skr_decode_binary_or_hex(&raw, SKR_SNP_REPORT_SIZE, &report, "report", err) < 0 ||
	    skr_snp_report_parse(report.data, report.len, r, err) < 0 ||
	    skr_read_file(a->amd.vcek, CLI_MAX_INPUT, &cert, err) < 0 ||
	    skr_x509_parse(cert.data, cert.len, &vcek, "VCEK", err) < 0)
		return -1;
	if (a->amd.chain) {
		if (skr_read_file(a->amd.chain, CLI_MAX_INPUT, &chain, err) < 0)
			goto out;
		opts.chain_pem = chain.data;
		opts.chain_pem_len = chain.len;
	}
	if (cli_load_trust(&trust, a->amd.anchors, a->amd.n_anchors, err) < 0 ||
	    skr_amd_verify_leaf(&trust, vcek, r, &opts, info, err) < 0)
		goto out;
	*product = a->amd.product ? (enum skr_snp_product)a->amd.product
		   : info->product ? info->product : skr_snp_report_product(r);
	key = X509_get_pubkey(vcek);
	if (skr_snp_report_verify_signature(r, key, err) < 0)
		goto out;
	if (skr_snp_report_debug(r) && !a->amd.allow_debug) {
		skr_fail(err, SKR_R_snp_debug_enabled,
			 "the guest policy allows debugging (POLICY bit 19): its memory is not confidential");
		goto out;
	}
	rc = 0;
out:
	EVP_PKEY_free(key);
	X509_free(vcek);
	return rc;
}

int cmd_snp_verify(int argc, char **argv)
{
	struct snp_args a = { 0 };
	struct skr_snp_report r = { 0 };
	struct skr_vcek_info info = { 0 };
	enum skr_snp_product product = SKR_SNP_PRODUCT_UNKNOWN;
	struct skr_err err = { 0 };
	json_object *out = NULL;
	bool parsed;

	if (parse_args(argc, argv, &a) < 0)
		return cli_usage(SNP_USAGE);
	verify(&a, &r, &info, &product, &err);
	parsed = r.version != 0;
	if (a.amd.json) {
		out = json_object_new_object();
		if (parsed)
			json_object_object_add(out, "report", skr_snp_report_to_json(&r, product));
		if (info.hwid_len)
			json_object_object_add(out, "vcek", vcek_json(&info));
	} else if (err.reason == SKR_R_ok) {
		print_summary(&r, product);
	}
	return cli_finish(&err, out, a.amd.json);
}
