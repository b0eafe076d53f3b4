/* SPDX-License-Identifier: Apache-2.0 */
/* skrctl broker: aligned tables for people (broker_int.h). */
#include "ctl/broker_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/json_util.h"
#include "common/util.h"

/* A cell is the broker's text: sanitised, and cut so one row stays readable. */
#define CELL_MAX 200

void broker_table_init(struct broker_table *t, size_t ncols, const char *const *head)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols < BROKER_TABLE_MAX_COLS ? ncols : BROKER_TABLE_MAX_COLS;
	for (size_t i = 0; i < t->ncols; i++)
		t->head[i] = head[i];
}

int broker_table_add(struct broker_table *t, const char *const *row)
{
	char cell[CELL_MAX];

	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **grown = realloc(t->cells, cap * t->ncols * sizeof(*grown));

		if (!grown)
			return -1;
		t->cells = grown;
		t->cap = cap;
	}
	for (size_t i = 0; i < t->ncols; i++) {
		const char *v = row[i] && *row[i] ? row[i] : "-";

		skr_sanitize_text(v, strlen(v), cell, sizeof(cell));
		t->cells[t->nrows * t->ncols + i] = strdup(cell);
	}
	t->nrows++;
	return 0;
}

static void print_row(const struct broker_table *t, const char *const *cells, const size_t *w)
{
	for (size_t i = 0; i < t->ncols; i++) {
		const char *v = cells[i] ? cells[i] : "?";

		/* The last column is not padded: no trailing blanks. */
		if (i + 1 == t->ncols)
			printf("%s\n", v);
		else
			printf("%-*s  ", (int)w[i], v);
	}
}

void broker_table_print(struct broker_table *t)
{
	broker_table_print_ex(t, NULL, true);
}

void broker_table_print_ex(struct broker_table *t, const size_t *min_w, bool head)
{
	size_t w[BROKER_TABLE_MAX_COLS] = { 0 };

	for (size_t i = 0; i < t->ncols; i++) {
		w[i] = strlen(t->head[i]);
		if (min_w && min_w[i] > w[i])
			w[i] = min_w[i];
	}
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t i = 0; i < t->ncols; i++) {
			const char *v = t->cells[r * t->ncols + i];
			size_t n = v ? strlen(v) : 1;

			if (n > w[i])
				w[i] = n;
		}
	if (head)
		print_row(t, t->head, w);
	for (size_t r = 0; r < t->nrows; r++)
		print_row(t, (const char *const *)&t->cells[r * t->ncols], w);
	for (size_t r = 0; r < t->nrows * t->ncols; r++)
		free(t->cells[r]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

const char *broker_field(json_object *o, const char *key, char *buf, size_t n)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !v)
		return NULL;
	if (json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	snprintf(buf, n, "%s", json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	return buf;
}

const char *broker_time(json_object *o, const char *key, char *buf, size_t n)
{
	json_object *v;
	struct tm tm;
	time_t t;

	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return NULL;
	t = (time_t)json_object_get_int64(v);
	if (!gmtime_r(&t, &tm) || !strftime(buf, n, "%Y-%m-%d %H:%M:%SZ", &tm))
		return NULL;
	return buf;
}

static const char *type_name(json_type t)
{
	return t == json_type_array ? "a JSON array" : t == json_type_object ? "a JSON object" : "JSON";
}

int broker_parse_answer(const char *who, const uint8_t *body, size_t len, json_type want,
			json_object **out, struct skr_err *err)
{
	json_object *obj;
	char shown[160];

	*out = NULL;
	skr_sanitize_text(who, strlen(who), shown, sizeof(shown));
	if (!len && want == json_type_null)
		return 0;
	if (!len || len > INT32_MAX)
		return skr_fail(err, SKR_R_broker_protocol, "%s answered nothing where %s was expected",
				shown, type_name(want));
	obj = skr_json_parse_exact(body, len, BROKER_MAX_DEPTH);
	if (!obj)
		return skr_fail(err, SKR_R_broker_protocol, "%s answered something that is not %s",
				shown, want == json_type_null ? "one JSON value" : type_name(want));
	if (want != json_type_null && !json_object_is_type(obj, want)) {
		skr_fail(err, SKR_R_broker_protocol, "%s answered %s where %s was expected", shown,
			 json_type_to_name(json_object_get_type(obj)), type_name(want));
		json_object_put(obj);
		return -1;
	}
	*out = obj;
	return 0;
}
