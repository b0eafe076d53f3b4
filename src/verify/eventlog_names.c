/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Names of event types and printable descriptions of event data.
 *
 * Event data is whatever the firmware (or an attacker who controls the log)
 * wrote, so every decoder checks lengths against data_len and every byte it
 * emits goes through escape_char(): descriptions contain printable ASCII only
 * and are safe to print to a terminal or put on one line of output.
 */
#include "verify/eventlog.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
	uint32_t type;
	const char *name;
} event_types[] = {
	{ 0x00000000, "EV_PREBOOT_CERT" },
	{ 0x00000001, "EV_POST_CODE" },
	{ 0x00000002, "EV_UNUSED" },
	{ 0x00000003, "EV_NO_ACTION" },
	{ 0x00000004, "EV_SEPARATOR" },
	{ 0x00000005, "EV_ACTION" },
	{ 0x00000006, "EV_EVENT_TAG" },
	{ 0x00000007, "EV_S_CRTM_CONTENTS" },
	{ 0x00000008, "EV_S_CRTM_VERSION" },
	{ 0x00000009, "EV_CPU_MICROCODE" },
	{ 0x0000000A, "EV_PLATFORM_CONFIG_FLAGS" },
	{ 0x0000000B, "EV_TABLE_OF_DEVICES" },
	{ 0x0000000C, "EV_COMPACT_HASH" },
	{ 0x0000000D, "EV_IPL" },
	{ 0x0000000E, "EV_IPL_PARTITION_DATA" },
	{ 0x0000000F, "EV_NONHOST_CODE" },
	{ 0x00000010, "EV_NONHOST_CONFIG" },
	{ 0x00000011, "EV_NONHOST_INFO" },
	{ 0x00000012, "EV_OMIT_BOOT_DEVICE_EVENTS" },
	{ 0x00000013, "EV_POST_CODE2" },
	{ 0x80000001, "EV_EFI_VARIABLE_DRIVER_CONFIG" },
	{ 0x80000002, "EV_EFI_VARIABLE_BOOT" },
	{ 0x80000003, "EV_EFI_BOOT_SERVICES_APPLICATION" },
	{ 0x80000004, "EV_EFI_BOOT_SERVICES_DRIVER" },
	{ 0x80000005, "EV_EFI_RUNTIME_SERVICES_DRIVER" },
	{ 0x80000006, "EV_EFI_GPT_EVENT" },
	{ 0x80000007, "EV_EFI_ACTION" },
	{ 0x80000008, "EV_EFI_PLATFORM_FIRMWARE_BLOB" },
	{ 0x80000009, "EV_EFI_HANDOFF_TABLES" },
	{ 0x8000000A, "EV_EFI_PLATFORM_FIRMWARE_BLOB2" },
	{ 0x8000000B, "EV_EFI_HANDOFF_TABLES2" },
	{ 0x8000000C, "EV_EFI_VARIABLE_BOOT2" },
	{ 0x80000010, "EV_EFI_HCRTM_EVENT" },
	{ 0x800000E0, "EV_EFI_VARIABLE_AUTHORITY" },
	{ 0x800000E1, "EV_EFI_SPDM_FIRMWARE_BLOB" },
	{ 0x800000E2, "EV_EFI_SPDM_FIRMWARE_CONFIG" },
};

const char *skr_eventlog_type_name(uint32_t type)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(event_types); i++)
		if (event_types[i].type == type)
			return event_types[i].name;
	return NULL;
}

/* ---- A growing string that only ever holds printable ASCII -------------- */

struct text {
	char *s;
	size_t len, cap;
	bool failed;	/* an allocation failed; the text is incomplete */
};

static bool text_reserve(struct text *t, size_t more)
{
	size_t cap;
	char *grown;

	if (t->failed)
		return false;
	if (t->cap - t->len > more)
		return true;
	cap = t->cap ? t->cap : 64;
	while (cap - t->len <= more) {
		if (cap > SIZE_MAX / 2) {
			t->failed = true;
			return false;
		}
		cap *= 2;
	}
	grown = realloc(t->s, cap);
	if (!grown) {
		t->failed = true;
		return false;
	}
	t->s = grown;
	t->cap = cap;
	return true;
}

