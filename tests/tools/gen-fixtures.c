/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gen-fixtures DIR: writes a generated AMD chain, SNP reports and evidence
 * bundles for the CLI tests (tests/cli).  Test tool; never installed.
 *
 *   chain.pem, ark.pem, ask.pem, vcek.der ...   (skr_test_chain_write)
 *   report.bin          valid Milan v3 report signed by vcek
 *   report-debug.bin    the same with POLICY.DEBUG set
 *   report-tcb.bin      REPORTED_TCB differs from the VCEK
 *   foreign-chain.pem   ASK+ARK of another (untrusted) chain
 *   evidence.json       skr-layout bundle, quote nonce = nonce.hex
 *   evidence-swapped-ak.json   quote signed by a key that is not HCLAkPub
 *   hcl.bin, quote.msg, quote.sig, ak.pem, pcrs.json, nonce.hex
 */
#include <stdio.h>
#include <string.h>

#include <openssl/pem.h>

#include "fakeazure.h"
#include "common/pcr_json.h"

#define PCR_MASK ((1u << 0) | (1u << 4) | (1u << 7))

static const uint8_t nonce[32] = "cli-fixture-nonce-0123456789abc";

static const char *dir;
static struct skr_err err;

static void die(const char *what)
{
	fprintf(stderr, "gen-fixtures: %s: %s: %s\n", what, skr_reason_name(err.reason), err.detail);
	exit(1);
}

static void write_file(const char *name, const void *data, size_t len)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (skr_test_write_file(path, data, len, &err) < 0)
		die(name);
}

static void write_report(const struct skr_test_chain *c, const char *name,
			 const struct skr_test_report_opts *o)
{
	uint8_t report[SKR_TEST_REPORT_SIZE];

	if (skr_test_chain_report(c, o, report, &err) < 0)
		die(name);
	write_file(name, report, sizeof(report));
}

static void write_reports(const struct skr_test_chain *c)
{
	struct skr_test_report_opts o;

	skr_test_report_opts_init(&o, &c->vcek_opts);
	write_report(c, "report.bin", &o);
	o.policy |= SKR_TEST_POLICY_DEBUG;
	write_report(c, "report-debug.bin", &o);
	skr_test_report_opts_init(&o, &c->vcek_opts);
	o.reported_tcb = skr_test_tcb_milan(3, 0, 9, 0x73);
	write_report(c, "report-tcb.bin", &o);
}

static void write_foreign_chain(void)
{
	struct skr_test_chain other;
	struct skr_buf pem = { 0 };

	if (skr_test_chain_new(&other, NULL, &err) < 0 ||
	    skr_test_chain_bundle_pem(&other, false, &pem, &err) < 0)
		die("foreign chain");
	write_file("foreign-chain.pem", pem.data, pem.len);
	skr_buf_free(&pem);
	skr_test_chain_free(&other);
}

static void write_ak(EVP_PKEY *ak)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long len;

	if (!bio || PEM_write_bio_PUBKEY(bio, ak) != 1)
		die("ak.pem");
	len = BIO_get_mem_data(bio, &data);
	write_file("ak.pem", data, (size_t)len);
	BIO_free(bio);
}

static void write_evidence(const struct skr_test_chain *c, const struct skr_buf *hcl,
			   EVP_PKEY *quote_key, const struct skr_pcr_banks *banks, const char *name,
			   bool loose_parts)
{
	struct skr_buf attest = { 0 }, sig = { 0 }, json = { 0 };

	if (skr_test_quote(quote_key, nonce, sizeof(nonce), banks, PCR_MASK, &attest, &sig, &err) < 0 ||
	    skr_test_evidence_json(hcl, c->vcek, &attest, &sig, banks, &json, &err) < 0)
		die(name);
	write_file(name, json.data, json.len);
	if (loose_parts) {
		write_file("quote.msg", attest.data, attest.len);
		write_file("quote.sig", sig.data, sig.len);
	}
	skr_buf_free(&attest);
	skr_buf_free(&sig);
	skr_buf_free(&json);
}

static void write_pcrs(const struct skr_pcr_banks *banks)
{
	json_object *obj = skr_pcr_banks_to_json(banks);
	const char *text = json_object_to_json_string(obj);
	char *hex = skr_hex_encode(nonce, sizeof(nonce));

	write_file("pcrs.json", text, strlen(text));
	write_file("nonce.hex", hex, strlen(hex));
	free(hex);
	json_object_put(obj);
}

int main(int argc, char **argv)
{
	struct skr_test_chain chain;
	struct skr_buf claims = { 0 }, hcl = { 0 };
	struct skr_pcr_banks banks;
	EVP_PKEY *ak = skr_test_rsa_key(), *other = skr_test_rsa_key();

	if (argc != 2) {
		fprintf(stderr, "usage: gen-fixtures DIR\n");
		return 2;
	}
	dir = argv[1];
	if (!ak || !other || skr_test_chain_new(&chain, NULL, &err) < 0 ||
	    skr_test_chain_write(&chain, dir, &err) < 0)
		die("chain");
	write_reports(&chain);
	write_foreign_chain();
	skr_test_pcr_banks(&banks);
	if (skr_test_claims(ak, nonce, sizeof(nonce), &claims, &err) < 0 ||
	    skr_test_hcl_report(&chain, NULL, claims.data, claims.len, &hcl, &err) < 0)
		die("hcl");
	write_file("hcl.bin", hcl.data, hcl.len);
	write_ak(ak);
	write_pcrs(&banks);
	write_evidence(&chain, &hcl, ak, &banks, "evidence.json", true);
	write_evidence(&chain, &hcl, other, &banks, "evidence-swapped-ak.json", false);
	skr_buf_free(&claims);
	skr_buf_free(&hcl);
	EVP_PKEY_free(ak);
	EVP_PKEY_free(other);
	skr_test_chain_free(&chain);
	return 0;
}
