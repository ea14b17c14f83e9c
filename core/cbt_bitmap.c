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
	bm->dir = cbt_os_alloc(bm->nr_pages * sizeof(uint8_t *), CBT_ALLOC_WAIT);
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
	cbt_os_free(bm->dir, bm->nr_pages * sizeof(uint8_t *));
	cbt_os_free(bm, sizeof(*bm));
}

/* No __builtin_popcount: without a POPCNT target it becomes a libgcc call that neither
 * kernel provides. */
static unsigned int popcount8(uint8_t v)
{
	v = (uint8_t)(v - ((v >> 1) & 0x55));
	v = (uint8_t)((v & 0x33) + ((v >> 2) & 0x33));
	return (unsigned int)((v + (v >> 4)) & 0x0f);
}

int cbt_bm_set_range(struct cbt_bm *bm, uint64_t first, uint64_t last)
{
	uint64_t bit;
	int ret = 0;

	if (last >= bm->nr_bits)
		last = bm->nr_bits - 1;
	for (bit = first; bit <= last;) {
		uint64_t pg = bit / CBT_BM_PAGE_BITS;
		uint64_t pg_last = (pg + 1) * CBT_BM_PAGE_BITS - 1;
		uint64_t end = last < pg_last ? last : pg_last;
		uint8_t *page = bm->dir[pg];

		if (!page) {
			page = cbt_os_alloc(CBT_BM_PAGE_BYTES, CBT_ALLOC_NOWAIT);
			if (!page) {
				/* Cover the range anyway: the whole device reads as changed. */
				bm->full = 1;
				ret = CBT_ENOMEM;
				bit = end + 1;
				continue;
			}
			bm->dir[pg] = page;
			bm->pages_alloc++;
		}
		for (; bit <= end; bit++) {
			uint64_t off = bit % CBT_BM_PAGE_BITS;
			uint8_t mask = (uint8_t)(1u << (off % 8));

			/* Whole bytes at a time once aligned: long writes set many bits. */
			if (off % 8 == 0 && end - bit >= 7) {
				uint8_t old = page[off / 8];

				bm->dirty_bits += 8 - popcount8(old);
				page[off / 8] = 0xff;
				bit += 7;
				continue;
			}
			if (!(page[off / 8] & mask)) {
				page[off / 8] |= mask;
				bm->dirty_bits++;
			}
		}
	}
	return ret;
}

int cbt_bm_test(const struct cbt_bm *bm, uint64_t bit)
{
	const uint8_t *page;

	if (bit >= bm->nr_bits)
		return 0;
	if (bm->full)
		return 1;
	page = bm->dir[bit / CBT_BM_PAGE_BITS];
	if (!page)
		return 0;
	bit %= CBT_BM_PAGE_BITS;
	return (page[bit / 8] >> (bit % 8)) & 1;
}

void cbt_bm_merge(struct cbt_bm *dst, struct cbt_bm *src)
{
	uint64_t i, j;

	if (src->full)
		dst->full = 1;
	for (i = 0; i < dst->nr_pages && i < src->nr_pages; i++) {
		uint8_t *s = src->dir[i];

		if (!s)
			continue;
		if (!dst->dir[i]) {
			dst->dir[i] = s;
			src->dir[i] = NULL;
			dst->pages_alloc++;
			src->pages_alloc--;
			for (j = 0; j < CBT_BM_PAGE_BYTES; j++)
				dst->dirty_bits += popcount8(s[j]);
			continue;
		}
		for (j = 0; j < CBT_BM_PAGE_BYTES; j++) {
			uint8_t add = s[j] & (uint8_t)~dst->dir[i][j];

			dst->dirty_bits += popcount8(add);
			dst->dir[i][j] |= add;
		}
	}
	src->dirty_bits = 0;
}

uint64_t cbt_bm_bits_len(const struct cbt_bm *bm)
{
	return cbt_bitmap_bits_len(bm->nr_bits);
}

uint64_t cbt_bm_mem(const struct cbt_bm *bm)
{
	return bm->pages_alloc * CBT_BM_PAGE_BYTES + bm->nr_pages * sizeof(uint8_t *);
}

/* Byte b of the dump-format bits, honouring "full" and zero bits past nr_bits. */
static uint8_t bm_byte(const struct cbt_bm *bm, uint64_t b)
{
	uint64_t first_bit = b * 8;
	uint8_t v;

	if (first_bit >= bm->nr_bits)
		return 0;
	if (bm->full) {
		v = 0xff;
	} else {
		const uint8_t *page = bm->dir[first_bit / CBT_BM_PAGE_BITS];

		v = page ? page[(first_bit % CBT_BM_PAGE_BITS) / 8] : 0;
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
