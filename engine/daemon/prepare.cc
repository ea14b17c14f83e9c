#include "prepare.h"

#include <chrono>
#include <cstring>
#include <ctime>

#include <cbtrep/wire.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fd.h"

namespace cbtrep::daemon
{

namespace
{
using clock = std::chrono::steady_clock;
double since(clock::time_point t)
{
    return std::chrono::duration<double>(clock::now() - t).count();
}

double thread_cpu_s()
{
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

uint16_t wire_encoding(codec::Encoding e)
{
    switch (e) {
    case codec::Encoding::raw:
        return CBT_WE_RAW;
    case codec::Encoding::lz4:
        return CBT_WE_LZ4;
    case codec::Encoding::zero:
        return CBT_WE_ZERO;
    }
    return 0;
}
} // namespace

std::vector<transport::ExtentOut> PreparedBatch::views() const
{
    std::vector<transport::ExtentOut> v;
    v.reserve(extents.size());
    for (const WireExtent &e : extents) {
        transport::ExtentOut o;
        o.offset = e.offset;
        o.length = e.length;
        o.encoding = e.encoding;
        o.seq = e.seq;
        o.digest = e.digest;
        o.payload = e.payload;
        v.push_back(o);
    }
    return v;
}

Preparer::Preparer(PrepareOptions opts) : opts_(std::move(opts)), encoder_(opts_.codec)
{
    opts_.reader.piece_bytes = opts_.codec.chunk_bytes;
}

reader::Reader &Preparer::reader()
{
    if (!reader_) {
        if (opts_.device.empty())
            throw Error("the batch needs data read from the device, but no \"device\" is "
                        "configured",
                        false);
        reader::Selection sel = reader::open_reader(opts_.device, opts_.reader);
        reader_ = std::move(sel.reader);
        notes_.insert(notes_.end(), sel.notes.begin(), sel.notes.end());
    }
    return *reader_;
}

std::vector<std::string> Preparer::take_reader_notes()
{
    return std::exchange(notes_, {});
}

void Preparer::add_chunks(uint64_t offset, std::span<const uint8_t> data, uint64_t seq,
                          PreparedBatch &out)
{
    auto t = clock::now();
    double cpu = thread_cpu_s();
    scratch_.clear();
    encoder_.encode(offset, data, scratch_);
    for (codec::Chunk &c : scratch_) {
        WireExtent e;
        e.offset = c.offset;
        e.length = c.length;
        e.encoding = wire_encoding(c.encoding);
        e.seq = seq;
        if (c.encoding != codec::Encoding::zero) {
            e.digest = c.digest;
            out.decoded_bytes += c.length;
        }
        out.payload_bytes += c.payload.size();
        e.payload = std::move(c.payload);
        out.extents.push_back(std::move(e));
    }
    out.times.compress_s += thread_cpu_s() - cpu;
    out.times.compress_wall_s += since(t);
}

void Preparer::add_read(const std::vector<reader::Range> &ranges, uint64_t seq, PreparedBatch &out)
{
    if (ranges.empty())
        return;
    auto t = clock::now();
    double compress_before = out.times.compress_wall_s;
    reader().read(ranges, [&](uint64_t off, std::span<const uint8_t> bytes) {
        add_chunks(off, bytes, seq, out);
    });
    // Reading time is the wall time minus what the consumer spent compressing.
    out.times.read_s += since(t) - (out.times.compress_wall_s - compress_before);
}

PreparedBatch Preparer::prepare(const source::Batch &batch, const source::Bitmap *gap_bitmap)
{
    const cbt_batch &h = batch.header();
    PreparedBatch out;
    out.info.batch_id = h.batch_id;
    out.info.first_seq = h.first_seq;
    out.info.last_seq = h.last_seq;
    out.info.mode = h.mode;
    out.info.flags = CBT_WB_CONSISTENT;
    uint64_t device_bytes = 0;
    for (const source::RecordRef &r : batch.records()) {
        const cbt_record &rec = r.hdr;
        out.info.timestamp_ns = std::max(out.info.timestamp_ns, rec.timestamp_ns);
        switch (rec.type) {
        case CBT_REC_WRITE:
            if (rec.flags & CBT_RF_HAS_DATA)
                add_chunks(r.offset_bytes(), r.data, rec.seq, out);
            else {
                add_read({{r.offset_bytes(), r.length_bytes()}}, rec.seq, out);
                // Data read now is newer than the record: the replica is only crash-consistent
                // again at the next DATA-mode tag.
                out.info.flags &= ~CBT_WB_CONSISTENT;
            }
            break;
        case CBT_REC_DIRTY:
            add_read({{r.offset_bytes(), r.length_bytes()}}, rec.seq, out);
            out.info.flags &= ~CBT_WB_CONSISTENT;
            break;
        case CBT_REC_DISCARD:
        case CBT_REC_SECURE_ERASE:
        case CBT_REC_WRITE_ZEROES: {
            WireExtent e;
            e.offset = r.offset_bytes();
            e.length = r.length_bytes();
            e.encoding = rec.type == CBT_REC_WRITE_ZEROES ? CBT_WE_ZERO : CBT_WE_DISCARD;
            e.seq = rec.seq;
            out.extents.push_back(std::move(e));
            break;
        }
        case CBT_REC_TAG: {
            cbt_tag tag;
            std::memcpy(&tag, r.data.data(), sizeof(tag));
            transport::TagOut t;
            t.tag_id = tag.tag_id;
            t.timestamp_ns = tag.timestamp_ns;
            t.seq = rec.seq;
            t.flags = tag.flags;
            t.nr_devices = tag.nr_devices;
            t.name = std::string(tag.name, strnlen(tag.name, sizeof(tag.name)));
            out.tags.push_back(std::move(t));
            break;
        }
        case CBT_REC_GAP: {
            if (!gap_bitmap)
                throw Error(cat("batch ", h.batch_id, ": GAP record (seq ", rec.seq,
                                ") without its bitmap"),
                            false);
            if (!device_bytes)
                device_bytes = reader().size();
            add_read(bitmap_ranges(*gap_bitmap, std::min(device_bytes, gap_bitmap->device_bytes)),
                     rec.seq, out);
            out.info.flags |= CBT_WB_HAS_GAP;
            out.info.flags &= ~CBT_WB_CONSISTENT;
            break;
        }
        default:
            throw Error(cat("batch ", h.batch_id, ": record type ", rec.type, " (bug)"), false);
        }
    }
    if (out.extents.size() > CBT_WIRE_MAX_EXTENTS || out.tags.size() > CBT_WIRE_MAX_TAGS)
        throw Error(cat("batch ", h.batch_id, " needs ", out.extents.size(), " extents and ",
                        out.tags.size(), " tags: above the protocol limits"),
                    false);
    return out;
}

PreparedBatch Preparer::prepare_ranges(const transport::BatchInfo &info,
                                       const std::vector<reader::Range> &ranges)
{
    PreparedBatch out;
    out.info = info;
    add_read(ranges, 0, out);
    return out;
}

PreparedBatch Preparer::prepare_copy(const transport::BatchInfo &info, const reader::Range &range)
{
    PreparedBatch out;
    out.info = info;
    std::vector<reader::Range> data;
    std::vector<reader::Range> holes;
    data_and_holes(opts_.device, range, data, holes);
    for (const reader::Range &h : holes) {
        WireExtent e;
        e.offset = h.offset;
        e.length = h.length;
        e.encoding = CBT_WE_ZERO;
        out.extents.push_back(std::move(e));
    }
    add_read(data, 0, out);
    return out;
}

void data_and_holes(const std::string &path, const reader::Range &range,
                    std::vector<reader::Range> &data, std::vector<reader::Range> &holes)
{
    const uint64_t end = range.offset + range.length;
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st;
    if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
        data.push_back(range); // block device, or unknown: read it all
        return;
    }
    // Holes are rounded inwards to 512 bytes (the wire's alignment); the edges are read.
    uint64_t pos = range.offset;
    while (pos < end) {
        off_t d = ::lseek(fd.get(), off_t(pos), SEEK_DATA);
        uint64_t data_at = d < 0 ? end : std::min<uint64_t>(uint64_t(d), end);
        uint64_t hole_end = data_at / CBT_SECTOR_SIZE * CBT_SECTOR_SIZE;
        uint64_t hole_start = (pos + CBT_SECTOR_SIZE - 1) / CBT_SECTOR_SIZE * CBT_SECTOR_SIZE;
        if (hole_end > hole_start) {
            if (hole_start > pos)
                data.push_back({pos, hole_start - pos});
            holes.push_back({hole_start, hole_end - hole_start});
            pos = hole_end;
        }
        if (pos >= end)
            break;
        off_t h = ::lseek(fd.get(), off_t(std::max(pos, data_at)), SEEK_HOLE);
        uint64_t data_end = h < 0 ? end : std::min<uint64_t>(uint64_t(h), end);
        if (data_end <= pos)
            data_end = std::min<uint64_t>(end, pos + CBT_SECTOR_SIZE);
        data.push_back({pos, data_end - pos});
        pos = data_end;
    }
    // Merge adjacent data pieces (the hole rounding can split them).
    std::vector<reader::Range> merged;
    for (const reader::Range &r : data)
        if (!merged.empty() && merged.back().offset + merged.back().length == r.offset)
            merged.back().length += r.length;
        else
            merged.push_back(r);
    data = std::move(merged);
}

std::vector<reader::Range> bitmap_ranges(const source::Bitmap &bm, uint64_t device_bytes)
{
    std::vector<reader::Range> out;
    const uint64_t g = bm.granularity;
    for (uint64_t i = 0; i < bm.nr_bits; i++) {
        // Whole zero bytes are skipped eight bits at a time: bitmaps are mostly clear.
        if (i % 8 == 0 && bm.bits[i / 8] == 0) {
            i += 7;
            continue;
        }
        if (!bm.test(i))
            continue;
        uint64_t off = i * g;
        if (off >= device_bytes)
            break;
        uint64_t len = std::min<uint64_t>(g, device_bytes - off);
        if (!out.empty() && out.back().offset + out.back().length == off)
            out.back().length += len;
        else
            out.push_back({off, len});
    }
    return out;
}

} // namespace cbtrep::daemon
