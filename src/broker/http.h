/* SPDX-License-Identifier: Apache-2.0 */
/* The broker's HTTPS listeners on libmicrohttpd: release API and admin API. */
#ifndef SKR_HTTP_H
#define SKR_HTTP_H

#include <stddef.h>
#include <time.h>

#include "broker/broker.h"

#define SKR_HTTP_MAX_BODY (256u << 10)

/*
 * TLS 1.2 and 1.3 only (1.3 preferred), AEAD ciphers with ECDHE only, the
 * server's order first (GnuTLS priority syntax: libmicrohttpd uses GnuTLS).
 */
#define SKR_HTTP_TLS_PRIORITIES                                                          \
	"NORMAL:%SERVER_PRECEDENCE:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:"      \
	"+AES-256-GCM:+AES-128-GCM:+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:" \
	"+ECDHE-RSA"

/* Defaults of the connection limits (configuration keys in the README). */
#define SKR_HTTP_CONNECTION_LIMIT 1024	/* all clients together */
#define SKR_HTTP_PER_CLIENT_LIMIT 32	/* one client address */
#define SKR_HTTP_TIMEOUT 10		/* seconds a connection may stay idle, handshake included */

struct skr_listener;

struct skr_listener_opts {
	const char *address;	/* "127.0.0.1:8443", "[::1]:8443"; port 0 picks one */
	const char *cert_pem;	/* server certificate chain, PEM text */
	const char *key_pem;	/* its private key, PEM text */
	unsigned threads;	/* thread pool size, >= 1 */
	bool admin;		/* serve the admin API instead of the release API */
	const char *tls_priorities;	/* GnuTLS priority string; NULL: SKR_HTTP_TLS_PRIORITIES */
	unsigned connection_limit;	/* 0: SKR_HTTP_CONNECTION_LIMIT */
	unsigned per_client_limit;	/* connections per client address; 0: the default */
	unsigned timeout;		/* idle seconds before a connection is closed; 0: default */
};

int skr_listener_start(struct skr_broker *b, const struct skr_listener_opts *opts,
		       struct skr_listener **out, struct skr_err *err);
/*
 * A new certificate and key for new connections (SIGHUP): checked first (a
 * PEM certificate, a PEM key, the key the certificate's), then served by a
 * new daemon on the same listening socket while the old daemon keeps its
 * open connections, keep-alive ones included, until they close or twice
 * the connection timeout has passed (skr_listener_drain).  A refused pair
 * (SKR_R_usage naming what is wrong) changes nothing: the old one serves on.
 */
int skr_listener_reload(struct skr_listener *l, const char *cert_pem, const char *key_pem,
			struct skr_err *err);
/*
 * Stops the old daemons whose connections have all closed, or whose drain
 * deadline is past at now; returns how many are still draining.
 */
/* now: CLOCK_MONOTONIC seconds (the drain deadline is on that clock). */
unsigned skr_listener_drain(struct skr_listener *l, time_t now);
/* The port actually bound (useful with port 0). */
unsigned skr_listener_port(const struct skr_listener *l);
void skr_listener_stop(struct skr_listener *l);

#endif
