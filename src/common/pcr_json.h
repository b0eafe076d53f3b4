/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PCR values as JSON, the one format skrctl reads and writes them in:
 * {"sha256": {"0": "hex", "7": "hex"}, "sha1": {...}} — bank names as
 * skr_tpm_alg_name gives them, decimal PCR indexes, lower-case hex values.
 */
#ifndef SKR_PCR_JSON_H
#define SKR_PCR_JSON_H

#include <json-c/json.h>

#include "common/err.h"
#include "common/pcr_bank.h"

int skr_pcr_banks_from_json(json_object *obj, struct skr_pcr_banks *out, struct skr_err *err);
/* Every PCR with a value (extended_mask) of every bank. */
json_object *skr_pcr_banks_to_json(const struct skr_pcr_banks *banks);

#endif
