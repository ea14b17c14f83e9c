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
#include <linux/atomic.h>
#include <linux/rcupdate.h>

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

/* The lock-free bitmap marks and I/O-path counters (core/cbt_os.h). */
#define CBT_OS_HAVE_ATOMICS 1
typedef atomic64_t cbt_atomic64_t;
#define cbt_atomic64_read(a) ((uint64_t)atomic64_read(a))
#define cbt_atomic64_set(a, x) atomic64_set((a), (s64)(x))
#define cbt_atomic64_add(a, x) atomic64_add((s64)(x), (a))
#define cbt_atomic64_add_return(a, x) ((uint64_t)atomic64_add_return((s64)(x), (a)))
#define cbt_cmpxchg(p, old, new) cmpxchg((p), (old), (new))
#define cbt_load_acquire(p) smp_load_acquire(p)
#define cbt_store_release(p, x) smp_store_release((p), (x))
#define cbt_read_once(x) READ_ONCE(x)
#define cbt_write_once(x, v) WRITE_ONCE((x), (v))
#define cbt_smp_mb() smp_mb()
#define cbt_os_relax() cpu_relax()

/*
 * Mark sections are RCU read-side sections: free on the I/O path (which already runs the
 * submission side under rcu_read_lock), and a cut, in process context, waits for them with
 * synchronize_rcu(), as dm-era does when it swaps its writeset.
 */
#define cbt_os_mark_enter() rcu_read_lock()
#define cbt_os_mark_exit() rcu_read_unlock()
#define cbt_os_mark_sync() synchronize_rcu()

#endif
