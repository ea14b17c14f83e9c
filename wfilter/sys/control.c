// SPDX-License-Identifier: GPL-2.0
/*
 * The control device: \Device\CbtrepCtl, reachable as \\.\CbtrepCtl, DACL SYSTEM +
 * Administrators (security.c). It carries the IOCTLs of include/cbtrep/ioctl.h with the
 * same structs and meaning as /dev/cbtrep-ctl on Linux:
 *   - every request is METHOD_BUFFERED: the driver only ever touches the system buffer,
 *     never a user address (gcc has no SEH to survive a bad one);
 *   - lib/wioctl.c checks code, lengths, header version/size and "buf == 0" first;
 *   - WAIT pends its IRP in a cancel-safe queue; a DPC (queued on new data, and by a 50 ms
 *     periodic timer while anyone waits) completes the ready or expired ones;
 *   - errors come back from the core as -errno and become NTSTATUS once, here.
 * It also receives the last-chance shutdown notification (persist.c does the work).
 */
#include <errno.h>

#include "driver.h"
#include "track.h"
#include "../lib/wioctl.h"

#include <cbtrep/ioctl.h>

_Static_assert(CBT_IOC_GET == CTL_CODE(CBT_WIN_DEVICE_TYPE, 0x805, METHOD_BUFFERED,
				       FILE_READ_ACCESS | FILE_WRITE_ACCESS),
	       "control codes are CTL_CODE(0x8cb0, 0x800 + nr, buffered, read|write)");
_Static_assert(CBT_STATUS_BUFFER_OVERFLOW == (ULONG)STATUS_BUFFER_OVERFLOW, "status");
_Static_assert(CBT_STATUS_NO_MORE_ENTRIES == (ULONG)STATUS_NO_MORE_ENTRIES, "status");
_Static_assert(CBT_STATUS_INVALID_PARAMETER == (ULONG)STATUS_INVALID_PARAMETER, "status");
_Static_assert(CBT_STATUS_OBJECT_NAME_NOT_FOUND == (ULONG)STATUS_OBJECT_NAME_NOT_FOUND, "st");
_Static_assert(CBT_STATUS_OBJECT_NAME_COLLISION == (ULONG)STATUS_OBJECT_NAME_COLLISION, "st");
_Static_assert(CBT_STATUS_INSUFFICIENT_RESOURCES == (ULONG)STATUS_INSUFFICIENT_RESOURCES, "st");
_Static_assert(CBT_STATUS_DEVICE_BUSY == (ULONG)STATUS_DEVICE_BUSY, "status");
_Static_assert(CBT_STATUS_IO_TIMEOUT == (ULONG)STATUS_IO_TIMEOUT, "status");
_Static_assert(CBT_STATUS_INVALID_DEVICE_STATE == (ULONG)STATUS_INVALID_DEVICE_STATE, "status");
_Static_assert(CBT_STATUS_INVALID_DEVICE_REQUEST == (ULONG)STATUS_INVALID_DEVICE_REQUEST, "st");
_Static_assert(CBT_STATUS_NO_SUCH_DEVICE == (ULONG)STATUS_NO_SUCH_DEVICE, "status");
_Static_assert(CBT_STATUS_ACCESS_DENIED == (ULONG)STATUS_ACCESS_DENIED, "status");

#define WAIT_SCAN_MS 50
#define MODULE_VERSION "cbtrep.sys 0.1.0"

struct cbt_control {
	struct cbt_dev_common c;
	IO_CSQ csq;
	LIST_ENTRY waiters;
	KSPIN_LOCK lock;
	KTIMER timer;
	BOOLEAN timer_armed; /* under lock: the periodic scan runs while anyone waits */
	KDPC dpc;
	BOOLEAN shutdown_registered;
	BOOLEAN link_created;
};

