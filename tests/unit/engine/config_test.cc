// Daemon configuration: defaults, and errors that name the offending key.
#include <catch2/catch.hpp>

#include "config/config.h"

using namespace cbtrep::config;

namespace
{
const char *good = R"({
  "tls": {"ca": "ca.pem", "cert": "c.pem", "key": "c.key"},
  "retry": {"steps_s": [0.2, 0.5], "steady_s": 2, "jitter": 0},
  "devices": [
    {"name": "disk0", "source": {"type": "file", "path": "/tmp/j.cbts"},
     "target": {"host": "127.0.0.1", "port": 7447}}
  ]
})";

std::string with(const std::string &from, const std::string &to)
{
    std::string s = good;
    auto pos = s.find(from);
    REQUIRE(pos != std::string::npos);
    s.replace(pos, from.size(), to);
    return s;
}
} // namespace

TEST_CASE("config: a minimal file gets the documented defaults", "[config]")
{
    Config c = parse(good, "t.json");
    REQUIRE(c.devices.size() == 1);
    CHECK(c.devices[0].target.replica == "disk0");
    CHECK(c.devices[0].initial_sync == InitialSync::auto_);
    CHECK(c.chunk_bytes == 256 * 1024);
    CHECK(c.reader_backend == "auto");
    REQUIRE(c.retry.steps.size() == 2);
    CHECK(c.retry.steps[0] == std::chrono::milliseconds(200));
    CHECK(c.retry.steady == std::chrono::milliseconds(2000));
}

TEST_CASE("config: errors name the key", "[config]")
{
    CHECK_THROWS_WITH(
        parse(with("7447", "70000"), "t.json"),
        Catch::Contains("t.json: devices[0].target.port: must be an integer 1..65535"));
    CHECK_THROWS_WITH(parse(with("\"file\"", "\"tape\""), "t.json"),
                      Catch::Contains("devices[0].source.type"));
    CHECK_THROWS_WITH(parse(with("\"name\": \"disk0\"", "\"name\": \"bad name\""), "t.json"),
                      Catch::Contains("devices[0].name"));
    CHECK_THROWS_WITH(parse(with("\"jitter\": 0", "\"jitter\": 0, \"typo\": 1"), "t.json"),
                      Catch::Contains("retry.typo: unknown key"));
    CHECK_THROWS_WITH(parse(with("[0.2, 0.5]", "[0.2, -1]"), "t.json"),
                      Catch::Contains("retry.steps_s[1]"));
    CHECK_THROWS_WITH(parse(with("\"key\": \"c.key\"", "\"key\": 3"), "t.json"),
                      Catch::Contains("tls.key: must be a string"));
    CHECK_THROWS_WITH(parse(with("\"port\": 7447", "\"porrt\": 7447"), "t.json"),
                      Catch::Contains("devices[0].target.porrt: unknown key"));
}

TEST_CASE("config: missing required keys and bad JSON are reported", "[config]")
{
    CHECK_THROWS_WITH(parse("{\"devices\": []}", "x.json"),
                      Catch::Contains("x.json: tls: is required"));
    CHECK_THROWS_WITH(parse("{", "x.json"), Catch::Contains("not valid JSON"));
    CHECK_THROWS_WITH(parse(with(", \"port\": 7447", ""), "t.json"),
                      Catch::Contains("devices[0].target.port: is required"));
    CHECK_THROWS_WITH(load("/nonexistent/cbtrepd.json"), Catch::Contains("cannot open"));
}

TEST_CASE("config: duplicate device names are refused", "[config]")
{
    std::string s = good;
    auto dev = s.substr(s.find("{\"name\""), s.rfind('}', s.rfind(']')) - s.find("{\"name\"") + 1);
    s.insert(s.rfind(']'), ", " + dev);
    CHECK_THROWS_WITH(parse(s, "t.json"), Catch::Contains("devices[1].name: duplicate"));
}

TEST_CASE("config: relative paths are relative to the configuration file", "[config]")
{
    Config c = parse(good, "/etc/cbtrep/cbtrepd.json", "/etc/cbtrep");
    CHECK(c.tls_ca == "/etc/cbtrep/ca.pem");
    CHECK(c.devices[0].source.path == "/tmp/j.cbts"); // absolute: unchanged
    CHECK(c.status_dir == "/run/cbtrep");
    CHECK(c.devices[0].source.cursor.empty()); // empty stays empty (= derived default)
}
