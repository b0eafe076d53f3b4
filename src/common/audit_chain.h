/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The audit log's hash chain and checkpoints, as the broker writes them and
 * `skrctl audit verify` checks them (one definition for both).
 *
 * Row hash: SHA-256 over the row's canonical encoding (skr_audit_row_encode):
 *   "skr-audit-row/1\0"        16 bytes, the domain tag
 *   seq                        8 bytes, big-endian (the first row is 1)
 *   prev                       32 bytes, the previous row's hash (zeros before row 1)
 *   time                       8 bytes, big-endian two's complement (Unix seconds)
 *   key_id, client, action, verdict, reason, detail, evidence_digest, in that
 *   order, each either 0x00 (NULL) or 0x01, a 4-byte big-endian length and
 *   the bytes (text as stored, the digest as raw bytes).
 * Every field is tagged and length-prefixed, so no two different rows share
 * an encoding (no ambiguity from concatenation).
 *
 * Checkpoint: an ECDSA P-256 / SHA-256 signature (DER) over
 *   "skr-audit-checkpoint/1\0" (23 bytes), seq (8, BE), head hash (32),
 *   time (8, BE)
 * made by the broker with its audit signing key, which lives apart from
 * the database: rewriting the database cannot make a valid checkpoint.
 */
#ifndef SKR_AUDIT_CHAIN_H
#define SKR_AUDIT_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/err.h"

#define SKR_AUDIT_HASH_SIZE 32
#define SKR_AUDIT_CHECKPOINT_MSG_SIZE (23 + 8 + SKR_AUDIT_HASH_SIZE + 8)

/* An audit row's fields as stored; text NULL is SQL NULL, digest NULL likewise. */
struct skr_audit_fields {
	int64_t time;
	const char *text[6];		/* key_id, client, action, verdict, reason, detail */
	size_t text_len[6];		/* their lengths (strlen unless a parser says otherwise) */
	const uint8_t *digest;
	size_t digest_len;
};

/* Names of text[0..5], as the admin API's JSON calls them. */
extern const char *const skr_audit_text_names[6];

/*
 * The canonical encoding of a row into out (capacity cap).  Returns the
 * encoding's length; when that exceeds cap nothing past cap is written
 * (call with out NULL, cap 0 to learn the length).  0 when a field is longer
 * than 4 GiB (cannot be encoded).
 */
size_t skr_audit_row_encode(uint64_t seq, const uint8_t prev[SKR_AUDIT_HASH_SIZE],
			    const struct skr_audit_fields *f, uint8_t *out, size_t cap);

/* The row's hash; -1 with SKR_R_nomem when it cannot be computed. */
int skr_audit_row_hash(uint64_t seq, const uint8_t prev[SKR_AUDIT_HASH_SIZE],
		       const struct skr_audit_fields *f, uint8_t out[SKR_AUDIT_HASH_SIZE],
		       struct skr_err *err);

/* The message a checkpoint signs. */
void skr_audit_checkpoint_msg(uint64_t seq, const uint8_t head[SKR_AUDIT_HASH_SIZE], int64_t time,
			      uint8_t out[SKR_AUDIT_CHECKPOINT_MSG_SIZE]);

/* 1 when sig is key's valid signature of the checkpoint, 0 when not. */
int skr_audit_checkpoint_verify(EVP_PKEY *key, uint64_t seq,
				const uint8_t head[SKR_AUDIT_HASH_SIZE], int64_t time,
				const uint8_t *sig, size_t sig_len);

#endif
