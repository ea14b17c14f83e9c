// `cbtrep points` and `cbtrep failover` (docs/points.md) work on the target's state
// directory, on the target machine: the replica and its state directory come from the
// target's configuration file (--config, default /etc/cbtrep/target.json).
#pragma once

#include <cstdint>
#include <string>

#include "common/fd.h"
#include "target/applier.h"

namespace cbtrep::cli
{

int cmd_points(int argc, char **argv);
int cmd_failover(int argc, char **argv);

struct ReplicaCtx {
    std::string config_path;
    std::string state_dir;
    target::ReplicaSpec spec;
};
// Loads the configuration and picks the replica; throws Error naming what is wrong.
ReplicaCtx load_replica(const std::string &config_path, const std::string &name);
// Takes cbtrep-target's state-directory lock: commands that change the replica never run
// beside a target applying batches. Throws, saying so, when the target holds it.
UniqueFd lock_target(const ReplicaCtx &c, const char *what);
// The replica's lifecycle state (docs/points.md): protected, test-failover, rolling-back,
// rolled-back, failed-over, committed.
std::string replica_state(const ReplicaCtx &c);
// Parses a non-negative decimal number; throws Error naming the option.
uint64_t parse_u64(const std::string &opt, const std::string &value);

} // namespace cbtrep::cli
