/* SPDX-License-Identifier: Apache-2.0 */
#include "common/err.h"

#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	enum skr_class cls;
} reasons[SKR_R__COUNT] = {
#define SKR_REASON_ROW(n, c) [SKR_R_##n] = { #n, c },
	SKR_REASONS(SKR_REASON_ROW)
#undef SKR_REASON_ROW
};

int skr_fail(struct skr_err *err, enum skr_reason reason, const char *fmt, ...)
{
	va_list ap;

	if (!err || err->reason != SKR_R_ok)
		return -1;
	err->reason = reason;
	va_start(ap, fmt);
	vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
	va_end(ap);
	return -1;
}

const char *skr_reason_name(enum skr_reason reason)
{
	if ((unsigned)reason >= SKR_R__COUNT)
		return "unknown";
	return reasons[reason].name;
}

enum skr_reason skr_reason_from_name(const char *name)
{
	unsigned i;

	for (i = 0; name && i < SKR_R__COUNT; i++)
		if (!strcmp(reasons[i].name, name))
			return (enum skr_reason)i;
	return SKR_R__COUNT;
}

enum skr_class skr_reason_class(enum skr_reason reason)
{
	if ((unsigned)reason >= SKR_R__COUNT)
		return SKR_CLASS_INPUT;
	return reasons[reason].cls;
}

void skr_err_clear(struct skr_err *err)
{
	memset(err, 0, sizeof(*err));
}
