/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One HTTPS/1.1 request on its own connection, with OpenSSL only (no
 * libcurl: its dependency closure would put LDAP, Kerberos, GnuTLS, RTMP and
 * SSH libraries into every initramfs; bench/results/initramfs.json).
 *
 *   - the URL: "https://" host [":" port] [path]; host a DNS name, an IPv4
 *     address or a bracketed IPv6 address; no user info, query or fragment
 *     in the base, no byte outside printable ASCII anywhere;
 *   - the name: getaddrinfo_a (glibc's resolver threads), abandoned at the
 *     connect deadline;
 *   - the connection: each address in turn, non-blocking, each with its
 *     share of the connect time; no proxy is ever used;
 *   - TLS 1.2 or 1.3 only, the peer verified against the configured CA
 *     alone (a PEM file or PEM text; no system store; a CA certificate that
 *     is not self-signed is a trust anchor too, as libcurl had it), the host
 *     name (SSL_set1_host, SNI) or IP address checked against the
 *     certificate; the handshake counts toward the connect time;
 *   - one request with Connection: close, the answer read by
 *     http_response.c within the total time and size bound.
 * SIGPIPE is blocked in the calling thread while it runs (the token plugin
 * lives in systemd-cryptsetup, whose signal dispositions are not ours).
 */
#include "vm/https.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "vm/http_response.h"

#define URL_MAX 2048

static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int left_ms(double deadline)
{
	double left = deadline - mono_ms();

	return left <= 0 ? 0 : left > 1e9 ? 1000000000 : (int)left + 1;
}

struct url {
	char host[256];		/* without brackets */
	char port[6];
	char authority[300];	/* as written: the Host header */
	char target[URL_MAX];	/* path and query */
	bool ip;
};

static bool host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_';
}

static int parse_url(const char *base, const char *path, struct url *u, struct skr_err *err)
{
	const char *a, *end, *p, *colon = NULL;
	size_t hlen, alen, i;
	unsigned long port = 443;
	char full[URL_MAX];

	memset(u, 0, sizeof(*u));
	if ((size_t)snprintf(full, sizeof(full), "%s%s", base, path) >= sizeof(full))
		return skr_fail(err, SKR_R_usage, "broker URL is too long");
	for (i = 0; full[i]; i++)
		if ((unsigned char)full[i] <= 0x20 || (unsigned char)full[i] >= 0x7f || full[i] == '#')
			return skr_fail(err, SKR_R_usage, "broker URL has a byte that is not allowed in one");
	if (strncmp(full, "https://", 8) != 0)
		return skr_fail(err, SKR_R_usage, "broker URL is not https://");
	a = full + 8;
	end = a + strcspn(a, "/?");
	if (*end == '?' || memchr(a, '@', (size_t)(end - a)))
		return skr_fail(err, SKR_R_usage, "broker URL has user info or a query where the host is");
	alen = (size_t)(end - a);
	if (alen == 0 || alen >= sizeof(u->authority))
		return skr_fail(err, SKR_R_usage, "broker URL has no host, or too long a one");
	memcpy(u->authority, a, alen);
	if (a[0] == '[') {
		const char *close = memchr(a, ']', alen);
		struct in6_addr a6;

		if (!close || close - a - 1 >= (long)sizeof(u->host))
			return skr_fail(err, SKR_R_usage, "broker URL has a malformed IPv6 address");
		memcpy(u->host, a + 1, (size_t)(close - a - 1));
		if (inet_pton(AF_INET6, u->host, &a6) != 1)
			return skr_fail(err, SKR_R_usage, "broker URL has a malformed IPv6 address");
		u->ip = true;
		p = close + 1;
		if (p < end && *p != ':')
			return skr_fail(err, SKR_R_usage, "broker URL has a malformed IPv6 address");
		if (p < end)
			colon = p;
	} else {
		struct in_addr a4;

		colon = memchr(a, ':', alen);
		hlen = colon ? (size_t)(colon - a) : alen;
		if (hlen == 0 || hlen >= sizeof(u->host))
			return skr_fail(err, SKR_R_usage, "broker URL has no host, or too long a one");
		for (i = 0; i < hlen; i++)
			if (!host_char(a[i]))
				return skr_fail(err, SKR_R_usage, "broker URL's host is not a DNS name or an address");
		memcpy(u->host, a, hlen);
		u->ip = inet_pton(AF_INET, u->host, &a4) == 1;
	}
	if (colon) {
		char *num_end;

		if (colon + 1 == end || colon + 1 + 5 < end)
			return skr_fail(err, SKR_R_usage, "broker URL has a malformed port");
		for (p = colon + 1; p < end; p++)
			if (*p < '0' || *p > '9')
				return skr_fail(err, SKR_R_usage, "broker URL has a malformed port");
		port = strtoul(colon + 1, &num_end, 10);
		if (port == 0 || port > 65535)
			return skr_fail(err, SKR_R_usage, "broker URL has a malformed port");
	}
	snprintf(u->port, sizeof(u->port), "%lu", port);
	snprintf(u->target, sizeof(u->target), "%s", *end ? end : "/");
	if (u->target[0] != '/')
		return skr_fail(err, SKR_R_usage, "broker URL has a malformed path");
	return 0;
}

