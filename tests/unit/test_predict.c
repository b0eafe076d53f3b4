/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PCR prediction by template substitution (src/predict/predict.h), on the real
 * event logs in tests/vectors/eventlog and on a few small synthetic ones.
 *
 * Expected values never come from the predictor itself:
 *   - "nothing changed" (each component given as the digests its own events
 *     carry) must reproduce the values published beside each log
 *     (.pcrs.json);
 *   - a changed component must change exactly the PCRs its measurer extends,
 *     to the value this test computes by folding that PCR's events with
 *     OpenSSL, the substituted digests computed here too: the component's
 *     hash, GRUB's H(text), systemd's H(UTF-16LE text and NUL);
 *   - with the signed Debian kernel (tests/tools/fetch-signed-kernel.sh), the
 *     kernel's events take its Authenticode digest from pe.c (cross-checked
 *     with osslsigncode by tests/cli/test_pe.sh) and GRUB's file measurement
 *     its SHA-256, hashed here.
 */
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <openssl/evp.h>

#include "verify/eventlog.h"
#include "common/pcr_json.h"
#include "predict/pe.h"
#include "predict/binding.h"
#include "predict/predict.h"
#include "testutil.h"
#include "common/util.h"

#define LOGS SKR_SRCDIR "/tests/vectors/eventlog/"
#define BIT(n) (UINT32_C(1) << (n))

/* ---- Vectors ------------------------------------------------------------ */

struct vec {
	struct skr_buf raw;
	struct skr_eventlog *log;
	json_object *published;		/* the .pcrs.json */
	uint32_t mask;			/* every PCR it publishes */
};

static void vec_load(const char *name, struct vec *v)
{
	struct skr_err err = { 0 };
	char path[512];

	memset(v, 0, sizeof(*v));
	snprintf(path, sizeof(path), LOGS "%s.bin", name);
	skr_test_read_vector(path, &v->raw);
	assert_ok(skr_eventlog_parse(v->raw.data, v->raw.len, &v->log, &err), err);
	snprintf(path, sizeof(path), LOGS "%s.pcrs.json", name);
	v->published = json_object_from_file(path);
	assert_non_null(v->published);
	json_object_object_foreach(v->published, bank, values) {
		(void)bank;
		json_object_object_foreach(values, key, value) {
			(void)value;
			v->mask |= BIT(strtoul(key, NULL, 10));
		}
	}
}

static void vec_free(struct vec *v)
{
	skr_eventlog_free(v->log);
	json_object_put(v->published);
	skr_buf_free(&v->raw);
}

/* ---- Digests, computed here --------------------------------------------- */

static const EVP_MD *md_of(uint16_t alg)
{
	const EVP_MD *md = EVP_get_digestbyname(skr_tpm_alg_name(alg));

	assert_non_null(md);
	return md;
}

/* The digests an event of the log carries: "the component did not change". */
static void from_event(const struct vec *v, size_t index, struct skr_predict_digests *d)
{
	const struct skr_eventlog_event *ev = &v->log->events[index];
	size_t i;

	memset(d, 0, sizeof(*d));
	d->present = true;
	for (i = 0; i < ev->digest_count; i++) {
		d->d[d->count].alg = ev->digests[i].alg;
		d->d[d->count].size = ev->digests[i].size;
		memcpy(d->d[d->count].value, ev->digests[i].value, ev->digests[i].size);
		d->count++;
	}
}

/* H(data) in every bank of the log, with OpenSSL directly. */
static void hash_of(const struct vec *v, const void *data, size_t len,
		    struct skr_predict_digests *d)
{
	size_t i;

	memset(d, 0, sizeof(*d));
	d->present = true;
	for (i = 0; i < v->log->alg_count; i++) {
		uint16_t alg = v->log->algs[i].alg;

		d->d[d->count].alg = alg;
		d->d[d->count].size = skr_tpm_alg_digest_size(alg);
		assert_int_equal(EVP_Digest(data, len, d->d[d->count].value, NULL, md_of(alg), NULL), 1);
		d->count++;
	}
}

/* Some other component: a digest no event of a real log carries. */
static void other(const struct vec *v, uint8_t seed, struct skr_predict_digests *d)
{
	uint8_t data[2] = { 'x', seed };

	hash_of(v, data, sizeof(data), d);
}

static const uint8_t *digest_for(const struct skr_predict_digests *d, uint16_t alg)
{
	size_t i;

	for (i = 0; i < d->count; i++)
		if (d->d[i].alg == alg)
			return d->d[i].value;
	fail_msg("no digest for algorithm 0x%04x", alg);
	return NULL;
}

/* systemd's measurement of a command line: H(UTF-16LE text and a NUL). */
static void utf16_hash(const struct vec *v, const char *s, struct skr_predict_digests *d)
{
	size_t len = strlen(s), i;
	uint8_t *u = calloc(1, 2 * len + 2);

	assert_non_null(u);
	for (i = 0; i < len; i++)
		u[2 * i] = (uint8_t)s[i];
	hash_of(v, u, 2 * len + 2, d);
	free(u);
}

/* The ASCII text of a UTF-16LE event (systemd's load options). */
static void utf16_text(const struct vec *v, size_t index, char *out, size_t size)
{
	const struct skr_eventlog_event *ev = &v->log->events[index];
	size_t i;

	for (i = 0; 2 * i + 1 < ev->data_len && i + 1 < size && ev->data[2 * i]; i++)
		out[i] = (char)ev->data[2 * i];
	out[i] = '\0';
}

/* The text after "prefix" of a GRUB string event. */
static void grub_text(const struct vec *v, size_t index, const char *prefix, char *out,
		      size_t size)
{
	const struct skr_eventlog_event *ev = &v->log->events[index];
	size_t n = strlen(prefix);

	assert_true(ev->data_len > n && !memcmp(ev->data, prefix, n));
	snprintf(out, size, "%.*s", (int)(ev->data_len - n), (const char *)ev->data + n);
}

/* ---- Folding one PCR, here ------------------------------------------------ */

struct replace {
	size_t index;
	const struct skr_predict_digests *with;
};

/* PCR `pcr` (not 0, so no StartupLocality) of bank alg: every extending event
 * of the log, with the given events' digests replaced. */
