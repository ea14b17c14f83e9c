// Ground truth for the core: random writes against a fake block device, an engine that
// drains and cuts at random, memory caps that force every mode and injected allocation
// failures. Every written block must be covered by (journal ∪ bitmaps read) — 0 misses —
// and replaying the journal (re-reading META, DIRTY and bitmap ranges from the device, as
// the engine does) must reproduce the device byte for byte.
#include "core_fixture.hpp"

#include <map>
#include <random>
#include <set>

namespace
{

struct Inflight {
    cbt_io *io;
    uint64_t sector, nr;
    uint32_t type;
    std::vector<uint8_t> data;
};

struct FuzzResult {
    uint64_t misses = 0, over = 0, writes = 0, mode_changes = 0, gaps = 0;
    bool replay_equal = false;
    bool resync = false;
};

struct Fuzz {
    Tracker tr;
    std::mt19937_64 rng;
    uint32_t gran;
    uint64_t nbits;
    std::vector<uint8_t> truth;   // per bitmap bit: written
    std::vector<uint8_t> covered; // per bitmap bit: reported by the tracker
    std::vector<uint8_t> reread;  // per bitmap bit: engine must read it from the device
    std::vector<Rec> journal;     // all records drained, in order
    std::vector<Inflight> inflight;
    uint64_t frozen_read = 0, expected_seq = 1, last_batch = 0;
    bool batch_out = false;
    bool inject = true; // allocation failures and failed writes
    FuzzResult res;

    Fuzz(uint64_t seed, uint64_t bytes, uint64_t cap, uint32_t flags)
        : tr(bytes, cap, 4096, flags), rng(seed), gran(4096)
    {
        nbits = bytes / gran;
        truth.assign(nbits, 0);
        covered.assign(nbits, 0);
        reread.assign(nbits, 0);
    }

    uint64_t rnd(uint64_t n) { return rng() % n; }

    void mark(std::vector<uint8_t> &v, uint64_t sector, uint64_t nr)
    {
        for (uint64_t b = sector * 512 / gran; b <= ((sector + nr) * 512 - 1) / gran; b++)
            v[b] = 1;
    }

    bool overlaps_inflight(uint64_t s, uint64_t n)
    {
        for (auto &f : inflight)
            if (s < f.sector + f.nr && f.sector < s + n)
                return true;
        return false;
    }

    void submit()
    {
        uint64_t secs = tr.sectors();
        uint64_t nr = 1 + (rnd(4) ? rnd(16) : rnd(2048));
        uint64_t s = rnd(8) == 0 ? secs - 1 - rnd(4) : rnd(secs);
        if (s + nr > secs)
            nr = secs - s;
        if (overlaps_inflight(s, nr))
            return;
        uint32_t r = (uint32_t)rnd(20), type = CBT_REC_WRITE;
        if (r == 0)
            type = CBT_REC_DISCARD;
        else if (r == 1)
            type = CBT_REC_WRITE_ZEROES;
        else if (r == 2)
            type = CBT_REC_SECURE_ERASE;
        Inflight f{nullptr, s, nr, type, {}};
        if (type == CBT_REC_WRITE) {
            f.data.resize(nr * 512);
            for (auto &b : f.data)
                b = (uint8_t)rng();
        }
        if (inject && rnd(300) == 0)
            cbt_test_fail_nowait = 1;
        f.io = tr.begin(s, nr, type, f.data.empty() ? nullptr : f.data.data());
        cbt_test_fail_nowait = 0;
        mark(truth, s, nr);
        res.writes++;
        inflight.push_back(std::move(f));
    }

    void complete(size_t i)
    {
        Inflight f = std::move(inflight[i]);
        inflight.erase(inflight.begin() + (long)i);
        int err = rnd(50) == 0 ? -5 : 0;
        if (err) {
            // A failed write may have torn the range: scribble over part of it.
            std::memset(tr.dev.data() + f.sector * 512, 0xee, (f.nr * 512) / 2);
            cbt_io_end(tr.t, f.io, err);
        } else {
            tr.end(f.io, f.sector, f.nr, f.data.data(), 0, f.type);
        }
    }

