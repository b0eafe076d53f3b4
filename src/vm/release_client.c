/* SPDX-License-Identifier: Apache-2.0 */
#include "vm/release_client.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/x509.h"
#include "vm/broker_answer.h"
#include "vm/client_config.h"
#include "common/gate.h"
#include "vm/https.h"
#include "common/json_util.h"
#include "common/pcr_json.h"
#include "vm/sev_guest.h"
#include "vm/snp_evidence.h"
#include "vm/tpm.h"
#include "vm/tsm.h"
#include "common/util.h"
#include "verify/tee.h"
#include "verify/wrap.h"

#define DEFAULT_CONNECT_MS 3000
#define DEFAULT_DEADLINE_MS 30000
#define BACKOFF_FIRST_MS 200
#define BACKOFF_MAX_MS 5000

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* One exchange's state: what the broker said and what the vTPM made. */
struct exchange {
	const struct skr_release_opts *o;
	const char *path;		/* "/v1/release" or another attested call's */
	json_object *extra;		/* fields added to the request (not owned) */
	json_object *answer;		/* another call's 200 answer (owned) */
	const char *broker;
	double deadline;
	struct skr_release_timing *timing;
	struct skr_challenge ch;	/* this exchange's challenge, validated */
	uint32_t pcr_mask;
	struct skr_tpm *tpm;
	enum skr_tpm_mode mode;		/* detected once per call, at the TPM's opening */
	struct skr_tpm_key key;
	bool bare_snp;			/* tee "snp": no vTPM, a report from configfs-tsm */
	bool svsm;			/* tee "snp-svsm": the SVSM's vTPM (mode TPM) and report */
	EVP_PKEY *soft_key;		/* bare_snp: this exchange's ephemeral wrap key */
	/* tee "tpm" (DESIGN.md 2.2): this attempt's transient EK and AK, the
	 * identity sent with the challenge and again in the evidence
	 * ({"ek_cert", "ek_public", "ak_public"}), and the broker's credential. */
	struct skr_tpm_key ek, ak;
	json_object *identity;
	struct skr_credential cred;
};

static unsigned remaining_ms(const struct exchange *x)
{
	double left = x->deadline - now_ms();

	return left < 1 ? 1 : (unsigned)left;
}

/*
 * One call; 0 only for a 200 answer that is one JSON object (*resp, owned).
 * Every other answer fails as skr_answer_failure classifies it.
 */
static int post(struct exchange *x, const char *path, json_object *req, json_object **resp,
		struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf body = { 0 };
	unsigned connect = x->o->connect_timeout_ms ? x->o->connect_timeout_ms : DEFAULT_CONNECT_MS;
	struct skr_err parse_err = { 0 };
	double t0 = now_ms();
	long status = 0;
	int rc;

	*resp = NULL;
	struct skr_https_ca ca = { .file = x->o->ca_file, .pem = x->o->ca_pem };

	rc = skr_https_post_json(x->broker, path, json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN),
				 &ca, connect < remaining_ms(x) ? connect : remaining_ms(x),
				 remaining_ms(x), &status, &body, err);
	x->timing->network_ms += now_ms() - t0;
	if (rc < 0)
		return -1;
	if (status >= 500 && status <= 599)
		return skr_answer_failure(x->broker, path, status, NULL, err);
	if (skr_answer_parse_body(x->broker, body.data, body.len, resp, &parse_err) < 0) {
		if (status == 200) {
			*err = parse_err;
			return -1;
		}
		return skr_answer_failure(x->broker, path, status, NULL, err);
	}
	if (status != 200) {
		skr_answer_failure(x->broker, path, status, *resp, err);
		json_object_put(*resp);
		*resp = NULL;
		return -1;
	}
	return 0;
}

/* tee "tpm" and "snp-svsm": an EK, a transient AK and the broker's credential. */
static bool tpm_mode(const struct exchange *x)
{
	return !x->bare_snp && x->mode == SKR_TPM_MODE_TPM;
}

