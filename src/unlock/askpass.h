/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Asking for a passphrase at boot: systemd-ask-password when systemd runs,
 * plymouth when its daemon answers `plymouth --ping`, otherwise the console
 * (/dev/tty, or stdin when it is a terminal) with echo off.
 */
#ifndef SKR_UNLOCK_ASKPASS_H
#define SKR_UNLOCK_ASKPASS_H

#include <stddef.h>

#define SKR_ASKPASS_MAX 512

enum skr_askpass_via { SKR_ASKPASS_SYSTEMD, SKR_ASKPASS_PLYMOUTH, SKR_ASKPASS_CONSOLE,
		       SKR_ASKPASS_NONE };

/* Which agent is there (decided once, before the first prompt). */
enum skr_askpass_via skr_askpass_detect(void);
const char *skr_askpass_name(enum skr_askpass_via via);

/*
 * Asks with prompt; the passphrase (without its newline) goes into buf, which
 * holds SKR_ASKPASS_MAX bytes of secret memory.  Returns its length, or -1 when
 * no passphrase can be had (no terminal, end of input, agent failed).
 */
int skr_askpass(enum skr_askpass_via via, const char *id, const char *prompt, char *buf);

#endif
