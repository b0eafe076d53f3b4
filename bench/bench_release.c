/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_release: the release benchmarks behind `make bench` (bench/run.sh
 * orchestrates them and writes bench/results/release.json).  Never installed.
 *
 *   bench_release mkca DIR
 *       a test AMD CA (ARK + ASK, RSA-4096 as AMD's) for the load generator's
 *       software VMs: DIR/chain.pem (the broker's trust anchor), ark-key.pem,
 *       ask-key.pem
 *   bench_release latency --broker URL --ca PEM --tcti TCTI --key-id ID
 *                         --secret-hex HEX [--runs N] [--warmup N] --out JSON
 *       N in-process skr_release() calls against the broker with the (sw)TPM
 *       behind TCTI; each released secret must equal HEX
 *   bench_release zgen-session --broker URL --ca PEM --tcti TCTI --key-id ID
 *                              --secret-hex HEX [--runs N] [--warmup N] --out JSON
 *       N pairs of in-process skr_release() calls, one with TPM2_ECDH_ZGen
 *       under its salted, response-encrypting session (the product) and one
 *       under a plain password session (the clear path before issue 18,
 *       SKR_TEST_ZGEN=clear), in alternating order (AB, BA, ...): the median
 *       of each's TPM time and whole release, and the ratio; then N pairs of
 *       TPM2_ECDH_ZGen alone on one open TPM.  Needs a build
 *       with -DSKR_TEST_FAULTS (bench/tpm_session.sh makes one)
 *   bench_release load --broker URL --admin URL --token-file F --ca PEM --cadir DIR
 *                      --broker-pid PID [--vms N] [--duration S]
 *                      [--concurrency 1,2,4,8,16] [--half-threads 8] [--ready-file F]
 *                      --out JSON
 *       N software VMs on DIR's CA, each registered as its own key through the
 *       admin API, then for each concurrency C: C threads (one keep-alive
 *       libcurl handle each) doing challenge -> evidence -> release -> unwrap
 *       for S seconds; the broker's CPU time over the window comes from
 *       /proc/PID/stat; then an open-loop window offered half the highest
 *       throughput (N threads take releases as they fall due) for the p99 at
 *       half load; --ready-file is created when setup and warm-up are done
 *   bench_release floor [--seconds S] --out JSON
 *       the crypto a release cannot avoid, single thread: ECDSA P-384 verify
 *       (SNP report), 2 x RSA-2048 PKCS#1 verify (quote, certify), P-256 keygen
 *       + ECDH (the wrap)
 *   bench_release verify [--seconds S] --out JSON
 *       the broker's verification of one release in-process, single thread,
 *       per CPU second: evidence decoded and verified (chain cache warm),
 *       certify checked, secret wrapped; no HTTP, TLS, body parsing or store
 *
 * Exit status: 0 done (every release verified), 1 a release failed or a
 * measurement could not be taken, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "bench_util.h"
#include "common/pcr_json.h"
#include "vm/release_client.h"
#include "vm/tpm.h"
#include "softvm.h"
#include "testchain.h"
#include "common/util.h"
#include "verify/amd_chain.h"
#include "verify/evidence.h"
#include "verify/wrap.h"
#include "verify/wrap_key.h"

#define MAX_CONC 64
#define MAX_VMS 1024
#define SECRET_LEN 32
#define HANDSHAKES 50		/* fresh TLS connections timed by `latency` */
#define BENCH_POLICY                                                                     \
	"{\"tee\": \"az-snp-vtpm\", \"snp\": {\"min_tcb\": {\"bootloader\": 3, \"tee\": 0, " \
	"\"snp\": 8, \"microcode\": 115}}, \"pcrs\": {\"bank\": \"sha256\", \"indexes\": [0, 7, 11]}}"

/* Nearest-rank percentile of a sorted array. */
static double percentile(const double *sorted, size_t n, double p)
{
	size_t rank;

	if (!n)
		return 0;
	rank = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	return sorted[(rank > n ? n : rank) - 1];
}

/* A number with three decimals, printed as such. */
static json_object *jnum(double v)
{
	char s[64];

	snprintf(s, sizeof(s), "%.3f", v);
	return json_object_new_double_s(strtod(s, NULL), s);
}

static int write_json(const char *path, json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
	FILE *f = path ? fopen(path, "w") : stdout;

	if (!f) {
		fprintf(stderr, "bench_release: %s: %s\n", path, strerror(errno));
		return -1;
	}
	fprintf(f, "%s\n", s);
	if (path && fclose(f) != 0)
		return -1;
	return 0;
}

static void die_err(const char *what, const struct skr_err *err)
{
	fprintf(stderr, "bench_release: %s: %s: %s\n", what, skr_reason_name(err->reason),
		err->detail);
	exit(1);
}

/* ---- mkca ---------------------------------------------------------------- */

static int write_key(const char *dir, const char *name, EVP_PKEY *key, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf pem = { 0 };
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (skr_test_key_pem(key, &pem, err) < 0)
		return -1;
	return skr_test_write_file(path, pem.data, pem.len, err);
}

static int cmd_mkca(int argc, char **argv)
{
	struct skr_test_chain_opts o = { .product = "Milan", .rsa_bits = 4096, .no_vcek = true };
	struct skr_test_chain c;
	_cleanup_buf_ struct skr_buf pem = { 0 };
	struct skr_err err = { 0 };
	char path[4096];

	if (argc != 2) {
		fprintf(stderr, "usage: bench_release mkca DIR\n");
		return 2;
	}
	if (skr_test_chain_new(&c, &o, &err) < 0)
		die_err("test CA", &err);
	snprintf(path, sizeof(path), "%s/chain.pem", argv[1]);
	if (skr_test_chain_bundle_pem(&c, false, &pem, &err) < 0 ||
	    skr_test_write_file(path, pem.data, pem.len, &err) < 0 ||
	    write_key(argv[1], "ark-key.pem", c.ark_key, &err) < 0 ||
	    write_key(argv[1], "ask-key.pem", c.ask_key, &err) < 0)
		die_err("writing the CA", &err);
	skr_test_chain_free(&c);
	return 0;
}

static EVP_PKEY *read_key(const char *dir, const char *name)
{
	char path[4096];
	EVP_PKEY *k = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (f) {
		k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (!k) {
		fprintf(stderr, "bench_release: cannot read %s\n", path);
		exit(1);
	}
	return k;
}

/* ---- HTTP (libcurl, one keep-alive easy handle per thread) ---------------- */

struct http {
	CURL *h;
	struct curl_slist *json_hdr, *admin_hdr;
	struct skr_buf body;
	size_t cap;
	char errbuf[CURL_ERROR_SIZE];
};

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
	struct http *c = ud;
	size_t len = size * n;

	if (c->body.len + len + 1 > c->cap) {
		size_t cap = (c->body.len + len + 1) * 2;
		uint8_t *d = realloc(c->body.data, cap);

		if (!d)
			return 0;
		c->body.data = d;
		c->cap = cap;
	}
	memcpy(c->body.data + c->body.len, p, len);
	c->body.len += len;
	c->body.data[c->body.len] = 0;
	return len;
}

static int http_init(struct http *c, const char *ca, const char *token)
{
	memset(c, 0, sizeof(*c));
	c->h = curl_easy_init();
	c->json_hdr = curl_slist_append(NULL, "Content-Type: application/json");
	if (token) {
		char auth[512];

		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		c->admin_hdr = curl_slist_append(NULL, "Content-Type: application/json");
		c->admin_hdr = curl_slist_append(c->admin_hdr, auth);
	}
	if (!c->h || !c->json_hdr)
		return -1;
	/* What the release client (src/vm/https.c) sets, plus connection reuse. */
	curl_easy_setopt(c->h, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c->h, CURLOPT_CAINFO, ca);
	curl_easy_setopt(c->h, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(c->h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c->h, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c->h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
	curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, 30000L);
	curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, c->errbuf);
	return 0;
}

static void http_free(struct http *c)
{
	curl_easy_cleanup(c->h);
	curl_slist_free_all(c->json_hdr);
	curl_slist_free_all(c->admin_hdr);
	free(c->body.data);
	memset(c, 0, sizeof(*c));
}

/* method NULL = POST when body, else GET.  Returns the HTTP status or -1. */
static long http_do(struct http *c, const char *method, const char *base, const char *path,
		    const char *body, bool admin)
{
	char url[1024];
	long status = 0;
	CURLcode rc;

	snprintf(url, sizeof(url), "%s%s", base, path);
	c->body.len = 0;
	if (c->body.data)
		c->body.data[0] = 0;
	c->errbuf[0] = 0;
	curl_easy_setopt(c->h, CURLOPT_URL, url);
	curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, admin ? c->admin_hdr : c->json_hdr);
	if (body) {
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	} else {
		curl_easy_setopt(c->h, CURLOPT_HTTPGET, 1L);
	}
	curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, method);
	rc = curl_easy_perform(c->h);
	if (rc != CURLE_OK) {
		snprintf(c->errbuf + strlen(c->errbuf), sizeof(c->errbuf) - strlen(c->errbuf), "%s%s",
			 c->errbuf[0] ? ": " : "", curl_easy_strerror(rc));
		return -1;
	}
	curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
	return status;
}

