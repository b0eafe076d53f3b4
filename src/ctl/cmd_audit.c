/* SPDX-License-Identifier: Apache-2.0 */
/*
 * skrctl audit verify: an exported audit log checked against the broker's
 * signed checkpoints and the audit signing key's public half
 * (verify/audit_log.h says what is checked and how a failure is named).
 * Offline: nothing but the three files is trusted or contacted.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "common/x509.h"
#include "ctl/cli.h"
#include "verify/audit_log.h"

/* An export of a year of releases at a busy broker stays well under this. */
#define AUDIT_LOG_MAX (1024u << 20)

struct audit_verify_args {
	const char *log, *checkpoints, *key;
	bool json;
};

static int parse_args(int argc, char **argv, struct audit_verify_args *a)
{
	static const struct option opts[] = {
		{ "log", required_argument, NULL, 'l' },
		{ "checkpoints", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "json", no_argument, NULL, 'j' },
		{ 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l': a->log = optarg; break;
		case 'c': a->checkpoints = optarg; break;
		case 'k': a->key = optarg; break;
		case 'j': a->json = true; break;
		default: return -1;
		}
	}
	return optind == argc && a->log && a->checkpoints && a->key ? 0 : -1;
}

static int load_key(const char *path, EVP_PKEY **key, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf pem = { 0 };
	char group[64] = "";

	if (skr_read_file(path, CLI_MAX_INPUT, &pem, err) < 0 ||
	    skr_pubkey_parse(pem.data, pem.len, key, "audit signing key", err) < 0)
		return -1;
	if (!EVP_PKEY_is_a(*key, "EC") || !EVP_PKEY_get_group_name(*key, group, sizeof(group), NULL) ||
	    strcmp(group, "prime256v1"))
		return skr_fail(err, SKR_R_usage, "%s is not a P-256 public key (the audit signing "
				"key's public half)", path);
	return 0;
}

static int verify(const struct audit_verify_args *a, struct skr_audit_report *rep,
		  struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf log = { 0 }, cps = { 0 };
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;

	if (skr_read_file(a->log, AUDIT_LOG_MAX, &log, err) < 0 ||
	    skr_read_file(a->checkpoints, CLI_MAX_INPUT, &cps, err) < 0 ||
	    load_key(a->key, &key, err) < 0)
		return -1;
	return skr_audit_log_verify((const char *)log.data, log.len, (const char *)cps.data, cps.len,
				    key, rep, err);
}

static json_object *report_json(const struct skr_audit_report *r)
{
	json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "rows", json_object_new_int64((int64_t)r->rows));
	json_object_object_add(o, "last_seq", json_object_new_int64((int64_t)r->last_seq));
	json_object_object_add(o, "checkpoints", json_object_new_int64((int64_t)r->checkpoints));
	json_object_object_add(o, "anchored_seq", json_object_new_int64((int64_t)r->anchored_seq));
	json_object_object_add(o, "unanchored_rows",
			       json_object_new_int64((int64_t)(r->last_seq - r->anchored_seq)));
	if (r->bad_seq)
		json_object_object_add(o, "seq", json_object_new_int64((int64_t)r->bad_seq));
	return o;
}

int cmd_audit_verify(int argc, char **argv)
{
	struct audit_verify_args a = { 0 };
	struct skr_audit_report rep = { 0 };
	struct skr_err err = { 0 };
	bool valid;

	if (parse_args(argc, argv, &a) < 0)
		return cli_usage(AUDIT_VERIFY_USAGE);
	valid = verify(&a, &rep, &err) == 0;
	if (valid && !a.json)
		printf("audit log: valid: rows 1 to %llu chained, %zu checkpoint%s verified, "
		       "anchored through row %llu (%llu later row%s not yet anchored)\n",
		       (unsigned long long)rep.last_seq, rep.checkpoints, rep.checkpoints == 1 ? "" : "s",
		       (unsigned long long)rep.anchored_seq,
		       (unsigned long long)(rep.last_seq - rep.anchored_seq),
		       rep.last_seq - rep.anchored_seq == 1 ? "" : "s");
	if (!valid && rep.bad_seq && !a.json)
		fprintf(stderr, "skrctl: first row in doubt: seq %llu\n",
			(unsigned long long)rep.bad_seq);
	return cli_finish(&err, a.json ? report_json(&rep) : NULL, a.json);
}