/* The evidence's and the policy's "tee" of this VM. */
static const char *tee_name(const struct exchange *x)
{
	return x->svsm ? SKR_TEE_NAME_SNP_SVSM : skr_tpm_mode_name(x->mode);
}

/*
 * tee "tpm" and "snp-svsm": the credential the broker made for this TPM's
 * EK and AK.  An answer without one is for a key of another mode (or from a
 * broker that predates this mode): nothing to activate, so no evidence is
 * made.
 */
static int challenge_credential(struct exchange *x, json_object *resp, struct skr_err *err)
{
	if (!json_object_object_get_ex(resp, "credential", NULL))
		return skr_fail(err, SKR_R_tee_mismatch,
				"%s made no credential for this TPM's EK: key %s is not a tee \"%s\" "
				"key (this VM's mode), or the broker does not know tee \"%s\"",
				x->broker, x->o->key_id, tee_name(x), tee_name(x));
	return skr_answer_credential(x->broker, resp, &x->cred, err);
}

static int challenge(struct exchange *x, struct skr_err *err)
{
	json_object *req = json_object_new_object(), *resp = NULL;
	int rc = -1;

	json_object_object_add(req, "key_id", json_object_new_string(x->o->key_id));
	if (tpm_mode(x))
		json_object_object_add(req, "tpm", json_object_get(x->identity));
	if (post(x, "/v1/challenge", req, &resp, err) < 0 ||
	    skr_answer_challenge(x->broker, resp, &x->ch, err) < 0 ||
	    (tpm_mode(x) && challenge_credential(x, resp, err) < 0))
		goto out;
	/* The broker's PCRs, the caller's on top (a hint), and always the boot gate (gate.h). */
	x->pcr_mask = x->ch.pcr_mask | x->o->pcr_mask | (1u << SKR_GATE_PCR);
	rc = 0;
out:
	json_object_put(req);
	json_object_put(resp);
	return rc;
}

/* The VCEK as DER, whatever form the file has (on Azure it comes from the host's cache). */
static int add_vcek(json_object *ev, const char *path, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf raw = { 0 };
	uint8_t *der = NULL;
	X509 *cert = NULL;
	int len;

	if (skr_read_file(path, 1u << 16, &raw, err) < 0 ||
	    skr_x509_parse(raw.data, raw.len, &cert, "VCEK", err) < 0)
		return -1;
	len = i2d_X509(cert, &der);
	X509_free(cert);
	if (len <= 0)
		return skr_fail(err, SKR_R_nomem, "cannot encode the VCEK");
	skr_json_add_b64(ev, "vcek", der, (size_t)len);
	OPENSSL_free(der);
	return 0;
}

/* What the vTPM made for one exchange, whatever the mode. */
struct made {
	struct skr_buf cert_attest, cert_sig, q_attest, q_sig;
	struct skr_pcr_banks *pcrs;
};

static void made_free(struct made *m)
{
	skr_buf_free(&m->cert_attest);
	skr_buf_free(&m->cert_sig);
	skr_buf_free(&m->q_attest);
	skr_buf_free(&m->q_sig);
	free(m->pcrs);
}

/* The wrap key certified by the AK, and the quote: the same in every mode. */
static int make_quote_and_key(struct exchange *x, struct made *m, struct skr_err *err)
{
	m->pcrs = calloc(1, sizeof(*m->pcrs));
	if (!m->pcrs)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	if (skr_tpm_create_wrap_key(x->tpm, &x->key, err) < 0)
		return -1;
	if (tpm_mode(x))	/* the transient AK the activation proved */
		return skr_tpm_certify_with(x->tpm, &x->key, &x->ak, x->ch.nonce,
					    sizeof(x->ch.nonce), &m->cert_attest, &m->cert_sig,
					    err) < 0 ||
			       skr_tpm_quote_with(x->tpm, &x->ak, x->ch.nonce, sizeof(x->ch.nonce),
						  x->pcr_mask, &m->q_attest, &m->q_sig, m->pcrs,
						  err) < 0
			       ? -1
			       : 0;
	if (skr_tpm_certify(x->tpm, &x->key, SKR_TPM_AK_HANDLE, x->ch.nonce, sizeof(x->ch.nonce),
			    &m->cert_attest, &m->cert_sig, err) < 0 ||
	    skr_tpm_quote(x->tpm, SKR_TPM_AK_HANDLE, x->ch.nonce, sizeof(x->ch.nonce), x->pcr_mask,
			  &m->q_attest, &m->q_sig, m->pcrs, err) < 0)
		return -1;
	return 0;
}