/* ---- the options both release benchmarks take -------------------------------- */

struct release_args {
	struct skr_release_opts o;
	const char *secret_hex, *out;
	unsigned runs, warmup;
};

static const struct option release_longopts[] = {
	{ "broker", required_argument, NULL, 'b' }, { "ca", required_argument, NULL, 'c' },
	{ "tcti", required_argument, NULL, 't' },   { "key-id", required_argument, NULL, 'k' },
	{ "secret-hex", required_argument, NULL, 's' },
	{ "runs", required_argument, NULL, 'n' },   { "warmup", required_argument, NULL, 'w' },
	{ "vcek", required_argument, NULL, 'v' },   { "out", required_argument, NULL, 'o' },
	{ 0 },
};

/* Fills a (runs and warmup keep the defaults the caller set); 0, or 2 after
 * printing USAGE when an option is unknown or a required one is missing. */
static int parse_release_args(int argc, char **argv, struct release_args *a, const char *usage)
{
	int c;

	a->o.deadline_ms = 30000;
	while ((c = getopt_long(argc, argv, "", release_longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			a->o.brokers[0] = optarg;
			a->o.n_brokers = 1;
			break;
		case 'c':
			a->o.ca_file = optarg;
			break;
		case 't':
			a->o.tcti = optarg;
			break;
		case 'k':
			a->o.key_id = optarg;
			break;
		case 's':
			a->secret_hex = optarg;
			break;
		case 'n':
			a->runs = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'w':
			a->warmup = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'v':
			a->o.vcek_file = optarg;
			break;
		case 'o':
			a->out = optarg;
			break;
		default:
			fprintf(stderr, "%s", usage);
			return 2;
		}
	}
	if (!a->o.n_brokers || !a->o.ca_file || !a->o.tcti || !a->o.key_id || !a->secret_hex ||
	    !a->runs || !a->out) {
		fprintf(stderr, "%s", usage);
		return 2;
	}
	return 0;
}

/* ---- latency: skr_release() against swtpm ---------------------------------- */

static int cmd_latency(int argc, char **argv)
{
	struct release_args a = { .runs = 200, .warmup = 3 };
	_cleanup_buf_ struct skr_buf want = { 0 };
	struct skr_err err = { 0 };
	unsigned failures = 0, i;
	double *total, *tpm, *net, handshake[HANDSHAKES];
	uint8_t *secret;
	json_object *j;

	if (parse_release_args(argc, argv, &a,
			       "usage: bench_release latency --broker URL --ca PEM --tcti TCTI "
			       "--key-id ID --secret-hex HEX [--runs N] [--warmup N] [--vcek F] "
			       "--out JSON\n") != 0)
		return 2;
	if (skr_hex_decode(a.secret_hex, strlen(a.secret_hex), &want, "--secret-hex", &err) < 0)
		die_err("--secret-hex", &err);
	secret = skr_secret_alloc(SKR_RELEASE_MAX_SECRET);
	total = calloc(a.runs, sizeof(double));
	tpm = calloc(a.runs, sizeof(double));
	net = calloc(a.runs, sizeof(double));
	if (!secret || !total || !tpm || !net)
		return 1;
	for (i = 0; i < a.warmup + a.runs; i++) {
		struct skr_release_timing t = { 0 };
		size_t len = 0;

		skr_err_clear(&err);
		if (skr_release(&a.o, secret, &len, &t, &err) < 0 || len != want.len ||
		    memcmp(secret, want.data, len) != 0) {
			if (!failures++)
				fprintf(stderr, "bench_release: release %u failed: %s: %s\n", i,
					skr_reason_name(err.reason), err.detail);
			continue;
		}
		if (i >= a.warmup) {
			total[i - a.warmup] = t.total_ms;
			tpm[i - a.warmup] = t.tpm_ms;
			net[i - a.warmup] = t.network_ms;
		}
	}
	skr_secret_free(secret);
	/*
	 * What one new TLS connection costs (the release client opens one per
	 * request): TCP connect + handshake of a fresh handle, GET /healthz.
	 */
	for (i = 0; i < HANDSHAKES; i++) {
		struct http h;
		curl_off_t us = 0;

		if (http_init(&h, a.o.ca_file, NULL) < 0 ||
		    http_do(&h, NULL, a.o.brokers[0], "/healthz", NULL, false) != 200 ||
		    curl_easy_getinfo(h.h, CURLINFO_APPCONNECT_TIME_T, &us) != CURLE_OK) {
			fprintf(stderr, "bench_release: TLS connection to the broker failed: %s\n", h.errbuf);
			failures++;
		}
		handshake[i] = (double)us / 1000.0;
		http_free(&h);
	}
	qsort(handshake, HANDSHAKES, sizeof(double), cmp_double);
	qsort(total, a.runs, sizeof(double), cmp_double);
	qsort(tpm, a.runs, sizeof(double), cmp_double);
	qsort(net, a.runs, sizeof(double), cmp_double);
	j = json_object_new_object();
	json_object_object_add(j, "runs", json_object_new_int((int)a.runs));
	json_object_object_add(j, "warmup", json_object_new_int((int)a.warmup));
	json_object_object_add(j, "failures", json_object_new_int((int)failures));
	json_object_object_add(j, "release_latency_ms_p50", jnum(percentile(total, a.runs, 50)));
	json_object_object_add(j, "release_latency_ms_p90", jnum(percentile(total, a.runs, 90)));
	json_object_object_add(j, "release_latency_ms_p99", jnum(percentile(total, a.runs, 99)));
	json_object_object_add(j, "release_latency_ms_min", jnum(total[0]));
	json_object_object_add(j, "release_latency_ms_max", jnum(total[a.runs - 1]));
	json_object_object_add(j, "release_tpm_ms_p50", jnum(percentile(tpm, a.runs, 50)));
	json_object_object_add(j, "release_network_ms_p50", jnum(percentile(net, a.runs, 50)));
	json_object_object_add(j, "tls_connect_ms_p50", jnum(percentile(handshake, HANDSHAKES, 50)));
	if (write_json(a.out, j) < 0)
		return 1;
	json_object_put(j);
	fprintf(stderr, "latency: %u runs, p50 %.2f ms (tpm %.2f, network %.2f), p99 %.2f ms, "
			"%u failures; new TLS connection p50 %.2f ms\n",
		a.runs, percentile(total, a.runs, 50), percentile(tpm, a.runs, 50),
		percentile(net, a.runs, 50), percentile(total, a.runs, 99), failures,
		percentile(handshake, HANDSHAKES, 50));
	free(total);
	free(tpm);
	free(net);
	return failures ? 1 : 0;
}

/* ---- zgen-session: the encrypted session's price, against the clear path ----- */

/*
 * TPM2_ECDH_ZGen alone, both ways, on one open TPM: per pair a fresh wrap
 * key for each mode (AB/BA), the call timed from before the session starts
 * to Z; out[m] gets runs samples.  0, or -1 with a message.
 */
static int zgen_only(const char *tcti, unsigned runs, double *out[2])
{
	_cleanup_tpm_ struct skr_tpm *t = NULL;
	struct skr_err err = { 0 };
	uint8_t epk[65], z[32];
	size_t epk_len = 0;
	EVP_PKEY *e = EVP_EC_gen("P-256");

	if (!e || !EVP_PKEY_get_octet_string_param(e, OSSL_PKEY_PARAM_PUB_KEY, epk, sizeof(epk),
						   &epk_len) || epk_len != sizeof(epk)) {
		EVP_PKEY_free(e);
		fprintf(stderr, "bench_release: no P-256 point for ZGen\n");
		return -1;
	}
	EVP_PKEY_free(e);
	if (skr_tpm_open(tcti, &t, &err) < 0)
		die_err("zgen-only: TPM", &err);
	for (unsigned i = 0; i < runs; i++) {
		for (unsigned k = 0; k < 2; k++) {
			unsigned m = (i + k) % 2;
			struct skr_tpm_key key;
			double t0;
			int r;

			if (m == 1)
				setenv("SKR_TEST_ZGEN", "clear", 1);
			else
				unsetenv("SKR_TEST_ZGEN");
			if (skr_tpm_create_wrap_key(t, &key, &err) < 0)
				die_err("zgen-only: wrap key", &err);
			t0 = now_ms();
			r = skr_tpm_ecdh_zgen(t, &key, epk, z, &err);
			out[m][i] = now_ms() - t0;
			skr_tpm_key_flush(t, &key);
			if (r < 0)
				die_err("zgen-only: ZGen", &err);
		}
	}
	unsetenv("SKR_TEST_ZGEN");
	OPENSSL_cleanse(z, sizeof(z));
	return 0;
}

static int cmd_zgen_session(int argc, char **argv)
{
	struct release_args a = { .runs = 100, .warmup = 3 };
	_cleanup_buf_ struct skr_buf want = { 0 };
	struct skr_err err = { 0 };
	unsigned failures = 0, i, m;
	double *tpm[2], *total[2], *zgen[2], p50_tpm[2], p50_total[2], p50_zgen[2];
	static const char *const mode_name[2] = { "encrypted", "clear" };
	uint8_t *secret;
	json_object *j, *modes;

	if (parse_release_args(argc, argv, &a,
			       "usage: bench_release zgen-session --broker URL --ca PEM --tcti TCTI "
			       "--key-id ID --secret-hex HEX [--runs N] [--warmup N] --out JSON\n") != 0)
		return 2;
#ifndef SKR_TEST_FAULTS
	fprintf(stderr, "bench_release zgen-session: the clear path exists only in a build with "
			"-DSKR_TEST_FAULTS (bench/tpm_session.sh makes one)\n");
	return 1;
#endif
	if (skr_hex_decode(a.secret_hex, strlen(a.secret_hex), &want, "--secret-hex", &err) < 0)
		die_err("--secret-hex", &err);
	secret = skr_secret_alloc(SKR_RELEASE_MAX_SECRET);
	for (m = 0; m < 2; m++) {
		tpm[m] = calloc(a.runs, sizeof(double));
		total[m] = calloc(a.runs, sizeof(double));
		zgen[m] = calloc(a.runs, sizeof(double));
		if (!tpm[m] || !total[m] || !zgen[m])
			return 1;
	}
	if (!secret)
		return 1;
	for (i = 0; i < a.warmup + a.runs; i++) {
		for (unsigned k = 0; k < 2; k++) {
			struct skr_release_timing t = { 0 };
			size_t len = 0;

			m = (i + k) % 2;	/* AB, BA, AB, ...: neither always goes first */
			if (m == 1)
				setenv("SKR_TEST_ZGEN", "clear", 1);
			else
				unsetenv("SKR_TEST_ZGEN");
			skr_err_clear(&err);
			if (skr_release(&a.o, secret, &len, &t, &err) < 0 || len != want.len ||
			    memcmp(secret, want.data, len) != 0) {
				if (!failures++)
					fprintf(stderr, "bench_release: %s release %u failed: %s: %s\n",
						mode_name[m], i, skr_reason_name(err.reason), err.detail);
				continue;
			}
			if (i >= a.warmup) {
				tpm[m][i - a.warmup] = t.tpm_ms;
				total[m][i - a.warmup] = t.total_ms;
			}
		}
	}
	unsetenv("SKR_TEST_ZGEN");
	skr_secret_free(secret);
	if (zgen_only(a.o.tcti, a.runs, zgen) < 0)
		return 1;
	j = json_object_new_object();
	modes = json_object_new_object();
	json_object_object_add(j, "runs_per_mode", json_object_new_int((int)a.runs));
	json_object_object_add(j, "warmup_pairs", json_object_new_int((int)a.warmup));
	json_object_object_add(j, "failures", json_object_new_int((int)failures));
	for (m = 0; m < 2; m++) {
		json_object *r = json_object_new_object();

		qsort(tpm[m], a.runs, sizeof(double), cmp_double);
		qsort(total[m], a.runs, sizeof(double), cmp_double);
		p50_tpm[m] = percentile(tpm[m], a.runs, 50);
		p50_total[m] = percentile(total[m], a.runs, 50);
		json_object_object_add(r, "tpm_ms_p50", jnum(p50_tpm[m]));
		json_object_object_add(r, "tpm_ms_p90", jnum(percentile(tpm[m], a.runs, 90)));
		json_object_object_add(r, "tpm_ms_min", jnum(tpm[m][0]));
		json_object_object_add(r, "release_ms_p50", jnum(p50_total[m]));
		qsort(zgen[m], a.runs, sizeof(double), cmp_double);
		p50_zgen[m] = percentile(zgen[m], a.runs, 50);
		json_object_object_add(r, "zgen_only_ms_p50", jnum(p50_zgen[m]));
		json_object_object_add(r, "zgen_only_ms_min", jnum(zgen[m][0]));
		json_object_object_add(modes, mode_name[m], r);
		free(tpm[m]);
		free(total[m]);
		free(zgen[m]);
	}
	json_object_object_add(j, "modes", modes);
	json_object_object_add(j, "tpm_ms_p50_ratio_encrypted_over_clear",
			       jnum(p50_tpm[0] / p50_tpm[1]));
	json_object_object_add(j, "tpm_ms_p50_added_ms", jnum(p50_tpm[0] - p50_tpm[1]));
	json_object_object_add(j, "release_ms_p50_ratio_encrypted_over_clear",
			       jnum(p50_total[0] / p50_total[1]));
	json_object_object_add(j, "zgen_only_ms_p50_added_ms", jnum(p50_zgen[0] - p50_zgen[1]));
	if (write_json(a.out, j) < 0)
		return 1;
	json_object_put(j);
	fprintf(stderr, "zgen-session: %u runs each; TPM time p50 %.2f ms encrypted, %.2f ms clear "
			"(x%.3f); release p50 %.2f / %.2f ms; ZGen alone p50 %.2f / %.2f ms; "
			"%u failures\n",
		a.runs, p50_tpm[0], p50_tpm[1], p50_tpm[0] / p50_tpm[1], p50_total[0], p50_total[1],
		p50_zgen[0], p50_zgen[1], failures);
	return failures ? 1 : 0;
}

/* ---- load: many software VMs, N client threads --------------------------- */

struct bench_vm {
	struct skr_softvm vm;
	char key_id[32];
	uint8_t secret[SECRET_LEN];
};

struct load_cfg {
	const char *broker, *admin, *ca;
	struct bench_vm *vms;
	unsigned n_vms;
};

struct worker {
	const struct load_cfg *cfg;
	unsigned index, stride;
	pthread_barrier_t *start;
	atomic_bool *stop;
	/* Open loop (rate > 0): release k is due at *t0 + k / rate, whoever takes it. */
	double rate;
	const double *t0, *end;
	atomic_ulong *ticket;
	double *lat;		/* per release, ms */
	size_t n_lat, cap_lat;
	unsigned long ok, failures;
	char first_error[600];
	struct http http;
	bool connected;
};

static void worker_fail(struct worker *w, const char *step, const char *a, const char *b)
{
	if (!w->failures++)
		snprintf(w->first_error, sizeof(w->first_error), "%s: %s: %.400s", step, a, b);
}

/* One release as a VM does it: challenge, evidence, release, unwrap, compare. */
static int one_release(struct http *h, const struct load_cfg *cfg, struct bench_vm *bv,
		       struct worker *w)
{
	char body[256];
	json_object *resp = NULL, *n, *req = NULL;
	_cleanup_buf_ struct skr_buf nonce = { 0 };
	struct skr_err err = { 0 };
	uint8_t secret[SKR_RELEASE_MAX_SECRET];
	size_t len = 0;
	long st;
	int rc = -1;

	snprintf(body, sizeof(body), "{\"key_id\": \"%s\"}", bv->key_id);
	st = http_do(h, NULL, cfg->broker, "/v1/challenge", body, false);
	if (st != 200) {
		worker_fail(w, "challenge", st < 0 ? "transport" : "HTTP error",
			    st < 0 ? h->errbuf : (const char *)h->body.data);
		return -1;
	}
	resp = json_tokener_parse((const char *)h->body.data);
	if (!resp || !json_object_object_get_ex(resp, "nonce", &n) ||
	    skr_base64_decode(json_object_get_string(n), (size_t)json_object_get_string_len(n),
			      &nonce, "nonce", &err) < 0) {
		worker_fail(w, "challenge", "bad answer", (const char *)h->body.data);
		goto out;
	}
	json_object_put(resp);
	resp = NULL;
	if (skr_softvm_request(&bv->vm, bv->key_id, nonce.data, nonce.len, &req, &err) < 0) {
		worker_fail(w, "softvm", skr_reason_name(err.reason), err.detail);
		goto out;
	}
	st = http_do(h, NULL, cfg->broker, "/v1/release",
		     json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN), false);
	if (st != 200) {
		worker_fail(w, "release", st < 0 ? "transport" : "refused",
			    st < 0 ? h->errbuf : (const char *)h->body.data);
		goto out;
	}
	resp = json_tokener_parse((const char *)h->body.data);
	if (!resp || skr_softvm_unwrap(&bv->vm, resp, bv->key_id, nonce.data, nonce.len, secret,
				       &len, &err) < 0) {
		worker_fail(w, "unwrap", skr_reason_name(err.reason), err.detail);
		goto out;
	}
	if (len != SECRET_LEN || memcmp(secret, bv->secret, SECRET_LEN) != 0) {
		worker_fail(w, "unwrap", "mismatch", "secret differs from the registered one");
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	json_object_put(resp);
	json_object_put(req);
	return rc;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	unsigned next = w->index;

	/* The TLS handshake happens before the window opens (keep-alive afterwards). */
	w->connected = http_do(&w->http, NULL, w->cfg->broker, "/healthz", NULL, false) == 200;
	pthread_barrier_wait(w->start);
	while (!atomic_load(w->stop)) {
		double t0 = now_ms();

		if (w->rate > 0) {
			unsigned long k = atomic_fetch_add(w->ticket, 1);
			double due = *w->t0 + (double)k * 1000.0 / w->rate;

			if (due >= *w->end)
				break;
			while ((t0 = now_ms()) < due) {
				double wait = due - t0;
				struct timespec ts = { (time_t)(wait / 1000.0),
						       (long)(wait * 1e6) % 1000000000L };

				nanosleep(&ts, NULL);
			}
			/* Latency from when the release was due: queueing counts. */
			t0 = due;
		}
		if (one_release(&w->http, w->cfg, &w->cfg->vms[next], w) == 0) {
			if (w->n_lat == w->cap_lat) {
				size_t cap = w->cap_lat ? w->cap_lat * 2 : 4096;
				double *d = realloc(w->lat, cap * sizeof(*d));

				if (!d)
					abort();
				w->lat = d;
				w->cap_lat = cap;
			}
			w->lat[w->n_lat++] = now_ms() - t0;
			w->ok++;
		}
		next += w->stride;
		if (next >= w->cfg->n_vms)
			next = w->index;
	}
	return NULL;
}

/* utime + stime of a process, in seconds. */
static int proc_cpu_s(long pid, double *out)
{
	char path[64], buf[4096], *p;
	unsigned long long ut = 0, st = 0;
	FILE *f;
	size_t n;
	int field;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');	/* comm may hold spaces */
	if (!p)
		return -1;
	/* After ")": field 3 (state) ... field 14 utime, 15 stime. */
	for (field = 2; field < 13 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu %llu", &ut, &st) != 2)
		return -1;
	*out = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
	return 0;
}

static double self_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/*
 * One window at a concurrency, closed loop (rate 0: each thread starts its next
 * release when the last one ends) or open loop at `rate` releases/s; returns
 * its row, *failures added.
 */
static json_object *run_window(const struct load_cfg *cfg, unsigned conc, double rate,
			       double seconds, long broker_pid, unsigned long *failures,
			       double *rate_wall, double *rate_cpu, double *p99_out)
{
	struct worker w[MAX_CONC];
	pthread_t th[MAX_CONC];
	pthread_barrier_t start;
	atomic_bool stop = false;
	atomic_ulong ticket = 0;
	double cpu0, cpu1, self0, self1, t0, t1, *all, p50, p99, mean = 0, open_t0, open_end;
	unsigned long ok = 0, fails = 0;
	size_t n = 0, k;
	unsigned i;
	json_object *row;

	pthread_barrier_init(&start, NULL, conc + 1);
	for (i = 0; i < conc; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].cfg = cfg;
		w[i].index = i;
		w[i].stride = conc;
		w[i].start = &start;
		w[i].stop = &stop;
		w[i].rate = rate;
		w[i].t0 = &open_t0;
		w[i].end = &open_end;
		w[i].ticket = &ticket;
		if (http_init(&w[i].http, cfg->ca, NULL) < 0) {
			fprintf(stderr, "bench_release: curl init failed\n");
			exit(1);
		}
		if (pthread_create(&th[i], NULL, worker_main, &w[i]) != 0) {
			fprintf(stderr, "bench_release: pthread_create failed\n");
			exit(1);
		}
	}
	/* Set before the barrier releases the workers, read by them after it. */
	open_t0 = now_ms() + 5;
	open_end = open_t0 + seconds * 1000.0;
	pthread_barrier_wait(&start);
	if (proc_cpu_s(broker_pid, &cpu0) < 0) {
		fprintf(stderr, "bench_release: cannot read /proc/%ld/stat\n", broker_pid);
		exit(1);
	}
	self0 = self_cpu_s();
	t0 = now_ms();
	while (now_ms() - t0 < seconds * 1000.0) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
	atomic_store(&stop, true);
	for (i = 0; i < conc; i++)
		pthread_join(th[i], NULL);
	t1 = now_ms();
	self1 = self_cpu_s();
	if (proc_cpu_s(broker_pid, &cpu1) < 0) {
		fprintf(stderr, "bench_release: the broker (pid %ld) went away\n", broker_pid);
		exit(1);
	}
	pthread_barrier_destroy(&start);
	for (i = 0; i < conc; i++) {
		ok += w[i].ok;
		fails += w[i].failures;
		n += w[i].n_lat;
		if (!w[i].connected)
			fails++;
	}
	all = malloc((n ? n : 1) * sizeof(double));
	if (!all)
		exit(1);
	for (i = 0, k = 0; i < conc; i++) {
		memcpy(all + k, w[i].lat, w[i].n_lat * sizeof(double));
		k += w[i].n_lat;
	}
	qsort(all, n, sizeof(double), cmp_double);
	for (k = 0; k < n; k++)
		mean += all[k];
	mean = n ? mean / (double)n : 0;
	p50 = percentile(all, n, 50);
	p99 = percentile(all, n, 99);
	*rate_wall = (double)ok / ((t1 - t0) / 1000.0);
	*rate_cpu = cpu1 - cpu0 > 0 ? (double)ok / (cpu1 - cpu0) : 0;
	*p99_out = p99;
	*failures += fails;

	row = json_object_new_object();
	json_object_object_add(row, "concurrency", json_object_new_int((int)conc));
	if (rate > 0)
		json_object_object_add(row, "offered_releases_per_s", jnum(rate));
	json_object_object_add(row, "releases", json_object_new_int64((int64_t)ok));
	json_object_object_add(row, "failures", json_object_new_int64((int64_t)fails));
	json_object_object_add(row, "wall_s", jnum((t1 - t0) / 1000.0));
	json_object_object_add(row, "broker_cpu_s", jnum(cpu1 - cpu0));
	json_object_object_add(row, "loadgen_cpu_s", jnum(self1 - self0));
	json_object_object_add(row, "releases_per_s", jnum(*rate_wall));
	json_object_object_add(row, "releases_per_broker_cpu_s", jnum(*rate_cpu));
	json_object_object_add(row, "latency_ms_p50", jnum(p50));
	json_object_object_add(row, "latency_ms_p99", jnum(p99));
	json_object_object_add(row, "latency_ms_mean", jnum(mean));
	fprintf(stderr,
		"load: %s c=%-2u %6lu releases in %.1f s = %7.1f/s wall, broker cpu %.2f s -> %7.1f "
		"releases/cpu-s, loadgen cpu %.2f s, p50 %.2f ms p99 %.2f ms, %lu failures\n",
		rate > 0 ? "open" : "closed", conc, ok, (t1 - t0) / 1000.0, *rate_wall, cpu1 - cpu0, *rate_cpu, self1 - self0, p50,
		p99, fails);
	for (i = 0; i < conc; i++) {
		if (w[i].failures)
			fprintf(stderr, "load: c=%u thread %u: %lu failures, first: %s\n", conc, i,
				w[i].failures, w[i].first_error);
		http_free(&w[i].http);
		free(w[i].lat);
	}
	free(all);
	return row;
}

static int register_vm(struct http *h, const char *admin, struct bench_vm *bv)
{
	_cleanup_free_ char *b64 = skr_base64_encode(bv->secret, SECRET_LEN);
	json_object *pcrs = skr_pcr_banks_to_json(&bv->vm.pcrs);
	char path[128];
	char *body;
	long st;
	int rc = 0;

	if (!b64 || !pcrs)
		return -1;
	if (asprintf(&body, "{\"key_id\": \"%s\", \"secret\": \"%s\", \"policy\": %s}", bv->key_id,
		     b64, BENCH_POLICY) < 0)
		return -1;
	st = http_do(h, NULL, admin, "/v1/keys", body, true);
	free(body);
	if (st == 409) {	/* left over from an earlier run on the same database */
		snprintf(path, sizeof(path), "/v1/keys/%s", bv->key_id);
		http_do(h, "DELETE", admin, path, NULL, true);
		if (asprintf(&body, "{\"key_id\": \"%s\", \"secret\": \"%s\", \"policy\": %s}",
			     bv->key_id, b64, BENCH_POLICY) < 0)
			return -1;
		st = http_do(h, NULL, admin, "/v1/keys", body, true);
		free(body);
	}
	if (st != 201) {
		fprintf(stderr, "bench_release: creating %s: %ld %s %s\n", bv->key_id, st,
			h->errbuf, h->body.data ? (char *)h->body.data : "");
		rc = -1;
	}
	snprintf(path, sizeof(path), "/v1/keys/%s/refsets", bv->key_id);
	if (rc == 0 &&
	    asprintf(&body, "{\"label\": \"bench\", \"state\": \"current\", \"pcrs\": %s}",
		     json_object_to_json_string_ext(pcrs, JSON_C_TO_STRING_PLAIN)) >= 0) {
		st = http_do(h, NULL, admin, path, body, true);
		free(body);
		if (st != 201) {
			fprintf(stderr, "bench_release: refset of %s: %ld %s\n", bv->key_id, st,
				h->body.data ? (char *)h->body.data : "");
			rc = -1;
		}
	}
	json_object_put(pcrs);
	return rc;
}

static int parse_list(const char *s, unsigned *out, unsigned max)
{
	unsigned n = 0;
	char *end;

	while (*s && n < max) {
		unsigned long v = strtoul(s, &end, 10);

		if (end == s || v == 0 || v > MAX_CONC)
			return -1;
		out[n++] = (unsigned)v;
		s = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			return -1;
	}
	return (int)n;
}

static double fabs_diff(double a, double b)
{
	return a > b ? a - b : b - a;
}

static int cmd_load(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "broker", required_argument, NULL, 'b' },
		{ "admin", required_argument, NULL, 'a' },
		{ "token-file", required_argument, NULL, 'T' },
		{ "ca", required_argument, NULL, 'c' },
		{ "cadir", required_argument, NULL, 'C' },
		{ "broker-pid", required_argument, NULL, 'p' },
		{ "vms", required_argument, NULL, 'v' },
		{ "duration", required_argument, NULL, 'd' },
		{ "concurrency", required_argument, NULL, 'n' },
		{ "half-threads", required_argument, NULL, 'H' },
		{ "ready-file", required_argument, NULL, 'R' },
		{ "out", required_argument, NULL, 'o' },
		{ 0 },
	};
	struct load_cfg cfg = { 0 };
	const char *token_file = NULL, *cadir = NULL, *out = NULL, *conc_list = "1,2,4,8,16";
	const char *ready_file = NULL;
	unsigned conc[16], n_conc, i, best = 0, half = 0;
	double duration = 10, rates[16], cpu_rates[16], p99s[16], t0;
	unsigned long failures = 0;
	long broker_pid = 0;
	_cleanup_buf_ struct skr_buf token = { 0 };
	struct skr_test_chain ca;
	struct skr_err err = { 0 };
	struct http admin;
	json_object *j, *table, *half_row;
	unsigned half_threads = 8;
	int c;

	cfg.n_vms = 64;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			cfg.broker = optarg;
			break;
		case 'a':
			cfg.admin = optarg;
			break;
		case 'T':
			token_file = optarg;
			break;
		case 'c':
			cfg.ca = optarg;
			break;
		case 'C':
			cadir = optarg;
			break;
		case 'p':
			broker_pid = strtol(optarg, NULL, 10);
			break;
		case 'v':
			cfg.n_vms = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'd':
			duration = strtod(optarg, NULL);
			break;
		case 'n':
			conc_list = optarg;
			break;
		case 'H':
			half_threads = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'R':
			ready_file = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		default:
			return 2;
		}
	}
	n_conc = 0;
	if (cfg.broker && (c = parse_list(conc_list, conc, 16)) > 0)
		n_conc = (unsigned)c;
	if (!cfg.broker || !cfg.admin || !token_file || !cfg.ca || !cadir || broker_pid <= 0 ||
	    !cfg.n_vms || cfg.n_vms > MAX_VMS || duration <= 0 || !n_conc || !out ||
	    half_threads > MAX_CONC) {
		fprintf(stderr, "usage: bench_release load --broker URL --admin URL --token-file F "
				"--ca PEM --cadir DIR --broker-pid PID [--vms N] [--duration S] "
				"[--concurrency 1,2,...] [--half-threads N (0: none)] [--ready-file F] --out JSON\n");
		return 2;
	}
	/* Each thread owns its VMs (i = thread, thread + C, ...): no VM is shared. */
	for (i = 0; i < n_conc; i++)
		if (conc[i] > cfg.n_vms || half_threads > cfg.n_vms) {
			fprintf(stderr, "bench_release: --vms must be at least every concurrency\n");
			return 2;
		}
	if (skr_read_file(token_file, 4096, &token, &err) < 0)
		die_err("admin token", &err);
	while (token.len && (token.data[token.len - 1] == '\n' || token.data[token.len - 1] == ' '))
		token.data[--token.len] = 0;

	/* The VMs: one CA, each VM its own VCEK (chip id from its seed), AK and wrap key. */
	t0 = now_ms();
	memset(&ca, 0, sizeof(ca));
	snprintf(ca.product, sizeof(ca.product), "Milan");
	ca.ark_key = read_key(cadir, "ark-key.pem");
	ca.ask_key = read_key(cadir, "ask-key.pem");
	cfg.vms = calloc(cfg.n_vms, sizeof(*cfg.vms));
	if (!cfg.vms || http_init(&admin, cfg.ca, (const char *)token.data) < 0)
		return 1;
	for (i = 0; i < cfg.n_vms; i++) {
		struct bench_vm *bv = &cfg.vms[i];

		if (skr_softvm_new_on(&bv->vm, &ca, i + 1, &err) < 0)
			die_err("software VM", &err);
		snprintf(bv->key_id, sizeof(bv->key_id), "bench-vm-%03u", i);
		if (RAND_bytes(bv->secret, SECRET_LEN) != 1 || register_vm(&admin, cfg.admin, bv) < 0)
			return 1;
	}
	fprintf(stderr, "load: %u software VMs created and registered in %.1f s\n", cfg.n_vms,
		(now_ms() - t0) / 1000.0);

	/* Warm-up: every VM once (fills the broker's caches, proves the setup). */
	{
		struct worker w0 = { .cfg = &cfg };

		for (i = 0; i < cfg.n_vms; i++)
			if (one_release(&admin, &cfg, &cfg.vms[i], &w0) < 0) {
				fprintf(stderr, "bench_release: warm-up release of %s failed: %s\n",
					cfg.vms[i].key_id, w0.first_error);
				return 1;
			}
	}

	/* Tells a profiler that setup is over and the measured windows begin. */
	if (ready_file) {
		FILE *f = fopen(ready_file, "w");

		if (f)
			fclose(f);
	}
	table = json_object_new_array();
	for (i = 0; i < n_conc; i++) {
		json_object_array_add(table, run_window(&cfg, conc[i], 0, duration, broker_pid,
							&failures, &rates[i], &cpu_rates[i], &p99s[i]));
		if (cpu_rates[i] > cpu_rates[best])
			best = i;
	}
	/*
	 * Half load.  The concurrency whose throughput is closest to half the
	 * maximum is recorded, but a closed loop's throughput can be flat in the
	 * concurrency (here one fdatasync per release serialises the broker), so
	 * the reported p99 comes from an open-loop window offered exactly half the
	 * maximum throughput, latency counted from when each release was due.
	 */
	{
		double max = 0, hrate = 0, hcpu = 0, hp99 = 0;

		for (i = 0; i < n_conc; i++)
			if (rates[i] > max)
				max = rates[i];
		for (i = 0; i < n_conc; i++)
			if (fabs_diff(rates[i], max / 2) < fabs_diff(rates[half], max / 2))
				half = i;
		j = json_object_new_object();
		if (half_threads) {
			double cal_rate = 0, cal_cpu = 0, cal_p99 = 0, offered;
			unsigned top = 0;

			/*
			 * The sweep's maximum may be a lucky window on a shared machine:
			 * measure it again (5 s at the same concurrency) just before, and
			 * offer half of the smaller of the two.
			 */
			for (i = 0; i < n_conc; i++)
				if (rates[i] > rates[top])
					top = i;
			json_object_put(run_window(&cfg, conc[top], 0, 5, broker_pid, &failures,
						   &cal_rate, &cal_cpu, &cal_p99));
			offered = (cal_rate < max ? cal_rate : max) / 2;
			half_row = run_window(&cfg, half_threads, offered, duration, broker_pid, &failures,
					      &hrate, &hcpu, &hp99);
			json_object_object_add(j, "recalibrated_max_releases_per_s", jnum(cal_rate));
			/* Kept up with the offered rate: otherwise the p99 is a queue's, not a half load's. */
			json_object_object_add(j, "half_load_sustained",
					       json_object_new_boolean(hrate >= 0.95 * offered));
			json_object_object_add(j, "release_p99_ms_at_half_load", jnum(hp99));
			json_object_object_add(j, "half_load_offered_releases_per_s", jnum(offered));
			json_object_object_add(j, "half_load_releases_per_s", jnum(hrate));
			json_object_object_add(j, "half_load_threads", json_object_new_int((int)half_threads));
			json_object_object_add(j, "half_load_window", half_row);
		}
		json_object_object_add(j, "max_releases_per_s", jnum(max));
		json_object_object_add(j, "closest_to_half_concurrency", json_object_new_int((int)conc[half]));
		json_object_object_add(j, "closest_to_half_releases_per_s", jnum(rates[half]));
		json_object_object_add(j, "closest_to_half_p99_ms", jnum(p99s[half]));
	}
	json_object_object_add(j, "vms", json_object_new_int((int)cfg.n_vms));
	json_object_object_add(j, "duration_s", jnum(duration));
	json_object_object_add(j, "failures", json_object_new_int64((int64_t)failures));
	json_object_object_add(j, "broker_releases_per_s_per_core", jnum(cpu_rates[best]));
	json_object_object_add(j, "best_concurrency", json_object_new_int((int)conc[best]));
	json_object_object_add(j, "concurrency_table", table);
	if (write_json(out, j) < 0)
		return 1;
	json_object_put(j);
	http_free(&admin);
	for (i = 0; i < cfg.n_vms; i++)
		skr_softvm_free(&cfg.vms[i].vm);
	free(cfg.vms);
	EVP_PKEY_free(ca.ark_key);
	EVP_PKEY_free(ca.ask_key);
	return failures ? 1 : 0;
}

