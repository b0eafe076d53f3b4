/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VM side of the release (skr_release, src/vm/release_client.h) against
 * fakes: a real swtpm provisioned as an Azure vTPM (tests/helpers/fakevtpm.c)
 * and brokers that are small TLS servers on 127.0.0.1 in this process (a
 * thread each, OpenSSL, a test CA made here).  A broker answers through the
 * real broker library (src/broker, in process: skr_broker_challenge and
 * skr_broker_release), through a software stand-in (its own nonce, the
 * secret wrapped here to the vTPM's key) or with scripted bytes: denials,
 * 5xx, oversize bodies, a wrong nonce or wrap algorithm, redirects, wrong
 * certificates, connections held open or trickled past the deadline, brokers
 * that are down.  Every refusal asserts its reason code; the transport is
 * tested by behaviour only (https.h's implementation may change).
 */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "broker/broker.h"
#include "common/gate.h"
#include "common/json_util.h"
#include "common/pcr_json.h"
#include "fakevtpm.h"
#include "swtpm.h"
#include "verify/wrap.h"
#include "vm/broker_answer.h"
#include "verify/wrap_key.h"
#include "vm/release_client.h"
#include "vm/tpm.h"

#define KEY "disk-rc"
#define BOUND_PCRS ((1u << 0) | (1u << 7))
#define POLICY "{\"tee\": \"az-snp-vtpm\", \"snp\": {\"min_tcb\": {\"snp\": 8}}, " \
	       "\"pcrs\": {\"bank\": \"sha256\", \"indexes\": [0, 7]}}"
#define HOLD_MAX_MS 60000	/* a held connection ends at the latest after this */

static const uint8_t secret[32] = "release-client-secret-0123456789";

/* ---- The fixture: swtpm as an Azure vTPM, a broker library, a TLS CA ---------------------- */

struct fixture {
	char dir[64];
	struct skr_swtpm *swtpm;
	struct skr_fakevtpm fake;
	bool provisioned;
	struct skr_broker b;
	bool broker_ready;
	char ca_file[128], vcek_file[128];
	char *ca_pem;
	EVP_PKEY *ca_key, *srv_key, *other_ca_key;
	X509 *ca, *srv_cert, *other_ca, *untrusted_cert, *wrong_host_cert;
};

static struct fixture fx;

static EVP_PKEY *p256(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok = e && X509_add_ext(x, e, -1) == 1;

	X509_EXTENSION_free(e);
	return ok ? 0 : -1;
}

/* A certificate for key: a CA (self-signed when issuer is NULL) or a server with san. */
static X509 *issue(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, bool ca,
		   const char *san)
{
	static long serial = 1;
	X509 *x = X509_new();
	X509_NAME *name;
	X509V3_CTX ctx;

	if (!x)
		return NULL;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 2 * 86400);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	if (add_ext(x, &ctx, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE") < 0 ||
	    add_ext(x, &ctx, NID_key_usage,
		    ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature") < 0 ||
	    add_ext(x, &ctx, NID_subject_key_identifier, "hash") < 0 ||
	    (!ca && add_ext(x, &ctx, NID_ext_key_usage, "serverAuth") < 0) ||
	    (san && add_ext(x, &ctx, NID_subject_alt_name, san) < 0) ||
	    X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) <= 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static int write_pem(const char *path, X509 *x, char **text)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL;
	long len;
	struct skr_err err = { 0 };
	int rc = -1;

	if (bio && PEM_write_bio_X509(bio, x) == 1) {
		len = BIO_get_mem_data(bio, &data);
		if (skr_test_write_file(path, data, (size_t)len, &err) == 0) {
			*text = strndup(data, (size_t)len);
			rc = *text ? 0 : -1;
		}
	}
	BIO_free(bio);
	return rc;
}

static int make_tls(void)
{
	fx.ca_key = p256();
	fx.srv_key = p256();
	fx.other_ca_key = p256();
	if (!fx.ca_key || !fx.srv_key || !fx.other_ca_key)
		return -1;
	fx.ca = issue(fx.ca_key, "skr test CA", NULL, NULL, true, NULL);
	fx.other_ca = issue(fx.other_ca_key, "skr test CA", NULL, NULL, true, NULL);
	if (!fx.ca || !fx.other_ca)
		return -1;
	fx.srv_cert = issue(fx.srv_key, "127.0.0.1", fx.ca, fx.ca_key, false, "IP:127.0.0.1,IP:::1");
	/* Same names, same key, another CA: a broker the VM did not pin. */
	fx.untrusted_cert = issue(fx.srv_key, "127.0.0.1", fx.other_ca, fx.other_ca_key, false,
				  "IP:127.0.0.1");
	/* The pinned CA, but issued for another host. */
	fx.wrong_host_cert = issue(fx.srv_key, "kbs.example", fx.ca, fx.ca_key, false,
				   "DNS:kbs.example,IP:127.0.0.2");
	if (!fx.srv_cert || !fx.untrusted_cert || !fx.wrong_host_cert)
		return -1;
	snprintf(fx.ca_file, sizeof(fx.ca_file), "%s/ca.pem", fx.dir);
	return write_pem(fx.ca_file, fx.ca, &fx.ca_pem);
}

static void write_master_key(const char *path)
{
	uint8_t key[32];
	struct skr_err err = { 0 };

	RAND_bytes(key, sizeof(key));
	skr_test_write_file(path, key, sizeof(key), &err);
	chmod(path, 0600);
}

static int setup_broker(const struct skr_pcr_banks *pcrs, struct skr_err *err)
{
	struct skr_buf pem = { 0 };
	char db[128], mk[128];
	json_object *sets;
	int64_t id;
	int rc;

	snprintf(db, sizeof(db), "%s/broker.db", fx.dir);
	snprintf(mk, sizeof(mk), "%s/master.key", fx.dir);
	write_master_key(mk);
	if (skr_store_open(db, mk, &fx.b.store, err) < 0 || skr_amd_trust_init(&fx.b.trust, true, err) < 0 ||
	    skr_test_chain_bundle_pem(&fx.fake.chain, false, &pem, err) < 0)
		return -1;
	rc = skr_amd_trust_add_pem(&fx.b.trust, pem.data, pem.len, err);
	skr_buf_free(&pem);
	if (rc < 0)
		return -1;
	fx.b.nonce_secret = skr_secret_alloc(SKR_NONCE_SECRET_SIZE);
	if (!fx.b.nonce_secret)
		return -1;
	RAND_bytes(fx.b.nonce_secret, SKR_NONCE_SECRET_SIZE);
	skr_nonce_seen_init(&fx.b.seen);
	skr_chain_cache_init(&fx.b.chain_cache);
	skr_key_cache_init(&fx.b.key_cache);
	fx.b.nonce_ttl = 60;
	fx.broker_ready = true;
	if (skr_store_key_create(fx.b.store, KEY, secret, sizeof(secret), POLICY, NULL, err) < 0)
		return -1;
	sets = skr_pcr_banks_to_json(pcrs);
	rc = skr_store_refset_add(fx.b.store, KEY, "boot", "current", json_object_to_json_string(sets),
				  &id, NULL, err);
	json_object_put(sets);
	return rc;
}

static int group_teardown(void **state);

static int group_setup(void **state)
{
	struct skr_fakevtpm_opts o;
	struct skr_pcr_banks *pcrs = calloc(1, sizeof(*pcrs));
	struct skr_tpm *tpm = NULL;
	struct skr_err err = { 0 };

	memset(&fx, 0, sizeof(fx));
	snprintf(fx.dir, sizeof(fx.dir), "/tmp/skr-release-client.XXXXXX");
	if (!pcrs || !mkdtemp(fx.dir))
		goto fail;
	if (skr_swtpm_start(&fx.swtpm, &err) < 0 || skr_tpm_open(fx.swtpm->tcti, &tpm, &err) < 0)
		goto fail;
	skr_fakevtpm_opts_init(&o);
	if (skr_fakevtpm_provision(tpm, &o, &fx.fake, &err) < 0)
		goto fail;
	fx.provisioned = true;
	if (skr_fakevtpm_write(&fx.fake, fx.dir, &err) < 0 ||
	    skr_tpm_pcr_read(tpm, BOUND_PCRS, pcrs, &err) < 0)
		goto fail;
	/* skr_release opens the TPM itself; swtpm serves one connection at a time. */
	skr_tpm_close(tpm);
	tpm = NULL;
	snprintf(fx.vcek_file, sizeof(fx.vcek_file), "%s/vcek.der", fx.dir);
	if (setup_broker(pcrs, &err) < 0 || make_tls() < 0)
		goto fail;
	free(pcrs);
	return 0;
fail:
	fprintf(stderr, "setup failed: %s: %s\n", skr_reason_name(err.reason), err.detail);
	ERR_print_errors_fp(stderr);
	skr_tpm_close(tpm);
	free(pcrs);
	group_teardown(state);
	return -1;
}

static int group_teardown(void **state)
{
	char cmd[128];

	if (fx.broker_ready) {
		skr_store_close(fx.b.store);
		skr_amd_trust_free(&fx.b.trust);
		skr_nonce_seen_free(&fx.b.seen);
		skr_chain_cache_free(&fx.b.chain_cache);
		skr_key_cache_free(&fx.b.key_cache);
	}
	skr_secret_free(fx.b.nonce_secret);
	if (fx.provisioned)
		skr_fakevtpm_free(&fx.fake);
	skr_swtpm_stop(&fx.swtpm);
	X509_free(fx.ca);
	X509_free(fx.other_ca);
	X509_free(fx.srv_cert);
	X509_free(fx.untrusted_cert);
	X509_free(fx.wrong_host_cert);
	EVP_PKEY_free(fx.ca_key);
	EVP_PKEY_free(fx.srv_key);
	EVP_PKEY_free(fx.other_ca_key);
	free(fx.ca_pem);
	if (fx.dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", fx.dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", fx.dir);
	}
	memset(&fx, 0, sizeof(fx));
	return 0;
}

/* ---- The fake brokers ------------------------------------------------------------------------ */

enum how {
	REAL,		/* the broker library answers */
	SELF,		/* challenge: our own nonce; release: the secret wrapped here */
	RAW,		/* status and body as given */
	HOLD,		/* read the request, answer nothing, keep the connection open */
	TRICKLE,	/* start an answer, then one header byte every 100 ms, forever */
};

/* What a broker does for one path. */
struct plan {
	enum how how;
	int status;			/* RAW */
	const char *body;		/* RAW (not owned) */
	bool no_length;			/* RAW: no Content-Length, the body ends at close */
	const char *headers;		/* RAW: extra header lines, each ending in \r\n */
	void (*mutate)(json_object *answer);	/* REAL: edits the library's answer */
};

struct server {
	int fd, port;
	char url[64];
	pthread_t thread;
	bool running;
	atomic_bool stop;
	SSL_CTX *ctx;			/* NULL: plain TCP */
	bool hold_on_accept;		/* accept, then never start TLS */
	struct plan challenge, release;
	uint32_t self_mask;		/* SELF challenge's PCRs */
	bool self_other_nonce;		/* SELF release: wrap to another nonce */
	const char *self_key_id;	/* SELF release: wrap for this key id (NULL: the request's) */
	/* What it saw. */
	atomic_int connections, served, handshake_failures, requests, challenges, releases;
	atomic_bool client_gave_up;	/* the client closed a held connection */
	atomic_bool script_error;	/* the fake itself failed: the test is void */
	atomic_bool wrote_all;		/* the last answer went out whole */
	pthread_mutex_t lock;
	json_object *last_release;	/* the last release request (owned) */
	uint8_t nonce[32];		/* the last challenge's nonce */
	char first_bytes[8];		/* plain TCP: what the client sent first */
	size_t n_first;
};

#define MAX_SERVERS 4
static struct server servers[MAX_SERVERS];

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

struct request {
	char method[16], path[256];
	char *body;
	size_t body_len;
	json_object *json;
};

struct reply {
	int status;
	char *body;		/* owned */
	bool no_length;
	const char *headers;
	enum how action;	/* RAW (answer), HOLD or TRICKLE */
};

static void reply_json(struct reply *rp, int status, json_object *o)
{
	rp->status = status;
	rp->body = strdup(o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : "{}");
	rp->action = RAW;
}

static void fake_error(struct server *s, struct reply *rp, const char *what)
{
	fprintf(stderr, "fake broker %s: %s\n", s->url, what);
	s->script_error = true;
	rp->status = 400;
	rp->body = strdup("{\"error\": \"fake broker failure\"}");
	rp->action = RAW;
}

static void remember_nonce(struct server *s, json_object *answer)
{
	struct skr_buf raw = { 0 };
	struct skr_err err = { 0 };
	json_object *n;

	if (json_object_object_get_ex(answer, "nonce", &n) &&
	    skr_base64_decode(json_object_get_string(n), (size_t)json_object_get_string_len(n), &raw,
			      "nonce", &err) == 0 &&
	    raw.len == sizeof(s->nonce))
		memcpy(s->nonce, raw.data, sizeof(s->nonce));
	skr_buf_free(&raw);
}

static void real_broker(struct server *s, const struct request *rq, struct reply *rp)
{
	struct skr_response r = { 0 };
	uint8_t digest[32];

	if (!rq->json) {
		fake_error(s, rp, "request is not JSON");
		return;
	}
	if (!strcmp(rq->path, "/v1/challenge")) {
		skr_broker_challenge(&fx.b, rq->json, "127.0.0.1", &r);
		if (r.status == 200)
			remember_nonce(s, r.body);
	} else {
		EVP_Digest(rq->body, rq->body_len, digest, NULL, EVP_sha256(), NULL);
		skr_broker_release(&fx.b, rq->json, "127.0.0.1", digest, &r);
	}
	reply_json(rp, (int)r.status, r.body);
	json_object_put(r.body);
}

static void self_challenge(struct server *s, struct reply *rp)
{
	json_object *o = json_object_new_object(), *pcrs = json_object_new_object();
	json_object *idx = json_object_new_array();

	RAND_bytes(s->nonce, sizeof(s->nonce));
	skr_json_add_b64(o, "nonce", s->nonce, sizeof(s->nonce));
	json_object_object_add(o, "expires", json_object_new_int64((int64_t)time(NULL) + 60));
	json_object_object_add(pcrs, "bank", json_object_new_string("sha256"));
	for (unsigned i = 0; i < SKR_PCR_COUNT; i++)
		if (s->self_mask & (1u << i))
			json_object_array_add(idx, json_object_new_int((int)i));
	json_object_object_add(pcrs, "indexes", idx);
	json_object_object_add(o, "pcrs", pcrs);
	reply_json(rp, 200, o);
	json_object_put(o);
}

/* The secret wrapped to the wrap key the request presents, as a broker would. */
static void self_release(struct server *s, const struct request *rq, struct reply *rp)
{
	struct skr_buf raw = { 0 };
	struct skr_err err = { 0 };
	TPM2B_PUBLIC pub;
	EVP_PKEY *key = NULL;
	struct skr_wrapped w;
	json_object *ev, *wk, *p, *kid, *o, *wrapped;
	uint8_t nonce[32];

	if (!rq->json || !json_object_object_get_ex(rq->json, "evidence", &ev) ||
	    !json_object_object_get_ex(ev, "wrap_key", &wk) ||
	    !json_object_object_get_ex(wk, "public", &p) ||
	    !json_object_object_get_ex(rq->json, "key_id", &kid) ||
	    skr_base64_decode(json_object_get_string(p), (size_t)json_object_get_string_len(p), &raw,
			      "public", &err) < 0 ||
	    skr_tpm2b_public_parse(raw.data, raw.len, &pub, &err) < 0 ||
	    skr_tpm_public_to_pkey(&pub, &key, &err) < 0) {
		skr_buf_free(&raw);
		fake_error(s, rp, err.detail[0] ? err.detail : "request lacks the wrap key");
		return;
	}
	skr_buf_free(&raw);
	memcpy(nonce, s->nonce, sizeof(nonce));
	if (s->self_other_nonce)
		nonce[0] ^= 1;
	if (skr_wrap(key, nonce, sizeof(nonce), s->self_key_id ? s->self_key_id : json_object_get_string(kid),
		     secret, sizeof(secret), &w, &err) < 0) {
		EVP_PKEY_free(key);
		fake_error(s, rp, err.detail);
		return;
	}
	EVP_PKEY_free(key);
	o = json_object_new_object();
	wrapped = json_object_new_object();
	json_object_object_add(wrapped, "alg", json_object_new_string(SKR_WRAP_ALG));
	skr_json_add_b64(wrapped, "epk", w.epk, sizeof(w.epk));
	skr_json_add_b64(wrapped, "iv", w.iv, sizeof(w.iv));
	skr_json_add_b64(wrapped, "ciphertext", w.ciphertext, w.ciphertext_len);
	skr_json_add_b64(wrapped, "tag", w.tag, sizeof(w.tag));
	json_object_object_add(o, "wrapped", wrapped);
	reply_json(rp, 200, o);
	json_object_put(o);
}

static void answer(struct server *s, const struct request *rq, struct reply *rp)
{
	bool is_challenge = !strcmp(rq->path, "/v1/challenge");
	const struct plan *pl;

	if (strcmp(rq->method, "POST") != 0 || (!is_challenge && strcmp(rq->path, "/v1/release") != 0)) {
		fake_error(s, rp, "unexpected method or path");
		return;
	}
	if (is_challenge) {
		s->challenges++;
	} else {
		s->releases++;
		pthread_mutex_lock(&s->lock);
		json_object_put(s->last_release);
		s->last_release = json_object_get(rq->json);
		pthread_mutex_unlock(&s->lock);
	}
	pl = is_challenge ? &s->challenge : &s->release;
	switch (pl->how) {
	case REAL:
		real_broker(s, rq, rp);
		if (pl->mutate && rp->status == 200) {
			json_object *o = json_tokener_parse(rp->body);

			pl->mutate(o);
			free(rp->body);
			reply_json(rp, 200, o);
			json_object_put(o);
		}
		break;
	case SELF:
		if (is_challenge)
			self_challenge(s, rp);
		else
			self_release(s, rq, rp);
		break;
	case RAW:
		rp->status = pl->status;
		rp->body = strdup(pl->body ? pl->body : "");
		rp->no_length = pl->no_length;
		rp->headers = pl->headers;
		rp->action = RAW;
		break;
	case HOLD:
	case TRICKLE:
		rp->action = pl->how;
		break;
	}
}

/* Waits until the peer closes (client_gave_up), stop, or HOLD_MAX_MS. */
static void hold(struct server *s, int fd)
{
	double end = now_ms() + HOLD_MAX_MS;
	char sink[4096];

	while (!s->stop && now_ms() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };
		ssize_t n;

		if (poll(&p, 1, 50) <= 0)
			continue;
		if (p.revents & (POLLHUP | POLLRDHUP | POLLERR)) {
			s->client_gave_up = true;
			return;
		}
		n = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			s->client_gave_up = true;
			return;
		}
	}
}

