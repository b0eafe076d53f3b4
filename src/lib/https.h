/* SPDX-License-Identifier: Apache-2.0 */
/* One HTTPS POST of JSON with libcurl: pinned CA, HTTPS only, bounded time and size. */
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

int skr_https_post_json(const char *base_url, const char *path, const char *body,
			const struct skr_https_ca *ca, unsigned connect_ms, unsigned total_ms,
			long *status, struct skr_buf *resp, struct skr_err *err);

#endif
