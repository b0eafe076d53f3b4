/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test-only: a private PostgreSQL server for a test program, started by
 * tests/helpers/pg-server.sh (tests/cli/pg.sh: initdb + pg_ctl from Debian's
 * server packages, as nobody when run as root) in a new directory under
 * TMPDIR, on a Unix socket in that directory and a loopback port.
 *
 * The server is stopped and its directory removed by skr_pg_stop(), by an
 * atexit handler, and, should the test process die without either, by the
 * script's watchdog, which watches this process.  A server that cannot be
 * started is an error (the caller fails, never skips).
 */
#ifndef SKR_TEST_PGSERVER_H
#define SKR_TEST_PGSERVER_H

#include "common/err.h"

struct skr_pg {
	char dir[256];		/* the server's directory (data/, postgres.log, socket) */
	char script[512];	/* pg-server.sh */
	int port;
	char conninfo[512];	/* "host=DIR port=P dbname=skr user=skr" */
};

/* script: the path of tests/helpers/pg-server.sh.  fsync: the server's fsync. */
int skr_pg_start(struct skr_pg *pg, const char *script, int fsync, struct skr_err *err);
/* pg_ctl stop (fast) and start again, same data, port and socket: an outage. */
int skr_pg_down(struct skr_pg *pg);
int skr_pg_up(struct skr_pg *pg);
void skr_pg_stop(struct skr_pg *pg);

#endif
