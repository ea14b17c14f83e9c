// Hash throughput on this machine (bench/resync/run.sh compiles it with engine/resync/hash.cc):
// XXH3-128 and SHA-256 over 4 KiB leaves, the way the resync hasher calls them.
#include <chrono>
#include <cstdio>
#include <vector>

#include "resync/hash.h"

using namespace cbtrep::resync;

static double mbps(HashKind k, size_t piece)
{
    std::vector<uint8_t> buf(64u << 20);
    for (size_t i = 0; i < buf.size(); ++i)
        buf[i] = uint8_t(i * 2654435761u >> 13);
    Hasher h(k);
    uint8_t sink = 0;
    auto t0 = std::chrono::steady_clock::now();
    int rounds = k == HashKind::sha256 ? 2 : 16;
    for (int r = 0; r < rounds; ++r)
        for (size_t off = 0; off < buf.size(); off += piece)
            sink ^= h(std::span<const uint8_t>(buf.data() + off, piece)).bytes[0];
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (sink == 0xff)
        std::fprintf(stderr, " ");
    return double(buf.size()) * rounds / s / 1e6;
}

int main()
{
    std::printf("{\"xxh3_128_4k_mbps\":%.0f,\"sha256_4k_mbps\":%.0f,\"xxh3_128_1m_mbps\":%.0f,"
                "\"sha256_1m_mbps\":%.0f}\n",
                mbps(HashKind::xxh3_128, 4096), mbps(HashKind::sha256, 4096),
                mbps(HashKind::xxh3_128, 1 << 20), mbps(HashKind::sha256, 1 << 20));
}
