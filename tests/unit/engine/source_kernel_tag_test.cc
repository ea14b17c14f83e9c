// source::take_tag()'s refusals, all before anything is frozen or tagged: bad names, too
// many devices, a control device that is not there or not the tracker's. (The freeze and
// the TAG itself need cbtrep.ko and a filesystem to freeze: tests/kernel/scenarios/
// e2e_points_timer.sh.) Nothing here freezes a filesystem: a freeze of the test machine's
// own /tmp must never be possible from a unit test.
#include <catch2/catch.hpp>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <unistd.h>

#include "source/kernel_tag.h"

using namespace cbtrep;

namespace
{

source::TagRequest req(std::vector<std::string> devices, std::string name = "t1")
{
    source::TagRequest r;
    r.name = std::move(name);
    r.devices = std::move(devices);
    r.ctl = "/nonexistent/cbtrep-ctl";
    return r;
}

int errno_of(const source::TagRequest &r)
{
    try {
        source::take_tag(r);
    } catch (const std::system_error &e) {
        return e.code().value();
    }
    return 0;
}

} // namespace

TEST_CASE("take_tag refuses bad names and device counts before opening anything")
{
    CHECK_THROWS_AS(source::take_tag(req({"disk0"}, "")), std::invalid_argument);
    CHECK_THROWS_AS(source::take_tag(req({"disk0"}, std::string(64, 'x'))), std::invalid_argument);
    CHECK_THROWS_AS(source::take_tag(req({})), std::invalid_argument);
    CHECK_THROWS_AS(source::take_tag(req(std::vector<std::string>(17, "d"))),
                    std::invalid_argument);
    CHECK_THROWS_AS(source::take_tag(req({"bad/name"})), std::invalid_argument);
    CHECK_THROWS_AS(source::take_tag(req({std::string(32, 'd')})), std::invalid_argument);
}

TEST_CASE("take_tag: no control device is an error that says so, before any freeze")
{
    auto r = req({"disk0"});
    // A mountpoint that does not exist either: the control device is opened first, so the
    // error is about it, not about the freeze.
    r.freeze = {"/nonexistent/mnt"};
    CHECK(errno_of(r) == ENOENT);
    CHECK_THROWS_WITH(source::take_tag(r), Catch::Contains("is cbtrep.ko loaded?"));
}

TEST_CASE("take_tag: a control device that is not the tracker's fails the TAG, naming it")
{
    char path[] = "/tmp/cbtrep-fake-ctl-XXXXXX";
    int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    ::close(fd);
    auto r = req({"disk0"}, "named");
    r.ctl = path;
    CHECK(errno_of(r) == ENOTTY);
    CHECK_THROWS_WITH(source::take_tag(r), Catch::Contains("TAG 'named'"));
    ::unlink(path);
}

TEST_CASE("mountpoints_of: nothing for a path that is not a block device")
{
    CHECK(source::mountpoints_of("/nonexistent").empty());
    CHECK(source::mountpoints_of("/proc/self/mountinfo").empty());
}
