/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PCR values of the next boot, predicted by template substitution.
 *
 * A kernel upgrade changes a few measurements of the boot (the kernel image,
 * the initrd, the command line) and nothing else.  Rather than modelling what
 * each firmware, shim, GRUB or systemd version measures and in which order,
 * the current boot's own event log is the template: it is replayed event by
 * event, every event copied unchanged except those that measure a component
 * being replaced, whose digests become the new component's.  Firmware quirks
 * (extra events, truncated event data, unusual orders) carry over as they are.
 *
 * Which events measure a component is learned from the log itself
 * (predict_kernel.c, predict_args.c, predict_grub.c).  When that cannot be
 * done with certainty for a PCR that is bound, the prediction is refused with
 * the PCR and the events named (predict_ambiguous, predict_unsupported):
 * never guessed.  For a PCR that is not bound the same doubt is only a note.
 * Before anything else, live PCR values (when given) must equal the log's
 * replay for every bound PCR (eventlog_replay_mismatch otherwise): a log that
 * does not explain the current values cannot predict the next ones.
 *
 * What template substitution cannot see: events that the new components add
 * or drop (a newer kernel's EFI stub that starts measuring the initrd, say),
 * and changes to anything else (grub.cfg, boot entries, firmware, Secure Boot
 * variables).
 */
#ifndef SKR_PREDICT_H
#define SKR_PREDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "verify/eventlog.h"

/* One digest per PCR bank of a log: how one component measures. */
struct skr_predict_digests {
	bool present;
	size_t count;
	struct {
		uint16_t alg;
		size_t size;
		uint8_t value[SKR_PCR_MAX_DIGEST];
	} d[SKR_PCR_MAX_BANKS];
};

/* The digest of bank alg, or NULL. */
const uint8_t *skr_predict_digest(const struct skr_predict_digests *d, uint16_t alg);

/* A kernel image as the boot chain measures it. */
struct skr_predict_image {
	bool present;
	bool is_uki;				/* has a .linux section (a UKI) */
	struct skr_predict_digests authenticode; /* firmware and shim: PCR 4 */
	struct skr_predict_digests file;	/* the whole file, as GRUB reads it: PCR 9 */
};

struct skr_predict_request {
	uint32_t pcr_mask;			/* the bound PCRs (bit i = PCR i); not 0 */
	struct skr_predict_image kernel;	/* the new kernel; absent: unchanged */
	/* The running kernel, to find its measurements by digest (optional). */
	struct skr_predict_image current_kernel;
	struct skr_predict_digests initrd;	/* the new initrd file; absent: unchanged */
	/* The new command line as the kernel will see it (/proc/cmdline);
	 * NULL: unchanged.  ASCII only. */
	const char *cmdline;
	/* PCR values read from the TPM now (any banks); NULL: not checked. */
	const struct skr_pcr_banks *live;
};

#define SKR_PREDICT_MAX_SUBST 32
#define SKR_PREDICT_MAX_NOTES 8
#define SKR_PREDICT_NOTE_SIZE 320

/* One event whose digests were replaced. */
struct skr_predict_subst {
	size_t event;				/* index into log->events */
	const char *component;			/* "kernel", "initrd", "cmdline" */
	const char *measured;			/* what the event measures, for people */
	struct skr_predict_digests digests;	/* the new ones */
};

struct skr_predict_result {
	const char *chain;			/* "efi", "shim", "grub", "shim+grub", "uki" */
	bool live_checked;
	/* Both restricted to the bound PCRs: extended_mask == the request's mask. */
	struct skr_pcr_banks current;		/* the replay of the log as it is */
	struct skr_pcr_banks predicted;		/* the replay with the substitutions */
	uint32_t changed_mask;			/* bound PCRs that differ in some bank */
	unsigned kernel_measurements;		/* PCR 4 events that measure the kernel */
	size_t subst_count;
	struct skr_predict_subst subst[SKR_PREDICT_MAX_SUBST];
	size_t note_count;
	char notes[SKR_PREDICT_MAX_NOTES][SKR_PREDICT_NOTE_SIZE];
};

/*
 * Predicts the bound PCRs of the next boot.  Fails with eventlog_replay_mismatch
 * (live values differ from the replay; the detail names the PCR, the bank and
 * both values), predict_ambiguous or predict_unsupported (a bound PCR holds a
 * measurement that cannot be attributed or predicted; the detail names the
 * PCR and the events), usage (an impossible request), or what replaying the
 * log fails with.  res is always initialised.
 */
int skr_predict(const struct skr_eventlog *log, const struct skr_predict_request *req,
		struct skr_predict_result *res, struct skr_err *err);

/* ---- What a log shows measured (for choosing a binding, binding.h) ------- */

struct skr_predict_measured {
	const char *chain;	/* as skr_predict_result.chain */
	uint32_t initrd;	/* PCRs with a measurement of the initrd (bit i = PCR i) */
	uint32_t cmdline;	/* PCRs with a measurement of the kernel command line */
};

/*
 * Which PCRs of this log hold a measurement of the initrd (the EFI stub's
 * "Linux initrd" tag, GRUB's file measurement of its initrd) and of the
 * command line (systemd's UTF-16 load options in PCR 12 or 8, the EFI stub's
 * LoadOptions tag, GRUB's kernel_cmdline), recognised as predict recognises
 * them; the chain as predict names it.
 */
void skr_predict_measured(const struct skr_eventlog *log, struct skr_predict_measured *out);

/* ---- Inputs (predict_inputs.c) ------------------------------------------ */

/*
 * Digests of a kernel image for every bank of the log: Authenticode (PE
 * parse; an unsigned image is hashed as firmware does, without padding) and
 * the plain file hash.  Fails with malformed for a file that is not a PE
 * image, unsupported for a bank Authenticode cannot use.
 */
int skr_predict_image_digests(const struct skr_eventlog *log, const uint8_t *img, size_t len,
			      struct skr_predict_image *out, struct skr_err *err);
/* The hash of a file (read in chunks: initrds can be large) for every bank of the log. */
int skr_predict_file_digests(const struct skr_eventlog *log, const char *path,
			     struct skr_predict_digests *out, struct skr_err *err);
/* The hash of bytes for every bank of the log. */
int skr_predict_bytes_digests(const struct skr_eventlog *log, const void *data, size_t len,
			      struct skr_predict_digests *out, struct skr_err *err);

#endif
