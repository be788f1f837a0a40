/*
 * conn_guard: deadlines for request headers and room for fresh clients
 * (see conn_guard.h).  One mutex guards a doubly linked FIFO of the
 * connections waiting for headers, oldest first: opening, a request's
 * headers, its end and the reap are O(1) each (the reap stops at the first
 * connection still in time).
 */
#include "server/conn_guard.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

struct conn_guard_conn {
	int fd;
	int waiting;             /* in the FIFO */
	double since;            /* monotonic seconds: waiting since */
	struct conn_guard_conn *prev, *next;
};

struct conn_guard {
	pthread_mutex_t lock;
	int header_timeout;
	long evict_at;
	long open;               /* connections opened and not closed */
	struct conn_guard_conn *head, *tail;  /* waiting, oldest first */
};

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void unlink_conn(struct conn_guard *g, struct conn_guard_conn *c)
{
	if (!c->waiting)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		g->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		g->tail = c->prev;
	c->prev = c->next = NULL;
	c->waiting = 0;
}

static void append_conn(struct conn_guard *g, struct conn_guard_conn *c)
{
	unlink_conn(g, c);
	c->since = now_s();
	c->prev = g->tail;
	if (g->tail)
		g->tail->next = c;
	else
		g->head = c;
	g->tail = c;
	c->waiting = 1;
}

/* Ends c's connection; it leaves the FIFO so it is not ended twice, and
 * stays counted until conn_guard_close(). */
static void end_conn(struct conn_guard *g, struct conn_guard_conn *c)
{
	unlink_conn(g, c);
	shutdown(c->fd, SHUT_RDWR);
}

struct conn_guard *conn_guard_new(int header_timeout_s, long evict_at)
{
	struct conn_guard *g = calloc(1, sizeof(*g));
	if (g == NULL)
		return NULL;
	pthread_mutex_init(&g->lock, NULL);
	g->header_timeout = header_timeout_s;
	g->evict_at = evict_at;
	return g;
}

void conn_guard_free(struct conn_guard *g)
{
	if (g == NULL)
		return;
	/* Every connection was closed (conn_guard_close) when the daemon
	 * stopped: nothing is left to free. */
	pthread_mutex_destroy(&g->lock);
	free(g);
}

struct conn_guard_conn *conn_guard_open(struct conn_guard *g, int fd, int *evicted)
{
	*evicted = 0;
	struct conn_guard_conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->fd = fd;
	pthread_mutex_lock(&g->lock);
	g->open++;
	/* At the limit the one that has waited longest for its headers makes
	 * room: a slow sender loses its place, not the client that has just
	 * arrived and sends its request at once. */
	if (g->evict_at > 0 && g->open > g->evict_at && g->head) {
		end_conn(g, g->head);
		*evicted = 1;
	}
	append_conn(g, c);
	pthread_mutex_unlock(&g->lock);
	return c;
}

void conn_guard_busy(struct conn_guard *g, struct conn_guard_conn *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&g->lock);
	unlink_conn(g, c);
	pthread_mutex_unlock(&g->lock);
}

void conn_guard_idle(struct conn_guard *g, struct conn_guard_conn *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&g->lock);
	append_conn(g, c);
	pthread_mutex_unlock(&g->lock);
}

void conn_guard_close(struct conn_guard *g, struct conn_guard_conn *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&g->lock);
	unlink_conn(g, c);
	g->open--;
	pthread_mutex_unlock(&g->lock);
	free(c);
}

size_t conn_guard_reap(struct conn_guard *g)
{
	size_t n = 0;
	double limit = now_s() - g->header_timeout;
	pthread_mutex_lock(&g->lock);
	while (g->head && g->head->since <= limit) {
		end_conn(g, g->head);
		n++;
	}
	pthread_mutex_unlock(&g->lock);
	return n;
}
