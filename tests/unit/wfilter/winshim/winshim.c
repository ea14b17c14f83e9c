/* Implementation of the user-space stand-ins (see ntifs.h). */
#include <stdarg.h>
#include <time.h>

#include "ntifs.h"

int winshim_spin_held;

void winshim_log(const char *fmt, ...)
{
    va_list ap;

    if (!getenv("WINSHIM_LOG"))
        return;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

void KeInitializeEvent(KEVENT *e, int type, BOOLEAN state)
{
    (void)type;
    e->signaled = state;
}

NTSTATUS KeWaitForSingleObject(void *obj, int reason, int mode, BOOLEAN alertable, void *timeout)
{
    KEVENT *e = obj;

    (void)reason, (void)mode, (void)alertable, (void)timeout;
    /* Single-threaded: waiting on an unsignaled mutex would be a self-deadlock. */
    SHIM_CHECK(e->signaled && "control mutex taken twice");
    e->signaled = 0;
    return STATUS_SUCCESS;
}

LONG KeSetEvent(KEVENT *e, LONG incr, BOOLEAN wait)
{
    (void)incr, (void)wait;
    SHIM_CHECK(!e->signaled && "control mutex released twice");
    e->signaled = 1;
    return 0;
}

void ExWaitForRundownProtectionRelease(EX_RUNDOWN_REF *r)
{
    /* A write still holding the tracker would be destroyed under it. */
    SHIM_CHECK(r->refs == 0 && "detach while a tracked write is in flight");
}

void ExReInitializeRundownProtection(EX_RUNDOWN_REF *r)
{
    r->refs = 0;
}

void *ExAllocatePoolWithTag(int type, SIZE_T n, ULONG tag)
{
    (void)type, (void)tag;
    if (getenv("WINSHIM_FAIL_ALLOC"))
        return NULL;
    return malloc(n ? n : 1);
}

void ExFreePoolWithTag(void *p, ULONG tag)
{
    (void)tag;
    free(p);
}

void KeQuerySystemTime(LARGE_INTEGER *t)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    t->QuadPart = (LONGLONG)ts.tv_sec * 10000000 + ts.tv_nsec / 100 + 116444736000000000ll;
}

LARGE_INTEGER KeQueryPerformanceCounter(LARGE_INTEGER *freq)
{
    struct timespec ts;
    LARGE_INTEGER now;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (freq)
        freq->QuadPart = 1000000000;
    now.QuadPart = (LONGLONG)ts.tv_sec * 1000000000 + ts.tv_nsec;
    return now;
}