static void add_quote_and_key(json_object *ev, const struct exchange *x, const struct made *m)
{
	json_object *quote = json_object_new_object(), *wk = json_object_new_object();

	skr_json_add_b64(quote, "attest", m->q_attest.data, m->q_attest.len);
	skr_json_add_b64(quote, "signature", m->q_sig.data, m->q_sig.len);
	json_object_object_add(ev, "quote", quote);
	json_object_object_add(ev, "pcrs", skr_pcr_banks_to_json(m->pcrs));
	skr_json_add_b64(wk, "public", x->key.public_bytes, x->key.public_len);
	skr_json_add_b64(wk, "certify_attest", m->cert_attest.data, m->cert_attest.len);
	skr_json_add_b64(wk, "certify_signature", m->cert_sig.data, m->cert_sig.len);
	json_object_object_add(ev, "wrap_key", wk);
}

/* az-snp-vtpm: the HCL report (and the VCEK when configured). */
static int snp_members(struct exchange *x, json_object *ev, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf hcl = { 0 };

	if (skr_tpm_read_hcl(x->tpm, &hcl, err) < 0)
		return -1;
	skr_json_add_b64(ev, "hcl_report", hcl.data, hcl.len);
	return x->o->vcek_file ? add_vcek(ev, x->o->vcek_file, err) : 0;
}

/*
 * azure-tl: Azure's AK certificate and the AK's public area (the broker
 * checks that they match and that the AK is a restricted TPM-bound signing
 * key).  A VCEK means nothing here and is not sent.
 */
static int tl_members(struct exchange *x, json_object *ev, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf cert = { 0 }, ak = { 0 };

	if (skr_tpm_read_akcert(x->tpm, &cert, err) < 0 ||
	    skr_tpm_read_public(x->tpm, SKR_TPM_AK_HANDLE, &ak, err) < 0)
		return -1;
	skr_json_add_b64(ev, "ak_cert", cert.data, cert.len);
	skr_json_add_b64(ev, "ak_public", ak.data, ak.len);
	return 0;
}

/*
 * The EK certificate's intermediates, for a broker that has not configured
 * them: the configured PEM file, else the TPM's chain NV indices (tpm.h).
 */
static int ek_chain(struct exchange *x, struct skr_buf *der, struct skr_err *err)
{
	if (x->o->ek_chain_file)
		return skr_client_ek_chain_read(x->o->ek_chain_file, der, err);
	return skr_tpm_read_ek_chain(x->tpm, der, err);
}

/*
 * Before the challenge of tee "tpm" and "snp-svsm": the EK the TCG template
 * for alg makes and a transient AK (a primary, never persisted), kept loaded
 * for the activation, the certify and the quote; *identity gets their
 * public areas, after the EK certificate and its chain when given.
 */
static int make_identity(struct exchange *x, TPM2_ALG_ID alg, const struct skr_buf *cert,
			 const struct skr_buf *chain, struct skr_err *err)
{
	if (skr_tpm_create_ek(x->tpm, alg, &x->ek, err) < 0 ||
	    skr_tpm_create_ek_ak(x->tpm, &x->ak, err) < 0)
		return -1;
	x->identity = json_object_new_object();
	if (cert)
		skr_json_add_b64(x->identity, "ek_cert", cert->data, cert->len);
	if (chain && chain->len)
		skr_json_add_b64(x->identity, "ek_chain", chain->data, chain->len);
	skr_json_add_b64(x->identity, "ek_public", x->ek.public_bytes, x->ek.public_len);
	skr_json_add_b64(x->identity, "ak_public", x->ak.public_bytes, x->ak.public_len);
	return 0;
}

