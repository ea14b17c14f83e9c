// `cbtrep tag [--name NAME] [--app-consistent MOUNTPOINT]... DEVICE...`: one consistency
// point on a group of tracked devices, cut atomically by the tracker (CBT_IOC_TAG). With
// --app-consistent the filesystems are frozen (FIFREEZE) around the tag and thawed on every
// path, within --freeze-limit-ms (a watchdog process thaws them otherwise, even if this
// command is killed). Runs on the source machine; the same code cuts cbtrepd's timer points
// (engine/source/kernel_tag.h). The target turns the tag into a recovery point
// (docs/points.md).
// With --wait it then waits until cbtrepd reports the tag durable on every replica: with the
// applications stopped, that is the source side of a planned failover (drain to a final
// point, docs/points.md).
// Exit status: 0 cut (and replicated, with --wait), 1 error (or not replicated), 2 usage,
// 3 busy (BITMAP mode or the tracker saving its header: nothing was cut, try again).
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "cmd_tag_wait.h"
#include "config/config.h"
#include "source/kernel_tag.h"

namespace cbtrep::cli
{

namespace
{

int usage(int code)
{
    (code ? std::cerr : std::cout)
        << "usage: cbtrep tag [--name NAME] [--app-consistent MOUNTPOINT]...\n"
           "                  [--freeze-limit-ms N] [--ctl PATH] [--json]\n"
           "                  [--wait [--status-dir DIR | --config cbtrepd.json] [--timeout S]]\n"
           "                  DEVICE...\n"
           "\n"
           "Cuts one consistency point on the tracked DEVICEs (names as attached) at once.\n"
           "--app-consistent freezes MOUNTPOINT (repeatable) for the tag, so the point is\n"
           "app-consistent; the filesystems are thawed right after, and within\n"
           "--freeze-limit-ms (default 10000) whatever happens. Default NAME:\n"
           "manual-<UTC time>. Exit 3: the tracker is busy (BITMAP mode), try again.\n"
           "--wait: then wait (default 600 s) until cbtrepd reports the tag durable on each\n"
           "device's replica (status directory default /run/cbtrep). With the applications\n"
           "stopped this drains the source to a final point for `cbtrep failover --planned`.\n";
    return code;
}

std::string default_name()
{
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[40];
    std::strftime(buf, sizeof(buf), "manual-%Y%m%dT%H%M%SZ", &tm);
    return buf;
}

} // namespace

int cmd_tag(int argc, char **argv)
{
    source::TagRequest req;
    bool as_json = false;
    bool wait = false;
    TagWait tw;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::cerr << "cbtrep tag: " << a << " needs a value\n";
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--help" || a == "-h")
            return usage(0);
        if (a == "--name")
            req.name = value();
        else if (a == "--app-consistent" || a == "--freeze")
            req.freeze.push_back(value());
        else if (a == "--freeze-limit-ms") {
            std::string v = value();
            char *end = nullptr;
            long ms = std::strtol(v.c_str(), &end, 10);
            if (v.empty() || *end || ms < 1 || ms > 600000) {
                std::cerr << "cbtrep tag: --freeze-limit-ms " << v << ": must be 1..600000\n";
                return 2;
            }
            req.freeze_limit = std::chrono::milliseconds(ms);
        } else if (a == "--ctl")
            req.ctl = value();
        else if (a == "--json")
            as_json = true;
        else if (a == "--wait")
            wait = true;
        else if (a == "--status-dir")
            tw.status_dir = value();
        else if (a == "--config") {
            try {
                tw.status_dir = config::load(value()).status_dir;
            } catch (const std::exception &e) {
                std::cerr << "cbtrep tag: " << e.what() << "\n";
                return 2;
            }
        } else if (a == "--timeout") {
            std::string v = value();
            char *end = nullptr;
            long s = std::strtol(v.c_str(), &end, 10);
            if (v.empty() || *end || s < 1) {
                std::cerr << "cbtrep tag: --timeout " << v << ": seconds, at least 1\n";
                return 2;
            }
            tw.timeout = std::chrono::seconds(s);
        } else if (!a.empty() && a[0] == '-') {
            std::cerr << "cbtrep tag: unknown option " << a << "\n";
            return usage(2);
        } else
            req.devices.push_back(a);
    }
    if (req.devices.empty()) {
        std::cerr << "cbtrep tag: which device(s)? (names as attached to the tracker)\n";
        return usage(2);
    }
    if (req.name.empty())
        req.name = default_name();
    source::TagResult r;
    try {
        r = source::take_tag(req);
    } catch (const source::TagBusy &e) {
        std::cerr << "cbtrep tag: " << e.what()
                  << " (a device is in BITMAP mode or busy; nothing was cut, try again)\n";
        return 3;
    } catch (const std::invalid_argument &e) {
        std::cerr << "cbtrep tag: " << e.what() << "\n";
        return 2;
    } catch (const std::exception &e) {
        std::cerr << "cbtrep tag: " << e.what() << "\n";
        return 1;
    }
    if (as_json) {
        nlohmann::json j{{"tag_id", r.tag_id},
                         {"name", req.name},
                         {"kind", r.app ? "app" : "crash"},
                         {"frozen", r.frozen},
                         {"frozen_us", r.frozen_for.count()},
                         {"devices", nlohmann::json::array()}};
        for (size_t i = 0; i < req.devices.size(); i++)
            j["devices"].push_back({{"name", req.devices[i]}, {"seq", r.seqs[i]}});
        std::cout << j.dump(2) << "\n";
    } else {
        std::cout << "tag " << r.tag_id << " '" << req.name << "' "
                  << (r.app ? "app-consistent" : "crash-consistent");
        if (r.app) {
            std::cout << " (";
            for (size_t i = 0; i < r.frozen.size(); i++)
                std::cout << (i ? ", " : "") << r.frozen[i];
            char ms[32];
            std::snprintf(ms, sizeof(ms), "%.1f ms", double(r.frozen_for.count()) / 1000.0);
            std::cout << " frozen " << ms << ")";
        }
        std::cout << ":";
        for (size_t i = 0; i < req.devices.size(); i++)
            std::cout << " " << req.devices[i] << " seq " << r.seqs[i];
        std::cout << "\n";
    }
    if (!wait)
        return 0;
    std::cout.flush();
    tw.tag_id = r.tag_id;
    tw.tag_name = req.name;
    tw.devices = req.devices;
    tw.seqs = r.seqs;
    return wait_tag_replicated(tw);
}

} // namespace cbtrep::cli
