// engine/points/lifecycle: the reverse-replication record (<state_dir>/<replica>.reverse)
// round-trips, is replaced atomically, refuses a malformed file, and a failed-back record
// stops governing the replica once the target cleared kStateRolledBack (a resync started).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "points/lifecycle.h"
#include "points/store.h"

namespace fs = std::filesystem;
using namespace cbtrep;
using points::Reverse;

namespace
{

struct TmpDir {
    std::string path;
    TmpDir()
    {
        std::string t = (fs::temp_directory_path() / "cbtrep-lifecycle-XXXXXX").string();
        REQUIRE(::mkdtemp(t.data()) != nullptr);
        path = t;
    }
    ~TmpDir() { fs::remove_all(path); }
};

} // namespace

TEST_CASE("reverse record: absent, saved, replaced, removed")
{
    TmpDir d;
    CHECK_FALSE(points::load_reverse(d.path, "vm1"));
    CHECK_FALSE(points::active_reverse(d.path, "vm1", 0));
    for (Reverse s : {Reverse::reprotecting, Reverse::reverse_protected, Reverse::failback_pending,
                      Reverse::failed_back}) {
        points::save_reverse(d.path, "vm1", {s, "dr1:7420/vm1", 123, 77});
        auto r = points::load_reverse(d.path, "vm1");
        REQUIRE(r);
        CHECK(r->state == s);
        CHECK(r->to == "dr1:7420/vm1");
        CHECK(r->since_ns == 123);
        CHECK(r->failover_point == 77);
        CHECK_FALSE(fs::exists(points::reverse_path(d.path, "vm1") + ".tmp"));
    }
    CHECK(std::string(points::reverse_name(Reverse::reverse_protected)) == "reverse-protected");
    CHECK_FALSE(points::load_reverse(d.path, "vm2")); // per replica
    points::remove_reverse(d.path, "vm1");
    CHECK_FALSE(points::load_reverse(d.path, "vm1"));
    points::remove_reverse(d.path, "vm1"); // nothing to remove is fine
}

TEST_CASE("reverse record: failed-back governs only while the replica waits for its resync")
{
    TmpDir d;
    points::save_reverse(d.path, "vm1", {Reverse::failed_back, "a:1/vm1", 1, 0});
    auto r = points::active_reverse(d.path, "vm1", target::kStateRolledBack);
    REQUIRE(r);
    CHECK(*r == Reverse::failed_back);
    // The target cleared ROLLED_BACK at the start of the resync from the original site.
    CHECK_FALSE(points::active_reverse(d.path, "vm1", 0));
    CHECK_FALSE(points::active_reverse(d.path, "vm1", target::kStateConsistent));
    // The other states govern whatever the state file says.
    points::save_reverse(d.path, "vm1", {Reverse::failback_pending, "a:1/vm1", 1, 0});
    CHECK(points::active_reverse(d.path, "vm1", target::kStateRolledBack) ==
          Reverse::failback_pending);
    CHECK(points::active_reverse(d.path, "vm1", target::kStateFailedOver) ==
          Reverse::failback_pending);
}

TEST_CASE("reverse record: a malformed file is refused, naming it")
{
    TmpDir d;
    std::string p = points::reverse_path(d.path, "vm1");
    auto write = [&](const std::string &text) { std::ofstream(p) << text; };
    write("state=sideways\nto=a:1/vm1\nsince_unix_ns=1\nfailover_point=0\n");
    CHECK_THROWS_WITH(points::load_reverse(d.path, "vm1"),
                      Catch::Contains("unknown state 'sideways'") && Catch::Contains(p));
    write("state=reprotecting\nsince_unix_ns=1\nfailover_point=0\n");
    CHECK_THROWS_AS(points::load_reverse(d.path, "vm1"), points::StoreError);
    write("state=reprotecting\nto=a:1/vm1\nsince_unix_ns=x\nfailover_point=0\n");
    CHECK_THROWS_WITH(points::load_reverse(d.path, "vm1"), Catch::Contains("not a number"));
}
