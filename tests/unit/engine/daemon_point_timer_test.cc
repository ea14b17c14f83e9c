// cbtrepd's timer points (engine/daemon/point_timer.h) driven by an injected clock and a fake
// tagger: which kind is cut when, what a skip (resync, BITMAP mode, EBUSY) does, and what the
// status says; plus the "points" configuration keys.
#include <catch2/catch.hpp>

#include <cerrno>

#include <nlohmann/json.hpp>

#include "config/config.h"
#include "daemon/point_timer.h"

using namespace cbtrep;
using namespace std::chrono_literals;
using daemon::PointKind;
using Clock = daemon::PointSchedule::Clock;

namespace
{

config::DeviceConfig kernel_dev(uint32_t crash_s, uint32_t app_s,
                                std::vector<std::string> freeze = {})
{
    config::DeviceConfig d;
    d.name = "disk0";
    d.device = "/dev/vdb";
    d.source.type = "kernel";
    d.source.ctl = "/dev/test-ctl";
    d.points.crash_interval_s = crash_s;
    d.points.app_interval_s = app_s;
    d.points.freeze = std::move(freeze);
    return d;
}

// A timer whose clock, tagger, gate and mountpoints the test controls.
struct Rig {
    config::DeviceConfig dev;
    daemon::StatusBoard board{"/nonexistent"};
    Clock::time_point t0 = Clock::time_point(1000s);
    Clock::time_point t = t0;
    std::vector<source::TagRequest> cut;
    std::string gate;
    int busy = 0; // the next `busy` TAGs answer EBUSY
    std::vector<std::string> mounted{"/mnt/auto"};
    std::unique_ptr<daemon::PointTimer> timer;

