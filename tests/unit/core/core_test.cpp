// Unit tests of the portable tracking core: one TEST_CASE per behaviour.

#include "core_fixture.hpp"

static std::vector<uint8_t> pattern(uint64_t bytes, uint8_t seed)
{
    std::vector<uint8_t> v(bytes);
    for (uint64_t i = 0; i < bytes; i++)
        v[i] = (uint8_t)(seed + i * 7 + (i >> 9));
    return v;
}

TEST_CASE("a completed write becomes a DATA record carrying its bytes")
{
    Tracker tr;
    auto d = pattern(8 * 512, 3);
    cbt_io *io = tr.begin(100, 8, CBT_REC_WRITE, d.data(), CBT_RF_FUA);
    REQUIRE(io);
    REQUIRE(cbt_io_wants_data(io));
    tr.end(io, 100, 8, d.data());
    Batch b;
    REQUIRE(tr.get(b) == 0);
    REQUIRE(b.hdr.mode == CBT_MODE_DATA);
    REQUIRE(b.recs.size() == 1);
    CHECK(b.recs[0].hdr.type == CBT_REC_WRITE);
    CHECK(b.recs[0].hdr.sector == 100);
    CHECK(b.recs[0].hdr.nr_sectors == 8);
    CHECK(b.recs[0].hdr.flags == (CBT_RF_HAS_DATA | CBT_RF_FUA));
    CHECK(b.recs[0].hdr.seq == 1);
    CHECK(b.recs[0].data == d);
}

TEST_CASE("sequence numbers are assigned at completion in completion order")
{
    Tracker tr;
    auto a = pattern(512, 1), c = pattern(512, 2);
    cbt_io *ia = tr.begin(0, 1, CBT_REC_WRITE, a.data());
    cbt_io *ic = tr.begin(8, 1, CBT_REC_WRITE, c.data());
    tr.end(ic, 8, 1, c.data());
    tr.end(ia, 0, 1, a.data());
    auto recs = tr.drain();
    REQUIRE(recs.size() == 2);
    CHECK(recs[0].hdr.sector == 8);
    CHECK(recs[0].hdr.seq == 1);
    CHECK(recs[1].hdr.sector == 0);
    CHECK(recs[1].hdr.seq == 2);
}

TEST_CASE("failed write is marked dirty not journalled")
{
    Tracker tr;
    tr.write(64, 16, 0xaa, -5);
    auto st = tr.status();
    CHECK(st.writes_failed == 1);
    CHECK(st.dirty_bits == 2);
    auto recs = tr.drain();
    REQUIRE(recs.size() == 1);
    CHECK(recs[0].hdr.type == CBT_REC_DIRTY);
    CHECK(recs[0].hdr.reason == CBT_REASON_WRITE_ERROR);
    CHECK(recs[0].hdr.sector == 64);
    CHECK(recs[0].hdr.nr_sectors == 16);
    CHECK(recs[0].hdr.data_len == 0);
    CHECK(tr.status().mem_used == 0);
}

TEST_CASE("uncommitted batch is redelivered")
{
    Tracker tr;
    tr.write(0, 1, 1);
    tr.write(1, 1, 2);
    Batch b1, b2;
    REQUIRE(tr.get(b1) == 0);
    tr.write(2, 1, 3); // arrives after the batch was formed: not in it
    REQUIRE(tr.get(b2) == 0);
    CHECK(b1.hdr.batch_id == b2.hdr.batch_id);
    CHECK(b1.bytes_needed == b2.bytes_needed);
    CHECK(std::memcmp(b1.buf.data(), b2.buf.data(), b1.bytes_needed) == 0);
    CHECK(b2.hdr.nr_records == 2);
    REQUIRE(cbt_tracker_commit(tr.t, b1.hdr.batch_id) == 0);
    Batch b3;
    REQUIRE(tr.get(b3) == 0);
    CHECK(b3.hdr.batch_id != b1.hdr.batch_id);
    CHECK(b3.hdr.first_seq == 3);
}