static void trickle(struct server *s, SSL *ssl, int fd)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: ";
	double end = now_ms() + HOLD_MAX_MS;

	if (SSL_write(ssl, head, sizeof(head) - 1) <= 0) {
		s->client_gave_up = true;
		return;
	}
	while (!s->stop && now_ms() < end) {
		struct pollfd p = { .fd = fd, .events = POLLRDHUP };

		if (poll(&p, 1, 100) > 0 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR))) {
			s->client_gave_up = true;
			return;
		}
		if (SSL_write(ssl, "a", 1) <= 0) {
			s->client_gave_up = true;
			return;
		}
	}
}

static bool write_all(SSL *ssl, const char *data, size_t len)
{
	while (len > 0) {
		int n = SSL_write(ssl, data, len > INT32_MAX ? INT32_MAX : (int)len);

		if (n <= 0)
			return false;
		data += n;
		len -= (size_t)n;
	}
	return true;
}

static const char *status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 302: return "Found";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	default: return "Status";
	}
}

static void send_reply(struct server *s, SSL *ssl, const struct reply *rp)
{
	size_t len = rp->body ? strlen(rp->body) : 0;
	char head[512];

	if (rp->no_length)
		snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n%s"
			 "Connection: close\r\n\r\n", rp->status, status_text(rp->status),
			 rp->headers ? rp->headers : "");
	else
		snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n%s"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n", rp->status,
			 status_text(rp->status), rp->headers ? rp->headers : "", len);
	s->wrote_all = write_all(ssl, head, strlen(head)) && (!len || write_all(ssl, rp->body, len));
}

