// `cbtrep reprotect` and `cbtrep failback` (docs/points.md, "Reverse replication and
// failback"): the promoted replica becomes the source of the original site and is later
// handed back. Both run on the machine of the promoted replica, against its cbtrep-target
// configuration and state directory, and reach the original site's cbtrep-target with the
// same resync / verify sessions as `cbtrep resync` (cmd_resync.cc).
#pragma once

#include <string>
#include <vector>

#include "cmd_points.h"
#include "target/state_file.h"

namespace cbtrep::cli
{

int cmd_reprotect(int argc, char **argv);
int cmd_failback(int argc, char **argv);

// What both commands take: the replica, the target configuration, the original site's
// replica (--to) and the options handed on to `cbtrep resync` / `cbtrep verify` unchanged.
struct ReverseArgs {
    std::string replica, config = "/etc/cbtrep/target.json", to;
    std::vector<std::string> pass; // --ca F --cert F --key F --server-name N --max-rate R ...
    bool cancel = false;           // failback --cancel
    bool help = false;
};
// allow_cancel: accept --cancel (failback). Throws Error naming a bad argument.
ReverseArgs parse_reverse_args(int argc, char **argv, bool allow_cancel);

// Runs `cbtrep resync` (verify == false) or `cbtrep verify` of the local SOURCE against the
// replica TO with the passed options (and --checkpoint CHECKPOINT unless empty): their exit
// status (0 done / equal, 1 differs, 2 error, 3 interrupted).
int run_remote_resync(bool verify, const std::string &source, const std::string &to,
                      const std::vector<std::string> &pass, const std::string &checkpoint);

// Demotes a promoted replica in one atomic state-file replacement (cmd_failback.cc): not
// failed over or committed any more, kStateRolledBack (the target takes no batch before a
// resync from the new primary), applied_seq 0; WHY becomes the tag name the target's
// refusal quotes. The caller holds the target lock.
void demote(const target::StateFile &sf, const target::StateRecord &s, const char *why);

// For the kill -9 tests: when $CBTREP_TEST_PAUSE_AT names STEP, says so on stderr and
// sleeps (a minute) right after that step was persisted.
void test_pause(const char *step);

} // namespace cbtrep::cli
