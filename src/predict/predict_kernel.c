/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which events measure the kernel image.
 *
 * UEFI's LoadImage measures each EFI application it starts into PCR 4 as an
 * EV_EFI_BOOT_SERVICES_APPLICATION carrying the image's Authenticode digest:
 * the boot manager, then (systemd-boot, or any loader that starts the kernel
 * through LoadImage) the kernel's EFI stub.  shim measures what it loads
 * itself, and a kernel that GRUB loads through shim is measured 0, 1 or 2
 * times depending on the shim and GRUB versions.  So:
 *   - under GRUB (its PCR 8 strings are in the log) the kernel's events are
 *     the PCR 4 applications after GRUB's linux command, however many, and
 *     GRUB's own PCR 9 measurement of the kernel file is replaced too;
 *   - otherwise, with the running kernel given, they are the PCR 4
 *     applications that carry its Authenticode digest;
 *   - otherwise the last PCR 4 application is the kernel, but only when
 *     nothing suggests a boot loader instead: shim in the chain, no file path
 *     (an image loaded from memory by a loader), or a loader's file name.
 * With the running kernel given, every rule is also checked against it.
 */
#include <ctype.h>
#include <string.h>

#include "predict/predict_int.h"
#include "common/util.h"

#define NAME_SIZE 64

static const char kernel_pe_measured[] =
	"EV_EFI_BOOT_SERVICES_APPLICATION: Authenticode digest of the kernel image";

static bool is_app(const struct skr_eventlog_event *ev)
{
	return ev->pcr == 4 && ev->type == SKR_EV_EFI_BOOT_SERVICES_APPLICATION;
}

/* The application's file name (last path component, lower case) from its
 * device path, through the event's description; "" when it has none. */
