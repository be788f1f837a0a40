/*
 * workpool: a few threads for heavy work that must not run on the HTTP
 * threads — dataset ingest, ONNX inspection, cut, rewrite, graph files.
 * Bounded concurrency: at most `threads` tasks run at once; the rest wait
 * in a FIFO (each waiting task is a parked connection or a dataset row, so
 * the queue is bounded by the HTTP connection limit).  Knows nothing of
 * HTTP; server/http.c and the routes submit to it.
 *
 *   workpool_new(n, &wp, err)          starts n threads
 *   workpool_submit(wp, fn, arg, err)  fn(arg, 0) runs on a pool thread
 *   workpool_cancel_queued(wp)         every task not started yet runs now
 *                                      as fn(arg, 1): it must only clean up
 *   workpool_free(wp)                  cancels the queue, waits for running
 *                                      tasks, joins; accepts NULL
 */
#ifndef KILN_WORKPOOL_H
#define KILN_WORKPOOL_H

#include "runtime/kiln_err.h"

struct workpool;

/* cancelled is 1 when the pool is stopping and the task never started:
 * release what arg holds and return.  fn owns arg either way. */
typedef void (*workpool_fn)(void *arg, int cancelled);

int workpool_new(int threads, struct workpool **out, struct kiln_err *err);
/* 0, or KILN_EUNAVAIL once the pool is stopping (fn is then not called). */
int workpool_submit(struct workpool *wp, workpool_fn fn, void *arg, struct kiln_err *err);
void workpool_cancel_queued(struct workpool *wp);
/* Tasks queued or running now (for metrics and tests). */
int workpool_busy(struct workpool *wp);
void workpool_free(struct workpool *wp);

#endif
