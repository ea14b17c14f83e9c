// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * One tracked device: state, modes, the journal list, batches, tags, generations and the
 * metadata image. See cbt_tracker.h for the contract and docs/tracker.md for the why.
 *
 * Locking: one spinlock per tracker (irqsave) guards the mode and state, memory, the
 * journal counters and the drainable list's tail. The I/O path marks the bitmap without
 * it (cbt_bm_set_range() is lock-free) inside a mark section, and in BITMAP mode, where
 * nothing is journalled, it does not take the lock at all: the counters it touches are
 * atomics. A cut swaps the active pointer under the lock and then waits for the mark
 * sections (mark_sync) before it merges or frees a bitmap, so a mark takes effect in the
 * generation whose pointer it loaded, as if it had been made under the lock at that
 * moment. The head of the list and the outstanding batch are only changed by control
 * calls, which the caller serializes; so GET and COMMIT walk the batch's records without
 * the lock (completion only ever appends after the tail, and they stop before it).
 */
#include "cbt_tracker.h"
#include "cbt_bitmap.h"
#include "cbt_journal.h"

#define MAX_EVENTS 4

struct cbt_tracker {
	cbt_spinlock_t lock;
	char name[CBT_NAME_LEN];
	uint64_t device_bytes;
	uint64_t device_sectors;
	uint32_t granularity;
	uint32_t gran_shift; /* log2(granularity) */
	uint32_t flags;
	uint64_t mem_cap;
	void *os_ctx;

	uint32_t mode, mode_reason; /* mode: written under the lock, read without it too */
	uint32_t state, state_reason;
	int state_changed;
	/* Active generation when resync-required was last set: a resync that started after
	 * the cut of generation G covers it only if resync_gen <= G (RESYNC_DONE). */
	uint64_t resync_gen;

	struct cbt_bm *active; /* cbt_load_acquire() without the lock; swapped under it */
	struct cbt_bm *frozen; /* NULL: none */
#ifndef cbt_os_mark_enter
	/* Mark sections counted here (mark_enter): marking[epoch & 1] holds the sections
	 * begun in that half; mark_sync flips the epoch and waits, twice. */
	cbt_atomic64_t mark_epoch;
	cbt_atomic64_t marking[2];
#endif

	struct cbt_io *head, *tail; /* drainable records, seq order */
	uint64_t nr_drainable;
	uint64_t next_seq;
	uint64_t committed_seq;
	/* Sequence reservation (cbt_tracker.h, CBT_SEQ_RESERVE): numbers up to seq_limit are
	 * covered by the header on disk; without a header (seq_bounded 0) nothing is. */
	uint64_t seq_reserve;
	uint64_t seq_limit;
	int seq_bounded;
	int seq_final; /* cbt_tracker_seq_final(): headers carry the exact last number */
	uint32_t hdr_state, hdr_reason; /* what the last header written or read said */
	uint64_t mem_used;

	int batch_out;
	struct cbt_batch batch; /* outstanding batch header (sealed) */
	uint64_t next_batch_id;

	/* Updated without the lock on the I/O path: writes begun (= writes seen) and ended,
	 * whose difference is the number in flight. */
	cbt_atomic64_t begun, ended;
	cbt_atomic64_t bytes_seen, records_dropped;
	uint64_t writes_failed;
	uint64_t records, mode_changes;
};

/* Events gathered under the lock and delivered after it is dropped. */
struct evq {
	uint32_t n;
	struct cbt_event ev[MAX_EVENTS];
};

static void evq_add(struct evq *q, uint32_t kind, uint32_t from, uint32_t to, uint32_t reason)
{
	if (q->n < MAX_EVENTS) {
		q->ev[q->n].kind = kind;
		q->ev[q->n].from = from;
		q->ev[q->n].to = to;
		q->ev[q->n].reason = reason;
		q->n++;
	}
}

static void evq_flush(struct cbt_tracker *t, struct evq *q)
{
	uint32_t i;

	for (i = 0; i < q->n; i++)
		cbt_os_event(t->os_ctx, &q->ev[i]);
	q->n = 0;
}

static void set_mode(struct cbt_tracker *t, struct evq *q, uint32_t mode, uint32_t reason)
{
	if (t->mode == mode)
		return;
	evq_add(q, CBT_EV_MODE, t->mode, mode, reason);
	cbt_write_once(t->mode, mode);
	t->mode_reason = reason;
	t->mode_changes++;
	t->state_changed = 1;
}

static void set_state(struct cbt_tracker *t, struct evq *q, uint32_t state, uint32_t reason)
{
	/* Even when it changes nothing visible: a resync already running may have copied
	 * the blocks this new cause concerns before it happened. */
	if (state == CBT_STATE_RESYNC_REQUIRED)
		t->resync_gen = t->active->generation;
	if (t->state == state && t->state_reason == reason)
		return;
	evq_add(q, CBT_EV_STATE, t->state, state, reason);
	t->state = state;
	t->state_reason = reason;
	t->state_changed = 1;
}

/* ---- mark sections --------------------------------------------------------------------- */

#ifdef cbt_os_mark_enter
static uint32_t mark_enter(struct cbt_tracker *t)
{
	(void)t;
	cbt_os_mark_enter();
	return 0;
}

static void mark_exit(struct cbt_tracker *t, uint32_t idx)
{
	(void)t;
	(void)idx;
	cbt_os_mark_exit();
}

static void mark_sync(struct cbt_tracker *t)
{
	(void)t;
	cbt_os_mark_sync();
}
#else
static uint32_t mark_enter(struct cbt_tracker *t)
{
	uint32_t idx = (uint32_t)(cbt_atomic64_read(&t->mark_epoch) & 1);

	/* A full barrier: the count is visible before this section loads t->active. */
	cbt_atomic64_add_return(&t->marking[idx], 1);
	return idx;
}

static void mark_exit(struct cbt_tracker *t, uint32_t idx)
{
	/* A full barrier: the bits this section set are visible before the count drops. */
	cbt_atomic64_add_return(&t->marking[idx], (uint64_t)-1);
}

/*
 * Returns once every section begun before the call has ended. A section that read the
 * epoch before a flip but counted itself after the wait that followed it loads t->active
 * after the swap that preceded the flip (both sides order with full barriers), so it is
 * harmless; one that counted itself in the other half is waited for by the second flip.
 * Control paths only (serialized per tracker), never under the tracker lock.
 */
