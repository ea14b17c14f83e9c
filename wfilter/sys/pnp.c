// SPDX-License-Identifier: GPL-2.0
/*
 * AddDevice and IRP_MJ_PNP for the per-disk filter devices.
 *
 * AddDevice never fails: a disk filter that cannot attach leaves the disk working,
 * untracked (and says so in the debug log), instead of failing the disk stack.
 */
#include "driver.h"

#include <ntdddisk.h>
#include <ntddstor.h>

#include "lowerio.h"
#include "persist.h"
#include "track.h"

/* True when a device of \Driver\partmgr is anywhere below @dev (inclusive). */
static BOOLEAN partmgr_below(PDEVICE_OBJECT dev)
{
	UNICODE_STRING partmgr = RTL_CONSTANT_STRING(L"\\Driver\\partmgr");
	PDEVICE_OBJECT cur = dev, next;
	BOOLEAN found = FALSE;

	ObReferenceObject(cur);
	while (cur) {
		if (!found && cur->DriverObject &&
		    RtlEqualUnicodeString(&cur->DriverObject->DriverName, &partmgr, TRUE))
			found = TRUE;
		next = IoGetLowerDeviceObject(cur); /* referenced, NULL at the bottom */
		ObDereferenceObject(cur);
		cur = next;
	}
	return found;
}

NTSTATUS cbt_add_device(PDRIVER_OBJECT driver, PDEVICE_OBJECT pdo)
{
	PDEVICE_OBJECT dev = NULL;
	struct cbt_filter *f;
	NTSTATUS st;
	KIRQL irql;

	if (cbt_g.bypass)
		return STATUS_SUCCESS; /* a filter may decline to attach */

	st = IoCreateDevice(driver, sizeof(*f), NULL, FILE_DEVICE_DISK, FILE_DEVICE_SECURE_OPEN,
			    FALSE, &dev);
	if (!NT_SUCCESS(st)) {
		cbt_log("IoCreateDevice failed (0x%08x): disk left untracked", st);
		return STATUS_SUCCESS;
	}
	f = dev->DeviceExtension;
	RtlZeroMemory(f, sizeof(*f));
	f->c.magic = CBT_DEV_MAGIC_FILTER;
	f->self = dev;
	f->pdo = pdo;
	f->sector_size = 512;
	IoInitializeRemoveLock(&f->remove_lock, CBT_POOL_TAG, 0, 0);
	ExInitializeRundownProtection(&f->track_ref);

	st = IoAttachDeviceToDeviceStackSafe(dev, pdo, &f->lower);
	if (!NT_SUCCESS(st) || !f->lower) {
		cbt_log("attach to disk stack failed (0x%08x): disk left untracked", st);
		IoDeleteDevice(dev);
		return STATUS_SUCCESS;
	}
	/* Look like the device below so the I/O manager builds requests it accepts. */
	dev->DeviceType = f->lower->DeviceType;
	dev->Characteristics = f->lower->Characteristics;
	dev->Flags |= f->lower->Flags & (DO_DIRECT_IO | DO_BUFFERED_IO | DO_POWER_PAGABLE);
	dev->AlignmentRequirement = f->lower->AlignmentRequirement;

	f->above_partmgr = partmgr_below(f->lower);
	if (f->above_partmgr)
		cbt_log("cbtrep is above partmgr on this disk: tracking refused until it is "
			"first in UpperFilters (cbtrep filter install)");

	KeAcquireSpinLock(&cbt_g.filters_lock, &irql);
	InsertTailList(&cbt_g.filters, &f->link);
	KeReleaseSpinLock(&cbt_g.filters_lock, irql);

	dev->Flags &= ~DO_DEVICE_INITIALIZING;
	return STATUS_SUCCESS;
}

/* The same identity parsed from LBA 0 and 1, read below us (lib/rearm.c). */
static void read_disk_id(struct cbt_filter *f)
{
	ULONG len = 2 * f->sector_size;
	uint8_t *buf;

	if (f->sector_size > 4096 || !f->disk_bytes)
		return;
	buf = cbt_persist_alloc(len);
	if (!buf)
		return;
	if (NT_SUCCESS(cbt_lower_rw(f->lower, FALSE, 0, buf, len)))
		cbt_disk_id_parse(buf, f->sector_size, f->disk_bytes, &f->ident);
	cbt_persist_free(buf);
}