/*
 * tee "tpm": the EK certificate (RSA, NV 0x01C00002, else ECC P-256, NV
 * 0x01C0000A), its chain when there is one, then the EK of that key type.
 */
static int tpm_identity(struct exchange *x, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf cert = { 0 }, chain = { 0 };
	TPM2_ALG_ID alg = TPM2_ALG_RSA;
	double t0 = now_ms();
	int rc;

	rc = skr_tpm_read_ekcert(x->tpm, &cert, &alg, err) < 0 || ek_chain(x, &chain, err) < 0
		     ? -1
		     : make_identity(x, alg, &cert, &chain, err);
	x->timing->tpm_ms += now_ms() - t0;
	return rc;
}

/*
 * tee "snp-svsm": the SVSM's vTPM has no EK certificate (its report vouches
 * for the EK instead), so only the EK of template L-1 (the one COCONUT-SVSM
 * names in its manifest) and the AK.
 */
static int svsm_identity(struct exchange *x, struct skr_err *err)
{
	double t0 = now_ms();
	int rc = make_identity(x, TPM2_ALG_RSA, NULL, NULL, err);

	x->timing->tpm_ms += now_ms() - t0;
	return rc;
}

static int identity(struct exchange *x, struct skr_err *err)
{
	return x->svsm ? svsm_identity(x, err) : tpm_identity(x, err);
}

/*
 * tee "tpm": TPM2_ActivateCredential of the broker's credential with the AK
 * beside the EK (the TPM refuses, ak_not_on_tpm, unless it was made for this
 * EK and this AK's name); the EK is flushed after it.  The evidence carries
 * the identity again and the recovered credential as "activation".
 */
static int tpm_members(struct exchange *x, json_object *ev, struct skr_err *err)
{
	uint8_t cred[64];
	size_t len = 0;
	int rc;

	rc = skr_tpm_activate(x->tpm, &x->ek, &x->ak, x->cred.blob, x->cred.blob_len,
			      x->cred.secret, x->cred.secret_len, cred, &len, err);
	skr_tpm_key_flush(x->tpm, &x->ek);	/* a free object slot for the wrap key */
	if (rc == 0) {
		json_object_object_foreach(x->identity, k, v) {
			/* snp-svsm: the EK is the SVSM manifest's, not the VM's word. */
			if (!x->svsm || strcmp(k, "ek_public"))
				json_object_object_add(ev, k, json_object_get(v));
		}
		skr_json_add_b64(ev, "activation", cred, len);
	}
	OPENSSL_cleanse(cred, sizeof(cred));
	return rc;
}

/*
 * tee "snp-svsm": the activation as tee "tpm", then the SVSM's report for
 * this nonce, its certificates and its services manifest (configfs-tsm).
 */
static int svsm_members(struct exchange *x, json_object *ev, struct skr_err *err)
{
	if (tpm_members(x, ev, err) < 0)
		return -1;
	return skr_svsm_evidence_members(NULL, x->ch.nonce, sizeof(x->ch.nonce), ev, err);
}

static int mode_members(struct exchange *x, json_object *ev, struct skr_err *err)
{
	switch (x->mode) {
	case SKR_TPM_MODE_AZURE_TL:
		return tl_members(x, ev, err);
	case SKR_TPM_MODE_TPM:
		return x->svsm ? svsm_members(x, ev, err) : tpm_members(x, ev, err);
	default:
		return snp_members(x, ev, err);
	}
}

