// Concurrency stress of the tracking core: the I/O path (cbt_io_begin/end, lock-free
// bitmap marks, the BITMAP-mode path without the tracker lock) on several threads while
// one control thread cuts generations or drains the journal, as a driver would run them.
// The OS layer (cbt_os_impl.h here) has real locks and yields inside mark sections now
// and then, so a mark is often still in flight when a cut swaps the bitmap.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstring>
#include <map>
#include <random>
#include <thread>
#include <utility>
#include <vector>

extern "C" {
#include "cbt_tracker.h"
#include "stress_os.h"
}

namespace
{

constexpr uint64_t kBlocks = 4096; // 16 MiB at 4 KiB granularity
constexpr uint64_t kBlockSectors = 8;
constexpr int kWriters = 3;
constexpr int kWritesEach = 20000;

cbt_tracker *make_tracker(uint64_t cap)
{
    cbt_tracker_params p{};
    p.name = "stress";
    p.device_bytes = kBlocks * 4096;
    p.granularity = 4096;
    p.flags = CBT_ATTACH_META_ONLY;
    p.mem_cap = cap;
    cbt_tracker *t = nullptr;
    REQUIRE(cbt_tracker_create(&p, &t) == 0);
    return t;
}

// One writer: a write of 1..4 blocks is marked at submission, lands on the device (every
// block gets a value no other write uses) and ends; sometimes it yields in between, and
// with cuts every 16th write waits for two cuts before it lands. log gets every
// (sector, nr_sectors) written.
// Catch's assertions are not thread-safe: a writer only counts what went wrong.
std::atomic<long> writer_errors{0};

void writer(cbt_tracker *t, std::vector<std::atomic<uint64_t>> &dev, int id,
            std::vector<std::pair<uint64_t, uint32_t>> *log, std::atomic<uint64_t> *cuts)
{
    std::mt19937_64 rnd(1000 + id);
    for (uint64_t i = 1; i <= kWritesEach; i++) {
        uint64_t b = rnd() % kBlocks, n = 1 + rnd() % 4;
        if (b + n > kBlocks)
            n = kBlocks - b;
        cbt_io *io = nullptr;
        cbt_io_begin(t, CBT_REC_WRITE, 0, b * kBlockSectors, n * kBlockSectors, &io);
        if (!io) {
            writer_errors++;
            continue;
        }
        if (cuts && i % 16 == 0) {
            // In flight across a whole cut for sure (the second one began after this
            // write did): the engine copied the block before the write lands.
            uint64_t c = cuts->load();
            while (cuts->load() < c + 2)
                std::this_thread::yield();
        }
        for (uint64_t k = b; k < b + n; k++)
            dev[k].store(((uint64_t)id << 48) | i, std::memory_order_relaxed);
        if (rnd() % 4 == 0)
            std::this_thread::yield();
        cbt_io_end(t, io, 0);
        if (log)
            log->emplace_back(b * kBlockSectors, (uint32_t)(n * kBlockSectors));
    }
}

int emit_vec(void *ctx, uint64_t off, const void *src, uint64_t len)
{
    auto *v = static_cast<std::vector<uint8_t> *>(ctx);
    if (off + len > v->size())
        return CBT_EFAULT;
    std::memcpy(v->data() + off, src, len);
    return 0;
}

} // namespace

