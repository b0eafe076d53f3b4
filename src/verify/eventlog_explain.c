/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which event-log entries make up a PCR: when a broker refuses a boot state,
 * the operator needs the events that produced the differing PCR value (the
 * boot loader, kernel, Secure Boot variables ...), not just two hashes.
 */
#include <stdio.h>
#include <string.h>

#include "verify/eventlog.h"
#include "common/json_util.h"
#include "common/util.h"

static json_object *event_json(const struct skr_eventlog_event *ev, uint16_t alg)
{
	const struct skr_eventlog_digest *d = skr_eventlog_event_digest(ev, alg);
	const char *name = skr_eventlog_type_name(ev->type);
	json_object *o = json_object_new_object();
	struct skr_err ignored = { 0 };
	char *desc = NULL, type[16];

	json_object_object_add(o, "index", json_object_new_int64((int64_t)ev->index));
	if (!name) {
		snprintf(type, sizeof(type), "0x%08x", ev->type);
		name = type;
	}
	json_object_object_add(o, "type", json_object_new_string(name));
	if (d)
		skr_json_add_hex(o, "digest", d->value, d->size);
	if (skr_eventlog_describe(ev, &desc, &ignored) == 0 && desc)
		json_object_object_add(o, "description", json_object_new_string(desc));
	free(desc);
	return o;
}

json_object *skr_eventlog_explain_pcr(const struct skr_eventlog *log,
				      const struct skr_pcr_banks *replayed, uint16_t alg,
				      unsigned pcr, const uint8_t *seen, size_t seen_len)
{
	const struct skr_pcr_bank *bank = skr_pcr_banks_find(replayed, alg);
	json_object *o = json_object_new_object(), *events = json_object_new_array();
	size_t i;

	json_object_object_add(o, "pcr", json_object_new_int((int)pcr));
	for (i = 0; i < log->event_count; i++) {
		const struct skr_eventlog_event *ev = &log->events[i];

		if (ev->pcr == pcr && ev->type != SKR_EV_NO_ACTION)
			json_object_array_add(events, event_json(ev, alg));
	}
	json_object_object_add(o, "events", events);
	if (bank && pcr < SKR_PCR_COUNT && (bank->extended_mask & (1u << pcr))) {
		skr_json_add_hex(o, "replay", bank->value[pcr], bank->size);
		/* A log that does not replay to the quoted value cannot explain it. */
		if (seen)
			json_object_object_add(o, "replay_matches_quote",
					       json_object_new_boolean(seen_len == bank->size &&
								       !memcmp(seen, bank->value[pcr], seen_len)));
	}
	return o;
}
