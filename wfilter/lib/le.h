/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Little-endian load/store helpers for the portable wfilter logic.
 *
 * The code in wfilter/lib/ is compiled three ways: into cbtrep.sys (freestanding, mingw),
 * into cbtrep.exe (mingw user mode) and into Linux unit tests. It parses and builds Windows
 * wire structures byte by byte so it never depends on the Windows headers' struct layout
 * and never performs an unaligned access.
 */
#ifndef CBT_WF_LE_H
#define CBT_WF_LE_H

#include <stdint.h>

static inline uint16_t cbt_ld16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t cbt_ld32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

static inline uint64_t cbt_ld64(const uint8_t *p)
{
	return (uint64_t)cbt_ld32(p) | ((uint64_t)cbt_ld32(p + 4) << 32);
}

static inline void cbt_st16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void cbt_st32(uint8_t *p, uint32_t v)
{
	cbt_st16(p, (uint16_t)v);
	cbt_st16(p + 2, (uint16_t)(v >> 16));
}

#endif
