/* SPDX-License-Identifier: Apache-2.0 */
/* skrctl: enrollment, reseal and offline verification for skr. */
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

#include "ctl/cli.h"

#ifndef SKR_VERSION
#define SKR_VERSION "0.1.0"
#endif

static const struct {
	const char *group, *name;
	cli_command_fn fn;
	const char *synopsis;
} commands[] = {
	{ "snp", "verify", cmd_snp_verify,
	  "REPORT [--vcek CERT] [--chain PEM] [--product NAME] [--allow-debug] [--json]" },
	{ "hcl", "show", cmd_hcl_show, "HCL_REPORT [--json]" },
	{ "evidence", "verify", cmd_evidence_verify,
	  "EVIDENCE.json [--nonce HEX] [--chain PEM] [--product NAME] [--json]" },
	{ "quote", "verify", cmd_quote_verify,
	  "--message F --signature F --ak PEM [--nonce HEX] [--pcrs FILE] [--json]" },
	{ "eventlog", "replay", cmd_eventlog_replay, "LOG [--json]" },
	{ "eventlog", "show", cmd_eventlog_show, "LOG [--json]" },
	{ "pe", "hash", cmd_pe_hash, "IMAGE [--alg sha1|sha256|sha384|sha512] [--pad-unsigned] [--json]" },
};

static const struct {
	const char *name;
	cli_command_fn fn;
	const char *synopsis;
} single_commands[] = {
	{ "release", cmd_release,
	  "--key-id ID --broker URL... --ca PEM [--tcti T] [--vcek CERT] [--pcrs LIST] [--timeout S] --out FILE" },
	{ "enroll", cmd_enroll,
	  "DEVICE [--broker URL]... [--admin URL]... [--ca PEM] --admin-token FILE [--pcrs 7] "
	  "[--policy FILE] [--key-id ID] [--recovery-key] [--key-file F] [--tcti T] [--timeout S] "
	  "[--no-verify] [--config PATH] [--json]" },
	{ "unenroll", cmd_unenroll,
	  "DEVICE [--token N] [--admin-token FILE [--ca PEM] [--admin URL]...] [--reconcile] "
	  "[--config PATH] [--json]" },
	{ "status", cmd_status, "DEVICE [--tcti T] [--timeout S] [--eventlog LOG] [--config PATH] [--json]" },
	{ "predict", cmd_predict,
	  "--kernel IMG [--eventlog LOG] [--current-kernel IMG] [--initrd FILE] [--cmdline S] "
	  "[--pcrs 4,7,9] [--pcrs-live FILE.json | --tcti T] [--json]" },
	{ "reseal", cmd_reseal,
	  "[DEVICE... | --all] [--kernel-version V | --kernel IMG] [--initrd F] [--cmdline S] "
	  "[--eventlog LOG] [--check | --commit | --withdraw V] [--tcti T] [--timeout S] "
	  "[--config PATH] [--json]" },
	{ "local-copy", cmd_local_copy,
	  "DEVICE [--key-file F] [--disable] [--tcti T] [--config PATH] [--json]" },
};

static void usage(FILE *to)
{
	size_t i;

	fprintf(to, "usage: skrctl COMMAND ...\n\nOffline verification:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(to, "  skrctl %s %s %s\n", commands[i].group, commands[i].name,
			commands[i].synopsis);
	fprintf(to, "\nAttested release and LUKS2 enrollment:\n");
	for (i = 0; i < sizeof(single_commands) / sizeof(single_commands[0]); i++)
		fprintf(to, "  skrctl %s %s\n", single_commands[i].name, single_commands[i].synopsis);
	fprintf(to, "\nBrokers, CA and TPM of enroll, unenroll, status, reseal and local-copy come from the\n"
		    "client configuration (/etc/skr/client.json, SKR_CONFIG or --config), never from the\n"
		    "LUKS2 header.\n");
	fprintf(to, "\nExit status: 0 valid, 1 verification failed, 2 usage or unreadable input.\n");
}

int main(int argc, char **argv)
{
	size_t i;

	/*
	 * release, enroll, reseal and local-copy hold disk secrets and admin
	 * tokens: no core dump of this process, and no ptrace by other users.
	 * Set first, before any secret exists.
	 */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		fprintf(stderr, "skrctl: warning: cannot disable core dumps: secrets may reach a core file\n");

	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return CLI_EXIT_OK;
	}
	if (argc >= 2 && !strcmp(argv[1], "--version")) {
		printf("skrctl %s\n", SKR_VERSION);
		return CLI_EXIT_OK;
	}
	for (i = 0; argc >= 2 && i < sizeof(single_commands) / sizeof(single_commands[0]); i++)
		if (!strcmp(argv[1], single_commands[i].name))
			return single_commands[i].fn(argc - 1, argv + 1);
	if (argc < 3) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].group) && !strcmp(argv[2], commands[i].name))
			return commands[i].fn(argc - 2, argv + 2);
	fprintf(stderr, "skrctl: unknown command '%s %s'\n", argv[1], argv[2]);
	usage(stderr);
	return CLI_EXIT_USAGE;
}
