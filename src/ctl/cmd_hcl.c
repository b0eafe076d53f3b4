/* SPDX-License-Identifier: Apache-2.0 */
/* skrctl hcl show: an Azure HCL report's fields, its claims and their binding. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <openssl/x509.h>

#include "ctl/cli.h"
#include "verify/hcl_report.h"
#include "common/util.h"
#include "common/x509.h"


/* The report as stored in NV, or its base64/hex text as found in evidence files. */
static int load_report(const char *path, struct skr_buf *out, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf raw = { 0 };
	struct skr_err ignored = { 0 };

	if (skr_read_file(path, CLI_MAX_INPUT, &raw, err) < 0)
		return -1;
	if (raw.len >= 4 && memcmp(raw.data, "HCLA", 4) == 0)
		return skr_buf_set(out, raw.data, raw.len, err);
	if (skr_hex_decode((const char *)raw.data, raw.len, out, "HCL report", &ignored) == 0)
		return 0;
	return skr_base64_decode((const char *)raw.data, raw.len, out, "HCL report", err);
}

/* The AK as the SHA-256 of its SubjectPublicKeyInfo, a stable short identity. */
static void add_ak(json_object *o, EVP_PKEY *ak)
{
	uint8_t digest[32];
	struct skr_err ignored = { 0 };
	json_object *k = json_object_new_object();

	json_object_object_add(k, "type", json_object_new_string("RSA"));
	json_object_object_add(k, "bits", json_object_new_int(EVP_PKEY_get_bits(ak)));
	if (skr_pubkey_spki_sha256(ak, digest, &ignored) == 0)
		skr_json_add_hex(k, "spki_sha256", digest, sizeof(digest));
	json_object_object_add(o, "ak", k);
}

static json_object *report_json(const struct skr_hcl_report *r)
{
	json_object *o = json_object_new_object();
	json_object *hdr = json_object_new_object();
	json_object *rt = json_object_new_object();

	json_object_object_add(hdr, "version", json_object_new_int64(r->version));
	json_object_object_add(hdr, "report_size", json_object_new_int64(r->report_size));
	json_object_object_add(hdr, "request_type", json_object_new_int64(r->request_type));
	json_object_object_add(hdr, "status", json_object_new_int64(r->status));
	json_object_object_add(o, "header", hdr);
	json_object_object_add(o, "snp_report",
			       skr_snp_report_to_json(&r->snp, skr_snp_report_product(&r->snp)));
	json_object_object_add(rt, "data_size", json_object_new_int64(r->runtime_data_size));
	json_object_object_add(rt, "version", json_object_new_int64(r->runtime_version));
	json_object_object_add(rt, "report_type", json_object_new_int64(r->runtime_report_type));
	json_object_object_add(rt, "hash_type", json_object_new_int64(r->hash_type));
	json_object_object_add(rt, "claims_size", json_object_new_int64((int64_t)r->claims_len));
	json_object_object_add(o, "runtime_data", rt);
	json_object_object_add(o, "claims", json_object_get(r->claims_json));
	return o;
}

static void print_text(const struct skr_hcl_report *r, EVP_PKEY *ak, bool bound)
{
	_cleanup_free_ char *rd = skr_hex_encode(r->snp.report_data, 32);
	_cleanup_free_ char *m = skr_hex_encode(r->snp.measurement, sizeof(r->snp.measurement));

	printf("HCL report version %u, request type %u, status %u\n", r->version,
	       r->request_type, r->status);
	printf("SNP report:   version %u, vmpl %u, debug %s\n", r->snp.version, r->snp.vmpl,
	       skr_snp_report_debug(&r->snp) ? "on" : "off");
	printf("measurement:  %s\n", m ? m : "");
	printf("report_data:  %s...\n", rd ? rd : "");
	printf("claims:       %zu bytes, hash type %u, binding %s\n", r->claims_len, r->hash_type,
	       bound ? "holds" : "FAILS");
	if (ak)
		printf("HCLAkPub:     RSA-%d\n", EVP_PKEY_get_bits(ak));
	printf("%s\n", json_object_to_json_string_ext(r->claims_json, JSON_C_TO_STRING_PRETTY |
							      JSON_C_TO_STRING_NOSLASHESCAPE));
}

int cmd_hcl_show(int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' }, { 0 } };
	_cleanup_buf_ struct skr_buf data = { 0 };
	struct skr_hcl_report r = { 0 };
	struct skr_err err = { 0 };
	EVP_PKEY *ak = NULL;
	json_object *out = NULL;
	struct skr_err ignored = { 0 };
	bool json = false, parsed = false, bound = false;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'j')
			return cli_usage(HCL_USAGE);
		json = true;
	}
	if (optind + 1 != argc)
		return cli_usage(HCL_USAGE);
	if (load_report(argv[optind], &data, &err) == 0 &&
	    skr_hcl_report_parse(data.data, data.len, &r, &err) == 0) {
		bound = skr_hcl_verify_binding(&r, &err) == 0;
		/* Shown even when unbound, so the operator sees what was tampered with. */
		parsed = skr_hcl_parse_claims(&r, bound ? &err : &ignored) == 0;
		if (bound && parsed)
			skr_hcl_ak_public(&r, &ak, &err);
	}
	if (parsed && json) {
		out = report_json(&r);
		if (ak)
			add_ak(out, ak);
	} else if (parsed) {
		print_text(&r, ak, bound);
	}
	rc = cli_finish(&err, out, json);
	EVP_PKEY_free(ak);
	skr_hcl_report_free(&r);
	return rc;
}
