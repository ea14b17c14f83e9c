/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Metadata file of a tracked disk (include/cbtrep/meta.h image: header + saved bitmap).
 *
 * While attached, the file is open and written through the file system (attach: DIRTY
 * header; detach: bitmap + CLEAN). For the last-chance shutdown notification, when file
 * systems no longer accept writes, the file's sectors are resolved at attach time to
 * disk offsets and VERIFIED by reading them back below the file system; only then may
 * the shutdown write go to the disk directly (below every filter, so it is not tracked).
 * A file that moved since (defragmentation) is detected by reading its header back first.
 * Any failure leaves the DIRTY header of attach in place: the next attach reports an
 * unclean shutdown and a resync, never silence.
 *
 * At boot, START of the tracked disk (recognised by its identity, lib/rearm.h) re-creates
 * its tracker from the registry record and the image read below every filter from the
 * recorded extents, then writes a DIRTY header, all before the first write: the disk is
 * tracked from boot, so a CLEAN header saved at shutdown stays trustworthy.
 */
#ifndef CBT_WF_PERSIST_H
#define CBT_WF_PERSIST_H

#include "driver.h"

#define CBT_PERSIST_MAX_EXT 8

struct cbt_persist {
	HANDLE file; /* NULL: no persistence for this device (or raw only, at boot) */
	/* Filled by track_core.c before the first write; when the location is verified,
	 * persist.c completes it (metadata disk, extents) and stores it as the device's boot
	 * re-arm record. NULL: no record. */
	struct cbt_rearm_rec *rec;
	ULONG size;	/* bytes reserved in the file, multiple of 4096 */
	BOOLEAN raw_ok; /* the pre-resolved location was verified */
	ULONG raw_disk; /* disk number holding the file */
	ULONG nr_ext;
	struct {
		ULONGLONG file_off, disk_off, len;
	} ext[CBT_PERSIST_MAX_EXT];
};

/*
 * Opens (creating if needed) the metadata file @path for the device tracked on disk
 * @tracked_disk, reserves @size bytes, and returns what it held in *image / *len (pool
 * memory, cbt_persist_free(); *len == 0 for a new file). Refuses (-EINVAL) a file on the
 * tracked disk itself. 0 or -errno.
 */
int cbt_persist_open(struct cbt_persist *p, const char *path, ULONG tracked_disk, ULONG size,
		     void **image, ULONG *len);
/* Writes @len bytes (multiple of 512) at offset 0 through the file system, write-through.
 * On the first call after open it also resolves and verifies the raw location. */
int cbt_persist_write(struct cbt_persist *p, const char *name, const void *buf, ULONG len);
/* Last-chance shutdown: the same write straight to the disk, if the location is verified
 * and still holds our header. */
int cbt_persist_write_raw(struct cbt_persist *p, const char *name, const void *buf, ULONG len);
void cbt_persist_close(struct cbt_persist *p);

void *cbt_persist_alloc(ULONG len);
void cbt_persist_free(void *p);

/* START of a disk (after its identity is known, before START completes): writes pending
 * boot headers on it and re-arms every device whose record names this disk
 * (cbt_track_rearm). */
void cbt_persist_disk_started(struct cbt_filter *f);
/* The boot re-arm record of @name: 0, -ENOENT, or -EINVAL (present but invalid). */
int cbt_persist_record_get(const char *name, struct cbt_rearm_rec *rec);
/* Stores (flushed) the sealed record @r of @name: 0 or -EIO. */
int cbt_persist_record_put(const char *name, const struct cbt_rearm_rec *r);
/* DETACH: the device is no longer re-armed at boot. Also while a re-armed device's
 * header cannot be marked DIRTY (track_core.c). */
void cbt_persist_forget(const char *name);

#endif
