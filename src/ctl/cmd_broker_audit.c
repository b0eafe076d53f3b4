/* SPDX-License-Identifier: Apache-2.0 */
/*
 * skrctl broker audit and health (broker_int.h has the settings, exit
 * status and output rules).
 *
 * audit --all asks for every row (limit=0), the export that skrctl audit
 * verify checks; --checkpoints shows GET /v1/audit/checkpoints.
 *
 * audit --follow polls GET /v1/audit every --interval seconds and prints
 * only the rows whose id is above the highest it has printed, oldest first,
 * until SIGINT or SIGTERM (exit 0).  A broker that cannot be reached for a
 * while is said once on stderr and polled again; a refusal (a token revoked
 * meanwhile) ends it with exit 1.  With --json each row is one line (JSON
 * Lines), so a script reads them as they come.
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "ctl/broker_int.h"
#include "ctl/cli.h"

#define AUDIT_DEFAULT_LIMIT 50
#define AUDIT_MAX_LIMIT 10000
/* Rows asked for at each poll: more new rows than this between polls are reported as skipped. */
#define FOLLOW_BATCH 1000
#define FOLLOW_DEFAULT_INTERVAL 2

enum { OPT_KEY = 0x200, OPT_LIMIT, OPT_FOLLOW, OPT_INTERVAL, OPT_RELEASE, OPT_ALL,
       OPT_CHECKPOINTS };

struct audit_args {
	struct broker_opts o;
	const char *key;
	long long limit, interval;	/* limit 0: --all */
	bool follow, all, checkpoints;
};

static volatile sig_atomic_t stop_following;

static void on_stop(int sig)
{
	(void)sig;
	stop_following = 1;
}

static int parse_audit(int argc, char **argv, struct audit_args *a)
{
	static const struct option opts[] = {
		BROKER_LONGOPTS,
		{ "key", required_argument, NULL, OPT_KEY },
		{ "limit", required_argument, NULL, OPT_LIMIT },
		{ "follow", no_argument, NULL, OPT_FOLLOW },
		{ "interval", required_argument, NULL, OPT_INTERVAL },
		{ "all", no_argument, NULL, OPT_ALL },
		{ "checkpoints", no_argument, NULL, OPT_CHECKPOINTS },
		{ 0 }
	};
	int c, taken;

	memset(a, 0, sizeof(*a));
	a->limit = AUDIT_DEFAULT_LIMIT;
	a->interval = FOLLOW_DEFAULT_INTERVAL;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if ((taken = broker_option(c, optarg, &a->o)) != 0) {
			if (taken < 0)
				return -1;
			continue;
		}
		switch (c) {
		case OPT_KEY: a->key = optarg; break;
		case OPT_LIMIT:
			if (!broker_parse_count(optarg, AUDIT_MAX_LIMIT, &a->limit))
				return -1;
			break;
		case OPT_FOLLOW: a->follow = true; break;
		case OPT_ALL: a->all = true; break;
		case OPT_CHECKPOINTS: a->checkpoints = true; break;
		case OPT_INTERVAL:
			if (!broker_parse_count(optarg, 3600, &a->interval))
				return -1;
			break;
		default: return -1;
		}
	}
	if (a->all)
		a->limit = 0;
	/* --checkpoints takes nothing else; --all is the whole log, not one key's. */
	if (a->checkpoints && (a->key || a->all || a->follow))
		return -1;
	if (a->all && (a->key || a->follow))
		return -1;
	return optind == argc && (!a->key || broker_key_id_ok(a->key)) ? 0 : -1;
}

static const char *const audit_head[] = { "ID", "TIME", "KEY_ID", "CLIENT", "ACTION",
					  "VERDICT", "REASON", "DETAIL" };
/* Follow mode's columns: wide enough for most rows, so batches line up. */
static const size_t follow_widths[] = { 6, 20, 16, 15, 13, 7, 16, 0 };

static int64_t row_id(json_object *row)
{
	json_object *id;

	return json_object_object_get_ex(row, "id", &id) ? json_object_get_int64(id) : 0;
}

