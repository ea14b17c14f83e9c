// SPDX-License-Identifier: GPL-2.0
/*
 * Bridge from the WDM glue to the shared tracking core (track.h <-> core/cbt_tracker.h).
 *
 * Attached devices: a list of struct cbt_track under a spin lock (WAIT's DPC looks names
 * up at DISPATCH_LEVEL), and one control mutex (an auto-reset event: waiting on it keeps
 * the thread at PASSIVE_LEVEL, where file I/O is allowed) serializing every control
 * operation, as the core requires.
 *
 * Lifetime of a tracker: ATTACH publishes it in f->track, the write path takes a rundown
 * reference on f->track_ref for each request (io.c) and keeps it until completion;
 * DETACH and REMOVE_DEVICE unpublish it and wait for that rundown, so the core never sees
 * an io after cbt_tracker_destroy(). A device removed while attached stays listed as an
 * orphan (state resync-required, DEVICE_REMOVED) until the engine detaches it.
 *
 * Reboots: ATTACH leaves a re-arm record in the registry (lib/rearm.h, persist.c). START
 * of the same disk at the next boot re-creates the tracker from it (cbt_track_rearm)
 * before any write, and the engine's ATTACH adopts that tracker. An ATTACH that finds a
 * CLEAN header WITHOUT such a tracker cannot trust it (writes happened untracked since
 * boot or since DETACH): resync-required, UNTRACKED_WINDOW or IDENTITY_CHANGED.
 */
#include <errno.h>

#include "track.h"
#include "persist.h"
#include "../lib/wioctl.h"

#include <cbt_tracker.h>

#define ATTACH_DRAIN_MS 30000 /* untracked writes still in flight at attach */

struct cbt_track {
	struct cbt_tracker *core;
	struct cbt_filter *f; /* NULL once the disk is gone */
	LIST_ENTRY link;
	char name[CBT_NAME_LEN];
	volatile LONG64 hook_calls;
	volatile LONG64 hook_ticks; /* KeQueryPerformanceCounter units */
	struct cbt_persist persist;
	struct cbt_rearm_rec rec; /* the boot re-arm record (persist.rec points here) */
	BOOLEAN armed;		  /* re-armed at boot, not yet adopted by ATTACH */
	BOOLEAN hdr_pending;	  /* armed, the DIRTY header is not on disk yet */
	BOOLEAN withdrawn;	  /* the registry record is removed meanwhile (boot_dirty) */
};

static LIST_ENTRY tracks;
static KSPIN_LOCK tracks_lock;
static KEVENT ctl_mutex;
static volatile LONG64 last_tag_id;
static LONGLONG perf_freq;

void cbt_track_init(void)
{
	LARGE_INTEGER freq;

	InitializeListHead(&tracks);
	KeInitializeSpinLock(&tracks_lock);
	KeInitializeEvent(&ctl_mutex, SynchronizationEvent, TRUE);
	KeQueryPerformanceCounter(&freq);
	perf_freq = freq.QuadPart > 0 ? freq.QuadPart : 1;
}

static void ctl_lock(void)
{
	KeWaitForSingleObject(&ctl_mutex, Executive, KernelMode, FALSE, NULL);
}

static void ctl_unlock(void)
{
	KeSetEvent(&ctl_mutex, IO_NO_INCREMENT, FALSE);
}

static int name_eq(const char *a, const char *b)
{
	size_t i;

	for (i = 0; i < CBT_NAME_LEN; i++) {
		if (a[i] != b[i])
			return 0;
		if (!a[i])
			return 1;
	}
	return 1;
}

/* Caller holds tracks_lock or the control mutex (the list only changes under both). */
static struct cbt_track *find_locked(const char *name)
{
	PLIST_ENTRY e;

	for (e = tracks.Flink; e != &tracks; e = e->Flink) {
		struct cbt_track *t = CONTAINING_RECORD(e, struct cbt_track, link);

		if (name_eq(t->name, name))
			return t;
	}
	return NULL;
}

/* ---- I/O path -------------------------------------------------------------------- */

