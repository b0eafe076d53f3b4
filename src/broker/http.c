/* SPDX-License-Identifier: Apache-2.0 */
#include "broker/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/printbuf.h>
#include <microhttpd.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/util.h"

/*
 * One libmicrohttpd daemon and the PEM text it points into (MHD keeps the
 * pointers for the daemon's lifetime).  A listener has one live generation
 * and, after a reload, older ones that serve their open connections until
 * these end (or the drain deadline) and are then stopped.
 */
struct generation {
	struct MHD_Daemon *daemon;
	char *cert_pem, *key_pem;
	int listen_fd;		/* the daemon's (it closes it when stopped) */
	int quiesced_fd;	/* the listen socket MHD handed back, closed after the stop */
	time_t deadline;	/* draining: stopped by then whatever is still open */
	struct generation *next;
};

struct skr_listener {
	struct skr_broker *broker;
	bool admin;
	struct skr_listener_opts opts;	/* as started; cert_pem and key_pem not kept */
	char *address;
	unsigned port;
	struct generation *live;
	struct generation *draining;
};

/*
 * One request's body, accumulated across MHD callbacks, in a secret
 * (common/secret.h: locked, wiped on free).  Bodies can carry secrets (POST
 * /v1/keys) and carry evidence: every buffer that held one is wiped before
 * it is freed, growth included (skr_secret_realloc grows in place within
 * its pages, else copies and wipes the old one), and so are the
 * chunks in libmicrohttpd's read buffer, the JSON parser's buffer and the
 * "secret" string (admin.c).  Checked by scanning a live broker's memory
 * (/proc/PID/mem) for a just-created key's secret: none in the optimized
 * build; under ASan (freed memory quarantined, not reused) copies remain in
 * GnuTLS's decrypted record buffer, which GnuTLS frees unwiped and no
 * caller can reach, and on a library thread's stack.
 */
struct request {
	char *body;		/* a secret of skr_secret_size(body) >= len bytes */
	size_t len;
	bool too_large;
};

static void request_free(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct request *r = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (r) {
		skr_secret_free(r->body);
		free(r);
	}
	*con_cls = NULL;
}

static int parse_address(const char *address, struct sockaddr_storage *ss, struct skr_err *err)
{
	char host[64];
	const char *colon = strrchr(address, ':');
	size_t hlen;
	long port;
	char *end;

	if (!colon || colon == address)
		return skr_fail(err, SKR_R_usage, "listen address \"%s\" is not HOST:PORT", address);
	hlen = (size_t)(colon - address);
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 0 || port > 65535 || hlen >= sizeof(host))
		return skr_fail(err, SKR_R_usage, "listen address \"%s\" has a bad port", address);
	memcpy(host, address, hlen);
	host[hlen] = 0;
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[' && hlen > 2 && host[hlen - 1] == ']') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		host[hlen - 1] = 0;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) == 1)
			return 0;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &s4->sin_addr) == 1)
			return 0;
	}
	return skr_fail(err, SKR_R_usage, "listen address \"%s\" is not a numeric IP", address);
}

static void client_address(struct MHD_Connection *c, char *out, size_t size)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = info ? info->client_addr : NULL;

	snprintf(out, size, "unknown");
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)size);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)size);
}

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *type,
				 const char *text)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, struct skr_response *r)
{
	enum MHD_Result ret = send_text(c, r->status, "application/json",
					json_object_to_json_string_ext(r->body, JSON_C_TO_STRING_PLAIN));

	json_object_put(r->body);
	r->body = NULL;
	return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
	struct skr_response r;
	struct skr_err err = { 0 };

	skr_fail(&err, SKR_R_malformed, "%s", msg);
	skr_response_error(&r, status, status == 401 ? "unauthorized" : "bad request",
			   status == 401 ? NULL : &err);
	return send_json(c, &r);
}

/* Room for need more bytes (a secret is NUL-terminated past its size). */
static bool reserve(struct request *r, size_t need)
{
	size_t have = skr_secret_size(r->body), cap = r->body ? have : 4000;
	char *grown;

	if (r->body && r->len + need <= have)
		return true;
	while (cap < r->len + need)
		cap *= 2;
	grown = skr_secret_realloc(r->body, cap);
	if (!grown)
		return false;
	r->body = grown;
	return true;
}

