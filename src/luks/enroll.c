/* SPDX-License-Identifier: Apache-2.0 */
/* skrctl enroll / unenroll / reconcile: see enroll.h for the crash-safety design. */
#include "luks/enroll.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <libcryptsetup.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "predict/binding.h"
#include "verify/eventlog.h"
#include "verify/hcl_report.h"
#include "vm/https.h"
#include "common/pcr_json.h"
#include "verify/policy.h"
#include "verify/snp_report.h"
#include "common/x509.h"
#include "luks/enroll_snp.h"
#include "luks/local_copy.h"
#include "luks/token.h"
#include "luks/token_iter.h"
#include "vm/sev_guest.h"
#include "vm/tpm.h"
#include "vm/tsm.h"
#include "common/util.h"

#define ADMIN_DEFAULT_MS 10000u

/* ---- fault points (test builds only) ------------------------------------ */

/*
 * SKR_FAULT=STEP       the process dies at STEP with _exit(137), as kill -9;
 * SKR_FAULT=STEP:fail  STEP fails, and the normal undo runs;
 * SKR_FAULT=STEP:hold  the process says "skr-fault: reached STEP" on stderr
 *                      and /dev/kmsg (the serial console) and waits forever,
 *                      syncing nothing: the e2e power-cut harness
 *                      (tests/e2e/powercut.py) cuts the VM's power there.
 */
#ifdef SKR_TEST_FAULTS
static void fault_hold(const char *step)
{
	char line[160];
	int n = snprintf(line, sizeof(line), "skr-fault: reached %s\n", step);
	int fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);

	if (n > 0 && (size_t)n < sizeof(line)) {
		if (write(STDERR_FILENO, line, (size_t)n) < 0) {
			/* nothing to do: the console line below may still get out */
		}
		if (fd >= 0 && write(fd, line, (size_t)n) < 0) {
			/* stderr had it */
		}
	}
	if (fd >= 0)
		close(fd);
	for (;;)
		pause();
}
#endif

int skr_enroll_fault(const char *step, struct skr_err *err)
{
#ifdef SKR_TEST_FAULTS
	const char *f = getenv("SKR_FAULT");
	size_t n = strlen(step);

	if (f && !strncmp(f, step, n)) {
		if (!f[n])
			_exit(137);
		if (!strcmp(f + n, ":fail"))
			return skr_fail(err, SKR_R_io, "fault injected at %s", step);
		if (!strcmp(f + n, ":hold"))
			fault_hold(step);
	}
#else
	(void)step;
	(void)err;
#endif
	return 0;
}

/* ---- libcryptsetup ------------------------------------------------------ */

static __thread char luks_msg[256];

static void luks_log(int level, const char *msg, void *usrptr)
{
	(void)usrptr;
	if (level == CRYPT_LOG_ERROR) {
		snprintf(luks_msg, sizeof(luks_msg), "%s", msg);
		luks_msg[strcspn(luks_msg, "\n")] = 0;
	}
}

static int luks_fail(struct skr_err *err, int rc, const char *what)
{
	return skr_fail(err, SKR_R_luks_error, "%s: %s%s%s", what, strerror(-rc),
			luks_msg[0] ? ": " : "", luks_msg);
}

static int open_device(const char *device, struct crypt_device **cd, struct skr_err *err)
{
	int rc;

	luks_msg[0] = 0;
	crypt_set_log_callback(NULL, luks_log, NULL);
	rc = crypt_init(cd, device);
	if (rc < 0)
		return skr_fail(err, SKR_R_luks_error, "cannot open %s: %s", device, strerror(-rc));
	crypt_set_log_callback(*cd, luks_log, NULL);
	rc = crypt_load(*cd, CRYPT_LUKS2, NULL);
	if (rc < 0) {
		crypt_free(*cd);
		*cd = NULL;
		return skr_fail(err, SKR_R_luks_error, "%s is not a LUKS2 device: %s", device,
				strerror(-rc));
	}
	return 0;
}

static bool slot_active(struct crypt_device *cd, int slot)
{
	crypt_keyslot_info s = crypt_keyslot_status(cd, slot);

	return s == CRYPT_SLOT_ACTIVE || s == CRYPT_SLOT_ACTIVE_LAST;
}

static int active_slots(struct crypt_device *cd)
{
	int i, n = 0;

	for (i = 0; i < crypt_keyslot_max(CRYPT_LUKS2); i++)
		n += slot_active(cd, i);
	return n;
}

static int free_slot(struct crypt_device *cd, int not)
{
	int i;

	for (i = 0; i < crypt_keyslot_max(CRYPT_LUKS2); i++)
		if (i != not && crypt_keyslot_status(cd, i) == CRYPT_SLOT_INACTIVE)
			return i;
	return -1;
}

static bool slot_assigned(struct crypt_device *cd, int slot)
{
	int t;

	for (t = 0; t < crypt_token_max(CRYPT_LUKS2); t++)
		if (crypt_token_is_assigned(cd, t, slot) == 0)
			return true;
	return false;
}

/* The PBKDF enroll gives its keyslots: a hand-made passphrase slot never has it. */
static bool slot_is_minimal(struct crypt_device *cd, int slot)
{
	struct crypt_pbkdf_type p;

	return crypt_keyslot_get_pbkdf(cd, slot, &p) == 0 && p.type &&
	       !strcmp(p.type, CRYPT_KDF_PBKDF2) && p.hash && !strcmp(p.hash, "sha256") &&
	       p.iterations == SKR_ENROLL_PBKDF_ITERATIONS;
}

/* The skr token of that key id; -1: none.  Any token naming it counts, valid or not. */
static int find_skr_token(struct crypt_device *cd, const char *key_id)
{
	const char *json;
	int t;

	SKR_LUKS_FOREACH_TOKEN(cd, SKR_TOKEN_TYPE, t, json) {
		json_object *o = json_tokener_parse(json), *k;
		bool same = o && json_object_object_get_ex(o, "key_id", &k) &&
			    !strcmp(json_object_get_string(k), key_id);

		json_object_put(o);
		if (same)
			return t;
	}
	return -1;
}

/* ---- admin API ---------------------------------------------------------- */

static bool key_id_ok(const char *id)
{
	size_t n = strlen(id);

	return n > 0 && n < 129 && strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					      "0123456789._-") == n;
}

