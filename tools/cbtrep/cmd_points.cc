// `cbtrep points list REPLICA [--json]` and `cbtrep points rollback REPLICA --point ID`:
// the recovery points the target keeps for a replica (docs/points.md). Both read the
// target's state directory directly (run them on the target machine): list is read-only and
// safe while cbtrep-target runs; rollback needs the target stopped (it takes the same lock).
#include "cmd_points.h"

#include <ctime>
#include <fcntl.h>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sys/file.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fd.h"
#include "points/lifecycle.h"
#include "target/config.h"

namespace cbtrep::cli
{
namespace
{

constexpr const char *kDefaultConfig = "/etc/cbtrep/target.json";

int usage(int code)
{
    (code ? std::cerr : std::cout)
        << "usage: cbtrep points list REPLICA [--json] [--config TARGET.json]\n"
           "       cbtrep points rollback REPLICA --point ID [--config TARGET.json]\n"
           "\n"
           "list: the recovery points kept for REPLICA: id, time, kind (crash- or\n"
           "app-consistent), bytes of history held, and whether a test failover uses it.\n"
           "rollback: puts REPLICA back at point ID (cbtrep-target must be stopped); the\n"
           "source must be resynced before replication resumes.\n"
           "Both run on the target machine; --config defaults to "
        << kDefaultConfig << ".\n";
    return code;
}

std::string iso_time(uint64_t ns)
{
    time_t t = static_cast<time_t>(ns / 1000000000ull);
    struct tm tm {
    };
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

struct Args {
    std::string sub, replica, config = kDefaultConfig;
    bool json = false;
    std::optional<uint64_t> point;
};

Args parse(int argc, char **argv)
{
    Args a;
    for (int i = 1; i < argc; i++) {
        std::string s = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc)
                throw Error(cat(s, " needs a value"), false);
            return argv[++i];
        };
        if (s == "--help" || s == "-h")
            a.sub = "help";
        else if (s == "--json")
            a.json = true;
        else if (s == "--config")
            a.config = value();
        else if (s == "--point")
            a.point = parse_u64(s, value());
        else if (!s.empty() && s[0] == '-')
            throw Error(cat("unknown option ", s), false);
        else if (a.sub.empty())
            a.sub = s;
        else if (a.replica.empty())
            a.replica = s;
        else
            throw Error(cat("unexpected argument ", s), false);
    }
    return a;
}

int list(const Args &a)
{
    ReplicaCtx ctx = load_replica(a.config, a.replica);
    points::Store st(ctx.state_dir, ctx.spec.name);
    auto pts = st.load_points();
    auto segs = st.segments();
    auto holds = st.holds();
    uint64_t total = 0;
    for (const auto &s : segs)
        total += s.bytes;
    auto held_bytes = [&](const points::PointRecord &p) {
        uint64_t n = 0;
        for (const auto &s : segs)
            if (s.first_seq > p.batch_last_seq)
                n += s.bytes;
        return n;
    };
    if (a.json) {
        nlohmann::json j;
        j["replica"] = ctx.spec.name;
        j["state"] = replica_state(ctx);
        j["history_bytes"] = total;
        j["segments"] = segs.size();
        j["retention"] = {{"max_age_s", ctx.spec.retention.max_age_s},
                          {"max_bytes", ctx.spec.retention.max_bytes}};
        j["points"] = nlohmann::json::array();
        for (const auto &p : pts)
            j["points"].push_back({{"id", p.id},
                                   {"name", std::string(p.name)},
                                   {"time", iso_time(p.tag_ns)},
                                   {"time_unix_ns", p.tag_ns},
                                   {"reached_unix_ns", p.reached_ns},
                                   {"kind", p.flags & target::kPointApp ? "app" : "crash"},
                                   {"seq", p.batch_last_seq},
                                   {"tag_id", p.tag_id},
                                   {"bytes_held", held_bytes(p)},
                                   {"in_use", holds.count(p.id) > 0}});
        std::cout << j.dump(2) << "\n";
        return 0;
    }
    std::cout << "replica " << ctx.spec.name << " (" << replica_state(ctx) << "): " << pts.size()
              << " points, " << total << " bytes of history in " << segs.size() << " segments\n";
    if (pts.empty())
        return 0;
    std::printf("%-12s %-20s %-5s %14s  %s\n", "ID", "TIME (UTC)", "KIND", "BYTES HELD", "NAME");
    for (const auto &p : pts)
        std::printf("%-12llu %-20s %-5s %14llu  %s%s\n", static_cast<unsigned long long>(p.id),
                    iso_time(p.tag_ns).c_str(), p.flags & target::kPointApp ? "app" : "crash",
                    static_cast<unsigned long long>(held_bytes(p)), p.name,
                    holds.count(p.id) ? "  (in use)" : "");
    return 0;
}

int rollback(const Args &a)
{
    if (!a.point)
        throw Error("rollback needs --point ID (see `cbtrep points list`)", false);
    ReplicaCtx ctx = load_replica(a.config, a.replica);
    UniqueFd lk = lock_target(ctx, "rolling back");
    if (std::string st = replica_state(ctx); st == "reprotecting" || st == "reverse-protected" ||
                                             st == "failback-pending" || st == "failed-back")
        throw Error(cat("replica ", ctx.spec.name, " is in state ", st,
                        ": it is not a replica with a history to roll back (docs/points.md)"),
                    false);
    target::Applier ap(ctx.spec, ctx.state_dir);
    ap.open();
    ap.rollback_to(*a.point);
    std::cout << "replica " << ctx.spec.name << " is at point " << *a.point << " (seq "
              << ap.state().applied_seq << "); resync the source before replicating again\n";
    return 0;
}

} // namespace

