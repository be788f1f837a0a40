/*
 * test_workpool: the work pool that keeps heavy request work off the HTTP
 * threads — never more than `threads` tasks at once, FIFO, and a stop that
 * runs every task not started as cancelled (so each can free what it holds
 * and answer its request) while the running ones finish.
 * Tasks wait on a gate the test opens; nothing sleeps.
 */
#include <pthread.h>
#include <stdlib.h>

#include "kt.h"
#include "runtime/workpool.h"

struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int open;
	int running, max_running, ran, cancelled;
	int order[16], n_order;
};

struct task {
	struct gate *g;
	int id;
};

static void gated(void *arg, int cancelled)
{
	struct task *t = arg;
	struct gate *g = t->g;
	pthread_mutex_lock(&g->mu);
	if (cancelled) {
		g->cancelled++;
		pthread_mutex_unlock(&g->mu);
		free(t);
		return;
	}
	g->running++;
	if (g->running > g->max_running)
		g->max_running = g->running;
	if (g->n_order < 16)
		g->order[g->n_order++] = t->id;
	pthread_cond_broadcast(&g->cv);
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->mu);
	g->running--;
	g->ran++;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
	free(t);
}

static void gate_init(struct gate *g)
{
	*g = (struct gate){0};
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
}

static int submit(struct workpool *wp, struct gate *g, int id)
{
	struct task *t = malloc(sizeof(*t));
	struct kiln_err err;
	t->g = g;
	t->id = id;
	int rc = workpool_submit(wp, gated, t, &err);
	if (rc != 0)
		free(t);
	return rc;
}

static void never_more_than_threads_at_once_in_order(void)
{
	struct gate g;
	gate_init(&g);
	struct workpool *wp = NULL;
	struct kiln_err err;
	if (!CHECK(workpool_new(2, &wp, &err) == 0))
		return;
	for (int i = 0; i < 6; i++)
		CHECK(submit(wp, &g, i) == 0);
	pthread_mutex_lock(&g.mu);
	while (g.running < 2)
		pthread_cond_wait(&g.cv, &g.mu);
	pthread_mutex_unlock(&g.mu);
	CHECK_INT(workpool_busy(wp), 6);
	pthread_mutex_lock(&g.mu);
	CHECK_INT(g.running, 2);
	g.open = 1;
	pthread_cond_broadcast(&g.cv);
	while (g.ran < 6)
		pthread_cond_wait(&g.cv, &g.mu);
	pthread_mutex_unlock(&g.mu);
	CHECK_INT(g.max_running, 2);
	CHECK_INT(g.cancelled, 0);
	/* FIFO: the first two start first (both were in before the gate
	 * opened).  The last is taken last, but a task is recorded only once
	 * its thread runs it: when task 5 records, every other task has been
	 * taken, and only the one the other thread holds may not have recorded
	 * yet, so 5 is one of the last two recorded (a loaded CI machine saw
	 * 3 recorded after 5). */
	CHECK((g.order[0] == 0 || g.order[0] == 1) && (g.order[1] == 0 || g.order[1] == 1));
	CHECKF(g.order[4] == 5 || g.order[5] == 5, "order %d %d %d %d %d %d", g.order[0],
	       g.order[1], g.order[2], g.order[3], g.order[4], g.order[5]);
	workpool_free(wp);
}

static void stopping_cancels_the_queue_and_waits_for_the_running(void)
{
	struct gate g;
	gate_init(&g);
	struct workpool *wp = NULL;
	struct kiln_err err;
	if (!CHECK(workpool_new(1, &wp, &err) == 0))
		return;
	for (int i = 0; i < 4; i++)
		CHECK(submit(wp, &g, i) == 0);
	pthread_mutex_lock(&g.mu);
	while (g.running < 1)
		pthread_cond_wait(&g.cv, &g.mu);
	pthread_mutex_unlock(&g.mu);
	workpool_cancel_queued(wp);          /* the 3 queued run now, cancelled */
	CHECK_INT(g.cancelled, 3);
	CHECK(submit(wp, &g, 9) == KILN_EUNAVAIL);
	pthread_mutex_lock(&g.mu);
	CHECK_INT(g.running, 1);             /* the running one was not touched */
	g.open = 1;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mu);
	workpool_free(wp);                   /* joins it */
	CHECK_INT(g.ran, 1);
	workpool_free(NULL);
}

int main(int argc, char **argv)
{
	static const struct kt_test tests[] = {
		{"never_more_than_threads_at_once_in_order",
		 never_more_than_threads_at_once_in_order},
		{"stopping_cancels_the_queue_and_waits_for_the_running",
		 stopping_cancels_the_queue_and_waits_for_the_running},
	};
	return kt_main("workpool", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
