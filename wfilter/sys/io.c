// SPDX-License-Identifier: GPL-2.0
/*
 * Write and discard interception on the per-disk filter devices.
 *
 * Order for a tracked change: mark (bitmap, DATA-mode copy) BEFORE the request goes down,
 * journal only on successful, complete completion; a failed or short request leaves its
 * range dirty for resync. Untracked writes are still counted in flight so that ATTACH can
 * wait until no write that started before it is still on its way to the disk.
 *
 * Everything here runs at IRQL <= DISPATCH_LEVEL and may be in the paging path: no paged
 * memory, no waits, nonpaged allocations that may fail (and then degrade, never block).
 */
#include "driver.h"

#include <ntdddisk.h>
#include <ntddstor.h>

#include "track.h"
#include "../lib/dsm.h"
#include "../lib/wioctl.h"

#include <cbtrep/record.h>

/* The portable tables (lib/) spell Windows constants as numbers; tie them to the DDK. */
_Static_assert(CBT_IOCTL_STORAGE_MANAGE_DATA_SET_ATTRIBUTES ==
		       IOCTL_STORAGE_MANAGE_DATA_SET_ATTRIBUTES,
	       "DSM ioctl");
_Static_assert(CBT_IOCTL_DISK_SET_PARTITION_INFO == IOCTL_DISK_SET_PARTITION_INFO, "ioctl");
_Static_assert(CBT_IOCTL_DISK_SET_DRIVE_LAYOUT == IOCTL_DISK_SET_DRIVE_LAYOUT, "ioctl");
_Static_assert(CBT_IOCTL_DISK_FORMAT_TRACKS == IOCTL_DISK_FORMAT_TRACKS, "ioctl");
_Static_assert(CBT_IOCTL_DISK_REASSIGN_BLOCKS == IOCTL_DISK_REASSIGN_BLOCKS, "ioctl");
_Static_assert(CBT_IOCTL_DISK_FORMAT_TRACKS_EX == IOCTL_DISK_FORMAT_TRACKS_EX, "ioctl");
_Static_assert(CBT_IOCTL_DISK_SET_PARTITION_INFO_EX == IOCTL_DISK_SET_PARTITION_INFO_EX, "ioctl");
_Static_assert(CBT_IOCTL_DISK_SET_DRIVE_LAYOUT_EX == IOCTL_DISK_SET_DRIVE_LAYOUT_EX, "ioctl");
_Static_assert(CBT_IOCTL_DISK_CREATE_DISK == IOCTL_DISK_CREATE_DISK, "ioctl");
_Static_assert(CBT_IOCTL_DISK_GROW_PARTITION == IOCTL_DISK_GROW_PARTITION, "ioctl");
_Static_assert(CBT_IOCTL_DISK_DELETE_DRIVE_LAYOUT == IOCTL_DISK_DELETE_DRIVE_LAYOUT, "ioctl");
_Static_assert(sizeof(DEVICE_MANAGE_DATA_SET_ATTRIBUTES) == CBT_DSM_HDR_SIZE, "DSM header");
_Static_assert(sizeof(DEVICE_DATA_SET_RANGE) == CBT_DSM_RANGE_SIZE, "DSM range");
_Static_assert(DeviceDsmAction_Trim == CBT_DSM_ACTION_TRIM, "trim");
_Static_assert(DeviceDsmAction_OffloadWrite == CBT_DSM_ACTION_OFFLOAD_WRITE, "offload write");
_Static_assert(DeviceDsmActionFlag_NonDestructive == CBT_DSM_ACTION_NON_DESTRUCTIVE, "flag");
_Static_assert(DEVICE_DSM_FLAG_ENTIRE_DATA_SET_RANGE == CBT_DSM_FLAG_ENTIRE_RANGE, "entire");

/* Per tracked request, freed by its completion routine. */
struct cbt_wctx {
	struct cbt_filter *f;
	struct cbt_track *t;
	ULONG_PTR expect; /* bytes a complete write reports in IoStatus.Information */
	ULONG reason;	  /* opaque requests: why a success forces a resync */
	int nr;		  /* changes in w[]: 1 for a write, one per range for a DSM request */
	struct cbt_wio w[];
};

