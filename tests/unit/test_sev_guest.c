/* SPDX-License-Identifier: Apache-2.0 */
/*
 * /dev/sev-guest (SNP_GET_EXT_REPORT) through the ioctl seam: a stand-in
 * driver answers as the kernel does (report at 0x20 of MSG_REPORT_RSP,
 * certificates into the caller's buffer, VMM errors in exitinfo2's high
 * half), with a report signed by a test chain over the caller's user_data.
 */
#include "testutil.h"

#include <errno.h>
#include <sys/ioctl.h>

#include <linux/sev-guest.h>

#include "faketsm.h"
#include "testchain.h"
#include "verify/snp_certs.h"
#include "verify/snp_report.h"
#include "vm/sev_guest.h"

static struct {
	struct skr_test_chain chain;
	struct skr_buf table;
	int busy;		/* answer busy this many times */
	uint32_t fw_error;	/* fail with this firmware error */
	bool huge;		/* ask for a buffer over the maximum */
	int calls;
} drv;

static int fake_ioctl(int fd, unsigned long request, void *arg)
{
	struct snp_guest_request_ioctl *io = arg;
	struct snp_ext_report_req *req = (void *)(uintptr_t)io->req_data;
	struct snp_report_resp *resp = (void *)(uintptr_t)io->resp_data;
	struct skr_test_report_opts r;
	uint32_t need = (uint32_t)((drv.table.len + 4095) / 4096 * 4096);

	(void)fd;
	drv.calls++;
	assert_int_equal(request, SNP_GET_EXT_REPORT);
	assert_int_equal(io->msg_version, 1);
	if (drv.busy-- > 0 || drv.fw_error) {
		io->vmm_error = drv.fw_error ? 0 : SNP_GUEST_VMM_ERR_BUSY;
		io->fw_error = drv.fw_error;
		errno = EIO;
		return -1;
	}
	if (req->certs_len < need || drv.huge) {
		req->certs_len = drv.huge ? (1u << 20) : need;
		io->vmm_error = SNP_GUEST_VMM_ERR_INVALID_LEN;
		errno = EIO;
		return -1;
	}
	memcpy((void *)(uintptr_t)req->certs_address, drv.table.data, drv.table.len);
	skr_test_report_opts_init(&r, &drv.chain.vcek_opts);
	memcpy(r.report_data, req->data.user_data, 64);
	memset(resp, 0, sizeof(*resp));
	resp->data[4] = SKR_TEST_REPORT_SIZE & 0xff;
	resp->data[5] = SKR_TEST_REPORT_SIZE >> 8;
	return skr_test_chain_report(&drv.chain, &r, resp->data + 0x20, NULL);
}

static int setup(void **state)
{
	struct skr_err err = { 0 };
	uint8_t *big;

	(void)state;
	memset(&drv, 0, sizeof(drv));
	assert_ok(skr_test_chain_new(&drv.chain, NULL, &err), err);
	assert_ok(skr_faketsm_cert_table(&drv.chain, &drv.table, &err), err);
	/* Over four pages, so the first call must ask for a larger buffer. */
	big = realloc(drv.table.data, 5 * 4096);
	assert_non_null(big);
	memset(big + drv.table.len, 0, 5 * 4096 - drv.table.len);
	drv.table.data = big;
	drv.table.len = 5 * 4096;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	skr_buf_free(&drv.table);
	skr_test_chain_free(&drv.chain);
	return 0;
}

static const struct skr_sev_guest dev = { .path = "/dev/null", .ioctl_fn = fake_ioctl };

static void report_after_resize_and_busy(void **state)
{
	uint8_t data[64];
	struct skr_buf report = { 0 }, aux = { 0 };
	struct skr_snp_report r;
	struct skr_snp_certs certs;
	EVP_PKEY *pub = X509_get_pubkey(drv.chain.vcek);
	struct skr_err err = { 0 };

	(void)state;
	memset(data, 0xa5, sizeof(data));
	drv.busy = 2;
	assert_ok(skr_sev_guest_report(&dev, data, &report, &aux, &err), err);
	assert_int_equal(drv.calls, 4);	/* busy, busy, too small, answered */
	assert_ok(skr_snp_report_parse(report.data, report.len, &r, &err), err);
	assert_memory_equal(r.report_data, data, 64);
	assert_ok(skr_snp_report_verify_signature(&r, pub, &err), err);
	assert_int_equal(aux.len, 5 * 4096);	/* the size the host asked for */
	assert_ok(skr_snp_certs_parse(aux.data, aux.len, &certs, &err), err);
	assert_non_null(certs.der[SKR_SNP_CERT_VCEK]);
	EVP_PKEY_free(pub);
	skr_buf_free(&report);
	skr_buf_free(&aux);
}

static void refusals(void **state)
{
	uint8_t data[64] = { 0 };
	struct skr_buf report = { 0 }, aux = { 0 };
	struct skr_err err = { 0 };
	const struct skr_sev_guest missing = { .path = "/nonexistent/sev-guest" };

	(void)state;
	drv.busy = 100;
	assert_failed_with(skr_sev_guest_report(&dev, data, &report, &aux, &err), err, SKR_R_io,
			   "still busy");
	skr_err_clear(&err);
	drv.busy = 0;
	drv.fw_error = 0x16;
	assert_failed_with(skr_sev_guest_report(&dev, data, &report, &aux, &err), err, SKR_R_io,
			   "firmware error 0x16");
	skr_err_clear(&err);
	drv.fw_error = 0;
	drv.huge = true;
	assert_failed_with(skr_sev_guest_report(&dev, data, &report, &aux, &err), err, SKR_R_io,
			   "1048576-byte certificate buffer");
	skr_err_clear(&err);
	assert_false(skr_sev_guest_present(&missing));
	assert_failed_with(skr_sev_guest_report(&missing, data, &report, &aux, &err), err, SKR_R_io,
			   "/nonexistent/sev-guest");
	assert_null(report.data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(report_after_resize_and_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(refusals, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
