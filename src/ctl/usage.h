/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every skrctl command's usage line, in one place: the command prints it on
 * a usage error (cli_usage) and skrctl prints it for `skrctl CMD --help`, so
 * the two never drift apart.
 */
#ifndef SKR_CTL_USAGE_H
#define SKR_CTL_USAGE_H

#define CLI_DEFAULT_EVENTLOG "/sys/kernel/security/tpm0/binary_bios_measurements"
#define CLI_DEFAULT_PCRS "7"

#define ENROLL_USAGE                                                                           \
	"skrctl enroll DEVICE [--broker URL]... [--admin URL]... [--ca PEM] "                     \
	"--admin-token FILE [--pcrs LIST] [--policy FILE] [--eventlog LOG] [--weak-binding] "     \
	"[--key-id ID] [--recovery-key] [--key-file F] [--tcti T] [--timeout S] [--no-verify] "   \
	"[--config PATH] [--json]   (--pcrs: default from LOG's boot chain, e.g. 4,7,9,12 "       \
	"systemd-boot, 4,7,8,9 shim+GRUB; LOG: " CLI_DEFAULT_EVENTLOG " when it exists; "             \
	"--weak-binding accepts PCRs that leave the kernel, initrd, command line or Secure Boot " \
	"state unmeasured; --broker/--ca: the client configuration's when omitted; without a "   \
	"configuration, enroll writes one with them; bare SEV-SNP (tee snp, no TPM): no --pcrs, "  \
	"the key binds this VM's launch measurement, and the measured kernel command line must "  \
	"list the volume's rd.skr.disk= tag and panic=)"

#define UNENROLL_USAGE                                                                         \
	"skrctl unenroll DEVICE [--token N] [--admin-token FILE [--ca PEM] [--admin URL]...] "    \
	"[--reconcile] [--config PATH] [--json]"

#define STATUS_USAGE                                                                 \
	"skrctl status DEVICE [--tcti T] [--timeout S] [--eventlog LOG] [--config PATH] [--json]" \
	"   (LOG: the TCG event log, by default " CLI_DEFAULT_EVENTLOG " when readable; bare "  \
	"SEV-SNP: no PCRs, the command line's rd.skr.disk= tags and panic=)"

#define EVIDENCE_USAGE                                                              \
	"skrctl evidence verify EVIDENCE.json [--nonce HEX] [--vcek CERT] [--chain PEM] " \
	"[--trust-anchor PEM]... [--product milan|genoa|turin] [--allow-debug] [--json]"

#define HCL_USAGE "skrctl hcl show HCL_REPORT [--json]   (binary, base64 or hex)"

#define LOCAL_USAGE "skrctl local-copy DEVICE [--key-file F] [--disable] [--tcti T] [--config PATH] [--json]"

#define PE_HASH_USAGE "skrctl pe hash IMAGE [--alg sha1|sha256|sha384|sha512] [--pad-unsigned] [--json]"

#define PREDICT_USAGE                                                                         \
	"skrctl predict --kernel IMG [--eventlog LOG] [--current-kernel IMG] [--initrd FILE] "    \
	"[--cmdline S] [--pcrs 4,7,9] [--pcrs-live FILE.json | --tcti T] [--json]   (without "   \
	"--eventlog: " CLI_DEFAULT_EVENTLOG " and the live PCRs from the TPM; --pcrs defaults to " \
	CLI_DEFAULT_PCRS ", as enroll)"

#define AUDIT_VERIFY_USAGE                                                                 \
	"skrctl audit verify --log FILE --checkpoints FILE --key PUB.pem [--json]   (FILE: "  \
	"`skrctl broker audit --json --all` and `skrctl broker audit --checkpoints --json`; " \
	"PUB.pem: the audit signing key's public half)"

#define QUOTE_USAGE                                                                   \
	"skrctl quote verify --message F --signature F --ak PEM [--nonce HEX] "       \
	"[--pcrs FILE] [--json]   (message: TPMS_ATTEST; signature: TPMT_SIGNATURE or " \
	"raw RSASSA bytes; binary or hex)"

#define RELEASE_USAGE                                                                    \
	"skrctl release --key-id ID --broker URL [--broker URL]... --ca PEM [--tcti T] "  \
	"[--vcek CERT] [--ek-chain PEM] [--pcrs 0,4,7] [--timeout S] --out FILE [--json]   (FILE is written 0600; '-' is " \
	"not allowed: the secret never goes to a terminal)"

