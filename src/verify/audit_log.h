/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Verification of an exported audit log against signed checkpoints
 * (skrctl audit verify; the chain and the checkpoints: common/audit_chain.h).
 *
 * Inputs, as the broker's admin API gives them:
 *   log          a JSON array of rows (GET /v1/audit?limit=0, or
 *                `skrctl broker audit --json --all`), newest first as the
 *                broker sends them or oldest first: the order of the first
 *                and last rows says which.  Every row from seq 1 on.
 *   checkpoints  a JSON array of {"seq","time","hash","signature"}
 *                (GET /v1/audit/checkpoints).
 *   key          the audit signing key's public half.
 *
 * Checked, and the first failure named by seq:
 *   every checkpoint's signature (audit_checkpoint_invalid: forged or
 *   changed); the rows run seq 1, 2, 3, ... (a gap: the row removed; a seq
 *   met later: rows reordered; audit_chain_broken); each row's hash is the
 *   hash of its contents (the row changed) and its prev the hash of the row
 *   before (a row before it changed or removed and the rest rewritten); each
 *   checkpoint's hash is its row's (rows up to it rewritten), and no
 *   checkpoint names a seq past the log's end (the tail truncated).  A log
 *   with no checkpoint anchors nothing: audit_checkpoint_invalid.  Rows after
 *   the last checkpoint are consistent but not yet anchored (reported).
 * A log or checkpoints that are not JSON arrays of objects are
 * SKR_R_malformed (unreadable input, not a verdict).
 */
#ifndef SKR_AUDIT_LOG_H
#define SKR_AUDIT_LOG_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/err.h"

struct skr_audit_report {
	size_t rows, checkpoints;
	uint64_t last_seq;	/* the log's last row (0: empty) */
	uint64_t anchored_seq;	/* the highest checkpoint that matched */
	uint64_t bad_seq;	/* on failure, the seq named (0: none) */
};

/* 0 valid; -1 with err (and report->bad_seq) otherwise. */
int skr_audit_log_verify(const char *log, size_t log_len, const char *checkpoints,
			 size_t checkpoints_len, EVP_PKEY *key, struct skr_audit_report *report,
			 struct skr_err *err);

#endif
