// Resync against a local replica file: every divergence pattern ends with replica == source,
// and the statistics say that only the differing leaves were sent.
#include <catch2/catch.hpp>

#include <set>
#include <stdexcept>

#include "common/error.h"
#include "resync_fixture.h"

using namespace cbtrep::resync;
using rstest::Pair;

namespace
{
constexpr size_t MiB = 1u << 20;
}

TEST_CASE("resync of identical images sends nothing and leaves them equal")
{
    Pair p(5 * MiB);
    Result r = rstest::resync_local(p, rstest::small_options());
    CHECK(r.complete);
    CHECK(r.stats.compared_bytes == 5 * MiB);
    CHECK(r.stats.regions == 5);
    CHECK(r.stats.regions_differing == 0);
    CHECK(r.stats.sent_bytes == 0);
    CHECK(r.stats.seconds > 0); // the summary's time, even without a progress callback
    CHECK(p.equal());
}

TEST_CASE("resync repairs a one-byte difference by sending one 4 KiB leaf")
{
    Pair p(5 * MiB);
    rstest::scribble(p.dst, 3 * MiB + 12345, 1);
    REQUIRE_FALSE(p.equal());
    Result r = rstest::resync_local(p, rstest::small_options());
    CHECK(r.complete);
    CHECK(r.stats.regions_differing == 1);
    CHECK(r.stats.leaves_differing == 1);
    CHECK(r.stats.sent_bytes == 4096);
    CHECK(p.equal());
}

TEST_CASE("resync repairs scattered 4 KiB blocks and sends only those")
{
    Pair p(8 * MiB);
    std::mt19937_64 rng(7);
    std::set<uint64_t> leaves;
    while (leaves.size() < 40)
        leaves.insert(rng() % (8 * MiB / 4096));
    for (uint64_t l : leaves)
        rstest::scribble(p.dst, l * 4096, 4096, l);
    Result r = rstest::resync_local(p, rstest::small_options());
    CHECK(r.complete);
    CHECK(r.stats.leaves_differing == leaves.size());
    CHECK(r.stats.differing_bytes == leaves.size() * 4096);
    CHECK(r.stats.sent_bytes == leaves.size() * 4096);
    CHECK(r.stats.payload_bytes < r.stats.sent_bytes); // lz4 shrank the data
    CHECK(p.equal());
}

TEST_CASE("resync repairs one large differing range spanning several regions")
{
    Pair p(8 * MiB);
    rstest::scribble(p.dst, MiB + 8192, 3 * MiB + 100);
    Result r = rstest::resync_local(p, rstest::small_options());
    CHECK(r.complete);
    CHECK(r.stats.regions_differing == 4);
    // 8192 .. 8192+3MiB+100 covers the leaves from 8192 up to the leaf holding its last byte.
    CHECK(r.stats.differing_bytes == 3 * MiB + 4096);
    CHECK(p.equal());
}

TEST_CASE("resync of a zeroed source sends zero extents without payload")
{
    Pair p(4 * MiB);
    rstest::write_file(p.src, std::vector<uint8_t>(4 * MiB, 0));
    Result r = rstest::resync_local(p, rstest::small_options());
    CHECK(r.complete);
    CHECK(r.stats.sent_bytes == 4 * MiB);
    CHECK(r.stats.zero_bytes == 4 * MiB);
    CHECK(r.stats.payload_bytes == 0);
    CHECK(p.equal());
}

TEST_CASE("resync handles a size that is not a multiple of the leaf")
{
    Pair p(3 * MiB + 1000);
    rstest::scribble(p.dst, 3 * MiB + 500, 10);
    Result r = rstest::resync_local(p, rstest::small_options());
    CHECK(r.complete);
    CHECK(r.stats.differing_bytes == 1000);
    CHECK(p.equal());
}

TEST_CASE("resync refuses a source shorter than the replica with a clear error")
{
    Pair p(4 * MiB);
    rstest::write_file(p.src, rstest::make_data(3 * MiB, 1));
    auto before = rstest::read_file(p.dst);
    CHECK_THROWS_WITH(rstest::resync_local(p, rstest::small_options()),
                      Catch::Contains("sizes must match") && Catch::Contains("3145728 bytes") &&
                          Catch::Contains("4194304 bytes"));
    CHECK(rstest::read_file(p.dst) == before);
}

TEST_CASE("resync refuses a source longer than the replica with a clear error")
{
    Pair p(4 * MiB);
    rstest::write_file(p.src, rstest::make_data(5 * MiB, 1));
    auto before = rstest::read_file(p.dst);
    CHECK_THROWS_WITH(rstest::resync_local(p, rstest::small_options()),
                      Catch::Contains("sizes must match"));
    CHECK(rstest::read_file(p.dst) == before);
}

TEST_CASE("resync with resize makes a replica image the source's size and equal")
{
    Pair p(4 * MiB);
    rstest::write_file(p.src, rstest::make_data(6 * MiB + 4096, 1));
    LocalPeerOptions po;
    po.resize = true;
    Result r = rstest::resync_local(p, rstest::small_options(), po);
    CHECK(r.complete);
    CHECK(p.equal());
}

TEST_CASE("resync with SHA-256 repairs the same differences")
{
    Pair p(4 * MiB);
    rstest::scribble(p.dst, 2 * MiB - 10, 20);
    Options o = rstest::small_options();
    o.geometry.hash = HashKind::sha256;
    Result r = rstest::resync_local(p, o);
    CHECK(r.stats.leaves_differing == 2);
    CHECK(p.equal());
}

TEST_CASE("resync with a window of one region gives the same result")
{
    Pair p(6 * MiB);
    rstest::scribble(p.dst, 100, 5);
    rstest::scribble(p.dst, 5 * MiB + 100, 5);
    Options o = rstest::small_options();
    o.window = 1;
    Result r = rstest::resync_local(p, o);
    CHECK(r.stats.leaves_differing == 2);
    CHECK(p.equal());
}

TEST_CASE("resync reports progress ending at the device size")
{
    Pair p(3 * MiB);
    rstest::scribble(p.dst, 0, 1);
    Options o = rstest::small_options();
    std::vector<Stats> seen;
    o.progress_interval = std::chrono::milliseconds(0);
    o.on_progress = [&](const Stats &s) { seen.push_back(s); };
    rstest::resync_local(p, o);
    REQUIRE(seen.size() >= 3);
    for (size_t i = 1; i < seen.size(); ++i)
        CHECK(seen[i].done_bytes >= seen[i - 1].done_bytes);
    CHECK(seen.back().done_bytes == 3 * MiB);
    CHECK(seen.back().sent_bytes == 4096);
}