    void engine_get()
    {
        Batch b;
        int err = tr.get(b, (uint32_t)rnd(40));
        if (err == CBT_EAGAIN)
            return;
        REQUIRE(err == 0);
        if (batch_out) {
            CHECK(b.hdr.batch_id == last_batch); // redelivered, not a new one
        } else {
            CHECK(b.hdr.first_seq == expected_seq);
        }
        if (rnd(5) == 0) { // engine "crashes" before commit: must be redelivered
            batch_out = true;
            last_batch = b.hdr.batch_id;
            return;
        }
        REQUIRE(cbt_tracker_commit(tr.t, b.hdr.batch_id) == 0);
        batch_out = false;
        expected_seq = b.hdr.last_seq + 1;
        for (auto &r : b.recs) {
            if (cbt_rec_type_has_range(r.hdr.type)) {
                mark(covered, r.hdr.sector, r.hdr.nr_sectors);
                if (r.hdr.type == CBT_REC_DIRTY ||
                    (r.hdr.type == CBT_REC_WRITE && !(r.hdr.flags & CBT_RF_HAS_DATA)))
                    mark(reread, r.hdr.sector, r.hdr.nr_sectors);
            }
            if (r.hdr.type == CBT_REC_GAP) {
                res.gaps++;
                read_frozen(r.hdr.aux);
            }
            journal.push_back(r);
        }
    }

    void read_frozen(uint64_t gen)
    {
        std::vector<uint8_t> bits(cbt_bitmap_bits_len(nbits));
        cbt_bitmap_hdr bh;
        uint64_t copied = 0;
        int err = cbt_tracker_bitmap_read(tr.t, gen, 0, bits.size(), emit_vec, &bits, &bh, &copied);
        if (err == CBT_ESTALE)
            return; // cut again since: the newer frozen one includes it
        REQUIRE(err == 0);
        REQUIRE(copied == bits.size());
        for (uint64_t i = 0; i < nbits; i++)
            if (cbt_bitmap_test(bits.data(), i))
                covered[i] = reread[i] = 1;
        frozen_read = gen;
    }

    void cut()
    {
        uint64_t gen, bits;
        REQUIRE(cbt_tracker_cut(tr.t, frozen_read, &gen, &bits) == 0);
        read_frozen(gen);
    }

    void run(int steps)
    {
        for (int i = 0; i < steps; i++) {
            uint64_t a = rnd(100);
            if (a < 45 || inflight.empty())
                submit();
            else if (a < 85)
                complete((size_t)rnd(inflight.size()));
            else if (a < 97)
                engine_get();
            else if (a < 99)
                cut();
            else {
                uint64_t s = rnd(tr.sectors() - 8);
                REQUIRE(cbt_tracker_mark_dirty(tr.t, s, 8, CBT_REASON_USER_REQUEST) == 0);
                mark(truth, s, 8);
            }
        }
        while (!inflight.empty())
            complete(inflight.size() - 1);
        for (int i = 0; i < 100000; i++) {
            if (!(cbt_tracker_ready(tr.t) & CBT_READY_RECORDS))
                break;
            engine_get();
        }
        cut();
        auto st = tr.status();
        res.mode_changes = st.mode_changes;
        res.resync = st.state == CBT_STATE_RESYNC_REQUIRED;
        for (uint64_t i = 0; i < nbits; i++) {
            res.misses += truth[i] && !covered[i];
            res.over += covered[i] && !truth[i];
        }
        // Replay: records in sequence order onto a zeroed copy; META/DIRTY and bitmap
        // ranges are read from the device, as the engine does.
        std::vector<uint8_t> copy(tr.dev.size(), 0);
        for (auto &r : journal) {
            uint64_t off = r.hdr.sector * 512, len = (uint64_t)r.hdr.nr_sectors * 512;
            switch (r.hdr.type) {
            case CBT_REC_WRITE:
                if (r.hdr.flags & CBT_RF_HAS_DATA)
                    std::memcpy(copy.data() + off, r.data.data(), len);
                else
                    std::memcpy(copy.data() + off, tr.dev.data() + off, len);
                break;
            case CBT_REC_DISCARD:
            case CBT_REC_WRITE_ZEROES:
            case CBT_REC_SECURE_ERASE:
                std::memset(copy.data() + off, 0, len);
                break;
            case CBT_REC_DIRTY:
                std::memcpy(copy.data() + off, tr.dev.data() + off, len);
                break;
            }
        }
        for (uint64_t i = 0; i < nbits; i++)
            if (reread[i])
                std::memcpy(copy.data() + i * gran, tr.dev.data() + i * gran, gran);
        res.replay_equal = copy == tr.dev;
    }
};

} // namespace

