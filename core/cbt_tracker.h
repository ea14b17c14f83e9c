/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * One tracked block device: the public API of the portable tracking core.
 *
 * Semantics (docs/tracker.md has the prose):
 *  - Every write is marked in the bitmap at submission (cbt_io_begin) and again at
 *    completion (cbt_io_end) into the then-current generation, so cutting a generation
 *    never needs to drain in-flight writes.
 *  - In DATA mode the written bytes are captured at submission (cbt_io_copy); the record
 *    waits in the io until completion. Sequence numbers are assigned at completion: the
 *    journal is in completion order and a failed write never consumes one (it yields a
 *    DIRTY record, reason WRITE_ERROR, instead).
 *  - Modes degrade under mem_cap (DATA -> META -> BITMAP) and recover by themselves at
 *    GET/COMMIT once pending + undrained memory is below a quarter of the cap; leaving
 *    BITMAP appends a GAP record naming the bitmap generation cut at that instant.
 *  - GET hands out the oldest drainable records as one batch and repeats the same batch
 *    until COMMIT of its id.
 *
 * Contexts: cbt_io_* run in the I/O path (no sleeping; cbt_io_end in completion/interrupt
 * context). Everything else runs in process context, serialized per tracker by the caller.
 * Return values are 0 or a negative CBT_E* code (numerically the Linux errno).
 */
#ifndef CBT_TRACKER_H
#define CBT_TRACKER_H

#include "cbt_os.h"
#include <cbtrep/record.h>
#include <cbtrep/bitmap.h>
#include <cbtrep/meta.h>
#include <cbtrep/ioctl.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes: the Linux errno values, so kmod returns them unchanged; Windows maps them. */
#define CBT_ENOENT (-2)
#define CBT_EAGAIN (-11)
#define CBT_ENOMEM (-12)
#define CBT_EFAULT (-14)
#define CBT_EBUSY (-16)
#define CBT_EEXIST (-17)
#define CBT_EINVAL (-22)
#define CBT_ENOSPC (-28)
#define CBT_ESTALE (-116)

/* Journal memory cap: 0 means the default; anything under the minimum is refused. */
#define CBT_MEM_CAP_DEFAULT (64ull << 20)
#define CBT_MEM_CAP_MIN (64ull << 10)

/* Bytes a record costs against the cap besides its data (the in-memory record). */
#define CBT_REC_COST 160u

/*
 * Sequence reservation (docs/tracker.md, "Sequence numbers across a crash"). While a
 * tracker runs, the metadata header's last_seq is a ceiling reserved CBT_SEQ_RESERVE
 * numbers ahead of the last one handed out, so the next attach after a crash resumes
 * above every number this run could have handed out. The glue rewrites the header with a
 * new ceiling (cbt_tracker_meta_due) once less than half the reservation is left, from
 * process context only. Between two such checks at most the records undrained in memory
 * are numbered: each charges >= CBT_REC_COST bytes against mem_cap, so R/2 = 2^39 would
 * take ~88 TB of journal memory (kmod caps mem_cap at a quarter of RAM). A crash costs at
 * most R numbers: 2^64 / 2^40 leaves room for 16 million of them.
 */
#define CBT_SEQ_RESERVE (1ull << 40)

/* Data is captured in chunks of this size (one NOWAIT allocation each). */
#define CBT_CHUNK_SIZE CBT_OS_NOWAIT_MAX

struct cbt_tracker;
struct cbt_io;

struct cbt_tracker_params {
	const char *name;      /* valid per cbt_name_valid() */
	uint64_t device_bytes; /* multiple of 512, nonzero */
	uint32_t granularity;  /* 0 = cbt_granularity_for_size() */
	uint32_t flags;	       /* CBT_ATTACH_* */
	uint64_t mem_cap;      /* 0 = CBT_MEM_CAP_DEFAULT; the platform checks the maximum */
	void *os_ctx;	       /* passed back to cbt_os_event() */
	uint64_t seq_reserve;  /* 0 = CBT_SEQ_RESERVE (tests use small values); >= 2 */
};

/* Creates a tracker in DATA mode (META with CBT_ATTACH_META_ONLY), state RESYNC_REQUIRED
 * reason NEW_DEVICE until cbt_tracker_meta_load() says otherwise. */
int cbt_tracker_create(const struct cbt_tracker_params *p, struct cbt_tracker **out);
/* Frees everything. No io may be in flight (cbt_tracker_inflight() == 0). */
void cbt_tracker_destroy(struct cbt_tracker *t);

uint64_t cbt_tracker_device_bytes(const struct cbt_tracker *t);
uint32_t cbt_tracker_granularity(const struct cbt_tracker *t);
const char *cbt_tracker_name(const struct cbt_tracker *t);
/* Writes submitted and not yet ended. Any context. */
uint64_t cbt_tracker_inflight(struct cbt_tracker *t);

