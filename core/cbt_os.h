/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * The OS layer contract of the portable tracking core.
 *
 * The core (bitmap, journal, modes, batches, tags, metadata) is pure C11: no libc beyond
 * what include/cbtrep/abi.h provides (cbt_memcpy/cbt_memset), no OS calls. Everything it
 * needs from the platform comes from "cbt_os_impl.h", found on the include path:
 *   kmod/cbt_os_impl.h             Linux kernel
 *   wfilter/.../cbt_os_impl.h      Windows kernel (WDM)
 *   tests/unit/core/cbt_os_impl.h  user space, for the unit tests
 *
 * cbt_os_impl.h must provide, before this header continues:
 *
 *   Types
 *     uint8_t..uint64_t, size_t     (include/cbtrep/abi.h includes them on every platform)
 *     cbt_spinlock_t                a lock usable from the I/O submission path AND from
 *                                   completion context (Linux: spinlock_t; Windows:
 *                                   KSPIN_LOCK, completion runs at <= DISPATCH_LEVEL)
 *     cbt_irqflags_t                what cbt_spin_lock saves (Linux: unsigned long;
 *                                   Windows: KIRQL)
 *
 *   Locks (macros or functions; lock/unlock take the flags lvalue, irqsave style)
 *     void cbt_spin_init(cbt_spinlock_t *l);
 *     cbt_spin_lock(cbt_spinlock_t *l, cbt_irqflags_t flags);     // disables interrupts
 *     cbt_spin_unlock(cbt_spinlock_t *l, cbt_irqflags_t flags);   // restores them
 *   The core nests these locks only in cbt_tag_group(), always in ascending address order.
 *
 *   Memory
 *     void *cbt_os_alloc(size_t size, unsigned int flags);  // NULL on failure; zeroed
 *     void cbt_os_free(void *p, size_t size);               // p may be NULL
 *   flags is CBT_ALLOC_NOWAIT (I/O path, under a spinlock, interrupt/completion context:
 *   must not sleep, must not warn — Linux GFP_NOWAIT | __GFP_NOWARN; Windows NonPagedPool)
 *   or CBT_ALLOC_WAIT (process context / PASSIVE_LEVEL, no lock held: may sleep; sizes can
 *   reach a few hundred KiB — Linux kvzalloc; Windows NonPagedPool). The core never
 *   allocates more than CBT_OS_NOWAIT_MAX bytes with CBT_ALLOC_NOWAIT.
 *
 *   Time
 *     uint64_t cbt_os_now_ns(void);   // wall clock, ns since 1970 UTC; any context
 *
 *   Events
 *     void cbt_os_event(void *os_ctx, const struct cbt_event *ev);
 *   Called WITHOUT the tracker lock held, possibly from completion context (so it must not
 *   sleep): records became drainable (wake WAIT), the last in-flight write completed (wake
 *   a detach), the mode or the state changed (log one line). os_ctx is the pointer given
 *   to cbt_tracker_create().
 *
 *   Atomics and barriers (optional: without CBT_OS_HAVE_ATOMICS the GCC/Clang __atomic
 *   and __sync builtins below serve, as in user space and with mingw). The I/O path marks
 *   the bitmap and counts without the tracker lock (docs/tracker.md, "Bitmap and
 *   generations"):
 *     cbt_atomic64_t                     a 64-bit counter
 *     cbt_atomic64_read(a), cbt_atomic64_set(a, v), cbt_atomic64_add(a, v)   unordered
 *     cbt_atomic64_add_return(a, v)      full barrier; the new value
 *     cbt_cmpxchg(p, old, new)           full barrier; the value found (u64 or pointer)
 *     cbt_load_acquire(p), cbt_store_release(p, v)   pointers
 *     cbt_read_once(x), cbt_write_once(x, v)         no tearing, no compiler caching
 *     cbt_smp_mb(), cbt_os_relax() (one turn of a busy wait, process context; optional)
 *
 *   Mark sections (optional). A mark of the bitmap runs inside a section; a cut swaps the
 *   active bitmap and then waits until every section that may still hold the old pointer
 *   has ended, before it merges or frees anything. A platform with RCU defines
 *     cbt_os_mark_enter(), cbt_os_mark_exit()   any context, never sleeps inside
 *     cbt_os_mark_sync()                        process context: every section begun
 *                                               before the call has ended on return
 *   (kmod: rcu_read_lock/unlock, synchronize_rcu); otherwise the tracker counts its
 *   sections itself (two counters and an epoch, cbt_tracker.c).
 *
 * Control entry points (everything but cbt_io_*) run in process context / PASSIVE_LEVEL
 * and must be serialized per tracker by the caller (Linux: one mutex around the ioctls).
 */
#ifndef CBT_OS_H
#define CBT_OS_H

#include <cbtrep/abi.h>

#define CBT_ALLOC_NOWAIT 1u
#define CBT_ALLOC_WAIT 2u

/* Largest single allocation the core makes with CBT_ALLOC_NOWAIT (a data chunk). */
#define CBT_OS_NOWAIT_MAX 4096u

/* What the core tells the platform (cbt_os_event). */
enum cbt_event_kind {
	CBT_EV_READY = 1, /* records became drainable */
	CBT_EV_IDLE = 2,  /* no write in flight any more */
	CBT_EV_MODE = 3,  /* mode changed: from -> to, reason */
	CBT_EV_STATE = 4, /* state changed: from -> to, reason */
};

struct cbt_event {
	uint32_t kind;	 /* enum cbt_event_kind */
	uint32_t from;	 /* MODE/STATE: old value */
	uint32_t to;	 /* MODE/STATE: new value */
	uint32_t reason; /* MODE/STATE: enum cbt_reason */
};

#include "cbt_os_impl.h"

#ifndef CBT_OS_HAVE_ATOMICS
typedef struct {
	uint64_t v;
} cbt_atomic64_t;
#define cbt_atomic64_read(a) __atomic_load_n(&(a)->v, __ATOMIC_RELAXED)
#define cbt_atomic64_set(a, x) __atomic_store_n(&(a)->v, (uint64_t)(x), __ATOMIC_RELAXED)
#define cbt_atomic64_add(a, x) ((void)__atomic_fetch_add(&(a)->v, (uint64_t)(x), __ATOMIC_RELAXED))
#define cbt_atomic64_add_return(a, x) __atomic_add_fetch(&(a)->v, (uint64_t)(x), __ATOMIC_SEQ_CST)
#define cbt_cmpxchg(p, old, new) __sync_val_compare_and_swap((p), (old), (new))
#define cbt_load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define cbt_store_release(p, x) __atomic_store_n((p), (x), __ATOMIC_RELEASE)
#define cbt_read_once(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define cbt_write_once(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define cbt_smp_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#endif
#ifndef cbt_os_relax
#define cbt_os_relax() ((void)0)
#endif
/* Test hook: called in a mark section between loading the active pointer and marking. */
#ifndef cbt_os_mark_window
#define cbt_os_mark_window() ((void)0)
#endif

#endif /* CBT_OS_H */
