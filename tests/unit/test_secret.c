/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Memory for secrets and the reader of secret files (common/secret.h).
 *
 * Wiping on free is observed at the last moment it can be: this binary is
 * linked with -Wl,--wrap=free, so __wrap_free sees the block skr_secret_free
 * hands to free() (still allocated, readable under ASan) and records
 * whether every byte from the header to the NUL after the data is zero.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/secret.h"
#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifdef TEST_ASAN
#include <sanitizer/asan_interface.h>
#endif

/* ---- free() watched ---------------------------------------------------- */

void __real_free(void *p);
void __wrap_free(void *p);

static struct {
	const uint8_t *data;	/* the secret being watched */
	size_t size;
	bool freed, wiped;
	size_t checked;		/* bytes checked: header and data */
} watch;

static void watch_secret(const void *data)
{
	memset(&watch, 0, sizeof(watch));
	watch.data = data;
	watch.size = skr_secret_size(data);
}

void __wrap_free(void *p)
{
	const uint8_t *b = p;

	/* The secret's block starts before its data, within the first page. */
	if (watch.data && p && b <= watch.data && watch.data - b < 4096) {
		size_t n = (size_t)(watch.data - b) + watch.size + 1, i;

		watch.freed = true;
		watch.wiped = true;
		watch.checked = n;
		for (i = 0; i < n; i++)
			if (b[i])
				watch.wiped = false;
		watch.data = NULL;
	}
	__real_free(p);
}

/* ---- Memory ----------------------------------------------------------- */

static void fill(uint8_t *p, uint8_t v)
{
	memset(p, v, skr_secret_size(p));
}

static bool all(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

static void alloc_keeps_size(void **state)
{
	static const size_t sizes[] = { 0, 1, 32, 4000, 4096, 70000 };

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *p = skr_secret_alloc(sizes[i]);

		assert_non_null(p);
		assert_int_equal(skr_secret_size(p), sizes[i]);
		assert_true(all(p, sizes[i] + 1, 0));	/* zeroed, and the NUL after */
		assert_int_equal((uintptr_t)p % alignof(max_align_t), 0);
		fill(p, 0x5a);
		assert_int_equal(p[sizes[i]], 0);
		assert_int_equal(skr_secret_size(p), sizes[i]);
		skr_secret_free(p);
	}
	assert_int_equal(skr_secret_size(NULL), 0);
	skr_secret_free(NULL);
	skr_secret_wipe(NULL);
}

static void free_wipes_everything(void **state)
{
	uint8_t *p = skr_secret_alloc(100);

	(void)state;
	assert_non_null(p);
	fill(p, 0xa5);
	watch_secret(p);
	skr_secret_free(p);
	assert_true(watch.freed);
	assert_true(watch.wiped);
	/* The header before the data (its size and magic) was wiped too. */
	assert_true(watch.checked > 100 + 1);
}

static void cleanup_attribute_frees(void **state)
{
	(void)state;
	{
		_cleanup_secret_ uint8_t *p = skr_secret_alloc(48);

		assert_non_null(p);
		fill(p, 0xff);
		watch_secret(p);
	}
	assert_true(watch.freed);
	assert_true(watch.wiped);
}

static void wipe_keeps_allocation(void **state)
{
	uint8_t *p = skr_secret_alloc(300);

	(void)state;
	fill(p, 0x11);
	skr_secret_wipe(p);
	assert_int_equal(skr_secret_size(p), 300);
	assert_true(all(p, 301, 0));
	skr_secret_free(p);
}

