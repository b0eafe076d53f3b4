/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Short, human words for release failures, shared by skr-unlock and the
 * token plugin: "refused by https://kbs:8443: PCR 7 differs from the approved
 * boot state (pcr_mismatch)".  Never given a secret: only reasons and the
 * broker's detail (which carries none).
 */
#ifndef SKR_UNLOCK_WORDS_H
#define SKR_UNLOCK_WORDS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

/* The words for a reason; NULL when the table has none (print the code). */
const char *skr_reason_words(enum skr_reason r);

/* Whether the failure means "cannot reach the broker or the TPM now". */
bool skr_reason_is_unreachable(enum skr_reason r);
/* Whether it is a broker's refusal (a verification verdict). */
bool skr_reason_is_refusal(enum skr_reason r);

/*
 * One line (no newline) describing the failure of a release from the first of
 * brokers: "refused by URL: WORDS (code)", "no broker answered (URL): ...",
 * "the TPM is not available (tpm_unavailable)", ...
 */
void skr_describe_failure(const struct skr_err *err, const char *broker, char *out, size_t n);

#endif
