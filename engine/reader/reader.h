// Readers of the protected device (or image): one class per I/O backend behind one
// interface, and a selector that probes io_uring, then libaio, then pread at start-up.
//
// Used for META records, DIRTY ranges, bitmap-driven syncs after a GAP and the initial full
// copy. read() splits the ranges into pieces of at most piece_bytes, keeps up to
// queue_depth of them in flight, requeues short reads for the rest, and hands every piece
// to the consumer in request order (later extents may overwrite earlier ones, so order
// matters). A piece's buffer is only valid during the consumer call.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace cbtrep::reader
{

struct Range {
    uint64_t offset = 0;
    uint64_t length = 0;
};

using Consumer = std::function<void(uint64_t offset, std::span<const uint8_t> bytes)>;

enum class Backend { io_uring, libaio, pread };
const char *backend_name(Backend b);

struct Options {
    std::string backend = "auto"; // auto | io_uring | libaio | pread
    unsigned queue_depth = 32;    // 1..256 pieces in flight
    uint32_t piece_bytes = 256 * 1024;
    // O_DIRECT for aligned pieces of a file when its file system allows it. Block devices
    // are always read with O_DIRECT: their page cache is not coherent with a mounted file
    // system's writes.
    bool direct = true;
};

class Reader
{
  public:
    virtual ~Reader() = default;
    virtual Backend backend() const = 0;
    virtual void read(std::span<const Range> ranges, const Consumer &consume) = 0;
    // Size of the device or file in bytes.
    virtual uint64_t size() const = 0;
    // Whether O_DIRECT is in use for aligned pieces.
    virtual bool direct() const = 0;
};

struct Selection {
    std::unique_ptr<Reader> reader;
    // What was tried and why each rejected backend was rejected, in order; the caller logs it.
    std::vector<std::string> notes;
};

// Opens path read-only with the first backend that works (or exactly the one named by
// opts.backend). Throws when none does.
Selection open_reader(const std::string &path, const Options &opts);

} // namespace cbtrep::reader