/* The evidence of this vTPM's mode, then wrap key with its certify, quote and PCR values. */
static int collect_evidence(struct exchange *x, json_object **evidence, struct skr_err *err)
{
	struct made m = { 0 };
	json_object *ev = json_object_new_object();
	double t0 = now_ms();
	int rc = -1;

	if (x->bare_snp) {
		json_object_put(ev);
		rc = skr_snp_evidence(NULL, x->ch.nonce, sizeof(x->ch.nonce), &x->soft_key, evidence,
				      err);
		x->timing->tpm_ms += now_ms() - t0;
		return rc;
	}
	json_object_object_add(ev, "tee", json_object_new_string(tee_name(x)));
	if (mode_members(x, ev, err) < 0 || make_quote_and_key(x, &m, err) < 0)
		goto out;
	add_quote_and_key(ev, x, &m);
	*evidence = ev;
	ev = NULL;
	rc = 0;
out:
	json_object_put(ev);
	made_free(&m);
	x->timing->tpm_ms += now_ms() - t0;
	return rc;
}

/*
 * Z from the vTPM, then the secret; Z is wiped whatever happens.  The answer
 * was checked field by field (and epk is a point on P-256) before the vTPM
 * sees it; a secret that does not open is the broker's fault (or an
 * attacker's on the way), never this VM's: broker_protocol.
 */
static int unwrap(struct exchange *x, json_object *resp, uint8_t *secret, size_t *len,
		  struct skr_err *err)
{
	struct skr_wrapped w;
	struct skr_err open_err = { 0 };
	uint8_t *z = skr_secret_alloc(SKR_WRAP_COORD);
	double t0 = now_ms();
	int rc = -1;

