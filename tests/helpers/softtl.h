/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test-only: a software VM (softvm.h) as an Azure Trusted Launch VM.  A test
 * PKI made here (a root, an intermediate WITHOUT AIA as Azure's "Global
 * Virtual TPM CA - 03", the AK certificate named <id>.TrustedVM.Azure.
 * windows.net) certifies the VM's AK; skr_softtl_convert turns the VM's
 * release request into azure-tl evidence: the HCL report and VCEK out,
 * ak_cert and ak_public (Azure's AK template) in.  The root and intermediate
 * are written as PEM files for a broker's "ak_roots"/"ak_intermediates".
 * Knobs break one link at a time.
 */
#ifndef SKR_SOFTTL_H
#define SKR_SOFTTL_H

#include <stdbool.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <tss2/tss2_tpm2_types.h>

#include "common/err.h"

#define SKR_SOFTTL_SUBJECT "4ad2f6b1-5b42-4c2b-9a3e-0d6c1f7e2a90.TrustedVM.Azure.windows.net"

struct skr_softtl {
	EVP_PKEY *root_key, *int_key;
	X509 *root, *inter, *leaf;
	char dir[64];
	char roots_pem[96], intermediates_pem[96];	/* files in dir */
	/* Knobs. */
	TPMA_OBJECT ak_attributes;	/* of the AK public area sent (Azure's by default) */
	X509 *cert_override;		/* send this AK certificate instead */
	bool send_intermediate;		/* the intermediate in "ak_chain" */
};

/* A PKI whose leaf certifies ak (RSA-2048, the VM's AK), valid for a day. */
int skr_softtl_new(struct skr_softtl *t, EVP_PKEY *ak, struct skr_err *err);
void skr_softtl_free(struct skr_softtl *t);
/* A certificate for key, issued by issuer (self-signed when NULL) with issuer_key. */
X509 *skr_softtl_make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
			   bool ca, long from_seconds, long to_seconds);
/* Azure's AK template (RSA-2048, RSASSA/SHA-256) for ak, with these attributes. */
int skr_softtl_ak_public(EVP_PKEY *ak, TPMA_OBJECT attributes, uint8_t *buf, size_t size,
			 size_t *len, struct skr_err *err);
#define SKR_SOFTTL_AK_ATTRIBUTES                                                        \
	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN | \
	 TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT)
/* The release request {"key_id","nonce","evidence"} of a softvm, made azure-tl in place. */
int skr_softtl_convert(struct skr_softtl *t, EVP_PKEY *ak, json_object *req, struct skr_err *err);

#endif
