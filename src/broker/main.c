/* SPDX-License-Identifier: Apache-2.0 */
/*
 * skr-broker: the HTTPS key broker.  Reads one JSON configuration file (see
 * the README section "skr-broker"), opens the store, loads the AMD trust
 * anchors, starts the release and admin listeners, and runs until SIGTERM;
 * SIGHUP reloads the TLS certificate and key without dropping a connection.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "broker/broker.h"
#include "broker/http.h"
#include "common/secret.h"
#include "common/util.h"

#define BROKER_USAGE                                                             \
	"usage: skr-broker --config FILE [--port-file FILE]\n"                      \
	"       skr-broker rotate-master-key --config FILE --new-master-key FILE\n" \
	"                  [--check] [--json]\n"                                     \
	"\n"                                                                         \
	"Releases LUKS keys to attested AMD SEV-SNP (Azure vTPM) confidential VMs.\n" \
	"The configuration is JSON; see the skr README, section skr-broker.\n"       \
	"  --config FILE     configuration file (e.g. /etc/skr/broker.json)\n"      \
	"  --port-file FILE  write \"RELEASE_PORT ADMIN_PORT\" once listening\n"     \
	"  --help            this text\n"                                            \
	"SIGHUP reloads the TLS certificate and key; open connections stay.\n"      \
	"\n"                                                                         \
	"rotate-master-key reseals every secret under the master key in\n"          \
	"--new-master-key (offline: refused while a broker has the database open).\n" \
	"Interrupted, it leaves each secret under the old or the new key; run it\n" \
	"again to finish.  Then set \"master_key\" to the new file.\n"              \
	"  --check           only count which key opens each secret; write nothing\n" \
	"  --json            the result as JSON\n"

#define MAX_ANCHOR_FILES 16
#define DEFAULT_CHECKPOINT_INTERVAL 300	/* seconds between audit checkpoints */

struct config {
	json_object *root;
	const char *listen, *admin_listen, *tls_cert, *tls_key, *database, *master_key;
	const char *admin_token_file, *nonce_secret_file, *vcek_cache_dir;
	const char *ak_roots, *ak_intermediates;	/* azure-tl: PEM files */
	const char *ek_roots, *ek_intermediates;	/* tpm: PEM files */
	const char *anchors[MAX_ANCHOR_FILES];
	size_t n_anchors;
	const char *tls_priorities;
	const char *audit_signing_key;
	unsigned checkpoint_interval;
	unsigned threads, nonce_ttl;
	unsigned connection_limit, per_client_limit, timeout;
};

static const char *cfg_string(json_object *root, const char *key, bool required,
			      struct skr_err *err)
{
	json_object *v;

	if (!json_object_object_get_ex(root, key, &v)) {
		if (required)
			skr_fail(err, SKR_R_usage, "configuration lacks \"%s\"", key);
		return NULL;
	}
	if (!json_object_is_type(v, json_type_string)) {
		skr_fail(err, SKR_R_usage, "configuration \"%s\" is not a string", key);
		return NULL;
	}
	return json_object_get_string(v);
}

static unsigned cfg_uint(json_object *root, const char *key, unsigned def, unsigned max)
{
	json_object *v;
	int64_t n;

	if (!json_object_object_get_ex(root, key, &v))
		return def;
	n = json_object_get_int64(v);
	return n >= 1 && n <= max ? (unsigned)n : def;
}

