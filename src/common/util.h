/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small helpers shared by every part of libskr: owned byte buffers, bounded
 * file reading, hex and base64 codecs, little- and big-endian loads and
 * stores, cleanup attributes.  Memory for secrets (locked, sized, wiped on
 * free) and the reader of secret files are common/secret.h, included here.
 */
#ifndef SKR_UTIL_H
#define SKR_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/secret.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* An owned byte string. data is NUL-terminated one past len for convenience. */
struct skr_buf {
	uint8_t *data;
	size_t len;
};

void skr_buf_free(struct skr_buf *b);
/* Copies len bytes; returns -1 with SKR_R_nomem on allocation failure. */
int skr_buf_set(struct skr_buf *b, const void *data, size_t len, struct skr_err *err);

/* Reads a whole file ("-" is stdin); refuses files larger than max bytes. */
int skr_read_file(const char *path, size_t max, struct skr_buf *out, struct skr_err *err);

/*
 * Hex decoding accepts upper and lower case and ignores ASCII whitespace;
 * base64 accepts the standard and the URL-safe alphabet, with or without
 * padding.  Both fail with SKR_R_malformed naming what was wrong in `what`.
 */
int skr_hex_decode(const char *in, size_t in_len, struct skr_buf *out,
		   const char *what, struct skr_err *err);
int skr_base64_decode(const char *in, size_t in_len, struct skr_buf *out,
		      const char *what, struct skr_err *err);
/* The same base64 decoding into a new secret (common/secret.h) of the decoded size. */
int skr_base64_decode_secret(const char *in, size_t in_len, uint8_t **out, const char *what,
			     struct skr_err *err);
/* Lower-case hex of len bytes into a new string (caller frees). */
char *skr_hex_encode(const void *data, size_t len);
/* Standard base64 with padding into a new string (caller frees). */
char *skr_base64_encode(const void *data, size_t len);

/* Decodes a file that holds either raw bytes or their hex text. */
int skr_decode_binary_or_hex(const struct skr_buf *in, size_t expect_len,
			     struct skr_buf *out, const char *what, struct skr_err *err);

static inline uint16_t skr_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t skr_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t skr_le64(const uint8_t *p)
{
	return (uint64_t)skr_le32(p) | (uint64_t)skr_le32(p + 4) << 32;
}

/* Big-endian, as the TPM marshals (and skr's own binary formats). */
static inline uint32_t skr_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t skr_be64(const uint8_t *p)
{
	return (uint64_t)skr_be32(p) << 32 | skr_be32(p + 4);
}

static inline void skr_put_be64(uint8_t *out, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		out[i] = (uint8_t)v;
}

/*
 * The broker's wall clock, in Unix seconds, that never steps back: the
 * larger of CLOCK_REALTIME and the last value returned advanced by the
 * CLOCK_MONOTONIC time since.  A forward step of the wall clock is followed
 * (it cannot be told from time passing, and replicas sharing a nonce secret
 * must agree on it); after a backward step the value keeps running on the
 * monotonic clock until the wall clock has caught up.  So a nonce that has
 * expired (or a used nonce purged as expired) never becomes valid again, and
 * audit and checkpoint times never decrease within a process.
 */
int64_t skr_steady_time(void);

/*
 * The rule behind skr_steady_time, on clock readings given by the caller (so
 * that tests can step the wall clock): returns the steady time in seconds
 * for a wall clock reading wall_ns and a monotonic reading mono_ns, and
 * records both in s.  A zeroed struct skr_steady starts a new sequence.
 */
struct skr_steady {
	int64_t last_wall, last_mono;
	bool started;
};
int64_t skr_steady_advance(struct skr_steady *s, int64_t wall_ns, int64_t mono_ns);

/* Constant-time comparison for MACs, digests and tokens. */
bool skr_ct_equal(const void *a, const void *b, size_t len);

bool skr_is_zero(const void *p, size_t len);

/*
 * Text from outside the VM's trust (a broker's answer, a LUKS2 header) made
 * safe for a terminal, the console and the kernel log: printable ASCII
 * (0x20..0x7e) is copied, every other byte (control characters incl. ESC,
 * DEL, the C1 range, any byte of a UTF-8 sequence, invalid or not) becomes
 * "\xNN", so no escape or control sequence survives.  At most in_len bytes
 * of in are read (stopping at a NUL); the result always fits out (out_size
 * >= 4) and ends with "..." when it was cut.  Returns out.
 */
char *skr_sanitize_text(const char *in, size_t in_len, char *out, size_t out_size);
/* skr_sanitize_text over a NUL-terminated string in place (it can only shrink: cut). */
void skr_sanitize_inplace(char *s, size_t size);

void skr_freep(void *p);
#define _cleanup_free_ _cleanup_(skr_freep)
#define _cleanup_buf_ _cleanup_(skr_buf_free)

#endif