/* Completion for writes passed down untracked: only the in-flight count. */
static NTSTATUS untracked_done(PDEVICE_OBJECT dev, PIRP irp, PVOID ctx)
{
	struct cbt_filter *f = ctx;

	UNREFERENCED_PARAMETER(dev);
	if (irp->PendingReturned)
		IoMarkIrpPending(irp);
	InterlockedDecrement(&f->untracked_inflight);
	IoReleaseRemoveLock(&f->remove_lock, irp);
	return STATUS_CONTINUE_COMPLETION;
}

static NTSTATUS send_untracked(struct cbt_filter *f, PIRP irp)
{
	InterlockedIncrement(&f->untracked_inflight);
	IoCopyCurrentIrpStackLocationToNext(irp);
	IoSetCompletionRoutine(irp, untracked_done, f, TRUE, TRUE, TRUE);
	return IoCallDriver(f->lower, irp);
}

NTSTATUS cbt_wait_untracked_drained(struct cbt_filter *f, ULONG timeout_ms)
{
	LARGE_INTEGER step;
	ULONG waited = 0;

	step.QuadPart = -10 * 1000; /* 1 ms, relative */
	while (InterlockedCompareExchange(&f->untracked_inflight, 0, 0) != 0) {
		if (waited++ >= timeout_ms)
			return STATUS_IO_TIMEOUT;
		KeDelayExecutionThread(KernelMode, FALSE, &step);
	}
	return STATUS_SUCCESS;
}

/*
 * Takes a rundown reference on the device's tracking state, or returns NULL when it is
 * not tracked (or being detached). The reference is dropped by the completion routine.
 */
static struct cbt_track *track_get(struct cbt_filter *f)
{
	struct cbt_track *t;

	if (f->removed || !ExAcquireRundownProtection(&f->track_ref))
		return NULL;
	t = f->track;
	if (!t)
		ExReleaseRundownProtection(&f->track_ref);
	return t;
}

static void track_put(struct cbt_filter *f)
{
	ExReleaseRundownProtection(&f->track_ref);
}

static NTSTATUS write_done(PDEVICE_OBJECT dev, PIRP irp, PVOID ctx)
{
	struct cbt_wctx *w = ctx;
	struct cbt_filter *f = w->f;
	BOOLEAN ok = NT_SUCCESS(irp->IoStatus.Status) && irp->IoStatus.Information == w->expect;

	UNREFERENCED_PARAMETER(dev);
	if (irp->PendingReturned)
		IoMarkIrpPending(irp);
	cbt_track_write_end(w->t, &w->w[0], ok);
	track_put(f);
	ExFreePoolWithTag(w, CBT_POOL_TAG);
	IoReleaseRemoveLock(&f->remove_lock, irp); /* f may go away after this */
	return STATUS_CONTINUE_COMPLETION;
}

static struct cbt_wctx *wctx_alloc(struct cbt_filter *f, struct cbt_track *t, int n)
{
	SIZE_T size = sizeof(struct cbt_wctx) + (SIZE_T)n * sizeof(struct cbt_wio);
	struct cbt_wctx *w = ExAllocatePoolWithTag(NonPagedPoolNx, size, CBT_POOL_TAG);

	if (w) {
		RtlZeroMemory(w, size);
		w->f = f;
		w->t = t;
	}
	return w;
}

/*
 * Maps the written buffer for a DATA-mode copy; NULL when it cannot (the write is then
 * journalled as a DIRTY range). A chained or short MDL is not followed: copying @len
 * bytes from its first piece could read past it.
 */
static const void *write_data(PDEVICE_OBJECT self, PIRP irp, ULONG len)
{
	PMDL mdl = irp->MdlAddress;

	if (mdl) {
		if (mdl->Next || MmGetMdlByteCount(mdl) < len)
			return NULL;
		return MmGetSystemAddressForMdlSafe(mdl, NormalPagePriority | MdlMappingNoExecute);
	}
	if (self->Flags & DO_BUFFERED_IO)
		return irp->AssociatedIrp.SystemBuffer;
	return NULL;
}