void cbt_track_write_begin(struct cbt_track *t, enum cbt_change kind, ULONGLONG off, ULONGLONG len,
			   const void *data, ULONG rec_flags, struct cbt_wio *w)
{
	LARGE_INTEGER t0 = KeQueryPerformanceCounter(NULL), t1;
	ULONGLONG sector = off >> CBT_SECTOR_SHIFT;
	ULONGLONG end = (off + len + CBT_SECTOR_SIZE - 1) >> CBT_SECTOR_SHIFT;
	BOOLEAN aligned = !(off % CBT_SECTOR_SIZE) && !(len % CBT_SECTOR_SIZE);

	w->io = NULL;
	w->force_fail = FALSE;
	cbt_io_begin(t->core, kind == CBT_CHANGE_DISCARD ? CBT_REC_DISCARD : CBT_REC_WRITE,
		     rec_flags, sector, end - sector, &w->io);
	if (cbt_io_wants_data(w->io)) {
		/* DATA mode wants every byte now; without them the record must not claim data:
		 * it becomes a DIRTY range (re-read after completion) instead. */
		if (data && aligned)
			cbt_io_copy(w->io, 0, data, len);
		else
			w->force_fail = TRUE;
	}
	t1 = KeQueryPerformanceCounter(NULL);
	InterlockedIncrement64(&t->hook_calls);
	InterlockedExchangeAdd64(&t->hook_ticks, t1.QuadPart - t0.QuadPart);
}

void cbt_track_write_end(struct cbt_track *t, struct cbt_wio *w, BOOLEAN ok)
{
	cbt_io_end(t->core, w->io, ok && !w->force_fail ? 0 : -EIO);
	w->io = NULL;
}

void cbt_track_resync_required(struct cbt_track *t, ULONG reason)
{
	cbt_tracker_set_state(t->core, CBT_STATE_RESYNC_REQUIRED, reason);
}

int cbt_track_ready_by_name(const char *name, ULONG *ready)
{
	struct cbt_track *t;
	KIRQL irql;
	int err = -ENOENT;

	*ready = 0;
	KeAcquireSpinLock(&tracks_lock, &irql);
	t = find_locked(name);
	if (t) {
		*ready = cbt_tracker_ready(t->core);
		err = 0;
	}
	KeReleaseSpinLock(&tracks_lock, irql);
	return err;
}

/* ---- attach / detach ------------------------------------------------------------- */

static void list_add(struct cbt_track *t)
{
	KIRQL irql;

	KeAcquireSpinLock(&tracks_lock, &irql);
	InsertTailList(&tracks, &t->link);
	KeReleaseSpinLock(&tracks_lock, irql);
}

static void list_del(struct cbt_track *t)
{
	KIRQL irql;

	KeAcquireSpinLock(&tracks_lock, &irql);
	RemoveEntryList(&t->link);
	KeReleaseSpinLock(&tracks_lock, irql);
}

/* Stops the write path from using t and waits for every write that still holds it. */
static void unpublish(struct cbt_track *t)
{
	struct cbt_filter *f = t->f;

	if (!f)
		return;
	InterlockedExchangePointer((PVOID volatile *)&f->track, NULL);
	ExWaitForRundownProtectionRelease(&f->track_ref);
	ExReInitializeRundownProtection(&f->track_ref);
	t->f = NULL;
}

static ULONG meta_bytes(struct cbt_track *t)
{
	ULONGLONG n = cbt_tracker_meta_size(t->core);

	return (ULONG)((n + CBT_META_AREA_SIZE - 1) / CBT_META_AREA_SIZE * CBT_META_AREA_SIZE);
}

/* Writes the metadata image with @state; with_bitmap for CLEAN. raw: last-chance path. */
static int save_meta(struct cbt_track *t, uint32_t state, uint32_t reason, int with_bitmap,
		     BOOLEAN raw)
{
	ULONG size = meta_bytes(t);
	void *buf;
	int err;

	if (!t->persist.file && !t->persist.raw_ok)
		return 0;
	buf = cbt_persist_alloc(size);
	if (!buf)
		return -ENOMEM;
	if (cbt_tracker_meta_build(t->core, state, reason, with_bitmap, buf) > size)
		err = -EINVAL;
	else if (raw)
		err = cbt_persist_write_raw(&t->persist, t->name, buf, size);
	else
		err = cbt_persist_write(&t->persist, t->name, buf, size);
	/* cbt_persist_write() without a file writes nothing: no new ceiling then. */
	if (!err && (raw || t->persist.file))
		cbt_tracker_meta_written(t->core, buf); /* numbering may use its ceiling now */
	cbt_persist_free(buf);
	if (err)
		cbt_log("%s: saving metadata failed (%d)", t->name, err);
	return err;
}

