/*
 * events: an in-memory ring of recent events per job (state changes, step
 * changes, progress, log lines, figures), with ids, so the HTTP layer can
 * serve Server-Sent Events and a reconnecting client (Last-Event-ID) gets
 * what it missed.
 *
 * One producer-side copy serves every watcher: the worker publishes each
 * event once; watchers read from the ring and are told when to read by a
 * notify callback (or block in events_wait).  No thread per watcher and no
 * second reader of the log file.
 *
 * Ids are unique and increasing across all jobs and across restarts: they
 * start at the wall-clock time in microseconds when the hub is created.  A
 * reader passes the last id it saw; `gap` tells it that events between that
 * id and the oldest one held were dropped (ring full, or before this
 * process started) so it should first send a fresh snapshot of the job
 * (jobs_get) — a new client (after = 0) always gets gap = 1.
 *
 * API
 *   events_new(&conf or NULL, &ev, err) / events_free(ev)
 *   events_publish(ev, job, type, json, &id)  copies; type is "state", "step",
 *                                             "progress", "log", "figure", ...
 *   events_finish(ev, job)                    the job reached a final state: its
 *                                             ring is kept among the last
 *                                             `keep_finished` finished jobs
 *   events_read(ev, job, after, max, fn, arg, &gap)  calls fn for each held event
 *                                             with id > after, oldest first
 *   events_wait(ev, job, after, timeout_ms)   1 when an event > after exists
 *   events_subscribe(ev, job or 0 for all, notify, arg, &sub) / events_unsubscribe
 *
 * Threads: every function may be called from any thread.  fn (events_read)
 * and notify run with a hub lock held: they must be quick (copy, signal,
 * MHD_resume_connection) and must not call events_* themselves.  After
 * events_unsubscribe returns, notify is not running and will not run for
 * that subscription.
 */
#ifndef KILN_EVENTS_H
#define KILN_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/kiln_err.h"

#define EVENTS_TYPE_MAX 16
/* One event's data, bytes; longer data is refused (log lines are cut by
 * the worker long before this). */
#define EVENTS_DATA_MAX 16384

struct events_conf {
	size_t ring_events;     /* events kept per job (default 2048) */
	size_t ring_bytes;      /* data bytes kept per job (default 1 MiB) */
	size_t keep_finished;   /* rings of finished jobs kept (default 64) */
	size_t max_rings;       /* all rings; the oldest finished go first (default 4096) */
};

struct events_item {
	uint64_t id;
	int64_t job;
	char type[EVENTS_TYPE_MAX];
	const char *data;       /* JSON text, NUL-terminated, owned by the hub */
	size_t len;
};

typedef void (*events_fn)(void *arg, const struct events_item *it);

struct events;
struct events_sub;

/* conf may be NULL for the defaults; caller frees with events_free()
 * (accepts NULL; no subscription may remain in use). */
int events_new(const struct events_conf *conf, struct events **out, struct kiln_err *err);
void events_free(struct events *ev);

/* Appends an event (data copied) and notifies subscribers.  *id (may be
 * NULL) receives its id.  KILN_EINVAL for an oversized event. */
int events_publish(struct events *ev, int64_t job, const char *type, const char *json,
		   uint64_t *id);

void events_finish(struct events *ev, int64_t job);

/* Calls fn for up to max events of job with id > after (0 = no limit);
 * returns how many.  *gap (may be NULL) is set as described above. */
size_t events_read(struct events *ev, int64_t job, uint64_t after, size_t max,
		   events_fn fn, void *arg, int *gap);

/* Blocks until job has an event with id > after (returns 1) or timeout_ms
 * passes (returns 0; negative timeout = no limit). */
int events_wait(struct events *ev, int64_t job, uint64_t after, int timeout_ms);

/* The newest id published so far (any job). */
uint64_t events_last_id(struct events *ev);

/* notify runs on the publishing thread for each event of job (0 = every
 * job).  Caller ends it with events_unsubscribe(). */
int events_subscribe(struct events *ev, int64_t job, events_fn notify, void *arg,
		     struct events_sub **out, struct kiln_err *err);
void events_unsubscribe(struct events *ev, struct events_sub *sub);

#endif