/* ---- the registry of keys this machine enrolled (enroll.h) --------------- */

static bool registry_path(const struct skr_admin *a, const char *key_id, char *out, size_t n)
{
	return a->registry && key_id_ok(key_id) && key_id[0] != '.' &&
	       (size_t)snprintf(out, n, "%s/%s", a->registry, key_id) < n;
}

/* fsync of a directory: the entries made in it are on disk. */
static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static int registry_add(const struct skr_admin *a, const char *key_id, struct skr_err *err)
{
	char path[4400], parent[4400], *slash;
	int fd;

	if (!a->registry)
		return 0;
	if (!registry_path(a, key_id, path, sizeof(path)))
		return skr_fail(err, SKR_R_usage, "key id \"%.64s\" cannot be recorded", key_id);
	snprintf(parent, sizeof(parent), "%s", a->registry);
	slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = '\0';
		(void)mkdir(parent, 0755);
	}
	if (mkdir(a->registry, 0700) < 0 && errno != EEXIST)
		return skr_fail(err, SKR_R_io, "cannot create %s: %s", a->registry, strerror(errno));
	fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return skr_fail(err, SKR_R_io, "cannot record key %s in %s: %s", key_id, a->registry,
				strerror(errno));
	close(fd);
	/*
	 * On disk before the broker has the key: a reconcile after a power
	 * loss deletes only keys the registry names (delete_orphan_key), and
	 * an entry still in the page cache is lost with the power (make
	 * e2e-powercut found the broker keys of interrupted enrollments kept).
	 */
	if (sync_dir(a->registry) < 0 || (slash && slash != parent && sync_dir(parent) < 0))
		return skr_fail(err, SKR_R_io, "cannot sync %s: %s", a->registry, strerror(errno));
	return 0;
}

static bool registry_has(const struct skr_admin *a, const char *key_id)
{
	char path[4400];
	struct stat st;

	return registry_path(a, key_id, path, sizeof(path)) && lstat(path, &st) == 0 &&
	       S_ISREG(st.st_mode);
}

static void registry_remove(const struct skr_admin *a, const char *key_id)
{
	char path[4400];

	if (registry_path(a, key_id, path, sizeof(path)))
		unlink(path);
}

static int admin_call(const struct skr_admin *a, const char *url, const char *method,
		      const char *path, const char *body, long *status, json_object **resp,
		      struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf buf = { 0 };
	struct skr_https_ca ca = { .file = a->ca_file };
	unsigned ms = a->timeout_ms ? a->timeout_ms : ADMIN_DEFAULT_MS;

	if (resp)
		*resp = NULL;
	if (!a->token)
		return skr_fail(err, SKR_R_usage, "the broker's admin API needs --admin-token");
	if (!a->ca_file)
		return skr_fail(err, SKR_R_usage, "the broker's admin API needs --ca");
	if (skr_https_request(method, url, path, body, a->token, &ca, ms < 3000 ? ms : 3000, ms,
			      status, &buf, err) < 0)
		return -1;
	if (*status == 401 || *status == 403)
		return skr_fail(err, SKR_R_admin_denied, "%s refused the admin token (HTTP %ld)", url,
				*status);
	if (resp && buf.len)
		*resp = json_tokener_parse((const char *)buf.data);
	return 0;
}

static int admin_fail(const char *url, const char *what, long status, json_object *resp,
		      struct skr_err *err)
{
	json_object *d = NULL;

	/* A detail that is not a string is not shown (cli_finish sanitises the rest). */
	if (!resp || !json_object_object_get_ex(resp, "detail", &d) ||
	    !json_object_is_type(d, json_type_string))
		d = NULL;
	return skr_fail(err, status == 409 ? SKR_R_key_exists : SKR_R_broker_protocol,
			"%s: %s: HTTP %ld%s%s", url, what, status, d ? ": " : "",
			d ? json_object_get_string(d) : "");
}

/* DELETE /v1/keys/ID; a key that is already gone counts as deleted. */
static int admin_delete_key(const struct skr_admin *a, const char *url, const char *key_id,
			    struct skr_err *err)
{
	char path[200];
	long status = 0;
	json_object *resp = NULL;
	int rc;

	snprintf(path, sizeof(path), "/v1/keys/%s", key_id);
	if (admin_call(a, url, "DELETE", path, NULL, &status, &resp, err) < 0)
		return -1;
	rc = status == 200 || status == 204 || status == 404
		     ? 0
		     : admin_fail(url, "deleting the key", status, resp, err);
	json_object_put(resp);
	return rc;
}

static int admin_key_absent(const struct skr_admin *a, const char *url, const char *key_id,
			    struct skr_err *err)
{
	char path[200];
	long status = 0;
	json_object *resp = NULL;
	int rc = 0;

	snprintf(path, sizeof(path), "/v1/keys/%s", key_id);
	if (admin_call(a, url, "GET", path, NULL, &status, &resp, err) < 0)
		return -1;
	if (status == 200)
		rc = skr_fail(err, SKR_R_key_exists, "%s already holds key \"%s\"", url, key_id);
	else if (status != 404)
		rc = admin_fail(url, "looking up the key", status, resp, err);
	json_object_put(resp);
	return rc;
}

/* POST /v1/keys with the secret: the body is built in locked memory and wiped. */
static int admin_create_key(const struct skr_admin *a, const char *url, const char *key_id,
			    const uint8_t *secret, size_t len, const char *policy,
			    struct skr_err *err)
{
	char *b64 = skr_base64_encode(secret, len), *body;
	size_t cap = strlen(policy) + strlen(key_id) + 4 * len + 128;
	json_object *resp = NULL;
	long status = 0;
	int rc;

	body = skr_secret_alloc(cap);
	if (!b64 || !body) {
		if (b64)
			OPENSSL_cleanse(b64, strlen(b64));
		free(b64);
		skr_secret_free(body);
		return skr_fail(err, SKR_R_nomem, "out of memory");
	}
	snprintf(body, cap, "{\"key_id\": \"%s\", \"secret\": \"%s\", \"policy\": %s}", key_id, b64,
		 policy);
	OPENSSL_cleanse(b64, strlen(b64));
	free(b64);
	rc = admin_call(a, url, "POST", "/v1/keys", body, &status, &resp, err);
	skr_secret_free(body);
	if (rc == 0 && status != 201 && status != 200)
		rc = admin_fail(url, "creating the key", status, resp, err);
	json_object_put(resp);
	return rc;
}