/*
 * A new sequence ceiling in the header when half the reserved one is used (docs/tracker.md,
 * "Sequence numbers across a crash"), with the state and reason it already says. From the
 * control requests that drain or add records and STATUS, under the control mutex at
 * PASSIVE_LEVEL: never the write path. A failed write is retried at the next request; a
 * re-armed tracker whose header could not be marked dirty yet has nowhere to write.
 */
static void seq_refresh(struct cbt_track *t)
{
	uint32_t state, reason;

	if (t->armed && t->hdr_pending)
		return;
	if (cbt_tracker_meta_due(t->core, &state, &reason))
		save_meta(t, state, reason, 0, t->armed);
}

static void destroy(struct cbt_track *t)
{
	cbt_persist_close(&t->persist);
	cbt_tracker_destroy(t->core);
	ExFreePoolWithTag(t, CBT_POOL_TAG);
}

/* What the registry will remember for the boot re-arm (persist.c adds where the file is). */
static void fill_rec(struct cbt_track *t, struct cbt_filter *f, uint32_t flags, uint64_t mem_cap)
{
	RtlZeroMemory(&t->rec, sizeof(t->rec));
	RtlCopyMemory(t->rec.name, t->name, sizeof(t->rec.name));
	t->rec.tracked = f->ident;
	t->rec.granularity = cbt_tracker_granularity(t->core);
	t->rec.flags = flags;
	t->rec.mem_cap = mem_cap;
	t->persist.rec = &t->rec;
}

/* A CLEAN header found by an ATTACH that adopts no re-armed tracker: see the top. */
static void distrust_clean(struct cbt_track *t, struct cbt_filter *f)
{
	struct cbt_rearm_rec r;
	int have = !cbt_persist_record_get(t->name, &r);
	uint32_t reason = cbt_rearm_attach_reason(have ? &r : NULL, &f->ident);

	cbt_log("%s: clean metadata but the disk was not tracked since boot or detach (%s)",
		t->name, cbt_reason_str(reason));
	cbt_tracker_set_state(t->core, CBT_STATE_RESYNC_REQUIRED, reason);
}

/* Metadata of a new tracker: load what the file says, then mark it DIRTY on disk. */
static int attach_meta(struct cbt_track *t, struct cbt_filter *f, const char *path,
		       struct cbt_ioc_attach *a)
{
	uint32_t found_state, found_reason;
	void *image = NULL;
	ULONG len = 0;
	int err;

	if (!path[0]) {
		cbt_tracker_meta_load(t->core, NULL, 0, &found_state, &found_reason);
		return 0;
	}
	err = cbt_persist_open(&t->persist, path, f->disk_number, meta_bytes(t), &image, &len);
	if (err)
		return err;
	cbt_tracker_meta_load(t->core, image, len, &found_state, &found_reason);
	cbt_persist_free(image);
	cbt_tracker_get_state(t->core, &a->state, &a->reason);
	if (found_state == CBT_STATE_CLEAN && a->state == CBT_STATE_DIRTY) {
		distrust_clean(t, f); /* the core trusted it; here it cannot be */
		cbt_tracker_get_state(t->core, &a->state, &a->reason);
	}
	fill_rec(t, f, a->flags, a->mem_cap_bytes);
	/* Dirty before the first tracked write: a crash from now on is never silent. */
	err = save_meta(t, CBT_STATE_DIRTY, CBT_REASON_NONE, 0, FALSE);
	if (err)
		cbt_persist_close(&t->persist);
	return err;
}

static void attach_reply(struct cbt_track *t, struct cbt_ioc_attach *a)
{
	struct cbt_ioc_status st;

	cbt_tracker_get_state(t->core, &a->state, &a->reason);
	a->granularity = cbt_tracker_granularity(t->core);
	a->device_bytes = cbt_tracker_device_bytes(t->core);
	RtlZeroMemory(&st, sizeof(st));
	cbt_tracker_status(t->core, &st);
	a->generation = st.generation;
}

/*
 * ATTACH of a tracker re-armed at boot on this disk: it has tracked every write since
 * START, so its state stands (a CLEAN header continued as DIRTY with the saved bitmap).
 * The metadata file is opened now that file systems run; its image is the one read at
 * boot (or not ours: the tracker's own state is written over it either way).
 */
