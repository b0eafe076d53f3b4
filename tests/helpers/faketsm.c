/* SPDX-License-Identifier: Apache-2.0 */
#include "faketsm.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <time.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "svsm_build.h"
#include "verify/snp_certs.h"
#include "verify/svsm_manifest.h"

static const char *const fifos[] = { "inblob", "generation", "outblob", "auxblob",
				     "manifestblob" };
/* The SVSM's write-only attributes: regular files the client writes. */
static const char *const svsm_attrs[] = { "service_provider", "service_guid",
					  "service_manifest_version" };
#define N_FIFOS(t) (sizeof(fifos) / sizeof(fifos[0]) - ((t)->svsm_ek_len ? 0 : 1))

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

int skr_faketsm_cert_table(const struct skr_test_chain *c, struct skr_buf *out,
			   struct skr_err *err)
{
	X509 *certs[3] = { c->vcek, c->vcek_opts.vlek ? c->asvk : c->ask, c->ark };
	int kinds[3] = { c->vcek_opts.vlek ? SKR_SNP_CERT_VLEK : SKR_SNP_CERT_VCEK,
			 SKR_SNP_CERT_ASK, SKR_SNP_CERT_ARK };
	struct skr_buf der[3] = { { 0 } };
	size_t off = 4 * SKR_SNP_CERT_ENTRY_SIZE, total = off;
	int i, rc = -1;

	for (i = 0; i < 3; i++) {
		if (skr_test_cert_der(certs[i], &der[i], err) < 0)
			goto out;
		total += der[i].len;
	}
	out->data = calloc(1, total);
	out->len = total;
	for (i = 0; i < 3; i++) {
		uint8_t *e = out->data + i * SKR_SNP_CERT_ENTRY_SIZE;

		memcpy(e, skr_snp_cert_guid[kinds[i]], 16);
		put_le32(e + 16, (uint32_t)off);
		put_le32(e + 20, (uint32_t)der[i].len);
		memcpy(out->data + off, der[i].data, der[i].len);
		off += der[i].len;
	}
	rc = 0;
out:
	for (i = 0; i < 3; i++)
		skr_buf_free(&der[i]);
	return rc;
}

static void entry_path(char *out, size_t n, const char *entry, const char *name)
{
	int len = snprintf(out, n, "%s/%s", entry, name);

	if (len < 0 || (size_t)len >= n)
		out[0] = 0;	/* no such path: the open fails */
}

static void write_all(const char *entry, const char *name, const void *data, size_t len)
{
	char path[512];
	int fd;

	entry_path(path, sizeof(path), entry, name);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return;
	if (write(fd, data, len) != (ssize_t)len)
		fprintf(stderr, "faketsm: short write to %s\n", path);
	close(fd);
}

static void write_text(const char *entry, const char *name, const char *text)
{
	char path[512], tmp[520];
	FILE *f;

	entry_path(path, sizeof(path), entry, name);
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return;
	f = fopen(tmp, "w");
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
	rename(tmp, path);	/* appears whole: the client may be polling for it */
}

/*
 * The bytes the client writes to inblob.  Until the first arrives, another
 * entry (or a stop) ends the wait: the client made this one only to look
 * at its attributes (vm/tsm.c's SVSM probe) and will not write.
 */
static size_t read_inblob(const struct skr_faketsm *t, const char *entry, uint8_t data[64])
{
	char path[512];
	size_t len = 0;
	ssize_t n;
	int fd;

	entry_path(path, sizeof(path), entry, "inblob");
	fd = open(path, O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return 0;
	while (len < 64) {
		struct pollfd fds[3] = { { fd, POLLIN, 0 }, { t->inotify_fd, POLLIN, 0 },
					 { t->stop_pipe[0], POLLIN, 0 } };

		if (poll(fds, len ? 1 : 3, -1) < 0)
			break;
		if (fds[0].revents & (POLLIN | POLLHUP)) {
			n = read(fd, data + len, 64 - len);
			if (n <= 0)
				break;
			len += (size_t)n;
		} else if (!len) {
			break;	/* abandoned */
		}
	}
	close(fd);
	return len;
}

static void serve_generation(struct skr_faketsm *t, const char *entry)
{
	char text[32];

	snprintf(text, sizeof(text), "%lu\n", t->generation);
	write_all(entry, "generation", text, strlen(text));
}

/* The knobs of this request, from t->knob_file, on a copy of t. */
static void read_knobs(const struct skr_faketsm *t, struct skr_faketsm *req)
{
	char line[64];
	FILE *f;

	*req = *t;
	if (!t->knob_file || !(f = fopen(t->knob_file, "r")))
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned v;

		line[strcspn(line, "\n")] = 0;
		if (!strcmp(line, "debug"))
			req->report.policy |= SKR_TEST_POLICY_DEBUG;
		else if (!strcmp(line, "bad_table"))
			req->bad_table = true;
		else if (!strcmp(line, "bump_generation"))
			req->bump_generation = true;
		else if (!strcmp(line, "other_signer"))
			req->signer = t->other_signer;
		else if (!strcmp(line, "measurement_flip"))
			req->report.measurement[0] ^= 1;
		else if (sscanf(line, "vmpl=%u", &v) == 1)
			req->report.vmpl = v;
		else if (!strcmp(line, "svsm_other_ek"))
			req->svsm_other_ek = true;
		else if (!strcmp(line, "svsm_no_vtpm"))
			req->svsm_no_vtpm = true;
		else if (!strcmp(line, "svsm_unbound"))
			req->svsm_unbound = true;
		else if (sscanf(line, "tcb_snp=%u", &v) == 1)
			req->report.reported_tcb = (req->report.reported_tcb & ~(0xffull << 48)) |
						   ((uint64_t)(v & 0xff) << 48);
	}
	fclose(f);
}

