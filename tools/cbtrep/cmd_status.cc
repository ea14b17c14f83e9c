// `cbtrep status [--json] [--status-dir DIR | --config cbtrepd.json] [DEVICE...]`: what
// cbtrepd reports for each device (its status files, refreshed every second), timer points
// included.
// Exit status: 0 every device replicating/drained/initial-sync/resyncing, 1 some device in error,
// resync-required, retrying or stale, 2 usage or no status found.
//
// `cbtrep status --target-config target.json [--json] [REPLICA...]`, on the target machine:
// per replica its lifecycle state (docs/points.md), recovery points, history and retention,
// read from the target's state directory like `cbtrep points list`. Exit status 0, or 2 when
// the configuration cannot be read or names no such replica.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cmd_points.h"
#include "config/config.h"
#include "daemon/status.h"
#include "points/store.h"
#include "target/config.h"
#include "target/state_file.h"

namespace cbtrep::cli
{

namespace
{

namespace fs = std::filesystem;
using nlohmann::json;

std::string human_bytes(double b)
{
    const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) {
        b /= 1024;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof(buf), u ? "%.1f %s" : "%.0f %s", b, unit[u]);
    return buf;
}

std::string utc(int64_t unix_s)
{
    std::time_t t = unix_s;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

// Age of the oldest change the spool holds that the replica does not have yet: the RPO.
double spool_age_s(const daemon::DeviceStatus &d, int64_t now_ns)
{
    int64_t t = d.spool.oldest_unsent_unix_ns;
    return t && t < now_ns ? double(now_ns - t) / 1e9 : 0.0;
}

bool healthy(const std::string &state)
{
    return state == "replicating" || state == "drained" || state == "initial-sync" ||
           state == "resyncing" || state == "stopped";
}

// "resync comparing (unclean shutdown): 1.2 GiB of 4.0 GiB compared (30 %), 3.1 MiB differing,
//  3.1 MiB sent, 850.0 MiB/s, ETA 0:03"
void print_resync(const daemon::ResyncStatus &r)
{
    std::cout << "\n  resync " << r.phase;
    if (!r.reason.empty())
        std::cout << " (" << r.reason << ")";
    if (r.phase == "waiting") {
        if (r.window_opens_unix)
            std::cout << ": its window opens " << utc(r.window_opens_unix);
    } else if (r.device_bytes) {
        char pct[16];
        std::snprintf(pct, sizeof(pct), "%.0f %%",
                      100.0 * double(r.done_bytes) / double(r.device_bytes));
        std::cout << ": " << human_bytes(double(r.done_bytes)) << " of "
                  << human_bytes(double(r.device_bytes)) << " (" << pct << "), "
                  << human_bytes(double(r.compared_bytes)) << " compared, "
                  << human_bytes(double(r.differing_bytes)) << " differing, "
                  << human_bytes(double(r.sent_bytes)) << " sent";
        if (r.phase == "comparing") {
            std::cout << ", " << human_bytes(r.rate_bps) << "/s";
            if (r.eta_seconds >= 0) {
                char eta[32];
                long e = long(r.eta_seconds + 0.5);
                std::snprintf(eta, sizeof(eta), "%ld:%02ld:%02ld", e / 3600, e / 60 % 60, e % 60);
                std::cout << ", ETA " << eta;
            }
        }
        if (r.completed)
            std::cout << "; " << r.completed << " completed since start";
    }
    if (!r.error.empty())
        std::cout << "\n  resync last error: " << r.error;
}

// "timer points: last app 'timer-app-...' 2026-...; next crash ..., next app ..."
void print_point_timer(const daemon::PointTimerStatus &t)
{
    std::cout << "\n  timer points: ";
    if (!t.enabled) {
        std::cout << (t.note.empty() ? "off" : t.note);
        return;
    }
    std::cout << "every " << t.crash_interval_s << " s (crash), " << t.app_interval_s
              << " s (app); last ";
    if (t.last_kind.empty())
        std::cout << "none yet";
    else
        std::cout << t.last_kind << " '" << t.last_point_name << "' (tag " << t.last_tag_id << ") "
                  << utc(t.last_unix_ns / 1'000'000'000);
    if (t.next_crash_unix_ns)
        std::cout << "; next crash " << utc(t.next_crash_unix_ns / 1'000'000'000);
    if (t.next_app_unix_ns)
        std::cout << ", next app " << utc(t.next_app_unix_ns / 1'000'000'000);
    if (!t.skipping.empty())
        std::cout << "\n  timer points skipped (" << t.skipped << " tick(s)): " << t.skipping;
}

std::string point_kind(const points::PointRecord &p)
{
    return p.flags & target::kPointApp ? "app" : "crash";
}

nlohmann::json point_json(const points::PointRecord &p)
{
    return {{"id", p.id},
            {"name", std::string(p.name)},
            {"kind", point_kind(p)},
            {"time", utc(int64_t(p.tag_ns / 1'000'000'000))},
            {"time_unix_ns", p.tag_ns},
            {"seq", p.batch_last_seq}};
}

std::string point_text(const points::PointRecord &p)
{
    return std::to_string(p.id) + " '" + p.name + "' " + point_kind(p) + " " +
           utc(int64_t(p.tag_ns / 1'000'000'000));
}

// The target machine's view: every replica of the target's configuration.
int target_status(const std::string &config_path, bool as_json,
                  const std::vector<std::string> &only)
{
    target::TargetConfig cfg;
    try {
        cfg = target::load_config(config_path);
    } catch (const std::exception &e) {
        std::cerr << "cbtrep status: " << e.what() << "\n";
        return 2;
    }
    for (const auto &name : only)
        if (std::none_of(cfg.replicas.begin(), cfg.replicas.end(),
                         [&](const auto &r) { return r.name == name; })) {
            std::cerr << "cbtrep status: replica '" << name << "' is not in " << config_path
                      << "\n";
            return 2;
        }
    json out = json::array();
    for (const auto &spec : cfg.replicas) {
        if (!only.empty() && std::find(only.begin(), only.end(), spec.name) == only.end())
            continue;
        ReplicaCtx ctx{config_path, cfg.state_dir, spec};
        json j{{"replica", spec.name}, {"path", spec.path}};
        try {
            target::StateRecord sr{};
            bool have = target::StateFile(cfg.state_dir + "/" + spec.name + ".state").load(sr);
            points::Store st(cfg.state_dir, spec.name);
            auto pts = st.load_points();
            auto segs = st.segments();
            auto holds = st.holds();
            uint64_t history = 0;
            for (const auto &sg : segs)
                history += sg.bytes;
            size_t apps = std::count_if(pts.begin(), pts.end(),
                                        [](const auto &p) { return p.flags & target::kPointApp; });
            const points::PointRecord *latest_app = nullptr;
            for (const auto &p : pts)
                if (p.flags & target::kPointApp)
                    latest_app = &p;
            j["state"] = replica_state(ctx);
            j["applied_seq"] = have ? sr.applied_seq : 0;
            j["last_tag"] = have && sr.tag_id ? json{{"name", std::string(sr.tag_name)},
                                                     {"tag_id", sr.tag_id},
                                                     {"seq", sr.tag_seq}}
                                              : json(nullptr);
            j["failover_point"] = have && (sr.flags & target::kStateFailedOver)
                                      ? json(sr.failover_point)
                                      : json(nullptr);
            j["points"] = {{"count", pts.size()},
                           {"app", apps},
                           {"crash", pts.size() - apps},
                           {"oldest", pts.empty() ? json(nullptr) : point_json(pts.front())},
                           {"newest", pts.empty() ? json(nullptr) : point_json(pts.back())},
                           {"latest_app", latest_app ? point_json(*latest_app) : json(nullptr)},
                           {"in_use", holds}};
            j["history_bytes"] = history;
            j["segments"] = segs.size();
            j["retention"] = {{"max_age_s", spec.retention.max_age_s},
                              {"max_bytes", spec.retention.max_bytes}};
            if (as_json) {
                out.push_back(j);
                continue;
            }
            std::cout << spec.name << ": " << j["state"].get<std::string>();
            if (have && (sr.flags & target::kStateFailedOver))
                std::cout << " at point " << sr.failover_point;
            std::cout << "\n  replica " << spec.path << ", applied seq " << j["applied_seq"];
            if (have && sr.tag_id)
                std::cout << ", last tag '" << sr.tag_name << "' (seq " << sr.tag_seq << ")";
            std::cout << "\n  points: " << pts.size() << " (" << apps << " app, "
                      << pts.size() - apps << " crash)";
            if (!pts.empty()) {
                std::cout << "\n    newest " << point_text(pts.back()) << "\n    oldest "
                          << point_text(pts.front());
                if (latest_app)
                    std::cout << "\n    latest app " << point_text(*latest_app);
            }
            for (uint64_t h : holds)
                std::cout << "\n    point " << h << " in use (test failover)";
            std::cout << "\n  history " << human_bytes(double(history)) << " in " << segs.size()
                      << " segment(s); retention: max age ";
            if (spec.retention.max_age_s)
                std::cout << spec.retention.max_age_s << " s";
            else
                std::cout << "none";
            std::cout << ", max size ";
            if (spec.retention.max_bytes)
                std::cout << human_bytes(double(spec.retention.max_bytes));
            else
                std::cout << "none";
            std::cout << "\n";
        } catch (const std::exception &e) {
            // One unreadable replica must not hide the others.
            if (as_json) {
                j["error"] = e.what();
                out.push_back(j);
            } else {
                std::cout << spec.name << ": error: " << e.what() << "\n";
            }
        }
    }
    if (as_json)
        std::cout << out.dump(2) << "\n";
    return 0;
}

} // namespace

int cmd_status(int argc, char **argv)
{
    bool as_json = false;
    std::string dir = "/run/cbtrep";
    std::string target_config;
    std::vector<std::string> only;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--json")
            as_json = true;
        else if (a == "--target-config" && i + 1 < argc)
            target_config = argv[++i];
        else if ((a == "--status-dir" || a == "--config") && i + 1 < argc) {
            std::string v = argv[++i];
            if (a == "--status-dir")
                dir = v;
            else {
                try {
                    dir = config::load(v).status_dir;
                } catch (const std::exception &e) {
                    std::cerr << "cbtrep status: " << e.what() << "\n";
                    return 2;
                }
            }
        } else if (a == "--help" || a == "-h") {
            std::cout
                << "usage: cbtrep status [--json] [--status-dir DIR | --config FILE] [DEVICE...]\n"
                   "       cbtrep status --target-config TARGET.json [--json] [REPLICA...]\n"
                   "  Shows cbtrepd's state per device: replication state and reason, tracker\n"
                   "  mode, lag (RPO) in seconds and bytes, backlog, throughput and the last\n"
                   "  consistency point; with a replication log (spool): its bytes and limit,\n"
                   "  and the oldest unsent point with its age (the RPO); the automatic\n"
                   "  resync's phase, bytes compared and sent, rate and ETA; the timer points\n"
                   "  (last taken, next due). Default status directory: /run/cbtrep.\n"
                   "  With --target-config (on the target machine): per replica its state\n"
                   "  (protected, test-failover, rolled-back, failed-over, ...), its recovery\n"
                   "  points (count, newest, oldest, latest app-consistent, in use), history\n"
                   "  bytes and retention.\n";
            return 0;
        } else if (!a.empty() && a[0] == '-') {
            std::cerr << "cbtrep status: unknown option " << a << "\n";
            return 2;
        } else
            only.push_back(a);
    }
    if (!target_config.empty())
        return target_status(target_config, as_json, only);
    std::vector<daemon::DeviceStatus> devs;
    std::error_code ec;
    for (const auto &e : fs::directory_iterator(dir, ec)) {
        if (e.path().extension() != ".json")
            continue;
        try {
            std::ifstream in(e.path());
            devs.push_back(daemon::from_json(json::parse(in)));
        } catch (const std::exception &x) {
            std::cerr << "cbtrep status: " << e.path().string() << ": " << x.what() << "\n";
        }
    }
    if (ec) {
        std::cerr << "cbtrep status: " << dir << ": " << ec.message() << " (is cbtrepd running?)\n";
        return 2;
    }
    if (!only.empty())
        std::erase_if(devs, [&](const auto &d) {
            return std::find(only.begin(), only.end(), d.name) == only.end();
        });
    std::sort(devs.begin(), devs.end(), [](auto &a, auto &b) { return a.name < b.name; });
    if (devs.empty()) {
        std::cerr << "cbtrep status: no device status in " << dir << "\n";
        return 2;
    }
    int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    int rc = 0;
    json out = json::array();
    for (auto &d : devs) {
        // A status nobody refreshed for a while: cbtrepd is gone or hung.
        bool stale = d.state != "stopped" && d.state != "drained" && d.state != "error" &&
                     now_ns - d.updated_unix_ns > 15'000'000'000ll;
        if (!healthy(d.state) || stale)
            rc = 1;
        if (as_json) {
            json j = daemon::to_json(d);
            j["stale"] = stale;
            if (d.spool.enabled)
                j["spool"]["oldest_unsent"]["age_seconds"] = spool_age_s(d, now_ns);
            out.push_back(j);
            continue;
        }
        std::cout << d.name << ": " << d.state;
        if (!d.reason.empty())
            std::cout << " (" << d.reason << ")";
        if (d.state == "retrying" && d.next_attempt_unix)
            std::cout << ", next attempt " << utc(d.next_attempt_unix);
        if (stale)
            std::cout << " [stale: not updated since " << utc(d.updated_unix_ns / 1'000'000'000)
                      << "]";
        std::cout << "\n  source " << d.source << " -> target " << d.target;
        if (!d.reader.empty())
            std::cout << " (reader " << d.reader << ")";
        std::cout << "\n  tracker mode " << d.tracker_mode;
        if (!d.tracker_mode_reason.empty() && d.tracker_mode_reason != "none")
            std::cout << " (" << d.tracker_mode_reason << ")";
        std::cout << ", state " << d.tracker_state;
        if (!d.tracker_state_reason.empty() && d.tracker_state_reason != "none")
            std::cout << " (" << d.tracker_state_reason << ")";
        char lag[64];
        std::snprintf(lag, sizeof(lag), "%.1f s", d.lag_seconds);
        std::cout << "\n  lag " << lag << " / " << human_bytes(double(d.lag_bytes)) << ", backlog "
                  << d.backlog_records << " records, throughput " << human_bytes(d.throughput_bps)
                  << "/s, applied seq " << d.applied_seq;
        if (d.spool.enabled) {
            const auto &sp = d.spool;
            std::cout << "\n  spool " << sp.state;
            if (!sp.reason.empty())
                std::cout << " (" << sp.reason << ")";
            std::cout << ": " << human_bytes(double(sp.bytes)) << " of "
                      << human_bytes(double(sp.limit_bytes)) << " limit";
            if (sp.limit_bytes) {
                char pct[16];
                std::snprintf(pct, sizeof(pct), " (%.0f %%)",
                              100.0 * double(sp.bytes) / double(sp.limit_bytes));
                std::cout << pct;
            }
            std::cout << ", " << sp.segments << " segment(s), " << sp.batches
                      << " batch(es) unsent";
            if (sp.drops)
                std::cout << ", dropped at its limit " << sp.drops << " time(s)";
            std::cout << "\n  spool oldest unsent: ";
            if (!sp.oldest_unsent_seq) {
                std::cout << "none (everything acknowledged)";
            } else {
                char age[32];
                std::snprintf(age, sizeof(age), "%.1f s", spool_age_s(d, now_ns));
                std::cout << "seq " << sp.oldest_unsent_seq << " written "
                          << utc(sp.oldest_unsent_unix_ns / 1'000'000'000) << ", " << age
                          << " ago (RPO)";
            }
        }
        if (d.initial_sync_total_bytes)
            std::cout << "\n  initial sync " << human_bytes(double(d.initial_sync_done_bytes))
                      << " of " << human_bytes(double(d.initial_sync_total_bytes));
        if (!d.resync.phase.empty())
            print_resync(d.resync);
        print_point_timer(d.point_timer);
        std::cout << "\n  last consistency point: ";
        if (d.last_tag_name.empty())
            std::cout << "none yet";
        else
            std::cout << "tag '" << d.last_tag_name << "' (id " << d.last_tag_id << ", seq "
                      << d.last_tag_seq << ") cut " << utc(d.last_tag_unix_ns / 1'000'000'000);
        std::cout << "\n";
    }
    if (as_json)
        std::cout << out.dump(2) << "\n";
    return rc;
}

} // namespace cbtrep::cli
