/* SPDX-License-Identifier: Apache-2.0 */
/* The client configuration: see client_config.h for the format and the trust rules. */
#include "vm/client_config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/util.h"

#define URL_MAX 1024
#define PATH_MAX_LEN 4095

const char *skr_client_config_path(const char *cli_path)
{
	const char *env = getenv("SKR_CONFIG");

	if (cli_path && *cli_path)
		return cli_path;
	if (env && *env)
		return env;
	return SKR_CLIENT_CONFIG_DEFAULT;
}

int skr_client_tcti_check(const char *tcti, const char *what, struct skr_err *err)
{
	/* tpm2-tss loads libtss2-tcti-NAME.so for "NAME:conf"; "cmd" runs a shell. */
	static const char *const allowed[] = { "device", "swtpm", "mssim" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(allowed); i++) {
		size_t n = strlen(allowed[i]);

		if (!strncmp(tcti, allowed[i], n) && (tcti[n] == ':' || tcti[n] == '\0'))
			return 0;
	}
	return skr_fail(err, SKR_R_untrusted_config,
			"%s: tcti \"%.64s\" is not a device:, swtpm: or mssim: TPM", what, tcti);
}

int skr_client_file_trusted(const char *path, int fd, struct skr_err *err)
{
	struct stat st;
	int own = -1, rc;

	if (fd < 0) {
		own = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (own < 0)
			return skr_fail(err, SKR_R_io, "cannot open %s: %s", path, strerror(errno));
		fd = own;
	}
	rc = fstat(fd, &st);
	if (own >= 0)
		close(own);
	if (rc < 0)
		return skr_fail(err, SKR_R_io, "cannot stat %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return skr_fail(err, SKR_R_untrusted_config, "%s is not a regular file", path);
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return skr_fail(err, SKR_R_untrusted_config, "%s is owned by uid %u, not root",
				path, (unsigned)st.st_uid);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return skr_fail(err, SKR_R_untrusted_config,
				"%s is writable by its group or by everyone (mode %04o)", path,
				(unsigned)(st.st_mode & 07777));
	return 0;
}

/* The whole file (at most max bytes), after the trust check on the same open file. */
static int read_trusted(const char *path, size_t max, const char *what, struct skr_buf *out,
			struct skr_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	ssize_t n = 0;

	if (fd < 0)
		return skr_fail(err, SKR_R_io, "no %s %s: %s", what, path, strerror(errno));
	if (skr_client_file_trusted(path, fd, err) < 0)
		goto fail;
	out->data = malloc(max + 1);
	if (!out->data) {
		skr_fail(err, SKR_R_nomem, "out of memory");
		goto fail;
	}
	out->len = 0;
	while (out->len <= max && (n = read(fd, out->data + out->len, max + 1 - out->len)) > 0)
		out->len += (size_t)n;
	close(fd);
	if (n < 0)
		return skr_fail(err, SKR_R_io, "cannot read %s", path);
	if (out->len > max)
		return skr_fail(err, SKR_R_malformed, "%s is larger than %zu bytes", path, max);
	out->data[out->len] = 0;
	return 0;
fail:
	close(fd);
	return -1;
}

/* Every PEM certificate of text, appended to der as DER; none at all fails. */
static int pem_to_der(const struct skr_buf *text, const char *path, struct skr_buf *der,
		      struct skr_err *err)
{
	BIO *bio = BIO_new_mem_buf(text->data, (int)text->len);
	size_t n = 0;
	X509 *c;
	int rc = 0;

	if (!bio)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	while (rc == 0 && (c = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		int len = i2d_X509(c, NULL);
		uint8_t *p;

		if (len <= 0 || der->len + (size_t)len > SKR_CLIENT_EK_CHAIN_MAX)
			rc = skr_fail(err, SKR_R_malformed, "\"ek_chain\" %s: more than %u bytes of "
				      "certificates", path, SKR_CLIENT_EK_CHAIN_MAX);
		else if (!(p = realloc(der->data, der->len + (size_t)len)))
			rc = skr_fail(err, SKR_R_nomem, "out of memory");
		else {
			der->data = p;
			p += der->len;
			der->len += (size_t)i2d_X509(c, &p);
			n++;
		}
		X509_free(c);
	}
	/* A file that ends in something other than a certificate is not a chain file. */
	if (rc == 0 && (n == 0 || ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE))
		rc = skr_fail(err, SKR_R_malformed, "\"ek_chain\" %s: %s", path,
			      n ? "bad PEM after the last certificate" : "no PEM certificate");
	ERR_clear_error();
	BIO_free(bio);
	return rc;
}

int skr_client_ek_chain_read(const char *path, struct skr_buf *der, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf text = { 0 };

	*der = (struct skr_buf){ 0 };
	if (read_trusted(path, SKR_CLIENT_EK_CHAIN_FILE_MAX, "EK chain file", &text, err) < 0 ||
	    pem_to_der(&text, path, der, err) < 0) {
		skr_buf_free(der);
		return -1;
	}
	return 0;
}

static int check_fields(json_object *obj, const char *const *known, const char *where,
			struct skr_err *err)
{
	json_object_object_foreach(obj, key, val) {
		const char *const *k = known;

		(void)val;
		while (*k && strcmp(*k, key))
			k++;
		if (!*k)
			return skr_fail(err, SKR_R_malformed, "%s: unknown field \"%.64s\"", where, key);
	}
	return 0;
}

static int url_list(json_object *obj, const char *field, const char *where, bool required,
		    char **urls, size_t *n, struct skr_err *err)
{
	json_object *list;
	size_t i;

	if (!json_object_object_get_ex(obj, field, &list))
		return required ? skr_fail(err, SKR_R_malformed, "%s: \"%s\" is missing", where, field)
				: 0;
	if (!json_object_is_type(list, json_type_array) || json_object_array_length(list) == 0 ||
	    json_object_array_length(list) > SKR_RELEASE_MAX_BROKERS)
		return skr_fail(err, SKR_R_malformed, "%s: \"%s\" must list 1 to %d URLs", where, field,
				SKR_RELEASE_MAX_BROKERS);
	for (i = 0; i < json_object_array_length(list); i++) {
		json_object *v = json_object_array_get_idx(list, i);
		const char *url = json_object_get_string(v);

		if (!json_object_is_type(v, json_type_string) || strncmp(url, "https://", 8) != 0 ||
		    strlen(url) <= 8 || strlen(url) > URL_MAX || strpbrk(url, " \t\r\n"))
			return skr_fail(err, SKR_R_malformed, "%s: \"%s\" entry \"%.64s\" is not an https:// URL",
					where, field, json_object_is_type(v, json_type_string) ? url : "?");
		urls[*n] = strdup(url);
		if (!urls[(*n)++])
			return skr_fail(err, SKR_R_nomem, "out of memory");
	}
	return 0;
}

/* An optional non-empty string; "path": absolute. */
static int string_field(json_object *obj, const char *field, const char *where, bool path,
			char **out, struct skr_err *err)
{
	json_object *v;
	const char *s;

	if (!json_object_object_get_ex(obj, field, &v))
		return 0;
	s = json_object_get_string(v);
	if (!json_object_is_type(v, json_type_string) || !*s || strlen(s) > PATH_MAX_LEN)
		return skr_fail(err, SKR_R_malformed, "%s: \"%s\" is not a non-empty string", where, field);
	if (path && s[0] != '/')
		return skr_fail(err, SKR_R_malformed, "%s: \"%s\" is not an absolute path", where, field);
	*out = strdup(s);
	return *out ? 0 : skr_fail(err, SKR_R_nomem, "out of memory");
}

static int endpoints(json_object *obj, const char *where, bool required,
		     struct skr_client_endpoints *ep, struct skr_err *err)
{
	if (url_list(obj, "brokers", where, required, ep->brokers, &ep->n_brokers, err) < 0 ||
	    string_field(obj, "ca", where, true, &ep->ca_file, err) < 0)
		return -1;
	if (required && !ep->ca_file)
		return skr_fail(err, SKR_R_malformed, "%s: \"ca\" is missing", where);
	/* The CA decides whom the client trusts: held to the same rule as this file. */
	if (ep->ca_file && skr_client_file_trusted(ep->ca_file, -1, err) < 0) {
		err->reason = err->reason == SKR_R_io ? SKR_R_untrusted_config : err->reason;
		return -1;
	}
	return 0;
}

static bool key_id_ok(const char *id)
{
	size_t n = strlen(id);

	return n > 0 && n < 129 &&
	       strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

static int parse_keys(json_object *obj, struct skr_client_config *c, struct skr_err *err)
{
	static const char *const known[] = { "brokers", "ca", NULL };
	json_object *keys;
	char where[4400];

	if (!json_object_object_get_ex(obj, "keys", &keys))
		return 0;
	if (!json_object_is_type(keys, json_type_object))
		return skr_fail(err, SKR_R_malformed, "%s: \"keys\" is not an object", c->path);
	json_object_object_foreach(keys, id, entry) {
		struct skr_client_key *k;

		snprintf(where, sizeof(where), "%s: keys.%.128s", c->path, id);
		if (!key_id_ok(id))
			return skr_fail(err, SKR_R_malformed, "%s: \"keys\" names \"%.64s\", not a key id",
					c->path, id);
		if (c->n_keys == SKR_CLIENT_CONFIG_MAX_KEYS)
			return skr_fail(err, SKR_R_malformed, "%s: \"keys\" has more than %d entries",
					c->path, SKR_CLIENT_CONFIG_MAX_KEYS);
		if (!json_object_is_type(entry, json_type_object))
			return skr_fail(err, SKR_R_malformed, "%s is not an object", where);
		k = &c->keys[c->n_keys++];
		snprintf(k->key_id, sizeof(k->key_id), "%s", id);
		if (check_fields(entry, known, where, err) < 0 ||
		    endpoints(entry, where, false, &k->ep, err) < 0)
			return -1;
	}
	return 0;
}

/*
 * The EK chain file decides nothing about trust (the broker's ek_roots do),
 * but it goes into the initramfs and every release: held to the CA's rule,
 * and read once here so that a bad file fails the load, naming the field.
 */
static int ek_chain_check(struct skr_client_config *c, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf der = { 0 };

	if (!c->ek_chain)
		return 0;
	if (skr_client_ek_chain_read(c->ek_chain, &der, err) < 0) {
		err->reason = err->reason == SKR_R_io ? SKR_R_untrusted_config : err->reason;
		return -1;
	}
	return 0;
}

/* "gate": "pcr15" (the default) or "disk-tag"; anything else is a mistake, not a default. */
static int parse_gate(json_object *obj, struct skr_client_config *c, struct skr_err *err)
{
	json_object *v;
	const char *s;

	if (!json_object_object_get_ex(obj, "gate", &v))
		return 0;
	s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
	if (!s || (strcmp(s, "pcr15") && strcmp(s, "disk-tag")))
		return skr_fail(err, SKR_R_malformed, "%s: \"gate\" must be \"pcr15\" or \"disk-tag\"",
				c->path);
	c->disk_tag_gate = !strcmp(s, "disk-tag");
	return 0;
}

static int parse(json_object *obj, struct skr_client_config *c, struct skr_err *err)
{
	static const char *const known[] = { "brokers", "ca",	  "tcti", "vcek", "admin",
					     "keys",	"ek_chain", "gate", NULL };

	if (!json_object_is_type(obj, json_type_object))
		return skr_fail(err, SKR_R_malformed, "%s is not a JSON object", c->path);
	if (check_fields(obj, known, c->path, err) < 0 || endpoints(obj, c->path, true, &c->ep, err) < 0 ||
	    string_field(obj, "tcti", c->path, false, &c->tcti, err) < 0 ||
	    string_field(obj, "vcek", c->path, true, &c->vcek, err) < 0 ||
	    url_list(obj, "admin", c->path, false, c->admin, &c->n_admin, err) < 0 ||
	    string_field(obj, "ek_chain", c->path, true, &c->ek_chain, err) < 0 ||
	    parse_keys(obj, c, err) < 0 || ek_chain_check(c, err) < 0 || parse_gate(obj, c, err) < 0)
		return -1;
	if (c->tcti && skr_client_tcti_check(c->tcti, c->path, err) < 0)
		return -1;
	return 0;
}

int skr_client_config_load(const char *path, struct skr_client_config *c, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf text = { 0 };
	json_tokener *tok;
	json_object *obj;
	int rc;

	memset(c, 0, sizeof(*c));
	snprintf(c->path, sizeof(c->path), "%s", path);
	if (read_trusted(path, SKR_CLIENT_CONFIG_MAX_SIZE, "client configuration", &text, err) < 0)
		return -1;
	tok = json_tokener_new();
	obj = tok ? json_tokener_parse_ex(tok, (const char *)text.data, (int)text.len) : NULL;
	if (!obj || json_tokener_get_parse_end(tok) != text.len) {
		size_t end = tok ? json_tokener_get_parse_end(tok) : 0;

		/* Trailing white space is fine, anything else is not. */
		while (obj && end < text.len && strchr(" \t\r\n", text.data[end]))
			end++;
		if (!obj || end != text.len) {
			json_object_put(obj);
			json_tokener_free(tok);
			return skr_fail(err, SKR_R_malformed, "%s is not one JSON object", path);
		}
	}
	json_tokener_free(tok);
	rc = parse(obj, c, err);
	json_object_put(obj);
	if (rc < 0)
		skr_client_config_free(c);
	return rc;
}

static void endpoints_free(struct skr_client_endpoints *ep)
{
	size_t i;

	for (i = 0; i < ep->n_brokers; i++)
		free(ep->brokers[i]);
	free(ep->ca_file);
	memset(ep, 0, sizeof(*ep));
}

void skr_client_config_free(struct skr_client_config *c)
{
	size_t i;

	endpoints_free(&c->ep);
	free(c->tcti);
	free(c->vcek);
	free(c->ek_chain);
	for (i = 0; i < c->n_admin; i++)
		free(c->admin[i]);
	for (i = 0; i < c->n_keys; i++)
		endpoints_free(&c->keys[i].ep);
	memset(c, 0, sizeof(*c));
}

const struct skr_client_endpoints *skr_client_config_for_key(const struct skr_client_config *c,
							     const char *key_id)
{
	static __thread struct skr_client_endpoints merged;
	size_t i;

	for (i = 0; i < c->n_keys; i++) {
		const struct skr_client_endpoints *k = &c->keys[i].ep;

		if (strcmp(c->keys[i].key_id, key_id) != 0)
			continue;
		/* An entry may override only one of the two: the other stays the default. */
		merged = c->ep;
		if (k->n_brokers) {
			memcpy(merged.brokers, k->brokers, sizeof(merged.brokers));
			merged.n_brokers = k->n_brokers;
		}
		if (k->ca_file)
			merged.ca_file = k->ca_file;
		return &merged;
	}
	return &c->ep;
}

int skr_client_config_write(const char *path, const char *const *brokers, size_t n_brokers,
			    const char *ca_file, const char *tcti, const char *const *admin,
			    size_t n_admin, bool disk_tag_gate, struct skr_err *err)
{
	json_object *o = json_object_new_object(), *list = json_object_new_array();
	char tmp[4200];
	const char *text;
	size_t i;
	FILE *f;
	int fd, rc = 0;

	for (i = 0; i < n_brokers; i++)
		json_object_array_add(list, json_object_new_string(brokers[i]));
	json_object_object_add(o, "brokers", list);
	json_object_object_add(o, "ca", json_object_new_string(ca_file));
	if (tcti)
		json_object_object_add(o, "tcti", json_object_new_string(tcti));
	if (n_admin) {
		list = json_object_new_array();
		for (i = 0; i < n_admin; i++)
			json_object_array_add(list, json_object_new_string(admin[i]));
		json_object_object_add(o, "admin", list);
	}
	if (disk_tag_gate)
		json_object_object_add(o, "gate", json_object_new_string("disk-tag"));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
							 JSON_C_TO_STRING_NOSLASHESCAPE);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		if (fd >= 0)
			close(fd);
		json_object_put(o);
		return skr_fail(err, SKR_R_io, "cannot create %s: %s", tmp, strerror(errno));
	}
	if (fchmod(fd, 0644) < 0 || fprintf(f, "%s\n", text) < 0 || fflush(f) != 0 || fsync(fd) < 0)
		rc = skr_fail(err, SKR_R_io, "cannot write %s", tmp);
	if (fclose(f) != 0 && rc == 0)
		rc = skr_fail(err, SKR_R_io, "cannot write %s", tmp);
	json_object_put(o);
	/* link(2) rather than rename(2): an existing configuration is never replaced. */
	if (rc == 0 && link(tmp, path) < 0)
		rc = skr_fail(err, SKR_R_io, "cannot create %s: %s", path, strerror(errno));
	unlink(tmp);
	return rc;
}