/* Collects the body; returns true once the whole request is in. */
static bool collect(struct request *r, const char *data, size_t *size)
{
	if (*size == 0)
		return true;
	if (!r->too_large && r->len + *size <= SKR_HTTP_MAX_BODY && reserve(r, *size)) {
		memcpy(r->body + r->len, data, *size);
		r->len += *size;
		r->body[r->len] = 0;
	} else {
		r->too_large = true;
	}
	/*
	 * The chunk lies in libmicrohttpd's read buffer, which it frees or
	 * reuses unwiped; consumed (*size = 0), it is never read again, so it
	 * is wiped where it lies.
	 */
	OPENSSL_cleanse((char *)data, *size);
	*size = 0;
	return false;
}

/*
 * The tokener keeps string contents in its own buffer (json-c offers no
 * other way to reach it than the struct): wiped like the body, since a
 * request's "secret" passed through it.  It is sized for the whole body
 * before parsing, so that json-c never grows it by realloc (which would
 * leave unwiped copies behind).
 */
static struct json_tokener *tokener_new(size_t body_len)
{
	struct json_tokener *tok = json_tokener_new_ex(32);

	if (tok && tok->pb) {
		if (printbuf_memset(tok->pb, 0, 0, (int)body_len + 1) < 0) {
			json_tokener_free(tok);
			return NULL;
		}
		printbuf_reset(tok->pb);
	}
	return tok;
}

static void tokener_wipe_free(struct json_tokener *tok)
{
	if (tok && tok->pb && tok->pb->buf)
		OPENSSL_cleanse(tok->pb->buf, (size_t)tok->pb->size);
	json_tokener_free(tok);
}

static bool is_json(struct MHD_Connection *c)
{
	const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);

	return type && strncasecmp(type, "application/json", 16) == 0 &&
	       (type[16] == 0 || type[16] == ';');
}

/* Parses the body as one JSON object, or answers 400 naming the problem. */
static json_object *body_json(struct MHD_Connection *c, struct request *r, enum MHD_Result *ret)
{
	struct json_tokener *tok;
	json_object *obj;

	if (r->too_large) {
		struct skr_response resp;
		struct skr_err err = { 0 };

		skr_fail(&err, SKR_R_request_too_large, "request body is larger than %u bytes",
			 SKR_HTTP_MAX_BODY);
		skr_response_error(&resp, 413, "request too large", &err);
		*ret = send_json(c, &resp);
		return NULL;
	}
	if (!is_json(c)) {
		*ret = send_error(c, 400, "Content-Type must be application/json");
		return NULL;
	}
	tok = tokener_new(r->len);
	obj = tok && r->body ? json_tokener_parse_ex(tok, r->body, (int)r->len) : NULL;
	if (!obj || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != r->len || !json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		tokener_wipe_free(tok);
		*ret = send_error(c, 400, "request body is not one JSON object");
		return NULL;
	}
	tokener_wipe_free(tok);
	return obj;
}

/* The client API: challenge, release and reseal (refvals.c). */
static bool client_endpoint(const char *url)
{
	static const char *const endpoints[] = { "/v1/challenge", "/v1/release", "/v1/refvals",
						 "/v1/refvals/check", "/v1/refvals/commit",
						 "/v1/refvals/withdraw", NULL };
	size_t i;

	for (i = 0; endpoints[i]; i++)
		if (!strcmp(url, endpoints[i]))
			return true;
	return false;
}

/*
 * /healthz: "ok" while the database answers (the store's version is one
 * query on it), else 503 with the reason, so that a load balancer stops
 * sending VMs to a broker whose database it cannot reach.
 */
static enum MHD_Result serve_health(struct skr_listener *l, struct MHD_Connection *c)
{
	struct skr_store_version v;
	struct skr_err err = { 0 };
	char text[128];

