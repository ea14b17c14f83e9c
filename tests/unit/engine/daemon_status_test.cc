// Status board: the JSON file round-trips through from_json (what `cbtrep status` reads),
// and the metrics endpoint answers HTTP with Prometheus text for every device.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <filesystem>
#include <fstream>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "daemon/metrics.h"
#include "daemon/status.h"

using namespace cbtrep::daemon;
namespace fs = std::filesystem;

namespace
{
std::string http_get(uint16_t port)
{
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof(a)) == 0);
    std::string req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    REQUIRE(::send(fd, req.data(), req.size(), 0) == ssize_t(req.size()));
    std::string resp;
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0)
        resp.append(buf, size_t(n));
    ::close(fd);
    return resp;
}
} // namespace

TEST_CASE("daemon_status: the status file round-trips", "[daemon]")
{
    char tmpl[] = "/tmp/cbtrep-stXXXXXX";
    std::string dir = ::mkdtemp(tmpl);
    StatusBoard board(dir);
    board.update("disk0", [](DeviceStatus &s) {
        s.state = "retrying";
        s.reason = "connection refused";
        s.next_attempt_unix = 1234;
        s.tracker_mode = "meta";
        s.lag_seconds = 2.5;
        s.lag_bytes = 4096;
        s.last_tag_name = "t9";
        s.last_tag_seq = 77;
        s.compress_s = 1.25;
    });
    board.publish();
    std::ifstream in(dir + "/disk0.json");
    REQUIRE(in);
    DeviceStatus s = from_json(nlohmann::json::parse(in));
    CHECK(s.name == "disk0");
    CHECK(s.state == "retrying");
    CHECK(s.reason == "connection refused");
    CHECK(s.next_attempt_unix == 1234);
    CHECK(s.tracker_mode == "meta");
    CHECK(s.lag_seconds == Approx(2.5));
    CHECK(s.lag_bytes == 4096);
    CHECK(s.last_tag_name == "t9");
    CHECK(s.last_tag_seq == 77);
    CHECK(s.compress_s == Approx(1.25));
    CHECK_FALSE(fs::exists(dir + "/disk0.json.tmp"));
    fs::remove_all(dir);
}

TEST_CASE("daemon_status: metrics are served as Prometheus text", "[daemon]")
{
    StatusBoard board("");
    board.update("disk0", [](DeviceStatus &s) {
        s.state = "replicating";
        s.lag_bytes = 123;
    });
    board.update("disk1", [](DeviceStatus &s) { s.state = "error"; });
    MetricsServer m(board, "127.0.0.1", 0);
    REQUIRE(m.port() != 0);
    std::string r = http_get(m.port());
    CHECK_THAT(r, Catch::StartsWith("HTTP/1.0 200 OK"));
    CHECK_THAT(r, Catch::Contains("cbtrep_lag_bytes{device=\"disk0\"} 123"));
    CHECK_THAT(r, Catch::Contains("cbtrep_state{device=\"disk0\",state=\"replicating\"} 1"));
    CHECK_THAT(r, Catch::Contains("cbtrep_state{device=\"disk1\",state=\"error\"} 1"));
    CHECK_THAT(r, Catch::Contains("cbtrep_state{device=\"disk1\",state=\"replicating\"} 0"));
    CHECK_THAT(r, Catch::Contains("# TYPE cbtrep_sent_bytes_total counter"));
}

TEST_CASE("daemon_status: a bad listen address is a clear error", "[daemon]")
{
    StatusBoard board("");
    CHECK_THROWS_WITH(MetricsServer(board, "localhost", 0), Catch::Contains("not an IPv4 address"));
}
