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
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>

#include "spool.h"

namespace cbtrep::spool
{

// What `cbtrep status` shows about the spool (cbtrepd copies it into the device status).
struct SpoolSourceStatus {
    SpoolStats stats;
    std::string state;  // spooling | dropped (at its limit, resync pending) | stopped (error)
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
    // rewound: its uncommitted batches come again).
    size_t pump(uint64_t max_bytes = 64ull << 20);
    // A thread calling pump() whenever the inner source has data; its first error stops it
    // and is rethrown by the next next_batch()/wait().
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
    std::string describe() const override;

    SpoolSourceStatus spool_status() const;

  private:
    struct Out {
        uint64_t batch_id;
        uint64_t last_seq;
    };
    void rethrow_pump_error();

    std::unique_ptr<source::Source> owned_inner_;
    std::unique_ptr<Spool> owned_spool_;
    source::Source &inner_;
    Spool &spool_;
    std::deque<Out> outstanding_;
    std::mutex pump_mu_; // one pump() at a time; guards the inner source
    mutable std::mutex err_mu_;
    std::exception_ptr pump_error_;
    std::atomic<bool> stop_{false};
    std::thread pump_thread_;
};

} // namespace cbtrep::spool