static int load_config(const char *path, struct config *c, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf text = { 0 };
	json_object *anchors;
	size_t i;

	if (skr_read_file(path, 1u << 20, &text, err) < 0)
		return -1;
	c->root = json_tokener_parse((const char *)text.data);
	if (!c->root || !json_object_is_type(c->root, json_type_object))
		return skr_fail(err, SKR_R_usage, "%s is not a JSON object", path);
	c->listen = cfg_string(c->root, "listen", true, err);
	c->admin_listen = cfg_string(c->root, "admin_listen", true, err);
	c->tls_cert = cfg_string(c->root, "tls_cert", true, err);
	c->tls_key = cfg_string(c->root, "tls_key", true, err);
	c->database = cfg_string(c->root, "database", true, err);
	c->master_key = cfg_string(c->root, "master_key", true, err);
	c->admin_token_file = cfg_string(c->root, "admin_token_file", true, err);
	c->nonce_secret_file = cfg_string(c->root, "nonce_secret_file", false, err);
	c->vcek_cache_dir = cfg_string(c->root, "vcek_cache_dir", false, err);
	c->ak_roots = cfg_string(c->root, "ak_roots", false, err);
	c->ak_intermediates = cfg_string(c->root, "ak_intermediates", false, err);
	c->ek_roots = cfg_string(c->root, "ek_roots", false, err);
	c->ek_intermediates = cfg_string(c->root, "ek_intermediates", false, err);
	c->threads = cfg_uint(c->root, "threads", 2, 256);
	c->nonce_ttl = cfg_uint(c->root, "nonce_ttl", 120, 3600);
	c->tls_priorities = cfg_string(c->root, "tls_priorities", false, err);
	c->audit_signing_key = cfg_string(c->root, "audit_signing_key", false, err);
	c->checkpoint_interval = cfg_uint(c->root, "audit_checkpoint_interval",
					  DEFAULT_CHECKPOINT_INTERVAL, 86400);
	c->connection_limit = cfg_uint(c->root, "connection_limit", SKR_HTTP_CONNECTION_LIMIT, 65536);
	c->per_client_limit = cfg_uint(c->root, "per_client_connections", SKR_HTTP_PER_CLIENT_LIMIT,
				       65536);
	c->timeout = cfg_uint(c->root, "connection_timeout", SKR_HTTP_TIMEOUT, 3600);
	if (json_object_object_get_ex(c->root, "trust_anchors", &anchors)) {
		if (!json_object_is_type(anchors, json_type_array) ||
		    json_object_array_length(anchors) > MAX_ANCHOR_FILES)
			return skr_fail(err, SKR_R_usage, "\"trust_anchors\" is not a list of files");
		for (i = 0; i < json_object_array_length(anchors); i++)
			c->anchors[c->n_anchors++] =
				json_object_get_string(json_object_array_get_idx(anchors, i));
	}
	return err->reason == SKR_R_ok ? 0 : -1;
}

/* The admin token and nonce secret files: secret.h's rule and reader. */
#define PRIVATE_FILE_MAX 4096

/* The admin token file holds the token; only its SHA-256 stays in memory. */
static int load_admin_token(const char *path, uint8_t out[32], struct skr_err *err)
{
	_cleanup_secret_ uint8_t *token = NULL;
	size_t len;

	if (skr_secret_read_file(path, PRIVATE_FILE_MAX, "admin token", &token, err) < 0)
		return -1;
	len = strcspn((const char *)token, "\r\n");
	if (len < 16)
		return skr_fail(err, SKR_R_usage, "admin token in %s is shorter than 16 characters",
				path);
	EVP_Digest(token, len, out, NULL, EVP_sha256(), NULL);
	return 0;
}

/*
 * Replicas share the nonce secret through this file; without it, a random
 * one.  Either way it lives in a secret of SKR_NONCE_SECRET_SIZE bytes.
 */
static int load_nonce_secret(const char *path, uint8_t **out, struct skr_err *err)
{
	_cleanup_secret_ uint8_t *raw = NULL;

	*out = skr_secret_alloc(SKR_NONCE_SECRET_SIZE);
	if (!*out)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	if (!path)
		return RAND_bytes(*out, SKR_NONCE_SECRET_SIZE) == 1
			       ? 0 : skr_fail(err, SKR_R_nomem, "no randomness");
	if (skr_secret_read_file(path, PRIVATE_FILE_MAX, "nonce secret", &raw, err) < 0)
		return -1;
	if (skr_secret_size(raw) < SKR_NONCE_SECRET_SIZE)
		return skr_fail(err, SKR_R_usage, "nonce secret %s is shorter than 32 bytes", path);
	EVP_Digest(raw, skr_secret_size(raw), *out, NULL, EVP_sha256(), NULL);
	return 0;
}