	if (!z)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	if (skr_answer_wrapped(x->broker, resp, &w, err) < 0 ||
	    (x->bare_snp ? skr_ecdh_z(x->soft_key, w.epk, z, err)
			 : skr_tpm_ecdh_zgen(x->tpm, &x->key, w.epk, z, err)) < 0)
		goto out;
	if (skr_unwrap_with_z(z, &w, x->ch.nonce, sizeof(x->ch.nonce), x->o->key_id, secret, len,
			      &open_err) < 0) {
		skr_fail(err, SKR_R_broker_protocol,
			 "%s: the wrapped secret does not open with this vTPM's key, nonce and key id "
			 "(wrong epk, iv, ciphertext or tag)", x->broker);
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(&w, sizeof(w));
	skr_secret_free(z);
	x->timing->tpm_ms += now_ms() - t0;
	return rc;
}

static int exchange_once(struct exchange *x, uint8_t *secret, size_t *len, struct skr_err *err)
{
	json_object *req = NULL, *evidence = NULL, *resp = NULL;
	int rc = -1;
	char *nonce_b64;

	if ((tpm_mode(x) && identity(x, err) < 0) || challenge(x, err) < 0 ||
	    collect_evidence(x, &evidence, err) < 0)
		goto out;
	req = json_object_new_object();
	json_object_object_add(req, "key_id", json_object_new_string(x->o->key_id));
	nonce_b64 = skr_base64_encode(x->ch.nonce, sizeof(x->ch.nonce));
	json_object_object_add(req, "nonce", json_object_new_string(nonce_b64 ? nonce_b64 : ""));
	free(nonce_b64);
	json_object_object_add(req, "evidence", evidence);
	evidence = NULL;
	if (x->extra) {
		json_object_object_foreach(x->extra, k, v)
			json_object_object_add(req, k, json_object_get(v));
	}
	if (post(x, x->path, req, &resp, err) < 0)
		goto out;
	if (secret) {
		rc = unwrap(x, resp, secret, len, err);
	} else if (skr_answer_refvals(x->broker, x->path, resp, err) == 0) {
		x->answer = resp;
		resp = NULL;
		rc = 0;
	}
out:
	skr_tpm_key_flush(x->tpm, &x->key);
	skr_tpm_key_flush(x->tpm, &x->ek);
	skr_tpm_key_flush(x->tpm, &x->ak);
	json_object_put(x->identity);
	x->identity = NULL;
	OPENSSL_cleanse(&x->cred, sizeof(x->cred));
	EVP_PKEY_free(x->soft_key);
	x->soft_key = NULL;
	OPENSSL_cleanse(&x->ch, sizeof(x->ch));
	json_object_put(evidence);
	json_object_put(req);
	json_object_put(resp);
	return rc;
}

/* Only transport trouble is worth another try; a denial or a TPM fault is not. */
static bool retryable(const struct skr_err *err)
{
	return err->reason == SKR_R_broker_unreachable;
}

/* Less time than this left is no attempt: it could only end in its own timeout. */
#define MIN_ATTEMPT_MS 20.0

static void backoff(unsigned attempt, double deadline)
{
	unsigned base = BACKOFF_FIRST_MS << (attempt < 5 ? attempt : 5);
	uint32_t jitter = 0;
	double left = deadline - now_ms();
	struct timespec ts;
	unsigned ms;

	if (base > BACKOFF_MAX_MS)
		base = BACKOFF_MAX_MS;
	RAND_bytes((uint8_t *)&jitter, sizeof(jitter));
	ms = base / 2 + jitter % (base / 2 + 1);	/* "equal jitter" */
	if (ms > left)
		ms = left > 0 ? (unsigned)left : 0;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}

static bool snp_present(void)
{
	return skr_tsm_present(NULL) || skr_sev_guest_present(NULL);
}

/*
 * A TPM without Azure's indexes (an EK certificate or none: an SVSM's vTPM
 * has none) on a machine whose configfs-tsm offers service_provider: the
 * SVSM's vTPM, tee "snp-svsm" (mode TPM, *tpm kept open).
 */
static bool svsm_vtpm(struct skr_tpm *tpm, int detected, enum skr_tpm_mode *mode,
		      const struct skr_err *tpm_err)
{
	if (!tpm || (detected == 0 && *mode != SKR_TPM_MODE_TPM) ||
	    (detected < 0 && tpm_err->reason != SKR_R_tpm_nv_undefined) || !skr_tsm_svsm_present(NULL))
		return false;
	*mode = SKR_TPM_MODE_TPM;
	return true;
}

/*
 * Azure's modes first; then the SVSM's vTPM (tee "snp-svsm": its report
 * vouches for the vTPM, so it proves what bare snp does and the PCRs too);
 * then bare SNP (tee "snp") when there is no TPM, or one without Azure's
 * indexes, and configfs-tsm or /dev/sev-guest is there: the SNP report
 * proves more than a vendor's EK certificate, so a TPM with one on an SNP
 * machine is not used; then tee "tpm" (an EK certificate).  *tpm stays open
 * for the TPM modes only.
 */
static int detect(const char *tcti, struct skr_tpm **tpm, enum skr_tpm_mode *mode, bool *bare_snp,
		  bool *svsm, struct skr_err *err)
{
	struct skr_err tpm_err = { 0 };
	int detected = -1;

	*bare_snp = *svsm = false;
	*tpm = NULL;
	if (skr_tpm_open(tcti, tpm, &tpm_err) == 0)
		detected = skr_tpm_detect_mode(*tpm, mode, &tpm_err);
	if (svsm_vtpm(*tpm, detected, mode, &tpm_err)) {
		*svsm = true;
		return 0;
	}
	if (detected == 0) {
		if (*mode != SKR_TPM_MODE_TPM || !snp_present())
			return 0;
		*bare_snp = true;
	} else if ((tpm_err.reason == SKR_R_tpm_unavailable ||
		    tpm_err.reason == SKR_R_tpm_nv_undefined) && snp_present()) {
		*bare_snp = true;
	}
	if (!*bare_snp)
		*err = tpm_err;
	skr_tpm_close(*tpm);
	*tpm = NULL;
	return *bare_snp ? 0 : -1;
}

static int detect_mode(struct exchange *x, struct skr_err *err)
{
	return detect(x->o->tcti, &x->tpm, &x->mode, &x->bare_snp, &x->svsm, err);
}

enum skr_release_path skr_release_path(const char *tcti)
{
	struct skr_err err = { 0 };
	struct skr_tpm *tpm = NULL;
	enum skr_tpm_mode mode;
	bool bare = false, svsm = false;