/* ---- floor: the crypto a release cannot avoid ------------------------------ */

static EVP_PKEY *floor_keygen(const char *type, const char *arg)
{
	EVP_PKEY *k = strcmp(type, "RSA") == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
					       : EVP_PKEY_Q_keygen(NULL, NULL, type, arg);

	if (!k) {
		fprintf(stderr, "bench_release: %s key generation failed\n", type);
		exit(1);
	}
	return k;
}

static void floor_sign(EVP_PKEY *k, const EVP_MD *md, const uint8_t *msg, size_t len,
		       uint8_t *sig, size_t *siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (!ctx || EVP_DigestSignInit(ctx, NULL, md, NULL, k) != 1 ||
	    EVP_DigestSign(ctx, sig, siglen, msg, len) != 1) {
		fprintf(stderr, "bench_release: signing failed\n");
		exit(1);
	}
	EVP_MD_CTX_free(ctx);
}

static bool floor_verify(EVP_PKEY *k, const EVP_MD *md, const uint8_t *msg, size_t len,
			 const uint8_t *sig, size_t siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, md, NULL, k) == 1 &&
		  EVP_DigestVerify(ctx, sig, siglen, msg, len) == 1;

	EVP_MD_CTX_free(ctx);
	return ok;
}

static bool floor_wrap(EVP_PKEY *peer)
{
	EVP_PKEY *eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY_CTX *ctx = eph ? EVP_PKEY_CTX_new_from_pkey(NULL, eph, NULL) : NULL;
	uint8_t z[32];
	size_t zlen = sizeof(z);
	bool ok = ctx && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, peer) == 1 &&
		  EVP_PKEY_derive(ctx, z, &zlen) == 1 && zlen == 32;

	OPENSSL_cleanse(z, sizeof(z));
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(eph);
	return ok;
}

