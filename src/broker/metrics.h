/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prometheus counters of the broker: releases by verdict and reason, latency,
 * VCEK cache use, audit write failures, unauthorized admin requests; gauges of
 * the store's durability settings.
 */
#ifndef SKR_METRICS_H
#define SKR_METRICS_H

#include <stdatomic.h>
#include <stddef.h>

#include "common/err.h"

#define SKR_METRICS_BUCKETS 12

struct skr_metrics {
	atomic_ulong released;
	atomic_ulong denied[SKR_R__COUNT];	/* by reason */
	atomic_ulong challenges;
	atomic_ulong latency_bucket[SKR_METRICS_BUCKETS + 1];	/* cumulative at render time */
	atomic_ulong latency_count;
	atomic_ullong latency_sum_us;
	atomic_ulong audit_failures;	/* audit rows that could not be written */
	atomic_ulong admin_unauthorized;	/* admin requests without a valid token */
	atomic_ulong connections_refused;	/* over a connection limit (per client or total) */
	atomic_llong connections_refused_logged;	/* when that was last logged, Unix seconds */
};

/* The VCEK chain cache's counters, read under its lock by the caller. */
struct skr_metrics_cache {
	unsigned long hits, misses;
	size_t entries;
};

struct skr_store_durability;
struct skr_store_commit_stats;

void skr_metrics_release(struct skr_metrics *m, enum skr_reason outcome, double seconds);
/* The text exposition format; caller frees.  store: the store's durability
 * settings as read on its own connection (gauges skr_store_synchronous and
 * skr_store_journal_mode), or NULL when they could not be read (both gauges
 * then absent, and a check on them fails).  commit: the audit group commit's
 * counters (skr_audit_flushes_total, skr_audit_flush_rows_total,
 * skr_audit_flushes_failed_total, skr_audit_flush_rows_max), or NULL. */
char *skr_metrics_render(const struct skr_metrics *m, const struct skr_metrics_cache *cache,
			 const struct skr_store_durability *store,
			 const struct skr_store_commit_stats *commit);

#endif
