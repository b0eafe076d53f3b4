/* SPDX-License-Identifier: Apache-2.0 */
#include "pgserver.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct skr_pg *running;
static bool registered;

static void stop_at_exit(void)
{
	if (running)
		skr_pg_stop(running);
}

/* The script with its arguments; 0 when it exited 0. */
static int run(struct skr_pg *pg, const char *cmd)
{
	char line[1024];

	snprintf(line, sizeof(line), "sh '%s' %s '%s' %d", pg->script, cmd, pg->dir, pg->port);
	return system(line) == 0 ? 0 : -1;
}

int skr_pg_start(struct skr_pg *pg, const char *script, int fsync, struct skr_err *err)
{
	const char *tmp = getenv("TMPDIR");
	char cmd[1024], base[200];
	FILE *p;
	int rc;

	memset(pg, 0, sizeof(*pg));
	snprintf(base, sizeof(base), "%s/skr-pg-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(base))
		return skr_fail(err, SKR_R_io, "cannot create a directory for PostgreSQL in %s",
				tmp && *tmp ? tmp : "/tmp");
	snprintf(pg->dir, sizeof(pg->dir), "%s/pg", base);
	snprintf(pg->script, sizeof(pg->script), "%s", script);
	snprintf(cmd, sizeof(cmd), "PG_FSYNC=%s sh '%s' start '%s' %ld", fsync ? "on" : "off",
		 script, pg->dir, (long)getpid());
	p = popen(cmd, "r");
	if (!p)
		return skr_fail(err, SKR_R_io, "cannot run %s", script);
	rc = fscanf(p, "%d", &pg->port);
	if (pclose(p) != 0 || rc != 1 || pg->port <= 0)
		return skr_fail(err, SKR_R_io, "PostgreSQL did not start (%s start %s): see its "
				"messages above", script, pg->dir);
	snprintf(pg->conninfo, sizeof(pg->conninfo), "host=%s port=%d dbname=skr user=skr",
		 pg->dir, pg->port);
	if (!registered)
		atexit(stop_at_exit);
	registered = true;
	running = pg;
	return 0;
}

int skr_pg_down(struct skr_pg *pg)
{
	return run(pg, "down");
}

int skr_pg_up(struct skr_pg *pg)
{
	return run(pg, "up");
}

void skr_pg_stop(struct skr_pg *pg)
{
	char base[256];

	if (!pg->port)
		return;
	run(pg, "stop");
	pg->port = 0;
	/* The script removed pg/; its parent is ours. */
	snprintf(base, sizeof(base), "%s", pg->dir);
	if (strrchr(base, '/'))
		*strrchr(base, '/') = 0;
	rmdir(base);
	if (running == pg)
		running = NULL;
}
