/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which PCRs a key binds: enroll's default and the check of what the
 * operator gives (--pcrs, --policy).
 *
 * The key is released in the initramfs, after everything below has run.  The
 * host owns the ESP (unencrypted: kernel, initrd, boot entries and their
 * command lines) and can put anything there.  Secure Boot verifies shim,
 * GRUB, systemd-boot and the kernel, but never a separate initrd nor the
 * command line: with PCR 7 alone, a host that edits the ESP boots an initrd
 * of its own in an approved state.  So a binding must record four parts of
 * the boot, and which PCR records which part depends on the boot chain:
 *
 *   part          efi, shim: systemd-boot or    grub, shim+grub       uki (systemd-stub)
 *                 the EFI stub from firmware
 *   kernel        4 (Authenticode, LoadImage)   4, 9 (GRUB's file)    4 (the whole image), 11
 *   initrd        9 (EFI stub "Linux initrd")   9 (GRUB's file)       4, 11 (.initrd section)
 *   command line  12 or 8 (systemd's UTF-16),   8 (kernel_cmdline,    4, 11 (.cmdline section);
 *                 9 (recent EFI stubs' tag)     the linux command)    12 when the loader's
 *                                                                     options override it
 *   Secure Boot   7                             7                     7
 *
 * Where this boot's event log shows the initrd and command-line measurements
 * (skr_predict_measured: the same recognition predict uses) those PCRs are
 * taken; the table is the fallback.  A part is measured by a binding that
 * holds any one of its PCRs.
 *
 * The default binding is PCR 7 and every PCR of the table for the chain,
 * except 11: systemd-pcrphase extends PCR 11 again in the initrd and after
 * it, so the running system's value is never the one the initrd presents
 * (and a UKI's Authenticode digest in PCR 4 already covers its sections).
 * Typical defaults: systemd-boot 4,7,9,12; shim+GRUB 4,7,8,9; UKI 4,7 (and
 * 12 when its command line was overridden).  Predict and reseal keep 4, 8,
 * 9 and 12 working across kernel updates.
 *
 * Without an event log (a swtpm, a system without securityfs) the chain is
 * unknown: there is no default (enroll asks for --pcrs), and a binding must
 * hold 4 (kernel), 9 (initrd; recent EFI stubs' command line) and 7.
 *
 * A binding that leaves a part unmeasured is refused with binding_too_weak
 * unless the operator accepts it explicitly (--weak-binding); then the
 * warning names each part left unmeasured.  PCR 15 is the boot gate
 * (gate.h) and is never bound.
 */
#ifndef SKR_BINDING_H
#define SKR_BINDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "verify/eventlog.h"

enum skr_binding_part {
	SKR_BIND_KERNEL,
	SKR_BIND_INITRD,
	SKR_BIND_CMDLINE,
	SKR_BIND_SECUREBOOT,
	SKR_BIND_PARTS
};

#define SKR_BINDING_NOTE_SIZE 256

struct skr_binding {
	const char *chain;			/* predict's chain name, or "unknown" (no log) */
	uint32_t part[SKR_BIND_PARTS];		/* PCRs any one of which records the part */
	uint32_t recommended;			/* the default binding; 0: none (unknown chain) */
	char note[SKR_BINDING_NOTE_SIZE];	/* what the log does not show; "" */
};

/* The parts' PCRs and the default for this log (NULL: no log, chain unknown). */
void skr_binding_analyse(const struct skr_eventlog *log, struct skr_binding *b);

/*
 * Bits (1 << part) of the parts that mask leaves unmeasured; text (may be
 * NULL) names them with the PCRs that would measure them, e.g.
 * "the initrd (PCR 9), the command line (PCR 8)".
 */
unsigned skr_binding_unmeasured(const struct skr_binding *b, uint32_t mask, char *text,
				size_t size);

/*
 * The binding enroll uses.  given false: the default (binding_too_weak when
 * the chain is unknown: the detail asks for --pcrs).  given true: mask, which
 * must not be empty (binding_too_weak) nor hold PCR 15 (usage).  A binding
 * that leaves a part unmeasured fails with binding_too_weak unless weak_ok;
 * with weak_ok it is used and warning (size bytes, "" otherwise) says what
 * is left unmeasured.
 */
int skr_binding_resolve(const struct skr_binding *b, bool given, uint32_t mask, bool weak_ok,
			uint32_t *out, char *warning, size_t size, struct skr_err *err);

/* "4,7,9" (out: at least 64 bytes). */
void skr_binding_mask_text(uint32_t mask, char *out, size_t size);

#endif
