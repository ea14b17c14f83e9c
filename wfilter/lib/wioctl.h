/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Pure logic of the driver's request handling, kept free of Windows headers so that it is
 * unit-tested on Linux: byte-range checks of writes, which disk IOCTLs change data below
 * the filter, decoding of the control IOCTL codes of include/cbtrep/ioctl.h, and the
 * errno -> NTSTATUS mapping at the IOCTL boundary.
 */
#ifndef CBT_WF_WIOCTL_H
#define CBT_WF_WIOCTL_H

#include <stddef.h>
#include <stdint.h>

/* True when [off, off + len) does not wrap and ends inside the disk (when its size,
 * disk_bytes, is known: 0 means unknown and only the wrap is checked). */
int cbt_wio_range_ok(uint64_t off, uint64_t len, uint64_t disk_bytes);

/* Clamps [*off, *off + *len) to the disk. Returns 0 when nothing is left. */
int cbt_wio_clamp(uint64_t *off, uint64_t *len, uint64_t disk_bytes);

/*
 * Disk IOCTLs after which disk.sys writes to the media itself, below this filter (partition
 * tables, formatting, block reassignment). Their success means changes we never saw.
 * Codes: CTL_CODE(IOCTL_DISK_BASE, fn, METHOD_BUFFERED, FILE_READ_ACCESS|FILE_WRITE_ACCESS).
 */
#define CBT_IOCTL_DISK_SET_PARTITION_INFO 0x0007c008u
#define CBT_IOCTL_DISK_SET_DRIVE_LAYOUT 0x0007c010u
#define CBT_IOCTL_DISK_FORMAT_TRACKS 0x0007c018u
#define CBT_IOCTL_DISK_REASSIGN_BLOCKS 0x0007c01cu
#define CBT_IOCTL_DISK_FORMAT_TRACKS_EX 0x0007c02cu
#define CBT_IOCTL_DISK_SET_PARTITION_INFO_EX 0x0007c04cu
#define CBT_IOCTL_DISK_SET_DRIVE_LAYOUT_EX 0x0007c054u
#define CBT_IOCTL_DISK_CREATE_DISK 0x0007c058u
#define CBT_IOCTL_DISK_REASSIGN_BLOCKS_EX 0x0007c0a4u /* not in mingw headers */
#define CBT_IOCTL_DISK_GROW_PARTITION 0x0007c0d0u
#define CBT_IOCTL_DISK_DELETE_DRIVE_LAYOUT 0x0007c100u
/* CTL_CODE(IOCTL_STORAGE_BASE, 0x0501, METHOD_BUFFERED, FILE_WRITE_ACCESS) */
#define CBT_IOCTL_STORAGE_MANAGE_DATA_SET_ATTRIBUTES 0x002d9404u

int cbt_wio_rewrites_below(uint32_t code);

/*
 * Control IOCTLs: CTL_CODE(0x8cb0, 0x800 + nr, METHOD_BUFFERED, FILE_READ|FILE_WRITE).
 * Returns nr (CBT_IOC_NR_*), or -1 for a code that is not ours or is malformed.
 */
int cbt_wioc_nr(uint32_t code);

/* Size of the request struct for nr, 0 for an unknown nr. */
uint32_t cbt_wioc_struct_size(int nr);

/* Bytes that follow the struct in the output buffer for nr (GET, LIST, BITMAP_READ):
 * nonzero when the request carries a variable-size result. */
int cbt_wioc_has_tail(int nr);

/*
 * Checks a METHOD_BUFFERED control request before anything else looks at it: both buffers
 * at least the struct, header version/size as ioctl.h demands, buf == 0 for requests that
 * carry one (Windows returns data after the struct). Returns 0 or a negative errno.
 * @sys is the system buffer (input copied in), @in_len/@out_len the IRP's lengths.
 */
int cbt_wioc_check(int nr, const void *sys, uint32_t in_len, uint32_t out_len);

/* Windows NTSTATUS values used at the boundary (from ntstatus.h). */
#define CBT_STATUS_SUCCESS 0x00000000u
#define CBT_STATUS_BUFFER_OVERFLOW 0x80000005u
#define CBT_STATUS_NO_MORE_ENTRIES 0x8000001Au
#define CBT_STATUS_UNSUCCESSFUL 0xC0000001u
#define CBT_STATUS_INVALID_PARAMETER 0xC000000Du
#define CBT_STATUS_NO_SUCH_DEVICE 0xC000000Eu
#define CBT_STATUS_ACCESS_DENIED 0xC0000022u
#define CBT_STATUS_OBJECT_NAME_NOT_FOUND 0xC0000034u
#define CBT_STATUS_OBJECT_NAME_COLLISION 0xC0000035u
#define CBT_STATUS_INSUFFICIENT_RESOURCES 0xC000009Au
#define CBT_STATUS_DEVICE_BUSY 0x80000011u
#define CBT_STATUS_IO_TIMEOUT 0xC00000B5u
#define CBT_STATUS_INVALID_DEVICE_REQUEST 0xC0000010u
#define CBT_STATUS_INVALID_DEVICE_STATE 0xC0000184u
#define CBT_STATUS_NOT_IMPLEMENTED 0xC0000002u

/*
 * errno (negative or positive, numbered as the build's <errno.h>; ESTALE is given the
 * Linux value where the C library lacks it, as mingw's does) -> NTSTATUS. Unknown values
 * become STATUS_UNSUCCESSFUL, 0 is STATUS_SUCCESS.
 */
uint32_t cbt_wio_errno_to_status(int err);

#endif
