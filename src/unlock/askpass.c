/* SPDX-License-Identifier: Apache-2.0 */
#include "unlock/askpass.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "common/secret.h"

#define ASK_PASSWORD "/usr/bin/systemd-ask-password"

static bool executable(const char *path)
{
	return access(path, X_OK) == 0;
}

static const char *find_in_path(const char *name, char *buf, size_t n)
{
	static const char *const dirs[] = { "/usr/bin", "/bin", "/usr/sbin", "/sbin", NULL };
	size_t i;

	for (i = 0; dirs[i]; i++) {
		snprintf(buf, n, "%s/%s", dirs[i], name);
		if (executable(buf))
			return buf;
	}
	return NULL;
}

/*
 * Runs argv with stdout into a pipe; stdin and stderr stay ours.  What does
 * not fit buf is read (so the agent never blocks on a full pipe) and wiped.
 */
static int run(char *const argv[], char *buf, bool capture)
{
	int fds[2] = { -1, -1 }, status = 0;
	size_t len = 0, cap = skr_secret_size(buf);
	char excess[64];
	pid_t pid;

	if (capture && pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		if (capture) {
			close(fds[0]);
			close(fds[1]);
		}
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (capture)
			dup2(fds[1], 1);
		else if (null >= 0)
			dup2(null, 1);
		if (!capture && null >= 0)
			dup2(null, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	if (capture) {
		close(fds[1]);
		for (;;) {
			bool full = len == cap;
			ssize_t r = full ? read(fds[0], excess, sizeof(excess))
					 : read(fds[0], buf + len, cap - len);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			if (!full)
				len += (size_t)r;
		}
		explicit_bzero(excess, sizeof(excess));
		close(fds[0]);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		skr_secret_wipe(buf);
		return -1;
	}
	if (!capture)
		return 0;
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	buf[len] = '\0';
	return (int)len;
}

enum skr_askpass_via skr_askpass_detect(void)
{
	char path[64];
	struct stat st;

	if (stat("/run/systemd/system", &st) == 0 && S_ISDIR(st.st_mode) && executable(ASK_PASSWORD))
		return SKR_ASKPASS_SYSTEMD;
	if (find_in_path("plymouth", path, sizeof(path))) {
		char *const argv[] = { path, "--ping", NULL };

		if (run(argv, NULL, false) == 0)
			return SKR_ASKPASS_PLYMOUTH;
	}
	return SKR_ASKPASS_CONSOLE;
}

const char *skr_askpass_name(enum skr_askpass_via via)
{
	switch (via) {
	case SKR_ASKPASS_SYSTEMD: return "systemd-ask-password";
	case SKR_ASKPASS_PLYMOUTH: return "plymouth";
	case SKR_ASKPASS_CONSOLE: return "the console";
	default: return "nothing";
	}
}

/* The terminal whose echo we turned off, restored on any exit path. */
static int tty_fd = -1;
static struct termios tty_saved;

static void restore_tty(void)
{
	if (tty_fd >= 0)
		tcsetattr(tty_fd, TCSAFLUSH, &tty_saved);
}

static void on_signal(int sig)
{
	restore_tty();
	signal(sig, SIG_DFL);
	raise(sig);
}

static int ask_console(const char *prompt, char *buf)
{
	struct termios quiet;
	bool own = true;
	size_t len = 0, cap = skr_secret_size(buf);
	int fd, rc = -1;
	char c;

	fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 && isatty(0)) {
		fd = 0;
		own = false;
	}
	if (fd < 0)
		return -1;
	if (tcgetattr(fd, &tty_saved) == 0) {
		quiet = tty_saved;
		quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
		quiet.c_lflag |= ICANON;
		tty_fd = fd;
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
		signal(SIGHUP, on_signal);
		tcsetattr(fd, TCSAFLUSH, &quiet);
	}
	if (write(fd, prompt, strlen(prompt)) < 0)
		goto out;
	for (;;) {
		ssize_t r = read(fd, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;	/* end of input: no passphrase */
		if (c == '\n' || c == '\r') {
			rc = 0;
			break;
		}
		if (len < cap)
			buf[len++] = c;
	}
	c = 0;
	if (write(fd, "\n", 1) < 0) {
		/* nothing to do: the answer is what matters */
	}
out:
	restore_tty();
	tty_fd = -1;
	if (own)
		close(fd);
	if (rc < 0) {
		skr_secret_wipe(buf);
		return -1;
	}
	buf[len] = '\0';
	return (int)len;
}

int skr_askpass(enum skr_askpass_via via, const char *id, const char *prompt, char *buf)
{
	char path[64], idarg[160], promptarg[600];

	switch (via) {
	case SKR_ASKPASS_SYSTEMD: {
		char *const argv[] = { ASK_PASSWORD, "--timeout=0", "--icon=drive-harddisk", idarg,
				       (char *)prompt, NULL };

		snprintf(idarg, sizeof(idarg), "--id=skr-unlock:%s", id);
		return run(argv, buf, true);
	}
	case SKR_ASKPASS_PLYMOUTH: {
		char *const argv[] = { path, "ask-for-password", promptarg, NULL };

		if (!find_in_path("plymouth", path, sizeof(path)))
			return -1;
		snprintf(promptarg, sizeof(promptarg), "--prompt=%s", prompt);
		return run(argv, buf, true);
	}
	case SKR_ASKPASS_CONSOLE:
		return ask_console(prompt, buf);
	default:
		return -1;
	}
}
