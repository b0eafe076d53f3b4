/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Enrollment of a LUKS2 device: an skr token, its keyslot and its key at the
 * broker (admin API), created all or nothing; unenrollment; repair of what a
 * killed enrollment left behind.
 *
 * Crash safety — the "skr-pending" token.  Before the broker is called,
 * enroll writes a small LUKS2 token
 *
 *   {"type": "skr-pending", "keyslots": [], "key_id": "skr-…",
 *    "admins": ["https://broker:8444"], "slots": [3, 4]}
 *
 * naming the key id it is about to register and the keyslots it is about to
 * add (chosen before they are added, so no keyslot can exist that no record
 * names).  The commit point is writing the "skr" token; the pending token is
 * removed right after.  The record's "admins" only say that a broker key
 * may exist: the repair sends the admin token to the caller's admin URLs
 * (--admin or the client configuration), never to URLs from the header.
 * Whoever finds a pending token later (the next enroll,
 * `skrctl unenroll --reconcile`) repairs it:
 *   - an "skr" token with the same key_id exists: the enrollment completed,
 *     only the pending token is removed;
 *   - otherwise the planned keyslots are destroyed when they are active, not
 *     assigned to any token and carry enroll's minimal PBKDF (PBKDF2-SHA256,
 *     1000 iterations — a passphrase slot added by hand in between would not),
 *     the broker key is deleted (404 counts as done), and the pending token
 *     is removed last, so a crash during the repair is repaired again.
 * A deterministic key id (LUKS UUID + keyslot) was the alternative; it breaks
 * re-enrollment of the same slot and leaks the UUID to the broker, so no.
 * Unenroll uses the same record: it writes a pending token for the token it
 * removes, then repairs it.  Every step is a libcryptsetup header update
 * (two header copies with sequence ids), so the header stays valid at any
 * kill, and the passphrase keyslot is never touched.
 *
 * Verification (unless no_verify): the broker's dry run (skr_check_this_boot)
 * says this boot's PCRs would be released (bare SEV-SNP: this guest's report).  Not a real release: releases only
 * happen in the initramfs, before the boot gate closes (gate.h).
 *
 * Reasons: passphrase_invalid (the passphrase opens no keyslot), luks_error,
 * admin_denied (401/403 from the admin API), key_exists, broker_unreachable,
 * broker_protocol, the dry run's refusal (pcr_mismatch when this boot matches
 * no approved set, or the broker's own reason), tpm_*.
 *
 * Bare SEV-SNP (skr_release_path(tcti), enroll_snp.h): the policy is
 * this guest's launch measurement (tee "snp", no "pcrs", no reference set at
 * the broker, a token with no PCRs); the disk-tag gate on the kernel command
 * line is checked before anything is written (binding_too_weak).
 */
#ifndef SKR_ENROLL_H
#define SKR_ENROLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "common/err.h"
#include "vm/cmdline.h"
#include "vm/release_client.h"

#define SKR_PENDING_TOKEN_TYPE "skr-pending"
#define SKR_ENROLL_SECRET_LEN 32
#define SKR_ENROLL_PBKDF_ITERATIONS 1000
/* Recovery key: 16 random bytes as 32 modhex characters in 4 groups of 8. */
#define SKR_RECOVERY_KEY_BYTES 16
#define SKR_RECOVERY_KEY_LEN (SKR_RECOVERY_KEY_BYTES * 2 + SKR_RECOVERY_KEY_BYTES / 4 - 1)

/*
 * The PCRs a key binds: chosen from this boot's TCG event log (the boot
 * chain decides, binding.h: e.g. 4,7,9,12 for systemd-boot, 4,7,8,9 for
 * shim+GRUB), or given (--pcrs, --policy) and then checked.  An empty set,
 * PCR 15, no log without --pcrs, and a binding that leaves the kernel,
 * initrd, command line or Secure Boot state unmeasured (unless weak_binding)
 * are refused before anything is written (binding_too_weak, usage).
 */
#define SKR_ENROLL_DEFAULT_EVENTLOG "/sys/kernel/security/tpm0/binary_bios_measurements"

struct skr_admin {
	const char *urls[SKR_RELEASE_MAX_BROKERS];	/* admin API base URLs */
	size_t n_urls;
	const char *ca_file;
	const char *token;		/* bearer token text; NULL: no admin access */
	unsigned timeout_ms;		/* per call; 0 = 10000 */
	/*
	 * The keys this machine enrolled: a directory holding an empty file per
	 * key id (skrctl: keys/ beside the client configuration), written before
	 * the key is created at the broker and removed once it is deleted there.
	 * A broker key is deleted (unenroll, the repair of a pending record) only
	 * when it is listed here: the header, which names the key id, is the
	 * attacker's, and must not choose which key the admin token deletes.
	 * NULL: no broker key is ever deleted.
	 */
	const char *registry;
	unsigned *kept;			/* counts keys left at the broker for want of a record (may be NULL) */
};

