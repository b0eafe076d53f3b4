/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client's HTTPS (src/vm/https.h) and its answer parser
 * (src/vm/http_response.h) against hostile answers.
 *
 * The parser: answers that are oversized, truncated, ambiguously framed, or
 * floods of header fields are each refused with their reason, fed whole and
 * one byte at a time.  The client: a real TLS server on 127.0.0.1 (a thread
 * of this test, OpenSSL, its own CA) that answers with canned bytes,
 * trickles them (slowloris), never finishes the handshake, or closes before
 * reading: every case ends in the documented reason, within the caller's
 * deadline, and the request carries what the API promises.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "testutil.h"
#include "vm/http_response.h"
#include "vm/https.h"

/* ---- the parser ------------------------------------------------------------ */

/* Parses text whole and byte by byte; both must agree.  Returns the result. */
static int parse_both(const char *text, size_t len, size_t max, bool clean, long *status,
		      struct skr_buf *body, enum skr_http_failure *failure, struct skr_err *err)
{
	static struct skr_http_response a, b;
	struct skr_err ea = { 0 }, eb = { 0 };
	int ra, rb;
	size_t i;

	skr_http_response_init(&a, max);
	ra = skr_http_response_feed(&a, (const uint8_t *)text, len, NULL, &ea);
	if (ra == SKR_HTTP_MORE)
		ra = skr_http_response_end(&a, clean, &ea);
	skr_http_response_init(&b, max);
	rb = SKR_HTTP_MORE;
	for (i = 0; i < len && rb == SKR_HTTP_MORE; i++)
		rb = skr_http_response_feed(&b, (const uint8_t *)text + i, 1, NULL, &eb);
	if (rb == SKR_HTTP_MORE)
		rb = skr_http_response_end(&b, clean, &eb);
	assert_int_equal(ra, rb);
	assert_int_equal(a.failure, b.failure);
	assert_string_equal(ea.detail, eb.detail);
	*failure = a.failure;
	*err = ea;
	if (ra == SKR_HTTP_DONE) {
		assert_int_equal(a.status, b.status);
		assert_int_equal(a.body.len, b.body.len);
		if (a.body.len)
			assert_memory_equal(a.body.data, b.body.data, a.body.len);
		*status = a.status;
		*body = a.body;
		a.body = (struct skr_buf){ 0 };
	}
	skr_http_response_free(&a);
	skr_http_response_free(&b);
	return ra;
}

struct ok_case {
	const char *name, *text;
	long status;
	const char *body;
	bool clean;
};

