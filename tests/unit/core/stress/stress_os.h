/* Knobs of the stress test's OS layer (stress_os.c). */
#ifndef CBT_STRESS_OS_H
#define CBT_STRESS_OS_H

#ifdef __cplusplus
extern "C" {
#endif

/* Live allocations (the test ends with none). */
extern long cbt_stress_allocs;

#ifdef __cplusplus
}
#endif

#endif
