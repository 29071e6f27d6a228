/*
 * libmg_soft_fido2.so: an LD_PRELOAD shim that puts the soft authenticators of the state
 * file named by $MG_SOFT_FIDO2_STATE behind libfido2's public API, so that a program using
 * only libfido2 (the PAM module) runs against them unchanged. Without the variable every
 * override falls through to libfido2.
 *
 * Overrides: fido_dev_info_manifest (lists the present "soft:N" authenticators),
 * fido_dev_open (installs our fido_dev_io_t for "soft:N" paths, then calls libfido2's) and
 * fido_dev_new_with_info (same, for fido_dev_open_with_info users: an info entry's I/O
 * functions alone leave libfido2 treating the handle as a hidraw one).
 *
 * Each authenticator is one in-process soft_ctap object per (state file, path), with its
 * own mutex and condition variable; each open handle gets a copy of every input report, as
 * hidraw does. The state file is re-read on every open and rewritten (serialised, atomic)
 * after every change the authenticator makes.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fido.h>

#include "soft_state.h"

#define EXPORT __attribute__((visibility("default")))

#define SOFT_VENDOR_ID  0x1209 /* pid.codes */
#define SOFT_PRODUCT_ID 0x0001 /* pid.codes test PID */
#define HANDLE_QUEUE    256    /* input reports buffered per handle (a 7609-byte message is 130) */

struct soft_handle;

struct soft_dev {
	struct soft_dev *next;
	char *file;
	char path[16];
	pthread_mutex_t lock;
	pthread_cond_t cond; /* CLOCK_MONOTONIC; signalled when reports are queued */
	struct soft_ctap *sc;
	struct soft_handle *handles;
};

struct soft_handle {
	struct soft_handle *next;
	struct soft_dev *dev;
	size_t head, count;
	uint8_t q[HANDLE_QUEUE][SOFT_CTAP_REPORT_LEN];
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct soft_dev *registry;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static bool is_soft_path(const char *path)
{
	return path != NULL && strncmp(path, "soft:", 5) == 0;
}

/* The real libfido2 function named sym (the next definition after this library). */
static void *next_sym(const char *sym)
{
	void *p = dlsym(RTLD_NEXT, sym);
	if (p == NULL)
		fprintf(stderr, "mg_soft_fido2: %s not found: %s\n", sym, dlerror());
	return p;
}

/* ---- persistence ---- */

static int persist(void *ctx, const struct soft_ctap *sc)
{
	struct soft_dev *d = ctx;
	int r = soft_state_store(d->file, d->path, sc);
	if (r < 0)
		fprintf(stderr, "mg_soft_fido2: cannot save %s in %s: %s\n", d->path, d->file,
		        strerror(-r));
	return r;
}

/* The process's instance of authenticator path of file (created on first use). */
static struct soft_dev *dev_get(const char *file, const char *path)
{
	struct soft_dev *d;
	pthread_condattr_t ca;