NTSTATUS cbt_dispatch_write(PDEVICE_OBJECT dev, PIRP irp)
{
	struct cbt_filter *f = cbt_filter_of(dev);
	PIO_STACK_LOCATION sl = IoGetCurrentIrpStackLocation(irp);
	struct cbt_track *t;
	struct cbt_wctx *w;
	ULONGLONG off;
	ULONG len, rflags = 0;
	NTSTATUS st;

	if (!f)
		return cbt_control_dispatch(dev, irp);
	st = IoAcquireRemoveLock(&f->remove_lock, irp);
	if (!NT_SUCCESS(st))
		return cbt_complete(irp, st, 0);

	t = track_get(f);
	if (!t)
		return send_untracked(f, irp);

	len = sl->Parameters.Write.Length;
	if (sl->Parameters.Write.ByteOffset.QuadPart < 0 ||
	    !cbt_wio_range_ok((uint64_t)sl->Parameters.Write.ByteOffset.QuadPart, len,
			      f->disk_bytes)) {
		/* Not a range the disk accepts; if it does anyway we cannot say what changed. */
		if (len)
			cbt_track_resync_required(t, CBT_REASON_WRITE_ERROR);
		track_put(f);
		return send_untracked(f, irp);
	}
	off = (ULONGLONG)sl->Parameters.Write.ByteOffset.QuadPart;
	if (!len) {
		track_put(f);
		return send_untracked(f, irp);
	}
	if (sl->Flags & SL_WRITE_THROUGH)
		rflags |= CBT_RF_FUA;

	w = wctx_alloc(f, t, 1);
	if (!w) {
		/* No way to follow this write to its completion: say so, never miss it. */
		cbt_track_resync_required(t, CBT_REASON_ALLOC_FAILED);
		track_put(f);
		return send_untracked(f, irp);
	}
	w->expect = len;
	w->nr = 1;
	cbt_track_write_begin(t, CBT_CHANGE_WRITE, off, len, write_data(dev, irp, len), rflags,
			      &w->w[0]);

	IoCopyCurrentIrpStackLocationToNext(irp);
	IoSetCompletionRoutine(irp, write_done, w, TRUE, TRUE, TRUE);
	return IoCallDriver(f->lower, irp);
}

/* ---- Data set management (TRIM, offload write) ----------------------------------- */

struct dsm_walk {
	struct cbt_filter *f;
	struct cbt_wctx *w; /* NULL on the counting pass */
	int count;
};

static void dsm_range(void *ctx, uint64_t off, uint64_t len)
{
	struct dsm_walk *d = ctx;
	uint64_t o = off, n = len;

	if (!cbt_wio_clamp(&o, &n, d->f->disk_bytes))
		return; /* wholly past the end: the disk rejects or ignores it */
	if (d->w)
		cbt_track_write_begin(d->w->t, CBT_CHANGE_DISCARD, o, n, NULL, 0,
				      &d->w->w[d->w->nr++]);
	d->count++;
}

static NTSTATUS dsm_done(PDEVICE_OBJECT dev, PIRP irp, PVOID ctx)
{
	struct cbt_wctx *w = ctx;
	struct cbt_filter *f = w->f;
	BOOLEAN ok = NT_SUCCESS(irp->IoStatus.Status);
	int i;

	UNREFERENCED_PARAMETER(dev);
	if (irp->PendingReturned)
		IoMarkIrpPending(irp);
	for (i = 0; i < w->nr; i++)
		cbt_track_write_end(w->t, &w->w[i], ok);
	track_put(f);
	ExFreePoolWithTag(w, CBT_POOL_TAG);
	IoReleaseRemoveLock(&f->remove_lock, irp); /* f may go away after this */
	return STATUS_CONTINUE_COMPLETION;
}

/* A request the disk may act on but that we cannot describe: resync if it succeeds. */
static NTSTATUS opaque_done(PDEVICE_OBJECT dev, PIRP irp, PVOID ctx)
{
	struct cbt_wctx *w = ctx;
	struct cbt_filter *f = w->f;

	UNREFERENCED_PARAMETER(dev);
	if (irp->PendingReturned)
		IoMarkIrpPending(irp);
	if (NT_SUCCESS(irp->IoStatus.Status))
		cbt_track_resync_required(w->t, w->reason);
	track_put(f);
	ExFreePoolWithTag(w, CBT_POOL_TAG);
	IoReleaseRemoveLock(&f->remove_lock, irp);
	return STATUS_CONTINUE_COMPLETION;
}

static NTSTATUS send_with(struct cbt_filter *f, PIRP irp, PIO_COMPLETION_ROUTINE done,
			  struct cbt_wctx *w)
{
	IoCopyCurrentIrpStackLocationToNext(irp);
	IoSetCompletionRoutine(irp, done, w, TRUE, TRUE, TRUE);
	return IoCallDriver(f->lower, irp);
}

