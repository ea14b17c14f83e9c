// BlockHasher: reads ranges of one device or image (through the engine's reader, so
// io_uring with many reads in flight where the kernel allows it) and hashes them into
// region trees (geometry.h). Used on both sides: the source compares its trees with the
// replica's; the replica side answers hash requests with them.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "reader/reader.h"
#include "resync/geometry.h"
#include "resync/hash.h"

namespace cbtrep::resync
{

using reader::Range;

// O_DIRECT or the page cache. auto: O_DIRECT for block devices (a full scan of a production
// disk must not evict the applications' cache), the page cache for image files (where the
// freshest pages may be cached and some file systems refuse or penalise O_DIRECT).
enum class Direct { automatic, on, off };
const char *direct_name(Direct d);

// Every hash of one region, from one read of it.
struct RegionTree {
    uint64_t region = 0;
    uint64_t offset = 0;
    uint64_t length = 0;      // region_bytes, less for the last region of the device
    std::vector<Hash> leaves; // ceil(length / leaf_bytes)
    std::vector<Hash> blocks; // ceil(length / block_bytes)
    Hash root{};
};

class BlockHasher
{
  public:
    // Opens path read-only. reader_opts.piece_bytes is raised to a multiple of the leaf;
    // direct decides reader_opts.direct.
    BlockHasher(const std::string &path, const Geometry &geometry, reader::Options reader_opts,
                Direct direct = Direct::automatic);
    ~BlockHasher();

    uint64_t size() const { return reader_->size(); }
    const Geometry &geometry() const { return geometry_; }
    // Which backend reads (io_uring, libaio, pread) and why, for the log.
    const std::vector<std::string> &notes() const { return notes_; }

    // Reads regions [first, first + count) in one pass (all their reads pipelined) and
    // returns their trees. Regions past the end of the device are an error.
    std::vector<RegionTree> hash_regions(uint64_t first, uint64_t count);
    RegionTree hash_region(uint64_t region) { return std::move(hash_regions(region, 1).front()); }

    // Fresh hashes of every leaf in ranges (leaf-aligned; a range may end at the device's
    // end), in order. Used to re-check a mismatch on a live device.
    std::vector<Hash> hash_leaves(std::span<const Range> ranges);

    // Reads ranges and hands each piece to consume, in order (the data to send).
    void read(std::span<const Range> ranges, const reader::Consumer &consume);

  private:
    Geometry geometry_;
    std::unique_ptr<reader::Reader> reader_;
    std::vector<std::string> notes_;
    Hasher hasher_;
};

// Leaf range [offset, offset + length) of the region tree's leaf i (clipped at the end).
inline Range leaf_range(const Geometry &g, const RegionTree &t, size_t leaf)
{
    uint64_t off = t.offset + uint64_t(leaf) * g.leaf_bytes;
    return {off, std::min<uint64_t>(g.leaf_bytes, t.offset + t.length - off)};
}

} // namespace cbtrep::resync
