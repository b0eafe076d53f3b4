/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The local offline copy of an skr token (the token's "local" member): what
 * skrctl local-copy, skrctl reseal and the unlock paths do with it, on top of
 * the TPM primitives of local_seal.h.
 *
 * The secret is the one of the copy's own keyslot (t->local->keyslot, also
 * in the token's keyslots so that libcryptsetup tries it for the token
 * plugin), never the broker's: a broker release needs PCR 15 at zero, so
 * the running system cannot get that one, and a keyslot of its own can be
 * removed without touching the broker's.
 *
 * Every policy selects the token's PCRs and PCR 15, the boot gate, at all
 * zero (local_seal.h): the vTPM unseals only in the initramfs, before any
 * volume is open.  The PCR values signed are those of this boot (or the
 * predicted next one) with PCR 15 taken as zero, whenever they are read.
 *
 * Lifecycle, two-phase like the broker's reference sets:
 *   enable   a reseal key (PEM, 0600, under SKR_LOCAL_DIR or /etc/skr/local,
 *            named after the key id), an NV counter, the secret sealed under
 *            PolicyAuthorize, and a policy for this boot's PCRs, epoch =
 *            counter: this boot state unseals (on its next boot, in the
 *            initramfs).  The keyslot is the caller's (skrctl local-copy).
 *   reseal   a policy for the predicted PCRs, epoch = counter + 1: both the
 *            old and the new boot unseal.
 *   commit   on a boot that matched a policy of a higher epoch, the counter
 *            is raised to it: older policies are revoked, and dropped.
 *   disable  the counter is deleted and the member removed.
 * The caller writes the token back to the LUKS header after a change.
 * tcti: the caller's (--tcti or the client configuration's); NULL is the
 * kernel's resource manager.  Never the token's: the header is the attacker's.
 */
#ifndef SKR_LOCAL_COPY_H
#define SKR_LOCAL_COPY_H

#include <stdbool.h>

#include "common/err.h"
#include "common/pcr_bank.h"
#include "luks/token.h"

#define SKR_LOCAL_DIR "/etc/skr/local"

/*
 * The longest a release waits for the brokers (seconds) when the volume's
 * token has a local copy, whatever the token's timeout: the copy opens the
 * volume without them, and the host, which controls the network, can force
 * that fallback whenever it likes, so waiting out an outage buys no
 * security; it only holds the boot (30 s of a 40 s boot with the default
 * timeout, measured in the e2e guest).  Long enough for a reachable broker
 * under a boot storm's queueing (p99 1.2 s in bench/results/storm.json).
 */
#define SKR_LOCAL_BROKER_WAIT_S 5

/* Where the reseal key of a key id lives: SKR_LOCAL_DIR (env overrides)/KEY_ID.pem. */
void skr_local_copy_key_path(const char *key_id, char *out, size_t size);

/*
 * Sets t->local up for secret, which opens keyslot (0..31; the caller adds
 * it to t->keyslots).  On failure nothing is left: no counter, no key file.
 */
int skr_local_copy_enable(struct skr_token *t, const char *tcti, const uint8_t *secret,
			  size_t len, int keyslot, struct skr_err *err);
/*
 * Adds (or keeps) the policy for these PCR values (PCR 15 at zero) with
 * epoch counter + 1.  This and unseal refuse a copy made before the boot
 * gate (no keyslot): local_policy_mismatch, saying to re-create it.
 */
int skr_local_copy_add(struct skr_token *t, const char *tcti, const struct skr_pcr_banks *pcrs,
		       struct skr_err *err);
/*
 * After a boot: if this boot's PCRs match a policy whose epoch is above the
 * counter, raises the counter to it and drops the policies it revokes
 * (*changed tells whether the token must be written back).  A boot that
 * matches no policy fails with pcr_mismatch.  For a copy made before the
 * boot gate it deletes the counter instead (the TPM would still honour its
 * policies after any open) and fails with local_policy_mismatch.
 */
int skr_local_copy_commit(struct skr_token *t, const char *tcti, bool *changed,
			  struct skr_err *err);
/*
 * Deletes the counter and the member (the reseal key file is removed too), and
 * drops the copy's keyslot from t->keyslots; destroying that LUKS keyslot is
 * the caller's, after it wrote the token back.
 */
int skr_local_copy_disable(struct skr_token *t, const char *tcti, struct skr_err *err);
/*
 * Unseals the secret (newest policy first) into locked memory of
 * SKR_LOCAL_MAX_SECRET; it opens t->local->keyslot.  A copy without a keyslot
 * (made before the boot gate) is refused: local_policy_mismatch.
 */
int skr_local_copy_unseal(const struct skr_token *t, const char *tcti, uint8_t *secret,
			  size_t *len, struct skr_err *err);

#endif