#define RESEAL_USAGE                                                                          \
	"skrctl reseal [DEVICE...] [--all] [--kernel-version V | --kernel IMG] [--initrd FILE] " \
	"[--cmdline S] [--eventlog LOG] [--check] [--tcti T] [--timeout S] [--config PATH] [--json]\n" \
	"       skrctl reseal --commit [DEVICE... | --all] [--tcti T] [--config PATH] [--json]\n" \
	"       skrctl reseal --withdraw V [DEVICE... | --all] [--tcti T] [--config PATH] [--json]"

#define SNP_USAGE                                                                     \
	"skrctl snp verify REPORT --vcek CERT [--chain PEM] [--trust-anchor PEM]... " \
	"[--product milan|genoa|turin] [--allow-debug] [--json]"

#define AKCERT_USAGE                                                                     \
	"skrctl akcert verify CERT [--chain PEM] [--roots PEM] [--ak PEM | --ak-public FILE] " \
	"[--at SECONDS] [--json]   (CERT: DER or PEM, as read from NV 0x01C101D0; FILE: the "  \
	"AK's TPM2B_PUBLIC; --at: the validity time, seconds since 1970)"

#define EVENTLOG_REPLAY_USAGE "skrctl eventlog replay LOG [--json]"

#define EVENTLOG_SHOW_USAGE "skrctl eventlog show LOG [--json]"

/* skrctl broker: the admin API's options, shared by every broker command. */
#define BROKER_ADMIN_OPTS                                                                  \
	"[--url URL] [--ca PEM] [--token-file F] [--config PATH] [--timeout S] [--json]"
#define BROKER_ADMIN_NOTE                                                                  \
	"The admin URL, CA and token file of skrctl broker come from the options, else from the\n" \
	"admin configuration (--config PATH, $SKR_ADMIN_CONFIG or /etc/skr/admin.json:\n"         \
	"{\"url\", \"ca\", \"token_file\"}); the token file is 0600 and never an argument.\n"

#define KEYS_USAGE                                                                          \
	"skrctl broker keys list [OPTIONS]\n"                                                  \
	"       skrctl broker keys show ID [OPTIONS]\n"                                        \
	"       skrctl broker keys create ID --secret-file F | --random N --policy-file P "    \
	"[OPTIONS]\n"                                                                          \
	"       skrctl broker keys policy ID --policy-file P [OPTIONS]\n"                      \
	"       skrctl broker keys delete ID --yes [OPTIONS]\n"                                \
	"   OPTIONS: " BROKER_ADMIN_OPTS "; F: the secret's bytes exactly ('-': stdin), "      \
	"at most 128; N: 16 to 128 random bytes; P: a policy, skr-policy(5)"

#define REFSETS_USAGE                                                                       \
	"skrctl broker refsets list ID [OPTIONS]\n"                                            \
	"       skrctl broker refsets add ID --label L --pcrs-file F [--state current|pending] " \
	"[OPTIONS]\n"                                                                          \
	"       skrctl broker refsets approve ID N [OPTIONS]\n"                                \
	"       skrctl broker refsets delete ID N [OPTIONS]\n"                                 \
	"   OPTIONS: " BROKER_ADMIN_OPTS "; F: {\"sha256\": {\"7\": \"hex\", ...}}; approve: "  \
	"a queued set (a reseal the policy did not allow) becomes pending"

#define RESEAL_QUEUE_USAGE                                                                  \
	"skrctl broker reseal-queue [--key ID] " BROKER_ADMIN_OPTS                             \
	"   (queued and pending reference sets, of every key or of one)"

#define AUDIT_USAGE                                                                         \
	"skrctl broker audit [--key ID] [--limit N | --all] [--follow [--interval S]] "       \
	BROKER_ADMIN_OPTS "\n       skrctl broker audit --checkpoints " BROKER_ADMIN_OPTS      \
	"   (--limit: 1 to 10000, default 50; --all: every row, what skrctl audit verify "     \
	"checks; --follow prints new rows until interrupted; --checkpoints: the signed "       \
	"checkpoints of the audit chain)"

#define HEALTH_USAGE                                                                        \
	"skrctl broker health [--release URL] " BROKER_ADMIN_OPTS                              \
	"   (GET /healthz of the admin API, or of the release API at URL; exit 0 healthy, "   \
	"1 not, 2 unreachable)"

#endif