/* What a queue walk is looking for. */
struct peek {
	PFILE_OBJECT fo; /* CLEANUP: IRPs of this file; NULL: ready or expired ones */
	ULONGLONG now;	 /* interrupt time, 100 ns units */
};

static struct cbt_control *ctl_of(PIO_CSQ csq)
{
	return CONTAINING_RECORD(csq, struct cbt_control, csq);
}

static ULONGLONG *deadline_of(PIRP irp)
{
	return (ULONGLONG *)&irp->Tail.Overlay.DriverContext[0]; /* ours while queued */
}

static struct cbt_ioc_wait *wait_req(PIRP irp)
{
	return irp->AssociatedIrp.SystemBuffer;
}

static VOID csq_insert(PIO_CSQ csq, PIRP irp)
{
	struct cbt_control *c = ctl_of(csq);
	LARGE_INTEGER due;

	InsertTailList(&c->waiters, &irp->Tail.Overlay.ListEntry);
	/* Called with c->lock held; the DPC cancels the timer under the same lock. Arm it
	 * once, not on every insert: re-arming would keep pushing the first scan away. */
	if (!c->timer_armed) {
		due.QuadPart = -(LONGLONG)WAIT_SCAN_MS * 10000;
		KeSetTimerEx(&c->timer, due, WAIT_SCAN_MS, &c->dpc);
		c->timer_armed = TRUE;
	}
}

static VOID csq_remove(PIO_CSQ csq, PIRP irp)
{
	UNREFERENCED_PARAMETER(csq);
	RemoveEntryList(&irp->Tail.Overlay.ListEntry);
}

static BOOLEAN wanted(PIRP irp, struct peek *p)
{
	ULONG ready = 0;

	if (!p)
		return TRUE;
	if (p->fo)
		return IoGetCurrentIrpStackLocation(irp)->FileObject == p->fo;
	if (*deadline_of(irp) <= p->now)
		return TRUE;
	return cbt_track_ready_by_name(wait_req(irp)->name, &ready) != 0 || ready != 0;
}

static PIRP csq_peek(PIO_CSQ csq, PIRP irp, PVOID ctx)
{
	struct cbt_control *c = ctl_of(csq);
	PLIST_ENTRY e = irp ? irp->Tail.Overlay.ListEntry.Flink : c->waiters.Flink;

	for (; e != &c->waiters; e = e->Flink) {
		PIRP cand = CONTAINING_RECORD(e, IRP, Tail.Overlay.ListEntry);

		if (wanted(cand, ctx))
			return cand;
	}
	return NULL;
}

static VOID csq_acquire(PIO_CSQ csq, PKIRQL irql)
{
	KeAcquireSpinLock(&ctl_of(csq)->lock, irql);
}

static VOID csq_release(PIO_CSQ csq, KIRQL irql)
{
	KeReleaseSpinLock(&ctl_of(csq)->lock, irql);
}

static VOID csq_cancelled(PIO_CSQ csq, PIRP irp)
{
	UNREFERENCED_PARAMETER(csq);
	cbt_complete(irp, STATUS_CANCELLED, 0);
}

/* Completes one WAIT with the device's current readiness. */
static void finish_wait(PIRP irp, ULONGLONG now)
{
	struct cbt_ioc_wait *w = wait_req(irp);
	ULONG ready = 0;
	int err = cbt_track_ready_by_name(w->name, &ready);

	if (!err && !ready && *deadline_of(irp) <= now)
		err = -ETIMEDOUT;
	w->ready = ready;
	cbt_complete(irp, (NTSTATUS)cbt_wio_errno_to_status(err), err ? 0 : sizeof(*w));
}

