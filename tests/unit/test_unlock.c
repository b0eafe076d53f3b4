/* SPDX-License-Identifier: Apache-2.0 */
/* skr-unlock's pure parts: kernel command line options, failure messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "luks/disk_tag.h"
#include "vm/cmdline.h"
#include "unlock/handover.h"
#include "vm/words.h"

static void cmdline_empty(void **state)
{
	struct skr_cmdline c;

	(void)state;
	skr_cmdline_parse("", &c);
	assert_false(c.disabled);
	assert_false(c.debug);
	assert_int_equal(c.timeout, 0);
	skr_cmdline_parse(NULL, &c);
	assert_false(c.disabled);
}

static void cmdline_options(void **state)
{
	struct skr_cmdline c;

	(void)state;
	skr_cmdline_parse("BOOT_IMAGE=/vmlinuz root=/dev/mapper/r rd.skr.timeout=7 quiet rd.skr.debug\n", &c);
	assert_false(c.disabled);
	assert_true(c.debug);
	assert_int_equal(c.timeout, 7);
	skr_cmdline_parse("rd.skr=0", &c);
	assert_true(c.disabled);
	skr_cmdline_parse("rd.skr=0 rd.skr=1", &c);
	assert_false(c.disabled);
	skr_cmdline_parse("rd.skr.debug=0 rd.skrx=0", &c);
	assert_false(c.debug);
	assert_false(c.disabled);
	assert_false(c.panic);
	/* panic= with any value keeps initramfs-tools from a shell; "panic=" alone does not. */
	skr_cmdline_parse("quiet panic=10", &c);
	assert_true(c.panic);
	skr_cmdline_parse("panic=-1", &c);
	assert_true(c.panic);
	skr_cmdline_parse("panic= xpanic=1 panicx=1", &c);
	assert_false(c.panic);
}

static void cmdline_bad_timeout(void **state)
{
	struct skr_cmdline c;

	(void)state;
	skr_cmdline_parse("rd.skr.timeout=0 rd.skr.timeout=abc rd.skr.timeout=5s rd.skr.timeout=99999", &c);
	assert_int_equal(c.timeout, 0);
	skr_cmdline_parse("rd.skr.timeout=3 rd.skr.timeout=", &c);
	assert_int_equal(c.timeout, 3);
}

#define TAG_A "9ac699809a282dd4fdb91ed716099f395a9dbb53be1116d89f7d2a8c4d3fc03c"
#define TAG_B "8013ae599c35136d070ba7ab66b5f220ad8b49bbceeae50bed6a2c17df07748b"

/* rd.skr.disk=: every tag 64 hex digits, at most 8, all or nothing; the last word wins. */
static void cmdline_disk_tags(void **state)
{
	struct skr_cmdline c;
	char many[16 + 9 * 65] = "rd.skr.disk=";
	int i;

	(void)state;
	skr_cmdline_parse("panic=10 rd.skr.disk=" TAG_A "," TAG_B, &c);
	assert_false(c.disk_tags_invalid);
	assert_int_equal(c.n_disk_tags, 2);
	assert_string_equal(c.disk_tags[1], TAG_B);
	skr_cmdline_parse("rd.skr.disk=9AC699809A282DD4FDB91ED716099F395A9DBB53BE1116D89F7D2A8C4D3FC03C", &c);
	assert_int_equal(c.n_disk_tags, 1);
	assert_string_equal(c.disk_tags[0], TAG_A);	/* upper case is the same tag */
	skr_cmdline_parse("root=/dev/vda", &c);
	assert_false(c.disk_tags_invalid);
	assert_int_equal(c.n_disk_tags, 0);
	{
		static const char *const bad[] = {
			"rd.skr.disk=", "rd.skr.disk", "rd.skr.disk=" TAG_A ",",
			"rd.skr.disk=" TAG_A ",abc", "rd.skr.disk=" TAG_A "0",
			"rd.skr.disk=gac699809a282dd4fdb91ed716099f395a9dbb53be1116d89f7d2a8c4d3fc03c", "rd.skr.disk=" TAG_A ",," TAG_B,
			"rd.skr.disk=" TAG_A " rd.skr.disk=" TAG_B "x",
		};
		for (i = 0; i < (int)(sizeof(bad) / sizeof(bad[0])); i++) {
			skr_cmdline_parse(bad[i], &c);
			assert_true(c.disk_tags_invalid);
			assert_int_equal(c.n_disk_tags, 0);
		}
	}
	for (i = 0; i < 9; i++) {	/* one tag too many: none accepted */
		strcat(many, TAG_A);
		if (i < 8)
			strcat(many, ",");
	}
	skr_cmdline_parse(many, &c);
	assert_true(c.disk_tags_invalid);
	assert_int_equal(c.n_disk_tags, 0);
	skr_cmdline_parse("rd.skr.disk=x rd.skr.disk=" TAG_B, &c);
	assert_false(c.disk_tags_invalid);
	assert_int_equal(c.n_disk_tags, 1);
}

