// Writes journal stream files (include/cbtrep/record.h) the way the tracker would hand the
// journal out: records with continuous sequence numbers grouped into batches, a batch
// holding either only data-carrying writes or only range records (mode DATA or META).
// Used by tests/tools/gen-history and the unit tests; also a reference for the format.
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include <cbtrep/record.h>

namespace cbtrep::source
{

class StreamWriter
{
  public:
    struct Options {
        std::string name = "disk0";
        uint64_t device_bytes = 0;
        uint32_t granularity = 0;            // 0 = cbt_granularity_for_size()
        uint64_t max_batch_bytes = 8u << 20; // close a batch once its payload reaches this
        uint32_t max_batch_records = 4096;
        uint64_t first_seq = 1;
        uint64_t first_batch_id = 1;
        uint64_t start_ns = 1'700'000'000'000'000'000ull;
        std::array<uint8_t, 16> device_id{}; // zero = unknown
    };

    StreamWriter(const std::string &path, Options opts);
    ~StreamWriter();
    StreamWriter(const StreamWriter &) = delete;
    StreamWriter &operator=(const StreamWriter &) = delete;

    // DATA-mode write: bytes at sector (length a multiple of 512, at most CBT_REC_MAX_DATA).
    void write(uint64_t sector, std::span<const uint8_t> bytes, uint32_t flags = 0);
    // META-mode write: the range only; the engine reads the data from the device.
    void write_meta(uint64_t sector, uint32_t nr_sectors);
    void discard(uint64_t sector, uint32_t nr_sectors);
    void write_zeroes(uint64_t sector, uint32_t nr_sectors);
    void dirty(uint64_t sector, uint32_t nr_sectors, uint32_t reason);
    void gap(uint64_t generation, uint32_t reason);
    // Returns the tag id.
    uint64_t tag(const std::string &name, bool app_consistent = false);

    void end_batch(); // closes the current batch (no-op when empty)
    void close();     // end_batch + fsync + close

    uint64_t next_seq() const { return seq_; }
    uint64_t batches() const { return batch_id_ - opts_.first_batch_id; }
    uint64_t bytes_written() const { return file_bytes_; }

  private:
    void add(cbt_record rec, std::span<const uint8_t> payload, bool has_data);
    void put(const void *p, size_t n);

    Options opts_;
    std::string path_;
    int fd_ = -1;
    uint64_t seq_;
    uint64_t batch_id_;
    uint64_t tag_id_ = 0;
    uint64_t now_ns_;
    uint64_t file_bytes_ = 0;
    // Current batch being assembled.
    std::vector<uint8_t> payload_;
    uint32_t nr_ = 0;
    uint64_t first_seq_ = 0;
    uint32_t flags_ = 0;
    int kind_ = -1; // 1 = data-carrying, 0 = range-only, -1 = undecided
};

} // namespace cbtrep::source
