/* SPDX-License-Identifier: Apache-2.0 */
#include "common/json_util.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/util.h"

static int add_owned(json_object *obj, const char *key, char *text)
{
	int rc = json_object_object_add(obj, key, text ? json_object_new_string(text) : NULL);

	free(text);
	return text && rc == 0 ? 0 : -1;
}

int skr_json_add_hex(json_object *obj, const char *key, const void *data, size_t len)
{
	return add_owned(obj, key, skr_hex_encode(data, len));
}

int skr_json_add_b64(json_object *obj, const char *key, const void *data, size_t len)
{
	return add_owned(obj, key, skr_base64_encode(data, len));
}

json_object *skr_json_parse_exact(const void *body, size_t len, int max_depth)
{
	const unsigned char *b = body;
	json_tokener *tok;
	json_object *obj = NULL;
	size_t end = 0;

	if (!body || !len || len > INT32_MAX)
		return NULL;
	tok = json_tokener_new_ex(max_depth);
	if (!tok)
		return NULL;
	obj = json_tokener_parse_ex(tok, (const char *)b, (int)len);
	if (obj && json_tokener_get_error(tok) == json_tokener_success)
		end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	while (obj && end < len && isspace(b[end]))
		end++;
	if (obj && end == len)
		return obj;
	json_object_put(obj);
	return NULL;
}
