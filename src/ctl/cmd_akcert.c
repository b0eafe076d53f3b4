/* SPDX-License-Identifier: Apache-2.0 */
/*
 * skrctl akcert verify: an Azure vTPM AK certificate (NV 0x01C101D0) up to
 * the built-in Azure Virtual TPM Root CA 2023 or a given root, with the
 * built-in "Global Virtual TPM CA - 03", given and presented intermediates
 * as chain-building material; with --ak or --ak-public, that its key is
 * that AK (--ak-public also checks the AK's attributes, CVE-2025-49707).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/pem.h>

#include "common/util.h"
#include "common/x509.h"
#include "ctl/cli.h"
#include "verify/akcert.h"

struct akcert_args {
	const char *cert, *chain, *roots, *ak, *ak_public;
	time_t at;
	bool json;
};

static int parse_args(int argc, char **argv, struct akcert_args *a)
{
	static const struct option opts[] = {
		{ "chain", required_argument, NULL, 'c' },
		{ "roots", required_argument, NULL, 'r' },
		{ "ak", required_argument, NULL, 'a' },
		{ "ak-public", required_argument, NULL, 'p' },
		{ "at", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ 0 },
	};
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': a->chain = optarg; break;
		case 'r': a->roots = optarg; break;
		case 'a': a->ak = optarg; break;
		case 'p': a->ak_public = optarg; break;
		case 'j': a->json = true; break;
		case 't':
			a->at = (time_t)strtoll(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || a->at <= 0)
				return -1;
			break;
		default: return -1;
		}
	}
	if (optind + 1 != argc || (a->ak && a->ak_public))
		return -1;
	a->cert = argv[optind];
	return 0;
}

/* A certificate file in DER or PEM, as DER. */
static int cert_der(const char *path, struct skr_buf *der, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf raw = { 0 };
	_cleanup_(X509_freep) X509 *x = NULL;
	struct skr_err parse = { 0 };
	uint8_t *out = NULL;
	int len;

	if (skr_read_file(path, SKR_AKCERT_MAX_DER * 2, &raw, err) < 0)
		return -1;
	if (skr_x509_parse(raw.data, raw.len, &x, path, &parse) < 0) {
		/* Not parseable at all: the verifier names why (akcert_invalid). */
		*der = raw;
		raw = (struct skr_buf){ 0 };
		return 0;
	}
	if ((len = i2d_X509(x, &out)) <= 0)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	/* Keep the bytes as read when they are DER: a tampered signature stays tampered. */
	if ((size_t)len == raw.len && !memcmp(out, raw.data, raw.len)) {
		*der = raw;
		raw = (struct skr_buf){ 0 };
		OPENSSL_free(out);
		return 0;
	}
	skr_buf_set(der, out, (size_t)len, err);
	OPENSSL_free(out);
	return err->reason == SKR_R_ok ? 0 : -1;
}

/* Every PEM (or one DER) certificate of a file, as concatenated DER. */
static int chain_der(const char *path, struct skr_buf *der, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf raw = { 0 };
	_cleanup_(BIO_freep) BIO *in = NULL, *out = BIO_new(BIO_s_mem());
	X509 *x;
	char *data;
	long len;
	int n = 0;

	if (skr_read_file(path, SKR_AKCERT_MAX_CHAIN * 2, &raw, err) < 0)
		return -1;
	if (!strstr((const char *)raw.data, "-----BEGIN"))
		return skr_buf_set(der, raw.data, raw.len, err);
	if (!out || !(in = BIO_new_mem_buf(raw.data, (int)raw.len)))
		return skr_fail(err, SKR_R_nomem, "out of memory");
	while ((x = PEM_read_bio_X509(in, NULL, NULL, NULL)) != NULL) {
		n += i2d_X509_bio(out, x) == 1;
		X509_free(x);
	}
	if (n == 0)
		return skr_fail(err, SKR_R_malformed, "%s holds no PEM certificate", path);
	len = BIO_get_mem_data(out, &data);
	return skr_buf_set(der, data, (size_t)len, err);
}

static int check_ak(const struct akcert_args *a, const struct skr_akcert_info *info,
		    struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf raw = { 0 };
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *ak = NULL;

	if (a->ak && (skr_read_file(a->ak, CLI_MAX_INPUT, &raw, err) < 0 ||
		      skr_pubkey_parse(raw.data, raw.len, &ak, "AK", err) < 0))
		return -1;
	if (a->ak_public && (skr_read_file(a->ak_public, 1u << 16, &raw, err) < 0 ||
			     skr_ak_public_check(raw.data, raw.len, &ak, err) < 0))
		return -1;
	return ak ? skr_akcert_key_matches(info, ak, err) : 0;
}

static int verify(const struct akcert_args *a, struct skr_akcert_info *info, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf cert = { 0 }, chain = { 0 };
	struct skr_akcert_trust *trust = NULL;
	int rc = -1;

	if (cert_der(a->cert, &cert, err) < 0 || (a->chain && chain_der(a->chain, &chain, err) < 0) ||
	    skr_akcert_trust_new(a->roots, NULL, &trust, err) < 0)
		return -1;
	if (skr_akcert_verify(trust, cert.data, cert.len, chain.data, chain.len, a->at, info, err) < 0 ||
	    check_ak(a, info, err) < 0)
		goto out;
	rc = 0;
out:
	skr_akcert_trust_free(trust);
	return rc;
}

int cmd_akcert_verify(int argc, char **argv)
{
	struct akcert_args a = { 0 };
	struct skr_akcert_info info = { 0 };
	struct skr_err err = { 0 };
	json_object *out = NULL;

	if (parse_args(argc, argv, &a) < 0)
		return cli_usage(AKCERT_USAGE);
	verify(&a, &info, &err);
	if (a.json) {
		out = json_object_new_object();
		if (info.key) {
			json_object_object_add(out, "subject", json_object_new_string(info.subject_cn));
			json_object_object_add(out, "issuer", json_object_new_string(info.issuer_cn));
			json_object_object_add(out, "ak_checked",
					       json_object_new_boolean(a.ak || a.ak_public));
		}
	} else if (err.reason == SKR_R_ok) {
		printf("AK certificate \"%s\", issued by \"%s\": valid%s\n", info.subject_cn,
		       info.issuer_cn, a.ak || a.ak_public ? "; its key is the AK" : "");
	}
	skr_akcert_info_free(&info);
	return cli_finish(&err, out, a.json);
}
