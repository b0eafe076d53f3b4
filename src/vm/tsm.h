/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SEV-SNP reports through Linux configfs-tsm (kernel 6.7 and later,
 * Documentation/ABI/testing/configfs-tsm-report): under the root
 * (/sys/kernel/config/tsm/report) the client makes its own entry, checks
 * that its provider is "sev_guest", writes the 64-byte REPORT_DATA to
 * inblob, reads generation, outblob (the report) and auxblob (the GHCB
 * certificate table, verify/snp_certs.h), and reads generation again: a
 * change means another writer used the entry between our write and our
 * read (tsm_generation_changed), so the report may not carry our data.
 * The entry is removed afterwards.
 *
 * Under an SVSM (DESIGN 2.3.1) an entry also offers service_provider,
 * service_guid and service_manifest_version (write only) and manifestblob:
 * with service_provider "svsm" the SVSM asks for the report at VMPL0, its
 * REPORT_DATA = SHA-512(inblob || manifest), and manifestblob is the
 * services manifest.  Linux hides these attributes without an SVSM, which
 * is how skr_tsm_svsm_present tells.
 *
 * The root may be moved (the root argument; SKR_TSM_ROOT when NULL) for the
 * tests' stand-in only: nothing here is a trust decision, since the broker
 * verifies the report and its binding.  /dev/sev-guest is vm/sev_guest.h.
 */
#ifndef SKR_VM_TSM_H
#define SKR_VM_TSM_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "common/util.h"

#define SKR_TSM_ROOT_DEFAULT "/sys/kernel/config/tsm/report"
#define SKR_TSM_PROVIDER "sev_guest"
#define SKR_TSM_INBLOB 64
#define SKR_TSM_MAX_OUTBLOB (16u << 10)
#define SKR_TSM_MAX_AUXBLOB (1u << 20)
#define SKR_TSM_MAX_MANIFEST (64u << 10)	/* SKR_SVSM_MANIFEST_MAX */
#define SKR_TSM_SERVICE_PROVIDER "svsm"

/* root, else $SKR_TSM_ROOT, else the default. */
const char *skr_tsm_root(const char *root);

/* Whether configfs-tsm's report directory exists under root. */
bool skr_tsm_present(const char *root);

/* A report for report_data: the raw outblob and auxblob (aux may be empty). */
int skr_tsm_report(const char *root, const uint8_t report_data[SKR_TSM_INBLOB],
		   struct skr_buf *report, struct skr_buf *aux, struct skr_err *err);

/* Whether configfs-tsm is there and its entries offer service_provider (an SVSM). */
bool skr_tsm_svsm_present(const char *root);

/*
 * The SVSM's report for nonce (all 64 bytes go to inblob: the SVSM takes
 * exactly 64), with service_provider "svsm": outblob, auxblob and
 * manifestblob, under the generation check.
 */
int skr_tsm_svsm_report(const char *root, const uint8_t nonce[SKR_TSM_INBLOB],
			struct skr_buf *report, struct skr_buf *aux, struct skr_buf *manifest,
			struct skr_err *err);

#endif
