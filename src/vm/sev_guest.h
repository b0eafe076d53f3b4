/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SEV-SNP reports through /dev/sev-guest (SNP_GET_EXT_REPORT): the fallback
 * for kernels before configfs-tsm (6.7).  The request carries REPORT_DATA
 * (user_data, 64 bytes) at VMPL 0 and a certificate buffer; the answer has
 * the report at offset 0x20 (MSG_REPORT_RSP: status, report_size, 24
 * reserved bytes, the report) and the GHCB certificate table in the buffer.
 * exitinfo2's high 32 bits are the VMM's error: 1, the buffer is too small
 * (the kernel says the size needed: retry with it, up to
 * SKR_SEV_GUEST_MAX_CERTS); 2, busy (retry after a pause, a few times).
 *
 * The ioctl is a seam for the tests (ioctl_fn); nothing here is a trust
 * decision: the broker verifies the report and its binding.
 */
#ifndef SKR_VM_SEV_GUEST_H
#define SKR_VM_SEV_GUEST_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "common/util.h"

#define SKR_SEV_GUEST_PATH "/dev/sev-guest"
#define SKR_SEV_GUEST_MAX_CERTS (64u << 10)

struct skr_sev_guest {
	const char *path;	/* NULL: SKR_SEV_GUEST_PATH */
	/* NULL: ioctl(2).  Tests only: stands in for the driver. */
	int (*ioctl_fn)(int fd, unsigned long request, void *arg);
};

bool skr_sev_guest_present(const struct skr_sev_guest *g);

/* The report for report_data, and the certificate table (aux; may be empty). */
int skr_sev_guest_report(const struct skr_sev_guest *g, const uint8_t report_data[64],
			 struct skr_buf *report, struct skr_buf *aux, struct skr_err *err);

#endif
