/* SPDX-License-Identifier: Apache-2.0 */
/* skrctl broker: settings, the admin call and its outcome (broker_int.h). */
#include "ctl/broker_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/secret.h"
#include "common/util.h"
#include "ctl/cli.h"
#include "vm/client_config.h"
#include "vm/https.h"

#define CONFIG_MAX (64u << 10)

int broker_option(int c, const char *arg, struct broker_opts *o)
{
	long long n;

	switch (c) {
	case BROKER_OPT_URL: o->url = arg; return 1;
	case BROKER_OPT_CA: o->ca = arg; return 1;
	case BROKER_OPT_TOKEN_FILE: o->token_file = arg; return 1;
	case BROKER_OPT_CONFIG: o->config = arg; return 1;
	case BROKER_OPT_JSON: o->json = true; return 1;
	case BROKER_OPT_TOKEN:
		/* Named so that getopt never takes "--token" for an abbreviation of --token-file. */
		fprintf(stderr, "skrctl: --token: the admin token is never given as an argument (ps and "
				"shell history would show it): use --token-file F (mode 0600)\n");
		return -1;
	case BROKER_OPT_TIMEOUT:
		if (!broker_parse_count(arg, 3600, &n))
			return -1;
		o->timeout_s = (unsigned)n;
		return 1;
	default:
		return 0;
	}
}

bool broker_parse_count(const char *text, long long max, long long *out)
{
	char *end;
	long long n;

	if (!text || text[0] < '0' || text[0] > '9')
		return false;
	errno = 0;
	n = strtoll(text, &end, 10);
	if (errno || *end || n <= 0 || n > max)
		return false;
	*out = n;
	return true;
}

