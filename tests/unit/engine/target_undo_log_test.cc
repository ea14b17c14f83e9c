// Undo log: played backwards it restores the replica exactly (data and holes); at start-up
// it rolls back only a batch the state file has not committed, and stops at a torn record.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include "target/replica_file.h"
#include "target/undo_log.h"
#include "target_fixture.h"

using namespace cbtrep::target;
using namespace target_test;

namespace
{

constexpr uint64_t kSize = 8u << 20;

// A replica with data in its first MiB and holes elsewhere.
ReplicaFile make_replica(const TempDir &d)
{
    ReplicaFile r(d / "r.img", kSize);
    r.write(0, pattern(1 << 20, 1));
    r.sync();
    return r;
}

} // namespace

TEST_CASE("undo_log: rollback restores overwritten data and holes exactly", "[target][undo]")
{
    TempDir d;
    ReplicaFile r = make_replica(d);
    auto before = slurp(r.path());
    UndoLog u(d / "r.undo");
    u.begin(1, 10, 12);
    // Overlapping ranges, saved before each write, partly data and partly hole.
    u.save(r, 512 * 1024, 1 << 20);
    u.sync();
    r.write(512 * 1024, pattern(1 << 20, 7));
    u.save(r, 768 * 1024, 2 << 20);
    u.sync();
    r.write(768 * 1024, pattern(2 << 20, 9));
    u.save(r, 0, 4096);
    u.sync();
    r.zero(0, 4096, true);
    REQUIRE(slurp(r.path()) != before);

    size_t n = u.rollback(r);
    CHECK(n >= 3);
    CHECK(slurp(r.path()) == before);
    CHECK_FALSE(u.active());
    CHECK(u.bytes() == 0);
}

TEST_CASE("undo_log: start-up recovery rolls back an uncommitted batch after a crash",
          "[target][undo]")
{
    TempDir d;
    std::vector<uint8_t> before;
    {
        ReplicaFile r = make_replica(d);
        before = slurp(r.path());
        UndoLog u(d / "r.undo");
        u.begin(5, 100, 140);
        u.save(r, 4096, 64 * 1024);
        u.save(r, 3 << 20, 64 * 1024); // a hole
        u.sync();
        r.write(4096, pattern(64 * 1024, 3));
        r.write(3 << 20, pattern(64 * 1024, 4));
        // "crash": neither commit nor rollback
    }
    ReplicaFile r(d / "r.img", 0);
    REQUIRE(slurp(r.path()) != before);
    UndoLog u(d / "r.undo");
    auto rec = u.recover(r, 99); // state says seq 99: batch 100..140 was not committed
    CHECK(rec.found);
    CHECK(rec.rolled_back);
    CHECK(rec.batch_id == 5);
    CHECK(rec.records == 2);
    CHECK(slurp(r.path()) == before);
    // The log is empty now: a second recovery finds nothing.
    CHECK_FALSE(u.recover(r, 99).found);
}

TEST_CASE("undo_log: a committed batch left in the log is not rolled back", "[target][undo]")
{
    TempDir d;
    std::vector<uint8_t> after;
    {
        ReplicaFile r = make_replica(d);
        UndoLog u(d / "r.undo");
        u.begin(5, 100, 140);
        u.save(r, 4096, 8192);
        u.sync();
        r.write(4096, pattern(8192, 3));
        after = slurp(r.path());
        // crash after the state file recorded seq 140, before the log was emptied
    }
    ReplicaFile r(d / "r.img", 0);
    UndoLog u(d / "r.undo");
    auto rec = u.recover(r, 140);
    CHECK(rec.found);
    CHECK_FALSE(rec.rolled_back);
    CHECK(slurp(r.path()) == after);
}

TEST_CASE("undo_log: recovery stops at a torn record, which was never synced", "[target][undo]")
{
    TempDir d;
    std::vector<uint8_t> mid;
    {
        ReplicaFile r = make_replica(d);
        UndoLog u(d / "r.undo");
        u.begin(8, 1, 2);
        u.save(r, 0, 8192);
        u.sync();
        mid = slurp(r.path()); // what the replica held when the first record was saved
        r.write(0, pattern(8192, 5));
        u.save(r, 16384, 8192);
    }
    // Corrupt the second data record's header: as if the crash hit while writing it.
    {
        int fd = ::open((d / "r.undo").c_str(), O_RDWR);
        REQUIRE(fd >= 0);
        uint64_t second = 64 + 64 + 8192; // BEGIN, first record + its data
        uint8_t junk = 0xee;
        REQUIRE(::pwrite(fd, &junk, 1, static_cast<off_t>(second + 20)) == 1);
        ::close(fd);
    }
    ReplicaFile r(d / "r.img", 0);
    UndoLog u(d / "r.undo");
    auto rec = u.recover(r, 0);
    CHECK(rec.rolled_back);
    CHECK(rec.records == 1);
    CHECK(slurp(r.path()) == mid);
}

TEST_CASE("replica_file: accesses outside the replica are refused", "[target][replica]")
{
    TempDir d;
    ReplicaFile r(d / "r.img", 1 << 20);
    CHECK(r.size() == (1u << 20));
    std::vector<uint8_t> buf(4096);
    CHECK_THROWS_WITH(r.write((1 << 20) - 512, buf), Catch::Contains("outside the replica"));
    CHECK_THROWS_WITH(r.zero(~0ull - 511, 1024, false), Catch::Contains("outside the replica"));
    CHECK_THROWS(r.read(1 << 20, buf));
    CHECK_NOTHROW(r.write((1 << 20) - 4096, buf));
    CHECK_THROWS_WITH(ReplicaFile(d / "missing.img", 0), Catch::Contains("missing.img"));
}
