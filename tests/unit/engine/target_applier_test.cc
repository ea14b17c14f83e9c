// Applier: batches apply in sequence order and durably; duplicates are acknowledged without
// re-applying; gaps and overlaps are fatal; any bad extent, even after some extents were
// written, leaves the replica exactly at its last committed batch; a crash mid-batch is
// rolled back at the next open.
#include <catch2/catch.hpp>

#include <lz4.h>

#include "applier_fixture.h"
#include "target/applier.h"
#include "target_fixture.h"

using namespace cbtrep::target;
using namespace target_test;

namespace
{

constexpr uint64_t kSize = 16u << 20;
constexpr size_t kStage = 4u << 20; // the smallest staging buffer: flushes often

struct Fixture : ApplierFixture {
    Fixture() : ApplierFixture(kSize, kStage) {}
};

// Applies a batch of raw extents (data[i] at offsets[i]); returns the ACK.
cbt_wire_ack apply(Applier &a, uint64_t id, uint64_t first, uint64_t last,
                   const std::vector<std::pair<uint64_t, std::vector<uint8_t>>> &ext,
                   uint32_t flags = CBT_WB_CONSISTENT)
{
    uint64_t total = 0;
    for (auto &e : ext)
        total += e.second.size();
    a.begin(begin(id, first, last, uint32_t(ext.size()), total, flags));
    for (uint32_t i = 0; i < ext.size(); i++)
        a.extent(raw_extent(ext[i].first, ext[i].second, i), ext[i].second);
    return a.end(end(id, uint32_t(ext.size()), total, total));
}

uint32_t error_code(const std::function<void()> &fn)
{
    try {
        fn();
    } catch (const ApplyError &e) {
        return e.code();
    }
    return 0;
}

} // namespace

TEST_CASE("applier: a batch is applied, acknowledged and remembered across restarts",
          "[target][applier]")
{
    Fixture f;
    auto d1 = pattern(8192, 1), d2 = pattern(4096, 2);
    {
        auto a = f.open();
        CHECK(a->state().applied_seq == 0);
        auto ack = apply(*a, 1, 1, 3, {{0, d1}, {1 << 20, d2}});
        CHECK(ack.batch_id == 1);
        CHECK(ack.last_seq == 3);
        CHECK((ack.flags & CBT_WA_DUPLICATE) == 0);
    }
    auto img = f.image();
    CHECK(std::equal(d1.begin(), d1.end(), img.begin()));
    CHECK(std::equal(d2.begin(), d2.end(), img.begin() + (1 << 20)));
    auto a = f.open();
    CHECK(a->state().applied_seq == 3);
    CHECK(a->state().applied_batch_id == 1);
    CHECK(a->state().consistent_seq == 3);
}

TEST_CASE("applier: overlapping extents in one batch apply in order, across flushes",
          "[target][applier]")
{
    Fixture f;
    auto a = f.open();
    // 3 MiB + 3 MiB exceeds the 4 MiB staging buffer: the first is written before the second.
    auto big1 = pattern(3 << 20, 1), big2 = pattern(3 << 20, 2), small = pattern(4096, 3);
    apply(*a, 1, 1, 3, {{0, big1}, {1 << 20, big2}, {(1 << 20) + 4096, small}});
    auto img = f.image();
    CHECK(std::equal(big1.begin(), big1.begin() + (1 << 20), img.begin()));
    CHECK(std::equal(big2.begin(), big2.begin() + 4096, img.begin() + (1 << 20)));
    CHECK(std::equal(small.begin(), small.end(), img.begin() + (1 << 20) + 4096));
    CHECK(std::equal(big2.begin() + 8192, big2.end(), img.begin() + (1 << 20) + 8192));
}

TEST_CASE("applier: a duplicate batch is acknowledged without being applied again",
          "[target][applier]")
{
    Fixture f;
    auto a = f.open();
    apply(*a, 1, 1, 5, {{0, pattern(4096, 1)}});
    auto before = f.image();
    auto ack = apply(*a, 1, 1, 5, {{0, pattern(4096, 9)}}); // redelivered, other bytes
    CHECK((ack.flags & CBT_WA_DUPLICATE) != 0);
    CHECK(ack.last_seq == 5);
    CHECK(f.image() == before);
    CHECK(a->state().applied_seq == 5);
}

TEST_CASE("applier: sequence gaps and overlaps are fatal; SEQ_JUMP allows a gap",
          "[target][applier]")
{
    Fixture f;
    auto a = f.open();
    apply(*a, 1, 10, 20, {{0, pattern(512, 1)}}); // a fresh replica starts anywhere
    auto b = begin(2, 22, 30, 0, 0);
    try {
        a->begin(b);
        FAIL("gap accepted");
    } catch (const ApplyError &e) {
        CHECK(e.code() == CBT_WERR_SEQUENCE);
        CHECK_FALSE(e.recoverable());
        CHECK_THAT(e.what(), Catch::Contains("resync required"));
    }
    CHECK(error_code([&] { a->begin(begin(2, 15, 25, 0, 0)); }) == CBT_WERR_SEQUENCE);
    CHECK(a->begin(begin(2, 22, 30, 0, 0, CBT_WB_SEQ_JUMP)));
    auto ack = a->end(end(2, 0, 0, 0));
    CHECK(ack.last_seq == 30);
}