struct gai_job {
	struct gaicb cb;
	struct addrinfo hints;
	char host[256];
	char port[6];
};

/*
 * The addresses of the host within the deadline.  A name is resolved by
 * glibc's asynchronous getaddrinfo; when the deadline passes first the
 * request is cancelled, or, if it cannot be, left to finish into memory that
 * is deliberately never freed.
 */
static int resolve(const struct url *u, double deadline, struct addrinfo **res, const char *base,
		   struct skr_err *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_protocol = IPPROTO_TCP };
	struct gai_job *job;
	struct gaicb *req;
	struct gaicb *list[1];
	int rc;

	*res = NULL;
	if (u->ip) {
		hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
		rc = getaddrinfo(u->host, u->port, &hints, res);
		if (rc != 0)
			return skr_fail(err, SKR_R_broker_unreachable, "%s: %s", base, gai_strerror(rc));
		return 0;
	}
	/* Everything the resolver reads lives in the one block it may outlive us with. */
	job = calloc(1, sizeof(*job));
	if (!job)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	job->hints = hints;
	job->hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
	memcpy(job->host, u->host, sizeof(job->host));
	memcpy(job->port, u->port, sizeof(job->port));
	req = &job->cb;
	req->ar_request = &job->hints;
	req->ar_name = job->host;
	req->ar_service = job->port;
	list[0] = req;
	rc = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL);
	if (rc != 0) {
		free(job);
		return skr_fail(err, SKR_R_broker_unreachable, "%s: %s", base, gai_strerror(rc));
	}
	for (;;) {
		int ms = left_ms(deadline);
		struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

		rc = gai_error(req);
		if (rc != EAI_INPROGRESS || ms == 0)
			break;
		gai_suspend((const struct gaicb *const *)list, 1, &ts);
	}
	if (rc == EAI_INPROGRESS) {
		if (gai_cancel(req) == EAI_CANCELED)
			free(job);
		/* else the resolver still writes into req: it is left to it */
		return skr_fail(err, SKR_R_broker_unreachable, "%s: timed out resolving %s", base, u->host);
	}
	if (rc != 0) {
		free(job);
		return skr_fail(err, SKR_R_broker_unreachable, "%s: cannot resolve %s: %s", base, u->host,
				gai_strerror(rc));
	}
	*res = req->ar_result;
	free(job);
	return 0;
}

/* Waits until fd is ready for events or the deadline passes (0 ready, -1 not). */
static int wait_fd(int fd, short events, double deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int rc;

	for (;;) {
		int ms = left_ms(deadline);

		if (ms == 0)
			return -1;
		rc = poll(&pfd, 1, ms);
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR)
			return -1;
	}
}

static int connect_one(const struct addrinfo *ai, double deadline, int *out_errno)
{
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	int one = 1;

	if (fd < 0) {
		*out_errno = errno;
		return -1;
	}
	/*
	 * No Nagle: the request follows the handshake's last flight as a second
	 * small write, which Nagle would hold until the broker's delayed ACK
	 * (40 ms, twice per release).  libcurl sets this too.
	 */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		*out_errno = errno;
		close(fd);
		return -1;
	}
	if (wait_fd(fd, POLLOUT, deadline) < 0) {
		*out_errno = ETIMEDOUT;
		close(fd);
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 || soerr) {
		*out_errno = soerr ? soerr : errno;
		close(fd);
		return -1;
	}
	return fd;
}