TEST_CASE("commit of a batch id that is not outstanding is stale")
{
    Tracker tr;
    CHECK(cbt_tracker_commit(tr.t, 1) == CBT_ESTALE);
    tr.write(0, 1, 1);
    Batch b;
    REQUIRE(tr.get(b) == 0);
    CHECK(cbt_tracker_commit(tr.t, b.hdr.batch_id + 1) == CBT_ESTALE);
    CHECK(cbt_tracker_commit(tr.t, 0) == CBT_ESTALE);
    CHECK(cbt_tracker_commit(tr.t, b.hdr.batch_id) == 0);
    CHECK(cbt_tracker_commit(tr.t, b.hdr.batch_id) == CBT_ESTALE);
}

TEST_CASE("nothing drainable gives EAGAIN")
{
    Tracker tr;
    Batch b;
    CHECK(tr.get(b) == CBT_EAGAIN);
    cbt_io *io = tr.begin(0, 1, CBT_REC_DISCARD);
    CHECK(tr.get(b) == CBT_EAGAIN); // in flight is not drainable
    cbt_io_end(tr.t, io, 0);
    CHECK(tr.get(b) == 0);
}

TEST_CASE("a buffer too small for one record gets ENOSPC with the size needed")
{
    Tracker tr;
    tr.write(0, 8, 1);
    Batch b;
    CHECK(tr.get(b, 0, 100) == CBT_ENOSPC);
    CHECK(b.bytes_needed == 64 + 64 + 4096);
    CHECK(tr.get(b, 0, b.bytes_needed) == 0);
    // The outstanding batch does not shrink to a smaller buffer either.
    Batch s;
    CHECK(tr.get(s, 0, 200) == CBT_ENOSPC);
    CHECK(s.bytes_needed == 64 + 64 + 4096);
}

TEST_CASE("a batch holds at most max_records and what fits in the buffer")
{
    Tracker tr;
    for (int i = 0; i < 10; i++)
        tr.write(i, 1, (uint8_t)i);
    Batch b;
    REQUIRE(tr.get(b, 3) == 0);
    CHECK(b.hdr.nr_records == 3);
    REQUIRE(cbt_tracker_commit(tr.t, b.hdr.batch_id) == 0);
    REQUIRE(tr.get(b, 0, 64 + 2 * (64 + 512) + 10) == 0);
    CHECK(b.hdr.nr_records == 2);
    CHECK(b.hdr.first_seq == 4);
}

TEST_CASE("batches never mix writes with and without data")
{
    // META_ONLY tracker gives data-less writes; use a data tracker and a huge write
    // (beyond the capture limit) to get one META record between DATA records.
    Tracker tr(64ull << 20);
    tr.write(0, 1, 1);
    std::vector<uint8_t> big(4ull << 20, 7);
    cbt_io *io = tr.begin(1000, big.size() / 512, CBT_REC_WRITE, big.data());
    REQUIRE(!cbt_io_wants_data(io));
    tr.end(io, 1000, big.size() / 512, big.data());
    tr.write(2, 1, 2);
    cbt_io *d = tr.begin(50, 4, CBT_REC_DISCARD);
    cbt_io_end(tr.t, d, 0);
    Batch b;
    REQUIRE(tr.get(b) == 0);
    CHECK(b.hdr.mode == CBT_MODE_DATA);
    CHECK(b.hdr.nr_records == 1);
    REQUIRE(cbt_tracker_commit(tr.t, b.hdr.batch_id) == 0);
    REQUIRE(tr.get(b) == 0);
    CHECK(b.hdr.mode == CBT_MODE_META);
    CHECK(b.hdr.nr_records == 1);
    REQUIRE(cbt_tracker_commit(tr.t, b.hdr.batch_id) == 0);
    REQUIRE(tr.get(b) == 0);
    CHECK(b.hdr.mode == CBT_MODE_DATA);
    CHECK(b.hdr.nr_records == 2);             // the data write and the discard
    CHECK(tr.status().mode == CBT_MODE_DATA); // one oversized write is not a mode change
}