static void fold(const struct vec *v, uint16_t alg, unsigned pcr, const struct replace *r,
		 size_t nr, uint8_t *out)
{
	size_t size = skr_tpm_alg_digest_size(alg), i, k;
	uint8_t msg[2 * SKR_PCR_MAX_DIGEST];

	memset(out, 0, size);
	for (i = 0; i < v->log->event_count; i++) {
		const struct skr_eventlog_event *ev = &v->log->events[i];
		const uint8_t *d;

		if (ev->pcr != pcr || ev->type == SKR_EV_NO_ACTION)
			continue;
		d = skr_eventlog_event_digest(ev, alg)->value;
		for (k = 0; k < nr; k++)
			if (r[k].index == i)
				d = digest_for(r[k].with, alg);
		memcpy(msg, out, size);
		memcpy(msg + size, d, size);
		assert_int_equal(EVP_Digest(msg, 2 * size, out, NULL, md_of(alg), NULL), 1);
	}
}

static void assert_pcr_folds(const struct vec *v, const struct skr_predict_result *res,
			     unsigned pcr, const struct replace *r, size_t nr)
{
	uint8_t want[SKR_PCR_MAX_DIGEST];
	size_t b;

	assert_true(res->predicted.count > 0);
	for (b = 0; b < res->predicted.count; b++) {
		const struct skr_pcr_bank *bank = &res->predicted.bank[b];

		fold(v, bank->alg, pcr, r, nr, want);
		if (memcmp(want, bank->value[pcr], bank->size))
			fail_msg("%s PCR %u is not the fold of its events with the substitution",
				 bank->name, pcr);
	}
}

/* Every published PCR other than those in `except` is predicted unchanged. */
static void assert_published(const struct vec *v, const struct skr_predict_result *res,
			     uint32_t except)
{
	size_t b;

	for (b = 0; b < res->predicted.count; b++) {
		const struct skr_pcr_bank *bank = &res->predicted.bank[b];
		json_object *values;

		assert_true(json_object_object_get_ex(v->published, bank->name, &values));
		json_object_object_foreach(values, key, value) {
			unsigned pcr = (unsigned)strtoul(key, NULL, 10);
			_cleanup_free_ char *hex = skr_hex_encode(bank->value[pcr], bank->size);

			assert_true(bank->extended_mask & BIT(pcr));
			if (except & BIT(pcr))
				continue;
			if (strcmp(hex, json_object_get_string(value)))
				fail_msg("%s PCR %u: predicted %s, published %s", bank->name, pcr, hex,
					 json_object_get_string(value));
		}
	}
}

static bool substituted(const struct skr_predict_result *res, size_t index, const char *component)
{
	size_t i;

	for (i = 0; i < res->subst_count; i++)
		if (res->subst[i].event == index)
			return !strcmp(res->subst[i].component, component);
	return false;
}

static bool has_note(const struct skr_predict_result *res, const char *text)
{
	size_t i;

	for (i = 0; i < res->note_count; i++)
		if (strstr(res->notes[i], text))
			return true;
	return false;
}

/* ---- One prediction ---------------------------------------------------------- */

struct run {
	struct vec v;
	struct skr_predict_request req;
	struct skr_predict_result *res;
	struct skr_err err;
};

static struct run *run_new(const char *name)
{
	struct run *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	vec_load(name, &r->v);
	r->res = calloc(1, sizeof(*r->res));
	assert_non_null(r->res);
	r->req.pcr_mask = r->v.mask;
	return r;
}

static void run_free(struct run *r)
{
	vec_free(&r->v);
	free(r->res);
	free(r);
}

static int predict(struct run *r)
{
	skr_err_clear(&r->err);
	return skr_predict(r->v.log, &r->req, r->res, &r->err);
}

static void predict_ok(struct run *r)
{
	assert_ok(predict(r), r->err);
}

static void set_kernel(struct run *r, const struct skr_predict_digests *pe,
		       const struct skr_predict_digests *file)
{
	r->req.kernel.present = true;
	r->req.kernel.authenticode = *pe;
	r->req.kernel.file = *file;
}

static void set_current_kernel(struct run *r, const struct skr_predict_digests *pe,
			       const struct skr_predict_digests *file)
{
	r->req.current_kernel.present = true;
	r->req.current_kernel.authenticode = *pe;
	r->req.current_kernel.file = *file;
}

/* ---- Nothing changed: the published values ------------------------------------ */

/* systemd-boot (an old one: the command line in PCR 8, its data cut by a byte). */
static void test_same_arch(void **state)
{
	struct run *r = run_new("arch-linux");
	struct skr_predict_digests pe, file;
	char cmdline[512];

	from_event(&r->v, 23, &pe);
	other(&r->v, 1, &file);
	set_kernel(r, &pe, &file);
	utf16_text(&r->v, 24, cmdline, sizeof(cmdline));
	r->req.cmdline = cmdline;
	predict_ok(r);
	assert_published(&r->v, r->res, 0);
	assert_int_equal(r->res->changed_mask, 0);
	assert_true(substituted(r->res, 23, "kernel"));
	assert_true(substituted(r->res, 24, "cmdline"));
	assert_int_equal(r->res->kernel_measurements, 1);
	assert_string_equal(r->res->chain, "efi");
	run_free(r);
}

/* Linux's EFI stub measured the initrd (PCR 9 tag); systemd the command line (PCR 12, twice). */
static void test_same_fedora(void **state)
{
	struct run *r = run_new("sd-boot-fedora37");
	char cmdline[512];

	from_event(&r->v, 25, &r->req.initrd);
	utf16_text(&r->v, 23, cmdline, sizeof(cmdline));
	r->req.cmdline = cmdline;
	predict_ok(r);
	assert_published(&r->v, r->res, 0);
	assert_int_equal(r->res->changed_mask, 0);
	assert_true(substituted(r->res, 23, "cmdline"));
	assert_true(substituted(r->res, 24, "cmdline"));
	assert_true(substituted(r->res, 25, "initrd"));
	run_free(r);
}

/* shim + GRUB: the kernel measured twice into PCR 4 by shim, once into PCR 9 by GRUB. */
static void test_same_grub_rhel(void **state)
{
	struct run *r = run_new("moklisttrusted");
	struct skr_predict_digests pe, file;
	char text[512], cmdline[600];

	from_event(&r->v, 90, &pe);
	from_event(&r->v, 89, &file);
	set_kernel(r, &pe, &file);
	set_current_kernel(r, &pe, &file);
	from_event(&r->v, 94, &r->req.initrd);
	grub_text(&r->v, 92, "kernel_cmdline: ", text, sizeof(text));
	snprintf(cmdline, sizeof(cmdline), "BOOT_IMAGE=%s", text);
	r->req.cmdline = cmdline;
	predict_ok(r);
	assert_published(&r->v, r->res, 0);
	assert_int_equal(r->res->changed_mask, 0);
	assert_true(substituted(r->res, 90, "kernel") && substituted(r->res, 91, "kernel"));
	assert_true(substituted(r->res, 89, "kernel"));
	assert_true(substituted(r->res, 94, "initrd"));
	assert_true(substituted(r->res, 92, "cmdline") && substituted(r->res, 88, "cmdline"));
	assert_int_equal(r->res->kernel_measurements, 2);
	assert_string_equal(r->res->chain, "shim+grub");
	run_free(r);
}

