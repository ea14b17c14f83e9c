/* SPDX-License-Identifier: GPL-2.0 */
/* Synchronous requests to a device object, PASSIVE_LEVEL only (start, attach, shutdown). */
#ifndef CBT_WF_LOWERIO_H
#define CBT_WF_LOWERIO_H

#include "driver.h"

/* METHOD_BUFFERED IOCTL; *returned (optional) receives IoStatus.Information. */
NTSTATUS cbt_lower_ioctl(PDEVICE_OBJECT dev, ULONG code, PVOID in, ULONG in_len, PVOID out,
			 ULONG out_len, ULONG_PTR *returned);

/* Reads or writes @len bytes at byte @offset (sector aligned) with IRP_MJ_READ/WRITE. */
NTSTATUS cbt_lower_rw(PDEVICE_OBJECT dev, BOOLEAN write, ULONGLONG offset, PVOID buf, ULONG len);

#endif