static void mark_sync(struct cbt_tracker *t)
{
	int phase;

	for (phase = 0; phase < 2; phase++) {
		uint64_t e = cbt_atomic64_read(&t->mark_epoch);

		cbt_smp_mb(); /* the pointer swap before the flip */
		cbt_atomic64_set(&t->mark_epoch, e + 1);
		cbt_smp_mb(); /* the flip before the count is read */
		/* A full-barrier read: it pairs with mark_exit()'s, whatever fences the
		 * platform (or a race detector) understands. */
		while (cbt_atomic64_add_return(&t->marking[e & 1], 0))
			cbt_os_relax();
	}
	cbt_smp_mb(); /* the sections' bits before the caller reads them */
}
#endif

/*
 * Marks sectors [sector, sector + nr) in the active bitmap, without the tracker lock.
 * *mode gets the mode as seen after the mark, inside the same section: recovery from
 * BITMAP sets the mode before it swaps the bitmap (release), so a section that marked the
 * bitmap after that cut also sees the new mode. Returns CBT_ENOMEM when a page could not
 * be allocated (the bitmap is "full" then; the caller sets the state under the lock).
 */
static int mark(struct cbt_tracker *t, uint64_t sector, uint64_t nr, uint32_t *mode)
{
	uint64_t first = (sector << CBT_SECTOR_SHIFT) >> t->gran_shift;
	uint64_t last = (((sector + nr) << CBT_SECTOR_SHIFT) - 1) >> t->gran_shift;
	uint32_t idx = mark_enter(t);
	struct cbt_bm *bm;
	int err;

	bm = cbt_load_acquire(&t->active);
	cbt_os_mark_window();
	err = cbt_bm_set_range(bm, first, last);
	if (mode)
		*mode = cbt_read_once(t->mode);
	mark_exit(t, idx);
	return err;
}

static uint64_t inflight(struct cbt_tracker *t)
{
	/* ended first: begun can only have grown since, so the difference is never negative
	 * and is 0 only when every write begun had ended at some instant. */
	uint64_t e = cbt_atomic64_add_return(&t->ended, 0);

	return cbt_atomic64_add_return(&t->begun, 0) - e;
}

/* An io ended: the tracker is idle (a detach may go on) when no other is in flight. */
static void io_ended(struct cbt_tracker *t, struct evq *q)
{
	uint64_t e = cbt_atomic64_add_return(&t->ended, 1);

	if (e == cbt_atomic64_read(&t->begun))
		evq_add(q, CBT_EV_IDLE, 0, 0, 0);
}

/*
 * Whether n more numbers may be handed out (under the lock). Past the header's ceiling a
 * crash would hand the same numbers out again and the engine would drop those writes as
 * duplicates: stop numbering instead. BITMAP mode keeps every write (in the bitmap) and
 * resync-required says why; a rewritten header lets GET recover with a GAP record.
 */
static int seq_room(struct cbt_tracker *t, struct evq *q, uint64_t n)
{
	if (!t->seq_bounded || (t->next_seq <= t->seq_limit && n <= t->seq_limit - t->next_seq + 1))
		return 1;
	set_mode(t, q, CBT_MODE_BITMAP, CBT_REASON_METADATA_INVALID);
	set_state(t, q, CBT_STATE_RESYNC_REQUIRED, CBT_REASON_METADATA_INVALID);
	return 0;
}

static void append(struct cbt_tracker *t, struct evq *q, struct cbt_io *io)
{
	io->hdr.seq = t->next_seq++;
	io->next = NULL;
	if (t->tail)
		t->tail->next = io;
	else
		t->head = io;
	t->tail = io;
	t->nr_drainable++;
	t->records++;
	if (q->n == 0 || q->ev[q->n - 1].kind != CBT_EV_READY)
		evq_add(q, CBT_EV_READY, 0, 0, 0);
}

/* ---- lifetime ------------------------------------------------------------------------ */

int cbt_tracker_create(const struct cbt_tracker_params *p, struct cbt_tracker **out)
{
	struct cbt_tracker *t;
	uint32_t g = p->granularity;
	uint64_t cap = p->mem_cap ? p->mem_cap : CBT_MEM_CAP_DEFAULT;
	size_t i;

	*out = NULL;
	if (!p->name || !cbt_name_valid(p->name, CBT_NAME_LEN))
		return CBT_EINVAL;
	if (!p->device_bytes || p->device_bytes % CBT_SECTOR_SIZE)
		return CBT_EINVAL;
	if (p->flags & ~CBT_ATTACH_FLAGS_ALL)
		return CBT_EINVAL;
	if (!g)
		g = cbt_granularity_for_size(p->device_bytes);
	if (!cbt_granularity_valid(g) || cap < CBT_MEM_CAP_MIN)
		return CBT_EINVAL;
	if (p->seq_reserve == 1)
		return CBT_EINVAL;

	t = cbt_os_alloc(sizeof(*t), CBT_ALLOC_WAIT);
	if (!t)
		return CBT_ENOMEM;
	cbt_spin_init(&t->lock);
	for (i = 0; i + 1 < sizeof(t->name) && p->name[i]; i++)
		t->name[i] = p->name[i];
	t->device_bytes = p->device_bytes;
	t->device_sectors = p->device_bytes >> CBT_SECTOR_SHIFT;
	t->granularity = g;
	while ((1u << t->gran_shift) < g)
		t->gran_shift++;
	t->flags = p->flags;
	t->mem_cap = cap;
	t->os_ctx = p->os_ctx;
	if (p->flags & CBT_ATTACH_META_ONLY) {
		t->mode = CBT_MODE_META;
		t->mode_reason = CBT_REASON_USER_REQUEST;
	} else {
		t->mode = CBT_MODE_DATA;
	}
	t->state = CBT_STATE_RESYNC_REQUIRED;
	t->state_reason = CBT_REASON_NEW_DEVICE;
	t->next_seq = 1;
	t->seq_reserve = p->seq_reserve ? p->seq_reserve : CBT_SEQ_RESERVE;
	t->next_batch_id = 1;
	t->active = cbt_bm_create(cbt_bitmap_bits(p->device_bytes, g), 1);
	if (!t->active) {
		cbt_os_free(t, sizeof(*t));
		return CBT_ENOMEM;
	}
	t->resync_gen = t->active->generation;
	*out = t;
	return 0;
}

