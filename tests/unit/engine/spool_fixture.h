// Shared by the spool_*_test.cc files: a temporary directory and a run of real batches
// (written by StreamWriter, read back through FileSource so each one is validated), so
// every test states only its scenario and its check.
#pragma once

#include <cerrno>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

#include "scratch_dir.h"
#include "source/file_source.h"
#include "source/stream_writer.h"
#include "spool/spool.h"
#include "spool/spool_source.h"

namespace spooltest
{

namespace fs = std::filesystem;
using cbtrep::source::Batch;

constexpr uint64_t dev_bytes = 256ull << 20;

struct TempDir : enginetest::ScratchDir {
    TempDir() : ScratchDir("/tmp/cbtrep-spool") {}
};

// A journal stream file of n batches (one 8 KiB DATA write each), for FileSource.
inline std::string stream_of(const TempDir &tmp, int n)
{
    std::string p = tmp.str("j.cbts");
    cbtrep::source::StreamWriter::Options o;
    o.device_bytes = dev_bytes;
    cbtrep::source::StreamWriter w(p, o);
    for (int i = 0; i < n; i++) {
        std::vector<uint8_t> data(8192, static_cast<uint8_t>(i));
        w.write(uint64_t(i) * 16, data);
        w.end_batch();
    }
    w.close();
    return p;
}

inline cbtrep::source::FileSourceOptions fso(const std::string &p)
{
    cbtrep::source::FileSourceOptions o;
    o.stream_path = p;
    return o;
}

// n batches of one DATA write each (write_bytes long, content derived from its index), a
// tag every 10th batch. Sequence numbers start at first_seq.
inline std::vector<Batch> make_batches(const TempDir &tmp, int n, size_t write_bytes = 8192,
                                       uint64_t first_seq = 1)
{
    std::string p = tmp.str("gen-" + std::to_string(first_seq) + ".cbts");
    {
        cbtrep::source::StreamWriter::Options o;
        o.device_bytes = dev_bytes;
        o.first_seq = first_seq;
        o.first_batch_id = first_seq;
        cbtrep::source::StreamWriter w(p, o);
        for (int i = 0; i < n; i++) {
            std::vector<uint8_t> data(write_bytes, static_cast<uint8_t>(i * 7 + 1));
            w.write(uint64_t(i % 1000) * (write_bytes / 512), data);
            if (i % 10 == 9)
                w.tag("t" + std::to_string(i));
            w.end_batch();
        }
        w.close();
    }
    cbtrep::source::FileSourceOptions fo;
    fo.stream_path = p;
    fo.cursor_path = p + ".cursor";
    cbtrep::source::FileSource src(fo);
    std::vector<Batch> out;
    while (auto b = src.next_batch()) {
        src.commit(b->id());
        out.push_back(std::move(*b));
    }
    fs::remove(p);
    fs::remove(p + ".cursor");
    return out;
}

inline cbtrep::spool::SpoolOptions options(const std::string &dir)
{
    cbtrep::spool::SpoolOptions o;
    o.dir = dir;
    o.device.name = "disk0";
    o.device.device_bytes = dev_bytes;
    o.device.granularity = 4096;
    o.segment_bytes = 64 << 10; // many segments from few batches
    o.reserve_bytes = 0;
    return o;
}

// Every batch the spool hands out, in order.
inline std::vector<Batch> drain(cbtrep::spool::Spool &s)
{
    std::vector<Batch> out;
    while (auto b = s.next())
        out.push_back(std::move(*b));
    return out;
}

inline std::vector<std::string> segments(const std::string &dir)
{
    std::vector<std::string> out;
    for (auto &e : fs::directory_iterator(dir))
        if (e.path().extension() == ".hrl")
            out.push_back(e.path().string());
    std::sort(out.begin(), out.end());
    return out;
}

// Hands out and commits (as the sender's ACKs would) every batch src has now; their ids.
inline std::vector<uint64_t> ship_all(cbtrep::spool::SpoolSource &src)
{
    std::vector<uint64_t> ids;
    while (auto b = src.next_batch()) {
        ids.push_back(b->id());
        src.commit(b->id());
    }
    return ids;
}

// Hands out and commits batches until n were shipped or 50 calls passed (a call may hand
// out nothing while the source switches over to the spool); their ids.
inline std::vector<uint64_t> ship(cbtrep::spool::SpoolSource &src, size_t n)
{
    std::vector<uint64_t> ids;
    for (int i = 0; i < 50 && ids.size() < n; i++) {
        if (auto b = src.next_batch()) {
            ids.push_back(b->id());
            src.commit(b->id());
        }
    }
    return ids;
}

// A SpoolOptions::write_fn whose volume is full (ENOSPC) while full is set.
inline auto enospc_while(const bool &full)
{
    return [&full](int fd, const void *buf, size_t len) -> ssize_t {
        if (full) {
            errno = ENOSPC;
            return -1;
        }
        return ::write(fd, buf, len);
    };
}

} // namespace spooltest
