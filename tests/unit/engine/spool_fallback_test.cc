// SpoolSource at its limit (issue 9): the tracker is set resync-required with
// CBT_REASON_SPOOL_LIMIT before the log is dropped, nothing is handed out until the resync
// is done, then batches flow again (straight through while the spool has no room, through
// the spool once it has) and none the tracker still held is skipped.
#include <catch2/catch.hpp>

#include <cerrno>

#include "spool/spool_source.h"
#include "spool_fixture.h"

using namespace spooltest;
using cbtrep::source::FileSource;
using cbtrep::source::FileSourceOptions;
using cbtrep::spool::Spool;
using cbtrep::spool::SpoolSource;

namespace
{

constexpr uint64_t batch_bytes = sizeof(cbt_batch) + sizeof(cbt_record) + 8192;

// Room for 4 batches in one segment.
cbtrep::spool::SpoolOptions small(const TempDir &tmp)
{
    auto o = options(tmp.str("spool"));
    o.segment_bytes = 64 << 20;
    o.limit_bytes = 4 * batch_bytes + sizeof(cbt_spool_seg_hdr);
    return o;
}

// What the sender side of the engine does after a resync: the cut it followed, then DONE.
void resync(SpoolSource &src)
{
    uint64_t gen = src.bitmap_cut(0);
    REQUIRE(src.resync_done(gen).cleared);
}

} // namespace

TEST_CASE("spool fallback: the limit sets resync-required, drops the log, hands out nothing",
          "[spool]")
{
    TempDir tmp;
    auto path = stream_of(tmp, 20);
    FileSource inner(fso(path));
    Spool spool(small(tmp));
    SpoolSource src(inner, spool);

    while (src.pump_or_fall_back() > 0) {
    }
    auto st = src.spool_status();
    REQUIRE(st.state == "dropped");
    REQUIRE(st.drops == 1);
    REQUIRE_THAT(st.reason, Catch::Contains("replication log reached its limit"));
    auto ts = inner.status();
    REQUIRE(ts.state == CBT_STATE_RESYNC_REQUIRED);
    REQUIRE(ts.state_reason == CBT_REASON_SPOOL_LIMIT);
    REQUIRE(st.stats.batches == 0);
    REQUIRE(segments(spool.dir()).empty());
    // The 4 that fitted were committed in the tracker (the resync covers them); the rest is
    // still the tracker's.
    REQUIRE(inner.cursor().batch_id == 4);
    REQUIRE_FALSE(src.next_batch().has_value());
    REQUIRE(src.wait(std::chrono::milliseconds(0))); // not drained: a resync is pending
    REQUIRE_FALSE(src.pump_or_fall_back());          // nothing pulled from the tracker
    REQUIRE(inner.cursor().batch_id == 4);
}

TEST_CASE("spool fallback: after the resync every batch the tracker kept comes, in order",
          "[spool]")
{
    TempDir tmp;
    auto path = stream_of(tmp, 12);
    FileSource inner(fso(path));
    auto o = small(tmp);
    o.limit_bytes = 8 * batch_bytes + sizeof(cbt_spool_seg_hdr);
    Spool spool(o);
    SpoolSource src(inner, spool);
    // Fill to the limit once: batches 1..8 spooled, then dropped.
    while (src.pump_or_fall_back() > 0) {
    }
    REQUIRE(src.spool_status().state == "dropped");
    resync(src);
    REQUIRE(inner.status().state == CBT_STATE_DIRTY);
    REQUIRE(ship(src, 4) == std::vector<uint64_t>{9, 10, 11, 12});
    REQUIRE(src.spool_status().state == "spooling"); // the spool had room again
    REQUIRE(spool.stats().acked_seq == 12);
}

TEST_CASE("spool fallback: with no room after the resync, batches pass straight through", "[spool]")
{
    TempDir tmp;
    auto path = stream_of(tmp, 10);
    FileSource inner(fso(path));
    auto o = small(tmp);
    o.reserve_bytes = 1ull << 60; // the spool volume is "full" throughout
    Spool spool(o);
    SpoolSource src(inner, spool);
    while (src.pump_or_fall_back() > 0) {
    }
    REQUIRE(src.spool_status().state == "dropped");
    uint64_t kept_from = inner.cursor().batch_id + 1;
    resync(src);
    REQUIRE(src.spool_status().state == "direct");
    std::vector<uint64_t> ids = ship_all(src);
    REQUIRE(!ids.empty());
    REQUIRE(ids.front() == kept_from);
    REQUIRE(ids.back() == 10);
    REQUIRE(ids.size() == 10 - kept_from + 1);
    REQUIRE(inner.cursor().batch_id == 10); // committed in the tracker by the sender's ACKs
    REQUIRE(src.spool_status().state == "direct");
}

TEST_CASE("spool fallback: ENOSPC on the spool volume falls back the same way", "[spool]")
{
    TempDir tmp;
    auto path = stream_of(tmp, 10);
    FileSource inner(fso(path));
    auto o = options(tmp.str("spool"));
    bool full = false;
    o.write_fn = enospc_while(full);
    o.write_buffer_bytes = 1; // every append is written at once
    Spool spool(o);
    SpoolSource src(inner, spool);
    REQUIRE(src.pump_or_fall_back(batch_bytes * 3) == 3);
    full = true;
    REQUIRE(src.pump_or_fall_back() == 0);
    auto st = src.spool_status();
    REQUIRE(st.state == "dropped");
    REQUIRE_THAT(st.reason, Catch::Contains("No space left on device"));
    REQUIRE(inner.status().state_reason == CBT_REASON_SPOOL_LIMIT);
    REQUIRE(inner.cursor().batch_id == 3); // nothing unsynced was committed in the tracker
    full = false;
    resync(src);
    REQUIRE(src.next_batch() == std::nullopt); // hands over to the spool
    REQUIRE(ship(src, 7) == std::vector<uint64_t>{4, 5, 6, 7, 8, 9, 10});
}

TEST_CASE("spool fallback: a restart while the resync is pending keeps the log dropped", "[spool]")
{
    TempDir tmp;
    auto path = stream_of(tmp, 10);
    {
        FileSource inner(fso(path));
        Spool spool(options(tmp.str("spool")));
        SpoolSource src(inner, spool);
        while (src.pump() > 0) {
        }
        // As if the engine died right after setting resync-required, before the drop.
        inner.require_resync(CBT_REASON_SPOOL_LIMIT);
    }
    REQUIRE_FALSE(segments(tmp.str("spool")).empty());
    FileSource inner(fso(path));
    Spool spool(options(tmp.str("spool")));
    SpoolSource src(inner, spool);
    REQUIRE(src.spool_status().state == "dropped");
    REQUIRE(segments(tmp.str("spool")).empty());
    REQUIRE_FALSE(src.next_batch().has_value()); // the stale log is never shipped
}