void cbt_tracker_destroy(struct cbt_tracker *t)
{
	struct cbt_io *io, *next;

	if (!t)
		return;
	for (io = t->head; io; io = next) {
		next = io->next;
		cbt_jio_free(io);
	}
	cbt_bm_destroy(t->active);
	cbt_bm_destroy(t->frozen);
	cbt_os_free(t, sizeof(*t));
}

uint64_t cbt_tracker_device_bytes(const struct cbt_tracker *t)
{
	return t->device_bytes;
}

uint32_t cbt_tracker_granularity(const struct cbt_tracker *t)
{
	return t->granularity;
}

const char *cbt_tracker_name(const struct cbt_tracker *t)
{
	return t->name;
}

uint64_t cbt_tracker_inflight(struct cbt_tracker *t)
{
	return inflight(t);
}

/* ---- I/O path ------------------------------------------------------------------------ */

/* The io of a write that will not be journalled unless the mode changes before it ends. */
static void io_init(struct cbt_io *io, uint32_t type, uint32_t rflags, uint64_t sector,
		    uint64_t nr_sectors)
{
	cbt_rec_init(&io->hdr, type, 0, sector, (uint32_t)nr_sectors,
		     rflags & (CBT_RF_FUA | CBT_RF_PREFLUSH), 0);
	io->sector = sector;
	io->nr_sectors = nr_sectors;
}

/* No memory for an io: the completion will be invisible. The bitmap bit set at submission
 * still covers the write, but a cut could race it, so say resync is required. */
static void io_alloc_failed(struct cbt_tracker *t, uint64_t charge)
{
	struct evq q = { 0 };
	cbt_irqflags_t fl;

	cbt_spin_lock(&t->lock, fl);
	t->mem_used -= charge;
	set_state(t, &q, CBT_STATE_RESYNC_REQUIRED, CBT_REASON_ALLOC_FAILED);
	set_mode(t, &q, CBT_MODE_BITMAP, CBT_REASON_ALLOC_FAILED);
	io_ended(t, &q);
	cbt_spin_unlock(&t->lock, fl);
	evq_flush(t, &q);
}

void cbt_io_begin(struct cbt_tracker *t, uint32_t type, uint32_t rflags, uint64_t sector,
		  uint64_t nr_sectors, struct cbt_io **out)
{
	struct evq q = { 0 };
	struct cbt_io *io;
	cbt_irqflags_t fl;
	uint32_t nr_chunks = 0, mode;
	uint64_t data_bytes, charge = 0;
	int journal, data = 0, mark_err;

	*out = NULL;
	if (sector >= t->device_sectors || !nr_sectors)
		return;
	if (nr_sectors > t->device_sectors - sector)
		nr_sectors = t->device_sectors - sector;
	if (nr_sectors > 0xffffffffull) /* no bio is that long; keep the record field exact */
		nr_sectors = 0xffffffffull;
	data_bytes = nr_sectors << CBT_SECTOR_SHIFT;

	cbt_atomic64_add(&t->begun, 1);
	cbt_atomic64_add(&t->bytes_seen, data_bytes);
	mark_err = mark(t, sector, nr_sectors, &mode);
	if (mode == CBT_MODE_BITMAP && !mark_err) {
		/* Nothing to journal or charge: no lock. If the mode changes before the write
		 * ends, cbt_io_end() makes it a META record (journal 0, nothing charged). */
		io = cbt_jio_alloc(0, CBT_ALLOC_NOWAIT);
		if (!io) {
			io_alloc_failed(t, 0);
			return;
		}
		io_init(io, type, rflags, sector, nr_sectors);
		*out = io;
		return;
	}

	cbt_spin_lock(&t->lock, fl);
	if (mark_err)
		set_state(t, &q, CBT_STATE_RESYNC_REQUIRED, CBT_REASON_ALLOC_FAILED);
	journal = t->mode != CBT_MODE_BITMAP;
	if (journal && t->mem_used + CBT_REC_COST > t->mem_cap) {
		set_mode(t, &q, CBT_MODE_BITMAP, CBT_REASON_JOURNAL_RECORD_CAP);
		journal = 0;
	}
	if (journal && type == CBT_REC_WRITE && t->mode == CBT_MODE_DATA &&
	    data_bytes <= CBT_IO_MAX_DATA) {
		nr_chunks = (uint32_t)((data_bytes + CBT_CHUNK_SIZE - 1) / CBT_CHUNK_SIZE);
		data = 1;
		if (t->mem_used + CBT_REC_COST + (uint64_t)nr_chunks * CBT_CHUNK_SIZE >
		    t->mem_cap) {
			set_mode(t, &q, CBT_MODE_META, CBT_REASON_JOURNAL_DATA_CAP);
			data = 0;
			nr_chunks = 0;
		}
	}
	if (journal)
		charge = CBT_REC_COST + (uint64_t)nr_chunks * CBT_CHUNK_SIZE;
	t->mem_used += charge;
	cbt_spin_unlock(&t->lock, fl);
	evq_flush(t, &q);

	io = cbt_jio_alloc(nr_chunks, CBT_ALLOC_NOWAIT);
	if (!io) {
		io_alloc_failed(t, charge);
		return;
	}
	if (data && cbt_jio_alloc_chunks(io)) {
		cbt_spin_lock(&t->lock, fl);
		t->mem_used -= (uint64_t)nr_chunks * CBT_CHUNK_SIZE;
		if (t->mode == CBT_MODE_DATA)
			set_mode(t, &q, CBT_MODE_META, CBT_REASON_ALLOC_FAILED);
		cbt_spin_unlock(&t->lock, fl);
		evq_flush(t, &q);
		data = 0;
	}
	io_init(io, type, rflags, sector, nr_sectors);
	if (data) {
		io->hdr.flags |= CBT_RF_HAS_DATA;
		io->hdr.data_len = (uint32_t)data_bytes;
	}
	io->journal = (uint8_t)journal;
	io->mem = journal ? CBT_REC_COST + (data ? (uint64_t)nr_chunks * CBT_CHUNK_SIZE : 0) : 0;
	*out = io;
}

int cbt_io_wants_data(const struct cbt_io *io)
{
	return io && (io->hdr.flags & CBT_RF_HAS_DATA);
}

