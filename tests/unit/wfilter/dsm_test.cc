// IOCTL_STORAGE_MANAGE_DATA_SET_ATTRIBUTES parsing: which requests change data, and where.
#include <catch2/catch.hpp>

#include <cstring>
#include <utility>
#include <vector>

extern "C" {
#include "lib/dsm.h"
}

namespace
{

struct Req {
    std::vector<uint8_t> b;
    Req(uint32_t action, uint32_t flags, const std::vector<std::pair<int64_t, uint64_t>> &ranges,
        uint32_t roff = 32)
    {
        b.assign(roff + ranges.size() * 16, 0);
        put32(0, CBT_DSM_HDR_SIZE);
        put32(4, action);
        put32(8, flags);
        put32(20, ranges.empty() ? 0 : roff);
        put32(24, (uint32_t)ranges.size() * 16);
        for (size_t i = 0; i < ranges.size(); i++) {
            put64(roff + 16 * i, (uint64_t)ranges[i].first);
            put64(roff + 16 * i + 8, ranges[i].second);
        }
    }
    void put32(size_t o, uint32_t v) { std::memcpy(&b[o], &v, 4); }
    void put64(size_t o, uint64_t v) { std::memcpy(&b[o], &v, 8); }
};

struct Seen {
    std::vector<std::pair<uint64_t, uint64_t>> r;
};

void collect(void *ctx, uint64_t off, uint64_t len)
{
    static_cast<Seen *>(ctx)->r.emplace_back(off, len);
}

int parse(const std::vector<uint8_t> &b, Seen &s, uint32_t *action = nullptr)
{
    return cbt_dsm_parse(b.data(), b.size(), action, collect, &s);
}

} // namespace

TEST_CASE("TRIM reports each non-empty range in order", "[wfilter][dsm]")
{
    Req q(CBT_DSM_ACTION_TRIM, 0, {{4096, 8192}, {1 << 20, 0}, {0, 512}});
    Seen s;
    uint32_t action = 0;
    REQUIRE(parse(q.b, s, &action) == CBT_DSM_RANGES);
    CHECK(action == CBT_DSM_ACTION_TRIM);
    REQUIRE(s.r.size() == 2);
    CHECK(s.r[0] == std::make_pair<uint64_t, uint64_t>(4096, 8192));
    CHECK(s.r[1] == std::make_pair<uint64_t, uint64_t>(0, 512));
}

TEST_CASE("offload write is destructive, notification and offload read are not", "[wfilter][dsm]")
{
    Seen s;
    CHECK(parse(Req(CBT_DSM_ACTION_OFFLOAD_WRITE, 0, {{0, 4096}}).b, s) == CBT_DSM_RANGES);
    CHECK(s.r.size() == 1);
    Seen n;
    CHECK(parse(Req(2 | CBT_DSM_ACTION_NON_DESTRUCTIVE, 0, {{0, 4096}}).b, n) == CBT_DSM_NO_CHANGE);
    CHECK(parse(Req(3 | CBT_DSM_ACTION_NON_DESTRUCTIVE, 0, {{0, 4096}}).b, n) == CBT_DSM_NO_CHANGE);
    CHECK(parse(Req(CBT_DSM_ACTION_NONE, 0, {{0, 4096}}).b, n) == CBT_DSM_NO_CHANGE);
    CHECK(n.r.empty());
}

TEST_CASE("entire-range flag means the whole device", "[wfilter][dsm]")
{
    Seen s;
    CHECK(parse(Req(CBT_DSM_ACTION_TRIM, CBT_DSM_FLAG_ENTIRE_RANGE, {}).b, s) == CBT_DSM_WHOLE);
    CHECK(s.r.empty());
}

TEST_CASE("malformed requests are rejected before any range is reported", "[wfilter][dsm]")
{
    Seen s;
    SECTION("truncated header")
    {
        Req q(CBT_DSM_ACTION_TRIM, 0, {});
        CHECK(cbt_dsm_parse(q.b.data(), CBT_DSM_HDR_SIZE - 1, nullptr, collect, &s) == CBT_DSM_BAD);
        CHECK(cbt_dsm_parse(nullptr, 100, nullptr, collect, &s) == CBT_DSM_BAD);
    }
    SECTION("Size field larger than the buffer")
    {
        Req q(CBT_DSM_ACTION_TRIM, 0, {{0, 512}});
        q.put32(0, (uint32_t)q.b.size() + 1);
        CHECK(parse(q.b, s) == CBT_DSM_BAD);
    }
    SECTION("ranges past the end of the buffer")
    {
        Req q(CBT_DSM_ACTION_TRIM, 0, {{0, 512}});
        q.put32(24, 32);
        CHECK(parse(q.b, s) == CBT_DSM_BAD);
    }
    SECTION("ranges length not a multiple of the range size")
    {
        Req q(CBT_DSM_ACTION_TRIM, 0, {{0, 512}});
        q.put32(24, 15);
        CHECK(parse(q.b, s) == CBT_DSM_BAD);
    }
    SECTION("ranges overlapping the header")
    {
        Req q(CBT_DSM_ACTION_TRIM, 0, {{0, 512}});
        q.put32(20, 8);
        CHECK(parse(q.b, s) == CBT_DSM_BAD);
    }
    SECTION("negative offset in the second range")
    {
        CHECK(parse(Req(CBT_DSM_ACTION_TRIM, 0, {{0, 512}, {-512, 512}}).b, s) == CBT_DSM_BAD);
    }
    SECTION("offset plus length wraps")
    {
        CHECK(parse(Req(CBT_DSM_ACTION_TRIM, 0, {{0, 512}, {4096, UINT64_MAX}}).b, s) ==
              CBT_DSM_BAD);
    }
    CHECK(s.r.empty());
}

TEST_CASE("a destructive request with no ranges changes nothing", "[wfilter][dsm]")
{
    Seen s;
    CHECK(parse(Req(CBT_DSM_ACTION_TRIM, 0, {}).b, s) == CBT_DSM_RANGES);
    CHECK(s.r.empty());
}
