/* SPDX-License-Identifier: Apache-2.0 */
/* skr-unlock --handover: see handover.h. */
#include "unlock/handover.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/gate.h"
#include "vm/gate_measure.h"
#include "vm/tpm.h"
#include "common/util.h"

#define MAX_DM 256		/* dm devices looked at; more is not a boot */
#define DM_FIELD_MAX 300	/* dm uuid (129) and name (128), with room */

struct dm_dev {
	unsigned minor_no;	/* N of dm-N, for a stable order */
	char uuid[DM_FIELD_MAX];
	char name[DM_FIELD_MAX];
};

const char *skr_run_dir(void)
{
	const char *d = getenv("SKR_RUN_DIR");

	return d && *d ? d : SKR_RUN_DIR_DEFAULT;
}

int skr_dm_uuid(char *buf, size_t size, const char *luks_uuid, const char *name)
{
	size_t i = 0;
	int n = snprintf(buf, size, "CRYPT-LUKS2-");

	if (n < 0 || (size_t)n >= size)
		return -1;
	i = (size_t)n;
	for (; *luks_uuid; luks_uuid++)
		if (*luks_uuid != '-') {
			if (i + 1 >= size)
				return -1;
			buf[i++] = *luks_uuid;
		}
	n = snprintf(buf + i, size - i, "-%s", name);
	return n < 0 || (size_t)n >= size - i ? -1 : 0;
}

/* One line of a sysfs attribute, without its newline; -1 when unreadable or too long. */
static int read_attr(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, size);
	close(fd);
	if (n < 0 || (size_t)n >= size)
		return -1;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static int cmp_dm(const void *a, const void *b)
{
	const struct dm_dev *x = a, *y = b;

	return x->minor_no < y->minor_no ? -1 : x->minor_no > y->minor_no;
}

/*
 * The active dm-crypt devices under SYSFS/block, ordered by N.  A dm device
 * whose uuid cannot be read is skipped only when it is not dm-crypt's: an
 * unreadable uuid counts as dm-crypt (the caller then records it).
 */
static int list_crypt(const char *sysfs, struct dm_dev *out, size_t *n)
{
	char path[512];
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "%s/block", sysfs);
	d = opendir(path);
	*n = 0;
	if (!d)
		return -1;
	while ((e = readdir(d)) && *n < MAX_DM) {
		struct dm_dev *dv = &out[*n];
		char *end;

		if (strncmp(e->d_name, "dm-", 3) != 0)
			continue;
		dv->minor_no = (unsigned)strtoul(e->d_name + 3, &end, 10);
		if (end == e->d_name + 3 || *end)
			continue;
		snprintf(path, sizeof(path), "%s/block/%s/dm/uuid", sysfs, e->d_name);
		if (read_attr(path, dv->uuid, sizeof(dv->uuid)) < 0)
			snprintf(dv->uuid, sizeof(dv->uuid), "CRYPT-unreadable-%s", e->d_name);
		if (strncmp(dv->uuid, "CRYPT-", 6) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/block/%s/dm/name", sysfs, e->d_name);
		if (read_attr(path, dv->name, sizeof(dv->name)) < 0)
			dv->name[0] = '\0';
		(*n)++;
	}
	closedir(d);
	qsort(out, *n, sizeof(*out), cmp_dm);
	return 0;
}

static int read_record(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t r;

	if (fd < 0)
		return -1;
	r = read(fd, buf, size - 1);
	close(fd);
	if (r < 0)
		return -1;
	buf[r] = '\0';
	return 0;
}

/*
 * Whether skr-unlock recorded this very device (same name, same dm uuid) as
 * its own open, and, when gate is not NULL, with that "gate=" line too.
 */
static bool recorded(const char *run, const struct dm_dev *dv, const char *gate)
{
	char path[512], buf[1024], want[DM_FIELD_MAX + 16], want_gate[64];
	char *line, *save = NULL;
	bool uuid_seen = false, gate_seen = !gate;

	if (!dv->name[0] || strchr(dv->name, '/') || dv->name[0] == '.')
		return false;
	snprintf(path, sizeof(path), "%s/%s.unlocked", run, dv->name);
	if (read_record(path, buf, sizeof(buf)) < 0)
		return false;
	snprintf(want, sizeof(want), "dm_uuid=%s", dv->uuid);
	snprintf(want_gate, sizeof(want_gate), "gate=%s", gate ? gate : "");
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		uuid_seen |= strcmp(line, want) == 0;
		gate_seen |= gate && strcmp(line, want_gate) == 0;
	}
	return uuid_seen && gate_seen;
}

