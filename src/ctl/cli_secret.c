/* SPDX-License-Identifier: Apache-2.0 */
/* Secrets skrctl reads from a file or the terminal (cli.h): enroll, local-copy. */
#include "ctl/cli.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/util.h"

#define MAX_SECRET_INPUT 4096

void secret_text_free(struct secret_text *s)
{
	skr_secret_free(s->data, s->cap);
	memset(s, 0, sizeof(*s));
}

int read_secret_file(const char *path, bool trim, struct secret_text *s, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf b = { 0 };

	if (skr_read_file(path, MAX_SECRET_INPUT, &b, err) < 0)
		return -1;
	s->cap = b.len + 1;
	s->data = skr_secret_alloc(s->cap);
	if (!s->data) {
		OPENSSL_cleanse(b.data, b.len);
		return skr_fail(err, SKR_R_nomem, "out of memory");
	}
	memcpy(s->data, b.data, b.len);
	s->len = b.len;
	OPENSSL_cleanse(b.data, b.len);
	while (trim && s->len && strchr(" \t\r\n", s->data[s->len - 1]))
		s->data[--s->len] = 0;
	if (s->len == 0)
		return skr_fail(err, SKR_R_usage, "%s is empty", path);
	return 0;
}

/* From the terminal with echo off; never echoed, never logged. */
int prompt_passphrase(const char *device, struct secret_text *s, struct skr_err *err)
{
	struct termios old, quiet;
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	char c;
	ssize_t n;

	if (fd < 0)
		return skr_fail(err, SKR_R_usage, "no terminal to ask for the passphrase: use --key-file");
	s->cap = 512;
	s->data = skr_secret_alloc(s->cap);
	if (!s->data || tcgetattr(fd, &old) < 0) {
		close(fd);
		return skr_fail(err, SKR_R_usage, "cannot ask for the passphrase on the terminal");
	}
	dprintf(fd, "Existing passphrase for %s: ", device);
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	tcsetattr(fd, TCSAFLUSH, &quiet);
	while ((n = read(fd, &c, 1)) == 1 && c != '\n' && c != '\r')
		if (s->len + 1 < s->cap)
			s->data[s->len++] = c;
	c = 0;
	tcsetattr(fd, TCSAFLUSH, &old);
	dprintf(fd, "\n");
	close(fd);
	if (s->len == 0)
		return skr_fail(err, SKR_R_usage, "no passphrase given");
	return 0;
}