TEST_CASE("applier: a bad extent after written ones leaves the replica at its last batch",
          "[target][applier]")
{
    Fixture f;
    auto a = f.open();
    apply(*a, 1, 1, 1, {{0, pattern(1 << 20, 1)}});
    auto before = f.image();
    auto data = pattern(1 << 20, 2);
    a->begin(begin(2, 2, 8, 7, 7 << 20));
    for (uint32_t i = 0; i < 6; i++) // 6 MiB: the first 4 were flushed to the replica
        a->extent(raw_extent(uint64_t(i) << 20, data, i), data);
    REQUIRE(f.image() != before);

    SECTION("digest mismatch")
    {
        auto e = raw_extent(6u << 20, data, 6);
        e.digest[0] ^= 1;
        CHECK(error_code([&] { a->extent(e, data); }) == CBT_WERR_DIGEST);
    }
    SECTION("lz4 payload that does not decode")
    {
        auto e = raw_extent(6u << 20, data, 6);
        e.encoding = CBT_WE_LZ4;
        std::vector<uint8_t> junk(3000, 0xff);
        e.encoded_len = uint32_t(junk.size());
        CHECK(error_code([&] { a->extent(e, junk); }) == CBT_WERR_PROTOCOL);
    }
    SECTION("extent out of order")
    {
        CHECK(error_code([&] { a->extent(raw_extent(6u << 20, data, 9), data); }) ==
              CBT_WERR_PROTOCOL);
    }
    SECTION("extent beyond the replica")
    {
        CHECK(error_code([&] { a->extent(raw_extent(kSize - 4096, data, 6), data); }) ==
              CBT_WERR_PROTOCOL);
    }
    SECTION("totals that disagree")
    {
        a->extent(raw_extent(6u << 20, data, 6), data);
        CHECK(error_code([&] { a->end(end(2, 7, (7 << 20) + 512, 7 << 20)); }) ==
              CBT_WERR_PROTOCOL);
    }
    a->abort();
    CHECK(f.image() == before);
    CHECK(a->state().applied_seq == 1);
    // and the next batch applies normally
    apply(*a, 2, 2, 2, {{0, pattern(512, 4)}});
    CHECK(a->state().applied_seq == 2);
}

TEST_CASE("applier: a crash in the middle of a batch is rolled back at the next open",
          "[target][applier]")
{
    Fixture f;
    std::vector<uint8_t> before;
    {
        auto a = f.open();
        apply(*a, 1, 1, 1, {{0, pattern(1 << 20, 1)}});
        before = f.image();
        auto data = pattern(1 << 20, 2);
        a->begin(begin(2, 2, 7, 6, 6 << 20));
        for (uint32_t i = 0; i < 6; i++)
            a->extent(raw_extent(uint64_t(i) << 20, data, i), data);
        REQUIRE(f.image() != before);
        // destroyed without end() or abort(): a crash
    }
    auto a = f.open();
    CHECK(f.image() == before);
    CHECK(a->state().applied_seq == 1);
}

TEST_CASE("applier: lz4, zero and discard extents", "[target][applier]")
{
    Fixture f;
    auto a = f.open();
    apply(*a, 1, 1, 1, {{0, pattern(2 << 20, 1)}});
    std::vector<uint8_t> dec(1 << 20);
    for (size_t i = 0; i < dec.size(); i++)
        dec[i] = uint8_t(i / 4096);
    std::vector<uint8_t> comp(LZ4_compressBound(int(dec.size())));
    int n = LZ4_compress_default((const char *)dec.data(), (char *)comp.data(), int(dec.size()),
                                 int(comp.size()));
    REQUIRE(n > 0);
    comp.resize(size_t(n));
    auto lz = raw_extent(4 << 20, dec, 0);
    lz.encoding = CBT_WE_LZ4;
    lz.encoded_len = uint32_t(comp.size());
    a->begin(begin(2, 2, 4, 3, (1 << 20) + 8192 + 4096));
    a->extent(lz, comp);
    a->extent(zero_extent(0, 8192, 1), {});
    a->extent(zero_extent(1 << 20, 4096, 2, CBT_WE_DISCARD), {});
    a->end(end(2, 3, (1 << 20) + 8192 + 4096, comp.size()));
    auto img = f.image();
    CHECK(std::equal(dec.begin(), dec.end(), img.begin() + (4 << 20)));
    CHECK(std::all_of(img.begin(), img.begin() + 8192, [](uint8_t c) { return c == 0; }));
    CHECK(std::all_of(img.begin() + (1 << 20), img.begin() + (1 << 20) + 4096,
                      [](uint8_t c) { return c == 0; }));
    auto orig = pattern(2 << 20, 1);
    CHECK(img[8192] == orig[8192]);
}