TEST_CASE("discard, write-zeroes and secure erase are records without data")
{
    Tracker tr;
    uint32_t types[] = {CBT_REC_DISCARD, CBT_REC_WRITE_ZEROES, CBT_REC_SECURE_ERASE};
    for (uint32_t ty : types) {
        cbt_io *io = tr.begin(10, 20, ty);
        REQUIRE(io);
        CHECK(!cbt_io_wants_data(io));
        cbt_io_end(tr.t, io, 0);
    }
    auto recs = tr.drain();
    REQUIRE(recs.size() == 3);
    for (int i = 0; i < 3; i++) {
        CHECK(recs[i].hdr.type == types[i]);
        CHECK(recs[i].hdr.data_len == 0);
    }
}

TEST_CASE("a write past the end of the device is clipped to it")
{
    Tracker tr(1 << 20);
    uint64_t last = (1 << 20) / 512 - 1;
    auto d = pattern(8 * 512, 9);
    cbt_io *io = nullptr;
    cbt_io_begin(tr.t, CBT_REC_WRITE, 0, last, 8, &io);
    REQUIRE(io);
    cbt_io_copy(io, 0, d.data(), d.size());
    cbt_io_end(tr.t, io, 0);
    auto recs = tr.drain();
    REQUIRE(recs.size() == 1);
    CHECK(recs[0].hdr.sector == last);
    CHECK(recs[0].hdr.nr_sectors == 1);
    cbt_io_begin(tr.t, CBT_REC_WRITE, 0, last + 1, 8, &io);
    CHECK(io == nullptr);
}

TEST_CASE("data cap degrades to meta then bitmap and recovers with a gap record")
{
    const uint64_t cap = 64 << 10; // the minimum
    Tracker tr(16ull << 20, cap);
    // 15 writes of 4 KiB fit (each costs 4 KiB + a record header); the 16th does not.
    for (int i = 0; i < 15; i++)
        tr.write(i * 8, 8, (uint8_t)i);
    CHECK(tr.status().mode == CBT_MODE_DATA);
    tr.write(200, 8, 0x10);
    auto st = tr.status();
    CHECK(st.mode == CBT_MODE_META);
    CHECK(st.mode_reason == CBT_REASON_JOURNAL_DATA_CAP);
    // META records cost only their header; fill up until BITMAP.
    for (int i = 0; i < 200 && tr.status().mode == CBT_MODE_META; i++)
        tr.write(300 + i, 1, 1);
    st = tr.status();
    CHECK(st.mode == CBT_MODE_BITMAP);
    CHECK(st.mode_reason == CBT_REASON_JOURNAL_RECORD_CAP);
    CHECK(st.mode_changes == 2);
    uint64_t dropped = tr.status().records_dropped;
    tr.write(5000, 8, 0x55); // not journalled
    CHECK(tr.status().records_dropped == dropped + 1);

    // Drain: the journal's own records come out, then the GAP (recovery to META), and
    // the commit after it brings DATA back.
    auto recs = tr.drain();
    REQUIRE(!recs.empty());
    uint64_t seq = recs.front().hdr.seq;
    for (auto &r : recs) {
        CHECK(r.hdr.seq == seq++);
        CHECK(r.hdr.sector != 5000);
    }
    auto &gap = recs.back();
    REQUIRE(gap.hdr.type == CBT_REC_GAP);
    CHECK(gap.hdr.reason == CBT_REASON_JOURNAL_RECORD_CAP);
    st = tr.status();
    CHECK(gap.hdr.aux == st.frozen_generation);
    CHECK(st.mode == CBT_MODE_DATA);
    CHECK(st.mode_reason == CBT_REASON_RECOVERED);
    CHECK(st.mode_changes == 4);
    // The frozen generation named by the GAP covers the dropped write.
    std::vector<uint8_t> bits(cbt_bitmap_bits_len(4096));
    cbt_bitmap_hdr bh;
    uint64_t copied = 0;
    REQUIRE(cbt_tracker_bitmap_read(tr.t, gap.hdr.aux, 0, bits.size(), emit_vec, &bits, &bh,
                                    &copied) == 0);
    CHECK(cbt_bitmap_test(bits.data(), 5000 * 512 / 4096));
    CHECK(cbt_test_events[CBT_EV_MODE] >= 4);
}