TEST_CASE("fuzz: every written block is covered by the journal or a bitmap (0 misses)")
{
    for (uint64_t seed = 1; seed <= 6; seed++) {
        uint64_t cap = seed % 3 == 0 ? (64ull << 10) : seed % 3 == 1 ? (512ull << 10) : 0;
        Fuzz f(seed, 8ull << 20, cap, seed == 5 ? CBT_ATTACH_META_ONLY : 0);
        f.run(4000);
        INFO("seed " << seed << " cap " << cap << " writes " << f.res.writes << " mode changes "
                     << f.res.mode_changes << " gaps " << f.res.gaps);
        CHECK(f.res.writes > 1000);
        CHECK(f.res.misses == 0);
        if (!f.res.resync)
            CHECK(f.res.over == 0); // over-marking only by granularity rounding
        CHECK(f.res.replay_equal);
        if (cap == (64ull << 10))
            CHECK(f.res.mode_changes >= 2); // the tiny cap really degraded
    }
}

TEST_CASE("fuzz: with room enough, DATA-mode replay alone reproduces the device")
{
    Fuzz f(99, 8ull << 20, 256ull << 20, 0);
    f.inject = false;
    // No failures, no marks: every change must come back as a DATA record.
    for (int i = 0; i < 3000; i++) {
        if (f.inflight.empty() || f.rnd(2))
            f.submit();
        else {
            auto &x = f.inflight.back();
            f.tr.end(x.io, x.sector, x.nr, x.data.data(), 0, x.type);
            f.inflight.pop_back();
        }
        if (i % 5 == 0)
            f.engine_get();
    }
    for (auto &x : f.inflight)
        f.tr.end(x.io, x.sector, x.nr, x.data.data(), 0, x.type);
    f.inflight.clear();
    while (cbt_tracker_ready(f.tr.t) & CBT_READY_RECORDS)
        f.engine_get();
    CHECK(f.tr.status().mode_changes == 0);
    std::vector<uint8_t> copy(f.tr.dev.size(), 0);
    uint64_t seq = 1;
    for (auto &r : f.journal) {
        CHECK(r.hdr.seq == seq++);
        uint64_t off = r.hdr.sector * 512, len = (uint64_t)r.hdr.nr_sectors * 512;
        if (r.hdr.type == CBT_REC_WRITE) {
            REQUIRE((r.hdr.flags & CBT_RF_HAS_DATA));
            std::memcpy(copy.data() + off, r.data.data(), len);
        } else {
            std::memset(copy.data() + off, 0, len);
        }
    }
    CHECK((copy == f.tr.dev)); // parenthesised: Catch must not print 8 MiB
}

TEST_CASE("fuzz: bitmap-only replication converges although writes are in flight at every cut")
{
    // An engine that ignores the journal: it cuts, copies the frozen blocks from the device
    // as they are NOW (a write in flight has not landed yet) and declares the generation
    // done. It converges only if a write in flight at a cut is marked again at completion.
    Fuzz f(7, 4ull << 20, 0, 0);
    f.inject = false;
    std::vector<uint8_t> replica(f.tr.dev.size(), 0);
    uint64_t done = 0;
    auto cut_and_copy = [&] {
        uint64_t gen, nbits;
        REQUIRE(cbt_tracker_cut(f.tr.t, done, &gen, &nbits) == 0);
        std::vector<uint8_t> bits(cbt_bitmap_bits_len(f.nbits));
        cbt_bitmap_hdr bh;
        uint64_t copied;
        REQUIRE(cbt_tracker_bitmap_read(f.tr.t, gen, 0, bits.size(), emit_vec, &bits, &bh,
                                        &copied) == 0);
        for (uint64_t i = 0; i < f.nbits; i++)
            if (cbt_bitmap_test(bits.data(), i))
                std::memcpy(replica.data() + i * 4096, f.tr.dev.data() + i * 4096, 4096);
        done = gen;
    };
    for (int i = 0; i < 4000; i++) {
        uint64_t a = f.rnd(10);
        if (a < 5 || f.inflight.empty())
            f.submit();
        else if (a < 9) {
            size_t k = (size_t)f.rnd(f.inflight.size());
            auto &x = f.inflight[k];
            f.tr.end(x.io, x.sector, x.nr, x.data.data(), 0, x.type);
            f.inflight.erase(f.inflight.begin() + (long)k);
        } else
            cut_and_copy();
        if (i % 50 == 0)
            f.tr.drain(); // keep the journal from growing; its content is ignored
    }
    for (auto &x : f.inflight)
        f.tr.end(x.io, x.sector, x.nr, x.data.data(), 0, x.type);
    f.inflight.clear();
    cut_and_copy();
    CHECK((replica == f.tr.dev)); // parenthesised: Catch must not print 4 MiB
}