static int admin_add_refset(const struct skr_admin *a, const char *url, const char *key_id,
			    const struct skr_pcr_banks *pcrs, struct skr_err *err)
{
	json_object *req = json_object_new_object(), *resp = NULL;
	char path[200], label[64], day[16];
	time_t now = time(NULL);
	struct tm tm;
	long status = 0;
	int rc;

	strftime(day, sizeof(day), "%Y-%m-%d", gmtime_r(&now, &tm));
	snprintf(label, sizeof(label), "enrolled %s", day);
	snprintf(path, sizeof(path), "/v1/keys/%s/refsets", key_id);
	json_object_object_add(req, "label", json_object_new_string(label));
	json_object_object_add(req, "state", json_object_new_string("current"));
	json_object_object_add(req, "pcrs", skr_pcr_banks_to_json(pcrs));
	rc = admin_call(a, url, "POST", path, json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN),
			&status, &resp, err);
	if (rc == 0 && status != 201 && status != 200)
		rc = admin_fail(url, "adding the reference PCR set", status, resp, err);
	json_object_put(req);
	json_object_put(resp);
	return rc;
}

/* ---- pending records ---------------------------------------------------- */

static int write_pending(struct crypt_device *cd, const char *key_id, const char *const *admins,
			 size_t n_admins, const int *slots, size_t n_slots, struct skr_err *err)
{
	json_object *o = json_object_new_object(), *a = json_object_new_array();
	json_object *s = json_object_new_array();
	size_t i;
	int rc;

	json_object_object_add(o, "type", json_object_new_string(SKR_PENDING_TOKEN_TYPE));
	json_object_object_add(o, "keyslots", json_object_new_array());
	json_object_object_add(o, "key_id", json_object_new_string(key_id));
	for (i = 0; i < n_admins; i++)
		json_object_array_add(a, json_object_new_string(admins[i]));
	json_object_object_add(o, "admins", a);
	for (i = 0; i < n_slots; i++)
		if (slots[i] >= 0)
			json_object_array_add(s, json_object_new_int(slots[i]));
	json_object_object_add(o, "slots", s);
	rc = crypt_token_json_set(cd, CRYPT_ANY_TOKEN,
				  json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
									    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return rc < 0 ? luks_fail(err, rc, "cannot write the skr-pending token") : rc;
}

int skr_enroll_pending_write(struct crypt_device *cd, const char *record_id, const int *slots,
			     size_t n_slots, struct skr_err *err)
{
	return write_pending(cd, record_id, NULL, 0, slots, n_slots, err);
}

/* The record's keyslots that enroll added and nothing else uses (enroll.h). */
static int destroy_orphan_slots(struct crypt_device *cd, json_object *slots, struct skr_err *err)
{
	size_t i;

	for (i = 0; i < json_object_array_length(slots); i++) {
		int s = json_object_get_int(json_object_array_get_idx(slots, i)), rc;

		if (s < 0 || s >= crypt_keyslot_max(CRYPT_LUKS2) || !slot_active(cd, s) ||
		    slot_assigned(cd, s) || !slot_is_minimal(cd, s) || active_slots(cd) < 2)
			continue;
		rc = crypt_keyslot_destroy(cd, s);
		if (rc < 0)
			return luks_fail(err, rc, "cannot destroy an orphaned keyslot");
	}
	return 0;
}

/*
 * The broker key a record says may exist ("admins" not empty).  Where to send
 * the admin token is the caller's (--admin, the configuration), never the
 * header's; and only a key this machine enrolled (the registry) is deleted.
 */
static int delete_orphan_key(const struct skr_admin *a, const char *key_id, json_object *admins,
			     struct skr_err *err)
{
	size_t i;

	if (json_object_array_length(admins) && registry_has(a, key_id)) {
		if (!a->token || !a->n_urls)
			return skr_fail(err, SKR_R_usage,
					"an interrupted enrollment left key \"%s\" at the broker: deleting it "
					"needs --admin-token, --ca and the admin URLs (--admin or the client "
					"configuration)", key_id);
		for (i = 0; i < a->n_urls; i++)
			if (admin_delete_key(a, a->urls[i], key_id, err) < 0)
				return -1;
		registry_remove(a, key_id);
	} else if (json_object_array_length(admins) && a->token && a->kept) {
		/* Not enrolled from here (by the registry): the header does not choose. */
		(*a->kept)++;
	}
	return 0;
}

/* Repairs one pending record (enroll.h); removes it last. */
static int repair_pending(struct crypt_device *cd, int tok, const struct skr_admin *a,
			  struct skr_err *err)
{
	const char *json = skr_luks_token_json(cd, tok, SKR_PENDING_TOKEN_TYPE);
	json_object *o = json ? json_tokener_parse(json) : NULL, *k, *admins, *slots;
	const char *key_id;
	int rc;

	if (!o || !json_object_object_get_ex(o, "key_id", &k) ||
	    !json_object_object_get_ex(o, "admins", &admins) ||
	    !json_object_object_get_ex(o, "slots", &slots) ||
	    !json_object_is_type(admins, json_type_array) || !json_object_is_type(slots, json_type_array)) {
		/* Unreadable: nothing to act on safely; drop the record. */
		json_object_put(o);
		rc = crypt_token_json_set(cd, tok, NULL);
		return rc < 0 ? luks_fail(err, rc, "cannot remove a broken skr-pending token") : 0;
	}
	key_id = json_object_get_string(k);
	/* Not committed (no skr token of that key id): undo. */
	if (find_skr_token(cd, key_id) < 0 && (destroy_orphan_slots(cd, slots, err) < 0 ||
					       delete_orphan_key(a, key_id, admins, err) < 0)) {
		json_object_put(o);
		return -1;
	}
	json_object_put(o);
	rc = crypt_token_json_set(cd, tok, NULL);
	return rc < 0 ? luks_fail(err, rc, "cannot remove the skr-pending token") : 0;
}

static int reconcile_cd(struct crypt_device *cd, const struct skr_admin *a, unsigned *repaired,
			struct skr_err *err)
{
	const char *json;
	int t;

	SKR_LUKS_FOREACH_TOKEN(cd, SKR_PENDING_TOKEN_TYPE, t, json) {
		if (repair_pending(cd, t, a, err) < 0)
			return -1;
		if (repaired)
			(*repaired)++;
	}
	return 0;
}

int skr_enroll_reconcile(const char *device, const struct skr_admin *a, unsigned *repaired,
			 struct skr_err *err)
{
	struct crypt_device *cd = NULL;
	int rc;

	if (open_device(device, &cd, err) < 0)
		return -1;
	rc = reconcile_cd(cd, a, repaired, err);
	crypt_free(cd);
	return rc;
}

/* ---- evidence and policy ------------------------------------------------ */

/* "pcrs": {"bank": "sha256", "indexes": [the mask's]} */
static json_object *pcrs_member(uint32_t mask)
{
	json_object *p = json_object_new_object(), *idx = json_object_new_array();
	int i;

	json_object_object_add(p, "bank", json_object_new_string("sha256"));
	for (i = 0; i < SKR_PCR_COUNT; i++)
		if (mask & (1u << i))
			json_object_array_add(idx, json_object_new_int(i));
	json_object_object_add(p, "indexes", idx);
	return p;
}

/* az-snp-vtpm: this VM's SNP report (debug off, its VMPL, TCB and measurement). */
static int snp_policy(struct skr_tpm *t, json_object *o, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf hcl = { 0 };
	struct skr_hcl_report rep;
	json_object *snp;
	int rc;

	if (skr_tpm_read_hcl(t, &hcl, err) < 0 ||
	    skr_hcl_report_parse(hcl.data, hcl.len, &rep, err) < 0)
		return -1;
	rc = skr_enroll_snp_member(&rep.snp, &snp, err);
	if (rc == 0)
		json_object_object_add(o, "snp", snp);
	skr_hcl_report_free(&rep);
	return rc;
}

/*
 * azure-tl: the key is pinned to this VM, the subject of Azure's AK
 * certificate (CN=<id>.TrustedVM.Azure.windows.net), as an SNP key is pinned
 * to its launch measurement: another Trusted Launch VM, even with the same
 * boot state, gets no release.
 */
static int tl_policy(struct skr_tpm *t, json_object *o, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf der = { 0 };
	X509 *cert = NULL;
	char cn[256];
	json_object *subjects;
	int n;

	if (skr_tpm_read_akcert(t, &der, err) < 0 ||
	    skr_x509_parse(der.data, der.len, &cert, "the AK certificate", err) < 0)
		return -1;
	n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn));
	X509_free(cert);
	if (n <= 0 || (size_t)n >= sizeof(cn) || strlen(cn) != (size_t)n)
		return skr_fail(err, SKR_R_malformed,
				"the AK certificate in NV 0x%08x has no usable subject CN",
				SKR_TPM_AKCERT_NV_INDEX);
	subjects = json_object_new_array();
	json_object_array_add(subjects, json_object_new_string(cn));
	json_object_object_add(o, "ak_subjects", subjects);
	return 0;
}

