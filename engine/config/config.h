// cbtrepd configuration: one JSON file per daemon (nlohmann/json), validated up front.
// Every problem is reported as "<file>: <key path>: <what is wrong>", e.g.
//   /etc/cbtrep/cbtrepd.json: devices[0].target.port: must be an integer 1..65535
// docs/engine.md lists every key with its default.
#pragma once

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace cbtrep::config
{

// A configuration error; what() already names the file and the key.
class ConfigError : public std::runtime_error
{
  public:
    using std::runtime_error::runtime_error;
};

struct SourceConfig {
    std::string type;       // "file" | "kernel"
    std::string path;       // file: journal stream file
    std::string cursor;     // file: cursor state file ("" = path + ".cursor")
    std::string bitmap_dir; // file: bitmap dumps ("" = path + ".bitmaps")
    bool follow = false;    // file: wait for the stream to grow instead of stopping at its end
    std::string ctl = "/dev/cbtrep-ctl"; // kernel: control device
};

struct TargetConfig {
    std::string host;
    uint16_t port = 0;
    std::string replica;     // replica name on the target
    std::string server_name; // "" = host
};

enum class InitialSync { auto_, always, never };

// Optional per-disk replication log (engine/spool, docs/spool.md); off when dir is "".
struct SpoolConfig {
    std::string dir;
    uint32_t limit_pct = 50;               // of the protected disk's size
    uint64_t limit_bytes = 0;              // nonzero: this bound instead
    uint64_t reserve_bytes = 256ull << 20; // keep free on the spool volume
    uint64_t segment_bytes = 64ull << 20;
};

// Automatic checksum resync when the tracker says resync-required (docs/resync.md).
struct ResyncConfig {
    bool windowed = false;         // false: start at once; true: only inside the window
    uint32_t window_start_min = 0; // minutes after local midnight; start > end wraps midnight
    uint32_t window_end_min = 0;
    uint64_t max_rate = 0; // bytes/s read from the device plus sent, 0 = unlimited
};

// Timer points (docs/points.md, "Timer points"): cbtrepd cuts a consistency point on the
// kernel tracker every crash_interval_s, and an app-consistent one (the filesystems frozen
// around the tag) every app_interval_s; 0 disables either. A file source has none.
struct PointsConfig {
    uint32_t crash_interval_s = 300;
    uint32_t app_interval_s = 3600;
    // Mountpoints frozen for an app point; empty = the filesystem mounted from "device".
    std::vector<std::string> freeze;
    uint32_t freeze_limit_ms = 10000; // the longest a filesystem stays frozen
};

struct DeviceConfig {
    std::string name;   // device name (tracker name; status file name)
    std::string device; // block device or image read for META/DIRTY/GAP and initial sync
    SourceConfig source;
    TargetConfig target;
    SpoolConfig spool;
    ResyncConfig resync;
    PointsConfig points;
    InitialSync initial_sync = InitialSync::auto_;
    bool exit_when_drained = false; // stop once the source has nothing left (imports, tests)
};

struct RetryConfig {
    std::vector<std::chrono::milliseconds> steps; // default 1, 2, 4, 8, 10 s
    std::chrono::milliseconds steady{std::chrono::minutes(30)};
    double jitter = 0.1;
};

struct Config {
    std::string path; // where it was loaded from
    std::string status_dir = "/run/cbtrep";
    std::string state_dir = "/var/lib/cbtrep"; // durable engine state (initial-sync markers)
    std::string metrics_listen = "127.0.0.1";
    uint16_t metrics_port = 0; // 0 = no metrics endpoint
    std::string log_level = "info";
    std::string tls_ca, tls_cert, tls_key;
    uint64_t max_inflight_bytes = 256ull << 20;
    uint32_t chunk_bytes = 256 * 1024;
    bool compress = true;
    int lz4_acceleration = 1;
    unsigned threads = 1;                    // batch preparation (read + compress) threads
    uint32_t window = 8;                     // batches in flight on the wire
    uint64_t sync_batch_bytes = 64ull << 20; // device bytes per initial-sync / resync batch
    std::chrono::milliseconds io_timeout{60000};
    std::string reader_backend = "auto";
    unsigned queue_depth = 32;
    bool direct_io = true;
    RetryConfig retry;
    std::vector<DeviceConfig> devices;
};

// Parses and validates; throws ConfigError. Relative paths (status_dir, state_dir, tls.*,
// devices[].device, devices[].source.path/cursor/bitmap_dir) are taken relative to base_dir when it
// is not empty; load() uses the configuration file's directory, like cbtrep-target does.
Config parse(const std::string &json_text, const std::string &origin,
             const std::string &base_dir = {});
Config load(const std::string &path);

} // namespace cbtrep::config
