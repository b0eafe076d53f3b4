/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The "skr" LUKS2 token (schema version 2), shared by skrctl enroll, skr-unlock
 * and libcryptsetup-token-skr.so:
 *
 *   {"type": "skr", "keyslots": ["1"], "skr_version": 2,
 *    "key_id": "host-root-7f3a",
 *    "pcrs": [4, 7, 9], "timeout": 30,                (a hint; seconds for the whole release)
 *    "local": {"signer": b64 SPKI DER, "nv_index": N,  (optional: the local offline
 *              "keyslot": N,                           copy, local_seal.h: its own
 *              "public": b64, "private": b64,          keyslot (0..31, also listed in
 *              "policies": [b64, ...]}}                "keyslots"), sealed blobs and
 *                                                      signed PCR policies)
 *
 * The header is the attacker's: nothing in it chooses code, files, endpoints
 * or trust.  The brokers, their CA, the TCTI and the VCEK file come from the
 * client configuration (client_config.h); skr_token_release_opts takes them
 * from there and never from the token.  Version 1 tokens (which carried
 * "brokers", "ca", "tcti" and "vcek") still parse: those four fields are
 * accepted and ignored, and v1_ignored says that they were there so that
 * the callers can say so.  man skr-token(5) gives every field's reason.
 *
 * Validation names the offending field; unknown fields are refused so that a
 * token from a newer skr is not half-understood.
 */
#ifndef SKR_TOKEN_H
#define SKR_TOKEN_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "common/util.h"
#include "vm/local_policy.h"

struct skr_client_config;	/* vm/client_config.h */
struct skr_release_opts;	/* vm/release_client.h */

#define SKR_TOKEN_TYPE "skr"
#define SKR_TOKEN_VERSION 2
#define SKR_TOKEN_VERSION_1 1		/* still read; its endpoint fields are ignored */
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
	uint32_t pcr_mask;		/* a hint for the quote; the broker's policy decides */
	unsigned timeout;		/* seconds */
	unsigned version;		/* skr_version as read (written back as SKR_TOKEN_VERSION) */
	bool v1_ignored;		/* a v1 token named brokers/ca/tcti/vcek: ignored */
	struct skr_token_local *local;	/* NULL: no local copy */
};

/* Frees a local member (and its buffers); NULL is fine. */
void skr_token_local_free(struct skr_token_local *l);

/* Parses and validates token JSON text (as libcryptsetup hands it over). */
int skr_token_parse(const char *json, struct skr_token *out, struct skr_err *err);
void skr_token_free(struct skr_token *t);
/* The token's JSON text (caller frees). */
char *skr_token_to_json(const struct skr_token *t);

/*
 * Release options for this token: the key id, PCR hint and timeout from the
 * token (timeout_override, seconds, wins when non-zero); the brokers, CA,
 * TCTI and VCEK file from the configuration, never from the token.  The
 * options point into t and c: both must outlive them.
 */
void skr_token_release_opts(const struct skr_token *t, const struct skr_client_config *c,
			    unsigned timeout_override, struct skr_release_opts *o);

/* The one-line notice for a v1 token whose endpoint fields are ignored. */
#define SKR_TOKEN_V1_NOTICE                                                                   \
	"skr_version 1 token: its \"brokers\", \"ca\", \"tcti\" and \"vcek\" are ignored; " \
	"they come from the client configuration"

#endif