/*
 * tpm: the key is pinned to this TPM's EK (the SHA-256 of its certificate's
 * SubjectPublicKeyInfo): the broker's ek_roots CA certifies every TPM of a
 * vendor or a fleet, and without the pin any of them with an approved boot
 * state would get this disk's key.
 */
static int tpm_policy(struct skr_tpm *t, json_object *o, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf der = { 0 };
	X509 *cert = NULL;
	EVP_PKEY *key;
	uint8_t digest[32];
	_cleanup_free_ char *hex = NULL;
	json_object *pins;
	int rc;

	if (skr_tpm_read_ekcert(t, &der, NULL, err) < 0 ||
	    skr_x509_parse(der.data, der.len, &cert, "the EK certificate", err) < 0)
		return -1;
	key = X509_get0_pubkey(cert);
	rc = key ? skr_pubkey_spki_sha256(key, digest, err)
		 : skr_fail(err, SKR_R_malformed, "the EK certificate's key is unusable");
	X509_free(cert);
	if (rc < 0)
		return -1;
	hex = skr_hex_encode(digest, sizeof(digest));
	if (!hex)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	pins = json_object_new_array();
	json_object_array_add(pins, json_object_new_string(hex));
	json_object_object_add(o, "ek_spki_sha256", pins);
	return 0;
}

/*
 * snp-svsm: the launch state from this VM's own report (as bare snp; the
 * SVSM's report, at VMPL0, is what every release then checks) and the PCRs.
 * No EK pin: the SVSM's report names this vTPM's EK at every release.
 */
static int svsm_policy(uint32_t mask, char **policy, struct skr_err *err)
{
	_cleanup_(json_object_putp) json_object *o = NULL;
	json_object *snp;

	if (skr_enroll_snp_own(true, &snp, err) < 0)
		return -1;
	o = json_object_new_object();
	json_object_object_add(o, "tee", json_object_new_string(SKR_TEE_NAME_SNP_SVSM));
	json_object_object_add(o, "snp", snp);
	json_object_object_add(o, "pcrs", pcrs_member(mask));
	*policy = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	return *policy ? 0 : skr_fail(err, SKR_R_nomem, "out of memory");
}

/* The PCR values in mask and, when want_policy, a policy for this VM's mode. */
static int read_evidence(const char *tcti, bool svsm, uint32_t mask, bool want_policy,
			 char **policy, struct skr_pcr_banks *pcrs, struct skr_err *err)
{
	_cleanup_tpm_ struct skr_tpm *t = NULL;
	enum skr_tpm_mode mode;
	json_object *o;
	int rc;

	if (skr_tpm_open(tcti, &t, err) < 0 || skr_tpm_pcr_read(t, mask, pcrs, err) < 0)
		return -1;
	if (!want_policy)
		return 0;
	/* As the release decides (release_client.c): the SVSM's vTPM before the EK. */
	if (svsm)
		return svsm_policy(mask, policy, err);
	if (skr_tpm_detect_mode(t, &mode, err) < 0)
		return -1;
	o = json_object_new_object();
	json_object_object_add(o, "tee", json_object_new_string(skr_tpm_mode_name(mode)));
	rc = mode == SKR_TPM_MODE_AZURE_TL ? tl_policy(t, o, err)
	     : mode == SKR_TPM_MODE_TPM    ? tpm_policy(t, o, err)
					   : snp_policy(t, o, err);
	if (rc == 0) {
		json_object_object_add(o, "pcrs", pcrs_member(mask));
		*policy = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		if (!*policy)
			rc = skr_fail(err, SKR_R_nomem, "out of memory");
	}
	json_object_put(o);
	return rc;
}