static int connect_any(const struct url *u, double deadline, const char *base, struct skr_err *err)
{
	struct addrinfo *res = NULL, *ai;
	int fd = -1, last = 0;
	unsigned n = 0;

	if (resolve(u, deadline, &res, base, err) < 0)
		return -1;
	for (ai = res; ai; ai = ai->ai_next)
		n++;
	for (ai = res; ai && fd < 0; ai = ai->ai_next, n--) {
		/* Each address gets its share of what is left, the last one all of it. */
		double now = mono_ms(), slice = now + (deadline - now) / n;

		if (now >= deadline) {
			last = ETIMEDOUT;
			break;
		}
		fd = connect_one(ai, slice, &last);
	}
	freeaddrinfo(res);
	if (fd < 0)
		skr_fail(err, SKR_R_broker_unreachable, "%s: %s", base,
			 last == ETIMEDOUT ? "timed out connecting" : strerror(last));
	return fd;
}

/* The last OpenSSL error as text (the queue is cleared). */
static const char *ssl_text(SSL *ssl, char *buf, size_t n)
{
	unsigned long e = ERR_get_error();
	long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;

	ERR_clear_error();
	if (v != X509_V_OK)
		snprintf(buf, n, "certificate verification failed: %s", X509_verify_cert_error_string(v));
	else if (e && ERR_GET_LIB(e) == ERR_LIB_SYS)
		snprintf(buf, n, "%s", strerror(ERR_GET_REASON(e)));
	else if (e && ERR_reason_error_string(e))
		snprintf(buf, n, "TLS: %s", ERR_reason_error_string(e));
	else if (e)
		ERR_error_string_n(e, buf, n);
	else
		snprintf(buf, n, "connection closed");
	return buf;
}

static int load_ca(SSL_CTX *ctx, const struct skr_https_ca *ca, const char *base, struct skr_err *err)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	int added = 0;

	if (ca->pem) {
		BIO *bio = BIO_new_mem_buf(ca->pem, -1);
		STACK_OF(X509_INFO) *infos = bio ? PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL) : NULL;

		for (int i = 0; infos && i < sk_X509_INFO_num(infos); i++) {
			X509_INFO *xi = sk_X509_INFO_value(infos, i);

			if (xi->x509 && X509_STORE_add_cert(store, xi->x509) == 1)
				added++;
		}
		sk_X509_INFO_pop_free(infos, X509_INFO_free);
		BIO_free(bio);
	} else if (ca->file && SSL_CTX_load_verify_locations(ctx, ca->file, NULL) == 1) {
		STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(store);

		added = objs ? sk_X509_OBJECT_num(objs) : 0;
	}
	ERR_clear_error();
	if (added == 0)
		return skr_fail(err, SKR_R_broker_unreachable, "%s: no CA certificate could be read from %s",
				base, ca->pem ? "the configured PEM text" : ca->file ? ca->file : "(none)");
	return 0;
}

static SSL *tls_setup(SSL_CTX **ctx_out, int fd, const struct url *u, const struct skr_https_ca *ca,
		      const char *base, struct skr_err *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	X509_VERIFY_PARAM *param;
	SSL *ssl = NULL;

	*ctx_out = ctx;
	if (!ctx) {
		skr_fail(err, SKR_R_nomem, "cannot set up TLS");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (load_ca(ctx, ca, base, err) < 0)
		return NULL;
	ssl = SSL_new(ctx);
	if (!ssl || SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		skr_fail(err, SKR_R_nomem, "cannot set up TLS");
		return NULL;
	}
	param = SSL_get0_param(ssl);
	/* The pinned CA may be an intermediate or the broker's own certificate. */
	X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
	X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (u->ip ? X509_VERIFY_PARAM_set1_ip_asc(param, u->host) != 1
		  : (SSL_set1_host(ssl, u->host) != 1 || SSL_set_tlsext_host_name(ssl, u->host) != 1)) {
		SSL_free(ssl);
		skr_fail(err, SKR_R_nomem, "cannot set up TLS");
		return NULL;
	}
	return ssl;
}

/* Drives one non-blocking SSL call: >0 / 0 as the call, -1 for a failure (errno-like text in why). */
enum io { IO_HANDSHAKE, IO_WRITE, IO_READ };

static int tls_io(SSL *ssl, int fd, enum io op, void *buf, size_t n, size_t *done, double deadline,
		  int *ssl_err)
{
	for (;;) {
		int rc, e;

		ERR_clear_error();
		switch (op) {
		case IO_HANDSHAKE:
			rc = SSL_connect(ssl);
			break;
		case IO_WRITE:
			rc = SSL_write_ex(ssl, buf, n, done);
			break;
		default:
			rc = SSL_read_ex(ssl, buf, n, done);
			break;
		}
		if (rc == 1)
			return 1;
		e = SSL_get_error(ssl, rc);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			if (wait_fd(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline) < 0) {
				*ssl_err = -1;	/* timed out */
				return -1;
			}
			continue;
		}
		*ssl_err = e;
		if (e == SSL_ERROR_SYSCALL && errno && ERR_peek_error() == 0)
			ERR_raise_data(ERR_LIB_SYS, errno, "%s", strerror(errno));
		return -1;
	}
}

