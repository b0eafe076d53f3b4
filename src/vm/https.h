/* SPDX-License-Identifier: Apache-2.0 */
/* One HTTPS request (POST of JSON, GET, DELETE) with libcurl: pinned CA, HTTPS only, bounded time and size. */
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
 * POSTs body to base_url + path.  Transport failures (connect, TLS, timeout)
 * fail with broker_unreachable; any HTTP answer succeeds with *status set and
 * the body in resp.
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