/* ---- recovery key ------------------------------------------------------- */

void skr_recovery_key_format(const uint8_t in[SKR_RECOVERY_KEY_BYTES],
			     char out[SKR_RECOVERY_KEY_LEN + 1])
{
	static const char modhex[] = "cbdefghijklnrtuv";
	size_t i, j = 0;

	for (i = 0; i < SKR_RECOVERY_KEY_BYTES; i++) {
		if (i > 0 && i % 4 == 0)
			out[j++] = '-';
		out[j++] = modhex[in[i] >> 4];
		out[j++] = modhex[in[i] & 15];
	}
	out[j] = 0;
}

/* ---- enroll ------------------------------------------------------------- */

void skr_enroll_result_free(struct skr_enroll_result *r)
{
	skr_secret_free(r->recovery);
	r->recovery = NULL;
}

static const char *const *admin_urls(const struct skr_enroll_opts *o, size_t *n)
{
	if (o->admin.n_urls) {
		*n = o->admin.n_urls;
		return o->admin.urls;
	}
	*n = o->n_brokers;
	return o->brokers;
}

static bool answer_true(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_boolean) &&
	       json_object_get_boolean(v);
}

int skr_check_this_boot(const struct skr_release_opts *ro, json_object **answer,
			struct skr_err *err)
{
	struct skr_pcr_banks *pcrs = calloc(1, sizeof(*pcrs));
	struct skr_tpm *tpm = NULL;
	json_object *fields, *ans = NULL, *detail;
	int rc;

	if (answer)
		*answer = NULL;
	if (!pcrs)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	fields = json_object_new_object();
	/* Bare SNP has no PCRs: the broker checks the report's launch measurement. */
	if (skr_release_path(ro->tcti) != SKR_RELEASE_PATH_BARE_SNP) {
		/* Closed before the call: the attested call opens the TPM itself (swtpm takes one client). */
		rc = skr_tpm_open(ro->tcti, &tpm, err) < 0 ||
				     skr_tpm_pcr_read(tpm, (1u << SKR_PCR_COUNT) - 1, pcrs, err) < 0
			     ? -1
			     : 0;
		skr_tpm_close(tpm);
		if (rc < 0) {
			free(pcrs);
			json_object_put(fields);
			return -1;
		}
		json_object_object_add(fields, "pcrs", skr_pcr_banks_to_json(pcrs));
	}
	free(pcrs);
	rc = skr_attested_call(ro, "/v1/refvals/check", fields, &ans, err);
	json_object_put(fields);
	if (rc < 0)
		return -1;
	if (!answer_true(ans, "accepted") || !answer_true(ans, "this_boot_matches")) {
		rc = skr_fail(err, SKR_R_pcr_mismatch, "%s would refuse key %s for this boot: %s",
			      ro->brokers[0], ro->key_id,
			      json_object_object_get_ex(ans, "detail", &detail) &&
					      json_object_is_type(detail, json_type_string)
				      ? json_object_get_string(detail)
				      : "this boot's PCRs match no approved set");
	}
	if (answer)
		*answer = ans;
	else
		json_object_put(ans);
	return rc;
}

/* Enrollment's proof: the broker would release the new key to this boot (a dry run). */
static int verify_check(const struct skr_enroll_opts *o, const char *key_id, uint32_t mask,
			struct skr_err *err)
{
	struct skr_release_opts ro = { .key_id = key_id, .ca_file = o->admin.ca_file,
				       .tcti = o->tcti, .pcr_mask = mask };
	size_t i;

	for (i = 0; i < o->n_brokers; i++)
		ro.brokers[i] = o->brokers[i];
	ro.n_brokers = o->n_brokers;
	ro.deadline_ms = (o->timeout ? o->timeout : SKR_TOKEN_DEFAULT_TIMEOUT) * 1000u;
	return skr_check_this_boot(&ro, NULL, err);
}

static int add_slot(struct crypt_device *cd, int slot, const struct skr_enroll_opts *o,
		    const void *pass, size_t len, struct skr_err *err)
{
	struct crypt_pbkdf_type pbkdf = {
		.type = CRYPT_KDF_PBKDF2, .hash = "sha256",
		.iterations = SKR_ENROLL_PBKDF_ITERATIONS, .flags = CRYPT_PBKDF_NO_BENCHMARK,
	};
	int rc = crypt_set_pbkdf_type(cd, &pbkdf);

	if (rc == 0)
		rc = crypt_keyslot_add_by_passphrase(cd, slot, o->passphrase, o->passphrase_len,
						     pass, len);
	if (rc < 0) {
		if (rc == -EPERM)
			return skr_fail(err, SKR_R_passphrase_invalid, "the passphrase opens no keyslot");
		return luks_fail(err, rc, "cannot add a keyslot");
	}
	return 0;
}

/*
 * The binding (binding.h) for this boot's event log: o->eventlog must parse;
 * the default log counts only when it exists (no securityfs log: unknown chain).
 */
static int choose_binding(const struct skr_enroll_opts *o, bool given, uint32_t mask,
			  struct skr_enroll_result *r, uint32_t *out, struct skr_err *err)
{
	_cleanup_eventlog_ struct skr_eventlog *log = NULL;
	_cleanup_buf_ struct skr_buf raw = { 0 };
	const char *path = o->eventlog ? o->eventlog : SKR_ENROLL_DEFAULT_EVENTLOG;
	struct skr_binding b;