static void parser_accepts(void **state)
{
	static const struct ok_case cases[] = {
		{ "content-length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}",
		  200, "{}", false },
		{ "chunked, extension, trailer",
		  "HTTP/1.1 403 Forbidden\r\ntransfer-encoding: CHUNKED\r\n\r\n3;x=y\r\n{\"a\r\n0002\r\n\"}\r\n0\r\nX-T: 1\r\n\r\n",
		  403, "{\"a\"}", false },
		{ "close-delimited with close_notify", "HTTP/1.0 500 Oops\r\n\r\nbody", 500, "body", true },
		{ "no reason phrase", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", 200, "", false },
		{ "204 ignores framing", "HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n", 204, "", false },
		{ "field value OWS, obs-text", "HTTP/1.1 200 OK\r\nX:  \xc3\xa9 \t\r\nContent-Length:\t1 \r\n\r\nx",
		  200, "x", false },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct skr_buf body = { 0 };
		struct skr_err err = { 0 };
		enum skr_http_failure f;
		long status = 0;
		int rc = parse_both(cases[i].text, strlen(cases[i].text), 64, cases[i].clean, &status,
				    &body, &f, &err);

		if (rc != SKR_HTTP_DONE)
			fail_msg("%s: refused: %s", cases[i].name, err.detail);
		assert_int_equal(status, cases[i].status);
		assert_int_equal(body.len, strlen(cases[i].body));
		if (body.len) {
			assert_memory_equal(body.data, cases[i].body, body.len);
			assert_int_equal(body.data[body.len], 0);
		}
		skr_buf_free(&body);
	}
}

/* The bytes after a complete answer are not consumed. */
static void parser_stops_at_the_end(void **state)
{
	static struct skr_http_response r;
	static const char text[] = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 200 OK\r\n";
	struct skr_err err = { 0 };
	size_t used = 0;

	(void)state;
	skr_http_response_init(&r, 16);
	assert_int_equal(skr_http_response_feed(&r, (const uint8_t *)text, sizeof(text) - 1, &used, &err),
			 SKR_HTTP_DONE);
	assert_int_equal(used, strlen("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"));
	skr_http_response_free(&r);
}

struct bad_case {
	const char *name;
	const char *text;
	size_t len;		/* 0: strlen */
	size_t max;
	enum skr_http_failure failure;
	const char *detail;
};

static char *repeat(const char *head, const char *unit, unsigned n, const char *tail)
{
	size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
	char *s = malloc(hl + ul * n + tl + 1), *p = s;

	assert_non_null(s);
	memcpy(p, head, hl);
	p += hl;
	for (unsigned i = 0; i < n; i++, p += ul)
		memcpy(p, unit, ul);
	memcpy(p, tail, tl + 1);
	return s;
}

static void parser_refuses(void **state)
{
	char *flood = repeat("HTTP/1.1 200 OK\r\n", "X-A: b\r\n", SKR_HTTP_MAX_FIELDS + 1, "\r\n");
	char *long_field = repeat("HTTP/1.1 200 OK\r\nX-Long: ", "aaaaaaaaaaaaaaaa", SKR_HTTP_MAX_HEAD / 16,
				  "\r\n\r\n");
	char *chunk_flood = repeat("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "1\r\nx\r\n",
				   80, "0\r\n\r\n");
	char *trailer_flood = repeat("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n", "T: 1\r\n",
				     SKR_HTTP_MAX_FIELDS + 1, "\r\n");
	char *long_chunk_line = repeat("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;", "e",
				       SKR_HTTP_MAX_CHUNK_LINE, "\r\nx\r\n0\r\n\r\n");
	const struct bad_case cases[] = {
		/* oversize */
		{ "content-length above the bound", "HTTP/1.1 200 OK\r\nContent-Length: 65\r\n\r\n", 0, 64,
		  SKR_HTTP_F_TOO_LARGE, "answered more than 64 bytes" },
		{ "huge content-length", "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999999\r\n\r\n", 0,
		  64, SKR_HTTP_F_TOO_LARGE, "answered more than 64 bytes" },
		{ "chunk above the bound", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n", 0, 64,
		  SKR_HTTP_F_TOO_LARGE, "answered more than 64 bytes" },
		{ "chunks adding up above the bound", chunk_flood, 0, 64, SKR_HTTP_F_TOO_LARGE,
		  "answered more than 64 bytes" },
		{ "huge chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffffff\r\n",
		  0, 64, SKR_HTTP_F_TOO_LARGE, "answered more than 64 bytes" },
		{ "close-delimited above the bound",
		  "HTTP/1.0 200 OK\r\n\r\n0123456789012345678901234567890123456789012345678901234567890123456789",
		  0, 64, SKR_HTTP_F_TOO_LARGE, "answered more than 64 bytes" },
		/* truncated */
		{ "nothing", "", 0, 64, SKR_HTTP_F_TRUNCATED, "before any answer" },
		{ "status line only", "HTTP/1.1 200 OK\r\n", 0, 64, SKR_HTTP_F_TRUNCATED, "in the middle" },
		{ "short body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345", 0, 64, SKR_HTTP_F_TRUNCATED,
		  "in the middle" },
		{ "chunked without last chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n", 0,
		  64, SKR_HTTP_F_TRUNCATED, "in the middle" },
		{ "close-delimited without close_notify", "HTTP/1.1 200 OK\r\n\r\n{}", 0, 64, SKR_HTTP_F_TRUNCATED,
		  "without a TLS close_notify" },
		/* ambiguous framing */
		{ "both framings",
		  "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 0,
		  64, SKR_HTTP_F_MALFORMED, "both Content-Length and Transfer-Encoding" },
		{ "content-length twice, equal", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
		  0, 64, SKR_HTTP_F_MALFORMED, "Content-Length twice" },
		{ "content-length list", "HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\nx", 0, 64,
		  SKR_HTTP_F_MALFORMED, "not digits" },
		{ "signed content-length", "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx", 0, 64,
		  SKR_HTTP_F_MALFORMED, "not digits" },
		{ "empty content-length", "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n", 0, 64, SKR_HTTP_F_MALFORMED,
		  "empty Content-Length" },
		{ "transfer-encoding twice",
		  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0,
		  64, SKR_HTTP_F_MALFORMED, "Transfer-Encoding twice" },
		{ "gzip, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 0, 64,
		  SKR_HTTP_F_MALFORMED, "other than \"chunked\"" },
		{ "chunked in HTTP/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0, 64,
		  SKR_HTTP_F_MALFORMED, "HTTP/1.0" },
		/* chunk syntax */
		{ "chunk size not hex", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0, 64,
		  SKR_HTTP_F_MALFORMED, "not hex digits" },
		{ "negative chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", 0, 64,
		  SKR_HTTP_F_MALFORMED, "not hex digits" },
		{ "chunk size with junk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1 x\r\nx\r\n0\r\n\r\n",
		  0, 64, SKR_HTTP_F_MALFORMED, "other than an extension" },
		{ "chunk longer than its size",
		  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy\r\n0\r\n\r\n", 0, 64,
		  SKR_HTTP_F_MALFORMED, "not followed by CRLF" },
		{ "chunk-size line flood", long_chunk_line, 0, 64, SKR_HTTP_F_MALFORMED, "chunk-size line of more than" },
		/* header syntax and floods */
		{ "header field flood", flood, 0, 64, SKR_HTTP_F_MALFORMED, "more than 100 header fields" },
		{ "header bytes flood", long_field, 0, 64, SKR_HTTP_F_MALFORMED, "more than 16384 bytes of header" },
		{ "trailer flood", trailer_flood, 0, 64, SKR_HTTP_F_MALFORMED, "more than 100 trailer fields" },
		{ "not HTTP", "SSH-2.0-OpenSSH\r\n\r\n", 0, 64, SKR_HTTP_F_MALFORMED, "status line" },
		{ "HTTP/2 status", "HTTP/2 200\r\n\r\n", 0, 64, SKR_HTTP_F_MALFORMED, "status line" },
		{ "status 99", "HTTP/1.1 099 X\r\n\r\n", 0, 64, SKR_HTTP_F_MALFORMED, "status line" },
		{ "status 600", "HTTP/1.1 600 X\r\n\r\n", 0, 64, SKR_HTTP_F_MALFORMED, "status line" },
		{ "interim answer", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", 0, 64,
		  SKR_HTTP_F_MALFORMED, "interim" },
		{ "bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", 0, 64, SKR_HTTP_F_MALFORMED, "LF without CR" },
		{ "bare CR", "HTTP/1.1 200 OK\rContent-Length: 0\r\n\r\n", 0, 64, SKR_HTTP_F_MALFORMED,
		  "CR not followed by LF" },
		{ "NUL in a field", "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n", 26, 64, SKR_HTTP_F_MALFORMED, "NUL" },
		{ "escape in a field", "HTTP/1.1 200 OK\r\nX: \x1b[2J\r\n\r\n", 0, 64, SKR_HTTP_F_MALFORMED,
		  "control byte" },
		{ "obsolete folding", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", 0, 64, SKR_HTTP_F_MALFORMED,
		  "folding" },
		{ "space before the colon", "HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\nx", 0, 64,
		  SKR_HTTP_F_MALFORMED, "not \"name: value\"" },
		{ "no colon", "HTTP/1.1 200 OK\r\nContent-Length\r\n\r\n", 0, 64, SKR_HTTP_F_MALFORMED,
		  "not \"name: value\"" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct skr_buf body = { 0 };
		struct skr_err err = { 0 };
		enum skr_http_failure f = SKR_HTTP_F_NONE;
		long status = 0;
		const struct bad_case *c = &cases[i];
		int rc = parse_both(c->text, c->len ? c->len : strlen(c->text), c->max, false, &status, &body,
				    &f, &err);

		if (rc != SKR_HTTP_ERROR || f != c->failure || !strstr(err.detail, c->detail))
			fail_msg("%s: rc %d failure %d \"%s\", want failure %d \"%s\"", c->name, rc, f, err.detail,
				 c->failure, c->detail);
		assert_int_equal(err.reason, SKR_R_broker_protocol);
		skr_buf_free(&body);
	}
	free(flood);
	free(long_field);
	free(chunk_flood);
	free(trailer_flood);
	free(long_chunk_line);
}

/* ---- a TLS server on loopback ------------------------------------------------ */

enum mode {
	ANSWER,		/* reads the request, sends the answer, closes (close_notify if clean) */
	TRICKLE,	/* the same, one byte every 20 ms */
	NO_HANDSHAKE,	/* accepts TCP and sends nothing until the client leaves */
	CLOSE_EARLY,	/* completes the handshake and closes without reading */
};

struct server {
	int lfd, port;
	SSL_CTX *ctx;
	pthread_t th;
	enum mode mode;
	const char *answer;
	size_t answer_len;
	bool clean;
	char request[8192];
	size_t request_len;
	bool sent_all;
};

struct pki {
	EVP_PKEY *ca_key, *key;
	X509 *ca, *cert;
	char ca_pem[4096];
	char ca_file[64], other_ca_file[64];
};

static struct pki pki;

static X509 *make_cert(EVP_PKEY *key, EVP_PKEY *signer, X509 *issuer, const char *cn, bool ca)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), ca ? 1 : 2);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509_NAME_free(name);
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (!ca) {
		ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1");
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	assert_true(X509_sign(x, signer, EVP_sha256()) > 0);
	return x;
}