/*
 * The identity that survives reboots and renumbering (lib/rearm.h): the partition table's
 * MBR signature or GPT disk GUID, read from disk.sys below us, plus the length. Room for
 * 128 partitions (a GPT's usual maximum); a larger table leaves the disk unidentified.
 */
static void query_disk_id(struct cbt_filter *f)
{
	ULONG size = FIELD_OFFSET(DRIVE_LAYOUT_INFORMATION_EX, PartitionEntry) +
		     128 * sizeof(PARTITION_INFORMATION_EX);
	DRIVE_LAYOUT_INFORMATION_EX *dl = cbt_persist_alloc(size);

	RtlZeroMemory(&f->ident, sizeof(f->ident));
	if (!dl)
		return;
	if (NT_SUCCESS(cbt_lower_ioctl(f->lower, IOCTL_DISK_GET_DRIVE_LAYOUT_EX, NULL, 0, dl, size,
				       NULL))) {
		f->ident.bytes = f->disk_bytes;
		if (dl->PartitionStyle == PARTITION_STYLE_MBR) {
			f->ident.kind = CBT_DISK_ID_MBR;
			f->ident.mbr_signature = dl->Mbr.Signature;
		} else if (dl->PartitionStyle == PARTITION_STYLE_GPT) {
			f->ident.kind = CBT_DISK_ID_GPT;
			RtlCopyMemory(f->ident.gpt_guid, &dl->Gpt.DiskId,
				      sizeof(f->ident.gpt_guid));
		}
		if (!cbt_disk_id_valid(&f->ident))
			RtlZeroMemory(&f->ident, sizeof(f->ident));
	}
	cbt_persist_free(dl);
	if (!cbt_disk_id_valid(&f->ident))
		read_disk_id(f);
}

/* Identity and geometry of the disk, asked of the stack below once it has started. */
static void query_identity(struct cbt_filter *f)
{
	STORAGE_DEVICE_NUMBER num;
	GET_LENGTH_INFORMATION len;
	DISK_GEOMETRY geo;

	if (NT_SUCCESS(cbt_lower_ioctl(f->lower, IOCTL_STORAGE_GET_DEVICE_NUMBER, NULL, 0, &num,
				       sizeof(num), NULL))) {
		f->disk_number = num.DeviceNumber;
		f->have_number = TRUE;
	}
	if (NT_SUCCESS(cbt_lower_ioctl(f->lower, IOCTL_DISK_GET_LENGTH_INFO, NULL, 0, &len,
				       sizeof(len), NULL)) &&
	    len.Length.QuadPart > 0)
		f->disk_bytes = (ULONGLONG)len.Length.QuadPart;
	if (NT_SUCCESS(cbt_lower_ioctl(f->lower, IOCTL_DISK_GET_DRIVE_GEOMETRY, NULL, 0, &geo,
				       sizeof(geo), NULL)) &&
	    geo.BytesPerSector >= 512)
		f->sector_size = geo.BytesPerSector;
	query_disk_id(f);
}

static NTSTATUS start_device(struct cbt_filter *f, PIRP irp)
{
	NTSTATUS st = IoForwardIrpSynchronously(f->lower, irp) ? irp->IoStatus.Status
							       : STATUS_INSUFFICIENT_RESOURCES;

	if (NT_SUCCESS(st)) {
		f->self->Characteristics |= f->lower->Characteristics & FILE_REMOVABLE_MEDIA;
		query_identity(f);
		cbt_persist_disk_started(f);
		InterlockedExchange(&f->started, 1);
	}
	IoReleaseRemoveLock(&f->remove_lock, irp);
	return cbt_complete(irp, st, irp->IoStatus.Information);
}