static int adopt(struct cbt_track *t, struct cbt_filter *f, struct cbt_ioc_attach *a)
{
	struct cbt_persist np;
	void *image = NULL;
	ULONG len = 0;
	int err;

	if (a->meta_path[0]) {
		err = cbt_persist_open(&np, a->meta_path, f->disk_number, meta_bytes(t), &image,
				       &len);
		if (err)
			return err; /* stays armed: the engine may retry */
		cbt_persist_free(image);
	} else {
		RtlZeroMemory(&np, sizeof(np)); /* the engine wants no persistence now */
		cbt_persist_forget(t->name);
	}
	cbt_persist_close(&t->persist);
	t->persist = np;
	fill_rec(t, f, t->rec.flags, t->rec.mem_cap);
	err = save_meta(t, CBT_STATE_DIRTY, CBT_REASON_NONE, 0, FALSE);
	if (err) {
		cbt_persist_close(&t->persist);
		cbt_tracker_set_state(t->core, CBT_STATE_RESYNC_REQUIRED,
				      CBT_REASON_METADATA_INVALID);
	}
	t->armed = FALSE;
	t->hdr_pending = FALSE;
	attach_reply(t, a);
	cbt_log("%s: re-armed tracker adopted by attach (%s)", t->name, cbt_state_str(a->state));
	return 0;
}

static int do_attach(struct cbt_ioc_attach *a)
{
	struct cbt_tracker_params p = {0};
	struct cbt_filter *f;
	struct cbt_track *t;
	int err;

	if (!cbt_name_valid(a->name, sizeof(a->name)) || a->dev_path[0] ||
	    !cbt_str_terminated(a->meta_path, sizeof(a->meta_path)) || a->dev > 0xffffffffull)
		return -EINVAL;
	t = find_locked(a->name);
	if (t && !t->armed)
		return -EEXIST;
	f = cbt_filter_get_by_number((ULONG)a->dev);
	if (!f)
		return -ENOENT;
	if (t && t->f == f) {
		err = adopt(t, f, a);
		goto put;
	}
	if (t) {
		/* Re-armed on the disk its identity names, but the engine names another one:
		 * give that one up and attach as asked. Its header is DIRTY (UNCLEAN_SHUTDOWN
		 * below) or, still CLEAN, distrusted with its record withdrawn: never trusted. */
		cbt_log("%s: re-armed on another disk than disk %lu; dropping it", t->name,
			f->disk_number);
		list_del(t);
		unpublish(t);
		destroy(t);
	}
	err = -EINVAL;
	if (!f->started || !f->disk_bytes || f->disk_bytes % CBT_SECTOR_SIZE)
		goto put;
	if (f->above_partmgr) {
		cbt_log("disk %lu: cbtrep is above partmgr (not first in UpperFilters): "
			"partition writes would bypass it; run `cbtrep filter install` and reboot",
			f->disk_number);
		goto put;
	}
	err = -EEXIST;
	if (f->track)
		goto put;

	err = -ENOMEM;
	t = ExAllocatePoolWithTag(NonPagedPoolNx, sizeof(*t), CBT_POOL_TAG);
	if (!t)
		goto put;
	RtlZeroMemory(t, sizeof(*t));
	RtlCopyMemory(t->name, a->name, sizeof(t->name));
	p.name = t->name;
	p.device_bytes = f->disk_bytes;
	p.granularity = a->granularity;
	p.flags = a->flags;
	p.mem_cap = a->mem_cap_bytes;
	p.os_ctx = t; /* outlives f when the disk is removed while attached */
	err = cbt_tracker_create(&p, &t->core);
	if (err) {
		ExFreePoolWithTag(t, CBT_POOL_TAG);
		goto put;
	}
	err = attach_meta(t, f, a->meta_path, a);
	if (err) {
		cbt_tracker_destroy(t->core);
		ExFreePoolWithTag(t, CBT_POOL_TAG);
		goto put;
	}
	t->f = f;
	list_add(t);
	InterlockedExchangePointer((PVOID volatile *)&f->track, t);
	/* Writes that started before the pointer was set are not in the bitmap: wait until
	 * they have all reached the disk, so the initial copy cannot read ahead of them. */
	if (!NT_SUCCESS(cbt_wait_untracked_drained(f, ATTACH_DRAIN_MS)))
		cbt_tracker_set_state(t->core, CBT_STATE_RESYNC_REQUIRED, CBT_REASON_NEW_DEVICE);
	attach_reply(t, a);
	err = 0;
put:
	cbt_filter_put(f);
	return err;
}