/* shim + GRUB where nothing measures the kernel into PCR 4. */
static void test_same_grub_gce(void **state)
{
	struct run *r = run_new("gce-ubuntu-2104-log");
	struct skr_predict_digests pe, file;
	char text[512], cmdline[600];

	other(&r->v, 2, &pe);
	from_event(&r->v, 101, &file);
	set_kernel(r, &pe, &file);
	grub_text(&r->v, 102, "kernel_cmdline: ", text, sizeof(text));
	snprintf(cmdline, sizeof(cmdline), "BOOT_IMAGE=%s", text);
	r->req.cmdline = cmdline;
	predict_ok(r);
	assert_published(&r->v, r->res, 0);
	assert_int_equal(r->res->changed_mask, 0);
	assert_int_equal(r->res->kernel_measurements, 0);
	assert_true(substituted(r->res, 101, "kernel"));
	assert_true(substituted(r->res, 100, "cmdline") && substituted(r->res, 102, "cmdline"));
	assert_true(has_note(r->res, "not measured into PCR 4"));
	run_free(r);
}

/* A SHA-1 log, shim: the kernel found by the running kernel's digest. */
static void test_same_sha1(void **state)
{
	struct run *r = run_new("uefi-sha1-log");
	struct skr_predict_digests pe, file;

	from_event(&r->v, 16, &pe);
	other(&r->v, 3, &file);
	set_kernel(r, &pe, &file);
	set_current_kernel(r, &pe, &file);
	predict_ok(r);
	assert_published(&r->v, r->res, 0);
	assert_int_equal(r->res->changed_mask, 0);
	assert_int_equal(r->res->subst_count, 1);
	assert_true(substituted(r->res, 16, "kernel"));
	run_free(r);
}

/* ---- A new kernel ----------------------------------------------------------------- */

static void test_kernel_sdboot(void **state)
{
	struct run *r = run_new("arch-linux");
	struct skr_predict_digests pe, file;
	struct replace rep[] = { { 23, &pe } };

	other(&r->v, 10, &pe);
	other(&r->v, 11, &file);
	set_kernel(r, &pe, &file);
	predict_ok(r);
	assert_int_equal(r->res->changed_mask, BIT(4));
	assert_pcr_folds(&r->v, r->res, 4, rep, 1);
	assert_published(&r->v, r->res, BIT(4));
	run_free(r);
}

static void test_kernel_shim_by_digest(void **state)
{
	struct run *r = run_new("uefi-sha1-log");
	struct skr_predict_digests pe, file, current;
	struct replace rep[] = { { 16, &pe } };

	other(&r->v, 10, &pe);
	other(&r->v, 11, &file);
	from_event(&r->v, 16, &current);
	set_kernel(r, &pe, &file);
	set_current_kernel(r, &current, &file);
	predict_ok(r);
	assert_int_equal(r->res->changed_mask, BIT(4));
	assert_pcr_folds(&r->v, r->res, 4, rep, 1);
	assert_published(&r->v, r->res, BIT(4));
	run_free(r);
}

static void test_kernel_grub(void **state)
{
	struct run *r = run_new("moklisttrusted");
	struct skr_predict_digests pe, file;
	struct replace pcr4[] = { { 90, &pe }, { 91, &pe } }, pcr9[] = { { 89, &file } };

	other(&r->v, 10, &pe);
	other(&r->v, 11, &file);
	set_kernel(r, &pe, &file);
	predict_ok(r);
	assert_int_equal(r->res->changed_mask, BIT(4) | BIT(9));
	assert_pcr_folds(&r->v, r->res, 4, pcr4, 2);
	assert_pcr_folds(&r->v, r->res, 9, pcr9, 1);
	assert_published(&r->v, r->res, BIT(4) | BIT(9));
	run_free(r);
}

static void test_kernel_grub_unmeasured_pcr4(void **state)
{
	struct run *r = run_new("gce-ubuntu-2104-log");
	struct skr_predict_digests pe, file;
	struct replace pcr9[] = { { 101, &file } };

	other(&r->v, 10, &pe);
	other(&r->v, 11, &file);
	set_kernel(r, &pe, &file);
	predict_ok(r);
	assert_int_equal(r->res->changed_mask, BIT(9));
	assert_pcr_folds(&r->v, r->res, 9, pcr9, 1);
	assert_published(&r->v, r->res, BIT(9));
	run_free(r);
}

/* ---- A new initrd ------------------------------------------------------------------ */

static void test_initrd_stub(void **state)
{
	struct run *r = run_new("sd-boot-fedora37");
	struct replace rep[] = { { 25, &r->req.initrd } };

	other(&r->v, 20, &r->req.initrd);
	predict_ok(r);
	assert_int_equal(r->res->changed_mask, BIT(9));
	assert_pcr_folds(&r->v, r->res, 9, rep, 1);
	assert_published(&r->v, r->res, BIT(9));
	run_free(r);
}

static void test_initrd_grub(void **state)
{
	struct run *r = run_new("moklisttrusted");
	struct replace rep[] = { { 94, &r->req.initrd } };

	other(&r->v, 20, &r->req.initrd);
	predict_ok(r);
	assert_int_equal(r->res->changed_mask, BIT(9));
	assert_pcr_folds(&r->v, r->res, 9, rep, 1);
	assert_published(&r->v, r->res, BIT(9));
	run_free(r);
}

static void test_initrd_unmeasured(void **state)
{
	struct run *r = run_new("arch-linux");

	other(&r->v, 20, &r->req.initrd);
	predict_ok(r);
	assert_int_equal(r->res->changed_mask, 0);
	assert_int_equal(r->res->subst_count, 0);
	assert_true(has_note(r->res, "no event of this log measures an initrd"));
	run_free(r);
}

/* ---- A new command line --------------------------------------------------------------- */

