/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: skrctl audit verify's reading of an exported audit log
 * and its checkpoints (src/verify/audit_log.h).  Both files come from a
 * database an attacker may have written.  The input is LOG NUL CHECKPOINTS;
 * the key is fixed, so a seed can carry a valid signature
 * (fuzz/corpus/audit_log/valid-3-rows verifies).  Checked: no crash, and a
 * log that verifies reports a consistent result.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "verify/audit_log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char pub_pem[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEhRiOsVTHN2lVrDBK52pFxAdM3EYY\n"
	"X7/Wtyw9FSuG5wCRUs+qP3EYuuALpO9JU+AwhyiNjq8lzEfu+MdiMHqpFA==\n"
	"-----END PUBLIC KEY-----\n";

static EVP_PKEY *key(void)
{
	static EVP_PKEY *k;

	if (!k) {
		BIO *b = BIO_new_mem_buf(pub_pem, -1);

		k = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
		BIO_free(b);
		if (!k)
			__builtin_trap();
	}
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t log_len = nul ? (size_t)(nul - data) : size;
	size_t cps_len = nul ? size - log_len - 1 : 0;
	char *log = malloc(log_len + 1), *cps = malloc(cps_len + 1);
	struct skr_audit_report rep;
	struct skr_err err = { 0 };

	if (log && cps) {
		memcpy(log, data, log_len);
		log[log_len] = 0;
		if (cps_len)
			memcpy(cps, nul + 1, cps_len);
		cps[cps_len] = 0;
		if (skr_audit_log_verify(log, log_len, cps, cps_len, key(), &rep, &err) == 0 &&
		    (rep.rows != rep.last_seq || rep.anchored_seq > rep.last_seq ||
		     !rep.checkpoints || rep.bad_seq))
			__builtin_trap();
	}
	free(log);
	free(cps);
	ERR_clear_error();
	return 0;
}
