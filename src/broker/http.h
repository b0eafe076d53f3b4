/* SPDX-License-Identifier: Apache-2.0 */
/* The broker's HTTPS listeners on libmicrohttpd: release API and admin API. */
#ifndef SKR_HTTP_H
#define SKR_HTTP_H

#include <stddef.h>

#include "broker.h"

#define SKR_HTTP_MAX_BODY (256u << 10)

struct skr_listener;

struct skr_listener_opts {
	const char *address;	/* "127.0.0.1:8443", "[::1]:8443"; port 0 picks one */
	const char *cert_pem;	/* server certificate chain, PEM text */
	const char *key_pem;	/* its private key, PEM text */
	unsigned threads;	/* thread pool size, >= 1 */
	bool admin;		/* serve the admin API instead of the release API */
};

int skr_listener_start(struct skr_broker *b, const struct skr_listener_opts *opts,
		       struct skr_listener **out, struct skr_err *err);
/* The port actually bound (useful with port 0). */
unsigned skr_listener_port(const struct skr_listener *l);
void skr_listener_stop(struct skr_listener *l);

#endif
