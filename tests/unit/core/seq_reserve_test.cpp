// Sequence numbers across a crash (docs/tracker.md, "Sequence numbers across a crash"): the
// metadata header reserves numbers ahead of the journal, so the tracker of the next boot
// resumes above every number the crashed one handed out. A crash is simulated as the glue
// would live it: the tracker's memory is gone, the metadata file holds the image last
// written, and a new tracker attaches to it.
#include "core_fixture.hpp"

#include <algorithm>
#include <memory>
#include <random>

namespace
{

// The metadata file: the image of the last successful (synced) write.
struct MetaFile {
    std::vector<uint8_t> img;
    bool fail = false; // writes fail (the metadata disk is gone)
    unsigned writes = 0;

    bool write(Tracker &tr, uint32_t state, uint32_t reason, bool with_bitmap = false)
    {
        std::vector<uint8_t> buf(cbt_tracker_meta_size(tr.t));
        buf.resize(cbt_tracker_meta_build(tr.t, state, reason, with_bitmap, buf.data()));
        if (fail)
            return false;
        img = buf;
        writes++;
        cbt_tracker_meta_written(tr.t, img.data());
        return true;
    }
    cbt_meta hdr() const
    {
        cbt_meta m;
        REQUIRE(cbt_meta_decode(img.data(), img.size(), &m) == CBT_FMT_OK);
        return m;
    }
};

// ATTACH as kmod/persist.c and wfilter/sys/track_core.c do it: load, then DIRTY on disk
// before the first tracked write.
void attach(Tracker &tr, MetaFile &f)
{
    uint32_t st, why;
    cbt_tracker_meta_load(tr.t, f.img.empty() ? nullptr : f.img.data(), f.img.size(), &st, &why);
    REQUIRE(f.write(tr, CBT_STATE_DIRTY, CBT_REASON_NONE));
}

// What the glue does before GET, COMMIT, STATUS, TAG and MARK_DIRTY. Returns 1 when the
// header was rewritten.
int refresh(Tracker &tr, MetaFile &f)
{
    uint32_t st = 0, why = 0;
    if (!cbt_tracker_meta_due(tr.t, &st, &why))
        return 0;
    CHECK(st != CBT_STATE_CLEAN);
    return f.write(tr, st, why) ? 1 : 0;
}

} // namespace

TEST_CASE("after a crash numbering resumes above every number handed out, across many "
          "records and ceiling rewrites")
{
    constexpr uint64_t R = 64; // small, so that a few thousand records need many rewrites
    std::mt19937 rng(12345);
    MetaFile f;
    auto tr = std::make_unique<Tracker>(16ull << 20, 0, 4096, 0, "disk0", R);
    attach(*tr, f);

    uint64_t handed = 0;       // highest number any run handed out so far
    uint64_t last_drained = 0; // drained numbers must only ever go up, crashes included
    unsigned crashes = 0, rewrites = 0, records = 0;
    // Crash: memory lost, the metadata file as last written; the next boot attaches.
    auto crash = [&] {
        handed = std::max(handed, tr->status().next_seq - 1);
        tr = std::make_unique<Tracker>(16ull << 20, 0, 4096, 0, "disk0", R);
        attach(*tr, f);
        auto s = tr->status();
        INFO("crash " << crashes << ": resumes at " << s.next_seq << ", handed out up to "
                      << handed);
        REQUIRE(s.next_seq > handed);
        CHECK(s.state == CBT_STATE_RESYNC_REQUIRED);
        CHECK(s.state_reason == CBT_REASON_UNCLEAN_SHUTDOWN);
        crashes++;
    };
    for (int round = 0; round < 400; round++) {
        // A burst of completions: fewer than R/2 between two checks, as the memory cap
        // guarantees for the real reservation (each record costs CBT_REC_COST).
        unsigned n = rng() % 24 + 1;
        for (unsigned i = 0; i < n; i++)
            tr->write((rng() % 4000) * 8, 8, uint8_t(i + 1));
        records += n;
        if (rng() % 10 == 0) {
            crash(); // mid-burst: completions since the last header write
            continue;
        }
        // Drain some of it (GET / COMMIT, each after the glue's check), leave the rest.
        unsigned batches = rng() % 3;
        for (unsigned i = 0; i < batches; i++) {
            Batch b;
            rewrites += refresh(*tr, f);
            if (tr->get(b, rng() % 16 + 1) != 0)
                break;
            for (auto &r : b.recs) {
                REQUIRE(r.hdr.seq > last_drained);
                last_drained = r.hdr.seq;
            }
            rewrites += refresh(*tr, f);
            REQUIRE(cbt_tracker_commit(tr->t, b.hdr.batch_id) == 0);
        }
        rewrites += refresh(*tr, f); // STATUS
        auto s = tr->status();
        REQUIRE(s.mode != CBT_MODE_BITMAP); // the reservation stayed ahead
        REQUIRE(f.hdr().last_seq >= s.next_seq - 1);
        if (rng() % 10 == 0)
            crash(); // right after the glue's last check, perhaps a rewrite
    }
    CHECK(crashes >= 20);
    CHECK(rewrites >= records / R); // each rewrite moves the ceiling by at most R
    CHECK(last_drained > 0);
}

