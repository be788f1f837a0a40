/*
 * events: per-job event rings, ids, subscribers (see events.h).
 *
 * Rings live in a hash by job id.  A ring grows up to ring_events items and
 * ring_bytes of data, dropping its oldest events beyond that (a reader that
 * fell behind learns it through `gap`).  Rings of finished jobs are kept in
 * finish order and the oldest are dropped past keep_finished, so memory is
 * bounded by (running + queued + keep_finished) rings whatever the uptime.
 *
 * Locks: `lock` guards the rings, ids and the condition variable; `sub_lock`
 * guards the subscriber list and is held across notify calls, so
 * events_unsubscribe() waiting for it means no notify is running.  A
 * publisher takes sub_lock then lock (the only place both are held), which
 * also keeps the item it passes to notify from being evicted under it.
 */
#include "runtime/events.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N_BUCKETS 1024

struct ring {
	int64_t job;
	uint64_t evicted_upto;   /* ids <= this may have existed and are gone */
	struct events_item *items;  /* circular */
	size_t cap, head, count, bytes;
	int finished;
	struct ring *hnext;         /* hash chain */
	struct ring *prev, *next;   /* the active or the finished list */
};

struct list {
	struct ring *first, *last;
	size_t n;
};

struct events_sub {
	int64_t job;
	events_fn notify;
	void *arg;
	struct events_sub *next;
};

struct events {
	struct events_conf conf;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_mutex_t sub_lock;
	uint64_t next_id;
	struct ring *buckets[N_BUCKETS];
	struct list active, finished;
	struct events_sub *subs;
};

static void list_remove(struct list *l, struct ring *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		l->first = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		l->last = r->prev;
	r->prev = r->next = NULL;
	l->n--;
}

static void list_append(struct list *l, struct ring *r)
{
	r->prev = l->last;
	r->next = NULL;
	if (l->last)
		l->last->next = r;
	else
		l->first = r;
	l->last = r;
	l->n++;
}

static size_t bucket_of(int64_t job)
{
	return (size_t)((uint64_t)job * 0x9E3779B97F4A7C15ull >> 54) % N_BUCKETS;
}

static struct ring *find(struct events *ev, int64_t job)
{
	for (struct ring *r = ev->buckets[bucket_of(job)]; r; r = r->hnext)
		if (r->job == job)
			return r;
	return NULL;
}

static void ring_destroy(struct events *ev, struct ring *r)
{
	struct ring **pp = &ev->buckets[bucket_of(r->job)];
	while (*pp && *pp != r)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = r->hnext;
	list_remove(r->finished ? &ev->finished : &ev->active, r);
	for (size_t i = 0; i < r->count; i++)
		free((char *)r->items[(r->head + i) % r->cap].data);
	free(r->items);
	free(r);
}

/* Keeps the number of rings within bounds: finished ones first. */
static void trim_rings(struct events *ev)
{
	while (ev->finished.n > ev->conf.keep_finished)
		ring_destroy(ev, ev->finished.first);
	while (ev->active.n + ev->finished.n > ev->conf.max_rings) {
		if (ev->finished.first)
			ring_destroy(ev, ev->finished.first);
		else
			ring_destroy(ev, ev->active.first);
	}
}

