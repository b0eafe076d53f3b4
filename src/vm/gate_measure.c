/* SPDX-License-Identifier: Apache-2.0 */
/*
 * skr_gate_measure (gate_measure.h): the TPM half of the boot gate, apart
 * from gate.c so that programs that only verify gate logs do not link the TPM.
 *
 * The PCR is extended before the log is written: a crash in between leaves
 * a log that no longer replays, which the broker refuses (fail closed); the
 * other order could leave a log claiming an extension that never happened.
 */
#include "vm/gate_measure.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/gate.h"
#include "vm/tpm.h"

/* The log's directory (created 0755 when missing; its parents must exist). */
static int make_log_dir(const char *path, struct skr_err *err)
{
	char dir[4096];
	char *slash;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return skr_fail(err, SKR_R_usage, "the gate log path is too long");
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return skr_fail(err, SKR_R_io, "cannot create %s for the gate log: %s", dir,
				strerror(errno));
	return 0;
}

static int append_line(const char *path, const char *event, size_t len, struct skr_err *err)
{
	char line[SKR_GATE_EVENT_MAX + 1];
	ssize_t w;
	int fd;

	memcpy(line, event, len);
	line[len] = '\n';
	if (make_log_dir(path, err) < 0)
		return -1;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return skr_fail(err, SKR_R_io, "cannot open the gate log %s: %s", path,
				strerror(errno));
	/* One write of one line: O_APPEND keeps concurrent writers' lines whole. */
	w = write(fd, line, len + 1);
	if (w != (ssize_t)(len + 1)) {
		int e = w < 0 ? errno : EIO;

		close(fd);
		return skr_fail(err, SKR_R_io, "cannot append to the gate log %s: %s", path,
				strerror(e));
	}
	if (close(fd) < 0)
		return skr_fail(err, SKR_R_io, "cannot close the gate log %s: %s", path,
				strerror(errno));
	return 0;
}

int skr_gate_measure(struct skr_tpm *t, const char *event, struct skr_err *err)
{
	size_t len = event ? strlen(event) : 0;

	if (!event || !skr_gate_event_valid(event, len))
		return skr_fail(err, SKR_R_usage,
				"a gate event is 1..%d bytes of printable ASCII", SKR_GATE_EVENT_MAX);
	if (skr_tpm_pcr_event(t, SKR_GATE_PCR, event, len, err) < 0)
		return -1;
	return append_line(skr_gate_log_path(), event, len, err);
}