/* ---- I/O path ------------------------------------------------------------------------ */

/*
 * A write of type (CBT_REC_WRITE, _DISCARD, _WRITE_ZEROES, _SECURE_ERASE) with record
 * flags rflags (CBT_RF_FUA, CBT_RF_PREFLUSH) is about to be passed down. The range is
 * clipped to the device. Marks the bitmap and returns the io to hand to cbt_io_end() on
 * completion; *out is NULL only when the range is empty or no memory was left even for
 * the io (then the whole device is marked resync-required: nothing is missed silently).
 */
void cbt_io_begin(struct cbt_tracker *t, uint32_t type, uint32_t rflags, uint64_t sector,
		  uint64_t nr_sectors, struct cbt_io **out);
/* Nonzero when the io captures data: the caller then copies every byte of the range with
 * cbt_io_copy() before passing the write down. */
int cbt_io_wants_data(const struct cbt_io *io);
/* Copies len bytes of the write's data at byte offset off of the range. */
void cbt_io_copy(struct cbt_io *io, uint64_t off, const void *src, uint64_t len);
/* The write completed (error != 0: it failed). Consumes io. Completion context. */
void cbt_io_end(struct cbt_tracker *t, struct cbt_io *io, int error);

/* ---- control ------------------------------------------------------------------------- */

/* Copy-out callback: writes len bytes at offset off of the destination. 0 or CBT_EFAULT. */
typedef int (*cbt_emit_fn)(void *ctx, uint64_t off, const void *src, uint64_t len);

/*
 * GET: the outstanding batch, or a new one from the oldest drainable records (at most
 * max_records, 0 = no limit; at most what fits in buf_len; never mixing WRITE records with
 * and without data). Writes header + records through emit. *batch gets the header,
 * *bytes_needed the batch size. CBT_EAGAIN: nothing drainable. CBT_ENOSPC: buf_len is too
 * small (bytes_needed says how much).
 */
int cbt_tracker_get(struct cbt_tracker *t, uint32_t max_records, uint64_t buf_len, cbt_emit_fn emit,
		    void *ctx, struct cbt_batch *batch, uint64_t *bytes_needed);
/* COMMIT: frees the outstanding batch. CBT_ESTALE if batch_id is not the outstanding one. */
int cbt_tracker_commit(struct cbt_tracker *t, uint64_t batch_id);
/* CBT_READY_* bits: what WAIT would report now. Any context (does not allocate). */
uint32_t cbt_tracker_ready(struct cbt_tracker *t);

/* MARK_DIRTY: bitmap + DIRTY record (reason) for a range. CBT_EINVAL when out of bounds. */
int cbt_tracker_mark_dirty(struct cbt_tracker *t, uint64_t sector, uint64_t nr_sectors,
			   uint32_t reason);

/*
 * TAG: appends a TAG record with the same tag_id to every tracker of the group while
 * holding all their locks, so no write completes between two members' tag records.
 * seqs[i] gets the record's seq on ts[i]. CBT_EBUSY when a member is in BITMAP mode (a
 * tag there would not be a consistency point); CBT_EINVAL on bad input.
 */
int cbt_tag_group(struct cbt_tracker *const *ts, uint32_t n, const char *name, uint32_t flags,
		  uint64_t tag_id, uint64_t *seqs);

/* BITMAP_CUT: freeze the active bitmap as a new generation (merging a previous frozen one
 * unless done_generation names it) and start a new active one. */
int cbt_tracker_cut(struct cbt_tracker *t, uint64_t done_generation, uint64_t *generation,
		    uint64_t *dirty_bits);
/* BITMAP_READ: bytes [first_byte, first_byte + len) of the frozen bitmap's bits (clipped to
 * bits_len). CBT_ESTALE if generation is not the frozen one, CBT_ENOENT if none. */
int cbt_tracker_bitmap_read(struct cbt_tracker *t, uint64_t generation, uint64_t first_byte,
			    uint64_t len, cbt_emit_fn emit, void *ctx, struct cbt_bitmap_hdr *hdr,
			    uint64_t *copied);

/* STATUS: fills everything but hdr, name, hook_calls and hook_ns. Clears READY_STATE. */
void cbt_tracker_status(struct cbt_tracker *t, struct cbt_ioc_status *st);

/* Forces state (e.g. RESYNC_REQUIRED / DEVICE_REMOVED). Any context. */
void cbt_tracker_set_state(struct cbt_tracker *t, uint32_t state, uint32_t reason);
void cbt_tracker_get_state(struct cbt_tracker *t, uint32_t *state, uint32_t *reason);

