/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Boot re-arm record of a tracked disk: what ATTACH leaves in the registry
 * (HKLM\SYSTEM\CurrentControlSet\Services\cbtrep\Parameters\Devices\<name>, REG_BINARY
 * value "Rearm") so that START of the same disk at the next boot can re-create its tracker
 * from the saved metadata before any write passes (sys/persist.c, sys/track_core.c).
 * DETACH deletes it.
 *
 * Disks are recognised by a stable identity, never by their number (numbers follow
 * enumeration order and change across boots): the partition table's disk signature (MBR)
 * or disk GUID (GPT) from IOCTL_DISK_GET_DRIVE_LAYOUT_EX, plus the disk's length. A disk
 * without a partition table has no identity and is never re-armed (its next ATTACH asks
 * for a resync). Cloned disks share a signature; Windows rewrites one of a colliding pair
 * at mount, which then makes the record fail to match: a resync, never a wrong disk.
 *
 * The metadata file lives on another disk (ATTACH refuses the tracked disk itself): the
 * record holds that disk's identity and the file's verified extents on it, so the image
 * can be read below every filter before any file system is mounted.
 *
 * Pure C: compiled into cbtrep.sys, cbtrep.exe and the Linux unit tests.
 */
#ifndef CBT_WF_REARM_H
#define CBT_WF_REARM_H

#include <stddef.h>
#include <stdint.h>

#include <cbtrep/abi.h>

#define CBT_REARM_MAGIC 0x6d724143u /* "CArm" */
#define CBT_REARM_VERSION 1u
#define CBT_REARM_MAX_EXT 8u
#define CBT_REARM_VALUE L"Rearm"
#define CBT_REARM_KEY L"\\Parameters\\Devices" /* under the service key */

enum cbt_disk_id_kind {
	CBT_DISK_ID_NONE = 0, /* no partition table: cannot be recognised at boot */
	CBT_DISK_ID_MBR = 1,
	CBT_DISK_ID_GPT = 2,
};

struct cbt_disk_id {
	uint32_t kind;		/* enum cbt_disk_id_kind */
	uint32_t mbr_signature; /* MBR: nonzero */
	uint8_t gpt_guid[16];	/* GPT: not all zero */
	uint64_t bytes;		/* IOCTL_DISK_GET_LENGTH_INFO */
};

struct cbt_rearm_ext {
	uint64_t file_off, disk_off, len; /* bytes; disk_off on the metadata disk */
};

/* Little-endian on every platform that runs the driver; no padding (checked by a test). */
struct cbt_rearm_rec {
	uint32_t magic;
	uint32_t version;
	uint32_t size; /* sizeof(struct cbt_rearm_rec) */
	uint32_t crc;  /* crc32c of the record with this field 0 */
	char name[CBT_NAME_LEN];
	struct cbt_disk_id tracked;   /* the tracked disk */
	struct cbt_disk_id meta_disk; /* the disk holding the metadata file */
	uint32_t granularity;	      /* as the tracker had it (0 is refused) */
	uint32_t flags;		      /* CBT_ATTACH_* */
	uint64_t mem_cap;
	uint32_t meta_size; /* bytes reserved in the file, multiple of CBT_META_AREA_SIZE */
	uint32_t nr_ext;
	struct cbt_rearm_ext ext[CBT_REARM_MAX_EXT];
};

enum cbt_rearm_err {
	CBT_REARM_OK = 0,
	CBT_REARM_E_SIZE,
	CBT_REARM_E_MAGIC,
	CBT_REARM_E_VERSION,
	CBT_REARM_E_CRC,
	CBT_REARM_E_NAME,
	CBT_REARM_E_IDENTITY, /* the tracked or metadata disk has no usable identity */
	CBT_REARM_E_PARAMS,   /* granularity, metadata size */
	CBT_REARM_E_EXTENTS,  /* extents do not cover [0, meta_size) in order, or misaligned */
};

int cbt_disk_id_valid(const struct cbt_disk_id *d);
/* Same disk: both valid, same kind, same signature or GUID, same length. */
int cbt_disk_id_eq(const struct cbt_disk_id *a, const struct cbt_disk_id *b);

/*
 * The same identity read straight from the partition table, for a stack below us that
 * does not answer IOCTL_DISK_GET_DRIVE_LAYOUT_EX: @buf holds the disk's first
 * 2 * @sector_size bytes (LBA 0 and LBA 1). A GPT header ("EFI PART", CRC-checked) gives
 * its disk GUID; otherwise a valid MBR (0x55AA, no protective 0xEE entry) gives its
 * signature. Returns 1 with *out valid, 0 with *out zeroed.
 */
int cbt_disk_id_parse(const uint8_t *buf, uint32_t sector_size, uint64_t bytes,
		      struct cbt_disk_id *out);

/* Fills magic, version, size and crc. */
void cbt_rearm_seal(struct cbt_rearm_rec *r);
/* Validates a registry value of @len bytes and copies it to *out (CBT_REARM_OK only). */
enum cbt_rearm_err cbt_rearm_check(const void *buf, size_t len, struct cbt_rearm_rec *out);

/*
 * ATTACH that did not adopt a tracker re-armed at boot, and found a CLEAN header: writes
 * happened while nothing tracked the disk (since boot, or since a DETACH), so the saved
 * bitmap is not the whole truth. Returns the reason for RESYNC_REQUIRED: IDENTITY_CHANGED
 * when a record exists for a disk that is not @disk, UNTRACKED_WINDOW otherwise.
 */
uint32_t cbt_rearm_attach_reason(const struct cbt_rearm_rec *rec_or_null,
				 const struct cbt_disk_id *disk);

#endif