static int do_detach(struct cbt_ioc_detach *d)
{
	struct cbt_track *t;
	uint32_t state, reason;

	if (!cbt_name_valid(d->name, sizeof(d->name)) || (d->flags & ~CBT_DETACH_FLAGS_ALL) ||
	    d->reserved)
		return -EINVAL;
	t = find_locked(d->name);
	if (!t)
		return -ENOENT;
	list_del(t);
	unpublish(t);
	cbt_tracker_seq_final(t->core); /* no write completes now: the header gets the exact seq */
	cbt_tracker_get_state(t->core, &state, &reason);
	if (d->flags & CBT_DETACH_DISCARD)
		save_meta(t, CBT_STATE_RESYNC_REQUIRED, CBT_REASON_USER_REQUEST, 0, FALSE);
	else if (state == CBT_STATE_DIRTY)
		save_meta(t, CBT_STATE_CLEAN, CBT_REASON_NONE, 1, FALSE);
	else
		save_meta(t, state, reason, 0, FALSE); /* resync-required stays, with its reason */
	cbt_persist_forget(t->name);
	destroy(t);
	return 0;
}

/* ---- drain and queries ----------------------------------------------------------- */

/* Destination of GET / LIST / BITMAP_READ data: the output buffer after the struct. */
struct tail {
	uint8_t *base;
	uint64_t cap;
};

static int tail_emit(void *ctx, uint64_t off, const void *src, uint64_t len)
{
	struct tail *tl = ctx;

	if (off > tl->cap || len > tl->cap - off)
		return CBT_EFAULT;
	RtlCopyMemory(tl->base + off, src, (SIZE_T)len);
	return 0;
}

static struct tail tail_of(void *io, ULONG out_len, uint32_t size, uint64_t want)
{
	struct tail tl = {(uint8_t *)io + size, out_len - size};

	if (want < tl.cap)
		tl.cap = want;
	return tl;
}

static int do_get(struct cbt_ioc_get *g, ULONG out_len, ULONG_PTR *info)
{
	struct tail tl = tail_of(g, out_len, sizeof(*g), g->buf_len);
	struct cbt_track *t;
	int err;

	if (!cbt_name_valid(g->name, sizeof(g->name)) || g->flags)
		return -EINVAL;
	t = find_locked(g->name);
	if (!t)
		return -ENOENT;
	seq_refresh(t);
	err = cbt_tracker_get(t->core, g->max_records, tl.cap, tail_emit, &tl, &g->batch,
			      &g->bytes_needed);
	if (!err)
		*info = sizeof(*g) + (ULONG_PTR)g->bytes_needed;
	return err;
}

static int do_list(struct cbt_ioc_list *l, ULONG out_len, ULONG_PTR *info)
{
	uint32_t room = (out_len - sizeof(*l)) / CBT_NAME_LEN, n = 0;
	char *dst = (char *)(l + 1);
	PLIST_ENTRY e;

	if (l->max < room)
		room = l->max;
	for (e = tracks.Flink; e != &tracks; e = e->Flink, n++)
		if (n < room)
			RtlCopyMemory(dst + (SIZE_T)n * CBT_NAME_LEN,
				      CONTAINING_RECORD(e, struct cbt_track, link)->name,
				      CBT_NAME_LEN);
	l->count = n;
	*info = sizeof(*l) + (ULONG_PTR)(n < room ? n : room) * CBT_NAME_LEN;
	return 0;
}

static int do_status(struct cbt_ioc_status *s)
{
	struct cbt_track *t;
	char name[CBT_NAME_LEN];

	if (!cbt_name_valid(s->name, sizeof(s->name)))
		return -EINVAL;
	t = find_locked(s->name);
	if (!t)
		return -ENOENT;
	RtlCopyMemory(name, s->name, sizeof(name));
	seq_refresh(t);
	cbt_tracker_status(t->core, s);
	s->hdr.version = CBT_IOCTL_VERSION;
	s->hdr.size = sizeof(*s);
	RtlCopyMemory(s->name, name, sizeof(name));
	s->hook_calls = (uint64_t)t->hook_calls;
	/* Split so that hours of accumulated ticks do not overflow the multiplication. */
	s->hook_ns = (uint64_t)(t->hook_ticks / perf_freq) * 1000000000ull +
		     (uint64_t)(t->hook_ticks % perf_freq) * 1000000000ull / (uint64_t)perf_freq;
	return 0;
}

