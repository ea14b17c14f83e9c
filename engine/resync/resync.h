// The resync and verify entry point: compares a source device with its replica by fixed-
// offset hashes (regions, then the blocks of differing regions, then the 4 KiB leaves of
// differing blocks) with a window of regions in flight, and sends only the differing leaves
// (lz4, zero ranges as ZERO extents) — or, for verify, only reports them.
//
//   resync::LocalPeer peer("/dev/sdb");                       // or a RemotePeer
//   resync::Options o; o.checkpoint = "/var/lib/cbtrep/sda.resync";
//   resync::Result r = resync::run("/dev/sda", peer, o);      // r.complete, r.stats
//
// cbtrepd calls exactly this for its automatic resyncs (docs/resync.md).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "codec/codec.h"
#include "reader/reader.h"
#include "resync/geometry.h"
#include "resync/peer.h"

namespace cbtrep::resync
{

struct Stats {
    uint64_t device_bytes = 0;
    uint64_t start_bytes = 0;     // where this run started (a checkpoint's position, or 0)
    uint64_t done_bytes = 0;      // position: below it source == replica is established
    uint64_t compared_bytes = 0;  // bytes of regions compared by this run
    uint64_t differing_bytes = 0; // bytes of leaves found different
    uint64_t sent_bytes = 0;      // decoded bytes written to the replica
    uint64_t payload_bytes = 0;   // encoded bytes of those (lz4/raw payloads)
    uint64_t zero_bytes = 0;      // of sent_bytes, sent as ZERO extents (no payload)
    uint64_t regions = 0;         // regions compared by this run
    uint64_t regions_differing = 0;
    uint64_t leaves_differing = 0;
    uint64_t rechecked_equal = 0; // verify: leaves that differed once but matched on re-read
    uint64_t wire_bytes = 0;      // network bytes both ways (remote peer), 0 locally
    double seconds = 0;
};

struct Options {
    Geometry geometry;
    bool verify = false;   // read-only: report the differing ranges, write nothing
    bool recheck = true;   // verify: re-read and re-hash both sides before reporting a leaf
    uint32_t window = 8;   // regions in flight
    uint64_t max_rate = 0; // bytes/s read from the source plus sent, 0 = unlimited
    // Resync only: where the position is saved ("" = nowhere; a stopped run restarts at 0).
    std::string checkpoint;
    std::chrono::milliseconds checkpoint_interval{5000};
    uint32_t max_extent_bytes = 256u << 10; // differing leaves are sent in runs of at most this
    reader::Options reader;                 // how the source is read
    Direct direct = Direct::automatic;      // O_DIRECT or the page cache (block_hasher.h)
    codec::Options codec;                   // how data is encoded (lz4 acceleration, ...)
    // Polled between regions: true stops the run cleanly (in-flight regions finish, the
    // replica is flushed and the checkpoint saved). SIGINT in the CLI; tests.
    std::function<bool()> should_stop;
    // Called at most every progress_interval and once at the end.
    std::function<void(const Stats &)> on_progress;
    std::chrono::milliseconds progress_interval{250};
    // Log lines (which reader, resumed from where, ...). Default: nowhere.
    std::function<void(const std::string &)> on_note;
};

struct Result {
    Stats stats;
    bool complete = false;        // the whole device was compared (false: stopped)
    std::vector<Range> differing; // verify: the differing ranges, merged and ascending
};

// Throws cbtrep::Error (with context) on a size mismatch between source and replica, on
// I/O errors and on peer failures; the checkpoint then holds the last durable position.
Result run(const std::string &source, ReplicaPeer &peer, const Options &opts);

// Appends [offset, offset+length) to ranges, merging with the last range when adjacent.
void append_merged(std::vector<Range> &ranges, uint64_t offset, uint64_t length);

} // namespace cbtrep::resync
