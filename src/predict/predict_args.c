/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which events measure the initrd and the kernel command line.
 *
 * The initrd:
 *   - recent kernels' EFI stub (initrd loaded through LoadFile2) measures it
 *     into PCR 9 as an EV_EVENT_TAG with tag 0x8F3B22EC, "Linux initrd"
 *     (digest: H(file));
 *   - GRUB measures the file its initrd command reads into PCR 9.
 * The command line:
 *   - systemd-boot and systemd-stub measure the load options into PCR 12
 *     (older systemd: PCR 8) as an EV_IPL whose data is the UTF-16LE text
 *     and whose digest is H(UTF-16LE text and its NUL).  Some firmware
 *     truncates the data by a byte, so an event is recognised by recomputing
 *     the digest from its text, never by trusting the data length;
 *   - recent kernels' EFI stub measures the LoadOptions into PCR 9 as
 *     an EV_EVENT_TAG with tag 0x8F3B22ED.  Their encoding is whatever the
 *     loader passed, so it is substituted only when a systemd measurement in
 *     the same log carries the same digest (the same bytes);
 *   - GRUB measures "kernel_cmdline: PATH ARGS" and its "linux PATH ARGS"
 *     command into PCR 8 (predict_grub.c).
 */
#include <stdio.h>
#include <string.h>

#include "predict/predict_int.h"
#include "common/util.h"

#define LINUX_INITRD_TAG 0x8F3B22ECu
#define LINUX_LOAD_OPTIONS_TAG 0x8F3B22EDu

/* A TCG_PCClientTaggedEvent: u32 taggedEventID, u32 taggedEventDataSize, data. */
static bool is_tag(const struct skr_eventlog_event *ev, uint32_t id)
{
	return ev->type == SKR_EV_EVENT_TAG && ev->data_len >= 8 && skr_le32(ev->data) == id &&
	       skr_le32(ev->data + 4) <= ev->data_len - 8;
}

/* Whether an event is a measurement of the component being looked at. */
typedef bool (*event_pred)(const struct predict_ctx *c, const struct skr_eventlog_event *ev);

/* Refuses unless every event like `like` carries the same digests, the
 * measurement of one component (checked before anything is substituted). */
static int all_equal(struct predict_ctx *c, event_pred like,
		     const char *what, const struct skr_eventlog_event **first)
{
	size_t i;

	*first = NULL;
	for (i = 0; i < c->log->event_count; i++) {
		const struct skr_eventlog_event *ev = &c->log->events[i];

		if (!like(c, ev))
			continue;
		if (*first && !predict_events_equal(*first, ev)) {
			int rc = predict_refuse(c, PCR_BIT((*first)->pcr) | PCR_BIT(ev->pcr),
						SKR_R_predict_ambiguous,
						"PCR %u event %zu and PCR %u event %zu measure two different %s: which one is replaced cannot be told",
						(*first)->pcr, (*first)->index, ev->pcr, ev->index, what);

			*first = NULL;
			return rc;
		}
		if (!*first)
			*first = ev;
	}
	return 0;
}

/* The PCRs that events like `like` extend. */
static uint32_t pcrs_like(const struct predict_ctx *c, event_pred like)
{
	uint32_t mask = 0;
	size_t i;

	for (i = 0; i < c->log->event_count; i++)
		if (like(c, &c->log->events[i]))
			mask |= PCR_BIT(c->log->events[i].pcr);
	return mask;
}

static int substitute_like(struct predict_ctx *c, event_pred like,
			   const char *component, const char *measured,
			   const struct skr_predict_digests *d, size_t *n)
{
	size_t i;

	for (i = 0; i < c->log->event_count; i++) {
		if (!like(c, &c->log->events[i]))
			continue;
		if (predict_substitute(c, &c->log->events[i], component, measured, d) < 0)
			return -1;
		(*n)++;
	}
	return 0;
}

/* ---- initrd ---------------------------------------------------------------- */

static bool is_stub_initrd(const struct predict_ctx *c, const struct skr_eventlog_event *ev)
{
	return is_tag(ev, LINUX_INITRD_TAG);
}

