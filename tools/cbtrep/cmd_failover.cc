// `cbtrep failover --test REPLICA --point ID` exports a writable view of a recovery point over
// NBD (nbdkit with nbdkit-cbtrep-plugin.so) while replication goes on; writes go to a
// throw-away overlay. `cbtrep failover --test-cleanup REPLICA` stops the export, drops the
// overlay and releases the point. The test failover's state is <state_dir>/<replica>.failover
// (docs/points.md); runs on the target machine like `cbtrep points`.
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "cmd_points.h"
#include "cmd_reprotect.h"
#include "common/error.h"
#include "common/fd.h"

#ifndef CBTREP_NBDKIT_PLUGIN
#define CBTREP_NBDKIT_PLUGIN "/usr/lib/cbtrep/nbdkit-cbtrep-plugin.so"
#endif

namespace cbtrep::cli
{
namespace
{

int usage(int code)
{
    (code ? std::cerr : std::cout)
        << "usage: cbtrep failover --test REPLICA --point ID [--port N] [--address ADDR]\n"
           "                       [--config TARGET.json]\n"
           "       cbtrep failover --test-cleanup REPLICA [--config TARGET.json]\n"
           "       cbtrep failover --planned REPLICA [--config TARGET.json]\n"
           "       cbtrep failover --unplanned REPLICA (--point ID | --latest | --latest-app)\n"
           "       cbtrep failover --commit REPLICA [--config TARGET.json]\n"
           "       cbtrep failover --demote REPLICA [--config TARGET.json]\n"
           "\n"
           "--test exports point ID of REPLICA over NBD (nbd://ADDR:PORT, default\n"
           "127.0.0.1:10809) as a writable disk while replication continues; writes go to a\n"
           "throw-away overlay, never to the replica. --test-cleanup ends it.\n"
           "--planned promotes the replica at its final point (a last tag replicated with\n"
           "nothing after it); --unplanned rolls it back to the chosen point (default\n"
           "--latest) and promotes it; --commit drops the other points. These three need\n"
           "cbtrep-target stopped; a failed-over replica takes no more batches. --demote makes\n"
           "a failed-over replica whose device is no longer the primary a replica again: it\n"
           "waits for a resync from the new primary (before `cbtrep reprotect` to it). The\n"
           "plugin is found at $CBTREP_NBDKIT_PLUGIN, else "
        << CBTREP_NBDKIT_PLUGIN << ".\n";
    return code;
}

using KV = std::map<std::string, std::string>;

std::string state_path(const ReplicaCtx &c)
{
    return c.state_dir + "/" + c.spec.name + ".failover";
}

std::optional<KV> load_kv(const std::string &path)
{
    std::ifstream in(path);
    if (!in)
        return std::nullopt;
    KV kv;
    std::string line;
    while (std::getline(in, line)) {
        auto eq = line.find('=');
        if (eq != std::string::npos)
            kv[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return kv;
}

void save_kv(const std::string &path, const KV &kv)
{
    std::ostringstream os;
    for (const auto &[k, v] : kv)
        os << k << "=" << v << "\n";
    std::string s = os.str();
    points::write_atomic(path, s.data(), s.size());
}

// nbdkit runs from / once in the background.
std::string absolute(const std::string &p)
{
    char buf[PATH_MAX];
    if (!::realpath(p.c_str(), buf))
        throw_errno(cat("resolving ", p));
    return buf;
}

// The reverse half of the lifecycle (cmd_reprotect.cc, cmd_failback.cc) owns the replica
// until it is failed back and resynced: failover commands are refused with its state.
void refuse_in_reverse(const ReplicaCtx &c)
{
    std::string st = replica_state(c);
    const std::string &n = c.spec.name;
    std::string hint;
    if (st == "reprotecting")
        hint = cat("its resync to the original site is not finished (`cbtrep reprotect ", n, "`)");
    else if (st == "reverse-protected")
        hint = cat("it is the source of the original site; `cbtrep failback ", n,
                   "` hands the role back");
    else if (st == "failback-pending")
        hint = cat("finish the failback with `cbtrep failback ", n, "` (or --cancel)");
    else if (st == "failed-back")
        hint = "it waits for a resync from the original site, the primary again";
    else
        return;
    throw Error(cat("replica ", n, " is in state ", st, ": ", hint), false);
}

bool alive(pid_t pid)
{
    return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM);
}

int start_test(const ReplicaCtx &c, uint64_t point, const std::string &address, uint16_t port)
{
    refuse_in_reverse(c);
    if (auto kv = load_kv(state_path(c)))
        throw Error(cat("replica ", c.spec.name, " is in state ", (*kv)["state"], " (point ",
                        (*kv)["point"], ", nbd://", (*kv)["address"], ":", (*kv)["port"],
                        "): run `cbtrep failover --test-cleanup ", c.spec.name, "` first"),
                    false);
    std::string state = replica_state(c);
    if (state == "failed-over" || state == "committed" || state == "rolling-back")
        throw Error(cat("replica ", c.spec.name, " is in state ", state,
                        ": a test failover needs a replica that is still protected"),
                    false);
    points::Store st(c.state_dir, c.spec.name);
    {
        // Under the store lock the target cannot prune between our check and the hold.
        points::StoreLock lk = st.lock(true);
        if (!st.find_point(point))
            throw Error(cat("replica ", c.spec.name, ": point ", point,
                            " is not retained (see `cbtrep points list ", c.spec.name, "`)"),
                        false);
        st.add_hold(point, "test failover\n");
    }
    std::string overlay = absolute(c.state_dir) + "/" + c.spec.name + ".overlay";
    std::string pidfile = c.state_dir + "/" + c.spec.name + ".nbdkit.pid";
    ::unlink(pidfile.c_str());
    const char *env = std::getenv("CBTREP_NBDKIT_PLUGIN");
    std::string plugin = env && *env ? env : CBTREP_NBDKIT_PLUGIN;
    std::string nbdkit = std::getenv("CBTREP_NBDKIT") ? std::getenv("CBTREP_NBDKIT") : "nbdkit";
    std::vector<std::string> args = {nbdkit,
                                     "--pidfile",
                                     pidfile,
                                     "--port",
                                     std::to_string(port),
                                     "--ipaddr",
                                     address,
                                     plugin,
                                     "state_dir=" + absolute(c.state_dir),
                                     "replica=" + c.spec.name,
                                     "path=" + absolute(c.spec.path),
                                     "point=" + std::to_string(point),
                                     "overlay=" + overlay};
    // nbdkit forks into the background once it listens; its foreground exit says whether
    // the plugin accepted the configuration.
    pid_t child = ::fork();
    if (child < 0)
        throw_errno("fork");
    if (child == 0) {
        std::vector<char *> argv;
        for (auto &s : args)
            argv.push_back(s.data());
        argv.push_back(nullptr);
        ::execvp(argv[0], argv.data());
        std::cerr << "cbtrep failover: cannot run " << args[0] << ": " << std::strerror(errno)
                  << "\n";
        ::_exit(127);
    }
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    pid_t pid = 0;
    // The background nbdkit writes its pid file after the foreground one has exited.
    for (int i = 0; i < 100 && !pid && WIFEXITED(status) && WEXITSTATUS(status) == 0; i++) {
        std::ifstream in(pidfile);
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (!text.empty() && text.back() == '\n') // complete, not half written
            pid = static_cast<pid_t>(std::atol(text.c_str()));
        if (!pid)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!alive(pid)) {
        st.remove_hold(point);
        ::unlink(overlay.c_str());
        throw Error(cat("nbdkit did not start (exit status ",
                        WIFEXITED(status) ? WEXITSTATUS(status) : -1, "); the point is released"),
                    false);
    }
    save_kv(state_path(c), {{"state", "test-failover"},
                            {"point", std::to_string(point)},
                            {"pid", std::to_string(pid)},
                            {"address", address},
                            {"port", std::to_string(port)},
                            {"overlay", overlay}});
    std::cout << "replica " << c.spec.name << ": point " << point << " exported at nbd://"
              << address << ":" << port << " (writes go to " << overlay << ")\n";
    return 0;
}

int cleanup_test(const ReplicaCtx &c)
{
    auto kv = load_kv(state_path(c));
    if (!kv)
        throw Error(cat("replica ", c.spec.name, " has no test failover to clean up"), false);
    if ((*kv)["state"] != "test-failover")
        throw Error(
            cat("replica ", c.spec.name, " is in state ", (*kv)["state"], ", not test-failover"),
            false);
    pid_t pid = static_cast<pid_t>(std::atol((*kv)["pid"].c_str()));
    if (alive(pid)) {
        ::kill(pid, SIGTERM);
        for (int i = 0; i < 100 && alive(pid); i++)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (alive(pid)) {
            ::kill(pid, SIGKILL);
            for (int i = 0; i < 40 && alive(pid); i++)
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }
    if (!(*kv)["overlay"].empty())
        ::unlink((*kv)["overlay"].c_str());
    points::Store st(c.state_dir, c.spec.name);
    st.remove_hold(parse_u64("point", (*kv)["point"]));
    if (::unlink(state_path(c).c_str()) != 0 && errno != ENOENT)
        throw_errno(cat("removing ", state_path(c)));
    points::fsync_dir(c.state_dir);
    std::cout << "replica " << c.spec.name << ": test failover of point " << (*kv)["point"]
              << " ended; overlay discarded\n";
    return 0;
}

// --planned, --unplanned, --commit: the target must be stopped (docs/points.md).
int failover(const ReplicaCtx &c, const std::string &mode, std::optional<uint64_t> point,
             const std::string &pick)
{
    UniqueFd lk = lock_target(c, "failing over");
    refuse_in_reverse(c);
    std::string state = replica_state(c);
    if (state == "test-failover")
        throw Error(cat("replica ", c.spec.name,
                        " is in state test-failover: run `cbtrep failover --test-cleanup ",
                        c.spec.name, "` first"),
                    false);
    target::Applier ap(c.spec, c.state_dir);
    ap.open(); // finishes an interrupted rollback (or unplanned failover) first
    if (mode == "--demote") {
        if (!(ap.state().flags & target::kStateFailedOver))
            throw Error(cat("replica ", c.spec.name, " is in state ", replica_state(c),
                            ": only a failed-over replica can be demoted"),
                        false);
        demote(target::StateFile(c.state_dir + "/" + c.spec.name + ".state"), ap.state(),
               "demoted");
        std::cout << "replica " << c.spec.name
                  << " demoted: it takes batches again after a resync from the new primary\n";
        return 0;
    }
    if (mode == "--commit") {
        ap.commit_failover();
        std::cout << "replica " << c.spec.name << ": failover at point "
                  << ap.state().failover_point << " committed\n";
        return 0;
    }
    if (ap.state().flags & target::kStateFailedOver)
        throw Error(cat("replica ", c.spec.name, " is in state ", replica_state(c),
                        " (promoted at point ", ap.state().failover_point, ")"),
                    false);
    if (mode == "--planned") {
        if (point || !pick.empty())
            throw Error("--planned takes no point: it promotes at the final tag", false);
        ap.promote_at_newest();
    } else {
        uint64_t id = 0;
        if (point) {
            id = *point;
        } else {
            auto pts = points::Store(c.state_dir, c.spec.name).load_points();
            for (const auto &p : pts)
                if (pick != "--latest-app" || (p.flags & target::kPointApp))
                    id = p.id;
            if (!id)
                throw Error(cat("replica ", c.spec.name, " has no ",
                                pick == "--latest-app" ? "app-consistent " : "",
                                "recovery point to fail over to"),
                            false);
        }
        ap.rollback_to(id, target::kIntentFailover);
    }
    std::cout << "replica " << c.spec.name << ": failed over at point " << ap.state().failover_point
              << " (seq " << ap.state().applied_seq
              << "); it takes no more batches from its source\n";
    return 0;
}

} // namespace

int cmd_failover(int argc, char **argv)
{
    try {
        std::string mode, replica, config = "/etc/cbtrep/target.json", address = "127.0.0.1";
        std::optional<uint64_t> point;
        std::string pick;
        uint16_t port = 10809;
        for (int i = 1; i < argc; i++) {
            std::string s = argv[i];
            auto value = [&]() -> std::string {
                if (i + 1 >= argc)
                    throw Error(cat(s, " needs a value"), false);
                return argv[++i];
            };
            if (s == "--help" || s == "-h")
                return usage(0);
            if (s == "--test" || s == "--test-cleanup" || s == "--planned" || s == "--unplanned" ||
                s == "--commit" || s == "--demote") {
                if (!mode.empty())
                    throw Error(cat(mode, " and ", s, " exclude each other"), false);
                mode = s;
            } else if (s == "--latest" || s == "--latest-app")
                pick = s;
            else if (s == "--point")
                point = parse_u64(s, value());
            else if (s == "--config")
                config = value();
            else if (s == "--address")
                address = value();
            else if (s == "--port") {
                uint64_t p = parse_u64(s, value());
                if (!p || p > 65535)
                    throw Error("--port must be 1..65535", false);
                port = static_cast<uint16_t>(p);
            } else if (!s.empty() && s[0] == '-')
                throw Error(cat("unknown option ", s), false);
            else if (replica.empty())
                replica = s;
            else
                throw Error(cat("unexpected argument ", s), false);
        }
        if (mode.empty())
            return usage(2);
        if (mode == "--unplanned" && !point && pick.empty())
            pick = "--latest";
        ReplicaCtx c = load_replica(config, replica);
        if (mode == "--test") {
            if (!point)
                throw Error("--test needs --point ID (see `cbtrep points list`)", false);
            return start_test(c, *point, address, port);
        }
        if (mode == "--test-cleanup")
            return cleanup_test(c);
        return failover(c, mode, point, pick);
    } catch (const std::exception &e) {
        std::cerr << "cbtrep failover: " << e.what() << "\n";
        return 1;
    }
}

} // namespace cbtrep::cli
