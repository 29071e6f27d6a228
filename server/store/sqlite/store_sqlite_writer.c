/*
 * The SQLite writer thread: group commit.
 *
 *   worker threads          queue              writer thread
 *   sq_writer_run(fn) --> [job][job][job] --> BEGIN IMMEDIATE
 *        (waits)                                SAVEPOINT; fn(job 1); RELEASE | ROLLBACK TO
 *                                               SAVEPOINT; fn(job 2); ...
 *                                             COMMIT (one fsync of the WAL for all)
 *        <---------- answers every job only after the COMMIT returned ----------
 *
 * A job that fails is rolled back to its savepoint and does not disturb the others. If
 * SQLite rolls the whole transaction back (disk full, I/O error), the jobs already run in it
 * fail with that error too; if COMMIT fails, every job of the group fails. A job waits at most
 * QUEUE_WAIT_S in the queue (then -ETIMEDOUT, never run); once running, its time is bounded
 * by the busy timeout and the I/O.
 */
#include "store_sqlite.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#define QUEUE_WAIT_S 30
#define GROUP_MAX    256

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE };

struct sq_job {
	sq_job_fn fn;
	void *arg;
	int rc;
	enum job_state state;
	pthread_cond_t done;
	struct sq_job *next;
};

struct sq_writer {
	struct sq_conn *conn;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t work;
	struct sq_job *head, *tail;
	bool stopping;
};

/* Every job of jobs[from..to) that had succeeded gets err instead. */
static void fail_succeeded(struct sq_job **jobs, size_t from, size_t to, int err)
{
	for (size_t j = from; j < to; j++)
		if (jobs[j]->rc == 0)
			jobs[j]->rc = err;
}

static void run_group(struct sq_conn *c, struct sq_job **jobs, size_t n)
{
	bool in_txn = false;
	size_t first = 0;
	for (size_t i = 0; i < n; i++) {
		struct sq_job *job = jobs[i];
		if (!in_txn) {
			job->rc = sq_run(c, SQ_BEGIN);
			if (job->rc < 0)
				continue;
			in_txn = true;
			first = i;
		}
		job->rc = sq_run(c, SQ_SAVEPOINT);
		if (job->rc == 0)
			job->rc = job->fn(c, job->arg);
		if (sqlite3_get_autocommit(c->db)) {
			/* SQLite rolled the whole transaction back. */
			int err = job->rc < 0 ? job->rc : -EIO;
			fail_succeeded(jobs, first, i + 1, err);
			in_txn = false;
			continue;
		}
		if (job->rc < 0) {
			int r = sq_run(c, SQ_ROLLBACK_TO);
			if (r == 0)
				r = sq_run(c, SQ_RELEASE);
			if (r < 0) {
				fail_succeeded(jobs, first, i, r);
				sq_run(c, SQ_ROLLBACK);
				in_txn = false;
			}
		} else {
			int r = sq_run(c, SQ_RELEASE);
			if (r < 0)
				job->rc = r;
		}
	}
	if (in_txn) {
		int r = sq_run(c, SQ_COMMIT);
		if (r < 0) {
			fail_succeeded(jobs, first, n, r);
			if (!sqlite3_get_autocommit(c->db))
				sq_run(c, SQ_ROLLBACK);
		}
	}
}

static void *writer_main(void *arg)
{
	struct sq_writer *w = arg;
	struct sq_job *jobs[GROUP_MAX];
	pthread_mutex_lock(&w->mu);
	for (;;) {
		/* An idle writer sleeps until work or stop arrives; callers' waits are bounded. */
		while (!w->head && !w->stopping)
			pthread_cond_wait(&w->work, &w->mu);
		if (!w->head)
			break;
		size_t n = 0;
		while (w->head && n < GROUP_MAX) {
			struct sq_job *job = w->head;
			w->head = job->next;
			job->state = JOB_RUNNING;
			jobs[n++] = job;
		}
		if (!w->head)
			w->tail = NULL;
		pthread_mutex_unlock(&w->mu);
		run_group(w->conn, jobs, n);
		pthread_mutex_lock(&w->mu);
		for (size_t i = 0; i < n; i++) {
			jobs[i]->state = JOB_DONE;
			pthread_cond_signal(&jobs[i]->done);
		}
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int sq_writer_start(struct sq_conn *c, struct sq_writer **out)
{
	struct sq_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->conn = c;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->work, NULL);
	int rc = pthread_create(&w->thread, NULL, writer_main, w);
	if (rc != 0) {
		pthread_cond_destroy(&w->work);
		pthread_mutex_destroy(&w->mu);
		free(w);
		return -rc;
	}
	*out = w;
	return 0;
}

void sq_writer_stop(struct sq_writer **wp)
{
	if (!wp || !*wp)
		return;
	struct sq_writer *w = *wp;
	pthread_mutex_lock(&w->mu);
	w->stopping = true;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	sq_conn_free(&w->conn);
	pthread_cond_destroy(&w->work);
	pthread_mutex_destroy(&w->mu);
	free(w);
	*wp = NULL;
}

/* Removes a job that is still queued. Called with w->mu held. */
static void unlink_job(struct sq_writer *w, struct sq_job *job)
{
	struct sq_job **pp = &w->head, *prev = NULL;
	while (*pp && *pp != job) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (!*pp)
		return;
	*pp = job->next;
	if (w->tail == job)
		w->tail = prev;
}

int sq_writer_run(struct sq_writer *w, sq_job_fn fn, void *arg)
{
	struct sq_job job = {.fn = fn, .arg = arg, .state = JOB_QUEUED};
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&job.done, &attr);
	pthread_condattr_destroy(&attr);
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += QUEUE_WAIT_S;

	pthread_mutex_lock(&w->mu);
	if (w->stopping) {
		pthread_mutex_unlock(&w->mu);
		pthread_cond_destroy(&job.done);
		return -ESHUTDOWN;
	}
	if (w->tail)
		w->tail->next = &job;
	else
		w->head = &job;
	w->tail = &job;
	pthread_cond_signal(&w->work);
	while (job.state != JOB_DONE) {
		int rc = job.state == JOB_QUEUED
		             ? pthread_cond_timedwait(&job.done, &w->mu, &deadline)
		             : pthread_cond_wait(&job.done, &w->mu);
		if (rc == ETIMEDOUT && job.state == JOB_QUEUED) {
			unlink_job(w, &job);
			job.rc = -ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&w->mu);
	pthread_cond_destroy(&job.done);
	return job.rc;
}