static int cmd_floor(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "out", required_argument, NULL, 'o' },
		{ 0 },
	};
	const char *out = NULL;
	double seconds = 3, t0, t, acc[3] = { 0 }, elapsed;
	uint8_t report[0x2A0], quote[145], certify[161];
	uint8_t sig_snp[128], sig_q[256], sig_c[256];
	size_t len_snp = sizeof(sig_snp), len_q = sizeof(sig_q), len_c = sizeof(sig_c);
	EVP_PKEY *vcek, *ak, *wrap;
	unsigned long sets = 0;
	json_object *j;
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 's')
			seconds = strtod(optarg, NULL);
		else if (c == 'o')
			out = optarg;
		else
			return 2;
	}
	if (seconds <= 0 || !out) {
		fprintf(stderr, "usage: bench_release floor [--seconds S] --out JSON\n");
		return 2;
	}
	/* Message sizes as in a release: the signed SNP report part, a quote and a certify. */
	vcek = floor_keygen("EC", "P-384");
	ak = floor_keygen("RSA", NULL);
	wrap = floor_keygen("EC", "P-256");
	RAND_bytes(report, sizeof(report));
	RAND_bytes(quote, sizeof(quote));
	RAND_bytes(certify, sizeof(certify));
	floor_sign(vcek, EVP_sha384(), report, sizeof(report), sig_snp, &len_snp);
	floor_sign(ak, EVP_sha256(), quote, sizeof(quote), sig_q, &len_q);
	floor_sign(ak, EVP_sha256(), certify, sizeof(certify), sig_c, &len_c);

	t0 = now_ms();
	do {
		t = now_ms();
		if (!floor_verify(vcek, EVP_sha384(), report, sizeof(report), sig_snp, len_snp))
			goto bad;
		acc[0] += now_ms() - t;
		t = now_ms();
		if (!floor_verify(ak, EVP_sha256(), quote, sizeof(quote), sig_q, len_q) ||
		    !floor_verify(ak, EVP_sha256(), certify, sizeof(certify), sig_c, len_c))
			goto bad;
		acc[1] += now_ms() - t;
		t = now_ms();
		if (!floor_wrap(wrap))
			goto bad;
		acc[2] += now_ms() - t;
		sets++;
	} while (now_ms() - t0 < seconds * 1000.0);
	elapsed = (now_ms() - t0) / 1000.0;

	j = json_object_new_object();
	json_object_object_add(j, "crypto_floor_per_s_per_core", jnum((double)sets / elapsed));
	json_object_object_add(j, "sets", json_object_new_int64((int64_t)sets));
	json_object_object_add(j, "seconds", jnum(elapsed));
	json_object_object_add(j, "ecdsa_p384_verify_us", jnum(acc[0] * 1000.0 / (double)sets));
	json_object_object_add(j, "rsa2048_verify_x2_us", jnum(acc[1] * 1000.0 / (double)sets));
	json_object_object_add(j, "p256_keygen_ecdh_us", jnum(acc[2] * 1000.0 / (double)sets));
	if (write_json(out, j) < 0)
		return 1;
	json_object_put(j);
	fprintf(stderr, "floor: %lu sets in %.2f s = %.1f/s (P-384 verify %.1f us, 2 RSA-2048 "
			"verifies %.1f us, P-256 keygen+ECDH %.1f us)\n",
		sets, elapsed, (double)sets / elapsed, acc[0] * 1000.0 / (double)sets,
		acc[1] * 1000.0 / (double)sets, acc[2] * 1000.0 / (double)sets);
	EVP_PKEY_free(vcek);
	EVP_PKEY_free(ak);
	EVP_PKEY_free(wrap);
	return 0;
