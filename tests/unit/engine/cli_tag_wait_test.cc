// `cbtrep tag --wait` (tools/cbtrep/cmd_tag_wait.cc): it returns 0 only once cbtrepd's status
// file names the tag as the replica's last consistency point, and gives up with 1 at once
// when cbtrepd is in error or when the replica went past the tag without being consistent
// there; otherwise at its timeout.
#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "cmd_tag_wait.h"
#include "daemon/status.h"
#include "scratch_dir.h"

using namespace cbtrep;

namespace
{

void write_status(const enginetest::ScratchDir &dir, const daemon::DeviceStatus &s)
{
    std::string tmp = dir.str(s.name + ".json.tmp");
    std::ofstream(tmp) << daemon::to_json(s).dump();
    std::filesystem::rename(tmp, dir.str(s.name + ".json"));
}

daemon::DeviceStatus replicating(const std::string &name, uint64_t applied)
{
    daemon::DeviceStatus s;
    s.name = name;
    s.state = "replicating";
    s.target = "10.0.0.2:7420/" + name;
    s.applied_seq = applied;
    s.last_tag_name = "older";
    s.last_tag_id = 6;
    s.updated_unix_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    return s;
}

// What the wait said on stderr (its reason for giving up).
struct CaptureStderr {
    std::ostringstream text;
    std::streambuf *old = std::cerr.rdbuf(text.rdbuf());
    ~CaptureStderr() { std::cerr.rdbuf(old); }
};

cli::TagWait request(const enginetest::ScratchDir &dir)
{
    cli::TagWait w;
    w.status_dir = dir.path.string();
    w.timeout = std::chrono::seconds(1);
    w.tag_id = 7;
    w.tag_name = "final";
    w.devices = {"d0", "d1"};
    w.seqs = {100, 40};
    return w;
}

} // namespace

TEST_CASE("tag --wait: returns once every replica holds the tag", "[cli][tag]")
{
    enginetest::ScratchDir dir;
    auto a = replicating("d0", 90), b = replicating("d1", 40);
    b.last_tag_name = "final", b.last_tag_id = 7; // d1 is there already
    write_status(dir, a);
    write_status(dir, b);
    std::thread later([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        a.applied_seq = 100, a.last_tag_name = "final", a.last_tag_id = 7;
        write_status(dir, a);
    });
    auto w = request(dir);
    w.timeout = std::chrono::seconds(20);
    CHECK(cli::wait_tag_replicated(w) == 0);
    later.join();
}

TEST_CASE("tag --wait: a tag not reached is a failure at the timeout", "[cli][tag]")
{
    enginetest::ScratchDir dir;
    write_status(dir, replicating("d0", 90));
    auto b = replicating("d1", 30);
    b.last_tag_name = "final"; // same name, another tag: not this one
    b.last_tag_id = 3;
    write_status(dir, b);
    CaptureStderr err;
    CHECK(cli::wait_tag_replicated(request(dir)) == 1);
    CHECK_THAT(err.text.str(), Catch::Contains("not replicated within 1 s") &&
                                   Catch::Contains("d0 (replicating, applied seq 90 of 100)") &&
                                   Catch::Contains("d1 (replicating, applied seq 30 of 40)"));
}

TEST_CASE("tag --wait: cbtrepd in error, or a replica past the tag but not consistent "
          "there, fail at once",
          "[cli][tag]")
{
    enginetest::ScratchDir dir;
    auto w = request(dir);
    w.timeout = std::chrono::seconds(30);
    std::string why;
    SECTION("cbtrepd in error")
    {
        why = "cbtrepd stopped with an error (replica identity mismatch)";
        auto a = replicating("d0", 50);
        a.state = "error";
        a.reason = "replica identity mismatch";
        write_status(dir, a);
        write_status(dir, replicating("d1", 10));
    }
    SECTION("applied past the tag, last consistent point older")
    {
        why = "applied seq 120, past the tag (seq 100), but is not consistent there";
        write_status(dir, replicating("d0", 120));
        write_status(dir, replicating("d1", 10));
    }
    CaptureStderr err;
    CHECK(cli::wait_tag_replicated(w) == 1);
    CHECK_THAT(err.text.str(), Catch::Contains(why)); // gave up for that, not at the timeout
}
