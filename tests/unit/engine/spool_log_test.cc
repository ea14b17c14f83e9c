// Spool: batches survive a reopen in order, a torn tail is cut and nothing before it lost,
// segments go only once ACKed, the bound and a full volume are clear errors.
#include <catch2/catch.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sys/mount.h>

#include "scratch_dir.h"
#include "spool_fixture.h"

using namespace spooltest;
using cbtrep::spool::Spool;
using enginetest::flip_byte;

namespace
{

void require_same(const std::vector<Batch> &got, const std::vector<Batch> &want, size_t n)
{
    REQUIRE(got.size() == n);
    for (size_t i = 0; i < n; i++) {
        REQUIRE(got[i].id() == want[i].id());
        REQUIRE(got[i].header().first_seq == want[i].header().first_seq);
        REQUIRE(got[i].records().size() == want[i].records().size());
        for (size_t r = 0; r < got[i].records().size(); r++) {
            auto a = got[i].records()[r].data, b = want[i].records()[r].data;
            REQUIRE(std::equal(a.begin(), a.end(), b.begin(), b.end()));
        }
    }
}

void append_all(Spool &s, const std::vector<Batch> &batches)
{
    for (auto &b : batches)
        REQUIRE(s.append(b));
    s.sync();
}

// Spools every batch durably and closes the spool, as a clean stop would.
void spool_all(const cbtrep::spool::SpoolOptions &o, const std::vector<Batch> &batches)
{
    Spool s(o);
    append_all(s, batches);
}

} // namespace

TEST_CASE("spool: batches appended and synced come back in order after a reopen", "[spool]")
{
    TempDir tmp;
    auto batches = make_batches(tmp, 40);
    {
        Spool s(options(tmp.str("spool")));
        for (auto &b : batches)
            REQUIRE(s.append(b));
        REQUIRE(s.sync() == batches.back().header().last_seq);
    }
    REQUIRE(segments(tmp.str("spool")).size() > 1); // rotation happened
    Spool s(options(tmp.str("spool")));
    require_same(drain(s), batches, batches.size());
    REQUIRE(s.stats().durable_seq == batches.back().header().last_seq);
}

TEST_CASE("spool: the reader sees only synced batches", "[spool]")
{
    TempDir tmp;
    auto batches = make_batches(tmp, 3);
    Spool s(options(tmp.str("spool")));
    s.append(batches[0]);
    REQUIRE_FALSE(s.next().has_value());
    s.sync();
    REQUIRE(s.next()->id() == batches[0].id());
}

TEST_CASE("spool: a batch cut mid-way by a crash is cut at reopen, all before it kept", "[spool]")
{
    TempDir tmp;
    auto batches = make_batches(tmp, 12);
    auto o = options(tmp.str("spool"));
    o.segment_bytes = 1 << 30;
    spool_all(o, batches);
    auto segs = segments(o.dir);
    REQUIRE(segs.size() == 1);
    uint64_t size = fs::file_size(segs[0]);
    fs::resize_file(segs[0], size - batches.back().size_bytes() / 2);
    Spool s(o);
    require_same(drain(s), batches, batches.size() - 1);
    REQUIRE(fs::file_size(segs[0]) == size - batches.back().size_bytes());
    // Appending continues where the cut left off.
    REQUIRE(s.append(batches.back()));
    s.sync();
    REQUIRE(s.next()->id() == batches.back().id());
}

TEST_CASE("spool: a flipped CRC byte in the last batch cuts that batch only", "[spool]")
{
    TempDir tmp;
    auto batches = make_batches(tmp, 12);
    auto o = options(tmp.str("spool"));
    o.segment_bytes = 1 << 30;
    spool_all(o, batches);
    auto seg = segments(o.dir).at(0);
    uint64_t size = fs::file_size(seg);
    // The last batch's first record's data_crc (batch header 64 + record offset 56).
    flip_byte(seg, size - batches.back().size_bytes() + 64 + 56);
    Spool s(o);
    require_same(drain(s), batches, batches.size() - 1);
    REQUIRE(s.stats().durable_seq == batches[batches.size() - 2].header().last_seq);
}

TEST_CASE("spool: a damaged segment that is not the last one is refused, not cut", "[spool]")
{
    TempDir tmp;
    auto batches = make_batches(tmp, 40);
    auto o = options(tmp.str("spool"));
    spool_all(o, batches);
    auto segs = segments(o.dir);
    REQUIRE(segs.size() > 2);
    flip_byte(segs[0], sizeof(cbt_spool_seg_hdr) + 8); // first batch header's batch_id
    REQUIRE_THROWS_WITH(Spool(o), Catch::Contains("the spool is damaged"));
}

TEST_CASE("spool: a segment is deleted only once the ACK covers its last batch", "[spool]")
{
    TempDir tmp;
    auto batches = make_batches(tmp, 40);
    auto o = options(tmp.str("spool"));
    Spool s(o);
    append_all(s, batches);
    auto segs = segments(o.dir);
    REQUIRE(segs.size() >= 3);
    auto got = drain(s);
    REQUIRE(got.size() == batches.size());

    // Find the last batch of the first segment by offsets: segment 1 holds the batches
    // that fit in segment_bytes.
    uint64_t used = sizeof(cbt_spool_seg_hdr);
    size_t in_first = 0;
    while (used + batches[in_first].size_bytes() <= o.segment_bytes)
        used += batches[in_first++].size_bytes();
    REQUIRE(in_first > 1);

    s.ack(batches[in_first - 2].header().last_seq); // not all of segment 1
    REQUIRE(segments(o.dir) == segs);
    s.ack(batches[in_first - 1].header().last_seq); // all of it
    auto now = segments(o.dir);
    REQUIRE(now.size() == segs.size() - 1);
    REQUIRE(now.front() == segs[1]);

    // The ACK persists: a reopen hands out only what follows it.
    s.ack(batches[in_first].header().last_seq);
    Spool again(o);
    auto rest = drain(again);
    REQUIRE(rest.size() == batches.size() - in_first - 1);
    REQUIRE(rest.front().id() == batches[in_first + 1].id());
}