bad:
	fprintf(stderr, "bench_release: a floor operation failed\n");
	return 1;
}

/* ---- verify: the broker's verification of one release, in-process --------- */

/*
 * One release as the broker verifies it, without HTTP, TLS, JSON body
 * parsing or the database: the evidence decoded from its JSON, verified
 * (SNP report signature, the VCEK chain through a warm chain cache as the
 * broker keeps it, the claims, the quote), the wrap key's certify checked
 * and the secret wrapped to it.  The same evidence every time: the floor
 * a broker's per-core throughput is measured against.
 */
static int verify_once(json_object *evj, const struct skr_amd_trust *trust,
		       struct skr_chain_cache *cache, const uint8_t *nonce, size_t nonce_len,
		       struct skr_err *err)
{
	static const uint8_t secret[SECRET_LEN] = "verify-floor-secret-0123456789ab";
	struct skr_evidence ev = { 0 };
	struct skr_evidence_result res = { 0 };
	struct skr_evidence_policy pol = { .trust = trust, .nonce = nonce, .nonce_len = nonce_len,
					   .chain_cache = cache };
	struct skr_wrapped w;
	EVP_PKEY *wrap_pub = NULL;
	int rc = -1;

	if (skr_evidence_from_json(evj, &ev, err) < 0 || skr_evidence_verify(&ev, &pol, &res, err) < 0 ||
	    skr_wrap_key_verify(ev.wrap_public.data, ev.wrap_public.len, ev.wrap_certify_attest.data,
				ev.wrap_certify_attest.len, ev.wrap_certify_signature.data,
				ev.wrap_certify_signature.len, res.ak, nonce, nonce_len, &wrap_pub,
				err) < 0 ||
	    skr_wrap(wrap_pub, nonce, nonce_len, "bench-verify", secret, sizeof(secret), &w, err) < 0)
		goto out;
	rc = 0;
out:
	EVP_PKEY_free(wrap_pub);
	skr_evidence_result_free(&res);
	skr_evidence_free(&ev);
	return rc;
}

