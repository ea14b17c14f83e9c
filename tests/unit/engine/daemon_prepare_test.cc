// The drain path without a network: FileSource batches → Preparer extents → applied to an
// in-memory replica must reproduce the device, for DATA, META, DISCARD/ZEROES, GAP records;
// extents keep record order and carry the record's seq.
#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <unistd.h>

#include <cbtrep/bitmap.h>
#include <cbtrep/wire.h>

#include "daemon/prepare.h"
#include "scratch_dir.h"
#include "source/file_source.h"
#include "source/stream_writer.h"

using namespace cbtrep;
namespace fs = std::filesystem;

namespace
{

struct TempDir : enginetest::ScratchDir {
    TempDir() : ScratchDir("/var/tmp/cbtrep-prep") {}
};

constexpr uint64_t dev_bytes = 8ull << 20;

void apply_batch(const daemon::PreparedBatch &pb, std::vector<uint8_t> &replica)
{
    for (const auto &e : pb.extents) {
        REQUIRE(e.offset + e.length <= replica.size());
        switch (e.encoding) {
        case CBT_WE_ZERO:
        case CBT_WE_DISCARD:
            std::memset(replica.data() + e.offset, 0, e.length);
            break;
        case CBT_WE_RAW:
        case CBT_WE_LZ4:
            codec::decode(e.encoding == CBT_WE_RAW ? codec::Encoding::raw : codec::Encoding::lz4,
                          e.offset, uint32_t(e.length), e.payload, e.digest,
                          std::span<uint8_t>(replica.data() + e.offset, e.length));
            break;
        default:
            FAIL("unknown encoding " << e.encoding);
        }
    }
}

} // namespace

TEST_CASE("daemon_prepare: replaying prepared batches reproduces the device", "[daemon]")
{
    TempDir d;
    std::string journal = (d.path / "j.cbts").string();
    std::string image = (d.path / "image.bin").string();
    std::vector<uint8_t> dev(dev_bytes, 0);
    std::mt19937_64 rng(5);
    {
        source::StreamWriter::Options o;
        o.device_bytes = dev_bytes;
        o.max_batch_bytes = 1 << 20;
        source::StreamWriter w(journal, o);
        std::vector<uint8_t> buf;
        for (int i = 0; i < 60; i++) {
            uint64_t len = (1 + rng() % 64) * 4096;
            uint64_t off = (rng() % ((dev_bytes - len) / 4096)) * 4096;
            buf.resize(len);
            int kind = int(rng() % 5);
            if (kind == 0)
                std::fill(buf.begin(), buf.end(), 0); // zero data: ZERO extents
            else if (kind == 1)
                for (size_t k = 0; k < len; k++)
                    buf[k] = uint8_t("abcabcabd"[k % 9]); // compressible
            else
                for (auto &b : buf)
                    b = uint8_t(rng());
            if (kind == 4 && i % 3 == 0) {
                std::memset(dev.data() + off, 0, len);
                w.discard(off / 512, uint32_t(len / 512));
                continue;
            }
            std::memcpy(dev.data() + off, buf.data(), len);
            if (kind == 3)
                w.write_meta(off / 512, uint32_t(len / 512)); // read back from image.bin
            else
                w.write(off / 512, buf);
            if (i % 10 == 9)
                w.tag("t" + std::to_string(i));
        }
        // Unjournalled writes covered by a GAP and its bitmap dump.
        uint32_t gran = cbt_granularity_for_size(dev_bytes);
        cbt_bitmap_hdr h;
        cbt_bitmap_hdr_init(&h, 3, dev_bytes, gran);
        std::vector<uint8_t> bits(h.bits_len, 0);
        for (uint64_t off : {uint64_t(0), uint64_t(1) << 20, dev_bytes - gran}) {
            for (uint64_t k = 0; k < gran; k++)
                dev[off + k] = uint8_t(rng());
            cbt_bitmap_set(bits.data(), off / gran);
        }
        cbt_bitmap_hdr_seal(&h, bits.data());
        fs::create_directories(journal + ".bitmaps");
        std::ofstream f(journal + ".bitmaps/3.cbtm", std::ios::binary);
        f.write(reinterpret_cast<const char *>(&h), sizeof(h));
        f.write(reinterpret_cast<const char *>(bits.data()), long(bits.size()));
        f.close();
        w.gap(3, CBT_REASON_JOURNAL_RECORD_CAP);
        w.tag("final");
        w.close();
    }
    {
        std::ofstream img(image, std::ios::binary);
        img.write(reinterpret_cast<const char *>(dev.data()), long(dev.size()));
    }

    source::FileSourceOptions so;
    so.stream_path = journal;
    source::FileSource src(so);
    daemon::PrepareOptions po;
    po.codec.chunk_bytes = 64 * 1024;
    po.reader.queue_depth = 8;
    po.device = image;
    daemon::Preparer prep(po);
    std::vector<uint8_t> replica(dev_bytes, 0xee); // garbage: every byte must be written
    // The history covers every byte only if the replica starts zeroed, like a new image.
    std::fill(replica.begin(), replica.end(), 0);
    uint64_t last_seq = 0, tags = 0, batches = 0;
    bool saw_lz4 = false, saw_zero = false, saw_discard = false, saw_gap = false;
    while (auto b = src.next_batch()) {
        std::optional<source::Bitmap> bm;
        if (b->header().flags & CBT_BF_HAS_GAP)
            bm = src.bitmap_read(src.bitmap_cut(0));
        daemon::PreparedBatch pb = prep.prepare(*b, bm ? &*bm : nullptr);
        CHECK(pb.info.batch_id == b->id());
        CHECK(pb.info.first_seq == last_seq + 1);
        uint64_t prev = 0;
        for (const auto &e : pb.extents) {
            CHECK(e.seq >= prev); // record order
            CHECK(e.seq >= pb.info.first_seq);
            CHECK(e.seq <= pb.info.last_seq);
            prev = e.seq;
            CHECK(e.length <= CBT_WIRE_MAX_EXTENT);
            saw_lz4 |= e.encoding == CBT_WE_LZ4;
            saw_zero |= e.encoding == CBT_WE_ZERO;
            saw_discard |= e.encoding == CBT_WE_DISCARD;
        }
        saw_gap |= (pb.info.flags & CBT_WB_HAS_GAP) != 0;
        apply_batch(pb, replica);
        tags += pb.tags.size();
        last_seq = pb.info.last_seq;
        src.commit(b->id());
        ++batches;
    }
    CHECK(batches > 3);
    CHECK(tags >= 6);
    CHECK(saw_lz4);
    CHECK(saw_zero);
    CHECK(saw_discard);
    CHECK(saw_gap);
    CHECK(replica == dev);
}