TEST_CASE("a write submitted in bitmap mode that completes after recovery gets a meta record")
{
    Tracker tr(16ull << 20, 64 << 10, 4096, CBT_ATTACH_META_ONLY);
    while (tr.status().mode == CBT_MODE_META)
        tr.write(1, 1, 1);
    std::vector<uint8_t> d(512, 9);
    cbt_io *io = tr.begin(77, 1, CBT_REC_WRITE, d.data());
    REQUIRE(io);
    auto recs = tr.drain(); // recovers: GAP, mode META
    CHECK(recs.back().hdr.type == CBT_REC_GAP);
    CHECK(tr.status().mode == CBT_MODE_META);
    tr.end(io, 77, 1, d.data());
    recs = tr.drain();
    REQUIRE(recs.size() == 1);
    CHECK(recs[0].hdr.type == CBT_REC_WRITE);
    CHECK(recs[0].hdr.sector == 77);
    CHECK(recs[0].hdr.data_len == 0);
    CHECK(tr.status().mode == CBT_MODE_META); // META_ONLY never goes back to DATA
}

TEST_CASE("meta-only attach journals ranges without data")
{
    Tracker tr(16ull << 20, 0, 0, CBT_ATTACH_META_ONLY);
    tr.write(8, 8, 1);
    Batch b;
    REQUIRE(tr.get(b) == 0);
    CHECK(b.hdr.mode == CBT_MODE_META);
    CHECK(b.recs[0].hdr.data_len == 0);
    CHECK(tr.status().mode_reason == CBT_REASON_USER_REQUEST);
}

TEST_CASE("allocation failure for captured data degrades to meta")
{
    Tracker tr;
    tr.write(0, 1, 1); // the bitmap page exists now
    tr.drain();
    cbt_test_nowait_skip = 1; // the io is allocated, its chunks are not
    cbt_test_fail_nowait = 1;
    cbt_io *io = nullptr;
    cbt_io_begin(tr.t, CBT_REC_WRITE, 0, 0, 16, &io);
    cbt_test_fail_nowait = 0;
    REQUIRE(io);
    CHECK(!cbt_io_wants_data(io));
    cbt_io_end(tr.t, io, 0);
    auto st = tr.status();
    CHECK(st.mode == CBT_MODE_META);
    CHECK(st.mode_reason == CBT_REASON_ALLOC_FAILED);
    CHECK(st.state != CBT_STATE_CLEAN);
    auto recs = tr.drain();
    REQUIRE(recs.size() == 1);
    CHECK(recs[0].hdr.data_len == 0);
}

TEST_CASE("bitmap page allocation failure marks the whole device resync-required")
{
    Tracker tr(16ull << 20);
    cbt_test_fail_nowait = -1;
    cbt_io *io = nullptr;
    cbt_io_begin(tr.t, CBT_REC_DISCARD, 0, 0, 8, &io);
    cbt_test_fail_nowait = 0;
    auto st = tr.status();
    CHECK(st.state == CBT_STATE_RESYNC_REQUIRED);
    CHECK(st.state_reason == CBT_REASON_ALLOC_FAILED);
    CHECK(st.dirty_bits == (16ull << 20) / 4096); // everything reads as changed
    cbt_io_end(tr.t, io, 0);
}

TEST_CASE("cut freezes the generation and a write in flight at the cut lands in the new one")
{
    Tracker tr;
    std::vector<uint8_t> d(4096, 5);
    cbt_io *io = tr.begin(800, 8, CBT_REC_WRITE, d.data());
    uint64_t gen = 0, bits = 0;
    REQUIRE(cbt_tracker_cut(tr.t, 0, &gen, &bits) == 0);
    CHECK(gen == 1);
    CHECK(bits == 1);
    CHECK(tr.status().dirty_bits == 0);
    tr.end(io, 800, 8, d.data());
    CHECK(tr.status().dirty_bits == 1); // marked again at completion
    CHECK(tr.status().generation == 2);
    REQUIRE(cbt_tracker_cut(tr.t, gen, &gen, &bits) == 0);
    CHECK(gen == 2);
    CHECK(bits == 1);
}