static int load_trust(const struct config *c, struct skr_amd_trust *t, struct skr_err *err)
{
	size_t i;

	if (skr_amd_trust_init(t, true, err) < 0)
		return -1;
	for (i = 0; i < c->n_anchors; i++) {
		_cleanup_buf_ struct skr_buf pem = { 0 };

		if (!c->anchors[i] || skr_read_file(c->anchors[i], 1u << 20, &pem, err) < 0 ||
		    skr_amd_trust_add_pem(t, pem.data, pem.len, err) < 0)
			return skr_fail(err, SKR_R_usage, "trust anchor %s: %s",
					c->anchors[i] ? c->anchors[i] : "?", err->detail);
	}
	return 0;
}

static int broker_init(const struct config *c, struct skr_broker *b, struct skr_err *err)
{
	b->nonce_ttl = c->nonce_ttl;
	b->vcek_cache_dir = c->vcek_cache_dir;
	if (load_admin_token(c->admin_token_file, b->admin_token_sha256, err) < 0 ||
	    load_nonce_secret(c->nonce_secret_file, &b->nonce_secret, err) < 0 ||
	    load_trust(c, &b->trust, err) < 0 ||
	    (c->audit_signing_key &&
	     skr_audit_signing_key_load(c->audit_signing_key, &b->audit_key, err) < 0))
		return -1;
	/* azure-tl: a configured file that cannot be read stops the broker (its path named). */
	if (skr_akcert_trust_new(c->ak_roots, c->ak_intermediates, &b->ak_trust, err) < 0)
		return -1;
	/* tpm: nothing is built in; without ek_roots a tpm key is refused at its challenge. */
	if (c->ek_roots &&
	    skr_ekcert_trust_new(c->ek_roots, c->ek_intermediates, &b->ek_trust, err) < 0)
		return -1;
	if (!c->ek_roots && c->ek_intermediates)
		return skr_fail(err, SKR_R_usage, "\"ek_intermediates\" needs \"ek_roots\"");
	return skr_store_open(c->database, c->master_key, &b->store, err);
}

static void broker_fini(struct skr_broker *b)
{
	EVP_PKEY_free(b->audit_key);
	b->audit_key = NULL;
	skr_store_close(b->store);
	skr_amd_trust_free(&b->trust);
	skr_akcert_trust_free(b->ak_trust);
	b->ak_trust = NULL;
	skr_akcert_trust_free(b->ek_trust);
	b->ek_trust = NULL;
	skr_nonce_seen_free(&b->seen);
	skr_chain_cache_free(&b->chain_cache);
	skr_key_cache_free(&b->key_cache);
	skr_secret_free(b->nonce_secret);
	b->nonce_secret = NULL;
}

/*
 * The TLS certificate and key files, read as at start.  The TLS key goes into
 * secret memory but is not held to the secret file rule: keys shared through
 * a group (Debian's ssl-cert) are common.
 */
static int read_tls_pair(const struct config *c, struct skr_buf *cert, uint8_t **key,
			 struct skr_err *err)
{
	return skr_read_file(c->tls_cert, 1u << 20, cert, err) < 0 ||
	       skr_secret_read_input(c->tls_key, 1u << 20, "TLS key", key, err) < 0 ? -1 : 0;
}

static int start_listeners(const struct config *c, struct skr_broker *b,
			   struct skr_listener **rel, struct skr_listener **adm, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf cert = { 0 };
	_cleanup_secret_ uint8_t *key = NULL;
	struct skr_listener_opts o = {
		.threads = c->threads,
		.tls_priorities = c->tls_priorities,
		.connection_limit = c->connection_limit,
		.per_client_limit = c->per_client_limit,
		.timeout = c->timeout,
	};
	int rc;

	if (read_tls_pair(c, &cert, &key, err) < 0)
		return -1;
	o.cert_pem = (const char *)cert.data;
	o.key_pem = (const char *)key;
	o.address = c->listen;
	rc = skr_listener_start(b, &o, rel, err);
	if (rc == 0) {
		o.address = c->admin_listen;
		o.admin = true;
		o.threads = 1;
		rc = skr_listener_start(b, &o, adm, err);
	}
	return rc;
}

