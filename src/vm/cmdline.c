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

/* "TAG,TAG,...": all or nothing, so that a typo never half-applies. */
static void parse_disk_tags(const char *val, struct skr_cmdline *out)
{
	size_t n = 0, len, i;

	out->n_disk_tags = 0;
	out->disk_tags_invalid = true;
	while (val && *val) {
		len = strcspn(val, ",");
		if (len != SKR_DISK_TAG_HEX || n == SKR_CMDLINE_MAX_DISK_TAGS)
			return;
		for (i = 0; i < len; i++) {
			char c = val[i];

			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
				return;
			out->disk_tags[n][i] = (char)(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
		}
		out->disk_tags[n++][len] = '\0';
		val += len;
		if (*val == ',' && !*++val)
			return;	/* a trailing comma */
	}
	if (!n)
		return;
	out->n_disk_tags = n;
	out->disk_tags_invalid = false;
}

static void parse_word(const char *w, size_t len, struct skr_cmdline *out)
{
	char word[16 + SKR_CMDLINE_MAX_DISK_TAGS * (SKR_DISK_TAG_HEX + 1)], *eq, *end;
	const char *val;
	long n;

	/* Any value counts (initramfs-tools' panic()); "panic=" alone leaves the shell. */
	if (len > 6 && !strncmp(w, "panic=", 6))
		out->panic = true;
	if (strncmp(w, "rd.skr", 6) != 0)
		return;
	if (len >= sizeof(word)) {
		if (len > 12 && !strncmp(w, "rd.skr.disk=", 12)) {	/* too many tags */
			out->n_disk_tags = 0;
			out->disk_tags_invalid = true;
		}
		return;
	}
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
	} else if (!strcmp(word, "rd.skr.disk")) {
		parse_disk_tags(val, out);
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
	char buf[8192];
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