UniqueFd lock_target(const ReplicaCtx &c, const char *what)
{
    std::string lock_path = c.state_dir + "/cbtrep-target.lock";
    UniqueFd lk(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!lk)
        throw_errno(cat("opening ", lock_path));
    if (::flock(lk.get(), LOCK_EX | LOCK_NB) != 0)
        throw Error(cat("cbtrep-target is running on ", c.state_dir, " (", lock_path,
                        " is locked): stop it before ", what, " ", c.spec.name),
                    false);
    return lk;
}

std::string replica_state(const ReplicaCtx &c)
{
    target::StateRecord s{};
    bool have = target::StateFile(c.state_dir + "/" + c.spec.name + ".state").load(s);
    // Reverse replication and failback (cmd_reprotect.cc, cmd_failback.cc) come first.
    if (auto r = points::active_reverse(c.state_dir, c.spec.name, have ? s.flags : 0))
        return points::reverse_name(*r);
    if (have && (s.flags & target::kStateCommitted))
        return "committed";
    if (have && (s.flags & target::kStateFailedOver))
        return "failed-over";
    if (::access((c.state_dir + "/" + c.spec.name + ".rollback").c_str(), F_OK) == 0)
        return "rolling-back";
    if (::access((c.state_dir + "/" + c.spec.name + ".failover").c_str(), F_OK) == 0)
        return "test-failover";
    if (have && (s.flags & target::kStateRolledBack))
        return "rolled-back";
    return "protected";
}

uint64_t parse_u64(const std::string &opt, const std::string &value)
{
    char *end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(value.c_str(), &end, 10);
    if (value.empty() || !end || *end || errno || value[0] == '-')
        throw Error(cat(opt, " ", value, ": not a number"), false);
    return v;
}

ReplicaCtx load_replica(const std::string &config_path, const std::string &name)
{
    if (name.empty())
        throw Error("which replica? (name as in the target configuration)", false);
    target::TargetConfig cfg = target::load_config(config_path);
    for (const auto &r : cfg.replicas)
        if (r.name == name)
            return ReplicaCtx{config_path, cfg.state_dir, r};
    throw Error(cat("replica '", name, "' is not in ", config_path), false);
}

int cmd_points(int argc, char **argv)
{
    try {
        Args a = parse(argc, argv);
        if (a.sub == "list")
            return list(a);
        if (a.sub == "rollback")
            return rollback(a);
        if (a.sub.empty() || a.sub == "help")
            return usage(a.sub.empty() ? 2 : 0);
        std::cerr << "cbtrep points: unknown action '" << a.sub << "'\n";
        return usage(2);
    } catch (const std::exception &e) {
        std::cerr << "cbtrep points: " << e.what() << "\n";
        return 1;
    }
}

} // namespace cbtrep::cli
