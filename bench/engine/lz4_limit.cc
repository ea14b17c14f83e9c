// cbtrep-lz4-limit JOURNAL [CHUNK_BYTES] [REPEAT]: the physical limit the engine is measured
// against: one core running LZ4_compress_default over exactly the data the engine
// compresses (every DATA record of the journal, cut into the engine's chunks), data already
// in memory. Prints "lz4_limit_mbps=<MB/s of input> ratio=<in/out> bytes=<input>
// cpu_mbps=<MB/s per CPU-second>": the second figure divides by the process's CPU time, so
// it stays the one-core limit when other processes share the machine.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <string>
#include <vector>

#include <lz4.h>
#include <unistd.h>

#include "source/file_source.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        std::fprintf(stderr, "usage: cbtrep-lz4-limit JOURNAL [CHUNK_BYTES] [REPEAT]\n");
        return 2;
    }
    size_t chunk = argc > 2 ? std::stoul(argv[2]) : 256 * 1024;
    int repeat = argc > 3 ? std::stoi(argv[3]) : 1;
    try {
        cbtrep::source::FileSourceOptions o;
        o.stream_path = argv[1];
        // A private cursor, removed at the end: the journal's own cursor is not touched.
        std::string cursor = "/tmp/cbtrep-lz4-limit." + std::to_string(::getpid()) + ".cursor";
        o.cursor_path = cursor;
        cbtrep::source::FileSource src(o);
        // Load the data first (up to 1 GiB) so only compression is timed.
        std::vector<std::vector<uint8_t>> pieces;
        size_t total = 0;
        while (total < (1u << 30)) {
            auto b = src.next_batch();
            if (!b)
                break;
            for (const auto &r : b->records())
                if (r.hdr.type == CBT_REC_WRITE && (r.hdr.flags & CBT_RF_HAS_DATA))
                    for (size_t off = 0; off < r.data.size(); off += chunk) {
                        size_t n = std::min(chunk, r.data.size() - off);
                        pieces.emplace_back(r.data.begin() + long(off),
                                            r.data.begin() + long(off + n));
                        total += n;
                    }
            src.commit(b->id());
        }
        std::remove(cursor.c_str());
        std::vector<char> out(static_cast<size_t>(LZ4_compressBound(static_cast<int>(chunk))));
        size_t in_bytes = 0, out_bytes = 0;
        auto cpu_now = [] {
            timespec ts{};
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
            return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
        };
        double c0 = cpu_now();
        auto t0 = std::chrono::steady_clock::now();
        for (int k = 0; k < repeat; k++)
            for (const auto &p : pieces) {
                int n = LZ4_compress_default(reinterpret_cast<const char *>(p.data()), out.data(),
                                             int(p.size()), int(out.size()));
                in_bytes += p.size();
                out_bytes += size_t(n);
            }
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        double cpu = cpu_now() - c0;
        std::printf("lz4_limit_mbps=%.1f ratio=%.3f bytes=%zu cpu_mbps=%.1f\n",
                    double(in_bytes) / s / 1e6, double(in_bytes) / double(out_bytes), in_bytes,
                    double(in_bytes) / std::max(cpu, 1e-9) / 1e6);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "cbtrep-lz4-limit: %s\n", e.what());
        return 1;
    }
    return 0;
}