static void test_cmdline_systemd(void **state)
{
	static const char cmdline[] = "root=/dev/vda2 ro quiet";
	struct run *r = run_new("sd-boot-fedora37");
	struct skr_predict_digests d;
	struct replace rep[] = { { 23, &d }, { 24, &d } };

	utf16_hash(&r->v, cmdline, &d);
	r->req.cmdline = cmdline;
	predict_ok(r);
	assert_int_equal(r->res->changed_mask, BIT(12));
	assert_pcr_folds(&r->v, r->res, 12, rep, 2);
	assert_published(&r->v, r->res, BIT(12));
	run_free(r);
}

/* The old systemd-boot's PCR 8 event, whose data the firmware cut short. */
static void test_cmdline_sdboot_pcr8(void **state)
{
	static const char cmdline[] = "initrd=\\initramfs-linux.img root=/dev/sda2 rw";
	struct run *r = run_new("arch-linux");
	struct skr_predict_digests d;
	struct replace rep[] = { { 24, &d } };

	utf16_hash(&r->v, cmdline, &d);
	r->req.cmdline = cmdline;
	predict_ok(r);
	assert_int_equal(r->res->changed_mask, BIT(8));
	assert_pcr_folds(&r->v, r->res, 8, rep, 1);
	assert_published(&r->v, r->res, BIT(8));
	run_free(r);
}

static void test_cmdline_grub(void **state)
{
	static const char text[] = "(hd0,gpt2)/vmlinuz-6.1.0 root=UUID=1234 ro quiet";
	static const char command[] = "linux (hd0,gpt2)/vmlinuz-6.1.0 root=UUID=1234 ro quiet";
	struct run *r = run_new("moklisttrusted");
	struct skr_predict_digests t, c;
	struct replace rep[] = { { 92, &t }, { 88, &c } };
	char cmdline[256];

	hash_of(&r->v, text, strlen(text), &t);
	hash_of(&r->v, command, strlen(command), &c);
	snprintf(cmdline, sizeof(cmdline), "BOOT_IMAGE=%s", text);
	r->req.cmdline = cmdline;
	predict_ok(r);
	assert_int_equal(r->res->changed_mask, BIT(8));
	assert_pcr_folds(&r->v, r->res, 8, rep, 2);
	assert_published(&r->v, r->res, BIT(8));
	run_free(r);
}

/* GRUB measures the kernel's path with the command line: a bare one is refused. */
static void test_cmdline_grub_needs_path(void **state)
{
	struct run *r = run_new("gce-ubuntu-2104-log");

	r->req.cmdline = "root=/dev/sda1 ro";
	assert_failed_with(predict(r), r->err, SKR_R_usage, "BOOT_IMAGE=PATH ARGS");
	r->req.pcr_mask = BIT(7);
	predict_ok(r);
	assert_int_equal(r->res->subst_count, 0);
	assert_true(has_note(r->res, "not bound"));
	run_free(r);
}

static void test_cmdline_not_ascii(void **state)
{
	struct run *r = run_new("sd-boot-fedora37");

	r->req.cmdline = "root=/dev/vda2 caf\xc3\xa9";
	assert_failed_with(predict(r), r->err, SKR_R_unsupported, "only printable ASCII");
	run_free(r);
}

/* ---- Refusals ---------------------------------------------------------------------- */

/* No PCR 4 application at all: refused when PCR 4 is bound, a note when not. */
static void test_refuse_no_kernel_event(void **state)
{
	struct run *r = run_new("sd-boot-fedora37");
	struct skr_predict_digests pe, file;

	other(&r->v, 1, &pe);
	other(&r->v, 2, &file);
	set_kernel(r, &pe, &file);
	assert_failed_with(predict(r), r->err, SKR_R_predict_ambiguous,
			   "PCR 4 has no EV_EFI_BOOT_SERVICES_APPLICATION");
	r->req.pcr_mask = BIT(7) | BIT(9) | BIT(12);
	predict_ok(r);
	assert_int_equal(r->res->changed_mask, 0);
	assert_true(has_note(r->res, "not bound, so not refused: PCR 4 has no"));
	run_free(r);
}

/* shim in the chain without GRUB's measurements: which event is the kernel? */
static void test_refuse_shim(void **state)
{
	struct run *r = run_new("uefi-sha1-log");
	struct skr_predict_digests pe, file;

	other(&r->v, 1, &pe);
	other(&r->v, 2, &file);
	set_kernel(r, &pe, &file);
	assert_failed_with(predict(r), r->err, SKR_R_predict_ambiguous,
			   "shim (PCR 4 event 15)");
	run_free(r);
}

static void test_refuse_current_not_found(void **state)
{
	struct run *r = run_new("arch-linux");
	struct skr_predict_digests pe, file;

	other(&r->v, 1, &pe);
	other(&r->v, 2, &file);
	set_kernel(r, &pe, &file);
	set_current_kernel(r, &file, &file);
	assert_failed_with(predict(r), r->err, SKR_R_predict_ambiguous,
			   "carries the Authenticode digest of --current-kernel");
	run_free(r);
}

static void test_refuse_grub_current_mismatch(void **state)
{
	struct run *r = run_new("moklisttrusted");
	struct skr_predict_digests pe, file, right_pe;

	other(&r->v, 1, &pe);
	other(&r->v, 2, &file);
	set_kernel(r, &pe, &file);
	set_current_kernel(r, &file, &file);
	assert_failed_with(predict(r), r->err, SKR_R_predict_ambiguous, "PCR 4 event 90");
	/* The right Authenticode digest but another file: GRUB's PCR 9 event says so. */
	from_event(&r->v, 90, &right_pe);
	set_current_kernel(r, &right_pe, &file);
	assert_failed_with(predict(r), r->err, SKR_R_predict_ambiguous, "PCR 9 event 89");
	run_free(r);
}

static void test_refuse_uki(void **state)
{
	struct run *r = run_new("arch-linux");
	struct skr_predict_digests pe, file;

	other(&r->v, 1, &pe);
	other(&r->v, 2, &file);
	set_kernel(r, &pe, &file);
	r->req.kernel.is_uki = true;
	assert_failed_with(predict(r), r->err, SKR_R_predict_unsupported, "unified kernel image");
	r->req.pcr_mask = BIT(7);
	predict_ok(r);
	assert_int_equal(r->res->subst_count, 0);
	run_free(r);
}

static void test_refuse_bad_mask(void **state)
{
	struct run *r = run_new("arch-linux");

	r->req.pcr_mask = 0;
	assert_failed_with(predict(r), r->err, SKR_R_usage, "selects no PCR");
	r->req.pcr_mask = BIT(24);
	assert_failed_with(predict(r), r->err, SKR_R_usage, NULL);
	run_free(r);
}

