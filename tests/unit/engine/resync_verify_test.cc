// Verify: read-only, reports exactly the differing ranges (merged, leaf granularity), and
// re-checks a mismatch before reporting it.
#include <catch2/catch.hpp>

#include "resync_fixture.h"

using namespace cbtrep::resync;
using rstest::Pair;

namespace
{

constexpr size_t MiB = 1u << 20;

std::vector<std::pair<uint64_t, uint64_t>> as_pairs(const std::vector<Range> &v)
{
    std::vector<std::pair<uint64_t, uint64_t>> out;
    for (const Range &r : v)
        out.emplace_back(r.offset, r.length);
    return out;
}

// A local peer that repairs the replica right before the re-check, as if the live source's
// difference had only been a write in flight that replication has since applied.
class SettlingPeer : public LocalPeer
{
  public:
    SettlingPeer(const std::string &dst, const std::string &src, LocalPeerOptions o)
        : LocalPeer(dst, o), dst_(dst), src_(src)
    {
    }
    void request(HashRequest req) override
    {
        if (req.kind == RequestKind::rehash)
            rstest::write_file(dst_, rstest::read_file(src_));
        LocalPeer::request(std::move(req));
    }

  private:
    std::string dst_, src_;
};

} // namespace

TEST_CASE("verify of identical images reports no difference")
{
    Pair p(5 * MiB);
    Result r = rstest::verify_local(p, rstest::small_options());
    CHECK(r.complete);
    CHECK(r.differing.empty());
    CHECK(r.stats.compared_bytes == 5 * MiB);
}

TEST_CASE("verify reports exactly the differing leaves, merged into ranges")
{
    Pair p(8 * MiB);
    rstest::scribble(p.dst, 10, 1);                    // leaf 0
    rstest::scribble(p.dst, MiB - 4096, 8192);         // last leaf of region 0 + first of 1
    rstest::scribble(p.dst, 5 * MiB + 4096 * 3, 4096); // one aligned leaf
    rstest::scribble(p.dst, 7 * MiB + 1, 3 * 4096);    // 4 leaves (unaligned start)
    Result r = rstest::verify_local(p, rstest::small_options());
    CHECK(r.complete);
    std::vector<std::pair<uint64_t, uint64_t>> want = {
        {0, 4096},
        {MiB - 4096, 8192},
        {5 * MiB + 4096 * 3, 4096},
        {7 * MiB, 4 * 4096},
    };
    CHECK(as_pairs(r.differing) == want);
}

TEST_CASE("verify never writes to the replica")
{
    Pair p(4 * MiB);
    rstest::scribble(p.dst, 2 * MiB, 100);
    auto before = rstest::read_file(p.dst);
    Result r = rstest::verify_local(p, rstest::small_options());
    CHECK(r.differing.size() == 1);
    CHECK(r.stats.sent_bytes == 0);
    CHECK(rstest::read_file(p.dst) == before);
}

TEST_CASE("verify reports a whole zeroed source as one range")
{
    Pair p(3 * MiB);
    rstest::write_file(p.src, std::vector<uint8_t>(3 * MiB, 0));
    Result r = rstest::verify_local(p, rstest::small_options());
    CHECK(as_pairs(r.differing) == std::vector<std::pair<uint64_t, uint64_t>>{{0, 3 * MiB}});
}

TEST_CASE("verify does not report a mismatch that is gone when re-checked")
{
    Pair p(4 * MiB);
    rstest::scribble(p.dst, MiB + 5, 1);
    Options o = rstest::small_options();
    o.verify = true;
    LocalPeerOptions po;
    po.read_only = true;
    SettlingPeer peer(p.dst, p.src, po);
    Result r = run(p.src, peer, o);
    CHECK(r.differing.empty());
    CHECK(r.stats.rechecked_equal == 1);
}

TEST_CASE("verify without re-check reports the first reading")
{
    Pair p(4 * MiB);
    rstest::scribble(p.dst, MiB + 5, 1);
    Options o = rstest::small_options();
    o.verify = true;
    o.recheck = false;
    LocalPeerOptions po;
    po.read_only = true;
    SettlingPeer peer(p.dst, p.src, po);
    Result r = run(p.src, peer, o);
    CHECK(as_pairs(r.differing) == std::vector<std::pair<uint64_t, uint64_t>>{{MiB, 4096}});
}

TEST_CASE("verify refuses images of different sizes")
{
    Pair p(4 * MiB);
    rstest::write_file(p.src, rstest::make_data(4 * MiB + 512, 1));
    CHECK_THROWS_WITH(rstest::verify_local(p, rstest::small_options()),
                      Catch::Contains("sizes must match"));
}
