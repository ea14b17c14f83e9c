/* Knobs of the user-space OS layer (test_os.c) for the core's unit tests. */
#ifndef CBT_TEST_OS_H
#define CBT_TEST_OS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Fail every NOWAIT allocation while nonzero (counts down when > 0; -1 = forever). */
extern long cbt_test_fail_nowait;
/* NOWAIT allocations that still succeed before cbt_test_fail_nowait applies. */
extern long cbt_test_nowait_skip;
/* Live allocations and their bytes (a test ends with both back where they started). */
extern long cbt_test_allocs;
extern long long cbt_test_alloc_bytes;
/* Events seen, by kind (index = enum cbt_event_kind), and the last MODE event. */
extern long cbt_test_events[8];
extern uint32_t cbt_test_last_mode_from, cbt_test_last_mode_to, cbt_test_last_mode_reason;
/* Allocations made while a lock was held must be NOWAIT: counts violations. */
extern long cbt_test_wait_under_lock;

#ifdef __cplusplus
}
#endif

#endif
