// SPDX-License-Identifier: GPL-2.0
/*
 * Stand-in for track_core.c when the driver is built without the shared core
 * (make WITH_CORE=0, or core/ absent). Every function keeps the contract stated in track.h in its
 * safest form: nothing is ever attached (ATTACH answers -ENOTTY, i.e.
 * STATUS_INVALID_DEVICE_REQUEST), so the write path never sees a struct cbt_track and
 * the driver is a pure pass-through filter with a working control device.
 *
 * What track_core.c does instead, one item per function below:
 *   attach   : build the core device (cbt_os_impl.h allocation/locks/time), read the metadata
 *              header (persist.c), set f->track, then cbt_wait_untracked_drained(f).
 *   detach   : clear f->track, ExWaitForRundownProtectionRelease(&f->track_ref), save
 *              bitmap + header clean (persist.c), free, ExReInitializeRundownProtection.
 *   write_*  : core mark-before / journal-on-completion calls.
 *   ioctl    : STATUS/LIST/GET/COMMIT/TAG/MARK_DIRTY/BITMAP_CUT/BITMAP_READ to the core,
 *              with Windows' "data follows the struct in the output buffer" convention.
 */
#include <errno.h>

#include "track.h"

void cbt_track_init(void)
{
}

void cbt_track_write_begin(struct cbt_track *t, enum cbt_change kind, ULONGLONG off, ULONGLONG len,
			   const void *data, ULONG rec_flags, struct cbt_wio *w)
{
	UNREFERENCED_PARAMETER(t);
	UNREFERENCED_PARAMETER(kind);
	UNREFERENCED_PARAMETER(off);
	UNREFERENCED_PARAMETER(len);
	UNREFERENCED_PARAMETER(data);
	UNREFERENCED_PARAMETER(rec_flags);
	w->io = NULL;
	w->force_fail = FALSE;
}

void cbt_track_write_end(struct cbt_track *t, struct cbt_wio *w, BOOLEAN ok)
{
	UNREFERENCED_PARAMETER(t);
	UNREFERENCED_PARAMETER(w);
	UNREFERENCED_PARAMETER(ok); /* INTEGRATION: core journal on success / resync on failure */
}

void cbt_track_resync_required(struct cbt_track *t, ULONG reason)
{
	UNREFERENCED_PARAMETER(t);
	UNREFERENCED_PARAMETER(reason); /* INTEGRATION: core state -> resync-required */
}

int cbt_track_ready_by_name(const char *name, ULONG *ready)
{
	UNREFERENCED_PARAMETER(name);
	*ready = 0;
	return -ENOENT; /* nothing can be attached yet */
}

int cbt_track_ioctl(unsigned int nr, void *io, ULONG out_len, ULONG_PTR *info)
{
	UNREFERENCED_PARAMETER(nr);
	UNREFERENCED_PARAMETER(io);
	UNREFERENCED_PARAMETER(out_len);
	*info = 0;
	return -ENOTTY; /* INTEGRATION: dispatch to the core */
}

void cbt_track_device_gone(struct cbt_filter *f, BOOLEAN surprise)
{
	UNREFERENCED_PARAMETER(f);
	UNREFERENCED_PARAMETER(surprise); /* INTEGRATION: state resync-required, DEVICE_REMOVED */
}

void cbt_track_shutdown_all(void)
{
	/* INTEGRATION: for each attached device, persist.c saves bitmap + clean header. */
}

void cbt_track_unload(void)
{
}

/* Without the core nothing is tracked, so nothing is re-armed at boot either. */
void cbt_track_rearm(struct cbt_filter *f, const struct cbt_rearm_rec *rec, const ULONG *meta_disk,
		     const void *image, ULONG len, ULONG why)
{
	UNREFERENCED_PARAMETER(f);
	UNREFERENCED_PARAMETER(rec);
	UNREFERENCED_PARAMETER(meta_disk);
	UNREFERENCED_PARAMETER(image);
	UNREFERENCED_PARAMETER(len);
	UNREFERENCED_PARAMETER(why);
}

void cbt_track_meta_disk_started(struct cbt_filter *f)
{
	UNREFERENCED_PARAMETER(f);
}
