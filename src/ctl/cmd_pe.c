/* SPDX-License-Identifier: Apache-2.0 */
/* skrctl pe hash: the Authenticode digest of a PE image (EFI binary, UKI). */
#include <stdio.h>
#include <string.h>

#include "ctl/cli.h"
#include "predict/pe.h"
#include "common/util.h"


/* UKIs with a large initrd run to a few hundred MiB; nothing real is near 1 GiB. */
#define PE_MAX_IMAGE_SIZE ((size_t)1 << 30)

struct pe_hash_args {
	const char *image;
	const char *alg;
	unsigned flags;
	bool json;
};

static int parse_args(int argc, char **argv, struct pe_hash_args *a)
{
	int i;

	a->alg = "sha256";
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--alg") == 0 && i + 1 < argc)
			a->alg = argv[++i];
		else if (strcmp(argv[i], "--pad-unsigned") == 0)
			a->flags |= SKR_PE_PAD_UNSIGNED;
		else if (strcmp(argv[i], "--json") == 0)
			a->json = true;
		else if (argv[i][0] == '-' && argv[i][1] != '\0')
			return -1;
		else if (!a->image)
			a->image = argv[i];
		else
			return -1;
	}
	if (!a->image || skr_pe_digest_size(a->alg) == 0)
		return -1;
	return 0;
}

static json_object *digest_json(const char *alg, const uint8_t *digest, size_t len)
{
	json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "alg", json_object_new_string(alg));
	if (skr_json_add_hex(o, "digest", digest, len) < 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

int cmd_pe_hash(int argc, char **argv)
{
	struct pe_hash_args a = { 0 };
	struct skr_err err = { 0 };
	_cleanup_buf_ struct skr_buf img = { 0 };
	_cleanup_(skr_pe_free) struct skr_pe pe = { 0 };
	_cleanup_free_ char *hex = NULL;
	uint8_t digest[SKR_PE_DIGEST_MAX];
	size_t digest_len = 0;

	if (parse_args(argc, argv, &a) < 0)
		return cli_usage(PE_HASH_USAGE);
	if (skr_read_file(a.image, PE_MAX_IMAGE_SIZE, &img, &err) < 0 ||
	    skr_pe_parse(img.data, img.len, &pe, &err) < 0 ||
	    skr_pe_hash(&pe, a.alg, a.flags, digest, &digest_len, &err) < 0)
		return cli_finish(&err, NULL, a.json);
	if (a.json)
		return cli_finish(&err, digest_json(a.alg, digest, digest_len), true);
	hex = skr_hex_encode(digest, digest_len);
	if (!hex) {
		skr_fail(&err, SKR_R_nomem, "out of memory");
		return cli_finish(&err, NULL, false);
	}
	printf("%s\n", hex);
	return cli_finish(&err, NULL, false);
}
