// Where the engine gets changes from: one small interface, two implementations.
//
//   FileSource    a journal stream file (cbt_stream_hdr + batches) plus bitmap dumps; its
//                 "commit" persists a cursor so a restarted daemon resumes after the last
//                 committed batch (tests, benchmarks, offline import).
//   KernelSource  the tracker's control device (GET/COMMIT/WAIT/STATUS/BITMAP_*).
//
// Contract (the tracker's drain-by-transaction, see include/cbtrep/ioctl.h):
//   next_batch() hands out the next batch not yet handed out, validated;
//   commit(id) must name the oldest handed-out batch (commits are in order);
//   rewind() forgets handed-out, uncommitted batches so next_batch() hands them out again
//   (after a lost connection: at-least-once delivery).
//
// Resync-required (CBT_IOC_RESYNC): require_resync(reason) puts the device in that state
// (the engine had to drop changes, e.g. CBT_REASON_SPOOL_LIMIT); after a whole-device
// checksum resync that started after bitmap_cut() returned G, resync_done(G) clears it,
// unless something required a resync again after that cut (then cleared is false and the
// state stays resync-required: resync again).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <cbtrep/record.h>

namespace cbtrep::source
{

struct DeviceInfo {
    std::string name;
    uint64_t device_bytes = 0;
    uint32_t granularity = 0;
    std::array<uint8_t, 16> device_id{};
};

// One record of a batch; data points into the batch's buffer.
struct RecordRef {
    cbt_record hdr{};
    std::span<const uint8_t> data;

    uint64_t offset_bytes() const { return hdr.sector << CBT_SECTOR_SHIFT; }
    uint64_t length_bytes() const { return uint64_t(hdr.nr_sectors) << CBT_SECTOR_SHIFT; }
};

// A validated batch: header + records, owning its bytes.
class Batch
{
  public:
    // Validates bytes (cbt_batch_check against device_bytes) and indexes the records.
    // Throws std::runtime_error with `where` and the format error on failure.
    Batch(std::vector<uint8_t> bytes, uint64_t device_bytes, const std::string &where);

    const cbt_batch &header() const { return hdr_; }
    uint64_t id() const { return hdr_.batch_id; }
    uint64_t size_bytes() const { return bytes_.size(); }
    const std::vector<RecordRef> &records() const { return records_; }

  private:
    std::vector<uint8_t> bytes_;
    cbt_batch hdr_{};
    std::vector<RecordRef> records_;
};

// Tracker state as the status page shows it.
struct Status {
    uint32_t mode = CBT_MODE_DATA;
    uint32_t mode_reason = CBT_REASON_NONE;
    uint32_t state = CBT_STATE_DIRTY;
    uint32_t state_reason = CBT_REASON_NONE;
    uint64_t records_pending = 0; // journalled, not committed
    uint64_t backlog_bytes = 0;   // bytes not committed (file: rest of the file; kernel: mem_used)
    uint64_t next_seq = 0;
    uint64_t committed_seq = 0;
    uint64_t dirty_bits = 0;
};

// The tracker's answer to require_resync() / resync_done(): the state after the call.
struct ResyncReply {
    bool cleared = false; // resync_done(): resync-required was cleared (or was not set)
    uint32_t state = CBT_STATE_DIRTY;
    uint32_t state_reason = CBT_REASON_NONE;
};

// A frozen bitmap generation.
struct Bitmap {
    uint64_t generation = 0;
    uint64_t device_bytes = 0;
    uint32_t granularity = 0;
    uint64_t nr_bits = 0;
    std::vector<uint8_t> bits;

    bool test(uint64_t i) const { return (bits[i / 8] >> (i % 8)) & 1; }
    uint64_t count() const;
};

class Source
{
  public:
    virtual ~Source() = default;

    virtual const DeviceInfo &info() const = 0;
    // The next batch not yet handed out, or nullopt when none is ready.
    virtual std::optional<Batch> next_batch() = 0;
    // The oldest handed-out batch is durable on the replica.
    virtual void commit(uint64_t batch_id) = 0;
    // Uncommitted batches are handed out again from the oldest.
    virtual void rewind() = 0;
    // Blocks up to timeout for new data; true when next_batch() would return one.
    virtual bool wait(std::chrono::milliseconds timeout) = 0;
    virtual Status status() = 0;
    // How many batches may be handed out before the oldest is committed.
    virtual size_t max_outstanding() const = 0;
    // Freezes the changes since the last cut (GAP handling); done_generation is dropped.
    virtual uint64_t bitmap_cut(uint64_t done_generation) = 0;
    virtual Bitmap bitmap_read(uint64_t generation) = 0;
    // Sets resync-required with reason (enum cbt_reason, not NONE). The default throws
    // std::logic_error: a source that wraps another forwards these to it.
    virtual ResyncReply require_resync(uint32_t reason);
    // A whole-device checksum resync that started after the bitmap_cut() which returned
    // generation has finished. Throws like require_resync() when unsupported.
    virtual ResyncReply resync_done(uint64_t generation);
    // Human description for logs ("file /x/y.cbts", "kernel disk0").
    virtual std::string describe() const = 0;
};

} // namespace cbtrep::source