static char *build_request(const char *method, const struct url *u, const char *body,
			   const char *bearer, size_t *len)
{
	size_t blen = body ? strlen(body) : 0;
	size_t cap = 512 + strlen(method) + strlen(u->target) + strlen(u->authority) +
		     (bearer ? strlen(bearer) : 0) + blen;
	char *req = malloc(cap);
	int n;

	if (!req)
		return NULL;
	n = snprintf(req, cap,
		     "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: skr/" SKR_VERSION "\r\n"
		     "Accept: application/json\r\nConnection: close\r\n",
		     method, u->target, u->authority);
	if (body)
		n += snprintf(req + n, cap - (size_t)n,
			      "Content-Type: application/json\r\nContent-Length: %zu\r\n", blen);
	if (bearer)
		n += snprintf(req + n, cap - (size_t)n, "Authorization: Bearer %s\r\n", bearer);
	n += snprintf(req + n, cap - (size_t)n, "\r\n");
	if (body)
		memcpy(req + n, body, blen);
	*len = (size_t)n + blen;
	return req;
}

static bool valid_method(const char *m)
{
	size_t i;

	for (i = 0; m[i]; i++)
		if (m[i] < 'A' || m[i] > 'Z')
			return false;
	return i > 0 && i <= 16;
}

static bool valid_bearer(const char *b)
{
	for (; *b; b++)
		if ((unsigned char)*b <= 0x20 || (unsigned char)*b >= 0x7f)
			return false;
	return true;
}

static int exchange(SSL *ssl, int fd, const char *req, size_t req_len, double deadline,
		    size_t max, long *status, struct skr_buf *resp, const char *base,
		    struct skr_err *err)
{
	struct skr_http_response *r = malloc(sizeof(*r));
	struct skr_err perr = { 0 };
	uint8_t buf[16384];
	size_t off = 0, n;
	char why[256];
	int ssl_err = 0, rc = SKR_HTTP_MORE;