static void write_pem(const char *path, X509 *x)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	PEM_write_X509(f, x);
	fclose(f);
}

static int pki_setup(void **state)
{
	EVP_PKEY *other_key = EVP_EC_gen("P-256");
	X509 *other;
	BIO *mem = BIO_new(BIO_s_mem());
	char *p;
	long n;
	int fd;

	(void)state;
	pki.ca_key = EVP_EC_gen("P-256");
	pki.key = EVP_EC_gen("P-256");
	pki.ca = make_cert(pki.ca_key, pki.ca_key, NULL, "test-https-ca", true);
	pki.cert = make_cert(pki.key, pki.ca_key, pki.ca, "broker", false);
	other = make_cert(other_key, other_key, NULL, "another-ca", true);
	snprintf(pki.ca_file, sizeof(pki.ca_file), "/tmp/skr-https-ca.XXXXXX");
	fd = mkstemp(pki.ca_file);
	assert_true(fd >= 0);
	close(fd);
	write_pem(pki.ca_file, pki.ca);
	snprintf(pki.other_ca_file, sizeof(pki.other_ca_file), "/tmp/skr-https-other.XXXXXX");
	fd = mkstemp(pki.other_ca_file);
	assert_true(fd >= 0);
	close(fd);
	write_pem(pki.other_ca_file, other);
	PEM_write_bio_X509(mem, pki.ca);
	n = BIO_get_mem_data(mem, &p);
	assert_true(n > 0 && (size_t)n < sizeof(pki.ca_pem));
	memcpy(pki.ca_pem, p, (size_t)n);
	BIO_free(mem);
	X509_free(other);
	EVP_PKEY_free(other_key);
	return 0;
}

