/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The predictor's driver: checks the live PCRs against the log, runs the
 * attribution steps (which record substitutions), replays the log with the
 * substituted digests and reports what changed.  See predict.h.
 */
#include "predict/predict.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "predict/predict_int.h"
#include "common/util.h"

const uint8_t *skr_predict_digest(const struct skr_predict_digests *d, uint16_t alg)
{
	size_t i;

	for (i = 0; d->present && i < d->count; i++)
		if (d->d[i].alg == alg)
			return d->d[i].value;
	return NULL;
}

/* ---- Helpers of the attribution steps ----------------------------------- */

static struct skr_predict_subst *find_subst(struct skr_predict_result *res, size_t event)
{
	size_t i;

	for (i = 0; i < res->subst_count; i++)
		if (res->subst[i].event == event)
			return &res->subst[i];
	return NULL;
}

int predict_substitute(struct predict_ctx *c, const struct skr_eventlog_event *ev,
		       const char *component, const char *measured,
		       const struct skr_predict_digests *d)
{
	struct skr_predict_result *res = c->res;
	struct skr_predict_subst *s = find_subst(res, ev->index);

	/* Two components in one event would make the result depend on the order. */
	if (s)
		return skr_fail(c->err, SKR_R_predict_ambiguous,
				"PCR %u event %zu would measure both the %s and the %s", ev->pcr,
				ev->index, s->component, component);
	if (res->subst_count == SKR_PREDICT_MAX_SUBST)
		return skr_fail(c->err, SKR_R_predict_ambiguous,
				"more than %d events measure the new components (PCR %u event %zu)",
				SKR_PREDICT_MAX_SUBST, ev->pcr, ev->index);
	s = &res->subst[res->subst_count++];
	s->event = ev->index;
	s->component = component;
	s->measured = measured;
	s->digests = *d;
	return 0;
}

