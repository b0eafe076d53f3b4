/* SPDX-License-Identifier: Apache-2.0 */
#include "vm/snp_evidence.h"

#include "common/json_util.h"
#include "common/util.h"
#include "verify/snp_bind.h"
#include "verify/snp_certs.h"
#include "verify/snp_report.h"
#include "verify/svsm_manifest.h"
#include "verify/tee.h"
#include "verify/wrap.h"
#include "vm/sev_guest.h"
#include "vm/tsm.h"

/* The certificates, the signing key's kind first; the host's table is not trusted. */
static int certs_json(const struct skr_buf *report, const struct skr_buf *aux, json_object **out,
		      struct skr_err *err)
{
	struct skr_snp_certs certs;
	struct skr_snp_report r;
	enum skr_snp_cert_kind leaf;
	int k;

	if (skr_snp_report_parse(report->data, report->len, &r, err) < 0 ||
	    skr_snp_certs_parse(aux->data, aux->len, &certs, err) < 0)
		return -1;
	leaf = r.signing_key == SKR_SNP_SIGNER_VLEK ? SKR_SNP_CERT_VLEK : SKR_SNP_CERT_VCEK;
	if (!certs.der[leaf])
		return skr_fail(err, SKR_R_snp_certs_no_vcek,
				"certificate table has no %s, the report's signing key",
				skr_snp_cert_kind_name(leaf));
	*out = json_object_new_object();
	skr_json_add_b64(*out, skr_snp_cert_kind_name(leaf), certs.der[leaf], certs.len[leaf]);
	for (k = SKR_SNP_CERT_ASK; k <= SKR_SNP_CERT_ARK; k++)
		if (certs.der[k])
			skr_json_add_b64(*out, skr_snp_cert_kind_name(k), certs.der[k],
					 certs.len[k]);
	return 0;
}

static json_object *evidence_json(const struct skr_buf *report, json_object *certs,
				  const uint8_t epk[SKR_WRAP_EPK_SIZE])
{
	json_object *ev = json_object_new_object(), *wk = json_object_new_object();

	json_object_object_add(ev, "tee", json_object_new_string(SKR_TEE_NAME_SNP));
	skr_json_add_b64(ev, "report", report->data, report->len);
	json_object_object_add(ev, "certs", certs);
	skr_json_add_b64(wk, "epk", epk, SKR_WRAP_EPK_SIZE);
	json_object_object_add(ev, "wrap_key", wk);
	return ev;
}

int skr_snp_evidence(const char *tsm_root, const uint8_t *nonce, size_t nonce_len,
		     EVP_PKEY **key, json_object **out, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf report = { 0 }, aux = { 0 };
	uint8_t epk[SKR_WRAP_EPK_SIZE], data[SKR_SNP_REPORT_DATA];
	json_object *certs = NULL;

	*key = NULL;
	*out = NULL;
	if (skr_wrap_soft_key_new(key, epk, err) < 0)
		return -1;
	if (skr_snp_bind(nonce, nonce_len, epk, data, err) < 0 ||
	    (skr_tsm_present(tsm_root) || !skr_sev_guest_present(NULL)
		     ? skr_tsm_report(tsm_root, data, &report, &aux, err)
		     : skr_sev_guest_report(NULL, data, &report, &aux, err)) < 0 ||
	    certs_json(&report, &aux, &certs, err) < 0) {
		EVP_PKEY_free(*key);
		*key = NULL;
		return -1;
	}
	*out = evidence_json(&report, certs, epk);
	return 0;
}

int skr_svsm_evidence_members(const char *tsm_root, const uint8_t *nonce, size_t nonce_len,
			      json_object *ev, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf report = { 0 }, aux = { 0 }, manifest = { 0 };
	uint8_t svsm_nonce[SKR_SVSM_NONCE_SIZE];
	json_object *certs = NULL;

	if (skr_svsm_nonce(nonce, nonce_len, svsm_nonce, err) < 0 ||
	    skr_tsm_svsm_report(tsm_root, svsm_nonce, &report, &aux, &manifest, err) < 0 ||
	    certs_json(&report, &aux, &certs, err) < 0)
		return -1;
	skr_json_add_b64(ev, "report", report.data, report.len);
	json_object_object_add(ev, "certs", certs);
	skr_json_add_b64(ev, "manifest", manifest.data, manifest.len);
	return 0;
}
