/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client configuration (client_config.h) and the token's schema
 * (token.h): nothing a LUKS2 header says reaches the release options; the
 * configuration is refused when anyone but root could have written it, or
 * when it names a TPM driver other than device:, swtpm:, mssim:.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/pem.h>

#include "vm/client_config.h"
#include "testutil.h"
#include "luks/token.h"
#include "softtl.h"

struct fx {
	char dir[64], ca[128], path[128];
};

static void put(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

/* Writes the configuration; %CA% in text becomes the fixture's CA path. */
static void config(struct fx *f, const char *text)
{
	char buf[4096], *at;

	snprintf(buf, sizeof(buf), "%s", text);
	while ((at = strstr(buf, "%CA%"))) {
		char rest[4096];

		snprintf(rest, sizeof(rest), "%s", at + 4);
		snprintf(at, sizeof(buf) - (size_t)(at - buf), "%s%s", f->ca, rest);
	}
	put(f->path, buf, 0644);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/skr-client-config.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->ca, sizeof(f->ca), "%s/ca.pem", f->dir);
	snprintf(f->path, sizeof(f->path), "%s/client.json", f->dir);
	put(f->ca, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", 0644);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	unlink(f->path);
	unlink(f->ca);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void loads_and_merges_keys(void **state)
{
	struct fx *f = *state;
	struct skr_client_config c;
	struct skr_err err = { 0 };
	const struct skr_client_endpoints *ep;

	config(f, "{\"brokers\": [\"https://a:8443\", \"https://b:8443\"], \"ca\": \"%CA%\", "
		  "\"tcti\": \"swtpm:host=127.0.0.1,port=2321\", \"vcek\": \"/var/lib/skr/vcek.der\", "
		  "\"admin\": [\"https://a:8444\"], "
		  "\"keys\": {\"data-1\": {\"brokers\": [\"https://c:8443\"]}}}\n");
	assert_ok(skr_client_config_load(f->path, &c, &err), err);
	assert_int_equal(c.ep.n_brokers, 2);
	assert_string_equal(c.ep.ca_file, f->ca);
	assert_string_equal(c.tcti, "swtpm:host=127.0.0.1,port=2321");
	assert_string_equal(c.vcek, "/var/lib/skr/vcek.der");
	assert_int_equal(c.n_admin, 1);
	ep = skr_client_config_for_key(&c, "data-1");
	assert_int_equal(ep->n_brokers, 1);
	assert_string_equal(ep->brokers[0], "https://c:8443");
	assert_string_equal(ep->ca_file, f->ca);	/* not overridden: the default */
	ep = skr_client_config_for_key(&c, "root-1");
	assert_int_equal(ep->n_brokers, 2);
	skr_client_config_free(&c);
}

static void release_opts_never_from_the_token(void **state)
{
	struct fx *f = *state;
	struct skr_client_config c;
	struct skr_err err = { 0 };
	struct skr_release_opts o;
	struct skr_token t;

	config(f, "{\"brokers\": [\"https://good:8443\"], \"ca\": \"%CA%\"}");
	assert_ok(skr_client_config_load(f->path, &c, &err), err);
	/* A v1 token naming the attacker's broker, CA, a cmd: TCTI and a file. */
	assert_ok(skr_token_parse("{\"type\": \"skr\", \"keyslots\": [\"1\"], \"skr_version\": 1, "
				  "\"key_id\": \"disk-1\", \"brokers\": [\"https://evil:1\"], "
				  "\"ca\": \"-----BEGIN CERTIFICATE-----\", \"tcti\": \"cmd:touch /tmp/x\", "
				  "\"vcek\": \"/etc/shadow\", \"pcrs\": [7], \"timeout\": 9}",
				  &t, &err),
		  err);
	assert_true(t.v1_ignored);
	assert_int_equal(t.version, 1);
	skr_token_release_opts(&t, &c, 0, &o);
	assert_string_equal(o.key_id, "disk-1");
	assert_int_equal(o.n_brokers, 1);
	assert_string_equal(o.brokers[0], "https://good:8443");
	assert_string_equal(o.ca_file, f->ca);
	assert_null(o.ca_pem);
	assert_null(o.tcti);
	assert_null(o.vcek_file);
	assert_int_equal(o.pcr_mask, 1u << 7);
	assert_int_equal(o.deadline_ms, 9000);
	skr_token_free(&t);
	skr_client_config_free(&c);
}

static void token_v2_schema(void **state)
{
	struct skr_err err = { 0 };
	struct skr_token t;
	char *json;

	(void)state;
	assert_ok(skr_token_parse("{\"type\": \"skr\", \"keyslots\": [\"2\"], \"skr_version\": 2, "
				  "\"key_id\": \"disk-2\", \"pcrs\": [4, 7], \"timeout\": 30}", &t, &err),
		  err);
	assert_false(t.v1_ignored);
	json = skr_token_to_json(&t);
	assert_non_null(strstr(json, "\"skr_version\":2"));
	assert_null(strstr(json, "brokers"));
	free(json);
	skr_token_free(&t);
	/* Version 2 has no endpoint fields: naming one is an unknown field. */
	assert_failed_with(skr_token_parse("{\"type\": \"skr\", \"keyslots\": [\"2\"], \"skr_version\": 2, "
					   "\"key_id\": \"d\", \"tcti\": \"cmd:x\"}", &t, &err),
			   err, SKR_R_malformed, "unknown field \"tcti\"");
	memset(&err, 0, sizeof(err));
	assert_failed_with(skr_token_parse("{\"type\": \"skr\", \"keyslots\": [\"2\"], \"skr_version\": 3, "
					   "\"key_id\": \"d\"}", &t, &err),
			   err, SKR_R_unsupported, "skr_version");
	memset(&err, 0, sizeof(err));
	assert_failed_with(skr_token_parse("{\"type\": \"skr\", \"keyslots\": [\"2\"], \"skr_version\": 2, "
					   "\"key_id\": \"../../etc/x\"}", &t, &err),
			   err, SKR_R_malformed, "key_id");
}

static void refused(struct fx *f, const char *text, enum skr_reason want, const char *detail)
{
	struct skr_client_config c;
	struct skr_err err = { 0 };

	config(f, text);
	assert_failed_with(skr_client_config_load(f->path, &c, &err), err, want, detail);
}

static void refuses_bad_fields(void **state)
{
	struct fx *f = *state;

	refused(f, "{\"brokers\": [\"https://a\"], \"ca\": \"%CA%\", \"colour\": 1}", SKR_R_malformed,
	     "unknown field \"colour\"");
	refused(f, "{\"ca\": \"%CA%\"}", SKR_R_malformed, "\"brokers\" is missing");
	refused(f, "{\"brokers\": [\"http://a\"], \"ca\": \"%CA%\"}", SKR_R_malformed,
	     "\"brokers\" entry \"http://a\" is not an https:// URL");
	refused(f, "{\"brokers\": [], \"ca\": \"%CA%\"}", SKR_R_malformed, "\"brokers\" must list 1 to 8");
	refused(f, "{\"brokers\": [\"https://a\"]}", SKR_R_malformed, "\"ca\" is missing");
	refused(f, "{\"brokers\": [\"https://a\"], \"ca\": \"ca.pem\"}", SKR_R_malformed,
	     "\"ca\" is not an absolute path");
	refused(f, "{\"brokers\": [\"https://a\"], \"ca\": \"%CA%\", \"keys\": {\"k\": {\"tcti\": \"x\"}}}",
	     SKR_R_malformed, "keys.k: unknown field \"tcti\"");
	refused(f, "{\"brokers\": [\"https://a\"], \"ca\": \"%CA%\"} trailing", SKR_R_malformed,
	     "not one JSON object");
	refused(f, "[]", SKR_R_malformed, "not a JSON object");
	refused(f, "{\"brokers\": [\"https://a\"], \"ca\": \"%CA%\", \"gate\": \"none\"}",
		SKR_R_malformed, "\"gate\" must be \"pcr15\" or \"disk-tag\"");
	refused(f, "{\"brokers\": [\"https://a\"], \"ca\": \"%CA%\", \"gate\": true}",
		SKR_R_malformed, "\"gate\" must be");
}

/* "gate": bare SEV-SNP's disk-tag gate on every boot, or the PCR 15 default. */
static void gate_field(void **state)
{
	struct fx *f = *state;
	struct skr_client_config c;
	struct skr_err err = { 0 };

	config(f, "{\"brokers\": [\"https://a\"], \"ca\": \"%CA%\", \"gate\": \"disk-tag\"}");
	assert_ok(skr_client_config_load(f->path, &c, &err), err);
	assert_true(c.disk_tag_gate);
	skr_client_config_free(&c);
	config(f, "{\"brokers\": [\"https://a\"], \"ca\": \"%CA%\", \"gate\": \"pcr15\"}");
	assert_ok(skr_client_config_load(f->path, &c, &err), err);
	assert_false(c.disk_tag_gate);
	skr_client_config_free(&c);
	config(f, "{\"brokers\": [\"https://a\"], \"ca\": \"%CA%\"}");
	assert_ok(skr_client_config_load(f->path, &c, &err), err);
	assert_false(c.disk_tag_gate);
	skr_client_config_free(&c);
}

static void refuses_untrusted(void **state)
{
	struct fx *f = *state;
	struct skr_client_config c;
	struct skr_err err = { 0 };
	static const char *const bad[] = { "cmd:touch /tmp/pwned", "libtss2-tcti-evil.so", "/tmp/x.so",
					   "tabrmd:", "devicex:/dev/tpm0" };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[512];

		snprintf(text, sizeof(text), "{\"brokers\": [\"https://a\"], \"ca\": \"%%CA%%\", \"tcti\": \"%s\"}",
			 bad[i]);
		refused(f, text, SKR_R_untrusted_config, "is not a device:, swtpm: or mssim: TPM");
	}
	assert_ok(skr_client_tcti_check("device:/dev/tpmrm0", "t", &err), err);
	assert_ok(skr_client_tcti_check("mssim", "t", &err), err);
	/* Group- or world-writable, the file or its CA: refused. */
	config(f, "{\"brokers\": [\"https://a\"], \"ca\": \"%CA%\"}");
	assert_int_equal(chmod(f->path, 0664), 0);
	assert_failed_with(skr_client_config_load(f->path, &c, &err), err, SKR_R_untrusted_config,
			   "writable by its group or by everyone (mode 0664)");
	assert_int_equal(chmod(f->path, 0644), 0);
	assert_int_equal(chmod(f->ca, 0646), 0);
	memset(&err, 0, sizeof(err));
	assert_failed_with(skr_client_config_load(f->path, &c, &err), err, SKR_R_untrusted_config,
			   "ca.pem is writable");
	assert_int_equal(chmod(f->ca, 0644), 0);
	/* Another owner (the tests run as root: chown works). */
	if (geteuid() == 0) {
		assert_int_equal(chown(f->path, 65534, 0), 0);
		memset(&err, 0, sizeof(err));
		assert_failed_with(skr_client_config_load(f->path, &c, &err), err, SKR_R_untrusted_config,
				   "owned by uid 65534");
		assert_int_equal(chown(f->path, 0, 0), 0);
	}
	/* A missing CA: the configuration cannot be trusted to name it. */
	unlink(f->ca);
	memset(&err, 0, sizeof(err));
	assert_failed_with(skr_client_config_load(f->path, &c, &err), err, SKR_R_untrusted_config, "ca.pem");
	put(f->ca, "-----BEGIN CERTIFICATE-----\n", 0644);
	/* A missing configuration is io (enroll writes one). */
	unlink(f->path);
	memset(&err, 0, sizeof(err));
	assert_failed_with(skr_client_config_load(f->path, &c, &err), err, SKR_R_io,
			   "no client configuration");
}

static void write_never_replaces(void **state)
{
	struct fx *f = *state;
	const char *brokers[] = { "https://a:8443" }, *admin[] = { "https://a:8444" };
	struct skr_client_config c;
	struct skr_err err = { 0 };

	unlink(f->path);
	assert_ok(skr_client_config_write(f->path, brokers, 1, f->ca, "device:/dev/tpmrm0", admin, 1,
					  true, &err),
		  err);
	assert_ok(skr_client_config_load(f->path, &c, &err), err);
	assert_true(c.disk_tag_gate);
	assert_string_equal(c.ep.brokers[0], "https://a:8443");
	assert_string_equal(c.admin[0], "https://a:8444");
	assert_string_equal(c.tcti, "device:/dev/tpmrm0");
	skr_client_config_free(&c);
	assert_failed_with(skr_client_config_write(f->path, brokers, 1, f->ca, NULL, NULL, 0, false, &err), err,
			   SKR_R_io, "File exists");
}

/* Two CA certificates as PEM in path (mode), their DER concatenated in der. */
static void chain_file(const char *path, mode_t mode, struct skr_buf *der)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *root = skr_softtl_make_cert("EK Root", key, NULL, key, true, -60, 86400);
	X509 *ica = skr_softtl_make_cert("EK Intermediate", key, root, key, true, -60, 86400);
	FILE *f = fopen(path, "w");
	uint8_t *p;

	assert_non_null(f);
	assert_true(PEM_write_X509(f, ica) && PEM_write_X509(f, root));
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
	der->len = (size_t)i2d_X509(ica, NULL) + (size_t)i2d_X509(root, NULL);
	der->data = p = malloc(der->len);
	assert_non_null(p);
	i2d_X509(ica, &p);
	i2d_X509(root, &p);
	X509_free(ica);
	X509_free(root);
	EVP_PKEY_free(key);
}

