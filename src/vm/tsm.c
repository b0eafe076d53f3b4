/* SPDX-License-Identifier: Apache-2.0 */
#include "vm/tsm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#define TSM_PATH 512

const char *skr_tsm_root(const char *root)
{
	const char *env = getenv("SKR_TSM_ROOT");

	return root ? root : env && *env ? env : SKR_TSM_ROOT_DEFAULT;
}

bool skr_tsm_present(const char *root)
{
	struct stat st;

	return stat(skr_tsm_root(root), &st) == 0 && S_ISDIR(st.st_mode);
}

static int attr_path(char *out, const char *entry, const char *attr, struct skr_err *err)
{
	int n = snprintf(out, TSM_PATH, "%s/%s", entry, attr);

	return n < 0 || n >= TSM_PATH ? skr_fail(err, SKR_R_usage, "configfs-tsm path too long")
				      : 0;
}

/*
 * configfs makes an entry's attributes at mkdir.  The tests' stand-in (a
 * plain directory a helper fills) cannot, so wait a moment for them; on the
 * kernel the first try succeeds.
 */
static int open_attr(const char *entry, const char *attr, int flags, struct skr_err *err)
{
	char path[TSM_PATH];
	struct timespec pause = { 0, 2000000 };
	int fd, i;

	if (attr_path(path, entry, attr, err) < 0)
		return -1;
	for (i = 0; (fd = open(path, flags | O_CLOEXEC)) < 0 && errno == ENOENT && i < 500; i++)
		nanosleep(&pause, NULL);
	if (fd < 0)
		return skr_fail(err, SKR_R_io, "configfs-tsm: cannot open %s: %s", path,
				strerror(errno));
	return fd;
}

/* Reads an attribute to its end (read from the open fd: a stand-in's may be a FIFO). */
static int read_attr(const char *entry, const char *attr, size_t max, struct skr_buf *out,
		     struct skr_err *err)
{
	uint8_t *data = malloc(max + 1);
	size_t len = 0;
	ssize_t n = 1;
	int fd;

	if (!data)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	fd = open_attr(entry, attr, O_RDONLY, err);
	while (fd >= 0 && len <= max && (n = read(fd, data + len, max + 1 - len)) > 0)
		len += (size_t)n;
	if (fd >= 0)
		close(fd);
	if (fd < 0 || n < 0 || len > max) {
		free(data);
		return fd < 0 ? -1 : n < 0 ? skr_fail(err, SKR_R_io, "configfs-tsm: cannot read "
						       "%s/%s: %s", entry, attr, strerror(errno))
			: skr_fail(err, SKR_R_malformed, "configfs-tsm: %s/%s is over %zu bytes",
				   entry, attr, max);
	}
	data[len] = 0;
	skr_buf_free(out);
	out->data = data;
	out->len = len;
	return 0;
}

/* All len bytes in one write: configfs takes an attribute's value from a single write. */
static int write_attr(const char *entry, const char *attr, const void *data, size_t len,
		      struct skr_err *err)
{
	int fd = open_attr(entry, attr, O_WRONLY, err);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, data, len);
	if (close(fd) < 0 || n != (ssize_t)len)
		return skr_fail(err, SKR_R_io, "configfs-tsm: cannot write %s/%s", entry, attr);
	return 0;
}

static int write_inblob(const char *entry, const uint8_t data[SKR_TSM_INBLOB],
			struct skr_err *err)
{
	return write_attr(entry, "inblob", data, SKR_TSM_INBLOB, err);
}

static int read_generation(const char *entry, unsigned long *gen, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf b = { 0 };
	char *end;

	if (read_attr(entry, "generation", 32, &b, err) < 0)
		return -1;
	errno = 0;
	*gen = strtoul((const char *)b.data, &end, 10);
	if (errno || end == (char *)b.data || (*end && *end != '\n'))
		return skr_fail(err, SKR_R_malformed, "configfs-tsm: %s/generation is not a number",
				entry);
	return 0;
}

static int check_provider(const char *entry, struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf b = { 0 };
	char *s;

	if (read_attr(entry, "provider", 64, &b, err) < 0)
		return -1;
	s = (char *)b.data;
	s[strcspn(s, "\n")] = 0;
	if (strcmp(s, SKR_TSM_PROVIDER))
		return skr_fail(err, SKR_R_unsupported,
				"configfs-tsm: provider is \"%.32s\", not \"" SKR_TSM_PROVIDER "\"", s);
	return 0;
}