static bool header_value(const char *headers, const char *name, char *out, size_t size)
{
	size_t n = strlen(name);
	const char *p = headers;

	while ((p = strstr(p, "\r\n")) != NULL) {
		p += 2;
		if (!strncasecmp(p, name, n) && p[n] == ':') {
			const char *v = p + n + 1, *e = strstr(v, "\r\n");

			while (*v == ' ')
				v++;
			snprintf(out, size, "%.*s", (int)(e ? e - v : (long)strlen(v)), v);
			return true;
		}
	}
	return false;
}

/* One HTTP/1.1 request: headers (<= 16 KiB) and a Content-Length body (<= 1 MiB). */
static int read_request(SSL *ssl, struct request *rq)
{
	size_t cap = 16384, len = 0, body_len;
	char *buf = malloc(cap + 1), *end = NULL, value[64];
	int n;

	if (!buf)
		return -1;
	while (!end) {
		if (len == cap)
			goto fail;
		n = SSL_read(ssl, buf + len, (int)(cap - len));
		if (n <= 0)
			goto fail;
		len += (size_t)n;
		buf[len] = 0;
		end = strstr(buf, "\r\n\r\n");
	}
	*end = 0;
	if (sscanf(buf, "%15s %255s", rq->method, rq->path) != 2)
		goto fail;
	body_len = header_value(buf, "Content-Length", value, sizeof(value)) ? strtoul(value, NULL, 10) : 0;
	if (body_len > (1u << 20))
		goto fail;
	if (header_value(buf, "Expect", value, sizeof(value)) && !strcasecmp(value, "100-continue") &&
	    !write_all(ssl, "HTTP/1.1 100 Continue\r\n\r\n", 25))
		goto fail;
	rq->body = malloc(body_len + 1);
	if (!rq->body)
		goto fail;
	rq->body_len = len - (size_t)(end + 4 - buf);
	if (rq->body_len > body_len)
		goto fail;
	memcpy(rq->body, end + 4, rq->body_len);
	while (rq->body_len < body_len) {
		n = SSL_read(ssl, rq->body + rq->body_len, (int)(body_len - rq->body_len));
		if (n <= 0)
			goto fail;
		rq->body_len += (size_t)n;
	}
	rq->body[rq->body_len] = 0;
	rq->json = json_tokener_parse(rq->body);
	free(buf);
	return 0;
fail:
	free(buf);
	return -1;
}