static void vnote(struct predict_ctx *c, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void vnote(struct predict_ctx *c, const char *fmt, va_list ap)
{
	struct skr_predict_result *res = c->res;

	if (res->note_count < SKR_PREDICT_MAX_NOTES)
		vsnprintf(res->notes[res->note_count++], SKR_PREDICT_NOTE_SIZE, fmt, ap);
}

void predict_note(struct predict_ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vnote(c, fmt, ap);
	va_end(ap);
}

int predict_refuse(struct predict_ctx *c, uint32_t pcrs, enum skr_reason reason,
		   const char *fmt, ...)
{
	char detail[sizeof(c->err->detail)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (pcrs & c->req->pcr_mask)
		return skr_fail(c->err, reason, "%s", detail);
	predict_note(c, "not bound, so not refused: %s", detail);
	return 0;
}

int predict_hash(struct predict_ctx *c, const void *data, size_t len,
		 struct skr_predict_digests *out)
{
	return skr_predict_bytes_digests(c->log, data, len, out, c->err);
}

bool predict_event_matches(const struct skr_eventlog_event *ev,
			   const struct skr_predict_digests *d)
{
	size_t i, compared = 0;

	for (i = 0; i < ev->digest_count; i++) {
		const uint8_t *want = skr_predict_digest(d, ev->digests[i].alg);

		if (!want)
			continue;
		if (memcmp(want, ev->digests[i].value, ev->digests[i].size))
			return false;
		compared++;
	}
	return compared > 0;
}

bool predict_events_equal(const struct skr_eventlog_event *a, const struct skr_eventlog_event *b)
{
	size_t i;

	if (a->digest_count != b->digest_count)
		return false;
	for (i = 0; i < a->digest_count; i++) {
		const struct skr_eventlog_digest *d = skr_eventlog_event_digest(b, a->digests[i].alg);

		if (!d || d->size != a->digests[i].size ||
		    memcmp(d->value, a->digests[i].value, d->size))
			return false;
	}
	return true;
}

static void hex_into(char *out, size_t out_size, const uint8_t *v, size_t len)
{
	size_t i;

	out[0] = '\0';
	for (i = 0; i < len && 2 * i + 2 < out_size; i++)
		snprintf(out + 2 * i, 3, "%02x", v[i]);
}

void predict_digest_label(const struct skr_predict_digests *d, char out[static PREDICT_LABEL_SIZE])
{
	size_t i = 0, n;

	out[0] = '\0';
	if (!d->present || !d->count)
		return;
	while (i + 1 < d->count && d->d[i].alg != SKR_TPM_ALG_SHA256)
		i++;
	if (d->d[i].alg != SKR_TPM_ALG_SHA256)
		i = 0;
	skr_tpm_alg_label(d->d[i].alg, out);
	n = strlen(out);
	out[n++] = ' ';
	hex_into(out + n, PREDICT_LABEL_SIZE - n, d->d[i].value, d->d[i].size);
}

/* ---- The driver ---------------------------------------------------------- */

/* Every bound PCR that the live values hold in a bank of the log must equal its replay. */
static int check_live(const struct skr_pcr_banks *replay, const struct skr_pcr_banks *live,
		      uint32_t mask, struct skr_err *err)
{
	char want[2 * SKR_PCR_MAX_DIGEST + 1], got[2 * SKR_PCR_MAX_DIGEST + 1];
	uint32_t seen = 0;
	unsigned pcr;
	size_t b;

	for (b = 0; b < live->count; b++) {
		const struct skr_pcr_bank *l = &live->bank[b];
		const struct skr_pcr_bank *r = skr_pcr_banks_find(replay, l->alg);

		for (pcr = 0; r && pcr < SKR_PCR_COUNT; pcr++) {
			if (!(mask & l->extended_mask & PCR_BIT(pcr)))
				continue;
			seen |= PCR_BIT(pcr);
			if (!memcmp(l->value[pcr], r->value[pcr], r->size))
				continue;
			hex_into(want, sizeof(want), r->value[pcr], r->size);
			hex_into(got, sizeof(got), l->value[pcr], l->size);
			return skr_fail(err, SKR_R_eventlog_replay_mismatch,
					"PCR %u (%s) cannot be predicted: the event log replays to %s but the TPM holds %s",
					pcr, r->name, want, got);
		}
	}
	for (pcr = 0; pcr < SKR_PCR_COUNT; pcr++)
		if (mask & ~seen & PCR_BIT(pcr))
			return skr_fail(err, SKR_R_malformed,
					"the live PCR values have no PCR %u in a bank of the event log", pcr);
	return 0;
}

/* The log replayed with the recorded substitutions: a copy of its events whose
 * digests point at the new values, replayed by the ordinary replay. */
static int replay_substituted(const struct skr_eventlog *log, const struct skr_predict_result *res,
			      struct skr_pcr_banks *out, struct skr_err *err)
{
	_cleanup_free_ struct skr_eventlog_event *events = NULL;
	struct skr_eventlog copy = *log;
	size_t i, j;

	events = calloc(log->event_count ? log->event_count : 1, sizeof(*events));
	if (!events)
		return skr_fail(err, SKR_R_nomem, "out of memory copying %zu events", log->event_count);
	memcpy(events, log->events, log->event_count * sizeof(*events));
	for (i = 0; i < res->subst_count; i++) {
		struct skr_eventlog_event *ev = &events[res->subst[i].event];

		for (j = 0; j < ev->digest_count; j++) {
			const uint8_t *v = skr_predict_digest(&res->subst[i].digests, ev->digests[j].alg);

			/* A bank that cannot be replayed anyway keeps its old bytes. */
			if (!v && skr_tpm_alg_name(ev->digests[j].alg))
				return skr_fail(err, SKR_R_unsupported, "no %s digest of the %s for event %zu",
						skr_tpm_alg_name(ev->digests[j].alg),
						res->subst[i].component, ev->index);
			if (v)
				ev->digests[j].value = v;
		}
	}
	copy.events = events;
	return skr_eventlog_replay(&copy, out, err);
}

/* Keeps the bound PCRs only; one never extended keeps its reset value, which is
 * what the next boot will hold too. */
static void restrict_to(struct skr_pcr_banks *banks, uint32_t mask)
{
	size_t b;

	for (b = 0; b < banks->count; b++)
		banks->bank[b].extended_mask = mask;
}

static uint32_t differing(const struct skr_pcr_banks *a, const struct skr_pcr_banks *b,
			  uint32_t mask)
{
	uint32_t changed = 0;
	unsigned pcr;
	size_t i;

	for (i = 0; i < a->count; i++)
		for (pcr = 0; pcr < SKR_PCR_COUNT; pcr++)
			if ((mask & PCR_BIT(pcr)) &&
			    memcmp(a->bank[i].value[pcr], b->bank[i].value[pcr], a->bank[i].size))
				changed |= PCR_BIT(pcr);
	return changed;
}

/* systemd-stub measures a UKI's sections into PCR 11: nothing here predicts them. */
static int refuse_pcr11(struct predict_ctx *c)
{
	size_t i;

	for (i = 0; i < c->log->event_count; i++) {
		const struct skr_eventlog_event *ev = &c->log->events[i];

		if (ev->pcr == 11 && ev->type != SKR_EV_NO_ACTION)
			return predict_refuse(c, PCR_BIT(11), SKR_R_predict_unsupported,
					      "PCR 11 holds systemd-stub's measurements of a unified kernel image (event %zu and on): they are not predicted",
					      ev->index);
	}
	return 0;
}

static int by_event(const void *a, const void *b)
{
	const struct skr_predict_subst *x = a, *y = b;

	return x->event < y->event ? -1 : x->event > y->event;
}

static int attribute(struct predict_ctx *c)
{
	if (refuse_pcr11(c) < 0 || predict_kernel(c) < 0 || predict_initrd(c) < 0 ||
	    predict_cmdline(c) < 0)
		return -1;
	if (grub_in_log(c->log) && (c->req->pcr_mask & (PCR_BIT(8) | PCR_BIT(9))))
		predict_note(c, "GRUB measures each command it runs into PCR 8 and each file it reads into PCR 9: "
				"the prediction assumes grub.cfg, grubenv and the boot entries are unchanged, "
				"and the kernel's path as before unless --cmdline gives BOOT_IMAGE=PATH");
	/* In log order, as people read them. */
	qsort(c->res->subst, c->res->subst_count, sizeof(c->res->subst[0]), by_event);
	return 0;
}

int skr_predict(const struct skr_eventlog *log, const struct skr_predict_request *req,
		struct skr_predict_result *res, struct skr_err *err)
{
	struct predict_ctx c = { log, req, res, err };
	struct skr_pcr_banks replay;

	memset(res, 0, sizeof(*res));
	if (!req->pcr_mask || req->pcr_mask >> SKR_PCR_COUNT)
		return skr_fail(err, SKR_R_usage, "PCR mask 0x%08x selects no PCR or PCRs above 23",
				req->pcr_mask);
	if (skr_eventlog_replay(log, &replay, err) < 0)
		return -1;
	if (req->live) {
		if (check_live(&replay, req->live, req->pcr_mask, err) < 0)
			return -1;
		res->live_checked = true;
	}
	res->chain = predict_chain_name(log);
	if (attribute(&c) < 0 || replay_substituted(log, res, &res->predicted, err) < 0)
		return -1;
	res->current = replay;
	restrict_to(&res->current, req->pcr_mask);
	restrict_to(&res->predicted, req->pcr_mask);
	res->changed_mask = differing(&res->current, &res->predicted, req->pcr_mask);
	return 0;
}
