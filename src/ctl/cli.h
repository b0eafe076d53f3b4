/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared plumbing of skrctl's commands: the exit-status contract and output.
 *
 * Exit status: 0 valid, 1 verification failed (reason on stderr), 2 usage or
 * unreadable/unparseable input.  With --json, stdout carries one JSON object
 * whose keys are stable: "valid" (bool) always, "reason" and "detail" when not
 * valid, and the command's own fields.
 */
#ifndef SKR_CLI_H
#define SKR_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#include "common/err.h"
#include "common/json_util.h"
#include "ctl/usage.h"

enum { CLI_EXIT_OK = 0, CLI_EXIT_FAILED = 1, CLI_EXIT_USAGE = 2 };

/* Every command: argv[0] is the command's own name ("verify", "show", ...). */
typedef int (*cli_command_fn)(int argc, char **argv);

int cmd_snp_verify(int argc, char **argv);
int cmd_hcl_show(int argc, char **argv);
int cmd_akcert_verify(int argc, char **argv);
int cmd_quote_verify(int argc, char **argv);
int cmd_evidence_verify(int argc, char **argv);
int cmd_eventlog_replay(int argc, char **argv);
int cmd_eventlog_show(int argc, char **argv);
int cmd_pe_hash(int argc, char **argv);
int cmd_release(int argc, char **argv);
int cmd_enroll(int argc, char **argv);
int cmd_unenroll(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_reseal(int argc, char **argv);
int cmd_local_copy(int argc, char **argv);
int cmd_broker_keys(int argc, char **argv);
int cmd_broker_refsets(int argc, char **argv);
int cmd_broker_reseal_queue(int argc, char **argv);
int cmd_broker_audit(int argc, char **argv);
int cmd_broker_health(int argc, char **argv);
int cmd_audit_verify(int argc, char **argv);

/* Prints "skrctl: usage: ..." to stderr and returns CLI_EXIT_USAGE. */
int cli_usage(const char *usage);

/*
 * Ends a command: on failure prints "skrctl: REASON: DETAIL" to stderr; with
 * json, prints `result` (which may be NULL) with "valid", "reason" and
 * "detail" added.  Takes ownership of result.  Returns the exit status.
 */
int cli_finish(const struct skr_err *err, json_object *result, bool json);
/* cli_finish with {"tokens": reports} under --json; takes reports either way. */
int cli_finish_tokens(const struct skr_err *err, json_object *reports, bool json);


/* "0,7,11" as a PCR bit mask (0..23); -1 for anything else or an empty list. */
int cli_parse_pcr_list(const char *list, uint32_t *mask);

struct skr_pcr_banks;
/* PCR values from a JSON file in the pcr_json format ({"sha256": {"7": hex}}). */
int cli_load_pcr_banks(const char *path, struct skr_pcr_banks *banks, struct skr_err *err);

struct skr_eventlog;
struct skr_predict_result;


/* What a prediction of the next boot's PCRs takes (skrctl predict and reseal). */
struct cli_predict_inputs {
	const char *eventlog;		/* NULL: CLI_DEFAULT_EVENTLOG, live PCRs from the TPM */
	const char *kernel, *current_kernel, *initrd, *cmdline;
	const char *pcrs_live, *tcti;	/* live PCRs: a file, or the TPM */
	uint32_t mask;
};

/* Loads the log, the images and the live PCRs, and predicts (src/predict/predict.h). */
int cli_predict(const struct cli_predict_inputs *in, struct skr_eventlog **log,
		struct skr_predict_result *res, struct skr_err *err);

/* A TCG event log file, parsed (verify/eventlog.h); the caller frees *log. */
int cli_load_log(const char *path, struct skr_eventlog **log, struct skr_err *err);

/* A PCR mask as a JSON array of its indexes, lowest first. */
json_object *cli_pcr_mask_json(uint32_t mask);

/*
 * JSON for scripts, pure ASCII: json-c escapes control characters but passes
 * DEL and every byte above it (text from a broker or a header is not checked
 * for UTF-8), so a terminal could read a C1 escape in it.  DEL and non-ASCII
 * become \uXXXX (a byte that is not UTF-8: \ufffd).  Prints a line feed after.
 * cli_print_json prints a JSON value so, pretty.
 */
void cli_puts_json_ascii(const char *text);
void cli_print_json(json_object *obj);



struct skr_amd_trust;

#define CLI_MAX_ANCHORS 16

/* The options of the commands that verify an AMD chain (snp and evidence verify). */
struct cli_amd_opts {
	const char *vcek, *chain;
	char *anchors[CLI_MAX_ANCHORS];
	size_t n_anchors;
	int product;		/* enum skr_snp_product */
	bool allow_debug, json;
};

#define CLI_AMD_LONGOPTS                                           \
	{ "vcek", required_argument, NULL, 'v' },                  \
	{ "chain", required_argument, NULL, 'c' },                 \
	{ "trust-anchor", required_argument, NULL, 't' },          \
	{ "product", required_argument, NULL, 'p' },               \
	{ "allow-debug", no_argument, NULL, 'd' },                 \
	{ "json", no_argument, NULL, 'j' }

/* Takes one of CLI_AMD_LONGOPTS: 1 taken, 0 not one of them, -1 a bad value. */
int cli_amd_option(int c, char *arg, struct cli_amd_opts *o);

/*
 * Secrets from a file or a prompt (cli_secret.c): each *out is a new secret
 * (common/secret.h: locked, its length is skr_secret_size, NUL-terminated,
 * freed with skr_secret_free); empty is a usage error.
 *
 * The admin token file goes through skr_secret_read_file (regular, no
 * symlink, owned by root or the caller, no group/other bits, at most 4 KiB);
 * trailing whitespace is dropped.
 */
int read_admin_token(const char *path, char **out, struct skr_err *err);
/* A passphrase key file ("-": stdin), whole, at most 4 KiB; not mode-checked (secret.h). */
int read_key_file(const char *path, char **out, struct skr_err *err);
/* "Existing passphrase for DEVICE: " on /dev/tty, echo off; never echoed, never logged. */
int prompt_passphrase(const char *device, char **out, struct skr_err *err);

/* Upper bound for any input file skrctl reads (evidence, logs, reports). */
#define CLI_MAX_INPUT (64u << 20)

/* The built-in AMD roots plus each PEM file in anchors (NULL-terminated). */
int cli_load_trust(struct skr_amd_trust *t, char *const *anchors, size_t n_anchors,
		   struct skr_err *err);
#endif
