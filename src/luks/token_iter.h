/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The tokens of one type in a LUKS2 header: the one loop over token ids
 * (skr-unlock, skrctl status/local-copy/reseal, enroll's repair and unenroll),
 * modelled on systemd's cryptsetup_get_token_as_json().
 *
 *   int id;
 *   const char *json;
 *
 *   SKR_LUKS_FOREACH_TOKEN(cd, SKR_TOKEN_TYPE, id, json)
 *           use(id, json);
 *
 * Token ids run from 0 to crypt_token_max(CRYPT_LUKS2) (libcryptsetup's
 * limit, never a number of ours).  The JSON is libcryptsetup's copy: valid
 * until the header changes, so a caller that writes the header uses it
 * first.  A caller may change the header in the loop (remove the token,
 * write another one): the next step reads the header afresh from id + 1.
 * Parsing stays with the callers: each decides what an unparseable token
 * means (skipped, reported, or refused).
 */
#ifndef SKR_TOKEN_ITER_H
#define SKR_TOKEN_ITER_H

struct crypt_device;

/* The JSON of token `id` when it is an active token of `type`; NULL otherwise. */
const char *skr_luks_token_json(struct crypt_device *cd, int id, const char *type);

/* The first token of `type` at `from` or after: its id and *json; -1 when none is left. */
int skr_luks_token_next(struct crypt_device *cd, int from, const char *type, const char **json);

/* How many tokens of `type` the header holds. */
unsigned skr_luks_token_count(struct crypt_device *cd, const char *type);

#define SKR_LUKS_FOREACH_TOKEN(cd, type, id, json)                             \
	for ((id) = skr_luks_token_next((cd), 0, (type), &(json)); (id) >= 0; \
	     (id) = skr_luks_token_next((cd), (id) + 1, (type), &(json)))

#endif
