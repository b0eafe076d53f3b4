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
 * Asks with prompt; the passphrase (without its newline) goes into buf, a
 * secret (common/secret.h, e.g. skr_secret_alloc(SKR_ASKPASS_MAX)): at most
 * skr_secret_size(buf) characters, then a NUL; the rest of a longer answer
 * is dropped.  Returns its length, or -1 (buf wiped) when no passphrase can
 * be had (no terminal, end of input, agent failed).
 */
int skr_askpass(enum skr_askpass_via via, const char *id, const char *prompt, char *buf);

#endif
