/* SPDX-License-Identifier: Apache-2.0 */
#include "ctl/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "verify/amd_chain.h"
#include "verify/eventlog.h"
#include "common/pcr_bank.h"
#include "common/pcr_json.h"
#include "verify/snp_report.h"
#include "common/util.h"

int cli_usage(const char *usage)
{
	fprintf(stderr, "skrctl: usage: %s\n", usage);
	return CLI_EXIT_USAGE;
}

/* The code point of the UTF-8 sequence at s (n bytes left), or -1; *len its length. */
static long utf8_decode(const unsigned char *s, size_t n, size_t *len)
{
	static const long min[] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t want = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
	long cp;

	if (!want || want > n)
		return -1;
	cp = s[0] & (0x7f >> want);
	for (size_t i = 1; i < want; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min[want] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*len = want;
	return cp;
}

void cli_puts_json_ascii(const char *text)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t n = strlen(text), i = 0, len;

	while (i < n) {
		long cp;

		if (s[i] < 0x7f) {
			putchar(s[i++]);
			continue;
		}
		len = 1;
		cp = s[i] == 0x7f ? 0x7f : utf8_decode(s + i, n - i, &len);
		if (cp < 0)
			cp = 0xfffd;	/* not UTF-8: the replacement character */
		if (cp > 0xffff)
			printf("\\u%04lx\\u%04lx", 0xd800 + ((cp - 0x10000) >> 10),
			       0xdc00 + ((cp - 0x10000) & 0x3ff));
		else
			printf("\\u%04lx", cp);
		i += len;
	}
	putchar('\n');
}

void cli_print_json(json_object *obj)
{
	cli_puts_json_ascii(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_SPACED |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
}

static int exit_status(const struct skr_err *err)
{
	switch (skr_reason_class(err->reason)) {
	case SKR_CLASS_OK:
		return CLI_EXIT_OK;
	case SKR_CLASS_VERIFY:
		return CLI_EXIT_FAILED;
	default:
		return CLI_EXIT_USAGE;
	}
}

int cli_finish(const struct skr_err *err, json_object *result, bool json)
{
	bool valid = err->reason == SKR_R_ok;
	char detail[sizeof(err->detail)];

	/* A detail may quote a broker or a LUKS2 header: no control byte reaches the terminal. */
	skr_sanitize_text(err->detail, sizeof(err->detail), detail, sizeof(detail));
	if (!valid)
		fprintf(stderr, "skrctl: %s: %s\n", skr_reason_name(err->reason), detail);
	if (json) {
		if (!result)
			result = json_object_new_object();
		json_object_object_add(result, "valid", json_object_new_boolean(valid));
		if (!valid) {
			json_object_object_add(result, "reason",
					       json_object_new_string(skr_reason_name(err->reason)));
			json_object_object_add(result, "detail", json_object_new_string(detail));
		}
		cli_print_json(result);
	}
	json_object_put(result);
	return exit_status(err);
}

int cli_load_trust(struct skr_amd_trust *t, char *const *anchors, size_t n_anchors,
		   struct skr_err *err)
{
	size_t i;

	if (skr_amd_trust_init(t, true, err) < 0)
		return -1;
	for (i = 0; i < n_anchors; i++) {
		_cleanup_buf_ struct skr_buf pem = { 0 };

		if (skr_read_file(anchors[i], CLI_MAX_INPUT, &pem, err) < 0 ||
		    skr_amd_trust_add_pem(t, pem.data, pem.len, err) < 0) {
			skr_amd_trust_free(t);
			return -1;
		}
	}
	return 0;
}

int cli_amd_option(int c, char *arg, struct cli_amd_opts *o)
{
	switch (c) {
	case 'v': o->vcek = arg; return 1;
	case 'c': o->chain = arg; return 1;
	case 't':
		if (o->n_anchors == CLI_MAX_ANCHORS)
			return -1;
		o->anchors[o->n_anchors++] = arg;
		return 1;
	case 'p':
		o->product = skr_snp_product_from_name(arg);
		return o->product == SKR_SNP_PRODUCT_UNKNOWN ? -1 : 1;
	case 'd': o->allow_debug = true; return 1;
	case 'j': o->json = true; return 1;
	default: return 0;
	}
}

int cli_load_pcr_banks(const char *path, struct skr_pcr_banks *banks, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf text = { 0 };
	json_object *obj;
	int rc;

	if (skr_read_file(path, CLI_MAX_INPUT, &text, err) < 0)
		return -1;
	obj = json_tokener_parse((const char *)text.data);
	if (!obj)
		return skr_fail(err, SKR_R_malformed, "%s is not JSON", path);
	rc = skr_pcr_banks_from_json(obj, banks, err);
	json_object_put(obj);
	return rc;
}

int cli_parse_pcr_list(const char *list, uint32_t *mask)
{
	char *copy = strdup(list), *tok, *save = NULL;
	int rc = 0;

	*mask = 0;
	for (tok = copy ? strtok_r(copy, ",", &save) : NULL; tok; tok = strtok_r(NULL, ",", &save)) {
		char *end;
		long n = strtol(tok, &end, 10);

		if (*end || tok[0] < '0' || tok[0] > '9' || n > 23)
			rc = -1;
		else
			*mask |= 1u << n;
	}
	free(copy);
	return copy && *mask ? rc : -1;
}

int cli_load_log(const char *path, struct skr_eventlog **log, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf raw = { 0 };

	if (skr_read_file(path, SKR_EVENTLOG_MAX_SIZE, &raw, err) < 0)
		return -1;
	return skr_eventlog_parse(raw.data, raw.len, log, err);
}

json_object *cli_pcr_mask_json(uint32_t mask)
{
	json_object *a = json_object_new_array();
	int i;

	for (i = 0; i < SKR_PCR_COUNT; i++)
		if (mask & (1u << i))
			json_object_array_add(a, json_object_new_int(i));
	return a;
}

int cli_finish_tokens(const struct skr_err *err, json_object *reports, bool json)
{
	json_object *res = NULL;

	if (json) {
		res = json_object_new_object();
		json_object_object_add(res, "tokens", reports);
	} else {
		json_object_put(reports);
	}
	return cli_finish(err, res, json);
}
