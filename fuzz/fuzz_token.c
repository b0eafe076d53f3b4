/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the skr LUKS2 token (src/luks/token.h), with its local
 * offline copy member.  A LUKS header is not protected: anyone who can write
 * the disk can write its tokens, so skr-unlock, the token plugin and skrctl
 * parse them as untrusted input (a v1 token's brokers/ca/tcti/vcek are
 * accepted and ignored).  A token that parses must serialise (as v2) and
 * parse again to the same text.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "luks/token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct skr_err err = { 0 };
	struct skr_token t, again;
	char *text = malloc(size + 1), *out, *out2;

	if (!text)
		__builtin_trap();
	memcpy(text, data, size);
	text[size] = 0;
	if (skr_token_parse(text, &t, &err) == 0) {
		out = skr_token_to_json(&t);
		if (!out || skr_token_parse(out, &again, &err) < 0)
			__builtin_trap();
		out2 = skr_token_to_json(&again);
		if (!out2 || strcmp(out, out2) != 0)
			__builtin_trap();	/* serialising is a fixed point */
		free(out);
		free(out2);
		skr_token_free(&again);
		skr_token_free(&t);
	}
	free(text);
	return 0;
}
