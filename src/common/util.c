/* SPDX-License-Identifier: Apache-2.0 */
#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

void skr_freep(void *p)
{
	free(*(void **)p);
}

void skr_buf_free(struct skr_buf *b)
{
	if (!b)
		return;
	free(b->data);
	b->data = NULL;
	b->len = 0;
}

static int buf_alloc(struct skr_buf *b, size_t len, struct skr_err *err)
{
	skr_buf_free(b);
	if (len == SIZE_MAX)
		return skr_fail(err, SKR_R_nomem, "buffer too large");
	b->data = calloc(1, len + 1);
	if (!b->data)
		return skr_fail(err, SKR_R_nomem, "out of memory (%zu bytes)", len);
	b->len = len;
	return 0;
}

int skr_buf_set(struct skr_buf *b, const void *data, size_t len, struct skr_err *err)
{
	if (buf_alloc(b, len, err) < 0)
		return -1;
	if (len)
		memcpy(b->data, data, len);
	return 0;
}

int skr_read_file(const char *path, size_t max, struct skr_buf *out, struct skr_err *err)
{
	FILE *f;
	size_t cap = 4096, len = 0;
	uint8_t *data = NULL;
	int rc = -1;

	f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!f)
		return skr_fail(err, SKR_R_io, "cannot open %s: %s", path, strerror(errno));
	for (;;) {
		uint8_t *grown;
		size_t n;

		if (len == cap || !data) {
			if (data)
				cap *= 2;
			grown = realloc(data, cap + 1);
			if (!grown) {
				skr_fail(err, SKR_R_nomem, "out of memory reading %s", path);
				goto out;
			}
			data = grown;
		}
		n = fread(data + len, 1, cap - len, f);
		len += n;
		if (len > max) {
			skr_fail(err, SKR_R_malformed, "%s is larger than the %zu bytes allowed", path, max);
			goto out;
		}
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		skr_fail(err, SKR_R_io, "cannot read %s", path);
		goto out;
	}
	data[len] = 0;
	skr_buf_free(out);
	out->data = data;
	out->len = len;
	data = NULL;
	rc = 0;
out:
	free(data);
	if (f != stdin)
		fclose(f);
	return rc;
}

