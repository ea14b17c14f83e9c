// The reverse half of a replica's lifecycle (docs/points.md, "Reverse replication and
// failback"): once the replica is promoted it becomes the source of the original site, and
// <state_dir>/<replica>.reverse records where that stands. One small key=value text file,
// replaced atomically (temp, fsync, rename, fsync dir) and removed with an unlink and a
// directory fsync, so a kill -9 leaves either the old or the new state, never a mix.
//
//   state=reprotecting|reverse-protected|failback-pending|failed-back
//   to=HOST:PORT/NAME        the original site's cbtrep-target replica being protected
//   since_unix_ns=N          when this state was entered
//   failover_point=N         the point the replica was promoted at (for the record)
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace cbtrep::points
{

enum class Reverse {
    reprotecting,      // checksum resync from the promoted replica to the original site running
    reverse_protected, // resync done: the promoted replica is protected to the original site
    failback_pending,  // failback started: checking the original site holds everything
    failed_back,       // handed back: this replica waits for a resync from the original site
};

const char *reverse_name(Reverse r);

struct ReverseRecord {
    Reverse state = Reverse::reprotecting;
    std::string to; // HOST:PORT/NAME
    uint64_t since_ns = 0;
    uint64_t failover_point = 0;
};

std::string reverse_path(const std::string &state_dir, const std::string &replica);
// nullopt when there is none; throws StoreError when the file is unreadable or malformed.
std::optional<ReverseRecord> load_reverse(const std::string &state_dir, const std::string &replica);
void save_reverse(const std::string &state_dir, const std::string &replica, const ReverseRecord &r);
void remove_reverse(const std::string &state_dir, const std::string &replica);

// The reverse state that governs the replica, given its state file's flags (kState*):
// nullopt when there is none, or when the record is a failed-back whose replica has been
// resynced from the original site since (the target clears kStateRolledBack when that
// resync starts): the replica is protected again and the record is only history.
std::optional<Reverse> active_reverse(const std::string &state_dir, const std::string &replica,
                                      uint32_t state_flags);

} // namespace cbtrep::points
