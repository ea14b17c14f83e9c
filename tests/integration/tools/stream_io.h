// Test-only helpers shared by cbtrep-stream-gen and cbtrep-wire-inject: reading and
// writing journal stream files (include/cbtrep/record.h) and applying them to an image.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <cbtrep/record.h>

namespace cbtrep::testtools
{

struct StreamBatch {
    cbt_batch hdr{};
    std::vector<uint8_t> bytes; // header + payload, validated with cbt_batch_check()
};

class StreamReader
{
  public:
    explicit StreamReader(const std::string &path);
    ~StreamReader();
    const cbt_stream_hdr &header() const { return hdr_; }
    // Next batch, false at end of file. Throws on a malformed stream.
    bool next(StreamBatch &b);

  private:
    std::string path_;
    FILE *f_ = nullptr;
    cbt_stream_hdr hdr_{};
};

// Calls fn(record, payload) for each record of a validated batch.
template <typename Fn> void for_each_record(const StreamBatch &b, Fn fn)
{
    uint64_t off = sizeof(cbt_batch);
    for (uint32_t i = 0; i < b.hdr.nr_records; i++) {
        cbt_record r{};
        const uint8_t *data = nullptr;
        cbt_rec_decode(b.bytes.data() + off, b.bytes.size() - off, 0, &r, &data);
        fn(r, data);
        off += cbt_rec_total_len(&r);
    }
}

// Applies one record to an image file descriptor the way a replica must end up.
void apply_record(int fd, const cbt_record &r, const uint8_t *data);

} // namespace cbtrep::testtools
