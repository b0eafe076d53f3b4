/* SPDX-License-Identifier: Apache-2.0 */
/*
 * skrctl broker: the admin API's answers as tables for people (broker_int.h).
 * The broker (or whoever holds its certificate) chooses every byte shown
 * here: each view takes any JSON value, shows only the members it knows,
 * and every cell goes through broker_table_add's sanitiser.  Pure functions
 * on stdout: the fuzz target (fuzz_broker_views) runs them on arbitrary input.
 */
#include "ctl/broker_int.h"

#include <stdio.h>
#include <string.h>

#include "common/util.h"

/* Appends to a cell, never past its end (a cut cell is still a readable one). */
static void cell_append(char *buf, size_t n, size_t *off, const char *a, const char *b)
{
	int w;

	if (*off >= n - 1)
		return;
	w = snprintf(buf + *off, n - *off, "%s%s", a, b);
	if (w > 0)
		*off = (size_t)w < n - *off ? *off + (size_t)w : n - 1;
}

/* "sha256: 0,7,11" for a reference set's "pcrs" object. */
static void pcrs_cell(json_object *set, char *buf, size_t n)
{
	json_object *pcrs;
	size_t off = 0;

	buf[0] = 0;
	if (!json_object_object_get_ex(set, "pcrs", &pcrs) || !json_object_is_type(pcrs, json_type_object))
		return;
	json_object_object_foreach(pcrs, bank, values) {
		bool first = true;

		cell_append(buf, n, &off, off ? " " : "", bank);
		cell_append(buf, n, &off, ":", "");
		if (!json_object_is_type(values, json_type_object))
			continue;
		json_object_object_foreach(values, index, v) {
			(void)v;
			cell_append(buf, n, &off, first ? "" : ",", index);
			first = false;
		}
	}
}

/* Rows of reference sets; with_key: a first column naming the key (the reseal queue). */
static void add_refset_row(struct broker_table *t, json_object *set, bool with_key)
{
	char id[32], created[32], pcrs[160];
	const char *row[7], **r = row;

	if (with_key)
		*r++ = broker_field(set, "key_id", NULL, 0);
	r[0] = broker_field(set, "id", id, sizeof(id));
	r[1] = broker_field(set, "state", NULL, 0);
	r[2] = broker_field(set, "label", NULL, 0);
	r[3] = broker_time(set, "created", created, sizeof(created));
	pcrs_cell(set, pcrs, sizeof(pcrs));
	r[4] = pcrs;
	r[5] = broker_field(set, "note", NULL, 0);
	broker_table_add(t, row);
}

void broker_show_refsets(json_object *sets, bool with_key)
{
	static const char *const head[] = { "KEY_ID", "ID", "STATE", "LABEL", "CREATED", "PCRS", "NOTE" };
	struct broker_table t;
	size_t i, n = json_object_is_type(sets, json_type_array) ? json_object_array_length(sets) : 0;

	broker_table_init(&t, with_key ? 7 : 6, with_key ? head : head + 1);
	for (i = 0; i < n; i++)
		add_refset_row(&t, json_object_array_get_idx(sets, i), with_key);
	broker_table_print(&t);
}

void broker_show_keys(json_object *keys)
{
	static const char *const head[] = { "KEY_ID", "CREATED" };
	struct broker_table t;
	size_t i, n = json_object_is_type(keys, json_type_array) ? json_object_array_length(keys) : 0;

	broker_table_init(&t, 2, head);
	for (i = 0; i < n; i++) {
		json_object *k = json_object_array_get_idx(keys, i);
		char created[32];
		const char *row[2] = { broker_field(k, "key_id", NULL, 0),
				       broker_time(k, "created", created, sizeof(created)) };

		broker_table_add(&t, row);
	}
	broker_table_print(&t);
}

void broker_show_key(json_object *key, const char *key_id)
{
	json_object *policy = NULL, *sets = NULL;
	char shown[4096];
	const char *text;

	json_object_object_get_ex(key, "policy", &policy);
	json_object_object_get_ex(key, "refsets", &sets);
	text = json_object_to_json_string_ext(policy, JSON_C_TO_STRING_PLAIN);
	skr_sanitize_text(key_id, strlen(key_id), shown, sizeof(shown));
	printf("key_id:  %s\n", shown);
	skr_sanitize_text(text, strlen(text), shown, sizeof(shown));
	printf("policy:  %s\n\nreference sets:\n", shown);
	broker_show_refsets(sets, false);
}