static void serve_plain(struct server *s, int fd)
{
	static const char answer_text[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;

	if (poll(&p, 1, 5000) > 0) {
		n = recv(fd, s->first_bytes + s->n_first, sizeof(s->first_bytes) - s->n_first, 0);
		if (n > 0)
			s->n_first += (size_t)n;
	}
	/* Whatever came, a plaintext answer: a TLS client must not take it. */
	(void)!send(fd, answer_text, sizeof(answer_text) - 1, MSG_NOSIGNAL);
	hold(s, fd);
}

static void serve_one(struct server *s, int fd)
{
	struct timeval tv = { .tv_sec = 5 };
	struct request rq = { 0 };
	struct reply rp = { 0 };
	SSL *ssl;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (s->hold_on_accept) {
		hold(s, fd);
		return;
	}
	if (!s->ctx) {
		serve_plain(s, fd);
		return;
	}
	ssl = SSL_new(s->ctx);
	if (!ssl || SSL_set_fd(ssl, fd) != 1 || SSL_accept(ssl) != 1) {
		s->handshake_failures++;
		ERR_clear_error();
		SSL_free(ssl);
		return;
	}
	if (read_request(ssl, &rq) == 0) {
		s->requests++;
		answer(s, &rq, &rp);
		if (rp.action == HOLD)
			hold(s, fd);
		else if (rp.action == TRICKLE)
			trickle(s, ssl, fd);
		else
			send_reply(s, ssl, &rp);
	}
	if (rp.action == RAW)
		SSL_shutdown(ssl);
	ERR_clear_error();
	SSL_free(ssl);
	free(rp.body);
	free(rq.body);
	json_object_put(rq.json);
}

static void *server_main(void *arg)
{
	struct server *s = arg;

	while (!s->stop) {
		struct pollfd p = { .fd = s->fd, .events = POLLIN };
		int fd;

		if (poll(&p, 1, 50) <= 0)
			continue;
		fd = accept(s->fd, NULL, NULL);
		if (fd < 0)
			continue;
		s->connections++;
		serve_one(s, fd);
		close(fd);
		s->served++;
	}
	return NULL;
}

/* A free loopback port, closed again: a broker that is down. */
static int closed_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* A broker on a port of its own: cert NULL is plain TCP. */
static struct server *server_start(X509 *cert)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	struct server *s = NULL;

	for (size_t i = 0; i < MAX_SERVERS && !s; i++)
		if (!servers[i].running)
			s = &servers[i];
	assert_non_null(s);
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->self_mask = BOUND_PCRS;
	if (cert) {
		s->ctx = SSL_CTX_new(TLS_server_method());
		assert_non_null(s->ctx);
		assert_int_equal(SSL_CTX_set_min_proto_version(s->ctx, TLS1_2_VERSION), 1);
		assert_int_equal(SSL_CTX_use_certificate(s->ctx, cert), 1);
		assert_int_equal(SSL_CTX_use_PrivateKey(s->ctx, fx.srv_key), 1);
	}
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s->fd >= 0);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->fd, 16), 0);
	assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &len), 0);
	s->port = ntohs(a.sin_port);
	snprintf(s->url, sizeof(s->url), "https://127.0.0.1:%d", s->port);
	assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
	s->running = true;
	return s;
}

static void server_stop(struct server *s)
{
	if (!s->running)
		return;
	s->stop = true;
	pthread_join(s->thread, NULL);
	close(s->fd);
	SSL_CTX_free(s->ctx);
	json_object_put(s->last_release);
	pthread_mutex_destroy(&s->lock);
	s->running = false;
}

/* Waits until the broker is done with every connection it accepted (at most 15 s). */
static void wait_idle(struct server *s)
{
	for (int i = 0; i < 1500 && s->served != s->connections; i++)
		usleep(10000);
	assert_int_equal(s->served, s->connections);
}

/* ---- Running a release ------------------------------------------------------------------- */

static void opts_for(struct skr_release_opts *o, struct server *a, struct server *b)
{
	memset(o, 0, sizeof(*o));
	o->key_id = KEY;
	o->brokers[0] = a->url;
	o->n_brokers = 1;
	if (b) {
		o->brokers[1] = b->url;
		o->n_brokers = 2;
	}
	o->ca_file = fx.ca_file;
	o->tcti = fx.swtpm->tcti;
	o->vcek_file = fx.vcek_file;
	o->deadline_ms = 20000;
}

struct outcome {
	int rc;
	struct skr_err err;
	uint8_t secret[SKR_RELEASE_MAX_SECRET];
	size_t len;
	struct skr_release_timing t;
};

static void run(const struct skr_release_opts *o, struct outcome *out)
{
	memset(out, 0, sizeof(*out));
	memset(out->secret, 0xaa, sizeof(out->secret));
	out->rc = skr_release(o, out->secret, &out->len, &out->t, &out->err);
	for (size_t i = 0; i < MAX_SERVERS; i++)
		if (servers[i].running)
			assert_false(servers[i].script_error);
}

static void assert_released(const struct outcome *out)
{
	assert_ok(out->rc, out->err);
	assert_int_equal(out->len, sizeof(secret));
	assert_memory_equal(out->secret, secret, sizeof(secret));
}

/* Refused with reason; the secret buffer is wiped, nothing is returned. */
static void assert_refused(const struct outcome *out, enum skr_reason reason, const char *detail)
{
	assert_failed_with(out->rc, out->err, reason, detail);
	assert_int_equal(out->len, 0);
	assert_true(skr_is_zero(out->secret, sizeof(out->secret)));
}

/* After every test: brokers stopped, no object left in the vTPM. */
static int test_teardown(void **state)
{
	struct skr_tpm *tpm = NULL;
	struct skr_err err = { 0 };
	uint32_t n = 99;

	for (size_t i = 0; i < MAX_SERVERS; i++)
		server_stop(&servers[i]);
	if (skr_tpm_open(fx.swtpm->tcti, &tpm, &err) < 0 || skr_tpm_count_transient(tpm, &n, &err) < 0) {
		fprintf(stderr, "cannot check the TPM: %s\n", err.detail);
		skr_tpm_close(tpm);
		return -1;
	}
	skr_tpm_close(tpm);
	assert_int_equal(n, 0);
	return 0;
}