static void serve_report(struct skr_faketsm *t, const char *entry, const uint8_t data[64])
{
	struct skr_test_report_opts r = t->report;
	struct skr_buf table = { 0 };
	uint8_t report[SKR_TEST_REPORT_SIZE];
	struct skr_err err = { 0 };

	memcpy(r.report_data, data, 64);
	skr_test_report_build(&r, report);
	if (skr_test_report_sign(report, t->signer ? t->signer : t->chain->vcek_key, &err) < 0 ||
	    skr_faketsm_cert_table(t->chain, &table, &err) < 0)
		fprintf(stderr, "faketsm: %s\n", err.detail);
	if (t->bad_table && table.len)
		put_le32(table.data + 20, (uint32_t)table.len);	/* runs past the blob */
	write_all(entry, "outblob", report, sizeof(report));
	write_all(entry, "auxblob", table.data, table.len);
	skr_buf_free(&table);
	t->served++;
}

/* Whether the client asked for the SVSM's report (service_provider "svsm"). */
static bool svsm_requested(const struct skr_faketsm *t, const char *entry)
{
	char path[512], text[16] = { 0 };
	FILE *f;

	if (!t->svsm_ek_len)
		return false;
	entry_path(path, sizeof(path), entry, "service_provider");
	if (!(f = fopen(path, "r")))
		return false;
	if (!fgets(text, sizeof(text), f))
		text[0] = 0;
	fclose(f);
	text[strcspn(text, "\n")] = 0;
	return !strcmp(text, "svsm");
}

/* The services manifest: one vTPM entry, its data the EK (knobs: another EK, another GUID). */
static size_t svsm_manifest(const struct skr_faketsm *t, uint8_t *blob, size_t cap)
{
	static const uint8_t other_guid[16] = { 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
						0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a };
	uint8_t ek[sizeof(t->svsm_ek)];
	struct skr_test_svsm_service s = { t->svsm_no_vtpm ? other_guid : skr_svsm_vtpm_guid, ek,
					   t->svsm_ek_len };

	memcpy(ek, t->svsm_ek, t->svsm_ek_len);
	if (t->svsm_other_ek)
		ek[t->svsm_ek_len - 1] ^= 1;	/* the RSA modulus' last byte: another key */
	return skr_test_svsm_manifest(blob, cap, &s, 1);
}

/* What the SVSM puts in REPORT_DATA: SHA-512(the guest's 64 bytes || manifest). */
static void svsm_report_data(const struct skr_faketsm *t, const uint8_t nonce[64],
			     const uint8_t *manifest, size_t len, uint8_t out[64])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (!md || !EVP_DigestInit_ex(md, EVP_sha512(), NULL) || !EVP_DigestUpdate(md, nonce, 64) ||
	    !EVP_DigestUpdate(md, manifest, len) || !EVP_DigestFinal_ex(md, out, NULL))
		fprintf(stderr, "faketsm: SHA-512 failed\n");
	EVP_MD_CTX_free(md);
	if (t->svsm_unbound)
		out[0] ^= 1;
}

static void remove_entry(const char *entry)
{
	static const char *const files[] = { "provider", "privlevel_floor", "inblob", "generation",
					     "outblob", "auxblob", "manifestblob", "service_provider",
					     "service_guid", "service_manifest_version" };
	char path[512];
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		entry_path(path, sizeof(path), entry, files[i]);
		unlink(path);
	}
	rmdir(entry);
}

