/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test-only: provisions a TPM (swtpm) the way Azure provisions a Trusted
 * Launch VM's vTPM, so the VM side (skr_tpm_detect_mode, the "azure-tl"
 * evidence) and the broker's AK-certificate checks run against a real TPM:
 *
 *   - the AK: a primary of the endorsement hierarchy persisted at 0x81000003
 *     (an older key there evicted first) with Azure's AK template: RSA-2048,
 *     restricted|sign|fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth,
 *     RSASSA-SHA256;
 *   - a test PKI in ca_dir, made there (OpenSSL, P-256) when it is not there
 *     yet and reused when it is: root.pem/root.key (self-signed, the trust
 *     anchor a broker configures in "ak_roots") and intermediate.pem/
 *     intermediate.key (issued by the root; "ak_intermediates");
 *   - Azure's AK certificate: subject CN=<id>.TrustedVM.Azure.windows.net,
 *     EKU tcg-kp-AIKCertificate, issued by the intermediate WITHOUT an
 *     Authority Information Access extension (as "Global Virtual TPM CA - 03"
 *     issues them: a verifier cannot fetch the intermediate), written DER to
 *     NV 0x01C101D0 (skr_fakevtpm_nv_write's attributes);
 *   - no HCL report: NV 0x01400001 is undefined.
 *
 * The variants make what a verifier must refuse: a certificate that expired,
 * one for another key than the AK, an AK that is not restricted or signs with
 * another scheme (RSAPSS); a foreign CA is another ca_dir.  no_cert leaves
 * the certificate's index undefined too (a vTPM with neither index).
 *
 * Used by tests/tools/skr-fake-azure (provision-tl).
 */
#ifndef SKR_FAKETL_H
#define SKR_FAKETL_H

#include <stdbool.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <tss2/tss2_tpm2_types.h>

#include "common/err.h"
#include "common/util.h"
#include "vm/tpm.h"

#define SKR_FAKETL_DEFAULT_SUBJECT "6d2b6c6a-0e51-4c3e-9a3b-5b1f2f0c7e11.TrustedVM.Azure.windows.net"

enum skr_faketl_ak {
	SKR_FAKETL_AK_AZURE = 0,	/* Azure's template */
	SKR_FAKETL_AK_UNRESTRICTED,	/* the same without restricted */
	SKR_FAKETL_AK_RSAPSS,		/* restricted, but RSAPSS-SHA256 */
};

struct skr_faketl_opts {
	const char *ca_dir;		/* required */
	const char *subject_cn;		/* NULL: SKR_FAKETL_DEFAULT_SUBJECT */
	enum skr_faketl_ak ak;
	bool expired;			/* notAfter yesterday */
	bool cert_other_key;		/* the certificate certifies a fresh RSA key, not the AK */
	bool no_cert;			/* NV 0x01C101D0 undefined */
};

struct skr_faketl {
	TPM2B_PUBLIC ak_public;		/* as the TPM returned it */
	EVP_PKEY *ak;			/* its public key */
	X509 *root, *intermediate, *leaf;
};

int skr_faketl_provision(struct skr_tpm *t, const struct skr_faketl_opts *o,
			 struct skr_faketl *out, struct skr_err *err);
void skr_faketl_free(struct skr_faketl *f);

/*
 * Writes into an existing directory: akcert.der, akcert.pem, ak.pem
 * (SubjectPublicKeyInfo), ak.pub (marshalled TPM2B_PUBLIC), root.pem and
 * intermediate.pem (copies of ca_dir's certificates).
 */
int skr_faketl_write(const struct skr_faketl *f, const char *dir, struct skr_err *err);

#endif
