/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One HTTPS request (POST of JSON, GET, DELETE) on its own connection, with
 * OpenSSL only (https.c says what it accepts): pinned CA, HTTPS only, no
 * proxy, bounded time and size; the answer is read by http_response.h.
 */
#ifndef SKR_HTTPS_H
#define SKR_HTTPS_H

#include "common/err.h"
#include "common/util.h"

/* Admin API answers (lists, audit rows) */
#define SKR_HTTPS_MAX_RESPONSE (1u << 20)
/* Answers of the attested protocol (challenge, release, reseal): a few hundred
 * bytes; what a broker sends beyond this is refused (broker_protocol) unread. */
#define SKR_HTTPS_MAX_ANSWER (64u * 1024)

/*
 * Sends the request to base_url + path.  Any well-formed HTTP answer
 * succeeds with *status set and the body in resp (NUL-terminated; NULL when
 * empty).  Failures: usage for a URL that is not https://host[:port][/path]
 * (or a method or token that cannot go in a request); broker_unreachable for
 * name resolution, connect, TLS (certificate, host name, version), an answer
 * cut short, and the deadlines (connect_ms bounds resolution, connect and
 * handshake; total_ms everything); broker_protocol for an answer that is not
 * well-formed HTTP ("malformed HTTP answer: ...") or larger than the bound
 * ("answered more than N bytes").
 */
/* The CA the broker's certificate must chain to: a PEM file, or PEM text. */
struct skr_https_ca {
	const char *file;
	const char *pem;
};

/*
 * Any method: body (JSON, may be NULL: no body, no Content-Type), bearer
 * (NULL: no Authorization header; the header is wiped after use).  POST is
 * skr_https_request("POST", ...) with a body; GET and DELETE without.
 */
int skr_https_request(const char *method, const char *base_url, const char *path,
		       const char *body, const char *bearer, const struct skr_https_ca *ca,
		       unsigned connect_ms, unsigned total_ms, long *status, struct skr_buf *resp,
		       struct skr_err *err);

/* POST of JSON for the attested protocol: the answer is bounded by SKR_HTTPS_MAX_ANSWER. */
int skr_https_post_json(const char *base_url, const char *path, const char *body,
			const struct skr_https_ca *ca, unsigned connect_ms, unsigned total_ms,
			long *status, struct skr_buf *resp, struct skr_err *err);

#endif