static int do_tag(struct cbt_ioc_tag *tag)
{
	struct cbt_tracker *ts[CBT_TAG_MAX_DEVICES];
	uint32_t i, j;

	if (tag->nr_devices < 1 || tag->nr_devices > CBT_TAG_MAX_DEVICES ||
	    (tag->flags & ~CBT_TAG_FLAGS_ALL) ||
	    !cbt_str_terminated(tag->tag_name, sizeof(tag->tag_name)))
		return -EINVAL;
	for (i = 0; i < tag->nr_devices; i++) {
		struct cbt_track *t;

		if (!cbt_name_valid(tag->devices[i], CBT_NAME_LEN))
			return -EINVAL;
		for (j = 0; j < i; j++)
			if (name_eq(tag->devices[i], tag->devices[j]))
				return -EINVAL;
		t = find_locked(tag->devices[i]);
		if (!t)
			return -ENOENT;
		seq_refresh(t);
		ts[i] = t->core;
	}
	tag->tag_id = (uint64_t)InterlockedIncrement64(&last_tag_id);
	return cbt_tag_group(ts, tag->nr_devices, tag->tag_name, tag->flags, tag->tag_id,
			     tag->seqs);
}

static int do_bitmap_read(struct cbt_ioc_bitmap_read *r, ULONG out_len, ULONG_PTR *info)
{
	struct tail tl = tail_of(r, out_len, sizeof(*r), r->buf_len);
	struct cbt_track *t;
	int err;

	if (!cbt_name_valid(r->name, sizeof(r->name)))
		return -EINVAL;
	t = find_locked(r->name);
	if (!t)
		return -ENOENT;
	err = cbt_tracker_bitmap_read(t->core, r->generation, r->first_byte, tl.cap, tail_emit, &tl,
				      &r->bitmap, &r->bytes_copied);
	if (!err)
		*info = sizeof(*r) + (ULONG_PTR)r->bytes_copied;
	return err;
}

static struct cbt_track *named(const char *name, int *err)
{
	struct cbt_track *t = NULL;

	if (!cbt_name_valid(name, CBT_NAME_LEN))
		*err = -EINVAL;
	else if (!(t = find_locked(name)))
		*err = -ENOENT;
	return t;
}

/*
 * RESYNC: the core decides; the header follows (RESYNC_REQUIRED with its reason, or DIRTY
 * again after DONE), so a crash or a detach later tells the same story. A re-armed tracker
 * not yet adopted by ATTACH keeps the answer in memory only: its header is written at
 * adoption, detach and shutdown (they save the state as it then is).
 */
static int do_resync(struct cbt_ioc_resync *r)
{
	struct cbt_track *t;
	int err = 0;

	r->state = 0;
	r->state_reason = 0;
	t = named(r->name, &err);
	if (!t)
		return err;
	/* A removed disk (an orphan) cannot have been read by a resync: DONE gets EAGAIN. */
	if (!t->f)
		cbt_tracker_set_state(t->core, CBT_STATE_RESYNC_REQUIRED,
				      CBT_REASON_DEVICE_REMOVED);
	err = cbt_tracker_resync(t->core, r->op, r->reason, r->generation, &r->state,
				 &r->state_reason);
	if (err || t->armed)
		return err;
	if (r->state == CBT_STATE_RESYNC_REQUIRED)
		return save_meta(t, CBT_STATE_RESYNC_REQUIRED, r->state_reason, 0, FALSE);
	return save_meta(t, CBT_STATE_DIRTY, CBT_REASON_NONE, 0, FALSE);
}

static int dispatch(unsigned int nr, void *io, ULONG out_len, ULONG_PTR *info)
{
	struct cbt_track *t;
	int err = 0;

	*info = cbt_wioc_struct_size((int)nr);
	switch (nr) {
	case CBT_IOC_NR_ATTACH: return do_attach(io);
	case CBT_IOC_NR_DETACH: return do_detach(io);
	case CBT_IOC_NR_STATUS: return do_status(io);
	case CBT_IOC_NR_LIST: return do_list(io, out_len, info);
	case CBT_IOC_NR_GET: return do_get(io, out_len, info);
	case CBT_IOC_NR_COMMIT: {
		struct cbt_ioc_commit *c = io;

		t = named(c->name, &err);
		if (t)
			seq_refresh(t);
		return t ? cbt_tracker_commit(t->core, c->batch_id) : err;
	}
	case CBT_IOC_NR_TAG: return do_tag(io);
	case CBT_IOC_NR_MARK_DIRTY: {
		struct cbt_ioc_mark_dirty *m = io;

		t = named(m->name, &err);
		if (t)
			seq_refresh(t);
		return t ? cbt_tracker_mark_dirty(t->core, m->sector, m->nr_sectors,
						  CBT_REASON_USER_REQUEST)
			 : err;
	}
	case CBT_IOC_NR_BITMAP_CUT: {
		struct cbt_ioc_cut *c = io;

		t = named(c->name, &err);
		return t ? cbt_tracker_cut(t->core, c->done_generation, &c->generation,
					   &c->dirty_bits)
			 : err;
	}
	case CBT_IOC_NR_BITMAP_READ: return do_bitmap_read(io, out_len, info);
	case CBT_IOC_NR_RESYNC: return do_resync(io);
	default: return -ENOTTY;
	}
}

