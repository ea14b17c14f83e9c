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

#endif /* CBT_OS_H */