TEST_CASE("cutting twice without done merges the frozen bitmaps")
{
    Tracker tr;
    tr.write(0, 8, 1);
    uint64_t g1, g2, bits;
    REQUIRE(cbt_tracker_cut(tr.t, 0, &g1, &bits) == 0);
    tr.write(80, 8, 1);
    REQUIRE(cbt_tracker_cut(tr.t, 0, &g2, &bits) == 0);
    CHECK(bits == 2);
    std::vector<uint8_t> out(64);
    cbt_bitmap_hdr bh;
    uint64_t copied;
    CHECK(cbt_tracker_bitmap_read(tr.t, g1, 0, 64, emit_vec, &out, &bh, &copied) == CBT_ESTALE);
    REQUIRE(cbt_tracker_bitmap_read(tr.t, g2, 0, 64, emit_vec, &out, &bh, &copied) == 0);
    CHECK(copied == 64);
    CHECK(cbt_bitmap_test(out.data(), 0));
    CHECK(cbt_bitmap_test(out.data(), 10));
    CHECK(bh.generation == g2);
    CHECK(bh.nr_bits == (16ull << 20) / 4096);
    // Done with g2: the next cut holds only what came after.
    tr.write(160, 8, 1);
    uint64_t g3;
    REQUIRE(cbt_tracker_cut(tr.t, g2, &g3, &bits) == 0);
    CHECK(bits == 1);
}

TEST_CASE("bitmap read without a frozen generation is refused")
{
    Tracker tr;
    std::vector<uint8_t> out(64);
    cbt_bitmap_hdr bh;
    uint64_t copied;
    CHECK(cbt_tracker_bitmap_read(tr.t, 1, 0, 64, emit_vec, &out, &bh, &copied) == CBT_ENOENT);
    uint64_t g, bits;
    REQUIRE(cbt_tracker_cut(tr.t, 0, &g, &bits) == 0);
    CHECK(cbt_tracker_bitmap_read(tr.t, g, 3, 64, emit_vec, &out, &bh, &copied) == CBT_EINVAL);
}

TEST_CASE("mark dirty sets the bitmap and journals a DIRTY record")
{
    Tracker tr;
    REQUIRE(cbt_tracker_mark_dirty(tr.t, 4096, 100, CBT_REASON_USER_REQUEST) == 0);
    CHECK(tr.status().dirty_bits == 13);
    auto recs = tr.drain();
    REQUIRE(recs.size() == 1);
    CHECK(recs[0].hdr.type == CBT_REC_DIRTY);
    CHECK(recs[0].hdr.reason == CBT_REASON_USER_REQUEST);
    CHECK(cbt_tracker_mark_dirty(tr.t, tr.sectors(), 1, CBT_REASON_USER_REQUEST) == CBT_EINVAL);
    CHECK(cbt_tracker_mark_dirty(tr.t, 0, 0, CBT_REASON_USER_REQUEST) == CBT_EINVAL);
    CHECK(cbt_tracker_mark_dirty(tr.t, ~0ull - 1, 4, CBT_REASON_USER_REQUEST) == CBT_EINVAL);
}

TEST_CASE("tag appends the same tag id to every member")
{
    Tracker a(16ull << 20, 0, 0, 0, "a"), b(16ull << 20, 0, 0, 0, "b");
    a.write(0, 1, 1);
    cbt_tracker *ts[2] = {b.t, a.t};
    uint64_t seqs[2] = {0, 0};
    REQUIRE(cbt_tag_group(ts, 2, "daily", CBT_TAG_APP_CONSISTENT, 42, seqs) == 0);
    CHECK(seqs[0] == 1);
    CHECK(seqs[1] == 2);
    for (Tracker *tr : {&a, &b}) {
        auto recs = tr->drain();
        auto &r = recs.back();
        REQUIRE(r.hdr.type == CBT_REC_TAG);
        CHECK(r.hdr.aux == 42);
        CHECK(r.hdr.flags == CBT_RF_APP_CONSISTENT);
        cbt_tag tag;
        std::memcpy(&tag, r.data.data(), sizeof(tag));
        CHECK(std::string(tag.name) == "daily");
        CHECK(tag.nr_devices == 2);
    }
    CHECK(cbt_tag_group(ts, 0, "x", 0, 43, seqs) == CBT_EINVAL);
    cbt_tracker *dup[2] = {a.t, a.t};
    CHECK(cbt_tag_group(dup, 2, "x", 0, 43, seqs) == CBT_EINVAL);
}

