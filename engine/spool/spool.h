// The per-disk replication log (HRL spool): a directory of append-only segment files
// (include/cbtrep/spool.h) between the change source and the network, so the tracker's
// journal drains at disk speed while the link is slow or down. docs/spool.md.
//
// Writer side (one thread): append() buffers batches, sync() makes them durable with one
// fdatasync per dirty segment (group commit) and returns the last durable sequence number;
// only then may the caller COMMIT the source batches. A failed write (ENOSPC, EIO) throws
// and drops everything appended since the last sync(): the file is cut back to the durable
// end, the caller rewinds its source and appends again.
//
// Reader side (may be another thread): next() hands out durable batches in order from the
// oldest unacknowledged one; rewind() starts again there; ack(seq) records the target's
// durable ACK (persisted) and deletes every whole segment it covers.
//
// Open recovers: segments are scanned, the last one fully checked (cbt_batch_check); a torn
// or corrupt tail is cut and logged. Only the last segment can be torn: a segment is
// fdatasync'ed before the next one is created.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <cbtrep/spool.h>

#include "common/error.h"
#include "common/fd.h"
#include "source/source.h"

namespace cbtrep::spool
{

struct SpoolOptions {
    std::string dir;                      // created when missing
    source::DeviceInfo device;            // name, size, granularity, identity of the protected disk
    uint64_t segment_bytes = 64ull << 20; // rotate once a segment reaches this size
    uint32_t limit_pct = 50;              // bound: this share of the protected disk's size...
    uint64_t limit_bytes = 0;             // ...or this many bytes when nonzero
    uint64_t reserve_bytes = 256ull << 20;    // never fill the spool volume past free - reserve
    uint64_t write_buffer_bytes = 1ull << 20; // appends are written in pieces of this size
    // Test hook: replaces ::write for segment data (to inject ENOSPC or a short write).
    std::function<ssize_t(int fd, const void *buf, size_t len)> write_fn;
};

// Status numbers (cbtrep status, the metrics page).
struct SpoolStats {
    uint64_t bytes = 0; // on disk + buffered
    uint64_t segments = 0;
    uint64_t limit_bytes = 0;        // the effective bound (min of the two limits at open)
    uint64_t appended_seq = 0;       // last seq appended (0 = none)
    uint64_t durable_seq = 0;        // last seq made durable by sync()
    uint64_t acked_seq = 0;          // last seq the target acknowledged as durable
    uint64_t oldest_unacked_seq = 0; // 0 when everything durable was acknowledged
    uint64_t oldest_unacked_ns = 0;  // its record's timestamp: now - this is the RPO
    uint64_t batches = 0;            // batches held (unacknowledged)
};

// Reaching the bound: spooling stops, the caller falls back to bitmap tracking and sets
// resync-required with reason CBT_REASON_SPOOL_LIMIT.
class SpoolLimitError : public Error
{
  public:
    explicit SpoolLimitError(const std::string &what) : Error(what, false) {}
    uint32_t reason() const noexcept { return CBT_REASON_SPOOL_LIMIT; }
};

class Spool
{
  public:
    explicit Spool(SpoolOptions opts);
    ~Spool();
    Spool(const Spool &) = delete;
    Spool &operator=(const Spool &) = delete;

    // Appends a batch (not durable until sync()). Returns false when the batch is already in
    // the spool (a source redelivering after a restart); throws Error on a sequence gap or
    // overlap, SpoolLimitError at the bound, Error with errno on a write failure.
    bool append(const source::Batch &batch);
    bool append(std::span<const uint8_t> batch_bytes); // validated with cbt_batch_check
    // Writes what is buffered and fdatasyncs; returns the last durable seq.
    uint64_t sync();

    // The next durable batch after the read position, or nullopt.
    std::optional<source::Batch> next();
    void rewind();
    // The target holds everything up to last_seq durably: persist, delete covered segments.
    void ack(uint64_t last_seq);
    // Drops every batch not acknowledged yet and deletes every segment: the bound was
    // reached and the caller has ALREADY set resync-required (durably, in the tracker), so
    // the whole-device resync covers their ranges (docs/spool.md, "At the limit"). Whatever
    // was appended but not synced is dropped too; the source still has it (it was never
    // committed there) and the next append continues after the last durable seq, which the
    // `acked` file records first (best effort: on a full volume the tracker's state is the
    // record, and SpoolSource discards again at start), so a crash halfway through does not
    // replay the dropped batches. Writer side; the reader starts again at the (empty) front.
    // The first append after a discard may skip sequence numbers (what the source handed out
    // meanwhile went to the target without the spool).
    // Returns the number of unacknowledged batches dropped.
    uint64_t discard();
    // Whether `bytes` more (at most half the bound) fit under both bounds now, the volume's
    // free space read afresh. SpoolSource spools again after a drop only when a segment's
    // worth fits, so a volume that is still full does not make it drop the log (and require
    // a resync) over and over.
    bool has_room(uint64_t bytes);

    SpoolStats stats() const;
    const std::string &dir() const { return opts_.dir; }
    uint64_t segment_bytes() const { return opts_.segment_bytes; }

  private:
    struct Segment {
        uint64_t no = 0;
        std::string path;
        uint64_t size = 0; // bytes written to the file (durable or not)
        uint64_t last_seq = 0;
    };
    struct Entry { // one batch held in the spool
        uint64_t segment_no;
        uint64_t offset;
        uint64_t len;
        uint64_t first_seq;
        uint64_t last_seq;
        uint64_t first_ns;
    };

    void recover();
    void scan_segment(Segment &seg, bool last);
    void open_active(uint64_t first_seq);
    bool append_impl(const cbt_batch &hdr, uint64_t first_ns, uint64_t len,
                     const std::function<void(uint8_t *)> &fill);
    uint64_t active_size() const;
    void flush_buffer();
    void check_limits(uint64_t adding);
    void drop_unsynced();
    void delete_acked_segments();
    std::string segment_path(uint64_t no) const;
    ssize_t do_write(int fd, const void *buf, size_t len);

    SpoolOptions opts_;
    std::string ack_path_;
    uint64_t limit_bytes_ = 0;

    // The `acked` file: ack() (reader thread) and discard() (writer) both write it; taken
    // before mu_.
    std::mutex ack_mu_;
    mutable std::mutex mu_; // index_, segments_, the seq counters; the reader's position
    std::map<uint64_t, Segment> segments_;
    std::deque<Entry> index_; // unacknowledged batches in order
    size_t read_pos_ = 0;     // index_ position of the next batch next() hands out
    uint64_t appended_seq_ = 0;
    uint64_t durable_seq_ = 0;
    uint64_t acked_seq_ = 0;
    uint64_t bytes_ = 0; // sum of segment sizes plus buffered bytes

    // Writer state (writer thread only).
    UniqueFd active_fd_;
    uint64_t active_no_ = 0;
    uint64_t durable_end_ = 0; // durable bytes of the active segment
    std::vector<uint8_t> wbuf_;
    bool dirty_ = false;        // bytes written since the last fdatasync
    uint64_t free_checked_ = 0; // bytes appended since the last statvfs
    uint64_t free_bytes_ = 0;
    bool free_valid_ = false;
    uint64_t next_no_ = 1; // number of the next segment to create
    bool jump_ok_ = false; // discard(): the next append may skip sequence numbers

    // Reader state.
    UniqueFd read_fd_;
    uint64_t read_fd_no_ = 0;
};

} // namespace cbtrep::spool
