/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: PCR prediction on arbitrary event logs.  The predictor
 * reads event data the firmware (or an attacker) wrote: GRUB's strings,
 * Linux's tagged events, systemd's UTF-16 command lines, device paths.
 * Checks, besides ASan/UBSan: substitutions name events of the log, a
 * successful prediction changes only bound PCRs, and with no component
 * changed nothing changes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "verify/eventlog.h"
#include "predict/predict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct skr_predict_result res;	/* large: not on the stack */

static void check(const struct skr_eventlog *log, const struct skr_predict_request *req, int rc)
{
	size_t i;

	if (res.subst_count > SKR_PREDICT_MAX_SUBST || res.note_count > SKR_PREDICT_MAX_NOTES)
		abort();
	for (i = 0; i < res.subst_count; i++)
		if (res.subst[i].event >= log->event_count)
			abort();
	for (i = 0; i < res.note_count; i++)
		if (!memchr(res.notes[i], '\0', SKR_PREDICT_NOTE_SIZE))
			abort();
	if (rc == 0 && (res.changed_mask & ~req->pcr_mask))
		abort();
}

static void run(const struct skr_eventlog *log, struct skr_predict_request *req)
{
	static const uint32_t masks[] = { 0xFFFFFF, (1u << 4) | (1u << 9), 1u << 7, 1u << 8 };
	struct skr_err err;
	size_t i;

	for (i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
		skr_err_clear(&err);
		req->pcr_mask = masks[i];
		check(log, req, skr_predict(log, req, &res, &err));
	}
}

/* The running kernel as the digests of the log's last PCR 4 application. */
static void current_from_log(const struct skr_eventlog *log, struct skr_predict_image *cur)
{
	size_t i, j;

	for (i = log->event_count; i-- > 0;) {
		const struct skr_eventlog_event *ev = &log->events[i];

		if (ev->pcr != 4 || ev->type != SKR_EV_EFI_BOOT_SERVICES_APPLICATION)
			continue;
		memset(cur, 0, sizeof(*cur));
		for (j = 0; j < ev->digest_count; j++) {
			cur->authenticode.d[j].alg = ev->digests[j].alg;
			cur->authenticode.d[j].size = ev->digests[j].size;
			memcpy(cur->authenticode.d[j].value, ev->digests[j].value, ev->digests[j].size);
		}
		cur->authenticode.count = ev->digest_count;
		cur->authenticode.present = true;
		cur->file = cur->authenticode;
		cur->present = true;
		return;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct skr_predict_request req = { 0 };
	struct skr_eventlog *log = NULL;
	struct skr_err err = { 0 };

	if (skr_eventlog_parse(data, size, &log, &err) < 0)
		return 0;
	/* Nothing changed: nothing may change. */
	req.pcr_mask = 0xFFFFFF;
	if (skr_predict(log, &req, &res, &err) == 0 && res.changed_mask)
		abort();
	if (skr_predict_bytes_digests(log, "kernel", 6, &req.kernel.authenticode, &err) < 0 ||
	    skr_predict_bytes_digests(log, "kernel file", 11, &req.kernel.file, &err) < 0 ||
	    skr_predict_bytes_digests(log, "initrd", 6, &req.initrd, &err) < 0)
		goto out;
	req.kernel.present = true;
	req.cmdline = "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro";
	run(log, &req);
	current_from_log(log, &req.current_kernel);
	req.cmdline = "root=/dev/sda1 ro";
	run(log, &req);
out:
	skr_eventlog_free(log);
	return 0;
}
