/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Linux kernel OS layer of the portable tracking core (contract: core/cbt_os.h).
 * The I/O path allocates with GFP_NOWAIT | __GFP_NOWARN (never sleeps, never warns: a
 * failure degrades the mode and says why); control paths with kvzalloc(GFP_KERNEL).
 */
#ifndef CBTREP_OS_IMPL_H
#define CBTREP_OS_IMPL_H

#include <linux/spinlock.h>
#include <linux/slab.h>
#include <linux/mm.h>
#include <linux/timekeeping.h>

typedef spinlock_t cbt_spinlock_t;
typedef unsigned long cbt_irqflags_t;

#define cbt_spin_init(l) spin_lock_init(l)
#define cbt_spin_lock(l, flags) spin_lock_irqsave((l), (flags))
#define cbt_spin_unlock(l, flags) spin_unlock_irqrestore((l), (flags))

static inline void *cbt_os_alloc(size_t size, unsigned int flags)
{
	if (flags == CBT_ALLOC_NOWAIT)
		return kzalloc(size, GFP_NOWAIT | __GFP_NOWARN);
	return kvzalloc(size, GFP_KERNEL);
}

static inline void cbt_os_free(void *p, size_t size)
{
	kvfree(p);
}

/* Data chunks (core/cbt_journal.c): recycled pages, not zeroed (kmod/chunk.c). */
void *cbt_chunk_alloc(void);
void cbt_chunk_free(void *p);
#define cbt_os_chunk_alloc() cbt_chunk_alloc()
#define cbt_os_chunk_free(p) cbt_chunk_free(p)

static inline uint64_t cbt_os_now_ns(void)
{
	return ktime_get_real_ns();
}

struct cbt_event;
void cbt_os_event(void *os_ctx, const struct cbt_event *ev);

#endif
