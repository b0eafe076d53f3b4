/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test-only stand-in for Linux configfs-tsm (/sys/kernel/config/tsm/report)
 * with an SEV-SNP provider, so that the client's real code (vm/tsm.c) runs
 * unchanged against it.  A thread watches a temporary root with inotify;
 * when the client makes an entry it fills it as the kernel would:
 * "provider" (sev_guest), "privlevel_floor", and "inblob", "generation",
 * "outblob", "auxblob" as FIFOs it serves in the order the client uses them:
 * it reads the 64 bytes written to inblob, bumps generation, and answers
 * outblob with a fresh report carrying them, signed by the test AMD chain's
 * VCEK (or VLEK), and auxblob with a GHCB certificate table holding the
 * leaf, the ASK (or ASVK) and the ARK.
 *
 * What it proves: the client's configfs-tsm protocol (entry, provider check,
 * inblob, generation check, blobs), its binding and its parsing of the
 * certificate table, against the kernel's file layout.  What it does not:
 * configfs semantics (the stand-in fills an entry after mkdir, not at it),
 * the kernel driver, the firmware, or that a real host's table matches.
 * Knobs break one thing at a time.
 *
 * SVSM mode (svsm_ek_len set; DESIGN 2.3.1): an entry also offers
 * service_provider, service_guid and service_manifest_version (regular
 * files: write-only on the kernel) and manifestblob (a FIFO); without SVSM
 * mode they do not exist, as Linux hides them without an SVSM.  A request
 * whose service_provider says "svsm" gets the SVSM's answer: a report at
 * VMPL0 whose REPORT_DATA = SHA-512(inblob || manifest), the manifest the
 * services manifest with one vTPM entry holding svsm_ek, served on
 * manifestblob after auxblob.  An entry the client leaves without writing
 * inblob (its probe for service_provider) is dropped when the next entry
 * appears.
 */
#ifndef SKR_FAKETSM_H
#define SKR_FAKETSM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "testchain.h"

struct skr_faketsm {
	char root[256];
	const struct skr_test_chain *chain;	/* borrowed: signs reports; its VCEK or VLEK */
	struct skr_test_report_opts report;	/* edit before a request; report_data is the client's */
	EVP_PKEY *signer;			/* NULL: chain->vcek_key */
	bool bump_generation;			/* another writer between the client's reads */
	bool bad_table;				/* an entry's length runs past the blob */
	const char *provider;			/* NULL: "sev_guest" */
	/*
	 * Read before each request when set (tests/tools/skr-fake-tsm): one knob
	 * a line, "debug", "bad_table", "bump_generation", "other_signer",
	 * "measurement_flip", "tcb_snp=N", "vmpl=N", and in SVSM mode
	 * "svsm_other_ek" (the manifest names another EK: its modulus' last
	 * byte flipped), "svsm_no_vtpm" (the entry under another GUID),
	 * "svsm_unbound" (REPORT_DATA not SHA-512(inblob || manifest));
	 * applied to that request only.
	 */
	const char *knob_file;
	EVP_PKEY *other_signer;			/* what "other_signer" signs with */
	uint8_t svsm_ek[1024];			/* the vTPM EK's marshalled TPMT_PUBLIC */
	size_t svsm_ek_len;			/* 0: no SVSM */
	bool svsm_other_ek, svsm_no_vtpm, svsm_unbound;
	int inotify_fd;
	int stop_pipe[2];			/* stop: the thread leaves its wait */
	atomic_bool done;			/* the thread has returned */
	pthread_t thread;
	bool running;
	unsigned long generation;
	unsigned served;			/* reports handed out */
};

/* Makes a temporary root and starts serving it (report defaults from chain). */
int skr_faketsm_start(struct skr_faketsm *t, const struct skr_test_chain *chain,
		      struct skr_err *err);
void skr_faketsm_stop(struct skr_faketsm *t);

/* The certificate table the stand-in serves (leaf, ASK or ASVK, ARK), for parser tests. */
int skr_faketsm_cert_table(const struct skr_test_chain *chain, struct skr_buf *out,
			   struct skr_err *err);

#endif