TEST_CASE("a batch ends at a tag, so a recovery point never holds a later write")
{
    Tracker tr;
    tr.write(0, 1, 1);
    tr.write(1, 1, 2);
    cbt_tracker *ts[1] = {tr.t};
    uint64_t seqs[1] = {0};
    REQUIRE(cbt_tag_group(ts, 1, "point", 0, 7, seqs) == 0);
    tr.write(2, 1, 3);
    Batch b;
    REQUIRE(tr.get(b, 0) == 0);
    CHECK(b.hdr.nr_records == 3);
    CHECK(b.hdr.last_seq == seqs[0]);
    CHECK((b.hdr.flags & CBT_BF_HAS_TAG) != 0);
    REQUIRE(cbt_tracker_commit(tr.t, b.hdr.batch_id) == 0);
    REQUIRE(tr.get(b, 0) == 0);
    CHECK(b.hdr.nr_records == 1);
    CHECK(b.hdr.first_seq == seqs[0] + 1);
    CHECK((b.hdr.flags & CBT_BF_HAS_TAG) == 0);
}

TEST_CASE("tag is refused while a member is in bitmap mode")
{
    Tracker a(16ull << 20, 64 << 10, 0, CBT_ATTACH_META_ONLY, "a");
    while (a.status().mode != CBT_MODE_BITMAP)
        a.write(1, 1, 1);
    cbt_tracker *ts[1] = {a.t};
    uint64_t seq;
    CHECK(cbt_tag_group(ts, 1, "t", 0, 1, &seq) == CBT_EBUSY);
}

TEST_CASE("bad tracker parameters are refused")
{
    cbt_tracker_params p{};
    cbt_tracker *t = nullptr;
    p.name = "ok";
    p.device_bytes = 1 << 20;
    p.mem_cap = 1000;
    CHECK(cbt_tracker_create(&p, &t) == CBT_EINVAL);
    p.mem_cap = 0;
    p.granularity = 3000;
    CHECK(cbt_tracker_create(&p, &t) == CBT_EINVAL);
    p.granularity = 0;
    p.name = "bad name";
    CHECK(cbt_tracker_create(&p, &t) == CBT_EINVAL);
    p.name = "ok";
    p.device_bytes = 1000;
    CHECK(cbt_tracker_create(&p, &t) == CBT_EINVAL);
    p.device_bytes = 1 << 20;
    p.flags = 0x80;
    CHECK(cbt_tracker_create(&p, &t) == CBT_EINVAL);
    CHECK(t == nullptr);
}

TEST_CASE("granularity follows the device size unless given")
{
    Tracker small(16ull << 20, 0, 0);
    CHECK(cbt_tracker_granularity(small.t) == 4096);
    cbt_tracker_params p{};
    cbt_tracker *t = nullptr;
    p.name = "big";
    p.device_bytes = 1ull << 40; // never touched: the bitmap is sparse
    REQUIRE(cbt_tracker_create(&p, &t) == 0);
    CHECK(cbt_tracker_granularity(t) == 65536);
    cbt_tracker_destroy(t);
}

static std::vector<uint8_t> meta_image(Tracker &tr, uint32_t state, bool with_bitmap)
{
    std::vector<uint8_t> img(cbt_tracker_meta_size(tr.t));
    uint64_t n = cbt_tracker_meta_build(tr.t, state, 0, with_bitmap, img.data());
    img.resize(n);
    return img;
}

