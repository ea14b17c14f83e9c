// FileSource: batches come back as written, commit persists a cursor so a new FileSource
// resumes after the last committed batch, rewind redelivers, corruption names its offset.
#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include <cbtrep/bitmap.h>

#include "source/file_source.h"
#include "scratch_dir.h"
#include "source/stream_writer.h"

using namespace cbtrep::source;
namespace fs = std::filesystem;
using enginetest::flip_byte;
using TempDir = enginetest::ScratchDir;

namespace
{

FileSourceOptions fso(const std::string &p)
{
    FileSourceOptions o;
    o.stream_path = p;
    return o;
}

constexpr uint64_t dev_bytes = 64ull << 20;

// Three batches: DATA (2 writes + tag), META (write + discard), DATA (one write).
std::string write_stream(const fs::path &dir)
{
    std::string p = (dir / "j.cbts").string();
    StreamWriter::Options o;
    o.device_bytes = dev_bytes;
    StreamWriter w(p, o);
    std::vector<uint8_t> a(8192, 0xaa), b(4096, 0xbb);
    w.write(0, a);
    w.write(100, b);
    w.tag("t1");
    w.end_batch();
    w.write_meta(2048, 16);
    w.discard(4096, 8);
    w.end_batch();
    w.write(8, b);
    w.close();
    return p;
}

} // namespace

TEST_CASE("source_file: batches are handed out in order with their records", "[source]")
{
    TempDir d;
    FileSource src(fso(write_stream(d.path)));
    CHECK(src.info().device_bytes == dev_bytes);
    CHECK(src.info().name == "disk0");
    auto b1 = src.next_batch();
    REQUIRE(b1);
    CHECK(b1->id() == 1);
    CHECK(b1->header().mode == CBT_MODE_DATA);
    REQUIRE(b1->records().size() == 3);
    CHECK(b1->records()[0].data.size() == 8192);
    CHECK(b1->records()[0].data[0] == 0xaa);
    CHECK(b1->records()[1].offset_bytes() == 100 * 512);
    CHECK(b1->records()[2].hdr.type == CBT_REC_TAG);
    auto b2 = src.next_batch();
    REQUIRE(b2);
    CHECK(b2->header().mode == CBT_MODE_META);
    CHECK(b2->records()[1].hdr.type == CBT_REC_DISCARD);
    auto b3 = src.next_batch();
    REQUIRE(b3);
    CHECK(b3->header().first_seq == 6);
    CHECK_FALSE(src.next_batch());
}

TEST_CASE("source_file: a restart resumes after the last committed batch", "[source]")
{
    TempDir d;
    std::string p = write_stream(d.path);
    {
        FileSource src(fso(p));
        auto b1 = src.next_batch();
        auto b2 = src.next_batch();
        REQUIRE(b2);
        src.commit(b1->id());
        // b2 handed out, never committed: lost with the process.
    }
    FileSource again(fso(p));
    CHECK(again.cursor().batch_id == 1);
    auto b = again.next_batch();
    REQUIRE(b);
    CHECK(b->id() == 2);
    CHECK(again.status().committed_seq == 3);
}

TEST_CASE("source_file: rewind hands out uncommitted batches again", "[source]")
{
    TempDir d;
    FileSource src(fso(write_stream(d.path)));
    auto b1 = src.next_batch();
    src.next_batch();
    src.commit(b1->id());
    src.rewind();
    auto again = src.next_batch();
    REQUIRE(again);
    CHECK(again->id() == 2);
}

TEST_CASE("source_file: commit out of order is refused", "[source]")
{
    TempDir d;
    FileSource src(fso(write_stream(d.path)));
    src.next_batch();
    auto b2 = src.next_batch();
    CHECK_THROWS_WITH(src.commit(b2->id()), Catch::Contains("not the oldest"));
}

