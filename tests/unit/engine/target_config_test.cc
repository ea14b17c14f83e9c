// cbtrep-target configuration: a valid file parses with its defaults, and every mistake is
// reported with the key at fault.
#include <catch2/catch.hpp>

#include "common/error.h"
#include "target/config.h"

using cbtrep::target::parse_config;

namespace
{

const char *kGood = R"({
  "listen": {"address": "127.0.0.1", "port": 7555},
  "tls": {"ca": "ca.pem", "cert": "/etc/t.pem", "key": "t.key"},
  "state_dir": "state",
  "replicas": {"vm1": {"path": "vm1.img", "size": 1048576, "allowed_clients": ["engine1"]}}
})";

std::string error_of(const std::string &text)
{
    try {
        parse_config(text, "t.json", "/base");
    } catch (const cbtrep::Error &e) {
        CHECK_FALSE(e.recoverable());
        return e.what();
    }
    return "";
}

std::string with(std::string text, const std::string &from, const std::string &to)
{
    auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
}

} // namespace

TEST_CASE("target config: a valid file parses, relative paths against its directory",
          "[target][config]")
{
    auto cfg = parse_config(kGood, "t.json", "/base");
    CHECK(cfg.listen_address == "127.0.0.1");
    CHECK(cfg.port == 7555);
    CHECK(cfg.tls.ca_file == "/base/ca.pem");
    CHECK(cfg.tls.cert_file == "/etc/t.pem");
    CHECK(cfg.state_dir == "/base/state");
    CHECK(cfg.max_window == 8);
    REQUIRE(cfg.replicas.size() == 1);
    CHECK(cfg.replicas[0].name == "vm1");
    CHECK(cfg.replicas[0].path == "/base/vm1.img");
    CHECK(cfg.replicas[0].create_bytes == 1048576);
    CHECK(cfg.replicas[0].allowed_clients == std::vector<std::string>{"engine1"});
}

TEST_CASE("target config: each error names its key", "[target][config]")
{
    CHECK_THAT(error_of("{"), Catch::Contains("not valid JSON"));
    CHECK_THAT(error_of(with(kGood, "\"state_dir\": \"state\",", "")),
               Catch::Contains("t.json: state_dir: missing"));
    CHECK_THAT(error_of(with(kGood, "\"cert\"", "\"certificate\"")),
               Catch::Contains("tls.certificate: unknown key"));
    CHECK_THAT(error_of(with(kGood, "7555", "70000")), Catch::Contains("listen.port: must be"));
    CHECK_THAT(error_of(with(kGood, "1048576", "1000")),
               Catch::Contains("replicas.vm1.size: must be a multiple of 512"));
    CHECK_THAT(error_of(with(kGood, "\"vm1\":", "\"vm 1\":")),
               Catch::Contains("replicas.vm 1: replica names"));
    CHECK_THAT(error_of(with(kGood, ", \"allowed_clients\": [\"engine1\"]", "")),
               Catch::Contains("replicas.vm1.allowed_clients: missing"));
    CHECK_THAT(error_of(with(kGood, "[\"engine1\"]", "[\"\"]")),
               Catch::Contains("replicas.vm1.allowed_clients[0]"));
    CHECK_THAT(error_of(with(kGood, "\"state_dir\"", "\"max_window\": 0, \"state_dir\"")),
               Catch::Contains("max_window: must be between 1 and 64"));
    CHECK_THAT(error_of(with(kGood, "\"path\": \"vm1.img\"", "\"path\": 5")),
               Catch::Contains("replicas.vm1.path: must be a non-empty string"));
}
