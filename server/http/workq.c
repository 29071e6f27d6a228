/* A fixed thread pool over an intrusive FIFO (workq.h). */
#include "workq.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct mg_workq {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct mg_workq_item *head, *tail;
	bool stopping;
	unsigned n;
	pthread_t threads[];
};

static void *worker(void *arg)
{
	struct mg_workq *q = arg;
	pthread_mutex_lock(&q->mu);
	for (;;) {
		while (!q->head && !q->stopping)
			pthread_cond_wait(&q->cv, &q->mu);
		struct mg_workq_item *it = q->head;
		if (!it)
			break; /* stopping and drained */
		q->head = it->next;
		if (!q->head)
			q->tail = NULL;
		pthread_mutex_unlock(&q->mu);
		it->next = NULL;
		it->fn(it);
		pthread_mutex_lock(&q->mu);
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

int mg_workq_start(unsigned n, const char *name, struct mg_workq **out)
{
	if (n < 1 || n > 256 || !name || strlen(name) > 15 || !out)
		return -EINVAL;
	struct mg_workq *q = calloc(1, sizeof(*q) + n * sizeof(pthread_t));
	if (!q)
		return -ENOMEM;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	for (; q->n < n; q->n++) {
		if (pthread_create(&q->threads[q->n], NULL, worker, q) != 0) {
			mg_workq_stop(&q);
			return -EAGAIN;
		}
		pthread_setname_np(q->threads[q->n], name);
	}
	*out = q;
	return 0;
}

void mg_workq_push(struct mg_workq *q, struct mg_workq_item *it)
{
	it->next = NULL;
	pthread_mutex_lock(&q->mu);
	if (q->tail)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

void mg_workq_stop(struct mg_workq **qp)
{
	if (!qp || !*qp)
		return;
	struct mg_workq *q = *qp;
	pthread_mutex_lock(&q->mu);
	q->stopping = true;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	for (unsigned i = 0; i < q->n; i++)
		pthread_join(q->threads[i], NULL);
	pthread_cond_destroy(&q->cv);
	pthread_mutex_destroy(&q->mu);
	free(q);
	*qp = NULL;
}