	if ((o->eventlog || access(path, F_OK) == 0) &&
	    (skr_read_file(path, SKR_EVENTLOG_MAX_SIZE, &raw, err) < 0 ||
	     skr_eventlog_parse(raw.data, raw.len, &log, err) < 0))
		return -1;
	skr_binding_analyse(log, &b);
	snprintf(r->chain, sizeof(r->chain), "%s", b.chain);
	snprintf(r->note, sizeof(r->note), "%s", b.note);
	if (skr_binding_resolve(&b, given, mask, o->weak_binding, out, r->warning,
				sizeof(r->warning), err) < 0)
		return -1;
	r->pcr_mask = *out;
	return 0;
}

/*
 * One enrollment: what its steps share, and what each has done so far (the
 * undos read it, so that a step that failed half-way is undone as far as it got).
 */
struct enroll_run {
	const struct skr_enroll_opts *o;
	struct skr_enroll_result *r;
	struct crypt_device *cd;
	const char *const *admins;	/* where the key is created: --admin, else the brokers */
	size_t n_admins;
	char *policy;			/* the key's policy (JSON text) */
	struct skr_pcr_banks pcrs;	/* this boot's values of the bound PCRs */
	uint32_t mask;			/* the PCRs bound */
	bool snp;			/* bare SEV-SNP (enroll_snp.h): no PCRs, no reference set */
	bool svsm;			/* tee "snp-svsm": the policy's launch state from the report */
	uint8_t *secret;		/* the new keyslot's passphrase (SKR_ENROLL_SECRET_LEN) */
	int slot, rslot;		/* the keyslots chosen; rslot -1 without a recovery key */
	/* What exists because of this run: */
	bool registered;		/* the key id in this machine's registry */
	int pending;			/* the skr-pending token; -1: none */
	bool created[SKR_RELEASE_MAX_BROKERS];	/* the key may exist at admins[i] */
	bool slot_added, rslot_added;
	int token;			/* the skr token; -1: none */
};

/* What a killed run left behind goes first. */
static int step_reconcile(struct enroll_run *e, struct skr_err *err)
{
	return skr_enroll_reconcile(e->o->device, &e->o->admin, &e->r->repaired, err);
}

/* The device, and proof that the passphrase opens one of its keyslots. */
static int step_open(struct enroll_run *e, struct skr_err *err)
{
	int rc;

	if (open_device(e->o->device, &e->cd, err) < 0)
		return -1;
	rc = crypt_activate_by_passphrase(e->cd, NULL, CRYPT_ANY_SLOT, e->o->passphrase,
					  e->o->passphrase_len, 0);
	if (rc == -EPERM)
		return skr_fail(err, SKR_R_passphrase_invalid, "the passphrase opens no keyslot of %s",
				e->o->device);
	return rc < 0 ? luks_fail(err, rc, "cannot check the passphrase") : 0;
}

/* The policy and this boot's values of its PCRs: from this machine (or the given policy). */
static int step_policy(struct enroll_run *e, struct skr_err *err)
{
	const struct skr_enroll_opts *o = e->o;

	if (e->snp) {
		snprintf(e->r->chain, sizeof(e->r->chain), "%s", "snp");
		return skr_enroll_snp_policy(o, &e->policy, err);
	}
	if (o->policy_json) {
		struct skr_policy pol;

		if (skr_policy_parse(o->policy_json, &pol, err) < 0)
			return -1;
		if (o->pcrs_given && pol.pcr_mask != o->pcr_mask)
			return skr_fail(err, SKR_R_usage, "--pcrs differs from the policy's PCRs");
		if (choose_binding(o, true, pol.pcr_mask, e->r, &e->mask, err) < 0)
			return -1;
		e->policy = strdup(o->policy_json);
	} else if (choose_binding(o, o->pcrs_given, o->pcr_mask, e->r, &e->mask, err) < 0) {
		return -1;
	}
	memset(&e->pcrs, 0, sizeof(e->pcrs));
	if (read_evidence(o->tcti, e->svsm, e->mask, !o->policy_json, &e->policy, &e->pcrs, err) < 0)
		return -1;
	return e->policy ? 0 : skr_fail(err, SKR_R_nomem, "out of memory");
}

/* Bare SNP: the disk-tag gate of the kernel command line (enroll_snp.h), before any write. */
static int step_gate(struct enroll_run *e, struct skr_err *err)
{
	return e->snp ? skr_enroll_snp_gate(e->cd, e->o, e->r, err) : 0;
}

/* The key id (given, or "skr-" and 16 hex digits), which no broker may hold yet. */
static int step_key_id(struct enroll_run *e, struct skr_err *err)
{
	size_t i;

	if (e->o->key_id) {
		snprintf(e->r->key_id, sizeof(e->r->key_id), "%s", e->o->key_id);
	} else {
		uint8_t rnd[8];
		char *hex;

		if (RAND_bytes(rnd, sizeof(rnd)) != 1 || !(hex = skr_hex_encode(rnd, sizeof(rnd))))
			return skr_fail(err, SKR_R_nomem, "no randomness");
		snprintf(e->r->key_id, sizeof(e->r->key_id), "skr-%s", hex);
		free(hex);
	}
	/* A key that exists already is someone else's: never touched, never deleted. */
	for (i = 0; i < e->n_admins; i++)
		if (admin_key_absent(&e->o->admin, e->admins[i], e->r->key_id, err) < 0)
			return -1;
	return 0;
}

/* The secret, and the free keyslots it and the recovery key will take. */
static int step_secret(struct enroll_run *e, struct skr_err *err)
{
	e->secret = skr_secret_alloc(SKR_ENROLL_SECRET_LEN);
	if (!e->secret || RAND_bytes(e->secret, SKR_ENROLL_SECRET_LEN) != 1)
		return skr_fail(err, SKR_R_nomem, "cannot generate the secret");
	e->slot = free_slot(e->cd, -1);
	if (e->o->recovery_key)
		e->rslot = free_slot(e->cd, e->slot);
	if (e->slot < 0 || (e->o->recovery_key && e->rslot < 0))
		return skr_fail(err, SKR_R_luks_error, "%s has no free keyslot", e->o->device);
	return 0;
}

/*
 * 1. The records of what follows, before anything exists elsewhere: this
 *    machine's (a repair may then delete the key at the broker) ...
 */
static int step_registry(struct enroll_run *e, struct skr_err *err)
{
	if (registry_add(&e->o->admin, e->r->key_id, err) < 0)
		return -1;
	e->registered = true;
	return 0;
}

