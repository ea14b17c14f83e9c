/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * Sparse paged bitmap of one generation: a directory of page pointers allocated up front
 * (process context) and 4 KiB pages allocated on first touch (NOWAIT in the I/O path).
 * Bit i covers bytes [i * granularity, (i + 1) * granularity) of the device; the bytes of
 * a page read the same as the bitmap.h dump format. No locking here: the tracker locks.
 */
#ifndef CBT_BITMAP_CORE_H
#define CBT_BITMAP_CORE_H

#include "cbt_os.h"

#define CBT_BM_PAGE_BYTES 4096u
#define CBT_BM_PAGE_BITS (CBT_BM_PAGE_BYTES * 8u)

struct cbt_bm {
	uint64_t nr_bits;
	uint64_t nr_pages;
	uint64_t generation;
	uint64_t dirty_bits; /* bits set (not counting "full") */
	uint64_t pages_alloc;
	int full; /* every bit reads as set: a page allocation failed */
	uint8_t **dir;
};

/* Allocates an empty bitmap (CBT_ALLOC_WAIT). NULL on failure. */
struct cbt_bm *cbt_bm_create(uint64_t nr_bits, uint64_t generation);
void cbt_bm_destroy(struct cbt_bm *bm);
/* Sets bits [first, last]; allocates pages NOWAIT. Returns 0, or CBT_ENOMEM after setting
 * "full" (so the range is still covered). */
int cbt_bm_set_range(struct cbt_bm *bm, uint64_t first, uint64_t last);
int cbt_bm_test(const struct cbt_bm *bm, uint64_t bit);
/* ORs src into dst, stealing src's pages where dst has none; src is left empty. */
void cbt_bm_merge(struct cbt_bm *dst, struct cbt_bm *src);
/* ORs bm's bits into a dense buffer of bits_len bytes. */
void cbt_bm_or_into(const struct cbt_bm *bm, uint8_t *dense, uint64_t bits_len);
/* Copies dump-format bytes [first_byte, first_byte + len) (within bits_len) to dst
 * through a callback taking (ctx, dst_off, src, len). */
uint64_t cbt_bm_bits_len(const struct cbt_bm *bm);
uint64_t cbt_bm_mem(const struct cbt_bm *bm);
/* Fills out[0..len) with bytes first_byte.. of the dump-format bits. */
void cbt_bm_read(const struct cbt_bm *bm, uint64_t first_byte, uint8_t *out, uint64_t len);

#endif
