/* SPDX-License-Identifier: Apache-2.0 */
/* The audit hash chain's canonical encoding and checkpoint messages (audit_chain.h). */
#include "common/audit_chain.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static const char row_tag[16] = "skr-audit-row/1";		/* with its NUL: 16 bytes */
static const char checkpoint_tag[23] = "skr-audit-checkpoint/1";	/* 23 bytes */

const char *const skr_audit_text_names[6] = { "key_id", "client", "action", "verdict",
					      "reason", "detail" };

/* Appends len bytes at *o when they fit in cap; *o moves on either way. */
static void put(uint8_t *out, size_t cap, size_t *o, const void *p, size_t len)
{
	if (out && *o + len <= cap)
		memcpy(out + *o, p, len);
	*o += len;
}

static void put_be64(uint8_t *out, size_t cap, size_t *o, uint64_t v)
{
	uint8_t b[8];

	skr_put_be64(b, v);
	put(out, cap, o, b, sizeof(b));
}

/* A field: 0x00 for NULL, or 0x01, its length (4 bytes BE) and its bytes. */
static int put_field(uint8_t *out, size_t cap, size_t *o, const void *p, size_t len)
{
	uint8_t head[5] = { 1 };

	if (!p) {
		put(out, cap, o, head + 1, 1);	/* a zero byte */
		return 0;
	}
	if (len > UINT32_MAX)
		return -1;
	head[1] = (uint8_t)(len >> 24);
	head[2] = (uint8_t)(len >> 16);
	head[3] = (uint8_t)(len >> 8);
	head[4] = (uint8_t)len;
	put(out, cap, o, head, sizeof(head));
	put(out, cap, o, p, len);
	return 0;
}

size_t skr_audit_row_encode(uint64_t seq, const uint8_t prev[SKR_AUDIT_HASH_SIZE],
			    const struct skr_audit_fields *f, uint8_t *out, size_t cap)
{
	size_t o = 0, i;

	put(out, cap, &o, row_tag, sizeof(row_tag));
	put_be64(out, cap, &o, seq);
	put(out, cap, &o, prev, SKR_AUDIT_HASH_SIZE);
	put_be64(out, cap, &o, (uint64_t)f->time);
	for (i = 0; i < 6; i++)
		if (put_field(out, cap, &o, f->text[i], f->text_len[i]) < 0)
			return 0;
	if (put_field(out, cap, &o, f->digest, f->digest_len) < 0)
		return 0;
	return o;
}

int skr_audit_row_hash(uint64_t seq, const uint8_t prev[SKR_AUDIT_HASH_SIZE],
		       const struct skr_audit_fields *f, uint8_t out[SKR_AUDIT_HASH_SIZE],
		       struct skr_err *err)
{
	uint8_t small[1024];
	uint8_t *buf = small;
	size_t len = skr_audit_row_encode(seq, prev, f, small, sizeof(small));
	int ok;

	if (!len)
		return skr_fail(err, SKR_R_usage, "an audit field is too long to encode");
	/* Most rows fit on the stack; a long detail takes one allocation. */
	if (len > sizeof(small)) {
		buf = malloc(len);
		if (!buf)
			return skr_fail(err, SKR_R_nomem, "out of memory hashing an audit row");
		skr_audit_row_encode(seq, prev, f, buf, len);
	}
	ok = EVP_Digest(buf, len, out, NULL, EVP_sha256(), NULL);
	if (buf != small)
		free(buf);
	return ok ? 0 : skr_fail(err, SKR_R_nomem, "cannot hash an audit row");
}

void skr_audit_checkpoint_msg(uint64_t seq, const uint8_t head[SKR_AUDIT_HASH_SIZE], int64_t time,
			      uint8_t out[SKR_AUDIT_CHECKPOINT_MSG_SIZE])
{
	size_t o = 0;

	put(out, SKR_AUDIT_CHECKPOINT_MSG_SIZE, &o, checkpoint_tag, sizeof(checkpoint_tag));
	put_be64(out, SKR_AUDIT_CHECKPOINT_MSG_SIZE, &o, seq);
	put(out, SKR_AUDIT_CHECKPOINT_MSG_SIZE, &o, head, SKR_AUDIT_HASH_SIZE);
	put_be64(out, SKR_AUDIT_CHECKPOINT_MSG_SIZE, &o, (uint64_t)time);
}

int skr_audit_checkpoint_verify(EVP_PKEY *key, uint64_t seq,
				const uint8_t head[SKR_AUDIT_HASH_SIZE], int64_t time,
				const uint8_t *sig, size_t sig_len)
{
	uint8_t msg[SKR_AUDIT_CHECKPOINT_MSG_SIZE];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = 0;

	if (!ctx)
		return 0;
	skr_audit_checkpoint_msg(seq, head, time, msg);
	if (EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
	    EVP_DigestVerify(ctx, sig, sig_len, msg, sizeof(msg)) == 1)
		ok = 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}
