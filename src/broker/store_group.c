/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Group commit of audit rows, whatever the backend (store.h says what a
 * caller sees; store_int.h, ops->audit_batch, what a backend does).
 *
 * Leader and followers, no thread of its own and no timer: a caller queues
 * its item; when no flush is running it becomes the leader, takes what is
 * queued (its own item among it, up to STORE_BATCH_MAX), writes it through
 * ops->audit_batch with the lock dropped, then marks every taken item done
 * and wakes the others.  Callers that arrived during that flush find their
 * items still queued and one of them leads the next flush.  So a lone caller
 * flushes at once (nobody to wait for), and under load a flush carries every
 * row that queued during the one before: the fsync is shared, never delayed.
 */
#include "broker/store_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct group_waiter {
	struct store_batch_item *item;
	struct group_waiter *next;
	bool done;
	int rc;
	struct skr_err err;	/* when rc < 0 */
};

struct store_group {
	pthread_mutex_t lock;
	pthread_cond_t flushed;
	struct group_waiter *head, **tail;	/* queued, oldest first */
	size_t queued;
	bool flushing;
	struct skr_store_commit_stats stats;
};

struct store_group *store_group_new(struct skr_err *err)
{
	struct store_group *g = calloc(1, sizeof(*g));

	if (!g) {
		skr_fail(err, SKR_R_nomem, "out of memory opening the store");
		return NULL;
	}
	if (pthread_mutex_init(&g->lock, NULL) != 0) {
		free(g);
		skr_fail(err, SKR_R_nomem, "cannot create the group commit mutex");
		return NULL;
	}
	if (pthread_cond_init(&g->flushed, NULL) != 0) {
		pthread_mutex_destroy(&g->lock);
		free(g);
		skr_fail(err, SKR_R_nomem, "cannot create the group commit condition");
		return NULL;
	}
	g->tail = &g->head;
	return g;
}

/* Only once no caller is inside store_group_write (the store is being closed). */
void store_group_free(struct store_group *g)
{
	if (!g)
		return;
	pthread_cond_destroy(&g->flushed);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

/* Under the lock: the oldest queued waiters, at most STORE_BATCH_MAX. */
static size_t take_batch(struct store_group *g, struct group_waiter **w,
			 struct store_batch_item **items)
{
	size_t n = 0;

	while (g->head && n < STORE_BATCH_MAX) {
		w[n] = g->head;
		items[n] = g->head->item;
		g->head = g->head->next;
		n++;
	}
	if (!g->head)
		g->tail = &g->head;
	g->queued -= n;
	return n;
}

/* Under the lock: each waiter's own outcome of the flush (rc, err). */
static void settle(struct store_group *g, struct group_waiter **w, size_t n, int rc,
		   const struct skr_err *err)
{
	size_t i;

	g->stats.flushes++;
	g->stats.rows += n;
	if (n > g->stats.max_batch)
		g->stats.max_batch = n;
	if (rc < 0)
		g->stats.failed_flushes++;
	for (i = 0; i < n; i++) {
		w[i]->done = true;
		w[i]->rc = 0;
		if (rc < 0) {
			w[i]->rc = -1;
			w[i]->err = *err;
		} else if (w[i]->item->replayed) {
			w[i]->rc = skr_fail(&w[i]->err, SKR_R_nonce_replayed,
					    "nonce was already used");
		}
	}
}

/* Called with the lock held and no flush running; returns with the lock held. */
static void lead(struct skr_store *s, struct store_group *g)
{
	struct group_waiter *w[STORE_BATCH_MAX];
	struct store_batch_item *items[STORE_BATCH_MAX];
	struct skr_err err = { 0 };
	size_t n = take_batch(g, w, items);
	int rc;

	g->flushing = true;
	pthread_mutex_unlock(&g->lock);
	rc = s->ops->audit_batch(s, items, n, &err);
	/*
	 * No audit row, no release: whatever failed, the batch's rows were not
	 * written.  A database that went away stays store_unavailable: the
	 * client is told 503 and tries another broker; so does a database that
	 * is out of space (store_full).
	 */
	if (rc < 0 && err.reason != SKR_R_audit_failed && err.reason != SKR_R_store_unavailable &&
	    err.reason != SKR_R_store_full)
		store_audit_refused(&err);
	pthread_mutex_lock(&g->lock);
	settle(g, w, n, rc, &err);
	g->flushing = false;
	pthread_cond_broadcast(&g->flushed);
}

int store_group_write(struct skr_store *s, struct store_batch_item *item, struct skr_err *err)
{
	struct store_group *g = s->group;
	struct group_waiter me = { .item = item };

	pthread_mutex_lock(&g->lock);
	*g->tail = &me;
	g->tail = &me.next;
	g->queued++;
	while (!me.done) {
		if (!g->flushing)
			lead(s, g);
		else
			pthread_cond_wait(&g->flushed, &g->lock);
	}
	pthread_mutex_unlock(&g->lock);
	if (me.rc < 0)
		*err = me.err;
	return me.rc;
}

int skr_store_commit_stats(struct skr_store *s, struct skr_store_commit_stats *st,
			   struct skr_err *err)
{
	if (!s || !st)
		return skr_fail(err, SKR_R_usage, "no store or output given");
	pthread_mutex_lock(&s->group->lock);
	*st = s->group->stats;
	st->queued = s->group->queued;
	pthread_mutex_unlock(&s->group->lock);
	return 0;
}
