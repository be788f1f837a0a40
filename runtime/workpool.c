/*
 * workpool: fixed threads taking tasks from one FIFO (see workpool.h).
 * The queue is a singly linked list under one mutex; a task is malloc'ed at
 * submit and freed by the thread that ran (or cancelled) it.  Tasks are
 * never run under the pool's lock, so a task may submit another.
 */
#include "runtime/workpool.h"

#include <pthread.h>
#include <stdlib.h>

struct task {
	workpool_fn fn;
	void *arg;
	struct task *next;
};

struct workpool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct task *head, *tail;
	int stopping;
	int running;          /* tasks being run now */
	int queued;
	int n;
	pthread_t *threads;
};

static void *pool_main(void *arg)
{
	/* its own name in profiles and top, not its creator's ("MHD-worker") */
	pthread_setname_np(pthread_self(), "kiln-work");
	struct workpool *wp = arg;
	pthread_mutex_lock(&wp->lock);
	for (;;) {
		while (wp->head == NULL && !wp->stopping)
			pthread_cond_wait(&wp->cond, &wp->lock);
		if (wp->head == NULL)
			break; /* stopping and drained */
		struct task *t = wp->head;
		wp->head = t->next;
		if (wp->head == NULL)
			wp->tail = NULL;
		wp->queued--;
		wp->running++;
		int cancelled = wp->stopping;
		pthread_mutex_unlock(&wp->lock);
		t->fn(t->arg, cancelled);
		free(t);
		pthread_mutex_lock(&wp->lock);
		wp->running--;
	}
	pthread_mutex_unlock(&wp->lock);
	return NULL;
}

int workpool_new(int threads, struct workpool **out, struct kiln_err *err)
{
	if (threads < 1)
		threads = 1;
	struct workpool *wp = calloc(1, sizeof(*wp));
	if (wp == NULL || (wp->threads = calloc((size_t)threads, sizeof(pthread_t))) == NULL) {
		free(wp);
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	}
	pthread_mutex_init(&wp->lock, NULL);
	pthread_cond_init(&wp->cond, NULL);
	for (int i = 0; i < threads; i++) {
		if (pthread_create(&wp->threads[i], NULL, pool_main, wp) != 0) {
			workpool_free(wp);
			return kiln_errf(err, KILN_EIO, "", "cannot start work thread %d", i);
		}
		wp->n++;
	}
	*out = wp;
	return 0;
}

int workpool_submit(struct workpool *wp, workpool_fn fn, void *arg, struct kiln_err *err)
{
	struct task *t = malloc(sizeof(*t));
	if (t == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	t->fn = fn;
	t->arg = arg;
	t->next = NULL;
	pthread_mutex_lock(&wp->lock);
	if (wp->stopping) {
		pthread_mutex_unlock(&wp->lock);
		free(t);
		return kiln_errf(err, KILN_EUNAVAIL, "", "kilnd is stopping; try again later");
	}
	if (wp->tail)
		wp->tail->next = t;
	else
		wp->head = t;
	wp->tail = t;
	wp->queued++;
	pthread_cond_signal(&wp->cond);
	pthread_mutex_unlock(&wp->lock);
	return 0;
}

void workpool_cancel_queued(struct workpool *wp)
{
	if (wp == NULL)
		return;
	pthread_mutex_lock(&wp->lock);
	struct task *t = wp->head;
	wp->head = wp->tail = NULL;
	wp->queued = 0;
	wp->stopping = 1;
	pthread_cond_broadcast(&wp->cond);
	pthread_mutex_unlock(&wp->lock);
	while (t) {
		struct task *next = t->next;
		t->fn(t->arg, 1);
		free(t);
		t = next;
	}
}

int workpool_busy(struct workpool *wp)
{
	pthread_mutex_lock(&wp->lock);
	int n = wp->running + wp->queued;
	pthread_mutex_unlock(&wp->lock);
	return n;
}

void workpool_free(struct workpool *wp)
{
	if (wp == NULL)
		return;
	workpool_cancel_queued(wp);
	for (int i = 0; i < wp->n; i++)
		pthread_join(wp->threads[i], NULL);
	pthread_cond_destroy(&wp->cond);
	pthread_mutex_destroy(&wp->lock);
	free(wp->threads);
	free(wp);
}
