/* SPDX-License-Identifier: Apache-2.0 */
/*
 * skr-unlock's kernel command line options:
 *   rd.skr=0            no attested release, straight to the passphrase prompt
 *   rd.skr.timeout=N    the whole release's deadline in seconds (1..3600)
 *   rd.skr.debug        verbose messages
 * Other words are ignored; the last occurrence of an option wins.
 */
#ifndef SKR_UNLOCK_CMDLINE_H
#define SKR_UNLOCK_CMDLINE_H

#include <stdbool.h>

struct skr_cmdline {
	bool disabled;
	bool debug;
	unsigned timeout;	/* seconds; 0: not given */
};

void skr_cmdline_parse(const char *text, struct skr_cmdline *out);

/* Reads path (NULL: $SKR_CMDLINE, else /proc/cmdline); a missing file means no options. */
void skr_cmdline_read(const char *path, struct skr_cmdline *out);

#endif