static void app_file_name(const struct skr_eventlog_event *ev, char out[static NAME_SIZE])
{
	static const char marker[] = ", file ";
	_cleanup_free_ char *desc = NULL;
	struct skr_err ignored = { 0 };
	const char *file, *base;
	size_t i;

	out[0] = '\0';
	if (skr_eventlog_describe(ev, &desc, &ignored) < 0 || !desc ||
	    !(file = strstr(desc, marker)))
		return;
	file += sizeof(marker) - 1;
	base = strrchr(file, '/');
	base = base ? base + 1 : file;
	for (i = 0; base[i] && i + 1 < NAME_SIZE; i++)
		out[i] = (char)tolower((unsigned char)base[i]);
	out[i] = '\0';
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

static bool is_shim_name(const char *name)
{
	return !strncmp(name, "shim", 4) && ends_with(name, ".efi");
}

/* shim, GRUB, MokManager, fallback, systemd-boot, or the removable-media path
 * (BOOTX64.EFI: often shim or a boot manager). */
static bool is_loader_name(const char *name)
{
	static const char *const prefixes[] = { "shim", "grub", "mm", "fb", "systemd-boot",
						"sd-boot", "boot" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(prefixes); i++)
		if (!strncmp(name, prefixes[i], strlen(prefixes[i])) && ends_with(name, ".efi"))
			return true;
	return false;
}

static const struct skr_eventlog_event *find_shim(const struct skr_eventlog *log)
{
	char name[NAME_SIZE];
	size_t i;

	for (i = 0; i < log->event_count; i++) {
		if (!is_app(&log->events[i]))
			continue;
		app_file_name(&log->events[i], name);
		if (is_shim_name(name))
			return &log->events[i];
	}
	return NULL;
}

const char *predict_chain_name(const struct skr_eventlog *log)
{
	bool shim = find_shim(log) != NULL;
	size_t i;

	for (i = 0; i < log->event_count; i++)
		if (log->events[i].pcr == 11 && log->events[i].type != SKR_EV_NO_ACTION)
			return "uki";
	if (grub_in_log(log))
		return shim ? "shim+grub" : "grub";
	return shim ? "shim" : "efi";
}

static int substitute_pe(struct predict_ctx *c, const struct skr_eventlog_event *ev)
{
	if (predict_substitute(c, ev, "kernel", kernel_pe_measured, &c->req->kernel.authenticode) < 0)
		return -1;
	c->res->kernel_measurements++;
	return 0;
}

/* ---- Without GRUB --------------------------------------------------------- */

static int kernel_by_digest(struct predict_ctx *c)
{
	const struct skr_eventlog *log = c->log;
	char label[PREDICT_LABEL_SIZE];
	size_t i, found = 0;

	for (i = 0; i < log->event_count; i++)
		if (is_app(&log->events[i]) &&
		    predict_event_matches(&log->events[i], &c->req->current_kernel.authenticode))
			found++;
	if (!found) {
		predict_digest_label(&c->req->current_kernel.authenticode, label);
		return predict_refuse(c, PCR_BIT(4), SKR_R_predict_ambiguous,
				      "no EV_EFI_BOOT_SERVICES_APPLICATION in PCR 4 carries the Authenticode digest of --current-kernel (%s): it is not the kernel that booted, or nothing measured it",
				      label);
	}
	for (i = 0; i < log->event_count; i++)
		if (is_app(&log->events[i]) &&
		    predict_event_matches(&log->events[i], &c->req->current_kernel.authenticode) &&
		    substitute_pe(c, &log->events[i]) < 0)
			return -1;
	return 0;
}

static const struct skr_eventlog_event *last_app(const struct skr_eventlog *log)
{
	size_t i;

	for (i = log->event_count; i-- > 0;)
		if (is_app(&log->events[i]))
			return &log->events[i];
	return NULL;
}

static int kernel_is_last_app(struct predict_ctx *c)
{
	const struct skr_eventlog_event *last = last_app(c->log), *shim = find_shim(c->log);
	char name[NAME_SIZE];

	if (!last)
		return predict_refuse(c, PCR_BIT(4), SKR_R_predict_ambiguous,
				      "PCR 4 has no EV_EFI_BOOT_SERVICES_APPLICATION event: nothing shows how the kernel is measured");
	if (shim)
		return predict_refuse(c, PCR_BIT(4), SKR_R_predict_ambiguous,
				      "shim (PCR 4 event %zu) loads the next stage itself and measures the kernel 0, 1 or 2 times: give --current-kernel to find the kernel's events by digest",
				      shim->index);
	app_file_name(last, name);
	if (!name[0])
		return predict_refuse(c, PCR_BIT(4), SKR_R_predict_ambiguous,
				      "the last application in PCR 4 (event %zu) has no file path: it was loaded from memory and may be a boot loader; give --current-kernel",
				      last->index);
	if (is_loader_name(name))
		return predict_refuse(c, PCR_BIT(4), SKR_R_predict_ambiguous,
				      "the last application in PCR 4 (event %zu, %s) is a boot loader, not a kernel: give --current-kernel",
				      last->index, name);
	return substitute_pe(c, last);
}

/* ---- Under GRUB ------------------------------------------------------------ */

static const char *const linux_commands[] = { "linux", "linuxefi", "linux16", NULL };

/* The PCR 4 applications after GRUB's linux command: the kernel, measured by
 * shim (or by LoadImage) as many times as this chain does. */
static int grub_pe_events(struct predict_ctx *c, const struct grub_command *cmd)
{
	const struct skr_eventlog *log = c->log;
	const struct skr_eventlog_event *first = NULL;
	size_t i;

	for (i = cmd->ev->index + 1; i < log->event_count; i++) {
		const struct skr_eventlog_event *ev = &log->events[i];

		if (!is_app(ev))
			continue;
		if (first && !predict_events_equal(first, ev))
			return predict_refuse(c, PCR_BIT(4), SKR_R_predict_ambiguous,
					      "PCR 4 events %zu and %zu after GRUB's linux command (event %zu) measure different images: which is the kernel cannot be told",
					      first->index, ev->index, cmd->ev->index);
		if (!first)
			first = ev;
	}
	if (first && c->req->current_kernel.present &&
	    !predict_event_matches(first, &c->req->current_kernel.authenticode))
		return predict_refuse(c, PCR_BIT(4), SKR_R_predict_ambiguous,
				      "PCR 4 event %zu after GRUB's linux command (event %zu) does not carry the Authenticode digest of --current-kernel",
				      first->index, cmd->ev->index);
	for (i = cmd->ev->index + 1; first && i < log->event_count; i++)
		if (is_app(&log->events[i]) && substitute_pe(c, &log->events[i]) < 0)
			return -1;
	if (!first)
		predict_note(c, "the kernel is not measured into PCR 4 in this chain: no application follows GRUB's linux command (event %zu)",
			     cmd->ev->index);
	return 0;
}

/* GRUB's PCR 9 measurement of the kernel file it read. */
static int grub_file(struct predict_ctx *c, const struct grub_command *cmd)
{
	const char *space = memchr(cmd->args, ' ', cmd->args_len);
	size_t path_len = space ? (size_t)(space - cmd->args) : cmd->args_len;
	const struct skr_eventlog_event *file = grub_file_event(c->log, cmd, cmd->args, path_len);

	if (!file)
		return predict_refuse(c, PCR_BIT(9), SKR_R_predict_ambiguous,
				      "GRUB's linux command (event %zu) has no PCR 9 measurement of %.*s",
				      cmd->ev->index, (int)(path_len > 200 ? 200 : path_len), cmd->args);
	if (c->req->current_kernel.present &&
	    !predict_event_matches(file, &c->req->current_kernel.file))
		return predict_refuse(c, PCR_BIT(9), SKR_R_predict_ambiguous,
				      "GRUB's measurement of the kernel file (PCR 9 event %zu) does not carry the digest of --current-kernel",
				      file->index);
	return predict_substitute(c, file, "kernel", "EV_IPL: digest of the kernel file GRUB read",
				  &c->req->kernel.file);
}

static int kernel_under_grub(struct predict_ctx *c)
{
	struct grub_command cmd;
	size_t n = grub_find_commands(c->log, linux_commands, &cmd);

	if (n == 0)
		return predict_refuse(c, PCR_BIT(4) | PCR_BIT(9), SKR_R_predict_ambiguous,
				      "GRUB ran no linux command: the kernel's measurements cannot be found");
	if (n > 1)
		return predict_refuse(c, PCR_BIT(4) | PCR_BIT(9), SKR_R_predict_ambiguous,
				      "GRUB ran the linux command %zu times (the last at event %zu): which kernel booted cannot be told",
				      n, cmd.ev->index);
	if (grub_pe_events(c, &cmd) < 0)
		return -1;
	return grub_file(c, &cmd);
}

int predict_kernel(struct predict_ctx *c)
{
	const struct skr_predict_request *r = c->req;

	if (!r->kernel.present)
		return 0;
	if (r->kernel.is_uki || (r->current_kernel.present && r->current_kernel.is_uki))
		return predict_refuse(c, PREDICT_KERNEL_PCRS, SKR_R_predict_unsupported,
				      "the %s kernel is a unified kernel image (it has a .linux section): systemd-stub's measurements of its sections are not predicted",
				      r->kernel.is_uki ? "new" : "current");
	if (grub_in_log(c->log))
		return kernel_under_grub(c);
	if (r->current_kernel.present)
		return kernel_by_digest(c);
	return kernel_is_last_app(c);
}