TEST_CASE("daemon_prepare: bitmap ranges merge adjacent bits and clip at the device end",
          "[daemon]")
{
    source::Bitmap bm;
    bm.granularity = 4096;
    bm.nr_bits = 20;
    bm.bits.assign(8, 0);
    for (uint64_t i : {1, 2, 3, 9, 19})
        bm.bits[i / 8] |= uint8_t(1u << (i % 8));
    auto r = daemon::bitmap_ranges(bm, 19 * 4096 + 512);
    REQUIRE(r.size() == 3);
    CHECK(r[0].offset == 4096);
    CHECK(r[0].length == 3 * 4096);
    CHECK(r[1].offset == 9 * 4096);
    CHECK(r[2].offset == 19 * 4096);
    CHECK(r[2].length == 512);
}

TEST_CASE("daemon_prepare: a META record with no device configured is an error", "[daemon]")
{
    TempDir d;
    std::string journal = (d.path / "j.cbts").string();
    {
        source::StreamWriter::Options o;
        o.device_bytes = dev_bytes;
        source::StreamWriter w(journal, o);
        w.write_meta(0, 8);
        w.close();
    }
    source::FileSourceOptions so;
    so.stream_path = journal;
    source::FileSource src(so);
    daemon::Preparer prep(daemon::PrepareOptions{});
    auto b = src.next_batch();
    REQUIRE(b);
    CHECK_THROWS_WITH(prep.prepare(*b, nullptr), Catch::Contains("no \"device\""));
}

TEST_CASE("daemon_prepare: the initial copy skips an image's holes as ZERO extents", "[daemon]")
{
    TempDir d;
    std::string image = (d.path / "sparse.img").string();
    const uint64_t size = 4u << 20;
    std::vector<uint8_t> dev(size, 0);
    {
        std::ofstream f(image, std::ios::binary);
        f.close();
        fs::resize_file(image, size);
    }
    std::mt19937_64 rng(9);
    auto put = [&](uint64_t off, uint64_t len) {
        std::fstream f(image, std::ios::in | std::ios::out | std::ios::binary);
        for (uint64_t k = 0; k < len; k++)
            dev[off + k] = uint8_t(rng() | 1);
        f.seekp(long(off));
        f.write(reinterpret_cast<const char *>(dev.data() + off), long(len));
    };
    put(0, 64 * 1024);
    put((1u << 20) + 4096, 4096);
    put(3u << 20, 100 * 1024);

    std::vector<reader::Range> data, holes;
    daemon::data_and_holes(image, {0, size}, data, holes);
    uint64_t hole_bytes = 0, data_bytes = 0;
    for (auto &h : holes)
        hole_bytes += h.length;
    for (auto &r : data)
        data_bytes += r.length;
    CHECK(hole_bytes + data_bytes == size);
    if (hole_bytes == 0)
        WARN("this file system reports no holes; the copy reads everything");
    else
        CHECK(hole_bytes >= 3u << 20);

    daemon::PrepareOptions po;
    po.codec.chunk_bytes = 64 * 1024;
    po.device = image;
    daemon::Preparer prep(po);
    transport::BatchInfo info;
    info.batch_id = 1;
    info.first_seq = info.last_seq = 1;
    daemon::PreparedBatch pb = prep.prepare_copy(info, {0, size});
    std::vector<uint8_t> replica(size, 0xee);
    apply_batch(pb, replica);
    CHECK(replica == dev);
    // Bytes actually read and encoded: the data only (plus file-system block rounding).
    CHECK(pb.decoded_bytes <= data_bytes);
    CHECK(pb.decoded_bytes >= 64 * 1024 + 4096 + 100 * 1024);
}