/* The tag, against HMAC-SHA256 computed with Python's hmac; and who is listed. */
static void disk_tag_known_answer(void **state)
{
	uint8_t vk[64];
	char tag[SKR_DISK_TAG_HEX + 1];
	struct skr_err err = { 0 };
	struct skr_cmdline c;
	int i;

	(void)state;
	for (i = 0; i < 64; i++)
		vk[i] = (uint8_t)i;
	assert_int_equal(skr_disk_tag(vk, 32, tag, &err), 0);
	assert_string_equal(tag, TAG_A);
	assert_int_equal(skr_disk_tag(vk, 64, tag, &err), 0);
	assert_string_equal(tag, TAG_B);
	assert_int_equal(skr_disk_tag(vk, 0, tag, &err), -1);
	skr_cmdline_parse("rd.skr.disk=" TAG_A, &c);
	assert_true(skr_disk_tag_listed(&c, TAG_A));
	assert_false(skr_disk_tag_listed(&c, TAG_B));
	assert_false(skr_disk_tag_listed(&c, "9ac6"));
	skr_cmdline_parse("rd.skr.disk=" TAG_A ",zz", &c);
	assert_false(skr_disk_tag_listed(&c, TAG_A));
	skr_cmdline_parse("", &c);
	assert_false(skr_disk_tag_listed(&c, TAG_A));
}

static void describe_pcr_refusal(void **state)
{
	struct skr_err e = { .reason = SKR_R_pcr_mismatch };
	char line[700];

	(void)state;
	strcpy(e.detail, "https://kbs:8443 refused: PCR 7: seen 00aa, expected 11bb");
	skr_describe_failure(&e, "https://other:1", line, sizeof(line));
	assert_string_equal(line, "refused by https://kbs:8443: PCR 7 differs from the approved boot "
				  "state (pcr_mismatch)");
}

static void describe_other(void **state)
{
	struct skr_err e = { .reason = SKR_R_key_unknown };
	char line[700];

	(void)state;
	strcpy(e.detail, "https://kbs:8443 refused: no key disk-9");
	skr_describe_failure(&e, NULL, line, sizeof(line));
	assert_string_equal(line, "refused by https://kbs:8443: the broker does not know this disk's key "
				  "(key_unknown)");
	e.reason = SKR_R_broker_unreachable;
	strcpy(e.detail, "https://kbs:8443: Connection refused");
	skr_describe_failure(&e, "https://kbs:8443", line, sizeof(line));
	assert_string_equal(line, "no answer from https://kbs:8443 (broker_unreachable)");
	e.reason = SKR_R_tpm_unavailable;
	skr_describe_failure(&e, "https://kbs:8443", line, sizeof(line));
	assert_string_equal(line, "the TPM is not available (tpm_unavailable)");
	e.reason = SKR_R_nonce_replayed;	/* not in the table: the code alone */
	strcpy(e.detail, "https://kbs:8443 refused: replay");
	skr_describe_failure(&e, NULL, line, sizeof(line));
	assert_string_equal(line, "refused by https://kbs:8443: verification failed (nonce_replayed)");
	assert_true(skr_reason_is_unreachable(SKR_R_tpm_error));
	assert_false(skr_reason_is_unreachable(SKR_R_pcr_mismatch));
	assert_true(skr_reason_is_refusal(SKR_R_pcr_mismatch));
	assert_false(skr_reason_is_refusal(SKR_R_broker_unreachable));
}

/*
 * The dm uuid skr-unlock records must be the one libcryptsetup gives the
 * mapping (the handover compares it with /sys/block/dm-N/dm/uuid): this one
 * is what a Debian 12 guest's sysfs showed in the e2e swap scenario.
 */
static void dm_uuid_format(void **state)
{
	char buf[128];

	(void)state;
	assert_int_equal(skr_dm_uuid(buf, sizeof(buf), "bfdcfbbb-07aa-4de0-915d-1a485d814d32", "root"), 0);
	assert_string_equal(buf, "CRYPT-LUKS2-bfdcfbbb07aa4de0915d1a485d814d32-root");
	assert_int_equal(skr_dm_uuid(buf, 20, "bfdcfbbb-07aa-4de0-915d-1a485d814d32", "root"), -1);
	assert_int_equal(skr_dm_uuid(buf, 46, "bfdcfbbb-07aa-4de0-915d-1a485d814d32", "root"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cmdline_empty),       cmocka_unit_test(cmdline_options),
		cmocka_unit_test(cmdline_bad_timeout), cmocka_unit_test(cmdline_disk_tags),
		cmocka_unit_test(disk_tag_known_answer), cmocka_unit_test(describe_pcr_refusal),
		cmocka_unit_test(describe_other),      cmocka_unit_test(dm_uuid_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
