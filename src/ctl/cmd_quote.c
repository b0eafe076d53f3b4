/* SPDX-License-Identifier: Apache-2.0 */
/* skrctl quote verify: a TPM2_Quote against an AK, a nonce and PCR values. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ctl/cli.h"
#include "common/pcr_json.h"
#include "common/x509.h"
#include "verify/tpm_attest.h"
#include "common/util.h"


struct quote_args {
	const char *message, *signature, *ak, *nonce_hex, *pcrs;
	bool json;
};

static int parse_args(int argc, char **argv, struct quote_args *a)
{
	static const struct option opts[] = {
		{ "message", required_argument, NULL, 'm' },
		{ "signature", required_argument, NULL, 's' },
		{ "ak", required_argument, NULL, 'a' },
		{ "nonce", required_argument, NULL, 'n' },
		{ "pcrs", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'm': a->message = optarg; break;
		case 's': a->signature = optarg; break;
		case 'a': a->ak = optarg; break;
		case 'n': a->nonce_hex = optarg; break;
		case 'p': a->pcrs = optarg; break;
		case 'j': a->json = true; break;
		default: return -1;
		}
	}
	return optind == argc && a->message && a->signature && a->ak ? 0 : -1;
}

/* A file of raw bytes or of their hex text. */
static int load_binary(const char *path, struct skr_buf *out, const char *what,
		       struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf raw = { 0 };

	if (skr_read_file(path, CLI_MAX_INPUT, &raw, err) < 0)
		return -1;
	return skr_decode_binary_or_hex(&raw, 0, out, what, err);
}

static int verify(const struct quote_args *a, TPMS_ATTEST *attest, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf msg = { 0 }, sig = { 0 }, ak_pem = { 0 }, nonce = { 0 };
	_cleanup_free_ struct skr_pcr_banks *banks = NULL;
	EVP_PKEY *ak = NULL;
	int rc;

	if (load_binary(a->message, &msg, "message", err) < 0 ||
	    load_binary(a->signature, &sig, "signature", err) < 0 ||
	    skr_read_file(a->ak, CLI_MAX_INPUT, &ak_pem, err) < 0 ||
	    (a->nonce_hex &&
	     skr_hex_decode(a->nonce_hex, strlen(a->nonce_hex), &nonce, "--nonce", err) < 0))
		return -1;
	if (a->pcrs) {
		banks = calloc(1, sizeof(*banks));
		if (!banks)
			return skr_fail(err, SKR_R_nomem, "out of memory");
		if (cli_load_pcr_banks(a->pcrs, banks, err) < 0)
			return -1;
	}
	if (skr_pubkey_parse(ak_pem.data, ak_pem.len, &ak, "AK", err) < 0)
		return -1;
	rc = skr_tpm_quote_verify(msg.data, msg.len, sig.data, sig.len, ak,
				  a->nonce_hex ? nonce.data : NULL, nonce.len, banks, attest, err);
	EVP_PKEY_free(ak);
	return rc;
}

int cmd_quote_verify(int argc, char **argv)
{
	struct quote_args a = { 0 };
	struct skr_err err = { 0 };
	TPMS_ATTEST attest = { 0 };
	json_object *out = NULL;

	if (parse_args(argc, argv, &a) < 0)
		return cli_usage(QUOTE_USAGE);
	verify(&a, &attest, &err);
	if (a.json && attest.magic)
		out = skr_tpm_attest_to_json(&attest);
	else if (err.reason == SKR_R_ok)
		printf("quote: valid (signature, type%s%s)\n", a.nonce_hex ? ", nonce" : "",
		       a.pcrs ? ", PCR digest" : "");
	return cli_finish(&err, out, a.json);
}
