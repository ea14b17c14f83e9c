// SPDX-License-Identifier: GPL-2.0
/* Request checks and code tables of the Windows driver (see wioctl.h). */
#include <errno.h>

#include "wioctl.h"

#include <cbtrep/ioctl.h>

#ifndef ESTALE
#define ESTALE 116 /* not in mingw's errno.h; the core uses the Linux number */
#endif

int cbt_wio_range_ok(uint64_t off, uint64_t len, uint64_t disk_bytes)
{
	if (len > UINT64_MAX - off)
		return 0;
	return !disk_bytes || off + len <= disk_bytes;
}

int cbt_wio_clamp(uint64_t *off, uint64_t *len, uint64_t disk_bytes)
{
	uint64_t end;

	if (!*len)
		return 0;
	end = (*len > UINT64_MAX - *off) ? UINT64_MAX : *off + *len;
	if (disk_bytes && end > disk_bytes)
		end = disk_bytes;
	if (end <= *off)
		return 0;
	*len = end - *off;
	return 1;
}

int cbt_wio_rewrites_below(uint32_t code)
{
	switch (code) {
	case CBT_IOCTL_DISK_SET_PARTITION_INFO:
	case CBT_IOCTL_DISK_SET_DRIVE_LAYOUT:
	case CBT_IOCTL_DISK_FORMAT_TRACKS:
	case CBT_IOCTL_DISK_REASSIGN_BLOCKS:
	case CBT_IOCTL_DISK_FORMAT_TRACKS_EX:
	case CBT_IOCTL_DISK_SET_PARTITION_INFO_EX:
	case CBT_IOCTL_DISK_SET_DRIVE_LAYOUT_EX:
	case CBT_IOCTL_DISK_CREATE_DISK:
	case CBT_IOCTL_DISK_REASSIGN_BLOCKS_EX:
	case CBT_IOCTL_DISK_GROW_PARTITION:
	case CBT_IOCTL_DISK_DELETE_DRIVE_LAYOUT: return 1;
	default: return 0;
	}
}

#define WIN_DEVICE_TYPE 0x8cb0u /* include/cbtrep/ioctl.h, CBT_WIN_DEVICE_TYPE */
#define WIN_FN_BASE 0x800u

int cbt_wioc_nr(uint32_t code)
{
	uint32_t fn;

	if ((code >> 16) != WIN_DEVICE_TYPE)
		return -1;
	if (((code >> 14) & 3u) != 3u || (code & 3u) != 0u) /* read|write access, buffered */
		return -1;
	fn = (code >> 2) & 0xfffu;
	if (fn < WIN_FN_BASE || fn > WIN_FN_BASE + CBT_IOC_NR_RESYNC)
		return -1;
	return (int)(fn - WIN_FN_BASE);
}

uint32_t cbt_wioc_struct_size(int nr)
{
	switch (nr) {
	case CBT_IOC_NR_VERSION: return sizeof(struct cbt_ioc_version);
	case CBT_IOC_NR_ATTACH: return sizeof(struct cbt_ioc_attach);
	case CBT_IOC_NR_DETACH: return sizeof(struct cbt_ioc_detach);
	case CBT_IOC_NR_STATUS: return sizeof(struct cbt_ioc_status);
	case CBT_IOC_NR_LIST: return sizeof(struct cbt_ioc_list);
	case CBT_IOC_NR_GET: return sizeof(struct cbt_ioc_get);
	case CBT_IOC_NR_COMMIT: return sizeof(struct cbt_ioc_commit);
	case CBT_IOC_NR_WAIT: return sizeof(struct cbt_ioc_wait);
	case CBT_IOC_NR_TAG: return sizeof(struct cbt_ioc_tag);
	case CBT_IOC_NR_MARK_DIRTY: return sizeof(struct cbt_ioc_mark_dirty);
	case CBT_IOC_NR_BITMAP_CUT: return sizeof(struct cbt_ioc_cut);
	case CBT_IOC_NR_BITMAP_READ: return sizeof(struct cbt_ioc_bitmap_read);
	case CBT_IOC_NR_RESYNC: return sizeof(struct cbt_ioc_resync);
	default: return 0;
	}
}

int cbt_wioc_has_tail(int nr)
{
	return nr == CBT_IOC_NR_GET || nr == CBT_IOC_NR_LIST || nr == CBT_IOC_NR_BITMAP_READ;
}

/* The user buffer address field of the requests that have one (must be 0 on Windows). */
static uint64_t user_buf_field(int nr, const void *sys)
{
	switch (nr) {
	case CBT_IOC_NR_GET: return ((const struct cbt_ioc_get *)sys)->buf;
	case CBT_IOC_NR_LIST: return ((const struct cbt_ioc_list *)sys)->buf;
	case CBT_IOC_NR_BITMAP_READ: return ((const struct cbt_ioc_bitmap_read *)sys)->buf;
	default: return 0;
	}
}

int cbt_wioc_check(int nr, const void *sys, uint32_t in_len, uint32_t out_len)
{
	uint32_t size = cbt_wioc_struct_size(nr);

	if (!size)
		return -ENOTTY;
	if (!sys || in_len < size || out_len < size)
		return -EINVAL;
	if (cbt_ioc_hdr_check((const struct cbt_ioc_hdr *)sys, size) != CBT_FMT_OK)
		return -EINVAL;
	if (user_buf_field(nr, sys) != 0)
		return -EINVAL; /* never a user address in kernel mode without SEH */
	return 0;
}

uint32_t cbt_wio_errno_to_status(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case 0: return CBT_STATUS_SUCCESS;
	case EINVAL: return CBT_STATUS_INVALID_PARAMETER;
	case ENOENT: return CBT_STATUS_OBJECT_NAME_NOT_FOUND;
	case EEXIST: return CBT_STATUS_OBJECT_NAME_COLLISION;
	case ENOSPC: return CBT_STATUS_BUFFER_OVERFLOW; /* the struct still goes back */
	case EAGAIN: return CBT_STATUS_NO_MORE_ENTRIES;
	case ESTALE: return CBT_STATUS_INVALID_DEVICE_STATE;
	case EBUSY: return CBT_STATUS_DEVICE_BUSY;
	case ETIMEDOUT: return CBT_STATUS_IO_TIMEOUT;
	case ENOMEM: return CBT_STATUS_INSUFFICIENT_RESOURCES;
	case ENODEV: return CBT_STATUS_NO_SUCH_DEVICE;
	case EPERM: return CBT_STATUS_ACCESS_DENIED;
	case ENOTTY: return CBT_STATUS_INVALID_DEVICE_REQUEST;
	default: return CBT_STATUS_UNSUCCESSFUL;
	}
}
