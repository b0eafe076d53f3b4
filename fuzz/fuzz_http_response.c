/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the HTTP/1.1 answer parser of the client
 * (src/vm/http_response.h), which reads whatever a broker, or anything that
 * holds a certificate from the pinned CA, sends back to skr-unlock, the token
 * plugin and skrctl.  The first byte picks the body bound and the size of the
 * pieces the rest is fed in (as TLS records would cut it); the input is parsed
 * whole and in pieces.  Invariants: nothing crashes, both parses agree (result,
 * status, body, failure), a body never exceeds its bound and is NUL-terminated,
 * and an error always names a reason.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vm/http_response.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const size_t bounds[] = { 0, 16, 1024, 64 * 1024 };

static int parse(const uint8_t *data, size_t size, size_t piece, bool clean, size_t max,
		 struct skr_http_response *r)
{
	struct skr_err err = { 0 };
	size_t off = 0, used;
	int rc = SKR_HTTP_MORE;

	skr_http_response_init(r, max);
	while (off < size && rc == SKR_HTTP_MORE) {
		size_t n = size - off < piece ? size - off : piece;

		rc = skr_http_response_feed(r, data + off, n, &used, &err);
		if (used > n || (rc == SKR_HTTP_MORE && used != n))
			__builtin_trap();
		off += used;
	}
	if (rc == SKR_HTTP_MORE)
		rc = skr_http_response_end(r, clean, &err);
	if (rc == SKR_HTTP_ERROR && (err.reason == SKR_R_ok || !err.detail[0] ||
				     r->failure == SKR_HTTP_F_NONE || r->body.data))
		__builtin_trap();
	if (rc == SKR_HTTP_DONE) {
		if (r->body.len > max || r->status < 200 || r->status > 599)
			__builtin_trap();
		if (r->body.len && r->body.data[r->body.len] != 0)
			__builtin_trap();
	}
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct skr_http_response whole, pieces;
	size_t max, piece;
	bool clean;
	int a, b;

	if (size < 1)
		return 0;
	max = bounds[data[0] & 3];
	piece = (size_t)(data[0] >> 3) + 1;
	clean = data[0] & 4;
	data++;
	size--;
	a = parse(data, size, size ? size : 1, clean, max, &whole);
	b = parse(data, size, piece, clean, max, &pieces);
	if (a != b || whole.failure != pieces.failure ||
	    (a == SKR_HTTP_DONE &&
	     (whole.status != pieces.status || whole.body.len != pieces.body.len ||
	      (whole.body.len && memcmp(whole.body.data, pieces.body.data, whole.body.len) != 0))))
		__builtin_trap();
	skr_http_response_free(&whole);
	skr_http_response_free(&pieces);
	return 0;
}
