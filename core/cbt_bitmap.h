/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * Sparse paged bitmap of one generation: a directory of page pointers allocated up front
 * (process context) and 4 KiB pages allocated on first touch (NOWAIT in the I/O path).
 * Bit i covers bytes [i * granularity, (i + 1) * granularity) of the device; it is bit
 * i % 64 of 64-bit word i / 64, and cbt_bm_read() gives the bitmap.h dump format.
 *
 * cbt_bm_set_range() may run on several CPUs at once, without any lock, and concurrently
 * with the readers (test, read, or_into, mem, dirty): it sets bits with a compare-and-swap
 * only where they are still clear, and installs a missing page with a compare-and-swap.
 * merge and destroy need the bitmap to themselves: the tracker calls them only once no
 * mark can reach it any more (a mark section has ended, cbt_tracker.c).
 */
#ifndef CBT_BITMAP_CORE_H
#define CBT_BITMAP_CORE_H

#include "cbt_os.h"

#define CBT_BM_PAGE_BYTES 4096u
#define CBT_BM_PAGE_BITS (CBT_BM_PAGE_BYTES * 8u)
#define CBT_BM_PAGE_WORDS (CBT_BM_PAGE_BYTES / 8u)

struct cbt_bm {
	uint64_t nr_bits;
	uint64_t nr_pages;
	uint64_t generation;
	cbt_atomic64_t dirty_bits; /* bits set (not counting "full") */
	cbt_atomic64_t pages_alloc;
	int full; /* every bit reads as set: a page allocation failed (cbt_read_once) */
	uint64_t **dir;
};

/* Allocates an empty bitmap (CBT_ALLOC_WAIT). NULL on failure. */
struct cbt_bm *cbt_bm_create(uint64_t nr_bits, uint64_t generation);
void cbt_bm_destroy(struct cbt_bm *bm);
/* Sets bits [first, last]; allocates pages NOWAIT. Returns 0, or CBT_ENOMEM after setting
 * "full" (so the range is still covered). Lock-free, see above. */
int cbt_bm_set_range(struct cbt_bm *bm, uint64_t first, uint64_t last);
int cbt_bm_test(const struct cbt_bm *bm, uint64_t bit);
/* Bits set, nr_bits when "full". */
uint64_t cbt_bm_dirty(const struct cbt_bm *bm);
/* ORs src into dst, stealing src's pages where dst has none; src is left empty. */
void cbt_bm_merge(struct cbt_bm *dst, struct cbt_bm *src);
/* ORs bm's bits into a dense buffer of bits_len bytes. */
void cbt_bm_or_into(const struct cbt_bm *bm, uint8_t *dense, uint64_t bits_len);
uint64_t cbt_bm_bits_len(const struct cbt_bm *bm);
uint64_t cbt_bm_mem(const struct cbt_bm *bm);
/* Fills out[0..len) with bytes first_byte.. of the dump-format bits. */
void cbt_bm_read(const struct cbt_bm *bm, uint64_t first_byte, uint8_t *out, uint64_t len);

#endif