TEST_CASE("spool: rewind hands out the unacknowledged batches again", "[spool]")
{
    TempDir tmp;
    auto batches = make_batches(tmp, 5);
    Spool s(options(tmp.str("spool")));
    append_all(s, batches);
    drain(s);
    s.ack(batches[1].header().last_seq);
    s.rewind();
    REQUIRE(s.next()->id() == batches[2].id());
    auto st = s.stats();
    REQUIRE(st.oldest_unacked_seq == batches[2].header().first_seq);
    REQUIRE(st.oldest_unacked_ns == batches[2].records().front().hdr.timestamp_ns);
    REQUIRE(st.batches == 3);
}

TEST_CASE("spool: a redelivered batch is skipped and a sequence gap refused", "[spool]")
{
    TempDir tmp;
    auto batches = make_batches(tmp, 4);
    Spool s(options(tmp.str("spool")));
    REQUIRE(s.append(batches[0]));
    REQUIRE(s.append(batches[1]));
    REQUIRE_FALSE(s.append(batches[1]));
    REQUIRE_THROWS_WITH(s.append(batches[3]), Catch::Contains("sequence numbers must continue"));
}

TEST_CASE("spool: reaching the limit stops spooling with 'replication log reached its limit'",
          "[spool]")
{
    TempDir tmp;
    auto batches = make_batches(tmp, 20);
    auto o = options(tmp.str("spool"));
    o.limit_bytes = 5 * batches[0].size_bytes() + sizeof(cbt_spool_seg_hdr);
    Spool s(o);
    size_t appended = 0;
    try {
        for (auto &b : batches) {
            s.append(b);
            appended++;
        }
        FAIL("the limit was never reached");
    } catch (const cbtrep::spool::SpoolLimitError &e) {
        REQUIRE(e.reason() == CBT_REASON_SPOOL_LIMIT);
        REQUIRE_THAT(e.what(), Catch::Contains("replication log reached its limit"));
    }
    REQUIRE(appended == 5);
    REQUIRE(s.sync() == batches[4].header().last_seq);
}

TEST_CASE("spool: the default limit is 50 % of the protected disk", "[spool]")
{
    TempDir tmp;
    auto o = options(tmp.str("spool"));
    o.limit_bytes = 0;
    Spool s(o);
    REQUIRE(s.stats().limit_bytes == dev_bytes / 2);
}

TEST_CASE("spool: the spool volume's reserve is a limit too", "[spool]")
{
    TempDir tmp;
    auto batches = make_batches(tmp, 1);
    auto o = options(tmp.str("spool"));
    o.reserve_bytes = ~0ull >> 2; // more than any disk has free
    Spool s(o);
    REQUIRE_THROWS_AS(s.append(batches[0]), cbtrep::spool::SpoolLimitError);
}

TEST_CASE("spool: ENOSPC while appending is a clear error and nothing unsynced is kept", "[spool]")
{
    TempDir tmp;
    auto batches = make_batches(tmp, 10);
    auto o = options(tmp.str("spool"));
    o.segment_bytes = 1 << 30;
    o.write_buffer_bytes = 4096;
    bool full = false;
    o.write_fn = enospc_while(full);
    Spool s(o);
    for (int i = 0; i < 4; i++)
        s.append(batches[i]);
    uint64_t durable = s.sync();
    full = true;
    REQUIRE_THROWS_WITH(s.append(batches[4]), Catch::Contains("No space left on device"));
    REQUIRE(s.stats().appended_seq == durable);
    full = false;
    // The caller rewinds its source and appends again from the first unsynced batch.
    REQUIRE(s.append(batches[4]));
    s.sync();
    require_same(drain(s), batches, 5);
}

TEST_CASE("spool: a really full file system (small tmpfs) is a clear error, synced data kept",
          "[spool]")
{
    TempDir tmp;
    auto batches = make_batches(tmp, 200, 32768);
    std::string mnt = tmp.str("mnt");
    fs::create_directory(mnt);
    if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=2m") != 0) {
        WARN("cannot mount a tmpfs (" << std::strerror(errno)
                                      << "): only the injected ENOSPC "
                                         "test covers this");
        return;
    }
    struct Unmount {
        std::string m;
        ~Unmount() { ::umount2(m.c_str(), MNT_DETACH); }
    } un{mnt};
    auto o = options(mnt + "/spool");
    o.limit_bytes = 1ull << 30;
    o.segment_bytes = 1 << 30;
    o.write_buffer_bytes = 64 << 10;
    size_t appended = 0, synced = 0;
    {
        Spool s(o);
        try {
            for (; appended < batches.size(); appended++) {
                s.append(batches[appended]);
                if (appended % 4 == 3) {
                    s.sync();
                    synced = appended + 1;
                }
            }
            FAIL("a 2 MiB file system never filled up");
        } catch (const cbtrep::spool::SpoolLimitError &e) {
            // statvfs saw the volume filling up before a write failed (the usual case): what
            // was appended before is intact and can still be made durable.
            REQUIRE_THAT(e.what(), Catch::Contains("spool volume has"));
            s.sync();
            synced = appended;
        } catch (const cbtrep::Error &e) {
            REQUIRE(e.errno_value() == ENOSPC);
            REQUIRE(s.stats().appended_seq == s.stats().durable_seq);
        }
        REQUIRE(synced > 0);
    }
    Spool s(o);
    require_same(drain(s), batches, synced);
}
