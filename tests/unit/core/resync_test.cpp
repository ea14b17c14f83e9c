// Unit tests of RESYNC (require / done as of a cut generation), one TEST_CASE per rule of
// cbt_tracker_resync() in core/cbt_tracker.h.

#include "core_fixture.hpp"

namespace
{

struct Result {
    int err;
    uint32_t state, reason;
};

Result require(Tracker &tr, uint32_t reason)
{
    Result r{};
    r.err = cbt_tracker_resync(tr.t, CBT_RESYNC_REQUIRE, reason, 0, &r.state, &r.reason);
    return r;
}

Result done(Tracker &tr, uint64_t generation)
{
    Result r{};
    r.err = cbt_tracker_resync(tr.t, CBT_RESYNC_DONE, 0, generation, &r.state, &r.reason);
    return r;
}

uint64_t cut(Tracker &tr, uint64_t done_generation = 0)
{
    uint64_t g = 0, bits = 0;
    REQUIRE(cbt_tracker_cut(tr.t, done_generation, &g, &bits) == 0);
    return g;
}

std::vector<uint8_t> meta_image(Tracker &tr, uint32_t state, uint32_t reason)
{
    std::vector<uint8_t> img(cbt_tracker_meta_size(tr.t));
    img.resize(cbt_tracker_meta_build(tr.t, state, reason, 0, img.data()));
    return img;
}

} // namespace

TEST_CASE("resync done clears a resync-required set before the cut; writes meanwhile stay "
          "tracked")
{
    Tracker tr; // a new device: resync-required (NEW_DEVICE) from the start
    REQUIRE(tr.status().state == CBT_STATE_RESYNC_REQUIRED);
    tr.write(0, 8, 1);
    uint64_t g = cut(tr);
    // Writes while the checksum resync runs: journal + active bitmap.
    tr.write(800, 8, 2);
    tr.write(1600, 8, 3);
    tr.status(); // clears READY_STATE
    Result r = done(tr, g);
    CHECK(r.err == 0);
    CHECK(r.state == CBT_STATE_DIRTY);
    CHECK(r.reason == CBT_REASON_NONE);
    auto st = tr.status();
    CHECK(st.state == CBT_STATE_DIRTY);
    CHECK(st.state_reason == CBT_REASON_NONE);
    CHECK(st.dirty_bits == 2); // 100 and 200: the resync's writes, still to replicate
    CHECK(st.frozen_generation == g);
    auto recs = tr.drain();
    REQUIRE(recs.size() == 3); // nothing dropped from the journal either
    CHECK(recs[1].hdr.sector == 800);
    CHECK(recs[2].hdr.sector == 1600);
    CHECK(recs[2].hdr.flags & CBT_RF_HAS_DATA);
}

TEST_CASE("resync done tells WAIT that the state changed")
{
    Tracker tr;
    uint64_t g = cut(tr);
    tr.status();
    REQUIRE(!(cbt_tracker_ready(tr.t) & CBT_READY_STATE));
    REQUIRE(done(tr, g).err == 0);
    CHECK(cbt_tracker_ready(tr.t) & CBT_READY_STATE);
}

TEST_CASE("resync done with a generation older than a later require is EAGAIN and keeps it")
{
    Tracker tr;
    uint64_t g1 = cut(tr);
    REQUIRE(done(tr, g1).err == 0);
    uint64_t g2 = cut(tr, g1);
    Result r = require(tr, CBT_REASON_SPOOL_LIMIT);
    CHECK(r.err == 0);
    CHECK(r.state == CBT_STATE_RESYNC_REQUIRED);
    CHECK(r.reason == CBT_REASON_SPOOL_LIMIT);
    // A resync that followed g2 started before the engine dropped its log: not enough.
    r = done(tr, g2);
    CHECK(r.err == CBT_EAGAIN);
    CHECK(r.state == CBT_STATE_RESYNC_REQUIRED);
    CHECK(r.reason == CBT_REASON_SPOOL_LIMIT);
    CHECK(done(tr, g1).err == CBT_EAGAIN);
    CHECK(tr.status().state_reason == CBT_REASON_SPOOL_LIMIT);
    // A resync after the next cut does clear it.
    uint64_t g3 = cut(tr, g2);
    r = done(tr, g3);
    CHECK(r.err == 0);
    CHECK(r.state == CBT_STATE_DIRTY);
}

TEST_CASE("resync-required set again with the same reason after the cut still blocks done")
{
    Tracker tr;
    REQUIRE(require(tr, CBT_REASON_SPOOL_LIMIT).err == 0);
    uint64_t g = cut(tr);
    // The log overflowed again while the resync ran: nothing visible changes, but the
    // resync that followed g may have copied those blocks before the records were lost.
    REQUIRE(require(tr, CBT_REASON_SPOOL_LIMIT).err == 0);
    CHECK(done(tr, g).err == CBT_EAGAIN);
    CHECK(tr.status().state == CBT_STATE_RESYNC_REQUIRED);
}