static int pki_teardown(void **state)
{
	(void)state;
	unlink(pki.ca_file);
	unlink(pki.other_ca_file);
	X509_free(pki.ca);
	X509_free(pki.cert);
	EVP_PKEY_free(pki.ca_key);
	EVP_PKEY_free(pki.key);
	return 0;
}

static void read_request(struct server *s, SSL *ssl)
{
	size_t n;

	s->request_len = 0;
	while (s->request_len < sizeof(s->request) - 1 &&
	       SSL_read_ex(ssl, s->request + s->request_len, sizeof(s->request) - 1 - s->request_len, &n) == 1) {
		const char *end;

		s->request_len += n;
		s->request[s->request_len] = 0;
		end = strstr(s->request, "\r\n\r\n");
		if (end) {
			const char *cl = strstr(s->request, "Content-Length: ");
			size_t want = (size_t)(end + 4 - s->request) + (cl && cl < end ? strtoul(cl + 16, NULL, 10) : 0);

			if (s->request_len >= want || want >= sizeof(s->request))
				return;
		}
	}
}

static void *serve(void *arg)
{
	struct server *s = arg;
	int fd = accept(s->lfd, NULL, NULL);
	sigset_t pipe_set;
	SSL *ssl;

	/* A client that left makes this thread's writes fail, not the test die;
	 * the client's own protection is what peer_closes_early tests. */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
	if (fd < 0)
		return NULL;
	if (s->mode == NO_HANDSHAKE) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char junk[4096];

		/* Until the client gives up (EOF or reset), at most 60 s. */
		while (poll(&p, 1, 60000) == 1 && read(fd, junk, sizeof(junk)) > 0)
			;
		close(fd);
		return NULL;
	}
	ssl = SSL_new(s->ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) == 1) {
		if (s->mode != CLOSE_EARLY)
			read_request(s, ssl);
		if (s->mode == ANSWER) {
			size_t n;

			s->sent_all = s->answer_len == 0 ||
				      SSL_write_ex(ssl, s->answer, s->answer_len, &n) == 1;
		} else if (s->mode == TRICKLE) {
			struct timespec ts = { 0, 20 * 1000000L };
			size_t i, n;

			for (i = 0; i < s->answer_len; i++) {
				if (SSL_write_ex(ssl, s->answer + i, 1, &n) != 1)
					break;
				nanosleep(&ts, NULL);
			}
			s->sent_all = i == s->answer_len;
		}
		if (s->clean)
			SSL_shutdown(ssl);
	}
	SSL_free(ssl);
	close(fd);
	return NULL;
}

