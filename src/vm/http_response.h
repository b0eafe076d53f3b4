/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The parser of one HTTP/1.1 answer (status line, header fields, body) as
 * the HTTPS client (https.c) reads it from a broker.  The bytes are
 * untrusted: every count is bounded, and anything the grammar of RFC 9112
 * leaves ambiguous is refused rather than guessed (fuzz/fuzz_http_response.c).
 *
 * Accepted: "HTTP/1.1" or "HTTP/1.0", a status from 200 to 599, header
 * fields "name: value" ending in CRLF, and a body framed by exactly one of
 * Content-Length (digits only, once), Transfer-Encoding: chunked (alone,
 * once; chunk extensions and trailer fields are read and ignored), or, with
 * neither, the end of the connection (which must then be a clean TLS close:
 * the caller says so).  204 and 304 answers have no body.
 *
 * Refused (broker_protocol): a malformed status line or field, an interim
 * (1xx) answer, obsolete line folding, a field name with whitespace before
 * the colon, control bytes in a value, bare CR or LF, both Content-Length and
 * Transfer-Encoding, either of them twice, a Transfer-Encoding other than
 * "chunked", a chunked body in an HTTP/1.0 answer, a bad chunk size or chunk
 * end, more than SKR_HTTP_MAX_HEAD bytes or SKR_HTTP_MAX_FIELDS fields of
 * header (or of trailer), and a body larger than the caller's bound ("answered
 * more than N bytes"; a Content-Length above it is refused before the body).
 * A connection that ends before the answer does is "truncated" (also
 * broker_protocol from here; https.c reports it as broker_unreachable).
 */
#ifndef SKR_HTTP_RESPONSE_H
#define SKR_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/util.h"

/* The status line and header fields together; the trailer separately. */
#define SKR_HTTP_MAX_HEAD (16u * 1024)
#define SKR_HTTP_MAX_FIELDS 100
/* One chunk-size line with its extensions. */
#define SKR_HTTP_MAX_CHUNK_LINE 256

enum skr_http_result {
	SKR_HTTP_ERROR = -1,
	SKR_HTTP_MORE = 0,	/* feed more bytes */
	SKR_HTTP_DONE = 1,	/* the answer is complete: status and body are set */
};

/* How a failure came about, for the caller's choice of reason. */
enum skr_http_failure {
	SKR_HTTP_F_NONE = 0,
	SKR_HTTP_F_MALFORMED,	/* the bytes broke the grammar or a rule above */
	SKR_HTTP_F_TOO_LARGE,	/* the body exceeds the bound */
	SKR_HTTP_F_TRUNCATED,	/* the connection ended first */
	SKR_HTTP_F_NOMEM,
};

struct skr_http_response {
	/* Results (valid after SKR_HTTP_DONE). */
	long status;
	struct skr_buf body;		/* NUL-terminated when not empty; owned */
	enum skr_http_failure failure;
	/* Parser state. */
	size_t max_body;
	int state;
	bool http10;
	bool have_length, chunked;
	bool cr;			/* the line's last byte was a CR */
	uint64_t left;			/* of the Content-Length, or of the chunk */
	size_t body_cap;
	size_t line_len;		/* bytes of the current line so far */
	size_t head_len;		/* bytes of head (or trailer) so far */
	unsigned fields;
	char line[SKR_HTTP_MAX_HEAD + 1];
};

/* A parser for an answer whose body may have at most max_body bytes. */
void skr_http_response_init(struct skr_http_response *r, size_t max_body);
/*
 * Feeds len bytes.  *used (optional) is how many were consumed: fewer than
 * len only on SKR_HTTP_DONE (the rest is not part of this answer) or error.
 */
int skr_http_response_feed(struct skr_http_response *r, const uint8_t *data, size_t len,
			   size_t *used, struct skr_err *err);
/*
 * The connection ended (clean: with a TLS close_notify).  DONE when that
 * completes a close-delimited body; otherwise ERROR, "truncated".
 */
int skr_http_response_end(struct skr_http_response *r, bool clean, struct skr_err *err);
void skr_http_response_free(struct skr_http_response *r);

#endif
