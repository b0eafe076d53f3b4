/* SPDX-License-Identifier: Apache-2.0 */
#include "testutil.h"

#include <stdio.h>

void skr_test_read_vector(const char *path, struct skr_buf *out)
{
	struct skr_err err = { 0 };

	if (skr_read_file(path, 64u << 20, out, &err) < 0)
		fail_msg("cannot read vector %s: %s", path, err.detail);
}

void skr_test_read_hex_vector(const char *path, struct skr_buf *out)
{
	struct skr_buf text = { 0 };
	struct skr_err err = { 0 };

	skr_test_read_vector(path, &text);
	if (skr_hex_decode((const char *)text.data, text.len, out, path, &err) < 0)
		fail_msg("vector %s is not hex: %s", path, err.detail);
	skr_buf_free(&text);
}

void skr_test_assert_failed(int rc, const struct skr_err *err, enum skr_reason want,
			    const char *detail, const char *file, int line)
{
	if (rc >= 0)
		fail_msg("%s:%d: succeeded, expected %s", file, line, skr_reason_name(want));
	if (err->reason != want)
		fail_msg("%s:%d: failed with %s (%s), expected %s", file, line,
			 skr_reason_name(err->reason), err->detail, skr_reason_name(want));
	if (detail && !strstr(err->detail, detail))
		fail_msg("%s:%d: detail \"%s\" lacks \"%s\"", file, line, err->detail, detail);
}

void skr_test_assert_ok(int rc, const struct skr_err *err, const char *file, int line)
{
	if (rc < 0 || err->reason != SKR_R_ok)
		fail_msg("%s:%d: failed with %s: %s", file, line, skr_reason_name(err->reason),
			 err->detail);
}