/* The certificate's SHA-256 fingerprint in hex (what openssl x509 -fingerprint shows). */
static void cert_fingerprint(const struct skr_buf *pem, char out[65])
{
	_cleanup_(BIO_freep) BIO *bio = BIO_new_mem_buf(pem->data, (int)pem->len);
	_cleanup_(X509_freep) X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	uint8_t md[32];
	unsigned n = 0, i;

	snprintf(out, 65, "unknown");
	if (x && X509_digest(x, EVP_sha256(), md, &n) == 1 && n == sizeof(md))
		for (i = 0; i < n; i++)
			snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/*
 * SIGHUP: the certificate and key files again, for both listeners.  A pair
 * that cannot be read or is refused leaves both listeners as they were (the
 * release listener is tried first; the admin one gets the same pair, so it
 * is refused there only for want of resources, and then says so).
 */
static void reload_tls(const struct config *c, struct skr_listener *rel, struct skr_listener *adm)
{
	_cleanup_buf_ struct skr_buf cert = { 0 };
	_cleanup_secret_ uint8_t *key = NULL;
	struct skr_err err = { 0 };
	char fp[65];

	if (read_tls_pair(c, &cert, &key, &err) < 0 ||
	    skr_listener_reload(rel, (const char *)cert.data, (const char *)key, &err) < 0) {
		fprintf(stderr, "skr-broker: SIGHUP: new TLS certificate/key refused, the old one "
			"stays in use: %s: %s\n", skr_reason_name(err.reason), err.detail);
		return;
	}
	cert_fingerprint(&cert, fp);
	if (skr_listener_reload(adm, (const char *)cert.data, (const char *)key, &err) < 0)
		fprintf(stderr, "skr-broker: SIGHUP: admin listener keeps the old TLS certificate: "
			"%s: %s\n", skr_reason_name(err.reason), err.detail);
	fprintf(stderr, "skr-broker: SIGHUP: TLS certificate %s (SHA-256 %s) serves new "
		"connections; open ones finish on the old one\n", c->tls_cert, fp);
}

static int write_port_file(const char *path, unsigned rel, unsigned adm)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	fprintf(f, "%u %u\n", rel, adm);
	if (fclose(f) != 0)
		return -1;
	return rename(tmp, path);	/* readers never see a half-written file */
}

/* A checkpoint of the audit chain, when the key is configured; a failure is said, not fatal. */
static void checkpoint(struct skr_broker *b, bool always)
{
	struct skr_err err = { 0 };

	if (skr_broker_checkpoint(b, always, &err) < 0)
		fprintf(stderr, "skr-broker: audit checkpoint failed (next try in the next period): "
				"%s: %s\n", skr_reason_name(err.reason), err.detail);
}

static time_t monotonic_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/*
 * The main thread's loop: the signals are blocked in every thread and taken
 * here with sigtimedwait, so a reload runs as ordinary code, never in a
 * signal handler.  While old daemons drain it wakes each second to stop the
 * ones that are done; with an audit signing key it wakes for each
 * checkpoint too (on the monotonic clock: a clock jump neither skips nor
 * floods them).
 */
static void serve(const struct config *c, struct skr_broker *b, const sigset_t *set,
		  struct skr_listener *rel, struct skr_listener *adm)
{
	time_t next = monotonic_s() + c->checkpoint_interval;
	unsigned draining = 0;
	int sig;

	for (;;) {
		time_t now = monotonic_s(), left = next > now ? next - now : 0;
		struct timespec wait = { .tv_sec = 1 };

		if (b->audit_key && (!draining || left < 1))
			wait.tv_sec = left;
		sig = draining || b->audit_key ? sigtimedwait(set, NULL, &wait)
					       : sigwaitinfo(set, NULL);
		if (sig == SIGTERM || sig == SIGINT)
			return;
		if (sig == SIGHUP)
			reload_tls(c, rel, adm);
		if (b->audit_key && monotonic_s() >= next) {
			checkpoint(b, false);
			next = monotonic_s() + c->checkpoint_interval;
		}
		now = monotonic_s();
		draining = skr_listener_drain(rel, now) + skr_listener_drain(adm, now);
	}
}

