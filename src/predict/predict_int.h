/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared between the parts of the predictor (not installed, not for other
 * modules): the state of one prediction and the helpers every attribution
 * step uses to substitute an event, refuse a PCR or leave a note.
 */
#ifndef SKR_PREDICT_INT_H
#define SKR_PREDICT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "predict/predict.h"

/* 0 for an index no PCR has (event logs are untrusted). */
#define PCR_BIT(n) ((n) < SKR_PCR_COUNT ? UINT32_C(1) << (n) : 0)

/* The PCRs that a boot loader, kernel image, initrd or command line extend. */
#define PREDICT_KERNEL_PCRS \
	(PCR_BIT(4) | PCR_BIT(8) | PCR_BIT(9) | PCR_BIT(11) | PCR_BIT(12) | PCR_BIT(13))

struct predict_ctx {
	const struct skr_eventlog *log;
	const struct skr_predict_request *req;
	struct skr_predict_result *res;
	struct skr_err *err;
};

/*
 * Replaces the digests of ev by d for the component.  Fails with
 * predict_ambiguous if the event is already substituted for another
 * component, or when there are too many substitutions.
 */
int predict_substitute(struct predict_ctx *c, const struct skr_eventlog_event *ev,
		       const char *component, const char *measured,
		       const struct skr_predict_digests *d);

/*
 * Something about the PCRs in `pcrs` cannot be predicted.  If one of them is
 * bound, fails with reason and the detail; otherwise records the detail as a
 * note and returns 0, so the caller can go on with the PCRs that are bound.
 */
int predict_refuse(struct predict_ctx *c, uint32_t pcrs, enum skr_reason reason,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

void predict_note(struct predict_ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* H(data) for every bank of the log. */
int predict_hash(struct predict_ctx *c, const void *data, size_t len,
		 struct skr_predict_digests *out);

/* "sha256 HEX" (or the first bank) of d, for messages. */
#define PREDICT_LABEL_SIZE (8 + 2 * SKR_PCR_MAX_DIGEST + 1)
void predict_digest_label(const struct skr_predict_digests *d, char out[static PREDICT_LABEL_SIZE]);

/* The event's digests: every bank that d also has is equal, and there is one. */
bool predict_event_matches(const struct skr_eventlog_event *ev,
			   const struct skr_predict_digests *d);
/* Two events carry the same digest in every bank. */
bool predict_events_equal(const struct skr_eventlog_event *a, const struct skr_eventlog_event *b);

/* ---- The attribution steps ---------------------------------------------- */

/* "efi", "shim", "grub", "shim+grub" or "uki", from the log (predict_kernel.c). */
const char *predict_chain_name(const struct skr_eventlog *log);

int predict_kernel(struct predict_ctx *c);	/* predict_kernel.c */
int predict_initrd(struct predict_ctx *c);	/* predict_args.c */
int predict_cmdline(struct predict_ctx *c);	/* predict_args.c */

/* ---- GRUB's measurements (predict_grub.c) -------------------------------- */

/* GRUB's TPM module left its measurements: PCR 8 "grub_cmd: ..." strings. */
bool grub_in_log(const struct skr_eventlog *log);

/*
 * A GRUB string measurement: a PCR 8 EV_IPL whose data is "PREFIX: text" and
 * a NUL; *text and *len are the text (GRUB's digest is H(text)).
 */
bool grub_string(const struct skr_eventlog_event *ev, const char *prefix, const char **text,
		 size_t *len);

/* A command GRUB ran, split at its first space. */
struct grub_command {
	const struct skr_eventlog_event *ev;
	const char *word;		/* "linux", ... (not NUL-terminated) */
	size_t word_len;
	const char *args;		/* the rest, after one space */
	size_t args_len;
};

/*
 * How many times GRUB ran one of the commands `names` (NULL-terminated);
 * *last is the last of them when there is one.
 */
size_t grub_find_commands(const struct skr_eventlog *log, const char *const *names,
			  struct grub_command *last);

/*
 * The PCR 9 measurement of the file `path` that the command read: the first
 * PCR 9 EV_IPL after it, before GRUB's next command, naming that path.
 */
const struct skr_eventlog_event *grub_file_event(const struct skr_eventlog *log,
						 const struct grub_command *cmd, const char *path,
						 size_t path_len);

#endif
