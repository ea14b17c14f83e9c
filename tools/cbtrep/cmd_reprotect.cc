// `cbtrep reprotect REPLICA --to HOST:PORT/NAME TLS...`: the promoted (failed-over) replica
// becomes the source of the original site. A checksum resync from it to the original site's
// cbtrep-target (the `cbtrep resync` code, checkpointed in the state directory) makes the
// original side equal; then the replica is reverse-protected and cbtrepd on this machine
// keeps the original side following it. State: <state_dir>/<replica>.reverse
// (engine/points/lifecycle.h, docs/points.md).
#include "cmd_reprotect.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <thread>

#include "cmd_resync.h"
#include "common/error.h"
#include "points/lifecycle.h"
#include "target/state_file.h"

namespace cbtrep::cli
{
namespace
{

int usage(int code)
{
    (code ? std::cerr : std::cout)
        << "usage: cbtrep reprotect REPLICA --to HOST:PORT/NAME --ca F --cert F --key F\n"
           "                        [--server-name N] [--max-rate RATE] [--strong] [-v]\n"
           "                        [--config TARGET.json]\n"
           "\n"
           "Run on the machine of REPLICA after `cbtrep failover` promoted it (cbtrep-target\n"
           "stopped). Makes the original site's replica NAME (served by a cbtrep-target there)\n"
           "equal to REPLICA with a checksum resync, commits the failover first if it was not,\n"
           "and records REPLICA as reverse-protected: from then on cbtrepd on this machine\n"
           "replicates REPLICA's device to HOST:PORT/NAME. Interrupted, it resumes when run\n"
           "again (without --to). `cbtrep failback REPLICA` hands the primary role back.\n";
    return code;
}

int reprotect(const ReverseArgs &a)
{
    using points::Reverse;
    ReplicaCtx c = load_replica(a.config, a.replica);
    UniqueFd lk = lock_target(c, "reprotecting");
    const std::string &name = c.spec.name;
    target::StateFile sf(c.state_dir + "/" + name + ".state");
    target::StateRecord s{};
    bool have = sf.load(s);
    std::optional<points::ReverseRecord> rev = points::load_reverse(c.state_dir, name);
    if (rev && !points::active_reverse(c.state_dir, name, have ? s.flags : 0))
        rev.reset(); // a failed-back record whose replica was resynced since: history only
    std::string to = a.to;
    if (rev) {
        switch (rev->state) {
        case Reverse::reprotecting:
            if (!to.empty() && to != rev->to)
                throw Error(cat("replica ", name, " is in state reprotecting to ", rev->to,
                                ", not ", to, ": run `cbtrep reprotect ", name,
                                "` (without --to) to finish it"),
                            false);
            to = rev->to;
            std::cerr << "cbtrep reprotect: replica " << name << " is in state reprotecting to "
                      << to << ": resuming the resync\n";
            break;
        case Reverse::reverse_protected:
            throw Error(cat("replica ", name, " is in state reverse-protected (the source of ",
                            rev->to, "): nothing to reprotect; `cbtrep failback ", name,
                            "` hands the primary role back"),
                        false);
        case Reverse::failback_pending:
            throw Error(cat("replica ", name, " is in state failback-pending (to ", rev->to,
                            "): run `cbtrep failback ", name, "` to finish, or `cbtrep failback ",
                            name, " --cancel`"),
                        false);
        case Reverse::failed_back:
            throw Error(cat("replica ", name, " is in state failed-back: ", rev->to,
                            " is the primary again and this replica waits for its resync"),
                        false);
        }
    } else {
        if (!have || !(s.flags & target::kStateFailedOver))
            throw Error(cat("replica ", name, " is in state ", replica_state(c),
                            ": reprotect needs a failed-over replica (`cbtrep failover "
                            "--planned` or `--unplanned` first)"),
                        false);
        if (to.empty())
            throw Error("reprotect needs --to HOST:PORT/NAME (the original site's replica)", false);
        if (!(s.flags & target::kStateCommitted)) {
            // Once the replica is a source its history describes nothing that can be
            // restored: commit the failover (drop the points) before anything else.
            target::Applier ap(c.spec, c.state_dir);
            ap.open();
            ap.commit_failover();
            std::cerr << "cbtrep reprotect: committed the failover at point "
                      << ap.state().failover_point << " (the other points are dropped)\n";
            test_pause("committed");
        }
        points::save_reverse(c.state_dir, name,
                             {Reverse::reprotecting, to, points::wall_ns(), s.failover_point});
        test_pause("reprotecting");
    }
    int rc = run_remote_resync(false, c.spec.path, to, a.pass,
                               c.state_dir + "/" + name + ".reprotect.ckpt");
    if (rc == 3)
        throw Error(cat("the resync to ", to, " was interrupted; replica ", name,
                        " stays in state reprotecting: run `cbtrep reprotect ", name,
                        "` again to resume it"),
                    false);
    if (rc != 0)
        throw Error(cat("the resync to ", to, " failed (above); replica ", name,
                        " stays in state reprotecting: run `cbtrep reprotect ", name,
                        "` again once the cause is fixed"),
                    false);
    points::save_reverse(c.state_dir, name,
                         {Reverse::reverse_protected, to, points::wall_ns(),
                          rev ? rev->failover_point : s.failover_point});
    std::cout << "replica " << name << " is reverse-protected: " << to
              << " equals it; replicate its device there with cbtrepd (target " << to
              << ") from now on\n";
    return 0;
}

} // namespace

ReverseArgs parse_reverse_args(int argc, char **argv, bool allow_cancel)
{
    ReverseArgs a;
    for (int i = 1; i < argc; i++) {
        std::string s = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc)
                throw Error(cat(s, " needs a value"), false);
            return argv[++i];
        };
        if (s == "--help" || s == "-h")
            a.help = true;
        else if (s == "--config")
            a.config = value();
        else if (s == "--to")
            a.to = value();
        else if (s == "--cancel" && allow_cancel)
            a.cancel = true;
        else if (s == "--ca" || s == "--cert" || s == "--key" || s == "--server-name" ||
                 s == "--max-rate" || s == "--hash") {
            a.pass.push_back(s);
            a.pass.push_back(value());
        } else if (s == "--strong" || s == "-v" || s == "--verbose" || s == "--quiet")
            a.pass.push_back(s);
        else if (!s.empty() && s[0] == '-')
            throw Error(cat("unknown option ", s), false);
        else if (a.replica.empty())
            a.replica = s;
        else
            throw Error(cat("unexpected argument ", s), false);
    }
    return a;
}

