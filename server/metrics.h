/*
 * metrics: counters behind GET /metrics (Prometheus text format 0.0.4):
 * requests by route and status, a request-duration histogram per route,
 * open connections and uptime.  Lock-free (atomics), since every request
 * touches it.
 */
#ifndef KILN_METRICS_H
#define KILN_METRICS_H

#include <stddef.h>

struct metrics;

/* route_names[i] labels route i; index n is "unmatched".  The names are
 * borrowed and must outlive the metrics.  Caller frees with metrics_free(). */
struct metrics *metrics_new(const char *const *route_names, size_t n);
void metrics_free(struct metrics *m);

/* route = -1 for a request that matched no route. */
void metrics_observe(struct metrics *m, int route, unsigned status, double seconds);
void metrics_connections(struct metrics *m, int delta);
/* Connections kilnd ended itself: too slow with their headers
 * (header_timeout), or the oldest waiting one, to make room near
 * connection_limit. */
void metrics_connections_cut(struct metrics *m, unsigned long timed_out, unsigned long evicted);
void metrics_in_flight(struct metrics *m, int delta);

/* Renders the text exposition; returns a new buffer the caller frees with
 * free(), or NULL when out of memory. */
char *metrics_render(struct metrics *m, size_t *len);

#endif
