/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The digests of the new boot components, one per PCR bank of the log: what
 * each measurer would extend for them.  A bank is any algorithm of the log
 * that is a known hash (the ones skr_eventlog_replay gives a bank).
 */
#include "predict/predict.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "predict/pe.h"
#include "common/util.h"

/* Initrds run to hundreds of MiB: they are hashed in chunks of this size. */
#define FILE_CHUNK (1u << 20)

static bool replayable(uint16_t alg)
{
	return skr_tpm_alg_name(alg) != NULL;
}

/* Adds an empty row for alg; its value is filled by the caller. */
static uint8_t *add_row(struct skr_predict_digests *out, uint16_t alg)
{
	out->d[out->count].alg = alg;
	out->d[out->count].size = skr_tpm_alg_digest_size(alg);
	return out->d[out->count++].value;
}

int skr_predict_bytes_digests(const struct skr_eventlog *log, const void *data, size_t len,
			      struct skr_predict_digests *out, struct skr_err *err)
{
	size_t i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < log->alg_count; i++) {
		uint16_t alg = log->algs[i].alg;

		if (replayable(alg) && skr_tpm_alg_hash(alg, data, len, add_row(out, alg), err) < 0)
			return -1;
	}
	out->present = true;
	return 0;
}

/* ---- Files ---------------------------------------------------------------- */

struct file_hash {
	size_t count;
	uint16_t alg[SKR_PCR_MAX_BANKS];
	EVP_MD_CTX *ctx[SKR_PCR_MAX_BANKS];
};

static void file_hash_free(struct file_hash *h)
{
	size_t i;

	for (i = 0; i < h->count; i++)
		EVP_MD_CTX_free(h->ctx[i]);
}

static int file_hash_init(struct file_hash *h, const struct skr_eventlog *log, struct skr_err *err)
{
	size_t i;

	for (i = 0; i < log->alg_count; i++) {
		uint16_t alg = log->algs[i].alg;
		EVP_MD *md;
		int ok;

		if (!replayable(alg))
			continue;
		md = skr_tpm_alg_fetch_md(alg, err);
		if (!md)
			return -1;
		h->alg[h->count] = alg;
		h->ctx[h->count] = EVP_MD_CTX_new();
		ok = h->ctx[h->count] && EVP_DigestInit_ex(h->ctx[h->count], md, NULL);
		h->count++;
		EVP_MD_free(md);
		if (!ok)
			return skr_fail(err, SKR_R_nomem, "cannot start a %s hash", skr_tpm_alg_name(alg));
	}
	return 0;
}

static int file_hash_read(struct file_hash *h, FILE *f, const char *path, struct skr_err *err)
{
	_cleanup_free_ uint8_t *chunk = malloc(FILE_CHUNK);
	size_t n, i;

	if (!chunk)
		return skr_fail(err, SKR_R_nomem, "out of memory reading %s", path);
	while ((n = fread(chunk, 1, FILE_CHUNK, f)) > 0)
		for (i = 0; i < h->count; i++)
			if (!EVP_DigestUpdate(h->ctx[i], chunk, n))
				return skr_fail(err, SKR_R_nomem, "hashing %s failed", path);
	if (ferror(f))
		return skr_fail(err, SKR_R_io, "cannot read %s: %s", path, strerror(errno));
	return 0;
}

int skr_predict_file_digests(const struct skr_eventlog *log, const char *path,
			     struct skr_predict_digests *out, struct skr_err *err)
{
	struct file_hash h = { 0 };
	FILE *f;
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	f = fopen(path, "rb");
	if (!f)
		return skr_fail(err, SKR_R_io, "cannot open %s: %s", path, strerror(errno));
	rc = file_hash_init(&h, log, err) < 0 || file_hash_read(&h, f, path, err) < 0 ? -1 : 0;
	for (i = 0; rc == 0 && i < h.count; i++)
		if (!EVP_DigestFinal_ex(h.ctx[i], add_row(out, h.alg[i]), NULL))
			rc = skr_fail(err, SKR_R_nomem, "hashing %s failed", path);
	file_hash_free(&h);
	fclose(f);
	out->present = rc == 0;
	return rc;
}

/* ---- Kernel images -------------------------------------------------------- */

static int authenticode(const struct skr_eventlog *log, const struct skr_pe *pe,
			struct skr_predict_digests *out, struct skr_err *err)
{
	size_t i, len = 0;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < log->alg_count; i++) {
		uint16_t alg = log->algs[i].alg;
		const char *name = skr_tpm_alg_name(alg);

		if (!name)
			continue;
		if (!skr_pe_digest_size(name))
			return skr_fail(err, SKR_R_unsupported,
					"the event log has a %s bank, for which no Authenticode digest can be computed",
					name);
		if (skr_pe_hash(pe, name, 0, add_row(out, alg), &len, err) < 0)
			return -1;
	}
	out->present = true;
	return 0;
}

int skr_predict_image_digests(const struct skr_eventlog *log, const uint8_t *img, size_t len,
			      struct skr_predict_image *out, struct skr_err *err)
{
	_cleanup_(skr_pe_free) struct skr_pe pe = { 0 };

	memset(out, 0, sizeof(*out));
	if (skr_pe_parse(img, len, &pe, err) < 0 || authenticode(log, &pe, &out->authenticode, err) < 0 ||
	    skr_predict_bytes_digests(log, img, len, &out->file, err) < 0)
		return -1;
	/* systemd-stub's UKIs carry the kernel in a .linux section. */
	out->is_uki = skr_pe_find_section(&pe, ".linux") != NULL;
	out->present = true;
	return 0;
}