	pthread_mutex_lock(&registry_lock);
	for (d = registry; d != NULL; d = d->next)
		if (strcmp(d->file, file) == 0 && strcmp(d->path, path) == 0)
			goto out;
	if (strlen(path) >= sizeof(d->path) || (d = calloc(1, sizeof(*d))) == NULL)
		goto out;
	if ((d->file = strdup(file)) == NULL || (d->sc = soft_ctap_new()) == NULL) {
		soft_ctap_free(&d->sc);
		free(d->file);
		free(d);
		d = NULL;
		goto out;
	}
	snprintf(d->path, sizeof(d->path), "%s", path);
	pthread_mutex_init(&d->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cond, &ca);
	pthread_condattr_destroy(&ca);
	soft_ctap_set_persist(d->sc, persist, d);
	d->next = registry;
	registry = d;
out:
	pthread_mutex_unlock(&registry_lock);
	return d;
}

/* Moves every input report due now to every open handle (hidraw semantics). Locked. */
static void pump(struct soft_dev *d, uint64_t now)
{
	uint8_t r[SOFT_CTAP_REPORT_LEN];
	bool any = false;
	while (soft_ctap_hid_read(d->sc, r, now) == 1) {
		for (struct soft_handle *h = d->handles; h != NULL; h = h->next) {
			if (h->count == HANDLE_QUEUE) { /* overflow: the oldest report is lost */
				h->head = (h->head + 1) % HANDLE_QUEUE;
				h->count--;
			}
			memcpy(h->q[(h->head + h->count) % HANDLE_QUEUE], r, sizeof(r));
			h->count++;
		}
		any = true;
	}
	if (any)
		pthread_cond_broadcast(&d->cond);
}

/* ---- fido_dev_io_t ---- */

static void *io_open(const char *path)
{
	const char *file = getenv(SOFT_STATE_ENV);
	struct soft_dev *d;
	struct soft_handle *h;
	bool present = false;

	if (file == NULL || !is_soft_path(path) || (d = dev_get(file, path)) == NULL ||
	    (h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	pthread_mutex_lock(&d->lock);
	int r = soft_state_load(file, path, d->sc, &present);
	if (r < 0 || !present) {
		pthread_mutex_unlock(&d->lock);
		if (r < 0 && r != -ENOENT)
			fprintf(stderr, "mg_soft_fido2: %s: cannot load %s: %s\n", file, path,
			        strerror(-r));
		free(h);
		return NULL;
	}
	h->dev = d;
	h->next = d->handles;
	d->handles = h;
	pthread_mutex_unlock(&d->lock);
	return h;
}

static void io_close(void *handle)
{
	struct soft_handle *h = handle;
	struct soft_dev *d = h->dev;

	pthread_mutex_lock(&d->lock);
	for (struct soft_handle **p = &d->handles; *p != NULL; p = &(*p)->next)
		if (*p == h) {
			*p = h->next;
			break;
		}
	/* nobody listens any more: drop channels and abandon a command waiting for touch */
	if (d->handles == NULL)
		soft_ctap_hid_reset(d->sc);
	pthread_mutex_unlock(&d->lock);
	free(h);
}

/* libfido2 writes report id 0 followed by one 64-byte report. */
static int io_write(void *handle, const unsigned char *buf, size_t len)
{
	struct soft_handle *h = handle;
	struct soft_dev *d = h->dev;

	if (len != SOFT_CTAP_REPORT_LEN + 1 || buf[0] != 0)
		return -1;
	pthread_mutex_lock(&d->lock);
	uint64_t now = now_ms();
	int r = soft_ctap_hid_write(d->sc, buf + 1, SOFT_CTAP_REPORT_LEN, now);
	pump(d, now);
	pthread_mutex_unlock(&d->lock);
	return r < 0 ? -1 : (int)len;
}

static void abs_deadline(uint64_t when_ms, struct timespec *ts)
{
	ts->tv_sec = (time_t)(when_ms / 1000);
	ts->tv_nsec = (long)(when_ms % 1000) * 1000000L;
}

/*
 * One 64-byte input report within ms milliseconds (-1: no limit), like hidraw: -1 when none
 * arrived in time. KEEPALIVEs keep arriving while the authenticator waits for a touch.
 */
static int io_read(void *handle, unsigned char *buf, size_t len, int ms)
{
	struct soft_handle *h = handle;
	struct soft_dev *d = h->dev;
	int r = -1;

	if (len != SOFT_CTAP_REPORT_LEN)
		return -1;
	pthread_mutex_lock(&d->lock);
	uint64_t now = now_ms();
	const uint64_t deadline = ms < 0 ? UINT64_MAX : now + (uint64_t)ms;
	for (;;) {
		pump(d, now);
		if (h->count > 0) {
			memcpy(buf, h->q[h->head], SOFT_CTAP_REPORT_LEN);
			h->head = (h->head + 1) % HANDLE_QUEUE;
			h->count--;
			r = (int)len;
			break;
		}
		if (now >= deadline)
			break;
		uint64_t wake = soft_ctap_hid_next_ms(d->sc);
		if (wake > deadline)
			wake = deadline;
		if (wake <= now)
			wake = now + 1;
		if (wake == UINT64_MAX) {
			pthread_cond_wait(&d->cond, &d->lock);
		} else {
			struct timespec ts;
			abs_deadline(wake, &ts);
			pthread_cond_timedwait(&d->cond, &d->lock, &ts);
		}
		now = now_ms();
	}
	pthread_mutex_unlock(&d->lock);
	return r;
}

static const fido_dev_io_t soft_io = {
    .open = io_open,
    .close = io_close,
    .read = io_read,
    .write = io_write,
};

/* ---- vendor and product ids ---- */

/*
 * libfido2 1.12 has no setter for an info entry's vendor/product id. Its private layout
 * (src/fido/types.h) is mirrored here and used only after checking, through the public
 * getters, that the mirror matches this libfido2; otherwise the ids stay 0.
 */
struct info_1_12 {
	char *path;
	int16_t vendor_id;
	int16_t product_id;
	char *manufacturer;
	char *product;
	fido_dev_io_t io;
	fido_dev_transport_t transport;
};

static bool layout_matches(fido_dev_info_t *devlist, size_t n)
{
	const struct info_1_12 *m = (const struct info_1_12 *)(void *)devlist;
	for (size_t i = 0; i < n; i++) {
		const fido_dev_info_t *di = fido_dev_info_ptr(devlist, i);
		if ((const void *)di != (const void *)&m[i] ||
		    fido_dev_info_path(di) != m[i].path ||
		    fido_dev_info_manufacturer_string(di) != m[i].manufacturer ||
		    fido_dev_info_product_string(di) != m[i].product)
			return false;
	}
	return true;
}

static void set_ids(fido_dev_info_t *devlist, size_t n)
{
	if (n == 0 || !layout_matches(devlist, n))
		return;
	struct info_1_12 *m = (struct info_1_12 *)(void *)devlist;
	for (size_t i = 0; i < n; i++) {
		m[i].vendor_id = (int16_t)SOFT_VENDOR_ID;
		m[i].product_id = (int16_t)SOFT_PRODUCT_ID;
	}
}

/* ---- overrides ---- */

EXPORT int fido_dev_info_manifest(fido_dev_info_t *devlist, size_t ilen, size_t *olen);
EXPORT int fido_dev_open(fido_dev_t *dev, const char *path);
EXPORT fido_dev_t *fido_dev_new_with_info(const fido_dev_info_t *di);

int fido_dev_info_manifest(fido_dev_info_t *devlist, size_t ilen, size_t *olen)
{
	const char *file = getenv(SOFT_STATE_ENV);
	struct soft_state *st = NULL;
	char err[512];

	if (file == NULL) {
		int (*real)(fido_dev_info_t *, size_t, size_t *);
		void *p = next_sym("fido_dev_info_manifest");
		if (p == NULL)
			return FIDO_ERR_INTERNAL;
		memcpy(&real, &p, sizeof(real));
		return real(devlist, ilen, olen);
	}
	*olen = 0;
	if (soft_state_read(file, &st, err, sizeof(err)) < 0) {
		fprintf(stderr, "mg_soft_fido2: %s\n", err);
		return FIDO_ERR_INTERNAL;
	}
	int r = FIDO_OK;
	for (size_t i = 0; i < st->n && *olen < ilen; i++) {
		if (!st->key[i].present)
			continue;
		if ((r = fido_dev_info_set(devlist, *olen, st->key[i].path, "mynaguard",
		                           "soft-ctap", &soft_io, NULL)) != FIDO_OK)
			break;
		(*olen)++;
	}
	set_ids(devlist, *olen);
	soft_state_free(&st);
	return r;
}

int fido_dev_open(fido_dev_t *dev, const char *path)
{
	int (*real)(fido_dev_t *, const char *);
	void *p = next_sym("fido_dev_open");

	if (p == NULL)
		return FIDO_ERR_INTERNAL;
	memcpy(&real, &p, sizeof(real));
	if (getenv(SOFT_STATE_ENV) != NULL && is_soft_path(path)) {
		int r = fido_dev_set_io_functions(dev, &soft_io);
		if (r != FIDO_OK)
			return r;
	}
	return real(dev, path);
}

fido_dev_t *fido_dev_new_with_info(const fido_dev_info_t *di)
{
	fido_dev_t *(*real)(const fido_dev_info_t *);
	void *p = next_sym("fido_dev_new_with_info");
	fido_dev_t *dev;

	if (p == NULL)
		return NULL;
	memcpy(&real, &p, sizeof(real));
	if ((dev = real(di)) == NULL)
		return NULL;
	/* TESTING.md §3: the entry's I/O functions alone fail with FIDO_ERR_RX */
	if (getenv(SOFT_STATE_ENV) != NULL && is_soft_path(fido_dev_info_path(di)) &&
	    fido_dev_set_io_functions(dev, &soft_io) != FIDO_OK)
		fido_dev_free(&dev);
	return dev;
}
