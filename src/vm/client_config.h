/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client configuration, /etc/skr/client.json: where the VM's clients
 * (skr-unlock, the token plugin, skrctl) connect, what they trust, and which
 * TPM they talk to.  It lives on the VM's own root and is copied into the
 * initramfs, so the boot measurement (PCR 9) covers it.  Nothing of it comes
 * from a LUKS2 header any more: the header is the attacker's (man skr-token(5)).
 *
 *   {"brokers": ["https://kbs.example:8443", ...],  (1..8 https:// URLs, release API)
 *    "ca": "/etc/skr/broker-ca.pem",               (absolute path to a PEM the brokers chain to)
 *    "tcti": "device:/dev/tpmrm0",                  (optional: device:, swtpm: or mssim: only)
 *    "vcek": "/var/lib/skr/vcek.der",               (optional: VCEK file sent with the evidence)
 *    "admin": ["https://kbs.example:8444", ...],    (optional: admin API, for skrctl)
 *    "ek_chain": "/etc/skr/ek-chain.pem",           (optional: EK intermediates, tee "tpm")
 *    "gate": "disk-tag",                            (optional: "pcr15", the default, or
 *                                                    "disk-tag": bare SEV-SNP's gate always)
 *    "keys": {"KEY_ID": {"brokers": [...], "ca": "..."}}}   (optional per-key overrides)
 *
 * "gate": "disk-tag" makes skr-unlock and the handover keep bare SEV-SNP's
 * disk-tag gate (luks/disk_tag.h) even when this boot does not detect SNP:
 * without it, a boot in which the initramfs failed to see configfs-tsm or
 * /dev/sev-guest would fall back to the PCR 15 rules, which with no TPM
 * report and boot on.  skrctl enroll writes it on bare SEV-SNP.
 *
 * Which file: --config PATH, else the environment's SKR_CONFIG, else
 * SKR_CLIENT_CONFIG_DEFAULT (skr_client_config_path).
 *
 * Trust: the file and the CA and EK chain files it names must be regular files owned by
 * root (or the caller's uid) and writable by nobody else (no group or world
 * write bit); otherwise, and for a tcti that would load anything but a
 * device or simulator driver (cmd:, a library path, ...), the load fails
 * with untrusted_config.  A missing file fails with io (enroll creates it).
 * Any other error (unknown field, wrong type, not an https:// URL, ...) is
 * malformed, the detail naming the field.  Loads never read the VCEK file.
 */
#ifndef SKR_CLIENT_CONFIG_H
#define SKR_CLIENT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "common/util.h"
#include "vm/release_client.h"

#define SKR_CLIENT_CONFIG_DEFAULT "/etc/skr/client.json"
#define SKR_CLIENT_CA_DEFAULT "/etc/skr/broker-ca.pem"
#define SKR_CLIENT_CONFIG_MAX_KEYS 32
#define SKR_CLIENT_CONFIG_MAX_SIZE (64u << 10)
/* The EK chain: the PEM file, and its certificates as DER (the broker's SKR_AKCERT_MAX_CHAIN). */
#define SKR_CLIENT_EK_CHAIN_FILE_MAX (256u << 10)
#define SKR_CLIENT_EK_CHAIN_MAX (64u << 10)

/* Brokers and the CA they chain to: the defaults, or one key's override. */
struct skr_client_endpoints {
	char *brokers[SKR_RELEASE_MAX_BROKERS];
	size_t n_brokers;
	char *ca_file;
};

struct skr_client_key {
	char key_id[129];
	struct skr_client_endpoints ep;
};

struct skr_client_config {
	char path[4096];			/* the file it came from */
	struct skr_client_endpoints ep;		/* "brokers", "ca" */
	char *tcti;				/* NULL: the kernel resource manager */
	char *vcek;				/* NULL: none sent */
	char *ek_chain;				/* NULL: the TPM's chain NV indices, if any */
	bool disk_tag_gate;			/* "gate": "disk-tag" */
	char *admin[SKR_RELEASE_MAX_BROKERS];
	size_t n_admin;
	struct skr_client_key keys[SKR_CLIENT_CONFIG_MAX_KEYS];
	size_t n_keys;
};

/* The path to load: cli_path when set, else $SKR_CONFIG when set, else the default. */
const char *skr_client_config_path(const char *cli_path);

/* Loads and checks the file (see above); *c is zeroed first and freed on failure. */
int skr_client_config_load(const char *path, struct skr_client_config *c, struct skr_err *err);
void skr_client_config_free(struct skr_client_config *c);

/* The endpoints for key_id: its "keys" entry when there is one, else the defaults. */
const struct skr_client_endpoints *skr_client_config_for_key(const struct skr_client_config *c,
							     const char *key_id);

/* 0 when tcti names a device or simulator driver (device:, swtpm:, mssim:); else untrusted_config. */
int skr_client_tcti_check(const char *tcti, const char *what, struct skr_err *err);

/*
 * The file at path is trusted as configuration: a regular file owned by root
 * or the caller's uid, not group/world-writable; else untrusted_config
 * (io when it cannot be opened).  fd >= 0: checks that open file instead.
 */
int skr_client_file_trusted(const char *path, int fd, struct skr_err *err);

/*
 * The EK chain file at path (trusted as above, at most
 * SKR_CLIENT_EK_CHAIN_FILE_MAX bytes) as the concatenated DER of its PEM
 * certificates (at most SKR_CLIENT_EK_CHAIN_MAX bytes); a file without a
 * certificate, or with anything but certificates, fails with malformed.
 */
int skr_client_ek_chain_read(const char *path, struct skr_buf *der, struct skr_err *err);

/*
 * Writes a new configuration (brokers, ca, optional tcti, admin URLs and gate),
 * mode 0644, through a temporary file; never replaces an existing one.
 */
int skr_client_config_write(const char *path, const char *const *brokers, size_t n_brokers,
			    const char *ca_file, const char *tcti, const char *const *admin,
			    size_t n_admin, bool disk_tag_gate, struct skr_err *err);

#endif
