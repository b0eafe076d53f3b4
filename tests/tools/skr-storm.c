/* SPDX-License-Identifier: Apache-2.0 */
/*
 * skr-storm: a boot storm of software VMs against several broker replicas,
 * each VM given every replica's URL.  Test-only (tests/cli/test_broker_storm.sh
 * drives it), never installed.
 *
 *   skr-storm --dir DIR [--vms N] [--releases N] [--deadline-ms MS] [--replay N]
 *   skr-storm --dir DIR --steps
 *
 * 1. Makes a test AMD CA and N software VMs on it (tests/helpers/softvm.h),
 *    writes the bundle a broker must trust to DIR/trust.pem, then waits (at
 *    most 120 s) for DIR/go: the admin URL, the admin token file, the brokers'
 *    TLS CA (PEM file), then one release URL per line.
 * 2. Registers each VM as its own key (storm-vm-NNN, a random 32-byte secret,
 *    its PCRs as the current reference set) through the admin API.
 * 3. One thread per VM; the threads take releases from one counter until
 *    --releases are done.  A release follows the real client's rule
 *    (src/vm/release_client.c, with its transport and answer checks): a
 *    challenge, evidence, the release, at one URL; on broker_unreachable
 *    (connection refused or cut, TLS failure, timeout, any 5xx) the next URL
 *    with a fresh challenge, a backoff after each full round, until the
 *    release's deadline; any other failure ends the release.  VM i's list
 *    starts at URL i mod n (a fleet spreads its VMs' lists).  The secret must
 *    equal the registered one byte for byte.  Successes after DIR/mark
 *    appears (the script makes it once the killed replica is back) are
 *    counted apart per URL.
 * 4. The last --replay successful requests are posted again to every URL:
 *    each must be refused 403 nonce_replayed.
 *
 * Writes DIR/latency.txt, one line per successful release in ticket order:
 * its duration in milliseconds as the VM saw it, from the first challenge to
 * the secret checked, every retry and backoff included (bench/storm.sh);
 * DIR/ok.txt, one line per successful release: the SHA-256 of its
 * release request body (the audit row's evidence_digest) and of its nonce
 * (the used_nonces key), hex; DIR/lost.txt: the SHA-256 of each release
 * request sent whose answer did not come (transport failure) or was a 5xx,
 * which the broker may have committed before it died.  Prints one line:
 *   storm: releases=N ok=N failed=N attempts=N retries=N lost=N wall_s=S
 *          per_url=a,b,c after_mark=a,b,c replays_refused=N/N
 * DIR/refused.txt: one line per release answered 5xx: the SHA-256 of its
 * request body, the HTTP status and the answer's "reason" ("-" if none).
 * Exit status: 0 every release succeeded and every replay was refused,
 * 1 otherwise, 2 usage.
 *
 * --steps: one VM (storm-vm-000) at the first URL, driven one step at a time
 * by lines on stdin (a test that moves the broker's clock between steps),
 * each answered by one line on stdout:
 *   challenge NAME   a challenge; its release request kept as NAME (16 at most)
 *                    -> "challenge NAME expires=UNIX"
 *   release NAME     NAME's request posted (again, for a replay)
 *                    -> "release NAME 200" (the secret checked; ok.txt line)
 *                       or "release NAME STATUS REASON"
 * A step that cannot run answers "error NAME DETAIL".  Exit 0 at end of input.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/pcr_json.h"
#include "common/util.h"
#include "softvm.h"
#include "testchain.h"
#include "vm/broker_answer.h"
#include "vm/https.h"

#define MAX_URLS 8
#define MAX_VMS 256
#define MAX_REPLAY 16
#define SECRET_LEN 32
#define CONNECT_MS 3000
#define BACKOFF_FIRST_MS 200
#define BACKOFF_MAX_MS 5000
#define POLICY                                                                           \
	"{\"tee\": \"az-snp-vtpm\", \"snp\": {\"min_tcb\": {\"bootloader\": 3, \"tee\": 0, " \
	"\"snp\": 8, \"microcode\": 115}}, \"pcrs\": {\"bank\": \"sha256\", \"indexes\": [0, 7, 11]}}"

struct storm_vm {
	struct skr_softvm vm;
	unsigned index;
	char key_id[32];
	uint8_t secret[SECRET_LEN];
};

struct storm {
	const char *dir;
	char admin[256], token[256], ca_file[512], mark[512];
	char *urls[MAX_URLS];
	unsigned n_urls, n_vms, deadline_ms;
	unsigned long releases;
	struct storm_vm *vms;
	atomic_ulong ticket, ok, failed, attempts, lost;
	atomic_ulong per_url[MAX_URLS], after_mark[MAX_URLS];
	pthread_mutex_t lock;		/* the files and the replay ring */
	FILE *ok_f, *lost_f, *refused_f;
	char *replay[MAX_REPLAY];	/* the last successful requests */
	unsigned replay_next;
	float *lat_ms;			/* per ticket: a success's duration, 0 otherwise */
};

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void sha256_hex(const void *data, size_t len, char hex[65])
{
	uint8_t d[32];
	size_t i;

	EVP_Digest(data, len, d, NULL, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

static unsigned left_ms(double deadline)
{
	double left = deadline - now_ms();

	return left < 1 ? 1 : (unsigned)left;
}

/* The "reason" of an error answer's body, "-" if it has none. */
static void answer_reason(const struct skr_buf *ans, char reason[64])
{
	json_tokener *tok = json_tokener_new();
	json_object *o = NULL, *v;

	snprintf(reason, 64, "-");
	if (tok && ans->data && ans->len < 65536)
		o = json_tokener_parse_ex(tok, (const char *)ans->data, (int)ans->len);
	if (o && json_object_object_get_ex(o, "reason", &v) &&
	    json_object_is_type(v, json_type_string))
		snprintf(reason, 64, "%s", json_object_get_string(v));
	json_object_put(o);
	if (tok)
		json_tokener_free(tok);
}

/*
 * The real client's post(): 0 only for a 200 answer that is one JSON object.
 * status_out and reason_out (either may be NULL): the HTTP status (0 when
 * none came) and, for an error answer, its "reason".
 */
static int post_ex(const char *url, const char *path, const char *body, const char *ca_file,
		   double deadline, json_object **resp, long *status_out, char *reason_out,
		   struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf ans = { 0 };
	struct skr_https_ca ca = { .file = ca_file };
	unsigned left = left_ms(deadline);
	long status = 0;

	*resp = NULL;
	if (status_out)
		*status_out = 0;
	if (reason_out)
		snprintf(reason_out, 64, "-");
	if (skr_https_post_json(url, path, body, &ca, left < CONNECT_MS ? left : CONNECT_MS, left,
				&status, &ans, err) < 0)
		return -1;
	if (status_out)
		*status_out = status;
	if (reason_out && status != 200)
		answer_reason(&ans, reason_out);
	if (status >= 500 && status <= 599)
		return skr_answer_failure(url, path, status, NULL, err);
	if (skr_answer_parse_body(url, ans.data, ans.len, resp, err) < 0)
		return status == 200 ? -1 : skr_answer_failure(url, path, status, NULL, err);
	if (status != 200) {
		skr_answer_failure(url, path, status, *resp, err);
		json_object_put(*resp);
		*resp = NULL;
		return -1;
	}
	return 0;
}

static int post(const char *url, const char *path, const char *body, const char *ca_file,
		double deadline, json_object **resp, struct skr_err *err)
{
	return post_ex(url, path, body, ca_file, deadline, resp, NULL, NULL, err);
}

static void record(struct storm *s, FILE *f, const char *line, const char *body)
{
	pthread_mutex_lock(&s->lock);
	/* Flushed: the scripts count these files' lines while the storm runs. */
	fputs(line, f);
	fflush(f);
	if (body) {
		free(s->replay[s->replay_next]);
		s->replay[s->replay_next] = strdup(body);
		s->replay_next = (s->replay_next + 1) % MAX_REPLAY;
	}
	pthread_mutex_unlock(&s->lock);
}

/* The release request for this VM, after a challenge at url. */
static int request(struct storm *s, struct storm_vm *v, const char *url, double deadline,
		   struct skr_challenge *ch, json_object **req, struct skr_err *err)
{
	char body[96];
	json_object *resp = NULL;
	int rc;

	snprintf(body, sizeof(body), "{\"key_id\": \"%s\"}", v->key_id);
	if (post(url, "/v1/challenge", body, s->ca_file, deadline, &resp, err) < 0)
		return -1;
	rc = skr_answer_challenge(url, resp, ch, err);
	json_object_put(resp);
	if (rc < 0)
		return -1;
	return skr_softvm_request(&v->vm, v->key_id, ch->nonce, sizeof(ch->nonce), req, err);
}

/* One attempt at one URL: 0 released (the secret checked). */
static int attempt(struct storm *s, struct storm_vm *v, unsigned u, double deadline,
		   struct skr_err *err)
{
	const char *url = s->urls[u];
	struct skr_challenge ch;
	json_object *req = NULL, *resp = NULL;
	uint8_t secret[SKR_WRAP_MAX_SECRET];
	char line[200], body_hex[65], nonce_hex[65], reason[64];
	const char *body;
	size_t len = 0;
	long status;
	int rc = -1;

	if (request(s, v, url, deadline, &ch, &req, err) < 0)
		goto out;
	body = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	sha256_hex(body, strlen(body), body_hex);
	if (post_ex(url, "/v1/release", body, s->ca_file, deadline, &resp, &status, reason,
		    err) < 0) {
		if (status >= 500 && status <= 599) {
			snprintf(line, sizeof(line), "%s %ld %s\n", body_hex, status, reason);
			record(s, s->refused_f, line, NULL);
		}
		if (err->reason == SKR_R_broker_unreachable) {
			/* Sent, unanswered: the broker may have committed it. */
			snprintf(line, sizeof(line), "%s %u\n", body_hex, u);
			record(s, s->lost_f, line, NULL);
			atomic_fetch_add(&s->lost, 1);
		}
		goto out;
	}
	if (skr_softvm_unwrap(&v->vm, resp, v->key_id, ch.nonce, sizeof(ch.nonce), secret, &len,
			      err) < 0)
		goto out;
	if (len != SECRET_LEN || CRYPTO_memcmp(secret, v->secret, SECRET_LEN) != 0) {
		skr_fail(err, SKR_R_broker_protocol, "%s released a secret other than %s's", url,
			 v->key_id);
		goto out;
	}
	sha256_hex(ch.nonce, sizeof(ch.nonce), nonce_hex);
	snprintf(line, sizeof(line), "%s %s %u\n", body_hex, nonce_hex, u);
	record(s, s->ok_f, line, body);
	atomic_fetch_add(&s->per_url[u], 1);
	if (access(s->mark, F_OK) == 0)
		atomic_fetch_add(&s->after_mark[u], 1);
	rc = 0;
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(&ch, sizeof(ch));
	json_object_put(req);
	json_object_put(resp);
	return rc;
}

static void backoff(unsigned round, double deadline)
{
	unsigned base = BACKOFF_FIRST_MS << (round < 5 ? round : 5), ms;
	uint32_t jitter = 0;
	double left = deadline - now_ms();
	struct timespec ts;

	if (base > BACKOFF_MAX_MS)
		base = BACKOFF_MAX_MS;
	RAND_bytes((uint8_t *)&jitter, sizeof(jitter));
	ms = base / 2 + jitter % (base / 2 + 1);
	if (ms > left)
		ms = left > 0 ? (unsigned)left : 0;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}

/* One release, across the URLs, under one deadline (release_client.c's loop). */
static int one_release(struct storm *s, struct storm_vm *v)
{
	double deadline = now_ms() + s->deadline_ms;
	unsigned n = 0;

	for (;;) {
		struct skr_err err = { 0 };
		unsigned u = (v->index + n) % s->n_urls;

		atomic_fetch_add(&s->attempts, 1);
		n++;
		if (attempt(s, v, u, deadline, &err) == 0)
			return 0;
		if (err.reason == SKR_R_broker_unreachable && now_ms() < deadline &&
		    n % s->n_urls == 0)
			backoff(n / s->n_urls, deadline);
		if (err.reason != SKR_R_broker_unreachable || deadline - now_ms() < 20.0) {
			fprintf(stderr, "skr-storm: %s: release failed after %u attempt(s): %s: %s\n",
				v->key_id, n, skr_reason_name(err.reason), err.detail);
			return -1;
		}
	}
}

struct worker {
	struct storm *s;
	struct storm_vm *v;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	unsigned long t;

	while ((t = atomic_fetch_add(&w->s->ticket, 1)) < w->s->releases) {
		double t0 = now_ms();

		if (one_release(w->s, w->v) == 0) {
			w->s->lat_ms[t] = (float)(now_ms() - t0);
			atomic_fetch_add(&w->s->ok, 1);
		} else {
			atomic_fetch_add(&w->s->failed, 1);
		}
	}
	return NULL;
}

/* DIR/latency.txt: each success's duration (ms), in ticket order. */
static int write_latencies(struct storm *s)
{
	char path[512];
	unsigned long i;
	FILE *f;
	int rc;

	snprintf(path, sizeof(path), "%s/latency.txt", s->dir);
	if (!(f = fopen(path, "w")))
		return -1;
	for (i = 0; i < s->releases; i++)
		if (s->lat_ms[i] > 0)
			fprintf(f, "%.3f\n", s->lat_ms[i]);
	rc = ferror(f) ? -1 : 0;
	return fclose(f) == 0 ? rc : -1;
}

static int admin_post(struct storm *s, const char *path, const char *body)
{
	_cleanup_buf_ struct skr_buf ans = { 0 };
	struct skr_https_ca ca = { .file = s->ca_file };
	struct skr_err err = { 0 };
	long status = 0;

	if (skr_https_request("POST", s->admin, path, body, s->token, &ca, CONNECT_MS, 30000,
			      &status, &ans, &err) < 0 || status != 201) {
		fprintf(stderr, "skr-storm: POST %s: %ld %s %s\n", path, status, err.detail,
			ans.data ? (const char *)ans.data : "");
		return -1;
	}
	return 0;
}

static int register_vm(struct storm *s, struct storm_vm *v)
{
	_cleanup_free_ char *b64 = skr_base64_encode(v->secret, SECRET_LEN);
	json_object *pcrs = skr_pcr_banks_to_json(&v->vm.pcrs);
	char path[96], *body = NULL;
	int rc = -1;

	if (!b64 || !pcrs ||
	    asprintf(&body, "{\"key_id\": \"%s\", \"secret\": \"%s\", \"policy\": %s}", v->key_id,
		     b64, POLICY) < 0)
		goto out;
	if (admin_post(s, "/v1/keys", body) < 0)
		goto out;
	free(body);
	body = NULL;
	snprintf(path, sizeof(path), "/v1/keys/%s/refsets", v->key_id);
	if (asprintf(&body, "{\"label\": \"storm\", \"state\": \"current\", \"pcrs\": %s}",
		     json_object_to_json_string_ext(pcrs, JSON_C_TO_STRING_PLAIN)) < 0)
		goto out;
	rc = admin_post(s, path, body);
out:
	free(body);
	json_object_put(pcrs);
	return rc;
}

static void chomp(char *l)
{
	l[strcspn(l, "\r\n")] = 0;
}

/* DIR/go: admin URL, token file, CA file, release URLs. */
static int read_go(struct storm *s)
{
	char path[512], line[512];
	_cleanup_buf_ struct skr_buf tok = { 0 };
	struct skr_err err = { 0 };
	FILE *f = NULL;
	int i;

	snprintf(path, sizeof(path), "%s/go", s->dir);
	for (i = 0; i < 1200 && !(f = fopen(path, "r")); i++)
		usleep(100000);
	if (!f)
		return fprintf(stderr, "skr-storm: no %s after 120 s\n", path), -1;
	if (!fgets(s->admin, sizeof(s->admin), f) || !fgets(line, sizeof(line), f) ||
	    !fgets(s->ca_file, sizeof(s->ca_file), f)) {
		fclose(f);
		return fprintf(stderr, "skr-storm: %s: admin URL, token file, CA wanted\n", path), -1;
	}
	chomp(s->admin);
	chomp(line);
	chomp(s->ca_file);
	while (s->n_urls < MAX_URLS && fgets(path, sizeof(path), f)) {
		chomp(path);
		if (path[0])
			s->urls[s->n_urls++] = strdup(path);
	}
	fclose(f);
	if (skr_read_file(line, sizeof(s->token) - 1, &tok, &err) < 0)
		return fprintf(stderr, "skr-storm: %s\n", err.detail), -1;
	while (tok.len && (tok.data[tok.len - 1] == '\n' || tok.data[tok.len - 1] == ' '))
		tok.len--;
	memcpy(s->token, tok.data, tok.len);
	s->token[tok.len] = 0;
	return s->n_urls ? 0 : (fprintf(stderr, "skr-storm: no release URL in go\n"), -1);
}

/* The VMs on one CA; DIR/trust.pem is what the brokers must trust. */
static int make_vms(struct storm *s)
{
	_cleanup_buf_ struct skr_buf pem = { 0 };
	struct skr_test_chain ca;
	struct skr_err err = { 0 };
	char path[512];
	unsigned i;

	s->vms = calloc(s->n_vms, sizeof(*s->vms));
	if (!s->vms || skr_test_chain_new(&ca, NULL, &err) < 0)
		return fprintf(stderr, "skr-storm: test CA: %s\n", err.detail), -1;
	for (i = 0; i < s->n_vms; i++) {
		struct storm_vm *v = &s->vms[i];

		v->index = i;
		snprintf(v->key_id, sizeof(v->key_id), "storm-vm-%03u", i);
		if (skr_softvm_new_on(&v->vm, &ca, i + 1, &err) < 0 ||
		    RAND_bytes(v->secret, SECRET_LEN) != 1)
			return fprintf(stderr, "skr-storm: VM %u: %s\n", i, err.detail), -1;
	}
	skr_test_chain_free(&ca);
	snprintf(path, sizeof(path), "%s/trust.pem", s->dir);
	if (skr_softvm_trust_pem(&s->vms[0].vm, &pem, &err) < 0 ||
	    skr_test_write_file(path, pem.data, pem.len, &err) < 0)
		return fprintf(stderr, "skr-storm: %s\n", err.detail), -1;
	return 0;
}

/* Every recorded success posted again to every URL: refused nonce_replayed. */
static unsigned replays(struct storm *s, unsigned want, unsigned *tried)
{
	unsigned refused = 0, i, u;

	*tried = 0;
	for (i = 0; i < MAX_REPLAY && *tried < want * s->n_urls; i++) {
		if (!s->replay[i])
			continue;
		for (u = 0; u < s->n_urls; u++) {
			json_object *resp = NULL;
			struct skr_err err = { 0 };

			(*tried)++;
			if (post(s->urls[u], "/v1/release", s->replay[i], s->ca_file,
				 now_ms() + 20000, &resp, &err) == 0)
				fprintf(stderr, "skr-storm: a replay at %s was answered 200\n", s->urls[u]);
			else if (err.reason == SKR_R_nonce_replayed)
				refused++;
			else
				fprintf(stderr, "skr-storm: a replay at %s: %s: %s\n", s->urls[u],
					skr_reason_name(err.reason), err.detail);
			json_object_put(resp);
		}
	}
	return refused;
}

static int files_open(struct storm *s)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/ok.txt", s->dir);
	s->ok_f = fopen(path, "w");
	snprintf(path, sizeof(path), "%s/lost.txt", s->dir);
	s->lost_f = fopen(path, "w");
	snprintf(path, sizeof(path), "%s/refused.txt", s->dir);
	s->refused_f = fopen(path, "w");
	snprintf(s->mark, sizeof(s->mark), "%s/mark", s->dir);
	return s->ok_f && s->lost_f && s->refused_f ? 0 : -1;
}

static void print_list(const char *name, atomic_ulong *v, unsigned n)
{
	unsigned i;

	printf(" %s=", name);
	for (i = 0; i < n; i++)
		printf("%s%lu", i ? "," : "", atomic_load(&v[i]));
}

static int storm_run(struct storm *s, unsigned replay_n)
{
	pthread_t th[MAX_VMS];
	struct worker w[MAX_VMS];
	unsigned i, tried, refused;
	unsigned long attempts, ok;
	double t0;

	t0 = now_ms();
	for (i = 0; i < s->n_vms; i++) {
		w[i] = (struct worker){ .s = s, .v = &s->vms[i] };
		if (pthread_create(&th[i], NULL, worker_main, &w[i]) != 0)
			return fprintf(stderr, "skr-storm: pthread_create failed\n"), 1;
	}
	for (i = 0; i < s->n_vms; i++)
		pthread_join(th[i], NULL);
	if (write_latencies(s) < 0)
		fprintf(stderr, "skr-storm: cannot write %s/latency.txt\n", s->dir);
	fclose(s->ok_f);
	fclose(s->lost_f);
	fclose(s->refused_f);
	ok = atomic_load(&s->ok);
	attempts = atomic_load(&s->attempts);
	printf("storm: releases=%lu ok=%lu failed=%lu attempts=%lu retries=%lu lost=%lu wall_s=%.1f",
	       s->releases, ok, atomic_load(&s->failed), attempts,
	       attempts - ok - atomic_load(&s->failed), atomic_load(&s->lost),
	       (now_ms() - t0) / 1000.0);
	print_list("per_url", s->per_url, s->n_urls);
	print_list("after_mark", s->after_mark, s->n_urls);
	refused = replays(s, replay_n, &tried);
	printf(" replays_refused=%u/%u\n", refused, tried);
	fflush(stdout);
	return ok == s->releases && atomic_load(&s->failed) == 0 && refused == tried ? 0 : 1;
}

#define MAX_STEPS 16

struct step {
	char name[32];
	struct skr_challenge ch;
	char *body;
};

static struct step *step_slot(struct step *st, const char *name, bool make)
{
	unsigned i;

	for (i = 0; i < MAX_STEPS && st[i].name[0]; i++)
		if (strcmp(st[i].name, name) == 0)
			return &st[i];
	if (!make || i == MAX_STEPS)
		return NULL;
	snprintf(st[i].name, sizeof(st[i].name), "%s", name);
	return &st[i];
}

/* One step's challenge: the request it allows, kept for release steps. */
static void step_challenge(struct storm *s, struct step *t)
{
	struct skr_err err = { 0 };
	json_object *req = NULL;

	free(t->body);
	t->body = NULL;
	if (request(s, &s->vms[0], s->urls[0], now_ms() + 20000, &t->ch, &req, &err) < 0) {
		printf("error %s %s: %s\n", t->name, skr_reason_name(err.reason), err.detail);
		return;
	}
	t->body = strdup(json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN));
	json_object_put(req);
	printf("challenge %s expires=%lld\n", t->name, (long long)t->ch.expires);
}

