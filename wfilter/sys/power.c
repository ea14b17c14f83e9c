// SPDX-License-Identifier: GPL-2.0
/*
 * IRP_MJ_POWER: pass everything down untouched.
 *
 * The mingw headers target Windows 10 (NTDDI 0x0A000000), where PoStartNextPowerIrp is a
 * no-op and PoCallDriver is IoCallDriver; both are still exported and still correct, so the
 * driver uses the classic sequence that is also right on older systems:
 * PoStartNextPowerIrp, skip our stack location, PoCallDriver.
 *
 * Hibernation needs nothing here: memory (bitmaps, journal) is restored as it was, and the
 * hibernation file is written by the crash-dump stack, which never passes through filters
 * (see docs/windows.md, "What is not tracked").
 */
#include "driver.h"

NTSTATUS cbt_dispatch_power(PDEVICE_OBJECT dev, PIRP irp)
{
	struct cbt_filter *f = cbt_filter_of(dev);
	NTSTATUS st;

	if (!f) {
		/* The control device is not in a power-managed stack: answer as-is. */
		st = irp->IoStatus.Status;
		PoStartNextPowerIrp(irp);
		IoCompleteRequest(irp, IO_NO_INCREMENT);
		return st;
	}
	st = IoAcquireRemoveLock(&f->remove_lock, irp);
	if (!NT_SUCCESS(st)) {
		PoStartNextPowerIrp(irp);
		return cbt_complete(irp, st, 0);
	}
	PoStartNextPowerIrp(irp);
	IoSkipCurrentIrpStackLocation(irp);
	st = PoCallDriver(f->lower, irp);
	IoReleaseRemoveLock(&f->remove_lock, irp);
	return st;
}