static void rotation_print(const struct skr_store_rotation *r, bool check, bool json,
			   const char *config_path, const char *new_key)
{
	if (json) {
		printf("{\"keys\": %u, \"under_old\": %u, \"under_new\": %u, \"resealed\": %u, "
		       "\"resumed\": %s, \"done_before\": %s, \"check_only\": %s}\n", r->keys,
		       r->under_old, r->under_new, r->resealed, r->resumed ? "true" : "false",
		       r->done_before ? "true" : "false", check ? "true" : "false");
		return;
	}
	if (r->done_before)
		printf("nothing to do: the database's master key is %s already\n", new_key);
	else if (check)
		printf("%u keys: %u open under the old master key, %u under the new one%s\n",
		       r->keys, r->under_old, r->under_new,
		       r->under_new ? " (an interrupted rotation: run it again to finish)" : "");
	else
		printf("%s: %u keys, %u resealed now, %u under the new key already\n"
		       "now set \"master_key\" in %s to %s, then start the brokers\n",
		       r->resumed ? "rotation resumed and finished" : "rotation finished", r->keys,
		       r->resealed, r->under_new, config_path, new_key);
}

/* skr-broker rotate-master-key: store.h's skr_store_rotate_master_key. */
static int rotate_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "new-master-key", required_argument, NULL, 'n' },
		{ "check", no_argument, NULL, 'k' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *config_path = NULL, *new_key = NULL;
	struct skr_store_rotation r;
	struct config c = { 0 };
	struct skr_err err = { 0 };
	bool check = false, json = false;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'c')
			config_path = optarg;
		else if (opt == 'n')
			new_key = optarg;
		else if (opt == 'k')
			check = true;
		else if (opt == 'j')
			json = true;
		else {
			fputs(BROKER_USAGE, opt == 'h' ? stdout : stderr);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (!config_path || !new_key || optind != argc) {
		fputs(BROKER_USAGE, stderr);
		return 2;
	}
	rc = load_config(config_path, &c, &err) < 0 ||
	     skr_store_rotate_master_key(c.database, c.master_key, new_key, check, &r, &err) < 0;
	if (rc)
		fprintf(stderr, "skr-broker: rotate-master-key: %s: %s\n",
			skr_reason_name(err.reason), err.detail);
	else
		rotation_print(&r, check, json, config_path, new_key);
	json_object_put(c.root);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "port-file", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *config_path = NULL, *port_file = NULL;
	struct skr_listener *rel = NULL, *adm = NULL;
	struct config c = { 0 };
	struct skr_broker b = { 0 };
	struct skr_err err = { 0 };
	sigset_t set;
	int opt, rc = 1;

	if (argc > 1 && !strcmp(argv[1], "rotate-master-key"))
		return rotate_main(argc - 1, argv + 1);
	while ((opt = getopt_long(argc, argv, "c:p:h", opts, NULL)) != -1) {
		if (opt == 'c')
			config_path = optarg;
		else if (opt == 'p')
			port_file = optarg;
		else {
			fputs(BROKER_USAGE, opt == 'h' ? stdout : stderr);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (!config_path || optind != argc) {
		fputs(BROKER_USAGE, stderr);
		return 2;
	}
	/* Block the signals before threads start so only serve() sees them. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Every release holds its secret in locked pages: reuse them per thread. */
	skr_secret_cache_enable();
	skr_nonce_seen_init(&b.seen);
	skr_chain_cache_init(&b.chain_cache);
	skr_key_cache_init(&b.key_cache);
	if (load_config(config_path, &c, &err) < 0 || broker_init(&c, &b, &err) < 0 ||
	    start_listeners(&c, &b, &rel, &adm, &err) < 0) {
		fprintf(stderr, "skr-broker: %s: %s\n", skr_reason_name(err.reason), err.detail);
		goto out;
	}
	fprintf(stderr, "skr-broker: release API on port %u, admin API on port %u\n",
		skr_listener_port(rel), skr_listener_port(adm));
	if (port_file && write_port_file(port_file, skr_listener_port(rel), skr_listener_port(adm)) < 0)
		fprintf(stderr, "skr-broker: cannot write %s\n", port_file);
	serve(&c, &b, &set, rel, adm);
	rc = 0;
out:
	skr_listener_stop(rel);
	skr_listener_stop(adm);
	/* The last rows anchored: every request has ended with the listeners. */
	if (rc == 0)
		checkpoint(&b, true);
	broker_fini(&b);
	json_object_put(c.root);
	skr_secret_cache_drain();
	return rc;
}