bool broker_key_id_ok(const char *id)
{
	size_t n = strlen(id);

	return n > 0 && n <= 128 && strcmp(id, ".") && strcmp(id, "..") &&
	       strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* The configuration file's text, after the trust check on the open file. */
static int read_config(const char *path, bool may_be_absent, struct skr_buf *out,
		       struct skr_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	ssize_t n;

	if (fd < 0 && errno == ENOENT && may_be_absent)
		return 1;
	if (fd < 0)
		return skr_fail(err, SKR_R_io, "cannot open the admin configuration %s: %s", path,
				strerror(errno));
	if (skr_client_file_trusted(path, fd, err) < 0) {
		close(fd);
		return -1;
	}
	out->data = malloc(CONFIG_MAX + 1);
	if (!out->data) {
		close(fd);
		return skr_fail(err, SKR_R_nomem, "out of memory");
	}
	out->len = 0;
	while ((n = read(fd, out->data + out->len, CONFIG_MAX + 1 - out->len)) > 0)
		out->len += (size_t)n;
	close(fd);
	if (n < 0)
		return skr_fail(err, SKR_R_io, "cannot read %s: %s", path, strerror(errno));
	if (out->len > CONFIG_MAX)
		return skr_fail(err, SKR_R_malformed, "%s is larger than %u bytes", path, CONFIG_MAX);
	out->data[out->len] = 0;
	return 0;
}

/* One string field of the configuration; an absolute path when path is set. */
static int config_field(json_object *cfg, const char *file, const char *key, bool path,
			char **out, struct skr_err *err)
{
	json_object *v;

	if (!json_object_object_get_ex(cfg, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_string) || !json_object_get_string_len(v))
		return skr_fail(err, SKR_R_malformed, "%s: \"%s\" is not a non-empty string", file, key);
	if (path && json_object_get_string(v)[0] != '/')
		return skr_fail(err, SKR_R_malformed, "%s: \"%s\" is not an absolute path", file, key);
	*out = strdup(json_object_get_string(v));
	return *out ? 0 : skr_fail(err, SKR_R_nomem, "out of memory");
}

/* Reads {"url", "ca", "token_file"} from path into the unset fields. */
static int load_config(const char *path, bool may_be_absent, struct broker_conn *c,
		       char **token_file, struct skr_err *err)
{
	static const char *const known[] = { "url", "ca", "token_file" };
	_cleanup_buf_ struct skr_buf text = { 0 };
	char *url = NULL, *ca = NULL;
	json_object *cfg;
	int rc = read_config(path, may_be_absent, &text, err);

	if (rc != 0)
		return rc > 0 ? 0 : -1;
	cfg = json_tokener_parse((const char *)text.data);
	if (!cfg || !json_object_is_type(cfg, json_type_object)) {
		json_object_put(cfg);
		return skr_fail(err, SKR_R_malformed, "%s is not one JSON object", path);
	}
	json_object_object_foreach(cfg, key, val) {
		size_t i = 0;

		(void)val;
		while (i < ARRAY_SIZE(known) && strcmp(known[i], key))
			i++;
		if (i == ARRAY_SIZE(known)) {
			skr_fail(err, SKR_R_malformed, "%s: unknown field \"%.64s\"", path, key);
			json_object_put(cfg);
			return -1;
		}
	}
	rc = config_field(cfg, path, "url", false, &url, err) < 0 ||
	     config_field(cfg, path, "ca", true, &ca, err) < 0 ||
	     config_field(cfg, path, "token_file", true, token_file, err) < 0 ? -1 : 0;
	json_object_put(cfg);
	/* The CA a configuration names is trusted as the client configuration's is. */
	if (rc == 0 && ca && skr_client_file_trusted(ca, -1, err) < 0) {
		err->reason = err->reason == SKR_R_io ? SKR_R_untrusted_config : err->reason;
		rc = -1;
	}
	if (rc == 0 && !c->url)
		c->url = url, url = NULL;
	if (rc == 0 && !c->ca)
		c->ca = ca, ca = NULL;
	free(url);
	free(ca);
	return rc;
}

static const char *config_path(const struct broker_opts *o, bool *may_be_absent)
{
	const char *env = getenv("SKR_ADMIN_CONFIG");

	*may_be_absent = false;
	if (o->config)
		return o->config;
	if (env && *env)
		return env;
	*may_be_absent = true;
	return BROKER_ADMIN_CONFIG_DEFAULT;
}

static int missing(const char *what, const char *option, const char *field, const char *path,
		   struct skr_err *err)
{
	return skr_fail(err, SKR_R_usage, "no %s: give %s, or \"%s\" in the admin configuration %s",
			what, option, field, path);
}

int broker_connect(const struct broker_opts *o, bool with_token, struct broker_conn *c,
		   struct skr_err *err)
{
	_cleanup_free_ char *cfg_token = NULL;
	bool may_be_absent;
	const char *path = config_path(o, &may_be_absent);
	const char *token_file;

	memset(c, 0, sizeof(*c));
	c->json = o->json;
	c->timeout_ms = (o->timeout_s ? o->timeout_s : BROKER_DEFAULT_TIMEOUT_S) * 1000u;
	if ((o->url && !(c->url = strdup(o->url))) || (o->ca && !(c->ca = strdup(o->ca))))
		return skr_fail(err, SKR_R_nomem, "out of memory");
	/* The configuration is read unless the options name everything (or --config is given). */
	if ((o->config || !c->url || !c->ca || (with_token && !o->token_file)) &&
	    load_config(path, may_be_absent, c, &cfg_token, err) < 0)
		goto fail;
	if (!c->url) {
		missing("admin URL", "--url", "url", path, err);
		goto fail;
	}
	if (!c->ca) {
		missing("CA", "--ca", "ca", path, err);
		goto fail;
	}
	token_file = o->token_file ? o->token_file : cfg_token;
	if (with_token && !token_file) {
		missing("admin token", "--token-file", "token_file", path, err);
		goto fail;
	}
	if (with_token && read_admin_token(token_file, &c->token, err) < 0)
		goto fail;
	return 0;
fail:
	broker_disconnect(c);
	return -1;
}

void broker_disconnect(struct broker_conn *c)
{
	skr_secret_free(c->token);
	free(c->url);
	free(c->ca);
	memset(c, 0, sizeof(*c));
}

static void refusal(const struct broker_conn *c, const char *path, json_object *answer,
		    struct broker_result *res)
{
	json_object *reason = NULL, *detail = NULL, *error = NULL;
	const char *why;

	if (answer && json_object_is_type(answer, json_type_object)) {
		json_object_object_get_ex(answer, "reason", &reason);
		json_object_object_get_ex(answer, "detail", &detail);
		json_object_object_get_ex(answer, "error", &error);
	}
	if (res->status == 401 || res->status == 403)
		snprintf(res->reason, sizeof(res->reason), "admin_denied");
	else if (reason && json_object_is_type(reason, json_type_string))
		skr_sanitize_text(json_object_get_string(reason), 63, res->reason, sizeof(res->reason));
	else
		snprintf(res->reason, sizeof(res->reason), "http_%ld", res->status);
	why = detail && json_object_is_type(detail, json_type_string) ? json_object_get_string(detail)
	      : error && json_object_is_type(error, json_type_string) ? json_object_get_string(error)
								       : "no reason given";
	if (res->status == 401 || res->status == 403)
		skr_fail(&res->err, SKR_R_admin_denied,
			 "%s refused the admin token (HTTP %ld): check --token-file", c->url,
			 res->status);
	else
		skr_fail(&res->err, SKR_R_broker_protocol, "%s%s answered HTTP %ld: %s", c->url, path,
			 res->status, why);
}

enum broker_outcome broker_call_raw(const struct broker_conn *c, const char *method,
				    const char *path, const char *body, struct skr_buf *raw,
				    struct broker_result *res)
{
	struct skr_https_ca ca = { .file = c->ca };
	struct skr_err scratch = { 0 };
	json_object *parsed = NULL;
	unsigned connect_ms = c->timeout_ms < 5000 ? c->timeout_ms : 5000;

	memset(res, 0, sizeof(*res));
	if (skr_https_request(method, c->url, path, body, c->token, &ca, connect_ms, c->timeout_ms,
			      &res->status, raw, &res->err) < 0) {
		snprintf(res->reason, sizeof(res->reason), "%s", skr_reason_name(res->err.reason));
		return BROKER_FAILED;
	}
	if (res->status >= 200 && res->status <= 299)
		return BROKER_OK;
	/* A refusal's body that is no JSON object just has no reason to show. */
	broker_parse_answer(c->url, raw->data, raw->len, json_type_object, &parsed, &scratch);
	refusal(c, path, parsed, res);
	json_object_put(parsed);
	return BROKER_REFUSED;
}

enum broker_outcome broker_call(const struct broker_conn *c, const char *method,
				const char *path, const char *body, json_type want,
				json_object **answer, struct broker_result *res)
{
	_cleanup_buf_ struct skr_buf buf = { 0 };
	json_object *parsed = NULL;
	enum broker_outcome o = broker_call_raw(c, method, path, body, &buf, res);
	char who[400];

	if (answer)
		*answer = NULL;
	if (o != BROKER_OK)
		return o;
	snprintf(who, sizeof(who), "%s%s", c->url, path);
	if (broker_parse_answer(who, buf.data, buf.len, want, &parsed, &res->err) < 0) {
		snprintf(res->reason, sizeof(res->reason), "%s", skr_reason_name(res->err.reason));
		return BROKER_FAILED;
	}
	if (answer)
		*answer = parsed;
	else
		json_object_put(parsed);
	return BROKER_OK;
}

static int print_failure(bool json, const char *reason, const char *detail, long status)
{
	char shown[sizeof(((struct skr_err *)0)->detail)];

	/* The detail may quote the broker: no control byte reaches the terminal. */
	skr_sanitize_text(detail, strlen(detail), shown, sizeof(shown));
	fprintf(stderr, "skrctl: %s: %s\n", reason, shown);
	if (json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "valid", json_object_new_boolean(false));
		json_object_object_add(o, "reason", json_object_new_string(reason));
		json_object_object_add(o, "detail", json_object_new_string(shown));
		if (status)
			json_object_object_add(o, "http_status", json_object_new_int64(status));
		cli_print_json(o);
		json_object_put(o);
	}
	return 0;
}

int broker_finish(const struct broker_conn *c, bool json, enum broker_outcome o,
		  const struct broker_result *res)
{
	(void)c;
	if (o == BROKER_OK)
		return CLI_EXIT_OK;
	print_failure(json, res->reason, res->err.detail, o == BROKER_REFUSED ? res->status : 0);
	return o == BROKER_REFUSED ? CLI_EXIT_FAILED : CLI_EXIT_USAGE;
}

int broker_fail_input(bool json, const struct skr_err *err)
{
	print_failure(json, skr_reason_name(err->reason), err->detail, 0);
	return CLI_EXIT_USAGE;
}

int broker_read_json_object(const char *path, const char *what, char **text,
			    struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf raw = { 0 };
	json_object *obj;

	*text = NULL;
	if (skr_read_file(path, CLI_MAX_INPUT, &raw, err) < 0)
		return -1;
	obj = json_tokener_parse((const char *)raw.data);
	if (!obj || !json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		return skr_fail(err, SKR_R_malformed, "%s file %s is not one JSON object", what, path);
	}
	*text = strdup(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN));
	json_object_put(obj);
	return *text ? 0 : skr_fail(err, SKR_R_nomem, "out of memory");
}