void cbt_io_copy(struct cbt_io *io, uint64_t off, const void *src, uint64_t len)
{
	const uint8_t *s = (const uint8_t *)src;

	if (!cbt_io_wants_data(io) || off >= io->hdr.data_len)
		return;
	if (len > io->hdr.data_len - off)
		len = io->hdr.data_len - off;
	while (len) {
		uint64_t c = off / CBT_CHUNK_SIZE, o = off % CBT_CHUNK_SIZE;
		uint64_t n = CBT_CHUNK_SIZE - o < len ? CBT_CHUNK_SIZE - o : len;

		cbt_memcpy(io->chunk[c] + o, s, (size_t)n);
		s += n;
		off += n;
		len -= n;
	}
}

void cbt_io_end(struct cbt_tracker *t, struct cbt_io *io, int error)
{
	struct evq q = { 0 };
	cbt_irqflags_t fl;
	struct cbt_io *drop = NULL;
	uint64_t mem;
	uint32_t mode;
	int mark_err;

	if (!io)
		return;
	/* A failed write is never journalled as done: its data goes, a DIRTY record stays. */
	if (error)
		cbt_jio_drop_data(io);
	/* Into the generation current NOW: a cut while the write was in flight cannot lose
	 * it (docs/tracker.md, "Generations"). Before the io counts as ended: a detach that
	 * sees nothing in flight saves bitmaps with every mark in them. */
	mark_err = mark(t, io->sector, io->nr_sectors, &mode);
	if (mode == CBT_MODE_BITMAP && !error && !io->mem && !mark_err) {
		/* BITMAP mode with nothing charged: the write is dropped, its blocks are in the
		 * bitmap (in a generation no later than a recovery's GAP cut: see mark()). */
		cbt_atomic64_add(&t->records_dropped, 1);
		io_ended(t, &q);
		cbt_jio_free(io);
		evq_flush(t, &q);
		return;
	}

	cbt_spin_lock(&t->lock, fl);
	if (mark_err)
		set_state(t, &q, CBT_STATE_RESYNC_REQUIRED, CBT_REASON_ALLOC_FAILED);
	if (error)
		t->writes_failed++;
	if (t->mode != CBT_MODE_BITMAP)
		seq_room(t, &q, 1); /* no room: BITMAP, and the io is dropped below */
	if (t->mode == CBT_MODE_BITMAP) {
		if (!error)
			cbt_atomic64_add(&t->records_dropped, 1);
		t->mem_used -= io->mem;
		drop = io;
	} else {
		/* A write submitted in BITMAP mode that completes after recovery becomes a
		 * META record (journal was 0, nothing charged yet). */
		io->journal = 1;
		mem = CBT_REC_COST;
		if (io->hdr.flags & CBT_RF_HAS_DATA)
			mem += (uint64_t)io->nr_chunks * CBT_CHUNK_SIZE;
		t->mem_used = t->mem_used - io->mem + mem;
		io->mem = mem;
		if (error) {
			io->hdr.type = CBT_REC_DIRTY;
			io->hdr.flags = 0;
			io->hdr.reason = CBT_REASON_WRITE_ERROR;
		}
		io->hdr.timestamp_ns = cbt_os_now_ns();
		append(t, &q, io);
	}
	io_ended(t, &q);
	cbt_spin_unlock(&t->lock, fl);
	cbt_jio_free(drop);
	evq_flush(t, &q);
}

/* ---- recovery ------------------------------------------------------------------------ */

/*
 * Swaps the active bitmap for spare (under the lock). The old frozen one, if any, is
 * returned in *old unless done names it, in which case *old is returned for freeing and
 * *merge is 0. The caller merges or frees after unlocking, with finish_cut().
 */
static void cut_locked(struct cbt_tracker *t, struct cbt_bm *spare, uint64_t done,
		       struct cbt_bm **old, int *merge)
{
	*old = t->frozen;
	*merge = *old && (*old)->generation != done;
	spare->generation = t->active->generation + 1;
	t->frozen = t->active;
	/* Release: a mark that loads the new pointer sees it empty and, in a recovery, the
	 * mode set before the swap (mark()). */
	cbt_store_release(&t->active, spare);
	t->state_changed = 1;
}

/* After the lock: once no mark can still reach the bitmap just frozen (mark_sync), its
 * bits are final and it can take the old frozen one's (which no mark has reached since
 * the cut before). */
static void finish_cut(struct cbt_tracker *t, struct cbt_bm *old, int merge)
{
	mark_sync(t);
	if (old && merge)
		cbt_bm_merge(t->frozen, old);
	cbt_bm_destroy(old);
}

static int drained_enough(const struct cbt_tracker *t)
{
	return t->mem_used * 4 < t->mem_cap;
}

/*
 * Leaves BITMAP (with a GAP record naming a bitmap cut made under the same lock) or META
 * mode once the backlog has drained. Process context; control calls are serialized.
 */
static void maybe_recover(struct cbt_tracker *t)
{
	struct evq q = { 0 };
	struct cbt_bm *spare = NULL, *old = NULL;
	struct cbt_io *gap = NULL;
	cbt_irqflags_t fl;
	int merge = 0, cut = 0;
	uint32_t mode, reason;

	cbt_spin_lock(&t->lock, fl);
	mode = t->mode;
	reason = t->mode_reason;
	cbt_spin_unlock(&t->lock, fl);
	if (mode == CBT_MODE_DATA)
		return;
	if (mode == CBT_MODE_META && (t->flags & CBT_ATTACH_META_ONLY))
		return;
	if (mode == CBT_MODE_BITMAP) {
		spare = cbt_bm_create(t->active->nr_bits, 0);
		gap = cbt_jio_alloc(0, CBT_ALLOC_WAIT);
		if (!spare || !gap)
			goto out;
	}

	cbt_spin_lock(&t->lock, fl);
	if (t->mode == mode && drained_enough(t) &&
	    (mode != CBT_MODE_BITMAP || seq_room(t, &q, 1))) {
		if (mode == CBT_MODE_BITMAP) {
			/* The mode first, then the cut: a completion that marks the new bitmap
			 * sees META and becomes a record; one that sees BITMAP marked the
			 * generation the GAP names (mark()). */
			set_mode(t, &q, CBT_MODE_META, CBT_REASON_RECOVERED);
			cut_locked(t, spare, 0, &old, &merge);
			spare = NULL;
			cut = 1;
			cbt_rec_init(&gap->hdr, CBT_REC_GAP, 0, 0, 0, 0, cbt_os_now_ns());
			gap->hdr.aux = t->frozen->generation;
			gap->hdr.reason = reason;
			gap->journal = 1;
			gap->mem = CBT_REC_COST;
			t->mem_used += CBT_REC_COST;
			append(t, &q, gap);
			gap = NULL;
		} else {
			set_mode(t, &q, CBT_MODE_DATA, CBT_REASON_RECOVERED);
		}
	}
	cbt_spin_unlock(&t->lock, fl);
	if (cut)
		finish_cut(t, old, merge);
	evq_flush(t, &q);
out:
	cbt_bm_destroy(spare);
	cbt_jio_free(gap);
}

