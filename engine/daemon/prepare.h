// Turns one source batch into what goes on the wire: records → extents, in record order.
//
//   WRITE with data       the record's bytes, chunked, zero-detected, lz4-compressed
//   WRITE without data    (META) the range read from the device, then as above
//   DIRTY                 the range read from the device
//   DISCARD/SECURE_ERASE  a DISCARD extent;  WRITE_ZEROES: a ZERO extent
//   TAG                   a TAG frame
//   GAP                   every block marked in the named bitmap generation, read from the
//                         device (the caller cut and read the bitmap: sources are not
//                         thread-safe, preparers run on worker threads)
//
// A Preparer is used by one thread at a time; it owns its device reader and encoder.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "codec/codec.h"
#include "reader/reader.h"
#include "source/source.h"
#include "transport/session.h"

namespace cbtrep::daemon
{

struct WireExtent {
    uint64_t offset = 0;
    uint64_t length = 0;
    uint16_t encoding = 0; // enum cbt_wire_encoding
    uint64_t seq = 0;
    Digest digest{};
    std::vector<uint8_t> payload;
};

struct StageTimes {
    double read_s = 0; // device reads (META, DIRTY, GAP, initial sync)
    // zero detection + lz4 + digest: CPU time of the worker thread (pure computation, so
    // wall time would only add the preemption by other processes on a shared machine)
    double compress_s = 0;
    double compress_wall_s = 0; // the same in wall time (taken out of read_s)
    double send_s = 0;          // framing + TLS + socket
    double apply_s = 0;         // end of batch → durable ACK (target apply + sync)
    StageTimes &operator+=(const StageTimes &o)
    {
        read_s += o.read_s;
        compress_s += o.compress_s;
        compress_wall_s += o.compress_wall_s;
        send_s += o.send_s;
        apply_s += o.apply_s;
        return *this;
    }
};

struct PreparedBatch {
    transport::BatchInfo info;
    std::vector<WireExtent> extents;
    std::vector<transport::TagOut> tags;
    uint64_t decoded_bytes = 0; // sum of extent lengths carrying data (not zero/discard)
    uint64_t payload_bytes = 0; // bytes on the wire
    StageTimes times;

    // ExtentOut views for ReplicaSession::send_batch (valid while this object lives).
    std::vector<transport::ExtentOut> views() const;
};

struct PrepareOptions {
    codec::Options codec;
    reader::Options reader;
    std::string device; // "" = no device: META/DIRTY/GAP records are an error
};

class Preparer
{
  public:
    explicit Preparer(PrepareOptions opts);

    // The source batch as a wire batch with the tracker's batch id and sequence range.
    PreparedBatch prepare(const source::Batch &batch, const source::Bitmap *gap_bitmap);

    // A batch of the initial full copy / bitmap resync: ranges read from the device.
    PreparedBatch prepare_ranges(const transport::BatchInfo &info,
                                 const std::vector<reader::Range> &ranges);

    // A batch of the initial copy covering [range.offset, +length): on an image file the
    // holes (SEEK_HOLE/SEEK_DATA) become ZERO extents without being read; everything else is
    // read and zero-detected chunk by chunk as usual.
    PreparedBatch prepare_copy(const transport::BatchInfo &info, const reader::Range &range);

    // Reader notes from the first open (backend chosen, fallbacks), for the log.
    std::vector<std::string> take_reader_notes();
    reader::Reader &reader();

  private:
    void add_chunks(uint64_t offset, std::span<const uint8_t> data, uint64_t seq,
                    PreparedBatch &out);
    void add_read(const std::vector<reader::Range> &ranges, uint64_t seq, PreparedBatch &out);

    PrepareOptions opts_;
    codec::Encoder encoder_;
    std::unique_ptr<reader::Reader> reader_;
    std::vector<std::string> notes_;
    std::vector<codec::Chunk> scratch_;
};

// Splits range of the file at path into data and holes (SEEK_DATA/SEEK_HOLE, holes rounded
// inwards to 512 bytes). A block device, or a file system without hole reporting, is all data.
void data_and_holes(const std::string &path, const reader::Range &range,
                    std::vector<reader::Range> &data, std::vector<reader::Range> &holes);

// Ranges of the device covered by set bits, adjacent bits merged, clipped to the device end.
std::vector<reader::Range> bitmap_ranges(const source::Bitmap &bm, uint64_t device_bytes);

} // namespace cbtrep::daemon
