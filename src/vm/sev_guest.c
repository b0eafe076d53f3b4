/* SPDX-License-Identifier: Apache-2.0 */
#include "vm/sev_guest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <linux/sev-guest.h>

#include "verify/snp_report.h"

#define RESP_REPORT_OFFSET 0x20
#define FIRST_CERTS (4u << 12)		/* four pages: a VCEK, an ASK and an ARK fit */
#define MAX_TRIES 6
#define PAGE 4096u

static const char *dev_path(const struct skr_sev_guest *g)
{
	return g && g->path ? g->path : SKR_SEV_GUEST_PATH;
}

bool skr_sev_guest_present(const struct skr_sev_guest *g)
{
	return access(dev_path(g), F_OK) == 0;
}

static int call(const struct skr_sev_guest *g, int fd, struct snp_guest_request_ioctl *io)
{
	if (g && g->ioctl_fn)
		return g->ioctl_fn(fd, SNP_GET_EXT_REPORT, io);
	return ioctl(fd, SNP_GET_EXT_REPORT, io);
}

/* MSG_REPORT_RSP: status 0 and a report of the one size we know. */
static int take_report(const struct snp_report_resp *resp, struct skr_buf *report,
		       struct skr_err *err)
{
	uint32_t status = skr_le32(resp->data), size = skr_le32(resp->data + 4);

	if (status != 0)
		return skr_fail(err, SKR_R_io, "sev-guest: the firmware answered status 0x%x", status);
	if (size != SKR_SNP_REPORT_SIZE)
		return skr_fail(err, SKR_R_malformed, "sev-guest: report_size %u, not %d", size,
				SKR_SNP_REPORT_SIZE);
	return skr_buf_set(report, resp->data + RESP_REPORT_OFFSET, size, err);
}

/* One more try after a VMM error, with a larger buffer or after a pause; else fails. */
static int retry(struct snp_ext_report_req *req, const struct snp_guest_request_ioctl *io,
		 uint8_t **certs, int attempt, struct skr_err *err)
{
	struct timespec pause = { 0, 10000000L << attempt };
	uint8_t *grown;

	if (io->vmm_error == SNP_GUEST_VMM_ERR_BUSY) {
		nanosleep(&pause, NULL);
		return 0;
	}
	if (io->vmm_error != SNP_GUEST_VMM_ERR_INVALID_LEN)
		return skr_fail(err, SKR_R_io, "sev-guest: SNP_GET_EXT_REPORT failed: %s "
				"(firmware error 0x%x, VMM error 0x%x)", strerror(errno),
				io->fw_error, io->vmm_error);
	if (req->certs_len == 0 || req->certs_len > SKR_SEV_GUEST_MAX_CERTS || req->certs_len % PAGE)
		return skr_fail(err, SKR_R_io, "sev-guest: the host wants a %u-byte certificate "
				"buffer (at most %u, whole pages)", req->certs_len,
				SKR_SEV_GUEST_MAX_CERTS);
	grown = aligned_alloc(PAGE, req->certs_len);
	if (!grown)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	memset(grown, 0, req->certs_len);
	free(*certs);
	*certs = grown;
	req->certs_address = (uint64_t)(uintptr_t)grown;
	return 0;
}

static int request(const struct skr_sev_guest *g, int fd, const uint8_t data[64],
		   struct skr_buf *report, struct skr_buf *aux, struct skr_err *err)
{
	struct snp_ext_report_req req = { .certs_len = FIRST_CERTS };
	struct snp_report_resp *resp = calloc(1, sizeof(*resp));
	uint8_t *certs = aligned_alloc(PAGE, FIRST_CERTS);
	int attempt, rc = -1;

	if (!resp || !certs) {
		skr_fail(err, SKR_R_nomem, "out of memory");
		goto out;
	}
	memset(certs, 0, FIRST_CERTS);
	memcpy(req.data.user_data, data, 64);
	req.certs_address = (uint64_t)(uintptr_t)certs;
	for (attempt = 0; attempt < MAX_TRIES; attempt++) {
		struct snp_guest_request_ioctl io = { .msg_version = 1,
						      .req_data = (uint64_t)(uintptr_t)&req,
						      .resp_data = (uint64_t)(uintptr_t)resp };

		if (call(g, fd, &io) == 0) {
			rc = take_report(resp, report, err) < 0 ? -1
			     : skr_buf_set(aux, certs, req.certs_len, err);
			goto out;
		}
		if (retry(&req, &io, &certs, attempt, err) < 0)
			goto out;
	}
	skr_fail(err, SKR_R_io, "sev-guest: still busy after %d tries", MAX_TRIES);
out:
	free(certs);
	free(resp);
	return rc;
}

int skr_sev_guest_report(const struct skr_sev_guest *g, const uint8_t report_data[64],
			 struct skr_buf *report, struct skr_buf *aux, struct skr_err *err)
{
	int fd = open(dev_path(g), O_RDWR | O_CLOEXEC), rc;

	if (fd < 0)
		return skr_fail(err, SKR_R_io, "cannot open %s: %s", dev_path(g), strerror(errno));
	rc = request(g, fd, report_data, report, aux, err);
	close(fd);
	return rc;
}
