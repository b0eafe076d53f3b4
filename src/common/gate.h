/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The boot gate: PCR 15 records which volumes this boot has opened, and how.
 *
 * Why: the host owns the disk and the serial console.  It can swap in a disk
 * of its own (same ESP, so the same approved PCRs 4/7/9) and open it with its
 * own passphrase; the root it controls then runs in an approved boot state.
 * So a key is released only before any volume is open: the broker requires
 * PCR 15 to be in its initial state (all zero) in the quote of every release,
 * and every open — by skr, by a passphrase, by anything — extends PCR 15
 * before anything from that volume can run.
 *
 * Who extends (each with TPM2_PCR_Event, so every allocated bank moves):
 *   skr-unlock, after a keyslot it tried has opened the volume:
 *     "skr/v1 opened key=KEY_ID method=attestation"   the broker's release
 *     "skr/v1 opened key=KEY_ID method=local"         the local sealed copy
 *     "skr/v1 opened method=passphrase"               a typed passphrase or key file
 *   skr-unlock --handover, from the initramfs just before switch_root
 *   (initramfs-tools init-bottom, dracut pre-pivot), for every active
 *   dm-crypt volume skr-unlock did not record as opened by itself:
 *     "skr/v1 opened-other uuid=DM_UUID"
 *   and then always:
 *     "skr/v1 handover"
 * Each event string is appended, one per line, to the gate log
 * (SKR_GATE_LOG, /run/skr/gate.log; /run survives switch_root).  The log is
 * only a hint for the broker's replay: the quoted PCR 15 is what counts.
 *
 * The broker:
 *   release            PCR 15 quoted and all zero, else boot_gate_closed.
 *   reseal submit      pending only when the quoted PCR 15 is the replay of a
 *                      log that starts with exactly
 *                      ["skr/v1 opened key=THIS_KEY method=attestation",
 *                       "skr/v1 handover"]
 *                      (the key's own volume, opened by an attested release,
 *                      nothing else opened); otherwise queued.
 *   commit, withdraw   the same condition, else boot_gate_unexpected.
 * A local-copy open is not accepted there: the local copy cannot prove which
 * key's volume it opened to the broker.
 *
 * Bare SEV-SNP has no vTPM and so no PCR 15: its gate is the disk tag
 * (luks/disk_tag.h), kept by skr-unlock and the handover in the initramfs.
 */
#ifndef SKR_GATE_H
#define SKR_GATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "common/err.h"
#include "common/pcr_bank.h"

#define SKR_GATE_PCR 15
#define SKR_GATE_EVENT_MAX 256		/* bytes of one event string */
#define SKR_GATE_LOG_MAX 32		/* events a log may hold */
#define SKR_GATE_LOG_DEFAULT "/run/skr/gate.log"

#define SKR_GATE_METHOD_ATTESTATION "attestation"
#define SKR_GATE_METHOD_LOCAL "local"

/* The event strings above; -1 (and err) when key_id or the uuid is not [A-Za-z0-9._-]. */
int skr_gate_event_opened(char *buf, size_t size, const char *key_id, const char *method,
			  struct skr_err *err);
int skr_gate_event_passphrase(char *buf, size_t size);
int skr_gate_event_other(char *buf, size_t size, const char *dm_uuid, struct skr_err *err);
int skr_gate_event_handover(char *buf, size_t size);
/* An event as the log and the broker take it: 1..SKR_GATE_EVENT_MAX printable ASCII bytes. */
bool skr_gate_event_valid(const char *s, size_t len);

/* PCR value after extending zero with SHA-alg(event) for each event, in order. */
int skr_gate_replay(uint16_t alg, const char *const *events, size_t n, uint8_t *out,
		    size_t *out_len, struct skr_err *err);

/* Release: the quoted banks hold PCR 15 of bank alg, all zero; else boot_gate_closed. */
int skr_gate_check_initial(const struct skr_pcr_banks *quoted, uint16_t alg, struct skr_err *err);

/*
 * Reseal, commit, withdraw: events (a JSON array of strings, as the client
 * sends it; may be NULL) replays to the quoted PCR 15 and starts with this
 * key's attested open followed by the handover; else boot_gate_unexpected,
 * the detail saying which condition failed.
 */
int skr_gate_check_attested_open(const struct skr_pcr_banks *quoted, uint16_t alg,
				 const char *key_id, json_object *events, struct skr_err *err);

/* The gate log's path: SKR_GATE_LOG when set and not empty, else SKR_GATE_LOG_DEFAULT. */
const char *skr_gate_log_path(void);

/*
 * The gate log as a JSON array of strings (NULL path: skr_gate_log_path()).
 * A missing log is an empty array; a log that is not a regular file, larger
 * than SKR_GATE_LOG_MAX lines of SKR_GATE_EVENT_MAX bytes, or has a line that
 * is empty, not printable ASCII or not ended by a newline is refused (malformed).
 */
int skr_gate_log_read(const char *path, json_object **events, struct skr_err *err);

#endif
