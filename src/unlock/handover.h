/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The initramfs's last word on PCR 15 (the boot gate, src/common/gate.h):
 * `skr-unlock --handover`, run just before switch_root (initramfs-tools
 * init-bottom, dracut pre-pivot).
 *
 * skr-unlock records each volume it opened, and how, in RUN_DIR/NAME.unlocked
 * (RUN_DIR: SKR_RUN_DIR, default /run/skr), after it has measured that open:
 *   method=attestation|local|passphrase
 *   dm_uuid=CRYPT-LUKS2-<uuid without dashes>-NAME
 *   key_id=KEY              (attestation and local only)
 * The handover reads every active device-mapper device under SYSFS/block
 * (SYSFS: SKR_SYSFS_ROOT, default /sys; tests point it at a tree of their
 * own), and for each dm-crypt one (dm/uuid starting with "CRYPT-") whose
 * record is missing or names another dm uuid, it extends
 * "skr/v1 opened-other uuid=DM_UUID" (characters outside [A-Za-z0-9._-]
 * replaced by '_'); then always "skr/v1 handover".  An unreadable dm uuid
 * counts as "CRYPT-unreadable-dm-N", an unreadable SYSFS/block as one
 * "CRYPT-unlisted" volume: what cannot be named is not assumed closed.
 *
 * Once per boot: RUN_DIR/handover.done is written after the last extend; a
 * second run finds it, says so and extends nothing (exit 0).  The
 * marker is not written when an extend failed, so a later run can still
 * close the gate.
 *
 * Bare SEV-SNP (disk_tag_gate: the caller found the release's path bare SNP,
 * or the configuration says "gate": "disk-tag"; no vTPM to extend;
 * luks/disk_tag.h):
 * nothing is extended.  Every active dm-crypt volume must have a record
 * with the line "gate=snp", which skr-unlock writes only for an open it
 * showed to be the enrolled volume (an attested release, or a passphrase
 * whose volume key's tag the command line lists).  Any other volume, or
 * one that cannot be named, stops the boot: SKR_HANDOVER_REFUSED, and the
 * initramfs script powers the machine off (no shell: a shell could ask for
 * a report).
 *
 * Exit: 0 done (or already done), 1 an extend failed (TPM unreachable...):
 * the caller reports it and boots on; releases then depend on PCR 15 having
 * moved by other means (see README, boot gate); 3 (SKR_HANDOVER_REFUSED)
 * bare SNP and a volume not shown to be enrolled: the caller must not boot.
 */
#ifndef SKR_UNLOCK_HANDOVER_H
#define SKR_UNLOCK_HANDOVER_H

#include <stdbool.h>
#include <stddef.h>

#define SKR_RUN_DIR_DEFAULT "/run/skr"
#define SKR_HANDOVER_MARKER "handover.done"
#define SKR_HANDOVER_REFUSED 3
#define SKR_UNLOCK_GATE_SNP "snp"	/* the record's "gate=" for a shown-enrolled open */

/* SKR_RUN_DIR or the default. */
const char *skr_run_dir(void);

/* The dm uuid libcryptsetup gives a LUKS2 volume opened as name. */
int skr_dm_uuid(char *buf, size_t size, const char *luks_uuid, const char *name);

/*
 * The handover; tcti NULL: the default TPM.  disk_tag_gate: keep bare
 * SEV-SNP's rules (the caller decides: skr_release_path, or the client
 * configuration's "gate": "disk-tag").  log: the message sink (stderr + kmsg).
 */
int skr_handover(const char *tcti, bool disk_tag_gate, void (*log)(const char *line));

#endif