static void server_start(struct server *s, enum mode mode, const char *answer, size_t len, bool clean)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);

	memset(s, 0, sizeof(*s));
	s->mode = mode;
	s->answer = answer;
	s->answer_len = len;
	s->clean = clean;
	s->ctx = SSL_CTX_new(TLS_server_method());
	assert_non_null(s->ctx);
	assert_int_equal(SSL_CTX_use_certificate(s->ctx, pki.cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(s->ctx, pki.key), 1);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->lfd >= 0);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s->lfd, 4), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&sa, &sl), 0);
	s->port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&s->th, NULL, serve, s), 0);
}

static void server_stop(struct server *s)
{
	shutdown(s->lfd, SHUT_RDWR);	/* an accept() still waiting returns */
	pthread_join(s->th, NULL);
	close(s->lfd);
	SSL_CTX_free(s->ctx);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

struct call {
	int rc;
	long status;
	struct skr_buf body;
	struct skr_err err;
	double ms;
};

/* One request to the server at host (an URL prefix like "https://127.0.0.1"). */
static void call(struct server *s, const char *method, const char *host, const char *body,
		 const char *bearer, const struct skr_https_ca *ca, unsigned total_ms, bool attested,
		 struct call *c)
{
	char url[128];
	double t0;

	memset(c, 0, sizeof(*c));
	snprintf(url, sizeof(url), "%s:%d", host, s->port);
	t0 = now_ms();
	if (attested)
		c->rc = skr_https_post_json(url, "/v1/challenge", body, ca, total_ms, total_ms, &c->status,
					    &c->body, &c->err);
	else
		c->rc = skr_https_request(method, url, "/v1/keys/disk-1", body, bearer, ca, total_ms,
					  total_ms, &c->status, &c->body, &c->err);
	c->ms = now_ms() - t0;
	server_stop(s);
}

static const char OK_JSON[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n"
			      "Connection: close\r\n\r\n{\"ok\": true}";

static void answers_and_request(void **state)
{
	struct skr_https_ca file = { .file = pki.ca_file }, pem = { .pem = pki.ca_pem };
	static const char chunked[] = "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
				      "4\r\n{\"a\"\r\n3\r\n: 1\r\n1\r\n}\r\n0\r\n\r\n";
	struct server s;
	struct call c;

	(void)state;
	/* Content-Length, the CA from a file, POST of JSON. */
	server_start(&s, ANSWER, OK_JSON, sizeof(OK_JSON) - 1, true);
	call(&s, NULL, "https://127.0.0.1", "{\"key_id\": \"disk-1\"}", NULL, &file, 10000, true, &c);
	assert_ok(c.rc, c.err);
	assert_int_equal(c.status, 200);
	assert_int_equal(c.body.len, 12);
	assert_memory_equal(c.body.data, "{\"ok\": true}", 12);
	assert_int_equal(c.body.data[12], 0);
	assert_non_null(strstr(s.request, "POST /v1/challenge HTTP/1.1\r\n"));
	assert_non_null(strstr(s.request, "\r\nConnection: close\r\n"));
	assert_non_null(strstr(s.request, "\r\nContent-Type: application/json\r\n"));
	assert_non_null(strstr(s.request, "\r\nContent-Length: 20\r\n"));
	assert_non_null(strstr(s.request, "\r\n\r\n{\"key_id\": \"disk-1\"}"));
	assert_null(strstr(s.request, "Authorization"));
	{
		char host[64];

		snprintf(host, sizeof(host), "\r\nHost: 127.0.0.1:%d\r\n", s.port);
		assert_non_null(strstr(s.request, host));
	}
	skr_buf_free(&c.body);

	/* Chunked, the CA as PEM text, GET with a bearer token, no body. */
	server_start(&s, ANSWER, chunked, sizeof(chunked) - 1, false);
	call(&s, "GET", "https://127.0.0.1", NULL, "tok-123", &pem, 10000, false, &c);
	assert_ok(c.rc, c.err);
	assert_int_equal(c.status, 404);
	assert_int_equal(c.body.len, 8);
	assert_memory_equal(c.body.data, "{\"a\": 1}", 8);
	assert_non_null(strstr(s.request, "GET /v1/keys/disk-1 HTTP/1.1\r\n"));
	assert_non_null(strstr(s.request, "\r\nAuthorization: Bearer tok-123\r\n"));
	assert_null(strstr(s.request, "Content-Length"));
	skr_buf_free(&c.body);

	/* DELETE */
	server_start(&s, ANSWER, "HTTP/1.1 204 No Content\r\n\r\n", 27, true);
	call(&s, "DELETE", "https://127.0.0.1", NULL, "tok-123", &file, 10000, false, &c);
	assert_ok(c.rc, c.err);
	assert_int_equal(c.status, 204);
	assert_int_equal(c.body.len, 0);
	assert_non_null(strstr(s.request, "DELETE /v1/keys/disk-1 HTTP/1.1\r\n"));
}

static void trust_is_the_pinned_ca(void **state)
{
	struct skr_https_ca other = { .file = pki.other_ca_file }, file = { .file = pki.ca_file };
	struct server s;
	struct call c;

	(void)state;
	/* Another CA: the handshake fails, nothing is sent. */
	server_start(&s, ANSWER, OK_JSON, sizeof(OK_JSON) - 1, true);
	call(&s, NULL, "https://127.0.0.1", "{}", NULL, &other, 10000, true, &c);
	assert_failed_with(c.rc, c.err, SKR_R_broker_unreachable, "certificate verification failed");
	assert_int_equal(s.request_len, 0);

	/* The right CA, the wrong name: the certificate is for 127.0.0.1 only. */
	server_start(&s, ANSWER, OK_JSON, sizeof(OK_JSON) - 1, true);
	call(&s, NULL, "https://localhost", "{}", NULL, &file, 10000, true, &c);
	assert_failed_with(c.rc, c.err, SKR_R_broker_unreachable, "certificate verification failed");
	assert_int_equal(s.request_len, 0);
}

static void hostile_answers(void **state)
{
	struct skr_https_ca file = { .file = pki.ca_file };
	static const char big_cl[] = "HTTP/1.1 200 OK\r\nContent-Length: 65537\r\n\r\n";
	static const char bad_chunk[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5x\r\nhello\r\n0\r\n\r\n";
	static const char truncated[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"partial\":";
	char *flood = repeat("HTTP/1.1 200 OK\r\n", "X-Flood: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", 1000, "\r\n");
	struct server s;
	struct call c;

	(void)state;
	/* The attested protocol's bound: a Content-Length beyond it is refused unread. */
	server_start(&s, ANSWER, big_cl, sizeof(big_cl) - 1, true);
	call(&s, NULL, "https://127.0.0.1", "{}", NULL, &file, 10000, true, &c);
	assert_failed_with(c.rc, c.err, SKR_R_broker_protocol, "answered more than 65536 bytes");
	assert_null(c.body.data);

	/* The admin bound (1 MiB): a chunked answer of 256-byte chunks growing past it. */
	{
		char unit[256 + 9];
		char *answer;

		memcpy(unit, "100\r\n", 5);
		memset(unit + 5, 'a', 256);
		memcpy(unit + 261, "\r\n", 3);
		answer = repeat("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", unit,
				SKR_HTTPS_MAX_RESPONSE / 256 + 2, "0\r\n\r\n");
		server_start(&s, ANSWER, answer, strlen(answer), true);
		call(&s, "GET", "https://127.0.0.1", NULL, "t", &file, 20000, false, &c);
		assert_failed_with(c.rc, c.err, SKR_R_broker_protocol, "answered more than 1048576 bytes");
		free(answer);
	}

	server_start(&s, ANSWER, bad_chunk, sizeof(bad_chunk) - 1, true);
	call(&s, NULL, "https://127.0.0.1", "{}", NULL, &file, 10000, true, &c);
	assert_failed_with(c.rc, c.err, SKR_R_broker_protocol, "malformed HTTP answer: a chunk size followed by");

	server_start(&s, ANSWER, flood, strlen(flood), true);
	call(&s, NULL, "https://127.0.0.1", "{}", NULL, &file, 10000, true, &c);
	assert_failed_with(c.rc, c.err, SKR_R_broker_protocol, "malformed HTTP answer: more than 100 header fields");

	/* Cut short, without a close_notify (as a reset on the way would). */
	server_start(&s, ANSWER, truncated, sizeof(truncated) - 1, false);
	call(&s, NULL, "https://127.0.0.1", "{}", NULL, &file, 10000, true, &c);
	assert_failed_with(c.rc, c.err, SKR_R_broker_unreachable, "the connection ended in the middle of the answer");
	/* ... and with one: still cut short. */
	server_start(&s, ANSWER, truncated, sizeof(truncated) - 1, true);
	call(&s, NULL, "https://127.0.0.1", "{}", NULL, &file, 10000, true, &c);
	assert_failed_with(c.rc, c.err, SKR_R_broker_unreachable, "the connection ended in the middle of the answer");

	free(flood);
}

/*
 * Slowloris: an answer trickled a byte every 20 ms (about 2 s for OK_JSON
 * twice over) against a 300 ms budget; a server that never finishes the
 * handshake against the connect budget.  The client gives up on its own
 * deadline: the server had not sent everything when it did.
 */
static void deadlines_hold(void **state)
{
	struct skr_https_ca file = { .file = pki.ca_file };
	char *slow = repeat("HTTP/1.1 200 OK\r\nContent-Length: 60\r\n", "X-Slow: 1\r\n", 8,
			    "\r\n012345678901234567890123456789012345678901234567890123456789");
	struct server s;
	struct call c;

	(void)state;
	server_start(&s, TRICKLE, slow, strlen(slow), true);
	call(&s, NULL, "https://127.0.0.1", "{}", NULL, &file, 300, true, &c);
	assert_failed_with(c.rc, c.err, SKR_R_broker_unreachable, "timed out reading the answer");
	assert_false(s.sent_all);
	print_message("slowloris: gave up after %.0f ms of a 300 ms budget\n", c.ms);

	server_start(&s, NO_HANDSHAKE, NULL, 0, false);
	call(&s, NULL, "https://127.0.0.1", "{}", NULL, &file, 300, true, &c);
	assert_failed_with(c.rc, c.err, SKR_R_broker_unreachable, "timed out in the TLS handshake");
	print_message("no handshake: gave up after %.0f ms of a 300 ms budget\n", c.ms);
	free(slow);
}

/* The server closes before reading a 4 MiB body: EPIPE, never a SIGPIPE that kills the caller. */
static void peer_closes_early(void **state)
{
	struct skr_https_ca file = { .file = pki.ca_file };
	size_t n = 4u << 20;
	char *body = malloc(n + 1);
	struct server s;
	struct call c;

	(void)state;
	assert_non_null(body);
	memset(body, 'a', n);
	body[n] = 0;
	server_start(&s, CLOSE_EARLY, NULL, 0, false);
	call(&s, "POST", "https://127.0.0.1", body, "t", &file, 10000, false, &c);
	assert_failed_with(c.rc, c.err, SKR_R_broker_unreachable, NULL);
	print_message("peer closed early: %s\n", c.err.detail);
	free(body);
}

static void refuses_requests(void **state)
{
	struct skr_https_ca file = { .file = pki.ca_file };
	struct skr_buf body = { 0 };
	struct skr_err err;
	long status;
	static const char *const bad_urls[] = {
		"http://127.0.0.1:1", "https://user@127.0.0.1:1", "https://127.0.0.1:1?x=1",
		"https://127.0.0.1:0", "https://127.0.0.1:65536", "https://127.0.0.1:1x", "https://",
		"https://[::1", "https://[zz]:1", "https://bad host", "https://h\r\nX: y", "https://h:1#f",
		"https://ex\xc3\xa4mple.org",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++) {
		memset(&err, 0, sizeof(err));
		assert_failed_with(skr_https_request("GET", bad_urls[i], "/x", NULL, NULL, &file, 100, 100,
						     &status, &body, &err),
				   err, SKR_R_usage, "broker URL");
	}
	memset(&err, 0, sizeof(err));
	assert_failed_with(skr_https_request("GET", "https://127.0.0.1:1", "/x", NULL, "a\r\nX-Injected: 1",
					     &file, 100, 100, &status, &body, &err),
			   err, SKR_R_usage, "admin token");
	memset(&err, 0, sizeof(err));
	assert_failed_with(skr_https_request("GE T", "https://127.0.0.1:1", "/x", NULL, NULL, &file, 100, 100,
					     &status, &body, &err),
			   err, SKR_R_usage, "not an HTTP method");
	memset(&err, 0, sizeof(err));
	assert_failed_with(skr_https_request("GET", "https://127.0.0.1:1", "/a b", NULL, NULL, &file, 100, 100,
					     &status, &body, &err),
			   err, SKR_R_usage, "broker URL");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parser_accepts),
		cmocka_unit_test(parser_stops_at_the_end),
		cmocka_unit_test(parser_refuses),
		cmocka_unit_test(answers_and_request),
		cmocka_unit_test(trust_is_the_pinned_ca),
		cmocka_unit_test(hostile_answers),
		cmocka_unit_test(deadlines_hold),
		cmocka_unit_test(peer_closes_early),
		cmocka_unit_test(refuses_requests),
	};

	return cmocka_run_group_tests(tests, pki_setup, pki_teardown);
}