static int undo_registry(struct enroll_run *e)
{
	if (e->registered)
		registry_remove(&e->o->admin, e->r->key_id);
	return 0;
}

/* ... and the header's: the key id and the keyslots about to be added. */
static int step_pending(struct enroll_run *e, struct skr_err *err)
{
	int slots[2] = { e->slot, e->rslot };
	int t = write_pending(e->cd, e->r->key_id, e->admins, e->n_admins, slots, 2, err);

	if (t < 0)
		return -1;
	e->pending = t;
	return skr_enroll_fault("after_pending", err);
}

static int undo_pending(struct enroll_run *e)
{
	if (e->pending >= 0)
		crypt_token_json_set(e->cd, e->pending, NULL);
	return 0;
}

/* 2. The key at the broker(s), with this machine's PCRs as the current set. */
static int step_broker_keys(struct enroll_run *e, struct skr_err *err)
{
	size_t i;

	for (i = 0; i < e->n_admins; i++) {
		/*
		 * Marked before the call: a transport failure may come after the broker
		 * stored the key, and deleting a key that is not there is harmless (it
		 * did not exist before, checked above).  A 409 means it is someone else's.
		 */
		e->created[i] = true;
		if (admin_create_key(&e->o->admin, e->admins[i], e->r->key_id, e->secret,
				     SKR_ENROLL_SECRET_LEN, e->policy, err) < 0) {
			e->created[i] = err->reason != SKR_R_key_exists;
			return -1;
		}
		if (skr_enroll_fault("after_broker_key", err) < 0)
			return -1;
		/* Bare SNP: the policy's measurement is the boot state; there are no PCR sets. */
		if (!e->snp &&
		    admin_add_refset(&e->o->admin, e->admins[i], e->r->key_id, &e->pcrs, err) < 0)
			return -1;
	}
	return skr_enroll_fault("after_refset", err);
}

static int undo_broker_keys(struct enroll_run *e)
{
	struct skr_err undo = { 0 };
	size_t i;
	int rc = 0;

	for (i = 0; i < e->n_admins; i++)
		if (e->created[i] && admin_delete_key(&e->o->admin, e->admins[i], e->r->key_id, &undo) < 0)
			rc = -1;
	return rc;
}

/* 3. The keyslot, and proof that the secret opens it. */
static int step_keyslot(struct enroll_run *e, struct skr_err *err)
{
	int rc;

	if (add_slot(e->cd, e->slot, e->o, e->secret, SKR_ENROLL_SECRET_LEN, err) < 0)
		return -1;
	e->slot_added = true;
	if (skr_enroll_fault("after_keyslot", err) < 0)
		return -1;
	rc = crypt_activate_by_passphrase(e->cd, NULL, e->slot, (const char *)e->secret,
					  SKR_ENROLL_SECRET_LEN, 0);
	if (rc < 0)
		return luks_fail(err, rc, "the new keyslot does not open with the secret");
	e->r->keyslot = e->slot;
	return 0;
}

static int undo_keyslot(struct enroll_run *e)
{
	return e->slot_added && crypt_keyslot_destroy(e->cd, e->slot) < 0 ? -1 : 0;
}

/* 4. The recovery key, when asked for (high entropy: minimal PBKDF too). */
static int step_recovery(struct enroll_run *e, struct skr_err *err)
{
	struct skr_enroll_result *r = e->r;
	uint8_t raw[SKR_RECOVERY_KEY_BYTES];

	if (!e->o->recovery_key)
		return 0;
	r->recovery = skr_secret_alloc(SKR_RECOVERY_KEY_LEN + 1);
	if (!r->recovery || RAND_bytes(raw, sizeof(raw)) != 1) {
		OPENSSL_cleanse(raw, sizeof(raw));
		return skr_fail(err, SKR_R_nomem, "cannot generate the recovery key");
	}
	skr_recovery_key_format(raw, r->recovery);
	OPENSSL_cleanse(raw, sizeof(raw));
	if (add_slot(e->cd, e->rslot, e->o, r->recovery, SKR_RECOVERY_KEY_LEN, err) < 0)
		return -1;
	e->rslot_added = true;
	r->recovery_slot = e->rslot;
	return skr_enroll_fault("after_recovery", err);
}

static int undo_recovery(struct enroll_run *e)
{
	return e->rslot_added && crypt_keyslot_destroy(e->cd, e->rslot) < 0 ? -1 : 0;
}

/* 5. The broker would release the key to this boot (its dry run: no release here). */
static int step_verify(struct enroll_run *e, struct skr_err *err)
{
	if (!e->o->no_verify && verify_check(e->o, e->r->key_id, e->mask, err) < 0)
		return -1;
	return skr_enroll_fault("after_verify", err);
}

/* 6. Commit: the skr token; then the pending record goes. */
static int step_commit(struct enroll_run *e, struct skr_err *err)
{
	/* Only what the attacker may choose: the endpoints stay in the client configuration. */
	struct skr_token tok = {
		.keyslots = { e->slot }, .n_keyslots = 1, .pcr_mask = e->mask,
		.timeout = e->o->timeout ? e->o->timeout : SKR_TOKEN_DEFAULT_TIMEOUT,
	};
	char *json;
	int rc;

	snprintf(tok.key_id, sizeof(tok.key_id), "%s", e->r->key_id);
	if (!(json = skr_token_to_json(&tok)))
		return skr_fail(err, SKR_R_nomem, "out of memory");
	rc = crypt_token_json_set(e->cd, CRYPT_ANY_TOKEN, json);
	free(json);
	if (rc < 0)
		return luks_fail(err, rc, "cannot write the skr token");
	e->token = rc;
	if (skr_enroll_fault("after_token", err) < 0)
		return -1;
	e->r->token = e->token;
	rc = crypt_token_json_set(e->cd, e->pending, NULL);
	if (rc < 0)
		return luks_fail(err, rc, "cannot remove the skr-pending token");
	e->pending = -1;
	return 0;
}

static int undo_commit(struct enroll_run *e)
{
	return e->token >= 0 && crypt_token_json_set(e->cd, e->token, NULL) < 0 ? -1 : 0;
}