TEST_CASE("resync-required set by the tracker itself after the cut blocks done")
{
    Tracker tr;
    uint64_t g = cut(tr);
    // A bitmap page that cannot be allocated during the resync.
    cbt_test_fail_nowait = -1;
    cbt_io *io = nullptr;
    cbt_io_begin(tr.t, CBT_REC_DISCARD, 0, 0, 8, &io);
    cbt_test_fail_nowait = 0;
    cbt_io_end(tr.t, io, 0);
    REQUIRE(tr.status().state_reason == CBT_REASON_ALLOC_FAILED);
    Result r = done(tr, g);
    CHECK(r.err == CBT_EAGAIN);
    CHECK(r.reason == CBT_REASON_ALLOC_FAILED);
    // The same through cbt_tracker_set_state() (DEVICE_REMOVED at STATUS, kmod's hook).
    uint64_t g2 = cut(tr, g);
    cbt_tracker_set_state(tr.t, CBT_STATE_RESYNC_REQUIRED, CBT_REASON_DEVICE_REMOVED);
    CHECK(done(tr, g2).err == CBT_EAGAIN);
    CHECK(done(tr, cut(tr, g2)).err == 0);
}

TEST_CASE("resync require keeps the journal and the mode going")
{
    Tracker tr;
    tr.write(0, 8, 1);
    uint64_t g = cut(tr);
    REQUIRE(done(tr, g).err == 0);
    REQUIRE(require(tr, CBT_REASON_USER_REQUEST).err == 0);
    tr.write(8, 8, 2);
    auto st = tr.status();
    CHECK(st.mode == CBT_MODE_DATA);
    CHECK(st.records_pending == 2);
    CHECK(st.frozen_generation == g); // the cut bitmap is still readable
    auto recs = tr.drain();
    REQUIRE(recs.size() == 2);
    CHECK(recs[1].hdr.sector == 8);
    CHECK(recs[1].hdr.flags & CBT_RF_HAS_DATA);
}

TEST_CASE("resync done on a tracker that is not resync-required changes nothing")
{
    Tracker tr;
    uint64_t g = cut(tr);
    REQUIRE(done(tr, g).err == 0);
    Result r = done(tr, g);
    CHECK(r.err == 0);
    CHECK(r.state == CBT_STATE_DIRTY);
    CHECK(r.reason == CBT_REASON_NONE);
}

TEST_CASE("resync refuses an unknown op, a reason NONE or past MAX and an uncut generation")
{
    Tracker tr;
    uint32_t s = 0, why = 0;
    CHECK(cbt_tracker_resync(tr.t, 0, CBT_REASON_SPOOL_LIMIT, 0, &s, &why) == CBT_EINVAL);
    CHECK(cbt_tracker_resync(tr.t, 3, CBT_REASON_SPOOL_LIMIT, 1, &s, &why) == CBT_EINVAL);
    CHECK(require(tr, CBT_REASON_NONE).err == CBT_EINVAL);
    CHECK(require(tr, CBT_REASON_MAX + 1).err == CBT_EINVAL);
    CHECK(require(tr, 0xffffffffu).err == CBT_EINVAL);
    CHECK(require(tr, CBT_REASON_MAX).err == 0);
    CHECK(done(tr, 0).err == CBT_EINVAL);
    CHECK(done(tr, 1).err == CBT_EINVAL); // generation 1 is still the active one
    uint64_t g = cut(tr);
    CHECK(done(tr, g + 1).err == CBT_EINVAL);
    CHECK(done(tr, UINT64_MAX).err == CBT_EINVAL);
    CHECK(tr.status().state == CBT_STATE_RESYNC_REQUIRED); // none of them cleared it
    CHECK(tr.status().state_reason == CBT_REASON_MAX);
    CHECK(done(tr, g).err == 0);
}

TEST_CASE("resync-required found in the metadata at attach is cleared after the first cut")
{
    for (uint32_t hdr_state : {(uint32_t)CBT_STATE_RESYNC_REQUIRED, (uint32_t)CBT_STATE_DIRTY}) {
        std::vector<uint8_t> img;
        uint64_t old_g;
        {
            Tracker tr;
            old_g = cut(tr);
            cut(tr, old_g);
            img = meta_image(tr, hdr_state, CBT_REASON_SPOOL_LIMIT);
        }
        Tracker tr2;
        uint32_t st, why;
        cbt_tracker_meta_load(tr2.t, img.data(), img.size(), &st, &why);
        INFO("header state " << hdr_state);
        REQUIRE(tr2.status().state == CBT_STATE_RESYNC_REQUIRED);
        CHECK(tr2.status().state_reason == (hdr_state == CBT_STATE_DIRTY
                                                ? (uint32_t)CBT_REASON_UNCLEAN_SHUTDOWN
                                                : (uint32_t)CBT_REASON_SPOOL_LIMIT));
        // A resync from the previous attach's cut predates whatever set it.
        CHECK(done(tr2, old_g).err == CBT_EAGAIN);
        uint64_t g = cut(tr2);
        CHECK(g == 4); // generations continue after the header's (3)
        Result r = done(tr2, g);
        CHECK(r.err == 0);
        CHECK(r.state == CBT_STATE_DIRTY);
        CHECK(r.reason == CBT_REASON_NONE);
    }
}