static int cmd_verify(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "out", required_argument, NULL, 'o' },
		{ 0 },
	};
	const char *out = NULL;
	double seconds = 3, t0, elapsed, cpu0;
	struct skr_softvm vm;
	struct skr_amd_trust trust;
	struct skr_chain_cache cache;
	struct skr_buf pem = { 0 };
	struct skr_err err = { 0 };
	uint8_t nonce[32];
	json_object *req = NULL, *evj, *j;
	unsigned long n = 0;
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 's')
			seconds = strtod(optarg, NULL);
		else if (c == 'o')
			out = optarg;
		else
			return 2;
	}
	if (seconds <= 0 || !out) {
		fprintf(stderr, "usage: bench_release verify [--seconds S] --out JSON\n");
		return 2;
	}
	RAND_bytes(nonce, sizeof(nonce));
	skr_chain_cache_init(&cache);
	if (skr_softvm_new(&vm, &err) < 0 || skr_amd_trust_init(&trust, false, &err) < 0 ||
	    skr_softvm_trust_pem(&vm, &pem, &err) < 0 ||
	    skr_amd_trust_add_pem(&trust, pem.data, pem.len, &err) < 0 ||
	    skr_softvm_request(&vm, "bench-verify", nonce, sizeof(nonce), &req, &err) < 0)
		die_err("verify setup", &err);
	if (!json_object_object_get_ex(req, "evidence", &evj)) {
		fprintf(stderr, "bench_release: the request has no evidence\n");
		return 1;
	}
	/* Warm-up: the chain cache holds the VCEK's chain from here on, as in the broker. */
	if (verify_once(evj, &trust, &cache, nonce, sizeof(nonce), &err) < 0)
		die_err("verify", &err);
	cpu0 = self_cpu_s();
	t0 = now_ms();
	do {
		if (verify_once(evj, &trust, &cache, nonce, sizeof(nonce), &err) < 0)
			die_err("verify", &err);
		n++;
	} while (now_ms() - t0 < seconds * 1000.0);
	elapsed = self_cpu_s() - cpu0;

	j = json_object_new_object();
	json_object_object_add(j, "verify_floor_per_s_per_core", jnum((double)n / elapsed));
	json_object_object_add(j, "verify_us", jnum(elapsed * 1e6 / (double)n));
	json_object_object_add(j, "releases", json_object_new_int64((int64_t)n));
	json_object_object_add(j, "cpu_seconds", jnum(elapsed));
	if (write_json(out, j) < 0)
		return 1;
	json_object_put(j);
	fprintf(stderr, "verify floor: %lu releases verified in %.2f CPU s = %.1f per core-second "
			"(%.1f us each)\n", n, elapsed, (double)n / elapsed, elapsed * 1e6 / (double)n);
	json_object_put(req);
	skr_buf_free(&pem);
	skr_chain_cache_free(&cache);
	skr_amd_trust_free(&trust);
	skr_softvm_free(&vm);
	return 0;
}

int main(int argc, char **argv)
{
	int rc;

	if (argc < 2) {
		fprintf(stderr, "usage: bench_release mkca|latency|zgen-session|load|floor|verify ...\n");
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (strcmp(argv[1], "mkca") == 0)
		rc = cmd_mkca(argc - 1, argv + 1);
	else if (strcmp(argv[1], "latency") == 0)
		rc = cmd_latency(argc - 1, argv + 1);
	else if (strcmp(argv[1], "zgen-session") == 0)
		rc = cmd_zgen_session(argc - 1, argv + 1);
	else if (strcmp(argv[1], "load") == 0)
		rc = cmd_load(argc - 1, argv + 1);
	else if (strcmp(argv[1], "floor") == 0)
		rc = cmd_floor(argc - 1, argv + 1);
	else if (strcmp(argv[1], "verify") == 0)
		rc = cmd_verify(argc - 1, argv + 1);
	else {
		fprintf(stderr, "bench_release: unknown mode %s\n", argv[1]);
		rc = 2;
	}
	curl_global_cleanup();
	return rc;
}