static void realloc_in_place_and_moved(void **state)
{
	uint8_t *p = skr_secret_alloc(10), *q, *old;

	(void)state;
	memcpy(p, "0123456789", 10);
	/* Within the secret's page: the same pointer, the bytes kept, new ones zero. */
	q = skr_secret_realloc(p, 1000);
	assert_ptr_equal(q, p);
	assert_int_equal(skr_secret_size(q), 1000);
	assert_memory_equal(q, "0123456789", 10);
	assert_true(all(q + 10, 991, 0));
	/* A shrink cuts in place: the NUL moves to the new end. */
	memset(q + 10, 'x', 990);
	q = skr_secret_realloc(q, 4);
	assert_ptr_equal(q, p);
	assert_int_equal(skr_secret_size(q), 4);
	assert_string_equal((char *)q, "0123");
#ifdef TEST_ASAN
	/* Past the NUL is poisoned: an overflow is still caught although the
	 * allocation is a whole page. */
	assert_true(__asan_address_is_poisoned(q + 5));
	assert_false(__asan_address_is_poisoned(q + 4));
#endif
	/* Beyond the page: a new secret with the bytes; the old one wiped and freed. */
	old = q;
	watch_secret(old);
	q = skr_secret_realloc(old, 20000);
	assert_non_null(q);
	assert_ptr_not_equal(q, old);
	assert_true(watch.freed);
	assert_true(watch.wiped);
	assert_int_equal(skr_secret_size(q), 20000);
	assert_memory_equal(q, "0123", 4);
	assert_true(all(q + 4, 19997, 0));
	skr_secret_free(q);
	/* NULL reallocates as alloc. */
	q = skr_secret_realloc(NULL, 7);
	assert_int_equal(skr_secret_size(q), 7);
	skr_secret_free(q);
}

static void dup_copies(void **state)
{
	uint8_t *p = skr_secret_dup("secret", 6);
	struct skr_err err = { 0 };

	(void)state;
	assert_int_equal(skr_secret_size(p), 6);
	assert_string_equal((char *)p, "secret");
	skr_secret_free(p);
	assert_ok(skr_base64_decode_secret("c2VjcmV0", 8, &p, "secret", &err), err);
	assert_int_equal(skr_secret_size(p), 6);
	assert_memory_equal(p, "secret", 6);
	skr_secret_free(p);
}

static void base64_secret_refuses(void **state)
{
	struct skr_err err = { 0 };
	uint8_t *p = (uint8_t *)&err;

	(void)state;
	assert_failed_with(skr_base64_decode_secret("c2V*", 4, &p, "secret", &err), err,
			   SKR_R_malformed, "secret: invalid base64 at offset 3");
	assert_null(p);
}

/*
 * The broker's page cache: a freed one-page secret is wiped and kept locked
 * for the thread's next one, which gets it zeroed; larger ones are freed as
 * before; the drain frees the kept ones, still wiped.  Runs last: the cache
 * stays enabled for the process.
 */
static void cache_reuses_wiped_pages(void **state)
{
	uint8_t *p, *q, *big;

	(void)state;
	skr_secret_cache_enable();
	p = skr_secret_alloc(100);
	assert_non_null(p);
	fill(p, 0xa5);
	watch_secret(p);
	skr_secret_free(p);
	assert_false(watch.freed);
	q = skr_secret_alloc(200);
	assert_ptr_equal(q, p);
	assert_int_equal(skr_secret_size(q), 200);
	assert_true(all(q, 201, 0));
	skr_secret_free(q);
	big = skr_secret_alloc(70000);
	fill(big, 0x5a);
	watch_secret(big);
	skr_secret_free(big);
	assert_true(watch.freed);
	assert_true(watch.wiped);
	memset(&watch, 0, sizeof(watch));
	watch.data = q;		/* its header is gone: watched by address */
	skr_secret_cache_drain();
	assert_true(watch.freed);
	assert_true(watch.wiped);
}

