/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Windows kernel (WDM) implementation of the tracking core's OS layer (core/cbt_os.h).
 *
 *   locks : KSPIN_LOCK; the write path submits at <= DISPATCH_LEVEL and completions run
 *           at <= DISPATCH_LEVEL, so a spin lock (raise to DISPATCH) is the right lock for
 *           both. The core nests them only in ascending address order (tag groups).
 *   memory: nonpaged, non-executable pool with our tag, zeroed (mingw has no
 *           ExAllocatePoolZero / ExAllocatePool2). Both CBT_ALLOC_NOWAIT and _WAIT use
 *           NonPagedPoolNx: pool allocation never sleeps, and the bitmap must stay
 *           resident because the write path touches it at DISPATCH_LEVEL.
 *   time  : KeQuerySystemTime (100 ns since 1601) converted to ns since 1970.
 *   events: cbt_win_event() in track.c (wakes WAIT, logs mode/state changes).
 */
#ifndef CBT_OS_IMPL_H
#define CBT_OS_IMPL_H

#include <ntifs.h>
#include <ntddk.h>

#ifndef CBT_POOL_TAG
#define CBT_POOL_TAG 'prtC'
#endif

typedef KSPIN_LOCK cbt_spinlock_t;
typedef KIRQL cbt_irqflags_t;

#define cbt_spin_init(l) KeInitializeSpinLock(l)
#define cbt_spin_lock(l, flags) KeAcquireSpinLock((l), &(flags))
#define cbt_spin_unlock(l, flags) KeReleaseSpinLock((l), (flags))

static inline void *cbt_os_alloc(size_t size, unsigned int flags)
{
	void *p;

	(void)flags;
	if (!size)
		return NULL;
	p = ExAllocatePoolWithTag(NonPagedPoolNx, size, CBT_POOL_TAG);
	if (p)
		RtlZeroMemory(p, size);
	return p;
}

static inline void cbt_os_free(void *p, size_t size)
{
	(void)size;
	if (p)
		ExFreePoolWithTag(p, CBT_POOL_TAG);
}

/* 100 ns intervals between 1601-01-01 and 1970-01-01. */
#define CBT_WIN_EPOCH_DELTA 116444736000000000ull

static inline uint64_t cbt_os_now_ns(void)
{
	LARGE_INTEGER t;

	KeQuerySystemTime(&t);
	if ((uint64_t)t.QuadPart < CBT_WIN_EPOCH_DELTA)
		return 0;
	return ((uint64_t)t.QuadPart - CBT_WIN_EPOCH_DELTA) * 100;
}

struct cbt_event;
void cbt_win_event(void *os_ctx, const struct cbt_event *ev);
#define cbt_os_event(ctx, ev) cbt_win_event((ctx), (ev))

#endif