static int stub_initrd(struct predict_ctx *c, size_t *n)
{
	const struct skr_eventlog_event *first;

	if (all_equal(c, is_stub_initrd, "initrds", &first) < 0)
		return -1;
	if (!first)
		return 0;
	return substitute_like(c, is_stub_initrd, "initrd",
			       "EV_EVENT_TAG \"Linux initrd\": digest of the initrd the kernel's EFI stub loaded",
			       &c->req->initrd, n);
}

static int grub_initrd(struct predict_ctx *c, size_t *n)
{
	static const char *const initrd_commands[] = { "initrd", "initrdefi", "initrd16", NULL };
	const struct skr_eventlog_event *file;
	struct grub_command cmd;
	size_t count = grub_find_commands(c->log, initrd_commands, &cmd);

	if (count == 0)
		return 0;
	if (count > 1)
		return predict_refuse(c, PCR_BIT(9), SKR_R_predict_ambiguous,
				      "GRUB ran the initrd command %zu times (the last at event %zu): which initrd booted cannot be told",
				      count, cmd.ev->index);
	if (memchr(cmd.args, ' ', cmd.args_len))
		return predict_refuse(c, PCR_BIT(9), SKR_R_predict_ambiguous,
				      "GRUB's initrd command (event %zu) loads several files: --initrd replaces one",
				      cmd.ev->index);
	file = grub_file_event(c->log, &cmd, cmd.args, cmd.args_len);
	if (!file)
		return predict_refuse(c, PCR_BIT(9), SKR_R_predict_ambiguous,
				      "GRUB's initrd command (event %zu) has no PCR 9 measurement of its file",
				      cmd.ev->index);
	(*n)++;
	return predict_substitute(c, file, "initrd", "EV_IPL: digest of the initrd file GRUB read",
				  &c->req->initrd);
}

int predict_initrd(struct predict_ctx *c)
{
	size_t n = 0;

	if (!c->req->initrd.present)
		return 0;
	if (stub_initrd(c, &n) < 0 || (grub_in_log(c->log) && grub_initrd(c, &n) < 0))
		return -1;
	if (!n)
		predict_note(c, "no event of this log measures an initrd: --initrd changes no PCR");
	return 0;
}

/* ---- systemd's load options ------------------------------------------------ */

/* The bytes systemd hashed for a load-options event: its UTF-16 text without
 * trailing NULs (and without an odd last byte), then one NUL. */
static int systemd_bytes(const struct skr_eventlog_event *ev, struct skr_buf *out,
			 struct skr_err *err)
{
	size_t units = ev->data_len / 2, i;

	while (units && skr_le16(ev->data + 2 * (units - 1)) == 0)
		units--;
	for (i = 0; i < units; i++)
		if (skr_le16(ev->data + 2 * i) == 0)
			return 1;	/* an inner NUL: not one string */
	/* The data may end before the NUL (or half-way through it): copy the text only. */
	out->data = calloc(1, 2 * units + 3);
	if (!out->data)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	memcpy(out->data, ev->data, 2 * units);
	out->len = 2 * units + 2;
	return 0;
}

static bool is_systemd_cmdline(const struct predict_ctx *c, const struct skr_eventlog_event *ev)
{
	_cleanup_buf_ struct skr_buf bytes = { 0 };
	struct skr_predict_digests d;
	struct skr_err ignored = { 0 };

	if (ev->type != SKR_EV_IPL || (ev->pcr != 8 && ev->pcr != 12) || ev->data_len < 2 ||
	    systemd_bytes(ev, &bytes, &ignored) != 0)
		return false;
	return skr_predict_bytes_digests(c->log, bytes.data, bytes.len, &d, &ignored) == 0 &&
	       predict_event_matches(ev, &d);
}

static bool is_stub_load_options(const struct predict_ctx *c, const struct skr_eventlog_event *ev)
{
	return is_tag(ev, LINUX_LOAD_OPTIONS_TAG);
}