    explicit Rig(config::DeviceConfig d) : dev(std::move(d))
    {
        daemon::PointTimer::Deps deps;
        deps.now = [this] { return t; };
        deps.wall_ns = [this] { return int64_t(1'764'000'000) * 1'000'000'000 + (t - t0).count(); };
        deps.gate = [this] { return gate; };
        deps.mountpoints = [this] { return mounted; };
        deps.tag = [this](const source::TagRequest &r) {
            if (busy > 0) {
                busy--;
                throw source::TagBusy(EBUSY, std::generic_category(), "TAG");
            }
            cut.push_back(r);
            source::TagResult res;
            res.tag_id = cut.size();
            res.seqs = {100 + cut.size()};
            res.app = !r.freeze.empty();
            res.frozen = r.freeze;
            return res;
        };
        timer = std::make_unique<daemon::PointTimer>(dev, board, std::move(deps));
    }
    // Advances the clock one second at a time, ticking like the thread does.
    void run_for(std::chrono::seconds s)
    {
        for (auto end = t + s; t < end;) {
            t += 1s;
            timer->tick();
        }
    }
    daemon::PointTimerStatus status() { return board.snapshot().at(dev.name).point_timer; }
    std::string kinds() const
    {
        std::string k;
        for (const auto &r : cut)
            k += r.freeze.empty() ? 'c' : 'A';
        return k;
    }
};

} // namespace

TEST_CASE("schedule: each kind due one interval after the last, none when 0")
{
    Clock::time_point s(0s);
    daemon::PointSchedule sc(300s, 3600s, s);
    CHECK(sc.due(s + 299s).empty());
    CHECK(sc.due(s + 300s) == std::vector{PointKind::crash});
    // Late by far more than an interval: one point, no catching up.
    sc.taken(PointKind::crash, s + 1000s);
    CHECK(sc.due(s + 1299s).empty());
    CHECK(sc.due(s + 3600s) == std::vector{PointKind::app, PointKind::crash});
    // An app point restarts the crash interval too.
    sc.taken(PointKind::app, s + 3600s);
    CHECK(*sc.next(PointKind::crash) == s + 3900s);
    CHECK(*sc.next(PointKind::app) == s + 7200s);

    daemon::PointSchedule off(0s, 0s, s);
    CHECK(off.due(s + 100000s).empty());
    CHECK(!off.next(PointKind::crash));
    CHECK(!off.next(PointKind::app));
}

TEST_CASE("timer: crash every 2 s and app every 5 s, names, requests and status")
{
    Rig r(kernel_dev(2, 5, {"/mnt/data", "/mnt/logs"}));
    r.run_for(12s);
    // t=2 c, 4 c, 5 A (crash restarts), 7 c, 9 c, 10 A, 12 c
    CHECK(r.kinds() == "ccAccAc");
    for (const auto &q : r.cut) {
        CHECK(q.devices == std::vector<std::string>{"disk0"});
        CHECK(q.ctl == "/dev/test-ctl");
        CHECK(q.name.rfind(q.freeze.empty() ? "timer-crash-" : "timer-app-", 0) == 0);
        if (!q.freeze.empty())
            CHECK(q.freeze == std::vector<std::string>{"/mnt/data", "/mnt/logs"});
    }
    auto st = r.status();
    CHECK(st.enabled);
    CHECK(st.taken == 7);
    CHECK(st.skipped == 0);
    CHECK(st.last_kind == "crash");
    CHECK(st.last_tag_id == 7);
    CHECK(st.last_point_name == r.cut.back().name);
    int64_t wall_now = int64_t(1'764'000'000) * 1'000'000'000 + (r.t - r.t0).count();
    CHECK(st.last_unix_ns == wall_now);
    CHECK(st.next_crash_unix_ns == wall_now + 2'000'000'000);
    CHECK(st.next_app_unix_ns == wall_now + 3'000'000'000); // app due at t=15
    std::string prom = r.board.prometheus();
    CHECK(prom.find("cbtrep_timer_points_total{device=\"disk0\"} 7\n") != std::string::npos);
    CHECK(prom.find("cbtrep_timer_points_skipped_total{device=\"disk0\"} 0\n") !=
          std::string::npos);
    CHECK(daemon::PointTimer::point_name(PointKind::app, int64_t(1'764'087'540) * 1'000'000'000) ==
          "timer-app-20251125T161900Z");
}

TEST_CASE("timer: no point while the gate says resync; the due one is cut once it clears")
{
    Rig r(kernel_dev(2, 0));
    r.gate = "cbtrepd is resyncing";
    r.run_for(6s);
    CHECK(r.cut.empty());
    auto st = r.status();
    CHECK(st.skipped == 5); // due from t=2, skipped at 2..6
    CHECK(st.skipping == "crash: cbtrepd is resyncing");
    r.gate.clear();
    r.run_for(1s);
    REQUIRE(r.cut.size() == 1);
    CHECK(r.status().skipping.empty());
    // Due again one interval after it was cut, not after it was first due.
    r.run_for(1s);
    CHECK(r.cut.size() == 1);
    r.run_for(1s);
    CHECK(r.cut.size() == 2);
}

TEST_CASE("timer: TAG busy (EBUSY) is skipped and retried at the next tick")
{
    Rig r(kernel_dev(3, 0));
    r.busy = 2;
    r.run_for(3s);
    CHECK(r.cut.empty());
    CHECK(r.status().skipping.find("TAG busy") != std::string::npos);
    r.run_for(1s);
    CHECK(r.cut.empty());
    r.run_for(1s);
    CHECK(r.cut.size() == 1);
    CHECK(r.status().skipped == 2);
    CHECK(r.status().taken == 1);
}

TEST_CASE("timer: app points freeze the device's filesystem; none mounted still cuts crash ones")
{
    Rig r(kernel_dev(2, 4));
    r.run_for(4s);
    CHECK(r.kinds() == "cA");
    CHECK(r.cut[1].freeze == std::vector<std::string>{"/mnt/auto"});
    r.mounted.clear();
    r.run_for(4s); // t=6 c, t=8: app due, nothing to freeze -> the due crash point instead
    CHECK(r.kinds() == "cAcc");
    // The app point is still due and skipped: the status says so, the crash points go on.
    CHECK(r.status().skipping.find("app: no mounted filesystem") == 0);
    CHECK(r.status().skipped == 1);
    r.run_for(2s); // t=9 app skipped, t=10 app skipped + crash cut
    CHECK(r.kinds() == "cAccc");
    CHECK(r.status().skipped == 3);
    r.mounted = {"/mnt/back"};
    r.run_for(1s);
    CHECK(r.kinds() == "cAcccA");
    CHECK(r.status().skipping.empty());
}

TEST_CASE("timer: gate from cbtrepd's status")
{
    daemon::DeviceStatus s;
    s.state = "replicating";
    s.tracker_mode = "data";
    s.tracker_state = "dirty";
    CHECK(daemon::gate_from_status(s).empty());
    s.state = "retrying"; // the target is away: tags wait in the journal
    CHECK(daemon::gate_from_status(s).empty());
    s.tracker_mode = "bitmap";
    CHECK(daemon::gate_from_status(s).find("BITMAP") != std::string::npos);
    s.tracker_mode = "meta";
    s.tracker_state = "resync-required";
    CHECK(daemon::gate_from_status(s).find("resync-required") != std::string::npos);
    s.tracker_state = "dirty";
    for (const char *busy : {"resyncing", "initial-sync", "starting"}) {
        s.state = busy;
        CHECK(daemon::gate_from_status(s) == std::string("cbtrepd is ") + busy);
    }
}

TEST_CASE("timer: none for a file source or with both intervals 0, and the status says why")
{
    daemon::StatusBoard board("/nonexistent");
    config::DeviceConfig f = kernel_dev(300, 3600);
    f.source.type = "file";
    CHECK(!daemon::make_point_timer(f, board));
    CHECK(board.snapshot().at("disk0").point_timer.note.find("file source") != std::string::npos);
    CHECK(!board.snapshot().at("disk0").point_timer.enabled);
    config::DeviceConfig off = kernel_dev(0, 0);
    off.name = "disk1";
    CHECK(!daemon::make_point_timer(off, board));
    CHECK(board.snapshot().at("disk1").point_timer.note == "disabled by configuration");
}

TEST_CASE("timer: status survives the status file round trip")
{
    Rig r(kernel_dev(2, 5, {"/mnt/data"}));
    r.run_for(5s);
    auto d = r.board.snapshot().at("disk0");
    auto back = daemon::from_json(daemon::to_json(d)).point_timer;
    CHECK(back.enabled);
    CHECK(back.last_kind == "app");
    CHECK(back.last_point_name == d.point_timer.last_point_name);
    CHECK(back.taken == 3);
    CHECK(back.next_crash_unix_ns == d.point_timer.next_crash_unix_ns);
    CHECK(back.next_app_unix_ns == d.point_timer.next_app_unix_ns);
    CHECK(back.app_interval_s == 5);
}

namespace
{
const char *kCfg = R"({
  "tls": {"ca": "/c", "cert": "/c", "key": "/k"},
  "devices": [{"name": "d0", "device": "/dev/vdb", "source": {"type": "kernel"},
               "target": {"host": "h", "port": 1}%s}]
})";
config::Config parse_with(const std::string &points)
{
    char buf[1024];
    std::snprintf(buf, sizeof(buf), kCfg, points.c_str());
    return config::parse(buf, "test.json");
}
} // namespace

TEST_CASE("config: points keys, defaults and errors naming the key")
{
    auto def = parse_with("").devices[0].points;
    CHECK(def.crash_interval_s == 300);
    CHECK(def.app_interval_s == 3600);
    CHECK(def.freeze.empty());
    CHECK(def.freeze_limit_ms == 10000);
    auto p = parse_with(R"(, "points": {"crash_interval_s": 2, "app_interval_s": 0,
                            "freeze": ["/mnt/data"], "freeze_limit_ms": 500})")
                 .devices[0]
                 .points;
    CHECK(p.crash_interval_s == 2);
    CHECK(p.app_interval_s == 0);
    CHECK(p.freeze == std::vector<std::string>{"/mnt/data"});
    CHECK(p.freeze_limit_ms == 500);
    CHECK_THROWS_WITH(parse_with(R"(, "points": {"freeze": ["mnt"]})"),
                      Catch::Contains("devices[0].points.freeze[0]"));
    CHECK_THROWS_WITH(parse_with(R"(, "points": {"every": 3})"),
                      Catch::Contains("devices[0].points.every: unknown key"));
    CHECK_THROWS_WITH(parse_with(R"(, "points": {"crash_interval_s": -1})"),
                      Catch::Contains("devices[0].points.crash_interval_s"));
}
