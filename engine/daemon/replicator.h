// One protected device: connect to its target, optionally copy the whole device, then
// drain the source by transaction (next_batch → extents → send → durable ACK → commit),
// retrying recoverable failures with backoff and stopping on fatal ones.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>

#include "common/backoff.h"
#include "config/config.h"
#include "daemon/prep_pool.h"
#include "daemon/status.h"
#include "source/source.h"
#include "transport/session.h"

namespace cbtrep::daemon
{

// Process exit codes of cbtrepd (docs/engine.md).
enum ExitCode : int {
    exit_ok = 0,           // stopped by a signal, or drained (exit_when_drained)
    exit_config = 2,       // bad configuration or command line
    exit_fatal_remote = 3, // authentication, identity mismatch, ... : an operator must act
    exit_fatal_local = 4,  // source or device unusable (corrupt journal, unreadable device)
};

class Replicator
{
  public:
    Replicator(const config::Config &cfg, const config::DeviceConfig &dev, StatusBoard &board,
               const std::atomic<bool> &stop);
    // Runs until stopped, drained (exit_when_drained) or a fatal error; returns an ExitCode.
    int run();

  private:
    struct InFlight {
        uint64_t batch_id;
        uint64_t reserved;
        uint64_t decoded;
        uint64_t first_ts_ns;
        bool from_source;
        std::optional<transport::TagOut> tag; // the last tag of a consistent batch
        std::chrono::steady_clock::time_point ended;
    };
    enum class StreamEnd { stopped, drained, resync };

    std::unique_ptr<source::Source> open_source();
    std::unique_ptr<transport::ReplicaSession> connect();
    void initial_sync(transport::ReplicaSession &s);
    bool want_initial_sync(const transport::ReplicaInfo &r);
    void write_sync_marker(const transport::ReplicaInfo &r, const char *what);
    StreamEnd stream(transport::ReplicaSession &s);
    void send(transport::ReplicaSession &s, PrepPool::Job &job);
    void note_applied_before(const source::Batch &b);
    void on_ack(const transport::Ack &a);
    void refresh_status();
    // Automatic resync (auto_resync.cc): due when the tracker says resync-required and the
    // configured window is open; run_resync() cuts, resyncs, says DONE.
    bool resync_due();
    void run_resync();
    bool sleep_interruptible(std::chrono::milliseconds d);
    void set_state(const std::string &state, const std::string &reason = {});

    const config::Config &cfg_;
    const config::DeviceConfig &dev_;
    StatusBoard &board_;
    const std::atomic<bool> &stop_;
    Backoff backoff_;
    std::unique_ptr<source::Source> src_;
    std::unique_ptr<PrepPool> pool_;
    std::deque<InFlight> sent_;
    std::deque<std::shared_ptr<PrepPool::Job>> preparing_;
    uint64_t reserved_ = 0;
    uint64_t done_generation_ = 0; // last bitmap generation resynced (dropped at the next cut)
    uint64_t sync_batch_id_ = 0;
    bool jump_next_ = false;    // next source batch may skip sequence numbers (after a sync)
    bool inconsistent_ = false; // replica holds data newer than its last consistent point
    bool synced_ = false;
    uint32_t tracker_state_ = CBT_STATE_DIRTY; // as of the last refresh_status()
    uint32_t tracker_reason_ = CBT_REASON_NONE;
    // throughput over a sliding few seconds
    std::chrono::steady_clock::time_point tp_start_;
    uint64_t tp_bytes_ = 0;
};

} // namespace cbtrep::daemon