TEST_CASE("applier: the source device identity is bound once and then enforced",
          "[target][applier]")
{
    Fixture f;
    auto a = f.open();
    uint8_t id1[16] = {1, 2, 3}, id2[16] = {9}, none[16] = {};
    a->check_or_bind_device(none); // unknown identities bind nothing
    a->check_or_bind_device(id1);
    a->check_or_bind_device(id1);
    CHECK(error_code([&] { a->check_or_bind_device(id2); }) == CBT_WERR_IDENTITY);
    auto b = f.open(); // persisted
    CHECK(error_code([&] { b->check_or_bind_device(id2); }) == CBT_WERR_IDENTITY);
}

TEST_CASE("applier: a tag is remembered with the batch that reaches it", "[target][applier]")
{
    Fixture f;
    // A tag outside the batch's sequence range is refused.
    auto a = f.open();
    auto b = begin(1, 1, 2, 0, 0, CBT_WB_CONSISTENT | CBT_WB_HAS_TAG);
    b.nr_tags = 1;
    a->begin(b);
    cbt_wire_tag t = device_tag(4, 9, "nightly");
    CHECK(error_code([&] { a->tag(t); }) == CBT_WERR_PROTOCOL);
    a->abort();
    a->begin(b);
    t.seq = 2;
    t.flags = CBT_TAG_APP_CONSISTENT;
    a->tag(t);
    auto e = end(1, 0, 0, 0);
    e.nr_tags = 1;
    a->end(e);
    CHECK(a->state().tag_id == 4);
    CHECK(std::string(a->state().tag_name) == "nightly");
    CHECK(f.open()->state().tag_seq == 2);
}

TEST_CASE("applier: initial-copy batches apply regardless of sequence and rebase applied_seq",
          "[target][applier]")
{
    Fixture f;
    auto a = f.open();
    apply(*a, 1, 1, 4, {{0, pattern(4096, 1)}});
    REQUIRE(a->state().flags & kStateConsistent);
    auto c1 = pattern(1 << 20, 5), c2 = pattern(1 << 20, 6);
    const uint32_t copy = CBT_WB_INITIAL | CBT_WB_SEQ_JUMP;
    // Several copy batches share one sequence number; none is a duplicate.
    auto ack1 = apply(*a, (1ull << 63) | 1, 4, 4, {{0, c1}}, copy);
    auto ack2 = apply(*a, (1ull << 63) | 2, 4, 4, {{1 << 20, c2}}, copy);
    CHECK((ack1.flags & CBT_WA_DUPLICATE) == 0);
    CHECK((ack2.flags & CBT_WA_DUPLICATE) == 0);
    auto img = f.image();
    CHECK(std::equal(c1.begin(), c1.end(), img.begin()));
    CHECK(std::equal(c2.begin(), c2.end(), img.begin() + (1 << 20)));
    CHECK(a->state().applied_seq == 3); // the journal resumes at the copy's seq
    CHECK_FALSE(a->state().flags & kStateConsistent);
    // A crash during a copy batch leaves nothing to roll back: it is sent again.
    a->begin(begin((1ull << 63) | 3, 4, 4, 1, 4096, copy));
    a->abort();
    // The journal resumes after the copy.
    apply(*a, 2, 9, 9, {{8192, pattern(512, 7)}}, CBT_WB_CONSISTENT | CBT_WB_SEQ_JUMP);
    CHECK(a->state().applied_seq == 9);
    CHECK(a->state().flags & kStateConsistent);
}

TEST_CASE("applier: a copy or a rebasing resync makes a replica follow a restarted numbering",
          "[target][applier]")
{
    // The replica applied up to seq 100; the source's tracker lost its metadata and counts
    // from 1 again. Without the rebase every new batch (seq <= 100) is taken for a duplicate.
    Fixture f;
    auto a = f.open();
    apply(*a, 1, 1, 100, {{0, pattern(4096, 1)}});
    auto d = pattern(4096, 2);
    CHECK(apply(*a, 2, 5, 6, {{4096, d}}).flags & CBT_WA_DUPLICATE); // what the rebase prevents

    SECTION("a copy batch")
    {
        apply(*a, (1ull << 63) | 1, 5, 5, {{0, pattern(1 << 20, 3)}},
              CBT_WB_INITIAL | CBT_WB_SEQ_JUMP);
        CHECK(a->state().applied_seq == 4);
    }
    SECTION("a resync with CBT_WRS_REBASE")
    {
        a->prepare_resync(4);
        CHECK(a->state().applied_seq == 4);
        CHECK_FALSE(a->state().flags & kStateConsistent);
        a.reset();
        a = f.open(); // durable: the state file says so after a restart
        CHECK(a->state().applied_seq == 4);
    }
    SECTION("a resync without it keeps the sequence")
    {
        a->prepare_resync();
        CHECK(a->state().applied_seq == 100);
        CHECK(apply(*a, 3, 5, 6, {{4096, d}}).flags & CBT_WA_DUPLICATE);
        return;
    }
    auto ack = apply(*a, 3, 5, 6, {{4096, d}}, CBT_WB_CONSISTENT);
    CHECK((ack.flags & CBT_WA_DUPLICATE) == 0);
    CHECK(a->state().applied_seq == 6);
    auto img = f.image();
    CHECK(std::equal(d.begin(), d.end(), img.begin() + 4096));
}