/* One client request on a new entry, in the order vm/tsm.c reads it. */
static void serve_entry(struct skr_faketsm *shared, const char *entry)
{
	struct skr_faketsm req, *t = &req;
	char path[512];
	uint8_t data[64];
	size_t i;

	read_knobs(shared, &req);
	for (i = 0; i < N_FIFOS(t); i++) {
		entry_path(path, sizeof(path), entry, fifos[i]);
		mkfifo(path, 0600);
	}
	write_text(entry, "privlevel_floor", "0\n");
	for (i = 0; t->svsm_ek_len && i < sizeof(svsm_attrs) / sizeof(svsm_attrs[0]); i++)
		write_text(entry, svsm_attrs[i], "");
	/* provider last: once it is there, the entry's attributes are all there. */
	write_text(entry, "provider", t->provider ? t->provider : "sev_guest\n");
	if (read_inblob(shared, entry, data) == 64) {
		uint8_t manifest[2048], bound[64];
		size_t mlen = 0;
		bool svsm = svsm_requested(t, entry);

		if (svsm) {
			mlen = svsm_manifest(t, manifest, sizeof(manifest));
			svsm_report_data(t, data, manifest, mlen, bound);
		}
		t->generation++;
		serve_generation(t, entry);
		serve_report(t, entry, svsm ? bound : data);
		if (svsm)
			write_all(entry, "manifestblob", manifest, mlen);
		t->generation += t->bump_generation;
		/* Before the last answer: the client returns once it has it. */
		shared->generation = t->generation;
		shared->served = t->served;
		serve_generation(t, entry);
	}
	remove_entry(entry);
}

static void *serve(void *arg)
{
	struct skr_faketsm *t = arg;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	char entry[512];
	ssize_t n;

	for (;;) {
		struct pollfd fds[2] = { { t->inotify_fd, POLLIN, 0 }, { t->stop_pipe[0], POLLIN, 0 } };
		char *p;

		if (poll(fds, 2, -1) < 0 || fds[1].revents ||
		    (n = read(t->inotify_fd, buf, sizeof(buf))) <= 0)
			break;

		for (p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;

			if ((ev->mask & IN_CREATE) && (ev->mask & IN_ISDIR) && ev->len) {
				int len = snprintf(entry, sizeof(entry), "%s/%s", t->root, ev->name);

				if (len > 0 && (size_t)len < sizeof(entry))
					serve_entry(t, entry);
			}
			p += sizeof(*ev) + ev->len;
		}
	}
	atomic_store(&t->done, true);
	return NULL;
}

int skr_faketsm_start(struct skr_faketsm *t, const struct skr_test_chain *chain,
		      struct skr_err *err)
{
	memset(t, 0, sizeof(*t));
	t->chain = chain;
	skr_test_report_opts_init(&t->report, &chain->vcek_opts);
	snprintf(t->root, sizeof(t->root), "/tmp/skr-faketsm-XXXXXX");
	if (!mkdtemp(t->root))
		return skr_fail(err, SKR_R_io, "faketsm: mkdtemp: %s", strerror(errno));
	t->inotify_fd = inotify_init1(IN_CLOEXEC);
	if (pipe(t->stop_pipe) < 0)
		return skr_fail(err, SKR_R_io, "faketsm: pipe: %s", strerror(errno));
	if (t->inotify_fd < 0 || inotify_add_watch(t->inotify_fd, t->root, IN_CREATE) < 0 ||
	    pthread_create(&t->thread, NULL, serve, t) != 0)
		return skr_fail(err, SKR_R_io, "faketsm: cannot watch %s", t->root);
	t->running = true;
	return 0;
}

/*
 * Opens every FIFO of every entry from the other side and closes it: a
 * thread blocked opening one (a client that gave up midway) goes on, reads
 * an end of file or writes into the pipe's buffer, and finishes the entry.
 */
static void poke_fifos(const char *root)
{
	char entry[512], path[512];
	struct dirent *d;
	DIR *dir = opendir(root);
	size_t i;

	while (dir && (d = readdir(dir))) {
		if (d->d_name[0] == '.' ||
		    snprintf(entry, sizeof(entry), "%s/%s", root, d->d_name) >= (int)sizeof(entry))
			continue;
		for (i = 0; i < sizeof(fifos) / sizeof(fifos[0]); i++) {
			int fd;

			entry_path(path, sizeof(path), entry, fifos[i]);
			fd = open(path, O_RDWR | O_NONBLOCK);
			if (fd >= 0)
				close(fd);
		}
	}
	if (dir)
		closedir(dir);
}

/* No pthread_cancel: ASan's thread teardown misreads a cancelled thread's stack. */
void skr_faketsm_stop(struct skr_faketsm *t)
{
	struct timespec pause = { 0, 10000000L };
	char cmd[300];

	if (t->running) {
		if (write(t->stop_pipe[1], "x", 1) != 1)
			fprintf(stderr, "faketsm: cannot signal the thread\n");
		while (!atomic_load(&t->done)) {
			poke_fifos(t->root);
			nanosleep(&pause, NULL);
		}
		pthread_join(t->thread, NULL);
		t->running = false;
		close(t->stop_pipe[0]);
		close(t->stop_pipe[1]);
	}
	if (t->inotify_fd > 0)
		close(t->inotify_fd);
	if (t->root[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->root);
		if (system(cmd) != 0)
			fprintf(stderr, "faketsm: cannot remove %s\n", t->root);
	}
}