	if (skr_store_version(l->broker->store, &v, &err) == 0)
		return send_text(c, 200, "text/plain", "ok\n");
	fprintf(stderr, "skr-broker: /healthz: %s: %s\n", skr_reason_name(err.reason), err.detail);
	snprintf(text, sizeof(text), "unavailable: %s: the broker's database does not answer\n",
		 skr_reason_name(err.reason));
	return send_text(c, 503, "text/plain", text);
}

static enum MHD_Result serve_release_api(struct skr_listener *l, struct MHD_Connection *c,
					 const char *url, const char *method, struct request *r)
{
	struct skr_response resp = { 0 };
	enum MHD_Result ret = MHD_NO;
	uint8_t digest[32];
	char client[64];
	json_object *req;

	if (!strcmp(method, "GET") && !strcmp(url, "/healthz"))
		return serve_health(l, c);
	if (!strcmp(method, "GET") && !strcmp(url, "/metrics")) {
		struct skr_chain_cache *cc = &l->broker->chain_cache;
		struct skr_metrics_cache stats;
		struct skr_store_durability durability;
		struct skr_store_commit_stats commit;
		struct skr_err err = { 0 };
		_cleanup_free_ char *text = NULL;
		bool have_durability, have_commit;

		pthread_mutex_lock(&cc->lock);
		stats.hits = cc->hits;
		stats.misses = cc->misses;
		stats.entries = cc->count;
		pthread_mutex_unlock(&cc->lock);
		have_durability = skr_store_durability(l->broker->store, &durability, &err) == 0;
		have_commit = skr_store_commit_stats(l->broker->store, &commit, &err) == 0;
		text = skr_metrics_render(&l->broker->metrics, &stats,
					  have_durability ? &durability : NULL,
					  have_commit ? &commit : NULL);

		return send_text(c, 200, "text/plain; version=0.0.4", text ? text : "");
	}
	if (strcmp(method, "POST") != 0 || !client_endpoint(url))
		return send_error(c, 404, "no such endpoint");
	req = body_json(c, r, &ret);
	if (!req)
		return ret;
	client_address(c, client, sizeof(client));
	if (!strcmp(url, "/v1/challenge")) {
		skr_broker_challenge(l->broker, req, client, &resp);
	} else {
		EVP_Digest(r->body, r->len, digest, NULL, EVP_sha256(), NULL);
		if (!strcmp(url, "/v1/release"))
			skr_broker_release(l->broker, req, client, digest, &resp);
		else
			skr_broker_refvals(l->broker, url + strlen("/v1/refvals"), req, client, digest,
					   &resp);
	}
	json_object_put(req);
	return send_json(c, &resp);
}

static void audit_unauthorized(struct skr_listener *l, struct MHD_Connection *c, const char *url)
{
	struct skr_audit_entry e = { .action = "admin:auth", .verdict = "deny",
				     .reason = "unauthorized", .detail = url };
	struct skr_err err = { 0 };
	char client[64];

	client_address(c, client, sizeof(client));
	e.client = client;
	/* The request is refused either way; a lost row is counted and logged. */
	if (skr_store_audit(l->broker->store, &e, &err) < 0)
		skr_broker_audit_failure(l->broker, client, e.action, e.verdict, &err);
}

/*
 * The admin token is checked on the request's first callback, when only the
 * headers are in: a request without a valid token is answered 401 before
 * any of its body is read (MHD then closes the connection).
 */
static enum MHD_Result admin_refuse(struct skr_listener *l, struct MHD_Connection *c,
				    const char *url)
{
	char client[64];

	client_address(c, client, sizeof(client));
	atomic_fetch_add(&l->broker->metrics.admin_unauthorized, 1);
	fprintf(stderr, "skr-broker: admin request %.100s from %s refused: no valid token\n", url,
		client);
	audit_unauthorized(l, c, url);
	return send_error(c, 401, "a valid bearer token is required");
}

static bool admin_authorized(struct skr_listener *l, struct MHD_Connection *c)
{
	return skr_broker_admin_auth(l->broker,
				     MHD_lookup_connection_value(c, MHD_HEADER_KIND,
								 MHD_HTTP_HEADER_AUTHORIZATION));
}

