// SPDX-License-Identifier: GPL-2.0
/*
 * Data chunks for DATA-mode capture: whole pages, recycled through a small free list.
 *
 * Every captured 4 KiB write needs one chunk at submission, and the drain frees it later,
 * usually on another CPU. As kzalloc(4096, GFP_NOWAIT) that cost ~50 us per write in
 * the TCG guest (kmalloc-4k slabs emptied by one CPU and refilled on the other, plus a
 * 4 KiB memset the copy overwrites at once) and was the whole DATA-mode overhead. Here a
 * chunk is a page off a free list (one uncontended lock, no zeroing: the capture writes
 * every byte of data_len and nothing past it is ever read); the list holds at most
 * CBT_CHUNK_POOL_MAX pages and is emptied at module exit.
 */
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/spinlock.h>

#include "cbtrep.h"

/* 8 MiB: enough for the drain to hand pages back as fast as writes take them. */
#define CBT_CHUNK_POOL_MAX 2048u

struct cbt_free_chunk {
	struct cbt_free_chunk *next;
};

static DEFINE_SPINLOCK(pool_lock);
static struct cbt_free_chunk *pool;
static unsigned int pool_len;

void *cbt_chunk_alloc(void)
{
	struct cbt_free_chunk *c;
	unsigned long fl;

	BUILD_BUG_ON(CBT_CHUNK_SIZE != PAGE_SIZE);
	spin_lock_irqsave(&pool_lock, fl);
	c = pool;
	if (c) {
		pool = c->next;
		pool_len--;
	}
	spin_unlock_irqrestore(&pool_lock, fl);
	if (c)
		return c;
	return (void *)__get_free_page(GFP_NOWAIT | __GFP_NOWARN);
}

void cbt_chunk_free(void *p)
{
	struct cbt_free_chunk *c = p;
	unsigned long fl;

	if (!c)
		return;
	spin_lock_irqsave(&pool_lock, fl);
	if (pool_len < CBT_CHUNK_POOL_MAX) {
		c->next = pool;
		pool = c;
		pool_len++;
		c = NULL;
	}
	spin_unlock_irqrestore(&pool_lock, fl);
	if (c)
		free_page((unsigned long)c);
}

/* Module exit: no tracker is left, so nothing can allocate or free concurrently. */
void cbt_chunk_pool_empty(void)
{
	while (pool) {
		struct cbt_free_chunk *c = pool;

		pool = c->next;
		free_page((unsigned long)c);
	}
	pool_len = 0;
}
