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
int skr_https_post_json(const char *base_url, const char *path, const char *body,
			const char *ca_file, unsigned connect_ms, unsigned total_ms,
			long *status, struct skr_buf *resp, struct skr_err *err);

#endif
