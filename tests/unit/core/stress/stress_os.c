// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/* Threaded OS layer of the stress test (cbt_os_impl.h beside it). */
#include <stdlib.h>

#include "cbt_os.h"
#include "stress_os.h"

long cbt_stress_allocs;
static uint64_t clock_ns = 1700000000000000000ull;
static unsigned int window_ctr;

void *cbt_os_alloc(size_t size, unsigned int flags)
{
    void *p = calloc(1, size ? size : 1);

    (void)flags;
    if (p)
        __atomic_add_fetch(&cbt_stress_allocs, 1, __ATOMIC_RELAXED);
    return p;
}

void cbt_os_free(void *p, size_t size)
{
    (void)size;
    if (!p)
        return;
    __atomic_sub_fetch(&cbt_stress_allocs, 1, __ATOMIC_RELAXED);
    free(p);
}

uint64_t cbt_os_now_ns(void)
{
    return __atomic_add_fetch(&clock_ns, 1000, __ATOMIC_RELAXED);
}

void cbt_os_event(void *os_ctx, const struct cbt_event *ev)
{
    (void)os_ctx;
    (void)ev;
}

void cbt_stress_mark_window(void)
{
    if (__atomic_add_fetch(&window_ctr, 1, __ATOMIC_RELAXED) % 8 == 0)
        sched_yield();
}
