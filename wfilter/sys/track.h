/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one door between the WDM glue and the shared tracking core (core/).
 *
 * The glue (pnp.c, io.c, control.c, persist.c) never touches bitmaps, journals, modes,
 * batches or tags: it calls these functions, which translate to the core's API and run
 * the core under the Windows OS layer (cbt_os_impl.h). Implemented by track_core.c, or by
 * track_stub.c in a build without the core. Contracts the glue relies on:
 *   - cbt_track_write_begin() runs BEFORE the write is passed down, marks the bitmap and
 *     (DATA mode) copies the data into the core's record (struct cbt_wio).
 *   - cbt_track_write_end() runs from the completion routine, at IRQL <= DISPATCH_LEVEL:
 *     ok means "completed successfully and in full"; otherwise the range stays dirty in
 *     the bitmap and is never journalled as done.
 *   - Errors are negative errno values as in include/cbtrep/ioctl.h; control.c turns them
 *     into NTSTATUS once, at the IOCTL boundary.
 */
#ifndef CBT_WF_TRACK_H
#define CBT_WF_TRACK_H

#include "driver.h"

/* Kinds of change the I/O path reports (mirrors enum cbt_rec_type where one exists). */
enum cbt_change {
	CBT_CHANGE_WRITE = 1,
	CBT_CHANGE_DISCARD = 2,
};

struct cbt_io; /* the core's per-write record (core/cbt_journal.h) */

/* What the write path keeps between begin and end of one change. */
struct cbt_wio {
	struct cbt_io *io;  /* NULL: covered by the bitmap only (the core said why) */
	BOOLEAN force_fail; /* data could not be captured: journal a DIRTY range instead */
};

/* Write/discard path. @off/@len are bytes relative to the disk, already validated;
 * @data is the mapped write buffer (NULL when it could not be mapped). */
void cbt_track_write_begin(struct cbt_track *t, enum cbt_change kind, ULONGLONG off, ULONGLONG len,
			   const void *data, ULONG rec_flags, struct cbt_wio *w);
void cbt_track_write_end(struct cbt_track *t, struct cbt_wio *w, BOOLEAN ok);

/* A change we could not describe (malformed request that the disk accepted, writes that
 * happen below us): state becomes resync-required with @reason. */
void cbt_track_resync_required(struct cbt_track *t, ULONG reason);

/* Readiness for WAIT of the device attached as @name (CBT_READY_* bits in *ready);
 * 0 or -ENOENT. Callable at DISPATCH_LEVEL (the WAIT queue scan runs in a DPC). */
int cbt_track_ready_by_name(const char *name, ULONG *ready);

/* Control operations, PASSIVE_LEVEL. @io is the METHOD_BUFFERED system buffer holding the
 * request struct (already header-checked by control.c); @out_len its output capacity;
 * *info receives the number of bytes to return. */
int cbt_track_ioctl(unsigned int nr, void *io, ULONG out_len, ULONG_PTR *info);

/* Driver lifetime: once in DriverEntry (not in bypass). */
void cbt_track_init(void);

/* Device lifetime. */
void cbt_track_device_gone(struct cbt_filter *f, BOOLEAN surprise);
void cbt_track_shutdown_all(void); /* last-chance shutdown: save bitmaps, headers clean */
/* Frees every tracker without writing anything (driver unload; a simulated reboot in the
 * Linux tests). No write may be in flight. */
void cbt_track_unload(void);

/*
 * Boot re-arm, from START of the disk @f whose identity matches the registry record @rec
 * (persist.c), before START completes, so before any write passes through. @meta_disk is
 * the number of the disk holding the metadata (NULL: that disk has not started yet);
 * @image/@len what its verified extents hold (NULL/0: could not be read, @why says why).
 * Creates the tracker from the saved parameters, loads the image with
 * cbt_tracker_meta_load (a CLEAN header continues: its bitmap's blocks stay pending), then
 * writes a DIRTY header below every filter and publishes the tracker. Anything missing
 * gives RESYNC_REQUIRED with a reason. The tracker waits, listed and tracking, for
 * ATTACH of the same name on the same disk to adopt it.
 */
void cbt_track_rearm(struct cbt_filter *f, const struct cbt_rearm_rec *rec, const ULONG *meta_disk,
		     const void *image, ULONG len, ULONG why);
/* START of a disk: re-armed trackers whose metadata lives on it and whose DIRTY header is
 * not written yet get it now. */
void cbt_track_meta_disk_started(struct cbt_filter *f);

#endif