static void step_release(struct storm *s, struct step *t)
{
	struct storm_vm *v = &s->vms[0];
	struct skr_err err = { 0 };
	json_object *resp = NULL;
	uint8_t secret[SKR_WRAP_MAX_SECRET];
	char reason[64], line[200], body_hex[65], nonce_hex[65];
	size_t len = 0;
	long status;

	if (!t->body) {
		printf("error %s no request\n", t->name);
		return;
	}
	if (post_ex(s->urls[0], "/v1/release", t->body, s->ca_file, now_ms() + 20000, &resp,
		    &status, reason, &err) < 0) {
		printf("release %s %ld %s\n", t->name, status, reason);
	} else if (skr_softvm_unwrap(&v->vm, resp, v->key_id, t->ch.nonce, sizeof(t->ch.nonce),
				     secret, &len, &err) < 0 ||
		   len != SECRET_LEN || CRYPTO_memcmp(secret, v->secret, SECRET_LEN) != 0) {
		printf("error %s the secret released is not %s's\n", t->name, v->key_id);
	} else {
		sha256_hex(t->body, strlen(t->body), body_hex);
		sha256_hex(t->ch.nonce, sizeof(t->ch.nonce), nonce_hex);
		snprintf(line, sizeof(line), "%s %s 0\n", body_hex, nonce_hex);
		record(s, s->ok_f, line, NULL);
		fflush(s->ok_f);
		printf("release %s 200\n", t->name);
	}
	OPENSSL_cleanse(secret, sizeof(secret));
	json_object_put(resp);
}