static enum MHD_Result serve_admin_api(struct skr_listener *l, struct MHD_Connection *c,
				       const char *url, const char *method, struct request *r)
{
	struct skr_response resp = { 0 };
	enum MHD_Result ret = MHD_NO;
	json_object *req = NULL;
	const char *key_id, *limit;
	char client[64];

	if (!strcmp(method, "POST") || !strcmp(method, "PUT")) {
		req = body_json(c, r, &ret);
		if (!req)
			return ret;
	} else if (!strcmp(method, "GET")) {
		key_id = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "key_id");
		limit = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
		req = json_object_new_object();
		if (key_id)
			json_object_object_add(req, "key_id", json_object_new_string(key_id));
		if (limit)
			json_object_object_add(req, "limit", json_object_new_int(atoi(limit)));
	}
	client_address(c, client, sizeof(client));
	skr_broker_admin(l->broker, method, url, req, client, &resp);
	json_object_put(req);
	return send_json(c, &resp);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *data,
			      size_t *size, void **con_cls)
{
	struct skr_listener *l = cls;
	struct request *r = *con_cls;

	(void)version;
	if (!r) {
		if (l->admin && !admin_authorized(l, c))
			return admin_refuse(l, c, url);
		r = calloc(1, sizeof(*r));
		*con_cls = r;
		return r ? MHD_YES : MHD_NO;
	}
	if (!collect(r, data, size))
		return MHD_YES;
	return l->admin ? serve_admin_api(l, c, url, method, r)
			: serve_release_api(l, c, url, method, r);
}

/*
 * libmicrohttpd's log.  A client over a connection limit would otherwise
 * write one line per refused connection (a log flood on demand): those are
 * counted in skr_connections_refused_total and logged at most every 10 s.
 */
#define REFUSAL_LOG_INTERVAL 10

/*
 * Seconds on the monotonic clock: for timeouts and rate windows, which a step
 * of the wall clock must neither stretch nor cut.
 */
static time_t monotonic_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec;
}

/* libmicrohttpd's format and arguments (MHD_LogCallback): printf-checked. */
static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct skr_listener *l = cls;
	struct skr_metrics *m = &l->broker->metrics;
	char line[512];
	long long now = (long long)monotonic_s(), last;

	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = 0;
	if (strstr(line, "connection limit")) {
		unsigned long n = atomic_fetch_add(&m->connections_refused, 1) + 1;

		last = atomic_load(&m->connections_refused_logged);
		if ((last && now - last < REFUSAL_LOG_INTERVAL) ||
		    !atomic_compare_exchange_strong(&m->connections_refused_logged, &last, now))
			return;
		fprintf(stderr, "skr-broker: %s listener: connection limit reached, connections "
			"closed at once (%lu so far)\n", l->admin ? "admin" : "release", n);
		return;
	}
	fprintf(stderr, "skr-broker: libmicrohttpd: %s\n", line);
}

/* MHD reads these options as unsigned int through varargs. */
#define OR_DEFAULT(v, def) ((unsigned)((v) ? (v) : (def)))

/*
 * The listening socket is the listener's own, made here and handed to each
 * daemon (MHD_OPTION_LISTEN_SOCKET), so that a reload can give the same
 * socket to a new daemon: the port never closes, and no connection waiting
 * in the accept queue is lost.  Settings as libmicrohttpd's own.
 */
static int listen_socket(const char *address, unsigned *port, struct skr_err *err)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd, on = 1;

	if (parse_address(address, &ss, err) < 0)
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
	    (ss.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) < 0) ||
	    bind(fd, (struct sockaddr *)&ss, ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
								 : sizeof(struct sockaddr_in)) < 0 ||
	    listen(fd, SOMAXCONN) < 0 || getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return skr_fail(err, SKR_R_usage, "cannot listen on %s: %s", address, strerror(e));
	}
	*port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					       : ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

/*
 * The pair is checked here before any daemon sees it, so that a reload
 * refused for a bad pair says why (libmicrohttpd only says that it failed):
 * a PEM certificate first, a PEM private key, and the key is the
 * certificate's.
 */
