// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/* Sparse paged bitmap: see cbt_bitmap.h. */
#include "cbt_bitmap.h"
#include "cbt_tracker.h"

struct cbt_bm *cbt_bm_create(uint64_t nr_bits, uint64_t generation)
{
	struct cbt_bm *bm = cbt_os_alloc(sizeof(*bm), CBT_ALLOC_WAIT);

	if (!bm)
		return NULL;
	bm->nr_bits = nr_bits;
	bm->nr_pages = (nr_bits + CBT_BM_PAGE_BITS - 1) / CBT_BM_PAGE_BITS;
	bm->generation = generation;
	bm->dir = cbt_os_alloc(bm->nr_pages * sizeof(uint64_t *), CBT_ALLOC_WAIT);
	if (!bm->dir) {
		cbt_os_free(bm, sizeof(*bm));
		return NULL;
	}
	return bm;
}

void cbt_bm_destroy(struct cbt_bm *bm)
{
	uint64_t i;

	if (!bm)
		return;
	for (i = 0; i < bm->nr_pages; i++)
		cbt_os_free(bm->dir[i], CBT_BM_PAGE_BYTES);
	cbt_os_free(bm->dir, bm->nr_pages * sizeof(uint64_t *));
	cbt_os_free(bm, sizeof(*bm));
}

/* No __builtin_popcount: without a POPCNT target it becomes a libgcc call that neither
 * kernel provides. */
