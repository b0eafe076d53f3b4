/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GRUB's own measurements (its tpm module, GRUB 2.04 and later, and the
 * distributions' earlier patches):
 *   - every command it runs, after variable expansion, into PCR 8 as an
 *     EV_IPL "grub_cmd: CMD ARGS" (digest: H("CMD ARGS"), no NUL);
 *   - the kernel's command line into PCR 8 as "kernel_cmdline: PATH ARGS"
 *     (digest: H("PATH ARGS")), PATH being the kernel as the linux command
 *     named it;
 *   - every file it reads (grub.cfg, grubenv, boot entries, the kernel, the
 *     initrd) into PCR 9 as an EV_IPL whose data is the file's name (digest:
 *     H(contents)).
 * The text is untrusted: lengths come from the event, nothing is assumed to
 * be NUL-terminated.
 */
#include <string.h>

#include "predict/predict_int.h"

static const char grub_cmd_prefix[] = "grub_cmd: ";

/* The event's data without the NUL terminators GRUB (and firmware) add. */
static size_t text_len(const struct skr_eventlog_event *ev)
{
	size_t n = ev->data_len;

	while (n && ev->data[n - 1] == 0)
		n--;
	return n;
}

bool grub_string(const struct skr_eventlog_event *ev, const char *prefix, const char **text,
		 size_t *len)
{
	size_t prefix_len = strlen(prefix), n = text_len(ev);

	if (ev->pcr != 8 || ev->type != SKR_EV_IPL || n < prefix_len ||
	    memcmp(ev->data, prefix, prefix_len))
		return false;
	*text = (const char *)ev->data + prefix_len;
	*len = n - prefix_len;
	return true;
}

bool grub_in_log(const struct skr_eventlog *log)
{
	const char *text;
	size_t i, len;

	for (i = 0; i < log->event_count; i++)
		if (grub_string(&log->events[i], grub_cmd_prefix, &text, &len))
			return true;
	return false;
}

static bool parse_command(const struct skr_eventlog_event *ev, struct grub_command *cmd)
{
	const char *text, *space;
	size_t len;

	if (!grub_string(ev, grub_cmd_prefix, &text, &len))
		return false;
	space = memchr(text, ' ', len);
	cmd->ev = ev;
	cmd->word = text;
	cmd->word_len = space ? (size_t)(space - text) : len;
	cmd->args = space ? space + 1 : text + len;
	cmd->args_len = space ? len - cmd->word_len - 1 : 0;
	return true;
}

static bool word_is_one_of(const struct grub_command *cmd, const char *const *names)
{
	for (; *names; names++)
		if (strlen(*names) == cmd->word_len && !memcmp(cmd->word, *names, cmd->word_len))
			return true;
	return false;
}

size_t grub_find_commands(const struct skr_eventlog *log, const char *const *names,
			  struct grub_command *last)
{
	struct grub_command cmd;
	size_t i, count = 0;

	for (i = 0; i < log->event_count; i++) {
		if (!parse_command(&log->events[i], &cmd) || !word_is_one_of(&cmd, names))
			continue;
		*last = cmd;
		count++;
	}
	return count;
}

const struct skr_eventlog_event *grub_file_event(const struct skr_eventlog *log,
						 const struct grub_command *cmd, const char *path,
						 size_t path_len)
{
	struct grub_command next;
	size_t i;

	/* GRUB reads a command's files before it runs the next command. */
	for (i = cmd->ev->index + 1; i < log->event_count; i++) {
		const struct skr_eventlog_event *ev = &log->events[i];

		if (parse_command(ev, &next))
			break;
		if (ev->pcr == 9 && ev->type == SKR_EV_IPL && text_len(ev) == path_len &&
		    !memcmp(ev->data, path, path_len))
			return ev;
	}
	return NULL;
}
