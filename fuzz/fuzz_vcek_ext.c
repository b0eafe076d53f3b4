/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: what skr reads from a VCEK/VLEK certificate's AMD
 * extensions (skr_vcek_info_parse in src/verify/amd_chain.c).  Clients send the
 * certificate with their evidence; it is parsed before its chain is known
 * to be AMD's.  Input byte 0 even: the rest is a DER certificate.  Odd: a
 * certificate is built around the input, cut into length-prefixed values of
 * the AMD extensions (product name, TCB fields, hwid) and the subject CN,
 * which reaches the extension parsers with far fewer wasted inputs.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "verify/amd_chain.h"

#include <openssl/err.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const oids[] = {
	"1.3.6.1.4.1.3704.1.2",   "1.3.6.1.4.1.3704.1.3.1", "1.3.6.1.4.1.3704.1.3.2",
	"1.3.6.1.4.1.3704.1.3.3", "1.3.6.1.4.1.3704.1.3.8", "1.3.6.1.4.1.3704.1.3.9",
	"1.3.6.1.4.1.3704.1.4",   "1.3.6.1.4.1.3704.1.3.4", "1.3.6.1.4.1.3704.1.3.5",
};

static void add_ext(X509 *x, const char *oid, const uint8_t *value, size_t len)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext = NULL;

	if (obj && os && ASN1_OCTET_STRING_set(os, value, (int)len))
		ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os);
	if (ext)
		X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(obj);
}

static X509 *built(const uint8_t *data, size_t size)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	size_t i = 0, n = 0, len;

	if (!x || !name) {
		X509_free(x);
		X509_NAME_free(name);
		return NULL;
	}
	/* The subject CN first: SEV-VCEK, SEV-VLEK, or whatever the input says. */
	len = size ? data[0] % 16 : 0;
	len = len < size ? len : 0;
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, len ? data + 1 : (const uint8_t *)"SEV-VCEK",
				   len ? (int)len : -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_NAME_free(name);
	i = len ? len + 1 : 0;
	while (i < size && n < sizeof(oids) / sizeof(oids[0])) {
		len = data[i++];
		if (len > size - i)
			len = size - i;
		add_ext(x, oids[n++], data + i, len);
		i += len;
	}
	return x;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct skr_vcek_info info;
	struct skr_err err = { 0 };
	const uint8_t *p = data + 1;
	X509 *x;

	if (size < 1)
		return 0;
	x = data[0] & 1 ? built(data + 1, size - 1) : d2i_X509(NULL, &p, (long)(size - 1));
	if (!x)
		return 0;
	if (skr_vcek_info_parse(x, &info, &err) == 0 && info.hwid_len > sizeof(info.hwid))
		__builtin_trap();
	X509_free(x);
	/* OpenSSL's error queue grows with every failure: emptied, so that
	 * libFuzzer's leak check does not run (slowly) after every input. */
	ERR_clear_error();
	return 0;
}
