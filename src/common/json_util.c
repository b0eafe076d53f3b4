/* SPDX-License-Identifier: Apache-2.0 */
#include "common/json_util.h"

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
