/* SPDX-License-Identifier: Apache-2.0 */
/*
 * luks/token_iter.h on a real LUKS2 header (an image file, libcryptsetup):
 * which tokens it hands back, up to libcryptsetup's last token id, and a
 * header changed while the loop runs.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libcryptsetup.h>

#include "luks/enroll.h"
#include "luks/token.h"
#include "luks/token_iter.h"

#define IMAGE_SIZE (32 << 20)	/* the default LUKS2 metadata and keyslot areas, and data */

struct fixture {
	char path[256];
	struct crypt_device *cd;
	int max;
};

/*
 * Writes a token at id (CRYPT_ANY_TOKEN: the first free one); its id.  An skr
 * token is a valid one (on keyslot 0): when the CLI tests have installed the
 * plugin, libcryptsetup has it validate the token (status EXTERNAL; without
 * it, EXTERNAL_UNKNOWN: the iterator takes both).
 */
static int put_token(struct crypt_device *cd, int id, const char *type, const char *key_id)
{
	struct skr_token t = { .keyslots = { 0 }, .n_keyslots = 1, .timeout = 30 };
	char json[200], *text = NULL;
	int r;

	if (!strcmp(type, SKR_TOKEN_TYPE)) {
		snprintf(t.key_id, sizeof(t.key_id), "%s", key_id);
		text = skr_token_to_json(&t);
		assert_non_null(text);
	} else {
		snprintf(json, sizeof(json), "{\"type\": \"%s\", \"keyslots\": [], \"key_id\": \"%s\"}",
			 type, key_id);
	}
	r = crypt_token_json_set(cd, id, text ? text : json);
	free(text);
	assert_true(r >= 0);
	if (id != CRYPT_ANY_TOKEN)
		assert_int_equal(r, id);
	return r;
}

/*
 * A LUKS2 header with, by id: 0 skr "a", 1 "other", 4 skr-pending, 7 skr "b",
 * and skr "z" at the last id libcryptsetup allows.
 */
static int setup(void **state)
{
	struct crypt_params_luks2 params = { .sector_size = 512 };
	struct crypt_pbkdf_type pbkdf = { .type = CRYPT_KDF_PBKDF2, .hash = "sha256",
					  .iterations = 1000, .flags = CRYPT_PBKDF_NO_BENCHMARK };
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");
	int fd;

	assert_non_null(f);
	snprintf(f->path, sizeof(f->path), "%s/skr-tokens-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	fd = mkstemp(f->path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, IMAGE_SIZE), 0);
	close(fd);
	assert_int_equal(crypt_init(&f->cd, f->path), 0);
	assert_int_equal(crypt_format(f->cd, CRYPT_LUKS2, "aes", "xts-plain64", NULL, NULL, 64,
				      &params), 0);
	assert_int_equal(crypt_set_pbkdf_type(f->cd, &pbkdf), 0);
	assert_int_equal(crypt_keyslot_add_by_volume_key(f->cd, 0, NULL, 0, "pass", 4), 0);
	f->max = crypt_token_max(CRYPT_LUKS2);
	assert_true(f->max > 8);
	put_token(f->cd, 0, SKR_TOKEN_TYPE, "a");
	put_token(f->cd, 1, "other", "o");
	put_token(f->cd, 4, SKR_PENDING_TOKEN_TYPE, "p");
	put_token(f->cd, 7, SKR_TOKEN_TYPE, "b");
	put_token(f->cd, f->max - 1, SKR_TOKEN_TYPE, "z");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	crypt_free(f->cd);
	unlink(f->path);
	free(f);
	return 0;
}

static void skr_tokens_in_order(void **state)
{
	struct fixture *f = *state;
	int ids[8], n = 0, id;
	crypt_token_info st;
	const char *json;

	SKR_LUKS_FOREACH_TOKEN(f->cd, SKR_TOKEN_TYPE, id, json) {
		assert_true(n < 8);
		assert_non_null(strstr(json, "\"skr\""));
		ids[n++] = id;
	}
	assert_int_equal(n, 3);
	st = crypt_token_status(f->cd, 0, NULL);
	assert_true(st == CRYPT_TOKEN_EXTERNAL || st == CRYPT_TOKEN_EXTERNAL_UNKNOWN);
	assert_int_equal(ids[0], 0);
	assert_int_equal(ids[1], 7);
	/* The last id is libcryptsetup's, not a number of ours. */
	assert_int_equal(ids[2], f->max - 1);
	assert_non_null(strstr(skr_luks_token_json(f->cd, f->max - 1, SKR_TOKEN_TYPE), "\"z\""));
}

static void other_types_apart(void **state)
{
	struct fixture *f = *state;
	const char *json;

	assert_int_equal(skr_luks_token_count(f->cd, SKR_TOKEN_TYPE), 3);
	assert_int_equal(skr_luks_token_count(f->cd, SKR_PENDING_TOKEN_TYPE), 1);
	assert_int_equal(skr_luks_token_count(f->cd, "other"), 1);
	assert_int_equal(skr_luks_token_next(f->cd, 1, SKR_PENDING_TOKEN_TYPE, &json), 4);
	assert_non_null(strstr(json, "\"p\""));
	assert_int_equal(skr_luks_token_next(f->cd, 5, SKR_PENDING_TOKEN_TYPE, &json), -1);
	assert_null(json);
	/* The wrong type, a free id, ids out of range. */
	assert_null(skr_luks_token_json(f->cd, 1, SKR_TOKEN_TYPE));
	assert_null(skr_luks_token_json(f->cd, 2, SKR_TOKEN_TYPE));
	assert_null(skr_luks_token_json(f->cd, -1, SKR_TOKEN_TYPE));
	assert_null(skr_luks_token_json(f->cd, f->max, SKR_TOKEN_TYPE));
}

/* Removing the current token and writing another one (unenroll does both) skips nothing. */
static void header_changed_in_loop(void **state)
{
	struct fixture *f = *state;
	const char *json;
	int id, seen = 0;

	static const int expect_ids[] = { 0, 7, -1 }, expect_new[] = { 0, 2, 3 };

	SKR_LUKS_FOREACH_TOKEN(f->cd, SKR_TOKEN_TYPE, id, json) {
		assert_true(seen < 3);
		assert_int_equal(id, expect_ids[seen] < 0 ? f->max - 1 : expect_ids[seen]);
		assert_int_equal(crypt_token_json_set(f->cd, id, NULL), id);
		/* The first free id: the one just freed, or one behind the loop. */
		assert_int_equal(put_token(f->cd, CRYPT_ANY_TOKEN, SKR_PENDING_TOKEN_TYPE, "q"),
				 expect_new[seen]);
		seen++;
	}
	assert_int_equal(seen, 3);
	assert_int_equal(skr_luks_token_count(f->cd, SKR_TOKEN_TYPE), 0);
	assert_int_equal(skr_luks_token_count(f->cd, SKR_PENDING_TOKEN_TYPE), 4);
}

static void quiet(int level, const char *msg, void *usrptr)
{
	(void)level, (void)msg, (void)usrptr;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(skr_tokens_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(other_types_apart, setup, teardown),
		cmocka_unit_test_setup_teardown(header_changed_in_loop, setup, teardown),
	};

	crypt_set_log_callback(NULL, quiet, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