/* "ek_chain": a trusted PEM file of certificates, sent as DER; anything else refused by name. */
static void ek_chain_field(void **state)
{
	struct fx *f = *state;
	struct skr_client_config c;
	struct skr_err err = { 0 };
	struct skr_buf want = { 0 }, got = { 0 };
	struct skr_release_opts o;
	struct skr_token t;
	char chain[160], text[512];

	snprintf(chain, sizeof(chain), "%s/ek-chain.pem", f->dir);
	chain_file(chain, 0644, &want);
	snprintf(text, sizeof(text), "{\"brokers\": [\"https://a:8443\"], \"ca\": \"%%CA%%\", "
		 "\"ek_chain\": \"%s\"}", chain);
	config(f, text);
	assert_ok(skr_client_config_load(f->path, &c, &err), err);
	assert_string_equal(c.ek_chain, chain);
	assert_ok(skr_token_parse("{\"type\": \"skr\", \"keyslots\": [\"1\"], \"skr_version\": 2, "
				  "\"key_id\": \"disk-1\"}", &t, &err), err);
	skr_token_release_opts(&t, &c, 0, &o);
	assert_string_equal(o.ek_chain_file, chain);
	skr_token_free(&t);
	skr_client_config_free(&c);
	assert_ok(skr_client_ek_chain_read(chain, &got, &err), err);
	assert_int_equal(got.len, want.len);
	assert_memory_equal(got.data, want.data, want.len);
	skr_buf_free(&got);
	skr_buf_free(&want);

	/* Not certificates: refused at the load, the detail naming the field. */
	put(chain, "garbage, not PEM\n", 0644);
	err = (struct skr_err){ 0 };
	assert_failed_with(skr_client_config_load(f->path, &c, &err), err, SKR_R_malformed,
			   "ek-chain.pem: no PEM certificate");
	chain_file(chain, 0644, &want);
	skr_buf_free(&want);
	{
		FILE *a = fopen(chain, "a");

		assert_non_null(a);
		fputs("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n", a);
		fclose(a);
	}
	err = (struct skr_err){ 0 };
	assert_failed_with(skr_client_config_load(f->path, &c, &err), err, SKR_R_malformed,
			   "ek-chain.pem: bad PEM after the last certificate");
	/* The CA file's trust rule, and a missing file is as untrusted as a missing CA. */
	chain_file(chain, 0664, &want);
	skr_buf_free(&want);
	err = (struct skr_err){ 0 };
	assert_failed_with(skr_client_config_load(f->path, &c, &err), err, SKR_R_untrusted_config,
			   "ek-chain.pem is writable by its group or by everyone");
	unlink(chain);
	err = (struct skr_err){ 0 };
	assert_failed_with(skr_client_config_load(f->path, &c, &err), err, SKR_R_untrusted_config,
			   "no EK chain file /tmp/");
	/* Bounded: a file over SKR_CLIENT_EK_CHAIN_FILE_MAX is not read through. */
	{
		FILE *big = fopen(chain, "w");
		size_t i;

		assert_non_null(big);
		for (i = 0; i <= SKR_CLIENT_EK_CHAIN_FILE_MAX / 32; i++)
			fputs("# ............................................................\n", big);
		fclose(big);
	}
	err = (struct skr_err){ 0 };
	assert_failed_with(skr_client_config_load(f->path, &c, &err), err, SKR_R_malformed,
			   "ek-chain.pem is larger than");
	unlink(chain);
	config(f, "{\"brokers\": [\"https://a:8443\"], \"ca\": \"%CA%\", \"ek_chain\": \"chain.pem\"}");
	err = (struct skr_err){ 0 };
	assert_failed_with(skr_client_config_load(f->path, &c, &err), err, SKR_R_malformed,
			   "\"ek_chain\" is not an absolute path");
}

static void path_precedence(void **state)
{
	(void)state;
	unsetenv("SKR_CONFIG");
	assert_string_equal(skr_client_config_path(NULL), SKR_CLIENT_CONFIG_DEFAULT);
	setenv("SKR_CONFIG", "/x/env.json", 1);
	assert_string_equal(skr_client_config_path(NULL), "/x/env.json");
	assert_string_equal(skr_client_config_path("/x/cli.json"), "/x/cli.json");
	unsetenv("SKR_CONFIG");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(loads_and_merges_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(release_opts_never_from_the_token, setup, teardown),
		cmocka_unit_test(token_v2_schema),
		cmocka_unit_test_setup_teardown(refuses_bad_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_untrusted, setup, teardown),
		cmocka_unit_test_setup_teardown(write_never_replaces, setup, teardown),
		cmocka_unit_test_setup_teardown(gate_field, setup, teardown),
		cmocka_unit_test(path_precedence),
		cmocka_unit_test_setup_teardown(ek_chain_field, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
