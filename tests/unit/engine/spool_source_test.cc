// SpoolSource: the inner source is committed as soon as its batches are durable in the
// spool (the tracker frees its memory while the target is away); the sender side hands the
// batches out in order and its commits are the ACKs that delete segments.
#include <catch2/catch.hpp>

#include <thread>

#include "spool/spool_source.h"
#include "spool_fixture.h"

using namespace spooltest;
using cbtrep::source::FileSource;
using cbtrep::source::FileSourceOptions;
using cbtrep::spool::Spool;
using cbtrep::spool::SpoolSource;

TEST_CASE("spool source: the inner source is committed once batches are durable in the spool",
          "[spool]")
{
    TempDir tmp;
    auto path = stream_of(tmp, 30);
    FileSource inner(fso(path));
    Spool spool(options(tmp.str("spool")));
    SpoolSource src(inner, spool);

    // No sender progress at all (target unreachable): the pump alone drains the source.
    while (src.pump() > 0) {
    }
    REQUIRE(inner.cursor().batch_id == 30);
    REQUIRE(spool.stats().durable_seq == 30);
    REQUIRE(spool.stats().acked_seq == 0);
    auto segs_before = segments(spool.dir()).size();

    // The sender catches up: everything in order, each commit an ACK.
    for (uint64_t id = 1; id <= 30; id++) {
        auto b = src.next_batch();
        REQUIRE(b);
        REQUIRE(b->id() == id);
        src.commit(b->id());
    }
    REQUIRE_FALSE(src.next_batch().has_value());
    REQUIRE(spool.stats().acked_seq == 30);
    REQUIRE(segments(spool.dir()).size() < segs_before);
}

TEST_CASE("spool source: after a restart the unacknowledged batches are shipped again", "[spool]")
{
    TempDir tmp;
    auto path = stream_of(tmp, 10);
    {
        FileSource inner(fso(path));
        Spool spool(options(tmp.str("spool")));
        SpoolSource src(inner, spool);
        for (int i = 0; i < 4; i++)
            src.commit(src.next_batch()->id());
        src.next_batch(); // handed out, never acknowledged
    }
    FileSource inner(fso(path));
    REQUIRE(inner.cursor().batch_id == 10); // the tracker side was committed
    Spool spool(options(tmp.str("spool")));
    SpoolSource src(inner, spool);
    REQUIRE(ship_all(src) == std::vector<uint64_t>{5, 6, 7, 8, 9, 10});
}

TEST_CASE("spool source: commit out of order is refused", "[spool]")
{
    TempDir tmp;
    auto path = stream_of(tmp, 3);
    FileSource inner(fso(path));
    Spool spool(options(tmp.str("spool")));
    SpoolSource src(inner, spool);
    src.next_batch();
    auto b2 = src.next_batch();
    REQUIRE_THROWS_WITH(src.commit(b2->id()), Catch::Contains("out of order"));
}

TEST_CASE("spool source: at the limit the inner source keeps what did not fit", "[spool]")
{
    TempDir tmp;
    auto path = stream_of(tmp, 20);
    FileSource inner(fso(path));
    auto o = options(tmp.str("spool"));
    o.limit_bytes = 4 * (sizeof(cbt_batch) + sizeof(cbt_record) + 8192) + sizeof(cbt_spool_seg_hdr);
    Spool spool(o);
    SpoolSource src(inner, spool);
    REQUIRE_THROWS_AS(src.pump(), cbtrep::spool::SpoolLimitError);
    REQUIRE(inner.cursor().batch_id == 4);  // the 4 that fit are durable and committed
    REQUIRE(inner.next_batch()->id() == 5); // the rest is still the tracker's
}

TEST_CASE("spool source: the pump thread drains the source while nobody ships", "[spool]")
{
    TempDir tmp;
    auto path = stream_of(tmp, 25);
    FileSource inner(fso(path));
    Spool spool(options(tmp.str("spool")));
    SpoolSource src(inner, spool);
    src.start_pump_thread();
    for (int i = 0; i < 200 && spool.stats().durable_seq < 25; i++)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    REQUIRE(spool.stats().durable_seq == 25);
    REQUIRE(src.wait(std::chrono::milliseconds(0)));
    REQUIRE(src.next_batch()->id() == 1);
}
