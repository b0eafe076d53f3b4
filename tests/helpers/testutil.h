/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers shared by the cmocka unit tests. */
#ifndef SKR_TESTUTIL_H
#define SKR_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/util.h"

#ifndef SKR_SRCDIR
#define SKR_SRCDIR "."
#endif
#define VECTOR(path) SKR_SRCDIR "/tests/vectors/" path

/* Reads a vector file or fails the test. */
void skr_test_read_vector(const char *path, struct skr_buf *out);
/* Reads a hex vector file and decodes it or fails the test. */
void skr_test_read_hex_vector(const char *path, struct skr_buf *out);

/* Asserts rc < 0, the reason, and (when non-NULL) a substring of the detail. */
#define assert_failed_with(rc, err, want_reason, want_detail)                          \
	skr_test_assert_failed((rc), &(err), (want_reason), (want_detail), __FILE__, __LINE__)
void skr_test_assert_failed(int rc, const struct skr_err *err, enum skr_reason want,
			    const char *detail, const char *file, int line);

#define assert_ok(rc, err) skr_test_assert_ok((rc), &(err), __FILE__, __LINE__)
void skr_test_assert_ok(int rc, const struct skr_err *err, const char *file, int line);

#endif