/*
 * The steps, in order.  A step's undo removes what the step left, as far as
 * it got (NULL: it leaves nothing).  After a failure the undos run in
 * reverse, from the failed step on; the two records are undone only when
 * every undo after them succeeded, so that whatever is left stays recorded
 * for the repair (skr_enroll_reconcile, enroll.h).
 */
static const struct enroll_step {
	int (*run)(struct enroll_run *e, struct skr_err *err);
	int (*undo)(struct enroll_run *e);	/* < 0: something stays */
	bool record;
} enroll_steps[] = {
	/* Checks and choices: nothing is written yet. */
	{ step_reconcile, NULL, false },
	{ step_open, NULL, false },
	{ step_policy, NULL, false },
	{ step_gate, NULL, false },
	{ step_key_id, NULL, false },
	{ step_secret, NULL, false },
	/* Fault points (SKR_FAULT, tests/cli/test_enroll.sh) from here on. */
	{ step_registry, undo_registry, true },
	{ step_pending, undo_pending, true },		/* after_pending */
	{ step_broker_keys, undo_broker_keys, false },	/* after_broker_key, after_refset */
	{ step_keyslot, undo_keyslot, false },		/* after_keyslot */
	{ step_recovery, undo_recovery, false },	/* after_recovery */
	{ step_verify, NULL, false },			/* after_verify */
	{ step_commit, undo_commit, false },		/* after_token: the commit point */
};

static void enroll_undo(struct enroll_run *e, size_t failed)
{
	bool clean = true;
	size_t i;

	for (i = failed + 1; i-- > 0;) {
		const struct enroll_step *s = &enroll_steps[i];

		if (s->undo && (clean || !s->record) && s->undo(e) < 0)
			clean = false;
	}
}

int skr_enroll(const struct skr_enroll_opts *o, struct skr_enroll_result *r, struct skr_err *err)
{
	struct enroll_run e = { .o = o, .r = r, .slot = -1, .rslot = -1, .pending = -1, .token = -1 };
	enum skr_release_path path;
	size_t i;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	r->token = r->keyslot = r->recovery_slot = -1;
	if (!o->device || !o->n_brokers || !o->admin.ca_file || !o->admin.token || !o->passphrase)
		return skr_fail(err, SKR_R_usage, "enroll needs a device, brokers, --ca, "
				"--admin-token and a passphrase");
	if (o->key_id && !key_id_ok(o->key_id))
		return skr_fail(err, SKR_R_usage, "key id must be 1-128 characters of A-Z a-z 0-9 . _ -");
	e.admins = admin_urls(o, &e.n_admins);
	/* Asked once, before any TPM is opened here (swtpm takes one client at a time). */
	path = skr_release_path(o->tcti);
	e.snp = r->snp = path == SKR_RELEASE_PATH_BARE_SNP;
	e.svsm = path == SKR_RELEASE_PATH_SVSM;
	for (i = 0; i < ARRAY_SIZE(enroll_steps) && rc == 0; i++)
		rc = enroll_steps[i].run(&e, err);
	if (rc < 0 || err->reason != SKR_R_ok) {
		enroll_undo(&e, i - 1);
		r->token = r->keyslot = r->recovery_slot = -1;
		skr_enroll_result_free(r);
	}
	free(e.policy);
	skr_secret_free(e.secret);
	crypt_free(e.cd);
	return err->reason == SKR_R_ok ? 0 : -1;
}

/* ---- unenroll ----------------------------------------------------------- */

static int unenroll_one(struct crypt_device *cd, int t, const struct skr_admin *a,
			struct skr_err *err)
{
	const char *json = skr_luks_token_json(cd, t, SKR_TOKEN_TYPE);
	struct skr_token tok;
	const char *const *urls;
	size_t n_urls, i;
	int pending, rc, mine = 0;

	if (!json)
		return skr_fail(err, SKR_R_usage, "token %d is not an skr token", t);
	if (skr_token_parse(json, &tok, err) < 0)
		return -1;
	for (i = 0; i < tok.n_keyslots; i++)
		mine += slot_active(cd, tok.keyslots[i]);
	if (active_slots(cd) - mine < 1) {
		skr_token_free(&tok);
		return skr_fail(err, SKR_R_usage,
				"token %d holds the last keyslot: removing it would lock the device", t);
	}
	/* The admin URLs are the caller's (--admin, the configuration), never the header's. */
	urls = a->urls;
	n_urls = a->token ? a->n_urls : 0;
	if (a->token && !n_urls) {
		skr_fail(err, SKR_R_usage, "removing key %s at the broker needs its admin URL "
			 "(--admin, or \"admin\" or \"brokers\" in the client configuration)", tok.key_id);
		skr_token_free(&tok);
		return -1;
	}
	/* The record first (same as enroll's), then the commit (token removal), then the repair. */
	pending = write_pending(cd, tok.key_id, urls, n_urls, tok.keyslots, tok.n_keyslots, err);
	if (pending < 0) {
		skr_token_free(&tok);
		return -1;
	}
	rc = crypt_token_json_set(cd, t, NULL);
	/* Its local copy's counter and reseal key go too; best effort (no TPM: they stay unused). */
	if (rc >= 0 && tok.local)
		(void)skr_local_copy_disable(&tok, NULL, &(struct skr_err){ 0 });
	skr_token_free(&tok);
	if (rc < 0) {
		crypt_token_json_set(cd, pending, NULL);
		return luks_fail(err, rc, "cannot remove the skr token");
	}
	if (skr_enroll_fault("unenroll_after_token", err) < 0)
		return -1;
	/* Enroll's slots carry the minimal PBKDF; a slot assigned by hand is left alone. */
	return repair_pending(cd, pending, a, err);
}

int skr_unenroll(const char *device, int token, const struct skr_admin *a, unsigned *removed,
		 struct skr_err *err)
{
	struct crypt_device *cd = NULL;
	const char *json;
	int t, rc = 0;

	*removed = 0;
	if (open_device(device, &cd, err) < 0)
		return -1;
	if (token >= 0) {
		rc = unenroll_one(cd, token, a, err);
		*removed += rc == 0;
	} else {
		SKR_LUKS_FOREACH_TOKEN(cd, SKR_TOKEN_TYPE, t, json) {
			if ((rc = unenroll_one(cd, t, a, err)) < 0)
				break;
			(*removed)++;
		}
	}
	crypt_free(cd);
	return rc;
}
