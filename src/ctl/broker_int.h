/* SPDX-License-Identifier: Apache-2.0 */
/*
 * skrctl broker: the operator's client of skr-broker's admin API
 * (src/broker/admin.c), private to src/ctl (cmd_broker*.c).
 *
 * Where: --url, --ca and --token-file, each falling back to the admin
 * configuration, a JSON object {"url", "ca", "token_file"} read from
 * --config PATH, else $SKR_ADMIN_CONFIG, else BROKER_ADMIN_CONFIG_DEFAULT
 * (the default file may be absent when the options name everything).  The
 * configuration file and the CA it names are trusted as the client
 * configuration's are (skr_client_file_trusted: a regular file owned by root
 * or the caller, writable by nobody else: else untrusted_config); the token
 * file is a secret file (skr_secret_read_file: 0600, owner root or the
 * caller).  The token is never taken from the command line, never printed,
 * and wiped when the command ends.
 *
 * Exit status (broker_finish): 0 done; 1 the broker answered and refused
 * (its reason code and message on stderr: "skrctl: REASON: URL answered
 * HTTP N: DETAIL"; a refused token is admin_denied); 2 usage, unreadable
 * input, an untrusted file, or a broker that cannot be reached (TLS
 * refused included).  With --json a failure prints {"valid": false,
 * "reason", "detail", "http_status"} on stdout; a success prints the
 * broker's JSON as it came, or the command's own stable object.
 */
#ifndef SKR_CTL_BROKER_INT_H
#define SKR_CTL_BROKER_INT_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <json-c/json.h>

#include "common/err.h"

#define BROKER_ADMIN_CONFIG_DEFAULT "/etc/skr/admin.json"
#define BROKER_DEFAULT_TIMEOUT_S 10

/* The options every broker command takes (getopt_long values 0x100..). */
enum {
	BROKER_OPT_URL = 0x100,
	BROKER_OPT_CA,
	BROKER_OPT_TOKEN_FILE,
	BROKER_OPT_CONFIG,
	BROKER_OPT_TIMEOUT,
	BROKER_OPT_JSON,
	BROKER_OPT_TOKEN,	/* refused: the token is never an argument */
};

#define BROKER_LONGOPTS                                                      \
	{ "url", required_argument, NULL, BROKER_OPT_URL },                  \
	{ "ca", required_argument, NULL, BROKER_OPT_CA },                    \
	{ "token-file", required_argument, NULL, BROKER_OPT_TOKEN_FILE },    \
	{ "config", required_argument, NULL, BROKER_OPT_CONFIG },            \
	{ "timeout", required_argument, NULL, BROKER_OPT_TIMEOUT },          \
	{ "json", no_argument, NULL, BROKER_OPT_JSON },                      \
	{ "token", required_argument, NULL, BROKER_OPT_TOKEN }

struct broker_opts {
	const char *url, *ca, *token_file, *config;
	unsigned timeout_s;
	bool json;
};

/* A connection's settings, resolved: options over the configuration. */
struct broker_conn {
	char *url, *ca;
	char *token;		/* a secret (secret.h); NULL for a call without one */
	unsigned timeout_ms;
	bool json;
};

/* What a broker call came to. */
enum broker_outcome {
	BROKER_OK = 0,
	BROKER_REFUSED = 1,	/* the broker answered, not 2xx */
	BROKER_FAILED = 2,	/* not sent, or no well-formed answer */
};

struct broker_result {
	long status;
	char reason[64];	/* the broker's reason code, or ours */
	struct skr_err err;	/* for BROKER_FAILED; for REFUSED, the detail */
};

/* Takes one of BROKER_LONGOPTS: 1 taken, 0 not one of them, -1 a bad value. */
int broker_option(int c, const char *arg, struct broker_opts *o);

/*
 * Resolves the settings; with_token reads the token file too.  Failures are
 * usage, io, malformed or untrusted_config, the detail naming the file or
 * the missing setting.
 */
int broker_connect(const struct broker_opts *o, bool with_token, struct broker_conn *c,
		   struct skr_err *err);
/* Wipes the token and frees everything. */
void broker_disconnect(struct broker_conn *c);

/*
 * One call: body is JSON text or NULL.  A 2xx answer must be what want
 * says: json_type_array or json_type_object, or json_type_null for any one
 * JSON value or no body at all; else BROKER_FAILED with broker_protocol
 * (broker_parse_answer).  *answer (may be NULL) gets it (NULL for no body).
 */
enum broker_outcome broker_call(const struct broker_conn *c, const char *method,
				const char *path, const char *body, json_type want,
				json_object **answer, struct broker_result *res);

/*
 * A 2xx answer's body: exactly one JSON value (white space around it only,
 * nested at most BROKER_MAX_DEPTH deep) of the type want says (as above).
 * Fails with broker_protocol naming who answered and what was wrong.  Pure:
 * the fuzz target (fuzz_broker_views) runs it.
 */
#define BROKER_MAX_DEPTH 32
int broker_parse_answer(const char *who, const uint8_t *body, size_t len, json_type want,
			json_object **out, struct skr_err *err);

struct skr_buf;
/* The same, the answer's body as it came (the release listener's /healthz is text). */
enum broker_outcome broker_call_raw(const struct broker_conn *c, const char *method,
				    const char *path, const char *body, struct skr_buf *raw,
				    struct broker_result *res);

/* Prints a failure (stderr; stdout too with --json) and returns the exit status. */
int broker_finish(const struct broker_conn *c, bool json, enum broker_outcome o,
		  const struct broker_result *res);
/* A usage or input failure before or outside a call: exit 2. */
int broker_fail_input(bool json, const struct skr_err *err);

/* A key id as the broker accepts one ([A-Za-z0-9._-]{1,128}, not "." or ".."). */
bool broker_key_id_ok(const char *id);
/* A positive decimal number (reference set ids, limits); false otherwise. */
bool broker_parse_count(const char *text, long long max, long long *out);

/* A JSON file (policy, PCR values) as compact JSON text that is one object. */
int broker_read_json_object(const char *path, const char *what, char **text,
			    struct skr_err *err);

/* ---- Human output: an aligned table, every cell sanitised ---------------- */

#define BROKER_TABLE_MAX_COLS 10

struct broker_table {
	size_t ncols, nrows, cap;
	const char *head[BROKER_TABLE_MAX_COLS];
	char **cells;		/* nrows * ncols, owned */
};

void broker_table_init(struct broker_table *t, size_t ncols, const char *const *head);
/* Adds a row of ncols strings (NULL prints "-"); copies them. */
int broker_table_add(struct broker_table *t, const char *const *row);
/* Prints the header and rows, columns padded to their widest cell, and frees. */
void broker_table_print(struct broker_table *t);
/*
 * The same with each column at least min_w[i] wide (NULL: no minimum) and
 * the header only when head is set: follow mode's batches line up.
 */
void broker_table_print_ex(struct broker_table *t, const size_t *min_w, bool head);

/*
 * The views (broker_views.c): any JSON value is shown without harm; members
 * of the wrong type show as "-".  with_key: the reseal queue's first column.
 */
void broker_show_keys(json_object *keys);
void broker_show_key(json_object *key, const char *key_id);
void broker_show_refsets(json_object *sets, bool with_key);

/* A JSON field as text for a cell: strings as they are, numbers, null as NULL. */
const char *broker_field(json_object *o, const char *key, char *buf, size_t n);
/* A Unix time field as "YYYY-MM-DD HH:MM:SSZ". */
const char *broker_time(json_object *o, const char *key, char *buf, size_t n);

#endif
