/* SPDX-License-Identifier: Apache-2.0 */
/* One HTTPS request (POST of JSON, GET, DELETE) with libcurl: pinned CA, HTTPS only, bounded time and size. */
#ifndef SKR_HTTPS_H
#define SKR_HTTPS_H

#include "err.h"
#include "util.h"

#define SKR_HTTPS_MAX_RESPONSE (1u << 20)

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

int skr_https_post_json(const char *base_url, const char *path, const char *body,
			const struct skr_https_ca *ca, unsigned connect_ms, unsigned total_ms,
			long *status, struct skr_buf *resp, struct skr_err *err);

#endif
