/* Per-thread bump arena behind jansson's allocator hooks (json_arena.h). */
#include "json_arena.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <jansson.h>

/* Reserved address space per work thread; pages become resident only as they are used. A
 * 1 MiB body makes a tree of at most a few MiB; anything beyond falls back to malloc. */
#define ARENA_SIZE (32u * 1024u * 1024u)
/* After a batch that used more than this, the pages beyond it go back to the system. */
#define ARENA_KEEP (4u * 1024u * 1024u)
#define ALIGN      16u

struct arena {
	char *base;
	size_t used;
	bool inside; /* between begin and end */
	bool active; /* inside and not paused */
};

static _Thread_local struct arena tl;

static bool in_arena(const void *p)
{
	return tl.base && (const char *)p >= tl.base && (const char *)p < tl.base + ARENA_SIZE;
}

static void *arena_malloc(size_t n)
{
	if (tl.active) {
		size_t need = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
		if (need >= n && need <= ARENA_SIZE - tl.used) {
			void *p = tl.base + tl.used;
			tl.used += need;
			return p;
		}
	}
	return malloc(n);
}

static void arena_free(void *p)
{
	if (!in_arena(p)) /* inside: reclaimed all at once by mg_json_arena_end() */
		free(p);
}

void mg_json_arena_install(void)
{
	json_set_alloc_funcs(arena_malloc, arena_free);
}

int mg_json_arena_begin(void)
{
	if (!tl.base) {
		void *p = mmap(NULL, ARENA_SIZE, PROT_READ | PROT_WRITE,
		               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED)
			return -ENOMEM;
		tl.base = p;
	}
	tl.used = 0;
	tl.inside = tl.active = true;
	return 0;
}

void mg_json_arena_end(void)
{
	if (!tl.base)
		return;
	tl.inside = tl.active = false;
	/* Keep the first ARENA_KEEP bytes resident for the next batch; give back the rest. */
	if (tl.used > ARENA_KEEP)
		madvise(tl.base + ARENA_KEEP, tl.used - ARENA_KEEP, MADV_DONTNEED);
	tl.used = 0;
}

void mg_json_arena_pause(void)
{
	tl.active = false;
}

void mg_json_arena_resume(void)
{
	tl.active = tl.inside;
}

size_t mg_json_arena_used(void)
{
	return tl.used;
}
