/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_unlock IMAGE RUNS: the unlock path of skr-unlock, timed by part —
 * the attested release (vTPM and network, from skr_release's own timing) and
 * the keyslot open with the token's secret (activation with a NULL name:
 * the keyslot check without device-mapper) — plus the keyslot open alone.
 * Prints one JSON object of medians and 99th percentiles, in milliseconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libcryptsetup.h>

#include "bench_util.h"
#include "vm/client_config.h"
#include "vm/release_client.h"
#include "luks/token.h"
#include "common/util.h"

static double pct(double *v, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);

	qsort(v, n, sizeof(*v), cmp_double);
	return v[i < n ? i : n - 1];
}

/* The first skr token of the image. */
static int load_token(struct crypt_device *cd, struct skr_token *tok)
{
	struct skr_err err = { 0 };
	int id;

	for (id = 0; id < crypt_token_max(CRYPT_LUKS2); id++) {
		const char *type = NULL, *json = NULL;

		if (crypt_token_status(cd, id, &type) == CRYPT_TOKEN_INACTIVE || !type ||
		    strcmp(type, SKR_TOKEN_TYPE) != 0 || crypt_token_json_get(cd, id, &json) < 0)
			continue;
		if (skr_token_parse(json, tok, &err) == 0)
			return 0;
		fprintf(stderr, "bench_unlock: token %d: %s\n", id, err.detail);
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct crypt_device *cd = NULL;
	struct skr_token tok = { 0 };
	struct skr_client_config cfg = { 0 };
	struct skr_err cerr = { 0 };
	struct skr_release_opts o;
	uint8_t *secret = skr_secret_alloc(SKR_RELEASE_MAX_SECRET);
	size_t runs = argc == 3 ? (size_t)atoi(argv[2]) : 0, i;
	double *total, *tpm, *net, *slot, *slot_only;
	int rc = 1;

	if (argc != 3 || runs < 2 || !secret) {
		fprintf(stderr, "usage: bench_unlock IMAGE RUNS\n");
		return 2;
	}
	total = calloc(runs, sizeof(double));
	tpm = calloc(runs, sizeof(double));
	net = calloc(runs, sizeof(double));
	slot = calloc(runs, sizeof(double));
	slot_only = calloc(runs, sizeof(double));
	if (!total || !tpm || !net || !slot || !slot_only || crypt_init(&cd, argv[1]) < 0 ||
	    crypt_load(cd, CRYPT_LUKS2, NULL) < 0 || load_token(cd, &tok) < 0) {
		fprintf(stderr, "bench_unlock: %s is not an enrolled LUKS2 image\n", argv[1]);
		goto out;
	}
	/* As skr-unlock: the endpoints from the client configuration (SKR_CONFIG). */
	if (skr_client_config_load(skr_client_config_path(NULL), &cfg, &cerr) < 0) {
		fprintf(stderr, "bench_unlock: %s\n", cerr.detail);
		goto out;
	}
	skr_token_release_opts(&tok, &cfg, 0, &o);
	for (i = 0; i < runs; i++) {
		struct skr_release_timing t;
		struct skr_err err = { 0 };
		size_t len = 0;
		double t0 = now_ms(), t1;

		if (skr_release(&o, secret, &len, &t, &err) < 0) {
			fprintf(stderr, "bench_unlock: release: %s: %s\n", skr_reason_name(err.reason),
				err.detail);
			goto out;
		}
		t1 = now_ms();
		/* Like skr-unlock: the token's keyslot, not every keyslot in turn. */
		if (crypt_activate_by_passphrase(cd, NULL, tok.keyslots[0], (const char *)secret, len,
						 0) < 0) {
			fprintf(stderr, "bench_unlock: the released secret opens no keyslot\n");
			goto out;
		}
		total[i] = now_ms() - t0;
		slot[i] = now_ms() - t1;
		tpm[i] = t.tpm_ms;
		net[i] = t.network_ms;
		t0 = now_ms();
		crypt_activate_by_passphrase(cd, NULL, tok.keyslots[0], (const char *)secret, len, 0);
		slot_only[i] = now_ms() - t0;
	}
	printf("{\"unlock_runs\": %zu, \"unlock_total_ms_p50\": %.3f, \"unlock_total_ms_p99\": %.3f, "
	       "\"unlock_tpm_ms_p50\": %.3f, \"unlock_network_ms_p50\": %.3f, "
	       "\"unlock_keyslot_ms_p50\": %.3f, \"keyslot_open_ms_p50\": %.3f, "
	       "\"keyslot_open_ms_p99\": %.3f}\n",
	       runs, pct(total, runs, 0.5), pct(total, runs, 0.99), pct(tpm, runs, 0.5),
	       pct(net, runs, 0.5), pct(slot, runs, 0.5), pct(slot_only, runs, 0.5),
	       pct(slot_only, runs, 0.99));
	rc = 0;
out:
	skr_token_free(&tok);
	skr_client_config_free(&cfg);
	skr_secret_free(secret);
	crypt_free(cd);
	free(total);
	free(tpm);
	free(net);
	free(slot);
	free(slot_only);
	return rc;
}
