/*
 * Bump allocation for jansson while a work thread parses one request body.
 *
 * A 1,000-event batch is a jansson tree of about 50,000 small nodes, all freed together when
 * the batch is parsed: with malloc, allocating and freeing them was a third of the parse
 * (docs/PERFORMANCE.md). Between mg_json_arena_begin() and mg_json_arena_end() every jansson
 * allocation of the calling thread comes from that thread's arena (one reserved region, used
 * front to back; frees inside it do nothing) and the whole arena is reset at the end. Other
 * threads, and this thread outside the pair, use malloc as before.
 *
 * Rule: nothing jansson allocates inside the pair may outlive it. Text that must survive (the
 * canonical event JSON) is written between mg_json_arena_pause() and mg_json_arena_resume().
 * When the region is full, allocations fall back to malloc (and are freed normally).
 */
#ifndef MG_JSON_ARENA_H
#define MG_JSON_ARENA_H

#include <stddef.h>

/* Installs the allocator into jansson. Once, before any thread uses jansson. */
void mg_json_arena_install(void);
/* This thread allocates jansson nodes from its arena until mg_json_arena_end(). 0 or -ENOMEM
 * (no arena: jansson keeps using malloc, which is correct, only slower). */
int mg_json_arena_begin(void);
/* Back to malloc; the arena is reset (its memory reused by the next begin). */
void mg_json_arena_end(void);
/* Between begin and end: malloc for a while (for results that must outlive the arena). */
void mg_json_arena_pause(void);
void mg_json_arena_resume(void);
/* Bytes the calling thread's arena handed out since its begin (tests). */
size_t mg_json_arena_used(void);

#endif