/* ---- drain --------------------------------------------------------------------------- */

static int io_is_meta_write(const struct cbt_io *io)
{
	return io->hdr.type == CBT_REC_WRITE && !(io->hdr.flags & CBT_RF_HAS_DATA);
}

static int io_is_data_write(const struct cbt_io *io)
{
	return io->hdr.type == CBT_REC_WRITE && (io->hdr.flags & CBT_RF_HAS_DATA);
}

int cbt_tracker_get(struct cbt_tracker *t, uint32_t max_records, uint64_t buf_len, cbt_emit_fn emit,
		    void *ctx, struct cbt_batch *batch, uint64_t *bytes_needed)
{
	struct cbt_io *io;
	cbt_irqflags_t fl;
	uint64_t off, i;
	int err;

	*bytes_needed = 0;
	if (!t->batch_out) {
		struct cbt_batch b;
		uint64_t payload = 0, avail;
		uint32_t nr = 0, flags = 0;
		int kind = 0; /* 0 undecided, 1 data writes, 2 meta writes */

		maybe_recover(t);
		/* The records up to the tail as it is now are complete and linked (append
		 * happened under the lock); completion only ever sets the tail's next, which
		 * the walk below never follows. */
		cbt_spin_lock(&t->lock, fl);
		io = t->head;
		avail = t->nr_drainable;
		cbt_spin_unlock(&t->lock, fl);
		if (!io)
			return CBT_EAGAIN;
		for (;; io = io->next) {
			uint64_t len = sizeof(struct cbt_record) + io->hdr.data_len;

			if (max_records && nr == max_records)
				break;
			if (nr && sizeof(struct cbt_batch) + payload + len > buf_len)
				break;
			if (io_is_data_write(io)) {
				if (kind == 2)
					break;
				kind = 1;
			} else if (io_is_meta_write(io)) {
				if (kind == 1)
					break;
				kind = 2;
			}
			if (io->hdr.type == CBT_REC_GAP)
				flags |= CBT_BF_HAS_GAP;
			if (io->hdr.type == CBT_REC_TAG)
				flags |= CBT_BF_HAS_TAG;
			payload += len;
			nr++;
			/* A batch ends at a tag: the target makes a recovery point of the replica
			 * as it is after the batch, so nothing written after the tag may be in it.
			 */
			if (io->hdr.type == CBT_REC_TAG || nr == avail)
				break;
		}

		if (sizeof(struct cbt_batch) + payload > buf_len) {
			/* Not even one record fits: say how much one needs, hand out nothing. */
			*bytes_needed = sizeof(struct cbt_batch) + payload;
			return CBT_ENOSPC;
		}
		cbt_memset(&b, 0, sizeof(b));
		b.magic = CBT_MAGIC_BATCH;
		b.version = CBT_BATCH_VERSION;
		b.mode = kind == 2 ? CBT_MODE_META : CBT_MODE_DATA;
		b.batch_id = t->next_batch_id++;
		b.first_seq = t->head->hdr.seq;
		b.last_seq = b.first_seq + nr - 1;
		b.nr_records = nr;
		b.flags = flags;
		b.payload_len = payload;
		cbt_batch_seal(&b);
		t->batch = b;
		t->batch_out = 1;
	}

	*bytes_needed = sizeof(struct cbt_batch) + t->batch.payload_len;
	*batch = t->batch;
	if (*bytes_needed > buf_len)
		return CBT_ENOSPC;
	err = emit(ctx, 0, &t->batch, sizeof(t->batch));
	if (err)
		return err;
	off = sizeof(t->batch);
	/* Never past the batch's last record: its next may be the tail's, changing. */
	for (io = t->head, i = 0;; io = io->next) {
		cbt_jio_seal(io);
		err = cbt_jio_emit(io, emit, ctx, off);
		if (err)
			return err;
		off += sizeof(struct cbt_record) + io->hdr.data_len;
		if (++i == t->batch.nr_records)
			return 0;
	}
}

int cbt_tracker_commit(struct cbt_tracker *t, uint64_t batch_id)
{
	struct cbt_io *first, *io, *next;
	cbt_irqflags_t fl;
	uint64_t i, mem = 0;

	if (!t->batch_out || batch_id != t->batch.batch_id)
		return CBT_ESTALE;
	/* The batch's records are stable (GET saw them linked); only the last one's next
	 * may change under a completion, so that one is read under the lock. */
	first = t->head;
	for (io = first, i = 0;; io = io->next) {
		mem += io->mem;
		if (++i == t->batch.nr_records)
			break;
	}
	cbt_spin_lock(&t->lock, fl);
	t->head = io->next;
	io->next = NULL;
	if (!t->head)
		t->tail = NULL;
	t->nr_drainable -= t->batch.nr_records;
	t->mem_used -= mem;
	t->committed_seq = t->batch.last_seq;
	t->batch_out = 0;
	cbt_spin_unlock(&t->lock, fl);
	for (io = first; io; io = next) {
		next = io->next;
		cbt_jio_free(io);
	}
	maybe_recover(t);
	return 0;
}

uint32_t cbt_tracker_ready(struct cbt_tracker *t)
{
	cbt_irqflags_t fl;
	uint32_t r = 0;

	cbt_spin_lock(&t->lock, fl);
	if (t->head || t->batch_out)
		r |= CBT_READY_RECORDS;
	/* A GET would recover and hand out the GAP record. */
	if (t->mode == CBT_MODE_BITMAP && drained_enough(t) &&
	    (!t->seq_bounded || t->next_seq <= t->seq_limit))
		r |= CBT_READY_RECORDS;
	if (t->state_changed)
		r |= CBT_READY_STATE;
	cbt_spin_unlock(&t->lock, fl);
	return r;
}