int run_remote_resync(bool verify, const std::string &source, const std::string &to,
                      const std::vector<std::string> &pass, const std::string &checkpoint)
{
    std::vector<std::string> args = {verify ? "verify" : "resync", source, "--target", to};
    args.insert(args.end(), pass.begin(), pass.end());
    if (!checkpoint.empty()) {
        args.push_back("--checkpoint");
        args.push_back(checkpoint);
    }
    std::vector<char *> argv;
    for (auto &s : args)
        argv.push_back(s.data());
    argv.push_back(nullptr);
    return run_resync_command(static_cast<int>(args.size()), argv.data(), verify);
}

void test_pause(const char *step)
{
    const char *at = std::getenv("CBTREP_TEST_PAUSE_AT");
    if (!at || std::strcmp(at, step) != 0)
        return;
    std::cerr << "cbtrep: test pause after " << step << std::endl;
    std::this_thread::sleep_for(std::chrono::seconds(60));
}

int cmd_reprotect(int argc, char **argv)
{
    try {
        ReverseArgs a = parse_reverse_args(argc, argv, false);
        if (a.help)
            return usage(0);
        if (a.replica.empty())
            return usage(2);
        return reprotect(a);
    } catch (const std::exception &e) {
        std::cerr << "cbtrep reprotect: " << e.what() << "\n";
        return 1;
    }
}

} // namespace cbtrep::cli
