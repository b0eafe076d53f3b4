/* SPDX-License-Identifier: Apache-2.0 */
/* skrctl: enrollment, reseal, offline verification and broker administration for skr. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

#include "common/util.h"
#include "ctl/cli.h"

#ifndef SKR_VERSION
#define SKR_VERSION "0.1.0"
#endif

/* One command: `skrctl GROUP NAME ...` (offline verifiers) or `skrctl NAME ...`. */
struct command {
	const char *group; /* NULL for a single-word command */
	const char *name;
	cli_command_fn fn;
	const char *usage;   /* ctl/usage.h: the same line a usage error prints */
	const char *summary; /* what it does, for --help */
	const char *section; /* the heading `skrctl --help` prints before it, when one starts here */
};

#define BROKER_SUMMARY_END                                                                   \
	" Talks to skr-broker's admin API over TLS (the CA pinned) with the bearer token.\n\n" \
	BROKER_ADMIN_NOTE                                                                     \
	"\nExit status: 0 done, 1 the broker refused (its reason code and message on stderr),\n" \
	"2 usage, unreadable input or an unreachable broker."

static const struct command commands[] = {
	{ "snp", "verify", cmd_snp_verify, SNP_USAGE,
	  "Verifies an SEV-SNP attestation report: the VCEK's chain to a built-in or given AMD root, "
	  "the report's signature, its TCB against the VCEK's, and the debug policy.",
	  "Offline verification:" },
	{ "hcl", "show", cmd_hcl_show, HCL_USAGE,
	  "Decodes an Azure HCL report (vTPM NV 0x01400001): the SNP report, the runtime claims and "
	  "whether their hash is the report's REPORT_DATA.", NULL },
	{ "akcert", "verify", cmd_akcert_verify, AKCERT_USAGE,
	  "Verifies an Azure vTPM AK certificate (Trusted Launch): its chain to the built-in Azure "
	  "Virtual TPM Root CA 2023 or a given root, with the built-in Global Virtual TPM CA - 03 "
	  "and given intermediates; with --ak or --ak-public, that its key is that AK (--ak-public "
	  "also checks the AK is a restricted, TPM-bound signing key).", NULL },
	{ "evidence", "verify", cmd_evidence_verify, EVIDENCE_USAGE,
	  "Verifies a whole evidence bundle as the broker does: AMD chain, SNP report, HCL claims, "
	  "the AK, the quote and its PCR digest.", NULL },
	{ "quote", "verify", cmd_quote_verify, QUOTE_USAGE,
	  "Verifies a TPM2 quote (TPMS_ATTEST and signature) with an AK, its nonce and PCR digest.", NULL },
	{ "eventlog", "replay", cmd_eventlog_replay, EVENTLOG_REPLAY_USAGE,
	  "Replays a TCG event log into the PCR values it implies, every bank of the log.", NULL },
	{ "eventlog", "show", cmd_eventlog_show, EVENTLOG_SHOW_USAGE,
	  "Lists the events of a TCG event log with their PCR, type, digests and a safe description.", NULL },
	{ "audit", "verify", cmd_audit_verify, AUDIT_VERIFY_USAGE,
	  "Verifies an exported audit log against the broker's signed checkpoints: the hash chain "
	  "row by row and every checkpoint's signature; names the first row changed, removed or "
	  "reordered, and a truncated tail, by seq.", NULL },
	{ "pe", "hash", cmd_pe_hash, PE_HASH_USAGE,
	  "Computes a PE image's Authenticode digest, as firmware measures it into PCR 4.", NULL },
	{ NULL, "release", cmd_release, RELEASE_USAGE,
	  "Attests this VM and asks brokers for a key; the secret, unwrapped in the vTPM, is written "
	  "to FILE (0600).",
	  "Attested release and LUKS2 enrollment:" },
	{ NULL, "enroll", cmd_enroll, ENROLL_USAGE,
	  "Creates a key at the broker bound to this VM's approved boot state, and adds it to the "
	  "LUKS2 device as an skr token with its own keyslot, all or nothing.", NULL },
	{ NULL, "unenroll", cmd_unenroll, UNENROLL_USAGE,
	  "Removes skr tokens and their keyslots (and the broker's key with --admin-token); "
	  "--reconcile repairs what an interrupted enroll left.", NULL },
	{ NULL, "status", cmd_status, STATUS_USAGE,
	  "Shows the device's skr tokens, their brokers, bound PCRs and whether this boot matches.", NULL },
	{ NULL, "predict", cmd_predict, PREDICT_USAGE,
	  "Predicts the PCR values of the next boot with a new kernel, initrd or command line.", NULL },
	{ NULL, "reseal", cmd_reseal, RESEAL_USAGE,
	  "Proposes the next boot's PCR values to the broker (and the local copy) after a kernel "
	  "upgrade; --commit at the next boot makes them current, --withdraw drops them.", NULL },
	{ NULL, "local-copy", cmd_local_copy, LOCAL_USAGE,
	  "Seals a copy of the key in this vTPM, under the same PCRs, for boots without the broker; "
	  "--disable removes it.", NULL },
	{ "broker", "keys", cmd_broker_keys, KEYS_USAGE,
	  "Lists, shows, creates and deletes the broker's keys and replaces a key's policy; a "
	  "deletion takes --yes. The secret of a new key is read from a file or made at random in "
	  "locked memory, and never printed." BROKER_SUMMARY_END,
	  "Broker administration (the admin API; skrctl broker GROUP --help):" },
	{ "broker", "refsets", cmd_broker_refsets, REFSETS_USAGE,
	  "Lists, adds and deletes a key's reference PCR sets, and approves a queued one (it "
	  "becomes pending: the next boot with those values is released)." BROKER_SUMMARY_END, NULL },
	{ "broker", "reseal-queue", cmd_broker_reseal_queue, RESEAL_QUEUE_USAGE,
	  "Lists the queued (waiting for an operator's approval) and pending (approved, not yet "
	  "committed) reference sets of every key, or of one." BROKER_SUMMARY_END, NULL },
	{ "broker", "audit", cmd_broker_audit, AUDIT_USAGE,
	  "Shows the broker's audit rows, oldest first (--json: the broker's rows as they came, "
	  "newest first); --all every row (the export skrctl audit verify checks); --checkpoints the "
	  "signed checkpoints of the audit chain; --follow polls and prints each new row until "
	  "interrupted (--json: one row per line)." BROKER_SUMMARY_END, NULL },
	{ "broker", "health", cmd_broker_health, HEALTH_USAGE,
	  "Asks the broker's admin listener (with the token) or its release listener (--release "
	  "URL, no token) for /healthz: exit 0 healthy, 1 it answered otherwise, 2 unreachable."
	  BROKER_SUMMARY_END, NULL },
};

