// `cbtrep failback REPLICA`: hands the primary role of a reverse-protected replica back to
// the original site (a planned failover home). With the applications stopped and the
// reverse replication drained to a final tag, it checks by checksums (the `cbtrep verify`
// code) that the original site's replica equals this one — nothing is lost — and then
// demotes this replica: it is no longer failed over, and its target refuses batches until a
// resync from the original site (the flag kStateRolledBack, which the target already
// enforces). The original site is then promoted there with `cbtrep failover --planned` and
// protects itself to this replica again, starting with a checksum resync. State:
// <state_dir>/<replica>.reverse (engine/points/lifecycle.h, docs/points.md).
#include <cstring>
#include <iostream>

#include "cmd_reprotect.h"
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
        << "usage: cbtrep failback REPLICA --ca F --cert F --key F [--server-name N]\n"
           "                       [--strong] [-v] [--config TARGET.json]\n"
           "       cbtrep failback REPLICA --cancel [--config TARGET.json]\n"
           "\n"
           "Run on the machine of a reverse-protected REPLICA (cbtrep-target stopped) once\n"
           "its applications are stopped and cbtrepd has replicated a final tag to the\n"
           "original site and stopped. Verifies that the original site's replica (recorded\n"
           "by `cbtrep reprotect`) equals REPLICA, then demotes REPLICA: it waits for a\n"
           "resync from the original site, which is promoted there with `cbtrep failover\n"
           "--planned`. Refused, with nothing changed on REPLICA, while the two differ.\n"
           "--cancel returns a failback-pending replica to reverse-protected.\n";
    return code;
}

int failback(const ReverseArgs &a)
{
    using points::Reverse;
    ReplicaCtx c = load_replica(a.config, a.replica);
    UniqueFd lk = lock_target(c, "failing back");
    const std::string &name = c.spec.name;
    target::StateFile sf(c.state_dir + "/" + name + ".state");
    target::StateRecord s{};
    bool have = sf.load(s);
    std::optional<points::ReverseRecord> rev = points::load_reverse(c.state_dir, name);
    bool active = rev && points::active_reverse(c.state_dir, name, have ? s.flags : 0);
    bool demoted = !(have && (s.flags & target::kStateFailedOver));
    auto refuse = [&](const std::string &why) {
        throw Error(cat("replica ", name, " is in state ", replica_state(c), ": ", why), false);
    };
    if (!active)
        refuse(cat("failback needs a reverse-protected replica (`cbtrep reprotect ", name,
                   " --to ...` first)"));
    if (!a.to.empty() && a.to != rev->to)
        refuse(cat("it protects ", rev->to, ", not ", a.to));
    if (rev->state == Reverse::reprotecting)
        refuse(cat("its resync to ", rev->to, " has not finished: run `cbtrep reprotect ", name,
                   "` first"));
    if (rev->state == Reverse::failed_back)
        refuse(cat("the failback to ", rev->to, " is done; this replica waits for its resync"));
    if (a.cancel) {
        if (rev->state != Reverse::failback_pending)
            refuse("there is no failback to cancel");
        if (demoted)
            refuse("the replica is already demoted; run `cbtrep failback` again to finish");
        rev->state = Reverse::reverse_protected;
        rev->since_ns = points::wall_ns();
        points::save_reverse(c.state_dir, name, *rev);
        std::cout << "replica " << name << ": failback cancelled; reverse-protected to " << rev->to
                  << " again\n";
        return 0;
    }
    if (rev->state == Reverse::reverse_protected) {
        rev->state = Reverse::failback_pending;
        rev->since_ns = points::wall_ns();
        points::save_reverse(c.state_dir, name, *rev);
        test_pause("failback-pending");
    }
    if (!demoted) {
        int rc = run_remote_resync(true, c.spec.path, rev->to, a.pass, "");
        if (rc == 1)
            throw Error(cat("replica ", name, " and ", rev->to,
                            " differ (above): the reverse replication has not drained to a final "
                            "point. Stop the applications, let cbtrepd replicate a final tag, "
                            "stop it and run `cbtrep failback ",
                            name,
                            "` again. Nothing was changed; the state stays failback-pending "
                            "(`--cancel` returns to reverse-protected)"),
                        false);
        if (rc != 0)
            throw Error(cat("comparing with ", rev->to,
                            " failed or was interrupted (above); the state stays "
                            "failback-pending: run `cbtrep failback ",
                            name, "` again"),
                        false);
        test_pause("verified");
        demote(sf, s, "failed back");
        test_pause("demoted");
    }
    rev->state = Reverse::failed_back;
    rev->since_ns = points::wall_ns();
    points::save_reverse(c.state_dir, name, *rev);
    std::cout << "replica " << name << " failed back: " << rev->to
              << " equals it and is the primary-to-be. On that site: stop its cbtrep-target, "
                 "`cbtrep failover --planned` it, then resync to this replica and start "
                 "cbtrepd there\n";
    return 0;
}

} // namespace

void demote(const target::StateFile &sf, const target::StateRecord &s, const char *why)
{
    // One atomic state-file replacement: no longer the primary; a resync from the new
    // primary must come before any batch (kStateRolledBack, enforced by the target), and
    // the sequence starts over with that source (applied_seq 0).
    target::StateRecord next = s;
    next.flags &= ~(target::kStateFailedOver | target::kStateCommitted | target::kStateConsistent);
    next.flags |= target::kStateRolledBack;
    next.failover_point = 0;
    next.applied_seq = next.applied_batch_id = 0;
    next.consistent_seq = next.consistent_batch_id = 0;
    next.tag_id = next.tag_ns = next.tag_seq = 0;
    next.tag_flags = 0;
    std::memset(next.tag_name, 0, sizeof(next.tag_name));
    std::strncpy(next.tag_name, why, sizeof(next.tag_name) - 1);
    sf.save(next);
}

int cmd_failback(int argc, char **argv)
{
    try {
        ReverseArgs a = parse_reverse_args(argc, argv, true);
        if (a.help)
            return usage(0);
        if (a.replica.empty())
            return usage(2);
        return failback(a);
    } catch (const std::exception &e) {
        std::cerr << "cbtrep failback: " << e.what() << "\n";
        return 1;
    }
}

} // namespace cbtrep::cli
