/* SPDX-License-Identifier: Apache-2.0 */
#include "luks/disk_tag.h"

#include <errno.h>
#include <string.h>

#include <libcryptsetup.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/secret.h"
#include "common/util.h"

int skr_disk_tag(const uint8_t *vk, size_t vk_len, char out[SKR_DISK_TAG_HEX + 1],
		 struct skr_err *err)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t mac[32];
	unsigned mac_len = 0;
	size_t i;

	if (!vk_len || !HMAC(EVP_sha256(), vk, (int)vk_len, (const uint8_t *)SKR_DISK_TAG_LABEL,
			     strlen(SKR_DISK_TAG_LABEL), mac, &mac_len) ||
	    mac_len != sizeof(mac))
		return skr_fail(err, SKR_R_nomem, "cannot compute the disk tag");
	for (i = 0; i < sizeof(mac); i++) {
		out[2 * i] = hex[mac[i] >> 4];
		out[2 * i + 1] = hex[mac[i] & 15];
	}
	out[SKR_DISK_TAG_HEX] = '\0';
	OPENSSL_cleanse(mac, sizeof(mac));
	return 0;
}

int skr_disk_volume_key(struct crypt_device *cd, int slot, const void *pass, size_t len,
			uint8_t **vk, char tag[SKR_DISK_TAG_HEX + 1], struct skr_err *err)
{
	int size = crypt_get_volume_key_size(cd), r;
	size_t vk_len;

	*vk = NULL;
	if (size <= 0)
		return skr_fail(err, SKR_R_luks_error, "the volume has no volume key size");
	vk_len = (size_t)size;
	*vk = skr_secret_alloc(vk_len);
	if (!*vk)
		return skr_fail(err, SKR_R_nomem, "out of memory");
	r = crypt_volume_key_get(cd, slot, (char *)*vk, &vk_len, pass, len);
	if (r < 0 || skr_disk_tag(*vk, vk_len, tag, err) < 0) {
		skr_secret_free(*vk);
		*vk = NULL;
		if (r == -EPERM || r == -ENOENT)
			return skr_fail(err, SKR_R_passphrase_invalid, "the passphrase opens no keyslot");
		return r < 0 ? skr_fail(err, SKR_R_luks_error, "cannot get the volume key: %s",
					strerror(-r))
			     : -1;
	}
	return r;
}

bool skr_disk_tag_listed(const struct skr_cmdline *c, const char *tag)
{
	bool found = false;
	size_t i;

	if (c->disk_tags_invalid || strlen(tag) != SKR_DISK_TAG_HEX)
		return false;
	for (i = 0; i < c->n_disk_tags; i++)
		found |= CRYPTO_memcmp(c->disk_tags[i], tag, SKR_DISK_TAG_HEX) == 0;
	return found;
}