/* ---- marks, tags, generations -------------------------------------------------------- */

int cbt_tracker_mark_dirty(struct cbt_tracker *t, uint64_t sector, uint64_t nr_sectors,
			   uint32_t reason)
{
	struct evq q = { 0 };
	struct cbt_io *recs = NULL, *io;
	cbt_irqflags_t fl;
	uint64_t n, s, left;
	int err = 0, mark_err;

	if (!nr_sectors || cbt_range_check(sector, nr_sectors, t->device_sectors))
		return CBT_EINVAL;
	if (reason > CBT_REASON_MAX)
		return CBT_EINVAL;
	/* One DIRTY record per 2^31 sectors (the record's length field is 32 bits). */
	n = (nr_sectors + 0x7fffffffull) / 0x80000000ull;
	for (s = 0; s < n; s++) {
		io = cbt_jio_alloc(0, CBT_ALLOC_WAIT);
		if (!io) {
			err = CBT_ENOMEM;
			goto out;
		}
		io->next = recs;
		recs = io;
	}
	mark_err = mark(t, sector, nr_sectors, NULL);
	cbt_spin_lock(&t->lock, fl);
	if (mark_err)
		set_state(t, &q, CBT_STATE_RESYNC_REQUIRED, CBT_REASON_ALLOC_FAILED);
	if (t->mode != CBT_MODE_BITMAP && seq_room(t, &q, n)) {
		for (s = sector, left = nr_sectors; left;) {
			uint64_t len = left < 0x80000000ull ? left : 0x80000000ull;

			io = recs;
			recs = io->next;
			cbt_rec_init(&io->hdr, CBT_REC_DIRTY, 0, s, (uint32_t)len, 0,
				     cbt_os_now_ns());
			io->hdr.reason = reason;
			io->sector = s;
			io->nr_sectors = len;
			io->journal = 1;
			io->mem = CBT_REC_COST;
			t->mem_used += CBT_REC_COST;
			append(t, &q, io);
			s += len;
			left -= len;
		}
	}
	cbt_spin_unlock(&t->lock, fl);
	evq_flush(t, &q);
out:
	while (recs) {
		io = recs->next;
		cbt_jio_free(recs);
		recs = io;
	}
	return err;
}

int cbt_tag_group(struct cbt_tracker *const *ts, uint32_t n, const char *name, uint32_t flags,
		  uint64_t tag_id, uint64_t *seqs)
{
	struct cbt_tracker *sorted[CBT_TAG_MAX_DEVICES];
	struct cbt_io *recs[CBT_TAG_MAX_DEVICES] = { 0 };
	cbt_irqflags_t fl[CBT_TAG_MAX_DEVICES];
	struct evq q[CBT_TAG_MAX_DEVICES];
	struct cbt_tag tag;
	uint64_t now;
	uint32_t i, j;
	int err = 0;

	if (n < 1 || n > CBT_TAG_MAX_DEVICES || (flags & ~CBT_TAG_FLAGS_ALL) || !name ||
	    !cbt_str_terminated(name, CBT_TAG_NAME_LEN))
		return CBT_EINVAL;
	for (i = 0; i < n; i++)
		for (j = 0; j < i; j++)
			if (ts[i] == ts[j])
				return CBT_EINVAL;
	for (i = 0; i < n; i++) {
		recs[i] = cbt_jio_alloc(1, CBT_ALLOC_WAIT);
		if (!recs[i] || cbt_jio_alloc_chunks(recs[i])) {
			err = CBT_ENOMEM;
			goto out;
		}
	}
	/* Fixed lock order (by address) so concurrent tags never deadlock. */
	for (i = 0; i < n; i++)
		sorted[i] = ts[i];
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
			struct cbt_tracker *x = sorted[j];

			sorted[j] = sorted[j - 1];
			sorted[j - 1] = x;
		}

	now = cbt_os_now_ns();
	cbt_memset(&tag, 0, sizeof(tag));
	tag.tag_id = tag_id;
	tag.timestamp_ns = now;
	tag.flags = flags;
	tag.nr_devices = n;
	for (i = 0; i + 1 < sizeof(tag.name) && name[i]; i++)
		tag.name[i] = name[i];

	for (i = 0; i < n; i++) {
		q[i].n = 0;
		cbt_spin_lock(&sorted[i]->lock, fl[i]);
	}
	for (i = 0; i < n; i++)
		if (ts[i]->mode == CBT_MODE_BITMAP || !seq_room(ts[i], &q[i], 1))
			err = CBT_EBUSY;
	if (!err) {
		for (i = 0; i < n; i++) {
			struct cbt_io *io = recs[i];

			recs[i] = NULL;
			cbt_rec_init(&io->hdr, CBT_REC_TAG, 0, 0, 0,
				     (flags & CBT_TAG_APP_CONSISTENT) ? CBT_RF_APP_CONSISTENT : 0,
				     now);
			io->hdr.aux = tag_id;
			io->hdr.data_len = sizeof(tag);
			cbt_memcpy(io->chunk[0], &tag, sizeof(tag));
			io->journal = 1;
			io->mem = CBT_REC_COST + CBT_CHUNK_SIZE;
			ts[i]->mem_used += io->mem;
			append(ts[i], &q[i], io);
			seqs[i] = io->hdr.seq;
		}
	}
	for (i = n; i-- > 0;)
		cbt_spin_unlock(&sorted[i]->lock, fl[i]);
	for (i = 0; i < n; i++)
		evq_flush(ts[i], &q[i]);
out:
	for (i = 0; i < n; i++)
		cbt_jio_free(recs[i]);
	return err;
}

int cbt_tracker_cut(struct cbt_tracker *t, uint64_t done_generation, uint64_t *generation,
		    uint64_t *dirty_bits)
{
	struct cbt_bm *spare, *old;
	cbt_irqflags_t fl;
	int merge;

	spare = cbt_bm_create(t->active->nr_bits, 0);
	if (!spare)
		return CBT_ENOMEM;
	cbt_spin_lock(&t->lock, fl);
	cut_locked(t, spare, done_generation, &old, &merge);
	cbt_spin_unlock(&t->lock, fl);
	finish_cut(t, old, merge);
	*generation = t->frozen->generation;
	*dirty_bits = cbt_bm_dirty(t->frozen);
	return 0;
}

