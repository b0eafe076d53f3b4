/* SPDX-License-Identifier: Apache-2.0 */
#include "common/pcr_json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static int parse_index(const char *key, unsigned *pcr, struct skr_err *err)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(key, &end, 10);
	/* Digits only: " 7", "+7" or "07" would let two keys name one PCR. */
	if (key[0] < '0' || key[0] > '9' || *end || errno || v >= SKR_PCR_COUNT ||
	    (key[0] == '0' && key[1]))
		return skr_fail(err, SKR_R_malformed, "\"%s\" is not a PCR index 0..%d", key,
				SKR_PCR_COUNT - 1);
	*pcr = (unsigned)v;
	return 0;
}

static int parse_value(struct skr_pcr_bank *bank, unsigned pcr, json_object *v,
		       struct skr_err *err)
{
	_cleanup_buf_ struct skr_buf raw = { 0 };
	const char *s;

	if (!json_object_is_type(v, json_type_string))
		return skr_fail(err, SKR_R_malformed, "%s PCR %u is not a hex string", bank->name, pcr);
	s = json_object_get_string(v);
	if (skr_hex_decode(s, strlen(s), &raw, "PCR value", err) < 0)
		return -1;
	if (raw.len != bank->size)
		return skr_fail(err, SKR_R_malformed, "%s PCR %u is %zu bytes, expected %zu",
				bank->name, pcr, raw.len, bank->size);
	memcpy(bank->value[pcr], raw.data, raw.len);
	bank->extended_mask |= 1u << pcr;
	return 0;
}

static int parse_bank(const char *name, json_object *values, struct skr_pcr_banks *out,
		      struct skr_err *err)
{
	uint16_t alg = skr_tpm_alg_from_name(name);
	struct skr_pcr_bank *bank;
	unsigned pcr = 0;

	if (!alg)
		return skr_fail(err, SKR_R_malformed, "\"%s\" is not a known PCR bank", name);
	if (!json_object_is_type(values, json_type_object))
		return skr_fail(err, SKR_R_malformed, "PCR bank %s is not an object", name);
	if (skr_pcr_banks_find(out, alg))
		return skr_fail(err, SKR_R_malformed, "PCR bank %s appears twice", name);
	if (out->count == SKR_PCR_MAX_BANKS)
		return skr_fail(err, SKR_R_malformed, "too many PCR banks");
	bank = &out->bank[out->count];
	if (skr_pcr_bank_init(bank, alg, err) < 0)
		return -1;
	out->count++;
	json_object_object_foreach(values, key, v) {
		if (parse_index(key, &pcr, err) < 0 || parse_value(bank, pcr, v, err) < 0)
			return -1;
	}
	return 0;
}

int skr_pcr_banks_from_json(json_object *obj, struct skr_pcr_banks *out, struct skr_err *err)
{
	memset(out, 0, sizeof(*out));
	if (!json_object_is_type(obj, json_type_object))
		return skr_fail(err, SKR_R_malformed, "PCR values are not a JSON object of banks");
	json_object_object_foreach(obj, name, values) {
		if (parse_bank(name, values, out, err) < 0)
			return -1;
	}
	return 0;
}

json_object *skr_pcr_banks_to_json(const struct skr_pcr_banks *banks)
{
	json_object *root = json_object_new_object();
	size_t b;
	unsigned pcr = 0;

	for (b = 0; b < banks->count; b++) {
		const struct skr_pcr_bank *bank = &banks->bank[b];
		json_object *values = json_object_new_object();

		for (pcr = 0; pcr < SKR_PCR_COUNT; pcr++) {
			char key[4], *hex;

			if (!(bank->extended_mask & (1u << pcr)))
				continue;
			hex = skr_hex_encode(bank->value[pcr], bank->size);
			snprintf(key, sizeof(key), "%u", pcr);
			json_object_object_add(values, key, hex ? json_object_new_string(hex) : NULL);
			free(hex);
		}
		json_object_object_add(root, bank->name, values);
	}
	return root;
}
