/* SPDX-License-Identifier: Apache-2.0 */
/* skrctl release: the attested release, for diagnostics and tests. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl/cli.h"
#include "vm/release_client.h"
#include "common/util.h"


static int parse_args(int argc, char **argv, struct skr_release_opts *o, const char **out,
		      bool *json)
{
	static const struct option opts[] = {
		{ "key-id", required_argument, NULL, 'k' }, { "broker", required_argument, NULL, 'b' },
		{ "ca", required_argument, NULL, 'c' },     { "tcti", required_argument, NULL, 't' },
		{ "vcek", required_argument, NULL, 'v' },   { "ek-chain", required_argument, NULL, 'e' },
		{ "pcrs", required_argument, NULL, 'p' },   { "timeout", required_argument, NULL, 'T' },
		{ "out", required_argument, NULL, 'o' },    { "json", no_argument, NULL, 'j' },
		{ 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'k': o->key_id = optarg; break;
		case 'b':
			if (o->n_brokers == SKR_RELEASE_MAX_BROKERS)
				return -1;
			o->brokers[o->n_brokers++] = optarg;
			break;
		case 'c': o->ca_file = optarg; break;
		case 't': o->tcti = optarg; break;
		case 'v': o->vcek_file = optarg; break;
		case 'e': o->ek_chain_file = optarg; break;
		case 'p':
			if (cli_parse_pcr_list(optarg, &o->pcr_mask) < 0)
				return -1;
			break;
		case 'T': o->deadline_ms = (unsigned)atoi(optarg) * 1000u; break;
		case 'o': *out = optarg; break;
		case 'j': *json = true; break;
		default: return -1;
		}
	}
	return optind == argc && o->key_id && o->n_brokers && o->ca_file && *out &&
			       strcmp(*out, "-") != 0
		       ? 0
		       : -1;
}

/* O_EXCL-free but never through a symlink, and 0600 before any byte lands. */
static int write_secret(const char *path, const uint8_t *secret, size_t len, struct skr_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	ssize_t n;

	if (fd < 0)
		return skr_fail(err, SKR_R_io, "cannot create %s: %s", path, strerror(errno));
	if (fchmod(fd, 0600) < 0 || (n = write(fd, secret, len)) != (ssize_t)len || fsync(fd) < 0) {
		close(fd);
		unlink(path);
		return skr_fail(err, SKR_R_io, "cannot write %s", path);
	}
	return close(fd) == 0 ? 0 : skr_fail(err, SKR_R_io, "cannot write %s", path);
}

int cmd_release(int argc, char **argv)
{
	struct skr_release_opts o = { 0 };
	struct skr_release_timing t = { 0 };
	struct skr_err err = { 0 };
	const char *out = NULL;
	bool json = false;
	uint8_t *secret;
	size_t len = 0;
	json_object *res = NULL;

	if (parse_args(argc, argv, &o, &out, &json) < 0)
		return cli_usage(RELEASE_USAGE);
	secret = skr_secret_alloc(SKR_RELEASE_MAX_SECRET);
	if (!secret)
		return CLI_EXIT_USAGE;
	if (skr_release(&o, secret, &len, &t, &err) == 0)
		write_secret(out, secret, len, &err);
	skr_secret_free(secret);
	if (json) {
		res = json_object_new_object();
		json_object_object_add(res, "attempts", json_object_new_int((int)t.attempts));
		json_object_object_add(res, "tpm_ms", json_object_new_double(t.tpm_ms));
		json_object_object_add(res, "network_ms", json_object_new_double(t.network_ms));
		json_object_object_add(res, "total_ms", json_object_new_double(t.total_ms));
	} else if (err.reason == SKR_R_ok) {
		fprintf(stderr, "skrctl: released %zu bytes into %s (tpm %.1f ms, network %.1f ms)\n",
			len, out, t.tpm_ms, t.network_ms);
	}
	return cli_finish(&err, res, json);
}