/*
 * Prints the rows with an id above *last (all of them when *last is 0),
 * oldest first (the broker sends the newest first), and raises *last.
 */
static size_t print_rows(json_object *rows, bool json, bool head, const size_t *min_w,
			 int64_t *last)
{
	struct broker_table t;
	size_t n = json_object_is_type(rows, json_type_array) ? json_object_array_length(rows) : 0;
	size_t i, printed = 0;
	int64_t from = *last;

	broker_table_init(&t, ARRAY_SIZE(audit_head), audit_head);
	for (i = n; i-- > 0;) {
		json_object *r = json_object_array_get_idx(rows, i);
		char id[32], time[32];
		const char *row[8];

		if (row_id(r) <= from)
			continue;
		if (row_id(r) > *last)
			*last = row_id(r);
		printed++;
		if (json) {
			cli_puts_json_ascii(json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN));
			continue;
		}
		row[0] = broker_field(r, "id", id, sizeof(id));
		row[1] = broker_time(r, "time", time, sizeof(time));
		row[2] = broker_field(r, "key_id", NULL, 0);
		row[3] = broker_field(r, "client", NULL, 0);
		row[4] = broker_field(r, "action", NULL, 0);
		row[5] = broker_field(r, "verdict", NULL, 0);
		row[6] = broker_field(r, "reason", NULL, 0);
		row[7] = broker_field(r, "detail", NULL, 0);
		broker_table_add(&t, row);
	}
	/* Under --json the table is empty: this only frees it. */
	broker_table_print_ex(&t, min_w, head && !json);
	fflush(stdout);
	return printed;
}

static enum broker_outcome fetch(struct broker_conn *c, const struct audit_args *a, long long limit,
				 json_object **rows, struct broker_result *res)
{
	char path[256];

	snprintf(path, sizeof(path), "/v1/audit?limit=%lld%s%s", limit, a->key ? "&key_id=" : "",
		 a->key ? a->key : "");
	return broker_call(c, "GET", path, NULL, json_type_array, rows, res);
}

/* Sleeps up to s seconds, waking early when told to stop. */
static void nap(long long s)
{
	struct timespec slice = { .tv_sec = 0, .tv_nsec = 100 * 1000000L };

	for (long long i = 0; i < s * 10 && !stop_following; i++)
		nanosleep(&slice, NULL);
}

static enum broker_outcome follow(struct broker_conn *c, const struct audit_args *a,
				  int64_t last, struct broker_result *res)
{
	struct sigaction sa = { .sa_handler = on_stop };
	bool down = false;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!stop_following) {
		json_object *rows = NULL;
		enum broker_outcome o;

		nap(a->interval);
		if (stop_following)
			break;
		o = fetch(c, a, FOLLOW_BATCH, &rows, res);
		if (o == BROKER_REFUSED)
			return o;
		if (o == BROKER_FAILED) {
			/* Said once per outage; the broker may be restarting. */
			if (!down)
				fprintf(stderr, "skrctl: warning: %s: %s; still polling\n",
					skr_reason_name(res->err.reason), res->err.detail);
			down = true;
			continue;
		}
		if (down)
			fprintf(stderr, "skrctl: %s answers again\n", c->url);
		down = false;
		if (json_object_array_length(rows) == FOLLOW_BATCH && last &&
		    row_id(json_object_array_get_idx(rows, FOLLOW_BATCH - 1)) > last + 1)
			fprintf(stderr, "skrctl: warning: more than %d rows since the last poll: "
					"some were not shown (use audit --limit)\n", FOLLOW_BATCH);
		print_rows(rows, c->json, false, follow_widths, &last);
		json_object_put(rows);
	}
	return BROKER_OK;
}

static const char *const checkpoint_head[] = { "SEQ", "TIME", "HASH" };

/* GET /v1/audit/checkpoints: as they came (--json) or a table, oldest first. */
static enum broker_outcome checkpoints(struct broker_conn *c, struct broker_result *res)
{
	json_object *rows = NULL;
	enum broker_outcome o = broker_call(c, "GET", "/v1/audit/checkpoints", NULL, json_type_array,
					     &rows, res);
	struct broker_table t;
	size_t i, n;

