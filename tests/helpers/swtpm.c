/* SPDX-License-Identifier: Apache-2.0 */
#include "swtpm.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#endif

#define START_ATTEMPTS 20
#define READY_TIMEOUT_MS 10000
#define STOP_GRACE_MS 2000

static struct skr_swtpm instances[SKR_SWTPM_MAX];
static bool atexit_registered;
static pid_t owner_pid;		/* the process that started them (not a forked child) */

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int bind_loopback(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A port P such that P and P + 1 are free on loopback right now. */
static int pick_ports(void)
{
	for (int i = 0; i < 50; i++) {
		struct sockaddr_in a;
		socklen_t len = sizeof(a);
		int fd = bind_loopback(0), fd2, port;

		if (fd < 0)
			return -1;
		if (getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
			close(fd);
			return -1;
		}
		port = ntohs(a.sin_port);
		fd2 = port < 65535 ? bind_loopback(port + 1) : -1;
		close(fd);
		if (fd2 >= 0) {
			close(fd2);
			return port;
		}
	}
	return -1;
}

static bool accepts(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return false;
	ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

/* The start of swtpm's log, for the message when it does not come up. */
static void read_log(const char *dir, char *out, size_t size)
{
	char path[300];
	FILE *f;
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/swtpm.log", dir);
	f = fopen(path, "r");
	if (f) {
		n = fread(out, 1, size - 1, f);
		fclose(f);
	}
	out[n] = 0;
	for (char *p = out; *p; p++)
		if (*p == '\n')
			*p = ' ';
}

static void remove_dir(const char *dir)
{
	DIR *d;
	struct dirent *e;

	if (!dir[0])
		return;
	d = opendir(dir);
	if (d) {
		while ((e = readdir(d))) {
			char path[512];

			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			unlink(path);
		}
		closedir(d);
	}
	rmdir(dir);
}

/* Terminates and reaps pid: SIGTERM, then SIGKILL after the grace period. */
static void kill_and_reap(pid_t pid)
{
	int status;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (unsigned waited = 0; waited < STOP_GRACE_MS; waited += 10) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid || (r < 0 && errno == ECHILD))
			return;
		sleep_ms(10);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

static void stop_instance(struct skr_swtpm *s)
{
	if (getpid() != owner_pid)
		return;	/* a forked child never touches its parent's swtpm */
	kill_and_reap(s->pid);
	s->pid = 0;
	remove_dir(s->dir);
	memset(s, 0, sizeof(*s));
}

void skr_swtpm_stop(struct skr_swtpm **s)
{
	if (!s || !*s)
		return;
	if ((*s)->pid)
		stop_instance(*s);
	*s = NULL;
}

void skr_swtpm_stop_all(void)
{
	for (size_t i = 0; i < SKR_SWTPM_MAX; i++)
		if (instances[i].pid)
			stop_instance(&instances[i]);
}

int skr_swtpm_running(void)
{
	int n = 0;

	for (size_t i = 0; i < SKR_SWTPM_MAX; i++)
		n += instances[i].pid != 0;
	return n;
}

static pid_t spawn(const struct skr_swtpm *s)
{
	char state[300], server[96], ctrl[96], logpath[300];
	pid_t parent = getpid(), pid;

	snprintf(state, sizeof(state), "dir=%s", s->dir);
	snprintf(server, sizeof(server), "type=tcp,port=%d,bindaddr=127.0.0.1", s->port);
	snprintf(ctrl, sizeof(ctrl), "type=tcp,port=%d,bindaddr=127.0.0.1", s->port + 1);
	snprintf(logpath, sizeof(logpath), "%s/swtpm.log", s->dir);
	fflush(NULL);
	pid = fork();
	if (pid != 0)
		return pid;

	/* Child: die with the test process, whatever kills it. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(126);
	{
		int null = open("/dev/null", O_RDWR);
		int log = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
		}
		if (log >= 0)
			dup2(log, STDERR_FILENO);
	}
	execlp("swtpm", "swtpm", "socket", "--tpm2", "--tpmstate", state, "--server", server,
	       "--ctrl", ctrl, "--flags", "not-need-init,startup-clear", (char *)NULL);
	_exit(127);
}

/* 1 ready, 0 exited early (retry with other ports), -1 fatal. */
static int wait_ready(struct skr_swtpm *s, struct skr_err *err)
{
	int status;

	for (unsigned waited = 0; waited < READY_TIMEOUT_MS; waited += 10) {
		pid_t r = waitpid(s->pid, &status, WNOHANG);

		if (r == s->pid) {
			s->pid = 0;
			if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
				return skr_fail(err, SKR_R_io, "cannot run swtpm (is it installed?)");
			return 0;
		}
		if (accepts(s->port) && accepts(s->port + 1)) {
			/* A swtpm that lost its ports to another process exits at once. */
			sleep_ms(20);
			if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
				s->pid = 0;
				return 0;
			}
			return 1;
		}
		sleep_ms(10);
	}
	return skr_fail(err, SKR_R_io, "swtpm on port %d did not start within %d ms", s->port,
			READY_TIMEOUT_MS);
}

static int write_text(const char *dir, const char *name, const char *text, struct skr_err *err)
{
	char path[400];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		return skr_fail(err, SKR_R_io, "cannot write %s: %s", path, strerror(errno));
	return 0;
}

/* swtpm_setup's and swtpm_localca's configuration, all inside ca_dir. */
static int write_ca_config(const char *ca, struct skr_err *err)
{
	char setup[2048], localca[2048];

	snprintf(setup, sizeof(setup),
		 "create_certs_tool = /usr/bin/swtpm_localca\n"
		 "create_certs_tool_config = %s/localca.conf\n"
		 "create_certs_tool_options = %s/localca.options\n"
		 "active_pcr_banks = sha256\n", ca, ca);
	snprintf(localca, sizeof(localca),
		 "statedir = %s\nsigningkey = %s/signkey.pem\nissuercert = %s/issuercert.pem\n"
		 "certserial = %s/certserial\n", ca, ca, ca, ca);
	if (write_text(ca, "setup.conf", setup, err) < 0 ||
	    write_text(ca, "localca.conf", localca, err) < 0)
		return -1;
	return write_text(ca, "localca.options",
			  "--platform-manufacturer skr\n--platform-version 2.1\n"
			  "--platform-model swtpm\n", err);
}

/* swtpm_setup --create-ek-cert into s->dir, its CA state in s->ek_ca. */
static int provision_ek(const struct skr_swtpm *s, struct skr_err *err)
{
	char conf[400], logpath[400];
	int status;
	pid_t pid;

	if (write_ca_config(s->ek_ca, err) < 0)
		return -1;
	snprintf(conf, sizeof(conf), "%s/setup.conf", s->ek_ca);
	snprintf(logpath, sizeof(logpath), "%s/setup.log", s->ek_ca);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		int log = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);

		if (log >= 0) {
			dup2(log, STDOUT_FILENO);
			dup2(log, STDERR_FILENO);
		}
		execlp("swtpm_setup", "swtpm_setup", "--tpm2", "--tpmstate", s->dir,
		       "--create-ek-cert", "--create-platform-cert", "--overwrite", "--config", conf,
		       (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return skr_fail(err, SKR_R_io, "swtpm_setup --create-ek-cert failed (see %s)",
				logpath);
	return 0;
}

static int start(const char *ek_ca, struct skr_swtpm **out, struct skr_err *err);

int skr_swtpm_start(struct skr_swtpm **out, struct skr_err *err)
{
	return start(NULL, out, err);
}

int skr_swtpm_start_ek(const char *ca_dir, struct skr_swtpm **out, struct skr_err *err)
{
	return start(ca_dir, out, err);
}

static int start(const char *ek_ca, struct skr_swtpm **out, struct skr_err *err)
{
	struct skr_swtpm *s = NULL;
	const char *tmp = getenv("TMPDIR");
	char log[200] = "";

	*out = NULL;
	if (!owner_pid)
		owner_pid = getpid();
	if (getpid() != owner_pid)
		return skr_fail(err, SKR_R_usage, "start swtpm from the test process only");
	for (size_t i = 0; i < SKR_SWTPM_MAX && !s; i++)
		if (!instances[i].pid)
			s = &instances[i];
	if (!s)
		return skr_fail(err, SKR_R_usage, "more than %d swtpm instances", SKR_SWTPM_MAX);
	if (!atexit_registered) {
		atexit(skr_swtpm_stop_all);
#if defined(__SANITIZE_ADDRESS__)
		/* A sanitizer report ends the process without atexit handlers. */
		__sanitizer_set_death_callback(skr_swtpm_stop_all);
#endif
		atexit_registered = true;
	}
	memset(s, 0, sizeof(*s));
	snprintf(s->ek_ca, sizeof(s->ek_ca), "%s", ek_ca ? ek_ca : "");
	snprintf(s->dir, sizeof(s->dir), "%s/skr-swtpm.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(s->dir)) {
		skr_fail(err, SKR_R_io, "cannot create a swtpm state directory: %s",
			 strerror(errno));
		s->dir[0] = 0;
		return -1;
	}
	for (int attempt = 0; attempt < START_ATTEMPTS; attempt++) {
		int r;

		s->port = pick_ports();
		if (s->port < 0) {
			skr_fail(err, SKR_R_io, "no free loopback port pair");
			break;
		}
		if (s->ek_ca[0] && provision_ek(s, err) < 0)
			break;
		s->pid = spawn(s);
		if (s->pid < 0) {
			s->pid = 0;
			skr_fail(err, SKR_R_io, "fork: %s", strerror(errno));
			break;
		}
		r = wait_ready(s, err);
		if (r < 0)
			break;
		if (r == 1) {
			snprintf(s->tcti, sizeof(s->tcti), "swtpm:host=127.0.0.1,port=%d", s->port);
			*out = s;
			return 0;
		}
		/* Exited early: its ports were taken in between; clean its state and retry. */
		read_log(s->dir, log, sizeof(log));
		remove_dir(s->dir);
		if (mkdir(s->dir, 0700) < 0) {
			skr_fail(err, SKR_R_io, "cannot recreate %s: %s", s->dir, strerror(errno));
			break;
		}
	}
	skr_fail(err, SKR_R_io, "swtpm did not start after %d attempts: %s", START_ATTEMPTS,
		 log[0] ? log : "no log");
	if (s->pid)
		kill_and_reap(s->pid);
	remove_dir(s->dir);
	memset(s, 0, sizeof(*s));
	return -1;
}
