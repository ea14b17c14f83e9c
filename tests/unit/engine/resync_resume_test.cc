// Interrupted resyncs: a clean stop and a failure mid-way both leave a checkpoint from which
// the next run continues — and the replica ends equal to the source every time.
#include <catch2/catch.hpp>

#include <atomic>

#include "common/error.h"
#include "resync/checkpoint.h"
#include "resync_fixture.h"

using namespace cbtrep::resync;
using rstest::Pair;

namespace
{

constexpr size_t MiB = 1u << 20;

// Every region differs somewhere, so every region has data to send.
void diverge_every_region(Pair &p, size_t regions)
{
    for (size_t i = 0; i < regions; ++i)
        rstest::scribble(p.dst, i * MiB + 4096 * (i % 7) + 3, 10, i);
}

// A local peer that fails after a number of writes, like a target that dies.
class FailingPeer : public LocalPeer
{
  public:
    FailingPeer(const std::string &path, int writes_before_failure)
        : LocalPeer(path), left_(writes_before_failure)
    {
    }
    void write(std::vector<cbtrep::codec::Chunk> chunks) override
    {
        if (left_-- <= 0)
            throw cbtrep::Error("test: replica connection lost");
        LocalPeer::write(std::move(chunks));
    }

  private:
    int left_;
};

} // namespace

TEST_CASE("a stopped resync saves its position and the next run resumes there and ends equal")
{
    Pair p(12 * MiB);
    diverge_every_region(p, 12);
    Options o = rstest::small_options();
    o.checkpoint = p.dir / "resync.ckpt";
    o.checkpoint_interval = std::chrono::milliseconds(0);
    std::atomic<int> finished{0};
    o.progress_interval = std::chrono::milliseconds(0);
    o.on_progress = [&](const Stats &s) { finished = int(s.done_bytes / MiB); };
    o.should_stop = [&] { return finished >= 3; };

    Result first = rstest::resync_local(p, o);
    CHECK_FALSE(first.complete);
    auto cp = load_checkpoint(o.checkpoint);
    REQUIRE(cp);
    CHECK(cp->done_bytes == first.stats.done_bytes);
    CHECK(cp->done_bytes >= 3 * MiB);
    CHECK(cp->done_bytes < 12 * MiB);
    CHECK_FALSE(p.equal());

    o.should_stop = nullptr;
    Result second = rstest::resync_local(p, o);
    CHECK(second.complete);
    CHECK(second.stats.start_bytes == cp->done_bytes);
    CHECK(second.stats.compared_bytes == 12 * MiB - cp->done_bytes);
    CHECK(p.equal());
    CHECK_FALSE(load_checkpoint(o.checkpoint)); // finished: the next resync starts from 0
}

TEST_CASE("a resync that fails mid-way resumes from its last durable checkpoint and ends equal")
{
    Pair p(10 * MiB);
    diverge_every_region(p, 10);
    Options o = rstest::small_options();
    o.checkpoint = p.dir / "resync.ckpt";
    o.checkpoint_interval = std::chrono::milliseconds(0);
    {
        FailingPeer peer(p.dst, 5);
        CHECK_THROWS_WITH(run(p.src, peer, o), Catch::Contains("replica connection lost"));
    }
    auto cp = load_checkpoint(o.checkpoint);
    REQUIRE(cp);
    CHECK(cp->done_bytes > 0);
    CHECK(cp->done_bytes <= 5 * MiB);

    Result second = rstest::resync_local(p, o);
    CHECK(second.complete);
    CHECK(second.stats.start_bytes == cp->done_bytes);
    CHECK(p.equal());
}

TEST_CASE("every stop point of an interrupted resync resumes to an equal replica")
{
    for (int stop_after = 0; stop_after < 8; ++stop_after) {
        Pair p(8 * MiB, uint64_t(stop_after) + 10);
        diverge_every_region(p, 8);
        Options o = rstest::small_options();
        o.checkpoint = p.dir / "resync.ckpt";
        o.checkpoint_interval = std::chrono::milliseconds(0);
        {
            FailingPeer peer(p.dst, stop_after);
            CHECK_THROWS(run(p.src, peer, o));
        }
        Result r = rstest::resync_local(p, o);
        CHECK(r.complete);
        CHECK(p.equal());
    }
}

TEST_CASE("a checkpoint made for another replica is ignored and the resync starts from 0")
{
    Pair p(4 * MiB);
    rstest::scribble(p.dst, 100, 1);
    Options o = rstest::small_options();
    o.checkpoint = p.dir / "resync.ckpt";
    Checkpoint other;
    other.source = p.src;
    other.source_bytes = 4 * MiB;
    other.replica = "file:/somewhere/else.img";
    other.replica_bytes = 4 * MiB;
    other.geometry = o.geometry;
    other.done_bytes = 2 * MiB;
    save_checkpoint(o.checkpoint, other);
    std::vector<std::string> notes;
    o.on_note = [&](const std::string &n) { notes.push_back(n); };

    Result r = rstest::resync_local(p, o);
    CHECK(r.stats.start_bytes == 0);
    CHECK(r.stats.compared_bytes == 4 * MiB);
    CHECK(p.equal());
    bool said = false;
    for (auto &n : notes)
        said |= n.find("ignoring checkpoint") != std::string::npos;
    CHECK(said);
}

TEST_CASE("a checkpoint made with another hash does not apply")
{
    Checkpoint a;
    a.source = "/dev/a";
    a.source_bytes = a.replica_bytes = 64 * MiB;
    a.replica = "file:/r";
    a.done_bytes = 16 * MiB;
    Checkpoint b = a;
    b.geometry.hash = HashKind::sha256;
    CHECK(checkpoint_mismatch(a, a).empty());
    CHECK_THAT(checkpoint_mismatch(a, b), Catch::Contains("sha256"));
}

TEST_CASE("a corrupt checkpoint file is an error naming the file")
{
    rstest::TempDir d;
    rstest::write_file(d / "bad.ckpt", {'{', 'x'});
    CHECK_THROWS_WITH(load_checkpoint(d / "bad.ckpt"),
                      Catch::Contains("bad.ckpt") && Catch::Contains("unreadable"));
}
