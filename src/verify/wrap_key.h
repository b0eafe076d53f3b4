/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VM's wrap key as the broker sees it: a marshalled TPM2B_PUBLIC, its TPM
 * Name, the attributes that make it a vTPM-bound ECDH key, and the
 * TPM2_Certify by the AK that proves it lives in the attested vTPM.
 */
#ifndef SKR_WRAP_KEY_H
#define SKR_WRAP_KEY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include "common/err.h"

/* Attributes a wrap key must have, and those it must not. */
#define SKR_WRAP_KEY_REQUIRED                                                     \
	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN | \
	 TPMA_OBJECT_DECRYPT | TPMA_OBJECT_NODA)
#define SKR_WRAP_KEY_FORBIDDEN (TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_RESTRICTED)

/* Unmarshals exactly len bytes of TPM2B_PUBLIC. */
int skr_tpm2b_public_parse(const uint8_t *data, size_t len, TPM2B_PUBLIC *out,
			   struct skr_err *err);

/* The object's Name: nameAlg (big-endian) || H_nameAlg(marshalled TPMT_PUBLIC). */
int skr_tpm_public_name(const TPM2B_PUBLIC *pub, TPM2B_NAME *out, struct skr_err *err);

/*
 * An OpenSSL public key from a TPM2B_PUBLIC: RSA (any size the structure
 * holds; exponent 0 means 65537) or ECC NIST P-256.  Fails with unsupported
 * for other types and curves, malformed for inconsistent sizes.
 */
int skr_tpm_public_to_pkey(const TPM2B_PUBLIC *pub, EVP_PKEY **out, struct skr_err *err);

/*
 * The qualified name of a primary key of a hierarchy (TPM 2.0 Part 1,
 * "Qualified Name": a hierarchy's QN is its 4-byte handle, an object's is
 * nameAlg || H_nameAlg(QN(parent) || Name)): out = nameAlg (big-endian) ||
 * H_nameAlg(hierarchy (big-endian) || name), nameAlg the one the Name
 * starts with.
 */
int skr_tpm_primary_qualified_name(uint32_t hierarchy, const TPM2B_NAME *name, TPM2B_NAME *out,
				   struct skr_err *err);

/* ECC P-256, SHA-256 name, the required attributes set and the forbidden ones clear. */
int skr_wrap_key_check_attributes(const TPMT_PUBLIC *pub, struct skr_err *err);

/*
 * The whole wrap-key check, in order: the certify signature by the AK, type
 * certify, qualifying data = nonce, certified Name = Name of the presented
 * public, the key's attributes, then the certified qualifiedName: that of a
 * primary key of the NULL hierarchy, whose seed changes at every TPM reset,
 * so the key cannot outlive this boot (wrap_key_hierarchy otherwise: a key
 * of the owner or endorsement hierarchy can be recreated in a later boot, a
 * child key could be loaded again).  On success *pkey is the wrap key.
 */
int skr_wrap_key_verify(const uint8_t *public_bytes, size_t public_len,
			const uint8_t *certify_attest, size_t attest_len,
			const uint8_t *certify_sig, size_t sig_len, EVP_PKEY *ak,
			const uint8_t *nonce, size_t nonce_len, EVP_PKEY **pkey,
			struct skr_err *err);

#endif