static void set_policy(const char *policy)
{
	struct skr_err err = { 0 };

	assert_ok(skr_store_key_set_policy(fx.b.store, KEY, policy, NULL, &err), err);
}

/* ---- The good path --------------------------------------------------------------------------- */

static void releases_through_the_broker_library(void **state)
{
	struct server *a = server_start(fx.srv_cert);
	struct skr_release_opts o;
	struct outcome out;
	json_object *ev, *pcrs, *bank;

	opts_for(&o, a, NULL);
	o.pcr_mask = 1u << 9;	/* the caller's hint */
	run(&o, &out);
	assert_released(&out);
	assert_int_equal(out.t.attempts, 1);
	assert_int_equal(a->challenges, 1);
	assert_int_equal(a->releases, 1);
	/* Quoted: the challenge's PCRs (0, 7), the hint (9) and the boot gate (15). */
	assert_true(json_object_object_get_ex(a->last_release, "evidence", &ev));
	assert_true(json_object_object_get_ex(ev, "pcrs", &pcrs));
	assert_true(json_object_object_get_ex(pcrs, "sha256", &bank));
	assert_int_equal(json_object_object_length(bank), 4);
	assert_true(json_object_object_get_ex(bank, "0", NULL));
	assert_true(json_object_object_get_ex(bank, "7", NULL));
	assert_true(json_object_object_get_ex(bank, "9", NULL));
	assert_true(json_object_object_get_ex(bank, "15", NULL));

	/* The CA as PEM text instead of a file: the same. */
	o.ca_file = NULL;
	o.ca_pem = fx.ca_pem;
	o.pcr_mask = 0;
	run(&o, &out);
	assert_released(&out);
	assert_int_equal(a->releases, 2);
}

/* The software stand-in answers as the library does; the checks below rely on it. */
static void releases_through_the_stand_in(void **state)
{
	struct server *a = server_start(fx.srv_cert);
	struct skr_release_opts o;
	struct outcome out;
	json_object *ev, *pcrs, *bank;

	a->challenge.how = a->release.how = SELF;
	a->self_mask = (1u << 3) | (1u << 11);	/* the broker decides which PCRs are quoted */
	opts_for(&o, a, NULL);
	run(&o, &out);
	assert_released(&out);
	assert_true(json_object_object_get_ex(a->last_release, "evidence", &ev));
	assert_true(json_object_object_get_ex(ev, "pcrs", &pcrs));
	assert_true(json_object_object_get_ex(pcrs, "sha256", &bank));
	assert_int_equal(json_object_object_length(bank), 3);
	assert_true(json_object_object_get_ex(bank, "3", NULL));
	assert_true(json_object_object_get_ex(bank, "11", NULL));
	assert_true(json_object_object_get_ex(bank, "15", NULL));
}

/* ---- Denials ------------------------------------------------------------------------------------ */

/* A denial is final: its reason and detail reach the caller, no other broker is asked. */
static void denial_is_final(void **state)
{
	struct server *a = server_start(fx.srv_cert), *b = server_start(fx.srv_cert);
	struct skr_release_opts o;
	struct outcome out;

	set_policy("{\"snp\": {\"measurements\": [\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]},"
		   " \"pcrs\": {\"indexes\": [0, 7]}}");
	opts_for(&o, a, b);
	run(&o, &out);
	set_policy(POLICY);
	assert_refused(&out, SKR_R_snp_measurement_not_allowed, "refused: launch measurement");
	assert_non_null(strstr(out.err.detail, a->url));
	assert_int_equal(out.t.attempts, 1);
	assert_int_equal(a->releases, 1);
	assert_int_equal(b->connections, 0);
}

static void denial_pcr_mismatch_real(void **state)
{
	struct server *a = server_start(fx.srv_cert);
	struct skr_release_opts o;
	struct outcome out;

	/* The key now binds PCR 9 too, for which its set has no value. */
	set_policy("{\"pcrs\": {\"indexes\": [0, 7, 9]}}");
	opts_for(&o, a, NULL);
	run(&o, &out);
	set_policy(POLICY);
	assert_refused(&out, SKR_R_pcr_mismatch, "PCR 9: seen");
	assert_int_equal(out.t.attempts, 1);
}

/* A denial's text is the broker's: it reaches the caller defused, and its reason must be a refusal. */
static void denial_text_and_reason_checked(void **state)
{
	static const char hostile[] =
		"{\"error\": \"denied\", \"reason\": \"pcr_mismatch\","
		" \"detail\": \"PCR 7 \\u001b[2J\\u001b]0;pwned\\u0007 \\r\\nroot# \"}";
	static const struct {
		const char *body;
		enum skr_reason reason;
		const char *detail;
	} cases[] = {
		{ "{\"error\": \"denied\", \"reason\": \"made_up_reason\", \"detail\": \"x\"}",
		  SKR_R_broker_protocol, "\"reason\" of a denial is not a known refusal reason" },
		/* Reasons that are not refusals: a broker cannot make the client retry or blame itself. */
		{ "{\"error\": \"denied\", \"reason\": \"broker_unreachable\", \"detail\": \"x\"}",
		  SKR_R_broker_protocol, "not a known refusal reason" },
		{ "{\"error\": \"denied\", \"reason\": \"ok\"}", SKR_R_broker_protocol,
		  "not a known refusal reason" },
		{ "{\"error\": \"denied\"}", SKR_R_broker_protocol, "\"reason\" must be a string" },
		{ "not json", SKR_R_broker_protocol, "without JSON" },
	};
	struct server *a = server_start(fx.srv_cert), *b = server_start(fx.srv_cert);
	struct skr_release_opts o;
	struct outcome out;

	a->release.how = RAW;
	a->release.status = 403;
	a->release.body = hostile;
	opts_for(&o, a, b);
	run(&o, &out);
	assert_refused(&out, SKR_R_pcr_mismatch, "refused: PCR 7 \\x1b[2J\\x1b]0;pwned\\x07 \\x0d\\x0aroot# ");
	for (const char *p = out.err.detail; *p; p++)
		assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
	assert_int_equal(b->connections, 0);

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		a->release.body = cases[i].body;
		run(&o, &out);
		assert_refused(&out, cases[i].reason, cases[i].detail);
		assert_int_equal(out.t.attempts, 1);	/* final: never retried */
	}
	assert_int_equal(b->connections, 0);
}

/* A 4xx other than a denial (400, 429): broker_protocol, final. */
static void client_errors_are_final(void **state)
{
	struct server *a = server_start(fx.srv_cert), *b = server_start(fx.srv_cert);
	struct skr_release_opts o;
	struct outcome out;

	a->challenge.how = RAW;
	a->challenge.status = 429;
	a->challenge.body = "{\"error\": \"too many requests\", \"reason\": \"rate_limited\"}";
	opts_for(&o, a, b);
	run(&o, &out);
	assert_refused(&out, SKR_R_broker_protocol, "answered HTTP 429: rate_limited");
	assert_int_equal(out.t.attempts, 1);
	a->challenge.status = 400;
	a->challenge.body = "{\"error\": \"malformed\", \"reason\": \"malformed\", \"detail\": \"bad key id\"}";
	run(&o, &out);
	assert_refused(&out, SKR_R_broker_protocol, "answered HTTP 400: malformed: bad key id");
	assert_int_equal(b->connections, 0);
	assert_int_equal(a->releases, 0);
}