/* ---- Live PCR values ------------------------------------------------------------------- */

static void live_from_published(const struct run *r, struct skr_pcr_banks *live)
{
	struct skr_err err = { 0 };

	assert_ok(skr_pcr_banks_from_json(r->v.published, live, &err), err);
}

static void test_live_matches(void **state)
{
	struct run *r = run_new("arch-linux");
	struct skr_pcr_banks live;

	live_from_published(r, &live);
	r->req.live = &live;
	predict_ok(r);
	assert_true(r->res->live_checked);
	run_free(r);
}

static void test_live_mismatch(void **state)
{
	struct run *r = run_new("arch-linux");
	struct skr_pcr_banks live;
	struct skr_pcr_bank *sha256;
	_cleanup_free_ char *replayed = NULL, *held = NULL;
	char want[300];

	live_from_published(r, &live);
	sha256 = (struct skr_pcr_bank *)skr_pcr_banks_find(&live, SKR_TPM_ALG_SHA256);
	assert_non_null(sha256);
	replayed = skr_hex_encode(sha256->value[4], 32);
	sha256->value[4][0] ^= 1;
	held = skr_hex_encode(sha256->value[4], 32);
	r->req.live = &live;
	snprintf(want, sizeof(want), "PCR 4 (sha256) cannot be predicted: the event log replays to %s but the TPM holds %s",
		 replayed, held);
	assert_failed_with(predict(r), r->err, SKR_R_eventlog_replay_mismatch, want);
	/* A PCR that is not bound may differ: it is not predicted. */
	r->req.pcr_mask = BIT(7);
	predict_ok(r);
	run_free(r);
}

/* The live values must cover every bound PCR. */
static void test_live_incomplete(void **state)
{
	struct run *r = run_new("arch-linux");
	struct skr_pcr_banks live;

	live_from_published(r, &live);
	r->req.live = &live;
	r->req.pcr_mask = BIT(4) | BIT(9);	/* the log never extends PCR 9 */
	assert_failed_with(predict(r), r->err, SKR_R_malformed, "no PCR 9");
	run_free(r);
}

/* ---- Synthetic logs ----------------------------------------------------------------------- */

struct logbuf {
	uint8_t b[4096];
	size_t len;
};

static void put(struct logbuf *l, const void *p, size_t n)
{
	assert_true(l->len + n <= sizeof(l->b));
	memcpy(l->b + l->len, p, n);
	l->len += n;
}

static void put_u16(struct logbuf *l, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	put(l, b, 2);
}

static void put_u32(struct logbuf *l, uint32_t v)
{
	put_u16(l, (uint16_t)v);
	put_u16(l, (uint16_t)(v >> 16));
}

static void put_u64(struct logbuf *l, uint64_t v)
{
	put_u32(l, (uint32_t)v);
	put_u32(l, (uint32_t)(v >> 32));
}

/* A crypto-agile log with a sha256 bank only. */
static void put_spec_id(struct logbuf *l)
{
	static const uint8_t zeros[20];

	put_u32(l, 0);
	put_u32(l, SKR_EV_NO_ACTION);
	put(l, zeros, 20);
	put_u32(l, 16 + 8 + 4 + 4 + 1);
	put(l, "Spec ID Event03", 16);
	put_u32(l, 0);
	put_u32(l, 0x02000000);		/* version 2.0, errata 0, uintnSize 2 */
	put_u32(l, 1);
	put_u16(l, SKR_TPM_ALG_SHA256);
	put_u16(l, 32);
	put(l, "", 1);			/* no vendor info */
}

static void put_event_digest(struct logbuf *l, uint32_t pcr, uint32_t type,
			     const uint8_t digest[32], const void *data, uint32_t len)
{
	put_u32(l, pcr);
	put_u32(l, type);
	put_u32(l, 1);
	put_u16(l, SKR_TPM_ALG_SHA256);
	put(l, digest, 32);
	put_u32(l, len);
	put(l, data, len);
}

static void put_event(struct logbuf *l, uint32_t pcr, uint32_t type, uint8_t fill,
		      const void *data, uint32_t len)
{
	uint8_t digest[32];

	memset(digest, fill, sizeof(digest));
	put_event_digest(l, pcr, type, digest, data, len);
}

/* systemd's load options (PCR 12) and the EFI stub's LoadOptions tag (PCR 9),
 * both H(UTF-16LE text and NUL), as a systemd-boot + recent kernel boot logs them. */
static void put_load_options(struct logbuf *l, const char *text, bool systemd, bool stub)
{
	uint8_t u16[128] = { 0 }, tag[8 + 26], digest[32];
	size_t n = strlen(text), i;

	assert_true(2 * n + 2 <= sizeof(u16));
	for (i = 0; i < n; i++)
		u16[2 * i] = (uint8_t)text[i];
	assert_int_equal(EVP_Digest(u16, 2 * n + 2, digest, NULL, EVP_sha256(), NULL), 1);
	if (systemd)
		put_event_digest(l, 12, SKR_EV_IPL, digest, u16, (uint32_t)(2 * n + 2));
	memcpy(tag, "\xed\x22\x3b\x8f\x1a\x00\x00\x00", 8);
	memcpy(tag + 8, "LOADED_IMAGE::LoadOptions", 26);
	if (stub)
		put_event_digest(l, 9, 6 /* EV_EVENT_TAG */, digest, tag, sizeof(tag));
}

/* A "Linux initrd" tagged event of the kernel's EFI stub. */
static void put_initrd_tag(struct logbuf *l, uint8_t fill)
{
	uint8_t data[8 + 13];

	memcpy(data, "\xec\x22\x3b\x8f\x0d\x00\x00\x00", 8);
	memcpy(data + 8, "Linux initrd", 13);
	put_event(l, 9, 6 /* EV_EVENT_TAG */, fill, data, sizeof(data));
}

/* An EV_EFI_BOOT_SERVICES_APPLICATION whose device path is one file path (or none). */
static void put_app(struct logbuf *l, uint8_t fill, const char *file)
{
	struct logbuf d = { .len = 0 };
	size_t i, n = file ? strlen(file) : 0;

	put_u64(&d, 0x1000);
	put_u64(&d, 0x2000);
	put_u64(&d, 0);
	put_u64(&d, file ? 4 + 2 * (n + 1) + 4 : 0);
	if (file) {
		put(&d, "\x04\x04", 2);
		put_u16(&d, (uint16_t)(4 + 2 * (n + 1)));
		for (i = 0; i <= n; i++)
			put_u16(&d, (uint8_t)file[i]);
		put(&d, "\x7f\xff\x04\x00", 4);
	}
	put_event(l, 4, SKR_EV_EFI_BOOT_SERVICES_APPLICATION, fill, d.b, (uint32_t)d.len);
}