TEST_CASE("source_file: a corrupt record names the batch's file offset", "[source]")
{
    TempDir d;
    std::string p = write_stream(d.path);
    // The first batch starts right after the stream header; corrupt data of its first record.
    flip_byte(p, sizeof(cbt_stream_hdr) + sizeof(cbt_batch) + sizeof(cbt_record) + 10);
    FileSource src(fso(p));
    CHECK_THROWS_WITH(src.next_batch(),
                      Catch::Contains("at offset 96") && Catch::Contains("data checksum"));
}

TEST_CASE("source_file: a corrupt second batch header names its offset", "[source]")
{
    TempDir d;
    std::string p = write_stream(d.path);
    FileSource probe(fso(p));
    probe.next_batch();
    uint64_t second = probe.status().backlog_bytes; // unused, just exercise status()
    (void)second;
    // Offset of batch 2 = 96 + 64 + payload of batch 1 (3 records).
    uint64_t b1_len = 64 + (64 + 8192) + (64 + 4096) + (64 + 96);
    flip_byte(p, 96 + b1_len + 20);
    FileSource src(fso(p));
    src.next_batch();
    CHECK_THROWS_WITH(src.next_batch(),
                      Catch::Contains("at offset " + std::to_string(96 + b1_len)) &&
                          Catch::Contains("header checksum"));
}

TEST_CASE("source_file: a truncated file is reported, or waited for in follow mode", "[source]")
{
    TempDir d;
    std::string p = write_stream(d.path);
    fs::resize_file(p, fs::file_size(p) - 100);
    {
        FileSource src(fso(p));
        src.next_batch();
        src.next_batch();
        CHECK_THROWS_WITH(src.next_batch(), Catch::Contains("truncated batch 3"));
    }
    FileSourceOptions o = fso(p);
    o.follow = true;
    o.cursor_path = (d.path / "c2").string();
    FileSource follow(o);
    follow.next_batch();
    follow.next_batch();
    CHECK_FALSE(follow.next_batch());
    CHECK_FALSE(follow.wait(std::chrono::milliseconds(60)));
}

TEST_CASE("source_file: a bad stream header is refused at open", "[source]")
{
    TempDir d;
    std::string p = write_stream(d.path);
    flip_byte(p, 40);
    CHECK_THROWS_WITH(FileSource(fso(p)),
                      Catch::Contains("at offset 0") && Catch::Contains("stream header"));
}

TEST_CASE("source_file: bitmap dumps named by a GAP record are read and checked", "[source]")
{
    TempDir d;
    std::string p = (d.path / "g.cbts").string();
    StreamWriter::Options o;
    o.device_bytes = dev_bytes;
    {
        StreamWriter w(p, o);
        w.gap(7, CBT_REASON_JOURNAL_RECORD_CAP);
        w.close();
    }
    fs::create_directories(p + ".bitmaps");
    cbt_bitmap_hdr h;
    cbt_bitmap_hdr_init(&h, 7, dev_bytes, cbt_granularity_for_size(dev_bytes));
    std::vector<uint8_t> bits(h.bits_len, 0);
    cbt_bitmap_set(bits.data(), 3);
    cbt_bitmap_set(bits.data(), 100);
    cbt_bitmap_hdr_seal(&h, bits.data());
    {
        std::ofstream f(p + ".bitmaps/7.cbtm", std::ios::binary);
        f.write(reinterpret_cast<const char *>(&h), sizeof(h));
        f.write(reinterpret_cast<const char *>(bits.data()), long(bits.size()));
    }
    FileSource src(fso(p));
    CHECK_THROWS(src.bitmap_cut(0)); // no GAP read yet
    auto b = src.next_batch();
    REQUIRE(b);
    CHECK(b->header().flags == CBT_BF_HAS_GAP);
    uint64_t gen = src.bitmap_cut(0);
    CHECK(gen == 7);
    Bitmap bm = src.bitmap_read(gen);
    CHECK(bm.count() == 2);
    CHECK(bm.test(3));
    CHECK(bm.test(100));
    CHECK_FALSE(bm.test(4));
    CHECK_THROWS_WITH(src.bitmap_read(8), Catch::Contains("8.cbtm"));
}
