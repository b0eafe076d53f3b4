/* SPDX-License-Identifier: Apache-2.0 */
#include "broker/metrics.h"

#include "broker/store.h"

#include <stdio.h>
#include <stdlib.h>

/* Upper bounds of the release latency histogram, seconds. */
static const double bounds[SKR_METRICS_BUCKETS] = {
	0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5,
};

void skr_metrics_release(struct skr_metrics *m, enum skr_reason outcome, double seconds)
{
	size_t i = 0;

	if (outcome == SKR_R_ok)
		atomic_fetch_add(&m->released, 1);
	else if ((unsigned)outcome < SKR_R__COUNT)
		atomic_fetch_add(&m->denied[outcome], 1);
	while (i < SKR_METRICS_BUCKETS && seconds > bounds[i])
		i++;
	atomic_fetch_add(&m->latency_bucket[i], 1);
	atomic_fetch_add(&m->latency_count, 1);
	atomic_fetch_add(&m->latency_sum_us, (unsigned long long)(seconds * 1e6));
}

char *skr_metrics_render(const struct skr_metrics *m, const struct skr_metrics_cache *cache,
			 const struct skr_store_durability *store,
			 const struct skr_store_commit_stats *commit)
{
	unsigned long cumulative = 0;
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	size_t i;

	if (!f)
		return NULL;
	fprintf(f, "# HELP skr_releases_total Release decisions by verdict and reason.\n"
		   "# TYPE skr_releases_total counter\n");
	fprintf(f, "skr_releases_total{verdict=\"allow\",reason=\"ok\"} %lu\n",
		atomic_load(&m->released));
	for (i = 1; i < SKR_R__COUNT; i++) {
		unsigned long n = atomic_load(&m->denied[i]);

		if (n)
			fprintf(f, "skr_releases_total{verdict=\"deny\",reason=\"%s\"} %lu\n",
				skr_reason_name((enum skr_reason)i), n);
	}
	fprintf(f, "# HELP skr_challenges_total Nonces issued.\n# TYPE skr_challenges_total counter\n"
		   "skr_challenges_total %lu\n", atomic_load(&m->challenges));
	fprintf(f, "# HELP skr_chain_cache_total Verified VCEK chain cache lookups.\n"
		   "# TYPE skr_chain_cache_total counter\n"
		   "skr_chain_cache_total{result=\"hit\"} %lu\nskr_chain_cache_total{result=\"miss\"} %lu\n",
		cache->hits, cache->misses);
	fprintf(f, "# HELP skr_chain_cache_entries Verified VCEKs held by the cache.\n"
		   "# TYPE skr_chain_cache_entries gauge\nskr_chain_cache_entries %zu\n",
		cache->entries);
	fprintf(f, "# HELP skr_audit_failures_total Audit rows that could not be written "
		   "(a release without its row is refused).\n"
		   "# TYPE skr_audit_failures_total counter\nskr_audit_failures_total %lu\n",
		atomic_load(&m->audit_failures));
	fprintf(f, "# HELP skr_admin_unauthorized_total Admin requests refused for want of a "
		   "valid token.\n# TYPE skr_admin_unauthorized_total counter\n"
		   "skr_admin_unauthorized_total %lu\n", atomic_load(&m->admin_unauthorized));
	fprintf(f, "# HELP skr_connections_refused_total Connections closed at once for a "
		   "connection limit (per client address or total).\n"
		   "# TYPE skr_connections_refused_total counter\n"
		   "skr_connections_refused_total %lu\n", atomic_load(&m->connections_refused));
	fprintf(f, "# HELP skr_release_seconds Release request latency.\n"
		   "# TYPE skr_release_seconds histogram\n");
	for (i = 0; i < SKR_METRICS_BUCKETS; i++) {
		cumulative += atomic_load(&m->latency_bucket[i]);
		fprintf(f, "skr_release_seconds_bucket{le=\"%g\"} %lu\n", bounds[i], cumulative);
	}
	fprintf(f, "skr_release_seconds_bucket{le=\"+Inf\"} %lu\n", atomic_load(&m->latency_count));
	fprintf(f, "skr_release_seconds_sum %.6f\nskr_release_seconds_count %lu\n",
		(double)atomic_load(&m->latency_sum_us) / 1e6, atomic_load(&m->latency_count));
	if (store) {
		fprintf(f, "# HELP skr_store_synchronous SQLite synchronous setting on the store's "
			   "connection (2 = FULL: every commit fsynced).\n"
			   "# TYPE skr_store_synchronous gauge\nskr_store_synchronous %d\n",
			store->synchronous);
		fprintf(f, "# HELP skr_store_journal_mode SQLite journal mode on the store's "
			   "connection.\n# TYPE skr_store_journal_mode gauge\n"
			   "skr_store_journal_mode{mode=\"%s\"} 1\n", store->journal_mode);
	}
	if (commit) {
		fprintf(f, "# HELP skr_audit_flushes_total Audit group commits (one transaction, "
			   "one fsync each), failed ones included.\n"
			   "# TYPE skr_audit_flushes_total counter\nskr_audit_flushes_total %llu\n",
			(unsigned long long)commit->flushes);
		fprintf(f, "# HELP skr_audit_flushes_failed_total Audit group commits that failed "
			   "(none of their rows written, every caller refused).\n"
			   "# TYPE skr_audit_flushes_failed_total counter\n"
			   "skr_audit_flushes_failed_total %llu\n",
			(unsigned long long)commit->failed_flushes);
		fprintf(f, "# HELP skr_audit_flush_rows_total Audit rows the group commits carried.\n"
			   "# TYPE skr_audit_flush_rows_total counter\n"
			   "skr_audit_flush_rows_total %llu\n", (unsigned long long)commit->rows);
		fprintf(f, "# HELP skr_audit_flush_rows_max The most rows one group commit carried.\n"
			   "# TYPE skr_audit_flush_rows_max gauge\nskr_audit_flush_rows_max %llu\n",
			(unsigned long long)commit->max_batch);
	}
	fclose(f);
	return text;
}