/* The uuid as the event may carry it: anything outside [A-Za-z0-9._-] becomes '_'. */
static void sanitise(char *s)
{
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '.' || *s == '_' || *s == '-'))
			*s = '_';
}

static void logf_(void (*log)(const char *), const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void logf_(void (*log)(const char *), const char *fmt, ...)
{
	char line[700];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log(line);
}

static int measure(struct skr_tpm *t, const char *event, void (*log)(const char *))
{
	struct skr_err err = { 0 };

	if (skr_gate_measure(t, event, &err) < 0) {
		logf_(log, "could not extend PCR %d with \"%s\": %s", SKR_GATE_PCR, event, err.detail);
		return -1;
	}
	logf_(log, "PCR %d: %s", SKR_GATE_PCR, event);
	return 0;
}

static void write_marker(const char *run, const char *marker, void (*log)(const char *))
{
	int fd;

	(void)mkdir(run, 0755);
	fd = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		logf_(log, "handover: cannot write %s: %s (a second run would check again)", marker,
		      strerror(errno));
	else
		close(fd);
}

/*
 * Bare SEV-SNP (luks/disk_tag.h): no register to close, so every dm-crypt
 * volume must be one skr-unlock showed to be enrolled, or the boot stops here.
 */
static int snp_handover(const char *run, const char *marker, const struct dm_dev *devs, size_t n,
			void (*log)(const char *))
{
	size_t i, refused = 0;

	for (i = 0; i < n; i++) {
		if (recorded(run, &devs[i], SKR_UNLOCK_GATE_SNP))
			continue;
		logf_(log, "SECURITY: %s (%s) was not opened by skr-unlock with a key shown to be "
			   "the enrolled volume's",
		      devs[i].name[0] ? devs[i].name : "an unnamed volume", devs[i].uuid);
		refused++;
	}
	if (refused) {
		logf_(log, "SECURITY: bare SEV-SNP has no boot gate register: a root the host swapped "
			   "in could get keys released; the boot stops here (%zu volume(s))", refused);
		return SKR_HANDOVER_REFUSED;
	}
	logf_(log, "handover (bare SEV-SNP): every open volume (%zu) was shown to be enrolled", n);
	write_marker(run, marker, log);
	return 0;
}

int skr_handover(const char *tcti, bool disk_tag_gate, void (*log)(const char *line))
{
	const char *run = skr_run_dir(), *sysfs = getenv("SKR_SYSFS_ROOT");
	static struct dm_dev devs[MAX_DM];
	char marker[512], event[SKR_GATE_EVENT_MAX];
	struct skr_err err = { 0 };
	struct skr_tpm *t = NULL;
	size_t n = 0, i;
	int rc = 0;

	if (!sysfs || !*sysfs)
		sysfs = "/sys";
	snprintf(marker, sizeof(marker), "%s/%s", run, SKR_HANDOVER_MARKER);
	if (access(marker, F_OK) == 0) {
		logf_(log, "handover already done this boot (%s): nothing extended", marker);
		return 0;
	}
	if (list_crypt(sysfs, devs, &n) < 0) {
		/* Volumes may be open that cannot be named: count one, unnamed (fail closed). */
		logf_(log, "cannot list %s/block: %s; counting an unnamed volume", sysfs, strerror(errno));
		snprintf(devs[0].uuid, sizeof(devs[0].uuid), "CRYPT-unlisted");
		devs[0].name[0] = '\0';
		n = 1;
	}
	if (disk_tag_gate)
		return snp_handover(run, marker, devs, n, log);
	if (skr_tpm_open(tcti, &t, &err) < 0) {
		logf_(log, "handover: the TPM is not available, PCR %d NOT extended: %s", SKR_GATE_PCR,
		      err.detail);
		return 1;
	}
	for (i = 0; i < n && rc == 0; i++) {
		if (recorded(run, &devs[i], NULL))
			continue;
		sanitise(devs[i].uuid);
		if (skr_gate_event_other(event, sizeof(event), devs[i].uuid, &err) < 0) {
			logf_(log, "handover: %s", err.detail);
			rc = 1;
		} else if (measure(t, event, log) < 0) {
			rc = 1;
		}
	}
	skr_gate_event_handover(event, sizeof(event));
	if (rc == 0 && measure(t, event, log) < 0)
		rc = 1;
	skr_tpm_close(t);
	if (rc != 0)
		return 1;
	write_marker(run, marker, log);
	return 0;
}