	if (!r)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	while (off < req_len) {
		if (tls_io(ssl, fd, IO_WRITE, (void *)(req + off), req_len - off, &n, deadline, &ssl_err) < 0) {
			free(r);
			return skr_fail(err, SKR_R_broker_unreachable, "%s: %s", base,
					ssl_err < 0 ? "timed out sending the request"
						    : ssl_text(NULL, why, sizeof(why)));
		}
		off += n;
	}
	skr_http_response_init(r, max);
	while (rc == SKR_HTTP_MORE) {
		if (tls_io(ssl, fd, IO_READ, buf, sizeof(buf), &n, deadline, &ssl_err) == 1) {
			rc = skr_http_response_feed(r, buf, n, NULL, &perr);
			continue;
		}
		if (ssl_err < 0) {
			skr_http_response_free(r);
			free(r);
			return skr_fail(err, SKR_R_broker_unreachable, "%s: timed out reading the answer", base);
		}
		if (ssl_err == SSL_ERROR_ZERO_RETURN || ssl_err == SSL_ERROR_SYSCALL ||
		    (ssl_err == SSL_ERROR_SSL &&
		     ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
			ERR_clear_error();
			rc = skr_http_response_end(r, ssl_err == SSL_ERROR_ZERO_RETURN, &perr);
			break;
		}
		skr_http_response_free(r);
		free(r);
		return skr_fail(err, SKR_R_broker_unreachable, "%s: %s", base, ssl_text(NULL, why, sizeof(why)));
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	if (rc == SKR_HTTP_DONE) {
		*status = r->status;
		*resp = r->body;
		free(r);
		return 0;
	}
	rc = r->failure;
	skr_http_response_free(r);
	free(r);
	switch (rc) {
	case SKR_HTTP_F_TOO_LARGE:
		return skr_fail(err, SKR_R_broker_protocol, "%s answered more than %zu bytes", base, max);
	case SKR_HTTP_F_TRUNCATED:
		return skr_fail(err, SKR_R_broker_unreachable, "%s: %s", base, perr.detail);
	case SKR_HTTP_F_NOMEM:
		return skr_fail(err, SKR_R_nomem, "%s", perr.detail);
	default:
		return skr_fail(err, SKR_R_broker_protocol, "%s: malformed HTTP answer: %s", base, perr.detail);
	}
}

static int request(const char *method, const char *base_url, const char *path, const char *body,
		   const char *bearer, const struct skr_https_ca *ca, unsigned connect_ms,
		   unsigned total_ms, size_t max, long *status, struct skr_buf *resp,
		   struct skr_err *err)
{
	double start = mono_ms(), deadline, connect_deadline;
	sigset_t pipe_set, old_set;
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	char *req = NULL;
	size_t req_len = 0;
	struct url u;
	char why[256];
	int fd = -1, ssl_err = 0, rc = -1;

	skr_buf_free(resp);
	*status = 0;
	if (!valid_method(method))
		return skr_fail(err, SKR_R_usage, "\"%.32s\" is not an HTTP method", method);
	if (bearer && !valid_bearer(bearer))
		return skr_fail(err, SKR_R_usage, "the admin token has a byte that cannot go in a header");
	if (!ca || (!ca->file && !ca->pem))
		return skr_fail(err, SKR_R_usage, "a CA is required");
	if (parse_url(base_url, path, &u, err) < 0)
		return -1;
	if (!total_ms)
		total_ms = 1;
	if (!connect_ms || connect_ms > total_ms)
		connect_ms = total_ms;
	deadline = start + total_ms;
	connect_deadline = start + connect_ms;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);

	fd = connect_any(&u, connect_deadline, base_url, err);
	if (fd < 0)
		goto out;
	ssl = tls_setup(&ctx, fd, &u, ca, base_url, err);
	if (!ssl)
		goto out;
	if (tls_io(ssl, fd, IO_HANDSHAKE, NULL, 0, NULL, connect_deadline, &ssl_err) < 0) {
		skr_fail(err, SKR_R_broker_unreachable, "%s: %s", base_url,
			 ssl_err < 0 ? "timed out in the TLS handshake" : ssl_text(ssl, why, sizeof(why)));
		goto out;
	}
	if (!SSL_get0_peer_certificate(ssl) || SSL_get_verify_result(ssl) != X509_V_OK) {
		skr_fail(err, SKR_R_broker_unreachable, "%s: %s", base_url, ssl_text(ssl, why, sizeof(why)));
		goto out;
	}
	req = build_request(method, &u, body, bearer, &req_len);
	if (!req) {
		skr_fail(err, SKR_R_nomem, "out of memory");
		goto out;
	}
	rc = exchange(ssl, fd, req, req_len, deadline, max, status, resp, base_url, err);
	if (rc == 0)
		SSL_shutdown(ssl);	/* one try: close_notify, never waited for */
out:
	if (req) {
		OPENSSL_cleanse(req, req_len);
		free(req);
	}
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	if (fd >= 0)
		close(fd);
	ERR_clear_error();
	/* A SIGPIPE raised here is consumed before the caller's mask returns. */
	if (!sigismember(&old_set, SIGPIPE)) {
		sigset_t pending;
		struct timespec zero = { 0 };

		sigpending(&pending);
		if (sigismember(&pending, SIGPIPE))
			sigtimedwait(&pipe_set, NULL, &zero);
		pthread_sigmask(SIG_SETMASK, &old_set, NULL);
	}
	return rc;
}

int skr_https_request(const char *method, const char *base_url, const char *path,
		       const char *body, const char *bearer, const struct skr_https_ca *ca,
		       unsigned connect_ms, unsigned total_ms, long *status, struct skr_buf *resp,
		       struct skr_err *err)
{
	return request(method, base_url, path, body, bearer, ca, connect_ms, total_ms,
		       SKR_HTTPS_MAX_RESPONSE, status, resp, err);
}

int skr_https_post_json(const char *base_url, const char *path, const char *body,
			const struct skr_https_ca *ca, unsigned connect_ms, unsigned total_ms,
			long *status, struct skr_buf *resp, struct skr_err *err)
{
	return request("POST", base_url, path, body, NULL, ca, connect_ms, total_ms,
		       SKR_HTTPS_MAX_ANSWER, status, resp, err);
}