static void usage(FILE *to)
{
	size_t i;

	fprintf(to, "usage: skrctl COMMAND ...   (skrctl COMMAND --help for one command)\n");
	for (i = 0; i < ARRAY_SIZE(commands); i++) {
		if (commands[i].section)
			fprintf(to, "\n%s\n", commands[i].section);
		fprintf(to, "  %s\n", commands[i].usage);
	}
	fprintf(to, "\n" BROKER_ADMIN_NOTE);
	fprintf(to, "\nBrokers, CA and TPM of enroll, unenroll, status, reseal and local-copy come from the\n"
		    "client configuration (/etc/skr/client.json, SKR_CONFIG or --config), never from the\n"
		    "LUKS2 header.\n");
	fprintf(to, "\nExit status: 0 valid, 1 verification failed or the broker refused, 2 usage or\n"
		    "unreadable input (or a broker that cannot be reached).\n"
		    "See skrctl(8).\n");
}

/* Whether the command's own arguments ask for help (before any "--"). */
static bool wants_help(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	return false;
}

static int help(const struct command *c)
{
	printf("usage: %s\n\n%s\n\nSee skrctl(8).\n", c->usage, c->summary);
	return CLI_EXIT_OK;
}

/* The commands of a group, for `skrctl GROUP` or `skrctl GROUP --help`. */
static int group_usage(const char *group, FILE *to, int status)
{
	size_t i;

	fprintf(to, "usage:\n");
	for (i = 0; i < ARRAY_SIZE(commands); i++)
		if (commands[i].group && !strcmp(commands[i].group, group))
			fprintf(to, "  %s\n", commands[i].usage);
	return status;
}

static bool is_group(const char *word)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(commands); i++)
		if (commands[i].group && !strcmp(commands[i].group, word))
			return true;
	return false;
}

static const struct command *find(int argc, char **argv, int *consumed)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(commands); i++) {
		const struct command *c = &commands[i];

		if (!c->group && !strcmp(argv[1], c->name)) {
			*consumed = 1;
			return c;
		}
		if (c->group && argc >= 3 && !strcmp(argv[1], c->group) && !strcmp(argv[2], c->name)) {
			*consumed = 2;
			return c;
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	const struct command *c;
	int consumed = 0;

	/*
	 * release, enroll, reseal and local-copy hold disk secrets and admin
	 * tokens: no core dump of this process, and no ptrace by other users.
	 * Set first, before any secret exists.
	 */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		fprintf(stderr, "skrctl: warning: cannot disable core dumps: secrets may reach a core file\n");

	if (argc < 2) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return CLI_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("skrctl %s\n", SKR_VERSION);
		return CLI_EXIT_OK;
	}
	c = find(argc, argv, &consumed);
	if (c)
		return wants_help(argc - consumed, argv + consumed) ? help(c)
								    : c->fn(argc - consumed, argv + consumed);
	if (is_group(argv[1])) {
		if (argc >= 3 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h")))
			return group_usage(argv[1], stdout, CLI_EXIT_OK);
		if (argc >= 3)
			fprintf(stderr, "skrctl: unknown command '%s %s'\n", argv[1], argv[2]);
		return group_usage(argv[1], stderr, CLI_EXIT_USAGE);
	}
	fprintf(stderr, "skrctl: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return CLI_EXIT_USAGE;
}
