/*
 * Little-endian integers in byte formats (the spool's records, the agent <-> uplink frames):
 * n bytes (1..8) at p, least significant first. Header only.
 */
#ifndef MG_BYTES_H
#define MG_BYTES_H

#include <stdint.h>

static inline void mg_le_put(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t mg_le_get(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

#endif
