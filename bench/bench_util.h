/* SPDX-License-Identifier: Apache-2.0 */
/* Timing and sorting shared by the benchmark programs. */
#ifndef SKR_BENCH_UTIL_H
#define SKR_BENCH_UTIL_H

#include <time.h>

/* Monotonic milliseconds. */
static inline double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* qsort comparator for doubles, ascending. */
static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

#endif