static int predict_synthetic(const struct logbuf *l, struct skr_predict_request *req,
			     struct skr_err *err)
{
	_cleanup_free_ struct skr_predict_result *res = calloc(1, sizeof(*res));
	struct skr_eventlog *log = NULL;
	int rc;

	assert_non_null(res);
	skr_err_clear(err);
	assert_ok(skr_eventlog_parse(l->b, l->len, &log, err), *err);
	rc = skr_predict(log, req, res, err);
	skr_eventlog_free(log);
	return rc;
}

static void sha256_fill(struct skr_predict_digests *d, uint8_t fill)
{
	memset(d, 0, sizeof(*d));
	d->present = true;
	d->count = 1;
	d->d[0].alg = SKR_TPM_ALG_SHA256;
	d->d[0].size = 32;
	memset(d->d[0].value, fill, 32);
}

static void test_refuse_two_initrds(void **state)
{
	struct skr_predict_request req = { .pcr_mask = BIT(9) };
	struct logbuf l = { .len = 0 };
	struct skr_err err = { 0 };

	put_spec_id(&l);
	put_initrd_tag(&l, 0x11);
	put_initrd_tag(&l, 0x22);
	sha256_fill(&req.initrd, 0x33);
	assert_failed_with(predict_synthetic(&l, &req, &err), err, SKR_R_predict_ambiguous,
			   "PCR 9 event 1 and PCR 9 event 2 measure two different initrds");
}

/* The last application is the removable-media path (shim or a boot manager), or has no path. */
static void test_refuse_last_app_loader(void **state)
{
	struct skr_predict_request req = { .pcr_mask = BIT(4) };
	struct logbuf l = { .len = 0 };
	struct skr_err err = { 0 };

	sha256_fill(&req.kernel.authenticode, 0x44);
	sha256_fill(&req.kernel.file, 0x45);
	req.kernel.present = true;
	put_spec_id(&l);
	put_app(&l, 0x01, "\\EFI\\BOOT\\BOOTX64.EFI");
	assert_failed_with(predict_synthetic(&l, &req, &err), err, SKR_R_predict_ambiguous,
			   "(event 1, bootx64.efi) is a boot loader");
	put_app(&l, 0x02, NULL);
	assert_failed_with(predict_synthetic(&l, &req, &err), err, SKR_R_predict_ambiguous,
			   "(event 2) has no file path");
	put_app(&l, 0x03, "\\vmlinuz-6.1");
	assert_ok(predict_synthetic(&l, &req, &err), err);
}

/* The stub's LoadOptions tag follows the command line only when systemd's own
 * measurement shows the bytes were UTF-16 with a NUL. */
static void test_cmdline_stub_load_options(void **state)
{
	static const char cmdline[] = "root=/dev/vda2 ro";
	_cleanup_free_ struct skr_predict_result *res = calloc(1, sizeof(*res));
	struct skr_predict_request req = { .pcr_mask = BIT(9) | BIT(12), .cmdline = cmdline };
	struct logbuf l = { .len = 0 };
	struct skr_eventlog *log = NULL;
	struct skr_err err = { 0 };

	assert_non_null(res);
	put_spec_id(&l);
	put_load_options(&l, "console=ttyS0", true, true);
	assert_ok(skr_eventlog_parse(l.b, l.len, &log, &err), err);
	assert_ok(skr_predict(log, &req, res, &err), err);
	assert_int_equal(res->changed_mask, BIT(9) | BIT(12));
	assert_int_equal(res->subst_count, 2);
	assert_int_equal(res->subst[0].event, 1);
	assert_int_equal(res->subst[1].event, 2);
	assert_string_equal(res->subst[1].component, "cmdline");
	{
		/* One extend each, of H(UTF-16LE "root=/dev/vda2 ro" and NUL). */
		uint8_t u16[2 * sizeof(cmdline)] = { 0 }, msg[64] = { 0 }, want[32];
		size_t i;

		for (i = 0; i + 1 < sizeof(cmdline); i++)
			u16[2 * i] = (uint8_t)cmdline[i];
		assert_int_equal(EVP_Digest(u16, sizeof(u16), msg + 32, NULL, EVP_sha256(), NULL), 1);
		assert_int_equal(EVP_Digest(msg, 64, want, NULL, EVP_sha256(), NULL), 1);
		assert_memory_equal(res->predicted.bank[0].value[9], want, 32);
		assert_memory_equal(res->predicted.bank[0].value[12], want, 32);
	}
	skr_eventlog_free(log);

	/* The tag alone: nothing shows the encoding. */
	l.len = 0;
	put_spec_id(&l);
	put_load_options(&l, "console=ttyS0", false, true);
	assert_failed_with(predict_synthetic(&l, &req, &err), err, SKR_R_predict_ambiguous,
			   "LoadOptions (PCR 9 event 1) in an encoding nothing else in the log shows");
}

/* ---- Inputs from files ----------------------------------------------------------------------- */

static bool find_signed_kernel(char *path, size_t size)
{
	const char *cache = getenv("SKR_VECTOR_CACHE");
	char pattern[512];
	glob_t g;
	bool found;

	snprintf(pattern, sizeof(pattern), "%s/vmlinuz-*", cache ? cache : "/var/cache/skr/vectors");
	if (glob(pattern, 0, NULL, &g) != 0)
		return false;
	found = g.gl_pathc > 0;
	if (found)
		snprintf(path, size, "%s", g.gl_pathv[0]);
	globfree(&g);
	return found;
}

