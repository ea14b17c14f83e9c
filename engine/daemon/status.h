// What cbtrepd says about each device: a status JSON file per device (read by
// `cbtrep status`) and Prometheus text on a localhost port. Replicator threads update a
// DeviceStatus under the board's lock; a writer thread publishes it once a second.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace cbtrep::daemon
{

// The per-disk replication log (engine/spool, docs/spool.md), when the device has one.
struct SpoolStatus {
    bool enabled = false;
    std::string state;  // spooling | dropped (at its limit; waiting for the resync) | stopped
    std::string reason; // why it is not spooling
    uint64_t bytes = 0;
    uint64_t limit_bytes = 0; // the effective bound: min(limit, volume free - reserve)
    uint64_t segments = 0;
    uint64_t batches = 0; // held, not yet acknowledged by the target
    // Oldest point not yet durable on the replica: its age is the RPO.
    uint64_t oldest_unsent_seq = 0;
    int64_t oldest_unsent_unix_ns = 0;
    uint64_t drops = 0; // times the log was dropped at its limit since start
};

// The automatic checksum resync (docs/resync.md, "In cbtrepd").
struct ResyncStatus {
    std::string phase;       // "" never | waiting (for its window) | comparing | done | interrupted
    std::string reason;      // why the tracker required it
    uint64_t generation = 0; // the bitmap cut it follows
    uint64_t device_bytes = 0;
    uint64_t done_bytes = 0; // position: below it source == replica
    uint64_t compared_bytes = 0;
    uint64_t differing_bytes = 0;
    uint64_t sent_bytes = 0;
    uint64_t wire_bytes = 0;
    double rate_bps = 0;     // bytes compared per second
    double eta_seconds = -1; // -1 = unknown
    int64_t started_unix_ns = 0;
    int64_t finished_unix_ns = 0;
    int64_t window_opens_unix = 0; // waiting: when the window opens
    uint64_t completed = 0;        // resyncs finished since start
    std::string error;             // the last attempt's failure
};

// cbtrepd's timer points (engine/daemon/point_timer.h, docs/points.md "Timer points").
struct PointTimerStatus {
    bool enabled = false; // a timer runs for this device
    std::string note;     // why there is none (file source), or "" when enabled
    uint32_t crash_interval_s = 0, app_interval_s = 0;
    std::string last_kind; // crash | app, "" = none taken yet
    std::string last_point_name;
    uint64_t last_tag_id = 0;
    int64_t last_unix_ns = 0;
    int64_t next_crash_unix_ns = 0; // 0 = disabled
    int64_t next_app_unix_ns = 0;
    uint64_t taken = 0;
    uint64_t skipped = 0; // ticks a due point was not taken (resync, BITMAP mode, error)
    std::string skipping; // why the due point is being skipped now, "" = not skipping
};

struct DeviceStatus {
    std::string name;
    std::string state = "starting"; // initial-sync | replicating | resync-required | retrying |
                                    // error | stopped | drained
    std::string reason;             // why (resync-required, retrying, error)
    int64_t next_attempt_unix = 0;  // retrying: when the next connection attempt is due
    std::string source;             // "file /x" | "kernel disk0"
    std::string target;             // host:port/replica
    std::string reader;             // io_uring | libaio | pread
    std::string tracker_mode = "unknown";
    std::string tracker_mode_reason;
    std::string tracker_state = "unknown";
    std::string tracker_state_reason;
    double lag_seconds = 0; // RPO: age of the oldest change not yet durable on the replica
    uint64_t lag_bytes = 0; // bytes of journal not yet committed
    uint64_t backlog_records = 0;
    uint64_t applied_seq = 0;
    uint64_t committed_batches = 0;
    uint64_t bytes_sent = 0;       // payload bytes on the wire
    uint64_t bytes_replicated = 0; // decoded bytes acknowledged
    double throughput_bps = 0;     // decoded bytes acknowledged per second (recent)
    uint64_t reconnects = 0;
    uint64_t initial_sync_done_bytes = 0;
    uint64_t initial_sync_total_bytes = 0;
    // last consistency point reached on the replica
    std::string last_tag_name;
    uint64_t last_tag_id = 0;
    uint64_t last_tag_seq = 0;
    int64_t last_tag_unix_ns = 0;
    SpoolStatus spool;
    ResyncStatus resync;
    PointTimerStatus point_timer;
    // per-stage seconds since start
    double read_s = 0, compress_s = 0, send_s = 0, apply_s = 0;
    int64_t updated_unix_ns = 0;
};

nlohmann::json to_json(const DeviceStatus &s);
DeviceStatus from_json(const nlohmann::json &j);

class StatusBoard
{
  public:
    explicit StatusBoard(std::string dir) : dir_(std::move(dir)) {}
    // Runs f on the named device's status under the lock.
    template <typename F> void update(const std::string &name, F &&f)
    {
        std::lock_guard lock(mu_);
        DeviceStatus &s = devices_[name];
        s.name = name;
        f(s);
    }
    std::map<std::string, DeviceStatus> snapshot() const
    {
        std::lock_guard lock(mu_);
        return devices_;
    }
    // Writes <dir>/<name>.json for every device (temp file + rename).
    void publish() const;
    std::string prometheus() const;
    const std::string &dir() const { return dir_; }

  private:
    mutable std::mutex mu_;
    std::map<std::string, DeviceStatus> devices_;
    std::string dir_;
};

} // namespace cbtrep::daemon
