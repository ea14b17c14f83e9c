// How a device is cut for comparison: fixed offsets, three levels. A region's hash is the
// hash of its blocks' hashes, a block's the hash of its leaves' hashes, a leaf's the hash
// of its bytes — so one read pass yields every level, and a side can answer "which blocks
// differ" or "which leaves differ" from memory without reading the region again.
//
// Defaults (docs/resync.md has the measurements): 16 MiB regions keep the first exchange
// tiny (16 bytes per 16 MiB) on mostly-equal disks; 64 KiB blocks and 4 KiB leaves mean
// scattered 4 KiB changes cost 4 KiB of data plus a few hashes, not a whole 64 KiB block.
#pragma once

#include <cstdint>
#include <string>

#include "resync/hash.h"

namespace cbtrep::resync
{

struct Geometry {
    uint64_t region_bytes = 16ull << 20;
    uint32_t block_bytes = 64u << 10;
    uint32_t leaf_bytes = 4u << 10;
    HashKind hash = HashKind::xxh3_128;

    uint32_t blocks_per_region() const { return uint32_t(region_bytes / block_bytes); }
    uint32_t leaves_per_block() const { return block_bytes / leaf_bytes; }
    uint64_t regions(uint64_t device_bytes) const
    {
        return (device_bytes + region_bytes - 1) / region_bytes;
    }
    bool operator==(const Geometry &) const = default;
};

// Throws std::invalid_argument naming the field: every level a power of two, leaf >= 512,
// leaf <= block <= region, at most 65536 blocks per region and leaves per block, region at
// most 1 GiB.
void validate(const Geometry &g);

std::string describe(const Geometry &g); // "16 MiB regions, 64 KiB blocks, 4 KiB leaves, xxh3-128"

} // namespace cbtrep::resync
