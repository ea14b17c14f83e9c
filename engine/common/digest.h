// The per-extent digest of the wire protocol: XXH3-128 of the decoded bytes (libxxhash),
// stored low64 then high64, little-endian. XXH3 runs at tens of GB/s per core, so checking
// every extent after decompression costs next to nothing next to lz4 and TLS.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace cbtrep
{

using Digest = std::array<uint8_t, 16>;

Digest xxh3_128(const void *data, size_t len);
inline Digest xxh3_128(std::span<const uint8_t> bytes)
{
    return xxh3_128(bytes.data(), bytes.size());
}

} // namespace cbtrep
