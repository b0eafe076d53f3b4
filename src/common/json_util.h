/* SPDX-License-Identifier: Apache-2.0 */
/* Adding byte strings to json-c objects in the encodings skr uses on the wire. */
#ifndef SKR_JSON_UTIL_H
#define SKR_JSON_UTIL_H

#include <stddef.h>

#include <json-c/json.h>

/*
 * Exactly one JSON value in len bytes (white space around it only, nested at
 * most max_depth deep): the value, or NULL for anything else (trailing bytes,
 * an embedded NUL, too deep, not JSON, out of memory).  For bodies a peer
 * chose: the caller names what was wrong.
 */
json_object *skr_json_parse_exact(const void *body, size_t len, int max_depth);

/* Lower-case hex; returns 0, or -1 when out of memory (the key is then null). */
int skr_json_add_hex(json_object *obj, const char *key, const void *data, size_t len);
/* Standard base64 with padding. */
int skr_json_add_b64(json_object *obj, const char *key, const void *data, size_t len);

#endif
