/* SPDX-License-Identifier: Apache-2.0 */
#include "luks/local_copy.h"
#include "common/cleanup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "vm/local_seal.h"
#include "vm/tpm.h"

#define _cleanup_pkey_ _cleanup_(EVP_PKEY_freep)

static const char *key_dir(void)
{
	const char *dir = getenv("SKR_LOCAL_DIR");

	return dir && *dir ? dir : SKR_LOCAL_DIR;
}

void skr_local_copy_key_path(const char *key_id, char *out, size_t size)
{
	snprintf(out, size, "%s/%s.pem", key_dir(), key_id);
}

/* The token's PCRs without the gate (never bound by a token: gate.h). */
static uint32_t bound_mask(const struct skr_token *t)
{
	return t->pcr_mask & ~SKR_LOCAL_GATE_MASK;
}

/* What every local policy of the token selects: its PCRs and the boot gate. */
static uint32_t policy_mask(const struct skr_token *t)
{
	return bound_mask(t) | SKR_LOCAL_GATE_MASK;
}

/*
 * The PCR digest of this boot for the token's PCRs, with the gate at zero:
 * the value the initramfs of this boot state sees before it opens anything,
 * also when called later from the running system.
 */
static int live_digest(struct skr_tpm *tpm, const struct skr_token *t, uint8_t out[32],
		       struct skr_err *err)
{
	_cleanup_free_ struct skr_pcr_banks *pcrs = calloc(1, sizeof(*pcrs));

	if (!pcrs)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	if (skr_tpm_pcr_read(tpm, bound_mask(t), pcrs, err) < 0)
		return -1;
	return skr_local_pcr_digest(pcrs, policy_mask(t), out, err);
}

/* Keeps the policies the counter has not revoked, newest epoch first, at most the token's room. */
static void keep_policies(struct skr_token_local *l, uint64_t counter)
{
	struct skr_local_policy kept[SKR_TOKEN_MAX_LOCAL_POLICIES];
	size_t i, j, n = 0;

	for (i = 0; i < l->n_policies; i++)
		if (l->policies[i].epoch >= counter)
			kept[n++] = l->policies[i];
	for (i = 1; i < n; i++)		/* insertion sort by epoch, descending */
		for (j = i; j > 0 && kept[j].epoch > kept[j - 1].epoch; j--) {
			struct skr_local_policy tmp = kept[j];

			kept[j] = kept[j - 1];
			kept[j - 1] = tmp;
		}
	memcpy(l->policies, kept, n * sizeof(kept[0]));
	l->n_policies = n;
}

/* Adds p in front; an equal policy (same PCRs and epoch) is replaced, the oldest dropped. */
static void add_policy(struct skr_token_local *l, const struct skr_local_policy *p)
{
	size_t i;

	for (i = 0; i < l->n_policies; i++)
		if (l->policies[i].epoch == p->epoch && l->policies[i].pcr_mask == p->pcr_mask &&
		    !memcmp(l->policies[i].pcr_digest, p->pcr_digest, 32)) {
			l->policies[i] = *p;
			return;
		}
	if (l->n_policies == SKR_TOKEN_MAX_LOCAL_POLICIES)
		l->n_policies--;	/* sorted: the last has the lowest epoch */
	memmove(&l->policies[1], &l->policies[0], l->n_policies * sizeof(*p));
	l->policies[0] = *p;
	l->n_policies++;
}

/* A copy made before the boot gate: no keyslot of its own, policies without PCR 15. */
static int pre_gate(const struct skr_token *t, struct skr_err *err)
{
	if (t->local->keyslot >= 0)
		return 0;
	return skr_fail(err, SKR_R_local_policy_mismatch,
			"the local copy of key %s was made before the boot gate (it has no keyslot "
			"of its own, and its policies do not require PCR 15 at zero): re-create it "
			"with skrctl local-copy --disable, then skrctl local-copy",
			t->key_id);
}