int cbt_tracker_bitmap_read(struct cbt_tracker *t, uint64_t generation, uint64_t first_byte,
			    uint64_t len, cbt_emit_fn emit, void *ctx, struct cbt_bitmap_hdr *hdr,
			    uint64_t *copied)
{
	uint8_t buf[256];
	uint64_t bits_len, done = 0;
	int err;

	*copied = 0;
	if (!t->frozen)
		return CBT_ENOENT;
	if (generation != t->frozen->generation)
		return CBT_ESTALE;
	if (first_byte % 8)
		return CBT_EINVAL;
	cbt_bitmap_hdr_init(hdr, generation, t->device_bytes, t->granularity);
	hdr->hdr_crc = cbt_hdr_crc(hdr, sizeof(*hdr));
	bits_len = hdr->bits_len;
	if (first_byte >= bits_len)
		return 0;
	if (len > bits_len - first_byte)
		len = bits_len - first_byte;
	while (done < len) {
		uint64_t n = len - done < sizeof(buf) ? len - done : sizeof(buf);

		cbt_bm_read(t->frozen, first_byte + done, buf, n);
		err = emit(ctx, done, buf, n);
		if (err)
			return err;
		done += n;
	}
	*copied = done;
	return 0;
}

void cbt_tracker_status(struct cbt_tracker *t, struct cbt_ioc_status *st)
{
	cbt_irqflags_t fl;

	cbt_spin_lock(&t->lock, fl);
	st->mode = t->mode;
	st->mode_reason = t->mode_reason;
	st->state = t->state;
	st->state_reason = t->state_reason;
	st->device_bytes = t->device_bytes;
	st->granularity = t->granularity;
	st->flags = t->flags;
	st->generation = t->active->generation;
	st->frozen_generation = t->frozen ? t->frozen->generation : 0;
	st->writes_seen = cbt_atomic64_read(&t->begun);
	st->bytes_seen = cbt_atomic64_read(&t->bytes_seen);
	st->writes_failed = t->writes_failed;
	st->records = t->records;
	st->records_pending = t->nr_drainable;
	st->records_dropped = cbt_atomic64_read(&t->records_dropped);
	st->next_seq = t->next_seq;
	st->committed_seq = t->committed_seq;
	st->mem_used = t->mem_used;
	st->mem_cap = t->mem_cap;
	st->bitmap_mem = cbt_bm_mem(t->active) + (t->frozen ? cbt_bm_mem(t->frozen) : 0);
	st->dirty_bits = cbt_bm_dirty(t->active);
	st->mode_changes = t->mode_changes;
	t->state_changed = 0;
	cbt_spin_unlock(&t->lock, fl);
}

void cbt_tracker_set_state(struct cbt_tracker *t, uint32_t state, uint32_t reason)
{
	struct evq q = { 0 };
	cbt_irqflags_t fl;

	cbt_spin_lock(&t->lock, fl);
	set_state(t, &q, state, reason);
	cbt_spin_unlock(&t->lock, fl);
	evq_flush(t, &q);
}

void cbt_tracker_get_state(struct cbt_tracker *t, uint32_t *state, uint32_t *reason)
{
	cbt_irqflags_t fl;

	cbt_spin_lock(&t->lock, fl);
	*state = t->state;
	*reason = t->state_reason;
	cbt_spin_unlock(&t->lock, fl);
}

/* ---- resync-required ------------------------------------------------------------------ */

int cbt_tracker_resync(struct cbt_tracker *t, uint32_t op, uint32_t reason, uint64_t generation,
		       uint32_t *state, uint32_t *state_reason)
{
	struct evq q = { 0 };
	cbt_irqflags_t fl;
	int err = 0;

	switch (op) {
	case CBT_RESYNC_REQUIRE:
		if (reason == CBT_REASON_NONE || reason > CBT_REASON_MAX)
			return CBT_EINVAL;
		break;
	case CBT_RESYNC_DONE:
		break;
	default:
		return CBT_EINVAL;
	}
	cbt_spin_lock(&t->lock, fl);
	if (op == CBT_RESYNC_REQUIRE) {
		/* The journal and both bitmaps go on as before: the engine decides what to
		 * do with records it already has (docs/tracker.md, "Resync-required"). */
		set_state(t, &q, CBT_STATE_RESYNC_REQUIRED, reason);
	} else if (!generation || generation >= t->active->generation) {
		/* 0, or a generation no cut has produced yet: it names no resync. */
		err = CBT_EINVAL;
	} else if (t->state == CBT_STATE_RESYNC_REQUIRED) {
		if (t->resync_gen <= generation)
			set_state(t, &q, CBT_STATE_DIRTY, CBT_REASON_NONE);
		else
			err = CBT_EAGAIN; /* set again after that cut: that resync missed it */
	}
	*state = t->state;
	*state_reason = t->state_reason;
	cbt_spin_unlock(&t->lock, fl);
	evq_flush(t, &q);
	return err;
}

/* ---- persistence --------------------------------------------------------------------- */

static int names_equal(const char *a, const char *b)
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

