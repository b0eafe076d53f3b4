/* SPDX-License-Identifier: Apache-2.0 */
/* The parser of one HTTP/1.1 answer: see http_response.h for what it accepts and refuses. */
#include "vm/http_response.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
	ST_STATUS,		/* the status line */
	ST_FIELD,		/* header fields up to the empty line */
	ST_BODY_LENGTH,		/* Content-Length bytes */
	ST_BODY_CLOSE,		/* everything until the connection ends */
	ST_CHUNK_SIZE,		/* a chunk-size line */
	ST_CHUNK_DATA,
	ST_CHUNK_CR,		/* the CRLF after a chunk's data */
	ST_CHUNK_LF,
	ST_TRAILER,		/* trailer fields up to the empty line */
	ST_DONE,
	ST_FAILED,
};

void skr_http_response_init(struct skr_http_response *r, size_t max_body)
{
	memset(r, 0, offsetof(struct skr_http_response, line));
	r->line[0] = 0;
	r->max_body = max_body;
	r->state = ST_STATUS;
}

void skr_http_response_free(struct skr_http_response *r)
{
	skr_buf_free(&r->body);
	r->body_cap = 0;
}

static int fail(struct skr_http_response *r, enum skr_http_failure f, struct skr_err *err,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail(struct skr_http_response *r, enum skr_http_failure f, struct skr_err *err,
		const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->state = ST_FAILED;
	r->failure = f;
	skr_buf_free(&r->body);
	r->body_cap = 0;
	return skr_fail(err, f == SKR_HTTP_F_NOMEM ? SKR_R_nomem : SKR_R_broker_protocol, "%s", msg);
}

static int too_large(struct skr_http_response *r, struct skr_err *err)
{
	return fail(r, SKR_HTTP_F_TOO_LARGE, err, "answered more than %zu bytes", r->max_body);
}

static int append(struct skr_http_response *r, const uint8_t *data, size_t n, struct skr_err *err)
{
	uint8_t *grown;
	size_t want;

	if (n > r->max_body || r->body.len > r->max_body - n)
		return too_large(r, err);
	if (r->body.len + n + 1 > r->body_cap) {
		want = (r->body.len + n + 1) * 2;
		if (want > r->max_body + 1)
			want = r->max_body + 1;
		grown = realloc(r->body.data, want);
		if (!grown)
			return fail(r, SKR_HTTP_F_NOMEM, err, "out of memory for the answer");
		r->body.data = grown;
		r->body_cap = want;
	}
	memcpy(r->body.data + r->body.len, data, n);
	r->body.len += n;
	r->body.data[r->body.len] = 0;
	return 0;
}

/* RFC 9110 tchar */
static bool is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* field-vchar, SP and HTAB: no other control byte, no DEL. */
static bool is_text(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int status_line(struct skr_http_response *r, const char *l, size_t n, struct skr_err *err)
{
	size_t i;

	if (n < 12 || memcmp(l, "HTTP/1.", 7) != 0 || (l[7] != '0' && l[7] != '1') || l[8] != ' ' ||
	    l[9] < '1' || l[9] > '5' || l[10] < '0' || l[10] > '9' || l[11] < '0' || l[11] > '9' ||
	    (n > 12 && l[12] != ' '))
		return fail(r, SKR_HTTP_F_MALFORMED, err, "the status line is not \"HTTP/1.x NNN reason\"");
	for (i = 12; i < n; i++)
		if (!is_text((unsigned char)l[i]))
			return fail(r, SKR_HTTP_F_MALFORMED, err, "a control byte in the status line");
	r->http10 = l[7] == '0';
	r->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
	if (r->status < 200)
		return fail(r, SKR_HTTP_F_MALFORMED, err, "an interim answer (HTTP %ld) to a request that asked for none",
			    r->status);
	return 0;
}

static bool name_is(const char *l, size_t n, const char *name)
{
	return n == strlen(name) && strncasecmp(l, name, n) == 0;
}

/* One field line (header or trailer): name, colon, value; framing fields only in the header. */
static int field_line(struct skr_http_response *r, const char *l, size_t n, bool trailer,
		      struct skr_err *err)
{
	const char *what = trailer ? "trailer" : "header";
	size_t name_len = 0, v, e, i;

	if (l[0] == ' ' || l[0] == '\t')
		return fail(r, SKR_HTTP_F_MALFORMED, err, "obsolete line folding in the %s", what);
	if (++r->fields > SKR_HTTP_MAX_FIELDS)
		return fail(r, SKR_HTTP_F_MALFORMED, err, "more than %u %s fields", SKR_HTTP_MAX_FIELDS,
			    what);
	while (name_len < n && is_tchar((unsigned char)l[name_len]))
		name_len++;
	if (name_len == 0 || name_len == n || l[name_len] != ':')
		return fail(r, SKR_HTTP_F_MALFORMED, err, "a %s field is not \"name: value\"", what);
	for (v = name_len + 1; v < n && (l[v] == ' ' || l[v] == '\t'); v++)
		;
	for (e = n; e > v && (l[e - 1] == ' ' || l[e - 1] == '\t'); e--)
		;
	for (i = v; i < e; i++)
		if (!is_text((unsigned char)l[i]))
			return fail(r, SKR_HTTP_F_MALFORMED, err, "a control byte in a %s field", what);
	if (trailer)
		return 0;
	if (name_is(l, name_len, "Content-Length")) {
		uint64_t len = 0;

		if (r->have_length)
			return fail(r, SKR_HTTP_F_MALFORMED, err, "Content-Length twice");
		if (e == v)
			return fail(r, SKR_HTTP_F_MALFORMED, err, "an empty Content-Length");
		for (i = v; i < e; i++) {
			if (l[i] < '0' || l[i] > '9')
				return fail(r, SKR_HTTP_F_MALFORMED, err, "a Content-Length that is not digits");
			if (len > r->max_body)
				break;	/* too large already; no overflow */
			len = len * 10 + (uint64_t)(l[i] - '0');
		}
		if (len > r->max_body)
			return too_large(r, err);
		r->have_length = true;
		r->left = len;
	} else if (name_is(l, name_len, "Transfer-Encoding")) {
		if (r->chunked)
			return fail(r, SKR_HTTP_F_MALFORMED, err, "Transfer-Encoding twice");
		if (e - v != 7 || strncasecmp(l + v, "chunked", 7) != 0)
			return fail(r, SKR_HTTP_F_MALFORMED, err, "a Transfer-Encoding other than \"chunked\"");
		r->chunked = true;
	}
	return 0;
}

/* The empty line after the header: how the body is framed. */
static int head_end(struct skr_http_response *r, struct skr_err *err)
{
	if (r->have_length && r->chunked)
		return fail(r, SKR_HTTP_F_MALFORMED, err, "both Content-Length and Transfer-Encoding");
	if (r->chunked && r->http10)
		return fail(r, SKR_HTTP_F_MALFORMED, err, "Transfer-Encoding in an HTTP/1.0 answer");
	if (r->status == 204 || r->status == 304) {
		r->state = ST_DONE;
		return 0;
	}
	if (r->chunked)
		r->state = ST_CHUNK_SIZE;
	else if (r->have_length)
		r->state = r->left ? ST_BODY_LENGTH : ST_DONE;
	else
		r->state = ST_BODY_CLOSE;
	/* The whole declared body at once: a Content-Length is within the bound. */
	if (r->have_length && r->left) {
		r->body.data = malloc(r->left + 1);
		if (!r->body.data)
			return fail(r, SKR_HTTP_F_NOMEM, err, "out of memory for the answer");
		r->body_cap = r->left + 1;
	}
	return 0;
}

static int chunk_size_line(struct skr_http_response *r, const char *l, size_t n, struct skr_err *err)
{
	uint64_t size = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)l[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			break;
		if (size > r->max_body)
			return too_large(r, err);
		size = size * 16 + d;
	}
	if (i == 0)
		return fail(r, SKR_HTTP_F_MALFORMED, err, "a chunk size that is not hex digits");
	if (i < n) {
		/* chunk-ext: BWS ";" ... printable text */
		size_t j = i;

		while (j < n && (l[j] == ' ' || l[j] == '\t'))
			j++;
		if (j == n || l[j] != ';')
			return fail(r, SKR_HTTP_F_MALFORMED, err, "a chunk size followed by something other than an extension");
		for (; j < n; j++)
			if (!is_text((unsigned char)l[j]))
				return fail(r, SKR_HTTP_F_MALFORMED, err, "a control byte in a chunk extension");
	}
	if (size > r->max_body - r->body.len)
		return too_large(r, err);
	r->left = size;
	if (size == 0) {
		r->state = ST_TRAILER;
		r->head_len = 0;
		r->fields = 0;
	} else {
		r->state = ST_CHUNK_DATA;
	}
	return 0;
}

/* A complete line (without its CRLF) in a line state. */
static int line_done(struct skr_http_response *r, struct skr_err *err)
{
	const char *l = r->line;
	size_t n = r->line_len;

	r->line_len = 0;
	switch (r->state) {
	case ST_STATUS:
		if (status_line(r, l, n, err) < 0)
			return -1;
		r->state = ST_FIELD;
		return 0;
	case ST_FIELD:
		return n ? field_line(r, l, n, false, err) : head_end(r, err);
	case ST_CHUNK_SIZE:
		return chunk_size_line(r, l, n, err);
	case ST_TRAILER:
		if (n)
			return field_line(r, l, n, true, err);
		r->state = ST_DONE;
		return 0;
	}
	return fail(r, SKR_HTTP_F_MALFORMED, err, "internal: line in state %d", r->state);
}

/* A line byte; the line's bound depends on the state. */
static int line_byte(struct skr_http_response *r, unsigned char c, struct skr_err *err)
{
	size_t limit = r->state == ST_CHUNK_SIZE ? SKR_HTTP_MAX_CHUNK_LINE : SKR_HTTP_MAX_HEAD;

	if (r->state != ST_CHUNK_SIZE && ++r->head_len > SKR_HTTP_MAX_HEAD)
		return fail(r, SKR_HTTP_F_MALFORMED, err, "more than %u bytes of %s", SKR_HTTP_MAX_HEAD,
			    r->state == ST_TRAILER ? "trailer" : "header");
	if (r->cr) {
		r->cr = false;
		if (c != '\n')
			return fail(r, SKR_HTTP_F_MALFORMED, err, "a CR not followed by LF");
		return line_done(r, err);
	}
	if (c == '\r') {
		r->cr = true;
		return 0;
	}
	if (c == '\n')
		return fail(r, SKR_HTTP_F_MALFORMED, err, "a line ending in LF without CR");
	if (c == 0)
		return fail(r, SKR_HTTP_F_MALFORMED, err, "a NUL byte in the %s",
			    r->state == ST_CHUNK_SIZE ? "chunked framing" : "header");
	if (r->line_len >= limit)
		return fail(r, SKR_HTTP_F_MALFORMED, err, "a %s line of more than %zu bytes",
			    r->state == ST_CHUNK_SIZE ? "chunk-size" : "header", limit);
	r->line[r->line_len++] = (char)c;
	r->line[r->line_len] = 0;
	return 0;
}

int skr_http_response_feed(struct skr_http_response *r, const uint8_t *data, size_t len,
			   size_t *used, struct skr_err *err)
{
	size_t i = 0, n;

	if (used)
		*used = 0;
	if (r->state == ST_FAILED)
		return SKR_HTTP_ERROR;
	while (i < len && r->state != ST_DONE) {
		switch (r->state) {
		case ST_STATUS:
		case ST_FIELD:
		case ST_CHUNK_SIZE:
		case ST_TRAILER:
			if (line_byte(r, data[i++], err) < 0)
				goto failed;
			break;
		case ST_BODY_LENGTH:
		case ST_CHUNK_DATA:
			n = len - i < r->left ? len - i : (size_t)r->left;
			if (append(r, data + i, n, err) < 0)
				goto failed;
			i += n;
			r->left -= n;
			if (!r->left)
				r->state = r->state == ST_BODY_LENGTH ? ST_DONE : ST_CHUNK_CR;
			break;
		case ST_BODY_CLOSE:
			if (append(r, data + i, len - i, err) < 0)
				goto failed;
			i = len;
			break;
		case ST_CHUNK_CR:
		case ST_CHUNK_LF:
			if (data[i++] != (r->state == ST_CHUNK_CR ? '\r' : '\n')) {
				fail(r, SKR_HTTP_F_MALFORMED, err, "a chunk's data not followed by CRLF");
				goto failed;
			}
			r->state = r->state == ST_CHUNK_CR ? ST_CHUNK_LF : ST_CHUNK_SIZE;
			break;
		}
	}
	if (used)
		*used = i;
	return r->state == ST_DONE ? SKR_HTTP_DONE : SKR_HTTP_MORE;
failed:
	if (used)
		*used = i;
	return SKR_HTTP_ERROR;
}

int skr_http_response_end(struct skr_http_response *r, bool clean, struct skr_err *err)
{
	if (r->state == ST_DONE)
		return SKR_HTTP_DONE;
	if (r->state == ST_FAILED)
		return SKR_HTTP_ERROR;
	if (r->state == ST_BODY_CLOSE && clean)
		return r->state = ST_DONE, SKR_HTTP_DONE;
	fail(r, SKR_HTTP_F_TRUNCATED, err, "the connection ended %s",
	     r->state == ST_BODY_CLOSE ? "without a TLS close_notify before the end of an answer without a length"
	     : r->state == ST_STATUS && !r->head_len ? "before any answer"
	     : "in the middle of the answer");
	return SKR_HTTP_ERROR;
}