static void unlist(struct cbt_filter *f)
{
	KIRQL irql;

	KeAcquireSpinLock(&cbt_g.filters_lock, &irql);
	if (!IsListEmpty(&f->link) && f->link.Flink) {
		RemoveEntryList(&f->link);
		InitializeListHead(&f->link);
	}
	KeReleaseSpinLock(&cbt_g.filters_lock, irql);
}

static NTSTATUS remove_device(struct cbt_filter *f, PIRP irp)
{
	PDEVICE_OBJECT lower = f->lower;
	NTSTATUS st;

	InterlockedExchange(&f->removed, 1);
	unlist(f);
	cbt_track_device_gone(f, FALSE); /* waits for in-flight tracked writes */
	IoReleaseRemoveLockAndWait(&f->remove_lock, irp);

	IoSkipCurrentIrpStackLocation(irp);
	st = IoCallDriver(lower, irp);
	IoDetachDevice(lower);
	IoDeleteDevice(f->self);
	return st;
}

/*
 * Paging, hibernation and dump file notifications: keep DO_POWER_PAGABLE equal to the
 * device below (a paging device must not be pagable for power IRPs), and count the
 * notifications. Set on the way down if the device above us is pagable, cleared on the way
 * up if the device below is not: the pattern of the WDM filter samples.
 */
static NTSTATUS usage_done(PDEVICE_OBJECT dev, PIRP irp, PVOID ctx)
{
	struct cbt_filter *f = ctx;
	PIO_STACK_LOCATION sl = IoGetCurrentIrpStackLocation(irp);
	BOOLEAN in_path = sl->Parameters.UsageNotification.InPath;
	PLONG count = NULL;

	if (irp->PendingReturned)
		IoMarkIrpPending(irp);
	if (!(f->lower->Flags & DO_POWER_PAGABLE))
		dev->Flags &= ~DO_POWER_PAGABLE;
	if (NT_SUCCESS(irp->IoStatus.Status)) {
		switch (sl->Parameters.UsageNotification.Type) {
		case DeviceUsageTypePaging: count = &f->paging_count; break;
		case DeviceUsageTypeHibernation: count = &f->hiber_count; break;
		case DeviceUsageTypeDumpFile: count = &f->dump_count; break;
		default: break;
		}
		if (count)
			IoAdjustPagingPathCount(count, in_path);
	}
	IoReleaseRemoveLock(&f->remove_lock, irp);
	return STATUS_CONTINUE_COMPLETION;
}

static NTSTATUS usage_notification(struct cbt_filter *f, PIRP irp)
{
	PDEVICE_OBJECT dev = f->self;

	if (!dev->AttachedDevice || (dev->AttachedDevice->Flags & DO_POWER_PAGABLE))
		dev->Flags |= DO_POWER_PAGABLE;
	IoCopyCurrentIrpStackLocationToNext(irp);
	IoSetCompletionRoutine(irp, usage_done, f, TRUE, TRUE, TRUE);
	return IoCallDriver(f->lower, irp);
}

NTSTATUS cbt_dispatch_pnp(PDEVICE_OBJECT dev, PIRP irp)
{
	struct cbt_filter *f = cbt_filter_of(dev);
	PIO_STACK_LOCATION sl = IoGetCurrentIrpStackLocation(irp);
	NTSTATUS st;

	if (!f)
		return cbt_control_dispatch(dev, irp);
	st = IoAcquireRemoveLock(&f->remove_lock, irp);
	if (!NT_SUCCESS(st))
		return cbt_complete(irp, st, 0);

	switch (sl->MinorFunction) {
	case IRP_MN_START_DEVICE: return start_device(f, irp);
	case IRP_MN_REMOVE_DEVICE: return remove_device(f, irp);
	case IRP_MN_SURPRISE_REMOVAL:
		/* The disk is gone: no write will complete usefully; stop tracking now. */
		InterlockedExchange(&f->removed, 1);
		cbt_track_device_gone(f, TRUE);
		break;
	case IRP_MN_DEVICE_USAGE_NOTIFICATION: return usage_notification(f, irp);
	default: break;
	}
	IoSkipCurrentIrpStackLocation(irp);
	st = IoCallDriver(f->lower, irp);
	IoReleaseRemoveLock(&f->remove_lock, irp);
	return st;
}
