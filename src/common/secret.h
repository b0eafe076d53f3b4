/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Memory for secrets, and the one reader of secret files.
 *
 * A secret is a buffer that knows its size (as cryptsetup's
 * crypt_safe_alloc): a header before the data holds it, so that freeing
 * needs only the pointer and always wipes every byte that was handed out.
 *
 *  - skr_secret_alloc(n) returns n zeroed bytes followed by one NUL byte
 *    that is not part of the size (a text secret is a C string), or NULL.
 *    n may be 0.
 *  - Each secret has whole pages of its own (header and data): mlock()
 *    locks exactly them, and munlock() on free can never unlock a page that
 *    another secret shares (locks do not nest: with malloc'd secrets one
 *    free would unlock its neighbour).  The cost is one page per secret.
 *  - Lock failure policy: when mlock fails (RLIMIT_MEMLOCK, no
 *    CAP_IPC_LOCK) the memory is still returned, and the failure is
 *    reported once per process: to the hook set with
 *    skr_secret_set_lock_warning, or else as one line on stderr ("skr:
 *    warning: cannot lock memory (...): secrets may be swapped").  Never
 *    silently; skr_secret_lock_failed() says whether it happened.
 *  - skr_secret_free wipes the whole allocation (header included), unlocks
 *    and frees.  A pointer that skr_secret_alloc did not return is a bug:
 *    the secret functions abort() on it rather than free foreign memory.
 *  - Under ASan the bytes past the NUL are poisoned, so an overflow is still
 *    caught although the allocation is rounded up to pages.
 */
#ifndef SKR_SECRET_H
#define SKR_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cleanup.h"
#include "common/err.h"

void *skr_secret_alloc(size_t n);
/* The size the secret was allocated (or last reallocated) with; 0 for NULL. */
size_t skr_secret_size(const void *p);
/*
 * Reports a failure to lock secret memory (errno e) through the lock
 * failure policy above: once per process, to the hook or stderr.  For
 * secrets that live elsewhere than skr_secret_alloc (OpenSSL's secure heap).
 */
void skr_secret_report_lock_failure(int e);
/* Zeroes the secret's bytes (all skr_secret_size of them); it stays allocated. */
void skr_secret_wipe(void *p);
/* Wipes, unlocks and frees; NULL is a no-op. */
void skr_secret_free(void *p);
/*
 * Resizes to n bytes, keeping the first min(old, n) bytes.  Within the
 * secret's pages it resizes in place (bytes cut off are wiped); otherwise
 * it copies into a new secret and frees the old one (wiped).  NULL p
 * allocates.  On failure NULL is returned and p is left as it was (still
 * the caller's), like realloc.
 */
void *skr_secret_realloc(void *p, size_t n);
/* A new secret holding a copy of n bytes of src, or NULL. */
void *skr_secret_dup(const void *src, size_t n);

/*
 * For a server that allocates a secret per request (skr-broker): from now on
 * each thread keeps up to 4 wiped, still locked one-page blocks for reuse
 * instead of unlocking and freeing them.  A thread's blocks are freed when it
 * exits; skr_secret_cache_drain frees the calling thread's now (the main
 * thread's, before exit).  A freed secret is wiped either way.
 */
void skr_secret_cache_enable(void);
void skr_secret_cache_drain(void);

void skr_secret_set_lock_warning(void (*warn)(const char *message));
/* Whether an mlock of skr_secret_alloc has failed in this process. */
bool skr_secret_lock_failed(void);

/* For _cleanup_secret_: frees the secret *pp points to. */
void skr_secret_freep(void *pp);
#define _cleanup_secret_ _cleanup_(skr_secret_freep)

/*
 * THE reader of files that hold a secret the system keeps (the broker's
 * master key, admin token and nonce secret; skrctl's --admin-token).
 * The file is opened with O_RDONLY|O_NOFOLLOW|O_CLOEXEC|O_NOCTTY|O_NONBLOCK
 * and every check is made on that descriptor (fstat: no race with a
 * rename; O_NONBLOCK: a FIFO in its place cannot hang the caller).  It is
 * refused, all with SKR_R_usage and a detail that names `what` and path:
 *   "cannot open WHAT file PATH: ERRNO"
 *   "WHAT file PATH is a symbolic link: name the file itself"
 *   "WHAT file PATH is not a regular file"
 *   "WHAT file PATH is readable by group or others (mode 0640); chmod 600 PATH"
 *     (any bit of 077 set; "accessible" instead of "readable" when only
 *     write or execute bits are)
 *   "WHAT file PATH is owned by uid U, neither root nor uid E that reads it"
 *     (the owner must be root or the effective uid)
 *   "WHAT file PATH is larger than MAX bytes"
 * A read error is SKR_R_io ("cannot read WHAT file PATH: ERRNO"), no memory
 * SKR_R_nomem.  On success *out is a new secret holding the file's bytes
 * (skr_secret_size(*out) of them, then a NUL); on failure *out is NULL and
 * nothing read is left in memory unwiped.
 */
int skr_secret_read_file(const char *path, size_t max, const char *what, uint8_t **out,
			 struct skr_err *err);

/*
 * The same reader for a secret the operator hands in, without the mode and
 * owner checks: LUKS passphrase key files (cryptsetup does not check them
 * either, and a key file on removable FAT media cannot be mode 0600), which
 * may also be a device, a FIFO or "-" (standard input).  Symbolic links
 * are followed.  Refusals: "cannot open", "larger than" (SKR_R_usage),
 * read errors (SKR_R_io).  The bytes go only into secret memory.
 */
int skr_secret_read_input(const char *path, size_t max, const char *what, uint8_t **out,
			  struct skr_err *err);

#endif
