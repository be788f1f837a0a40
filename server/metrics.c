/*
 * metrics: atomic counters and their Prometheus rendering (see metrics.h).
 * Status codes are counted in a flat array per route (100..599), which is a
 * few kB per route and needs no lock or hash on the request path.
 */
#include "server/metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/answers.h"

static const double BUCKETS[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
				  0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define N_BUCKETS (sizeof(BUCKETS) / sizeof(BUCKETS[0]))
#define N_STATUS 500 /* 100..599 */

struct route_stats {
	atomic_ulong status[N_STATUS];
	atomic_ulong bucket[N_BUCKETS + 1]; /* last = +Inf */
	atomic_ulong count;
	atomic_ullong sum_us;
};

struct metrics {
	const char *const *names;
	size_t n;
	struct route_stats *routes;  /* n + 1 */
	atomic_long connections;
	atomic_ulong cut_timeout, cut_evicted;
	atomic_long in_flight;
	struct timespec started;
};

struct metrics *metrics_new(const char *const *route_names, size_t n)
{
	struct metrics *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NULL;
	m->routes = calloc(n + 1, sizeof(*m->routes));
	if (m->routes == NULL) {
		free(m);
		return NULL;
	}
	m->names = route_names;
	m->n = n;
	clock_gettime(CLOCK_MONOTONIC, &m->started);
	return m;
}

void metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	free(m->routes);
	free(m);
}

void metrics_observe(struct metrics *m, int route, unsigned status, double seconds)
{
	struct route_stats *r = &m->routes[route < 0 ? m->n : (size_t)route];
	if (status >= 100 && status < 600)
		atomic_fetch_add_explicit(&r->status[status - 100], 1, memory_order_relaxed);
	size_t b = 0;
	while (b < N_BUCKETS && seconds > BUCKETS[b])
		b++;
	atomic_fetch_add_explicit(&r->bucket[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->sum_us, (unsigned long long)(seconds * 1e6),
				  memory_order_relaxed);
}

void metrics_connections(struct metrics *m, int delta)
{
	atomic_fetch_add_explicit(&m->connections, delta, memory_order_relaxed);
}

void metrics_connections_cut(struct metrics *m, unsigned long timed_out, unsigned long evicted)
{
	atomic_fetch_add_explicit(&m->cut_timeout, timed_out, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->cut_evicted, evicted, memory_order_relaxed);
}

struct buf {
	char *p;
	size_t len, cap;
	int oom;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct buf *b, const char *fmt, ...)
{
	if (b->oom)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		char *np = realloc(b->p, b->cap * 2 + (size_t)n);
		if (np == NULL) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = b->cap * 2 + (size_t)n;
	}
}

void metrics_in_flight(struct metrics *m, int delta)
{
	atomic_fetch_add_explicit(&m->in_flight, delta, memory_order_relaxed);
}

char *metrics_render(struct metrics *m, size_t *len)
{
	struct buf b = {malloc(8192), 0, 8192, 0};
	if (b.p == NULL)
		return NULL;
	b.p[0] = '\0';
	put(&b, "# HELP kiln_http_requests_total HTTP requests by route and status.\n"
		"# TYPE kiln_http_requests_total counter\n");
	for (size_t i = 0; i <= m->n; i++) {
		const char *name = i < m->n ? m->names[i] : "unmatched";
		for (int s = 0; s < N_STATUS; s++) {
			unsigned long c = atomic_load_explicit(&m->routes[i].status[s],
							       memory_order_relaxed);
			if (c)
				put(&b, "kiln_http_requests_total{route=\"%s\",status=\"%d\"} %lu\n",
				    name, s + 100, c);
		}
	}
	put(&b, "# HELP kiln_http_request_duration_seconds Time from request line to "
		"response queued.\n# TYPE kiln_http_request_duration_seconds histogram\n");
	for (size_t i = 0; i <= m->n; i++) {
		struct route_stats *r = &m->routes[i];
		unsigned long count = atomic_load(&r->count);
		if (count == 0)
			continue;
		const char *name = i < m->n ? m->names[i] : "unmatched";
		unsigned long cum = 0;
		for (size_t k = 0; k < N_BUCKETS; k++) {
			cum += atomic_load(&r->bucket[k]);
			put(&b, "kiln_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %lu\n",
			    name, BUCKETS[k], cum);
		}
		cum += atomic_load(&r->bucket[N_BUCKETS]);
		put(&b, "kiln_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %lu\n",
		    name, cum);
		put(&b, "kiln_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", name,
		    (double)atomic_load(&r->sum_us) / 1e6);
		put(&b, "kiln_http_request_duration_seconds_count{route=\"%s\"} %lu\n", name, cum);
	}
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	double up = (double)(now.tv_sec - m->started.tv_sec) +
		    (double)(now.tv_nsec - m->started.tv_nsec) / 1e9;
	put(&b, "# HELP kiln_http_open_connections Connections open now.\n"
		"# TYPE kiln_http_open_connections gauge\n"
		"kiln_http_open_connections %ld\n", atomic_load(&m->connections));
	put(&b, "# HELP kiln_http_connections_cut_total Connections kilnd ended: request headers "
		"slower than header_timeout, or the oldest waiting one near connection_limit.\n"
		"# TYPE kiln_http_connections_cut_total counter\n"
		"kiln_http_connections_cut_total{reason=\"header_timeout\"} %lu\n"
		"kiln_http_connections_cut_total{reason=\"make_room\"} %lu\n",
		atomic_load(&m->cut_timeout), atomic_load(&m->cut_evicted));
	put(&b, "# HELP kiln_http_answers_reused_total GET answers served again from memory: "
		"no table they were read from changed since (server/answers.h).\n"
		"# TYPE kiln_http_answers_reused_total counter\n"
		"kiln_http_answers_reused_total %lu\n", answers_reused());
	put(&b, "# HELP kiln_http_requests_in_flight Requests begun and not yet answered.\n"
		"# TYPE kiln_http_requests_in_flight gauge\n"
		"kiln_http_requests_in_flight %ld\n", atomic_load(&m->in_flight));
	put(&b, "# HELP kiln_uptime_seconds Seconds since kilnd started.\n"
		"# TYPE kiln_uptime_seconds gauge\nkiln_uptime_seconds %.3f\n", up);
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}
