/* SPDX-License-Identifier: Apache-2.0 */
/*
 * skr-unlock's kernel command line options:
 *   rd.skr=0            no attested release, straight to the passphrase prompt
 *   rd.skr.timeout=N    the whole release's deadline in seconds (1..3600)
 *   rd.skr.debug        verbose messages
 *   rd.skr.disk=TAG[,TAG...]
 *                       bare SEV-SNP (no vTPM): the volume keys a passphrase
 *                       open may hand over, as tags (luks/disk_tag.h: 64 hex
 *                       digits each, at most SKR_CMDLINE_MAX_DISK_TAGS).  A
 *                       malformed value accepts no volume (disk_tags_invalid).
 *   panic=N             (the kernel's and initramfs-tools') recorded as present:
 *                       with it initramfs-tools reboots or halts on failure
 *                       instead of giving a root shell; bare SNP's gate needs it.
 * Other words are ignored; the last occurrence of an option wins.
 * The command line is trusted only as far as the boot measures it: under
 * measured direct boot the SNP launch measurement covers it.
 */
#ifndef SKR_UNLOCK_CMDLINE_H
#define SKR_UNLOCK_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>

#define SKR_CMDLINE_MAX_DISK_TAGS 8
#define SKR_DISK_TAG_HEX 64

struct skr_cmdline {
	bool disabled;
	bool debug;
	unsigned timeout;	/* seconds; 0: not given */
	size_t n_disk_tags;
	char disk_tags[SKR_CMDLINE_MAX_DISK_TAGS][SKR_DISK_TAG_HEX + 1];	/* lower-case hex */
	bool disk_tags_invalid;	/* rd.skr.disk= was given but malformed: no tag accepted */
	bool panic;		/* a panic= word with a value: initramfs-tools gives no shell */
};

void skr_cmdline_parse(const char *text, struct skr_cmdline *out);

/* Reads path (NULL: $SKR_CMDLINE, else /proc/cmdline); a missing file means no options. */
void skr_cmdline_read(const char *path, struct skr_cmdline *out);

#endif
