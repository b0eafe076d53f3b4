/* SPDX-License-Identifier: Apache-2.0 */
#include "vm/cmdline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool parse_bool(const char *v, bool dflt)
{
	if (!v)
		return dflt;
	if (!strcmp(v, "0") || !strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off"))
		return false;
	if (!strcmp(v, "1") || !strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on"))
		return true;
	return dflt;
}

static void parse_word(const char *w, size_t len, struct skr_cmdline *out)
{
	char word[64], *eq, *end;
	const char *val;
	long n;

	if (len >= sizeof(word) || strncmp(w, "rd.skr", 6) != 0)
		return;
	memcpy(word, w, len);
	word[len] = '\0';
	eq = strchr(word, '=');
	if (eq)
		*eq = '\0';
	val = eq ? eq + 1 : NULL;
	if (!strcmp(word, "rd.skr")) {
		out->disabled = !parse_bool(val, true);
	} else if (!strcmp(word, "rd.skr.debug")) {
		out->debug = parse_bool(val, true);
	} else if (!strcmp(word, "rd.skr.timeout") && val) {
		n = strtol(val, &end, 10);
		if (end != val && !*end && n >= 1 && n <= 3600)
			out->timeout = (unsigned)n;
	}
}

void skr_cmdline_parse(const char *text, struct skr_cmdline *out)
{
	const char *p = text;

	memset(out, 0, sizeof(*out));
	while (p && *p) {
		size_t len;

		p += strspn(p, " \t\n");
		len = strcspn(p, " \t\n");
		if (len)
			parse_word(p, len, out);
		p += len;
	}
}

void skr_cmdline_read(const char *path, struct skr_cmdline *out)
{
	char buf[4096];
	size_t n = 0;
	FILE *f;

	if (!path)
		path = getenv("SKR_CMDLINE");
	if (!path || !*path)
		path = "/proc/cmdline";
	f = fopen(path, "re");
	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	skr_cmdline_parse(buf, out);
}