struct skr_enroll_opts {
	const char *device;
	const char *brokers[SKR_RELEASE_MAX_BROKERS];	/* release API (the client configuration's) */
	size_t n_brokers;
	struct skr_admin admin;
	uint32_t pcr_mask;		/* the PCRs given (when pcrs_given; 0 = an empty list) */
	bool pcrs_given;		/* false: the policy's, else the chain's default */
	bool weak_binding;		/* accept a binding that leaves a part unmeasured */
	const char *eventlog;		/* NULL: SKR_ENROLL_DEFAULT_EVENTLOG when it exists */
	const char *policy_json;	/* NULL: from this machine's evidence */
	const char *key_id;		/* NULL: "skr-<16 hex>" */
	const char *tcti;		/* NULL: default; never recorded in the token */
	unsigned timeout;		/* seconds, 0 = SKR_TOKEN_DEFAULT_TIMEOUT */
	bool recovery_key, no_verify;
	const void *passphrase;		/* an existing passphrase */
	size_t passphrase_len;
};

struct skr_enroll_result {
	int token, keyslot, recovery_slot;	/* -1: none */
	char key_id[129];
	char *recovery;		/* skr_secret_alloc'ed, NUL-terminated; NULL without */
	unsigned repaired;	/* pending records repaired first */
	uint32_t pcr_mask;	/* the PCRs bound */
	char chain[16];		/* the boot chain the binding was chosen or checked for */
	char warning[512];	/* the parts a --weak-binding leaves unmeasured; "" */
	char note[256];		/* what the event log does not show; "" */
	bool snp;		/* bare SEV-SNP (tee "snp", enroll_snp.h): no PCRs, the disk tag gate */
	char disk_tag[SKR_DISK_TAG_HEX + 1];	/* snp: this volume's tag (luks/disk_tag.h); "" */
};

int skr_enroll(const struct skr_enroll_opts *o, struct skr_enroll_result *r, struct skr_err *err);
void skr_enroll_result_free(struct skr_enroll_result *r);

/*
 * Repairs every skr-pending token of the device (see above); *repaired counts
 * them.  Needs admin->token when one of them still owns a broker key.
 */
int skr_enroll_reconcile(const char *device, const struct skr_admin *admin, unsigned *repaired,
			 struct skr_err *err);

/*
 * Removes the skr token `token` (-1: every skr token), its keyslots and, when
 * admin->token is set, its broker key at admin->urls (never URLs from the header).
 * Refuses to destroy the device's last keyslot.
 */
int skr_unenroll(const char *device, int token, const struct skr_admin *admin, unsigned *removed,
		 struct skr_err *err);

struct crypt_device;
/*
 * Writes an skr-pending record (see above) that names no broker: for a
 * keyslot added or removed outside enroll (skrctl local-copy), under a
 * record id no skr token has ("local-copy:KEY_ID": ':' is not allowed in a
 * key id).  A repair then destroys the slots that are active, carry the
 * minimal PBKDF and that no token lists, and drops the record.  Returns the
 * record's token number.
 */
int skr_enroll_pending_write(struct crypt_device *cd, const char *record_id, const int *slots,
			     size_t n_slots, struct skr_err *err);

/*
 * Would this boot be released?  The broker's dry run, POST /v1/refvals/check
 * (src/broker/refvals.c), with this boot's sha256 PCRs (all 24, read from the
 * TPM) as the "pcrs" it checks: the same attested evidence as a release, but
 * nothing is released, so it works on the running system.  0 when the broker
 * answers accepted and this_boot_matches; the broker's own refusal (e.g. an
 * SNP policy reason) as a release would give it; pcr_mismatch with the
 * broker's detail ("PCR 7: seen ...") when the PCRs match no approved set.
 * *answer (NULL: not wanted) gets the broker's answer; the caller puts it.
 */
int skr_check_this_boot(const struct skr_release_opts *ro, json_object **answer,
			struct skr_err *err);

/*
 * Test builds (-DSKR_TEST_FAULTS) only: SKR_FAULT=STEP kills the process
 * (exit 137) at STEP, SKR_FAULT=STEP:fail makes STEP fail with io,
 * SKR_FAULT=STEP:hold prints "skr-fault: reached STEP" (stderr, /dev/kmsg)
 * and blocks forever (the e2e power cut).  A no-op returning 0 otherwise.
 * Used by enroll, local-copy and reseal.
 */
int skr_enroll_fault(const char *step, struct skr_err *err);

/* The recovery key's text for 16 bytes (out: SKR_RECOVERY_KEY_LEN + 1). */
void skr_recovery_key_format(const uint8_t in[SKR_RECOVERY_KEY_BYTES],
			     char out[SKR_RECOVERY_KEY_LEN + 1]);

#endif
