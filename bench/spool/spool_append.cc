// Spool append throughput with group commit: MiB of 1 MiB DATA batches (16 writes of 64 KiB)
// appended to a fresh spool, sync() every GROUP MiB. The time is the whole loop's wall clock,
// building and validating each batch included (as the source does before the spooler gets
// it): timing only the spool calls would let writeback run for free in between.
// Usage: cbtrep-spool-bench DIR MIB GROUP_MIB        → one JSON object (spool)
//        cbtrep-spool-bench --seq FILE MIB GROUP_MIB → one JSON object (plain write loop:
//        the same bytes in 1 MiB write()s, fdatasync every GROUP_MIB: the disk's own speed)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "common/log.h"
#include "spool/spool.h"

using namespace cbtrep;

namespace
{

constexpr uint32_t kRecs = 16;
constexpr uint32_t kWrite = 64 << 10;

// One batch of kRecs data records starting at seq; payload CRCs computed once by the caller.
std::vector<uint8_t> make_batch(uint64_t id, uint64_t seq, const std::vector<uint8_t> &data,
                                uint32_t data_crc, uint64_t dev_sectors)
{
    std::vector<uint8_t> out(sizeof(cbt_batch) + kRecs * (sizeof(cbt_record) + kWrite));
    cbt_batch b{};
    b.magic = CBT_MAGIC_BATCH;
    b.version = CBT_BATCH_VERSION;
    b.mode = CBT_MODE_DATA;
    b.batch_id = id;
    b.first_seq = seq;
    b.last_seq = seq + kRecs - 1;
    b.nr_records = kRecs;
    b.payload_len = out.size() - sizeof(b);
    cbt_batch_seal(&b);
    std::memcpy(out.data(), &b, sizeof(b));
    size_t off = sizeof(b);
    for (uint32_t i = 0; i < kRecs; i++) {
        cbt_record r;
        uint64_t sector = ((seq + i) * (kWrite >> CBT_SECTOR_SHIFT)) % dev_sectors;
        cbt_rec_init(&r, CBT_REC_WRITE, seq + i, sector, kWrite >> CBT_SECTOR_SHIFT,
                     CBT_RF_HAS_DATA, 1'700'000'000'000'000'000ull + seq + i);
        r.data_len = kWrite;
        r.data_crc = data_crc;
        r.hdr_crc = cbt_hdr_crc(&r, sizeof(r));
        std::memcpy(out.data() + off, &r, sizeof(r));
        std::memcpy(out.data() + off + sizeof(r), data.data(), kWrite);
        off += sizeof(r) + kWrite;
    }
    return out;
}

// The baseline: the same byte count written sequentially with the same fdatasync cadence.
int seq_write(const char *path, uint64_t mib, uint64_t group)
{
    int fd = ::open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        std::perror(path);
        return 1;
    }
    const size_t piece = sizeof(cbt_batch) + kRecs * (sizeof(cbt_record) + kWrite);
    std::vector<uint8_t> buf(piece);
    for (size_t i = 0; i < buf.size(); i++)
        buf[i] = static_cast<uint8_t>(i * 131 + (i >> 9));
    const auto start = std::chrono::steady_clock::now();
    uint64_t syncs = 0;
    for (uint64_t i = 0; i < mib; i++) {
        buf[i % buf.size()] ^= 1; // not the same page content every time
        if (::write(fd, buf.data(), buf.size()) != static_cast<ssize_t>(buf.size())) {
            std::perror("write");
            return 1;
        }
        if ((i + 1) % group == 0 || i + 1 == mib) {
            if (::fdatasync(fd) != 0) {
                std::perror("fdatasync");
                return 1;
            }
            syncs++;
        }
    }
    double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ::close(fd);
    std::printf("{\"seq_bytes\": %llu, \"seconds\": %.3f, \"seq_mb_s\": %.1f, "
                "\"fdatasyncs\": %llu}\n",
                static_cast<unsigned long long>(mib * piece), sec, mib * piece / sec / 1e6,
                static_cast<unsigned long long>(syncs));
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    if (argc == 5 && std::string(argv[1]) == "--seq")
        return seq_write(argv[2], std::strtoull(argv[3], nullptr, 10),
                         std::strtoull(argv[4], nullptr, 10));
    if (argc != 4) {
        std::fprintf(stderr, "usage: %s DIR MIB GROUP_MIB\n", argv[0]);
        return 2;
    }
    const std::string dir = argv[1];
    const uint64_t mib = std::strtoull(argv[2], nullptr, 10);
    const uint64_t group = std::strtoull(argv[3], nullptr, 10);
    log_set_level(LogLevel::warn);

    spool::SpoolOptions o;
    o.dir = dir;
    o.device.name = "bench0";
    o.device.device_bytes = 64ull << 30;
    o.device.granularity = 4096;
    o.limit_bytes = ~0ull >> 1;
    o.reserve_bytes = 64ull << 20;
    spool::Spool s(o);

    std::vector<uint8_t> data(kWrite);
    for (size_t i = 0; i < data.size(); i++)
        data[i] = static_cast<uint8_t>(i * 131 + (i >> 9));
    const uint32_t crc = cbt_crc32c(0, data.data(), data.size());
    const uint64_t dev_sectors = o.device.device_bytes >> CBT_SECTOR_SHIFT;

    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    uint64_t bytes = 0, syncs = 0, seq = 1;
    for (uint64_t i = 0; i < mib; i++) {
        source::Batch b(make_batch(i + 1, seq, data, crc, dev_sectors), o.device.device_bytes,
                        "bench");
        seq += kRecs;
        s.append(b);
        if ((i + 1) % group == 0 || i + 1 == mib) {
            s.sync();
            syncs++;
        }
        bytes += b.size_bytes();
    }
    double sec = std::chrono::duration<double>(clock::now() - start).count();
    std::printf("{\"spool_bytes\": %llu, \"seconds\": %.3f, \"spool_mb_s\": %.1f, "
                "\"fdatasyncs\": %llu}\n",
                static_cast<unsigned long long>(bytes), sec, bytes / sec / 1e6,
                static_cast<unsigned long long>(syncs));
    return 0;
}
