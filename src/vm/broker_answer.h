/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client's reading of a broker's answers: challenge, release, denial and
 * the reseal calls' answers.  A broker the VM did not pin, or a network in
 * between, chooses every byte of them, so every field is checked for type,
 * size and range before anything uses it, and any deviation fails with
 * broker_protocol and a detail naming the field (never a crash, never a
 * partial use).  Text the broker sends (error, reason, detail, note) is
 * bounded and sanitised (skr_sanitize_text) before it reaches an skr_err or
 * an answer the caller prints: no escape sequence gets through.
 *
 * Members the protocol does not define are ignored (a newer broker may add
 * some); the ones it defines must be exactly as specified.  Pure functions:
 * no network, no TPM, which is what the fuzz target (fuzz_broker_answer) needs.
 */
#ifndef SKR_BROKER_ANSWER_H
#define SKR_BROKER_ANSWER_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "common/err.h"
#include "verify/wrap.h"

/* The largest answer body the client reads (the transport stops there). */
#define SKR_ANSWER_MAX_BODY (64u * 1024)
/* error/reason: short names; detail/note: the broker's are < 512 bytes. */
#define SKR_ANSWER_MAX_NAME 64
#define SKR_ANSWER_MAX_TEXT 1024
#define SKR_ANSWER_NONCE_SIZE 32	/* the broker's nonces (nonce.h) */

/* POST /v1/challenge's 200 answer {"nonce", "expires", "pcrs": {"bank", "indexes"}}. */
struct skr_challenge {
	uint8_t nonce[SKR_ANSWER_NONCE_SIZE];
	int64_t expires;		/* Unix seconds, > 0 */
	uint16_t bank;			/* TPM_ALG_ID of a known hash */
	uint32_t pcr_mask;		/* the indexes, 0..23, no repeats */
};

/*
 * The body as one JSON object: at most SKR_ANSWER_MAX_BODY bytes, nothing
 * but whitespace after it, nesting bounded.  *out is owned by the caller.
 */
int skr_answer_parse_body(const char *broker, const uint8_t *body, size_t len, json_object **out,
			  struct skr_err *err);

int skr_answer_challenge(const char *broker, json_object *resp, struct skr_challenge *out,
			 struct skr_err *err);

/*
 * tee "tpm": the challenge answer's "credential": {"blob", "secret"}, the
 * marshalled TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET of the broker's
 * MakeCredential (DESIGN.md 2.2), base64 of 1..SKR_ANSWER_MAX_CRED_BLOB and
 * 1..SKR_ANSWER_MAX_CRED_SECRET bytes.  Their structure is the TPM's to
 * check (skr_tpm_activate unmarshals them exactly).
 */
#define SKR_ANSWER_MAX_CRED_BLOB 256	/* TPM2B_ID_OBJECT: 2 + 132 */
#define SKR_ANSWER_MAX_CRED_SECRET 1024	/* TPM2B_ENCRYPTED_SECRET: 2 + 512 */
struct skr_credential {
	uint8_t blob[SKR_ANSWER_MAX_CRED_BLOB];
	size_t blob_len;
	uint8_t secret[SKR_ANSWER_MAX_CRED_SECRET];
	size_t secret_len;
};
int skr_answer_credential(const char *broker, json_object *resp, struct skr_credential *out,
			  struct skr_err *err);

/*
 * POST /v1/release's 200 answer {"wrapped": {"alg", "epk", "iv", "ciphertext",
 * "tag"}}: alg exactly SKR_WRAP_ALG, epk base64 of 65 bytes (an uncompressed
 * point), iv 12, tag 16, ciphertext 1..SKR_WRAP_MAX_SECRET bytes.
 */
int skr_answer_wrapped(const char *broker, json_object *resp, struct skr_wrapped *out,
		       struct skr_err *err);

/*
 * Any answer other than 200; always returns -1.  5xx: broker_unreachable
 * (worth another try).  403 {"error", "reason", "detail"}: the reason, when
 * it is a known verification reason, with the broker's (sanitised) detail;
 * anything else, a 403 with an unknown reason included: broker_protocol.
 * resp may be NULL (the body was not JSON).
 */
int skr_answer_failure(const char *broker, const char *path, long status, json_object *resp,
		       struct skr_err *err);

/*
 * A reseal call's 200 answer (path "/v1/refvals", ".../check", ".../commit",
 * ".../withdraw"): the members skrctl reads have their types and ranges
 * (ids > 0, counts >= 0, states from their sets), and its text members
 * (note, detail) are replaced in resp by their sanitised form.
 */
int skr_answer_refvals(const char *broker, const char *path, json_object *resp,
		       struct skr_err *err);

#endif
