/* SPDX-License-Identifier: Apache-2.0 */
#include "common/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define SKR_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SKR_ASAN 1
#endif
#endif
#ifdef SKR_ASAN
#include <sanitizer/asan_interface.h>
#define poison(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define unpoison(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define poison(p, n) ((void)(p), (void)(n))
#define unpoison(p, n) ((void)(p), (void)(n))
#endif

#define SECRET_MAGIC UINT64_C(0x736b722d73656372)	/* "skr-secr" */

/* Before the data, on the secret's own pages. */
struct head {
	uint64_t magic;
	size_t size;		/* what the caller asked for */
	size_t span;		/* bytes from the head to the end of its pages */
	bool locked;
};

#define HEAD_SIZE \
	((sizeof(struct head) + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1))

static void (*lock_warning)(const char *message);
static atomic_bool lock_failed;

void skr_secret_set_lock_warning(void (*warn)(const char *message))
{
	lock_warning = warn;
}

bool skr_secret_lock_failed(void)
{
	return atomic_load(&lock_failed);
}

void skr_secret_report_lock_failure(int e)
{
	char msg[160];

	if (atomic_exchange(&lock_failed, true))
		return;
	snprintf(msg, sizeof(msg), "cannot lock memory (%s): secrets may be swapped", strerror(e));
	if (lock_warning)
		lock_warning(msg);
	else
		fprintf(stderr, "skr: warning: %s\n", msg);
}

static size_t page_size(void)
{
	static atomic_size_t cached;
	size_t n = atomic_load(&cached);

	if (!n) {
		long p = sysconf(_SC_PAGESIZE);

		n = p > 0 ? (size_t)p : 4096;
		atomic_store(&cached, n);
	}
	return n;
}

static struct head *head_of(const void *p)
{
	struct head *h = (struct head *)((uint8_t *)p - HEAD_SIZE);

	if (h->magic != SECRET_MAGIC)
		abort();	/* not a secret, or its header was overwritten */
	return h;
}

/*
 * The page cache (skr_secret_cache_enable): each thread keeps up to
 * CACHE_SLOTS wiped, still locked one-page blocks, so a server that holds a
 * secret for every request does not pay mlock and munlock each time.  A
 * block is wiped before it enters the cache exactly as before a free.
 */
#define CACHE_SLOTS 4
struct page_cache {
	void *block[CACHE_SLOTS];
	bool locked[CACHE_SLOTS];
	size_t n;
};
static atomic_bool cache_enabled;
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static _Thread_local struct page_cache thread_cache;

static void cache_drain(void *unused)
{
	struct page_cache *c = &thread_cache;
	size_t page = page_size();

	(void)unused;
	while (c->n > 0) {
		c->n--;
		unpoison(c->block[c->n], page);
		if (c->locked[c->n])
			(void)munlock(c->block[c->n], page);
		free(c->block[c->n]);
	}
}

static void cache_key_create(void)
{
	(void)pthread_key_create(&cache_key, cache_drain);
}

void skr_secret_cache_enable(void)
{
	pthread_once(&cache_once, cache_key_create);
	atomic_store(&cache_enabled, true);
}

void skr_secret_cache_drain(void)
{
	cache_drain(NULL);
}

/* A cached block for a one-page span, or NULL. */
static void *cache_take(size_t span, bool *locked)
{
	struct page_cache *c = &thread_cache;

	if (span != page_size() || !atomic_load(&cache_enabled) || c->n == 0)
		return NULL;
	c->n--;
	*locked = c->locked[c->n];
	unpoison(c->block[c->n], span);
	return c->block[c->n];
}

/* Keeps a wiped one-page block; false when it is not one or there is no room. */
static bool cache_put(void *block, size_t span, bool locked)
{
	struct page_cache *c = &thread_cache;

	if (span != page_size() || !atomic_load(&cache_enabled) || c->n == CACHE_SLOTS)
		return false;
	/* The key's destructor frees this thread's blocks when it exits. */
	(void)pthread_setspecific(cache_key, c);
	poison(block, span);
	c->block[c->n] = block;
	c->locked[c->n] = locked;
	c->n++;
	return true;
}

void *skr_secret_alloc(size_t n)
{
	size_t page = page_size(), span;
	bool locked = false;
	struct head *h;
	void *mem;

	if (n > SIZE_MAX - HEAD_SIZE - 1 - page)
		return NULL;
	span = (HEAD_SIZE + n + 1 + page - 1) / page * page;
	mem = cache_take(span, &locked);
	if (!mem) {
		if (posix_memalign(&mem, page, span) != 0)
			return NULL;
		memset(mem, 0, span);
		/*
		 * Locking can fail under RLIMIT_MEMLOCK; the memory is still usable
		 * and wiped on free, but the secret may reach swap: said once (header).
		 */
		locked = mlock(mem, span) == 0;
		if (!locked)
			skr_secret_report_lock_failure(errno);
	}
	h = mem;
	h->magic = SECRET_MAGIC;
	h->size = n;
	h->span = span;
	h->locked = locked;
	poison((uint8_t *)mem + HEAD_SIZE + n + 1, span - HEAD_SIZE - n - 1);
	return (uint8_t *)mem + HEAD_SIZE;
}

size_t skr_secret_size(const void *p)
{
	return p ? head_of(p)->size : 0;
}

void skr_secret_wipe(void *p)
{
	if (p)
		explicit_bzero(p, head_of(p)->size);
}