static NTSTATUS dsm_dispatch(struct cbt_filter *f, struct cbt_track *t, PIRP irp)
{
	PIO_STACK_LOCATION sl = IoGetCurrentIrpStackLocation(irp);
	const uint8_t *buf = irp->AssociatedIrp.SystemBuffer;
	ULONG len = sl->Parameters.DeviceIoControl.InputBufferLength;
	struct dsm_walk d = {.f = f};
	struct cbt_wctx *w;
	int kind;

	kind = cbt_dsm_parse(buf, len, NULL, dsm_range, &d); /* counting pass */
	if (kind == CBT_DSM_NO_CHANGE || (kind == CBT_DSM_RANGES && d.count == 0)) {
		track_put(f);
		return send_untracked(f, irp);
	}
	w = wctx_alloc(f, t, kind == CBT_DSM_RANGES ? d.count : 1);
	if (!w) {
		/* Cannot follow the request: it is a change we will not be able to describe. */
		cbt_track_resync_required(t, CBT_REASON_ALLOC_FAILED);
		track_put(f);
		return send_untracked(f, irp);
	}
	if (kind == CBT_DSM_BAD) {
		w->reason = CBT_REASON_WRITE_ERROR; /* used if the disk accepts it anyway */
		return send_with(f, irp, opaque_done, w);
	}
	if (kind == CBT_DSM_WHOLE) {
		cbt_track_write_begin(t, CBT_CHANGE_DISCARD, 0, f->disk_bytes, NULL, 0,
				      &w->w[w->nr++]);
	} else {
		d.w = w;
		d.count = 0;
		cbt_dsm_parse(buf, len, NULL, dsm_range, &d); /* marking pass, same result */
	}
	return send_with(f, irp, dsm_done, w);
}

NTSTATUS cbt_dispatch_device_control(PDEVICE_OBJECT dev, PIRP irp)
{
	struct cbt_filter *f = cbt_filter_of(dev);
	PIO_STACK_LOCATION sl = IoGetCurrentIrpStackLocation(irp);
	ULONG code;
	struct cbt_track *t;
	struct cbt_wctx *w;
	NTSTATUS st;

	if (!f)
		return cbt_control_dispatch(dev, irp);
	code = sl->Parameters.DeviceIoControl.IoControlCode;
	if (code != IOCTL_STORAGE_MANAGE_DATA_SET_ATTRIBUTES && !cbt_wio_rewrites_below(code))
		return cbt_pass_down(f, irp);

	st = IoAcquireRemoveLock(&f->remove_lock, irp);
	if (!NT_SUCCESS(st))
		return cbt_complete(irp, st, 0);
	t = track_get(f);
	if (!t)
		return send_untracked(f, irp);
	if (code == IOCTL_STORAGE_MANAGE_DATA_SET_ATTRIBUTES)
		return dsm_dispatch(f, t, irp);

	/* Partition-table changes that disk.sys writes below us: see wioctl.h. */
	w = wctx_alloc(f, t, 0);
	if (!w) {
		cbt_track_resync_required(t, CBT_REASON_ALLOC_FAILED);
		track_put(f);
		return send_untracked(f, irp);
	}
	/* disk.sys writes the partition table (or formats, reassigns) below us. */
	w->reason = CBT_REASON_BYPASSED;
	return send_with(f, irp, opaque_done, w);
}

/* A flush changes no data; journal order is completion order, so pass it through. */
NTSTATUS cbt_dispatch_flush(PDEVICE_OBJECT dev, PIRP irp)
{
	struct cbt_filter *f = cbt_filter_of(dev);

	if (!f)
		return cbt_control_dispatch(dev, irp);
	return cbt_pass_down(f, irp);
}

/*
 * IRP_MJ_SHUTDOWN on a disk: pass it down (disk.sys flushes its cache). Our own shutdown
 * work runs from the control device's last-chance notification (control.c), after the
 * file systems are done writing.
 */
NTSTATUS cbt_dispatch_shutdown(PDEVICE_OBJECT dev, PIRP irp)
{
	struct cbt_filter *f = cbt_filter_of(dev);

	if (!f)
		return cbt_control_dispatch(dev, irp);
	return cbt_pass_down(f, irp);
}