/* The real signed kernel as the new one, on a systemd-boot and a GRUB log. */
static void test_real_kernel(void **state)
{
	_cleanup_buf_ struct skr_buf img = { 0 };
	struct skr_predict_digests pe_sha1 = { 0 }, file;
	struct skr_err err = { 0 };
	struct run *r;
	char path[512];
	size_t len = 0;

	if (!find_signed_kernel(path, sizeof(path))) {
		print_message("no signed kernel cached (tests/tools/fetch-signed-kernel.sh): skipped\n");
		skip();
	}
	assert_ok(skr_read_file(path, (size_t)1 << 30, &img, &err), err);

	/* systemd-boot: PCR 4 event 23 takes `skrctl pe hash` of the image, in both banks. */
	r = run_new("arch-linux");
	assert_ok(skr_predict_image_digests(r->v.log, img.data, img.len, &r->req.kernel, &err), err);
	assert_false(r->req.kernel.is_uki);
	pe_sha1.present = true;
	pe_sha1.count = 2;
	pe_sha1.d[0].alg = SKR_TPM_ALG_SHA1;
	assert_ok(skr_pe_authenticode(img.data, img.len, "sha1", pe_sha1.d[0].value, &len, &err), err);
	pe_sha1.d[1].alg = SKR_TPM_ALG_SHA256;
	assert_ok(skr_pe_authenticode(img.data, img.len, "sha256", pe_sha1.d[1].value, &len, &err), err);
	{
		struct replace rep[] = { { 23, &pe_sha1 } };

		predict_ok(r);
		assert_int_equal(r->res->changed_mask, BIT(4));
		assert_pcr_folds(&r->v, r->res, 4, rep, 1);
	}
	run_free(r);

	/* shim + GRUB: PCR 4 twice the Authenticode digest, PCR 9 the file's SHA-256. */
	r = run_new("moklisttrusted");
	assert_ok(skr_predict_image_digests(r->v.log, img.data, img.len, &r->req.kernel, &err), err);
	hash_of(&r->v, img.data, img.len, &file);
	pe_sha1.count = 1;
	pe_sha1.d[0] = pe_sha1.d[1];
	{
		struct replace pcr4[] = { { 90, &pe_sha1 }, { 91, &pe_sha1 } }, pcr9[] = { { 89, &file } };

		predict_ok(r);
		assert_int_equal(r->res->changed_mask, BIT(4) | BIT(9));
		assert_pcr_folds(&r->v, r->res, 4, pcr4, 2);
		assert_pcr_folds(&r->v, r->res, 9, pcr9, 1);
	}
	run_free(r);
}

/* A PE with a .linux section is a UKI, and is refused. */
static void test_uki_image(void **state)
{
	_cleanup_buf_ struct skr_buf img = { 0 };
	struct run *r = run_new("arch-linux");
	struct skr_err err = { 0 };
	uint8_t *name;

	skr_test_read_vector(SKR_SRCDIR "/tests/vectors/pe/hello-x64.efi", &img);
	assert_ok(skr_predict_image_digests(r->v.log, img.data, img.len, &r->req.kernel, &err), err);
	assert_false(r->req.kernel.is_uki);
	name = memmem(img.data, 0x200, ".text\0\0\0", 8);
	assert_non_null(name);
	memcpy(name, ".linux\0\0", 8);
	assert_ok(skr_predict_image_digests(r->v.log, img.data, img.len, &r->req.kernel, &err), err);
	assert_true(r->req.kernel.is_uki);
	assert_failed_with(predict(r), r->err, SKR_R_predict_unsupported, "the new kernel is a unified kernel image");
	img.data[0] = 'X';
	assert_failed_with(skr_predict_image_digests(r->v.log, img.data, img.len, &r->req.kernel, &err),
			   err, SKR_R_malformed, NULL);
	run_free(r);
}

/* Files are hashed in chunks: one of a few MiB and an odd size, against a one-shot hash. */
static void test_file_digests(void **state)
{
	struct run *r = run_new("gce-ubuntu-2104-log");	/* sha1, sha256, sha384 */
	struct skr_predict_digests got, want;
	struct skr_err err = { 0 };
	char path[] = "/tmp/skr-predict-XXXXXX";
	size_t len = (5u << 19) + 3, i;
	uint8_t *data = malloc(len);
	int fd = mkstemp(path);

	assert_non_null(data);
	assert_true(fd >= 0);
	for (i = 0; i < len; i++)
		data[i] = (uint8_t)(i * 7 + (i >> 11));
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	hash_of(&r->v, data, len, &want);
	assert_ok(skr_predict_file_digests(r->v.log, path, &got, &err), err);
	assert_int_equal(got.count, 3);
	for (i = 0; i < got.count; i++) {
		assert_int_equal(got.d[i].alg, want.d[i].alg);
		assert_memory_equal(got.d[i].value, want.d[i].value, got.d[i].size);
	}
	unlink(path);
	assert_failed_with(skr_predict_file_digests(r->v.log, path, &got, &err), err, SKR_R_io,
			   "cannot open");
	free(data);
	run_free(r);
}

/* ---- The binding enroll chooses from a log (binding.h) ------------------- */

static void binding_of(const char *name, struct skr_binding *b)
{
	struct vec v;

	vec_load(name, &v);
	skr_binding_analyse(v.log, b);
	vec_free(&v);
}

static void assert_mask(uint32_t mask, const char *want)
{
	char text[64];

	skr_binding_mask_text(mask, text, sizeof(text));
	assert_string_equal(text, want);
}

/* Each chain's default covers kernel, initrd, command line and Secure Boot state. */
static void test_binding_defaults(void **state)
{
	static const struct {
		const char *log, *chain, *recommended, *initrd, *cmdline;
		bool note;
	} cases[] = {
		/* systemd-boot, systemd measuring the command line into PCR 12 */
		{ "sd-boot-fedora37", "efi", "4,7,9,12", "9", "12", false },
		/* systemd-boot with older systemd (PCR 8); its kernel does not measure the initrd */
		{ "arch-linux", "efi", "4,7,8,9", "9", "8", true },
		{ "moklisttrusted", "shim+grub", "4,7,8,9", "9", "8", false },
		{ "gce-ubuntu-2104-log", "shim+grub", "4,7,8,9", "9", "8", true },
	};
	struct skr_binding b;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		binding_of(cases[i].log, &b);
		assert_string_equal(b.chain, cases[i].chain);
		assert_mask(b.recommended, cases[i].recommended);
		assert_mask(b.part[SKR_BIND_INITRD], cases[i].initrd);
		assert_mask(b.part[SKR_BIND_CMDLINE], cases[i].cmdline);
		assert_mask(b.part[SKR_BIND_SECUREBOOT], "7");
		assert_int_equal(b.note[0] != 0, cases[i].note);
		assert_int_equal(skr_binding_unmeasured(&b, b.recommended, NULL, 0), 0);
	}
}