void skr_secret_free(void *p)
{
	struct head *h;
	size_t span;
	bool locked;

	if (!p)
		return;
	h = head_of(p);
	span = h->span;
	locked = h->locked;
	unpoison(h, span);
	explicit_bzero(h, span);
	if (cache_put(h, span, locked))
		return;
	if (locked)
		(void)munlock(h, span);
	free(h);
}

void skr_secret_freep(void *pp)
{
	skr_secret_free(*(void **)pp);
}

void *skr_secret_realloc(void *p, size_t n)
{
	struct head *h;
	uint8_t *d = p, *fresh;

	if (!p)
		return skr_secret_alloc(n);
	h = head_of(p);
	if (n <= h->span - HEAD_SIZE - 1) {
		/* In place: the pages stay, locked as they were. */
		if (n < h->size) {
			explicit_bzero(d + n, h->size - n + 1);
		} else {
			unpoison(d + h->size + 1, n - h->size);
			memset(d + h->size, 0, n - h->size + 1);
		}
		poison(d + n + 1, h->span - HEAD_SIZE - n - 1);
		h->size = n;
		return p;
	}
	fresh = skr_secret_alloc(n);
	if (!fresh)
		return NULL;
	memcpy(fresh, p, h->size);
	skr_secret_free(p);
	return fresh;
}

void *skr_secret_dup(const void *src, size_t n)
{
	uint8_t *p = skr_secret_alloc(n);

	if (p && n)
		memcpy(p, src, n);
	return p;
}

/* ---- Secret files ----------------------------------------------------- */

/* The rule of skr_secret_read_file, on the open descriptor: 0, or -1 with err set. */
static int check_private(int fd, const char *path, const char *what, size_t max,
			 struct stat *st_out, struct skr_err *err)
{
	struct stat st;
	uid_t me = geteuid();

	if (fstat(fd, &st) < 0)
		return skr_fail(err, SKR_R_usage, "cannot stat %s file %s: %s", what, path,
				strerror(errno));
	*st_out = st;
	if (!S_ISREG(st.st_mode))
		return skr_fail(err, SKR_R_usage, "%s file %s is not a regular file", what, path);
	if (st.st_mode & 077)
		return skr_fail(err, SKR_R_usage,
				"%s file %s is %s by group or others (mode %04o); chmod 600 %s", what,
				path, st.st_mode & 044 ? "readable" : "accessible",
				(unsigned)(st.st_mode & 07777), path);
	if (st.st_uid != 0 && st.st_uid != me)
		return skr_fail(err, SKR_R_usage,
				"%s file %s is owned by uid %u, neither root nor uid %u that reads it",
				what, path, (unsigned)st.st_uid, (unsigned)me);
	if ((uintmax_t)st.st_size > max)
		return skr_fail(err, SKR_R_usage, "%s file %s is larger than %zu bytes", what, path,
				max);
	return 0;
}

/*
 * Reads fd to its end into a new secret, growing it (never past max + 1
 * bytes) by skr_secret_realloc, which wipes what it leaves behind.
 */
static int read_all(int fd, const char *path, const char *what, size_t max, size_t hint,
		    uint8_t **out, struct skr_err *err)
{
	size_t cap = (hint < max ? hint : max) + 1, len = 0;
	uint8_t *buf = skr_secret_alloc(cap), *grown;

	if (!buf)
		return skr_fail(err, SKR_R_nomem, "out of memory reading %s file %s", what, path);
	for (;;) {
		ssize_t n;

		if (len == cap) {
			if (cap > max) {
				skr_secret_free(buf);
				return skr_fail(err, SKR_R_usage, "%s file %s is larger than %zu bytes",
						what, path, max);
			}
			cap = cap > max / 2 ? max + 1 : 2 * cap;
			grown = skr_secret_realloc(buf, cap);
			if (!grown) {
				skr_secret_free(buf);
				return skr_fail(err, SKR_R_nomem, "out of memory reading %s file %s",
						what, path);
			}
			buf = grown;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			skr_secret_free(buf);
			return skr_fail(err, SKR_R_io, "cannot read %s file %s: %s", what, path,
					strerror(e));
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*out = skr_secret_realloc(buf, len);	/* shrinks in place: cannot fail */
	return 0;
}

int skr_secret_read_file(const char *path, size_t max, const char *what, uint8_t **out,
			 struct skr_err *err)
{
	struct stat st;
	int fd, rc;

	*out = NULL;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int e = errno;

		if (e == ELOOP && lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
			return skr_fail(err, SKR_R_usage,
					"%s file %s is a symbolic link: name the file itself", what,
					path);
		return skr_fail(err, SKR_R_usage, "cannot open %s file %s: %s", what, path,
				strerror(e));
	}
	rc = check_private(fd, path, what, max, &st, err);
	if (rc == 0)
		rc = read_all(fd, path, what, max, (size_t)st.st_size, out, err);
	close(fd);
	return rc;
}

int skr_secret_read_input(const char *path, size_t max, const char *what, uint8_t **out,
			  struct skr_err *err)
{
	bool in = strcmp(path, "-") == 0;
	struct stat st;
	size_t hint = 4096;
	int fd, rc;

	*out = NULL;
	fd = in ? 0 : open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return skr_fail(err, SKR_R_usage, "cannot open %s file %s: %s", what, path,
				strerror(errno));
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		if ((uintmax_t)st.st_size > max) {
			if (!in)
				close(fd);
			return skr_fail(err, SKR_R_usage, "%s file %s is larger than %zu bytes", what,
					path, max);
		}
		hint = (size_t)st.st_size;
	}
	rc = read_all(fd, in ? "standard input" : path, what, max, hint, out, err);
	if (!in)
		close(fd);
	return rc;
}
