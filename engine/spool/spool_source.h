// The spool as a change source, so cbtrepd's existing drain loop ships from the spool with
// no change of its own (issue 9):
//
//   pump():    inner source -> Spool::append -> one Spool::sync -> inner.commit(each batch)
//              (the tracker's memory is freed as soon as its batches are durable locally)
//   SpoolSource::next_batch / commit / rewind: read the spool in order; commit(id) is the
//              target's durable ACK: Spool::ack() deletes the segments it covers.
//
// pump() runs inside next_batch()/wait() by default; start_pump_thread() keeps draining the
// inner source while the sender is stalled (target unreachable), which is what keeps the
// tracker in DATA mode through an outage.
//
// At the bound (SpoolLimitError) or when the spool volume is full (ENOSPC, EDQUOT) spooling
// does not stop replication (docs/spool.md, "At the limit"):
//   spooling --limit--> dropped: inner.require_resync(CBT_REASON_SPOOL_LIMIT) first (durable
//       in the tracker), then Spool::discard(). Nothing more is pulled from the tracker (its
//       journal holds the new writes and degrades to the bitmap at its own cap) and nothing is
//       handed out, so no batch can reach the replica between the drop and the resync.
//   dropped --resync_done() cleared--> direct: batches pass straight from the inner source,
//       as without a spool, so replication goes on even while the volume is still full.
//   direct --nothing outstanding and a segment's worth of room--> spooling again.
// At start, a tracker that is resync-required for CBT_REASON_SPOOL_LIMIT means a drop was
// under way or done and its resync has not finished: the spool is discarded (again) and the
// source starts in `dropped`.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "spool.h"

namespace cbtrep::spool
{

// What `cbtrep status` shows about the spool (cbtrepd copies it into the device status).
struct SpoolSourceStatus {
    SpoolStats stats;
    std::string state;  // spooling | dropped (at its limit, resync pending) | direct (no room
                        // yet after the resync) | stopped (error)
    std::string reason; // why not spooling
    uint64_t drops = 0; // times the log was dropped at its limit
};

class SpoolSource final : public source::Source
{
  public:
    // inner and spool must outlive this object.
    SpoolSource(source::Source &inner, Spool &spool);
    // Owns both (how cbtrepd uses it): opens the spool for inner's device, starts the pump.
    SpoolSource(std::unique_ptr<source::Source> inner, SpoolOptions opts);
    ~SpoolSource() override;
    SpoolSource(const SpoolSource &) = delete;
    SpoolSource &operator=(const SpoolSource &) = delete;

    // Moves what the inner source has ready (up to max_bytes) into the spool durably and
    // commits it there. Returns the batches moved. Throws SpoolLimitError at the bound (what
    // fitted is kept and committed) and Error on a write failure (the inner source is
    // rewound: its uncommitted batches come again). Does nothing unless spooling.
    size_t pump(uint64_t max_bytes = 64ull << 20);
    // pump(), and at the bound or on a full volume the fallback above instead of an error.
    size_t pump_or_fall_back(uint64_t max_bytes = 64ull << 20);
    // A thread calling pump_or_fall_back() whenever the inner source has data; any other
    // error stops it and is rethrown by the next next_batch()/wait().
    void start_pump_thread();

    const source::DeviceInfo &info() const override { return inner_.info(); }
    std::optional<source::Batch> next_batch() override;
    void commit(uint64_t batch_id) override;
    void rewind() override;
    bool wait(std::chrono::milliseconds timeout) override;
    source::Status status() override;
    size_t max_outstanding() const override { return 64; }
    uint64_t bitmap_cut(uint64_t done_generation) override
    {
        std::lock_guard lk(pump_mu_);
        return inner_.bitmap_cut(done_generation);
    }
    source::Bitmap bitmap_read(uint64_t generation) override
    {
        std::lock_guard lk(pump_mu_);
        return inner_.bitmap_read(generation);
    }
    source::ResyncReply require_resync(uint32_t reason) override;
    // Forwarded; once the tracker clears resync-required after a drop, batches flow again.
    source::ResyncReply resync_done(uint64_t generation) override;
    std::string describe() const override;

    SpoolSourceStatus spool_status() const;

  private:
    enum class Mode { spooling, dropped, direct };
    struct Out {
        uint64_t batch_id;
        uint64_t last_seq;
    };
    void rethrow_pump_error();
    void resume_after_restart();
    void fall_back(const std::string &why);
    Mode mode() const;

    std::unique_ptr<source::Source> owned_inner_;
    std::unique_ptr<Spool> owned_spool_;
    source::Source &inner_;
    Spool &spool_;
    std::deque<Out> outstanding_; // handed out from the spool, not acknowledged
    size_t direct_out_ = 0;       // handed out straight from the inner source (direct)
    std::mutex read_mu_;          // next_batch() against a drop: nothing read from a dropped log
    std::mutex pump_mu_;          // one pump() at a time; guards the inner source
    mutable std::mutex err_mu_;   // pump_error_, mode_, reason_, drops_
    std::exception_ptr pump_error_;
    Mode mode_ = Mode::spooling;
    std::string reason_;
    uint64_t drops_ = 0;
    std::atomic<bool> stop_{false};
    std::thread pump_thread_;
};

// True for the failures that mean "no room for the log": the bound, ENOSPC, EDQUOT.
bool is_no_room(const std::exception &e);

} // namespace cbtrep::spool