	if (o != BROKER_OK)
		return o;
	if (c->json) {
		cli_print_json(rows);
		json_object_put(rows);
		return o;
	}
	n = json_object_is_type(rows, json_type_array) ? json_object_array_length(rows) : 0;
	broker_table_init(&t, ARRAY_SIZE(checkpoint_head), checkpoint_head);
	for (i = 0; i < n; i++) {
		json_object *r = json_object_array_get_idx(rows, i);
		char seq[32], time[32];
		const char *row[3];

		row[0] = broker_field(r, "seq", seq, sizeof(seq));
		row[1] = broker_time(r, "time", time, sizeof(time));
		row[2] = broker_field(r, "hash", NULL, 0);
		broker_table_add(&t, row);
	}
	broker_table_print_ex(&t, NULL, true);
	json_object_put(rows);
	return o;
}

int cmd_broker_audit(int argc, char **argv)
{
	struct audit_args a;
	struct broker_conn c;
	struct broker_result res;
	struct skr_err err = { 0 };
	json_object *rows = NULL;
	enum broker_outcome o;
	int64_t last = 0;
	int rc;

	if (parse_audit(argc, argv, &a) < 0)
		return cli_usage(AUDIT_USAGE);
	if (broker_connect(&a.o, true, &c, &err) < 0)
		return broker_fail_input(a.o.json, &err);
	if (a.checkpoints) {
		o = checkpoints(&c, &res);
		rc = broker_finish(&c, c.json, o, &res);
		broker_disconnect(&c);
		return rc;
	}
	o = fetch(&c, &a, a.limit, &rows, &res);
	if (o == BROKER_OK && c.json && !a.follow)
		cli_print_json(rows);	/* the broker's rows as they came, newest first */
	else if (o == BROKER_OK)
		print_rows(rows, c.json, true, a.follow ? follow_widths : NULL, &last);
	json_object_put(rows);
	if (o == BROKER_OK && a.follow)
		o = follow(&c, &a, last, &res);
	rc = broker_finish(&c, c.json, o, &res);
	broker_disconnect(&c);
	return rc;
}

/* ---- health --------------------------------------------------------------- */

/*
 * GET /healthz: the admin listener's (with the token, which it checks too)
 * or, with --release URL, the release listener's (no token is sent there).
 * 0 healthy (2xx), 1 answered otherwise, 2 not reached.
 */
int cmd_broker_health(int argc, char **argv)
{
	static const struct option opts[] = {
		BROKER_LONGOPTS, { "release", required_argument, NULL, OPT_RELEASE }, { 0 }
	};
	_cleanup_buf_ struct skr_buf body = { 0 };
	struct broker_opts o = { 0 };
	const char *release = NULL;
	struct broker_conn c;
	struct broker_result res;
	struct skr_err err = { 0 };
	enum broker_outcome out;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == OPT_RELEASE)
			release = optarg;
		else if (broker_option(ch, optarg, &o) <= 0)
			return cli_usage(HEALTH_USAGE);
	}
	if (optind != argc || (release && o.url))
		return cli_usage(HEALTH_USAGE);
	if (release)
		o.url = release;
	if (broker_connect(&o, !release, &c, &err) < 0)
		return broker_fail_input(o.json, &err);
	out = broker_call_raw(&c, "GET", "/healthz", NULL, &body, &res);
	if (out == BROKER_OK && c.json) {
		json_object *j = json_object_new_object();

		json_object_object_add(j, "healthy", json_object_new_boolean(true));
		json_object_object_add(j, "url", json_object_new_string(c.url));
		json_object_object_add(j, "http_status", json_object_new_int64(res.status));
		cli_print_json(j);
		json_object_put(j);
	} else if (out == BROKER_OK) {
		printf("healthy: %s/healthz answered HTTP %ld\n", c.url, res.status);
	}
	rc = broker_finish(&c, c.json, out, &res);
	broker_disconnect(&c);
	return rc;
}