static unsigned int popcount64(uint64_t v)
{
	v = v - ((v >> 1) & 0x5555555555555555ull);
	v = (v & 0x3333333333333333ull) + ((v >> 2) & 0x3333333333333333ull);
	v = (v + (v >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return (unsigned int)((v * 0x0101010101010101ull) >> 56);
}

/* Page pg, installed by whichever marker allocates it first. NULL: none could be. */
static uint64_t *bm_page(struct cbt_bm *bm, uint64_t pg)
{
	uint64_t *page = cbt_load_acquire(&bm->dir[pg]);
	uint64_t *mine, *found;

	if (page)
		return page;
	mine = cbt_os_alloc(CBT_BM_PAGE_BYTES, CBT_ALLOC_NOWAIT);
	if (!mine)
		return NULL;
	/* The full barrier publishes the zeroed page with its pointer. */
	found = cbt_cmpxchg(&bm->dir[pg], (uint64_t *)0, mine);
	if (found) {
		cbt_os_free(mine, CBT_BM_PAGE_BYTES);
		return found;
	}
	cbt_atomic64_add(&bm->pages_alloc, 1);
	return mine;
}

/* Sets mask in *w; returns the bits this call set. A rewrite of a block already marked in
 * this generation (the common case) only reads. */
static uint64_t word_set(uint64_t *w, uint64_t mask)
{
	uint64_t old = cbt_read_once(*w), found;

	while ((old & mask) != mask) {
		found = cbt_cmpxchg(w, old, old | mask);
		if (found == old)
			return mask & ~old;
		old = found;
	}
	return 0;
}

/* Bits lo..hi (0..63) of a word. */
static uint64_t word_mask(uint64_t lo, uint64_t hi)
{
	uint64_t m = hi == 63 ? ~0ull : (1ull << (hi + 1)) - 1;

	return m & ~((1ull << lo) - 1);
}

int cbt_bm_set_range(struct cbt_bm *bm, uint64_t first, uint64_t last)
{
	uint64_t bit, added = 0;
	int ret = 0;

	if (last >= bm->nr_bits)
		last = bm->nr_bits - 1;
	for (bit = first; bit <= last;) {
		uint64_t pg = bit / CBT_BM_PAGE_BITS;
		uint64_t pg_last = (pg + 1) * CBT_BM_PAGE_BITS - 1;
		uint64_t end = last < pg_last ? last : pg_last;
		uint64_t *page = bm_page(bm, pg);

		if (!page) {
			/* Cover the range anyway: the whole device reads as changed. */
			cbt_write_once(bm->full, 1);
			ret = CBT_ENOMEM;
			bit = end + 1;
			continue;
		}
		while (bit <= end) {
			uint64_t off = bit % CBT_BM_PAGE_BITS;
			uint64_t hi = off % 64 + (end - bit);

			if (hi > 63)
				hi = 63;
			added += popcount64(word_set(&page[off / 64], word_mask(off % 64, hi)));
			bit += hi - off % 64 + 1;
		}
	}
	if (added)
		cbt_atomic64_add(&bm->dirty_bits, added);
	return ret;
}

/* Word w of page pg, 0 where no page is. */
static uint64_t bm_word(const struct cbt_bm *bm, uint64_t pg, uint64_t w)
{
	uint64_t *page = cbt_load_acquire(&bm->dir[pg]);

	return page ? cbt_read_once(page[w]) : 0;
}

int cbt_bm_test(const struct cbt_bm *bm, uint64_t bit)
{
	if (bit >= bm->nr_bits)
		return 0;
	if (cbt_read_once(bm->full))
		return 1;
	return (bm_word(bm, bit / CBT_BM_PAGE_BITS, bit % CBT_BM_PAGE_BITS / 64) >> (bit % 64)) & 1;
}

uint64_t cbt_bm_dirty(const struct cbt_bm *bm)
{
	return cbt_read_once(bm->full) ? bm->nr_bits : cbt_atomic64_read(&bm->dirty_bits);
}

void cbt_bm_merge(struct cbt_bm *dst, struct cbt_bm *src)
{
	uint64_t i, j, added = 0;

	if (src->full)
		dst->full = 1;
	for (i = 0; i < dst->nr_pages && i < src->nr_pages; i++) {
		uint64_t *s = src->dir[i];

		if (!s)
			continue;
		if (!dst->dir[i]) {
			dst->dir[i] = s;
			src->dir[i] = NULL;
			cbt_atomic64_add(&dst->pages_alloc, 1);
			cbt_atomic64_add(&src->pages_alloc, (uint64_t)-1);
			for (j = 0; j < CBT_BM_PAGE_WORDS; j++)
				added += popcount64(s[j]);
			continue;
		}
		for (j = 0; j < CBT_BM_PAGE_WORDS; j++) {
			uint64_t add = s[j] & ~dst->dir[i][j];

			added += popcount64(add);
			dst->dir[i][j] |= add;
		}
	}
	cbt_atomic64_add(&dst->dirty_bits, added);
	cbt_atomic64_set(&src->dirty_bits, 0);
}

uint64_t cbt_bm_bits_len(const struct cbt_bm *bm)
{
	return cbt_bitmap_bits_len(bm->nr_bits);
}

uint64_t cbt_bm_mem(const struct cbt_bm *bm)
{
	return cbt_atomic64_read(&bm->pages_alloc) * CBT_BM_PAGE_BYTES +
	       bm->nr_pages * sizeof(uint64_t *);
}

/* Byte b of the dump-format bits, honouring "full" and zero bits past nr_bits. */
static uint8_t bm_byte(const struct cbt_bm *bm, uint64_t b)
{
	uint64_t first_bit = b * 8;
	uint8_t v;

	if (first_bit >= bm->nr_bits)
		return 0;
	if (cbt_read_once(bm->full)) {
		v = 0xff;
	} else {
		uint64_t w = bm_word(bm, first_bit / CBT_BM_PAGE_BITS,
				     first_bit % CBT_BM_PAGE_BITS / 64);

		v = (uint8_t)(w >> (first_bit % 64));
	}
	if (bm->nr_bits - first_bit < 8)
		v &= (uint8_t)((1u << (bm->nr_bits - first_bit)) - 1);
	return v;
}

void cbt_bm_read(const struct cbt_bm *bm, uint64_t first_byte, uint8_t *out, uint64_t len)
{
	uint64_t i;

	for (i = 0; i < len; i++)
		out[i] = bm_byte(bm, first_byte + i);
}

void cbt_bm_or_into(const struct cbt_bm *bm, uint8_t *dense, uint64_t bits_len)
{
	uint64_t i;

	for (i = 0; i < bits_len; i++)
		dense[i] |= bm_byte(bm, i);
}