static int tls_pair_check(const char *cert_pem, const char *key_pem, struct skr_err *err)
{
	_cleanup_(BIO_freep) BIO *cb = BIO_new_mem_buf(cert_pem, -1);
	_cleanup_(BIO_freep) BIO *kb = BIO_new_mem_buf(key_pem, -1);
	_cleanup_(X509_freep) X509 *cert = NULL;
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;

	if (!cb || !kb)
		return skr_fail(err, SKR_R_nomem, "out of memory checking the TLS pair");
	cert = PEM_read_bio_X509(cb, NULL, NULL, NULL);
	if (!cert)
		return skr_fail(err, SKR_R_usage, "the TLS certificate is not a PEM certificate");
	key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
	if (!key)
		return skr_fail(err, SKR_R_usage,
				"the TLS key is not a PEM private key (or is encrypted)");
	if (X509_check_private_key(cert, key) != 1)
		return skr_fail(err, SKR_R_usage,
				"the TLS key does not match the certificate (not its private key)");
	ERR_clear_error();
	return 0;
}

static void generation_free(struct generation *g)
{
	if (!g)
		return;
	if (g->daemon)
		MHD_stop_daemon(g->daemon);
	/* MHD closes a socket it was listening on, not one it handed back. */
	if (g->quiesced_fd >= 0)
		close(g->quiesced_fd);
	free(g->cert_pem);
	skr_secret_free(g->key_pem);
	free(g);
}

/* A daemon on fd (which it owns once started) with this pair; NULL if it did not start. */
static struct generation *generation_start(struct skr_listener *l, int fd, const char *cert_pem,
					   const char *key_pem)
{
	const struct skr_listener_opts *o = &l->opts;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TLS |
			 MHD_USE_ERROR_LOG | MHD_USE_ITC;	/* ITC: MHD_quiesce_daemon needs it */
	struct generation *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->quiesced_fd = -1;
	g->cert_pem = strdup(cert_pem);
	g->key_pem = skr_secret_dup(key_pem, strlen(key_pem));
	if (g->cert_pem && g->key_pem)
		g->daemon = MHD_start_daemon(
			flags, 0, NULL, NULL, handle, l, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, l,
			MHD_OPTION_LISTEN_SOCKET, fd,
			MHD_OPTION_HTTPS_MEM_CERT, g->cert_pem, MHD_OPTION_HTTPS_MEM_KEY, g->key_pem,
			MHD_OPTION_HTTPS_PRIORITIES,
			o->tls_priorities ? o->tls_priorities : SKR_HTTP_TLS_PRIORITIES,
			/* 0 for one thread: MHD warns that a pool of 1 is no pool. */
			MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(o->threads > 1 ? o->threads : 0),
			MHD_OPTION_CONNECTION_TIMEOUT, OR_DEFAULT(o->timeout, SKR_HTTP_TIMEOUT),
			MHD_OPTION_CONNECTION_LIMIT,
			OR_DEFAULT(o->connection_limit, SKR_HTTP_CONNECTION_LIMIT),
			MHD_OPTION_PER_IP_CONNECTION_LIMIT,
			OR_DEFAULT(o->per_client_limit, SKR_HTTP_PER_CLIENT_LIMIT),
			MHD_OPTION_NOTIFY_COMPLETED, request_free, NULL, MHD_OPTION_END);
	if (!g->daemon) {
		generation_free(g);
		return NULL;
	}
	return g;
}

/*
 * After a failed MHD_start_daemon, closes fd if it is still the socket
 * identified by before: libmicrohttpd may or may not have closed the socket
 * it was given, and by now the number may name another thread's file.
 */
static void close_if_same(int fd, const struct stat *before)
{
	struct stat now;

	if (fstat(fd, &now) == 0 && now.st_dev == before->st_dev && now.st_ino == before->st_ino)
		close(fd);
}

int skr_listener_start(struct skr_broker *b, const struct skr_listener_opts *o,
		       struct skr_listener **out, struct skr_err *err)
{
	struct skr_listener *l;
	struct stat st;
	int fd;