static void text_printf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* For the decoder's own, already printable, text (numbers, separators). */
static void text_printf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !text_reserve(t, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

/*
 * Emits one character of untrusted text: printable ASCII as itself (a
 * backslash doubled, so escapes stay unambiguous), anything else as \xNN or,
 * for UTF-16 code units above 0xFF, \uNNNN.
 */
static void escape_char(struct text *t, uint16_t ch)
{
	if (ch == '\\')
		text_printf(t, "\\\\");
	else if (ch >= 0x20 && ch < 0x7f)
		text_printf(t, "%c", (char)ch);
	else if (ch <= 0xff)
		text_printf(t, "\\x%02x", ch);
	else
		text_printf(t, "\\u%04x", ch);
}

/* A byte string, without the NUL terminators firmware often includes. */
static void text_bytes(struct text *t, const uint8_t *p, size_t len)
{
	size_t i;

	while (len && p[len - 1] == 0)
		len--;
	for (i = 0; i < len; i++)
		escape_char(t, p[i]);
}

/* A UTF-16LE string of `units` code units, without trailing NULs. */
static void text_utf16(struct text *t, const uint8_t *p, size_t units)
{
	size_t i;

	while (units && skr_le16(p + 2 * (units - 1)) == 0)
		units--;
	for (i = 0; i < units; i++)
		escape_char(t, skr_le16(p + 2 * i));
}

/* The same, with path separators shown as '/' (so they need no escaping). */
static void text_utf16_path(struct text *t, const uint8_t *p, size_t units)
{
	size_t i;

	while (units && skr_le16(p + 2 * (units - 1)) == 0)
		units--;
	for (i = 0; i < units; i++) {
		uint16_t ch = skr_le16(p + 2 * i);

		escape_char(t, ch == '\\' ? '/' : ch);
	}
}

/*
 * True for UTF-16LE text in the ASCII range: every high byte 0.  An odd
 * trailing NUL byte is tolerated (systemd-stub measures its command line so).
 */
static bool looks_utf16(const uint8_t *p, size_t len)
{
	size_t i;

	if (len < 2 || (len % 2 && p[len - 1] != 0))
		return false;
	for (i = 0; i + 1 < len; i += 2)
		if (p[i + 1] != 0)
			return false;
	return true;
}

/* EFI_GUID: u32, u16, u16 little-endian, then 8 bytes in order. */
static void text_guid(struct text *t, const uint8_t *g)
{
	text_printf(t, "%08" PRIx32 "-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", skr_le32(g),
		    skr_le16(g + 4), skr_le16(g + 6), g[8], g[9], g[10], g[11], g[12], g[13], g[14],
		    g[15]);
}

/* ---- Decoders, one per kind of event data -------------------------------- */

/* Strings of EV_EFI_ACTION, EV_ACTION, EV_IPL, ...: 8-bit or UTF-16. */
static void describe_string(struct text *t, const struct skr_eventlog_event *ev)
{
	if (looks_utf16(ev->data, ev->data_len))
		text_utf16(t, ev->data, ev->data_len / 2);
	else
		text_bytes(t, ev->data, ev->data_len);
}

/* The S-CRTM version is a UTF-16 string or, in some firmware, a GUID. */
static void describe_crtm_version(struct text *t, const struct skr_eventlog_event *ev)
{
	if (ev->data_len == 16 && !looks_utf16(ev->data, ev->data_len))
		text_guid(t, ev->data);
	else
		describe_string(t, ev);
}

/* Normally 4 bytes: 0 (end of pre-OS measurements) or 0xFFFFFFFF (an error). */
static void describe_separator(struct text *t, const struct skr_eventlog_event *ev)
{
	if (ev->data_len == 4)
		text_printf(t, "0x%08" PRIx32, skr_le32(ev->data));
	else
		text_bytes(t, ev->data, ev->data_len);
}

/*
 * UEFI_VARIABLE_DATA: EFI_GUID VariableName, u64 UnicodeNameLength (in
 * CHAR16), u64 VariableDataLength, CHAR16 UnicodeName[], u8 VariableData[].
 */
static void describe_variable(struct text *t, const struct skr_eventlog_event *ev)
{
	uint64_t name_units;

	if (ev->data_len < 32) {
		text_printf(t, "[truncated UEFI_VARIABLE_DATA]");
		return;
	}
	name_units = skr_le64(ev->data + 16);
	if (name_units > (ev->data_len - 32) / 2) {
		text_printf(t, "[variable name of %" PRIu64 " characters overruns the event] ",
			    name_units);
	} else {
		text_utf16(t, ev->data + 32, (size_t)name_units);
		text_printf(t, " ");
	}
	text_guid(t, ev->data);
}

/* Appends the file path nodes (MEDIA_DEVICE_PATH / MEDIA_FILEPATH_DP) of a device path. */
static void describe_file_path(struct text *t, const uint8_t *p, size_t len)
{
	bool first = true;

	while (len >= 4) {
		uint16_t node_len = skr_le16(p + 2);

		if (node_len < 4 || node_len > len || (p[0] == 0x7f && p[1] == 0xff))
			return;
		if (p[0] == 0x04 && p[1] == 0x04) {
			if (first)
				text_printf(t, ", file ");
			first = false;
			text_utf16_path(t, p + 4, (size_t)(node_len - 4) / 2);
		}
		p += node_len;
		len -= node_len;
	}
}

/*
 * UEFI_IMAGE_LOAD_EVENT: u64 ImageLocationInMemory, u64 ImageLengthInMemory,
 * u64 ImageLinkTimeAddress, u64 LengthOfDevicePath, device path.
 */
static void describe_image_load(struct text *t, const struct skr_eventlog_event *ev)
{
	uint64_t path_len;

	if (ev->data_len < 32) {
		text_printf(t, "[truncated UEFI_IMAGE_LOAD_EVENT]");
		return;
	}
	path_len = skr_le64(ev->data + 24);
	text_printf(t, "image at 0x%" PRIx64 ", %" PRIu64 " bytes, device path %" PRIu64 " bytes",
		    skr_le64(ev->data), skr_le64(ev->data + 8), path_len);
	if (path_len > ev->data_len - 32)
		text_printf(t, " [overruns the event]");
	else
		describe_file_path(t, ev->data + 32, (size_t)path_len);
}

/* UEFI_PLATFORM_FIRMWARE_BLOB: u64 BlobBase, u64 BlobLength. */
static void describe_firmware_blob(struct text *t, const struct skr_eventlog_event *ev)
{
	if (ev->data_len < 16) {
		text_printf(t, "[truncated UEFI_PLATFORM_FIRMWARE_BLOB]");
		return;
	}
	text_printf(t, "blob at 0x%" PRIx64 ", %" PRIu64 " bytes", skr_le64(ev->data),
		    skr_le64(ev->data + 8));
}

/* UEFI_PLATFORM_FIRMWARE_BLOB2: u8 size, description[size], u64 BlobBase, u64 BlobLength. */
static void describe_firmware_blob2(struct text *t, const struct skr_eventlog_event *ev)
{
	size_t desc_len = ev->data_len ? ev->data[0] : 0;
	const uint8_t *blob;

	if (ev->data_len < 1 + desc_len + 16) {
		text_printf(t, "[truncated UEFI_PLATFORM_FIRMWARE_BLOB2]");
		return;
	}
	blob = ev->data + 1 + desc_len;
	text_bytes(t, ev->data + 1, desc_len);
	text_printf(t, " at 0x%" PRIx64 ", %" PRIu64 " bytes", skr_le64(blob), skr_le64(blob + 8));
}

/* EV_NO_ACTION data starts with a 16-byte signature: "Spec ID Event03", "StartupLocality", ... */
static void describe_no_action(struct text *t, const struct skr_eventlog_event *ev)
{
	static const char startup_locality[16] = "StartupLocality";
	size_t sig_len = 0;

	while (sig_len < ev->data_len && sig_len < 16 && ev->data[sig_len])
		sig_len++;
	text_bytes(t, ev->data, sig_len);
	if (ev->data_len > sizeof(startup_locality) &&
	    !memcmp(ev->data, startup_locality, sizeof(startup_locality)))
		text_printf(t, " %u", ev->data[sizeof(startup_locality)]);
}

static const struct {
	uint32_t type;
	void (*describe)(struct text *t, const struct skr_eventlog_event *ev);
} describers[] = {
	{ SKR_EV_NO_ACTION, describe_no_action },
	{ SKR_EV_SEPARATOR, describe_separator },
	{ SKR_EV_ACTION, describe_string },
	{ SKR_EV_S_CRTM_VERSION, describe_crtm_version },
	{ SKR_EV_IPL, describe_string },
	{ 0x00000012 /* EV_OMIT_BOOT_DEVICE_EVENTS */, describe_string },
	{ 0x80000010 /* EV_EFI_HCRTM_EVENT */, describe_string },
	{ SKR_EV_EFI_ACTION, describe_string },
	{ SKR_EV_EFI_VARIABLE_DRIVER_CONFIG, describe_variable },
	{ SKR_EV_EFI_VARIABLE_BOOT, describe_variable },
	{ SKR_EV_EFI_VARIABLE_BOOT2, describe_variable },
	{ SKR_EV_EFI_VARIABLE_AUTHORITY, describe_variable },
	{ SKR_EV_EFI_BOOT_SERVICES_APPLICATION, describe_image_load },
	{ SKR_EV_EFI_BOOT_SERVICES_DRIVER, describe_image_load },
	{ SKR_EV_EFI_RUNTIME_SERVICES_DRIVER, describe_image_load },
	{ SKR_EV_EFI_PLATFORM_FIRMWARE_BLOB, describe_firmware_blob },
	{ SKR_EV_EFI_PLATFORM_FIRMWARE_BLOB2, describe_firmware_blob2 },
};

int skr_eventlog_describe(const struct skr_eventlog_event *ev, char **out, struct skr_err *err)
{
	struct text t = { 0 };
	size_t i;

	*out = NULL;
	for (i = 0; i < ARRAY_SIZE(describers); i++)
		if (describers[i].type == ev->type)
			break;
	if (i == ARRAY_SIZE(describers))
		return 0;
	if (text_reserve(&t, 0))
		describers[i].describe(&t, ev);
	if (t.failed) {
		free(t.s);
		return skr_fail(err, SKR_R_nomem, "out of memory describing event %zu", ev->index);
	}
	t.s[t.len] = '\0';
	*out = t.s;
	return 0;
}
