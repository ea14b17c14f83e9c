/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * Threaded user-space OS layer of the tracking core, for the concurrency stress test
 * (stress_test.cpp): real locks and the core's default atomics and mark sections, so the
 * I/O path runs on several threads at once while another one cuts, as in a driver.
 */
#ifndef CBT_OS_IMPL_H
#define CBT_OS_IMPL_H

#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef pthread_mutex_t cbt_spinlock_t;
typedef int cbt_irqflags_t;

#define cbt_spin_init(l) pthread_mutex_init((l), NULL)
#define cbt_spin_lock(l, flags) ((flags) = 0, pthread_mutex_lock(l))
#define cbt_spin_unlock(l, flags) ((void)(flags), pthread_mutex_unlock(l))

void *cbt_os_alloc(size_t size, unsigned int flags);
void cbt_os_free(void *p, size_t size);
uint64_t cbt_os_now_ns(void);
struct cbt_event;
void cbt_os_event(void *os_ctx, const struct cbt_event *ev);

/* Widens the race between a mark's pointer load and its bits (now and then a yield). */
void cbt_stress_mark_window(void);
#define cbt_os_mark_window() cbt_stress_mark_window()
#define cbt_os_relax() sched_yield()

#ifdef __cplusplus
}
#endif

#endif