/* UTF-16LE of an ASCII command line, with its NUL: 1 when refused but not bound. */
static int utf16_with_nul(struct predict_ctx *c, uint32_t pcrs, struct skr_buf *out)
{
	const char *s = c->req->cmdline;
	size_t len = strlen(s), i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return predict_refuse(c, pcrs, SKR_R_unsupported,
					      "--cmdline has a byte 0x%02x at offset %zu: only printable ASCII is supported",
					      (unsigned char)s[i], i) < 0 ? -1 : 1;
	out->data = calloc(1, 2 * len + 3);
	if (!out->data)
		return skr_fail(c->err, SKR_R_nomem, "out of memory");
	for (i = 0; i < len; i++)
		out->data[2 * i] = (uint8_t)s[i];
	out->len = 2 * len + 2;
	return 0;
}

/* The Linux stub's LoadOptions: the same bytes as systemd's measurement, or refused. */
static int stub_load_options(struct predict_ctx *c, const struct skr_eventlog_event *sd,
			     const struct skr_predict_digests *d, size_t *n)
{
	const struct skr_eventlog_event *first;

	if (all_equal(c, is_stub_load_options, "command lines", &first) < 0)
		return -1;
	if (!first)
		return 0;
	if (!sd || !predict_events_equal(first, sd))
		return predict_refuse(c, PCR_BIT(first->pcr), SKR_R_predict_ambiguous,
				      "the kernel's EFI stub measured its LoadOptions (PCR %u event %zu) in an encoding nothing else in the log shows",
				      first->pcr, first->index);
	return substitute_like(c, is_stub_load_options, "cmdline",
			       "EV_EVENT_TAG \"LOADED_IMAGE::LoadOptions\": digest of the kernel's load options",
			       d, n);
}

static int systemd_cmdline(struct predict_ctx *c, size_t *n)
{
	_cleanup_buf_ struct skr_buf bytes = { 0 };
	const struct skr_eventlog_event *first;
	struct skr_predict_digests d = { 0 };
	int rc;

	if (all_equal(c, is_systemd_cmdline, "command lines", &first) < 0)
		return -1;
	if (first) {
		rc = utf16_with_nul(c, pcrs_like(c, is_systemd_cmdline) |
					       pcrs_like(c, is_stub_load_options), &bytes);
		if (rc != 0)
			return rc < 0 ? -1 : 0;
		if (predict_hash(c, bytes.data, bytes.len, &d) < 0 ||
		    substitute_like(c, is_systemd_cmdline, "cmdline",
				    "EV_IPL: systemd's measurement of the load options (UTF-16)", &d, n) < 0)
			return -1;
	}
	return stub_load_options(c, first, &d, n);
}

/* ---- GRUB's kernel_cmdline ---------------------------------------------------- */

static const char kernel_cmdline_prefix[] = "kernel_cmdline: ";

static bool is_grub_cmdline(const struct predict_ctx *c, const struct skr_eventlog_event *ev)
{
	const char *text;
	size_t len;

	return grub_string(ev, kernel_cmdline_prefix, &text, &len);
}

/* What GRUB measures for the new command line: "PATH ARGS", from /proc/cmdline's
 * "BOOT_IMAGE=PATH ARGS" (GRUB adds BOOT_IMAGE= only for the kernel). */
static int grub_text(struct predict_ctx *c, const struct skr_eventlog_event *ev, const char **out)
{
	static const char boot_image[] = "BOOT_IMAGE=";
	const char *s = c->req->cmdline;

	if (!strncmp(s, boot_image, sizeof(boot_image) - 1))
		s += sizeof(boot_image) - 1;
	*out = s;
	if (s[0] == '/' || s[0] == '(')
		return 0;
	return predict_refuse(c, PCR_BIT(8), SKR_R_usage,
			      "GRUB measures the kernel's path with its command line (PCR 8 event %zu): give --cmdline as /proc/cmdline shows it, \"BOOT_IMAGE=PATH ARGS\"",
			      ev->index) < 0 ? -1 : 1;
}