/* A pointer that skr_secret_alloc did not return: abort, not a free of foreign memory. */
static void foreign_pointer_aborts(void **state)
{
	pid_t pid;
	int status = 0;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alignas(64) static uint8_t buf[4096];

		signal(SIGABRT, SIG_DFL);
		skr_secret_free(buf + 64);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

/* ---- Secret files ------------------------------------------------------ */

struct fx {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/skr-secret.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/token", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void put(const char *path, const char *text, size_t len, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
}

/* Reads path with the rule; expects a refusal with reason and detail. */
static void refused(const char *path, size_t max, enum skr_reason reason, const char *detail)
{
	struct skr_err err = { 0 };
	uint8_t *out = (uint8_t *)&err;

	assert_failed_with(skr_secret_read_file(path, max, "admin token", &out, &err), err, reason,
			   detail);
	assert_null(out);
}

static void read_file_ok(void **state)
{
	struct fx *f = *state;
	struct skr_err err = { 0 };
	uint8_t *out = NULL;

	put(f->path, "token-0123456789\n", 17, 0600);
	assert_ok(skr_secret_read_file(f->path, 4096, "admin token", &out, &err), err);
	assert_int_equal(skr_secret_size(out), 17);
	assert_string_equal((char *)out, "token-0123456789\n");
	skr_secret_free(out);
	/* Stricter modes are fine; exactly max bytes is fine. */
	put(f->path, "0123456789abcdef", 16, 0400);
	assert_ok(skr_secret_read_file(f->path, 16, "admin token", &out, &err), err);
	assert_int_equal(skr_secret_size(out), 16);
	skr_secret_free(out);
	/* Empty is a valid (empty) secret: what it means is the caller's. */
	put(f->path, "", 0, 0600);
	assert_ok(skr_secret_read_file(f->path, 16, "admin token", &out, &err), err);
	assert_int_equal(skr_secret_size(out), 0);
	skr_secret_free(out);
}

static void read_file_refuses_mode(void **state)
{
	struct fx *f = *state;
	char want[512];

	put(f->path, "token-0123456789", 16, 0640);
	snprintf(want, sizeof(want),
		 "admin token file %s is readable by group or others (mode 0640); chmod 600 %s",
		 f->path, f->path);
	refused(f->path, 4096, SKR_R_usage, want);
	chmod(f->path, 0604);
	refused(f->path, 4096, SKR_R_usage, "is readable by group or others (mode 0604)");
	/* Writable or executable only: still refused, said as "accessible". */
	chmod(f->path, 0620);
	refused(f->path, 4096, SKR_R_usage, "is accessible by group or others (mode 0620)");
	chmod(f->path, 0601);
	refused(f->path, 4096, SKR_R_usage, "is accessible by group or others (mode 0601)");
}

static void read_file_refuses_symlink(void **state)
{
	struct fx *f = *state;
	char link[160], want[512];

	put(f->path, "token-0123456789", 16, 0600);
	snprintf(link, sizeof(link), "%s/link", f->dir);
	assert_int_equal(symlink(f->path, link), 0);
	snprintf(want, sizeof(want), "admin token file %s is a symbolic link: name the file itself",
		 link);
	refused(link, 4096, SKR_R_usage, want);
}

static void read_file_refuses_non_regular(void **state)
{
	struct fx *f = *state;
	char fifo[160];

	refused(f->dir, 4096, SKR_R_usage, "is not a regular file");
	/* A FIFO with no writer: refused at once, not waited on. */
	snprintf(fifo, sizeof(fifo), "%s/fifo", f->dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	refused(fifo, 4096, SKR_R_usage, "fifo is not a regular file");
	refused("/dev/null", 4096, SKR_R_usage, "admin token file /dev/null is not a regular file");
}

static void read_file_refuses_oversize_and_missing(void **state)
{
	struct fx *f = *state;
	char want[512];

	put(f->path, "0123456789abcdefX", 17, 0600);
	snprintf(want, sizeof(want), "admin token file %s is larger than 16 bytes", f->path);
	refused(f->path, 16, SKR_R_usage, want);
	unlink(f->path);
	refused(f->path, 16, SKR_R_usage, "cannot open admin token file");
	refused(f->path, 16, SKR_R_usage, "No such file or directory");
}

/* The owner must be root or the effective uid (needs root to make others' files). */
static void read_file_owner_rule(void **state)
{
	struct fx *f = *state;
	struct skr_err err = { 0 };
	uint8_t *out = NULL;
	char want[512];

	if (geteuid() != 0) {
		/* Without root: the caller's own file is the only case there is. */
		put(f->path, "token-0123456789", 16, 0600);
		assert_ok(skr_secret_read_file(f->path, 64, "admin token", &out, &err), err);
		skr_secret_free(out);
		return;
	}
	put(f->path, "token-0123456789", 16, 0600);
	assert_int_equal(chown(f->path, 65534, 65534), 0);
	snprintf(want, sizeof(want),
		 "admin token file %s is owned by uid 65534, neither root nor uid 0 that reads it",
		 f->path);
	refused(f->path, 64, SKR_R_usage, want);
	/* Read as uid 65534 it is the caller's own file: accepted. */
	assert_int_equal(chmod(f->dir, 0711), 0);
	assert_int_equal(seteuid(65534), 0);
	memset(&err, 0, sizeof(err));
	assert_ok(skr_secret_read_file(f->path, 64, "admin token", &out, &err), err);
	assert_int_equal(seteuid(0), 0);
	assert_string_equal((char *)out, "token-0123456789");
	skr_secret_free(out);
	/* Root's own file is accepted for root. */
	assert_int_equal(chown(f->path, 0, 0), 0);
	memset(&err, 0, sizeof(err));
	assert_ok(skr_secret_read_file(f->path, 64, "admin token", &out, &err), err);
	skr_secret_free(out);
}

/* skr_secret_read_input: no mode rule, but the bound, stdin and non-regular files. */
static void read_input(void **state)
{
	struct fx *f = *state;
	struct skr_err err = { 0 };
	uint8_t *out = (uint8_t *)&err;
	int fds[2], saved;

	put(f->path, "passphrase", 10, 0644);
	assert_ok(skr_secret_read_input(f->path, 64, "key", &out, &err), err);
	assert_int_equal(skr_secret_size(out), 10);
	assert_string_equal((char *)out, "passphrase");
	skr_secret_free(out);
	/* A device without an end: the bound stops it (the buffer grows to it). */
	memset(&err, 0, sizeof(err));
	assert_failed_with(skr_secret_read_input("/dev/zero", 10000, "key", &out, &err), err,
			   SKR_R_usage, "key file /dev/zero is larger than 10000 bytes");
	assert_null(out);
	memset(&err, 0, sizeof(err));
	assert_failed_with(skr_secret_read_input(f->path, 9, "key", &out, &err), err, SKR_R_usage,
			   "is larger than 9 bytes");
	memset(&err, 0, sizeof(err));
	assert_failed_with(skr_secret_read_input(f->dir, 64, "key", &out, &err), err, SKR_R_io,
			   "cannot read key file");
	/* "-" is standard input. */
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], "from-stdin", 10), 10);
	close(fds[1]);
	saved = dup(0);
	assert_int_equal(dup2(fds[0], 0), 0);
	close(fds[0]);
	memset(&err, 0, sizeof(err));
	assert_ok(skr_secret_read_input("-", 64, "key", &out, &err), err);
	assert_int_equal(dup2(saved, 0), 0);
	close(saved);
	assert_int_equal(skr_secret_size(out), 10);
	assert_string_equal((char *)out, "from-stdin");
	skr_secret_free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(alloc_keeps_size),
		cmocka_unit_test(free_wipes_everything),
		cmocka_unit_test(cleanup_attribute_frees),
		cmocka_unit_test(wipe_keeps_allocation),
		cmocka_unit_test(realloc_in_place_and_moved),
		cmocka_unit_test(dup_copies),
		cmocka_unit_test(base64_secret_refuses),
		cmocka_unit_test(foreign_pointer_aborts),
		cmocka_unit_test_setup_teardown(read_file_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(read_file_refuses_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(read_file_refuses_symlink, setup, teardown),
		cmocka_unit_test_setup_teardown(read_file_refuses_non_regular, setup, teardown),
		cmocka_unit_test_setup_teardown(read_file_refuses_oversize_and_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(read_file_owner_rule, setup, teardown),
		cmocka_unit_test_setup_teardown(read_input, setup, teardown),
		cmocka_unit_test(cache_reuses_wiped_pages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