/* ---- 5xx and brokers that are down: the next broker ------------------------------------------- */

static void server_error_tries_next_broker(void **state)
{
	struct server *a = server_start(fx.srv_cert), *b = server_start(fx.srv_cert);
	struct skr_release_opts o;
	struct outcome out;

	a->challenge.how = RAW;
	a->challenge.status = 503;
	a->challenge.body = "{\"error\": \"unavailable\"}";
	opts_for(&o, a, b);
	run(&o, &out);
	assert_released(&out);
	assert_int_equal(out.t.attempts, 2);
	assert_int_equal(a->challenges, 1);
	assert_int_equal(a->releases, 0);
	assert_int_equal(b->releases, 1);

	/* A 500 to the release itself, after a good challenge: the next broker, a new challenge. */
	a->challenge.how = REAL;
	a->release.how = RAW;
	a->release.status = 500;
	a->release.body = "";
	run(&o, &out);
	assert_released(&out);
	assert_int_equal(out.t.attempts, 2);
	assert_int_equal(a->releases, 1);
	assert_int_equal(b->challenges, 2);
	assert_int_equal(b->releases, 2);
}

/* Only 5xx: retried with backoff until the deadline, then broker_unreachable. */
static void server_errors_until_deadline(void **state)
{
	struct server *a = server_start(fx.srv_cert);
	struct skr_release_opts o;
	struct outcome out;

	a->challenge.how = RAW;
	a->challenge.status = 502;
	a->challenge.body = "<html>bad gateway</html>";
	opts_for(&o, a, NULL);
	o.deadline_ms = 1500;
	run(&o, &out);
	/* The cause is the broker's answer, not the deadline's end. */
	assert_refused(&out, SKR_R_broker_unreachable, "502");
	assert_true(out.t.attempts >= 2);
	assert_true(a->challenges >= 2);
	/* It kept trying until then: within the 20 ms too short for another attempt. */
	assert_true(out.t.total_ms >= o.deadline_ms - 20);
	assert_int_equal(a->releases, 0);
}

static void first_broker_down(void **state)
{
	struct server *b = server_start(fx.srv_cert);
	struct skr_release_opts o;
	struct outcome out;
	char down[64];

	snprintf(down, sizeof(down), "https://127.0.0.1:%d", closed_port());
	opts_for(&o, b, NULL);
	o.brokers[0] = down;
	o.brokers[1] = b->url;
	o.n_brokers = 2;
	run(&o, &out);
	assert_released(&out);
	assert_int_equal(out.t.attempts, 2);
	assert_int_equal(b->challenges, 1);
}

static void all_brokers_down(void **state)
{
	struct skr_release_opts o;
	struct outcome out;
	char down1[64], down2[64];
	struct server dummy = { 0 };

	snprintf(down1, sizeof(down1), "https://127.0.0.1:%d", closed_port());
	snprintf(down2, sizeof(down2), "https://127.0.0.1:%d", closed_port());
	snprintf(dummy.url, sizeof(dummy.url), "%s", down1);
	opts_for(&o, &dummy, NULL);
	o.brokers[1] = down2;
	o.n_brokers = 2;
	o.deadline_ms = 1200;
	run(&o, &out);
	assert_refused(&out, SKR_R_broker_unreachable, "https://127.0.0.1:");
	assert_true(out.t.attempts >= 2);	/* both, at least once */
	assert_true(out.t.total_ms >= o.deadline_ms - 20);	/* as above */
}

/* A broker that accepts and never starts TLS: the connect timeout moves on to the next one. */
static void stalled_broker_tries_next(void **state)
{
	struct server *a = server_start(fx.srv_cert), *b = server_start(fx.srv_cert);
	struct skr_release_opts o;
	struct outcome out;

	a->hold_on_accept = true;
	opts_for(&o, a, b);
	o.connect_timeout_ms = 1000;
	run(&o, &out);
	assert_released(&out);
	assert_int_equal(out.t.attempts, 2);
	assert_int_equal(a->connections, 1);
	assert_int_equal(a->requests, 0);
	assert_int_equal(b->releases, 1);
}

/* ---- Held past the deadline ---------------------------------------------------------------------- */

/* The release ends at its deadline, with broker_unreachable naming the timeout, while the broker still holds on. */
static void assert_deadline_honoured(struct server *a, const struct skr_release_opts *o,
				     const struct outcome *out)
{
	assert_refused(out, SKR_R_broker_unreachable, a->url);
	if (!strcasestr(out->err.detail, "time"))
		fail_msg("detail does not name the timeout: %s", out->err.detail);
	assert_true(out->t.total_ms >= o->deadline_ms * 0.9);
	/* The client hung up; the broker would have held on (HOLD_MAX_MS, 40 deadlines). */
	for (int i = 0; i < 100 && !a->client_gave_up; i++)
		usleep(20000);
	assert_true(a->client_gave_up);
}

static void held_before_tls(void **state)
{
	struct server *a = server_start(fx.srv_cert);
	struct skr_release_opts o;
	struct outcome out;

	a->hold_on_accept = true;
	opts_for(&o, a, NULL);
	o.deadline_ms = 1500;	/* below the default connect timeout: the deadline bounds it */
	run(&o, &out);
	assert_deadline_honoured(a, &o, &out);
	assert_int_equal(a->requests, 0);
}

static void held_after_request(void **state)
{
	struct server *a = server_start(fx.srv_cert);
	struct skr_release_opts o;
	struct outcome out;

	a->challenge.how = HOLD;
	opts_for(&o, a, NULL);
	o.deadline_ms = 1500;
	run(&o, &out);
	assert_deadline_honoured(a, &o, &out);
	assert_int_equal(a->challenges, 1);
	assert_int_equal(a->releases, 0);

	/* The same on the release, after the evidence went out. */
	a->client_gave_up = false;
	a->challenge.how = REAL;
	a->release.how = HOLD;
	o.deadline_ms = 2500;
	run(&o, &out);
	assert_deadline_honoured(a, &o, &out);
	assert_int_equal(a->releases, 1);
}

/* An answer that never ends (a byte every 100 ms): no per-read timeout may reset the deadline. */
static void trickled_answer(void **state)
{
	struct server *a = server_start(fx.srv_cert);
	struct skr_release_opts o;
	struct outcome out;

	a->challenge.how = TRICKLE;
	opts_for(&o, a, NULL);
	o.deadline_ms = 1500;
	run(&o, &out);
	assert_deadline_honoured(a, &o, &out);
}

/* ---- Hostile answers ------------------------------------------------------------------------------ */

static char *padded_challenge(size_t total)
{
	static const char head[] = "{\"nonce\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
				   " \"expires\": 4102444800, \"pcrs\": {\"bank\": \"sha256\","
				   " \"indexes\": [0, 7]}, \"pad\": \"";
	char *s = malloc(total + 1);

	assert_non_null(s);
	assert_true(total > sizeof(head) + 2);
	memcpy(s, head, sizeof(head) - 1);
	memset(s + sizeof(head) - 1, 'p', total - (sizeof(head) - 1) - 2);
	memcpy(s + total - 2, "\"}", 2);
	s[total] = 0;
	return s;
}

