/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The disk tag: the boot gate of bare SEV-SNP (tee "snp", no vTPM).
 *
 * Why: in the TPM modes every open extends PCR 15, so a root the host swapped
 * in and opened with its own passphrase can never get a key released (gate.h).
 * Bare SNP has no register a guest can extend: any code in a VM whose launch
 * measurement the policy pins can ask for a report, and get the key.  So the
 * measured initramfs must never hand over a volume it cannot show to be the
 * enrolled one (docs/DESIGN.md 2.3.2):
 *   - an attested open shows it: the released secret opens one of the
 *     token's keyslots, and nobody without the secret can make such a slot;
 *   - a passphrase open shows it only by its volume key: the tag
 *       HMAC-SHA256(key = volume key, "skr-disk-v1")   (64 hex digits)
 *     must be one of rd.skr.disk= on the kernel command line (cmdline.h),
 *     which the launch measurement covers under measured direct boot.  The
 *     volume is then activated with that very key, so what the host writes
 *     to the disk afterwards cannot change which key the volume uses.
 * The tag is public (the host sees the command line); it tells nothing of a
 * 256- or 512-bit random volume key.
 */
#ifndef SKR_LUKS_DISK_TAG_H
#define SKR_LUKS_DISK_TAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "vm/cmdline.h"

#define SKR_DISK_TAG_LABEL "skr-disk-v1"

/* The tag of a volume key: 64 lower-case hex digits. */
int skr_disk_tag(const uint8_t *vk, size_t vk_len, char out[SKR_DISK_TAG_HEX + 1],
		 struct skr_err *err);

struct crypt_device;
/*
 * The volume key that pass opens (keyslot slot, or CRYPT_ANY_SLOT) in locked
 * memory (skr_secret_alloc; the caller frees it with skr_secret_free), and
 * its tag.  Returns the keyslot; passphrase_invalid when pass opens none,
 * luks_error otherwise.
 */
int skr_disk_volume_key(struct crypt_device *cd, int slot, const void *pass, size_t len,
			uint8_t **vk, char tag[SKR_DISK_TAG_HEX + 1], struct skr_err *err);

/* Whether tag is one of the command line's rd.skr.disk= (each compared in constant time). */
bool skr_disk_tag_listed(const struct skr_cmdline *c, const char *tag);

#endif