TEST_CASE("clean metadata loads the saved bitmap including undrained records")
{
    std::vector<uint8_t> img;
    {
        Tracker tr;
        tr.write(0, 8, 1);
        uint64_t g, bits;
        REQUIRE(cbt_tracker_cut(tr.t, 0, &g, &bits) == 0);
        tr.write(800, 8, 1);
        REQUIRE(cbt_tracker_cut(tr.t, g, &g, &bits) == 0); // first generation dropped
        tr.write(1600, 8, 1);
        img = meta_image(tr, CBT_STATE_CLEAN, true);
    }
    Tracker tr2;
    uint32_t st, why;
    cbt_tracker_meta_load(tr2.t, img.data(), img.size(), &st, &why);
    CHECK(st == CBT_STATE_CLEAN);
    auto s = tr2.status();
    CHECK(s.state == CBT_STATE_DIRTY);
    CHECK(s.dirty_bits == 3); // 0 via its uncommitted record, 100 frozen, 200 active
    CHECK(s.next_seq == 4);   // numbering continues
}

TEST_CASE("dirty metadata at attach means unclean shutdown")
{
    Tracker tr;
    auto img = meta_image(tr, CBT_STATE_DIRTY, false);
    Tracker tr2;
    uint32_t st, why;
    cbt_tracker_meta_load(tr2.t, img.data(), img.size(), &st, &why);
    CHECK(st == CBT_STATE_DIRTY);
    CHECK(tr2.status().state == CBT_STATE_RESYNC_REQUIRED);
    CHECK(tr2.status().state_reason == CBT_REASON_UNCLEAN_SHUTDOWN);
}

TEST_CASE("missing, corrupt or mismatched metadata requires a resync and says why")
{
    Tracker tr;
    uint32_t st, why;
    cbt_tracker_meta_load(tr.t, nullptr, 0, &st, &why);
    CHECK(tr.status().state_reason == CBT_REASON_NEW_DEVICE);

    auto img = meta_image(tr, CBT_STATE_CLEAN, true);
    img[20] ^= 1;
    Tracker tr2;
    cbt_tracker_meta_load(tr2.t, img.data(), img.size(), &st, &why);
    CHECK(tr2.status().state == CBT_STATE_RESYNC_REQUIRED);
    CHECK(tr2.status().state_reason == CBT_REASON_METADATA_INVALID);

    img = meta_image(tr, CBT_STATE_CLEAN, true);
    Tracker tr3(32ull << 20);
    cbt_tracker_meta_load(tr3.t, img.data(), img.size(), &st, &why);
    CHECK(tr3.status().state_reason == CBT_REASON_SIZE_CHANGED);

    Tracker tr4(16ull << 20, 0, 4096, 0, "other");
    cbt_tracker_meta_load(tr4.t, img.data(), img.size(), &st, &why);
    CHECK(tr4.status().state_reason == CBT_REASON_IDENTITY_CHANGED);
}

TEST_CASE("ready reports records and state changes for WAIT")
{
    Tracker tr;
    tr.status();
    CHECK(cbt_tracker_ready(tr.t) == 0);
    tr.write(0, 1, 1);
    CHECK(cbt_tracker_ready(tr.t) & CBT_READY_RECORDS);
    cbt_tracker_set_state(tr.t, CBT_STATE_RESYNC_REQUIRED, CBT_REASON_DEVICE_REMOVED);
    CHECK(cbt_tracker_ready(tr.t) & CBT_READY_STATE);
    tr.status();
    CHECK(!(cbt_tracker_ready(tr.t) & CBT_READY_STATE));
}

TEST_CASE("the core never allocates with WAIT under its lock and frees everything")
{
    long before = cbt_test_allocs;
    {
        Tracker tr(16ull << 20, 64 << 10);
        for (int i = 0; i < 300; i++)
            tr.write((uint64_t)i * 8 % 30000, 8, (uint8_t)i);
        uint64_t g, bits;
        REQUIRE(cbt_tracker_cut(tr.t, 0, &g, &bits) == 0);
        tr.drain();
    }
    CHECK(cbt_test_wait_under_lock == 0);
    CHECK(cbt_test_allocs == before);
}
