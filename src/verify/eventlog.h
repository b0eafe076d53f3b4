/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TCG PC Client firmware event logs: parsing, PCR replay and description.
 *
 * Two log formats are accepted (TCG PC Client Platform Firmware Profile):
 *   - crypto-agile: a SHA-1-format first event (TCG_PCClientPCREvent) that is
 *     the EV_NO_ACTION "Spec ID Event03" carrying the table of algorithms and
 *     digest sizes, then TCG_PCR_EVENT2 records with one digest per algorithm;
 *   - SHA-1 only: TCG_PCClientPCREvent records with a 20-byte digest each.
 *
 * The log is untrusted input.  The parser checks every length before reading
 * and fails with SKR_R_malformed naming the event index and byte offset.
 * Nothing it returns points outside the log's own copy of the input.
 */
#ifndef SKR_EVENTLOG_H
#define SKR_EVENTLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "common/err.h"
#include "common/pcr_bank.h"
#include "common/util.h"

/* ---- Event log ---------------------------------------------------------- */

/* Limits that keep a hostile log from exhausting memory or time. */
#define SKR_EVENTLOG_MAX_SIZE (16u * 1024 * 1024)
#define SKR_EVENTLOG_MAX_EVENTS 100000
#define SKR_EVENTLOG_MAX_ALGS 8	/* rows of the Spec ID event's algorithm table */

/* Event types (PC Client Platform Firmware Profile, "Event Types"). */
enum {
	SKR_EV_PREBOOT_CERT = 0x00000000,
	SKR_EV_POST_CODE = 0x00000001,
	SKR_EV_NO_ACTION = 0x00000003,
	SKR_EV_SEPARATOR = 0x00000004,
	SKR_EV_ACTION = 0x00000005,
	SKR_EV_EVENT_TAG = 0x00000006,
	SKR_EV_S_CRTM_VERSION = 0x00000008,
	SKR_EV_IPL = 0x0000000D,
	SKR_EV_EFI_VARIABLE_DRIVER_CONFIG = 0x80000001,
	SKR_EV_EFI_VARIABLE_BOOT = 0x80000002,
	SKR_EV_EFI_BOOT_SERVICES_APPLICATION = 0x80000003,
	SKR_EV_EFI_BOOT_SERVICES_DRIVER = 0x80000004,
	SKR_EV_EFI_RUNTIME_SERVICES_DRIVER = 0x80000005,
	SKR_EV_EFI_ACTION = 0x80000007,
	SKR_EV_EFI_PLATFORM_FIRMWARE_BLOB = 0x80000008,
	SKR_EV_EFI_PLATFORM_FIRMWARE_BLOB2 = 0x8000000A,
	SKR_EV_EFI_VARIABLE_BOOT2 = 0x8000000C,
	SKR_EV_EFI_VARIABLE_AUTHORITY = 0x800000E0,
};

/* One row of the Spec ID event's table: an algorithm and its digest size. */
struct skr_eventlog_alg {
	uint16_t alg;
	uint16_t size;
};

/* One digest of an event; value points into the log's copy of the input. */
struct skr_eventlog_digest {
	uint16_t alg;
	uint16_t size;
	const uint8_t *value;
};

struct skr_eventlog_event {
	size_t index;		/* 0 is the first record of the log */
	size_t offset;		/* byte offset of the record in the log */
	uint32_t pcr;
	uint32_t type;
	size_t digest_count;
	struct skr_eventlog_digest digests[SKR_EVENTLOG_MAX_ALGS];
	const uint8_t *data;	/* the event data, data_len bytes */
	size_t data_len;
};

struct skr_eventlog {
	bool crypto_agile;
	/* The algorithms of the log: the Spec ID table, or just sha1. */
	size_t alg_count;
	struct skr_eventlog_alg algs[SKR_EVENTLOG_MAX_ALGS];
	size_t event_count;
	struct skr_eventlog_event *events;
	uint8_t *raw;		/* the log's own copy of the input */
	size_t raw_len;
};

/*
 * Parses a whole log (every byte must belong to an event).  The result owns a
 * copy of data, so data may be freed afterwards.  Fails with SKR_R_malformed
 * (detail names the event and offset) or SKR_R_nomem.
 */
int skr_eventlog_parse(const uint8_t *data, size_t len, struct skr_eventlog **out,
		       struct skr_err *err);
void skr_eventlog_free(struct skr_eventlog *log);
void skr_eventlog_freep(struct skr_eventlog **log);
#define _cleanup_eventlog_ _cleanup_(skr_eventlog_freep)

/* The digest of algorithm alg in ev, or NULL if the event has none. */
const struct skr_eventlog_digest *skr_eventlog_event_digest(const struct skr_eventlog_event *ev,
							    uint16_t alg);

/*
 * Replays every event into one bank per known algorithm of the log (unknown
 * algorithms are parsed but cannot be replayed and get no bank).  EV_NO_ACTION
 * events are never extended; a "StartupLocality" EV_NO_ACTION in PCR 0 sets
 * PCR 0's initial value to the locality in its last byte, in every bank.
 * Fails with SKR_R_malformed when an extended event lacks a digest of a bank
 * or names a PCR above 23, SKR_R_unsupported if a hash is unavailable.
 */
int skr_eventlog_replay(const struct skr_eventlog *log, struct skr_pcr_banks *out,
			struct skr_err *err);

/* "EV_SEPARATOR", ...; NULL for a type without a name. */
const char *skr_eventlog_type_name(uint32_t type);

/*
 * A one-line, printable description of the event's data where its type has
 * one (variable name and GUID, action string, image location, ...): every
 * byte that is not printable ASCII is escaped, so the result is safe for a
 * terminal.  *out is a new string (caller frees), or NULL when the type has
 * no description.  Fails only with SKR_R_nomem.
 */
int skr_eventlog_describe(const struct skr_eventlog_event *ev, char **out, struct skr_err *err);

/*
 * The events of the log that extend `pcr` in bank `alg`, for explaining a
 * refused boot state: {"pcr", "events": [{"index", "type", "digest",
 * "description"}], "replay": hex, "replay_matches_quote": bool (when seen is
 * given)}.  replayed is skr_eventlog_replay's output for the same log.
 */
json_object *skr_eventlog_explain_pcr(const struct skr_eventlog *log,
				      const struct skr_pcr_banks *replayed, uint16_t alg,
				      unsigned pcr, const uint8_t *seen, size_t seen_len);

#endif
