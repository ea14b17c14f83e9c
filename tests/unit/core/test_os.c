// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/* User-space OS layer of the tracking core (see cbt_os_impl.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbt_os.h"
#include "test_os.h"

long cbt_test_fail_nowait;
long cbt_test_nowait_skip;
long cbt_test_allocs;
long long cbt_test_alloc_bytes;
long cbt_test_events[8];
uint32_t cbt_test_last_mode_from, cbt_test_last_mode_to, cbt_test_last_mode_reason;
long cbt_test_wait_under_lock;
static int locks_held;
static uint64_t fake_clock = 1700000000000000000ull;

void cbt_test_lock(cbt_spinlock_t *l)
{
    if (l->held) {
        fprintf(stderr, "core: recursive lock\n");
        abort();
    }
    l->held = 1;
    locks_held++;
}

void cbt_test_unlock(cbt_spinlock_t *l)
{
    if (!l->held) {
        fprintf(stderr, "core: unlock of a free lock\n");
        abort();
    }
    l->held = 0;
    locks_held--;
}

void *cbt_os_alloc(size_t size, unsigned int flags)
{
    void *p;

    if (flags == CBT_ALLOC_WAIT && locks_held)
        cbt_test_wait_under_lock++;
    if (flags == CBT_ALLOC_NOWAIT) {
        if (size > CBT_OS_NOWAIT_MAX) {
            fprintf(stderr, "core: NOWAIT allocation of %zu bytes\n", size);
            abort();
        }
        if (cbt_test_nowait_skip > 0) {
            cbt_test_nowait_skip--;
        } else if (cbt_test_fail_nowait) {
            if (cbt_test_fail_nowait > 0)
                cbt_test_fail_nowait--;
            return NULL;
        }
    }
    p = calloc(1, size ? size : 1);
    if (p) {
        cbt_test_allocs++;
        cbt_test_alloc_bytes += (long long)size;
    }
    return p;
}

void cbt_os_free(void *p, size_t size)
{
    if (!p)
        return;
    cbt_test_allocs--;
    cbt_test_alloc_bytes -= (long long)size;
    free(p);
}

uint64_t cbt_os_now_ns(void)
{
    return fake_clock += 1000;
}

void cbt_os_event(void *os_ctx, const struct cbt_event *ev)
{
    (void)os_ctx;
    if (locks_held) {
        fprintf(stderr, "core: event delivered under a lock\n");
        abort();
    }
    if (ev->kind < 8)
        cbt_test_events[ev->kind]++;
    if (ev->kind == CBT_EV_MODE) {
        cbt_test_last_mode_from = ev->from;
        cbt_test_last_mode_to = ev->to;
        cbt_test_last_mode_reason = ev->reason;
    }
}