void cbt_tracker_meta_load(struct cbt_tracker *t, const void *buf, uint64_t len,
			   uint32_t *found_state, uint32_t *found_reason)
{
	const uint8_t *p = (const uint8_t *)buf;
	struct cbt_meta m;
	uint32_t state = CBT_STATE_RESYNC_REQUIRED, reason;
	struct evq q = { 0 };
	cbt_irqflags_t fl;

	*found_state = 0;
	*found_reason = CBT_REASON_NEW_DEVICE;
	if (!len) {
		reason = CBT_REASON_NEW_DEVICE;
		goto set;
	}
	if (cbt_meta_decode(p, len, &m) != CBT_FMT_OK) {
		reason = *found_reason = CBT_REASON_METADATA_INVALID;
		goto set;
	}
	*found_state = m.state;
	*found_reason = m.reason;
	/* Continue numbering above anything the previous run can have handed out: last_seq
	 * is exact after an orderly detach and the reserved ceiling after a crash (the
	 * engine drops numbers at or below what the replica applied as duplicates). Until
	 * this run writes a header of its own, that is also as far as it may number. */
	cbt_spin_lock(&t->lock, fl);
	t->next_seq = m.last_seq + 1;
	t->seq_limit = m.last_seq;
	t->seq_bounded = 1;
	t->hdr_state = m.state;
	t->hdr_reason = m.reason;
	cbt_spin_unlock(&t->lock, fl);
	t->active->generation = m.generation + 1;
	if (!names_equal(m.name, t->name)) {
		reason = CBT_REASON_IDENTITY_CHANGED;
	} else if (m.device_bytes != t->device_bytes || m.granularity != t->granularity) {
		reason = CBT_REASON_SIZE_CHANGED;
	} else if (m.state == CBT_STATE_DIRTY) {
		reason = CBT_REASON_UNCLEAN_SHUTDOWN;
	} else if (m.state == CBT_STATE_RESYNC_REQUIRED) {
		reason = m.reason;
	} else {
		struct cbt_bitmap_hdr bh;
		const uint8_t *bits;
		uint64_t i;

		if (!m.bitmap_offset || m.bitmap_offset > len ||
		    cbt_bitmap_decode(p + m.bitmap_offset, len - m.bitmap_offset, &bh, &bits) ||
		    bh.device_bytes != t->device_bytes || bh.granularity != t->granularity) {
			reason = CBT_REASON_METADATA_INVALID;
			goto set;
		}
		cbt_spin_lock(&t->lock, fl);
		for (i = 0; i < bh.nr_bits; i++)
			if (cbt_bitmap_test(bits, i))
				cbt_bm_set_range(t->active, i, i);
		cbt_spin_unlock(&t->lock, fl);
		state = CBT_STATE_DIRTY;
		reason = CBT_REASON_NONE;
	}
set:
	cbt_spin_lock(&t->lock, fl);
	set_state(t, &q, state, reason);
	t->state_changed = 0;
	cbt_spin_unlock(&t->lock, fl);
	evq_flush(t, &q);
}

uint64_t cbt_tracker_meta_size(const struct cbt_tracker *t)
{
	return CBT_META_AREA_SIZE + sizeof(struct cbt_bitmap_hdr) +
	       cbt_bitmap_bits_len(t->active->nr_bits);
}

uint64_t cbt_tracker_meta_build(struct cbt_tracker *t, uint32_t state, uint32_t reason,
				int with_bitmap, void *buf)
{
	uint8_t *p = (uint8_t *)buf;
	struct cbt_meta m;
	cbt_irqflags_t fl;
	uint64_t size = CBT_META_AREA_SIZE;

	cbt_meta_init(&m, t->name, t->device_bytes, t->granularity);
	m.state = state;
	m.reason = reason;
	m.update_ns = cbt_os_now_ns();
	cbt_memset(p, 0, CBT_META_AREA_SIZE);
	if (with_bitmap) {
		struct cbt_bitmap_hdr bh;
		uint8_t *bits = p + CBT_META_AREA_SIZE + sizeof(bh);
		struct cbt_io *io;

		cbt_bitmap_hdr_init(&bh, t->active->generation, t->device_bytes, t->granularity);
		cbt_memset(bits, 0, bh.bits_len);
		cbt_spin_lock(&t->lock, fl);
		cbt_bm_or_into(t->active, bits, bh.bits_len);
		if (t->frozen)
			cbt_bm_or_into(t->frozen, bits, bh.bits_len);
		/* Uncommitted records whose generation may already have been dropped. */
		for (io = t->head; io; io = io->next) {
			uint64_t b, first, last;

			if (!cbt_rec_type_has_range(io->hdr.type))
				continue;
			first = (io->sector << CBT_SECTOR_SHIFT) / t->granularity;
			last = (((io->sector + io->nr_sectors) << CBT_SECTOR_SHIFT) - 1) /
			       t->granularity;
			for (b = first; b <= last && b < bh.nr_bits; b++)
				cbt_bitmap_set(bits, b);
		}
		cbt_spin_unlock(&t->lock, fl);
		cbt_bitmap_hdr_seal(&bh, bits);
		cbt_memcpy(p + CBT_META_AREA_SIZE, &bh, sizeof(bh));
		m.bitmap_offset = CBT_META_AREA_SIZE;
		m.bitmap_len = sizeof(bh) + bh.bits_len;
		size += m.bitmap_len;
	}
	cbt_spin_lock(&t->lock, fl);
	m.generation = t->active->generation;
	m.last_seq = t->next_seq - 1;
	/* Written while writes may still complete: reserve ahead (cbt_tracker.h). */
	if (state != CBT_STATE_CLEAN && !t->seq_final)
		m.last_seq =
			m.last_seq <= ~0ull - t->seq_reserve ? m.last_seq + t->seq_reserve : ~0ull;
	cbt_spin_unlock(&t->lock, fl);
	cbt_meta_seal(&m);
	cbt_memcpy(p, &m, sizeof(m));
	return size;
}

void cbt_tracker_meta_written(struct cbt_tracker *t, const void *buf)
{
	struct cbt_meta m;
	cbt_irqflags_t fl;

	cbt_memcpy(&m, buf, sizeof(m));
	cbt_spin_lock(&t->lock, fl);
	t->seq_limit = m.last_seq; /* what a crash from now on resumes above */
	t->seq_bounded = 1;
	t->hdr_state = m.state;
	t->hdr_reason = m.reason;
	cbt_spin_unlock(&t->lock, fl);
}

void cbt_tracker_seq_final(struct cbt_tracker *t)
{
	cbt_irqflags_t fl;

	cbt_spin_lock(&t->lock, fl);
	t->seq_final = 1;
	t->seq_bounded = 1;
	t->seq_limit = t->next_seq - 1;
	cbt_spin_unlock(&t->lock, fl);
}

int cbt_tracker_meta_due(struct cbt_tracker *t, uint32_t *state, uint32_t *reason)
{
	cbt_irqflags_t fl;
	int due;

	cbt_spin_lock(&t->lock, fl);
	*state = t->hdr_state;
	*reason = t->hdr_reason;
	/* Room left above the last number handed out (next_seq - 1), against R/2. */
	due = t->seq_bounded && !t->seq_final && t->hdr_state != CBT_STATE_CLEAN &&
	      (t->next_seq > t->seq_limit || t->seq_limit - t->next_seq + 1 < t->seq_reserve / 2);
	cbt_spin_unlock(&t->lock, fl);
	return due;
}
