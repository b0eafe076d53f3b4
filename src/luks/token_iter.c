/* SPDX-License-Identifier: Apache-2.0 */
#include "luks/token_iter.h"

#include <stdbool.h>
#include <string.h>

#include <libcryptsetup.h>

/*
 * Which statuses are tokens of ours.  crypt_token_status() says
 * CRYPT_TOKEN_EXTERNAL for a type whose plugin libcryptsetup loaded
 * (libcryptsetup-token-skr.so) and CRYPT_TOKEN_EXTERNAL_UNKNOWN for one
 * whose plugin it did not find: both count, since skrctl and skr-unlock do
 * not need the plugin (an initramfs or a test may lack it, and the
 * "skr-pending" record never has one).  The CRYPT_TOKEN_INTERNAL* statuses
 * are libcryptsetup's reserved "luks2-" types, which an skr type never is;
 * INVALID and INACTIVE are no token at all.
 */
static bool status_counts(crypt_token_info st)
{
	return st == CRYPT_TOKEN_EXTERNAL || st == CRYPT_TOKEN_EXTERNAL_UNKNOWN;
}

const char *skr_luks_token_json(struct crypt_device *cd, int id, const char *type)
{
	const char *t = NULL, *json = NULL;

	if (!status_counts(crypt_token_status(cd, id, &t)) || !t || strcmp(t, type) != 0)
		return NULL;
	return crypt_token_json_get(cd, id, &json) >= 0 ? json : NULL;
}

int skr_luks_token_next(struct crypt_device *cd, int from, const char *type, const char **json)
{
	int id, max = crypt_token_max(CRYPT_LUKS2);

	for (id = from < 0 ? 0 : from; id < max; id++)
		if ((*json = skr_luks_token_json(cd, id, type)))
			return id;
	*json = NULL;
	return -1;
}

unsigned skr_luks_token_count(struct crypt_device *cd, const char *type)
{
	const char *json;
	unsigned n = 0;
	int id;

	SKR_LUKS_FOREACH_TOKEN(cd, type, id, json)
		n++;
	return n;
}