/*
 * RESYNC (include/cbtrep/ioctl.h): op CBT_RESYNC_REQUIRE sets RESYNC_REQUIRED with reason
 * (CBT_EINVAL for NONE or > CBT_REASON_MAX); journal, mode and bitmaps are untouched.
 * Op CBT_RESYNC_DONE(generation) clears it (DIRTY, reason NONE) when it was last set
 * while the active generation was <= generation, i.e. before the cut that froze
 * `generation`; CBT_EAGAIN when it was set (again) after that cut; 0 and no change when
 * the state is not resync-required; CBT_EINVAL for 0 or a generation no cut has produced
 * yet. Every setting of resync-required counts, the core's own (ALLOC_FAILED) and
 * cbt_tracker_set_state()'s included. *state / *state_reason get the state after the call
 * (also on CBT_EAGAIN). Unknown op: CBT_EINVAL. The caller persists the result.
 */
int cbt_tracker_resync(struct cbt_tracker *t, uint32_t op, uint32_t reason, uint64_t generation,
		       uint32_t *state, uint32_t *state_reason);

/* ---- persistence (metadata file image, include/cbtrep/meta.h) ------------------------ */

/*
 * Reads a metadata file image (len 0: none was there). Decides the state: none ->
 * RESYNC_REQUIRED/NEW_DEVICE; invalid -> METADATA_INVALID; size or granularity differ ->
 * SIZE_CHANGED; DIRTY -> UNCLEAN_SHUTDOWN; RESYNC_REQUIRED keeps its reason; CLEAN ->
 * loads the saved bitmap into the active one and tracks (state DIRTY). Continues sequence
 * numbers at the header's last_seq + 1 (the exact last number after an orderly detach,
 * the reserved ceiling after a crash) and generations from the header when it is valid;
 * numbering then stays within that last_seq until a header with a new ceiling is written
 * (cbt_tracker_meta_written). *found_state and *found_reason get what the file said (for
 * ATTACH's reply). Call before any io.
 */
void cbt_tracker_meta_load(struct cbt_tracker *t, const void *buf, uint64_t len,
			   uint32_t *found_state, uint32_t *found_reason);
/* Size of the image cbt_tracker_meta_build() writes with a bitmap. */
uint64_t cbt_tracker_meta_size(const struct cbt_tracker *t);
/*
 * Builds a metadata header (buf >= CBT_META_AREA_SIZE bytes, zero-padded) with the given
 * state, and, when with_bitmap, the bitmap dump at CBT_META_AREA_SIZE: the union of the
 * active and frozen bitmaps and every range still in the journal (buf must hold
 * cbt_tracker_meta_size() bytes then). Returns the bytes to write.
 * last_seq: the last number handed out for CLEAN (a CLEAN header is only written once no
 * write can complete any more: orderly detach / shutdown) and after
 * cbt_tracker_seq_final(); otherwise the new ceiling, the last number handed out + the
 * reservation, saturating.
 */
uint64_t cbt_tracker_meta_build(struct cbt_tracker *t, uint32_t state, uint32_t reason,
				int with_bitmap, void *buf);
/*
 * The image built by cbt_tracker_meta_build() is on stable storage now: numbering may
 * go up to its last_seq, and a later refresh repeats its state and reason. Call only
 * after the write (and sync) succeeded; a failed write keeps the previous limit.
 */
void cbt_tracker_meta_written(struct cbt_tracker *t, const void *buf);
/*
 * Nonzero when the header on disk needs a new ceiling: less than half the reservation is
 * left above the last number handed out. *state / *reason get what the last header
 * written said, to be written again (never CLEAN: then it returns 0). Process context;
 * the glue calls it at GET, COMMIT, STATUS, TAG and MARK_DIRTY and rewrites the header
 * (header only) with cbt_tracker_meta_build() + cbt_tracker_meta_written(). Should the
 * ceiling be reached anyway (the header could not be rewritten), the tracker stops
 * numbering: BITMAP mode and RESYNC_REQUIRED, both with reason METADATA_INVALID, until a
 * header with a new ceiling is written (a GET then leaves BITMAP with a GAP record).
 */
int cbt_tracker_meta_due(struct cbt_tracker *t, uint32_t *state, uint32_t *reason);
/*
 * Orderly detach / shutdown, once no write can complete any more: the numbering is final,
 * so headers built from now on carry the exact last number and the next attach continues
 * without a jump. Anything numbered after this would go past that header: the tracker
 * stops numbering then (as at a reached ceiling).
 */
void cbt_tracker_seq_final(struct cbt_tracker *t);

#ifdef __cplusplus
}
#endif

#endif /* CBT_TRACKER_H */