static void test_binding_refusals(void **state)
{
	struct skr_binding b;
	struct skr_err err = { 0 };
	char text[256], warning[512];
	uint32_t out = 0;

	/* GRUB: 4,7,9 leaves the command line (PCR 8) unmeasured. */
	binding_of("moklisttrusted", &b);
	assert_int_equal(skr_binding_unmeasured(&b, BIT(4) | BIT(7) | BIT(9), text, sizeof(text)),
			 1u << SKR_BIND_CMDLINE);
	assert_string_equal(text, "the command line (PCR 8)");
	assert_failed_with(skr_binding_resolve(&b, true, BIT(4) | BIT(7) | BIT(9), false, &out,
					       warning, sizeof(warning), &err),
			   err, SKR_R_binding_too_weak, "leave the command line (PCR 8) unmeasured");
	skr_err_clear(&err);
	/* systemd-boot: PCR 7 alone leaves kernel, initrd and command line to the host. */
	binding_of("sd-boot-fedora37", &b);
	assert_failed_with(skr_binding_resolve(&b, true, BIT(7), false, &out, warning,
					       sizeof(warning), &err),
			   err, SKR_R_binding_too_weak,
			   "the kernel (PCR 4), the initrd (PCR 9), the command line (PCR 12)");
	skr_err_clear(&err);
	/* ... accepted when the operator says so, with the warning naming what is left. */
	assert_ok(skr_binding_resolve(&b, true, BIT(7), true, &out, warning, sizeof(warning), &err),
		  err);
	assert_int_equal(out, BIT(7));
	assert_non_null(strstr(warning, "--weak-binding: PCRs 7 leave the kernel (PCR 4), the initrd (PCR 9), the command line (PCR 12) unmeasured"));
	/* The default, and a strong binding given, carry no warning. */
	assert_ok(skr_binding_resolve(&b, false, 0, false, &out, warning, sizeof(warning), &err), err);
	assert_int_equal(out, BIT(4) | BIT(7) | BIT(9) | BIT(12));
	assert_string_equal(warning, "");
	/* Empty and the boot gate: refused, --weak-binding or not. */
	assert_failed_with(skr_binding_resolve(&b, true, 0, true, &out, warning, sizeof(warning),
					       &err),
			   err, SKR_R_binding_too_weak, "the PCR set is empty");
	skr_err_clear(&err);
	assert_failed_with(skr_binding_resolve(&b, true, BIT(4) | BIT(7) | BIT(9) | BIT(12) | BIT(15),
					       true, &out, warning, sizeof(warning), &err),
			   err, SKR_R_usage, "PCR 15 is the boot gate");
	skr_err_clear(&err);
	/* No log: no default; 4,7,9 is strong enough, 4,7 is not. */
	skr_binding_analyse(NULL, &b);
	assert_string_equal(b.chain, "unknown");
	assert_failed_with(skr_binding_resolve(&b, false, 0, true, &out, warning, sizeof(warning),
					       &err),
			   err, SKR_R_binding_too_weak, "no TCG event log");
	skr_err_clear(&err);
	assert_ok(skr_binding_resolve(&b, true, BIT(4) | BIT(7) | BIT(9), false, &out, warning,
				      sizeof(warning), &err), err);
	assert_failed_with(skr_binding_resolve(&b, true, BIT(4) | BIT(7), false, &out, warning,
					       sizeof(warning), &err),
			   err, SKR_R_binding_too_weak, "the initrd (PCR 9), the command line (PCR 9)");
	skr_err_clear(&err);
}

/* A UKI (systemd-stub's PCR 11 events in the log): PCR 4 covers its sections, never 11. */
static void test_binding_uki(void **state)
{
	struct skr_binding b;
	struct vec v;
	char text[256];
	size_t i;

	vec_load("sd-boot-fedora37", &v);
	for (i = 0; i < v.log->event_count && v.log->events[i].pcr != 5; i++)
		;
	assert_true(i < v.log->event_count);
	v.log->events[i].pcr = 11;	/* as systemd-stub measures a section */
	skr_binding_analyse(v.log, &b);
	vec_free(&v);
	assert_string_equal(b.chain, "uki");
	assert_mask(b.part[SKR_BIND_KERNEL], "4,11");
	/* systemd measured a command line into PCR 12: the loader's overrode .cmdline. */
	assert_mask(b.part[SKR_BIND_CMDLINE], "12");
	assert_mask(b.recommended, "4,7,9,12");
	assert_int_equal(skr_binding_unmeasured(&b, BIT(4) | BIT(7), text, sizeof(text)),
			 1u << SKR_BIND_CMDLINE);
	assert_string_equal(text, "the command line (PCR 12)");
	assert_int_equal(skr_binding_unmeasured(&b, BIT(4) | BIT(7) | BIT(12), NULL, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_arch),
		cmocka_unit_test(test_same_fedora),
		cmocka_unit_test(test_same_grub_rhel),
		cmocka_unit_test(test_same_grub_gce),
		cmocka_unit_test(test_same_sha1),
		cmocka_unit_test(test_kernel_sdboot),
		cmocka_unit_test(test_kernel_shim_by_digest),
		cmocka_unit_test(test_kernel_grub),
		cmocka_unit_test(test_kernel_grub_unmeasured_pcr4),
		cmocka_unit_test(test_initrd_stub),
		cmocka_unit_test(test_initrd_grub),
		cmocka_unit_test(test_initrd_unmeasured),
		cmocka_unit_test(test_cmdline_systemd),
		cmocka_unit_test(test_cmdline_sdboot_pcr8),
		cmocka_unit_test(test_cmdline_grub),
		cmocka_unit_test(test_cmdline_grub_needs_path),
		cmocka_unit_test(test_cmdline_not_ascii),
		cmocka_unit_test(test_refuse_no_kernel_event),
		cmocka_unit_test(test_refuse_shim),
		cmocka_unit_test(test_refuse_current_not_found),
		cmocka_unit_test(test_refuse_grub_current_mismatch),
		cmocka_unit_test(test_refuse_uki),
		cmocka_unit_test(test_refuse_bad_mask),
		cmocka_unit_test(test_live_matches),
		cmocka_unit_test(test_live_mismatch),
		cmocka_unit_test(test_live_incomplete),
		cmocka_unit_test(test_refuse_two_initrds),
		cmocka_unit_test(test_refuse_last_app_loader),
		cmocka_unit_test(test_cmdline_stub_load_options),
		cmocka_unit_test(test_real_kernel),
		cmocka_unit_test(test_uki_image),
		cmocka_unit_test(test_file_digests),
		cmocka_unit_test(test_binding_defaults),
		cmocka_unit_test(test_binding_refusals),
		cmocka_unit_test(test_binding_uki),
	};

	return cmocka_run_group_tests_name("predict", tests, NULL, NULL);
}