static int make_entry(const char *root, char entry[TSM_PATH], struct skr_err *err)
{
	uint8_t rnd[8];
	char *hex;
	int n;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return skr_fail(err, SKR_R_nomem, "configfs-tsm: no random entry name");
	hex = skr_hex_encode(rnd, sizeof(rnd));
	if (!hex)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	n = snprintf(entry, TSM_PATH, "%s/skr-%s", root, hex);
	free(hex);
	if (n < 0 || n >= TSM_PATH)
		return skr_fail(err, SKR_R_usage, "configfs-tsm path too long");
	if (mkdir(entry, 0700) < 0)
		return skr_fail(err, SKR_R_io, "configfs-tsm: cannot create %s: %s", entry,
				strerror(errno));
	return 0;
}

/*
 * manifest NULL: the guest's own report.  Else the SVSM's: service_provider
 * "svsm" first (service_guid left all zero: every service, the manifest
 * with its GUID table), and the manifest read with the blobs, under the
 * same generation check.
 */
static int fetch(const char *entry, const uint8_t data[SKR_TSM_INBLOB], struct skr_buf *report,
		 struct skr_buf *aux, struct skr_buf *manifest, struct skr_err *err)
{
	unsigned long before, after;

	if (check_provider(entry, err) < 0 ||
	    (manifest && write_attr(entry, "service_provider", SKR_TSM_SERVICE_PROVIDER,
				    strlen(SKR_TSM_SERVICE_PROVIDER), err) < 0) ||
	    write_inblob(entry, data, err) < 0 || read_generation(entry, &before, err) < 0 ||
	    read_attr(entry, "outblob", SKR_TSM_MAX_OUTBLOB, report, err) < 0 ||
	    read_attr(entry, "auxblob", SKR_TSM_MAX_AUXBLOB, aux, err) < 0 ||
	    (manifest && read_attr(entry, "manifestblob", SKR_TSM_MAX_MANIFEST, manifest, err) < 0) ||
	    read_generation(entry, &after, err) < 0)
		return -1;
	if (before != after)
		return skr_fail(err, SKR_R_tsm_generation_changed,
				"configfs-tsm: %s changed from generation %lu to %lu while we read it "
				"(another writer)", entry, before, after);
	return 0;
}

static int report_in_entry(const char *root, const uint8_t data[SKR_TSM_INBLOB],
			   struct skr_buf *report, struct skr_buf *aux, struct skr_buf *manifest,
			   struct skr_err *err)
{
	char entry[TSM_PATH];
	int rc;

	if (make_entry(skr_tsm_root(root), entry, err) < 0)
		return -1;
	rc = fetch(entry, data, report, aux, manifest, err);
	if (rc < 0) {
		skr_buf_free(report);
		skr_buf_free(aux);
		if (manifest)
			skr_buf_free(manifest);
	}
	/* The kernel frees the entry; a stand-in may still hold files: best effort. */
	rmdir(entry);
	return rc;
}

int skr_tsm_report(const char *root, const uint8_t report_data[SKR_TSM_INBLOB],
		   struct skr_buf *report, struct skr_buf *aux, struct skr_err *err)
{
	return report_in_entry(root, report_data, report, aux, NULL, err);
}

int skr_tsm_svsm_report(const char *root, const uint8_t nonce[SKR_TSM_INBLOB],
			struct skr_buf *report, struct skr_buf *aux, struct skr_buf *manifest,
			struct skr_err *err)
{
	return report_in_entry(root, nonce, report, aux, manifest, err);
}

/*
 * Linux shows service_provider only when the provider can ask a service
 * (sev-guest under an SVSM), and only inside an entry: one is made, looked
 * at once its provider is there, and removed unused.
 */
bool skr_tsm_svsm_present(const char *root)
{
	struct skr_err err = { 0 };
	char entry[TSM_PATH], path[TSM_PATH];
	struct stat st;
	bool svsm;

	if (!skr_tsm_present(root) || make_entry(skr_tsm_root(root), entry, &err) < 0)
		return false;
	svsm = check_provider(entry, &err) == 0 &&
	       attr_path(path, entry, "service_provider", &err) == 0 && stat(path, &st) == 0;
	rmdir(entry);
	return svsm;
}
