/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test-only: private swtpm instances on loopback for the integration tests.
 *
 * skr_swtpm_start() runs
 *   swtpm socket --tpm2 --tpmstate dir=TMP --server type=tcp,port=P
 *         --ctrl type=tcp,port=P+1 --flags not-need-init,startup-clear
 * on a free pair of loopback ports (found by binding port 0, retried when
 * swtpm loses a race for them), waits until both ports accept connections and
 * hands back the TCTI string "swtpm:host=127.0.0.1,port=P".
 *
 * Every instance is stopped (SIGTERM, then SIGKILL after 2 s, reaped, state
 * directory removed) by skr_swtpm_stop(), by skr_swtpm_stop_all(), by an
 * atexit handler registered at the first start, and, should the test process
 * die from a signal, by the kernel: the child asks for SIGKILL when its
 * parent dies (PR_SET_PDEATHSIG).  A failing test never leaves swtpm running.
 */
#ifndef SKR_TEST_SWTPM_H
#define SKR_TEST_SWTPM_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/err.h"

#define SKR_SWTPM_MAX 8		/* instances alive at once in one process */

struct skr_swtpm {
	pid_t pid;		/* 0 when stopped */
	int port;		/* server port; the control channel is port + 1 */
	char dir[256];		/* state directory (also holds swtpm.log) */
	char tcti[64];		/* "swtpm:host=127.0.0.1,port=P" */
	char ek_ca[256];	/* skr_swtpm_start_ek's CA directory; "" otherwise */
};

/* Starts an instance; *out points into a static table (never freed). */
int skr_swtpm_start(struct skr_swtpm **out, struct skr_err *err);

/*
 * An instance whose state swtpm_setup --create-ek-cert --create-platform-cert
 * made first: EK certificates in NV 0x01C00002 (RSA) and 0x01C0000A/16 (ECC),
 * issued by swtpm_localca from a CA whose state (and configuration) lives in
 * ca_dir, an existing directory the test owns: instances given the same
 * ca_dir share one CA.  The CA's root is ca_dir/swtpm-localca-rootca-cert.pem,
 * the intermediate that issues EK certificates ca_dir/issuercert.pem.  The
 * machine's own /var/lib/swtpm-localca is never used.
 */
int skr_swtpm_start_ek(const char *ca_dir, struct skr_swtpm **out, struct skr_err *err);

/* Stops *s and sets *s to NULL; a no-op on NULL. */
void skr_swtpm_stop(struct skr_swtpm **s);

/* Stops every instance this process started. */
void skr_swtpm_stop_all(void);

/* Number of instances currently running (for tests of the harness itself). */
int skr_swtpm_running(void);

#endif