TEST_CASE("stress: writes on 3 threads race cuts, bitmap-only replication misses nothing")
{
    // The minimum cap sends the tracker to BITMAP mode after a few hundred records: from
    // then on the I/O path takes no lock. The "engine" ignores the journal: it cuts, copies
    // the frozen blocks as they are now and drops the generation. It converges only if
    // every mark lands in a generation that is read after the write landed.
    const long allocs = cbt_stress_allocs;
    cbt_tracker *t = make_tracker(CBT_MEM_CAP_MIN);
    std::vector<std::atomic<uint64_t>> dev(kBlocks);
    std::vector<uint64_t> replica(kBlocks, 0);
    uint64_t done = 0;
    std::atomic<uint64_t> cuts{0};
    auto cut_and_copy = [&] {
        uint64_t gen, nbits, copied;
        REQUIRE(cbt_tracker_cut(t, done, &gen, &nbits) == 0);
        std::vector<uint8_t> bits(cbt_bitmap_bits_len(kBlocks));
        cbt_bitmap_hdr bh;
        REQUIRE(cbt_tracker_bitmap_read(t, gen, 0, bits.size(), emit_vec, &bits, &bh, &copied) ==
                0);
        for (uint64_t b = 0; b < kBlocks; b++)
            if (cbt_bitmap_test(bits.data(), b))
                replica[b] = dev[b].load(std::memory_order_relaxed);
        done = gen;
        cuts++;
    };

    std::atomic<int> running{kWriters};
    std::vector<std::thread> ws;
    for (int w = 0; w < kWriters; w++)
        ws.emplace_back([&, w] {
            writer(t, dev, w + 1, nullptr, &cuts);
            running--;
        });
    while (running.load())
        cut_and_copy();
    for (auto &th : ws)
        th.join();
    cut_and_copy(); // everything since the last cut

    CHECK(writer_errors.load() == 0);
    uint64_t misses = 0;
    for (uint64_t b = 0; b < kBlocks; b++)
        misses += replica[b] != dev[b].load();
    CHECK(misses == 0);
    INFO("cuts: " << cuts.load());
    CHECK(cuts.load() >= 100); // the writes really raced cuts

    cbt_ioc_status st{};
    cbt_tracker_status(t, &st);
    CHECK(st.mode == CBT_MODE_BITMAP);
    CHECK(st.state_reason != CBT_REASON_ALLOC_FAILED);
    CHECK(st.writes_seen == (uint64_t)kWriters * kWritesEach);
    CHECK(cbt_tracker_inflight(t) == 0);
    cbt_tracker_destroy(t);
    CHECK(cbt_stress_allocs == allocs);
}

TEST_CASE("stress: completions append while GET and COMMIT drain, every write once in order")
{
    // META mode with room for every record: GET walks and COMMIT frees batches without
    // the tracker lock while completions append behind them.
    const long allocs = cbt_stress_allocs;
    cbt_tracker *t = make_tracker(64ull << 20);
    std::vector<std::atomic<uint64_t>> dev(kBlocks);
    std::vector<std::vector<std::pair<uint64_t, uint32_t>>> logs(kWriters);
    std::map<std::pair<uint64_t, uint32_t>, long> seen;
    std::mt19937_64 rnd(7);
    std::vector<uint8_t> buf(1 << 20);
    uint64_t next_seq = 1, batches = 0, records = 0;
    bool bad = false;

    auto drain_once = [&]() -> bool {
        cbt_batch b{};
        uint64_t need = 0;
        uint32_t max = 1 + (uint32_t)(rnd() % 300);
        int err = cbt_tracker_get(t, max, buf.size(), emit_vec, &buf, &b, &need);
        if (err == CBT_EAGAIN)
            return false;
        REQUIRE(err == 0);
        REQUIRE(cbt_batch_check(buf.data(), need, kBlocks * kBlockSectors, nullptr) == 0);
        bad |= b.first_seq != next_seq || b.nr_records == 0 || b.nr_records > max;
        const uint8_t *p = buf.data() + sizeof(cbt_batch);
        for (uint32_t i = 0; i < b.nr_records; i++) {
            cbt_record r;
            std::memcpy(&r, p, sizeof(r));
            bad |= r.seq != next_seq++ || r.type != CBT_REC_WRITE;
            seen[{r.sector, r.nr_sectors}]++;
            p += sizeof(r) + r.data_len;
        }
        REQUIRE(cbt_tracker_commit(t, b.batch_id) == 0);
        batches++;
        records += b.nr_records;
        return true;
    };

    std::atomic<int> running{kWriters};
    std::vector<std::thread> ws;
    for (int w = 0; w < kWriters; w++)
        ws.emplace_back([&, w] {
            writer(t, dev, w + 1, &logs[(size_t)w], nullptr);
            running--;
        });
    while (running.load())
        if (!drain_once())
            std::this_thread::yield();
    for (auto &th : ws)
        th.join();
    while (drain_once()) {
    }

    CHECK(writer_errors.load() == 0);
    CHECK_FALSE(bad);
    CHECK(records == (uint64_t)kWriters * kWritesEach);
    CHECK(batches > 10);
    std::map<std::pair<uint64_t, uint32_t>, long> written;
    for (auto &l : logs)
        for (auto &w : l)
            written[w]++;
    CHECK((seen == written)); // parenthesised: Catch must not print both maps

    cbt_ioc_status st{};
    cbt_tracker_status(t, &st);
    CHECK(st.mode == CBT_MODE_META);
    CHECK(st.records_pending == 0);
    CHECK(st.mem_used == 0);
    cbt_tracker_destroy(t);
    CHECK(cbt_stress_allocs == allocs);
}