/* Deletes the revocation counter; one already gone is fine. */
static int delete_counter(const char *tcti, uint32_t nv_index, struct skr_err *err)
{
	_cleanup_tpm_ struct skr_tpm *tpm = NULL;

	if (skr_tpm_open(tcti, &tpm, err) < 0)
		return -1;
	if (skr_local_counter_delete(tpm, nv_index, err) < 0 && err->reason != SKR_R_tpm_nv_undefined)
		return -1;
	skr_err_clear(err);
	return 0;
}

/*
 * A pre-gate copy's policies would unseal after any open, and only its
 * counter revokes them in the TPM: commit (run at every boot) deletes it,
 * then reports the copy as unusable.  The member stays in the header until
 * --disable; nothing uses it.
 */
static int revoke_pre_gate(struct skr_token *t, const char *tcti, struct skr_err *err)
{
	if (delete_counter(tcti, t->local->nv_index, err) < 0)
		return -1;
	return skr_fail(err, SKR_R_local_policy_mismatch,
			"the local copy of key %s was made before the boot gate: its counter at "
			"0x%08x is deleted, so none of its policies unseals any more; re-create it "
			"with skrctl local-copy --disable, then skrctl local-copy",
			t->key_id, t->local->nv_index);
}

static int load_signer(const struct skr_token *t, EVP_PKEY **key, struct skr_err *err)
{
	char path[4096];

	skr_local_copy_key_path(t->key_id, path, sizeof(path));
	if (skr_local_signer_load(path, key, err) < 0)
		return -1;
	return 0;
}

static int enable_in(struct skr_tpm *tpm, struct skr_token *t, struct skr_token_local *l,
		     const uint8_t *secret, size_t len, struct skr_err *err)
{
	_cleanup_pkey_ EVP_PKEY *key = NULL;
	struct skr_local_policy p;
	uint8_t digest[32];
	uint64_t counter;
	char path[4096];

	skr_local_copy_key_path(t->key_id, path, sizeof(path));
	(void)mkdir(key_dir(), 0700);	/* may exist; saving the key says if it is unusable */
	if (skr_local_signer_generate(&key, err) < 0 || skr_local_signer_save(key, path, err) < 0 ||
	    skr_local_signer_public_der(key, &l->signer, err) < 0 ||
	    skr_local_counter_create(tpm, &l->nv_index, &counter, err) < 0)
		return -1;
	if (live_digest(tpm, t, digest, err) < 0 ||
	    skr_local_policy_make(tpm, key, l->nv_index, policy_mask(t), digest, counter, &p,
				  err) < 0 ||
	    skr_local_seal(tpm, key, secret, len, &l->public_blob, &l->private_blob, err) < 0) {
		skr_local_counter_delete(tpm, l->nv_index, &(struct skr_err){ 0 });
		unlink(path);
		return -1;
	}
	add_policy(l, &p);
	return 0;
}

int skr_local_copy_enable(struct skr_token *t, const char *tcti, const uint8_t *secret,
			  size_t len, int keyslot, struct skr_err *err)
{
	_cleanup_tpm_ struct skr_tpm *tpm = NULL;
	struct skr_token_local *l;

	if (t->local)
		return skr_fail(err, SKR_R_usage, "key %s already has a local copy", t->key_id);
	if (!bound_mask(t))
		return skr_fail(err, SKR_R_usage, "the token names no PCRs: a local copy needs them");
	if (keyslot < 0 || keyslot > 31)
		return skr_fail(err, SKR_R_usage, "keyslot %d is not 0..31", keyslot);
	l = calloc(1, sizeof(*l));
	if (!l)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	l->keyslot = keyslot;
	if (skr_tpm_open(tcti, &tpm, err) < 0 ||
	    enable_in(tpm, t, l, secret, len, err) < 0) {
		skr_token_local_free(l);
		return -1;
	}
	t->local = l;
	return 0;
}

int skr_local_copy_add(struct skr_token *t, const char *tcti, const struct skr_pcr_banks *pcrs,
		       struct skr_err *err)
{
	_cleanup_tpm_ struct skr_tpm *tpm = NULL;
	_cleanup_pkey_ EVP_PKEY *key = NULL;
	struct skr_local_policy p;
	uint8_t digest[32];
	uint64_t counter;