int cbt_track_ioctl(unsigned int nr, void *io, ULONG out_len, ULONG_PTR *info)
{
	int err;

	ctl_lock();
	err = dispatch(nr, io, out_len, info);
	ctl_unlock();
	return err;
}

/* ---- device lifetime ------------------------------------------------------------- */

void cbt_track_device_gone(struct cbt_filter *f, BOOLEAN surprise)
{
	struct cbt_track *t;

	UNREFERENCED_PARAMETER(surprise);
	ctl_lock();
	t = f->track;
	if (t) {
		cbt_tracker_set_state(t->core, CBT_STATE_RESYNC_REQUIRED,
				      CBT_REASON_DEVICE_REMOVED);
		unpublish(t); /* stays listed, as an orphan, until DETACH */
		save_meta(t, CBT_STATE_RESYNC_REQUIRED, CBT_REASON_DEVICE_REMOVED, 0, FALSE);
	}
	ctl_unlock();
}

void cbt_track_shutdown_all(void)
{
	PLIST_ENTRY e;

	ctl_lock();
	for (e = tracks.Flink; e != &tracks; e = e->Flink) {
		struct cbt_track *t = CONTAINING_RECORD(e, struct cbt_track, link);
		uint32_t state, reason;

		/* Writes still arriving after this point (there should be none: file systems
		 * are shut down) land in the bitmap but not in this save; the header then says
		 * CLEAN for a bitmap that missed them, so stop tracking first. */
		unpublish(t);
		cbt_tracker_seq_final(t->core);
		cbt_tracker_get_state(t->core, &state, &reason);
		if (state == CBT_STATE_DIRTY)
			save_meta(t, CBT_STATE_CLEAN, CBT_REASON_NONE, 1, TRUE);
		else
			save_meta(t, state, reason, 0, TRUE);
	}
	ctl_unlock();
}

void cbt_track_unload(void)
{
	ctl_lock();
	while (!IsListEmpty(&tracks)) {
		struct cbt_track *t = CONTAINING_RECORD(tracks.Flink, struct cbt_track, link);

		list_del(t);
		unpublish(t);
		destroy(t);
	}
	ctl_unlock();
}

/* The verified extents of the record, on disk @disk, as a raw-only location. */
static void raw_from_rec(struct cbt_track *t, ULONG disk)
{
	ULONG i;

	cbt_persist_close(&t->persist);
	RtlZeroMemory(&t->persist, sizeof(t->persist));
	t->persist.size = t->rec.meta_size;
	t->persist.raw_disk = disk;
	t->persist.nr_ext = t->rec.nr_ext;
	for (i = 0; i < t->rec.nr_ext && i < CBT_PERSIST_MAX_EXT; i++) {
		t->persist.ext[i].file_off = t->rec.ext[i].file_off;
		t->persist.ext[i].disk_off = t->rec.ext[i].disk_off;
		t->persist.ext[i].len = t->rec.ext[i].len;
	}
	t->persist.raw_ok = TRUE;
	t->persist.rec = &t->rec;
}

/*
 * Boot: the header says DIRTY before the first write is let through (or later, once the
 * metadata disk starts). cbt_persist_write_raw checks our header is still there first.
 * While it cannot be written, the header on disk still says CLEAN although writes are
 * passing: the registry record is withdrawn meanwhile, so that if the metadata disk
 * never shows up this boot, the next boot does not re-arm from that stale CLEAN header
 * (its ATTACH says UNTRACKED_WINDOW instead). It is put back once the header is DIRTY.
 */