static VOID scan_dpc(PKDPC dpc, PVOID ctx, PVOID a1, PVOID a2)
{
	struct cbt_control *c = ctx;
	struct peek p = {.fo = NULL};
	PIRP irp;
	KIRQL irql;

	UNREFERENCED_PARAMETER(dpc);
	UNREFERENCED_PARAMETER(a1);
	UNREFERENCED_PARAMETER(a2);
	p.now = KeQueryInterruptTime();
	while ((irp = IoCsqRemoveNextIrp(&c->csq, &p)))
		finish_wait(irp, p.now);
	KeAcquireSpinLock(&c->lock, &irql);
	if (IsListEmpty(&c->waiters) && c->timer_armed) {
		KeCancelTimer(&c->timer);
		c->timer_armed = FALSE;
	}
	KeReleaseSpinLock(&c->lock, irql);
}

void cbt_control_notify_data(struct cbt_filter *f)
{
	PDEVICE_OBJECT dev = cbt_g.control;

	UNREFERENCED_PARAMETER(f);
	if (dev)
		KeInsertQueueDpc(&((struct cbt_control *)dev->DeviceExtension)->dpc, NULL, NULL);
}

static NTSTATUS do_wait(struct cbt_control *c, PIRP irp)
{
	struct cbt_ioc_wait *w = wait_req(irp);
	ULONG ready = 0;
	int err = cbt_track_ready_by_name(w->name, &ready);

	if (err || ready || !w->timeout_ms) {
		w->ready = ready;
		return cbt_complete(irp, (NTSTATUS)cbt_wio_errno_to_status(err),
				    err ? 0 : sizeof(*w));
	}
	*deadline_of(irp) = KeQueryInterruptTime() + (ULONGLONG)w->timeout_ms * 10000;
	IoMarkIrpPending(irp);
	IoCsqInsertIrp(&c->csq, irp, NULL);
	return STATUS_PENDING;
}

static void fill_version(struct cbt_ioc_version *v)
{
	static const char mv[] = MODULE_VERSION;

	v->abi_version = CBT_ABI_VERSION;
	v->features = CBT_FEAT_DATA_MODE | CBT_FEAT_TAGS | CBT_FEAT_PERSIST;
	RtlZeroMemory(v->module_version, sizeof(v->module_version));
	RtlCopyMemory(v->module_version, mv, sizeof(mv));
}

static NTSTATUS do_ioctl(struct cbt_control *c, PIRP irp)
{
	PIO_STACK_LOCATION sl = IoGetCurrentIrpStackLocation(irp);
	ULONG in_len = sl->Parameters.DeviceIoControl.InputBufferLength;
	ULONG out_len = sl->Parameters.DeviceIoControl.OutputBufferLength;
	void *sys = irp->AssociatedIrp.SystemBuffer;
	int nr = cbt_wioc_nr(sl->Parameters.DeviceIoControl.IoControlCode);
	ULONG_PTR info = 0;
	int err;

	if (nr < 0)
		return cbt_complete(irp, STATUS_INVALID_DEVICE_REQUEST, 0);
	err = cbt_wioc_check(nr, sys, in_len, out_len);
	if (err)
		return cbt_complete(irp, (NTSTATUS)cbt_wio_errno_to_status(err), 0);

	switch (nr) {
	case CBT_IOC_NR_VERSION:
		fill_version(sys);
		return cbt_complete(irp, STATUS_SUCCESS, sizeof(struct cbt_ioc_version));
	case CBT_IOC_NR_WAIT: return do_wait(c, irp);
	default:
		err = cbt_track_ioctl((unsigned int)nr, sys, out_len, &info);
		if (err == -ENOSPC)
			info = cbt_wioc_struct_size(nr); /* bytes_needed goes back */
		else if (err == -EAGAIN && nr == CBT_IOC_NR_RESYNC)
			info = cbt_wioc_struct_size(nr); /* a refused DONE says the state */
		else if (err)
			info = 0;
		return cbt_complete(irp, (NTSTATUS)cbt_wio_errno_to_status(err), info);
	}
}

