/*
 * A user-space stand-in for the few parts of the Windows kernel headers that
 * wfilter/sys/track_core.c and wfilter/sys/cbt_os_impl.h use, so that the real bridge
 * between the WDM glue and the core runs on Linux under ASan/UBSan (the idea of
 * microsoft/usersim, written from scratch and only as wide as needed).
 *
 * Semantics kept: spin locks and the control "mutex" must be balanced (checked), rundown
 * references must be released before a wait for release returns (checked), pool tags
 * match (checked by ASan through malloc/free). Single-threaded: the tests drive the
 * write path and the control path in turn.
 */
#ifndef CBT_WINSHIM_NTIFS_H
#define CBT_WINSHIM_NTIFS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint8_t UCHAR, *PUCHAR, BOOLEAN, KIRQL;
typedef uint16_t USHORT, WCHAR, *PWCH;
typedef const uint16_t *PCWSTR;
typedef uint32_t ULONG, *PULONG;
typedef int32_t LONG, NTSTATUS, *PLONG;
typedef int64_t LONGLONG, LONG64;
typedef uint64_t ULONGLONG;
typedef size_t SIZE_T;
typedef uintptr_t ULONG_PTR;
typedef void *PVOID, *HANDLE;
typedef uintptr_t KSPIN_LOCK;

#define TRUE 1
#define FALSE 0
#define NT_SUCCESS(s) ((NTSTATUS)(s) >= 0)
#define STATUS_SUCCESS ((NTSTATUS)0)
#define STATUS_IO_TIMEOUT ((NTSTATUS)0xC00000B5u)
#define UNREFERENCED_PARAMETER(p) ((void)(p))
#define CONTAINING_RECORD(a, T, f) ((T *)((char *)(a)-offsetof(T, f)))
#define DPFLTR_IHVDRIVER_ID 77
#define DPFLTR_ERROR_LEVEL 0
#define DbgPrintEx(id, lvl, ...) ((void)(id), (void)(lvl), winshim_log(__VA_ARGS__))
void winshim_log(const char *fmt, ...);

/* Checks that stay on in release builds (assert() would vanish under NDEBUG). */
#define SHIM_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: shim check failed: %s\n", __FILE__, __LINE__, #cond);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

typedef union {
    struct {
        ULONG LowPart;
        LONG HighPart;
    } u;
    LONGLONG QuadPart;
} LARGE_INTEGER;

typedef struct _LIST_ENTRY {
    struct _LIST_ENTRY *Flink, *Blink;
} LIST_ENTRY, *PLIST_ENTRY;

static inline void InitializeListHead(PLIST_ENTRY h)
{
    h->Flink = h->Blink = h;
}
static inline BOOLEAN IsListEmpty(const LIST_ENTRY *h)
{
    return h->Flink == h;
}
static inline void InsertTailList(PLIST_ENTRY h, PLIST_ENTRY e)
{
    e->Flink = h;
    e->Blink = h->Blink;
    h->Blink->Flink = e;
    h->Blink = e;
}
static inline BOOLEAN RemoveEntryList(PLIST_ENTRY e)
{
    e->Blink->Flink = e->Flink;
    e->Flink->Blink = e->Blink;
    return e->Flink == e->Blink;
}

typedef struct {
    USHORT Length, MaximumLength;
    PWCH Buffer;
} UNICODE_STRING, *PUNICODE_STRING;

/* Opaque kernel objects the driver structs embed. */
typedef struct {
    int dummy;
} IO_REMOVE_LOCK;
typedef struct {
    long refs;
} EX_RUNDOWN_REF;
typedef struct {
    int signaled;
} KEVENT;
typedef struct _DEVICE_OBJECT {
    void *DeviceExtension;
} DEVICE_OBJECT, *PDEVICE_OBJECT;
typedef struct _DRIVER_OBJECT {
    int dummy;
} DRIVER_OBJECT, *PDRIVER_OBJECT;
typedef struct _IRP {
    int dummy;
} IRP, *PIRP;
typedef NTSTATUS DRIVER_DISPATCH(PDEVICE_OBJECT, PIRP);
typedef NTSTATUS DRIVER_ADD_DEVICE(PDRIVER_OBJECT, PDEVICE_OBJECT);

/* Spin locks: balanced, never nested here except by the core's tag groups. */
extern int winshim_spin_held;
#define KeInitializeSpinLock(l) (*(l) = 0)
#define KeAcquireSpinLock(l, irql) (++*(l), ++winshim_spin_held, *(irql) = 0)
#define KeReleaseSpinLock(l, irql) ((void)(irql), --*(l), --winshim_spin_held)

/* The control mutex is a synchronization event. */
enum { SynchronizationEvent = 1, NotificationEvent = 0 };
enum { Executive = 0 };
enum { KernelMode = 0 };
#define IO_NO_INCREMENT 0
void KeInitializeEvent(KEVENT *e, int type, BOOLEAN state);
NTSTATUS KeWaitForSingleObject(void *obj, int reason, int mode, BOOLEAN alertable, void *timeout);
LONG KeSetEvent(KEVENT *e, LONG incr, BOOLEAN wait);

/* Rundown protection: the count of references; waiting requires it to be zero. */
void ExWaitForRundownProtectionRelease(EX_RUNDOWN_REF *r);
void ExReInitializeRundownProtection(EX_RUNDOWN_REF *r);

enum { NonPagedPoolNx = 512, PagedPool = 1 };
void *ExAllocatePoolWithTag(int type, SIZE_T n, ULONG tag);
void ExFreePoolWithTag(void *p, ULONG tag);
#define RtlZeroMemory(d, n) memset((d), 0, (n))
#define RtlCopyMemory(d, s, n) memcpy((d), (s), (n))

void KeQuerySystemTime(LARGE_INTEGER *t);
LARGE_INTEGER KeQueryPerformanceCounter(LARGE_INTEGER *freq);

static inline LONG64 InterlockedIncrement64(volatile LONG64 *p)
{
    return ++*p;
}
static inline LONG64 InterlockedExchangeAdd64(volatile LONG64 *p, LONG64 v)
{
    LONG64 o = *p;
    *p += v;
    return o;
}
static inline PVOID InterlockedExchangePointer(PVOID volatile *p, PVOID v)
{
    PVOID o = *p;
    *p = v;
    return o;
}

#ifdef __cplusplus
}
#endif
#endif
