/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test tool: serves a configfs-tsm stand-in (tests/helpers/faketsm.h) until
 * SIGTERM or SIGINT, for shell tests of bare SEV-SNP (tee "snp").
 *
 *   skr-fake-tsm DIR [--svsm-ek FILE]
 *
 * Mints a test AMD chain (Milan, VCEK) and writes into DIR: trust.pem (ASK
 * and ARK, for the broker's trust_anchors), measurement (the reports'
 * launch measurement, hex), and, once serving, root (the stand-in's
 * directory: the client's SKR_TSM_ROOT).  DIR/knobs, when present, is read
 * before each request (faketsm.h lists the knobs).  --svsm-ek: SVSM mode
 * (DESIGN 2.3.1), FILE the vTPM EK's marshalled TPMT_PUBLIC (raw bytes, no
 * TPM2B size: tpm2_readpublic -o's file without its first two bytes), the
 * manifest's vTPM entry.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "faketsm.h"
#include "testchain.h"

static int write_outputs(const char *dir, const struct skr_faketsm *t,
			 const struct skr_test_chain *c, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf pem = { 0 };
	_cleanup_free_ char *m = skr_hex_encode(t->report.measurement, 48);
	char path[512];

	snprintf(path, sizeof(path), "%s/trust.pem", dir);
	if (skr_test_chain_bundle_pem(c, false, &pem, err) < 0 ||
	    skr_test_write_file(path, pem.data, pem.len, err) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/measurement", dir);
	if (skr_test_write_file(path, m, strlen(m), err) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/root", dir);
	return skr_test_write_file(path, t->root, strlen(t->root), err);
}

static int load_svsm_ek(const char *path, struct skr_faketsm *t, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf ek = { 0 };

	if (skr_read_file(path, sizeof(t->svsm_ek), &ek, err) < 0)
		return -1;
	if (!ek.len || ek.len > sizeof(t->svsm_ek))
		return skr_fail(err, SKR_R_malformed, "%s: not a TPMT_PUBLIC", path);
	memcpy(t->svsm_ek, ek.data, ek.len);
	t->svsm_ek_len = ek.len;
	return 0;
}

int main(int argc, char **argv)
{
	struct skr_test_chain chain, other;
	struct skr_faketsm t;
	struct skr_err err = { 0 };
	char knobs[512];
	sigset_t set;
	int sig;

	if ((argc != 2 && !(argc == 4 && !strcmp(argv[2], "--svsm-ek"))) ||
	    !strcmp(argv[1], "--help")) {
		fprintf(stderr, "usage: skr-fake-tsm DIR [--svsm-ek FILE]\n");
		return argc == 2 ? 0 : 2;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);	/* the serving thread inherits it */
	snprintf(knobs, sizeof(knobs), "%s/knobs", argv[1]);
	if (skr_test_chain_new(&chain, NULL, &err) < 0 || skr_test_chain_new(&other, NULL, &err) < 0 ||
	    skr_faketsm_start(&t, &chain, &err) < 0) {
		fprintf(stderr, "skr-fake-tsm: %s\n", err.detail);
		return 1;
	}
	t.knob_file = knobs;
	t.other_signer = other.vcek_key;
	if ((argc == 4 && load_svsm_ek(argv[3], &t, &err) < 0) ||
	    write_outputs(argv[1], &t, &chain, &err) < 0) {
		fprintf(stderr, "skr-fake-tsm: %s\n", err.detail);
		skr_faketsm_stop(&t);
		return 1;
	}
	sigwait(&set, &sig);
	skr_faketsm_stop(&t);
	skr_test_chain_free(&other);
	skr_test_chain_free(&chain);
	return 0;
}
