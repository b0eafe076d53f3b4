/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the SVSM services manifest and the vTPM's EK
 * (skr_svsm_manifest_parse, skr_svsm_vtpm_ek in src/verify/svsm_manifest.c),
 * which a guest carries from its SVSM (configfs-tsm's manifestblob).  The
 * first byte picks the form (services table or the EK alone), the rest is
 * the manifest.  Every slice the parser returns must lie inside the input
 * and its entries must not overlap: the target reads each byte of each one
 * so ASan sees any escape, and checks the invariants the parser promises.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "verify/svsm_manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned touch(const uint8_t *p, size_t n)
{
	unsigned sum = 0;
	size_t i;

	for (i = 0; i < n; i++)
		sum += p[i];
	return sum;
}

/* What a successful parse promises: bounded, disjoint entries, the vTPM among them. */
static unsigned check_manifest(const uint8_t *blob, size_t len)
{
	struct skr_svsm_manifest m;
	struct skr_err err = { 0 };
	unsigned sum = 0;
	size_t i, covered = 0;

	if (skr_svsm_manifest_parse(blob, len, &m, &err) < 0) {
		if (err.reason == SKR_R_ok)
			abort();	/* a failure always names its reason */
		return 0;
	}
	if (m.count > SKR_SVSM_MAX_SERVICES)
		abort();
	for (i = 0; i < m.count; i++) {
		const struct skr_svsm_entry *e = &m.entries[i];

		if (e->size && (e->data < blob + (m.count + 1) * SKR_SVSM_GUID_ENTRY_SIZE ||
				e->data + e->size > blob + len))
			abort();
		covered += e->size;
		sum += touch(e->guid, 16) + (e->size ? touch(e->data, e->size) : 0);
	}
	if (covered != len - (m.count + 1) * SKR_SVSM_GUID_ENTRY_SIZE)
		abort();
	if (m.vtpm && memcmp(m.vtpm->guid, skr_svsm_vtpm_guid, 16))
		abort();
	return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size - 1 bytes, so a read past the end is an ASan error. */
	enum skr_svsm_form form;
	struct skr_svsm_ek ek;
	struct skr_err err = { 0 };
	uint8_t *blob;
	unsigned sum = 0;

	if (size < 1)
		return 0;
	form = data[0] & 1 ? SKR_SVSM_FORM_SINGLE_VTPM : SKR_SVSM_FORM_SERVICES;
	blob = malloc(size - 1 ? size - 1 : 1);
	if (!blob)
		return 0;
	memcpy(blob, data + 1, size - 1);
	if (form == SKR_SVSM_FORM_SERVICES)
		sum += check_manifest(blob, size - 1);
	if (skr_svsm_vtpm_ek(form, blob, size - 1, &ek, &err) == 0) {
		if (ek.tpmt < blob || ek.tpmt + ek.tpmt_len > blob + size - 1 ||
		    ek.pub.publicArea.type != TPM2_ALG_RSA || ek.pub.size != ek.tpmt_len)
			abort();
		sum += touch(ek.tpmt, ek.tpmt_len);
	} else if (err.reason == SKR_R_ok) {
		abort();
	}
	free(blob);
	return (int)(sum & 0);
}