static NTSTATUS do_cleanup(struct cbt_control *c, PIRP irp)
{
	struct peek p = {.fo = IoGetCurrentIrpStackLocation(irp)->FileObject};
	PIRP w;

	while ((w = IoCsqRemoveNextIrp(&c->csq, &p)))
		cbt_complete(w, STATUS_CANCELLED, 0);
	return cbt_complete(irp, STATUS_SUCCESS, 0);
}

NTSTATUS cbt_control_dispatch(PDEVICE_OBJECT dev, PIRP irp)
{
	struct cbt_control *c = dev->DeviceExtension;

	if (!cbt_is_control(dev))
		return cbt_complete(irp, STATUS_INVALID_DEVICE_REQUEST, 0);
	switch (IoGetCurrentIrpStackLocation(irp)->MajorFunction) {
	case IRP_MJ_CREATE:
	case IRP_MJ_CLOSE: return cbt_complete(irp, STATUS_SUCCESS, 0);
	case IRP_MJ_CLEANUP: return do_cleanup(c, irp);
	case IRP_MJ_DEVICE_CONTROL: return do_ioctl(c, irp);
	case IRP_MJ_SHUTDOWN:
		/* Last-chance: file systems are done; save bitmaps and headers. */
		cbt_track_shutdown_all();
		return cbt_complete(irp, STATUS_SUCCESS, 0);
	default: return cbt_complete(irp, STATUS_INVALID_DEVICE_REQUEST, 0);
	}
}

NTSTATUS cbt_control_create(PDRIVER_OBJECT driver)
{
	UNICODE_STRING name, link;
	PDEVICE_OBJECT dev;
	struct cbt_control *c;
	NTSTATUS st;

	RtlInitUnicodeString(&name, CBT_CONTROL_NAME);
	RtlInitUnicodeString(&link, CBT_CONTROL_LINK);
	st = IoCreateDevice(driver, sizeof(*c), &name, CBT_WIN_DEVICE_TYPE, FILE_DEVICE_SECURE_OPEN,
			    FALSE, &dev);
	if (!NT_SUCCESS(st))
		return st;
	c = dev->DeviceExtension;
	RtlZeroMemory(c, sizeof(*c));
	c->c.magic = CBT_DEV_MAGIC_CONTROL;
	InitializeListHead(&c->waiters);
	KeInitializeSpinLock(&c->lock);
	KeInitializeTimer(&c->timer);
	KeInitializeDpc(&c->dpc, scan_dpc, c);
	st = IoCsqInitialize(&c->csq, csq_insert, csq_remove, csq_peek, csq_acquire, csq_release,
			     csq_cancelled);
	if (NT_SUCCESS(st))
		st = cbt_secure_device(dev); /* before the name is reachable from user mode */
	if (!NT_SUCCESS(st))
		goto fail;
	dev->Flags |= DO_BUFFERED_IO;
	st = IoCreateSymbolicLink(&link, &name);
	if (!NT_SUCCESS(st))
		goto fail;
	c->link_created = TRUE;
	c->shutdown_registered = NT_SUCCESS(IoRegisterLastChanceShutdownNotification(dev));
	if (!c->shutdown_registered)
		cbt_log("no last-chance shutdown notification: bitmaps will not be saved");
	cbt_g.control = dev;
	dev->Flags &= ~DO_DEVICE_INITIALIZING;
	return STATUS_SUCCESS;
fail:
	IoDeleteDevice(dev);
	return st;
}

void cbt_control_delete(void)
{
	PDEVICE_OBJECT dev = cbt_g.control;
	struct cbt_control *c;
	UNICODE_STRING link;

	if (!dev)
		return;
	c = dev->DeviceExtension;
	cbt_g.control = NULL;
	KeCancelTimer(&c->timer);
	KeFlushQueuedDpcs();
	if (c->shutdown_registered)
		IoUnregisterShutdownNotification(dev);
	if (c->link_created) {
		RtlInitUnicodeString(&link, CBT_CONTROL_LINK);
		IoDeleteSymbolicLink(&link);
	}
	IoDeleteDevice(dev);
}
