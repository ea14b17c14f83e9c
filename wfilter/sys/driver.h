/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cbtrep.sys: WDM disk class upper filter that tracks changed blocks.
 *
 * Two kinds of device object belong to this driver:
 *   - one filter device per disk, attached by AddDevice directly above disk.sys (we are
 *     FIRST in the disk class UpperFilters, so below partmgr);
 *   - one control device (\Device\CbtrepCtl, \\.\CbtrepCtl) carrying the
 *     IOCTLs of include/cbtrep/, open to SYSTEM and Administrators only.
 * Every dispatch routine looks at the common header to tell them apart.
 *
 * Files: driver.c (entry, dispatch table, device list), pnp.c, power.c, io.c (write and
 * discard interception), control.c (control device, IOCTLs), security.c (its DACL),
 * bypass.c (registry/boot-option switch), persist.c (metadata on disk), lowerio.c
 * (synchronous requests to the device below), track_core.c (the bridge to core/) and
 * cbt_os_impl.h (the core's OS layer: the name core/cbt_os.h includes).
 */
#ifndef CBT_WF_DRIVER_H
#define CBT_WF_DRIVER_H

#include <ntifs.h>
#include <ntddk.h>

#include "../lib/rearm.h"

#define CBT_POOL_TAG 'prtC'		  /* "Ctrp" in pool dumps */
#define CBT_DEV_MAGIC_FILTER 0x746c6946u  /* "Filt" */
#define CBT_DEV_MAGIC_CONTROL 0x6c727443u /* "Ctrl" */
#define CBT_CONTROL_NAME L"\\Device\\CbtrepCtl"
#define CBT_CONTROL_LINK                                                                           \
	L"\\DosDevices\\Global\\CbtrepCtl" /* \\.\CbtrepCtl, include/cbtrep/ioctl.h */

#ifndef MdlMappingNoExecute
#define MdlMappingNoExecute 0x40000000 /* missing from mingw's wdm.h; Windows 8+ */
#endif

#define cbt_log(fmt, ...)                                                                          \
	DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_ERROR_LEVEL, "cbtrep: " fmt "\n", ##__VA_ARGS__)

struct cbt_track; /* per-disk tracking state of the shared core (opaque here) */

struct cbt_dev_common {
	ULONG magic;
};

/* Device extension of a per-disk filter device. */
struct cbt_filter {
	struct cbt_dev_common c;
	PDEVICE_OBJECT self;
	PDEVICE_OBJECT lower; /* what IoAttachDeviceToDeviceStackSafe returned */
	PDEVICE_OBJECT pdo;
	IO_REMOVE_LOCK remove_lock; /* held by every IRP we pass down */
	LIST_ENTRY link;	    /* in cbt_g.filters, under cbt_g.filters_lock */

	volatile LONG started;
	volatile LONG removed; /* REMOVE or SURPRISE_REMOVAL seen: stop tracking */
	LONG paging_count;     /* DEVICE_USAGE_NOTIFICATION counts (IoAdjustPagingPathCount) */
	LONG hiber_count;
	LONG dump_count;

	/* Identity, filled at START_DEVICE. */
	BOOLEAN have_number;
	ULONG disk_number;    /* IOCTL_STORAGE_GET_DEVICE_NUMBER */
	ULONGLONG disk_bytes; /* IOCTL_DISK_GET_LENGTH_INFO */
	ULONG sector_size;    /* IOCTL_DISK_GET_DRIVE_GEOMETRY, 512 if unknown */
	/* Stable across boots (lib/rearm.h): partition-table signature/GUID + length.
	 * Zero (invalid) until START, and for a disk without a partition table. */
	struct cbt_disk_id ident;
	/* partmgr is below us: we are not first in UpperFilters and partition I/O, which
	 * enters the stack under partmgr, would bypass us. Attach is refused then. */
	BOOLEAN above_partmgr;

	/*
	 * Tracking. @track is set by attach and cleared by detach; the write path takes a
	 * rundown reference before reading it and keeps it until the write completes, so
	 * detach can wait for every in-flight tracked write before freeing the state.
	 */
	EX_RUNDOWN_REF track_ref;
	struct cbt_track *volatile track;
	/* Writes passed down while untracked and not yet complete (attach drains them). */
	volatile LONG untracked_inflight;
};

/* Driver-wide state. */
struct cbt_global {
	PDRIVER_OBJECT driver;
	BOOLEAN bypass; /* read once at load: pure pass-through when set */
	PDEVICE_OBJECT control;
	KSPIN_LOCK filters_lock;
	LIST_ENTRY filters;
	UNICODE_STRING service_key; /* copy of DriverEntry's RegistryPath */
};

extern struct cbt_global cbt_g;

static inline struct cbt_filter *cbt_filter_of(PDEVICE_OBJECT dev)
{
	struct cbt_dev_common *c = dev->DeviceExtension;

	return (c && c->magic == CBT_DEV_MAGIC_FILTER) ? (struct cbt_filter *)c : NULL;
}

static inline BOOLEAN cbt_is_control(PDEVICE_OBJECT dev)
{
	struct cbt_dev_common *c = dev->DeviceExtension;

	return c && c->magic == CBT_DEV_MAGIC_CONTROL;
}

/* driver.c */
NTSTATUS cbt_complete(PIRP irp, NTSTATUS status, ULONG_PTR info);
NTSTATUS cbt_pass_down(struct cbt_filter *f, PIRP irp);		/* releases nothing; see driver.c */
struct cbt_filter *cbt_filter_get_by_number(ULONG disk_number); /* takes a remove lock */
struct cbt_filter *cbt_filter_get_by_ident(const struct cbt_disk_id *id); /* the same */
void cbt_filter_put(struct cbt_filter *f);

/* pnp.c */
DRIVER_ADD_DEVICE cbt_add_device;
DRIVER_DISPATCH cbt_dispatch_pnp;

/* power.c */
DRIVER_DISPATCH cbt_dispatch_power;

/* io.c */
DRIVER_DISPATCH cbt_dispatch_write;
DRIVER_DISPATCH cbt_dispatch_device_control;
DRIVER_DISPATCH cbt_dispatch_flush;
DRIVER_DISPATCH cbt_dispatch_shutdown;
NTSTATUS cbt_wait_untracked_drained(struct cbt_filter *f, ULONG timeout_ms);

/* control.c */
NTSTATUS cbt_control_create(PDRIVER_OBJECT driver);
void cbt_control_delete(void);
NTSTATUS cbt_control_dispatch(PDEVICE_OBJECT dev, PIRP irp);
void cbt_control_notify_data(struct cbt_filter *f); /* new data: complete pending waits */

/* security.c */
NTSTATUS cbt_secure_device(PDEVICE_OBJECT dev);

/* bypass.c */
BOOLEAN cbt_read_bypass(PUNICODE_STRING service_key);

/* persist.c */
void cbt_persist_last_chance(void);

#endif