TEST_CASE("a running tracker's header holds the reserved ceiling, an orderly detach's the "
          "exact last number")
{
    MetaFile f;
    {
        Tracker tr(16ull << 20, 0, 4096, 0, "disk0", 1000);
        attach(tr, f);
        CHECK(f.hdr().last_seq == 1000); // nothing handed out yet: 0 + R
        for (int i = 0; i < 5; i++)
            tr.write(i * 8, 8, 1);
        REQUIRE(f.write(tr, CBT_STATE_RESYNC_REQUIRED, CBT_REASON_SPOOL_LIMIT));
        CHECK(f.hdr().last_seq == 1005);
        REQUIRE(f.write(tr, CBT_STATE_CLEAN, CBT_REASON_NONE, true)); // orderly detach
        CHECK(f.hdr().last_seq == 5);
    }
    Tracker tr2(16ull << 20, 0, 4096, 0, "disk0", 1000);
    attach(tr2, f);
    CHECK(tr2.status().next_seq == 6); // continues exactly: no jump for the engine
    CHECK(tr2.status().state == CBT_STATE_DIRTY);

    // An orderly detach of a resync-required device: no write completes any more, so its
    // RESYNC_REQUIRED header carries the exact number too.
    tr2.write(0, 8, 1);
    cbt_tracker_seq_final(tr2.t);
    REQUIRE(f.write(tr2, CBT_STATE_RESYNC_REQUIRED, CBT_REASON_USER_REQUEST));
    CHECK(f.hdr().last_seq == 6);
    uint32_t st, why;
    CHECK(!cbt_tracker_meta_due(tr2.t, &st, &why));
    tr2.write(8, 8, 1); // (cannot happen after a detach; it must not take 7 regardless)
    CHECK(tr2.status().mode == CBT_MODE_BITMAP);
    CHECK(tr2.status().next_seq == 7);

    Tracker dflt;
    dflt.write(0, 8, 1);
    std::vector<uint8_t> img(CBT_META_AREA_SIZE);
    cbt_tracker_meta_build(dflt.t, CBT_STATE_DIRTY, 0, 0, img.data());
    cbt_meta m;
    REQUIRE(cbt_meta_decode(img.data(), img.size(), &m) == CBT_FMT_OK);
    CHECK(m.last_seq == CBT_SEQ_RESERVE + 1);
}

TEST_CASE("the ceiling reached without a rewrite stops numbering instead of reusing numbers")
{
    constexpr uint64_t R = 16;
    MetaFile f;
    Tracker tr(16ull << 20, 0, 4096, 0, "disk0", R);
    attach(tr, f); // ceiling 16
    f.fail = true; // the metadata disk is gone: no rewrite succeeds
    for (int i = 0; i < 16; i++) {
        refresh(tr, f);
        tr.write(i * 8, 8, 1);
    }
    auto s = tr.status();
    CHECK(s.mode == CBT_MODE_DATA);
    CHECK(s.next_seq == 17);
    uint32_t st, why;
    CHECK(cbt_tracker_meta_due(tr.t, &st, &why));

    tr.write(200, 8, 2); // would be 17: past the ceiling on disk
    s = tr.status();
    CHECK(s.mode == CBT_MODE_BITMAP);
    CHECK(s.mode_reason == CBT_REASON_METADATA_INVALID);
    CHECK(s.state == CBT_STATE_RESYNC_REQUIRED);
    CHECK(s.state_reason == CBT_REASON_METADATA_INVALID);
    CHECK(s.next_seq == 17);
    CHECK(s.records_dropped == 1);
    CHECK(cbt_tracker_mark_dirty(tr.t, 0, 8, CBT_REASON_USER_REQUEST) == 0);
    uint64_t seq = 0;
    cbt_tracker *one[] = {tr.t};
    CHECK(cbt_tag_group(one, 1, "t", 0, 1, &seq) == CBT_EBUSY);
    CHECK(tr.status().next_seq == 17);
    CHECK(cbt_tracker_ready(tr.t) & CBT_READY_RECORDS); // the 16 numbered records
    auto recs = tr.drain();
    REQUIRE(recs.size() == 16);
    CHECK(recs.back().hdr.seq == 16);
    CHECK(!(cbt_tracker_ready(tr.t) & CBT_READY_RECORDS)); // no GAP without a number

    SECTION("a crash now resumes above the ceiling")
    {
        Tracker next(16ull << 20, 0, 4096, 0, "disk0", R);
        f.fail = false;
        attach(next, f);
        CHECK(next.status().next_seq == 17);
    }
    SECTION("once the header can be written again, GET recovers with a GAP record")
    {
        f.fail = false;
        CHECK(refresh(tr, f) == 1);
        CHECK(f.hdr().last_seq == 16 + R);
        auto gap = tr.drain();
        REQUIRE(gap.size() == 1);
        CHECK(gap[0].hdr.type == CBT_REC_GAP);
        CHECK(gap[0].hdr.seq == 17);
        CHECK(tr.status().mode != CBT_MODE_BITMAP); // META, then DATA once drained
        tr.write(0, 8, 3);
        CHECK(tr.drain().at(0).hdr.seq == 18);
    }
}

