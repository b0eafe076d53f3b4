/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bare SEV-SNP evidence (tee "snp", docs/DESIGN.md section 2.3), VM side:
 * an ephemeral P-256 wrap key in guest memory, REPORT_DATA = the binding of
 * the broker's nonce and that key (verify/snp_bind.h), a report from
 * configfs-tsm (vm/tsm.h; /dev/sev-guest, vm/sev_guest.h, when there is no
 * configfs-tsm) and the certificates of its auxblob
 * (verify/snp_certs.h), laid out as
 *   {"tee": "snp", "report", "certs": {"vcek" | "vlek", "ask", "ark"},
 *    "wrap_key": {"epk"}}.
 * The VCEK or VLEK sent is the one the report says signed it.
 */
#ifndef SKR_VM_SNP_EVIDENCE_H
#define SKR_VM_SNP_EVIDENCE_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "common/err.h"

/*
 * tsm_root as skr_tsm_report's.  *key is the new wrap key (the caller opens
 * the answer with skr_unwrap_with_key, then frees it); *out the evidence.
 */
int skr_snp_evidence(const char *tsm_root, const uint8_t *nonce, size_t nonce_len,
		     EVP_PKEY **key, json_object **out, struct skr_err *err);

/*
 * tee "snp-svsm" (DESIGN 2.3.1): the SVSM's report for nonce through
 * configfs-tsm (skr_tsm_svsm_report, inblob = skr_svsm_nonce(nonce)), added
 * to ev as "report", "certs" (as above) and "manifest" (manifestblob, as
 * the SVSM hashed it).  The vTPM's members are the caller's.
 */
int skr_svsm_evidence_members(const char *tsm_root, const uint8_t *nonce, size_t nonce_len,
			      json_object *ev, struct skr_err *err);

#endif