	if (tls_pair_check(o->cert_pem, o->key_pem, err) < 0)
		return -1;
	l = calloc(1, sizeof(*l));
	if (!l)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	l->broker = b;
	l->admin = o->admin;
	l->opts = *o;
	l->opts.cert_pem = l->opts.key_pem = NULL;
	l->address = strdup(o->address);
	l->opts.address = l->address;
	if (!l->address) {
		free(l);
		return skr_fail(err, SKR_R_nomem, "out of memory");
	}
	fd = listen_socket(o->address, &l->port, err);
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		skr_listener_stop(l);
		return fd < 0 ? -1 : skr_fail(err, SKR_R_io, "cannot stat the listening socket");
	}
	l->live = generation_start(l, fd, o->cert_pem, o->key_pem);
	if (l->live)
		l->live->listen_fd = fd;
	if (!l->live) {
		close_if_same(fd, &st);
		skr_listener_stop(l);
		return skr_fail(err, SKR_R_usage,
				"cannot serve TLS on %s (certificate/key refused by GnuTLS or a bad "
				"TLS priority string)", o->address);
	}
	*out = l;
	return 0;
}

/*
 * Why a new daemon and not MHD's certificate callback
 * (MHD_OPTION_HTTPS_CERT_CALLBACK): that callback is GnuTLS's retrieve
 * function, so the broker would link GnuTLS itself, build gnutls_pcert_st
 * and gnutls_privkey_t pairs by hand, and keep every pair it ever served
 * alive (GnuTLS holds the pointers for the session, with no release hook).
 * A new daemon on the same socket loads the pair exactly as at start, and
 * the old daemon keeps serving the connections it has (keep-alive ones
 * included) until they end: none is dropped.
 */
int skr_listener_reload(struct skr_listener *l, const char *cert_pem, const char *key_pem,
			struct skr_err *err)
{
	struct generation *g, *old = l->live;
	struct stat st;
	int fd;

	if (tls_pair_check(cert_pem, key_pem, err) < 0)
		return -1;
	fd = fcntl(old->listen_fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return skr_fail(err, SKR_R_io, "cannot share the listening socket: %s",
				strerror(errno));
	}
	g = generation_start(l, fd, cert_pem, key_pem);
	if (!g) {
		close_if_same(fd, &st);
		return skr_fail(err, SKR_R_usage,
				"libmicrohttpd refused the new certificate/key (see its message above)");
	}
	g->listen_fd = fd;
	/* From here the new daemon accepts; the old one only finishes what it has. */
	old->quiesced_fd = MHD_quiesce_daemon(old->daemon);
	if (old->quiesced_fd < 0) {
		/* Both would accept: the old one must go now, cutting its connections. */
		fprintf(stderr, "skr-broker: %s listener: cannot quiesce the old TLS daemon; "
			"stopping it at once\n", l->admin ? "admin" : "release");
		generation_free(old);
	} else {
		old->deadline = monotonic_s() +
				2 * (time_t)OR_DEFAULT(l->opts.timeout, SKR_HTTP_TIMEOUT);
		old->next = l->draining;
		l->draining = old;
	}
	l->live = g;
	return 0;
}

/* Connections a daemon still has open. */
static unsigned daemon_connections(struct MHD_Daemon *d)
{
	const union MHD_DaemonInfo *info =
		MHD_get_daemon_info(d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

	return info ? info->num_connections : 0;
}

unsigned skr_listener_drain(struct skr_listener *l, time_t now)
{
	struct generation **p = &l->draining, *g;
	unsigned left = 0, open;

	while ((g = *p)) {
		open = daemon_connections(g->daemon);
		if (open > 0 && now < g->deadline) {
			left++;
			p = &g->next;
			continue;
		}
		*p = g->next;
		if (open > 0)
			fprintf(stderr, "skr-broker: %s listener: %u connection(s) of the old "
				"certificate still open at the drain deadline, closed\n",
				l->admin ? "admin" : "release", open);
		generation_free(g);
	}
	return left;
}

unsigned skr_listener_port(const struct skr_listener *l)
{
	return l->port;
}

void skr_listener_stop(struct skr_listener *l)
{
	struct generation *g;

	if (!l)
		return;
	while ((g = l->draining)) {
		l->draining = g->next;
		generation_free(g);
	}
	generation_free(l->live);
	free(l->address);
	free(l);
}