TEST_CASE("a loaded header bounds numbering until the tracker writes its own")
{
    MetaFile f;
    {
        Tracker tr(16ull << 20, 0, 4096, 0, "disk0", 8);
        attach(tr, f); // ceiling 8
    }
    Tracker tr(16ull << 20, 0, 4096, 0, "disk0", 8);
    uint32_t st, why;
    cbt_tracker_meta_load(tr.t, f.img.data(), f.img.size(), &st, &why);
    CHECK(st == CBT_STATE_DIRTY);
    // Its own DIRTY header could not be written (the glue refuses the attach in kmod);
    // a write now must not take 9, which the crashed run may have handed out.
    tr.write(0, 8, 1);
    CHECK(tr.status().mode == CBT_MODE_BITMAP);
    CHECK(tr.status().next_seq == 9);
    CHECK(tr.drain().empty());
}

TEST_CASE("without a metadata header numbering is not limited")
{
    Tracker tr(16ull << 20, 0, 4096, 0, "disk0", 4);
    uint32_t st, why;
    cbt_tracker_meta_load(tr.t, nullptr, 0, &st, &why);
    for (int i = 0; i < 100; i++)
        tr.write(i * 8, 8, 1);
    CHECK(tr.status().mode == CBT_MODE_DATA);
    CHECK(tr.drain().size() == 100);
    CHECK(!cbt_tracker_meta_due(tr.t, &st, &why));
}

TEST_CASE("a refresh repeats the state and reason of the last header and never writes CLEAN")
{
    constexpr uint64_t R = 10;
    MetaFile f;
    Tracker tr(16ull << 20, 0, 4096, 0, "disk0", R);
    attach(tr, f);
    REQUIRE(f.write(tr, CBT_STATE_RESYNC_REQUIRED, CBT_REASON_SPOOL_LIMIT)); // ceiling 10
    uint32_t st = 0, why = 0;
    for (int i = 0; i < 5; i++)
        tr.write(i * 8, 8, 1);
    CHECK(!cbt_tracker_meta_due(tr.t, &st, &why)); // 5 left: exactly R/2
    tr.write(64, 8, 1);
    REQUIRE(cbt_tracker_meta_due(tr.t, &st, &why));
    CHECK(st == CBT_STATE_RESYNC_REQUIRED);
    CHECK(why == CBT_REASON_SPOOL_LIMIT);
    REQUIRE(refresh(tr, f) == 1);
    CHECK(f.hdr().last_seq == 6 + R);
    CHECK(f.hdr().state == CBT_STATE_RESYNC_REQUIRED);
    CHECK(f.hdr().reason == CBT_REASON_SPOOL_LIMIT);
    CHECK(!cbt_tracker_meta_due(tr.t, &st, &why));

    REQUIRE(f.write(tr, CBT_STATE_CLEAN, CBT_REASON_NONE, true));
    for (int i = 0; i < 20; i++)
        tr.write(i * 8, 8, 1); // (no real glue writes after CLEAN; the core stays safe)
    CHECK(!cbt_tracker_meta_due(tr.t, &st, &why));
    CHECK(tr.status().next_seq == 7);
}

TEST_CASE("the ceiling saturates at the top of the sequence space")
{
    uint32_t g = cbt_granularity_for_size(16ull << 20);
    cbt_meta m;
    cbt_meta_init(&m, "disk0", 16ull << 20, g);
    m.state = CBT_STATE_DIRTY;
    m.last_seq = ~0ull - 5;
    cbt_meta_seal(&m);
    std::vector<uint8_t> img(CBT_META_AREA_SIZE);
    std::memcpy(img.data(), &m, sizeof(m));
    Tracker tr;
    uint32_t st, why;
    cbt_tracker_meta_load(tr.t, img.data(), img.size(), &st, &why);
    CHECK(tr.status().next_seq == ~0ull - 4);
    cbt_tracker_meta_build(tr.t, CBT_STATE_DIRTY, 0, 0, img.data());
    REQUIRE(cbt_meta_decode(img.data(), img.size(), &m) == CBT_FMT_OK);
    CHECK(m.last_seq == ~0ull);

    cbt_tracker_params p{};
    cbt_tracker *t = nullptr;
    p.name = "x";
    p.device_bytes = 1 << 20;
    p.seq_reserve = 1; // no room for even one number between rewrites
    CHECK(cbt_tracker_create(&p, &t) == CBT_EINVAL);
}
