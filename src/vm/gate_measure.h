/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The TPM half of the boot gate (common/gate.h has the events, the replay
 * and the gate log): apart, so that what only verifies gate logs (the
 * broker, predict) neither links nor includes the TPM code.
 */
#ifndef SKR_GATE_MEASURE_H
#define SKR_GATE_MEASURE_H

#include "common/err.h"

struct skr_tpm;			/* vm/tpm.h */

/*
 * TPM2_PCR_Event(PCR 15, event) on every allocated bank, then the event is
 * appended to the gate log (SKR_GATE_LOG or the default; its directory is
 * created 0755).  Either failing is an error: the caller must not go on as
 * if the open were recorded.
 */
int skr_gate_measure(struct skr_tpm *t, const char *event, struct skr_err *err);

#endif