static int hex_nibble(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int skr_hex_decode(const char *in, size_t in_len, struct skr_buf *out,
		   const char *what, struct skr_err *err)
{
	size_t digits = 0, i, o = 0;
	int hi = -1;

	for (i = 0; i < in_len; i++) {
		if (isspace((unsigned char)in[i]))
			continue;
		if (hex_nibble((unsigned char)in[i]) < 0)
			return skr_fail(err, SKR_R_malformed, "%s: invalid hex character at offset %zu", what, i);
		digits++;
	}
	if (digits % 2)
		return skr_fail(err, SKR_R_malformed, "%s: odd number of hex digits", what);
	if (buf_alloc(out, digits / 2, err) < 0)
		return -1;
	for (i = 0; i < in_len; i++) {
		int v;

		if (isspace((unsigned char)in[i]))
			continue;
		v = hex_nibble((unsigned char)in[i]);
		if (hi < 0) {
			hi = v;
		} else {
			out->data[o++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	return 0;
}

/*
 * Each byte's sextet (standard and URL-safe alphabets), B64_SPACE for ASCII
 * white space, B64_PAD for '=', -1 for anything else: one load per
 * character, since the broker decodes every evidence field with it.
 */
#define B64_SPACE (-2)
#define B64_PAD (-3)
static const int8_t b64_table[256] = {
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -2, -2, -2, -2, -2, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-2, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, 62, -1, 63,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -3, -1, -1,
	-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, 63,
	-1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

static int b64_value(int c)
{
	return b64_table[(unsigned char)c];
}

/* The decoded length of valid base64 text, or -1 with err set. */
static int b64_check(const char *in, size_t in_len, size_t *out_len, const char *what,
		     struct skr_err *err)
{
	size_t i, sextets = 0, pad = 0;

	for (i = 0; i < in_len; i++) {
		int v = b64_value(in[i]);

		if (v == B64_SPACE)
			continue;
		if (v == B64_PAD) {
			pad++;
			continue;
		}
		if (pad || v < 0)
			return skr_fail(err, SKR_R_malformed, "%s: invalid base64 at offset %zu", what, i);
		sextets++;
	}
	if (pad > 2 || sextets % 4 == 1 || (pad && (sextets + pad) % 4))
		return skr_fail(err, SKR_R_malformed, "%s: base64 has a bad length or padding", what);
	*out_len = sextets * 6 / 8;
	return 0;
}

/* Decodes checked base64 text into out (room for the length b64_check gave). */
static void b64_fill(const char *in, size_t in_len, uint8_t *out)
{
	uint32_t acc = 0;
	size_t i, o = 0;
	int bits = 0;

	for (i = 0; i < in_len; i++) {
		int v = b64_value(in[i]);

		if (v < 0)
			continue;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	explicit_bzero(&acc, sizeof(acc));
}

int skr_base64_decode(const char *in, size_t in_len, struct skr_buf *out,
		      const char *what, struct skr_err *err)
{
	size_t len;

	if (b64_check(in, in_len, &len, what, err) < 0 || buf_alloc(out, len, err) < 0)
		return -1;
	b64_fill(in, in_len, out->data);
	return 0;
}

int skr_base64_decode_secret(const char *in, size_t in_len, uint8_t **out, const char *what,
			     struct skr_err *err)
{
	size_t len;

	*out = NULL;
	if (b64_check(in, in_len, &len, what, err) < 0)
		return -1;
	*out = skr_secret_alloc(len);
	if (!*out)
		return skr_fail(err, SKR_R_nomem, "out of memory (%zu bytes)", len);
	b64_fill(in, in_len, *out);
	return 0;
}

char *skr_hex_encode(const void *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *p = data;
	char *s;
	size_t i;

	if (len > (SIZE_MAX - 1) / 2)
		return NULL;
	s = malloc(len * 2 + 1);
	if (!s)
		return NULL;
	for (i = 0; i < len; i++) {
		s[2 * i] = digits[p[i] >> 4];
		s[2 * i + 1] = digits[p[i] & 15];
	}
	s[len * 2] = 0;
	return s;
}

char *skr_base64_encode(const void *data, size_t len)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const uint8_t *p = data;
	size_t i, o = 0;
	char *s;

	if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
		return NULL;
	s = malloc((len + 2) / 3 * 4 + 1);
	if (!s)
		return NULL;
	for (i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		s[o++] = alphabet[v >> 18 & 63];
		s[o++] = alphabet[v >> 12 & 63];
		s[o++] = i + 1 < len ? alphabet[v >> 6 & 63] : '=';
		s[o++] = i + 2 < len ? alphabet[v & 63] : '=';
	}
	s[o] = 0;
	return s;
}

static bool looks_like_hex(const struct skr_buf *in)
{
	size_t i;

	for (i = 0; i < in->len; i++)
		if (!isspace(in->data[i]) && hex_nibble(in->data[i]) < 0)
			return false;
	return true;
}

int skr_decode_binary_or_hex(const struct skr_buf *in, size_t expect_len,
			     struct skr_buf *out, const char *what, struct skr_err *err)
{
	/* A binary structure of the expected size wins over a hex reading. */
	if (in->len == expect_len || !looks_like_hex(in))
		return skr_buf_set(out, in->data, in->len, err);
	return skr_hex_decode((const char *)in->data, in->len, out, what, err);
}

static int64_t clock_ns(clockid_t id)
{
	struct timespec t;

	clock_gettime(id, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

int64_t skr_steady_advance(struct skr_steady *s, int64_t wall_ns, int64_t mono_ns)
{
	if (s->started) {
		int64_t ran = s->last_wall + (mono_ns - s->last_mono);

		if (ran > wall_ns)
			wall_ns = ran;
	}
	s->started = true;
	s->last_wall = wall_ns;
	s->last_mono = mono_ns;
	return wall_ns / 1000000000;
}

int64_t skr_steady_time(void)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static struct skr_steady state;
	int64_t now;

	pthread_mutex_lock(&lock);
	now = skr_steady_advance(&state, clock_ns(CLOCK_REALTIME), clock_ns(CLOCK_MONOTONIC));
	pthread_mutex_unlock(&lock);
	return now;
}

bool skr_ct_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

bool skr_is_zero(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t acc = 0;
	size_t i;

	for (i = 0; i < len; i++)
		acc |= b[i];
	return acc == 0;
}

char *skr_sanitize_text(const char *in, size_t in_len, char *out, size_t out_size)
{
	static const char digits[] = "0123456789abcdef";
	size_t i, o = 0;

	if (!out || out_size < 4) {
		if (out && out_size)
			out[0] = 0;
		return out;
	}
	/* Room is kept for the "..." that marks a cut. */
	for (i = 0; in && i < in_len && in[i]; i++) {
		unsigned char c = (unsigned char)in[i];
		size_t need = c >= 0x20 && c < 0x7f ? 1 : 4;

		if (o + need > out_size - 4) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (need == 1) {
			out[o++] = (char)c;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = digits[c >> 4];
			out[o++] = digits[c & 15];
		}
	}
	out[o] = 0;
	return out;
}

void skr_sanitize_inplace(char *s, size_t size)
{
	char *copy;

	if (!s || !size)
		return;
	copy = strndup(s, size - 1);
	if (!copy) {
		s[0] = 0;	/* nothing unsafe can be shown */
		return;
	}
	skr_sanitize_text(copy, strlen(copy), s, size);
	free(copy);
}
