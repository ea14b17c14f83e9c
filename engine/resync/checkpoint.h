// The resync checkpoint: how far source == replica is known (every region below done_bytes
// compared and its differences durably written), for which source, replica and geometry.
// A resync that stops — operator, crash, network — starts again from done_bytes when the
// next run finds a checkpoint that matches; any mismatch (other replica, other size, other
// hash) is ignored with a log line and the resync starts from 0, which is always safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "resync/geometry.h"

namespace cbtrep::resync
{

struct Checkpoint {
    std::string source; // source path as given
    uint64_t source_bytes = 0;
    std::string replica; // PeerInfo::identity
    uint64_t replica_bytes = 0;
    Geometry geometry;
    uint64_t done_bytes = 0; // region-aligned (or the device size when finished)
};

// Written atomically (temporary file, fsync, rename, fsync of the directory), as JSON.
void save_checkpoint(const std::string &path, const Checkpoint &cp);
// nullopt when there is no file; throws Error naming the file when it is unreadable or
// malformed (an operator should look rather than silently lose the position).
std::optional<Checkpoint> load_checkpoint(const std::string &path);
// The reason a checkpoint does not apply to this run, empty when it does.
std::string checkpoint_mismatch(const Checkpoint &saved, const Checkpoint &now);
void remove_checkpoint(const std::string &path);

} // namespace cbtrep::resync