/* Answers larger than 64 KiB are refused (broker_protocol), with or without a Content-Length. */
static void oversize_answers(void **state)
{
	struct server *a = server_start(fx.srv_cert), *b = server_start(fx.srv_cert);
	char *big = padded_challenge(100 * 1024), *limit = padded_challenge(SKR_ANSWER_MAX_BODY),
	     *over = padded_challenge(SKR_ANSWER_MAX_BODY + 1), *huge;
	struct skr_release_opts o;
	struct outcome out;

	opts_for(&o, a, b);
	a->challenge.how = RAW;
	a->challenge.status = 200;
	a->challenge.body = big;
	run(&o, &out);
	assert_refused(&out, SKR_R_broker_protocol, NULL);
	assert_int_equal(out.t.attempts, 1);
	assert_int_equal(a->releases, 0);
	/* The body ends at the connection's close: the same bound. */
	a->challenge.no_length = true;
	run(&o, &out);
	assert_refused(&out, SKR_R_broker_protocol, NULL);
	assert_int_equal(a->releases, 0);
	/* The client stops reading at the bound: 32 MiB never all leave the broker. */
	huge = padded_challenge(32u << 20);
	a->challenge.body = huge;
	run(&o, &out);
	assert_refused(&out, SKR_R_broker_protocol, NULL);
	assert_int_equal(a->challenges, 3);
	wait_idle(a);
	assert_false(a->wrote_all);
	a->challenge.no_length = true;
	run(&o, &out);
	assert_refused(&out, SKR_R_broker_protocol, NULL);
	wait_idle(a);
	assert_false(a->wrote_all);
	free(huge);
	/* One byte above the bound. */
	a->challenge.no_length = false;
	a->challenge.body = over;
	run(&o, &out);
	assert_refused(&out, SKR_R_broker_protocol, NULL);
	/* An error answer is bounded the same way. */
	a->challenge.status = 403;
	a->challenge.body = big;
	run(&o, &out);
	assert_refused(&out, SKR_R_broker_protocol, NULL);
	assert_int_equal(b->connections, 0);
	/*
	 * Exactly 64 KiB is an answer: a challenge padded to the bound is read
	 * (its all-zero nonce then fails the broker's own check, which the
	 * stand-in does not make: here it is the stand-in's release that follows).
	 */
	a->challenge.status = 200;
	a->challenge.body = limit;
	a->release.how = SELF;
	memset(a->nonce, 0, sizeof(a->nonce));
	run(&o, &out);
	assert_released(&out);
	free(big);
	free(limit);
	free(over);
}

/* The nonce the broker hands out, and the one a wrapped secret is bound to. */
static void wrong_nonce(void **state)
{
	struct server *a = server_start(fx.srv_cert);
	struct skr_release_opts o;
	struct outcome out;

	opts_for(&o, a, NULL);
	/* A challenge whose nonce is not 32 bytes. */
	a->challenge.how = RAW;
	a->challenge.status = 200;
	a->challenge.body = "{\"nonce\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\", \"expires\": 4102444800,"
			    " \"pcrs\": {\"bank\": \"sha256\", \"indexes\": [0, 7]}}";
	run(&o, &out);
	assert_refused(&out, SKR_R_broker_protocol, "nonce must be base64 of 32 bytes");
	assert_int_equal(a->releases, 0);
	/* A secret wrapped to another nonce than the challenge's: it does not open. */
	a->challenge.how = SELF;
	a->release.how = SELF;
	a->self_other_nonce = true;
	run(&o, &out);
	assert_refused(&out, SKR_R_broker_protocol, "does not open with this vTPM's key, nonce and key id");
	assert_int_equal(out.t.attempts, 1);
	/* ... or for another key id. */
	a->self_other_nonce = false;
	a->self_key_id = "another-disk";
	run(&o, &out);
	assert_refused(&out, SKR_R_broker_protocol, "does not open");
	/* The stand-in with the right nonce and key id: released (the control). */
	a->self_key_id = NULL;
	run(&o, &out);
	assert_released(&out);
}

static void set_alg_p384(json_object *answer)
{
	json_object *w;

	if (json_object_object_get_ex(answer, "wrapped", &w))
		json_object_object_add(w, "alg", json_object_new_string("ECDH-P384-HKDF-SHA384-A256GCM"));
}

static void set_alg_with_nul(json_object *answer)
{
	json_object *w;

	if (json_object_object_get_ex(answer, "wrapped", &w))
		json_object_object_add(w, "alg", json_object_new_string_len(SKR_WRAP_ALG "\0x",
									    (int)sizeof(SKR_WRAP_ALG) + 1));
}

static void set_epk_off_curve(json_object *answer)
{
	uint8_t epk[SKR_WRAP_EPK_SIZE];
	json_object *w;

	memset(epk, 0x11, sizeof(epk));
	epk[0] = 0x04;
	if (json_object_object_get_ex(answer, "wrapped", &w))
		skr_json_add_b64(w, "epk", epk, sizeof(epk));
}

static void drop_wrapped(json_object *answer)
{
	json_object_object_del(answer, "wrapped");
	json_object_object_add(answer, "secret", json_object_new_string("c2VjcmV0"));
}

static void flip_tag(json_object *answer)
{
	json_object *w, *tag;
	struct skr_buf raw = { 0 };
	struct skr_err err = { 0 };

	if (json_object_object_get_ex(answer, "wrapped", &w) && json_object_object_get_ex(w, "tag", &tag) &&
	    skr_base64_decode(json_object_get_string(tag), (size_t)json_object_get_string_len(tag), &raw,
			      "tag", &err) == 0 && raw.len) {
		raw.data[0] ^= 1;
		skr_json_add_b64(w, "tag", raw.data, raw.len);
	}
	skr_buf_free(&raw);
}

/* The real broker's release answer with one member changed on the way. */
static void wrong_wrapped_answer(void **state)
{
	static const struct {
		void (*mutate)(json_object *);
		const char *detail;
	} cases[] = {
		{ set_alg_p384, "wrapped.alg must be \"ECDH-P256-HKDF-SHA256-A256GCM\"" },
		{ set_alg_with_nul, "wrapped.alg must be" },
		{ set_epk_off_curve, "wrapped.epk must be an uncompressed point on P-256" },
		{ drop_wrapped, "the answer lacks the object \"wrapped\"" },
		{ flip_tag, "does not open" },
	};
	struct server *a = server_start(fx.srv_cert), *b = server_start(fx.srv_cert);
	struct skr_release_opts o;
	struct outcome out;

	opts_for(&o, a, b);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		a->release.mutate = cases[i].mutate;
		run(&o, &out);
		assert_refused(&out, SKR_R_broker_protocol, cases[i].detail);
		assert_int_equal(out.t.attempts, 1);
	}
	assert_int_equal(a->releases, (int)ARRAY_SIZE(cases));
	assert_int_equal(b->connections, 0);
}

