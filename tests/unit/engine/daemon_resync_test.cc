// cbtrepd's automatic resync: the devices[].resync configuration key (defaults, window,
// errors naming the key) and the status file's resync object surviving a round trip, which
// is what `cbtrep status` reads.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "config/config.h"
#include "daemon/status.h"

using namespace cbtrep;

namespace
{
std::string device_with(const std::string &extra)
{
    return R"({
  "tls": {"ca": "ca.pem", "cert": "c.pem", "key": "c.key"},
  "devices": [
    {"name": "disk0", "device": "/tmp/disk0.img", "source": {"type": "file", "path": "/tmp/j.cbts"},
     "target": {"host": "127.0.0.1", "port": 7447})" +
           extra + R"(}
  ]
})";
}
} // namespace

TEST_CASE("daemon_resync: by default a resync starts at once, with no rate limit",
          "[daemon][resync]")
{
    config::Config c = config::parse(device_with(""), "t.json");
    CHECK_FALSE(c.devices[0].resync.windowed);
    CHECK(c.devices[0].resync.max_rate == 0);
}

TEST_CASE("daemon_resync: a window and a rate are parsed", "[daemon][resync]")
{
    config::Config c = config::parse(
        device_with(
            R"(, "resync": {"start": "window", "window": "22:30-06:00", "max_rate": 1048576})"),
        "t.json");
    const auto &r = c.devices[0].resync;
    CHECK(r.windowed);
    CHECK(r.window_start_min == 22 * 60 + 30);
    CHECK(r.window_end_min == 6 * 60);
    CHECK(r.max_rate == 1048576);
}

TEST_CASE("daemon_resync: bad resync settings name their key", "[daemon][resync]")
{
    CHECK_THROWS_WITH(config::parse(device_with(R"(, "resync": {"start": "later"})"), "t.json"),
                      Catch::Contains("devices[0].resync.start"));
    CHECK_THROWS_WITH(config::parse(device_with(R"(, "resync": {"start": "window"})"), "t.json"),
                      Catch::Contains("resync.window"));
    CHECK_THROWS_WITH(
        config::parse(device_with(R"(, "resync": {"start": "window", "window": "25:00-01:00"})"),
                      "t.json"),
        Catch::Contains("HH:MM-HH:MM"));
    CHECK_THROWS_WITH(
        config::parse(device_with(R"(, "resync": {"window": "01:00-01:00"})"), "t.json"),
        Catch::Contains("start != end"));
    CHECK_THROWS_WITH(config::parse(device_with(R"(, "resync": {"speed": 1})"), "t.json"),
                      Catch::Contains("unknown key"));
}

TEST_CASE("daemon_resync: the status file's resync object round-trips", "[daemon][resync]")
{
    daemon::DeviceStatus s;
    s.name = "disk0";
    s.state = "resyncing";
    s.resync.phase = "comparing";
    s.resync.reason = "unclean shutdown";
    s.resync.generation = 7;
    s.resync.device_bytes = 4ull << 30;
    s.resync.done_bytes = 1ull << 30;
    s.resync.compared_bytes = (1ull << 30) + 4096;
    s.resync.differing_bytes = 12288;
    s.resync.sent_bytes = 8192;
    s.resync.wire_bytes = 9000;
    s.resync.rate_bps = 5e8;
    s.resync.eta_seconds = 6.5;
    s.resync.completed = 2;
    s.resync.error = "connection reset";
    nlohmann::json j = daemon::to_json(s);
    CHECK(j["resync"]["phase"] == "comparing");
    CHECK(j["resync"]["eta_seconds"] == 6.5);
    daemon::DeviceStatus back = daemon::from_json(nlohmann::json::parse(j.dump()));
    CHECK(back.state == "resyncing");
    CHECK(back.resync.phase == "comparing");
    CHECK(back.resync.reason == "unclean shutdown");
    CHECK(back.resync.generation == 7);
    CHECK(back.resync.device_bytes == 4ull << 30);
    CHECK(back.resync.done_bytes == 1ull << 30);
    CHECK(back.resync.compared_bytes == (1ull << 30) + 4096);
    CHECK(back.resync.differing_bytes == 12288);
    CHECK(back.resync.sent_bytes == 8192);
    CHECK(back.resync.wire_bytes == 9000);
    CHECK(back.resync.rate_bps == 5e8);
    CHECK(back.resync.eta_seconds == 6.5);
    CHECK(back.resync.completed == 2);
    CHECK(back.resync.error == "connection reset");
}