	if (detect(tcti, &tpm, &mode, &bare, &svsm, &err) == 0)
		skr_tpm_close(tpm);
	return bare ? SKR_RELEASE_PATH_BARE_SNP : svsm ? SKR_RELEASE_PATH_SVSM : SKR_RELEASE_PATH_TPM;
}

/* Challenge, evidence and the call, retried across brokers until the deadline. */
static int attested_exchange(struct exchange *x, uint8_t *secret_out, size_t *secret_len,
			     struct skr_err *err)
{
	const struct skr_release_opts *o = x->o;
	double t0 = now_ms();
	unsigned attempt = 0;
	int rc = -1;

	memset(x->timing, 0, sizeof(*x->timing));
	if (!o->key_id || !o->n_brokers || (!o->ca_file && !o->ca_pem))
		return skr_fail(err, SKR_R_usage, "a key id, a broker URL and a CA are required");
	x->deadline = t0 + (o->deadline_ms ? o->deadline_ms : DEFAULT_DEADLINE_MS);
	x->key.handle = x->ek.handle = x->ak.handle = ESYS_TR_NONE;
	if (detect_mode(x, err) < 0)
		goto out;
	for (;;) {
		struct skr_err attempt_err = { 0 };

		x->broker = o->brokers[attempt % o->n_brokers];
		x->timing->attempts = ++attempt;
		if (exchange_once(x, secret_out, secret_len, &attempt_err) == 0) {
			rc = 0;
			break;
		}
		/* The backoff comes first: when it runs into the deadline, the cause
		 * reported is this attempt's, not a last 1 ms attempt's timeout. */
		if (retryable(&attempt_err) && now_ms() < x->deadline && attempt % o->n_brokers == 0)
			backoff(attempt / (unsigned)o->n_brokers, x->deadline);
		if (!retryable(&attempt_err) || x->deadline - now_ms() < MIN_ATTEMPT_MS) {
			/* Details quote brokers (and their URLs, from a token): safe to print. */
			skr_sanitize_inplace(attempt_err.detail, sizeof(attempt_err.detail));
			*err = attempt_err;
			break;
		}
	}
out:
	skr_tpm_close(x->tpm);
	x->timing->total_ms = now_ms() - t0;
	return rc;
}

int skr_release(const struct skr_release_opts *o, uint8_t *secret_out, size_t *secret_len,
		struct skr_release_timing *timing, struct skr_err *err)
{
	struct skr_release_timing local = { 0 };
	struct exchange x = { .o = o, .path = "/v1/release", .timing = timing ? timing : &local };
	int rc;

	*secret_len = 0;
	rc = attested_exchange(&x, secret_out, secret_len, err);
	if (rc < 0)
		OPENSSL_cleanse(secret_out, SKR_RELEASE_MAX_SECRET);
	return rc;
}

int skr_attested_call(const struct skr_release_opts *o, const char *path, json_object *fields,
		      json_object **answer, struct skr_err *err)
{
	struct skr_release_timing timing;
	struct exchange x = { .o = o, .path = path, .timing = &timing };
	json_object *events = NULL, *extra;
	int rc;

	*answer = NULL;
	/* The boot gate log goes with every reseal call: the broker replays it against PCR 15. */
	if (skr_gate_log_read(NULL, &events, err) < 0)
		return -1;
	extra = json_object_new_object();
	if (fields) {
		json_object_object_foreach(fields, k, v)
			json_object_object_add(extra, k, json_object_get(v));
	}
	if (!json_object_object_get_ex(extra, "gate_events", NULL))
		json_object_object_add(extra, "gate_events", json_object_get(events));
	json_object_put(events);
	x.extra = extra;
	rc = attested_exchange(&x, NULL, NULL, err);
	json_object_put(extra);
	*answer = rc == 0 ? x.answer : NULL;
	if (rc < 0)
		json_object_put(x.answer);
	return rc;
}
