/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * User-space OS layer of the tracking core, for the unit tests (see core/cbt_os.h).
 * Locks are single-threaded checks (a recursive or unbalanced lock aborts); allocations
 * can be made to fail on demand (test_os.h).
 */
#ifndef CBT_OS_IMPL_H
#define CBT_OS_IMPL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int held;
} cbt_spinlock_t;
typedef unsigned long cbt_irqflags_t;

void cbt_test_lock(cbt_spinlock_t *l);
void cbt_test_unlock(cbt_spinlock_t *l);

#define cbt_spin_init(l) ((l)->held = 0)
#define cbt_spin_lock(l, flags) ((flags) = 0, cbt_test_lock(l))
#define cbt_spin_unlock(l, flags) ((void)(flags), cbt_test_unlock(l))

void *cbt_os_alloc(size_t size, unsigned int flags);
void cbt_os_free(void *p, size_t size);
uint64_t cbt_os_now_ns(void);
struct cbt_event;
void cbt_os_event(void *os_ctx, const struct cbt_event *ev);

#ifdef __cplusplus
}
#endif

#endif