static int check_grub_cmdline(struct predict_ctx *c, const struct skr_eventlog_event *ev,
			      const struct grub_command *linux_cmd, size_t n_linux)
{
	struct skr_predict_digests d;
	const char *text;
	size_t len;

	grub_string(ev, kernel_cmdline_prefix, &text, &len);
	if (predict_hash(c, text, len, &d) < 0)
		return -1;
	if (!predict_event_matches(ev, &d))
		return predict_refuse(c, PCR_BIT(8), SKR_R_predict_ambiguous,
				      "PCR 8 event %zu is not GRUB's measurement of its own kernel_cmdline text",
				      ev->index) < 0 ? -1 : 1;
	/* The linux command is "linux PATH ARGS", the same text after the word. */
	if (n_linux != 1 || linux_cmd->args_len != len || memcmp(linux_cmd->args, text, len))
		return predict_refuse(c, PCR_BIT(8), SKR_R_predict_ambiguous,
				      "GRUB's linux command is not the kernel_cmdline of PCR 8 event %zu with a command word: its new form cannot be derived",
				      ev->index) < 0 ? -1 : 1;
	return 0;
}

static int substitute_linux_command(struct predict_ctx *c, const struct grub_command *cmd,
				    const char *text, size_t *n)
{
	size_t len = cmd->word_len + 1 + strlen(text);
	_cleanup_free_ char *line = malloc(len + 1);
	struct skr_predict_digests d;

	if (!line)
		return skr_fail(c->err, SKR_R_nomem, "out of memory");
	snprintf(line, len + 1, "%.*s %s", (int)cmd->word_len, cmd->word, text);
	if (predict_hash(c, line, len, &d) < 0 ||
	    predict_substitute(c, cmd->ev, "cmdline",
			       "EV_IPL grub_cmd: GRUB's linux command with the new path and command line",
			       &d) < 0)
		return -1;
	(*n)++;
	return 0;
}

static int grub_cmdline(struct predict_ctx *c, size_t *n)
{
	static const char *const linux_commands[] = { "linux", "linuxefi", "linux16", NULL };
	const struct skr_eventlog_event *first;
	struct skr_predict_digests d;
	struct grub_command cmd;
	size_t n_linux = grub_find_commands(c->log, linux_commands, &cmd);
	const char *text;
	int rc;

	if (all_equal(c, is_grub_cmdline, "command lines", &first) < 0)
		return -1;
	if (!first)
		return 0;
	rc = check_grub_cmdline(c, first, &cmd, n_linux);
	if (rc == 0)
		rc = grub_text(c, first, &text);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (predict_hash(c, text, strlen(text), &d) < 0 ||
	    substitute_like(c, is_grub_cmdline, "cmdline",
			    "EV_IPL kernel_cmdline: GRUB's measurement of the kernel's path and command line",
			    &d, n) < 0)
		return -1;
	return substitute_linux_command(c, &cmd, text, n);
}

int predict_cmdline(struct predict_ctx *c)
{
	size_t n = 0;

	if (!c->req->cmdline)
		return 0;
	if (systemd_cmdline(c, &n) < 0 || (grub_in_log(c->log) && grub_cmdline(c, &n) < 0))
		return -1;
	if (!n)
		predict_note(c, "no event of this log measures the kernel command line: --cmdline changes no PCR");
	return 0;
}

/* ---- What the log shows measured ------------------------------------------ */

void skr_predict_measured(const struct skr_eventlog *log, struct skr_predict_measured *out)
{
	static const char *const initrd_commands[] = { "initrd", "initrdefi", "initrd16", NULL };
	struct skr_predict_request req = { 0 };
	struct skr_predict_result res = { 0 };
	struct skr_err ignored = { 0 };
	struct predict_ctx c = { .log = log, .req = &req, .res = &res, .err = &ignored };
	struct grub_command cmd;

	memset(out, 0, sizeof(*out));
	out->chain = predict_chain_name(log);
	out->initrd = pcrs_like(&c, is_stub_initrd);
	if (grub_in_log(log) && grub_find_commands(log, initrd_commands, &cmd) > 0)
		out->initrd |= PCR_BIT(9);	/* GRUB measures every file it reads into PCR 9 */
	out->cmdline = pcrs_like(&c, is_systemd_cmdline) | pcrs_like(&c, is_stub_load_options) |
		       pcrs_like(&c, is_grub_cmdline);
}
