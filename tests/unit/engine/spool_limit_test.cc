// Spool at its limit: discard() drops every unacknowledged batch and segment, persists the
// new ACK point first (a reopen never replays what was dropped), and the spool goes on
// after the last durable seq, so the source's redelivered batches continue it.
#include <catch2/catch.hpp>

#include "spool_fixture.h"

using namespace spooltest;
using cbtrep::spool::Spool;

TEST_CASE("spool: discard drops every unacknowledged batch and segment", "[spool]")
{
    TempDir tmp;
    auto batches = make_batches(tmp, 30);
    auto o = options(tmp.str("spool"));
    Spool s(o);
    for (auto &b : batches)
        REQUIRE(s.append(b));
    s.sync();
    REQUIRE(s.next()->id() == 1);
    s.ack(batches[4].header().last_seq);
    REQUIRE(segments(o.dir).size() > 2);

    REQUIRE(s.discard() == 25);
    auto st = s.stats();
    REQUIRE(st.batches == 0);
    REQUIRE(st.segments == 0);
    REQUIRE(st.bytes == 0);
    REQUIRE(st.acked_seq == batches.back().header().last_seq);
    REQUIRE(st.oldest_unacked_seq == 0);
    REQUIRE(segments(o.dir).empty());
    REQUIRE_FALSE(s.next().has_value());
    // A late ACK of a batch handed out before the drop is harmless.
    s.ack(batches[6].header().last_seq);
    REQUIRE(s.stats().acked_seq == batches.back().header().last_seq);
}

TEST_CASE("spool: after discard a reopen replays nothing and appends continue the sequence",
          "[spool]")
{
    TempDir tmp;
    auto batches = make_batches(tmp, 20);
    const uint64_t last = batches.back().header().last_seq;
    auto more = make_batches(tmp, 5, 8192, last + 1);
    auto o = options(tmp.str("spool"));
    {
        Spool s(o);
        for (auto &b : batches)
            s.append(b);
        s.sync();
        s.discard();
    }
    Spool s(o);
    REQUIRE(drain(s).empty());
    REQUIRE(s.stats().acked_seq == last);
    // What the source hands out next (seq last + 1 ..) goes in; a gap would still be refused.
    for (auto &b : more)
        REQUIRE(s.append(b));
    s.sync();
    auto got = drain(s);
    REQUIRE(got.size() == 5);
    REQUIRE(got.front().header().first_seq == last + 1);
}

TEST_CASE("spool: discard drops unsynced appends too; the source redelivers them", "[spool]")
{
    TempDir tmp;
    auto batches = make_batches(tmp, 10);
    auto o = options(tmp.str("spool"));
    o.segment_bytes = 64 << 20; // no rotation: it would sync on its own
    Spool s(o);
    for (int i = 0; i < 6; i++)
        s.append(batches[size_t(i)]);
    s.sync();
    for (int i = 6; i < 10; i++) // appended, never synced: not committed in the source
        s.append(batches[size_t(i)]);
    s.discard();
    REQUIRE(s.stats().acked_seq == batches[5].header().last_seq);
    // Redelivered from the next seq: accepted (not mistaken for "already spooled").
    for (int i = 6; i < 10; i++)
        REQUIRE(s.append(batches[size_t(i)]));
    REQUIRE(s.sync() == batches.back().header().last_seq);
    REQUIRE(drain(s).size() == 4);
}

TEST_CASE("spool: a crash after discard persisted its ACK point leaves nothing to replay",
          "[spool]")
{
    TempDir tmp;
    auto batches = make_batches(tmp, 20);
    auto o = options(tmp.str("spool"));
    {
        Spool s(o);
        for (auto &b : batches)
            s.append(b);
        s.sync();
    }
    // What discard() writes first, alone, as if the process died right after it.
    cbtrep::source::Cursor c;
    c.offset = sizeof(cbt_spool_seg_hdr);
    c.last_seq = batches.back().header().last_seq;
    cbtrep::source::store_cursor(o.dir + "/acked", c);
    REQUIRE_FALSE(segments(o.dir).empty());
    Spool s(o);
    REQUIRE(drain(s).empty());
    REQUIRE(segments(o.dir).empty());
}