static int steps_run(struct storm *s)
{
	struct step st[MAX_STEPS] = { 0 };
	char line[128], verb[16], name[32];
	unsigned i;

	while (fgets(line, sizeof(line), stdin)) {
		struct step *t;

		if (sscanf(line, "%15s %31s", verb, name) != 2) {
			printf("error - cannot read \"%.40s\"\n", line);
		} else if (strcmp(verb, "challenge") == 0 && (t = step_slot(st, name, true))) {
			step_challenge(s, t);
		} else if (strcmp(verb, "release") == 0 && (t = step_slot(st, name, false))) {
			step_release(s, t);
		} else {
			printf("error %s unknown step or name\n", name);
		}
		fflush(stdout);
	}
	for (i = 0; i < MAX_STEPS; i++)
		free(st[i].body);
	fclose(s->ok_f);
	fclose(s->lost_f);
	fclose(s->refused_f);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "vms", required_argument, NULL, 'v' },
		{ "releases", required_argument, NULL, 'r' },
		{ "deadline-ms", required_argument, NULL, 't' },
		{ "replay", required_argument, NULL, 'p' },
		{ "steps", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static struct storm s;
	unsigned i, replay_n = 4;
	bool help = false, steps = false;
	int c, rc;

	s.n_vms = 8;
	s.releases = 500;
	s.deadline_ms = 30000;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': s.dir = optarg; break;
		case 'v': s.n_vms = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'r': s.releases = strtoul(optarg, NULL, 10); break;
		case 't': s.deadline_ms = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'p': replay_n = (unsigned)strtoul(optarg, NULL, 10); break;
		case 's': steps = true; break;
		case 'h': help = true; break;
		default: return 2;
		}
	}
	if (help || !s.dir || !s.n_vms || s.n_vms > MAX_VMS || !s.releases || !s.deadline_ms ||
	    replay_n > MAX_REPLAY) {
		fprintf(stderr, "usage: skr-storm --dir DIR [--vms 1..%d] [--releases N] "
				"[--deadline-ms MS] [--replay 0..%d] [--steps]\n", MAX_VMS, MAX_REPLAY);
		return help ? 0 : 2;
	}
	if (steps)
		s.n_vms = 1;
	pthread_mutex_init(&s.lock, NULL);
	if (!(s.lat_ms = calloc(s.releases, sizeof(*s.lat_ms))))
		return fprintf(stderr, "skr-storm: out of memory\n"), 1;
	if (make_vms(&s) < 0 || read_go(&s) < 0 || files_open(&s) < 0)
		return 1;
	for (i = 0; i < s.n_vms; i++)
		if (register_vm(&s, &s.vms[i]) < 0)
			return 1;
	fprintf(stderr, "skr-storm: %u VMs registered, %lu releases across %u URLs\n", s.n_vms,
		s.releases, s.n_urls);
	rc = steps ? steps_run(&s) : storm_run(&s, replay_n);
	for (i = 0; i < s.n_vms; i++)
		skr_softvm_free(&s.vms[i].vm);
	for (i = 0; i < MAX_REPLAY; i++)
		free(s.replay[i]);
	for (i = 0; i < s.n_urls; i++)
		free(s.urls[i]);
	free(s.vms);
	free(s.lat_ms);
	return rc;
}
