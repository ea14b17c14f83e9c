// SPDX-License-Identifier: GPL-2.0
/*
 * cbtrep.sys entry point, dispatch table and the list of filter devices.
 *
 * Rule for a boot-start disk filter: DriverEntry must not fail for anything short of
 * running out of memory at boot. If a filter listed in UpperFilters fails to load, every
 * disk stack fails to start and the machine stops with INACCESSIBLE_BOOT_DEVICE. So a
 * failure to create or secure the control device only disables control (logged); the
 * filter still loads and passes I/O through.
 */
#include "driver.h"
#include "track.h"

struct cbt_global cbt_g;

DRIVER_INITIALIZE DriverEntry;
static DRIVER_UNLOAD cbt_unload;
static DRIVER_DISPATCH cbt_dispatch_default;

NTSTATUS cbt_complete(PIRP irp, NTSTATUS status, ULONG_PTR info)
{
	irp->IoStatus.Status = status;
	irp->IoStatus.Information = info;
	IoCompleteRequest(irp, IO_NO_INCREMENT);
	return status;
}

/*
 * Sends @irp unchanged to the device below. The remove lock is held only across
 * IoCallDriver: once the IRP is below us we no longer touch it, and REMOVE_DEVICE waits
 * for the lock before detaching, so f->lower stays valid while we call it.
 */
NTSTATUS cbt_pass_down(struct cbt_filter *f, PIRP irp)
{
	NTSTATUS st = IoAcquireRemoveLock(&f->remove_lock, irp);

	if (!NT_SUCCESS(st))
		return cbt_complete(irp, st, 0);
	IoSkipCurrentIrpStackLocation(irp);
	st = IoCallDriver(f->lower, irp);
	IoReleaseRemoveLock(&f->remove_lock, irp);
	return st;
}

static NTSTATUS cbt_dispatch_default(PDEVICE_OBJECT dev, PIRP irp)
{
	struct cbt_filter *f = cbt_filter_of(dev);

	if (!f)
		return cbt_control_dispatch(dev, irp);
	return cbt_pass_down(f, irp);
}

/* A started disk with this identity (lib/rearm.h), remove lock taken; NULL if none. */
struct cbt_filter *cbt_filter_get_by_ident(const struct cbt_disk_id *id)
{
	struct cbt_filter *found = NULL;
	PLIST_ENTRY e;
	KIRQL irql;

	KeAcquireSpinLock(&cbt_g.filters_lock, &irql);
	for (e = cbt_g.filters.Flink; e != &cbt_g.filters; e = e->Flink) {
		struct cbt_filter *f = CONTAINING_RECORD(e, struct cbt_filter, link);

		if (!f->have_number || f->removed || !cbt_disk_id_eq(&f->ident, id))
			continue;
		if (NT_SUCCESS(IoAcquireRemoveLock(&f->remove_lock, &cbt_g)))
			found = f;
		break;
	}
	KeReleaseSpinLock(&cbt_g.filters_lock, irql);
	return found;
}

struct cbt_filter *cbt_filter_get_by_number(ULONG disk_number)
{
	struct cbt_filter *found = NULL;
	PLIST_ENTRY e;
	KIRQL irql;

	KeAcquireSpinLock(&cbt_g.filters_lock, &irql);
	for (e = cbt_g.filters.Flink; e != &cbt_g.filters; e = e->Flink) {
		struct cbt_filter *f = CONTAINING_RECORD(e, struct cbt_filter, link);

		if (!f->have_number || f->disk_number != disk_number)
			continue;
		if (NT_SUCCESS(IoAcquireRemoveLock(&f->remove_lock, &cbt_g)))
			found = f;
		break;
	}
	KeReleaseSpinLock(&cbt_g.filters_lock, irql);
	return found;
}

void cbt_filter_put(struct cbt_filter *f)
{
	IoReleaseRemoveLock(&f->remove_lock, &cbt_g);
}

/* Keeps a nonpaged copy of the service key path for later registry reads. */
static NTSTATUS save_service_key(PUNICODE_STRING reg)
{
	USHORT len = reg->Length;
	PWCH buf = ExAllocatePoolWithTag(NonPagedPoolNx, (SIZE_T)len + sizeof(WCHAR), CBT_POOL_TAG);

	if (!buf)
		return STATUS_INSUFFICIENT_RESOURCES;
	RtlCopyMemory(buf, reg->Buffer, len);
	buf[len / sizeof(WCHAR)] = L'\0';
	cbt_g.service_key.Buffer = buf;
	cbt_g.service_key.Length = len;
	cbt_g.service_key.MaximumLength = len + sizeof(WCHAR);
	return STATUS_SUCCESS;
}

static void cbt_unload(PDRIVER_OBJECT driver)
{
	UNREFERENCED_PARAMETER(driver);
	/* PnP removed every filter device before this runs; only the control device is left. */
	cbt_control_delete();
	if (cbt_g.service_key.Buffer)
		ExFreePoolWithTag(cbt_g.service_key.Buffer, CBT_POOL_TAG);
	cbt_g.service_key.Buffer = NULL;
}

NTSTATUS DriverEntry(PDRIVER_OBJECT driver, PUNICODE_STRING reg)
{
	NTSTATUS st;
	ULONG i;

	RtlZeroMemory(&cbt_g, sizeof(cbt_g));
	cbt_g.driver = driver;
	KeInitializeSpinLock(&cbt_g.filters_lock);
	InitializeListHead(&cbt_g.filters);

	for (i = 0; i <= IRP_MJ_MAXIMUM_FUNCTION; i++)
		driver->MajorFunction[i] = cbt_dispatch_default;
	driver->MajorFunction[IRP_MJ_PNP] = cbt_dispatch_pnp;
	driver->MajorFunction[IRP_MJ_POWER] = cbt_dispatch_power;
	driver->MajorFunction[IRP_MJ_WRITE] = cbt_dispatch_write;
	driver->MajorFunction[IRP_MJ_DEVICE_CONTROL] = cbt_dispatch_device_control;
	driver->MajorFunction[IRP_MJ_FLUSH_BUFFERS] = cbt_dispatch_flush;
	driver->MajorFunction[IRP_MJ_SHUTDOWN] = cbt_dispatch_shutdown;
	driver->DriverExtension->AddDevice = cbt_add_device;
	driver->DriverUnload = cbt_unload;

	st = save_service_key(reg);
	if (!NT_SUCCESS(st))
		return st; /* no memory at boot: nothing else would work either */

	cbt_g.bypass = cbt_read_bypass(&cbt_g.service_key);
	if (cbt_g.bypass) {
		cbt_log("bypass switch set: pure pass-through, no device attached");
		return STATUS_SUCCESS;
	}

	cbt_track_init();
	st = cbt_control_create(driver);
	if (!NT_SUCCESS(st))
		cbt_log("control device unavailable (0x%08x): tracking cannot be controlled", st);
	return STATUS_SUCCESS;
}
