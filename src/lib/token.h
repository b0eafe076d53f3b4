/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The "skr" LUKS2 token (schema version 1), shared by skrctl enroll, skr-unlock
 * and libcryptsetup-token-skr.so:
 *
 *   {"type": "skr", "keyslots": ["1"], "skr_version": 1,
 *    "key_id": "host-root-7f3a", "brokers": ["https://kbs.example:8443", ...],
 *    "ca": "-----BEGIN CERTIFICATE-----\n...",      (PEM the broker must chain to)
 *    "pcrs": [0, 7, 11], "timeout": 30,               (seconds for the whole release)
 *    "tcti": "device:/dev/tpmrm0",                    (optional)
 *    "vcek": "/run/skr/vcek.der",                     (optional: VCEK file to send)
 *    "local": {"signer": b64 SPKI DER, "nv_index": N,  (optional: the local offline
 *              "keyslot": N,                           copy, local_seal.h: its own
 *              "public": b64, "private": b64,          keyslot (0..31, also listed in
 *              "policies": [b64, ...]}}                "keyslots"), sealed blobs and
 *                                                      signed PCR policies)
 *
 * Validation names the offending field; unknown fields are refused so that a
 * token from a newer skr is not half-understood.
 */
#ifndef SKR_TOKEN_H
#define SKR_TOKEN_H

#include <stdint.h>

#include <json-c/json.h>

#include "err.h"
#include "local_seal.h"
#include "release_client.h"

#define SKR_TOKEN_TYPE "skr"
#define SKR_TOKEN_VERSION 1
#define SKR_TOKEN_MAX_KEYSLOTS 8
#define SKR_TOKEN_DEFAULT_TIMEOUT 30
#define SKR_TOKEN_MAX_LOCAL_POLICIES 4	/* the current boot's and a few predicted ones */

/* The local offline copy (skrctl local-copy): the secret sealed in this vTPM. */
struct skr_token_local {
	struct skr_buf signer;		/* the reseal key's public part, SPKI DER */
	uint32_t nv_index;		/* the revocation counter */
	int keyslot;			/* its own keyslot; -1: absent (a copy made before the
					   boot gate, which no unlock path uses) */
	struct skr_buf public_blob, private_blob;	/* marshalled TPM2B_PUBLIC / TPM2B_PRIVATE */
	struct skr_local_policy policies[SKR_TOKEN_MAX_LOCAL_POLICIES];
	size_t n_policies;
};

struct skr_token {
	int keyslots[SKR_TOKEN_MAX_KEYSLOTS];
	size_t n_keyslots;
	char key_id[129];
	char *brokers[SKR_RELEASE_MAX_BROKERS];
	size_t n_brokers;
	char *ca_pem;
	uint32_t pcr_mask;
	unsigned timeout;		/* seconds */
	char *tcti;			/* NULL: default */
	char *vcek;			/* NULL: none */
	struct skr_token_local *local;	/* NULL: no local copy */
};

/* Frees a local member (and its buffers); NULL is fine. */
void skr_token_local_free(struct skr_token_local *l);

/* Parses and validates token JSON text (as libcryptsetup hands it over). */
int skr_token_parse(const char *json, struct skr_token *out, struct skr_err *err);
void skr_token_free(struct skr_token *t);
/* The token's JSON text (caller frees). */
char *skr_token_to_json(const struct skr_token *t);

/* Release options for this token; timeout_override (seconds) wins when non-zero. */
void skr_token_release_opts(const struct skr_token *t, unsigned timeout_override,
			    struct skr_release_opts *o);

#endif