int events_new(const struct events_conf *conf, struct events **out, struct kiln_err *err)
{
	struct events *ev = calloc(1, sizeof(*ev));
	if (ev == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	ev->conf.ring_events = conf && conf->ring_events ? conf->ring_events : 2048;
	ev->conf.ring_bytes = conf && conf->ring_bytes ? conf->ring_bytes : 1 << 20;
	ev->conf.keep_finished = conf && conf->keep_finished ? conf->keep_finished : 64;
	ev->conf.max_rings = conf && conf->max_rings ? conf->max_rings : 4096;
	pthread_mutex_init(&ev->lock, NULL);
	pthread_mutex_init(&ev->sub_lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ev->cond, &ca);
	pthread_condattr_destroy(&ca);
	/* Ids continue across restarts: a client's Last-Event-ID from before a
	 * restart is then older than anything new, and reads as a gap. */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ev->next_id = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	*out = ev;
	return 0;
}

void events_free(struct events *ev)
{
	if (ev == NULL)
		return;
	while (ev->active.first)
		ring_destroy(ev, ev->active.first);
	while (ev->finished.first)
		ring_destroy(ev, ev->finished.first);
	struct events_sub *s = ev->subs;
	while (s) {
		struct events_sub *n = s->next;
		free(s);
		s = n;
	}
	pthread_cond_destroy(&ev->cond);
	pthread_mutex_destroy(&ev->lock);
	pthread_mutex_destroy(&ev->sub_lock);
	free(ev);
}

static void evict_oldest(struct ring *r)
{
	struct events_item *it = &r->items[r->head];
	r->evicted_upto = it->id;
	r->bytes -= it->len;
	free((char *)it->data);
	it->data = NULL;
	r->head = (r->head + 1) % r->cap;
	r->count--;
}

/* Room for one more item: evict past the bounds, grow the array below them. */
static int make_room(struct events *ev, struct ring *r, size_t len)
{
	while (r->count > 0 &&
	       (r->count >= ev->conf.ring_events || r->bytes + len > ev->conf.ring_bytes))
		evict_oldest(r);
	if (r->count < r->cap)
		return 0;
	size_t nc = r->cap ? r->cap * 2 : 8;
	if (nc > ev->conf.ring_events)
		nc = ev->conf.ring_events;
	struct events_item *ni = malloc(nc * sizeof(*ni));
	if (ni == NULL)
		return -1;
	for (size_t i = 0; i < r->count; i++)
		ni[i] = r->items[(r->head + i) % r->cap];
	free(r->items);
	r->items = ni;
	r->cap = nc;
	r->head = 0;
	return 0;
}

int events_publish(struct events *ev, int64_t job, const char *type, const char *json,
		   uint64_t *id_out)
{
	size_t len = strlen(json);
	if (len > EVENTS_DATA_MAX || strlen(type) >= EVENTS_TYPE_MAX)
		return KILN_EINVAL;
	char *data = malloc(len + 1);
	if (data == NULL)
		return KILN_ENOMEM;
	memcpy(data, json, len + 1);
	pthread_mutex_lock(&ev->sub_lock);
	pthread_mutex_lock(&ev->lock);
	struct ring *r = find(ev, job);
	if (r == NULL) {
		r = calloc(1, sizeof(*r));
		if (r == NULL) {
			pthread_mutex_unlock(&ev->lock);
			pthread_mutex_unlock(&ev->sub_lock);
			free(data);
			return KILN_ENOMEM;
		}
		r->job = job;
		/* nothing of this job's past is held */
		r->evicted_upto = ev->next_id - 1;
		size_t b = bucket_of(job);
		r->hnext = ev->buckets[b];
		ev->buckets[b] = r;
		list_append(&ev->active, r);
		trim_rings(ev);
	}
	if (make_room(ev, r, len) != 0) {
		pthread_mutex_unlock(&ev->lock);
		pthread_mutex_unlock(&ev->sub_lock);
		free(data);
		return KILN_ENOMEM;
	}
	struct events_item *it = &r->items[(r->head + r->count) % r->cap];
	it->id = ev->next_id++;
	it->job = job;
	snprintf(it->type, sizeof(it->type), "%s", type);
	it->data = data;
	it->len = len;
	r->count++;
	r->bytes += len;
	struct events_item copy = *it;
	pthread_cond_broadcast(&ev->cond);
	pthread_mutex_unlock(&ev->lock);
	/* sub_lock still held: no publisher can evict `data` while we notify */
	for (struct events_sub *s = ev->subs; s; s = s->next)
		if (s->job == 0 || s->job == job)
			s->notify(s->arg, &copy);
	pthread_mutex_unlock(&ev->sub_lock);
	if (id_out)
		*id_out = copy.id;
	return 0;
}

void events_finish(struct events *ev, int64_t job)
{
	pthread_mutex_lock(&ev->lock);
	struct ring *r = find(ev, job);
	if (r != NULL && !r->finished) {
		list_remove(&ev->active, r);
		r->finished = 1;
		list_append(&ev->finished, r);
		trim_rings(ev);
	}
	pthread_mutex_unlock(&ev->lock);
}

size_t events_read(struct events *ev, int64_t job, uint64_t after, size_t max,
		   events_fn fn, void *arg, int *gap)
{
	size_t n = 0;
	pthread_mutex_lock(&ev->lock);
	struct ring *r = find(ev, job);
	if (gap)
		*gap = r ? after < r->evicted_upto : 1;  /* no ring: nothing held */
	for (size_t i = 0; r && i < r->count && (max == 0 || n < max); i++) {
		const struct events_item *it = &r->items[(r->head + i) % r->cap];
		if (it->id <= after)
			continue;
		fn(arg, it);
		n++;
	}
	pthread_mutex_unlock(&ev->lock);
	return n;
}

static int has_after(struct events *ev, int64_t job, uint64_t after)
{
	struct ring *r = find(ev, job);
	return r && r->count > 0 && r->items[(r->head + r->count - 1) % r->cap].id > after;
}

int events_wait(struct events *ev, int64_t job, uint64_t after, int timeout_ms)
{
	struct timespec dl;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	if (timeout_ms >= 0) {
		dl.tv_sec += timeout_ms / 1000;
		dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
		if (dl.tv_nsec >= 1000000000) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000;
		}
	}
	pthread_mutex_lock(&ev->lock);
	int ok;
	while (!(ok = has_after(ev, job, after))) {
		int rc = timeout_ms >= 0 ? pthread_cond_timedwait(&ev->cond, &ev->lock, &dl)
					 : pthread_cond_wait(&ev->cond, &ev->lock);
		if (rc == ETIMEDOUT) {
			ok = has_after(ev, job, after);
			break;
		}
	}
	pthread_mutex_unlock(&ev->lock);
	return ok;
}

uint64_t events_last_id(struct events *ev)
{
	pthread_mutex_lock(&ev->lock);
	uint64_t id = ev->next_id - 1;
	pthread_mutex_unlock(&ev->lock);
	return id;
}

int events_subscribe(struct events *ev, int64_t job, events_fn notify, void *arg,
		     struct events_sub **out, struct kiln_err *err)
{
	struct events_sub *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	s->job = job;
	s->notify = notify;
	s->arg = arg;
	pthread_mutex_lock(&ev->sub_lock);
	s->next = ev->subs;
	ev->subs = s;
	pthread_mutex_unlock(&ev->sub_lock);
	*out = s;
	return 0;
}

void events_unsubscribe(struct events *ev, struct events_sub *sub)
{
	if (sub == NULL)
		return;
	pthread_mutex_lock(&ev->sub_lock);
	for (struct events_sub **pp = &ev->subs; *pp; pp = &(*pp)->next)
		if (*pp == sub) {
			*pp = sub->next;
			break;
		}
	pthread_mutex_unlock(&ev->sub_lock);
	free(sub);
}