/* Challenges that do not follow the protocol: refused before the vTPM is used. */
static void hostile_challenges(void **state)
{
	static const struct {
		const char *body;
		const char *detail;
	} cases[] = {
		{ "{\"nonce\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\", \"expires\": 4102444800,"
		  " \"pcrs\": {\"bank\": \"sha256\", \"indexes\": [0, 24]}}",
		  "pcrs.indexes must hold integers from 0 to 23" },
		{ "{\"nonce\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\", \"expires\": 4102444800,"
		  " \"pcrs\": {\"bank\": \"md5\", \"indexes\": [0]}}",
		  "pcrs.bank must name a known PCR bank" },
		{ "{\"nonce\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\", \"expires\": 0,"
		  " \"pcrs\": {\"bank\": \"sha256\", \"indexes\": [0]}}",
		  "\"expires\" must be an integer" },
		{ "{} {}", "the answer is not one JSON object" },
		{ "[]", "the answer is not one JSON object" },
	};
	struct server *a = server_start(fx.srv_cert);
	struct skr_release_opts o;
	struct outcome out;

	opts_for(&o, a, NULL);
	a->challenge.how = RAW;
	a->challenge.status = 200;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		a->challenge.body = cases[i].body;
		run(&o, &out);
		assert_refused(&out, SKR_R_broker_protocol, cases[i].detail);
	}
	assert_int_equal(a->releases, 0);
}

/* A redirect is not followed: the client talks to the brokers it was given, nowhere else. */
static void redirect_not_followed(void **state)
{
	struct server *a = server_start(fx.srv_cert), *c = server_start(fx.srv_cert);
	struct skr_release_opts o;
	struct outcome out;
	char location[128];

	snprintf(location, sizeof(location), "Location: %s/v1/challenge\r\n", c->url);
	a->challenge.how = RAW;
	a->challenge.status = 302;
	a->challenge.body = "";
	a->challenge.headers = location;
	opts_for(&o, a, NULL);
	run(&o, &out);
	assert_refused(&out, SKR_R_broker_protocol, "answered HTTP 302 without JSON");
	assert_int_equal(c->connections, 0);
	assert_int_equal(out.t.attempts, 1);
}

/* ---- TLS: only the pinned CA, only the broker's name, never plaintext ------------------------------- */

static void assert_nothing_sent(struct server *a, const struct outcome *out)
{
	assert_refused(out, SKR_R_broker_unreachable, NULL);
	assert_true(a->connections >= 1);
	assert_int_equal(a->requests, 0);	/* no evidence left the VM */
}

static void untrusted_certificate(void **state)
{
	struct server *a = server_start(fx.untrusted_cert);
	struct skr_release_opts o;
	struct outcome out;

	opts_for(&o, a, NULL);
	o.deadline_ms = 1000;
	run(&o, &out);
	assert_nothing_sent(a, &out);
	assert_true(a->handshake_failures >= 1);
	/* The same with the CA as text. */
	o.ca_file = NULL;
	o.ca_pem = fx.ca_pem;
	run(&o, &out);
	assert_nothing_sent(a, &out);
}

static void certificate_for_another_host(void **state)
{
	struct server *a = server_start(fx.wrong_host_cert);
	struct skr_release_opts o;
	struct outcome out;

	opts_for(&o, a, NULL);
	o.deadline_ms = 1000;
	run(&o, &out);
	assert_nothing_sent(a, &out);
}

/* A plaintext server behind an https URL: the client's first bytes are a TLS handshake, and its plaintext answer is not taken. */
static void plaintext_broker(void **state)
{
	struct server *a = server_start(NULL);
	struct skr_release_opts o;
	struct outcome out;

	opts_for(&o, a, NULL);
	o.deadline_ms = 1000;
	run(&o, &out);
	assert_refused(&out, SKR_R_broker_unreachable, NULL);
	assert_true(a->n_first >= 3);
	assert_int_equal((uint8_t)a->first_bytes[0], 0x16);	/* TLS handshake record */
	assert_int_equal((uint8_t)a->first_bytes[1], 0x03);
	assert_null(memmem(a->first_bytes, a->n_first, "POST", 4));
}

/* An http:// broker URL: nothing is sent in clear. */
static void http_url_refused(void **state)
{
	struct server *a = server_start(NULL);
	struct skr_release_opts o;
	struct outcome out;
	char url[64];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d", a->port);
	opts_for(&o, a, NULL);
	o.brokers[0] = url;
	o.deadline_ms = 1000;
	run(&o, &out);
	assert_true(out.rc < 0);
	/* Refused as a transport failure (libcurl) or as a usage error: never sent. */
	if (out.err.reason != SKR_R_broker_unreachable && out.err.reason != SKR_R_usage)
		fail_msg("http:// URL: %s: %s", skr_reason_name(out.err.reason), out.err.detail);
	assert_null(memmem(a->first_bytes, a->n_first, "POST", 4));
	assert_null(memmem(a->first_bytes, a->n_first, "evid", 4));
}

/* ---- Before any broker ---------------------------------------------------------------------------- */

static void refused_before_any_broker(void **state)
{
	struct server *a = server_start(fx.srv_cert);
	struct skr_release_opts o;
	struct outcome out;
	char tcti[64];

	/* No vTPM: tpm_unavailable, no broker asked (no evidence, no point). */
	opts_for(&o, a, NULL);
	snprintf(tcti, sizeof(tcti), "swtpm:host=127.0.0.1,port=%d", closed_port());
	o.tcti = tcti;
	run(&o, &out);
	assert_refused(&out, SKR_R_tpm_unavailable, NULL);
	assert_int_equal(a->connections, 0);
	/* Missing key id, brokers or CA: usage. */
	opts_for(&o, a, NULL);
	o.key_id = NULL;
	run(&o, &out);
	assert_refused(&out, SKR_R_usage, "a key id, a broker URL and a CA are required");
	opts_for(&o, a, NULL);
	o.n_brokers = 0;
	run(&o, &out);
	assert_refused(&out, SKR_R_usage, NULL);
	opts_for(&o, a, NULL);
	o.ca_file = NULL;
	run(&o, &out);
	assert_refused(&out, SKR_R_usage, NULL);
	assert_int_equal(a->connections, 0);
	/* A key the broker does not know: its denial. */
	opts_for(&o, a, NULL);
	o.key_id = "no-such-key";
	run(&o, &out);
	assert_refused(&out, SKR_R_key_unknown, NULL);
	assert_int_equal(a->releases, 0);
}

#define T(f) cmocka_unit_test_teardown(f, test_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(releases_through_the_broker_library),
		T(releases_through_the_stand_in),
		T(denial_is_final),
		T(denial_pcr_mismatch_real),
		T(denial_text_and_reason_checked),
		T(client_errors_are_final),
		T(server_error_tries_next_broker),
		T(server_errors_until_deadline),
		T(first_broker_down),
		T(all_brokers_down),
		T(stalled_broker_tries_next),
		T(held_before_tls),
		T(held_after_request),
		T(trickled_answer),
		T(oversize_answers),
		T(wrong_nonce),
		T(wrong_wrapped_answer),
		T(hostile_challenges),
		T(redirect_not_followed),
		T(untrusted_certificate),
		T(certificate_for_another_host),
		T(plaintext_broker),
		T(http_url_refused),
		T(refused_before_any_broker),
	};

	signal(SIGPIPE, SIG_IGN);	/* a client that hangs up on a fake broker mid-write */
	return cmocka_run_group_tests_name("release_client", tests, group_setup, group_teardown);
}
