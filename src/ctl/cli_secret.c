/* SPDX-License-Identifier: Apache-2.0 */
/* Secrets skrctl reads from a file or the terminal (cli.h): enroll, unenroll, local-copy. */
#include "ctl/cli.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "common/util.h"

#define MAX_SECRET_INPUT 4096

/* Empty is a usage error; *s is freed then. */
static int nonempty(char **s, const char *path, struct skr_err *err)
{
	if (skr_secret_size(*s))
		return 0;
	skr_secret_free(*s);
	*s = NULL;
	return skr_fail(err, SKR_R_usage, "%s is empty", path);
}

int read_admin_token(const char *path, char **out, struct skr_err *err)
{
	uint8_t *t = NULL;
	size_t len;

	if (skr_secret_read_file(path, MAX_SECRET_INPUT, "admin token", &t, err) < 0)
		return -1;
	len = skr_secret_size(t);
	while (len && strchr(" \t\r\n", t[len - 1]))
		len--;
	*out = skr_secret_realloc(t, len);	/* a shrink: in place, cut bytes wiped */
	return nonempty(out, path, err);
}

int read_key_file(const char *path, char **out, struct skr_err *err)
{
	uint8_t *k = NULL;

	if (skr_secret_read_input(path, MAX_SECRET_INPUT, "key", &k, err) < 0)
		return -1;
	*out = (char *)k;
	return nonempty(out, path, err);
}

/* From the terminal with echo off; never echoed, never logged. */
int prompt_passphrase(const char *device, char **out, struct skr_err *err)
{
	struct termios old, quiet;
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	size_t len = 0, cap;
	char *s, c;
	ssize_t n;

	if (fd < 0)
		return skr_fail(err, SKR_R_usage, "no terminal to ask for the passphrase: use --key-file");
	s = skr_secret_alloc(511);
	if (!s || tcgetattr(fd, &old) < 0) {
		skr_secret_free(s);
		close(fd);
		return skr_fail(err, SKR_R_usage, "cannot ask for the passphrase on the terminal");
	}
	cap = skr_secret_size(s);
	dprintf(fd, "Existing passphrase for %s: ", device);
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	tcsetattr(fd, TCSAFLUSH, &quiet);
	while ((n = read(fd, &c, 1)) == 1 && c != '\n' && c != '\r')
		if (len < cap)
			s[len++] = c;
	c = 0;
	tcsetattr(fd, TCSAFLUSH, &old);
	dprintf(fd, "\n");
	close(fd);
	if (!len) {
		skr_secret_free(s);
		return skr_fail(err, SKR_R_usage, "no passphrase given");
	}
	*out = skr_secret_realloc(s, len);	/* a shrink: in place */
	return 0;
}
