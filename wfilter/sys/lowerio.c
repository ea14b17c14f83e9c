// SPDX-License-Identifier: GPL-2.0
/* Synchronous requests to the device below (see lowerio.h). */
#include "lowerio.h"

static NTSTATUS wait_irp(PDEVICE_OBJECT dev, PIRP irp, PKEVENT ev, PIO_STATUS_BLOCK iosb)
{
	NTSTATUS st = IoCallDriver(dev, irp);

	if (st == STATUS_PENDING) {
		KeWaitForSingleObject(ev, Executive, KernelMode, FALSE, NULL);
		st = iosb->Status;
	}
	return st;
}

NTSTATUS cbt_lower_ioctl(PDEVICE_OBJECT dev, ULONG code, PVOID in, ULONG in_len, PVOID out,
			 ULONG out_len, ULONG_PTR *returned)
{
	IO_STATUS_BLOCK iosb;
	KEVENT ev;
	PIRP irp;
	NTSTATUS st;

	KeInitializeEvent(&ev, NotificationEvent, FALSE);
	irp = IoBuildDeviceIoControlRequest(code, dev, in, in_len, out, out_len, FALSE, &ev, &iosb);
	if (!irp)
		return STATUS_INSUFFICIENT_RESOURCES;
	st = wait_irp(dev, irp, &ev, &iosb);
	if (returned)
		*returned = NT_SUCCESS(st) ? iosb.Information : 0;
	return st;
}

NTSTATUS cbt_lower_rw(PDEVICE_OBJECT dev, BOOLEAN write, ULONGLONG offset, PVOID buf, ULONG len)
{
	IO_STATUS_BLOCK iosb;
	LARGE_INTEGER off;
	KEVENT ev;
	PIRP irp;
	NTSTATUS st;

	off.QuadPart = (LONGLONG)offset;
	KeInitializeEvent(&ev, NotificationEvent, FALSE);
	irp = IoBuildSynchronousFsdRequest(write ? IRP_MJ_WRITE : IRP_MJ_READ, dev, buf, len, &off,
					   &ev, &iosb);
	if (!irp)
		return STATUS_INSUFFICIENT_RESOURCES;
	/* Metadata must reach the media, not a volatile cache. */
	if (write)
		IoGetNextIrpStackLocation(irp)->Flags |= SL_WRITE_THROUGH;
	st = wait_irp(dev, irp, &ev, &iosb);
	if (NT_SUCCESS(st) && iosb.Information != len)
		st = STATUS_UNEXPECTED_IO_ERROR;
	return st;
}