static void boot_dirty(struct cbt_track *t)
{
	BOOLEAN was_pending = t->hdr_pending;

	if (t->persist.raw_ok && !save_meta(t, CBT_STATE_DIRTY, CBT_REASON_NONE, 0, TRUE))
		t->hdr_pending = FALSE;
	if (t->hdr_pending && !t->withdrawn) {
		cbt_persist_forget(t->name);
		t->withdrawn = TRUE;
	} else if (!t->hdr_pending && was_pending && t->withdrawn) {
		if (!cbt_persist_record_put(t->name, &t->rec))
			t->withdrawn = FALSE;
	}
}

void cbt_track_rearm(struct cbt_filter *f, const struct cbt_rearm_rec *rec, const ULONG *meta_disk,
		     const void *image, ULONG len, ULONG why)
{
	struct cbt_tracker_params p = {0};
	uint32_t found_state, found_reason, state, reason;
	struct cbt_track *t;

	ctl_lock();
	if (find_locked(rec->name) || f->track) {
		cbt_log("%s: already tracked, not re-armed", rec->name);
		goto out;
	}
	t = ExAllocatePoolWithTag(NonPagedPoolNx, sizeof(*t), CBT_POOL_TAG);
	if (!t) {
		cbt_log("%s: no memory to re-arm (next attach resyncs)", rec->name);
		goto out;
	}
	RtlZeroMemory(t, sizeof(*t));
	RtlCopyMemory(t->name, rec->name, sizeof(t->name));
	t->name[CBT_NAME_LEN - 1] = 0;
	t->rec = *rec;
	p.name = t->name;
	p.device_bytes = f->disk_bytes;
	p.granularity = rec->granularity;
	p.flags = rec->flags;
	p.mem_cap = rec->mem_cap;
	p.os_ctx = t;
	if (cbt_tracker_create(&p, &t->core)) {
		cbt_log("%s: tracker could not be re-created (next attach resyncs)", t->name);
		ExFreePoolWithTag(t, CBT_POOL_TAG);
		goto out;
	}
	if (meta_disk)
		raw_from_rec(t, *meta_disk);
	cbt_tracker_meta_load(t->core, image, image ? len : 0, &found_state, &found_reason);
	if (!image || !len)
		cbt_tracker_set_state(t->core, CBT_STATE_RESYNC_REQUIRED,
				      why ? why : CBT_REASON_METADATA_INVALID);
	t->armed = TRUE;
	t->hdr_pending = TRUE;
	boot_dirty(t);
	t->f = f;
	list_add(t);
	InterlockedExchangePointer((PVOID volatile *)&f->track, t);
	cbt_tracker_get_state(t->core, &state, &reason);
	cbt_log("%s: re-armed at boot: saved %s, now %s (%s)%s", t->name,
		cbt_state_str(found_state), cbt_state_str(state), cbt_reason_str(reason),
		t->hdr_pending ? "; header not yet marked dirty" : "");
out:
	ctl_unlock();
}

void cbt_track_meta_disk_started(struct cbt_filter *f)
{
	PLIST_ENTRY e;

	if (!cbt_disk_id_valid(&f->ident))
		return;
	ctl_lock();
	for (e = tracks.Flink; e != &tracks; e = e->Flink) {
		struct cbt_track *t = CONTAINING_RECORD(e, struct cbt_track, link);

		if (!t->armed || !t->hdr_pending || !cbt_disk_id_eq(&t->rec.meta_disk, &f->ident))
			continue;
		raw_from_rec(t, f->disk_number);
		boot_dirty(t);
	}
	ctl_unlock();
}

/* OS-layer event hook of the core (cbt_os_impl.h). os_ctx is the struct cbt_track. */
void cbt_win_event(void *os_ctx, const struct cbt_event *ev)
{
	struct cbt_track *t = os_ctx;
	struct cbt_filter *f = t->f;

	switch (ev->kind) {
	case CBT_EV_READY: cbt_control_notify_data(f); break;
	case CBT_EV_MODE:
		cbt_log("%s: mode %s -> %s (%s)", t->name, cbt_mode_str(ev->from),
			cbt_mode_str(ev->to), cbt_reason_str(ev->reason));
		break;
	case CBT_EV_STATE:
		cbt_log("%s: state %s -> %s (%s)", t->name, cbt_state_str(ev->from),
			cbt_state_str(ev->to), cbt_reason_str(ev->reason));
		cbt_control_notify_data(f); /* READY_STATE for waiters */
		break;
	default: break;
	}
}