	if (!t->local)
		return skr_fail(err, SKR_R_usage, "key %s has no local copy", t->key_id);
	if (pre_gate(t, err) < 0 || load_signer(t, &key, err) < 0 ||
	    skr_local_pcr_digest(pcrs, policy_mask(t), digest, err) < 0 ||
	    skr_tpm_open(tcti, &tpm, err) < 0 ||
	    skr_local_counter_read(tpm, t->local->nv_index, &counter, err) < 0 ||
	    skr_local_policy_make(tpm, key, t->local->nv_index, policy_mask(t), digest, counter + 1,
				  &p, err) < 0)
		return -1;
	keep_policies(t->local, counter);
	add_policy(t->local, &p);
	return 0;
}

int skr_local_copy_commit(struct skr_token *t, const char *tcti, bool *changed,
			  struct skr_err *err)
{
	_cleanup_tpm_ struct skr_tpm *tpm = NULL;
	struct skr_token_local *l = t->local;
	uint8_t digest[32];
	uint64_t counter, target = 0;
	bool matched = false;
	size_t i, before;

	*changed = false;
	if (!l)
		return skr_fail(err, SKR_R_usage, "key %s has no local copy", t->key_id);
	if (l->keyslot < 0)
		return revoke_pre_gate(t, tcti, err);
	if (skr_tpm_open(tcti, &tpm, err) < 0 ||
	    live_digest(tpm, t, digest, err) < 0 ||
	    skr_local_counter_read(tpm, l->nv_index, &counter, err) < 0)
		return -1;
	for (i = 0; i < l->n_policies; i++)
		if (l->policies[i].epoch >= counter && !memcmp(l->policies[i].pcr_digest, digest, 32)) {
			matched = true;
			if (l->policies[i].epoch > target)
				target = l->policies[i].epoch;
		}
	if (!matched)
		return skr_fail(err, SKR_R_pcr_mismatch,
				"this boot's PCRs match no policy of the local copy of key %s", t->key_id);
	while (counter < target)
		if (skr_local_counter_increment(tpm, l->nv_index, &counter, err) < 0)
			return -1;
	before = l->n_policies;
	keep_policies(l, counter);
	*changed = l->n_policies != before;
	return 0;
}

int skr_local_copy_disable(struct skr_token *t, const char *tcti, struct skr_err *err)
{
	char path[4096];
	size_t i, n;

	if (!t->local)
		return skr_fail(err, SKR_R_usage, "key %s has no local copy", t->key_id);
	if (delete_counter(tcti, t->local->nv_index, err) < 0)
		return -1;
	skr_local_copy_key_path(t->key_id, path, sizeof(path));
	unlink(path);
	for (i = 0, n = 0; i < t->n_keyslots; i++)
		if (t->keyslots[i] != t->local->keyslot)
			t->keyslots[n++] = t->keyslots[i];
	t->n_keyslots = n;
	skr_token_local_free(t->local);
	t->local = NULL;
	return 0;
}

int skr_local_copy_unseal(const struct skr_token *t, const char *tcti, uint8_t *secret,
			  size_t *len, struct skr_err *err)
{
	_cleanup_tpm_ struct skr_tpm *tpm = NULL;
	_cleanup_pkey_ EVP_PKEY *signer = NULL;
	const struct skr_token_local *l = t->local;
	struct skr_token_local sorted;
	size_t used;

	*len = 0;
	if (!l)
		return skr_fail(err, SKR_R_usage, "key %s has no local copy", t->key_id);
	if (pre_gate(t, err) < 0)
		return -1;
	sorted = *l;
	keep_policies(&sorted, 0);
	if (skr_local_signer_public_parse(l->signer.data, l->signer.len, &signer, err) < 0 ||
	    skr_tpm_open(tcti, &tpm, err) < 0)
		return -1;
	return skr_local_unseal(tpm, &l->public_blob, &l->private_blob, signer, l->nv_index,
				sorted.policies, sorted.n_policies, secret, len, &used, err);
}
