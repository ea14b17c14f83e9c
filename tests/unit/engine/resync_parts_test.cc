// The small parts of resync: hashes, geometry rules, range merging, the rate limiter.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstring>

#include "resync/block_hasher.h"
#include "resync/geometry.h"
#include "resync/hash.h"
#include "resync/rate_limit.h"
#include "resync/resync.h"
#include "resync_fixture.h"

using namespace cbtrep::resync;

TEST_CASE("XXH3-128 and SHA-256 give known answers")
{
    const char *abc = "abc";
    std::span<const uint8_t> s(reinterpret_cast<const uint8_t *>(abc), 3);
    Hasher sha(HashKind::sha256);
    Hash h = sha(s);
    const uint8_t want[8] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea};
    CHECK(std::memcmp(h.bytes.data(), want, 8) == 0);
    Hasher x(HashKind::xxh3_128);
    Hash a = x(s), b = x(s);
    CHECK(a == b);
    CHECK(x.len() == 16);
    // The unused half of an XXH3 hash stays zero so comparisons see only the 128 bits.
    for (size_t i = 16; i < 32; ++i)
        CHECK(a.bytes[i] == 0);
    CHECK_FALSE(a == x(s.first(2)));
}

TEST_CASE("hash names parse and unknown ones are refused")
{
    CHECK(parse_hash_kind("xxh3-128") == HashKind::xxh3_128);
    CHECK(parse_hash_kind("sha256") == HashKind::sha256);
    CHECK_THROWS_WITH(parse_hash_kind("crc32"), Catch::Contains("expected xxh3-128 or sha256"));
}

TEST_CASE("geometry rules name the bad level")
{
    Geometry g;
    CHECK_NOTHROW(validate(g));
    g.leaf_bytes = 3000;
    CHECK_THROWS_WITH(validate(g), Catch::Contains("leaf size"));
    g = {};
    g.block_bytes = 2048;
    CHECK_THROWS_WITH(validate(g), Catch::Contains("block size"));
    g = {};
    g.region_bytes = 2ull << 30;
    CHECK_THROWS_WITH(validate(g), Catch::Contains("region size"));
    CHECK(describe(Geometry{}) == "16 MiB regions, 64 KiB blocks, 4 KiB leaves, xxh3-128");
}

TEST_CASE("a region tree's root changes when any one leaf changes")
{
    rstest::TempDir d;
    auto data = rstest::make_data(1u << 20, 3);
    rstest::write_file(d / "a", data);
    data[700000] ^= 1;
    rstest::write_file(d / "b", data);
    Geometry g = rstest::small_options().geometry;
    BlockHasher ha(d / "a", g, {}), hb(d / "b", g, {});
    RegionTree ta = ha.hash_region(0), tb = hb.hash_region(0);
    CHECK(ta.leaves.size() == 256);
    CHECK(ta.blocks.size() == 16);
    CHECK_FALSE(ta.root == tb.root);
    size_t leaf = 700000 / 4096, block = 700000 / 65536;
    for (size_t i = 0; i < ta.leaves.size(); ++i)
        CHECK((ta.leaves[i] == tb.leaves[i]) == (i != leaf));
    for (size_t i = 0; i < ta.blocks.size(); ++i)
        CHECK((ta.blocks[i] == tb.blocks[i]) == (i != block));
}

TEST_CASE("adjacent ranges merge and separate ones do not")
{
    std::vector<Range> v;
    append_merged(v, 0, 4096);
    append_merged(v, 4096, 4096);
    append_merged(v, 12288, 4096);
    REQUIRE(v.size() == 2);
    CHECK(v[0].offset == 0);
    CHECK(v[0].length == 8192);
    CHECK(v[1].offset == 12288);
}

TEST_CASE("the rate limiter makes a caller wait once the burst is spent")
{
    RateLimiter unlimited(0);
    CHECK(unlimited.wait_for(1ull << 40) == RateLimiter::Clock::duration::zero());
    RateLimiter lim(8u << 20); // 8 MiB/s: burst 2 MiB
    CHECK(lim.wait_for(1u << 20) == RateLimiter::Clock::duration::zero());
    lim.acquire(2u << 20);
    CHECK(lim.wait_for(1u << 20) > std::chrono::milliseconds(50));
}
